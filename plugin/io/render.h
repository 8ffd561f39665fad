/* Heat maps drawn over photos, as PNG figures with a title and a labelled colour bar. */
#ifndef DX_IO_RENDER_H
#define DX_IO_RENDER_H
#include "internal.h"

typedef enum {
    DX_CMAP_JET,       /* OpenCV's COLORMAP_JET: dark blue - cyan - yellow - dark red */
    DX_CMAP_DIVERGING  /* blue - white - red, white at t = 0.5: for signed maps */
} dx_cmap;

/* The colour (RGB in [0,1]) of t in [0,1] (clamped; NaN counts as 0). */
void dx_colormap(dx_cmap cm, float t, float rgb[3]);

/* Writes a figure to path: the title on a dark bar at the top, below it the photo with the
 * map (h x w row-major, the photo's size) blended over it with alpha 0.45, and to the right a
 * vertical colour bar (high end at the top) labelled hi_label at its top and lo_label at its
 * bottom. Unsigned maps use JET scaled min..max; signed maps (signed_map != 0) use DIVERGING
 * with 0 white and +-max|v| at the ends. The photo is drawn at full resolution; the text uses
 * Darknet's glyph images and is left out if they are missing. title and labels may be NULL.
 * Returns 0, or -1 with a message naming path; on failure no partial file is left. */
int dx_render_overlay(image photo, const float *map, int h, int w, int signed_map, const char *title,
                      const char *lo_label, const char *hi_label, const char *path, dx_error *err);

/* Writes a panel to path: the title on top, then the photo n times, each with one map blended
 * over it (maps[k]: photo.h x photo.w; signed_maps[k] as for dx_render_overlay; each map
 * scaled on its own) and labels[k] centred under it, PANEL_COLUMNS tiles per row. Returns 0,
 * or -1 with a message naming path; on failure no partial file is left. */
int dx_render_panel(image photo, const float *const *maps, const int *signed_maps,
                    const char *const *labels, int n, const char *title, const char *path,
                    dx_error *err);
/* A box drawn over the photo: its outline and, above it, a label on the box's colour. */
typedef struct {
    float x, y, w, h;   /* top-left corner and size in the photo's pixels */
    float rgb[3];
    const char *label;  /* may be NULL */
} dx_render_box;

/* The colour of box k: a palette of distinct colours, repeating. */
void dx_box_colour(int k, float rgb[3]);

/* dx_render_overlay with boxes drawn over the photo. */
int dx_render_overlay_boxes(image photo, const float *map, int h, int w, int signed_map,
                            const dx_render_box *boxes, int nboxes, const char *title,
                            const char *lo_label, const char *hi_label, const char *path, dx_error *err);

/* Every box's map in the box's colour: each map (h x w, the photo's size) scaled to its own
 * maximum, each pixel tinted by the box whose scaled map is largest there (by that value), and
 * the boxes drawn over it. No colour bar. */
int dx_render_box_maps(image photo, const float *const *maps, const dx_render_box *boxes, int nboxes,
                       const char *title, const char *path, dx_error *err);

/* Writes a Darknet image (planar, values in [0,1], clamped; 3 channels RGB or 1 grey) as an
 * 8-bit RGB PNG. Returns 0, or -1 with a message naming path; no partial file is left. */
int dx_write_png(image im, const char *path, dx_error *err);
#endif
