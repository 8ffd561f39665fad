/* The hank-ai backend (make test BACKEND=hankai): detections equal to the fork's own detection
 * (its loader, forward, get_network_boxes and NMS: build-hankai/hankai-detect) on its YOLOv4-tiny
 * and YOLOv7-tiny cfgs with random weights written by its own save_weights, the plugin's reverse
 * pass against finite differences through the fork's own forward, and Grad-CAM maps equal to the
 * AlexeyAB backend's on the same cfg, weights and photo. The fork's cfg folder comes from
 * $DX_HK_CFG (the pinned snapshot, unpacked by make BACKEND=hankai); the photos from ../shared. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../helpers.h"
#include "io/image.h"
#include "model.h"

/* The fork's cfg `name` with random weights (helpers' open_random), the convolutions below the
 * heads scaled by 0.05 (random heads saturate every logistic: hundreds of thousands of boxes; so
 * scores come out around 0.25, a few hundred above 0.3), then written by the fork's own
 * save_weights to `weights` and opened again from that file. */
static dx_model *open_fork_cfg(const char *name, const char *weights, char *cfg, size_t cfg_len)
{
    const char *cfg_dir = getenv("DX_HK_CFG");
    cr_assert(cfg_dir, "DX_HK_CFG is set by make test BACKEND=hankai");
    snprintf(cfg, cfg_len, "%s/%s.cfg", cfg_dir, name);
    dx_model *m = open_random(cfg, weights, 7);
    for (int i = 0; i + 1 < m->n; ++i) {
        dx_layer *l = &m->net->layers[i];
        if (m->net->layers[i + 1].type != DX_LAYER_YOLO || l->type != DX_LAYER_CONVOLUTIONAL) continue;
        for (int k = 0; k < l->nweights; ++k) l->weights[k] *= 0.05f;
        for (int k = 0; k < l->n; ++k) l->biases[k] *= 0.05f;
    }
    dx_error err;
    cr_assert_eq(dx_backend_save_weights(m->net, weights, &err), 0, "%s", err.msg);
    dx_close(m);
    m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

/* The plugin's boxes against the fork's (hankai-detect's lines: class x y w h score): the same
 * (box, class) pairs, coordinates and scores within 1e-5. */
static int expect_fork_parity(dx_model *m, const char *cfg, const char *weights, const char *path, float thresh,
                              float nms)
{
    dx_image photo;
    dx_error err;
    cr_assert_eq(dx_load_photo(path, &photo, &err), 0, "%s", err.msg);
    dx_request req;
    dx_request_init(&req);
    req.thresh = thresh;
    req.nms = nms;
    dx_detection *boxes;
    int n;
    cr_assert_eq(dx_detect_image(m, photo, &req, &boxes, &n, &err), 0, "%s", err.msg);
    char cmd[5000];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s' %g %g 2>/dev/null", getenv("DX_HK_DETECT"), cfg, weights, path,
             thresh, nms);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "%s", cmd);
    int expected = 0, k;
    float x, y, w, h, score;
    char *matched = calloc(n ? n : 1, 1);
    while (fscanf(p, "%d %f %f %f %f %f", &k, &x, &y, &w, &h, &score) == 6) {
        ++expected;
        int found = -1;
        for (int b = 0; b < n && found < 0; ++b) {
            dx_box c = boxes[b].bbox;
            if (!matched[b] && boxes[b].cls == k && fabsf(x - c.x) < 1e-5f && fabsf(y - c.y) < 1e-5f &&
                fabsf(w - c.w) < 1e-5f && fabsf(h - c.h) < 1e-5f && fabsf(score - boxes[b].score) < 1e-5f)
                found = b;
        }
        cr_expect(found >= 0, "%s: the fork's box (%g %g %g %g) class %d score %g is not among the plugin's %d", path,
                  x, y, w, h, k, score, n);
        if (found >= 0) matched[found] = 1;
    }
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    cr_expect_eq(n, expected, "%s: the plugin finds %d boxes, the fork %d", path, n, expected);
    free(matched);
    free(boxes);
    dx_free_image(photo);
    return n;
}

static void fork_parity(const char *name, float thresh)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: the parity checks need its photos");
    char weights[1200], cfg[1200], photos[2][1200];
    snprintf(weights, sizeof weights, "%s/%s.weights", temp_dir(), name);
    dx_model *m = open_fork_cfg(name, weights, cfg, sizeof cfg);
    snprintf(photos[0], sizeof photos[0], "%s/images/dog.jpg", shared);
    snprintf(photos[1], sizeof photos[1], "%s/images/eagle.jpg", shared);
    int boxes = 0;
    for (int p = 0; p < 2; ++p) boxes += expect_fork_parity(m, cfg, weights, photos[p], thresh, .45f);
    cr_log_info("%s (random weights): %d boxes, all equal to the fork's", name, boxes);
    cr_expect(boxes > 2, "%s: only %d boxes", name, boxes);
    dx_close(m);
}

Test(hankai, boxes_equal_the_forks_yolov4_tiny, .timeout = 300) { fork_parity("yolov4-tiny", .3f); }
/* yolov7-tiny's random new_coords heads pass 75,000 boxes per photo at .3 (minutes of NMS): .4 */
Test(hankai, boxes_equal_the_forks_yolov7_tiny, .timeout = 300) { fork_parity("yolov7-tiny", .4f); }

/* d(proj . output of top)/d(input) against central differences through the fork's own forward. */
static void expect_fd(dx_model *m, int top, uint64_t seed, double max_rel_err, const char *what)
{
    rng r = {seed};
    float *x = malloc(sizeof(float) * m->net->inputs), *proj = malloc(sizeof(float) * m->net->layers[top].outputs);
    for (int k = 0; k < m->net->inputs; ++k) x[k] = (float)rng_uniform(&r);
    for (int k = 0; k < m->net->layers[top].outputs; ++k) proj[k] = (float)(2 * rng_uniform(&r) - 1);
    float *g = analytic_input_grad(m, top, proj, x);
    fd_report rep = fd_check_coords(m, top, proj, x, g, 60, 2e-3f, seed);
    cr_log_info("%s: rel err %.2e, %d of %d coords agree to 1%% (%d skipped at kinks)", what, rep.rel_err, rep.agree,
                rep.used, rep.skipped);
    int tried = rep.used + rep.skipped;
    cr_expect(rep.used >= 2 * tried / 3, "%s: only %d of %d coordinates usable", what, rep.used, tried);
    cr_expect(rep.agree >= 0.9 * rep.used, "%s: analytic and finite differences agree at only %d of %d coordinates",
              what, rep.agree, rep.used);
    cr_expect(rep.rel_err < max_rel_err, "%s: rel err %.3g", what, rep.rel_err);
    free(g);
    free(proj);
    free(x);
}

/* A small cfg the fork parses (its strict parser refuses unknown keys): batch-normalised leaky and
 * mish convolutions, a maxpool, a route, a shortcut, an upsample and a [yolo] head. */
static const char small_cfg[] =
    "[net]\nbatch=1\nwidth=32\nheight=32\nchannels=3\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=mish\n\n"
    "[shortcut]\nfrom=-2\nactivation=linear\n\n"
    "[upsample]\nstride=2\n\n"
    "[route]\nlayers=-1,0\n\n"
    "[convolutional]\nfilters=21\nsize=1\nstride=1\npad=1\nactivation=linear\n\n"
    "[yolo]\nmask=0,1,2\nanchors=4,6, 8,10, 12,14\nclasses=2\nnum=3\n";

Test(hankai, gradient_matches_finite_differences, .timeout = 300)
{
    dx_model *m = open_cfg_text("small", small_cfg, 3);
    cr_assert_eq(m->n, 8);
    cr_expect_eq(m->net->layers[7].type, DX_LAYER_YOLO, "layer 7 is %s", m->net->layers[7].type_name);
    expect_fd(m, 7, 11, 0.02, "small cfg, [yolo] 7");
    dx_close(m);
}

/* Reads an .npy of float32 (the plugin's maps): its values, malloc'd, and their count. */
static float *read_npy(const char *path, long *count)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    unsigned char head[10];
    cr_assert_eq(fread(head, 1, 10, f), 10u);
    long header = head[8] | head[9] << 8;
    cr_assert_eq(fseek(f, 10 + header, SEEK_SET), 0);
    long start = ftell(f);
    fseek(f, 0, SEEK_END);
    *count = (ftell(f) - start) / 4;
    fseek(f, start, SEEK_SET);
    float *v = malloc(sizeof(float) * (*count ? *count : 1));
    cr_assert_eq((long)fread(v, sizeof(float), *count, f), *count);
    fclose(f);
    return v;
}

/* The same cfg, weights and (lossless) photo through darknet-explain built on each fork: the first
 * box's Grad-CAM map equal to 1e-4 of its peak. */
Test(hankai, gradcam_equals_the_alexeyab_backends, .timeout = 600)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: the comparison needs its photos");
    const char *ab = getenv("DX_AB_CLI"), *cli = getenv("DX_CLI");
    if (!ab || access(ab, X_OK) != 0) cr_skip_test("no AlexeyAB build (make BACKEND=alexeyab: build-alexeyab/darknet-explain)");
    const char *dir = temp_dir();
    char weights[1200], cfg[1200], photo[1200], cmd[8000], a[1300], b[1300];
    snprintf(weights, sizeof weights, "%s/yolov4-tiny.weights", dir);
    dx_close(open_fork_cfg("yolov4-tiny", weights, cfg, sizeof cfg));
    snprintf(photo, sizeof photo, "%s/images/chelsea.png", shared);
    const char *outs[2] = {"hankai", "alexeyab"}, *exes[2] = {cli, ab};
    for (int k = 0; k < 2; ++k) {
        snprintf(cmd, sizeof cmd, "'%s' gradcam '%s' '%s' '%s' -thresh .2 -out '%s/%s' >/dev/null 2>'%s/%s.err'", exes[k],
                 cfg, weights, photo, dir, outs[k], dir, outs[k]);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
    snprintf(a, sizeof a, "%s/hankai_box0.npy", dir);
    snprintf(b, sizeof b, "%s/alexeyab_box0.npy", dir);
    long na, nb;
    float *ma = read_npy(a, &na), *mb = read_npy(b, &nb);
    cr_assert_eq(na, nb, "maps of %ld and %ld values", na, nb);
    double peak = 0, worst = 0;
    for (long k = 0; k < na; ++k) peak = fmax(peak, fabs(mb[k]));
    for (long k = 0; k < na; ++k) worst = fmax(worst, fabs(ma[k] - mb[k]));
    cr_log_info("yolov4-tiny box 0 Grad-CAM: %ld values, peak %.6g, largest difference %.3g", na, peak, worst);
    cr_expect(peak > 0 && worst <= 1e-4 * peak, "the maps differ by %.3g (peak %.3g)", worst, peak);
    free(ma);
    free(mb);
}

/* `make darknet BACKEND=hankai`: hank-ai's own darknet CLI with patches/hankai/. Its `darknet
 * explain` writes the same files as darknet-explain on the same backend (the JSONs apart from
 * their timings), and its `detector test` prints the same detections and draws the same
 * predictions.jpg as the unpatched fork's CLI, byte for byte. */
Test(hankai, explain_inside_the_forks_darknet, .timeout = 900)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: the patched-fork check needs its photos");
    const char *root = getenv("DX_ROOT"), *cli = getenv("DX_CLI"), *cfg_dir = getenv("DX_HK_CFG");
    char cmd[16384], weights[1200], cfg[1200], photo[1200], dir[64];
    snprintf(dir, sizeof dir, "%s", temp_dir()); /* temp_dir() makes a new folder at each call */
    assert_make(dir, "darknet BACKEND=hankai");
    snprintf(weights, sizeof weights, "%s/yolov4-tiny.weights", dir);
    dx_close(open_fork_cfg("yolov4-tiny", weights, cfg, sizeof cfg));
    snprintf(photo, sizeof photo, "%s/images/dog.jpg", shared);
    /* every file but the JSONs byte for byte; the JSONs without their times ("timings_ms" objects
     * and the boxes' "forward_ms") */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir inside cli && '%s/darknet-hankai' explain gradcam '%s' '%s' '%s' -thresh .325 -boxes all -out inside/x >inside.log 2>&1 && "
             "'%s' gradcam '%s' '%s' '%s' -thresh .325 -boxes all -out cli/x >cli.log 2>&1 && test -s inside/x_box0.npy && "
             /* yolov4-tiny.cfg has no letter_box=1: the fork's detector stretches, and so does the backend */
             "grep -q '\"preprocessing\": \"stretch (as darknet detector test)\"' cli/x.json && "
             "diff -r -q -x '*.json' inside cli && for f in inside/*.json; do "
             "diff <(sed -e '/\"timings_ms\"/,/}/d' -e '/\"forward_ms\"/d' \"$f\") "
             "<(sed -e '/\"timings_ms\"/,/}/d' -e '/\"forward_ms\"/d' cli/${f#inside/}) || exit 1; done",
             dir, root, cfg, weights, photo, cli, cfg, weights, photo);
    char script[1200];
    snprintf(script, sizeof script, "%s/compare.sh", dir); /* bash: the JSONs go through <(...) */
    FILE *f = fopen(script, "w");
    cr_assert(f);
    fprintf(f, "%s\n", cmd);
    fclose(f);
    snprintf(cmd, sizeof cmd, "bash '%s'", script);
    cr_expect_eq(system(cmd), 0, "./darknet-hankai explain and darknet-explain differ (or failed): see %s", script);
    /* the fork's detector, patched and not, on the same files */
    snprintf(cmd, sizeof cmd, "printf 'classes=80\\nnames=%s/coco.names\\n' > '%s/coco.data'", cfg_dir, dir);
    cr_assert_eq(system(cmd), 0);
    for (int k = 0; k < 2; ++k) {
        char exe[1200];
        snprintf(exe, sizeof exe, k ? "%s/build-hankai/darknet/bin/darknet" : "%s/darknet-hankai", root);
        snprintf(cmd, sizeof cmd, "cd '%s' && mkdir run%d && cd run%d && '%s' detector test ../coco.data '%s' '%s' '%s' -dont_show "
                 "-nocolour 2>/dev/null | grep '%%' > ../detections%d.txt", dir, k, k, exe, cfg, weights, photo, k);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
    snprintf(cmd, sizeof cmd, "cd '%s' && test -s detections0.txt && cmp -s detections0.txt detections1.txt && "
             "cmp -s run0/predictions.jpg run1/predictions.jpg", dir);
    cr_expect_eq(system(cmd), 0, "the patched fork's detector test prints or draws other detections than the fork's");
}
