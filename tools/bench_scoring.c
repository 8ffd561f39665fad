/* Benchmark: the batch-1 scoring methods with DX_THREADS=1 against DX_THREADS=N in one process
 * (the workers' copies opened once, before the timed runs, as a program explaining many photos
 * keeps them), interleaved so that a busy neighbour slows both alike.
 *   build/bench-scoring CFG WEIGHTS IMAGE ROUNDS THREADS METHOD[:masks] ...
 * Prints CSV: one row per method and round (the method's wall seconds with 1 and with THREADS
 * threads, their ratio, the 1-minute load average), then each method's median ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backends/backend.h"
#include "explain.h"
#include "io/image.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int ascending(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double load_average(void)
{
    double load = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &load) != 1) load = -1;
    if (f) fclose(f);
    return load;
}

static double run(dx_model *m, dx_image photo, const dx_request *req, const char *threads)
{
    setenv("DX_THREADS", threads, 1);
    dx_result r;
    dx_error err;
    double t0 = now();
    if (dx_explain_image(m, photo, req, &r, &err) != 0) {
        fprintf(stderr, "%s: %s\n", dx_method_name(req->method), err.msg);
        exit(1);
    }
    double seconds = now() - t0;
    dx_result_free(&r);
    return seconds;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s CFG WEIGHTS IMAGE ROUNDS THREADS METHOD[:masks] ...\n", argv[0]);
        return 2;
    }
    dx_error err;
    dx_model *m = dx_open(argv[1], argv[2], NULL, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    dx_image photo = dx_backend_load_image(argv[3], 0, 0);
    int rounds = atoi(argv[4]);
    const char *threads = argv[5];
    const char *model = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
    printf("model,method,round,s_1_thread,s_%s_threads,ratio,load\n", threads);
    for (int a = 6; a < argc; ++a) {
        char name[64];
        snprintf(name, sizeof name, "%s", argv[a]);
        char *colon = strchr(name, ':');
        if (colon) *colon = 0;
        dx_request req;
        dx_request_init(&req);
        if (dx_method_from_name(name, &req.method) != 0) {
            fprintf(stderr, "no method %s\n", name);
            return 2;
        }
        if (colon) req.masks = req.samples = atoi(colon + 1);
        double first = run(m, photo, &req, threads); /* opens the copies */
        double ratios[64];
        int n = rounds < 64 ? rounds : 64;
        for (int k = 0; k < n; ++k) {
            double one = run(m, photo, &req, "1"), many = run(m, photo, &req, threads);
            ratios[k] = one / many;
            printf("%s,%s,%d,%.3f,%.3f,%.3f,%.2f\n", model, argv[a], k + 1, one, many, ratios[k], load_average());
            fflush(stdout);
        }
        qsort(ratios, n, sizeof(double), ascending);
        printf("%s,%s,median,,,%.3f,(first run with the copies' opening: %.3f s)\n", model, argv[a], ratios[n / 2], first);
    }
    dx_free_image(photo);
    dx_close(m);
    return 0;
}
