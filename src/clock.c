/* clock.c - the monotonic wall clock (see cgdml/clock.h). */
#include "cgdml/clock.h"

#include <time.h>

double cgdml_clock_wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
