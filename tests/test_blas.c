/* OpenBLAS's kernel (plugin/blas_kernel.c): which core type the command asks OpenBLAS for, and
 * that the maps do not depend on it beyond float rounding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cblas.h>
#include <criterion/criterion.h>
#include "blas_kernel.h"
#include "helpers.h"
#include "io/render.h"
#include "../tools/shapes.h"

Test(blas, better_coretype_by_cpu_features)
{
    /* a CPU with AVX-512 runs the SkylakeX kernels, whatever weaker ones OpenBLAS chose */
    cr_expect_str_eq(dx_blas_better_coretype("Prescott", DX_CPU_SKYLAKEX), "SkylakeX");
    cr_expect_str_eq(dx_blas_better_coretype("Haswell", DX_CPU_SKYLAKEX), "SkylakeX");
    cr_expect_str_eq(dx_blas_better_coretype("Sandybridge", DX_CPU_SKYLAKEX), "SkylakeX");
    cr_expect_null(dx_blas_better_coretype("SkylakeX", DX_CPU_SKYLAKEX));
    cr_expect_null(dx_blas_better_coretype("skylakex", DX_CPU_SKYLAKEX));
    cr_expect_null(dx_blas_better_coretype("CooperLake", DX_CPU_SKYLAKEX));
    /* AVX2 and FMA without AVX-512: Haswell's; Zen's are as good */
    cr_expect_str_eq(dx_blas_better_coretype("Prescott", DX_CPU_HASWELL), "Haswell");
    cr_expect_null(dx_blas_better_coretype("Zen", DX_CPU_HASWELL));
    cr_expect_null(dx_blas_better_coretype("Haswell", DX_CPU_HASWELL));
    /* part of a set is not enough: AVX-512F alone, AVX2 without FMA, nothing */
    cr_expect_str_eq(dx_blas_better_coretype("Prescott", DX_CPU_HASWELL | DX_CPU_AVX512F), "Haswell");
    cr_expect_null(dx_blas_better_coretype("Prescott", DX_CPU_AVX2));
    cr_expect_null(dx_blas_better_coretype("Prescott", 0));
    cr_expect_null(dx_blas_better_coretype(NULL, DX_CPU_SKYLAKEX));
}

/* The NPY file's float32 values (malloc'd, *n of them); asserts it is one. */
static float *read_npy(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: cannot open", path);
    unsigned char head[10];
    cr_assert_eq(fread(head, 1, 10, f), 10, "%s: too short", path);
    cr_assert(memcmp(head, "\x93NUMPY\x01", 7) == 0, "%s: not NPY 1.x", path);
    long data = 10 + head[8] + 256L * head[9];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    cr_assert_gt(size, data, "%s: no values", path);
    *n = (size_t)(size - data) / sizeof(float);
    float *v = malloc(*n * sizeof(float));
    cr_assert(v);
    fseek(f, data, SEEK_SET);
    cr_assert_eq(fread(v, sizeof(float), *n, f), *n);
    fclose(f);
    return v;
}

/* Largest |a - b| over the largest |a|, of two NPY files of the same size. */
static double relative_difference(const char *a_path, const char *b_path)
{
    size_t na, nb;
    float *a = read_npy(a_path, &na), *b = read_npy(b_path, &nb);
    cr_assert_eq(na, nb, "%s and %s differ in size", a_path, b_path);
    double diff = 0, peak = 0;
    for (size_t i = 0; i < na; ++i) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        peak = fmax(peak, fabs((double)a[i]));
    }
    free(a);
    free(b);
    cr_assert_gt(peak, 0, "%s is blank", a_path);
    return diff / peak;
}

/* `METHOD MODEL` run in dir twice, with OpenBLAS's SSE3 kernels forced (OPENBLAS_CORETYPE=Prescott)
 * and with the command's own choice (unset); the two maps (NPY of `map`: the output's name after
 * the prefix) equal within float rounding. */
static void expect_same_map_either_kernel(const char *dir, const char *method, const char *model,
                                          const char *map)
{
    char args[2048], a[1024], b[1024];
    snprintf(args, sizeof args, "%s %s -out sse3", method, model);
    setenv("OPENBLAS_CORETYPE", "Prescott", 1);
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s (Prescott): %s", args, r.err);
    snprintf(args, sizeof args, "%s %s -out auto", method, model);
    unsetenv("OPENBLAS_CORETYPE");
    r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s: %s", args, r.err);
    snprintf(a, sizeof a, "%s/sse3%s.npy", dir, map);
    snprintf(b, sizeof b, "%s/auto%s.npy", dir, map);
    double d = relative_difference(a, b);
    cr_log_info("%s %s: largest difference %.3g of the peak", method, model, d);
    cr_expect_leq(d, 1e-5, "%s %s: the maps differ by %.3g of the peak", method, model, d);
}

TestSuite(blas, .init = make_scratch, .fini = remove_scratch);

/* The embedded models on a shapes image, the test nets with random weights (the detector at a
 * region: random weights detect nothing) on uniform noise: gradient, CAM and LRP maps. Not on
 * flat colours: there a max-pooling window of equal values routes the gradient by rounding alone
 * (the random test detector's saliency on the shapes image: 4% of its peak). */
Test(blas, maps_equal_with_either_kernel, .timeout = 300)
{
    char dir[512], model[2048];
    scratch_path(dir, sizeof dir, ".");
    const char *root = getenv("DX_ROOT");
    dx_image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(7, 3, 64, 1, &photo, objs);
    char path[600];
    dx_error err = {{0}};
    snprintf(path, sizeof path, "%s/shapes.png", dir);
    cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
    dx_free_image(photo);
    photo = dx_make_image(48, 40, 3);
    rng noise = {7};
    for (int i = 0; i < 48 * 40 * 3; ++i) photo.data[i] = (float)rng_uniform(&noise);
    snprintf(path, sizeof path, "%s/noise.png", dir);
    cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
    dx_free_image(photo);
    static const char *const methods[] = {"gradcam", "saliency", "lrp"};
    for (int k = 0; k < 3; ++k) {
        snprintf(model, sizeof model, "%s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights shapes.png",
                 root, root);
        expect_same_map_either_kernel(dir, methods[k], model, "");
        snprintf(model, sizeof model, "%s/cfg/shapes-detector.cfg %s/cfg/shapes-detector.weights shapes.png",
                 root, root);
        expect_same_map_either_kernel(dir, methods[k], model, "_box0");
    }

    /* the test nets, random weights */
    static const char *const nets[] = {"test-classifier", "test-detector"};
    for (int n = 0; n < 2; ++n) {
        char cfg[1024], weights[1024], cmd[2100];
        snprintf(cfg, sizeof cfg, "%s/%s.cfg", dir, nets[n]);
        snprintf(weights, sizeof weights, "%s/%s.weights", dir, nets[n]);
        snprintf(cmd, sizeof cmd, "cp %s/cfg/%s.cfg %s", root, nets[n], cfg);
        cr_assert_eq(system(cmd), 0);
        dx_close(open_random(cfg, weights, 2));
        snprintf(model, sizeof model, "%s.cfg %s.weights noise.png%s", nets[n], nets[n],
                 n ? " -region 10,10,30,20" : "");
        for (int k = 0; k < 3; ++k) expect_same_map_either_kernel(dir, methods[k], model, n ? "_region" : "");
    }
}

/* The number of values of the JSON array after "key": in text (-1: no such key). */
static int array_length(const char *text, const char *key)
{
    const char *at = strstr(text, key);
    if (!at || !(at = strchr(at, '['))) return -1;
    int n = 0;
    for (const char *c = at + 1; *c && *c != ']'; ++c) n += *c == ',';
    return strchr(at, ']') == at + 1 + strspn(at + 1, " \n") ? 0 : n + 1;
}

/* `-timing` writes each layer's forward time on classifiers and detectors alike (a detector's
 * JSON wrote none), and the kernel OpenBLAS runs: the one asked for with OPENBLAS_CORETYPE, else
 * the command's choice (on a CPU where OpenBLAS's own is weaker, the better one); and its threads:
 * OPENBLAS_NUM_THREADS, else one; and how many convolutions oneDNN computed (all by default, none
 * with DX_ONEDNN=0). */
Test(blas, timing_names_layers_and_kernel, .timeout = 120)
{
    char dir[512], args[2048], path[1024];
    scratch_path(dir, sizeof dir, ".");
    const char *root = getenv("DX_ROOT");
    dx_image photo = dx_make_image(64, 64, 3);
    for (int i = 0; i < 64 * 64 * 3; ++i) photo.data[i] = (float)(i % 97) / 97;
    dx_error err = {{0}};
    snprintf(path, sizeof path, "%s/photo.png", dir);
    cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
    dx_free_image(photo);
    static char json[1 << 16];
    static const char *const models[] = {"shapes-classifier", "shapes-detector"};
    static const int layers[] = {20, 18}, convolutions[] = {11, 10}; /* their [layer] counts */
    const char *better = dx_blas_better_coretype(openblas_get_corename(), dx_cpu_features());
    for (int k = 0; k < 2; ++k) {
        for (int forced = 0; forced < 2; ++forced) {
            if (forced) setenv("OPENBLAS_CORETYPE", "Prescott", 1), setenv("OPENBLAS_NUM_THREADS", "2", 1), setenv("DX_ONEDNN", "0", 1);
            else unsetenv("OPENBLAS_CORETYPE"), unsetenv("OPENBLAS_NUM_THREADS"), unsetenv("DX_ONEDNN");
            snprintf(args, sizeof args, "gradcam %s/cfg/%s.cfg %s/cfg/%s.weights photo.png%s -timing -out t", root,
                     models[k], root, models[k], k ? " -region 8,8,30,30" : "");
            run_result r = run_dx(dir, args);
            cr_assert_eq(r.status, 0, "%s: %s", args, r.err);
            snprintf(path, sizeof path, "%s/t.json", dir);
            read_text_into(path, json, sizeof json);
            cr_expect_eq(array_length(json, "\"layer_forward\""), layers[k], "%s: %d layer times, not %d",
                         models[k], array_length(json, "\"layer_forward\""), layers[k]);
            char want[128];
            snprintf(want, sizeof want, "\"blas_kernel\": \"%s\"",
                     forced ? "Prescott" : better ? better : openblas_get_corename());
            cr_expect(strstr(json, want), "%s%s: no %s in %s", models[k], forced ? " (Prescott)" : "", want, json);
            snprintf(want, sizeof want, "\"blas_threads\": %d", forced ? 2 : 1);
            cr_expect(strstr(json, want), "%s%s: no %s", models[k], forced ? " (2 threads asked)" : "", want);
            snprintf(want, sizeof want, "\"onednn_layers\": %d", forced ? 0 : convolutions[k]);
            cr_expect(strstr(json, want), "%s%s: no %s", models[k], forced ? " (DX_ONEDNN=0)" : "", want);
        }
        unsetenv("DX_ONEDNN");
    }
}

/* The JSON at dir/name's "layer_forward" against the forward written beside it (the number after
 * `"forward_key": `): one time per layer, each >= 0, and together no more than that forward, of
 * which they are parts. */
static void expect_layer_times_within_forward(const char *dir, const char *name, int layers, const char *forward_key)
{
    char path[1024], key[64];
    static char json[1 << 16];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    read_text_into(path, json, sizeof json);
    snprintf(key, sizeof key, "\"%s\": ", forward_key);
    const char *at = strstr(json, key);
    cr_assert(at, "%s: no %s", name, key);
    double forward = strtod(at + strlen(key), NULL), sum = 0;
    cr_assert_eq(array_length(json, "\"layer_forward\""), layers, "%s: %d layer times, not %d", name,
                 array_length(json, "\"layer_forward\""), layers);
    const char *p = strchr(strstr(json, "\"layer_forward\""), '[') + 1;
    for (int i = 0; i < layers; ++i, p = strchr(p, ',') + 1) {
        double ms = strtod(p, NULL);
        cr_expect_geq(ms, 0, "%s: layer %d took %g ms", name, i, ms);
        sum += ms;
    }
    cr_log_info("%s: layer times sum to %g ms, the forward %g ms", name, sum, forward);
    cr_expect_leq(sum, forward, "%s: the layers' times sum to %g ms, more than the forward's %g ms", name, sum,
                  forward);
}

/* -timing's layer times are those of the forward the JSON times (timings_ms.forward, a detector's
 * forward_ms), whatever ran before it in the same process: the photos of a -list before it, the
 * methods of `all` before it (they were the mean over every forward since the model was opened:
 * a second photo's or method's layers summed to more than its own forward). */
Test(blas, timing_layers_are_the_forwards_own, .timeout = 180)
{
    char dir[512], args[4096], path[1024];
    scratch_path(dir, sizeof dir, ".");
    const char *root = getenv("DX_ROOT");
    dx_error err = {{0}};
    for (int k = 0; k < 2; ++k) {
        dx_image photo;
        shapes_object objs[SHAPES_MAX_OBJECTS];
        shapes_draw(11, k, 96, 3, &photo, objs);
        snprintf(path, sizeof path, "%s/photo%d.png", dir, k);
        cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
        dx_free_image(photo);
    }
    snprintf(path, sizeof path, "%s/list.txt", dir);
    write_text(path, "photo0.png\nphoto1.png\n");
    static const char *const models[] = {"shapes-classifier", "shapes-detector"};
    static const int layers[] = {20, 18};
    for (int k = 0; k < 2; ++k) {
        const char *forward = k ? "forward_ms" : "forward", *boxes = k ? " -boxes all -thresh 0.05" : "";
        char model[2048];
        snprintf(model, sizeof model, "%s/cfg/%s.cfg %s/cfg/%s.weights", root, models[k], root, models[k]);
        snprintf(args, sizeof args, "gradcam %s -list list.txt -outdir list%d%s -timing", model, k, boxes);
        run_result r = run_dx(dir, args);
        cr_assert_eq(r.status, 0, "%s: %s", args, r.err);
        for (int p = 0; p < 2; ++p) {
            char name[64];
            snprintf(name, sizeof name, "list%d/photo%d_gradcam.json", k, p);
            expect_layer_times_within_forward(dir, name, layers[k], forward);
        }
        /* `all` writes one map's JSON per method, a detector's box 0's too */
        snprintf(path, sizeof path, "%s/all%d", dir, k);
        cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
        snprintf(args, sizeof args, "all %s photo0.png -methods gradcam,saliency -out all%d/ -timing", model, k);
        r = run_dx(dir, args);
        cr_assert_eq(r.status, 0, "%s: %s", args, r.err);
        expect_layer_times_within_forward(dir, k ? "all1/photo0_gradcam.json" : "all0/photo0_gradcam.json",
                                          layers[k], "forward");
        expect_layer_times_within_forward(dir, k ? "all1/photo0_saliency.json" : "all0/photo0_saliency.json",
                                          layers[k], "forward");
        if (k) { /* a detector's one box, and each box */
            snprintf(args, sizeof args, "gradcam %s photo1.png -box 0 -thresh 0.05 -out box -timing", model);
            r = run_dx(dir, args);
            cr_assert_eq(r.status, 0, "%s: %s", args, r.err);
            expect_layer_times_within_forward(dir, "box.json", layers[k], forward);
            snprintf(args, sizeof args, "gradcam %s photo1.png%s -out boxes -timing", model, boxes);
            r = run_dx(dir, args);
            cr_assert_eq(r.status, 0, "%s: %s", args, r.err);
            expect_layer_times_within_forward(dir, "boxes.json", layers[k], forward);
        }
    }
}
