/* test_fuzz_regressions.c - inputs that once crashed a file reader, each checked
 * for a clean refusal: the status and a message that says what was wrong.
 *
 * The libFuzzer targets (tests/fuzz/, `make fuzz`) hunt for such inputs; every one
 * they find is fixed in the reader and lands here, as a file under
 * tests/fuzz/regressions/ or, when the file is easier to describe than to store,
 * built below with the HDF5 C API.  Under `make test SAN=1` the pre-fix behaviour
 * is an AddressSanitizer report; in the plain build a wrong status or message.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmp_dir.h"
#include "cgdml/h5md.h"
#include "cgdml/model.h"

enum { TEST_PATH_MAX = 512, N_BEADS = 3 };

/* Dimensions no file could hold, chosen so that the readers' byte counts wrapped
 * around 2^64 to small numbers before the fixes: 2^60 beads make
 * n_beads * 3 * 2 * sizeof(double) = 3 * 2^64; 2^61 training frames of 3
 * descriptor entries make 2 * n_train * 3 * sizeof(double) = 3 * 2^65; 2^62 bonds
 * make n_bonds * 2 * sizeof(int) = 2^65. */
#define HUGE_BEADS ((hsize_t)1 << 60)
#define HUGE_TRAIN ((unsigned long long)1 << 61)
#define HUGE_BONDS ((hsize_t)1 << 62)

static char tmp_dir[TEST_PATH_MAX];

static void setup(void)
{
    test_tmp_dir_make(tmp_dir, sizeof tmp_dir, "cgdml-fuzzreg");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void teardown(void)
{
    test_tmp_dir_remove(tmp_dir);
}

TestSuite(fuzz_regressions, .init = setup, .fini = teardown);

static const char *tpath(const char *name)
{
    static char buf[4][2 * TEST_PATH_MAX];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 2 * TEST_PATH_MAX, "%s/%s", tmp_dir, name);
    return p;
}

/* A chunked dataset `name` of `rank` dimensions `dims` (no data written: HDF5
 * allocates chunks lazily, so the dims may be far beyond the file's size). */
static void make_sparse(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims)
{
    hsize_t chunk[H5S_MAX_RANK];
    for (int k = 0; k < rank; k++)
        chunk[k] = 1;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    cr_assert_geq(H5Pset_chunk(dcpl, rank, chunk), 0);
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t ds = H5Dcreate2(file, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    cr_assert_geq(ds, 0, "cannot create %s", name);
    H5Dclose(ds);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
}

/* An H5MD file whose position and force values claim (1, n_beads, 3). */
static const char *h5md_with_beads(const char *name, hsize_t n_beads)
{
    const char *path = tpath(name);
    hsize_t dims[3] = {1, n_beads, 3};
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    make_sparse(f, "/particles/cg/position/value", H5T_NATIVE_DOUBLE, 3, dims);
    make_sparse(f, "/particles/cg/force/value", H5T_NATIVE_DOUBLE, 3, dims);
    H5Fclose(f);
    return path;
}

/* Was: cgdml_dataset_bytes(1, 2^60) wrapped to 16 bytes, the budget let it pass
 * and cgdml_dataset_alloc's calloc overflowed (an ASan report; in the plain build
 * a "cannot allocate" message claiming 0.0 MB). */
Test(fuzz_regressions, h5md_bead_count_that_wraps_the_byte_count_is_over_budget)
{
    cgdml_dataset *d = NULL;
    const char *path = h5md_with_beads("huge_beads.h5", HUGE_BEADS);
    cr_assert_eq(cgdml_h5md_read(path, NULL, &d), CGDML_ERR_NOMEM, "%s", cgdml_error_message());
    cr_assert(strstr(cgdml_error_message(), "1152921504606846976 beads"), "%s",
              cgdml_error_message());
    cr_assert(strstr(cgdml_error_message(), "memory budget"), "%s", cgdml_error_message());
    cr_assert_null(d);
}

/* Was: 2^62 bonds * 2 * sizeof(int) wrapped to 0, malloc(0) passed the budget
 * and the 0-byte buffer went to H5Dread, which only its own size check stopped
 * ("can't get number of elements selected"). */
Test(fuzz_regressions, h5md_bond_count_that_wraps_the_byte_count_is_refused)
{
    cgdml_dataset *d = NULL;
    const char *path = h5md_with_beads("huge_bonds.h5", N_BEADS);
    hsize_t dims[2] = {HUGE_BONDS, 2};
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    make_sparse(f, "/connectivity/cg_bonds", H5T_NATIVE_INT, 2, dims);
    H5Fclose(f);
    cr_assert_eq(cgdml_h5md_read(path, NULL, &d), CGDML_ERR_NOMEM, "%s", cgdml_error_message());
    cr_assert(strstr(cgdml_error_message(), "/connectivity/cg_bonds claims 4611686018427387904 "
                                            "bonds"),
              "%s", cgdml_error_message());
    cr_assert_null(d);
}

/* Was: a variable-length bead name that HDF5 reads as NULL (an unset entry) went
 * to memcpy as its source (UBSan: null pointer passed as argument 2); found by
 * fuzz_h5md.  Now the bead has no name (""), as the dataset allows. */
Test(fuzz_regressions, h5md_null_variable_length_bead_name_reads_as_empty)
{
    cgdml_dataset *d = NULL, *back = NULL;
    const char *path = tpath("null_name.h5");
    cr_assert_eq(cgdml_dataset_alloc(2, N_BEADS, &d), CGDML_OK);
    for (size_t k = 0; k < 2 * N_BEADS * 3; k++)
        d->coords[k] = (double)k;
    cr_assert_eq(cgdml_h5md_write(path, d, NULL), CGDML_OK, "%s", cgdml_error_message());
    cgdml_dataset_free(d);

    const char *names[N_BEADS] = {"CA", NULL, "C"};
    hsize_t n = N_BEADS;
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(H5Ldelete(f, "/parameters/cgdml/bead_names", H5P_DEFAULT), 0);
    hid_t str = H5Tcopy(H5T_C_S1), space = H5Screate_simple(1, &n, NULL);
    H5Tset_size(str, H5T_VARIABLE);
    hid_t ds = H5Dcreate2(f, "/parameters/cgdml/bead_names", str, space, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    cr_assert_geq(H5Dwrite(ds, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, names), 0);
    H5Dclose(ds);
    H5Sclose(space);
    H5Tclose(str);
    H5Fclose(f);

    cr_assert_eq(cgdml_h5md_read(path, NULL, &back), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_str_eq(back->bead_names[0], "CA");
    cr_assert_str_eq(back->bead_names[1], "");
    cr_assert_str_eq(back->bead_names[2], "C");
    cgdml_dataset_free(back);
}

/* A valid model of one training frame of N_BEADS beads, saved at `name`. */
static const char *saved_model(const char *name)
{
    cgdml_model *m;
    cr_assert_eq(cgdml_model_alloc(1, N_BEADS, &m), CGDML_OK, "%s", cgdml_error_message());
    m->kind = CGDML_MODEL_SINGLE;
    m->sigma = 1.0;
    m->lambda = 1e-10;
    const char *path = tpath(name);
    cr_assert_eq(cgdml_model_save(m, path), CGDML_OK, "%s", cgdml_error_message());
    cgdml_model_free(m);
    return path;
}

/* Replace the model's dataset `name` by one of the highest rank HDF5 allows, every
 * dimension 1, and load the file; the load must fail with a message holding
 * `expected`. */
static void load_with_max_rank(const char *file, const char *name, hid_t type, const char *expected)
{
    const char *path = saved_model(file);
    hsize_t dims[H5S_MAX_RANK];
    for (int k = 0; k < H5S_MAX_RANK; k++)
        dims[k] = 1;
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (H5Lexists(f, name, H5P_DEFAULT) > 0)
        cr_assert_geq(H5Ldelete(f, name, H5P_DEFAULT), 0);
    make_sparse(f, name, type, H5S_MAX_RANK, dims);
    H5Fclose(f);
    cgdml_model *m = NULL;
    cr_assert_eq(cgdml_model_load(path, &m), CGDML_ERR_FORMAT, "%s", cgdml_error_message());
    cr_assert(strstr(cgdml_error_message(), expected), "%s", cgdml_error_message());
    cr_assert_null(m);
}

/* Was: the shape of each model array was read into hsize_t found[2], and HDF5
 * writes one entry per dimension the file claims: 30 entries past the array for
 * rank 32.  (ASan cannot see it, libhdf5 being uninstrumented; the clobbered stack
 * crashes the load.)  Found by reading src/model_io.c beside the fuzzer. */
Test(fuzz_regressions, model_array_of_rank_32_is_refused)
{
    load_with_max_rank("rank32.h5", "/cgdml_model/train_descriptors", H5T_NATIVE_DOUBLE,
                       "dataset 'train_descriptors' has shape (1, 1) of rank 32; expected (1, "
                       "3) of rank 2");
}

/* The same overflow in the optional prior, whose lengths are read first (dims[2]). */
Test(fuzz_regressions, model_prior_of_rank_32_is_refused)
{
    load_with_max_rank("prior32.h5", "/cgdml_model/prior/bonds", H5T_NATIVE_INT, "prior");
}

/* Was: 2 * n_train * 3 * sizeof(double) wrapped to 0 for n_train = 2^61, the
 * budget let it pass and cgdml_model_alloc's calloc overflowed (an ASan report;
 * in the plain build "cannot allocate a model"). */
Test(fuzz_regressions, model_n_train_that_wraps_the_byte_count_is_refused)
{
    const char *path = saved_model("huge_train.h5");
    unsigned long long n_train = HUGE_TRAIN;
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "/cgdml_model", H5P_DEFAULT);
    hid_t a = H5Aopen(g, "n_train", H5P_DEFAULT);
    cr_assert_geq(a, 0);
    cr_assert_geq(H5Awrite(a, H5T_NATIVE_ULLONG, &n_train), 0);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
    cgdml_model *m = NULL;
    cr_assert_eq(cgdml_model_load(path, &m), CGDML_ERR_NOMEM, "%s", cgdml_error_message());
    cr_assert(strstr(cgdml_error_message(), "the model claims 2305843009213693952 training "
                                            "frames of 3 descriptor entries"),
              "%s", cgdml_error_message());
    cr_assert_null(m);
}
