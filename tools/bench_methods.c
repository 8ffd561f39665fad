/* Benchmark: each CAM method's cost as a ratio to one forward pass of the same model.
 *   build/bench-methods CFG WEIGHTS IMAGE [ROUNDS] [BATCH]
 * For each method (and Grad-CAM with -eigen_smooth, -aug_smooth) prints the method's own time
 * (the explain call minus its forward on the photo) divided by the best forward time. Each is
 * the best of ROUNDS explain calls (default 3); Score-CAM and Ablation-CAM, which run one
 * forward (or the layers above the CAM layer) per channel, run once. BATCH is Score-CAM's
 * -batch (default 1). On a detector the target is box 0 (the highest score) and the CAM layer
 * the last feature layer feeding its head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <darknet.h> /* the benchmark times the Darknet's own forward too */
#include "engine.h"
#include "io/image.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s CFG WEIGHTS IMAGE [ROUNDS] [BATCH]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 4 ? atoi(argv[4]) : 3, batch = argc > 5 ? atoi(argv[5]) : 1;
    dx_error err;
    dx_model *m = dx_open(argv[1], argv[2], NULL, &err);
    dx_image photo;
    if (!m || dx_load_photo(argv[3], &photo, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    network *net = dx_network(m);
    dx_image boxed = dx_backend_letterbox_image(photo, net->w, net->h);
    double forward = 1e30;
    for (int r = 0; r < rounds + 2; ++r) {
        double t0 = now_ms();
        dx_forward(m, boxed.data);
        double t = now_ms() - t0;
        if (t < forward) forward = t;
    }
    printf("%s: forward %.1f ms (best of %d)%s\n", argv[1], forward, rounds + 2,
           dx_is_detector(m) ? ", target: box 0" : "");
    printf("  %-26s %s\n", "method", "time / forward");
    const struct { dx_method method; int eigen_smooth, aug_smooth; } runs[] = {
        {DX_METHOD_CAM, 0, 0},      {DX_METHOD_GRADCAM, 0, 0},      {DX_METHOD_GRADCAMPP, 0, 0},
        {DX_METHOD_XGRADCAM, 0, 0}, {DX_METHOD_HIRESCAM, 0, 0},     {DX_METHOD_LAYERCAM, 0, 0},
        {DX_METHOD_EIGENCAM, 0, 0}, {DX_METHOD_EIGENGRADCAM, 0, 0}, {DX_METHOD_SCORECAM, 0, 0},
        {DX_METHOD_ABLATIONCAM, 0, 0}, {DX_METHOD_GRADCAM, 1, 0},   {DX_METHOD_GRADCAM, 0, 1},
    };
    for (size_t k = 0; k < sizeof runs / sizeof *runs; ++k) {
        dx_request req;
        dx_request_init(&req);
        req.method = runs[k].method;
        req.eigen_smooth = runs[k].eigen_smooth;
        req.aug_smooth = runs[k].aug_smooth;
        req.batch = batch;
        int many = req.method == DX_METHOD_SCORECAM || req.method == DX_METHOD_ABLATIONCAM;
        double best = 1e30;
        for (int r = 0; r < (many ? 1 : rounds); ++r) {
            dx_result res;
            if (dx_explain_image(m, photo, &req, &res, &err) != 0) {
                printf("  %-26s %s\n", dx_method_name(req.method), err.msg);
                break;
            }
            if (res.ms_method < best) best = res.ms_method;
            dx_result_free(&res);
        }
        if (best == 1e30) continue;
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", dx_method_name(req.method), runs[k].eigen_smooth ? " -eigen_smooth" : "",
                 runs[k].aug_smooth ? " -aug_smooth" : "");
        if (req.method == DX_METHOD_SCORECAM) snprintf(name + strlen(name), sizeof name - strlen(name), " -batch %d", batch);
        printf("  %-26s %8.2f\n", name, best / forward);
    }
    dx_free_image(boxed);
    dx_free_image(photo);
    dx_close(m);
    return 0;
}
