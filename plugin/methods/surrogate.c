/* Surrogate methods on superpixels: LIME and KernelSHAP. Both cut the network input into SLIC
 * superpixels, score coalitions (rows z of 0/1, one per superpixel: 1 keeps it, 0 fills it with
 * the baseline), fit a weighted linear model of the score on z, and give each pixel its
 * superpixel's coefficient. They differ in the sampling, the weights and the fit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "memory.h"
#include "methods/baseline.h"
#include "model.h"
#include "perturb.h"
#include "rng.h"

typedef struct {
    float *x, *base; /* the network input and its baseline: c x h x w */
    int c;
    size_t plane;
    int *labels;     /* h x w superpixel of each pixel */
    int segments;
    unsigned char *z; /* coalitions: rows x segments */
    int targets;      /* scored on every row */
    float *scores;    /* rows x targets */
    double *weights;  /* one per row */
    int rows;
} coalitions;

static void coalition_fill(void *ctx, int k, float *input)
{
    const coalitions *s = ctx;
    const unsigned char *z = s->z + (size_t)k * s->segments;
    for (int c = 0; c < s->c; ++c)
        for (size_t p = 0; p < s->plane; ++p) {
            size_t i = c * s->plane + p;
            input[i] = z[s->labels[p]] ? s->x[i] : s->base[i];
        }
}

static void coalitions_free(coalitions *s)
{
    free(s->x);
    free(s->base);
    free(s->labels);
    free(s->z);
    free(s->scores);
    free(s->weights);
}

/* The input, its baseline and its superpixels; room for `rows` coalitions of `targets` scores. */
static int coalitions_init(const dx_model *m, const dx_request *req, int rows, int targets, coalitions *s,
                           dx_error *err)
{
    const dx_net *net = m->net;
    memset(s, 0, sizeof *s);
    s->c = net->c;
    s->plane = (size_t)net->h * net->w;
    s->x = dx_alloc(s->plane * s->c, sizeof(float), "the perturbed samples", err);
    s->base = dx_alloc(s->plane * s->c, sizeof(float), "the perturbed samples", err);
    s->labels = dx_alloc(s->plane, sizeof(int), "the perturbed samples", err);
    if (!s->x || !s->base || !s->labels) goto oom;
    memcpy(s->x, m->input, sizeof(float) * s->plane * s->c);
    if (dx_baseline_image(s->x, s->c, net->h, net->w, req->occlude, s->base, err) != 0) return -1;
    s->segments = dx_slic(s->x, s->c, net->h, net->w, req->segments, DX_SLIC_COMPACTNESS, s->labels, err);
    if (s->segments < 1) return -1; /* dx_slic said why */
    s->rows = rows;
    s->targets = targets;
    s->z = dx_alloc((size_t)rows * s->segments, 1, "the perturbed samples", err);
    s->scores = dx_alloc((size_t)rows * targets, sizeof(float), "the perturbed samples", err);
    s->weights = dx_alloc(rows, sizeof(double), "the perturbed samples", err);
    if (!s->z || !s->scores || !s->weights) goto oom;
    return 0;
oom: /* err says so */
    return -1;
}

/* Each pixel gets its superpixel's coefficient (r->native from dx_perturbation_maps). */
static void coefficient_map(const coalitions *s, const double *coef, dx_result *r)
{
    for (size_t p = 0; p < s->plane; ++p) r->native[p] = (float)coef[s->labels[p]];
}

/* Target j's score on row i. */
static double score_of(const coalitions *s, int i, int j) { return s->scores[(size_t)i * s->targets + j]; }

/* Solves A x = b (A n x n symmetric positive definite, overwritten by its Cholesky factor L,
 * b by x). Returns -1 when A is not positive definite. */
static int cholesky_solve(double *A, double *b, int n)
{
    for (int j = 0; j < n; ++j) {
        double d = A[j * n + j];
        for (int k = 0; k < j; ++k) d -= A[j * n + k] * A[j * n + k];
        if (!(d > 0)) return -1;
        A[j * n + j] = sqrt(d);
        for (int i = j + 1; i < n; ++i) {
            double v = A[i * n + j];
            for (int k = 0; k < j; ++k) v -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = v / A[j * n + j];
        }
    }
    for (int i = 0; i < n; ++i) { /* L y = b */
        for (int k = 0; k < i; ++k) b[i] -= A[i * n + k] * b[k];
        b[i] /= A[i * n + i];
    }
    for (int i = n - 1; i >= 0; --i) { /* L^T x = y */
        for (int k = i + 1; k < n; ++k) b[i] -= A[k * n + i] * b[k];
        b[i] /= A[i * n + i];
    }
    return 0;
}

/* Weighted least squares over rows [from, rows): minimises
 * sum_i w_i (y_i - design_i . coef)^2 + ridge |coef|^2, with design_i (n floats) and y_i given
 * by the callbacks. Returns -1 when the normal equations are singular, -2 when the n x n system
 * does not fit in memory. */
typedef void (*row_fn)(const coalitions *s, int i, const void *ctx, double *design, double *y);

static int weighted_least_squares(const coalitions *s, int from, int n, row_fn row, const void *ctx,
                                  double ridge, double *coef)
{
    /* no dx_error here: -2 tells the callers, which report it */
    double *A = dx_alloc((size_t)n * n, sizeof(double), "the regression", NULL);
    double *design = dx_alloc(n, sizeof(double), "the regression", NULL);
    if (!A || !design) {
        free(A);
        free(design);
        return -2;
    }
    memset(coef, 0, sizeof(double) * n);
    for (int i = from; i < s->rows; ++i) {
        double y;
        row(s, i, ctx, design, &y);
        double w = s->weights[i];
        for (int a = 0; a < n; ++a) {
            if (design[a] == 0) continue;
            coef[a] += w * design[a] * y;
            for (int b = 0; b <= a; ++b) A[a * n + b] += w * design[a] * design[b];
        }
    }
    for (int a = 0; a < n; ++a) {
        A[a * n + a] += ridge;
        for (int b = 0; b < a; ++b) A[b * n + a] = A[a * n + b];
    }
    int rc = cholesky_solve(A, coef, n);
    free(A);
    free(design);
    return rc;
}

/* ---- LIME ---- */

typedef struct {
    const double *zmean; /* the weighted means the regression is centred on */
    double ymean;
    int target;          /* whose scores are regressed */
} lime_centre;

static void lime_row(const coalitions *s, int i, const void *ctx, double *design, double *y)
{
    const lime_centre *lc = ctx;
    for (int j = 0; j < s->segments; ++j) design[j] = s->z[(size_t)i * s->segments + j] - lc->zmean[j];
    *y = score_of(s, i, lc->target) - lc->ymean;
}

/* Rows: the photo (all superpixels), the baseline (none), then superpixels kept with
 * probability 1/2 each, as lime_image samples. Weight sqrt(exp(-d^2 / width^2)) of the cosine
 * distance d = 1 - sqrt(kept / K) to the photo (1 for the empty row). Ridge regression with
 * alpha 1 and an intercept (sklearn's Ridge, as LIME): centred on the weighted means. */
int dx_method_lime(dx_model *m, const dx_request *req, const dx_target *t, int n_targets, dx_result *r,
                   dx_error *err)
{
    int samples = req->samples;
    if (samples < 2 || !(req->kernel_width > 0)) {
        dx_set_error(err, "lime: samples %d must be at least 2 and kernel width %g positive", samples,
                     req->kernel_width);
        return -1;
    }
    coalitions s;
    double *zmean = NULL, *coef = NULL;
    int rc = -1;
    if (coalitions_init(m, req, samples, n_targets, &s, err) != 0) goto done;
    int K = s.segments;
    dx_rng rng;
    dx_rng_init(&rng, req->seed);
    memset(s.z, 1, (size_t)K);
    for (int i = 2; i < s.rows; ++i)
        for (int j = 0; j < K; ++j) s.z[(size_t)i * K + j] = dx_rng_uniform(&rng) < 0.5;
    if (dx_score_perturbed(m, t, n_targets, req, s.x, s.rows, coalition_fill, &s, s.scores, err) != 0) goto done;
    if (dx_perturbation_maps(m, r, n_targets, 1, err) != 0) goto done;

    zmean = dx_alloc(K, sizeof(double), "lime's regression", err);
    coef = dx_alloc(K, sizeof(double), "lime's regression", err);
    if (!zmean || !coef) goto done;
    double wsum = 0;
    for (int i = 0; i < s.rows; ++i) {
        int kept = 0;
        for (int j = 0; j < K; ++j) kept += s.z[(size_t)i * K + j];
        double d = kept ? 1 - sqrt((double)kept / K) : 1;
        s.weights[i] = sqrt(exp(-d * d / ((double)req->kernel_width * req->kernel_width)));
        wsum += s.weights[i];
        for (int j = 0; j < K; ++j) zmean[j] += s.weights[i] * s.z[(size_t)i * K + j];
    }
    for (int j = 0; j < K; ++j) zmean[j] /= wsum;
    for (int target = 0; target < n_targets; ++target) {
        double ymean = 0;
        for (int i = 0; i < s.rows; ++i) ymean += s.weights[i] * score_of(&s, i, target);
        ymean /= wsum;
        lime_centre centre = {zmean, ymean, target};
        int solved = weighted_least_squares(&s, 0, K, lime_row, &centre, 1.0, coef);
        if (solved != 0) {
            dx_set_error(err, solved == -2 ? "lime: out of memory for the %dx%d regression"
                                           : "lime: the ridge system is not positive definite", K, K);
            goto done;
        }
        double intercept = ymean, residual = 0, spread = 0;
        for (int j = 0; j < K; ++j) intercept -= zmean[j] * coef[j];
        for (int i = 0; i < s.rows; ++i) {
            double fit = intercept, y = score_of(&s, i, target);
            for (int j = 0; j < K; ++j) fit += coef[j] * s.z[(size_t)i * K + j];
            residual += s.weights[i] * (y - fit) * (y - fit);
            spread += s.weights[i] * (y - ymean) * (y - ymean);
        }
        dx_result *rt = &r[target];
        coefficient_map(&s, coef, rt);
        dx_result_stat(rt, "f_x", score_of(&s, 0, target));
        dx_result_stat(rt, "f_baseline", score_of(&s, 1, target));
        dx_result_stat(rt, "intercept", intercept);
        dx_result_stat(rt, "r2", spread > 0 ? 1 - residual / spread : 1);
        dx_result_stat(rt, "segments", K);
        dx_result_stat(rt, "forwards", s.rows);
    }
    rc = 0;
done:
    coalitions_free(&s);
    free(zmean);
    free(coef);
    return rc;
}

/* ---- KernelSHAP ---- */

static double binomial(int n, int k)
{
    double v = 1;
    for (int i = 1; i <= k; ++i) v = v * (n - k + i) / i;
    return v;
}

/* Appends coalition `kept` (its complement when complement != 0) with weight w. */
static void add_coalition(coalitions *s, const unsigned char *kept, int complement, double w)
{
    unsigned char *z = s->z + (size_t)s->rows * s->segments;
    for (int j = 0; j < s->segments; ++j) z[j] = complement ? !kept[j] : kept[j];
    s->weights[s->rows++] = w;
}

/* Coalitions as the shap library's KernelExplainer chooses them, into rows 2.. of s (rows 0
 * and 1 are the photo and the baseline): coalition sizes are taken from the smallest (and,
 * paired, the largest) up, each enumerated completely while the budget covers its share of the
 * Shapley kernel's weight, with weight (kernel weight of the size) / (coalitions of the size);
 * the rest of the budget draws sizes in proportion to the remaining kernel weight, a random
 * coalition of that size and its complement, weights rescaled to that remaining weight. Returns
 * 0, or -1 when its temporaries do not fit in memory. */
static int shap_coalitions(coalitions *s, int budget, dx_rng *rng)
{
    int M = s->segments, sizes = M / 2, paired = (M - 1) / 2; /* sizes: ceil((M-1)/2) */
    /* no dx_error here: -1 tells the caller, which reports it */
    double *kernel = dx_alloc((size_t)sizes + 1, sizeof(double), "the coalitions", NULL);
    double *remaining = dx_alloc((size_t)sizes + 1, sizeof(double), "the coalitions", NULL);
    unsigned char *kept = dx_alloc(M, 1, "the coalitions", NULL);
    int *index = dx_alloc(M, sizeof(int), "the coalitions", NULL);
    if (!kernel || !remaining || !kept || !index) {
        free(kernel);
        free(remaining);
        free(kept);
        free(index);
        return -1;
    }
    double total = 0;
    for (int k = 1; k <= sizes; ++k) {
        kernel[k] = (M - 1.0) / (k * (double)(M - k)) * (k <= paired ? 2 : 1);
        total += kernel[k];
    }
    for (int k = 1; k <= sizes; ++k) remaining[k] = kernel[k] /= total;
    int left = budget, full = 0;
    for (int k = 1; k <= sizes; ++k) {
        double count = binomial(M, k) * (k <= paired ? 2 : 1);
        if (left * remaining[k] / count < 1 - 1e-8) break;
        full = k;
        left -= (int)count;
        if (remaining[k] < 1)
            for (int j = 1; j <= sizes; ++j) remaining[j] /= 1 - remaining[k];
        double w = kernel[k] / count;
        for (int j = 0; j < k; ++j) index[j] = j; /* every k-subset in lexicographic order */
        for (;;) {
            memset(kept, 0, M);
            for (int j = 0; j < k; ++j) kept[index[j]] = 1;
            add_coalition(s, kept, 0, w);
            if (k <= paired) add_coalition(s, kept, 1, w);
            int j = k - 1;
            while (j >= 0 && index[j] == M - k + j) --j;
            if (j < 0) break;
            index[j]++;
            for (int i = j + 1; i < k; ++i) index[i] = index[i - 1] + 1;
        }
    }
    int fixed = s->rows;
    if (full < sizes && left > 0) {
        double share = 0, drawn = 0;
        for (int k = full + 1; k <= sizes; ++k) share += remaining[k] = kernel[k] / (k <= paired ? 2 : 1);
        while (s->rows < 2 + budget) {
            double u = dx_rng_uniform(rng) * share;
            int k = full + 1;
            while (k < sizes && (u -= remaining[k]) >= 0) ++k;
            for (int j = 0; j < M; ++j) index[j] = j, kept[j] = 0;
            for (int j = 0; j < k; ++j) { /* partial Fisher-Yates: a uniform k-subset */
                int pick = j + (int)(dx_rng_uniform(rng) * (M - j));
                int tmp = index[j];
                index[j] = index[pick];
                index[pick] = tmp;
                kept[index[j]] = 1;
            }
            add_coalition(s, kept, 0, 1);
            if (k <= paired && s->rows < 2 + budget) add_coalition(s, kept, 1, 1);
        }
        double weight_left = 0;
        for (int k = full + 1; k <= sizes; ++k) weight_left += kernel[k];
        for (int i = fixed; i < s->rows; ++i) drawn += s->weights[i];
        for (int i = fixed; i < s->rows; ++i) s->weights[i] *= weight_left / drawn;
    }
    free(kernel);
    free(remaining);
    free(kept);
    free(index);
    return 0;
}

typedef struct {
    double gap; /* f(x) - f(baseline) */
    double fb;
    int target; /* whose scores are regressed */
} shap_target;

/* Efficiency eliminates the last superpixel: phi_last = gap - sum of the others, so the row is
 * (z_j - z_last)_j against y - f(baseline) - z_last * gap. */
static void shap_row(const coalitions *s, int i, const void *ctx, double *design, double *y)
{
    const shap_target *st = ctx;
    const unsigned char *z = s->z + (size_t)i * s->segments;
    int last = s->segments - 1;
    for (int j = 0; j < last; ++j) design[j] = (double)z[j] - z[last];
    *y = score_of(s, i, st->target) - st->fb - z[last] * st->gap;
}

int dx_method_kernelshap(dx_model *m, const dx_request *req, const dx_target *t, int n_targets, dx_result *r,
                         dx_error *err)
{
    int samples = req->samples;
    if (samples < 1) {
        dx_set_error(err, "kernelshap: samples %d must be at least 1", samples);
        return -1;
    }
    coalitions s;
    double *phi = NULL;
    int rc = -1;
    if (coalitions_init(m, req, 2 + samples, n_targets, &s, err) != 0) goto done;
    int M = s.segments;
    dx_rng rng;
    dx_rng_init(&rng, req->seed);
    memset(s.z, 1, (size_t)M); /* row 0: the photo; row 1: the baseline */
    s.rows = 2;
    if (M > 1 && shap_coalitions(&s, samples, &rng) != 0) {
        dx_set_error(err, "kernelshap: out of memory for %d superpixels", M);
        goto done;
    }
    if (dx_score_perturbed(m, t, n_targets, req, s.x, s.rows, coalition_fill, &s, s.scores, err) != 0) goto done;
    if (dx_perturbation_maps(m, r, n_targets, 1, err) != 0) goto done;
    phi = dx_alloc(M, sizeof(double), "kernelshap's regression", err);
    if (!phi) goto done;
    /* A ridge of 1e-9 of the largest kernel weight keeps the solve defined; the efficiency
     * constraint holds exactly whatever it is. */
    double wmax = 0;
    for (int i = 2; i < s.rows; ++i) wmax = s.weights[i] > wmax ? s.weights[i] : wmax;
    for (int target = 0; target < n_targets; ++target) {
        shap_target st = {score_of(&s, 0, target) - score_of(&s, 1, target), score_of(&s, 1, target), target};
        memset(phi, 0, sizeof(double) * M);
        int solved = M > 1 ? weighted_least_squares(&s, 2, M - 1, shap_row, &st, 1e-9 * wmax, phi) : 0;
        if (solved == -2) {
            dx_set_error(err, "kernelshap: out of memory for the %dx%d regression", M - 1, M - 1);
            goto done;
        }
        if (solved != 0) {
            dx_set_error(err, "kernelshap: %d coalitions do not determine %d superpixels; raise -samples",
                         s.rows - 2, M);
            goto done;
        }
        double rest = st.gap;
        for (int j = 0; j < M - 1; ++j) rest -= phi[j];
        phi[M - 1] = rest;
        double sum = 0; /* of the map's values, one per superpixel */
        for (int j = 0; j < M; ++j) sum += (float)phi[j];
        dx_result *rt = &r[target];
        coefficient_map(&s, phi, rt);
        dx_result_stat(rt, "f_x", score_of(&s, 0, target));
        dx_result_stat(rt, "f_baseline", score_of(&s, 1, target));
        dx_result_stat(rt, "efficiency_gap", sum - st.gap);
        dx_result_stat(rt, "segments", M);
        dx_result_stat(rt, "forwards", s.rows);
    }
    rc = 0;
done:
    coalitions_free(&s);
    free(phi);
    return rc;
}
