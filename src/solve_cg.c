/* solve_cg.c - the training system solved by preconditioned conjugate gradients
 * with the matrix-free product (see cgdml/solve.h and docs/method.md §7): option
 * checks, the memory estimate, the iteration, progress and checkpoints.
 *
 * Flexible PCG (Polak-Ribière β = zₖ₊₁ᵀ(rₖ₊₁ - rₖ) / rₖᵀzₖ, which costs nothing
 * extra since rₖ₊₁ - rₖ = -α q): the single-precision preconditioner is linear
 * only up to rounding, and the flexible β keeps CG's convergence then.  Every
 * reduction is summed in fixed chunks in a fixed order, so an iteration gives the
 * same bits whatever the thread count and a resumed solve continues exactly.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgdml/descriptor.h"
#include "cgdml/kernel.h"
#include "cgdml/clock.h"
#include "cgdml/memory.h"
#include "solve_cg_private.h"

/* Entries per partial sum of a dot product: its order fixed by the vector length
 * alone, which makes the sum independent of the thread count. */
#define DOT_CHUNK 8192
/* Seconds between progress reports. */
#define PROGRESS_INTERVAL_S 1.0
/* Dense landmark matrices are indexed by LAPACK in 32-bit integers: their order r
 * must keep r² below 2³¹. */
#define CG_MAX_LANDMARK_ORDER 46340

void cgdml_cg_options_init(cgdml_cg_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->tolerance = CGDML_CG_DEFAULT_TOLERANCE;
    opt->max_iterations = CGDML_CG_DEFAULT_MAX_ITERATIONS;
    opt->preconditioner = CGDML_CG_PRECONDITIONER_NYSTROM;
    opt->layout = CGDML_CG_LAYOUT_STRATIFIED;
}

static cgdml_status check_sizes(const cgdml_cg_options *o, size_t n_frames, size_t n_beads)
{
    size_t n3 = 3 * n_beads;
    if (n_frames == 0 || n_beads < 2)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "CG: %zu frames of %zu beads; need at least 1 frame and 2 beads",
                               n_frames, n_beads);
    if (o->block_frames > CGDML_SOLVE_MAX_ORDER / n3)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "CG: blocks of %zu frames make blocks of order %zu; the largest "
                               "RFP storage allows is %d (%zu frames)",
                               o->block_frames, n3 * o->block_frames, CGDML_SOLVE_MAX_ORDER,
                               CGDML_SOLVE_MAX_ORDER / n3);
    if (o->landmarks > n_frames || o->landmarks > CG_MAX_LANDMARK_ORDER / n3)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "CG: %zu landmark frames; expected at most the %zu frames and at "
                               "most %zu (dense matrices of order %d)",
                               o->landmarks, n_frames, (size_t)CG_MAX_LANDMARK_ORDER / n3,
                               CG_MAX_LANDMARK_ORDER);
    return CGDML_OK;
}

cgdml_status cgdml_cg_options_check(const cgdml_cg_options *o, size_t n_frames, size_t n_beads)
{
    if (!(o->tolerance >= CGDML_CG_MIN_TOLERANCE && o->tolerance < 1.0))
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "CG: tolerance %g; expected a relative residual from %g to below 1",
                               o->tolerance, CGDML_CG_MIN_TOLERANCE);
    if (o->max_iterations == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "CG: max_iterations 0; expected at least 1");
    if ((unsigned)o->preconditioner > CGDML_CG_PRECONDITIONER_NONE)
        return cgdml_error_set(CGDML_ERR_INVALID, "CG: unknown preconditioner %d",
                               (int)o->preconditioner);
    if ((unsigned)o->layout > CGDML_CG_LAYOUT_CONTIGUOUS)
        return cgdml_error_set(CGDML_ERR_INVALID, "CG: unknown block layout %d", (int)o->layout);
    if (!(o->checkpoint_interval_s >= 0) || !isfinite(o->checkpoint_interval_s))
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "CG: checkpoint interval %g s; expected > 0 (0: default %g)",
                               o->checkpoint_interval_s, CGDML_CG_CHECKPOINT_INTERVAL_S);
    return check_sizes(o, n_frames, n_beads);
}

/* ---- memory ----------------------------------------------------------------------- */

/* The five vectors x, r, p, q, z, the dot products' partial sums, and a product's
 * temporaries (J v in descriptor space and the kernel-sum table, 8 lanes). */
static size_t iteration_bytes(size_t n_frames, size_t n_beads)
{
    size_t d = cgdml_descriptor_size(n_beads), n = 3 * n_beads * n_frames;
    size_t lanes = 8, padded = (n_frames + lanes - 1) / lanes * lanes;
    return 5 * n * sizeof(double) + (n / DOT_CHUNK + 1) * sizeof(double) +
           n_frames * d * sizeof(double) + 2 * padded * d * sizeof(double);
}

/* The preconditioner of `o` with `size` frames per block or landmarks (whichever
 * it uses; at most M). */
static cg_setup resolve_setup(const cgdml_cg_options *o, size_t n_frames, size_t size)
{
    cg_setup set = {.kind = o->preconditioner};
    size = size < n_frames ? size : n_frames;
    if (set.kind == CGDML_CG_PRECONDITIONER_BLOCKS) {
        set.layout = o->layout;
        set.block_frames = size;
    }
    if (set.kind == CGDML_CG_PRECONDITIONER_NYSTROM)
        set.landmarks = size;
    return set;
}

/* The size option of `o` for its preconditioner (0: automatic). */
static size_t size_option(const cgdml_cg_options *o)
{
    return o->preconditioner == CGDML_CG_PRECONDITIONER_BLOCKS    ? o->block_frames
           : o->preconditioner == CGDML_CG_PRECONDITIONER_NYSTROM ? o->landmarks
                                                                  : 0;
}

static size_t setup_bytes(size_t n_frames, size_t n_beads, const cg_setup *set)
{
    size_t p = cg_precond_bytes(n_frames, n_beads, set), it = iteration_bytes(n_frames, n_beads);
    return p > SIZE_MAX - it ? SIZE_MAX : p + it;
}

/* The largest automatic size: CGDML_CG_MAX_AUTO_BLOCK_FRAMES per block, or
 * CGDML_CG_LANDMARKS_PER_ROOT_FRAME √M landmarks, within the storage limits and M. */
static size_t auto_limit(const cgdml_cg_options *o, size_t n_frames, size_t n_beads)
{
    size_t n3 = 3 * n_beads, limit;
    if (o->preconditioner == CGDML_CG_PRECONDITIONER_BLOCKS) {
        limit = CGDML_CG_MAX_AUTO_BLOCK_FRAMES;
        if (limit > CGDML_SOLVE_MAX_ORDER / n3)
            limit = CGDML_SOLVE_MAX_ORDER / n3;
    } else {
        limit = (size_t)ceil(CGDML_CG_LANDMARKS_PER_ROOT_FRAME * sqrt((double)n_frames));
        if (limit > CG_MAX_LANDMARK_ORDER / n3)
            limit = CG_MAX_LANDMARK_ORDER / n3;
    }
    return limit < n_frames ? limit : n_frames;
}

/* The largest size up to the automatic limit whose solve fits
 * CGDML_CG_AUTO_BUDGET_FRACTION of the budget: the bytes grow with the size, so
 * bisect (at least 1). */
static size_t auto_size(const cgdml_cg_options *o, size_t n_frames, size_t n_beads)
{
    size_t budget = (size_t)(CGDML_CG_AUTO_BUDGET_FRACTION * (double)cgdml_memory_budget());
    size_t lo = 1, hi = auto_limit(o, n_frames, n_beads);
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        cg_setup set = resolve_setup(o, n_frames, mid);
        if (setup_bytes(n_frames, n_beads, &set) <= budget)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

void cgdml_cg_options_resolve(const cgdml_cg_options *opt, size_t n_frames, size_t n_beads,
                              cgdml_cg_options *out)
{
    cgdml_cg_options defaults;
    if (!opt) {
        cgdml_cg_options_init(&defaults);
        opt = &defaults;
    }
    *out = *opt;
    size_t size = size_option(opt);
    size = size ? size : auto_size(opt, n_frames, n_beads);
    cg_setup set = resolve_setup(opt, n_frames, size);
    out->block_frames = set.block_frames;
    out->landmarks = set.landmarks;
}

size_t cgdml_solve_cg_bytes(size_t n_frames, size_t n_beads, const cgdml_cg_options *opt)
{
    cgdml_cg_options r;
    cgdml_cg_options_resolve(opt, n_frames, n_beads, &r);
    cg_setup set = resolve_setup(&r, n_frames, size_option(&r));
    return setup_bytes(n_frames, n_beads, &set);
}

/* ---- vector arithmetic --------------------------------------------------------------- */

/* aᵀb, summed in chunks of DOT_CHUNK in a fixed order; partial[n / DOT_CHUNK + 1]. */
static double dot(const double *a, const double *b, size_t n, double *partial)
{
    size_t chunks = (n + DOT_CHUNK - 1) / DOT_CHUNK;
#pragma omp parallel for schedule(static) if (n >= CG_PARALLEL_MIN_ENTRIES)
    for (size_t c = 0; c < chunks; c++) {
        size_t end = (c + 1) * DOT_CHUNK < n ? (c + 1) * DOT_CHUNK : n;
        double s = 0.0;
        for (size_t i = c * DOT_CHUNK; i < end; i++)
            s += a[i] * b[i];
        partial[c] = s;
    }
    double s = 0.0;
    for (size_t c = 0; c < chunks; c++)
        s += partial[c];
    return s;
}

/* y += alpha x */
static void axpy(double alpha, const double *x, double *y, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= CG_PARALLEL_MIN_ENTRIES)
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

/* p = z + beta p */
static void xpby(const double *z, double beta, double *p, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= CG_PARALLEL_MIN_ENTRIES)
    for (size_t i = 0; i < n; i++)
        p[i] = z[i] + beta * p[i];
}

/* ---- the solve ----------------------------------------------------------------------- */

typedef struct {
    const cg_system *sys;
    const cgdml_cg_options *opt;
    const double *b;
    double b_norm;
    cg_precond *precond;
    cg_identity id;
    cg_state st;
    double *q, *z, *partial;
    cgdml_cg_stats *stats;
} cg_run;

static cgdml_status product(cg_run *run, const double *v, double *out)
{
    const cg_system *s = run->sys;
    double t0 = cgdml_clock_wall_seconds();
    cgdml_status st =
        cgdml_kernel_product(s->n_frames, s->n_beads, s->D, s->g, s->sigma, s->lambda, v, out);
    run->stats->product_s += cgdml_clock_wall_seconds() - t0;
    return st;
}

static cgdml_status precondition(cg_run *run, const double *r, double *z)
{
    double t0 = cgdml_clock_wall_seconds();
    cgdml_status st = cg_precond_apply(run->precond, r, z);
    run->stats->apply_s += cgdml_clock_wall_seconds() - t0;
    return st;
}

/* The state of a fresh solve: x = 0, r = b, p = z = P⁻¹ b. */
static cgdml_status start_fresh(cg_run *run)
{
    size_t n = run->sys->n;
    cg_state *st = &run->st;
    memset(st->x, 0, n * sizeof(double));
    memcpy(st->r, run->b, n * sizeof(double));
    st->iteration = 0;
    st->r_norm = run->b_norm;
    cgdml_status s = precondition(run, st->r, st->p);
    if (!s)
        st->rz = dot(st->r, st->p, n, run->partial);
    return s;
}

static cgdml_status breakdown(size_t k, const char *what, double value)
{
    return cgdml_error_set(CGDML_ERR_NUMERIC,
                           "conjugate gradients broke down at iteration %zu (%s = %g): the "
                           "system or the preconditioner is not positive definite in double "
                           "precision; increase lambda",
                           k + 1, what, value);
}

/* One iteration: x, r, p and rz of iteration k to those of k + 1. */
static cgdml_status iterate(cg_run *run)
{
    size_t n = run->sys->n;
    cg_state *st = &run->st;
    cgdml_status s = product(run, st->p, run->q);
    if (s)
        return s;
    double pq = dot(st->p, run->q, n, run->partial);
    if (!(pq > 0) || !isfinite(pq))
        return breakdown(st->iteration, "p'Ap", pq);
    double alpha = st->rz / pq;
    axpy(alpha, st->p, st->x, n);
    axpy(-alpha, run->q, st->r, n);
    if ((s = precondition(run, st->r, run->z)))
        return s;
    double rz = dot(st->r, run->z, n, run->partial);
    if (!(rz > 0) || !isfinite(rz))
        return breakdown(st->iteration, "r'z", rz);
    double beta = -alpha * dot(run->z, run->q, n, run->partial) / st->rz;
    xpby(run->z, beta, st->p, n);
    st->rz = rz;
    st->r_norm = sqrt(dot(st->r, st->r, n, run->partial));
    st->iteration++;
    return CGDML_OK;
}

static void report(cg_run *run, double t0, double *last, int force)
{
    const cgdml_cg_options *o = run->opt;
    double now = cgdml_clock_wall_seconds();
    if (!o->progress || (!force && now - *last < PROGRESS_INTERVAL_S))
        return;
    *last = now;
    cgdml_cg_progress p = {.iteration = run->st.iteration,
                           .max_iterations = o->max_iterations,
                           .relative_residual = run->st.r_norm / run->b_norm,
                           .tolerance = o->tolerance,
                           .seconds = now - t0};
    o->progress(o->progress_ctx, &p);
}

static cgdml_status save(cg_run *run)
{
    cgdml_status s = cg_checkpoint_save(run->opt->checkpoint, &run->id, &run->st, run->sys->n);
    return s ? cgdml_error_wrap(s, "CG: checkpoint after iteration %zu", run->st.iteration) : s;
}

/* Iterate until the tolerance or max_iterations, checkpointing on the way. */
static cgdml_status run_iterations(cg_run *run)
{
    const cgdml_cg_options *o = run->opt;
    double interval =
        o->checkpoint_interval_s > 0 ? o->checkpoint_interval_s : CGDML_CG_CHECKPOINT_INTERVAL_S;
    double t0 = cgdml_clock_wall_seconds(), last = 0.0, last_save = t0;
    cgdml_status s = CGDML_OK;
    report(run, t0, &last, 1);
    while (!s && run->st.r_norm > o->tolerance * run->b_norm &&
           run->st.iteration < o->max_iterations) {
        s = iterate(run);
        int last_one =
            run->st.r_norm <= o->tolerance * run->b_norm || run->st.iteration == o->max_iterations;
        if (!s)
            report(run, t0, &last, last_one);
        if (!s && o->checkpoint && cgdml_clock_wall_seconds() - last_save >= interval) {
            s = save(run);
            last_save = cgdml_clock_wall_seconds();
        }
    }
    run->stats->iterate_s = cgdml_clock_wall_seconds() - t0;
    run->stats->iterations = run->st.iteration;
    run->stats->converged = run->st.r_norm <= o->tolerance * run->b_norm;
    if (!s && !run->stats->converged && o->checkpoint)
        s = save(run);
    return s;
}

/* ||b - A x|| / ||b|| from x itself (the recurrence's r drifts from it by rounding). */
static cgdml_status true_residual(cg_run *run)
{
    size_t n = run->sys->n;
    cgdml_status s = product(run, run->st.x, run->q);
    if (s)
        return s;
#pragma omp parallel for schedule(static) if (n >= CG_PARALLEL_MIN_ENTRIES)
    for (size_t i = 0; i < n; i++)
        run->z[i] = run->b[i] - run->q[i];
    run->stats->relative_residual = sqrt(dot(run->z, run->z, n, run->partial)) / run->b_norm;
    return CGDML_OK;
}

static int checkpoint_present(const cgdml_cg_options *o)
{
    struct stat info;
    return o->checkpoint && o->resume && stat(o->checkpoint, &info) == 0;
}

/* The identity of this solve; the preconditioner's size from the options, the
 * checkpoint (when resuming with an automatic size) or the budget. */
static cgdml_status identify(const cg_system *sys, const cgdml_cg_options *o, const double *b,
                             cg_identity *id)
{
    size_t n = sys->n, m = sys->n_frames;
    *id = (cg_identity){
        .n_frames = m, .n_beads = sys->n_beads, .sigma = sys->sigma, .lambda = sys->lambda};
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64-bit offset basis */
    h = cg_hash_words(h, sys->D, m * sys->d);
    h = cg_hash_words(h, sys->g, m * sys->d * 3);
    id->system_hash = cg_hash_words(h, b, n);
    id->keys_hash = o->keys ? cg_hash_words(h, o->keys, m) : 0;
    id->set = resolve_setup(o, m, size_option(o));
    if (!checkpoint_present(o)) {
        cgdml_cg_options r;
        cgdml_cg_options_resolve(o, m, sys->n_beads, &r);
        id->set = resolve_setup(&r, m, size_option(&r));
        return CGDML_OK;
    }
    cg_identity found; /* an automatic size (0) is the checkpoint's */
    cgdml_status s = cg_checkpoint_load(o->checkpoint, id, &found, NULL, n);
    if (!s)
        id->set = found.set;
    return s;
}

static cgdml_status allocate(cg_run *run)
{
    size_t n = run->sys->n;
    double **v[] = {&run->st.x, &run->st.r, &run->st.p, &run->q, &run->z};
    for (size_t k = 0; k < 5; k++) /* x zeroed: the caller's α is defined on any failure */
        if (!(*v[k] = k ? malloc(n * sizeof(double)) : calloc(n, sizeof(double))))
            return cgdml_error_set(CGDML_ERR_NOMEM, "CG: cannot allocate vectors of order %zu", n);
    run->partial = malloc((n / DOT_CHUNK + 1) * sizeof(double));
    return run->partial ? CGDML_OK
                        : cgdml_error_set(CGDML_ERR_NOMEM, "CG: cannot allocate partial sums");
}

static void release(cg_run *run)
{
    free(run->st.x);
    free(run->st.r);
    free(run->st.p);
    free(run->q);
    free(run->z);
    free(run->partial);
    cg_precond_free(run->precond);
}

/* Preconditioner, then the state (fresh or from the checkpoint), then the loop. */
static cgdml_status solve(cg_run *run, const size_t *keys)
{
    const cgdml_cg_options *o = run->opt;
    double t0 = cgdml_clock_wall_seconds();
    cgdml_status s = cg_precond_create(run->sys, &run->id.set, keys, &run->precond);
    run->stats->setup_s = cgdml_clock_wall_seconds() - t0;
    if (!s)
        cg_precond_describe(run->precond, run->stats);
    if (!s && checkpoint_present(o)) {
        cg_identity found;
        s = cg_checkpoint_load(o->checkpoint, &run->id, &found, &run->st, run->sys->n);
        run->stats->resumed_from = run->st.iteration;
    } else if (!s) {
        s = start_fresh(run);
    }
    if (!s)
        s = run_iterations(run);
    if (!s)
        s = true_residual(run);
    if (!s && !run->stats->converged)
        s = cgdml_error_set(CGDML_ERR_NUMERIC,
                            "conjugate gradients reached a relative residual of %.3g after %zu "
                            "iterations, above the tolerance %g: allow more iterations%s",
                            run->st.r_norm / run->b_norm, run->st.iteration, o->tolerance,
                            o->checkpoint ? " (resume continues from the checkpoint)" : "");
    return s;
}

cgdml_status cgdml_solve_cg(size_t n_frames, size_t n_beads, const double *D, const double *g,
                            double sigma, double lambda, const double *F, double *alpha,
                            const cgdml_cg_options *opt, cgdml_cg_stats *stats)
{
    cgdml_cg_options defaults;
    cgdml_cg_stats local;
    if (!opt) {
        cgdml_cg_options_init(&defaults);
        opt = &defaults;
    }
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    cgdml_status s = cgdml_cg_options_check(opt, n_frames, n_beads);
    if (s)
        return s;
    size_t n3 = 3 * n_beads;
    cg_system sys = {.n_frames = n_frames,
                     .n_beads = n_beads,
                     .n3 = n3,
                     .d = cgdml_descriptor_size(n_beads),
                     .n = n3 * n_frames,
                     .D = D,
                     .g = g,
                     .sigma = sigma,
                     .lambda = lambda};
    cg_run run = {.sys = &sys, .opt = opt, .b = F, .stats = stats};
    s = identify(&sys, opt, F, &run.id);
    if (s)
        return s;
    stats->bytes = setup_bytes(n_frames, n_beads, &run.id.set);
    s = cgdml_memory_check(stats->bytes, "the conjugate-gradient solve");
    if (s)
        return s;
    s = allocate(&run);
    if (!s) {
        run.b_norm = sqrt(dot(F, F, sys.n, run.partial));
        if (run.b_norm == 0)
            s = cgdml_error_set(CGDML_ERR_INVALID, "CG: the labels are all zero; nothing to fit");
    }
    if (!s)
        s = solve(&run, opt->keys);
    if (run.st.x)
        memcpy(alpha, run.st.x, sys.n * sizeof(double));
    release(&run);
    return s;
}
