/* The faithfulness metrics of eval.h: each scores the target on perturbed copies of the network
 * input (batched through one scorer) and compares the scores with the map: the deletion and
 * insertion curves (RISE), faithfulness correlation, ROAD and AOPC. dx_eval_metric dispatches
 * to them; the other metrics (localisation, statistics of a map, max-sensitivity, randomisation)
 * are metrics.c's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "backends/backend.h"
#include "error.h"
#include "eval/eval.h"
#include "eval/results.h"
#include "memory.h"
#include "methods/baseline.h"
#include "model.h"
#include "scoring.h"

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
    sc->buf = dx_alloc((size_t)m->net->inputs * sc->cap, sizeof(float), "a batch of perturbed inputs", err);
    sc->out = out;
    if (!sc->buf) return -1;
    return 0;
}

static int scorer_flush(scorer *sc, dx_error *err)
{
    if (sc->held == 0) return 0;
    float scores[sc->held];
    /* one input per forward, as before the batch was an argument (it was the explained
     * method's -batch, 1 in eval: a batch-N copy of a large model costs N times its memory);
     * the held inputs are spread over the workers' threads (scoring.c) */
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

int *dx_eval_order_desc(const float *key, int n, dx_error *err)
{
    int *order = dx_alloc(n, sizeof(int), "the pixels' order", err);
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

void dx_eval_sample_rng(dx_rng *r, const dx_eval_sample *s, dx_metric k)
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
    float *substrate = dx_alloc(net->inputs, sizeof(float), "the deletion curve", err);
    float *cur = dx_alloc(net->inputs, sizeof(float), "the deletion curve", err);
    int *order = dx_eval_order_desc(map, spatial, err);
    scorer sc;
    int rc = -1;
    if (!substrate || !cur || !order) goto done;
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

int dx_eval_curve_auc(dx_model *m, const dx_eval_sample *s, const float *map, int insert,
                      const dx_eval_options *o, double *value, dx_error *err)
{
    double *scores = dx_alloc((size_t)m->net->h * m->net->w + 1, sizeof(double), "the deletion curve", err);
    int n = scores ? dx_eval_curve(m, s, map, insert, o, scores, err) : -1;
    if (n > 0) *value = dx_eval_auc(scores, n);
    free(scores);
    return n > 0 ? 0 : -1;
}

/* ---- perturbation metrics ---- */

int dx_eval_faithfulness(dx_model *m, const dx_eval_sample *s, const float *map, const dx_eval_options *o,
                         double *value, dx_error *err)
{
    const dx_net *net = m->net;
    int spatial = net->h * net->w, runs = o->faithfulness_runs;
    int subset = o->faithfulness_subset < spatial ? o->faithfulness_subset : spatial;
    const char *what = "faithfulness";
    double *scores = dx_alloc((size_t)runs + 1, sizeof(double), what, err), *attr = dx_alloc(runs, sizeof(double), what, err);
    int *pixels = dx_alloc(spatial, sizeof(int), what, err);
    float *x = dx_alloc(net->inputs, sizeof(float), what, err);
    scorer sc;
    int rc = -1;
    if (!scores || !attr || !pixels || !x) goto done;
    if (scorer_open(&sc, m, s, o, scores, err) != 0) goto done;
    dx_rng r;
    dx_eval_sample_rng(&r, s, DX_METRIC_FAITHFULNESS);
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
        *value = dx_eval_pearson(attr, scores + 1, runs);
    }
done:
    free(scores);
    free(attr);
    free(pixels);
    free(x);
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
    double *v = dx_alloc((size_t)spatial * 5, sizeof(double), "ROAD's imputation", err);
    if (!v) return -1;
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

int dx_eval_road(dx_model *m, const dx_eval_sample *s, const float *map, const dx_eval_options *o,
                 double *value, dx_error *err)
{
    const dx_net *net = m->net;
    int spatial = net->h * net->w, fractions = o->road_fractions;
    int *order = dx_eval_order_desc(map, spatial, err);
    unsigned char *unknown = dx_alloc(spatial, 1, "ROAD", err);
    float *x = dx_alloc(net->inputs, sizeof(float), "ROAD", err);
    double *scores = dx_alloc(2 * (size_t)fractions, sizeof(double), "ROAD", err);
    scorer sc;
    int rc = -1;
    if (!order || !unknown || !x || !scores) goto done;
    if (scorer_open(&sc, m, s, o, scores, err) != 0) goto done;
    dx_rng r;
    dx_eval_sample_rng(&r, s, DX_METRIC_ROAD);
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

int dx_eval_aopc(dx_model *m, const dx_eval_sample *s, const float *map, const dx_eval_options *o,
                 double *value, dx_error *err)
{
    const dx_net *net = m->net;
    int patch = o->aopc_patch > 0 ? o->aopc_patch : 1, spatial = net->h * net->w;
    int gw = (net->w + patch - 1) / patch, gh = (net->h + patch - 1) / patch, regions = gw * gh;
    int steps = o->aopc_steps < regions ? o->aopc_steps : regions;
    float *relevance = dx_alloc(regions, sizeof(float), "AOPC", err), *x = dx_alloc(net->inputs, sizeof(float), "AOPC", err);
    double *scores = dx_alloc((size_t)steps + 1, sizeof(double), "AOPC", err);
    int *order = NULL;
    scorer sc;
    int rc = -1;
    if (!relevance || !x || !scores) goto done;
    for (int p = 0; p < spatial; ++p) relevance[(p / net->w / patch) * gw + (p % net->w) / patch] += map[p];
    if (!(order = dx_eval_order_desc(relevance, regions, err)) || scorer_open(&sc, m, s, o, scores, err) != 0) goto done;
    dx_rng r;
    dx_eval_sample_rng(&r, s, DX_METRIC_AOPC);
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
