/* Photos in and maps back out: loading with the checks first, and the letterbox geometry. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stb_image.h>
#include "error.h"
#include "io/image.h"
#include "io/jpeg.h"
#include "io/sniff.h"
#include "memory.h"
#include "model.h"

/* Memory a photo costs while it is explained, per pixel: Darknet's float image (12 bytes) and the
 * result's copy of it (12), the map on its pixels (4) and its resampling (4), the PNG rendering
 * (a float image and its bytes, about 15); the decoding before (stb's check, then OpenCV's 8-bit
 * Mat next to Darknet's floats) peaks lower. */
#define PHOTO_BYTES_PER_PIXEL 48
/* imread refuses wider or taller images (OpenCV's CV_IO_MAX_IMAGE_WIDTH/HEIGHT defaults). */
#define OPENCV_MAX_SIDE (1 << 20)
/* a failure's reason: a format's name and its decoder's message (libjpeg's are at most 200) */
#define REASON_MAX 240

/* ---- structure checks: what stb's decoder lets through and OpenCV's refuses ---- */

/* One number of a PNM header or ASCII raster as OpenCV's ReadNumber reads it: whitespace and '#'
 * comments (to the end of the line) skipped, then at most max_digits digits (0: any); anything else
 * is an error. The byte after the digits is consumed, as OpenCV does, unless max_digits stopped it.
 * Returns 0 with *value, -1 on a stray byte, end of file or a value above INT_MAX. */
static int pnm_number(FILE *f, int max_digits, long *value)
{
    int c = getc(f);
    for (;;) {
        if (c == '#') {
            while (c != '\n' && c != '\r' && c != EOF) c = getc(f);
            if (c == EOF) return -1;
            c = getc(f);
        } else if (c != EOF && isspace(c)) {
            c = getc(f);
        } else {
            break;
        }
    }
    if (c == EOF || !isdigit(c)) return -1;
    long v = 0;
    for (int digits = 1;; ++digits) {
        v = v * 10 + (c - '0');
        if (v > INT_MAX) return -1;
        if (max_digits && digits >= max_digits) break;
        c = getc(f);
        if (c == EOF || !isdigit(c)) {
            if (c == EOF) return -1; /* OpenCV's stream throws at its end */
            break;
        }
    }
    *value = v;
    return 0;
}

typedef struct {
    int w, h;
} dims;

/* P1-P6 as OpenCV's PxMDecoder reads them (stb reads only P5 and P6, and decodes a raster cut
 * short without a word): the header, then the whole raster, binary by its size, ASCII number by
 * number. A bare header is enough for *d; full is 0 for that. */
static const char *pnm_check(FILE *f, long long file_size, int full, dims *d)
{
    if (fseek(f, 1, SEEK_SET) != 0) return "PPM/PGM: cannot read its header";
    int type = getc(f) - '0'; /* the signature was checked: 1..6 */
    long w, h, maxval = 1;
    if (pnm_number(f, 0, &w) || pnm_number(f, 0, &h) || (type != 1 && type != 4 && pnm_number(f, 0, &maxval)))
        return "PPM/PGM: malformed header";
    if (w < 1 || h < 1) return "PPM/PGM: zero width or height";
    if (maxval < 1 || maxval > 65535) return "PPM/PGM: maxval must be 1 to 65535";
    d->w = (int)w;
    d->h = (int)h;
    if (!full) return NULL;
    int channels = type == 3 || type == 6 ? 3 : 1, sample_bytes = maxval > 255 ? 2 : 1;
    if (type >= 4) {
        long long row = type == 4 ? (w + 7) / 8 : (long long)w * channels * sample_bytes;
        if (file_size - ftell(f) < row * h) return "PPM/PGM: the raster is cut short";
        return NULL;
    }
    long long samples = (long long)w * h * channels;
    for (long long k = 0; k < samples; ++k) {
        long v;
        if (pnm_number(f, type == 1 ? 1 : 0, &v)) return "PPM/PGM: the ASCII raster is cut short or malformed";
    }
    return NULL;
}

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* A BMP as OpenCV's BmpDecoder reads it (its own code, Debian's OpenCV 4.6): the info header 12
 * bytes (OS/2) or at least 36; a width > 0 and a height other than 0; 1, 4, 8, 24 or 32 bits a
 * pixel uncompressed, or 16/32 with BI_BITFIELDS (16 only with the 5-5-5 or 5-6-5 masks); a
 * palette of at most 256 colours, in the file; every row of the raster in the file from the
 * pixel offset. RLE4/RLE8, which OpenCV decodes and stb does not, are refused with stb. stb
 * decoded BMPs that break these rules (found by fuzzing: Darknet's loader then failed and wrote
 * ./bad.list), and decodes a raster cut short as if the missing rows were black. */
static const char *bmp_check(const unsigned char *head, size_t n, long long file_size, dims *d)
{
    if (n < 26) return "BMP: header cut short";
    uint32_t offset = le32(head + 10), header = le32(head + 14);
    long long w, h, colours = 0, after_header = 14 + (long long)header;
    unsigned bpp, compression = 0;
    if (header == 12) {
        w = head[18] | head[19] << 8;
        h = head[20] | head[21] << 8;
        bpp = head[24] | head[25] << 8;
        if (bpp <= 8) colours = 3LL << bpp; /* bytes: 3 a colour */
    } else if (header >= 36 && header <= 0x7fffffff) {
        if (n < 54) return "BMP: header cut short";
        w = (int32_t)le32(head + 18);
        h = (int32_t)le32(head + 22);
        bpp = head[28] | head[29] << 8;
        compression = le32(head + 30);
        uint32_t used = le32(head + 46);
        if (bpp <= 8) {
            if (used > 256) return "BMP: a palette of more than 256 colours";
            colours = 4LL * (used ? used : 1u << bpp);
        }
    } else {
        return "BMP: an info header of other than 12 or 36 bytes and more";
    }
    int uncompressed = compression == 0 && (bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32);
    int bitfields = compression == 3 && (bpp == 16 || bpp == 32);
    if (w <= 0 || h == 0) return "BMP: zero or negative width, or zero height";
    if (!uncompressed && !bitfields) return "BMP: a pixel format or compression OpenCV and stb do not both read";
    if (bitfields && bpp == 16) {
        if (file_size < after_header + 12 || n < (size_t)after_header + 12) return "BMP: the colour masks are cut short";
        uint32_t red = le32(head + after_header), green = le32(head + after_header + 4),
                 blue = le32(head + after_header + 8);
        if (!(blue == 0x1f && ((green == 0x3e0 && red == 0x7c00) || (green == 0x7e0 && red == 0xf800))))
            return "BMP: 16-bit colour masks other than 5-5-5 and 5-6-5";
    }
    if (after_header + colours > file_size) return "BMP: the palette is cut short";
    if (h < 0) h = -h;
    if (w > OPENCV_MAX_SIDE || h > OPENCV_MAX_SIDE) { /* refused by the size check, in its words */
        d->w = (int)(w < INT_MAX ? w : INT_MAX);
        d->h = (int)(h < INT_MAX ? h : INT_MAX);
        return NULL;
    }
    long long stride = ((w * bpp + 7) / 8 + 3) & ~3LL;
    if (offset + stride * h > file_size) return "BMP: the pixel data is cut short";
    d->w = (int)w;
    d->h = (int)h;
    return NULL;
}

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void make_crc_table(void)
{
    for (uint32_t k = 0; k < 256; ++k) {
        uint32_t c = k;
        for (int b = 0; b < 8; ++b) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[k] = c;
    }
}

uint32_t dx_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    pthread_once(&crc_once, make_crc_table);
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; ++i) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return ~c;
}

/* A PNG's size from its IHDR, the first chunk as libpng requires, within libpng's default limit
 * of 1000000 pixels a side (OpenCV's is 2^20: libpng refuses first). */
static const char *png_size(const unsigned char *head, size_t n, dims *d)
{
    if (n < 33 || be32(head + 8) != 13 || memcmp(head + 12, "IHDR", 4)) return "PNG: the first chunk is not IHDR";
    uint32_t w = be32(head + 16), h = be32(head + 20);
    if (w == 0 || h == 0) return "PNG: zero width or height";
    if (w > 1000000 || h > 1000000) return "PNG: more than libpng's 1000000 pixels a side";
    d->w = (int)w;
    d->h = (int)h;
    return NULL;
}

/* libpng refuses a critical chunk whose CRC is wrong and critical chunks it does not know (Apple's
 * CgBI variant, which stb reads); stb checks neither. Walks the chunks up to IEND. */
static const char *png_check(FILE *f, char *reason, size_t len)
{
    if (fseek(f, 8, SEEK_SET) != 0) return "PNG: cannot read its chunks";
    for (;;) {
        unsigned char hdr[8], buf[8192], tail[4];
        if (fread(hdr, 1, 8, f) != 8) return "PNG: cut short before IEND";
        uint32_t length = be32(hdr), crc = dx_crc32(0, hdr + 4, 4);
        if (length > 0x7fffffffu) return "PNG: malformed chunk length";
        for (uint32_t left = length; left > 0;) {
            size_t want = left < sizeof buf ? left : sizeof buf;
            if (fread(buf, 1, want, f) != want) return "PNG: cut short before IEND";
            crc = dx_crc32(crc, buf, want);
            left -= (uint32_t)want;
        }
        if (fread(tail, 1, 4, f) != 4) return "PNG: cut short before IEND";
        int critical = !(hdr[4] & 0x20);
        static const char *const known[] = {"IHDR", "PLTE", "IDAT", "IEND"};
        int is_known = 0;
        for (int k = 0; k < 4; ++k) is_known |= !memcmp(hdr + 4, known[k], 4);
        if (critical && !is_known) {
            snprintf(reason, len, "PNG: unknown critical chunk %.4s", (const char *)hdr + 4);
            return reason;
        }
        if (critical && crc != be32(tail)) {
            snprintf(reason, len, "PNG: CRC error in chunk %.4s", (const char *)hdr + 4);
            return reason;
        }
        if (!memcmp(hdr + 4, "IEND", 4)) return NULL;
    }
}

/* ---- loading ---- */

/* TGA, the one image format without a signature: an 18-byte header whose fields hold values the
 * format allows (a colour map type 0 or 1, an image type of 1-3 or 9-11 that needs a colour map
 * exactly when it has one, a width and a height, 8-32 bits a pixel). Only to name the format when
 * refusing it; stb's own test ran all its format parsers over the bytes, with their overflows. */
static int looks_like_tga(const unsigned char *h, size_t n)
{
    if (n < 18 || h[1] > 1) return 0;
    int type = h[2] & ~8, mapped = h[1] == 1, bpp = h[16];
    if (type < 1 || type > 3 || (type == 1) != mapped) return 0;
    if ((h[12] | h[13]) == 0 || (h[14] | h[15]) == 0) return 0;
    return bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
}

/* The file's kind is one Debian's OpenCV reads; *d its size. Refuses, naming what the file is. */
static int check_kind(const char *path, FILE *f, const unsigned char *head, size_t n, long long size,
                      dx_file_kind *kind, dims *d, dx_error *err)
{
    *kind = dx_sniff(head, n);
    switch (*kind) {
    case DX_KIND_JPEG: case DX_KIND_PNG: case DX_KIND_BMP: case DX_KIND_PNM: {
        /* the size from the header, by the project's own reading or libjpeg's (never stb's parsers,
         * which fuzzing found overflowing on malformed headers) */
        char reason[REASON_MAX];
        const char *why = *kind == DX_KIND_JPEG ? dx_jpeg_check(f, 0, &d->w, &d->h, reason, sizeof reason)
                        : *kind == DX_KIND_PNG  ? png_size(head, n, d)
                        : *kind == DX_KIND_BMP  ? bmp_check(head, n, size, d)
                                                : pnm_check(f, size, 0, d);
        if (!why) return 0;
        dx_set_error(err, "%s: not a readable image (%s)", path, why);
        return -1;
    }
    case DX_KIND_CFG: case DX_KIND_WEIGHTS:
        dx_set_error(err, "%s: this is %s, not an image", path, dx_kind_description(*kind));
        return -1;
    case DX_KIND_UNKNOWN:
        if (looks_like_tga(head, n)) {
            dx_set_error(err, "%s: TGA images are not supported (JPEG, PNG, BMP, PPM/PGM)", path);
            return -1;
        }
        dx_set_error(err, "%s: not a readable image (not a JPEG, PNG, BMP or PPM/PGM file)", path);
        return -1;
    default:
        dx_set_error(err, "%s: %s images are not supported (JPEG, PNG, BMP, PPM/PGM)", path, dx_kind_name(*kind));
        return -1;
    }
}

/* The file's structure is whole and (decode) its pixels decode: OpenCV's reading cannot fail on
 * it afterwards. */
static int check_content(const char *path, FILE *f, long long size, dx_file_kind kind, int decode, dx_error *err)
{
    char reason[REASON_MAX];
    dims d;
    const char *why = kind == DX_KIND_PNM ? pnm_check(f, size, 1, &d)
                    : kind == DX_KIND_PNG ? png_check(f, reason, sizeof reason)
                    : kind == DX_KIND_JPEG && decode ? dx_jpeg_check(f, 1, &d.w, &d.h, reason, sizeof reason) : NULL;
    /* stb decodes the formats whose structure checks are not the real decoder's */
    if (!why && decode && kind != DX_KIND_PNM && kind != DX_KIND_JPEG) {
        rewind(f);
        unsigned char *pixels = stbi_load_from_file(f, &d.w, &d.h, &(int){0}, 3);
        if (!pixels) {
            snprintf(reason, sizeof reason, "%s: %s", dx_kind_name(kind), stbi_failure_reason());
            why = reason;
        }
        stbi_image_free(pixels);
    }
    if (!why) return 0;
    dx_set_error(err, "%s: not a readable image (%s)", path, why);
    return -1;
}

int dx_load_photo(const char *path, dx_image *out, dx_error *err)
{
    return dx_load_photo_max(path, DX_DEFAULT_MAX_PIXELS, out, err);
}

/* Opens path and checks it: a regular file, a format both stb and OpenCV read, at most max_pixels
 * pixels, memory to explain it, its structure whole, and (decode) its pixels decode. 0 with *out
 * open (the caller closes it) and the photo's size in *d, or -1 with err naming the file. */
static int open_photo(const char *path, long max_pixels, int decode, FILE **out, dims *d, dx_error *err)
{
    if (max_pixels <= 0) max_pixels = DX_DEFAULT_MAX_PIXELS;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        dx_set_error(err, "%s: cannot open image: %s", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        dx_set_error(err, "%s: not a regular file", path);
        fclose(f);
        return -1;
    }
    unsigned char head[DX_SNIFF_BYTES];
    size_t n = fread(head, 1, sizeof head, f);
    dx_file_kind kind;
    int rc = check_kind(path, f, head, n, st.st_size, &kind, d, err);
    if (rc == 0 && (d->w > OPENCV_MAX_SIDE || d->h > OPENCV_MAX_SIDE || (double)d->w * d->h > max_pixels)) {
        dx_set_error(err, "%s: %dx%d pixels (%.3g megapixels) is more than -max_pixels %ld%s", path, d->w, d->h,
                     (double)d->w * d->h / 1e6, max_pixels,
                     d->w > OPENCV_MAX_SIDE || d->h > OPENCV_MAX_SIDE ? " or a side OpenCV reads (1048576)" : "");
        rc = -1;
    }
    if (rc == 0) {
        char what[64];
        snprintf(what, sizeof what, "explaining a %dx%d photo", d->w, d->h);
        rc = dx_memory_check((double)d->w * d->h * PHOTO_BYTES_PER_PIXEL, path, what, err);
    }
    if (rc == 0) rc = check_content(path, f, st.st_size, kind, decode, err);
    if (rc != 0) {
        fclose(f);
        return -1;
    }
    *out = f;
    return 0;
}

int dx_check_model_photo(const dx_model *m, const char *path, dx_error *err)
{
    FILE *f;
    dims d;
    if (open_photo(path, m->max_pixels, 0, &f, &d, err) != 0) return -1;
    fclose(f);
    return m->net->letterbox ? dx_letterbox_check(d.w, d.h, m->net->w, m->net->h, path, err) : 0;
}

int dx_load_photo_max(const char *path, long max_pixels, dx_image *out, dx_error *err)
{
    FILE *f;
    dims d;
    if (open_photo(path, max_pixels, 1, &f, &d, err) != 0) return -1;
    /* Darknet's loader (OpenCV's imread in Debian's build) is the one whose pixels are used, so they
     * are exactly those `darknet classifier predict` sees. It gets the open file as /proc/self/fd/N:
     * the file checked is the file read, and the name it would paste into its shell command
     * (`echo NAME >> bad.list`) and a 256-byte buffer on failure is short and harmless. Its own
     * messages (libpng's and libjpeg's warnings) are not the plugin's to show. */
    char fd_path[64];
    snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fileno(f));
    int saved = dx_silence_stderr();
    dx_image im = dx_backend_load_image(fd_path, 0, 0);
    dx_restore_stderr(saved);
    fclose(f);
    /* EXIF orientation: OpenCV turns the photo, stb does not */
    if (!(im.w == d.w && im.h == d.h) && !(im.w == d.h && im.h == d.w)) {
        dx_free_image(im);
        dx_set_error(err, "%s: Darknet's image loader could not decode it (stb reads %dx%d)", path, d.w, d.h);
        return -1;
    }
    *out = im;
    return 0;
}

dx_image dx_make_image(int w, int h, int c)
{
    dx_image im = {w, h, c, dx_alloc((size_t)w * h * c, sizeof(float), "an image", NULL)}; /* the caller reports */
    return im;
}

void dx_free_image(dx_image im) { free(im.data); }

dx_image dx_crop_image(dx_image im, int x, int y, int w, int h)
{
    dx_image out = dx_make_image(w, h, im.c);
    if (!out.data) return out;
    for (int k = 0; k < im.c; ++k)
        for (int j = 0; j < h; ++j) {
            int row = j + y < 0 ? 0 : j + y >= im.h ? im.h - 1 : j + y;
            for (int i = 0; i < w; ++i) {
                int col = i + x < 0 ? 0 : i + x >= im.w ? im.w - 1 : i + x;
                out.data[((size_t)k * h + j) * w + i] = im.data[((size_t)k * im.h + row) * im.w + col];
            }
        }
    return out;
}

dx_image dx_copy_image(dx_image im, const char *subject, dx_error *err)
{
    size_t n = (size_t)im.w * im.h * im.c;
    dx_image copy = {im.w, im.h, im.c, dx_alloc(n, sizeof(float), subject, err)};
    if (copy.data) memcpy(copy.data, im.data, sizeof(float) * n);
    return copy;
}

int dx_copy_photo(dx_image photo, dx_image *copy, dx_error *err)
{
    /* make_image does not check its calloc; the copy comes with a map on its pixels */
    char subject[64];
    snprintf(subject, sizeof subject, "the %dx%d photo", photo.w, photo.h);
    if (dx_memory_check((double)photo.w * photo.h * (photo.c + 1) * sizeof(float), subject,
                        "a copy of it and its map", err) != 0)
        return -1;
    *copy = dx_copy_image(photo, subject, err);
    return copy->data ? 0 : -1;
}

void dx_letterbox_geometry(int photo_w, int photo_h, int net_w, int net_h, dx_letterbox *g)
{
    /* as Darknet's letterbox_image: fit the longer side, integer sizes, centred */
    int new_w = photo_w, new_h = photo_h;
    if ((float)net_w / photo_w < (float)net_h / photo_h) {
        new_w = net_w;
        new_h = (photo_h * net_w) / photo_w;
    } else {
        new_h = net_h;
        new_w = (photo_w * net_h) / photo_h;
    }
    g->net_w = net_w;
    g->net_h = net_h;
    g->inner_w = new_w;
    g->inner_h = new_h;
    g->dx = (net_w - new_w) / 2;
    g->dy = (net_h - new_h) / 2;
}

void dx_fit_geometry(const dx_model *m, int photo_w, int photo_h, dx_letterbox *g)
{
    if (m->net->letterbox) {
        dx_letterbox_geometry(photo_w, photo_h, m->net->w, m->net->h, g);
        return;
    }
    *g = (dx_letterbox){m->net->w, m->net->h, m->net->w, m->net->h, 0, 0};
}

dx_image dx_fit_photo(const dx_model *m, dx_image photo)
{
    return m->net->letterbox ? dx_backend_letterbox_image(photo, m->net->w, m->net->h)
                             : dx_backend_resize_image(photo, m->net->w, m->net->h);
}

int dx_load_model_photo(const dx_model *m, const char *path, dx_image *out, dx_error *err)
{
    if (dx_load_photo_max(path, m->max_pixels, out, err) != 0) return -1;
    if (!m->net->letterbox || dx_letterbox_check(out->w, out->h, m->net->w, m->net->h, path, err) == 0) return 0;
    dx_free_image(*out);
    return -1;
}

int dx_letterbox_check(int photo_w, int photo_h, int net_w, int net_h, const char *who, dx_error *err)
{
    dx_letterbox g;
    dx_letterbox_geometry(photo_w, photo_h, net_w, net_h, &g);
    if (g.inner_w >= 1 && g.inner_h >= 2) return 0;
    char photo[64];
    snprintf(photo, sizeof photo, "the %dx%d photo", photo_w, photo_h);
    dx_set_error(err, "%s: %dx%d, letterboxed into the %dx%d network, would be %dx%d pixels: Darknet's "
                      "resize needs at least 1 column and 2 rows (crop the photo nearer to the network's shape)",
                 who ? who : photo, photo_w, photo_h, net_w, net_h, g.inner_w, g.inner_h);
    return -1;
}

float dx_sample_bilinear(const float *map, int h, int w, float y, float x)
{
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x > w - 1) x = w - 1;
    if (y > h - 1) y = h - 1;
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - x0, fy = y - y0;
    float top = map[y0 * w + x0] * (1 - fx) + map[y0 * w + x1] * fx;
    float bottom = map[y1 * w + x0] * (1 - fx) + map[y1 * w + x1] * fx;
    return top * (1 - fy) + bottom * fy;
}

/* Each photo pixel centre is mapped into the letterboxed network frame, then into the native
 * map's cells (pixel centres aligned, as cv2.resize does), and sampled bilinearly. */
float *dx_native_to_photo(const float *native, int native_h, int native_w, const dx_letterbox *g,
                          int photo_w, int photo_h)
{
    float *map = dx_alloc((size_t)photo_w * photo_h, sizeof(float), "a map", NULL); /* the caller reports */
    if (!map) return 0;
    float sx = (float)g->inner_w / photo_w, sy = (float)g->inner_h / photo_h;
    float fx = (float)native_w / g->net_w, fy = (float)native_h / g->net_h;
    for (int y = 0; y < photo_h; ++y) {
        float ny = g->dy + (y + .5f) * sy;             /* network-frame coordinate */
        float my = ny * fy - .5f;                      /* native-map cell coordinate */
        for (int x = 0; x < photo_w; ++x) {
            float nx = g->dx + (x + .5f) * sx;
            map[(size_t)y * photo_w + x] = dx_sample_bilinear(native, native_h, native_w, my, nx * fx - .5f);
        }
    }
    return map;
}
