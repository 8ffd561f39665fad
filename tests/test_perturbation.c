/* The perturbation methods (occlusion, RISE, LIME, KernelSHAP) and SLIC, against direct loops
 * over forward passes, closed forms on a linear model, and on the real Tiny Darknet. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "engine.h"
#include "helpers.h"
#include "methods/perturb.h"
#include "model.h"

static int ascending(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static dx_model *open_cfg(const char *file, uint64_t seed)
{
    char cfg[1200], weights[1200];
    snprintf(cfg, sizeof cfg, "%s/cfg/%s", getenv("DX_ROOT"), file);
    snprintf(weights, sizeof weights, "%s/w.weights", temp_dir());
    return open_random(cfg, weights, seed);
}

/* cfg/test-perturb-linear.cfg with the given weights (16*16*3) and bias 0: score = weights . x */
static dx_model *open_linear(const float *w)
{
    char cfg[1200], weights[1200];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-perturb-linear.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/linear.weights", temp_dir());
    FILE *f = fopen(weights, "wb");
    cr_assert(f);
    int header[3] = {0, 2, 0};
    uint64_t seen = 0;
    float bias = 0;
    fwrite(header, sizeof(int), 3, f);
    fwrite(&seen, sizeof seen, 1, f);
    fwrite(&bias, sizeof bias, 1, f);
    fwrite(w, sizeof(float), 16 * 16 * 3, f);
    fclose(f);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

/* A photo of the network's size: letterboxing leaves it unchanged. */
static dx_image random_photo(int w, int h, uint64_t seed)
{
    dx_image im = dx_make_image(w, h, 3);
    rng r = {seed};
    for (int k = 0; k < w * h * 3; ++k) im.data[k] = (float)rng_uniform(&r);
    return im;
}

/* The target score (the class's logit) of the model on x, by a plain forward. */
static float logit_of(dx_model *m, const float *x, int cls)
{
    dx_forward(m, x);
    return dx_output_of(m, dx_find_logit_layer(m))[cls];
}

static dx_result explain(dx_model *m, dx_image photo, const dx_request *req)
{
    dx_result r;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, req, &r, &err), 0, "%s", err.msg);
    return r;
}

static double stat_of(const dx_result *r, const char *name)
{
    for (int k = 0; k < r->n_stats; ++k)
        if (!strcmp(r->stats[k].name, name)) return r->stats[k].value;
    cr_assert_fail("no method stat '%s'", name);
    return 0;
}

static double max_abs(const float *v, int n)
{
    double m = 0;
    for (int k = 0; k < n; ++k) m = fmax(m, fabs(v[k]));
    return m;
}

/* Occlusion's map, recomputed by a plain loop: windows start at 0, S, 2S, ... plus one flush
 * with the far edge; each pixel gets the mean score drop of the windows covering it. */
static void occlusion_by_loop(dx_model *m, const float *x, const float *base, int cls, int window, int stride,
                              float *out)
{
    const network *net = dx_network(m);
    int c = net->c, h = net->h, w = net->w, plane = h * w;
    float s0 = logit_of(m, x, cls), *y = malloc(sizeof(float) * plane * c);
    float *count = calloc(plane, sizeof(float));
    memset(out, 0, sizeof(float) * plane);
    for (int y0 = 0;; y0 += stride) {
        int top = y0 + window >= h ? (h > window ? h - window : 0) : y0;
        for (int x0 = 0;; x0 += stride) {
            int left = x0 + window >= w ? (w > window ? w - window : 0) : x0;
            memcpy(y, x, sizeof(float) * plane * c);
            for (int k = 0; k < c; ++k)
                for (int i = top; i < top + window && i < h; ++i)
                    for (int j = left; j < left + window && j < w; ++j) y[k * plane + i * w + j] = base[k * plane + i * w + j];
            float drop = s0 - logit_of(m, y, cls);
            for (int i = top; i < top + window && i < h; ++i)
                for (int j = left; j < left + window && j < w; ++j) {
                    out[i * w + j] += drop;
                    count[i * w + j] += 1;
                }
            if (x0 + window >= w) break;
        }
        if (y0 + window >= h) break;
    }
    for (int p = 0; p < plane; ++p) out[p] /= count[p];
    free(y);
    free(count);
}

static void check_occlusion(int window, int stride, dx_occlude occlude, int batch)
{
    dx_model *m = open_cfg("test-classifier.cfg", 11);
    const network *net = dx_network(m);
    dx_image photo = random_photo(net->w, net->h, 12);
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_OCCLUSION;
    req.window = window;
    req.stride = stride;
    req.occlude = occlude;
    req.batch = batch;
    dx_result r = explain(m, photo, &req);
    /* the method left the model's forward state on the photo */
    cr_expect_eq(memcmp(m->input, photo.data, sizeof(float) * net->inputs), 0);
    cr_expect_eq(dx_output_of(m, dx_find_logit_layer(m))[r.class_id], r.logit);

    int plane = net->h * net->w;
    float *base = malloc(sizeof(float) * net->inputs), *expected = malloc(sizeof(float) * plane);
    for (int k = 0; k < 3; ++k) { /* the baseline, computed here */
        double mean = 0;
        for (int p = 0; p < plane; ++p) mean += photo.data[k * plane + p];
        for (int p = 0; p < plane; ++p)
            base[k * plane + p] = occlude == DX_OCCLUDE_MEAN ? (float)(mean / plane) : 0.f;
    }
    occlusion_by_loop(m, photo.data, base, r.class_id, window, stride, expected);
    double worst = 0, scale = max_abs(expected, plane);
    for (int p = 0; p < plane; ++p) worst = fmax(worst, fabs(r.native[p] - expected[p]));
    cr_log_info("occlusion window %d stride %d: max |map - loop| = %.3g (map scale %.3g)", window, stride,
                worst, scale);
    cr_expect(scale > 0, "the occlusion map is all zeros");
    cr_expect(worst <= 1e-5 * scale, "window %d stride %d: map differs from the loop by %.3g (scale %.3g)",
              window, stride, worst, scale);
    cr_expect_eq(r.signed_map, 1);
    free(base);
    free(expected);
    dx_result_free(&r);
    dx_free_image(photo);
    dx_close(m);
}

Test(perturbation, occlusion_one_pixel_equals_the_exhaustive_loop)
{
    check_occlusion(1, 1, DX_OCCLUDE_BLACK, 1);
}

Test(perturbation, occlusion_overlapping_windows_equal_the_loop)
{
    check_occlusion(5, 3, DX_OCCLUDE_MEAN, 7);
}

/* A model that sees only a 4x4 region (rows 2..5, columns 9..12): RISE's map must peak there,
 * and its 16 strongest pixels must be mostly there. (Its values carry a constant p E[f], the
 * same everywhere: what matters is where it rises above it.) */
Test(perturbation, rise_finds_the_region_the_model_sees)
{
    float *w = calloc(16 * 16 * 3, sizeof(float));
    for (int k = 0; k < 3; ++k)
        for (int y = 2; y < 6; ++y)
            for (int x = 9; x < 13; ++x) w[k * 256 + y * 16 + x] = 1;
    dx_model *m = open_linear(w);
    dx_image photo = dx_make_image(16, 16, 3);
    for (int k = 0; k < 16 * 16 * 3; ++k) photo.data[k] = 0.5f;
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_RISE;
    req.masks = 400;
    req.cell = 4;
    req.batch = 32;
    dx_result r = explain(m, photo, &req);
    float sorted[256];
    memcpy(sorted, r.native, sizeof sorted);
    qsort(sorted, 256, sizeof(float), ascending);
    int best = 0, strongest_inside = 0;
    for (int p = 0; p < 256; ++p) {
        if (r.native[p] > r.native[best]) best = p;
        int y = p / 16, x = p % 16;
        strongest_inside += r.native[p] >= sorted[256 - 16] && y >= 2 && y < 6 && x >= 9 && x < 13;
    }
    int by = best / 16, bx = best % 16;
    cr_log_info("RISE: maximum at (%d, %d); %d of the 16 strongest pixels in the region", bx, by, strongest_inside);
    cr_expect(by >= 2 && by < 6 && bx >= 9 && bx < 13, "maximum at (%d, %d), outside the region", bx, by);
    cr_expect(strongest_inside >= 10, "only %d of the 16 strongest pixels in the region", strongest_inside);
    dx_result_free(&r);
    dx_free_image(photo);
    dx_close(m);
    free(w);
}

/* Per-segment sums of a map whose value is constant on each segment: sum over segments of
 * the segment's value. */
static double sum_over_segments(const float *map, const int *labels, int plane, int segments)
{
    int *size = calloc(segments, sizeof(int));
    for (int p = 0; p < plane; ++p) size[labels[p]]++;
    double sum = 0;
    for (int p = 0; p < plane; ++p) sum += (double)map[p] / size[labels[p]];
    free(size);
    return sum;
}

/* On a linear model f(x) = w . x (baseline black) the Shapley value of a superpixel S is exactly
 * sum over S's pixels and channels of w (x - b): KernelSHAP must recover it, and LIME's ridge
 * fit must come close. */
Test(perturbation, kernelshap_is_exact_and_lime_close_on_a_linear_model)
{
    float *w = malloc(sizeof(float) * 16 * 16 * 3);
    rng g = {21};
    for (int k = 0; k < 16 * 16 * 3; ++k) w[k] = (float)rng_normal(&g);
    dx_model *m = open_linear(w);
    dx_image photo = random_photo(16, 16, 22);
    int labels[256];
    dx_error err;
    int segments = dx_slic(photo.data, 3, 16, 16, 16, DX_SLIC_COMPACTNESS, labels, &err);
    cr_assert(segments > 1);
    double *exact = calloc(segments, sizeof(double));
    for (int k = 0; k < 3; ++k)
        for (int p = 0; p < 256; ++p) exact[labels[p]] += (double)w[k * 256 + p] * photo.data[k * 256 + p]; /* b = 0 */

    dx_request req;
    dx_request_init(&req);
    req.segments = 16;
    req.samples = 200; /* far fewer than the 2^segments coalitions: most are sampled */
    req.method = DX_METHOD_KERNELSHAP;
    dx_result shap = explain(m, photo, &req);
    cr_expect(segments >= 10, "only %d superpixels", segments);
    req.method = DX_METHOD_LIME;
    dx_result lime = explain(m, photo, &req);
    double scale = 0, shap_err = 0, lime_err = 0;
    for (int j = 0; j < segments; ++j) scale = fmax(scale, fabs(exact[j]));
    for (int p = 0; p < 256; ++p) {
        shap_err = fmax(shap_err, fabs(shap.native[p] - exact[labels[p]]));
        lime_err = fmax(lime_err, fabs(lime.native[p] - exact[labels[p]]));
    }
    cr_log_info("linear model, %d superpixels: KernelSHAP max error %.3g, LIME %.3g (Shapley values up to %.3g); "
                "LIME r2 %.6f", segments, shap_err, lime_err, scale, stat_of(&lime, "r2"));
    cr_expect(shap_err <= 1e-4 * scale, "KernelSHAP is off the exact Shapley values by %.3g (scale %.3g)", shap_err, scale);
    cr_expect(lime_err <= 0.1 * scale, "LIME is off the linear model's contributions by %.3g (scale %.3g)", lime_err, scale);
    cr_expect(stat_of(&lime, "r2") > 0.99, "LIME's fit of a linear model has r2 %.4f", stat_of(&lime, "r2"));
    dx_result_free(&shap);
    dx_result_free(&lime);
    free(exact);
    dx_free_image(photo);
    dx_close(m);
    free(w);
}

/* On a non-linear model: rows "every superpixel" and "none" are the real model on the photo
 * and on the baseline (computed here), and KernelSHAP's values (read off its map) sum to their
 * difference. */
Test(perturbation, superpixel_methods_score_the_real_model_and_shap_is_efficient)
{
    dx_model *m = open_cfg("test-classifier.cfg", 31);
    const network *net = dx_network(m);
    int plane = net->h * net->w;
    dx_image photo = random_photo(net->w, net->h, 32);
    float *base = malloc(sizeof(float) * net->inputs);
    dx_request req;
    dx_request_init(&req);
    req.segments = 10;
    req.samples = 150;
    req.batch = 16;
    int labels[16 * 16];
    dx_error err;
    int segments = dx_slic(photo.data, 3, net->h, net->w, req.segments, DX_SLIC_COMPACTNESS, labels, &err);
    for (int run = 0; run < 4; ++run) {
        req.method = run % 2 ? DX_METHOD_KERNELSHAP : DX_METHOD_LIME;
        req.occlude = run < 2 ? DX_OCCLUDE_MEAN : DX_OCCLUDE_BLACK;
        for (int k = 0; k < 3; ++k) { /* the baseline, computed here */
            double mean = 0;
            for (int p = 0; p < plane; ++p) mean += photo.data[k * plane + p];
            for (int p = 0; p < plane; ++p) base[k * plane + p] = req.occlude == DX_OCCLUDE_MEAN ? (float)(mean / plane) : 0.f;
        }
        dx_result r = explain(m, photo, &req);
        float fx = logit_of(m, photo.data, r.class_id), fb = logit_of(m, base, r.class_id);
        double tol = 1e-5 * fmax(1, fabs(fx) + fabs(fb));
        cr_log_info("%s: f(x) %.6f (model %.6f), f(baseline) %.6f (model %.6f)", dx_method_name(r.method),
                    stat_of(&r, "f_x"), fx, stat_of(&r, "f_baseline"), fb);
        cr_expect(fabs(stat_of(&r, "f_x") - fx) <= tol, "%s: f(x) %.7g, the model says %.7g",
                  dx_method_name(r.method), stat_of(&r, "f_x"), fx);
        cr_expect(fabs(stat_of(&r, "f_baseline") - fb) <= tol, "%s: f(baseline) %.7g, the model says %.7g",
                  dx_method_name(r.method), stat_of(&r, "f_baseline"), fb);
        cr_expect_eq((int)stat_of(&r, "segments"), segments);
        if (r.method == DX_METHOD_KERNELSHAP) {
            double sum = sum_over_segments(r.native, labels, plane, segments);
            cr_log_info("kernelshap: sum of values %.7f, f(x) - f(baseline) %.7f, reported gap %.3g", sum, fx - fb,
                        stat_of(&r, "efficiency_gap"));
            cr_expect(fabs(sum - (fx - fb)) <= 1e-4 * fmax(1, fabs(fx - fb)), "values sum to %.7g, f(x) - f(b) = %.7g",
                      sum, fx - fb);
            cr_expect(fabs(stat_of(&r, "efficiency_gap")) <= 1e-4 * fmax(1, fabs(fx - fb)));
        }
        dx_result_free(&r);
    }
    free(base);
    dx_free_image(photo);
    dx_close(m);
}

/* Every segment one 4-connected piece, labels 0..n-1 all used, n near K. */
static int check_segments(const int *labels, int h, int w, int n, int k, const char *what)
{
    int *seen = calloc(n, sizeof(int)), *queue = malloc(sizeof(int) * h * w);
    unsigned char *visited = calloc(h * w, 1);
    int bad = 0;
    for (int p = 0; p < h * w; ++p) {
        if (labels[p] < 0 || labels[p] >= n) {
            cr_expect_fail("%s: pixel %d has label %d outside 0..%d", what, p, labels[p], n - 1);
            bad++;
            break;
        }
        if (visited[p]) continue;
        if (seen[labels[p]]++) {
            cr_expect_fail("%s: segment %d is in more than one piece", what, labels[p]);
            bad++;
        }
        int head = 0, tail = 0;
        queue[tail++] = p;
        visited[p] = 1;
        while (head < tail) {
            int q = queue[head++], y = q / w, x = q % w;
            int nb[4] = {x > 0 ? q - 1 : -1, x + 1 < w ? q + 1 : -1, y > 0 ? q - w : -1, y + 1 < h ? q + w : -1};
            for (int j = 0; j < 4; ++j)
                if (nb[j] >= 0 && !visited[nb[j]] && labels[nb[j]] == labels[p]) {
                    visited[nb[j]] = 1;
                    queue[tail++] = nb[j];
                }
        }
    }
    for (int j = 0; j < n; ++j)
        if (!seen[j]) {
            cr_expect_fail("%s: label %d is unused", what, j);
            bad++;
        }
    cr_log_info("SLIC %s: %d segments for K = %d", what, n, k);
    cr_expect(n >= k / 2 && n <= 2 * k, "%s: %d segments for K = %d", what, n, k);
    free(seen);
    free(queue);
    free(visited);
    return bad;
}

Test(perturbation, slic_segments_are_connected_cover_the_image_and_follow_edges)
{
    dx_error err;
    dx_image dog = dx_backend_load_image("/usr/share/darknet/data/dog.jpg", 0, 0);
    dx_image boxed = dx_backend_letterbox_image(dog, 224, 224);
    static int labels[224 * 224];
    int n = dx_slic(boxed.data, 3, 224, 224, 50, DX_SLIC_COMPACTNESS, labels, &err);
    check_segments(labels, 224, 224, n, 50, "dog.jpg 224x224");
    dx_image eagle = dx_backend_load_image("/usr/share/darknet/data/eagle.jpg", 96, 64);
    n = dx_slic(eagle.data, 3, 64, 96, 20, DX_SLIC_COMPACTNESS, labels, &err);
    check_segments(labels, 64, 96, n, 20, "eagle.jpg 96x64");
    /* two flat halves, red | blue, at a column off the grid: no segment crosses the edge */
    dx_image halves = dx_make_image(40, 40, 3);
    for (int y = 0; y < 40; ++y)
        for (int x = 0; x < 40; ++x) halves.data[(x < 23 ? 0 : 2) * 1600 + y * 40 + x] = 1;
    n = dx_slic(halves.data, 3, 40, 40, 16, DX_SLIC_COMPACTNESS, labels, &err);
    check_segments(labels, 40, 40, n, 16, "red | blue 40x40");
    int crossing = 0;
    for (int y = 0; y < 40; ++y)
        for (int x = 0; x < 40; ++x)
            for (int y2 = 0; y2 < 40; ++y2)
                if (labels[y * 40 + x] == labels[y2 * 40 + 39] && x < 23) crossing++;
    cr_expect_eq(crossing, 0, "%d pixel pairs share a segment across the colour edge", crossing);
    dx_free_image(dog);
    dx_free_image(boxed);
    dx_free_image(eagle);
    dx_free_image(halves);
}

/* Same seed, bit-identical maps; another seed, another map; another batch size, the same map
 * (to float rounding: a batched forward may sum in another order). */
Test(perturbation, seeded_methods_are_deterministic)
{
    dx_model *m = open_cfg("test-classifier.cfg", 51);
    dx_image photo = random_photo(16, 16, 52);
    const dx_method methods[] = {DX_METHOD_RISE, DX_METHOD_LIME, DX_METHOD_KERNELSHAP};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; ++k) {
        dx_request req;
        dx_request_init(&req);
        req.method = methods[k];
        req.masks = 60;
        req.samples = 60;
        req.segments = 10;
        dx_result a = explain(m, photo, &req), b = explain(m, photo, &req);
        req.batch = 7;
        dx_result batched = explain(m, photo, &req);
        req.seed = 2;
        dx_result c = explain(m, photo, &req);
        int n = a.native_h * a.native_w;
        cr_expect_eq(memcmp(a.native, b.native, sizeof(float) * n), 0, "%s: same seed, different maps",
                     dx_method_name(req.method));
        cr_expect_neq(memcmp(a.native, c.native, sizeof(float) * n), 0, "%s: seeds 1 and 2 give the same map",
                      dx_method_name(req.method));
        double worst = 0, scale = max_abs(a.native, n);
        for (int p = 0; p < n; ++p) worst = fmax(worst, fabs(a.native[p] - batched.native[p]));
        cr_expect(worst <= 1e-4 * scale, "%s: batch 7 differs from batch 1 by %.3g (scale %.3g)",
                  dx_method_name(req.method), worst, scale);
        dx_result_free(&a);
        dx_result_free(&b);
        dx_result_free(&batched);
        dx_result_free(&c);
    }
    dx_free_image(photo);
    dx_close(m);
}

/* Tiny Darknet on dog.jpg (the dog at x 113..417, y 162..541 of the 768x576 photo: 26% of it,
 * see test_classifier.c), small settings: every map is finite and its strongest 5% of pixels
 * lie mostly on the dog. Floors measured: see the log lines. */
Test(perturbation, tiny_darknet_maps_find_the_dog, .timeout = 300)
{
    dx_model *m = open_shared_model("imagenet/tiny", NULL);
    dx_error err;
    dx_request req;
    dx_request_init(&req);
    req.window = 56;
    req.stride = 56;
    req.masks = 80;
    req.samples = 60;
    req.segments = 20;
    req.batch = 8;
    const dx_method methods[] = {DX_METHOD_OCCLUSION, DX_METHOD_RISE, DX_METHOD_LIME, DX_METHOD_KERNELSHAP};
    const double floors[] = {0.9, 0.5, 0.8, 0.8};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; ++k) {
        req.method = methods[k];
        dx_result r;
        cr_assert_eq(dx_explain_file(m, "/usr/share/darknet/data/dog.jpg", &req, &r, &err), 0, "%s", err.msg);
        int n = r.w * r.h, finite = 1;
        for (int p = 0; p < n; ++p) finite &= isfinite(r.map[p]) != 0;
        cr_expect(finite, "%s: the map is not finite", dx_method_name(r.method));
        float *sorted = malloc(sizeof(float) * n);
        memcpy(sorted, r.map, sizeof(float) * n);
        qsort(sorted, n, sizeof(float), ascending);
        float cut = sorted[n - n / 20];
        int top = 0, inside = 0;
        for (int p = 0; p < n; ++p) {
            if (r.map[p] < cut) continue;
            int x = p % r.w, y = p / r.w;
            top++;
            inside += x >= 113 && x <= 417 && y >= 162 && y <= 541;
        }
        cr_log_info("%s on dog.jpg: %.0f%% of the strongest 5%% of the map on the dog (%.1f s)", dx_method_name(r.method),
                    100.0 * inside / top, r.ms_method / 1e3);
        cr_expect(inside >= floors[k] * top, "%s: only %d of the strongest %d pixels on the dog", dx_method_name(r.method),
                  inside, top);
        free(sorted);
        dx_result_free(&r);
    }
    dx_close(m);
}
