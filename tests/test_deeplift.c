/* DeepLIFT (plugin/methods/deeplift.c): summation to delta on the test nets, the shapes
 * classifier and detector and Tiny Darknet, with the Rescale and the RevealCancel rule
 * (tests/test_revealcancel.c has RevealCancel's own tests); with Rescale, the attributions equal a plain double-precision
 * reimplementation of a small network (conv + batch norm + leaky, an overlapping maxpool with
 * Captum's rule, conv + relu, avgpool, connected); on a net of connected layers and ReLUs with a
 * zero reference they equal Captum's DeepLift definition in closed form, and input x gradient
 * where no unit changes sign; the command line writes the usual outputs and the JSON's
 * "parameters" (test_options.c reruns them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "engine.h"
#include "methods/methods.h"
#include "model.h"
#include "rng.h"
#include "../tools/shapes.h"

static const char *root(void) { return getenv("DX_ROOT") ? getenv("DX_ROOT") : "."; }

static double stat_of(const dx_result *r, const char *name)
{
    for (int k = 0; k < r->n_stats; ++k)
        if (!strcmp(r->stats[k].name, name)) return r->stats[k].value;
    cr_assert_fail("deeplift: no method stat '%s'", name);
    return NAN;
}

/* Summation to delta: |sum(attr) - (f(x) - f(x'))| <= 1e-4 |f(x) - f(x')|, the stats consistent
 * with the map and with the scores (r->logit: the score on x). Returns the relative gap. */
static double expect_summation(const char *what, const dx_result *r)
{
    double sum = stat_of(r, "attribution_sum"), diff = stat_of(r, "score_difference");
    double delta = stat_of(r, "summation_delta");
    cr_log_info("%s: sum(attr) %.7g, f(x) - f(x') %.7g, gap %.2e relative", what, sum, diff, delta / fabs(diff));
    cr_expect(fabs(diff) > 1e-3, "%s: f(x) - f(x') = %g is too small to test anything", what, diff);
    cr_expect(delta <= 1e-4 * fabs(diff), "%s: attributions sum to %.8g, f(x) - f(x') = %.8g", what, sum, diff);
    cr_expect(fabs(delta - fabs(sum - diff)) <= 1e-9 * fabs(diff), "%s: the gap %g is not |%g - %g|", what, delta, sum, diff);
    cr_expect(fabs(diff - (r->logit - stat_of(r, "baseline_score"))) <= 1e-5 * (fabs(r->logit) + 1),
              "%s: the score difference is not f(x) - f(x')", what);
    double map_sum = 0;
    for (int p = 0; p < r->native_h * r->native_w; ++p) map_sum += r->native[p];
    cr_expect(fabs(map_sum - sum) <= 1e-4 * (fabs(sum) + 1), "%s: the map sums to %g, the attributions to %g",
              what, map_sum, sum);
    return delta / fabs(diff);
}

static const dx_deeplift_rule rules[] = {DX_DEEPLIFT_RESCALE, DX_DEEPLIFT_REVEALCANCEL};
static const char *const rule_names[] = {"rescale", "revealcancel"};

static void explain(dx_model *m, dx_image photo, const char *baseline, int rule, int cls, dx_result *r)
{
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_DEEPLIFT;
    req.deeplift_rule = rules[rule];
    req.baseline = baseline;
    req.class_id = cls;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, &req, r, &err), 0, "deeplift: %s", err.msg);
}

/* Every layer type the test classifiers hold (convolutions with batch norm, leaky and relu,
 * maxpools with and without overlap, avgpool, connected, route, shortcut, upsample, dropout):
 * the [maxpool] rule moves each window's output difference to inputs whose own difference
 * carries it, so the sum holds through them too, up to the inputs whose |x - x'| falls below the
 * threshold (whose share is 0 within it). */
Test(deeplift, summation_to_delta_test_nets, .timeout = 120)
{
    static const char *nets[] = {"test-classifier", "test-gap-connected", "test-gap-conv", "test-gap-leaky",
                                 "test-lrp", "test-lrp-relu"};
    static const char *baselines[] = {"black", "blur", "noise"};
    double worst = 0;
    for (size_t n = 0; n < sizeof nets / sizeof *nets; ++n) {
        char cfg[1100], weights[256];
        snprintf(cfg, sizeof cfg, "%s/cfg/%s.cfg", root(), nets[n]);
        snprintf(weights, sizeof weights, "%s/%s.weights", temp_dir(), nets[n]);
        dx_model *m = open_random(cfg, weights, 31 + n);
        dx_image photo = noise_photo(23, 17, 3, 5 + n); /* letterboxed: a border of grey */
        for (int b = 0; b < 3; ++b)
            for (int run = 0; run < 4; ++run) { /* classes 0 and 1, each with both rules */
                dx_result r;
                explain(m, photo, baselines[b], run % 2, run / 2, &r);
                char what[128];
                snprintf(what, sizeof what, "%s, %s, %s baseline, class %d", nets[n], rule_names[run % 2], baselines[b],
                         run / 2);
                worst = fmax(worst, expect_summation(what, &r));
                dx_result_free(&r);
            }
        dx_free_image(photo);
        dx_close(m);
    }
    cr_log_info("test nets: the largest relative gap %.2e", worst);
}

/* The other activations, as layers and inside them: [activation] tanh, a [shortcut] with its own
 * leaky, logistic and elu convolutions, upsample, route. */
static const char *activations_cfg =
    "[net]\nwidth=8\nheight=8\nchannels=3\n"
    "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=linear\n"
    "[activation]\nactivation=tanh\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"
    "[shortcut]\nfrom=-2\nactivation=leaky\n"
    "[convolutional]\nfilters=4\nsize=1\nactivation=logistic\n"
    "[upsample]\nstride=2\n[maxpool]\nsize=2\nstride=2\n"
    "[route]\nlayers=-1,-4\n"
    "[convolutional]\nfilters=3\nsize=1\nactivation=elu\n"
    "[avgpool]\n[connected]\noutput=5\nactivation=linear\n[softmax]\n";

/* Summation to delta for classes 0..classes-1 of net `name`, with each of the black, blur and
 * noise references. */
static void expect_summation_per_class(dx_model *m, dx_image photo, int classes, const char *name)
{
    static const char *baselines[] = {"black", "blur", "noise"};
    for (int b = 0; b < 3; ++b)
        for (int rule = 0; rule < 2; ++rule)
            for (int cls = 0; cls < classes; ++cls) {
                dx_result r;
                explain(m, photo, baselines[b], rule, cls, &r);
                char what[128];
                snprintf(what, sizeof what, "%s, %s, %s baseline, class %d", name, rule_names[rule], baselines[b], cls);
                expect_summation(what, &r);
                dx_result_free(&r);
            }
}

Test(deeplift, summation_to_delta_other_activations)
{
    dx_model *m = open_cfg_text("deeplift-activations", activations_cfg, 37);
    dx_image photo = noise_photo(8, 8, 3, 37);
    expect_summation_per_class(m, photo, 5, "tanh/leaky/logistic/elu net");
    dx_free_image(photo);
    dx_close(m);
}

Test(deeplift, summation_to_delta_shapes_classifier)
{
    char cfg[1100], weights[1100];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", root());
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", root());
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    dx_image photo = noise_photo(64, 48, 3, 9);
    expect_summation_per_class(m, photo, 3, "shapes-classifier");
    dx_free_image(photo);
    dx_close(m);
}

Test(deeplift, summation_to_delta_tiny_darknet, .timeout = 300)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    dx_model *m = open_shared_model("imagenet/tiny", NULL);
    char photo[1200];
    snprintf(photo, sizeof photo, "%s/images/dog.jpg", shared);
    static const char *baselines[] = {"black", "blur"};
    for (int run = 0; run < 4; ++run) {
        dx_request req;
        dx_request_init(&req);
        req.method = DX_METHOD_DEEPLIFT;
        req.baseline = baselines[run / 2];
        req.deeplift_rule = rules[run % 2];
        dx_result r;
        dx_error err;
        cr_assert_eq(dx_explain_file(m, photo, &req, &r, &err), 0, "%s", err.msg);
        char what[128];
        snprintf(what, sizeof what, "Tiny Darknet, dog.jpg, %s, %s baseline", rule_names[run % 2], baselines[run / 2]);
        expect_summation(what, &r);
        dx_result_free(&r);
    }
    dx_close(m);
}

/* The reference: a plain double-precision DeepLIFT-Rescale of one small network, its forwards and
 * its reverse pass written out from the layers' weights. x: 3x8x8 -> conv 3x3 + batch norm +
 * leaky (4) -> maxpool 3/2 (overlapping windows, Darknet's padding: 4x4) -> conv 1x1 relu (5) ->
 * global mean -> connected (6, the logits). */
static const char *reference_cfg =
    "[net]\nwidth=8\nheight=8\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[maxpool]\nsize=3\nstride=2\n"
    "[convolutional]\nfilters=5\nsize=1\nstride=1\nactivation=relu\n"
    "[avgpool]\n[connected]\noutput=6\nactivation=linear\n[softmax]\n";
enum { RS = 8, RP = RS * RS, RC = 3, RF0 = 4, RQ = 4, RPQ = RQ * RQ, RF1 = 5, RK = 6 };

typedef struct {
    double z0[RF0][RP], h0[RF0][RP], h1[RF0][RPQ], z2[RF1][RPQ], h2[RF1][RPQ], logit[RK];
    int win[RF0][RPQ]; /* the index in h0[f] of each window's first maximum */
} ref_state;

static void ref_forward(const network *net, const double *x, ref_state *s)
{
    const layer *c0 = &net->layers[0], *c2 = &net->layers[2], *fc = &net->layers[4];
    for (int f = 0; f < RF0; ++f)
        for (int y = 0; y < RS; ++y)
            for (int i = 0; i < RS; ++i) {
                double u = 0;
                for (int c = 0; c < RC; ++c)
                    for (int ky = 0; ky < 3; ++ky)
                        for (int kx = 0; kx < 3; ++kx) {
                            int yy = y + ky - 1, xx = i + kx - 1;
                            if (yy >= 0 && yy < RS && xx >= 0 && xx < RS)
                                u += c0->weights[((f * RC + c) * 3 + ky) * 3 + kx] * x[c * RP + yy * RS + xx];
                        }
                /* Darknet's inference batch norm: scale (u - mean) / (sqrt(var) + 1e-6) + bias */
                u = c0->scales[f] * (u - c0->rolling_mean[f]) / (sqrt(c0->rolling_variance[f]) + 1e-6) + c0->biases[f];
                s->z0[f][y * RS + i] = u;
                s->h0[f][y * RS + i] = u > 0 ? u : 0.1 * u;
            }
    for (int f = 0; f < RF0; ++f)
        for (int y = 0; y < RQ; ++y)
            for (int i = 0; i < RQ; ++i) {
                int best = -1;
                for (int dy = 0; dy < 3; ++dy)
                    for (int dx = 0; dx < 3; ++dx) {
                        int yy = 2 * y - 1 + dy, xx = 2 * i - 1 + dx; /* padding size - 1: offset -1 */
                        if (yy < 0 || yy >= RS || xx < 0 || xx >= RS) continue;
                        if (best < 0 || s->h0[f][yy * RS + xx] > s->h0[f][best]) best = yy * RS + xx;
                    }
                s->win[f][y * RQ + i] = best;
                s->h1[f][y * RQ + i] = s->h0[f][best];
            }
    double mean[RF1] = {0};
    for (int j = 0; j < RF1; ++j)
        for (int q = 0; q < RPQ; ++q) {
            double u = c2->biases[j];
            for (int f = 0; f < RF0; ++f) u += c2->weights[j * RF0 + f] * s->h1[f][q];
            s->z2[j][q] = u;
            s->h2[j][q] = u > 0 ? u : 0;
            mean[j] += s->h2[j][q] / RPQ;
        }
    for (int k = 0; k < RK; ++k) {
        s->logit[k] = fc->biases[k];
        for (int j = 0; j < RF1; ++j) s->logit[k] += fc->weights[k * RF1 + j] * mean[j];
    }
}

/* (f(z) - f(z')) / (z - z'), or the slope at z where they are within 1e-6 */
static double ref_rescale(double h, double h_ref, double z, double z_ref, double slope_below)
{
    return fabs(z - z_ref) >= 1e-6 ? (h - h_ref) / (z - z_ref) : z > 0 ? 1 : slope_below;
}

/* attr = (x - x') * the DeepLIFT-Rescale multipliers of logit cls */
static void ref_deeplift(const network *net, const double *x, const double *x_ref, int cls, double *attr)
{
    const layer *c0 = &net->layers[0], *c2 = &net->layers[2], *fc = &net->layers[4];
    static ref_state s, r;
    ref_forward(net, x, &s);
    ref_forward(net, x_ref, &r);
    double m_z2[RF1][RPQ], m_h1[RF0][RPQ] = {{0}}, share[RF0][RP] = {{0}}, grad[RF0][RP] = {{0}}, m_z0[RF0][RP];
    for (int j = 0; j < RF1; ++j)
        for (int q = 0; q < RPQ; ++q)
            m_z2[j][q] = fc->weights[cls * RF1 + j] / RPQ * ref_rescale(s.h2[j][q], r.h2[j][q], s.z2[j][q], r.z2[j][q], 0);
    for (int f = 0; f < RF0; ++f)
        for (int q = 0; q < RPQ; ++q)
            for (int j = 0; j < RF1; ++j) m_h1[f][q] += c2->weights[j * RF0 + f] * m_z2[j][q];
    /* Captum's maxpool: the output difference split at max(y, y') between the two winners */
    for (int f = 0; f < RF0; ++f)
        for (int q = 0; q < RPQ; ++q) {
            double top = fmax(s.h1[f][q], r.h1[f][q]);
            share[f][s.win[f][q]] += m_h1[f][q] * (top - r.h1[f][q]);
            share[f][r.win[f][q]] += m_h1[f][q] * (s.h1[f][q] - top);
            grad[f][s.win[f][q]] += m_h1[f][q];
        }
    for (int f = 0; f < RF0; ++f)
        for (int p = 0; p < RP; ++p) {
            double d = s.h0[f][p] - r.h0[f][p];
            double m_h0 = fabs(d) >= 1e-6 ? share[f][p] / d : grad[f][p];
            m_z0[f][p] = m_h0 * ref_rescale(s.h0[f][p], r.h0[f][p], s.z0[f][p], r.z0[f][p], 0.1) * c0->scales[f] /
                         (sqrt(c0->rolling_variance[f]) + 1e-6);
        }
    double m_x[RC * RP] = {0};
    for (int f = 0; f < RF0; ++f)
        for (int y = 0; y < RS; ++y)
            for (int i = 0; i < RS; ++i)
                for (int c = 0; c < RC; ++c)
                    for (int ky = 0; ky < 3; ++ky)
                        for (int kx = 0; kx < 3; ++kx) {
                            int yy = y + ky - 1, xx = i + kx - 1;
                            if (yy >= 0 && yy < RS && xx >= 0 && xx < RS)
                                m_x[c * RP + yy * RS + xx] += c0->weights[((f * RC + c) * 3 + ky) * 3 + kx] * m_z0[f][y * RS + i];
                        }
    for (int k = 0; k < RC * RP; ++k) attr[k] = (x[k] - x_ref[k]) * m_x[k];
}

Test(deeplift, equals_plain_reimplementation)
{
    dx_model *m = open_cfg_text("deeplift-reference", reference_cfg, 23);
    const network *net = dx_network(m);
    dx_image photo = noise_photo(RS, RS, RC, 23);
    static const char *baselines[] = {"black", "noise"};
    for (int b = 0; b < 2; ++b)
        for (int cls = 0; cls < RK; cls += 2) {
            dx_request req;
            dx_request_init(&req);
            req.method = DX_METHOD_DEEPLIFT;
            req.baseline = baselines[b];
            req.class_id = cls;
            req.seed = 41;
            dx_result r;
            dx_error err;
            cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "%s", err.msg);
            /* the letterbox of a photo of the network's size is the photo itself; noise: one
             * uniform draw per input value, in order, from the seed */
            double x[RC * RP], x_ref[RC * RP], attr[RC * RP], want[RP] = {0};
            dx_rng rng;
            dx_rng_init(&rng, req.seed);
            for (int k = 0; k < RC * RP; ++k) {
                cr_assert(fabsf(dx_output_of(m, -1)[k] - photo.data[k]) <= 1e-6f);
                x[k] = photo.data[k];
                x_ref[k] = b == 0 ? 0 : (float)dx_rng_uniform(&rng);
            }
            ref_deeplift(net, x, x_ref, cls, attr);
            for (int k = 0; k < RC * RP; ++k) want[k % RP] += attr[k];
            double peak = 0, worst = 0;
            for (int p = 0; p < RP; ++p) {
                peak = fmax(peak, fabs(want[p]));
                worst = fmax(worst, fabs(r.native[p] - want[p]));
            }
            cr_log_info("%s baseline, class %d: max |plugin - reference| = %.2e of the peak %.3g", baselines[b], cls,
                        worst / peak, peak);
            cr_expect(peak > 0 && worst <= 1e-4 * peak, "%s baseline, class %d: the plugin's map differs from the "
                      "reference by %g (peak %g)", baselines[b], cls, worst, peak);
            dx_result_free(&r);
        }
    dx_free_image(photo);
    dx_close(m);
}

/* Connected layers and ReLUs: 48 inputs -> 10 relu -> 4 logits. With the zero reference, unit j's
 * multiplier is Captum's DeepLift's (relu(z_j) - relu(b_j)) / (z_j - b_j) (z' = b, its bias), so
 * attr_i = x_i sum_j W2[cls, j] m_j W1[j, i] in closed form. Where no unit changes sign between x
 * and x' (all biases 0: z' = 0), that is x times the gradient. */
static const char *relu_cfg =
    "[net]\nwidth=4\nheight=4\nchannels=3\n"
    "[connected]\noutput=10\nactivation=relu\n[connected]\noutput=4\nactivation=linear\n[softmax]\n";
enum { LN = 48, LH = 10, LK = 4 };

/* DeepLIFT's per-input attributions of logit cls against zeros, and x times the gradient */
static void relu_net_attributions(dx_model *m, const float *x, int cls, float *attr, float *xgrad)
{
    dx_error err;
    dx_target t;
    cr_assert_eq(dx_class_target(m, cls, DX_SCORE_LOGIT, &t, &err), 0, "%s", err.msg);
    float zeros[LN] = {0};
    double f_x, f_base;
    dx_forward(m, x);
    cr_assert_eq(dx_deeplift(m, &t, DX_DEEPLIFT_RESCALE, zeros, attr, &f_x, &f_base, &err), 0, "%s", err.msg);
    cr_assert_eq(dx_target_backward(m, &t, -1, NULL, &err), 0, "%s", err.msg);
    for (int i = 0; i < LN; ++i) xgrad[i] = x[i] * dx_grad_of(m, -1)[i];
}

Test(deeplift, relu_net_equals_captums_definition_and_input_x_gradient_without_sign_changes)
{
    dx_model *m = open_cfg_text("deeplift-relu", relu_cfg, 29);
    network *net = dx_network(m);
    const layer *l1 = &net->layers[0], *l2 = &net->layers[1];
    rng r = {97};
    float x[LN], attr[LN], xgrad[LN];
    for (int i = 0; i < LN; ++i) x[i] = (float)rng_uniform(&r);
    for (int pass = 0; pass < 2; ++pass) {
        /* pass 0: biases 0, no unit changes sign; pass 1: biases of either sign, large enough
         * that some units do */
        for (int j = 0; j < LH; ++j) l1->biases[j] = pass == 0 ? 0.f : (float)(rng_uniform(&r) - 0.5) * 2.f;
        double z[LH];
        int off = 0, flipped = 0;
        for (int j = 0; j < LH; ++j) {
            z[j] = l1->biases[j];
            for (int i = 0; i < LN; ++i) z[j] += (double)l1->weights[j * LN + i] * x[i];
            off += z[j] <= 0;
            flipped += z[j] * l1->biases[j] < 0;
        }
        cr_log_info("pass %d: %d of %d units off at x, %d change sign between x and the zero reference", pass, off,
                    LH, flipped);
        cr_assert(off > 0 && off < LH, "the test needs units on and off at x");
        if (pass == 1) cr_assert(flipped > 0, "pass 1 needs units that change sign");
        for (int cls = 0; cls < LK; ++cls) {
            relu_net_attributions(m, x, cls, attr, xgrad);
            double peak = 0, worst = 0, worst_xgrad = 0;
            for (int i = 0; i < LN; ++i) {
                double want = 0;
                for (int j = 0; j < LH; ++j) {
                    double b = l1->biases[j], mult = (fmax(z[j], 0) - fmax(b, 0)) / (z[j] - b);
                    want += l2->weights[cls * LH + j] * mult * l1->weights[j * LN + i];
                }
                want *= x[i];
                peak = fmax(peak, fabs(want));
                worst = fmax(worst, fabs(attr[i] - want));
                worst_xgrad = fmax(worst_xgrad, fabs(attr[i] - xgrad[i]));
            }
            cr_log_info("pass %d, class %d: |deeplift - closed form| %.2e, |deeplift - x grad| %.2e of the peak %.3g",
                        pass, cls, worst / peak, worst_xgrad / peak, peak);
            cr_expect(worst <= 1e-5 * peak, "pass %d class %d: DeepLIFT differs from Captum's definition by %g (peak %g)",
                      pass, cls, worst, peak);
            if (pass == 1)
                cr_expect(worst_xgrad > 1e-3 * peak, "class %d: units change sign, yet DeepLIFT is x times the "
                          "gradient: the test cannot tell them apart", cls);
            else
                cr_expect(worst_xgrad <= 1e-5 * peak, "class %d: without sign changes DeepLIFT is x times the gradient, "
                          "off by %g (peak %g)", cls, worst_xgrad, peak);
        }
    }
    dx_close(m);
}

/* The command line: the usual outputs, the JSON's parameters (with an image file as -baseline)
 * and method_stats; a baseline that is not an image is one line naming it, nothing written. */
Test(deeplift, command_line_outputs_and_parameters, .timeout = 60)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", classifier_fixture());
    run_result r = run_dx(dir, "deeplift net.cfg net.weights photo.png -baseline photo.png -out first");
    cr_assert_eq(r.status, 0, "%s", r.err);
    static const char *const outputs[] = {"first.png", "first.npy", "first.raw.npy", "first.json"};
    for (int k = 0; k < 4; ++k) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, outputs[k]);
        cr_expect(exists(path), "no %s", outputs[k]);
    }
    char path[700];
    snprintf(path, sizeof path, "%s/first.json", dir);
    char *json = read_text(path);
    cr_expect(strstr(json, "\"method\": \"deeplift\""), "%s", json);
    cr_expect(strstr(json, "\"baseline\": \"photo.png\""), "%s", json);
    /* the photo as its own reference: no difference, nothing attributed */
    cr_expect(strstr(json, "\"attribution_sum\": 0") && strstr(json, "\"score_difference\": 0"), "%s", json);
    free(json);
    write_text(path, "not an image");
    r = run_dx(dir, "deeplift net.cfg net.weights photo.png -baseline first.json -out second");
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    cr_expect(strstr(r.err, "-baseline") && strstr(r.err, "first.json"), "%s", r.err);
    snprintf(path, sizeof path, "%s/second.json", dir);
    cr_expect(!exists(path), "a failed run left second.json");
}

/* Detectors, per box: through the [yolo] heads (each output rescaled against its own input) and
 * with the score's gradient averaged over x and x', the sum holds for the scores linear or
 * bilinear in the head's outputs: objectness x class probability, either alone, the centre. */
Test(deeplift, summation_to_delta_shapes_detector_boxes, .timeout = 120)
{
    char cfg[1100], weights[1100];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-detector.cfg", root());
    snprintf(weights, sizeof weights, "%s/cfg/shapes-detector.weights", root());
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    dx_image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(4, 1, 64, 3, &photo, objs);
    static const dx_box_target kinds[] = {DX_BOX_SCORE, DX_BOX_CLASS, DX_BOX_OBJ, DX_BOX_X};
    static const char *kind_names[] = {"score", "class", "obj", "x"};
    static const char *baselines[] = {"black", "blur"};
    int boxes = 0;
    for (int k = 0; k < 4; ++k)
        for (int run = 0; run < 4; ++run) {
            int b = run / 2;
            dx_request req;
            dx_request_init(&req);
            req.method = DX_METHOD_DEEPLIFT;
            req.baseline = baselines[b];
            req.deeplift_rule = rules[run % 2];
            req.box_target = kinds[k];
            dx_box_explanations e;
            cr_assert_eq(dx_explain_boxes(m, photo, &req, &e, &err), 0, "%s", err.msg);
            cr_assert(e.n > 0, "no box on the shapes photo");
            for (int j = 0; j < e.n; ++j, ++boxes) {
                char what[128];
                snprintf(what, sizeof what, "shapes-detector box %d, %s, %s, %s baseline", j, kind_names[k],
                         rule_names[run % 2], baselines[b]);
                expect_summation(what, &e.results[j]);
            }
            dx_box_explanations_free(&e);
        }
    cr_log_info("%d boxes", boxes);
    dx_free_image(photo);
    dx_close(m);
}
