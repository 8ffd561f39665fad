/* Heat-map figures: colour maps, the scale a map is drawn on, the overlay, a colour bar, text
 * drawn with Darknet's glyph images, and PNG output through stb_image_write. The default
 * opacity, DX_RENDER_OPACITY = 0.45, is near pytorch-grad-cam's show_cam_on_image (0.5). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include "io/npy.h"
#include "io/render.h"

/* Darknet's glyphs: GLYPH_DIR/<ascii>_<size>.png for the printable ASCII characters and
 * sizes 0..7, grayscale, black ink on white, all glyphs of one size equally tall. */
#define GLYPH_DIR "/usr/share/darknet/data/labels"
#define GLYPH_FIRST 32
#define GLYPH_LAST 126
#define GLYPH_SIZE_MAX 7

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

int dx_write_png(image im, const char *path, dx_error *err)
{
    if (im.w <= 0 || im.h <= 0 || (im.c != 1 && im.c != 3)) {
        dx_set_error(err, "%s: cannot write a %dx%dx%d image as PNG (RGB or grey needed)", path,
                     im.w, im.h, im.c);
        return -1;
    }
    size_t plane = (size_t)im.w * im.h;
    unsigned char *rgb = malloc(plane * 3);
    if (!rgb) {
        dx_set_error(err, "%s: out of memory for a %dx%d image", path, im.w, im.h);
        return -1;
    }
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

/* ---- text ---- */

typedef struct {
    int w, h;
    unsigned char *paper; /* 255 where the glyph is blank, 0 where fully inked */
} glyph;

typedef struct {
    glyph glyphs[GLYPH_LAST - GLYPH_FIRST + 1]; /* only those the texts use are loaded */
    int height;                                 /* 0 when no text can be drawn */
    int overlap;                                /* columns neighbouring glyphs share */
} font;

/* The glyph slot for byte c of a UTF-8 string: printable ASCII as itself, the lead byte of
 * a non-ASCII character as '?', its continuation bytes as nothing (-1). */
static int glyph_slot(unsigned char c)
{
    if (c >= 0x80 && c < 0xC0) return -1;
    if (c < GLYPH_FIRST || c > GLYPH_LAST) c = '?';
    return c - GLYPH_FIRST;
}

static void font_free(font *fnt)
{
    for (int i = 0; i <= GLYPH_LAST - GLYPH_FIRST; ++i) stbi_image_free(fnt->glyphs[i].paper);
    memset(fnt, 0, sizeof *fnt);
}

/* Loads the glyphs of one size that the texts need. If any is missing or unreadable, the font
 * is left empty (height 0) and the figure goes without text. */
static void font_load(font *fnt, int size, const char *const *texts, int ntexts)
{
    memset(fnt, 0, sizeof *fnt);
    for (int t = 0; t < ntexts; ++t)
        for (const unsigned char *s = (const unsigned char *)texts[t]; *s; ++s) {
            int slot = glyph_slot(*s);
            if (slot < 0 || fnt->glyphs[slot].paper) continue;
            char path[256];
            snprintf(path, sizeof path, GLYPH_DIR "/%d_%d.png", slot + GLYPH_FIRST, size);
            glyph *g = &fnt->glyphs[slot];
            int channels;
            g->paper = stbi_load(path, &g->w, &g->h, &channels, 1);
            if (!g->paper) {
                font_free(fnt);
                return;
            }
            if (g->h > fnt->height) fnt->height = g->h;
        }
    fnt->overlap = size / 2 + 1; /* Darknet's get_label tiles its glyphs this tightly */
}

static int text_width(const font *fnt, const char *text)
{
    int width = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; ++s) {
        int slot = glyph_slot(*s);
        if (slot < 0 || !fnt->glyphs[slot].paper) continue;
        width += fnt->glyphs[slot].w - (width ? fnt->overlap : 0);
    }
    return width;
}

/* Draws text with its top-left corner at (x, y), ink blended over what is there. */
static void draw_text(image canvas, const font *fnt, const char *text, int x, int y,
                      const float colour[3])
{
    size_t plane = (size_t)canvas.w * canvas.h;
    int pen = x;
    for (const unsigned char *s = (const unsigned char *)text; *s; ++s) {
        int slot = glyph_slot(*s);
        if (slot < 0 || !fnt->glyphs[slot].paper) continue;
        const glyph *g = &fnt->glyphs[slot];
        if (pen > x) pen -= fnt->overlap;
        for (int gy = 0; gy < g->h; ++gy)
            for (int gx = 0; gx < g->w; ++gx) {
                int cx = pen + gx, cy = y + gy;
                if (cx < 0 || cy < 0 || cx >= canvas.w || cy >= canvas.h) continue;
                float ink = 1 - g->paper[gy * g->w + gx] / 255.0f;
                size_t p = (size_t)cy * canvas.w + cx;
                for (int k = 0; k < 3; ++k)
                    canvas.data[k * plane + p] += ink * (colour[k] - canvas.data[k * plane + p]);
            }
        pen += g->w;
    }
}

/* The glyph size for a photo of this height: about 1/16 of it in cell height (the cells of
 * size s are about 11 + 10 s pixels tall), never the tiny size 0. */
static int glyph_size_for(int photo_h)
{
    int size = (photo_h / 16 - 11) / 10;
    return size < 1 ? 1 : size > GLYPH_SIZE_MAX ? GLYPH_SIZE_MAX : size;
}

/* ---- the figure ---- */

typedef struct {
    int pad;         /* margin around and between the parts */
    int title_h;     /* the title bar; the body starts below it */
    int body_h;      /* the photo's height, or more so that both bar labels fit */
    int photo_x;
    int bar_x, bar_w;
    int label_x;
    int w, h;        /* the whole figure */
} figure_layout;

static figure_layout layout_figure(int photo_w, int photo_h, const font *fnt, const char *title,
                                   const char *lo_label, const char *hi_label, int with_bar)
{
    figure_layout L;
    L.pad = fnt->height / 4 > 4 ? fnt->height / 4 : 4;
    L.title_h = fnt->height + 2 * L.pad;
    L.body_h = photo_h > 2 * fnt->height ? photo_h : 2 * fnt->height;
    L.photo_x = L.pad;
    L.bar_x = L.photo_x + photo_w + L.pad;
    L.bar_w = !with_bar ? 0 : fnt->height > BAR_MIN_WIDTH ? fnt->height : BAR_MIN_WIDTH;
    L.label_x = L.bar_x + L.bar_w + L.pad / 2;
    int lo_w = text_width(fnt, lo_label), hi_w = text_width(fnt, hi_label);
    int right = L.label_x + (lo_w > hi_w ? lo_w : hi_w) + L.pad;
    int title_right = L.pad + text_width(fnt, title) + L.pad;
    L.w = right > title_right ? right : title_right;
    L.h = L.title_h + L.body_h + L.pad;
    return L;
}

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Captum's _cumulative_sum_threshold: values (>= 0) in increasing order, the first whose running
 * sum reaches percentile% of the total. Sorts values in place. */
static float cumulative_threshold(float *values, size_t n, float percentile)
{
    qsort(values, n, sizeof *values, by_value);
    double total = 0, running = 0;
    for (size_t i = 0; i < n; ++i) total += values[i];
    for (size_t i = 0; i < n; ++i) {
        running += values[i];
        if (running >= total * 0.01 * percentile) return values[i];
    }
    return n ? values[n - 1] : 0;
}

void dx_map_scale_of(const float *map, size_t n, int signed_map, float clip_percentile, dx_map_scale *s)
{
    float lo = INFINITY, hi = -INFINITY, max_abs = 0;
    size_t finite = 0;
    for (size_t i = 0; i < n; ++i) {
        if (!isfinite(map[i])) continue;
        ++finite;
        lo = fminf(lo, map[i]);
        hi = fmaxf(hi, map[i]);
        max_abs = fmaxf(max_abs, fabsf(map[i]));
    }
    if (!finite) lo = hi = 0;
    if (signed_map) lo = -max_abs, hi = max_abs;
    s->clip_percentile = clip_percentile > 0 && clip_percentile < 100 ? clip_percentile : 100;
    s->clipped = 0;
    float *values = s->clip_percentile < 100 && finite ? malloc(sizeof(float) * finite) : NULL;
    if (values) { /* without memory the map is drawn unclipped */
        size_t k = 0;
        for (size_t i = 0; i < n; ++i)
            if (isfinite(map[i])) values[k++] = signed_map ? fabsf(map[i]) : map[i] - lo;
        float end = cumulative_threshold(values, finite, s->clip_percentile);
        free(values);
        /* an end moved in by less than one of the PNG's 256 colour steps changes nothing drawn */
        float clipped_hi = signed_map ? end : lo + end, step = (hi - (signed_map ? 0 : lo)) / 256;
        if (clipped_hi < hi - step) {
            s->clipped = 1;
            hi = clipped_hi;
            if (signed_map) lo = -end;
        }
    }
    s->lo = lo;
    s->hi = hi;
}

void dx_map_scale_labels(const dx_map_scale *s, int signed_map, char lo[32], char hi[32])
{
    snprintf(hi, 32, "%s%.3g", s->clipped ? ">=" : "", s->hi);
    snprintf(lo, 32, "%s%.3g", s->clipped && signed_map ? "<=" : "", s->lo);
}

float dx_map_scale_position(const dx_map_scale *s, int signed_map, float v)
{
    if (signed_map) return s->hi > 0 ? 0.5f + 0.5f * v / s->hi : 0.5f;
    return s->hi > s->lo ? (v - s->lo) / (s->hi - s->lo) : 0.f;
}

static void fill_rect(image canvas, int x0, int y0, int w, int h, const float rgb[3])
{
    size_t plane = (size_t)canvas.w * canvas.h;
    for (int y = y0; y < y0 + h; ++y)
        for (int x = x0; x < x0 + w; ++x)
            for (int k = 0; k < 3; ++k) canvas.data[k * plane + (size_t)y * canvas.w + x] = rgb[k];
}

/* The opacity and the scale a style asks for, the scale of the map itself when it names none. */
static void style_of(const dx_render_style *style, const float *map, size_t n, int signed_map, float *opacity,
                     dx_map_scale *scale)
{
    *opacity = style && style->opacity > 0 ? fminf(style->opacity, 1.f) : DX_RENDER_OPACITY;
    if (style && style->scale) *scale = *style->scale;
    else dx_map_scale_of(map, map ? n : 0, signed_map, 100, scale);
}

/* Draws the photo with the map blended over it (opacity: the map's weight), top-left at (x0,
 * y0); the map (photo.h x photo.w) coloured on scale. map NULL: the photo alone. */
static void blend_map(image canvas, int x0, int y0, image photo, const float *map, int signed_map,
                      float opacity, const dx_map_scale *scale)
{
    int w = photo.w, h = photo.h;
    dx_cmap cm = signed_map ? DX_CMAP_DIVERGING : DX_CMAP_JET;
    float alpha = map ? opacity : 0.f;
    size_t photo_plane = (size_t)w * h, canvas_plane = (size_t)canvas.w * canvas.h;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            size_t p = (size_t)y * w + x;
            float colour[3] = {0, 0, 0};
            if (map) dx_colormap(cm, dx_map_scale_position(scale, signed_map, map[p]), colour);
            size_t q = (size_t)(y0 + y) * canvas.w + x0 + x;
            for (int k = 0; k < 3; ++k) {
                float under = photo.data[(photo.c == 3 ? k : 0) * photo_plane + p];
                canvas.data[k * canvas_plane + q] = (1 - alpha) * under + alpha * colour[k];
            }
        }
}

/* v clamped to [lo, hi] before it becomes an int (a float outside int's range would be
 * undefined behaviour); NaN gives lo. */
static int clamp_to_int(float v, int lo, int hi)
{
    return v > lo ? (v < hi ? (int)v : hi) : lo;
}

/* Box outlines (about 1/250 of the photo's height thick) and labels, in the photo's frame at
 * (x0, y0) of the canvas, clipped to the photo. A box whose geometry is not finite is not drawn. */
static void draw_boxes(image canvas, int x0, int y0, int photo_w, int photo_h, const font *fnt,
                       const dx_render_box *boxes, int nboxes)
{
    int thick = photo_h / 250 > 2 ? photo_h / 250 : 2;
    for (int b = 0; b < nboxes; ++b) {
        const dx_render_box *bx = &boxes[b];
        if (!isfinite(bx->x) || !isfinite(bx->y) || !isfinite(bx->w) || !isfinite(bx->h)) continue;
        /* one pixel beyond the photo on either side still means "clipped" */
        int left = clamp_to_int(floorf(bx->x), -1, photo_w), top = clamp_to_int(floorf(bx->y), -1, photo_h);
        int right = clamp_to_int(ceilf(bx->x + bx->w), -1, photo_w + 1) - 1;
        int bottom = clamp_to_int(ceilf(bx->y + bx->h), -1, photo_h + 1) - 1;
        left = left < 0 ? 0 : left;
        top = top < 0 ? 0 : top;
        right = right >= photo_w ? photo_w - 1 : right;
        bottom = bottom >= photo_h ? photo_h - 1 : bottom;
        if (left > right || top > bottom) continue;
        int tw = right - left + 1 < thick ? right - left + 1 : thick;
        int th = bottom - top + 1 < thick ? bottom - top + 1 : thick;
        fill_rect(canvas, x0 + left, y0 + top, right - left + 1, th, bx->rgb);
        fill_rect(canvas, x0 + left, y0 + bottom - th + 1, right - left + 1, th, bx->rgb);
        fill_rect(canvas, x0 + left, y0 + top, tw, bottom - top + 1, bx->rgb);
        fill_rect(canvas, x0 + right - tw + 1, y0 + top, tw, bottom - top + 1, bx->rgb);
        if (!bx->label || !fnt->height) continue;
        /* the label above the box, or inside it at the photo's top edge; clipped at the right */
        int lw = text_width(fnt, bx->label) + 4, lh = fnt->height;
        int ly = top - lh >= 0 ? top - lh : top;
        if (lw > photo_w - left) lw = photo_w - left;
        if (lh > photo_h - ly) lh = photo_h - ly;
        fill_rect(canvas, x0 + left, y0 + ly, lw, lh, bx->rgb);
        static const float ink[3] = {0, 0, 0};
        draw_text(canvas, fnt, bx->label, x0 + left + 2, y0 + ly, ink);
    }
}

void dx_box_colour(int k, float rgb[3])
{
    /* Tableau 10, bright enough for black label text */
    static const unsigned char palette[10][3] = {
        {78, 121, 167}, {242, 142, 43}, {225, 87, 89}, {118, 183, 178}, {89, 161, 79},
        {237, 201, 72}, {176, 122, 161}, {255, 157, 167}, {156, 117, 95}, {186, 176, 172}};
    for (int c = 0; c < 3; ++c) rgb[c] = palette[k % 10][c] / 255.f;
}

/* The figure: title, the photo with the map blended over it (map NULL: the photo alone, no
 * colour bar), the boxes. */
static int render_figure(image photo, const float *map, int h, int w, int signed_map,
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
    float opacity;
    dx_map_scale scale;
    char lo_label[32] = "", hi_label[32] = "";
    style_of(style, map, (size_t)w * h, signed_map, &opacity, &scale);
    if (map && !(style && style->no_labels)) dx_map_scale_labels(&scale, signed_map, lo_label, hi_label);
    const char **texts = malloc(sizeof(char *) * (3 + nboxes));
    if (!texts) {
        dx_set_error(err, "%s: out of memory", path);
        return -1;
    }
    texts[0] = title ? title : "";
    texts[1] = lo_label;
    texts[2] = hi_label;
    for (int b = 0; b < nboxes; ++b) texts[3 + b] = boxes[b].label ? boxes[b].label : "";
    font fnt;
    font_load(&fnt, glyph_size_for(photo.h), texts, 3 + nboxes);
    figure_layout L = layout_figure(w, h, &fnt, texts[0], texts[1], texts[2], map != NULL);

    image canvas = {L.w, L.h, 3, calloc((size_t)L.w * L.h * 3, sizeof(float))};
    if (!canvas.data) {
        font_free(&fnt);
        free(texts);
        dx_set_error(err, "%s: out of memory for a %dx%d figure", path, L.w, L.h);
        return -1;
    }
    fill_rect(canvas, 0, 0, L.w, L.h, BACKGROUND);

    dx_cmap cm = signed_map ? DX_CMAP_DIVERGING : DX_CMAP_JET;
    blend_map(canvas, L.photo_x, L.title_h, photo, map, signed_map, opacity, &scale);

    for (int row = 0; map && row < L.body_h; ++row) {
        float colour[3];
        dx_colormap(cm, L.body_h > 1 ? 1 - (float)row / (L.body_h - 1) : 1, colour);
        fill_rect(canvas, L.bar_x, L.title_h + row, L.bar_w, 1, colour);
    }
    draw_boxes(canvas, L.photo_x, L.title_h, w, h, &fnt, boxes, nboxes);

    draw_text(canvas, &fnt, texts[0], L.pad, L.pad, TEXT_COLOUR);
    draw_text(canvas, &fnt, texts[2], L.label_x, L.title_h, TEXT_COLOUR);
    draw_text(canvas, &fnt, texts[1], L.label_x, L.title_h + L.body_h - fnt.height, TEXT_COLOUR);
    font_free(&fnt);
    free(texts);

    int rc = dx_write_png(canvas, path, err);
    free(canvas.data);
    return rc;
}

int dx_render_panel(image photo, const float *const *maps, const int *signed_maps,
                    const dx_render_style *styles, const char *const *labels, int n, const char *title,
                    const char *path, dx_error *err)
{
    if (n <= 0 || photo.w <= 0 || photo.h <= 0 || (photo.c != 1 && photo.c != 3)) {
        dx_set_error(err, "%s: cannot draw a panel of %d maps over a %dx%dx%d photo", path, n,
                     photo.w, photo.h, photo.c);
        return -1;
    }
    const char **texts = malloc(sizeof(char *) * (n + 1));
    if (!texts) {
        dx_set_error(err, "%s: out of memory", path);
        return -1;
    }
    texts[0] = title ? title : "";
    for (int k = 0; k < n; ++k) texts[k + 1] = labels[k] ? labels[k] : "";
    font fnt;
    font_load(&fnt, glyph_size_for(photo.h), texts, n + 1);
    int columns = n < PANEL_COLUMNS ? n : PANEL_COLUMNS, rows = (n + columns - 1) / columns;
    int pad = fnt.height / 4 > 4 ? fnt.height / 4 : 4;
    int title_h = fnt.height + 2 * pad, label_h = fnt.height + pad;
    int tile_w = photo.w + pad, tile_h = photo.h + label_h + pad;
    int title_w = 2 * pad + text_width(&fnt, texts[0]);
    image canvas = {columns * tile_w + pad, title_h + rows * tile_h, 3, NULL};
    if (canvas.w < title_w) canvas.w = title_w;
    canvas.data = calloc((size_t)canvas.w * canvas.h * 3, sizeof(float));
    if (!canvas.data) {
        font_free(&fnt);
        free(texts);
        dx_set_error(err, "%s: out of memory for a %dx%d panel", path, canvas.w, canvas.h);
        return -1;
    }
    fill_rect(canvas, 0, 0, canvas.w, canvas.h, BACKGROUND);
    draw_text(canvas, &fnt, texts[0], pad, pad, TEXT_COLOUR);
    for (int k = 0; k < n; ++k) {
        int x0 = pad + (k % columns) * tile_w, y0 = title_h + (k / columns) * tile_h;
        float opacity;
        dx_map_scale scale;
        style_of(styles ? &styles[k] : NULL, maps[k], (size_t)photo.w * photo.h, signed_maps[k], &opacity, &scale);
        blend_map(canvas, x0, y0, photo, maps[k], signed_maps[k], opacity, &scale);
        int label_x = x0 + (photo.w - text_width(&fnt, texts[k + 1])) / 2;
        draw_text(canvas, &fnt, texts[k + 1], label_x > x0 ? label_x : x0, y0 + photo.h + pad / 2,
                  TEXT_COLOUR);
    }
    font_free(&fnt);
    free(texts);
    int rc = dx_write_png(canvas, path, err);
    free(canvas.data);
    return rc;
}

int dx_render_overlay(image photo, const float *map, int h, int w, int signed_map, const char *title,
                      const dx_render_style *style, const char *path, dx_error *err)
{
    return render_figure(photo, map, h, w, signed_map, NULL, 0, title, style, path, err);
}

int dx_render_overlay_boxes(image photo, const float *map, int h, int w, int signed_map,
                            const dx_render_box *boxes, int nboxes, const char *title,
                            const dx_render_style *style, const char *path, dx_error *err)
{
    return render_figure(photo, map, h, w, signed_map, boxes, nboxes, title, style, path, err);
}

int dx_render_box_maps(image photo, const float *const *maps, const dx_render_box *boxes, int nboxes,
                       const char *title, const char *path, dx_error *err)
{
    size_t plane = (size_t)photo.w * photo.h;
    image tinted = make_image(photo.w, photo.h, 3);
    float *peak = calloc(nboxes ? nboxes : 1, sizeof(float));
    if (!tinted.data || !peak) {
        free(peak);
        free_image(tinted);
        dx_set_error(err, "%s: out of memory", path);
        return -1;
    }
    for (int b = 0; b < nboxes; ++b)
        for (size_t p = 0; p < plane; ++p)
            if (maps[b][p] > peak[b]) peak[b] = maps[b][p];
    for (size_t p = 0; p < plane; ++p) {
        int strongest = -1;
        float value = 0;
        for (int b = 0; b < nboxes; ++b)
            if (peak[b] > 0 && maps[b][p] / peak[b] > value) value = maps[b][p] / peak[b], strongest = b;
        float alpha = strongest < 0 ? 0.f : 0.6f * value;
        float rgb[3] = {0, 0, 0};
        if (strongest >= 0) rgb[0] = boxes[strongest].rgb[0], rgb[1] = boxes[strongest].rgb[1], rgb[2] = boxes[strongest].rgb[2];
        for (int k = 0; k < 3; ++k) {
            float under = photo.data[(photo.c == 3 ? k : 0) * plane + p];
            tinted.data[k * plane + p] = (1 - alpha) * under + alpha * rgb[k];
        }
    }
    free(peak);
    int rc = render_figure(tinted, NULL, photo.h, photo.w, 0, boxes, nboxes, title, NULL, path, err);
    free_image(tinted);
    return rc;
}
