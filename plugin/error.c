/* One-line error messages for the API's callers. */
#include <stdio.h>
#include "internal.h"

void dx_set_error(dx_error *err, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}
