/* test_npy.c - tests of the NumPy import module (src/npy.c): reading the files
 * NumPy writes (tests/data, made by tests/data/make_npy_fixtures.py), the writer's
 * round trip, and every refusal, each checked for its status and for a message that
 * says what was found.
 *
 * The fixtures hold arange-based values, recomputed here: for the flat index k of
 * a (4 frames, 5 beads, 3) array, coords = k / 10 and forces = 1 - k / 8 (rounded
 * to float in the '<f4' files).  Files a test writes go to a fresh mkdtemp folder.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgdml/npy.h"
#include "cgdml/npz.h"
#include "cgdml/atomic.h"
#include "cgdml/memory.h"

#include "tmp_dir.h"

enum { FIX_FRAMES = 4, FIX_BEADS = 5, FIX_VALUES = FIX_FRAMES * FIX_BEADS * 3 };

static char tmp_dir[] = "/tmp/cgdml_test_npy_XXXXXX";
static char path_buf[8][CGDML_PATH_MAX];
static int path_next;

static void setup(void) { cr_assert_not_null(mkdtemp(tmp_dir), "cannot create a temp folder"); }

static void teardown(void)
{
    DIR *d = opendir(tmp_dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        char p[CGDML_PATH_MAX];
        snprintf(p, sizeof p, "%s/%.255s", tmp_dir, e->d_name);
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlink(p);
    }
    closedir(d);
    rmdir(tmp_dir);
}

TestSuite(npy, .init = setup, .fini = teardown);

/* Paths live in a small ring of buffers, so a test can hold a few at once. */
static char *next_path_buf(void) { return path_buf[path_next++ % 8]; }

static const char *fixture(const char *name)
{
    const char *src = getenv("CGDML_SRC");
    char *p = next_path_buf();
    snprintf(p, CGDML_PATH_MAX, "%s/tests/data/%s", src ? src : ".", name);
    return p;
}

static const char *tmp(const char *name)
{
    char *p = next_path_buf();
    snprintf(p, CGDML_PATH_MAX, "%s/%s", tmp_dir, name);
    return p;
}

static double coords_value(size_t k) { return (double)k / 10; }
static double forces_value(size_t k) { return 1 - (double)k / 8; }
static double coords_f4(size_t k) { return (float)coords_value(k); }
static double forces_f4(size_t k) { return (float)forces_value(k); }

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A copy of fixture `name` in the temp folder, keeping its first `keep` bytes
 * and flipping the bits of the byte at `flip` (if flip < keep). */
static const char *damaged_copy(const char *name, size_t keep, size_t flip)
{
    size_t n;
    unsigned char *buf = (unsigned char *)test_read_file(fixture(name), &n);
    if (flip < n)
        buf[flip] ^= 0xff;
    const char *out = tmp(name);
    write_bytes(out, buf, keep < n ? keep : n);
    free(buf);
    return out;
}

/* A .npy file with version major.0 and `dict` as its header (padded as NumPy pads
 * it), followed by data_len zero bytes. */
static const char *craft_npy(const char *name, int major, const char *dict, size_t data_len)
{
    size_t len_bytes = major == 1 ? 2 : 4, dict_len = strlen(dict);
    size_t header_len = dict_len + 1 + (64 - (8 + len_bytes + dict_len + 1) % 64) % 64;
    size_t total = 8 + len_bytes + header_len + data_len;
    unsigned char *buf = calloc(total, 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    for (size_t b = 0; b < len_bytes; b++)
        buf[8 + b] = (unsigned char)(header_len >> (8 * b));
    memset(buf + 8 + len_bytes, ' ', header_len - 1);
    memcpy(buf + 8 + len_bytes, dict, dict_len);
    buf[8 + len_bytes + header_len - 1] = '\n';
    const char *out = tmp(name);
    write_bytes(out, buf, total);
    free(buf);
    return out;
}

/* A crafted '<f8' C-order array of the given shape text, holding data_len bytes. */
static const char *craft_f8(const char *name, const char *shape, size_t data_len)
{
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }",
             shape);
    return craft_npy(name, 1, dict, data_len);
}

/* Assert the call was refused with status `want` and a message holding every
 * word of the NULL-terminated list. */
static void check_refused(cgdml_status st, cgdml_status want, const char *const *words)
{
    const char *msg = cgdml_error_message();
    cr_assert_eq(st, want, "status %s, expected %s; message: %s", cgdml_status_name(st),
                 cgdml_status_name(want), msg);
    for (; *words; words++)
        cr_assert(strstr(msg, *words), "message \"%s\" lacks \"%s\"", msg, *words);
}
#define assert_refused(st, want, ...)                                                              \
    check_refused((st), (want), (const char *const[]){__VA_ARGS__, NULL})

/* Read `path` as frames and return the status (the buffer must stay NULL). */
static cgdml_status read_frames_status(const char *path)
{
    double *data = (double *)1;
    size_t nf = 0, nb = 0;
    cgdml_status st = cgdml_npy_read_frames(path, &data, &nf, &nb);
    if (st)
        cr_assert_null(data, "a failed read must leave *out NULL");
    free(data);
    return st;
}

static void assert_values(const double *got, double (*expected)(size_t), const char *what)
{
    for (size_t k = 0; k < FIX_VALUES; k++)
        cr_assert_eq(got[k], expected(k), "%s[%zu] = %.17g, expected %.17g", what, k, got[k],
                     expected(k));
}

static void assert_frames_file(const char *name, double (*expected)(size_t))
{
    double *data = NULL;
    size_t nf = 0, nb = 0;
    cr_assert_eq(cgdml_npy_read_frames(fixture(name), &data, &nf, &nb), CGDML_OK, "%s: %s",
                 name, cgdml_error_message());
    cr_assert_eq(nf, FIX_FRAMES);
    cr_assert_eq(nb, FIX_BEADS);
    assert_values(data, expected, name);
    free(data);
}

/* ---- reading NumPy's files ------------------------------------------------ */

Test(npy, reads_f8_frames) { assert_frames_file("frames_f8.npy", coords_value); }

Test(npy, reads_f4_frames_widened_exactly) { assert_frames_file("frames_f4.npy", coords_f4); }

Test(npy, reads_format_versions_2_and_3)
{
    assert_frames_file("frames_v2.npy", coords_value);
    assert_frames_file("frames_v3.npy", coords_f4);
}

static void assert_import(const char *coords, const char *forces,
                          double (*coords_expected)(size_t), double (*forces_expected)(size_t))
{
    cgdml_dataset *d = NULL;
    cr_assert_eq(cgdml_npy_import(fixture(coords), fixture(forces), &d), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(d->n_frames, FIX_FRAMES);
    cr_assert_eq(d->n_beads, FIX_BEADS);
    assert_values(d->coords, coords_expected, coords);
    assert_values(d->forces, forces_expected, forces);
    cr_assert_str_eq(d->bead_names[4], "B4");
    cgdml_dataset_free(d);
}

Test(npy, imports_pairs_of_any_precision)
{
    assert_import("frames_f8.npy", "forces_f8.npy", coords_value, forces_value);
    assert_import("frames_f4.npy", "forces_f4.npy", coords_f4, forces_f4);
    assert_import("frames_f4.npy", "forces_f8.npy", coords_f4, forces_value);
}

static void assert_sgdml_file(const char *name, double (*coords)(size_t))
{
    static const char *const names[FIX_BEADS] = {"C", "H", "N", "O", "Z200"};
    cgdml_dataset *d = NULL;
    cr_assert_eq(cgdml_npz_read_sgdml(fixture(name), &d), CGDML_OK, "%s: %s", name,
                 cgdml_error_message());
    cr_assert_eq(d->n_frames, FIX_FRAMES);
    cr_assert_eq(d->n_beads, FIX_BEADS);
    assert_values(d->coords, coords, "R");
    assert_values(d->forces, forces_value, "F");
    for (size_t b = 0; b < FIX_BEADS; b++)
        cr_assert_str_eq(d->bead_names[b], names[b]);
    cgdml_dataset_free(d);
}

Test(npy, reads_sgdml_stored_npz) { assert_sgdml_file("sgdml_stored.npz", coords_value); }

Test(npy, reads_sgdml_compressed_npz) { assert_sgdml_file("sgdml_compressed.npz", coords_f4); }

Test(npy, reads_sgdml_npz_with_zip64_records)
{
    assert_sgdml_file("sgdml_zip64.npz", coords_value);
}

Test(npy, reads_i4_indices)
{
    size_t *idx = NULL, n = 0;
    cr_assert_eq(cgdml_npy_read_indices(fixture("indices_i4.npy"), &idx, &n), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(n, 4);
    cr_assert(idx[0] == 3 && idx[1] == 0 && idx[2] == 2 && idx[3] == 7);
    free(idx);
}

Test(npy, reads_u8_indices_beyond_32_bits)
{
    size_t *idx = NULL, n = 0;
    cr_assert_eq(cgdml_npy_read_indices(fixture("indices_u8.npy"), &idx, &n), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(n, 3);
    cr_assert(idx[0] == 0 && idx[1] == (size_t)1 << 40 && idx[2] == 5);
    free(idx);
}

/* ---- writing ------------------------------------------------------------- */

Test(npy, write_read_round_trip_is_exact)
{
    double data[2 * 3 * 3] = {1.0 / 3, -0.0, 1e-300, DBL_MAX, -DBL_MIN, 4.9e-324, M_PI, -2.5e17,
                              NAN, INFINITY, 7, 8, 9, 10, 11, 12, 13, 14};
    size_t shape[3] = {2, 3, 3}, nf, nb;
    double *back = NULL;
    cr_assert_eq(cgdml_npy_write(tmp("rt.npy"), data, 3, shape), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(cgdml_npy_read_frames(tmp("rt.npy"), &back, &nf, &nb), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert(nf == 2 && nb == 3);
    cr_assert_eq(memcmp(back, data, sizeof data), 0, "values changed in the round trip");
    free(back);
}

Test(npy, write_is_byte_identical_to_numpy)
{
    double data[FIX_VALUES];
    size_t shape[3] = {FIX_FRAMES, FIX_BEADS, 3}, n_ours, n_numpy;
    for (size_t k = 0; k < FIX_VALUES; k++)
        data[k] = coords_value(k);
    cr_assert_eq(cgdml_npy_write(tmp("ours.npy"), data, 3, shape), CGDML_OK);
    unsigned char *ours = (unsigned char *)test_read_file(tmp("ours.npy"), &n_ours);
    unsigned char *numpy = (unsigned char *)test_read_file(fixture("frames_f8.npy"), &n_numpy);
    cr_assert_eq(n_ours, n_numpy);
    cr_assert_eq(memcmp(ours, numpy, n_ours), 0, "cgdml's .npy differs from np.save's");
    free(ours);
    free(numpy);
}

Test(npy, writes_1d_and_0d_headers_as_numpy_does)
{
    double v[5] = {1, 2, 3, 4, 5};
    size_t shape[1] = {5}, n;
    cr_assert_eq(cgdml_npy_write(tmp("v.npy"), v, 1, shape), CGDML_OK);
    cr_assert_eq(cgdml_npy_write(tmp("s.npy"), v, 0, shape), CGDML_OK);
    unsigned char *a = (unsigned char *)test_read_file(tmp("v.npy"), &n);
    cr_assert_eq(n, 128 + 5 * 8);
    cr_assert(strstr((char *)a + 10, "'shape': (5,), }"), "1-D shape is not written as (5,)");
    free(a);
    a = (unsigned char *)test_read_file(tmp("s.npy"), &n);
    cr_assert_eq(n, 128 + 8);
    cr_assert(strstr((char *)a + 10, "'shape': (), }"), "0-D shape is not written as ()");
    free(a);
}

Test(npy, write_leaves_only_the_finished_file)
{
    double v[3] = {1, 2, 3};
    size_t shape[1] = {3}, entries = 0;
    cr_assert_eq(cgdml_npy_write(tmp("only.npy"), v, 1, shape), CGDML_OK);
    DIR *d = opendir(tmp_dir);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            cr_assert_str_eq(e->d_name, "only.npy");
            entries++;
        }
    closedir(d);
    cr_assert_eq(entries, 1);
}

Test(npy, write_refuses_a_missing_folder_and_too_many_dimensions)
{
    double v[1] = {1};
    size_t shape[CGDML_NPY_MAX_DIMS + 1] = {1};
    assert_refused(cgdml_npy_write(tmp("no/such/dir.npy"), v, 1, shape), CGDML_ERR_IO,
                   "cannot create");
    assert_refused(cgdml_npy_write(tmp("deep.npy"), v, CGDML_NPY_MAX_DIMS + 1, shape),
                   CGDML_ERR_INVALID, "33 dimensions");
    cr_assert_eq(access(tmp("deep.npy"), F_OK), -1);
}

/* ---- refusals: dtypes NumPy writes --------------------------------------- */

Test(npy, refuses_big_endian)
{
    assert_refused(read_frames_status(fixture("bad_bigendian.npy")), CGDML_ERR_FORMAT,
                   "bad_bigendian.npy: dtype '>f8' (big-endian) is not supported",
                   "expected '<f4' or '<f8'");
}

Test(npy, refuses_fortran_order)
{
    assert_refused(read_frames_status(fixture("bad_fortran.npy")), CGDML_ERR_FORMAT,
                   "Fortran order", "expected C order");
}

Test(npy, refuses_complex)
{
    assert_refused(read_frames_status(fixture("bad_complex.npy")), CGDML_ERR_FORMAT,
                   "'<c16' (complex)", "expected '<f4' or '<f8'");
}

Test(npy, refuses_integer_frames)
{
    assert_refused(read_frames_status(fixture("bad_int_frames.npy")), CGDML_ERR_FORMAT,
                   "'<i8' (signed integer)", "expected '<f4' or '<f8'");
}

Test(npy, refuses_objects)
{
    assert_refused(read_frames_status(fixture("bad_object.npy")), CGDML_ERR_FORMAT,
                   "'|O' (Python objects)");
}

Test(npy, refuses_strings)
{
    assert_refused(read_frames_status(fixture("bad_string.npy")), CGDML_ERR_FORMAT,
                   "'<U1' (unicode string)");
}

Test(npy, refuses_negative_indices)
{
    size_t *idx = NULL, n;
    assert_refused(cgdml_npy_read_indices(fixture("bad_indices_negative.npy"), &idx, &n),
                   CGDML_ERR_FORMAT, "entry 1 is -1", "non-negative");
    cr_assert_null(idx);
}

Test(npy, refuses_float_indices)
{
    size_t *idx = NULL, n;
    assert_refused(cgdml_npy_read_indices(fixture("bad_indices_float.npy"), &idx, &n),
                   CGDML_ERR_FORMAT, "'<f8' (floating point)", "integer dtype");
}

Test(npy, refuses_empty_or_2d_indices)
{
    size_t *idx = NULL, n;
    const char *empty = craft_npy("empty.npy", 1, "{'descr': '<i8', 'fortran_order': False, "
                                  "'shape': (0,), }", 0);
    assert_refused(cgdml_npy_read_indices(empty, &idx, &n), CGDML_ERR_FORMAT, "shape (0,)",
                   "non-empty 1-D");
    const char *grid = craft_npy("grid.npy", 1, "{'descr': '<i4', 'fortran_order': False, "
                                 "'shape': (2, 2), }", 16);
    assert_refused(cgdml_npy_read_indices(grid, &idx, &n), CGDML_ERR_FORMAT, "shape (2, 2)",
                   "1-D");
}

/* ---- refusals: files and headers ------------------------------------------- */

Test(npy, refuses_missing_file)
{
    assert_refused(read_frames_status(tmp("absent.npy")), CGDML_ERR_IO, "absent.npy",
                   "cannot open");
}

Test(npy, refuses_files_without_the_magic)
{
    write_bytes(tmp("text.npy"), "x,y,z\n1,2,3\n", 12);
    write_bytes(tmp("empty.npy"), "", 0);
    assert_refused(read_frames_status(tmp("text.npy")), CGDML_ERR_FORMAT, "not a .npy file");
    assert_refused(read_frames_status(tmp("empty.npy")), CGDML_ERR_FORMAT, "not a .npy file");
}

Test(npy, refuses_unknown_format_versions)
{
    const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 3), }";
    assert_refused(read_frames_status(craft_npy("v4.npy", 4, dict, 24)), CGDML_ERR_FORMAT,
                   "version 4.0", "expected 1.0, 2.0 or 3.0");
}

Test(npy, refuses_overlong_header)
{
    unsigned char raw[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0x20, 0x4e, 0, 0};
    write_bytes(tmp("long.npy"), raw, sizeof raw); /* header length 20000 */
    assert_refused(read_frames_status(tmp("long.npy")), CGDML_ERR_FORMAT, "20000 bytes",
                   "10000-byte limit");
}

Test(npy, refuses_file_truncated_in_the_header)
{
    assert_refused(read_frames_status(damaged_copy("frames_f8.npy", 50, SIZE_MAX)),
                   CGDML_ERR_FORMAT, "ends inside the header", "truncated");
}

Test(npy, refuses_file_truncated_in_the_data)
{
    assert_refused(read_frames_status(damaged_copy("frames_f8.npy", 128 + 100, SIZE_MAX)),
                   CGDML_ERR_FORMAT, "describes 480 bytes", "(4, 5, 3)",
                   "holds 100 bytes after the header: truncated");
}

Test(npy, refuses_trailing_data)
{
    assert_refused(read_frames_status(craft_f8("long.npy", "(1, 2, 3)", 48 + 8)),
                   CGDML_ERR_FORMAT, "describes 48 bytes", "holds 56 bytes");
}

Test(npy, refuses_huge_claim_before_allocating)
{
    assert_refused(read_frames_status(craft_f8("huge.npy", "(1000000000000, 5, 3)", 0)),
                   CGDML_ERR_FORMAT, "describes 120000000000000 bytes", "holds 0 bytes");
    assert_refused(read_frames_status(craft_f8("over.npy", "(4611686018427387904, 5, 3)", 0)),
                   CGDML_ERR_FORMAT, "more items than fit in memory");
}

Test(npy, refuses_wrong_ndim_and_last_axis)
{
    assert_refused(read_frames_status(craft_f8("flat.npy", "(4, 15)", 480)), CGDML_ERR_FORMAT,
                   "shape (4, 15)", "expected (frames, beads, 3)");
    assert_refused(read_frames_status(craft_f8("xy.npy", "(4, 5, 2)", 320)), CGDML_ERR_FORMAT,
                   "shape (4, 5, 2)", "expected (frames, beads, 3)");
}

Test(npy, refuses_zero_frames_or_beads)
{
    assert_refused(read_frames_status(craft_f8("nof.npy", "(0, 5, 3)", 0)), CGDML_ERR_FORMAT,
                   "shape (0, 5, 3), no frames");
    assert_refused(read_frames_status(craft_f8("nob.npy", "(4, 0, 3)", 0)), CGDML_ERR_FORMAT,
                   "shape (4, 0, 3), no beads");
}

Test(npy, refuses_malformed_header_dicts)
{
    static const struct {
        const char *dict, *word;
    } cases[] = {
        {"'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 3), }", "expected '{'"},
        {"{'descr': '<f8', 'fortran_order': False, }", "lacks 'shape'"},
        {"{'descr': '<f8', 'shape': (1, 1, 3), }", "lacks 'fortran_order'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 3), 'x': 1}",
         "unknown key 'x'"},
        {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 3)}",
         "repeated key 'descr'"},
        {"{'descr' '<f8', 'fortran_order': False, 'shape': (1, 1, 3), }", "expected ':'"},
        {"{'descr': '<f8', 'fortran_order': false, 'shape': (1, 1, 3), }", "True or False"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': [1, 1, 3], }", "a shape tuple"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1; 3), }", "',' or ')'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 3), } x", "end of the header"},
        {"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,), }",
         "structured dtype"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 3)", "',' or '}'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cgdml_status st = read_frames_status(craft_npy("bad.npy", 1, cases[i].dict, 24));
        cr_assert_eq(st, CGDML_ERR_FORMAT, "case %zu accepted", i);
        cr_assert(strstr(cgdml_error_message(), cases[i].word), "case %zu: \"%s\" lacks \"%s\"",
                  i, cgdml_error_message(), cases[i].word);
    }
}

Test(npy, refuses_to_exceed_the_memory_budget)
{
    cgdml_dataset *d = NULL;
    cgdml_memory_set_budget(100);
    assert_refused(read_frames_status(fixture("frames_f8.npy")), CGDML_ERR_NOMEM,
                   "reading", "frames_f8.npy");
    assert_refused(cgdml_npy_import(fixture("frames_f8.npy"), fixture("forces_f8.npy"), &d),
                   CGDML_ERR_NOMEM, "dataset from");
    assert_refused(cgdml_npz_read_sgdml(fixture("sgdml_stored.npz"), &d), CGDML_ERR_NOMEM,
                   "dataset from");
    cr_assert_null(d);
    cgdml_memory_set_budget(0);
}

Test(npy, refuses_mismatched_pair)
{
    cgdml_dataset *d = NULL;
    const char *forces = craft_f8("f3.npy", "(3, 5, 3)", 360);
    assert_refused(cgdml_npy_import(fixture("frames_f8.npy"), forces, &d), CGDML_ERR_FORMAT,
                   "shape (4, 5, 3)", "f3.npy has shape (3, 5, 3)");
    cr_assert_null(d);
}

Test(npy, import_refuses_bad_forces_file)
{
    cgdml_dataset *d = NULL;
    assert_refused(cgdml_npy_import(fixture("frames_f8.npy"), fixture("bad_bigendian.npy"), &d),
                   CGDML_ERR_FORMAT, "bad_bigendian.npy", "big-endian");
    cr_assert_null(d);
}

/* ---- refusals: .npz archives ----------------------------------------------- */

static void assert_npz_refused(const char *path, cgdml_status want, const char *word1,
                               const char *word2)
{
    cgdml_dataset *d = (cgdml_dataset *)1;
    check_refused(cgdml_npz_read_sgdml(path, &d), want, (const char *const[]){word1, word2, NULL});
    cr_assert_null(d, "a failed read must leave *out NULL");
}

Test(npy, npz_refuses_non_zip_and_cut_archives)
{
    assert_npz_refused(fixture("frames_f8.npy"), CGDML_ERR_FORMAT, "not a zip archive",
                       "np.savez");
    assert_npz_refused(damaged_copy("sgdml_stored.npz", 1000, SIZE_MAX), CGDML_ERR_FORMAT,
                       "sgdml_stored.npz", "not a zip archive");
    assert_npz_refused(tmp("absent.npz"), CGDML_ERR_IO, "absent.npz", "cannot open");
}

/* The zip record with signature `sig` whose file name, at byte name_at of the
 * record, is "R.npy" (local header: sig "PK\3\4", name at 30; directory entry:
 * "PK\1\2", name at 46). */
static unsigned char *find_r_record(unsigned char *buf, size_t n, const char *sig, size_t name_at)
{
    for (unsigned char *p = buf; (p = memmem(p, n - (size_t)(p - buf), sig, 4)); p++)
        if ((size_t)(p - buf) + name_at + 5 <= n && memcmp(p + name_at, "R.npy", 5) == 0)
            return p;
    cr_assert_fail("no zip record for R.npy");
    return NULL;
}

/* Byte offset of the data of member R.npy in fixture `name`. */
static size_t r_data_offset(const char *name)
{
    size_t n;
    unsigned char *buf = (unsigned char *)test_read_file(fixture(name), &n);
    unsigned char *h = find_r_record(buf, n, "PK\x03\x04", 30);
    size_t offset = (size_t)(h - buf) + 30 + 5 + (h[28] | (size_t)h[29] << 8);
    free(buf);
    return offset;
}

Test(npy, npz_refuses_crc_mismatch)
{
    size_t in_data = r_data_offset("sgdml_stored.npz") + 128 + 9; /* past the .npy header */
    assert_npz_refused(damaged_copy("sgdml_stored.npz", SIZE_MAX, in_data), CGDML_ERR_FORMAT,
                       "[R.npy]: CRC-32", "corrupt");
}

Test(npy, npz_refuses_corrupt_deflate_data)
{
    size_t in_data = r_data_offset("sgdml_compressed.npz") + 40;
    assert_npz_refused(damaged_copy("sgdml_compressed.npz", SIZE_MAX, in_data),
                       CGDML_ERR_FORMAT, "sgdml_compressed.npz[R.npy]", "corrupt");
}

Test(npy, npz_refuses_member_larger_than_the_file)
{
    size_t n;
    unsigned char *buf = (unsigned char *)test_read_file(fixture("sgdml_stored.npz"), &n);
    unsigned char *entry = find_r_record(buf, n, "PK\x01\x02", 46);
    memcpy(entry + 20, "\x00\x00\x00\x7f", 4); /* packed and unpacked size 2^31 - 2^24 */
    memcpy(entry + 24, "\x00\x00\x00\x7f", 4);
    write_bytes(tmp("big.npz"), buf, n);
    free(buf);
    assert_npz_refused(tmp("big.npz"), CGDML_ERR_FORMAT, "claims 2130706432 bytes", "truncated");
}

Test(npy, npz_refuses_bad_sgdml_contents)
{
    static const struct {
        const char *file, *found, *expected;
    } cases[] = {
        {"bad_short_member.npz", "[R.npy]: the header describes 480 bytes",
         "zip member holds 240 bytes after the header: truncated"},
        {"bad_no_forces.npz", "no member 'F.npy'", "R, F and z"},
        {"bad_z_length.npz", "holds 3 atomic numbers", "has 5 beads"},
        {"bad_shapes.npz", "[R.npy] has shape (4, 5, 3)", "[F.npy] has shape (3, 5, 3)"},
        {"bad_ev.npz", "[e_unit.npy] is 'eV'", "expected 'kcal/mol'"},
        {"bad_bzip2.npz", "compression method 12", "expected 0 (stored"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_npz_refused(fixture(cases[i].file), CGDML_ERR_FORMAT, cases[i].found,
                           cases[i].expected);
}
