/* The out-of-memory policy (issue #16): every allocation of the library goes through dx_alloc
 * (memory.c), and a failed one fails the request cleanly. Each test counts the allocations of a
 * whole explanation run in this process, then runs the command line again with the N-th
 * allocation failing (DX_FAIL_ALLOC=N), for every N (or a spread of them when there are many):
 * exit 1, never a signal; one line on stderr saying "out of memory"; no file left behind. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "explain.h"
#include "helpers.h"
#include "io/image.h"
#include "io/render.h"
#include "memory.h"
#include "../tools/concept_sets.h"
#include "../tools/shapes.h"

TestSuite(oom, .init = make_scratch, .fini = remove_scratch, .timeout = 900);

/* Runs above this many allocations are probed at every N up to DENSE and at an even spread of the
 * rest, SAMPLES runs in all: each run loads a model, so every N would take minutes. */
#define DENSE 150
#define SAMPLES 300

/* photo.png in the scratch directory: a 96x96 picture of shapes (the shipped models' domain) */
static void write_photo(char *path, size_t len)
{
    scratch_path(path, len, "photo.png");
    dx_image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(2, 0, 96, 3, &photo, objs);
    dx_error err;
    cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
    dx_free_image(photo);
}

/* The allocations dx_cli_run makes for args (NULL-terminated, the method first), its outputs
 * written under prefix `out` and then removed. */
static long count_allocations(const char *const *args)
{
    char *argv[32];
    int argc = 0;
    for (; args[argc]; ++argc) argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    dx_alloc_fail_at(0);
    int rc = dx_cli_run("darknet-explain", argc, argv);
    long calls = dx_alloc_calls();
    cr_assert_eq(rc, 0, "%s: the run without a failure exits %d", args[0], rc);
    return calls;
}

/* The inputs the tests write in the scratch directory: the only files a failed run may leave */
static const char *const INPUTS[] = {"photo.png", "list.txt", NULL};

/* The N-th allocation of the command line with args fails: it must end as the house rules say.
 * resumable (eval): a run that has started keeps its folder for -resume (docs/eval.md), which must
 * then finish it; the folder is removed for the next N. */
static void expect_clean_failure(const char *dir, const char *const *args, long n, const char *what, int resumable)
{
    char env[32];
    snprintf(env, sizeof env, "%ld", n);
    setenv("DX_FAIL_ALLOC", env, 1);
    cli_result r = spawn_cli(dir, args, 0, 120);
    unsetenv("DX_FAIL_ALLOC");
    cr_expect(r.status == 1, "%s, allocation %ld failing: exit %d (-1: timed out, > 128: a signal); stderr: %s", what,
              n, r.status, r.err);
    /* eval's progress line ("eval: 1/1 images, ...", docs/eval.md) is no error line */
    int errors = 0, oom = 0;
    for (const char *line = r.err; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char text[1024];
        snprintf(text, sizeof text, "%.*s", (int)len, line);
        if (!(resumable && !strncmp(text, "eval: ", 6) && strstr(text, " images"))) ++errors;
        oom += strstr(text, "out of memory") != NULL;
        line += len + (end != NULL);
    }
    cr_expect(errors == 1 && oom == 1,
              "%s, allocation %ld failing: %d lines on stderr, expected one saying out of memory: %s", what, n,
              r.err_lines, r.err);
    if (!resumable) {
        cr_expect_eq(stray_files_in(dir, INPUTS), 0, "%s, allocation %ld failing: files left behind", what, n);
        return;
    }
    const char *again[40];
    int k = 0;
    for (; args[k]; ++k) again[k] = args[k];
    again[k++] = "-resume";
    again[k] = NULL;
    char out[1100];
    snprintf(out, sizeof out, "%s/out", dir);
    if (exists(out)) {
        cli_result resumed = spawn_cli(dir, again, 0, 120);
        cr_expect_eq(resumed.status, 0, "%s, allocation %ld failing, then -resume: exit %d: %s", what, n,
                     resumed.status, resumed.err);
    }
    snprintf(out, sizeof out, "rm -rf %s/out", dir);
    cr_assert_eq(system(out), 0);
}

/* Every N in 1..count (or DENSE of them, then an even spread up to count) fails cleanly, and
 * count + 1 (no failure) succeeds: the count of this process is the command line's. */
static void expect_every_failure_clean(const char *const *args, const char *what, int resumable)
{
    char dir[1024], out[1100];
    scratch_path(dir, sizeof dir, ".");
    long count = count_allocations(args);
    cr_log_info("%s: %ld allocations", what, count);
    cr_assert_gt(count, 10, "%s: only %ld allocations counted", what, count);
    /* the counting run's outputs go: the failing runs must leave none */
    snprintf(out, sizeof out, "rm -rf %s/out*", dir);
    cr_assert_eq(system(out), 0);
    long step = count <= SAMPLES ? 1 : (count - DENSE) / (SAMPLES - DENSE) + 1;
    for (long n = 1; n <= count; n += n < DENSE ? 1 : step) expect_clean_failure(dir, args, n, what, resumable);
    expect_clean_failure(dir, args, count, what, resumable); /* the last one, whatever the spread */
    char env[32];
    snprintf(env, sizeof env, "%ld", count + 1);
    setenv("DX_FAIL_ALLOC", env, 1);
    cli_result r = spawn_cli(dir, args, 0, 120);
    unsetenv("DX_FAIL_ALLOC");
    cr_expect_eq(r.status, 0, "%s, allocation %ld (one past the count) failing: exit %d: %s", what, count + 1,
                 r.status, r.err);
}

/* cfg/shapes-classifier with a method and its options (NULL-terminated), output prefix out */
static void classifier_run(const char *method, const char *const *options)
{
    static char cfg[1024], weights[1024], photo[1024], out[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", getenv("DX_ROOT"));
    write_photo(photo, sizeof photo);
    scratch_path(out, sizeof out, "out");
    const char *args[32] = {method, cfg, weights, photo, "-out", out};
    int n = 6;
    for (int k = 0; options && options[k]; ++k) args[n++] = options[k];
    args[n] = NULL;
    expect_every_failure_clean(args, method, 0);
}

Test(oom, gradcam_on_the_classifier) { classifier_run("gradcam", NULL); }

Test(oom, lrp_on_the_classifier) { classifier_run("lrp", NULL); }

Test(oom, rise_on_the_classifier)
{
    const char *options[] = {"-masks", "8", "-batch", "4", NULL};
    classifier_run("rise", options);
}

Test(oom, gradcam_every_box_on_the_detector)
{
    static char cfg[1024], weights[1024], photo[1024], out[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-detector.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-detector.weights", getenv("DX_ROOT"));
    write_photo(photo, sizeof photo);
    scratch_path(out, sizeof out, "out");
    const char *args[] = {"gradcam", cfg, weights, photo, "-boxes", "all", "-out", out, NULL};
    expect_every_failure_clean(args, "gradcam -boxes all", 0);
}

/* eval with a metric of each kind that allocates (a curve, AOPC's regions, the Gini index) */
Test(oom, eval_on_the_classifier)
{
    static char cfg[1024], weights[1024], photo[1024], list[1024], out[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", getenv("DX_ROOT"));
    write_photo(photo, sizeof photo);
    scratch_path(list, sizeof list, "list.txt");
    FILE *f = fopen(list, "w");
    cr_assert(f);
    fprintf(f, "%s\n", photo);
    fclose(f);
    scratch_path(out, sizeof out, "out");
    const char *args[] = {"eval", cfg, weights, "-list", list, "-methods", "gradcam", "-metrics",
                          "deletion,aopc,sparseness", "-auc_steps", "8", "-aopc_steps", "4", "-out", out, NULL};
    expect_every_failure_clean(args, "eval", 1);
}

/* A failed allocation fails that one request; the model stays usable: after the N-th allocation of
 * an explanation fails (every N), the same model explains the same photo again to exactly the map
 * it gave before. */
static void model_survives_each_failure(dx_method method, int detector)
{
    char cfg[1024], weights[1024];
    const char *name = detector ? "shapes-detector" : "shapes-classifier";
    snprintf(cfg, sizeof cfg, "%s/cfg/%s.cfg", getenv("DX_ROOT"), name);
    snprintf(weights, sizeof weights, "%s/cfg/%s.weights", getenv("DX_ROOT"), name);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    dx_image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(2, 0, 96, 3, &photo, objs);
    dx_request req;
    dx_request_init_for(&req, method);
    dx_result ref, r;
    dx_alloc_fail_at(0);
    cr_assert_eq(dx_explain_image(m, photo, &req, &ref, &err), 0, "%s", err.msg);
    long calls = dx_alloc_calls();
    cr_assert_gt(calls, 3);
    for (long n = 1; n <= calls; ++n) {
        dx_alloc_fail_at(n);
        if (dx_explain_image(m, photo, &req, &r, &err) == 0) dx_result_free(&r);
        else cr_assert(strstr(err.msg, "out of memory"), "allocation %ld: %s", n, err.msg);
        dx_alloc_fail_at(0);
        cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "after allocation %ld failed: %s", n, err.msg);
        cr_assert(r.w == ref.w && r.h == ref.h && !memcmp(r.map, ref.map, sizeof(float) * r.w * r.h),
                  "after allocation %ld failed, the map differs", n);
        dx_result_free(&r);
    }
    dx_result_free(&ref);
    dx_free_image(photo);
    dx_close(m);
}

Test(oom, the_model_survives_each_failed_allocation)
{
    model_survives_each_failure(DX_METHOD_SALIENCY, 0);
    model_survives_each_failure(DX_METHOD_DEEPLIFT, 0);
    model_survives_each_failure(DX_METHOD_GRADCAM, 1);
}

/* distill on the classifier: the two photos' features, the tree, its four outputs */
Test(oom, distill_on_the_classifier)
{
    static char cfg[1024], weights[1024], photo[1024], list[1024], out[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", getenv("DX_ROOT"));
    write_photo(photo, sizeof photo);
    scratch_path(list, sizeof list, "list.txt");
    FILE *f = fopen(list, "w");
    cr_assert(f);
    fprintf(f, "%s\n%s\n", photo, photo);
    fclose(f);
    scratch_path(out, sizeof out, "out");
    const char *args[] = {"distill", cfg, weights, "-list", list, "-min_leaf", "1", "-holdout", "0", "-outdir", out,
                          NULL};
    expect_every_failure_clean(args, "distill", 0);
}

/* visualize: two class units (the ascent's per-step buffers, the grid, the JSON) */
Test(oom, visualize_on_the_classifier)
{
    static char cfg[1024], weights[1024], out[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", getenv("DX_ROOT"));
    scratch_path(out, sizeof out, "out");
    const char *args[] = {"visualize", cfg, weights, "-class", "0,1", "-steps", "2", "-out", out, NULL};
    expect_every_failure_clean(args, "visualize", 0);
}

/* The folder commands read their inputs from a folder of their own, outside the scratch
 * directory, which the failing runs must leave empty (no output folder). */
static char inputs[64];

static const char *make_inputs(void)
{
    strcpy(inputs, "/tmp/dx-oom-XXXXXX");
    cr_assert(mkdtemp(inputs));
    return inputs;
}

static void remove_inputs(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", inputs);
    if (inputs[0]) cr_expect_eq(system(cmd), 0);
}

/* tcav: two runs of one concept against the random sets at one layer, every class scored */
Test(oom, tcav_on_the_classifier, .fini = remove_inputs)
{
    const char *in = make_inputs();
    dx_error err;
    cr_assert_eq(concept_sets_write(in, 3, 6, 24, 8, 64, &err), 0, "%s", err.msg);
    static char cfg[1024], weights[1024], names[1024], concept[1100], random[1100], images[1100], out[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", getenv("DX_ROOT"));
    snprintf(names, sizeof names, "%s/cfg/shapes.names", getenv("DX_ROOT"));
    snprintf(concept, sizeof concept, "round=%s/shape-circle", in);
    snprintf(random, sizeof random, "%s/random", in);
    snprintf(images, sizeof images, "%s/images", in);
    scratch_path(out, sizeof out, "out");
    const char *args[] = {"tcav", cfg, weights, "-names", names, "-layer", "9", "-concept", concept, "-random",
                          random, "-images", images, "-runs", "2", "-outdir", out, NULL};
    expect_every_failure_clean(args, "tcav", 0);
}

/* dissect: four generated photos and their concept masks, the class-score layer */
Test(oom, dissect_on_the_classifier, .fini = remove_inputs)
{
    const char *in = make_inputs(), *cli = getenv("DX_CLI");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%.*s/gen-shapes %s val 2 4 64 1 -truth %s/truth >/dev/null",
             (int)(strrchr(cli, '/') - cli), cli, in, in);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    static char cfg[1024], weights[1024], list[1100], masks[1100], out[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", getenv("DX_ROOT"));
    snprintf(list, sizeof list, "%s/val.list", in);
    snprintf(masks, sizeof masks, "%s/truth", in);
    scratch_path(out, sizeof out, "out");
    const char *args[] = {"dissect", cfg, weights, "-list", list, "-masks", masks, "-layer", "17", "-top", "2",
                          "-outdir", out, NULL};
    expect_every_failure_clean(args, "dissect", 0);
}

/* counterfactual: a few steps towards another class */
Test(oom, counterfactual_on_the_classifier)
{
    static char cfg[1024], weights[1024], photo[1024], out[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", getenv("DX_ROOT"));
    write_photo(photo, sizeof photo);
    scratch_path(out, sizeof out, "out");
    const char *args[] = {"counterfactual", cfg, weights, photo, "-to", "1", "-steps", "8", "-out", out, NULL};
    expect_every_failure_clean(args, "counterfactual", 0);
}
