/* Which backward each Darknet layer type uses. Types missing here cannot be differentiated. */
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
    if (l->type == CONVOLUTIONAL && l->size != 1)
        return (size_t)l->outputs + (size_t)l->size * l->size * (l->c / l->groups) * l->out_h * l->out_w;
    return (size_t)l->outputs;
}
