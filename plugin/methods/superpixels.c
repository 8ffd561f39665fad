/* SLIC superpixels (Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel
 * Methods", 2012) for LIME and KernelSHAP: k-means over (L, a, b, y, x) started on a regular
 * grid of interval S = sqrt(h w / K), each centre searching only a 2S x 2S window, with distance
 * d_lab^2 + (d_xy / S)^2 m^2 (m: the compactness), 10 iterations; then each segment is made
 * connected: every 4-connected component becomes a segment, and those smaller than S^2 / 4
 * pixels join the segment next to them (as the paper's reference code does). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "memory.h"
#include "perturb.h"

#define SLIC_ITERATIONS 10

static float srgb_to_linear(float v) { return v <= 0.04045f ? v / 12.92f : powf((v + 0.055f) / 1.055f, 2.4f); }
static float lab_f(float t) { return t > 0.008856f ? cbrtf(t) : 7.787f * t + 16.f / 116.f; }

/* features: 3 x h x w. RGB in [0, 1] -> CIELAB (D65); other channel counts: each channel x 100
 * (L's range) in the first planes, zeros after. */
static void to_features(const float *image, int c, size_t plane, float *features)
{
    memset(features, 0, sizeof(float) * 3 * plane);
    if (c != 3) {
        for (int k = 0; k < c && k < 3; ++k)
            for (size_t p = 0; p < plane; ++p) features[k * plane + p] = 100 * image[k * plane + p];
        return;
    }
    for (size_t p = 0; p < plane; ++p) {
        float r = srgb_to_linear(image[p]), g = srgb_to_linear(image[plane + p]), b = srgb_to_linear(image[2 * plane + p]);
        float fx = lab_f((0.4124f * r + 0.3576f * g + 0.1805f * b) / 0.95047f);
        float fy = lab_f(0.2126f * r + 0.7152f * g + 0.0722f * b);
        float fz = lab_f((0.0193f * r + 0.1192f * g + 0.9505f * b) / 1.08883f);
        features[p] = 116 * fy - 16;
        features[plane + p] = 500 * (fx - fy);
        features[2 * plane + p] = 200 * (fy - fz);
    }
}

typedef struct {
    float f[3], y, x;
} centre;

/* Relabels each 4-connected component of `labels` as its own segment; components under
 * min_size pixels join the segment of the pixel left of (or above) their first pixel.
 * Returns the number of segments. */
static int make_connected(const int *labels, int h, int w, int min_size, int *out, int *queue)
{
    size_t plane = (size_t)h * w;
    for (size_t p = 0; p < plane; ++p) out[p] = -1;
    int next = 0;
    for (size_t start = 0; start < plane; ++start) {
        if (out[start] >= 0) continue;
        int y0 = (int)(start / w), x0 = (int)(start % w);
        int adjacent = x0 > 0 ? out[start - 1] : y0 > 0 ? out[start - w] : -1;
        size_t head = 0, tail = 0;
        out[start] = next;
        queue[tail++] = (int)start;
        while (head < tail) {
            int p = queue[head++], y = p / w, x = p % w;
            int nb[4] = {x > 0 ? p - 1 : -1, x + 1 < w ? p + 1 : -1, y > 0 ? p - w : -1, y + 1 < h ? p + w : -1};
            for (int k = 0; k < 4; ++k)
                if (nb[k] >= 0 && out[nb[k]] < 0 && labels[nb[k]] == labels[start]) {
                    out[nb[k]] = next;
                    queue[tail++] = nb[k];
                }
        }
        if ((int)tail < min_size && adjacent >= 0)
            for (size_t k = 0; k < tail; ++k) out[queue[k]] = adjacent;
        else
            next++;
    }
    return next;
}

int dx_slic(const float *image, int c, int h, int w, int k, float compactness, int *labels, dx_error *err)
{
    size_t plane = (size_t)h * w;
    if (k < 1) k = 1;
    float step = sqrtf((float)plane / k);
    int ny = (int)lroundf(h / step), nx = (int)lroundf(w / step);
    ny = ny < 1 ? 1 : ny;
    nx = nx < 1 ? 1 : nx;
    int n = ny * nx;
    const char *what = "the SLIC superpixels";
    float *features = dx_alloc(3 * (size_t)plane, sizeof(float), what, err);
    float *dist = dx_alloc(plane, sizeof(float), what, err);
    int *assigned = dx_alloc(plane, sizeof(int), what, err), *queue = dx_alloc(plane, sizeof(int), what, err);
    centre *centres = dx_alloc(n, sizeof(centre), what, err);
    double *sums = dx_alloc(6 * (size_t)n, sizeof(double), what, err);
    if (!features || !dist || !assigned || !queue || !centres || !sums) {
        n = -1;
        goto done;
    }
    to_features(image, c, plane, features);
    /* centres on the grid, each moved to the lowest colour gradient in its 3 x 3 neighbourhood */
    for (int i = 0; i < ny; ++i)
        for (int j = 0; j < nx; ++j) {
            int cy = (int)((i + 0.5f) * h / ny), cx = (int)((j + 0.5f) * w / nx), by = cy, bx = cx;
            float best = FLT_MAX;
            for (int y = cy - 1; y <= cy + 1; ++y)
                for (int x = cx - 1; x <= cx + 1; ++x) {
                    if (y < 1 || x < 1 || y + 1 >= h || x + 1 >= w) continue;
                    float g = 0;
                    for (int f = 0; f < 3; ++f) {
                        const float *F = features + f * plane;
                        float dx = F[y * w + x + 1] - F[y * w + x - 1], dy = F[(y + 1) * w + x] - F[(y - 1) * w + x];
                        g += dx * dx + dy * dy;
                    }
                    if (g < best) best = g, by = y, bx = x;
                }
            centre *ce = &centres[i * nx + j];
            for (int f = 0; f < 3; ++f) ce->f[f] = features[f * plane + (size_t)by * w + bx];
            ce->y = (float)by;
            ce->x = (float)bx;
        }
    for (size_t p = 0; p < plane; ++p) assigned[p] = -1;
    float spatial = compactness * compactness / (step * step);
    int reach = (int)ceilf(step);
    for (int it = 0; it < SLIC_ITERATIONS; ++it) {
        for (size_t p = 0; p < plane; ++p) dist[p] = FLT_MAX;
        for (int j = 0; j < n; ++j) {
            const centre *ce = &centres[j];
            int y0 = (int)ce->y - reach, y1 = (int)ce->y + reach, x0 = (int)ce->x - reach, x1 = (int)ce->x + reach;
            for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < h; ++y)
                for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < w; ++x) {
                    size_t p = (size_t)y * w + x;
                    float d = (y - ce->y) * (y - ce->y) + (x - ce->x) * (x - ce->x), dc = 0;
                    for (int f = 0; f < 3; ++f) {
                        float v = features[f * plane + p] - ce->f[f];
                        dc += v * v;
                    }
                    d = dc + d * spatial;
                    if (d < dist[p]) {
                        dist[p] = d;
                        assigned[p] = j;
                    }
                }
        }
        memset(sums, 0, sizeof(double) * 6 * n);
        for (size_t p = 0; p < plane; ++p) {
            if (assigned[p] < 0) continue;
            double *s = sums + 6 * assigned[p];
            for (int f = 0; f < 3; ++f) s[f] += features[f * plane + p];
            s[3] += (double)(p / w);
            s[4] += (double)(p % w);
            s[5] += 1;
        }
        for (int j = 0; j < n; ++j) {
            const double *s = sums + 6 * j;
            if (s[5] == 0) continue; /* an empty cluster keeps its place */
            for (int f = 0; f < 3; ++f) centres[j].f[f] = (float)(s[f] / s[5]);
            centres[j].y = (float)(s[3] / s[5]);
            centres[j].x = (float)(s[4] / s[5]);
        }
    }
    n = make_connected(assigned, h, w, (int)(step * step / 4), labels, queue);
done:
    free(features);
    free(dist);
    free(assigned);
    free(queue);
    free(centres);
    free(sums);
    return n;
}
