/* The forward and Grad-CAM on one backend (make bench-backends runs it for each, alternately):
 *   bench-backend CFG WEIGHTS [ROUNDS]
 * prints one line: backend, cfg, the median forward (ms), the median Grad-CAM (forward + reverse
 * pass down to the default CAM layer of the head's first output, ms) and their ratio. Only the
 * plugin's API: the same program for every Darknet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CFG WEIGHTS [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 9;
    if (rounds < 1 || rounds > 1000) rounds = 9;
    dx_error err;
    dx_model *m = dx_open(argv[1], argv[2], NULL, &err);
    if (!m) {
        fprintf(stderr, "bench-backend: %s\n", err.msg);
        return 1;
    }
    float *x = malloc(sizeof(float) * m->net->inputs), *seed = calloc(m->net->layers[m->head].outputs, sizeof(float));
    double *fw = malloc(sizeof(double) * rounds), *cam = malloc(sizeof(double) * rounds);
    if (!x || !seed || !fw || !cam) {
        fprintf(stderr, "bench-backend: out of memory\n");
        return 1;
    }
    for (int k = 0; k < m->net->inputs; ++k) x[k] = (float)((k * 2654435761u) % 1000) / 1000.f;
    seed[0] = 1.f;
    int cam_layer = dx_default_layer_for(m, m->head);
    dx_forward(m, x); /* warm-up: first-touch pages, thread pools */
    for (int r = 0; r < rounds; ++r) {
        double t0 = dx_now_ms();
        dx_forward(m, x);
        double t1 = dx_now_ms();
        dx_forward(m, x);
        if (dx_backward(m, m->head, seed, cam_layer, &err) != 0) {
            fprintf(stderr, "bench-backend: %s\n", err.msg);
            return 1;
        }
        double t2 = dx_now_ms();
        fw[r] = t1 - t0, cam[r] = t2 - t1;
    }
    double f = median(fw, rounds), c = median(cam, rounds);
    const char *name = strrchr(argv[1], '/');
    printf("%-9s %-28s forward %8.1f ms   Grad-CAM (layer %3d) %8.1f ms   Grad-CAM / forward %5.2f\n",
           dx_backend_name(), name ? name + 1 : argv[1], f, cam_layer, c, c / f);
    free(x), free(seed), free(fw), free(cam);
    dx_close(m);
    return 0;
}
