/* Activation maximisation (plugin/visualize/): the shapes classifier recognises each class's
 * visualisation (Darknet's own forward, on the image and on its 8-bit PNG), a channel's
 * visualisation drives it far above noise and real images, a seed gives the same files byte for
 * byte, the ascended gradient is the objective's (finite differences), bad units are one line
 * and no file, and Tiny Darknet recognises a visualised class. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "engine.h"
#include "io/npy.h"
#include "model.h"
#include "visualize/visualize.h"
#include "../tools/shapes.h"

TestSuite(visualize, .init = make_scratch, .fini = remove_scratch);

static const char *root(void) { return getenv("DX_ROOT") ? getenv("DX_ROOT") : "."; }

static dx_model *open_shapes(void)
{
    char cfg[1100], weights[1100];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", root());
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", root());
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

/* The top-1 of Darknet's own forward (network_predict) on x, and its probability. */
static int darknet_top1(dx_model *m, float *x, float *prob)
{
    network *net = dx_network(m);
    float *out = network_predict(net, x);
    int best = 0;
    for (int k = 1; k < dx_class_count(m); ++k)
        if (out[k] > out[best]) best = k;
    *prob = out[best];
    return best;
}

/* The command's files for every class: each image, from its .npy (float) and from its PNG (as
 * Darknet's loader decodes the 8 bits), is the visualised class for Darknet's forward; the two
 * agree to half an 8-bit level. */
Test(visualize, shapes_classes_are_recognised_by_the_classifier, .timeout = 120)
{
    char dir[1100], args[4096];
    scratch_path(dir, sizeof dir, "");
    snprintf(args, sizeof args, "visualize %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -class all -out v",
             root(), root());
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    dx_model *m = open_shapes();
    const dx_net *net = m->net;
    int shape[3] = {net->c, net->h, net->w};
    float *x = malloc(sizeof(float) * net->inputs);
    for (int cls = 0; cls < SHAPES_CLASSES; ++cls) {
        char path[1200];
        dx_error err;
        snprintf(path, sizeof path, "%s/v_class%d.npy", dir, cls);
        cr_assert_eq(dx_npy_read(path, x, 3, shape, &err), 0, "%s", err.msg);
        float prob, png_prob;
        int top = darknet_top1(m, x, &prob);
        snprintf(path, sizeof path, "%s/v_class%d.png", dir, cls);
        dx_image png;
        cr_assert_eq(dx_load_photo(path, &png, &err), 0, "%s", err.msg);
        cr_assert(png.w == net->w && png.h == net->h && png.c == net->c, "%s is %dx%dx%d", path, png.w, png.h, png.c);
        double worst = 0;
        for (int i = 0; i < net->inputs; ++i) worst = fmax(worst, fabs(png.data[i] - x[i]));
        cr_expect(worst <= 0.5 / 255 + 1e-6, "%s differs from the .npy by %g", path, worst);
        int png_top = darknet_top1(m, png.data, &png_prob);
        cr_log_info("class %d %s: top-1 %s %.4f, from the PNG %s %.4f", cls, shapes_names[cls], shapes_names[top], prob,
                    shapes_names[png_top], png_prob);
        cr_expect_eq(top, cls, "class %s's image: top-1 %s (%.3f)", shapes_names[cls], shapes_names[top], prob);
        cr_expect_eq(png_top, cls, "class %s's PNG: top-1 %s (%.3f)", shapes_names[cls], shapes_names[png_top], png_prob);
        dx_free_image(png);
    }
    snprintf(args, sizeof args, "%s/v.json", dir);
    char *json = read_text(args);
    cr_expect(strstr(json, "\"seed\": 1") && strstr(json, "\"steps\": 128") && strstr(json, "\"name\": \"triangle\""),
              "%s", json);
    free(json);
    free(x);
    dx_close(m);
}

/* Same seed: the same bytes in every image file; another seed: other images. */
Test(visualize, same_seed_same_bytes, .timeout = 120)
{
    char dir[1100], args[4096];
    scratch_path(dir, sizeof dir, "");
    const char *runs[3][2] = {{"a", "7"}, {"b", "7"}, {"c", "8"}};
    for (int k = 0; k < 3; ++k) {
        snprintf(args, sizeof args, "visualize %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -class "
                 "0,cross -steps 24 -seed %s -out %s", root(), root(), runs[k][1], runs[k][0]);
        run_result r = run_dx(dir, args);
        cr_assert_eq(r.status, 0, "%s", r.err);
    }
    static const char *const files[] = {"_class0.npy", "_class0.png", "_class3.npy", "_class3.png", "_grid.png"};
    for (int f = 0; f < 5; ++f) {
        char *text[3];
        long len[3];
        for (int k = 0; k < 3; ++k) {
            char path[1200];
            snprintf(path, sizeof path, "%s/%s%s", dir, runs[k][0], files[f]);
            FILE *in = fopen(path, "rb");
            cr_assert(in, "no %s", path);
            fseek(in, 0, SEEK_END);
            len[k] = ftell(in);
            rewind(in);
            text[k] = malloc(len[k]);
            cr_assert_eq(fread(text[k], 1, len[k], in), (size_t)len[k]);
            fclose(in);
        }
        cr_expect(len[0] == len[1] && !memcmp(text[0], text[1], len[0]), "seed 7 twice: %s differs", files[f]);
        cr_expect(len[0] != len[2] || memcmp(text[0], text[2], len[0]), "seeds 7 and 8: the same %s", files[f]);
        for (int k = 0; k < 3; ++k) free(text[k]);
    }
}

/* A channel of the classifier's per-cell features (layer 16): its visualisation's mean
 * activation is at least 5x its largest on uniform noise and its mean on generated shapes. */
Test(visualize, channel_objective_far_above_noise_and_real_images, .timeout = 60)
{
    dx_model *m = open_shapes();
    const dx_net *net = m->net;
    dx_vis_unit u = {16, 5, -1};
    dx_vis_options o;
    dx_vis_options_init(&o);
    dx_vis_result r;
    dx_error err;
    cr_assert_eq(dx_visualize(m, &u, &o, &r, &err), 0, "%s", err.msg);
    /* the objective is the channel's mean, as read here from the layer's output */
    dx_forward(m, r.image);
    const float *a = dx_output_of(m, 16) + 5 * 8 * 8;
    double mean = 0;
    for (int p = 0; p < 64; ++p) mean += a[p] / 64.;
    cr_expect(fabs(mean - r.objective) <= 1e-5 * (1 + fabs(mean)), "objective %g, the channel's mean %g", r.objective, mean);
    double noise = -INFINITY, shapes = 0;
    for (int k = 0; k < 8; ++k) {
        dx_image im = noise_photo(net->w, net->h, net->c, 100 + k);
        dx_forward(m, im.data);
        noise = fmax(noise, dx_vis_unit_value(m, &u));
        dx_free_image(im);
    }
    for (int k = 0; k < 32; ++k) {
        dx_image im;
        shapes_object objs[SHAPES_MAX_OBJECTS];
        shapes_draw(3, k, 64, 1, &im, objs);
        dx_forward(m, im.data);
        shapes += dx_vis_unit_value(m, &u) / 32;
        dx_free_image(im);
    }
    cr_log_info("layer 16 channel 5: visualised %.4f, noise (max of 8) %.4f, shapes (mean of 32) %.4f", r.objective, noise,
                shapes);
    cr_assert(noise > 0 && shapes > 0, "the baselines must be positive for a ratio: noise %g, shapes %g", noise, shapes);
    cr_expect(r.objective >= 5 * noise, "visualised %g, noise %g", r.objective, noise);
    cr_expect(r.objective >= 5 * shapes, "visualised %g, shapes %g", r.objective, shapes);
    free(r.image);
    dx_close(m);
}

/* -channel with -outdir: the files named after the cfg, the layer and the channel, the JSON's units
 * with their channel, objective and the classifier's top-1 on the image. */
Test(visualize, channel_outputs_named_by_layer_and_channel, .timeout = 60)
{
    char dir[1100], args[4096];
    scratch_path(dir, sizeof dir, "");
    snprintf(args, sizeof args, "visualize %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -layer 16 "
             "-channel 3,5 -steps 4 -outdir .", root(), root());
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    static const char *const keep[] = {"stdout.txt", "stderr.txt", "shapes-classifier_L16_c3.png",
                                       "shapes-classifier_L16_c3.npy", "shapes-classifier_L16_c5.png",
                                       "shapes-classifier_L16_c5.npy", "shapes-classifier_grid.png",
                                       "shapes-classifier.json", NULL};
    cr_expect_eq(stray_files_in(dir, keep), 0, "other files than the expected ones");
    for (int k = 2; keep[k]; ++k) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, keep[k]);
        cr_expect(exists(path), "no %s", keep[k]);
    }
    snprintf(args, sizeof args, "%s/shapes-classifier.json", dir);
    char *json = read_text(args);
    cr_expect(strstr(json, "\"channel\": 5") && strstr(json, "\"layer\": 16") && strstr(json, "\"top1_name\": \"") &&
              strstr(json, "\"steps\": 4") && strstr(json, "\"npy\": \"./shapes-classifier_L16_c5.npy\""), "%s", json);
    free(json);
}

static double objective_at(dx_model *m, const dx_vis_unit *u, const dx_vis_options *o, const float *x)
{
    double v;
    dx_error err;
    cr_assert_eq(dx_vis_objective(m, u, o, x, NULL, &v, NULL, &err), 0, "%s", err.msg);
    return v;
}

/* The gradient dx_vis_objective ascends is J's: central differences at the input's largest and
 * random coordinates (those where steps h and h/2 agree: no kink within the step), and along a
 * random direction, for a channel unit and a class unit of the test classifier with every
 * regulariser on. */
Test(visualize, ascended_gradient_matches_finite_differences, .timeout = 60)
{
    char cfg[1100], weights[1100];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", root());
    scratch_path(weights, sizeof weights, "net.weights");
    dx_model *m = open_random(cfg, weights, 5);
    size_t n = (size_t)m->net->inputs;
    dx_vis_options o;
    dx_vis_options_init(&o);
    o.l2 = 3;
    o.tv = 5;
    const dx_vis_unit units[2] = {{2, 3, -1}, {-1, -1, 1}};
    float *x = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
    rng r = {77};
    for (size_t i = 0; i < n; ++i) x[i] = (float)(0.2 + 0.6 * rng_uniform(&r));
    for (int k = 0; k < 2; ++k) {
        double value, unit;
        dx_error err;
        cr_assert_eq(dx_vis_objective(m, &units[k], &o, x, g, &value, &unit, &err), 0, "%s", err.msg);
        cr_expect(value < unit, "the regularisers lower J: J %g, unit %g", value, unit);
        int used = 0, agree = 0;
        for (int c = 0; c < 24; ++c) {
            size_t i = (size_t)(rng_uniform(&r) * n);
            if (c < 12) /* the largest |g| among a few draws */
                for (int t = 0; t < 8; ++t) {
                    size_t j = (size_t)(rng_uniform(&r) * n);
                    if (fabsf(g[j]) > fabsf(g[i])) i = j;
                }
            double fd[2];
            for (int s = 0; s < 2; ++s) {
                float h = s ? 5e-3f : 1e-2f, keep = x[i];
                x[i] = keep + h;
                double up = objective_at(m, &units[k], &o, x);
                x[i] = keep - h;
                double down = objective_at(m, &units[k], &o, x);
                x[i] = keep;
                fd[s] = (up - down) / (2 * h);
            }
            if (fabs(fd[0] - fd[1]) > 0.01 * fabs(fd[1]) + 1e-4) continue;
            used++;
            agree += fabs(g[i] - fd[1]) <= 0.01 * fabs(fd[1]) + 2e-4;
            if (fabs(g[i] - fd[1]) > 0.01 * fabs(fd[1]) + 2e-4)
                cr_log_warn("unit %d, input %zu: ascended %g, differences %g", k, i, g[i], fd[1]);
        }
        cr_expect(used >= 16, "unit %d: only %d coordinates without a kink", k, used);
        cr_expect_eq(agree, used, "unit %d: %d of %d coordinates agree", k, agree, used);
        double norm = 0, along = 0;
        for (size_t i = 0; i < n; ++i) {
            v[i] = (float)rng_normal(&r);
            norm += v[i] * v[i];
        }
        for (size_t i = 0; i < n; ++i) along += g[i] * (v[i] /= (float)sqrt(norm));
        const float h = 3e-3f;
        for (size_t i = 0; i < n; ++i) x[i] += h * v[i];
        double up = objective_at(m, &units[k], &o, x);
        for (size_t i = 0; i < n; ++i) x[i] -= 2 * h * v[i];
        double down = objective_at(m, &units[k], &o, x);
        for (size_t i = 0; i < n; ++i) x[i] += h * v[i];
        double directional = (up - down) / (2 * h);
        cr_log_info("unit %d: along a random direction: ascended %.6g, differences %.6g", k, along, directional);
        cr_expect(fabs(along - directional) <= 0.01 * fabs(directional) + 1e-5, "unit %d: ascended %g, differences %g",
                  k, along, directional);
    }
    free(x);
    free(g);
    free(v);
    dx_close(m);
}

/* A layer or channel the model does not have, a missing cfg: one line naming it, nothing written. */
Test(visualize, bad_units_one_line_no_file, .timeout = 60)
{
    char dir[1100], args[4096];
    scratch_path(dir, sizeof dir, "");
    static const char *const cases[][3] = {
        {"-layer 20 -channel 0", "-layer 20", "2"},  /* 20 layers: 0..19 */
        {"-layer 16 -channel 64", "-channel 64", "2"}, /* 64 channels: 0..63 */
        {"-class 4", "class 4", "2"},
        {"-class blob", "blob", "2"},
        {"-layer 16", "-channel", "2"},
        {"-class 0 -layer 16", "-layer", "2"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        snprintf(args, sizeof args, "visualize %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights %s -out v",
                 root(), root(), cases[k][0]);
        run_result r = run_dx(dir, args);
        cr_expect_eq(r.status, atoi(cases[k][2]), "%s: exit %d: %s", cases[k][0], r.status, r.err);
        cr_expect_eq(r.err_lines, 1, "%s: %s", cases[k][0], r.err);
        cr_expect(strstr(r.err, cases[k][1]), "%s: the message does not name %s: %s", cases[k][0], cases[k][1], r.err);
    }
    run_result r = run_dx(dir, "visualize missing.cfg missing.weights -class 0 -out v");
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_expect(r.err_lines == 1 && strstr(r.err, "missing.cfg"), "%s", r.err);
    static const char *const keep[] = {"stdout.txt", "stderr.txt", NULL};
    cr_expect_eq(stray_files_in(dir, keep), 0, "a failed run left files");
}

/* Tiny Darknet: a visualised class is its own top-1 (32 steps). */
Test(visualize, tiny_darknet_recognises_a_visualised_class, .timeout = 300)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    dx_model *m = open_shared_model("imagenet/tiny", NULL);
    dx_vis_unit u = {-1, -1, 417};
    dx_vis_options o;
    dx_vis_options_init(&o);
    o.steps = 32;
    dx_vis_result r;
    dx_error err;
    cr_assert_eq(dx_visualize(m, &u, &o, &r, &err), 0, "%s", err.msg);
    float prob;
    int top = darknet_top1(m, r.image, &prob);
    cr_log_info("Tiny Darknet class 417: top-1 %d (%.3f), logit %.2f from %.2f on noise, %.0f ms", top, prob, r.objective,
                r.start_objective, r.ms);
    cr_expect_eq(top, 417, "top-1 %d (%.3f)", top, prob);
    free(r.image);
    dx_close(m);
}
