/* The LRP composites named after Zennit's compute what Zennit's composites compute: relevances
 * on a three-layer network with known weights (biases of both signs, negative activations, an
 * output whose pre-activation is exactly 0), against the rules' textbook formulas evaluated
 * here in double, one contribution at a time (Zennit's rules.py and composites.py):
 *   epsilon      R_i = sum_j a_i w_ij / stab(z_j) R_j,  z_j = sum_i a_i w_ij + b_j
 *   zplus        R_i = sum_j (a_i w_ij)+ / stab(sum_i (a_i w_ij)+ + b_j+) R_j  (= alpha1beta0)
 *   zplus-nobias the same without b_j+
 *   flat         R_i = sum_j R_j / stab(number of inputs in j's field)
 *   zb [l, h]    R_i = sum_j t_ij / stab(sum_i t_ij) R_j,  t_ij = a_i w_ij - l w_ij+ - h w_ij-
 *   gamma        where z_j > 0: t_ij = a_i w_ij + γ (a_i w_ij)+, denominator sum_i t_ij + b_j + γ b_j+;
 *                where z_j < 0: the same with the negative parts; z_j = 0: nothing passes
 * with stab(d) = d + 1e-6 sign(d) (sign(0) = +1); activations pass relevance through. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "lrp/lrp.h"
#include "model.h"
#include "targets.h"

#define EPS 1e-6

/* input 3 (1x1 pixel) -> [convolutional] 2 1x1 linear -> [convolutional] 2 1x1 logistic ->
 * [connected] 1 linear */
static const char cfg_text[] = "[net]\nbatch=1\nwidth=1\nheight=1\nchannels=3\n\n"
                               "[convolutional]\nfilters=2\nsize=1\nstride=1\npad=0\nactivation=linear\n\n"
                               "[convolutional]\nfilters=2\nsize=1\nstride=1\npad=0\nactivation=logistic\n\n"
                               "[connected]\noutput=1\nactivation=linear\n";

typedef struct {
    double w0[2][3], b0[2], w1[2][2], b1[2], w2[2], b2;
} hand_net;

/* x = [1, .5, .25]. Layer 0: z = [1 + 1 - 1 - .5, -2 + .5 - .5 + 1] = [.5, -1] (a negative
 * bias and a positive one). Layer 1 reads a = [.5, -1]: z_0 = 1 - 1 + 0 = 0 exactly, z_1 =
 * -.5 + 2 + .75 = 2.25 (a- w- is its positive contribution). Layer 2: 3 σ(0) - σ(2.25) + .25. */
static const hand_net mixed = {{{1, 2, -4}, {-2, 1, -2}}, {-.5, 1}, {{2, 1}, {-1, -2}}, {0, .75}, {3, -1}, .25};
/* the same weights, every bias <= 0: z+ (Zennit's) conserves relevance */
static const hand_net nonpositive = {{{1, 2, -4}, {-2, 1, -2}}, {-.5, 0}, {{2, 1}, {-1, -2}}, {0, -.75}, {3, -1}, 0};
static const float x[3] = {1, .5f, .25f};

static dx_model *open_hand_net(const hand_net *h)
{
    char cfg[512], weights[512];
    snprintf(cfg, sizeof cfg, "%s/zennit.cfg", temp_dir());
    snprintf(weights, sizeof weights, "%s/zennit.weights", temp_dir());
    write_text(cfg, cfg_text);
    FILE *f = create_weights_file(weights);
    /* Darknet's order: a convolution's biases then weights (filter, channel); a connected
     * layer's biases then weights (output, input) */
    float v[2 + 6 + 2 + 4 + 1 + 2];
    int n = 0;
    for (int j = 0; j < 2; ++j) v[n++] = (float)h->b0[j];
    for (int j = 0; j < 2; ++j)
        for (int i = 0; i < 3; ++i) v[n++] = (float)h->w0[j][i];
    for (int j = 0; j < 2; ++j) v[n++] = (float)h->b1[j];
    for (int j = 0; j < 2; ++j)
        for (int i = 0; i < 2; ++i) v[n++] = (float)h->w1[j][i];
    v[n++] = (float)h->b2;
    for (int i = 0; i < 2; ++i) v[n++] = (float)h->w2[i];
    cr_assert_eq(fwrite(v, sizeof(float), n, f), (size_t)n);
    fclose(f);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    dx_forward(m, x);
    return m;
}

static double stab(double d) { return d + (d >= 0 ? EPS : -EPS); }
static double pos(double v) { return v > 0 ? v : 0; }
static double neg(double v) { return v < 0 ? v : 0; }

typedef enum { EPSILON, ZPLUS, ZPLUS_NOBIAS, FLAT, ZBOX, GAMMA } hand_rule;

/* One dense layer (a 1x1 convolution on a 1x1 image is one): rin[i] += the rule's share of
 * rout[j] for input i; w is n_out x n_in. */
static void hand_layer(hand_rule rule, int n_in, int n_out, const double *a, const double *w,
                       const double *b, const double *rout, double *rin)
{
    for (int j = 0; j < n_out; ++j) {
        double t[3], den = 0, z = b[j];
        for (int i = 0; i < n_in; ++i) z += a[i] * w[j * n_in + i];
        for (int i = 0; i < n_in; ++i) {
            double c = a[i] * w[j * n_in + i], wij = w[j * n_in + i];
            t[i] = rule == EPSILON ? c : rule == ZPLUS || rule == ZPLUS_NOBIAS ? pos(c) : rule == FLAT ? 1
                   : rule == ZBOX ? c - 0 * pos(wij) - 1 * neg(wij)
                   : z > 0 ? c + .25 * pos(c) : c + .25 * neg(c);
            den += t[i];
        }
        if (rule == EPSILON) den += b[j];
        if (rule == ZPLUS) den += pos(b[j]);
        if (rule == GAMMA) den += b[j] + .25 * (z > 0 ? pos(b[j]) : neg(b[j]));
        if (rule == GAMMA && z == 0) continue;
        for (int i = 0; i < n_in; ++i) rin[i] += t[i] / stab(den) * rout[j];
    }
}

typedef struct {
    double target, input[3], absorbed;
} hand_result;

/* The forward in double, then relevance from the output down with one rule per layer. */
static hand_result by_hand(const hand_net *h, const hand_rule rules[3])
{
    double a0[2], a1[2], z1[2], x_d[3] = {x[0], x[1], x[2]};
    for (int j = 0; j < 2; ++j) a0[j] = h->b0[j] + h->w0[j][0] * x[0] + h->w0[j][1] * x[1] + h->w0[j][2] * x[2];
    for (int j = 0; j < 2; ++j) {
        z1[j] = h->b1[j] + h->w1[j][0] * a0[0] + h->w1[j][1] * a0[1];
        a1[j] = 1 / (1 + exp(-z1[j]));
    }
    hand_result r = {h->b2 + h->w2[0] * a1[0] + h->w2[1] * a1[1], {0}, 0};
    double r2[1] = {r.target}, r1[2] = {0}, r0[2] = {0};
    hand_layer(rules[2], 2, 1, a1, h->w2, &h->b2, r2, r1);
    hand_layer(rules[1], 2, 2, a0, &h->w1[0][0], h->b1, r1, r0);
    hand_layer(rules[0], 3, 2, x_d, &h->w0[0][0], h->b0, r0, r.input);
    r.absorbed = r.target - r.input[0] - r.input[1] - r.input[2];
    return r;
}

static float output_eval(const dx_target *t, const dx_model *m, float *seed)
{
    if (seed) seed[0] = 1.f;
    return m->net->layers[t->layer].output[0];
}

/* The plugin's relevance at the input with a composite (or a -rules spec). */
static hand_result by_plugin(dx_model *m, const char *composite, const char *spec)
{
    dx_error err;
    dx_rule *rules = dx_lrp_rules_for(m, composite, spec, &err);
    cr_assert(rules, "%s", err.msg);
    dx_pass p = {0};
    dx_target t = {.layer = 2, .eval = output_eval};
    hand_result r = {0};
    cr_assert_eq(dx_reverse(m, &t, -1, &(dx_rules){rules, .relevance = 1}, &p, &err), 0, "%s", err.msg);
    r.target = p.seed_sum;
    const float *rel = dx_pass_buf(&p, -1);
    for (int i = 0; i < 3; ++i) r.input[i] = rel[i];
    r.absorbed = p.absorbed;
    dx_pass_free(m, &p);
    free(rules);
    return r;
}

static void expect_hand(const hand_result *got, const hand_result *want, const char *what)
{
    cr_expect(fabs(got->target - want->target) < 1e-6, "%s: target %.8g, by hand %.8g", what, got->target, want->target);
    for (int i = 0; i < 3; ++i)
        cr_expect(fabs(got->input[i] - want->input[i]) <= 1e-5 * fabs(want->input[i]) + 1e-6,
                  "%s: R[%d] = %.8g, by hand %.8g", what, i, got->input[i], want->input[i]);
    cr_expect(fabs(got->absorbed - want->absorbed) <= 1e-5 * fabs(want->target) + 1e-6,
              "%s: absorbed %.8g, by hand %.8g", what, got->absorbed, want->absorbed);
    cr_log_info("%s: target %.6g, R = [%.6g, %.6g, %.6g], absorbed %.6g", what, want->target, want->input[0],
                want->input[1], want->input[2], want->absorbed);
}

/* Zennit's composites: EpsilonPlus (ZPlus on convolutions, Epsilon on dense layers),
 * EpsilonPlusFlat (Flat on the first linear layer), EpsilonGammaBox (ZBox on the first
 * convolution, Gamma 0.25 on the others); and the default, EpsilonPlusFlat with z+ bias-free. */
static const struct {
    const char *name;
    hand_rule rules[3];
} composites[] = {
    {"epsilon-plus", {ZPLUS, ZPLUS, EPSILON}},
    {"epsilon-plus-flat", {FLAT, ZPLUS, EPSILON}},
    {"epsilon-gamma-box", {ZBOX, GAMMA, EPSILON}},
    {"epsilon-plus-flat-nobias", {FLAT, ZPLUS_NOBIAS, EPSILON}},
};

Test(lrp_zennit, composites_by_hand)
{
    dx_model *m = open_hand_net(&mixed);
    cr_assert_eq(m->net->layers[1].output[0], .5f, "layer 1's unit 0 is not at z = 0");
    for (size_t c = 0; c < sizeof composites / sizeof *composites; ++c) {
        hand_result want = by_hand(&mixed, composites[c].rules), got = by_plugin(m, composites[c].name, NULL);
        expect_hand(&got, &want, composites[c].name);
    }
    /* the default composite */
    hand_result want = by_hand(&mixed, composites[3].rules), got = by_plugin(m, NULL, NULL);
    expect_hand(&got, &want, "the default composite");
    /* -rules: zplus is alpha1beta0 and keeps b+ out of the input; zplus-nobias passes it on */
    hand_rule zp[3] = {ZPLUS, ZPLUS, EPSILON}, zpn[3] = {ZPLUS_NOBIAS, ZPLUS_NOBIAS, EPSILON};
    want = by_hand(&mixed, zp);
    got = by_plugin(m, NULL, "0-1:alpha1beta0,2:epsilon");
    expect_hand(&got, &want, "-rules 0-1:alpha1beta0,2:epsilon");
    got = by_plugin(m, NULL, "0-1:zplus,2:epsilon");
    expect_hand(&got, &want, "-rules 0-1:zplus,2:epsilon");
    hand_result nobias = by_plugin(m, NULL, "0-1:zplus-nobias,2:epsilon");
    want = by_hand(&mixed, zpn);
    expect_hand(&nobias, &want, "-rules 0-1:zplus-nobias,2:epsilon");
    cr_expect(fabs(got.absorbed - nobias.absorbed) > 0.05 * fabs(got.target),
              "zplus and zplus-nobias absorb the same (%g, %g): b+ = 1 of layer 0 is in neither", got.absorbed,
              nobias.absorbed);
    dx_close(m);
}

/* Where every bias is <= 0 and every unit has a positive contribution, Zennit's z+ passes all
 * of a unit's relevance down: epsilon-plus keeps the target's relevance (layer 2 has no bias). */
Test(lrp_zennit, epsilon_plus_conserves_without_positive_biases)
{
    dx_model *m = open_hand_net(&nonpositive);
    hand_result got = by_plugin(m, "epsilon-plus", NULL), want = by_hand(&nonpositive, composites[0].rules);
    expect_hand(&got, &want, "epsilon-plus, biases <= 0");
    double input = got.input[0] + got.input[1] + got.input[2];
    /* the stabiliser's 1e-6 keeps ~1e-6 / z of each unit's relevance (z+ = .5 at layer 0) */
    cr_expect(fabs(input - got.target) <= 1e-4 * fabs(got.target), "input %.8g vs target %.8g", input, got.target);
    dx_close(m);
}

/* On a net with random biases and batch norms, -rules zplus is -rules alpha1beta0 exactly, and
 * epsilon-plus is zplus on every convolution, epsilon on the connected layers. */
Test(lrp_zennit, zplus_is_alpha1beta0)
{
    char cfg[1024], weights[512];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-lrp.cfg", getenv("DX_ROOT") ? getenv("DX_ROOT") : ".");
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, 31);
    int n = m->net->inputs;
    float *input = malloc(sizeof(float) * n);
    rng g = {7};
    for (int k = 0; k < n; ++k) input[k] = (float)rng_uniform(&g);
    dx_forward(m, input);
    dx_error err;
    dx_rule *plus = dx_lrp_rules_for(m, "epsilon-plus", NULL, &err);
    cr_assert(plus, "%s", err.msg);
    char spec[1024] = "";
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        dx_rule_kind want = l->type == DX_LAYER_CONVOLUTIONAL ? DX_RULE_ZPLUS
                            : l->type == DX_LAYER_CONNECTED ? DX_RULE_EPSILON : DX_RULE_PASS;
        cr_expect_eq(plus[i].kind, want, "epsilon-plus, layer %d: %s", i, dx_rule_name(plus[i].kind));
        if (l->type == DX_LAYER_CONVOLUTIONAL)
            snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%s%d:alpha1beta0", *spec ? "," : "", i);
    }
    free(plus);
    dx_target t = {.layer = m->n - 2, .eval = output_eval};
    cr_assert_eq(m->net->layers[t.layer].type, DX_LAYER_CONNECTED);
    /* the same map from the composite and from alpha1beta0 on every convolution */
    dx_rule *ab = dx_lrp_rules_for(m, NULL, spec, &err), *zp = dx_lrp_rules_for(m, "epsilon-plus", NULL, &err);
    cr_assert(ab && zp, "%s", err.msg);
    dx_pass pa = {0}, pz = {0};
    cr_assert_eq(dx_reverse(m, &t, -1, &(dx_rules){ab, .relevance = 1}, &pa, &err), 0, "%s", err.msg);
    cr_assert_eq(dx_reverse(m, &t, -1, &(dx_rules){zp, .relevance = 1}, &pz, &err), 0, "%s", err.msg);
    double tz = pz.seed_sum;
    const float *ra = dx_pass_buf(&pa, -1), *rz = dx_pass_buf(&pz, -1);
    int differ = 0;
    for (int k = 0; k < n; ++k) differ += ra[k] != rz[k];
    cr_expect_eq(differ, 0, "%d of %d input relevances differ", differ, n);
    cr_expect(fabs(pz.absorbed) > 1e-3 * fabs(tz), "random biases absorb nothing (%g of %g)", pz.absorbed, tz);
    dx_pass_free(m, &pa);
    dx_pass_free(m, &pz);
    free(ab);
    free(zp);
    free(input);
    dx_close(m);
}
