/* fuzz_model.c - libFuzzer target for the model loader (src/model_io.c): each
 * input is probed and loaded.  Any status is fine; crashes, sanitizer reports,
 * leaks and HDF5 objects left open are findings.  Seeds: tests/fuzz/corpus/model/.
 * As in fuzz_h5md.c, a crash inside libhdf5 itself is libhdf5's bug.
 */
#include <stdlib.h>

#include "cgdml/model.h"
#include "fuzz_hdf5.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f;
    fuzz_file_open(&f, data, size);

    cgdml_model_file_probe(f.path);
    fuzz_hdf5_expect_all_closed("cgdml_model_file_probe");

    cgdml_model *m = NULL;
    cgdml_status st = cgdml_model_load(f.path, &m);
    if ((st == CGDML_OK) != (m != NULL))
        abort(); /* documented: *out is a model exactly on success */
    cgdml_model_free(m);
    fuzz_hdf5_expect_all_closed("cgdml_model_load");

    fuzz_file_close(&f);
    return 0;
}
