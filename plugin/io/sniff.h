/* What a file is, from its first bytes: image formats by their signatures, Darknet's cfg text and
 * weights. The command line uses it to tell files given in the wrong order, the loaders to name
 * what they refuse. */
#ifndef DX_IO_SNIFF_H
#define DX_IO_SNIFF_H
#include <stddef.h>

typedef enum {
    DX_KIND_UNKNOWN,
    /* the photo formats both stb and Debian's OpenCV read */
    DX_KIND_JPEG, DX_KIND_PNG, DX_KIND_BMP, DX_KIND_PNM,
    /* other images */
    DX_KIND_GIF, DX_KIND_TIFF, DX_KIND_WEBP, DX_KIND_PSD, DX_KIND_HDR, DX_KIND_PIC, DX_KIND_PAM,
    DX_KIND_PFM, DX_KIND_JPEG2000, DX_KIND_EXR, DX_KIND_HEIF, DX_KIND_SUNRAS,
    /* Darknet's model files */
    DX_KIND_CFG,    /* text whose first line that is not blank or a comment opens a [section] */
    DX_KIND_WEIGHTS /* binary starting with a small major.minor.revision version */
} dx_file_kind;

#define DX_SNIFF_BYTES 4096 /* enough for a cfg's leading comments */

/* The kind of a file starting with head[0..n) (n: up to DX_SNIFF_BYTES of it). */
dx_file_kind dx_sniff(const unsigned char *head, size_t n);
/* The kind of the file at path (DX_KIND_UNKNOWN when it cannot be read). */
dx_file_kind dx_sniff_file(const char *path);

int dx_kind_is_image(dx_file_kind k);
/* "JPEG", "GIF", ..., "Darknet cfg", "Darknet weights" */
const char *dx_kind_name(dx_file_kind k);
/* "a JPEG image", "a Darknet cfg (text)", "a Darknet weights file" */
const char *dx_kind_description(dx_file_kind k);
#endif
