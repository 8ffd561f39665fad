/* The hank-ai backend: hank-ai's Darknet/YOLO (github.com/hank-ai/darknet, C++17, built by
 * tools/build-hankai.sh with its own CMake, CPU). The project's one C++ file: hank-ai's headers are
 * C++ only (darknet_internal.hpp #errors without it), so this file includes them and gives the C
 * side the functions of backends/backend.h (extern "C"). As the AlexeyAB backend (alexeyab.c, whose
 * lines it follows; hank-ai's Layer is AlexeyAB's layer in a namespace): it parses a cfg as the
 * fork's detector does, with inference allocation (parse_network_cfg_custom at the cfg's batch),
 * keeps batch norm unfused (the fork's detector fuses: the same numbers to rounding), checks and
 * loads weights as its load_weights reads them, fills the neutral layer table from
 * Darknet::Layer, and runs network_predict with every layer's forward pointer wrapped by a
 * trampoline that calls the plugin's hook. Built with g++ -std=c++17 against OUT/src/src-lib. */
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "darknet_internal.hpp"
#include "gemm.hpp" /* activate_array_cpu_custom */
extern "C" {
#include "backends/backend.h"
#include "error.h"
#include "explain.h"
#include "memory.h"
#include "model.h"
}

extern "C" const char *dx_backend_name(void) { return "hankai"; }

/* The plugin reads every layer's output on the CPU: in a GPU build of the fork (CUDA or ROCm,
 * where cfg_and_state.gpu_index starts at 0) its networks are parsed, loaded, run and freed on the
 * CPU path all the same. The fork decides by the process-wide gpu_index at each of these calls, so
 * it is -1 for the call only and the caller's GPU networks are left as they were. */
struct cpu_path {
    int saved = Darknet::CfgAndState::get().gpu_index;
    cpu_path() { Darknet::CfgAndState::get().gpu_index = -1; }
    ~cpu_path() { Darknet::CfgAndState::get().gpu_index = saved; }
    cpu_path(const cpu_path &) = delete;
    cpu_path &operator=(const cpu_path &) = delete;
};

using LT = Darknet::ELayerType;

/* The fork's layer types (src-lib/darknet_enums.hpp:25-52, an enum class) by cfg section name. Types
 * the neutral table has no kind for are DX_LAYER_OTHER under their name. */
static const struct { LT type; dx_layer_kind kind; const char *name; } kinds[] = {
    {LT::CONVOLUTIONAL, DX_LAYER_CONVOLUTIONAL, "convolutional"},
    {LT::CONNECTED, DX_LAYER_CONNECTED, "connected"},
    {LT::MAXPOOL, DX_LAYER_MAXPOOL, "maxpool"},
    {LT::LOCAL_AVGPOOL, DX_LAYER_OTHER, "local_avgpool"},
    {LT::SOFTMAX, DX_LAYER_SOFTMAX, "softmax"},
    {LT::DROPOUT, DX_LAYER_DROPOUT, "dropout"},
    {LT::ROUTE, DX_LAYER_ROUTE, "route"},
    {LT::COST, DX_LAYER_COST, "cost"},
    {LT::AVGPOOL, DX_LAYER_AVGPOOL, "avgpool"},
    {LT::SHORTCUT, DX_LAYER_SHORTCUT, "shortcut"},
    {LT::SCALE_CHANNELS, DX_LAYER_SCALE_CHANNELS, "scale_channels"},
    {LT::SAM, DX_LAYER_SAM, "sam"},
    {LT::RNN, DX_LAYER_RNN, "rnn"},
    {LT::LSTM, DX_LAYER_LSTM, "lstm"},
    {LT::CRNN, DX_LAYER_CRNN, "crnn"},
    {LT::NETWORK, DX_LAYER_NETWORK, "network"},
    /* AlexeyAB's [region] layout (one run of values per cell, x, y logistic left to the decoder):
     * not pjreddie's, which the region ops row reads */
    {LT::REGION, DX_LAYER_OTHER, "region"},
    {LT::YOLO, DX_LAYER_YOLO, "yolo"},
    {LT::GAUSSIAN_YOLO, DX_LAYER_OTHER, "Gaussian_yolo"},
    {LT::REORG, DX_LAYER_OTHER, "reorg3d"}, /* a true space-to-depth, not pjreddie's [reorg] */
    {LT::UPSAMPLE, DX_LAYER_UPSAMPLE, "upsample"},
    {LT::EMPTY, DX_LAYER_OTHER, "empty"},
    {LT::BLANK, DX_LAYER_BLANK, "blank"},
    {LT::CONTRASTIVE, DX_LAYER_OTHER, "contrastive"},
};

/* The fork's ACTIVATION (darknet_internal.hpp:95-97, AlexeyAB's names) onto the neutral one. */
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
    for (const auto &k : activations)
        if (k.a == a) return k.dx;
    return DX_ACT_LINEAR;
}

static ACTIVATION darknet_activation(dx_activation a)
{
    for (const auto &k : activations)
        if (k.dx == a) return k.a;
    return LINEAR;
}

static void describe(const Darknet::Layer &l, dx_layer *d)
{
    memset(d, 0, sizeof *d);
    d->type = DX_LAYER_OTHER;
    d->type_name = "unknown";
    for (const auto &k : kinds)
        if (k.type == l.type) d->type = k.kind, d->type_name = k.name;
    /* antialiasing overwrites the layer's output with a blur of it: not the layer the table describes */
    if (l.antialiasing)
        d->type = DX_LAYER_OTHER,
        d->type_name = l.type == LT::MAXPOOL ? "maxpool (antialiasing)" : "convolutional (antialiasing)";
    /* gelu's gradient takes the activation's input, which the fork does not keep (as AlexeyAB's) */
    if (l.activation == GELU && d->type != DX_LAYER_OTHER)
        d->type_name = d->type == DX_LAYER_CONVOLUTIONAL ? "convolutional (gelu)"
                       : d->type == DX_LAYER_CONNECTED  ? "connected (gelu)"
                                                        : "layer with gelu",
        d->type = DX_LAYER_OTHER;
    d->batch = l.batch;
    d->h = l.h, d->w = l.w, d->c = l.c;
    d->out_h = l.out_h, d->out_w = l.out_w, d->out_c = l.out_c;
    d->inputs = l.inputs, d->outputs = l.outputs;
    d->output = l.output;
    d->n = l.n, d->size = l.size, d->pad = l.pad, d->groups = l.groups;
    d->stride = l.stride, d->stride_x = l.stride_x, d->stride_y = l.stride_y;
    d->dilation = l.dilation > 0 ? l.dilation : 1;
    /* a convolution's im2col pads by pad x dilation, as AlexeyAB's */
    if (l.type == LT::CONVOLUTIONAL) d->pad = l.pad * d->dilation;
    d->nweights = l.nweights;
    d->weights = l.weights, d->biases = l.biases;
    d->batch_normalize = l.batch_normalize;
    d->bn_form = DX_BN_SQRT_OF_SUM_EPS; /* (x - mean) / sqrt(var + .00001f): blas.cpp:442 */
    d->scales = l.scales, d->rolling_mean = l.rolling_mean, d->rolling_variance = l.rolling_variance;
    d->activation = activation_of(l.activation);
    d->activation_input = l.activation_input; /* swish: logistic(x); mish, hard_mish: x */
    d->binary = l.xnor || l.binary;
    d->input_layers = l.input_layers, d->input_sizes = l.input_sizes;
    d->group_id = l.group_id;
    if (l.type == LT::ROUTE && d->groups < 1) d->groups = 1;
    /* the shortcut adds its n `from` layers to the layer below by flat index, weighted or not
     * (shortcut_multilayer_cpu); alpha and beta are pjreddie's and unused here */
    d->alpha = d->beta = 1;
    d->sum_flat = l.type == LT::SHORTCUT;
    d->weights_type = l.weights_type, d->weights_normalization = l.weights_normalization;
    /* [scale_channels], [sam]: the layer below gates layer `index` */
    if (l.type == LT::SCALE_CHANNELS || l.type == LT::SAM) d->n = 1, d->input_layers = const_cast<int *>(&l.index);
    d->scale_wh = l.scale_wh;
    d->reverse = l.reverse != 0, d->flatten = l.flatten, d->extra = l.extra, d->noadjust = l.noadjust;
    d->scale = l.scale;
    d->temperature = l.temperature;
    if (l.softmax_tree) d->tree_groups = l.softmax_tree->groups, d->tree_group_size = l.softmax_tree->group_size;
    d->classes = l.classes, d->coords = l.coords, d->background = l.background, d->softmax = l.softmax;
    d->total = l.total;
    d->mask = l.mask;
    d->scale_x_y = l.type == LT::YOLO ? l.scale_x_y : 1;
    d->new_coords = l.new_coords;
    d->maxpool_depth = l.maxpool_depth;
    /* the AVX maxpool at stride 1 (AVX is on by default in this fork) leaves out border columns, as
     * AlexeyAB's forward_maxpool_layer_avx does */
    d->darknet_forward_only = l.type == LT::MAXPOOL && l.stride_x == 1 && l.stride_y == 1;
    d->nms_kind = l.nms_kind == GREEDY_NMS ? DX_NMS_GREEDY_DIOU : l.nms_kind == DIOU_NMS ? DX_NMS_DIOU : DX_NMS_IOU;
    d->beta_nms = l.beta_nms;
}

/* The fork passes the layer by reference and the state by value; the trampoline finds its dx_net
 * through state.net.layers (unique per parsed network), the layer by state.index (forward_network
 * sets it before each layer: darknet_network.cpp:231-248). */
struct darknet_net {
    Darknet::Network net;
    dx_net *dn;
    void (**forward)(Darknet::Layer &, Darknet::NetworkState); /* the fork's own, one per layer */
    dx_forward_hook hook;
    void *owner;
};

struct dx_layer_call {
    darknet_net *owner;
    int i;
    Darknet::Layer *l;
    Darknet::NetworkState state;
};

extern "C" void dx_backend_call_darknet(dx_layer_call *call) { call->owner->forward[call->i](*call->l, call->state); }

extern "C" const float *dx_backend_call_input(const dx_layer_call *call) { return call->state.input; }

static void trampoline(Darknet::Layer &l, Darknet::NetworkState state)
{
    auto *d = static_cast<darknet_net *>(dx_backend_find(state.net.layers));
    dx_layer_call call = {d, state.index, &l, state};
    if (d->hook) d->hook(d->owner, state.index, &call);
    else dx_backend_call_darknet(&call);
}

extern "C" void dx_backend_set_hook(dx_net *net, dx_forward_hook hook, void *owner)
{
    auto *d = static_cast<darknet_net *>(net->darknet);
    d->hook = hook;
    d->owner = owner;
}

/* The fork prints its layer table and loader messages on stdout (std::cout) and stderr: the common
 * mute, with C++'s stream flushed too. */
static dx_backend_quiet quiet_begin(int verbose)
{
    std::cout.flush();
    return dx_backend_quiet_begin(verbose);
}

static void quiet_end(dx_backend_quiet q)
{
    std::cout.flush();
    dx_backend_quiet_end(q);
}

/* ---- weights: what the fork's load_weights reads (weights.cpp:421-662) ---- */

static long conv_floats(const Darknet::Layer &l)
{
    return l.n + (l.batch_normalize && !l.dontloadscales ? 3L * l.n : 0) + l.nweights;
}

static long connected_floats(const Darknet::Layer &l)
{
    return l.outputs + (long)l.outputs * l.inputs + (l.batch_normalize && !l.dontloadscales ? 3L * l.outputs : 0);
}

/* The inner layers of the recurrent types, in the file's order (weights.cpp load_weights_upto). */
static int inner_layers(const Darknet::Layer &l, const Darknet::Layer **inner)
{
    int k = 0;
    switch (l.type) {
    case LT::CRNN: case LT::RNN:
        inner[k++] = l.input_layer, inner[k++] = l.self_layer, inner[k++] = l.output_layer;
        break;
    case LT::LSTM:
        inner[k++] = l.wf, inner[k++] = l.wi, inner[k++] = l.wg, inner[k++] = l.wo;
        inner[k++] = l.uf, inner[k++] = l.ui, inner[k++] = l.ug, inner[k++] = l.uo;
        break;
    default: break;
    }
    return k;
}

static long layer_floats(const Darknet::Layer &l)
{
    const Darknet::Layer *inner[8];
    long total = 0;
    switch (l.type) {
    case LT::CONVOLUTIONAL: return l.share_layer ? 0 : conv_floats(l);
    case LT::SHORTCUT: return l.nweights;
    case LT::CONNECTED: return connected_floats(l);
    case LT::CRNN: return conv_floats(*l.input_layer) + conv_floats(*l.self_layer) + conv_floats(*l.output_layer);
    case LT::RNN: case LT::LSTM:
        for (int k = 0, m = inner_layers(l, inner); k < m; ++k) total += connected_floats(*inner[k]);
        return total;
    default: return 0;
    }
}

static long weights_floats(const Darknet::Network &net)
{
    long total = 0;
    for (int i = 0; i < net.n; ++i)
        if (!net.layers[i].dontload) total += layer_floats(net.layers[i]);
    return total;
}

/* ---- the cfg, parsed first in a child process ---- */

/* The fork's parser canonicalises the cfg's path (std::filesystem::canonical: darknet_cfg.cpp:567),
 * which throws on the plugin's memfd copies (/proc/self/fd/N names a deleted file): it parses a
 * copy of such a file in $TMPDIR (or /tmp) instead. The path to parse goes to out (out_len bytes);
 * 1 when out is a temporary file the caller unlinks, 0 when it is cfg_path itself, -1 with err. */
static int regular_cfg(const char *cfg_path, const char *shown_as, char *out, size_t out_len, dx_error *err)
{
    if (strncmp(cfg_path, "/proc/self/fd/", 14) != 0) {
        snprintf(out, out_len, "%s", cfg_path);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(out, out_len, "%s/darknet-explain-hankai-XXXXXX.cfg", tmp && *tmp ? tmp : "/tmp");
    int to = mkstemps(out, 4);
    FILE *from = to >= 0 ? fopen(cfg_path, "rb") : nullptr;
    int ok = from != nullptr;
    char chunk[8192];
    size_t got;
    while (ok && (got = fread(chunk, 1, sizeof chunk, from)) > 0) ok = write(to, chunk, got) == (ssize_t)got;
    if (from) fclose(from);
    if (to >= 0 && close(to) != 0) ok = 0;
    if (!ok) {
        dx_set_error(err, "%s: cannot copy the cfg to %s for hank-ai's parser: %s", shown_as, out, strerror(errno));
        if (to >= 0) unlink(out);
        return -1;
    }
    return 1;
}

/* The fork's parser ends the process on a bad cfg (darknet_fatal_error: utils.cpp:412, after
 * "* Error message:  ..." on its output) and refuses unknown keys. The line that says why: the
 * error message without its colour codes, else the last line of the output. */
static void reason_line(const char *text, char *line, size_t len)
{
    const char *best = strstr(text, "Error message:");
    size_t n = 0;
    if (best) {
        best += strlen("Error message:");
        while (*best == ' ') ++best;
    } else {
        for (const char *p = text; *p;) {
            size_t m = strcspn(p, "\n");
            if (m) best = p;
            p += m + (p[m] == '\n');
        }
    }
    for (; best && *best && *best != '\n' && n + 1 < len; ++best) {
        if (*best == '\033') { /* ESC [ ... m */
            while (*best && *best != 'm') ++best;
            if (!*best) break;
            continue;
        }
        line[n++] = *best;
    }
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\r')) --n;
    line[n] = 0;
}

static int parse_in_child(const char *cfg_path, const char *shown_as, dx_cfg_size *size, dx_error *err)
{
    char regular[4096];
    int temp = regular_cfg(cfg_path, shown_as, regular, sizeof regular, err);
    if (temp < 0) return -1;
    cfg_path = regular;
    int out[2], res[2];
    if (pipe(out) != 0 || (pipe(res) != 0 && (close(out[0]), close(out[1]), 1))) {
        dx_set_error(err, "%s: cannot check the cfg: %s", shown_as, strerror(errno));
        if (temp) unlink(regular);
        return -1;
    }
    std::cout.flush();
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(out[0]), close(res[0]);
        dup2(out[1], 1), dup2(out[1], 2);
        Darknet::CfgAndState::get().colour_is_enabled = false;
        Darknet::CfgAndState::get().gpu_index = -1; /* as the parent's parse (cpu_path) */
        Darknet::Network net = parse_network_cfg_custom(cfg_path, 1, 1);
        for (int i = 0; i < net.n; ++i)
            if (net.layers[i].xnor || net.layers[i].binary) {
                printf("Error message: layer %d [convolutional]: xnor/binary weights, which the plugin cannot differentiate\n", i);
                fflush(stdout); /* _exit flushes nothing */
                _exit(3);
            }
        for (int i = 0; i < net.n; ++i)
            if (net.layers[i].type == LT::CRNN || net.layers[i].type == LT::RNN || net.layers[i].type == LT::LSTM) {
                /* its own parse + load_weights + network_predict of yolov3-tiny_occlusion_track.cfg
                 * at batch 1 ends in SIGSEGV (the [crnn] forward writes outside its inference buffers) */
                printf("Error message: layer %d [%s]: the fork's inference forward of recurrent layers writes "
                       "outside its buffers\n", i, Darknet::to_string(net.layers[i].type).c_str());
                fflush(stdout);
                _exit(3);
            }
        dx_cfg_size s = {0, 0, 0};
        for (int i = 0; i < net.n; ++i) {
            const Darknet::Layer &l = net.layers[i];
            s.outputs += l.outputs, s.weights += layer_floats(l);
            if (l.workspace_size / sizeof(float) > s.workspace) s.workspace = l.workspace_size / sizeof(float);
        }
        /* freed here too: glibc's checks in free() catch a heap the parser overran (cspx-p7-mish.cfg:
         * "double free or corruption"), which the parent's own parse would otherwise meet later */
        free_network(net);
        _exit(write(res[1], &s, sizeof s) == (ssize_t)sizeof s ? 0 : 1);
    }
    close(out[1]), close(res[1]);
    static char text[16384];
    text[0] = 0;
    if (pid > 0) dx_backend_read_tail(out[0], text, sizeof text);
    dx_cfg_size s;
    ssize_t have = pid > 0 ? read(res[0], &s, sizeof s) : -1;
    close(out[0]), close(res[0]);
    int status = 0;
    pid_t waited = pid > 0 ? waitpid(pid, &status, 0) : -1;
    if (temp) unlink(regular);
    if (pid < 0 || waited != pid) {
        dx_set_error(err, "%s: cannot check the cfg: %s", shown_as, strerror(errno));
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && have == (ssize_t)sizeof s) {
        *size = s;
        return 0;
    }
    char reason[256];
    reason_line(text, reason, sizeof reason);
    if (WIFSIGNALED(status))
        dx_set_error(err, "%s: hank-ai's Darknet crashes parsing this cfg (signal %d)%s%s", shown_as,
                     WTERMSIG(status), *reason ? " after: " : "", reason);
    else
        dx_set_error(err, "%s: hank-ai's Darknet refuses this cfg: %s", shown_as,
                     *reason ? reason : "its parser exits without saying why");
    return -1;
}

extern "C" int dx_backend_check_cfg(const char *cfg_path, char *warnings, size_t warnings_len, dx_cfg_size *size,
                                    dx_error *err)
{
    FILE *f = fopen(cfg_path, "r");
    if (!f) {
        dx_set_error(err, "%s: cannot open cfg: %s", cfg_path, strerror(errno));
        return -1;
    }
    fclose(f);
    return parse_in_child(cfg_path, cfg_path, size, err);
}

extern "C" dx_net *dx_backend_parse(const char *cfg_path, const char *shown_as, int verbose, dx_error *err)
{
    cpu_path cpu;
    dx_cfg_size size;
    if (parse_in_child(cfg_path, shown_as, &size, err) != 0) return nullptr;
    auto *d = static_cast<darknet_net *>(dx_alloc(1, sizeof(darknet_net), shown_as, err));
    auto *dn = d ? static_cast<dx_net *>(dx_alloc(1, sizeof(dx_net), shown_as, err)) : nullptr;
    if (!d || !dn) {
        free(d), free(dn);
        return nullptr;
    }
    char regular[4096];
    int temp = regular_cfg(cfg_path, shown_as, regular, sizeof regular, err);
    if (temp < 0) {
        free(d), free(dn);
        return nullptr;
    }
    int batch = dx_backend_cfg_batch(regular);
    dx_backend_quiet q = quiet_begin(verbose);
    d->net = parse_network_cfg_custom(regular, batch, 1);
    /* the fork's first forward would print which CPU features its gemm uses (gemm.cpp:437-472) */
    is_avx();
    is_fma_avx2();
    quiet_end(q);
    if (temp) unlink(regular);
    Darknet::Network &net = d->net;
    d->dn = dn;
    dn->darknet = d;
    dn->n = net.n, dn->batch = net.batch;
    dn->w = net.w, dn->h = net.h, dn->c = net.c, dn->inputs = net.inputs;
    /* the fork's detector stretches photos unless [net] letter_box=1 (detector.cpp test_detector) */
    dn->letterbox = net.letter_box != 0;
    dn->layers = static_cast<dx_layer *>(dx_alloc(net.n, sizeof(dx_layer), shown_as, err));
    d->forward = dn->layers ? static_cast<decltype(d->forward)>(dx_alloc(net.n, sizeof *d->forward, shown_as, err)) : nullptr;
    if (!dn->layers || !d->forward) {
        dx_backend_free(dn);
        return nullptr;
    }
    for (int i = 0; i < net.n; ++i) {
        describe(net.layers[i], &dn->layers[i]);
        d->forward[i] = net.layers[i].forward;
        net.layers[i].forward = trampoline;
    }
    if (dx_backend_register(d, net.layers, shown_as, err) != 0) {
        dx_backend_free(dn);
        return nullptr;
    }
    return dn;
}

extern "C" void dx_backend_free(dx_net *dn)
{
    if (!dn) return;
    cpu_path cpu;
    auto *d = static_cast<darknet_net *>(dn->darknet);
    dx_backend_unregister(d);
    if (d->forward)
        for (int i = 0; i < d->net.n; ++i) d->net.layers[i].forward = d->forward[i];
    free_network(d->net);
    free(d->forward);
    free(d);
    free(dn->layers);
    free(dn);
}

extern "C" void dx_backend_forward(dx_net *dn, float *input)
{
    cpu_path cpu;
    network_predict(static_cast<darknet_net *>(dn->darknet)->net, input);
}

/* As network_predict runs a layer: inference, no truth, no deltas, the shared workspace. */
static void forward_layer(dx_net *dn, int i, float *input, int linear)
{
    cpu_path cpu;
    Darknet::Network &net = static_cast<darknet_net *>(dn->darknet)->net;
    Darknet::NetworkState state = {};
    state.net = net;
    state.input = input;
    state.workspace = net.workspace;
    state.index = i;
    Darknet::Layer l = net.layers[i]; /* a copy: the activation change is this call's only */
    if (linear) l.activation = LINEAR;
    l.forward(l, state);
}

extern "C" void dx_backend_forward_layer(dx_net *dn, int i, float *input) { forward_layer(dn, i, input, 0); }

extern "C" void dx_backend_forward_layer_linear(dx_net *dn, int i, float *input) { forward_layer(dn, i, input, 1); }

/* As the fork's conv and shortcut layers activate (activate_array_cpu_custom, gemm.hpp:63). */
extern "C" void dx_backend_activate(float *x, int n, dx_activation a) { activate_array_cpu_custom(x, n, darknet_activation(a)); }

extern "C" void dx_backend_gradient(const float *output, const float *activation_input, int n, dx_activation a,
                                    float *delta)
{
    switch (a) {
    case DX_ACT_SWISH: gradient_array_swish(output, n, activation_input, delta); break;
    case DX_ACT_MISH: gradient_array_mish(n, activation_input, delta); break;
    case DX_ACT_HARD_MISH: gradient_array_hard_mish(n, activation_input, delta); break;
    default: gradient_array(output, n, darknet_activation(a), delta); break;
    }
}

/* `seen` is uint64 when major * 10 + minor >= 2 (weights.cpp:463-481), as AlexeyAB's. */
static int seen_is_64bit(const int version[3])
{
    int sum = (int)((unsigned)version[0] * 10u + (unsigned)version[1]);
    return sum >= 2;
}

extern "C" int dx_backend_check_weights(const char *path, const dx_net *dn, dx_error *err)
{
    const Darknet::Network &net = static_cast<const darknet_net *>(dn->darknet)->net;
    return dx_backend_check_weights_file(path, seen_is_64bit, weights_floats(net), err);
}

extern "C" int dx_backend_load_weights(dx_net *dn, const char *path, int verbose, dx_error *err)
{
    cpu_path cpu;
    dx_backend_quiet q = quiet_begin(verbose);
    load_weights(&static_cast<darknet_net *>(dn->darknet)->net, path);
    quiet_end(q);
    return 0;
}

extern "C" int dx_backend_save_weights(const dx_net *dn, const char *path, dx_error *err)
{
    FILE *f = fopen(path, "wb"); /* the fork ends the process on a file it cannot open */
    if (!f) {
        dx_set_error(err, "%s: cannot write weights: %s", path, strerror(errno));
        return -1;
    }
    fclose(f);
    cpu_path cpu;
    dx_backend_quiet q = quiet_begin(0);
    save_weights(static_cast<const darknet_net *>(dn->darknet)->net, path);
    quiet_end(q);
    return 0;
}

static long nonfinite_batchnorm(const Darknet::Layer &l, int n)
{
    return dx_count_nonfinite(l.scales, n) + dx_count_nonfinite(l.rolling_mean, n) +
           dx_count_nonfinite(l.rolling_variance, n);
}

/* the arrays layer_floats counts in the file, as the fork holds them after load_weights */
static long nonfinite_params(const Darknet::Layer &l)
{
    const Darknet::Layer *inner[8];
    long total = 0;
    switch (l.type) {
    case LT::CONVOLUTIONAL:
        if (l.share_layer) return 0;
        return dx_count_nonfinite(l.weights, l.nweights) + dx_count_nonfinite(l.biases, l.n) +
               (l.batch_normalize ? nonfinite_batchnorm(l, l.n) : 0);
    case LT::SHORTCUT: return dx_count_nonfinite(l.weights, l.nweights);
    case LT::CONNECTED:
        return dx_count_nonfinite(l.weights, (size_t)l.inputs * l.outputs) + dx_count_nonfinite(l.biases, l.outputs) +
               (l.batch_normalize ? nonfinite_batchnorm(l, l.outputs) : 0);
    case LT::CRNN: case LT::RNN: case LT::LSTM:
        for (int k = 0, m = inner_layers(l, inner); k < m; ++k) total += nonfinite_params(*inner[k]);
        return total;
    default: return 0;
    }
}

extern "C" long dx_backend_nonfinite_params(const dx_net *dn, int i)
{
    return nonfinite_params(static_cast<const darknet_net *>(dn->darknet)->net.layers[i]);
}

/* The fork's Darknet::Network (explain.h's opaque struct network). */
extern "C" struct network *dx_network(dx_model *m)
{
    return reinterpret_cast<struct network *>(&static_cast<darknet_net *>(m->net->darknet)->net);
}

/* The fork's gemm is its own (AVX/FMA kernels, OpenMP): there is no gemm_cpu to route to BLAS. */
extern "C" void dx_set_blas(int on) {}
extern "C" int dx_blas(void) { return 0; }
extern "C" long dx_blas_gemm_calls(void) { return 0; }

/* The fork's image functions (OpenCV decoding, its bilinear resize and letterbox: darknet_image.cpp)
 * on the neutral image: the same four fields. */
static dx_image from_darknet(const Darknet::Image &im) { return dx_image{im.w, im.h, im.c, im.data}; }
static Darknet::Image to_darknet(dx_image im) { return Darknet::Image{im.w, im.h, im.c, im.data}; }
extern "C" dx_image dx_backend_load_image(const char *path, int w, int h) { return from_darknet(Darknet::load_image(path, w, h, 3)); }
extern "C" dx_image dx_backend_resize_image(dx_image im, int w, int h) { return from_darknet(Darknet::resize_image(to_darknet(im), w, h)); }
extern "C" dx_image dx_backend_letterbox_image(dx_image im, int w, int h) { return from_darknet(Darknet::letterbox_image(to_darknet(im), w, h)); }
