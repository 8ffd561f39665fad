/* What each Darknet layer type does in the reverse pass (engine.c), one file per family: its
 * inference-mode backward and its LRP redistribution. Batch norm uses the frozen rolling
 * statistics exactly as Darknet's inference forward does; no weight gradients are computed. */
#ifndef DX_LAYERS_H
#define DX_LAYERS_H
#include <stddef.h>
#include "backends/backend.h"
#include "engine.h"
#include "explain.h"
#include "incremental.h"
#include "layers/columns.h"
#include "lrp/lrp.h"

/* table.c: what layer i hands down with its rule in pass p (engine.c calls it; the rows below). */
int dx_layer_reverse(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
/* The temporaries layer l's backward and region forward take from dx_scratch, in floats. */
size_t dx_layer_scratch_floats(const dx_layer *l);
/* The layers whose outputs layer i reads: dx_layer_source(l, i, s) for s < dx_layer_source_count(l)
 * (-1: the network input). */
int dx_layer_source_count(const dx_layer *l);
int dx_layer_source(const dx_layer *l, int i, int s);
/* Before a reverse pass from top down to stop writes into bufs (m->n buffers of each layer's
 * outputs, NULL until needed): allocates (zeroed) those it may touch, the layers (stop, top],
 * their sources and stop, so that nothing is allocated during the pass. 0, or -1 with err. */
int dx_reserve_reverse(const dx_model *m, float **bufs, int top, int stop, dx_error *err);

/* Both kinds of a layer's reverse function: layer i of pass p receives gout, what reached its
 * outputs (the gradient, or the relevance), and ADDS what it hands each of its inputs into
 * dx_pass_buf(p, producer) — always accumulate: a producer may feed several consumers (route,
 * shortcut). Its rule is dx_rule_of(p, i). */
typedef int (*dx_reverse_fn)(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);

/* The gradient family's: the inference backward (rectifiers as the rule says: dx_activation_grad). */
int dx_backward_convolutional(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_connected(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_maxpool(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_avgpool(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_route(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_shortcut(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_upsample(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_reorg(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_crop(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_activation(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_identity(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_softmax(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_yolo(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_region(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);
int dx_backward_gate(dx_model *m, dx_pass *p, int i, const float *gout, dx_error *err);

/* Incremental inference (incremental.c): layer i's outputs inside rectangle r (all channels),
 * recomputed from its current inputs exactly as Darknet's forward computes them there. */
typedef void (*dx_region_forward_fn)(dx_model *m, int i, dx_rect r);
int dx_layer_has_region_forward(const dx_layer *l);
void dx_layer_forward_region(dx_model *m, int i, dx_rect r);
/* The outputs of layer l a change inside `below` (its input's rectangle) reaches. */
typedef dx_rect (*dx_reach_fn)(const dx_layer *l, dx_rect below);
dx_rect dx_reach_convolutional(const dx_layer *l, dx_rect below);
dx_rect dx_reach_maxpool(const dx_layer *l, dx_rect below);
dx_rect dx_reach_upsample(const dx_layer *l, dx_rect below);
dx_rect dx_reach_same(const dx_layer *l, dx_rect below);
/* Output rows y read input rows y*stride + offset .. + size - 1: the outputs whose window meets
 * the changed input rows (and columns), clipped to the output (incremental.c). */
dx_rect dx_window_reach(dx_rect in, int size, int stride, int offset, int out_h, int out_w);

void dx_forward_region_convolutional(dx_model *m, int i, dx_rect r);
void dx_forward_region_maxpool(dx_model *m, int i, dx_rect r);
void dx_forward_region_route(dx_model *m, int i, dx_rect r);
void dx_forward_region_shortcut(dx_model *m, int i, dx_rect r);
void dx_forward_region_upsample(dx_model *m, int i, dx_rect r);
void dx_forward_region_none(dx_model *m, int i, dx_rect r); /* [dropout] at inference: nothing to do */

/* conv.c: grouped/depthwise convolution forward, equal to Darknet's (hooks.c uses it) */
int dx_forward_grouped_convolutional(dx_model *m, int i, const float *input); /* 0 */

/* Darknet's activate_array, faster for linear, leaky and relu (same results). */
void dx_activate(float *x, int n, dx_activation a);

/* A layer's batch norm at inference divides channel k by this, in the Darknet's own expression
 * (double, as Darknet's normalize_cpu computes it). */
double dx_bn_divisor(const dx_layer *l, int k);
/* x (batch x n x spatial) = bn(x) + bias (bias alone without batch norm), as the Darknet's
 * forward_batchnorm_layer + add_bias compute them at inference. */
void dx_bn_bias_forward(const dx_layer *l, float *x, int batch, int n, int spatial);

/* Shared by the layers that end in an activation: d = gout * f'(output), or at rectifiers as
 * the gradient family's rule says (guided backprop, DeconvNet). */
void dx_activation_grad(const dx_rule *rule, const dx_layer *l, const float *output, const float *gout,
                        float *d);
/* d (n) *= the derivative of Darknet's activation a at its output (and its input, for the
 * activations that need it): Darknet's gradient_array, linear/leaky/relu without a call each. */
void dx_activation_derivative(const float *output, const float *activation_input, int n, dx_activation a, float *d);
/* Batch norm at inference: y = scale*(x - mean)/(sqrt(var) + 1e-6) + bias, so dy/dx is a
 * per-channel constant; d[c, :] *= scale[c]/(sqrt(var[c]) + 1e-6). */
void dx_batchnorm_grad(const dx_layer *l, int channels, int spatial, float *d);

/* A layer type's row in the one table (table.c); a type without one has all NULL. The reverse
 * pass runs `backward` for the gradient family's rules and `lrp` for LRP's. Route and shortcut
 * have no reach: incremental.c joins their sources' rectangles. */
typedef struct {
    dx_reverse_fn backward;
    dx_reverse_fn lrp;
    dx_region_forward_fn region_forward;
    dx_reach_fn reach;
} dx_layer_ops;
const dx_layer_ops *dx_layer_ops_of(const dx_layer *l);

/* LRP's: rout = the relevance of layer i's outputs, redistributed with the layer's rule
 * (lrp/lrp.h); relevance kept by biases and stabilisers goes to p->absorbed. */
int dx_lrp_convolutional(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
int dx_lrp_connected(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
int dx_lrp_maxpool(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
/* pool.c: DeepLIFT's split of [maxpool] l's output differences between its windows' winners on x
 * and on x' (Rescale and RevealCancel share it; the contract is at the definition). */
void dx_maxpool_difference_shares(const dx_layer *l, const float *in, const float *in_ref, const float *out_ref,
                                  const float *gout, float *share, float *grad);
int dx_lrp_avgpool(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
int dx_lrp_route(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
int dx_lrp_shortcut(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
int dx_lrp_upsample(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
int dx_lrp_reorg(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
int dx_lrp_crop(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
int dx_lrp_pass(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
int dx_lrp_gate(dx_model *m, dx_pass *p, int i, const float *rout, dx_error *err);
#endif
