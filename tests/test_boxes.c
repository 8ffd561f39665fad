/* -boxes all a box at a time (explain.c's dx_explain_boxes_each and dx_explain_boxes_write,
 * outputs.c's box writer): the files are those written from every box's result held at once, and
 * the memory a run needs does not grow with its boxes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <criterion/criterion.h>
#include "error.h"
#include "helpers.h"
#include "io/image.h"
#include "io/render.h"
#include "../tools/shapes.h"

TestSuite(boxes, .init = make_scratch, .fini = remove_scratch);

/* The shapes detector's world drawn at size x size pixels (its maps are that size too), as a PNG
 * at path. */
static void write_shapes_photo(const char *path, int size)
{
    dx_image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(1, 0, size, SHAPES_MAX_OBJECTS, &photo, objs);
    dx_error err;
    cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
    dx_free_image(photo);
}

static void shapes_detector(char *cfg, char *weights, size_t len)
{
    snprintf(cfg, len, "%s/cfg/shapes-detector.cfg", getenv("DX_ROOT"));
    snprintf(weights, len, "%s/cfg/shapes-detector.weights", getenv("DX_ROOT"));
}

/* How many lines of out contain what */
static int lines_with(const char *out, const char *what)
{
    int n = 0;
    for (const char *at = out; (at = strstr(at, what)); at += strlen(what)) ++n;
    return n;
}

/* Peak RSS of the command line on a 512x512 photo of the shapes detector at -thresh 1e-4 -nms 0,
 * its one box against its 66: each box's result used to hold a copy of the photo and its map (16
 * bytes a pixel: 4 MiB) until every box was written, so 65 more boxes took 260 MiB more (`all`
 * with two methods about twice that); now the growth stays under two boxes' worth (8 MiB). */
Test(boxes, peak_memory_does_not_grow_with_the_boxes, .timeout = 600)
{
    /* AddressSanitizer's quarantine keeps freed memory resident (256 MiB by default), whatever
     * the program frees: without it, its runs measure what the program keeps */
    const char *asan = getenv("ASAN_OPTIONS");
    char options[1024];
    snprintf(options, sizeof options, "%s%squarantine_size_mb=0", asan ? asan : "", asan ? ":" : "");
    setenv("ASAN_OPTIONS", options, 1);
    char dir[1024], photo[1100], cfg[1200], weights[1200];
    scratch_path(dir, sizeof dir, ".");
    scratch_path(photo, sizeof photo, "photo.png");
    write_shapes_photo(photo, 512);
    shapes_detector(cfg, weights, sizeof cfg);
    const long per_box_kb = 512L * 512 * 16 / 1024;
    struct {
        const char *method, *methods;
    } runs[] = {{"gradcam", NULL}, {"all", "gradcam,saliency"}};
    for (int i = 0; i < 2; ++i) {
        cli_result r[2];
        for (int all = 0; all < 2; ++all) {
            const char *args[20] = {runs[i].method, cfg, weights, "photo.png", all ? "-boxes" : "-box", all ? "all" : "0",
                                    "-thresh", "0.0001", "-nms", "0", "-png_width", "64", "-out", all ? "many" : "one"};
            int argc = 14;
            if (runs[i].methods) args[argc++] = "-methods", args[argc++] = runs[i].methods;
            r[all] = spawn_cli(dir, args, 0, 500);
            cr_assert_eq(r[all].status, 0, "%s: %s", runs[i].method, r[all].err);
        }
        /* the run with every box explained them all */
        int boxes = lines_with(r[1].out, i == 0 ? "; wrote many_box" : "; wrote many_panel_box");
        cr_assert_eq(boxes, 66, "%s -boxes all: %d boxes: %s", runs[i].method, boxes, r[1].out);
        long growth = r[1].max_rss_kb - r[0].max_rss_kb;
        cr_log_info("%s: peak RSS %ld kB with one box, %ld kB with %d", runs[i].method, r[0].max_rss_kb,
                    r[1].max_rss_kb, boxes);
        cr_expect_lt(growth, 2 * per_box_kb, "%s: %d boxes take %ld kB more than one (a box's photo and map: %ld kB)",
                     runs[i].method, boxes, growth, per_box_kb);
    }
}

/* path's bytes (malloc'd), *len their count */
static char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *bytes = malloc(*len + 1);
    cr_assert(bytes && fread(bytes, 1, *len, f) == *len);
    bytes[*len] = 0;
    fclose(f);
    return bytes;
}

/* A JSON's text without its timings' lines ("backward", "method" and "forward_ms" with a number):
 * what two runs of the same explanation share. In place. */
static void drop_timings(char *text)
{
    static const char *const keys[] = {"\"backward\": ", "\"method\": ", "\"forward_ms\": "};
    char *out = text;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        end = end ? end + 1 : line + strlen(line);
        const char *start = line + strspn(line, " ");
        int timing = 0;
        for (int k = 0; k < 3; ++k)
            if (!strncmp(start, keys[k], strlen(keys[k]))) timing = start[strlen(keys[k])] != '"';
        if (!timing) memmove(out, line, (size_t)(end - line)), out += end - line;
        line = end;
    }
    *out = 0;
}

/* The files a and b hold the same bytes (JSON: but the timings) */
static void expect_same_output(const char *a, const char *b)
{
    size_t la, lb;
    char *x = read_bytes(a, &la), *y = read_bytes(b, &lb);
    if (strstr(a, ".json")) {
        drop_timings(x);
        drop_timings(y);
        la = strlen(x), lb = strlen(y);
        cr_assert_gt(la, 200, "%s: %s", a, x);
    }
    cr_expect(la == lb && !memcmp(x, y, la), "%s (%zu bytes) differs from %s (%zu bytes)", b, lb, a, la);
    free(x);
    free(y);
}

typedef struct {
    const dx_box_explanations *all; /* every box's result, held at once */
    int seen;
} collected_ctx;

/* on_box: box k's result is the collected one's, bit for bit; it takes the map, as on_box may */
static int same_as_collected(void *ctx, const dx_box_explanations *e, int k, dx_result *r, dx_error *err)
{
    collected_ctx *c = ctx;
    const dx_result *want = &c->all->results[k];
    cr_expect(e->n == c->all->n && k == c->seen, "box %d of %d: %d of %d expected", k, e->n, c->seen, c->all->n);
    cr_assert(r->h == want->h && r->w == want->w && r->native_h == want->native_h && r->native_w == want->native_w,
              "box %d: maps %dx%d, %dx%d", k, r->w, r->h, r->native_w, r->native_h);
    cr_expect(!memcmp(&r->box, &want->box, sizeof r->box) && r->logit == want->logit && r->layer == want->layer,
              "box %d: another box or target", k);
    cr_expect(!memcmp(r->map, want->map, sizeof(float) * r->h * r->w) && r->map_min == want->map_min &&
                  r->map_max == want->map_max,
              "box %d: another map", k);
    cr_expect(!memcmp(r->native, want->native, sizeof(float) * r->native_h * r->native_w), "box %d: another native map",
              k);
    cr_expect(r->n_stats == want->n_stats && !strcmp(r->image_path, want->image_path));
    free(r->map);
    r->map = NULL;
    c->seen++;
    return 0;
}

/* On the shapes detector's many boxes, with a method run a box at a time (Grad-CAM) and one
 * that scores every box on each masked input (RISE): dx_explain_boxes_write's boxes are
 * dx_explain_boxes' results bit for bit, and its files dx_write_box_outputs' of them byte for
 * byte (the JSON but its timings). dx_explain_boxes' results hold one copy of the photo. */
Test(boxes, streamed_files_equal_the_collected_results, .timeout = 300)
{
    char photo[1100], cfg[1200], weights[1200];
    scratch_path(photo, sizeof photo, "photo.png");
    write_shapes_photo(photo, 160);
    shapes_detector(cfg, weights, sizeof cfg);
    dx_error err = {{0}};
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert_not_null(m, "%s", err.msg);
    static const dx_method methods[] = {DX_METHOD_GRADCAM, DX_METHOD_RISE};
    for (int i = 0; i < 2; ++i) {
        dx_request req;
        dx_request_init(&req);
        req.method = methods[i];
        req.box = DX_ALL_BOXES;
        req.thresh = .001f;
        req.nms = 0;
        req.masks = 40;
        dx_box_explanations all, streamed;
        cr_assert_eq(dx_explain_boxes_file(m, photo, &req, &all, &err), 0, "%s", err.msg);
        cr_assert_geq(all.n, 20, "%d boxes", all.n);
        for (int k = 0; k < all.n; ++k)
            cr_expect(all.results[k].photo.data && all.results[k].photo.data == all.results[0].photo.data,
                      "box %d has its own photo", k);
        char a[1100], b[1100], name[64]; /* the same names (the JSON has them) in two folders */
        snprintf(name, sizeof name, "collected-%d", i);
        scratch_path(a, sizeof a, name);
        cr_assert_eq(mkdir(a, 0777), 0);
        strcat(a, "/o");
        cr_assert_eq(dx_write_box_outputs(m, &all, a, NULL, &err), 0, "%s", err.msg);
        collected_ctx c = {&all, 0};
        snprintf(name, sizeof name, "streamed-%d", i);
        scratch_path(b, sizeof b, name);
        cr_assert_eq(mkdir(b, 0777), 0);
        strcat(b, "/o");
        cr_assert_eq(dx_explain_boxes_write(m, photo, &req, b, NULL, same_as_collected, &c, &streamed, &err), 0, "%s",
                     err.msg);
        cr_assert(streamed.n == all.n && c.seen == all.n && !streamed.results, "%d boxes streamed, %d seen, of %d",
                  streamed.n, c.seen, all.n);
        cr_expect(streamed.best_score == all.best_score && streamed.best_class == all.best_class);
        for (int k = 0; k <= 2 * all.n + 1; ++k) {
            char fa[1200], fb[1200], suffix[64];
            if (k < 2 * all.n) snprintf(suffix, sizeof suffix, "_box%d.%s", k / 2, k % 2 ? "npy" : "png");
            else snprintf(suffix, sizeof suffix, k == 2 * all.n ? "_boxes.png" : ".json");
            snprintf(fa, sizeof fa, "%s%s", a, suffix);
            snprintf(fb, sizeof fb, "%s%s", b, suffix);
            expect_same_output(fa, fb);
        }
        dx_box_explanations_free(&all);
    }
    dx_close(m);
}

/* on_box: stops the run at box 2 */
static int stop_at_box_2(void *ctx, const dx_box_explanations *e, int k, dx_result *r, dx_error *err)
{
    ++*(int *)ctx;
    if (k < 2) return 0;
    snprintf(err->msg, sizeof err->msg, "stopped at box %d of %d", k, e->n);
    return -1;
}

/* A run that fails after some boxes' files were written leaves none of them (all or nothing),
 * with on_box's message; its header is zeroed. */
Test(boxes, a_run_stopped_midway_leaves_nothing, .timeout = 120)
{
    char dir[1024], photo[1100], prefix[1100], cfg[1200], weights[1200];
    scratch_path(dir, sizeof dir, ".");
    scratch_path(photo, sizeof photo, "photo.png");
    scratch_path(prefix, sizeof prefix, "o");
    write_shapes_photo(photo, 160);
    shapes_detector(cfg, weights, sizeof cfg);
    dx_error err = {{0}};
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert_not_null(m, "%s", err.msg);
    dx_request req;
    dx_request_init(&req);
    req.box = DX_ALL_BOXES;
    req.thresh = .001f;
    dx_box_explanations e;
    int calls = 0;
    cr_assert_eq(dx_explain_boxes_write(m, photo, &req, prefix, NULL, stop_at_box_2, &calls, &e, &err), -1);
    cr_expect_eq(calls, 3);
    cr_expect(!strncmp(err.msg, "stopped at box 2 of ", 20), "%s", err.msg);
    cr_expect(e.n == 0 && !e.results && e.photo_w == 0, "the header is left: %d boxes", e.n);
    const char *keep[] = {"photo.png", NULL};
    cr_expect_eq(stray_files_in(dir, keep), 0, "files left behind");
    dx_close(m);
}

static int no_box_expected(void *ctx, const dx_box_explanations *e, int k, dx_result *r, dx_error *err)
{
    (void)ctx, (void)e, (void)k, (void)r;
    dx_set_error(err, "on_box called");
    return -1;
}

/* explain.h: "On failure *out is zeroed", also when the run stops before the first box (here: a
 * classifier, which has no boxes; a detector asked for an unknown method). */
Test(boxes, a_failed_run_leaves_the_explanations_zeroed)
{
    char cfg[1024], weights[1024];
    const char *root = getenv("DX_ROOT");
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", root);
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", root);
    for (int detector = 0; detector < 2; ++detector) {
        if (detector) shapes_detector(cfg, weights, sizeof cfg);
        dx_error err;
        dx_model *m = dx_open(cfg, weights, NULL, &err);
        cr_assert(m, "%s", err.msg);
        dx_image photo = dx_make_image(64, 64, 3);
        dx_request req;
        dx_request_init(&req);
        if (detector) req.method = (dx_method)999; /* an unknown method: refused before the first box */
        dx_box_explanations e;
        memset(&e, 0xab, sizeof e);
        cr_assert_neq(dx_explain_boxes_each(m, photo, &req, no_box_expected, NULL, &e, &err), 0);
        size_t at = 0;
        while (at < sizeof e && !((unsigned char *)&e)[at]) ++at;
        cr_expect_eq(at, sizeof e, "%s: the failed run left byte %zu of %zu in *out (%s)",
                     detector ? "detector" : "classifier", at, sizeof e, err.msg);
        dx_free_image(photo);
        dx_close(m);
    }
}
