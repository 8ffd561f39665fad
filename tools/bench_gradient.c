/* Benchmark: what each gradient-family method costs, as a ratio to one forward pass.
 *   build/bench-gradient CFG WEIGHTS IMAGE [ROUNDS]
 * For each method at its defaults (ig: 64 steps; the SmoothGrad family: 25 samples), the best of
 * ROUNDS (default 3) runs of the method alone (the photo's forward excluded), divided by the
 * best of 5 hooked forwards of the same model. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <darknet.h> /* the benchmark times the Darknet's own forward too */
#include "engine.h"
#include "io/image.h"

static const dx_method methods[] = {
    DX_METHOD_SALIENCY, DX_METHOD_INPUTXGRAD, DX_METHOD_IG, DX_METHOD_SMOOTHGRAD, DX_METHOD_SMOOTHGRAD2,
    DX_METHOD_VARGRAD, DX_METHOD_GUIDEDBP, DX_METHOD_DECONVNET, DX_METHOD_GUIDEDGRADCAM};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s CFG WEIGHTS IMAGE [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 4 ? atoi(argv[4]) : 3;
    dx_error err;
    dx_model *m = dx_open(argv[1], argv[2], NULL, &err);
    dx_image photo;
    if (!m || !(photo = dx_backend_load_image(argv[3], 0, 0)).data) {
        fprintf(stderr, "%s\n", m ? argv[3] : err.msg);
        return 1;
    }
    network *net = dx_network(m);
    dx_image boxed = dx_backend_letterbox_image(photo, net->w, net->h);
    double forward = 1e30;
    for (int r = 0; r < 5; ++r) {
        double t0 = now_ms();
        dx_forward(m, boxed.data);
        double t = now_ms() - t0;
        if (t < forward) forward = t;
    }
    printf("%s on %s: forward %.1f ms (best of 5); method / forward (best of %d):\n", argv[1], argv[3],
           forward, rounds);
    for (size_t k = 0; k < sizeof methods / sizeof *methods; ++k) {
        dx_request req;
        dx_request_init(&req);
        req.method = methods[k];
        double best = 1e30;
        for (int r = 0; r < rounds; ++r) {
            dx_result res;
            if (dx_explain_image(m, photo, &req, &res, &err) != 0) {
                fprintf(stderr, "%s: %s\n", dx_method_name(methods[k]), err.msg);
                return 1;
            }
            if (res.ms_method < best) best = res.ms_method;
            dx_result_free(&res);
        }
        printf("  %-14s %8.1f ms  %7.2f\n", dx_method_name(methods[k]), best, best / forward);
    }
    dx_free_image(boxed);
    dx_free_image(photo);
    dx_close(m);
    return 0;
}
