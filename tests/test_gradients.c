/* The inference-mode backward against central finite differences: every supported layer type
 * in isolation (every activation Darknet defines), whole test networks from cfg/, and the real
 * Tiny Darknet and Yolo-Fastest models from ../shared. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "engine.h"
#include "helpers.h"
#include "layers/layers.h"

static float *random_vector(int n, uint64_t seed, double lo, double hi)
{
    rng r = {seed};
    float *v = malloc(sizeof(float) * n);
    for (int k = 0; k < n; ++k) v[k] = (float)(lo + (hi - lo) * rng_uniform(&r));
    return v;
}

/* Opens cfg_text with random weights, projects the top layer's output on a random vector and
 * checks d/d(input) at up to `coords` coordinates. Returns the report. */
static fd_report check_cfg_text(const char *name, const char *cfg_text, int coords, uint64_t seed)
{
    const char *dir = temp_dir();
    char cfg[256], weights[256];
    snprintf(cfg, sizeof cfg, "%s/%s.cfg", dir, name);
    snprintf(weights, sizeof weights, "%s/%s.weights", dir, name);
    write_text(cfg, cfg_text);
    dx_model *m = open_random(cfg, weights, seed);
    network *net = dx_network(m);
    int top = net->n - 1;
    float *x = random_vector(net->inputs, seed + 1, 0, 1);
    float *proj = random_vector(net->layers[top].outputs, seed + 2, -1, 1);
    float *g = analytic_input_grad(m, top, proj, x);
    fd_report rep = fd_check_coords(m, top, proj, x, g, coords, 2e-3f, seed);
    cr_log_info("%-28s rel err %.2e, %d of %d coords agree to 1%% (%d skipped at kinks)", name,
                rep.rel_err, rep.agree, rep.used, rep.skipped);
    free(g);
    free(proj);
    free(x);
    dx_close(m);
    return rep;
}

#define NET(w, h, c) "[net]\nwidth=" #w "\nheight=" #h "\nchannels=" #c "\n"

/* A wrong index or factor breaks most coordinates; a kink within the step (ReLU, max, a stair
 * jump) breaks some: one unit sitting on its kink spoils every input coordinate it sees, which
 * on these tiny inputs can be a fifth of them. So: most coordinates usable, nearly all of those
 * agree. */
static void expect_fd(const char *name, fd_report rep, double min_agree)
{
    int tried = rep.used + rep.skipped;
    cr_expect(rep.used >= 2 * tried / 3, "%s: only %d of %d coordinates usable", name, rep.used, tried);
    cr_expect(rep.agree >= min_agree * rep.used,
              "%s: analytic and finite differences agree at only %d of %d coordinates (rel err %.3g)",
              name, rep.agree, rep.used, rep.rel_err);
}

static void expect_exact(const char *name, const char *cfg_text)
{
    expect_fd(name, check_cfg_text(name, cfg_text, 60, 42), 0.95);
}

Test(layer, convolutional_every_activation)
{
    static const char *acts[] = {"logistic", "relu", "relie", "linear", "ramp", "tanh", "plse",
                                 "leaky", "elu", "loggy", "stair", "hardtan", "lhtan", "selu"};
    for (size_t a = 0; a < sizeof acts / sizeof *acts; ++a) {
        char text[512], name[64];
        snprintf(text, sizeof text,
                 NET(9, 9, 3) "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=%s\n", acts[a]);
        snprintf(name, sizeof name, "conv-%s", acts[a]);
        expect_fd(name, check_cfg_text(name, text, 60, 7 + a), 0.95);
    }
}

/* The activations whose derivative the plugin multiplies in itself (dx_activation_derivative)
 * give the factors of the backend's Darknet (gradient_array) bit for bit, at signed zeros, huge,
 * inf and NaN outputs and gradients too. One exception, measured: a subnormal gradient times a
 * factor of 1 stays subnormal in ours (the compiler drops the multiplication by 1) where Debian's
 * -Ofast Darknet runs with flush-to-zero and gives a zero of its sign. The other activations go
 * to Darknet itself. */
Test(layer, activation_derivative_equals_darknets)
{
    static const float special[] = {0.f, -0.f, 1e-38f, -1e-38f, 1e-45f, -1e-45f, 3e38f, -3e38f, INFINITY, -INFINITY, NAN, -NAN};
    enum { N = 4096, S = sizeof special / sizeof *special };
    static const dx_activation acts[] = {DX_ACT_LINEAR, DX_ACT_LEAKY, DX_ACT_RELU, DX_ACT_LOGISTIC};
    float *out = random_vector(N, 11, -3, 3), *g = random_vector(N, 12, -2, 2);
    for (int k = 0; k < S * S; ++k) out[k] = special[k % S], g[k] = special[k / S];
    float ours[N], darknets[N];
    for (size_t a = 0; a < sizeof acts / sizeof *acts; ++a) {
        memcpy(ours, g, sizeof ours);
        memcpy(darknets, g, sizeof darknets);
        dx_activation_derivative(out, out, N, acts[a], ours);
        dx_backend_gradient(out, out, N, acts[a], darknets);
        long differ = 0, flushed = 0, first = -1;
        for (int k = 0; k < N; ++k) {
            if (memcmp(&ours[k], &darknets[k], sizeof(float)) == 0) continue;
            uint32_t o, d, in;
            memcpy(&o, &ours[k], 4), memcpy(&d, &darknets[k], 4), memcpy(&in, &g[k], 4);
            /* by the bits: with flush-to-zero on, comparisons see a subnormal as 0 */
            if (o == in && (in & 0x7f800000u) == 0 && d == (in & 0x80000000u)) {
                flushed++;
                continue;
            }
            differ++, first = first < 0 ? k : first;
        }
        cr_expect_eq(differ, 0, "activation %d: %ld of %d factors differ from Darknet's, first at output %g, gradient %g: "
                     "%g against %g", (int)acts[a], differ, N, first < 0 ? 0 : out[first], first < 0 ? 0 : g[first],
                     first < 0 ? 0 : ours[first], first < 0 ? 0 : darknets[first]);
        cr_expect_leq(flushed, 4 * S, "activation %d: %ld subnormal gradients kept", (int)acts[a], flushed);
    }
    free(out), free(g);
}

Test(layer, convolutional_batchnorm_stride_groups_pad)
{
    expect_exact("conv-bn", NET(9, 9, 3) "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n");
    expect_exact("conv-stride2", NET(9, 9, 3) "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=leaky\n");
    expect_exact("conv-5x5-nopad", NET(9, 9, 3) "[convolutional]\nfilters=4\nsize=5\nstride=1\npad=0\nactivation=leaky\n");
    expect_exact("conv-1x1", NET(9, 9, 3) "[convolutional]\nbatch_normalize=1\nfilters=5\nsize=1\nstride=1\nactivation=linear\n");
    expect_exact("conv-groups", NET(9, 9, 4) "[convolutional]\nbatch_normalize=1\nfilters=6\ngroups=2\nsize=3\nstride=1\npad=1\nactivation=leaky\n");
    expect_exact("conv-depthwise", NET(9, 9, 4) "[convolutional]\nbatch_normalize=1\nfilters=4\ngroups=4\nsize=3\nstride=2\npad=1\nactivation=relu\n");
}

Test(layer, connected)
{
    expect_exact("connected", NET(4, 4, 3) "[connected]\noutput=7\nactivation=leaky\n");
    expect_exact("connected-bn", NET(4, 4, 3) "[connected]\nbatch_normalize=1\noutput=7\nactivation=tanh\n");
}

Test(layer, pooling)
{
    expect_exact("maxpool-2-2", NET(8, 8, 3) "[maxpool]\nsize=2\nstride=2\n");
    expect_exact("maxpool-2-1", NET(8, 8, 3) "[maxpool]\nsize=2\nstride=1\n");
    expect_exact("maxpool-5-1", NET(8, 8, 3) "[maxpool]\nsize=5\nstride=1\n");
    expect_exact("maxpool-3-2-odd", NET(9, 9, 3) "[maxpool]\nsize=3\nstride=2\n");
    expect_exact("avgpool", NET(5, 5, 3) "[avgpool]\n");
}

Test(layer, softmax)
{
    expect_exact("softmax", NET(1, 1, 12) "[softmax]\n");
    expect_exact("softmax-groups-temp", NET(1, 1, 12) "[softmax]\ngroups=3\ntemperature=2\n");
}

Test(layer, route_shortcut)
{
    expect_exact("route", NET(6, 6, 3)
                 "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                 "[convolutional]\nfilters=2\nsize=1\nstride=1\nactivation=leaky\n"
                 "[route]\nlayers=-1,-2\n");
    expect_exact("shortcut", NET(6, 6, 3)
                 "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                 "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                 "[shortcut]\nfrom=-2\nactivation=leaky\nalpha=0.7\nbeta=1.3\n");
    /* from a larger map (sampled with a stride) and into fewer channels */
    expect_exact("shortcut-downsample", NET(8, 8, 3)
                 "[convolutional]\nfilters=6\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                 "[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
                 "[shortcut]\nfrom=-2\nactivation=linear\n");
    /* from a smaller map (written every other cell) */
    expect_exact("shortcut-upsample", NET(8, 8, 3)
                 "[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
                 "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                 "[upsample]\nstride=2\n"
                 "[shortcut]\nfrom=-3\nactivation=linear\n");
}

Test(layer, resampling)
{
    expect_exact("upsample-scaled", NET(4, 4, 3) "[upsample]\nstride=2\nscale=0.5\n");
    expect_exact("reorg", NET(8, 8, 4) "[reorg]\nstride=2\n");
    expect_exact("reorg-reverse", NET(4, 4, 8) "[reorg]\nstride=2\nreverse=1\n");
    expect_exact("reorg-flatten", NET(4, 4, 3) "[reorg]\nstride=1\nflatten=1\n");
    expect_exact("reorg-extra", NET(4, 4, 3) "[reorg]\nstride=1\nextra=5\n");
    expect_exact("crop", NET(9, 9, 3) "[crop]\ncrop_width=6\ncrop_height=6\nflip=0\nangle=0\nsaturation=1\nexposure=1\n");
    expect_exact("dropout", NET(4, 4, 3) "[connected]\noutput=8\nactivation=leaky\n[dropout]\nprobability=.5\n");
}

/* ([batchnorm] as a layer of its own crashes Debian's Darknet at inference: its forward copies
 * into l.x, which make_batchnorm_layer never allocates; cfg checking refuses it.) */
Test(layer, standalone_activation_logistic)
{
    expect_exact("activation-layer", NET(5, 5, 3) "[activation]\nactivation=elu\n");
    expect_exact("logistic-layer", NET(5, 5, 3) "[logistic]\n");
}

Test(layer, heads)
{
    expect_exact("yolo", NET(4, 4, 3) "[convolutional]\nfilters=14\nsize=1\nstride=1\nactivation=linear\n"
                 "[yolo]\nmask=0,1\nanchors=1,1, 2,2, 3,3\nclasses=2\nnum=3\n");
    expect_exact("region-softmax", NET(4, 4, 3) "[convolutional]\nfilters=16\nsize=1\nstride=1\nactivation=linear\n"
                 "[region]\nanchors=1,1, 2,2\nclasses=3\ncoords=4\nnum=2\nsoftmax=1\n");
    expect_exact("region-logistic", NET(4, 4, 3) "[convolutional]\nfilters=16\nsize=1\nstride=1\nactivation=linear\n"
                 "[region]\nanchors=1,1, 2,2\nclasses=3\ncoords=4\nnum=2\nsoftmax=0\n");
    expect_exact("region-background", NET(4, 4, 3) "[convolutional]\nfilters=16\nsize=1\nstride=1\nactivation=linear\n"
                 "[region]\nanchors=1,1, 2,2\nclasses=3\ncoords=4\nnum=2\nsoftmax=1\nbackground=1\n");
}

static void check_project_cfg(const char *file, uint64_t seed)
{
    char cfg[1200], weights[256];
    const char *root = getenv("DX_ROOT");
    snprintf(cfg, sizeof cfg, "%s/cfg/%s", root ? root : ".", file);
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, seed);
    network *net = dx_network(m);
    int top = net->n - 1;
    float *x = random_vector(net->inputs, seed + 1, 0, 1);
    /* a few outputs, so that float32 rounding of the sum stays far below the differences */
    int outputs = net->layers[top].outputs;
    float *proj = random_vector(outputs, seed + 2, -1, 1);
    rng pick = {seed + 3};
    for (int k = 0; k < outputs; ++k)
        if (rng_uniform(&pick) * outputs > 16) proj[k] = 0;
    float *g = analytic_input_grad(m, top, proj, x);
    fd_report rep = fd_check_coords(m, top, proj, x, g, 80, 2e-3f, seed);
    cr_log_info("%s: rel err %.2e, %d of %d coords agree to 1%% (%d skipped)", file, rep.rel_err,
                rep.agree, rep.used, rep.skipped);
    expect_fd(file, rep, 0.9);
    double analytic, fd;
    float *v = malloc(sizeof(float) * net->inputs);
    double norm = 0;
    for (int k = 0; k < net->inputs; ++k) norm += (double)g[k] * g[k];
    for (int k = 0; k < net->inputs; ++k) v[k] = (float)(g[k] / sqrt(norm));
    double rel = fd_directional(m, top, proj, x, g, v, 1e-3f, &analytic, &fd);
    cr_expect(rel < 1e-2, "%s: along the gradient: analytic %.6g, finite differences %.6g", file, analytic, fd);
    free(v);
    free(g);
    free(proj);
    free(x);
    dx_close(m);
}

Test(network, test_classifier) { check_project_cfg("test-classifier.cfg", 101); }
Test(network, test_detector) { check_project_cfg("test-detector.cfg", 202); }
Test(network, test_region) { check_project_cfg("test-region.cfg", 303); }

/* The rules belong to the pass, not to the model (issue #16): guided backprop and DeconvNet run
 * into passes of their own while the model's plain gradient stays as it was, and the plain
 * gradient through dx_reverse with dx_gradient_rules is dx_backward's, bit for bit. */
Test(network, rule_sets_belong_to_the_pass)
{
    char cfg[1200], weights[256];
    const char *root = getenv("DX_ROOT");
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", root ? root : ".");
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, 404);
    network *net = dx_network(m);
    int n = net->inputs, top = net->n - 1;
    float *x = random_vector(n, 405, 0, 1), *proj = random_vector(net->layers[top].outputs, 406, -1, 1);
    float *g = analytic_input_grad(m, top, proj, x); /* dx_backward, through the model's own pass */
    dx_error err;
    dx_pass guided = {0}, deconv = {0}, plain = {0};
    cr_assert_eq(dx_reverse_seeded(m, top, proj, -1, &dx_guided_rules, &guided, &err), 0, "%s", err.msg);
    cr_assert_eq(dx_reverse_seeded(m, top, proj, -1, &dx_deconv_rules, &deconv, &err), 0, "%s", err.msg);
    cr_assert_eq(dx_reverse_seeded(m, top, proj, -1, &dx_gradient_rules, &plain, &err), 0, "%s", err.msg);
    int guided_differs = 0, deconv_differs = 0, model_changed = 0, plain_differs = 0;
    for (int k = 0; k < n; ++k) {
        guided_differs += dx_pass_buf(&guided, -1)[k] != g[k];
        deconv_differs += dx_pass_buf(&deconv, -1)[k] != g[k];
        plain_differs += dx_pass_buf(&plain, -1)[k] != g[k];
        model_changed += dx_grad_of(m, -1)[k] != g[k];
    }
    cr_expect(guided_differs > n / 10 && deconv_differs > n / 10,
              "guided (%d of %d inputs) or DeconvNet (%d) is the plain gradient", guided_differs, n, deconv_differs);
    cr_expect_eq(plain_differs, 0, "dx_gradient_rules differ from dx_backward at %d of %d inputs", plain_differs, n);
    cr_expect_eq(model_changed, 0, "the other passes changed the model's gradient at %d of %d inputs", model_changed, n);
    dx_pass_free(m, &guided);
    dx_pass_free(m, &deconv);
    dx_pass_free(m, &plain);
    free(g);
    free(proj);
    free(x);
    dx_close(m);
}
