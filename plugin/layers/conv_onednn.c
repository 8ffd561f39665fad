/* [convolutional] forward and backward-data through oneDNN (issue #18): per layer one forward
 * convolution primitive, reading Darknet's planar input and writing its output buffer (through
 * oneDNN's own layout where its direct kernels want one: a reorder in and out per forward), batch
 * norm folded into the weights and bias, the activation a post-op where oneDNN computes the same
 * function, else Darknet's own afterwards; and one backward-data primitive for the reverse pass's
 * W^T d of layers/conv.c (the plain weights: d carries the activation's derivative and batch
 * norm's factor), reading d through oneDNN's layout and adding its result to the pass's input
 * gradient (a reorder with a sum post-op). Each is built at its first use.
 *
 * Why the stand-in may replace Darknet's forward before a reverse pass: the reverse pass
 * (engine.c, layers/conv.c's backward and LRP, DeepLIFT) reads of a convolution only its output,
 * its weights and statistics, and l->activation_input where a Darknet keeps the activation's input
 * (AlexeyAB's mish/swish: dx_onednn_supports leaves those layers to Darknet). pjreddie's
 * inference forward also copies the pre-normalisation sums into l.x, which nothing reads (it is
 * not in the neutral table). DeepLIFT's linear forward runs Darknet's own (engine.c turns the
 * stand-ins off), so its activation input is Darknet's exactly.
 * LRP's convolutions (conv_onednn_lrp.c) build theirs with the same steps (onednn_internal.h). */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "hooks.h"
#include "layers/layers.h"
#include "layers/onednn_internal.h"
#include "memory.h"
#include "model.h"

/* oneDNN is loaded at the first layer that runs through it (dlopen), not linked: its 40 MB
 * library would otherwise be mapped into every process, which under a tight address-space limit
 * left OpenBLAS's load-time thread no room (tests/test_inputs.c's 400 MB). Without libdnnl.so.2
 * (Debian's libdnnl2) every layer runs Darknet's forward. OpenMP's functions come with it (its
 * libgomp). The functions: onednn_internal.h's ONEDNN_FUNCTIONS. */
dx_dnnl_api dx_dnnl;
static pthread_once_t api_once = PTHREAD_ONCE_INIT;
static int api_loaded;

static void load_api(void)
{
    void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    int found = 1;
#define LOAD(f)                                                                                              \
    do {                                                                                                     \
        void *sym = dlsym(lib, #f); /* the library's and its dependencies' (libgomp's) */                   \
        memcpy(&dx_dnnl.f, &sym, sizeof sym);                                                                \
        found &= sym != NULL;                                                                                \
    } while (0);
    ONEDNN_FUNCTIONS(LOAD)
#undef LOAD
    api_loaded = found;
}

/* oneDNN's OpenMP threads: OMP_NUM_THREADS's when the user sets it, else one, as OpenBLAS's
 * (memory.c): on the shared 2-core machine two threads were several times slower whenever the
 * other core was busy, one thread 1.9-2.7x faster than Darknet's forward on every model measured
 * (docs/benchmarks.md#onednn-convolutions). The calling thread's count is set around each oneDNN
 * call and restored after (an OpenMP setting of the thread, so a program's own OpenMP is left as
 * it was); oneDNN fixes a primitive's threads when it builds it. */
static int threads_wanted(void)
{
    return getenv("OMP_NUM_THREADS") ? dx_dnnl.omp_get_max_threads() : 1;
}

/* oneDNN's eltwise with Darknet's function (activations.h): relu x*(x>0), leaky x>0 ? x : .1x,
 * logistic 1/(1+exp(-x)), tanh, elu (x>=0)*x + (x<0)*(exp(x)-1). dnnl_alg_kind_undef when oneDNN
 * has none. */
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
    /* compared with pjreddie's forward only (tests/test_onednn.c); the forks' convolutions have
     * more options than the neutral table shows */
    if (strcmp(dx_backend_name(), "pjreddie") != 0) return 0;
    if (l->type != DX_LAYER_CONVOLUTIONAL || l->binary || l->activation_input || l->darknet_forward_only) return 0;
    if (l->groups < 1 || l->c % l->groups || l->n % l->groups || l->dilation < 1) return 0;
    return right_pad(l->h, l->out_h, l->size, l->stride_y, l->dilation, l->pad) >= 0 &&
           right_pad(l->w, l->out_w, l->size, l->stride_x, l->dilation, l->pad) >= 0;
}

static void step_free(dx_onednn_step *s)
{
    if (s->p) dx_dnnl.dnnl_primitive_destroy(s->p);
    if (s->scratch) dx_dnnl.dnnl_memory_destroy(s->scratch);
}

/* The primitive of pd (built with a user scratchpad attribute) and its scratchpad's memory,
 * without a buffer: run gives it one. */
static int step_create(dx_onednn_step *s, dnnl_engine_t e, const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = dx_dnnl.dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (dx_dnnl.dnnl_primitive_create(&s->p, pd) != dnnl_success) return -1;
    if (!md || md->ndims == 0) return 0;
    s->scratch_bytes = dx_dnnl.dnnl_memory_desc_get_size(md);
    return dx_dnnl.dnnl_memory_create(&s->scratch, md, e, DNNL_MEMORY_NONE) == dnnl_success ? 0 : -1;
}

/* The model's buffer for one call's steps (m->onednn_buffer), at least `bytes` long and aligned
 * to 64 bytes; NULL without memory. Grown, never shrunk: every layer's directions share it. */
static char *call_buffer(dx_onednn_conv *c, size_t bytes)
{
    dx_model *m = c->model;
    if (!m->onednn_buffer || bytes > m->onednn_buffer_bytes) {
        free(m->onednn_buffer);
        m->onednn_buffer = dx_alloc_optional(bytes + 64, 1);
        m->onednn_buffer_bytes = m->onednn_buffer ? bytes : 0;
    }
    return m->onednn_buffer ? (char *)(((uintptr_t)m->onednn_buffer + 63) & ~(uintptr_t)63) : NULL;
}

dnnl_primitive_attr_t dx_onednn_user_scratchpad(void)
{
    dnnl_primitive_attr_t attr = 0;
    if (dx_dnnl.dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (dx_dnnl.dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success) return attr;
    dx_dnnl.dnnl_primitive_attr_destroy(attr);
    return NULL;
}

/* Frees what d holds and leaves it empty (not failed). */
static void direction_free(dx_onednn_direction *d)
{
    dx_onednn_step *steps[] = {&d->conv, &d->w_reorder, &d->in_reorder, &d->out_reorder};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; ++k) step_free(steps[k]);
    dnnl_memory_t mems[] = {d->weights, d->w_given, d->bias, d->in, d->out, d->in_blocked, d->out_blocked};
    for (size_t k = 0; k < sizeof mems / sizeof *mems; ++k)
        if (mems[k]) dx_dnnl.dnnl_memory_destroy(mems[k]);
    memset(d, 0, sizeof *d);
}

void dx_onednn_conv_free(dx_onednn_conv *c)
{
    if (!c) return;
    direction_free(&c->fwd);
    direction_free(&c->bwd);
    direction_free(&c->lrp_fwd);
    direction_free(&c->lrp_adj);
    if (c->stream) dx_dnnl.dnnl_stream_destroy(c->stream);
    if (c->engine) dx_dnnl.dnnl_engine_destroy(c->engine);
    free(c);
}

/* The weights with batch norm folded in, in Darknet's layout (n x c/groups x size x size), and
 * the bias: Darknet computes scale * (W*x - mean) / D + bias, D = dx_bn_divisor, so
 * W' = W * scale / D, b' = bias - mean * scale / D. Without batch norm W, bias. NULL when out
 * of memory. */
static float *folded_weights(const dx_layer *l, float *bias)
{
    float *w = dx_alloc_optional(l->nweights, sizeof(float));
    if (!w) return NULL;
    size_t per_filter = (size_t)l->nweights / l->n;
    for (int o = 0; o < l->n; ++o) {
        double f = l->batch_normalize ? l->scales[o] / dx_bn_divisor(l, o) : 1;
        for (size_t k = 0; k < per_filter; ++k) w[o * per_filter + k] = (float)(l->weights[o * per_filter + k] * f);
        bias[o] = (float)(l->batch_normalize ? l->biases[o] - l->rolling_mean[o] * f : l->biases[o]);
    }
    return w;
}

/* Runs one step with n (argument, memory) pairs (at most 4) and its scratchpad at `scratchpad`
 * (st->scratch_bytes; unused without one), and waits for it. */
static int run(const dx_onednn_step *st, dnnl_stream_t s, int n, const dnnl_exec_arg_t *args, void *scratchpad)
{
    dnnl_exec_arg_t all[5];
    memcpy(all, args, sizeof *args * n);
    if (st->scratch) {
        if (!scratchpad || dx_dnnl.dnnl_memory_set_data_handle(st->scratch, scratchpad) != dnnl_success) return -1;
        all[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, st->scratch};
    }
    return dx_dnnl.dnnl_primitive_execute(st->p, s, n, all) == dnnl_success && dx_dnnl.dnnl_stream_wait(s) == dnnl_success ? 0 : -1;
}

/* A reorder from memory descriptor `from` to `to` (one of them Darknet's nchw); with accumulate
 * it adds to `to`'s contents (a sum post-op) instead of overwriting them. */
static int make_reorder(dx_onednn_step *r, dnnl_engine_t e, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                        int accumulate)
{
    dnnl_primitive_desc_t pd = 0;
    dnnl_primitive_attr_t attr = dx_onednn_user_scratchpad();
    dnnl_post_ops_t sum = 0;
    int rc = -1;
    if (!attr) return -1;
    if (accumulate && (dx_dnnl.dnnl_post_ops_create(&sum) != dnnl_success ||
                       dx_dnnl.dnnl_post_ops_append_sum(sum, 1.f) != dnnl_success ||
                       dx_dnnl.dnnl_primitive_attr_set_post_ops(attr, sum) != dnnl_success))
        goto done;
    if (dx_dnnl.dnnl_reorder_primitive_desc_create(&pd, from, e, to, e, attr) == dnnl_success && step_create(r, e, pd) == 0)
        rc = 0;
done:
    if (pd) dx_dnnl.dnnl_primitive_desc_destroy(pd);
    if (sum) dx_dnnl.dnnl_post_ops_destroy(sum);
    dx_dnnl.dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* When the primitive's `chosen` layout for d's input (output) is not Darknet's nchw, or the
 * output accumulates: a buffer in that layout (its memory; execute places it in the model's call
 * buffer) and the reorder into (out of) it. */
static int blocked_side(dx_onednn_conv *c, dx_onednn_direction *d, const dnnl_memory_desc_t *nchw, const dnnl_memory_desc_t *chosen,
                        int is_in, int accumulate)
{
    if (!accumulate && dx_dnnl.dnnl_memory_desc_equal(nchw, chosen)) return 0;
    dnnl_memory_t *mem = is_in ? &d->in_blocked : &d->out_blocked;
    *(is_in ? &d->in_bytes : &d->out_bytes) = dx_dnnl.dnnl_memory_desc_get_size(chosen);
    if (dx_dnnl.dnnl_memory_create(mem, chosen, c->engine, DNNL_MEMORY_NONE) != dnnl_success) return -1;
    return is_in ? make_reorder(&d->in_reorder, c->engine, nchw, chosen, 0)
                 : make_reorder(&d->out_reorder, c->engine, chosen, nchw, accumulate);
}

int dx_onednn_shapes_of(const dx_layer *l, int batch, dx_onednn_shapes *s)
{
    int g = l->groups, grouped = g > 1;
    dnnl_dims_t src_dims = {batch, l->c, l->h, l->w}, dst_dims = {batch, l->n, l->out_h, l->out_w};
    dnnl_dims_t w_dims = {g, l->n / g, l->c / g, l->size, l->size}, bias_dims = {l->n};
    if (!grouped) memmove(w_dims, w_dims + 1, sizeof(dnnl_dim_t) * 4);
    s->strides[0] = l->stride_y, s->strides[1] = l->stride_x;
    s->dilates[0] = s->dilates[1] = l->dilation - 1;
    s->pad_l[0] = s->pad_l[1] = l->pad;
    s->pad_r[0] = right_pad(l->h, l->out_h, l->size, l->stride_y, l->dilation, l->pad);
    s->pad_r[1] = right_pad(l->w, l->out_w, l->size, l->stride_x, l->dilation, l->pad);
    return dx_dnnl.dnnl_memory_desc_init_by_tag(&s->src, 4, src_dims, dnnl_f32, dnnl_nchw) == dnnl_success &&
           dx_dnnl.dnnl_memory_desc_init_by_tag(&s->dst, 4, dst_dims, dnnl_f32, dnnl_nchw) == dnnl_success &&
           dx_dnnl.dnnl_memory_desc_init_by_tag(&s->src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
           dx_dnnl.dnnl_memory_desc_init_by_tag(&s->dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
           dx_dnnl.dnnl_memory_desc_init_by_tag(&s->w_plain, grouped ? 5 : 4, w_dims, dnnl_f32,
                                                grouped ? dnnl_goihw : dnnl_oihw) == dnnl_success &&
           dx_dnnl.dnnl_memory_desc_init_by_tag(&s->w_any, grouped ? 5 : 4, w_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
           dx_dnnl.dnnl_memory_desc_init_by_tag(&s->bias, 1, bias_dims, dnnl_f32, dnnl_a) == dnnl_success
               ? 0 : -1;
}

int dx_onednn_set_up(dx_onednn_conv *c, dx_onednn_direction *d, const_dnnl_primitive_desc_t pd, const float *w,
                     const dnnl_memory_desc_t *w_plain, const dnnl_memory_desc_t *in_md, dnnl_query_t in_q,
                     const dnnl_memory_desc_t *out_md, dnnl_query_t out_q, int accumulate)
{
    const dnnl_memory_desc_t *w_chosen = dx_dnnl.dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t from = 0;
    dx_onednn_step reorder = {0};
    int weights_set;
    if (!w) { /* given at each call */
        int same = dx_dnnl.dnnl_memory_desc_equal(w_plain, w_chosen);
        d->w_blocked_floats = same ? 0 : dx_dnnl.dnnl_memory_desc_get_size(w_chosen) / sizeof(float);
        weights_set = dx_dnnl.dnnl_memory_create(&d->weights, w_chosen, c->engine, DNNL_MEMORY_NONE) == dnnl_success &&
                      dx_dnnl.dnnl_memory_create(&d->w_given, w_plain, c->engine, DNNL_MEMORY_NONE) == dnnl_success &&
                      (same || make_reorder(&d->w_reorder, c->engine, w_plain, w_chosen, 0) == 0);
    } else {
        /* oneDNN reads the reorder's source only; its handle type is not const */
        weights_set = dx_dnnl.dnnl_memory_create(&d->weights, w_chosen, c->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
                      dx_dnnl.dnnl_memory_create(&from, w_plain, c->engine, (void *)w) == dnnl_success &&
                      make_reorder(&reorder, c->engine, w_plain, w_chosen, 0) == 0 &&
                      run(&reorder, c->stream, 2, (dnnl_exec_arg_t[]){{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, d->weights}},
                          call_buffer(c, reorder.scratch_bytes)) == 0;
    }
    int rc = step_create(&d->conv, c->engine, pd) == 0 && weights_set &&
             dx_dnnl.dnnl_memory_create(&d->in, in_md, c->engine, DNNL_MEMORY_NONE) == dnnl_success &&
             dx_dnnl.dnnl_memory_create(&d->out, out_md, c->engine, DNNL_MEMORY_NONE) == dnnl_success &&
             blocked_side(c, d, in_md, dx_dnnl.dnnl_primitive_desc_query_md(pd, in_q, 0), 1, 0) == 0 &&
             blocked_side(c, d, out_md, dx_dnnl.dnnl_primitive_desc_query_md(pd, out_q, 0), 0, accumulate) == 0
                 ? 0 : -1;
    step_free(&reorder);
    if (from) dx_dnnl.dnnl_memory_destroy(from);
    return rc;
}

/* The forward at the layer's batch: batch norm folded into the weights and bias, the activation
 * a post-op where oneDNN has Darknet's. 0, or -1 (oneDNN refused, or memory). */
static int build_forward(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, const void *unused)
{
    dx_onednn_shapes s;
    dnnl_convolution_desc_t cd;
    dnnl_post_ops_t ops = 0;
    dnnl_primitive_attr_t attr = 0;
    dnnl_primitive_desc_t pd = 0;
    void *bias_data = 0;
    int rc = -1;
    float alpha;
    dnnl_alg_kind_t act = post_op_of(l->activation, &alpha);
    float *bias = dx_alloc_optional(l->n, sizeof(float));
    float *w = bias ? folded_weights(l, bias) : NULL;
    c->post_op = act != dnnl_alg_kind_undef;
    if (!w || dx_onednn_shapes_of(l, l->batch, &s) != 0 ||
        dx_dnnl.dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &s.src_any,
                                                           &s.w_any, &s.bias, &s.dst_any, s.strides, s.dilates,
                                                           s.pad_l, s.pad_r) != dnnl_success ||
        !(attr = dx_onednn_user_scratchpad()))
        goto done;
    if (c->post_op && (dx_dnnl.dnnl_post_ops_create(&ops) != dnnl_success ||
                       dx_dnnl.dnnl_post_ops_append_eltwise(ops, 1.f, act, alpha, 0.f) != dnnl_success ||
                       dx_dnnl.dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success))
        goto done;
    if (dx_dnnl.dnnl_primitive_desc_create(&pd, &cd, attr, c->engine, NULL) != dnnl_success ||
        dx_onednn_set_up(c, d, pd, w, &s.w_plain, &s.src, dnnl_query_src_md, &s.dst, dnnl_query_dst_md, 0) != 0 ||
        dx_dnnl.dnnl_memory_create(&d->bias, &s.bias, c->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success ||
        dx_dnnl.dnnl_memory_get_data_handle(d->bias, &bias_data) != dnnl_success)
        goto done;
    memcpy(bias_data, bias, sizeof(float) * l->n);
    rc = 0;
done:
    if (pd) dx_dnnl.dnnl_primitive_desc_destroy(pd);
    if (attr) dx_dnnl.dnnl_primitive_attr_destroy(attr);
    if (ops) dx_dnnl.dnnl_post_ops_destroy(ops);
    free(w);
    free(bias);
    return rc;
}

/* The backward-data at one image (the reverse pass's buffers: image 0, l->outputs floats in,
 * l->inputs out), with weights w: Darknet's plain ones for the reverse pass, added to its input
 * gradient; for LRP (conv_onednn_lrp.c) NULL, modifications of the folded ones given per call,
 * written. The hint is a training forward's primitive descriptor, as oneDNN's API documents for backward primitives (2.6 also builds this one without
 * a hint, or with an inference forward's). diff_src in oneDNN's choice, except for an ungrouped
 * layer of fewer than 8 input channels (an image's 3): there its choice, 16-channel blocks, took
 * 12 ms on resnet18's 224 x 224 7x7/2 first layer where nchw's gemm kernel took 3.4 ms (at 8 and
 * more channels the blocks were the faster, one thread). */
int dx_onednn_build_backward_data(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, const float *w,
                                  int accumulate)
{
    dx_onednn_shapes s;
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_attr_t attr = 0;
    dnnl_primitive_desc_t hint = 0, pd = 0;
    if (dx_onednn_shapes_of(l, 1, &s) != 0) return -1;
    if (l->groups == 1 && l->c < 8) s.src_any = s.src;
    int rc = dx_dnnl.dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                                                &s.src_any, &s.w_any, NULL, &s.dst_any, s.strides,
                                                                s.dilates, s.pad_l, s.pad_r) == dnnl_success &&
             dx_dnnl.dnnl_primitive_desc_create(&hint, &fd, NULL, c->engine, NULL) == dnnl_success &&
             dx_dnnl.dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &s.src_any,
                                                                      &s.w_any, &s.dst_any, s.strides, s.dilates,
                                                                      s.pad_l, s.pad_r) == dnnl_success &&
             (attr = dx_onednn_user_scratchpad()) &&
             dx_dnnl.dnnl_primitive_desc_create(&pd, &bd, attr, c->engine, hint) == dnnl_success &&
             dx_onednn_set_up(c, d, pd, w, &s.w_plain, &s.dst, dnnl_query_diff_dst_md, &s.src, dnnl_query_diff_src_md,
                              accumulate) == 0
                 ? 0 : -1;
    if (pd) dx_dnnl.dnnl_primitive_desc_destroy(pd);
    if (hint) dx_dnnl.dnnl_primitive_desc_destroy(hint);
    if (attr) dx_dnnl.dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* The reverse pass's backward: Darknet's plain weights, added to the input gradient. */
static int backward_of_weights(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, const void *unused)
{
    return dx_onednn_build_backward_data(c, d, l, l->weights, 1);
}

dx_onednn_conv *dx_onednn_state(dx_model *m, int i)
{
    pthread_once(&api_once, load_api);
    if (!api_loaded || !m->hooks) return NULL;
    dx_onednn_conv **slot = &m->hooks[i].onednn;
    if (*slot) return *slot;
    dx_onednn_conv *c = dx_alloc_optional(1, sizeof *c);
    if (!c) return NULL;
    c->threads = threads_wanted();
    c->model = m;
    if (dx_dnnl.dnnl_engine_create(&c->engine, dnnl_cpu, 0) != dnnl_success ||
        dx_dnnl.dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success)
        c->fwd.failed = c->bwd.failed = 1;
    return *slot = c;
}

int dx_onednn_ready(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, dx_onednn_build_fn build,
                    const void *arg)
{
    if (d->conv.p || d->failed) return d->failed ? -1 : 0;
    int saved_threads = dx_dnnl.omp_get_max_threads();
    dx_dnnl.omp_set_num_threads(c->threads);
    int built = build(c, d, l, arg);
    dx_dnnl.omp_set_num_threads(saved_threads);
    if (built == 0) return 0;
    direction_free(d);
    d->failed = 1;
    return -1;
}

/* d's weights given for this call (execute): w, or w reordered into w_blocked. */
static int give_weights(dx_onednn_conv *c, dx_onednn_direction *d, const float *w, float *w_blocked, void *scratchpad)
{
    if (!d->w_given) return 0; /* kept */
    if (!w || (d->w_reorder.p && !w_blocked)) return -1;
    /* oneDNN reads w only; its handle type is not const */
    if (!d->w_reorder.p) return dx_dnnl.dnnl_memory_set_data_handle(d->weights, (void *)w) == dnnl_success ? 0 : -1;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, d->w_given}, {DNNL_ARG_TO, d->weights}};
    return dx_dnnl.dnnl_memory_set_data_handle(d->w_given, (void *)w) == dnnl_success &&
                   dx_dnnl.dnnl_memory_set_data_handle(d->weights, w_blocked) == dnnl_success &&
                   run(&d->w_reorder, c->stream, 2, args, scratchpad) == 0
               ? 0 : -1;
}

int dx_onednn_execute(dx_onednn_conv *c, dx_onednn_direction *d, const float *w, float *w_blocked, int in_arg,
                      const float *in, int out_arg, float *out)
{
    dnnl_memory_t src = d->in_blocked ? d->in_blocked : d->in, dst = d->out_blocked ? d->out_blocked : d->out;
    dnnl_exec_arg_t args[] = {{in_arg, src}, {DNNL_ARG_WEIGHTS, d->weights}, {out_arg, dst}, {DNNL_ARG_BIAS, d->bias}};
    dnnl_exec_arg_t to[] = {{DNNL_ARG_FROM, d->in}, {DNNL_ARG_TO, src}}, back[] = {{DNNL_ARG_FROM, dst}, {DNNL_ARG_TO, d->out}};
    /* the call buffer: the blocked input, the blocked output, then one step's scratchpad at a time */
    size_t in_bytes = (d->in_bytes + 63) & ~(size_t)63, out_bytes = (d->out_bytes + 63) & ~(size_t)63, pad = 0;
    const dx_onednn_step *steps[] = {&d->conv, &d->w_reorder, &d->in_reorder, &d->out_reorder};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; ++k)
        if (steps[k]->scratch_bytes > pad) pad = steps[k]->scratch_bytes;
    char *buf = call_buffer(c, in_bytes + out_bytes + pad), *scratchpad = buf ? buf + in_bytes + out_bytes : NULL;
    int saved_threads = dx_dnnl.omp_get_max_threads();
    dx_dnnl.omp_set_num_threads(c->threads);
    /* oneDNN reads in only; its handle type is not const */
    int ran = buf && give_weights(c, d, w, w_blocked, scratchpad) == 0 &&
              (!d->in_blocked || dx_dnnl.dnnl_memory_set_data_handle(d->in_blocked, buf) == dnnl_success) &&
              (!d->out_blocked || dx_dnnl.dnnl_memory_set_data_handle(d->out_blocked, buf + in_bytes) == dnnl_success) &&
              dx_dnnl.dnnl_memory_set_data_handle(d->in, (void *)in) == dnnl_success &&
              dx_dnnl.dnnl_memory_set_data_handle(d->out, out) == dnnl_success &&
              (!d->in_reorder.p || run(&d->in_reorder, c->stream, 2, to, scratchpad) == 0) &&
              run(&d->conv, c->stream, d->bias ? 4 : 3, args, scratchpad) == 0 &&
              (!d->out_reorder.p || run(&d->out_reorder, c->stream, 2, back, scratchpad) == 0);
    dx_dnnl.omp_set_num_threads(saved_threads);
    return ran ? 0 : -1;
}

int dx_forward_onednn_convolutional(dx_model *m, int i, const float *input)
{
    const dx_layer *l = &m->net->layers[i];
    dx_onednn_conv *c = dx_onednn_state(m, i);
    if (!c || dx_onednn_ready(c, &c->fwd, l, build_forward, NULL) != 0 ||
        dx_onednn_execute(c, &c->fwd, NULL, NULL, DNNL_ARG_SRC, input, DNNL_ARG_DST, l->output) != 0)
        return -1;
    if (!c->post_op) dx_activate(l->output, l->outputs * l->batch, l->activation);
    c->forwards++;
    return 0;
}

int dx_backward_onednn_convolutional(dx_model *m, int i, const float *d, float *gin)
{
    const dx_layer *l = &m->net->layers[i];
    dx_onednn_conv *c = dx_onednn_state(m, i);
    if (!c || dx_onednn_ready(c, &c->bwd, l, backward_of_weights, NULL) != 0 ||
        dx_onednn_execute(c, &c->bwd, NULL, NULL, DNNL_ARG_DIFF_DST, d, DNNL_ARG_DIFF_SRC, gin) != 0)
        return -1;
    c->backwards++;
    return 0;
}

long dx_onednn_forwards(const dx_model *m, int i)
{
    const dx_onednn_conv *c = i >= 0 && i < m->n && m->hooks ? m->hooks[i].onednn : NULL;
    return c ? c->forwards : 0;
}

long dx_onednn_backwards(const dx_model *m, int i)
{
    const dx_onednn_conv *c = i >= 0 && i < m->n && m->hooks ? m->hooks[i].onednn : NULL;
    return c ? c->backwards : 0;
}

long dx_onednn_kept_weight_bytes(const dx_model *m)
{
    long bytes = 0;
    for (int i = 0; m->hooks && i < m->n; ++i) {
        const dx_onednn_conv *c = m->hooks[i].onednn;
        const dx_onednn_direction *all[] = {c ? &c->fwd : NULL, c ? &c->bwd : NULL, c ? &c->lrp_fwd : NULL,
                                            c ? &c->lrp_adj : NULL};
        for (int k = 0; c && k < 4; ++k) {
            const dnnl_memory_desc_t *md;
            if (all[k]->weights && !all[k]->w_given &&
                dx_dnnl.dnnl_memory_get_memory_desc(all[k]->weights, &md) == dnnl_success)
                bytes += (long)dx_dnnl.dnnl_memory_desc_get_size(md);
        }
    }
    return bytes;
}
