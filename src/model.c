/* model.c - training a GDML model by Cholesky, predicting forces and energies, and
 * measuring force errors (see cgdml/model.h).  File I/O is in model_io.c.
 *
 * Training: descriptors -> kernel assembly (RFP) -> dpftrf/dpftrs -> γ_j = J_j α_j.
 * Keeping γ instead of α makes prediction O(M·d) per frame with no Jacobian of
 * the training frames, which is what makes large ensembles cheap to evaluate.
 */
#include "cgdml/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/descriptor.h"
#include "cgdml/kernel.h"
#include "cgdml/solve.h"
#include "cgdml/util.h"

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
    free(model);
}

size_t cgdml_model_train_bytes(size_t n_train, size_t n_beads)
{
    size_t n = 3 * n_beads * n_train, d = cgdml_descriptor_size(n_beads);
    return cgdml_kernel_rfp_size(n) * sizeof(double) /* kernel matrix */
           + n * sizeof(double)                       /* right-hand side */
           + n_train * d * 6 * sizeof(double);        /* descriptors, Jacobians, γ */
}

static cgdml_status check_train_arguments(const cgdml_dataset *data, const size_t *idx,
                                          size_t n, double sigma, double lambda)
{
    if (!(sigma > 0) || !isfinite(sigma))
        return cgdml_error_set(CGDML_ERR_INVALID, "sigma = %g: must be a positive number", sigma);
    if (!(lambda >= 0) || !isfinite(lambda))
        return cgdml_error_set(CGDML_ERR_INVALID, "lambda = %g: must be a number >= 0", lambda);
    if (n == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "no training frames selected");
    if (data->n_beads < 2)
        return cgdml_error_set(CGDML_ERR_INVALID, "the dataset has %zu bead(s); need at least 2",
                               data->n_beads);
    for (size_t t = 0; t < n; t++)
        if (idx[t] >= data->n_frames)
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "training frame %zu is out of range: the dataset has %zu frames",
                                   idx[t], data->n_frames);
    size_t n3 = 3 * data->n_beads;
    if (n3 * n > CGDML_SOLVE_MAX_ORDER)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%zu training frames of %zu beads make a system of order %zu; the "
                               "largest solvable here is %d (%zu frames)",
                               n, data->n_beads, n3 * n, CGDML_SOLVE_MAX_ORDER,
                               CGDML_SOLVE_MAX_ORDER / n3);
    size_t bytes = cgdml_model_train_bytes(n, data->n_beads);
    if (cgdml_memory_check(bytes, "training") != CGDML_OK) {
        size_t fit = n;
        while (fit > 1 && cgdml_model_train_bytes(fit, data->n_beads) > cgdml_memory_budget())
            fit = fit * 9 / 10;
        return cgdml_error_wrap(CGDML_ERR_NOMEM, "%zu training frames (at most about %zu fit)", n,
                                fit);
    }
    return CGDML_OK;
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
    double t0 = cgdml_wall_seconds();
    cgdml_status s = cgdml_solve_factor(n_order, arf);
    st->factor_s = cgdml_wall_seconds() - t0;
    if (s == CGDML_ERR_NUMERIC) {
        double try_lambda = lambda > 0 ? 10 * lambda : 1e-10;
        return cgdml_error_wrap(s,
                                "sigma = %g, lambda = %g: increase lambda (try --lambda %g), or "
                                "look for duplicate frames in the training set; a much larger "
                                "sigma also makes the kernel nearly singular",
                                sigma, lambda, try_lambda);
    }
    if (s)
        return s;
    t0 = cgdml_wall_seconds();
    s = cgdml_solve_apply(n_order, arf, rhs, 1);
    st->solve_s = cgdml_wall_seconds() - t0;
    return s;
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
    *out = NULL;
    cgdml_train_stats local = {0};
    cgdml_status s = check_train_arguments(data, idx, n, sigma, lambda);
    if (s)
        return s;
    size_t nb = data->n_beads, n3 = 3 * nb, d = cgdml_descriptor_size(nb), order = n3 * n;
    cgdml_model *m = NULL;
    double *g = malloc(n * d * 3 * sizeof(double));
    double *rhs = malloc(order * sizeof(double));
    local.matrix_bytes = cgdml_kernel_rfp_size(order) * sizeof(double);
    double *arf = cgdml_alloc_large(local.matrix_bytes);
    s = cgdml_model_alloc(n, nb, &m);
    if (!s && (!g || !rhs || !arf))
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the %.2f GB kernel matrix",
                            (double)local.matrix_bytes / 1e9);
    if (!s) {
        m->sigma = sigma;
        m->lambda = lambda;
        double t0 = cgdml_wall_seconds();
        compute_descriptors(data, idx, n, m->train_desc, g);
        local.descriptor_s = cgdml_wall_seconds() - t0;
        t0 = cgdml_wall_seconds();
        s = cgdml_kernel_assemble(n, nb, m->train_desc, g, sigma, lambda, arf);
        local.assembly_s = cgdml_wall_seconds() - t0;
    }
    for (size_t t = 0; !s && t < n; t++)
        memcpy(rhs + t * n3, labels ? labels + t * n3 : data->forces + idx[t] * n3,
               n3 * sizeof(double));
    if (!s)
        s = factor_and_solve(order, arf, rhs, sigma, lambda, &local);
    free(arf);
    if (!s)
        fill_model(m, data, idx, g, rhs);
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

/* Training frames per block of the prediction sum: the block's weights stay in
 * L1 cache while the descriptor components stream past. */
enum { PREDICT_BLOCK = 256 };

/* The training descriptors and γ in component-major order, desc_t[k][j] and
 * gamma_t[k][j], so that the sum over training frames j runs in SIMD lanes. */
typedef struct {
    size_t n;
    double *desc_t, *gamma_t;
} kernel_columns;

static cgdml_status columns_alloc(const cgdml_model *m, kernel_columns *c)
{
    size_t n = m->n_train, d = m->n_desc;
    c->n = n;
    c->desc_t = malloc(n * d * sizeof(double));
    c->gamma_t = malloc(n * d * sizeof(double));
    if (!c->desc_t || !c->gamma_t) {
        free(c->desc_t);
        free(c->gamma_t);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the prediction tables");
    }
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < d; k++) {
            c->desc_t[k * n + j] = m->train_desc[j * d + k];
            c->gamma_t[k * n + j] = m->gamma[j * d + k];
        }
    return CGDML_OK;
}

/* Adds the block [j0, j0 + nb) of Σ_j H(u_j) γ_j to h[d]; returns its energy. */
static double predict_block(const kernel_columns *c, size_t d, size_t j0, size_t nb,
                            const double *D, double s, double *h)
{
    double rho2[PREDICT_BLOCK] = {0}, ug[PREDICT_BLOCK] = {0}, w1[PREDICT_BLOCK],
           w2[PREDICT_BLOCK], energy = 0.0;
    for (size_t k = 0; k < d; k++) {
        const double *dk = c->desc_t + k * c->n + j0, *gk = c->gamma_t + k * c->n + j0;
        double Dk = D[k];
#pragma omp simd
        for (size_t j = 0; j < nb; j++) {
            double u = Dk - dk[j];
            rho2[j] += u * u;
            ug[j] += u * gk[j];
        }
    }
#pragma omp simd reduction(+ : energy)
    for (size_t j = 0; j < nb; j++) {
        double sr = s * sqrt(rho2[j]), pre = s * s / 3.0 * exp(-sr);
        w1[j] = pre * (1.0 + sr);
        w2[j] = pre * s * s * ug[j];
        energy -= w1[j] * ug[j];
    }
    for (size_t k = 0; k < d; k++) {
        const double *dk = c->desc_t + k * c->n + j0, *gk = c->gamma_t + k * c->n + j0;
        double Dk = D[k], acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (size_t j = 0; j < nb; j++)
            acc += w1[j] * gk[j] - w2[j] * (Dk - dk[j]);
        h[k] += acc;
    }
    return energy;
}

/* Forces (and the energy, if wanted) of one frame x[bead][xyz]:
 * F = Jᵀ Σ_j H(D - D_j) γ_j with H(u)γ = c1 γ - c2 (u·γ) u (METHOD.md §2). */
static void predict_frame(const cgdml_model *m, const kernel_columns *c, const double *x,
                          double *f, double *energy)
{
    size_t d = m->n_desc;
    double D[d], g[3 * d], h[d];
    double s = sqrt(5.0) / m->sigma, e_sum = 0.0;
    cgdml_descriptor_jacobian(m->n_beads, x, D, g);
    memset(h, 0, sizeof h);
    for (size_t j0 = 0; j0 < c->n; j0 += PREDICT_BLOCK)
        e_sum += predict_block(c, d, j0, c->n - j0 < PREDICT_BLOCK ? c->n - j0 : PREDICT_BLOCK,
                               D, s, h);
    cgdml_descriptor_apply_jt(m->n_beads, g, h, f);
    if (m->prior)
        e_sum += cgdml_prior_add_forces(m->prior, x, f);
    if (energy)
        *energy = e_sum;
}

cgdml_status cgdml_model_predict(const cgdml_model *model, size_t n_frames,
                                 const double *coords, double *forces, double *energies)
{
    size_t n3 = 3 * model->n_beads;
    kernel_columns c;
    cgdml_status s = columns_alloc(model, &c);
    if (s)
        return s;
#pragma omp parallel for schedule(dynamic, 1) /* frames cost O(M d) each: balance small batches */
    for (size_t f = 0; f < n_frames; f++)
        predict_frame(model, &c, coords + f * n3, forces + f * n3, energies ? energies + f : NULL);
    free(c.desc_t);
    free(c.gamma_t);
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

cgdml_status cgdml_model_evaluate(const cgdml_model *model, const cgdml_dataset *data,
                                  const size_t *idx, size_t n, cgdml_force_errors *out)
{
    memset(out, 0, sizeof *out);
    if (data->n_beads != model->n_beads)
        return cgdml_error_set(CGDML_ERR_INVALID, "the model has %zu beads but the data has %zu",
                               model->n_beads, data->n_beads);
    cgdml_dataset *sub = NULL;
    cgdml_status s = CGDML_OK;
    const cgdml_dataset *use = data;
    if (idx) {
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
