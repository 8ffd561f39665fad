/* Label placement (see labels.h): greedy, over candidate positions near each box. */
#include <math.h>
#include <stdlib.h>
#include "io/labels.h"

#define ANCHORS 8
#define X_STEPS 4 /* quarters of the label's width each way */

static long clamp_long(long v, long lo, long hi) { return v < lo ? lo : v > hi ? hi : v; }

static long overlap_area(const dx_irect *a, const dx_irect *b)
{
    long w = (long)(a->x + a->w < b->x + b->w ? a->x + a->w : b->x + b->w) - (a->x > b->x ? a->x : b->x);
    long h = (long)(a->y + a->h < b->y + b->h ? a->y + a->h : b->y + b->h) - (a->y > b->y ? a->y : b->y);
    return w > 0 && h > 0 ? w * h : 0;
}

/* r clipped to the image (width or height 0 when it lies outside) */
static dx_irect clipped(const dx_irect *r, int image_w, int image_h)
{
    long x0 = clamp_long(r->x, 0, image_w), x1 = clamp_long((long)r->x + (r->w > 0 ? r->w : 0), 0, image_w);
    long y0 = clamp_long(r->y, 0, image_h), y1 = clamp_long((long)r->y + (r->h > 0 ? r->h : 0), 0, image_h);
    return (dx_irect){(int)x0, (int)y0, (int)(x1 - x0), (int)(y1 - y0)};
}

/* the sum over the boxes of the square of the share of each box's area (in the image) the
 * label covers: hiding most of one box costs more than a little of many */
static double hidden(const dx_irect *label, const dx_irect *boxes, int n, int image_w, int image_h)
{
    double share = 0;
    for (int j = 0; j < n; ++j) {
        dx_irect b = clipped(&boxes[j], image_w, image_h);
        long area = (long)b.w * b.h;
        double covered = area ? (double)overlap_area(label, &b) / area : 0;
        share += covered * covered;
    }
    return share;
}

/* step i of 0, +1, -1, +2, -2, ... */
static int signed_step(int i) { return i % 2 ? (i + 1) / 2 : -(i / 2); }

int dx_place_labels(int image_w, int image_h, const dx_irect *boxes, const int *label_w, const int *label_h, int n,
                    dx_label_place *out)
{
    int legend = 0;
    for (int k = 0; k < n; ++k) {
        int w = label_w[k] > 0 && label_h[k] > 0 ? label_w[k] : 0, h = w ? label_h[k] : 0;
        out[k] = (dx_label_place){{0, 0, w, h}, 0};
        if (!w) continue;
        if (w > image_w || h > image_h) {
            ++legend;
            continue;
        }
        dx_irect b = clipped(&boxes[k], image_w, image_h);
        int x1 = b.x + b.w, y1 = b.y + b.h;
        const int anchors[ANCHORS][2] = {{b.x, b.y - h}, {b.x, b.y},      {b.x, y1},      {b.x, y1 - h},
                                         {x1 - w, b.y - h}, {x1 - w, y1}, {b.x - w, b.y}, {x1, b.y}};
        int step_y = h / 2 > 1 ? h / 2 : 1, step_x = w / X_STEPS > 1 ? w / X_STEPS : 1;
        double best = INFINITY;
        for (int a = 0; a < ANCHORS; ++a)
            for (int iy = 0; iy <= 4 * DX_LABEL_SHIFT_ROWS; ++iy)
                for (int ix = 0; ix <= 2 * X_STEPS; ++ix) {
                    int sy = signed_step(iy), sx = signed_step(ix);
                    dx_irect c = {(int)clamp_long((long)anchors[a][0] + sx * step_x, 0, image_w - w),
                                 (int)clamp_long((long)anchors[a][1] + sy * step_y, 0, image_h - h), w, h};
                    double cost = hidden(&c, boxes, n, image_w, image_h) + 0.05 * (abs(sx) + abs(sy)) + 0.01 * a;
                    if (cost >= best) continue;
                    int free = 1;
                    for (int j = 0; j < k && free; ++j) free = !out[j].placed || !overlap_area(&c, &out[j].at);
                    if (!free) continue;
                    best = cost;
                    out[k].at = c;
                }
        out[k].placed = isfinite(best);
        if (!out[k].placed) {
            out[k].at.x = out[k].at.y = 0;
            ++legend;
        }
    }
    return legend;
}
