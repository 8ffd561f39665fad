/* Layer-wise Relevance Propagation: the rules' forms (the rules themselves, small objects as
 * Zennit's, are dx_rule in engine.h) and the composites that map layers to rules. The walk is
 * the one reverse pass (engine.c) with an LRP rule set; each layer type's redistribution
 * (dx_lrp_* in layers/layers.h) lives beside its inference backward in layers/conv.c, pool.c, ...;
 * the layers with weights hand theirs to the linear engine (linear.c, dx_lrp_linear).
 *
 * A linear layer (convolutional, connected; batch norm folded into W and b) computes
 * z_j = sum_i a_i w_ij + b_j. A rule is a form: up to four bases, each a convolution of a
 * modified input with modified weights, B_t = conv(in_t(a), w_t(W)), and one or two parts.
 * A part p combines the bases into its denominators and applies to every output, or only to
 * those whose pre-activation z_j is > 0 (or < 0; z_j = 0: neither, as Zennit's Gamma):
 *   z'_j = sum_t c_pt B_tj + bias_p(b)_j,   s_j = R_j / stab(z'_j)
 *   R_i += sum_t in_t(a)_i sum_j w_t(W)_ij (sum_p coef_p c_pt s_pj)
 * with stab(z) = z + eps * sign(z) (sign(0) = +1; s = 0 where the denominator is 0). What a
 * part does not pass down (the bias's and the stabiliser's share, and (1 - alpha + beta) R for
 * alpha-beta) is counted in dx_pass.absorbed, so that target = input + absorbed exactly. */
#ifndef DX_LRP_H
#define DX_LRP_H
#include "engine.h"
#include "explain.h"
#include "layers/columns.h"

/* a, |a|, a+, a-, low, high, 1; w, |w|, w+, w-, w², 1; the bias b, b+, b-, b + γ b+, b + γ b-, 0 */
typedef enum { DX_IN_SAME, DX_IN_ABS, DX_IN_POS, DX_IN_NEG, DX_IN_LOW, DX_IN_HIGH, DX_IN_ONES } dx_input_mod;
typedef enum { DX_W_SAME, DX_W_ABS, DX_W_POS, DX_W_NEG, DX_W_SQUARE, DX_W_ONES } dx_weight_mod;
typedef enum { DX_B_SAME, DX_B_POS, DX_B_NEG, DX_B_GAMMA_POS, DX_B_GAMMA_NEG, DX_B_NONE } dx_bias_mod;

typedef struct {
    dx_input_mod in;
    dx_weight_mod w;
} dx_lrp_base;

typedef struct {
    float coef;
    dx_bias_mod bias;
    int where;   /* 0: every output; +1: outputs whose z_j > 0; -1: z_j < 0 (bases[0] is then (a, w)) */
    float c[4];  /* the weight of each base in the denominators */
} dx_lrp_part;

typedef struct {
    int n_bases, n_parts;
    dx_lrp_base bases[4];
    dx_lrp_part parts[2];
} dx_lrp_form;

/* The form of a linear layer's rule; 0 on success, -1 for rules that do not apply to layers
 * with weights (pass, wta, proportional). */
int dx_lrp_form_of(const dx_rule *r, dx_lrp_form *f);
const char *dx_rule_name(dx_rule_kind k);

/* The composite of lrp without -composite or -rules (rules.c says why). */
#define DX_LRP_DEFAULT_COMPOSITE "epsilon-plus-flat-nobias"

/* One rule per layer (malloc'd, m->n entries) from a composite name or a -rules spec (at most
 * one of them; neither: DX_LRP_DEFAULT_COMPOSITE). NULL with a one-line error naming the spec.
 * The pass runs them as the set (dx_rules){rules, .relevance = 1}. */
dx_rule *dx_lrp_rules_for(const dx_model *m, const char *composite, const char *spec,
                          dx_error *err);

/* The geometry of a linear layer z = W a + b as a grouped convolution (conv: one group's); a
 * connected layer is a 1x1 convolution of its inputs on a 1x1 image. */
typedef struct {
    dx_conv_geometry conv;
    int c, h, w, n, groups, size, out_h, out_w;
} dx_lrp_geometry;

/* Layer i's relevance rout (n x out_h x out_w, layer i's outputs) redistributed to its input
 * (dx_pass_buf(p, i - 1), added) with its rule's form over geometry g; batch norm folded into
 * W and b; what is not passed down goes to p->absorbed. -1 with err for a rule without a
 * linear form, or when the pass's work buffer cannot be had. */
int dx_lrp_linear(dx_model *m, dx_pass *p, int i, const dx_lrp_geometry *g, const float *rout,
                  dx_error *err);

/* stab(z) = z + eps * sign(z), sign(0) = +1; returns R / stab(z), 0 where that is 0. */
static inline float dx_lrp_share(float r, float z, float eps)
{
    float d = z + (z >= 0.f ? eps : -eps);
    return d != 0.f ? r / d : 0.f;
}
#endif
