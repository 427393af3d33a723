/* fuzz_hdf5.h - the extra check of the HDF5 targets (fuzz_h5md.c, fuzz_model.c):
 * after a reader returns, on success or failure, no HDF5 object may still be
 * open.  A handle the reader forgets to close on some error path is invisible to
 * LeakSanitizer (HDF5 keeps it reachable) but keeps the file open for the rest
 * of the process, so it is treated as a finding: the target aborts.
 */
#ifndef CGDML_FUZZ_HDF5_H
#define CGDML_FUZZ_HDF5_H

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

static inline void fuzz_hdf5_expect_all_closed(const char *reader)
{
    ssize_t open_objects = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_objects != 0) {
        fprintf(stderr, "%s left %zd HDF5 objects open\n", reader, open_objects);
        abort();
    }
}

#endif
