/* The oneDNN convolution forward (plugin/layers/conv_onednn.c) against Darknet's own: each
 * convolution option and activation layer by layer (within float rounding: batch norm is folded
 * into the weights, the sums run in oneDNN's order), whole models' top-5, scores and boxes, and a
 * reverse pass over oneDNN's forward. Its backward-data (the reverse pass's W^T d) against the
 * BLAS path layer by layer and over whole models, against finite differences, and after changed
 * weights. Every comparison checks that oneDNN really ran the layer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "../tools/shapes.h"
#include "engine.h"
#include "helpers.h"
#include "hooks.h"
#include "io/image.h"
#include "layers/layers.h"
#include "layers/onednn.h"
#include "model.h"

/* oneDNN against Darknet, relative to the layer's (or output's) largest |value| */
#define LAYER_TOLERANCE 1e-5
#define MAP_TOLERANCE 1e-4

/* How many of m's layer forwards (backwards) ran through oneDNN so far. */
static long forwards_of(const dx_model *m)
{
    long n = 0;
    for (int i = 0; i < m->n; ++i) n += dx_onednn_forwards(m, i);
    return n;
}

static long backwards_of(const dx_model *m)
{
    long n = 0;
    for (int i = 0; i < m->n; ++i) n += dx_onednn_backwards(m, i);
    return n;
}

/* The model of cfg_text (random weights) with the stand-ins DX_ONEDNN says (the hooks read it when
 * the model opens). */
static dx_model *open_with(const char *name, const char *cfg_text, uint64_t seed, const char *onednn)
{
    setenv("DX_ONEDNN", onednn, 1);
    dx_model *m = open_cfg_text(name, cfg_text, seed);
    unsetenv("DX_ONEDNN");
    return m;
}

static dx_model *open_file_with(const char *cfg, const char *weights, const char *onednn)
{
    setenv("DX_ONEDNN", onednn, 1);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    unsetenv("DX_ONEDNN");
    return m;
}

/* Each convolution of m, run on the input the full forward gave it, by Darknet and by oneDNN
 * (its output first filled with NaN: oneDNN must write all of it). Returns how many. */
static int compare_layers(dx_model *m, const char *name, uint64_t seed)
{
    float *x = malloc(sizeof(float) * m->net->inputs * m->net->batch);
    rng r = {seed};
    for (int j = 0; j < m->net->inputs * m->net->batch; ++j) x[j] = (float)rng_uniform(&r);
    dx_forward(m, x);
    int compared = 0;
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        if (l->type != DX_LAYER_CONVOLUTIONAL) continue;
        cr_assert(m->hooks[i].fast_forward == dx_forward_onednn_convolutional, "%s: layer %d is not oneDNN's", name, i);
        size_t n = (size_t)l->outputs * l->batch;
        float *darknet = darknet_layer_output(m, i);
        for (size_t k = 0; k < n; ++k) l->output[k] = NAN;
        long before = dx_onednn_forwards(m, i);
        dx_forward_layer(m, i);
        cr_assert_eq(dx_onednn_forwards(m, i), before + 1, "%s: layer %d did not run through oneDNN", name, i);
        double d = rel_diff(l->output, darknet, n, NULL);
        cr_log_info("%s layer %d (%s, %dx%d/%d pad %d, groups %d, bn %d, activation %d): %.2g\n", name, i,
                    l->type_name, l->size, l->size, l->stride, l->pad, l->groups, l->batch_normalize, l->activation, d);
        cr_expect_leq(d, LAYER_TOLERANCE, "%s: layer %d differs from Darknet's by %.3g of its largest output", name, i, d);
        free(darknet);
        ++compared;
    }
    free(x);
    return compared;
}

/* Every option the neutral table has for pjreddie's convolutions (its Darknet has no dilation):
 * with and without batch norm, strides 1 and 2, padding 0 and 1, 1x1, 2x2, 3x3, 5x5, depthwise,
 * grouped, odd sizes so padding meets both edges; the activations oneDNN computes as a post-op
 * (leaky, relu, linear, logistic, tanh, elu) and ones it has not (selu, ramp, lhtan, plse:
 * Darknet's own afterwards). */
static const char options_cfg[] =
    "[net]\nwidth=23\nheight=17\nchannels=3\n\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=2\npad=1\nbatch_normalize=1\nactivation=relu\n\n"
    "[convolutional]\nfilters=8\ngroups=8\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=12\ngroups=4\nsize=3\nstride=1\npad=1\nactivation=linear\n\n"
    "[convolutional]\nfilters=12\nsize=1\nstride=1\npad=0\nbatch_normalize=1\nactivation=logistic\n\n"
    "[convolutional]\nfilters=10\nsize=3\nstride=1\npad=0\nactivation=tanh\n\n"
    "[convolutional]\nfilters=10\nsize=5\nstride=2\npad=1\nbatch_normalize=1\nactivation=elu\n\n"
    "[convolutional]\nfilters=6\nsize=3\nstride=1\npad=1\nactivation=selu\n\n"
    "[convolutional]\nfilters=6\ngroups=6\nsize=5\nstride=2\npad=1\nactivation=ramp\n\n"
    "[convolutional]\nfilters=6\nsize=2\nstride=1\npad=0\nbatch_normalize=1\nactivation=lhtan\n\n"
    "[convolutional]\nfilters=4\nsize=1\nstride=1\npad=0\nactivation=plse\n\n"
    "[avgpool]\n\n[softmax]\n";

Test(onednn, each_option_equals_darknets_forward, .timeout = 120)
{
    dx_model *m = open_with("options", options_cfg, 21, "1");
    cr_assert_eq(compare_layers(m, "options.cfg", 5), 11);
    dx_close(m);
}

/* Several images per forward (the batch copies of scoring): oneDNN's primitive at that batch.
 * The copy follows its model's choice (dx_set_onednn), not the environment's. */
Test(onednn, batch_of_three_equals_darknets_forward, .timeout = 120)
{
    dx_model *m = open_with("options3", options_cfg, 22, "0");
    dx_set_onednn(m, 1);
    dx_error err;
    dx_model *b = dx_open_batch_copy(m, 3, &err);
    cr_assert(b, "%s", err.msg);
    cr_assert_eq(b->net->batch, 3);
    cr_assert_eq(compare_layers(b, "options.cfg at batch 3", 6), 11);
    dx_close(b);
    dx_close(m);
}

/* DX_ONEDNN=0: Darknet's forward, and the grouped stand-in where it applies. */
Test(onednn, off_keeps_darknets_forward)
{
    dx_model *m = open_with("options_off", options_cfg, 21, "0");
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        dx_fast_forward_fn want = l->type == DX_LAYER_CONVOLUTIONAL && l->groups > 1 ? dx_forward_grouped_convolutional : NULL;
        cr_expect(m->hooks[i].fast_forward == want, "layer %d", i);
    }
    float *x = calloc(m->net->inputs, sizeof(float));
    dx_forward(m, x);
    for (int i = 0; i < m->n; ++i) cr_expect_eq(dx_onednn_forwards(m, i), 0);
    free(x);
    dx_close(m);
}

/* Changed weights (eval's randomisation test) reach oneDNN's folded copy. */
Test(onednn, changed_weights_are_folded_again)
{
    dx_model *m = open_with("changed", options_cfg, 23, "1");
    float *x = malloc(sizeof(float) * m->net->inputs);
    rng r = {3};
    for (int j = 0; j < m->net->inputs; ++j) x[j] = (float)rng_uniform(&r);
    dx_forward(m, x);
    dx_layer *l = &m->net->layers[1];
    for (int k = 0; k < l->nweights; ++k) l->weights[k] *= -2.f;
    l->rolling_mean[0] += 1.f;
    dx_params_changed(m, 1);
    cr_assert_eq(compare_layers(m, "changed weights", 5), 11);
    free(x);
    dx_close(m);
}

static void project_path(const char *rel, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", getenv("DX_ROOT") ? getenv("DX_ROOT") : ".", rel);
}

/* cfg/test-classifier.cfg with random weights (seed; saved as NAME.weights in the temp folder)
 * twice: *on with oneDNN, *off with Darknet's forward. */
static void open_test_classifier_on_and_off(const char *name, uint64_t seed, dx_model **on, dx_model **off)
{
    char cfg[1024], weights[1024];
    project_path("cfg/test-classifier.cfg", cfg, sizeof cfg);
    snprintf(weights, sizeof weights, "%s/%s.weights", temp_dir(), name);
    setenv("DX_ONEDNN", "1", 1);
    *on = open_random(cfg, weights, seed);
    setenv("DX_ONEDNN", "0", 1);
    dx_error err;
    *off = dx_open(cfg, weights, NULL, &err);
    unsetenv("DX_ONEDNN"); /* copies follow their model */
    cr_assert(*off, "%s", err.msg);
}

/* Each convolution's input gradient from a random gradient at its output (the reverse pass from
 * layer i down to i - 1, on the outputs of one oneDNN forward) through oneDNN's backward-data and
 * through the BLAS path (m->onednn off for the backward only: the same forward outputs, so the
 * same d = gout * act' * bn), for the gradient, guided and DeconvNet rules. Returns how many
 * layers. */
static int compare_backwards(dx_model *m, const char *name, uint64_t seed)
{
    float *x = malloc(sizeof(float) * m->net->inputs);
    rng r = {seed};
    for (int j = 0; j < m->net->inputs; ++j) x[j] = (float)rng_uniform(&r);
    dx_forward(m, x);
    const dx_rules *rules[] = {&dx_gradient_rules, &dx_guided_rules, &dx_deconv_rules};
    int compared = 0;
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        if (l->type != DX_LAYER_CONVOLUTIONAL) continue;
        float *seed_out = malloc(sizeof(float) * l->outputs), *blas = malloc(sizeof(float) * l->inputs);
        for (int k = 0; k < l->outputs; ++k) seed_out[k] = (float)(2 * rng_uniform(&r) - 1);
        for (size_t k = 0; k < sizeof rules / sizeof *rules; ++k) {
            dx_error err;
            m->onednn = 0;
            cr_assert_eq(dx_reverse_seeded(m, i, seed_out, i - 1, rules[k], &m->pass, &err), 0, "%s", err.msg);
            memcpy(blas, dx_pass_buf(&m->pass, i - 1), sizeof(float) * l->inputs);
            m->onednn = 1;
            long before = dx_onednn_backwards(m, i);
            cr_assert_eq(dx_reverse_seeded(m, i, seed_out, i - 1, rules[k], &m->pass, &err), 0, "%s", err.msg);
            cr_assert_eq(dx_onednn_backwards(m, i), before + 1, "%s: layer %d's backward did not run through oneDNN", name, i);
            double d = rel_diff(dx_pass_buf(&m->pass, i - 1), blas, (size_t)l->inputs, NULL), largest = 0;
            for (int j = 0; j < l->inputs; ++j) largest = fmax(largest, fabs(blas[j]));
            cr_assert_gt(largest, 0, "%s: layer %d: no gradient to compare", name, i);
            cr_log_info("%s layer %d backward (%dx%d/%d pad %d, groups %d, bn %d, activation %d, rule %zu): %.2g of %.3g\n",
                        name, i, l->size, l->size, l->stride, l->pad, l->groups, l->batch_normalize, l->activation, k, d,
                        largest);
            cr_expect_leq(d, LAYER_TOLERANCE, "%s: layer %d's input gradient (rule %zu) differs from the BLAS path's by %.3g",
                          name, i, k, d);
        }
        free(seed_out);
        free(blas);
        ++compared;
    }
    free(x);
    return compared;
}

Test(onednn, each_option_backward_equals_blas, .timeout = 120)
{
    dx_model *m = open_with("options_bwd", options_cfg, 24, "1");
    cr_assert_eq(compare_backwards(m, "options.cfg", 7), 11);
    dx_close(m);
}

/* Changed weights (eval's randomisation test) reach oneDNN's backward: its reordered copy is
 * dropped and built again from the new weights (a stale copy differs by a factor of -2). */
Test(onednn, changed_weights_reach_the_backward)
{
    dx_model *m = open_with("changed_bwd", options_cfg, 25, "1");
    cr_assert_eq(compare_backwards(m, "before the change", 8), 11);
    for (int i = 0; i < m->n; ++i) cr_assert_gt(dx_onednn_backwards(m, i) + (m->net->layers[i].type != DX_LAYER_CONVOLUTIONAL), 0);
    for (int i = 1; i < 4; ++i) {
        dx_layer *l = &m->net->layers[i];
        for (int k = 0; k < l->nweights; ++k) l->weights[k] *= -2.f;
        if (l->batch_normalize) l->scales[0] += 1.f;
        dx_params_changed(m, i);
    }
    cr_assert_eq(compare_backwards(m, "changed weights", 9), 11);
    dx_close(m);
}

/* The plain gradient of a projection of the top layer's output on a random vector: with oneDNN
 * (forward and backward) and without, and the oneDNN one against finite differences (the forward
 * then is oneDNN's too). */
static float *random_floats(int n, uint64_t seed)
{
    rng r = {seed};
    float *v = malloc(sizeof(float) * n);
    for (int k = 0; k < n; ++k) v[k] = (float)(2 * rng_uniform(&r) - 1);
    return v;
}


Test(onednn, test_classifier_gradient_equals_blas_and_finite_differences, .timeout = 240)
{
    dx_model *on, *off;
    open_test_classifier_on_and_off("gradient", 31, &on, &off);
    int top = on->n - 1, outputs = on->net->layers[top].outputs, convs = 0;
    for (int i = 0; i < on->n; ++i) convs += on->net->layers[i].type == DX_LAYER_CONVOLUTIONAL;
    float *x = random_floats(on->net->inputs, 32), *proj = random_floats(outputs, 33);
    for (int k = 0; k < on->net->inputs; ++k) x[k] = (x[k] + 1) / 2;
    float *g_off = analytic_input_grad(off, top, proj, x), *g_on = analytic_input_grad(on, top, proj, x);
    cr_assert_eq(backwards_of(on), convs, "oneDNN ran %ld of the %d convolutions' backwards", backwards_of(on), convs);
    cr_assert_eq(backwards_of(off), 0);
    double d = rel_diff(g_on, g_off, (size_t)on->net->inputs, NULL);
    cr_log_info("test-classifier input gradient, oneDNN against BLAS: %.2g\n", d);
    cr_expect_leq(d, MAP_TOLERANCE, "the input gradient differs from the BLAS path's by %.3g", d);
    fd_report rep = fd_check_coords(on, top, proj, x, g_on, 80, 2e-3f, 34);
    cr_log_info("test-classifier through oneDNN: rel err %.2e, %d of %d coords agree to 1%% (%d skipped)\n", rep.rel_err,
                rep.agree, rep.used, rep.skipped);
    cr_expect(rep.used >= 2 * (rep.used + rep.skipped) / 3, "only %d of %d coordinates usable", rep.used,
              rep.used + rep.skipped);
    cr_expect(rep.agree >= 0.9 * rep.used, "analytic and finite differences agree at only %d of %d coordinates (rel err %.3g)",
              rep.agree, rep.used, rep.rel_err);
    double norm = 0, analytic, fd;
    for (int k = 0; k < on->net->inputs; ++k) norm += (double)g_on[k] * g_on[k];
    float *v = malloc(sizeof(float) * on->net->inputs);
    for (int k = 0; k < on->net->inputs; ++k) v[k] = (float)(g_on[k] / sqrt(norm));
    double rel = fd_directional(on, top, proj, x, g_on, v, 1e-3f, &analytic, &fd);
    cr_expect(rel < 1e-2, "along the gradient: analytic %.6g, finite differences %.6g", analytic, fd);
    free(v);
    free(g_on);
    free(g_off);
    free(proj);
    free(x);
    dx_close(off);
    dx_close(on);
}

/* A generated shapes photo (tools/shapes.c), the classifier's and detector's held-out kind. */
static dx_image shapes_photo(int index, int size, int objects)
{
    dx_image im;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(2, index, size, objects, &im, objs);
    return im;
}

/* The shapes classifier: top-5 and their scores, and the Grad-CAM and input-gradient (saliency)
 * maps (the reverse pass reads the layers' outputs oneDNN wrote, and its convolutions' W^T d is
 * oneDNN's backward-data) equal DX_ONEDNN=0's. */
Test(onednn, shapes_classifier_top5_scores_and_maps, .timeout = 240)
{
    char cfg[1024], weights[1024];
    project_path("cfg/shapes-classifier.cfg", cfg, sizeof cfg);
    project_path("cfg/shapes-classifier.weights", weights, sizeof weights);
    dx_model *off = open_file_with(cfg, weights, "0"), *on = open_file_with(cfg, weights, "1");
    dx_method methods[] = {DX_METHOD_GRADCAM, DX_METHOD_SALIENCY};
    for (int p = 0; p < 4; ++p) {
        dx_image photo = shapes_photo(p, 64, 1);
        for (size_t k = 0; k < sizeof methods / sizeof *methods; ++k) {
            dx_request req;
            dx_request_init(&req);
            req.method = methods[k];
            dx_result a, b;
            dx_error err;
            cr_assert_eq(dx_explain_image(off, photo, &req, &a, &err), 0, "%s", err.msg);
            cr_assert_eq(dx_explain_image(on, photo, &req, &b, &err), 0, "%s", err.msg);
            cr_assert_eq(a.ntop, b.ntop);
            for (int t = 0; t < a.ntop; ++t) {
                cr_expect_eq(a.top[t].cls, b.top[t].cls, "photo %d: top-%d", p, t + 1);
                cr_expect_leq(fabsf(a.top[t].prob - b.top[t].prob), 1e-5, "photo %d: top-%d's score", p, t + 1);
            }
            cr_expect_leq(fabsf(a.logit - b.logit), 1e-4 * fmaxf(1, fabsf(a.logit)));
            cr_assert_eq(a.native_h * a.native_w, b.native_h * b.native_w);
            double d = rel_diff(b.native, a.native, (size_t)a.native_h * a.native_w, NULL);
            cr_log_info("shapes classifier photo %d method %d: map differs by %.2g\n", p, methods[k], d);
            cr_expect_leq(d, MAP_TOLERANCE, "photo %d method %d: the map differs by %.3g", p, methods[k], d);
            dx_result_free(&a);
            dx_result_free(&b);
        }
        dx_free_image(photo);
    }
    cr_assert_gt(forwards_of(on), 0, "oneDNN never ran");
    cr_assert_gt(backwards_of(on), 0, "oneDNN's backward never ran");
    cr_assert_eq(backwards_of(off), 0);
    dx_close(off);
    dx_close(on);
}

Test(onednn, shapes_detector_boxes, .timeout = 240)
{
    char cfg[1024], weights[1024];
    project_path("cfg/shapes-detector.cfg", cfg, sizeof cfg);
    project_path("cfg/shapes-detector.weights", weights, sizeof weights);
    dx_model *off = open_file_with(cfg, weights, "0"), *on = open_file_with(cfg, weights, "1");
    int boxes = 0;
    for (int p = 0; p < 4; ++p) {
        dx_image photo = shapes_photo(p, off->net->w, 3);
        dx_request req;
        dx_request_init(&req);
        dx_detection *a, *b;
        int na, nb;
        dx_error err;
        cr_assert_eq(dx_detect_image(off, photo, &req, &a, &na, &err), 0, "%s", err.msg);
        cr_assert_eq(dx_detect_image(on, photo, &req, &b, &nb, &err), 0, "%s", err.msg);
        cr_assert_eq(na, nb, "photo %d: %d boxes with Darknet's forward, %d with oneDNN's", p, na, nb);
        for (int k = 0; k < na; ++k) {
            cr_expect_eq(a[k].cls, b[k].cls);
            cr_expect_leq(fabsf(a[k].bbox.x - b[k].bbox.x) + fabsf(a[k].bbox.y - b[k].bbox.y) +
                              fabsf(a[k].bbox.w - b[k].bbox.w) + fabsf(a[k].bbox.h - b[k].bbox.h), 1e-4,
                          "photo %d: box %d moved", p, k);
            cr_expect_leq(fabsf(a[k].score - b[k].score), 1e-5, "photo %d: box %d's score", p, k);
        }
        boxes += na;
        free(a);
        free(b);
        dx_free_image(photo);
    }
    cr_assert_gt(boxes, 3, "too few boxes to compare");
    cr_assert_gt(forwards_of(on), 0, "oneDNN never ran");
    dx_close(off);
    dx_close(on);
}

/* Tiny Darknet (../shared) on the shared photos: the same top-5. */
Test(onednn, tiny_darknet_top5, .timeout = 240)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    char cfg[1200], weights[1200];
    snprintf(cfg, sizeof cfg, "%s/models/imagenet/tiny.cfg", shared);
    snprintf(weights, sizeof weights, "%s/models/imagenet/tiny.weights", shared);
    dx_model *off = open_file_with(cfg, weights, "0"), *on = open_file_with(cfg, weights, "1");
    const char *photos[] = {"dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "scream.jpg", "chelsea.png"};
    for (size_t p = 0; p < sizeof photos / sizeof *photos; ++p) {
        char path[1400];
        snprintf(path, sizeof path, "%s/images/%s", shared, photos[p]);
        dx_request req;
        dx_request_init(&req);
        req.method = DX_METHOD_GRADCAM;
        dx_result a, b;
        dx_error err;
        cr_assert_eq(dx_explain_file(off, path, &req, &a, &err), 0, "%s", err.msg);
        cr_assert_eq(dx_explain_file(on, path, &req, &b, &err), 0, "%s", err.msg);
        for (int t = 0; t < 5; ++t) {
            cr_expect_eq(a.top[t].cls, b.top[t].cls, "%s: top-%d", photos[p], t + 1);
            cr_expect_leq(fabsf(a.top[t].prob - b.top[t].prob), 1e-4, "%s: top-%d's score", photos[p], t + 1);
        }
        double d = rel_diff(b.native, a.native, (size_t)a.native_h * a.native_w, NULL);
        cr_expect_leq(d, MAP_TOLERANCE, "%s: Grad-CAM differs by %.3g", photos[p], d);
        dx_result_free(&a);
        dx_result_free(&b);
    }
    cr_assert_gt(forwards_of(on), 0, "oneDNN never ran");
    dx_close(off);
    dx_close(on);
}

/* Occlusion's worker threads build their network copies' primitives, and the main thread closes
 * the copies: the model's own primitives must still run afterwards (with oneDNN's per-thread
 * scratchpad they wrote into a freed buffer: SIGSEGV), and the map equals DX_ONEDNN=0's. */
Test(onednn, occlusion_threads_then_forward, .timeout = 240)
{
    dx_model *on, *off; /* the workers' copies follow their model */
    open_test_classifier_on_and_off("occlusion", 11, &on, &off);
    dx_image photo = noise_photo(on->net->w, on->net->h, 3, 12);
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_OCCLUSION;
    req.window = 1;
    req.stride = 1;
    dx_result a, b;
    dx_error err;
    cr_assert_eq(dx_explain_image(on, photo, &req, &b, &err), 0, "%s", err.msg);
    /* forwards as a loop over windows would run them (the freed buffer is reused meanwhile) */
    float *x = malloc(sizeof(float) * on->net->inputs);
    for (int k = 0; k < on->net->inputs; ++k) {
        memcpy(x, photo.data, sizeof(float) * on->net->inputs);
        x[k] = 0;
        dx_forward(on, x);
    }
    free(x);
    int convs = 0;
    for (int i = 0; i < on->n; ++i) convs += on->net->layers[i].type == DX_LAYER_CONVOLUTIONAL;
    cr_assert_eq(compare_layers(on, "test-classifier after occlusion", 9), convs);
    cr_assert_eq(dx_explain_image(off, photo, &req, &a, &err), 0, "%s", err.msg);
    double d = rel_diff(b.native, a.native, (size_t)a.native_h * a.native_w, NULL);
    cr_log_info("occlusion map: %.2g\n", d);
    cr_expect_leq(d, MAP_TOLERANCE, "the occlusion map differs by %.3g", d);
    dx_result_free(&a);
    dx_result_free(&b);
    dx_free_image(photo);
    dx_close(off);
    dx_close(on);
}
