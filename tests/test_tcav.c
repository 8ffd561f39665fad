/* TCAV (plugin/concepts): the logistic regression finds a planted direction, the t-test's p-values
 * are scipy's, the directional derivative is the finite difference of the logit along the CAV at
 * the layer, and on the embedded classifier with the generator's concept sets the scores find
 * what the generator planted (tools/concept_sets.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "../tools/concept_sets.h"
#include "../tools/shapes.h"
#include "concepts/logistic.h"
#include "concepts/tcav.h"
#include "engine.h"
#include "helpers.h"
#include "io/image.h"
#include "io/npy.h"
#include "model.h"
#include "targets.h"

/* n points x ~ N(0, I_d) + shift, labelled by the side of the plane u.x = 0 they fall on (u a
 * random unit vector); the regression must find u. */
static void planted(int n, int d, uint64_t seed, float *x, unsigned char *y, float *u)
{
    rng r = {seed};
    double norm = 0;
    for (int j = 0; j < d; ++j) u[j] = (float)rng_normal(&r), norm += u[j] * u[j];
    for (int j = 0; j < d; ++j) u[j] /= (float)sqrt(norm);
    for (int i = 0; i < n; ++i) {
        double s = 0;
        for (int j = 0; j < d; ++j) x[i * d + j] = (float)(rng_normal(&r) + 3.0), s += (x[i * d + j] - 3.0) * u[j];
        y[i] = s > 0;
    }
}

static double cosine(const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < d; ++j) ab += a[j] * b[j], aa += a[j] * a[j], bb += b[j] * b[j];
    return ab / sqrt(aa * bb);
}

Test(tcav, logistic_regression_recovers_the_planted_direction)
{
    enum { N = 400, D = 20, HELD = 200 };
    float *x = malloc(sizeof(float) * (N + HELD) * D), u[D], w[D], b;
    unsigned char y[N + HELD];
    planted(N + HELD, D, 7, x, y, u);
    dx_error err;
    for (int k = 0; k < 3; ++k) {
        double lambda = k == 0 ? 1e-4 : k == 1 ? 1e-2 : 1;
        cr_assert_eq(dx_logistic_fit(x, y, N, D, lambda, 300, w, &b, &err), 0, "%s", err.msg);
        double acc = dx_logistic_accuracy(x + N * D, y + N, HELD, D, w, b), c = cosine(w, u, D);
        cr_expect_gt(acc, 0.9, "lambda %g: held-out accuracy %.3f", lambda, acc);
        cr_expect_gt(c, 0.95, "lambda %g: cosine with the planted direction %.4f", lambda, c);
    }
    free(x);
}

/* The t-test's p-values against the t distribution's tail integrated numerically (Python, the
 * density integrated by Simpson's rule over 2e6 intervals after x = |t| + u / (1 - u); the two
 * critical values of the tables check that integration to 1e-13), and the closed forms of 1 and
 * 2 degrees of freedom. */
Test(tcav, t_test_p_values_match_known_values)
{
    const double a[] = {0.9, 0.85, 1.0, 0.95, 0.9, 1.0, 0.8, 0.95, 0.9, 1.0};
    const double b[] = {0.5, 0.2, 0.9, 0.65, 0.3, 0.55, 0.8, 0.1, 0.45, 0.6};
    const double c[] = {0.52, 0.48, 0.61, 0.39, 0.55};
    double t, p, df;
    cr_assert_eq(dx_ttest_student(a, 10, b, 10, &t, &p), 0);
    cr_expect(fabs(t - 5.066414210335271) < 1e-9 && fabs(p - 8.042887733342459e-05) < 1e-9, "t %.12g p %.12g", t, p);
    cr_assert_eq(dx_ttest_student(b, 10, c, 5, &t, &p), 0);
    cr_expect(fabs(t + 0.04234213218263133) < 1e-9 && fabs(p - 0.9668693911374923) < 1e-6, "t %.12g p %.12g", t, p);
    cr_assert_eq(dx_ttest_welch(a, 10, b, 10, &t, &p, &df), 0);
    cr_expect(fabs(df - 10.279736190042895) < 1e-9 && fabs(p - 0.0004474185248633658) < 1e-9, "df %.12g p %.12g", df, p);
    cr_assert_eq(dx_ttest_welch(b, 10, c, 5, &t, &p, &df), 0);
    cr_expect(fabs(df - 11.992010980190424) < 1e-9 && fabs(p - 0.9556825710346665) < 1e-6, "df %.12g p %.12g", df, p);
    /* Student's t tables: t_{0.975}(10) and t_{0.995}(20) */
    cr_expect(fabs(dx_t_two_sided_p(2.228138851986, 10) - 0.05) < 1e-9);
    cr_expect(fabs(dx_t_two_sided_p(-2.845339709786, 20) - 0.01) < 1e-9);
    /* df 1 (Cauchy): 1 - 2 atan|t| / pi; df 2: 1 - |t| / sqrt(2 + t^2) */
    for (double x = 0.1; x < 50; x *= 1.7) {
        cr_expect(fabs(dx_t_two_sided_p(x, 1) - (1 - 2 * atan(x) / M_PI)) < 1e-12, "df 1, t %g", x);
        cr_expect(fabs(dx_t_two_sided_p(x, 2) - (1 - x / sqrt(2 + x * x))) < 1e-12, "df 2, t %g", x);
    }
    /* constant samples: equal means p = 1, different means p = 0; too few values: refused */
    const double ones[] = {1, 1, 1}, halves[] = {0.5, 0.5, 0.5};
    cr_assert_eq(dx_ttest_student(ones, 3, ones, 3, &t, &p), 0);
    cr_expect(t == 0 && p == 1);
    cr_assert_eq(dx_ttest_student(ones, 3, halves, 3, &t, &p), 0);
    cr_expect(isinf(t) && t > 0 && p == 0);
    cr_expect_eq(dx_ttest_student(ones, 1, halves, 3, &t, &p), -1);
}

static dx_model *open_shapes(void)
{
    char cfg[1024], weights[1024], names[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", getenv("DX_ROOT"));
    snprintf(names, sizeof names, "%s/cfg/shapes.names", getenv("DX_ROOT"));
    dx_open_options opt = {.names = names};
    dx_error err;
    dx_model *m = dx_open(cfg, weights, &opt, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

/* The directional derivative TCAV counts, grad h_k(f_l(x)) . v, is the derivative of the logit
 * when layer l's output moves along v and the rest of the network runs on from it. */
Test(tcav, directional_derivative_is_the_logit_finite_difference)
{
    dx_model *m = open_shapes();
    const int layer = 9, logits = dx_find_logit_layer(m);
    const int d = m->net->layers[layer].outputs;
    float *v = malloc(sizeof(float) * d), *orig = malloc(sizeof(float) * d);
    rng r = {3};
    int checked = 0;
    for (int image = 0; image < 4; ++image) {
        dx_image im;
        shapes_object o[SHAPES_MAX_OBJECTS];
        shapes_draw(5, image, 64, 1, &im, o);
        dx_image boxed = dx_fit_photo(m, im);
        dx_forward(m, boxed.data);
        float *out = (float *)dx_output_of(m, layer);
        memcpy(orig, out, sizeof(float) * d);
        for (int cls = 0; cls < SHAPES_CLASSES; ++cls) {
            double norm = 0;
            for (int j = 0; j < d; ++j) v[j] = (float)rng_normal(&r), norm += v[j] * v[j];
            for (int j = 0; j < d; ++j) v[j] /= (float)sqrt(norm);
            dx_error err;
            dx_forward(m, boxed.data);
            cr_assert_eq(dx_tcav_logit_gradient(m, cls, layer, &err), 0, "%s", err.msg);
            const float *g = dx_grad_of(m, layer);
            double analytic = 0;
            for (int j = 0; j < d; ++j) analytic += (double)g[j] * v[j];
            double fd[2];
            for (int step = 0; step < 2; ++step) {
                double h = step ? 0.02 : 0.04, f[2];
                for (int side = 0; side < 2; ++side) {
                    for (int j = 0; j < d; ++j) out[j] = orig[j] + (float)((side ? -h : h) * v[j]);
                    dx_forward_from(m, layer + 1);
                    f[side] = dx_output_of(m, logits)[cls];
                }
                fd[step] = (f[0] - f[1]) / (2 * h);
            }
            memcpy(out, orig, sizeof(float) * d);
            /* both steps agree: no kink of a leaky unit within them */
            if (fabs(fd[0] - fd[1]) > 0.01 * fabs(fd[1]) + 1e-4) continue;
            ++checked;
            cr_expect(fabs(analytic - fd[1]) <= 0.02 * fabs(fd[1]) + 2e-4, "image %d class %d: grad.v %.6g, finite difference %.6g",
                      image, cls, analytic, fd[1]);
        }
        dx_free_image(boxed);
        dx_free_image(im);
    }
    cr_expect_geq(checked, 12, "only %d of 16 directions without a kink", checked);
    free(v);
    free(orig);
    dx_close(m);
}

/* The generator's concept sets (tools/concept_sets.h): the shape of class c is significant for
 * c with a high score and scores c above every other class; the colour concept (red of the
 * object's own luminance) and the control concept (plain generator images) are significant for
 * no class (Bonferroni over the concepts). */
Test(tcav, shapes_concepts_find_the_planted_truth, .timeout = 120)
{
    const char *dir = temp_dir();
    dx_error err;
    cr_assert_eq(concept_sets_write(dir, 11, 30, 330, 40, 64, &err), 0, "%s", err.msg);
    dx_model *m = open_shapes();
    dx_tcav_options o;
    dx_tcav_options_init(&o);
    o.layers[0] = 9;
    o.n_layers = 1;
    static char paths[8][1200], random_dir[1200], images[1200];
    const int used[] = {0, 1, 2, 3, 4, 8}; /* the four shapes, red, control */
    for (int k = 0; k < 6; ++k) {
        snprintf(paths[k], sizeof paths[k], "%s/%s", dir, concept_set_names[used[k]]);
        o.concepts[k] = (dx_tcav_concept){concept_set_names[used[k]], paths[k]};
    }
    o.n_concepts = 6;
    snprintf(random_dir, sizeof random_dir, "%s/random", dir);
    snprintf(images, sizeof images, "%s/images", dir);
    o.random_dir = random_dir;
    o.images = images;
    o.bonferroni = 1;
    dx_tcav_result res;
    cr_assert_eq(dx_tcav_run(m, &o, &res, &err), 0, "%s", err.msg);
    cr_assert_eq(res.n_classes, SHAPES_CLASSES);
    for (int c = 0; c < SHAPES_CLASSES; ++c) {
        cr_expect_eq(res.class_images[c], 10);
        const dx_tcav_cell *own = dx_tcav_cell_of(&res, 0, c, c);
        cr_expect(own->significant && own->mean > 0.8, "shape-%s for %s: %.3f, p %.3g", shapes_names[c], shapes_names[c],
                  own->mean, own->p);
        for (int other = 0; other < SHAPES_CLASSES; ++other)
            if (other != c)
                cr_expect_gt(own->mean - dx_tcav_cell_of(&res, 0, c, other)->mean, 0.2, "shape-%s: %s %.3f vs %s %.3f",
                             shapes_names[c], shapes_names[c], own->mean, shapes_names[other],
                             dx_tcav_cell_of(&res, 0, c, other)->mean);
        for (int k = 4; k < 6; ++k)
            cr_expect(!dx_tcav_cell_of(&res, 0, k, c)->significant, "%s for %s: %.3f, p %.3g", o.concepts[k].name,
                      shapes_names[c], dx_tcav_cell_of(&res, 0, k, c)->mean, dx_tcav_cell_of(&res, 0, k, c)->p);
    }
    dx_tcav_result_free(&res);
    dx_close(m);
}

/* ---- the command line ---- */

/* `darknet-explain tcav` on the embedded classifier in dir, with `extra` options (stdout and stderr
 * into files there): its exit status */
static int run_tcav(const char *dir, const char *concept, const char *outdir, const char *extra)
{
    char cmd[8192];
    const char *root = getenv("DX_ROOT");
    snprintf(cmd, sizeof cmd,
             "cd %s && exec %s tcav %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -names "
             "%s/cfg/shapes.names -layer 9,12 -concept %s -random random -images images -runs 2 -outdir %s %s "
             ">stdout.txt 2>stderr.txt",
             dir, getenv("DX_CLI"), root, root, root, concept, outdir, extra);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; ++text) n += *text == '\n';
    return n;
}

Test(tcav, cli_writes_every_output)
{
    const char *dir = temp_dir();
    dx_error err;
    cr_assert_eq(concept_sets_write(dir, 3, 6, 24, 8, 64, &err), 0, "%s", err.msg);
    /* -alpha and -lambda are doubles: a float written over one left the default in place */
    cr_assert_eq(run_tcav(dir, "round=shape-circle,red=red", "out", "-alpha 0.01 -lambda 0.02"), 0);
    const char *files[] = {"tcav.json", "tcav.csv", "cav_round_L9.npy", "cav_red_L9.npy", "cav_round_L12.npy",
                           "cav_red_L12.npy"};
    char path[1200];
    for (size_t k = 0; k < sizeof files / sizeof *files; ++k) {
        snprintf(path, sizeof path, "%s/out/%s", dir, files[k]);
        cr_expect_eq(access(path, R_OK), 0, "%s missing", files[k]);
    }
    /* the CAVs: 2 runs x 8*8*64 floats of layer 9, unit length */
    float *cav = malloc(sizeof(float) * 2 * 4096);
    int shape[2] = {2, 4096};
    snprintf(path, sizeof path, "%s/out/cav_round_L9.npy", dir);
    cr_assert_eq(dx_npy_read(path, cav, 2, shape, &err), 0, "%s", err.msg);
    for (int r = 0; r < 2; ++r) {
        double norm = 0;
        for (int j = 0; j < 4096; ++j) norm += (double)cav[r * 4096 + j] * cav[r * 4096 + j];
        cr_expect(fabs(norm - 1) < 1e-4, "run %d: |CAV|^2 = %g", r, norm);
    }
    free(cav);
    snprintf(path, sizeof path, "%s/out/tcav.json", dir);
    char *json = read_text(path);
    cr_expect(json && strstr(json, "\"alpha\": 0.01,") && strstr(json, "\"lambda\": 0.02,"), "%.600s", json);
    free(json);
    snprintf(path, sizeof path, "%s/out/tcav.csv", dir);
    char *csv = read_text(path);
    cr_expect_eq(count_lines(csv), 1 + 2 * 2 * SHAPES_CLASSES, "%s", csv); /* layers x concepts x classes */
    free(csv);
}

/* Bad input: one line naming the folder or file, exit 1, no output folder */
Test(tcav, cli_bad_input_names_it_and_leaves_nothing)
{
    const char *dir = temp_dir();
    dx_error err;
    cr_assert_eq(concept_sets_write(dir, 3, 6, 24, 8, 64, &err), 0, "%s", err.msg);
    char path[1200];
    snprintf(path, sizeof path, "%s/empty", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/broken", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    for (int i = 0; i < 3; ++i) {
        snprintf(path, sizeof path, "%s/broken/%d.png", dir, i);
        write_text(path, i == 1 ? "not a png at all" : "");
    }
    const struct {
        const char *concept, *named;
    } cases[] = {
        {"a=missing", "missing"},
        {"a=empty", "empty"},
        {"a=broken", "broken/0.png"},
        {"a=shape-circle,b=missing", "missing"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        cr_expect_eq(run_tcav(dir, cases[k].concept, "out", ""), 1, "%s", cases[k].concept);
        snprintf(path, sizeof path, "%s/stderr.txt", dir);
        char *text = read_text(path);
        cr_expect_eq(count_lines(text), 1, "%s: %s", cases[k].concept, text);
        cr_expect(strstr(text, cases[k].named), "%s: '%s' does not name %s", cases[k].concept, text, cases[k].named);
        free(text);
        snprintf(path, sizeof path, "%s/out", dir);
        cr_expect_neq(access(path, F_OK), 0, "%s: the output folder was left", cases[k].concept);
    }
}

/* Tiny Darknet (../shared): a `striped` concept of generated images against generated random
 * images, scored on the shared photos' top-1 classes; the CAV separates the concept. */
Test(tcav, tiny_darknet_runs)
{
    dx_model *m = open_shared_model("imagenet/tiny", "imagenet/imagenet.shortnames.list");
    const char *dir = temp_dir();
    dx_error err;
    cr_assert_eq(concept_sets_write(dir, 5, 12, 36, 4, 64, &err), 0, "%s", err.msg);
    static char striped[1200], random_dir[1200], photos[1200];
    snprintf(striped, sizeof striped, "%s/striped", dir);
    snprintf(random_dir, sizeof random_dir, "%s/random", dir);
    snprintf(photos, sizeof photos, "%s/images", shared_dir());
    dx_tcav_options o;
    dx_tcav_options_init(&o);
    o.layers[0] = dx_default_layer(m);
    o.n_layers = 1;
    o.concepts[0] = (dx_tcav_concept){"striped", striped};
    o.n_concepts = 1;
    o.random_dir = random_dir;
    o.images = photos;
    o.label = DX_TCAV_LABEL_TOP1;
    o.runs = 2;
    o.iters = 100; /* the default layer is wide: a shorter fit keeps the suite quick */
    /* dog.jpg's top-1 class */
    snprintf(photos, sizeof photos, "%s/images/dog.jpg", shared_dir());
    dx_image photo;
    cr_assert_eq(dx_load_photo(photos, &photo, &err), 0, "%s", err.msg);
    dx_image boxed = dx_fit_photo(m, photo);
    dx_forward(m, boxed.data);
    const float *p = dx_output_of(m, m->head);
    for (int c = 1; c < dx_class_count(m); ++c)
        if (p[c] > p[o.classes[0]]) o.classes[0] = c;
    o.n_classes = 1;
    dx_free_image(boxed);
    dx_free_image(photo);
    snprintf(photos, sizeof photos, "%s/images", shared_dir());
    dx_tcav_result res;
    cr_assert_eq(dx_tcav_run(m, &o, &res, &err), 0, "%s", err.msg);
    cr_expect_geq(res.class_images[0], 1);
    for (int r = 0; r < 2; ++r) {
        cr_expect_geq(res.accuracy[0][r], 0.75, "run %d: the striped CAV's held-out accuracy %.2f", r, res.accuracy[0][r]);
        double s = dx_tcav_cell_of(&res, 0, 0, 0)->scores[r];
        cr_expect(s >= 0 && s <= 1);
    }
    dx_tcav_result_free(&res);
    dx_close(m);
}
