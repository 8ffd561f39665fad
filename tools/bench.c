/* Benchmark (not a test): what the speed work buys and what explaining costs, on a real model.
 *   build/bench CFG WEIGHTS [ROUNDS [CSV [PHOTO]]]
 * The variants run in turn within each round (ROUNDS rounds, default 9), so a change in the
 * machine's load hits them alike; times are medians over rounds and every ratio is the median
 * of the per-round ratios. One row per run is appended to CSV (default build/bench.csv).
 *   forward: Darknet's own gemm; BLAS gemm_cpu; BLAS + grouped-convolution stand-ins (default)
 *   hooks overhead: hooked forward / the same network loaded by Darknet alone (same gemm)
 *   backward to the input / forward; Grad-CAM (forward + backward to the CAM layer) / forward;
 *   for classifiers, the whole API call dx_explain_image(Grad-CAM) on PHOTO / forward
 *   scoring: dx_score_inputs per input at batch 1 and at batch 8
 *   peak resident memory (getrusage): the model with Grad-CAM, then with the batch copy too
 *   the forward's rate in GFLOP/s (forward_flops below) beside OpenBLAS's on a square
 *   SGEMM_N^3 sgemm in the same rounds, the same kernel and threads: how far the forward is from
 *   what the BLAS does at its best on this machine; BENCH_LAYERS=1: per gemm layer too
 * OpenBLAS runs the kernels the command would (dx_blas_best_kernel, plugin/blas_kernel.c); its
 * kernel and threads head the output and end the CSV row.
 * BENCH_QUICK=1 in the environment: only the forward, Grad-CAM, saliency (forward + backward
 * to the input) and LRP (forward + relevance to the input, bench-peers' composite
 * epsilon-plus-flat-nobias, from one output of a classifier's logits or of a detector's last
 * head), one line on stdout
 *   quick CFG KERNEL THREADS FORWARD_MS GRADCAM_MS SALIENCY_MS CPU_PER_WALL FORWARD_GFLOPS SGEMM_GFLOPS
 *         LRP_MS LRP_BLAS_MS
 * (medians over ROUNDS; CPU_PER_WALL: the process's CPU seconds, user and system, per second of
 * the forward, Grad-CAM and saliency rounds: above 1 when OpenBLAS's threads work or spin; the
 * sgemm's and LRP's rounds follow them; LRP_BLAS_MS: LRP with its linear engine's convolutions
 * through BLAS, m->onednn off for the relevance pass only, interleaved with LRP_MS's rounds), for
 * tools/bench-settings.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cblas.h>
#include "cli.h"
#include <darknet.h> /* the benchmark times the Darknet's own forward too */
#include "cfg/check.h"
#include "engine.h"
#include "io/image.h"
#include "lrp/lrp.h"
#include "model.h"
#include "scoring.h"
#include "targets.h"

#define SCORE_INPUTS 16
#define SCORE_BATCH 8
#define SGEMM_N 1024

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, compare);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct bench bench;
typedef void (*step_fn)(bench *b);

struct bench {
    dx_model *m;
    network *plain;
    float *x, *seed, *inputs, *scores;
    int top, cam_layer;
    int score_batch; /* inputs per forward of score() */
    dx_target target;
    dx_image photo;
    float *ga, *gb, *gc; /* SGEMM_N x SGEMM_N each: sgemm()'s operands */
    dx_rule *lrp_rules;  /* quick mode: lrp_pass()'s */
    int lrp_top;
    float *lrp_seed;
};

/* one thing timed: a step under a gemm and stand-in setting */
typedef struct {
    step_fn step;
    int blas, fast, score_batch;
} variant;

#define MAX_ROUNDS 64
#define MAX_VARIANTS 8

/* t[r][v]: seconds of variant v in round r (after one warm-up round) */
static void interleaved(bench *b, int rounds, int nv, const variant *v, double t[][MAX_VARIANTS])
{
    for (int r = -1; r < rounds; ++r)
        for (int k = 0; k < nv; ++k) {
            dx_set_blas(v[k].blas);
            dx_set_fast_layers(b->m, v[k].fast);
            b->score_batch = v[k].score_batch;
            double t0 = now();
            v[k].step(b);
            if (r >= 0) t[r][k] = now() - t0;
        }
    dx_set_blas(1);
    dx_set_fast_layers(b->m, 1);
}

static double median_time(double t[][MAX_VARIANTS], int rounds, int v)
{
    double x[MAX_ROUNDS];
    for (int r = 0; r < rounds; ++r) x[r] = t[r][v];
    return median(x, rounds);
}

/* median over rounds of t[a] / t[b] */
static double median_ratio(double t[][MAX_VARIANTS], int rounds, int a, int b)
{
    double x[MAX_ROUNDS];
    for (int r = 0; r < rounds; ++r) x[r] = t[r][a] / t[r][b];
    return median(x, rounds);
}

static void fail(const dx_error *err)
{
    fprintf(stderr, "bench: %s\n", err->msg);
    exit(1);
}

static void plain_forward(bench *b) { network_predict(b->plain, b->x); }
static void forward(bench *b) { dx_forward(b->m, b->x); }
static void backward_to(bench *b, int stop)
{
    dx_error err;
    if (dx_backward(b->m, b->top, b->seed, stop, &err) != 0) fail(&err);
}
static void input_gradient(bench *b)
{
    forward(b);
    backward_to(b, -1);
}
static void gradcam(bench *b)
{
    forward(b);
    backward_to(b, b->cam_layer);
}
static void gradcam_api(bench *b)
{
    dx_request req;
    dx_request_init(&req);
    dx_result r;
    dx_error err;
    if (dx_explain_image(b->m, b->photo, &req, &r, &err) != 0) fail(&err);
    dx_result_free(&r);
}
/* LRP with bench-peers' composite (tools/bench_peers.py: the default) from one output of
 * b->lrp_top, after the forward, in the model's own pass (no explain call around it); lrp_blas: the same with the linear engine's convolutions through
 * BLAS (lrp/linear.c: m->onednn off for the relevance pass, the forward as set) */
static void lrp_pass(bench *b)
{
    forward(b);
    dx_error err;
    if (dx_reverse_seeded(b->m, b->lrp_top, b->lrp_seed, -1, &(dx_rules){b->lrp_rules, .relevance = 1}, &b->m->pass,
                          &err) != 0)
        fail(&err);
}
static void lrp_blas(bench *b)
{
    int on = b->m->onednn;
    b->m->onednn = 0;
    lrp_pass(b);
    b->m->onednn = on;
}
/* C = A B, square, row-major: OpenBLAS's rate at its best (large, cache-blocked) */
static void sgemm(bench *b)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, SGEMM_N, SGEMM_N, SGEMM_N, 1, b->ga, SGEMM_N, b->gb,
                SGEMM_N, 0, b->gc, SGEMM_N);
}
static double sgemm_flops(void) { return 2.0 * SGEMM_N * SGEMM_N * SGEMM_N; }
static void sgemm_operands(bench *b)
{
    size_t n = (size_t)SGEMM_N * SGEMM_N;
    b->ga = malloc(sizeof(float) * n), b->gb = malloc(sizeof(float) * n), b->gc = malloc(sizeof(float) * n);
    if (!b->ga || !b->gb || !b->gc) {
        fprintf(stderr, "bench: no memory for the sgemm's operands\n");
        exit(1);
    }
    for (size_t k = 0; k < n; ++k) b->ga[k] = (float)(k % 17) / 17, b->gb[k] = (float)(k % 13) / 13;
}

/* The floating-point operations of one input through layer l: 2 per multiply-add of the layers
 * that run a gemm (convolutional, deconvolutional, connected, local), from the neutral layer
 * table; 0 for the others: activations, batch norm, pooling, routes, shortcuts and heads are not
 * counted (a few percent of a CNN's work, and memory-bound, not what a GFLOP/s rate measures). */
static double layer_flops(const dx_layer *l)
{
    double per_output = (double)l->c / (l->groups > 0 ? l->groups : 1) * l->size * l->size;
    switch (l->type) {
    case DX_LAYER_CONVOLUTIONAL: return 2.0 * l->outputs * per_output;
    case DX_LAYER_LOCAL: return 2.0 * l->outputs * l->c * l->size * l->size;
    case DX_LAYER_DECONVOLUTIONAL: return 2.0 * l->inputs * l->n * l->size * l->size; /* each input scattered */
    case DX_LAYER_CONNECTED: return 2.0 * l->inputs * l->outputs;
    default: return 0;
    }
}

static double forward_flops(const dx_net *net)
{
    double flops = 0;
    for (int i = 0; i < net->n; ++i) flops += layer_flops(&net->layers[i]);
    return flops;
}

/* BENCH_LAYERS=1: each gemm layer's mean time over `rounds` forwards (the hooks' timing, as
 * -timing's) and its rate, against the sgemm's */
static void layer_rates(bench *b, int rounds, double sgemm_gflops)
{
    const dx_net *net = b->m->net;
    dx_set_layer_timing(b->m, 1);
    for (int r = 0; r < rounds; ++r) forward(b);
    printf("  layer  type            output (c h w)        ms  GFLOP/s  of sgemm's\n");
    for (int i = 0; i < net->n; ++i) {
        const dx_layer *l = &net->layers[i];
        double flops = layer_flops(l), ms = dx_layer_forward_ms(b->m, i);
        if (flops > 0 && ms > 0)
            printf("  %5d  %-14s %5d %4d %4d %9.2f %8.1f %10.0f%%\n", i, l->type_name, l->out_c, l->out_h,
                   l->out_w, ms, 1e-6 * flops / ms, 100 * 1e-6 * flops / ms / sgemm_gflops);
    }
    dx_set_layer_timing(b->m, 0);
}

static void score(bench *b)
{
    dx_error err;
    if (dx_score_inputs(b->m, &b->target, b->inputs, SCORE_INPUTS, b->score_batch, b->scores, &err) != 0) fail(&err);
}

/* a score of the head's outputs that any model has: the first output */
static float first_output(const dx_target *t, const dx_model *m, float *seed)
{
    const dx_layer *l = &m->net->layers[t->layer];
    if (seed) {
        memset(seed, 0, sizeof(float) * l->outputs);
        seed[0] = 1;
    }
    return l->output[0];
}

static network *load_plain(const char *cfg, const char *weights)
{
    dx_error err;
    char batch1[64];
    int fd = dx_cfg_batch1_copy(cfg, batch1, sizeof batch1, &err);
    if (fd < 0) fail(&err);
    fflush(stderr);
    int saved = dup(2);
    if (!freopen("/dev/null", "w", stderr)) exit(1);
    network *net = load_network(batch1, (char *)weights, 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    return net;
}

enum { DARKNET, PLAIN, BLAS, FAST, INPUT_GRAD, GRADCAM, SGEMM, GRADCAM_API };

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* BENCH_QUICK: the forward, Grad-CAM and saliency alone, interleaved, one line */
static int quick(bench *b, const char *cfg, int rounds)
{
    static double t[MAX_ROUNDS][MAX_VARIANTS];
    const variant v[] = {{forward, 1, 1, 1}, {gradcam, 1, 1, 1}, {input_gradient, 1, 1, 1}};
    double cpu0 = cpu_seconds(), wall0 = now();
    interleaved(b, rounds, 3, v, t);
    double cpu_per_wall = (cpu_seconds() - cpu0) / (now() - wall0);
    double forward_s = median_time(t, rounds, 0), gradcam_s = median_time(t, rounds, 1);
    double saliency_s = median_time(t, rounds, 2);
    const variant g[] = {{sgemm, 1, 1, 1}};
    interleaved(b, rounds, 1, g, t);
    double sgemm_s = median_time(t, rounds, 0);
    dx_error err;
    /* a classifier's logits, a detector's last head's input */
    b->lrp_top = dx_is_detector(b->m) ? b->m->head - 1 : dx_find_logit_layer(b->m);
    b->lrp_seed = calloc(b->m->net->layers[b->lrp_top].outputs, sizeof(float));
    b->lrp_seed[b->m->net->layers[b->lrp_top].outputs / 2] = 1;
    if (!(b->lrp_rules = dx_lrp_rules_for(b->m, NULL, NULL, &err))) fail(&err);
    const variant l[] = {{lrp_pass, 1, 1, 1}, {lrp_blas, 1, 1, 1}};
    interleaved(b, rounds, 2, l, t);
    printf("quick %s %s %d %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f\n", cfg, openblas_get_corename(),
           openblas_get_num_threads(), 1e3 * forward_s, 1e3 * gradcam_s, 1e3 * saliency_s, cpu_per_wall,
           1e-9 * forward_flops(b->m->net) / forward_s, 1e-9 * sgemm_flops() / sgemm_s, 1e3 * median_time(t, rounds, 0),
           1e3 * median_time(t, rounds, 1));
    free(b->lrp_rules), free(b->lrp_seed);
    free(b->ga), free(b->gb), free(b->gc);
    free(b->x), free(b->seed);
    dx_free_image(b->photo);
    dx_close(b->m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CFG WEIGHTS [ROUNDS [CSV [PHOTO]]]\n", argv[0]);
        return 2;
    }
    dx_blas_best_kernel();
    int rounds = argc > 3 ? atoi(argv[3]) : 9;
    if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 9;
    const char *csv = argc > 4 ? argv[4] : "build/bench.csv";
    const char *photo = argc > 5 ? argv[5] : "/usr/share/darknet/data/dog.jpg";
    dx_error err;
    bench b = {0};
    if (!(b.m = dx_open(argv[1], argv[2], NULL, &err))) fail(&err);
    network *net = dx_network(b.m);
    b.x = malloc(sizeof(float) * net->inputs);
    for (int k = 0; k < net->inputs; ++k) b.x[k] = (float)(k % 255) / 255;
    b.top = b.m->head;
    b.seed = calloc(net->layers[b.top].outputs, sizeof(float));
    b.seed[0] = 1;
    b.cam_layer = dx_default_layer(b.m);
    int classifier = net->layers[b.m->head].type == SOFTMAX;
    if (classifier && dx_load_photo(photo, &b.photo, &err) != 0) fail(&err);
    const char *q = getenv("BENCH_QUICK");
    sgemm_operands(&b);
    if (q && strcmp(q, "1") == 0) return quick(&b, argv[1], rounds);
    int grouped = 0;
    for (int i = 0; i < b.m->n; ++i) grouped += b.m->hooks[i].fast_forward != NULL;

    /* the model alone (one network, Grad-CAM's buffers), before the bench loads more copies */
    gradcam(&b);
    if (classifier) gradcam_api(&b);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_mb = ru.ru_maxrss / 1024.0;

    b.plain = load_plain(argv[1], argv[2]);
    static double t[MAX_ROUNDS][MAX_VARIANTS];
    const variant forwards[] = {
        [DARKNET] = {forward, 0, 0, 1},      [PLAIN] = {plain_forward, 0, 0, 1},
        [BLAS] = {forward, 1, 0, 1},         [FAST] = {forward, 1, 1, 1},
        [INPUT_GRAD] = {input_gradient, 1, 1, 1}, [GRADCAM] = {gradcam, 1, 1, 1},
        [SGEMM] = {sgemm, 1, 1, 1},          [GRADCAM_API] = {gradcam_api, 1, 1, 1},
    };
    interleaved(&b, rounds, classifier ? GRADCAM_API + 1 : SGEMM + 1, forwards, t);
    double darknet = median_time(t, rounds, DARKNET), blas = median_time(t, rounds, BLAS),
           fast = median_time(t, rounds, FAST);
    double blas_speedup = median_ratio(t, rounds, DARKNET, BLAS);
    double grouped_speedup = median_ratio(t, rounds, BLAS, FAST);
    double total_speedup = median_ratio(t, rounds, DARKNET, FAST);
    double hooks = median_ratio(t, rounds, DARKNET, PLAIN);
    double to_input = median_ratio(t, rounds, INPUT_GRAD, FAST) - 1; /* backward alone */
    double cam = median_ratio(t, rounds, GRADCAM, FAST);
    double cam_api = classifier ? median_ratio(t, rounds, GRADCAM_API, FAST) : 0;
    double gflop = 1e-9 * forward_flops(b.m->net), forward_gflops = gflop / fast,
           sgemm_gflops = 1e-9 * sgemm_flops() / median_time(t, rounds, SGEMM);
    free_network(b.plain);
    if (classifier) dx_free_image(b.photo);

    b.inputs = malloc(sizeof(float) * net->inputs * SCORE_INPUTS);
    b.scores = malloc(sizeof(float) * SCORE_INPUTS);
    for (size_t k = 0; k < (size_t)net->inputs * SCORE_INPUTS; ++k) b.inputs[k] = (float)(k % 251) / 251;
    b.target = (dx_target){.layer = b.m->head, .eval = first_output};
    const variant scoring[] = {{score, 1, 1, 1}, {score, 1, 1, SCORE_BATCH}};
    int score_rounds = rounds < 3 ? rounds : 3;
    interleaved(&b, score_rounds, 2, scoring, t);
    double score1 = median_time(t, score_rounds, 0) / SCORE_INPUTS;
    double score_n = median_time(t, score_rounds, 1) / SCORE_INPUTS;
    double batch_speedup = median_ratio(t, score_rounds, 0, 1);
    getrusage(RUSAGE_SELF, &ru);
    double peak_batch_mb = ru.ru_maxrss / 1024.0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    printf("%s (%ld cores, %d rounds; OpenBLAS kernel %s, threads %d)\n", argv[1], cores, rounds,
           openblas_get_corename(), openblas_get_num_threads());
    printf("  forward, Darknet's gemm                 %8.1f ms\n", 1e3 * darknet);
    printf("  forward, BLAS gemm_cpu                  %8.1f ms  (x%.2f)\n", 1e3 * blas, blas_speedup);
    printf("  forward, BLAS + %2d grouped stand-ins    %8.1f ms  (x%.2f over BLAS, x%.2f overall)\n",
           grouped, 1e3 * fast, grouped_speedup, total_speedup);
    printf("  forward's rate (%.2f GFLOP)        %8.1f GFLOP/s  (%.0f%% of sgemm %d^3's %.1f GFLOP/s)\n", gflop,
           forward_gflops, 100 * forward_gflops / sgemm_gflops, SGEMM_N, sgemm_gflops);
    const char *per_layer = getenv("BENCH_LAYERS");
    if (per_layer && strcmp(per_layer, "1") == 0) layer_rates(&b, rounds, sgemm_gflops);
    printf("  hooks overhead (hooked / plain Darknet)    %6.3f\n", hooks);
    printf("  backward to the input / forward            %6.3f\n", to_input);
    printf("  Grad-CAM at layer %3d / forward            %6.3f  (forward + backward)\n", b.cam_layer, cam);
    if (classifier) printf("  dx_explain_image Grad-CAM / forward        %6.3f  (letterbox, map, top-5 included)\n", cam_api);
    printf("  scoring per input: batch 1 %.1f ms, batch %d %.1f ms  (x%.2f)\n", 1e3 * score1,
           SCORE_BATCH, 1e3 * score_n, batch_speedup);
    printf("  peak resident memory                    %8.1f MB  (%.1f MB with the batch-%d copy)\n",
           peak_mb, peak_batch_mb, SCORE_BATCH);

    struct stat st;
    int fresh = stat(csv, &st) != 0;
    FILE *f = fopen(csv, "a");
    if (!f) {
        fprintf(stderr, "bench: %s: cannot append\n", csv);
        return 1;
    }
    if (fresh)
        fprintf(f, "time,cfg,cores,rounds,forward_darknet_ms,forward_blas_ms,forward_fast_ms,blas_speedup,"
                   "grouped_layers,grouped_speedup,total_speedup,hooks_overhead,backward_input_over_forward,"
                   "gradcam_over_forward,gradcam_api_over_forward,score_batch1_ms,score_batch%d_ms,"
                   "batch_speedup,peak_rss_mb,peak_rss_with_batch_mb,blas_kernel,blas_threads,forward_gflops,"
                   "sgemm_gflops\n", SCORE_BATCH);
    fprintf(f, "%ld,%s,%ld,%d,%.2f,%.2f,%.2f,%.3f,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.2f,%.2f,%.3f,%.1f,%.1f,%s,%d,"
               "%.2f,%.2f\n",
            (long)time(NULL), argv[1], cores, rounds, 1e3 * darknet, 1e3 * blas, 1e3 * fast,
            blas_speedup, grouped, grouped_speedup, total_speedup, hooks, to_input, cam, cam_api,
            1e3 * score1, 1e3 * score_n, batch_speedup, peak_mb, peak_batch_mb, openblas_get_corename(),
            openblas_get_num_threads(), forward_gflops, sgemm_gflops);
    fclose(f);
    free(b.x);
    free(b.seed);
    free(b.inputs);
    free(b.scores);
    free(b.ga), free(b.gb), free(b.gc);
    dx_close(b.m);
    return 0;
}
