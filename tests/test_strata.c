/* test_strata.c - stratified sampling: CV specs, periodic and clamped binning on
 * sparse grids, k-means strata, and the statistics of the three draws (stratified
 * draws uniform over occupied bins, random draws proportional to population, the
 * mean set one frame per distinct stratum).  Datasets are built so that every
 * frame's collective variables, and hence its bin, are known in advance.
 */
#include <criterion/criterion.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/descriptor.h"
#include "cgdml/geometry.h"
#include "cgdml/memory.h"
#include "cgdml/sample.h"
#include "cgdml/strata.h"

#define BOND 1.5                    /* Å, bond length of the test chains */
#define BEND (110.0 * M_PI / 180.0) /* bond angle of the test chains */
#define FIVE_SIGMA(n, p) (5.0 * sqrt((n) * (p) * (1.0 - (p)))) /* binomial count */

/* ---- datasets with known collective variables ---------------------------- */


/* A chain x[bead][xyz] of n_beads >= 4 whose dihedral (i, i+1, i+2, i+3) is dih[i]. */
static void chain(double *x, size_t n_beads, const double *dih)
{
    const double start[9] = {0, BOND, 0, 0, 0, 0, BOND * sin(BEND), BOND * cos(BEND), 0};
    memcpy(x, start, sizeof start);
    for (size_t i = 3; i < n_beads; i++)
        cgdml_geometry_place(x + 3 * (i - 3), x + 3 * (i - 2), x + 3 * (i - 1), BOND, BEND, dih[i - 3], x + 3 * i);
}

/* n_frames chains; frame f has dihedrals dih[f][0 .. n_beads-4]. */
static cgdml_dataset *chains(size_t n_frames, size_t n_beads, const double *dih)
{
    cgdml_dataset *data;
    cr_assert_eq(cgdml_dataset_alloc(n_frames, n_beads, &data), CGDML_OK);
    for (size_t f = 0; f < n_frames; f++)
        chain(data->coords + f * 3 * n_beads, n_beads, dih + f * (n_beads - 3));
    return data;
}

/* Centre of bin b of n on [-π, π). */
static double bin_centre(size_t b, size_t n)
{
    return -M_PI + (b + 0.5) * 2.0 * M_PI / n;
}

/* Every frame in exactly one non-empty stratum, offsets consistent, frames
 * ascending within a stratum, stratum_of the inverse of the grouping. */
static void assert_partition(const cgdml_strata *st, size_t n_frames)
{
    cr_assert_eq(st->n_frames, n_frames);
    cr_assert(st->n_strata >= 1 && st->n_strata <= n_frames);
    cr_assert_eq(st->offset[0], 0);
    cr_assert_eq(st->offset[st->n_strata], n_frames);
    char *seen = calloc(n_frames, 1);
    for (size_t s = 0; s < st->n_strata; s++) {
        cr_assert_lt(st->offset[s], st->offset[s + 1], "stratum %zu is empty", s);
        for (size_t i = st->offset[s]; i < st->offset[s + 1]; i++) {
            size_t f = st->frame[i];
            cr_assert_lt(f, n_frames);
            cr_assert_eq(seen[f]++, 0, "frame %zu appears twice", f);
            cr_assert_eq(st->stratum_of[f], s);
            cr_assert(i == st->offset[s] || st->frame[i - 1] < f, "not ascending in %zu", s);
        }
    }
    free(seen);
}

static cgdml_strata *strata_of_cvs(const cgdml_dataset *data, const cgdml_collective *cvs, size_t n)
{
    cgdml_strata *st;
    cr_assert_eq(cgdml_strata_from_cvs(data, cvs, n, &st), CGDML_OK, "%s", cgdml_error_message());
    assert_partition(st, data->n_frames);
    return st;
}

static cgdml_collective parsed(const char *spec)
{
    cgdml_collective cv;
    cr_assert_eq(cgdml_collective_parse(spec, &cv), CGDML_OK, "%s: %s", spec, cgdml_error_message());
    return cv;
}

Test(strata, test_chains_have_the_requested_dihedrals)
{
    const double dih[3] = {-3.0, 0.4, 2.9};
    double x[18];
    chain(x, 6, dih);
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(cgdml_geometry_dihedral(x, i, i + 1, i + 2, i + 3), dih[i], 1e-12);
}

/* ---- CV specs ------------------------------------------------------------ */

Test(strata, parse_accepts_the_documented_forms)
{
    cgdml_collective cv = parsed("dihedral:0,1,2,4:300");
    cr_assert_eq(cv.kind, CGDML_COLLECTIVE_DIHEDRAL);
    cr_assert(cv.beads[0] == 0 && cv.beads[1] == 1 && cv.beads[2] == 2 && cv.beads[3] == 4);
    cr_assert_eq(cv.n_bins, 300);
    cv = parsed("angle:0,1,2:50");
    cr_assert(cv.kind == CGDML_COLLECTIVE_ANGLE && cv.n_bins == 50 && cv.beads[3] == -1);
    cr_assert(cv.lo == 0.0 && cv.hi == M_PI, "angles default to [0, pi]");
    cv = parsed("angle:3,1,2:7:0.5,2.5");
    cr_assert(cv.beads[0] == 3 && cv.lo == 0.5 && cv.hi == 2.5);
    cv = parsed("distance:0,5:40");
    cr_assert(cv.kind == CGDML_COLLECTIVE_DISTANCE && cv.beads[1] == 5 && cv.beads[2] == -1);
    cr_assert(cv.lo == 0.0 && cv.hi == 0.0, "no range: the data's min/max");
    cv = parsed("distance:0,5:40:2.5,1e1");
    cr_assert(cv.n_bins == 40 && cv.lo == 2.5 && cv.hi == 10.0);
}

Test(strata, parse_refuses_bad_specs_with_messages)
{
    static const struct {
        const char *spec, *message;
    } bad[] = {
        {"dihedral:0,1,2:300", "a dihedral takes 4 beads, got 3"},
        {"angle:0,1,2,3:30", "an angle takes 3 beads"},
        {"distance:0:30", "a distance takes 2 beads, got 1"},
        {"distance:0,1,2,3,4:30", "more than 4"},
        {"angle:0,1,2:0", "bins '0' is not a positive integer"},
        {"angle:0,1,2:-3", "bins '-3'"},
        {"distance:0,5:4x", "bins '4x'"},
        {"distance:0,x:4", "bead 'x' is not a non-negative integer"},
        {"distance:0,-1:4", "bead '-1'"},
        {"distance:0,5:40:7,2", "range [7, 2] is not lo < hi"},
        {"distance:0,5:40:-1,2", "with lo >= 0"},
        {"distance:0,5:40:1", "the range is not two numbers"},
        {"distance:0,5:40:1,abc", "the range is not two numbers"},
        {"angle:0,1,2:40:1,nan", "the range is not two numbers"},
        {"dihedral:0,1,2,3:40:0,1", "takes no range"},
        {"torsion:0,1,2,3:10", "unknown kind 'torsion'"},
        {"dihedral:0,1,1,3:10", "bead 1 appears twice"},
        {"distance:0,5", "expected kind:beads:bins[:lo,hi]"},
        {"distance:0,5:40:1,2:3", "expected kind:beads:bins[:lo,hi]"},
        {"", "expected kind:beads:bins"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cgdml_collective cv = {.n_bins = 99};
        cr_assert_eq(cgdml_collective_parse(bad[i].spec, &cv), CGDML_ERR_INVALID, "%s", bad[i].spec);
        cr_assert(strstr(cgdml_error_message(), bad[i].message), "%s -> %s", bad[i].spec,
                  cgdml_error_message());
        cr_assert_eq(cv.n_bins, 99, "output untouched on failure");
    }
    cgdml_collective cv;
    cr_assert_eq(cgdml_collective_parse(NULL, &cv), CGDML_ERR_INVALID);
}

Test(strata, default_phi_psi_uses_the_map_beads)
{
    cgdml_collective cvs[2];
    cr_assert_eq(cgdml_collective_default_phi_psi(6, 0, cvs), CGDML_OK);
    const int phi6[4] = {0, 1, 2, 4}, psi6[4] = {1, 2, 4, 5}, psi5[4] = {1, 2, 3, 4};
    cr_assert(!memcmp(cvs[0].beads, phi6, sizeof phi6) && !memcmp(cvs[1].beads, psi6, sizeof psi6));
    cr_assert(cvs[0].kind == CGDML_COLLECTIVE_DIHEDRAL && cvs[1].kind == CGDML_COLLECTIVE_DIHEDRAL);
    cr_assert(cvs[0].n_bins == 300 && cvs[1].n_bins == 300, "docs/method.md §4: 300 x 300");
    cr_assert_eq(cgdml_collective_default_phi_psi(5, 60, cvs), CGDML_OK);
    cr_assert(!memcmp(cvs[1].beads, psi5, sizeof psi5) && cvs[1].n_bins == 60);
    cr_assert_eq(cgdml_collective_default_phi_psi(7, 0, cvs), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "no default phi/psi beads for 7 beads"));
}

/* ---- binning ------------------------------------------------------------- */

Test(strata, dihedral_bins_are_periodic)
{
    enum { N = 12, EXTRA = 5 };
    const double w = 2.0 * M_PI / N;
    double dih[N + EXTRA];
    for (size_t b = 0; b < N; b++) /* every bin occupied: stratum index = bin */
        dih[b] = bin_centre(b, N);
    const double edge[EXTRA] = {M_PI - 1e-9, -M_PI + 1e-9, -M_PI + 3 * w + 1e-9,
                                -M_PI + 3 * w - 1e-9, 0.0 /* replaced below */};
    const size_t expected[EXTRA] = {N - 1, 0, 3, 2, 0};
    memcpy(dih + N, edge, sizeof edge);
    cgdml_dataset *data = chains(N + EXTRA, 4, dih);
    /* The last frame is the planar trans chain, whose dihedral is exactly ±pi. */
    const double trans[12] = {BOND, 0, 0, 0, 0, 0, 0, 0, BOND, -BOND, 0, BOND};
    double *x = data->coords + 12 * (N + EXTRA - 1);
    memcpy(x, trans, sizeof trans);
    cr_assert_eq(fabs(cgdml_geometry_dihedral(x, 0, 1, 2, 3)), M_PI);
    cgdml_collective cv = parsed("dihedral:0,1,2,3:12");
    cgdml_strata *st = strata_of_cvs(data, &cv, 1);
    cr_assert_eq(st->n_strata, N);
    for (size_t f = 0; f < N; f++)
        cr_assert_eq(st->stratum_of[f], f);
    for (size_t e = 0; e < EXTRA; e++)
        cr_assert_eq(st->stratum_of[N + e], expected[e], "extra frame %zu", e);
    cgdml_strata_free(st);
    cgdml_dataset_free(data);
}

/* n frames of three beads: a distance d[f] along x from bead 1 at the origin,
 * and bead 2 at angle theta[f] from bead 0 around bead 1. */
static cgdml_dataset *bends(size_t n, const double *d, const double *theta)
{
    cgdml_dataset *data;
    cr_assert_eq(cgdml_dataset_alloc(n, 3, &data), CGDML_OK);
    for (size_t f = 0; f < n; f++) {
        double *x = data->coords + 9 * f;
        x[0] = d[f];
        x[6] = BOND * cos(theta[f]);
        x[7] = BOND * sin(theta[f]);
    }
    return data;
}

/* Stratum of every frame equals expected[f] (all bins occupied in these sets). */
static void assert_bins(const cgdml_dataset *data, const char *spec, const size_t *expected)
{
    cgdml_collective cv = parsed(spec);
    cgdml_strata *st = strata_of_cvs(data, &cv, 1);
    cr_assert_eq(st->n_strata, cv.n_bins, "%s", spec);
    for (size_t f = 0; f < data->n_frames; f++)
        cr_assert_eq(st->stratum_of[f], expected[f], "%s, frame %zu", spec, f);
    cgdml_strata_free(st);
}

Test(strata, angles_and_distances_clamp_to_the_edge_bins)
{
    /* Angles on 6 bins of [0, pi]: centres, then exactly pi (collinear) and 0. */
    double theta[8], d[8] = {2.25, 2.75, 3.25, 3.75, 1.0, 9.0, 4.0, 2.0};
    for (int b = 0; b < 6; b++)
        theta[b] = (b + 0.5) * M_PI / 6;
    theta[6] = M_PI;
    theta[7] = 0.0;
    cgdml_dataset *data = bends(8, d, theta);
    data->coords[9 * 6 + 6] = -BOND; /* exactly collinear: atan2(0, -) = pi */
    data->coords[9 * 6 + 7] = 0.0;
    data->coords[9 * 7 + 7] = 0.0;
    const size_t angle_bins[8] = {0, 1, 2, 3, 4, 5, 5, 0};
    assert_bins(data, "angle:0,1,2:6", angle_bins);
    /* Range [pi/2, pi] on 3 bins: everything below pi/2 goes to bin 0. */
    const size_t half_bins[8] = {0, 0, 0, 0, 1, 2, 2, 0};
    assert_bins(data, "angle:0,1,2:3:1.5707963267948966,3.141592653589793", half_bins);
    /* Distances on [2, 4] in 4 bins; 1 and 9 Å are outside, 4 Å is the upper edge. */
    const size_t dist_bins[8] = {0, 1, 2, 3, 0, 3, 3, 0};
    assert_bins(data, "distance:0,1:4:2,4", dist_bins);
    /* Automatic range [1, 9] in 8 bins of 1 Å: min in the first, max in the last. */
    const size_t auto_bins[8] = {1, 1, 2, 2, 0, 7, 3, 1};
    cgdml_collective cv = parsed("distance:1,0:8");
    cgdml_strata *st = strata_of_cvs(data, &cv, 1);
    cr_assert_eq(st->n_strata, 5, "bins 0, 1, 2, 3, 7 occupied");
    for (size_t f = 0; f < 8; f++)
        cr_assert_eq(st->stratum_of[f], auto_bins[f] == 7 ? 4 : auto_bins[f], "frame %zu", f);
    cgdml_strata_free(st);
    cgdml_dataset_free(data);
}

Test(strata, two_cvs_combine_with_the_first_slowest)
{
    enum { NP = 4, NS = 3 };
    double dih[2 * NP * NS];
    size_t bin[NP * NS];
    for (size_t k = 0; k < NP * NS; k++) { /* frames in scrambled order */
        size_t f = (5 * k + 3) % (NP * NS), i = k / NS, j = k % NS;
        dih[2 * f] = bin_centre(i, NP);
        dih[2 * f + 1] = bin_centre(j, NS);
        bin[f] = i * NS + j;
    }
    cgdml_dataset *data = chains(NP * NS, 5, dih);
    cgdml_collective cvs[2] = {parsed("dihedral:0,1,2,3:4"), parsed("dihedral:1,2,3,4:3")};
    cgdml_strata *st = strata_of_cvs(data, cvs, 2);
    cr_assert_eq(st->n_strata, NP * NS);
    for (size_t f = 0; f < NP * NS; f++)
        cr_assert_eq(st->stratum_of[f], bin[f], "frame %zu", f);
    cgdml_strata_free(st);
    cgdml_dataset_free(data);
}

Test(strata, from_cvs_refuses_bad_input)
{
    double dih[2] = {0.1, 0.2};
    cgdml_dataset *data = chains(2, 4, dih);
    cgdml_strata *st = (cgdml_strata *)1;
    cgdml_collective cv = parsed("dihedral:0,1,2,4:10"), ok = parsed("distance:0,3:5");
    cr_assert_eq(cgdml_strata_from_cvs(data, &cv, 1, &st), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "bead 4 is outside 0..3"), "%s", cgdml_error_message());
    cr_assert_null(st);
    cr_assert_eq(cgdml_strata_from_cvs(data, &ok, 0, &st), CGDML_ERR_INVALID);
    cgdml_collective five[5] = {ok, ok, ok, ok, ok};
    cr_assert_eq(cgdml_strata_from_cvs(data, five, 5, &st), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "expected 1 to 4"));
    cgdml_collective zero = ok;
    zero.n_bins = 0;
    cr_assert_eq(cgdml_strata_from_cvs(data, &zero, 1, &st), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "at least 1"));
    data->coords[3 * 4 + 1] = NAN; /* frame 1, bead 0 */
    cr_assert_eq(cgdml_strata_from_cvs(data, &ok, 1, &st), CGDML_ERR_NUMERIC);
    cr_assert(strstr(cgdml_error_message(), "frame 1"), "%s", cgdml_error_message());
    cgdml_dataset_free(data);
}

/* n frames of a n_beads chain with uniformly random dihedrals. */
static cgdml_dataset *random_chains(size_t n, size_t n_beads, unsigned long seed)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    double *dih = malloc(n * (n_beads - 3) * sizeof *dih);
    for (size_t i = 0; i < n * (n_beads - 3); i++)
        dih[i] = gsl_ran_flat(rng, -M_PI, M_PI);
    cgdml_dataset *data = chains(n, n_beads, dih);
    free(dih);
    gsl_rng_free(rng);
    return data;
}

/* Binning sorts the frames' bin keys, so its cost and memory go with the frames,
 * not with the bins (the speed is measured by `make bench`, not asserted here). */
Test(strata, fine_grids_on_many_frames_are_per_frame_in_memory)
{
    enum { N = 100000 };
    cgdml_dataset *data = random_chains(N, 7, 11);
    cgdml_collective cvs[4];
    for (int i = 0; i < 4; i++)
        cvs[i] = (cgdml_collective){CGDML_COLLECTIVE_DIHEDRAL, {i, i + 1, i + 2, i + 3}, 300, 0, 0};
    cgdml_strata *st = strata_of_cvs(data, cvs, 2);
    /* 90000 bins, 100k uniform frames: about 90000 (1 - e^-1.11) = 60000 occupied. */
    cr_assert(st->n_strata > 57000 && st->n_strata < 63000, "%zu strata", st->n_strata);
    cgdml_strata_free(st);
    /* 300^4 = 8.1e9 bins: a dense per-bin array would need 65 GB; the strata must fit
     * in 64 bytes per frame, and a budget below one key per frame must be refused. */
    cgdml_memory_set_budget(64 * N);
    st = strata_of_cvs(data, cvs, 4);
    cr_assert_geq(st->n_strata, N - 10, "nearly every frame alone: %zu", st->n_strata);
    cgdml_strata_free(st);
    cgdml_memory_set_budget(4 * N);
    cr_assert_eq(cgdml_strata_from_cvs(data, cvs, 4, &st), CGDML_ERR_NOMEM);
    cgdml_memory_set_budget(0);
    cgdml_dataset_free(data);
}

/* ---- draws --------------------------------------------------------------- */

/* 1000 frames on 10 dihedral bins: 900 in bin 0, the other 100 spread over bins
 * 1..9, in shuffled order; bin[f] receives each frame's bin. */
enum { POP_FRAMES = 1000, POP_BINS = 10 };
static const size_t population[POP_BINS] = {900, 12, 12, 12, 12, 11, 11, 10, 10, 10};

static cgdml_strata *uneven_strata(size_t *bin)
{
    double dih[POP_FRAMES];
    for (size_t b = 0, f = 0; b < POP_BINS; b++)
        for (size_t i = 0; i < population[b]; i++, f++)
            bin[f] = b;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_ran_shuffle(rng, bin, POP_FRAMES, sizeof *bin);
    gsl_rng_free(rng);
    for (size_t f = 0; f < POP_FRAMES; f++)
        dih[f] =
            bin_centre(bin[f], POP_BINS) + 0.3 * ((double)(f % 3) - 1.0) * (2 * M_PI / POP_BINS);
    cgdml_dataset *data = chains(POP_FRAMES, 4, dih);
    cgdml_collective cv = parsed("dihedral:0,1,2,3:10");
    cgdml_strata *st = strata_of_cvs(data, &cv, 1);
    cgdml_dataset_free(data);
    cr_assert_eq(st->n_strata, POP_BINS);
    return st;
}

Test(strata, stratified_draws_are_uniform_over_occupied_bins)
{
    enum { M = 100000 };
    size_t bin[POP_FRAMES], count[POP_BINS] = {0}, *idx;
    char hit[POP_FRAMES] = {0};
    cgdml_strata *st = uneven_strata(bin);
    cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_STRATIFIED, M, 3, &idx), CGDML_OK);
    for (size_t i = 0; i < M; i++) {
        cr_assert_lt(idx[i], POP_FRAMES);
        count[bin[idx[i]]]++;
        hit[idx[i]] = 1;
    }
    for (size_t b = 0; b < POP_BINS; b++)
        cr_assert(fabs(count[b] - M / 10.0) < FIVE_SIGMA(M, 0.1), "bin %zu: %zu draws", b,
                  count[b]);
    cr_assert_lt(count[0], 0.2 * M, "not proportional to the population (90 %%)");
    size_t distinct = 0;
    for (size_t f = 0; f < POP_FRAMES; f++)
        distinct += hit[f] && bin[f] == 0;
    cr_assert_gt(distinct, 850, "uniform inside bin 0: ~11 draws per frame reach %zu/900",
                 distinct);
    free(idx);
    cgdml_strata_free(st);
}

Test(strata, random_draws_follow_the_population)
{
    enum { M = 50, DRAWS = 400 };
    size_t bin[POP_FRAMES], count[POP_BINS] = {0}, *idx;
    cgdml_strata *st = uneven_strata(bin);
    for (unsigned long seed = 1; seed <= DRAWS; seed++) {
        cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_RANDOM, M, seed, &idx), CGDML_OK);
        for (size_t i = 0; i < M; i++) {
            cr_assert(i == 0 || idx[i - 1] < idx[i], "ascending and distinct");
            count[bin[idx[i]]]++;
        }
        free(idx);
    }
    const double n = M * DRAWS;
    for (size_t b = 0; b < POP_BINS; b++) {
        double p = population[b] / (double)POP_FRAMES;
        cr_assert(fabs(count[b] - n * p) < FIVE_SIGMA(n, p), "bin %zu: %zu, expected %g", b,
                  count[b], n * p);
    }
    cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_RANDOM, POP_FRAMES + 1, 1, &idx),
                 CGDML_ERR_INVALID);
    cgdml_strata_free(st);
}

Test(strata, unique_draws_visit_distinct_strata)
{
    enum { DRAWS = 2000, M = 3 };
    size_t bin[POP_FRAMES], count[POP_BINS] = {0}, *idx;
    cgdml_strata *st = uneven_strata(bin);
    cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_STRATIFIED_UNIQUE, POP_BINS, 5, &idx), CGDML_OK);
    for (size_t i = 0; i < POP_BINS; i++) {
        cr_assert(i == 0 || idx[i - 1] < idx[i], "ascending");
        cr_assert_eq(count[bin[idx[i]]]++, 0, "bin %zu twice", bin[idx[i]]);
    }
    free(idx);
    memset(count, 0, sizeof count);
    for (unsigned long seed = 1; seed <= DRAWS; seed++) {
        cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_STRATIFIED_UNIQUE, M, seed, &idx), CGDML_OK);
        cr_assert(bin[idx[0]] != bin[idx[1]] && bin[idx[0]] != bin[idx[2]] &&
                  bin[idx[1]] != bin[idx[2]]);
        for (size_t i = 0; i < M; i++)
            count[bin[idx[i]]]++;
        free(idx);
    }
    for (size_t b = 0; b < POP_BINS; b++) /* each stratum in a draw with p = 3/10 */
        cr_assert(fabs(count[b] - DRAWS * 0.3) < FIVE_SIGMA(DRAWS, 0.3), "bin %zu: %zu", b,
                  count[b]);
    cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_STRATIFIED_UNIQUE, POP_BINS + 1, 1, &idx),
                 CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "only 10 strata are occupied"), "%s",
              cgdml_error_message());
    cr_assert_null(idx);
    cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_STRATIFIED, 0, 1, &idx), CGDML_ERR_INVALID);
    cgdml_strata_free(st);
}

Test(strata, draws_reproduce_for_a_seed)
{
    size_t bin[POP_FRAMES];
    cgdml_strata *st = uneven_strata(bin);
    const cgdml_draw_kind kinds[4] = {CGDML_DRAW_STRATIFIED, CGDML_DRAW_STRATIFIED_UNIQUE,
                                      CGDML_DRAW_RANDOM, CGDML_DRAW_PARTITION};
    for (int k = 0; k < 4; k++) {
        size_t *a, *b, *c, m = 8;
        cr_assert_eq(cgdml_strata_draw(st, kinds[k], m, 42, &a), CGDML_OK);
        cr_assert_eq(cgdml_strata_draw(st, kinds[k], m, 42, &b), CGDML_OK);
        cr_assert_eq(cgdml_strata_draw(st, kinds[k], m, 43, &c), CGDML_OK);
        cr_assert_eq(memcmp(a, b, m * sizeof *a), 0, "kind %d: same seed, same frames", k);
        cr_assert_neq(memcmp(a, c, m * sizeof *a), 0, "kind %d: other seed, other frames", k);
        free(a);
        free(b);
        free(c);
    }
    cgdml_strata_free(st);
}

/* ---- exclusion and partitions ------------------------------------------- */

/* Every third frame, and all of bin 9 (so one stratum empties and must go). */
static size_t uneven_exclusion(const size_t *bin, size_t *ex)
{
    size_t n = 0;
    for (size_t f = 0; f < POP_FRAMES; f++)
        if (f % 3 == 0 || bin[f] == 9)
            ex[n++] = f;
    return n;
}

Test(strata, excluded_frames_leave_every_stratum_and_every_draw)
{
    size_t bin[POP_FRAMES], ex[POP_FRAMES], *idx;
    cgdml_strata *st = uneven_strata(bin);
    size_t n_ex = uneven_exclusion(bin, ex);
    char out[POP_FRAMES] = {0};
    for (size_t i = 0; i < n_ex; i++)
        out[ex[i]] = 1;
    size_t left = 0;
    for (size_t f = 0; f < POP_FRAMES; f++)
        left += !out[f];
    cr_assert_eq(cgdml_strata_exclude(st, ex, n_ex), CGDML_OK);
    cr_assert_eq(st->n_pool, left);
    cr_assert_eq(st->offset[st->n_strata], left);
    cr_assert_eq(st->n_strata, POP_BINS - 1, "bin 9 emptied and dropped: %zu", st->n_strata);
    for (size_t s = 0; s < st->n_strata; s++)
        for (size_t i = st->offset[s]; i < st->offset[s + 1]; i++) {
            cr_assert(!out[st->frame[i]], "frame %zu excluded but in stratum %zu", st->frame[i], s);
            cr_assert_eq(st->stratum_of[st->frame[i]], s);
            cr_assert(i == st->offset[s] || st->frame[i - 1] < st->frame[i]);
            cr_assert_eq(bin[st->frame[i]], bin[st->frame[st->offset[s]]], "one bin per stratum");
        }
    for (size_t f = 0; f < POP_FRAMES; f++)
        cr_assert_eq(st->stratum_of[f] == CGDML_STRATUM_NONE, out[f], "frame %zu", f);
    const cgdml_draw_kind kinds[] = {CGDML_DRAW_STRATIFIED, CGDML_DRAW_STRATIFIED_UNIQUE,
                                     CGDML_DRAW_RANDOM, CGDML_DRAW_PARTITION};
    const size_t m[] = {5000, POP_BINS - 1, 600, 600};
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(cgdml_strata_draw(st, kinds[k], m[k], 7, &idx), CGDML_OK, "kind %d", k);
        for (size_t i = 0; i < m[k]; i++)
            cr_assert(idx[i] < POP_FRAMES && !out[idx[i]], "kind %d drew excluded frame %zu", k,
                      idx[i]);
        free(idx);
    }
    cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_RANDOM, left + 1, 7, &idx), CGDML_ERR_INVALID,
                 "more than the pool");
    cgdml_strata_free(st);
}

Test(strata, nothing_excluded_keeps_the_draws)
{
    size_t bin[POP_FRAMES], *a, *b;
    cgdml_strata *st = uneven_strata(bin);
    cr_assert_eq(cgdml_strata_draw(st, CGDML_DRAW_RANDOM, 50, 9, &a), CGDML_OK);
    cr_assert_eq(cgdml_sample_random(POP_FRAMES, 50, 9, &b), CGDML_OK);
    cr_assert_eq(memcmp(a, b, 50 * sizeof *a), 0, "random draw: cgdml_sample_random's frames");
    free(a);
    free(b);
    cgdml_strata_free(st);
}

Test(strata, bad_exclusions_are_refused_and_change_nothing)
{
    size_t bin[POP_FRAMES], all[POP_FRAMES], beyond[2] = {3, POP_FRAMES};
    cgdml_strata *st = uneven_strata(bin);
    for (size_t f = 0; f < POP_FRAMES; f++)
        all[f] = f;
    cr_assert_eq(cgdml_strata_exclude(st, beyond, 2), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "frame 1000 (entry 1) is beyond the dataset's 1000"),
              "%s", cgdml_error_message());
    cr_assert_eq(cgdml_strata_exclude(st, all, POP_FRAMES), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "leave none of the 1000"), "%s", cgdml_error_message());
    cr_assert_eq(st->n_pool, POP_FRAMES);
    cr_assert_eq(st->n_strata, POP_BINS);
    cr_assert_neq(st->stratum_of[3], CGDML_STRATUM_NONE, "unchanged after a refusal");
    cgdml_strata_free(st);
}

Test(strata, partition_blocks_are_disjoint_and_cover_the_pool)
{
    enum { M = 120 };
    size_t bin[POP_FRAMES], ex[POP_FRAMES], *idx;
    cgdml_strata *st = uneven_strata(bin);
    cr_assert_eq(cgdml_strata_exclude(st, ex, uneven_exclusion(bin, ex)), CGDML_OK);
    size_t blocks = st->n_pool / M;
    cr_assert_geq(blocks, 4);
    unsigned char seen[POP_FRAMES] = {0};
    for (size_t b = 0; b < blocks; b++) {
        cr_assert_eq(cgdml_strata_partition_block(st, M, b, 11, &idx), CGDML_OK, "block %zu", b);
        for (size_t i = 0; i < M; i++) {
            cr_assert_neq(st->stratum_of[idx[i]], CGDML_STRATUM_NONE, "in the pool");
            cr_assert_eq(seen[idx[i]]++, 0, "frame %zu in two blocks", idx[i]);
            cr_assert(i == 0 || idx[i - 1] < idx[i], "ascending");
        }
        free(idx);
    }
    size_t used = 0;
    for (size_t f = 0; f < POP_FRAMES; f++)
        used += seen[f];
    cr_assert_eq(used, blocks * M);
    /* the permutation mixes the pool: block 0 is not the lowest frames */
    cr_assert_eq(cgdml_strata_partition_block(st, M, 0, 11, &idx), CGDML_OK);
    cr_assert_gt(idx[M - 1], st->n_pool / 2, "block 0 reaches frame %zu", idx[M - 1]);
    free(idx);
    cr_assert_eq(cgdml_strata_partition_block(st, M, blocks, 11, &idx), CGDML_ERR_INVALID);
    cr_assert_null(idx);
    cgdml_strata_free(st);
}

Test(strata, a_partition_block_depends_on_seed_block_and_pool_only)
{
    enum { M = 50 };
    size_t bin[POP_FRAMES], ex[POP_FRAMES], *a, *b, *c, *d;
    cgdml_strata *st = uneven_strata(bin), *other = uneven_strata(bin);
    cr_assert_eq(cgdml_strata_partition_block(st, M, 3, 5, &a), CGDML_OK);
    cr_assert_eq(cgdml_strata_partition_block(other, M, 3, 5, &b), CGDML_OK);
    cr_assert_eq(memcmp(a, b, M * sizeof *a), 0, "the same block from other strata objects");
    cr_assert_eq(cgdml_strata_partition_block(st, M, 3, 6, &c), CGDML_OK);
    cr_assert_neq(memcmp(a, c, M * sizeof *a), 0, "another seed, another permutation");
    cr_assert_eq(cgdml_strata_exclude(other, ex, uneven_exclusion(bin, ex)), CGDML_OK);
    cr_assert_eq(cgdml_strata_partition_block(other, M, 3, 5, &d), CGDML_OK);
    cr_assert_neq(memcmp(a, d, M * sizeof *a), 0, "another pool, another block");
    free(a);
    free(b);
    free(c);
    free(d);
    cgdml_strata_free(st);
    cgdml_strata_free(other);
}

/* ---- k-means ------------------------------------------------------------- */

/* Frames of 4 beads from three shapes far apart in inverse-distance space (a
 * compact tetrahedron, a stretched chain, a wide square), with Gaussian noise of
 * `noise` Å; frame f belongs to shape cluster[f] (shuffled). */
static cgdml_dataset *three_shapes(size_t n, double noise, size_t *cluster)
{
    static const double shape[3][12] = {
        {0, 0, 0, 1.5, 0, 0, 0.75, 1.3, 0, 0.75, 0.43, 1.22},
        {0, 0, 0, 3, 0, 0, 6, 0, 0, 9, 0, 0},
        {0, 0, 0, 5, 0, 0, 5, 5, 0, 0, 5, 0},
    };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    for (size_t f = 0; f < n; f++)
        cluster[f] = f % 3;
    gsl_ran_shuffle(rng, cluster, n, sizeof *cluster);
    cgdml_dataset *data;
    cr_assert_eq(cgdml_dataset_alloc(n, 4, &data), CGDML_OK);
    for (size_t f = 0; f < n; f++)
        for (int i = 0; i < 12; i++)
            data->coords[12 * f + i] = shape[cluster[f]][i] + gsl_ran_gaussian(rng, noise);
    gsl_rng_free(rng);
    return data;
}

static cgdml_strata *kmeans(const cgdml_dataset *data, size_t k, unsigned long seed)
{
    cgdml_strata *st;
    cr_assert_eq(cgdml_strata_kmeans(data, k, seed, &st), CGDML_OK, "%s", cgdml_error_message());
    assert_partition(st, data->n_frames);
    return st;
}

/* The strata are exactly the clusters: same cluster <=> same stratum. */
static void assert_strata_are_clusters(const cgdml_strata *st, const size_t *cluster, size_t n)
{
    cr_assert_eq(st->n_strata, 3);
    for (size_t f = 0; f < n; f++)
        for (size_t g = 0; g < f; g++)
            cr_assert_eq(st->stratum_of[f] == st->stratum_of[g], cluster[f] == cluster[g],
                         "frames %zu and %zu", f, g);
}

Test(strata, kmeans_finds_well_separated_clusters)
{
    enum { N = 300 };
    size_t cluster[N];
    cgdml_dataset *data = three_shapes(N, 0.03, cluster);
    for (unsigned long seed = 1; seed <= 5; seed++) {
        cgdml_strata *st = kmeans(data, 3, seed);
        assert_strata_are_clusters(st, cluster, N);
        cgdml_strata_free(st);
    }
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    cgdml_strata *one = kmeans(data, 7, 9);
    omp_set_num_threads(3);
    cgdml_strata *three = kmeans(data, 7, 9);
    omp_set_num_threads(threads);
    cr_assert_eq(one->n_strata, three->n_strata);
    cr_assert_eq(memcmp(one->stratum_of, three->stratum_of, N * sizeof(size_t)), 0,
                 "same seed, same strata at any thread count");
    cgdml_strata_free(one);
    cgdml_strata_free(three);
    cgdml_dataset_free(data);
}

Test(strata, kmeans_drops_empty_clusters_and_refuses_bad_k)
{
    enum { N = 30 };
    size_t cluster[N];
    cgdml_dataset *data = three_shapes(N, 0.0, cluster); /* three distinct frames, repeated */
    cgdml_strata *st = kmeans(data, 6, 1);
    assert_strata_are_clusters(st, cluster, N);
    cgdml_strata_free(st);
    cr_assert_eq(cgdml_strata_kmeans(data, 0, 1, &st), CGDML_ERR_INVALID);
    cr_assert_eq(cgdml_strata_kmeans(data, N + 1, 1, &st), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "k = 31 for 30 frames"), "%s", cgdml_error_message());
    cgdml_dataset_free(data);
}

/* Without clusters in the data, Lloyd's answer is still a fixed point: every frame
 * is nearer (in descriptor space) to the mean of its own stratum than to any other
 * stratum's mean.  Stopping after the seeding would not pass. */
Test(strata, kmeans_strata_are_a_lloyd_fixed_point)
{
    enum { N = 400, BEADS = 6, D = BEADS * (BEADS - 1) / 2, K = 6 };
    cgdml_dataset *data = random_chains(N, BEADS, 5);
    cgdml_strata *st = kmeans(data, K, 2);
    cr_assert_eq(st->n_strata, K);
    double desc[N][D], mean[K][D] = {{0}};
    for (size_t f = 0; f < N; f++) {
        cgdml_descriptor_compute(BEADS, data->coords + 3 * BEADS * f, desc[f]);
        size_t s = st->stratum_of[f], size = st->offset[s + 1] - st->offset[s];
        for (int e = 0; e < D; e++)
            mean[s][e] += desc[f][e] / size;
    }
    for (size_t f = 0; f < N; f++) {
        double d2[K] = {0};
        for (size_t s = 0; s < K; s++)
            for (int e = 0; e < D; e++)
                d2[s] += (desc[f][e] - mean[s][e]) * (desc[f][e] - mean[s][e]);
        double own = d2[st->stratum_of[f]];
        for (size_t s = 0; s < K; s++)
            cr_assert_leq(own, d2[s] * (1 + 1e-12), "frame %zu is nearer stratum %zu", f, s);
    }
    cgdml_strata_free(st);
    cgdml_dataset_free(data);
}
