/* cgdml/error.h - status codes and the error message that travels with them.
 *
 * Every library function that can fail returns a cgdml_status.  On failure it also
 * leaves a human-readable message (naming the file, the field and what was
 * expected) in a thread-local buffer that the caller reads with
 * cgdml_error_message().  Nothing below the command-line layer prints or exits.
 */
#ifndef CGDML_ERROR_H
#define CGDML_ERROR_H

#include <stddef.h>

typedef enum {
    CGDML_OK = 0,
    CGDML_ERR_INVALID = 1,  /* bad argument or impossible hyperparameter */
    CGDML_ERR_IO = 2,       /* cannot open, read or write a file */
    CGDML_ERR_FORMAT = 3,   /* file exists but its content is not what we expect */
    CGDML_ERR_NOMEM = 4,    /* allocation failed or exceeds the memory budget */
    CGDML_ERR_NUMERIC = 5,  /* NaN/Inf, or a matrix that is not positive definite */
} cgdml_status;

/* Record a printf-style message for the current thread and return `status`. */
cgdml_status cgdml_error_set(cgdml_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix the current message with more context ("reading data.h5: ...").
 * Returns `status` unchanged so it can be used in return statements. */
cgdml_status cgdml_error_wrap(cgdml_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread ("" if none). */
const char *cgdml_error_message(void);

/* Clear the current thread's message. */
void cgdml_error_clear(void);

/* A short name for a status code ("format error", ...). */
const char *cgdml_status_name(cgdml_status status);

#endif
