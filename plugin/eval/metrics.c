/* The metrics of eval.h, over maps in the network input frame (see eval.h): the metric table
 * (names, definitions, default options), dx_eval_metric, the localisation metrics (pointing game,
 * EBPG, the label matched to a box), statistics of a map (Gini, entropy, Spearman), max-sensitivity
 * and the randomisation check. The metrics that score perturbed inputs: faithfulness.c.
 * Definitions follow ../shared/reference/xai-survey.md §5; each one's text is in metric_info below
 * and is written into every run's output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "backends/backend.h"
#include "error.h"
#include "eval/eval.h"
#include "eval/results.h"
#include "io/image.h"
#include "memory.h"
#include "model.h"

static const struct {
    const char *name;
    int higher_is_better;
    const char *definition;
} metric_info[DX_METRIC_COUNT] = {
    [DX_METRIC_DELETION] = {"deletion", 0,
        "RISE deletion (Petsiuk et al. 2018): pixels in decreasing map order (ties by index), "
        "ceil(HW/steps) per step, replaced in all channels by the deletion substrate; p_k = f_c "
        "after k steps, k = 0..n; AUC = (sum p_k - (p_0 + p_n)/2) / n. Lower is better."},
    [DX_METRIC_INSERTION] = {"insertion", 1,
        "RISE insertion: as deletion, starting from the insertion substrate and copying the "
        "pixels of the input back in decreasing map order. Higher is better."},
    [DX_METRIC_POINTING] = {"pointing", 1,
        "Pointing game (Zhang et al. 2016, TorchRay): the first maximum of the map inside the "
        "photo area is a hit (1) when its pixel centre lies closer than the tolerance (photo "
        "pixels, strict) to a ground-truth box, else 0. Needs a label file."},
    [DX_METRIC_EBPG] = {"ebpg", 1,
        "Energy-based pointing game (Score-CAM paper): the map min-max normalised over the photo "
        "area; the fraction of its sum on pixels whose centre lies inside a ground-truth box."},
    [DX_METRIC_FAITHFULNESS] = {"faithfulness", 1,
        "Faithfulness correlation (Bhatt et al. 2020): over random subsets S of pixels, the "
        "Pearson correlation between sum_{i in S} map_i and f_c(x) - f_c(x with S black)."},
    [DX_METRIC_SENSITIVITY] = {"sensitivity", 0,
        "Max-sensitivity (Yeh et al. 2019, as Captum): max over samples of ||map(x + d) - map(x)|| "
        "/ ||map(x)|| (Frobenius), d ~ U(-r, r) on every input value, the class held fixed."},
    [DX_METRIC_SPARSENESS] = {"sparseness", 1,
        "Sparseness (Chalasani et al. 2020): Gini index of v = sort(|map|) ascending, "
        "sum_i (2i - d - 1) v_i / (d sum v), 0 for an all-zero map; 0 for a uniform map, 1 - 1/d "
        "for a one-hot map (Quantus adds 1e-7 to every v_i, which pulls a one-hot 224x224 map "
        "to 0.995)."},
    [DX_METRIC_COMPLEXITY] = {"complexity", 0,
        "Complexity (Bhatt et al. 2020): entropy -sum P_i ln P_i of P = |map| / sum |map|; "
        "ln d for a uniform map."},
    [DX_METRIC_ROAD] = {"road", 1,
        "ROAD combined (Rong et al. 2022, as pytorch-grad-cam): for q = k/(F+1), k = 1..F, the "
        "top-q (MoRF) and bottom-q (LeRF) pixels are imputed by noisy linear imputation (each "
        "the weighted mean of its 8 neighbours, 1/6 and 1/12, solved per channel, plus N(0, 0.01) "
        "noise); mean over q of (f_c(LeRF_q) - f_c(MoRF_q)) / 2."},
    [DX_METRIC_AOPC] = {"aopc", 1,
        "AOPC MoRF (Samek et al. 2017): a grid of patch x patch regions ranked by summed map; "
        "the L most relevant replaced one by one with uniform noise in [0,1]; "
        "1/(L+1) sum_{k=0..L} (f_c(x_0) - f_c(x_k))."},
    [DX_METRIC_RANDOMISATION] = {"randomisation", 0,
        "Cascading model-parameter randomisation (Adebayo et al. 2018): the weights of the "
        "convolutional and connected layers re-drawn He-normal from the top layer down (biases "
        "and batch norm kept); per step the Spearman rank correlation between the original map "
        "and the map of the randomised model (row randomisation@L: layers L and above re-drawn)."},
};

void dx_eval_options_init(dx_eval_options *o)
{
    o->score = DX_SCORE_LOGIT;
    o->steps = 224;
    o->deletion_substrate = DX_SUBSTRATE_BLUR;
    o->insertion_substrate = DX_SUBSTRATE_BLUR;
    o->tolerance = 15.f;
    o->faithfulness_runs = 100;
    o->faithfulness_subset = 224;
    o->sensitivity_samples = 10;
    o->sensitivity_radius = 0.02f;
    o->road_fractions = 4;
    o->aopc_patch = 9;
    o->aopc_steps = 100;
    o->seed = 1;
    o->batch = 16;
}

const char *dx_metric_name(dx_metric k) { return (unsigned)k < DX_METRIC_COUNT ? metric_info[k].name : "?"; }
const char *dx_metric_definition(dx_metric k)
{
    return (unsigned)k < DX_METRIC_COUNT ? metric_info[k].definition : "";
}
int dx_metric_higher_is_better(dx_metric k) { return (unsigned)k < DX_METRIC_COUNT && metric_info[k].higher_is_better; }

int dx_metric_from_name(const char *name, dx_metric *out)
{
    for (int k = 0; k < DX_METRIC_COUNT; ++k)
        if (!strcmp(name, metric_info[k].name)) {
            *out = (dx_metric)k;
            return 0;
        }
    return -1;
}

/* ---- localisation ---- */

static void inner_area(const dx_net *net, const dx_eval_sample *s, int *x0, int *y0, int *w, int *h)
{
    int whole = s->inner_w <= 0 || s->inner_h <= 0;
    *x0 = whole ? 0 : s->inner_x;
    *y0 = whole ? 0 : s->inner_y;
    *w = whole ? net->w : s->inner_w;
    *h = whole ? net->h : s->inner_h;
}

static double pointing(const dx_net *net, const dx_eval_sample *s, const float *map, float tolerance)
{
    if (s->n_boxes <= 0) return NAN;
    int x0, y0, w, h, best = -1;
    inner_area(net, s, &x0, &y0, &w, &h);
    for (int y = y0; y < y0 + h; ++y)
        for (int x = x0; x < x0 + w; ++x)
            if (best < 0 || map[y * net->w + x] > map[best]) best = y * net->w + x;
    float px = best % net->w + .5f, py = best / net->w + .5f;
    for (int b = 0; b < s->n_boxes; ++b) {
        const dx_pixel_box *g = &s->boxes[b];
        float dx = fmaxf(fmaxf(g->x0 - px, px - g->x1), 0.f), dy = fmaxf(fmaxf(g->y0 - py, py - g->y1), 0.f);
        if (sqrtf(dx * dx + dy * dy) * s->photo_scale < tolerance) return 1;
    }
    return 0;
}

static double iou(const dx_pixel_box *a, const dx_pixel_box *b)
{
    double w = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), h = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
    if (w <= 0 || h <= 0) return 0;
    double both = w * h;
    return both / ((double)(a->x1 - a->x0) * (a->y1 - a->y0) + (double)(b->x1 - b->x0) * (b->y1 - b->y0) - both);
}

int dx_eval_match_label(const dx_pixel_box *det, int cls, const dx_pixel_box *labels, const int *label_classes, int n,
                        double *best_iou)
{
    int best = -1;
    double best_value = 0;
    for (int k = 0; k < n; ++k) {
        if (label_classes[k] != cls) continue;
        double v = iou(det, &labels[k]);
        if (best < 0 || v > best_value) {
            best = k;
            best_value = v;
        }
    }
    if (best_iou) *best_iou = best_value;
    return best >= 0 && best_value >= DX_EVAL_MATCH_IOU ? best : -1;
}

static double energy_pointing(const dx_net *net, const dx_eval_sample *s, const float *map)
{
    if (s->n_boxes <= 0) return NAN;
    int x0, y0, w, h;
    inner_area(net, s, &x0, &y0, &w, &h);
    float lo = INFINITY, hi = -INFINITY;
    for (int y = y0; y < y0 + h; ++y)
        for (int x = x0; x < x0 + w; ++x) {
            lo = fminf(lo, map[y * net->w + x]);
            hi = fmaxf(hi, map[y * net->w + x]);
        }
    if (!(hi > lo)) return NAN;
    double inside = 0, total = 0;
    for (int y = y0; y < y0 + h; ++y)
        for (int x = x0; x < x0 + w; ++x) {
            double v = (map[y * net->w + x] - lo) / (hi - lo);
            total += v;
            for (int b = 0; b < s->n_boxes; ++b) {
                const dx_pixel_box *g = &s->boxes[b];
                if (x + .5f >= g->x0 && x + .5f < g->x1 && y + .5f >= g->y0 && y + .5f < g->y1) {
                    inside += v;
                    break;
                }
            }
        }
    return inside / total;
}

/* ---- statistics of a map ---- */

static int by_float_asc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The Gini index of |map| in *value; -1 with err when out of memory. */
static int gini(const float *map, int n, double *value, dx_error *err)
{
    float *v = dx_alloc(n, sizeof(float), "the Gini index", err);
    if (!v) return -1;
    for (int i = 0; i < n; ++i) v[i] = fabsf(map[i]);
    qsort(v, n, sizeof(float), by_float_asc);
    double num = 0, sum = 0;
    for (int i = 0; i < n; ++i) {
        num += (2.0 * (i + 1) - n - 1) * v[i];
        sum += v[i];
    }
    free(v);
    *value = sum > 0 ? num / (n * sum) : 0;
    return 0;
}

double dx_eval_gini(const float *map, int n)
{
    double g = NAN; /* out of memory: the public function has no dx_error */
    gini(map, n, &g, NULL);
    return g;
}

double dx_eval_entropy(const float *map, int n)
{
    double sum = 0, h = 0;
    for (int i = 0; i < n; ++i) sum += fabsf(map[i]);
    if (!(sum > 0)) return NAN;
    for (int i = 0; i < n; ++i) {
        double p = fabsf(map[i]) / sum;
        if (p > 0) h -= p * log(p);
    }
    return h;
}

double dx_eval_pearson(const double *a, const double *b, int n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; ++i) {
        ma += a[i] / n;
        mb += b[i] / n;
    }
    for (int i = 0; i < n; ++i) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

/* ranks 1..n, ties given their average rank; -1 with err when out of memory */
static int ranks(const float *v, int n, double *rank, dx_error *err)
{
    int *order = dx_eval_order_desc(v, n, err);
    if (!order) return -1;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && v[order[j + 1]] == v[order[i]]) ++j;
        for (int k = i; k <= j; ++k) rank[order[k]] = (i + j) / 2.0 + 1;
        i = j + 1;
    }
    free(order);
    return 0;
}

/* Spearman's rank correlation of a and b in *r; -1 with err when out of memory. */
static int spearman(const float *a, const float *b, int n, double *r, dx_error *err)
{
    double *ra = dx_alloc(n, sizeof(double), "the ranks", err), *rb = dx_alloc(n, sizeof(double), "the ranks", err);
    int rc = ra && rb && ranks(a, n, ra, err) == 0 && ranks(b, n, rb, err) == 0 ? 0 : -1;
    if (rc == 0) *r = dx_eval_pearson(ra, rb, n);
    free(ra);
    free(rb);
    return rc;
}

double dx_eval_spearman(const float *a, const float *b, int n)
{
    double r = NAN; /* out of memory: the public function has no dx_error */
    spearman(a, b, n, &r, NULL);
    return r;
}

/* ---- max-sensitivity ---- */

static int sensitivity(dx_model *m, const dx_eval_sample *s, const float *map, const dx_explainer *ex,
                       const dx_eval_options *o, double *value, dx_error *err)
{
    const dx_net *net = m->net;
    int spatial = net->h * net->w, rc = 0;
    float *x = dx_alloc(net->inputs, sizeof(float), "max-sensitivity", err);
    float *other = dx_alloc(spatial, sizeof(float), "max-sensitivity", err);
    if (!x || !other) rc = -1;
    double norm = 0, worst = 0;
    for (int p = 0; p < spatial; ++p) norm += (double)map[p] * map[p];
    dx_rng r;
    dx_eval_sample_rng(&r, s, DX_METRIC_SENSITIVITY);
    for (int k = 0; k < o->sensitivity_samples && rc == 0; ++k) {
        for (int i = 0; i < net->inputs; ++i)
            x[i] = s->input[i] + (float)((2 * dx_rng_uniform(&r) - 1) * o->sensitivity_radius);
        rc = ex->explain(ex->ctx, m, x, s->cls, s->box, other, err);
        double diff = 0;
        for (int p = 0; p < spatial && rc == 0; ++p) diff += ((double)other[p] - map[p]) * ((double)other[p] - map[p]);
        if (rc == 0 && sqrt(diff) > worst) worst = sqrt(diff);
    }
    if (rc == 0) *value = norm > 0 ? worst / sqrt(norm) : NAN;
    free(x);
    free(other);
    return rc;
}

int dx_eval_metric(dx_model *m, dx_metric k, const dx_eval_sample *s, const float *map,
                   const dx_explainer *explainer, const dx_eval_options *o, double *value,
                   dx_error *err)
{
    int spatial = m->net->h * m->net->w;
    *value = NAN;
    switch (k) {
    case DX_METRIC_DELETION: return dx_eval_curve_auc(m, s, map, 0, o, value, err);
    case DX_METRIC_INSERTION: return dx_eval_curve_auc(m, s, map, 1, o, value, err);
    case DX_METRIC_POINTING: *value = pointing(m->net, s, map, o->tolerance); return 0;
    case DX_METRIC_EBPG: *value = energy_pointing(m->net, s, map); return 0;
    case DX_METRIC_FAITHFULNESS: return dx_eval_faithfulness(m, s, map, o, value, err);
    case DX_METRIC_SENSITIVITY:
        if (!explainer) break;
        return sensitivity(m, s, map, explainer, o, value, err);
    case DX_METRIC_SPARSENESS: return gini(map, spatial, value, err);
    case DX_METRIC_COMPLEXITY: *value = dx_eval_entropy(map, spatial); return 0;
    case DX_METRIC_ROAD: return dx_eval_road(m, s, map, o, value, err);
    case DX_METRIC_AOPC: return dx_eval_aopc(m, s, map, o, value, err);
    default: break;
    }
    dx_set_error(err, "metric %s: %s", dx_metric_name(k),
                 k == DX_METRIC_RANDOMISATION ? "use dx_eval_randomisation" : "needs an explainer");
    return -1;
}

/* ---- model-parameter randomisation ---- */

static long layer_weights(const dx_layer *l, long *fan_in)
{
    if (l->type == DX_LAYER_CONVOLUTIONAL) {
        *fan_in = (long)l->c / l->groups * l->size * l->size;
        return *fan_in * l->n;
    }
    if (l->type == DX_LAYER_CONNECTED) {
        *fan_in = l->inputs;
        return (long)l->inputs * l->outputs;
    }
    return 0;
}

int dx_eval_random_layers(const dx_model *m, int *layers, int max)
{
    int n = 0;
    for (int i = m->n - 1; i >= 0; --i) {
        long fan_in;
        if (layer_weights(&m->net->layers[i], &fan_in) > 0) {
            if (n < max) layers[n] = i;
            ++n;
        }
    }
    return n;
}

int dx_eval_randomisation(dx_model *m, const dx_eval_sample *s, const float *map,
                          const dx_explainer *explainer, const dx_eval_options *o, double *corr,
                          int n, dx_error *err)
{
    int all = dx_eval_random_layers(m, NULL, 0), spatial = m->net->h * m->net->w;
    int layers[all > 0 ? all : 1];
    dx_eval_random_layers(m, layers, all);
    if (n > all) n = all;
    float **saved = dx_alloc(n, sizeof(float *), "the randomised weights", err);
    float *other = dx_alloc(spatial, sizeof(float), "the randomised weights", err);
    int rc = saved && other ? 0 : -1, drawn = 0;
    dx_rng r;
    dx_eval_sample_rng(&r, s, DX_METRIC_RANDOMISATION);
    for (; drawn < n && rc == 0; ++drawn) {
        dx_layer *l = &m->net->layers[layers[drawn]];
        long fan_in, count = layer_weights(l, &fan_in);
        if (!(saved[drawn] = dx_alloc(count, sizeof(float), "the randomised weights", err))) {
            rc = -1;
            break;
        }
        memcpy(saved[drawn], l->weights, sizeof(float) * count);
        for (long i = 0; i < count; ++i) l->weights[i] = (float)(dx_rng_normal(&r) * sqrt(2.0 / fan_in));
        dx_params_changed(m, layers[drawn]);
        rc = explainer->explain(explainer->ctx, m, s->input, s->cls, s->box, other, err);
        if (rc == 0) rc = spearman(map, other, spatial, &corr[drawn], err);
    }
    for (int k = 0; k < drawn; ++k) { /* restore, also after a failure */
        if (!saved[k]) continue;
        long fan_in, count = layer_weights(&m->net->layers[layers[k]], &fan_in);
        memcpy(m->net->layers[layers[k]].weights, saved[k], sizeof(float) * count);
        dx_params_changed(m, layers[k]);
        free(saved[k]);
    }
    free(saved);
    free(other);
    return rc;
}

int dx_eval_method_explain(void *request, dx_model *m, const float *input, int cls, const dx_detection *box,
                           float *map, dx_error *err)
{
    const dx_net *net = m->net;
    dx_request req = *(const dx_request *)request;
    req.class_id = cls;
    dx_image im = dx_image_over(net->w, net->h, net->c, (float *)input);
    dx_result r;
    if ((box ? dx_explain_detection(m, im, &req, box, &r, err) : dx_explain_image(m, im, &req, &r, err)) != 0)
        return -1;
    /* the photo is the network input: r.map is the native map resized to the network frame */
    memcpy(map, r.map, sizeof(float) * net->w * net->h);
    dx_result_free(&r);
    return 0;
}
