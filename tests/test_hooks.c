/* The forward hooks: the forward stays Darknet's (bit for bit, with DX_ONEDNN=0: oneDNN's
 * convolutions equal it within rounding, tests/test_onednn.c), capture and timing do what they
 * say, and several open models each find their own hooks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "engine.h"
#include "helpers.h"
#include "hooks.h"
#include "model.h"

static dx_model *open_project_cfg(const char *file, const char *dir, uint64_t seed, char *cfg, char *weights)
{
    sprintf(cfg, "%s/cfg/%s", getenv("DX_ROOT"), file);
    sprintf(weights, "%s/%s.weights", dir, file);
    return open_random(cfg, weights, seed);
}

static void expect_same_as_plain_darknet(dx_model *m, const char *cfg, const char *weights, uint64_t seed)
{
    /* the project's cfgs say batch=1, so Darknet can load them as they are */
    network *plain = load_network((char *)cfg, (char *)weights, 0);
    network *hooked = dx_network(m);
    /* bit for bit against Darknet's own gemm: the BLAS gemm_cpu rounds differently (its own
     * tolerance is in test_speed.c); the grouped-convolution stand-in adds the same terms in
     * the same order as Darknet's gemm, so it is held to bit equality here */
    dx_set_blas(0);
    cr_assert_eq(plain->n, hooked->n);
    rng r = {seed};
    float *x = malloc(sizeof(float) * plain->inputs);
    for (int k = 0; k < plain->inputs; ++k) x[k] = (float)rng_uniform(&r);
    network_predict(plain, x);
    dx_forward(m, x);
    for (int i = 0; i < plain->n; ++i)
        cr_expect_eq(memcmp(plain->layers[i].output, hooked->layers[i].output,
                            sizeof(float) * plain->layers[i].outputs), 0,
                     "%s: layer %d's output differs from Darknet's own forward", cfg, i);
    dx_set_blas(1);
    free(x);
    free_network(plain);
}

Test(hooks, forward_is_darknets_bit_for_bit)
{
    const char *dir = temp_dir();
    char cfg[2][1200], weights[2][1200];
    setenv("DX_ONEDNN", "0", 1);
    /* two models open at once: each layer call must find its own model's hooks */
    dx_model *a = open_project_cfg("test-classifier.cfg", dir, 1, cfg[0], weights[0]);
    dx_model *b = open_project_cfg("test-detector.cfg", dir, 2, cfg[1], weights[1]);
    expect_same_as_plain_darknet(a, cfg[0], weights[0], 10);
    expect_same_as_plain_darknet(b, cfg[1], weights[1], 11);
    dx_close(a);
    expect_same_as_plain_darknet(b, cfg[1], weights[1], 12);
    dx_close(b);
}

Test(hooks, capture_keeps_a_copy_of_the_asked_layer_only)
{
    char cfg[1200], weights[1200];
    dx_model *m = open_project_cfg("test-classifier.cfg", temp_dir(), 3, cfg, weights);
    network *net = dx_network(m);
    cr_assert_eq(dx_capture(m, 5, 1), 0);
    cr_expect_eq(dx_capture(m, net->n, 1), -1, "capture of a layer that does not exist");
    float *x = calloc(net->inputs, sizeof(float));
    for (int round = 0; round < 2; ++round) {
        for (int k = 0; k < net->inputs; ++k) x[k] = (float)((k * (round + 3)) % 11) / 11;
        dx_forward(m, x);
        cr_expect_eq(memcmp(m->hooks[5].capture, net->layers[5].output, sizeof(float) * net->layers[5].outputs), 0,
                     "round %d: the capture differs from the layer's output", round);
    }
    for (int i = 0; i < net->n; ++i)
        if (i != 5) cr_expect_null(m->hooks[i].capture, "layer %d captured without being asked", i);
    float kept = m->hooks[5].capture[0];
    for (int k = 0; k < net->inputs; ++k) x[k] = 1 - x[k];
    dx_forward(m, x);
    cr_expect_neq(net->layers[5].output[0], kept);
    dx_capture(m, 5, 0);
    cr_expect_null(m->hooks[5].capture);
    free(x);
    dx_close(m);
}

Test(hooks, timing_counts_every_layer)
{
    char cfg[1200], weights[1200];
    dx_model *m = open_project_cfg("test-detector.cfg", temp_dir(), 4, cfg, weights);
    network *net = dx_network(m);
    float *x = calloc(net->inputs, sizeof(float));
    dx_forward(m, x);
    for (int i = 0; i < net->n; ++i) cr_expect_eq(m->hooks[i].calls, 0, "timing is off by default");
    dx_set_layer_timing(m, 1);
    dx_forward(m, x);
    dx_forward(m, x);
    for (int i = 0; i < net->n; ++i) {
        cr_expect_eq(m->hooks[i].calls, 2, "layer %d timed %ld times", i, m->hooks[i].calls);
        cr_expect(dx_layer_forward_ms(m, i) >= 0);
    }
    cr_expect(dx_layer_forward_ms(m, 0) > 0, "the first convolution took no time");
    cr_expect_eq(dx_layer_forward_ms(m, net->n), -1);
    free(x);
    dx_close(m);
}

/* A layer type without a backward is an error naming it, never a silent map. */
Test(hooks, layer_without_backward_is_named)
{
    const char *dir = temp_dir();
    char cfg[256], weights[256];
    sprintf(cfg, "%s/lrn.cfg", dir);
    sprintf(weights, "%s/lrn.weights", dir);
    write_text(cfg, "[net]\nwidth=8\nheight=8\nchannels=3\n"
                    "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"
                    "[normalization]\n"
                    "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"
                    "[avgpool]\n[softmax]\n");
    dx_model *m = open_random(cfg, weights, 5);
    network *net = dx_network(m);
    float *x = calloc(net->inputs, sizeof(float));
    float seed[4] = {1, 0, 0, 0};
    dx_error err;
    dx_forward(m, x);
    cr_expect_eq(dx_backward(m, 4, seed, 1, &err), 0, "above the LRN layer: %s", err.msg);
    cr_expect_eq(dx_backward(m, 4, seed, -1, &err), -1);
    cr_expect_str_eq(err.msg, "layer 1 [normalization]: darknet-explain has no backward for this layer "
                              "type; choose a layer above it");
    free(x);
    dx_close(m);
}

/* The hooks are the layers' own forward pointers, so a program that calls Darknet's
 * forward_network itself (no plugin call in between) still goes through them. */
Test(hooks, seen_by_direct_forward_network_calls)
{
    char cfg[1200], weights[1200];
    dx_model *m = open_project_cfg("test-classifier.cfg", temp_dir(), 6, cfg, weights);
    network *net = dx_network(m);
    dx_set_layer_timing(m, 1);
    network saved = *net; /* as network_predict does */
    for (int k = 0; k < net->inputs; ++k) net->input[k] = 0.5f;
    net->train = 0;
    net->truth = 0;
    forward_network(net);
    for (int i = 0; i < net->n; ++i) cr_expect_eq(m->hooks[i].calls, 1, "layer %d", i);
    *net = saved;
    dx_close(m);
}

/* DeepLIFT's re-run of a layer without its activation (dx_forward_layer_linear) is not the
 * model's forward: a capture keeps the activated output and -timing counts no extra call. */
Test(hooks, linear_rerun_touches_neither_capture_nor_timing)
{
    char cfg[1200], weights[1200];
    dx_model *m = open_project_cfg("test-classifier.cfg", temp_dir(), 3, cfg, weights);
    network *net = dx_network(m);
    int L = -1;
    for (int i = 0; i < net->n && L < 0; ++i)
        if (net->layers[i].type == CONVOLUTIONAL && net->layers[i].activation != LINEAR) L = i;
    cr_assert_geq(L, 0, "no activated convolution in test-classifier.cfg");
    cr_assert_eq(dx_capture(m, L, 1), 0);
    dx_set_layer_timing(m, 1);
    float *x = calloc(net->inputs, sizeof(float));
    for (int k = 0; k < net->inputs; ++k) x[k] = (float)(k % 13) / 13 - 0.5f;
    dx_forward(m, x);
    size_t n = (size_t)net->layers[L].outputs;
    float *activated = malloc(sizeof(float) * n);
    memcpy(activated, net->layers[L].output, sizeof(float) * n);
    long calls = m->hooks[L].calls;
    dx_forward_layer_linear(m, L);
    cr_assert_neq(memcmp(net->layers[L].output, activated, sizeof(float) * n), 0, "the re-run changed nothing");
    cr_expect_eq(memcmp(m->hooks[L].capture, activated, sizeof(float) * n), 0, "the capture holds the linear re-run");
    cr_expect_eq(m->hooks[L].calls, calls, "the linear re-run was timed as a forward");
    free(activated);
    free(x);
    dx_close(m);
}

/* Score-CAM's map of class 1 on photo, `batch` masked inputs per forward (more than 1: through the
 * model's batch copy). */
static dx_result scorecam(dx_model *m, dx_image photo, int batch)
{
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_SCORECAM;
    req.class_id = 1;
    req.batch = batch;
    dx_result r;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "%s", err.msg);
    return r;
}

static double max_abs_diff(const float *a, const float *b, int n, double *scale)
{
    double d = 0;
    *scale = 0;
    for (int k = 0; k < n; ++k) d = fmax(d, fabs((double)a[k] - b[k])), *scale = fmax(*scale, fabs((double)b[k]));
    return d;
}

/* Weights changed in place through dx_network, then announced with dx_params_changed: oneDNN's
 * folded weights and the batch copy (which loaded the weights as they were) follow the change. The
 * reference is Darknet's own forward (oneDNN off) at batch 1 on the changed weights. */
Test(hooks, params_changed_reaches_onednn_and_the_batch_copy)
{
    char cfg[1200], weights[1200];
    unsetenv("DX_ONEDNN");
    dx_model *m = open_project_cfg("test-classifier.cfg", temp_dir(), 4, cfg, weights);
    cr_assert(m->onednn, "oneDNN is the default");
    dx_image photo = noise_photo(16, 16, 3, 5);
    dx_result before = scorecam(m, photo, 4);
    cr_assert_not_null(m->batched, "-batch 4 scored through the batch copy");
    network *net = dx_network(m);
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if (l->type != CONVOLUTIONAL) continue;
        for (int k = 0; k < l->nweights; ++k) l->weights[k] *= (k % 3) - 1.25f;
        if (l->batch_normalize)
            for (int k = 0; k < l->n; ++k) l->scales[k] *= -1.5f;
    }
    dx_params_changed(m, -1);
    cr_expect_null(m->batched, "the batch copy holds the old weights");
    dx_result after = scorecam(m, photo, 4);
    dx_set_onednn(m, 0);
    dx_result darknet = scorecam(m, photo, 1);
    int n = after.native_h * after.native_w;
    cr_assert_eq(n, darknet.native_h * darknet.native_w);
    double scale, changed = max_abs_diff(before.native, darknet.native, n, &scale);
    cr_assert_gt(changed, 0.1 * scale, "the change of weights changes the map (%.3g of %.3g)", changed, scale);
    double d = max_abs_diff(after.native, darknet.native, n, &scale);
    cr_expect_leq(d, 1e-4 * scale, "after dx_params_changed: %.3g from Darknet's forward on the new weights (peak %.3g)",
                  d, scale);
    cr_log_info("changed weights: the map moved %.3g, follows Darknet's within %.2g (peak %.3g)", changed, d, scale);
    dx_result_free(&before);
    dx_result_free(&after);
    dx_result_free(&darknet);
    dx_free_image(photo);
    dx_close(m);
}

/* Without memory for oneDNN's layers (every dx_alloc_optional failing) the convolutions run
 * Darknet's own forward: no error, no layer through oneDNN, outputs bit for bit DX_ONEDNN=0's. */
Test(hooks, onednn_without_memory_falls_back_to_darknets_forward)
{
    char cfg[1200], weights[1200];
    unsetenv("DX_ONEDNN");
    dx_model *m = open_project_cfg("test-classifier.cfg", temp_dir(), 6, cfg, weights);
    cr_assert(m->onednn);
    network *net = dx_network(m);
    float *x = malloc(sizeof(float) * net->inputs), *plain = malloc(sizeof(float) * net->outputs);
    rng r = {7};
    for (int k = 0; k < net->inputs; ++k) x[k] = (float)rng_uniform(&r);
    dx_set_onednn(m, 0);
    dx_forward(m, x);
    memcpy(plain, net->output, sizeof(float) * net->outputs);
    dx_set_onednn(m, 1);
    setenv("DX_FAIL_OPTIONAL_ALLOC", "1", 1);
    dx_forward(m, x);
    unsetenv("DX_FAIL_OPTIONAL_ALLOC");
    cr_expect_eq(dx_onednn_layers_ran(m), 0, "%d layers ran through oneDNN without memory for them",
                 dx_onednn_layers_ran(m));
    cr_expect_eq(memcmp(plain, net->output, sizeof(float) * net->outputs), 0, "the output is not Darknet's forward's");
    dx_forward(m, x); /* with memory again: oneDNN builds its layers */
    cr_expect_gt(dx_onednn_layers_ran(m), 0, "oneDNN never tried again");
    free(x);
    free(plain);
    dx_close(m);
}
