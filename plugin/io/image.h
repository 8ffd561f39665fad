/* Photos in, maps back onto photos. */
#ifndef DX_IO_IMAGE_H
#define DX_IO_IMAGE_H
#include "internal.h"

/* Loads an image with Darknet's loader after checking that it decodes (never a crash, never
 * Darknet's silent 10x10 placeholder). */
int dx_load_photo(const char *path, image *out, dx_error *err);
/* The cheap part of that check, for a whole list before its first image: a regular, readable
 * file whose header is an image's (stb reads the header only; the pixels are not decoded).
 * 0, or -1 with err naming the file. */
int dx_check_photo(const char *path, dx_error *err);

/* Where Darknet's letterbox_image puts a photo inside the network input. */
typedef struct {
    int net_w, net_h;     /* network input */
    int inner_w, inner_h; /* the resized photo inside it */
    int dx, dy;           /* its top-left corner */
} dx_letterbox;

void dx_letterbox_geometry(int photo_w, int photo_h, int net_w, int net_h, dx_letterbox *g);

/* Resamples a map over the network frame (any resolution) onto the photo's pixels, dropping
 * the letterbox border. Returns photo_h x photo_w floats (malloc'd). */
float *dx_native_to_photo(const float *native, int native_h, int native_w, const dx_letterbox *g,
                          int photo_w, int photo_h);
/* map (h x w) at the fractional cell coordinate (y, x), clamped to the edge cells. */
float dx_sample_bilinear(const float *map, int h, int w, float y, float x);
#endif
