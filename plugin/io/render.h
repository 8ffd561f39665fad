/* Heat maps drawn over photos, as PNG figures with a title and a labelled colour bar. */
#ifndef DX_IO_RENDER_H
#define DX_IO_RENDER_H
#include <stddef.h>
#include "explain.h"
#include "io/labels.h"

typedef enum {
    DX_CMAP_JET,       /* OpenCV's COLORMAP_JET: dark blue - cyan - yellow - dark red */
    DX_CMAP_DIVERGING  /* blue - white - red, white at t = 0.5 (signed maps are drawn in its ends) */
} dx_cmap;

/* The colour (RGB in [0,1]) of t in [0,1] (clamped; NaN counts as 0). */
void dx_colormap(dx_cmap cm, float t, float rgb[3]);

#define DX_RENDER_OPACITY 0.45f      /* a constant blend's weight of the map's colour over the photo */
#define DX_RENDER_FADE_OPACITY 0.85f /* a fading blend's weight at the scale's ends (see dx_render_style) */

/* The map values drawn at the colour map's ends: lo at t = 0, hi at t = 1. Unsigned maps run
 * JET from lo to hi; signed maps run from lo = -hi (blue) to hi (red), 0 the bare photo (see
 * dx_render_style). Values beyond the ends are drawn in the ends' colours. */
typedef struct {
    float lo, hi;
    int clipped;           /* the percentile moved the ends in (by more than 1/256 of the range) */
    float clip_percentile; /* the percentile the ends were clipped at (100: none) */
} dx_map_scale;

/* The scale of a map (n values; non-finite ones ignored). Without clipping (clip_percentile
 * 100, or 0): unsigned min..max, signed -M..M with M = max|v|. With clip_percentile P < 100 the
 * high end (and, for signed maps, the low end) moves in to Captum's threshold
 * (visualize_image_attr, outlier_perc = 100 - P): the smallest value whose running sum, values
 * in increasing order, reaches P% of their total, of |v| for signed maps and of v - min for
 * unsigned maps; unless that moves the end by less than 1/256 of the range (one colour step of
 * the PNG), when the scale stays unclipped. A constant map: lo = hi. */
void dx_map_scale_of(const float *map, size_t n, int signed_map, float clip_percentile, dx_map_scale *s);
/* The colour bar's labels for s: the ends' values (%.3g); a clipped end is marked ">=" / "<=". */
void dx_map_scale_labels(const dx_map_scale *s, int signed_map, char lo[32], char hi[32]);
/* Where v lies on s, 0..1 (beyond the ends: outside it, which dx_colormap clamps). */
float dx_map_scale_position(const dx_map_scale *s, int signed_map, float v);

/* How a figure draws its map. A zeroed style is the default.
 * Constant blend (unsigned maps unless fade is set): every pixel is (1 - opacity) x the photo +
 * opacity x the colour of its value (JET), so a map drawn on a smooth CAM looks as
 * pytorch-grad-cam's show_cam_on_image.
 * Fading blend (signed maps always, unsigned maps with fade): the photo is drawn in grey (luma
 * L as 0.1 + 0.8 L: no pure white or black under the colours) and the weight of the colour
 * grows with the value's strength s in [0, 1]: |v| / the scale's end for signed maps (0 at 0,
 * 1 at and beyond +-end), (v - lo) / (hi - lo) for unsigned maps; the weight is opacity x s.
 * A signed map's colour is the DIVERGING end of its sign (red for, blue against), so weak
 * evidence leaves the photo visible and strong evidence stands out in full colour on any photo
 * (a constant blend of white-centred colours washed every weak value white over the photo).
 * An unsigned map's colour stays JET at its position. The colour bar then shows each value as
 * it is drawn over a mid-grey pixel. */
typedef struct {
    float opacity;             /* the colour's weight over the photo (fading: at full strength), (0, 1];
                                * 0: DX_RENDER_OPACITY, or DX_RENDER_FADE_OPACITY when fading */
    int fade;                  /* unsigned maps: a fading blend (signed maps always fade) */
    const dx_map_scale *scale; /* the scale (e.g. of the map at full resolution, clipped); NULL: the
                                * drawn map's own, unclipped */
    int no_labels;             /* leave the colour bar unlabelled */
} dx_render_style;

/* Writes a figure to path: the title on a dark bar at the top, below it the photo with the
 * map (h x w row-major, the photo's size) blended over it (as the style says), and to the right a
 * vertical colour bar (high end at the top) labelled with the scale's ends (dx_map_scale_labels)
 * at its top and bottom. Unsigned maps use JET, signed maps (signed_map != 0) DIVERGING's ends, on
 * the style's scale. The photo is drawn at full resolution; the text uses Darknet's glyph images and
 * is left out if they are missing. title and style may be NULL. Returns 0, or -1 with a message
 * naming path; on failure no partial file is left. */
int dx_render_overlay(dx_image photo, const float *map, int h, int w, int signed_map, const char *title,
                      const dx_render_style *style, const char *path, dx_error *err);

/* Writes a panel to path: the title on top, then the photo n times, each with one map blended
 * over it (maps[k]: photo.h x photo.w; signed_maps[k] and styles[k] as for dx_render_overlay;
 * styles may be NULL) and labels[k] centred under it, PANEL_COLUMNS tiles per row. Returns 0,
 * or -1 with a message naming path; on failure no partial file is left. */
int dx_render_panel(dx_image photo, const float *const *maps, const int *signed_maps,
                    const dx_render_style *styles, const char *const *labels, int n, const char *title,
                    const char *path, dx_error *err);
/* A box drawn over the photo: its outline and its label, on the box's colour in black or white
 * text (whichever contrasts more), where dx_render_label_layout puts it. */
typedef struct {
    float x, y, w, h;   /* top-left corner and size in the photo's pixels */
    float rgb[3];
    const char *label;  /* may be NULL */
} dx_render_box;

/* The colour of box k: a palette of distinct colours, repeating. */
void dx_box_colour(int k, float rgb[3]);

/* dx_render_overlay with boxes drawn over the photo (map may be NULL: the photo alone, no bar).
 * The labels are in glyphs about 1/25 of the photo's height (dx_label_glyph_size). */
int dx_render_overlay_boxes(dx_image photo, const float *map, int h, int w, int signed_map,
                            const dx_render_box *boxes, int nboxes, const char *title,
                            const dx_render_style *style, const char *path, dx_error *err);

/* Where a figure of a photo_w x photo_h photo (dx_render_overlay_boxes, dx_render_box_tints)
 * draws the photo (its top-left corner: *photo_x, *photo_y) and the labels of boxes, in the
 * figure's pixels: placed in the photo by dx_place_labels (boxes clamped to the photo, label k
 * its text's width plus a margin each side, one glyph high), or else in a legend strip under
 * the photo, rows from the left. out[k].at.w == 0: no label drawn (none, an empty one, a box
 * not drawn, or no glyphs installed). Returns 0, or -1 out of memory. */
int dx_render_label_layout(int photo_w, int photo_h, const dx_render_box *boxes, int n, int *photo_x, int *photo_y,
                           dx_label_place *out);

/* The combined figure of a detector's boxes, folded a box at a time (its memory is the
 * photo's pixels, whatever the number of boxes): the photo in grey; over it each box's map in
 * the box's colour, weighted toward its own box (weight 1 inside it, falling linearly to 0 at a
 * quarter of its larger side outside it): a map's tint is its position on its scale (signed
 * maps: the positive half, 0..hi) times the weight; each pixel takes the strongest tint there
 * (the first box among equals), blended at 0.75 x its strength; the boxes and labels over it.
 * No colour bar. */
typedef struct {
    int w, h;        /* the photo's size, as drawn */
    float *strength; /* h x w: the strongest tint so far */
    int *owner;      /* h x w: its box */
} dx_box_tints;
int dx_box_tints_init(dx_box_tints *t, int w, int h); /* none yet; -1 out of memory */
/* Box b's tint (b: its index in the boxes dx_render_box_tints draws), map: t->h x t->w, its
 * values drawn on scale. Boxes are added in increasing b. */
void dx_box_tints_add(dx_box_tints *t, int b, const dx_render_box *box, const float *map, int signed_map,
                      const dx_map_scale *scale);
void dx_box_tints_free(dx_box_tints *t);
/* Writes the figure of the tints t (photo: t->w x t->h) and boxes[0..nboxes) to path. Returns 0,
 * or -1 with a message naming path; no partial file is left. */
int dx_render_box_tints(dx_image photo, const dx_box_tints *t, const dx_render_box *boxes, int nboxes,
                        const char *title, const char *path, dx_error *err);

/* Writes a Darknet image (planar, values in [0,1], clamped; 3 channels RGB or 1 grey) as an
 * 8-bit RGB PNG. Returns 0, or -1 with a message naming path; no partial file is left. */
int dx_write_png(dx_image im, const char *path, dx_error *err);
#endif
