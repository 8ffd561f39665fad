#ifndef DX_ENGINE_H
#define DX_ENGINE_H
#include <stddef.h>
#include "backends/backend.h"
#include "explain.h"

/* The reverse pass's rules, as Zennit's: what a layer hands down to its inputs for what reached
 * its outputs. The gradient family runs the layer's backward (dx_layer_ops.backward); guided
 * backprop and DeconvNet differ only at rectifier units (relu, leaky, relie, ramp, elu, selu)
 * inside any layer's activation, other activations (linear, logistic, tanh, ...) pass the true
 * gradient; DeepLIFT's Rescale differs at every activation, [maxpool], [yolo] and the gates. The LRP rules
 * run the layer's relevance redistribution (dx_layer_ops.lrp; lrp/lrp.h gives their forms). */
typedef enum {
    DX_RULE_GRADIENT,     /* the derivative: d = gout * f'(x) */
    DX_RULE_GUIDED,       /* guided backprop: d = max(gout, 0) * f'(x); for leaky units negative
                             inputs pass the positive gradient times their slope (e.g. 0.1) */
    DX_RULE_DECONV,       /* DeconvNet: d = max(gout, 0), whatever the forward was */
    DX_RULE_RESCALE,      /* DeepLIFT's Rescale: every activation's derivative becomes
                             (f(z) - f(z')) / (z - z') against the reference's forward
                             (dx_rule.reference); [maxpool] as Captum's (layers/pool.c) */
    DX_RULE_EPSILON,      /* LRP-ε: (a, w), bias b */
    DX_RULE_GAMMA,        /* LRP-γ: z_ij + γ z_ij+ where z_j > 0, z_ij + γ z_ij- where z_j < 0 (Zennit's) */
    DX_RULE_ALPHA_BETA,   /* α (a+ w+ + a- w-, b+) - β (a+ w- + a- w+, b-) */
    DX_RULE_ZPLUS,        /* z+ as Zennit's ZPlus (= alpha-beta 1/0): (a+ w+ + a- w-, b+) */
    DX_RULE_ZPLUS_NOBIAS, /* z+ without the bias (deep Taylor's z+): (a+ w+ + a- w-) */
    DX_RULE_ZBOX,         /* zB: (a w - low w+ - high w-), no bias; the layer reading the input */
    DX_RULE_FLAT,         /* flat: (1, 1): equal shares over the receptive field */
    DX_RULE_WSQUARE,      /* w²: (1, w²) */
    DX_RULE_PASS,         /* parameter-free layers: their exact or proportional redistribution */
    DX_RULE_WTA,          /* [maxpool]: the window's winner takes all (the default) */
    DX_RULE_PROPORTIONAL, /* [maxpool]: shares in proportion to the window's inputs */
} dx_rule_kind;

/* DeepLIFT's view of one layer: its forward on the reference x' and on x (methods/deeplift.c).
 * Planar floats as the layer's own buffers; the input's and output's are the layer's inputs and
 * outputs floats, z and z_ref its outputs floats (NULL where its activation is linear). */
typedef struct {
    const float *in_ref;   /* the output of the layer below (or the network input) on x' */
    const float *out_ref;  /* the layer's output on x' */
    const float *z, *z_ref; /* the activation's input on x and on x' */
    const float *gated_ref; /* [scale_channels], [sam]: input_layers[0]'s output on x' */
} dx_reference_layer;

/* DeepLIFT's Rescale multiplier falls back to the gradient where |z - z'| is below this. */
#define DX_RESCALE_THRESHOLD 1e-6f

typedef struct {
    dx_rule_kind kind;
    float epsilon;      /* the stabiliser of every LRP denominator (ε of LRP-ε; default 1e-6) */
    float gamma;        /* LRP-γ (default 0.25) */
    float alpha, beta;  /* alpha-beta */
    float low, high;    /* zB bounds of the input (Darknet's input range: 0, 1) */
    const dx_reference_layer *reference; /* DX_RULE_RESCALE: the layer's forwards on x and x' */
} dx_rule;

/* A rule set: one rule per layer, or one for every layer. An LRP set (relevance = 1) starts
 * from R = d(score)/d(output) * output at the target's layer, the gradient family from
 * d(score)/d(output). */
typedef struct {
    const dx_rule *layers;  /* m->n rules, or NULL: `every` applies to every layer */
    dx_rule every;
    int relevance;
} dx_rules;
extern const dx_rules dx_gradient_rules, dx_guided_rules, dx_deconv_rules;

/* What one reverse pass leaves: for each layer the gradient (or relevance) of its outputs. A
 * pass starts zeroed ({0}) and may be reused for later passes of the same model (its buffers
 * are kept and zeroed); dx_pass_free releases it. */
typedef struct {
    const dx_rules *rules;    /* during a pass: the rules it runs with */
    float **buf;              /* buf[j]: layer j's outputs (allocated when first needed) */
    float *buf_input;         /* the network input's */
    unsigned char *touched;   /* buf[j] holds a non-zero seed or contribution */
    double seed_sum;          /* the sum of the seed (an LRP pass: the target's relevance) */
    double absorbed;          /* LRP: relevance kept by biases and stabilisers (lrp/lrp.h) */
    double bypass;            /* LRP: relevance left below stop that reached it around stop */
    float *work;              /* per-layer temporaries, kept across layers (dx_pass_work) */
    size_t work_len;
} dx_pass;

/* engine.c — the inference-mode reverse pass. */
double dx_now_ms(void);                         /* monotonic clock, milliseconds */
int dx_forward(dx_model *m, const float *input);   /* runs Darknet's forward on input (net->inputs) */
/* As `darknet classifier predict` and `darknet detector test`: the photo (the caller's) fitted to
 * the network input (letterboxed, or stretched: dx_fit_photo), then the forward, whose wall-clock
 * time goes to *ms (may be NULL), with layer timing on each layer's part of it to its hook's
 * ms_photo. -1 with err when the photo is too small to letterbox or a
 * layer's output holds NaN or inf (non-finite weights, an overflow). */
int dx_forward_photo(dx_model *m, dx_image photo, double *ms, dx_error *err);
/* Re-runs layers first..n-1 (through the hooks) on the outputs already below them, e.g. after a
 * method edited layer first-1's output. */
void dx_forward_from(dx_model *m, int first);
void dx_forward_layer(dx_model *m, int i); /* re-runs layer i (through its hook) on what is below it */
/* Re-runs layer i with its activation taken as linear: its output buffer then holds the
 * activation's input (the caller restores the output). */
void dx_forward_layer_linear(dx_model *m, int i);
const float *dx_output_of(const dx_model *m, int j); /* layer j's output; j < 0: the network input */
/* The one reverse pass: zeroes p's buffers, places seed (layer top's outputs floats) at layer
 * top and hands it down layer by layer with each layer's rule (the layers' ops, layers/table.c)
 * until what reaches layer stop's output is complete (stop = -1: the network input). A gradient
 * pass that reaches stop with non-finite values fails naming them. */
typedef struct dx_target dx_target;
int dx_reverse_seeded(dx_model *m, int top, const float *seed, int stop, const dx_rules *rules, dx_pass *p,
                      dx_error *err);
/* The same from a target: seeded with d(score)/d(output) at t->layer (an LRP set: times the
 * output, so that a class's relevance is its logit). */
int dx_reverse(dx_model *m, const dx_target *t, int stop, const dx_rules *rules, dx_pass *p, dx_error *err);
/* p's buffer of layer j's outputs (j < 0: the network input), marked touched: layers above the
 * stop of its current or last pass, their sources and stop itself (dx_reserve_reverse made them). */
float *dx_pass_buf(dx_pass *p, int j);
const dx_rule *dx_rule_of(const dx_pass *p, int i); /* layer i's rule in the current pass */
float *dx_pass_work(dx_pass *p, size_t floats, dx_error *err); /* NULL with err when out of memory */
void dx_pass_free(const dx_model *m, dx_pass *p);
/* The plain gradient through the model's own pass (m->pass): dx_reverse_seeded with
 * dx_gradient_rules; dx_grad_of reads (and marks) its buffer of layer j. */
int dx_backward(dx_model *m, int top, const float *seed, int stop, dx_error *err);
float *dx_grad_of(dx_model *m, int j);
/* The model's per-layer temporaries: floats <= dx_layer_scratch_floats of the calling layer (dx_open
 * sized it for the largest). */
float *dx_scratch(dx_model *m, size_t floats);
#endif
