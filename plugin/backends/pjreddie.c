/* The pjreddie backend: Debian's libdarknet (pjreddie's Darknet, 2018), the default. It opens
 * a cfg with parse_network_cfg, checks and loads weights as its load_weights reads them, fills
 * the neutral layer table from pjreddie's `layer`, and runs network_predict with every layer's
 * forward pointer wrapped by a trampoline that calls the plugin's hook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <darknet.h>
#include "backends/backend.h"
#include "backends/pjreddie_exports.h"
#include "cfg/check.h"
#include "error.h"
#include "explain.h"
#include "memory.h"
#include "model.h"

const char *dx_backend_name(void) { return "pjreddie"; }

/* plugin/cfg/ holds what pjreddie's parser and forward need of a cfg */
int dx_backend_check_cfg(const char *cfg_path, char *warnings, size_t warnings_len, dx_cfg_size *size,
                         dx_error *err)
{
    return dx_cfg_check_size(cfg_path, warnings, warnings_len, size, err);
}

static dx_layer_kind type_of(LAYER_TYPE t)
{
    switch (t) {
    case CONVOLUTIONAL: return DX_LAYER_CONVOLUTIONAL;
    case DECONVOLUTIONAL: return DX_LAYER_DECONVOLUTIONAL;
    case CONNECTED: return DX_LAYER_CONNECTED;
    case MAXPOOL: return DX_LAYER_MAXPOOL;
    case SOFTMAX: return DX_LAYER_SOFTMAX;
    case DETECTION: return DX_LAYER_DETECTION;
    case DROPOUT: return DX_LAYER_DROPOUT;
    case CROP: return DX_LAYER_CROP;
    case ROUTE: return DX_LAYER_ROUTE;
    case COST: return DX_LAYER_COST;
    case NORMALIZATION: return DX_LAYER_NORMALIZATION;
    case AVGPOOL: return DX_LAYER_AVGPOOL;
    case LOCAL: return DX_LAYER_LOCAL;
    case SHORTCUT: return DX_LAYER_SHORTCUT;
    case ACTIVE: return DX_LAYER_ACTIVATION;
    case RNN: return DX_LAYER_RNN;
    case GRU: return DX_LAYER_GRU;
    case LSTM: return DX_LAYER_LSTM;
    case CRNN: return DX_LAYER_CRNN;
    case BATCHNORM: return DX_LAYER_BATCHNORM;
    case NETWORK: return DX_LAYER_NETWORK;
    case XNOR: return DX_LAYER_XNOR;
    case REGION: return DX_LAYER_REGION;
    case YOLO: return DX_LAYER_YOLO;
    case ISEG: return DX_LAYER_ISEG;
    case REORG: return DX_LAYER_REORG;
    case UPSAMPLE: return DX_LAYER_UPSAMPLE;
    case LOGXENT: return DX_LAYER_LOGISTIC;
    case L2NORM: return DX_LAYER_L2NORM;
    case BLANK: return DX_LAYER_BLANK;
    }
    return DX_LAYER_OTHER;
}

static const char *type_name(LAYER_TYPE t)
{
    static const char *const names[] = {
        [CONVOLUTIONAL] = "convolutional", [DECONVOLUTIONAL] = "deconvolutional", [CONNECTED] = "connected",
        [MAXPOOL] = "maxpool", [SOFTMAX] = "softmax", [DETECTION] = "detection", [DROPOUT] = "dropout",
        [CROP] = "crop", [ROUTE] = "route", [COST] = "cost", [NORMALIZATION] = "normalization",
        [AVGPOOL] = "avgpool", [LOCAL] = "local", [SHORTCUT] = "shortcut", [ACTIVE] = "activation",
        [RNN] = "rnn", [GRU] = "gru", [LSTM] = "lstm", [CRNN] = "crnn", [BATCHNORM] = "batchnorm",
        [NETWORK] = "network", [XNOR] = "xnor", [REGION] = "region", [YOLO] = "yolo", [ISEG] = "iseg",
        [REORG] = "reorg", [UPSAMPLE] = "upsample", [LOGXENT] = "logistic", [L2NORM] = "l2norm",
        [BLANK] = "blank"};
    return (unsigned)t < sizeof names / sizeof *names && names[t] ? names[t] : "unknown";
}

/* pjreddie's ACTIVATION is the first 14 of dx_activation, in the same order. */
static dx_activation activation_of(ACTIVATION a) { return (dx_activation)a; }
static ACTIVATION darknet_activation(dx_activation a) { return a <= DX_ACT_SELU ? (ACTIVATION)a : LINEAR; }

static void describe(const layer *l, dx_layer *d)
{
    memset(d, 0, sizeof *d);
    d->type = type_of(l->type);
    d->type_name = type_name(l->type);
    d->batch = l->batch;
    d->h = l->h, d->w = l->w, d->c = l->c;
    d->out_h = l->out_h, d->out_w = l->out_w, d->out_c = l->out_c;
    d->inputs = l->inputs, d->outputs = l->outputs;
    d->output = l->output;
    d->n = l->n, d->size = l->size, d->stride = l->stride, d->pad = l->pad, d->groups = l->groups;
    d->stride_x = d->stride_y = l->stride;
    d->dilation = 1;
    d->nweights = l->nweights;
    d->weights = l->weights, d->biases = l->biases;
    d->batch_normalize = l->batch_normalize;
    d->bn_form = DX_BN_SQRT_PLUS_EPS;
    d->scales = l->scales, d->rolling_mean = l->rolling_mean, d->rolling_variance = l->rolling_variance;
    d->activation = activation_of(l->activation);
    d->binary = l->xnor || l->binary;
    d->input_layers = l->input_layers, d->input_sizes = l->input_sizes;
    if (l->type == ROUTE) d->groups = 1;
    if (l->type == SHORTCUT) d->n = 1, d->input_layers = (int *)&l->index; /* the layer added */
    d->alpha = l->alpha, d->beta = l->beta;
    d->reverse = l->reverse, d->flatten = l->flatten, d->extra = l->extra, d->noadjust = l->noadjust;
    d->scale = l->scale;
    d->temperature = l->temperature;
    if (l->softmax_tree) d->tree_groups = l->softmax_tree->groups, d->tree_group_size = l->softmax_tree->group_size;
    d->classes = l->classes, d->coords = l->coords, d->background = l->background, d->softmax = l->softmax;
    d->total = l->total;
    d->mask = l->mask;
    d->scale_x_y = 1;
    /* [logistic] computes a logistic activation whatever its layer's activation field says */
    if (l->type == LOGXENT) d->activation = DX_ACT_LOGISTIC;
}

/* Darknet passes the layer and the network by value, so the trampoline finds its dx_net through
 * the network's layer array, which is unique per parsed network. */
typedef struct {
    network *net;
    dx_net *dn;
    void (**forward)(struct layer, struct network); /* Darknet's own, one per layer */
    dx_forward_hook hook;
    void *owner;
} darknet_net;

struct dx_layer_call {
    darknet_net *owner;
    int i;
    layer l;
    network net;
};

void dx_backend_call_darknet(dx_layer_call *call) { call->owner->forward[call->i](call->l, call->net); }

const float *dx_backend_call_input(const dx_layer_call *call) { return call->net.input; }

static void trampoline(layer l, network net)
{
    darknet_net *d = dx_backend_find(net.layers);
    dx_layer_call call = {d, net.index, l, net};
    if (d->hook) d->hook(d->owner, net.index, &call);
    else dx_backend_call_darknet(&call);
}

void dx_backend_set_hook(dx_net *net, dx_forward_hook hook, void *owner)
{
    darknet_net *d = net->darknet;
    d->hook = hook;
    d->owner = owner;
}

/* make_deconvolutional_layer leaves groups at 0, which load_convolutional_weights divides by (a
 * SIGFPE): a deconvolution is never grouped, and groups 1 reads its c * n * size * size weights. */
static void ungroup_deconvolutions(network *net)
{
    for (int i = 0; i < net->n; ++i)
        if (net->layers[i].type == DECONVOLUTIONAL && net->layers[i].groups == 0) net->layers[i].groups = 1;
}

dx_net *dx_backend_parse(const char *cfg_path, const char *shown_as, int verbose, dx_error *err)
{
    darknet_net *d = dx_alloc(1, sizeof *d, shown_as, err);
    dx_net *dn = d ? dx_alloc(1, sizeof *dn, shown_as, err) : NULL;
    if (!d || !dn) goto oom;
    /* Darknet's own allocations (parse_network_cfg) are unchecked: model.c's dx_memory_check
     * made room for them first */
    int saved = verbose ? -1 : dx_silence_stderr();
    d->net = parse_network_cfg((char *)cfg_path);
    dx_restore_stderr(saved);
    network *net = d->net;
    /* In a GPU build of Darknet the forward would run on the GPU and leave l.output stale. */
    net->gpu_index = -1;
    ungroup_deconvolutions(net);
    d->dn = dn;
    dn->darknet = d;
    dn->n = net->n, dn->batch = net->batch;
    dn->w = net->w, dn->h = net->h, dn->c = net->c, dn->inputs = net->inputs;
    dn->letterbox = 1; /* pjreddie's detector and classifier letterbox */
    dn->layers = dx_alloc(net->n, sizeof(dx_layer), shown_as, err);
    d->forward = dn->layers ? dx_alloc(net->n, sizeof *d->forward, shown_as, err) : NULL;
    if (!dn->layers || !d->forward) goto oom;
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
oom: /* err says so */
    if (d && d->net)
        dx_backend_free(dn);
    else free(d), free(dn);
    return 0;
}

void dx_backend_free(dx_net *dn)
{
    if (!dn) return;
    darknet_net *d = dn->darknet;
    dx_backend_unregister(d);
    if (d->forward)
        for (int i = 0; i < d->net->n; ++i) d->net->layers[i].forward = d->forward[i];
    free_network(d->net);
    free(d->forward);
    free(d);
    free(dn->layers);
    free(dn);
}

void dx_backend_forward(dx_net *dn, float *input)
{
    network_predict(((darknet_net *)dn->darknet)->net, input);
}

/* As network_predict runs a layer: inference, no truth, no deltas, the input below it. Darknet
 * passes the layer by value, so a linear activation changes only this call. */
static void forward_layer(dx_net *dn, int i, float *input, int linear)
{
    network net = *((darknet_net *)dn->darknet)->net;
    net.train = 0;
    net.truth = 0;
    net.delta = 0;
    net.index = i;
    net.input = input;
    layer l = net.layers[i];
    if (linear) l.activation = LINEAR;
    l.forward(l, net);
}

void dx_backend_forward_layer(dx_net *dn, int i, float *input) { forward_layer(dn, i, input, 0); }

void dx_backend_forward_layer_linear(dx_net *dn, int i, float *input) { forward_layer(dn, i, input, 1); }

void dx_backend_activate(float *x, int n, dx_activation a) { activate_array(x, n, darknet_activation(a)); }

void dx_backend_gradient(const float *output, const float *activation_input, int n, dx_activation a,
                         float *delta)
{
    gradient_array(output, n, darknet_activation(a), delta);
}

/* ---- weights: what pjreddie's load_weights reads (parser.c's load_*_weights) ---- */

static long conv_floats(const layer *l)
{
    long n = l->numload ? l->numload : l->n;
    return n + (l->batch_normalize && !l->dontloadscales ? 3 * n : 0) +
           (long)l->c / l->groups * n * l->size * l->size;
}

static long connected_floats(const layer *l)
{
    return l->outputs + (long)l->outputs * l->inputs +
           (l->batch_normalize && !l->dontloadscales ? 3L * l->outputs : 0);
}

static long weights_floats(const network *net)
{
    long total = 0;
    for (int i = 0; i < net->n; ++i) {
        const layer *l = &net->layers[i];
        if (l->dontload) continue;
        switch (l->type) {
        case CONVOLUTIONAL: case DECONVOLUTIONAL: total += conv_floats(l); break;
        case CONNECTED: total += connected_floats(l); break;
        case BATCHNORM: total += 3L * l->c; break;
        case CRNN:
            total += conv_floats(l->input_layer) + conv_floats(l->self_layer) + conv_floats(l->output_layer);
            break;
        case RNN:
            total += connected_floats(l->input_layer) + connected_floats(l->self_layer) +
                     connected_floats(l->output_layer);
            break;
        case LSTM:
            total += connected_floats(l->wi) + connected_floats(l->wf) + connected_floats(l->wo) +
                     connected_floats(l->wg) + connected_floats(l->ui) + connected_floats(l->uf) +
                     connected_floats(l->uo) + connected_floats(l->ug);
            break;
        case GRU:
            total += connected_floats(l->wz) + connected_floats(l->wr) + connected_floats(l->wh) +
                     connected_floats(l->uz) + connected_floats(l->ur) + connected_floats(l->uh);
            break;
        case LOCAL:
            total += l->outputs + (long)l->size * l->size * l->c * l->n * l->out_w * l->out_h;
            break;
        default: break;
        }
    }
    return total;
}

/* Whether the weights header's `seen` is 64-bit, as pjreddie's loader decides from the version.
 * It computes major * 10 + minor in int, which wraps in its build: the same sum here, wrapped
 * without the overflow (unsigned arithmetic, converted back as gcc and clang do). */
static int seen_is_64bit(const int version[3])
{
    int sum = (int)((unsigned)version[0] * 10u + (unsigned)version[1]);
    return sum >= 2 && version[0] < 1000 && version[1] < 1000;
}

int dx_backend_check_weights(const char *path, const dx_net *dn, dx_error *err)
{
    const network *net = ((const darknet_net *)dn->darknet)->net;
    return dx_backend_check_weights_file(path, seen_is_64bit, weights_floats(net), err);
}

int dx_backend_load_weights(dx_net *dn, const char *path, int verbose, dx_error *err)
{
    int saved = verbose ? -1 : dx_silence_stderr();
    load_weights(((darknet_net *)dn->darknet)->net, (char *)path);
    dx_restore_stderr(saved);
    return 0;
}

int dx_backend_save_weights(const dx_net *dn, const char *path, dx_error *err)
{
    int saved = dx_silence_stderr();
    save_weights(((darknet_net *)dn->darknet)->net, (char *)path);
    dx_restore_stderr(saved);
    return 0;
}

static long nonfinite_batchnorm(const layer *l, int n)
{
    return dx_count_nonfinite(l->scales, n) + dx_count_nonfinite(l->rolling_mean, n) +
           dx_count_nonfinite(l->rolling_variance, n);
}

/* the arrays weights_floats counts in the file, as Darknet holds them after load_weights */
static long nonfinite_params(const layer *l)
{
    switch (l->type) {
    case CONVOLUTIONAL: case DECONVOLUTIONAL:
        return dx_count_nonfinite(l->weights, l->nweights) + dx_count_nonfinite(l->biases, l->n) +
               (l->batch_normalize ? nonfinite_batchnorm(l, l->n) : 0);
    case CONNECTED:
        return dx_count_nonfinite(l->weights, (size_t)l->inputs * l->outputs) +
               dx_count_nonfinite(l->biases, l->outputs) +
               (l->batch_normalize ? nonfinite_batchnorm(l, l->outputs) : 0);
    case BATCHNORM: return nonfinite_batchnorm(l, l->c);
    case LOCAL:
        return dx_count_nonfinite(l->weights, (size_t)l->size * l->size * l->c * l->n * l->out_w * l->out_h) +
               dx_count_nonfinite(l->biases, l->outputs);
    case CRNN: case RNN:
        return nonfinite_params(l->input_layer) + nonfinite_params(l->self_layer) +
               nonfinite_params(l->output_layer);
    case LSTM:
        return nonfinite_params(l->wi) + nonfinite_params(l->wf) + nonfinite_params(l->wo) +
               nonfinite_params(l->wg) + nonfinite_params(l->ui) + nonfinite_params(l->uf) +
               nonfinite_params(l->uo) + nonfinite_params(l->ug);
    case GRU:
        return nonfinite_params(l->wz) + nonfinite_params(l->wr) + nonfinite_params(l->wh) +
               nonfinite_params(l->uz) + nonfinite_params(l->ur) + nonfinite_params(l->uh);
    default: return 0;
    }
}

long dx_backend_nonfinite_params(const dx_net *dn, int i)
{
    return nonfinite_params(&((const darknet_net *)dn->darknet)->net->layers[i]);
}

network *dx_network(dx_model *m) { return ((darknet_net *)m->net->darknet)->net; }

/* The Darknet's image functions on the neutral image: the same four fields, copied by name. */
static dx_image from_darknet(image im) { return (dx_image){im.w, im.h, im.c, im.data}; }
static image to_darknet(dx_image im) { image d = {0}; d.w = im.w; d.h = im.h; d.c = im.c; d.data = im.data; return d; }
dx_image dx_backend_load_image(const char *path, int w, int h) { return from_darknet(load_image_color((char *)path, w, h)); }
dx_image dx_backend_resize_image(dx_image im, int w, int h) { return from_darknet(resize_image(to_darknet(im), w, h)); }
dx_image dx_backend_letterbox_image(dx_image im, int w, int h) { return from_darknet(letterbox_image(to_darknet(im), w, h)); }
