/* test_bad_input.c - bad input at the command line and at the library calls
 * behind it (issue 7): non-finite, absurd, empty, single, duplicate and coinciding
 * frames, absurd hyperparameters and counts, and the memory budget of every
 * command that allocates by problem size.  Each refusal is checked for its words,
 * its exit code (1 the work failed, 2 usage), and that no output was left behind
 * and an existing output is untouched.  The program is found through $CGDML_BIN.
 */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml.h"

#include "cli_helpers.h"

TestSuite(bad_input, .init = setup, .fini = teardown, .timeout = 120);

/* One refused command line: its arguments, exit code and words of the message. */
typedef struct {
    const char *args;
    int code;
    const char *words;
} refusal;

/* ---- helpers ------------------------------------------------------------------- */

static const char *path_of(const char *name)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    return p;
}

/* A copy of `src` as `dst` with the y coordinate (or force) of [frame][bead] set to v. */
static void spoil(const char *src, const char *dst, int forces, size_t frame, size_t bead, double v)
{
    cgdml_dataset *d;
    cr_assert_eq(cgdml_h5md_read(path_of(src), NULL, &d), CGDML_OK, "%s", cgdml_error_message());
    (forces ? d->forces : d->coords)[(frame * d->n_beads + bead) * 3 + 1] = v;
    cr_assert_eq(cgdml_h5md_write(path_of(dst), d, NULL), CGDML_OK, "%s", cgdml_error_message());
    cgdml_dataset_free(d);
}

/* Keep a copy of an existing output, to show later that a failure left it alone. */
static void keep(const char *name)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s/%s %s/%s.kept", dir, name, dir, name);
    cr_assert_eq(system(cmd), 0);
}

static void assert_untouched(const char *name)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cmp -s %s/%s %s/%s.kept", dir, name, dir, name);
    cr_assert_eq(system(cmd), 0, "%s was changed by a failed command", name);
}

/* (frames, beads, 3) arrays as .npy. */
static void write_npy(const char *name, const double *x, size_t frames, size_t beads)
{
    size_t shape[3] = {frames, beads, 3};
    cr_assert_eq(cgdml_npy_write(path_of(name), x, 3, shape), CGDML_OK, "%s",
                 cgdml_error_message());
}

/* The toy system of these tests: 50 frames of 6 beads, and a model m.h5 of 10. */
static void toy_and_model(void)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 10 --sigma 1 -o m.h5"), 0, "%s", output);
}

/* Every command that reads a dataset, given `bad`: each must refuse with `words`,
 * exit 1 and write nothing. */
static void assert_every_command_refuses(const char *bad, const char *words)
{
    const char *commands[] = {
        "train --data %s --n-train 10 --sigma 1 -o out.h5",
        "eval --model m.h5 --data %s",
        "predict --model m.h5 --data %s -o out.npy",
        "ensemble --data %s --kmeans 3 --members 2 --n-train 10 --sigma1 1 --sigma2 1 "
        "--mean-set 10 -o out.h5",
        "simulate --model m.h5 --data %s --replicas 2 --steps 10 --save-every 5 -o out.h5",
        "fes-reference --data %s -o out.h5",
        "fes --traj toy.h5 --reference %s -o out.h5",
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char args[512];
        snprintf(args, sizeof args, commands[i], bad);
        assert_refused(cgdml("%s", args), 1, words);
        cr_assert(!exists("out.h5") && !exists("out.npy") && !exists("out.h5.members"),
                  "'%s' left output", args);
    }
}

/* ---- values: NaN, Inf, absurd, coinciding beads -------------------------------- */

Test(bad_input, nan_and_inf_in_npy_coordinates_and_forces_are_refused_by_import)
{
    double good[2 * 3 * 3] = {0, 0, 0, 1.5, 0, 0, 0, 1.5, 0, 0, 0, 0, 1.4, 0.1, 0, 0, 1.6, 0.2};
    write_npy("good.npy", good, 2, 3);
    cr_assert_eq(cgdml("import --coords good.npy --forces good.npy -o d.h5"), 0, "%s", output);
    keep("d.h5");
    const struct {
        int forces;
        double v;
        const char *words;
    } cases[] = {
        {0, NAN, "frame 1 bead 2: coordinate is nan"},
        {0, INFINITY, "frame 1 bead 2: coordinate is inf"},
        {1, NAN, "frame 1 bead 2: force is nan"},
        {1, -INFINITY, "frame 1 bead 2: force is -inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double bad[18];
        memcpy(bad, good, sizeof bad);
        bad[(1 * 3 + 2) * 3 + 1] = cases[i].v;
        write_npy("bad.npy", bad, 2, 3);
        assert_refused(cgdml(cases[i].forces ? "import --coords good.npy --forces bad.npy -o d.h5"
                                             : "import --coords bad.npy --forces good.npy -o d.h5"),
                       1, cases[i].words);
        assert_untouched("d.h5");
        assert_refused(cgdml(cases[i].forces ? "import --coords good.npy --forces bad.npy -o n.h5"
                                             : "import --coords bad.npy --forces good.npy -o n.h5"),
                       1, cases[i].words);
        cr_assert(!exists("n.h5"));
    }
}

Test(bad_input, nan_and_inf_in_h5md_are_refused_by_every_command)
{
    toy_and_model();
    const struct {
        int forces;
        double v;
        const char *words;
    } cases[] = {
        {0, NAN, "bad.h5: frame 7 bead 2: coordinate is nan"},
        {0, -INFINITY, "bad.h5: frame 7 bead 2: coordinate is -inf"},
        {1, NAN, "bad.h5: frame 7 bead 2: force is nan"},
        {1, INFINITY, "bad.h5: frame 7 bead 2: force is inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spoil("toy.h5", "bad.h5", cases[i].forces, 7, 2, cases[i].v);
        assert_every_command_refuses("bad.h5", cases[i].words);
    }
}

/* Beyond CGDML_MAX_COORDINATE / CGDML_MAX_FORCE values are corrupt: before the
 * bounds, 1e300 Å gave inf squared distances, a zero descriptor and a model
 * trained on it, and a NaN prior in the ensemble. */
Test(bad_input, absurd_coordinates_and_forces_are_refused)
{
    toy_and_model();
    spoil("toy.h5", "bad.h5", 0, 7, 2, 1e300);
    assert_every_command_refuses("bad.h5",
                                 "frame 7 bead 2: coordinate 1e+300 Å is beyond ±1e+06 Å");
    spoil("toy.h5", "bad.h5", 0, 7, 2, -2e6);
    assert_refused(cgdml("train --data bad.h5 --n-train 10 --sigma 1 -o out.h5"), 1,
                   "coordinate -2e+06 Å is beyond ±1e+06 Å");
    spoil("toy.h5", "bad.h5", 1, 7, 2, 1e300);
    assert_refused(cgdml("eval --model m.h5 --data bad.h5"), 1,
                   "frame 7 bead 2: force 1e+300 kcal/mol/Å is beyond ±1e+08 kcal/mol/Å");
    double x[3 * 3] = {0, 0, 0, 1.5, 0, 0, 0, 1e300, 0};
    write_npy("c.npy", x, 1, 3);
    assert_refused(cgdml("import --coords c.npy --forces c.npy -o d.h5"), 1, "is beyond ±1e+06 Å");
    cr_assert(!exists("out.h5") && !exists("d.h5"));
}

/* A bead 1e4 Å from the rest (an absurd bond, but a representable one) is
 * handled: training and evaluation give finite numbers. */
Test(bad_input, a_stretched_but_representable_frame_gives_finite_results)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    spoil("toy.h5", "far.h5", 0, 5, 0, 1e4);
    cr_assert_eq(cgdml("train --data far.h5 --n-train 50 --sigma 1 -o m.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("eval --model m.h5 --data far.h5"), 0, "%s", output);
    double mse = field("force MSE "), mae = field("force MAE ");
    cr_assert(isfinite(mse) && isfinite(mae) && mse >= 0, "MSE %g, MAE %g", mse, mae);
    cr_assert_eq(cgdml("predict --model m.h5 --data far.h5 -o f.npy --energies e.npy"), 0, "%s",
                 output);
    double *f;
    size_t nf, nb;
    cr_assert_eq(cgdml_npy_read_frames(path_of("f.npy"), &f, &nf, &nb), CGDML_OK);
    for (size_t a = 0; a < nf * nb * 3; a++)
        cr_assert(isfinite(f[a]), "force %zu is %g", a, f[a]);
    free(f);
}

Test(bad_input, coinciding_beads_are_refused_with_frame_and_pair)
{
    toy_and_model();
    cgdml_dataset *d;
    cr_assert_eq(cgdml_h5md_read(path_of("toy.h5"), NULL, &d), CGDML_OK);
    memcpy(d->coords + (4 * 6 + 3) * 3, d->coords + (4 * 6 + 1) * 3, 3 * sizeof(double));
    cr_assert_eq(cgdml_h5md_write(path_of("bad.h5"), d, NULL), CGDML_OK);
    assert_every_command_refuses("bad.h5", "frame 4: beads 3 and 1 are 0 Å apart");
    /* Closer than CGDML_MIN_BEAD_DISTANCE without being equal. */
    d->coords[(4 * 6 + 3) * 3] += 5e-4;
    cr_assert_eq(cgdml_h5md_write(path_of("bad.h5"), d, NULL), CGDML_OK);
    assert_refused(cgdml("train --data bad.h5 --n-train 10 --sigma 1 -o out.h5"), 1,
                   "frame 4: beads 3 and 1 are 0.0005 Å apart (minimum 0.001 Å)");
    /* The same from .npy files. */
    write_npy("c.npy", d->coords, d->n_frames, d->n_beads);
    write_npy("f.npy", d->forces, d->n_frames, d->n_beads);
    assert_refused(cgdml("import --coords c.npy --forces f.npy -o d.h5"), 1,
                   "frame 4: beads 3 and 1 are 0.0005 Å apart");
    cr_assert(!exists("out.h5") && !exists("d.h5"));
    cgdml_dataset_free(d);
}

/* ---- empty and single frames ---------------------------------------------------- */

/* Replace /particles/cg/<element>/value of an H5MD file by an empty (0, 6, 3) one
 * (and drop the optional step and time, which would no longer match). */
static void empty_element(hid_t f, const char *element, const char *unit)
{
    char obj[128];
    const char *parts[] = {"step", "time", "value"};
    for (int i = 0; i < 3; i++) {
        snprintf(obj, sizeof obj, "/particles/cg/%s/%s", element, parts[i]);
        cr_assert_geq(H5Ldelete(f, obj, H5P_DEFAULT), 0);
    }
    hsize_t dims[3] = {0, 6, 3};
    hid_t space = H5Screate_simple(3, dims, NULL), str = H5Tcopy(H5T_C_S1), scalar;
    hid_t ds = H5Dcreate2(f, obj, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Tset_size(str, strlen(unit));
    scalar = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(ds, "unit", str, scalar, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Awrite(a, str, unit), 0);
    H5Aclose(a);
    H5Sclose(scalar);
    H5Tclose(str);
    H5Dclose(ds);
    H5Sclose(space);
}

Test(bad_input, datasets_without_frames_are_refused)
{
    toy_and_model();
    double none[1] = {0};
    write_npy("c0.npy", none, 0, 6);
    assert_refused(cgdml("import --coords c0.npy --forces c0.npy -o d.h5"), 1,
                   "c0.npy: array has shape (0, 6, 3), no frames");
    cr_assert(!exists("d.h5"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s/toy.h5 %s/empty.h5", dir, dir);
    cr_assert_eq(system(cmd), 0);
    hid_t f = H5Fopen(path_of("empty.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    empty_element(f, "position", "Angstrom");
    empty_element(f, "force", "kcal mol-1 Angstrom-1");
    H5Fclose(f);
    assert_refused(cgdml("info empty.h5"), 1, "has shape (0, 6, 3); expected at least one frame");
    assert_every_command_refuses("empty.h5", "has shape (0, 6, 3); expected at least one frame");
}

/* One frame trains (what a user asks for is well defined: a model that
 * reproduces that frame's forces) ... */
Test(bad_input, a_single_frame_trains_and_reproduces_its_forces)
{
    cr_assert_eq(cgdml("synthetic --frames 1 -o one.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("train --data one.h5 --n-train 1 --sigma 1 -o m1.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("eval --model m1.h5 --data one.h5"), 0, "%s", output);
    cr_assert_eq(field("frames "), 1);
    double mse = field("force MSE ");
    cr_assert(mse >= 0 && mse < 1e-8, "one frame is interpolated: MSE %g", mse);
    cr_assert_eq(cgdml("predict --model m1.h5 --data one.h5 -o f.npy"), 0, "%s", output);
    double *f;
    size_t nf, nb;
    cgdml_dataset *d;
    cr_assert_eq(cgdml_npy_read_frames(path_of("f.npy"), &f, &nf, &nb), CGDML_OK);
    cr_assert_eq(cgdml_h5md_read(path_of("one.h5"), NULL, &d), CGDML_OK);
    cr_assert_eq(nf * nb, 6);
    for (size_t a = 0; a < 18; a++)
        cr_assert_float_eq(f[a], d->forces[a], 1e-4, "component %zu", a);
    free(f);
    cgdml_dataset_free(d);
}

/* ... but what needs statistics over frames is refused with the reason. */
Test(bad_input, a_single_frame_is_refused_where_frames_are_compared)
{
    cr_assert_eq(cgdml("synthetic --frames 1 -o one.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("train --data one.h5 --n-train 1 --sigma 1 -o m1.h5"), 0, "%s", output);
    assert_refused(cgdml("train --data one.h5 --n-train 2 --sigma 1 -o out.h5"), 1,
                   "cannot draw 2 frames from a dataset of 1");
    assert_refused(cgdml("eval --model m1.h5 --data one.h5 --held-out"), 1,
                   "the model was trained on every frame");
    assert_refused(cgdml("ensemble --data one.h5 --kmeans 1 --members 2 --n-train 1 --sigma1 1 "
                         "--sigma2 1 -o out.h5"),
                   1, "one.h5 has 1 frame(s); an ensemble needs at least 2");
    assert_refused(cgdml("ensemble --data one.h5 --kmeans 1 --members 1 --n-train 1 "
                         "--sigma1-grid 1,2 --sigma2 1 --no-prior -o out.h5"),
                   1, "an ensemble needs at least 2");
    assert_refused(cgdml("ensemble --data one.h5 --kmeans 1 --members 1 --n-train 1 "
                         "--sigma1 1 --sigma2 1 --no-prior -o out.h5"),
                   1, "an ensemble needs at least 2");
    assert_refused(cgdml("fes-reference --data one.h5 -o out.h5"), 1,
                   "one.h5 has 1 frame; a landscape and its floor need at least 2");
    cr_assert(!exists("out.h5") && !exists("out.average.h5"));
}

/* ---- duplicate frames and the singular kernel ----------------------------------- */

/* toy.h5 with frame 9 replaced by frame 3 rotated by 90° about z and shifted:
 * the same geometry, so the same descriptor. */
static void rotated_duplicate(const char *name)
{
    cgdml_dataset *d;
    cr_assert_eq(cgdml_h5md_read(path_of("toy.h5"), NULL, &d), CGDML_OK);
    for (size_t b = 0; b < 6; b++) {
        const double *x = d->coords + (3 * 6 + b) * 3, *g = d->forces + (3 * 6 + b) * 3;
        double *y = d->coords + (9 * 6 + b) * 3, *h = d->forces + (9 * 6 + b) * 3;
        y[0] = -x[1] + 4.0;
        y[1] = x[0] - 2.0;
        y[2] = x[2] + 1.0;
        h[0] = -g[1];
        h[1] = g[0];
        h[2] = g[2];
    }
    cr_assert_eq(cgdml_h5md_write(path_of(name), d, NULL), CGDML_OK);
    cgdml_dataset_free(d);
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(bad_input, duplicate_frames_are_named_before_training)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    rotated_duplicate("dup.h5");
    write_text("idx.txt", "3 1 9 2\n");
    const char *lambdas[] = {"0", "1e-14", "1e-10", "1e-3"};
    for (size_t i = 0; i < 4; i++) {
        assert_refused(cgdml("train --data dup.h5 --indices idx.txt --sigma 1 --lambda %s -o m.h5",
                             lambdas[i]),
                       1, "duplicate frames 3 and 9: the same geometry up to rotation");
        cr_assert(!exists("m.h5"));
    }
    write_text("idx.txt", "3 1 3\n");
    assert_refused(cgdml("train --data toy.h5 --indices idx.txt --sigma 1 -o m.h5"), 1,
                   "frame 3 is selected twice (entries 0 and 2 of the selection)");
    cr_assert(!exists("m.h5"));
    /* Without the copy the same frames train. */
    write_text("idx.txt", "3 1 8 2\n");
    cr_assert_eq(cgdml("train --data dup.h5 --indices idx.txt --sigma 1 -o m.h5"), 0, "%s", output);
}

/* λ = 0 leaves each frame's rigid motions in the kernel's null space: the
 * message says so instead of suggesting duplicates. */
Test(bad_input, lambda_zero_is_reported_as_a_missing_ridge)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 10 --sigma 1 -o m.h5"), 0, "%s", output);
    keep("m.h5");
    assert_refused(cgdml("train --data toy.h5 --n-train 10 --sigma 1 --lambda 0 -o m.h5"), 1,
                   "lambda = 0: without a ridge the kernel matrix on Cartesian forces is singular");
    cr_assert(strstr(output, "--lambda 1e-10") && strstr(output, "not positive definite"), "%s",
              output);
    assert_untouched("m.h5");
}

/* ---- hyperparameters and counts ------------------------------------------------- */

Test(bad_input, absurd_hyperparameters_are_refused)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 10 --sigma 1 -o m.h5"), 0, "%s", output);
    keep("m.h5");
    const refusal cases[] = {
        {"--sigma nan", 2, "--sigma 'nan': expected a number"},
        {"--sigma inf", 2, "--sigma 'inf': expected a number"},
        {"--sigma -inf", 2, "--sigma '-inf': expected a number"},
        {"--sigma 1 --lambda nan", 2, "--lambda 'nan': expected a number"},
        {"--sigma 1 --lambda inf", 2, "--lambda 'inf': expected a number"},
        {"--sigma 1 --lambda -1e-300", 1, "lambda = -1e-300: must be a number >= 0"},
        {"--sigma -0.5", 1, "sigma = -0.5: must be a positive number"},
        /* 1e-200 trained a NaN model (5/(3σ²) overflows) that only loading refused. */
        {"--sigma 1e-200", 1, "sigma = 1e-200: expected 1e-06 to 1e+06 (1/Å)"},
        {"--sigma 1e7", 1, "sigma = 1e+07: expected 1e-06 to 1e+06 (1/Å)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_refused(cgdml("train --data toy.h5 --n-train 10 %s -o m.h5", cases[i].args),
                       cases[i].code, cases[i].words);
        assert_untouched("m.h5");
    }
    cr_assert_eq(cgdml("train --data toy.h5 --n-train 10 --sigma 1e6 -o edge.h5"), 0, "%s", output);
    /* Cross-validation grids: every value finite and non-negative. */
    const char *grids[] = {"--sigma1-grid 1,nan --sigma2 1", "--sigma1 1 --sigma2-grid inf",
                           "--sigma1 1 --sigma2 1 --lambda-grid 1e-3,-1"};
    for (size_t i = 0; i < 3; i++)
        assert_refused(cgdml("ensemble --data toy.h5 --kmeans 5 --members 4 --n-train 10 %s "
                             "-o e.h5",
                             grids[i]),
                       2, "is not a finite non-negative number");
    assert_refused(cgdml("ensemble --data toy.h5 --kmeans 5 --members 4 --n-train 0 --sigma1 1 "
                         "--sigma2 1 -o e.h5"),
                   2, "--n-train M (>= 1)");
    cr_assert(!exists("e.h5"));
}

Test(bad_input, frame_counts_that_cannot_be_met_are_refused)
{
    toy_and_model();
    cr_assert_eq(cgdml("predict --model m.h5 --data toy.h5 -o p.npy"), 0, "%s", output);
    keep("p.npy");
    keep("m.h5");
    const refusal cases[] = {
        {"train --data toy.h5 --n-train 0 --sigma 1 -o m.h5", 2, "--n-train 0: choose at least 1"},
        {"train --data toy.h5 --n-train -1 --sigma 1 -o m.h5", 2, "expected a non-negative"},
        {"train --data toy.h5 --n-train 1e3 --sigma 1 -o m.h5", 2, "expected a non-negative"},
        {"train --data toy.h5 --n-train 51 --sigma 1 -o m.h5", 1, "cannot draw 51 frames"},
        {"predict --model m.h5 --data toy.h5 --n-train 0 -o p.npy", 2, "--n-train 0"},
        {"predict --model m.h5 --data toy.h5 --n-train 51 -o p.npy", 1, "cannot draw 51 frames"},
        {"eval --model m.h5 --data toy.h5 --n-train 0", 2, "--n-train 0"},
        {"eval --model m.h5 --data toy.h5 --n-train 51", 1, "cannot draw 51 frames"},
        {"synthetic --frames 0 -o s.h5", 2, "--frames must be at least 1"},
        {"synthetic --beads 1 -o s.h5", 2, "--beads 1: expected 2 to 1000"},
        {"simulate --model m.h5 --data toy.h5 --replicas 0 --steps 10 -o s.h5", 2, "--replicas"},
        {"simulate --model m.h5 --data toy.h5 --replicas 2 --steps 0 -o s.h5", 2, "--steps"},
        {"ensemble --data toy.h5 --members 0 --n-train 5 --sigma1 1 --sigma2 1 -o s.h5", 2,
         "--members"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_refused(cgdml("%s", cases[i].args), cases[i].code, cases[i].words);
        assert_untouched("p.npy");
        cr_assert(!exists("s.h5"), "%s", cases[i].args);
    }
    assert_untouched("m.h5");
}

Test(bad_input, absurd_bins_are_refused)
{
    cr_assert_eq(cgdml("synthetic --frames 200 --spread 0.3 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("fes-reference --data toy.h5 --bins 20 -o ref.h5"), 0, "%s", output);
    keep("ref.h5");
    const char *usage[] = {"0", "1", "100001", "-5", "abc", "1e3"};
    for (size_t i = 0; i < 6; i++) {
        assert_refused(cgdml("fes-reference --data toy.h5 --bins %s -o ref.h5", usage[i]), 2,
                       "--bins");
        assert_refused(cgdml("fes --traj toy.h5 --bins %s -o f.h5", usage[i]), 2, "--bins");
    }
    /* 100000 bins per angle are 480 GB of landscapes: refused before any is made. */
    assert_refused(cgdml("fes-reference --data toy.h5 --bins 100000 --memory 1G -o ref.h5"), 1,
                   "100000 bins per angle (at most about 4564 fit)");
    assert_untouched("ref.h5");
    cr_assert(!exists("f.h5"));
}

/* ---- the memory budget ---------------------------------------------------------- */

/* 2000 frames of 6 beads: their file needs 752 kB to read, their prediction
 * more, so a budget between the two lets the read pass and stops the work. */
#define BIG_FRAMES 2000
#define BETWEEN_BUDGET 850000

/* The largest frame count predict (copies) or eval can handle with m.h5 in the
 * budget: the need is linear in frames. */
static size_t frames_that_fit(size_t budget, size_t extra)
{
    cgdml_model *m;
    cr_assert_eq(cgdml_model_load(path_of("m.h5"), &m), CGDML_OK);
    size_t fixed = cgdml_model_predict_bytes(m, 0) + extra;
    size_t per_frame = cgdml_dataset_bytes(1, 6) + cgdml_model_predict_bytes(m, 1) -
                       cgdml_model_predict_bytes(m, 0);
    cgdml_model_free(m);
    return (budget - fixed) / per_frame;
}

Test(bad_input, predict_refuses_beyond_the_memory_budget_and_names_what_fits)
{
    toy_and_model();
    cr_assert_eq(cgdml("synthetic --frames %d -o big.h5", BIG_FRAMES), 0, "%s", output);
    cr_assert_eq(cgdml("predict --model m.h5 --data big.h5 -o p.npy --energies e.npy"), 0, "%s",
                 output);
    keep("p.npy");
    keep("e.npy");
    assert_refused(cgdml("predict --model m.h5 --data big.h5 --memory %d -o p.npy --energies "
                         "e.npy",
                         BETWEEN_BUDGET),
                   1, "memory budget");
    char words[128];
    snprintf(words, sizeof words, "%d frames (at most about %zu fit): predicting needs", BIG_FRAMES,
             frames_that_fit(BETWEEN_BUDGET, 0));
    cr_assert(strstr(output, words), "expected '%s' in: %s", words, output);
    assert_untouched("p.npy");
    assert_untouched("e.npy");
    assert_refused(cgdml("predict --model m.h5 --data big.h5 --memory %d -o p2.h5", BETWEEN_BUDGET),
                   1, "at most about");
    cr_assert(!exists("p2.h5"));
    /* As many frames as fit do run. */
    cr_assert_eq(cgdml("predict --model m.h5 --data big.h5 --memory %d --n-train %zu -o p3.npy",
                       BETWEEN_BUDGET, frames_that_fit(BETWEEN_BUDGET, 0)),
                 0, "%s", output);
}

Test(bad_input, eval_refuses_beyond_the_memory_budget_and_names_what_fits)
{
    toy_and_model();
    cr_assert_eq(cgdml("synthetic --frames %d -o big.h5", BIG_FRAMES), 0, "%s", output);
    assert_refused(cgdml("eval --model m.h5 --data big.h5 --memory %d", BETWEEN_BUDGET), 1,
                   "memory budget");
    char words[128];
    snprintf(words, sizeof words, "%d frames (at most about %zu fit): evaluating needs", BIG_FRAMES,
             frames_that_fit(BETWEEN_BUDGET, 2 * 6 * sizeof(double)));
    cr_assert(strstr(output, words), "expected '%s' in: %s", words, output);
    cr_assert_eq(
        cgdml("eval --model m.h5 --data big.h5 --memory %d --n-train 1000", BETWEEN_BUDGET), 0,
        "%s", output);
    cr_assert_eq(field("frames "), 1000);
}

Test(bad_input, train_names_the_largest_training_set_that_fits)
{
    cr_assert_eq(cgdml("synthetic --frames 50 -o toy.h5"), 0, "%s", output);
    size_t fit = 0;
    while (cgdml_model_train_bytes(fit + 1, 6) <= 100000)
        fit++;
    assert_refused(cgdml("train --data toy.h5 --n-train 10 --sigma 1 --memory 100K -o m.h5"), 1,
                   "memory budget is 100 kB");
    char words[96];
    snprintf(words, sizeof words, "10 training frames (at most about %zu fit)", fit);
    cr_assert(strstr(output, words), "expected '%s' in: %s", words, output);
    cr_assert(!exists("m.h5"));
    cr_assert_eq(cgdml("train --data toy.h5 --n-train %zu --sigma 1 --memory 100K -o m.h5", fit), 0,
                 "%s", output);
}

Test(bad_input, landscapes_refuse_beyond_the_memory_budget_and_name_what_fits)
{
    cr_assert_eq(cgdml("synthetic --frames 2000 --spread 0.3 -o toy.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("fes-reference --data toy.h5 --bins 300 -o ref.h5"), 0, "%s", output);
    cr_assert_eq(cgdml("fes --traj toy.h5 --reference toy.h5 --bins 300 -o f.h5"), 0, "%s", output);
    keep("ref.h5");
    keep("f.h5");
    /* fes-reference holds 3 landscapes (all, two halves) of 16 bytes per bin: 250²
     * x 48 = 3 MB; fes with a reference one more: 216² x 64 <= 3 MB < 217² x 64. */
    assert_refused(cgdml("fes-reference --data toy.h5 --bins 300 --memory 3M -o ref.h5"), 1,
                   "300 bins per angle (at most about 250 fit)");
    cr_assert(strstr(output, "memory budget"), "%s", output);
    assert_refused(cgdml("fes --traj toy.h5 --reference toy.h5 --bins 300 --memory 3M -o f.h5"), 1,
                   "300 bins per angle (at most about 216 fit)");
    assert_untouched("ref.h5");
    assert_untouched("f.h5");
    cr_assert_eq(cgdml("fes-reference --data toy.h5 --bins 250 --memory 3M -o ref2.h5"), 0, "%s",
                 output);
}

/* Readers of whole files check their own need ("reading FILE (N frames x B
 * beads) needs ..."); there is no smaller part of a file to suggest. */
Test(bad_input, import_and_info_refuse_beyond_the_memory_budget)
{
    toy_and_model();
    cgdml_dataset *d;
    cr_assert_eq(cgdml_h5md_read(path_of("toy.h5"), NULL, &d), CGDML_OK);
    write_npy("c.npy", d->coords, d->n_frames, d->n_beads);
    write_npy("f.npy", d->forces, d->n_frames, d->n_beads);
    cgdml_dataset_free(d);
    assert_refused(cgdml("import --coords c.npy --forces f.npy --memory 1K -o d.h5"), 1,
                   "memory budget is 1 kB");
    cr_assert(strstr(output, "c.npy"), "%s", output);
    cr_assert(!exists("d.h5"));
    assert_refused(cgdml("info toy.h5 --memory 1K"), 1,
                   "reading toy.h5 (50 frames x 6 beads) needs 19.2 kB but the memory budget");
    assert_refused(cgdml("info m.h5 --memory 1K"), 1, "the model needs");
    assert_refused(cgdml("info toy.h5 --memory lots"), 2, "memory size 'lots'");
}

/* ---- the same checks at the library level --------------------------------------- */

static size_t hundred_per_item(size_t n, const void *ctx)
{
    (void)ctx;
    return 50 + 100 * n;
}

Test(bad_input, library_memory_check_names_the_largest_count_that_fits)
{
    cgdml_memory_set_budget(1000);
    cr_assert_eq(cgdml_memory_check_count(9, "items", hundred_per_item, NULL, "a stage"), CGDML_OK);
    cr_assert_eq(cgdml_memory_check_count(20, "items", hundred_per_item, NULL, "a stage"),
                 CGDML_ERR_NOMEM);
    cr_assert_str_eq(cgdml_error_message(),
                     "20 items (at most about 9 fit): a stage needs 2.05 kB but the memory "
                     "budget is 1 kB (set it with --memory)");
    cgdml_memory_set_budget(10);
    cr_assert_eq(cgdml_memory_check_count(3, "items", hundred_per_item, NULL, "a stage"),
                 CGDML_ERR_NOMEM);
    cr_assert(strstr(cgdml_error_message(), "(at most about 0 fit)"), "%s", cgdml_error_message());
    cgdml_memory_set_budget(0);
}

static cgdml_dataset *network_frames(size_t n)
{
    cgdml_harmonic_network *net;
    cgdml_dataset *d;
    cr_assert_eq(cgdml_harmonic_network_alloc(6, 20.0, 3, &net), CGDML_OK);
    cr_assert_eq(cgdml_harmonic_network_sample(net, n, 0.12, 0.0, 4, &d), CGDML_OK);
    cgdml_harmonic_network_free(net);
    return d;
}

Test(bad_input, library_training_checks_its_frames_labels_and_sigma)
{
    cgdml_dataset *d = network_frames(12);
    size_t idx[4] = {0, 1, 2, 3};
    double labels[4 * 18] = {0};
    cgdml_model *m = NULL;
    /* Values the caller did not check: training does. */
    d->coords[(2 * 6 + 4) * 3] = NAN;
    cr_assert_eq(cgdml_model_train(d, idx, 4, 1.0, 1e-10, NULL, &m), CGDML_ERR_NUMERIC);
    cr_assert_str_eq(cgdml_error_message(), "frame 2 bead 4: coordinate is nan");
    d->coords[(2 * 6 + 4) * 3] = 0.5;
    memcpy(d->coords + (1 * 6 + 5) * 3, d->coords + (1 * 6 + 0) * 3, 3 * sizeof(double));
    cr_assert_eq(cgdml_model_train(d, idx, 4, 1.0, 1e-10, NULL, &m), CGDML_ERR_NUMERIC);
    cr_assert(strstr(cgdml_error_message(), "frame 1: beads 5 and 0 are 0 Å apart"), "%s",
              cgdml_error_message());
    cgdml_dataset_free(d);
    d = network_frames(12);
    labels[17] = INFINITY;
    cr_assert_eq(cgdml_model_train_labels(d, idx, 4, labels, 1.0, 1e-10, NULL, &m),
                 CGDML_ERR_NUMERIC);
    cr_assert(strstr(cgdml_error_message(), "label of training frame 0 bead 5 is inf"), "%s",
              cgdml_error_message());
    cr_assert_eq(cgdml_model_train(d, idx, 3, 1e-200, 1e-10, NULL, &m), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "sigma = 1e-200"), "%s", cgdml_error_message());
    cr_assert_null(m);
    cgdml_dataset_free(d);
}

/* Copies are named by the check; training itself accepts them (layer-1 subsets
 * are drawn with replacement) and λ makes the copy harmless: the model predicts
 * as the one without it. */
Test(bad_input, library_duplicates_are_named_and_harmless_to_training)
{
    cgdml_dataset *d = network_frames(12);
    size_t idx[4] = {0, 1, 2, 3}, twice[4] = {0, 1, 2, 1};
    memcpy(d->coords + 3 * 18, d->coords + 1 * 18, 18 * sizeof(double));
    memcpy(d->forces + 3 * 18, d->forces + 1 * 18, 18 * sizeof(double));
    cr_assert_eq(cgdml_model_check_duplicates(d, idx, 4), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "duplicate frames 1 and 3: the same geometry"), "%s",
              cgdml_error_message());
    cr_assert_eq(cgdml_model_check_duplicates(d, twice, 4), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "frame 1 is selected twice (entries 1 and 3"), "%s",
              cgdml_error_message());
    cr_assert_eq(cgdml_model_check_duplicates(d, idx, 3), CGDML_OK, "%s", cgdml_error_message());
    cgdml_model *with, *without;
    cr_assert_eq(cgdml_model_train(d, idx, 4, 1.0, 1e-8, NULL, &with), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(cgdml_model_train(d, idx, 3, 1.0, 1e-8, NULL, &without), CGDML_OK, "%s",
                 cgdml_error_message());
    double a[18], b[18];
    cgdml_model_predict(with, 1, d->coords + 7 * 18, a, NULL);
    cgdml_model_predict(without, 1, d->coords + 7 * 18, b, NULL);
    for (size_t c = 0; c < 18; c++)
        cr_assert_float_eq(a[c], b[c], 1e-5 * (1 + fabs(b[c])), "component %zu: %g vs %g", c, a[c],
                           b[c]);
    cgdml_model_free(with);
    cgdml_model_free(without);
    cgdml_dataset_free(d);
}

Test(bad_input, library_evaluation_checks_frames_and_memory)
{
    cgdml_dataset *d = network_frames(40);
    size_t idx[5] = {0, 1, 2, 3, 4}, far[2] = {0, 40};
    cgdml_model *m;
    cr_assert_eq(cgdml_model_train(d, idx, 5, 1.0, 1e-10, NULL, &m), CGDML_OK);
    cgdml_force_errors e;
    cr_assert_eq(cgdml_model_evaluate(m, d, far, 2, &e), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "frame index 40 (entry 1) is out of range"), "%s",
              cgdml_error_message());
    d->forces[(30 * 6 + 2) * 3 + 2] = 1e9;
    cr_assert_eq(cgdml_model_evaluate(m, d, NULL, 0, &e), CGDML_ERR_NUMERIC);
    cr_assert(strstr(cgdml_error_message(), "frame 30 bead 2: force 1e+09"), "%s",
              cgdml_error_message());
    d->forces[(30 * 6 + 2) * 3 + 2] = 0.0;
    cgdml_memory_set_budget(cgdml_model_predict_bytes(m, 20) + 12 * sizeof(double));
    cr_assert_eq(cgdml_model_evaluate(m, d, NULL, 0, &e), CGDML_ERR_NOMEM);
    cr_assert(strstr(cgdml_error_message(), "40 frames (at most about 20 fit): evaluating"), "%s",
              cgdml_error_message());
    cr_assert_null(e.bead_mse);
    cgdml_memory_set_budget(0);
    cr_assert_eq(cgdml_model_evaluate(m, d, NULL, 0, &e), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_eq(e.n_frames, 40);
    cgdml_force_errors_free(&e);
    cgdml_model_free(m);
    cgdml_dataset_free(d);
}

Test(bad_input, library_landscape_checks_its_grid_against_the_budget)
{
    double phi[3] = {0.1, 0.2, -1.0}, psi[3] = {0.3, -0.2, 2.0};
    cgdml_fes *f = NULL;
    cgdml_memory_set_budget(16 * 100 * 100);
    cr_assert_eq(cgdml_fes_from_angles(phi, psi, 3, 101, &f), CGDML_ERR_NOMEM);
    cr_assert(strstr(cgdml_error_message(), "101 bins per angle (at most about 100 fit)"), "%s",
              cgdml_error_message());
    cr_assert_null(f);
    cr_assert_eq(cgdml_fes_from_angles(phi, psi, 3, 100, &f), CGDML_OK);
    cgdml_fes_free(f);
    cgdml_memory_set_budget(0);
}
