/* The one table of what darknet-explain can do with each layer type: its inference backward and
 * its LRP redistribution (the reverse pass, engine.c, runs one or the other by the layer's
 * rule), and for incremental inference its region forward and the reach of a change (the
 * functions live beside each other in layers/, one file per family). A type without a row can
 * be neither differentiated nor explained through. */
#include <stdio.h>
#include <stdlib.h>
#include "error.h"
#include "layers.h"
#include "memory.h"
#include "model.h"

static const dx_layer_ops table[] = {
    [DX_LAYER_CONVOLUTIONAL] = {dx_backward_convolutional, dx_lrp_convolutional,
                                dx_forward_region_convolutional, dx_reach_convolutional},
    [DX_LAYER_CONNECTED] = {dx_backward_connected, dx_lrp_connected, 0, 0},
    [DX_LAYER_MAXPOOL] = {dx_backward_maxpool, dx_lrp_maxpool, dx_forward_region_maxpool, dx_reach_maxpool},
    [DX_LAYER_AVGPOOL] = {dx_backward_avgpool, dx_lrp_avgpool, 0, 0},
    [DX_LAYER_ROUTE] = {dx_backward_route, dx_lrp_route, dx_forward_region_route, 0},
    [DX_LAYER_SHORTCUT] = {dx_backward_shortcut, dx_lrp_shortcut, dx_forward_region_shortcut, 0},
    [DX_LAYER_UPSAMPLE] = {dx_backward_upsample, dx_lrp_upsample, dx_forward_region_upsample, dx_reach_upsample},
    [DX_LAYER_REORG] = {dx_backward_reorg, dx_lrp_reorg, 0, 0},
    [DX_LAYER_CROP] = {dx_backward_crop, dx_lrp_crop, 0, 0},
    [DX_LAYER_DROPOUT] = {dx_backward_identity, dx_lrp_pass, dx_forward_region_none, dx_reach_same},
    [DX_LAYER_ACTIVATION] = {dx_backward_activation, dx_lrp_pass, 0, 0},
    [DX_LAYER_LOGISTIC] = {dx_backward_activation, dx_lrp_pass, 0, 0},
    [DX_LAYER_SOFTMAX] = {dx_backward_softmax, dx_lrp_pass, 0, 0},
    [DX_LAYER_YOLO] = {dx_backward_yolo, dx_lrp_pass, 0, 0},
    [DX_LAYER_REGION] = {dx_backward_region, dx_lrp_pass, 0, 0},
    [DX_LAYER_SCALE_CHANNELS] = {dx_backward_gate, dx_lrp_gate, 0, 0},
    [DX_LAYER_SAM] = {dx_backward_gate, dx_lrp_gate, 0, 0},
};

static const dx_layer_ops none;

const dx_layer_ops *dx_layer_ops_of(const dx_layer *l)
{
    if (l->type == DX_LAYER_MAXPOOL && l->maxpool_depth) return &none; /* a max over channels: not yet */
    return (unsigned)l->type < sizeof table / sizeof *table ? &table[l->type] : &none;
}

int dx_layer_reverse(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err)
{
    const dx_layer *l = &m->net->layers[i];
    dx_rule_kind kind = dx_rule_of(p, i)->kind;
    int gradient = kind == DX_RULE_GRADIENT || kind == DX_RULE_GUIDED || kind == DX_RULE_DECONV || kind == DX_RULE_RESCALE;
    dx_reverse_fn fn = gradient ? dx_layer_ops_of(l)->backward : dx_layer_ops_of(l)->lrp;
    if (!fn) {
        dx_set_error(err, "layer %d [%s]: darknet-explain has no %s for this layer type; choose a layer above it",
                     i, l->type_name, gradient ? "backward" : "LRP rule");
        return -1;
    }
    return fn(m, p, i, gout, err);
}

size_t dx_layer_scratch_floats(const dx_layer *l)
{
    /* a convolution's backward: outputs, then (size > 1) the column matrix; its region forward
     * (groups 1): the column matrix of a rectangle, then its outputs, at most the same for a 1x1 */
    if (l->type == DX_LAYER_CONVOLUTIONAL)
        return (size_t)l->outputs + (size_t)l->size * l->size * (l->c / l->groups) * l->out_h * l->out_w;
    return (size_t)l->outputs;
}

/* merges: the layer below, then input_layers[0..n) (route: only those) */
static int merges(const dx_layer *l)
{
    return l->type == DX_LAYER_SHORTCUT || l->type == DX_LAYER_SCALE_CHANNELS || l->type == DX_LAYER_SAM;
}

int dx_layer_source_count(const dx_layer *l)
{
    return l->type == DX_LAYER_ROUTE ? l->n : merges(l) ? 1 + l->n : 1;
}

int dx_layer_source(const dx_layer *l, int i, int s)
{
    if (l->type == DX_LAYER_ROUTE) return l->input_layers[s];
    return merges(l) && s > 0 ? l->input_layers[s - 1] : i - 1;
}

int dx_reserve_reverse(const dx_model *m, float **bufs, int top, int stop, dx_error *err)
{
    for (int i = top; i >= stop && i >= 0; --i) {
        const dx_layer *l = &m->net->layers[i];
        int n = i > stop ? dx_layer_source_count(l) : 0;
        for (int s = -1; s < n; ++s) {
            int j = s < 0 ? i : dx_layer_source(l, i, s);
            if (j < 0 || bufs[j]) continue;
            char subject[DX_SUBJECT_LEN];
            snprintf(subject, sizeof subject, "the reverse pass's buffer of layer %d of %s", j, dx_model_file(m));
            if (!(bufs[j] = dx_alloc(m->net->layers[j].outputs, sizeof(float), subject, err))) return -1;
        }
    }
    return 0;
}

/* Region forwards stand in for the Darknet's forward only where they compute what it computes:
 * not on binary convolutions, dilated or anisotropic ones, nor a downsampling [upsample]. */
int dx_layer_has_region_forward(const dx_layer *l)
{
    if (l->type == DX_LAYER_CONVOLUTIONAL && (l->binary || l->dilation != 1 || l->stride_x != l->stride_y)) return 0;
    if (l->darknet_forward_only) return 0;
    if (l->type == DX_LAYER_UPSAMPLE && l->reverse) return 0;
    if (l->type == DX_LAYER_SHORTCUT && l->sum_flat && (l->n > 1 || l->nweights)) return 0;
    if (l->type == DX_LAYER_MAXPOOL && (l->maxpool_depth || l->stride_x != l->stride_y)) return 0;
    return dx_layer_ops_of(l)->region_forward != 0;
}

void dx_layer_forward_region(dx_model *m, int i, dx_rect r)
{
    dx_layer_ops_of(&m->net->layers[i])->region_forward(m, i, r);
}
