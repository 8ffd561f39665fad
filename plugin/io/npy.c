/* NPY format 1.0 (numpy/lib/format.py): magic, version, a little-endian uint16 header length,
 * a Python dict literal padded with spaces and ending in '\n' so that the data starts at a
 * multiple of 64 bytes, then the raw array in C order. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "error.h"
#include "io/npy.h"

int dx_out_open(dx_out_file *out, const char *path, dx_error *err)
{
    out->path = path;
    out->fail_errno = 0;
    out->f = fopen(path, "wb");
    if (!out->f) {
        dx_set_error(err, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    out->regular = fstat(fileno(out->f), &st) == 0 && S_ISREG(st.st_mode);
    return 0;
}

void dx_out_write(dx_out_file *out, const void *data, size_t n)
{
    if (out->fail_errno == 0 && fwrite(data, 1, n, out->f) != n)
        out->fail_errno = errno ? errno : EIO;
}

int dx_out_close(dx_out_file *out, dx_error *err)
{
    /* buffered data reaches the disk here: a full disk often shows up only now */
    if (fclose(out->f) != 0 && out->fail_errno == 0) out->fail_errno = errno ? errno : EIO;
    out->f = NULL;
    if (out->fail_errno == 0) return 0;
    if (out->regular) remove(out->path);
    dx_set_error(err, "%s: write failed: %s", out->path, strerror(out->fail_errno));
    return -1;
}

#define NPY_PREAMBLE 10   /* magic (6) + version (2) + header length (2) */
#define NPY_ALIGN 64
/* Longest dict: the fixed text plus DX_NPY_MAX_DIMS dimensions of up to 12 characters each. */
#define NPY_DICT_MAX 512
#define NPY_HEADER_MAX (NPY_PREAMBLE + NPY_DICT_MAX + NPY_ALIGN)
#define CHUNK_FLOATS 4096

/* Builds preamble + header into buf (NPY_HEADER_MAX bytes); returns its length, a multiple
 * of NPY_ALIGN. */
static int npy_header(char *buf, int ndim, const int *shape)
{
    char dict[NPY_DICT_MAX];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int k = 0; k < ndim; ++k)
        len += snprintf(dict + len, sizeof dict - len, k ? ", %d" : "%d", shape[k]);
    /* a one-element tuple needs its trailing comma in Python */
    len += snprintf(dict + len, sizeof dict - len, ndim == 1 ? ",), }" : "), }");
    size_t total = NPY_PREAMBLE + (size_t)len + 1; /* + the final '\n' */
    total = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t header_len = total - NPY_PREAMBLE;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(header_len & 0xff);
    buf[9] = (char)(header_len >> 8);
    memcpy(buf + NPY_PREAMBLE, dict, (size_t)len);
    memset(buf + NPY_PREAMBLE + len, ' ', total - NPY_PREAMBLE - len - 1);
    buf[total - 1] = '\n';
    return (int)total;
}

/* Writes n floats as little-endian IEEE binary32 whatever the host's byte order. */
static void write_f4_le(dx_out_file *out, const float *data, size_t n)
{
    unsigned char bytes[CHUNK_FLOATS * 4];
    for (size_t start = 0; start < n; start += CHUNK_FLOATS) {
        size_t count = n - start < CHUNK_FLOATS ? n - start : CHUNK_FLOATS;
        for (size_t i = 0; i < count; ++i) {
            uint32_t bits;
            memcpy(&bits, &data[start + i], 4);
            for (int b = 0; b < 4; ++b) bytes[4 * i + b] = (unsigned char)(bits >> (8 * b));
        }
        dx_out_write(out, bytes, 4 * count);
    }
}

int dx_npy_write(const char *path, const float *data, int ndim, const int *shape, dx_error *err)
{
    if (ndim < 0 || ndim > DX_NPY_MAX_DIMS) {
        dx_set_error(err, "%s: cannot write a %d-dimensional array", path, ndim);
        return -1;
    }
    size_t count = 1;
    for (int k = 0; k < ndim; ++k) {
        if (shape[k] < 0) {
            dx_set_error(err, "%s: negative dimension %d in the array's shape", path, shape[k]);
            return -1;
        }
        count *= (size_t)shape[k];
    }
    char header[NPY_HEADER_MAX];
    int header_len = npy_header(header, ndim, shape);
    dx_out_file out;
    if (dx_out_open(&out, path, err) != 0) return -1;
    dx_out_write(&out, header, (size_t)header_len);
    write_f4_le(&out, data, count);
    return dx_out_close(&out, err);
}

int dx_npy_read(const char *path, float *data, int ndim, const int *shape, dx_error *err)
{
    if (ndim < 0 || ndim > DX_NPY_MAX_DIMS) {
        dx_set_error(err, "%s: cannot read a %d-dimensional array", path, ndim);
        return -1;
    }
    size_t count = 1;
    for (int k = 0; k < ndim; ++k) count *= (size_t)(shape[k] > 0 ? shape[k] : 0);
    char expected[NPY_HEADER_MAX], header[NPY_HEADER_MAX];
    size_t header_len = (size_t)npy_header(expected, ndim, shape);
    FILE *f = fopen(path, "rb");
    if (!f) {
        dx_set_error(err, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int ok = fread(header, 1, header_len, f) == header_len && !memcmp(header, expected, header_len);
    unsigned char bytes[CHUNK_FLOATS * 4];
    for (size_t start = 0; ok && start < count; start += CHUNK_FLOATS) {
        size_t n = count - start < CHUNK_FLOATS ? count - start : CHUNK_FLOATS;
        ok = fread(bytes, 4, n, f) == n;
        for (size_t i = 0; ok && i < n; ++i) {
            uint32_t bits = 0;
            for (int b = 0; b < 4; ++b) bits |= (uint32_t)bytes[4 * i + b] << (8 * b);
            memcpy(&data[start + i], &bits, 4);
        }
    }
    ok = ok && fgetc(f) == EOF;
    fclose(f);
    if (!ok) dx_set_error(err, "%s: not the float32 array of this shape that dx_npy_write writes", path);
    return ok ? 0 : -1;
}
