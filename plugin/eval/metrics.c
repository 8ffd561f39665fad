/* The metrics of eval.h, over maps in the network input frame (see eval.h). Definitions follow
 * ../shared/reference/xai-survey.md §5; each one's text is in metric_info below and is written
 * into every run's output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "io/image.h"
#include "internal.h"
#include "eval/eval.h"
#include "methods/baseline.h"

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

/* ---- scoring many inputs: pushed one by one, run through dx_score_inputs in chunks ---- */

typedef struct {
    dx_model *m;
    dx_target target;
    float *buf;      /* cap inputs */
    int cap, held;
    double *out;     /* scores in push order */
    int done;
} scorer;

static int scorer_open(scorer *sc, dx_model *m, const dx_eval_sample *s, const dx_eval_options *o,
                       double *out, dx_error *err)
{
    memset(sc, 0, sizeof *sc);
    int rc = s->box ? dx_box_target_of(m, s->box, DX_BOX_SCORE, &sc->target, err)
                    : dx_class_target(m, s->cls, o->score, &sc->target, err);
    if (rc != 0) return -1;
    sc->m = m;
    sc->cap = o->batch > 0 ? o->batch : 1;
    sc->buf = malloc(sizeof(float) * m->net->inputs * sc->cap);
    sc->out = out;
    if (!sc->buf) {
        dx_set_error(err, "out of memory");
        return -1;
    }
    return 0;
}

static int scorer_flush(scorer *sc, dx_error *err)
{
    if (sc->held == 0) return 0;
    float scores[sc->held];
    /* one input per forward, as before the batch was an argument (it was the explained
     * method's -batch, 1 in eval: a batch-N copy of a large model costs N times its memory) */
    if (dx_score_inputs(sc->m, &sc->target, sc->buf, sc->held, 1, scores, err) != 0) return -1;
    for (int k = 0; k < sc->held; ++k) sc->out[sc->done++] = scores[k];
    sc->held = 0;
    return 0;
}

static int scorer_push(scorer *sc, const float *input, dx_error *err)
{
    memcpy(sc->buf + (size_t)sc->held * sc->m->net->inputs, input, sizeof(float) * sc->m->net->inputs);
    return ++sc->held == sc->cap ? scorer_flush(sc, err) : 0;
}

static int scorer_close(scorer *sc, int rc, dx_error *err)
{
    if (rc == 0) rc = scorer_flush(sc, err);
    free(sc->buf);
    return rc;
}

/* ---- pixel orders and substrates ---- */

static int by_key_desc(const void *a, const void *b, void *keys)
{
    int i = *(const int *)a, j = *(const int *)b;
    float x = ((const float *)keys)[i], y = ((const float *)keys)[j];
    if (x != y && !(isnan(x) && isnan(y))) {
        if (isnan(x)) return 1; /* NaN last */
        if (isnan(y)) return -1;
        return x < y ? 1 : -1;
    }
    return (i > j) - (i < j);
}

/* indices 0..n-1 by decreasing key, ties by index (malloc'd) */
static int *order_desc(const float *key, int n)
{
    int *order = malloc(sizeof(int) * n);
    if (!order) return NULL;
    for (int k = 0; k < n; ++k) order[k] = k;
    qsort_r(order, n, sizeof(int), by_key_desc, (void *)key);
    return order;
}

/* The substrate x~ for x (c x h x w): black = 0; mean = each channel's mean; blur = Gaussian
 * 11x11, sigma 5, separable, zero padding (the RISE code's blur). 0, or -1 with err. */
static int make_substrate(const float *x, int c, int h, int w, dx_substrate kind, float *out, dx_error *err)
{
    if (kind == DX_SUBSTRATE_BLUR) return dx_gaussian_blur(x, c, h, w, 5.f, 5, DX_EDGE_ZERO, out, err);
    return dx_baseline_image(x, c, h, w, kind == DX_SUBSTRATE_MEAN ? DX_OCCLUDE_MEAN : DX_OCCLUDE_BLACK, out, err);
}

static void copy_pixel(float *dst, const float *src, int c, size_t spatial, int p)
{
    for (int ch = 0; ch < c; ++ch) dst[ch * spatial + p] = src[ch * spatial + p];
}

static void sample_rng(dx_rng *r, const dx_eval_sample *s, dx_metric k)
{
    dx_rng_init(r, s->seed * 0x9e3779b97f4a7c15ULL + (unsigned long long)k + 1);
}

/* ---- deletion / insertion ---- */

double dx_eval_auc(const double *p, int n)
{
    double sum = 0;
    for (int k = 0; k <= n; ++k) sum += p[k];
    return (sum - (p[0] + p[n]) / 2) / n;
}

int dx_eval_curve(dx_model *m, const dx_eval_sample *s, const float *map, int insert,
                  const dx_eval_options *o, double *scores, dx_error *err)
{
    const dx_net *net = m->net;
    int spatial = net->h * net->w, c = net->c;
    int steps = o->steps < 1 ? 1 : o->steps > spatial ? spatial : o->steps;
    int per_step = (spatial + steps - 1) / steps, n = (spatial + per_step - 1) / per_step;
    float *substrate = malloc(sizeof(float) * net->inputs), *cur = malloc(sizeof(float) * net->inputs);
    int *order = order_desc(map, spatial);
    scorer sc;
    int rc = -1;
    if (!substrate || !cur || !order) {
        dx_set_error(err, "out of memory");
        goto done;
    }
    if (make_substrate(s->input, c, net->h, net->w, insert ? o->insertion_substrate : o->deletion_substrate,
                       substrate, err) != 0)
        goto done;
    const float *from = insert ? s->input : substrate; /* where replaced pixels come from */
    memcpy(cur, insert ? substrate : s->input, sizeof(float) * net->inputs);
    if (scorer_open(&sc, m, s, o, scores, err) != 0) goto done;
    rc = 0;
    for (int k = 0; k <= n && rc == 0; ++k) {
        for (int i = (k - 1) * per_step; k > 0 && i < k * per_step && i < spatial; ++i)
            copy_pixel(cur, from, c, spatial, order[i]);
        rc = scorer_push(&sc, cur, err);
    }
    rc = scorer_close(&sc, rc, err);
done:
    free(substrate);
    free(cur);
    free(order);
    return rc == 0 ? n : -1;
}

static int curve_auc(dx_model *m, const dx_eval_sample *s, const float *map, int insert,
                     const dx_eval_options *o, double *value, dx_error *err)
{
    double *scores = malloc(sizeof(double) * (m->net->h * m->net->w + 1));
    int n = scores ? dx_eval_curve(m, s, map, insert, o, scores, err) : -1;
    if (!scores) dx_set_error(err, "out of memory");
    if (n > 0) *value = dx_eval_auc(scores, n);
    free(scores);
    return n > 0 ? 0 : -1;
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
        const dx_box *g = &s->boxes[b];
        float dx = fmaxf(fmaxf(g->x0 - px, px - g->x1), 0.f), dy = fmaxf(fmaxf(g->y0 - py, py - g->y1), 0.f);
        if (sqrtf(dx * dx + dy * dy) * s->photo_scale < tolerance) return 1;
    }
    return 0;
}

static double iou(const dx_box *a, const dx_box *b)
{
    double w = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), h = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
    if (w <= 0 || h <= 0) return 0;
    double both = w * h;
    return both / ((double)(a->x1 - a->x0) * (a->y1 - a->y0) + (double)(b->x1 - b->x0) * (b->y1 - b->y0) - both);
}

int dx_eval_match_label(const dx_box *det, int cls, const dx_box *labels, const int *label_classes, int n,
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
                const dx_box *g = &s->boxes[b];
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

double dx_eval_gini(const float *map, int n)
{
    float *v = malloc(sizeof(float) * n);
    if (!v) return NAN;
    for (int i = 0; i < n; ++i) v[i] = fabsf(map[i]);
    qsort(v, n, sizeof(float), by_float_asc);
    double num = 0, sum = 0;
    for (int i = 0; i < n; ++i) {
        num += (2.0 * (i + 1) - n - 1) * v[i];
        sum += v[i];
    }
    free(v);
    return sum > 0 ? num / (n * sum) : 0;
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

static double pearson(const double *a, const double *b, int n)
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

/* ranks 1..n, ties given their average rank */
static void ranks(const float *v, int n, double *rank)
{
    int *order = order_desc(v, n);
    if (!order) {
        for (int i = 0; i < n; ++i) rank[i] = NAN;
        return;
    }
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && v[order[j + 1]] == v[order[i]]) ++j;
        for (int k = i; k <= j; ++k) rank[order[k]] = (i + j) / 2.0 + 1;
        i = j + 1;
    }
    free(order);
}

double dx_eval_spearman(const float *a, const float *b, int n)
{
    double *ra = malloc(sizeof(double) * n), *rb = malloc(sizeof(double) * n);
    double r = NAN;
    if (ra && rb) {
        ranks(a, n, ra);
        ranks(b, n, rb);
        r = pearson(ra, rb, n);
    }
    free(ra);
    free(rb);
    return r;
}

/* ---- perturbation metrics ---- */

static int faithfulness(dx_model *m, const dx_eval_sample *s, const float *map, const dx_eval_options *o,
                        double *value, dx_error *err)
{
    const dx_net *net = m->net;
    int spatial = net->h * net->w, runs = o->faithfulness_runs;
    int subset = o->faithfulness_subset < spatial ? o->faithfulness_subset : spatial;
    double *scores = malloc(sizeof(double) * (runs + 1)), *attr = malloc(sizeof(double) * runs);
    int *pixels = malloc(sizeof(int) * spatial);
    float *x = malloc(sizeof(float) * net->inputs);
    scorer sc;
    int rc = -1;
    if (!scores || !attr || !pixels || !x) {
        dx_set_error(err, "out of memory");
        goto done;
    }
    if (scorer_open(&sc, m, s, o, scores, err) != 0) goto done;
    dx_rng r;
    sample_rng(&r, s, DX_METRIC_FAITHFULNESS);
    for (int p = 0; p < spatial; ++p) pixels[p] = p;
    rc = scorer_push(&sc, s->input, err);
    for (int run = 0; run < runs && rc == 0; ++run) {
        memcpy(x, s->input, sizeof(float) * net->inputs);
        attr[run] = 0;
        for (int k = 0; k < subset; ++k) { /* a partial Fisher-Yates shuffle draws the subset */
            int j = k + (int)(dx_rng_uniform(&r) * (spatial - k)), p = pixels[j];
            pixels[j] = pixels[k];
            pixels[k] = p;
            attr[run] += map[p];
            for (int ch = 0; ch < net->c; ++ch) x[ch * spatial + p] = 0.f;
        }
        rc = scorer_push(&sc, x, err);
    }
    rc = scorer_close(&sc, rc, err);
    if (rc == 0) {
        for (int run = 0; run < runs; ++run) scores[run + 1] = scores[0] - scores[run + 1];
        *value = pearson(attr, scores + 1, runs);
    }
done:
    free(scores);
    free(attr);
    free(pixels);
    free(x);
    return rc;
}

static int sensitivity(dx_model *m, const dx_eval_sample *s, const float *map, const dx_explainer *ex,
                       const dx_eval_options *o, double *value, dx_error *err)
{
    const dx_net *net = m->net;
    int spatial = net->h * net->w, rc = 0;
    float *x = malloc(sizeof(float) * net->inputs), *other = malloc(sizeof(float) * spatial);
    if (!x || !other) {
        dx_set_error(err, "out of memory");
        rc = -1;
    }
    double norm = 0, worst = 0;
    for (int p = 0; p < spatial; ++p) norm += (double)map[p] * map[p];
    dx_rng r;
    sample_rng(&r, s, DX_METRIC_SENSITIVITY);
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

/* Noisy linear imputation of the pixels with unknown[p] != 0, in place on x (c x h x w): per
 * channel, the unknowns solve sum_n w_n (x_p - x_n) = 0 over p's in-image 8-neighbours
 * (w = 1/6 beside, 1/12 diagonal), a symmetric positive definite system solved by conjugate
 * gradients; then N(0, 0.01) noise is added to the imputed values. */
static int impute(float *x, int c, int h, int w, const unsigned char *unknown, dx_rng *r, dx_error *err)
{
    static const int ox[8] = {-1, 1, 0, 0, -1, 1, -1, 1}, oy[8] = {0, 0, -1, 1, -1, -1, 1, 1};
    static const double wt[8] = {1 / 6.0, 1 / 6.0, 1 / 6.0, 1 / 6.0, 1 / 12.0, 1 / 12.0, 1 / 12.0, 1 / 12.0};
    int spatial = h * w;
    double *v = malloc(sizeof(double) * spatial * 5);
    if (!v) {
        dx_set_error(err, "out of memory");
        return -1;
    }
    double *sol = v, *res = v + spatial, *dir = v + 2 * spatial, *adir = v + 3 * spatial, *b = v + 4 * spatial;
    for (int ch = 0; ch < c; ++ch) {
        float *xc = x + (size_t)ch * spatial;
        double rr = 0, bb = 0;
        for (int p = 0; p < spatial; ++p) { /* b = the known neighbours' weighted values */
            sol[p] = 0;
            b[p] = 0;
            if (!unknown[p]) continue;
            int px = p % w, py = p / w;
            for (int k = 0; k < 8; ++k) {
                int qx = px + ox[k], qy = py + oy[k];
                if (qx >= 0 && qx < w && qy >= 0 && qy < h && !unknown[qy * w + qx]) b[p] += wt[k] * xc[qy * w + qx];
            }
            res[p] = dir[p] = b[p];
            rr += b[p] * b[p];
        }
        bb = rr;
        for (int it = 0; it < 2000 && rr > 1e-12 * bb && rr > 0; ++it) {
            double dad = 0;
            for (int p = 0; p < spatial; ++p) { /* adir = A dir on the unknowns */
                if (!unknown[p]) continue;
                int px = p % w, py = p / w;
                double diag = 0, off = 0;
                for (int k = 0; k < 8; ++k) {
                    int qx = px + ox[k], qy = py + oy[k];
                    if (qx < 0 || qx >= w || qy < 0 || qy >= h) continue;
                    diag += wt[k];
                    if (unknown[qy * w + qx]) off += wt[k] * dir[qy * w + qx];
                }
                adir[p] = diag * dir[p] - off;
                dad += dir[p] * adir[p];
            }
            double alpha = rr / dad, rr_next = 0;
            for (int p = 0; p < spatial; ++p)
                if (unknown[p]) {
                    sol[p] += alpha * dir[p];
                    res[p] -= alpha * adir[p];
                    rr_next += res[p] * res[p];
                }
            for (int p = 0; p < spatial; ++p)
                if (unknown[p]) dir[p] = res[p] + rr_next / rr * dir[p];
            rr = rr_next;
        }
        for (int p = 0; p < spatial; ++p)
            if (unknown[p]) xc[p] = (float)(sol[p] + 0.01 * dx_rng_normal(r));
    }
    free(v);
    return 0;
}

static int road(dx_model *m, const dx_eval_sample *s, const float *map, const dx_eval_options *o,
                double *value, dx_error *err)
{
    const dx_net *net = m->net;
    int spatial = net->h * net->w, fractions = o->road_fractions;
    int *order = order_desc(map, spatial);
    unsigned char *unknown = malloc(spatial);
    float *x = malloc(sizeof(float) * net->inputs);
    double *scores = malloc(sizeof(double) * 2 * fractions);
    scorer sc;
    int rc = -1;
    if (!order || !unknown || !x || !scores) {
        dx_set_error(err, "out of memory");
        goto done;
    }
    if (scorer_open(&sc, m, s, o, scores, err) != 0) goto done;
    dx_rng r;
    sample_rng(&r, s, DX_METRIC_ROAD);
    rc = 0;
    for (int k = 1; k <= fractions && rc == 0; ++k) {
        int count = (int)((double)k / (fractions + 1) * spatial);
        for (int most = 1; most >= 0 && rc == 0; --most) { /* MoRF, then LeRF */
            memset(unknown, 0, spatial);
            for (int i = 0; i < count; ++i) unknown[order[most ? i : spatial - 1 - i]] = 1;
            memcpy(x, s->input, sizeof(float) * net->inputs);
            rc = impute(x, net->c, net->h, net->w, unknown, &r, err);
            if (rc == 0) rc = scorer_push(&sc, x, err);
        }
    }
    rc = scorer_close(&sc, rc, err);
    if (rc == 0) {
        double sum = 0;
        for (int k = 0; k < fractions; ++k) sum += (scores[2 * k + 1] - scores[2 * k]) / 2;
        *value = sum / fractions;
    }
done:
    free(order);
    free(unknown);
    free(x);
    free(scores);
    return rc;
}

static int aopc(dx_model *m, const dx_eval_sample *s, const float *map, const dx_eval_options *o,
                double *value, dx_error *err)
{
    const dx_net *net = m->net;
    int patch = o->aopc_patch > 0 ? o->aopc_patch : 1, spatial = net->h * net->w;
    int gw = (net->w + patch - 1) / patch, gh = (net->h + patch - 1) / patch, regions = gw * gh;
    int steps = o->aopc_steps < regions ? o->aopc_steps : regions;
    float *relevance = calloc(regions, sizeof(float)), *x = malloc(sizeof(float) * net->inputs);
    double *scores = malloc(sizeof(double) * (steps + 1));
    int *order = NULL;
    scorer sc;
    int rc = -1;
    if (!relevance || !x || !scores) {
        dx_set_error(err, "out of memory");
        goto done;
    }
    for (int p = 0; p < spatial; ++p) relevance[(p / net->w / patch) * gw + (p % net->w) / patch] += map[p];
    if (!(order = order_desc(relevance, regions)) || scorer_open(&sc, m, s, o, scores, err) != 0) goto done;
    dx_rng r;
    sample_rng(&r, s, DX_METRIC_AOPC);
    memcpy(x, s->input, sizeof(float) * net->inputs);
    rc = scorer_push(&sc, x, err);
    for (int k = 0; k < steps && rc == 0; ++k) {
        int gx = order[k] % gw, gy = order[k] / gw;
        for (int ch = 0; ch < net->c; ++ch)
            for (int y = gy * patch; y < (gy + 1) * patch && y < net->h; ++y)
                for (int xx = gx * patch; xx < (gx + 1) * patch && xx < net->w; ++xx)
                    x[(size_t)ch * spatial + y * net->w + xx] = (float)dx_rng_uniform(&r);
        rc = scorer_push(&sc, x, err);
    }
    rc = scorer_close(&sc, rc, err);
    if (rc == 0) {
        double sum = 0;
        for (int k = 0; k <= steps; ++k) sum += scores[0] - scores[k];
        *value = sum / (steps + 1);
    }
done:
    free(relevance);
    free(x);
    free(scores);
    free(order);
    return rc;
}

int dx_eval_metric(dx_model *m, dx_metric k, const dx_eval_sample *s, const float *map,
                   const dx_explainer *explainer, const dx_eval_options *o, double *value,
                   dx_error *err)
{
    int spatial = m->net->h * m->net->w;
    *value = NAN;
    switch (k) {
    case DX_METRIC_DELETION: return curve_auc(m, s, map, 0, o, value, err);
    case DX_METRIC_INSERTION: return curve_auc(m, s, map, 1, o, value, err);
    case DX_METRIC_POINTING: *value = pointing(m->net, s, map, o->tolerance); return 0;
    case DX_METRIC_EBPG: *value = energy_pointing(m->net, s, map); return 0;
    case DX_METRIC_FAITHFULNESS: return faithfulness(m, s, map, o, value, err);
    case DX_METRIC_SENSITIVITY:
        if (!explainer) break;
        return sensitivity(m, s, map, explainer, o, value, err);
    case DX_METRIC_SPARSENESS: *value = dx_eval_gini(map, spatial); return 0;
    case DX_METRIC_COMPLEXITY: *value = dx_eval_entropy(map, spatial); return 0;
    case DX_METRIC_ROAD: return road(m, s, map, o, value, err);
    case DX_METRIC_AOPC: return aopc(m, s, map, o, value, err);
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
    float **saved = calloc(n > 0 ? n : 1, sizeof(float *)), *other = malloc(sizeof(float) * spatial);
    int rc = saved && other ? 0 : -1, drawn = 0;
    if (rc != 0) dx_set_error(err, "out of memory");
    dx_rng r;
    sample_rng(&r, s, DX_METRIC_RANDOMISATION);
    for (; drawn < n && rc == 0; ++drawn) {
        dx_layer *l = &m->net->layers[layers[drawn]];
        long fan_in, count = layer_weights(l, &fan_in);
        if (!(saved[drawn] = malloc(sizeof(float) * count))) {
            dx_set_error(err, "out of memory");
            rc = -1;
            break;
        }
        memcpy(saved[drawn], l->weights, sizeof(float) * count);
        for (long i = 0; i < count; ++i) l->weights[i] = (float)(dx_rng_normal(&r) * sqrt(2.0 / fan_in));
        rc = explainer->explain(explainer->ctx, m, s->input, s->cls, s->box, other, err);
        if (rc == 0) corr[drawn] = dx_eval_spearman(map, other, spatial);
    }
    for (int k = 0; k < drawn; ++k) { /* restore, also after a failure */
        if (!saved[k]) continue;
        long fan_in, count = layer_weights(&m->net->layers[layers[k]], &fan_in);
        memcpy(m->net->layers[layers[k]].weights, saved[k], sizeof(float) * count);
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
    image im = dx_image_over(net->w, net->h, net->c, (float *)input);
    dx_result r;
    if ((box ? dx_explain_detection(m, im, &req, box, &r, err) : dx_explain_image(m, im, &req, &r, err)) != 0)
        return -1;
    /* the photo is the network input: r.map is the native map resized to the network frame */
    memcpy(map, r.map, sizeof(float) * net->w * net->h);
    dx_result_free(&r);
    return 0;
}
