/* test_solve_cg.c - training by preconditioned conjugate gradients (solve.h,
 * cgdml_model_train_cg): agreement with the Cholesky solve on shipped alanine
 * dipeptide frames, the iterations the preconditioners save against plain CG,
 * a stopped solve resumed from its checkpoint giving the uninterrupted α bit for
 * bit, refusals of bad options and of another solve's checkpoint, and the same
 * refusals through `cgdml train`.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgdml/descriptor.h"
#include "cgdml/model.h"
#include "cgdml/solve.h"
#include "cli_helpers.h"
#include "shipped_data.h"
#include "tmp_dir.h"

/* Training frames 0, 491, 982, ... of the shipped data and held-out frames between. */
enum { M = 200, HELD = 200, STRIDE = 491 };

static void split(size_t *train, size_t *held)
{
    for (size_t t = 0; t < M; t++)
        train[t] = STRIDE * t;
    for (size_t t = 0; t < HELD; t++)
        held[t] = STRIDE * t + STRIDE / 2;
}

/* max |a - b| / max |a| of the held-out forces of two models. */
static double force_difference(const cgdml_dataset *d, const cgdml_model *a, const cgdml_model *b)
{
    size_t train[M], held[HELD], n3 = 3 * d->n_beads;
    split(train, held);
    double *x = malloc(HELD * n3 * sizeof(double)), *fa = malloc(HELD * n3 * sizeof(double)),
           *fb = malloc(HELD * n3 * sizeof(double));
    for (size_t t = 0; t < HELD; t++)
        memcpy(x + t * n3, d->coords + held[t] * n3, n3 * sizeof(double));
    cr_assert_eq(cgdml_model_predict(a, HELD, x, fa, NULL), CGDML_OK);
    cr_assert_eq(cgdml_model_predict(b, HELD, x, fb, NULL), CGDML_OK);
    double diff = 0.0, big = 0.0;
    for (size_t i = 0; i < HELD * n3; i++) {
        diff = fmax(diff, fabs(fa[i] - fb[i]));
        big = fmax(big, fabs(fa[i]));
    }
    free(x);
    free(fa);
    free(fb);
    return diff / big;
}

static cgdml_model *train_cg(const cgdml_dataset *d, const cgdml_cg_options *o,
                             cgdml_train_stats *st)
{
    size_t train[M], held[HELD];
    split(train, held);
    cgdml_model *m;
    cr_assert_eq(cgdml_model_train_cg(d, train, M, NULL, 1.0, 1e-3, o, st, &m), CGDML_OK, "%s",
                 cgdml_error_message());
    return m;
}

/* σ = 1, λ = 1e-3 (6e-4 of the kernel diagonal): the hyperparameters of `make run`. */
Test(cg, agrees_with_cholesky_on_held_out_forces, .timeout = 120)
{
    cgdml_dataset *d = shipped_dataset();
    size_t train[M], held[HELD];
    split(train, held);
    cgdml_model *chol, *cg;
    cr_assert_eq(cgdml_model_train_precision(d, train, M, NULL, 1.0, 1e-3, CGDML_PRECISION_DOUBLE,
                                             NULL, &chol),
                 CGDML_OK, "%s", cgdml_error_message());
    cgdml_cg_options o;
    cgdml_cg_options_init(&o);
    o.tolerance = 1e-10;
    cgdml_train_stats st;
    cg = train_cg(d, &o, &st);
    cr_assert_eq(st.solver, CGDML_SOLVER_CG);
    cr_assert(st.cg.converged);
    cr_assert_leq(st.cg.relative_residual, 10 * o.tolerance, "true residual %g",
                  st.cg.relative_residual);
    double rel = force_difference(d, chol, cg);
    cr_assert_leq(rel, 1e-6, "held-out forces differ by %g of the largest", rel);
    cgdml_model_free(chol);
    cgdml_model_free(cg);
    cgdml_dataset_free(d);
}

/* Iterations to a relative residual of 1e-6 on the 200 frames.  Measured: plain
 * CG 460, Nyström with 20 landmark frames 23 (20x fewer); two blocks of 100
 * frames 887 (stratified) and 805 (contiguous), worse than plain CG (README). */
static size_t iterations(const cgdml_dataset *d, cgdml_cg_preconditioner pre, size_t landmarks)
{
    cgdml_cg_options o;
    cgdml_cg_options_init(&o);
    o.tolerance = 1e-6;
    o.preconditioner = pre;
    o.landmarks = landmarks;
    cgdml_train_stats st;
    cgdml_model_free(train_cg(d, &o, &st));
    return st.cg.iterations;
}

Test(cg, nystrom_preconditioner_cuts_iterations, .timeout = 120)
{
    cgdml_dataset *d = shipped_dataset();
    size_t plain = iterations(d, CGDML_CG_PRECONDITIONER_NONE, 0);
    size_t nystrom = iterations(d, CGDML_CG_PRECONDITIONER_NYSTROM, 20);
    cr_log_info("plain CG %zu iterations, Nystrom (20 landmarks) %zu", plain, nystrom);
    cr_assert_geq(plain, 10 * nystrom, "plain CG %zu iterations, Nyström %zu: expected >= 10x",
                  plain, nystrom);
    cgdml_dataset_free(d);
}

/* The system of n shipped frames 0, STRIDE, 2 STRIDE, ...: D, g and the forces F. */
typedef struct {
    size_t n, nb, order;
    double *D, *g, *F;
} small_system;

static small_system system_of(const cgdml_dataset *d, size_t n)
{
    size_t nb = d->n_beads, dd = cgdml_descriptor_size(nb), n3 = 3 * nb;
    small_system s = {n,
                      nb,
                      n3 * n,
                      malloc(n * dd * sizeof(double)),
                      malloc(n * dd * 3 * sizeof(double)),
                      malloc(n * n3 * sizeof(double))};
    for (size_t t = 0; t < n; t++) {
        cgdml_descriptor_jacobian(nb, d->coords + STRIDE * t * n3, s.D + t * dd, s.g + t * dd * 3);
        memcpy(s.F + t * n3, d->forces + STRIDE * t * n3, n3 * sizeof(double));
    }
    return s;
}

static void system_free(small_system *s)
{
    free(s->D);
    free(s->g);
    free(s->F);
}

static cgdml_status solve(const small_system *s, const cgdml_cg_options *o, double *alpha,
                          cgdml_cg_stats *st)
{
    return cgdml_solve_cg(s->n, s->nb, s->D, s->g, 1.0, 1e-3, s->F, alpha, o, st);
}

Test(cg, every_preconditioner_reaches_the_same_solution)
{
    cgdml_dataset *d = shipped_dataset();
    small_system s = system_of(d, 60);
    double *ref = malloc(s.order * sizeof(double)), *alpha = malloc(s.order * sizeof(double));
    cgdml_cg_options o;
    cgdml_cg_options_init(&o);
    o.tolerance = 1e-11;
    o.max_iterations = 20000; /* plain CG and the blocks need thousands here */
    o.preconditioner = CGDML_CG_PRECONDITIONER_NONE;
    cr_assert_eq(solve(&s, &o, ref, NULL), CGDML_OK, "%s", cgdml_error_message());
    const struct {
        cgdml_cg_preconditioner pre;
        cgdml_cg_layout layout;
        size_t blocks, landmarks;
    } cases[] = {{CGDML_CG_PRECONDITIONER_BLOCKS, CGDML_CG_LAYOUT_STRATIFIED, 20, 0},
                 {CGDML_CG_PRECONDITIONER_BLOCKS, CGDML_CG_LAYOUT_CONTIGUOUS, 25, 0},
                 {CGDML_CG_PRECONDITIONER_NYSTROM, 0, 0, 10}};
    for (size_t c = 0; c < 3; c++) {
        o.preconditioner = cases[c].pre;
        o.layout = cases[c].layout;
        o.block_frames = cases[c].blocks;
        o.landmarks = cases[c].landmarks;
        cgdml_cg_stats st;
        cr_assert_eq(solve(&s, &o, alpha, &st), CGDML_OK, "case %zu: %s", c, cgdml_error_message());
        double diff = 0.0, big = 0.0;
        for (size_t i = 0; i < s.order; i++) {
            diff = fmax(diff, fabs(alpha[i] - ref[i]));
            big = fmax(big, fabs(ref[i]));
        }
        cr_assert_leq(diff / big, 1e-7, "case %zu: alpha differs by %g", c, diff / big);
        cr_assert_eq(st.n_blocks, c < 2 ? 3 : 0, "case %zu: %zu blocks", c, st.n_blocks);
        cr_assert_eq(st.landmarks, c == 2 ? 10 : 0);
    }
    free(ref);
    free(alpha);
    system_free(&s);
    cgdml_dataset_free(d);
}

static char folder[64];
static void make_folder(void)
{
    test_tmp_dir_make(folder, sizeof folder, "cgdml-cg");
}
static void remove_folder(void)
{
    test_tmp_dir_remove(folder);
}

/* Stopped after 5 iterations (as a kill leaves it, with its checkpoint) and
 * resumed: the same α as an uninterrupted solve, bit for bit. */
Test(cg_checkpoint, stopped_solve_resumes_bit_for_bit, .init = make_folder, .fini = remove_folder)
{
    cgdml_dataset *d = shipped_dataset();
    small_system s = system_of(d, 60);
    double *ref = malloc(s.order * sizeof(double)), *alpha = malloc(s.order * sizeof(double));
    char path[128];
    snprintf(path, sizeof path, "%s/solve.checkpoint", folder);
    cgdml_cg_options o;
    cgdml_cg_options_init(&o);
    o.tolerance = 1e-12;
    o.landmarks = 5;
    o.preconditioner = CGDML_CG_PRECONDITIONER_NYSTROM;
    cgdml_cg_stats whole, part;
    cr_assert_eq(solve(&s, &o, ref, &whole), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_gt(whole.iterations, 8, "%zu iterations: too few to stop in between",
                 whole.iterations);

    o.checkpoint = path;
    o.max_iterations = 5;
    cr_assert_eq(solve(&s, &o, alpha, &part), CGDML_ERR_NUMERIC);
    cr_assert(strstr(cgdml_error_message(), "after 5 iterations"), "%s", cgdml_error_message());
    cr_assert_eq(access(path, F_OK), 0, "an unconverged solve leaves its checkpoint");

    o.max_iterations = CGDML_CG_DEFAULT_MAX_ITERATIONS;
    o.resume = 1;
    cr_assert_eq(solve(&s, &o, alpha, &part), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(part.resumed_from, 5);
    cr_assert_eq(part.iterations, whole.iterations);
    cr_assert_eq(memcmp(alpha, ref, s.order * sizeof(double)), 0, "resumed alpha differs");

    /* Another system (λ) or preconditioner is refused, naming the difference. */
    cr_assert_eq(cgdml_solve_cg(s.n, s.nb, s.D, s.g, 1.0, 2e-3, s.F, alpha, &o, NULL),
                 CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "lambda"), "%s", cgdml_error_message());
    o.landmarks = 6;
    cr_assert_eq(solve(&s, &o, alpha, NULL), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "landmarks 5 there, 6 here"), "%s",
              cgdml_error_message());
    free(ref);
    free(alpha);
    system_free(&s);
    cgdml_dataset_free(d);
}

Test(cg, bad_options_are_refused)
{
    const struct {
        const char *words;
        double tolerance;
        size_t max_iterations, block_frames, landmarks;
        int preconditioner;
        double interval;
    } bad[] = {
        {"tolerance 0", 0.0, 10, 0, 0, 0, 0},
        {"tolerance 1", 1.0, 10, 0, 0, 0, 0},
        {"tolerance nan", NAN, 10, 0, 0, 0, 0},
        {"max_iterations 0", 1e-6, 0, 0, 0, 0, 0},
        {"blocks of 4000 frames", 1e-6, 10, 4000, 0, 0, 0},
        {"101 landmark frames", 1e-6, 10, 0, 101, 1, 0},
        {"unknown preconditioner", 1e-6, 10, 0, 0, 7, 0},
        {"checkpoint interval -1", 1e-6, 10, 0, 0, 0, -1.0},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        cgdml_cg_options o;
        cgdml_cg_options_init(&o);
        o.tolerance = bad[k].tolerance;
        o.max_iterations = bad[k].max_iterations;
        o.block_frames = bad[k].block_frames;
        o.landmarks = bad[k].landmarks;
        o.preconditioner = (cgdml_cg_preconditioner)bad[k].preconditioner;
        o.checkpoint_interval_s = bad[k].interval;
        cr_assert_eq(cgdml_cg_options_check(&o, 100, 6), CGDML_ERR_INVALID, "case %zu", k);
        cr_assert(strstr(cgdml_error_message(), bad[k].words), "case %zu: '%s' not in: %s", k,
                  bad[k].words, cgdml_error_message());
    }
    cgdml_cg_options o;
    cgdml_cg_options_init(&o);
    cr_assert_eq(cgdml_cg_options_check(&o, 100, 6), CGDML_OK, "the defaults are valid");
}

TestSuite(cg_cli, .init = setup, .fini = teardown, .timeout = 120);

#define TRAIN "train --data toy.h5 --n-train 60 --sigma 2 --lambda 1e-3"

Test(cg_cli, train_refuses_bad_solver_options)
{
    cr_assert_eq(cgdml("synthetic --frames 100 -o toy.h5"), 0, "%s", output);
    assert_refused(cgdml(TRAIN " --solver lu -o m.h5"), 2, "--solver 'lu'");
    assert_refused(cgdml(TRAIN " --tolerance 1e-6 -o m.h5"), 2,
                   "--tolerance applies to --solver cg");
    assert_refused(cgdml(TRAIN " --resume -o m.h5"), 2, "--resume applies to --solver cg");
    assert_refused(cgdml(TRAIN " --solver cg --precision mixed -o m.h5"), 2,
                   "--precision applies to --solver cholesky");
    assert_refused(cgdml(TRAIN " --solver cg --tolerance 0 -o m.h5"), 2, "tolerance 0");
    assert_refused(cgdml(TRAIN " --solver cg --tolerance 2 -o m.h5"), 2, "tolerance 2");
    assert_refused(cgdml(TRAIN " --solver cg --max-iterations 0 -o m.h5"), 2,
                   "--max-iterations 0: expected at least 1");
    assert_refused(cgdml(TRAIN " --solver cg --block-frames 0 -o m.h5"), 2,
                   "--block-frames 0: expected at least 1");
    assert_refused(cgdml(TRAIN " --solver cg --block-frames 10 -o m.h5"), 2,
                   "--block-frames applies to --preconditioner blocks");
    assert_refused(cgdml(TRAIN " --solver cg --preconditioner nystrom --landmarks 61 -o m.h5"), 2,
                   "61 landmark frames");
    assert_refused(cgdml(TRAIN " --solver cg --max-iterations 2 -o m.h5"), 1, "after 2 iterations");
    cr_assert(!exists("m.h5"), "no model from an unconverged solve");
    cr_assert(exists("m.h5.checkpoint"), "its checkpoint is kept for --resume");
    assert_refused(cgdml(TRAIN " --solver cg -o m.h5"), 1, "add --resume");
    assert_refused(cgdml(TRAIN " --solver cg --lambda 1e-2 --resume -o m.h5"), 1,
                   "belongs to another solve");
    cr_assert_eq(cgdml(TRAIN " --solver cg --resume -o m.h5"), 0, "%s", output);
    cr_assert(strstr(output, "resumed from iteration 2"), "%s", output);
    cr_assert(exists("m.h5") && !exists("m.h5.checkpoint"));
}

/* train --prior carries the fitted prior; --teacher distils a model's kernel
 * forces onto other frames and carries its prior. */
Test(cg_cli, train_with_prior_and_teacher)
{
    cr_assert_eq(cgdml("synthetic --frames 200 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml(TRAIN " --solver cg --prior --bonds 0-1,1-2,2-3,3-4,4-5 -o t.h5"), 0, "%s",
                 output);
    cr_assert_eq(cgdml("info t.h5"), 0, "%s", output);
    cr_assert(strstr(output, "kind single") && strstr(output, "prior        5 bonds"), "%s",
              output);
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 40 --seed 2 --sigma 2 --lambda 1e-3 "
                       "--teacher t.h5 -o s.h5"),
                 0, "%s", output);
    cr_assert_eq(cgdml("info s.h5"), 0, "%s", output);
    cr_assert(strstr(output, "kind distilled") && strstr(output, "prior        5 bonds"), "%s",
              output);
    assert_refused(cgdml(TRAIN " --teacher t.h5 --prior -o u.h5"), 2, "--prior does not apply");
    assert_refused(cgdml(TRAIN " --teacher missing.h5 -o u.h5"), 1, "missing.h5");
}
