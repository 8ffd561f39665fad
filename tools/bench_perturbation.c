/* Benchmark: the perturbation methods at their default settings on one model and photo.
 *   build/bench-perturbation CFG WEIGHTS IMAGE [BATCH]
 * Prints CSV: one row per method (occlusion twice: by incremental inference, the default, and
 * by full forwards), after a row for the forward itself (median of 5): forwards run, wall
 * seconds, CPU seconds of the process (on a shared machine the wall clock measures the
 * neighbours too; CPU time does not), and both per forward and as multiples of one forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <darknet.h> /* the benchmark times the Darknet's own forward too */
#include "engine.h"
#include "io/image.h"

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int ascending(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double stat_or(const dx_result *r, const char *name, double fallback)
{
    for (int k = 0; k < r->n_stats; ++k)
        if (!strcmp(r->stats[k].name, name)) return r->stats[k].value;
    return fallback;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s CFG WEIGHTS IMAGE [BATCH]\n", argv[0]);
        return 2;
    }
    dx_error err;
    dx_model *m = dx_open(argv[1], argv[2], NULL, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const char *model = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
    network *net = dx_network(m);
    dx_image photo = dx_backend_load_image(argv[3], 0, 0);
    dx_image boxed = dx_backend_letterbox_image(photo, net->w, net->h);
    double wall[5], cpu[5];
    for (int k = 0; k < 5; ++k) {
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        dx_forward(m, boxed.data);
        wall[k] = clock_s(CLOCK_MONOTONIC) - w0;
        cpu[k] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    qsort(wall, 5, sizeof(double), ascending);
    qsort(cpu, 5, sizeof(double), ascending);
    double forward_wall = wall[2], forward_cpu = cpu[2];
    printf("model,method,forwards,wall_s,cpu_s,cpu_s_per_forward,wall_forward_multiple,cpu_forward_multiple\n");
    printf("%s,forward,1,%.3f,%.3f,%.4f,1.0,1.0\n", model, forward_wall, forward_cpu, forward_cpu);
    /* occlusion twice: by incremental inference (the default) and by full forwards */
    const struct { dx_method method; int incremental; const char *name; } rows[] = {
        {DX_METHOD_OCCLUSION, 1, "occlusion"}, {DX_METHOD_OCCLUSION, 0, "occlusion-full-forwards"},
        {DX_METHOD_RISE, 1, "rise"}, {DX_METHOD_LIME, 1, "lime"}, {DX_METHOD_KERNELSHAP, 1, "kernelshap"}};
    for (size_t k = 0; k < sizeof rows / sizeof *rows; ++k) {
        dx_request req;
        dx_request_init(&req);
        req.method = rows[k].method;
        dx_set_incremental(m, rows[k].incremental);
        if (argc > 4) req.batch = atoi(argv[4]);
        dx_result r;
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        int rc = dx_explain_image(m, photo, &req, &r, &err);
        double seconds = clock_s(CLOCK_MONOTONIC) - w0, cpu_seconds = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (rc != 0) {
            fprintf(stderr, "%s: %s\n", rows[k].name, err.msg);
            return 1;
        }
        double forwards = stat_or(&r, "forwards", 0);
        printf("%s,%s,%.0f,%.2f,%.2f,%.4f,%.1f,%.1f\n", model, rows[k].name, forwards, seconds,
               cpu_seconds, cpu_seconds / forwards, seconds / forward_wall, cpu_seconds / forward_cpu);
        fflush(stdout);
        dx_result_free(&r);
    }
    dx_free_image(boxed);
    dx_free_image(photo);
    dx_close(m);
    return 0;
}
