/* The images that stand in for removed pixels (baseline.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "io/image.h"
#include "memory.h"
#include "methods/baseline.h"
#include "model.h"
#include "rng.h"

/* One pass of the separable filter: lines x len values, value i of line k at k*line_step + i*step. */
static void filter_lines(const float *in, int lines, int len, int line_step, int step, const float *kernel,
                         int radius, dx_edge edge, float *out)
{
    for (int k = 0; k < lines; ++k)
        for (int i = 0; i < len; ++i) {
            float v = 0;
            for (int d = -radius; d <= radius; ++d) {
                int at = i + d;
                if (at < 0 || at >= len) {
                    if (edge == DX_EDGE_ZERO) continue;
                    at = at < 0 ? 0 : len - 1;
                }
                v += kernel[d + radius] * in[(size_t)k * line_step + (size_t)at * step];
            }
            out[(size_t)k * line_step + (size_t)i * step] = v;
        }
}

int dx_gaussian_blur(const float *x, int c, int h, int w, float sigma, int radius, dx_edge edge, float *out,
                     dx_error *err)
{
    size_t plane = (size_t)h * w;
    float *kernel = dx_alloc(2 * (size_t)radius + 1, sizeof(float), "the blur", err);
    float *rows = dx_alloc(plane, sizeof(float), "the blur", err);
    if (!kernel || !rows) {
        free(kernel);
        free(rows);
        return -1;
    }
    double total = 0;
    for (int d = -radius; d <= radius; ++d) total += kernel[d + radius] = expf(-0.5f * d * d / (sigma * sigma));
    for (int d = 0; d <= 2 * radius; ++d) kernel[d] = (float)(kernel[d] / total);
    for (int k = 0; k < c; ++k) {
        filter_lines(x + k * plane, h, w, w, 1, kernel, radius, edge, rows);       /* along each row */
        filter_lines(rows, w, h, 1, w, kernel, radius, edge, out + k * plane);     /* along each column */
    }
    free(kernel);
    free(rows);
    return 0;
}

int dx_baseline_image(const float *x, int c, int h, int w, dx_occlude kind, float *out, dx_error *err)
{
    size_t plane = (size_t)h * w;
    if (kind == DX_OCCLUDE_BLACK) {
        memset(out, 0, sizeof(float) * plane * c);
    } else if (kind == DX_OCCLUDE_MEAN) {
        for (int k = 0; k < c; ++k) {
            double sum = 0;
            for (size_t p = 0; p < plane; ++p) sum += x[k * plane + p];
            for (size_t p = 0; p < plane; ++p) out[k * plane + p] = (float)(sum / plane);
        }
    } else {
        float sigma = (h < w ? h : w) / 16.f;
        if (sigma < 0.5f) sigma = 0.5f;
        return dx_gaussian_blur(x, c, h, w, sigma, (int)ceilf(3 * sigma), DX_EDGE_CLAMP, out, err);
    }
    return 0;
}

int dx_request_baseline(const dx_model *m, const dx_request *req, const float *x, float *base, dx_error *err)
{
    const dx_net *net = m->net;
    const char *spec = req->baseline ? req->baseline : "black";
    if (!strcmp(spec, "black")) {
        memset(base, 0, sizeof(float) * net->inputs);
    } else if (!strcmp(spec, "blur")) {
        float sigma = net->w / 16.f;
        return dx_gaussian_blur(x, net->c, net->h, net->w, sigma, (int)ceilf(3 * sigma), DX_EDGE_CLAMP, base, err);
    } else if (!strcmp(spec, "noise")) {
        dx_rng rng;
        dx_rng_init(&rng, req->seed);
        for (int k = 0; k < net->inputs; ++k) base[k] = (float)dx_rng_uniform(&rng);
    } else {
        dx_image photo;
        if (dx_load_model_photo(m, spec, &photo, err) != 0) {
            dx_error inner = *err;
            dx_set_error(err, "-baseline %s", inner.msg);
            return -1;
        }
        if (photo.c != net->c) {
            dx_set_error(err, "-baseline %s: the image has %d channels, the model's input %d", spec,
                         photo.c, net->c);
            dx_free_image(photo);
            return -1;
        }
        dx_image boxed = dx_fit_photo(m, photo); /* as the photo itself */
        memcpy(base, boxed.data, sizeof(float) * net->inputs);
        dx_free_image(boxed);
        dx_free_image(photo);
    }
    return 0;
}
