/* main.c - the cgdml program: option parsing, help text and dispatch to the
 * commands in the other files of src/cli/.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ranks.h"

static const cli_command commands[] = {
    {"import", cmd_import, "coords,forces,npz,output,names,memory",
     "convert .npy pairs or an sGDML .npz into an H5MD dataset",
     "usage: cgdml import --coords C.npy --forces F.npy -o data.h5 [--names C,N,CA,CB,C,N]\n"
     "       cgdml import --npz dataset.npz -o data.h5\n\n"
     "  --coords FILE   coordinates, (frames, beads, 3), <f4 or <f8, C order, in Å\n"
     "  --forces FILE   forces, same shape, in kcal/mol/Å\n"
     "  --npz FILE      an sGDML dataset archive holding R, F and z\n"
     "  --names LIST    bead names, comma-separated (default B0, B1, ... or elements)\n"
     "  -o FILE         the H5MD dataset to write\n"
     "  --memory SIZE   memory budget, e.g. 8G or 50% (default 80% of available)\n"},
    {"synthetic", cmd_synthetic, "beads,frames,spread,noise,seed,output",
     "write a toy dataset with exact forces (a random harmonic network)",
     "usage: cgdml synthetic [--beads 6] [--frames 2000] [--spread 0.12] [--noise 0]\n"
     "                       [--seed 1] -o toy.h5\n\n"
     "  Beads joined pairwise by random springs around a random structure; frames are\n"
     "  randomly rotated, shifted and displaced by --spread Å per coordinate; forces\n"
     "  are exact, plus Gaussian label noise of --noise kcal/mol/Å if asked.\n"},
    {"info", cmd_info, "group,memory",
     "describe a dataset or a model file",
     "usage: cgdml info FILE [--group NAME] [--memory 8G]\n\n"
     "  Prints frames, beads, units and value ranges of a dataset, or the kind,\n"
     "  hyperparameters and size of a model.\n"},
    {"train", cmd_train,
     "data,group,indices,n-train,seed,sigma,lambda,precision,output,memory,threads,solver,"
     "tolerance,max-iterations,block-frames,preconditioner,landmarks,block-layout,"
     "checkpoint-interval,resume,collective,kmeans,prior,bonds,temperature,teacher,distributed",
     "train one GDML model (Cholesky, or conjugate gradients for large sets)",
     "usage: cgdml train --data D.h5 (--indices FILE | --n-train M [--seed S])\n"
     "                   --sigma S [--lambda L] -o model.h5 [--memory 8G] [--threads N]\n"
     "                   [--solver cholesky|cg [CG options]]\n\n"
     "  --sigma S       Matérn length scale in descriptor units (1/Å), sGDML's σ\n"
     "  --lambda L      ridge added to the kernel diagonal (default 1e-10, as sGDML)\n"
     "  --indices FILE  training frames: text integers or an integer .npy\n"
     "  --n-train M     M frames drawn at random (reproducible with --seed, default 1)\n"
     "  --precision auto|double|mixed  the Cholesky solve: double, or a single-precision\n"
     "                  factor refined to double accuracy (half the memory, about\n"
     "                  twice as fast; falls back to double by itself when the\n"
     "                  system needs it); auto (default): mixed when lambda >= 1e-4\n"
     "                  x 5/(3 sigma^2), else double\n"
     "  --solver cholesky|cg  cholesky (default): the dense matrix, up to 3640 frames of\n"
     "                  6 beads and (3NM)^2/2 floats or doubles of memory; cg:\n"
     "                  preconditioned conjugate gradients with the matrix-free product,\n"
     "                  memory O(M) plus the preconditioner, time O(M^2) per iteration\n"
     "                  (docs/method.md section 7).  CG options:\n"
     "  --tolerance T   stop at ||F - (K + lambda I) alpha|| <= T ||F|| (default 1e-5,\n"
     "                  from 1e-14 to below 1)\n"
     "  --max-iterations N  give up after N iterations (default 1000; --resume goes on)\n"
     "  --preconditioner nystrom|blocks|none  nystrom (default): the kernel columns of\n"
     "                  landmark frames spread over the phi/psi strata (--collective or\n"
     "                  --kmeans as in ensemble), by the Woodbury identity; blocks:\n"
     "                  single-precision Cholesky factors of diagonal blocks whose frames\n"
     "                  are dealt over the strata (measured slower); none: plain CG\n"
     "  --landmarks M   Nystrom landmark frames (default: sqrt(frames)/2, within the\n"
     "                  memory budget)\n"
     "  --block-frames B  frames per block (default: the largest up to 1000 whose\n"
     "                  factors fit 90% of the memory budget)\n"
     "  --block-layout stratified|contiguous  blocks spanning all strata (default) or\n"
     "                  one region each\n"
     "  --checkpoint-interval S  seconds between checkpoints of the CG state to\n"
     "                  model.h5.checkpoint (default 60); after a kill, the same command\n"
     "                  with --resume continues and gives the same model bit for bit\n"
     "  --prior         fit the harmonic prior (bonds and angles, Boltzmann inversion on\n"
     "                  all frames at --temperature, topology from --bonds, the data or\n"
     "                  the alanine default, as ensemble does), train on the forces minus\n"
     "                  the prior's and store it in the model (default: no prior)\n"
     "  --teacher M.h5  distil: train on M's kernel forces at the selected frames (its\n"
     "                  prior left out, then carried over), as layer 2 of ensemble does\n"
     "                  with the average; e.g. a CG model of many frames onto a mean set\n"
     "  --distributed   (MPI build: mpirun -np P cgdml train ...) the Cholesky solve with\n"
     "                  ScaLAPACK across the ranks, in double precision; rank 0 reads,\n"
     "                  labels and writes.  Refused without MPI, and with --solver cg or\n"
     "                  --precision\n"
     "  --memory SIZE   memory budget, e.g. 8G or 50% (default 80% of available)\n"
     "  --threads N     OpenMP/BLAS threads (default: all cores)\n"},
    {"predict", cmd_predict,
     "model,data,group,indices,n-train,seed,output,energies,memory,threads",
     "predict forces (and energies) for the frames of a dataset",
     "usage: cgdml predict --model M.h5 --data D.h5 [--indices FILE | --n-train M]\n"
     "                     -o forces.npy\n"
     "                     [--energies E.npy]\n\n"
     "  frames: --indices FILE, --n-train M [--seed S] (random), default all\n"
     "  -o FILE         .npy: forces (frames, beads, 3) in kcal/mol/Å;\n"
     "                  .h5: an H5MD dataset of the frames with the predicted forces\n"
     "  --energies FILE energies (frames,) in kcal/mol, up to a constant (.npy)\n"
     "  --memory SIZE   memory budget, e.g. 8G or 50% (default 80% of available)\n"},
    {"eval", cmd_eval, "model,data,group,indices,n-train,seed,held-out,memory,threads",
     "force errors of a model: MSE, MAE, per bead, relative to the label variance",
     "usage: cgdml eval --model M.h5 --data D.h5 [--indices FILE | --n-train M | --held-out]\n\n"
     "  frames: --indices FILE, --n-train M [--seed S] (random), default all\n"
     "  --held-out      evaluate on the frames the model was not trained on\n"
     "                  (the data must be the training dataset)\n"
     "  --memory SIZE   memory budget, e.g. 8G or 50% (default 80% of available)\n"},
    {"ensemble", cmd_ensemble,
     "data,group,members,n-train,sigma1,sigma2,lambda,mean-set,cv,sigma1-grid,sigma2-grid,"
     "lambda-grid,seed,draw,collective,kmeans,bonds,no-prior,temperature,memory,threads,"
     "parallel,resume,precision,lambda-rel-grid,select,lambda2,lambda2-rel,lambda2-rel-grid,"
     "shard,distributed,exclude,solver,tolerance,max-iterations,preconditioner,landmarks,block-frames,"
     "block-layout,output",
     "the two-layer ensemble: K members, their average, and the distilled model",
     "usage: cgdml ensemble --data D.h5 --members K --n-train M (--sigma1 S1 | --sigma1-grid\n"
     "                      a,b,..) (--sigma2 S2 | --sigma2-grid a,b,..) [--lambda L]\n"
     "                      [--mean-set M2] [--cv 5] [--lambda-grid a,b] -o model.h5\n\n"
     "  Writes the distilled model to model.h5 and the averaged ensemble (all members\n"
     "  in one concatenated sum) to model.average.h5; finished members are kept in\n"
     "  model.h5.members/ until the run ends, so --resume continues a killed run.\n\n"
     "  --members K        layer-1 members (paper: 1000)\n"
     "  --n-train M        frames per member (paper: ~1000)\n"
     "  --sigma1/--sigma2  length scales of members and distilled model (1/Å); --sigma2\n"
     "                     same: the distilled model takes the members' (chosen) sigma1\n"
     "  --sigma1-grid LIST cross-validate sigma1 (and --lambda-grid) over --cv folds of members\n"
     "  --lambda-rel-grid LIST  the lambda grid relative to the kernel diagonal 5/(3 sigma1^2),\n"
     "                     e.g. 1e-4,1e-3,1e-2 (a best value on a grid's edge is reported)\n"
     "  --select binned|raw  what the sigma1/lambda cross-validation minimises: the error\n"
     "                     of bin-averaged forces on frames no member trained on (default;\n"
     "                     the label noise averages out) or the raw held-out force MSE\n"
     "                     (dominated by the noise; docs/method.md section 6)\n"
     "  --sigma2-grid LIST cross-validate sigma2 over --cv folds of the mean set\n"
     "  --lambda2 L        the distilled model's ridge (default: the members' lambda);\n"
     "  --lambda2-rel R    or R x the kernel diagonal 5/(3 sigma2^2); its labels are\n"
     "                     averages, so it can be far below the members' (make run: 1e-4)\n"
     "  --lambda2-rel-grid LIST  cross-validate lambda2 (relative) with sigma2 over --cv\n"
     "                     folds of the mean set, against the average's labels\n"
     "  --mean-set M2      layer-2 frames, one per occupied stratum (default min(3000, strata))\n"
     "  --draw stratified|random|partition  member subsets: stratified (default, with\n"
     "                     replacement), random (distinct frames), or partition: one\n"
     "                     permutation of the frames from --seed cut into K blocks of M,\n"
     "                     disjoint members (K x M must not exceed the frames to draw from)\n"
     "  --exclude FILE     frames (as --indices reads them) no member, mean set or\n"
     "                     cross-validation uses, e.g. a held-out set (the prior is\n"
     "                     still fitted on all frames, as train --prior does)\n"
     "  --collective SPEC  stratify on CVs instead of phi/psi 300x300, up to 4 times:\n"
     "                     dihedral:a,b,c,d:BINS  angle:a,b,c:BINS  distance:a,b:BINS[:lo,hi]\n"
     "  --kmeans K         strata from k-means in descriptor space instead of CVs\n"
     "  --bonds LIST       prior topology, e.g. 0-1,1-2,2-3,2-4,4-5 (default: the data's,\n"
     "                     else alanine dipeptide); --no-prior to train without a prior\n"
     "  --temperature T    for the prior's Boltzmann inversion, K (default 300)\n"
     "  --parallel auto|members|blas  members side by side, or one at a time\n"
     "  --resume           keep members finished by an interrupted run; after --shard\n"
     "                     runs, collect their members and finish (refused, listing the\n"
     "                     missing members and their shards, until all are there)\n"
     "  --shard i/n        train only members k with k mod n == i into model.h5.members/\n"
     "                     and stop (job arrays: docs/cluster.md); needs --sigma1\n"
     "  MPI build (make MPI=1), mpirun -np P cgdml ensemble ...: rank r trains the\n"
     "                     members k with k mod P == r into model.h5.members/ (a folder\n"
     "                     every rank sees), then rank 0 collects them and trains layer 2\n"
     "                     and alone writes the files: the models of one process with\n"
     "                     as many threads as each rank, bit for bit (threaded BLAS\n"
     "                     rounds differently).  Each rank checks its own --memory\n"
     "                     budget for its members (give each rank its share of a node)\n"
     "                     and runs --threads threads.  A rank that dies fails the\n"
     "                     run (nothing written but members); --resume continues it.\n"
     "                     Needs --sigma1; --shard is refused with more than one rank.\n"
     "  --distributed      (MPI build) solve layer 2 with ScaLAPACK across all ranks, no\n"
     "                     rank holding the whole matrix (each checks its piece against\n"
     "                     its budget); double precision, agrees with the one-process\n"
     "                     solve to rounding; the sigma2/lambda2 cross-validation's\n"
     "                     folds still run on rank 0.  Refused without MPI\n"
     "  --precision auto|double|mixed  solves of members and distilled model (see\n"
     "                     train; default auto)\n"
     "  --solver cholesky|cg  how each member is solved: cholesky (default), or\n"
     "                     conjugate gradients with the matrix-free product for members\n"
     "                     too large to factorise (make run: one member of 30,000\n"
     "                     frames); train's CG options apply to it (--tolerance,\n"
     "                     --max-iterations, --preconditioner, --landmarks,\n"
     "                     --block-frames, --block-layout), and --resume continues a\n"
     "                     member's interrupted CG solve\n"},
    {"simulate", cmd_simulate,
     "model,data,group,replicas,steps,dt,temperature,save-every,seed,integrator,diffusion,"
     "friction,checkpoint-interval,resume,start,memory,threads,output",
     "CG Langevin dynamics with a model and its prior, from data frames",
     "usage: cgdml simulate --model M.h5 --data D.h5 --replicas R --steps S [--dt 0.002]\n"
     "                      [--temperature 300] [--save-every 100] [--seed 1]\n"
     "                      [--integrator overdamped|baoab] [--diffusion 0.05]\n"
     "                      [--friction 10] [--checkpoint-interval 60] [--resume]\n"
     "                      [--start equilibrium|strata|alpha-r|beta] -o traj.h5\n\n"
     "  Overdamped (docs/method.md section 5): x += (D dt/kT) F + sqrt(2 D dt) xi,\n"
     "  D in A^2/ps, dt in ps.\n"
     "  BAOAB: underdamped Langevin with bead masses from their names, friction in 1/ps.\n"
     "  Replicas start from data frames drawn with the data's own weights (--start\n"
     "  equilibrium, the default) or one per phi/psi stratum (--start strata, which\n"
     "  biases short runs towards rare regions; docs/method.md section 6), and run in\n"
     "  parallel, the model evaluated for all replicas at once.  --start alpha-r or\n"
     "  beta draws them all from one basin (phi < 0; -115 < psi < 46 degrees or not):\n"
     "  a converged model reaches the same landscape from both.  A replica that blows up (NaN, a bond\n"
     "  far outside the prior's range) is stopped and reported; the others go on.\n"
     "  The trajectory (H5MD, positions every --save-every steps, phi/psi observables)\n"
     "  opens in MDAnalysis and feeds `cgdml fes`.\n\n"
     "  Crash safety: the whole state is checkpointed to traj.h5.checkpoint every\n"
     "  --checkpoint-interval seconds (default 60) and removed when traj.h5 is written;\n"
     "  after a kill, the same command with --resume continues from it and writes the\n"
     "  trajectory an uninterrupted run would have written, bit for bit.\n"},
    {"fes", cmd_fes, "traj,reference,group,bins,phi,psi,burn-in,memory,output",
     "the landscape F(phi, psi) of a CG trajectory, compared with a reference",
     "usage: cgdml fes --traj traj.h5 [--reference D.h5] [--burn-in STEPS] [--bins 60]\n"
     "                 -o fes.h5\n\n"
     "  F = -ln p(phi, psi) in kT from the frames after --burn-in steps (default 0),\n"
     "  and its convergence check: the MSE between the landscapes of the first and\n"
     "  the second half of those production steps (docs/method.md section 6).  With\n"
     "  --reference (an all-atom dataset): the MSE in kT^2 over bins populated in\n"
     "  both after the best constant shift, the same weighted by reference\n"
     "  population, the reference's own half-against-half floor and the floor matched\n"
     "  to this run (reference blocks as many and as correlated as its replicas),\n"
     "  KL(reference ||\n"
     "  model) over the joint bins, the fraction of reference population in bins the\n"
     "  model never visits and of model population where the reference never goes;\n"
     "  all stored as /fes attributes.  --memory SIZE sets the memory budget (default\n"
     "  80% of available).\n"},
    {"run", cmd_run,
     "data,members,n-train,mean-set,replicas,steps,save-every,seed,start,burn-in,precision,"
     "solver,draw,tolerance,max-iterations,preconditioner,landmarks,memory,threads,output",
     "the whole pipeline into one folder: ensemble, simulation, landscapes, report",
     "usage: cgdml run --data datasets/ala2_cg6.h5 -o run/ [--members 1] [--n-train 30000]\n"
     "                 [--solver cg|cholesky] [--draw random|stratified] [--mean-set 1500]\n"
     "                 [--replicas 100] [--steps 300000] [--save-every 500] [--seed 1]\n"
     "                 [--start equilibrium|strata|...] [--burn-in 100000]\n\n"
     "  reference landscape -> layer 1: one member of 30,000 frames drawn with the\n"
     "  data's weights, solved by conjugate gradients (sigma1 0.25, lambda 1e-3 of the\n"
     "  kernel diagonal 5/(3 sigma1^2), the harmonic prior subtracted) -> layer 2: the\n"
     "  member distilled onto --mean-set frames (sigma2 = sigma1, lambda2 1e-4 of the\n"
     "  diagonal) -> overdamped CG simulation with the distilled model, replicas\n"
     "  started from data frames -> landscape after the burn-in (default 100000\n"
     "  steps, a third of shorter runs) with its convergence check and comparison ->\n"
     "  landscapes.png -> report.md.  The defaults, chosen by measurement (README),\n"
     "  finish in well under 15 minutes on 2 cores.  --members 8 --n-train 1000\n"
     "  --solver cholesky --draw stratified trains the paper's small members instead\n"
     "  (same sigma1, lambda and lambda2); train's CG options (--tolerance,\n"
     "  --max-iterations, --preconditioner, --landmarks) apply to --solver cg.\n"},
    {"study", cmd_study,
     "data,group,sizes,repeats,methods,members,mean-set,replicas,steps,save-every,sigma-grid,"
     "lambda,lambda-rel,lambda2,lambda2-rel,n-train,bins,temperature,seed,export-splits,start,"
     "burn-in,precision,solver,tolerance,max-iterations,preconditioner,landmarks,memory,threads,"
     "output",
     "the sample-efficiency curve: landscape error against training-set size, per method",
     "usage: cgdml study --data D.h5 --sizes 1000,2000,5000 [--repeats 3]\n"
     "                   [--methods single,average,distilled,prior-only] [--members 8]\n"
     "                   [--mean-set 1500] [--replicas 100] [--steps 50000]\n"
     "                   [--sigma-grid 0.5,1,2] [--lambda 1e-3 | --lambda-rel R]\n"
     "                   [--lambda2 L | --lambda2-rel R] [--solver cholesky|cg]\n"
     "                   [--n-train 1500] [--seed 1] [--start equilibrium|strata|...]\n"
     "                   [--burn-in STEPS] [--export-splits] -o study/\n\n"
     "  For every size (labelled training frames), repeat and method: draw the frames\n"
     "  (stratified over phi/psi, from a seed made of --seed, size and repeat), choose\n"
     "  sigma by cross-validation over --sigma-grid, train, simulate, compare the\n"
     "  landscape with the whole dataset's, and add one row to study/results.csv:\n"
     "  landscape MSE (kT^2), its floor, KL, missing population, held-out force MSE\n"
     "  (5000 frames never drawn), train and simulation seconds, peak memory, the\n"
     "  MSE weighted by reference population, the model's population outside the\n"
     "  reference, and the convergence check (first vs second half of the production\n"
     "  steps after --burn-in, default 100000 steps or a third of shorter runs; see\n"
     "  cgdml fes).\n"
     "  Methods: single (one model; sigma from 5-fold CV on its own frames split in\n"
     "  five members; sizes above --n-train, default 1500, are skipped), average (K\n"
     "  members of size/K frames; sigma1 by CV with members as folds), distilled\n"
     "  (layer 2 on that average, sigma2 by 5-fold CV on <= 300 mean-set-like frames),\n"
     "  prior-only (the harmonic prior alone, the baseline).\n"
     "  --lambda L       the members' and single models' ridge (default 1e-3), or\n"
     "  --lambda-rel R   R x the kernel diagonal 5/(3 sigma^2) of each sigma (make run:\n"
     "                   1e-3); --lambda2 L / --lambda2-rel R the distilled model's\n"
     "                   (default: the members' lambda; make run: --lambda2-rel 1e-4).\n"
     "  --solver cg      members and single models by conjugate gradients, matrix-free\n"
     "                   (train's CG options apply: --tolerance, --max-iterations,\n"
     "                   --preconditioner, --landmarks); default cholesky.\n"
     "  Rows already in results.csv are skipped, so rerunning the command resumes it.\n"
     "  --export-splits writes each run's training frames to study/splits/ (and the\n"
     "  held-out frames).\n"
     "  At the end scripts/plot_study.py draws study/error_vs_size.png.\n"},
    {"fes-reference", cmd_fes_reference, "data,group,bins,phi,psi,memory,output",
     "the reference free-energy landscape F(phi, psi) of a dataset and its floor",
     "usage: cgdml fes-reference --data D.h5 [--bins 60] [--phi a,b,c,d --psi a,b,c,d]\n"
     "                           -o ref.h5\n\n"
     "  F = -ln p(phi, psi) in kT on a periodic bins x bins grid (min 0, NaN where empty),\n"
     "  from the dataset's phi/psi observables or the dihedrals of the given beads\n"
     "  (default for 6 beads C N CA CB C N: phi 0,1,2,4, psi 1,2,4,5; for 5 beads:\n"
     "  0,1,2,3 and 1,2,3,4).  Prints the floor of the comparison metric: the MSE in\n"
     "  kT^2, after the best constant shift, between the first and second half.\n"
     "  --memory SIZE sets the memory budget (default 80% of available).\n"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_help(void)
{
    printf("cgdml %s - coarse-grained force fields by gradient-domain kernel regression\n\n"
           "usage: cgdml COMMAND [OPTIONS]   (cgdml COMMAND --help for its options)\n\n",
           CGDML_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        printf("  %-14s %s\n", commands[i].name, commands[i].summary);
    printf("\nUnits: Å, kcal/mol, kcal/mol/Å.  Exit codes: 0 done, 1 failed, 2 usage.\n");
}

static const struct option long_options[] = {
    {"data", required_argument, 0, 'd'},     {"model", required_argument, 0, 'm'},
    {"output", required_argument, 0, 'o'},   {"indices", required_argument, 0, 'i'},
    {"coords", required_argument, 0, 'C'},   {"forces", required_argument, 0, 'F'},
    {"npz", required_argument, 0, 'Z'},      {"group", required_argument, 0, 'g'},
    {"energies", required_argument, 0, 'E'}, {"names", required_argument, 0, 'N'},
    {"memory", required_argument, 0, 'M'},   {"sigma", required_argument, 0, 's'},
    {"lambda", required_argument, 0, 'l'},   {"n-train", required_argument, 0, 'n'},
    {"seed", required_argument, 0, 'S'},     {"threads", required_argument, 0, 't'},
    {"held-out", no_argument, 0, 'H'},      {"beads", required_argument, 0, 'b'},
    {"frames", required_argument, 0, 'f'},   {"spread", required_argument, 0, 'p'},
    {"noise", required_argument, 0, 'z'},    {"bins", required_argument, 0, 'B'},
    {"phi", required_argument, 0, 'P'},      {"psi", required_argument, 0, 'Q'},
    {"members", required_argument, 0, 1000}, {"sigma1", required_argument, 0, 1001},
    {"sigma2", required_argument, 0, 1002},  {"mean-set", required_argument, 0, 1003},
    {"cv", required_argument, 0, 1004},      {"sigma1-grid", required_argument, 0, 1005},
    {"sigma2-grid", required_argument, 0, 1006}, {"lambda-grid", required_argument, 0, 1007},
    {"draw", required_argument, 0, 1008},    {"collective", required_argument, 0, 1009},
    {"kmeans", required_argument, 0, 1010},  {"bonds", required_argument, 0, 1011},
    {"no-prior", no_argument, 0, 1012},      {"temperature", required_argument, 0, 1013},
    {"parallel", required_argument, 0, 1014}, {"resume", no_argument, 0, 1015},
    {"replicas", required_argument, 0, 1100}, {"steps", required_argument, 0, 1101},
    {"dt", required_argument, 0, 1102},      {"save-every", required_argument, 0, 1103},
    {"integrator", required_argument, 0, 1104}, {"diffusion", required_argument, 0, 1105},
    {"friction", required_argument, 0, 1106}, {"traj", required_argument, 0, 1107},
    {"reference", required_argument, 0, 1108},       {"help", no_argument, 0, 'h'},
    {"sizes", required_argument, 0, 1200},   {"repeats", required_argument, 0, 1201},
    {"methods", required_argument, 0, 1202}, {"sigma-grid", required_argument, 0, 1203},
    {"export-splits", no_argument, 0, 1204}, {"precision", required_argument, 0, 1205},
    {"checkpoint-interval", required_argument, 0, 1109},
    {"burn-in", required_argument, 0, 1110}, {"start", required_argument, 0, 1111},
    {"lambda-rel-grid", required_argument, 0, 1016}, {"select", required_argument, 0, 1019},
    {"prior", no_argument, 0, 1017},
    {"lambda2", required_argument, 0, 1020}, {"lambda2-rel", required_argument, 0, 1021},
    {"lambda2-rel-grid", required_argument, 0, 1022}, {"shard", required_argument, 0, 1023},
    {"teacher", required_argument, 0, 1018}, {"distributed", no_argument, 0, 1024},
    {"exclude", required_argument, 0, 1025},
    {"lambda-rel", required_argument, 0, 1026},
    {"solver", required_argument, 0, 1300},  {"tolerance", required_argument, 0, 1301},
    {"max-iterations", required_argument, 0, 1302},
    {"block-frames", required_argument, 0, 1303},
    {"preconditioner", required_argument, 0, 1304},
    {"landmarks", required_argument, 0, 1305}, {"block-layout", required_argument, 0, 1306},
    {0, 0, 0, 0}};

static int accepts(const cli_command *cmd, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = cmd->accepts; (p = strstr(p, name)); p += n)
        if ((p == cmd->accepts || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return !strcmp(name, "help");
}

static int parse_number(const char *name, const char *text, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(*out))
        return cli_usage_error("--%s '%s': expected a number", name, text);
    return CLI_OK;
}

static int parse_count(const char *name, const char *text, size_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 0)
        return cli_usage_error("--%s '%s': expected a non-negative integer", name, text);
    *out = (size_t)v;
    return CLI_OK;
}

/* A count of at least 1 (a 0 would mean "none" where none makes no sense). */
static int parse_positive(const char *name, const char *text, size_t *out)
{
    int rc = parse_count(name, text, out);
    if (!rc && *out == 0)
        return cli_usage_error("--%s 0: expected at least 1", name);
    return rc;
}

static int store_choice(const char *name, const char *arg, const char *const *choices, int *out)
{
    for (int i = 0; choices[i]; i++)
        if (!strcmp(arg, choices[i])) {
            *out = i;
            return CLI_OK;
        }
    return cli_usage_error("--%s '%s': not one of the choices (see --help)", name, arg);
}

/* --shard i/n: shard i (0 <= i < n) of n. */
static int parse_shard(const char *text, size_t *shard, size_t *n)
{
    unsigned long long i, m;
    int used = -1;
    if (sscanf(text, "%llu/%llu%n", &i, &m, &used) != 2 || used < 0 || text[used] ||
        !isdigit((unsigned char)text[0]) || !strchr(text, '/') ||
        !isdigit((unsigned char)strchr(text, '/')[1]))
        return cli_usage_error("--shard '%s': expected i/n, shard i of n (0 <= i < n), e.g. 0/4",
                               text);
    if (m == 0 || i >= m)
        return cli_usage_error("--shard %s: the shard i must be 0 <= i < n and n >= 1", text);
    *shard = (size_t)i;
    *n = (size_t)m;
    return CLI_OK;
}

/* --lambda L (absolute) or --lambda-rel R (times the kernel diagonal), one of them. */
static int store_lambda(const char *arg, int relative, cli_options *o)
{
    if (o->have_lambda && o->lambda_rel != relative)
        return cli_usage_error("give --lambda or --lambda-rel, not both");
    o->have_lambda = 1;
    o->lambda_rel = relative;
    return parse_number(relative ? "lambda-rel" : "lambda", arg, &o->lambda);
}

static int store_ensemble_option(int c, const char *arg, cli_options *o)
{
    static const char *const draws[] = {"stratified", "random", "partition", NULL};
    static const char *const layouts[] = {"blas", "members", "auto", NULL};
    int rc = CLI_OK, choice = 0;
    switch (c) {
    case 1000: rc = parse_count("members", arg, &o->members); break;
    case 1001: rc = parse_number("sigma1", arg, &o->sigma1); o->have_sigma1 = 1; break;
    case 1002:
        o->sigma2_same = !strcmp(arg, "same");
        rc = o->sigma2_same ? CLI_OK : parse_number("sigma2", arg, &o->sigma2);
        o->have_sigma2 = 1;
        break;
    case 1003: rc = parse_count("mean-set", arg, &o->mean_set); break;
    case 1004: rc = parse_count("cv", arg, &o->folds); break;
    case 1005: rc = cli_parse_list("sigma1-grid", arg, o->sigma1_grid, 16, &o->n_sigma1_grid); break;
    case 1006: rc = cli_parse_list("sigma2-grid", arg, o->sigma2_grid, 16, &o->n_sigma2_grid); break;
    case 1007: rc = cli_parse_list("lambda-grid", arg, o->lambda_grid, 16, &o->n_lambda_grid); break;
    case 1008:
        rc = store_choice("draw", arg, draws, &o->draw);
        o->have_draw = 1;
        break;
    case 1009:
        if (o->n_cv_specs == 4)
            return cli_usage_error("--collective: at most 4 collective variables");
        o->cv_specs[o->n_cv_specs++] = arg;
        break;
    case 1010: rc = parse_count("kmeans", arg, &o->kmeans); break;
    case 1011: o->bonds = arg; break;
    case 1012: o->no_prior = 1; break;
    case 1013: rc = parse_number("temperature", arg, &o->temperature); break;
    case 1014:
        rc = store_choice("parallel", arg, layouts, &choice);
        o->parallel = choice == 2 ? -1 : choice;
        break;
    case 1015: o->resume = 1; break;
    case 1016:
        rc = cli_parse_list("lambda-rel-grid", arg, o->lambda_rel_grid, 16,
                            &o->n_lambda_rel_grid);
        break;
    case 1020:
    case 1021:
        if (o->have_lambda2++)
            return cli_usage_error("give --lambda2 or --lambda2-rel once");
        o->lambda2_rel = c == 1021;
        rc = parse_number(c == 1021 ? "lambda2-rel" : "lambda2", arg, &o->lambda2);
        break;
    case 1023: rc = parse_shard(arg, &o->shard, &o->n_shards); break;
    case 1024: o->distributed = 1; break;
    case 1025: o->exclude = arg; break;
    case 1026: rc = store_lambda(arg, 1, o); break;
    case 1022:
        rc = cli_parse_list("lambda2-rel-grid", arg, o->lambda2_rel_grid, 16,
                            &o->n_lambda2_rel_grid);
        break;
    case 1017: o->train_prior = 1; break;
    case 1018: o->teacher = arg; break;
    case 1019: {
        static const char *const selections[] = {"binned", "raw", NULL};
        rc = store_choice("select", arg, selections, &o->select_raw);
        break;
    }
    default: rc = CLI_USAGE;
    }
    return rc;
}

static int store_simulate_option(int c, const char *arg, cli_options *o)
{
    static const char *const integrators[] = {"overdamped", "baoab", NULL};
    switch (c) {
    case 1100: return parse_count("replicas", arg, &o->replicas);
    case 1101: return parse_count("steps", arg, &o->steps);
    case 1102: return parse_number("dt", arg, &o->dt);
    case 1103: o->have_save_every = 1; return parse_count("save-every", arg, &o->save_every);
    case 1104: return store_choice("integrator", arg, integrators, &o->baoab);
    case 1105: return parse_number("diffusion", arg, &o->diffusion);
    case 1106: return parse_number("friction", arg, &o->friction);
    case 1107: o->traj = arg; return CLI_OK;
    case 1108: o->reference = arg; return CLI_OK;
    case 1109: return parse_number("checkpoint-interval", arg, &o->checkpoint_interval);
    case 1110: o->have_burn_in = 1; return parse_count("burn-in", arg, &o->burn_in);
    case 1111: {
        return store_choice("start", arg, cli_start_names, &o->start);
    }
    }
    return CLI_USAGE;
}

static int store_study_option(int c, const char *arg, cli_options *o)
{
    switch (c) {
    case 1200: return cli_parse_sizes(arg, o);
    case 1201: o->have_repeats = 1; return parse_count("repeats", arg, &o->repeats);
    case 1202: return cli_parse_methods(arg, o);
    case 1203: return cli_parse_list("sigma-grid", arg, o->sigma_grid, 16, &o->n_sigma_grid);
    case 1204: o->export_splits = 1; return CLI_OK;
    case 1205: {
        static const char *const precisions[] = {"double", "mixed", "auto", NULL}; /* enum order */
        o->have_precision = 1;
        return store_choice("precision", arg, precisions, &o->precision);
    }
    }
    return CLI_USAGE;
}

/* train's solver options; every one but --solver is CG-only (remembered for refusals). */
static int store_train_option(int c, const char *arg, cli_options *o)
{
    static const char *const solvers[] = {"cholesky", "cg", NULL}; /* cgdml_solver order */
    static const char *const preconditioners[] = {"nystrom", "blocks", "none", NULL}; /* enum */
    static const char *const layouts[] = {"stratified", "contiguous", NULL};
    static const char *const names[] = {"solver",         "tolerance", "max-iterations",
                                        "block-frames",   "preconditioner", "landmarks",
                                        "block-layout"};
    if (c > 1300 && !o->cg_option)
        o->cg_option = names[c - 1300];
    switch (c) {
    case 1300: o->have_solver = 1; return store_choice("solver", arg, solvers, &o->solver);
    case 1301: return parse_number("tolerance", arg, &o->tolerance);
    case 1302: return parse_positive("max-iterations", arg, &o->max_iterations);
    case 1303: return parse_positive("block-frames", arg, &o->block_frames);
    case 1304: return store_choice("preconditioner", arg, preconditioners, &o->preconditioner);
    case 1305: return parse_positive("landmarks", arg, &o->landmarks);
    case 1306: return store_choice("block-layout", arg, layouts, &o->layout);
    }
    return CLI_USAGE;
}

static int store_option(int c, const char *arg, cli_options *o)
{
    if (c >= 1300)
        return store_train_option(c, arg, o);
    if (c >= 1200)
        return store_study_option(c, arg, o);
    if (c >= 1100)
        return store_simulate_option(c, arg, o);
    if (c >= 1000)
        return store_ensemble_option(c, arg, o);
    size_t count;
    int rc = CLI_OK;
    switch (c) {
    case 'd': o->data = arg; break;
    case 'm': o->model = arg; break;
    case 'o': o->output = arg; break;
    case 'i': o->indices = arg; break;
    case 'C': o->coords = arg; break;
    case 'F': o->forces = arg; break;
    case 'Z': o->npz = arg; break;
    case 'g': o->group = arg; break;
    case 'E': o->energies = arg; break;
    case 'N': o->names = arg; break;
    case 'M': o->memory = arg; break;
    case 'H': o->held_out = 1; break;
    case 'b': rc = parse_count("beads", arg, &o->beads); break;
    case 'f': rc = parse_count("frames", arg, &o->frames); break;
    case 'p': rc = parse_number("spread", arg, &o->spread); break;
    case 'z': rc = parse_number("noise", arg, &o->noise); break;
    case 'B':
        rc = parse_count("bins", arg, &o->bins);
        if (!rc && (o->bins < 2 || o->bins > 100000))
            rc = cli_usage_error("--bins %s: expected 2 to 100000", arg);
        break;
    case 'P': o->phi = arg; rc = cli_parse_quad("phi", arg, o->phi_beads); break;
    case 'Q': o->psi = arg; rc = cli_parse_quad("psi", arg, o->psi_beads); break;
    case 's': rc = parse_number("sigma", arg, &o->sigma); o->have_sigma = 1; break;
    case 'l': rc = store_lambda(arg, 0, o); break;
    case 'n': rc = parse_count("n-train", arg, &o->n_train); o->have_n_train = 1; break;
    case 'S': rc = parse_count("seed", arg, &count); o->seed = count; o->have_seed = 1; break;
    case 't':
        rc = parse_count("threads", arg, &count);
        if (!rc && (count < 1 || count > 1024))
            rc = cli_usage_error("--threads %s: expected 1 to 1024", arg);
        o->threads = (int)count;
        break;
    default: rc = CLI_USAGE;
    }
    return rc;
}

static int parse_options(const cli_command *cmd, int argc, char **argv, cli_options *o)
{
    cli_options_defaults(o);
    int c, index;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", long_options, &index)) != -1) {
        if (c == 'h') {
            printf("%s", cmd->usage);
            return -1;
        }
        if (c == '?' || c == ':')
            return cli_usage_error("%s: %s '%s' (see cgdml %s --help)", cmd->name,
                                   c == '?' ? "unknown option" : "missing value for",
                                   argv[optind - 1], cmd->name);
        const char *name = c == 'o' ? "output" : long_options[index].name;
        if (!accepts(cmd, name))
            return cli_usage_error("%s does not take --%s (see cgdml %s --help)", cmd->name, name,
                                   cmd->name);
        int rc = store_option(c, optarg, o);
        if (rc)
            return rc;
    }
    if (optind < argc) {
        if (strcmp(cmd->name, "info") != 0 || optind + 1 < argc)
            return cli_usage_error("%s: unexpected argument '%s'", cmd->name, argv[optind]);
        o->positional = argv[optind];
    }
    return CLI_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        print_help();
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("cgdml %s%s\n", CGDML_VERSION, cli_ranks_build());
        return CLI_OK;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            cli_options opt;
            int rc = parse_options(&commands[i], argc - 1, argv + 1, &opt);
            if (rc)
                return rc < 0 ? CLI_OK : rc;
            return commands[i].run(&opt);
        }
    return cli_usage_error("unknown command '%s' (cgdml --help lists them)", argv[1]);
}
