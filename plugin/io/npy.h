/* NumPy .npy files (the maps as float32 arrays numpy.load reads directly), and the output-file
 * helper that this and the PNG writer share. */
#ifndef DX_IO_NPY_H
#define DX_IO_NPY_H
#include <stdio.h>
#include "explain.h"

#define DX_NPY_MAX_DIMS 32 /* NumPy's own limit in the versions Debian ships */

/* Writes data (C order, shape[0] x ... x shape[ndim-1] floats) as NPY 1.0, dtype '<f4'.
 * Returns 0, or -1 with a message naming path; on failure no partial file is left. */
int dx_npy_write(const char *path, const float *data, int ndim, const int *shape, dx_error *err);
/* Reads back into data a file dx_npy_write wrote with this shape (its exact header, its count of
 * values, little-endian float32). Returns 0, or -1 with a message naming path. */
int dx_npy_read(const char *path, float *data, int ndim, const int *shape, dx_error *err);

/* An output file whose every write failure is noticed, removed if it fails (only when it is a
 * regular file: never a device or a pipe the caller named). */
typedef struct {
    FILE *f;
    const char *path;
    int regular;     /* a regular file: removed on failure */
    int fail_errno;  /* 0 while everything succeeded */
} dx_out_file;

int dx_out_open(dx_out_file *out, const char *path, dx_error *err); /* 0 or -1 */
void dx_out_write(dx_out_file *out, const void *data, size_t n);   /* failures kept for close */
/* Closes; 0 if every write and the close succeeded, else -1 (the file removed, the message
 * naming the path and the first failure). */
int dx_out_close(dx_out_file *out, dx_error *err);
#endif
