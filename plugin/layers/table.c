/* Which backward each Darknet layer type uses. Types missing here cannot be differentiated. */
#include <stdlib.h>
#include "layers.h"

static dx_backward_fn backward_for(LAYER_TYPE t)
{
    switch (t) {
    case CONVOLUTIONAL: return dx_backward_convolutional;
    case CONNECTED: return dx_backward_connected;
    case MAXPOOL: return dx_backward_maxpool;
    case AVGPOOL: return dx_backward_avgpool;
    case ROUTE: return dx_backward_route;
    case SHORTCUT: return dx_backward_shortcut;
    case UPSAMPLE: return dx_backward_upsample;
    case REORG: return dx_backward_reorg;
    case CROP: return dx_backward_crop;
    case DROPOUT: return dx_backward_identity;
    case ACTIVE: case LOGXENT: return dx_backward_activation;
    case SOFTMAX: return dx_backward_softmax;
    case YOLO: return dx_backward_yolo;
    case REGION: return dx_backward_region;
    default: return 0;
    }
}

int dx_layer_backward(dx_model *m, int i, const float *gout, dx_error *err)
{
    dx_backward_fn f = backward_for(m->net->layers[i].type);
    if (!f) {
        dx_set_error(err, "layer %d [%s]: darknet-explain has no backward for this layer type; "
                          "choose a layer above it", i, dx_layer_type_name(m->net->layers[i].type));
        return -1;
    }
    return f(m, i, gout, err);
}

/* The LRP redistribution of each layer type, beside its backward. */
static dx_lrp_fn lrp_for(LAYER_TYPE t)
{
    switch (t) {
    case CONVOLUTIONAL: return dx_lrp_convolutional;
    case CONNECTED: return dx_lrp_connected;
    case MAXPOOL: return dx_lrp_maxpool;
    case AVGPOOL: return dx_lrp_avgpool;
    case ROUTE: return dx_lrp_route;
    case SHORTCUT: return dx_lrp_shortcut;
    case UPSAMPLE: return dx_lrp_upsample;
    case REORG: return dx_lrp_reorg;
    case CROP: return dx_lrp_crop;
    case DROPOUT: case ACTIVE: case LOGXENT: case SOFTMAX: case YOLO: case REGION: return dx_lrp_pass;
    default: return 0;
    }
}

int dx_layer_lrp(dx_model *m, dx_lrp *p, int i, const float *rout, dx_error *err)
{
    dx_lrp_fn f = lrp_for(m->net->layers[i].type);
    if (!f) {
        dx_set_error(err, "layer %d [%s]: darknet-explain has no LRP rule for this layer type; "
                          "choose a layer above it", i, dx_layer_type_name(m->net->layers[i].type));
        return -1;
    }
    return f(m, p, i, rout, err);
}

size_t dx_layer_scratch_floats(const layer *l)
{
    /* a convolution's backward: outputs, then (size > 1) the column matrix; its region forward
     * (groups 1): the column matrix of a rectangle, then its outputs, at most the same for a 1x1 */
    if (l->type == CONVOLUTIONAL)
        return (size_t)l->outputs + (size_t)l->size * l->size * (l->c / l->groups) * l->out_h * l->out_w;
    return (size_t)l->outputs;
}

int dx_layer_source_count(const layer *l)
{
    return l->type == ROUTE ? l->n : l->type == SHORTCUT ? 2 : 1;
}

int dx_layer_source(const layer *l, int i, int s)
{
    return l->type == ROUTE ? l->input_layers[s] : l->type == SHORTCUT && s == 1 ? l->index : i - 1;
}

int dx_reserve_reverse(const dx_model *m, float **bufs, int top, int stop, dx_error *err)
{
    for (int i = top; i >= stop && i >= 0; --i) {
        const layer *l = &m->net->layers[i];
        int n = i > stop ? dx_layer_source_count(l) : 0;
        for (int s = -1; s < n; ++s) {
            int j = s < 0 ? i : dx_layer_source(l, i, s);
            if (j < 0 || bufs[j]) continue;
            if (!(bufs[j] = calloc((size_t)m->net->layers[j].outputs, sizeof(float)))) {
                dx_set_error(err, "%s: out of memory for the reverse pass's buffer of layer %d (%d floats)",
                             dx_model_file(m), j, m->net->layers[j].outputs);
                return -1;
            }
        }
    }
    return 0;
}

/* The layer types incremental inference recomputes by region; the others are run whole. */
static dx_region_forward_fn region_forward_for(const layer *l)
{
    switch (l->type) {
    case CONVOLUTIONAL: return l->xnor || l->binary ? 0 : dx_forward_region_convolutional;
    case MAXPOOL: return dx_forward_region_maxpool;
    case ROUTE: return dx_forward_region_route;
    case SHORTCUT: return dx_forward_region_shortcut;
    case UPSAMPLE: return l->reverse ? 0 : dx_forward_region_upsample;
    case DROPOUT: return dx_forward_region_none;
    default: return 0;
    }
}

int dx_layer_has_region_forward(const layer *l)
{
    return region_forward_for(l) != 0;
}

void dx_layer_forward_region(dx_model *m, int i, dx_rect r)
{
    region_forward_for(&m->net->layers[i])(m, i, r);
}
