/* test_sample.c - frame selections: seeded random draws reproduce and are
 * distinct, index files (text and .npy) are read and range-checked, complements
 * partition the frames.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/sample.h"

Test(sample, random_draws_are_distinct_sorted_and_reproducible)
{
    size_t *a, *b, *c;
    cr_assert_eq(cgdml_sample_random(1000, 300, 7, &a), CGDML_OK);
    cr_assert_eq(cgdml_sample_random(1000, 300, 7, &b), CGDML_OK);
    cr_assert_eq(cgdml_sample_random(1000, 300, 8, &c), CGDML_OK);
    cr_assert_eq(memcmp(a, b, 300 * sizeof *a), 0, "same seed, same frames");
    cr_assert_neq(memcmp(a, c, 300 * sizeof *a), 0, "another seed, other frames");
    for (size_t k = 1; k < 300; k++)
        cr_assert_lt(a[k - 1], a[k], "increasing, hence distinct");
    cr_assert_lt(a[299], 1000);
    /* Uniform: the mean index of 300 draws from 0..999 is 499.5 ± 3σ (σ ≈ 14). */
    double mean = 0.0;
    for (size_t k = 0; k < 300; k++)
        mean += (double)a[k] / 300.0;
    cr_assert(mean > 499.5 - 45 && mean < 499.5 + 45, "mean index %g", mean);
    free(a);
    free(b);
    free(c);
}

Test(sample, impossible_draws_are_refused)
{
    size_t *a;
    cr_assert_eq(cgdml_sample_random(10, 11, 1, &a), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "cannot draw 11 frames from a dataset of 10"));
    cr_assert_eq(cgdml_sample_random(10, 0, 1, &a), CGDML_ERR_INVALID);
    cr_assert_null(a);
}

Test(sample, index_files_text_and_npy)
{
    char path[] = "/tmp/cgdml-idx-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "5 3\n\t9\n");
    fclose(f);
    size_t *idx, n;
    cr_assert_eq(cgdml_sample_read_indices(path, 10, &idx, &n), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(n, 3);
    cr_assert(idx[0] == 5 && idx[1] == 3 && idx[2] == 9);
    free(idx);
    cr_assert_eq(cgdml_sample_read_indices(path, 9, &idx, &n), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "index 9 (entry 3) is out of range"), "%s",
              cgdml_error_message());
    remove(path);
    char npy[512];
    snprintf(npy, sizeof npy, "%s/tests/data/indices_i4.npy",
             getenv("CGDML_SRC") ? getenv("CGDML_SRC") : ".");
    cr_assert_eq(cgdml_sample_read_indices(npy, 1000000, &idx, &n), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_gt(n, 0);
    free(idx);
}

Test(sample, complement_partitions_the_frames)
{
    size_t used[4] = {0, 7, 3, 7}, *rest, n;
    cr_assert_eq(cgdml_sample_complement(8, used, 4, &rest, &n), CGDML_OK);
    cr_assert_eq(n, 5);
    size_t expected[5] = {1, 2, 4, 5, 6};
    cr_assert_eq(memcmp(rest, expected, sizeof expected), 0);
    free(rest);
}
