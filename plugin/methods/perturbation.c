/* Perturbation methods that need no surrogate model: occlusion and RISE. Both score many
 * perturbed copies of the network input (c x h x w, letterboxed) through dx_score_inputs and
 * build their map over that frame. Also the scoring loop every perturbation method uses
 * (perturb.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "incremental.h"
#include "memory.h"
#include "methods/baseline.h"
#include "model.h"
#include "perturb.h"
#include "rng.h"
#include "scoring.h"
#include "workers.h"

int dx_perturbation_maps(const dx_model *m, dx_result *r, int n_targets, int signed_map, dx_error *err)
{
    size_t plane = (size_t)m->net->h * m->net->w;
    for (int j = 0; j < n_targets; ++j) {
        if (!(r[j].native = dx_alloc(plane, sizeof(float), "the maps", err))) return -1;
        r[j].native_h = m->net->h;
        r[j].native_w = m->net->w;
        r[j].layer = -1;
        r[j].signed_map = signed_map;
        if (n_targets > 1) dx_result_stat(&r[j], "targets_per_forward", n_targets);
    }
    return 0;
}

int dx_score_perturbed(dx_model *m, const dx_target *t, int n_targets, const dx_request *req,
                       const float *original, int n, dx_fill_fn fill, void *ctx, float *scores, dx_error *err)
{
    if (req->batch < 1) {
        dx_set_error(err, "batch %d: perturbation methods need a batch of at least 1", req->batch);
        return -1;
    }
    size_t inputs = (size_t)m->net->inputs;
    /* the fills stay on this thread, in index order (RISE's reuse one mask buffer) */
    int batch = dx_score_chunk(req->batch, n);
    float *buf = batch > 0 ? dx_alloc(inputs * batch, sizeof(float), "a batch of perturbed inputs", err) : NULL;
    if (batch > 0 && !buf) return -1;
    int rc = 0;
    for (int start = 0; start < n && rc == 0; start += batch) {
        int count = n - start < batch ? n - start : batch;
        for (int j = 0; j < count; ++j) fill(ctx, start + j, buf + j * inputs);
        rc = dx_score_inputs_targets(m, t, n_targets, buf, count, req->batch, scores + (size_t)start * n_targets, err);
    }
    free(buf);
    dx_forward(m, original);
    return rc;
}

/* ---- occlusion ---- */

/* Window starts along an axis of n pixels: 0, S, 2S, ... and a last one flush with the far edge,
 * so every pixel is covered and no two windows are the same. Returns their count. */
static int window_starts(int n, int window, int stride, int *starts)
{
    int count = 0;
    for (int p = 0;; p += stride) {
        if (p + window >= n) {
            starts[count++] = n > window ? n - window : 0;
            return count;
        }
        starts[count++] = p;
    }
}

typedef struct {
    const float *x, *base;
    int c, h, w, wh, ww;  /* frame; window height and width (clipped to the frame) */
    const int *ys, *xs;   /* each scored window's top-left corner */
} occlusion_ctx;

/* Window k of an input that is x elsewhere: the baseline's pixels. */
static void paste_window(const occlusion_ctx *o, int k, float *input)
{
    size_t plane = (size_t)o->h * o->w;
    for (int c = 0; c < o->c; ++c)
        for (int y = o->ys[k]; y < o->ys[k] + o->wh; ++y) {
            size_t at = c * plane + (size_t)y * o->w + o->xs[k];
            memcpy(input + at, o->base + at, sizeof(float) * o->ww);
        }
}

static void occlusion_fill(void *ctx, int k, float *input)
{
    const occlusion_ctx *o = ctx;
    memcpy(input, o->x, sizeof(float) * o->h * o->w * o->c);
    paste_window(o, k, input);
}

/* Windows k = worker, worker + workers, ... of n, by incremental inference from model m's
 * forward state on x: each forward recomputes only what its window reaches, then the clean state
 * is copied back. scores: n x n_targets. */
typedef struct {
    const dx_target *t;
    int n_targets;
    const occlusion_ctx *o;
    int n;
    float *scores;
} window_job;

static int score_windows(void *arg, int worker, int workers, dx_model *m, dx_error *err)
{
    const window_job *j = arg;
    /* worker 0 runs on the caller's model, on x's forward state; a copy holds what it last ran */
    if (worker > 0 || memcmp(m->input, j->o->x, sizeof(float) * m->net->inputs) != 0) dx_forward(m, j->o->x);
    dx_incremental *inc = dx_incremental_begin(m, err);
    if (!inc) return -1;
    for (int k = worker; k < j->n; k += workers) {
        paste_window(j->o, k, m->input);
        dx_incremental_forward(inc, (dx_rect){j->o->ys[k], j->o->xs[k], j->o->ys[k] + j->o->wh, j->o->xs[k] + j->o->ww});
        dx_target_scores(j->t, j->n_targets, m, j->scores + (size_t)k * j->n_targets);
        dx_incremental_restore(inc);
    }
    dx_incremental_end(inc);
    return 0;
}

/* The windows spread over the workers (workers.h: one thread per core, at most 4 unless
 * DX_THREADS says otherwise), each with its own copy of the network: an incremental forward's
 * products are too small for OpenBLAS's threads (they only spin), so BLAS runs single-threaded
 * meanwhile and the windows run in parallel. */
static int score_windows_incrementally(dx_model *m, const dx_target *t, int n_targets, const occlusion_ctx *o,
                                       int n, float *scores, dx_error *err)
{
    window_job j = {t, n_targets, o, n, scores};
    return dx_workers_run(m, dx_worker_count(n), score_windows, &j, err);
}

/* A window whose pixels already equal the baseline changes nothing: its score drop is 0. */
static int window_is_baseline(const occlusion_ctx *o, int y0, int x0)
{
    size_t plane = (size_t)o->h * o->w;
    for (int c = 0; c < o->c; ++c)
        for (int y = y0; y < y0 + o->wh; ++y)
            for (int x = x0; x < x0 + o->ww; ++x)
                if (o->x[c * plane + (size_t)y * o->w + x] != o->base[c * plane + (size_t)y * o->w + x]) return 0;
    return 1;
}

/* map(p) = mean over the windows covering p of score(x) - score(x with the window replaced);
 * every target scored on each window. */
int dx_method_occlusion(dx_model *m, const dx_request *req, const dx_target *t, int n_targets, dx_result *r,
                        dx_error *err)
{
    if (req->window < 1 || req->stride < 1) {
        dx_set_error(err, "occlusion: window %d and stride %d must be at least 1", req->window, req->stride);
        return -1;
    }
    const dx_net *net = m->net;
    int c = net->c, h = net->h, w = net->w;
    size_t plane = (size_t)h * w;
    const char *what = "the occlusion windows";
    float *x = dx_alloc(plane * c, sizeof(float), what, err), *base = dx_alloc(plane * c, sizeof(float), what, err);
    float *score_x = dx_alloc(n_targets, sizeof(float), what, err);
    int *row_starts = dx_alloc((size_t)h + 1, sizeof(int), what, err);
    int *col_starts = dx_alloc((size_t)w + 1, sizeof(int), what, err);
    int ny = row_starts ? window_starts(h, req->window, req->stride, row_starts) : 0;
    int nx = col_starts ? window_starts(w, req->window, req->stride, col_starts) : 0;
    int *ys = dx_alloc((size_t)ny * nx, sizeof(int), what, err), *xs = dx_alloc((size_t)ny * nx, sizeof(int), what, err);
    float *scores = dx_alloc((size_t)ny * nx * n_targets, sizeof(float), what, err);
    float *count = dx_alloc(plane, sizeof(float), what, err);
    int rc = -1;
    if (!x || !base || !score_x || !row_starts || !col_starts || !ys || !xs || !scores || !count) goto done;
    if (dx_perturbation_maps(m, r, n_targets, 1, err) != 0) goto done;
    dx_target_scores(t, n_targets, m, score_x);
    memcpy(x, m->input, sizeof(float) * plane * c);
    if (dx_baseline_image(x, c, h, w, req->occlude, base, err) != 0) goto done;
    occlusion_ctx o = {x, base, c, h, w, req->window < h ? req->window : h, req->window < w ? req->window : w, ys, xs};
    int scored = 0, windows = ny * nx, incremental = req->batch == 1 && m->incremental;
    for (int i = 0; i < ny; ++i)
        for (int j = 0; j < nx; ++j) {
            if (!window_is_baseline(&o, row_starts[i], col_starts[j])) {
                ys[scored] = row_starts[i];
                xs[scored++] = col_starts[j];
            }
            for (int y = row_starts[i]; y < row_starts[i] + o.wh; ++y)
                for (int xx = col_starts[j]; xx < col_starts[j] + o.ww; ++xx) count[(size_t)y * w + xx] += 1;
        }
    if (incremental ? score_windows_incrementally(m, t, n_targets, &o, scored, scores, err)
                    : dx_score_perturbed(m, t, n_targets, req, x, scored, occlusion_fill, &o, scores, err))
        goto done;
    for (int j = 0; j < n_targets; ++j) {
        float *sum = r[j].native;
        for (int k = 0; k < scored; ++k)
            for (int y = ys[k]; y < ys[k] + o.wh; ++y)
                for (int xx = xs[k]; xx < xs[k] + o.ww; ++xx)
                    sum[(size_t)y * w + xx] += score_x[j] - scores[(size_t)k * n_targets + j];
        for (size_t p = 0; p < plane; ++p) sum[p] /= count[p];
        dx_result_stat(&r[j], "windows", windows);
        dx_result_stat(&r[j], "forwards", scored);
        dx_result_stat(&r[j], "incremental", incremental);
    }
    rc = 0;
done:
    free(x);
    free(base);
    free(score_x);
    free(row_starts);
    free(col_starts);
    free(ys);
    free(xs);
    free(scores);
    free(count);
    return rc;
}

/* ---- RISE ---- */

typedef struct {
    const float *x, *base;
    int c, h, w;
    int s, cell_h, cell_w;       /* grid cells per side; one cell's size after upsampling */
    const unsigned char *grids;  /* n x s x s: 1 = kept */
    const int *shifts;           /* n x 2: the crop's offset (y, x) into the upsampled grid */
    float *mask;                 /* h x w: the mask being built */
} rise_ctx;

void dx_upsample_mask(const unsigned char *grid, int gh, int gw, float cell_h, float cell_w, float shift_y,
                      float shift_x, int h, int w, float *mask)
{
    for (int y = 0; y < h; ++y) {
        float gy = (y + shift_y + .5f) / cell_h - .5f;
        gy = gy < 0 ? 0 : gy > gh - 1 ? gh - 1 : gy;
        int y0 = (int)gy, y1 = y0 + 1 < gh ? y0 + 1 : y0;
        float fy = gy - y0;
        for (int x = 0; x < w; ++x) {
            float gx = (x + shift_x + .5f) / cell_w - .5f;
            gx = gx < 0 ? 0 : gx > gw - 1 ? gw - 1 : gx;
            int x0 = (int)gx, x1 = x0 + 1 < gw ? x0 + 1 : x0;
            float fx = gx - x0;
            float top = (1 - fx) * grid[y0 * gw + x0] + fx * grid[y0 * gw + x1];
            float bottom = (1 - fx) * grid[y1 * gw + x0] + fx * grid[y1 * gw + x1];
            mask[y * w + x] = (1 - fy) * top + fy * bottom;
        }
    }
}

/* Mask k: grid k (s x s) upsampled to (s+1) cells of cell_h x cell_w per side, cropped to h x w
 * at its shift, as the RISE paper's code does. */
static void rise_mask(const rise_ctx *rc, int k, float *mask)
{
    float s = (float)rc->s;
    dx_upsample_mask(rc->grids + (size_t)k * rc->s * rc->s, rc->s, rc->s, (s + 1) * rc->cell_h / s,
                     (s + 1) * rc->cell_w / s, (float)rc->shifts[2 * k], (float)rc->shifts[2 * k + 1], rc->h, rc->w, mask);
}

static void rise_fill(void *ctx, int k, float *input)
{
    rise_ctx *rc = ctx;
    size_t plane = (size_t)rc->h * rc->w;
    rise_mask(rc, k, rc->mask);
    for (int c = 0; c < rc->c; ++c)
        for (size_t p = 0; p < plane; ++p) {
            size_t i = c * plane + p;
            input[i] = rc->base[i] + rc->mask[p] * (rc->x[i] - rc->base[i]);
        }
}

/* map = sum_i score(x * M_i + b * (1 - M_i)) M_i / (N p), for every target from the same masks */
int dx_method_rise(dx_model *m, const dx_request *req, const dx_target *t, int n_targets, dx_result *r,
                   dx_error *err)
{
    int n = req->masks, s = req->cell;
    if (n < 1 || s < 1 || !(req->keep_prob > 0 && req->keep_prob <= 1)) {
        dx_set_error(err, "rise: masks %d and cell %d must be at least 1 and p %g in (0, 1]", n, s,
                     req->keep_prob);
        return -1;
    }
    const dx_net *net = m->net;
    int c = net->c, h = net->h, w = net->w;
    size_t plane = (size_t)h * w;
    const char *what = "the RISE masks";
    float *x = dx_alloc(plane * c, sizeof(float), what, err), *base = dx_alloc(plane * c, sizeof(float), what, err);
    unsigned char *grids = dx_alloc((size_t)n * s * s, 1, what, err);
    int *shifts = dx_alloc(2 * (size_t)n, sizeof(int), what, err);
    float *mask = dx_alloc(plane, sizeof(float), what, err);
    float *scores = dx_alloc((size_t)n * n_targets, sizeof(float), what, err);
    double *acc = dx_alloc(plane * n_targets, sizeof(double), what, err);
    int rc = -1;
    if (!x || !base || !grids || !shifts || !mask || !scores || !acc) goto done;
    if (dx_perturbation_maps(m, r, n_targets, 0, err) != 0) goto done;
    memcpy(x, m->input, sizeof(float) * plane * c);
    if (dx_baseline_image(x, c, h, w, req->occlude, base, err) != 0) goto done;
    rise_ctx ctx = {x, base, c, h, w, s, (h + s - 1) / s, (w + s - 1) / s, grids, shifts, mask};
    dx_rng rng;
    dx_rng_init(&rng, req->seed);
    for (int k = 0; k < n; ++k) {
        for (int i = 0; i < s * s; ++i) grids[(size_t)k * s * s + i] = dx_rng_uniform(&rng) < req->keep_prob;
        shifts[2 * k] = (int)(dx_rng_uniform(&rng) * ctx.cell_h);
        shifts[2 * k + 1] = (int)(dx_rng_uniform(&rng) * ctx.cell_w);
    }
    if (dx_score_perturbed(m, t, n_targets, req, x, n, rise_fill, &ctx, scores, err) != 0) goto done;
    for (int k = 0; k < n; ++k) {
        rise_mask(&ctx, k, mask);
        for (int j = 0; j < n_targets; ++j) {
            double score = scores[(size_t)k * n_targets + j], *acc_j = acc + plane * j;
            for (size_t p = 0; p < plane; ++p) acc_j[p] += score * mask[p];
        }
    }
    for (int j = 0; j < n_targets; ++j) {
        for (size_t p = 0; p < plane; ++p) r[j].native[p] = (float)(acc[plane * j + p] / ((double)n * req->keep_prob));
        dx_result_stat(&r[j], "forwards", n);
    }
    rc = 0;
done:
    free(x);
    free(base);
    free(grids);
    free(shifts);
    free(mask);
    free(scores);
    free(acc);
    return rc;
}
