/* Opening a model: validate the files before Darknet sees them (Darknet exits or crashes on
 * many bad files), load a batch-1 copy with the backend's Darknet, check the weights size
 * exactly, install the hooks. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cfg/check.h"
#include "error.h"
#include "io/sniff.h"
#include "layers/layers.h"
#include "memory.h"
#include "model.h"

/* An image or a cfg where the weights belong (arguments in the wrong order) is named as such,
 * not reported as weights of the wrong size. */
static int check_weights_kind(const char *path, dx_error *err)
{
    dx_file_kind kind = dx_sniff_file(path);
    if (!dx_kind_is_image(kind) && kind != DX_KIND_CFG) return 0;
    dx_set_error(err, "%s: this is %s, not Darknet weights", path, dx_kind_description(kind));
    return -1;
}

long dx_count_nonfinite(const float *v, size_t n)
{
    long bad = 0;
    for (size_t k = 0; v && k < n; ++k) bad += !isfinite(v[k]);
    return bad;
}

const char *dx_model_file(const dx_model *m) { return *m->weights_path ? m->weights_path : m->cfg_path; }

/* A weights file of the right size can still hold NaN or inf (a diverged training, a corrupt
 * copy). Not an error by itself (a layer nothing reads does no harm); the forward check in
 * explain.c stops any explanation they reach. One warning line for the whole file, naming the
 * first such layer. */
static void warn_nonfinite_weights(dx_model *m)
{
    int first = -1, layers = 0;
    long first_count = 0, total = 0;
    for (int i = 0; i < m->net->n; ++i) {
        long bad = dx_backend_nonfinite_params(m->net, i);
        if (!bad) continue;
        if (first < 0) first = i, first_count = bad;
        ++layers;
        total += bad;
    }
    if (first < 0) return;
    char line[512], more[160] = "";
    if (layers > 1)
        snprintf(more, sizeof more, " (%ld in %d layers)", total, layers);
    int n = snprintf(line, sizeof line, "%s: layer %d (%s) has %ld non-finite weights (NaN or inf)%s\n",
                     m->weights_path, first, m->net->layers[first].type_name, first_count, more);
    size_t used = strlen(m->warnings);
    if (n > 0 && used + (size_t)n < sizeof m->warnings) memcpy(m->warnings + used, line, (size_t)n + 1);
}

/* Darknet prints its layer table and loading messages to stderr; the plugin's users get them
 * only when they ask (-verbose). */
int dx_silence_stderr(void)
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

void dx_restore_stderr(int saved)
{
    if (saved < 0) return;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

/* Class names: a names list (one per line) or a .data file whose names=/labels= points to one
 * (relative paths are tried as given, beside the .data file, and under Debian's /usr/share/darknet). */
static void free_lines(char **lines, int count)
{
    for (int k = 0; k < count; ++k) free(lines[k]);
    free(lines);
}

/* The file's lines without their line ends; -1 with errno when it cannot be read, -2 with err set
 * when out of memory. */
static int read_lines(const char *path, char ***lines_out, int *count_out, dx_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char **lines = 0;
    int count = 0, cap = 0, failed = 0;
    char buf[4096];
    while (!failed && fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        if (count == cap) {
            char **bigger = dx_realloc_array(lines, cap ? 2 * cap : 256, sizeof(char *), path, err);
            if (!bigger) {
                failed = ENOMEM;
                break;
            }
            lines = bigger;
            cap = cap ? 2 * cap : 256;
        }
        if ((lines[count] = dx_strdup(buf, path, err))) ++count;
        else failed = ENOMEM;
    }
    if (!failed && ferror(f)) failed = errno ? errno : EIO;
    fclose(f);
    if (failed) {
        free_lines(lines, count);
        errno = failed;
        return failed == ENOMEM ? -2 : -1;
    }
    *lines_out = lines;
    *count_out = count;
    return 0;
}

/* The value of a .data file's `key = value` line (the first), or NULL. */
static const char *data_value(char **lines, int count, const char *key)
{
    size_t key_len = strlen(key);
    for (int k = 0; k < count; ++k) {
        if (strncmp(lines[k], key, key_len)) continue;
        const char *v = lines[k] + key_len;
        while (*v == ' ') ++v;
        if (*v++ != '=') continue;
        while (*v == ' ') ++v;
        return v;
    }
    return NULL;
}

/* Darknet's precedence: names=, else labels=. Returns 0 with the resolved path, -1 when the
 * list it names cannot be found, 1 when the file is not a .data file. */
static int names_path_from_data(const char *data_path, char **lines, int count, char *out, size_t len)
{
    static const char *const keys[] = {"names", "labels"};
    for (int key = 0; key < 2; ++key) {
        const char *v = data_value(lines, count, keys[key]);
        if (!v) continue;
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

/* Classes of the model's output: a detector head's classes=, else the head's outputs. */
static int model_classes(const dx_model *m)
{
    const dx_layer *head = &m->net->layers[m->head];
    return head->type == DX_LAYER_YOLO || head->type == DX_LAYER_REGION || head->type == DX_LAYER_DETECTION ? head->classes : head->outputs;
}

/* The names must be the model's: a list shorter than its classes, or a .data file whose classes=
 * says another number, belongs to another model (its names would label the classes wrongly). A
 * longer list is Darknet's convention for ImageNet: the 1000-class models are named by the first
 * 1000 lines of the 21842-line imagenet.shortnames.list, so longer lists are taken as Darknet
 * takes them. */
static int load_names(dx_model *m, const char *path, dx_error *err)
{
    char **lines;
    int count;
    int rc = read_lines(path, &lines, &count, err);
    if (rc != 0) {
        if (rc == -1) dx_set_error(err, "%s: cannot open names: %s", path, strerror(errno));
        return -1;
    }
    char list_path[1024];
    int from_data = names_path_from_data(path, lines, count, list_path, sizeof list_path);
    int classes = model_classes(m);
    if (from_data <= 0) {
        const char *declared = data_value(lines, count, "classes");
        int declared_classes = declared ? atoi(declared) : classes;
        free_lines(lines, count);
        if (from_data < 0 || (rc = read_lines(list_path, &lines, &count, err)) != 0) {
            if (from_data < 0 || rc == -1)
                dx_set_error(err, "%s: its names list %s cannot be opened; pass the names list itself",
                             path, list_path);
            return -1;
        }
        if (declared_classes != classes) {
            free_lines(lines, count);
            dx_set_error(err, "%s: says classes=%d, but the model has %d classes", path, declared_classes,
                         classes);
            return -1;
        }
    }
    while (count > 0 && !lines[count - 1][0]) free(lines[--count]); /* trailing blank lines */
    if (count < classes) {
        free_lines(lines, count);
        dx_set_error(err, "%s: %d names, but the model has %d classes: the names are another model's",
                     from_data <= 0 ? list_path : path, count, classes);
        return -1;
    }
    for (int k = classes; k < count; ++k) free(lines[k]); /* never a class of this model */
    m->names = lines;
    m->n_names = classes;
    return 0;
}

/* What Darknet allocates for the network at `batch` (check_budget's estimate: an output, its delta
 * and two more per output, the weights and their updates, the shared workspace) and the plugin's
 * reverse pass besides (a gradient per output), in bytes. */
static double network_bytes(const dx_cfg_size *s, int batch)
{
    return sizeof(float) * ((4.0 * batch + 1) * s->outputs + 2 * s->weights + s->workspace);
}

static int model_setup(dx_model *m, dx_error *err)
{
    dx_net *net = m->net;
    m->n = net->n;
    m->head = net->n - 1;
    while (m->head > 0 && net->layers[m->head].type == DX_LAYER_COST) --m->head;
    m->input = dx_alloc(net->inputs, sizeof(float), m->cfg_path, err);
    size_t scratch = 0;
    for (int i = 0; i < net->n; ++i) {
        size_t need = dx_layer_scratch_floats(&net->layers[i]);
        if (need > scratch) scratch = need;
    }
    m->scratch = m->input ? dx_alloc(scratch, sizeof(float), m->cfg_path, err) : NULL;
    m->scratch_len = scratch;
    if (!m->input || !m->scratch) return -1;
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
    dx_cfg_size size;
    if (dx_backend_check_cfg(cfg, warnings, sizeof warnings, &size, err) != 0) return 0;
    if (weights && check_weights_kind(weights, err) != 0) return 0;
    /* Darknet's make_*_layer functions do not check their callocs (a failure is a SIGSEGV), and
     * OpenBLAS hangs when it cannot map its buffers: both must fit before Darknet starts. */
    if (dx_blas_reserve(cfg, err) != 0 || dx_memory_check(network_bytes(&size, 1), cfg, "the network", err) != 0)
        return 0;
    dx_model *m = dx_alloc(1, sizeof *m, cfg, err);
    if (!m) return 0;
    m->size = size;
    m->max_pixels = opt->max_pixels > 0 ? opt->max_pixels : DX_DEFAULT_MAX_PIXELS;
    snprintf(m->cfg_path, sizeof m->cfg_path, "%s", cfg);
    snprintf(m->warnings, sizeof m->warnings, "%s", warnings);
    if (weights) snprintf(m->weights_path, sizeof m->weights_path, "%s", weights);

    char batch1_path[64];
    int fd = dx_cfg_batch1_copy(cfg, batch1_path, sizeof batch1_path, err);
    if (fd < 0) goto fail;
    m->net = dx_backend_parse(batch1_path, cfg, opt->verbose, err);
    close(fd);
    if (!m->net) goto fail;
    if (weights) {
        if (dx_backend_check_weights(weights, m->net, err) != 0 ||
            dx_backend_load_weights(m->net, m->weights_path, opt->verbose, err) != 0)
            goto fail;
        warn_nonfinite_weights(m);
    }
    if (model_setup(m, err) != 0) goto fail;
    if (opt->names && load_names(m, opt->names, err) != 0) goto fail;
    dx_blas(); /* decides DX_BLAS now (and links the backend's gemm in) */
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
    char what[64];
    snprintf(what, sizeof what, "a batch-%d copy of the network", batch);
    if (dx_memory_check(network_bytes(&m->size, batch), m->cfg_path, what, err) != 0) return 0;
    dx_model *b = dx_alloc(1, sizeof *b, m->cfg_path, err);
    if (!b) return 0;
    b->size = m->size;
    b->max_pixels = m->max_pixels;
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
    b->net = dx_backend_parse(cfg_copy, m->cfg_path, 0, err);
    int copied = b->net && dx_backend_save_weights(m->net, weights_copy, err) == 0 &&
                 dx_backend_load_weights(b->net, weights_copy, 0, err) == 0;
    close(cfg_fd);
    close(weights_fd);
    if (!copied) goto fail;
    if (model_setup(b, err) != 0) goto fail;
    float *input = dx_realloc_array(b->input, (size_t)b->net->inputs * batch, sizeof(float), m->cfg_path, err);
    if (!input) goto fail;
    b->input = input;
    b->fast_layers = m->fast_layers;
    dx_set_onednn(b, m->onednn);
    return b;
fail:
    dx_close(b);
    return 0;
}

int dx_batch_copy_fits(const dx_model *m, int batch)
{
    return dx_memory_check(network_bytes(&m->size, batch), m->cfg_path, "a copy of the network", NULL) == 0;
}

void dx_close_copies(dx_model *m)
{
    dx_close(m->batched);
    m->batched = 0;
    for (int w = 0; w < DX_MAX_WORKERS - 1; ++w) {
        dx_close(m->copies[w]);
        m->copies[w] = 0;
    }
}

void dx_close(dx_model *m)
{
    if (!m) return;
    dx_close_copies(m);
    dx_hooks_remove(m);
    dx_pass_free(m, &m->pass);
    if (m->net) dx_backend_free(m->net);
    free(m->scratch);
    free(m->input);
    free_lines(m->names, m->n_names);
    free(m);
}

const char *dx_warnings(const dx_model *m) { return m->warnings; }

int dx_class_count(const dx_model *m) { return m->net->layers[m->head].outputs; }

const char *dx_class_name(const dx_model *m, int cls)
{
    static __thread char fallback[32];
    if (cls >= 0 && cls < m->n_names) return m->names[cls];
    snprintf(fallback, sizeof fallback, "class %d", cls);
    return fallback;
}

int dx_class_from_name(const dx_model *m, const char *name, int *matches)
{
    int first = -1;
    *matches = 0;
    for (int k = 0; k < m->n_names; ++k)
        if (!strcmp(m->names[k], name) && (*matches)++ == 0) first = k;
    return first;
}

/* A layer that only remixes the channels below it at each pixel: a linear 1x1 convolution
 * (a class-score map) or dropout. */
static int remixes_channels(const dx_layer *l)
{
    return l->type == DX_LAYER_DROPOUT ||
           (l->type == DX_LAYER_CONVOLUTIONAL && l->size == 1 && l->activation == DX_ACT_LINEAR && l->stride == 1);
}

static int is_head(dx_layer_kind t)
{
    return t == DX_LAYER_AVGPOOL || t == DX_LAYER_CONNECTED || t == DX_LAYER_SOFTMAX || t == DX_LAYER_YOLO || t == DX_LAYER_REGION ||
           t == DX_LAYER_DETECTION || t == DX_LAYER_COST;
}

int dx_default_layer(const dx_model *m)
{
    int first_head = m->n;
    for (int i = 0; i < m->n; ++i)
        if (is_head(m->net->layers[i].type)) { first_head = i; break; }
    for (int i = first_head - 1; i >= 0; --i) {
        const dx_layer *l = &m->net->layers[i];
        if (l->out_h * l->out_w > 1 && !remixes_channels(l)) return i;
    }
    return -1;
}

int dx_default_layer_for(const dx_model *m, int top)
{
    dx_layer_kind t = top >= 0 && top < m->n ? m->net->layers[top].type : DX_LAYER_BLANK;
    if (t != DX_LAYER_YOLO && t != DX_LAYER_REGION) return dx_default_layer(m);
    for (int i = top - 1; i >= 0; --i) {
        const dx_layer *l = &m->net->layers[i];
        if (is_head(l->type)) break;
        if (l->out_h * l->out_w > 1 && !remixes_channels(l)) return i;
    }
    return -1;
}
