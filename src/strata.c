/* strata.c - stratified sampling (see cgdml/strata.h and docs/method.md §4): collective
 * variables and their specs, binning frames on a sparse product grid, k-means
 * strata in descriptor space, and the stratified, one-per-stratum and plain draws
 * that the ensemble uses for its layer-1 subsets and its layer-2 mean set.
 *
 * Both kinds of strata are built the same way: every frame gets a 64-bit key (its
 * bin id on the grid, or its cluster), and sorting (key, frame) pairs groups the
 * frames.  Only keys that occur become strata, so a 300⁴ grid costs no more than
 * a 10-bin one.
 */
#include "cgdml/strata.h"

#include <errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/descriptor.h"
#include "cgdml/geometry.h"
#include "cgdml/sample.h"
#include "cgdml/memory.h"

static const char *const kind_name[] = {"dihedral", "angle", "distance"};
static const int kind_beads[] = {4, 3, 2};
enum { SPEC_MAX = 200 }; /* longest CV spec accepted, characters */

/* ---- collective variables ------------------------------------------------ */

/* Check one CV's kind, beads, bins and range; `ctx` starts the message. */
static cgdml_status check_cv(const cgdml_collective *cv, const char *ctx)
{
    if ((unsigned)cv->kind > CGDML_COLLECTIVE_DISTANCE)
        return cgdml_error_set(CGDML_ERR_INVALID, "%s: unknown kind %d", ctx, (int)cv->kind);
    const char *kind = kind_name[cv->kind];
    for (int i = 0; i < kind_beads[cv->kind]; i++) {
        if (cv->beads[i] < 0)
            return cgdml_error_set(CGDML_ERR_INVALID, "%s: bead %d of the %s is negative (%d)", ctx,
                                   i + 1, kind, cv->beads[i]);
        for (int j = 0; j < i; j++)
            if (cv->beads[j] == cv->beads[i])
                return cgdml_error_set(CGDML_ERR_INVALID,
                                       "%s: bead %d appears twice; a %s needs distinct beads", ctx,
                                       cv->beads[i], kind);
    }
    if (cv->n_bins < 1)
        return cgdml_error_set(CGDML_ERR_INVALID, "%s: the number of bins must be at least 1", ctx);
    int auto_range = cv->lo == 0.0 && cv->hi == 0.0;
    int bad_range = !isfinite(cv->lo) || !isfinite(cv->hi) || !(cv->lo < cv->hi) ||
                    (cv->kind == CGDML_COLLECTIVE_DISTANCE && cv->lo < 0.0);
    if (cv->kind != CGDML_COLLECTIVE_DIHEDRAL && !auto_range && bad_range)
        return cgdml_error_set(CGDML_ERR_INVALID, "%s: the %s range [%g, %g] is not lo < hi%s", ctx,
                               kind, cv->lo, cv->hi,
                               cv->kind == CGDML_COLLECTIVE_DISTANCE
                                   ? " with lo >= 0 (or lo = hi = 0 for the data's range)"
                                   : " (or lo = hi = 0 for [0, pi])");
    return CGDML_OK;
}

/* Split s in place at every `sep` into at most max fields; returns the number of
 * fields found (max + 1 when there are more). */
static int split(char *s, char sep, char **field, int max)
{
    int n = 0;
    for (;;) {
        if (n == max)
            return max + 1;
        field[n++] = s;
        char *end = strchr(s, sep);
        if (!end)
            return n;
        *end = '\0';
        s = end + 1;
    }
}

/* A non-negative decimal integer filling all of s (no sign, no spaces). */
static int parse_count(const char *s, unsigned long long *v)
{
    if (*s < '0' || *s > '9')
        return 0;
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return !*end && !errno;
}

/* A finite number filling all of s. */
static int parse_number(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return *s && !*end && isfinite(*v);
}

static cgdml_status parse_beads(char *text, cgdml_collective *cv, const char *ctx)
{
    char *word[4];
    int want = kind_beads[cv->kind], got = split(text, ',', word, 4);
    if (got != want)
        return cgdml_error_set(CGDML_ERR_INVALID, "%s: %s %s takes %d beads, got %s%d", ctx,
                               cv->kind == CGDML_COLLECTIVE_ANGLE ? "an" : "a", kind_name[cv->kind], want,
                               got > 4 ? "more than " : "", got > 4 ? 4 : got);
    for (int i = 0; i < want; i++) {
        unsigned long long b;
        if (!parse_count(word[i], &b) || b > INT32_MAX)
            return cgdml_error_set(CGDML_ERR_INVALID, "%s: bead '%s' is not a non-negative integer",
                                   ctx, word[i]);
        cv->beads[i] = (int)b;
    }
    return CGDML_OK;
}

static cgdml_status parse_range(char *text, cgdml_collective *cv, const char *ctx)
{
    char *word[2];
    if (cv->kind == CGDML_COLLECTIVE_DIHEDRAL)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%s: a dihedral is periodic on [-pi, pi) and takes no range", ctx);
    if (split(text, ',', word, 2) != 2 || !parse_number(word[0], &cv->lo) ||
        !parse_number(word[1], &cv->hi))
        return cgdml_error_set(CGDML_ERR_INVALID, "%s: the range is not two numbers 'lo,hi'", ctx);
    return CGDML_OK;
}

cgdml_status cgdml_collective_parse(const char *spec, cgdml_collective *out)
{
    if (!spec || strlen(spec) > SPEC_MAX)
        return cgdml_error_set(CGDML_ERR_INVALID, "CV spec is %s", spec ? "too long" : "NULL");
    char ctx[SPEC_MAX + 16], buf[SPEC_MAX + 1], *field[4];
    snprintf(ctx, sizeof ctx, "CV spec '%s'", spec);
    strcpy(buf, spec);
    int n = split(buf, ':', field, 4);
    if (n < 3 || n > 4)
        return cgdml_error_set(CGDML_ERR_INVALID, "%s: expected kind:beads:bins[:lo,hi]", ctx);
    cgdml_collective cv = {.beads = {-1, -1, -1, -1}, .lo = -M_PI, .hi = M_PI};
    size_t k = 0;
    while (k < 3 && strcmp(field[0], kind_name[k]) != 0)
        k++;
    if (k == 3)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%s: unknown kind '%s'; expected dihedral, angle or distance", ctx,
                               field[0]);
    cv.kind = (cgdml_collective_kind)k;
    if (cv.kind == CGDML_COLLECTIVE_ANGLE)
        cv.lo = 0.0;
    if (cv.kind == CGDML_COLLECTIVE_DISTANCE)
        cv.lo = cv.hi = 0.0;
    cgdml_status s = parse_beads(field[1], &cv, ctx);
    unsigned long long bins;
    if (!s && (!parse_count(field[2], &bins) || bins == 0 || bins > SIZE_MAX))
        s = cgdml_error_set(CGDML_ERR_INVALID, "%s: bins '%s' is not a positive integer", ctx,
                            field[2]);
    cv.n_bins = s ? 0 : (size_t)bins;
    if (!s && n == 4)
        s = parse_range(field[3], &cv, ctx);
    if (!s)
        s = check_cv(&cv, ctx);
    if (!s)
        *out = cv;
    return s;
}

cgdml_status cgdml_collective_default_phi_psi(size_t n_beads, size_t n_bins, cgdml_collective cvs[2])
{
    int phi[4], psi[4];
    cgdml_status s = cgdml_geometry_phi_psi_beads(n_beads, phi, psi);
    if (s)
        return s;
    for (int k = 0; k < 2; k++) {
        cvs[k] = (cgdml_collective){.kind = CGDML_COLLECTIVE_DIHEDRAL,
                            .n_bins = n_bins ? n_bins : CGDML_STRATA_DEFAULT_BINS,
                            .lo = -M_PI,
                            .hi = M_PI};
        memcpy(cvs[k].beads, k == 0 ? phi : psi, sizeof phi);
    }
    return CGDML_OK;
}

/* ---- values and bins ----------------------------------------------------- */

/* Angle a-b-c at vertex b (radians, [0, π]) of frame x[bead][xyz]. */
static double angle_at(const double *x, int a, int b, int c)
{
    double u[3], w[3];
    for (int k = 0; k < 3; k++) {
        u[k] = x[3 * a + k] - x[3 * b + k];
        w[k] = x[3 * c + k] - x[3 * b + k];
    }
    double cx = u[1] * w[2] - u[2] * w[1], cy = u[2] * w[0] - u[0] * w[2],
           cz = u[0] * w[1] - u[1] * w[0];
    return atan2(sqrt(cx * cx + cy * cy + cz * cz), u[0] * w[0] + u[1] * w[1] + u[2] * w[2]);
}

static double distance(const double *x, int a, int b)
{
    double dx = x[3 * a] - x[3 * b], dy = x[3 * a + 1] - x[3 * b + 1],
           dz = x[3 * a + 2] - x[3 * b + 2];
    return sqrt(dx * dx + dy * dy + dz * dz);
}

static double cv_value(const cgdml_collective *cv, const double *x)
{
    const int *q = cv->beads;
    switch (cv->kind) {
    case CGDML_COLLECTIVE_DIHEDRAL: return cgdml_geometry_dihedral(x, q[0], q[1], q[2], q[3]);
    case CGDML_COLLECTIVE_ANGLE: return angle_at(x, q[0], q[1], q[2]);
    default: return distance(x, q[0], q[1]);
    }
}

/* Bin of a finite value v on [cv->lo, cv->hi] (resolved); values outside go to the
 * edge bins.  Dihedrals are first wrapped onto [-π, π), so +π shares bin 0 with -π
 * while the largest double below π stays in the last bin. */
static size_t cv_bin(const cgdml_collective *cv, double v)
{
    if (cv->kind == CGDML_COLLECTIVE_DIHEDRAL) {
        v = remainder(v, 2.0 * M_PI);
        if (v >= M_PI)
            v -= 2.0 * M_PI;
    }
    if (!(cv->hi > cv->lo))
        return 0; /* a distance that never varies in the data */
    double t = (v - cv->lo) / (cv->hi - cv->lo) * (double)cv->n_bins;
    return t <= 0.0 ? 0 : t >= (double)cv->n_bins ? cv->n_bins - 1 : (size_t)t;
}

/* Fill the range a checked CV leaves open: [-π, π) for a dihedral, [0, π] for an
 * angle with lo = hi = 0, the data's min/max for a distance with lo = hi = 0. */
static void fill_range(const cgdml_dataset *data, cgdml_collective *cv)
{
    int unset = cv->lo == 0.0 && cv->hi == 0.0;
    if (cv->kind == CGDML_COLLECTIVE_DIHEDRAL || (cv->kind == CGDML_COLLECTIVE_ANGLE && unset)) {
        cv->lo = cv->kind == CGDML_COLLECTIVE_DIHEDRAL ? -M_PI : 0.0;
        cv->hi = M_PI;
    }
    if (cv->kind != CGDML_COLLECTIVE_DISTANCE || !unset)
        return;
    double lo = INFINITY, hi = -INFINITY;
    size_t n3 = 3 * data->n_beads;
#pragma omp parallel for reduction(min : lo) reduction(max : hi)
    for (size_t f = 0; f < data->n_frames; f++) {
        double v = cv_value(cv, data->coords + f * n3);
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    cv->lo = lo;
    cv->hi = hi;
}

/* Check the CVs against the dataset and fill in their ranges (fill_range). */
static cgdml_status resolve_cvs(const cgdml_dataset *data, const cgdml_collective *cvs, size_t n_cv,
                                cgdml_collective *res)
{
    if (n_cv < 1 || n_cv > CGDML_STRATA_MAX_CVS)
        return cgdml_error_set(CGDML_ERR_INVALID, "%zu collective variables; expected 1 to %d",
                               n_cv, CGDML_STRATA_MAX_CVS);
    uint64_t total = 1;
    for (size_t c = 0; c < n_cv; c++) {
        char ctx[32];
        snprintf(ctx, sizeof ctx, "collective variable %zu", c);
        cgdml_status s = check_cv(&cvs[c], ctx);
        for (int i = 0; !s && i < kind_beads[cvs[c].kind]; i++)
            if ((size_t)cvs[c].beads[i] >= data->n_beads)
                s = cgdml_error_set(CGDML_ERR_INVALID,
                                    "%s: bead %d is outside 0..%zu (the dataset's beads)", ctx,
                                    cvs[c].beads[i], data->n_beads - 1);
        if (!s && __builtin_mul_overflow(total, (uint64_t)cvs[c].n_bins, &total))
            s = cgdml_error_set(CGDML_ERR_INVALID, "the grid has more than 2^64 bins");
        if (s)
            return s;
        res[c] = cvs[c];
    }
    for (size_t c = 0; c < n_cv; c++)
        fill_range(data, &res[c]);
    return CGDML_OK;
}

/* ---- strata from per-frame keys ------------------------------------------ */

typedef struct {
    uint64_t key;
    size_t frame;
} keyed_frame;

static int compare_keyed(const void *pa, const void *pb)
{
    const keyed_frame *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->frame > b->frame) - (a->frame < b->frame);
}

static cgdml_status strata_alloc(size_t n_frames, size_t n_strata, cgdml_strata **out)
{
    cgdml_strata *st = calloc(1, sizeof *st);
    if (st) {
        st->n_frames = n_frames;
        st->n_pool = n_frames;
        st->n_strata = n_strata;
        st->offset = malloc((n_strata + 1) * sizeof *st->offset);
        st->frame = malloc(n_frames * sizeof *st->frame);
        st->stratum_of = malloc(n_frames * sizeof *st->stratum_of);
    }
    if (!st || !st->offset || !st->frame || !st->stratum_of) {
        cgdml_strata_free(st);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate strata for %zu frames", n_frames);
    }
    *out = st;
    return CGDML_OK;
}

/* One stratum per distinct key[frame], in increasing key order. */
static cgdml_status strata_from_keys(const uint64_t *key, size_t n, cgdml_strata **out)
{
    cgdml_status s = cgdml_memory_check(n * (sizeof(keyed_frame) + 3 * sizeof(size_t)),
                                        "the strata (sorted frames)");
    keyed_frame *kf = s ? NULL : malloc(n * sizeof *kf);
    if (!s && !kf)
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu sort keys", n);
    if (s)
        return s;
    for (size_t f = 0; f < n; f++)
        kf[f] = (keyed_frame){key[f], f};
    qsort(kf, n, sizeof *kf, compare_keyed);
    size_t n_strata = 1;
    for (size_t i = 1; i < n; i++)
        n_strata += kf[i].key != kf[i - 1].key;
    cgdml_strata *st = NULL;
    s = strata_alloc(n, n_strata, &st);
    for (size_t i = 0, stratum = 0; !s && i < n; i++) {
        if (i == 0 || kf[i].key != kf[i - 1].key)
            st->offset[stratum++] = i;
        st->frame[i] = kf[i].frame;
        st->stratum_of[kf[i].frame] = stratum - 1;
    }
    free(kf);
    if (s)
        return s;
    st->offset[n_strata] = n;
    *out = st;
    return CGDML_OK;
}

/* Allocate the per-frame key array after checking the dataset is not empty. */
static cgdml_status keys_alloc(const cgdml_dataset *data, uint64_t **key)
{
    *key = NULL;
    if (!data || data->n_frames == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "cannot stratify an empty dataset");
    cgdml_status s = cgdml_memory_check(data->n_frames * sizeof **key, "the strata keys");
    if (!s && !(*key = malloc(data->n_frames * sizeof **key)))
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu strata keys", data->n_frames);
    return s;
}

cgdml_status cgdml_strata_from_cvs(const cgdml_dataset *data, const cgdml_collective *cvs, size_t n_cv,
                                   cgdml_strata **out)
{
    *out = NULL;
    cgdml_collective res[CGDML_STRATA_MAX_CVS];
    uint64_t *key;
    cgdml_status s = keys_alloc(data, &key);
    if (!s)
        s = resolve_cvs(data, cvs, n_cv, res);
    size_t n = s ? 0 : data->n_frames, n3 = s ? 0 : 3 * data->n_beads, bad = SIZE_MAX;
#pragma omp parallel for reduction(min : bad)
    for (size_t f = 0; f < n; f++) {
        uint64_t id = 0;
        for (size_t c = 0; c < n_cv; c++) {
            double v = cv_value(&res[c], data->coords + f * n3);
            bad = isfinite(v) ? bad : f < bad ? f : bad;
            id = id * res[c].n_bins + (isfinite(v) ? cv_bin(&res[c], v) : 0);
        }
        key[f] = id;
    }
    if (!s && bad != SIZE_MAX)
        s = cgdml_error_set(CGDML_ERR_NUMERIC,
                            "frame %zu: a collective variable is not finite (check the "
                            "coordinates)",
                            bad);
    if (!s)
        s = strata_from_keys(key, n, out);
    free(key);
    return s;
}

/* Drop the frames marked CGDML_STRATUM_NONE in stratum_of from frame[], and the
 * strata left empty, renumbering the others in order. */
static void strata_compact(cgdml_strata *st)
{
    size_t kept = 0, n_strata = 0, begin = st->offset[0];
    for (size_t s = 0; s < st->n_strata; s++) {
        size_t end = st->offset[s + 1], first = kept;
        for (size_t i = begin; i < end; i++)
            if (st->stratum_of[st->frame[i]] != CGDML_STRATUM_NONE)
                st->frame[kept++] = st->frame[i];
        begin = end;
        if (kept == first)
            continue;
        for (size_t i = first; i < kept; i++)
            st->stratum_of[st->frame[i]] = n_strata;
        st->offset[n_strata++] = first;
    }
    st->n_strata = n_strata;
    st->n_pool = kept;
    st->offset[n_strata] = kept;
}

cgdml_status cgdml_strata_exclude(cgdml_strata *strata, const size_t *frames, size_t n)
{
    if (!strata || (n && !frames))
        return cgdml_error_set(CGDML_ERR_INVALID, "exclude: no %s given",
                               strata ? "frames" : "strata");
    size_t left = strata->n_pool;
    unsigned char *out = calloc(strata->n_frames, 1);
    if (!out)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu flags", strata->n_frames);
    for (size_t i = 0; i < n; i++) {
        if (frames[i] >= strata->n_frames) {
            free(out);
            return cgdml_error_set(CGDML_ERR_INVALID,
                                   "exclude: frame %zu (entry %zu) is beyond the dataset's %zu "
                                   "frames",
                                   frames[i], i, strata->n_frames);
        }
        left -= !out[frames[i]] && strata->stratum_of[frames[i]] != CGDML_STRATUM_NONE;
        out[frames[i]] = 1;
    }
    if (left == 0) {
        free(out);
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "exclude: the %zu frames given leave none of the %zu to draw from",
                               n, strata->n_pool);
    }
    for (size_t f = 0; f < strata->n_frames; f++)
        if (out[f])
            strata->stratum_of[f] = CGDML_STRATUM_NONE;
    free(out);
    strata_compact(strata);
    return CGDML_OK;
}

void cgdml_strata_free(cgdml_strata *strata)
{
    if (!strata)
        return;
    free(strata->offset);
    free(strata->frame);
    free(strata->stratum_of);
    free(strata);
}

/* ---- k-means in descriptor space ----------------------------------------- */

/* A Mersenne Twister seeded with `seed` that can draw integers below n. */
static cgdml_status rng_alloc(unsigned long seed, size_t n, gsl_rng **rng)
{
    if (n > UINT32_MAX)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "cannot draw among %zu items: the generator stops at 2^32 - 1", n);
    if (!(*rng = gsl_rng_alloc(gsl_rng_mt19937)))
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate a random number generator");
    gsl_rng_set(*rng, seed);
    return CGDML_OK;
}

typedef struct {
    size_t n, d, k;  /* frames, descriptor entries, clusters */
    double *desc;    /* [frame][d], 1/Å */
    double *centre;  /* [d][cluster], 1/Å: transposed, so the distances from one
                        frame to a block of centres vectorise */
    double *dist2;   /* [frame] squared distance to the nearest centre (seeding) */
    size_t *count;   /* [cluster] members */
    uint64_t *label; /* [frame] cluster, the strata keys */
} kmeans_work;

static void kmeans_free(kmeans_work *w)
{
    free(w->desc);
    free(w->centre);
    free(w->dist2);
    free(w->count);
    free(w->label);
}

static cgdml_status kmeans_alloc(const cgdml_dataset *data, size_t k, kmeans_work *w)
{
    *w = (kmeans_work){.n = data->n_frames, .d = cgdml_descriptor_size(data->n_beads), .k = k};
    size_t bytes = (w->n * w->d + k * w->d + w->n) * sizeof(double) + k * sizeof(size_t) +
                   w->n * sizeof(uint64_t);
    cgdml_status s = cgdml_memory_check(bytes, "k-means descriptors and centres");
    if (s)
        return s;
    w->desc = malloc(w->n * w->d * sizeof *w->desc);
    w->centre = malloc(k * w->d * sizeof *w->centre);
    w->dist2 = malloc(w->n * sizeof *w->dist2);
    w->count = malloc(k * sizeof *w->count);
    w->label = malloc(w->n * sizeof *w->label);
    if (!w->desc || !w->centre || !w->dist2 || !w->count || !w->label) {
        kmeans_free(w);
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate k-means buffers (%zu bytes)",
                               bytes);
    }
    size_t n3 = 3 * data->n_beads;
#pragma omp parallel for
    for (size_t f = 0; f < w->n; f++)
        cgdml_descriptor_compute(data->n_beads, data->coords + f * n3, w->desc + f * w->d);
    return CGDML_OK;
}

static double squared_distance(const double *a, const double *b, size_t d)
{
    double s = 0.0;
    for (size_t i = 0; i < d; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

/* Make frame f centre j and lower every frame's dist2 to it. */
static void add_centre(kmeans_work *w, size_t j, size_t f)
{
    const double *c = w->desc + f * w->d;
    for (size_t e = 0; e < w->d; e++)
        w->centre[e * w->k + j] = c[e];
#pragma omp parallel for
    for (size_t i = 0; i < w->n; i++) {
        double d2 = squared_distance(w->desc + i * w->d, c, w->d);
        w->dist2[i] = j == 0 || d2 < w->dist2[i] ? d2 : w->dist2[i];
    }
}

/* k-means++: each further centre is a frame drawn with probability ∝ dist2.  The
 * total is summed serially so that the draw does not depend on the thread count;
 * once every frame sits on a centre the rest are uniform (and end up empty). */
static void seed_centres(kmeans_work *w, gsl_rng *rng)
{
    add_centre(w, 0, gsl_rng_uniform_int(rng, w->n));
    for (size_t j = 1; j < w->k; j++) {
        double total = 0.0;
        for (size_t i = 0; i < w->n; i++)
            total += w->dist2[i];
        double r = gsl_rng_uniform(rng) * total, sum = 0.0;
        size_t pick = total > 0.0 ? SIZE_MAX : gsl_rng_uniform_int(rng, w->n);
        for (size_t i = 0; pick == SIZE_MAX && i < w->n; i++) {
            sum += w->dist2[i];
            if (w->dist2[i] > 0.0 && sum > r)
                pick = i;
        }
        for (size_t i = w->n; pick == SIZE_MAX && i-- > 0;) /* rounding left r past the end */
            if (w->dist2[i] > 0.0)
                pick = i;
        add_centre(w, j, pick);
    }
}

enum { CENTRE_BLOCK = 64 }; /* centres one frame is compared with at a time */

/* The nearest centre to descriptor x (ties: the lower cluster).  Each squared
 * distance is summed over the entries in order, as squared_distance() does. */
static size_t nearest_centre(const kmeans_work *w, const double *x)
{
    size_t best = 0;
    double best_d2 = INFINITY;
    for (size_t j0 = 0; j0 < w->k; j0 += CENTRE_BLOCK) {
        size_t nb = w->k - j0 < CENTRE_BLOCK ? w->k - j0 : CENTRE_BLOCK;
        double d2[CENTRE_BLOCK] = {0};
        for (size_t e = 0; e < w->d; e++) {
            const double *c = w->centre + e * w->k + j0;
#pragma omp simd
            for (size_t j = 0; j < nb; j++)
                d2[j] += (x[e] - c[j]) * (x[e] - c[j]);
        }
        for (size_t j = 0; j < nb; j++)
            if (d2[j] < best_d2) {
                best_d2 = d2[j];
                best = j0 + j;
            }
    }
    return best;
}

/* Assign every frame to its nearest centre; returns how many changed cluster. */
static size_t assign(kmeans_work *w)
{
    size_t changed = 0;
#pragma omp parallel for reduction(+ : changed)
    for (size_t i = 0; i < w->n; i++) {
        size_t best = nearest_centre(w, w->desc + i * w->d);
        changed += w->label[i] != best;
        w->label[i] = best;
    }
    return changed;
}

/* Move every non-empty cluster's centre to the mean of its members (serially, so
 * the sums do not depend on the thread count); empty clusters keep theirs. */
static void update_centres(kmeans_work *w)
{
    memset(w->count, 0, w->k * sizeof *w->count);
    for (size_t i = 0; i < w->n; i++)
        if (w->count[w->label[i]]++ == 0)
            for (size_t e = 0; e < w->d; e++)
                w->centre[e * w->k + w->label[i]] = 0.0;
    for (size_t i = 0; i < w->n; i++) {
        const double *x = w->desc + i * w->d;
        double inv = 1.0 / (double)w->count[w->label[i]];
        for (size_t e = 0; e < w->d; e++)
            w->centre[e * w->k + w->label[i]] += x[e] * inv;
    }
}

cgdml_status cgdml_strata_kmeans(const cgdml_dataset *data, size_t k, unsigned long seed,
                                 cgdml_strata **out)
{
    *out = NULL;
    if (!data || data->n_frames == 0 || data->n_beads < 2 || k < 1 || k > data->n_frames)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "k-means needs 1 <= k <= frames and at least 2 beads; got k = "
                               "%zu for %zu frames of %zu beads",
                               k, data ? data->n_frames : 0, data ? data->n_beads : 0);
    gsl_rng *rng;
    cgdml_status s = rng_alloc(seed, data->n_frames, &rng);
    if (s)
        return s;
    kmeans_work w;
    s = kmeans_alloc(data, k, &w);
    if (!s) {
        seed_centres(&w, rng);
        for (size_t f = 0; f < w.n; f++)
            w.label[f] = UINT64_MAX;
        for (int it = 0; it < CGDML_KMEANS_MAX_ITERATIONS && assign(&w) > 0; it++)
            update_centres(&w);
        s = strata_from_keys(w.label, w.n, out);
        kmeans_free(&w);
    }
    gsl_rng_free(rng);
    return s;
}

/* ---- draws --------------------------------------------------------------- */

static size_t frame_in_stratum(const cgdml_strata *st, size_t s, gsl_rng *rng)
{
    size_t size = st->offset[s + 1] - st->offset[s];
    return st->frame[st->offset[s] + gsl_rng_uniform_int(rng, size)];
}

static int compare_size(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    return (a > b) - (a < b);
}

/* m frames from m distinct strata chosen uniformly, ascending. */
static cgdml_status draw_unique(const cgdml_strata *st, size_t m, gsl_rng *rng, size_t *pick)
{
    if (m > st->n_strata)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "cannot draw %zu frames from distinct strata: only %zu strata "
                               "are occupied",
                               m, st->n_strata);
    size_t *all = malloc(st->n_strata * sizeof *all);
    if (!all)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu strata", st->n_strata);
    for (size_t s = 0; s < st->n_strata; s++)
        all[s] = s;
    gsl_ran_choose(rng, pick, m, all, st->n_strata, sizeof(size_t));
    free(all);
    for (size_t i = 0; i < m; i++)
        pick[i] = frame_in_stratum(st, pick[i], rng);
    qsort(pick, m, sizeof *pick, compare_size);
    return CGDML_OK;
}

/* The pool's frames in ascending order (*out new). */
static cgdml_status pool_frames(const cgdml_strata *st, size_t **out)
{
    cgdml_status s = cgdml_memory_check(st->n_pool * sizeof **out, "the pool's frame list");
    if (!s && !(*out = malloc(st->n_pool * sizeof **out)))
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu frame indices", st->n_pool);
    for (size_t f = 0, at = 0; !s && f < st->n_frames; f++)
        if (st->stratum_of[f] != CGDML_STRATUM_NONE)
            (*out)[at++] = f;
    return s;
}

/* m distinct frames of the pool uniformly, ascending: cgdml_sample_random's draw
 * of positions in the pool (the same frames as before exclusion existed when
 * nothing is excluded). */
static cgdml_status draw_random(const cgdml_strata *st, size_t m, unsigned long seed, size_t **out)
{
    cgdml_status s = cgdml_sample_random(st->n_pool, m, seed, out);
    size_t *pool = NULL;
    if (s || st->n_pool == st->n_frames)
        return s;
    s = pool_frames(st, &pool);
    for (size_t i = 0; !s && i < m; i++)
        (*out)[i] = pool[(*out)[i]];
    free(pool);
    if (s) {
        free(*out);
        *out = NULL;
    }
    return s;
}

cgdml_status cgdml_strata_partition_block(const cgdml_strata *strata, size_t m, size_t block,
                                          unsigned long seed, size_t **out)
{
    *out = NULL;
    if (!strata || m == 0 || block >= strata->n_pool / m)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "cannot take block %zu of %zu frames from a permutation of a "
                               "pool of %zu frames: blocks 0..%zu need %zu frames",
                               block, m, strata ? strata->n_pool : 0, block, (block + 1) * m);
    size_t *pool = NULL;
    gsl_rng *rng = NULL;
    cgdml_status s = pool_frames(strata, &pool);
    if (!s)
        s = rng_alloc(seed, strata->n_pool, &rng);
    if (!s) {
        gsl_ran_shuffle(rng, pool, strata->n_pool, sizeof *pool);
        memmove(pool, pool + block * m, m * sizeof *pool);
        qsort(pool, m, sizeof *pool, compare_size);
        *out = pool;
    } else
        free(pool);
    gsl_rng_free(rng);
    return s;
}

cgdml_status cgdml_strata_draw(const cgdml_strata *strata, cgdml_draw_kind kind, size_t m,
                               unsigned long seed, size_t **out)
{
    *out = NULL;
    if (!strata || strata->n_strata == 0 || m == 0)
        return cgdml_error_set(CGDML_ERR_INVALID, "cannot draw %zu frames from %zu strata", m,
                               strata ? strata->n_strata : 0);
    if (kind == CGDML_DRAW_RANDOM)
        return draw_random(strata, m, seed, out);
    if (kind == CGDML_DRAW_PARTITION)
        return cgdml_strata_partition_block(strata, m, 0, seed, out);
    if (kind != CGDML_DRAW_STRATIFIED && kind != CGDML_DRAW_STRATIFIED_UNIQUE)
        return cgdml_error_set(CGDML_ERR_INVALID, "unknown draw kind %d", (int)kind);
    gsl_rng *rng = NULL;
    size_t *pick = NULL;
    cgdml_status s = cgdml_memory_check(m * sizeof *pick, "the drawn frame indices");
    if (!s && !(pick = malloc(m * sizeof *pick)))
        s = cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate %zu frame indices", m);
    if (!s)
        s = rng_alloc(seed, strata->n_frames, &rng);
    if (!s && kind == CGDML_DRAW_STRATIFIED_UNIQUE)
        s = draw_unique(strata, m, rng, pick);
    for (size_t i = 0; !s && kind == CGDML_DRAW_STRATIFIED && i < m; i++)
        pick[i] = frame_in_stratum(strata, gsl_rng_uniform_int(rng, strata->n_strata), rng);
    gsl_rng_free(rng);
    if (s)
        free(pick);
    else
        *out = pick;
    return s;
}

/* ---- strata as the pipeline builds them ---------------------------------------- */

void cgdml_strata_options_init(cgdml_strata_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->seed = 1;
}

/* The strata of the options' grid or clusters, before any exclusion. */
static cgdml_status strata_of_options(const cgdml_dataset *data, const cgdml_strata_options *opt,
                                      size_t max_bins, cgdml_strata **out)
{
    if (opt->kmeans)
        return cgdml_strata_kmeans(data, opt->kmeans, opt->seed, out);
    if (opt->n_collective > CGDML_STRATA_MAX_CVS)
        return cgdml_error_set(CGDML_ERR_INVALID, "strata: at most %d collective variables, "
                               "got %zu", CGDML_STRATA_MAX_CVS, opt->n_collective);
    cgdml_collective cvs[CGDML_STRATA_MAX_CVS];
    size_t n_cv = opt->n_collective;
    cgdml_status s = CGDML_OK;
    memcpy(cvs, opt->collective, n_cv * sizeof *cvs);
    if (!n_cv) {
        n_cv = 2;
        s = cgdml_collective_default_phi_psi(data->n_beads, CGDML_STRATA_DEFAULT_BINS, cvs);
    }
    for (size_t i = 0; !s && max_bins && i < n_cv; i++)
        cvs[i].n_bins = cvs[i].n_bins < max_bins ? cvs[i].n_bins : max_bins;
    return s ? s : cgdml_strata_from_cvs(data, cvs, n_cv, out);
}

cgdml_status cgdml_strata_build(const cgdml_dataset *data, const cgdml_strata_options *opt,
                                size_t max_bins, cgdml_strata **out)
{
    *out = NULL;
    cgdml_status s = strata_of_options(data, opt, max_bins, out);
    if (!s && opt->n_exclude)
        s = cgdml_strata_exclude(*out, opt->exclude, opt->n_exclude);
    if (s && *out) {
        cgdml_strata_free(*out);
        *out = NULL;
    }
    return s;
}
