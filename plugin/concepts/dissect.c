/* Network dissection's arithmetic (dissect.h): the per-unit thresholds, the IoU sums, the labels.
 * The command around it is dissect_cli.c, its outputs dissect_report.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "concepts/dissect.h"
#include "error.h"
#include "memory.h"

int dx_dissect_init(dx_dissect_layer *L, int layer, int units, int h, int w, int n_images, int n_concepts,
                    dx_error *err)
{
    *L = (dx_dissect_layer){.layer = layer, .units = units, .h = h, .w = w, .n_images = n_images,
                            .n_concepts = n_concepts};
    char subject[64];
    snprintf(subject, sizeof subject, "layer %d's activations", layer);
    L->acts = dx_alloc((size_t)n_images * units * h * w, sizeof(float), subject, err);
    if (L->acts) L->image_max = dx_alloc((size_t)n_images * units, sizeof(float), subject, err);
    if (L->image_max) L->threshold = dx_alloc((size_t)units, sizeof(float), subject, err);
    if (L->threshold) L->inter = dx_alloc((size_t)units * n_concepts, sizeof(double), subject, err);
    if (L->inter) L->unit_area = dx_alloc((size_t)units, sizeof(double), subject, err);
    if (L->unit_area) L->concept_area = dx_alloc((size_t)n_concepts, sizeof(double), subject, err);
    if (!L->concept_area) {
        dx_dissect_free(L);
        return -1;
    }
    return 0;
}

void dx_dissect_free(dx_dissect_layer *L)
{
    free(L->acts);
    free(L->image_max);
    free(L->threshold);
    free(L->inter);
    free(L->unit_area);
    free(L->concept_area);
    memset(L, 0, sizeof *L);
}

float *dx_dissect_acts(dx_dissect_layer *L, int image)
{
    return L->acts + (size_t)image * L->units * L->h * L->w;
}

void dx_dissect_record(dx_dissect_layer *L, int image)
{
    const float *a = dx_dissect_acts(L, image);
    size_t hw = (size_t)L->h * L->w;
    for (int k = 0; k < L->units; ++k) {
        float best = a[k * hw];
        for (size_t p = 1; p < hw; ++p)
            if (a[k * hw + p] > best) best = a[k * hw + p];
        L->image_max[(size_t)image * L->units + k] = best;
    }
}

/* The element of rank `rank` (0 = smallest) of v[0..n), v reordered (Hoare's selection; the
 * values are finite: the command refuses a forward with NaN or inf). */
static float select_rank(float *v, long n, long rank)
{
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) ++i;
            while (v[j] > pivot) --j;
            if (i <= j) {
                float t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        if (rank <= j) hi = j;
        else if (rank >= i) lo = i;
        else return v[rank];
    }
    return v[rank];
}

int dx_dissect_thresholds(dx_dissect_layer *L, double quantile, dx_error *err)
{
    size_t hw = (size_t)L->h * L->w, n = (size_t)L->n_images * hw;
    float *v = dx_alloc(n, sizeof(float), "the thresholds", err);
    if (!v) return -1;
    size_t top = (size_t)ceil(quantile * (double)n);
    if (top < 1) top = 1;
    if (top > n - 1) top = n - 1; /* a single activation: T below it is undefined; keep T = it */
    for (int k = 0; k < L->units; ++k) {
        for (int i = 0; i < L->n_images; ++i)
            memcpy(v + (size_t)i * hw, L->acts + ((size_t)i * L->units + k) * hw, hw * sizeof(float));
        L->threshold[k] = n > 1 ? select_rank(v, (long)n, (long)(n - 1 - top)) : v[0];
    }
    free(v);
    return 0;
}

int dx_dissect_unit_mask(const dx_dissect_layer *L, int image, int k, int photo_w, int photo_h,
                         const dx_letterbox *g, unsigned char *out, dx_error *err)
{
    size_t hw = (size_t)L->h * L->w;
    const float *a = L->acts + ((size_t)image * L->units + k) * hw;
    float *up = dx_native_to_photo(a, L->h, L->w, g, photo_w, photo_h);
    if (!up) {
        dx_set_error(err, "out of memory for a %dx%d activation map", photo_w, photo_h);
        return -1;
    }
    for (size_t p = 0; p < (size_t)photo_w * photo_h; ++p) out[p] = up[p] > L->threshold[k];
    free(up);
    return 0;
}

int dx_dissect_accumulate(dx_dissect_layer *L, int image, const unsigned char *masks, int photo_w, int photo_h,
                          const dx_letterbox *g, dx_error *err)
{
    size_t np = (size_t)photo_w * photo_h;
    unsigned char *m = dx_alloc(np, 1, "a thresholded map", err);
    if (!m) return -1;
    for (int c = 0; c < L->n_concepts; ++c)
        for (size_t p = 0; p < np; ++p) L->concept_area[c] += masks[c * np + p] != 0;
    int rc = 0;
    for (int k = 0; k < L->units && rc == 0; ++k) {
        /* bilinear values are convex combinations of the cells': no cell above T_k, no pixel either */
        if (L->image_max[(size_t)image * L->units + k] <= L->threshold[k]) continue;
        if ((rc = dx_dissect_unit_mask(L, image, k, photo_w, photo_h, g, m, err)) != 0) break;
        long area = 0;
        for (size_t p = 0; p < np; ++p) area += m[p];
        L->unit_area[k] += (double)area;
        if (area == 0) continue;
        for (int c = 0; c < L->n_concepts; ++c) {
            const unsigned char *lc = masks + c * np;
            long both = 0;
            for (size_t p = 0; p < np; ++p) both += m[p] & (lc[p] != 0);
            L->inter[(size_t)k * L->n_concepts + c] += (double)both;
        }
    }
    free(m);
    return rc;
}

double dx_dissect_iou(const dx_dissect_layer *L, int k, int c)
{
    double inter = L->inter[(size_t)k * L->n_concepts + c];
    double uni = L->unit_area[k] + L->concept_area[c] - inter;
    return uni > 0 ? inter / uni : 0;
}

void dx_dissect_label(const dx_dissect_layer *L, int k, dx_dissect_unit *out)
{
    *out = (dx_dissect_unit){-1, -1, 0, 0};
    for (int c = 0; c < L->n_concepts; ++c) {
        double v = dx_dissect_iou(L, k, c);
        if (out->best < 0 || v > out->iou) {
            out->second = out->best;
            out->second_iou = out->iou;
            out->best = c;
            out->iou = v;
        } else if (out->second < 0 || v > out->second_iou) {
            out->second = c;
            out->second_iou = v;
        }
    }
}

int dx_dissect_top_images(const dx_dissect_layer *L, int k, int n, int *out)
{
    if (n > L->n_images) n = L->n_images;
    for (int t = 0; t < n; ++t) { /* n is small (the report's thumbnails): a selection pass each */
        int best = -1;
        for (int i = 0; i < L->n_images; ++i) {
            int taken = 0;
            for (int s = 0; s < t && !taken; ++s) taken = out[s] == i;
            if (!taken && (best < 0 || L->image_max[(size_t)i * L->units + k] >
                                           L->image_max[(size_t)best * L->units + k]))
                best = i;
        }
        out[t] = best;
    }
    return n;
}
