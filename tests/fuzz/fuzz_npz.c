/* fuzz_npz.c - libFuzzer target for the sGDML .npz reader (src/npy.c: the zip
 * directory, stored and deflated members, the R/F/z arrays and unit members).
 * Any status is fine; crashes, sanitizer reports and leaks are findings.
 * Seeds: tests/fuzz/corpus/npz/.
 */
#include <stdlib.h>

#include "cgdml/dataset.h"
#include "cgdml/npy.h"
#include "cgdml/npz.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f;
    fuzz_file_open(&f, data, size);
    cgdml_dataset *d = NULL;
    cgdml_status st = cgdml_npz_read_sgdml(f.path, &d);
    if ((st == CGDML_OK) != (d != NULL))
        abort(); /* documented: *out is a dataset exactly on success */
    cgdml_dataset_free(d);
    fuzz_file_close(&f);
    return 0;
}
