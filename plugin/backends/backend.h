/* The one boundary between darknet-explain and a Darknet. A backend (one file per Darknet in
 * plugin/backends/, exactly one linked into a build: `make BACKEND=...`) opens a cfg and weights
 * with its Darknet, describes the network as a table of neutral layers, and runs that Darknet's
 * forward with a per-layer hook. Only a backend file includes a Darknet's own header: everything
 * else (engine, layers, methods, targets, detection, LRP) reads dx_layer.
 *
 * Frames: every buffer is Darknet's planar layout, batch-major: item b, channel k, row y, column x
 * at ((b * c + k) * h + y) * w + x. Units: a layer's sizes count floats of one batch item. */
#ifndef DX_BACKEND_H
#define DX_BACKEND_H
#include <stddef.h>
#include "explain.h"

/* The layer types darknet-explain tells apart; a Darknet's other types are DX_LAYER_OTHER (named by
 * dx_layer.type_name) and have no backward, LRP rule or region forward. */
typedef enum {
    DX_LAYER_OTHER,
    DX_LAYER_CONVOLUTIONAL,
    DX_LAYER_DECONVOLUTIONAL,
    DX_LAYER_CONNECTED,
    DX_LAYER_MAXPOOL,
    DX_LAYER_AVGPOOL,
    DX_LAYER_ROUTE,
    DX_LAYER_SHORTCUT,
    DX_LAYER_UPSAMPLE,
    DX_LAYER_REORG,
    DX_LAYER_CROP,
    DX_LAYER_DROPOUT,
    DX_LAYER_ACTIVATION, /* [activation] */
    DX_LAYER_LOGISTIC,   /* [logistic] (pjreddie's LOGXENT): a logistic activation layer */
    DX_LAYER_BATCHNORM,
    DX_LAYER_SOFTMAX,
    DX_LAYER_COST,
    DX_LAYER_YOLO,
    DX_LAYER_REGION,
    DX_LAYER_DETECTION,
    DX_LAYER_ISEG,
    DX_LAYER_LOCAL,
    DX_LAYER_RNN,
    DX_LAYER_GRU,
    DX_LAYER_LSTM,
    DX_LAYER_CRNN,
    DX_LAYER_NORMALIZATION,
    DX_LAYER_L2NORM,
    DX_LAYER_XNOR,
    DX_LAYER_NETWORK,
    DX_LAYER_BLANK,
    DX_LAYER_SCALE_CHANNELS, /* AlexeyAB: out = f(below (a scale per channel, or per position) x input_layers[0]) */
    DX_LAYER_SAM             /* AlexeyAB: out = f(below x input_layers[0]), elementwise */
} dx_layer_kind;

/* Activations, the union of the Darknets' (a backend maps its own enum onto these and back). */
typedef enum {
    DX_ACT_LOGISTIC, DX_ACT_RELU, DX_ACT_RELIE, DX_ACT_LINEAR, DX_ACT_RAMP, DX_ACT_TANH, DX_ACT_PLSE,
    DX_ACT_LEAKY, DX_ACT_ELU, DX_ACT_LOGGY, DX_ACT_STAIR, DX_ACT_HARDTAN, DX_ACT_LHTAN, DX_ACT_SELU,
    DX_ACT_RELU6, DX_ACT_REVLEAKY, DX_ACT_GELU, DX_ACT_SWISH, DX_ACT_MISH, DX_ACT_HARD_MISH,
    DX_ACT_NORM_CHAN, DX_ACT_NORM_CHAN_SOFTMAX, DX_ACT_NORM_CHAN_SOFTMAX_MAXVAL
} dx_activation;

/* How a Darknet computes inference batch norm: y = scale * (x - mean) / D + bias, with
 * D = sqrt(var) + 1e-6 (pjreddie's normalize_cpu) or D = sqrt(var + 1e-5) (AlexeyAB's). */
typedef enum { DX_BN_SQRT_PLUS_EPS, DX_BN_SQRT_OF_SUM_EPS } dx_bn_form;

/* Non-maximum suppression as a Darknet's detector runs it after the last head's nms_kind:
 * IoU > nms (pjreddie's and AlexeyAB's do_nms_sort; AlexeyAB's corners NMS suppresses alike),
 * AlexeyAB's greedynms: DIoU with exponent 0.6 > nms, its diounms: DIoU with exponent beta_nms. */
typedef enum { DX_NMS_IOU, DX_NMS_GREEDY_DIOU, DX_NMS_DIOU } dx_nms_kind;

/* One layer as darknet-explain reads it. Field names follow Darknet's `layer` so that the code
 * reads like Darknet's; a field a type does not use is 0 / NULL. Pointers are the Darknet's own
 * buffers (owned by the backend's network, valid until dx_backend_free). */
typedef struct dx_layer {
    dx_layer_kind type;
    const char *type_name;        /* the cfg section's name, e.g. "convolutional" */
    int batch;                    /* inputs per forward */
    int h, w, c;                  /* input, per item */
    int out_h, out_w, out_c;
    int inputs, outputs;          /* h*w*c and out_h*out_w*out_c (connected/softmax: their sizes) */
    float *output;                /* batch x outputs: Darknet's own output buffer */
    /* [convolutional], [connected], [deconvolutional]: out = act(bn(W * in) + bias) */
    int n;                        /* filters; [yolo]/[region]: anchors; [route]: sources; [softmax]: - */
    int size, stride, pad, groups;
    int stride_x, stride_y;       /* the backend fills both (= stride when the cfg gives one) */
    int dilation;                 /* 1 when the Darknet has none */
    int nweights;
    float *weights, *biases;      /* weights: n x (c/groups) x size x size; [yolo]: anchors (w, h) */
    int batch_normalize;
    dx_bn_form bn_form;
    float *scales, *rolling_mean, *rolling_variance;
    dx_activation activation;
    float *activation_input;      /* what the Darknet keeps for its gradient (AlexeyAB: mish, hard_mish
                                     their input x; swish logistic(x)), or NULL */
    int binary;                   /* xnor/binary weights: not differentiable */
    /* [route]: input_layers[0..n), input_sizes (floats each); of each source only channel slice
     * group_id of `groups` equal slices (AlexeyAB; groups 1: all of it).
     * [shortcut]: out = alpha * below + beta * (the sum of the n layers input_layers[0..n)), and
     * with weights_type (AlexeyAB: 0 none, 1 per feature, 2 per channel) each input weighted,
     * weights normalised by weights_normalization (0 none, 1 relu, 2 softmax). */
    int *input_layers, *input_sizes;
    int group_id;
    float alpha, beta;
    int weights_type, weights_normalization;
    int sum_flat;                 /* [shortcut] AlexeyAB: input s adds into the first input_sizes[s]
                                     outputs by flat index (pjreddie resamples by stride instead) */
    int scale_wh;                 /* [scale_channels] scale_wh=1: below holds a scale per position */
    /* [upsample] (stride, scale; reverse: downsample), [reorg] (stride, reverse, flatten, extra),
     * [crop] (scale, noadjust) */
    int reverse, flatten, extra, noadjust;
    float scale;
    /* [softmax]: groups (above), temperature; a softmax over a tree: tree_groups slices of
     * tree_group_size[g] values (NULL without a tree) */
    float temperature;
    int tree_groups;
    const int *tree_group_size;
    /* heads: [yolo]: n anchors of `total`, mask[n] indexes into biases (w, h pairs in input pixels);
     * [region]: coords, background, softmax (and the tree above); biases in grid cells */
    int classes, coords, background, softmax, total;
    int *mask;
    float scale_x_y;              /* [yolo]: x = (logistic(tx) * scale_x_y - (scale_x_y - 1) / 2 + col) / w */
    int new_coords;               /* [yolo] new_coords=1 (AlexeyAB): the conv below applied the logistic */
    int maxpool_depth;            /* [maxpool] maxpool_depth=1 (AlexeyAB): a max over channels */
    int darknet_forward_only;     /* the Darknet computes this layer otherwise than its definition
                                     (AlexeyAB's AVX stride-1 maxpool leaves out border columns):
                                     no stand-in or region forward may replace its own */
    dx_nms_kind nms_kind;         /* [yolo]: how the Darknet's detector suppresses overlaps */
    float beta_nms;               /* [yolo] nms_kind=diounms: DIoU's exponent */
} dx_layer;

/* A network as a backend opened it. */
typedef struct dx_net {
    int n;                        /* layers */
    int batch;
    int w, h, c, inputs;          /* the network input, per item: inputs = w*h*c */
    int letterbox;                /* photos are letterboxed into the input (pjreddie; AlexeyAB with
                                     [net] letter_box=1), else stretched (AlexeyAB's detector) */
    dx_layer *layers;             /* n layers (the backend's array) */
    void *darknet;                /* the Darknet's own network (only its backend reads it) */
} dx_net;

typedef struct dx_error dx_error;

/* A network's size as a cfg check estimates it, in floats at batch 1 (memory checks before the
 * Darknet allocates). */
typedef struct {
    double outputs;   /* all layers' outputs */
    double weights;   /* all layers' parameters */
    double workspace; /* the im2col workspace the Darknet allocates once for the network */
} dx_cfg_size;

/* Which Darknet: "pjreddie" or "alexeyab". */
const char *dx_backend_name(void);

/* Checks the cfg before dx_backend_parse sees it (Darknets exit, assert or crash on many bad cfgs):
 * 0 with *size when this Darknet parses it safely and computes what it says (harmless oddities
 * appended to warnings, one per line); -1 with "PATH[:LINE]: what is wrong". */
int dx_backend_check_cfg(const char *cfg_path, char *warnings, size_t warnings_len, dx_cfg_size *size,
                         dx_error *err);

/* Parses cfg_path (a copy of the checked cfg shown_as, at the batch its [net] says) with the
 * backend's Darknet; quiet unless verbose. NULL with "SHOWN_AS: what is wrong" on failure. The network runs on the CPU whatever the
 * Darknet's build (the plugin reads every layer's output). */
dx_net *dx_backend_parse(const char *cfg_path, const char *shown_as, int verbose, dx_error *err);
void dx_backend_free(dx_net *net);

/* 0 when `path` holds exactly the weights net needs (this Darknet's header and layout), else -1
 * with "PATH: what is wrong". */
int dx_backend_check_weights(const char *path, const dx_net *net, dx_error *err);
/* Loads checked weights (quiet unless verbose). */
int dx_backend_load_weights(dx_net *net, const char *path, int verbose, dx_error *err);
/* Writes net's parameters in this Darknet's weights format to path. */
int dx_backend_save_weights(const dx_net *net, const char *path, dx_error *err);
/* Non-finite values among layer i's parameters (the arrays the weights file fills). */
long dx_backend_nonfinite_params(const dx_net *net, int i);

/* The forward. The backend calls hook(owner, i, call) in place of layer i's own forward, and
 * the hook runs the Darknet's forward with dx_backend_call_darknet(call) (or its own stand-in,
 * reading dx_backend_call_input). NULL hook: every layer runs the Darknet's own forward. */
typedef struct dx_layer_call dx_layer_call;
typedef void (*dx_forward_hook)(void *owner, int i, dx_layer_call *call);
void dx_backend_set_hook(dx_net *net, dx_forward_hook hook, void *owner);
void dx_backend_call_darknet(dx_layer_call *call);
const float *dx_backend_call_input(const dx_layer_call *call); /* batch x inputs floats */
/* Runs the whole network on input (batch x inputs floats) in inference mode. */
void dx_backend_forward(dx_net *net, float *input);
/* Runs layer i alone (through the hook) on `input`, the output below it (batch x inputs). */
void dx_backend_forward_layer(dx_net *net, int i, float *input);
/* The same with the layer's activation taken as linear (on a copy of the layer: the network is
 * untouched), so that its output buffer then holds the activation's input (DeepLIFT reads it). */
void dx_backend_forward_layer_linear(dx_net *net, int i, float *input);

/* The Darknet's own activation, so that a stand-in forward and a backward match its forward bit
 * for bit: x = f(x) in place; delta *= f'(.) given the activation's output (and its input where
 * the Darknet keeps one: mish, swish). */
void dx_backend_activate(float *x, int n, dx_activation a);
void dx_backend_gradient(const float *output, const float *activation_input, int n, dx_activation a,
                         float *delta);

/* The Darknet's own image functions, so that photos are decoded and fitted to the network input
 * exactly as its `detector test` / `classifier predict` do: load_image_color(path, w, h) (0, 0:
 * the file's size; the caller checks the file first: Darknet's loader exits or paints a
 * placeholder on bad files), resize_image and letterbox_image. Each returns a new image, freed
 * with dx_free_image. */
dx_image dx_backend_load_image(const char *path, int w, int h);
dx_image dx_backend_resize_image(dx_image im, int w, int h);
dx_image dx_backend_letterbox_image(dx_image im, int w, int h);

/* For backends (backends/common.c, shared by all). The open networks: a Darknet's forward calls a
 * layer with the network's own data, from which the backend's per-layer trampoline finds its
 * net by a key (the network's layers array). register: 0, or -1 with err naming shown_as when
 * too many are open. */
int dx_backend_register(void *net, const void *key, const char *shown_as, dx_error *err);
void dx_backend_unregister(void *net);
void *dx_backend_find(const void *key); /* NULL when none has the key */
/* The weights file at path holds a header (3 int32: major, minor, revision; then `seen`, 8 bytes
 * when seen_is_64bit(version) says so in that Darknet's rule, else 4) and exactly need_floats
 * floats: 0, or -1 with a one-line err naming the file (missing, not a regular file, truncated or
 * oversized, with both sizes). */
int dx_backend_check_weights_file(const char *path, int (*seen_is_64bit)(const int version[3]), long need_floats,
                                  dx_error *err);
/* A Darknet's loading messages, muted unless verbose: stdout to /dev/null and stderr silenced from
 * begin to end (C stdio flushed before each switch). */
typedef struct { int out, err; } dx_backend_quiet;
dx_backend_quiet dx_backend_quiet_begin(int verbose);
void dx_backend_quiet_end(dx_backend_quiet q);
/* The batch the cfg's [net] gives, as the forks' parse_net_options compute it (batch /
 * subdivisions, at least 1; 1 when the file cannot be read): their parse_network_cfg_custom takes
 * it as an argument, and any batch > 0 means inference allocation. */
int dx_backend_cfg_batch(const char *cfg_path);
/* Reads fd to its end and keeps the last cap - 1 bytes in text, NUL-terminated (a child's output,
 * whose last line says why it failed). */
void dx_backend_read_tail(int fd, char *text, size_t cap);
/* backends/pjreddie_gemm.c: gemm_cpu calls that went to BLAS since start (the interposition is
 * really taken) */
long dx_blas_gemm_calls(void);

#endif
