/* DeepLIFT (Shrikumar et al. 2017). The Rescale rule: a forward on the reference x' (-baseline)
 * and one on x, then one reverse pass (engine.c) with the rule set DX_RULE_RESCALE, in which each
 * activation's derivative becomes the multiplier (f(z) - f(z')) / (z - z') (the gradient where
 * |z - z'| < DX_RESCALE_THRESHOLD, layers/conv.c) and [maxpool] splits its output difference as
 * Captum's DeepLift does (layers/pool.c); the linear layers (convolution with batch norm,
 * connected, route, shortcut's sum, upsample, avgpool, reorg, crop) pass multipliers as they pass
 * gradients; [yolo] heads rescale each output against its own input; a product of two layers
 * ([scale_channels], [sam]) gives each factor the other's mean over x and x' (exact for a
 * product). The score's multipliers are
 * its gradient averaged over x and x'. The attribution is (x - x') times the multiplier reaching
 * the input; by summation to delta they add up to f(x) - f(x') when the score is linear or
 * bilinear in its layer's outputs (a class's logit, a box's objectness x class probability, its
 * centre); for a softmax probability, a box's width or height and through [region] heads only
 * approximately (the JSON reports the gap). The RevealCancel rule (-rule revealcancel) runs the
 * same two forwards, then its own two-channel pass (revealcancel.c) from the target's layer, or
 * from the layer below a head ([yolo], [region], [softmax]) after the head's Rescale step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "error.h"
#include "methods.h"
#include "methods/baseline.h"
#include "memory.h"
#include "model.h"

static int is_gate(const dx_layer *l) { return l->type == DX_LAYER_SCALE_CHANNELS || l->type == DX_LAYER_SAM; }

/* The layers whose backward applies their activation (dx_activation_grad) to an input the
 * Darknet's forward does not keep: DeepLIFT needs it on x and on x'. */
static int keeps_no_activation_input(const dx_layer *l)
{
    if (l->activation == DX_ACT_LINEAR) return 0;
    return l->type == DX_LAYER_CONVOLUTIONAL || l->type == DX_LAYER_CONNECTED || l->type == DX_LAYER_SHORTCUT ||
           is_gate(l);
}

/* [activation] and [logistic]: the activation's input is the layer's input. */
static int activation_of_input(const dx_layer *l)
{
    return (l->type == DX_LAYER_ACTIVATION || l->type == DX_LAYER_LOGISTIC) && l->activation != DX_ACT_LINEAR;
}

/* z = layer i's activation input in the current forward state; its output is put back from keep
 * (the layer's outputs floats: its output in that state). */
static void activation_input(dx_model *m, int i, float *z, const float *keep)
{
    dx_layer *l = &m->net->layers[i];
    dx_forward_layer_linear(m, i);
    memcpy(z, l->output, sizeof(float) * l->outputs);
    memcpy(l->output, keep, sizeof(float) * l->outputs);
}

/* the heads RevealCancel starts below, their one step done by Rescale */
static int is_head(const dx_layer *l)
{
    return l->type == DX_LAYER_YOLO || l->type == DX_LAYER_REGION || l->type == DX_LAYER_SOFTMAX;
}

int dx_deeplift(dx_model *m, const dx_target *t, dx_deeplift_rule rule, const float *base, float *attr,
                double *f_x, double *f_base, dx_error *err)
{
    const dx_net *net = m->net;
    int top = t->layer, rc = -1;
    size_t n = (size_t)net->inputs, floats = 0, largest = 0;
    for (int i = 0; i <= top; ++i) {
        size_t outputs = (size_t)net->layers[i].outputs;
        floats += outputs * (keeps_no_activation_input(&net->layers[i]) ? 3 : 1);
        if (outputs > largest) largest = outputs;
    }
    const char *what = "DeepLIFT's copy of the reference's forward";
    float *x = NULL, *block = NULL, *keep = NULL, *seed = NULL, *seed_ref = NULL;
    dx_reference_layer *refs = NULL;
    dx_rule *rules = NULL;
    if (!(x = dx_alloc(n, sizeof(float), what, err)) || !(block = dx_alloc(floats, sizeof(float), what, err)) ||
        !(keep = dx_alloc(largest, sizeof(float), what, err)) ||
        !(seed = dx_alloc(2 * (size_t)net->layers[top].outputs, sizeof(float), what, err)) ||
        !(refs = dx_alloc((size_t)m->n, sizeof *refs, what, err)) ||
        !(rules = dx_alloc((size_t)m->n, sizeof *rules, what, err)))
        goto done;
    seed_ref = seed + net->layers[top].outputs;
    memcpy(x, dx_output_of(m, -1), n * sizeof(float));
    float *at = block;
    for (int i = 0; i <= top; ++i) {
        const dx_layer *l = &net->layers[i];
        float *out_ref = at;
        at += l->outputs;
        refs[i].out_ref = out_ref;
        refs[i].in_ref = i > 0 ? refs[i - 1].out_ref : base;
        if (is_gate(l)) refs[i].gated_ref = refs[l->input_layers[0]].out_ref;
        if (keeps_no_activation_input(l)) {
            refs[i].z = at;
            refs[i].z_ref = at + l->outputs;
            at += 2 * (size_t)l->outputs;
        } else if (activation_of_input(l)) {
            refs[i].z = dx_output_of(m, i - 1); /* the forward state on x, below */
            refs[i].z_ref = refs[i].in_ref;
        }
        rules[i] = (dx_rule){.kind = DX_RULE_RESCALE, .reference = &refs[i]};
    }
    dx_forward(m, base);
    *f_base = t->eval(t, m, seed_ref);
    for (int i = 0; i <= top; ++i) {
        const dx_layer *l = &net->layers[i];
        memcpy((float *)refs[i].out_ref, l->output, sizeof(float) * l->outputs);
        if (keeps_no_activation_input(l)) activation_input(m, i, (float *)refs[i].z_ref, refs[i].out_ref);
    }
    dx_forward(m, x);
    *f_x = t->eval(t, m, seed);
    for (int i = 0; i <= top; ++i) {
        const dx_layer *l = &net->layers[i];
        if (!keeps_no_activation_input(l)) continue;
        memcpy(keep, l->output, sizeof(float) * l->outputs);
        activation_input(m, i, (float *)refs[i].z, keep);
    }
    /* the score's own multipliers: its gradient averaged over x and x' (the trapezoid rule from
     * x' to x), so that sum seed (y - y') = f(x) - f(x') for a score linear or bilinear in its
     * layer's outputs (a logit, objectness x class probability) */
    for (size_t k = 0; k < (size_t)net->layers[top].outputs; ++k) seed[k] = 0.5f * (seed[k] + seed_ref[k]);
    dx_rules set = {.layers = rules, .every = {.kind = DX_RULE_RESCALE}};
    if (rule == DX_DEEPLIFT_REVEALCANCEL) {
        int below = is_head(&net->layers[top]) ? top - 1 : top;
        if (below < top && dx_reverse_seeded(m, top, seed, below, &set, &m->pass, err) != 0) goto done;
        rc = dx_revealcancel(m, below, below < top ? dx_grad_of(m, below) : seed, refs, base, attr, err);
        goto done;
    }
    if (dx_reverse_seeded(m, top, seed, -1, &set, &m->pass, err) != 0) goto done;
    const float *mult = dx_grad_of(m, -1);
    for (size_t k = 0; k < n; ++k) attr[k] = (x[k] - base[k]) * mult[k];
    rc = 0;
done:
    free(x);
    free(block);
    free(keep);
    free(seed);
    free(refs);
    free(rules);
    return rc;
}

/* The map: the attributions summed over the channels (signed), as Integrated Gradients'. */
int dx_method_deeplift(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    const dx_net *net = m->net;
    size_t n = (size_t)net->inputs;
    int spatial = net->h * net->w, rc = -1;
    float *base = NULL, *attr = NULL, *map = NULL;
    double f_x, f_base, total = 0;
    if (!(base = dx_alloc(n, sizeof(float), "DeepLIFT's reference", err)) ||
        !(attr = dx_alloc(n, sizeof(float), "DeepLIFT's attributions", err)) ||
        !(map = dx_alloc((size_t)spatial, sizeof(float), "DeepLIFT's map", err)))
        goto done;
    if (dx_request_baseline(m, req, dx_output_of(m, -1), base, err) != 0) goto done;
    if (dx_deeplift(m, t, req->deeplift_rule, base, attr, &f_x, &f_base, err) != 0) goto done;
    for (int c = 0; c < net->c; ++c)
        for (int p = 0; p < spatial; ++p) {
            double a = attr[(size_t)c * spatial + p];
            map[p] += (float)a;
            total += a;
        }
    r->native = map;
    r->native_h = net->h;
    r->native_w = net->w;
    r->layer = -1;
    r->signed_map = 1;
    map = NULL;
    dx_result_stat(r, "summation_delta", fabs(total - (f_x - f_base)));
    dx_result_stat(r, "attribution_sum", total);
    dx_result_stat(r, "score_difference", f_x - f_base);
    dx_result_stat(r, "baseline_score", f_base);
    rc = 0;
done:
    free(base);
    free(attr);
    free(map);
    return rc;
}
