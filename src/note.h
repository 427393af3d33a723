/* note.h - private: a formatted line for a stage's note callback (the library
 * never prints; its callers decide where progress and warnings go). */
#ifndef CGDML_NOTE_H
#define CGDML_NOTE_H

#include <stdarg.h>
#include <stdio.h>

typedef void (*cgdml_note_fn)(void *ctx, const char *line);

/* Format the line and hand it to note (NULL: dropped). */
static inline void cgdml_note_line(cgdml_note_fn note, void *ctx, const char *fmt, va_list ap)
{
    if (!note)
        return;
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    note(ctx, text);
}

#endif
