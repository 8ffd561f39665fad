/* The gradient family (saliency, input x gradient, Integrated Gradients, SmoothGrad, SmoothGrad²,
 * VarGrad, guided backprop, DeconvNet, guided Grad-CAM) against their defining properties:
 * IG completeness on test and real models, IG = input x gradient on a linear model, guided
 * backprop and DeconvNet never passing negative gradients through rectifiers, SmoothGrad at
 * noise 0 = the gradient, determinism from the seed, and maps equal to a plain double-precision
 * reimplementation of a tiny network. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "engine.h"
#include "memory.h"
#include "methods/baseline.h"
#include "model.h"
#include "helpers.h"
#include "rng.h"

static const dx_method gradient_methods[] = {
    DX_METHOD_SALIENCY, DX_METHOD_INPUTXGRAD, DX_METHOD_IG, DX_METHOD_SMOOTHGRAD, DX_METHOD_SMOOTHGRAD2,
    DX_METHOD_VARGRAD, DX_METHOD_GUIDEDBP, DX_METHOD_DECONVNET, DX_METHOD_GUIDEDGRADCAM};
#define N_GRADIENT_METHODS (int)(sizeof gradient_methods / sizeof *gradient_methods)

static dx_model *open_test_classifier(uint64_t seed)
{
    char cfg[1100], weights[256];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", getenv("DX_ROOT") ? getenv("DX_ROOT") : ".");
    snprintf(weights, sizeof weights, "%s/test-classifier.weights", temp_dir());
    return open_random(cfg, weights, seed);
}

static void explain(dx_model *m, dx_image photo, const dx_request *req, dx_result *r)
{
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, req, r, &err), 0, "%s: %s", dx_method_name(req->method), err.msg);
}

static double stat_of(const dx_result *r, const char *name)
{
    for (int k = 0; k < r->n_stats; ++k)
        if (!strcmp(r->stats[k].name, name)) return r->stats[k].value;
    cr_assert_fail("%s: no method stat '%s'", dx_method_name(r->method), name);
    return NAN;
}

/* |sum(attr) - (f(x) - f(x'))| <= 1% of |f(x) - f(x')|, with the stats consistent with the map. */
static void expect_complete(const char *what, const dx_result *r)
{
    double sum = stat_of(r, "attribution_sum"), diff = stat_of(r, "score_difference");
    double delta = stat_of(r, "completeness_delta");
    cr_log_info("%s: sum(attr) %.6g, f(x) - f(x') %.6g, delta %.3g (%.3f%%)", what, sum, diff, delta,
                100 * delta / fabs(diff));
    cr_expect(delta <= 0.01 * fabs(diff), "%s: attributions sum to %g, f(x) - f(x') = %g", what, sum, diff);
    cr_expect(fabs(delta - fabs(sum - diff)) <= 1e-9 * fabs(diff), "%s: delta %g is not |%g - %g|", what, delta, sum, diff);
    cr_expect(fabs(diff - (r->logit - stat_of(r, "baseline_score"))) <= 1e-5 * (fabs(r->logit) + 1),
              "%s: the score difference is not f(x) - f(x')", what);
    double map_sum = 0;
    for (int p = 0; p < r->native_h * r->native_w; ++p) map_sum += r->native[p];
    cr_expect(fabs(map_sum - sum) <= 1e-4 * (fabs(sum) + 1), "%s: the map sums to %g, the attributions to %g",
              what, map_sum, sum);
}

Test(gradmethods, ig_completeness_test_model)
{
    dx_model *m = open_test_classifier(11);
    dx_image photo = noise_photo(20, 13, 3, 1); /* letterboxed: a border of grey */
    static const char *baselines[] = {"black", "blur", "noise"};
    for (int b = 0; b < 3; ++b) {
        dx_request req;
        dx_request_init(&req);
        req.method = DX_METHOD_IG;
        req.steps = 256;
        req.baseline = baselines[b];
        dx_result r;
        explain(m, photo, &req, &r);
        char what[64];
        snprintf(what, sizeof what, "test-classifier, %s baseline", baselines[b]);
        expect_complete(what, &r);
        dx_result_free(&r);
    }
    dx_free_image(photo);
    dx_close(m);
}

/* The real models: LeNet at 256 steps; Tiny Darknet (a 224x224 input: ~0.1 s a step) at the
 * default 64 steps, where 1% still holds (measured 0.81% on dog.jpg; 0.18% at 256 steps). */
Test(gradmethods, ig_completeness_real_models)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    char photo[1200];
    struct { const char *model, *image; int steps; } cases[] = {
        {"mnist/mnist_lenet", "mnist/images/t_00000_c5.png", 256},
        {"imagenet/tiny", "../images/dog.jpg", 64},
    };
    for (int c = 0; c < 2; ++c) {
        snprintf(photo, sizeof photo, "%s/models/%s", shared, cases[c].image);
        dx_error err;
        dx_model *m = open_shared_model(cases[c].model, NULL);
        dx_request req;
        dx_request_init(&req);
        req.method = DX_METHOD_IG;
        req.steps = cases[c].steps;
        dx_result r;
        cr_assert_eq(dx_explain_file(m, photo, &req, &r, &err), 0, "%s", err.msg);
        char what[128];
        snprintf(what, sizeof what, "%s at %d steps", cases[c].model, cases[c].steps);
        expect_complete(what, &r);
        dx_result_free(&r);
        dx_close(m);
    }
}

/* The numbers after "key": in a JSON file. */
static double json_number(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot read %s", path);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\":", key);
    const char *at = strstr(text, quoted);
    cr_assert(at, "%s has no %s", path, quoted);
    return strtod(at + strlen(quoted), NULL);
}

Test(gradmethods, ig_stats_in_json)
{
    dx_model *m = open_test_classifier(12);
    dx_image photo = noise_photo(16, 16, 3, 2);
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_IG;
    req.steps = 16;
    dx_result r;
    explain(m, photo, &req, &r);
    char prefix[256], json[300];
    snprintf(prefix, sizeof prefix, "%s/ig", temp_dir());
    snprintf(json, sizeof json, "%s.json", prefix);
    dx_error err;
    cr_assert_eq(dx_write_outputs(m, &r, prefix, NULL, &err), 0, "%s", err.msg);
    static const char *keys[] = {"completeness_delta", "attribution_sum", "score_difference", "baseline_score"};
    for (int k = 0; k < 4; ++k) {
        double want = stat_of(&r, keys[k]), got = json_number(json, keys[k]);
        cr_expect(fabs(got - want) <= 1e-6 * (fabs(want) + 1e-6), "%s: JSON %g, result %g", keys[k], got, want);
    }
    cr_expect_eq(json_number(json, "steps"), 16);
    dx_result_free(&r);
    dx_free_image(photo);
    dx_close(m);
}

/* For F(x) = w.x + b, IG from a black baseline is x ⊙ w at every step count: input x gradient. */
Test(gradmethods, ig_equals_inputxgrad_on_linear_model)
{
    dx_model *m = open_cfg_text("linear",
                            "[net]\nwidth=9\nheight=7\nchannels=3\n"
                            "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=linear\n"
                            "[connected]\noutput=5\nactivation=linear\n[softmax]\n", 3);
    dx_image photo = noise_photo(9, 7, 3, 3);
    dx_request req;
    dx_request_init(&req);
    req.class_id = 2;
    dx_result ig, ixg;
    req.method = DX_METHOD_IG;
    req.steps = 3;
    explain(m, photo, &req, &ig);
    req.method = DX_METHOD_INPUTXGRAD;
    explain(m, photo, &req, &ixg);
    float peak = 0, worst = 0;
    for (int p = 0; p < ig.native_h * ig.native_w; ++p) {
        peak = fmaxf(peak, fabsf(ixg.native[p]));
        worst = fmaxf(worst, fabsf(ig.native[p] - ixg.native[p]));
    }
    cr_log_info("linear model: |IG - input x gradient| <= %.3g of the peak", worst / peak);
    cr_expect(peak > 0 && worst <= 1e-5 * peak, "IG and input x gradient differ by %g (peak %g)", worst, peak);
    cr_expect(ig.signed_map && ixg.signed_map);
    expect_complete("linear model", &ig);
    dx_result_free(&ig);
    dx_result_free(&ixg);
    dx_free_image(photo);
    dx_close(m);
}

/* Rectifiers as their own layers, so that the gradient at a unit's input is a layer's buffer. */
static const char *rectifier_cfg =
    "[net]\nwidth=10\nheight=10\nchannels=3\n"
    "[convolutional]\nfilters=6\nsize=3\nstride=1\npad=1\nactivation=linear\n"   /* 0 */
    "[activation]\nactivation=relu\n"                                              /* 1 */
    "[convolutional]\nfilters=6\nsize=3\nstride=1\npad=1\nactivation=linear\n"   /* 2 */
    "[activation]\nactivation=leaky\n"                                             /* 3 */
    "[convolutional]\nfilters=6\nsize=3\nstride=2\npad=1\nactivation=relu\n"     /* 4 */
    "[convolutional]\nfilters=7\nsize=1\nstride=1\nactivation=linear\n"          /* 5 */
    "[avgpool]\n[softmax]\n";

/* Counts negative and positive-input-but-zero-gradient entries of layer `unit`'s input gradient. */
static void rectifier_signs(dx_model *m, int unit, int *negative, int *below_zero_passed)
{
    int n = dx_network(m)->layers[unit].outputs;
    const float *g = dx_grad_of(m, unit - 1), *in = dx_output_of(m, unit - 1);
    *negative = *below_zero_passed = 0;
    for (int k = 0; k < n; ++k) {
        *negative += g[k] < 0;
        *below_zero_passed += in[k] <= 0 && g[k] != 0;
    }
}

Test(gradmethods, guided_and_deconv_pass_no_negative_gradients)
{
    dx_model *m = open_cfg_text("rectifiers", rectifier_cfg, 5);
    dx_image photo = noise_photo(10, 10, 3, 5);
    int negatives[3][2], passed[3][2];
    dx_method methods[3] = {DX_METHOD_SALIENCY, DX_METHOD_GUIDEDBP, DX_METHOD_DECONVNET};
    for (int k = 0; k < 3; ++k) {
        dx_request req;
        dx_request_init(&req);
        req.method = methods[k];
        dx_result r;
        explain(m, photo, &req, &r);
        /* the buffers hold the method's (last) backward */
        rectifier_signs(m, 1, &negatives[k][0], &passed[k][0]);
        rectifier_signs(m, 3, &negatives[k][1], &passed[k][1]);
        dx_result_free(&r);
    }
    cr_log_info("negative gradients at relu/leaky inputs: gradient %d/%d, guided %d/%d, deconv %d/%d",
                negatives[0][0], negatives[0][1], negatives[1][0], negatives[1][1], negatives[2][0], negatives[2][1]);
    /* the true gradient has both signs, so the checks below can fail */
    cr_expect(negatives[0][0] > 0 && negatives[0][1] > 0);
    for (int u = 0; u < 2; ++u) {
        cr_expect_eq(negatives[1][u], 0, "guided backprop passes %d negative gradients at rectifier %d",
                     negatives[1][u], 2 * u + 1);
        cr_expect_eq(negatives[2][u], 0, "DeconvNet passes %d negative gradients at rectifier %d",
                     negatives[2][u], 2 * u + 1);
    }
    /* guided: the relu passes nothing where its input is negative; DeconvNet ignores the input;
     * the leaky unit passes its slope times the gradient there (both rules) */
    cr_expect_eq(passed[1][0], 0, "guided backprop passes gradient where the relu's input is <= 0");
    cr_expect(passed[2][0] > 0, "DeconvNet should pass gradient whatever the relu's input");
    cr_expect(passed[1][1] > 0 && passed[2][1] > 0);
    dx_free_image(photo);
    dx_close(m);
}

/* No mode outlives a method (the rules are the pass's, not the model's): saliency after guided
 * Grad-CAM is the plain gradient again. */
Test(gradmethods, backward_mode_restored)
{
    dx_model *m = open_test_classifier(13);
    dx_image photo = noise_photo(16, 16, 3, 6);
    dx_request req;
    dx_request_init(&req);
    dx_result before, guided, after;
    req.method = DX_METHOD_SALIENCY;
    explain(m, photo, &req, &before);
    req.method = DX_METHOD_GUIDEDGRADCAM;
    explain(m, photo, &req, &guided);
    req.method = DX_METHOD_SALIENCY;
    explain(m, photo, &req, &after);
    cr_expect_eq(memcmp(before.native, after.native, sizeof(float) * before.native_h * before.native_w), 0);
    dx_result_free(&before);
    dx_result_free(&guided);
    dx_result_free(&after);
    dx_free_image(photo);
    dx_close(m);
}

/* Guided Grad-CAM = guided backprop x the Grad-CAM map of a coarser layer, upsampled here with
 * pixel centres aligned: map(y, x) at ((y + .5) * h / H - .5, (x + .5) * w / W - .5), clamped. */
Test(gradmethods, guided_gradcam_upsamples_with_pixel_centres)
{
    dx_model *m = open_test_classifier(15);
    dx_image photo = noise_photo(16, 16, 3, 8);
    dx_request req;
    dx_request_init(&req);
    dx_result cam, guided, both;
    req.method = DX_METHOD_GRADCAM;
    explain(m, photo, &req, &cam);
    req.method = DX_METHOD_GUIDEDBP;
    explain(m, photo, &req, &guided);
    req.method = DX_METHOD_GUIDEDGRADCAM;
    explain(m, photo, &req, &both);
    int H = both.native_h, W = both.native_w, h = cam.native_h, w = cam.native_w;
    cr_assert(h < H && w < W, "the Grad-CAM layer (%dx%d) is not coarser than the input (%dx%d)", h, w, H, W);
    double worst = 0, scale = 0;
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            double sy = fmin(fmax((y + .5) * h / H - .5, 0), h - 1), sx = fmin(fmax((x + .5) * w / W - .5, 0), w - 1);
            int y0 = (int)sy, x0 = (int)sx, y1 = y0 + 1 < h ? y0 + 1 : y0, x1 = x0 + 1 < w ? x0 + 1 : x0;
            double fy = sy - y0, fx = sx - x0;
            const float *c = cam.native;
            double up = (1 - fy) * ((1 - fx) * c[y0 * w + x0] + fx * c[y0 * w + x1]) +
                        fy * ((1 - fx) * c[y1 * w + x0] + fx * c[y1 * w + x1]);
            double expected = guided.native[y * W + x] * up;
            worst = fmax(worst, fabs(both.native[y * W + x] - expected));
            scale = fmax(scale, fabs(expected));
        }
    cr_log_info("guided Grad-CAM (%dx%d CAM on %dx%d): max |map - guided x upsampled CAM| = %.3g (scale %.3g)",
                h, w, H, W, worst, scale);
    cr_expect(scale > 0);
    cr_expect(worst <= 1e-5 * scale, "differs by %.3g (scale %.3g)", worst, scale);
    dx_result_free(&cam);
    dx_result_free(&guided);
    dx_result_free(&both);
    dx_free_image(photo);
    dx_close(m);
}

/* With noise 0 every sample is the input: SmoothGrad is saliency, SmoothGrad² its square,
 * VarGrad zero. */
Test(gradmethods, smoothgrad_noise_zero_is_the_gradient)
{
    dx_model *m = open_test_classifier(14);
    dx_image photo = noise_photo(16, 16, 3, 7);
    dx_request req;
    dx_request_init(&req);
    req.samples = 3;
    req.noise = 0;
    dx_result sal, sg, sg2, var;
    req.method = DX_METHOD_SALIENCY;
    explain(m, photo, &req, &sal);
    req.method = DX_METHOD_SMOOTHGRAD;
    explain(m, photo, &req, &sg);
    req.method = DX_METHOD_SMOOTHGRAD2;
    explain(m, photo, &req, &sg2);
    req.method = DX_METHOD_VARGRAD;
    explain(m, photo, &req, &var);
    int n = sal.native_h * sal.native_w, same = 0, square = 0, zero = 0;
    float peak = 0;
    for (int p = 0; p < n; ++p) {
        peak = fmaxf(peak, sal.native[p]);
        same += sg.native[p] == sal.native[p];
        square += sg2.native[p] == sal.native[p] * sal.native[p];
        zero += var.native[p] == 0.f;
    }
    cr_expect(peak > 0);
    cr_expect_eq(same, n, "SmoothGrad at noise 0 differs from saliency at %d of %d pixels", n - same, n);
    cr_expect_eq(square, n, "SmoothGrad² at noise 0 differs from saliency² at %d of %d pixels", n - square, n);
    cr_expect_eq(zero, n, "VarGrad at noise 0 is non-zero at %d of %d pixels", n - zero, n);
    dx_result_free(&sal);
    dx_result_free(&sg);
    dx_result_free(&sg2);
    dx_result_free(&var);
    dx_free_image(photo);
    dx_close(m);
}

/* Reads a whole file (malloc'd), its size in *len. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *data = malloc(*len);
    cr_assert_eq(fread(data, 1, *len, f), *len);
    fclose(f);
    return data;
}

/* The .npy of a method with a seed, written under dir/name. */
static char *npy_of(dx_model *m, dx_image photo, dx_method method, unsigned long long seed, const char *dir,
                    const char *name, size_t *len)
{
    dx_request req;
    dx_request_init(&req);
    req.method = method;
    req.seed = seed;
    req.samples = 4;
    req.steps = 4;
    req.baseline = "noise";
    dx_result r;
    explain(m, photo, &req, &r);
    char prefix[300], path[320];
    snprintf(prefix, sizeof prefix, "%s/%s", dir, name);
    dx_error err;
    cr_assert_eq(dx_write_outputs(m, &r, prefix, NULL, &err), 0, "%s", err.msg);
    dx_result_free(&r);
    snprintf(path, sizeof path, "%s.npy", prefix);
    return slurp(path, len);
}

Test(gradmethods, seeded_methods_are_deterministic)
{
    dx_model *m = open_test_classifier(15);
    dx_image photo = noise_photo(16, 16, 3, 8);
    const char *dir = temp_dir();
    dx_method seeded[] = {DX_METHOD_SMOOTHGRAD, DX_METHOD_SMOOTHGRAD2, DX_METHOD_VARGRAD, DX_METHOD_IG};
    for (int k = 0; k < 4; ++k) {
        size_t la, lb, lc;
        char *a = npy_of(m, photo, seeded[k], 5, dir, "a", &la);
        char *b = npy_of(m, photo, seeded[k], 5, dir, "b", &lb);
        char *c = npy_of(m, photo, seeded[k], 6, dir, "c", &lc);
        cr_expect(la == lb && !memcmp(a, b, la), "%s: the same seed gives different .npy", dx_method_name(seeded[k]));
        cr_expect(la == lc && memcmp(a, c, la), "%s: seeds 5 and 6 give the same .npy", dx_method_name(seeded[k]));
        free(a);
        free(b);
        free(c);
    }
    dx_free_image(photo);
    dx_close(m);
}

Test(gradmethods, every_method_finite_shaped_and_class_sensitive)
{
    dx_model *m = open_test_classifier(16);
    network *net = dx_network(m);
    dx_image photo = noise_photo(23, 17, 3, 9);
    for (int k = 0; k < N_GRADIENT_METHODS; ++k) {
        const char *name = dx_method_name(gradient_methods[k]);
        dx_result r[2];
        for (int cls = 0; cls < 2; ++cls) {
            dx_request req;
            dx_request_init(&req);
            req.method = gradient_methods[k];
            req.class_id = cls;
            req.steps = 8;
            req.samples = 4;
            explain(m, photo, &req, &r[cls]);
        }
        cr_expect(r[0].native_h == net->h && r[0].native_w == net->w && r[0].layer == -1,
                  "%s: native map %dx%d at layer %d, not the input's %dx%d", name, r[0].native_h,
                  r[0].native_w, r[0].layer, net->h, net->w);
        cr_expect(r[0].h == photo.h && r[0].w == photo.w, "%s: map %dx%d, photo %dx%d", name, r[0].h, r[0].w,
                  photo.h, photo.w);
        int finite = 1;
        float peak = 0, diff = 0;
        for (int p = 0; p < net->h * net->w; ++p) {
            finite &= isfinite(r[0].native[p]) && isfinite(r[1].native[p]);
            peak = fmaxf(peak, fabsf(r[0].native[p]));
            diff = fmaxf(diff, fabsf(r[0].native[p] - r[1].native[p]));
        }
        for (int p = 0; p < r[0].h * r[0].w; ++p) finite &= isfinite(r[0].map[p]);
        cr_expect(finite, "%s: a map has non-finite values", name);
        cr_expect(peak > 0, "%s: the map is zero", name);
        cr_expect(diff > 1e-3 * peak, "%s: classes 0 and 1 give the same map", name);
        dx_result_free(&r[0]);
        dx_result_free(&r[1]);
    }
    dx_free_image(photo);
    dx_close(m);
}

Test(gradmethods, ig_baseline_file)
{
    dx_model *m = open_test_classifier(17);
    dx_image photo = noise_photo(16, 16, 3, 10);
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_IG;
    req.steps = 8;
    req.baseline = "/usr/share/darknet/data/dog.jpg";
    dx_result ig, direct;
    explain(m, photo, &req, &ig);
    /* f(x') is the score of that image explained as a photo (letterboxed the same way) */
    dx_error err;
    dx_request plain;
    dx_request_init(&plain);
    plain.method = DX_METHOD_SALIENCY;
    plain.class_id = ig.class_id;
    cr_assert_eq(dx_explain_file(m, req.baseline, &plain, &direct, &err), 0, "%s", err.msg);
    cr_expect(fabs(stat_of(&ig, "baseline_score") - direct.logit) <= 1e-5 * (fabs(direct.logit) + 1),
              "baseline score %g, the file's logit %g", stat_of(&ig, "baseline_score"), direct.logit);
    dx_result_free(&ig);
    dx_result_free(&direct);

    req.baseline = "/nonexistent/baseline.png";
    dx_result r;
    cr_expect_eq(dx_explain_image(m, photo, &req, &r, &err), -1);
    cr_expect(strstr(err.msg, "/nonexistent/baseline.png") && !strchr(err.msg, '\n'), "error: %s", err.msg);
    dx_free_image(photo);
    dx_close(m);
}

Test(gradmethods, cli_bad_baseline_is_one_line)
{
    const char *cli = getenv("DX_CLI");
    cr_assert(cli, "DX_CLI is not set (run through make test)");
    const char *dir = temp_dir();
    char cfg[1100], weights[300], out[300], err_path[300], cmd[4096];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/w.weights", dir);
    snprintf(out, sizeof out, "%s/ig", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    dx_close(open_random(cfg, weights, 18));
    snprintf(cmd, sizeof cmd, "%s ig %s %s /usr/share/darknet/data/dog.jpg -baseline %s/missing.png -out %s "
             "2>%s >/dev/null", cli, cfg, weights, dir, out, err_path);
    int status = system(cmd);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit status %d", WEXITSTATUS(status));
    size_t len;
    char *text = slurp(err_path, &len);
    text = realloc(text, len + 1);
    text[len] = 0;
    cr_expect(strstr(text, "missing.png") && strchr(text, '\n') == text + len - 1, "stderr: %s", text);
    cr_log_info("bad baseline: %s", text);
    free(text);
    char npy[320];
    snprintf(npy, sizeof npy, "%s.npy", out);
    cr_expect(access(npy, F_OK) != 0, "an output was written");
}

/* The reference: a plain double-precision reimplementation of one tiny network, its forward and
 * its three backward rules written out from the layers' weights, and every gradient method's map
 * from those. x: 3x8x8 -> conv 3x3 leaky (4) -> conv 1x1 relu (5) -> global mean -> connected (6). */
static const char *reference_cfg =
    "[net]\nwidth=8\nheight=8\nchannels=3\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[convolutional]\nfilters=5\nsize=1\nstride=1\nactivation=relu\n"
    "[avgpool]\n[connected]\noutput=6\nactivation=linear\n[softmax]\n";
enum { RS = 8, RP = RS * RS, RC = 3, RF0 = 4, RF1 = 5, RK = 6 };

typedef struct {
    double u0[RF0][RP], u1[RF1][RP], h1[RF1][RP], logit[RK];
} ref_state;

static void ref_forward(const network *net, const double *x, ref_state *s)
{
    const layer *c0 = &net->layers[0], *c1 = &net->layers[1], *fc = &net->layers[3];
    double h0[RF0][RP];
    for (int f = 0; f < RF0; ++f)
        for (int y = 0; y < RS; ++y)
            for (int i = 0; i < RS; ++i) {
                double u = c0->biases[f];
                for (int c = 0; c < RC; ++c)
                    for (int ky = 0; ky < 3; ++ky)
                        for (int kx = 0; kx < 3; ++kx) {
                            int yy = y + ky - 1, xx = i + kx - 1;
                            if (yy >= 0 && yy < RS && xx >= 0 && xx < RS)
                                u += c0->weights[((f * RC + c) * 3 + ky) * 3 + kx] * x[c * RP + yy * RS + xx];
                        }
                s->u0[f][y * RS + i] = u;
                h0[f][y * RS + i] = u > 0 ? u : 0.1 * u;
            }
    double mean[RF1] = {0};
    for (int j = 0; j < RF1; ++j)
        for (int p = 0; p < RP; ++p) {
            double u = c1->biases[j];
            for (int f = 0; f < RF0; ++f) u += c1->weights[j * RF0 + f] * h0[f][p];
            s->u1[j][p] = u;
            s->h1[j][p] = u > 0 ? u : 0;
            mean[j] += s->h1[j][p] / RP;
        }
    for (int k = 0; k < RK; ++k) {
        s->logit[k] = fc->biases[k];
        for (int j = 0; j < RF1; ++j) s->logit[k] += fc->weights[k * RF1 + j] * mean[j];
    }
}

/* the backward through a rectifier with slope `neg` below 0, under each rule */
static double ref_rule(dx_rule_kind mode, double g, double u, double neg)
{
    if (mode == DX_RULE_DECONV) return g > 0 ? g : 0;
    if (mode == DX_RULE_GUIDED && g < 0) return 0;
    return g * (u > 0 ? 1 : neg);
}

/* d logit[cls] / dx under a rule, at x */
static void ref_gradient(const network *net, const double *x, int cls, dx_rule_kind mode, double *gx)
{
    const layer *c0 = &net->layers[0], *c1 = &net->layers[1], *fc = &net->layers[3];
    ref_state s;
    ref_forward(net, x, &s);
    double gu1[RF1][RP], gu0[RF0][RP];
    for (int j = 0; j < RF1; ++j)
        for (int p = 0; p < RP; ++p) gu1[j][p] = ref_rule(mode, fc->weights[cls * RF1 + j] / RP, s.u1[j][p], 0);
    for (int f = 0; f < RF0; ++f)
        for (int p = 0; p < RP; ++p) {
            double g = 0;
            for (int j = 0; j < RF1; ++j) g += c1->weights[j * RF0 + f] * gu1[j][p];
            gu0[f][p] = ref_rule(mode, g, s.u0[f][p], 0.1);
        }
    for (int k = 0; k < RC * RP; ++k) gx[k] = 0;
    for (int f = 0; f < RF0; ++f)
        for (int y = 0; y < RS; ++y)
            for (int i = 0; i < RS; ++i)
                for (int c = 0; c < RC; ++c)
                    for (int ky = 0; ky < 3; ++ky)
                        for (int kx = 0; kx < 3; ++kx) {
                            int yy = y + ky - 1, xx = i + kx - 1;
                            if (yy >= 0 && yy < RS && xx >= 0 && xx < RS)
                                gx[c * RP + yy * RS + xx] += c0->weights[((f * RC + c) * 3 + ky) * 3 + kx] * gu0[f][y * RS + i];
                        }
}

static void ref_max_abs(const double *v, double *map)
{
    for (int p = 0; p < RP; ++p) {
        map[p] = 0;
        for (int c = 0; c < RC; ++c) map[p] = fmax(map[p], fabs(v[c * RP + p]));
    }
}

/* Gaussian blur, sigma pixels, as one 2-D sum with the edge pixels repeated */
static void ref_blur(const double *x, double sigma, double *out)
{
    int radius = (int)ceil(3 * sigma);
    double norm = 0;
    for (int d = -radius; d <= radius; ++d) norm += exp(-0.5 * d * d / (sigma * sigma));
    for (int c = 0; c < RC; ++c)
        for (int y = 0; y < RS; ++y)
            for (int i = 0; i < RS; ++i) {
                double s = 0;
                for (int dy = -radius; dy <= radius; ++dy)
                    for (int dx = -radius; dx <= radius; ++dx) {
                        int yy = y + dy < 0 ? 0 : y + dy >= RS ? RS - 1 : y + dy;
                        int xx = i + dx < 0 ? 0 : i + dx >= RS ? RS - 1 : i + dx;
                        s += exp(-0.5 * (dx * dx + dy * dy) / (sigma * sigma)) / (norm * norm) * x[c * RP + yy * RS + xx];
                    }
                out[c * RP + y * RS + i] = s;
            }
}

/* The reference map of a method (as its help text defines it) for class cls at x. */
static void ref_map(const network *net, const dx_request *req, int cls, const double *x, double *map)
{
    double g[RC * RP], acc[RC * RP] = {0}, acc_sq[RC * RP] = {0}, base[RC * RP], point[RC * RP];
    switch (req->method) {
    case DX_METHOD_SALIENCY:
    case DX_METHOD_GUIDEDBP:
    case DX_METHOD_DECONVNET:
        ref_gradient(net, x, cls, req->method == DX_METHOD_SALIENCY ? DX_RULE_GRADIENT
                                  : req->method == DX_METHOD_GUIDEDBP ? DX_RULE_GUIDED : DX_RULE_DECONV, g);
        ref_max_abs(g, map);
        return;
    case DX_METHOD_INPUTXGRAD:
        ref_gradient(net, x, cls, DX_RULE_GRADIENT, g);
        for (int p = 0; p < RP; ++p) map[p] = 0;
        for (int k = 0; k < RC * RP; ++k) map[k % RP] += x[k] * g[k];
        return;
    case DX_METHOD_IG:
        if (!strcmp(req->baseline, "blur")) ref_blur(x, RS / 16.0, base);
        else for (int k = 0; k < RC * RP; ++k) base[k] = 0;
        for (int s = 0; s <= req->steps; ++s) {
            double a = (double)s / req->steps;
            for (int k = 0; k < RC * RP; ++k) point[k] = base[k] + a * (x[k] - base[k]);
            ref_gradient(net, point, cls, DX_RULE_GRADIENT, g);
            for (int k = 0; k < RC * RP; ++k) acc[k] += (s == 0 || s == req->steps ? 0.5 : 1) * g[k] / req->steps;
        }
        for (int p = 0; p < RP; ++p) map[p] = 0;
        for (int k = 0; k < RC * RP; ++k) map[k % RP] += (x[k] - base[k]) * acc[k];
        return;
    case DX_METHOD_SMOOTHGRAD:
    case DX_METHOD_SMOOTHGRAD2:
    case DX_METHOD_VARGRAD: {
        double lo = x[0], hi = x[0];
        for (int k = 0; k < RC * RP; ++k) lo = fmin(lo, x[k]), hi = fmax(hi, x[k]);
        dx_rng r;
        dx_rng_init(&r, req->seed); /* the documented draws: one N(0,1) per input value, in order */
        for (int s = 0; s < req->samples; ++s) {
            for (int k = 0; k < RC * RP; ++k) point[k] = x[k] + req->noise * (hi - lo) * dx_rng_normal(&r);
            ref_gradient(net, point, cls, DX_RULE_GRADIENT, g);
            for (int k = 0; k < RC * RP; ++k) acc[k] += g[k] / req->samples, acc_sq[k] += g[k] * g[k] / req->samples;
        }
        for (int k = 0; k < RC * RP; ++k)
            g[k] = req->method == DX_METHOD_SMOOTHGRAD ? acc[k] : req->method == DX_METHOD_SMOOTHGRAD2
                   ? acc_sq[k] : acc_sq[k] - acc[k] * acc[k];
        ref_max_abs(g, map);
        return;
    }
    case DX_METHOD_GUIDEDGRADCAM: {
        /* Grad-CAM at the 1x1 relu layer (8x8, the input's size): channel weights are the mean
         * gradient, which through the global mean is fc weight / 64 */
        ref_state s;
        ref_forward(net, x, &s);
        ref_gradient(net, x, cls, DX_RULE_GUIDED, g);
        ref_max_abs(g, map);
        for (int p = 0; p < RP; ++p) {
            double cam = 0;
            for (int j = 0; j < RF1; ++j) cam += net->layers[3].weights[cls * RF1 + j] / RP * s.h1[j][p];
            map[p] *= cam > 0 ? cam : 0;
        }
        return;
    }
    default:
        cr_assert_fail("no reference for %s", dx_method_name(req->method));
    }
}

Test(gradmethods, maps_equal_plain_reimplementation)
{
    dx_model *m = open_cfg_text("reference", reference_cfg, 21);
    const network *net = dx_network(m);
    dx_image photo = noise_photo(RS, RS, RC, 21);
    struct { dx_method method; const char *baseline; } cases[] = {
        {DX_METHOD_SALIENCY, NULL}, {DX_METHOD_INPUTXGRAD, NULL}, {DX_METHOD_IG, "black"},
        {DX_METHOD_IG, "blur"}, {DX_METHOD_SMOOTHGRAD, NULL}, {DX_METHOD_SMOOTHGRAD2, NULL},
        {DX_METHOD_VARGRAD, NULL}, {DX_METHOD_GUIDEDBP, NULL}, {DX_METHOD_DECONVNET, NULL},
        {DX_METHOD_GUIDEDGRADCAM, NULL}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; ++c)
        for (int cls = 1; cls <= 4; cls += 3) {
            dx_request req;
            dx_request_init(&req);
            req.method = cases[c].method;
            if (cases[c].baseline) req.baseline = cases[c].baseline;
            req.class_id = cls;
            req.steps = 16;
            req.samples = 5;
            req.noise = 0.2f;
            req.seed = 77;
            dx_result r;
            explain(m, photo, &req, &r);
            /* the letterbox of a photo of the network's size is the photo itself */
            double x[RC * RP], want[RP];
            const float *input = dx_output_of(m, -1);
            for (int k = 0; k < RC * RP; ++k) {
                cr_assert(fabsf(input[k] - photo.data[k]) <= 1e-6f);
                x[k] = photo.data[k];
            }
            ref_map(net, &req, cls, x, want);
            double peak = 0, worst = 0;
            for (int p = 0; p < RP; ++p) {
                peak = fmax(peak, fabs(want[p]));
                worst = fmax(worst, fabs(r.native[p] - want[p]));
            }
            cr_log_info("%-13s %-5s class %d: max |plugin - reference| = %.2e of the peak %.3g",
                        dx_method_name(req.method), cases[c].baseline ? cases[c].baseline : "", cls,
                        worst / peak, peak);
            cr_expect(peak > 0 && worst <= 1e-4 * peak, "%s class %d: the plugin's map differs from the "
                      "reference by %g (peak %g)", dx_method_name(req.method), cls, worst, peak);
            dx_result_free(&r);
        }
    dx_free_image(photo);
    dx_close(m);
}

/* The one baseline maker (methods/baseline.c) keeps explain.h's contract itself: a request with no
 * baseline (NULL) starts from black, the zero input, whoever calls it. */
Test(gradmethods, baseline_null_is_black)
{
    dx_model *m = open_test_classifier(17);
    dx_request req;
    dx_request_init_for(&req, DX_METHOD_DEEPLIFT);
    req.baseline = NULL;
    size_t n = (size_t)dx_network(m)->inputs;
    float *x = malloc(sizeof(float) * n), *base = malloc(sizeof(float) * n);
    for (size_t k = 0; k < n; ++k) x[k] = 0.5f, base[k] = 7;
    dx_error err;
    cr_assert_eq(dx_request_baseline(m, &req, x, base, &err), 0, "%s", err.msg);
    for (size_t k = 0; k < n; ++k) cr_assert_eq(base[k], 0, "base[%zu] = %g", k, base[k]);
    free(x);
    free(base);
    dx_close(m);
}

/* ---- the many-gradient methods over threads (workers.c, issue #18) ---- */

static const dx_method sampled_methods[] = {DX_METHOD_IG, DX_METHOD_SMOOTHGRAD, DX_METHOD_SMOOTHGRAD2, DX_METHOD_VARGRAD};

static void set_threads(int threads)
{
    char value[16];
    snprintf(value, sizeof value, "%d", threads);
    setenv("DX_THREADS", value, 1);
}

static dx_request sampled_request(dx_method method, int detector)
{
    dx_request req;
    dx_request_init(&req);
    req.method = method;
    req.steps = 15; /* 16 gradients */
    req.samples = 16;
    req.noise = 0.15f;
    req.seed = 31;
    req.baseline = "noise";
    req.class_id = detector ? 1 : 2;
    if (detector) { /* random weights: no box clears a threshold, a region always has an anchor */
        req.use_region = 1;
        req.region[0] = 10, req.region[1] = 8, req.region[2] = 20, req.region[3] = 16;
    }
    return req;
}

/* IG, SmoothGrad, SmoothGrad², VarGrad with 1, 2 and 3 threads, on new and on kept copies: the
 * same map bit for bit (the gradients are added in sample order), the same stats, every worker
 * computing, and the model left on the photo's forward state (equal to a fresh forward bit for
 * bit). */
static void expect_same_over_threads(const char *cfg_name, int detector, uint64_t seed, int workers_must_compute)
{
    char cfg[1200], weights[256];
    snprintf(cfg, sizeof cfg, "%s/cfg/%s", getenv("DX_ROOT") ? getenv("DX_ROOT") : ".", cfg_name);
    snprintf(weights, sizeof weights, "%s/threads.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, seed);
    dx_image photo = noise_photo(48, 40, 3, seed);
    dx_error err;
    cr_assert_eq(dx_forward_photo(m, photo, NULL, &err), 0, "%s", err.msg);
    size_t len, len_after;
    float *fresh = forward_state(m, &len);
    for (int k = 0; k < 4; ++k) {
        dx_request req = sampled_request(sampled_methods[k], detector);
        const char *name = dx_method_name(req.method);
        dx_result ref;
        set_threads(1);
        explain(m, photo, &req, &ref);
        for (int run = 0; run < 4; ++run) {
            /* 2 threads on new copies, again on the kept ones, then 3 threads alike */
            int threads = 2 + run / 2, new_copies = run % 2 == 0;
            set_threads(threads);
            if (new_copies) dx_close_copies(m);
            dx_result r;
            explain(m, photo, &req, &r);
            /* a copy's reverse-pass buffers exist once it computed a gradient; on the 16x16 and
             * 32x32 models the caller's thread may be done before another has started */
            int computing = 0;
            for (int w = 1; new_copies && w < threads; ++w) computing += m->copies[w - 1] && m->copies[w - 1]->pass.buf;
            if (new_copies) cr_log_info("%s, %s, %d threads: %d of the copies computed", cfg_name, name, threads, computing);
            cr_expect(!new_copies || !workers_must_compute || computing > 0, "%s, %s, %d threads: no copy computed a gradient",
                      cfg_name, name, threads);
            size_t native = (size_t)r.native_h * r.native_w;
            cr_assert(r.native_h == ref.native_h && r.native_w == ref.native_w && r.w == ref.w && r.h == ref.h);
            cr_expect(!memcmp(r.native, ref.native, sizeof(float) * native), "%s, %s: %d threads give another native map",
                      cfg_name, name, threads);
            cr_expect(!memcmp(r.map, ref.map, sizeof(float) * r.w * r.h), "%s, %s: %d threads give another map",
                      cfg_name, name, threads);
            cr_expect_eq(r.n_stats, ref.n_stats, "%s, %s", cfg_name, name);
            for (int s = 0; s < r.n_stats && s < ref.n_stats; ++s)
                cr_expect(!strcmp(r.stats[s].name, ref.stats[s].name) && r.stats[s].value == ref.stats[s].value,
                          "%s, %s, %d threads: stat %s %.17g, with one thread %s %.17g", cfg_name, name, threads,
                          r.stats[s].name, r.stats[s].value, ref.stats[s].name, ref.stats[s].value);
            cr_expect(r.logit == ref.logit, "%s, %s: the score differs", cfg_name, name);
            float *after = forward_state(m, &len_after);
            cr_expect(len_after == len && !memcmp(after, fresh, sizeof(float) * len),
                      "%s, %s, %d threads: the model is not left on the photo's forward state", cfg_name, name, threads);
            free(after);
            dx_result_free(&r);
        }
        dx_result_free(&ref);
    }
    unsetenv("DX_THREADS");
    free(fresh);
    dx_free_image(photo);
    dx_close(m);
}

Test(gradmethods, sampled_methods_equal_over_threads_classifier)
{
    expect_same_over_threads("test-classifier.cfg", 0, 41, 0);
    expect_same_over_threads("shapes-classifier.cfg", 0, 45, 1);
}

Test(gradmethods, sampled_methods_equal_over_threads_detector_box)
{
    expect_same_over_threads("test-detector.cfg", 1, 42, 0);
    expect_same_over_threads("shapes-detector.cfg", 1, 46, 1);
}

/* Weights changed in place and announced (dx_params_changed) reach the workers' copies: they are
 * closed, and the next run with 3 threads equals one thread's on the new weights. */
Test(gradmethods, workers_follow_changed_weights)
{
    dx_model *m = open_test_classifier(43);
    dx_image photo = noise_photo(16, 16, 3, 43);
    dx_request req = sampled_request(DX_METHOD_IG, 0);
    dx_result before, one, three;
    set_threads(3);
    explain(m, photo, &req, &before);
    cr_assert(m->copies[0] && m->copies[1], "3 threads opened no copies");
    network *net = dx_network(m);
    for (int i = 0; i < net->n; ++i)
        if (net->layers[i].type == CONVOLUTIONAL)
            for (int k = 0; k < net->layers[i].nweights; ++k) net->layers[i].weights[k] *= (k % 3) ? 0.5f : -1.0f;
    dx_params_changed(m, -1);
    cr_expect(!m->copies[0] && !m->copies[1], "dx_params_changed left the workers' copies open");
    explain(m, photo, &req, &three);
    set_threads(1);
    explain(m, photo, &req, &one);
    unsetenv("DX_THREADS");
    size_t native = (size_t)one.native_h * one.native_w;
    cr_expect(memcmp(before.native, one.native, sizeof(float) * native), "the new weights changed nothing");
    cr_expect(!memcmp(three.native, one.native, sizeof(float) * native), "3 threads ran on the old weights");
    dx_result_free(&before);
    dx_result_free(&one);
    dx_result_free(&three);
    dx_free_image(photo);
    dx_close(m);
}

/* An allocation failing anywhere in a 3-thread run (the copies' opening on the calling thread,
 * the reverse passes' seeds and buffers on every worker's thread): the call fails with one error
 * saying out of memory, or succeeds; the model then gives the reference map again. ASan (make
 * test SANITIZE=1) checks nothing leaks and no thread touches freed memory. */
Test(gradmethods, a_failing_worker_is_one_error)
{
    dx_model *m = open_test_classifier(44);
    dx_image photo = noise_photo(16, 16, 3, 44);
    set_threads(3); /* oneDNN's blocks (dx_alloc_optional) are not counted: its layers just fall back */
    for (int k = 0; k < 4; ++k) {
        dx_request req = sampled_request(sampled_methods[k], 0);
        expect_each_failed_allocation_is_one_error(m, photo, &req);
    }
    unsetenv("DX_THREADS");
    dx_free_image(photo);
    dx_close(m);
}

/* No room for another OpenBLAS thread's buffer under the address-space limit: no worker thread
 * starts, workers 1 and 2 run on the calling thread after worker 0: the call ends with one
 * thread's map (the gradients: worker 0 has claimed every sample by then; occlusion: workers 1
 * and 2 score their own share of the windows there). With no room for the copies either, one
 * worker runs and the call succeeds as before there were threads. */
Test(gradmethods, workers_without_threads_run_on_the_caller)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("AddressSanitizer cannot run under an address-space limit");
#endif
    /* a network of some 16 MB of outputs, so that a copy needs far more room than a request */
    dx_model *m = open_cfg_text("wide",
                                "[net]\nwidth=128\nheight=128\nchannels=3\n"
                                "[convolutional]\nfilters=256\nsize=3\nstride=1\npad=1\nactivation=relu\n"
                                "[convolutional]\nfilters=4\nsize=1\nstride=1\npad=0\nactivation=linear\n"
                                "[avgpool]\n[softmax]\n",
                                47);
    dx_image photo = noise_photo(48, 40, 3, 47);
    for (int k = 0; k < 5; ++k) {
        dx_request req = sampled_request(k < 4 ? sampled_methods[k] : DX_METHOD_OCCLUSION, 0);
        if (k == 4) req.window = 8, req.stride = 8;
        dx_result one, r;
        set_threads(1);
        explain(m, photo, &req, &one);
        set_threads(3);
        explain(m, photo, &req, &r); /* the copies are made here, without the limit */
        dx_result_free(&r);
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        cr_assert(f && fscanf(f, "%ld", &pages) == 1);
        fclose(f);
        struct rlimit old, tight;
        cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
        tight = old;
        tight.rlim_cur = (rlim_t)pages * sysconf(_SC_PAGESIZE) + 100 * 1024 * 1024;
        cr_assert_eq(setrlimit(RLIMIT_AS, &tight), 0);
        int fit = dx_blas_threads_fit(2);
        dx_error err;
        int rc = dx_explain_image(m, photo, &req, &r, &err);
        setrlimit(RLIMIT_AS, &old);
        cr_assert_eq(fit, 0, "the limit leaves room for %d OpenBLAS threads", fit);
        cr_assert_eq(rc, 0, "%s under the limit: %s", dx_method_name(req.method), err.msg);
        cr_expect(!memcmp(r.native, one.native, sizeof(float) * r.native_h * r.native_w),
                  "%s: the workers on the calling thread give another map", dx_method_name(req.method));
        dx_result_free(&r);
        /* no room for the copies either (the memory check's slack is 32 MiB): one worker, no error;
         * the address space measured again, as closing the copies unmapped theirs */
        dx_close_copies(m);
        f = fopen("/proc/self/statm", "r");
        cr_assert(f && fscanf(f, "%ld", &pages) == 1);
        fclose(f);
        tight.rlim_cur = (rlim_t)pages * sysconf(_SC_PAGESIZE) + 40 * 1024 * 1024;
        cr_assert_eq(setrlimit(RLIMIT_AS, &tight), 0);
        int fits = dx_batch_copy_fits(m, 1);
        rc = dx_explain_image(m, photo, &req, &r, &err);
        setrlimit(RLIMIT_AS, &old);
        cr_assert(!fits, "a copy fits under the limit");
        cr_assert_eq(rc, 0, "%s with no room for a copy: %s", dx_method_name(req.method), err.msg);
        cr_expect(!m->copies[0], "%s: a copy was made without room for it", dx_method_name(req.method));
        cr_expect(!memcmp(r.native, one.native, sizeof(float) * r.native_h * r.native_w),
                  "%s: one worker for lack of room gives another map", dx_method_name(req.method));
        dx_result_free(&r);
        dx_result_free(&one);
    }
    unsetenv("DX_THREADS");
    dx_free_image(photo);
    dx_close(m);
}
