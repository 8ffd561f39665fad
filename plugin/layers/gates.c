/* [scale_channels] and [sam] (AlexeyAB): one input gates another, out = f(g * x) with
 * x = input_layers[0]'s output and the gate g = the layer below: one value per channel of x
 * ([scale_channels]; per position with scale_wh=1), or one per value ([sam]).
 * x: out_c x out_h x out_w; g: out_c (scale_channels), out_h*out_w (scale_wh), or as x (sam). */
#include "layers.h"
#include "model.h"

/* The gate's index for output k. */
static int gate_index(const dx_layer *l, int k)
{
    int plane = l->out_w * l->out_h;
    if (l->type == DX_LAYER_SAM) return k;
    return l->scale_wh ? k % plane : k / plane;
}

/* d = gout * f'; gx[k] += d[k] g[k'], gg[k'] += d[k] x[k] (the product rule). DeepLIFT's
 * multipliers of the product are the other factor's mean over x and x' instead, since
 * g x - g' x' = (g + g')/2 (x - x') + (x + x')/2 (g - g') exactly. */
int dx_backward_gate(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    const dx_rule *rule = dx_rule_of(p, i);
    float *d = dx_scratch(m, l->outputs);
    dx_activation_grad(rule, l, l->output, gout, d);
    const float *g = dx_output_of(m, i - 1), *x = dx_output_of(m, l->input_layers[0]);
    float *gg = dx_pass_buf(p, i - 1), *gx = dx_pass_buf(p, l->input_layers[0]);
    if (rule->kind != DX_RULE_RESCALE) {
        for (int k = 0; k < l->outputs; ++k) {
            int at = gate_index(l, k);
            gx[k] += d[k] * g[at];
            gg[at] += d[k] * x[k];
        }
        return 0;
    }
    const float *g_ref = rule->reference->in_ref, *x_ref = rule->reference->gated_ref;
    for (int k = 0; k < l->outputs; ++k) {
        int at = gate_index(l, k);
        gx[k] += d[k] * (0.5f * (g[at] + g_ref[at]));
        gg[at] += d[k] * (0.5f * (x[k] + x_ref[k]));
    }
    return 0;
}

/* LRP: the gated signal takes all the relevance and the gate none, as LRP treats multiplicative
 * gates (Arras et al., "signal-take-all"): R_x = R, which conserves relevance. */
int dx_lrp_gate(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    float *rx = dx_pass_buf(p, l->input_layers[0]);
    for (int k = 0; k < l->outputs; ++k) rx[k] += rout[k];
    (void)dx_pass_buf(p, i - 1);
    return 0;
}
