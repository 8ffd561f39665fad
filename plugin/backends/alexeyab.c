/* The AlexeyAB backend: AlexeyAB's Darknet (github.com/AlexeyAB/darknet, built by
 * tools/build-alexeyab.sh with its own Makefile, CPU). It parses a cfg as the fork's detector does,
 * with inference allocation (parse_network_cfg_custom at the cfg's batch: no deltas, no training
 * buffers), keeps batch norm unfused (rolling statistics, scales and biases as the weights file
 * holds them), checks and loads weights as its load_weights reads them, fills the neutral layer
 * table from the fork's `layer`, and runs network_predict with every layer's forward pointer
 * wrapped by a trampoline that calls the plugin's hook.
 * The fork's exact forward expressions, with file:line references, are listed in the backend's
 * notes (docs/ once merged); the ones the table depends on are cited where they are read. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backends/alexeyab.h"
#include "backends/backend.h"
#include "error.h"
#include "explain.h"
#include "memory.h"
#include "model.h"

const char *dx_backend_name(void) { return "alexeyab"; }

/* The fork's layer types by name (its enum values are not pjreddie's: include/darknet.h:156-197).
 * Types the neutral table has no kind for are DX_LAYER_OTHER under their cfg section's name. */
static const struct { LAYER_TYPE type; dx_layer_kind kind; const char *name; } kinds[] = {
    {CONVOLUTIONAL, DX_LAYER_CONVOLUTIONAL, "convolutional"},
    {DECONVOLUTIONAL, DX_LAYER_DECONVOLUTIONAL, "deconvolutional"},
    {CONNECTED, DX_LAYER_CONNECTED, "connected"},
    {MAXPOOL, DX_LAYER_MAXPOOL, "maxpool"},
    {LOCAL_AVGPOOL, DX_LAYER_OTHER, "local_avgpool"},
    {SOFTMAX, DX_LAYER_SOFTMAX, "softmax"},
    {DETECTION, DX_LAYER_DETECTION, "detection"},
    {DROPOUT, DX_LAYER_DROPOUT, "dropout"},
    {CROP, DX_LAYER_CROP, "crop"},
    {ROUTE, DX_LAYER_ROUTE, "route"},
    {COST, DX_LAYER_COST, "cost"},
    {NORMALIZATION, DX_LAYER_NORMALIZATION, "normalization"},
    {AVGPOOL, DX_LAYER_AVGPOOL, "avgpool"},
    {LOCAL, DX_LAYER_LOCAL, "local"},
    {SHORTCUT, DX_LAYER_SHORTCUT, "shortcut"},
    {SCALE_CHANNELS, DX_LAYER_SCALE_CHANNELS, "scale_channels"},
    {SAM, DX_LAYER_SAM, "sam"},
    {ACTIVE, DX_LAYER_ACTIVATION, "activation"},
    {RNN, DX_LAYER_RNN, "rnn"},
    {GRU, DX_LAYER_GRU, "gru"},
    {LSTM, DX_LAYER_LSTM, "lstm"},
    {CONV_LSTM, DX_LAYER_OTHER, "conv_lstm"},
    {HISTORY, DX_LAYER_OTHER, "history"},
    {CRNN, DX_LAYER_CRNN, "crnn"},
    {BATCHNORM, DX_LAYER_BATCHNORM, "batchnorm"},
    {NETWORK, DX_LAYER_NETWORK, "network"},
    {XNOR, DX_LAYER_XNOR, "xnor"},
    /* the fork's [region] flattens its output to one run of values per cell and leaves the x, y
     * logistic to the decoder (region_layer.c:193-200, 86-98): not pjreddie's planar layout */
    {REGION, DX_LAYER_OTHER, "region"},
    {YOLO, DX_LAYER_YOLO, "yolo"},
    {GAUSSIAN_YOLO, DX_LAYER_OTHER, "Gaussian_yolo"},
    {ISEG, DX_LAYER_ISEG, "iseg"},
    /* [reorg3d] is a true space-to-depth; [reorg] (REORG_OLD) is pjreddie's reorg, same call
     * reorg_cpu(input, w, h, c, batch, stride, 0, output) (reorg_old_layer.c:79-87) */
    {REORG, DX_LAYER_OTHER, "reorg3d"},
    {REORG_OLD, DX_LAYER_REORG, "reorg"},
    {UPSAMPLE, DX_LAYER_UPSAMPLE, "upsample"},
    {LOGXENT, DX_LAYER_LOGISTIC, "logistic"},
    {L2NORM, DX_LAYER_L2NORM, "l2norm"},
    {EMPTY, DX_LAYER_OTHER, "empty"},
    {BLANK, DX_LAYER_BLANK, "blank"},
    {CONTRASTIVE, DX_LAYER_OTHER, "contrastive"},
    {IMPLICIT, DX_LAYER_OTHER, "implicit"},
};

/* The fork's ACTIVATION (include/darknet.h:106-108) onto the neutral one, by name. */
static const struct { ACTIVATION a; dx_activation dx; } activations[] = {
    {LOGISTIC, DX_ACT_LOGISTIC}, {RELU, DX_ACT_RELU}, {RELU6, DX_ACT_RELU6}, {RELIE, DX_ACT_RELIE},
    {LINEAR, DX_ACT_LINEAR}, {RAMP, DX_ACT_RAMP}, {TANH, DX_ACT_TANH}, {PLSE, DX_ACT_PLSE},
    {REVLEAKY, DX_ACT_REVLEAKY}, {LEAKY, DX_ACT_LEAKY}, {ELU, DX_ACT_ELU}, {LOGGY, DX_ACT_LOGGY},
    {STAIR, DX_ACT_STAIR}, {HARDTAN, DX_ACT_HARDTAN}, {LHTAN, DX_ACT_LHTAN}, {SELU, DX_ACT_SELU},
    {GELU, DX_ACT_GELU}, {SWISH, DX_ACT_SWISH}, {MISH, DX_ACT_MISH}, {HARD_MISH, DX_ACT_HARD_MISH},
    {NORM_CHAN, DX_ACT_NORM_CHAN}, {NORM_CHAN_SOFTMAX, DX_ACT_NORM_CHAN_SOFTMAX},
    {NORM_CHAN_SOFTMAX_MAXVAL, DX_ACT_NORM_CHAN_SOFTMAX_MAXVAL},
};

static dx_activation activation_of(ACTIVATION a)
{
    for (size_t k = 0; k < sizeof activations / sizeof *activations; ++k)
        if (activations[k].a == a) return activations[k].dx;
    return DX_ACT_LINEAR;
}

static ACTIVATION darknet_activation(dx_activation a)
{
    for (size_t k = 0; k < sizeof activations / sizeof *activations; ++k)
        if (activations[k].dx == a) return activations[k].a;
    return LINEAR;
}

static void describe(const layer *l, dx_layer *d)
{
    memset(d, 0, sizeof *d);
    d->type = DX_LAYER_OTHER;
    d->type_name = "unknown";
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; ++k)
        if (kinds[k].type == l->type) d->type = kinds[k].kind, d->type_name = kinds[k].name;
    /* antialiasing overwrites the layer's output with a blur of it (convolutional_layer.c:1413-1421,
     * maxpool_layer.c:319-327): not the layer the table describes */
    if (l->antialiasing) d->type = DX_LAYER_OTHER, d->type_name = l->type == MAXPOOL ? "maxpool (antialiasing)" : "convolutional (antialiasing)";
    /* the fork's gelu_gradient takes the activation's input, which it does not keep (gradient_array
     * passes the output: activations.c:354-360, activations.h:124-127) */
    if (l->activation == GELU && d->type != DX_LAYER_OTHER)
        d->type_name = d->type == DX_LAYER_CONVOLUTIONAL ? "convolutional (gelu)"
                       : d->type == DX_LAYER_CONNECTED ? "connected (gelu)" : "layer with gelu",
        d->type = DX_LAYER_OTHER;
    d->batch = l->batch;
    d->h = l->h, d->w = l->w, d->c = l->c;
    d->out_h = l->out_h, d->out_w = l->out_w, d->out_c = l->out_c;
    d->inputs = l->inputs, d->outputs = l->outputs;
    d->output = l->output;
    d->n = l->n, d->size = l->size, d->pad = l->pad, d->groups = l->groups;
    d->stride = l->stride, d->stride_x = l->stride_x, d->stride_y = l->stride_y;
    d->dilation = l->dilation > 0 ? l->dilation : 1;
    /* a convolution's im2col pads by pad x dilation (convolutional_layer.c:1375) */
    if (l->type == CONVOLUTIONAL) d->pad = l->pad * d->dilation;
    d->nweights = l->nweights;
    d->weights = l->weights, d->biases = l->biases;
    d->batch_normalize = l->batch_normalize;
    d->bn_form = DX_BN_SQRT_OF_SUM_EPS; /* (x - mean) / sqrt(var + .00001f): blas.c:292 */
    d->scales = l->scales, d->rolling_mean = l->rolling_mean, d->rolling_variance = l->rolling_variance;
    d->activation = activation_of(l->activation);
    d->activation_input = l->activation_input; /* swish: logistic(x); mish, hard_mish: x */
    d->binary = l->xnor || l->binary;
    d->input_layers = l->input_layers, d->input_sizes = l->input_sizes;
    d->group_id = l->group_id;
    if (l->type == ROUTE && d->groups < 1) d->groups = 1;
    /* the fork's shortcut adds its n `from` layers (input_layers) to the layer below by flat index,
     * with weight 1 or its weights (blas.c shortcut_multilayer_cpu); alpha and beta are
     * pjreddie's and unused here */
    d->alpha = d->beta = 1;
    d->sum_flat = l->type == SHORTCUT;
    d->weights_type = l->weights_type, d->weights_normalization = l->weights_normalization;
    /* [scale_channels], [sam]: the layer below gates layer `index` */
    if (l->type == SCALE_CHANNELS || l->type == SAM) d->n = 1, d->input_layers = (int *)&l->index;
    d->scale_wh = l->scale_wh;
    d->reverse = l->reverse != 0, d->flatten = l->flatten, d->extra = l->extra, d->noadjust = l->noadjust;
    d->scale = l->scale;
    d->temperature = l->temperature;
    if (l->softmax_tree) d->tree_groups = l->softmax_tree->groups, d->tree_group_size = l->softmax_tree->group_size;
    d->classes = l->classes, d->coords = l->coords, d->background = l->background, d->softmax = l->softmax;
    d->total = l->total;
    d->mask = l->mask;
    d->scale_x_y = l->type == YOLO ? l->scale_x_y : 1;
    d->new_coords = l->new_coords;
    d->maxpool_depth = l->maxpool_depth;
    /* forward_maxpool_layer_avx (gemm.c:1886-1905), taken at stride 1 on AVX machines, skips a
     * whole 8-lane load when its first column is left of the image */
    d->darknet_forward_only = l->type == MAXPOOL && l->stride_x == 1 && l->stride_y == 1;
    d->nms_kind = l->nms_kind == GREEDY_NMS ? DX_NMS_GREEDY_DIOU : l->nms_kind == DIOU_NMS ? DX_NMS_DIOU : DX_NMS_IOU;
    d->beta_nms = l->beta_nms;
    if (l->type == LOGXENT) d->activation = DX_ACT_LOGISTIC;
}

/* The fork passes the layer and the network state by value; the trampoline finds its dx_net
 * through state.net.layers, which is unique per parsed network, and the layer by state.index
 * (forward_network sets it before each layer: network.c:274). */
typedef struct {
    network net;
    dx_net *dn;
    void (**forward)(struct layer, struct network_state); /* the fork's own, one per layer */
    dx_forward_hook hook;
    void *owner;
} darknet_net;

struct dx_layer_call {
    darknet_net *owner;
    int i;
    layer l;
    network_state state;
};

void dx_backend_call_darknet(dx_layer_call *call) { call->owner->forward[call->i](call->l, call->state); }

const float *dx_backend_call_input(const dx_layer_call *call) { return call->state.input; }

static void trampoline(layer l, network_state state)
{
    darknet_net *d = dx_backend_find(state.net.layers);
    dx_layer_call call = {d, state.index, l, state};
    if (d->hook) d->hook(d->owner, state.index, &call);
    else dx_backend_call_darknet(&call);
}

void dx_backend_set_hook(dx_net *net, dx_forward_hook hook, void *owner)
{
    darknet_net *d = net->darknet;
    d->hook = hook;
    d->owner = owner;
}

/* The fork prints its layer table and loader messages on stdout as well as stderr. */

/* The plugin reads every layer's output on the CPU. In a GPU build of the fork (GPU=1) the
 * process-wide gpu_index decides at each call whether it parses, loads, runs and frees on the GPU
 * (network.c:764, network_predict): it is -1 for the backend's calls only, so that a caller's own
 * GPU networks stay as they were. */
static int cpu_path_begin(void)
{
    int saved = gpu_index;
    gpu_index = -1;
    return saved;
}

static void cpu_path_end(int saved) { gpu_index = saved; }

dx_net *dx_backend_parse(const char *cfg_path, const char *shown_as, int verbose, dx_error *err)
{
    /* the fork may still exit() on the copy (a batch it cannot take: [contrastive] needs 2) */
    dx_cfg_size size;
    if (dx_alexeyab_parse_in_child(cfg_path, shown_as, &size, err) != 0) return 0;
    darknet_net *d = dx_alloc(1, sizeof *d, shown_as, err);
    dx_net *dn = d ? dx_alloc(1, sizeof *dn, shown_as, err) : NULL;
    if (!d || !dn) {
        free(d), free(dn);
        return 0;
    }
    int batch = dx_backend_cfg_batch(cfg_path);
    dx_backend_quiet q = dx_backend_quiet_begin(verbose);
    int gpu = cpu_path_begin();
    d->net = parse_network_cfg_custom((char *)cfg_path, batch, 1);
    cpu_path_end(gpu);
    /* the fork's first forward would print which CPU features its gemm uses (gemm.c:695-715) */
    is_avx();
    is_fma_avx2();
    dx_backend_quiet_end(q);
    network *net = &d->net;
    d->dn = dn;
    dn->darknet = d;
    dn->n = net->n, dn->batch = net->batch;
    dn->w = net->w, dn->h = net->h, dn->c = net->c, dn->inputs = net->inputs;
    /* the fork's detector stretches photos unless [net] letter_box=1 (detector.c:1633, 1674) */
    dn->letterbox = net->letter_box != 0;
    dn->layers = dx_alloc(net->n, sizeof(dx_layer), shown_as, err);
    d->forward = dn->layers ? dx_alloc(net->n, sizeof *d->forward, shown_as, err) : NULL;
    if (!dn->layers || !d->forward) {
        dx_backend_free(dn);
        return 0;
    }
    for (int i = 0; i < net->n; ++i) {
        describe(&net->layers[i], &dn->layers[i]);
        d->forward[i] = net->layers[i].forward;
        net->layers[i].forward = trampoline;
    }
    if (dx_backend_register(d, net->layers, shown_as, err) != 0) {
        dx_backend_free(dn);
        return 0;
    }
    return dn;
}

void dx_backend_free(dx_net *dn)
{
    if (!dn) return;
    darknet_net *d = dn->darknet;
    dx_backend_unregister(d);
    if (d->forward)
        for (int i = 0; i < d->net.n; ++i) d->net.layers[i].forward = d->forward[i];
    int gpu = cpu_path_begin();
    free_network(d->net);
    cpu_path_end(gpu);
    free(d->forward);
    free(d);
    free(dn->layers);
    free(dn);
}

void dx_backend_forward(dx_net *dn, float *input)
{
    int gpu = cpu_path_begin();
    network_predict(((darknet_net *)dn->darknet)->net, input);
    cpu_path_end(gpu);
}

/* As network_predict runs a layer (network.c:761-777, 269-291): inference, no truth, no deltas,
 * the shared workspace, the input below it. */
static void forward_layer(dx_net *dn, int i, float *input, int linear)
{
    network net = ((darknet_net *)dn->darknet)->net;
    network_state state = {0};
    state.net = net;
    state.input = input;
    state.workspace = net.workspace;
    state.index = i;
    layer l = net.layers[i];
    if (linear) l.activation = LINEAR; /* the layer is passed by value: this call only */
    l.forward(l, state);
}

void dx_backend_forward_layer(dx_net *dn, int i, float *input) { forward_layer(dn, i, input, 0); }

void dx_backend_forward_layer_linear(dx_net *dn, int i, float *input) { forward_layer(dn, i, input, 1); }

/* As the fork's conv and shortcut layers activate (activate_array_cpu_custom: AVX leaky,
 * gemm.c:1758-1790); swish, mish and hard_mish need the layer's activation_input and are computed
 * by those layers only: a stand-in forward must not ask for them here. */
void dx_backend_activate(float *x, int n, dx_activation a) { activate_array_cpu_custom(x, n, darknet_activation(a)); }

void dx_backend_gradient(const float *output, const float *activation_input, int n, dx_activation a,
                         float *delta)
{
    switch (a) {
    case DX_ACT_SWISH: gradient_array_swish(output, n, activation_input, delta); break;
    case DX_ACT_MISH: gradient_array_mish(n, activation_input, delta); break;
    case DX_ACT_HARD_MISH: gradient_array_hard_mish(n, activation_input, delta); break;
    default: gradient_array(output, n, darknet_activation(a), delta); break;
    }
}

/* ---- weights: what the fork's load_weights reads (parser.c:2242-2360, load_*_weights) ---- */

static long conv_floats(const layer *l)
{
    return l->n + (l->batch_normalize && !l->dontloadscales ? 3L * l->n : 0) + l->nweights;
}

static long connected_floats(const layer *l)
{
    return l->outputs + (long)l->outputs * l->inputs +
           (l->batch_normalize && !l->dontloadscales ? 3L * l->outputs : 0);
}

/* The inner layers of the recurrent types, in the file's order (parser.c:2290-2330). */
static int inner_layers(const layer *l, const layer **inner)
{
    int k = 0;
    switch (l->type) {
    case CRNN: case RNN:
        inner[k++] = l->input_layer, inner[k++] = l->self_layer, inner[k++] = l->output_layer;
        break;
    case GRU:
        inner[k++] = l->input_z_layer, inner[k++] = l->input_r_layer, inner[k++] = l->input_h_layer;
        inner[k++] = l->state_z_layer, inner[k++] = l->state_r_layer, inner[k++] = l->state_h_layer;
        break;
    case LSTM:
        inner[k++] = l->wf, inner[k++] = l->wi, inner[k++] = l->wg, inner[k++] = l->wo;
        inner[k++] = l->uf, inner[k++] = l->ui, inner[k++] = l->ug, inner[k++] = l->uo;
        break;
    case CONV_LSTM:
        if (l->peephole) inner[k++] = l->vf, inner[k++] = l->vi, inner[k++] = l->vo;
        inner[k++] = l->wf;
        if (!l->bottleneck) inner[k++] = l->wi, inner[k++] = l->wg, inner[k++] = l->wo;
        inner[k++] = l->uf, inner[k++] = l->ui, inner[k++] = l->ug, inner[k++] = l->uo;
        break;
    default: break;
    }
    return k;
}

long dx_alexeyab_layer_floats(const layer *l)
{
    const layer *inner[11];
    long total = 0;
    switch (l->type) {
    case CONVOLUTIONAL: return l->share_layer ? 0 : conv_floats(l);
    case SHORTCUT: case IMPLICIT: return l->nweights;
    case CONNECTED: return connected_floats(l);
    case BATCHNORM: return 4L * l->c; /* biases, scales, rolling mean, rolling variance */
    case LOCAL: return l->outputs + (long)l->size * l->size * l->c * l->n * l->out_w * l->out_h;
    case CRNN: case RNN: case GRU: case LSTM: case CONV_LSTM:
        for (int k = 0, m = inner_layers(l, inner); k < m; ++k) total += dx_alexeyab_layer_floats(inner[k]);
        return total;
    default: return 0;
    }
}

static long weights_floats(const network *net)
{
    long total = 0;
    for (int i = 0; i < net->n; ++i)
        if (!net->layers[i].dontload) total += dx_alexeyab_layer_floats(&net->layers[i]);
    return total;
}

/* Whether the weights header's `seen` is uint64: major * 10 + minor >= 2 (in int32, with no bound
 * on major and minor, unlike pjreddie's: parser.c:2257-2273); the sum wraps in the fork's build:
 * the same sum here without the overflow. */
static int seen_is_64bit(const int version[3])
{
    int sum = (int)((unsigned)version[0] * 10u + (unsigned)version[1]);
    return sum >= 2;
}

int dx_backend_check_weights(const char *path, const dx_net *dn, dx_error *err)
{
    const network *net = &((const darknet_net *)dn->darknet)->net;
    return dx_backend_check_weights_file(path, seen_is_64bit, weights_floats(net), err);
}

int dx_backend_load_weights(dx_net *dn, const char *path, int verbose, dx_error *err)
{
    dx_backend_quiet q = dx_backend_quiet_begin(verbose);
    int gpu = cpu_path_begin();
    load_weights(&((darknet_net *)dn->darknet)->net, (char *)path);
    cpu_path_end(gpu);
    dx_backend_quiet_end(q);
    return 0;
}

/* save_weights writes every layer, `dontload` ones included (parser.c:2003-2072), and prints each
 * [shortcut] weight on stdout (parser.c:1867-1883). */
int dx_backend_save_weights(const dx_net *dn, const char *path, dx_error *err)
{
    FILE *f = fopen(path, "wb"); /* the fork exits on a file it cannot open */
    if (!f) {
        dx_set_error(err, "%s: cannot write weights: %s", path, strerror(errno));
        return -1;
    }
    fclose(f);
    dx_backend_quiet q = dx_backend_quiet_begin(0);
    int gpu = cpu_path_begin();
    save_weights(((const darknet_net *)dn->darknet)->net, (char *)path);
    cpu_path_end(gpu);
    dx_backend_quiet_end(q);
    return 0;
}

static long nonfinite_batchnorm(const layer *l, int n)
{
    return dx_count_nonfinite(l->scales, n) + dx_count_nonfinite(l->rolling_mean, n) +
           dx_count_nonfinite(l->rolling_variance, n);
}

/* the arrays dx_alexeyab_layer_floats counts in the file, as the fork holds them after load_weights */
static long nonfinite_params(const layer *l)
{
    const layer *inner[11];
    long total = 0;
    switch (l->type) {
    case CONVOLUTIONAL:
        if (l->share_layer) return 0;
        return dx_count_nonfinite(l->weights, l->nweights) + dx_count_nonfinite(l->biases, l->n) +
               (l->batch_normalize ? nonfinite_batchnorm(l, l->n) : 0);
    case SHORTCUT: case IMPLICIT: return dx_count_nonfinite(l->weights, l->nweights);
    case CONNECTED:
        return dx_count_nonfinite(l->weights, (size_t)l->inputs * l->outputs) +
               dx_count_nonfinite(l->biases, l->outputs) +
               (l->batch_normalize ? nonfinite_batchnorm(l, l->outputs) : 0);
    case BATCHNORM: return dx_count_nonfinite(l->biases, l->c) + nonfinite_batchnorm(l, l->c);
    case LOCAL:
        return dx_count_nonfinite(l->weights, (size_t)l->size * l->size * l->c * l->n * l->out_w * l->out_h) +
               dx_count_nonfinite(l->biases, l->outputs);
    case CRNN: case RNN: case GRU: case LSTM: case CONV_LSTM:
        for (int k = 0, m = inner_layers(l, inner); k < m; ++k) total += nonfinite_params(inner[k]);
        return total;
    default: return 0;
    }
}

long dx_backend_nonfinite_params(const dx_net *dn, int i)
{
    return nonfinite_params(&((const darknet_net *)dn->darknet)->net.layers[i]);
}

network *dx_network(dx_model *m) { return &((darknet_net *)m->net->darknet)->net; }

/* The fork's gemm is its own (AVX/FMA kernels, OpenMP): there is no gemm_cpu to route to BLAS. */
void dx_set_blas(int on) {}
int dx_blas(void) { return 0; }
long dx_blas_gemm_calls(void) { return 0; }

/* The Darknet's image functions on the neutral image: the same four fields, copied by name. */
static dx_image from_darknet(image im) { return (dx_image){im.w, im.h, im.c, im.data}; }
static image to_darknet(dx_image im) { image d = {0}; d.w = im.w; d.h = im.h; d.c = im.c; d.data = im.data; return d; }
dx_image dx_backend_load_image(const char *path, int w, int h) { return from_darknet(load_image_color((char *)path, w, h)); }
dx_image dx_backend_resize_image(dx_image im, int w, int h) { return from_darknet(resize_image(to_darknet(im), w, h)); }
dx_image dx_backend_letterbox_image(dx_image im, int w, int h) { return from_darknet(letterbox_image(to_darknet(im), w, h)); }
