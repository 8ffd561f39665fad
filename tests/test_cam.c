/* The CAM family against its defining properties and against a plain reimplementation.
 *
 * Reference: on cfg/test-gap-leaky.cfg the test computes every method's map itself with direct
 * loops over Darknet's layer outputs (network_predict, no plugin code) and the gradient at the
 * CAM layer from its own closed form (see the cfg), eigenvectors by its own power iteration,
 * Score-CAM by masking the input and running Darknet, Ablation-CAM by zeroing the channel's
 * batch-norm scale and bias in the weights and running Darknet. Axioms: Grad-CAM = CAM / (h*w)
 * on global-average-pool heads, HiResCAM = Grad-CAM where the gradient is spatially constant,
 * Eigen-CAM does not depend on the class, -aug_smooth commutes with a mirror. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "engine.h"
#include "helpers.h"
#include "io/image.h"
#include "io/render.h"
#include "methods/methods.h"
#include "model.h"

static dx_model *open_test_cfg(const char *name, uint64_t seed)
{
    char cfg[1200], weights[256];
    snprintf(cfg, sizeof cfg, "%s/cfg/%s", getenv("DX_ROOT"), name);
    snprintf(weights, sizeof weights, "%s/random.weights", temp_dir());
    return open_random(cfg, weights, seed);
}

static dx_image random_photo(int w, int h, uint64_t seed)
{
    dx_image im = dx_make_image(w, h, 3);
    rng r = {seed};
    for (int i = 0; i < w * h * 3; ++i) im.data[i] = (float)rng_uniform(&r);
    return im;
}

typedef struct {
    dx_method method;
    int cls, relu, eigen_smooth, aug_smooth, batch;
    int layers[DX_MAX_LAYERS], n_layers;
} cam_ask;

static dx_result explain(dx_model *m, dx_image photo, cam_ask a)
{
    dx_request req;
    dx_request_init(&req);
    req.method = a.method;
    req.class_id = a.cls;
    req.relu = a.relu;
    req.eigen_smooth = a.eigen_smooth;
    req.aug_smooth = a.aug_smooth;
    if (a.batch) req.batch = a.batch;
    memcpy(req.layers, a.layers, sizeof req.layers);
    req.n_layers = a.n_layers;
    dx_result r;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "%s: %s", dx_method_name(a.method), err.msg);
    return r;
}

/* max |a - b| / max |b| */
static int all_finite(const float *x, int n)
{
    for (int i = 0; i < n; ++i)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* ---- the plain reimplementation (shares nothing with plugin/methods/cam.c) ---- */

enum { C = 8, H = 6, W = 6, S = H * W, CAM_LAYER = 2, LOGITS = 5, NET = 12 };

/* Darknet's inference batch norm multiplier of output f */
static double bn_mult(const layer *l, int f)
{
    return l->batch_normalize ? l->scales[f] / (sqrt(l->rolling_variance[f]) + .000001f) : 1;
}

/* test-gap-leaky.cfg: d logit_cls / d A (layer 2's output), from the closed form in the cfg */
static void leaky_gradient(const network *net, int cls, double *g)
{
    const layer *conv = &net->layers[3], *fc = &net->layers[5];
    for (int k = 0; k < C; ++k)
        for (int p = 0; p < S; ++p) {
            double sum = 0;
            for (int f = 0; f < conv->n; ++f) {
                double slope = conv->output[f * S + p] > 0 ? 1 : .1;
                sum += fc->weights[cls * fc->inputs + f] / S * slope * bn_mult(conv, f) * conv->weights[f * C + k];
            }
            g[k * S + p] = sum;
        }
}

/* first principal component of x (c x s, channels by pixels), centred over pixels, by power
 * iteration on the c x c covariance; sign: positive covariance with the channel sum */
static void reference_component(const double *x, int c, int s, double *map)
{
    double *centred = malloc(sizeof(double) * c * s), *cov = malloc(sizeof(double) * c * c);
    double *v = malloc(sizeof(double) * c), *next = malloc(sizeof(double) * c);
    for (int k = 0; k < c; ++k) {
        double mean = 0;
        for (int p = 0; p < s; ++p) mean += x[k * s + p] / s;
        for (int p = 0; p < s; ++p) centred[k * s + p] = x[k * s + p] - mean;
    }
    for (int a = 0; a < c; ++a)
        for (int b = 0; b < c; ++b) {
            cov[a * c + b] = 0;
            for (int p = 0; p < s; ++p) cov[a * c + b] += centred[a * s + p] * centred[b * s + p];
        }
    for (int k = 0; k < c; ++k) v[k] = 1 + .1 * k;
    double lambda = 0;
    for (int it = 0; it < 20000; ++it) {
        double norm = 0;
        for (int a = 0; a < c; ++a) {
            next[a] = 0;
            for (int b = 0; b < c; ++b) next[a] += cov[a * c + b] * v[b];
            norm += next[a] * next[a];
        }
        lambda = sqrt(norm);
        for (int a = 0; a < c; ++a) v[a] = next[a] / lambda;
    }
    double residual = 0;
    for (int a = 0; a < c; ++a) {
        double cv = 0;
        for (int b = 0; b < c; ++b) cv += cov[a * c + b] * v[b];
        residual += (cv - lambda * v[a]) * (cv - lambda * v[a]);
    }
    cr_assert(sqrt(residual) < 1e-9 * lambda, "power iteration did not converge (%g)", sqrt(residual) / lambda);
    double agree = 0;
    for (int p = 0; p < s; ++p) {
        map[p] = 0;
        double sum = 0;
        for (int k = 0; k < c; ++k) map[p] += centred[k * s + p] * v[k], sum += x[k * s + p];
        agree += map[p] * sum;
    }
    if (agree < 0)
        for (int p = 0; p < s; ++p) map[p] = -map[p];
    free(centred), free(cov), free(v), free(next);
}

static double logit_of(network *net, const float *input, int cls)
{
    network_predict(net, (float *)input);
    return net->layers[LOGITS].output[cls];
}

/* The map of `method` at layer 2 of test-gap-leaky.cfg, relu off, by direct loops. */
static void reference_map(dx_model *m, dx_image photo, dx_method method, int eigen_smooth, int cls, float *out)
{
    network *net = dx_network(m);
    double A[C * S], g[C * S], weighted[C * S], map[S], wk[C];
    network_predict(net, photo.data);
    for (int i = 0; i < C * S; ++i) A[i] = net->layers[CAM_LAYER].output[i];
    leaky_gradient(net, cls, g);
    int per_pixel = 0;
    for (int k = 0; k < C; ++k) {
        double sum_g = 0, sum_a = 0, sum_ga = 0, pp = 0;
        for (int p = 0; p < S; ++p) sum_g += g[k * S + p], sum_a += A[k * S + p], sum_ga += g[k * S + p] * A[k * S + p];
        for (int p = 0; p < S; ++p) {
            double gp = g[k * S + p];
            if (gp > 0) pp += gp * gp / (2 * gp * gp + sum_a * gp * gp * gp + 1e-6) * gp;
        }
        switch (method) {
        case DX_METHOD_GRADCAM: wk[k] = sum_g / S; break;
        case DX_METHOD_GRADCAMPP: wk[k] = pp; break;
        case DX_METHOD_XGRADCAM: wk[k] = sum_ga / (sum_a + 1e-7); break;
        case DX_METHOD_EIGENCAM: wk[k] = 1; break;
        case DX_METHOD_SCORECAM: case DX_METHOD_ABLATIONCAM: break; /* below */
        default: per_pixel = 1;
        }
    }
    if (method == DX_METHOD_SCORECAM || method == DX_METHOD_ABLATIONCAM) {
        double scores[C], base = logit_of(net, photo.data, cls), top = -INFINITY, total = 0;
        float *masked = malloc(sizeof(float) * net->inputs), up[NET * NET], chan[S];
        layer *l = &net->layers[CAM_LAYER];
        for (int k = 0; k < C; ++k) {
            if (method == DX_METHOD_SCORECAM) {
                for (int p = 0; p < S; ++p) chan[p] = (float)A[k * S + p];
                resize_centres(chan, H, W, up, NET, NET);
                float lo = up[0], hi = up[0];
                for (int p = 0; p < NET * NET; ++p) lo = fminf(lo, up[p]), hi = fmaxf(hi, up[p]);
                for (int i = 0; i < net->inputs; ++i) masked[i] = photo.data[i] * (up[i % (NET * NET)] - lo) / (hi - lo + 1e-8f);
                scores[k] = logit_of(net, masked, cls);
                top = fmax(top, scores[k]);
            } else { /* channel k of layer 2 is 0 when its batch-norm scale and bias are */
                float scale = l->scales[k], bias = l->biases[k];
                l->scales[k] = l->biases[k] = 0;
                dx_params_changed(m, CAM_LAYER); /* Darknet's forward runs through the hooks */
                wk[k] = (base - logit_of(net, photo.data, cls)) / base;
                l->scales[k] = scale, l->biases[k] = bias;
                dx_params_changed(m, CAM_LAYER);
            }
        }
        if (method == DX_METHOD_SCORECAM) {
            for (int k = 0; k < C; ++k) total += exp(scores[k] - top);
            for (int k = 0; k < C; ++k) wk[k] = exp(scores[k] - top) / total;
        }
        free(masked);
        network_predict(net, photo.data);
    }
    for (int k = 0; k < C; ++k)
        for (int p = 0; p < S; ++p) {
            double w = !per_pixel ? wk[k] : method == DX_METHOD_LAYERCAM ? fmax(g[k * S + p], 0) : g[k * S + p];
            weighted[k * S + p] = w * A[k * S + p];
        }
    if (eigen_smooth || method == DX_METHOD_EIGENCAM || method == DX_METHOD_EIGENGRADCAM) {
        reference_component(weighted, C, S, map);
    } else {
        for (int p = 0; p < S; ++p) {
            map[p] = 0;
            for (int k = 0; k < C; ++k) map[p] += weighted[k * S + p];
        }
    }
    for (int p = 0; p < S; ++p) out[p] = (float)map[p];
}

static const dx_method layer_methods[] = {
    DX_METHOD_GRADCAM, DX_METHOD_GRADCAMPP, DX_METHOD_XGRADCAM, DX_METHOD_HIRESCAM, DX_METHOD_LAYERCAM,
    DX_METHOD_EIGENCAM, DX_METHOD_EIGENGRADCAM, DX_METHOD_SCORECAM, DX_METHOD_ABLATIONCAM,
};
#define N_LAYER_METHODS (int)(sizeof layer_methods / sizeof *layer_methods)

Test(cam, equals_plain_reimplementation, .timeout = 120)
{
    dx_model *m = open_test_cfg("test-gap-leaky.cfg", 3);
    dx_image photo = random_photo(NET, NET, 11);
    double worst = 0;
    for (int cls = 0; cls < 5; cls += 3)
        for (int k = 0; k <= N_LAYER_METHODS; ++k) {
            int smooth = k == N_LAYER_METHODS; /* last: Grad-CAM with -eigen_smooth */
            dx_method method = smooth ? DX_METHOD_GRADCAM : layer_methods[k];
            dx_result r = explain(m, photo, (cam_ask){.method = method, .cls = cls, .relu = 0, .eigen_smooth = smooth, .n_layers = 1, .layers = {CAM_LAYER}});
            cr_assert_eq(r.native_h * r.native_w, S);
            /* the methods that re-run the network leave its forward state on the photo */
            cr_expect_eq(dx_output_of(m, m->head)[r.top[0].cls], r.top[0].prob, "%s", dx_method_name(method));
            float ref[S];
            reference_map(m, photo, method, smooth, cls, ref);
            double d = rel_diff(r.native, ref, S, NULL);
            cr_log_info("class %d %s%s: relative difference %.2g", cls, dx_method_name(method),
                        smooth ? " -eigen_smooth" : "", d);
            cr_expect(d <= 1e-4, "class %d %s%s: relative difference %.3g from the reference", cls,
                      dx_method_name(method), smooth ? " -eigen_smooth" : "", d);
            worst = fmax(worst, d);
            dx_result_free(&r);
        }
    cr_log_info("worst relative difference from the reference: %.2g", worst);
    dx_free_image(photo);
    dx_close(m);
}

/* CAM's weights read from the head: w_k = W[cls, k] times the batch-norm multiplier of cls. */
Test(cam, cam_equals_head_weights_and_gradcam_times_pixels)
{
    const char *cfgs[] = {"test-gap-conv.cfg", "test-gap-connected.cfg"};
    for (int c = 0; c < 2; ++c) {
        dx_model *m = open_test_cfg(cfgs[c], 5 + c);
        network *net = dx_network(m);
        const layer *head = &net->layers[c == 0 ? 3 : 5];
        cr_expect(dx_cam_applies(m), "%s: `all` would skip CAM", cfgs[c]);
        dx_image photo = random_photo(NET, NET, 21);
        for (int cls = 0; cls < 5; ++cls) {
            dx_result cam = explain(m, photo, (cam_ask){.method = DX_METHOD_CAM, .cls = cls, .relu = 0});
            dx_result grad = explain(m, photo, (cam_ask){.method = DX_METHOD_GRADCAM, .cls = cls, .relu = 0});
            cr_assert_eq(cam.layer, CAM_LAYER, "%s: default layer %d", cfgs[c], cam.layer);
            float ref[S], scaled[S];
            network_predict(net, photo.data);
            const float *A = net->layers[CAM_LAYER].output;
            for (int p = 0; p < S; ++p) {
                double sum = 0;
                for (int k = 0; k < C; ++k) sum += bn_mult(head, cls) * head->weights[cls * C + k] * A[k * S + p];
                ref[p] = (float)sum;
                scaled[p] = grad.native[p] * S;
            }
            double d_ref = rel_diff(cam.native, ref, S, NULL), d_grad = rel_diff(scaled, cam.native, S, NULL);
            cr_log_info("%s class %d: CAM vs head weights %.2g, Grad-CAM * %d vs CAM %.2g", cfgs[c], cls, d_ref, S, d_grad);
            cr_expect(d_ref <= 1e-5, "%s class %d: CAM differs from the head's weights by %.3g", cfgs[c], cls, d_ref);
            cr_expect(d_grad <= 1e-5, "%s class %d: Grad-CAM * %d differs from CAM by %.3g", cfgs[c], cls, S, d_grad);
            dx_result_free(&cam);
            dx_result_free(&grad);
            /* with the ReLU: the same up to the positive scale */
            cam = explain(m, photo, (cam_ask){.method = DX_METHOD_CAM, .cls = cls, .relu = 1});
            grad = explain(m, photo, (cam_ask){.method = DX_METHOD_GRADCAM, .cls = cls, .relu = 1});
            for (int p = 0; p < S; ++p) scaled[p] = grad.native[p] * S;
            cr_expect(rel_diff(scaled, cam.native, S, NULL) <= 1e-5);
            dx_result_free(&cam);
            dx_result_free(&grad);
        }
        dx_free_image(photo);
        dx_close(m);
    }
}

/* Below a global average pool (through linear layers) d(score)/dA_k is the same at every pixel,
 * so sum_k g_k ⊙ A_k = sum_k mean(g_k) A_k. */
Test(cam, hirescam_equals_gradcam_when_gradient_is_constant)
{
    const char *cfgs[] = {"test-gap-conv.cfg", "test-gap-connected.cfg"};
    for (int c = 0; c < 2; ++c) {
        dx_model *m = open_test_cfg(cfgs[c], 7 + c);
        dx_image photo = random_photo(NET, NET, 31);
        for (int cls = 0; cls < 5; ++cls) {
            dx_result hi = explain(m, photo, (cam_ask){.method = DX_METHOD_HIRESCAM, .cls = cls, .relu = 0});
            dx_result grad = explain(m, photo, (cam_ask){.method = DX_METHOD_GRADCAM, .cls = cls, .relu = 0});
            double d = rel_diff(hi.native, grad.native, S, NULL);
            cr_expect(d <= 1e-5, "%s class %d: HiResCAM differs from Grad-CAM by %.3g", cfgs[c], cls, d);
            dx_result_free(&hi);
            dx_result_free(&grad);
        }
        dx_free_image(photo);
        dx_close(m);
    }
}

Test(cam, cam_refuses_other_heads)
{
    dx_model *m = open_test_cfg("test-gap-leaky.cfg", 3);
    dx_image photo = random_photo(NET, NET, 11);
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_CAM;
    req.layers[0] = CAM_LAYER;
    req.n_layers = 1;
    dx_result r;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), -1);
    cr_log_info("%s", err.msg);
    cr_expect(strstr(err.msg, "layer 3 [convolutional]") && strstr(err.msg, "global-average-pool"), "%s", err.msg);
    cr_expect(!strchr(err.msg, '\n'));
    cr_expect(dx_cam_applies(m), "the default layer (3) is under a CAM head");
    dx_free_image(photo);
    dx_close(m);
    m = open_test_cfg("test-detector.cfg", 1);
    cr_expect(!dx_cam_applies(m), "`all` would run CAM on a detector");
    dx_close(m);
}

/* Every method: a finite map of the documented shapes (native: the layer's out_h x out_w; map:
 * the photo's), different for two classes except Eigen-CAM, whose map is the same bit for bit. */
Test(cam, every_method_finite_shaped_and_class_sensitive)
{
    dx_model *m = open_test_cfg("test-gap-leaky.cfg", 4);
    dx_image photo = random_photo(NET, NET, 41);
    for (int k = 0; k < N_LAYER_METHODS; ++k) {
        dx_result a = explain(m, photo, (cam_ask){.method = layer_methods[k], .cls = 0, .relu = 0, .layers = {CAM_LAYER}, .n_layers = 1});
        dx_result b = explain(m, photo, (cam_ask){.method = layer_methods[k], .cls = 1, .relu = 0, .layers = {CAM_LAYER}, .n_layers = 1});
        const char *name = dx_method_name(layer_methods[k]);
        cr_expect(a.native_h == H && a.native_w == W && a.layer == CAM_LAYER && a.h == NET && a.w == NET, "%s", name);
        cr_expect(all_finite(a.native, S) && all_finite(a.map, NET * NET), "%s", name);
        double d = rel_diff(a.native, b.native, S, NULL);
        if (layer_methods[k] == DX_METHOD_EIGENCAM)
            cr_expect(memcmp(a.native, b.native, sizeof(float) * S) == 0, "eigencam depends on the class");
        else
            cr_expect(d > 1e-2, "%s: classes 0 and 1 give maps only %.3g apart", name, d);
        dx_result_free(&a);
        dx_result_free(&b);
    }
    dx_free_image(photo);
    dx_close(m);
}

/* -layer 2,0: each layer's map scaled by its largest magnitude, resized to the finest (12x12,
 * pixel centres aligned), averaged. */
Test(cam, several_layers_are_averaged)
{
    dx_model *m = open_test_cfg("test-gap-leaky.cfg", 3);
    dx_image photo = random_photo(NET, NET, 51);
    for (int relu = 0; relu < 2; ++relu) {
        dx_result both = explain(m, photo, (cam_ask){.method = DX_METHOD_GRADCAM, .cls = 2, .relu = relu, .layers = {2, 0}, .n_layers = 2});
        dx_result coarse = explain(m, photo, (cam_ask){.method = DX_METHOD_GRADCAM, .cls = 2, .relu = relu, .layers = {2}, .n_layers = 1});
        dx_result fine = explain(m, photo, (cam_ask){.method = DX_METHOD_GRADCAM, .cls = 2, .relu = relu, .layers = {0}, .n_layers = 1});
        cr_assert_eq(both.native_h, NET);
        cr_assert_eq(both.layer, 0);
        float up[NET * NET], expected[NET * NET];
        resize_centres(coarse.native, H, W, up, NET, NET);
        double peak_c = 0, peak_f = 0;
        for (int p = 0; p < S; ++p) peak_c = fmax(peak_c, fabs(coarse.native[p]));
        for (int p = 0; p < NET * NET; ++p) peak_f = fmax(peak_f, fabs(fine.native[p]));
        for (int p = 0; p < NET * NET; ++p) expected[p] = (float)((up[p] / peak_c + fine.native[p] / peak_f) / 2);
        double d = rel_diff(both.native, expected, NET * NET, NULL);
        cr_log_info("-layer 2,0 relu %d: %.2g from the average of the single-layer maps", relu, d);
        cr_expect(d <= 1e-5, "relu %d: %.3g", relu, d);
        dx_result_free(&both);
        dx_result_free(&coarse);
        dx_result_free(&fine);
    }
    dx_free_image(photo);
    dx_close(m);
}

static void mirror(const float *src, int h, int w, int c, float *dst)
{
    for (int k = 0; k < c; ++k)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) dst[(k * h + y) * w + x] = src[(k * h + y) * w + w - 1 - x];
}

/* The augmentations are closed under the mirror, so the aug-smoothed map of the mirrored
 * photo is the mirror of the map; the plain map is not (the network is not symmetric). */
Test(cam, aug_smooth_commutes_with_the_mirror)
{
    dx_model *m = open_test_cfg("test-gap-leaky.cfg", 3);
    dx_image photo = random_photo(NET, NET, 61), flipped = dx_make_image(NET, NET, 3);
    mirror(photo.data, NET, NET, 3, flipped.data);
    dx_method methods[] = {DX_METHOD_GRADCAM, DX_METHOD_EIGENCAM, DX_METHOD_SCORECAM};
    for (int k = 0; k < 3; ++k)
        for (int aug = 0; aug < 2; ++aug) {
            cam_ask ask = {.method = methods[k], .cls = 1, .relu = 0, .aug_smooth = aug, .layers = {CAM_LAYER}, .n_layers = 1};
            dx_result a = explain(m, photo, ask);
            cr_expect_eq(dx_output_of(m, m->head)[a.top[0].cls], a.top[0].prob, "%s aug %d: forward state not restored (%.9g vs %.9g)", dx_method_name(methods[k]), aug, dx_output_of(m, m->head)[a.top[0].cls], a.top[0].prob);
            dx_result b = explain(m, flipped, ask);
            cr_assert(a.native_h == H && a.native_w == W && all_finite(a.native, S));
            float back[S];
            mirror(b.native, H, W, 1, back);
            double d = rel_diff(back, a.native, S, NULL);
            cr_log_info("%s aug_smooth %d: mirrored map vs map of the mirror %.2g", dx_method_name(methods[k]), aug, d);
            if (aug) cr_expect(d <= 1e-4, "%s: -aug_smooth is %.3g from mirror-equivariant", dx_method_name(methods[k]), d);
            else cr_expect(d > 1e-2, "%s: the plain map is already mirror-equivariant (%.3g): the test proves nothing",
                           dx_method_name(methods[k]), d);
            if (aug) {
                ask.aug_smooth = 0;
                dx_result plain = explain(m, photo, ask);
                cr_expect(rel_diff(a.native, plain.native, S, NULL) > 1e-3, "-aug_smooth changed nothing");
                dx_result_free(&plain);
            }
            dx_result_free(&a);
            dx_result_free(&b);
        }
    dx_free_image(photo);
    dx_free_image(flipped);
    dx_close(m);
}

/* More channels than pixels (8 channels on 2x2): Eigen-CAM takes the other route to the
 * component in the plugin (the pixels' Gram matrix); the reference is the same. */
Test(cam, eigencam_wide_layer_equals_reference)
{
    const char *dir = temp_dir();
    char cfg[256], weights[256];
    snprintf(cfg, sizeof cfg, "%s/wide.cfg", dir);
    snprintf(weights, sizeof weights, "%s/wide.weights", dir);
    write_text(cfg, "[net]\nbatch=1\nwidth=2\nheight=2\nchannels=3\n"
                    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                    "[avgpool]\n[connected]\noutput=3\nactivation=linear\n[softmax]\ngroups=1\n");
    dx_model *m = open_random(cfg, weights, 9);
    dx_image photo = random_photo(2, 2, 81);
    dx_result r = explain(m, photo, (cam_ask){.method = DX_METHOD_EIGENCAM, .cls = 0, .relu = 0});
    cr_assert_eq(r.native_h * r.native_w, 4);
    network_predict(dx_network(m), photo.data);
    double x[8 * 4], map[4];
    for (int i = 0; i < 8 * 4; ++i) x[i] = dx_network(m)->layers[0].output[i];
    reference_component(x, 8, 4, map);
    float ref[4];
    for (int p = 0; p < 4; ++p) ref[p] = (float)map[p];
    double d = rel_diff(r.native, ref, 4, NULL);
    cr_log_info("Eigen-CAM, 8 channels on 2x2: %.2g from the reference", d);
    cr_expect(d <= 1e-4, "%.3g", d);
    dx_result_free(&r);
    dx_free_image(photo);
    dx_close(m);
}

Test(cam, scorecam_batch_changes_nothing)
{
    dx_model *m = open_test_cfg("test-gap-leaky.cfg", 3);
    dx_image photo = random_photo(NET, NET, 71);
    dx_result one = explain(m, photo, (cam_ask){.method = DX_METHOD_SCORECAM, .cls = 2, .relu = 0, .batch = 1, .layers = {CAM_LAYER}, .n_layers = 1});
    dx_result three = explain(m, photo, (cam_ask){.method = DX_METHOD_SCORECAM, .cls = 2, .relu = 0, .batch = 3, .layers = {CAM_LAYER}, .n_layers = 1});
    cr_expect(memcmp(one.native, three.native, sizeof(float) * S) == 0);
    dx_result_free(&one);
    dx_result_free(&three);
    dx_free_image(photo);
    dx_close(m);
}

/* Tiny Darknet (conv 1x1 to 1000 classes, linear -> avgpool -> softmax) on dog.jpg at the
 * default layer (14x14x128): CAM = Grad-CAM * 196 = HiResCAM * 196; Eigen-CAM ignores the
 * class; every method (Score-CAM at the 16-channel layer 0) finite, of the layer's shape, and
 * class-sensitive. */
Test(cam, tiny_darknet_axioms, .timeout = 240)
{
    dx_model *m = open_shared_model("imagenet/tiny", NULL);
    dx_error err;
    dx_image photo;
    cr_assert_eq(dx_load_photo("/usr/share/darknet/data/dog.jpg", &photo, &err), 0, "%s", err.msg);
    dx_result cam = explain(m, photo, (cam_ask){.method = DX_METHOD_CAM, .cls = -1, .relu = 0});
    dx_result grad = explain(m, photo, (cam_ask){.method = DX_METHOD_GRADCAM, .cls = -1, .relu = 0});
    dx_result hi = explain(m, photo, (cam_ask){.method = DX_METHOD_HIRESCAM, .cls = -1, .relu = 0});
    int n = cam.native_h * cam.native_w;
    cr_assert_eq(n, 196);
    float *scaled = malloc(sizeof(float) * n), *scaled_hi = malloc(sizeof(float) * n);
    for (int p = 0; p < n; ++p) scaled[p] = grad.native[p] * n, scaled_hi[p] = hi.native[p] * n;
    double d = rel_diff(scaled, cam.native, n, NULL), d_hi = rel_diff(scaled_hi, cam.native, n, NULL);
    cr_log_info("Tiny Darknet layer %d: Grad-CAM*196 vs CAM %.2g, HiResCAM*196 vs CAM %.2g", cam.layer, d, d_hi);
    cr_expect(d <= 1e-4, "Grad-CAM * 196 differs from CAM by %.3g", d);
    cr_expect(d_hi <= 1e-4, "HiResCAM * 196 differs from CAM by %.3g", d_hi);
    free(scaled), free(scaled_hi);
    dx_result_free(&cam), dx_result_free(&grad), dx_result_free(&hi);

    for (int k = 0; k < N_LAYER_METHODS; ++k) {
        dx_method method = layer_methods[k];
        int at = method == DX_METHOD_SCORECAM ? 0 : -1;
        cam_ask ask = {.method = method, .cls = -1, .relu = 0, .batch = 4, .layers = {at}, .n_layers = at >= 0};
        dx_result a = explain(m, photo, ask);
        ask.cls = 254; /* mountain bike */
        dx_result b = explain(m, photo, ask);
        const layer *l = &dx_network(m)->layers[a.layer];
        cr_expect(a.native_h == l->out_h && a.native_w == l->out_w && a.h == photo.h && a.w == photo.w);
        int cells = a.native_h * a.native_w;
        cr_expect(all_finite(a.native, cells) && all_finite(a.map, a.h * a.w), "%s", dx_method_name(method));
        double diff = rel_diff(a.native, b.native, cells, NULL);
        cr_log_info("Tiny Darknet %s: malamute vs mountain bike %.2g", dx_method_name(method), diff);
        if (method == DX_METHOD_EIGENCAM)
            cr_expect(memcmp(a.native, b.native, sizeof(float) * cells) == 0, "eigencam depends on the class");
        else
            cr_expect(diff > 1e-2, "%s: the two classes' maps are %.3g apart", dx_method_name(method), diff);
        dx_result_free(&a), dx_result_free(&b);
    }
    dx_free_image(photo);
    dx_close(m);
}

/* The command line: the new method names and options reach the request. */
Test(cam, command_line_runs_every_cam_option, .timeout = 60)
{
    const char *dir = temp_dir();
    char weights[256], photo_stem[256], cmd[2048];
    snprintf(weights, sizeof weights, "%s/leaky.weights", dir);
    snprintf(photo_stem, sizeof photo_stem, "%s/photo", dir);
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-gap-leaky.cfg", getenv("DX_ROOT"));
    dx_close(open_random(cfg, weights, 3));
    dx_image photo = random_photo(NET, NET, 91);
    char photo_png[300];
    snprintf(photo_png, sizeof photo_png, "%s.png", photo_stem);
    dx_error err;
    cr_assert_eq(dx_write_png(photo, photo_png, &err), 0, "%s", err.msg);
    dx_free_image(photo);
    /* CAM needs a linear head: it explains layer 3 (under the avgpool); the others 2 and 0 averaged */
    const char *runs[][2] = {{"cam", "-layer 3"}, {"gradcam++", "-layer 2,0 -eigen_smooth -aug_smooth"},
                             {"scorecam", "-layer 2,0 -batch 3 -aug_smooth"}};
    for (int k = 0; k < 3; ++k) {
        snprintf(cmd, sizeof cmd, "%s %s %s %s %s.png %s -class 2 -relu 0 -out %s/out >/dev/null 2>%s/err",
                 getenv("DX_CLI"), runs[k][0], cfg, weights, photo_stem, runs[k][1], dir, dir);
        cr_expect_eq(system(cmd), 0, "%s failed: %s", runs[k][0], cmd);
        snprintf(cmd, sizeof cmd, "%s/out.raw.npy", dir);
        FILE *f = fopen(cmd, "rb");
        cr_assert(f, "%s: no %s", runs[k][0], cmd);
        fseek(f, 0, SEEK_END);
        long size = ftell(f); /* the native map: 6x6 at layer 3, 12x12 with layer 0 among the layers */
        fclose(f);
        remove(cmd);
        cr_expect(k == 0 ? size < 4 * 144 : size > 4 * 144, "%s: %ld bytes of native map", runs[k][0], size);
    }
}
