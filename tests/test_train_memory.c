/* test_train_memory.c - the memory a training predicts (cgdml_model_train_peak_bytes
 * for each precision, cgdml_model_train_cg_bytes) against the peak resident
 * memory it really adds, measured on 500 shipped frames (order 9000), where the
 * solves' arrays are a hundred MB or more.  Each test is its own process (Criterion),
 * so each peak is its own.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "cgdml/model.h"
#include "cgdml/memory.h"
#include "shipped_data.h"

enum { M = 500 };

/* A prediction may miss by this fraction of itself plus a fixed allowance for
 * what no estimate counts: the allocator's slack, thread stacks and buffers of
 * the BLAS and OpenMP runtimes first used by the solve. */
#define TOLERANCE_FRACTION 0.05
#define TOLERANCE_BYTES (24.0 * 1024 * 1024)

static size_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (size_t)kb * 1024;
}

/* The shipped data; the test is skipped (before anything is allocated) under
 * AddressSanitizer, whose shadow memory and quarantine are part of the peak. */
static cgdml_dataset *dataset(void)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("AddressSanitizer's shadow memory and quarantine are part of the peak");
#endif
    return shipped_dataset();
}

/* Train on a few frames first (the runtimes' buffers come into being), then on M
 * frames; returns the peak resident memory the second training added. */
static double measured_peak(const cgdml_dataset *d, const cgdml_cg_options *cg,
                            cgdml_precision precision, cgdml_train_stats *st)
{
    size_t idx[M];
    for (size_t t = 0; t < M; t++)
        idx[t] = 157 * t;
    cgdml_model *m;
    cr_assert_eq(
        cgdml_model_train_precision(d, idx, 20, NULL, 1.0, 1e-3, CGDML_PRECISION_MIXED, NULL, &m),
        CGDML_OK, "%s", cgdml_error_message());
    cgdml_model_free(m);
    size_t base = resident_bytes();
    if (cgdml_memory_peak_reset() != 0)
        cr_skip_test("this kernel does not let a process reset its peak (clear_refs)");
    cgdml_status s =
        cg ? cgdml_model_train_cg(d, idx, M, NULL, 1.0, 1e-3, cg, st, &m)
           : cgdml_model_train_precision(d, idx, M, NULL, 1.0, 1e-3, precision, st, &m);
    cr_assert_eq(s, CGDML_OK, "%s", cgdml_error_message());
    double peak = (double)cgdml_memory_peak_rss() - (double)base;
    cgdml_model_free(m);
    return peak;
}

static void assert_predicted(double measured, size_t predicted, const char *what)
{
    double allowed = TOLERANCE_FRACTION * (double)predicted + TOLERANCE_BYTES;
    cr_log_info("%s: predicted %.1f MB, measured %.1f MB", what, (double)predicted / 1e6,
                measured / 1e6);
    cr_assert(measured <= (double)predicted + allowed && measured >= (double)predicted - allowed,
              "%s: predicted %.1f MB, measured %.1f MB (allowed +-%.1f MB)", what,
              (double)predicted / 1e6, measured / 1e6, allowed / 1e6);
}

Test(train_memory, double_precision_peak_is_predicted, .timeout = 300)
{
    cgdml_dataset *d = dataset();
    cgdml_train_stats st;
    double peak = measured_peak(d, NULL, CGDML_PRECISION_DOUBLE, &st);
    cr_assert_eq(st.peak_bytes,
                 cgdml_model_train_peak_bytes(M, 6, 1.0, 1e-3, CGDML_PRECISION_DOUBLE));
    assert_predicted(peak, st.peak_bytes, "double");
    cgdml_dataset_free(d);
}

/* Half the double solve's: the old estimate (the double matrix) was 2x too high. */
Test(train_memory, mixed_precision_peak_is_predicted, .timeout = 300)
{
    cgdml_dataset *d = dataset();
    cgdml_train_stats st;
    double peak = measured_peak(d, NULL, CGDML_PRECISION_MIXED, &st);
    cr_assert_eq(st.precision, CGDML_PRECISION_MIXED, "%s", st.fallback);
    cr_assert_lt(st.peak_bytes, 0.55 * cgdml_model_train_bytes(M, 6));
    assert_predicted(peak, st.peak_bytes, "mixed");
    cgdml_dataset_free(d);
}

Test(train_memory, cg_peak_is_predicted, .timeout = 300)
{
    cgdml_dataset *d = dataset();
    const struct {
        cgdml_cg_preconditioner pre;
        size_t size;
    } cases[] = {{CGDML_CG_PRECONDITIONER_NYSTROM, 150}, {CGDML_CG_PRECONDITIONER_BLOCKS, 250}};
    for (size_t c = 0; c < 2; c++) {
        cgdml_cg_options o;
        cgdml_cg_options_init(&o);
        o.preconditioner = cases[c].pre;
        o.landmarks = c == 0 ? cases[c].size : 0;
        o.block_frames = c == 1 ? cases[c].size : 0;
        o.tolerance = 0.5; /* the peak is reached at the first iteration */
        cgdml_train_stats st;
        double peak = measured_peak(d, &o, 0, &st);
        cr_assert_eq(st.peak_bytes, cgdml_model_train_cg_bytes(M, 6, &o));
        assert_predicted(peak, st.peak_bytes, c == 0 ? "CG, Nystrom" : "CG, blocks");
    }
    cgdml_dataset_free(d);
}
