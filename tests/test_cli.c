/* The darknet-explain command: outputs on success; on bad input a one-line error naming the
 * file and what is wrong, a non-zero exit, no crash and no output file left behind. Several of
 * these inputs make Darknet itself exit(0), abort or segfault; the plugin checks first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include <stb_image.h>
#include "io/render.h"
#include "../tools/shapes.h"
#include <math.h>

static void expect_error(const char *dir, const char *args, int code, const char *needle)
{
    run_result r = run_dx(dir, args);
    cr_expect_eq(r.status, code, "`%s`: exit %d, expected %d; stderr: %s", args, r.status, code, r.err);
    cr_expect_eq(r.err_lines, 1, "`%s`: %d lines on stderr, expected one: %s", args, r.err_lines, r.err);
    cr_expect(strncmp(r.err, "darknet-explain: ", 17) == 0, "`%s`: stderr is '%s'", args, r.err);
    cr_expect(strstr(r.err, needle), "`%s`: stderr '%s' does not say '%s'", args, r.err, needle);
    cr_expect_eq(stray_files(dir), 0, "`%s` left files behind", args);
}

Test(cli, writes_the_four_outputs)
{
    const char *dir = classifier_fixture();
    run_result r = run_dx(dir, "gradcam net.cfg net.weights photo.png -out expl -layer 5");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_str_eq(r.err, "");
    cr_expect(strstr(r.out, "wrote expl.png expl.npy expl.raw.npy expl.json"), "%s", r.out);
    char path[512], json[8192];
    snprintf(path, sizeof path, "%s/expl.json", dir);
    read_text_into(path, json, sizeof json);
    cr_expect(strstr(json, "\"method\": \"gradcam\""), "%s", json);
    cr_expect(strstr(json, "\"index\": 5"), "%s", json);
    cr_expect(strstr(json, "\"map_shape_hw\": [\n      30,\n      40\n    ]"), "%s", json);
    cr_expect(strstr(json, "\"preprocessing\": \"letterbox (as darknet classifier predict)\""), "%s", json);
    snprintf(path, sizeof path, "%s/expl.npy", dir);
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_expect_eq(size, 128 + 4 * 30 * 40, "expl.npy has %ld bytes", size);
    /* the default prefix: <image name>_<method> */
    r = run_dx(dir, "saliency net.cfg net.weights photo.png");
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(path, sizeof path, "%s/photo_saliency.png", dir);
    cr_expect(access(path, R_OK) == 0, "no %s", path);
}

static int files_equal(const char *a, const char *b)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    return system(cmd) == 0;
}

/* `all`: one model load, each method's four outputs (the same as the single-method command's)
 * and a panel with one tile per method. */
Test(cli, all_writes_each_method_and_a_panel)
{
    const char *dir = classifier_fixture();
    run_result r = run_dx(dir, "all net.cfg net.weights photo.png -methods gradcam,saliency -layer 5 -out multi");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "wrote multi_panel.png"), "%s", r.out);
    r = run_dx(dir, "gradcam net.cfg net.weights photo.png -layer 5 -out single");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char a[512], b[512];
    static const char *const suffixes[] = {".npy", ".raw.npy", ".json", ".png"};
    for (int k = 0; k < 2; ++k) { /* the JSON differs in its timings, the PNG not at all */
        snprintf(a, sizeof a, "%s/multi_gradcam%s", dir, suffixes[k]);
        snprintf(b, sizeof b, "%s/single%s", dir, suffixes[k]);
        cr_expect(files_equal(a, b), "%s differs from %s", a, b);
    }
    snprintf(a, sizeof a, "%s/multi_gradcam.png", dir);
    snprintf(b, sizeof b, "%s/single.png", dir);
    cr_expect(files_equal(a, b), "%s differs from %s", a, b);
    snprintf(a, sizeof a, "%s/multi_saliency.json", dir);
    cr_expect(access(a, R_OK) == 0, "no %s", a);
    snprintf(a, sizeof a, "%s/multi_panel.png", dir);
    int w, h, channels;
    cr_assert(stbi_info(a, &w, &h, &channels), "%s is not a PNG", a);
    /* two 40x30 tiles side by side (one row), a title above and a label under each; the text
     * is at least 20 pixels tall, so a second row of tiles would make it 120 or taller */
    cr_expect(w >= 2 * 40, "panel is %d wide", w);
    cr_expect(h > 30 + 2 * 20 && h < 2 * 30 + 3 * 20, "panel is %d tall", h);
}

Test(cli, usage_and_help)
{
    const char *dir = temp_dir();
    run_result r = run_dx(dir, "");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "usage: darknet-explain <method>"), "%s", r.err);
    r = run_dx(dir, "-h");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "methods: gradcam saliency"), "%s", r.out);
    r = run_dx(dir, "gradcam -h");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "Grad-CAM"), "%s", r.out);
    cr_expect(strstr(r.out, "-layer L"), "%s", r.out);
}

Test(cli, bad_options)
{
    const char *dir = classifier_fixture();
    expect_error(dir, "nosuchmethod net.cfg net.weights photo.png", 2, "unknown method 'nosuchmethod'");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -class abc", 2, "-class takes a whole number");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -class -3", 2, "-class takes a whole number");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -frobnicate 1", 2, "unknown option '-frobnicate'");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -layer", 2, "-layer needs a value");
    expect_error(dir, "gradcam net.cfg net.weights", 2, "needs <cfg> <weights> <image>");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -score maybe", 2, "-score takes logit or prob");
    expect_error(dir, "gradcam net.cfg net.weights photo.png extra", 2, "unexpected argument 'extra'");
    expect_error(dir, "all net.cfg net.weights photo.png -methods gradcam,nosuch", 2, "unknown method 'nosuch'");
    expect_error(dir, "all net.cfg net.weights photo.png -methods ''", 2, "-methods: no method given");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -methods gradcam", 2, "-methods goes with 'all'");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -layer 3,x", 2, "-layer takes a layer index");
}

Test(cli, bad_targets)
{
    const char *dir = classifier_fixture();
    expect_error(dir, "gradcam net.cfg net.weights photo.png -class 6", 1, "class 6 is out of range: the model has 6 classes");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -layer 40", 1, "layer 40 does not exist");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -layer 11", 1, "layer 11 [avgpool] has no spatial extent");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -out nodir/x", 1, "nodir/x");
}

Test(cli, bad_files)
{
    const char *dir = classifier_fixture();
    char path[512];
    expect_error(dir, "gradcam missing.cfg net.weights photo.png", 1, "missing.cfg");
    /* binary garbage as a cfg */
    snprintf(path, sizeof path, "%s/bad.cfg", dir);
    FILE *f = fopen(path, "wb");
    for (int k = 0; k < 4096; ++k) fputc((k * 7919) & 0xff, f);
    fclose(f);
    expect_error(dir, "gradcam bad.cfg net.weights photo.png", 1, "bad.cfg");
    /* a route without layers= : Darknet's parser dereferences NULL */
    write_text(path, "[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nfilters=2\nsize=1\nactivation=leaky\n[route]\n");
    expect_error(dir, "gradcam bad.cfg net.weights photo.png", 1, "bad.cfg");
    /* an unknown section: Darknet leaves a layer with no forward function */
    write_text(path, "[net]\nwidth=8\nheight=8\nchannels=3\n[convolutoinal]\nfilters=2\n");
    expect_error(dir, "gradcam bad.cfg net.weights photo.png", 1, "bad.cfg");

    expect_error(dir, "gradcam net.cfg missing.weights photo.png", 1, "missing.weights");
    /* truncated weights: Darknet would silently leave the tail of the network at zero */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "head -c 1000 %s/net.weights > %s/bad.weights", dir, dir);
    cr_assert_eq(system(cmd), 0);
    expect_error(dir, "gradcam net.cfg bad.weights photo.png", 1, "bad.weights: truncated weights");
    snprintf(cmd, sizeof cmd, "head -c 10 %s/net.weights > %s/bad.weights", dir, dir);
    cr_assert_eq(system(cmd), 0);
    expect_error(dir, "gradcam net.cfg bad.weights photo.png", 1, "bad.weights: truncated weights");
    snprintf(cmd, sizeof cmd, "cat %s/net.weights %s/net.weights > %s/bad.weights", dir, dir, dir);
    cr_assert_eq(system(cmd), 0);
    expect_error(dir, "gradcam net.cfg bad.weights photo.png", 1, "cfg and weights do not match");

    expect_error(dir, "gradcam net.cfg net.weights missing.jpg", 1, "missing.jpg: cannot open image");
    snprintf(path, sizeof path, "%s/notimage.jpg", dir);
    write_text(path, "this is not a JPEG\n");
    expect_error(dir, "gradcam net.cfg net.weights notimage.jpg", 1, "notimage.jpg: not a readable image");
    /* a PNG cut in the middle of its pixel data */
    snprintf(cmd, sizeof cmd, "head -c $(( $(stat -c %%s %s/photo.png) * 2 / 3 )) %s/photo.png > %s/notimage.jpg",
             dir, dir, dir);
    cr_assert_eq(system(cmd), 0);
    expect_error(dir, "gradcam net.cfg net.weights notimage.jpg", 1, "notimage.jpg: not a readable image");
    /* Darknet writes ./bad.list when its loader fails: never reached */
    snprintf(path, sizeof path, "%s/bad.list", dir);
    cr_expect(access(path, F_OK) != 0, "Darknet's bad.list was written");
}

/* detectors take the box path (tests/test_detector.c); its errors are one line too */
Test(cli, detector_errors)
{
    const char *dir = classifier_fixture();
    char cfg[512], cmd[1024];
    snprintf(cfg, sizeof cfg, "%s/bad.cfg", dir);
    snprintf(cmd, sizeof cmd, "cp %s/cfg/test-detector.cfg %s", getenv("DX_ROOT"), cfg);
    cr_assert_eq(system(cmd), 0);
    char weights[512];
    snprintf(weights, sizeof weights, "%s/bad.weights", dir);
    dx_close(open_random(cfg, weights, 2));
    expect_error(dir, "gradcam bad.cfg bad.weights photo.png -region 0,0,10,10 -layer 40", 1, "layer 40 does not exist");
    expect_error(dir, "drise bad.cfg bad.weights photo.png -region 0,0,10,10 -masks 0", 2, "-masks takes a whole number from 1");
}

/* The leftmost column of a figure's colour bar: its top is jet's (128, 0, 0) unblended, a colour
 * nothing else in the figure has. */
static int colour_bar_left(const char *path)
{
    int w, h, channels;
    unsigned char *px = stbi_load(path, &w, &h, &channels, 3);
    cr_assert(px, "%s is not a PNG", path);
    int left = -1;
    for (int y = 0; y < h && left < 0; ++y)
        for (int x = 0; x < w && left < 0; ++x) {
            const unsigned char *p = px + 3 * ((size_t)y * w + x);
            if (abs(p[0] - 128) <= 2 && p[1] <= 2 && p[2] <= 2) left = x;
        }
    stbi_image_free(px);
    cr_assert(left >= 0, "%s: no colour bar", path);
    return left;
}

/* -png_width: values that would draw a 1-pixel-high thumbnail crashed in Darknet's resize_image
 * (it divides by h - 1); the range is refused, any width in it is honoured, enlarging too. */
Test(cli, png_width_is_checked_and_honoured)
{
    const char *dir = classifier_fixture();
    expect_error(dir, "gradcam net.cfg net.weights photo.png -png_width 1", 2, "-png_width takes a whole number from 16 to 4096");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -png_width 15", 2, "-png_width takes a whole number from 16");
    expect_error(dir, "gradcam net.cfg net.weights photo.png -png_width 4097", 2, "-png_width takes a whole number");
    int bar[3];
    const char *args[3] = {"", "-png_width 80", "-png_width 20"};
    for (int k = 0; k < 3; ++k) {
        char cmd[256], path[512];
        snprintf(cmd, sizeof cmd, "gradcam net.cfg net.weights photo.png -out w%d %s", k, args[k]);
        run_result r = run_dx(dir, cmd);
        cr_assert_eq(r.status, 0, "`%s`: exit %d: %s", cmd, r.status, r.err);
        snprintf(path, sizeof path, "%s/w%d.png", dir, k);
        bar[k] = colour_bar_left(path);
    }
    /* the bar is right of the photo, after the same margins at these sizes */
    cr_expect_eq(bar[1] - bar[0], 80 - 40, "-png_width 80 on a 40-pixel photo: the bar at x %d, not %d + 40", bar[1],
                 bar[0]);
    cr_expect_eq(bar[2] - bar[0], 20 - 40, "-png_width 20: the bar at x %d, not %d - 20", bar[2], bar[0]);

    /* a 300x20 photo at 16 pixels wide is 1.07 pixels high: drawn 2 high (on the 64x64 shapes
     * classifier, whose letterbox gives it 4 rows; the 16x16 test classifier's would give it 1,
     * which Darknet's resize cannot make: refused, tests/test_inputs.c) */
    dx_image wide = dx_make_image(300, 20, 3);
    for (int k = 0; k < 300 * 20 * 3; ++k) wide.data[k] = (k % 300) / 300.f;
    char png[512];
    snprintf(png, sizeof png, "%s/wide.png", dir);
    dx_error err;
    cr_assert_eq(dx_write_png(wide, png, &err), 0, "%s", err.msg);
    dx_free_image(wide);
    const char *root = getenv("DX_ROOT");
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "gradcam %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights wide.png "
             "-png_width 16 -out thin", root, root);
    run_result r = run_dx(dir, cmd);
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    snprintf(cmd, sizeof cmd, "all %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights wide.png "
             "-methods gradcam -png_width 16 -out thin", root, root);
    r = run_dx(dir, cmd);
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
}

/* The library refuses the same widths, opacities and clips (API callers skip the option table). */
Test(cli, png_width_out_of_range_is_refused_by_the_library)
{
    const char *dir = classifier_fixture();
    char cfg[512], weights[512], photo[512], prefix[512];
    snprintf(cfg, sizeof cfg, "%s/net.cfg", dir);
    snprintf(weights, sizeof weights, "%s/net.weights", dir);
    snprintf(photo, sizeof photo, "%s/photo.png", dir);
    snprintf(prefix, sizeof prefix, "%s/lib", dir);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    dx_request req;
    dx_request_init(&req);
    dx_result r;
    cr_assert_eq(dx_explain_file(m, photo, &req, &r, &err), 0, "%s", err.msg);
    int bad[] = {1, 2, -5, DX_PNG_WIDTH_MAX + 1};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; ++k) {
        dx_output_options opt = {.png_width = bad[k]};
        cr_expect_eq(dx_write_outputs(m, &r, prefix, &opt, &err), -1, "png_width %d accepted", bad[k]);
        cr_expect(strstr(err.msg, "png_width"), "%s", err.msg);
        cr_expect_eq(dx_write_panel(m, &r, 1, prefix, &opt, &err), -1, "panel: png_width %d accepted", bad[k]);
    }
    dx_output_options bad_style[] = {{.png_opacity = 1.5f}, {.png_opacity = -0.2f}, {.png_opacity = NAN},
                                     {.png_clip = 20}, {.png_clip = 101}, {.png_clip = NAN}};
    for (size_t k = 0; k < sizeof bad_style / sizeof *bad_style; ++k) {
        cr_expect_eq(dx_write_outputs(m, &r, prefix, &bad_style[k], &err), -1, "opacity %g, clip %g accepted",
                     bad_style[k].png_opacity, bad_style[k].png_clip);
        cr_expect(strstr(err.msg, "png_opacity") || strstr(err.msg, "png_clip"), "%s", err.msg);
    }
    cr_expect_eq(stray_files(dir), 0);
    dx_result_free(&r);
    dx_close(m);
}

/* -region with NaN or inf: refused naming the option (dx_region_box used to find no anchor and
 * leave its output unset). */
Test(cli, region_not_finite_is_refused)
{
    const char *dir = classifier_fixture();
    char cfg[512], cmd[1024], weights[512];
    snprintf(cfg, sizeof cfg, "%s/bad.cfg", dir);
    snprintf(cmd, sizeof cmd, "cp %s/cfg/test-detector.cfg %s", getenv("DX_ROOT"), cfg);
    cr_assert_eq(system(cmd), 0);
    snprintf(weights, sizeof weights, "%s/bad.weights", dir);
    dx_close(open_random(cfg, weights, 2));
    expect_error(dir, "gradcam bad.cfg bad.weights photo.png -region nan,nan,5,5", 2, "-region takes x,y,w,h");
    expect_error(dir, "gradcam bad.cfg bad.weights photo.png -region 0,0,inf,inf", 2, "-region takes x,y,w,h");
    expect_error(dir, "gradcam bad.cfg bad.weights photo.png -region 0,-inf,5,5", 2, "-region takes x,y,w,h");
}

/* A copy of src with floats [first, first + count) after the 20-byte header set to value;
 * returns the file's float count. */
static long copy_weights_replacing(const char *src, const char *dst, long first, long count, float value)
{
    FILE *in = fopen(src, "rb");
    cr_assert(in, "cannot read %s", src);
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    rewind(in);
    unsigned char *bytes = malloc(size);
    cr_assert_eq(fread(bytes, 1, size, in), (size_t)size);
    fclose(in);
    long floats = (size - 20) / 4;
    cr_assert(first >= 0 && first + count <= floats, "floats %ld..%ld of %ld", first, first + count, floats);
    for (long k = first; k < first + count; ++k) memcpy(bytes + 20 + 4 * k, &value, 4);
    FILE *out = fopen(dst, "wb");
    cr_assert_eq(fwrite(bytes, 1, size, out), (size_t)size);
    fclose(out);
    free(bytes);
    return floats;
}

/* stderr is the weights warning, then one error line; exit 1, no file left */
static void expect_nonfinite_error(const char *dir, const char *args, const char *warning, const char *needle)
{
    run_result r = run_dx(dir, args);
    cr_expect_eq(r.status, 1, "`%s`: exit %d, expected 1; stderr: %s", args, r.status, r.err);
    cr_expect_eq(r.err_lines, 2, "`%s`: %d lines on stderr, expected the warning and the error: %s", args,
                 r.err_lines, r.err);
    cr_expect(strncmp(r.err, warning, strlen(warning)) == 0, "`%s`: stderr does not start with '%s': %s", args,
              warning, r.err);
    const char *second = strchr(r.err, '\n');
    cr_expect(second && strncmp(second + 1, "darknet-explain: ", 17) == 0 && strstr(second, needle),
              "`%s`: the error line does not say '%s': %s", args, needle, r.err);
    cr_expect_eq(stray_files(dir), 0, "`%s` left files behind", args);
}

/* Weights of the right size holding NaN or inf: a warning naming the layer at load, then every
 * method stops at the forward's first non-finite layer (they used to exit 0 with "nan%" and
 * maps of zeros or of NaN). */
Test(cli, nonfinite_weights_are_diagnosed)
{
    const char *dir = classifier_fixture();
    char net[512], bad[512];
    snprintf(net, sizeof net, "%s/net.weights", dir);
    snprintf(bad, sizeof bad, "%s/bad.weights", dir);
    /* test-classifier's layer 0: 8 biases, 3 x 8 batch-norm values, then its 216 weights */
    copy_weights_replacing(net, bad, 32, 12, INFINITY);
    static const char *const methods[] = {"gradcam", "saliency", "cam", "lrp", "ig", "occlusion"};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; ++k) {
        char args[256];
        snprintf(args, sizeof args, "%s net.cfg bad.weights photo.png -out x", methods[k]);
        expect_nonfinite_error(dir, args, "bad.weights: layer 0 (convolutional) has 12 non-finite weights",
                               "bad.weights: layer 0 (convolutional) outputs");
    }
    long floats = copy_weights_replacing(net, bad, 0, 0, 0);
    copy_weights_replacing(net, bad, 0, floats, NAN);
    expect_nonfinite_error(dir, "gradcam net.cfg bad.weights photo.png -out x",
                           "bad.weights: layer 0 (convolutional) has 248 non-finite weights",
                           "non-finite values (NaN or inf)");
    expect_nonfinite_error(dir, "all net.cfg bad.weights photo.png -methods gradcam,saliency -out x",
                           "bad.weights: layer 0 (convolutional) has 248 non-finite weights",
                           "non-finite values (NaN or inf)");
}

/* A valid-size detector weights file with one huge value: every anchor's h output is 2.4e17,
 * exp() of it is inf, so every box is y = -inf, h = inf. It used to be printed ("at 36,-inf
 * 16xinf"), written as JSON nulls and drawn (a signed overflow under UBSan); now it is one error
 * line. The same weights all NaN, with -region, fail at the forward. */
Test(cli, detector_boxes_not_finite_are_refused)
{
    const char *dir = classifier_fixture();
    char weights[512], bad[512], cfg[512], cmd[1024], png[512];
    snprintf(weights, sizeof weights, "%s/cfg/shapes-detector.weights", getenv("DX_ROOT"));
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-detector.cfg", getenv("DX_ROOT"));
    snprintf(bad, sizeof bad, "%s/bad.weights", dir);
    snprintf(cmd, sizeof cmd, "cp %s %s/bad.cfg", cfg, dir);
    cr_assert_eq(system(cmd), 0);
    dx_image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(4, 0, 64, 2, &photo, objs);
    snprintf(png, sizeof png, "%s/notimage.jpg", dir); /* a PNG under a name the fixture knows */
    dx_error err;
    cr_assert_eq(dx_write_png(photo, png, &err), 0, "%s", err.msg);
    dx_free_image(photo);
    /* the last layer is the 1x1 convolution to 3 anchors x (x, y, w, h, obj, 4 classes): 27
     * biases, then 27 x 64 weights; the h bias of anchor a is bias 9a + 3 */
    long floats = copy_weights_replacing(weights, bad, 0, 0, 0);
    snprintf(cmd, sizeof cmd, "cp %s %s/net.weights", weights, dir);
    cr_assert_eq(system(cmd), 0);
    run_result r = run_dx(dir, "gradcam bad.cfg net.weights notimage.jpg -out ok");
    cr_assert_eq(r.status, 0, "the shipped weights: exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "box0"), "the shipped weights find no box: %s", r.out);
    snprintf(cmd, sizeof cmd, "rm %s/ok*", dir);
    cr_assert_eq(system(cmd), 0);
    for (int a = 0; a < 3; ++a) copy_weights_replacing(a ? bad : weights, bad, floats - 27 * 65 + 9 * a + 3, 1, 2.4e17f);
    expect_error(dir, "gradcam bad.cfg bad.weights notimage.jpg -out x", 1, "has a box that is not finite");
    expect_error(dir, "gradcam bad.cfg bad.weights notimage.jpg -boxes all -out x", 1, "has a box that is not finite");
    expect_error(dir, "gradcam bad.cfg bad.weights notimage.jpg -region 20,20,10,10 -out x", 1,
                 "no anchor has a finite box");
    copy_weights_replacing(weights, bad, 0, floats, NAN);
    expect_nonfinite_error(dir, "gradcam bad.cfg bad.weights notimage.jpg -region 20,20,10,10 -out x",
                           "bad.weights: layer 0 (convolutional) has", "non-finite values (NaN or inf)");
}

/* The map at photo resolution from PREFIX.npy (128-byte header), malloc'd; n receives its size. */
static float *read_map_npy(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "no %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    *n = (size_t)(size - 128) / 4;
    float *map = malloc(size - 128);
    fseek(f, 128, SEEK_SET);
    cr_assert_eq(fread(map, 4, *n, f), *n);
    fclose(f);
    return map;
}

/* the number after `"key": ` (or `"key": [`) in text, from offset `nth` of the array */
static double json_number(const char *text, const char *key, int nth)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\": ", key);
    const char *p = strstr(text, quoted);
    cr_assert(p, "no %s in %s", key, text);
    p += strlen(quoted);
    if (*p == '[') ++p;
    for (int k = 0; k < nth; ++k) p = strchr(p, ',') + 1;
    return strtod(p, NULL);
}

/* The PNG's scale, as the JSON reports it (the figure's bar is labelled with it): by default
 * clipped at 98% of the mass for pixel-level and signed maps, computed on the full-resolution
 * map; -png_clip 100 gives the map's extremes; the .npy stays raw. */
Test(cli, png_scale_is_reported_and_clipped_by_default)
{
    const char *dir = classifier_fixture();
    static const struct {
        const char *method, *args;
        int signed_map;
        float clip;
    } runs[] = {
        {"saliency", "", 0, 98}, {"inputxgrad", "", 1, 98}, {"saliency", "-png_clip 100", 0, 100},
        {"inputxgrad", "-png_clip 90 -png_opacity 0.7", 1, 90}, {"gradcam", "-layer 5", 0, 100},
    };
    for (size_t k = 0; k < sizeof runs / sizeof *runs; ++k) {
        char cmd[256], path[512], json[8192];
        snprintf(cmd, sizeof cmd, "%s net.cfg net.weights photo.png -out s%zu %s", runs[k].method, k, runs[k].args);
        run_result r = run_dx(dir, cmd);
        cr_assert_eq(r.status, 0, "`%s`: %s", cmd, r.err);
        snprintf(path, sizeof path, "%s/s%zu.json", dir, k);
        read_text_into(path, json, sizeof json);
        snprintf(path, sizeof path, "%s/s%zu.npy", dir, k);
        size_t n;
        float *map = read_map_npy(path, &n);
        dx_map_scale want;
        dx_map_scale_of(map, n, runs[k].signed_map, runs[k].clip, &want);
        float lo = (float)json_number(json, "scale", 0), hi = (float)json_number(json, "scale", 1);
        cr_expect(lo == want.lo && hi == want.hi, "`%s`: the JSON's scale %g..%g, computed %g..%g", cmd, lo, hi,
                  want.lo, want.hi);
        cr_expect_eq(json_number(json, "clip_percentile", 0), runs[k].clip, "`%s`", cmd);
        cr_expect(strstr(json, want.clipped ? "\"clipped\": true" : "\"clipped\": false"), "`%s`: %s", cmd, json);
        float max = -INFINITY;
        for (size_t i = 0; i < n; ++i) max = fmaxf(max, map[i]);
        cr_expect_eq((float)json_number(json, "map_max", 0), max, "`%s`: the .npy is not the raw map", cmd);
        if (runs[k].clip < 100 && !runs[k].signed_map)
            cr_expect(want.clipped && hi < max, "`%s`: the default clipping changed nothing (%g of %g)", cmd, hi, max);
        free(map);
    }
    char path[512], json[8192];
    snprintf(path, sizeof path, "%s/s3.json", dir);
    read_text_into(path, json, sizeof json);
    cr_expect_float_eq(json_number(json, "opacity", 0), 0.7, 1e-6);
    snprintf(path, sizeof path, "rm %s/s[0-9]*", dir);
    cr_assert_eq(system(path), 0);
    expect_error(dir, "saliency net.cfg net.weights photo.png -png_opacity 0", 2, "-png_opacity takes a number from 0.01 to 1");
    expect_error(dir, "saliency net.cfg net.weights photo.png -png_opacity 1.5", 2, "-png_opacity takes a number");
    expect_error(dir, "saliency net.cfg net.weights photo.png -png_opacity nan", 2, "-png_opacity takes a number");
    expect_error(dir, "saliency net.cfg net.weights photo.png -png_clip 49", 2, "-png_clip takes a number from 50 to 100");
    expect_error(dir, "saliency net.cfg net.weights photo.png -png_clip 101", 2, "-png_clip takes a number");
    expect_error(dir, "saliency net.cfg net.weights photo.png -png_clip x", 2, "-png_clip takes a number");
}

/* A map that is 0 everywhere after the ReLU (a weak target: the shapes detector's anchor at an
 * empty corner) gets one note line on stderr suggesting -relu 0 and "map_blank" in the JSON,
 * exit 0; no detection above -thresh names the best score there was, and its class. */
Test(cli, blank_maps_and_misses_are_explained)
{
    const char *dir = classifier_fixture();
    char cfg[512], weights[512], png[512], cmd[1400], path[512], json[16384];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-detector.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-detector.weights", getenv("DX_ROOT"));
    dx_image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(4, 0, 64, 2, &photo, objs);
    snprintf(png, sizeof png, "%s/notimage.jpg", dir);
    dx_error err;
    cr_assert_eq(dx_write_png(photo, png, &err), 0, "%s", err.msg);

    snprintf(cmd, sizeof cmd, "gradcam %s %s notimage.jpg -region 0,0,10,10 -out blank", cfg, weights);
    run_result r = run_dx(dir, cmd);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    cr_expect(strstr(r.err, "darknet-explain: note: the gradcam map of region is 0 everywhere") &&
              strstr(r.err, "-relu 0"), "%s", r.err);
    snprintf(path, sizeof path, "%s/blank.json", dir);
    read_text_into(path, json, sizeof json);
    cr_expect(strstr(json, "\"map_blank\": true"), "%s", json);
    snprintf(cmd, sizeof cmd, "gradcam %s %s notimage.jpg -region 0,0,10,10 -relu 0 -out signed", cfg, weights);
    r = run_dx(dir, cmd);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_str_eq(r.err, "", "with -relu 0");
    read_text_into(strcat(strcpy(path, dir), "/signed.json"), json, sizeof json);
    cr_expect(strstr(json, "\"map_blank\": false"), "%s", json);

    /* the best score, by the library's own decoding at threshold 0 without NMS */
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    dx_request req;
    dx_request_init(&req);
    req.thresh = 0;
    req.nms = 0;
    dx_detection *boxes;
    int n;
    cr_assert_eq(dx_detect_image(m, photo, &req, &boxes, &n, &err), 0, "%s", err.msg);
    cr_assert_gt(n, 0);
    char want[256];
    snprintf(want, sizeof want, "notimage.jpg: no detection above -thresh 1 (the best score is %.2f%%, class %d); "
             "wrote miss.json\n", 100 * boxes[0].score, boxes[0].cls);
    snprintf(cmd, sizeof cmd, "gradcam %s %s notimage.jpg -thresh 1 -out miss", cfg, weights);
    r = run_dx(dir, cmd);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect_str_eq(r.out, want);
    read_text_into(strcat(strcpy(path, dir), "/miss.json"), json, sizeof json);
    cr_expect_eq((float)json_number(json, "score", 0), boxes[0].score, "%s", json);
    cr_expect(strstr(json, "\"preprocessing\": \"letterbox (as darknet detector test)\""), "%s", json);
    free(boxes);
    dx_free_image(photo);
    dx_close(m);
}
