/* The global surrogate (plugin/distill): CART on data sets whose best split and rule are known,
 * the `distill` command on the shapes classifier against the generator's true concepts, its
 * reproducibility, its refusals of bad input, and Tiny Darknet. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "distill/distill.h"
#include "helpers.h"
#include "../tools/shape_features.h"

TestSuite(distill, .init = make_scratch, .fini = remove_scratch);

/* x = 1..8 with classes 0 0 1 0 1 1 1 1. The splits' weighted Gini impurities (by hand):
 * at 2.5: 6/8 * 10/36 = 0.2083; at 3.5: 3/8 * 4/9 + 5/8 * 8/25 = 0.3667; at 4.5: 4/8 * 6/16 + 0 =
 * 0.1875 (the best); 5.5..7.5 leave 0 0 1 0 1 (1) .. on the left: 0.25 and more. Feature 1 is a
 * copy of feature 0: equal splits go to the lower feature. */
Test(distill, cart_finds_the_known_best_split)
{
    const float x[8][2] = {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6}, {7, 7}, {8, 8}};
    const int y[8] = {0, 0, 1, 0, 1, 1, 1, 1};
    dx_tree t;
    dx_error err;
    dx_tree_params p = {1, 1};
    cr_assert_eq(dx_tree_fit(&x[0][0], y, 8, 2, 2, &p, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_nodes, 3);
    cr_expect_eq(t.nodes[0].feature, 0);
    cr_expect_eq(t.nodes[0].threshold, 4.5f, "threshold %.9g", t.nodes[0].threshold);
    cr_expect_float_eq(t.nodes[0].gini, 30.0 / 64, 1e-12);
    const dx_tree_node *l = &t.nodes[t.nodes[0].left], *r = &t.nodes[t.nodes[0].right];
    cr_expect_float_eq(l->gini, 6.0 / 16, 1e-12);
    cr_expect_eq(l->n, 4);
    cr_expect_eq(l->cls, 0);
    cr_expect_eq(r->gini, 0);
    cr_expect_eq(r->cls, 1);
    cr_expect_float_eq((l->n * l->gini + r->n * r->gini) / 8, 0.1875, 1e-12);
    cr_expect_eq(dx_tree_predict(&t, (const float[]){4.5f, 0}), 0);
    cr_expect_eq(dx_tree_predict(&t, (const float[]){4.6f, 0}), 1);
    dx_tree_free(&t);
    /* leaves of >= 5 of 8 samples: no split is allowed; the root is the majority's leaf */
    p = (dx_tree_params){3, 5};
    cr_assert_eq(dx_tree_fit(&x[0][0], y, 8, 2, 2, &p, &t, &err), 0, "%s", err.msg);
    cr_expect_eq(t.n_nodes, 1);
    cr_expect_eq(t.nodes[0].cls, 1);
    cr_expect_eq(t.leaves, 1);
    dx_tree_free(&t);
}

/* features on a grid of tenths; class 2 where x2 > 0.6, else 1 where x0 <= 0.3, else 0 */
static int rule(const float *f)
{
    return f[2] > 0.6f ? 2 : f[0] <= 0.3f ? 1 : 0;
}

static void rule_data(rng *r, int n, float *x, int *y)
{
    for (int i = 0; i < n; ++i) {
        for (int k = 0; k < 5; ++k) x[i * 5 + k] = (float)(int)(rng_uniform(r) * 10) / 10;
        y[i] = rule(x + i * 5);
    }
}

Test(distill, depth_two_tree_recovers_an_axis_aligned_rule)
{
    enum { N = 400 };
    static float x[N * 5], xt[N * 5];
    static int y[N], yt[N];
    rng r = {0x5eed};
    rule_data(&r, N, x, y);
    rule_data(&r, N, xt, yt);
    dx_tree t;
    dx_error err;
    dx_tree_params p = {2, 1};
    cr_assert_eq(dx_tree_fit(x, y, N, 5, 3, &p, &t, &err), 0, "%s", err.msg);
    /* the root isolates class 2 (weighted Gini 0.7 x 0.48 against x0's 0.42) */
    cr_expect_eq(t.nodes[0].feature, 2);
    cr_expect_float_eq(t.nodes[0].threshold, 0.65f, 1e-6);
    cr_expect_eq(t.nodes[t.nodes[0].left].feature, 0);
    cr_expect_float_eq(t.nodes[t.nodes[0].left].threshold, 0.35f, 1e-6);
    cr_expect_eq(t.leaves, 3);
    int agree = 0;
    for (int i = 0; i < N; ++i) agree += dx_tree_predict(&t, xt + i * 5) == yt[i];
    cr_expect_eq(agree, N, "held-out fidelity %d/%d", agree, N);
    dx_tree_free(&t);
    /* depth 1 cannot: class 0 or 1 is lost */
    p.max_depth = 1;
    cr_assert_eq(dx_tree_fit(x, y, N, 5, 3, &p, &t, &err), 0, "%s", err.msg);
    agree = 0;
    for (int i = 0; i < N; ++i) agree += dx_tree_predict(&t, xt + i * 5) == yt[i];
    cr_expect_lt(agree, N * 8 / 10);
    dx_tree_free(&t);
}

/* ---- the command on the shapes classifier ---- */

#define SHAPES_N 120

/* the scratch folder's generated set: shapes.list, concepts.csv (all the true concepts) */
static const char *shapes_set(void)
{
    static char dir[1024];
    scratch_path(dir, sizeof dir, "set");
    cr_assert_eq(mkdir(dir, 0777), 0);
    const unsigned all = (1u << SHAPE_FEATURES) - 1;
    const char *const name = "concepts";
    cr_assert_eq(shape_features_write(dir, 7, SHAPES_N, 64, &all, &name, 1), 0);
    return dir;
}

static run_result distill(const char *dir, const char *extra)
{
    char args[4096];
    const char *root = getenv("DX_ROOT");
    snprintf(args, sizeof args,
             "distill %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -names %s/cfg/shapes.names "
             "-list %s/shapes.list %s",
             root, root, root, dir, extra);
    return run_dx(dir, args);
}

/* the number after "key": in a tree.json */
static double json_number(const char *json, const char *key)
{
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char *at = strstr(json, pattern);
    cr_assert(at, "tree.json has no %s", key);
    return atof(at + strlen(pattern));
}

Test(distill, shapes_penultimate_fidelity_beats_the_baseline_and_is_reproducible, .timeout = 60)
{
    const char *dir = shapes_set();
    run_result r = distill(dir, "-seed 3 -outdir a");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char path[1200];
    snprintf(path, sizeof path, "%s/a/tree.json", dir);
    char *json = read_text(path);
    double fid = json_number(json, "fidelity_holdout"), base = json_number(json, "baseline_fidelity_holdout");
    cr_log_info("shapes, penultimate, %d images: held-out fidelity %.3f, majority baseline %.3f", SHAPES_N, fid,
                base);
    /* measured over 6 generated sets x 3 split seeds at 120 images: 0.67 .. 0.94, the baseline
     * 0.06 .. 0.39 */
    cr_expect_geq(fid, 0.6);
    cr_expect_geq(fid, base + 0.3);
    cr_expect_eq(json_number(json, "layer"), 16, "the input of the class-score layer 17");
    cr_expect_eq(json_number(json, "holdout_images"), 36);
    cr_expect(strstr(json, "\"feature_name\": \"L16.c"));
    free(json);
    for (const char *const *f = (const char *const[]){"tree.txt", "tree.png", "distill.csv", NULL}; *f; ++f) {
        snprintf(path, sizeof path, "%s/a/%s", dir, *f);
        cr_expect(exists(path), "%s missing", *f);
    }
    /* the same seed: the same tree.json, byte for byte; another seed: another split */
    r = distill(dir, "-seed 3 -outdir b");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/a/tree.json", dir);
    snprintf(b, sizeof b, "%s/b/tree.json", dir);
    expect_same_file(a, b);
    r = distill(dir, "-seed 4 -outdir c");
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(b, sizeof b, "%s/c/distill.csv", dir);
    snprintf(a, sizeof a, "%s/a/distill.csv", dir);
    char *ca = read_text(a), *cb = read_text(b);
    cr_expect(strcmp(ca, cb) != 0, "-seed 4 split the images as -seed 3 did");
    free(ca);
    free(cb);
}

/* The generator's truth: only the shape decides the class, so the concept tree's root splits on
 * a shape column, and its held-out fidelity is high. */
Test(distill, shapes_concept_tree_splits_on_a_shape_first, .timeout = 60)
{
    const char *dir = shapes_set();
    run_result r = distill(dir, "-features csv:concepts.csv -outdir a");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char path[1200];
    snprintf(path, sizeof path, "%s/a/tree.json", dir);
    char *json = read_text(path);
    const char *root = strstr(json, "\"feature_name\": \"");
    cr_assert(root, "the root is a leaf");
    root += strlen("\"feature_name\": \"");
    int shape = 0;
    for (int c = 0; c < 4; ++c) {
        size_t len = strlen(shape_feature_names[c]);
        shape |= !strncmp(root, shape_feature_names[c], len) && root[len] == '"';
    }
    cr_expect(shape, "the root splits on %.20s", root);
    double fid = json_number(json, "fidelity_holdout");
    cr_log_info("shapes, true concepts: held-out fidelity %.3f", fid);
    cr_expect_geq(fid, 0.75);
    free(json);
}

/* One line naming the file (and the line), exit 1, no output folder. */
static void expect_refused(const char *dir, const char *csv_text, const char *needle)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/bad.csv", dir);
    write_text(path, csv_text);
    run_result r = distill(dir, "-features csv:bad.csv -outdir out");
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    cr_expect(strstr(r.err, needle), "'%s' not in: %s", needle, r.err);
    snprintf(path, sizeof path, "%s/out", dir);
    cr_expect(!exists(path), "the output folder was left");
}

Test(distill, bad_csv_is_refused_naming_file_and_line, .timeout = 60)
{
    const char *dir = shapes_set();
    char path[1200], *csv;
    snprintf(path, sizeof path, "%s/concepts.csv", dir);
    csv = read_text(path);
    /* the second data row (line 3) loses its last column; then gets a word; then is dropped */
    char *row3 = strchr(strchr(csv, '\n') + 1, '\n') + 1, *end3 = strchr(row3, '\n');
    size_t head = (size_t)(row3 - csv);
    char *bad = malloc(strlen(csv) + 64);
    char *last = end3;
    while (last[-1] != ',') --last;
    memcpy(bad, csv, (size_t)(last - 1 - csv));
    strcpy(bad + (last - 1 - csv), end3);
    expect_refused(dir, bad, "bad.csv:3: 9 columns where the header has 10");
    memcpy(bad, csv, (size_t)(last - csv));
    strcpy(bad + (last - csv), "big");
    strcat(bad, end3);
    expect_refused(dir, bad, "bad.csv:3: column 10 (size) is 'big', not a finite number");
    memcpy(bad, csv, head);
    strcpy(bad + head, end3 + 1);
    char image[1100];
    snprintf(image, sizeof image, "bad.csv: no row for the image %s/00001_", dir);
    expect_refused(dir, bad, image);
    free(bad);
    free(csv);
}

/* A detector's decision: its best box's class, or none. On one-object images the concept tree
 * splits on a shape first too. Without -names the classes keep their own names ("class 0" ..,
 * each its own: they were once one reused buffer, all "class 3"). */
Test(distill, detector_concept_tree_splits_on_a_shape_first, .timeout = 60)
{
    const char *dir = shapes_set(), *root = getenv("DX_ROOT");
    char args[4096], path[1200];
    snprintf(args, sizeof args,
             "distill %s/cfg/shapes-detector.cfg %s/cfg/shapes-detector.weights -list %s/shapes.list "
             "-features csv:concepts.csv -outdir a",
             root, root, dir);
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(path, sizeof path, "%s/a/tree.json", dir);
    char *json = read_text(path);
    cr_expect(strstr(json, "\"classes\": [\n    \"class 0\",\n    \"class 1\",\n    \"class 2\",\n    \"class 3\",\n"
                           "    \"none\"\n  ]"),
              "the classes: %.300s", strstr(json, "\"classes\""));
    const char *at = strstr(json, "\"feature_name\": \"");
    cr_assert(at, "the root is a leaf");
    at += strlen("\"feature_name\": \"");
    cr_expect(!strncmp(at, "circle\"", 7) || !strncmp(at, "square\"", 7) ||
                  !strncmp(at, "triangle\"", 9) || !strncmp(at, "cross\"", 6),
              "the root splits on %.20s", at);
    double fid = json_number(json, "fidelity_holdout");
    cr_log_info("shapes detector, true concepts: held-out fidelity %.3f", fid);
    cr_expect_geq(fid, 0.75);
    free(json);
}

/* A list naming an image twice takes its one CSV row twice (it once found only the first entry
 * and refused the list: "no row for the image"). */
Test(distill, csv_row_serves_an_image_listed_twice, .timeout = 60)
{
    const char *dir = shapes_set();
    char path[1200], twice[1200];
    snprintf(path, sizeof path, "%s/shapes.list", dir);
    char *list = read_text(path);
    snprintf(twice, sizeof twice, "%s/twice.list", dir);
    FILE *f = fopen(twice, "w");
    cr_assert(f);
    fprintf(f, "%s", list);
    fprintf(f, "%.*s", (int)(strchr(list, '\n') - list + 1), list); /* the first image again */
    fclose(f);
    free(list);
    const char *root = getenv("DX_ROOT");
    char args[4096];
    snprintf(args, sizeof args,
             "distill %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -list twice.list "
             "-features csv:concepts.csv -outdir a",
             root, root);
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(path, sizeof path, "%s/a/tree.json", dir);
    char *json = read_text(path);
    cr_expect_eq(json_number(json, "images"), SHAPES_N + 1);
    free(json);
}

Test(distill, bad_features_option_is_refused)
{
    const char *dir = temp_dir(), *root = getenv("DX_ROOT");
    char args[2048];
    snprintf(args, sizeof args,
             "distill %s/cfg/shapes-classifier.cfg %s/cfg/shapes-classifier.weights -list list.txt -features pool:3",
             root, root);
    run_result r = run_dx(dir, args);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    cr_expect(strstr(r.err, "-features takes"), "%s", r.err);
}

Test(distill, tiny_darknet_runs, .timeout = 120)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: the Tiny Darknet run is skipped");
    const char *dir = temp_dir();
    char list[1200], args[4096];
    snprintf(list, sizeof list, "%s/list.txt", dir);
    FILE *f = fopen(list, "w");
    cr_assert(f);
    const char *photos[] = {"dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "person.jpg", "kite.jpg",
                            "chelsea.png", "coffee.png", "astronaut.png", "motorcycle_left.png"};
    for (int k = 0; k < 10; ++k) fprintf(f, "%s/images/%s\n", shared, photos[k]);
    fclose(f);
    snprintf(args, sizeof args,
             "distill %s/models/imagenet/tiny.cfg %s/models/imagenet/tiny.weights -names "
             "%s/models/imagenet/imagenet.shortnames.list -list list.txt -depth 8 -min_leaf 1 -holdout 0.2 -outdir out",
             shared, shared, shared);
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char path[1200];
    snprintf(path, sizeof path, "%s/out/tree.json", dir);
    char *json = read_text(path);
    cr_expect_eq(json_number(json, "images"), 10);
    cr_expect_eq(json_number(json, "holdout_images"), 2);
    cr_expect_eq(json_number(json, "fidelity_train"), 1, "8 photos, leaves of 1: the tree fits them all");
    free(json);
}
