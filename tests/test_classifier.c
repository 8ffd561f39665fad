/* The real Tiny Darknet classifier through the API: the plugin predicts exactly what Debian's
 * `darknet classifier predict` prints (with oneDNN off; on, within float rounding), and Grad-CAM
 * looks at the dog. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "model.h"

static dx_model *open_tiny(char *names, size_t len)
{
    dx_model *m = open_shared_model("imagenet/tiny", "imagenet/imagenet.shortnames.list");
    snprintf(names, len, "%s/models/imagenet/imagenet.shortnames.list", shared_dir());
    return m;
}

/* Debian's sample photos and the shared ones */
static const char *const photos[] = {
    "/usr/share/darknet/data/dog.jpg", "/usr/share/darknet/data/eagle.jpg",
    "/usr/share/darknet/data/giraffe.jpg", "/usr/share/darknet/data/horses.jpg",
    "/usr/share/darknet/data/person.jpg", "/usr/share/darknet/data/scream.jpg",
    "/usr/share/darknet/data/kite.jpg", "images/coffee.png", "images/chelsea.png",
    "images/squirrel_cls.jpg",
};

static void photo_path(const char *p, char *out, size_t len)
{
    if (p[0] == '/') snprintf(out, len, "%s", p);
    else snprintf(out, len, "%s/%s", shared_dir(), p);
}

Test(classifier, top5_equals_darknet_classifier_predict, .timeout = 240)
{
    char names[1200];
    dx_model *m = open_tiny(names, sizeof names);
    if (access("/usr/bin/darknet", X_OK) != 0) cr_skip_test("Debian's darknet binary is not installed");
    char data[256];
    snprintf(data, sizeof data, "%s/in1k.data", temp_dir());
    FILE *f = fopen(data, "w");
    fprintf(f, "classes=1000\nnames=%s\n", names);
    fclose(f);
    int compared = 0;
    for (size_t p = 0; p < sizeof photos / sizeof *photos; ++p) {
        char path[1200];
        photo_path(photos[p], path, sizeof path);
        if (access(path, R_OK) != 0) continue;
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "darknet classifier predict %s %s %s %s -t 5 2>/dev/null", data,
                 m->cfg_path, m->weights_path, path);
        FILE *darknet = popen(cmd, "r");
        char expected[5][256] = {{0}};
        for (int k = 0; k < 5 && fgets(expected[k], sizeof expected[k], darknet); ++k)
            expected[k][strcspn(expected[k], "\n")] = 0;
        cr_assert_eq(pclose(darknet), 0, "darknet failed on %s", path);

        dx_request req;
        dx_request_init(&req);
        req.method = DX_METHOD_SALIENCY;
        for (int onednn = 0; onednn < 2; ++onednn) {
            dx_set_onednn(m, onednn);
            dx_result r;
            dx_error err;
            cr_assert_eq(dx_explain_file(m, path, &req, &r, &err), 0, "%s", err.msg);
            for (int k = 0; k < 5; ++k) {
                char ours[256];
                snprintf(ours, sizeof ours, "%5.2f%%: %s", 100 * r.top[k].prob, dx_class_name(m, r.top[k].cls));
                if (!onednn) { /* Darknet's own forward: the same text */
                    cr_expect_str_eq(ours, expected[k], "%s, rank %d: plugin '%s', darknet '%s'", path, k + 1,
                                     ours, expected[k]);
                    continue;
                }
                /* oneDNN's: the same classes in the same order, the percentage within float
                 * rounding of Darknet's (which prints it rounded to 0.01) */
                double theirs = strtod(expected[k], NULL);
                cr_expect_str_eq(strchr(ours, ':'), strchr(expected[k], ':'), "%s, rank %d with oneDNN: '%s', darknet '%s'",
                                 path, k + 1, ours, expected[k]);
                cr_expect_leq(fabs(100 * r.top[k].prob - theirs), 0.005 + 1e-4,
                              "%s, rank %d with oneDNN: %.6f%%, darknet '%s'", path, k + 1, 100 * r.top[k].prob,
                              expected[k]);
            }
            dx_result_free(&r);
        }
        cr_log_info("%s: %s (both, with Darknet's forward and oneDNN's)", path, expected[0]);
        compared++;
    }
    cr_expect(compared >= 7, "only %d photos compared", compared);
    dx_close(m);
}

/* dog.jpg: Yolo-Fastest-XL (../shared/models/coco) finds the dog at x 113..417, y 162..541
 * (93.6%, pixels of the 768x576 photo); the bicycle and the truck are elsewhere. Grad-CAM for
 * Tiny Darknet's top class (malamute) must put its maximum inside that box, and at least half
 * of its (non-negative) mass, while the box is 26% of the photo. */
Test(classifier, gradcam_of_dog_is_on_the_dog, .timeout = 120)
{
    char names[1200];
    dx_model *m = open_tiny(names, sizeof names);
    dx_request req;
    dx_request_init(&req);
    dx_result r;
    dx_error err;
    cr_assert_eq(dx_explain_file(m, "/usr/share/darknet/data/dog.jpg", &req, &r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(dx_class_name(m, r.class_id), "malamute");
    cr_assert_eq(r.w, 768);
    cr_assert_eq(r.h, 576);
    int best = 0;
    double inside = 0, total = 0;
    for (int k = 0; k < r.w * r.h; ++k) {
        if (r.map[k] > r.map[best]) best = k;
        int x = k % r.w, y = k / r.w;
        total += r.map[k];
        if (x >= 113 && x <= 417 && y >= 162 && y <= 541) inside += r.map[k];
    }
    int bx = best % r.w, by = best / r.w;
    cr_log_info("Grad-CAM maximum at (%d, %d); %.0f%% of the map inside the dog's box", bx, by,
                100 * inside / total);
    cr_expect(bx >= 113 && bx <= 417 && by >= 162 && by <= 541, "maximum at (%d, %d), outside the dog", bx, by);
    cr_expect(inside >= 0.5 * total, "only %.0f%% of the map on the dog", 100 * inside / total);
    dx_result_free(&r);
    dx_close(m);
}

/* Grad-CAM is class-sensitive: on dog.jpg the map for 'mountain bike' (class 254) must differ
 * clearly from the map for the top class (malamute). */
Test(classifier, gradcam_depends_on_the_class, .timeout = 120)
{
    char names[1200];
    dx_model *m = open_tiny(names, sizeof names);
    dx_request req;
    dx_request_init(&req);
    dx_result top, other;
    dx_error err;
    cr_assert_eq(dx_explain_file(m, "/usr/share/darknet/data/dog.jpg", &req, &top, &err), 0, "%s", err.msg);
    req.class_id = 254;
    cr_assert_eq(dx_explain_file(m, "/usr/share/darknet/data/dog.jpg", &req, &other, &err), 0, "%s", err.msg);
    cr_assert_str_eq(dx_class_name(m, 254), "mountain bike");
    double diff = 0, norm = 0;
    for (int k = 0; k < top.w * top.h; ++k) {
        diff += fabs(top.map[k] - other.map[k]);
        norm += fabs(top.map[k]);
    }
    cr_expect(diff > 0.2 * norm, "the maps for two classes differ by only %.3g of the first's mass", diff / norm);
    dx_result_free(&top);
    dx_result_free(&other);
    dx_close(m);
}

/* -names takes a .data file too: ../shared's imagenet1k.data says labels=... and
 * names=data/imagenet.shortnames.list (Darknet's original relative path); names= wins, as in
 * Darknet, and resolves under Debian's /usr/share/darknet. */
Test(classifier, names_from_a_data_file)
{
    dx_model *m = open_shared_model("imagenet/tiny", "imagenet/imagenet1k.data");
    cr_expect_str_eq(dx_class_name(m, 14), "malamute");
    cr_expect_str_eq(dx_class_name(m, 254), "mountain bike");
    cr_expect_str_eq(dx_class_name(m, 30000), "class 30000"); /* the list has 21842 names */
    dx_close(m);
    char cfg[1200], weights[1200];
    snprintf(cfg, sizeof cfg, "%s/models/imagenet/tiny.cfg", shared_dir());
    snprintf(weights, sizeof weights, "%s/models/imagenet/tiny.weights", shared_dir());
    dx_open_options opt = {.names = "/nonexistent/names.list"};
    dx_error err;
    cr_expect_null(dx_open(cfg, weights, &opt, &err));
    cr_expect(strstr(err.msg, "/nonexistent/names.list: cannot open names"), "%s", err.msg);
}
