/* cmd_model.c - `cgdml train`, `cgdml predict` and `cgdml eval`: one GDML model
 * from a dataset (by Cholesky, or by conjugate gradients with a checkpoint that
 * --resume continues), its predictions, and its force errors.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ranks.h"

static void report_cholesky(const cgdml_model *m, const cgdml_train_stats *st)
{
    double n = 3.0 * (double)m->n_beads * (double)m->n_train;
    cli_note("  assembly     %8.2f s   (%.0f x %.0f, %.2f GB packed)\n", st->assembly_s, n, n,
             (double)st->matrix_bytes / 1e9);
    cli_note("  Cholesky     %8.2f s   (%.1f GFLOP/s)\n", st->factor_s,
             n * n * n / 3.0 / fmax(st->factor_s, 1e-9) / 1e9);
    cli_note("  solve        %8.2f s\n", st->solve_s);
    if (st->precision == CGDML_PRECISION_MIXED)
        cli_note("  mixed precision: single-precision factor, %d refinement steps\n",
                 st->refinements);
    if (st->fallback[0])
        cli_note("  mixed precision fell back to double: %s\n", st->fallback);
}

static void report_cg(const cgdml_cg_stats *cg)
{
    if (cg->n_blocks)
        cli_note("  preconditioner %6.2f s   (%zu blocks of up to %zu frames, ridge %g, %.2f GB)\n",
                 cg->setup_s, cg->n_blocks, cg->block_frames, cg->preconditioner_ridge,
                 (double)cg->preconditioner_bytes / 1e9);
    else if (cg->landmarks)
        cli_note("  preconditioner %6.2f s   (Nystrom, %zu landmark frames, %.2f GB)\n", cg->setup_s,
                 cg->landmarks, (double)cg->preconditioner_bytes / 1e9);
    else
        cli_note("  preconditioner   none\n");
    if (cg->resumed_from)
        cli_note("  resumed from iteration %zu\n", cg->resumed_from);
    cli_note("  CG           %8.2f s   (%zu iterations, relative residual %.3g; products %.2f s, "
             "preconditioner %.2f s)\n",
             cg->iterate_s, cg->iterations, cg->relative_residual, cg->product_s, cg->apply_s);
}

static void report_training(const cgdml_model *m, const cgdml_train_stats *st)
{
    cli_note("  descriptors  %8.2f s\n", st->descriptor_s);
    if (st->solver == CGDML_SOLVER_CG)
        report_cg(&st->cg);
    else
        report_cholesky(m, st);
    cli_note("  peak resident %.2f GB (predicted for training: %.2f GB, plus the data and the "
             "program)\n",
             (double)cgdml_memory_peak_rss() / 1e9, (double)st->peak_bytes / 1e9);
}

/* CG-only options need --solver cg, and --precision does not apply to it; values
 * are checked once the frames are known (cg_options). */
static int check_solver_options(const cli_options *opt)
{
    if (opt->solver != CGDML_SOLVER_CG && opt->cg_option)
        return cli_usage_error("train: --%s applies to --solver cg", opt->cg_option);
    if (opt->solver == CGDML_SOLVER_CG && opt->have_precision)
        return cli_usage_error("train: --precision applies to --solver cholesky (CG iterates in "
                               "double precision with a single-precision preconditioner)");
    if (opt->solver == CGDML_SOLVER_CG && opt->block_frames &&
        opt->preconditioner != CGDML_CG_PRECONDITIONER_BLOCKS)
        return cli_usage_error("train: --block-frames applies to --preconditioner blocks");
    if (opt->solver == CGDML_SOLVER_CG && opt->landmarks &&
        opt->preconditioner != CGDML_CG_PRECONDITIONER_NYSTROM)
        return cli_usage_error("train: --landmarks applies to --preconditioner nystrom");
    if (opt->teacher && opt->train_prior)
        return cli_usage_error("train: --teacher brings the teacher's prior; --prior does not "
                               "apply");
    if (opt->distributed && (opt->solver == CGDML_SOLVER_CG || opt->have_precision))
        return cli_usage_error("train: --distributed solves the dense system in double "
                               "precision with ScaLAPACK; --solver cg and --precision do not "
                               "apply");
    if (opt->solver != CGDML_SOLVER_CG && opt->resume)
        return cli_usage_error("train: --resume applies to --solver cg (a Cholesky solve has no "
                               "checkpoint)");
    return CLI_OK;
}

/* The CG options of the command line (the frames' strata, cg->keys, come later),
 * checked for n frames of n_beads beads. */
static int cg_options(const cli_options *opt, const char *checkpoint, size_t n, size_t n_beads,
                      cgdml_cg_options *cg)
{
    cli_cg_options(opt, cg);
    cg->checkpoint = checkpoint;
    cg->checkpoint_interval_s = opt->checkpoint_interval;
    cg->resume = opt->resume;
    cgdml_status s = cgdml_cg_options_check(cg, n, n_beads);
    return s ? cli_usage_error("train: %s", cgdml_error_message()) : CLI_OK;
}

/* Strata of the frames: the keys the preconditioner deals its blocks by. */
static cgdml_status frame_keys(const cli_options *opt, const cgdml_dataset *data, const size_t *idx,
                               size_t n, size_t **keys)
{
    *keys = NULL;
    if (opt->preconditioner == CGDML_CG_PRECONDITIONER_NONE)
        return CGDML_OK;
    cgdml_strata *strata;
    cgdml_status s = cli_build_strata(opt, data, &strata);
    if (s)
        return cgdml_error_wrap(s, "strata of the preconditioner's blocks");
    *keys = malloc(n * sizeof(size_t));
    if (!*keys)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the frames' strata");
    for (size_t t = 0; !s && t < n; t++)
        (*keys)[t] = strata->stratum_of[idx[t]];
    cgdml_strata_free(strata);
    return s;
}

/* With --teacher: its kernel forces at the frames, and its prior (handed over;
 * NULL if it has none). */
static cgdml_status teacher_labels(const cli_options *opt, const cgdml_dataset *data,
                                   const size_t *idx, size_t n, cgdml_prior **prior,
                                   double *labels)
{
    cgdml_model *teacher;
    cgdml_status s = cgdml_model_load(opt->teacher, &teacher);
    if (s)
        return s;
    if (teacher->n_beads != data->n_beads)
        s = cgdml_error_set(CGDML_ERR_INVALID, "the teacher %s has %zu beads but %s has %zu",
                            opt->teacher, teacher->n_beads, opt->data, data->n_beads);
    if (!s)
        s = cgdml_ensemble_label(teacher, data, idx, n, labels);
    if (!s && teacher->prior) {
        *prior = teacher->prior; /* the teacher's, handed over */
        teacher->prior = NULL;
    }
    cgdml_model_free(teacher);
    return s;
}

/* The labels and the prior: with --prior, the prior fitted on all frames and the
 * forces minus its forces; with --teacher, the teacher's kernel forces and its
 * prior; else NULL for both (the raw forces, no prior). */
static cgdml_status prior_labels(const cli_options *opt, const cgdml_dataset *data,
                                 const size_t *idx, size_t n, cgdml_prior **prior, double **labels)
{
    *prior = NULL;
    *labels = NULL;
    if (!opt->train_prior && !opt->teacher)
        return CGDML_OK;
    if (!(*labels = malloc(n * 3 * data->n_beads * sizeof(double))))
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the labels of %zu frames", n);
    if (opt->teacher)
        return teacher_labels(opt, data, idx, n, prior, *labels);
    cgdml_status s = cli_fit_prior(opt, data, prior);
    return s ? s : cgdml_prior_subtract(*prior, data, idx, n, *labels);
}

/* Train by CG, or by Cholesky in the precision asked for. */
static int train_selected(const cli_options *opt, const cgdml_dataset *data, const size_t *idx,
                          size_t n, const char *checkpoint, cgdml_train_stats *st, cgdml_model **m)
{
    size_t *keys = NULL;
    double *labels = NULL;
    cgdml_prior *prior = NULL;
    cgdml_cg_options cg;
    int cg_solver = opt->solver == CGDML_SOLVER_CG;
    int rc = cg_solver ? cg_options(opt, checkpoint, n, data->n_beads, &cg) : CLI_OK;
    if (rc)
        return rc;
    double need = cg_solver ? (double)cgdml_model_train_cg_bytes(n, data->n_beads, &cg)
                            : (double)cgdml_model_train_peak_bytes(
                                  n, data->n_beads, opt->sigma, opt->lambda,
                                  (cgdml_precision)opt->precision);
    if (opt->distributed)
        cli_note("training on %zu of %zu frames (%zu beads), sigma %g, lambda %g, Cholesky "
                 "across the MPI ranks (ScaLAPACK; each rank checks its piece)\n",
                 n, data->n_frames, data->n_beads, opt->sigma, opt->lambda);
    else
        cli_note("training on %zu of %zu frames (%zu beads), sigma %g, lambda %g, %s: needs "
                 "%.2f GB\n",
                 n, data->n_frames, data->n_beads, opt->sigma, opt->lambda,
                 cg_solver ? "conjugate gradients" : "Cholesky", need / 1e9);
    cgdml_status s = cgdml_model_check_duplicates(data, idx, n);
    if (!s)
        s = prior_labels(opt, data, idx, n, &prior, &labels);
    if (!s && cg_solver)
        s = frame_keys(opt, data, idx, n, &keys);
    cg.keys = keys;
    if (!s && opt->distributed)
        s = cli_ranks_train(data, idx, n, labels, opt->sigma, opt->lambda, st, m);
    else if (!s)
        s = cg_solver ? cgdml_model_train_cg(data, idx, n, labels, opt->sigma, opt->lambda, &cg, st,
                                             m)
                      : cgdml_model_train_precision(data, idx, n, labels, opt->sigma, opt->lambda,
                                                    (cgdml_precision)opt->precision, st, m);
    if (!s && prior)
        s = cgdml_model_attach_prior(*m, prior);
    if (!s && opt->teacher)
        (*m)->kind = CGDML_MODEL_DISTILLED;
    free(keys);
    free(labels);
    cgdml_prior_free(prior);
    return s ? cli_fail(s) : CLI_OK;
}

/* A checkpoint left by an interrupted CG solve is continued with --resume, never
 * overwritten without it. */
static int check_checkpoint(const cli_options *opt, const char *checkpoint)
{
    if (opt->solver != CGDML_SOLVER_CG || opt->resume || access(checkpoint, F_OK) != 0)
        return CLI_OK;
    cli_note("cgdml: error: %s holds the state of an interrupted CG solve: add --resume to "
             "continue it, or remove the file to start afresh\n",
             checkpoint);
    return CLI_FAILED;
}

/* Rank 0's (the only process's) part of `train`: data, frames, training, file. */
static int train_and_save(const cli_options *opt, const char *checkpoint)
{
    int rc;
    if (opt->solver == CGDML_SOLVER_CG && cgdml_atomic_clean(checkpoint))
        cli_note("removed a temporary file left by a killed run\n");
    cgdml_dataset *data;
    cgdml_status s = cli_load_dataset(opt->data, opt->group, &data);
    if (s)
        return cli_fail(s);
    size_t *idx, n;
    rc = cli_select_frames(opt, data->n_frames, 0, &idx, &n);
    cgdml_model *m = NULL;
    cgdml_train_stats st;
    if (!rc)
        rc = train_selected(opt, data, idx, n, checkpoint, &st, &m);
    if (!rc) {
        report_training(m, &st);
        s = cgdml_model_save(m, opt->output);
        rc = s ? cli_fail(s) : CLI_OK;
    }
    if (!rc && opt->solver == CGDML_SOLVER_CG && remove(checkpoint) != 0 && errno != ENOENT)
        cli_note("cgdml: warning: cannot remove %s: %s\n", checkpoint, strerror(errno));
    if (!rc)
        cli_note("wrote %s\n", opt->output);
    cgdml_model_free(m);
    free(idx);
    cgdml_dataset_free(data);
    return rc;
}

int cmd_train(const cli_options *opt)
{
    if (!opt->data)
        return cli_usage_error("train: give the dataset with --data FILE");
    if (!opt->have_sigma)
        return cli_usage_error("train: give the kernel length scale with --sigma S");
    const char *inputs[] = {opt->data, opt->indices, opt->teacher};
    char checkpoint[CGDML_PATH_MAX + 16];
    snprintf(checkpoint, sizeof checkpoint, "%s.checkpoint", opt->output ? opt->output : "");
    int rc = cli_check_output(opt->output, inputs, 3);
    if (!rc)
        rc = check_solver_options(opt);
    if (!rc)
        rc = check_checkpoint(opt, checkpoint);
    if (!rc)
        rc = cli_apply_resources(opt);
    if (!rc)
        rc = cli_ranks_start(opt, 0);
    if (rc)
        return rc;
    if (cli_ranks_rank() > 0) /* --distributed: the other ranks serve rank 0's solve */
        return cli_ranks_stop(cli_ranks_serve());
    rc = cli_ranks_release(train_and_save(opt, checkpoint));
    return cli_ranks_stop(rc);
}

/* Load the model and the dataset, check they fit, and choose the frames. */
static int load_model_and_data(const cli_options *opt, cgdml_model **m, cgdml_dataset **d)
{
    *m = NULL;
    *d = NULL;
    if (!opt->model || !opt->data)
        return cli_usage_error("give --model FILE and --data FILE");
    int rc = cli_apply_resources(opt);
    if (rc)
        return rc;
    cgdml_status s = cgdml_model_load(opt->model, m);
    if (!s)
        s = cli_load_dataset(opt->data, opt->group, d);
    if (!s && (*d)->n_beads != (*m)->n_beads)
        s = cgdml_error_set(CGDML_ERR_INVALID, "%s has %zu beads but the model %s has %zu",
                            opt->data, (*d)->n_beads, opt->model, (*m)->n_beads);
    return s ? cli_fail(s) : CLI_OK;
}

static cgdml_status write_predictions(const cli_options *opt, cgdml_dataset *sub,
                                      const double *forces, const double *energies)
{
    size_t shape[3] = {sub->n_frames, sub->n_beads, 3};
    size_t len = strlen(opt->output);
    cgdml_status s;
    if (len > 4 && !strcmp(opt->output + len - 4, ".npy")) {
        s = cgdml_npy_write(opt->output, forces, 3, shape);
    } else {
        memcpy(sub->forces, forces, sub->n_frames * sub->n_beads * 3 * sizeof(double));
        s = cgdml_h5md_write(opt->output, sub, NULL);
    }
    if (!s && energies)
        s = cgdml_npy_write(opt->energies, energies, 1, shape);
    return s;
}

/* What predict allocates for n frames: a copy of them (written out with .h5) and
 * the prediction's own buffers. */
static size_t predict_need(size_t n, const void *model)
{
    const cgdml_model *m = model;
    size_t copy = cgdml_dataset_bytes(n, m->n_beads), pred = cgdml_model_predict_bytes(m, n);
    return copy == SIZE_MAX || pred == SIZE_MAX || copy > SIZE_MAX - pred ? SIZE_MAX : copy + pred;
}

int cmd_predict(const cli_options *opt)
{
    const char *inputs[] = {opt->model, opt->data, opt->indices};
    int rc = cli_check_output(opt->output, inputs, 3);
    if (!rc && opt->energies)
        rc = cli_check_output(opt->energies, inputs, 3);
    cgdml_model *m = NULL;
    cgdml_dataset *d = NULL, *sub = NULL;
    size_t *idx = NULL, n = 0;
    if (!rc)
        rc = load_model_and_data(opt, &m, &d);
    if (!rc)
        rc = cli_select_frames(opt, d->n_frames, 1, &idx, &n);
    cgdml_status s = CGDML_OK;
    if (!rc)
        s = cgdml_memory_check_count(n, "frames", predict_need, m, "predicting");
    if (!rc && !s)
        s = cgdml_dataset_subset(d, idx, n, &sub);
    double *f = NULL, *e = NULL;
    if (!rc && !s) {
        f = malloc(n * sub->n_beads * 3 * sizeof(double));
        e = opt->energies ? malloc(n * sizeof(double)) : NULL;
        if (!f || (opt->energies && !e))
            s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate predictions for %zu frames", n);
    }
    if (!rc && !s) {
        double t0 = cgdml_clock_wall_seconds();
        s = cgdml_model_predict(m, n, sub->coords, f, e);
        cli_note("predicted %zu frames in %.2f s\n", n, cgdml_clock_wall_seconds() - t0);
    }
    if (!rc && !s)
        s = write_predictions(opt, sub, f, e);
    if (!rc && s)
        rc = cli_fail(s);
    free(f);
    free(e);
    free(idx);
    cgdml_dataset_free(sub);
    cgdml_dataset_free(d);
    cgdml_model_free(m);
    return rc;
}

/* The frames of the training dataset the model has not seen. */
static int held_out_frames(const cgdml_model *m, const cgdml_dataset *d, size_t **idx, size_t *n)
{
    if (cgdml_dataset_hash(d) != m->dataset_hash)
        return cli_usage_error("--held-out: the data is not the dataset this model was trained "
                               "on (hash %016llx, model's %016llx)",
                               (unsigned long long)cgdml_dataset_hash(d),
                               (unsigned long long)m->dataset_hash);
    cgdml_status s = cgdml_sample_complement(d->n_frames, m->train_indices, m->n_train, idx, n);
    if (!s && *n == 0)
        s = cgdml_error_set(CGDML_ERR_INVALID, "--held-out: the model was trained on every frame");
    return s ? cli_fail(s) : CLI_OK;
}

static void print_errors(const cgdml_force_errors *e, const cgdml_model *m)
{
    printf("frames %zu\nforce MSE %.6g (kcal/mol/Å)^2\nforce MAE %.6g kcal/mol/Å\n"
           "label variance %.6g (kcal/mol/Å)^2\nrelative MSE %.6g\n",
           e->n_frames, e->mse, e->mae, e->label_variance, e->relative_mse);
    printf("bead  name        MSE          MAE\n");
    for (size_t b = 0; b < e->n_beads; b++)
        printf("%4zu  %-6s %12.6g %12.6g\n", b, m->bead_names[b], e->bead_mse[b],
               e->bead_mae[b]);
}

int cmd_eval(const cli_options *opt)
{
    if (opt->held_out && opt->indices)
        return cli_usage_error("eval: give --indices or --held-out, not both");
    cgdml_model *m;
    cgdml_dataset *d;
    size_t *idx = NULL, n = 0;
    int rc = load_model_and_data(opt, &m, &d);
    if (!rc)
        rc = opt->held_out ? held_out_frames(m, d, &idx, &n)
                           : cli_select_frames(opt, d->n_frames, 1, &idx, &n);
    if (!rc) {
        cgdml_force_errors e;
        cgdml_status s = cgdml_model_evaluate(m, d, idx, n, &e);
        if (!s)
            print_errors(&e, m);
        cgdml_force_errors_free(&e);
        rc = s ? cli_fail(s) : CLI_OK;
    }
    free(idx);
    cgdml_dataset_free(d);
    cgdml_model_free(m);
    return rc;
}
