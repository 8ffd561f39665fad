/* Synthetic shapes with known boxes (see shapes.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "io/image.h"
#include "rng.h"
#include "shapes.h"

const char *const shapes_names[SHAPES_CLASSES] = {"circle", "square", "triangle", "cross"};

static float uni(dx_rng *r, float lo, float hi) { return lo + (hi - lo) * (float)dx_rng_uniform(r); }

static float luminance(const float c[3]) { return 0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2]; }

static void set_px(dx_image im, int x, int y, const float c[3])
{
    if (x < 0 || y < 0 || x >= im.w || y >= im.h) return;
    for (int k = 0; k < 3; ++k) im.data[(k * im.h + y) * im.w + x] = c[k];
}

int shapes_inside(int cls, float cx, float cy, float s, float px, float py)
{
    float dx = px - cx, dy = py - cy, h = s / 2;
    switch (cls) {
    case 0: return dx * dx + dy * dy <= h * h;                            /* circle */
    case 1: return fabsf(dx) <= h && fabsf(dy) <= h;                      /* square */
    case 2: return dy >= -h && dy <= h && fabsf(dx) <= (dy + h) / 2;      /* triangle, apex up */
    default: return (fabsf(dx) <= h && fabsf(dy) <= s / 6) ||
                    (fabsf(dy) <= h && fabsf(dx) <= s / 6);               /* cross */
    }
}

/* Background: a two-colour gradient, oriented stripes of random frequency, pixel noise. */
static void draw_background(dx_image im, dx_rng *r, unsigned char *stripe_mask)
{
    float a[3], b[3];
    for (int k = 0; k < 3; ++k) a[k] = uni(r, 0.1f, 0.9f), b[k] = uni(r, 0.1f, 0.9f);
    float theta = uni(r, 0, (float)M_PI), freq = uni(r, 0.15f, 0.6f), amp = uni(r, 0.03f, 0.12f);
    float gx = uni(r, -1, 1), gy = uni(r, -1, 1);
    for (int y = 0; y < im.h; ++y)
        for (int x = 0; x < im.w; ++x) {
            float u = (float)x / im.w, v = (float)y / im.h;
            float t = 0.5f + 0.5f * (gx * (u - 0.5f) + gy * (v - 0.5f));
            float stripe = amp * sinf(freq * (x * cosf(theta) + y * sinf(theta)));
            float c[3];
            for (int k = 0; k < 3; ++k) {
                float val = a[k] + t * (b[k] - a[k]) + stripe + 0.04f * (float)dx_rng_normal(r);
                c[k] = val < 0 ? 0 : val > 1 ? 1 : val;
            }
            set_px(im, x, y, c);
            if (stripe_mask) stripe_mask[y * im.w + x] = fabsf(stripe) > amp / 2;
        }
}

/* Clutter that decides nothing: 1-pixel line segments and dots of radius <= 1.5 pixels. */
static void draw_clutter(dx_image im, dx_rng *r)
{
    int lines = 3 + (int)(dx_rng_uniform(r) * 6), dots = 4 + (int)(dx_rng_uniform(r) * 10);
    for (int i = 0; i < lines; ++i) {
        float c[3] = {uni(r, 0, 1), uni(r, 0, 1), uni(r, 0, 1)};
        float x0 = uni(r, 0, im.w), y0 = uni(r, 0, im.h), x1 = uni(r, 0, im.w), y1 = uni(r, 0, im.h);
        int steps = (int)(fabsf(x1 - x0) + fabsf(y1 - y0)) + 1;
        for (int t = 0; t <= steps; ++t)
            set_px(im, (int)(x0 + (x1 - x0) * t / steps), (int)(y0 + (y1 - y0) * t / steps), c);
    }
    for (int i = 0; i < dots; ++i) {
        float c[3] = {uni(r, 0, 1), uni(r, 0, 1), uni(r, 0, 1)};
        float cx = uni(r, 0, im.w), cy = uni(r, 0, im.h), rad = uni(r, 0.5f, 1.5f);
        for (int y = (int)(cy - 2); y <= (int)(cy + 2); ++y)
            for (int x = (int)(cx - 2); x <= (int)(cx + 2); ++x)
                if ((x + 0.5f - cx) * (x + 0.5f - cx) + (y + 0.5f - cy) * (y + 0.5f - cy) <= rad * rad)
                    set_px(im, x, y, c);
    }
}

static int overlaps(const shapes_object *o, int n, float x0, float y0, float x1, float y1)
{
    for (int i = 0; i < n; ++i)
        if (x0 <= o[i].x1 + 2 && o[i].x0 - 2 <= x1 && y0 <= o[i].y1 + 2 && o[i].y0 - 2 <= y1) return 1;
    return 0;
}

int shapes_draw(unsigned long long seed, int index, int size, int max_objects, dx_image *out,
                shapes_object *objs)
{
    return shapes_draw_truth(seed, index, size, max_objects, out, objs, NULL, NULL);
}

int shapes_draw_truth(unsigned long long seed, int index, int size, int max_objects,
                      dx_image *out, shapes_object *objs, unsigned char *shape,
                      unsigned char *stripe)
{
    dx_rng r;
    dx_rng_init(&r, seed * 0x100000001b3ULL + (unsigned long long)index);
    dx_image im = dx_make_image(size, size, 3);
    draw_background(im, &r, stripe);
    if (shape) memset(shape, 0, (size_t)size * size);
    draw_clutter(im, &r);
    if (max_objects > SHAPES_MAX_OBJECTS) max_objects = SHAPES_MAX_OBJECTS;
    int want = max_objects <= 1 ? 1 : 1 + (int)(dx_rng_uniform(&r) * max_objects), n = 0;
    for (int attempt = 0; n < want && attempt < 50; ++attempt) {
        int cls = (int)(dx_rng_uniform(&r) * SHAPES_CLASSES);
        float s = uni(&r, 0.2f, 0.45f) * size;
        float cx = uni(&r, s / 2 + 1, size - s / 2 - 1), cy = uni(&r, s / 2 + 1, size - s / 2 - 1);
        if (overlaps(objs, n, cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)) continue;
        /* a colour that stands out from the background under the object */
        float bg[3], c[3];
        for (int k = 0; k < 3; ++k) bg[k] = im.data[(k * size + (int)cy) * size + (int)cx];
        do
            for (int k = 0; k < 3; ++k) c[k] = uni(&r, 0, 1);
        while (fabsf(luminance(c) - luminance(bg)) < 0.3f);
        shapes_object *o = &objs[n++];
        *o = (shapes_object){cls, size, size, -1, -1, {c[0], c[1], c[2]}};
        for (int y = 0; y < size; ++y)
            for (int x = 0; x < size; ++x)
                if (shapes_inside(cls, cx, cy, s, x + 0.5f, y + 0.5f)) {
                    set_px(im, x, y, c);
                    if (shape) shape[y * size + x] = (unsigned char)(1 + cls);
                    if (stripe) stripe[y * size + x] = 0;
                    if (x < o->x0) o->x0 = x;
                    if (x > o->x1) o->x1 = x;
                    if (y < o->y0) o->y0 = y;
                    if (y > o->y1) o->y1 = y;
                }
    }
    /* 8-bit levels: the image in memory is exactly what its PNG decodes to */
    for (int k = 0; k < im.w * im.h * im.c; ++k) im.data[k] = roundf(im.data[k] * 255) / 255;
    *out = im;
    return n;
}

void shapes_label(const shapes_object *o, int size, char *line, int cap)
{
    snprintf(line, cap, "%d %.6f %.6f %.6f %.6f", o->cls, (o->x0 + o->x1 + 1) / 2.0 / size,
             (o->y0 + o->y1 + 1) / 2.0 / size, (o->x1 - o->x0 + 1) / (double)size,
             (o->y1 - o->y0 + 1) / (double)size);
}

int shapes_pointing_hit(const float *map, int h, int w, const shapes_object *o)
{
    int best = 0;
    for (int k = 1; k < h * w; ++k)
        if (map[k] > map[best]) best = k;
    int x = best % w, y = best / w;
    return x >= o->x0 && x <= o->x1 && y >= o->y0 && y <= o->y1;
}

double shapes_energy_in_box(const float *map, int h, int w, const shapes_object *o)
{
    double inside = 0, total = 0;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float v = map[y * w + x] > 0 ? map[y * w + x] : 0;
            total += v;
            if (x >= o->x0 && x <= o->x1 && y >= o->y0 && y <= o->y1) inside += v;
        }
    return total > 0 ? inside / total : 0;
}
