/* How the standard outputs draw a result (outputs.c): the checks of dx_output_options and of
 * the result, the size the photo is drawn at, the scale and opacity of the map's colours. */
#ifndef DX_IO_DRAWING_H
#define DX_IO_DRAWING_H
#include "explain.h"
#include "io/render.h"

/* The options' ranges (API callers skip the command line's option table); opt may be NULL. */
int dx_check_output_options(const dx_output_options *opt, dx_error *err);

/* r's maps (photo and native) and its box are finite; else -1 naming path. explain.c refuses
 * such results already: this guards the writers against any other source. */
int dx_check_finite_result(const dx_result *r, const char *path, dx_error *err);

/* The size a photo_w x photo_h photo is drawn at and the factors from photo pixels to drawn ones. */
typedef struct {
    int w, h;
    float sx, sy;
} dx_drawing;

/* `width` pixels wide (0: the photo's own size; else DX_PNG_WIDTH_MIN..DX_PNG_WIDTH_MAX), the
 * height in proportion, at least 2 (Darknet's resize_image divides by w - 1 and h - 1) and at
 * most DX_PNG_HEIGHT_MAX. -1 with a message otherwise. */
int dx_drawing_size(int photo_w, int photo_h, int width, dx_drawing *d, dx_error *err);
/* im at the drawing's size (bilinear, Darknet's resize_image), a new image in any case; data NULL
 * with err set when out of memory (for path) */
dx_image dx_drawn(dx_image im, const dx_drawing *d, const char *path, dx_error *err);

/* How a result's PNG colours its map: the scale of the full-resolution map (a thumbnail's
 * colours mean the same values as the full figure's), the blend and its opacity (render.h's
 * dx_render_style). */
typedef struct {
    dx_map_scale scale;
    int fade;
    float opacity;
} dx_png_display;

/* opt's clip and opacity, or the defaults: the scale of signed maps and of maps at the input's
 * resolution clipped at DX_PNG_CLIP_DEFAULT (a few extreme pixels would otherwise leave the
 * rest of such a map near the scale's middle: a blank-looking figure); maps at a layer's
 * resolution (CAM methods) are smooth and drawn unclipped. Signed maps and maps at the input's
 * resolution fade (their weak values leave the photo visible, in grey); CAM maps are blended
 * at a constant opacity. */
void dx_png_display_of(const dx_result *r, const dx_output_options *opt, dx_png_display *d);
#endif
