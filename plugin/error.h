/* error.c: the one way library code reports a failure (a one-line message in a dx_error). */
#ifndef DX_ERROR_H
#define DX_ERROR_H
#include "explain.h"

void dx_set_error(dx_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
