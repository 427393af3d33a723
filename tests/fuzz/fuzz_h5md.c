/* fuzz_h5md.c - libFuzzer target for the H5MD reader (src/h5md.c): each input is
 * read whole and probed for its shape, with the particle group chosen by the
 * reader.  Any status is fine; crashes, sanitizer reports, leaks and HDF5
 * objects left open are findings.  Seeds: tests/fuzz/corpus/h5md/.
 *
 * The mutations that matter are the ones in HDF5 metadata (object headers,
 * dataspaces, datatypes, attributes), which libhdf5 parses before cgdml sees
 * anything: a crash inside libhdf5 is a libhdf5 bug, reported upstream, not
 * fixed here.
 */
#include <stdlib.h>

#include "cgdml/h5md.h"
#include "fuzz_hdf5.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f;
    fuzz_file_open(&f, data, size);

    size_t n_frames = 0, n_beads = 0;
    cgdml_h5md_read_frames_count(f.path, NULL, &n_frames, &n_beads);
    fuzz_hdf5_expect_all_closed("cgdml_h5md_read_frames_count");

    cgdml_dataset *d = NULL;
    cgdml_status st = cgdml_h5md_read(f.path, NULL, &d);
    if ((st == CGDML_OK) != (d != NULL))
        abort(); /* documented: *out is a dataset exactly on success */
    cgdml_dataset_free(d);
    fuzz_hdf5_expect_all_closed("cgdml_h5md_read");

    fuzz_file_close(&f);
    return 0;
}
