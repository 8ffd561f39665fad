/* LRP's two convolutions of a [convolutional] layer through oneDNN (issue #18; lrp/linear.c's
 * engine): each base's z_t = conv(in_t, W_t), an inference forward without bias or post-op, and
 * its adjoint conv^T(u_t, W_t), a backward-data written over the output, both at one image with
 * the rule's modification W_t of the batch-norm-folded weights. The primitives and the reordered
 * W_t are kept per (layer, modification) in the layer's oneDNN state (onednn_internal.h), so a
 * model's weights are reordered once, not at every explanation; dx_params_changed and
 * dx_set_onednn free that state with the rest. The inputs (modified activations) and u_t change
 * at every call: they go through the handles, as the forward's and backward's buffers do. */
#include "layers/layers.h"
#include "layers/onednn_internal.h"
#include "lrp/lrp.h"
#include "memory.h"
#include "model.h"

_Static_assert(DX_W_ONES + 1 == DX_ONEDNN_LRP_MODS, "one cached direction per dx_weight_mod");

/* z = conv(in, w) at one image: src in oneDNN's choice of layout (reordered from Darknet's nchw
 * where it differs), no bias, no post-op. */
static int build_lrp_forward(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, const void *w)
{
    dx_onednn_shapes s;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_attr_t attr = 0;
    dnnl_primitive_desc_t pd = 0;
    if (dx_onednn_shapes_of(l, 1, &s) != 0) return -1;
    int rc = dx_dnnl.dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                                &s.src_any, &s.w_any, NULL, &s.dst_any, s.strides,
                                                                s.dilates, s.pad_l, s.pad_r) == dnnl_success &&
                     (attr = dx_onednn_user_scratchpad()) &&
                     dx_dnnl.dnnl_primitive_desc_create(&pd, &cd, attr, c->engine, NULL) == dnnl_success &&
                     dx_onednn_set_up(c, d, pd, w, &s.w_plain, &s.src, dnnl_query_src_md, &s.dst, dnnl_query_dst_md,
                                      0) == 0
                 ? 0 : -1;
    if (pd) dx_dnnl.dnnl_primitive_desc_destroy(pd);
    if (attr) dx_dnnl.dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* adj = conv^T(u, w): the reverse pass's backward-data with w, overwriting its output. */
static int build_lrp_adjoint(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, const void *w)
{
    return dx_onednn_build_backward_data(c, d, l, w, 0);
}

static dx_onednn_direction *cached(const dx_model *m, int i, int mod, int adjoint)
{
    dx_onednn_conv *c = i >= 0 && i < m->n && m->hooks ? m->hooks[i].onednn : NULL;
    if (!c || !c->lrp || mod < 0 || mod >= DX_ONEDNN_LRP_MODS) return NULL;
    return &c->lrp[adjoint * DX_ONEDNN_LRP_MODS + mod];
}

int dx_onednn_lrp_built(const dx_model *m, int i, int mod, int adjoint)
{
    const dx_onednn_direction *d = cached(m, i, mod, adjoint);
    return d && d->conv.p;
}

/* One of layer i's LRP convolutions from in to out (Darknet's layout, one image). */
static int lrp_conv(dx_model *m, int i, int mod, const float *w, const float *in, float *out, int adjoint)
{
    const dx_layer *l = &m->net->layers[i];
    dx_onednn_conv *c = mod >= 0 && mod < DX_ONEDNN_LRP_MODS ? dx_onednn_state(m, i) : NULL;
    if (!c || !c->stream) return -1; /* no state, or its engine failed */
    if (!c->lrp && !(c->lrp = dx_alloc_optional(2 * DX_ONEDNN_LRP_MODS, sizeof *c->lrp))) return -1;
    dx_onednn_direction *d = &c->lrp[adjoint * DX_ONEDNN_LRP_MODS + mod];
    if (!d->conv.p && !w) return -1; /* not built and nothing to build it from */
    if (dx_onednn_ready(c, d, l, adjoint ? build_lrp_adjoint : build_lrp_forward, w) != 0 ||
        dx_onednn_execute(c, d, adjoint ? DNNL_ARG_DIFF_DST : DNNL_ARG_SRC, in, adjoint ? DNNL_ARG_DIFF_SRC : DNNL_ARG_DST,
                          out) != 0)
        return -1;
    c->lrp_convs++;
    return 0;
}

int dx_onednn_lrp_forward(dx_model *m, int i, int mod, const float *w, const float *in, float *z)
{
    return lrp_conv(m, i, mod, w, in, z, 0);
}

int dx_onednn_lrp_adjoint(dx_model *m, int i, int mod, const float *w, const float *u, float *adj)
{
    return lrp_conv(m, i, mod, w, u, adj, 1);
}

long dx_onednn_lrp_convs(const dx_model *m, int i)
{
    const dx_onednn_conv *c = i >= 0 && i < m->n && m->hooks ? m->hooks[i].onednn : NULL;
    return c ? c->lrp_convs : 0;
}
