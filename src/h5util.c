/* h5util.c - HDF5 helpers shared by model_io.c, fes.c and the simulation and CG
 * checkpoints (see h5util.h). */
#include "h5util.h"

#include <string.h>

#include "cgdml/atomic.h"

cgdml_status cgdml_h5_write_attr(hid_t loc, const char *name, hid_t type, const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = attr < 0 ? -1 : H5Awrite(attr, type, value);
    if (attr >= 0)
        H5Aclose(attr);
    H5Sclose(space);
    return e < 0 ? cgdml_error_set(CGDML_ERR_IO, "cannot write attribute '%s'", name) : CGDML_OK;
}

cgdml_status cgdml_h5_write_attr_string(hid_t loc, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    cgdml_status s = cgdml_h5_write_attr(loc, name, type, value);
    H5Tclose(type);
    return s;
}

cgdml_status cgdml_h5_write_array(hid_t loc, const char *name, hid_t type, int rank,
                                const hsize_t *dims, const void *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t ds = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = ds < 0 ? -1 : H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0)
        H5Dclose(ds);
    H5Sclose(space);
    return e < 0 ? cgdml_error_set(CGDML_ERR_IO, "cannot write dataset '%s'", name) : CGDML_OK;
}

cgdml_status cgdml_h5_read_attr(hid_t loc, const char *name, hid_t type, void *value)
{
    if (H5Aexists(loc, name) <= 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "attribute '%s' is missing", name);
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    herr_t e = attr < 0 ? -1 : H5Aread(attr, type, value);
    if (attr >= 0)
        H5Aclose(attr);
    return e < 0 ? cgdml_error_set(CGDML_ERR_FORMAT, "attribute '%s' is unreadable", name)
                 : CGDML_OK;
}

cgdml_status cgdml_h5_read_attr_string(hid_t loc, const char *name, char *buf, size_t size)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, size);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    cgdml_status s = cgdml_h5_read_attr(loc, name, type, buf);
    H5Tclose(type);
    buf[size - 1] = '\0';
    return s;
}

cgdml_status cgdml_h5_read_array(hid_t loc, const char *name, hid_t type, int rank,
                                 const hsize_t *dims, void *data)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return cgdml_error_set(CGDML_ERR_FORMAT, "dataset '%s' is missing", name);
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t space = ds < 0 ? -1 : H5Dget_space(ds);
    /* Room for any rank the file may claim: HDF5 fills one entry per dimension. */
    hsize_t found[H5S_MAX_RANK] = {0};
    int r = space < 0 ? -1 : H5Sget_simple_extent_dims(space, found, NULL);
    cgdml_status s = CGDML_OK;
    if (r != rank || found[0] != dims[0] || (rank == 2 && found[1] != dims[1]))
        s = cgdml_error_set(CGDML_ERR_FORMAT,
                            "dataset '%s' has shape (%llu, %llu) of rank %d; expected (%llu, "
                            "%llu) of rank %d",
                            name, (unsigned long long)found[0], (unsigned long long)found[1], r,
                            (unsigned long long)dims[0],
                            (unsigned long long)(rank == 2 ? dims[1] : 0), rank);
    else if (H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        s = cgdml_error_set(CGDML_ERR_FORMAT, "dataset '%s' is unreadable (truncated file?)",
                            name);
    if (space >= 0)
        H5Sclose(space);
    if (ds >= 0)
        H5Dclose(ds);
    return s;
}

cgdml_status cgdml_h5_open_checkpoint(const char *path, const char *what, hid_t *file)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    *file = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (*file < 0)
        return cgdml_error_set(CGDML_ERR_FORMAT,
                               "%s %s is not an HDF5 file; remove it to start afresh", what, path);
    return CGDML_OK;
}

cgdml_status cgdml_h5_save(const char *path, const char *what, cgdml_h5_writer write,
                           const void *ctx)
{
    cgdml_atomic out;
    cgdml_status s = cgdml_atomic_begin(&out, path);
    if (s)
        return s;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fcreate(out.tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0)
        return cgdml_error_set(CGDML_ERR_IO, "%s: cannot create the %s file", path, what);
    s = write(file, ctx);
    if (H5Fclose(file) < 0 && !s)
        s = cgdml_error_set(CGDML_ERR_IO, "cannot close the file");
    if (!s)
        s = cgdml_atomic_commit(&out);
    if (s) {
        cgdml_atomic_abort(&out);
        return cgdml_error_wrap(s, "%s", path);
    }
    return CGDML_OK;
}
