/* Benchmark: what the plugin costs next to Darknet's own forward, on a real model.
 *   build/bench-engine CFG WEIGHTS [ROUNDS]
 * Prints, as ratios to Darknet's plain forward (this machine is noisy; ratios travel):
 *   hooked forward / plain forward     (the hooks' overhead, timing off and on)
 *   input-gradient backward / forward  (the plugin's reverse pass down to the image)
 *   Grad-CAM backward / forward        (down to the default layer only)
 * Each time is the best of ROUNDS runs (default 5). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef void (*step_fn)(void *ctx);

static double best_of(int rounds, step_fn step, void *ctx)
{
    double best = 1e30;
    for (int r = 0; r < rounds; ++r) {
        double t0 = now();
        step(ctx);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

typedef struct {
    dx_model *m;
    network *plain;
    float *x, *seed;
    int top, stop;
} bench;

static void plain_forward(void *c) { bench *b = c; network_predict(b->plain, b->x); }
static void hooked_forward(void *c) { bench *b = c; dx_forward(b->m, b->x); }
static void backward(void *c)
{
    bench *b = c;
    dx_error err;
    if (dx_backward(b->m, b->top, b->seed, b->stop, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CFG WEIGHTS [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    dx_error err;
    bench b = {0};
    b.m = dx_open(argv[1], argv[2], NULL, &err);
    if (!b.m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* the same cfg loaded by Darknet alone, at batch 1, with no hooks */
    char batch1[64];
    int fd = dx_cfg_batch1_copy(argv[1], batch1, sizeof batch1, &err);
    fflush(stderr);
    b.plain = load_network(batch1, argv[2], 0);
    close(fd);
    network *net = dx_network(b.m);
    b.x = malloc(sizeof(float) * net->inputs);
    for (int k = 0; k < net->inputs; ++k) b.x[k] = (float)(k % 255) / 255;
    b.top = b.m->head;
    b.seed = calloc(net->layers[b.top].outputs, sizeof(float));
    b.seed[0] = 1;

    double plain = best_of(rounds, plain_forward, &b);
    double hooked = best_of(rounds, hooked_forward, &b);
    dx_set_layer_timing(b.m, 1);
    double timed = best_of(rounds, hooked_forward, &b);
    dx_set_layer_timing(b.m, 0);
    b.stop = -1;
    double to_input = best_of(rounds, backward, &b);
    b.stop = dx_default_layer(b.m);
    double to_layer = best_of(rounds, backward, &b);

    printf("%s: Darknet forward %.1f ms (best of %d)\n", argv[1], 1e3 * plain, rounds);
    printf("  hooked forward / plain forward          %.3f\n", hooked / plain);
    printf("  hooked forward with timing / plain      %.3f\n", timed / plain);
    printf("  backward to the input / forward         %.3f\n", to_input / plain);
    printf("  backward to layer %d (Grad-CAM) / forward %.3f\n", b.stop, to_layer / plain);
    free(b.x);
    free(b.seed);
    free_network(b.plain);
    dx_close(b.m);
    return 0;
}
