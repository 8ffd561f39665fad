/* TCAV: concept activation vectors and their scores (see tcav.h). */
#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "concepts/logistic.h"
#include "concepts/tcav.h"
#include "error.h"
#include "eval/results.h"
#include "io/image.h"
#include "memory.h"
#include "model.h"
#include "rng.h"
#include "targets.h"

void dx_tcav_options_init(dx_tcav_options *o)
{
    memset(o, 0, sizeof *o);
    o->runs = 10;
    o->seed = 1;
    o->lambda = 0.01;
    o->iters = 300;
    o->alpha = 0.05;
}

static int is_image_name(const char *name)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm"};
    const char *dot = strrchr(name, '.');
    for (size_t k = 0; dot && k < sizeof ext / sizeof *ext; ++k)
        if (!strcasecmp(dot, ext[k])) return 1;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The images of folder dir (DIR/name, sorted by name) into list: 0, or -1 with err naming dir
 * (missing, unreadable, no image). `what` says whose folder it is. */
static int list_folder(const char *dir, const char *what, dx_eval_list *list, dx_error *err)
{
    memset(list, 0, sizeof *list);
    DIR *d = opendir(dir);
    if (!d) {
        dx_set_error(err, "%s: cannot read the folder of %s: %s", dir, what, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !is_image_name(e->d_name)) continue;
        char **grown = dx_realloc_array(list->paths, (size_t)list->n + 1, sizeof(char *), dir, err);
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = grown ? dx_alloc(len, 1, dir, err) : NULL;
        if (grown) list->paths = grown;
        if (!path) rc = -1;
        else snprintf(path, len, "%s/%s", dir, e->d_name), list->paths[list->n++] = path;
    }
    closedir(d);
    if (rc == 0 && list->n == 0) {
        dx_set_error(err, "%s: the folder of %s holds no image (.png .jpg .jpeg .bmp .ppm .pgm)", dir, what);
        rc = -1;
    }
    if (rc != 0) dx_eval_list_free(list);
    else qsort(list->paths, (size_t)list->n, sizeof *list->paths, by_name);
    return rc;
}

/* A folder's images, or a list file's */
static int read_images(const char *spec, const char *what, dx_eval_list *list, dx_error *err)
{
    struct stat st;
    if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) return list_folder(spec, what, list, err);
    return dx_eval_read_list(spec, list, err);
}

/* The photo at path, fitted into the network input and run forward */
static int forward_photo(dx_model *m, const char *path, dx_error *err)
{
    dx_image photo;
    if (dx_load_model_photo(m, path, &photo, err) != 0) return -1;
    int rc = dx_forward_photo(m, photo, NULL, err);
    dx_free_image(photo);
    return rc;
}

/* Every layer's activations of every image of list: acts[l] (list->n x dims[l] floats) */
static int activations(dx_model *m, const dx_eval_list *list, const int *layers, const int *dims, int n_layers,
                       float **acts, dx_error *err)
{
    for (int l = 0; l < n_layers; ++l)
        if (!(acts[l] = dx_alloc((size_t)list->n * dims[l], sizeof(float), "the concepts' activations", err))) return -1;
    for (int i = 0; i < list->n; ++i) {
        if (forward_photo(m, list->paths[i], err) != 0) return -1;
        for (int l = 0; l < n_layers; ++l)
            memcpy(acts[l] + (size_t)i * dims[l], dx_output_of(m, layers[l]), sizeof(float) * dims[l]);
    }
    return 0;
}

/* rows 0..n-1 shuffled by rng (Fisher-Yates) */
static void shuffle(int *v, int n, dx_rng *r)
{
    for (int i = 0; i < n; ++i) v[i] = i;
    for (int i = n - 1; i > 0; --i) {
        int j = (int)(dx_rng_uniform(r) * (i + 1)), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* One CAV: rows pos (np of them, label 1) against rows neg (nn, label 0) of acts (d floats a
 * row), 2/3 of each for training and 1/3 held out (seeded); cav receives the unit normal
 * (towards the concept), *acc the held-out accuracy. */
static int train_cav(const float *pos_acts, const int *pos, int np, const float *neg_acts, const int *neg, int nn,
                     int d, const dx_tcav_options *o, unsigned long long seed, float *cav, double *acc, dx_error *err)
{
    int n = np + nn;
    float *x = dx_alloc((size_t)n * d, sizeof(float), "a CAV's examples", err);
    unsigned char *y = x ? dx_alloc((size_t)n, 1, "a CAV's labels", err) : NULL;
    int *order = y ? dx_alloc((size_t)(np > nn ? np : nn), sizeof(int), "a CAV's split", err) : NULL;
    if (!order) {
        free(x);
        free(y);
        return -1;
    }
    /* training rows first, then the held-out ones: [0, train) and [train, n) */
    dx_rng r;
    dx_rng_init(&r, seed);
    int hold_p = np / 3, hold_n = nn / 3, train = n - hold_p - hold_n, at_train = 0, at_test = train;
    for (int side = 0; side < 2; ++side) {
        const float *src = side ? neg_acts : pos_acts;
        const int *rows = side ? neg : pos;
        int count = side ? nn : np, hold = side ? hold_n : hold_p;
        shuffle(order, count, &r);
        for (int i = 0; i < count; ++i) {
            int at = i < count - hold ? at_train++ : at_test++;
            memcpy(x + (size_t)at * d, src + (size_t)rows[order[i]] * d, sizeof(float) * d);
            y[at] = (unsigned char)!side;
        }
    }
    float b;
    int rc = dx_logistic_fit(x, y, train, d, o->lambda, o->iters, cav, &b, err);
    if (rc == 0) {
        *acc = dx_logistic_accuracy(x + (size_t)train * d, y + train, n - train, d, cav, b);
        double norm = cblas_snrm2(d, cav, 1);
        if (norm > 0) cblas_sscal(d, (float)(1 / norm), cav, 1);
    }
    free(x);
    free(y);
    free(order);
    return rc;
}

/* The class of image path under -label path: the one class name its file name contains */
static int class_by_name(const dx_model *m, const char *path, dx_error *err)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    int found = -1, n = dx_class_count(m);
    for (int c = 0; c < n; ++c)
        if (strstr(base, dx_class_name(m, c))) {
            if (found >= 0) {
                dx_set_error(err, "%s: its name contains two class names, '%s' and '%s' (-label top1 takes the model's class)",
                             path, dx_class_name(m, found), dx_class_name(m, c));
                return -2;
            }
            found = c;
        }
    return found;
}

static int top1(const dx_model *m)
{
    const float *out = dx_output_of(m, m->head);
    int best = 0;
    for (int c = 1; c < dx_class_count(m); ++c)
        if (out[c] > out[best]) best = c;
    return best;
}

const dx_tcav_cell *dx_tcav_cell_of(const dx_tcav_result *r, int layer, int concept, int cls)
{
    return &r->cells[((size_t)layer * (r->n_concepts + 1) + concept) * r->n_classes + cls];
}

static dx_tcav_cell *cell_at(dx_tcav_result *r, int l, int k, int c) { return (dx_tcav_cell *)dx_tcav_cell_of(r, l, k, c); }

void dx_tcav_result_free(dx_tcav_result *r)
{
    int pairs = r->n_layers * r->n_concepts;
    for (int i = 0; r->cavs && i < pairs; ++i) free(r->cavs[i]);
    for (int i = 0; r->accuracy && i < pairs; ++i) free(r->accuracy[i]);
    for (int l = 0; r->random_accuracy && l < r->n_layers; ++l) free(r->random_accuracy[l]);
    for (int i = 0; r->cells && i < r->n_layers * (r->n_concepts + 1) * r->n_classes; ++i) free(r->cells[i].scores);
    free(r->cavs);
    free(r->accuracy);
    free(r->random_accuracy);
    free(r->cells);
    free(r->class_images);
    free(r->dims);
    memset(r, 0, sizeof *r);
}

/* What a run holds between its steps */
typedef struct {
    dx_eval_list concepts[DX_TCAV_MAX_CONCEPTS], pool, images;
    float *concept_acts[DX_TCAV_MAX_CONCEPTS][DX_MAX_LAYERS], *pool_acts[DX_MAX_LAYERS];
    float *random_cavs[DX_MAX_LAYERS]; /* R x dims[l]: random set r against set r + 1 */
    int *pool_order;                   /* the pool shuffled: set s is [s k, (s + 1) k) */
    int *all_rows;                     /* 0, 1, 2, ...: a concept's every row */
    long *positive;                    /* per (layer, concept or random, class, run) */
} tcav_work;

static void work_free(tcav_work *w, int n_concepts)
{
    for (int k = 0; k < n_concepts; ++k) dx_eval_list_free(&w->concepts[k]);
    dx_eval_list_free(&w->pool);
    dx_eval_list_free(&w->images);
    for (int l = 0; l < DX_MAX_LAYERS; ++l) {
        for (int k = 0; k < n_concepts; ++k) free(w->concept_acts[k][l]);
        free(w->pool_acts[l]);
        free(w->random_cavs[l]);
    }
    free(w->pool_order);
    free(w->all_rows);
    free(w->positive);
}

static int valid_name(const char *s)
{
    if (!*s) return 0;
    for (; *s; ++s)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int check_options(const dx_model *m, const dx_tcav_options *o, dx_error *err)
{
    if (dx_is_detector(m)) return dx_set_error(err, "tcav scores a classifier's classes; this model is a detector"), -1;
    if (o->n_layers < 1) return dx_set_error(err, "tcav needs -layer L[,L2..]"), -1;
    for (int l = 0; l < o->n_layers; ++l)
        if (o->layers[l] < 0 || o->layers[l] >= m->n)
            return dx_set_error(err, "layer %d does not exist: the model has layers 0..%d", o->layers[l], m->n - 1), -1;
    if (o->n_concepts < 1 || o->n_concepts > DX_TCAV_MAX_CONCEPTS)
        return dx_set_error(err, "tcav needs 1 to %d concepts (-concept NAME=DIR)", DX_TCAV_MAX_CONCEPTS), -1;
    for (int k = 0; k < o->n_concepts; ++k) {
        if (!valid_name(o->concepts[k].name))
            return dx_set_error(err, "concept name '%s': letters, digits, _ and - only (it names files)", o->concepts[k].name), -1;
        for (int j = 0; j < k; ++j)
            if (!strcmp(o->concepts[j].name, o->concepts[k].name))
                return dx_set_error(err, "concept '%s' is given twice", o->concepts[k].name), -1;
    }
    if (!o->random_dir || !o->images) return dx_set_error(err, "tcav needs -random DIR and -images LIST|DIR"), -1;
    if (o->runs < 2 || o->runs > DX_TCAV_MAX_RUNS)
        return dx_set_error(err, "-runs takes 2 to %d (the t-test needs two runs)", DX_TCAV_MAX_RUNS), -1;
    if (o->iters < 1 || !(o->lambda >= 0) || !(o->alpha > 0 && o->alpha < 1))
        return dx_set_error(err, "tcav: -iters >= 1, -lambda >= 0, 0 < -alpha < 1"), -1;
    if (o->n_classes == 0 && dx_class_count(m) > DX_TCAV_MAX_CLASSES)
        return dx_set_error(err, "the model has %d classes: choose at most %d with -classes", dx_class_count(m),
                            DX_TCAV_MAX_CLASSES), -1;
    for (int c = 0; c < o->n_classes; ++c)
        if (o->classes[c] < 0 || o->classes[c] >= dx_class_count(m))
            return dx_set_error(err, "class %d does not exist: the model has classes 0..%d", o->classes[c],
                                dx_class_count(m) - 1), -1;
    return 0;
}

/* Reads every folder and list and checks every image before the first forward */
static int gather(const dx_model *m, const dx_tcav_options *o, tcav_work *w, dx_error *err)
{
    for (int k = 0; k < o->n_concepts; ++k) {
        char what[128];
        snprintf(what, sizeof what, "concept '%s'", o->concepts[k].name);
        if (list_folder(o->concepts[k].dir, what, &w->concepts[k], err) != 0) return -1;
        if (w->concepts[k].n < 3)
            return dx_set_error(err, "%s: concept '%s' needs at least 3 images (one held out), not %d",
                                o->concepts[k].dir, o->concepts[k].name, w->concepts[k].n), -1;
    }
    if (list_folder(o->random_dir, "the random concepts", &w->pool, err) != 0 ||
        read_images(o->images, "the images to score", &w->images, err) != 0)
        return -1;
    const dx_eval_list *all[DX_TCAV_MAX_CONCEPTS + 2] = {&w->pool, &w->images};
    for (int k = 0; k < o->n_concepts; ++k) all[k + 2] = &w->concepts[k];
    for (int s = 0; s < o->n_concepts + 2; ++s)
        for (int i = 0; i < all[s]->n; ++i)
            if (dx_check_model_photo(m, all[s]->paths[i], err) != 0) return -1;
    return 0;
}

static unsigned long long derived_seed(unsigned long long seed, int l, int k, int r)
{
    return seed * 0x9E3779B97F4A7C15ULL + ((unsigned long long)(l * (DX_TCAV_MAX_CONCEPTS + 1) + k) << 8) + (unsigned)r;
}

/* The CAVs: per layer, R random-vs-random and R per concept */
static int train_all(dx_tcav_result *res, const dx_tcav_options *o, tcav_work *w, dx_error *err)
{
    int R = o->runs, k_set = res->random_set_size;
    for (int l = 0; l < res->n_layers; ++l) {
        int d = res->dims[l];
        if (!(w->random_cavs[l] = dx_alloc((size_t)R * d, sizeof(float), "the random CAVs", err)) ||
            !(res->random_accuracy[l] = dx_alloc((size_t)R, sizeof(double), "the CAVs' accuracies", err)))
            return -1;
        for (int r = 0; r < R; ++r) {
            const int *neg = w->pool_order + (size_t)(r + 1) * k_set;
            if (train_cav(w->pool_acts[l], neg - k_set, k_set, w->pool_acts[l], neg, k_set, d, o,
                          derived_seed(o->seed, l, res->n_concepts, r), w->random_cavs[l] + (size_t)r * d,
                          &res->random_accuracy[l][r], err) != 0)
                return -1;
            for (int k = 0; k < res->n_concepts; ++k) {
                int at = l * res->n_concepts + k;
                if (r == 0 && (!(res->cavs[at] = dx_alloc((size_t)R * d, sizeof(float), "the CAVs", err)) ||
                               !(res->accuracy[at] = dx_alloc((size_t)R, sizeof(double), "the CAVs' accuracies", err))))
                    return -1;
                if (train_cav(w->concept_acts[k][l], w->all_rows, w->concepts[k].n, w->pool_acts[l], neg, k_set, d, o,
                              derived_seed(o->seed, l, k, r), res->cavs[at] + (size_t)r * d, &res->accuracy[at][r],
                              err) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

int dx_tcav_logit_gradient(dx_model *m, int cls, int stop, dx_error *err)
{
    dx_target t;
    if (dx_class_target(m, cls, DX_SCORE_LOGIT, &t, err) != 0) return -1;
    return dx_target_backward(m, &t, stop, NULL, err);
}

/* Each image's class logit's gradient at each layer, against every CAV: the positive counts */
static int score_images(dx_model *m, dx_tcav_result *res, const dx_tcav_options *o, tcav_work *w, dx_error *err)
{
    int R = res->runs, K = res->n_concepts, C = res->n_classes, stop = m->n;
    for (int l = 0; l < res->n_layers; ++l)
        if (o->layers[l] < stop) stop = o->layers[l];
    for (int i = 0; i < w->images.n; ++i) {
        const char *path = w->images.paths[i];
        if (forward_photo(m, path, err) != 0) return -1;
        int cls = o->label == DX_TCAV_LABEL_TOP1 ? top1(m) : class_by_name(m, path, err);
        if (cls == -2) return -1;
        int c = 0;
        while (c < C && res->opt.classes[c] != cls) ++c;
        if (c == C) {
            res->n_skipped++;
            continue;
        }
        res->class_images[c]++;
        if (dx_tcav_logit_gradient(m, cls, stop, err) != 0) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            dx_set_error(err, "%s: %s", path, msg);
            return -1;
        }
        for (int l = 0; l < res->n_layers; ++l) {
            const float *g = dx_grad_of(m, o->layers[l]);
            int d = res->dims[l];
            for (int k = 0; k <= K; ++k)
                for (int r = 0; r < R; ++r) {
                    const float *cav = (k < K ? res->cavs[l * K + k] : w->random_cavs[l]) + (size_t)r * d;
                    /* the directional derivative of the logit along the CAV, S = grad h . v */
                    if (cblas_sdot(d, g, 1, cav, 1) > 0) w->positive[(((size_t)l * (K + 1) + k) * C + c) * R + r]++;
                }
        }
    }
    for (int c = 0; c < C; ++c)
        if (res->class_images[c] == 0)
            return dx_set_error(err, "%s: no image of class '%s' to score (-label %s)", o->images,
                                dx_class_name(m, res->opt.classes[c]), o->label == DX_TCAV_LABEL_TOP1 ? "top1" : "path"),
                   -1;
    return 0;
}

/* The cells' scores and the t-tests */
static void statistics(dx_tcav_result *res, const tcav_work *w)
{
    int R = res->runs, K = res->n_concepts, C = res->n_classes;
    for (int l = 0; l < res->n_layers; ++l)
        for (int k = 0; k <= K; ++k)
            for (int c = 0; c < C; ++c) {
                dx_tcav_cell *cell = cell_at(res, l, k, c);
                double s = 0, ss = 0;
                for (int r = 0; r < R; ++r) {
                    cell->scores[r] = (double)w->positive[(((size_t)l * (K + 1) + k) * C + c) * R + r] / res->class_images[c];
                    s += cell->scores[r];
                }
                cell->mean = s / R;
                for (int r = 0; r < R; ++r) ss += (cell->scores[r] - cell->mean) * (cell->scores[r] - cell->mean);
                cell->std = sqrt(ss / R);
                cell->t = cell->p = NAN;
            }
    for (int l = 0; l < res->n_layers; ++l)
        for (int k = 0; k < K; ++k)
            for (int c = 0; c < C; ++c) {
                dx_tcav_cell *cell = cell_at(res, l, k, c);
                dx_ttest_student(cell->scores, R, cell_at(res, l, K, c)->scores, R, &cell->t, &cell->p);
                cell->significant = cell->p < res->alpha_used;
            }
}

static int allocate(const dx_model *m, dx_tcav_result *res, tcav_work *w, dx_error *err)
{
    int L = res->n_layers, K = res->n_concepts, C = res->n_classes, R = res->runs;
    size_t cells = (size_t)L * (K + 1) * C;
    const char *what = "the TCAV results";
    if (!(res->dims = dx_alloc((size_t)L, sizeof(int), what, err)) ||
        !(res->class_images = dx_alloc((size_t)C, sizeof(int), what, err)) ||
        !(res->cavs = dx_alloc((size_t)L * K, sizeof(float *), what, err)) ||
        !(res->accuracy = dx_alloc((size_t)L * K, sizeof(double *), what, err)) ||
        !(res->random_accuracy = dx_alloc((size_t)L, sizeof(double *), what, err)) ||
        !(res->cells = dx_alloc(cells, sizeof(dx_tcav_cell), what, err)) ||
        !(w->positive = dx_alloc(cells * R, sizeof(long), what, err)))
        return -1;
    for (size_t i = 0; i < cells; ++i)
        if (!(res->cells[i].scores = dx_alloc((size_t)R, sizeof(double), what, err))) return -1;
    for (int l = 0; l < L; ++l) res->dims[l] = m->net->layers[res->opt.layers[l]].outputs;
    return 0;
}

static int run(dx_model *m, const dx_tcav_options *o, dx_tcav_result *res, tcav_work *w, dx_error *err)
{
    if (check_options(m, o, err) != 0 || gather(m, o, w, err) != 0) return -1;
    res->opt = *o;
    if (o->n_classes == 0) {
        res->opt.n_classes = dx_class_count(m);
        for (int c = 0; c < res->opt.n_classes; ++c) res->opt.classes[c] = c;
    }
    res->n_layers = o->n_layers;
    res->n_concepts = o->n_concepts;
    res->n_classes = res->opt.n_classes;
    res->runs = o->runs;
    res->n_images = w->images.n;
    res->alpha_used = o->bonferroni ? o->alpha / o->n_concepts : o->alpha;
    int largest = 0;
    for (int k = 0; k < o->n_concepts; ++k)
        if (w->concepts[k].n > largest) largest = w->concepts[k].n;
    int k_set = w->pool.n / (o->runs + 1);
    res->random_set_size = k_set < largest ? k_set : largest;
    if (res->random_set_size < 3)
        return dx_set_error(err, "%s: %d images make %d random sets (-runs %d, and one) of fewer than 3 images",
                            o->random_dir, w->pool.n, o->runs + 1, o->runs), -1;
    if (allocate(m, res, w, err) != 0) return -1;
    if (!(w->pool_order = dx_alloc((size_t)w->pool.n, sizeof(int), "the random sets", err)) ||
        !(w->all_rows = dx_alloc((size_t)largest, sizeof(int), "the concepts' rows", err)))
        return -1;
    dx_rng r;
    dx_rng_init(&r, o->seed);
    shuffle(w->pool_order, w->pool.n, &r);
    for (int i = 0; i < largest; ++i) w->all_rows[i] = i;
    if (activations(m, &w->pool, o->layers, res->dims, o->n_layers, w->pool_acts, err) != 0) return -1;
    for (int k = 0; k < o->n_concepts; ++k)
        if (activations(m, &w->concepts[k], o->layers, res->dims, o->n_layers, w->concept_acts[k], err) != 0) return -1;
    if (train_all(res, o, w, err) != 0 || score_images(m, res, o, w, err) != 0) return -1;
    statistics(res, w);
    return 0;
}

int dx_tcav_run(dx_model *m, const dx_tcav_options *o, dx_tcav_result *res, dx_error *err)
{
    double t0 = dx_now_ms();
    memset(res, 0, sizeof *res);
    tcav_work w;
    memset(&w, 0, sizeof w);
    int rc = run(m, o, res, &w, err);
    work_free(&w, o->n_concepts <= DX_TCAV_MAX_CONCEPTS ? o->n_concepts : 0);
    if (rc != 0) dx_tcav_result_free(res);
    else res->ms = dx_now_ms() - t0;
    return rc;
}
