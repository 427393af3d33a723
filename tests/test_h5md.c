/* test_h5md.c - tests of the H5MD reader and writer (src/h5md.c): exact round
 * trips, files made by other writers (the HDF5 C API, h5py), every refusal with
 * its status and message, and the atomicity of writes.
 *
 * Each test gets a fresh temporary folder.  Bad files are made by writing a good
 * one and then editing it with the HDF5 C API (delete a link, replace a dataset,
 * change a unit), so each test breaks exactly one thing.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tmp_dir.h"
#include "cgdml/dataset.h"
#include "cgdml/h5md.h"
#include "cgdml/memory.h"

enum { N_FRAMES = 4, N_BEADS = 5, TEST_PATH_MAX = 512 };

static const char PYTHON[] = "/usr/bin/python3";

static char tmp_dir[TEST_PATH_MAX];

static void setup(void)
{
    test_tmp_dir_make(tmp_dir, sizeof tmp_dir, "cgdml-h5md");
    /* The editing helpers below probe for links; keep HDF5 quiet about it. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void teardown(void)
{
    test_tmp_dir_remove(tmp_dir);
    cgdml_memory_set_budget(0);
}

TestSuite(h5md, .init = setup, .fini = teardown);

/* Path of `name` in the test's folder (a few calls may be alive at once). */
static const char *tpath(const char *name)
{
    static char buf[4][2 * TEST_PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

/* ---- datasets ---- */

/* A dataset whose numbers use all 53 bits of a double, so any lossy path shows;
 * bead names, a chain of bonds and the observables phi and psi. */
static cgdml_dataset *make_dataset(size_t n_frames, size_t n_beads)
{
    static const char *const names[] = {"C", "N", "CA", "CB", "C"};
    cgdml_dataset *d;
    cr_assert_eq(cgdml_dataset_alloc(n_frames, n_beads, &d), CGDML_OK);
    for (size_t i = 0; i < n_frames * n_beads * 3; i++) {
        d->coords[i] = 1.5 * (double)i + sin((double)i) / 3.0;
        d->forces[i] = cos(0.7 * (double)i) * 10.0 / 7.0;
    }
    double *phi = malloc(n_frames * sizeof *phi), *psi = malloc(n_frames * sizeof *psi);
    for (size_t f = 0; f < n_frames; f++) {
        d->step[f] = 500 * (int64_t)f + 7;
        d->time[f] = 0.1 * (double)f + 1.0 / 3.0;
        phi[f] = 3.0 * sin((double)f + 0.1);
        psi[f] = 3.0 * cos((double)f + 0.1);
    }
    for (size_t b = 0; b < n_beads; b++)
        snprintf(d->bead_names[b], CGDML_NAME_MAX, "%s", names[b % 5]);
    int *bonds = malloc(2 * n_beads * sizeof *bonds);
    for (size_t b = 0; b + 1 < n_beads; b++) {
        bonds[2 * b] = (int)b;
        bonds[2 * b + 1] = (int)b + 1;
    }
    cr_assert_eq(cgdml_dataset_set_bonds(d, n_beads - 1, bonds), CGDML_OK);
    cr_assert_eq(cgdml_dataset_add_observable(d, "phi", phi), CGDML_OK);
    cr_assert_eq(cgdml_dataset_add_observable(d, "psi", psi), CGDML_OK);
    free(bonds);
    free(phi);
    free(psi);
    return d;
}

static void assert_same_array(const void *a, const void *b, size_t bytes, const char *what)
{
    cr_assert(memcmp(a, b, bytes) == 0, "%s differ", what);
}

/* Every field of a and b equal, bit for bit. */
static void assert_same_dataset(const cgdml_dataset *a, const cgdml_dataset *b)
{
    size_t nf = a->n_frames, n = nf * a->n_beads * 3;
    cr_assert_eq(b->n_frames, nf);
    cr_assert_eq(b->n_beads, a->n_beads);
    assert_same_array(a->coords, b->coords, n * sizeof(double), "coordinates");
    assert_same_array(a->forces, b->forces, n * sizeof(double), "forces");
    assert_same_array(a->step, b->step, nf * sizeof(int64_t), "steps");
    assert_same_array(a->time, b->time, nf * sizeof(double), "times");
    for (size_t i = 0; i < a->n_beads; i++)
        cr_assert_str_eq(b->bead_names[i], a->bead_names[i]);
    cr_assert_eq(b->n_bonds, a->n_bonds);
    if (a->n_bonds)
        assert_same_array(a->bonds, b->bonds, a->n_bonds * 2 * sizeof(int), "bonds");
    cr_assert_eq(b->n_observables, a->n_observables);
    for (size_t i = 0; i < a->n_observables; i++) {
        const double *v = cgdml_dataset_observable(b, a->observables[i].name);
        cr_assert_not_null(v, "observable %s lost", a->observables[i].name);
        assert_same_array(a->observables[i].value, v, nf * sizeof(double), "observables");
    }
}

/* Write the standard test dataset to `name` in the test folder; its path. */
static const char *write_valid(const char *name)
{
    const char *p = tpath(name);
    cgdml_dataset *d = make_dataset(N_FRAMES, N_BEADS);
    cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_OK, "%s", cgdml_error_message());
    cgdml_dataset_free(d);
    return p;
}

static cgdml_dataset *read_ok(const char *path, const char *group)
{
    cgdml_dataset *d = NULL;
    cr_assert_eq(cgdml_h5md_read(path, group, &d), CGDML_OK, "%s", cgdml_error_message());
    cr_assert_not_null(d);
    return d;
}

static void expect_refusal_v(const char *path, const char *group, cgdml_status status,
                             va_list words)
{
    cgdml_dataset dummy, *d = &dummy;
    cgdml_status st = cgdml_h5md_read(path, group, &d);
    const char *msg = cgdml_error_message();
    cr_assert_eq(st, status, "status %s, expected %s; message: %s", cgdml_status_name(st),
                 cgdml_status_name(status), msg);
    cr_assert_null(d);
    for (const char *w; (w = va_arg(words, const char *));)
        cr_assert(strstr(msg, w), "message \"%s\" lacks \"%s\"", msg, w);
}

/* Read `path` and check it is refused with `status` and a message holding each
 * of the NULL-terminated words that follow. */
static void expect_refusal(const char *path, const char *group, cgdml_status status, ...)
{
    va_list words;
    va_start(words, status);
    expect_refusal_v(path, group, status, words);
    va_end(words);
}

/* ---- files: raw bytes ---- */

static void write_bytes(const char *path, const void *buf, size_t size)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, size, f), size);
    fclose(f);
}

static void assert_file_equals(const char *path, const char *expected, size_t size)
{
    size_t n;
    char *now = test_read_file(path, &n);
    cr_assert_eq(n, size, "%s changed size", path);
    cr_assert(memcmp(now, expected, n) == 0, "%s changed content", path);
    free(now);
}

/* The test folder holds exactly `expected` entries and no temporary file. */
static void assert_folder_holds(int expected)
{
    DIR *dir = opendir(tmp_dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        cr_assert_null(strstr(e->d_name, ".tmp-"), "leftover temporary file %s", e->d_name);
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(dir);
    cr_assert_eq(n, expected, "the folder holds %d files, expected %d", n, expected);
}

/* ---- files: editing with the HDF5 C API ---- */

static hid_t edit(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0, "cannot edit %s", path);
    return f;
}

static void new_file(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    H5Fclose(f);
}

static void delete_link(const char *path, const char *obj)
{
    hid_t f = edit(path);
    cr_assert_geq(H5Ldelete(f, obj, H5P_DEFAULT), 0, "cannot delete %s", obj);
    H5Fclose(f);
}

/* Replace or create dataset `obj` (and its parents) of `type` (file and memory
 * type alike) and shape rank/dims (rank 0: scalar), holding data (NULL: zeros). */
static void put_dataset(const char *path, const char *obj, hid_t type, int rank,
                        const hsize_t *dims, const void *data)
{
    hid_t f = edit(path);
    H5Ldelete(f, obj, H5P_DEFAULT); /* fails harmlessly if there is none */
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    hid_t ds = H5Dcreate2(f, obj, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(ds, 0, "cannot create %s", obj);
    if (data)
        cr_assert_geq(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(ds);
    H5Sclose(space);
    H5Pclose(lcpl);
    H5Fclose(f);
}

/* Replace or create `obj` as n variable-length strings (as h5py writes str). */
static void put_strings(const char *path, const char *obj, hsize_t n, const char *const *strings)
{
    hid_t vlen = H5Tcopy(H5T_C_S1);
    H5Tset_size(vlen, H5T_VARIABLE);
    put_dataset(path, obj, vlen, 1, &n, strings);
    H5Tclose(vlen);
}

/* A good file in which dataset `obj` is replaced by zeros of `type` (rank 0:
 * scalar) is refused as a format error naming the NULL-terminated words. */
static void expect_replacement_refused(const char *obj, hid_t type, int rank, const hsize_t *dims,
                                       ...)
{
    const char *p = write_valid("data.h5");
    put_dataset(p, obj, type, rank, dims, NULL);
    va_list words;
    va_start(words, dims);
    expect_refusal_v(p, NULL, CGDML_ERR_FORMAT, words);
    va_end(words);
}

/* Set string attribute `name` of `obj`: variable-length (as h5py writes) or,
 * if `fixed`, fixed-length (as numpy bytes give). */
static void put_string_attr(const char *path, const char *obj, const char *name, const char *value,
                            int fixed)
{
    hid_t f = edit(path);
    H5Adelete_by_name(f, obj, name, H5P_DEFAULT); /* fails harmlessly if there is none */
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, fixed ? strlen(value) : H5T_VARIABLE);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate_by_name(f, obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(a, 0);
    cr_assert_geq(H5Awrite(a, type, fixed ? (const void *)value : (const void *)&value), 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    H5Fclose(f);
}

static void put_float32_xyz(const char *path, const char *obj, float scale)
{
    float v[N_FRAMES * N_BEADS * 3];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        v[i] = scale * (float)i;
    hsize_t dims[3] = {N_FRAMES, N_BEADS, 3};
    put_dataset(path, obj, H5T_NATIVE_FLOAT, 3, dims, v);
}

/* ---- round trips ---- */

Test(h5md, round_trip_is_exact)
{
    const char *p = tpath("data.h5");
    cgdml_dataset *d = make_dataset(N_FRAMES, N_BEADS);
    cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_OK, "%s", cgdml_error_message());
    cgdml_dataset *back = read_ok(p, NULL);
    assert_same_dataset(d, back);
    cgdml_dataset_free(back);
    back = read_ok(p, "cg");
    assert_same_dataset(d, back);
    cgdml_dataset_free(back);
    cgdml_dataset_free(d);
    assert_folder_holds(1);
}

Test(h5md, round_trip_without_optional_parts)
{
    const char *p = tpath("bare.h5");
    cgdml_dataset *d;
    cr_assert_eq(cgdml_dataset_alloc(1, 2, &d), CGDML_OK);
    d->coords[3] = 1.25;
    d->forces[5] = -2.5;
    cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_OK, "%s", cgdml_error_message());
    cgdml_dataset *back = read_ok(p, NULL);
    assert_same_dataset(d, back);
    cr_assert_null(back->bonds);
    cgdml_dataset_free(back);
    cgdml_dataset_free(d);
}

Test(h5md, named_group_round_trip_and_choice)
{
    const char *p = tpath("protein.h5");
    cgdml_dataset *d = make_dataset(N_FRAMES, N_BEADS);
    cr_assert_eq(cgdml_h5md_write(p, d, "protein"), CGDML_OK, "%s", cgdml_error_message());
    cgdml_dataset *back = read_ok(p, NULL); /* the only group */
    assert_same_dataset(d, back);
    cgdml_dataset_free(back);
    back = read_ok(p, "protein");
    assert_same_dataset(d, back);
    cgdml_dataset_free(back);
    cgdml_dataset_free(d);
    expect_refusal(p, "cg", CGDML_ERR_FORMAT, "protein.h5", "/particles/cg is missing", "protein",
                   NULL);
}

Test(h5md, cg_group_preferred_among_several)
{
    const char *p = write_valid("data.h5");
    put_float32_xyz(p, "/particles/other/position/value", 9.0f);
    put_float32_xyz(p, "/particles/other/force/value", 9.0f);
    cgdml_dataset *d = read_ok(p, NULL);
    cr_assert_eq(d->coords[3], 1.5 * 3 + sin(3.0) / 3.0, "read the wrong group");
    cgdml_dataset_free(d);
    d = read_ok(p, "other");
    cr_assert_eq(d->coords[3], 27.0);
    cgdml_dataset_free(d);
}

Test(h5md, several_groups_without_cg_are_listed)
{
    const char *p = tpath("two.h5");
    new_file(p);
    put_float32_xyz(p, "/particles/alpha/position/value", 1.0f);
    put_float32_xyz(p, "/particles/beta/position/value", 1.0f);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "two.h5", "2 groups", "alpha, beta", NULL);
    expect_refusal(p, "gamma", CGDML_ERR_FORMAT, "/particles/gamma is missing", "alpha, beta",
                   NULL);
}

Test(h5md, bad_group_name_refused)
{
    const char *p = write_valid("data.h5");
    expect_refusal(p, "cg/position", CGDML_ERR_INVALID, "cg/position", "'/'", NULL);
    expect_refusal(p, "", CGDML_ERR_INVALID, "particle group", NULL);
}

Test(h5md, frames_count_probe)
{
    const char *p = write_valid("data.h5");
    size_t nf = 0, nb = 0;
    cr_assert_eq(cgdml_h5md_read_frames_count(p, NULL, &nf, &nb), CGDML_OK, "%s",
                 cgdml_error_message());
    cr_assert_eq(nf, N_FRAMES);
    cr_assert_eq(nb, N_BEADS);
    delete_link(p, "/particles/cg/force");
    cr_assert_eq(cgdml_h5md_read_frames_count(p, NULL, &nf, &nb), CGDML_ERR_FORMAT);
    cr_assert(strstr(cgdml_error_message(), "force/value is missing"));
}

/* A file made only with the HDF5 C API: float32 values (exact in float32),
 * int32 steps, float32 times, fixed-length unit strings, variable-length bead
 * names, no /h5md, no box. */
Test(h5md, float32_file_from_c_api)
{
    const char *p = tpath("f32.h5");
    new_file(p);
    put_float32_xyz(p, "/particles/cg/position/value", 0.25f);
    put_float32_xyz(p, "/particles/cg/force/value", -0.5f);
    int steps[N_FRAMES] = {0, 10, 20, 30};
    float times[N_FRAMES] = {0.0f, 0.5f, 1.0f, 1.5f};
    const char *names[N_BEADS] = {"CA", "CB", "N", "C", "O"};
    hsize_t nf = N_FRAMES;
    put_dataset(p, "/particles/cg/position/step", H5T_NATIVE_INT, 1, &nf, steps);
    put_dataset(p, "/particles/cg/position/time", H5T_NATIVE_FLOAT, 1, &nf, times);
    put_strings(p, "/parameters/cgdml/bead_names", N_BEADS, names);
    put_string_attr(p, "/particles/cg/position/value", "unit", "Angstrom", 1);
    put_string_attr(p, "/particles/cg/force/value", "unit", "kcal mol-1 Angstrom-1", 1);
    put_string_attr(p, "/particles/cg/position/time", "unit", "ps", 1);

    cgdml_dataset *d = read_ok(p, NULL);
    cr_assert_eq(d->n_frames, N_FRAMES);
    cr_assert_eq(d->n_beads, N_BEADS);
    for (size_t i = 0; i < N_FRAMES * N_BEADS * 3; i++) {
        cr_assert_eq(d->coords[i], 0.25 * (double)i);
        cr_assert_eq(d->forces[i], -0.5 * (double)i);
    }
    for (size_t f = 0; f < N_FRAMES; f++) {
        cr_assert_eq(d->step[f], steps[f]);
        cr_assert_eq(d->time[f], (double)times[f]);
    }
    for (size_t b = 0; b < N_BEADS; b++)
        cr_assert_str_eq(d->bead_names[b], names[b]);
    cr_assert_eq(d->n_bonds, 0);
    cr_assert_eq(d->n_observables, 0);
    cgdml_dataset_free(d);
}

Test(h5md, missing_step_and_time_get_defaults)
{
    const char *p = write_valid("data.h5");
    delete_link(p, "/particles/cg/position/step");
    delete_link(p, "/particles/cg/position/time");
    cgdml_dataset *d = read_ok(p, NULL);
    for (size_t f = 0; f < N_FRAMES; f++) {
        cr_assert_eq(d->step[f], (int64_t)f);
        cr_assert_eq(d->time[f], 0.0);
    }
    cgdml_dataset_free(d);
}

Test(h5md, alternative_unit_spellings_accepted)
{
    const char *p = write_valid("data.h5");
    static const char *const lengths[] = {"angstrom", "A"};
    for (size_t i = 0; i < 2; i++) {
        put_string_attr(p, "/particles/cg/position/value", "unit", lengths[i], i);
        put_string_attr(p, "/particles/cg/force/value", "unit", "kcal mol-1 A-1", i);
        cgdml_dataset_free(read_ok(p, NULL));
    }
}

/* Run a Python script with Debian's h5py; skip the test if that is not there. */
static void run_python(const char *script, const char *arg1, const char *arg2)
{
    char cmd[4 * TEST_PATH_MAX];
    snprintf(cmd, sizeof cmd, "%s -c 'import h5py, numpy' 2>/dev/null", PYTHON);
    if (access(PYTHON, X_OK) != 0 || system(cmd) != 0)
        cr_skip_test("%s with h5py and numpy is not available", PYTHON);
    const char *py = tpath("script.py");
    write_bytes(py, script, strlen(script));
    snprintf(cmd, sizeof cmd, "%s %s %s %s", PYTHON, py, arg1, arg2);
    cr_assert_eq(system(cmd), 0, "python check failed: %s", cmd);
}

static const char H5PY_WRITER[] =
    "import sys, h5py, numpy as np\n"
    "with h5py.File(sys.argv[1], 'w') as f:\n"
    "    g = f.create_group('particles/protein')\n"
    "    x = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3) * 0.5\n"
    "    for name, val, unit in (('position', x, 'A'), ('force', -x, 'kcal mol-1 A-1')):\n"
    "        e = g.create_group(name)\n"
    "        v = e.create_dataset('value', data=val, chunks=True, compression='gzip')\n"
    "        v.attrs['unit'] = unit\n"
    "        e['step'] = np.array([0, 100], dtype=np.int64)\n"
    "        e['time'] = np.array([0.0, 0.25])\n"
    "        e['time'].attrs['unit'] = 'ps'\n"
    "    f['parameters/cgdml/bead_names'] = np.array([b'C', b'N', b'CA', b'CB', b'O'])\n"
    "    f['observables/phi/value'] = np.array([0.5, -0.25])\n"
    "    f['observables/phi/value'].attrs['unit'] = 'rad'\n"
    "    f['observables/count/value'] = np.array([3, 4], dtype=np.int32)\n"
    "    f['observables/every_other/value'] = np.array([1.0])\n"
    "    f['connectivity/cg_bonds'] = np.array([[0, 1], [1, 2]], dtype=np.int64)\n";

Test(h5md, h5py_file_read)
{
    const char *p = tpath("py.h5");
    run_python(H5PY_WRITER, p, "");
    cgdml_dataset *d = read_ok(p, NULL);
    cr_assert_eq(d->n_frames, 2);
    cr_assert_eq(d->n_beads, 5);
    for (size_t i = 0; i < 30; i++) {
        cr_assert_eq(d->coords[i], 0.5 * (double)i);
        cr_assert_eq(d->forces[i], -0.5 * (double)i);
    }
    cr_assert_eq(d->step[1], 100);
    cr_assert_eq(d->time[1], 0.25);
    cr_assert_str_eq(d->bead_names[2], "CA");
    cr_assert_eq(d->n_bonds, 2);
    cr_assert_eq(d->bonds[2], 1);
    cr_assert_eq(d->bonds[3], 2);
    /* count (integers) and every_other (another length) are skipped */
    cr_assert_eq(d->n_observables, 1);
    cr_assert_eq(cgdml_dataset_observable(d, "phi")[1], -0.25);
    cgdml_dataset_free(d);
}

/* h5py checks the layout of FORMATS.md, in the forms MDAnalysis expects (str
 * units, scalar box dimension), and dumps the values for a bitwise comparison. */
static const char H5PY_CHECKER[] =
    "import sys, h5py, numpy as np\n"
    "f = h5py.File(sys.argv[1], 'r')\n"
    "def check(ok, what):\n"
    "    if not ok:\n"
    "        print('layout check failed:', what)\n"
    "        sys.exit(1)\n"
    "check(list(f['h5md'].attrs['version']) == [1, 1], 'version')\n"
    "check(f['h5md/creator'].attrs['name'] == 'cgdml', 'creator')\n"
    "check(isinstance(f['h5md/author'].attrs['name'], str), 'author')\n"
    "box = f['particles/cg/box']\n"
    "check(box.attrs['dimension'] == 3 and np.shape(box.attrs['dimension']) == (), 'dimension')\n"
    "check(list(box.attrs['boundary']) == [b'none'] * 3, 'boundary')\n"
    "for name, unit in (('position', 'Angstrom'), ('force', 'kcal mol-1 Angstrom-1')):\n"
    "    e = f['particles/cg/' + name]\n"
    "    v = e['value']\n"
    "    check(v.dtype == np.float64 and v.shape == (4, 5, 3), name + ' type')\n"
    "    check(v.chunks == (4, 5, 3) and v.compression == 'gzip' and v.shuffle, name + ' layout')\n"
    "    check(v.attrs['unit'] == unit, name + ' unit')\n"
    "    check(e['step'].dtype == np.int64 and list(e['step']) == [7, 507, 1007, 1507], 'step')\n"
    "    check(e['time'].attrs['unit'] == 'ps', 'time unit')\n"
    "b = f['connectivity/cg_bonds']\n"
    "check(b.dtype == np.int32 and b.shape == (4, 2), 'bonds')\n"
    "check(b.attrs['particles_group'] == '/particles/cg', 'particles_group')\n"
    "check(list(f['parameters/cgdml/bead_names']) == [b'C', b'N', b'CA', b'CB', b'C'], 'names')\n"
    "check(f['observables/phi/value'].attrs['unit'] == 'rad', 'phi unit')\n"
    "with open(sys.argv[2], 'wb') as out:\n"
    "    out.write(f['particles/cg/position/value'][()].astype('<f8').tobytes())\n"
    "    out.write(f['particles/cg/force/value'][()].astype('<f8').tobytes())\n";

Test(h5md, h5py_reads_our_layout)
{
    const char *p = write_valid("data.h5");
    const char *dump = tpath("dump.bin");
    run_python(H5PY_CHECKER, p, dump);
    cgdml_dataset *d = make_dataset(N_FRAMES, N_BEADS);
    size_t n, half = N_FRAMES * N_BEADS * 3 * sizeof(double);
    char *bytes = test_read_file(dump, &n);
    cr_assert_eq(n, 2 * half);
    assert_same_array(bytes, d->coords, half, "coordinates seen by h5py");
    assert_same_array(bytes + half, d->forces, half, "forces seen by h5py");
    free(bytes);
    cgdml_dataset_free(d);
}

/* Chunk rows along frames, shuffle then deflate. */
static void expect_chunks(const char *path, hsize_t frames_per_chunk)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/particles/cg/force/value", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(ds);
    hsize_t chunk[3] = {0};
    cr_assert_eq(H5Pget_layout(dcpl), H5D_CHUNKED);
    cr_assert_eq(H5Pget_chunk(dcpl, 3, chunk), 3);
    cr_assert_eq(chunk[0], frames_per_chunk);
    cr_assert_eq(H5Pget_nfilters(dcpl), 2);
    unsigned flags, conf;
    size_t nelem = 0;
    cr_assert_eq(H5Pget_filter2(dcpl, 0, &flags, &nelem, NULL, 0, NULL, &conf), H5Z_FILTER_SHUFFLE);
    nelem = 0;
    cr_assert_eq(H5Pget_filter2(dcpl, 1, &flags, &nelem, NULL, 0, NULL, &conf), H5Z_FILTER_DEFLATE);
    H5Pclose(dcpl);
    H5Dclose(ds);
    H5Fclose(f);
}

Test(h5md, chunks_hold_whole_frames)
{
    /* 1500 frames of 2 beads: capped at 1024 frames; 20000 beads: 1 MiB / 480 kB = 2 */
    static const size_t shapes[2][3] = {{1500, 2, 1024}, {3, 20000, 2}};
    for (size_t k = 0; k < 2; k++) {
        const char *p = tpath("chunks.h5");
        cgdml_dataset *d = make_dataset(shapes[k][0], shapes[k][1]);
        cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_OK, "%s", cgdml_error_message());
        expect_chunks(p, shapes[k][2]);
        cgdml_dataset *back = read_ok(p, NULL);
        assert_same_dataset(d, back);
        cgdml_dataset_free(back);
        cgdml_dataset_free(d);
    }
}

/* ---- refusals: not an H5MD file ---- */

Test(h5md, missing_file_refused)
{
    expect_refusal(tpath("nope.h5"), NULL, CGDML_ERR_IO, "nope.h5", "cannot open", "No such file",
                   NULL);
}

Test(h5md, text_file_refused)
{
    const char *p = tpath("notes.txt");
    write_bytes(p, "frame 0: 1.0 2.0 3.0\n", 21);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "notes.txt", "not an HDF5 file", NULL);
}

Test(h5md, npy_file_refused)
{
    static const char npy[] = "\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, "
                              "'shape': (1, 2, 3), }";
    const char *p = tpath("coords.npy");
    write_bytes(p, npy, sizeof npy - 1);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "coords.npy", "not an HDF5 file", "NumPy .npy", NULL);
}

Test(h5md, empty_file_refused)
{
    const char *p = tpath("empty.h5");
    write_bytes(p, "", 0);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "empty.h5", "not an HDF5 file", "empty", NULL);
}

Test(h5md, truncated_file_refused)
{
    const char *p = write_valid("data.h5");
    size_t n;
    char *bytes = test_read_file(p, &n);
    const char *cut = tpath("cut.h5");
    write_bytes(cut, bytes, n / 2);
    free(bytes);
    expect_refusal(cut, NULL, CGDML_ERR_FORMAT, "cut.h5", "truncated or damaged", NULL);
    size_t nf, nb;
    cr_assert_eq(cgdml_h5md_read_frames_count(cut, NULL, &nf, &nb), CGDML_ERR_FORMAT);
}

Test(h5md, corrupt_chunk_refused)
{
    const char *p = write_valid("data.h5");
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/particles/cg/position/value", H5P_DEFAULT);
    hid_t space = H5Dget_space(ds);
    hsize_t offset[3], size = 0;
    haddr_t addr = 0;
    unsigned mask;
    cr_assert_geq(H5Dget_chunk_info(ds, space, 0, offset, &mask, &addr, &size), 0);
    H5Sclose(space);
    H5Dclose(ds);
    H5Fclose(f);
    size_t n;
    char *bytes = test_read_file(p, &n);
    cr_assert_leq(addr + size, n);
    memset(bytes + addr, 0xff, size);
    write_bytes(p, bytes, n);
    free(bytes);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "data.h5", "cannot read /particles/cg/position/value",
                   NULL);
}

Test(h5md, missing_particles_refused)
{
    const char *p = tpath("other.h5");
    new_file(p);
    put_float32_xyz(p, "/frames/xyz", 1.0f);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "other.h5", "/particles is missing", NULL);
}

Test(h5md, missing_position_refused)
{
    const char *p = write_valid("data.h5");
    delete_link(p, "/particles/cg/position");
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "data.h5: /particles/cg/position/value is missing",
                   NULL);
}

Test(h5md, missing_force_refused)
{
    const char *p = write_valid("data.h5");
    delete_link(p, "/particles/cg/force/value");
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "data.h5: /particles/cg/force/value is missing",
                   NULL);
}

/* ---- refusals: shapes and types ---- */

Test(h5md, value_of_rank_two_refused)
{
    hsize_t dims[2] = {N_FRAMES, N_BEADS * 3};
    expect_replacement_refused("/particles/cg/position/value", H5T_NATIVE_DOUBLE, 2, dims,
                               "/particles/cg/position/value", "shape (4, 15)",
                               "expected (frames, beads, 3)", NULL);
}

Test(h5md, last_dimension_not_three_refused)
{
    hsize_t dims[3] = {N_FRAMES, N_BEADS, 4};
    expect_replacement_refused("/particles/cg/force/value", H5T_NATIVE_DOUBLE, 3, dims,
                               "/particles/cg/force/value", "shape (4, 5, 4)",
                               "expected (frames, beads, 3)", NULL);
}

Test(h5md, position_force_shape_mismatch_refused)
{
    hsize_t dims[3] = {N_FRAMES, N_BEADS + 1, 3};
    expect_replacement_refused("/particles/cg/force/value", H5T_NATIVE_DOUBLE, 3, dims, "(4, 5, 3)",
                               "(4, 6, 3)", "expected the same", NULL);
}

Test(h5md, zero_frames_refused)
{
    const char *p = write_valid("data.h5");
    hsize_t dims[3] = {0, N_BEADS, 3};
    put_dataset(p, "/particles/cg/position/value", H5T_NATIVE_DOUBLE, 3, dims, NULL);
    put_dataset(p, "/particles/cg/force/value", H5T_NATIVE_DOUBLE, 3, dims, NULL);
    delete_link(p, "/particles/cg/position/step");
    delete_link(p, "/particles/cg/position/time");
    delete_link(p, "/particles/cg/force/step");
    delete_link(p, "/particles/cg/force/time");
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "shape (0, 5, 3)", "at least one frame", NULL);
}

Test(h5md, integer_values_refused)
{
    hsize_t dims[3] = {N_FRAMES, N_BEADS, 3};
    expect_replacement_refused("/particles/cg/position/value", H5T_NATIVE_INT, 3, dims,
                               "/particles/cg/position/value", "32-bit integers",
                               "expected float32 or float64", NULL);
}

Test(h5md, string_bead_names_of_wrong_count_refused)
{
    const char *p = write_valid("data.h5");
    static const char *const names[2] = {"A", "B"};
    put_strings(p, "/parameters/cgdml/bead_names", 2, names);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "bead_names", "shape (2,)", "one name per bead",
                   NULL);
}

Test(h5md, overlong_bead_name_refused)
{
    const char *p = write_valid("data.h5");
    static const char *const names[N_BEADS] = {"C", "N", "CA",
                                               "a_bead_name_of_39_characters_long_xxxxx", "C"};
    put_strings(p, "/parameters/cgdml/bead_names", N_BEADS, names);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "bead_names entry 3", "39 characters", "at most 31",
                   NULL);
}

Test(h5md, bead_names_not_strings_refused)
{
    hsize_t n = N_BEADS;
    expect_replacement_refused("/parameters/cgdml/bead_names", H5T_NATIVE_INT, 1, &n, "bead_names",
                               "does not hold strings", NULL);
}

/* ---- refusals: units ---- */

Test(h5md, wrong_length_unit_refused)
{
    const char *p = write_valid("data.h5");
    put_string_attr(p, "/particles/cg/position/value", "unit", "nm", 0);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "data.h5", "/particles/cg/position/value",
                   "unit \"nm\"", "expected \"Angstrom\"", NULL);
}

Test(h5md, wrong_force_unit_refused)
{
    const char *p = write_valid("data.h5");
    put_string_attr(p, "/particles/cg/force/value", "unit", "kJ mol-1 nm-1", 1);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "unit \"kJ mol-1 nm-1\"",
                   "expected \"kcal mol-1 Angstrom-1\"", NULL);
}

Test(h5md, wrong_time_unit_refused)
{
    const char *p = write_valid("data.h5");
    put_string_attr(p, "/particles/cg/position/time", "unit", "fs", 0);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "/particles/cg/position/time", "unit \"fs\"",
                   "expected \"ps\"", NULL);
}

Test(h5md, wrong_observable_unit_refused)
{
    const char *p = write_valid("data.h5");
    put_string_attr(p, "/observables/phi/value", "unit", "degree", 0);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "/observables/phi/value", "unit \"degree\"",
                   "expected \"rad\"", NULL);
}

/* ---- refusals: step and time ---- */

Test(h5md, step_length_mismatch_refused)
{
    hsize_t n = N_FRAMES - 1;
    expect_replacement_refused("/particles/cg/position/step", H5T_NATIVE_INT64, 1, &n,
                               "/particles/cg/position/step", "shape (3,)", "expected (4,)", NULL);
}

Test(h5md, time_length_mismatch_refused)
{
    hsize_t n = N_FRAMES + 2;
    expect_replacement_refused("/particles/cg/force/time", H5T_NATIVE_DOUBLE, 1, &n,
                               "/particles/cg/force/time", "shape (6,)", "expected (4,)", NULL);
}

Test(h5md, scalar_step_refused)
{
    expect_replacement_refused("/particles/cg/position/step", H5T_NATIVE_INT64, 0, NULL,
                               "/particles/cg/position/step", "fixed-interval", NULL);
}

Test(h5md, float_step_refused)
{
    hsize_t n = N_FRAMES;
    expect_replacement_refused("/particles/cg/position/step", H5T_NATIVE_DOUBLE, 1, &n,
                               "/particles/cg/position/step", "float64", "expected integers", NULL);
}

Test(h5md, force_steps_differing_from_position_refused)
{
    const char *p = write_valid("data.h5");
    int64_t steps[N_FRAMES] = {7, 507, 1008, 1507};
    hsize_t n = N_FRAMES;
    put_dataset(p, "/particles/cg/force/step", H5T_NATIVE_INT64, 1, &n, steps);
    expect_refusal(p, NULL, CGDML_ERR_FORMAT, "force/step[2] = 1008", "position/step[2] = 1007",
                   "same frames", NULL);
}

/* ---- what the reader skips ---- */

Test(h5md, unfit_observables_skipped)
{
    const char *p = write_valid("data.h5");
    hsize_t longer = N_FRAMES + 1, per_bead[2] = {N_FRAMES, N_BEADS}, n = N_FRAMES;
    put_dataset(p, "/observables/longer/value", H5T_NATIVE_DOUBLE, 1, &longer, NULL);
    put_dataset(p, "/observables/per_bead/value", H5T_NATIVE_DOUBLE, 2, per_bead, NULL);
    put_dataset(p, "/observables/counter/value", H5T_NATIVE_INT, 1, &n, NULL);
    put_dataset(p, "/observables/flat", H5T_NATIVE_DOUBLE, 1, &n, NULL);
    cgdml_dataset *d = read_ok(p, NULL);
    cr_assert_eq(d->n_observables, 2);
    cr_assert_not_null(cgdml_dataset_observable(d, "phi"));
    cr_assert_not_null(cgdml_dataset_observable(d, "psi"));
    cgdml_dataset_free(d);
}

Test(h5md, bonds_of_another_group_ignored)
{
    const char *p = write_valid("data.h5");
    put_string_attr(p, "/connectivity/cg_bonds", "particles_group", "/particles/other", 0);
    cgdml_dataset *d = read_ok(p, NULL);
    cr_assert_eq(d->n_bonds, 0);
    cgdml_dataset_free(d);
}

Test(h5md, bonds_out_of_range_refused)
{
    const char *p = write_valid("data.h5");
    int bonds[2][2] = {{0, 1}, {3, N_BEADS}};
    hsize_t dims[2] = {2, 2};
    put_dataset(p, "/connectivity/cg_bonds", H5T_NATIVE_INT, 2, dims, bonds);
    expect_refusal(p, NULL, CGDML_ERR_INVALID, "data.h5", "/connectivity/cg_bonds", "bond 1", NULL);
}

/* ---- memory budget and HDF5's own error printing ---- */

Test(h5md, memory_budget_refused)
{
    const char *p = write_valid("data.h5");
    cgdml_memory_set_budget(1000);
    expect_refusal(p, NULL, CGDML_ERR_NOMEM, "data.h5", "4 frames x 5 beads", "memory budget",
                   NULL);
    size_t nf, nb;
    cr_assert_eq(cgdml_h5md_read_frames_count(p, NULL, &nf, &nb), CGDML_OK);
}

static void redirect_stderr(void) { cr_redirect_stderr(); }

Test(h5md, hdf5_printing_silenced_then_restored, .init = redirect_stderr)
{
    cr_assert_neq(tmp_dir[0], '\0', "suite setup did not run");
    H5Eset_auto2(H5E_DEFAULT, (H5E_auto2_t)H5Eprint2, stderr);
    const char *cut = tpath("cut.h5");
    write_bytes(cut, "\x89HDF\r\n\x1a\n", 8);
    expect_refusal(cut, NULL, CGDML_ERR_FORMAT, "cut.h5", NULL);
    write_valid("data.h5");
    delete_link(tpath("data.h5"), "/particles/cg/force/value");
    H5Eset_auto2(H5E_DEFAULT, (H5E_auto2_t)H5Eprint2, stderr);
    expect_refusal(tpath("data.h5"), NULL, CGDML_ERR_FORMAT, "force/value is missing", NULL);
    H5E_auto2_t func = NULL;
    void *data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    cr_assert_eq((void *)func, (void *)H5Eprint2, "the caller's HDF5 error handler was lost");
    cr_assert_eq(data, (void *)stderr);
    fflush(stderr);
    cr_assert_stderr_eq_str("", "HDF5 printed its error stack");
}

/* ---- writing: refusals and atomicity ---- */

Test(h5md, invalid_datasets_not_written)
{
    const char *p = tpath("out.h5");
    cgdml_dataset *d = make_dataset(N_FRAMES, N_BEADS);
    cr_assert_eq(cgdml_h5md_write(p, NULL, NULL), CGDML_ERR_INVALID);
    cr_assert_eq(cgdml_h5md_write(p, d, "a/b"), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "a/b"));
    snprintf(d->observables[1].name, CGDML_NAME_MAX, "psi/2");
    cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_ERR_INVALID);
    cr_assert(strstr(cgdml_error_message(), "psi/2"));
    cgdml_dataset_free(d);
    assert_folder_holds(0);
}

/* Two observables of the same name (which cgdml_dataset_add_observable would
 * refuse) make HDF5 fail half-way through the write. */
static cgdml_dataset *make_unwritable(void)
{
    cgdml_dataset *d = make_dataset(N_FRAMES, N_BEADS);
    snprintf(d->observables[1].name, CGDML_NAME_MAX, "phi");
    return d;
}

Test(h5md, failed_write_leaves_no_file)
{
    const char *p = tpath("out.h5");
    cgdml_dataset *d = make_unwritable();
    cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_ERR_IO);
    const char *msg = cgdml_error_message();
    cr_assert(strstr(msg, "out.h5") && strstr(msg, "/observables/phi"), "message: %s", msg);
    cgdml_dataset_free(d);
    assert_folder_holds(0);
}

Test(h5md, failed_write_keeps_existing_file)
{
    const char *p = write_valid("data.h5");
    size_t n;
    char *before = test_read_file(p, &n);
    cgdml_dataset *d = make_unwritable();
    cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_ERR_IO);
    cgdml_dataset_free(d);
    assert_file_equals(p, before, n);
    assert_folder_holds(1);
    free(before);
}

Test(h5md, full_disk_keeps_existing_file)
{
    const char *p = write_valid("data.h5");
    size_t n;
    char *before = test_read_file(p, &n);
    cgdml_dataset *d = make_dataset(2000, 50); /* 4.8 MB of incompressible doubles */
    struct rlimit old, small;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 256 * 1024;
    signal(SIGXFSZ, SIG_IGN); /* a write past the limit then fails with EFBIG */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    cgdml_status st = cgdml_h5md_write(p, d, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_eq(st, CGDML_ERR_IO, "status %s: %s", cgdml_status_name(st), cgdml_error_message());
    cr_assert(strstr(cgdml_error_message(), "data.h5"), "%s", cgdml_error_message());
    cgdml_dataset_free(d);
    assert_file_equals(p, before, n);
    assert_folder_holds(1);
    free(before);
}

Test(h5md, write_into_missing_folder_refused)
{
    char p[2 * TEST_PATH_MAX];
    snprintf(p, sizeof p, "%s/no/such/dir/out.h5", tmp_dir);
    cgdml_dataset *d = make_dataset(N_FRAMES, N_BEADS);
    cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_ERR_IO);
    cr_assert(strstr(cgdml_error_message(), "out.h5: cannot create"), "%s", cgdml_error_message());
    cgdml_dataset_free(d);
    assert_folder_holds(0);
}

Test(h5md, overwrite_replaces_file)
{
    const char *p = write_valid("data.h5");
    cgdml_dataset *d = make_dataset(2, 3);
    cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_OK, "%s", cgdml_error_message());
    cgdml_dataset *back = read_ok(p, NULL);
    assert_same_dataset(d, back);
    cgdml_dataset_free(back);
    cgdml_dataset_free(d);
    assert_folder_holds(1);
}

Test(h5md, write_over_memory_budget_refused)
{
    const char *p = tpath("out.h5");
    cgdml_dataset *d = make_dataset(N_FRAMES, N_BEADS);
    cgdml_memory_set_budget(1000);
    cr_assert_eq(cgdml_h5md_write(p, d, NULL), CGDML_ERR_NOMEM);
    const char *msg = cgdml_error_message();
    cr_assert(strstr(msg, "writing") && strstr(msg, "out.h5") && strstr(msg, "memory budget"),
              "message: %s", msg);
    cgdml_dataset_free(d);
    assert_folder_holds(0);
}
