/* LRP's convolutions through oneDNN (plugin/layers/conv_onednn_lrp.c, from lrp/linear.c) against
 * the BLAS path: every rule with a linear form on every convolution option, layer by layer, and
 * whole passes of the test classifier; the relevance and the absorbed share agree within float
 * rounding, and a counter proves oneDNN ran each layer's convolutions. Changed weights announced
 * through dx_params_changed reach LRP's convolutions, which keep no weights of their own. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "engine.h"
#include "helpers.h"
#include "layers/onednn.h"
#include "lrp/lrp.h"
#include "model.h"
#include "targets.h"

/* oneDNN against BLAS, relative to the largest |relevance| of the BLAS path (the differences
 * measured: up to 6e-7). LRP-ε's denominators z + b + ε cross 0 (the others' keep a sign, and
 * zB's bounds are its input's), so its shares at outputs with z + b near 0 magnify the sums'
 * rounding, and the largest relevance is such a share: EPSILON_TOLERANCE at ε = 0.25 (7e-6
 * measured after the weights changed), DEFAULT_EPSILON_TOLERANCE at the default ε = 1e-6 (8.5e-5
 * measured). */
#define TOLERANCE 1e-6
#define EPSILON_TOLERANCE 2e-5
#define DEFAULT_EPSILON_TOLERANCE 3e-4

static long lrp_convs_of(const dx_model *m)
{
    long n = 0;
    for (int i = 0; i < m->n; ++i) n += dx_onednn_lrp_convs(m, i);
    return n;
}

/* Every option pjreddie's convolutions have (no dilation): 3 input channels (oneDNN's nchw
 * adjoint), strides 1 and 2, padding 0 and 1 (meeting both edges: odd sizes), 1x1 direct, 2x2,
 * 3x3, 5x5, depthwise, grouped, with and without batch norm; a [connected] layer (BLAS's). */
static const char options_cfg[] =
    "[net]\nwidth=23\nheight=17\nchannels=3\n\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=2\npad=1\nbatch_normalize=1\nactivation=relu\n\n"
    "[convolutional]\nfilters=8\ngroups=8\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=12\ngroups=4\nsize=3\nstride=1\npad=1\nactivation=linear\n\n"
    "[convolutional]\nfilters=12\nsize=1\nstride=1\npad=0\nbatch_normalize=1\nactivation=relu\n\n"
    "[convolutional]\nfilters=10\nsize=3\nstride=1\npad=0\nactivation=leaky\n\n"
    "[convolutional]\nfilters=10\nsize=5\nstride=2\npad=1\nbatch_normalize=1\nactivation=relu\n\n"
    "[convolutional]\nfilters=6\nsize=2\nstride=1\npad=0\nbatch_normalize=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=6\ngroups=6\nsize=5\nstride=2\npad=1\nactivation=relu\n\n"
    "[connected]\noutput=5\nactivation=linear\n\n[softmax]\n";
#define OPTION_CONVS 9

/* every rule lrp/linear.c runs (its -rules spelling): the first two are LRP-ε's */
static const char *const linear_rules[] = {"epsilon", "epsilon=0.25", "gamma", "alphabeta=2/1", "alpha1beta0", "zplus",
                                           "zplus-nobias", "zb", "flat", "w2"};
#define N_RULES (sizeof linear_rules / sizeof *linear_rules)

static dx_model *open_with(const char *name, const char *cfg_text, uint64_t seed, const char *onednn)
{
    setenv("DX_ONEDNN", onednn, 1);
    dx_model *m = open_cfg_text(name, cfg_text, seed);
    unsetenv("DX_ONEDNN");
    return m;
}

/* The rules of -rules "0:RULE" with layer 0's rule on every layer with weights (the spec allows
 * zb on layer 0 only; the engine takes it anywhere), after a forward. */
static dx_rule *rules_everywhere(dx_model *m, const char *rule)
{
    char spec[64];
    snprintf(spec, sizeof spec, "0:%s", rule);
    dx_error err;
    dx_rule *rules = dx_lrp_rules_for(m, NULL, spec, &err);
    cr_assert(rules, "%s", err.msg);
    for (int i = 1; i < m->n; ++i)
        if (m->net->layers[i].type == DX_LAYER_CONVOLUTIONAL || m->net->layers[i].type == DX_LAYER_CONNECTED) {
            rules[i] = rules[0];
            if (rules[i].kind != DX_RULE_ZBOX) continue;
            /* zB's bounds: those of the layer's input, as the rule assumes (a w - low w+ - high w-
             * >= 0); outside them its denominators cross 0 and magnify rounding as ε's do */
            const float *a = dx_output_of(m, i - 1);
            rules[i].low = rules[i].high = a[0];
            for (int k = 1; k < m->net->layers[i].inputs; ++k) {
                rules[i].low = fminf(rules[i].low, a[k]);
                rules[i].high = fmaxf(rules[i].high, a[k]);
            }
        }
    return rules;
}

/* Each convolution's input relevance from a random relevance at its output (the pass from layer
 * i down to i - 1, on one forward's outputs) with oneDNN's LRP convolutions and with the BLAS
 * path (m->onednn off for the pass only), for every rule. Returns the largest difference (of the
 * largest relevance) of the rules but LRP-ε; *layers: how many layer x rule comparisons. */
static double compare_layers(dx_model *m, const char *name, uint64_t seed, int *layers)
{
    float *x = malloc(sizeof(float) * m->net->inputs);
    rng r = {seed};
    for (int j = 0; j < m->net->inputs; ++j) x[j] = (float)rng_uniform(&r);
    dx_forward(m, x);
    double worst = 0;
    *layers = 0;
    for (size_t k = 0; k < N_RULES; ++k) {
        dx_rule *rules = rules_everywhere(m, linear_rules[k]);
        dx_rules set = {rules, .relevance = 1};
        for (int i = 0; i < m->n; ++i) {
            const dx_layer *l = &m->net->layers[i];
            if (l->type != DX_LAYER_CONVOLUTIONAL) continue;
            float *rout = malloc(sizeof(float) * l->outputs), *blas = malloc(sizeof(float) * l->inputs);
            for (int q = 0; q < l->outputs; ++q) rout[q] = (float)(2 * rng_uniform(&r) - 1);
            dx_error err;
            m->onednn = 0;
            long before = dx_onednn_lrp_convs(m, i);
            cr_assert_eq(dx_reverse_seeded(m, i, rout, i - 1, &set, &m->pass, &err), 0, "%s", err.msg);
            cr_assert_eq(dx_onednn_lrp_convs(m, i), before, "%s: oneDNN ran with oneDNN off", name);
            memcpy(blas, dx_pass_buf(&m->pass, i - 1), sizeof(float) * l->inputs);
            double absorbed_blas = m->pass.absorbed;
            m->onednn = 1;
            cr_assert_eq(dx_reverse_seeded(m, i, rout, i - 1, &set, &m->pass, &err), 0, "%s", err.msg);
            cr_assert_gt(dx_onednn_lrp_convs(m, i), before, "%s: layer %d's LRP (%s) did not run through oneDNN", name, i,
                         linear_rules[k]);
            double largest, d = rel_diff(dx_pass_buf(&m->pass, i - 1), blas, (size_t)l->inputs, &largest);
            double total = 0;
            for (int q = 0; q < l->outputs; ++q) total += fabs(rout[q]);
            double d_absorbed = fabs(m->pass.absorbed - absorbed_blas) / total;
            cr_assert_gt(largest, 0, "%s: layer %d (%s): no relevance to compare", name, i, linear_rules[k]);
            cr_log_info("%s layer %d (%dx%d/%d pad %d, groups %d, bn %d) %s: %.2g of %.3g, absorbed %.2g\n", name, i,
                        l->size, l->size, l->stride, l->pad, l->groups, l->batch_normalize, linear_rules[k], d, largest,
                        d_absorbed);
            double tolerance = k == 0 ? DEFAULT_EPSILON_TOLERANCE : k == 1 ? EPSILON_TOLERANCE : TOLERANCE;
            cr_expect_leq(d, tolerance, "%s: layer %d's relevance (%s) differs from the BLAS path's by %.3g", name, i,
                          linear_rules[k], d);
            cr_expect_leq(d_absorbed, tolerance, "%s: layer %d's absorbed relevance (%s) differs by %.3g", name, i,
                          linear_rules[k], d_absorbed);
            if (k > 1) worst = fmax(worst, fmax(d, d_absorbed));
            free(rout);
            free(blas);
            ++*layers;
        }
        free(rules);
    }
    free(x);
    return worst;
}

Test(lrp_onednn, each_rule_and_option_equals_blas, .timeout = 120)
{
    dx_model *m = open_with("lrp_options", options_cfg, 31, "1");
    int layers;
    double worst = compare_layers(m, "options.cfg", 11, &layers);
    cr_log_info("%d layer x rule comparisons, largest difference %.2g\n", layers, worst);
    cr_assert_eq(layers, OPTION_CONVS * (int)N_RULES);
    /* the [connected] layer stays BLAS's */
    cr_assert_eq(dx_onednn_lrp_convs(m, OPTION_CONVS), 0);
    dx_close(m);
}

/* Changed weights (eval's randomisation test) reach LRP's convolutions: nothing made from the
 * old weights is used again (stale ones differ by a factor of -2, or of 4 for w², and a changed
 * batch-norm scale). */
Test(lrp_onednn, changed_weights_reach_lrp, .timeout = 120)
{
    dx_model *m = open_with("lrp_changed", options_cfg, 32, "1");
    int layers;
    compare_layers(m, "before the change", 12, &layers);
    for (int i = 1; i < 4; ++i) {
        dx_layer *l = &m->net->layers[i];
        for (int k = 0; k < l->nweights; ++k) l->weights[k] *= -2.f;
        if (l->batch_normalize) l->scales[0] += 1.f;
        dx_params_changed(m, i);
    }
    compare_layers(m, "changed weights", 13, &layers);
    cr_assert_eq(layers, OPTION_CONVS * (int)N_RULES);
    dx_close(m);
}

/* Whole passes of the test classifier (batch norm, grouped, 1x1, shortcut, route, pools,
 * connected) from a random relevance at the logits to the input: bench-peers' setting (flat on
 * the first layer, ε after) and the default composite, oneDNN's LRP convolutions against BLAS's
 * on the same forward; conservation's bookkeeping (input + absorbed = target) holds on both.
 * LRP keeps no weights beside the forward's (they would be four more copies of the convolutions'
 * weights under the default composite: docs/benchmarks.md). */
Test(lrp_onednn, test_classifier_passes_equal_blas, .timeout = 120)
{
    char cfg[1024], weights[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", getenv("DX_ROOT") ? getenv("DX_ROOT") : ".");
    snprintf(weights, sizeof weights, "%s/lrp_onednn.weights", temp_dir());
    setenv("DX_ONEDNN", "1", 1);
    dx_model *m = open_random(cfg, weights, 33);
    unsetenv("DX_ONEDNN");
    float *x = malloc(sizeof(float) * m->net->inputs);
    rng r = {34};
    for (int j = 0; j < m->net->inputs; ++j) x[j] = (float)rng_uniform(&r);
    dx_forward(m, x);
    long kept = dx_onednn_kept_weight_bytes(m), scratch = 0;
    cr_assert_gt(kept, 0, "the forward keeps no weights: oneDNN did not run it");
    int top = dx_find_logit_layer(m), n_top = m->net->layers[top].outputs, convs = 0;
    for (int i = 0; i < m->n; ++i) {
        convs += m->net->layers[i].type == DX_LAYER_CONVOLUTIONAL;
        long floats = m->net->layers[i].type == DX_LAYER_CONVOLUTIONAL ? dx_onednn_lrp_prepare(m, i) : 0;
        if (floats > scratch) scratch = floats;
    }
    /* oneDNN's layouts are blocked on x86: the weights made at each call are reordered into the
     * pass's scratch, the path these passes then check */
    cr_assert_gt(scratch, 0, "no layer's LRP weights are reordered: that path is not covered here");
    float *seed = malloc(sizeof(float) * n_top), *blas = malloc(sizeof(float) * m->net->inputs);
    for (int q = 0; q < n_top; ++q) seed[q] = (float)rng_uniform(&r);
    const char *composites[] = {NULL, DX_LRP_DEFAULT_COMPOSITE};
    for (int c = 0; c < 2; ++c) {
        dx_error err;
        dx_rule *rules = dx_lrp_rules_for(m, composites[c], composites[c] ? NULL : "0:flat,1-:epsilon", &err);
        cr_assert(rules, "%s", err.msg);
        dx_rules set = {rules, .relevance = 1};
        double absorbed[2], input[2];
        for (int on = 0; on < 2; ++on) {
            m->onednn = on;
            long before = lrp_convs_of(m);
            cr_assert_eq(dx_reverse_seeded(m, top, seed, -1, &set, &m->pass, &err), 0, "%s", err.msg);
            const float *rel = dx_pass_buf(&m->pass, -1);
            input[on] = 0;
            for (int j = 0; j < m->net->inputs; ++j) input[on] += rel[j];
            absorbed[on] = m->pass.absorbed;
            cr_expect_leq(fabs(input[on] + absorbed[on] - m->pass.seed_sum), 1e-4 * fabs(m->pass.seed_sum) + 1e-6,
                          "conservation: input %g + absorbed %g != target %g", input[on], absorbed[on], m->pass.seed_sum);
            if (on) {
                /* each convolution's forward and adjoint for each base with an input */
                cr_assert_geq(lrp_convs_of(m) - before, 2 * convs, "oneDNN ran %ld LRP convolutions for %d layers",
                              lrp_convs_of(m) - before, convs);
                double largest, d = rel_diff(rel, blas, (size_t)m->net->inputs, &largest);
                cr_log_info("test classifier %s: input relevance differs by %.2g of %.3g, absorbed %.6g vs %.6g\n",
                            composites[c] ? composites[c] : "0:flat,1-:epsilon", d, largest, absorbed[1], absorbed[0]);
                cr_expect_leq(d, TOLERANCE, "input relevance differs from the BLAS path's by %.3g", d);
                cr_expect_leq(fabs(absorbed[1] - absorbed[0]), TOLERANCE * fabs(m->pass.seed_sum) + 1e-6);
            } else {
                cr_assert_eq(lrp_convs_of(m), before, "oneDNN ran with oneDNN off");
                memcpy(blas, rel, sizeof(float) * m->net->inputs);
            }
        }
        /* without memory for a call's buffers (the model's call buffer dropped, every optional
         * allocation failing) each convolution falls back to the BLAS path: BLAS's relevance
         * exactly, and no oneDNN convolution */
        free(m->onednn_buffer);
        m->onednn_buffer = NULL;
        m->onednn_buffer_bytes = 0;
        long before = lrp_convs_of(m);
        setenv("DX_FAIL_OPTIONAL_ALLOC", "1", 1);
        int rc = dx_reverse_seeded(m, top, seed, -1, &set, &m->pass, &err);
        unsetenv("DX_FAIL_OPTIONAL_ALLOC");
        cr_assert_eq(rc, 0, "%s", err.msg);
        cr_expect_eq(lrp_convs_of(m), before, "oneDNN ran without memory for its buffers");
        cr_expect_eq(memcmp(dx_pass_buf(&m->pass, -1), blas, sizeof(float) * m->net->inputs), 0,
                     "the fallback's relevance is not the BLAS path's");
        free(rules);
    }
    cr_expect_eq(dx_onednn_kept_weight_bytes(m), kept, "LRP kept %ld bytes of weights",
                 dx_onednn_kept_weight_bytes(m) - kept);
    free(seed);
    free(blas);
    free(x);
    dx_close(m);
}
