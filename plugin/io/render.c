/* Heat-map figures: colour maps, the scale a map is drawn on, the overlay, a colour bar, text
 * drawn with Darknet's glyph images, and PNG output through stb_image_write. The default
 * opacity, DX_RENDER_OPACITY = 0.45, is near pytorch-grad-cam's show_cam_on_image (0.5). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stb_image_write.h>
#include "error.h"
#include "io/image.h"
#include "io/labels.h"
#include "io/npy.h"
#include "io/render.h"
#include "io/text.h"
#include "memory.h"

#define BAR_MIN_WIDTH 20
#define PANEL_COLUMNS 4  /* maps per row of a panel */
static const float BACKGROUND[3] = {0.12f, 0.12f, 0.12f};
static const float TEXT_COLOUR[3] = {1.0f, 1.0f, 1.0f};

static float clamp01(float v)
{
    return v > 0 ? (v < 1 ? v : 1) : 0; /* NaN fails v > 0 and becomes 0 */
}

void dx_colormap(dx_cmap cm, float t, float rgb[3])
{
    t = clamp01(t);
    if (cm == DX_CMAP_JET) {
        /* Octave's jet, of which OpenCV's COLORMAP_JET table is the sampling at k/255:
         * (0,0,.5) at 0, blue at 1/8, cyan at 3/8, yellow at 5/8, red at 7/8, (.5,0,0) at 1. */
        rgb[0] = clamp01(fminf(4 * t - 1.5f, 4.5f - 4 * t));
        rgb[1] = clamp01(fminf(4 * t - 0.5f, 3.5f - 4 * t));
        rgb[2] = clamp01(fminf(4 * t + 0.5f, 2.5f - 4 * t));
        return;
    }
    /* ColorBrewer RdBu's outer colours (#2166ac, #b2182b), linear through white */
    static const float blue[3] = {0.129f, 0.400f, 0.675f};
    static const float red[3] = {0.698f, 0.094f, 0.169f};
    const float *end = t < 0.5f ? blue : red;
    float towards_end = fabsf(t - 0.5f) * 2;
    for (int k = 0; k < 3; ++k) rgb[k] = 1 + towards_end * (end[k] - 1);
}

/* ---- PNG output ---- */

/* stb's encoder hands the PNG's bytes to this callback */
static void png_bytes_out(void *context, void *data, int size)
{
    dx_out_write(context, data, (size_t)size);
}

int dx_write_png(dx_image im, const char *path, dx_error *err)
{
    if (im.w <= 0 || im.h <= 0 || (im.c != 1 && im.c != 3)) {
        dx_set_error(err, "%s: cannot write a %dx%dx%d image as PNG (RGB or grey needed)", path,
                     im.w, im.h, im.c);
        return -1;
    }
    size_t plane = (size_t)im.w * im.h;
    unsigned char *rgb = dx_alloc(plane, 3, path, err);
    if (!rgb) return -1;
    for (size_t p = 0; p < plane; ++p)
        for (int k = 0; k < 3; ++k) {
            float v = im.data[(im.c == 3 ? k : 0) * plane + p];
            rgb[3 * p + k] = (unsigned char)(clamp01(v) * 255 + 0.5f);
        }
    /* not stbi_write_png: it ignores fwrite and fclose failures (a full disk would leave a
     * truncated file and report success) */
    dx_out_file out;
    if (dx_out_open(&out, path, err) != 0) {
        free(rgb);
        return -1;
    }
    if (!stbi_write_png_to_func(png_bytes_out, &out, im.w, im.h, 3, rgb, im.w * 3))
        out.fail_errno = ENOMEM; /* the encoder fails only when an allocation does */
    free(rgb);
    return dx_out_close(&out, err);
}

/* ---- the figure ---- */

typedef struct {
    int pad;         /* margin around and between the parts */
    int title_h;     /* the title bar; the body starts below it */
    int body_h;      /* the photo's height, or more so that both bar labels fit */
    int photo_x;
    int legend_y;    /* the top of the legend strip under the body (labels that fit nowhere in the photo) */
    int bar_x, bar_w;
    int label_x;
    int w, h;        /* the whole figure */
} figure_layout;

/* The title bar, the body, the photo's place and where a legend would start (fnt: the title's). */
static figure_layout layout_frame(int photo_h, const dx_font *fnt)
{
    figure_layout L = {0};
    L.pad = fnt->height / 4 > 4 ? fnt->height / 4 : 4;
    L.title_h = fnt->height + 2 * L.pad;
    L.body_h = photo_h > 2 * fnt->height ? photo_h : 2 * fnt->height;
    L.photo_x = L.pad;
    L.legend_y = L.title_h + L.body_h + L.pad;
    return L;
}

/* The colour bar right of the photo and the figure's size, for a legend strip of legend_w x
 * legend_h (0 x 0: none). */
static void layout_sides(figure_layout *L, int photo_w, const dx_font *fnt, const char *title, const char *lo_label,
                         const char *hi_label, int with_bar, int legend_w, int legend_h)
{
    L->bar_x = L->photo_x + photo_w + L->pad;
    L->bar_w = !with_bar ? 0 : fnt->height > BAR_MIN_WIDTH ? fnt->height : BAR_MIN_WIDTH;
    L->label_x = L->bar_x + L->bar_w + L->pad / 2;
    int lo_w = dx_text_width(fnt, lo_label), hi_w = dx_text_width(fnt, hi_label);
    int right = L->label_x + (lo_w > hi_w ? lo_w : hi_w) + L->pad;
    int title_right = L->pad + dx_text_width(fnt, title) + L->pad;
    int legend_right = L->photo_x + legend_w + L->pad;
    L->w = right > title_right ? right : title_right;
    L->w = L->w > legend_right ? L->w : legend_right;
    L->h = L->legend_y + (legend_h ? legend_h + L->pad : 0);
}

static void fill_rect(dx_image canvas, int x0, int y0, int w, int h, const float rgb[3])
{
    size_t plane = (size_t)canvas.w * canvas.h;
    for (int y = y0; y < y0 + h; ++y)
        for (int x = x0; x < x0 + w; ++x)
            for (int k = 0; k < 3; ++k) canvas.data[k * plane + (size_t)y * canvas.w + x] = rgb[k];
}

/* How a style draws a map (see dx_render_style): its blend, its opacity and its scale (the
 * map's own, unclipped, when the style names none). */
typedef struct {
    int signed_map, fade;
    float opacity;
    dx_map_scale scale;
} map_drawing;

static map_drawing drawing_of(const dx_render_style *style, const float *map, size_t n, int signed_map)
{
    map_drawing d = {.signed_map = signed_map, .fade = signed_map || (style && style->fade)};
    d.opacity = style && style->opacity > 0 ? fminf(style->opacity, 1.f)
              : d.fade ? DX_RENDER_FADE_OPACITY : DX_RENDER_OPACITY;
    if (style && style->scale) d.scale = *style->scale;
    else dx_map_scale_of(map, map ? n : 0, signed_map, 100, &d.scale);
    return d;
}

/* What a fading blend draws under the colours: the photo's luma L as 0.1 + 0.8 L */
static float faded_grey(const float under[3])
{
    return 0.1f + 0.8f * (0.299f * under[0] + 0.587f * under[1] + 0.114f * under[2]);
}

/* The drawn colour of map value v over the photo's pixel `under` (RGB), as d says. */
static void map_pixel(const map_drawing *d, float v, const float under[3], float out[3])
{
    float t = dx_map_scale_position(&d->scale, d->signed_map, v), colour[3], alpha = d->opacity;
    float base[3] = {under[0], under[1], under[2]};
    if (d->fade) {
        alpha *= clamp01(d->signed_map ? fabsf(2 * t - 1) : t); /* NaN: 0, the bare photo */
        if (d->signed_map) t = t < 0.5f ? 0.f : 1.f;
        base[0] = base[1] = base[2] = faded_grey(under);
    }
    dx_colormap(d->signed_map ? DX_CMAP_DIVERGING : DX_CMAP_JET, t, colour);
    for (int k = 0; k < 3; ++k) out[k] = (1 - alpha) * base[k] + alpha * colour[k];
}

/* Draws the photo with the map blended over it, top-left at (x0, y0); the map (photo.h x
 * photo.w) drawn as d says. map NULL: the photo alone. */
static void blend_map(dx_image canvas, int x0, int y0, dx_image photo, const float *map, const map_drawing *d)
{
    int w = photo.w, h = photo.h;
    size_t photo_plane = (size_t)w * h, canvas_plane = (size_t)canvas.w * canvas.h;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            size_t p = (size_t)y * w + x, q = (size_t)(y0 + y) * canvas.w + x0 + x;
            float under[3], out[3];
            for (int k = 0; k < 3; ++k) under[k] = photo.data[(photo.c == 3 ? k : 0) * photo_plane + p];
            if (map) map_pixel(d, map[p], under, out);
            for (int k = 0; k < 3; ++k) canvas.data[k * canvas_plane + q] = map ? out[k] : under[k];
        }
}

/* The colour bar, bar_h pixels high, the scale's high end at the top: a constant blend's
 * colour map as it is; a fading blend's values as they are drawn over a mid-grey pixel. */
static void draw_bar(dx_image canvas, int x0, int y0, int bar_w, int bar_h, const map_drawing *d)
{
    static const float mid_grey[3] = {0.5f, 0.5f, 0.5f};
    const dx_map_scale *s = &d->scale;
    for (int row = 0; row < bar_h; ++row) {
        float t = bar_h > 1 ? 1 - (float)row / (bar_h - 1) : 1, colour[3];
        if (d->fade) { /* the value at t: lo + t (hi - lo) */
            map_pixel(d, s->lo + t * (s->hi - s->lo), mid_grey, colour);
        } else {
            dx_colormap(d->signed_map ? DX_CMAP_DIVERGING : DX_CMAP_JET, t, colour);
        }
        fill_rect(canvas, x0, y0 + row, bar_w, 1, colour);
    }
}

/* v clamped to [lo, hi] before it becomes an int (a float outside int's range would be
 * undefined behaviour); NaN gives lo. */
static int clamp_to_int(float v, int lo, int hi)
{
    return v > lo ? (v < hi ? (int)v : hi) : lo;
}

/* The pixels box bx covers in a photo_w x photo_h photo, clamped to it; -1 when its geometry
 * is not finite or it covers none (it is not drawn). */
static int box_pixels(const dx_render_box *bx, int photo_w, int photo_h, dx_irect *r)
{
    if (!isfinite(bx->x) || !isfinite(bx->y) || !isfinite(bx->w) || !isfinite(bx->h)) return -1;
    /* one pixel beyond the photo on either side still means "clipped" */
    int left = clamp_to_int(floorf(bx->x), -1, photo_w), top = clamp_to_int(floorf(bx->y), -1, photo_h);
    int right = clamp_to_int(ceilf(bx->x + bx->w), -1, photo_w + 1) - 1;
    int bottom = clamp_to_int(ceilf(bx->y + bx->h), -1, photo_h + 1) - 1;
    left = left < 0 ? 0 : left;
    top = top < 0 ? 0 : top;
    right = right >= photo_w ? photo_w - 1 : right;
    bottom = bottom >= photo_h ? photo_h - 1 : bottom;
    if (left > right || top > bottom) return -1;
    *r = (dx_irect){left, top, right - left + 1, bottom - top + 1};
    return 0;
}

/* Box outlines (about 1/250 of the photo's height thick), in the photo's frame at (x0, y0) of
 * the canvas, clipped to the photo. */
static void draw_outlines(dx_image canvas, int x0, int y0, int photo_w, int photo_h, const dx_render_box *boxes,
                          int nboxes)
{
    int thick = photo_h / 250 > 2 ? photo_h / 250 : 2;
    for (int b = 0; b < nboxes; ++b) {
        dx_irect r;
        if (box_pixels(&boxes[b], photo_w, photo_h, &r) != 0) continue;
        int tw = r.w < thick ? r.w : thick, th = r.h < thick ? r.h : thick, left = x0 + r.x, top = y0 + r.y;
        fill_rect(canvas, left, top, r.w, th, boxes[b].rgb);
        fill_rect(canvas, left, top + r.h - th, r.w, th, boxes[b].rgb);
        fill_rect(canvas, left, top, tw, r.h, boxes[b].rgb);
        fill_rect(canvas, left + r.w - tw, top, tw, r.h, boxes[b].rgb);
    }
}

/* the margin left and right of a label's text */
static int label_margin(const dx_font *lfnt) { return 1 + lfnt->height / 10; }

/* The boxes' labels (in lfnt, on a margin each side) in the figure's pixels: in the photo where
 * dx_place_labels finds them a place, else in the legend strip under the body, in rows from the
 * left no wider than the photo (or the label). legend_w x legend_h: the strip's size (0 x 0
 * without one). Returns 0, or -1 out of memory. */
static int layout_labels(const figure_layout *L, int photo_w, int photo_h, const dx_font *lfnt,
                         const dx_render_box *boxes, int n, dx_label_place *places, int *legend_w, int *legend_h)
{
    /* no dx_error here: the callers report "out of memory" */
    dx_irect *rects = dx_alloc(n, sizeof *rects, "the labels", NULL);
    int *lw = dx_alloc(n, sizeof *lw, "the labels", NULL), *lh = dx_alloc(n, sizeof *lh, "the labels", NULL);
    if (!rects || !lw || !lh) {
        free(rects), free(lw), free(lh);
        return -1;
    }
    for (int k = 0; k < n; ++k) {
        int drawn = box_pixels(&boxes[k], photo_w, photo_h, &rects[k]) == 0;
        if (drawn && boxes[k].label && *boxes[k].label && lfnt->height)
            lw[k] = dx_text_width(lfnt, boxes[k].label) + 2 * label_margin(lfnt), lh[k] = lfnt->height;
    }
    dx_place_labels(photo_w, photo_h, rects, lw, lh, n, places);
    int gap = L->pad / 2, x = 0, y = 0;
    *legend_w = *legend_h = 0;
    for (int k = 0; k < n; ++k) {
        dx_irect *at = &places[k].at;
        if (places[k].placed) {
            at->x += L->photo_x, at->y += L->title_h;
        } else if (at->w) {
            if (x > 0 && x + at->w > photo_w) x = 0, y += at->h + gap;
            at->x = L->photo_x + x, at->y = L->legend_y + y;
            x += at->w + gap;
            *legend_w = x - gap > *legend_w ? x - gap : *legend_w;
            *legend_h = y + at->h;
        }
    }
    free(rects), free(lw), free(lh);
    return 0;
}

/* Each label on its box's colour, the text black or white, whichever contrasts more. */
static void draw_labels(dx_image canvas, const dx_font *lfnt, const dx_render_box *boxes, const dx_label_place *places,
                        int n)
{
    static const float black[3] = {0, 0, 0}, white[3] = {1, 1, 1};
    for (int k = 0; k < n; ++k) {
        const dx_irect *at = &places[k].at;
        if (!at->w) continue;
        const float *rgb = boxes[k].rgb;
        fill_rect(canvas, at->x, at->y, at->w, at->h, rgb);
        const float *ink = 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2] > 0.5f ? black : white; /* luma */
        dx_draw_text(canvas, lfnt, boxes[k].label, at->x + label_margin(lfnt), at->y, ink);
    }
}

/* The font of the boxes' labels; -1 out of memory. */
static int load_label_font(dx_font *lfnt, int photo_h, const dx_render_box *boxes, int n)
{
    const char **texts = dx_alloc(n, sizeof *texts, "the labels", NULL); /* the callers report */
    if (!texts) return -1;
    for (int k = 0; k < n; ++k) texts[k] = boxes[k].label ? boxes[k].label : "";
    dx_font_load(lfnt, dx_label_glyph_size(photo_h), texts, n);
    free(texts);
    return 0;
}

int dx_render_label_layout(int photo_w, int photo_h, const dx_render_box *boxes, int n, int *photo_x, int *photo_y,
                           dx_label_place *out)
{
    dx_font fnt, lfnt;
    if (load_label_font(&lfnt, photo_h, boxes, n) != 0) return -1;
    dx_font_load(&fnt, dx_title_glyph_size(photo_h), NULL, 0);
    figure_layout L = layout_frame(photo_h, &fnt);
    int legend_w, legend_h, rc = layout_labels(&L, photo_w, photo_h, &lfnt, boxes, n, out, &legend_w, &legend_h);
    *photo_x = L.photo_x;
    *photo_y = L.title_h;
    dx_font_free(&fnt);
    dx_font_free(&lfnt);
    return rc;
}

void dx_box_colour(int k, float rgb[3])
{
    /* Tableau 10: ten distinct mid-bright colours; a label on one takes black or white text */
    static const unsigned char palette[10][3] = {
        {78, 121, 167}, {242, 142, 43}, {225, 87, 89}, {118, 183, 178}, {89, 161, 79},
        {237, 201, 72}, {176, 122, 161}, {255, 157, 167}, {156, 117, 95}, {186, 176, 172}};
    for (int c = 0; c < 3; ++c) rgb[c] = palette[k % 10][c] / 255.f;
}

/* The figure: title, the photo with the map blended over it (map NULL: the photo alone, no
 * colour bar), the boxes. */
static int render_figure(dx_image photo, const float *map, int h, int w, int signed_map,
                         const dx_render_box *boxes, int nboxes, const char *title,
                         const dx_render_style *style, const char *path, dx_error *err)
{
    if (h != photo.h || w != photo.w) {
        dx_set_error(err, "%s: the map is %dx%d but the photo is %dx%d", path, w, h, photo.w, photo.h);
        return -1;
    }
    if (w <= 0 || h <= 0 || (photo.c != 1 && photo.c != 3)) {
        dx_set_error(err, "%s: cannot draw over a %dx%dx%d photo (RGB or grey needed)", path,
                     photo.w, photo.h, photo.c);
        return -1;
    }
    char lo_label[32] = "", hi_label[32] = "";
    map_drawing drawing = drawing_of(style, map, (size_t)w * h, signed_map);
    if (map && !(style && style->no_labels)) dx_map_scale_labels(&drawing.scale, signed_map, lo_label, hi_label);
    const char *texts[3] = {title ? title : "", lo_label, hi_label};
    dx_font fnt, lfnt;
    dx_label_place *places = dx_alloc(nboxes, sizeof *places, path, err);
    if (!places || load_label_font(&lfnt, h, boxes, nboxes) != 0) {
        if (places) dx_set_error(err, "out of memory for %s's labels", path);
        free(places);
        return -1;
    }
    dx_font_load(&fnt, dx_title_glyph_size(photo.h), texts, 3);
    figure_layout L = layout_frame(h, &fnt);
    int legend_w, legend_h, laid_out = layout_labels(&L, w, h, &lfnt, boxes, nboxes, places, &legend_w, &legend_h) == 0;
    dx_image canvas = {0, 0, 3, NULL};
    if (laid_out) {
        layout_sides(&L, w, &fnt, texts[0], texts[1], texts[2], map != NULL, legend_w, legend_h);
        canvas = (dx_image){L.w, L.h, 3, dx_alloc((size_t)L.w * L.h * 3, sizeof(float), path, err)};
    }
    if (!canvas.data) {
        dx_font_free(&fnt);
        dx_font_free(&lfnt);
        free(places);
        if (!laid_out) dx_set_error(err, "out of memory for %s's labels", path);
        return -1;
    }
    fill_rect(canvas, 0, 0, L.w, L.h, BACKGROUND);

    blend_map(canvas, L.photo_x, L.title_h, photo, map, &drawing);
    if (map) draw_bar(canvas, L.bar_x, L.title_h, L.bar_w, L.body_h, &drawing);
    draw_outlines(canvas, L.photo_x, L.title_h, w, h, boxes, nboxes);
    draw_labels(canvas, &lfnt, boxes, places, nboxes);

    dx_draw_text(canvas, &fnt, texts[0], L.pad, L.pad, TEXT_COLOUR);
    dx_draw_text(canvas, &fnt, texts[2], L.label_x, L.title_h, TEXT_COLOUR);
    dx_draw_text(canvas, &fnt, texts[1], L.label_x, L.title_h + L.body_h - fnt.height, TEXT_COLOUR);
    dx_font_free(&fnt);
    dx_font_free(&lfnt);
    free(places);

    int rc = dx_write_png(canvas, path, err);
    free(canvas.data);
    return rc;
}

int dx_render_panel(dx_image photo, const float *const *maps, const int *signed_maps,
                    const dx_render_style *styles, const char *const *labels, int n, const char *title,
                    const char *path, dx_error *err)
{
    if (n <= 0 || photo.w <= 0 || photo.h <= 0 || (photo.c != 1 && photo.c != 3)) {
        dx_set_error(err, "%s: cannot draw a panel of %d maps over a %dx%dx%d photo", path, n,
                     photo.w, photo.h, photo.c);
        return -1;
    }
    const char **texts = dx_alloc((size_t)n + 1, sizeof(char *), path, err);
    if (!texts) return -1;
    texts[0] = title ? title : "";
    for (int k = 0; k < n; ++k) texts[k + 1] = labels[k] ? labels[k] : "";
    dx_font fnt;
    dx_font_load(&fnt, dx_title_glyph_size(photo.h), texts, n + 1);
    int columns = n < PANEL_COLUMNS ? n : PANEL_COLUMNS, rows = (n + columns - 1) / columns;
    int pad = fnt.height / 4 > 4 ? fnt.height / 4 : 4;
    int title_h = fnt.height + 2 * pad, label_h = fnt.height + pad;
    int tile_w = photo.w + pad, tile_h = photo.h + label_h + pad;
    int title_w = 2 * pad + dx_text_width(&fnt, texts[0]);
    dx_image canvas = {columns * tile_w + pad, title_h + rows * tile_h, 3, NULL};
    if (canvas.w < title_w) canvas.w = title_w;
    canvas.data = dx_alloc((size_t)canvas.w * canvas.h * 3, sizeof(float), path, err);
    if (!canvas.data) {
        dx_font_free(&fnt);
        free(texts);
        return -1;
    }
    fill_rect(canvas, 0, 0, canvas.w, canvas.h, BACKGROUND);
    dx_draw_text(canvas, &fnt, texts[0], pad, pad, TEXT_COLOUR);
    for (int k = 0; k < n; ++k) {
        int x0 = pad + (k % columns) * tile_w, y0 = title_h + (k / columns) * tile_h;
        map_drawing drawing = drawing_of(styles ? &styles[k] : NULL, maps[k], (size_t)photo.w * photo.h,
                                         signed_maps[k]);
        blend_map(canvas, x0, y0, photo, maps[k], &drawing);
        int label_x = x0 + (photo.w - dx_text_width(&fnt, texts[k + 1])) / 2;
        dx_draw_text(canvas, &fnt, texts[k + 1], label_x > x0 ? label_x : x0, y0 + photo.h + pad / 2,
                  TEXT_COLOUR);
    }
    dx_font_free(&fnt);
    free(texts);
    int rc = dx_write_png(canvas, path, err);
    free(canvas.data);
    return rc;
}

int dx_render_overlay(dx_image photo, const float *map, int h, int w, int signed_map, const char *title,
                      const dx_render_style *style, const char *path, dx_error *err)
{
    return render_figure(photo, map, h, w, signed_map, NULL, 0, title, style, path, err);
}

int dx_render_overlay_boxes(dx_image photo, const float *map, int h, int w, int signed_map,
                            const dx_render_box *boxes, int nboxes, const char *title,
                            const dx_render_style *style, const char *path, dx_error *err)
{
    return render_figure(photo, map, h, w, signed_map, boxes, nboxes, title, style, path, err);
}

/* A box's map weighs 1 inside the box, falling linearly to 0 at this share of the box's larger
 * side outside it (at least MIN_MARGIN pixels): the combined figure shows each box's evidence on
 * and around its object, not a patchwork of every map's far-off values. */
#define WINDOW_MARGIN 0.25f
#define MIN_MARGIN 4.f
#define TINT_OPACITY 0.75f /* the tint's weight where a map is at its scale's high end */

/* The median of a map's finite values, to 1/1024 of their range (a histogram). */
static float map_median(const float *map, size_t n)
{
    enum { BINS = 1024 };
    float lo = INFINITY, hi = -INFINITY;
    size_t count[BINS] = {0}, finite = 0, below = 0;
    for (size_t p = 0; p < n; ++p)
        if (isfinite(map[p])) lo = fminf(lo, map[p]), hi = fmaxf(hi, map[p]), ++finite;
    if (!finite || hi <= lo) return finite ? lo : 0;
    for (size_t p = 0; p < n; ++p)
        if (isfinite(map[p])) ++count[clamp_to_int((map[p] - lo) / (hi - lo) * BINS, 0, BINS - 1)];
    int bin = 0;
    while (bin < BINS - 1 && (below += count[bin]) < (finite + 1) / 2) ++bin;
    return lo + (bin + 0.5f) * (hi - lo) / BINS;
}

/* Box b's tint over its window: how far its map lies from its typical value (the larger of
 * its median and the scale's low end, or 0 for signed maps) toward the scale's high end, times
 * the window's weight; where it exceeds strength[p], box b takes pixel p. The median as the
 * base keeps a map whose every value is raised (D-RISE's mean mask score) from tinting its
 * whole window. */
static void tint_box(int b, const dx_irect *r, const float *map, int signed_map, const dx_map_scale *scale, int w,
                     int h, float *strength, int *owner)
{
    float base = fmaxf(map_median(map, (size_t)w * h), signed_map ? 0.f : scale->lo);
    float margin = fmaxf(MIN_MARGIN, WINDOW_MARGIN * (r->w > r->h ? r->w : r->h));
    int x0 = clamp_to_int(r->x - margin, 0, w), x1 = clamp_to_int(r->x + r->w + margin, 0, w);
    int y0 = clamp_to_int(r->y - margin, 0, h), y1 = clamp_to_int(r->y + r->h + margin, 0, h);
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) {
            float dx = x < r->x ? r->x - x : x >= r->x + r->w ? x - (r->x + r->w - 1) : 0;
            float dy = y < r->y ? r->y - y : y >= r->y + r->h ? y - (r->y + r->h - 1) : 0;
            float weight = 1 - sqrtf(dx * dx + dy * dy) / margin;
            size_t p = (size_t)y * w + x;
            float t = scale->hi > base ? clamp01((map[p] - base) / (scale->hi - base)) * weight : 0.f;
            if (t > strength[p]) strength[p] = t, owner[p] = b;
        }
}

int dx_box_tints_init(dx_box_tints *t, int w, int h)
{
    size_t plane = (size_t)(w > 0 ? w : 0) * (h > 0 ? h : 0) + 1;
    /* no dx_error here: the caller reports */
    *t = (dx_box_tints){w, h, dx_alloc(plane, sizeof *t->strength, "the boxes' tints", NULL),
                        dx_alloc(plane, sizeof *t->owner, "the boxes' tints", NULL)};
    if (t->strength && t->owner) return 0;
    dx_box_tints_free(t);
    return -1;
}

void dx_box_tints_add(dx_box_tints *t, int b, const dx_render_box *box, const float *map, int signed_map,
                      const dx_map_scale *scale)
{
    dx_irect r;
    if (box_pixels(box, t->w, t->h, &r) == 0)
        tint_box(b, &r, map, signed_map, scale, t->w, t->h, t->strength, t->owner);
}

void dx_box_tints_free(dx_box_tints *t)
{
    free(t->strength);
    free(t->owner);
    t->strength = NULL;
    t->owner = NULL;
}

int dx_render_box_tints(dx_image photo, const dx_box_tints *t, const dx_render_box *boxes, int nboxes,
                        const char *title, const char *path, dx_error *err)
{
    int w = photo.w, h = photo.h;
    if (w <= 0 || h <= 0 || (photo.c != 1 && photo.c != 3)) {
        dx_set_error(err, "%s: cannot draw over a %dx%dx%d photo (RGB or grey needed)", path, w, h, photo.c);
        return -1;
    }
    if (t->w != w || t->h != h) {
        dx_set_error(err, "%s: the tints are %dx%d but the photo is %dx%d", path, t->w, t->h, w, h);
        return -1;
    }
    size_t plane = (size_t)w * h;
    dx_image tinted = dx_make_image(w, h, 3);
    if (!tinted.data) {
        dx_set_error(err, "out of memory for %s", path);
        return -1;
    }
    /* the photo in grey (luma), so that the boxes' colours stand out */
    const float *rgb = photo.data, *g = photo.data + (photo.c == 3 ? plane : 0), *bl = photo.data + (photo.c == 3 ? 2 * plane : 0);
    for (size_t p = 0; p < plane; ++p) {
        float grey = 0.299f * rgb[p] + 0.587f * g[p] + 0.114f * bl[p], alpha = TINT_OPACITY * t->strength[p];
        for (int k = 0; k < 3; ++k)
            tinted.data[k * plane + p] = (1 - alpha) * grey + alpha * (alpha > 0 ? boxes[t->owner[p]].rgb[k] : 0);
    }
    int rc = render_figure(tinted, NULL, h, w, 0, boxes, nboxes, title, NULL, path, err);
    dx_free_image(tinted);
    return rc;
}
