/* Benchmark (not a test): what the speed work buys and what explaining costs, on a real model.
 *   build/bench CFG WEIGHTS [ROUNDS [CSV [PHOTO]]]
 * Every time is the median of ROUNDS runs (default 7); the machine may be shared, so the
 * ratios are what travels. One row per run is appended to CSV (default build/bench.csv).
 *   forward: Darknet's own gemm; BLAS gemm_cpu; BLAS + grouped-convolution stand-ins (default)
 *   hooks overhead: hooked forward / the same network loaded by Darknet alone (same gemm)
 *   backward to the input / forward; Grad-CAM (forward + backward to the CAM layer) / forward;
 *   for classifiers, the whole API call dx_explain_image(Grad-CAM) on PHOTO / forward
 *   scoring: dx_score_inputs per input at batch 1 and at batch 8
 *   peak resident memory (getrusage): the model with Grad-CAM, then with the batch copy too */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "io/image.h"

#define SCORE_INPUTS 16
#define SCORE_BATCH 8

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

typedef struct {
    dx_model *m;
    network *plain;
    float *x, *seed, *inputs, *scores;
    int top, stop;
    dx_target target;
    image photo;
} bench;

typedef void (*step_fn)(bench *b);

static double median_of(int rounds, step_fn step, bench *b)
{
    double t[64];
    if (rounds > 64) rounds = 64;
    step(b); /* warm-up: first-touch allocations, OpenBLAS's thread pool */
    for (int r = 0; r < rounds; ++r) {
        double t0 = now();
        step(b);
        t[r] = now() - t0;
    }
    qsort(t, rounds, sizeof *t, compare);
    return rounds % 2 ? t[rounds / 2] : (t[rounds / 2 - 1] + t[rounds / 2]) / 2;
}

static void fail(const dx_error *err)
{
    fprintf(stderr, "bench: %s\n", err->msg);
    exit(1);
}

static void plain_forward(bench *b) { network_predict(b->plain, b->x); }
static void forward(bench *b) { dx_forward(b->m, b->x); }
static void backward(bench *b)
{
    dx_error err;
    if (dx_backward(b->m, b->top, b->seed, b->stop, &err) != 0) fail(&err);
}
static void gradcam(bench *b)
{
    forward(b);
    backward(b);
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
static void score(bench *b)
{
    dx_error err;
    if (dx_score_inputs(b->m, &b->target, b->inputs, SCORE_INPUTS, b->scores, &err) != 0) fail(&err);
}

/* a score of the head's outputs that any model has: the first output */
static float first_output(const dx_target *t, const dx_model *m, float *seed)
{
    const layer *l = &m->net->layers[t->layer];
    if (seed) {
        memset(seed, 0, sizeof(float) * l->outputs);
        seed[0] = 1;
    }
    return l->output[0];
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CFG WEIGHTS [ROUNDS [CSV [PHOTO]]]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 7;
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

    dx_set_blas(0);
    dx_set_fast_layers(b.m, 0);
    double darknet = median_of(rounds, forward, &b);
    dx_set_blas(1);
    double blas = median_of(rounds, forward, &b);
    dx_set_fast_layers(b.m, 1);
    double fast = median_of(rounds, forward, &b);
    int grouped = 0;
    for (int i = 0; i < b.m->n; ++i) grouped += b.m->hooks[i].fast_forward != NULL;

    b.stop = -1;
    double to_input = median_of(rounds, backward, &b);
    b.stop = dx_default_layer(b.m);
    double cam = median_of(rounds, gradcam, &b);
    double cam_api = 0;
    int classifier = net->layers[b.m->head].type == SOFTMAX;
    if (classifier) {
        if (dx_load_photo(photo, &b.photo, &err) != 0) fail(&err);
        cam_api = median_of(rounds, gradcam_api, &b);
        free_image(b.photo);
    }

    /* the model alone (one network, Grad-CAM's buffers), before the bench loads more copies */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak_mb = ru.ru_maxrss / 1024.0;

    /* the same cfg loaded by Darknet alone, at batch 1, with no hooks */
    char batch1[64];
    int fd = dx_cfg_batch1_copy(argv[1], batch1, sizeof batch1, &err);
    if (fd < 0) fail(&err);
    fflush(stderr);
    int saved = dup(2);
    freopen("/dev/null", "w", stderr);
    b.plain = load_network(batch1, argv[2], 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    dx_set_blas(0);
    double plain_darknet = median_of(rounds, plain_forward, &b);
    dx_set_fast_layers(b.m, 0);
    double darknet_again = median_of(rounds, forward, &b); /* hooks overhead: measured side by side */
    dx_set_fast_layers(b.m, 1);
    dx_set_blas(1);

    b.inputs = malloc(sizeof(float) * net->inputs * SCORE_INPUTS);
    b.scores = malloc(sizeof(float) * SCORE_INPUTS);
    for (size_t k = 0; k < (size_t)net->inputs * SCORE_INPUTS; ++k) b.inputs[k] = (float)(k % 251) / 251;
    b.target = (dx_target){.layer = b.m->head, .eval = first_output};
    int score_rounds = rounds < 3 ? rounds : 3;
    b.m->score_batch = 1;
    double score1 = median_of(score_rounds, score, &b) / SCORE_INPUTS;
    b.m->score_batch = SCORE_BATCH;
    double score_n = median_of(score_rounds, score, &b) / SCORE_INPUTS;

    getrusage(RUSAGE_SELF, &ru);
    double peak_batch_mb = ru.ru_maxrss / 1024.0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    printf("%s (%ld cores, median of %d)\n", argv[1], cores, rounds);
    printf("  forward, Darknet's gemm                 %8.1f ms\n", 1e3 * darknet);
    printf("  forward, BLAS gemm_cpu                  %8.1f ms  (x%.2f)\n", 1e3 * blas, darknet / blas);
    printf("  forward, BLAS + %2d grouped stand-ins    %8.1f ms  (x%.2f over BLAS, x%.2f overall)\n",
           grouped, 1e3 * fast, blas / fast, darknet / fast);
    printf("  hooks overhead (hooked / plain Darknet)    %6.3f\n", darknet_again / plain_darknet);
    printf("  backward to the input / forward            %6.3f\n", to_input / fast);
    printf("  Grad-CAM at layer %3d / forward            %6.3f  (forward + backward)\n", b.stop, cam / fast);
    if (classifier) printf("  dx_explain_image Grad-CAM / forward        %6.3f  (letterbox, map, top-5 included)\n", cam_api / fast);
    printf("  scoring per input: batch 1 %.1f ms, batch %d %.1f ms  (x%.2f)\n", 1e3 * score1,
           SCORE_BATCH, 1e3 * score_n, score1 / score_n);
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
                   "batch_speedup,peak_rss_mb,peak_rss_with_batch_mb\n", SCORE_BATCH);
    fprintf(f, "%ld,%s,%ld,%d,%.2f,%.2f,%.2f,%.3f,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.2f,%.2f,%.3f,%.1f,%.1f\n",
            (long)time(NULL), argv[1], cores, rounds, 1e3 * darknet, 1e3 * blas, 1e3 * fast,
            darknet / blas, grouped, blas / fast, darknet / fast, darknet_again / plain_darknet,
            to_input / fast, cam / fast, classifier ? cam_api / fast : 0, 1e3 * score1, 1e3 * score_n,
            score1 / score_n, peak_mb, peak_batch_mb);
    fclose(f);
    free(b.x);
    free(b.seed);
    free(b.inputs);
    free(b.scores);
    free_network(b.plain);
    dx_close(b.m);
    return 0;
}
