/* Batch-1 scoring over the workers' threads (scoring.c, issue #18): Score-CAM, RISE, D-RISE,
 * LIME, KernelSHAP and eval's deletion/insertion curves give the same maps, stats and values bit
 * for bit with 1, 2 and 3 threads, more than one worker scores, the model's forward state ends
 * where the contract says, and an allocation failing in a threaded run is one error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "engine.h"
#include "eval/eval.h"
#include "helpers.h"
#include "memory.h"
#include "model.h"
#include "scoring.h"

static void set_threads(int threads)
{
    char value[16];
    snprintf(value, sizeof value, "%d", threads);
    setenv("DX_THREADS", value, 1);
}

static dx_model *open_cfg(const char *file, uint64_t seed)
{
    char cfg[1200], weights[1200];
    snprintf(cfg, sizeof cfg, "%s/cfg/%s", getenv("DX_ROOT") ? getenv("DX_ROOT") : ".", file);
    snprintf(weights, sizeof weights, "%s/scoring.weights", temp_dir());
    return open_random(cfg, weights, seed);
}

static void explain(dx_model *m, dx_image photo, const dx_request *req, dx_result *r)
{
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, req, r, &err), 0, "%s: %s", dx_method_name(req->method), err.msg);
}

static dx_request scoring_request(dx_method method, int detector)
{
    dx_request req;
    dx_request_init(&req);
    req.method = method;
    req.masks = 45;    /* RISE, D-RISE: chunks of 8 per worker that do not divide it */
    req.samples = 45;  /* LIME, KernelSHAP */
    req.segments = 10;
    req.cell = 4;
    req.seed = 7;
    req.class_id = detector ? 1 : 2;
    if (detector) { /* random weights: no box clears a threshold, a region always has an anchor */
        req.use_region = 1;
        req.region[0] = 10, req.region[1] = 8, req.region[2] = 20, req.region[3] = 16;
    }
    return req;
}

static void expect_same_result(const dx_result *r, const dx_result *ref, const char *what, int threads)
{
    cr_assert(r->native_h == ref->native_h && r->native_w == ref->native_w && r->w == ref->w && r->h == ref->h);
    cr_expect(!memcmp(r->native, ref->native, sizeof(float) * r->native_h * r->native_w),
              "%s: %d threads give another native map", what, threads);
    cr_expect(!memcmp(r->map, ref->map, sizeof(float) * r->w * r->h), "%s: %d threads give another map", what, threads);
    cr_expect_eq(r->n_stats, ref->n_stats, "%s", what);
    for (int s = 0; s < r->n_stats && s < ref->n_stats; ++s)
        cr_expect(!strcmp(r->stats[s].name, ref->stats[s].name) && r->stats[s].value == ref->stats[s].value,
                  "%s, %d threads: stat %s %.17g, with one thread %s %.17g", what, threads, r->stats[s].name,
                  r->stats[s].value, ref->stats[s].name, ref->stats[s].value);
    cr_expect(r->logit == ref->logit, "%s, %d threads: the score differs", what, threads);
}

/* The methods with 1 thread, then 2 and 3 threads on new and on kept copies: the same result bit
 * for bit, some run scoring on more than one worker, and the model back on the photo's forward
 * state (equal to a fresh forward bit for bit), as the methods restore it. */
static void expect_same_over_threads(const char *cfg_name, int detector, const dx_method *methods, int n_methods,
                                     uint64_t seed)
{
    dx_model *m = open_cfg(cfg_name, seed);
    dx_image photo = noise_photo(48, 40, 3, seed);
    dx_error err;
    cr_assert_eq(dx_forward_photo(m, photo, NULL, &err), 0, "%s", err.msg);
    size_t len, len_after;
    float *fresh = forward_state(m, &len);
    for (int k = 0; k < n_methods; ++k) {
        dx_request req = scoring_request(methods[k], detector);
        char what[256];
        snprintf(what, sizeof what, "%s, %s", cfg_name, dx_method_name(req.method));
        dx_result ref;
        set_threads(1);
        explain(m, photo, &req, &ref);
        cr_expect_leq(m->scored_by, 1, "%s: 1 thread, %d workers scored", what, m->scored_by);
        int most = 0;
        for (int run = 0; run < 4; ++run) {
            int threads = 2 + run / 2, new_copies = run % 2 == 0;
            set_threads(threads);
            if (new_copies) dx_close_copies(m);
            dx_result r;
            explain(m, photo, &req, &r);
            most = m->scored_by > most ? m->scored_by : most;
            cr_expect_leq(m->scored_by, threads, "%s", what);
            expect_same_result(&r, &ref, what, threads);
            float *after = forward_state(m, &len_after);
            cr_expect(len_after == len && !memcmp(after, fresh, sizeof(float) * len),
                      "%s, %d threads: the model is not left on the photo's forward state", what, threads);
            free(after);
            dx_result_free(&r);
        }
        cr_log_info("%s: at most %d workers scored", what, most);
        cr_expect_gt(most, 1, "%s: no run scored on more than one worker", what);
        dx_result_free(&ref);
    }
    unsetenv("DX_THREADS");
    free(fresh);
    dx_free_image(photo);
    dx_close(m);
}

Test(scoring, perturbation_methods_equal_over_threads_classifier, .timeout = 120)
{
    const dx_method methods[] = {DX_METHOD_SCORECAM, DX_METHOD_RISE, DX_METHOD_LIME, DX_METHOD_KERNELSHAP};
    expect_same_over_threads("shapes-classifier.cfg", 0, methods, 4, 61);
}

Test(scoring, perturbation_methods_equal_over_threads_detector_box, .timeout = 120)
{
    const dx_method methods[] = {DX_METHOD_DRISE, DX_METHOD_RISE, DX_METHOD_SCORECAM};
    expect_same_over_threads("shapes-detector.cfg", 1, methods, 3, 62);
}

/* dx_score_inputs at batch 1 on n inputs: the same scores bit for bit with 1, 2 and 3 threads,
 * every thread scoring (n is large enough), and the model's forward state on the last input. */
Test(scoring, score_inputs_equal_over_threads_and_end_on_the_last_input)
{
    dx_model *m = open_cfg("shapes-classifier.cfg", 63);
    dx_error err;
    dx_target t;
    cr_assert_eq(dx_class_target(m, 1, DX_SCORE_LOGIT, &t, &err), 0, "%s", err.msg);
    size_t per = (size_t)dx_network(m)->inputs;
    enum { N = 41 };
    float *inputs = malloc(sizeof(float) * per * N);
    rng g = {64};
    for (size_t k = 0; k < per * N; ++k) inputs[k] = (float)rng_uniform(&g);
    dx_forward(m, inputs + per * (N - 1));
    size_t len, len_after;
    float *last = forward_state(m, &len);
    float ref[N], scores[N];
    for (int threads = 1; threads <= 3; ++threads) {
        set_threads(threads);
        dx_forward(m, inputs); /* another state, to be left */
        cr_assert_eq(dx_score_inputs(m, &t, inputs, N, 1, threads == 1 ? ref : scores, &err), 0, "%s", err.msg);
        cr_log_info("%d threads: %d workers scored", threads, m->scored_by);
        cr_expect(threads == 1 ? m->scored_by == 1 : m->scored_by > 1, "%d threads: %d workers scored", threads,
                  m->scored_by);
        if (threads > 1) cr_expect(!memcmp(scores, ref, sizeof ref), "%d threads give other scores", threads);
        float *after = forward_state(m, &len_after);
        cr_expect(len_after == len && !memcmp(after, last, sizeof(float) * len),
                  "%d threads: the forward state is not the last input's", threads);
        free(after);
    }
    unsetenv("DX_THREADS");
    /* each score is the one of a plain forward on its input */
    for (int k = 0; k < N; ++k) {
        dx_forward(m, inputs + per * k);
        cr_expect(dx_target_score(&t, m) == ref[k], "input %d: %g, alone %g", k, ref[k], dx_target_score(&t, m));
    }
    free(last);
    free(inputs);
    dx_close(m);
}

/* Eval's deletion and insertion curves (their scorer holds -batch 16 inputs per call): the same
 * values bit for bit with 1, 2 and 3 threads, more than one worker scoring in some run (the
 * 32x32 model's forwards are short: the calling thread may be done before another starts). */
Test(scoring, eval_curves_equal_over_threads)
{
    dx_model *m = open_cfg("shapes-classifier.cfg", 65);
    const network *net = dx_network(m);
    size_t per = (size_t)net->inputs, plane = (size_t)net->w * net->h;
    float *x = malloc(sizeof(float) * per), *map = malloc(sizeof(float) * plane);
    rng g = {66};
    for (size_t k = 0; k < per; ++k) x[k] = (float)rng_uniform(&g);
    for (size_t p = 0; p < plane; ++p) map[p] = (float)rng_uniform(&g);
    dx_eval_options o;
    dx_eval_options_init(&o);
    o.steps = 40;
    dx_eval_sample s = {.input = x, .cls = 1, .photo_scale = 1, .seed = 1};
    const dx_metric metrics[] = {DX_METRIC_DELETION, DX_METRIC_INSERTION};
    dx_error err;
    int most = 0;
    for (int k = 0; k < 2; ++k) {
        double ref = 0, value = 0;
        for (int threads = 1; threads <= 3; ++threads) {
            set_threads(threads);
            cr_assert_eq(dx_eval_metric(m, metrics[k], &s, map, NULL, &o, threads == 1 ? &ref : &value, &err), 0, "%s",
                         err.msg);
            cr_log_info("%s, %d threads: %d workers scored the last call", dx_metric_name(metrics[k]), threads,
                        m->scored_by);
            if (threads == 1) cr_expect_eq(m->scored_by, 1, "%s", dx_metric_name(metrics[k]));
            else most = m->scored_by > most ? m->scored_by : most;
            if (threads > 1)
                cr_expect(value == ref, "%s: %d threads %.17g, 1 thread %.17g", dx_metric_name(metrics[k]), threads,
                          value, ref);
        }
    }
    cr_expect_gt(most, 1, "no curve scored on more than one worker");
    unsetenv("DX_THREADS");
    free(x);
    free(map);
    dx_close(m);
}

/* An allocation failing anywhere in a 3-thread run of Score-CAM, RISE or D-RISE (the copies'
 * opening included): the call fails with one error saying out of memory, or succeeds; the
 * model then gives the reference map again. ASan (make test SANITIZE=1) checks nothing leaks. */
static void expect_one_error(const char *cfg_name, int detector, dx_method method, uint64_t seed)
{
    dx_model *m = open_cfg(cfg_name, seed);
    dx_image photo = noise_photo(48, 40, 3, seed);
    dx_request req = scoring_request(method, detector);
    set_threads(3);
    expect_each_failed_allocation_is_one_error(m, photo, &req);
    unsetenv("DX_THREADS");
    dx_free_image(photo);
    dx_close(m);
}

Test(scoring, a_failing_allocation_is_one_error, .timeout = 120)
{
    expect_one_error("test-classifier.cfg", 0, DX_METHOD_SCORECAM, 67);
    expect_one_error("test-classifier.cfg", 0, DX_METHOD_RISE, 68);
    expect_one_error("test-detector.cfg", 1, DX_METHOD_DRISE, 69);
}
