/* fes.c - dihedral angles, (φ, ψ) free-energy landscapes, their comparison metric
 * and their HDF5 file (see cgdml/fes.h and docs/method.md §5).
 */
#include "cgdml/fes.h"

#include <gsl/gsl_rng.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/geometry.h"
#include "cgdml/memory.h"
#include "h5util.h"

static cgdml_status check_beads(const int *q, size_t n_beads, const char *name)
{
    for (int k = 0; k < 4; k++)
        if (q[k] < 0 || (size_t)q[k] >= n_beads)
            return cgdml_error_set(CGDML_ERR_INVALID, "%s bead %d is outside 0..%zu", name, q[k],
                                   n_beads - 1);
    return CGDML_OK;
}

cgdml_status cgdml_fes_angles(const cgdml_dataset *data, const int *phi_beads,
                              const int *psi_beads, double *phi, double *psi)
{
    const double *obs_phi = cgdml_dataset_observable(data, "phi");
    const double *obs_psi = cgdml_dataset_observable(data, "psi");
    size_t n = data->n_frames, n3 = 3 * data->n_beads;
    int defaults[2][4];
    cgdml_status s = CGDML_OK;
    if (!phi_beads && obs_phi && obs_psi) {
        memcpy(phi, obs_phi, n * sizeof(double));
        memcpy(psi, obs_psi, n * sizeof(double));
        return CGDML_OK;
    }
    if (!phi_beads) {
        s = cgdml_geometry_phi_psi_beads(data->n_beads, defaults[0], defaults[1]);
        phi_beads = defaults[0];
        psi_beads = defaults[1];
    }
    if (!s)
        s = check_beads(phi_beads, data->n_beads, "phi");
    if (!s)
        s = check_beads(psi_beads, data->n_beads, "psi");
    if (s)
        return s;
    for (size_t f = 0; f < n; f++) {
        const double *x = data->coords + f * n3;
        phi[f] = cgdml_geometry_dihedral(x, phi_beads[0], phi_beads[1], phi_beads[2], phi_beads[3]);
        psi[f] = cgdml_geometry_dihedral(x, psi_beads[0], psi_beads[1], psi_beads[2], psi_beads[3]);
    }
    return CGDML_OK;
}

/* Periodic bin of an angle in radians: [-π, π) onto 0..n-1. */
static size_t angle_bin(double angle, size_t n)
{
    double t = (angle + M_PI) / (2.0 * M_PI);
    t -= floor(t);
    size_t b = (size_t)(t * (double)n);
    return b < n ? b : 0;
}

/* Bytes of one landscape of n_bins x n_bins: counts and free energies. */
static size_t landscape_need(size_t n_bins, const void *ctx)
{
    (void)ctx;
    if (n_bins > 0 && n_bins > SIZE_MAX / n_bins / (2 * sizeof(double)))
        return SIZE_MAX;
    return n_bins * n_bins * 2 * sizeof(double);
}

cgdml_status cgdml_fes_from_angles(const double *phi, const double *psi, size_t n,
                                   size_t n_bins, cgdml_fes **out)
{
    *out = NULL;
    if (n == 0 || n_bins < 2 || n_bins > 100000)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "landscape of %zu samples on %zu bins: need samples and 2 to "
                               "100000 bins",
                               n, n_bins);
    cgdml_status s =
        cgdml_memory_check_count(n_bins, "bins per angle", landscape_need, NULL, "a landscape");
    if (s)
        return s;
    cgdml_fes *f = calloc(1, sizeof *f);
    if (f) {
        f->count = calloc(n_bins * n_bins, sizeof(double));
        f->free_energy = malloc(n_bins * n_bins * sizeof(double));
    }
    if (!f || !f->count || !f->free_energy) {
        cgdml_fes_free(f);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a %zu x %zu landscape", n_bins,
                               n_bins);
    }
    f->n_bins = n_bins;
    for (size_t k = 0; k < n; k++) {
        if (!isfinite(phi[k]) || !isfinite(psi[k]))
            continue;
        f->count[angle_bin(phi[k], n_bins) * n_bins + angle_bin(psi[k], n_bins)] += 1.0;
        f->n_samples++;
    }
    double top = 0.0;
    for (size_t b = 0; b < n_bins * n_bins; b++)
        top = fmax(top, f->count[b]);
    for (size_t b = 0; b < n_bins * n_bins; b++)
        f->free_energy[b] = f->count[b] > 0 ? -log(f->count[b] / top) : NAN;
    *out = f;
    return CGDML_OK;
}

void cgdml_fes_free(cgdml_fes *fes)
{
    if (!fes)
        return;
    free(fes->count);
    free(fes->free_energy);
    free(fes);
}

/* KL divergence over the joint bins, the population of b that a misses, that of a
 * where b has none, and the MSE weighted by b's population. */
static void population_measures(const cgdml_fes *a, const cgdml_fes *b, cgdml_fes_comparison *out)
{
    size_t nb = a->n_bins * a->n_bins;
    double joint_a = 0.0, joint_b = 0.0, total_a = 0.0, total_b = 0.0, missed_b = 0.0,
           extra_a = 0.0;
    for (size_t k = 0; k < nb; k++) {
        total_a += a->count[k];
        total_b += b->count[k];
        if (a->count[k] > 0 && b->count[k] > 0) {
            joint_a += a->count[k];
            joint_b += b->count[k];
        } else if (b->count[k] > 0) {
            missed_b += b->count[k];
        } else {
            extra_a += a->count[k];
        }
    }
    double wsum = 0.0, wsum2 = 0.0;
    for (size_t k = 0; k < nb; k++)
        if (a->count[k] > 0 && b->count[k] > 0) {
            double diff = a->free_energy[k] - b->free_energy[k], w = b->count[k] / joint_b;
            wsum += w * diff;
            wsum2 += w * diff * diff;
        }
    out->mse_weighted = fmax(wsum2 - wsum * wsum, 0.0);
    out->extra = total_a > 0 ? extra_a / total_a : 0.0;
    double kl = 0.0;
    for (size_t k = 0; k < nb; k++)
        if (a->count[k] > 0 && b->count[k] > 0) {
            double p = b->count[k] / joint_b, q = a->count[k] / joint_a;
            kl += p * log(p / q);
        }
    out->kl = kl;
    out->missing = total_b > 0 ? missed_b / total_b : 0.0;
}

cgdml_status cgdml_fes_compare(const cgdml_fes *a, const cgdml_fes *b,
                               cgdml_fes_comparison *out)
{
    memset(out, 0, sizeof *out);
    if (a->n_bins != b->n_bins)
        return cgdml_error_set(CGDML_ERR_INVALID, "landscapes of %zu and %zu bins differ",
                               a->n_bins, b->n_bins);
    size_t nb = a->n_bins * a->n_bins, joint = 0;
    double sum = 0.0, sum2 = 0.0;
    for (size_t k = 0; k < nb; k++) {
        double diff = a->free_energy[k] - b->free_energy[k];
        if (isnan(diff))
            continue;
        sum += diff;
        sum2 += diff * diff;
        joint++;
    }
    if (joint == 0)
        return cgdml_error_set(CGDML_ERR_NUMERIC, "the two landscapes share no populated bin");
    out->joint_bins = joint;
    out->shift = sum / (double)joint;
    out->mse = fmax(sum2 / (double)joint - out->shift * out->shift, 0.0);
    population_measures(a, b, out);
    return CGDML_OK;
}

/* The landscape of the frames at steps in (lo, hi]; the scratch arrays hold n
 * angles each. */
static cgdml_status landscape_between(const cgdml_dataset *t, const double *phi,
                                      const double *psi, int64_t lo, int64_t hi, size_t n_bins,
                                      double *scratch_phi, double *scratch_psi, cgdml_fes **out)
{
    size_t n = 0;
    for (size_t k = 0; k < t->n_frames; k++)
        if (t->step[k] > lo && t->step[k] <= hi) {
            scratch_phi[n] = phi[k];
            scratch_psi[n++] = psi[k];
        }
    return cgdml_fes_from_angles(scratch_phi, scratch_psi, n, n_bins, out);
}

cgdml_status cgdml_fes_trajectory(const cgdml_dataset *traj, int64_t burn_in, size_t n_bins,
                                  const int *phi_beads, const int *psi_beads,
                                  cgdml_fes **production, cgdml_fes_comparison *halves)
{
    *production = NULL;
    size_t nf = traj->n_frames;
    double *phi = malloc((nf ? nf : 1) * 4 * sizeof(double)), *psi = phi + nf;
    if (!phi)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the angles of %zu frames", nf);
    cgdml_status s = cgdml_fes_angles(traj, phi_beads, psi_beads, phi, psi);
    int64_t last = burn_in;
    for (size_t k = 0; k < nf; k++)
        last = traj->step[k] > last ? traj->step[k] : last;
    int64_t mid = burn_in + (last - burn_in) / 2;
    size_t n1 = 0, n2 = 0; /* finite production frames in each half */
    for (size_t k = 0; !s && k < nf; k++)
        if (traj->step[k] > burn_in && isfinite(phi[k]) && isfinite(psi[k]))
            traj->step[k] <= mid ? n1++ : n2++;
    if (!s && (n1 == 0 || n2 == 0))
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "%zu of %zu frames lie after the burn-in of %lld steps (%zu and %zu "
                            "in the two halves of the production steps); a landscape and its "
                            "convergence check need both halves (shorten the burn-in or run "
                            "longer)",
                            n1 + n2, nf, (long long)burn_in, n1, n2);
    cgdml_fes *first = NULL, *second = NULL;
    if (!s)
        s = landscape_between(traj, phi, psi, burn_in, last, n_bins, psi + nf, psi + 2 * nf,
                              production);
    if (!s)
        s = landscape_between(traj, phi, psi, burn_in, mid, n_bins, psi + nf, psi + 2 * nf, &first);
    if (!s)
        s = landscape_between(traj, phi, psi, mid, last, n_bins, psi + nf, psi + 2 * nf, &second);
    if (!s)
        s = cgdml_fes_compare(first, second, halves);
    cgdml_fes_free(first);
    cgdml_fes_free(second);
    free(phi);
    if (s) {
        cgdml_fes_free(*production);
        *production = NULL;
    }
    return s;
}

static cgdml_status write_comparison(hid_t g, const cgdml_fes_comparison *c)
{
    unsigned long long joint = c->joint_bins;
    cgdml_status s = cgdml_h5_write_attr(g, "mse_kT2", H5T_NATIVE_DOUBLE, &c->mse);
    if (!s) s = cgdml_h5_write_attr(g, "shift_kT", H5T_NATIVE_DOUBLE, &c->shift);
    if (!s) s = cgdml_h5_write_attr(g, "kl", H5T_NATIVE_DOUBLE, &c->kl);
    if (!s) s = cgdml_h5_write_attr(g, "missing_population", H5T_NATIVE_DOUBLE, &c->missing);
    if (!s) s = cgdml_h5_write_attr(g, "joint_bins", H5T_NATIVE_ULLONG, &joint);
    if (!s) s = cgdml_h5_write_attr(g, "mse_weighted_kT2", H5T_NATIVE_DOUBLE, &c->mse_weighted);
    if (!s) s = cgdml_h5_write_attr(g, "extra_population", H5T_NATIVE_DOUBLE, &c->extra);
    return s;
}

static cgdml_status write_fes_group(hid_t file, const cgdml_fes *fes, double floor,
                                    const cgdml_fes_comparison *vs,
                                    const cgdml_fes_comparison *halves,
                                    const cgdml_fes_matched *m)
{
    size_t n = fes->n_bins;
    hsize_t dims[2] = {n, n}, nedge = n + 1;
    double *edges = malloc((n + 1) * sizeof(double));
    if (!edges)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate bin edges");
    for (size_t k = 0; k <= n; k++)
        edges[k] = -M_PI + 2.0 * M_PI * (double)k / (double)n;
    unsigned long long samples = fes->n_samples;
    hid_t g = H5Gcreate2(file, "/fes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cgdml_status s = g < 0 ? cgdml_error_set(CGDML_ERR_IO, "cannot create /fes") : CGDML_OK;
    if (!s) s = cgdml_h5_write_array(g, "free_energy", H5T_NATIVE_DOUBLE, 2, dims, fes->free_energy);
    if (!s) s = cgdml_h5_write_array(g, "count", H5T_NATIVE_DOUBLE, 2, dims, fes->count);
    if (!s) s = cgdml_h5_write_array(g, "edges", H5T_NATIVE_DOUBLE, 1, &nedge, edges);
    if (!s) s = cgdml_h5_write_attr(g, "n_samples", H5T_NATIVE_ULLONG, &samples);
    if (!s) s = cgdml_h5_write_attr(g, "floor_mse_kT2", H5T_NATIVE_DOUBLE, &floor);
    if (!s) s = cgdml_h5_write_attr_string(g, "unit", "kT");
    if (!s && vs) s = write_comparison(g, vs);
    if (!s && halves) s = cgdml_h5_write_attr(g, "halves_mse_kT2", H5T_NATIVE_DOUBLE, &halves->mse);
    if (!s && m) s = cgdml_h5_write_attr(g, "matched_floor_kT2", H5T_NATIVE_DOUBLE, &m->floor);
    if (!s && m) s = cgdml_h5_write_attr(g, "matched_floor_sd_kT2", H5T_NATIVE_DOUBLE, &m->floor_sd);
    if (!s && m) s = cgdml_h5_write_attr(g, "tau_model_frames", H5T_NATIVE_DOUBLE, &m->tau_model);
    if (!s && m) s = cgdml_h5_write_attr(g, "tau_reference_frames", H5T_NATIVE_DOUBLE, &m->tau_reference);
    if (g >= 0)
        H5Gclose(g);
    free(edges);
    return s;
}

typedef struct {
    const cgdml_fes *fes;
    double floor;
    const cgdml_fes_comparison *vs, *halves;
    const cgdml_fes_matched *matched;
} fes_file;

static cgdml_status write_fes_file(hid_t file, const void *ctx)
{
    const fes_file *f = ctx;
    return write_fes_group(file, f->fes, f->floor, f->vs, f->halves, f->matched);
}

cgdml_status cgdml_fes_save(const cgdml_fes *fes, double floor,
                            const cgdml_fes_comparison *vs_reference,
                            const cgdml_fes_comparison *halves, const cgdml_fes_matched *matched,
                            const char *path)
{
    fes_file f = {fes, floor, vs_reference, halves, matched};
    return cgdml_h5_save(path, "landscape", write_fes_file, &f);
}

/* ---- the matched floor (docs/method.md §6) -------------------------------------- */

/* The slow basin indicator of a backbone: α (-115° < ψ < 46°) against β. */
static double alpha_indicator(double psi)
{
    return psi > -115.0 * M_PI / 180.0 && psi < 46.0 * M_PI / 180.0 ? 1.0 : 0.0;
}

double cgdml_fes_autocorrelation_time(const double *x, size_t n_series, size_t len)
{
    size_t n = n_series * len;
    double mean = 0.0, c0 = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += x[i] / (double)n;
    for (size_t i = 0; i < n; i++)
        c0 += (x[i] - mean) * (x[i] - mean) / (double)n;
    if (!(c0 > 0) || len < 2)
        return 1.0; /* constant: every frame tells the same */
    double tau = 1.0;
    for (size_t t = 1; t < len; t++) {
        double ct = 0.0;
        for (size_t s = 0; s < n_series; s++)
            for (size_t i = 0; i + t < len; i++)
                ct += (x[s * len + i] - mean) * (x[s * len + i + t] - mean);
        tau += 2.0 * ct / ((double)(n_series * (len - t)) * c0);
        if ((double)t >= CGDML_FES_SOKAL_WINDOW * tau)
            break;
    }
    return fmax(tau, 1.0);
}

/* The "replica" observable of a trajectory, NULL if it has none (one replica). */
static const double *replica_of_frames(const cgdml_dataset *t)
{
    for (size_t o = 0; o < t->n_observables; o++)
        if (!strcmp(t->observables[o].name, "replica"))
            return t->observables[o].value;
    return NULL;
}

/* The production frames' indicator by replica, ind[r][0..len), for the replicas
 * that have production frames, each cut to the shortest such length. */
static cgdml_status replica_series(const cgdml_dataset *t, int64_t burn_in, const double *psi,
                                   double **ind, size_t *n_rep, size_t *len)
{
    const double *rep = replica_of_frames(t);
    size_t nr = 1;
    for (size_t k = 0; rep && k < t->n_frames; k++)
        nr = (size_t)rep[k] + 1 > nr ? (size_t)rep[k] + 1 : nr;
    size_t *count = calloc(2 * nr, sizeof *count), *row = count + nr;
    *ind = malloc((t->n_frames ? t->n_frames : 1) * sizeof(double));
    if (!count || !*ind) {
        free(count);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate replica series");
    }
    for (size_t k = 0; k < t->n_frames; k++)
        if (t->step[k] > burn_in && isfinite(psi[k]))
            count[rep ? (size_t)rep[k] : 0]++;
    *n_rep = 0;
    *len = SIZE_MAX;
    for (size_t r = 0; r < nr; r++)
        if (count[r]) {
            row[r] = (*n_rep)++;
            *len = count[r] < *len ? count[r] : *len;
        }
    memset(count, 0, nr * sizeof *count); /* now: values stored per replica */
    for (size_t k = 0; *n_rep && k < t->n_frames; k++) {
        size_t r = rep ? (size_t)rep[k] : 0;
        if (t->step[k] > burn_in && isfinite(psi[k]) && count[r] < *len)
            (*ind)[row[r] * *len + count[r]++] = alpha_indicator(psi[k]);
    }
    if (!*n_rep)
        *len = 0;
    free(count);
    return CGDML_OK;
}

/* MSE against `other` of one sample of `blocks` random blocks of `len` frames of
 * phi/psi[0..n). */
static cgdml_status block_sample_mse(const double *phi, const double *psi, size_t n,
                                     size_t blocks, size_t len, const cgdml_fes *other,
                                     gsl_rng *rng, double *sp, double *ss, double *mse)
{
    for (size_t b = 0; b < blocks; b++) {
        size_t at = gsl_rng_uniform_int(rng, n - len + 1);
        memcpy(sp + b * len, phi + at, len * sizeof(double));
        memcpy(ss + b * len, psi + at, len * sizeof(double));
    }
    cgdml_fes *f = NULL;
    cgdml_fes_comparison c;
    cgdml_status s = cgdml_fes_from_angles(sp, ss, blocks * len, other->n_bins, &f);
    if (!s)
        s = cgdml_fes_compare(f, other, &c);
    *mse = c.mse;
    cgdml_fes_free(f);
    return s;
}

cgdml_status cgdml_fes_matched_floor(const cgdml_dataset *traj, int64_t burn_in,
                                     const int *phi_beads, const int *psi_beads,
                                     const double *ref_phi, const double *ref_psi, size_t n_ref,
                                     size_t n_bins, unsigned long seed, cgdml_fes_matched *out)
{
    memset(out, 0, sizeof *out);
    size_t nf = traj->n_frames, n_rep = 0, len = 0;
    double *ang = malloc(((nf ? nf : 1) * 2 + n_ref * 3) * sizeof(double)), *ind = NULL;
    if (!ang)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the matched floor's angles");
    double *psi = ang + nf, *ref_ind = psi + nf, *sp = ref_ind + n_ref, *ss = sp + n_ref;
    cgdml_status s = cgdml_fes_angles(traj, phi_beads, psi_beads, ang, psi);
    if (!s)
        s = replica_series(traj, burn_in, psi, &ind, &n_rep, &len);
    if (!s && (n_rep == 0 || len < 2 || n_ref < 4 * n_rep))
        s = cgdml_error_set(CGDML_ERR_INVALID,
                            "matched floor: %zu replicas of %zu production frames, %zu "
                            "reference frames; need 2 frames per replica and 4 reference "
                            "frames per replica",
                            n_rep, len, n_ref);
    if (!s) {
        for (size_t k = 0; k < n_ref; k++)
            ref_ind[k] = alpha_indicator(ref_psi[k]);
        out->tau_model = cgdml_fes_autocorrelation_time(ind, n_rep, len);
        out->tau_reference = cgdml_fes_autocorrelation_time(ref_ind, 1, n_ref);
        out->blocks = n_rep;
        double want = ceil((double)len * out->tau_reference / out->tau_model);
        out->block_frames = want < 1 ? 1 : (size_t)want;
        if (out->block_frames > n_ref / 2 / n_rep) {
            out->block_frames = n_ref / 2 / n_rep;
            out->capped = 1;
        }
    }
    size_t half = n_ref / 2;
    cgdml_fes *halves[2] = {NULL, NULL};
    if (!s)
        s = cgdml_fes_from_angles(ref_phi, ref_psi, half, n_bins, &halves[0]);
    if (!s)
        s = cgdml_fes_from_angles(ref_phi + half, ref_psi + half, half, n_bins, &halves[1]);
    gsl_rng *rng = s ? NULL : gsl_rng_alloc(gsl_rng_mt19937);
    if (!s && !rng)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a random generator");
    if (rng)
        gsl_rng_set(rng, seed);
    double sum = 0.0, sum2 = 0.0;
    for (int d = 0; !s && d < CGDML_FES_MATCHED_DRAWS; d++) {
        double mse;
        s = block_sample_mse(ref_phi + (d % 2) * half, ref_psi + (d % 2) * half, half, n_rep,
                             out->block_frames, halves[1 - d % 2], rng, sp, ss, &mse);
        sum += mse;
        sum2 += mse * mse;
    }
    if (!s) {
        out->floor = sum / CGDML_FES_MATCHED_DRAWS;
        out->floor_sd = sqrt(fmax(sum2 / CGDML_FES_MATCHED_DRAWS - out->floor * out->floor, 0.0));
    }
    gsl_rng_free(rng);
    cgdml_fes_free(halves[0]);
    cgdml_fes_free(halves[1]);
    free(ind);
    free(ang);
    return s;
}

/* ---- the reference landscape and the assessment of a trajectory ---------------- */

void cgdml_fes_reference_free(cgdml_fes_reference *ref)
{
    if (!ref)
        return;
    cgdml_fes_free(ref->landscape);
    free(ref->phi);
    free(ref->psi);
    free(ref);
}

cgdml_status cgdml_fes_reference_compute(const cgdml_dataset *data, const int *phi_beads,
                                         const int *psi_beads, size_t n_bins,
                                         cgdml_fes_reference **out)
{
    *out = NULL;
    if (data->n_frames < 2)
        return cgdml_error_set(CGDML_ERR_INVALID, "the dataset has %zu frame(s); a landscape "
                               "and its floor need at least 2", data->n_frames);
    cgdml_status s = cgdml_memory_check(2 * data->n_frames * sizeof(double), "the phi/psi angles");
    cgdml_fes_reference *r = s ? NULL : calloc(1, sizeof *r);
    if (!s && !r)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a reference landscape");
    if (s)
        return s;
    size_t n = data->n_frames, half = n / 2;
    cgdml_fes *first = NULL, *second = NULL;
    r->n_frames = n;
    r->phi = malloc(n * sizeof(double));
    r->psi = malloc(n * sizeof(double));
    if (!r->phi || !r->psi)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate angles");
    if (!s)
        s = cgdml_fes_angles(data, phi_beads, psi_beads, r->phi, r->psi);
    if (!s)
        s = cgdml_fes_from_angles(r->phi, r->psi, n, n_bins, &r->landscape);
    if (!s)
        s = cgdml_fes_from_angles(r->phi, r->psi, half, n_bins, &first);
    if (!s)
        s = cgdml_fes_from_angles(r->phi + half, r->psi + half, n - half, n_bins, &second);
    if (!s)
        s = cgdml_fes_compare(first, second, &r->halves);
    cgdml_fes_free(first);
    cgdml_fes_free(second);
    if (s)
        cgdml_fes_reference_free(r);
    else
        *out = r;
    return s;
}

void cgdml_fes_assessment_free(cgdml_fes_assessment *a)
{
    if (a) {
        cgdml_fes_free(a->landscape);
        a->landscape = NULL;
    }
}

cgdml_status cgdml_fes_assess(const cgdml_dataset *traj, int64_t burn_in, size_t n_bins,
                              const int *phi_beads, const int *psi_beads,
                              const cgdml_fes_reference *ref, unsigned long seed,
                              cgdml_fes_assessment *out)
{
    memset(out, 0, sizeof *out);
    out->floor = NAN;
    if (ref && ref->landscape->n_bins != n_bins)
        return cgdml_error_set(CGDML_ERR_INVALID, "the reference has %zu bins per angle, the "
                               "assessment asks for %zu", ref->landscape->n_bins, n_bins);
    cgdml_status s = cgdml_fes_trajectory(traj, burn_in, n_bins, phi_beads, psi_beads,
                                          &out->landscape, &out->halves);
    if (!s && ref)
        s = cgdml_fes_compare(out->landscape, ref->landscape, &out->vs);
    if (!s && ref)
        s = cgdml_fes_matched_floor(traj, burn_in, phi_beads, psi_beads, ref->phi, ref->psi,
                                    ref->n_frames, n_bins, seed, &out->matched);
    if (!s && ref) {
        out->floor = ref->halves.mse;
        out->has_reference = 1;
    }
    if (s)
        cgdml_fes_assessment_free(out);
    return s;
}
