/* dataset.c - allocation, checks, subsets and hashing of the in-memory CG dataset
 * (see cgdml/dataset.h).  Readers and writers for files live in h5md.c and npy.c.
 */
#include "cgdml/dataset.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t cgdml_dataset_bytes(size_t n_frames, size_t n_beads)
{
    if (n_beads != 0 && n_frames > SIZE_MAX / (n_beads * 3 * 2 * sizeof(double) + 16))
        return SIZE_MAX;
    return n_frames * (n_beads * 3 * 2 * sizeof(double) + sizeof(int64_t) + sizeof(double));
}

cgdml_status cgdml_dataset_alloc(size_t n_frames, size_t n_beads, cgdml_dataset **out)
{
    *out = NULL;
    if (n_frames == 0 || n_beads == 0)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "dataset of %zu frames x %zu beads: need at least one of each",
                               n_frames, n_beads);
    if (cgdml_dataset_bytes(n_frames, n_beads) == SIZE_MAX)
        return cgdml_error_set(CGDML_ERR_NOMEM, "dataset of %zu frames x %zu beads overflows memory",
                               n_frames, n_beads);
    cgdml_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a dataset");
    size_t n = n_frames * n_beads * 3;
    d->n_frames = n_frames;
    d->n_beads = n_beads;
    d->coords = calloc(n, sizeof(double));
    d->forces = calloc(n, sizeof(double));
    d->bead_names = calloc(n_beads, sizeof *d->bead_names);
    d->step = calloc(n_frames, sizeof(int64_t));
    d->time = calloc(n_frames, sizeof(double));
    if (!d->coords || !d->forces || !d->bead_names || !d->step || !d->time) {
        cgdml_dataset_free(d);
        return cgdml_error_set(CGDML_ERR_NOMEM,
                               "cannot allocate %zu frames x %zu beads (%.1f MB)", n_frames,
                               n_beads, (double)cgdml_dataset_bytes(n_frames, n_beads) / 1e6);
    }
    for (size_t b = 0; b < n_beads; b++)
        snprintf(d->bead_names[b], CGDML_NAME_MAX, "B%zu", b);
    for (size_t f = 0; f < n_frames; f++)
        d->step[f] = (int64_t)f;
    *out = d;
    return CGDML_OK;
}

void cgdml_dataset_free(cgdml_dataset *data)
{
    if (!data)
        return;
    free(data->coords);
    free(data->forces);
    free(data->bead_names);
    free(data->step);
    free(data->time);
    free(data->bonds);
    for (size_t i = 0; i < data->n_observables; i++)
        free(data->observables[i].value);
    free(data);
}

cgdml_status cgdml_dataset_add_observable(cgdml_dataset *data, const char *name,
                                          const double *value)
{
    if (strlen(name) == 0 || strlen(name) >= CGDML_NAME_MAX)
        return cgdml_error_set(CGDML_ERR_INVALID, "observable name '%s' must have 1 to %d characters",
                               name, CGDML_NAME_MAX - 1);
    if (cgdml_dataset_observable(data, name))
        return cgdml_error_set(CGDML_ERR_INVALID, "observable '%s' exists already", name);
    if (data->n_observables == CGDML_MAX_OBSERVABLES)
        return cgdml_error_set(CGDML_ERR_INVALID, "a dataset holds at most %d observables",
                               CGDML_MAX_OBSERVABLES);
    cgdml_observable *o = &data->observables[data->n_observables];
    o->value = malloc(data->n_frames * sizeof(double));
    if (!o->value)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate observable '%s'", name);
    memcpy(o->value, value, data->n_frames * sizeof(double));
    snprintf(o->name, CGDML_NAME_MAX, "%s", name);
    data->n_observables++;
    return CGDML_OK;
}

const double *cgdml_dataset_observable(const cgdml_dataset *data, const char *name)
{
    for (size_t i = 0; i < data->n_observables; i++)
        if (strcmp(data->observables[i].name, name) == 0)
            return data->observables[i].value;
    return NULL;
}

cgdml_status cgdml_dataset_set_bonds(cgdml_dataset *data, size_t n_bonds, const int *bonds)
{
    for (size_t k = 0; k < n_bonds; k++) {
        int i = bonds[2 * k], j = bonds[2 * k + 1];
        if (i < 0 || j < 0 || (size_t)i >= data->n_beads || (size_t)j >= data->n_beads || i == j)
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "bond %zu joins beads %d and %d; need two different beads "
                                   "in 0..%zu",
                                   k, i, j, data->n_beads - 1);
    }
    int *copy = NULL;
    if (n_bonds > 0) {
        copy = malloc(n_bonds * 2 * sizeof(int));
        if (!copy)
            return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu bonds", n_bonds);
        memcpy(copy, bonds, n_bonds * 2 * sizeof(int));
    }
    free(data->bonds);
    data->bonds = copy;
    data->n_bonds = n_bonds;
    return CGDML_OK;
}

/* Finite and within the bounds of dataset.h. */
static cgdml_status check_values(size_t f, const double *x, const double *g, size_t n3)
{
    for (size_t i = 0; i < n3; i++) {
        if (!isfinite(x[i]))
            return cgdml_error_set(CGDML_ERR_NUMERIC, "frame %zu bead %zu: coordinate is %g", f,
                                   i / 3, x[i]);
        if (!isfinite(g[i]))
            return cgdml_error_set(CGDML_ERR_NUMERIC, "frame %zu bead %zu: force is %g", f, i / 3,
                                   g[i]);
        if (fabs(x[i]) > CGDML_MAX_COORDINATE)
            return cgdml_error_set(CGDML_ERR_NUMERIC,
                                   "frame %zu bead %zu: coordinate %g Å is beyond ±%g Å (corrupt "
                                   "data, or a unit other than Å?)",
                                   f, i / 3, x[i], CGDML_MAX_COORDINATE);
        if (fabs(g[i]) > CGDML_MAX_FORCE)
            return cgdml_error_set(CGDML_ERR_NUMERIC,
                                   "frame %zu bead %zu: force %g kcal/mol/Å is beyond ±%g "
                                   "kcal/mol/Å (corrupt data, or a unit other than kcal/mol/Å?)",
                                   f, i / 3, g[i], CGDML_MAX_FORCE);
    }
    return CGDML_OK;
}

static cgdml_status check_frame(const cgdml_dataset *data, size_t f)
{
    size_t nb = data->n_beads;
    const double *x = data->coords + f * nb * 3;
    cgdml_status st = check_values(f, x, data->forces + f * nb * 3, nb * 3);
    if (st)
        return st;
    for (size_t i = 1; i < nb; i++)
        for (size_t j = 0; j < i; j++) {
            double dx = x[3 * i] - x[3 * j], dy = x[3 * i + 1] - x[3 * j + 1],
                   dz = x[3 * i + 2] - x[3 * j + 2];
            double r = sqrt(dx * dx + dy * dy + dz * dz);
            if (!(r >= CGDML_MIN_BEAD_DISTANCE))
                return cgdml_error_set(CGDML_ERR_NUMERIC,
                                       "frame %zu: beads %zu and %zu are %.3g Å apart (minimum "
                                       "%.3g Å); the inverse-distance descriptor is undefined",
                                       f, i, j, r, CGDML_MIN_BEAD_DISTANCE);
        }
    return CGDML_OK;
}

cgdml_status cgdml_dataset_check_frames(const cgdml_dataset *data, const size_t *idx, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t f = idx ? idx[k] : k;
        if (f >= data->n_frames)
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "frame index %zu (entry %zu) is out of range: the dataset has "
                                   "%zu frames",
                                   f, k, data->n_frames);
        cgdml_status st = check_frame(data, f);
        if (st)
            return st;
    }
    return CGDML_OK;
}

cgdml_status cgdml_dataset_check(const cgdml_dataset *data)
{
    if (data->n_beads < 2)
        return cgdml_error_set(CGDML_ERR_INVALID, "dataset has %zu bead(s); need at least 2",
                               data->n_beads);
    return cgdml_dataset_check_frames(data, NULL, data->n_frames);
}

cgdml_status cgdml_dataset_subset(const cgdml_dataset *data, const size_t *idx, size_t n,
                                  cgdml_dataset **out)
{
    *out = NULL;
    for (size_t k = 0; k < n; k++)
        if (idx[k] >= data->n_frames)
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "frame index %zu (entry %zu) is out of range: the dataset has "
                                   "%zu frames",
                                   idx[k], k, data->n_frames);
    cgdml_dataset *s;
    cgdml_status st = cgdml_dataset_alloc(n, data->n_beads, &s);
    if (st)
        return st;
    size_t fsz = data->n_beads * 3;
    for (size_t k = 0; k < n; k++) {
        memcpy(s->coords + k * fsz, data->coords + idx[k] * fsz, fsz * sizeof(double));
        memcpy(s->forces + k * fsz, data->forces + idx[k] * fsz, fsz * sizeof(double));
        s->step[k] = data->step[idx[k]];
        s->time[k] = data->time[idx[k]];
    }
    memcpy(s->bead_names, data->bead_names, data->n_beads * sizeof *data->bead_names);
    st = cgdml_dataset_set_bonds(s, data->n_bonds, data->bonds);
    for (size_t i = 0; !st && i < data->n_observables; i++) {
        double *v = malloc(n * sizeof(double));
        if (!v) {
            st = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate observable");
            break;
        }
        for (size_t k = 0; k < n; k++)
            v[k] = data->observables[i].value[idx[k]];
        st = cgdml_dataset_add_observable(s, data->observables[i].name, v);
        free(v);
    }
    if (st) {
        cgdml_dataset_free(s);
        return st;
    }
    *out = s;
    return CGDML_OK;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL; /* FNV-1a 64-bit prime */
    }
    return h;
}

uint64_t cgdml_dataset_hash(const cgdml_dataset *data)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64-bit offset basis */
    uint64_t shape[2] = {data->n_frames, data->n_beads};
    size_t n = data->n_frames * data->n_beads * 3 * sizeof(double);
    h = fnv1a(h, shape, sizeof shape);
    h = fnv1a(h, data->coords, n);
    return fnv1a(h, data->forces, n);
}
