/* ensemble.c - layer 1 (K members, side by side or one at a time, checkpointed),
 * the averaged model, and layer 2 (the distilled model) of the two-layer ensemble
 * (see cgdml/ensemble.h and docs/method.md §4).  Cross-validation is in crossval.c.
 */
#include "cgdml/ensemble.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgdml/atomic.h"
#include "cgdml/memory.h"

cgdml_status cgdml_ensemble_member_frames(const cgdml_strata *strata,
                                          const cgdml_layer1_options *opt, size_t k,
                                          size_t **idx)
{
    return cgdml_strata_draw(strata, opt->draw, opt->n_train, opt->seed + k + 1, idx);
}

static int choose_side_by_side(const cgdml_layer1_options *opt, size_t n_beads)
{
    if (opt->side_by_side >= 0)
        return opt->side_by_side;
    return 3 * n_beads * opt->n_train <= CGDML_ENSEMBLE_SIDE_BY_SIDE_MAX_ORDER &&
           omp_get_max_threads() > 1;
}

size_t cgdml_ensemble_layer1_bytes(const cgdml_layer1_options *opt, size_t n_beads,
                                   int side_by_side)
{
    size_t at_once = side_by_side ? (size_t)omp_get_max_threads() : 1;
    size_t d = n_beads * (n_beads - 1) / 2;
    return at_once * cgdml_model_train_peak_bytes(opt->n_train, n_beads, opt->sigma1, opt->lambda,
                                                  opt->precision) +
           opt->n_members * opt->n_train * d * 2 * sizeof(double); /* finished members */
}

/* Checkpoint file of member k: the name carries the hyperparameters, so members
 * of other grid points or draws never mix. */
static void checkpoint_path(const cgdml_layer1_options *opt, size_t k, char *path, size_t size)
{
    snprintf(path, size, "%s/member-s%.6g-l%.6g-m%zu-d%d-seed%lu-%05zu.h5", opt->checkpoint,
             opt->sigma1, opt->lambda, opt->n_train, (int)opt->draw, opt->seed, k);
}

/* A member saved earlier with exactly these frames, or NULL. */
static cgdml_model *load_checkpoint(const cgdml_layer1_options *opt, size_t k,
                                    const cgdml_dataset *data, const size_t *idx)
{
    char path[CGDML_PATH_MAX];
    checkpoint_path(opt, k, path, sizeof path);
    cgdml_model *m = NULL;
    if (access(path, F_OK) != 0 || cgdml_model_load(path, &m) != CGDML_OK)
        return NULL;
    int same = m->n_train == opt->n_train && m->sigma == opt->sigma1 &&
               m->lambda == opt->lambda && m->dataset_hash == cgdml_dataset_hash(data);
    for (size_t t = 0; same && t < m->n_train; t++)
        same = m->train_indices[t] == idx[t];
    if (!same) {
        cgdml_model_free(m);
        return NULL;
    }
    return m;
}

/* Train member k (or load it from the checkpoint folder). */
static cgdml_status train_member(const cgdml_dataset *data, const cgdml_strata *strata,
                                 const cgdml_prior *prior, const cgdml_layer1_options *opt,
                                 size_t k, cgdml_model **out, int *resumed)
{
    *resumed = 0;
    size_t *idx = NULL, n3 = 3 * data->n_beads;
    cgdml_status s = cgdml_ensemble_member_frames(strata, opt, k, &idx);
    if (s)
        return s;
    if (opt->checkpoint && (*out = load_checkpoint(opt, k, data, idx))) {
        *resumed = 1;
        free(idx);
        return CGDML_OK;
    }
    double *labels = malloc(opt->n_train * n3 * sizeof(double));
    if (!labels)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate member labels");
    if (!s && prior)
        s = cgdml_prior_subtract(prior, data, idx, opt->n_train, labels);
    if (!s)
        s = cgdml_model_train_precision(data, idx, opt->n_train, prior ? labels : NULL,
                                        opt->sigma1, opt->lambda, opt->precision, NULL, out);
    if (!s && opt->checkpoint) {
        char path[CGDML_PATH_MAX];
        checkpoint_path(opt, k, path, sizeof path);
        s = cgdml_model_save(*out, path);
    }
    free(labels);
    free(idx);
    return s ? cgdml_error_wrap(s, "member %zu", k) : CGDML_OK;
}

static cgdml_status make_checkpoint_folder(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cgdml_error_set(CGDML_ERR_IO, "cannot create the checkpoint folder %s: %s", dir,
                               strerror(errno));
    return CGDML_OK;
}

cgdml_status cgdml_ensemble_train_members(const cgdml_dataset *data, const cgdml_strata *strata,
                                          const cgdml_prior *prior,
                                          const cgdml_layer1_options *opt,
                                          cgdml_model **members)
{
    if (opt->n_members == 0 || opt->n_train == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "an ensemble needs members (%zu) of frames (%zu)",
                               opt->n_members, opt->n_train);
    int side = choose_side_by_side(opt, data->n_beads);
    cgdml_status s = cgdml_memory_check(cgdml_ensemble_layer1_bytes(opt, data->n_beads, side),
                                        "layer 1 of the ensemble");
    if (!s && opt->checkpoint)
        s = make_checkpoint_folder(opt->checkpoint);
    if (s)
        return s;
    for (size_t k = 0; k < opt->n_members; k++)
        members[k] = NULL;
    size_t done = 0, resumed_total = 0;
    cgdml_status first_error = CGDML_OK;
    if (opt->progress)
        opt->progress(opt->progress_ctx, 0, opt->n_members);
    char message[1024] = "";
    /* Side by side: one member per thread, and BLAS inside runs single-threaded
     * because the OpenMP build of OpenBLAS does so inside a parallel region. */
#pragma omp parallel for schedule(dynamic, 1) if (side)
    for (size_t k = 0; k < opt->n_members; k++) {
        int skip;
#pragma omp atomic read
        skip = first_error;
        if (skip)
            continue;
        int resumed;
        cgdml_status sk = train_member(data, strata, prior, opt, k, &members[k], &resumed);
#pragma omp critical(cgdml_layer1)
        {
            resumed_total += (size_t)resumed;
            if (sk && !first_error) {
                first_error = sk;
                snprintf(message, sizeof message, "%s", cgdml_error_message());
            }
            done++;
            if (opt->progress && !sk)
                opt->progress(opt->progress_ctx, done, opt->n_members);
        }
    }
    if (opt->n_resumed)
        *opt->n_resumed = resumed_total;
    if (first_error) {
        for (size_t k = 0; k < opt->n_members; k++) {
            cgdml_model_free(members[k]);
            members[k] = NULL;
        }
        return cgdml_error_set(first_error, "%s", message);
    }
    return CGDML_OK;
}

cgdml_status cgdml_ensemble_average(cgdml_model *const *members, size_t k, cgdml_model **out)
{
    *out = NULL;
    size_t total = 0;
    for (size_t i = 0; i < k; i++) {
        if (members[i]->sigma != members[0]->sigma || members[i]->n_beads != members[0]->n_beads)
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "member %zu has sigma %g and %zu beads; member 0 has %g and "
                                   "%zu: an average needs one sigma",
                                   i, members[i]->sigma, members[i]->n_beads, members[0]->sigma,
                                   members[0]->n_beads);
        total += members[i]->n_train;
    }
    cgdml_model *a;
    cgdml_status s = cgdml_model_alloc(total, members[0]->n_beads, &a);
    if (s)
        return s;
    size_t d = a->n_desc, at = 0;
    for (size_t i = 0; i < k; i++) {
        const cgdml_model *m = members[i];
        memcpy(a->train_desc + at * d, m->train_desc, m->n_train * d * sizeof(double));
        memcpy(a->train_indices + at, m->train_indices, m->n_train * sizeof(size_t));
        for (size_t e = 0; e < m->n_train * d; e++)
            a->gamma[at * d + e] = m->gamma[e] / (double)k;
        at += m->n_train;
    }
    a->kind = CGDML_MODEL_AVERAGE;
    a->sigma = members[0]->sigma;
    a->lambda = members[0]->lambda;
    a->dataset_hash = members[0]->dataset_hash;
    memcpy(a->bead_names, members[0]->bead_names, a->n_beads * sizeof *a->bead_names);
    s = cgdml_model_prepare(a);
    if (s) {
        cgdml_model_free(a);
        return s;
    }
    *out = a;
    return CGDML_OK;
}

cgdml_status cgdml_ensemble_label(const cgdml_model *average, const cgdml_dataset *data,
                                  const size_t *idx, size_t n, double *out)
{
    size_t n3 = 3 * data->n_beads;
    double *x = malloc(n * n3 * sizeof(double));
    if (!x)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu frames", n);
    for (size_t t = 0; t < n; t++)
        memcpy(x + t * n3, data->coords + idx[t] * n3, n3 * sizeof(double));
    cgdml_model kernel_part = *average;
    kernel_part.prior = NULL;
    cgdml_status s = cgdml_model_predict(&kernel_part, n, x, out, NULL);
    free(x);
    return s;
}

cgdml_status cgdml_ensemble_distill(const cgdml_model *average, const cgdml_dataset *data,
                                    const size_t *idx, size_t n, double sigma2, double lambda,
                                    cgdml_precision precision, cgdml_model **out)
{
    *out = NULL;
    double *labels = malloc(n * 3 * data->n_beads * sizeof(double));
    if (!labels)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the mean-set labels");
    cgdml_status s = cgdml_ensemble_label(average, data, idx, n, labels);
    if (!s)
        s = cgdml_model_train_precision(data, idx, n, labels, sigma2, lambda, precision, NULL,
                                        out);
    if (!s)
        (*out)->kind = CGDML_MODEL_DISTILLED;
    if (!s && average->prior)
        s = cgdml_model_attach_prior(*out, average->prior);
    free(labels);
    if (s) {
        cgdml_model_free(*out);
        *out = NULL;
        return cgdml_error_wrap(s, "layer 2 (sigma2 = %g)", sigma2);
    }
    return CGDML_OK;
}

cgdml_status cgdml_model_attach_prior(cgdml_model *model, const cgdml_prior *prior)
{
    cgdml_prior *copy = NULL;
    cgdml_status s = cgdml_prior_copy(prior, &copy);
    if (s)
        return s;
    cgdml_prior_free(model->prior);
    model->prior = copy;
    return CGDML_OK;
}
