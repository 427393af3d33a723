/* cgdml/clock.h - the wall clock the stages time themselves with. */
#ifndef CGDML_CLOCK_H
#define CGDML_CLOCK_H

/* Monotonic wall-clock time in seconds. */
double cgdml_clock_wall_seconds(void);

#endif
