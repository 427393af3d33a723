/* crossval.c - k-fold cross-validation of the two-layer ensemble's hyperparameters
 * (see cgdml/crossval.h).
 */
#include "cgdml/crossval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Mean and standard error of fold errors. */
static void summarise(const double *err, size_t folds, cgdml_crossval_point *p)
{
    double mean = 0.0, var = 0.0;
    for (size_t f = 0; f < folds; f++)
        mean += err[f] / (double)folds;
    for (size_t f = 0; f < folds; f++)
        var += (err[f] - mean) * (err[f] - mean);
    p->mse = mean;
    p->mse_stderr = folds > 1 ? sqrt(var / (double)(folds - 1) / (double)folds) : NAN;
}

/* Frames trained on by fold-f members only (not by any member outside f). */
static cgdml_status held_out_frames(cgdml_model *const *members, size_t k, size_t folds,
                                    size_t f, size_t n_frames, size_t **idx, size_t *n)
{
    unsigned char *mark = calloc(n_frames, 1); /* 1: in fold, 2: used outside */
    *idx = malloc(n_frames * sizeof **idx);
    if (!mark || !*idx) {
        free(mark);
        free(*idx);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate fold frames");
    }
    for (size_t i = 0; i < k; i++)
        for (size_t t = 0; t < members[i]->n_train; t++)
            mark[members[i]->train_indices[t]] |= i % folds == f ? 1 : 2;
    *n = 0;
    for (size_t fr = 0; fr < n_frames; fr++)
        if (mark[fr] == 1)
            (*idx)[(*n)++] = fr;
    free(mark);
    return *n ? CGDML_OK
              : cgdml_error_set(CGDML_ERR_INVALID,
                                "fold %zu has no frame of its own: use more frames per member "
                                "or fewer members",
                                f);
}

/* The force MSE on frames idx of the average of the members outside fold f. */
static cgdml_status fold_error(const cgdml_dataset *data, const cgdml_prior *prior,
                               cgdml_model *const *members, size_t k, size_t folds, size_t f,
                               double *mse, size_t *n_eval)
{
    cgdml_model **outside = malloc(k * sizeof *outside), *avg = NULL;
    size_t n_out = 0, *idx = NULL, n = 0;
    for (size_t i = 0; outside && i < k; i++)
        if (i % folds != f)
            outside[n_out++] = members[i];
    cgdml_status s = outside ? held_out_frames(members, k, folds, f, data->n_frames, &idx, &n)
                             : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a fold");
    if (!s)
        s = cgdml_ensemble_average(outside, n_out, &avg);
    if (!s && prior)
        s = cgdml_model_attach_prior(avg, prior);
    cgdml_force_errors e = {0};
    if (!s)
        s = cgdml_model_evaluate(avg, data, idx, n, &e);
    *mse = e.mse;
    *n_eval = n;
    cgdml_force_errors_free(&e);
    cgdml_model_free(avg);
    free(idx);
    free(outside);
    return s;
}

/* Per-bin sums of the residual r = label - prediction over frames idx: count,
 * Σr (n3 per bin) and Σ|r|², then the noise-corrected binned error. */
static double binned_from_residuals(const double *res, const size_t *bin_of, size_t n,
                                    size_t n_bins, size_t n3, double *sum, double *sq,
                                    size_t *count)
{
    memset(sum, 0, n_bins * n3 * sizeof *sum);
    memset(sq, 0, n_bins * sizeof *sq);
    memset(count, 0, n_bins * sizeof *count);
    for (size_t t = 0; t < n; t++) {
        size_t b = bin_of[t];
        count[b]++;
        for (size_t a = 0; a < n3; a++) {
            sum[b * n3 + a] += res[t * n3 + a];
            sq[b] += res[t * n3 + a] * res[t * n3 + a];
        }
    }
    double total = 0.0;
    size_t used = 0;
    for (size_t b = 0; b < n_bins; b++) {
        double nb = (double)count[b], mean2 = 0.0;
        if (count[b] < 2)
            continue;
        for (size_t a = 0; a < n3; a++)
            mean2 += (sum[b * n3 + a] / nb) * (sum[b * n3 + a] / nb);
        /* tr S_b = (Σ|r|² - n_b |r̄|²) / (n_b - 1); the bin's term is n_b (|r̄|² - tr S_b / n_b). */
        double trace = (sq[b] - nb * mean2) / (nb - 1.0);
        total += nb * mean2 - trace;
        used += count[b];
    }
    return used ? total / ((double)used * (double)n3) : NAN;
}

/* Rotate the n_beads vectors v[bead][xyz] of frame x into the frame's own axes:
 * e1 along bead 0 -> 1, e2 the part of 0 -> 2 orthogonal to it, e3 = e1 x e2.
 * Cartesian forces of a tumbling molecule average to zero; in these axes they do
 * not. */
static void into_body_axes(const double *x, size_t n_beads, double *v)
{
    double e[3][3], a[3], b[3];
    for (int c = 0; c < 3; c++) {
        a[c] = x[3 + c] - x[c];
        b[c] = x[6 + c] - x[c];
    }
    double na = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    for (int c = 0; c < 3; c++)
        e[0][c] = a[c] / na;
    double dot = b[0] * e[0][0] + b[1] * e[0][1] + b[2] * e[0][2];
    for (int c = 0; c < 3; c++)
        b[c] -= dot * e[0][c];
    double nb = sqrt(b[0] * b[0] + b[1] * b[1] + b[2] * b[2]);
    for (int c = 0; c < 3; c++)
        e[1][c] = b[c] / nb;
    e[2][0] = e[0][1] * e[1][2] - e[0][2] * e[1][1];
    e[2][1] = e[0][2] * e[1][0] - e[0][0] * e[1][2];
    e[2][2] = e[0][0] * e[1][1] - e[0][1] * e[1][0];
    for (size_t i = 0; i < n_beads; i++) {
        double w[3];
        for (int r = 0; r < 3; r++)
            w[r] = e[r][0] * v[3 * i] + e[r][1] * v[3 * i + 1] + e[r][2] * v[3 * i + 2];
        memcpy(v + 3 * i, w, sizeof w);
    }
}

cgdml_status cgdml_crossval_binned_error(const cgdml_model *m, const cgdml_dataset *data,
                                         const size_t *idx, size_t n, const cgdml_strata *bins,
                                         double *mse)
{
    if (bins->n_frames != data->n_frames || n < 2 || data->n_beads < 3)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "binned error: bins of %zu frames for %zu, %zu frames to judge, "
                               "%zu beads (need 3 for the body axes)",
                               bins->n_frames, data->n_frames, n, data->n_beads);
    size_t n3 = 3 * data->n_beads, nb = bins->n_strata;
    double *x = malloc(n * n3 * sizeof *x), *res = malloc(n * n3 * sizeof *res);
    double *sum = malloc(nb * n3 * sizeof *sum), *sq = malloc(nb * sizeof *sq);
    size_t *bin_of = malloc(n * sizeof *bin_of), *count = malloc(nb * sizeof *count);
    cgdml_status s = x && res && sum && sq && bin_of && count
                         ? CGDML_OK
                         : cgdml_error_set(CGDML_ERR_NOMEM, "binned error: %zu frames", n);
    for (size_t t = 0; !s && t < n; t++) {
        memcpy(x + t * n3, data->coords + idx[t] * n3, n3 * sizeof *x);
        bin_of[t] = bins->stratum_of[idx[t]];
    }
    if (!s)
        s = cgdml_model_predict(m, n, x, res, NULL);
    for (size_t t = 0; !s && t < n; t++) {
        for (size_t a = 0; a < n3; a++)
            res[t * n3 + a] = data->forces[idx[t] * n3 + a] - res[t * n3 + a];
        into_body_axes(x + t * n3, data->n_beads, res + t * n3);
    }
    if (!s)
        *mse = binned_from_residuals(res, bin_of, n, nb, n3, sum, sq, count);
    free(x);
    free(res);
    free(sum);
    free(sq);
    free(bin_of);
    free(count);
    return s;
}

/* mse_binned of the average of all k members (prior attached) on the frames none
 * of them trained on, at most CGDML_CROSSVAL_BINNED_MAX_FRAMES of them by an even
 * stride. */
static cgdml_status members_binned_error(const cgdml_dataset *data, const cgdml_strata *bins,
                                         const cgdml_prior *prior, cgdml_model *const *members,
                                         size_t k, double *mse)
{
    unsigned char *used = calloc(data->n_frames, 1);
    size_t *idx = malloc(data->n_frames * sizeof *idx), n = 0, n_free = 0;
    cgdml_model *avg = NULL;
    cgdml_status s = used && idx ? CGDML_OK
                                 : cgdml_error_set(CGDML_ERR_NOMEM, "binned error: frames");
    for (size_t i = 0; !s && i < k; i++)
        for (size_t t = 0; t < members[i]->n_train; t++)
            used[members[i]->train_indices[t]] = 1;
    for (size_t f = 0; !s && f < data->n_frames; f++) {
        used[f] |= bins->stratum_of[f] == CGDML_STRATUM_NONE; /* excluded frames stay unseen */
        n_free += !used[f];
    }
    if (!s && n_free < 2)
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "binned error: the members leave %zu frame(s) of the pool to judge "
                            "(a partition of the whole pool leaves none): select by the raw "
                            "held-out error, or use fewer members or frames per member",
                            n_free);
    size_t stride = n_free / CGDML_CROSSVAL_BINNED_MAX_FRAMES + 1;
    for (size_t f = 0, seen = 0; !s && f < data->n_frames; f++)
        if (!used[f] && seen++ % stride == 0)
            idx[n++] = f;
    if (!s)
        s = cgdml_ensemble_average(members, k, &avg);
    if (!s && prior)
        s = cgdml_model_attach_prior(avg, prior);
    if (!s)
        s = cgdml_crossval_binned_error(avg, data, idx, n, bins, mse);
    cgdml_model_free(avg);
    free(idx);
    free(used);
    return s;
}

static cgdml_status layer1_point(const cgdml_dataset *data, const cgdml_strata *strata,
                                 const cgdml_strata *bins, const cgdml_prior *prior,
                                 const cgdml_layer1_options *opt, size_t folds,
                                 cgdml_crossval_point *p)
{
    size_t k = opt->n_members;
    cgdml_model **members = calloc(k, sizeof *members);
    double *err = calloc(folds, sizeof *err);
    cgdml_status s = members && err ? cgdml_ensemble_train_members(data, strata, prior, opt,
                                                                    members)
                                    : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate");
    p->n_eval = 0;
    for (size_t f = 0; !s && f < folds; f++) {
        size_t n_eval;
        s = fold_error(data, prior, members, k, folds, f, &err[f], &n_eval);
        p->n_eval += n_eval;
    }
    if (!s)
        summarise(err, folds, p);
    p->mse_binned = NAN;
    if (!s && bins)
        s = members_binned_error(data, bins, prior, members, k, &p->mse_binned);
    for (size_t i = 0; members && i < k; i++)
        cgdml_model_free(members[i]);
    free(members);
    free(err);
    return s;
}

cgdml_status cgdml_crossval_layer1(const cgdml_dataset *data, const cgdml_strata *strata,
                                   const cgdml_strata *bins, const cgdml_prior *prior,
                                   const cgdml_layer1_options *base,
                                   const double *sigmas, size_t n_sigmas, const double *lambdas,
                                   size_t n_lambdas, size_t folds, cgdml_crossval_point *table)
{
    if (folds < 2 || folds > base->n_members)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%zu folds over %zu members: need 2 <= folds <= members", folds,
                               base->n_members);
    for (size_t i = 0; i < n_sigmas; i++)
        for (size_t j = 0; j < n_lambdas; j++) {
            cgdml_layer1_options opt = *base;
            opt.sigma1 = sigmas[i];
            opt.lambda = lambdas[j];
            cgdml_crossval_point *p = &table[i * n_lambdas + j];
            p->sigma = sigmas[i];
            p->lambda = lambdas[j];
            cgdml_status s = layer1_point(data, strata, bins, prior, &opt, folds, p);
            if (s)
                return cgdml_error_wrap(s, "cross-validation at sigma1 = %g, lambda = %g",
                                        sigmas[i], lambdas[j]);
        }
    return CGDML_OK;
}

/* Mean squared difference, over frames idx[0..n-1] and components, between the
 * forces of `m` and those of `average`: layer 2 is judged against the averaged
 * labels it fits (docs/method.md §6), not against the raw, noisy forces. */
static cgdml_status error_against_average(const cgdml_model *m, const cgdml_model *average,
                                          const cgdml_dataset *data, const size_t *idx, size_t n,
                                          double *mse)
{
    size_t n3 = 3 * data->n_beads;
    double *x = malloc(n * n3 * sizeof(double)), *fm = malloc(n * n3 * sizeof(double)),
           *fa = malloc(n * n3 * sizeof(double));
    cgdml_status s = x && fm && fa ? CGDML_OK
                                   : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a fold");
    for (size_t t = 0; !s && t < n; t++)
        memcpy(x + t * n3, data->coords + idx[t] * n3, n3 * sizeof(double));
    if (!s)
        s = cgdml_model_predict(m, n, x, fm, NULL);
    if (!s)
        s = cgdml_model_predict(average, n, x, fa, NULL);
    double sum = 0.0;
    for (size_t a = 0; !s && a < n * n3; a++)
        sum += (fm[a] - fa[a]) * (fm[a] - fa[a]);
    *mse = sum / (double)(n * n3);
    free(x);
    free(fm);
    free(fa);
    return s;
}

/* Train on the mean set without fold f and measure on fold f. */
static cgdml_status layer2_fold(const cgdml_model *average, const cgdml_dataset *data,
                                const size_t *idx, size_t n, double sigma, double lambda,
                                cgdml_precision precision, size_t folds, size_t f, double *mse)
{
    size_t *train = malloc(n * sizeof *train), *test = malloc(n * sizeof *test);
    size_t n_train = 0, n_test = 0;
    for (size_t t = 0; train && test && t < n; t++) {
        if (t % folds == f)
            test[n_test++] = idx[t];
        else
            train[n_train++] = idx[t];
    }
    cgdml_model *m = NULL;
    cgdml_status s = train && test ? cgdml_ensemble_distill(average, data, train, n_train, sigma,
                                                            lambda, precision, &m)
                                   : cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a fold");
    if (!s)
        s = error_against_average(m, average, data, test, n_test, mse);
    cgdml_model_free(m);
    free(train);
    free(test);
    return s;
}

cgdml_status cgdml_crossval_layer2(const cgdml_model *average, const cgdml_dataset *data,
                                   const size_t *idx, size_t n, const double *sigmas,
                                   size_t n_sigmas, double lambda, cgdml_precision precision,
                                   size_t folds, cgdml_crossval_point *table)
{
    if (folds < 2 || folds > n)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%zu folds over a mean set of %zu frames: need 2 <= folds <= "
                               "frames",
                               folds, n);
    double *err = malloc(folds * sizeof *err);
    if (!err)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate");
    cgdml_status s = CGDML_OK;
    for (size_t i = 0; !s && i < n_sigmas; i++) {
        for (size_t f = 0; !s && f < folds; f++)
            s = layer2_fold(average, data, idx, n, sigmas[i], lambda, precision, folds, f,
                            &err[f]);
        table[i] = (cgdml_crossval_point){
            .sigma = sigmas[i], .lambda = lambda, .n_eval = n, .mse_binned = NAN};
        if (!s)
            summarise(err, folds, &table[i]);
    }
    free(err);
    return s ? cgdml_error_wrap(s, "layer-2 cross-validation") : CGDML_OK;
}

size_t cgdml_crossval_best(const cgdml_crossval_point *table, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (table[i].mse < table[best].mse)
            best = i;
    return best;
}

size_t cgdml_crossval_best_binned(const cgdml_crossval_point *table, size_t n)
{
    size_t best = n;
    for (size_t i = 0; i < n; i++)
        if (isfinite(table[i].mse_binned) &&
            (best == n || table[i].mse_binned < table[best].mse_binned))
            best = i;
    return best < n ? best : cgdml_crossval_best(table, n);
}

/* -1, +1 or 0: where index i lies in a grid of n values (n = 1: nowhere). */
static int edge_of(size_t i, size_t n)
{
    return n < 2 ? 0 : i == 0 ? -1 : i == n - 1 ? 1 : 0;
}

void cgdml_crossval_edges(size_t best, size_t n_sigmas, size_t n_lambdas, int *sigma_edge,
                          int *lambda_edge)
{
    *sigma_edge = edge_of(best / n_lambdas, n_sigmas);
    *lambda_edge = edge_of(best % n_lambdas, n_lambdas);
}
