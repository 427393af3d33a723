/* fuzz_npy.c - libFuzzer target for the .npy readers (src/npy.c): each input is
 * read as a frames array, as an index array, and as both halves of a
 * coordinates/forces pair.  Any status is fine; crashes, sanitizer reports and
 * leaks are findings.  Seeds: tests/fuzz/corpus/npy/.
 */
#include <stdlib.h>

#include "cgdml/dataset.h"
#include "cgdml/npy.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f;
    fuzz_file_open(&f, data, size);

    double *frames = NULL;
    size_t n_frames = 0, n_beads = 0;
    if (cgdml_npy_read_frames(f.path, &frames, &n_frames, &n_beads) == CGDML_OK &&
        (n_frames == 0 || n_beads == 0))
        abort(); /* documented: at least one frame and one bead */
    free(frames);

    size_t *idx = NULL, n = 0;
    if (cgdml_npy_read_indices(f.path, &idx, &n) == CGDML_OK && n == 0)
        abort(); /* documented: an empty array is refused */
    free(idx);

    cgdml_dataset *pair = NULL;
    cgdml_npy_import(f.path, f.path, &pair);
    cgdml_dataset_free(pair);

    fuzz_file_close(&f);
    return 0;
}
