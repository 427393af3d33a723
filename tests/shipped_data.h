/* shipped_data.h - the shipped alanine dipeptide dataset for the tests that need
 * real data (found through CGDML_SRC, set by `make test`).
 */
#ifndef CGDML_TESTS_SHIPPED_DATA_H
#define CGDML_TESTS_SHIPPED_DATA_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "cgdml/h5md.h"

static inline cgdml_dataset *shipped_dataset(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/datasets/ala2_cg6.h5", getenv("CGDML_SRC"));
    cgdml_dataset *d;
    cr_assert_eq(cgdml_h5md_read(path, NULL, &d), CGDML_OK, "%s", cgdml_error_message());
    return d;
}

#endif
