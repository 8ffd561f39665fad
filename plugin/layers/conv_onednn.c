/* [convolutional] forward through oneDNN (issue #18): one convolution primitive per layer on
 * Darknet's own planar buffers (nchw in place: no copy of the input or the output), batch norm
 * folded into the weights and bias, the activation a post-op where oneDNN computes the same
 * function, else Darknet's own afterwards.
 *
 * Why the stand-in may replace Darknet's forward before a reverse pass: the reverse pass
 * (engine.c, layers/conv.c's backward and LRP, DeepLIFT) reads of a convolution only its output,
 * its weights and statistics, and l->activation_input where a Darknet keeps the activation's input
 * (AlexeyAB's mish/swish: dx_onednn_supports leaves those layers to Darknet). pjreddie's
 * inference forward also copies the pre-normalisation sums into l.x, which nothing reads (it is
 * not in the neutral table). DeepLIFT's linear forward runs Darknet's own (engine.c turns the
 * stand-ins off), so its activation input is Darknet's exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include "hooks.h"
#include "layers/layers.h"
#include "layers/onednn.h"
#include "memory.h"
#include "model.h"

struct dx_onednn_conv {
    int failed;                   /* building failed: Darknet's forward from now on */
    int threads;                  /* OpenMP threads the primitive was built for and runs on */
    long forwards;
    int post_op;                  /* the activation is oneDNN's post-op (else dx_activate after) */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t conv;
    dnnl_memory_t src, weights, bias, dst; /* src and dst on Darknet's buffers (handles set per call) */
    /* where the primitive prefers a blocked layout for src or dst: its own buffer and the reorder
     * from (to) Darknet's, else NULL */
    dnnl_memory_t src_blocked, dst_blocked;
    dnnl_primitive_t src_reorder, dst_reorder;
};

/* oneDNN's OpenMP threads: OMP_NUM_THREADS's when the user sets it, else one, as OpenBLAS's
 * (memory.c): on the shared 2-core machine two threads were several times slower whenever the
 * other core was busy, one thread 2-2.5x faster than Darknet's forward on every model measured
 * (docs/benchmarks.md#onednn-convolutions). The calling thread's count is set around each oneDNN
 * call and restored after (an OpenMP setting of the thread, so a program's own OpenMP is left as
 * it was); oneDNN fixes a primitive's threads when it builds it. */
static int threads_wanted(void)
{
    return getenv("OMP_NUM_THREADS") ? omp_get_max_threads() : 1;
}

/* oneDNN's eltwise with Darknet's function (activations.h): relu x*(x>0), leaky x>0 ? x : .1x,
 * logistic 1/(1+exp(-x)), tanh, elu (x>=0)*x + (x<0)*(exp(x)-1). 0 when oneDNN has none. */
static dnnl_alg_kind_t post_op_of(dx_activation a, float *alpha)
{
    *alpha = 0.f;
    switch (a) {
    case DX_ACT_RELU: return dnnl_eltwise_relu;
    case DX_ACT_LEAKY: *alpha = .1f; return dnnl_eltwise_relu;
    case DX_ACT_LOGISTIC: return dnnl_eltwise_logistic;
    case DX_ACT_TANH: return dnnl_eltwise_tanh;
    case DX_ACT_ELU: *alpha = 1.f; return dnnl_eltwise_elu;
    default: return dnnl_alg_kind_undef;
    }
}

/* oneDNN's right/bottom padding that gives Darknet's output size:
 * out = (in + pad + right - ((size - 1) * dilation + 1)) / stride + 1. */
static int right_pad(int in, int out, int size, int stride, int dilation, int pad)
{
    return (out - 1) * stride + (size - 1) * dilation + 1 - in - pad;
}

int dx_onednn_supports(const dx_layer *l)
{
    if (l->type != DX_LAYER_CONVOLUTIONAL || l->binary || l->activation_input || l->darknet_forward_only) return 0;
    if (l->groups < 1 || l->c % l->groups || l->n % l->groups || l->dilation < 1) return 0;
    return right_pad(l->h, l->out_h, l->size, l->stride_y, l->dilation, l->pad) >= 0 &&
           right_pad(l->w, l->out_w, l->size, l->stride_x, l->dilation, l->pad) >= 0;
}

void dx_onednn_conv_free(dx_onednn_conv *c)
{
    if (!c) return;
    dnnl_memory_t mems[] = {c->src, c->weights, c->bias, c->dst, c->src_blocked, c->dst_blocked};
    for (size_t k = 0; k < sizeof mems / sizeof *mems; ++k)
        if (mems[k]) dnnl_memory_destroy(mems[k]);
    dnnl_primitive_t prims[] = {c->conv, c->src_reorder, c->dst_reorder};
    for (size_t k = 0; k < sizeof prims / sizeof *prims; ++k)
        if (prims[k]) dnnl_primitive_destroy(prims[k]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
    free(c);
}

/* The weights with batch norm folded in, in Darknet's layout (n x c/groups x size x size), and
 * the bias: Darknet computes scale * (W*x - mean) / D + bias, D = dx_bn_divisor, so
 * W' = W * scale / D, b' = bias - mean * scale / D. Without batch norm W, bias. NULL when out
 * of memory. */
static float *folded_weights(const dx_layer *l, float *bias)
{
    float *w = malloc(sizeof(float) * (l->nweights ? l->nweights : 1));
    if (!w) return NULL;
    size_t per_filter = (size_t)l->nweights / l->n;
    for (int o = 0; o < l->n; ++o) {
        double f = l->batch_normalize ? l->scales[o] / dx_bn_divisor(l, o) : 1;
        for (size_t k = 0; k < per_filter; ++k) w[o * per_filter + k] = (float)(l->weights[o * per_filter + k] * f);
        bias[o] = (float)(l->batch_normalize ? l->biases[o] - l->rolling_mean[o] * f : l->biases[o]);
    }
    return w;
}

/* Runs one primitive with n (argument, memory) pairs and waits for it. */
static int run(dnnl_primitive_t p, dnnl_stream_t s, int n, const dnnl_exec_arg_t *args)
{
    return dnnl_primitive_execute(p, s, n, args) == dnnl_success && dnnl_stream_wait(s) == dnnl_success ? 0 : -1;
}

/* A reorder from memory descriptor `from` to `to` (one of them Darknet's nchw). */
static int make_reorder(dnnl_primitive_t *r, dnnl_engine_t e, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to)
{
    dnnl_primitive_desc_t pd = 0;
    int rc = dnnl_reorder_primitive_desc_create(&pd, from, e, to, e, NULL) == dnnl_success &&
             dnnl_primitive_create(r, pd) == dnnl_success ? 0 : -1;
    if (pd) dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* When the primitive's `chosen` layout for src (dst) is not Darknet's nchw: its own buffer and the
 * reorder into (out of) it. */
static int blocked_side(dx_onednn_conv *c, const dnnl_memory_desc_t *nchw, const dnnl_memory_desc_t *chosen, int is_src)
{
    if (dnnl_memory_desc_equal(nchw, chosen)) return 0;
    dnnl_memory_t *mem = is_src ? &c->src_blocked : &c->dst_blocked;
    if (dnnl_memory_create(mem, chosen, c->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) return -1;
    return is_src ? make_reorder(&c->src_reorder, c->engine, nchw, chosen)
                  : make_reorder(&c->dst_reorder, c->engine, chosen, nchw);
}

/* Darknet's weights (folded) reordered once into the layout the primitive prefers. */
static int load_weights(dx_onednn_conv *c, const dx_layer *l, const dnnl_memory_desc_t *plain,
                        const dnnl_memory_desc_t *preferred)
{
    float *bias = malloc(sizeof(float) * l->n);
    float *w = bias ? folded_weights(l, bias) : NULL;
    dnnl_memory_desc_t bias_md;
    dnnl_dims_t bias_dims = {l->n};
    dnnl_memory_t from = 0;
    dnnl_primitive_t reorder = 0;
    int rc = -1;
    if (!w || dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a) != dnnl_success ||
        dnnl_memory_create(&c->bias, &bias_md, c->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success ||
        dnnl_memory_create(&c->weights, preferred, c->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success ||
        dnnl_memory_create(&from, plain, c->engine, w) != dnnl_success ||
        make_reorder(&reorder, c->engine, plain, preferred) != 0)
        goto done;
    void *bias_data = 0;
    if (dnnl_memory_get_data_handle(c->bias, &bias_data) != dnnl_success) goto done;
    memcpy(bias_data, bias, sizeof(float) * l->n);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, c->weights}};
    rc = run(reorder, c->stream, 2, args);
done:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (from) dnnl_memory_destroy(from);
    free(w);
    free(bias);
    return rc;
}

/* Layer l's primitive at its batch: src batch x c x h x w and dst batch x n x out_h x out_w in
 * nchw (Darknet's buffers), weights in oneDNN's choice. 0, or -1 (oneDNN refused, or memory). */
static int build(dx_onednn_conv *c, const dx_layer *l)
{
    int g = l->groups, grouped = g > 1;
    dnnl_dims_t src_dims = {l->batch, l->c, l->h, l->w}, dst_dims = {l->batch, l->n, l->out_h, l->out_w};
    dnnl_dims_t w_dims = {g, l->n / g, l->c / g, l->size, l->size}, bias_dims = {l->n};
    if (!grouped) memmove(w_dims, w_dims + 1, sizeof(dnnl_dim_t) * 4);
    dnnl_dims_t strides = {l->stride_y, l->stride_x}, dilates = {l->dilation - 1, l->dilation - 1};
    dnnl_dims_t pad_l = {l->pad, l->pad};
    dnnl_dims_t pad_r = {right_pad(l->h, l->out_h, l->size, l->stride_y, l->dilation, l->pad),
                         right_pad(l->w, l->out_w, l->size, l->stride_x, l->dilation, l->pad)};
    dnnl_memory_desc_t src_md, dst_md, src_any, dst_any, w_plain, w_any, bias_md;
    dnnl_convolution_desc_t cd;
    dnnl_post_ops_t ops = 0;
    dnnl_primitive_attr_t attr = 0;
    dnnl_primitive_desc_t pd = 0;
    int rc = -1;
    float alpha;
    dnnl_alg_kind_t act = post_op_of(l->activation, &alpha);
    c->post_op = act != dnnl_alg_kind_undef;
    if (dnnl_engine_create(&c->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, dnnl_nchw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&w_plain, grouped ? 5 : 4, w_dims, dnnl_f32, grouped ? dnnl_goihw : dnnl_oihw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&w_any, grouped ? 5 : 4, w_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a) != dnnl_success ||
        dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_any, &w_any,
                                                   &bias_md, &dst_any, strides, dilates, pad_l, pad_r) != dnnl_success ||
        dnnl_primitive_attr_create(&attr) != dnnl_success)
        goto done;
    if (c->post_op && (dnnl_post_ops_create(&ops) != dnnl_success ||
                       dnnl_post_ops_append_eltwise(ops, 1.f, act, alpha, 0.f) != dnnl_success ||
                       dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success))
        goto done;
    if (dnnl_primitive_desc_create(&pd, &cd, attr, c->engine, NULL) != dnnl_success ||
        dnnl_primitive_create(&c->conv, pd) != dnnl_success ||
        load_weights(c, l, &w_plain, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)) != 0 ||
        dnnl_memory_create(&c->src, &src_md, c->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&c->dst, &dst_md, c->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        blocked_side(c, &src_md, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), 1) != 0 ||
        blocked_side(c, &dst_md, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), 0) != 0)
        goto done;
    rc = 0;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (ops) dnnl_post_ops_destroy(ops);
    return rc;
}

int dx_forward_onednn_convolutional(dx_model *m, int i, const float *input)
{
    const dx_layer *l = &m->net->layers[i];
    dx_onednn_conv **slot = &m->hooks[i].onednn;
    int saved_threads = omp_get_max_threads();
    if (!*slot) {
        if (!(*slot = calloc(1, sizeof **slot))) return -1;
        (*slot)->threads = threads_wanted();
        omp_set_num_threads((*slot)->threads);
        int built = build(*slot, l);
        omp_set_num_threads(saved_threads);
        if (built != 0) {
            dx_onednn_conv_free(*slot);
            if ((*slot = calloc(1, sizeof **slot))) (*slot)->failed = 1;
            return -1;
        }
    }
    dx_onednn_conv *c = *slot;
    if (c->failed) return -1;
    dnnl_memory_t src = c->src_blocked ? c->src_blocked : c->src, dst = c->dst_blocked ? c->dst_blocked : c->dst;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, c->weights}, {DNNL_ARG_BIAS, c->bias},
                              {DNNL_ARG_DST, dst}};
    dnnl_exec_arg_t in[] = {{DNNL_ARG_FROM, c->src}, {DNNL_ARG_TO, src}}, out[] = {{DNNL_ARG_FROM, dst}, {DNNL_ARG_TO, c->dst}};
    /* oneDNN reads src only; its handle type is not const */
    omp_set_num_threads(c->threads);
    int ran = dnnl_memory_set_data_handle(c->src, (void *)input) == dnnl_success &&
              dnnl_memory_set_data_handle(c->dst, l->output) == dnnl_success &&
              (!c->src_reorder || run(c->src_reorder, c->stream, 2, in) == 0) && run(c->conv, c->stream, 4, args) == 0 &&
              (!c->dst_reorder || run(c->dst_reorder, c->stream, 2, out) == 0);
    omp_set_num_threads(saved_threads);
    if (!ran) return -1;
    if (!c->post_op) dx_activate(l->output, l->outputs * l->batch, l->activation);
    c->forwards++;
    return 0;
}

long dx_onednn_forwards(const dx_model *m, int i)
{
    const dx_onednn_conv *c = i >= 0 && i < m->n && m->hooks ? m->hooks[i].onednn : NULL;
    return c ? c->forwards : 0;
}
