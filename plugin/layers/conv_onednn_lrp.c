/* LRP's two convolutions of a [convolutional] layer through oneDNN (issue #18; lrp/linear.c's
 * engine): each base's z_t = conv(in_t, W_t), an inference forward without bias or post-op, and
 * its adjoint conv^T(u_t, W_t), a backward-data written over the output, both at one image with
 * the rule's modification W_t of the batch-norm-folded weights. The two primitives, the same for
 * every W_t, are built once per layer and kept in its oneDNN state (onednn_internal.h;
 * dx_params_changed and dx_set_onednn free it with the rest). W_t is not kept: the caller makes
 * it at each call and it is reordered into the caller's scratch. Kept in both layouts, the
 * default composite's W+ and W- were four more copies of every convolution's weights and put
 * LRP's peak memory above Zennit's; made per call they cost time instead, less than Zennit's
 * lead (docs/benchmarks.md). The inputs (modified activations) and u_t go through the handles,
 * as the forward's and backward's buffers do. */
#include "layers/layers.h"
#include "layers/onednn_internal.h"
#include "lrp/lrp.h"
#include "memory.h"
#include "model.h"

/* z = conv(in, w) at one image: src in oneDNN's choice of layout (reordered from Darknet's nchw
 * where it differs), no bias, no post-op, weights given per call. */
static int build_lrp_forward(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, const void *unused)
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
                     dx_onednn_set_up(c, d, pd, NULL, &s.w_plain, &s.src, dnnl_query_src_md, &s.dst,
                                      dnnl_query_dst_md, 0) == 0
                 ? 0 : -1;
    if (pd) dx_dnnl.dnnl_primitive_desc_destroy(pd);
    if (attr) dx_dnnl.dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* adj = conv^T(u, w): the reverse pass's backward-data, overwriting its output, weights given
 * per call. */
static int build_lrp_adjoint(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, const void *unused)
{
    return dx_onednn_build_backward_data(c, d, l, NULL, 0);
}

/* Layer i's forward (adjoint), built at its first use; NULL where oneDNN cannot run it. */
static dx_onednn_direction *ready(dx_model *m, int i, int adjoint)
{
    dx_onednn_conv *c = dx_onednn_state(m, i);
    if (!c || !c->stream) return NULL; /* no state, or its engine failed */
    dx_onednn_direction *d = adjoint ? &c->lrp_adj : &c->lrp_fwd;
    return dx_onednn_ready(c, d, &m->net->layers[i], adjoint ? build_lrp_adjoint : build_lrp_forward, NULL) == 0 ? d
                                                                                                              : NULL;
}

long dx_onednn_lrp_prepare(dx_model *m, int i)
{
    const dx_onednn_direction *fwd = ready(m, i, 0), *adj = fwd ? ready(m, i, 1) : NULL;
    if (!adj) return -1;
    return (long)(fwd->w_blocked_floats > adj->w_blocked_floats ? fwd->w_blocked_floats : adj->w_blocked_floats);
}

/* One of layer i's LRP convolutions from in to out (Darknet's layout, one image). */
static int lrp_conv(dx_model *m, int i, const float *w, float *w_blocked, const float *in, float *out, int adjoint)
{
    dx_onednn_direction *d = ready(m, i, adjoint);
    dx_onednn_conv *c = m->hooks[i].onednn;
    if (!d || dx_onednn_execute(c, d, w, w_blocked, adjoint ? DNNL_ARG_DIFF_DST : DNNL_ARG_SRC, in,
                                adjoint ? DNNL_ARG_DIFF_SRC : DNNL_ARG_DST, out) != 0)
        return -1;
    c->lrp_convs++;
    return 0;
}

int dx_onednn_lrp_forward(dx_model *m, int i, const float *w, float *w_blocked, const float *in, float *z)
{
    return lrp_conv(m, i, w, w_blocked, in, z, 0);
}

int dx_onednn_lrp_adjoint(dx_model *m, int i, const float *w, float *w_blocked, const float *u, float *adj)
{
    return lrp_conv(m, i, w, w_blocked, u, adj, 1);
}

long dx_onednn_lrp_convs(const dx_model *m, int i)
{
    const dx_onednn_conv *c = i >= 0 && i < m->n && m->hooks ? m->hooks[i].onednn : NULL;
    return c ? c->lrp_convs : 0;
}
