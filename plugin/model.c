/* Opening a model: validate the files before Darknet sees them (Darknet exits or crashes on
 * many bad files), load a batch-1 copy with Debian's libdarknet, check the weights size
 * exactly, install the hooks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

const char *dx_layer_type_name(LAYER_TYPE t)
{
    switch (t) {
    case CONVOLUTIONAL: return "convolutional";
    case DECONVOLUTIONAL: return "deconvolutional";
    case CONNECTED: return "connected";
    case MAXPOOL: return "maxpool";
    case SOFTMAX: return "softmax";
    case DETECTION: return "detection";
    case DROPOUT: return "dropout";
    case CROP: return "crop";
    case ROUTE: return "route";
    case COST: return "cost";
    case NORMALIZATION: return "normalization";
    case AVGPOOL: return "avgpool";
    case LOCAL: return "local";
    case SHORTCUT: return "shortcut";
    case ACTIVE: return "activation";
    case RNN: return "rnn";
    case GRU: return "gru";
    case LSTM: return "lstm";
    case CRNN: return "crnn";
    case BATCHNORM: return "batchnorm";
    case NETWORK: return "network";
    case XNOR: return "xnor";
    case REGION: return "region";
    case YOLO: return "yolo";
    case ISEG: return "iseg";
    case REORG: return "reorg";
    case UPSAMPLE: return "upsample";
    case LOGXENT: return "logistic";
    case L2NORM: return "l2norm";
    case BLANK: return "blank";
    }
    return "unknown";
}

/* Floats load_weights reads for each layer type (parser.c's load_*_weights). */
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

long dx_weights_floats(const network *net)
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

/* The header is 3 int32 (major, minor, revision) and `seen`, whose width pjreddie's loader
 * decides from the version. Returns the header size, or -1 when the file is too short. */
static long weights_header_bytes(FILE *f)
{
    int version[3];
    if (fread(version, sizeof(int), 3, f) != 3) return -1;
    /* Darknet computes major * 10 + minor in int, which wraps in its build: the same sum here,
     * wrapped without the overflow (unsigned arithmetic, converted back as gcc and clang do) */
    int sum = (int)((unsigned)version[0] * 10u + (unsigned)version[1]);
    int wide = sum >= 2 && version[0] < 1000 && version[1] < 1000;
    return 12 + (wide ? 8 : 4);
}

static int check_weights(const char *path, const network *net, dx_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dx_set_error(err, "%s: cannot open weights: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    long header = weights_header_bytes(f);
    int stat_ok = fstat(fileno(f), &st) == 0;
    fclose(f);
    if (!stat_ok || !S_ISREG(st.st_mode)) {
        dx_set_error(err, "%s: not a regular file", path);
        return -1;
    }
    long need = dx_weights_floats(net) * (long)sizeof(float);
    if (header < 0 || st.st_size < header) {
        dx_set_error(err, "%s: truncated weights: %ld bytes, shorter than the 20-byte header", path,
                     (long)st.st_size);
        return -1;
    }
    if (st.st_size - header != need) {
        dx_set_error(err, "%s: %s weights: the file holds %ld bytes of weights, the cfg needs %ld "
                          "(%ld floats); cfg and weights do not match",
                     path, st.st_size - header < need ? "truncated" : "oversized",
                     (long)(st.st_size - header), need, need / 4);
        return -1;
    }
    return 0;
}

/* Darknet prints its layer table and loading messages to stderr; the plugin's users get them
 * only when they ask (-verbose). */
static int silence_stderr(void)
{
    fflush(stderr);
    int saved = dup(2);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
        dup2(devnull, 2);
        close(devnull);
    }
    return saved;
}

static void restore_stderr(int saved)
{
    if (saved < 0) return;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

/* Class names: a names list (one per line) or a .data file whose names=/labels= points to one
 * (relative paths are tried as given, beside the .data file, and under Debian's /usr/share/darknet). */
static int read_lines(const char *path, char ***lines_out, int *count_out)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char **lines = 0;
    int count = 0, cap = 0;
    char buf[4096];
    while (fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        if (count == cap) {
            cap = cap ? 2 * cap : 256;
            lines = realloc(lines, cap * sizeof(char *));
        }
        lines[count++] = strdup(buf);
    }
    fclose(f);
    *lines_out = lines;
    *count_out = count;
    return 0;
}

static void free_lines(char **lines, int count)
{
    for (int k = 0; k < count; ++k) free(lines[k]);
    free(lines);
}

/* Darknet's precedence: names=, else labels=. Returns 0 with the resolved path, -1 when the
 * list it names cannot be found, 1 when the file is not a .data file. */
static int names_path_from_data(const char *data_path, char **lines, int count, char *out, size_t len)
{
    static const char *const keys[] = {"names", "labels"};
    for (int key = 0; key < 2; ++key)
        for (int k = 0; k < count; ++k) {
            size_t key_len = strlen(keys[key]);
            if (strncmp(lines[k], keys[key], key_len)) continue;
            const char *v = lines[k] + key_len;
            while (*v == ' ') ++v;
            if (*v++ != '=') continue;
            while (*v == ' ') ++v;
            const char *dir_end = strrchr(data_path, '/');
            char candidates[3][6000]; /* the .data path < 1024, the line < 4096 */
            snprintf(candidates[0], sizeof candidates[0], "%s", v);
            snprintf(candidates[1], sizeof candidates[1], "%.*s/%s",
                     dir_end ? (int)(dir_end - data_path) : 1, dir_end ? data_path : ".", v);
            snprintf(candidates[2], sizeof candidates[2], "/usr/share/darknet/%s", v);
            for (int c = 0; c < 3; ++c)
                if (strlen(candidates[c]) < len && access(candidates[c], R_OK) == 0) {
                    snprintf(out, len, "%s", candidates[c]);
                    return 0;
                }
            snprintf(out, len, "%s", v);
            return -1;
        }
    return 1;
}

static int load_names(dx_model *m, const char *path, dx_error *err)
{
    char **lines;
    int count;
    if (read_lines(path, &lines, &count) != 0) {
        dx_set_error(err, "%s: cannot open names: %s", path, strerror(errno));
        return -1;
    }
    char list_path[1024];
    int from_data = names_path_from_data(path, lines, count, list_path, sizeof list_path);
    if (from_data <= 0) {
        free_lines(lines, count);
        if (from_data < 0 || read_lines(list_path, &lines, &count) != 0) {
            dx_set_error(err, "%s: its names list %s cannot be opened; pass the names list itself",
                         path, list_path);
            return -1;
        }
    }
    m->names = lines;
    m->n_names = count;
    return 0;
}

static int model_setup(dx_model *m, dx_error *err)
{
    network *net = m->net;
    m->n = net->n;
    m->head = net->n - 1;
    while (m->head > 0 && net->layers[m->head].type == COST) --m->head;
    m->input = calloc(net->inputs, sizeof(float));
    m->grad = calloc(net->n, sizeof(float *));
    m->grad_input = calloc(net->inputs, sizeof(float));
    m->touched = calloc(net->n, 1);
    size_t scratch = 0;
    for (int i = 0; i < net->n; ++i) {
        size_t need = dx_layer_scratch_floats(&net->layers[i]);
        if (need > scratch) scratch = need;
    }
    m->scratch = malloc(scratch * sizeof(float));
    m->scratch_len = scratch;
    if (!m->input || !m->grad || !m->grad_input || !m->touched || !m->scratch) {
        dx_set_error(err, "%s: out of memory", m->cfg_path);
        return -1;
    }
    return dx_hooks_install(m, err);
}

dx_model *dx_open(const char *cfg, const char *weights, const dx_open_options *opt, dx_error *err)
{
    dx_open_options defaults = {0};
    if (!opt) opt = &defaults;
    if (!cfg || !*cfg) {
        dx_set_error(err, "no cfg file given");
        return 0;
    }
    if (weights && !*weights) {
        dx_set_error(err, "%s: the weights path is empty", cfg);
        return 0;
    }
    const char *paths[3] = {cfg, weights, opt->names};
    for (int k = 0; k < 3; ++k)
        if (paths[k] && strlen(paths[k]) >= 1024) {
            dx_set_error(err, "%.60s...: path longer than 1023 characters", paths[k]);
            return 0;
        }
    char warnings[4096] = "";
    if (dx_cfg_check(cfg, warnings, sizeof warnings, err) != 0) return 0;
    dx_model *m = calloc(1, sizeof *m);
    snprintf(m->cfg_path, sizeof m->cfg_path, "%s", cfg);
    snprintf(m->warnings, sizeof m->warnings, "%s", warnings);
    if (weights) snprintf(m->weights_path, sizeof m->weights_path, "%s", weights);

    char batch1_path[64];
    int fd = dx_cfg_batch1_copy(cfg, batch1_path, sizeof batch1_path, err);
    if (fd < 0) goto fail;
    int saved = opt->verbose ? -1 : silence_stderr();
    m->net = parse_network_cfg(batch1_path);
    restore_stderr(saved);
    close(fd);
    /* In a GPU build of Darknet the forward would run on the GPU and leave l.output stale; the
     * plugin reads every layer's output on the CPU, so the network runs on the CPU path. */
    m->net->gpu_index = -1;

    if (weights) {
        if (check_weights(weights, m->net, err) != 0) goto fail;
        saved = opt->verbose ? -1 : silence_stderr();
        load_weights(m->net, m->weights_path);
        restore_stderr(saved);
    }
    if (opt->names && load_names(m, opt->names, err) != 0) goto fail;
    if (model_setup(m, err) != 0) goto fail;
    dx_blas(); /* decides DX_BLAS and sizes OpenBLAS's threads now (and links gemm.c in) */
    return m;
fail:
    dx_close(m);
    return 0;
}

/* A copy of m's network at batch N with m's parameters, passed through Darknet's own weights
 * format in an anonymous file (so any layer type Darknet saves is copied, and a model opened
 * without weights gets the same random ones), hooked like m. Its input buffer holds N inputs. */
dx_model *dx_open_batch_copy(const dx_model *m, int batch, dx_error *err)
{
    dx_model *b = calloc(1, sizeof *b);
    if (!b) {
        dx_set_error(err, "out of memory");
        return 0;
    }
    snprintf(b->cfg_path, sizeof b->cfg_path, "%s", m->cfg_path);
    snprintf(b->weights_path, sizeof b->weights_path, "%s", m->weights_path);
    char cfg_copy[64], weights_copy[64];
    int cfg_fd = dx_cfg_batch_copy(m->cfg_path, batch, cfg_copy, sizeof cfg_copy, err);
    if (cfg_fd < 0) goto fail;
    int weights_fd = memfd_create("darknet-explain-weights", MFD_CLOEXEC);
    if (weights_fd < 0) {
        close(cfg_fd);
        dx_set_error(err, "%s: cannot create the batch-%d copy's weights: %s", m->cfg_path, batch,
                     strerror(errno));
        goto fail;
    }
    snprintf(weights_copy, sizeof weights_copy, "/proc/self/fd/%d", weights_fd);
    int saved = silence_stderr();
    b->net = parse_network_cfg(cfg_copy);
    b->net->gpu_index = -1;
    save_weights(m->net, weights_copy);
    load_weights(b->net, weights_copy);
    restore_stderr(saved);
    close(cfg_fd);
    close(weights_fd);
    if (model_setup(b, err) != 0) goto fail;
    float *input = realloc(b->input, sizeof(float) * b->net->inputs * batch);
    if (!input) {
        dx_set_error(err, "%s: out of memory for a batch of %d inputs", m->cfg_path, batch);
        goto fail;
    }
    b->input = input;
    b->fast_layers = m->fast_layers;
    return b;
fail:
    dx_close(b);
    return 0;
}

void dx_close(dx_model *m)
{
    if (!m) return;
    dx_close(m->batched);
    dx_hooks_remove(m);
    if (m->net) {
        for (int i = 0; i < m->n; ++i) free(m->grad ? m->grad[i] : 0);
        free_network(m->net);
    }
    free(m->grad);
    free(m->grad_input);
    free(m->touched);
    free(m->scratch);
    free(m->input);
    free_lines(m->names, m->n_names);
    free(m);
}

network *dx_network(dx_model *m) { return m->net; }

const char *dx_warnings(const dx_model *m) { return m->warnings; }

int dx_class_count(const dx_model *m) { return m->net->layers[m->head].outputs; }

const char *dx_class_name(const dx_model *m, int cls)
{
    static __thread char fallback[32];
    if (cls >= 0 && cls < m->n_names) return m->names[cls];
    snprintf(fallback, sizeof fallback, "class %d", cls);
    return fallback;
}

/* A layer that only remixes the channels below it at each pixel: a linear 1x1 convolution
 * (a class-score map) or dropout. */
static int remixes_channels(const layer *l)
{
    return l->type == DROPOUT ||
           (l->type == CONVOLUTIONAL && l->size == 1 && l->activation == LINEAR && l->stride == 1);
}

static int is_head(LAYER_TYPE t)
{
    return t == AVGPOOL || t == CONNECTED || t == SOFTMAX || t == YOLO || t == REGION ||
           t == DETECTION || t == COST;
}

int dx_default_layer(const dx_model *m)
{
    int first_head = m->n;
    for (int i = 0; i < m->n; ++i)
        if (is_head(m->net->layers[i].type)) { first_head = i; break; }
    for (int i = first_head - 1; i >= 0; --i) {
        const layer *l = &m->net->layers[i];
        if (l->out_h * l->out_w > 1 && !remixes_channels(l)) return i;
    }
    return -1;
}

int dx_default_layer_for(const dx_model *m, int top)
{
    LAYER_TYPE t = top >= 0 && top < m->n ? m->net->layers[top].type : BLANK;
    if (t != YOLO && t != REGION) return dx_default_layer(m);
    for (int i = top - 1; i >= 0; --i) {
        const layer *l = &m->net->layers[i];
        if (is_head(l->type)) break;
        if (l->out_h * l->out_w > 1 && !remixes_channels(l)) return i;
    }
    return -1;
}
