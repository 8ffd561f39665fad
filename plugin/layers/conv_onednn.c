/* [convolutional] forward through oneDNN (issue #18): one convolution primitive per layer,
 * reading Darknet's planar input and writing its output buffer (through oneDNN's own layout
 * where its direct kernels want one: a reorder in and out per forward), batch norm folded into
 * the weights and bias, the activation a post-op where oneDNN computes the same function, else
 * Darknet's own afterwards.
 *
 * Why the stand-in may replace Darknet's forward before a reverse pass: the reverse pass
 * (engine.c, layers/conv.c's backward and LRP, DeepLIFT) reads of a convolution only its output,
 * its weights and statistics, and l->activation_input where a Darknet keeps the activation's input
 * (AlexeyAB's mish/swish: dx_onednn_supports leaves those layers to Darknet). pjreddie's
 * inference forward also copies the pre-normalisation sums into l.x, which nothing reads (it is
 * not in the neutral table). DeepLIFT's linear forward runs Darknet's own (engine.c turns the
 * stand-ins off), so its activation input is Darknet's exactly. */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include "hooks.h"
#include "layers/layers.h"
#include "layers/onednn.h"
#include "memory.h"
#include "model.h"

/* oneDNN is loaded at the first layer that runs through it (dlopen), not linked: its 40 MB
 * library would otherwise be mapped into every process, which under a tight address-space limit
 * left OpenBLAS's load-time thread no room (tests/test_inputs.c's 400 MB). Without libdnnl.so.2
 * (Debian's libdnnl2) every layer runs Darknet's forward. OpenMP's functions come with it (its
 * libgomp). */
#define ONEDNN_FUNCTIONS(X) \
    X(dnnl_dilated_convolution_forward_desc_init) \
    X(dnnl_engine_create) \
    X(dnnl_engine_destroy) \
    X(dnnl_memory_create) \
    X(dnnl_memory_desc_equal) \
    X(dnnl_memory_desc_init_by_tag) \
    X(dnnl_memory_destroy) \
    X(dnnl_memory_get_data_handle) \
    X(dnnl_memory_set_data_handle) \
    X(dnnl_post_ops_append_eltwise) \
    X(dnnl_post_ops_create) \
    X(dnnl_post_ops_destroy) \
    X(dnnl_primitive_attr_create) \
    X(dnnl_primitive_attr_destroy) \
    X(dnnl_primitive_attr_set_post_ops) \
    X(dnnl_primitive_attr_set_scratchpad_mode) \
    X(dnnl_primitive_create) \
    X(dnnl_primitive_desc_create) \
    X(dnnl_primitive_desc_destroy) \
    X(dnnl_primitive_desc_query_md) \
    X(dnnl_primitive_destroy) \
    X(dnnl_primitive_execute) \
    X(dnnl_reorder_primitive_desc_create) \
    X(dnnl_stream_create) \
    X(dnnl_stream_destroy) \
    X(dnnl_stream_wait) \
    X(omp_get_max_threads) \
    X(omp_set_num_threads)
static struct {
#define DECLARE(f) __typeof__(f) *f;
    ONEDNN_FUNCTIONS(DECLARE)
#undef DECLARE
} api;
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
        memcpy(&api.f, &sym, sizeof sym);                                                                    \
        found &= sym != NULL;                                                                                \
    } while (0);
    ONEDNN_FUNCTIONS(LOAD)
#undef LOAD
    api_loaded = found;
}

/* A primitive with its own scratchpad (NULL when it needs none). oneDNN's default scratchpad is
 * one buffer per thread, counted by the primitives the thread created and freed by the thread
 * that destroys the last one: occlusion's worker threads build their copies' primitives and the
 * main thread closes the copies, which freed the main thread's buffer under its own model's
 * primitives (a crash in tests/test_perturbation.c). */
typedef struct {
    dnnl_primitive_t p;
    dnnl_memory_t scratch;
} step;

struct dx_onednn_conv {
    int failed;                   /* building failed: Darknet's forward from now on */
    int threads;                  /* OpenMP threads the primitive was built for and runs on */
    long forwards;
    int post_op;                  /* the activation is oneDNN's post-op (else dx_activate after) */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    step conv;
    dnnl_memory_t src, weights, bias, dst; /* src and dst on Darknet's buffers (handles set per call) */
    /* where the primitive prefers a blocked layout for src or dst: its own buffer and the reorder
     * from (to) Darknet's, else NULL */
    dnnl_memory_t src_blocked, dst_blocked;
    step src_reorder, dst_reorder;
};

/* oneDNN's OpenMP threads: OMP_NUM_THREADS's when the user sets it, else one, as OpenBLAS's
 * (memory.c): on the shared 2-core machine two threads were several times slower whenever the
 * other core was busy, one thread 1.9-2.7x faster than Darknet's forward on every model measured
 * (docs/benchmarks.md#onednn-convolutions). The calling thread's count is set around each oneDNN
 * call and restored after (an OpenMP setting of the thread, so a program's own OpenMP is left as
 * it was); oneDNN fixes a primitive's threads when it builds it. */
static int threads_wanted(void)
{
    return getenv("OMP_NUM_THREADS") ? api.omp_get_max_threads() : 1;
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

static void step_free(step *s)
{
    if (s->p) api.dnnl_primitive_destroy(s->p);
    if (s->scratch) api.dnnl_memory_destroy(s->scratch);
}

/* The primitive of pd (built with a user scratchpad attribute) and its scratchpad. */
static int step_create(step *s, dnnl_engine_t e, const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = api.dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (api.dnnl_primitive_create(&s->p, pd) != dnnl_success) return -1;
    return md && md->ndims > 0 && api.dnnl_memory_create(&s->scratch, md, e, DNNL_MEMORY_ALLOCATE) != dnnl_success ? -1 : 0;
}

/* A new attribute whose primitive's scratchpad the caller gives (step_create). NULL: failed. */
static dnnl_primitive_attr_t user_scratchpad(void)
{
    dnnl_primitive_attr_t attr = 0;
    if (api.dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (api.dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success) return attr;
    api.dnnl_primitive_attr_destroy(attr);
    return NULL;
}

void dx_onednn_conv_free(dx_onednn_conv *c)
{
    if (!c) return;
    step *steps[] = {&c->conv, &c->src_reorder, &c->dst_reorder};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; ++k) step_free(steps[k]);
    dnnl_memory_t mems[] = {c->src, c->weights, c->bias, c->dst, c->src_blocked, c->dst_blocked};
    for (size_t k = 0; k < sizeof mems / sizeof *mems; ++k)
        if (mems[k]) api.dnnl_memory_destroy(mems[k]);
    if (c->stream) api.dnnl_stream_destroy(c->stream);
    if (c->engine) api.dnnl_engine_destroy(c->engine);
    free(c);
}

/* The weights with batch norm folded in, in Darknet's layout (n x c/groups x size x size), and
 * the bias: Darknet computes scale * (W*x - mean) / D + bias, D = dx_bn_divisor, so
 * W' = W * scale / D, b' = bias - mean * scale / D. Without batch norm W, bias. NULL when out
 * of memory. */
static float *folded_weights(const dx_layer *l, float *bias)
{
    float *w = dx_alloc(l->nweights, sizeof(float), "oneDNN's folded weights", NULL);
    if (!w) return NULL;
    size_t per_filter = (size_t)l->nweights / l->n;
    for (int o = 0; o < l->n; ++o) {
        double f = l->batch_normalize ? l->scales[o] / dx_bn_divisor(l, o) : 1;
        for (size_t k = 0; k < per_filter; ++k) w[o * per_filter + k] = (float)(l->weights[o * per_filter + k] * f);
        bias[o] = (float)(l->batch_normalize ? l->biases[o] - l->rolling_mean[o] * f : l->biases[o]);
    }
    return w;
}

/* Runs one step with n (argument, memory) pairs (at most 4) and its scratchpad, and waits for it. */
static int run(const step *st, dnnl_stream_t s, int n, const dnnl_exec_arg_t *args)
{
    dnnl_exec_arg_t all[5];
    memcpy(all, args, sizeof *args * n);
    if (st->scratch) all[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, st->scratch};
    return api.dnnl_primitive_execute(st->p, s, n, all) == dnnl_success && api.dnnl_stream_wait(s) == dnnl_success ? 0 : -1;
}

/* A reorder from memory descriptor `from` to `to` (one of them Darknet's nchw). */
static int make_reorder(step *r, dnnl_engine_t e, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to)
{
    dnnl_primitive_desc_t pd = 0;
    dnnl_primitive_attr_t attr = user_scratchpad();
    int rc = attr && api.dnnl_reorder_primitive_desc_create(&pd, from, e, to, e, attr) == dnnl_success &&
             step_create(r, e, pd) == 0 ? 0 : -1;
    if (pd) api.dnnl_primitive_desc_destroy(pd);
    if (attr) api.dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* When the primitive's `chosen` layout for src (dst) is not Darknet's nchw: its own buffer and the
 * reorder into (out of) it. */
static int blocked_side(dx_onednn_conv *c, const dnnl_memory_desc_t *nchw, const dnnl_memory_desc_t *chosen, int is_src)
{
    if (api.dnnl_memory_desc_equal(nchw, chosen)) return 0;
    dnnl_memory_t *mem = is_src ? &c->src_blocked : &c->dst_blocked;
    if (api.dnnl_memory_create(mem, chosen, c->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) return -1;
    return is_src ? make_reorder(&c->src_reorder, c->engine, nchw, chosen)
                  : make_reorder(&c->dst_reorder, c->engine, chosen, nchw);
}

/* Darknet's weights (folded) reordered once into the layout the primitive prefers. */
static int load_weights(dx_onednn_conv *c, const dx_layer *l, const dnnl_memory_desc_t *plain,
                        const dnnl_memory_desc_t *preferred)
{
    float *bias = dx_alloc(l->n, sizeof(float), "oneDNN's folded bias", NULL);
    float *w = bias ? folded_weights(l, bias) : NULL;
    dnnl_memory_desc_t bias_md;
    dnnl_dims_t bias_dims = {l->n};
    dnnl_memory_t from = 0;
    step reorder = {0, 0};
    int rc = -1;
    if (!w || api.dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a) != dnnl_success ||
        api.dnnl_memory_create(&c->bias, &bias_md, c->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success ||
        api.dnnl_memory_create(&c->weights, preferred, c->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success ||
        api.dnnl_memory_create(&from, plain, c->engine, w) != dnnl_success ||
        make_reorder(&reorder, c->engine, plain, preferred) != 0)
        goto done;
    void *bias_data = 0;
    if (api.dnnl_memory_get_data_handle(c->bias, &bias_data) != dnnl_success) goto done;
    memcpy(bias_data, bias, sizeof(float) * l->n);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, c->weights}};
    rc = run(&reorder, c->stream, 2, args);
done:
    step_free(&reorder);
    if (from) api.dnnl_memory_destroy(from);
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
    if (api.dnnl_engine_create(&c->engine, dnnl_cpu, 0) != dnnl_success ||
        api.dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success ||
        api.dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, dnnl_nchw) != dnnl_success ||
        api.dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw) != dnnl_success ||
        api.dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        api.dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        api.dnnl_memory_desc_init_by_tag(&w_plain, grouped ? 5 : 4, w_dims, dnnl_f32, grouped ? dnnl_goihw : dnnl_oihw) != dnnl_success ||
        api.dnnl_memory_desc_init_by_tag(&w_any, grouped ? 5 : 4, w_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        api.dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a) != dnnl_success ||
        api.dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_any, &w_any,
                                                   &bias_md, &dst_any, strides, dilates, pad_l, pad_r) != dnnl_success ||
        !(attr = user_scratchpad()))
        goto done;
    if (c->post_op && (api.dnnl_post_ops_create(&ops) != dnnl_success ||
                       api.dnnl_post_ops_append_eltwise(ops, 1.f, act, alpha, 0.f) != dnnl_success ||
                       api.dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success))
        goto done;
    if (api.dnnl_primitive_desc_create(&pd, &cd, attr, c->engine, NULL) != dnnl_success ||
        step_create(&c->conv, c->engine, pd) != 0 ||
        load_weights(c, l, &w_plain, api.dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)) != 0 ||
        api.dnnl_memory_create(&c->src, &src_md, c->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        api.dnnl_memory_create(&c->dst, &dst_md, c->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        blocked_side(c, &src_md, api.dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), 1) != 0 ||
        blocked_side(c, &dst_md, api.dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), 0) != 0)
        goto done;
    rc = 0;
done:
    if (pd) api.dnnl_primitive_desc_destroy(pd);
    if (attr) api.dnnl_primitive_attr_destroy(attr);
    if (ops) api.dnnl_post_ops_destroy(ops);
    return rc;
}

int dx_forward_onednn_convolutional(dx_model *m, int i, const float *input)
{
    const dx_layer *l = &m->net->layers[i];
    dx_onednn_conv **slot = &m->hooks[i].onednn;
    pthread_once(&api_once, load_api);
    if (!api_loaded) return -1;
    int saved_threads = api.omp_get_max_threads();
    if (!*slot) {
        if (!(*slot = dx_alloc(1, sizeof **slot, "a oneDNN layer", NULL))) return -1;
        (*slot)->threads = threads_wanted();
        api.omp_set_num_threads((*slot)->threads);
        int built = build(*slot, l);
        api.omp_set_num_threads(saved_threads);
        if (built != 0) {
            dx_onednn_conv_free(*slot);
            if ((*slot = dx_alloc(1, sizeof **slot, "a oneDNN layer", NULL))) (*slot)->failed = 1;
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
    api.omp_set_num_threads(c->threads);
    int ran = api.dnnl_memory_set_data_handle(c->src, (void *)input) == dnnl_success &&
              api.dnnl_memory_set_data_handle(c->dst, l->output) == dnnl_success &&
              (!c->src_reorder.p || run(&c->src_reorder, c->stream, 2, in) == 0) &&
              run(&c->conv, c->stream, 4, args) == 0 && (!c->dst_reorder.p || run(&c->dst_reorder, c->stream, 2, out) == 0);
    api.omp_set_num_threads(saved_threads);
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
