/* model_io.c - the HDF5 model file: save (atomic) and load (checked).
 *
 * Layout (docs/FORMATS.md):
 *   /cgdml_model                    attrs format_version, kind, sigma, lambda, n_beads,
 *                                   n_train, dataset_hash, length_unit, force_unit,
 *                                   energy_unit, cgdml_version
 *   /cgdml_model/train_descriptors  float64 (n_train, d), 1/Å
 *   /cgdml_model/gamma              float64 (n_train, d)
 *   /cgdml_model/train_indices      uint64 (n_train,)
 *   /cgdml_model/bead_names         fixed-length strings (n_beads,)
 *   /cgdml_model/prior              optional: attr temperature (K); bonds int32
 *                                   (n_bonds, 2), bond_r0 (Å), bond_k (kcal/mol/Å²),
 *                                   angles int32 (n_angles, 3), angle_theta0 (rad),
 *                                   angle_k (kcal/mol/rad²)
 *   /cgdml_model/cross_validation   optional float64 (rows, 6): layer, sigma, lambda,
 *                                   mse, mse_stderr, n_eval
 */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgdml/model.h"
#include "cgdml/memory.h"
#include "h5util.h"

#ifndef CGDML_VERSION
#define CGDML_VERSION "unknown"
#endif

#define MODEL_GROUP "/cgdml_model"

static cgdml_status write_attrs(hid_t g, const cgdml_model *m)
{
    int version = CGDML_MODEL_FORMAT_VERSION;
    unsigned long long nb = m->n_beads, nt = m->n_train, hash = m->dataset_hash;
    cgdml_status s = cgdml_h5_write_attr(g, "format_version", H5T_NATIVE_INT, &version);
    if (!s) s = cgdml_h5_write_attr_string(g, "kind", cgdml_model_kind_name(m->kind));
    if (!s) s = cgdml_h5_write_attr(g, "sigma", H5T_NATIVE_DOUBLE, &m->sigma);
    if (!s) s = cgdml_h5_write_attr(g, "lambda", H5T_NATIVE_DOUBLE, &m->lambda);
    if (!s) s = cgdml_h5_write_attr(g, "n_beads", H5T_NATIVE_ULLONG, &nb);
    if (!s) s = cgdml_h5_write_attr(g, "n_train", H5T_NATIVE_ULLONG, &nt);
    if (!s) s = cgdml_h5_write_attr(g, "dataset_hash", H5T_NATIVE_ULLONG, &hash);
    if (!s) s = cgdml_h5_write_attr_string(g, "length_unit", "Angstrom");
    if (!s) s = cgdml_h5_write_attr_string(g, "force_unit", "kcal mol-1 Angstrom-1");
    if (!s) s = cgdml_h5_write_attr_string(g, "energy_unit", "kcal mol-1");
    if (!s) s = cgdml_h5_write_attr_string(g, "cgdml_version", CGDML_VERSION);
    return s;
}

static cgdml_status write_arrays(hid_t g, const cgdml_model *m)
{
    hsize_t dims[2] = {m->n_train, m->n_desc};
    cgdml_status s = cgdml_h5_write_array(g, "train_descriptors", H5T_NATIVE_DOUBLE, 2, dims,
                                 m->train_desc);
    if (!s) s = cgdml_h5_write_array(g, "gamma", H5T_NATIVE_DOUBLE, 2, dims, m->gamma);
    unsigned long long *idx = malloc(m->n_train * sizeof *idx);
    if (!idx)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate training indices");
    for (size_t t = 0; t < m->n_train; t++)
        idx[t] = m->train_indices[t];
    if (!s) s = cgdml_h5_write_array(g, "train_indices", H5T_NATIVE_ULLONG, 1, dims, idx);
    free(idx);
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, CGDML_NAME_MAX);
    hsize_t nb = m->n_beads;
    if (!s) s = cgdml_h5_write_array(g, "bead_names", str, 1, &nb, m->bead_names);
    H5Tclose(str);
    return s;
}

static cgdml_status write_prior(hid_t parent, const cgdml_prior *p)
{
    hid_t g = H5Gcreate2(parent, "prior", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return cgdml_error_set(CGDML_ERR_IO, "cannot create group 'prior'");
    hsize_t b[2] = {p->n_bonds, 2}, a[2] = {p->n_angles, 3};
    cgdml_status s = cgdml_h5_write_attr(g, "temperature", H5T_NATIVE_DOUBLE, &p->temperature);
    if (!s) s = cgdml_h5_write_array(g, "bonds", H5T_NATIVE_INT, 2, b, p->bonds);
    if (!s) s = cgdml_h5_write_array(g, "bond_r0", H5T_NATIVE_DOUBLE, 1, b, p->bond_r0);
    if (!s) s = cgdml_h5_write_array(g, "bond_k", H5T_NATIVE_DOUBLE, 1, b, p->bond_k);
    if (!s) s = cgdml_h5_write_array(g, "angles", H5T_NATIVE_INT, 2, a, p->angles);
    if (!s) s = cgdml_h5_write_array(g, "angle_theta0", H5T_NATIVE_DOUBLE, 1, a, p->angle_theta0);
    if (!s) s = cgdml_h5_write_array(g, "angle_k", H5T_NATIVE_DOUBLE, 1, a, p->angle_k);
    H5Gclose(g);
    return s;
}

static cgdml_status write_model_file(hid_t file, const void *ctx)
{
    const cgdml_model *model = ctx;
    hid_t g = H5Gcreate2(file, MODEL_GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cgdml_status s = g < 0 ? cgdml_error_set(CGDML_ERR_IO, "cannot create group")
                           : write_attrs(g, model);
    if (!s)
        s = write_arrays(g, model);
    if (!s && model->prior)
        s = write_prior(g, model->prior);
    hsize_t cv_dims[2] = {model->cv_rows, CGDML_CV_COLUMNS};
    if (!s && model->cv_table)
        s = cgdml_h5_write_array(g, "cross_validation", H5T_NATIVE_DOUBLE, 2, cv_dims,
                                 model->cv_table);
    if (g >= 0)
        H5Gclose(g);
    return s;
}

cgdml_status cgdml_model_save(const cgdml_model *model, const char *path)
{
    return cgdml_h5_save(path, "model", write_model_file, model);
}

/* ---- loading ---------------------------------------------------------------- */

static cgdml_status parse_kind(const char *text, cgdml_model_kind *kind)
{
    for (int k = CGDML_MODEL_SINGLE; k <= CGDML_MODEL_DISTILLED; k++)
        if (strcmp(text, cgdml_model_kind_name((cgdml_model_kind)k)) == 0) {
            *kind = (cgdml_model_kind)k;
            return CGDML_OK;
        }
    return cgdml_error_set(CGDML_ERR_FORMAT,
                           "kind '%s' is unknown; expected single, average or distilled", text);
}

/* The scalar header: version, kind, shape and hyperparameters, all checked. */
typedef struct {
    int version;
    cgdml_model_kind kind;
    unsigned long long n_beads, n_train, hash;
    double sigma, lambda;
} model_header;

static cgdml_status read_header(hid_t g, model_header *h)
{
    char kind[32];
    cgdml_status s = cgdml_h5_read_attr(g, "format_version", H5T_NATIVE_INT, &h->version);
    if (!s && (h->version < 1 || h->version > CGDML_MODEL_FORMAT_VERSION))
        s = cgdml_error_set(CGDML_ERR_FORMAT,
                            "format_version %d is not supported (this cgdml reads 1 to %d; a "
                            "newer cgdml wrote it?)",
                            h->version, CGDML_MODEL_FORMAT_VERSION);
    if (!s) s = cgdml_h5_read_attr_string(g, "kind", kind, sizeof kind);
    if (!s) s = parse_kind(kind, &h->kind);
    if (!s) s = cgdml_h5_read_attr(g, "sigma", H5T_NATIVE_DOUBLE, &h->sigma);
    if (!s) s = cgdml_h5_read_attr(g, "lambda", H5T_NATIVE_DOUBLE, &h->lambda);
    if (!s) s = cgdml_h5_read_attr(g, "n_beads", H5T_NATIVE_ULLONG, &h->n_beads);
    if (!s) s = cgdml_h5_read_attr(g, "n_train", H5T_NATIVE_ULLONG, &h->n_train);
    if (!s) s = cgdml_h5_read_attr(g, "dataset_hash", H5T_NATIVE_ULLONG, &h->hash);
    if (s)
        return s;
    if (!(h->sigma > 0) || !isfinite(h->sigma) || !(h->lambda >= 0) || !isfinite(h->lambda))
        return cgdml_error_set(CGDML_ERR_FORMAT, "sigma = %g, lambda = %g are not valid",
                               h->sigma, h->lambda);
    if (h->n_beads < 2 || h->n_beads > 100000 || h->n_train == 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "n_beads = %llu, n_train = %llu are not valid",
                               h->n_beads, h->n_train);
    return CGDML_OK;
}

static cgdml_status read_body(hid_t g, cgdml_model *m)
{
    hsize_t dims[2] = {m->n_train, m->n_desc};
    cgdml_status s = cgdml_h5_read_array(g, "train_descriptors", H5T_NATIVE_DOUBLE, 2, dims,
                                m->train_desc);
    if (!s) s = cgdml_h5_read_array(g, "gamma", H5T_NATIVE_DOUBLE, 2, dims, m->gamma);
    unsigned long long *idx = malloc(m->n_train * sizeof *idx);
    if (!idx)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate training indices");
    if (!s) s = cgdml_h5_read_array(g, "train_indices", H5T_NATIVE_ULLONG, 1, dims, idx);
    for (size_t t = 0; !s && t < m->n_train; t++)
        m->train_indices[t] = (size_t)idx[t];
    free(idx);
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, CGDML_NAME_MAX);
    hsize_t nb = m->n_beads;
    if (!s) s = cgdml_h5_read_array(g, "bead_names", str, 1, &nb, m->bead_names);
    H5Tclose(str);
    for (size_t b = 0; b < m->n_beads; b++)
        m->bead_names[b][CGDML_NAME_MAX - 1] = '\0';
    for (size_t e = 0; !s && e < m->n_train * m->n_desc; e++)
        if (!isfinite(m->train_desc[e]) || !isfinite(m->gamma[e]))
            s = cgdml_error_set(CGDML_ERR_FORMAT, "training frame %zu holds NaN or Inf",
                                e / m->n_desc);
    return s;
}

/* The length (first dimension) of dataset `name`, 0 if it has none. */
/* Size of dimension `which` of dataset `name` (0 if absent or of lower rank). */
static hsize_t dim_of(hid_t loc, const char *name, int which)
{
    hsize_t dims[H5S_MAX_RANK] = {0}; /* any rank the file may claim */
    hid_t ds = H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Dopen2(loc, name, H5P_DEFAULT) : -1;
    if (ds < 0)
        return 0;
    hid_t space = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank > which)
        H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    H5Dclose(ds);
    return dims[which];
}

static hsize_t first_dim(hid_t loc, const char *name)
{
    return dim_of(loc, name, 0);
}

static cgdml_status read_prior_arrays(hid_t g, cgdml_prior *p, size_t n_beads)
{
    hsize_t b[2] = {p->n_bonds, 2}, a[2] = {p->n_angles, 3};
    cgdml_status s = cgdml_h5_read_attr(g, "temperature", H5T_NATIVE_DOUBLE, &p->temperature);
    if (!s) s = cgdml_h5_read_array(g, "bonds", H5T_NATIVE_INT, 2, b, p->bonds);
    if (!s) s = cgdml_h5_read_array(g, "bond_r0", H5T_NATIVE_DOUBLE, 1, b, p->bond_r0);
    if (!s) s = cgdml_h5_read_array(g, "bond_k", H5T_NATIVE_DOUBLE, 1, b, p->bond_k);
    if (!s) s = cgdml_h5_read_array(g, "angles", H5T_NATIVE_INT, 2, a, p->angles);
    if (!s) s = cgdml_h5_read_array(g, "angle_theta0", H5T_NATIVE_DOUBLE, 1, a, p->angle_theta0);
    if (!s) s = cgdml_h5_read_array(g, "angle_k", H5T_NATIVE_DOUBLE, 1, a, p->angle_k);
    for (size_t i = 0; !s && i < 2 * p->n_bonds + 3 * p->n_angles; i++) {
        int bead = i < 2 * p->n_bonds ? p->bonds[i] : p->angles[i - 2 * p->n_bonds];
        if (bead < 0 || (size_t)bead >= n_beads)
            s = cgdml_error_set(CGDML_ERR_FORMAT, "prior: bead index %d is outside 0..%zu", bead,
                                n_beads - 1);
    }
    return s;
}

static cgdml_status read_prior(hid_t parent, size_t n_beads, cgdml_prior **out)
{
    *out = NULL;
    if (H5Lexists(parent, "prior", H5P_DEFAULT) <= 0)
        return CGDML_OK;
    hid_t g = H5Gopen2(parent, "prior", H5P_DEFAULT);
    if (g < 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "group 'prior' is unreadable");
    hsize_t nb = first_dim(g, "bonds"), na = first_dim(g, "angles");
    cgdml_status s = nb > 100000 || na > 100000
                         ? cgdml_error_set(CGDML_ERR_FORMAT, "prior of %llu bonds, %llu angles",
                                           (unsigned long long)nb, (unsigned long long)na)
                         : cgdml_prior_alloc((size_t)nb, (size_t)na, out);
    if (!s)
        s = read_prior_arrays(g, *out, n_beads);
    H5Gclose(g);
    if (s) {
        cgdml_prior_free(*out);
        *out = NULL;
        return cgdml_error_wrap(s, "prior");
    }
    return CGDML_OK;
}

static cgdml_status read_cv_table(hid_t g, cgdml_model *m)
{
    hsize_t rows = first_dim(g, "cross_validation");
    if (rows == 0)
        return CGDML_OK;
    if (rows > 1000000)
        return cgdml_error_set(CGDML_ERR_FORMAT, "cross_validation has %llu rows",
                               (unsigned long long)rows);
    /* Files before the binned error have CGDML_CV_COLUMNS - 1 columns: it reads NaN. */
    hsize_t cols = dim_of(g, "cross_validation", 1);
    if (cols != CGDML_CV_COLUMNS && cols != CGDML_CV_COLUMNS - 1)
        return cgdml_error_set(CGDML_ERR_FORMAT, "cross_validation has %llu columns, not %d",
                               (unsigned long long)cols, CGDML_CV_COLUMNS);
    m->cv_table = malloc(rows * CGDML_CV_COLUMNS * sizeof(double));
    if (!m->cv_table)
        return cgdml_error_set(CGDML_ERR_NOMEM, "cannot allocate the cross-validation table");
    m->cv_rows = rows;
    hsize_t dims[2] = {rows, cols};
    cgdml_status s =
        cgdml_h5_read_array(g, "cross_validation", H5T_NATIVE_DOUBLE, 2, dims, m->cv_table);
    for (size_t r = rows; !s && cols < CGDML_CV_COLUMNS && r-- > 0;) { /* spread the rows out */
        memmove(m->cv_table + r * CGDML_CV_COLUMNS, m->cv_table + r * cols, cols * sizeof(double));
        m->cv_table[r * CGDML_CV_COLUMNS + cols] = NAN;
    }
    return s;
}

static cgdml_status load_group(hid_t file, cgdml_model **out)
{
    if (H5Lexists(file, MODEL_GROUP, H5P_DEFAULT) <= 0)
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "no group %s: not a cgdml model file (a dataset?)", MODEL_GROUP);
    hid_t g = H5Gopen2(file, MODEL_GROUP, H5P_DEFAULT);
    model_header h = {0};
    cgdml_status s = read_header(g, &h);
    size_t d = (size_t)(h.n_beads * (h.n_beads - 1) / 2);
    /* n_train comes from the file: refuse it before 2 * n_train * d doubles can wrap
     * around and slip past the budget as a small number. */
    if (!s && h.n_train > SIZE_MAX / 4 / sizeof(double) / d)
        s = cgdml_error_set(CGDML_ERR_NOMEM,
                            "the model claims %llu training frames of %zu descriptor entries: "
                            "more than memory can hold",
                            h.n_train, d);
    if (!s)
        s = cgdml_memory_check(2 * (size_t)h.n_train * d * sizeof(double) + 64 * h.n_beads,
                               "the model");
    if (!s)
        s = cgdml_model_alloc((size_t)h.n_train, (size_t)h.n_beads, out);
    if (!s) {
        (*out)->kind = h.kind;
        (*out)->sigma = h.sigma;
        (*out)->lambda = h.lambda;
        (*out)->dataset_hash = h.hash;
        s = read_body(g, *out);
    }
    if (!s)
        s = read_prior(g, (size_t)h.n_beads, &(*out)->prior);
    if (!s)
        s = read_cv_table(g, *out);
    H5Gclose(g);
    if (s) {
        cgdml_model_free(*out);
        *out = NULL;
    }
    return s;
}

int cgdml_model_file_probe(const char *path)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (H5Fis_hdf5(path) <= 0)
        return 0;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return 0;
    int found = H5Lexists(file, MODEL_GROUP, H5P_DEFAULT) > 0;
    H5Fclose(file);
    return found;
}

cgdml_status cgdml_model_load(const char *path, cgdml_model **out)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (H5Fis_hdf5(path) <= 0) {
        FILE *f = fopen(path, "rb");
        if (!f)
            return cgdml_error_set(CGDML_ERR_IO, "%s: cannot open the model file", path);
        fclose(f);
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: not an HDF5 file; expected a cgdml model",
                               path);
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "%s: cannot open as HDF5 (truncated?)", path);
    cgdml_status s = load_group(file, out);
    H5Fclose(file);
    if (!s && (s = cgdml_model_prepare(*out))) {
        cgdml_model_free(*out);
        *out = NULL;
    }
    return s ? cgdml_error_wrap(s, "%s", path) : CGDML_OK;
}
