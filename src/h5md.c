/* h5md.c - the H5MD 1.1 reader and writer for CG datasets (see cgdml/h5md.h and
 * docs/FORMATS.md).  The map stage writes datasets through it and every later
 * stage reads them back; it is the only module that talks to HDF5 about datasets.
 *
 * Reading runs in two passes: a probe that checks layout, types, shapes and units
 * from metadata alone (cheap; also behind cgdml_h5md_read_frames_count), then,
 * once the memory budget allows it, the reads of the arrays.  Writing builds the
 * file in memory, writes it to a temporary file and renames that into place
 * only when complete (cgdml_atomic_*).
 *
 * HDF5 keeps its error stack only until the next API call, so every failure is
 * turned into a message (h5_fail) right after the failing call, before cleanup.
 */
#include "cgdml/h5md.h"

#include <errno.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/atomic.h"
#include "cgdml/memory.h"

#ifndef CGDML_VERSION
#define CGDML_VERSION "unknown"
#endif

enum {
    H5MD_PATH_MAX = 512,  /* longest object path built here */
    H5MD_GROUP_MAX = 128, /* longest particle group or link name, with NUL */
    H5MD_UNIT_MAX = 64,   /* longest unit string compared, with NUL */
    H5MD_TEXT_MAX = 256,  /* HDF5 reasons and name lists quoted in messages */
    H5MD_SHAPE_MAX = 96,  /* "(frames, beads, 3)" as text */
};

/* A value array is chunked in whole frames, about one HDF5 default chunk cache
 * (1 MiB) per chunk so a chunk is always cached whole, and at most 1024 frames
 * so that small systems still get several chunks for partial reads. */
#define CHUNK_TARGET_BYTES ((size_t)1 << 20)
#define CHUNK_MAX_FRAMES ((size_t)1024)
/* h5py's default deflate level: higher levels gain little on float data. */
#define DEFLATE_LEVEL 4
/* The writer builds the file in memory (HDF5's core driver) and writes it out
 * itself: when closing a file fails on a full disk, HDF5 1.10 leaves a dangling
 * file object that crashes the process at exit (HDFFV-11052, fixed in 1.14.1),
 * so HDF5 must never meet a disk error.  The in-memory file grows in steps of
 * CORE_INCREMENT_BYTES; CORE_MARGIN_BYTES bounds its headers and indexes. */
#define CORE_INCREMENT_BYTES ((size_t)4 << 20)
#define CORE_MARGIN_BYTES ((size_t)1 << 20)

/* Accepted unit spellings; the first is the one written.  The alternatives are
 * the ones MDAnalysis's H5MDReader maps to the same units. */
static const char *const LENGTH_UNITS[] = {"Angstrom", "angstrom", "A", NULL};
static const char *const FORCE_UNITS[] = {"kcal mol-1 Angstrom-1", "kcal mol-1 A-1", NULL};
static const char *const TIME_UNITS[] = {"ps", NULL};
static const char *const ANGLE_UNITS[] = {"rad", NULL};

static const char PARTICLES_PATH[] = "/particles";
static const char OBSERVABLES_PATH[] = "/observables";
static const char BONDS_PATH[] = "/connectivity/cg_bonds";
static const char NAMES_PATH[] = "/parameters/cgdml/bead_names";

/* An open H5MD file and the particle group being read or written. */
typedef struct {
    const char *path;          /* as the caller gave it, for messages */
    hid_t file;                /* -1 when not open */
    hid_t lcpl;                /* writer: link creation making intermediate groups */
    char group[H5MD_PATH_MAX]; /* "/particles/<name>" */
} h5md_file;

/* ---- HDF5 plumbing: quiet errors, messages, ids ---- */

typedef struct {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

/* Stop HDF5 printing its error stack (we report through cgdml_error_*), keeping
 * the caller's handler to restore. */
static void quiet_begin(h5_quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_end(const h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

static herr_t take_innermost(unsigned n, const H5E_error2_t *err, void *reason)
{
    if (n == 0 && err->desc)
        snprintf(reason, H5MD_TEXT_MAX, "%s", err->desc);
    return 0;
}

/* Record "<file>: cannot <verb> <object> (HDF5: <most specific reason>)". */
static cgdml_status h5_fail(cgdml_status status, const h5md_file *f, const char *verb,
                            const char *object)
{
    char reason[H5MD_TEXT_MAX] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, reason);
    if (!*reason)
        return cgdml_error_set(status, "%s: cannot %s %s", f->path, verb, object);
    return cgdml_error_set(status, "%s: cannot %s %s (HDF5: %s)", f->path, verb, object, reason);
}

/* Close an HDF5 object we opened (dataset, group, type, space, attribute,
 * property list); negative ids are ignored. */
static void release(hid_t id)
{
    if (id >= 0)
        H5Idec_ref(id);
}

/* "<parent>/<name>" into buf (H5MD_PATH_MAX bytes).  A path holds at most one
 * name from the file or the caller, shorter than H5MD_GROUP_MAX, so it always
 * fits; were one cut short, it is emptied so that HDF5 refuses it rather than
 * use a prefix. */
static void join(char *buf, const char *parent, const char *name)
{
    if (snprintf(buf, H5MD_PATH_MAX, "%s/%s", parent, name) >= H5MD_PATH_MAX)
        buf[0] = '\0';
}

/* H5I_GROUP or H5I_DATASET for the object at absolute path `obj`, H5I_BADID if
 * there is none.  Walks the path because H5Lexists fails on a missing parent. */
static H5I_type_t object_kind(hid_t file, const char *obj)
{
    char buf[H5MD_PATH_MAX];
    if (obj[0] != '/')
        return H5I_BADID;
    snprintf(buf, sizeof buf, "%s", obj);
    for (char *p = buf;;) {
        p = strchr(p + 1, '/');
        if (p)
            *p = '\0';
        htri_t exists = H5Lexists(file, buf, H5P_DEFAULT);
        if (exists <= 0)
            return H5I_BADID;
        if (!p)
            break;
        *p = '/';
    }
    hid_t o = H5Oopen(file, obj, H5P_DEFAULT);
    H5I_type_t kind = o < 0 ? H5I_BADID : H5Iget_type(o);
    release(o);
    return kind;
}

/* "(10, 22, 3)" */
static const char *format_shape(char *buf, int rank, const hsize_t *dims)
{
    size_t len = (size_t)snprintf(buf, H5MD_SHAPE_MAX, "(");
    for (int i = 0; i < rank && len < H5MD_SHAPE_MAX; i++)
        len += (size_t)snprintf(buf + len, H5MD_SHAPE_MAX - len, "%s%llu", i ? ", " : "",
                                (unsigned long long)dims[i]);
    if (len < H5MD_SHAPE_MAX)
        snprintf(buf + len, H5MD_SHAPE_MAX - len, rank == 1 ? ",)" : ")");
    return buf;
}

/* ---- reading: metadata ---- */

typedef struct {
    H5T_class_t cls; /* H5T_FLOAT, H5T_INTEGER, H5T_STRING, ... */
    size_t size;     /* bytes per element */
    int rank;
    hsize_t dims[H5S_MAX_RANK];
} ds_info;

/* "float32", "64-bit integers", ... */
static const char *type_name(char *buf, const ds_info *info)
{
    switch (info->cls) {
    case H5T_FLOAT: snprintf(buf, H5MD_SHAPE_MAX, "float%zu", 8 * info->size); break;
    case H5T_INTEGER: snprintf(buf, H5MD_SHAPE_MAX, "%zu-bit integers", 8 * info->size); break;
    case H5T_STRING: snprintf(buf, H5MD_SHAPE_MAX, "strings"); break;
    default: snprintf(buf, H5MD_SHAPE_MAX, "HDF5 type class %d", (int)info->cls); break;
    }
    return buf;
}

/* Type and shape of the dataset `obj`, refused if there is no such dataset. */
static cgdml_status inspect(const h5md_file *f, const char *obj, ds_info *info)
{
    H5I_type_t kind = object_kind(f->file, obj);
    if (kind != H5I_DATASET)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: %s is %s", f->path, obj,
                               kind == H5I_BADID ? "missing" : "not a dataset");
    hid_t ds = H5Dopen2(f->file, obj, H5P_DEFAULT);
    hid_t type = ds < 0 ? -1 : H5Dget_type(ds);
    hid_t space = type < 0 ? -1 : H5Dget_space(ds);
    int rank = space < 0 ? -1 : H5Sget_simple_extent_dims(space, info->dims, NULL);
    cgdml_status st = CGDML_OK;
    if (rank < 0) {
        st = h5_fail(CGDML_ERR_FORMAT, f, "read the header of", obj);
    } else {
        info->cls = H5Tget_class(type);
        info->size = H5Tget_size(type);
        info->rank = rank;
    }
    release(space);
    release(type);
    release(ds);
    return st;
}

typedef herr_t (*read_fn)(hid_t obj, hid_t memtype, void *buf);

static herr_t read_attribute(hid_t attr, hid_t memtype, void *buf)
{
    return H5Aread(attr, memtype, buf);
}

static herr_t read_dataset(hid_t ds, hid_t memtype, void *buf)
{
    return H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

/* Read `count` strings, fixed- or variable-length (file type `ftype`), from the
 * attribute or dataset `obj` with `rd` into out[i * width], NUL-terminated.
 * `what` names the object in messages. */
static cgdml_status read_strings(const h5md_file *f, const char *what, hid_t obj, hid_t ftype,
                                 read_fn rd, size_t count, char *out, size_t width)
{
    if (H5Tget_class(ftype) != H5T_STRING)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: %s does not hold strings", f->path, what);
    hid_t mem = H5Tget_native_type(ftype, H5T_DIR_DEFAULT);
    int vlen = mem >= 0 && H5Tis_variable_str(mem) > 0;
    size_t size = vlen ? sizeof(char *) : H5Tget_size(mem);
    char *buf = mem < 0 ? NULL : calloc(count, size);
    cgdml_status st = CGDML_OK;
    if (!buf || rd(obj, mem, buf) < 0) {
        st = h5_fail(CGDML_ERR_FORMAT, f, "read", what);
        free(buf);
        release(mem);
        return st;
    }
    for (size_t i = 0; i < count; i++) {
        /* A null variable-length string (HDF5 reads an unset entry as NULL) is "". */
        const char *v = vlen ? ((char **)buf)[i] : NULL;
        const char *s = !vlen ? buf + i * size : v ? v : "";
        size_t len = vlen ? strlen(s) : strnlen(s, size);
        if (len >= width && !st)
            st = cgdml_error_set(CGDML_ERR_FORMAT,
                                 "%s: %s entry %zu (\"%.*s\") has %zu characters; at most %zu "
                                 "are supported",
                                 f->path, what, i, (int)len, s, len, width - 1);
        if (!st) {
            memcpy(out + i * width, s, len);
            out[i * width + len] = '\0';
        }
        if (vlen)
            H5free_memory(((char **)buf)[i]);
    }
    free(buf);
    release(mem);
    return st;
}

/* The scalar string attribute `name` of `obj` into out (width bytes); *found is 0
 * if the object has no such attribute. */
static cgdml_status read_string_attr(const h5md_file *f, const char *obj, const char *name,
                                     char *out, size_t width, int *found)
{
    char what[H5MD_PATH_MAX + H5MD_UNIT_MAX];
    snprintf(what, sizeof what, "attribute %s of %s", name, obj);
    *found = 0;
    htri_t exists = H5Aexists_by_name(f->file, obj, name, H5P_DEFAULT);
    if (exists <= 0)
        return exists < 0 ? h5_fail(CGDML_ERR_FORMAT, f, "read", what) : CGDML_OK;
    hid_t a = H5Aopen_by_name(f->file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = a < 0 ? -1 : H5Aget_type(a);
    hid_t space = type < 0 ? -1 : H5Aget_space(a);
    hssize_t n = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    cgdml_status st;
    if (n < 0)
        st = h5_fail(CGDML_ERR_FORMAT, f, "read", what);
    else if (n != 1)
        st = cgdml_error_set(CGDML_ERR_FORMAT, "%s: %s holds %lld values; expected one string",
                             f->path, what, (long long)n);
    else
        st = read_strings(f, what, a, type, read_attribute, 1, out, width);
    release(space);
    release(type);
    release(a);
    *found = st == CGDML_OK;
    return st;
}

/* The unit attribute of `obj` must be absent or one of `units`. */
static cgdml_status check_unit(const h5md_file *f, const char *obj, const char *const *units)
{
    char unit[H5MD_UNIT_MAX];
    int found;
    cgdml_status st = read_string_attr(f, obj, "unit", unit, sizeof unit, &found);
    if (st || !found)
        return st;
    for (size_t i = 0; units[i]; i++)
        if (strcmp(unit, units[i]) == 0)
            return CGDML_OK;
    return cgdml_error_set(CGDML_ERR_FORMAT, "%s: %s has unit \"%s\"; expected \"%s\"", f->path,
                           obj, unit, units[0]);
}

/* Check <elem>/<name> (step or time) where present: integers (time: or floats),
 * one entry per frame, with a unit from `units` (NULL: not checked). */
static cgdml_status probe_series(const h5md_file *f, const char *elem, const char *name,
                                 int need_integers, const char *const *units, hsize_t n_frames)
{
    char obj[H5MD_PATH_MAX], shape[H5MD_SHAPE_MAX], type[H5MD_SHAPE_MAX];
    join(obj, elem, name);
    if (object_kind(f->file, obj) == H5I_BADID)
        return CGDML_OK;
    ds_info s;
    cgdml_status st = inspect(f, obj, &s);
    if (st)
        return st;
    if (s.cls != H5T_INTEGER && (need_integers || s.cls != H5T_FLOAT))
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: %s holds %s; expected %s", f->path, obj,
                               type_name(type, &s), need_integers ? "integers" : "numbers");
    if (s.rank != 1 || s.dims[0] != n_frames)
        return cgdml_error_set(
            CGDML_ERR_FORMAT, "%s: %s has shape %s; expected (%llu,), one entry per frame%s",
            f->path, obj, format_shape(shape, s.rank, s.dims), (unsigned long long)n_frames,
            s.rank == 0 ? " (fixed-interval scalars are not supported)" : "");
    return units ? check_unit(f, obj, units) : CGDML_OK;
}

/* Check the H5MD time-series element <elem>: value is a float array of `rank`
 * dimensions (`expect` describes it in messages) whose unit is one of `units`,
 * and step and time, where present, fit it.  Fills dims[0..rank-1]. */
static cgdml_status probe_element(const h5md_file *f, const char *elem, int rank,
                                  const char *expect, const char *const *units, hsize_t *dims)
{
    char obj[H5MD_PATH_MAX], shape[H5MD_SHAPE_MAX], type[H5MD_SHAPE_MAX];
    join(obj, elem, "value");
    ds_info v;
    cgdml_status st = inspect(f, obj, &v);
    if (st)
        return st;
    if (v.cls != H5T_FLOAT)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: %s holds %s; expected float32 or float64",
                               f->path, obj, type_name(type, &v));
    if (v.rank != rank)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: %s has shape %s; expected %s", f->path, obj,
                               format_shape(shape, v.rank, v.dims), expect);
    memcpy(dims, v.dims, (size_t)rank * sizeof *dims);
    st = check_unit(f, obj, units);
    if (!st)
        st = probe_series(f, elem, "step", 1, NULL, v.dims[0]);
    if (!st)
        st = probe_series(f, elem, "time", 0, TIME_UNITS, v.dims[0]);
    return st;
}

/* probe_element for <group>/position or <group>/force: (frames, beads, 3). */
static cgdml_status probe_xyz(const h5md_file *f, const char *name, const char *const *units,
                              hsize_t *dims)
{
    char elem[H5MD_PATH_MAX], shape[H5MD_SHAPE_MAX];
    join(elem, f->group, name);
    cgdml_status st = probe_element(f, elem, 3, "(frames, beads, 3)", units, dims);
    if (!st && dims[2] != 3)
        st = cgdml_error_set(CGDML_ERR_FORMAT,
                             "%s: %s/value has shape %s; expected (frames, beads, 3)", f->path,
                             elem, format_shape(shape, 3, dims));
    return st;
}

/* Check positions and forces and return the frame and bead counts. */
static cgdml_status probe_particles(const h5md_file *f, size_t *n_frames, size_t *n_beads)
{
    hsize_t pos[3], frc[3];
    char a[H5MD_SHAPE_MAX], b[H5MD_SHAPE_MAX];
    cgdml_status st = probe_xyz(f, "position", LENGTH_UNITS, pos);
    if (!st)
        st = probe_xyz(f, "force", FORCE_UNITS, frc);
    if (st)
        return st;
    if (pos[0] != frc[0] || pos[1] != frc[1])
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s: %s/position/value has shape %s but %s/force/value has shape "
                               "%s; expected the same",
                               f->path, f->group, format_shape(a, 3, pos), f->group,
                               format_shape(b, 3, frc));
    if (pos[0] == 0 || pos[1] == 0)
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s: %s/position/value has shape %s; expected at least one frame "
                               "and one bead",
                               f->path, f->group, format_shape(a, 3, pos));
    *n_frames = (size_t)pos[0];
    *n_beads = (size_t)pos[1];
    return CGDML_OK;
}

/* ---- reading: choosing the particle group ---- */

static cgdml_status count_links(const h5md_file *f, const char *obj, hsize_t *n)
{
    H5G_info_t info;
    if (H5Gget_info_by_name(f->file, obj, &info, H5P_DEFAULT) < 0)
        return h5_fail(CGDML_ERR_FORMAT, f, "list", obj);
    *n = info.nlinks;
    return CGDML_OK;
}

/* Name of link `idx` (in name order) of the group `obj`. */
static cgdml_status link_name(const h5md_file *f, const char *obj, hsize_t idx, char *name)
{
    ssize_t len = H5Lget_name_by_idx(f->file, obj, H5_INDEX_NAME, H5_ITER_INC, idx, name,
                                     H5MD_GROUP_MAX, H5P_DEFAULT);
    if (len < 0)
        return h5_fail(CGDML_ERR_FORMAT, f, "list", obj);
    if (len >= H5MD_GROUP_MAX)
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s: %s holds a name of %zd characters; at most %d are supported",
                               f->path, obj, len, H5MD_GROUP_MAX - 1);
    return CGDML_OK;
}

/* The groups under /particles: how many, their names as "a, b" and the first. */
static cgdml_status list_particle_groups(const h5md_file *f, size_t *count, char *list, char *first)
{
    hsize_t n = 0;
    cgdml_status st = count_links(f, PARTICLES_PATH, &n);
    *count = 0;
    list[0] = first[0] = '\0';
    for (hsize_t i = 0; !st && i < n; i++) {
        char name[H5MD_GROUP_MAX], obj[H5MD_PATH_MAX];
        st = link_name(f, PARTICLES_PATH, i, name);
        join(obj, PARTICLES_PATH, name);
        if (st || object_kind(f->file, obj) != H5I_GROUP)
            continue;
        if ((*count)++ == 0)
            memcpy(first, name, sizeof name);
        size_t len = strlen(list);
        snprintf(list + len, H5MD_TEXT_MAX - len, "%s%s", len ? ", " : "", name);
    }
    return st;
}

/* A particle group or observable name: one path component. */
static cgdml_status check_name(const char *what, const char *name)
{
    if (!*name || strlen(name) >= H5MD_GROUP_MAX || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "%s \"%s\": expected 1 to %d characters without '/'", what, name,
                               H5MD_GROUP_MAX - 1);
    return CGDML_OK;
}

/* Set f->group to the group asked for or, if none, to "cg" or the only one. */
static cgdml_status choose_group(h5md_file *f, const char *group)
{
    if (object_kind(f->file, PARTICLES_PATH) != H5I_GROUP)
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s: /particles is missing; expected an H5MD file with particles "
                               "in /particles/<group> (cgdml writes /particles/cg)",
                               f->path);
    size_t count;
    char list[H5MD_TEXT_MAX], first[H5MD_GROUP_MAX];
    cgdml_status st = list_particle_groups(f, &count, list, first);
    if (st)
        return st;
    if (!group && object_kind(f->file, "/particles/" CGDML_H5MD_DEFAULT_GROUP) == H5I_GROUP)
        group = CGDML_H5MD_DEFAULT_GROUP;
    if (!group && count == 1)
        group = first;
    if (!group)
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s: /particles holds %zu groups (%s) and none is called \"%s\"; "
                               "name the one to read",
                               f->path, count, count ? list : "none", CGDML_H5MD_DEFAULT_GROUP);
    join(f->group, PARTICLES_PATH, group);
    if (object_kind(f->file, f->group) != H5I_GROUP)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: %s is missing; /particles holds: %s", f->path,
                               f->group, count ? list : "nothing");
    return CGDML_OK;
}

static void init_file(h5md_file *f, const char *path)
{
    *f = (h5md_file){.path = path, .file = -1, .lcpl = -1};
}

/* What a file that is not HDF5 looks like, for the message. */
static const char *sniff(const unsigned char *magic, size_t n)
{
    if (n == 0)
        return "the file is empty";
    if (n >= 6 && memcmp(magic, "\x93NUMPY", 6) == 0)
        return "it is a NumPy .npy file";
    if (n >= 4 && memcmp(magic, "PK\x03\x04", 4) == 0)
        return "it is a zip archive such as .npz";
    return "no HDF5 signature found";
}

static cgdml_status open_input(h5md_file *f)
{
    FILE *fp = fopen(f->path, "rb");
    if (!fp)
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot open: %s", f->path, strerror(errno));
    unsigned char magic[8];
    size_t got = fread(magic, 1, sizeof magic, fp);
    fclose(fp);
    htri_t is_hdf5 = H5Fis_hdf5(f->path);
    if (is_hdf5 == 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s is not an HDF5 file (%s); expected H5MD",
                               f->path, sniff(magic, got));
    /* Lock the file where the file system supports locks (NFS often does not). */
    hid_t fapl = is_hdf5 > 0 ? H5Pcreate(H5P_FILE_ACCESS) : -1;
    if (fapl >= 0 && H5Pset_file_locking(fapl, 1, 1) >= 0)
        f->file = H5Fopen(f->path, H5F_ACC_RDONLY, fapl);
    cgdml_status st = CGDML_OK;
    if (f->file < 0)
        st = h5_fail(CGDML_ERR_FORMAT, f, "open",
                     "the file as HDF5, it may be truncated or damaged");
    release(fapl);
    return st;
}

/* Open the file, choose the particle group and probe it (no array is read). */
static cgdml_status open_particles(h5md_file *f, const char *path, const char *group,
                                   size_t *n_frames, size_t *n_beads)
{
    init_file(f, path);
    cgdml_status st = group ? check_name("particle group", group) : CGDML_OK;
    if (!st)
        st = open_input(f);
    if (!st)
        st = choose_group(f, group);
    if (!st)
        st = probe_particles(f, n_frames, n_beads);
    return st;
}

static void close_input(h5md_file *f)
{
    if (f->file >= 0)
        H5Fclose(f->file);
    f->file = -1;
}

/* ---- reading: arrays ---- */

static cgdml_status read_array(const h5md_file *f, const char *obj, hid_t memtype, void *out)
{
    hid_t ds = H5Dopen2(f->file, obj, H5P_DEFAULT);
    cgdml_status st = CGDML_OK;
    if (ds < 0 || H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        st = h5_fail(CGDML_ERR_FORMAT, f, "read", obj);
    release(ds);
    return st;
}

static cgdml_status read_optional(const h5md_file *f, const char *elem, const char *name,
                                  hid_t memtype, void *out)
{
    char obj[H5MD_PATH_MAX];
    join(obj, elem, name);
    return object_kind(f->file, obj) == H5I_BADID ? CGDML_OK : read_array(f, obj, memtype, out);
}

/* Read <elem>/value and, where present and wanted (non-NULL), step and time;
 * probe_element has checked their shapes. */
static cgdml_status read_element(const h5md_file *f, const char *elem, double *value, int64_t *step,
                                 double *time)
{
    char obj[H5MD_PATH_MAX];
    join(obj, elem, "value");
    cgdml_status st = read_array(f, obj, H5T_NATIVE_DOUBLE, value);
    if (!st && step)
        st = read_optional(f, elem, "step", H5T_NATIVE_INT64, step);
    if (!st && time)
        st = read_optional(f, elem, "time", H5T_NATIVE_DOUBLE, time);
    return st;
}

/* malloc `bytes` for `what` once they pass the memory budget. */
static cgdml_status alloc_checked(const h5md_file *f, const char *what, size_t bytes, void **out)
{
    char label[2 * H5MD_PATH_MAX];
    snprintf(label, sizeof label, "%s: %s", f->path, what);
    *out = NULL;
    cgdml_status st = cgdml_memory_check(bytes, label);
    if (!st && !(*out = malloc(bytes)))
        st = cgdml_error_set(CGDML_ERR_NOMEM, "%s: cannot allocate %zu bytes", label, bytes);
    return st;
}

/* force/step, where both it and position/step exist, must equal position/step. */
static cgdml_status check_force_steps(const h5md_file *f, const cgdml_dataset *d)
{
    char pos[H5MD_PATH_MAX], frc[H5MD_PATH_MAX];
    join(pos, f->group, "position/step");
    join(frc, f->group, "force/step");
    if (object_kind(f->file, pos) == H5I_BADID || object_kind(f->file, frc) == H5I_BADID)
        return CGDML_OK;
    int64_t *step;
    cgdml_status st = alloc_checked(f, frc, d->n_frames * sizeof *step, (void **)&step);
    if (!st)
        st = read_array(f, frc, H5T_NATIVE_INT64, step);
    for (size_t i = 0; !st && i < d->n_frames; i++)
        if (step[i] != d->step[i])
            st =
                cgdml_error_set(CGDML_ERR_FORMAT,
                                "%s: %s[%zu] = %lld but %s[%zu] = %lld; positions and forces "
                                "must come from the same frames",
                                f->path, frc, i, (long long)step[i], pos, i, (long long)d->step[i]);
    free(step);
    return st;
}

static cgdml_status read_bead_names(const h5md_file *f, cgdml_dataset *d)
{
    if (object_kind(f->file, NAMES_PATH) == H5I_BADID)
        return CGDML_OK;
    ds_info info;
    char shape[H5MD_SHAPE_MAX];
    cgdml_status st = inspect(f, NAMES_PATH, &info);
    if (st)
        return st;
    if (info.rank != 1 || info.dims[0] != d->n_beads)
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s: %s has shape %s; expected (%zu,), one name per bead", f->path,
                               NAMES_PATH, format_shape(shape, info.rank, info.dims), d->n_beads);
    hid_t ds = H5Dopen2(f->file, NAMES_PATH, H5P_DEFAULT);
    hid_t type = ds < 0 ? -1 : H5Dget_type(ds);
    if (type < 0)
        st = h5_fail(CGDML_ERR_FORMAT, f, "read", NAMES_PATH);
    else
        st = read_strings(f, NAMES_PATH, ds, type, read_dataset, d->n_beads, d->bead_names[0],
                          CGDML_NAME_MAX);
    release(type);
    release(ds);
    return st;
}

/* /connectivity/cg_bonds, unless its particles_group names another group. */
static cgdml_status read_bonds(const h5md_file *f, cgdml_dataset *d)
{
    char owner[H5MD_PATH_MAX], shape[H5MD_SHAPE_MAX];
    int found;
    if (object_kind(f->file, BONDS_PATH) == H5I_BADID)
        return CGDML_OK;
    cgdml_status st =
        read_string_attr(f, BONDS_PATH, "particles_group", owner, sizeof owner, &found);
    if (st || (found && strcmp(owner, f->group) != 0))
        return st;
    ds_info info;
    st = inspect(f, BONDS_PATH, &info);
    if (st)
        return st;
    if (info.cls != H5T_INTEGER || info.rank != 2 || info.dims[1] != 2)
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s: %s has shape %s%s; expected integers (bonds, 2)", f->path,
                               BONDS_PATH, format_shape(shape, info.rank, info.dims),
                               info.cls == H5T_INTEGER ? "" : " and is not integer");
    size_t n = (size_t)info.dims[0];
    int *bonds = NULL;
    if (n > SIZE_MAX / (2 * sizeof *bonds)) /* n * 2 * sizeof(int) would wrap around */
        return cgdml_error_set(CGDML_ERR_NOMEM,
                               "%s: %s claims %zu bonds: more than memory can hold", f->path,
                               BONDS_PATH, n);
    if (n > 0)
        st = alloc_checked(f, BONDS_PATH, n * 2 * sizeof *bonds, (void **)&bonds);
    if (!st && n > 0)
        st = read_array(f, BONDS_PATH, H5T_NATIVE_INT, bonds);
    if (!st && (st = cgdml_dataset_set_bonds(d, n, bonds)) != CGDML_OK)
        cgdml_error_wrap(st, "%s: %s", f->path, BONDS_PATH);
    free(bonds);
    return st;
}

/* Read /observables/<name> into `scratch` and add it to the dataset, or skip it
 * if it is not a per-frame float array (see h5md.h). */
static cgdml_status read_observable(const h5md_file *f, const char *name, double *scratch,
                                    cgdml_dataset *d)
{
    char elem[H5MD_PATH_MAX], obj[H5MD_PATH_MAX];
    join(elem, OBSERVABLES_PATH, name);
    join(obj, elem, "value");
    if (object_kind(f->file, obj) != H5I_DATASET)
        return CGDML_OK;
    ds_info v;
    hsize_t n;
    cgdml_status st = inspect(f, obj, &v);
    if (st || v.cls != H5T_FLOAT || v.rank != 1 || v.dims[0] != d->n_frames)
        return st;
    st = probe_element(f, elem, 1, "(frames,)", ANGLE_UNITS, &n);
    if (!st)
        st = read_element(f, elem, scratch, NULL, NULL);
    if (!st && (st = cgdml_dataset_add_observable(d, name, scratch)) != CGDML_OK)
        cgdml_error_wrap(st, "%s: %s", f->path, elem);
    return st;
}

static cgdml_status read_observables(const h5md_file *f, cgdml_dataset *d)
{
    if (object_kind(f->file, OBSERVABLES_PATH) != H5I_GROUP)
        return CGDML_OK;
    hsize_t n = 0;
    double *scratch = NULL;
    cgdml_status st = count_links(f, OBSERVABLES_PATH, &n);
    if (!st && n > 0)
        st = alloc_checked(f, OBSERVABLES_PATH, d->n_frames * sizeof *scratch, (void **)&scratch);
    for (hsize_t i = 0; !st && i < n; i++) {
        char name[H5MD_GROUP_MAX];
        st = link_name(f, OBSERVABLES_PATH, i, name);
        if (!st)
            st = read_observable(f, name, scratch, d);
    }
    free(scratch);
    return st;
}

/* Bytes cgdml_h5md_read holds at its peak: the dataset, its observables, one
 * frame-long scratch array, the bead names and their read buffer. */
static size_t read_bytes(size_t n_frames, size_t n_beads)
{
    /* The counts come from the file's dataspaces (up to 2^64 - 1): bound them first
     * so that no product below can wrap around to a small number that passes the
     * budget (cgdml_dataset_bytes checks n_frames against n_beads, not n_beads
     * alone). */
    if (n_beads > SIZE_MAX / 64 / CGDML_NAME_MAX ||
        n_frames > SIZE_MAX / 64 / (CGDML_MAX_OBSERVABLES + 1))
        return SIZE_MAX;
    size_t base = cgdml_dataset_bytes(n_frames, n_beads);
    size_t extra =
        n_frames * sizeof(double) * (CGDML_MAX_OBSERVABLES + 1) + n_beads * 2 * CGDML_NAME_MAX;
    return base > SIZE_MAX - extra ? SIZE_MAX : base + extra;
}

static cgdml_status read_contents(const h5md_file *f, cgdml_dataset *d)
{
    char elem[H5MD_PATH_MAX];
    join(elem, f->group, "position");
    cgdml_status st = read_element(f, elem, d->coords, d->step, d->time);
    join(elem, f->group, "force");
    if (!st)
        st = read_element(f, elem, d->forces, NULL, NULL);
    if (!st)
        st = check_force_steps(f, d);
    if (!st)
        st = read_bead_names(f, d);
    if (!st)
        st = read_bonds(f, d);
    if (!st)
        st = read_observables(f, d);
    return st;
}

cgdml_status cgdml_h5md_read(const char *path, const char *group, cgdml_dataset **out)
{
    h5_quiet q;
    h5md_file f;
    size_t n_frames = 0, n_beads = 0;
    cgdml_dataset *d = NULL;
    char what[H5MD_PATH_MAX];
    *out = NULL;
    quiet_begin(&q);
    cgdml_status st = open_particles(&f, path, group, &n_frames, &n_beads);
    snprintf(what, sizeof what, "reading %s (%zu frames x %zu beads)", path, n_frames, n_beads);
    if (!st)
        st = cgdml_memory_check(read_bytes(n_frames, n_beads), what);
    if (!st && (st = cgdml_dataset_alloc(n_frames, n_beads, &d)) != CGDML_OK)
        cgdml_error_wrap(st, "%s", path);
    if (!st)
        st = read_contents(&f, d);
    close_input(&f);
    quiet_end(&q);
    if (st) {
        cgdml_dataset_free(d);
        return st;
    }
    *out = d;
    return CGDML_OK;
}

cgdml_status cgdml_h5md_read_frames_count(const char *path, const char *group, size_t *n_frames,
                                          size_t *n_beads)
{
    h5_quiet q;
    h5md_file f;
    quiet_begin(&q);
    cgdml_status st = open_particles(&f, path, group, n_frames, n_beads);
    close_input(&f);
    quiet_end(&q);
    return st;
}

/* ---- writing ---- */

static cgdml_status write_attr(const h5md_file *f, const char *obj, const char *name, hid_t ftype,
                               hid_t mtype, hid_t space, const void *buf)
{
    hid_t a =
        H5Acreate_by_name(f->file, obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cgdml_status st = CGDML_OK;
    if (a < 0 || H5Awrite(a, mtype, buf) < 0) {
        char what[H5MD_PATH_MAX + H5MD_UNIT_MAX];
        snprintf(what, sizeof what, "attribute %s of %s", name, obj);
        st = h5_fail(CGDML_ERR_IO, f, "write", what);
    }
    release(a);
    return st;
}

/* A scalar variable-length UTF-8 string attribute, the form h5py writes for a
 * Python str and MDAnalysis compares units against. */
static cgdml_status attr_string(const h5md_file *f, const char *obj, const char *name,
                                const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type >= 0 &&
        (H5Tset_size(type, H5T_VARIABLE) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0)) {
        release(type);
        type = -1;
    }
    hid_t space = H5Screate(H5S_SCALAR);
    cgdml_status st = write_attr(f, obj, name, type, type, space, &value);
    release(space);
    release(type);
    return st;
}

/* An int32 attribute: a scalar if count is 1 (H5MD's box dimension), else 1-D. */
static cgdml_status attr_ints(const h5md_file *f, const char *obj, const char *name, size_t count,
                              const int *values)
{
    hsize_t n = count;
    hid_t space = count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    cgdml_status st = write_attr(f, obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, space, values);
    release(space);
    return st;
}

/* Create dataset `obj` (and missing parent groups), write buf, add the unit. */
static cgdml_status write_dataset(const h5md_file *f, const char *obj, hid_t ftype, hid_t mtype,
                                  hid_t space, hid_t dcpl, const void *buf, const char *unit)
{
    hid_t ds = H5Dcreate2(f->file, obj, ftype, space, f->lcpl, dcpl, H5P_DEFAULT);
    cgdml_status st = CGDML_OK;
    if (ds < 0 || H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        st = h5_fail(CGDML_ERR_IO, f, "write", obj);
    /* Closing flushes the chunk cache, so a failure may only show up here. */
    if (ds >= 0 && H5Dclose(ds) < 0 && !st)
        st = h5_fail(CGDML_ERR_IO, f, "write", obj);
    if (!st && unit)
        st = attr_string(f, obj, "unit", unit);
    return st;
}

/* Pack `count` strings found every `stride` bytes from `base` into fixed-length
 * strings as long as the longest (at least 1), with the matching type in *type.
 * NULL if out of memory. */
static char *pack_fixed(const char *base, size_t stride, size_t count, hid_t *type)
{
    size_t width = 1;
    for (size_t i = 0; i < count; i++) {
        size_t len = strnlen(base + i * stride, stride);
        width = len > width ? len : width;
    }
    char *buf = calloc(count, width);
    *type = H5Tcopy(H5T_C_S1);
    if (!buf || *type < 0 || H5Tset_size(*type, width) < 0 ||
        H5Tset_strpad(*type, H5T_STR_NULLPAD) < 0) {
        free(buf);
        release(*type);
        *type = -1;
        return NULL;
    }
    for (size_t i = 0; i < count; i++)
        memcpy(buf + i * width, base + i * stride, strnlen(base + i * stride, stride));
    return buf;
}

/* 1-D fixed-length strings (count of them, every `stride` bytes from `base`):
 * the attribute `attr` of `obj`, or, if attr is NULL, the dataset `obj`. */
static cgdml_status write_fixed_strings(const h5md_file *f, const char *obj, const char *attr,
                                        const char *base, size_t stride, size_t count)
{
    hid_t type;
    hsize_t n = count;
    char *buf = pack_fixed(base, stride, count, &type);
    hid_t space = H5Screate_simple(1, &n, NULL);
    cgdml_status st;
    if (!buf)
        st = cgdml_error_set(CGDML_ERR_NOMEM, "%s: cannot pack the strings of %s", f->path, obj);
    else if (attr)
        st = write_attr(f, obj, attr, type, type, space, buf);
    else
        st = write_dataset(f, obj, type, type, space, H5P_DEFAULT, buf, NULL);
    release(space);
    release(type);
    free(buf);
    return st;
}

static cgdml_status make_group(const h5md_file *f, const char *obj)
{
    hid_t g = H5Gcreate2(f->file, obj, f->lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return h5_fail(CGDML_ERR_IO, f, "create", obj);
    release(g);
    return CGDML_OK;
}

/* Chunks of whole frames (see CHUNK_TARGET_BYTES) with shuffle and deflate; -1
 * on failure, which the dataset creation then reports. */
static hid_t compressed_layout(int rank, const hsize_t *dims, size_t elem_size)
{
    hsize_t chunk[H5S_MAX_RANK];
    size_t frame_bytes = elem_size;
    for (int i = 1; i < rank; i++) {
        chunk[i] = dims[i];
        frame_bytes *= (size_t)dims[i];
    }
    size_t frames = CHUNK_TARGET_BYTES / frame_bytes;
    frames = frames < CHUNK_MAX_FRAMES ? frames : CHUNK_MAX_FRAMES;
    frames = frames < (size_t)dims[0] ? frames : (size_t)dims[0];
    chunk[0] = frames > 0 ? frames : 1;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl >= 0 && (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
                      H5Pset_deflate(dcpl, DEFLATE_LEVEL) < 0)) {
        release(dcpl);
        dcpl = -1;
    }
    return dcpl;
}

/* A numeric array; chunked and compressed along its first dimension if `compress`. */
static cgdml_status write_array(const h5md_file *f, const char *obj, hid_t ftype, hid_t mtype,
                                int rank, const hsize_t *dims, const void *buf, int compress,
                                const char *unit)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = compress ? compressed_layout(rank, dims, H5Tget_size(ftype)) : H5P_DEFAULT;
    cgdml_status st = write_dataset(f, obj, ftype, mtype, space, dcpl, buf, unit);
    if (compress)
        release(dcpl);
    release(space);
    return st;
}

/* The H5MD time-series element <elem>: value (float64, compressed) in `unit`,
 * and the dataset's step and time. */
static cgdml_status write_element(const h5md_file *f, const char *elem, int rank,
                                  const hsize_t *dims, const double *value, const char *unit,
                                  const cgdml_dataset *d)
{
    char obj[H5MD_PATH_MAX];
    join(obj, elem, "value");
    cgdml_status st =
        write_array(f, obj, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, value, 1, unit);
    join(obj, elem, "step");
    if (!st)
        st = write_array(f, obj, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, d->step, 0, NULL);
    join(obj, elem, "time");
    if (!st)
        st = write_array(f, obj, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, d->time, 0,
                         TIME_UNITS[0]);
    return st;
}

/* /h5md: version 1.1, author and creator. */
static cgdml_status write_header(const h5md_file *f)
{
    static const int version[2] = {1, 1};
    const char *user = getenv("USER");
    cgdml_status st = make_group(f, "/h5md");
    if (!st)
        st = attr_ints(f, "/h5md", "version", 2, version);
    if (!st)
        st = make_group(f, "/h5md/author");
    if (!st)
        st = attr_string(f, "/h5md/author", "name", user && *user ? user : "cgdml");
    if (!st)
        st = make_group(f, "/h5md/creator");
    if (!st)
        st = attr_string(f, "/h5md/creator", "name", "cgdml");
    if (!st)
        st = attr_string(f, "/h5md/creator", "version", CGDML_VERSION);
    return st;
}

/* The particle group: an open box in 3-D, positions and forces. */
static cgdml_status write_particles(const h5md_file *f, const cgdml_dataset *d)
{
    static const char boundary[3][sizeof "none"] = {"none", "none", "none"};
    static const int dimension = 3;
    hsize_t dims[3] = {d->n_frames, d->n_beads, 3};
    char obj[H5MD_PATH_MAX];
    join(obj, f->group, "box");
    cgdml_status st = make_group(f, obj);
    if (!st)
        st = attr_ints(f, obj, "dimension", 1, &dimension);
    if (!st)
        st = write_fixed_strings(f, obj, "boundary", boundary[0], sizeof boundary[0], 3);
    join(obj, f->group, "position");
    if (!st)
        st = write_element(f, obj, 3, dims, d->coords, LENGTH_UNITS[0], d);
    join(obj, f->group, "force");
    if (!st)
        st = write_element(f, obj, 3, dims, d->forces, FORCE_UNITS[0], d);
    return st;
}

/* Observables, bonds and bead names. */
static cgdml_status write_extras(const h5md_file *f, const cgdml_dataset *d)
{
    hsize_t n_frames = d->n_frames, bond_dims[2] = {d->n_bonds, 2};
    cgdml_status st = CGDML_OK;
    for (size_t i = 0; !st && i < d->n_observables; i++) {
        char elem[H5MD_PATH_MAX];
        join(elem, OBSERVABLES_PATH, d->observables[i].name);
        st = write_element(f, elem, 1, &n_frames, d->observables[i].value, ANGLE_UNITS[0], d);
    }
    if (!st && d->n_bonds > 0)
        st = write_array(f, BONDS_PATH, H5T_STD_I32LE, H5T_NATIVE_INT, 2, bond_dims, d->bonds, 0,
                         NULL);
    if (!st && d->n_bonds > 0)
        st = attr_string(f, BONDS_PATH, "particles_group", f->group);
    if (!st)
        st = write_fixed_strings(f, NAMES_PATH, NULL, d->bead_names[0], CGDML_NAME_MAX, d->n_beads);
    return st;
}

static cgdml_status check_writable(const char *path, const cgdml_dataset *d, const char *group)
{
    if (!path || !*path)
        return cgdml_error_set(CGDML_ERR_INVALID, "no output path given");
    if (!d || d->n_frames == 0 || d->n_beads == 0 || !d->coords || !d->forces || !d->step ||
        !d->time || !d->bead_names || (d->n_bonds > 0 && !d->bonds))
        return cgdml_error_set(CGDML_ERR_INVALID,
                               "cannot write an empty or incomplete dataset (%zu frames x %zu "
                               "beads)",
                               d ? d->n_frames : 0, d ? d->n_beads : 0);
    cgdml_status st = check_name("particle group", group);
    for (size_t i = 0; !st && i < d->n_observables; i++)
        st = d->observables[i].value
                 ? check_name("observable", d->observables[i].name)
                 : cgdml_error_set(CGDML_ERR_INVALID, "observable \"%s\" has no values",
                                   d->observables[i].name);
    return st;
}

/* Upper bound on the size of the finished file: the raw arrays (deflate grows
 * incompressible data by well under 1 %), plus 1 % and 1 MiB for chunk indexes
 * and object headers.  SIZE_MAX on overflow. */
static size_t image_bytes(const cgdml_dataset *d)
{
    size_t n_frames = d->n_frames, elements = 2 + d->n_observables;
    size_t raw = cgdml_dataset_bytes(n_frames, d->n_beads);
    if (raw == SIZE_MAX || n_frames > SIZE_MAX / 64 / elements)
        return SIZE_MAX;
    raw += elements * n_frames * 2 * sizeof(double) + d->n_bonds * 2 * sizeof(int) +
           d->n_beads * CGDML_NAME_MAX;
    return raw > SIZE_MAX / 4 ? SIZE_MAX : raw + raw / 100 + CORE_MARGIN_BYTES;
}

/* Open the file in memory (nothing touches the disk).  Closing it closes every
 * object still open in it (H5F_CLOSE_STRONG), so an error path can never keep
 * it half-open. */
static cgdml_status create_output(h5md_file *f, const char *group)
{
    join(f->group, PARTICLES_PATH, group);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fapl_core(fapl, CORE_INCREMENT_BYTES, 0) >= 0 &&
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0)
        f->file = H5Fcreate(f->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    cgdml_status st = f->file < 0 ? h5_fail(CGDML_ERR_IO, f, "create", "the file") : CGDML_OK;
    release(fapl);
    f->lcpl = st ? -1 : H5Pcreate(H5P_LINK_CREATE);
    if (!st && (f->lcpl < 0 || H5Pset_create_intermediate_group(f->lcpl, 1) < 0))
        st = h5_fail(CGDML_ERR_IO, f, "create", "the file's link properties");
    return st;
}

/* A copy of the finished in-memory file: *size bytes at *image (malloc'ed). */
static cgdml_status take_image(const h5md_file *f, char **image, size_t *size)
{
    /* Flush first: the image is copied from the file as it stands. */
    ssize_t n = H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(f->file, NULL, 0);
    if (n <= 0)
        return h5_fail(CGDML_ERR_IO, f, "finish", "the file");
    *image = malloc((size_t)n);
    if (!*image)
        return cgdml_error_set(CGDML_ERR_NOMEM, "%s: cannot allocate the %.1f MB file image",
                               f->path, (double)n / 1e6);
    if (H5Fget_file_image(f->file, *image, (size_t)n) != n)
        return h5_fail(CGDML_ERR_IO, f, "finish", "the file");
    *size = (size_t)n;
    return CGDML_OK;
}

static cgdml_status close_output(h5md_file *f, cgdml_status st)
{
    release(f->lcpl);
    if (f->file >= 0 && H5Fclose(f->file) < 0 && !st)
        st = h5_fail(CGDML_ERR_IO, f, "finish", "the file");
    f->file = -1;
    return st;
}

/* Build the whole H5MD file in memory: *size bytes at *image (malloc'ed). */
static cgdml_status build_image(const char *path, const cgdml_dataset *d, const char *group,
                                char **image, size_t *size)
{
    h5_quiet q;
    h5md_file f;
    quiet_begin(&q);
    init_file(&f, path);
    cgdml_status st = create_output(&f, group);
    if (!st)
        st = write_header(&f);
    if (!st)
        st = write_particles(&f, d);
    if (!st)
        st = write_extras(&f, d);
    if (!st)
        st = take_image(&f, image, size);
    st = close_output(&f, st);
    quiet_end(&q);
    return st;
}

cgdml_status cgdml_h5md_write(const char *path, const cgdml_dataset *data, const char *group)
{
    cgdml_atomic a;
    FILE *fp;
    char what[H5MD_PATH_MAX], *image = NULL;
    size_t size = 0;
    if (!group)
        group = CGDML_H5MD_DEFAULT_GROUP;
    cgdml_status st = check_writable(path, data, group);
    if (st)
        return st;
    /* The image exists twice for a moment: HDF5's and the copy written out. */
    size_t bytes = image_bytes(data);
    snprintf(what, sizeof what, "writing %s (%zu frames x %zu beads)", path, data->n_frames,
             data->n_beads);
    st = cgdml_memory_check(bytes > SIZE_MAX / 2 ? SIZE_MAX : 2 * bytes, what);
    if (!st)
        st = build_image(path, data, group, &image, &size);
    if (!st)
        st = cgdml_atomic_fopen(&a, path, &fp);
    if (!st)
        st = cgdml_atomic_fclose(&a, fp, fwrite(image, 1, size, fp) != size);
    free(image);
    return st;
}
