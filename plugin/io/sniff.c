/* File kinds by their first bytes (see sniff.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "io/sniff.h"

/* in dx_file_kind's order */
static const struct {
    const char *name, *description;
} KINDS[] = {
    {"unknown", "an unknown kind of file"},
    {"JPEG", "a JPEG image"},
    {"PNG", "a PNG image"},
    {"BMP", "a BMP image"},
    {"PPM/PGM", "a PPM/PGM image"},
    {"GIF", "a GIF image"},
    {"TIFF", "a TIFF image"},
    {"WebP", "a WebP image"},
    {"Photoshop (PSD)", "a Photoshop (PSD) image"},
    {"Radiance HDR", "a Radiance HDR image"},
    {"Softimage PIC", "a Softimage PIC image"},
    {"PAM", "a PAM image"},
    {"PFM", "a PFM image"},
    {"JPEG 2000", "a JPEG 2000 image"},
    {"OpenEXR", "an OpenEXR image"},
    {"HEIF/AVIF", "a HEIF/AVIF image"},
    {"Sun raster", "a Sun raster image"},
    {"Darknet cfg", "a Darknet cfg (text)"},
    {"Darknet weights", "a Darknet weights file"},
};
_Static_assert(sizeof KINDS / sizeof *KINDS == DX_KIND_WEIGHTS + 1, "a name for every dx_file_kind");

const char *dx_kind_name(dx_file_kind k) { return KINDS[k].name; }
const char *dx_kind_description(dx_file_kind k) { return KINDS[k].description; }
int dx_kind_is_image(dx_file_kind k) { return k >= DX_KIND_JPEG && k <= DX_KIND_SUNRAS; }

static int starts(const unsigned char *head, size_t n, size_t at, const char *magic, size_t len)
{
    return n >= at + len && memcmp(head + at, magic, len) == 0;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Text (no control bytes but whitespace) whose first line that is not blank or a comment starts
 * with '[', as Darknet's read_cfg reads it (blanks dropped, '#' and ';' comments). */
static int is_cfg(const unsigned char *head, size_t n)
{
    int line_start = 1;
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = head[i];
        if ((c < 0x20 && !is_space(c)) || c == 0x7f) return 0;
        if (c == '\n') {
            line_start = 1;
        } else if (line_start && c != ' ' && c != '\t' && c != '\r') {
            if (c == '[') return 1;
            if (c != '#' && c != ';') return 0;
            line_start = 0; /* a comment: skip to the next line */
        }
    }
    return 0;
}

/* pjreddie's and AlexeyAB's weights start with int32 major, minor, revision: 0.1.0, 0.2.0, 0.2.5 */
static int is_weights(const unsigned char *head, size_t n)
{
    if (n < 20) return 0;
    uint32_t v[3];
    for (int k = 0; k < 3; ++k)
        v[k] = head[4 * k] | head[4 * k + 1] << 8 | head[4 * k + 2] << 16 | (uint32_t)head[4 * k + 3] << 24;
    return v[0] <= 1 && v[1] <= 100 && v[2] <= 100;
}

dx_file_kind dx_sniff(const unsigned char *head, size_t n)
{
    if (starts(head, n, 0, "\xff\xd8\xff", 3)) return DX_KIND_JPEG;
    if (starts(head, n, 0, "\x89PNG\r\n\x1a\n", 8)) return DX_KIND_PNG;
    if (starts(head, n, 0, "BM", 2)) return DX_KIND_BMP;
    if (n >= 3 && head[0] == 'P' && is_space(head[2])) {
        if (head[1] >= '1' && head[1] <= '6') return DX_KIND_PNM;
        if (head[1] == '7') return DX_KIND_PAM;
        if (head[1] == 'F' || head[1] == 'f') return DX_KIND_PFM;
    }
    if (starts(head, n, 0, "GIF87a", 6) || starts(head, n, 0, "GIF89a", 6)) return DX_KIND_GIF;
    if (starts(head, n, 0, "II*\0", 4) || starts(head, n, 0, "MM\0*", 4)) return DX_KIND_TIFF;
    if (starts(head, n, 0, "RIFF", 4) && starts(head, n, 8, "WEBP", 4)) return DX_KIND_WEBP;
    if (starts(head, n, 0, "8BPS", 4)) return DX_KIND_PSD;
    if (starts(head, n, 0, "#?RADIANCE", 10) || starts(head, n, 0, "#?RGBE", 6)) return DX_KIND_HDR;
    if (starts(head, n, 0, "\x53\x80\xf6\x34", 4)) return DX_KIND_PIC;
    if (starts(head, n, 0, "\0\0\0\x0cjP  \r\n\x87\n", 12) || starts(head, n, 0, "\xff\x4f\xff\x51", 4))
        return DX_KIND_JPEG2000;
    if (starts(head, n, 0, "\x76\x2f\x31\x01", 4)) return DX_KIND_EXR;
    if (starts(head, n, 4, "ftyp", 4) && (starts(head, n, 8, "heic", 4) || starts(head, n, 8, "heix", 4) ||
                                          starts(head, n, 8, "mif1", 4) || starts(head, n, 8, "avif", 4)))
        return DX_KIND_HEIF;
    if (starts(head, n, 0, "\x59\xa6\x6a\x95", 4)) return DX_KIND_SUNRAS;
    if (is_cfg(head, n)) return DX_KIND_CFG;
    if (is_weights(head, n)) return DX_KIND_WEIGHTS;
    return DX_KIND_UNKNOWN;
}

dx_file_kind dx_sniff_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return DX_KIND_UNKNOWN;
    unsigned char head[DX_SNIFF_BYTES];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return dx_sniff(head, n);
}
