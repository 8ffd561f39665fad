/* LRP: relevances worked by hand, conservation (ε -> 0, no biases) through batch norm,
 * shortcut, route, maxpool, upsample and avgpool, the accounting of what biases and stabilisers
 * absorb, LRP-0 = gradient x input, z+ keeps signs, -rules errors, the CLI and the real models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "io/image.h"
#include "lrp/lrp.h"
#include "methods/methods.h"
#include "model.h"

static const char *cfg_path(const char *name)
{
    static __thread char path[1024];
    const char *root = getenv("DX_ROOT");
    snprintf(path, sizeof path, "%s/cfg/%s", root ? root : ".", name);
    return path;
}

/* Biases and batch-norm means to zero: every layer becomes z = W a (batch norm folded). */
static void zero_biases(dx_model *m)
{
    network *net = dx_network(m);
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        int n = l->type == CONVOLUTIONAL ? l->n : l->type == CONNECTED ? l->outputs : 0;
        for (int j = 0; j < n; ++j) {
            l->biases[j] = 0;
            if (l->batch_normalize) l->rolling_mean[j] = 0;
        }
    }
}

static float *uniform_input(dx_model *m, uint64_t seed)
{
    int n = dx_network(m)->inputs;
    float *x = malloc(sizeof(float) * n);
    rng r = {seed};
    for (int k = 0; k < n; ++k) x[k] = (float)rng_uniform(&r);
    return x;
}

/* score = one entry of a layer's output (a class logit, or a class logit of one YOLO box) */
static float entry_eval(const dx_target *t, const dx_model *m, float *seed)
{
    const dx_layer *l = &m->net->layers[t->layer];
    if (seed) {
        memset(seed, 0, sizeof(float) * l->outputs);
        seed[t->cls] = 1.f;
    }
    return l->output[t->cls];
}

/* The logit (the layer below the softmax, or the head) with the largest |value|. */
static dx_target largest_logit(dx_model *m)
{
    dx_target t = {.layer = dx_find_logit_layer(m), .eval = entry_eval};
    const layer *l = &dx_network(m)->layers[t.layer];
    for (int k = 1; k < l->outputs; ++k)
        if (fabsf(l->output[k]) > fabsf(l->output[t.cls])) t.cls = k;
    return t;
}

/* A YOLO target: class cls's logit (the input of the first [yolo]) at the anchor and cell of
 * the highest objectness. */
static dx_target yolo_class_logit(dx_model *m, int cls)
{
    network *net = dx_network(m);
    int y = 0;
    while (net->layers[y].type != YOLO) ++y;
    const layer *l = &net->layers[y];
    int plane = l->w * l->h, per_anchor = (4 + 1 + l->classes) * plane, best = 4 * plane;
    for (int a = 0; a < l->n; ++a)
        for (int q = 0; q < plane; ++q)
            if (l->output[a * per_anchor + 4 * plane + q] > l->output[best]) best = a * per_anchor + 4 * plane + q;
    dx_target t = {.layer = y - 1, .eval = entry_eval, .cls = best + (1 + cls) * plane};
    return t;
}

typedef struct {
    double target, input, absorbed, bypass, at_stop;
} lrp_sums;

/* Runs LRP with a -rules spec down to `stop`; copies the relevance there into out (may be NULL). */
static lrp_sums run_lrp(dx_model *m, const dx_target *t, const char *spec, int stop, float *out)
{
    dx_error err;
    dx_rule *rules = dx_lrp_rules_for(m, NULL, spec, &err);
    cr_assert(rules, "%s", err.msg);
    dx_pass p = {0};
    lrp_sums s = {0};
    cr_assert_eq(dx_reverse(m, t, stop, &(dx_rules){rules, .relevance = 1}, &p, &err), 0, "%s", err.msg);
    s.target = p.seed_sum;
    s.bypass = p.bypass;
    int n = stop < 0 ? dx_network(m)->inputs : dx_network(m)->layers[stop].outputs;
    const float *rel = dx_pass_buf(&p, stop);
    for (int k = 0; k < n; ++k) s.at_stop += rel[k];
    if (out) memcpy(out, rel, sizeof(float) * n);
    s.input = stop < 0 ? s.at_stop : 0;
    s.absorbed = p.absorbed;
    dx_pass_free(m, &p);
    free(rules);
    return s;
}

/* ---- relevances worked by hand (Captum's tests/attr/test_lrp.py, as Darknet layers) ---- */

/* cfg/test-lrp-hand.cfg with W1 = all 2 except W1[0][0] = w00 (output 0 from input 0), W2 = 3. */
static dx_model *open_hand(float w00)
{
    const char *dir = temp_dir();
    char weights[256];
    snprintf(weights, sizeof weights, "%s/hand.weights", dir);
    FILE *f = fopen(weights, "wb");
    int header[3] = {0, 2, 0};
    uint64_t seen = 0;
    float layer0[3 + 9] = {0, 0, 0, w00, 2, 2, 2, 2, 2, 2, 2, 2};  /* biases, then 3 x 3 weights */
    float layer1[1 + 3] = {0, 3, 3, 3};
    fwrite(header, sizeof header, 1, f);
    fwrite(&seen, sizeof seen, 1, f);
    fwrite(layer0, sizeof layer0, 1, f);
    fwrite(layer1, sizeof layer1, 1, f);
    fclose(f);
    dx_error err;
    dx_model *m = dx_open(cfg_path("test-lrp-hand.cfg"), weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    float x[3] = {1, 2, 3};
    dx_forward(m, x);
    return m;
}

static void expect3(const float *got, double a, double b, double c, const char *what)
{
    double want[3] = {a, b, c};
    for (int k = 0; k < 3; ++k)
        /* float rounding only: relevances of ~100 cancel in alpha2beta1's R_0 */
        cr_expect(fabs(got[k] - want[k]) <= 1e-5 * fabs(want[k]) + 1e-4, "%s: R[%d] = %.7g, by hand %.7g",
                  what, k, got[k], want[k]);
}

/* x = [1, 2, 3]. All weights 2: hidden z = [12, 12, 12], output 3 * 36 = 108.
 *   ε (ε = 0), layer 1: R_j = a_j * 3 / 108 * 108 = [36, 36, 36].
 *   layer 0: R_i = x_i * sum_j w_ij R_j / z_j = x_i * 2 * 3 * 3 = [18, 36, 54] (sum 108).
 * W1[0][0] = -2: hidden z = [-2 + 4 + 6, 12, 12] = [8, 12, 12], output 3 * 32 = 96.
 *   ε, layer 1: R = [24, 36, 36]; R_j / z_j = 3 for each j, so
 *   layer 0: R_i = 3 x_i sum_j w_ij = [3 * 1 * 2, 3 * 2 * 6, 3 * 3 * 6] = [6, 36, 54].
 *   γ = 1 (both layers; w -> w + w+): layer 1 z' = 6 * 32 = 192, R = 6 a_j / 192 * 96 = [24, 36, 36];
 *   layer 0: z' = [-2 + 8 + 12, 24, 24] = [18, 24, 24], s = R / z' = [4/3, 3/2, 3/2],
 *   R_0 = 1 * (-2 * 4/3 + 4 * 3/2 + 4 * 3/2) = 28/3, R_1 = 2 * (4 * 4/3 + 12) = 104/3,
 *   R_2 = 3 * (16/3 + 12) = 52.
 *   α1β0 on layer 0 (ε on layer 1): z+ = [0 + 4 + 6, 12, 12], s = [2.4, 3, 3],
 *   R_0 = 1 * (2 * 3 + 2 * 3) = 12, R_1 = 2 * (2 * 2.4 + 12) = 33.6, R_2 = 3 * 16.8 = 50.4.
 *   α2β1 on layer 0: 2 * [12, 33.6, 50.4] minus the negative part: only z_00 = -2 is negative,
 *   z- = [-2, 0, 0], s- = [24 / -2, 0, 0] = [-12, 0, 0], R-_0 = -2 * -12 = 24:
 *   R = [24 - 24, 67.2, 100.8] = [0, 67.2, 100.8]; the sum 168 exceeds 96 by 72 (absorbed -72).
 *   zB with bounds [-1, 3] on layer 0: z_ij - l w+_ij - h w-_ij = 2 (x_i + 1) for w = 2 and
 *   -2 * 1 + 3 * 2 = 4 for w00; z' = [4 + 6 + 8, 18, 18], s = [24/18, 2, 2];
 *   R_0 = 4 * 4/3 + 4 * 2 + 4 * 2 = 64/3, R_1 = 6 * 4/3 + 6 * 2 + 6 * 2 = 32,
 *   R_2 = 8 * 4/3 + 8 * 2 + 8 * 2 = 128/3 (sum 96).
 *   flat on layer 0: each input is in every hidden unit's field: R_i = sum_j R_j / 3 = 32. */
Test(lrp, hand_computed_two_connected_layers)
{
    dx_model *m = open_hand(2);
    dx_target t = largest_logit(m);
    cr_assert_float_eq(dx_target_score(&t, m), 108.f, 1e-4);
    float r[3];
    lrp_sums s = run_lrp(m, &t, "0-:epsilon=0", 0, r);
    expect3(r, 36, 36, 36, "epsilon, hidden");
    run_lrp(m, &t, "0-:epsilon=0", -1, r);
    expect3(r, 18, 36, 54, "epsilon, input");
    cr_expect(fabs(s.target - 108) < 1e-4);
    dx_close(m);

    m = open_hand(-2);
    cr_assert_float_eq(dx_target_score(&t, m), 96.f, 1e-4);
    run_lrp(m, &t, "0-:epsilon=0", 0, r);
    expect3(r, 24, 36, 36, "epsilon, hidden (w00 = -2)");
    run_lrp(m, &t, "0-:epsilon=0", -1, r);
    expect3(r, 6, 36, 54, "epsilon (w00 = -2)");
    run_lrp(m, &t, "0-:gamma=1", -1, r);
    expect3(r, 28. / 3, 104. / 3, 52, "gamma=1");
    run_lrp(m, &t, "0:alpha1beta0,1:epsilon=0", -1, r);
    expect3(r, 12, 33.6, 50.4, "alpha1beta0");
    s = run_lrp(m, &t, "0:alpha2beta1,1:epsilon=0", -1, r);
    expect3(r, 0, 67.2, 100.8, "alpha2beta1");
    cr_expect(fabs(s.absorbed + 72) < 1e-3, "alpha2beta1 absorbed %g, by hand -72", s.absorbed);
    run_lrp(m, &t, "0:zb=-1/3,1:epsilon=0", -1, r);
    expect3(r, 64. / 3, 32, 128. / 3, "zb [-1, 3]");
    run_lrp(m, &t, "0:flat,1:epsilon=0", -1, r);
    expect3(r, 32, 32, 32, "flat");
    dx_close(m);
}

/* Captum's skip example: input x = [2, 3] -> connected 2 (all weights 5) + x, target output 1:
 * 5 * 5 + 3 = 28. The shortcut splits 28 into 25 (connected) and 3 (x_1, direct); the
 * connected unit passes 25 * x_i * 5 / 25 = [10, 15] down: R = [10, 15 + 3] = [10, 18]. */
Test(lrp, hand_computed_shortcut)
{
    const char *dir = temp_dir();
    char weights[256];
    snprintf(weights, sizeof weights, "%s/skip.weights", dir);
    FILE *f = fopen(weights, "wb");
    int header[3] = {0, 2, 0};
    uint64_t seen = 0;
    float connected[2 + 4] = {0, 0, 5, 5, 5, 5};
    fwrite(header, sizeof header, 1, f);
    fwrite(&seen, sizeof seen, 1, f);
    fwrite(connected, sizeof connected, 1, f);
    fclose(f);
    dx_error err;
    dx_model *m = dx_open(cfg_path("test-lrp-skip.cfg"), weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    float x[2] = {2, 3}, r[2];
    dx_forward(m, x);
    dx_target t = {.layer = 2, .eval = entry_eval, .cls = 1};
    cr_assert_float_eq(dx_target_score(&t, m), 28.f, 1e-5);
    run_lrp(m, &t, "0-:epsilon=0", -1, r);
    cr_expect(fabsf(r[0] - 10) < 1e-5 && fabsf(r[1] - 18) < 1e-5, "R = [%g, %g], by hand [10, 18]", r[0], r[1]);
    dx_close(m);
}

/* ---- conservation and accounting ---- */

static void expect_close(double got, double want, double rel, const char *what)
{
    cr_expect(fabs(got - want) <= rel * fabs(want), "%s: %.9g vs %.9g (relative %.2g > %.0e)", what, got, want,
              fabs(got - want) / fabs(want), rel);
}

/* Bias-free nets: with ε -> 0 and rules that pass every unit's relevance on, the input
 * relevance is the logit. z+ and α1β0 keep (absorb) the relevance of units without a positive
 * contribution (e.g. a depthwise unit whose few inputs all push down): for them, and for every
 * run, the check is that target = input + absorbed. */
static void check_conservation(dx_model *m, const dx_target *t, const char *name)
{
    static const struct { const char *spec; int conserves; } runs[] = { /* 2: conserves, with */
        {"0-:epsilon=1e-9", 1},                       /* LRP-ε, ε -> 0 */
        {"0-:epsilon=1e-9", 2},                       /* the same with every maxpool proportional */
        {"0:zb,1-:gamma=0.25", 1},                    /* zB at the input, γ elsewhere */
        {"0:flat,1-:epsilon=1e-9", 1},
        {"0:w2,1-:gamma=1", 1},
        {"0-:zplus", 0},
        {"0-:alpha1beta0", 0},
    };
    float logit = dx_target_score(t, m);
    for (size_t k = 0; k < sizeof runs / sizeof *runs; ++k) {
        char spec[512];
        snprintf(spec, sizeof spec, "%s", runs[k].spec);
        for (int i = 0; runs[k].conserves == 2 && i < dx_network(m)->n; ++i)
            if (dx_network(m)->layers[i].type == MAXPOOL)
                snprintf(spec + strlen(spec), sizeof spec - strlen(spec), ",%d:proportional", i);
        lrp_sums s = run_lrp(m, t, spec, -1, NULL);
        char what[768];
        snprintf(what, sizeof what, "%s, -rules %s: input relevance vs logit", name, spec);
        if (runs[k].conserves) expect_close(s.input, logit, 1e-3, what);
        snprintf(what, sizeof what, "%s, -rules %s: input + absorbed vs target", name, spec);
        expect_close(s.input + s.absorbed, s.target, 1e-4, what);
        cr_log_info("%s %-32s logit %.6g input %.6g (rel %.1e) absorbed %.3g", name, spec, logit, s.input,
                    fabs(s.input - logit) / fabs(logit), s.absorbed);
    }
}

Test(lrp, conservation_without_biases)
{
    static const char *const nets[] = {"test-lrp.cfg", "test-classifier.cfg", "test-detector.cfg"};
    for (int n = 0; n < 3; ++n) {
        char weights[256];
        snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
        dx_model *m = open_random(cfg_path(nets[n]), weights, 11 + n);
        zero_biases(m);
        float *x = uniform_input(m, 3 + n);
        dx_forward(m, x);
        dx_target t = n == 2 ? yolo_class_logit(m, 1) : largest_logit(m);
        check_conservation(m, &t, nets[n]);
        free(x);
        dx_close(m);
    }
}

/* With biases, batch-norm means and ε > 0, the relevance absorbed is reported and closes the
 * account: target = input + absorbed, and at an intermediate layer L, target = R(L) + absorbed
 * + what bypassed L (test-lrp.cfg: the route at 8 reads layer 4 around layers 5-7). */
Test(lrp, accounting_with_biases)
{
    char weights[256];
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg_path("test-lrp.cfg"), weights, 5);
    float *x = uniform_input(m, 9);
    dx_forward(m, x);
    dx_target t = largest_logit(m);
    static const char *const specs[] = {"0-:epsilon=0.1", "0:zb,1-:gamma=0.25,12:epsilon=0.5", "0-:alpha2beta1"};
    for (size_t k = 0; k < 3; ++k) {
        lrp_sums s = run_lrp(m, &t, specs[k], -1, NULL);
        double scale = fabs(s.target) + fabs(s.absorbed);
        cr_expect(fabs(s.absorbed) > 1e-3 * fabs(s.target), "%s: biases absorb nothing (%g)", specs[k], s.absorbed);
        cr_expect(fabs(s.target - s.input - s.absorbed) <= 1e-4 * scale,
                  "%s: target %.8g != input %.8g + absorbed %.8g", specs[k], s.target, s.input, s.absorbed);
        cr_log_info("%s: target %.6g = input %.6g + absorbed %.6g (off %.1e)", specs[k], s.target, s.input,
                    s.absorbed, fabs(s.target - s.input - s.absorbed) / scale);
    }
    lrp_sums s = run_lrp(m, &t, "0-:epsilon=0.1", 6, NULL);
    double scale = fabs(s.target) + fabs(s.absorbed) + fabs(s.bypass);
    cr_expect(fabs(s.bypass) > 1e-3 * fabs(s.target), "layer 4's direct path carries no relevance");
    cr_expect(fabs(s.target - s.at_stop - s.absorbed - s.bypass) <= 1e-4 * scale,
              "layer 6: target %.8g != R %.8g + absorbed %.8g + bypass %.8g", s.target, s.at_stop, s.absorbed, s.bypass);
    free(x);
    dx_close(m);
}

/* test-region.cfg: [crop] (its shift of -1 is a bias: absorbed), a standalone [activation],
 * [reorg] (a permutation), a two-source route and a [region] head: no biases, ε -> 0, and the
 * account still closes, the crop's share being the only one absorbed. */
Test(lrp, accounting_crop_reorg_region)
{
    char weights[256];
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg_path("test-region.cfg"), weights, 8);
    zero_biases(m);
    float *x = uniform_input(m, 6);
    dx_forward(m, x);
    dx_target t = {.layer = 10, .eval = entry_eval};
    const layer *l = &dx_network(m)->layers[10];
    for (int k = 1; k < l->outputs; ++k)
        if (fabsf(l->output[k]) > fabsf(l->output[t.cls])) t.cls = k;
    /* the crop's output relevance R_c splits into 2a/(2a - 1) R_c (to the input) and the rest */
    lrp_sums at_crop = run_lrp(m, &t, "0-:epsilon=1e-9", 0, NULL);
    expect_close(at_crop.at_stop, at_crop.target, 1e-3, "region: relevance at the crop's output vs logit");
    lrp_sums s = run_lrp(m, &t, "0-:epsilon=1e-9", -1, NULL);
    expect_close(s.input + s.absorbed, s.target, 1e-4, "region: input + absorbed vs target");
    cr_expect(fabs(s.absorbed) > 1e-3 * fabs(s.target), "the crop's shift absorbs nothing (%g)", s.absorbed);
    cr_log_info("region: target %.6g, at the crop %.6g, input %.6g, absorbed %.6g", s.target, at_crop.at_stop,
                s.input, s.absorbed);
    free(x);
    dx_close(m);
}

/* LRP-0 on a bias-free ReLU net is gradient x input (Ancona et al. 2018, Prop. 1): R_i / a_i
 * = sum_j w_ij R_j / z_j, and R_j / z_j is the gradient where the unit is active. The gradient
 * is the plugin's own backward. */
Test(lrp, epsilon0_is_gradient_times_input)
{
    char weights[256];
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg_path("test-lrp-relu.cfg"), weights, 21);
    zero_biases(m);
    float *x = uniform_input(m, 4);
    dx_forward(m, x);
    dx_target t = largest_logit(m);
    int n = dx_network(m)->inputs;
    float *r = malloc(sizeof(float) * n);
    run_lrp(m, &t, "0-:epsilon=0", -1, r);
    dx_error err;
    cr_assert_eq(dx_target_backward(m, &t, -1, NULL, &err), 0, "%s", err.msg);
    const float *g = dx_grad_of(m, -1);
    double num = 0, den = 0;
    for (int k = 0; k < n; ++k) {
        double gx = (double)g[k] * x[k];
        num += (r[k] - gx) * (r[k] - gx);
        den += gx * gx;
    }
    cr_expect(den > 0);
    cr_expect(sqrt(num / den) < 1e-5, "||LRP-0 - grad*x|| / ||grad*x|| = %.2g", sqrt(num / den));
    cr_log_info("LRP-0 vs gradient x input: relative error %.2g", sqrt(num / den));
    free(r);
    free(x);
    dx_close(m);
}

/* z+ everywhere on a ReLU net (with biases: zplus-nobias ignores them) and an input in [0, 1]:
 * every contribution a_i w+_ij is >= 0, so a positive logit gives a map >= 0 everywhere; with
 * b+ in its denominators (zplus, Zennit's) too, the positive biases keeping a share. */
Test(lrp, zplus_is_nonnegative)
{
    char weights[256];
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg_path("test-lrp-relu.cfg"), weights, 22);
    float *x = uniform_input(m, 5);
    dx_forward(m, x);
    dx_target t = largest_logit(m);
    const layer *l = &dx_network(m)->layers[t.layer];
    for (int k = 0; k < l->outputs; ++k)
        if (l->output[k] > l->output[t.cls]) t.cls = k;
    cr_assert(dx_target_score(&t, m) > 0, "no positive logit");
    int n = dx_network(m)->inputs, negative = 0, positive = 0;
    float *r = malloc(sizeof(float) * n);
    lrp_sums s = run_lrp(m, &t, "0-:zplus-nobias", -1, r);
    for (int k = 0; k < n; ++k) negative += r[k] < 0, positive += r[k] > 0;
    cr_expect_eq(negative, 0, "%d of %d input relevances are negative", negative, n);
    cr_expect(positive > n / 4, "only %d of %d are positive", positive, n);
    expect_close(s.input, s.target, 1e-3, "z+ conserves");
    s = run_lrp(m, &t, "0-:zplus", -1, r);
    negative = positive = 0;
    for (int k = 0; k < n; ++k) negative += r[k] < 0, positive += r[k] > 0;
    cr_expect_eq(negative, 0, "zplus: %d of %d input relevances are negative", negative, n);
    cr_expect(positive > n / 4, "zplus: only %d of %d are positive", positive, n);
    cr_expect(s.absorbed > 1e-3 * s.target, "zplus: the positive biases keep nothing (%g of %g)", s.absorbed, s.target);
    expect_close(s.input + s.absorbed, s.target, 1e-4, "zplus: input + absorbed vs target");
    free(r);
    free(x);
    dx_close(m);
}

/* ---- the -rules syntax and the composites ---- */

Test(lrp, rules_errors_name_the_spec)
{
    char weights[256];
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg_path("test-lrp.cfg"), weights, 1);
    static const char *const bad[] = {"0:foo", "x:epsilon", "0-99:epsilon", "5-2:epsilon", "0:epsilon=abc",
                                      "0:epsilon=-1", "0:gamma=1/2", "0:alphabeta", "1:zb", "0:pass",
                                      "0:wta", "4:proportional", "epsilon", "0:zb=1/0", ","};
    dx_error err;
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        dx_rule *rules = dx_lrp_rules_for(m, NULL, bad[k], &err);
        cr_expect_null(rules, "-rules '%s' accepted", bad[k]);
        cr_expect(strstr(err.msg, bad[k]) && !strchr(err.msg, '\n'), "'%s': %s", bad[k], err.msg);
        free(rules);
    }
    cr_expect_null(dx_lrp_rules_for(m, "nope", NULL, &err));
    cr_expect(strstr(err.msg, "nope"), "%s", err.msg);
    cr_expect_null(dx_lrp_rules_for(m, "epsilon-plus", "0-:zplus", &err));

    /* later entries override earlier ones; parameters and defaults land where they should */
    dx_rule *rules = dx_lrp_rules_for(m, NULL, "0:zb,1-10:gamma=0.5,3-:epsilon=0.01,12:alphabeta=3,1:proportional", &err);
    cr_assert(rules, "%s", err.msg);
    cr_expect_eq(rules[0].kind, DX_RULE_ZBOX);
    cr_expect(rules[0].low == 0 && rules[0].high == 1);
    cr_expect_eq(rules[1].kind, DX_RULE_PROPORTIONAL);
    cr_expect(rules[2].kind == DX_RULE_GAMMA && rules[2].gamma == 0.5f);
    cr_expect(rules[3].kind == DX_RULE_EPSILON && rules[3].epsilon == 0.01f);
    cr_expect(rules[12].kind == DX_RULE_ALPHA_BETA && rules[12].alpha == 3 && rules[12].beta == 2);
    cr_expect(rules[13].kind == DX_RULE_EPSILON);
    free(rules);

    rules = dx_lrp_rules_for(m, "epsilon-gamma-box", NULL, &err);
    cr_assert(rules);
    cr_expect(rules[0].kind == DX_RULE_ZBOX && rules[2].kind == DX_RULE_GAMMA && rules[12].kind == DX_RULE_EPSILON &&
              rules[4].kind == DX_RULE_PASS);
    free(rules);
    rules = dx_lrp_rules_for(m, "epsilon-plus-flat", NULL, &err);
    cr_expect(rules[0].kind == DX_RULE_FLAT && rules[3].kind == DX_RULE_ZPLUS && rules[12].kind == DX_RULE_EPSILON);
    free(rules);
    /* the default composite is epsilon-plus-flat-nobias (docs/maps.md: epsilon-gamma-box's and
     * epsilon-plus-flat's maps are faint on real models) */
    rules = dx_lrp_rules_for(m, NULL, NULL, &err);
    cr_assert(rules, "%s", err.msg);
    cr_expect(rules[0].kind == DX_RULE_FLAT && rules[2].kind == DX_RULE_ZPLUS_NOBIAS && rules[3].kind == DX_RULE_ZPLUS_NOBIAS &&
              rules[12].kind == DX_RULE_EPSILON && rules[4].kind == DX_RULE_PASS, "default: %s, %s, %s",
              dx_rule_name(rules[0].kind), dx_rule_name(rules[3].kind), dx_rule_name(rules[12].kind));
    free(rules);
    dx_close(m);
}

/* Through the API: a probability target still starts at the logit (and says so); the stats
 * are the seed (= the logit), the map's sum and the absorbed relevance, and they close. */
Test(lrp, api_probability_target_starts_at_the_logit)
{
    char weights[256];
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg_path("test-lrp.cfg"), weights, 4);
    dx_image photo = dx_make_image(20, 14, 3);
    rng g = {17};
    for (int k = 0; k < 20 * 14 * 3; ++k) photo.data[k] = (float)rng_uniform(&g);
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_LRP;
    req.score = DX_SCORE_PROB;
    req.lrp_rules = "0-:epsilon=0.01";
    dx_result r;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.score_kind, DX_SCORE_LOGIT);
    cr_expect(r.signed_map && r.layer == -1 && r.native_h == 16 && r.native_w == 16);
    cr_assert_eq(r.n_stats, 3);
    cr_expect(!strcmp(r.stats[0].name, "relevance_target") && !strcmp(r.stats[1].name, "relevance_map") &&
              !strcmp(r.stats[2].name, "relevance_absorbed"));
    expect_close(r.stats[0].value, r.logit, 1e-6, "seed vs the logit");
    double map = 0;
    for (int q = 0; q < 16 * 16; ++q) map += r.native[q];
    expect_close(r.stats[1].value, map, 1e-6, "relevance_map vs the map's sum");
    cr_expect(fabs(r.stats[0].value - r.stats[1].value - r.stats[2].value) <=
              1e-4 * (fabs(r.stats[0].value) + fabs(r.stats[2].value)), "the stats do not close");
    dx_result_free(&r);
    dx_free_image(photo);
    dx_close(m);
}

/* ---- the command line ---- */

static int run_cli(const char *dir, const char *args, char *err_text, size_t len)
{
    const char *cli = getenv("DX_CLI");
    cr_assert(cli, "DX_CLI is not set (run through make test)");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s >/dev/null 2>stderr.txt", dir, cli, args);
    int status = system(cmd);
    char path[1024];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(err_text, 1, len - 1, f) : 0;
    err_text[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static double json_number(const char *json, const char *key)
{
    const char *at = strstr(json, key);
    cr_assert(at, "no %s in the JSON", key);
    return strtod(at + strlen(key) + 2, NULL);
}

Test(lrp, command_line)
{
    const char *dir = temp_dir();
    char weights[256], args[2048], err_text[4096];
    snprintf(weights, sizeof weights, "%s/net.weights", dir);
    dx_close(open_random(cfg_path("test-lrp.cfg"), weights, 3));
    const char *photo = "/usr/share/darknet/data/dog.jpg";

    /* at layer 6, part of the relevance reaches layer 4 around it (the route at 8) */
    snprintf(args, sizeof args, "lrp %s %s %s -composite epsilon-plus -layer 6 -png_width 64 -out b",
             cfg_path("test-lrp.cfg"), weights, photo);
    cr_assert_eq(run_cli(dir, args, err_text, sizeof err_text), 0, "%s", err_text);
    char path[1024], json[16384];
    snprintf(path, sizeof path, "%s/b.json", dir);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    json[fread(json, 1, sizeof json - 1, f)] = 0;
    fclose(f);
    cr_expect(strstr(json, "\"index\": 6"), "the JSON does not name layer 6");
    double target = json_number(json, "\"relevance_target\""), map = json_number(json, "\"relevance_map\"");
    double absorbed = json_number(json, "\"relevance_absorbed\"");
    double bypass = json_number(json, "\"relevance_bypass\"");
    cr_expect(fabs(target - map - absorbed - bypass) <= 1e-4 * (fabs(target) + fabs(absorbed) + fabs(bypass)),
              "JSON at layer 6: target %g != map %g + absorbed %g + bypass %g", target, map, absorbed, bypass);

    snprintf(args, sizeof args, "lrp %s %s %s -rules '0:zb,1-x:gamma' -out c", cfg_path("test-lrp.cfg"), weights, photo);
    cr_expect_eq(run_cli(dir, args, err_text, sizeof err_text), 1);
    cr_expect(strstr(err_text, "0:zb,1-x:gamma") && strchr(err_text, '\n') == strrchr(err_text, '\n'), "%s", err_text);
    snprintf(path, sizeof path, "%s/c.json", dir);
    cr_expect(access(path, F_OK) != 0, "a failed run left %s", path);
}

/* ---- the real models ---- */

static void expect_finite_nonconstant(const float *map, int n, const char *what)
{
    float lo = map[0], hi = map[0];
    for (int k = 0; k < n; ++k) {
        cr_assert(isfinite(map[k]), "%s: map[%d] = %g", what, k, map[k]);
        lo = fminf(lo, map[k]);
        hi = fmaxf(hi, map[k]);
    }
    cr_expect(hi > lo, "%s: constant map %g", what, lo);
}

static void expect_accounting(const dx_result *r, const char *what)
{
    double target = r->stats[0].value, map = r->stats[1].value, absorbed = r->stats[2].value;
    cr_expect(fabs(target - map - absorbed) <= 1e-3 * (fabs(target) + fabs(absorbed)),
              "%s: target %g != map %g + absorbed %g", what, target, map, absorbed);
    cr_log_info("%s: target %.6g map %.6g absorbed %.6g (LRP walk %.0f ms)", what, target, map, absorbed,
                r->ms_backward);
}

static int by_magnitude_down(const void *a, const void *b)
{
    float x = fabsf(*(const float *)a), y = fabsf(*(const float *)b);
    return (x < y) - (x > y);
}

/* The default composite's map on a real model is not faint (check): at least 40% of the
 * target's relevance reaches the input (epsilon-plus-flat-nobias: 100% on Tiny Darknet's dog.jpg,
 * 50.3% on Yolo-Fastest's person.jpg; epsilon-gamma-box: 3.6% and 0.1%), and its 5% strongest
 * pixels hold less than 65% of the map's |mass| (34.1% and 53.9%; epsilon-gamma-box 58.3% and
 * 85.6%: on Yolo-Fastest a few specks, the rest below one colour step). */
static void expect_readable(const dx_result *r, const char *what, int check)
{
    int n = r->native_h * r->native_w;
    float *sorted = malloc(sizeof(float) * n);
    memcpy(sorted, r->native, sizeof(float) * n);
    qsort(sorted, n, sizeof *sorted, by_magnitude_down);
    double top = 0, total = 0;
    for (int k = 0; k < n; ++k) total += fabsf(sorted[k]), top += k < n / 20 ? fabsf(sorted[k]) : 0;
    free(sorted);
    double target = r->stats[0].value, map = r->stats[1].value;
    cr_log_info("%s: %.1f%% of the relevance reaches the input, %.1f%% of |map| in its top 5%% pixels", what,
                100 * map / target, 100 * top / total);
    if (!check) return;
    cr_expect_geq(map / target, 0.4, "%s: %g of the target's %g reaches the input", what, map, target);
    cr_expect_lt(top / total, 0.65, "%s: the top 5%% pixels hold %.0f%% of the map", what, 100 * top / total);
}

Test(lrp, real_tiny_darknet)
{
    dx_model *m = open_shared_model("imagenet/tiny", NULL);
    char photo[1200];
    snprintf(photo, sizeof photo, "%s/images/dog.jpg", shared_dir());
    dx_error err;
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_LRP;
    static const char *const composites[] = {"epsilon-gamma-box", "epsilon-plus-flat", NULL};
    for (int k = 0; k < 3; ++k) {
        char what[64];
        snprintf(what, sizeof what, "tiny, %s", composites[k] ? composites[k] : "the default composite");
        req.lrp_composite = composites[k];
        dx_result r;
        cr_assert_eq(dx_explain_file(m, photo, &req, &r, &err), 0, "%s", err.msg);
        cr_expect(r.signed_map && r.layer == -1 && r.native_w == 224);
        expect_finite_nonconstant(r.native, r.native_h * r.native_w, what);
        expect_accounting(&r, what);
        expect_readable(&r, what, !composites[k]);
        dx_result_free(&r);
    }
    dx_close(m);
}

Test(lrp, real_yolo_fastest)
{
    dx_model *m = open_shared_model("coco/yolo-fastest-1.1", NULL);
    char photo_path[1200];
    snprintf(photo_path, sizeof photo_path, "%s/images/person.jpg", shared_dir());
    dx_error err;
    dx_image photo;
    cr_assert_eq(dx_load_photo(photo_path, &photo, &err), 0, "%s", err.msg);
    network *net = dx_network(m);
    dx_image boxed = dx_backend_letterbox_image(photo, net->w, net->h);
    dx_forward(m, boxed.data);
    dx_target t = yolo_class_logit(m, 0); /* person */
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_LRP;
    static const char *const composites[] = {"epsilon-gamma-box", "epsilon-plus-flat", NULL};
    for (int k = 0; k < 3; ++k) {
        char what[64];
        snprintf(what, sizeof what, "yolo-fastest, %s", composites[k] ? composites[k] : "the default composite");
        req.lrp_composite = composites[k];
        dx_result r = {0};
        m->ms_backward = 0;
        cr_assert_eq(dx_method_lrp(m, &req, &t, &r, &err), 0, "%s", err.msg);
        r.ms_backward = m->ms_backward;
        expect_finite_nonconstant(r.native, r.native_h * r.native_w, what);
        expect_accounting(&r, what);
        expect_readable(&r, what, !composites[k]);
        dx_result_free(&r);
    }
    dx_free_image(boxed);
    dx_free_image(photo);
    dx_close(m);
}
