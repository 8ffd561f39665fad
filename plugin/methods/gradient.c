/* The gradient family: maps from d(score)/d(input) over the network input x (c x h x w).
 * Unsigned maps reduce the channels by the largest magnitude (as saliency); attributions whose
 * sign means something (input x gradient, Integrated Gradients) are summed over the channels. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "error.h"
#include "io/image.h"
#include "memory.h"
#include "methods.h"
#include "methods/baseline.h"
#include "model.h"
#include "rng.h"
#include "workers.h"

/* Forward on x (net->inputs floats), then backward to the input: the gradient is in
 * dx_grad_of(m, -1). */
static int gradient_at(dx_model *m, const dx_target *t, const float *x, float *score, dx_error *err)
{
    dx_forward(m, x);
    return dx_target_backward(m, t, -1, score, err);
}

static float *new_floats(size_t n, dx_error *err)
{
    return dx_alloc(n, sizeof(float), "the gradients", err);
}

/* map[p] = max_c |v[c, p]|; NaN wins (fmaxf would drop it): the map check reports it */
static void max_abs_over_channels(const float *v, int c, int spatial, float *map)
{
    for (int p = 0; p < spatial; ++p) map[p] = 0.f;
    for (int k = 0; k < c; ++k)
        for (int p = 0; p < spatial; ++p) {
            float a = fabsf(v[(size_t)k * spatial + p]);
            if (a > map[p] || isnan(a)) map[p] = a;
        }
}

static void set_native(dx_result *r, const dx_net *net, float *map)
{
    r->native = map;
    r->native_h = net->h;
    r->native_w = net->w;
    r->layer = -1;
}

/* The map over the input of an unsigned gradient (max |.| over channels). */
static int unsigned_map(dx_result *r, const dx_net *net, const float *v, dx_error *err)
{
    float *map = new_floats((size_t)net->h * net->w, err);
    if (!map) return -1;
    max_abs_over_channels(v, net->c, net->h * net->w, map);
    set_native(r, net, map);
    return 0;
}

/* Saliency (Simonyan et al.): max over the colour channels of |d(score)/dx|. */
int dx_method_saliency(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    if (dx_target_backward(m, t, -1, NULL, err) != 0) return -1;
    return unsigned_map(r, m->net, dx_grad_of(m, -1), err);
}

/* Input x gradient (Shrikumar et al.): sum over channels of x ⊙ d(score)/dx, signed. */
int dx_method_inputxgrad(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    if (dx_target_backward(m, t, -1, NULL, err) != 0) return -1;
    const dx_net *net = m->net;
    int spatial = net->h * net->w;
    const float *g = dx_grad_of(m, -1), *x = dx_output_of(m, -1);
    float *map = new_floats((size_t)spatial, err);
    if (!map) return -1;
    for (int k = 0; k < net->c; ++k)
        for (int p = 0; p < spatial; ++p) map[p] += x[(size_t)k * spatial + p] * g[(size_t)k * spatial + p];
    set_native(r, net, map);
    r->signed_map = 1;
    return 0;
}

/* ---- gradients at many inputs, over the workers (workers.h) ----
 * A serial producer, parallel gradients, a serial consumer in sample order, so the sums are
 * added in the order of the sequential loop and the maps are the same bit for bit whatever the
 * number of threads: under the lock a worker claims the next sample s and makes its input
 * (draws from a shared generator happen in sample order), computes the forward and the backward
 * on its own model, waits until samples 0..s-1 are committed, then adds its gradient. */
typedef struct sample_loop sample_loop;
struct sample_loop {
    const dx_target *t;
    int samples;
    /* under the lock, in sample order: sample s's input into `input` (net->inputs floats) */
    void (*make)(sample_loop *l, int s, float *input);
    /* in sample order, one at a time: sample s's gradient g and score */
    void (*commit)(sample_loop *l, int s, const float *g, float score);
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t turn;  /* signalled when `committed` grows or `stop` is set */
    int next;             /* the next sample to claim */
    int committed;        /* samples 0..committed-1 are in the sums */
    int stop;             /* a worker failed: the others end */
};

static void stop_loop(sample_loop *l)
{
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_cond_broadcast(&l->turn);
    pthread_mutex_unlock(&l->lock);
}

static int sample_worker(void *arg, int worker, int workers, dx_model *m, dx_error *err)
{
    sample_loop *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        if (l->stop || l->next >= l->samples) {
            pthread_mutex_unlock(&l->lock);
            return 0;
        }
        int s = l->next++;
        l->make(l, s, m->input);
        pthread_mutex_unlock(&l->lock);
        float score;
        if (gradient_at(m, l->t, m->input, &score, err) != 0) {
            stop_loop(l);
            return -1;
        }
        pthread_mutex_lock(&l->lock);
        while (l->committed != s && !l->stop) pthread_cond_wait(&l->turn, &l->lock);
        int stopped = l->stop;
        pthread_mutex_unlock(&l->lock);
        if (stopped) return 0;
        l->commit(l, s, dx_grad_of(m, -1), score); /* alone: the others wait for committed > s */
        pthread_mutex_lock(&l->lock);
        l->committed++;
        pthread_cond_broadcast(&l->turn);
        pthread_mutex_unlock(&l->lock);
    }
}

/* The samples of l over dx_worker_count(samples) workers; m's forward state is left to the
 * caller to restore. */
static int run_samples(dx_model *m, sample_loop *l, dx_error *err)
{
    l->next = l->committed = l->stop = 0;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        dx_set_error(err, "cannot create a mutex for the gradients' threads");
        return -1;
    }
    if (pthread_cond_init(&l->turn, NULL) != 0) {
        pthread_mutex_destroy(&l->lock);
        dx_set_error(err, "cannot create a condition variable for the gradients' threads");
        return -1;
    }
    int rc = dx_workers_run(m, dx_worker_count(l->samples), sample_worker, l, err);
    pthread_cond_destroy(&l->turn);
    pthread_mutex_destroy(&l->lock);
    return rc;
}

typedef struct {
    const float *x, *base;
    size_t n;
    int steps;
    double *integral, f_base;
} ig_sums;

static void ig_make(sample_loop *l, int s, float *point)
{
    const ig_sums *ig = l->ctx;
    float alpha = (float)s / ig->steps;
    for (size_t k = 0; k < ig->n; ++k) point[k] = ig->base[k] + alpha * (ig->x[k] - ig->base[k]);
}

static void ig_commit(sample_loop *l, int s, const float *g, float score)
{
    ig_sums *ig = l->ctx;
    if (s == 0) ig->f_base = score;
    double weight = (s == 0 || s == ig->steps ? 0.5 : 1.0) / ig->steps;
    for (size_t k = 0; k < ig->n; ++k) ig->integral[k] += weight * g[k];
}

/* Integrated Gradients (Sundararajan et al.): attr = (x - x') ⊙ ∫_0^1 grad(x' + a (x - x')) da,
 * the integral by the trapezoid rule over `steps` equal intervals (steps + 1 gradients). By
 * completeness sum(attr) = f(x) - f(x'); the JSON reports both and the gap. The map is the
 * attribution summed over channels. */
int dx_method_ig(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    const dx_net *net = m->net;
    size_t n = (size_t)net->inputs;
    int steps = req->steps > 0 ? req->steps : 1, spatial = net->h * net->w, rc = -1;
    float *x = new_floats(n, err), *base = new_floats(n, err);
    double *integral = dx_alloc(n, sizeof(double), "the integral", err);
    float *map = new_floats((size_t)spatial, err);
    if (!x || !base || !integral || !map) goto release;
    memcpy(x, dx_output_of(m, -1), sizeof(float) * n);
    double f_x = dx_target_score(t, m);
    if (dx_request_baseline(m, req, x, base, err) != 0) goto done;
    ig_sums ig = {x, base, n, steps, integral, 0};
    sample_loop l = {.t = t, .samples = steps + 1, .make = ig_make, .commit = ig_commit, .ctx = &ig};
    if (run_samples(m, &l, err) != 0) goto done;
    double f_base = ig.f_base;
    double total = 0;
    for (int c = 0; c < net->c; ++c)
        for (int p = 0; p < spatial; ++p) {
            size_t k = (size_t)c * spatial + p;
            double attr = ((double)x[k] - base[k]) * integral[k];
            map[p] += (float)attr;
            total += attr;
        }
    set_native(r, net, map);
    map = NULL;
    r->signed_map = 1;
    dx_result_stat(r, "completeness_delta", fabs(total - (f_x - f_base)));
    dx_result_stat(r, "attribution_sum", total);
    dx_result_stat(r, "score_difference", f_x - f_base);
    dx_result_stat(r, "baseline_score", f_base);
    dx_result_stat(r, "steps", steps);
    rc = 0;
done:
    dx_forward(m, x); /* back to the photo's forward state */
release:
    free(x);
    free(base);
    free(integral);
    free(map);
    return rc;
}

typedef enum { SMOOTH_MEAN, SMOOTH_SQUARE, SMOOTH_VARIANCE } smooth_kind;

typedef struct {
    const float *x;
    size_t n;
    double sd;
    dx_rng rng;   /* one generator, drawn from in sample order */
    double *sum, *sum_sq;
} smooth_sums;

static void smooth_make(sample_loop *l, int s, float *point)
{
    smooth_sums *sm = l->ctx;
    for (size_t k = 0; k < sm->n; ++k) point[k] = sm->x[k] + (float)(sm->sd * dx_rng_normal(&sm->rng));
}

static void smooth_commit(sample_loop *l, int s, const float *g, float score)
{
    smooth_sums *sm = l->ctx;
    for (size_t k = 0; k < sm->n; ++k) {
        sm->sum[k] += g[k];
        sm->sum_sq[k] += (double)g[k] * g[k];
    }
}

/* The SmoothGrad family (Smilkov et al.; Adebayo et al. for VarGrad): gradients at `samples`
 * copies of x plus Gaussian noise of sd = noise * (max(x) - min(x)), each draw from the seed.
 * SmoothGrad: their mean; SmoothGrad²: the mean of their squares; VarGrad: their variance.
 * Each map takes the largest magnitude over channels (SmoothGrad with noise 0 is saliency). */
static int smooth_run(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r,
                      smooth_kind kind, dx_error *err)
{
    const dx_net *net = m->net;
    size_t n = (size_t)net->inputs;
    int samples = req->samples, rc = -1;
    if (samples < 1) {
        dx_set_error(err, "%s: samples %d must be at least 1", dx_method_name(req->method), samples);
        return -1;
    }
    float *x = new_floats(n, err), *v = new_floats(n, err);
    double *sum = dx_alloc(n, sizeof(double), "the noisy gradients", err);
    double *sum_sq = dx_alloc(n, sizeof(double), "the noisy gradients", err);
    if (!x || !v || !sum || !sum_sq) goto release;
    memcpy(x, dx_output_of(m, -1), sizeof(float) * n);
    float lo = x[0], hi = x[0];
    for (size_t k = 1; k < n; ++k) {
        lo = fminf(lo, x[k]);
        hi = fmaxf(hi, x[k]);
    }
    double sd = req->noise * (double)(hi - lo);
    smooth_sums sums = {.x = x, .n = n, .sd = sd, .sum = sum, .sum_sq = sum_sq};
    dx_rng_init(&sums.rng, req->seed);
    sample_loop l = {.t = t, .samples = samples, .make = smooth_make, .commit = smooth_commit, .ctx = &sums};
    if (run_samples(m, &l, err) != 0) goto done;
    for (size_t k = 0; k < n; ++k) {
        double mean = sum[k] / samples, mean_sq = sum_sq[k] / samples;
        v[k] = (float)(kind == SMOOTH_MEAN ? mean : kind == SMOOTH_SQUARE ? mean_sq : fmax(mean_sq - mean * mean, 0));
    }
    rc = unsigned_map(r, net, v, err);
    dx_result_stat(r, "samples", samples);
    dx_result_stat(r, "noise_sd", sd);
done:
    dx_forward(m, x);
release:
    free(x);
    free(v);
    free(sum);
    free(sum_sq);
    return rc;
}

int dx_method_smoothgrad(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    return smooth_run(m, req, t, r, SMOOTH_MEAN, err);
}

int dx_method_smoothgrad2(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    return smooth_run(m, req, t, r, SMOOTH_SQUARE, err);
}

int dx_method_vargrad(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    return smooth_run(m, req, t, r, SMOOTH_VARIANCE, err);
}

/* Guided backpropagation (Springenberg et al.): rectifiers pass only positive gradients, and
 * only where their input is positive; max |.| over channels. */
int dx_method_guidedbp(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    if (dx_reverse(m, t, -1, &dx_guided_rules, &m->pass, err) != 0) return -1;
    return unsigned_map(r, m->net, dx_grad_of(m, -1), err);
}

/* DeconvNet (Zeiler & Fergus): rectifiers pass the positive part of the gradient, whatever
 * their input; max |.| over channels. */
int dx_method_deconvnet(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    if (dx_reverse(m, t, -1, &dx_deconv_rules, &m->pass, err) != 0) return -1;
    return unsigned_map(r, m->net, dx_grad_of(m, -1), err);
}

/* Guided Grad-CAM (Selvaraju et al.): the guided backprop map times the Grad-CAM map (at
 * -layer, as gradcam) resized bilinearly to the input, pixel centres aligned. */
int dx_method_guidedgradcam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    dx_result cam;
    memset(&cam, 0, sizeof cam);
    if (dx_method_gradcam(m, req, t, &cam, err) != 0 || dx_method_guidedbp(m, req, t, r, err) != 0) {
        dx_result_free(&cam);
        return -1;
    }
    const dx_net *net = m->net;
    /* the whole frame onto the input: dx_native_to_photo with an empty letterbox (pixel centres
     * aligned, as CAM maps are drawn on the photo) */
    dx_letterbox frame = {.net_w = net->w, .net_h = net->h, .inner_w = net->w, .inner_h = net->h};
    float *up = dx_native_to_photo(cam.native, cam.native_h, cam.native_w, &frame, net->w, net->h);
    dx_result_stat(r, "gradcam_layer", cam.layer);
    dx_result_free(&cam);
    if (!up) {
        dx_set_error(err, "out of memory for guided Grad-CAM's map");
        return -1;
    }
    for (int p = 0; p < net->h * net->w; ++p) r->native[p] *= up[p];
    free(up);
    r->relu = req->relu;
    return 0;
}
