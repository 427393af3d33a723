/* test_cli.c - the cgdml program end to end: a synthetic dataset through import,
 * train, eval and predict, and every refusal the commands promise (message, exit
 * code, no output left behind, existing files untouched).  The program is found
 * through $CGDML_BIN (set by `make test`).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgdml.h"

#include "cli_helpers.h"

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

Test(cli, synthetic_train_eval_predict_round)
{
    cr_assert_eq(cgdml("synthetic --frames 600 --seed 3 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("info toy.h5"), 0, "%s", output);
    cr_assert(strstr(output, "frames       600"), "%s", output);
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 200 --seed 5 --sigma 0.5 -o m.h5"), 0,
                 "%s", output);
    cr_assert(strstr(output, "Cholesky"), "%s", output);
    cr_assert_eq(cgdml("eval --model m.h5 --data toy.h5 --held-out"), 0, "%s", output);
    cr_assert_eq(field("frames "), 400);
    double rel = field("relative MSE ");
    cr_assert(rel > 0 && rel < 0.5, "held-out relative MSE %g", rel);
    /* predict .npy agrees with the library's prediction of the same frames. */
    cr_assert_eq(cgdml("predict --model m.h5 --data toy.h5 -o f.npy --energies e.npy"), 0, "%s",
                 output);
    char path[256];
    snprintf(path, sizeof path, "%s/f.npy", dir);
    double *f;
    size_t nf, nb;
    cr_assert_eq(cgdml_npy_read_frames(path, &f, &nf, &nb), CGDML_OK);
    cr_assert_eq(nf, 600);
    cgdml_model *m;
    cgdml_dataset *d;
    snprintf(path, sizeof path, "%s/m.h5", dir);
    cr_assert_eq(cgdml_model_load(path, &m), CGDML_OK);
    snprintf(path, sizeof path, "%s/toy.h5", dir);
    cr_assert_eq(cgdml_h5md_read(path, NULL, &d), CGDML_OK);
    double ref[18];
    cgdml_model_predict(m, 1, d->coords + 17 * 18, ref, NULL);
    for (int a = 0; a < 18; a++)
        cr_assert_float_eq(f[17 * 18 + a], ref[a], 1e-12 * (1 + fabs(ref[a])));
    free(f);
    cgdml_model_free(m);
    cgdml_dataset_free(d);
}

Test(cli, import_npy_pair_then_info)
{
    char path[256];
    double x[2 * 3 * 3] = {0, 0, 0, 1.5, 0, 0, 0, 1.5, 0, 0, 0, 0, 1.4, 0.1, 0, 0, 1.6, 0.2};
    size_t shape[3] = {2, 3, 3};
    snprintf(path, sizeof path, "%s/c.npy", dir);
    cr_assert_eq(cgdml_npy_write(path, x, 3, shape), CGDML_OK);
    snprintf(path, sizeof path, "%s/f.npy", dir);
    cr_assert_eq(cgdml_npy_write(path, x, 3, shape), CGDML_OK);
    cr_assert_eq(cgdml("import --coords c.npy --forces f.npy --names A,B,C -o d.h5"), 0, "%s",
                 output);
    cr_assert_eq(cgdml("info d.h5"), 0, "%s", output);
    cr_assert(strstr(output, "beads        3: A B C"), "%s", output);
    cr_assert(strstr(output, "frames       2"), "%s", output);
}

Test(cli, import_refuses_nan_and_leaves_nothing)
{
    char path[256];
    double x[3 * 3] = {0, 0, 0, 1.5, 0, 0, 0, 1.5, NAN};
    size_t shape[3] = {1, 3, 3};
    snprintf(path, sizeof path, "%s/c.npy", dir);
    cr_assert_eq(cgdml_npy_write(path, x, 3, shape), CGDML_OK);
    assert_refused(cgdml("import --coords c.npy --forces c.npy -o d.h5"), 1, "nan");
    cr_assert(!exists("d.h5"));
}

Test(cli, train_refuses_impossible_requests)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    assert_refused(cgdml("train --data toy.h5 --n-train 10 --sigma 0 -o m.h5"), 1, "sigma = 0");
    assert_refused(cgdml("train --data toy.h5 --n-train 10 --sigma -2 -o m.h5"), 1, "sigma = -2");
    assert_refused(cgdml("train --data toy.h5 --n-train 10 --sigma 1 --lambda -1 -o m.h5"), 1,
                   "lambda = -1");
    assert_refused(cgdml("train --data toy.h5 --n-train 51 --sigma 1 -o m.h5"), 1,
                   "cannot draw 51 frames from a dataset of 50");
    assert_refused(cgdml("train --data toy.h5 --n-train 10 --sigma 1 --memory 1K -o m.h5"), 1,
                   "memory budget");
    assert_refused(cgdml("train --data toy.h5 --n-train 10 -o m.h5"), 2, "--sigma");
    assert_refused(cgdml("train --data toy.h5 --sigma 1 -o m.h5"), 2, "--n-train");
    assert_refused(cgdml("train --data toy.h5 --n-train 10 --sigma abc -o m.h5"), 2,
                   "expected a number");
    assert_refused(cgdml("train --data toy.h5 --n-train 10 --sigma 1 --bogus -o m.h5"), 2,
                   "unknown option");
    cr_assert(!exists("m.h5"));
}

Test(cli, failed_train_keeps_the_existing_model)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 10 --sigma 0.5 -o m.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("info m.h5"), 0);
    char before[8192];
    strcpy(before, output);
    assert_refused(cgdml("train --data toy.h5 --n-train 20 --sigma 1e4 --lambda 0 -o m.h5"), 1,
                   "not positive definite");
    cr_assert_eq(cgdml("info m.h5"), 0);
    cr_assert_str_eq(output, before, "the old model must be intact");
}

Test(cli, output_that_is_an_input_is_refused)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    assert_refused(cgdml("train --data toy.h5 --n-train 10 --sigma 1 -o toy.h5"), 2,
                   "also an input");
    cr_assert_eq(cgdml("info toy.h5"), 0, "the input survives: %s", output);
}

Test(cli, wrong_files_for_the_role_are_refused)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("synthetic --frames 50 --beads 5 -o five.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 10 --sigma 0.5 -o m.h5"), 0, "%s", output);
    assert_refused(cgdml("eval --model toy.h5 --data toy.h5"), 1, "not a cgdml model file");
    assert_refused(cgdml("eval --model m.h5 --data m.h5"), 1, "m.h5");
    assert_refused(cgdml("eval --model m.h5 --data five.h5"), 1, "has 5 beads");
    assert_refused(cgdml("eval --model m.h5 --data five.h5 --held-out"), 1, "beads");
    assert_refused(cgdml("predict --model m.h5 --data toy.h5 -o nodir/f.npy"), 1, "nodir/f.npy");
    assert_refused(cgdml("train --data missing.h5 --n-train 10 --sigma 1 -o x.h5"), 1,
                   "missing.h5");
    cr_assert(!exists("x.h5"));
}

Test(cli, indices_files_select_frames_and_are_checked)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    char path[256];
    snprintf(path, sizeof path, "%s/idx.txt", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "0 1 2\n3 4\n");
    fclose(f);
    cr_assert_eq(cgdml("train --data toy.h5 --indices idx.txt --sigma 0.5 -o m.h5"), 0, "%s",
                 output);
    cr_assert_eq(cgdml("info m.h5"), 0);
    cr_assert(strstr(output, "train frames 5"), "%s", output);
    f = fopen(path, "w");
    fprintf(f, "0 1 99\n");
    fclose(f);
    assert_refused(cgdml("train --data toy.h5 --indices idx.txt --sigma 0.5 -o m2.h5"), 1,
                   "out of range");
    f = fopen(path, "w");
    fprintf(f, "0 1 x\n");
    fclose(f);
    assert_refused(cgdml("eval --model m.h5 --data toy.h5 --indices idx.txt"), 1,
                   "expected a non-negative integer");
}

Test(cli, help_and_unknown_commands)
{
    cr_assert_eq(cgdml("--help"), 0);
    cr_assert(strstr(output, "train") && strstr(output, "predict") && strstr(output, "eval"));
    cr_assert_eq(cgdml("train --help"), 0);
    cr_assert(strstr(output, "--sigma"), "%s", output);
    assert_refused(cgdml("frobnicate"), 2, "unknown command");
    assert_refused(cgdml("info"), 2, "which file");
}

/* Each foreign input file of tests/data, the words its refusal must contain. */
static const struct {
    const char *args, *words;
} import_refusals[] = {
    {"--coords %s/bad_bigendian.npy --forces %s/forces_f8.npy", "big-endian"},
    {"--coords %s/bad_fortran.npy --forces %s/forces_f8.npy", "Fortran order"},
    {"--coords %s/bad_complex.npy --forces %s/forces_f8.npy", "complex"},
    {"--coords %s/bad_int_frames.npy --forces %s/forces_f8.npy", "'<i8'"},
    {"--coords %s/bad_object.npy --forces %s/forces_f8.npy", "objects"},
    {"--coords %s/bad_string.npy --forces %s/forces_f8.npy", "string"},
    {"--coords %s/bad_indices_float.npy --forces %s/forces_f8.npy", "expected (frames, beads, 3)"},
    {"--coords %s/frames_f8.npy --forces %s/bad_fortran.npy", "Fortran order"},
    {"--npz %s/bad_bzip2.npz", "compression method 12"},
    {"--npz %s/bad_ev.npz", "'eV'"},
    {"--npz %s/bad_no_forces.npz", "no member 'F.npy'"},
    {"--npz %s/bad_shapes.npz", "same shape"},
    {"--npz %s/bad_short_member.npz", "truncated"},
    {"--npz %s/bad_z_length.npz", "one per bead"},
};

Test(cli, import_refuses_every_foreign_fixture_and_writes_nothing)
{
    char data[512], args[1200];
    snprintf(data, sizeof data, "%s/tests/data", getenv("CGDML_SRC"));
    for (size_t i = 0; i < sizeof import_refusals / sizeof import_refusals[0]; i++) {
        snprintf(args, sizeof args, import_refusals[i].args, data, data);
        assert_refused(cgdml("import %s -o out.h5", args), 1, import_refusals[i].words);
        cr_assert(!exists("out.h5"), "%s left out.h5", args);
    }
    snprintf(args, sizeof args, "--coords %s/frames_f8.npy --forces %s/forces_f4.npy", data, data);
    cr_assert_eq(cgdml("import %s -o out.h5", args), 0, "%s", output);
    cr_assert(strstr(output, "4 frames of 5 beads"), "%s", output);
}

Test(cli, fes_reference_writes_landscape_and_floor)
{
    cr_assert_eq(cgdml("synthetic --frames 2000 --spread 0.3 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("fes-reference --data toy.h5 --bins 20 -o ref.h5"), 0, "%s", output);
    cr_assert_eq(field("frames "), 2000);
    double floor = field("floor (first half vs second half) ");
    cr_assert(floor >= 0 && floor < 2.0, "floor %g kT^2", floor);
    cr_assert(exists("ref.h5"));
    assert_refused(cgdml("fes-reference --data toy.h5 --phi 0,1,2 --psi 1,2,4,5 -o r2.h5"), 2,
                   "four bead indices");
    assert_refused(cgdml("fes-reference --data toy.h5 --phi 0,1,2,9 --psi 1,2,4,5 -o r2.h5"), 1,
                   "outside 0..5");
    assert_refused(cgdml("fes-reference --data toy.h5 --phi 0,1,2,3 -o r2.h5"), 2, "together");
    cr_assert(!exists("r2.h5"));
}

/* The ensemble options shared by the tests below: a noisy toy system, k-means strata. */
#define ENSEMBLE_ARGS                                                                         \
    "ensemble --data noisy.h5 --kmeans 30 --members 6 --n-train 60 --sigma1 8 "              \
    "--mean-set 30 --lambda 1e-6"

Test(cli, ensemble_writes_distilled_and_average_models)
{
    cr_assert_eq(cgdml("synthetic --frames 1500 --noise 10 -o noisy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml(ENSEMBLE_ARGS " --sigma2-grid 2,8 --cv 3 -o ens.h5"), 0, "%s", output);
    cr_assert(strstr(output, "cross-validation, layer 2"), "%s", output);
    cr_assert(!exists("ens.h5.members"), "the checkpoint folder is removed after success");
    cr_assert_eq(cgdml("info ens.h5"), 0, "%s", output);
    cr_assert(strstr(output, "kind distilled") && strstr(output, "train frames 30") &&
                  strstr(output, "prior        5 bonds, 5 angles") &&
                  strstr(output, "cv layer 2"),
              "%s", output);
    cr_assert_eq(cgdml("info ens.average.h5"), 0, "%s", output);
    cr_assert(strstr(output, "kind average") && strstr(output, "train frames 360"), "%s", output);
    cr_assert_eq(cgdml("eval --model ens.average.h5 --data noisy.h5 --n-train 100"), 0, "%s",
                 output);
    cr_assert_eq(cgdml("predict --model ens.h5 --data noisy.h5 --n-train 10 -o f.npy"), 0, "%s",
                 output);
}

Test(cli, ensemble_resumes_to_the_same_model)
{
    cr_assert_eq(cgdml("synthetic --frames 1500 --noise 10 -o noisy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml(ENSEMBLE_ARGS " --sigma2 4 -o a.h5"), 0, "%s", output);
    /* An interrupted run: layer 1 finishes, then layer 2 fails; members stay. */
    assert_refused(cgdml(ENSEMBLE_ARGS " --sigma2 -1 -o b.h5"), 1, "sigma");
    cr_assert(exists("b.h5.members") && !exists("b.h5") && !exists("b.average.h5"));
    cr_assert_eq(cgdml(ENSEMBLE_ARGS " --sigma2 4 --resume -o b.h5"), 0, "%s", output);
    cr_assert(strstr(output, "6 of 6 members taken from"), "%s", output);
    cr_assert_eq(cgdml("predict --model a.h5 --data noisy.h5 -o fa.npy"), 0, "%s", output);
    cr_assert_eq(cgdml("predict --model b.h5 --data noisy.h5 -o fb.npy"), 0, "%s", output);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cmp -s %s/fa.npy %s/fb.npy", dir, dir);
    cr_assert_eq(system(cmd), 0, "resumed and uninterrupted models predict identically");
}

/* Write `text` to the file `name` in the test's folder. */
static void write_in_dir(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert(fputs(text, f) >= 0 && fclose(f) == 0, "%s", path);
}

/* --draw partition with --exclude: members of disjoint blocks of the frames left
 * (1000 of 1500 here); more than that is refused naming both numbers, and so is
 * an exclude file with a frame beyond the data. */
Test(cli, ensemble_partition_of_the_frames_left_by_exclude)
{
    cr_assert_eq(cgdml("synthetic --frames 1500 --noise 10 -o noisy.h5"), 0, "%s", output);
    char every_third[4000] = "";
    for (int i = 0, len = 0; i < 500; i++)
        len += snprintf(every_third + len, sizeof every_third - len, "%d\n", 3 * i);
    write_in_dir("held_out.txt", every_third);
    const char *args = "ensemble --data noisy.h5 --kmeans 30 --n-train 200 --sigma1 8 "
                       "--mean-set 30 --lambda 1e-6 --sigma2 4 --draw partition "
                       "--exclude held_out.txt";
    assert_refused(cgdml("%s --members 6 -o a.h5", args), 1,
                   "6 members of 200 frames needs 1200 frames; the pool has 1000 (1500 frames, "
                   "500 excluded)");
    cr_assert(!exists("a.h5") && !exists("a.average.h5"));
    cr_assert_eq(cgdml("%s --members 5 -o a.h5", args), 0, "%s", output);
    cr_assert(strstr(output, "1000 frames in") && strstr(output, "(the others excluded)"), "%s",
              output);
    cr_assert_eq(cgdml("info a.average.h5"), 0);
    cr_assert(strstr(output, "train frames 1000"), "%s", output);
    write_in_dir("held_out.txt", "3\n1500\n");
    assert_refused(cgdml("%s --members 5 -o b.h5", args), 1, "out of range");
    cr_assert_eq(cgdml("ensemble --help"), 0);
    cr_assert(strstr(output, "--draw stratified|random|partition") &&
                  strstr(output, "--exclude FILE"),
              "%s", output);
}

/* Job arrays: shards 0/2 and 1/2 then the collecting run (--resume) give the
 * one-process model bit for bit; collecting early, a shard with other options or
 * a bad --shard is refused and writes nothing. */
Test(cli, ensemble_shards_collect_to_the_one_process_model)
{
    cr_assert_eq(cgdml("synthetic --frames 1500 --noise 10 -o noisy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml(ENSEMBLE_ARGS " --sigma2 4 -o a.h5"), 0, "%s", output);
    cr_assert_eq(cgdml(ENSEMBLE_ARGS " --sigma2 4 --shard 1/2 -o b.h5"), 0, "%s", output);
    cr_assert(strstr(output, "shard 1/2: 3 of 6 members in b.h5.members (3 trained now"), "%s",
              output);
    cr_assert(exists("b.h5.members/manifest.txt") && !exists("b.h5") && !exists("b.average.h5"));
    cr_assert(exists("b.h5.members/member-s8-l1e-06-m60-d0-seed1-00001.h5") &&
              !exists("b.h5.members/member-s8-l1e-06-m60-d0-seed1-00000.h5"));
    /* Collecting with shard 0 missing: refused, its members listed, the folder kept. */
    assert_refused(cgdml(ENSEMBLE_ARGS " --sigma2 4 --resume -o b.h5"), 1,
                   "3 of 6 members are missing from b.h5.members (shard 0/2: members 0-4 step 2)");
    cr_assert(!exists("b.h5") && !exists("b.average.h5"));
    cr_assert(exists("b.h5.members/member-s8-l1e-06-m60-d0-seed1-00003.h5"));
    /* Without --resume the shards' folder is not emptied. */
    assert_refused(cgdml(ENSEMBLE_ARGS " --sigma2 4 -o b.h5"), 1, "holds members trained by shards");
    cr_assert(exists("b.h5.members/member-s8-l1e-06-m60-d0-seed1-00003.h5"));
    /* A shard with another sigma1, or another number of shards, is refused by name. */
    assert_refused(cgdml("ensemble --data noisy.h5 --kmeans 30 --members 6 --n-train 60 "
                         "--sigma1 7 --mean-set 30 --lambda 1e-6 --sigma2 4 --shard 0/2 -o b.h5"),
                   1, "started with sigma1 8 (its manifest.txt); this run has sigma1 7");
    assert_refused(cgdml(ENSEMBLE_ARGS " --sigma2 4 --shard 0/3 -o b.h5"), 1,
                   "started with shards 2");
    cr_assert(!exists("b.h5.members/member-s7-l1e-06-m60-d0-seed1-00000.h5") &&
              !exists("b.h5.members/member-s8-l1e-06-m60-d0-seed1-00000.h5"));
    cr_assert_eq(cgdml(ENSEMBLE_ARGS " --sigma2 4 --shard 0/2 -o b.h5"), 0, "%s", output);
    cr_assert_eq(cgdml(ENSEMBLE_ARGS " --sigma2 4 --resume -o b.h5"), 0, "%s", output);
    cr_assert(strstr(output, "6 of 6 members taken from"), "%s", output);
    cr_assert(!exists("b.h5.members"), "the members folder is removed after success");
    cr_assert_eq(cgdml("predict --model a.h5 --data noisy.h5 -o fa.npy"), 0, "%s", output);
    cr_assert_eq(cgdml("predict --model b.h5 --data noisy.h5 -o fb.npy"), 0, "%s", output);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cmp -s %s/fa.npy %s/fb.npy", dir, dir);
    cr_assert_eq(system(cmd), 0, "sharded and one-process models predict identically");
}

/* --distributed needs the MPI build (make MPI=1); the default one says so. */
Test(cli, distributed_needs_the_mpi_build)
{
    cr_assert_eq(cgdml("--version"), 0, "%s", output);
    if (strstr(output, "MPI build"))
        cr_skip_test("this program is the MPI build: tests/mpi/cli/ tests --distributed");
    cr_assert_eq(cgdml("synthetic --frames 300 --noise 10 -o noisy.h5"), 0, "%s", output);
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 50 --sigma1 4 "
                         "--sigma2 4 --distributed -o e.h5"),
                   2, "built without MPI: make MPI=1");
    assert_refused(cgdml("train --data noisy.h5 --n-train 50 --sigma 4 --distributed -o t.h5"), 2,
                   "built without MPI: make MPI=1");
    cr_assert(!exists("e.h5") && !exists("e.h5.members") && !exists("t.h5"));
}

Test(cli, ensemble_refuses_bad_shards)
{
    cr_assert_eq(cgdml("synthetic --frames 300 --noise 10 -o noisy.h5"), 0, "%s", output);
    const char *bad[] = {"x", "2/2", "1/0", "0/0", "-1/2", "1/", "/2", "1/2x", "1.5/2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 50 --sigma1 4 "
                             "--sigma2 4 --shard '%s' -o e.h5", bad[i]),
                       2, "--shard");
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 50 --sigma1-grid 2,4 "
                         "--sigma2 4 --shard 0/2 -o e.h5"),
                   1, "needs a fixed sigma1");
    cr_assert(!exists("e.h5") && !exists("e.average.h5") && !exists("e.h5.members"));
}

Test(cli, ensemble_refuses_incomplete_or_impossible_requests)
{
    cr_assert_eq(cgdml("synthetic --frames 300 --noise 10 -o noisy.h5"), 0, "%s", output);
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 50 --sigma2 4 -o e.h5"),
                   2, "--sigma1");
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 50 --sigma1 4 -o e.h5"),
                   2, "--sigma2");
    assert_refused(cgdml("ensemble --data noisy.h5 --members 0 --n-train 50 --sigma1 4 "
                         "--sigma2 4 -o e.h5"),
                   2, "--members");
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 50 --sigma1 4 "
                         "--sigma2 4 -o e.npy"),
                   2, ".h5");
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 50 --sigma1 4 "
                         "--sigma2 4 --collective dihedral:0,1,2:30 -o e.h5"),
                   1, "dihedral");
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 50 --sigma1 4 "
                         "--sigma2 4 --kmeans 10 --memory 1K -o e.h5"),
                   1, "memory budget");
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 50 --sigma1-grid 4,x "
                         "--sigma2 4 -o e.h5"),
                   2, "sigma1-grid");
    cr_assert(!exists("e.h5") && !exists("e.average.h5"));
}

Test(cli, shipped_dataset_reads_and_gives_a_reference_landscape)
{
    char args[600];
    snprintf(args, sizeof args, "fes-reference --data %s/datasets/ala2_cg6.h5 -o ref.h5",
             getenv("CGDML_SRC"));
    cr_assert_eq(cgdml("%s", args), 0, "%s", output);
    cr_assert_eq(field("frames "), 100000);
    double populated = field("populated ");
    cr_assert(populated > 500 && populated < 3600, "%g populated bins of 3600", populated);
    /* Two halves of 50 ns agree to a fraction of kT where both are populated. */
    double floor = field("floor (first half vs second half) ");
    cr_assert(floor > 0.0 && floor < 1.0, "floor %g kT^2", floor);
}

/* A small run of the whole pipeline on the shipped data. */
#define SMALL_RUN                                                                             \
    "run --data %s/datasets/ala2_cg6.h5 -o out --members 4 --n-train 80 --mean-set 150 "    \
    "--replicas 8 --steps 1000 --save-every 100"

Test(cli, run_writes_models_trajectory_landscapes_and_report)
{
    cr_assert_eq(cgdml(SMALL_RUN, getenv("CGDML_SRC")), 0, "%s", output);
    cr_assert(strstr(output, "run finished"), "%s", output);
    double mse = field("landscape MSE ");
    cr_assert(isfinite(mse) && mse > 0, "landscape MSE %g", mse);
    const char *files[] = {"out/reference.h5", "out/model.h5", "out/model.average.h5",
                           "out/traj.h5", "out/fes.h5", "out/report.md"};
    for (size_t i = 0; i < 6; i++)
        cr_assert(exists(files[i]), "%s is missing", files[i]);
    cr_assert(!exists("out/model.h5.members"));
    char path[256], report[8192] = "";
    snprintf(path, sizeof path, "%s/out/report.md", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(report, 1, sizeof report - 1, f);
    report[n] = '\0';
    fclose(f);
    cr_assert(strstr(report, "MSE vs all-atom reference") && strstr(report, "cgdml simulate") &&
                  strstr(report, "4 members of 80 frames (drawn with the data's weights, "
                                 "solved by conjugate gradients)"),
              "%s", report);
    /* The report's ensemble command makes the run's model. */
    char *cmd = strstr(report, "cgdml ensemble "), *o = cmd ? strstr(cmd, " -o out/model.h5") : 0;
    cr_assert(cmd && o, "%s", report);
    *o = '\0';
    cr_assert_eq(cgdml("%s -o again.h5", cmd + strlen("cgdml ")), 0, "%s", output);
    cgdml_model *m1, *m2;
    snprintf(path, sizeof path, "%s/out/model.h5", dir);
    cr_assert_eq(cgdml_model_load(path, &m1), CGDML_OK, "%s", cgdml_error_message());
    snprintf(path, sizeof path, "%s/again.h5", dir);
    cr_assert_eq(cgdml_model_load(path, &m2), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(m1->n_train, m2->n_train);
    cr_assert_eq(memcmp(m1->gamma, m2->gamma, m1->n_train * m1->n_desc * sizeof(double)), 0);
    cgdml_model_free(m1);
    cgdml_model_free(m2);
    /* The default burn-in of a run shorter than 3 x 100,000 steps is a third of it. */
    cr_assert(strstr(report, "after a burn-in of 333 steps"), "%s", report);
    /* The stages also run alone on the run's files. */
    cr_assert_eq(cgdml("fes --traj out/traj.h5 --reference %s/datasets/ala2_cg6.h5 --burn-in 333 "
                       "-o f2.h5",
                       getenv("CGDML_SRC")),
                 0, "%s", output);
    cr_assert_float_eq(field("MSE vs reference "), mse, 1e-3 * mse + 1e-4);
    cr_assert_eq(cgdml("simulate --model out/model.h5 --data %s/datasets/ala2_cg6.h5 "
                       "--replicas 3 --steps 200 --save-every 50 --integrator baoab -o t2.h5",
                       getenv("CGDML_SRC")),
                 0, "%s", output);
    cr_assert(strstr(output, "replicas 3, finished 3, stopped 0"), "%s", output);
    cr_assert_eq(cgdml("info t2.h5"), 0, "%s", output);
    cr_assert(strstr(output, "frames       12") && strstr(output, "phi psi"), "%s", output);
}

Test(cli, simulate_and_fes_refuse_bad_requests)
{
    cr_assert_eq(cgdml("synthetic --frames 200 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("synthetic --frames 200 --beads 5 -o five.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 20 --sigma 0.5 -o m.h5"), 0, "%s", output);
    assert_refused(cgdml("simulate --model m.h5 --data toy.h5 --replicas 0 --steps 10 -o t.h5"),
                   2, "--replicas");
    assert_refused(cgdml("simulate --model m.h5 --data five.h5 --replicas 2 --steps 10 -o t.h5"),
                   1, "has 5 beads");
    assert_refused(cgdml("simulate --model m.h5 --data toy.h5 --replicas 2 --steps 10 --dt -1 "
                         "-o t.h5"),
                   1, "dt");
    assert_refused(cgdml("simulate --model m.h5 --data toy.h5 --replicas 2 --steps 10 "
                         "--save-every 20 -o t.h5"),
                   1, "save_every");
    assert_refused(cgdml("simulate --model m.h5 --data toy.h5 --replicas 2 --steps 10 "
                         "--integrator verlet -o t.h5"),
                   2, "integrator");
    cr_assert(!exists("t.h5"));
    assert_refused(cgdml("fes --reference toy.h5 -o f.h5"), 2, "--traj");
    assert_refused(cgdml("fes --traj missing.h5 -o f.h5"), 1, "missing.h5");
    cr_assert(!exists("f.h5"));
}

/* λ relative to the kernel diagonal: each σ₁ row of the CV table gets r·5/(3σ₁²),
 * the best point on an edge is reported, and the two kinds of λ grid exclude each
 * other. */
Test(cli, ensemble_lambda_grid_relative_to_the_kernel_diagonal)
{
    cr_assert_eq(cgdml("synthetic --frames 1500 --noise 10 -o noisy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("ensemble --data noisy.h5 --kmeans 20 --members 6 --n-train 30 "
                       "--sigma1-grid 2,8 --lambda-rel-grid 1e-6,1e-3 --sigma2 4 --cv 3 "
                       "--mean-set 20 --seed 3 -o ens.h5"),
                 0, "%s", output);
    cr_assert(strstr(output, "relative to the kernel diagonal"), "%s", output);
    cr_assert(strstr(output, "is the lowest of its grid") || strstr(output, "is the highest of"),
              "a 2 x 2 grid's best point is on an edge: %s", output);
    char path[4096];
    snprintf(path, sizeof path, "%s/ens.h5", dir);
    cgdml_model *m;
    cr_assert_eq(cgdml_model_load(path, &m), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(m->cv_rows, 4);
    for (size_t i = 0; i < 4; i++) {
        const double *row = m->cv_table + i * CGDML_CV_COLUMNS;
        double rel = row[2] / (5.0 / (3.0 * row[1] * row[1]));
        cr_assert(fabs(rel - (i % 2 ? 1e-3 : 1e-6)) < 1e-9 * rel, "row %zu: sigma %g lambda %g",
                  i, row[1], row[2]);
    }
    cgdml_model_free(m);
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 30 --sigma1-grid 2,8 "
                         "--lambda-grid 1e-3 --lambda-rel-grid 1e-3 --sigma2 4 -o e.h5"),
                   2, "not both");
}

/* --select: the layer-1 point chosen is the one with the lowest binned error (the
 * default, a finite column of the CV table) or, with --select raw, the lowest raw
 * MSE (the binned column NaN); --sigma2 same gives the distilled model that σ₁. */
Test(cli, ensemble_selects_by_binned_or_raw_error_and_sigma2_follows)
{
    cr_assert_eq(cgdml("synthetic --frames 1500 --noise 10 -o noisy.h5"), 0, "%s", output);
    const char *select[2] = {"", "--select raw "};
    for (int raw = 0; raw < 2; raw++) {
        cr_assert_eq(cgdml("ensemble --data noisy.h5 --kmeans 20 --members 6 --n-train 30 "
                           "--sigma1-grid 0.5,2,8 --lambda 1e-3 --sigma2 same --cv 3 "
                           "--mean-set 20 --seed 3 %s-o ens%d.h5",
                           select[raw], raw),
                     0, "%s", output);
        char path[4096];
        snprintf(path, sizeof path, "%s/ens%d.h5", dir, raw);
        cgdml_model *m;
        cr_assert_eq(cgdml_model_load(path, &m), CGDML_OK, "%s", cgdml_error_message());
        cr_assert_eq(m->cv_rows, 3);
        size_t best = 0;
        for (size_t i = 0; i < 3; i++) {
            const double *row = m->cv_table + i * CGDML_CV_COLUMNS, *b;
            b = m->cv_table + best * CGDML_CV_COLUMNS;
            cr_assert(raw ? isnan(row[6]) : isfinite(row[6]), "row %zu binned %g", i, row[6]);
            if (raw ? row[3] < b[3] : row[6] < b[6])
                best = i;
        }
        cr_assert_eq(m->sigma, m->cv_table[best * CGDML_CV_COLUMNS + 1],
                     "%s: distilled sigma %g, best row %zu", raw ? "raw" : "binned", m->sigma,
                     best);
        cgdml_model_free(m);
    }
    assert_refused(cgdml("ensemble --data noisy.h5 --members 4 --n-train 30 --sigma1 2 "
                         "--select best --sigma2 4 -o e.h5"),
                   2, "select");
}

/* --lambda2-rel fixes the distilled model's ridge relative to 5/(3σ₂²);
 * --lambda2-rel-grid cross-validates it (layer-2 rows of the table, one per value,
 * and the model takes the best row's); two of the three, or a ridge <= 0, are usage
 * errors. */
/* ensemble --solver cg: members by conjugate gradients (train's CG options apply),
 * the Cholesky model to the tolerance; CG options without it are refused. */
Test(cli, ensemble_members_by_cg)
{
    cr_assert_eq(cgdml("synthetic --frames 600 --noise 10 -o noisy.h5"), 0, "%s", output);
    const char *base = "ensemble --data noisy.h5 --kmeans 20 --members 2 --n-train 100 --sigma1 2 "
                       "--lambda 0.01 --sigma2 same --mean-set 20 --precision double";
    cr_assert_eq(cgdml("%s -o chol.h5", base), 0, "%s", output);
    cr_assert_eq(cgdml("%s --solver cg --tolerance 1e-12 -o cg.h5", base), 0, "%s", output);
    cr_assert(strstr(output, "CG iteration"), "%s", output);
    cgdml_model *a, *b;
    char path[4096];
    snprintf(path, sizeof path, "%s/chol.average.h5", dir);
    cr_assert_eq(cgdml_model_load(path, &a), CGDML_OK, "%s", cgdml_error_message());
    snprintf(path, sizeof path, "%s/cg.average.h5", dir);
    cr_assert_eq(cgdml_model_load(path, &b), CGDML_OK, "%s", cgdml_error_message());
    double amax = 0, dmax = 0;
    for (size_t i = 0; i < a->n_train * a->n_desc; i++) {
        amax = fmax(amax, fabs(a->gamma[i]));
        dmax = fmax(dmax, fabs(a->gamma[i] - b->gamma[i]));
    }
    cr_assert(amax > 0 && dmax < 1e-6 * amax, "coefficients differ by %g of %g", dmax, amax);
    cgdml_model_free(a);
    cgdml_model_free(b);
    assert_refused(cgdml("%s --tolerance 1e-8 -o e.h5", base), 2, "applies to --solver cg");
    assert_refused(cgdml("%s --solver cg --tolerance 3 -o e.h5", base), 1, "tolerance");
}

Test(cli, ensemble_lambda2_fixed_or_cross_validated)
{
    cr_assert_eq(cgdml("synthetic --frames 600 --noise 10 -o noisy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("ensemble --data noisy.h5 --kmeans 20 --members 3 --n-train 30 "
                       "--sigma1 2 --lambda 1 --sigma2 same --lambda2-rel 1e-3 "
                       "--mean-set 20 -o fixed.h5"),
                 0, "%s", output);
    char path[4096];
    cgdml_model *m;
    snprintf(path, sizeof path, "%s/fixed.h5", dir);
    cr_assert_eq(cgdml_model_load(path, &m), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_float_eq(m->lambda, 1e-3 * 5.0 / (3.0 * 4.0), 1e-15);
    cgdml_model_free(m);

    cr_assert_eq(cgdml("ensemble --data noisy.h5 --kmeans 20 --members 3 --n-train 30 "
                       "--sigma1 2 --lambda 1 --sigma2 same --lambda2-rel-grid 1e-5,1e-1 "
                       "--cv 3 --mean-set 20 -o cv.h5"),
                 0, "%s", output);
    cr_assert(strstr(output, "1 sigma2 x 2 lambda2 values"), "%s", output);
    snprintf(path, sizeof path, "%s/cv.h5", dir);
    cr_assert_eq(cgdml_model_load(path, &m), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(m->cv_rows, 2);
    const double *r0 = m->cv_table, *r1 = m->cv_table + CGDML_CV_COLUMNS;
    cr_assert_eq(r0[0], 2.0, "layer-2 rows");
    cr_assert_float_eq(m->lambda, r0[3] < r1[3] ? r0[2] : r1[2], 0.0);
    cgdml_model_free(m);

    assert_refused(cgdml("ensemble --data noisy.h5 --members 3 --n-train 30 --sigma1 2 "
                         "--sigma2 same --lambda2 1 --lambda2-rel-grid 1e-3 -o e.h5"),
                   2, "lambda2");
    assert_refused(cgdml("ensemble --data noisy.h5 --members 3 --n-train 30 --sigma1 2 "
                         "--sigma2 same --lambda2 1 --lambda2-rel 1e-3 -o e.h5"),
                   2, "once");
    assert_refused(cgdml("ensemble --data noisy.h5 --members 3 --n-train 30 --sigma1 2 "
                         "--sigma2 same --lambda2-rel 0 -o e.h5"),
                   2, "must be > 0");
}
