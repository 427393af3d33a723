/* model.c - training a GDML model by Cholesky, predicting forces and energies, and
 * measuring force errors (see cgdml/model.h).  File I/O is in model_io.c.
 *
 * Training: descriptors -> kernel assembly (RFP) -> dpftrf/dpftrs -> γ_j = J_j α_j.
 * Keeping γ instead of α makes prediction O(M·d) per frame with no Jacobian of
 * the training frames, which is what makes large ensembles cheap to evaluate.
 */
#include "cgdml/model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/descriptor.h"
#include "cgdml/kernel.h"
#include "cgdml/solve.h"
#include "cgdml/clock.h"
#include "cgdml/memory.h"

const char *cgdml_model_kind_name(cgdml_model_kind kind)
{
    switch (kind) {
    case CGDML_MODEL_SINGLE: return "single";
    case CGDML_MODEL_AVERAGE: return "average";
    case CGDML_MODEL_DISTILLED: return "distilled";
    }
    return "unknown";
}

cgdml_status cgdml_model_alloc(size_t n_train, size_t n_beads, cgdml_model **out)
{
    *out = NULL;
    if (n_train == 0 || n_beads < 2)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "model of %zu training frames x %zu beads: need at least 1 frame "
                               "and 2 beads",
                               n_train, n_beads);
    cgdml_model *m = calloc(1, sizeof *m);
    if (!m)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a model");
    m->n_beads = n_beads;
    m->n_desc = cgdml_descriptor_size(n_beads);
    m->n_train = n_train;
    m->train_desc = calloc(n_train * m->n_desc, sizeof(double));
    m->gamma = calloc(n_train * m->n_desc, sizeof(double));
    m->train_indices = calloc(n_train, sizeof(size_t));
    m->bead_names = calloc(n_beads, sizeof *m->bead_names);
    if (!m->train_desc || !m->gamma || !m->train_indices || !m->bead_names) {
        cgdml_model_free(m);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a model of %zu frames", n_train);
    }
    *out = m;
    return CGDML_OK;
}

void cgdml_model_free(cgdml_model *model)
{
    if (!model)
        return;
    free(model->train_desc);
    free(model->gamma);
    free(model->train_indices);
    free(model->bead_names);
    cgdml_prior_free(model->prior);
    free(model->cv_table);
    cgdml_kernel_sum_free(model->sum);
    free(model);
}

/* The precision a Cholesky training in `precision` starts with. */
static cgdml_precision resolve_precision(cgdml_precision precision, double sigma, double lambda)
{
    if (precision != CGDML_PRECISION_AUTO)
        return precision;
    return lambda >= CGDML_MIXED_MIN_RELATIVE_LAMBDA * 5.0 / (3.0 * sigma * sigma)
               ? CGDML_PRECISION_MIXED
               : CGDML_PRECISION_DOUBLE;
}

/* What every training holds at its peak besides the solve: Jacobians, labels, and
 * the model's descriptors, coefficients, indices and names. */
static size_t training_arrays_bytes(size_t n_train, size_t n_beads)
{
    size_t n = 3 * n_beads * n_train, d = cgdml_descriptor_size(n_beads);
    return n_train * d * 3 * sizeof(double) /* Jacobians */
           + n * sizeof(double)              /* labels, then α */
           + n_train * d * 2 * sizeof(double) + n_train * sizeof(size_t) /* the model */
           + n_beads * CGDML_NAME_MAX;
}

/* The matrix-free product's temporaries: J v in descriptor space and the kernel-sum
 * table (descriptors and coefficients in groups of up to 8 lanes). */
static size_t product_bytes(size_t n_train, size_t n_beads)
{
    size_t d = cgdml_descriptor_size(n_beads), padded = (n_train + 7) / 8 * 8;
    return n_train * d * sizeof(double) + 2 * padded * d * sizeof(double);
}

size_t cgdml_model_train_peak_bytes(size_t n_train, size_t n_beads, double sigma, double lambda,
                                    cgdml_precision precision)
{
    size_t n = 3 * n_beads * n_train;
    if (n_train && n / n_train != 3 * n_beads)
        return SIZE_MAX;
    size_t arrays = training_arrays_bytes(n_train, n_beads), rfp = cgdml_kernel_rfp_size(n);
    if (n > 1 && rfp / n != (n + 1) / 2 && rfp / (n + 1) != n / 2)
        return SIZE_MAX;
    if (resolve_precision(precision, sigma, lambda) == CGDML_PRECISION_DOUBLE)
        return rfp > (SIZE_MAX - arrays) / sizeof(double) ? SIZE_MAX : arrays + rfp * sizeof(double);
    size_t refine = n * sizeof(double) * 3 + n * sizeof(float) /* x, r, (K + λI)x; correction */
                    + product_bytes(n_train, n_beads);
    return rfp > (SIZE_MAX - arrays - refine) / sizeof(float) ? SIZE_MAX
                                                              : arrays + refine + rfp * sizeof(float);
}

size_t cgdml_model_train_bytes(size_t n_train, size_t n_beads)
{
    return cgdml_model_train_peak_bytes(n_train, n_beads, 1.0, 0.0, CGDML_PRECISION_DOUBLE);
}

size_t cgdml_model_train_cg_bytes(size_t n_train, size_t n_beads, const cgdml_cg_options *cg)
{
    size_t solve = cgdml_solve_cg_bytes(n_train, n_beads, cg);
    size_t arrays = training_arrays_bytes(n_train, n_beads) + 3 * n_beads * n_train * sizeof(double);
    return solve > SIZE_MAX - arrays ? SIZE_MAX : solve + arrays;
}

/* What check_train_arguments measures against the budget. */
typedef struct {
    size_t n_beads;
    double sigma, lambda;
    cgdml_precision precision;
    const cgdml_cg_options *cg; /* the CG solve's options; NULL: Cholesky */
    cgdml_solve_fn solve;       /* the caller's solve; NULL: ours */
    void *solve_ctx;
} train_plan;

static size_t train_need(size_t n_train, const void *plan)
{
    const train_plan *p = plan;
    if (p->solve) /* the caller's solve checks its own need */
        return training_arrays_bytes(n_train, p->n_beads);
    return p->cg ? cgdml_model_train_cg_bytes(n_train, p->n_beads, p->cg)
                 : cgdml_model_train_peak_bytes(n_train, p->n_beads, p->sigma, p->lambda,
                                                p->precision);
}

/* Labels (layer 1: prior-subtracted forces; layer 2: averaged predictions) must be
 * forces a dataset could hold. */
static cgdml_status check_labels(const double *labels, const size_t *idx, size_t n, size_t n3)
{
    for (size_t a = 0; labels && a < n * n3; a++)
        if (!isfinite(labels[a]) || fabs(labels[a]) > CGDML_MAX_FORCE)
            return cgdml_error_set(CGDML_ERR_NUMERIC,
                                   "label of training frame %zu bead %zu is %g; expected a "
                                   "finite force within ±%g kcal/mol/Å",
                                   idx[a / n3], a % n3 / 3, labels[a], CGDML_MAX_FORCE);
    return CGDML_OK;
}

static cgdml_status check_train_arguments(const cgdml_dataset *data, const size_t *idx, size_t n,
                                          const double *labels, const train_plan *plan)
{
    double sigma = plan->sigma, lambda = plan->lambda;
    if (!(sigma > 0) || !isfinite(sigma))
        return cgdml_error_set(CGDML_ERR_INVALID, "sigma = %g: must be a positive number", sigma);
    if (sigma < CGDML_SIGMA_MIN || sigma > CGDML_SIGMA_MAX)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "sigma = %g: expected %g to %g (1/Å); inverse distances lie in "
                               "(0, %g], so a kernel this narrow isolates every frame and one this "
                               "wide is flat",
                               sigma, CGDML_SIGMA_MIN, CGDML_SIGMA_MAX,
                               1.0 / CGDML_MIN_BEAD_DISTANCE);
    if (!(lambda >= 0) || !isfinite(lambda))
        return cgdml_error_set(CGDML_ERR_INVALID, "lambda = %g: must be a number >= 0", lambda);
    if (n == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "no training frames selected");
    if (data->n_beads < 2)
        return cgdml_error_set(CGDML_ERR_INVALID, "the dataset has %zu bead(s); need at least 2",
                               data->n_beads);
    size_t n3 = 3 * data->n_beads;
    cgdml_status s = cgdml_dataset_check_frames(data, idx, n); /* range, values, distances */
    if (!s)
        s = check_labels(labels, idx, n, n3);
    if (s)
        return s;
    if (!plan->cg && !plan->solve && n3 * n > CGDML_SOLVE_MAX_ORDER)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%zu training frames of %zu beads make a system of order %zu; the "
                               "largest the Cholesky solver handles is %d (%zu frames): use the "
                               "CG solver beyond",
                               n, data->n_beads, n3 * n, CGDML_SOLVE_MAX_ORDER,
                               CGDML_SOLVE_MAX_ORDER / n3);
    return cgdml_memory_check_count(n, "training frames", train_need, plan, "training");
}

/* Descriptors and sparse Jacobians of the training frames. */
static void compute_descriptors(const cgdml_dataset *data, const size_t *idx, size_t n,
                                double *D, double *g)
{
    size_t nb = data->n_beads, d = cgdml_descriptor_size(nb);
#pragma omp parallel for schedule(static)
    for (size_t t = 0; t < n; t++)
        cgdml_descriptor_jacobian(nb, data->coords + idx[t] * 3 * nb, D + t * d, g + t * d * 3);
}

static cgdml_status factor_and_solve(size_t n_order, double *arf, double *rhs, double sigma,
                                     double lambda, cgdml_train_stats *st)
{
    double t0 = cgdml_clock_wall_seconds();
    cgdml_status s = cgdml_solve_factor(n_order, arf);
    st->factor_s = cgdml_clock_wall_seconds() - t0;
    if (s == CGDML_ERR_NUMERIC && lambda == 0)
        return cgdml_error_wrap(s,
                                "sigma = %g, lambda = 0: without a ridge the kernel matrix on "
                                "Cartesian forces is singular (each frame's rigid rotations and "
                                "translations are its null space); give --lambda > 0, e.g. "
                                "--lambda 1e-10",
                                sigma);
    if (s == CGDML_ERR_NUMERIC) {
        double try_lambda = 10 * lambda;
        return cgdml_error_wrap(s,
                                "sigma = %g, lambda = %g: increase lambda (try --lambda %g), or "
                                "look for near-duplicate frames in the training set; a much "
                                "larger sigma also makes the kernel nearly singular",
                                sigma, lambda, try_lambda);
    }
    if (s)
        return s;
    t0 = cgdml_clock_wall_seconds();
    s = cgdml_solve_apply(n_order, arf, rhs, 1);
    st->solve_s = cgdml_clock_wall_seconds() - t0;
    return s;
}

/* Assemble K + λI on the model's descriptors, factorise it and solve for α in
 * double precision: rhs holds the labels on entry, α on return. */
static cgdml_status solve_double(const cgdml_model *m, const double *g, double *rhs,
                                 cgdml_train_stats *st)
{
    size_t order = 3 * m->n_beads * m->n_train;
    st->matrix_bytes = cgdml_kernel_rfp_size(order) * sizeof(double);
    double *arf = cgdml_memory_alloc_large(st->matrix_bytes);
    if (!arf)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the %.2f GB kernel matrix",
                               (double)st->matrix_bytes / 1e9);
    double t0 = cgdml_clock_wall_seconds();
    cgdml_status s =
        cgdml_kernel_assemble(m->n_train, m->n_beads, m->train_desc, g, m->sigma, m->lambda, arf);
    st->assembly_s = cgdml_clock_wall_seconds() - t0;
    if (!s)
        s = factor_and_solve(order, arf, rhs, m->sigma, m->lambda, st);
    free(arf);
    return s;
}

static double max_norm(const double *a, size_t n)
{
    double v = 0.0;
    for (size_t i = 0; i < n; i++)
        v = fmax(v, fabs(a[i]));
    return v;
}

/* One correction of the refinement: x += solve_single(r), in single precision. */
static cgdml_status add_correction(size_t n, const float *arf, const double *r, float *w,
                                   double *x)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)r[i];
    cgdml_status s = cgdml_solve_apply_single(n, arf, w, 1);
    for (size_t i = 0; !s && i < n; i++)
        x[i] += (double)w[i];
    return s;
}

/* Iterative refinement on a single-precision factor: x = 0, then r = b - (K + λI)x
 * in double precision (the matrix-free product, kernel.h) and x += solve(r) until
 * the test of CGDML_MIXED_TOLERANCE holds.  CGDML_ERR_NUMERIC when it stalls. */
static cgdml_status refine(const cgdml_model *m, const double *g, const float *arf,
                           double anorm, const double *b, double *x, cgdml_train_stats *st)
{
    size_t n = 3 * m->n_beads * m->n_train;
    double *r = malloc(n * sizeof(double)), *kx = malloc(n * sizeof(double)), last = INFINITY;
    float *w = malloc(n * sizeof(float));
    cgdml_status s = r && kx && w ? CGDML_OK
                                  : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate refinement "
                                                                     "vectors");
    memset(x, 0, n * sizeof(double));
    if (!s)
        memcpy(r, b, n * sizeof(double));
    for (st->refinements = 0; !s; st->refinements++) {
        if (st->refinements == CGDML_MIXED_MAX_ITERATIONS) {
            s = cgdml_error_set(CGDML_ERR_NUMERIC, "refinement did not converge in %d steps",
                                CGDML_MIXED_MAX_ITERATIONS);
            break;
        }
        s = add_correction(n, arf, r, w, x);
        if (!s)
            s = cgdml_kernel_product(m->n_train, m->n_beads, m->train_desc, g, m->sigma, m->lambda,
                                     x, kx);
        for (size_t i = 0; !s && i < n; i++)
            r[i] = b[i] - kx[i];
        double rn = max_norm(r, n);
        if (s || rn <= CGDML_MIXED_TOLERANCE * max_norm(x, n) * anorm * sqrt((double)n))
            break;
        if (!(rn < 0.5 * last))
            s = cgdml_error_set(CGDML_ERR_NUMERIC,
                                "refinement stalled at step %d (residual %g after %g)",
                                st->refinements + 1, rn, last);
        last = rn;
    }
    if (!s)
        st->refinements++;
    free(r);
    free(kx);
    free(w);
    return s;
}

/* The mixed-precision solve: K + λI assembled and factorised in single precision
 * (half the memory, twice the rate), α refined to double-precision accuracy.
 * CGDML_ERR_NUMERIC when single precision cannot do it (the factorisation fails
 * or refinement stalls): the caller then solves in double precision. */
static cgdml_status solve_mixed(const cgdml_model *m, const double *g, double *rhs,
                                cgdml_train_stats *st)
{
    size_t order = 3 * m->n_beads * m->n_train;
    st->matrix_bytes = cgdml_kernel_rfp_size(order) * sizeof(float);
    float *arf = cgdml_memory_alloc_large(st->matrix_bytes);
    double *x = malloc(order * sizeof(double));
    if (!arf || !x) {
        free(arf);
        free(x);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the %.2f GB kernel matrix",
                               (double)st->matrix_bytes / 1e9);
    }
    double t0 = cgdml_clock_wall_seconds();
    cgdml_status s = cgdml_kernel_assemble_single(m->n_train, m->n_beads, m->train_desc, g,
                                                  m->sigma, m->lambda, arf);
    double anorm = s ? 0.0 : cgdml_kernel_rfp_norm_single(order, arf);
    st->assembly_s = cgdml_clock_wall_seconds() - t0;
    t0 = cgdml_clock_wall_seconds();
    if (!s)
        s = cgdml_solve_factor_single(order, arf);
    st->factor_s = cgdml_clock_wall_seconds() - t0;
    t0 = cgdml_clock_wall_seconds();
    if (!s)
        s = refine(m, g, arf, anorm, rhs, x, st);
    st->solve_s = cgdml_clock_wall_seconds() - t0;
    if (!s)
        memcpy(rhs, x, order * sizeof(double));
    free(arf);
    free(x);
    return s;
}

/* Coefficients that came out non-finite: a matrix too ill-conditioned to solve. */
static cgdml_status check_coefficients(const cgdml_model *m, const double *alpha)
{
    for (size_t a = 0, order = 3 * m->n_beads * m->n_train; a < order; a++)
        if (!isfinite(alpha[a]))
            return cgdml_error_set(CGDML_ERR_NUMERIC,
                                   "sigma = %g, lambda = %g: the coefficients came out %g; the "
                                   "kernel matrix is too ill-conditioned (increase lambda)",
                                   m->sigma, m->lambda, alpha[a]);
    return CGDML_OK;
}

/* Solve for α in the precision asked for; a mixed solve that single precision
 * cannot carry falls back to double by itself and says so in the stats. */
static cgdml_status solve_coefficients(const cgdml_model *m, const double *g, double *rhs,
                                       cgdml_precision precision, cgdml_train_stats *st)
{
    cgdml_status s = CGDML_ERR_NUMERIC;
    precision = resolve_precision(precision, m->sigma, m->lambda);
    st->precision = precision;
    if (precision == CGDML_PRECISION_MIXED)
        s = solve_mixed(m, g, rhs, st);
    if (precision == CGDML_PRECISION_MIXED && s == CGDML_ERR_NUMERIC) {
        snprintf(st->fallback, sizeof st->fallback, "%s", cgdml_error_message());
        st->refinements = 0;
        /* The budget was checked for the mixed solve's need, not the double one's. */
        train_plan plan = {.n_beads = m->n_beads, .precision = CGDML_PRECISION_DOUBLE};
        s = cgdml_memory_check_count(m->n_train, "training frames", train_need, &plan,
                                     "training in double precision (mixed precision fell back)");
        s = s ? s : CGDML_ERR_NUMERIC;
    }
    if (s == CGDML_ERR_NUMERIC) { /* double asked for, or mixed could not carry it */
        st->precision = CGDML_PRECISION_DOUBLE;
        s = solve_double(m, g, rhs, st);
    }
    return s ? s : check_coefficients(m, rhs);
}

/* α by the caller's solve: rhs holds the labels on entry, α on return. */
static cgdml_status solve_with(const cgdml_model *m, const double *g, double *rhs,
                               const train_plan *plan, cgdml_train_stats *st)
{
    st->precision = CGDML_PRECISION_DOUBLE;
    double t0 = cgdml_clock_wall_seconds();
    cgdml_status s = plan->solve(plan->solve_ctx, m->n_train, m->n_beads, m->train_desc, g,
                                 m->sigma, m->lambda, rhs);
    st->solve_s = cgdml_clock_wall_seconds() - t0;
    return s ? s : check_coefficients(m, rhs);
}

static void fill_model(cgdml_model *m, const cgdml_dataset *data, const size_t *idx,
                       const double *g, const double *alpha)
{
    size_t d = m->n_desc, n3 = 3 * m->n_beads;
    for (size_t t = 0; t < m->n_train; t++) {
        cgdml_descriptor_apply_j(m->n_beads, g + t * d * 3, alpha + t * n3, m->gamma + t * d);
        m->train_indices[t] = idx[t];
    }
    memcpy(m->bead_names, data->bead_names, m->n_beads * sizeof *m->bead_names);
    m->dataset_hash = cgdml_dataset_hash(data);
}

cgdml_status cgdml_model_train(const cgdml_dataset *data, const size_t *idx, size_t n,
                               double sigma, double lambda, cgdml_train_stats *stats,
                               cgdml_model **out)
{
    return cgdml_model_train_labels(data, idx, n, NULL, sigma, lambda, stats, out);
}

cgdml_status cgdml_model_train_labels(const cgdml_dataset *data, const size_t *idx, size_t n,
                                      const double *labels, double sigma, double lambda,
                                      cgdml_train_stats *stats, cgdml_model **out)
{
    return cgdml_model_train_precision(data, idx, n, labels, sigma, lambda,
                                       CGDML_PRECISION_DOUBLE, stats, out);
}

/* α by conjugate gradients: rhs holds the labels on entry, α on return. */
static cgdml_status solve_cg(const cgdml_model *m, const double *g, double *rhs,
                             const cgdml_cg_options *cg, cgdml_train_stats *st)
{
    size_t order = 3 * m->n_beads * m->n_train;
    double *alpha = malloc(order * sizeof(double));
    if (!alpha)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the coefficients");
    st->precision = CGDML_PRECISION_DOUBLE;
    cgdml_status s = cgdml_solve_cg(m->n_train, m->n_beads, m->train_desc, g, m->sigma, m->lambda,
                                    rhs, alpha, cg, &st->cg);
    st->factor_s = st->cg.setup_s;
    st->solve_s = st->cg.iterate_s;
    if (!s)
        memcpy(rhs, alpha, order * sizeof(double));
    free(alpha);
    return s;
}

/* Descriptors and labels of the training frames, the solve the plan names, and
 * the model made of its coefficients. */
static cgdml_status train(const cgdml_dataset *data, const size_t *idx, size_t n,
                          const double *labels, const train_plan *plan, cgdml_train_stats *stats,
                          cgdml_model **out)
{
    *out = NULL;
    cgdml_train_stats local = {0};
    cgdml_status s = check_train_arguments(data, idx, n, labels, plan);
    if (s)
        return s;
    size_t nb = data->n_beads, n3 = 3 * nb, d = cgdml_descriptor_size(nb);
    cgdml_model *m = NULL;
    double *g = malloc(n * d * 3 * sizeof(double));
    double *rhs = malloc(n * n3 * sizeof(double));
    s = cgdml_model_alloc(n, nb, &m);
    if (!s && (!g || !rhs))
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the descriptors of %zu frames", n);
    if (!s) {
        m->sigma = plan->sigma;
        m->lambda = plan->lambda;
        double t0 = cgdml_clock_wall_seconds();
        compute_descriptors(data, idx, n, m->train_desc, g);
        local.descriptor_s = cgdml_clock_wall_seconds() - t0;
    }
    for (size_t t = 0; !s && t < n; t++)
        memcpy(rhs + t * n3, labels ? labels + t * n3 : data->forces + idx[t] * n3,
               n3 * sizeof(double));
    local.solver = plan->cg ? CGDML_SOLVER_CG : CGDML_SOLVER_CHOLESKY;
    local.peak_bytes = train_need(n, plan);
    if (!s && plan->solve)
        s = solve_with(m, g, rhs, plan, &local);
    else if (!s)
        s = plan->cg ? solve_cg(m, g, rhs, plan->cg, &local)
                     : solve_coefficients(m, g, rhs, plan->precision, &local);
    if (!s)
        fill_model(m, data, idx, g, rhs);
    if (!s)
        s = cgdml_model_prepare(m);
    free(g);
    free(rhs);
    if (stats)
        *stats = local;
    if (s) {
        cgdml_model_free(m);
        return s;
    }
    *out = m;
    return CGDML_OK;
}

cgdml_status cgdml_model_train_precision(const cgdml_dataset *data, const size_t *idx, size_t n,
                                         const double *labels, double sigma, double lambda,
                                         cgdml_precision precision, cgdml_train_stats *stats,
                                         cgdml_model **out)
{
    train_plan plan = {.n_beads = data->n_beads, .sigma = sigma, .lambda = lambda,
                       .precision = precision};
    return train(data, idx, n, labels, &plan, stats, out);
}

cgdml_status cgdml_model_train_with(const cgdml_dataset *data, const size_t *idx, size_t n,
                                    const double *labels, double sigma, double lambda,
                                    cgdml_solve_fn solve, void *ctx, cgdml_train_stats *stats,
                                    cgdml_model **out)
{
    *out = NULL;
    if (!solve)
        return cgdml_error_set(CGDML_ERR_INVALID, "cgdml_model_train_with: no solve given");
    train_plan plan = {.n_beads = data->n_beads,
                       .sigma = sigma,
                       .lambda = lambda,
                       .solve = solve,
                       .solve_ctx = ctx};
    return train(data, idx, n, labels, &plan, stats, out);
}

cgdml_status cgdml_model_train_cg(const cgdml_dataset *data, const size_t *idx, size_t n,
                                  const double *labels, double sigma, double lambda,
                                  const cgdml_cg_options *cg, cgdml_train_stats *stats,
                                  cgdml_model **out)
{
    cgdml_cg_options defaults;
    if (!cg) {
        cgdml_cg_options_init(&defaults);
        cg = &defaults;
    }
    train_plan plan = {.n_beads = data->n_beads, .sigma = sigma, .lambda = lambda, .cg = cg};
    return train(data, idx, n, labels, &plan, stats, out);
}

/* Frames per task of a prediction: the kernel sum shares each sweep over its
 * table among 4 configurations, and 100 simulation replicas make 25 tasks to
 * balance over the threads. */
enum { PREDICT_BATCH = 4 };

cgdml_status cgdml_model_prepare(cgdml_model *model)
{
    cgdml_kernel_sum *ks;
    cgdml_status s = cgdml_kernel_sum_alloc(model->n_train, model->n_desc, model->train_desc,
                                            model->gamma, model->sigma, CGDML_SIMD_AUTO, &ks);
    if (s)
        return s;
    cgdml_kernel_sum_free(model->sum);
    model->sum = ks;
    return CGDML_OK;
}

/* Forces (and energies, if wanted) of frames x[n][bead][xyz], n <= PREDICT_BATCH:
 * F = Jᵀ Σ_j H(D - D_j) γ_j (docs/method.md §2), plus the prior. */
static void predict_batch(const cgdml_model *m, const cgdml_kernel_sum *ks, size_t n,
                          const double *x, double *f, double *energy)
{
    size_t d = m->n_desc, n3 = 3 * m->n_beads;
    double D[PREDICT_BATCH * d], g[PREDICT_BATCH * 3 * d], h[PREDICT_BATCH * d],
        e[PREDICT_BATCH];
    for (size_t r = 0; r < n; r++)
        cgdml_descriptor_jacobian(m->n_beads, x + r * n3, D + r * d, g + r * 3 * d);
    cgdml_kernel_sum_eval(ks, n, D, h, e);
    for (size_t r = 0; r < n; r++) {
        cgdml_descriptor_apply_jt(m->n_beads, g + r * 3 * d, h + r * d, f + r * n3);
        if (m->prior)
            e[r] += cgdml_prior_add_forces(m->prior, x + r * n3, f + r * n3);
        if (energy)
            energy[r] = e[r];
    }
}

/* Two frames are duplicates when their descriptors agree to this fraction of the
 * largest inverse distance: the same geometry up to rotation and translation.  A
 * rotated copy agrees to about 1e-15 (rounding), while float32 data resolve 1e-7,
 * so only copies are caught. */
#define DUPLICATE_TOLERANCE 1e-10

/* A frame of the selection and its sort key in the search for duplicates. */
typedef struct {
    double key;
    size_t t;
} keyed_frame;

static int by_key(const void *a, const void *b)
{
    double x = ((const keyed_frame *)a)->key, y = ((const keyed_frame *)b)->key;
    return (x > y) - (x < y);
}

static cgdml_status duplicate_error(const size_t *idx, size_t a, size_t b)
{
    size_t i = a < b ? a : b, j = a < b ? b : a;
    if (idx[i] == idx[j])
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "frame %zu is selected twice (entries %zu and %zu of the "
                               "selection): select each frame once",
                               idx[i], i, j);
    return cgdml_error_set(CGDML_ERR_INVALID,
                           "duplicate frames %zu and %zu: the same geometry up to rotation and "
                           "translation (inverse distances agree to %g); the copy adds nothing "
                           "but a singular direction to the kernel matrix: keep one of them",
                           idx[i], idx[j], DUPLICATE_TOLERANCE);
}

/* Sorted by the sum of their descriptor, only frames whose sums are within the
 * tolerance need comparing component by component. */
static cgdml_status find_duplicates(const double *D, const size_t *idx, size_t n, size_t d,
                                    keyed_frame *k)
{
    double scale = 0.0;
    for (size_t t = 0; t < n; t++) {
        k[t].key = 0.0;
        k[t].t = t;
        for (size_t c = 0; c < d; c++) {
            k[t].key += D[t * d + c];
            scale = fmax(scale, D[t * d + c]);
        }
    }
    qsort(k, n, sizeof *k, by_key);
    double tol = DUPLICATE_TOLERANCE * scale;
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n && k[b].key - k[a].key <= (double)d * tol; b++) {
            const double *x = D + k[a].t * d, *y = D + k[b].t * d;
            size_t c = 0;
            while (c < d && fabs(x[c] - y[c]) <= tol)
                c++;
            if (c == d)
                return duplicate_error(idx, k[a].t, k[b].t);
        }
    return CGDML_OK;
}

cgdml_status cgdml_model_check_duplicates(const cgdml_dataset *data, const size_t *idx, size_t n)
{
    size_t nb = data->n_beads, d = cgdml_descriptor_size(nb);
    cgdml_status s = cgdml_dataset_check_frames(data, idx, n);
    if (!s)
        s = cgdml_memory_check(n * (d * sizeof(double) + sizeof(keyed_frame)),
                               "the search for duplicate frames");
    if (s)
        return s;
    double *D = malloc(n * d * sizeof(double));
    keyed_frame *k = malloc(n * sizeof *k);
    if (D && k) {
        for (size_t t = 0; t < n; t++)
            cgdml_descriptor_compute(nb, data->coords + idx[t] * 3 * nb, D + t * d);
        s = find_duplicates(D, idx, n, d, k);
    } else {
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the search for duplicate frames");
    }
    free(D);
    free(k);
    return s;
}

size_t cgdml_model_predict_bytes(const cgdml_model *model, size_t n_frames)
{
    size_t lanes = 8, groups = (model->n_train + lanes - 1) / lanes;
    size_t tables = model->sum ? 0 : 2 * groups * lanes * model->n_desc * sizeof(double);
    size_t per_frame = (3 * model->n_beads + 1) * sizeof(double);
    if (n_frames > (SIZE_MAX - tables) / per_frame)
        return SIZE_MAX;
    return tables + n_frames * per_frame;
}

cgdml_status cgdml_model_predict(const cgdml_model *model, size_t n_frames,
                                 const double *coords, double *forces, double *energies)
{
    size_t n3 = 3 * model->n_beads;
    const cgdml_kernel_sum *ks = model->sum;
    cgdml_kernel_sum *temporary = NULL;
    if (!cgdml_kernel_sum_matches(ks, model->n_train, model->train_desc, model->gamma,
                                  model->sigma)) {
        cgdml_status s =
            cgdml_kernel_sum_alloc(model->n_train, model->n_desc, model->train_desc,
                                   model->gamma, model->sigma, CGDML_SIMD_AUTO, &temporary);
        if (s)
            return s;
        ks = temporary;
    }
#pragma omp parallel for schedule(dynamic, 1) /* batches cost O(M d) each: balance them */
    for (size_t f = 0; f < n_frames; f += PREDICT_BATCH)
        predict_batch(model, ks, n_frames - f < PREDICT_BATCH ? n_frames - f : PREDICT_BATCH,
                      coords + f * n3, forces + f * n3, energies ? energies + f : NULL);
    cgdml_kernel_sum_free(temporary);
    return CGDML_OK;
}

void cgdml_force_errors_free(cgdml_force_errors *errors)
{
    free(errors->bead_mse);
    free(errors->bead_mae);
    errors->bead_mse = errors->bead_mae = NULL;
}

/* Mean over components (bead, xyz) of the labels' variance over the frames. */
static double label_variance(const double *labels, size_t n, size_t n3)
{
    double total = 0.0;
    for (size_t c = 0; c < n3; c++) {
        double mean = 0.0, var = 0.0;
        for (size_t t = 0; t < n; t++)
            mean += labels[t * n3 + c];
        mean /= (double)n;
        for (size_t t = 0; t < n; t++)
            var += (labels[t * n3 + c] - mean) * (labels[t * n3 + c] - mean);
        total += var / (double)n;
    }
    return total / (double)n3;
}

static void accumulate_errors(const double *pred, const double *labels, size_t n, size_t nb,
                              cgdml_force_errors *e)
{
    for (size_t t = 0; t < n; t++)
        for (size_t b = 0; b < nb; b++)
            for (size_t c = 0; c < 3; c++) {
                double r = pred[(t * nb + b) * 3 + c] - labels[(t * nb + b) * 3 + c];
                e->bead_mse[b] += r * r;
                e->bead_mae[b] += fabs(r);
            }
    for (size_t b = 0; b < nb; b++) {
        e->mse += e->bead_mse[b];
        e->mae += e->bead_mae[b];
        e->bead_mse[b] /= 3.0 * (double)n;
        e->bead_mae[b] /= 3.0 * (double)n;
    }
    e->mse /= 3.0 * (double)(n * nb);
    e->mae /= 3.0 * (double)(n * nb);
    e->label_variance = label_variance(labels, n, 3 * nb);
    e->relative_mse = e->label_variance > 0 ? e->mse / e->label_variance : NAN;
}

/* What cgdml_model_evaluate allocates for n frames: a copy of them (if chosen
 * by index), their predictions, the per-bead errors. */
typedef struct {
    const cgdml_model *model;
    int copies;
} evaluate_need_ctx;

static size_t evaluate_need(size_t n, const void *ctx)
{
    const evaluate_need_ctx *c = ctx;
    size_t copy = c->copies ? cgdml_dataset_bytes(n, c->model->n_beads) : 0;
    size_t pred = cgdml_model_predict_bytes(c->model, n);
    size_t beads = 2 * c->model->n_beads * sizeof(double);
    if (copy == SIZE_MAX || pred == SIZE_MAX || copy > SIZE_MAX - pred - beads)
        return SIZE_MAX;
    return copy + pred + beads;
}

cgdml_status cgdml_model_evaluate(const cgdml_model *model, const cgdml_dataset *data,
                                  const size_t *idx, size_t n, cgdml_force_errors *out)
{
    memset(out, 0, sizeof *out);
    if (data->n_beads != model->n_beads)
        return cgdml_error_set(CGDML_ERR_INVALID, "the model has %zu beads but the data has %zu",
                               model->n_beads, data->n_beads);
    if (!idx)
        n = data->n_frames;
    evaluate_need_ctx need = {model, idx != NULL};
    cgdml_status s = cgdml_dataset_check_frames(data, idx, n);
    if (!s)
        s = cgdml_memory_check_count(n, "frames", evaluate_need, &need, "evaluating");
    cgdml_dataset *sub = NULL;
    const cgdml_dataset *use = data;
    if (!s && idx) {
        s = cgdml_dataset_subset(data, idx, n, &sub);
        use = sub;
    }
    if (s)
        return s;
    size_t nb = use->n_beads, nf = use->n_frames;
    double *pred = malloc(nf * nb * 3 * sizeof(double));
    out->bead_mse = calloc(nb, sizeof(double));
    out->bead_mae = calloc(nb, sizeof(double));
    if (!pred || !out->bead_mse || !out->bead_mae)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate predictions for %zu frames", nf);
    if (!s)
        s = cgdml_model_predict(model, nf, use->coords, pred, NULL);
    if (!s) {
        out->n_frames = nf;
        out->n_beads = nb;
        accumulate_errors(pred, use->forces, nf, nb, out);
    }
    free(pred);
    cgdml_dataset_free(sub);
    if (s)
        cgdml_force_errors_free(out);
    return s;
}
