/* The scale a map is drawn on (render.h): its ends, clipped at a percentile of its mass as
 * Captum's visualize_image_attr clips outliers, their labels, a value's place between them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "io/render.h"

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
    if (values) { /* without memory the map is drawn unclipped (no dx_error to fail with here) */
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
