/* The Python module (python/darknet_explain) against the command line: each test runs one class
 * of tests/python/test_darknet_explain.py with Debian's python3 ($DX_PYTHON, else
 * /usr/bin/python3, whose NumPy is python3-numpy), the package from the project's python/ and
 * the library the tests were built with ($DX_LIB, else libdarknet-explain.so beside $DX_CLI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <criterion/criterion.h>
#include "backends/backend.h"
#include "helpers.h"

/* Under AddressSanitizer the library needs the sanitizer runtimes loaded first in python3:
 * the compiler's (DX_CC, as the Makefile's test target passes it) libasan and libubsan. */
static void sanitizer_preload(char *out, size_t len)
{
    out[0] = 0;
#if defined(__SANITIZE_ADDRESS__)
    const char *cc = getenv("DX_CC") ? getenv("DX_CC") : "cc";
    const char *const libs[] = {"libasan.so", "libubsan.so"};
    for (size_t k = 0; k < sizeof libs / sizeof *libs; ++k) {
        char cmd[512], path[1024] = "";
        snprintf(cmd, sizeof cmd, "%s -print-file-name=%s", cc, libs[k]);
        FILE *p = popen(cmd, "r");
        cr_assert(p, "%s failed", cmd);
        if (!fgets(path, sizeof path, p)) path[0] = 0;
        pclose(p);
        path[strcspn(path, "\n")] = 0;
        cr_assert(path[0] == '/', "%s: no path (%s)", cmd, path);
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", used ? ":" : "", path);
    }
#else
    (void)len;
#endif
}

/* Runs the unittest class `name`; its report is in the failure message. */
static void run_python_tests(const char *name)
{
    const char *cli = getenv("DX_CLI"), *root = getenv("DX_ROOT");
    cr_assert(cli && root, "DX_CLI and DX_ROOT are not set (run through make test)");
    const char *python = getenv("DX_PYTHON") ? getenv("DX_PYTHON") : "/usr/bin/python3";
    char lib[1024], preload[2048], log[512], cmd[8192];
    if (getenv("DX_LIB")) snprintf(lib, sizeof lib, "%s", getenv("DX_LIB"));
    else snprintf(lib, sizeof lib, "%.*s/libdarknet-explain.so", (int)(strrchr(cli, '/') - cli), cli);
    sanitizer_preload(preload, sizeof preload);
    snprintf(log, sizeof log, "%s/python.log", temp_dir());
    /* Python's own allocations outlive it by design: no leak report for the interpreter. Without
     * the OPENBLAS_CORETYPE this process set for itself (helpers.c), as a user starts Python. */
    snprintf(cmd, sizeof cmd,
             "cd %s && env -u OPENBLAS_CORETYPE DX_LIB='%s' DX_PYTHON='%s' PYTHONPATH='%s/python:%s/tests/python' PYTHONDONTWRITEBYTECODE=1 "
             "%s%s%s %s -m unittest -v test_darknet_explain.%s >%s 2>&1",
             temp_dir(), lib, python, root, root, preload[0] ? "LD_PRELOAD='" : "", preload,
             preload[0] ? "' ASAN_OPTIONS=detect_leaks=0" : "", python, name, log);
    int status = system(cmd);
    char report[8192];
    read_text_into(log, report, sizeof report);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed:\n%s", name, report);
    cr_assert(strstr(report, "\nOK"), "%s: no unittest verdict:\n%s", name, report);
}

Test(python, maps_equal_the_cli, .timeout = 300)
{
    run_python_tests("Maps");
}

Test(python, boxes_equal_the_cli_json, .timeout = 300)
{
    run_python_tests("Boxes");
}

Test(python, arrays_equal_files, .timeout = 300)
{
    run_python_tests("Arrays");
}

Test(python, errors_equal_the_cli, .timeout = 300)
{
    run_python_tests("Errors");
}

Test(python, module_is_the_cli, .timeout = 300)
{
    run_python_tests("Module");
}

Test(python, docs_examples_run, .timeout = 300)
{
    run_python_tests("Docs");
}

/* ---- the string API itself (api_bindings.c), from C ---- */

Test(bindings, request_parse_is_the_cli_parser)
{
    char baseline[] = "noise";
    /* -seed and -baseline are ig's: xgradcam refuses them (it reads neither) */
    const char *argv[] = {"-layer", "3,5", "-boxes", "all", "-region", "1,2,3,4", "-eigen_smooth", "-target", "obj"};
    const char *ig_argv[] = {"-seed", "9", "-baseline", baseline};
    dx_request *req, *ig, ref;
    dx_error err;
    cr_assert_eq(dx_request_parse("xgradcam", 9, argv, &req, &err), 0, "%s", err.msg);
    cr_assert_eq(dx_request_parse("ig", 4, ig_argv, &ig, &err), 0, "%s", err.msg);
    strcpy(baseline, "black"); /* the request keeps its own copy of the words */
    dx_request_init(&ref);
    cr_expect_eq(req->method, DX_METHOD_XGRADCAM);
    cr_expect(req->n_layers == 2 && req->layers[0] == 3 && req->layers[1] == 5);
    cr_expect_eq(req->box, DX_ALL_BOXES);
    cr_expect(req->use_region && req->region[0] == 1 && req->region[3] == 4);
    cr_expect_eq(ig->seed, 9);
    cr_expect_str_eq(ig->baseline, "noise");
    cr_expect(req->eigen_smooth && req->box_target == DX_BOX_OBJ);
    cr_expect(req->thresh == ref.thresh && req->steps == ref.steps && req->relu == ref.relu && req->class_id == -1,
              "the other options keep dx_request_init's defaults");
    dx_request_free(req);
    dx_request_free(ig);
}

/* Each error is the CLI's line without "darknet-explain: ", and no request comes back. */
static void expect_request_error(const char *method, int argc, const char *const *argv, const char *msg)
{
    dx_request *req = (dx_request *)1;
    dx_error err = {{0}};
    cr_expect_eq(dx_request_parse(method, argc, argv, &req, &err), -1, "%s %s: accepted", method, argv[0]);
    cr_expect_null(req);
    cr_expect_str_eq(err.msg, msg);
}

Test(bindings, request_parse_errors)
{
    expect_request_error("gradcam", 2, (const char *[]){"-layer", "x"},
                         "-layer takes a layer index, up to 8 comma-separated indices or auto, not 'x'");
    expect_request_error("gradcam", 2, (const char *[]){"-png_width", "20"},
                         "-png_width goes with writing the outputs, not with an explanation");
    expect_request_error("gradcam", 2, (const char *[]){"-out", "x"},
                         "-out goes with the command line, not with an explanation");
    expect_request_error("nope", 1, (const char *[]){"-eigen_smooth"}, "unknown method 'nope' (see darknet-explain -h)");
    expect_request_error("gradcam", 1, (const char *[]){"photo.png"}, "unexpected argument 'photo.png'");
    expect_request_error("gradcam", 1, (const char *[]){"-steps"}, "-steps needs a value");
    cr_expect_eq(dx_option_takes_value("-eigen_smooth"), 0);
    cr_expect_eq(dx_option_takes_value("-layer"), 1);
    cr_expect_eq(dx_option_takes_value("-nope"), -1);

    dx_output_options *opt;
    dx_error err;
    cr_assert_eq(dx_output_options_parse(4, (const char *[]){"-png_width", "96", "-png_clip", "99"}, &opt, &err), 0,
                 "%s", err.msg);
    cr_expect(opt->png_width == 96 && opt->png_clip == 99 && opt->png_opacity == 0);
    dx_output_options_free(opt);
    cr_expect_eq(dx_output_options_parse(2, (const char *[]){"-seed", "1"}, &opt, &err), -1);
    cr_expect_str_eq(err.msg, "-seed goes with an explanation, not with writing the outputs");
}

/* The string API's explanation of a file, and of the same planes, is dx_explain_file's, bit for bit. */
Test(bindings, explain_photo_equals_explain_file)
{
    const char *dir = classifier_fixture(), *root = getenv("DX_ROOT");
    cr_assert(root, "DX_ROOT is not set (run through make test)");
    char cfg[1024], weights[1024], names[1024], photo_path[1024];
    snprintf(cfg, sizeof cfg, "%s/cfg/shapes-classifier.cfg", root);
    snprintf(weights, sizeof weights, "%s/cfg/shapes-classifier.weights", root);
    snprintf(names, sizeof names, "%s/cfg/shapes.names", root);
    snprintf(photo_path, sizeof photo_path, "%s/photo.png", dir);
    dx_error err;
    dx_model *m = dx_open_args(cfg, weights, 2, (const char *[]){"-names", names}, &err);
    cr_assert(m, "%s", err.msg);
    cr_expect_str_eq(dx_class_name(m, 0), "circle");

    dx_request *req;
    cr_assert_eq(dx_request_parse("saliency", 0, NULL, &req, &err), 0, "%s", err.msg);
    dx_result direct;
    cr_assert_eq(dx_explain_file(m, photo_path, req, &direct, &err), 0, "%s", err.msg);
    cr_assert(direct.map_min < direct.map_max, "a blank map proves nothing");

    dx_photo *from_file = dx_photo_load(photo_path, &err);
    cr_assert(from_file, "%s", err.msg);
    dx_image im = dx_backend_load_image(photo_path, 0, 0);
    dx_photo *from_planes = dx_photo_from_planes(im.data, im.c, im.h, im.w, "planes", &err);
    cr_assert(from_planes, "%s", err.msg);
    dx_photo *photos[2] = {from_file, from_planes};
    for (int k = 0; k < 2; ++k) {
        dx_explanation *x;
        cr_assert_eq(dx_explain_photo(m, photos[k], req, &x, &err), 0, "%s", err.msg);
        cr_assert_eq(dx_explanation_count(x), 1);
        cr_expect_not(dx_explanation_is_boxes(x));
        const dx_result *r = dx_explanation_result(x, 0);
        double h, w, cls, prob;
        cr_assert(dx_result_number(r, "h", &h) == 0 && dx_result_number(r, "w", &w) == 0 &&
                  dx_result_number(r, "class_id", &cls) == 0 && dx_result_number(r, "prob", &prob) == 0);
        cr_expect_eq(dx_result_number(r, "no_such_member", &h), -1);
        cr_assert(h == direct.h && w == direct.w && cls == direct.class_id && (float)prob == direct.prob);
        cr_expect_eq(memcmp(dx_result_map(r), direct.map, sizeof(float) * direct.h * direct.w), 0, "photo %d", k);
        cr_expect_eq(memcmp(dx_result_native(r), direct.native, sizeof(float) * direct.native_h * direct.native_w),
                     0, "photo %d", k);
        cr_expect_null(dx_result_box(r));
        dx_explanation_free(x);
    }
    im.data[5] = 1.5f;
    cr_expect_null(dx_photo_from_planes(im.data, im.c, im.h, im.w, "planes", &err));
    cr_expect_str_eq(err.msg, "planes: pixel (row 0, column 5, channel 0) is 1.5, not in [0, 1]");
    dx_free_image(im);
    dx_photo_free(from_file);
    dx_photo_free(from_planes);
    dx_result_free(&direct);
    dx_request_free(req);
    dx_close(m);
}
