/* error.c - the thread-local error message behind cgdml_status (see cgdml/error.h).
 *
 * A fixed buffer per thread keeps error reporting allocation-free, so it still
 * works when the failure being reported is an allocation failure.
 */
#include "cgdml/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { ERROR_MESSAGE_MAX = 2048 };

static _Thread_local char error_message[ERROR_MESSAGE_MAX];

cgdml_status cgdml_error_set(cgdml_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return status;
}

cgdml_status cgdml_error_wrap(cgdml_status status, const char *fmt, ...)
{
    char prefix[ERROR_MESSAGE_MAX];
    char old[ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    /* Truncation is fine here: the start of a message is the informative part. */
    size_t n = strnlen(prefix, sizeof prefix - 3);
    memcpy(error_message, prefix, n);
    memcpy(error_message + n, ": ", 2);
    size_t rest = sizeof error_message - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(error_message + n + 2, old, m);
    error_message[n + 2 + m] = '\0';
    return status;
}

const char *cgdml_error_message(void) { return error_message; }

void cgdml_error_clear(void) { error_message[0] = '\0'; }

const char *cgdml_status_name(cgdml_status status)
{
    switch (status) {
    case CGDML_OK: return "ok";
    case CGDML_ERR_INVALID: return "invalid argument";
    case CGDML_ERR_IO: return "I/O error";
    case CGDML_ERR_FORMAT: return "format error";
    case CGDML_ERR_NOMEM: return "out of memory";
    case CGDML_ERR_NUMERIC: return "numerical error";
    }
    return "unknown error";
}
