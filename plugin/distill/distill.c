/* distill: the data a surrogate tree learns from (the network's top-1 class per image and the
 * image's features), the seeded split, the fidelity figures and the four outputs. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "detect.h"
#include "distill/distill.h"
#include "error.h"
#include "eval/results.h"
#include "io/atomic.h"
#include "io/escape.h"
#include "io/image.h"
#include "io/render.h"
#include "memory.h"
#include "model.h"
#include "rng.h"
#include "targets.h"

int dx_distill_penultimate(const dx_model *m, dx_error *err)
{
    if (dx_is_detector(m)) return dx_default_layer_for(m, m->head);
    for (int i = dx_find_logit_layer(m); i >= 0; --i) {
        dx_layer_kind k = m->net->layers[i].type;
        if (k == DX_LAYER_CONVOLUTIONAL || k == DX_LAYER_CONNECTED) {
            if (i > 0) return i - 1; /* both read the layer below them */
            break;
        }
        if (k != DX_LAYER_AVGPOOL && k != DX_LAYER_SOFTMAX && k != DX_LAYER_DROPOUT && k != DX_LAYER_ACTIVATION)
            break;
    }
    dx_set_error(err, "%s: no [convolutional] or [connected] layer computes the logits (layer %d) over a layer "
                      "below it: give -features pooled:L", m->cfg_path, dx_find_logit_layer(m));
    return -1;
}

/* ---- the CSV of concept features ---- */

/* line's fields: how many; with fields, the line split at its commas in place, fields[k] the k-th */
static int split_commas(char *line, char **fields)
{
    int n = 1;
    for (char *p = line; (p = strchr(p, ',')); ++p) ++n;
    for (int k = 0; fields && k < n; ++k) {
        fields[k] = line;
        if ((line = strchr(line, ','))) *line++ = 0;
    }
    return n;
}

int dx_distill_read_csv(const char *path, const char *const *images, int n_images, float **rows, char ***names,
                        int *n_features, dx_error *err)
{
    *rows = NULL;
    *names = NULL;
    *n_features = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        dx_set_error(err, "%s: cannot read the features: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL, **fields = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = -1, d = 0, number = 0, *seen = NULL;
    while ((len = getline(&line, &cap, f)) >= 0) {
        ++number;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        int count = split_commas(line, NULL);
        if (!fields) { /* the header */
            if (count < 2) {
                dx_set_error(err, "%s:%d: the header names no feature (image,NAME1,NAME2,..)", path, number);
                goto done;
            }
            d = count - 1;
            if (!(fields = dx_alloc((size_t)count, sizeof *fields, path, err)) ||
                !(*names = dx_alloc((size_t)d, sizeof **names, path, err)) ||
                !(*rows = dx_alloc((size_t)n_images * d, sizeof **rows, path, err)) ||
                !(seen = dx_alloc((size_t)n_images, sizeof *seen, path, err)))
                goto done;
            *n_features = d;
            split_commas(line, fields);
            for (int k = 0; k < d; ++k) {
                if (!*fields[k + 1]) {
                    dx_set_error(err, "%s:%d: column %d of the header has no name", path, number, k + 2);
                    goto done;
                }
                if (!((*names)[k] = dx_strdup(fields[k + 1], path, err))) goto done;
            }
            continue;
        }
        if (count != d + 1) {
            dx_set_error(err, "%s:%d: %d columns where the header has %d (image and %d features)", path, number,
                         count, d + 1, d);
            goto done;
        }
        split_commas(line, fields);
        int i = 0;
        while (i < n_images && strcmp(images[i], fields[0])) ++i;
        if (i == n_images) continue; /* an image of another list */
        if (seen[i]) {
            dx_set_error(err, "%s:%d: a second row for %s (the first: line %d)", path, number, fields[0], seen[i]);
            goto done;
        }
        seen[i] = number;
        for (int k = 0; k < d; ++k) {
            char *end;
            float v = strtof(fields[k + 1], &end); /* an overflow is inf; an underflow a tiny number */
            if (end == fields[k + 1] || *end || !isfinite(v)) {
                dx_set_error(err, "%s:%d: column %d (%s) is '%s', not a finite number", path, number, k + 2,
                             (*names)[k], fields[k + 1]);
                goto done;
            }
            (*rows)[(size_t)i * d + k] = v;
        }
        for (int j = i + 1; j < n_images; ++j) /* the list may name an image twice */
            if (!strcmp(images[j], images[i])) {
                memcpy(*rows + (size_t)j * d, *rows + (size_t)i * d, sizeof(float) * (size_t)d);
                seen[j] = number;
            }
    }
    if (!fields) {
        dx_set_error(err, "%s: no header (image,NAME1,NAME2,..)", path);
        goto done;
    }
    for (int i = 0; i < n_images; ++i)
        if (!seen[i]) {
            dx_set_error(err, "%s: no row for the image %s", path, images[i]);
            goto done;
        }
    rc = 0;
done:
    if (rc != 0 && *names) {
        for (int k = 0; k < *n_features; ++k) free((*names)[k]);
        free(*names);
        free(*rows);
        *names = NULL;
        *rows = NULL;
        *n_features = 0;
    }
    free(seen);
    free(fields);
    free(line);
    fclose(f);
    return rc;
}

/* ---- the run ---- */

typedef struct {
    dx_eval_list list;
    int n, d, k;          /* images, features, classes */
    float *x;             /* n x d */
    int *label;           /* the network's top-1 */
    int *truth;           /* the class named in the path, or -1 */
    int *held;            /* 1: held out */
    int *tree_cls;        /* the tree's class */
    char **features;      /* d names */
    char **classes;       /* k names (copies of the model's; a detector's last: "none") */
    int detector;
    dx_tree tree;
    int n_held, majority;
    double fid_train, fid_held, base_train, base_held, tree_truth, net_truth; /* NAN: not defined */
} distill_data;

static void data_free(distill_data *s)
{
    dx_eval_list_free(&s->list);
    for (int j = 0; s->features && j < s->d; ++j) free(s->features[j]);
    free(s->features);
    free(s->x);
    free(s->label);
    free(s->truth);
    free(s->held);
    free(s->tree_cls);
    for (int c = 0; s->classes && c < s->k; ++c) free(s->classes[c]);
    free(s->classes);
    dx_tree_free(&s->tree);
}

/* The class the image's file name names, as Darknet's classifier finds labels in paths, but in
 * the file name only and only when exactly one class name occurs in it (short class names such as
 * ImageNet's "ox" occur in many words); -1 otherwise. */
static int class_in_path(const distill_data *s, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int found = -1;
    for (int c = 0; c < s->k; ++c)
        if (strstr(base, s->classes[c])) {
            if (found >= 0) return -1;
            found = c;
        }
    return found;
}

/* A classifier's top-1 class on photo (freed here; ties: the lowest class). */
static int top_class(dx_model *m, dx_image photo, int k, int *cls, const char *path, dx_error *err)
{
    int rc = dx_forward_photo(m, photo, NULL, err);
    dx_free_image(photo);
    if (rc != 0) return -1;
    const float *probs = dx_output_of(m, m->head);
    int best = 0;
    for (int c = 1; c < k; ++c)
        if (probs[c] > probs[best]) best = c;
    *cls = best;
    return 0;
}

/* A detector's decision on photo: the class of its highest-scoring box above req->thresh after
 * NMS, or `none` (class index `none`) when it finds no box. */
static int detected_class(dx_model *m, dx_image photo, int none, const dx_request *req, int *cls, dx_error *err)
{
    dx_detection *boxes;
    int n;
    if (dx_detect_image(m, photo, req, &boxes, &n, err) != 0) return -1;
    *cls = n > 0 ? boxes[0].cls : none;
    free(boxes);
    return 0;
}

/* The network's decision on every image and (layer >= 0) its pooled features at layer: the
 * output of the forward that decided. */
static int run_network(dx_model *m, distill_data *s, int layer, float thresh, dx_error *err)
{
    dx_request req;
    dx_request_init(&req);
    req.thresh = thresh;
    const dx_layer *l = layer >= 0 ? &m->net->layers[layer] : NULL;
    int plane = l ? l->outputs / l->out_c : 0;
    for (int i = 0; i < s->n; ++i) {
        const char *path = s->list.paths[i];
        dx_image photo;
        if (dx_load_model_photo(m, path, &photo, err) != 0) return -1;
        if (s->detector) {
            if (detected_class(m, photo, s->k - 1, &req, &s->label[i], err) != 0) {
                dx_free_image(photo);
                return -1;
            }
            dx_free_image(photo);
        } else if (top_class(m, photo, s->k, &s->label[i], path, err) != 0) {
            return -1;
        }
        for (int c = 0; l && c < l->out_c; ++c) {
            double sum = 0;
            for (int p = 0; p < plane; ++p) sum += l->output[(size_t)c * plane + p];
            float v = (float)(sum / plane);
            if (!isfinite(v)) {
                dx_set_error(err, "%s: layer %d's channel %d is not finite on this image", path, layer, c);
                return -1;
            }
            s->x[(size_t)i * s->d + c] = v;
        }
    }
    return 0;
}

/* The seeded split (a Fisher-Yates permutation; its first round(holdout n) images are held out,
 * at least one image left to train on), the tree, its predictions and the figures. */
static int fit(const dx_distill_args *a, distill_data *s, dx_error *err)
{
    int *order = dx_alloc((size_t)s->n, sizeof(int), "the split", err);
    if (!order) return -1;
    for (int i = 0; i < s->n; ++i) order[i] = i;
    dx_rng r;
    dx_rng_init(&r, a->seed);
    for (int i = s->n - 1; i > 0; --i) {
        int j = (int)(dx_rng_uniform(&r) * (i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    s->n_held = (int)floor(a->holdout * s->n + .5);
    if (s->n_held > s->n - 1) s->n_held = s->n - 1;
    for (int i = 0; i < s->n_held; ++i) s->held[order[i]] = 1;
    free(order);
    int n_train = s->n - s->n_held, t = 0;
    float *x = dx_alloc((size_t)n_train * s->d, sizeof(float), "the training set", err);
    int *y = x ? dx_alloc((size_t)n_train, sizeof(int), "the training set", err) : NULL;
    int *count = y ? dx_alloc((size_t)s->k, sizeof(int), "the training set", err) : NULL;
    int rc = -1;
    if (!count) goto done;
    for (int i = 0; i < s->n; ++i)
        if (!s->held[i]) {
            memcpy(x + (size_t)t * s->d, s->x + (size_t)i * s->d, sizeof(float) * (size_t)s->d);
            y[t++] = s->label[i];
            count[s->label[i]]++;
        }
    for (int c = 1; c < s->k; ++c)
        if (count[c] > count[s->majority]) s->majority = c;
    if (dx_tree_fit(x, y, n_train, s->d, s->k, &a->tree, &s->tree, err) != 0) goto done;
    int agree[2] = {0}, base[2] = {0}, size[2] = {0}, truth_n = 0, tree_ok = 0, net_ok = 0;
    for (int i = 0; i < s->n; ++i) {
        s->tree_cls[i] = dx_tree_predict(&s->tree, s->x + (size_t)i * s->d);
        int h = s->held[i];
        size[h]++;
        agree[h] += s->tree_cls[i] == s->label[i];
        base[h] += s->majority == s->label[i];
        if (h && s->truth[i] >= 0) {
            truth_n++;
            tree_ok += s->tree_cls[i] == s->truth[i];
            net_ok += s->label[i] == s->truth[i];
        }
    }
    s->fid_train = (double)agree[0] / size[0];
    s->base_train = (double)base[0] / size[0];
    s->fid_held = size[1] ? (double)agree[1] / size[1] : NAN;
    s->base_held = size[1] ? (double)base[1] / size[1] : NAN;
    /* accuracy against the truth only when every held-out image names its class */
    s->tree_truth = truth_n && truth_n == size[1] ? (double)tree_ok / truth_n : NAN;
    s->net_truth = truth_n && truth_n == size[1] ? (double)net_ok / truth_n : NAN;
    rc = 0;
done:
    free(x);
    free(y);
    free(count);
    return rc;
}

/* ---- outputs ---- */

static void json_figure(dx_json *j, const char *key, double v)
{
    dx_json_key(j, key);
    dx_json_num(j, v); /* NaN: null */
}

static int write_json(FILE *f, const dx_distill_args *a, int layer, const distill_data *s)
{
    dx_json j;
    dx_json_begin(&j, f);
    dx_json_obj_begin(&j);
    dx_json_key(&j, "command");
    dx_json_str(&j, "distill");
    dx_json_key(&j, "version");
    dx_json_str(&j, DX_VERSION);
    dx_json_key(&j, "cfg");
    dx_json_str(&j, a->cfg);
    dx_json_key(&j, "weights");
    dx_json_str(&j, a->weights);
    dx_json_key(&j, "list");
    dx_json_str(&j, a->list);
    dx_json_key(&j, "features");
    dx_json_str(&j, a->features);
    dx_json_key(&j, "layer");
    if (layer >= 0) dx_json_int(&j, layer);
    else dx_json_null(&j);
    dx_json_key(&j, "labels");
    dx_json_str(&j, "the network's top-1 class");
    dx_json_key(&j, "depth_limit");
    dx_json_int(&j, a->tree.max_depth);
    dx_json_key(&j, "min_leaf");
    dx_json_int(&j, a->tree.min_leaf);
    char holdout[32]; /* the float as given (0.3), not its binary expansion */
    snprintf(holdout, sizeof holdout, "%g", a->holdout);
    dx_json_key(&j, "holdout");
    dx_json_num(&j, atof(holdout));
    dx_json_key(&j, "seed");
    dx_json_u64(&j, a->seed);
    dx_json_key(&j, "images");
    dx_json_int(&j, s->n);
    dx_json_key(&j, "train_images");
    dx_json_int(&j, s->n - s->n_held);
    dx_json_key(&j, "holdout_images");
    dx_json_int(&j, s->n_held);
    json_figure(&j, "fidelity_train", s->fid_train);
    json_figure(&j, "fidelity_holdout", s->fid_held);
    dx_json_key(&j, "baseline_class");
    dx_json_str(&j, s->classes[s->majority]);
    json_figure(&j, "baseline_fidelity_train", s->base_train);
    json_figure(&j, "baseline_fidelity_holdout", s->base_held);
    json_figure(&j, "tree_accuracy_holdout", s->tree_truth);
    json_figure(&j, "network_accuracy_holdout", s->net_truth);
    dx_json_key(&j, "depth");
    dx_json_int(&j, s->tree.depth);
    dx_json_key(&j, "leaves");
    dx_json_int(&j, s->tree.leaves);
    dx_json_key(&j, "classes");
    dx_json_arr_begin(&j);
    for (int c = 0; c < s->k; ++c) dx_json_str(&j, s->classes[c]);
    dx_json_arr_end(&j);
    dx_json_key(&j, "feature_names");
    dx_json_arr_begin(&j);
    for (int c = 0; c < s->d; ++c) dx_json_str(&j, s->features[c]);
    dx_json_arr_end(&j);
    dx_json_key(&j, "nodes");
    dx_tree_write_json(&s->tree, &j, (const char *const *)s->features, (const char *const *)s->classes);
    dx_json_obj_end(&j);
    return dx_json_end(&j);
}

static int write_csv(FILE *f, const distill_data *s)
{
    fprintf(f, "image,split,network_class,tree_class,leaf\n");
    for (int i = 0; i < s->n; ++i) {
        dx_csv_field(f, s->list.paths[i]);
        fprintf(f, ",%s,", s->held[i] ? "holdout" : "train");
        dx_csv_field(f, s->classes[s->label[i]]);
        fputc(',', f);
        dx_csv_field(f, s->classes[s->tree_cls[i]]);
        fprintf(f, ",%d\n", dx_tree_leaf(&s->tree, s->x + (size_t)i * s->d));
    }
    return ferror(f) ? -1 : 0;
}

/* one text file of the set: written by `write` to its part, closed; 0 or -1 with err */
static int write_part(dx_atomic_set *set, const char *dir, const char *name, int (*write)(FILE *, const void *),
                      const void *ctx, dx_error *err)
{
    char final[4096];
    snprintf(final, sizeof final, "%s/%s", dir, name);
    const char *part = dx_atomic_add(set, final, err);
    if (!part) return -1;
    FILE *f = fopen(part, "wb");
    if (!f) {
        dx_set_error(err, "%s: cannot write: %s", final, strerror(errno));
        return -1;
    }
    int bad = write(f, ctx) != 0;
    if ((fclose(f) != 0) | bad) {
        dx_set_error(err, "%s: a write failed", final);
        return -1;
    }
    return 0;
}

typedef struct {
    const dx_distill_args *a;
    int layer;
    const distill_data *s;
} output_ctx;

static int put_text(FILE *f, const void *c)
{
    const output_ctx *o = c;
    return dx_tree_write_text(&o->s->tree, f, (const char *const *)o->s->features, (const char *const *)o->s->classes);
}
static int put_json(FILE *f, const void *c)
{
    const output_ctx *o = c;
    return write_json(f, o->a, o->layer, o->s);
}
static int put_csv(FILE *f, const void *c)
{
    return write_csv(f, ((const output_ctx *)c)->s);
}

static int write_outputs(const dx_distill_args *a, int layer, const distill_data *s, dx_error *err)
{
    dx_atomic_set set = {0};
    output_ctx o = {a, layer, s};
    dx_image fig = {0};
    char png[4096];
    snprintf(png, sizeof png, "%s/tree.png", a->outdir);
    const char *part;
    int rc = write_part(&set, a->outdir, "tree.txt", put_text, &o, err) ||
             write_part(&set, a->outdir, "tree.json", put_json, &o, err) ||
             write_part(&set, a->outdir, "distill.csv", put_csv, &o, err) ||
             dx_tree_draw(&s->tree, (const char *const *)s->features, (const char *const *)s->classes, &fig, err) ||
             !(part = dx_atomic_add(&set, png, err)) || dx_write_png(fig, part, err);
    dx_free_image(fig);
    return dx_atomic_commit(&set, rc ? -1 : 0, err);
}

int dx_distill_run(const dx_distill_args *a, FILE *out, dx_distill_figures *fig, dx_error *err)
{
    distill_data s = {0};
    double t0 = dx_now_ms();
    dx_open_options open_opt = {.names = a->names, .verbose = a->verbose, .max_pixels = a->max_pixels};
    int rc = -1, layer = -1, made_dir = 0;
    dx_model *m = dx_open(a->cfg, a->weights, &open_opt, err);
    if (!m) return -1;
    if ((s.detector = dx_is_detector(m)) && dx_check_detector(m, err) != 0) goto done;
    if (dx_eval_read_list(a->list, &s.list, err) != 0) goto done;
    s.n = s.list.n;
    s.k = s.detector ? m->net->layers[m->head].classes + 1 : dx_class_count(m);
    if (s.n < 2) {
        dx_set_error(err, "%s: distill needs at least 2 images (it names %d)", a->list, s.n);
        goto done;
    }
    if (a->source == DX_DISTILL_PENULTIMATE && (layer = dx_distill_penultimate(m, err)) < 0) goto done;
    if (a->source == DX_DISTILL_LAYER) {
        layer = a->layer;
        if (layer >= m->n) {
            dx_set_error(err, "-features pooled:%d: %s has layers 0..%d", layer, a->cfg, m->n - 1);
            goto done;
        }
    }
    if (a->source == DX_DISTILL_CSV) {
        if (dx_distill_read_csv(a->csv, (const char *const *)s.list.paths, s.n, &s.x, &s.features, &s.d, err) != 0)
            goto done;
    } else {
        s.d = m->net->layers[layer].out_c;
        if (!(s.x = dx_alloc((size_t)s.n * s.d, sizeof(float), "the features", err)) ||
            !(s.features = dx_alloc((size_t)s.d, sizeof(char *), "the features", err)))
            goto done;
        for (int c = 0; c < s.d; ++c) {
            char name[32];
            snprintf(name, sizeof name, "L%d.c%d", layer, c);
            if (!(s.features[c] = dx_strdup(name, "the features", err))) goto done;
        }
    }
    if (!(s.label = dx_alloc((size_t)s.n, sizeof(int), "the labels", err)) ||
        !(s.truth = dx_alloc((size_t)s.n, sizeof(int), "the labels", err)) ||
        !(s.held = dx_alloc((size_t)s.n, sizeof(int), "the split", err)) ||
        !(s.tree_cls = dx_alloc((size_t)s.n, sizeof(int), "the predictions", err)) ||
        !(s.classes = dx_alloc((size_t)s.k, sizeof(char *), "the classes", err)))
        goto done;
    for (int c = 0; c < s.k; ++c) /* copies: "class N" is one buffer reused */
        if (!(s.classes[c] = dx_strdup(s.detector && c == s.k - 1 ? "none" : dx_class_name(m, c), "the classes", err)))
            goto done;
    for (int i = 0; i < s.n; ++i) s.truth[i] = class_in_path(&s, s.list.paths[i]);
    for (int i = 0; i < s.n; ++i)
        if (dx_check_model_photo(m, s.list.paths[i], err) != 0) goto done;
    if (run_network(m, &s, a->source == DX_DISTILL_CSV ? -1 : layer, a->thresh, err) != 0) goto done;
    if (fit(a, &s, err) != 0) goto done;
    if (!(made_dir = mkdir(a->outdir, 0777) == 0) && errno != EEXIST) {
        dx_set_error(err, "%s: cannot create the output folder: %s", a->outdir, strerror(errno));
        goto done;
    }
    if (write_outputs(a, layer, &s, err) != 0) goto done;
    rc = 0;
    if (fig) {
        *fig = (dx_distill_figures){s.n, s.n_held, s.d, s.tree.depth, s.tree.leaves, s.fid_train, s.fid_held,
                                    s.base_train, s.base_held, s.tree_truth, s.net_truth, "", 0};
        if (s.tree.nodes[0].feature >= 0)
            snprintf(fig->root_feature, sizeof fig->root_feature, "%s", s.features[s.tree.nodes[0].feature]);
        fig->seconds = (dx_now_ms() - t0) / 1000;
    }
    if (out) {
        fprintf(out, "distill: %d images (%d held out), %d features (%s), tree depth %d, %d leaves\n", s.n, s.n_held,
                s.d, a->features, s.tree.depth, s.tree.leaves);
        char held[2][16] = {"-", "-"}; /* -holdout 0: none */
        if (s.n_held) {
            snprintf(held[0], sizeof held[0], "%.4f", s.fid_held);
            snprintf(held[1], sizeof held[1], "%.4f", s.base_held);
        }
        fprintf(out, "fidelity: train %.4f, held-out %s; majority baseline (%s): train %.4f, held-out %s\n",
                s.fid_train, held[0], s.classes[s.majority], s.base_train, held[1]);
        if (!isnan(s.tree_truth))
            fprintf(out, "held-out accuracy against the class in the path: tree %.4f, network %.4f\n", s.tree_truth,
                    s.net_truth);
        fprintf(out, "wrote %s/tree.txt, tree.json, tree.png, distill.csv in %.1f s\n", a->outdir,
                (dx_now_ms() - t0) / 1000);
    }
done:
    if (rc != 0 && made_dir) rmdir(a->outdir);
    data_free(&s);
    dx_close(m);
    return rc;
}
