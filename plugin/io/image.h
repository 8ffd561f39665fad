/* Photos in, maps back onto photos. */
#ifndef DX_IO_IMAGE_H
#define DX_IO_IMAGE_H
#include <stddef.h>
#include <stdint.h>
#include "explain.h"

/* An image over data (not copied); a zeroed image (data NULL when calloc fails: callers check
 * the memory first, as with Darknet's make_image); freeing one (data may be NULL); a copy of im's
 * pixels. */
static inline dx_image dx_image_over(int w, int h, int c, float *data)
{
    dx_image im = {w, h, c, data};
    return im;
}
dx_image dx_make_image(int w, int h, int c); /* zeroed; data NULL when out of memory */
void dx_free_image(dx_image im);
/* A copy of im, or data NULL with err set ("out of memory for SUBJECT"). */
dx_image dx_copy_image(dx_image im, const char *subject, dx_error *err);
/* The w x h window of im with its top-left corner at (x, y), edge pixels repeated outside im
 * (data NULL when calloc fails). */
dx_image dx_crop_image(dx_image im, int x, int y, int w, int h);

/* Loads a photo with Darknet's loader, after checks that make sure it can: a JPEG, PNG, BMP or
 * PPM/PGM (sniffed from its bytes; other formats are refused by name), at most max_pixels pixels
 * (<= 0: DX_DEFAULT_MAX_PIXELS), memory enough to explain it, and the whole file decodes. Never a
 * crash, never Darknet's silent 10x10 placeholder and its ./bad.list. */
int dx_load_photo_max(const char *path, long max_pixels, dx_image *out, dx_error *err);
/* dx_load_photo_max with the model's -max_pixels, and a photo its letterbox can take
 * (dx_letterbox_check); errors name the file. */
int dx_load_model_photo(const dx_model *m, const char *path, dx_image *out, dx_error *err);
/* The same with DX_DEFAULT_MAX_PIXELS. */
int dx_load_photo(const char *path, dx_image *out, dx_error *err);
/* The checks of dx_load_model_photo short of decoding the pixels (the format, the model's pixel
 * budget, memory, the file's structure, the letterbox at the size the header gives), for a whole
 * list before its first image: 0, or -1 with err naming the file. */
int dx_check_model_photo(const dx_model *m, const char *path, dx_error *err);
/* CRC-32 as PNG and zlib compute it, continuing from crc (0 to start). */
uint32_t dx_crc32(uint32_t crc, const unsigned char *p, size_t n);
/* copy_image after checking that the copy (and a map on its pixels) fits in memory. */
int dx_copy_photo(dx_image photo, dx_image *copy, dx_error *err);

/* Where Darknet's letterbox_image puts a photo inside the network input. */
typedef struct {
    int net_w, net_h;     /* network input */
    int inner_w, inner_h; /* the resized photo inside it */
    int dx, dy;           /* its top-left corner */
} dx_letterbox;

void dx_letterbox_geometry(int photo_w, int photo_h, int net_w, int net_h, dx_letterbox *g);
/* Where the model's Darknet puts a photo inside the network input: letterboxed, or stretched over
 * all of it (dx_net.letterbox 0: AlexeyAB's detector), and the network input made so. */
void dx_fit_geometry(const dx_model *m, int photo_w, int photo_h, dx_letterbox *g);
dx_image dx_fit_photo(const dx_model *m, dx_image photo);
/* Whether Darknet's letterbox_image can resize a photo_w x photo_h photo into the network: not
 * when the resized photo would be under 1 pixel wide or 2 high (its resize_image divides by the
 * new height - 1: a 1-pixel-high photo becomes NaN, or a read far outside the image). 0, or -1
 * with err naming who (the photo's path; NULL: "the WxH photo") and the sizes. */
int dx_letterbox_check(int photo_w, int photo_h, int net_w, int net_h, const char *who, dx_error *err);

/* Resamples a map over the network frame (any resolution) onto the photo's pixels, dropping
 * the letterbox border. Returns photo_h x photo_w floats (malloc'd). */
float *dx_native_to_photo(const float *native, int native_h, int native_w, const dx_letterbox *g,
                          int photo_w, int photo_h);
/* map (h x w) at the fractional cell coordinate (y, x), clamped to the edge cells. */
float dx_sample_bilinear(const float *map, int h, int w, float y, float x);
#endif
