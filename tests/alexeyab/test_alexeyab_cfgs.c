/* The AlexeyAB backend on every cfg the fork ships, on each of its activations, and against the
 * pjreddie backend on a cfg both Darknets compute alike. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../helpers.h"
#include "engine.h"
#include "model.h"

static float *random_vector(int n, uint64_t seed, float lo, float hi)
{
    rng r = {seed};
    float *v = malloc(sizeof(float) * n);
    for (int k = 0; k < n; ++k) v[k] = (float)(lo + (hi - lo) * rng_uniform(&r));
    return v;
}

/* Every activation of the fork through a convolution (and an [activation] layer where the fork has
 * one): the plugin's backward, which calls the fork's own gradient, against finite differences. */
Test(alexeyab_cfgs, every_activation_matches_finite_differences, .timeout = 300)
{
    static const char *const names[] = {"logistic", "relu", "relu6", "relie", "linear", "ramp", "tanh",
                                        "plse", "leaky", "elu", "loggy", "lhtan", "selu", "swish", "mish",
                                        "hard_mish", "revleaky", "gelu"};
    int failed = 0;
    for (size_t a = 0; a < sizeof names / sizeof *names; ++a) {
        char cfg[1200], text[1024];
        snprintf(cfg, sizeof cfg, "%s/act-%s.cfg", temp_dir(), names[a]);
        snprintf(text, sizeof text,
                 "[net]\nwidth=8\nheight=8\nchannels=2\n\n"
                 "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=%s\n\n"
                 "[convolutional]\nbatch_normalize=1\nfilters=3\nsize=3\nstride=1\npad=1\nactivation=%s\n\n"
                 "[connected]\noutput=5\nactivation=linear\n", names[a], names[a]);
        write_text(cfg, text);
        dx_error err;
        dx_model *m = dx_open(cfg, NULL, NULL, &err);
        cr_assert(m, "%s: %s", names[a], err.msg);
        rng r = {a + 1};
        for (int i = 0; i < m->n; ++i) {
            dx_layer *l = &m->net->layers[i];
            int n = l->type == DX_LAYER_CONNECTED ? l->outputs : l->n; /* a gelu convolution's type is "other" */
            for (int k = 0; k < l->nweights; ++k) l->weights[k] = (float)(rng_normal(&r) * sqrt(2.0 / (l->nweights / n)));
            for (int k = 0; k < n; ++k) l->biases[k] = (float)(0.2 * rng_uniform(&r) - 0.1);
            if (l->batch_normalize)
                for (int k = 0; k < n; ++k)
                    l->scales[k] = (float)(0.5 + rng_uniform(&r)), l->rolling_mean[k] = 0,
                    l->rolling_variance[k] = (float)(0.5 + rng_uniform(&r));
        }
        int top = m->n - 1;
        float *x = random_vector(m->net->inputs, a + 7, -1, 1), *proj = random_vector(5, a + 8, -1, 1);
        if (!strcmp(names[a], "gelu")) { /* the fork keeps no input to differentiate gelu at */
            dx_forward(m, x);
            cr_expect_neq(dx_backward(m, top, proj, -1, &err), 0, "gelu: a backward without the fork's input");
            cr_expect(strstr(err.msg, "gelu"), "gelu: the refusal does not name it: %s", err.msg);
            cr_log_info("%-10s refused: %s", names[a], err.msg);
            free(proj), free(x);
            dx_close(m);
            continue;
        }
        float *g = analytic_input_grad(m, top, proj, x);
        fd_report rep = fd_check_coords(m, top, proj, x, g, 40, 2e-4f, a + 9);
        int ok = rep.used >= 20 && rep.agree >= 0.9 * rep.used;
        cr_log_info("%-10s rel err %.2e, %d of %d coords agree (%d skipped)%s", names[a], rep.rel_err, rep.agree,
                    rep.used, rep.skipped, ok ? "" : "  <-- FAILS");
        failed += !ok;
        free(g), free(proj), free(x);
        dx_close(m);
    }
    cr_expect_eq(failed, 0, "%d activations' gradients disagree with finite differences (see the log)", failed);
}

/* Every cfg of the fork's cfg/ folder (at 128x128), with random weights written by the fork's own
 * save_weights: Grad-CAM either writes its map, or darknet-explain refuses in one line that names
 * the file or the layer it cannot explain through; never a crash, never silence. The ones people
 * train are explained. */
Test(alexeyab_cfgs, every_cfg_of_the_fork_is_explained_or_refused_in_one_line, .timeout = 3600)
{
    const char *cfg_dir = getenv("DX_AB_CFG"), *tool = getenv("DX_AB_WEIGHTS_TOOL");
    cr_assert(cfg_dir && tool, "DX_AB_CFG and DX_AB_WEIGHTS_TOOL are set by make test BACKEND=alexeyab");
    char *names[256];
    int n = list_cfgs(cfg_dir, names, 256);
    const char *dir = temp_dir();
    char photo[1200];
    snprintf(photo, sizeof photo, "%s/photo.ppm", dir);
    write_smooth_photo(photo, 64, 64);
    int explained = 0, refused = 0, no_weights = 0;
    static const char *const must[] = {"yolov4-tiny.cfg", "yolov4-tiny-3l.cfg", "yolov7-tiny.cfg", "yolov3-tiny.cfg",
                                       "yolov3.cfg", "darknet53.cfg", "efficientnet_b0.cfg"};
    for (int k = 0; k < n; ++k) {
        char original[1200], cfg[1200], weights[1200], out[1200], cmd[4000];
        snprintf(original, sizeof original, "%s/%s", cfg_dir, names[k]);
        snprintf(cfg, sizeof cfg, "%s/%s", dir, names[k]);
        copy_cfg_at_side(original, cfg, 128);
        snprintf(weights, sizeof weights, "%s/w.weights", dir);
        snprintf(out, sizeof out, "%s/map", dir);
        snprintf(cmd, sizeof cmd, "timeout 120 '%s' '%s' '%s' 7 >/dev/null 2>&1", tool, cfg, weights);
        int made = system(cmd) == 0;
        /* the fork could not make weights for it (its parser or forward fails): an empty file, for
         * darknet-explain to refuse the cfg (or those weights) in one line */
        if (!made) fclose(fopen(weights, "w"));
        const char *args[] = {"gradcam", cfg, weights, photo, "-out", out, NULL};
        cli_result r = spawn_cli(dir, args, 0, 120);
        int is_must = 0;
        for (size_t m = 0; m < sizeof must / sizeof *must; ++m) is_must |= !strcmp(names[k], must[m]);
        if (r.status == 0) {
            ++explained;
            cr_log_info("%-40s explained (%.1f s)", names[k], r.seconds);
        } else {
            refused += made, no_weights += !made;
            cr_log_info("%-40s %s: %s", names[k], made ? "refused" : "no weights", r.err);
            cr_expect(r.status == 1 || r.status == 2, "%s: exit status %d: %s", names[k], r.status, r.err);
            cr_expect_eq(r.err_lines, 1, "%s: %d lines on stderr: %s", names[k], r.err_lines, r.err);
        }
        cr_expect(!is_must || r.status == 0, "%s: not explained: %s", names[k], r.err);
        char rm[4000];
        snprintf(rm, sizeof rm, "rm -f '%s' '%s' '%s'_*", weights, cfg, out);
        if (system(rm) != 0) cr_log_warn("%s failed", rm);
        free(names[k]);
    }
    cr_log_info("%d cfgs: %d explained, %d refused in one line, %d the fork itself cannot build", n, explained,
                refused, no_weights);
    cr_expect(explained >= n / 2, "only %d of %d cfgs explained", explained, n);
}

/* Runs gradcam, saliency, lrp and ig on cfg + weights + photo with this build's darknet-explain
 * and the pjreddie build's ($DX_PJ_CLI) and expects the maps (map files PREFIX_<method><suffix>,
 * pixels values each) to agree within tolerance[method] of the peak. */
static void expect_same_maps(const char *pj, const char *cfg, const char *weights, const char *photo,
                             const char *options, const char *suffix, long pixels, const double tolerance[4],
                             const char *what)
{
    const char *dir = temp_dir();
    char a[1200], b[1200], cmd[16384];
    snprintf(a, sizeof a, "%s/alexeyab", dir);
    snprintf(b, sizeof b, "%s/pjreddie", dir);
    const char *methods[] = {"gradcam", "saliency", "lrp", "ig"};
    for (int k = 0; k < 4; ++k) {
        snprintf(cmd, sizeof cmd, "'%s' %s '%s' '%s' '%s' %s -out '%s_%s' >/dev/null 2>&1 && "
                 "'%s' %s '%s' '%s' '%s' %s -out '%s_%s' >/dev/null 2>&1",
                 getenv("DX_CLI"), methods[k], cfg, weights, photo, options, a, methods[k], pj, methods[k], cfg,
                 weights, photo, options, b, methods[k]);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        char pa[1300], pb[1300];
        snprintf(pa, sizeof pa, "%s_%s%s.npy", a, methods[k], suffix);
        snprintf(pb, sizeof pb, "%s_%s%s.npy", b, methods[k], suffix);
        FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
        cr_assert(fa && fb, "%s or %s missing", pa, pb);
        unsigned char pre[10];
        cr_assert(fread(pre, 1, 10, fa) == 10 && fseek(fa, 10 + (pre[8] | pre[9] << 8), SEEK_SET) == 0);
        cr_assert(fread(pre, 1, 10, fb) == 10 && fseek(fb, 10 + (pre[8] | pre[9] << 8), SEEK_SET) == 0);
        double peak = 0, worst = 0;
        float va, vb;
        long count = 0;
        while (fread(&va, 4, 1, fa) == 1 && fread(&vb, 4, 1, fb) == 1) {
            peak = fmax(peak, fabs(vb));
            worst = fmax(worst, fabs((double)va - vb));
            ++count;
        }
        fclose(fa), fclose(fb);
        cr_log_info("%s %s: %ld values, largest difference %.2e of the peak %.3g", what, methods[k], count,
                    peak > 0 ? worst / peak : worst, peak);
        cr_expect(count == pixels, "%s %s: %ld values", what, methods[k], count);
        cr_expect(peak > 0 && worst <= tolerance[k] * peak, "%s %s: maps differ by %.3g of the peak (at most %g)",
                  what, methods[k], peak > 0 ? worst / peak : worst, tolerance[k]);
    }
}

static const char *pjreddie_cli(void)
{
    const char *pj = getenv("DX_PJ_CLI");
    if (!pj || access(pj, X_OK) != 0)
        cr_skip_test("the pjreddie build's darknet-explain (%s) is not built: make, then make test BACKEND=alexeyab",
                     pj ? pj : "DX_PJ_CLI unset");
    return pj;
}

/* The same cfg and weights on both backends give the same maps: cfg/test-backends.cfg, a
 * detector both Darknets compute alike (no batch norm: pjreddie divides by sqrt(var) + 1e-6,
 * AlexeyAB by sqrt(var + 1e-5), which moves Tiny Darknet's first layer by 6e-5: docs/backends.md),
 * with the fork's random weights, on a photo of the network's size (stretched and letterboxed
 * alike). The pjreddie run is Debian's build of darknet-explain ($DX_PJ_CLI, make's default). */
Test(alexeyab_cfgs, same_maps_as_the_pjreddie_backend, .timeout = 600)
{
    const char *pj = pjreddie_cli(), *tool = getenv("DX_AB_WEIGHTS_TOOL");
    const char *dir = temp_dir();
    char cfg[1200], weights[1200], photo[1200], cmd[4000];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-backends.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/test-backends.weights", dir);
    snprintf(photo, sizeof photo, "%s/photo.ppm", dir);
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 3 >/dev/null 2>&1", tool, cfg, weights);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    write_smooth_photo(photo, 64, 64);
        const double tolerance[4] = {1e-5, 1e-5, 1e-5, 1e-5};
    expect_same_maps(pj, cfg, weights, photo, "-thresh .1", "_box0", 64 * 64, tolerance, "test-backends.cfg");
}

/* Tiny Darknet and Yolo-Fastest with their trained weights, on both backends. The two Darknets
 * place batch norm's epsilon differently (above), so the weights are first rewritten to a network
 * that computes the same function and that both compute alike: every variance times 1e4 and its
 * scale times 100 (y = 100 s (x - m) / sqrt(1e4 v + eps): eps's weight shrinks 1e4-fold).
 * Grad-CAM then agrees within 1e-5 of its peak (measured 1.5e-6 and 1.1e-6). The two forwards
 * still sum in different orders (the fork's AVX gemm, Debian's OpenBLAS), and a gradient map
 * through 20 to 90 leaky and max-pool units changes wherever such a unit sits at its kink: the
 * pixel-level maps agree within 1e-2 of their peaks (measured: saliency 2.2e-3 and 6.4e-4, LRP
 * 2.3e-4 and 6.9e-3, IG 4.5e-3 and 2.2e-3; before the rewrite, saliency differed by 0.125 of its
 * peak). */
static void expect_same_maps_trained(const char *model, const char *options, const char *suffix, int size)
{
    const char *pj = pjreddie_cli();
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: the trained models are there");
    const char *dir = temp_dir();
    char cfg[1200], weights[1200], rescaled[1200], photo[1200];
    snprintf(cfg, sizeof cfg, "%s/models/%s.cfg", shared, model);
    snprintf(weights, sizeof weights, "%s/models/%s.weights", shared, model);
    snprintf(rescaled, sizeof rescaled, "%s/rescaled.weights", dir);
    snprintf(photo, sizeof photo, "%s/photo.ppm", dir);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    int normalised = 0;
    for (int i = 0; i < m->n; ++i) {
        dx_layer *l = &m->net->layers[i];
        if (!l->batch_normalize) continue;
        ++normalised;
        for (int k = 0; k < l->n; ++k) {
            l->rolling_variance[k] *= 1e4f;
            l->scales[k] *= 100;
        }
    }
    cr_assert(normalised > 0, "%s has no batch norm to rescale", model);
    cr_assert_eq(dx_backend_save_weights(m->net, rescaled, &err), 0, "%s", err.msg);
    dx_close(m);
    write_smooth_photo(photo, size, size);
    const double tolerance[4] = {1e-5, 1e-2, 1e-2, 1e-2}; /* gradcam, saliency, lrp, ig */
    expect_same_maps(pj, cfg, rescaled, photo, options, suffix, (long)size * size, tolerance, model);
}

Test(alexeyab_cfgs, same_maps_tiny_darknet, .timeout = 900) { expect_same_maps_trained("imagenet/tiny", "", "", 224); }
Test(alexeyab_cfgs, same_maps_yolo_fastest, .timeout = 900)
{
    expect_same_maps_trained("coco/yolo-fastest-1.1", "-thresh .1", "_box0", 320);
}
