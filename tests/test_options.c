/* Each method's options (plugin/methods/params.h, the registry's option sets): an option the
 * method does not take is a usage error naming both (the command line, `all -methods`, eval and
 * the string API), the ones it takes are accepted, `<method> -h` lists only its own with their
 * defaults, dx_request_init_for fills the method's defaults, and the JSON's "parameters" rerun
 * give the same map, bit for bit. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "cli.h"
#include "explain.h"
#include "options.h"

/* One usage error: exit 2, one line naming what it must name, nothing written. */
static void expect_refused(const char *dir, const char *args, const char *needle)
{
    run_result r = run_dx(dir, args);
    cr_expect_eq(r.status, 2, "`%s`: exit %d, expected 2; stderr: %s", args, r.status, r.err);
    cr_expect_eq(r.err_lines, 1, "`%s`: %d lines on stderr: %s", args, r.err_lines, r.err);
    cr_expect(strstr(r.err, needle), "`%s`: stderr '%s' does not say '%s'", args, r.err, needle);
    cr_expect_eq(stray_files(dir), 0, "`%s` left files behind", args);
}

/* A list of dir's photo.png, outside dir (whose other files the tests count as left behind). */
static const char *photo_list(const char *dir)
{
    static char path[600];
    char text[600];
    snprintf(text, sizeof text, "%s/photo.png\n", dir);
    snprintf(path, sizeof path, "%s/list.txt", temp_dir());
    write_text(path, text);
    return path;
}

/* classifier_fixture()'s folder, kept (temp_dir's buffer is the next call's) */
static const char *fixture(char *dir, size_t len)
{
    snprintf(dir, len, "%s", classifier_fixture());
    return dir;
}

Test(options, an_option_the_method_does_not_take_is_refused)
{
    char buf[64];
    const char *dir = fixture(buf, sizeof buf);
    /* issue #16: this exited 0, the three options ignored */
    expect_refused(dir, "gradcam net.cfg net.weights photo.png -steps 5 -window 3 -composite nonsense",
                   "darknet-explain: gradcam does not take -steps (its options: -layer, -relu, -eigen_smooth, "
                   "-aug_smooth, -score; see darknet-explain gradcam -h)");
    /* Eigen-CAM is always the principal component; occlusion draws nothing at random; lrp starts
     * from the logit whatever -score; saliency has no layer */
    expect_refused(dir, "eigencam net.cfg net.weights photo.png -eigen_smooth", "eigencam does not take -eigen_smooth");
    expect_refused(dir, "occlusion net.cfg net.weights photo.png -window 4 -seed 3", "occlusion does not take -seed");
    expect_refused(dir, "lrp net.cfg net.weights photo.png -score prob", "lrp does not take -score");
    expect_refused(dir, "saliency net.cfg net.weights photo.png -layer 3", "saliency does not take -layer");
    expect_refused(dir, "ig net.cfg net.weights photo.png -samples 4", "ig does not take -samples");
    /* with -list, as for one photo */
    char list[1024];
    snprintf(list, sizeof list, "rise net.cfg net.weights -list %s -outdir out -window 4", photo_list(dir));
    expect_refused(dir, list, "rise does not take -window");
    /* `all`: an option none of -methods takes */
    expect_refused(dir, "all net.cfg net.weights photo.png -methods gradcam,saliency -steps 5",
                   "-steps: none of -methods gradcam,saliency takes it");
}

Test(options, eval_refuses_what_none_of_its_methods_takes)
{
    char buf[64];
    const char *dir = fixture(buf, sizeof buf), *list = photo_list(dir);
    char args[1024];
    snprintf(args, sizeof args, "eval net.cfg net.weights -list %s -methods gradcam,random -window 8", list);
    expect_refused(dir, args, "darknet-explain eval: -window: none of -methods gradcam,random takes it");
    /* eval's older name of -steps: an alias, refused as -steps is */
    snprintf(args, sizeof args, "eval net.cfg net.weights -list %s -methods gradcam -ig_steps 8", list);
    expect_refused(dir, args, "eval: -ig_steps: none of -methods gradcam takes it");
}

/* argv words of a command line (at most 32, split at spaces) through dx_cli_check_args */
static int check_args(const char *line)
{
    char copy[1024], *argv[32];
    int argc = 0;
    snprintf(copy, sizeof copy, "%s", line);
    for (char *w = strtok(copy, " "); w && argc < 32; w = strtok(NULL, " ")) argv[argc++] = w;
    fflush(stderr);
    return dx_cli_check_args("darknet-explain", argc, argv);
}

Test(options, the_options_a_method_takes_are_accepted)
{
    /* -1: the command goes on to open its files */
    static const char *const accepted[] = {
        "gradcam net.cfg net.weights photo.png -layer 5 -relu 0 -eigen_smooth -aug_smooth -score prob -class 1 -out x",
        "guidedgradcam net.cfg net.weights photo.png -layer 5 -relu 0 -aug_smooth",
        "eigencam net.cfg net.weights photo.png -layer 5 -relu 0 -aug_smooth",
        "scorecam net.cfg net.weights photo.png -layer 5 -batch 4",
        "ig net.cfg net.weights photo.png -steps 8 -baseline blur -seed 3 -png_width 32",
        "smoothgrad net.cfg net.weights photo.png -samples 4 -noise 0.2 -seed 3",
        "lrp net.cfg net.weights photo.png -layer 3 -composite epsilon-plus",
        "lrp net.cfg net.weights photo.png -rules 0-:epsilon",
        "occlusion net.cfg net.weights photo.png -window 4 -stride 2 -occlude mean -batch 2",
        "rise net.cfg net.weights photo.png -masks 10 -cell 3 -p 0.3 -seed 2 -occlude blur -batch 2",
        "lime net.cfg net.weights photo.png -segments 10 -samples 20 -kernel_width 0.5 -seed 2",
        "kernelshap net.cfg net.weights photo.png -segments 10 -samples 20 -occlude mean",
        "drise net.cfg net.weights photo.png -masks 10 -cell 4 -p 0.4 -seed 2 -thresh 0.2 -boxes all",
        /* detectors' options pass the parser whatever the method; the model says (check_scope) */
        "saliency net.cfg net.weights photo.png -box 1 -target obj",
        "all net.cfg net.weights photo.png -methods gradcam,ig -steps 8 -layer 5",
        "all net.cfg net.weights photo.png -steps 8 -window 4 -masks 10", /* every method may run */
        "eval net.cfg net.weights -list l.txt -methods ig,gradcam,random -steps 4 -baseline blur -layer 5 -seed 2",
        "eval net.cfg net.weights -list l.txt -methods gradcam -seed 2 -batch 4 -score prob", /* eval's own */
        "eval net.cfg net.weights -list l.txt -methods ig -ig_steps 4 -ig_baseline blur",
    };
    for (size_t k = 0; k < sizeof accepted / sizeof *accepted; ++k)
        cr_expect_eq(check_args(accepted[k]), -1, "`%s` refused", accepted[k]);
}

Test(options, the_string_api_refuses_as_the_command_line)
{
    dx_request *req = NULL;
    dx_error err;
    cr_expect_eq(dx_request_parse("gradcam", 2, (const char *[]){"-steps", "5"}, &req, &err), -1);
    cr_expect_null(req);
    cr_expect_str_eq(err.msg, "gradcam does not take -steps (its options: -layer, -relu, -eigen_smooth, "
                              "-aug_smooth, -score; see darknet-explain gradcam -h)");
    cr_assert_eq(dx_request_parse("rise", 2, (const char *[]){"-seed", "5"}, &req, &err), 0, "%s", err.msg);
    /* the method's own defaults, as dx_request_init_for gives them */
    cr_expect_eq(req->masks, 300);
    cr_expect_eq(req->cell, 7);
    cr_expect_eq(req->seed, 5);
    dx_request_free(req);
}

Test(options, init_for_fills_each_methods_defaults)
{
    dx_request r;
    dx_request_init(&r); /* as before: Grad-CAM, 0 for "the method's default" */
    cr_expect(r.method == DX_METHOD_GRADCAM && r.class_id == -1 && r.masks == 0 && r.cell == 0 && r.samples == 0);
    static const struct {
        dx_method m;
        int samples, masks, cell;
    } want[] = {{DX_METHOD_RISE, 0, 300, 7},       {DX_METHOD_DRISE, 0, 1000, 20}, {DX_METHOD_LIME, 400, 0, 0},
                {DX_METHOD_KERNELSHAP, 400, 0, 0}, {DX_METHOD_SMOOTHGRAD, 25, 0, 0}, {DX_METHOD_VARGRAD, 25, 0, 0},
                {DX_METHOD_GRADCAM, 0, 0, 0}};
    for (size_t k = 0; k < sizeof want / sizeof *want; ++k) {
        dx_request_init_for(&r, want[k].m);
        cr_expect(r.method == want[k].m && r.samples == want[k].samples && r.masks == want[k].masks &&
                      r.cell == want[k].cell,
                  "%s: samples %d masks %d cell %d", dx_method_name(want[k].m), r.samples, r.masks, r.cell);
        cr_expect(r.steps == 64 && r.seed == 1 && r.relu == 1 && r.window == 32, "%s", dx_method_name(want[k].m));
    }
}

/* The text darknet-explain prints for ARGS */
static void help_of(const char *args, char *out, size_t len)
{
    run_result r = run_dx(temp_dir(), args);
    cr_assert_eq(r.status, 0, "%s: %s", args, r.err);
    snprintf(out, len, "%s", r.out);
}

Test(options, method_help_lists_its_own_options_and_defaults)
{
    char h[8192];
    help_of("ig -h", h, sizeof h);
    cr_expect(strstr(h, "  -steps N ") && strstr(h, "(default 64)") && strstr(h, "(default black)"), "%s", h);
    cr_expect(!strstr(h, "-window") && !strstr(h, "-layer") && !strstr(h, "-masks"), "%s", h);
    help_of("rise -h", h, sizeof h);
    cr_expect(strstr(h, "  -masks N ") && strstr(h, "(default 300)") && strstr(h, "(default 7)"), "%s", h);
    cr_expect(!strstr(h, "-steps") && !strstr(h, "-window"), "%s", h);
    help_of("drise -h", h, sizeof h);
    cr_expect(strstr(h, "(default 1000)") && strstr(h, "(default 20)") && !strstr(h, "-occlude"), "%s", h);
    help_of("eigencam -h", h, sizeof h);
    cr_expect(strstr(h, "-aug_smooth") && !strstr(h, "-eigen_smooth"), "%s", h);
    /* the list of every option names the methods that take each, and their defaults */
    help_of("-h", h, sizeof h);
    cr_expect(strstr(h, "[smoothgrad, smoothgrad2, vargrad: default 25; lime, kernelshap: default 400]"), "%s", h);
    cr_expect(strstr(h, "[ig; default 64]"), "%s", h);
}

/* The "parameters" of the JSON at path as command-line words into args (a flag for true, no word
 * for null or false), with -class from "target". */
static void parameters_as_options(const char *path, char *args, size_t len)
{
    char *json = read_text(path), *p = strstr(json, "\"parameters\": {");
    cr_assert(p, "%s has no parameters: %s", path, json);
    *args = 0;
    for (p = strchr(p, '\n') + 1; *p && strncmp(p, "  }", 3); p = strchr(p, '\n') + 1) {
        char key[64], value[256];
        cr_assert_eq(sscanf(p, " \"%63[^\"]\": %255[^,\n]", key, value), 2, "%.60s", p);
        size_t n = strlen(value);
        if (value[0] == '"') memmove(value, value + 1, n), value[n - 2] = 0;
        size_t used = strlen(args);
        if (!strcmp(value, "true")) snprintf(args + used, len - used, " -%s", key);
        else if (strcmp(value, "null") && strcmp(value, "false")) snprintf(args + used, len - used, " -%s %s", key, value);
    }
    int cls;
    char *target = strstr(json, "\"target\": {");
    cr_assert(target && sscanf(strstr(target, "\"class\": "), "\"class\": %d", &cls) == 1);
    size_t used = strlen(args);
    snprintf(args + used, len - used, " -class %d", cls);
    free(json);
}

static int same_bytes(const char *dir, const char *a, const char *b)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cmp -s %s/%s %s/%s", dir, a, dir, b);
    return system(cmd) == 0;
}

Test(options, the_json_parameters_rerun_the_same_map, .timeout = 300)
{
    char buf[64];
    const char *dir = fixture(buf, sizeof buf);
    /* non-default values throughout, so that the defaults would not do */
    static const char *const runs[][2] = {
        {"gradcam", "-layer 5 -relu 0 -aug_smooth -score prob"},
        {"ig", "-steps 7 -baseline noise -seed 5"},
        {"deeplift", "-baseline noise -seed 5"},
        {"deeplift", "-rule revealcancel -baseline blur"},
        {"occlusion", "-window 6 -stride 3 -occlude mean -batch 2"},
        {"rise", "-masks 40 -cell 4 -p 0.4 -seed 9 -occlude blur"},
        {"lrp", "-composite epsilon-plus -layer 3"},
    };
    for (size_t k = 0; k < sizeof runs / sizeof *runs; ++k) {
        char args[2048], json[600], rerun[1024];
        snprintf(args, sizeof args, "%s net.cfg net.weights photo.png %s -out first", runs[k][0], runs[k][1]);
        run_result r = run_dx(dir, args);
        cr_assert_eq(r.status, 0, "`%s`: %s", args, r.err);
        snprintf(json, sizeof json, "%s/first.json", dir);
        parameters_as_options(json, rerun, sizeof rerun);
        cr_log_info("%s%s", runs[k][0], rerun);
        /* every value given is among the parameters */
        for (char *w = strtok(strcpy(args, runs[k][1]), " "); w; w = strtok(NULL, " "))
            cr_expect(strstr(rerun, w), "%s: '%s' is not in the parameters:%s", runs[k][0], w, rerun);
        snprintf(args, sizeof args, "%s net.cfg net.weights photo.png%s -out again", runs[k][0], rerun);
        r = run_dx(dir, args);
        cr_assert_eq(r.status, 0, "`%s`: %s", args, r.err);
        cr_expect(same_bytes(dir, "first.npy", "again.npy") && same_bytes(dir, "first.raw.npy", "again.raw.npy"),
                  "`%s`: another map than the first run's", args);
        /* and the defaults give another: the parameters carried the difference */
        snprintf(args, sizeof args, "%s net.cfg net.weights photo.png -out plain", runs[k][0]);
        cr_assert_eq(run_dx(dir, args).status, 0);
        cr_expect(!same_bytes(dir, "first.raw.npy", "plain.raw.npy"), "%s: the options changed nothing", runs[k][0]);
    }
}

Test(options, eval_takes_the_same_names_and_records_the_parameters, .timeout = 300)
{
    char buf[64];
    const char *dir = fixture(buf, sizeof buf);
    char path[600], args[1024];
    snprintf(args, sizeof args, "eval net.cfg net.weights -list %s -methods ig,occlusion,random -metrics sparseness "
             "-steps 3 -baseline blur -window 4 -stride 4 -seed 6 -out ev", photo_list(dir));
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(path, sizeof path, "%s/ev/run.json", dir);
    char *json = read_text(path), *p = strstr(json, "\"method_parameters\": {");
    cr_assert(p, "%s", json);
    char *end = strstr(p, "\"methods\": [");
    cr_assert(end, "%s", json);
    *end = 0; /* method_parameters ends there */
    char *ig = strstr(p, "\"ig\": {"), *occlusion = strstr(p, "\"occlusion\": {");
    cr_assert(ig && occlusion && ig < occlusion && !strstr(p, "\"random\""), "%s", p);
    *occlusion = 0; /* ig's object ends there */
    cr_expect(strstr(ig, "\"steps\": 3") && strstr(ig, "\"baseline\": \"blur\"") && strstr(ig, "\"seed\": 6"), "%s", ig);
    *occlusion = '"';
    cr_expect(strstr(occlusion, "\"window\": 4") && strstr(occlusion, "\"stride\": 4") &&
                  strstr(occlusion, "\"occlude\": \"black\""),
              "%s", p);
    free(json);
}

Test(options, a_detectors_json_has_the_parameters_too, .timeout = 120)
{
    char buf[64], args[2048], path[600];
    const char *dir = fixture(buf, sizeof buf), *root = getenv("DX_ROOT");
    cr_assert(root, "run through make test (DX_ROOT)");
    /* no box reaches -thresh 0.99 on the grey photo: the JSON says so, with the parameters */
    snprintf(args, sizeof args, "rise %s/cfg/shapes-detector.cfg %s/cfg/shapes-detector.weights photo.png -masks 10 "
             "-seed 4 -thresh 0.99 -out det", root, root);
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(path, sizeof path, "%s/det.json", dir);
    char *json = read_text(path), *p = strstr(json, "\"parameters\": {"), *end = p ? strstr(p, "}") : NULL;
    cr_assert(p && end, "%s", json);
    *end = 0;
    cr_expect(strstr(p, "\"masks\": 10") && strstr(p, "\"cell\": 7") && strstr(p, "\"seed\": 4"), "%s", p);
    cr_expect(!strstr(p, "\"score\""), "a classifier's option in a detector's parameters: %s", p);
    free(json);
}

/* The option table's kinds: a float, a double, an int, a seed and a choice parsed into their
 * fields (a float written into a double once left tcav's -alpha at its default), and -h's
 * "default V" read from the same initialised struct, not from the help's text. */
typedef struct {
    float f;
    double d;
    int i, choice;
    unsigned long long seed;
} kinds_args;

Test(options, each_kind_fills_its_field_and_shows_its_default)
{
    static const dx_option table[] = {
        {"-f", OPT_FLOAT, offsetof(kinds_args, f), 0, 1, NULL, "F  a float"},
        {"-d", OPT_DOUBLE, offsetof(kinds_args, d), 0, 1, NULL, "D  a double"},
        {"-i", OPT_INT, offsetof(kinds_args, i), 0, 100, NULL, "N  an int"},
        {"-c", OPT_CHOICE, offsetof(kinds_args, choice), 0, 0, "red|green|blue", "red|green|blue  a choice"},
        {"-s", OPT_U64, offsetof(kinds_args, seed), 0, 0, NULL, "S  a seed"},
        {"-t", OPT_INT, offsetof(kinds_args, i), 0, 100, NULL, "N  said here (default: the first)"},
    };
    const size_t n = sizeof table / sizeof *table;
    kinds_args defaults = {.f = 0.25f, .d = 0.005, .i = 7, .choice = 2, .seed = 12345678901ULL};
    static const char *const want[] = {"default 0.25", "default 0.005", "default 7", "default blue",
                                       "default 12345678901"};
    char text[64];
    for (size_t k = 0; k < n; ++k) {
        int rc = dx_option_default_note(&table[k], &defaults, text, sizeof text);
        if (k + 1 == n) {
            cr_expect_eq(rc, -1, "%s: its help names its default; got '%s'", table[k].flag, text);
        } else {
            cr_assert_eq(rc, 0, "%s", table[k].flag);
            cr_expect_str_eq(text, want[k]);
        }
    }
    kinds_args a = defaults;
    char *argv[] = {"x", "-f", "0.5", "-d", "0.01", "-i", "42", "-c", "green", "-s", "18446744073709551615"};
    const char *positional[1];
    int npos;
    cr_assert_eq(dx_options_parse("test", table, n, 11, argv, &a, positional, 1, &npos), 0);
    cr_expect_eq(a.f, 0.5f);
    cr_expect_eq(a.d, 0.01, "the double holds %.17g", a.d);
    cr_expect_eq(a.i, 42);
    cr_expect_eq(a.choice, 1);
    cr_expect_eq(a.seed, 18446744073709551615ULL);
}
