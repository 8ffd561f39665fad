/* What the plugin's rooms share: the model, the hooks, the reverse-pass engine. Not installed. */
#ifndef DX_INTERNAL_H
#define DX_INTERNAL_H

#include <stddef.h>
#include <stdarg.h>
#include "explain.h"
#include "backends/backend.h"

/* A forward standing in for the Darknet's on layer i of m: reads input (batch x inputs floats),
 * writes the layer's output buffer, equal to the Darknet's forward. */
typedef void (*dx_fast_forward_fn)(dx_model *m, int i, const float *input);

/* One layer's hook state (hooks.c). */
typedef struct {
    dx_fast_forward_fn fast_forward; /* the plugin's stand-in, or NULL: the Darknet's own */
    float *capture;     /* when non-NULL, the layer's output is copied here after each forward */
    double ms_total;    /* accumulated forward time while timing is on */
    long calls;
} dx_hook;

/* The reverse pass's rules, as Zennit's: what a layer hands down to its inputs for what reached
 * its outputs. The gradient family runs the layer's backward (dx_layer_ops.backward) and differs
 * only at rectifier units (relu, leaky, relie, ramp, elu, selu) inside any layer's activation;
 * other activations (linear, logistic, tanh, ...) always pass the true gradient. The LRP rules
 * run the layer's relevance redistribution (dx_layer_ops.lrp; lrp/lrp.h gives their forms). */
typedef enum {
    DX_RULE_GRADIENT,     /* the derivative: d = gout * f'(x) */
    DX_RULE_GUIDED,       /* guided backprop: d = max(gout, 0) * f'(x); for leaky units negative
                             inputs pass the positive gradient times their slope (e.g. 0.1) */
    DX_RULE_DECONV,       /* DeconvNet: d = max(gout, 0), whatever the forward was */
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

typedef struct {
    dx_rule_kind kind;
    float epsilon;      /* the stabiliser of every LRP denominator (ε of LRP-ε; default 1e-6) */
    float gamma;        /* LRP-γ (default 0.25) */
    float alpha, beta;  /* alpha-beta */
    float low, high;    /* zB bounds of the input (Darknet's input range: 0, 1) */
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

struct dx_model {
    dx_net *net;
    dx_cfg_size size;         /* what the cfg check estimated (for the memory checks of copies) */
    long max_pixels;          /* photos with more pixels are refused (dx_open_options.max_pixels) */
    char cfg_path[1024];
    char weights_path[1024];
    int n;                    /* layers */
    dx_hook *hooks;           /* one per dx_layer */
    int timing;               /* per-layer timing on/off */
    int fast_layers;          /* run the hooks' fast_forward stand-ins (dx_set_fast_layers) */
    int incremental;          /* occlusion recomputes only what a window reaches (dx_set_incremental) */
    struct dx_model *batched; /* its batch-N copy of the network (NULL until needed) */
    float *input;             /* the network input of the last forward (net->inputs floats) */
    /* The reverse pass of dx_backward and dx_target_backward (engine.c): d(target)/d(layer
     * output), plugin-owned, one buffer per layer (dx_grad_of). */
    dx_pass pass;
    float *scratch;           /* per-layer temporaries (largest need over the layers) */
    size_t scratch_len;
    char **names;
    int n_names;
    int head;                 /* index of the layer whose output is the model's output */
    double ms_backward;       /* time spent in reverse passes since the caller zeroed it */
    char warnings[4096];      /* what cfg checking found harmless but worth saying, one per line */
};

void dx_set_error(dx_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* plugin/cfg/: validation of the cfg text before Darknet parses it, and the batch-1 copy.
 * Returns 0 when Debian's Darknet can parse the cfg safely and computes what the text says;
 * -1 with "PATH:LINE: what is wrong" otherwise. Harmless oddities (keys Darknet ignores) are
 * appended to warnings (one per line, may be NULL). */
int dx_cfg_check(const char *cfg_path, char *warnings, size_t warnings_len, dx_error *err);
/* dx_cfg_check that also fills *size (when it returns 0). */
int dx_cfg_check_size(const char *cfg_path, char *warnings, size_t warnings_len, dx_cfg_size *size,
                      dx_error *err);
/* Writes a copy of the cfg with batch=1 and subdivisions=1 to an anonymous file; returns its
 * fd (caller closes) and the /proc path to pass to Darknet. */
int dx_cfg_batch1_copy(const char *cfg_path, char *path_out, size_t path_len, dx_error *err);
int dx_cfg_batch_copy(const char *cfg_path, int batch, char *path_out, size_t path_len, dx_error *err);

/* memory.c — checks before allocations nobody can check afterwards (Darknet's callocs, OpenBLAS's
 * buffers). Bytes the process can still allocate: the smaller of what RLIMIT_AS leaves above the
 * mapped address space and the available memory; *limited_by says which. */
double dx_memory_room(const char **limited_by);
/* 0 when `bytes` (and some slack) fit in dx_memory_room, else -1 with "SUBJECT: WHAT needs about N
 * MiB of memory, but ... leaves M MiB". */
int dx_memory_check(double bytes, const char *subject, const char *what, dx_error *err);
/* Sizes OpenBLAS's thread pool to the online cores (OPENBLAS_NUM_THREADS wins) but never more
 * threads than the address space has room for their buffers, and maps those buffers now (once per
 * process). -1 when not even one fits. */
int dx_blas_reserve(const char *subject, dx_error *err);
/* How many of `wanted` more threads running OpenBLAS calls have room for their buffers. */
int dx_blas_threads_fit(int wanted);
/* The address-space limit leaves no room for one more OpenBLAS buffer: a pool thread may be stuck
 * mapping its own (and exit() would wait for it forever). */
int dx_blas_may_hang(void);

/* model.c */
/* Darknet's messages go to /dev/null in between (restore takes what silence returned). */
int dx_silence_stderr(void);
void dx_restore_stderr(int saved);
long dx_count_nonfinite(const float *v, size_t n); /* NaN and inf among v[0..n) */
const char *dx_model_file(const dx_model *m);     /* the weights path, or the cfg's without weights */
/* m's network again at batch N, same parameters and hooks, input buffer for N inputs */
dx_model *dx_open_batch_copy(const dx_model *m, int batch, dx_error *err);

/* hooks.c */
int dx_hooks_install(dx_model *m, dx_error *err);
void dx_hooks_remove(dx_model *m);
int dx_capture(dx_model *m, int layer, int on); /* keep a copy of a layer's output (0 on success) */
/* layers/conv.c: grouped/depthwise convolution forward, equal to Darknet's (hooks.c uses it) */
void dx_forward_grouped_convolutional(dx_model *m, int i, const float *input);

/* backends/pjreddie_gemm.c: gemm_cpu calls that went to BLAS since start (the interposition is
 * really taken) */
long dx_blas_gemm_calls(void);

/* engine.c — the inference-mode reverse pass. */
double dx_now_ms(void);                         /* monotonic clock, milliseconds */
int dx_forward(dx_model *m, const float *input);   /* runs Darknet's forward on input (net->inputs) */
/* Re-runs layers first..n-1 (through the hooks) on the outputs already below them, e.g. after a
 * method edited layer first-1's output. */
void dx_forward_from(dx_model *m, int first);
void dx_forward_layer(dx_model *m, int i); /* re-runs layer i (through its hook) on what is below it */
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
float *dx_pass_work(dx_pass *p, size_t floats);     /* NULL when out of memory */
void dx_pass_free(const dx_model *m, dx_pass *p);
/* The plain gradient through the model's own pass (m->pass): dx_reverse_seeded with
 * dx_gradient_rules; dx_grad_of reads (and marks) its buffer of layer j. */
int dx_backward(dx_model *m, int top, const float *seed, int stop, dx_error *err);
float *dx_grad_of(dx_model *m, int j);
/* The model's per-layer temporaries: floats <= dx_layer_scratch_floats of the calling layer (dx_open
 * sized it for the largest). */
float *dx_scratch(dx_model *m, size_t floats);

/* incremental.c — incremental inference (occlusion): after a forward on a clean input, forwards
 * on inputs that differ from it inside one rectangle recompute only the outputs it reaches. */
typedef struct {
    int y0, x0, y1, x1; /* rows y0..y1-1, columns x0..x1-1 of every channel; empty when y0 >= y1 */
} dx_rect;
typedef struct dx_incremental dx_incremental;
/* Keeps a copy of every layer's output of the model's current (clean) forward state. */
dx_incremental *dx_incremental_begin(dx_model *m, dx_error *err);
/* The caller changed m->input inside `changed` only: brings every layer's output up to date.
 * Returns how many layer outputs it recomputed (a full forward: the sum of all layers' outputs). */
long dx_incremental_forward(dx_incremental *inc, dx_rect changed);
/* Back to the clean forward state (input included), copying back only what the last forward changed. */
void dx_incremental_restore(dx_incremental *inc);
void dx_incremental_end(dx_incremental *inc);

/* layers/: what layer i hands down with its rule in pass p (see layers/layers.h). */
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

/* targets.c — what a method explains: a differentiable score of the model's current forward
 * state, a function of one layer's output. The method never needs to know whether it is a
 * class logit or a detected box. */
typedef struct dx_target dx_target;
struct dx_target {
    int layer;   /* the score is a function of this layer's output */
    /* The score of the current forward state; when seed != NULL, also writes
     * d(score)/d(output of layer) into seed (all of the layer's outputs floats). */
    float (*eval)(const dx_target *t, const dx_model *m, float *seed);
    int cls;     /* class targets: the class (an index into layer's outputs) */
    /* box targets: layer is the [yolo]/[region] head; the anchor and cell of the box */
    int anchor, row, col;
    dx_box_target box_kind;
};

int dx_find_logit_layer(const dx_model *m);  /* the layer whose outputs are the class scores */
/* The target "class cls of a classifier": its logit, or its probability (kind). */
int dx_class_target(const dx_model *m, int cls, dx_score kind, dx_target *t, dx_error *err);
/* The target "box d of a detector" (see dx_box_target); its score is a function of the raw
 * outputs of the head at d's anchor and cell. */
int dx_box_target_of(const dx_model *m, const dx_detection *d, dx_box_target kind, dx_target *t,
                     dx_error *err);
/* The score of the current forward state. */
float dx_target_score(const dx_target *t, const dx_model *m);
/* Seeds the backward with the target's gradient at the current forward state and propagates it
 * down to layer stop (-1: the input); *score (may be NULL) receives the score. */
int dx_target_backward(dx_model *m, const dx_target *t, int stop, float *score, dx_error *err);
/* Runs the network on n inputs (the network frame, net->inputs floats each) and writes each
 * one's score, `batch` inputs per forward pass (a request's -batch; <= 1: one by one, on the
 * model itself; more: through its batch-N copy, m->batched, kept for the next call) (scoring.c).
 * Leaves the model's forward state on the last of them. */
int dx_score_inputs(dx_model *m, const dx_target *t, const float *inputs, int n, int batch, float *scores,
                    dx_error *err);
/* The same for n_targets targets on each input: scores[k * n_targets + j] is target j on input k. */
int dx_score_inputs_targets(dx_model *m, const dx_target *t, int n_targets, const float *inputs, int n,
                            int batch, float *scores, dx_error *err);
/* scores[j] = the score of target j of the current forward state */
void dx_target_scores(const dx_target *t, int n_targets, const dx_model *m, float *scores);

/* detect.c — the boxes of the current forward state, decoded as Darknet does. */
/* 0 with the supported heads, else -1 naming what is not supported ([detection], tree=). */
int dx_check_detector(const dx_model *m, dx_error *err);
/* The boxes above thresh after NMS (nms 0: none) for a photo of photo_w x photo_h pixels,
 * highest score first; *boxes malloc'd (NULL when none). -1 when a box's geometry is not finite. */
int dx_decode_boxes(const dx_model *m, int photo_w, int photo_h, float thresh, float hier, float nms,
                    dx_detection **boxes, int *n, dx_error *err);
/* The anchor and cell whose box overlaps region (x, y, w, h in photo pixels) most, whatever its
 * score; its class is the anchor's most probable one. Anchors whose box is not finite are left
 * out; -1 when region is not finite (or w, h <= 0) or no anchor is left. */
int dx_region_box(const dx_model *m, int photo_w, int photo_h, const float region[4],
                  dx_detection *out, dx_error *err);
/* The highest objectness x class probability of the current forward state over every head,
 * anchor, cell and class, and its class (-1 and 0 without a head). */
void dx_best_score(const dx_model *m, float *score, int *cls);
/* Darknet's box_iou: intersection over union of two boxes given by centre and size (not named
 * dx_box_iou: AlexeyAB's Darknet has a function of that name). */
float dx_iou(dx_box a, dx_box b);
/* A head's layout: per anchor, planes x, y, w, h (+ [region]'s extra coords), objectness, classes;
 * dx_head_entry is the index of plane e of anchor at cell (row * l->w + col) in its output. */
int dx_head_coords(const dx_layer *l);
int dx_head_entry(const dx_layer *l, int anchor, int e, int cell);
/* A head's decoded outputs at (anchor, cell = row * l->w + col), from its current forward state:
 * the box as fractions of the network input, the objectness (1 for [region] background=1),
 * a class's probability. */
dx_box dx_head_box(const dx_layer *l, int anchor, int row, int col, int net_w, int net_h);
float dx_head_objectness(const dx_layer *l, int anchor, int cell);
float dx_head_class_prob(const dx_layer *l, int anchor, int cell, int cls);
/* The layer CAM methods use for a target at layer top: for a detector's head, the last feature
 * layer feeding it; otherwise dx_default_layer. */
int dx_default_layer_for(const dx_model *m, int top);
/* -layer auto (targets.c): the layers whose CAM maps are averaged for a target at layer top, as
 * multi-scale LayerCAM fuses a network's stages: dx_default_layer_for(top), then, among the
 * layers whose output reaches it (through [route] and [shortcut] inputs), the last of each
 * other resolution no finer than 1/8 of the network input's width (a DX_LAYER_YOLO head's P3..P5 and
 * coarser). Fills layers (at most DX_MAX_LAYERS, from the top down); returns their count, or -1
 * with a message. */
int dx_auto_layers(const dx_model *m, int top, int *layers, dx_error *err);

/* outputs.c: the name stem of explanation k of e in file names and the JSON's "id": box<K> with
 * K the box's index among the detections, or region */
void dx_box_stem(const dx_box_explanations *e, int k, char *out, size_t len);
/* outputs.c: dx_write_box_outputs a box at a time, so that no more than one box's maps need be
 * in memory. open stages every file of e's e->n boxes (e->results unused) and starts the JSON;
 * add writes the next box's .png and .npy (boxes come in order, k = 0..n-1, each once), its
 * JSON member, and folds its map into the combined figure; close writes the figure and the
 * JSON's end and commits them all when rc == 0 (the n boxes added), else removes every file.
 * photo (the one the boxes were found on) and opt (may be NULL) are borrowed until close. */
typedef struct dx_box_writer dx_box_writer;
dx_box_writer *dx_box_writer_open(const dx_model *m, const dx_box_explanations *e, dx_image photo,
                                  const char *prefix, const dx_output_options *opt, dx_error *err);
int dx_box_writer_add(dx_box_writer *w, const dx_result *r, dx_error *err);
int dx_box_writer_close(dx_box_writer *w, int rc, dx_error *err); /* the resulting rc; w freed */

/* rng.c — the one source of random numbers (xoshiro256**, seeded by splitmix64): a method seeded
 * with dx_request.seed draws the same numbers on every machine. */
typedef struct {
    unsigned long long s[4];
} dx_rng;
void dx_rng_init(dx_rng *r, unsigned long long seed);
unsigned long long dx_rng_next(dx_rng *r);
double dx_rng_uniform(dx_rng *r);  /* [0, 1) */
double dx_rng_normal(dx_rng *r);   /* N(0, 1) */

#endif
