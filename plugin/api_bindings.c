/* The string API (explain.h, "for bindings"): options as the command line's words through its
 * own parser (cli.c), results behind accessors. Python's darknet_explain calls only these. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "error.h"
#include "io/image.h"
#include "memory.h"
#include "model.h"
#include "outputs.h"

/* The "who" of the parser's lines; dx_error keeps what follows its "who: ". */
#define WHO "darknet-explain"

/* A heap request and the words its text values point into. */
typedef struct {
    dx_request req; /* first: dx_request_free gets its address */
    char **words;
    int n_words;
} owned_request;

static void free_words(char **words, int n)
{
    for (int k = 0; k < n && words; ++k) free(words[k]);
    free(words);
}

/* argv[0] = head, then copies of the caller's words (so that text values outlive the call) */
static char **copy_words(const char *head, int argc, const char *const *argv, dx_error *err)
{
    char **words = dx_alloc((size_t)argc + 1, sizeof *words, "the options", err);
    int ok = words != NULL;
    for (int k = 0; ok && k <= argc; ++k) ok = (words[k] = dx_strdup(k ? argv[k - 1] : head, "the options", err)) != NULL;
    if (!ok) {
        free_words(words, argc + 1);
        return NULL;
    }
    return words;
}

/* The CLI's checks write one line "who: what is wrong" on a stream; the string API keeps it
 * (minus "who: " and the newline) in err. lines_begin opens that stream, lines_end reads it. */
typedef struct {
    char *text;
    size_t len;
    FILE *f;
} cli_lines;

static int lines_begin(cli_lines *l, dx_error *err)
{
    *l = (cli_lines){0};
    if ((l->f = open_memstream(&l->text, &l->len))) return 0; /* it allocates itself */
    dx_set_error(err, "out of memory for the command's output");
    return -1;
}

static int lines_end(cli_lines *l, int rc, dx_error *err)
{
    fclose(l->f);
    if (rc != 0) {
        const char *t = l->text ? l->text : "";
        const char *msg = !strncmp(t, WHO ": ", strlen(WHO ": ")) ? t + strlen(WHO ": ") : t;
        dx_set_error(err, "%.*s", (int)strcspn(msg, "\n"), msg);
    }
    free(l->text);
    return rc;
}

/* The CLI's parse of one call's words. */
static int parse_scope(dx_args_scope scope, char **words, int n, dx_args *out, dx_error *err)
{
    cli_lines l;
    if (lines_begin(&l, err) != 0) return -1;
    return lines_end(&l, dx_cli_parse_scope(l.f, WHO, scope, n, words, out), err);
}

dx_model *dx_open_args(const char *cfg, const char *weights, int argc, const char *const *argv, dx_error *err)
{
    char **words = copy_words("open", argc, argv, err);
    if (!words) return NULL;
    dx_args a;
    dx_model *m = NULL;
    if (parse_scope(DX_ARGS_OPEN, words, argc + 1, &a, err) == 0 && (m = dx_open(cfg, weights, &a.open, err)))
        dx_set_layer_timing(m, a.timing);
    free_words(words, argc + 1);
    return m;
}

int dx_request_parse(const char *method, int argc, const char *const *argv, dx_request **out, dx_error *err)
{
    *out = NULL;
    owned_request *o = dx_alloc(1, sizeof *o, "the request", err);
    char **words = o ? copy_words(method, argc, argv, err) : NULL;
    dx_args a;
    if (!words || parse_scope(DX_ARGS_REQUEST, words, argc + 1, &a, err) != 0) {
        free_words(words, argc + 1);
        free(o);
        return -1;
    }
    o->req = a.req;
    o->words = words;
    o->n_words = argc + 1;
    *out = &o->req;
    return 0;
}

void dx_request_free(dx_request *req)
{
    if (!req) return;
    owned_request *o = (owned_request *)((char *)req - offsetof(owned_request, req));
    free_words(o->words, o->n_words);
    free(o);
}

int dx_output_options_parse(int argc, const char *const *argv, dx_output_options **out, dx_error *err)
{
    *out = NULL;
    char **words = copy_words("write", argc, argv, err);
    dx_args a;
    int rc = words ? parse_scope(DX_ARGS_OUTPUT, words, argc + 1, &a, err) : -1;
    free_words(words, argc + 1);
    if (rc == 0 && !(*out = dx_alloc(1, sizeof **out, "the output options", err))) rc = -1;
    if (rc == 0) **out = a.output;
    return rc;
}

void dx_output_options_free(dx_output_options *opt)
{
    free(opt);
}

int dx_option_takes_value(const char *flag)
{
    return dx_cli_option_takes_value(flag);
}

int dx_method_count(void)
{
    return DX_METHOD_COUNT;
}

/* ---- photos ---- */

struct dx_photo {
    dx_image im;
    char path[1024];
};

static dx_photo *photo_new(const char *path, dx_error *err)
{
    dx_photo *p = dx_alloc(1, sizeof *p, path, err);
    if (p) snprintf(p->path, sizeof p->path, "%s", path);
    return p;
}

dx_photo *dx_photo_load(const char *path, dx_error *err)
{
    dx_photo *p = photo_new(path, err);
    if (p && dx_load_photo(path, &p->im, err) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

dx_photo *dx_photo_from_planes(const float *chw, int c, int h, int w, const char *name, dx_error *err)
{
    if (c < 1 || h < 1 || w < 1) {
        dx_set_error(err, "%s: an image of %d x %d pixels and %d channels: nothing to explain", name, w, h, c);
        return NULL;
    }
    size_t n = (size_t)c * h * w;
    for (size_t k = 0; k < n; ++k)
        if (!(chw[k] >= 0 && chw[k] <= 1)) { /* NaN too */
            size_t plane = (size_t)h * w;
            dx_set_error(err, "%s: pixel (row %zu, column %zu, channel %zu) is %g, not in [0, 1]", name,
                         k % plane / w, k % w, k / plane, chw[k]);
            return NULL;
        }
    dx_photo *p = photo_new(name, err);
    if (!p) return NULL;
    p->im = dx_make_image(w, h, c);
    memcpy(p->im.data, chw, sizeof(float) * n);
    return p;
}

void dx_photo_free(dx_photo *p)
{
    if (!p) return;
    dx_free_image(p->im);
    free(p);
}

/* ---- explanations ---- */

struct dx_explanation {
    int boxes;             /* a detector's: e holds the results; else one */
    dx_result one;
    dx_box_explanations e;
};

int dx_explain_photo(dx_model *m, const dx_photo *p, const dx_request *req, dx_explanation **out, dx_error *err)
{
    *out = NULL;
    dx_explanation *x = dx_alloc(1, sizeof *x, "the explanation", err);
    if (!x) return -1;
    x->boxes = dx_is_detector(m);
    /* as the CLI: dx_explain_file, dx_explain_boxes_file, each naming the results' image */
    int rc = x->boxes ? dx_explain_boxes(m, p->im, req, &x->e, err)
                      : dx_explain_image(m, p->im, req, &x->one, err);
    if (rc != 0) {
        free(x);
        return -1;
    }
    if (x->boxes) snprintf(x->e.image_path, sizeof x->e.image_path, "%s", p->path);
    for (int k = 0; k < dx_explanation_count(x); ++k) {
        dx_result *r = x->boxes ? &x->e.results[k] : &x->one;
        snprintf(r->image_path, sizeof r->image_path, "%s", p->path);
    }
    *out = x;
    return 0;
}

int dx_explanation_count(const dx_explanation *x)
{
    return x->boxes ? x->e.n : 1;
}

int dx_explanation_is_boxes(const dx_explanation *x)
{
    return x->boxes;
}

const dx_result *dx_explanation_result(const dx_explanation *x, int k)
{
    if (k < 0 || k >= dx_explanation_count(x)) return NULL;
    return x->boxes ? &x->e.results[k] : &x->one;
}

const char *dx_explanation_box_id(const dx_explanation *x, int k, char *buf, int len)
{
    if (!x->boxes || k < 0 || k >= x->e.n || len < 1) return NULL;
    dx_box_stem(&x->e, k, buf, (size_t)len);
    return buf;
}

float dx_explanation_best_score(const dx_explanation *x, int *cls)
{
    *cls = x->boxes ? x->e.best_class : -1;
    return x->boxes ? x->e.best_score : 0;
}

int dx_explanation_write(const dx_model *m, const dx_explanation *x, const char *prefix,
                         const dx_output_options *opt, dx_error *err)
{
    cli_lines l; /* the CLI's check of -out, so that the message is the CLI's */
    if (lines_begin(&l, err) != 0 || lines_end(&l, dx_cli_check_out_dir(l.f, WHO, prefix), err) != 0) return -1;
    return x->boxes ? dx_write_box_outputs(m, &x->e, prefix, opt, err)
                    : dx_write_outputs(m, &x->one, prefix, opt, err);
}

void dx_explanation_free(dx_explanation *x)
{
    if (!x) return;
    if (x->boxes) dx_box_explanations_free(&x->e);
    else dx_result_free(&x->one);
    free(x);
}

/* ---- members by name ---- */

typedef enum { F_INT, F_FLOAT, F_DOUBLE } field_kind;
typedef struct {
    const char *name;
    field_kind kind;
    size_t offset;
} field;

/* 0 and *value for the field called name among fields, else -1 */
static int number_of(const void *base, const field *fields, size_t n, const char *name, double *value)
{
    for (size_t k = 0; k < n; ++k) {
        if (strcmp(fields[k].name, name)) continue;
        const char *at = (const char *)base + fields[k].offset;
        /* dx_method, dx_score, dx_box_target: enums stored as int */
        *value = fields[k].kind == F_INT ? *(const int *)at : fields[k].kind == F_FLOAT ? *(const float *)at
                                                                                      : *(const double *)at;
        return 0;
    }
    return -1;
}

#define R(name, kind) {#name, kind, offsetof(dx_result, name)}
static const field result_fields[] = {
    R(method, F_INT), R(h, F_INT), R(w, F_INT), R(map_min, F_FLOAT), R(map_max, F_FLOAT),
    R(native_h, F_INT), R(native_w, F_INT), R(layer, F_INT), R(class_id, F_INT), R(score_kind, F_INT),
    R(logit, F_FLOAT), R(prob, F_FLOAT), R(ntop, F_INT), R(ms_forward, F_DOUBLE), R(ms_backward, F_DOUBLE),
    R(ms_method, F_DOUBLE), R(signed_map, F_INT), R(relu, F_INT), R(n_stats, F_INT), R(has_box, F_INT),
    R(box_target, F_INT),
};
#undef R
_Static_assert(sizeof(dx_method) == sizeof(int) && sizeof(dx_score) == sizeof(int) &&
                   sizeof(dx_box_target) == sizeof(int),
               "the enums of dx_result are read as int");

#define D(name, kind) {#name, kind, offsetof(dx_detection, name)}
static const field detection_fields[] = {
    D(x, F_FLOAT), D(y, F_FLOAT), D(w, F_FLOAT), D(h, F_FLOAT), D(cls, F_INT), D(score, F_FLOAT),
    D(objectness, F_FLOAT), D(class_prob, F_FLOAT), D(layer, F_INT), D(anchor, F_INT), D(row, F_INT),
    D(col, F_INT),
};
#undef D

int dx_result_number(const dx_result *r, const char *name, double *value)
{
    return number_of(r, result_fields, sizeof result_fields / sizeof *result_fields, name, value);
}

const float *dx_result_map(const dx_result *r)
{
    return r->map;
}

const float *dx_result_native(const dx_result *r)
{
    return r->native;
}

int dx_result_top(const dx_result *r, int k, int *cls, float *prob)
{
    if (k < 0 || k >= r->ntop) return -1;
    *cls = r->top[k].cls;
    *prob = r->top[k].prob;
    return 0;
}

const char *dx_result_stat_at(const dx_result *r, int k, double *value)
{
    if (k < 0 || k >= r->n_stats) return NULL;
    *value = r->stats[k].value;
    return r->stats[k].name;
}

const dx_detection *dx_result_box(const dx_result *r)
{
    return r->has_box ? &r->box : NULL;
}

int dx_detection_number(const dx_detection *d, const char *name, double *value)
{
    return number_of(d, detection_fields, sizeof detection_fields / sizeof *detection_fields, name, value);
}

const char *dx_layer_type(const dx_model *m, int layer)
{
    return layer >= 0 && layer < m->n ? m->net->layers[layer].type_name : NULL;
}

/* ---- detections ---- */

struct dx_detections {
    dx_detection *boxes;
    int n;
};

int dx_detect_photo(dx_model *m, const dx_photo *p, const dx_request *req, dx_detections **out, dx_error *err)
{
    *out = dx_alloc(1, sizeof **out, "the detections", err);
    if (!*out) return -1;
    if (dx_detect_image(m, p->im, req, &(*out)->boxes, &(*out)->n, err) != 0) {
        dx_detections_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int dx_detections_count(const dx_detections *d)
{
    return d->n;
}

const dx_detection *dx_detections_at(const dx_detections *d, int k)
{
    return k >= 0 && k < d->n ? &d->boxes[k] : NULL;
}

void dx_detections_free(dx_detections *d)
{
    if (!d) return;
    free(d->boxes);
    free(d);
}
