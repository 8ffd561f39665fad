/* DeepLIFT's RevealCancel rule (plugin/methods/revealcancel.c; summation to delta on the test
 * nets, the shapes models and Tiny Darknet is in test_deeplift.c, the command line's rerun from
 * the JSON's parameters in test_options.c): the paper's min example (sec. 3.5.3), where Rescale
 * gives one input nothing and RevealCancel half the minimum to each; a plain double-precision
 * reimplementation of a small network; RevealCancel equals Rescale where nothing but linear maps
 * (and a maxpool, which both rules split alike) separates the input from the score; a layer
 * without a rule is refused naming it; -rule on the command line. */
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

/* The attributions of logit cls against the reference base, with `rule`, on input x. */
static void attributions(dx_model *m, const float *x, const float *base, int cls, dx_deeplift_rule rule, float *attr)
{
    dx_error err;
    dx_target t;
    cr_assert_eq(dx_class_target(m, cls, DX_SCORE_LOGIT, &t, &err), 0, "%s", err.msg);
    double f_x, f_base;
    dx_forward(m, x);
    cr_assert_eq(dx_deeplift(m, &t, rule, base, attr, &f_x, &f_base, &err), 0, "%s", err.msg);
}

/* The paper's Fig. 3 network, o = min(i1, i2) = i1 - relu(i1 - i2), reference i' = 0: layer 0
 * copies the input (a route cannot read it), layer 1 is h = relu(i1 - i2), layer 3 o = i1 - h. */
static const char *min_cfg = "[net]\nwidth=2\nheight=1\nchannels=1\n"
                             "[connected]\noutput=2\nactivation=linear\n"
                             "[connected]\noutput=1\nactivation=relu\n"
                             "[route]\nlayers=0,1\n"
                             "[connected]\noutput=1\nactivation=linear\n[softmax]\n";

Test(revealcancel, the_papers_min_example)
{
    dx_model *m = open_cfg_text("revealcancel-min", min_cfg, 3);
    network *net = dx_network(m);
    static const float copy[] = {1, 0, 0, 1}, diff[] = {1, -1}, out[] = {1, 0, -1};
    memcpy(net->layers[0].weights, copy, sizeof copy);
    memcpy(net->layers[1].weights, diff, sizeof diff);
    memcpy(net->layers[3].weights, out, sizeof out);
    net->layers[0].biases[0] = net->layers[0].biases[1] = net->layers[1].biases[0] = net->layers[3].biases[0] = 0;
    static const float inputs[][2] = {{3, 1}, {1, 3}, {2, 5}, {4, 4}, {0.5f, 6}};
    const float zeros[2] = {0, 0};
    for (size_t k = 0; k < sizeof inputs / sizeof *inputs; ++k) {
        const float *x = inputs[k];
        float lo = fminf(x[0], x[1]), rescale[2], reveal[2];
        attributions(m, x, zeros, 0, DX_DEEPLIFT_RESCALE, rescale);
        attributions(m, x, zeros, 0, DX_DEEPLIFT_REVEALCANCEL, reveal);
        cr_assert(fabsf(dx_output_of(m, 3)[0] - lo) < 1e-6f, "the net does not compute min(%g, %g)", x[0], x[1]);
        cr_log_info("i = (%g, %g): Rescale (%g, %g), RevealCancel (%g, %g)", x[0], x[1], rescale[0], rescale[1],
                    reveal[0], reveal[1]);
        /* Rescale: all of min to the smaller input (to i1 where they are equal: relu's secant
         * from 0 to 0 is its gradient there, 0), nothing to the other */
        int small = x[1] < x[0];
        cr_expect(fabsf(rescale[small] - lo) <= 1e-6f && fabsf(rescale[!small]) <= 1e-6f,
                  "i = (%g, %g): Rescale gives (%g, %g)", x[0], x[1], rescale[0], rescale[1]);
        /* RevealCancel: half the minimum to each input, whichever is smaller */
        for (int i = 0; i < 2; ++i)
            cr_expect(fabsf(reveal[i] - 0.5f * lo) <= 1e-6f * (1 + lo), "i = (%g, %g): RevealCancel gives i%d %g, "
                      "not min / 2 = %g", x[0], x[1], i + 1, reveal[i], 0.5 * lo);
    }
    dx_close(m);
}

/* The reference: RevealCancel written out in double precision for x: 3x8x8 -> conv 3x3 + batch
 * norm (one scale negative) + leaky (4) -> maxpool 2/2 (4x4) -> connected relu (8) -> connected
 * (6, the logits); the module header's rules, one loop per layer. */
static const char *reference_cfg = "[net]\nwidth=8\nheight=8\nchannels=3\n"
                                   "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\n"
                                   "activation=leaky\n"
                                   "[maxpool]\nsize=2\nstride=2\n"
                                   "[connected]\noutput=8\nactivation=relu\n"
                                   "[connected]\noutput=6\nactivation=linear\n[softmax]\n";
enum { S = 8, P = S * S, C = 3, F = 4, Q = 4, PQ = Q * Q, H = 8, K = 6, N_IN = C * P };

typedef struct {
    double z0[F * P], h0[F * P], h1[F * PQ], z2[H], h2[H];
    int win[F * PQ]; /* each window's first maximum, an index into h0 */
} fwd;

static double leaky(double v) { return v > 0 ? v : 0.1 * v; }
static double relu(double v) { return v > 0 ? v : 0; }
static double bn_factor(const layer *l, int f) { return l->scales[f] / (sqrt(l->rolling_variance[f]) + 1e-6); }

/* the conv's sum at output (f, y, i) of terms w * in, only those of sign `sign` (0: all) */
static double conv_sum(const layer *l, const double *in, int f, int y, int i, int sign)
{
    double u = 0;
    for (int c = 0; c < C; ++c)
        for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
                int yy = y + ky - 1, xx = i + kx - 1;
                if (yy < 0 || yy >= S || xx < 0 || xx >= S) continue;
                double t = l->weights[((f * C + c) * 3 + ky) * 3 + kx] * in[c * P + yy * S + xx];
                if (sign == 0 || (sign > 0 ? t > 0 : t < 0)) u += t;
            }
    return u;
}

static void forward(const network *net, const double *x, fwd *s)
{
    const layer *c0 = &net->layers[0], *d2 = &net->layers[2];
    for (int f = 0; f < F; ++f)
        for (int p = 0; p < P; ++p) {
            double u = conv_sum(c0, x, f, p / S, p % S, 0);
            s->z0[f * P + p] = bn_factor(c0, f) * (u - c0->rolling_mean[f]) + c0->biases[f];
            s->h0[f * P + p] = leaky(s->z0[f * P + p]);
        }
    for (int f = 0; f < F; ++f)
        for (int o = 0; o < PQ; ++o) {
            int best = -1;
            for (int d = 0; d < 4; ++d) {
                int at = f * P + (2 * (o / Q) + d / 2) * S + 2 * (o % Q) + d % 2;
                if (best < 0 || s->h0[at] > s->h0[best]) best = at;
            }
            s->win[f * PQ + o] = best;
            s->h1[f * PQ + o] = s->h0[best];
        }
    for (int j = 0; j < H; ++j) {
        s->z2[j] = d2->biases[j];
        for (int q = 0; q < F * PQ; ++q) s->z2[j] += d2->weights[j * F * PQ + q] * s->h1[q];
        s->h2[j] = relu(s->z2[j]);
    }
}

/* RevealCancel at y = f(z): the parts (dp, dn) of Δz become Δy's, (*mp, *mn) the multipliers */
static void reveal(double (*fn)(double), double slope, double z, double z_ref, double *dp, double *dn, double *mp,
                   double *mn)
{
    double y = fn(z), y_ref = fn(z_ref), a = fn(z_ref + *dp), b = fn(z_ref + *dn);
    double up = 0.5 * (a - y_ref) + 0.5 * (y - b), un = 0.5 * (b - y_ref) + 0.5 * (y - a);
    double fallback = fabs(z - z_ref) >= 1e-6 ? (y - y_ref) / (z - z_ref) : slope;
    *mp = fabs(*dp) >= 1e-6 ? up / *dp : fallback;
    *mn = fabs(*dn) >= 1e-6 ? un / *dn : fallback;
    *dp = up, *dn = un;
}

/* the multiplier of the part a term t went into */
static double pick(double t, double mp, double mn) { return t > 0 ? mp : t < 0 ? mn : 0.5 * (mp + mn); }

static void reference_revealcancel(const network *net, const double *x, const double *x_ref, int cls, double *attr)
{
    const layer *c0 = &net->layers[0], *d2 = &net->layers[2], *d3 = &net->layers[3];
    static fwd s, r;
    forward(net, x, &s);
    forward(net, x_ref, &r);
    double dx[N_IN], m0p[F * P], m0n[F * P], m2p[H], m2n[H];
    for (int k = 0; k < N_IN; ++k) dx[k] = x[k] - x_ref[k];
    /* the delta forward: conv + batch norm (the linear rule on the whole input difference, the
     * parts swapped by a negative factor), leaky; the maxpool's sign split needs nothing; the
     * connected layer's linear rule on h1 - h1', relu */
    for (int f = 0; f < F; ++f)
        for (int p = 0; p < P; ++p) {
            double g = bn_factor(c0, f), up = g * conv_sum(c0, dx, f, p / S, p % S, 1);
            double un = g * conv_sum(c0, dx, f, p / S, p % S, -1);
            if (g < 0) { double t = up; up = un; un = t; }
            reveal(leaky, s.z0[f * P + p] > 0 ? 1 : 0.1, s.z0[f * P + p], r.z0[f * P + p], &up, &un, &m0p[f * P + p],
                   &m0n[f * P + p]);
        }
    for (int j = 0; j < H; ++j) {
        double up = 0, un = 0;
        for (int q = 0; q < F * PQ; ++q) {
            double t = d2->weights[j * F * PQ + q] * (s.h1[q] - r.h1[q]);
            if (t > 0) up += t;
            else un += t;
        }
        reveal(relu, s.z2[j] > 0, s.z2[j], r.z2[j], &up, &un, &m2p[j], &m2n[j]);
    }
    /* the backward: the logit's multipliers 1 for both parts; through the last connected layer
     * both parts of h2_j get w_cls,j; relu's m±; the connected layer's terms pick m+ or m- */
    double m_h1[F * PQ] = {0}, share[F * P] = {0}, grad[F * P] = {0}, m_x[N_IN] = {0};
    for (int j = 0; j < H; ++j) {
        double w = d3->weights[cls * H + j];
        for (int q = 0; q < F * PQ; ++q) {
            double v = d2->weights[j * F * PQ + q];
            m_h1[q] += v * pick(v * (s.h1[q] - r.h1[q]), w * m2p[j], w * m2n[j]);
        }
    }
    /* the maxpool: Captum's split of h1 - h1' between the two winners */
    for (int o = 0; o < F * PQ; ++o) {
        double top = fmax(s.h1[o], r.h1[o]);
        share[s.win[o]] += m_h1[o] * (top - r.h1[o]);
        share[r.win[o]] += m_h1[o] * (s.h1[o] - top);
        grad[s.win[o]] += m_h1[o];
    }
    /* leaky's m± times the maxpool's multiplier, batch norm (swapping for a negative factor),
     * then the conv's terms pick the output's m+ or m- */
    for (int f = 0; f < F; ++f)
        for (int p = 0; p < P; ++p) {
            int at = f * P + p;
            double d = s.h0[at] - r.h0[at], m = fabs(d) >= 1e-6 ? share[at] / d : grad[at], g = bn_factor(c0, f);
            double up = g * m * (g < 0 ? m0n[at] : m0p[at]), un = g * m * (g < 0 ? m0p[at] : m0n[at]);
            for (int c = 0; c < C; ++c)
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx) {
                        int yy = p / S + ky - 1, xx = p % S + kx - 1;
                        if (yy < 0 || yy >= S || xx < 0 || xx >= S) continue;
                        int in = c * P + yy * S + xx;
                        double w = c0->weights[((f * C + c) * 3 + ky) * 3 + kx];
                        m_x[in] += w * pick(w * dx[in], up, un);
                    }
        }
    for (int k = 0; k < N_IN; ++k) attr[k] = m_x[k] * dx[k];
}

Test(revealcancel, equals_plain_reimplementation)
{
    dx_model *m = open_cfg_text("revealcancel-reference", reference_cfg, 23);
    network *net = dx_network(m);
    net->layers[0].scales[1] = -fabsf(net->layers[0].scales[1]); /* the parts swap in batch norm */
    rng g = {71};
    float x[N_IN], base[N_IN], attr[N_IN];
    for (int k = 0; k < N_IN; ++k) x[k] = (float)rng_uniform(&g);
    for (int b = 0; b < 2; ++b) {
        for (int k = 0; k < N_IN; ++k) base[k] = b == 0 ? 0.f : (float)rng_uniform(&g);
        for (int cls = 0; cls < K; cls += 2) {
            attributions(m, x, base, cls, DX_DEEPLIFT_REVEALCANCEL, attr);
            double xd[N_IN], bd[N_IN], want[N_IN], peak = 0, worst = 0, sum = 0;
            for (int k = 0; k < N_IN; ++k) xd[k] = x[k], bd[k] = base[k];
            reference_revealcancel(net, xd, bd, cls, want);
            for (int k = 0; k < N_IN; ++k) {
                peak = fmax(peak, fabs(want[k]));
                worst = fmax(worst, fabs(attr[k] - want[k]));
                sum += want[k];
            }
            cr_log_info("%s reference, class %d: max |plugin - reference| = %.2e of the peak %.3g (sum %.5g)",
                        b ? "noise" : "black", cls, worst / peak, peak, sum);
            cr_expect(peak > 0 && worst <= 1e-5 * peak, "%s reference, class %d: the plugin differs from the "
                      "reference by %g (peak %g)", b ? "noise" : "black", cls, worst, peak);
        }
    }
    dx_close(m);
}

/* Without a nonlinear activation (linear convolutions with batch norm, route, shortcut,
 * upsample, avgpool, connected; a maxpool, which both rules split as Captum's), every layer
 * hands both parts the same multiplier and RevealCancel is Rescale; with leaky units they differ
 * (so that the comparison can tell them apart). */
static const char *linear_cfg = "[net]\nwidth=8\nheight=8\nchannels=3\n"
                                "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\npad=1\nactivation=%s\n"
                                "[maxpool]\nsize=2\nstride=2\n"
                                "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\npad=1\nactivation=%s\n"
                                "[shortcut]\nfrom=-2\nactivation=linear\n"
                                "[upsample]\nstride=2\n"
                                "[route]\nlayers=-1,0\n"
                                "[convolutional]\nfilters=5\nsize=1\nactivation=linear\n"
                                "[avgpool]\n[connected]\noutput=4\nactivation=linear\n[softmax]\n";

Test(revealcancel, equals_rescale_without_nonlinear_activations)
{
    for (int leaky_units = 0; leaky_units < 2; ++leaky_units) {
        char text[1024];
        const char *act = leaky_units ? "leaky" : "linear";
        snprintf(text, sizeof text, linear_cfg, act, act);
        dx_model *m = open_cfg_text(leaky_units ? "revealcancel-leaky" : "revealcancel-linear", text, 43);
        rng g = {5};
        float x[N_IN], base[N_IN], a[N_IN], b[N_IN];
        for (int k = 0; k < N_IN; ++k) x[k] = (float)rng_uniform(&g), base[k] = (float)rng_uniform(&g);
        for (int cls = 0; cls < 4; ++cls) {
            attributions(m, x, base, cls, DX_DEEPLIFT_RESCALE, a);
            attributions(m, x, base, cls, DX_DEEPLIFT_REVEALCANCEL, b);
            double peak = 0, worst = 0;
            for (int k = 0; k < N_IN; ++k) peak = fmax(peak, fabs(a[k])), worst = fmax(worst, fabs(a[k] - b[k]));
            cr_log_info("%s units, class %d: max |revealcancel - rescale| = %.2e of the peak %.3g", act, cls,
                        worst / peak, peak);
            if (leaky_units)
                cr_expect(worst > 1e-3 * peak, "class %d: leaky units, yet RevealCancel is Rescale", cls);
            else
                cr_expect(peak > 0 && worst <= 1e-5 * peak, "class %d: RevealCancel differs from Rescale by %g "
                          "(peak %g) without a nonlinearity", cls, worst, peak);
        }
        dx_close(m);
    }
}

/* A layer type without a RevealCancel rule on the way down: one error naming it (and the rule
 * that goes through it), where Rescale explains. */
Test(revealcancel, a_layer_without_a_rule_is_refused)
{
    dx_model *m = open_cfg_text("revealcancel-reorg",
                                "[net]\nwidth=8\nheight=8\nchannels=3\n"
                                "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"
                                "[reorg]\nstride=2\n"
                                "[convolutional]\nfilters=3\nsize=1\nactivation=linear\n"
                                "[avgpool]\n[softmax]\n",
                                7);
    dx_image photo = noise_photo(8, 8, 3, 7);
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_DEEPLIFT;
    dx_result r;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "rescale: %s", err.msg);
    dx_result_free(&r);
    req.deeplift_rule = DX_DEEPLIFT_REVEALCANCEL;
    cr_assert_neq(dx_explain_image(m, photo, &req, &r, &err), 0, "RevealCancel went through a [reorg]");
    cr_log_info("%s", err.msg);
    cr_expect(strstr(err.msg, "layer 1 [reorg]") && strstr(err.msg, "RevealCancel") && !strchr(err.msg, '\n'),
              "%s", err.msg);
    dx_free_image(photo);
    dx_close(m);
}

/* The command line: -rule revealcancel writes the usual outputs and names its rule in the JSON's
 * parameters and its map differs from Rescale's; a rule that does not exist is a usage error. */
Test(revealcancel, command_line, .timeout = 60)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", classifier_fixture());
    run_result r = run_dx(dir, "deeplift net.cfg net.weights photo.png -rule revealcancel -out reveal");
    cr_assert_eq(r.status, 0, "%s", r.err);
    r = run_dx(dir, "deeplift net.cfg net.weights photo.png -out rescale");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char path[700];
    snprintf(path, sizeof path, "%s/reveal.json", dir);
    char *json = read_text(path);
    cr_expect(strstr(json, "\"rule\": \"revealcancel\"") && strstr(json, "\"summation_delta\""), "%s", json);
    free(json);
    snprintf(path, sizeof path, "%s/rescale.json", dir);
    json = read_text(path);
    cr_expect(strstr(json, "\"rule\": \"rescale\""), "%s", json);
    free(json);
    char a[700], b[700], cmd[1500];
    snprintf(a, sizeof a, "%s/reveal.raw.npy", dir);
    snprintf(b, sizeof b, "%s/rescale.raw.npy", dir);
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    cr_expect(exists(a) && system(cmd) != 0, "RevealCancel's map is Rescale's");
    r = run_dx(dir, "deeplift net.cfg net.weights photo.png -rule cancel -out bad");
    cr_expect_eq(r.status, 2, "exit %d: %s", r.status, r.err);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    cr_expect(strstr(r.err, "-rule") && strstr(r.err, "cancel"), "%s", r.err);
    snprintf(path, sizeof path, "%s/bad.json", dir);
    cr_expect(!exists(path), "a refused run left bad.json");
}
