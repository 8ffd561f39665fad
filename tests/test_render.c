/* The heat-map figures (read back with stb_image and checked where the layout puts things), the
 * scale a map is drawn on, and the boxes' labels: their placement as a pure function on
 * rectangles, their pixels in a figure, and the combined figure the command line writes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <stb_image.h>
#include "../tools/shapes.h"
#include "backends/backend.h"
#include "helpers.h"
#include "io/labels.h"
#include "io/render.h"

TestSuite(render, .init = make_scratch, .fini = remove_scratch);

#define PHOTO_W 64
#define PHOTO_H 48
#define BLOB_X 44
#define BLOB_Y 18

static dx_image grey_photo(int w, int h)
{
    dx_image photo = {w, h, 3, malloc(sizeof(float) * 3 * w * h)};
    for (int i = 0; i < 3 * w * h; ++i) photo.data[i] = 0.5f;
    return photo;
}

/* sign * exp(-r^2 / 2 sigma^2) around (cx, cy), added to map */
static void add_blob(float *map, int w, int h, int cx, int cy, float sign)
{
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float r2 = (float)((x - cx) * (x - cx) + (y - cy) * (y - cy));
            map[y * w + x] += sign * expf(-r2 / (2 * 4.0f * 4.0f));
        }
}

typedef struct {
    unsigned char *px;
    int w, h;
} loaded_png;

static loaded_png load_png(const char *path)
{
    loaded_png p;
    int c;
    p.px = stbi_load(path, &p.w, &p.h, &c, 3);
    cr_assert_not_null(p.px, "%s: %s", path, stbi_failure_reason());
    return p;
}

static const unsigned char *pixel_at(const loaded_png *p, int x, int y)
{
    cr_assert(x >= 0 && y >= 0 && x < p->w && y < p->h, "(%d, %d) outside %dx%d", x, y, p->w, p->h);
    return p->px + 3 * ((size_t)y * p->w + x);
}

static int near(const unsigned char *px, int r, int g, int b)
{
    return abs(px[0] - r) <= 2 && abs(px[1] - g) <= 2 && abs(px[2] - b) <= 2;
}

/* The overlay's top-left corner, found by its colour: the first 3x3 block, row by row, of
 * the colour the map's zero gets over the grey photo. Nothing else in the figure (dark
 * background, white antialiased text, the bar's pure colours) has a block of it. */
static void find_overlay(const loaded_png *p, int r, int g, int b, int *ox, int *oy)
{
    for (int y = 0; y + 3 <= p->h; ++y)
        for (int x = 0; x + 3 <= p->w; ++x) {
            int block = 1;
            for (int dy = 0; dy < 3 && block; ++dy)
                for (int dx = 0; dx < 3 && block; ++dx) block = near(pixel_at(p, x + dx, y + dy), r, g, b);
            if (block) {
                *ox = x;
                *oy = y;
                return;
            }
        }
    cr_assert_fail("no block of (%d, %d, %d) in the figure", r, g, b);
}

static int bright_pixels(const loaded_png *p, int x0, int y0, int x1, int y1)
{
    int count = 0;
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) {
            const unsigned char *px = pixel_at(p, x, y);
            count += px[0] > 200 && px[1] > 200 && px[2] > 200;
        }
    return count;
}

static int glyphs_installed(void)
{
    return access("/usr/share/darknet/data/labels/65_1.png", R_OK) == 0;
}

Test(render, unsigned_blob_figure)
{
    char path[128];
    dx_error err = {{0}};
    dx_image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    add_blob(map, PHOTO_W, PHOTO_H, BLOB_X, BLOB_Y, 1);
    scratch_path(path, sizeof path, "fig.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_H, PHOTO_W, 0, "gradcam cat 91%", NULL, path, &err),
                 0, "%s", err.msg);
    loaded_png fig = load_png(path);
    cr_assert_gt(fig.w, PHOTO_W + 20, "figure %dx%d", fig.w, fig.h);
    cr_assert_gt(fig.h, PHOTO_H, "figure %dx%d", fig.w, fig.h);

    /* 0.55 * 0.5 + 0.45 * jet(0) = (0.275, 0.275, 0.5) */
    int ox, oy;
    find_overlay(&fig, 70, 70, 128, &ox, &oy);
    cr_assert_gt(oy, 0, "the title bar is above the overlay");
    cr_assert_leq(ox + PHOTO_W, fig.w);
    cr_assert_leq(oy + PHOTO_H, fig.h);
    const unsigned char *hot = pixel_at(&fig, ox + BLOB_X, oy + BLOB_Y);
    cr_assert(hot[0] > hot[1] + 40 && hot[0] > hot[2] + 40, "blob centre (%d, %d, %d) is red-dominant",
              hot[0], hot[1], hot[2]);
    const unsigned char *cold = pixel_at(&fig, ox + 3, oy + PHOTO_H - 3);
    cr_assert(cold[2] > cold[0] + 40 && cold[2] > cold[1] + 40, "far pixel (%d, %d, %d) is blue-dominant",
              cold[0], cold[1], cold[2]);
    /* the overlay is exactly photo-sized: the pixel right of it is no longer the photo */
    cr_assert_not(near(pixel_at(&fig, ox + PHOTO_W, oy + PHOTO_H - 3), 70, 70, 128));

    /* the colour bar: the first non-background pixel right of the overlay on its top row */
    const unsigned char *background = pixel_at(&fig, 0, 0);
    int bar_x = ox + PHOTO_W;
    while (bar_x < fig.w && near(pixel_at(&fig, bar_x, oy), background[0], background[1], background[2]))
        ++bar_x;
    cr_assert_lt(bar_x, fig.w, "no colour bar right of the overlay");
    int bar_bottom = oy;
    while (bar_bottom + 1 < fig.h &&
           !near(pixel_at(&fig, bar_x, bar_bottom + 1), background[0], background[1], background[2]))
        ++bar_bottom;
    cr_assert_geq(bar_bottom - oy + 1, PHOTO_H, "the bar spans the overlay's height");
    const unsigned char *bar_top = pixel_at(&fig, bar_x, oy);
    const unsigned char *bar_low = pixel_at(&fig, bar_x, bar_bottom);
    cr_assert(bar_top[0] > 100 && bar_top[1] < 30 && bar_top[2] < 30, "bar top (%d, %d, %d) is red",
              bar_top[0], bar_top[1], bar_top[2]);
    cr_assert(bar_low[2] > 100 && bar_low[0] < 30 && bar_low[1] < 30, "bar bottom (%d, %d, %d) is blue",
              bar_low[0], bar_low[1], bar_low[2]);
    int bar_w = 0;
    while (bar_x + bar_w < fig.w &&
           !near(pixel_at(&fig, bar_x + bar_w, oy + PHOTO_H / 2), background[0], background[1], background[2]))
        ++bar_w;
    cr_assert(bar_w >= 16 && bar_w <= 32, "bar width %d", bar_w);

    if (glyphs_installed()) {
        cr_assert_gt(bright_pixels(&fig, 0, 0, fig.w, oy), 20, "the title bar holds text");
        cr_assert_gt(bright_pixels(&fig, bar_x + bar_w, oy, fig.w, oy + PHOTO_H / 2), 5, "hi label");
        cr_assert_gt(bright_pixels(&fig, bar_x + bar_w, oy + PHOTO_H / 2, fig.w, fig.h), 5, "lo label");
    } else {
        cr_log_warn("Darknet's glyphs are not installed: the figure's text was not checked");
    }
    stbi_image_free(fig.px);
    free(map);
    free(photo.data);
}

/* An orange photo: its grey (the fading blend's ground) differs from every channel of it. */
static dx_image orange_photo(int w, int h)
{
    dx_image photo = {w, h, 3, malloc(sizeof(float) * 3 * w * h)};
    for (int i = 0; i < w * h; ++i) photo.data[i] = 1.f, photo.data[w * h + i] = 0.5f, photo.data[2 * w * h + i] = 0.f;
    return photo;
}

/* The fading blend as render.h states it, for a value of strength s (clamped to [0, 1]) in
 * `colour` over a photo pixel `under`: grey 0.1 + 0.8 luma under it, the colour's weight
 * opacity x s. In 8 bits. */
static void faded(const float under[3], const float colour[3], float opacity, float s, int out[3])
{
    float grey = 0.1f + 0.8f * (0.299f * under[0] + 0.587f * under[1] + 0.114f * under[2]);
    float alpha = opacity * (s < 0 ? 0 : s > 1 ? 1 : s);
    for (int k = 0; k < 3; ++k) out[k] = (int)(((1 - alpha) * grey + alpha * colour[k]) * 255 + 0.5f);
}

/* Signed maps fade: the photo in grey where the map is 0, the red end for positive values and
 * the blue end for negative ones, weighted by |v| / max|v| (the default scale) times the default
 * opacity, 0.85. The old constant blend drew every weak value as a white wash at 0.45. */
Test(render, signed_map_fades_over_the_grey_photo)
{
    char path[128];
    dx_error err = {{0}};
    dx_image photo = orange_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    add_blob(map, PHOTO_W, PHOTO_H, BLOB_X, BLOB_Y, 3);
    add_blob(map, PHOTO_W, PHOTO_H, 12, 30, -2);
    scratch_path(path, sizeof path, "signed.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_H, PHOTO_W, 1, "saliency", NULL, path, &err), 0,
                 "%s", err.msg);
    loaded_png fig = load_png(path);
    const float orange[3] = {1, 0.5f, 0};
    float red[3], blue[3];
    dx_colormap(DX_CMAP_DIVERGING, 1, red);
    dx_colormap(DX_CMAP_DIVERGING, 0, blue);
    int zero[3];
    faded(orange, red, 0.85f, 0, zero);
    cr_assert(zero[0] == zero[1] && zero[1] == zero[2] && zero[0] > 140 && zero[0] < 150, "grey %d", zero[0]);
    int ox, oy;
    find_overlay(&fig, zero[0], zero[1], zero[2], &ox, &oy); /* the photo's top-left corner: v ~ 0 */
    int worst = 0;
    for (int y = 0; y < PHOTO_H; ++y)
        for (int x = 0; x < PHOTO_W; ++x) {
            float v = map[y * PHOTO_W + x];
            int want[3];
            faded(orange, v > 0 ? red : blue, 0.85f, fabsf(v) / 3, want);
            const unsigned char *got = pixel_at(&fig, ox + x, oy + y);
            for (int k = 0; k < 3; ++k) worst = abs(got[k] - want[k]) > worst ? abs(got[k] - want[k]) : worst;
        }
    cr_expect_leq(worst, 2, "a pixel is %d levels off the fading blend", worst);
    const unsigned char *positive = pixel_at(&fig, ox + BLOB_X, oy + BLOB_Y);
    const unsigned char *negative = pixel_at(&fig, ox + 12, oy + 30);
    cr_expect(positive[0] > positive[2] + 80, "positive (%d, %d, %d) is red", positive[0], positive[1], positive[2]);
    cr_expect(negative[2] > negative[0] + 60, "negative (%d, %d, %d) is blue", negative[0], negative[1], negative[2]);
    stbi_image_free(fig.px);
    free(map);
    free(photo.data);
}

Test(render, tiny_photo_still_gets_readable_text)
{
    char path[128];
    dx_error err = {{0}};
    dx_image photo = grey_photo(8, 6);
    float map[48] = {0};
    map[3 * 8 + 4] = 1;
    scratch_path(path, sizeof path, "tiny.png");
    cr_assert_eq(dx_render_overlay(photo, map, 6, 8, 0, "a long title for a tiny photo", NULL, path, &err),
                 0, "%s", err.msg);
    loaded_png fig = load_png(path);
    if (glyphs_installed()) {
        /* size-1 glyphs are 22 px tall: the figure grows to hold the title and both labels */
        cr_assert_gt(fig.w, 200, "figure %dx%d", fig.w, fig.h);
        cr_assert_gt(fig.h, 22 * 3, "figure %dx%d", fig.w, fig.h);
    }
    stbi_image_free(fig.px);
    free(photo.data);
}

Test(render, mismatched_map_is_refused)
{
    char path[128];
    dx_error err = {{0}};
    dx_image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    scratch_path(path, sizeof path, "bad.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_W, PHOTO_H, 0, "t", NULL, path, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));
    free(map);
    free(photo.data);
}

Test(render, unwritable_path_leaves_no_file)
{
    char path[128];
    dx_error err = {{0}};
    dx_image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    scratch_path(path, sizeof path, "no-such-dir/fig.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_H, PHOTO_W, 0, NULL, NULL, path, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));
    free(map);
    free(photo.data);
}

/* Boxes whose geometry is not finite are not drawn (a NaN edge used to become a full-height
 * outline, and float -> int of an infinite edge is undefined behaviour); a finite box far larger
 * than the photo is drawn clamped to its edges. */
Test(render, boxes_not_finite_are_skipped_and_huge_ones_clamped)
{
    char plain_path[128], odd_path[128], huge_path[128];
    dx_error err = {{0}};
    dx_image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    scratch_path(plain_path, sizeof plain_path, "plain.png");
    scratch_path(odd_path, sizeof odd_path, "odd.png");
    scratch_path(huge_path, sizeof huge_path, "huge.png");
    cr_assert_eq(dx_render_overlay_boxes(photo, map, PHOTO_H, PHOTO_W, 0, NULL, 0, "t", NULL, plain_path, &err),
                 0, "%s", err.msg);
    const dx_render_box odd[] = {
        {4, -INFINITY, 0, INFINITY, {0, 1, 0}, NULL}, /* the box of issue #14: y = -inf, h = inf */
        {4, NAN, 10, 10, {0, 1, 0}, NULL},
        {NAN, 4, 10, 10, {0, 1, 0}, NULL},
        {4, 4, INFINITY, 10, {0, 1, 0}, NULL},
    };
    cr_assert_eq(dx_render_overlay_boxes(photo, map, PHOTO_H, PHOTO_W, 0, odd, 4, "t", NULL, odd_path, &err), 0,
                 "%s", err.msg);
    loaded_png plain = load_png(plain_path), skipped = load_png(odd_path);
    cr_assert(plain.w == skipped.w && plain.h == skipped.h);
    int differ = 0;
    for (int k = 0; k < 3 * plain.w * plain.h; ++k) differ += plain.px[k] != skipped.px[k];
    cr_expect_eq(differ, 0, "%d bytes differ: a box that is not finite was drawn", differ);

    const dx_render_box huge = {-1e30f, -1e30f, 3e30f, 3e30f, {0, 1, 0}, NULL};
    cr_assert_eq(dx_render_overlay_boxes(photo, map, PHOTO_H, PHOTO_W, 0, &huge, 1, "t", NULL, huge_path, &err),
                 0, "%s", err.msg);
    loaded_png clamped = load_png(huge_path);
    int ox, oy; /* jet(0) over grey, as in unsigned_blob_figure */
    find_overlay(&plain, 70, 70, 128, &ox, &oy);
    int corners[4][2] = {{0, 0}, {PHOTO_W - 1, 0}, {0, PHOTO_H - 1}, {PHOTO_W - 1, PHOTO_H - 1}};
    for (int k = 0; k < 4; ++k)
        cr_expect(near(pixel_at(&clamped, ox + corners[k][0], oy + corners[k][1]), 0, 255, 0),
                  "the photo's corner %d,%d is not on the outline", corners[k][0], corners[k][1]);
    cr_expect(near(pixel_at(&clamped, ox + PHOTO_W / 2, oy + PHOTO_H / 2), 70, 70, 128), "the inside was filled");
    stbi_image_free(plain.px);
    stbi_image_free(skipped.px);
    stbi_image_free(clamped.px);
    free(map);
    free(photo.data);
}

/* ---------------------------------------------------------------- the scale a map is drawn on */

/* Signed maps are drawn on -M..M, M = max|v|, and the bar says so: a map of -0.0895..0 had its
 * red end labelled "0", an all-positive occlusion map its deep blue end "0.105". */
Test(render, signed_scale_labels_are_the_drawn_ends)
{
    float negative[3] = {-0.0895f, -0.02f, 0}, positive[3] = {0.105f, 2.f, 5.23f};
    dx_map_scale s;
    char lo[32], hi[32];
    dx_map_scale_of(negative, 3, 1, 100, &s);
    dx_map_scale_labels(&s, 1, lo, hi);
    cr_expect(s.lo == -0.0895f && s.hi == 0.0895f && !s.clipped, "scale %g..%g", s.lo, s.hi);
    cr_expect_str_eq(lo, "-0.0895");
    cr_expect_str_eq(hi, "0.0895");
    dx_map_scale_of(positive, 3, 1, 100, &s);
    dx_map_scale_labels(&s, 1, lo, hi);
    cr_expect_str_eq(lo, "-5.23");
    cr_expect_str_eq(hi, "5.23");
    dx_map_scale_of(positive, 3, 0, 100, &s); /* unsigned: min..max */
    dx_map_scale_labels(&s, 0, lo, hi);
    cr_expect_str_eq(lo, "0.105");
    cr_expect_str_eq(hi, "5.23");
    cr_expect_float_eq(dx_map_scale_position(&s, 0, 0.105f), 0, 1e-6);
    cr_expect_float_eq(dx_map_scale_position(&s, 0, 5.23f), 1, 1e-6);
}

/* Clipping as Captum's visualize_image_attr (outlier_perc = 100 - P): values 1..1000 sum to
 * 500500; the smallest k with 1 + .. + k >= 98% of it is 990 (989 falls short). */
Test(render, clipping_at_the_mass_percentile)
{
    enum { N = 1000 };
    float up[N], alternating[N], offset[N];
    long need = (long)(0.98 * (N * (N + 1) / 2.0) + 0.999999), k = 0;
    while (k * (k + 1) / 2 < need) ++k;
    cr_assert_eq(k, 990);
    for (int i = 0; i < N; ++i) {
        up[(i * 7919) % N] = i + 1; /* in no particular order */
        alternating[i] = i % 2 ? -(float)(i + 1) : (float)(i + 1);
        offset[i] = 5.f + (i + 1);
    }
    dx_map_scale s;
    char lo[32], hi[32];
    dx_map_scale_of(up, N, 0, 98, &s);
    cr_expect(s.clipped && s.lo == 1 && s.hi == 990, "unsigned: %g..%g clipped %d", s.lo, s.hi, s.clipped);
    dx_map_scale_labels(&s, 0, lo, hi);
    cr_expect_str_eq(hi, ">=990");
    cr_expect_str_eq(lo, "1");
    dx_map_scale_of(alternating, N, 1, 98, &s);
    cr_expect(s.clipped && s.lo == -990 && s.hi == 990, "signed: %g..%g", s.lo, s.hi);
    dx_map_scale_labels(&s, 1, lo, hi);
    cr_expect_str_eq(lo, "<=-990");
    cr_expect_str_eq(hi, ">=990");
    /* unsigned maps clip v - min: 0..999 here, the threshold 989 (0 + .. + 989 >= 98% of 499500) */
    dx_map_scale_of(offset, N, 0, 98, &s);
    cr_expect(s.lo == 6 && s.hi == 6 + 989, "offset: %g..%g", s.lo, s.hi);
    dx_map_scale_of(up, N, 0, 100, &s);
    cr_expect(!s.clipped && s.hi == N, "no clipping: %g..%g", s.lo, s.hi);
    /* a threshold within one colour step of the maximum is no clipping */
    float flat[N];
    for (int i = 0; i < N; ++i) flat[i] = 1000 + (i == 0) * 0.5f;
    dx_map_scale_of(flat, N, 0, 98, &s);
    cr_expect(!s.clipped && s.hi == 1000.5f, "%g clipped %d", s.hi, s.clipped);
}

/* The figure's colours follow the scale it is given (the one its bar is labelled with), at the
 * given opacity: a clipped map's values beyond the end take the end's colour at full weight; the
 * bar shows each value as drawn over mid-grey, from the red end at its top through the grey of
 * 0 to the blue end at its bottom. */
Test(render, pixels_follow_the_given_scale_and_opacity)
{
    char path[128];
    dx_error err = {{0}};
    dx_image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    for (int y = 0; y < PHOTO_H; ++y)
        for (int x = 0; x < PHOTO_W; ++x) map[y * PHOTO_W + x] = x < PHOTO_W / 2 ? 1.f : 4.f;
    map[(PHOTO_H - 1) * PHOTO_W] = -8.f; /* the bottom-left pixel */
    dx_map_scale s = {-2, 2, 1, 90};
    dx_render_style style = {.opacity = 0.8f, .scale = &s};
    scratch_path(path, sizeof path, "scaled.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_H, PHOTO_W, 1, "t", &style, path, &err), 0, "%s", err.msg);
    loaded_png fig = load_png(path);
    const float grey[3] = {0.5f, 0.5f, 0.5f};
    float red[3], blue[3];
    dx_colormap(DX_CMAP_DIVERGING, 1, red);
    dx_colormap(DX_CMAP_DIVERGING, 0, blue);
    int rgb_half[3], rgb_end[3], rgb_start[3], rgb_zero[3]; /* 1 is half-way to the red end; 4 beyond it; -8 beyond the blue end */
    faded(grey, red, 0.8f, 0.5f, rgb_half);
    faded(grey, red, 0.8f, 1, rgb_end);
    faded(grey, blue, 0.8f, 1, rgb_start);
    faded(grey, red, 0.8f, 0, rgb_zero);
    int ox, oy;
    find_overlay(&fig, rgb_half[0], rgb_half[1], rgb_half[2], &ox, &oy); /* the photo's top-left corner */
    const unsigned char *beyond = pixel_at(&fig, ox + PHOTO_W - 10, oy + 10);
    const unsigned char *below = pixel_at(&fig, ox, oy + PHOTO_H - 1);
    cr_expect(near(beyond, rgb_end[0], rgb_end[1], rgb_end[2]), "v = 4 > 2: (%d, %d, %d), not the end's colour",
              beyond[0], beyond[1], beyond[2]);
    cr_expect(near(below, rgb_start[0], rgb_start[1], rgb_start[2]), "v = -8 < -2: (%d, %d, %d), not the low end's",
              below[0], below[1], below[2]);
    /* the v = 1 half is the overlay found: the photo starts at the figure's left margin */
    cr_expect(ox > 0 && ox < 16 && oy > 0, "the v = 1 colour first appears at %d, %d", ox, oy);
    /* the bar: the first column right of the photo that is not background */
    const unsigned char *background = pixel_at(&fig, 0, 0);
    int bar_x = ox + PHOTO_W;
    while (bar_x < fig.w && near(pixel_at(&fig, bar_x, oy), background[0], background[1], background[2])) ++bar_x;
    cr_assert_lt(bar_x, fig.w, "no colour bar right of the overlay");
    int bar_bottom = oy;
    while (bar_bottom + 1 < fig.h && !near(pixel_at(&fig, bar_x, bar_bottom + 1), background[0], background[1], background[2]))
        ++bar_bottom;
    const unsigned char *top = pixel_at(&fig, bar_x, oy), *low = pixel_at(&fig, bar_x, bar_bottom);
    const unsigned char *middle = pixel_at(&fig, bar_x, (oy + bar_bottom) / 2);
    cr_expect(near(top, rgb_end[0], rgb_end[1], rgb_end[2]), "bar top (%d, %d, %d)", top[0], top[1], top[2]);
    cr_expect(near(low, rgb_start[0], rgb_start[1], rgb_start[2]), "bar bottom (%d, %d, %d)", low[0], low[1], low[2]);
    cr_expect(abs(middle[0] - rgb_zero[0]) <= 6 && abs(middle[2] - rgb_zero[2]) <= 6, "bar middle (%d, %d, %d) is grey",
              middle[0], middle[1], middle[2]);
    stbi_image_free(fig.px);
    free(map);
    free(photo.data);
}

/* An unsigned map fades when its style says so: JET at its position on the scale, weighted by
 * that position (0 at lo: the grey photo; the opacity at hi), over the photo in grey. Without
 * fade it keeps the constant blend (unsigned_blob_figure). */
Test(render, unsigned_map_fades_when_asked)
{
    char path[128];
    dx_error err = {{0}};
    dx_image photo = orange_photo(PHOTO_W, PHOTO_H);
    float *map = malloc(sizeof(float) * PHOTO_W * PHOTO_H);
    for (int y = 0; y < PHOTO_H; ++y)
        for (int x = 0; x < PHOTO_W; ++x) /* 0 on the left quarter, then up to 1 at the right edge */
            map[y * PHOTO_W + x] = x < PHOTO_W / 4 ? 0.f : (float)(x - PHOTO_W / 4) / (PHOTO_W - 1 - PHOTO_W / 4);
    dx_render_style style = {.fade = 1};
    scratch_path(path, sizeof path, "fade.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_H, PHOTO_W, 0, "t", &style, path, &err), 0, "%s", err.msg);
    loaded_png fig = load_png(path);
    const float orange[3] = {1, 0.5f, 0};
    int zero[3];
    faded(orange, orange, 0.85f, 0, zero);
    int ox, oy;
    find_overlay(&fig, zero[0], zero[1], zero[2], &ox, &oy);
    int worst = 0;
    for (int x = 0; x < PHOTO_W; ++x) {
        float jet[3];
        dx_colormap(DX_CMAP_JET, map[x], jet);
        int want[3];
        faded(orange, jet, 0.85f, map[x], want);
        const unsigned char *got = pixel_at(&fig, ox + x, oy + PHOTO_H / 2);
        for (int k = 0; k < 3; ++k) worst = abs(got[k] - want[k]) > worst ? abs(got[k] - want[k]) : worst;
    }
    cr_expect_leq(worst, 2, "a pixel is %d levels off the fading blend", worst);
    stbi_image_free(fig.px);
    free(map);
    free(photo.data);
}

/* ---------------------------------------------------------------- the boxes' labels */

TestSuite(labels);

static int intersect(const dx_irect *a, const dx_irect *b)
{
    return a->x < b->x + b->w && b->x < a->x + a->w && a->y < b->y + b->h && b->y < a->y + a->h;
}

/* how far apart a and b are along x and along y (0: they overlap along that axis) */
static void gaps(const dx_irect *a, const dx_irect *b, int *gx, int *gy)
{
    int left = b->x - (a->x + a->w), right = a->x - (b->x + b->w);
    int up = b->y - (a->y + a->h), down = a->y - (b->y + b->h);
    *gx = left > right ? (left > 0 ? left : 0) : (right > 0 ? right : 0);
    *gy = up > down ? (up > 0 ? up : 0) : (down > 0 ? down : 0);
}

static int uniform_int(rng *r, int lo, int hi) { return lo + (int)(rng_uniform(r) * (hi - lo + 1)); }

/* Random sets of 1..30 boxes (some reaching beyond the image, some labels wider than it, some
 * absent) in images of several sizes: every placed label is inside the image, apart from every
 * other placed label and near its box (within the shifts the search makes); the others are
 * the legend's, as many as the return value says; a missing label is neither. */
Test(labels, random_sets_are_inside_apart_and_near)
{
    static const int sizes[][2] = {{64, 48}, {320, 240}, {1360, 900}, {100, 800}, {17, 9}};
    rng r = {12345};
    int placed = 0, legend = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; ++s)
        for (int trial = 0; trial < 60; ++trial) {
            int W = sizes[s][0], H = sizes[s][1], n = uniform_int(&r, 1, 30), height = uniform_int(&r, 2, H / 4 + 2);
            dx_irect boxes[30];
            int lw[30], lh[30];
            dx_label_place out[30];
            for (int k = 0; k < n; ++k) {
                boxes[k] = (dx_irect){uniform_int(&r, -W / 4, W), uniform_int(&r, -H / 4, H), uniform_int(&r, 0, W / 2),
                                      uniform_int(&r, 0, H / 2)};
                int kind = uniform_int(&r, 0, 19);
                lw[k] = kind == 0 ? 0 : kind == 1 ? W + uniform_int(&r, 1, 50) : uniform_int(&r, 1, W / 2 + 1);
                lh[k] = height;
            }
            int returned = dx_place_labels(W, H, boxes, lw, lh, n, out), counted = 0;
            for (int k = 0; k < n; ++k) {
                const dx_irect *at = &out[k].at;
                if (!lw[k]) {
                    cr_expect(!out[k].placed && !at->w, "%dx%d trial %d: box %d has no label but got one", W, H, trial, k);
                    continue;
                }
                cr_expect(at->w == lw[k] && at->h == lh[k], "label %d is %dx%d, asked %dx%d", k, at->w, at->h, lw[k], lh[k]);
                if (!out[k].placed) {
                    ++counted;
                    continue;
                }
                ++placed;
                cr_expect(at->x >= 0 && at->y >= 0 && at->x + at->w <= W && at->y + at->h <= H,
                          "%dx%d trial %d: label %d at %d,%d %dx%d leaves the image", W, H, trial, k, at->x, at->y, at->w, at->h);
                dx_irect box = boxes[k]; /* clipped to the image, as the search sees it */
                int x1 = box.x + box.w < W ? box.x + box.w : W, y1 = box.y + box.h < H ? box.y + box.h : H;
                box.x = box.x < 0 ? 0 : box.x > W ? W : box.x;
                box.y = box.y < 0 ? 0 : box.y > H ? H : box.y;
                box.w = x1 > box.x ? x1 - box.x : 0;
                box.h = y1 > box.y ? y1 - box.y : 0;
                int gx, gy;
                gaps(at, &box, &gx, &gy);
                cr_expect(gx <= at->w + 4 && gy <= DX_LABEL_SHIFT_ROWS * at->h + 6,
                          "%dx%d trial %d: label %d is %d, %d px from its box", W, H, trial, k, gx, gy);
                for (int j = 0; j < k; ++j)
                    cr_expect(!out[j].placed || !intersect(at, &out[j].at), "%dx%d trial %d: labels %d and %d intersect",
                              W, H, trial, j, k);
            }
            cr_expect_eq(returned, counted, "%dx%d trial %d", W, H, trial);
            legend += counted;
        }
    cr_log_info("%d labels placed, %d in the legend", placed, legend);
    cr_expect(placed > legend && legend > 0, "%d placed, %d in the legend: both ways were not exercised", placed,
              legend);
}

/* The first candidates, in the order the issue asks: above the box's top-left corner; with no
 * room above, inside it if that hides little of it (a large box), else below it (a small one);
 * below it when a label already sits above; a label wider than the image goes to the legend;
 * one at the photo's right edge is pushed left, never cut. */
Test(labels, first_candidates)
{
    const dx_irect box = {100, 100, 50, 40}, top = {100, 0, 150, 120}, small_top = {100, 0, 50, 40};
    const dx_irect right = {300, 100, 20, 20};
    const dx_irect twins[2] = {box, box};
    int w[2] = {60, 60}, h[2] = {12, 12};
    dx_label_place out[2];
    cr_expect_eq(dx_place_labels(320, 240, &box, w, h, 1, out), 0);
    cr_expect(out[0].placed && out[0].at.x == 100 && out[0].at.y == 88, "above: %d,%d", out[0].at.x, out[0].at.y);
    dx_place_labels(320, 240, &top, w, h, 1, out);
    cr_expect(out[0].placed && out[0].at.x == 100 && out[0].at.y == 0, "inside: %d,%d", out[0].at.x, out[0].at.y);
    dx_place_labels(320, 240, &small_top, w, h, 1, out);
    cr_expect(out[0].placed && out[0].at.x == 100 && out[0].at.y == 40, "below: %d,%d", out[0].at.x, out[0].at.y);
    dx_place_labels(320, 240, twins, w, h, 2, out);
    cr_expect(out[1].placed && out[1].at.x == 100 && out[1].at.y == 140, "below: %d,%d", out[1].at.x, out[1].at.y);
    dx_place_labels(320, 240, &right, w, h, 1, out);
    cr_expect(out[0].placed && out[0].at.x == 260 && out[0].at.y == 88, "pushed left: %d,%d", out[0].at.x, out[0].at.y);
    int wide = 321;
    cr_expect_eq(dx_place_labels(320, 240, &box, &wide, h, 1, out), 1);
    cr_expect(!out[0].placed && out[0].at.w == 321, "a label wider than the image was placed");
}

/* The pixels of label rectangle at: every one on the line from the box's colour to the ink's
 * (opaque: nothing of the photo or the map shows through), most of them the box's colour, and
 * some ink. */
static void expect_label_pixels(const loaded_png *fig, const dx_irect *at, const float rgb[3], const char *what)
{
    int c[3], ink = 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2] > 0.5f ? 0 : 255;
    for (int k = 0; k < 3; ++k) c[k] = (int)(rgb[k] * 255 + 0.5f);
    int background = 0, inked = 0, stray = 0;
    for (int y = at->y; y < at->y + at->h; ++y)
        for (int x = at->x; x < at->x + at->w; ++x) {
            const unsigned char *px = pixel_at(fig, x, y);
            /* the blend t of the ink over the box's colour, from the channel that moves most */
            int most = 0;
            for (int k = 1; k < 3; ++k) most = abs(ink - c[k]) > abs(ink - c[most]) ? k : most;
            float t = (float)(px[most] - c[most]) / (ink - c[most]);
            int off = 0;
            for (int k = 0; k < 3; ++k) off |= fabsf(px[k] - (c[k] + t * (ink - c[k]))) > 3;
            stray += off || t < -0.02f || t > 1.02f;
            background += near(px, c[0], c[1], c[2]);
            inked += t > 0.8f;
        }
    int area = at->w * at->h;
    cr_expect_eq(stray, 0, "%s: %d of %d pixels are neither the box's colour nor its ink", what, stray, area);
    cr_expect_gt(background, area * 2 / 5, "%s: %d of %d pixels are the box's colour", what, background, area);
    cr_expect_gt(inked, 10, "%s: no text (%d inked pixels)", what, inked);
}

static int glyphs_installed_for_labels(void)
{
    return access("/usr/share/darknet/data/labels/65_0.png", R_OK) == 0 &&
           access("/usr/share/darknet/data/labels/65_1.png", R_OK) == 0;
}

/* A figure's labels are drawn where dx_render_label_layout says, opaque on their box's colour
 * with white text on dark colours and black on light ones; crowded boxes' labels do not
 * overlap; one at the photo's top edge is inside the photo; one wider than the photo goes to the
 * legend under it. The old labels were translucent to nothing but cut at the photo's edge and
 * drawn over each other. */
Test(render, labels_are_opaque_on_their_box_colour)
{
    if (!glyphs_installed_for_labels()) cr_skip_test("Darknet's glyphs are not installed");
    enum { W = 320, H = 240, N = 6 };
    char path[128];
    dx_error err = {{0}};
    dx_image photo = grey_photo(W, H);
    float *map = calloc(W * H, sizeof(float));
    add_blob(map, W, H, 120, 120, 1);
    dx_render_box boxes[N] = {
        {100, 100, 50, 40, {0}, "dog 94% (box0)"},  {100, 100, 50, 40, {0}, "cat 60% (box1)"},
        {104, 96, 40, 40, {0}, "bird 33% (box2)"},  {200, 0, 60, 30, {0}, "kite 81% (box3)"},
        {290, 200, 30, 40, {0}, "person 99% (box4)"},
        {10, 10, 20, 20, {0}, "a label far too long for a photo of three hundred and twenty pixels (box5)"}};
    for (int k = 0; k < N; ++k) dx_box_colour(k, boxes[k].rgb);
    scratch_path(path, sizeof path, "labels.png");
    cr_assert_eq(dx_render_overlay_boxes(photo, map, H, W, 0, boxes, N, "t", NULL, path, &err), 0, "%s", err.msg);
    dx_label_place places[N];
    int ox, oy;
    cr_assert_eq(dx_render_label_layout(W, H, boxes, N, &ox, &oy, places), 0);
    loaded_png fig = load_png(path);
    int fx, fy; /* jet(0) over grey, as in unsigned_blob_figure */
    find_overlay(&fig, 70, 70, 128, &fx, &fy);
    cr_expect(fx == ox && fy == oy, "the photo is at %d,%d, the layout says %d,%d", fx, fy, ox, oy);
    for (int k = 0; k < N; ++k) {
        const dx_irect *at = &places[k].at;
        cr_assert_gt(at->w, 0, "label %d not drawn", k);
        cr_assert(at->x >= 0 && at->y >= 0 && at->x + at->w <= fig.w && at->y + at->h <= fig.h,
                  "label %d leaves the figure", k);
        if (k < N - 1)
            cr_expect(places[k].placed && at->x >= ox && at->y >= oy && at->x + at->w <= ox + W && at->y + at->h <= oy + H,
                      "label %d at %d,%d is not in the photo", k, at->x, at->y);
        else
            cr_expect(!places[k].placed && at->y >= oy + H, "the long label at %d,%d is not under the photo", at->x, at->y);
        for (int j = 0; j < k; ++j) cr_expect_not(intersect(at, &places[j].at), "labels %d and %d intersect", j, k);
        char what[32];
        snprintf(what, sizeof what, "label %d", k);
        expect_label_pixels(&fig, at, boxes[k].rgb, what);
    }
    /* box 0's blue takes white text, box 5's yellow black */
    cr_expect_gt(bright_pixels(&fig, places[0].at.x, places[0].at.y, places[0].at.x + places[0].at.w,
                               places[0].at.y + places[0].at.h), 10, "no white text on blue");
    stbi_image_free(fig.px);
    free(map);
    free(photo.data);
}

/* ---------------------------------------------------------------- the command line's combined figure */

/* the number after key (e.g. "\"x\": ") at or after from */
static double number_after(const char *from, const char *key)
{
    const char *p = strstr(from, key);
    cr_assert(p, "no %s in the JSON", key);
    return strtod(p + strlen(key), NULL);
}

/* Box k of PREFIX.json as the combined figure draws it: its place, its colour, its label. */
typedef struct {
    dx_render_box box;
    char label[160];
} figure_box;

static int read_boxes_json(const char *path, figure_box *out, int cap)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "no %s", path);
    static char json[1 << 16];
    json[fread(json, 1, sizeof json - 1, f)] = 0;
    fclose(f);
    const char *p = strstr(json, "\"boxes\": [");
    cr_assert(p, "no boxes in %s", path);
    int n = 0;
    while ((p = strstr(p, "\"id\": \"")) && n < cap) {
        char id[32], name[64];
        cr_assert_eq(sscanf(p, "\"id\": \"%31[^\"]\"", id), 1);
        cr_assert_eq(sscanf(strstr(p, "\"name\": \""), "\"name\": \"%63[^\"]\"", name), 1);
        figure_box *b = &out[n];
        b->box = (dx_render_box){(float)number_after(p, "\"x\": "), (float)number_after(p, "\"y\": "),
                                 (float)number_after(p, "\"w\": "), (float)number_after(p, "\"h\": "), {0}, b->label};
        snprintf(b->label, sizeof b->label, "%s %.0f%% (%s)", name, 100.f * (float)number_after(p, "\"score\": "), id);
        dx_box_colour(n++, b->box.rgb);
        ++p;
    }
    return n;
}

static int greyish(const unsigned char *px) { return abs(px[0] - px[1]) <= 1 && abs(px[1] - px[2]) <= 1; }

/* distance from (x, y) to the box, in pixels (0 inside) */
static float box_distance(const dx_render_box *b, float x, float y)
{
    float dx = fmaxf(fmaxf(b->x - x, x - (b->x + b->w)), 0), dy = fmaxf(fmaxf(b->y - y, y - (b->y + b->h)), 0);
    return sqrtf(dx * dx + dy * dy);
}

/* Checks the combined figure PREFIX_boxes.png of a photo_w x photo_h photo against PREFIX.json:
 * every label where dx_render_label_layout puts it, opaque on its box's colour, none
 * intersecting another; the photo grey outside the boxes' windows (a quarter of the larger side
 * around each box); some box's inside tinted. Returns how many labels went to the legend. */
static int check_combined(const char *dir, const char *prefix, int photo_w, int photo_h)
{
    char path[512];
    figure_box boxes[16];
    snprintf(path, sizeof path, "%s/%s.json", dir, prefix);
    int n = read_boxes_json(path, boxes, 16);
    cr_assert_geq(n, 3, "%s: %d boxes, a multi-object photo was wanted", path, n);
    dx_render_box drawn[16];
    for (int k = 0; k < n; ++k) drawn[k] = boxes[k].box;
    dx_label_place places[16];
    int ox, oy, legend = 0, tinted_boxes = 0;
    cr_assert_eq(dx_render_label_layout(photo_w, photo_h, drawn, n, &ox, &oy, places), 0);
    snprintf(path, sizeof path, "%s/%s_boxes.png", dir, prefix);
    loaded_png fig = load_png(path);
    for (int k = 0; k < n; ++k) {
        const dx_irect *at = &places[k].at;
        cr_assert(at->w > 0 && at->x + at->w <= fig.w && at->y + at->h <= fig.h, "%s: label %d", path, k);
        legend += !places[k].placed;
        for (int j = 0; j < k; ++j) cr_expect_not(intersect(at, &places[j].at), "%s: labels %d and %d intersect", path, j, k);
        expect_label_pixels(&fig, at, drawn[k].rgb, boxes[k].label);
    }
    int coloured_far = 0;
    for (int y = 0; y < photo_h; ++y)
        for (int x = 0; x < photo_w; ++x) {
            int far = 1, in_label = 0;
            for (int k = 0; k < n && far; ++k) {
                const dx_render_box *b = &drawn[k];
                far = box_distance(b, x + .5f, y + .5f) > fmaxf(4, 0.25f * fmaxf(b->w, b->h)) + 2;
            }
            for (int k = 0; k < n; ++k) {
                const dx_irect *at = &places[k].at;
                in_label |= ox + x >= at->x && ox + x < at->x + at->w && oy + y >= at->y && oy + y < at->y + at->h;
            }
            coloured_far += far && !in_label && !greyish(pixel_at(&fig, ox + x, oy + y));
        }
    cr_expect_eq(coloured_far, 0, "%s: %d pixels far from every box are tinted", path, coloured_far);
    for (int k = 0; k < n; ++k) {
        const dx_render_box *b = &drawn[k];
        int inside = 0, tinted = 0, inset = 4;
        for (int y = (int)b->y + inset; y < (int)(b->y + b->h) - inset; ++y)
            for (int x = (int)b->x + inset; x < (int)(b->x + b->w) - inset; ++x, ++inside)
                tinted += !greyish(pixel_at(&fig, ox + x, oy + y));
        tinted_boxes += inside && tinted * 10 > inside;
    }
    cr_expect_gt(tinted_boxes, 0, "%s: no box's map shows", path);
    stbi_image_free(fig.px);
    return legend;
}

/* The command line (D-RISE, whose maps are nowhere 0: the old figure tinted every pixel by some
 * box) on the shipped shapes detector and a photo of four shapes: the combined figure's labels
 * sit where the layout says, on their boxes' colours, apart; the maps are shown around the boxes
 * only. At 256 px the labels fit in the photo; at the detector's own 64 px, where no label
 * fits, they are all listed in the legend under it. */
Test(render, command_line_combined_figure)
{
    if (!glyphs_installed_for_labels()) cr_skip_test("Darknet's glyphs are not installed");
    const char *cli = getenv("DX_CLI"), *root = getenv("DX_ROOT");
    cr_assert(cli && root, "DX_CLI and DX_ROOT are not set (run through make test)");
    dx_image small;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    int index = 0;
    while (shapes_draw(5, index, 64, 4, &small, objs) < 4) dx_free_image(small), ++index;
    dx_image big = dx_backend_resize_image(small, 256, 256);
    char dir[256], path[512], cmd[2048];
    scratch_path(dir, sizeof dir, "");
    dx_error err;
    cr_assert_eq(dx_write_png(small, scratch_path(path, sizeof path, "small.png"), &err), 0, "%s", err.msg);
    cr_assert_eq(dx_write_png(big, scratch_path(path, sizeof path, "big.png"), &err), 0, "%s", err.msg);
    for (int k = 0; k < 2; ++k) {
        const char *name = k ? "small" : "big";
        snprintf(cmd, sizeof cmd, "cd %s && %s drise %s/cfg/shapes-detector.cfg %s/cfg/shapes-detector.weights %s.png "
                 "-boxes all -thresh .25 -masks 64 -out %s >/dev/null 2>&1", dir, cli, root, root, name, name);
        cr_assert_eq(system(cmd), 0, "`%s` failed", cmd);
    }
    cr_expect_eq(check_combined(dir, "big", 256, 256), 0, "labels went to the legend of the 256-px figure");
    figure_box boxes[16];
    int n = read_boxes_json(scratch_path(path, sizeof path, "small.json"), boxes, 16);
    cr_expect_eq(check_combined(dir, "small", 64, 64), n, "labels were placed in the 64-px photo");
    dx_free_image(small);
    dx_free_image(big);
}
