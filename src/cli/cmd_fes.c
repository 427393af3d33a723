/* cmd_fes.c - landscapes on the command line: `cgdml fes-reference` (the all-atom
 * reference F(φ, ψ) of a dataset and the statistical floor of the comparison
 * metric, first half against second half, docs/method.md §5) and `cgdml fes` (the
 * landscape of a CG trajectory, compared with a reference dataset).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Bytes of `*landscapes` landscapes of n_bins x n_bins held at once (each a count
 * and a free energy per bin, as cgdml_fes), SIZE_MAX on overflow. */
static size_t landscapes_need(size_t n_bins, const void *landscapes)
{
    size_t per_bin = *(const size_t *)landscapes * 2 * sizeof(double);
    if (n_bins > 0 && n_bins > SIZE_MAX / n_bins / per_bin)
        return SIZE_MAX;
    return n_bins * n_bins * per_bin;
}

/* Before reading anything: the landscapes a command holds at once must fit
 * (fes-reference: all frames and the two halves; fes: the trajectory's, plus
 * those three of a reference). */
static cgdml_status check_landscape_memory(const cli_options *opt, size_t landscapes)
{
    char what[96];
    snprintf(what, sizeof what, "holding %zu landscapes of %zu x %zu bins", landscapes, opt->bins,
             opt->bins);
    return cgdml_memory_check_count(opt->bins, "bins per angle", landscapes_need, &landscapes,
                                    what);
}

/* φ/ψ of every frame of d (observables, or the beads of --phi/--psi, or defaults). */
static cgdml_status dataset_angles(const cli_options *opt, const cgdml_dataset *d, double **phi,
                                   double **psi)
{
    *phi = *psi = NULL;
    cgdml_status s = cgdml_memory_check(2 * d->n_frames * sizeof(double), "the phi/psi angles");
    if (s)
        return s;
    *phi = malloc(d->n_frames * sizeof(double));
    *psi = malloc(d->n_frames * sizeof(double));
    if (!*phi || !*psi)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate angles");
    return cgdml_fes_angles(d, opt->phi ? opt->phi_beads : NULL, opt->psi ? opt->psi_beads : NULL,
                            *phi, *psi);
}

/* The landscape of a whole dataset and the floor: its first half against its
 * second half.  With angles not NULL, the dataset's φ and ψ are handed over in
 * angles[0], angles[1] (n_angles frames; the caller frees both). */
static cgdml_status reference_landscape(const cli_options *opt, const char *path,
                                        cgdml_fes **all, cgdml_fes_comparison *floor,
                                        double **angles, size_t *n_angles)
{
    cgdml_dataset *d = NULL;
    double *phi = NULL, *psi = NULL;
    cgdml_fes *first = NULL, *second = NULL;
    *all = NULL;
    cgdml_status s = cli_load_dataset(path, opt->group, &d);
    if (!s && d->n_frames < 2)
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "%s has 1 frame; a landscape and its floor need at least 2", path);
    if (!s)
        s = dataset_angles(opt, d, &phi, &psi);
    size_t n = d ? d->n_frames : 0, half = n / 2;
    if (!s)
        s = cgdml_fes_from_angles(phi, psi, n, opt->bins, all);
    if (!s)
        s = cgdml_fes_from_angles(phi, psi, half, opt->bins, &first);
    if (!s)
        s = cgdml_fes_from_angles(phi + half, psi + half, n - half, opt->bins, &second);
    if (!s)
        s = cgdml_fes_compare(first, second, floor);
    cgdml_fes_free(first);
    cgdml_fes_free(second);
    if (!s && angles) {
        angles[0] = phi;
        angles[1] = psi;
        *n_angles = n;
        phi = psi = NULL;
    }
    free(phi);
    free(psi);
    cgdml_dataset_free(d);
    return s;
}

static size_t populated_bins(const cgdml_fes *f)
{
    size_t k = 0;
    for (size_t b = 0; b < f->n_bins * f->n_bins; b++)
        k += f->count[b] > 0;
    return k;
}

static int check_fes_options(const cli_options *opt, const char *input, const char *flag)
{
    if (!input)
        return cli_usage_error("give the input with %s FILE", flag);
    if (!!opt->phi != !!opt->psi)
        return cli_usage_error("--phi and --psi go together");
    const char *inputs[] = {input, opt->reference};
    int rc = cli_check_output(opt->output, inputs, 2);
    return rc ? rc : cli_apply_resources(opt);
}

int cmd_fes_reference(const cli_options *opt)
{
    int rc = check_fes_options(opt, opt->data, "--data");
    if (rc)
        return rc;
    cgdml_fes *all = NULL;
    cgdml_fes_comparison floor;
    cgdml_status s = check_landscape_memory(opt, 3);
    if (!s)
        s = reference_landscape(opt, opt->data, &all, &floor, NULL, NULL);
    if (!s)
        s = cgdml_fes_save(all, floor.mse, NULL, NULL, NULL, opt->output);
    if (!s) {
        printf("frames %zu\nbins %zu x %zu, populated %zu\n"
               "floor (first half vs second half) %.4f kT^2 over %zu joint bins\n",
               all->n_samples, opt->bins, opt->bins, populated_bins(all), floor.mse,
               floor.joint_bins);
        cli_note("wrote %s\n", opt->output);
    }
    cgdml_fes_free(all);
    return s ? cli_fail(s) : CLI_OK;
}

/* The trajectory's landscape (production frames after --burn-in, and its halves),
 * and against a reference: the comparison, the reference's floor and the floor
 * matched to the trajectory's size and correlation. */
static cgdml_status trajectory_against_reference(const cli_options *opt, const cgdml_dataset *t,
                                                 cgdml_fes **model, cgdml_fes **ref,
                                                 cli_fes_summary *sum)
{
    const int *pb = opt->phi ? opt->phi_beads : NULL, *qb = opt->psi ? opt->psi_beads : NULL;
    double *angles[2] = {NULL, NULL};
    size_t n_ref = 0;
    cgdml_fes_comparison floor = {.mse = NAN};
    cgdml_status s = cgdml_fes_trajectory(t, (int64_t)opt->burn_in, opt->bins, pb, qb, model,
                                          &sum->halves);
    if (!s && opt->reference)
        s = reference_landscape(opt, opt->reference, ref, &floor, angles, &n_ref);
    if (!s && *ref)
        s = cgdml_fes_compare(*model, *ref, &sum->vs);
    if (!s && *ref)
        s = cgdml_fes_matched_floor(t, (int64_t)opt->burn_in, pb, qb, angles[0], angles[1], n_ref,
                                    opt->bins, opt->seed, &sum->matched);
    sum->floor = floor.mse;
    free(angles[0]);
    free(angles[1]);
    return s;
}

cgdml_status cli_fes_compute(const cli_options *opt, const char *traj_group, cli_fes_summary *sum)
{
    cgdml_fes *model = NULL, *ref = NULL;
    cgdml_dataset *t = NULL;
    memset(sum, 0, sizeof *sum);
    sum->floor = NAN;
    cgdml_status s = check_landscape_memory(opt, opt->reference ? 4 : 1);
    if (!s)
        s = cgdml_h5md_read(opt->traj, traj_group, &t);
    if (!s)
        s = trajectory_against_reference(opt, t, &model, &ref, sum);
    if (s && t)
        s = cgdml_error_wrap(s, "%s", opt->traj);
    if (!s)
        s = cgdml_fes_save(model, sum->floor, ref ? &sum->vs : NULL, &sum->halves,
                           ref ? &sum->matched : NULL, opt->output);
    if (!s) {
        sum->has_reference = ref != NULL;
        sum->samples = model->n_samples;
        sum->populated = populated_bins(model);
    }
    cgdml_fes_free(model);
    cgdml_fes_free(ref);
    cgdml_dataset_free(t);
    return s;
}

int cmd_fes(const cli_options *opt)
{
    int rc = check_fes_options(opt, opt->traj, "--traj");
    if (rc)
        return rc;
    cli_fes_summary sum;
    cgdml_status s = cli_fes_compute(opt, opt->group, &sum);
    if (s)
        return cli_fail(s);
    printf("frames %zu after a burn-in of %zu steps\nbins %zu x %zu, populated %zu\n"
           "convergence: first half vs second half of the production steps %.4f kT^2\n",
           sum.samples, opt->burn_in, opt->bins, opt->bins, sum.populated, sum.halves.mse);
    if (sum.has_reference)
        printf("MSE vs reference %.4f kT^2 over %zu joint bins (floor %.4f kT^2)\n"
               "matched floor (reference blocks of this run's size and correlation) %.4f +- "
               "%.4f kT^2\n"
               "MSE weighted by reference population %.4f kT^2\n"
               "KL(reference || model) %.4f\nreference population the model never visits "
               "%.4f\nmodel population where the reference never goes %.4f\n",
               sum.vs.mse, sum.vs.joint_bins, sum.floor, sum.matched.floor,
               sum.matched.floor_sd, sum.vs.mse_weighted, sum.vs.kl,
               sum.vs.missing, sum.vs.extra);
    cli_note("wrote %s\n", opt->output);
    return CLI_OK;
}
