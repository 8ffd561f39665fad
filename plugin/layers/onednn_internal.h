/* onednn_internal.h: conv_onednn.c's machinery for the other convolutions that run through
 * oneDNN (conv_onednn_lrp.c: LRP's, lrp/linear.c): the functions of libdnnl loaded at run time, a
 * layer's state (owned by its hook, freed by dx_onednn_conv_free, so dx_params_changed drops all
 * of it), and the steps that build a convolution direction once and run it on Darknet's buffers.
 * Only for plugin/layers/. */
#ifndef DX_ONEDNN_INTERNAL_H
#define DX_ONEDNN_INTERNAL_H
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include "layers/onednn.h"

/* oneDNN is loaded at the first layer that runs through it (dlopen), not linked: its 40 MB
 * library would otherwise be mapped into every process, which under a tight address-space limit
 * left OpenBLAS's load-time thread no room (tests/test_inputs.c's 400 MB). Without libdnnl.so.2
 * (Debian's libdnnl2) every layer runs Darknet's forward. OpenMP's functions come with it (its
 * libgomp). */
#define ONEDNN_FUNCTIONS(X) \
    X(dnnl_dilated_convolution_backward_data_desc_init) \
    X(dnnl_dilated_convolution_forward_desc_init) \
    X(dnnl_engine_create) \
    X(dnnl_engine_destroy) \
    X(dnnl_memory_create) \
    X(dnnl_memory_desc_equal) \
    X(dnnl_memory_desc_get_size) \
    X(dnnl_memory_desc_init_by_tag) \
    X(dnnl_memory_destroy) \
    X(dnnl_memory_get_memory_desc) \
    X(dnnl_memory_get_data_handle) \
    X(dnnl_memory_set_data_handle) \
    X(dnnl_post_ops_append_eltwise) \
    X(dnnl_post_ops_append_sum) \
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
typedef struct {
#define DECLARE(f) __typeof__(f) *f;
    ONEDNN_FUNCTIONS(DECLARE)
#undef DECLARE
} dx_dnnl_api;
extern dx_dnnl_api dx_dnnl; /* loaded by dx_onednn_state; valid once it returned a state */

/* A primitive and its scratchpad's memory (NULL when it needs none), whose buffer is given at each
 * run: the model's call buffer (conv_onednn.c), shared by all its layers. oneDNN's default
 * scratchpad is one buffer per thread, counted by the primitives the thread created and freed by
 * the thread that destroys the last one: occlusion's worker threads build their copies'
 * primitives and the main thread closes the copies, which freed the main thread's buffer under
 * its own model's primitives (a crash in tests/test_perturbation.c). */
typedef struct {
    dnnl_primitive_t p;
    dnnl_memory_t scratch;
    size_t scratch_bytes;
} dx_onednn_step;

/* One convolution primitive of a layer and what it runs with: the weights in its layout, and its
 * input and output on Darknet's buffers (nchw, handles set per call). Forward: in src, out dst,
 * with the bias (LRP's: none); backward-data: in diff_dst, out diff_src (added to Darknet's
 * buffer; LRP's: written over it). The forward's and backward's weights are reordered once and
 * kept in `weights`; LRP's are given at each call (w_given non-NULL: on the caller's
 * plain weights, reordered by w_reorder into the caller's scratch of w_blocked_floats floats, or
 * read where they are when the primitive wants Darknet's layout), so that its modifications of
 * every layer's weights are not kept beside the forward's. */
typedef struct {
    int failed; /* building failed: Darknet's (BLAS's) path from now on */
    dx_onednn_step conv, w_reorder;
    dnnl_memory_t weights, w_given, bias, in, out;
    size_t w_blocked_floats;
    /* where the primitive prefers a blocked layout for in or out (or out is added to Darknet's
     * buffer): its memory (of in_bytes, out_bytes) and the reorder from (to) Darknet's, else NULL.
     * The buffers are the model's call buffer, not the direction's: they hold nothing between
     * calls, and kept per direction they were a second copy of every layer's input and output
     * for each of the forward, the backward and LRP's two */
    dnnl_memory_t in_blocked, out_blocked;
    size_t in_bytes, out_bytes;
    dx_onednn_step in_reorder, out_reorder;
} dx_onednn_direction;

struct dx_onednn_conv {
    dx_model *model; /* whose call buffer (m->onednn_buffer) the steps use */
    int threads;     /* OpenMP threads the primitives were built for and run on */
    long forwards, backwards;
    int post_op; /* the activation is the forward's post-op (else dx_activate after) */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dx_onednn_direction fwd, bwd;
    /* LRP's convolutions (conv_onednn_lrp.c): z = conv(in, W') and its adjoint, W' (a
     * modification of the folded weights) given at each call */
    dx_onednn_direction lrp_fwd, lrp_adj;
    long lrp_convs;
};

/* Layer l's convolution at `batch` images for oneDNN: src batch x c x h x w and dst batch x n x
 * out_h x out_w in nchw (Darknet's buffers) and in oneDNN's choice (any), the weights in Darknet's
 * layout ([g x] n/g x c/g x size x size) and in oneDNN's choice, the bias (n), and the window. */
typedef struct {
    dnnl_memory_desc_t src, dst, src_any, dst_any, w_plain, w_any, bias;
    dnnl_dims_t strides, dilates, pad_l, pad_r;
} dx_onednn_shapes;

int dx_onednn_shapes_of(const dx_layer *l, int batch, dx_onednn_shapes *s);
/* A new attribute whose primitive's scratchpad the caller gives (dx_onednn_set_up). NULL: failed. */
dnnl_primitive_attr_t dx_onednn_user_scratchpad(void);
/* d's primitive from pd (its scratchpad in the model's call buffer), its weights w (Darknet's
 * layout, w_plain) reordered once into the layout the primitive prefers (w NULL: given at each
 * call, through d->w_given), and its input and output on Darknet's buffers (in_md, out_md:
 * nchw) through the layouts pd chose for them (queries in_q, out_q); with accumulate the output
 * is added to Darknet's buffer. 0, or -1. */
int dx_onednn_set_up(dx_onednn_conv *c, dx_onednn_direction *d, const_dnnl_primitive_desc_t pd, const float *w,
                     const dnnl_memory_desc_t *w_plain, const dnnl_memory_desc_t *in_md, dnnl_query_t in_q,
                     const dnnl_memory_desc_t *out_md, dnnl_query_t out_q, int accumulate);
/* Into d (empty): layer l's backward-data at one image with the weights w (Darknet's layout;
 * NULL: given at each call), its result added to (accumulate) or written over Darknet's buffer.
 * 0, or -1. */
int dx_onednn_build_backward_data(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, const float *w,
                                  int accumulate);
/* Layer i's state (engine, stream, threads), made at its first use. NULL without libdnnl or
 * memory. */
dx_onednn_conv *dx_onednn_state(dx_model *m, int i);
/* d built by build(c, d, l, arg) at the first call, on the state's threads (never again once it
 * failed): 0, or -1. */
typedef int (*dx_onednn_build_fn)(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, const void *arg);
int dx_onednn_ready(dx_onednn_conv *c, dx_onednn_direction *d, const dx_layer *l, dx_onednn_build_fn build,
                    const void *arg);
/* Runs d from Darknet's buffer `in` to `out` (argument kinds in_arg and out_arg): reorder in,
 * the convolution, reorder out (adding, where d accumulates). Where d's weights are given per
 * call: w (Darknet's layout), reordered first into w_blocked (d->w_blocked_floats floats, the
 * caller's) where the primitive wants another layout; else both NULL. 0, or -1. */
int dx_onednn_execute(dx_onednn_conv *c, dx_onednn_direction *d, const float *w, float *w_blocked, int in_arg,
                      const float *in, int out_arg, float *out);
#endif
