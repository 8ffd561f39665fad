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
    read_text(path, json, sizeof json);
    cr_expect(strstr(json, "\"method\": \"gradcam\""), "%s", json);
    cr_expect(strstr(json, "\"index\": 5"), "%s", json);
    cr_expect(strstr(json, "\"map_shape_hw\": [\n      30,\n      40\n    ]"), "%s", json);
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
