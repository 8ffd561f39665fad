/* conv_onednn.c: [convolutional] forward through oneDNN (Debian's libdnnl, loaded when first
 * used), standing in for Darknet's im2col + gemm + single-threaded batch norm and activation
 * through the hooks (hooks.c: unless DX_ONEDNN=0), the reverse pass's W^T d (layers/conv.c's
 * backward, when the model's switch is on) and LRP's convolutions (conv_onednn_lrp.c, for
 * lrp/linear.c). Outputs and gradients equal Darknet's and the BLAS path's within float rounding
 * (tests/test_onednn.c, tests/test_lrp_onednn.c): batch norm is folded into the forward's
 * weights and bias, so the sums are taken in another order and with other factors. */
#ifndef DX_ONEDNN_H
#define DX_ONEDNN_H
#include "backends/backend.h"
#include "explain.h"

/* One layer's primitives, weights and buffers, each direction built at its first use (owned by
 * the model's hook of that layer, freed with dx_onednn_conv_free; dx_params_changed frees
 * it, so both are built again from the new parameters). */
typedef struct dx_onednn_conv dx_onednn_conv;

/* 1 when layer l can run through oneDNN: with pjreddie's Darknet, a non-binary convolution whose output size oneDNN's
 * padding reproduces, and whose activation needs nothing kept beside its output (the reverse pass
 * reads only l->output, and l->activation_input where a Darknet keeps one: such layers stay
 * Darknet's). */
int dx_onednn_supports(const dx_layer *l);
/* The stand-in (a dx_fast_forward_fn): layer i's output from input (batch x inputs floats). 0, or
 * -1 when oneDNN could not build the layer's primitive (then never again for this layer) or
 * there was no memory for this call's buffers (tried again at the next): the caller runs
 * Darknet's own forward. */
int dx_forward_onednn_convolutional(dx_model *m, int i, const float *input);
/* The linear step of layer i's input gradient (layers/conv.c): gin += W^T d, the adjoint of the
 * convolution without bias, d: n x out_h x out_w (the gradient at the layer's sums, one image),
 * gin: c x h x w. 0, or -1 when oneDNN could not build the layer's backward (then never again for
 * this layer) or had no memory for this call's buffers (gin untouched): the caller runs the BLAS
 * path. */
int dx_backward_onednn_convolutional(dx_model *m, int i, const float *d, float *gin);
/* LRP's convolutions of layer i (lrp/linear.c, conv_onednn_lrp.c), one image, with w (n x
 * c/groups x size x size), a modification of its batch-norm-folded weights: the forward
 * z = conv(in, w) (in: c x h x w, z: n x out_h x out_w, overwritten) and the adjoint
 * adj = conv^T(u, w) (u: n x out_h x out_w, adj: c x h x w, overwritten). dx_onednn_lrp_prepare
 * builds the two at the first call (kept until dx_params_changed or dx_set_onednn; the weights
 * are not kept) and says how many floats of scratch, w_blocked, the calls need to reorder w into
 * oneDNN's layouts (0: none), or -1 when oneDNN cannot run them (then never again for this
 * layer): the caller runs the BLAS path. The calls: 0, or -1 (out untouched: the BLAS path). */
long dx_onednn_lrp_prepare(dx_model *m, int i);
int dx_onednn_lrp_forward(dx_model *m, int i, const float *w, float *w_blocked, const float *in, float *z);
int dx_onednn_lrp_adjoint(dx_model *m, int i, const float *w, float *w_blocked, const float *u, float *adj);
void dx_onednn_conv_free(dx_onednn_conv *c);
/* Forwards layer i of m ran through oneDNN (tests: the stand-in really stood in). */
long dx_onednn_forwards(const dx_model *m, int i);
/* Backwards (W^T d) of layer i of m ran through oneDNN. */
long dx_onednn_backwards(const dx_model *m, int i);
/* LRP convolutions (forwards and adjoints) of layer i of m ran through oneDNN. */
long dx_onednn_lrp_convs(const dx_model *m, int i);
/* Bytes of weights m's oneDNN states keep (tests: LRP's convolutions keep none). */
long dx_onednn_kept_weight_bytes(const dx_model *m);
#endif
