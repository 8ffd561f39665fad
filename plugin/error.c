/* One-line error messages for the API's callers. */
#include <stdarg.h>
#include <stdio.h>
#include "error.h"

void dx_set_error(dx_error *err, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* one line, whatever the message quotes: a file name, a cfg line, a library's reason (stb
     * names an unknown PNG chunk by its four raw bytes) may hold line breaks and control bytes */
    for (unsigned char *c = (unsigned char *)err->msg; *c; ++c)
        if (*c < 0x20 || *c == 0x7f) *c = '?';
}
