/* Incremental inference (plugin/incremental.c): after a change inside a rectangle of the input,
 * every layer's output equals a full forward on the changed input, while far fewer outputs are
 * recomputed; restoring gives back the clean forward state bit for bit. On random-weight test
 * cfgs (convolutions with padding, stride 2, groups, batch norm; max-pools with stride 1 and 2;
 * route, shortcut, upsample, dropout, two [yolo] heads) and on the shared real models. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "helpers.h"
#include "incremental.h"
#include "model.h"

static long total_outputs(const dx_model *m)
{
    long n = 0;
    for (int i = 0; i < m->n; ++i) n += m->net->layers[i].outputs;
    return n;
}

/* Changes the input inside r (to values the clean input does not hold), runs the incremental
 * forward and compares every layer with a full forward; then restores and compares with the
 * clean state. Returns the fraction of outputs the incremental forward recomputed. */
static double check_rect(dx_model *m, const float *x, dx_rect r, double tolerance, uint64_t seed)
{
    const dx_net *net = m->net;
    int plane = net->h * net->w;
    dx_error err;
    dx_forward(m, x);
    dx_incremental *inc = dx_incremental_begin(m, &err);
    cr_assert(inc, "%s", err.msg);
    rng g = {seed};
    for (int c = 0; c < net->c; ++c)
        for (int y = r.y0; y < r.y1; ++y)
            for (int xx = r.x0; xx < r.x1; ++xx) m->input[c * plane + y * net->w + xx] = (float)rng_uniform(&g);
    float *changed = malloc(sizeof(float) * net->inputs);
    memcpy(changed, m->input, sizeof(float) * net->inputs);
    long recomputed = dx_incremental_forward(inc, r);

    float **incremental = malloc(sizeof(float *) * m->n);
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        incremental[i] = malloc(sizeof(float) * l->outputs);
        memcpy(incremental[i], l->output, sizeof(float) * l->outputs);
    }
    dx_forward(m, changed); /* the full forward on the same input */
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        double worst = 0, scale = 0;
        for (int k = 0; k < l->outputs; ++k) {
            worst = fmax(worst, fabs(incremental[i][k] - l->output[k]));
            scale = fmax(scale, fabs(l->output[k]));
        }
        cr_expect(worst <= tolerance * fmax(scale, 1e-3),
                  "layer %d: incremental differs from the full forward by %.3g (outputs up to %.3g), rect %d,%d-%d,%d",
                  i, worst, scale, r.y0, r.x0, r.y1, r.x1);
        free(incremental[i]);
    }
    free(incremental);

    /* back to the clean state: the same outputs as a full forward on x, exactly */
    dx_forward(m, x);
    float **clean = malloc(sizeof(float *) * m->n);
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        clean[i] = malloc(sizeof(float) * l->outputs);
        memcpy(clean[i], l->output, sizeof(float) * l->outputs);
    }
    dx_incremental_end(inc);
    inc = dx_incremental_begin(m, &err);
    cr_assert(inc, "%s", err.msg);
    memcpy(m->input, changed, sizeof(float) * net->inputs);
    dx_incremental_forward(inc, r);
    dx_incremental_restore(inc);
    cr_expect_eq(memcmp(m->input, x, sizeof(float) * net->inputs), 0, "restore left the changed input");
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        cr_expect_eq(memcmp(clean[i], l->output, sizeof(float) * l->outputs), 0, "layer %d not restored exactly", i);
        free(clean[i]);
    }
    free(clean);
    dx_incremental_end(inc);
    free(changed);
    return (double)recomputed / total_outputs(m);
}

static float *random_input(const dx_model *m, uint64_t seed)
{
    float *x = malloc(sizeof(float) * m->net->inputs);
    rng g = {seed};
    for (int k = 0; k < m->net->inputs; ++k) x[k] = (float)rng_uniform(&g);
    return x;
}

static dx_model *open_test_cfg(const char *file, uint64_t seed)
{
    char cfg[1200], weights[1200];
    snprintf(cfg, sizeof cfg, "%s/cfg/%s", getenv("DX_ROOT"), file);
    snprintf(weights, sizeof weights, "%s/w.weights", temp_dir());
    return open_random(cfg, weights, seed);
}

/* Rectangles: one pixel in a corner, a window inside, a window at the far edge, a band, all. */
static void check_rects(dx_model *m, const float *x, double tolerance, double small_fraction_bound)
{
    int h = m->net->h, w = m->net->w, q = h / 8 > 1 ? h / 8 : 1;
    dx_rect rects[] = {{0, 0, 1, 1}, {h / 2, w / 3, h / 2 + q, w / 3 + q}, {h - q, w - q, h, w},
                       {h / 4, 0, h / 4 + 2, w}, {0, 0, h, w}};
    for (int k = 0; k < 5; ++k) {
        double fraction = check_rect(m, x, rects[k], tolerance, 100 + k);
        cr_log_info("%s rect %d,%d-%d,%d: %.1f%% of the outputs recomputed", m->cfg_path, rects[k].y0,
                    rects[k].x0, rects[k].y1, rects[k].x1, 100 * fraction);
        if (k == 1) cr_expect(fraction < small_fraction_bound, "an interior window recomputed %.2f of the outputs", fraction);
        if (k == 4) cr_expect(fraction > 0.999, "the whole input changed but only %.3f was recomputed", fraction);
    }
}

static void check_test_cfg(const char *file, uint64_t seed)
{
    dx_model *m = open_test_cfg(file, seed);
    float *x = random_input(m, seed + 1);
    check_rects(m, x, 1e-5, 0.6);
    free(x);
    dx_close(m);
}

Test(incremental, classifier_layers_equal_a_full_forward)
{
    check_test_cfg("test-classifier.cfg", 31);
}

Test(incremental, detector_layers_equal_a_full_forward)
{
    check_test_cfg("test-detector.cfg", 41);
}

static void check_shared(const char *model, double small_fraction_bound)
{
    dx_model *m = open_shared_model(model, NULL);
    float *x = random_input(m, 51);
    int h = m->net->h, w = m->net->w;
    /* occlusion's default window (32 px) inside the photo, and one at the corner */
    dx_rect rects[] = {{h / 2, w / 2, h / 2 + 32, w / 2 + 32}, {0, 0, 32, 32}};
    for (int k = 0; k < 2; ++k) {
        double fraction = check_rect(m, x, rects[k], 1e-4, 60 + k);
        cr_log_info("%s window at %d,%d: %.1f%% of the outputs recomputed", model, rects[k].y0, rects[k].x0, 100 * fraction);
        cr_expect(fraction < small_fraction_bound, "%s: a 32-px window recomputed %.2f of the outputs", model, fraction);
    }
    free(x);
    dx_close(m);
}

Test(incremental, tiny_darknet_layers_equal_a_full_forward, .timeout = 120)
{
    check_shared("imagenet/tiny", 0.5);
}

Test(incremental, yolo_fastest_layers_equal_a_full_forward, .timeout = 120)
{
    check_shared("coco/yolo-fastest-1.1", 0.5);
}

/* Occlusion of a detector's box (the anchor and cell overlapping a region), incremental and not:
 * the same map. */
Test(incremental, occlusion_of_a_box_equals_full_forwards)
{
    dx_model *m = open_test_cfg("test-detector.cfg", 71);
    dx_image photo = dx_make_image(m->net->w, m->net->h, 3);
    float *x = random_input(m, 72);
    memcpy(photo.data, x, sizeof(float) * m->net->inputs);
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_OCCLUSION;
    req.window = 6;
    req.stride = 3;
    req.use_region = 1;
    req.region[0] = 8, req.region[1] = 10, req.region[2] = 12, req.region[3] = 9;
    dx_result r[2];
    dx_error err;
    for (int incremental = 0; incremental < 2; ++incremental) {
        dx_set_incremental(m, incremental);
        cr_assert_eq(dx_explain_image(m, photo, &req, &r[incremental], &err), 0, "%s", err.msg);
    }
    int plane = r[0].native_h * r[0].native_w;
    double worst = 0, scale = 0;
    for (int p = 0; p < plane; ++p) {
        worst = fmax(worst, fabs(r[1].native[p] - r[0].native[p]));
        scale = fmax(scale, fabs(r[0].native[p]));
    }
    cr_log_info("box occlusion: incremental vs full forwards %.3g (map scale %.3g)", worst, scale);
    cr_expect(scale > 0, "the occlusion map is all zeros");
    cr_expect(worst <= 1e-5 * scale, "incremental occlusion differs by %.3g (scale %.3g)", worst, scale);
    for (int k = 0; k < 2; ++k) dx_result_free(&r[k]);
    free(x);
    dx_free_image(photo);
    dx_close(m);
}
