/* `darknet explain` inside Darknet: patches/ applied to Debian's darknet source package, built
 * as Debian builds it (OPENCV=1) with plugin/ compiled in (tools/build-darknet.sh, i.e. make
 * darknet). Both decode photos with OpenCV, so JPEGs as well as PNGs reach the network as the
 * same pixels as in Debian's darknet and in libdarknet.so (which darknet-explain links): the two
 * front doors write the same files, and Darknet's own commands print what Debian's binary prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"

static char *capture(const char *cmd)
{
    static char out[16384];
    FILE *p = popen(cmd, "r");
    cr_assert(p, "cannot run %s", cmd);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "`%s` failed (%d): %s", cmd, status, out);
    return out;
}

static int files_equal(const char *a, const char *b)
{
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    return system(cmd) == 0;
}

/* Whether pkg-config finds OpenCV's headers, as tools/build-darknet.sh asks. */
static int opencv_found(void)
{
    return system("command -v pkg-config >/dev/null && "
                  "{ pkg-config --exists opencv4 || pkg-config --exists opencv; }") == 0;
}

/* JPEGs (where stb and OpenCV's libjpeg can decode differently) and PNGs. */
static const char *const photos[] = {"dog.jpg", "eagle.jpg", "person.jpg", "horses.jpg",
                                     "coffee.png", "chelsea.png", "astronaut.png"};
#define N_PHOTOS (int)(sizeof photos / sizeof *photos)

/* The same arguments through both front doors, each in its own folder with the same -out: the
 * maps and the overlay are the same bytes, the JSON too up to its wall-clock timings_ms. */
static void expect_same_explanations(const char *darknet, const char *cli, const char *model,
                                     const char *names, const char *shared, const char *dir)
{
    static const char *const methods[] = {"gradcam", "saliency"};
    char cmd[16384], args[4096];
    for (int k = 0; k < 2; ++k)
        for (int i = 0; i < N_PHOTOS; ++i) {
            snprintf(args, sizeof args, "%s %s %s/images/%s -names %s -score prob -out map", methods[k],
                     model, shared, photos[i], names);
            snprintf(cmd, sizeof cmd,
                     "mkdir -p %s/inside %s/outside && cd %s/inside && %s explain %s >/dev/null 2>&1 && "
                     "cd %s/outside && %s %s >/dev/null 2>&1",
                     dir, dir, dir, darknet, args, dir, cli, args);
            cr_assert_eq(system(cmd), 0, "%s failed", cmd);
            static const char *const suffixes[] = {".npy", ".raw.npy", ".png"};
            char a[1200], b[1200];
            for (int s = 0; s < 3; ++s) {
                snprintf(a, sizeof a, "%s/inside/map%s", dir, suffixes[s]);
                snprintf(b, sizeof b, "%s/outside/map%s", dir, suffixes[s]);
                cr_expect(files_equal(a, b), "%s %s: darknet explain and darknet-explain wrote different %s",
                          methods[k], photos[i], suffixes[s]);
            }
            snprintf(a, sizeof a, "%s/inside/map.json", dir);
            snprintf(b, sizeof b, "%s/outside/map.json", dir);
            char *ja = read_text(a), *jb = read_text(b);
            char *ta = strstr(ja, "\"timings_ms\""), *tb = strstr(jb, "\"timings_ms\"");
            cr_assert(ta && tb, "%s %s: no timings_ms in the JSON", methods[k], photos[i]);
            *ta = *tb = 0;
            cr_expect_str_eq(ja, jb, "%s %s: darknet explain and darknet-explain wrote different JSON",
                             methods[k], photos[i]);
            free(ja);
            free(jb);
        }
}

/* Darknet's own commands are unchanged: the same top-5 as Debian's unpatched binary. */
static void expect_same_predictions(const char *darknet, const char *model, const char *names,
                                    const char *shared, const char *dir)
{
    char data[256], cmd[16384], ours[16384];
    snprintf(data, sizeof data, "%s/in1k.data", dir);
    FILE *f = fopen(data, "w");
    fprintf(f, "classes=1000\nnames=%s\n", names);
    fclose(f);
    for (int i = 0; i < N_PHOTOS; ++i) {
        snprintf(cmd, sizeof cmd, "%s classifier predict %s %s %s/images/%s -t 5 2>/dev/null", darknet, data,
                 model, shared, photos[i]);
        snprintf(ours, sizeof ours, "%s", capture(cmd));
        snprintf(cmd, sizeof cmd, "/usr/bin/darknet classifier predict %s %s %s/images/%s -t 5 2>/dev/null",
                 data, model, shared, photos[i]);
        cr_expect_str_eq(ours, capture(cmd), "%s: the patched darknet predicts differently", photos[i]);
        cr_log_info("%s: %.*s", photos[i], (int)strcspn(ours, "\n"), ours);
    }
}

/* stdout of `detector test` without its first line, "<photo>: Predicted in <seconds> seconds." */
static const char *boxes_of(const char *out)
{
    const char *end = strstr(out, " seconds.\n");
    cr_assert(end, "detector test printed: %s", out);
    return end + strlen(" seconds.\n");
}

/* `detector test` headless, as Debian's binary runs it: with -out pjreddie's Darknet writes the
 * drawn boxes to <out>.jpg and opens no window (without it an OpenCV build asks for a display,
 * Debian's binary too). The same boxes and percentages as Debian's, the same .jpg. */
static void expect_same_detections(const char *darknet, const char *shared, const char *dir)
{
    char coco[256], cmd[16384], ours[16384], model[1200];
    snprintf(coco, sizeof coco, "%s/coco.data", dir);
    FILE *f = fopen(coco, "w");
    fprintf(f, "classes=80\nnames=%s/models/coco/coco.names\n", shared);
    fclose(f);
    snprintf(model, sizeof model, "%s/models/coco/yolo-fastest-1.1.cfg %s/models/coco/yolo-fastest-1.1.weights",
             shared, shared);
    for (int i = 0; i < N_PHOTOS; ++i) {
        if (!strstr(photos[i], ".jpg")) continue;
        static const char *const binaries[] = {"ours", "debian"};
        for (int b = 0; b < 2; ++b) {
            snprintf(cmd, sizeof cmd,
                     "cd %s && DISPLAY= %s detector test %s %s %s/images/%s -out %s/%s </dev/null 2>/dev/null", dir,
                     b ? "/usr/bin/darknet" : darknet, coco, model, shared, photos[i], dir, binaries[b]);
            char *out = capture(cmd);
            if (!b) snprintf(ours, sizeof ours, "%s", boxes_of(out));
            else cr_expect_str_eq(ours, boxes_of(out), "%s: the patched darknet detects differently", photos[i]);
        }
        for (char *c = ours; (c = strchr(c, '\n')) && c[1]; ) *c = ';';
        cr_log_info("%s: %s", photos[i], ours);
        if (!strcmp(photos[i], "person.jpg")) cr_expect(strstr(ours, "person: 98%"), "detector test printed: %s", ours);
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/ours.jpg", dir);
        snprintf(b, sizeof b, "%s/debian.jpg", dir);
        cr_expect(files_equal(a, b), "%s: the patched darknet drew different boxes", photos[i]);
        unlink(a);
        unlink(b);
    }
}

Test(darknet_patch, explain_inside_darknet, .timeout = 900)
{
    const char *root = getenv("DX_ROOT"), *cli = getenv("DX_CLI");
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: the patched-Darknet checks need its real models");
    /* make darknet would install it; make test leaves that large package to make deps-darknet */
    if (!opencv_found())
        cr_skip_test("libopencv-dev is not installed (make deps-darknet): the patched-Darknet checks skipped");
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s/tools/build-darknet.sh </dev/null >/dev/null 2>&1", root);
    int status = system(cmd);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
        cr_skip_test("apt cannot fetch Debian's darknet source package here: make darknet skipped");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "make darknet failed (see darknet-src/build.log)");
    cr_assert_eq(access("/usr/bin/darknet", X_OK), 0, "Debian's darknet is not installed (make deps)");
    char darknet[1200];
    snprintf(darknet, sizeof darknet, "%s/darknet", root);

    const char *dir = temp_dir();
    char model[1200], names[1200];
    snprintf(model, sizeof model, "%s/models/imagenet/tiny.cfg %s/models/imagenet/tiny.weights", shared, shared);
    snprintf(names, sizeof names, "%s/models/imagenet/imagenet.shortnames.list", shared);
    expect_same_explanations(darknet, cli, model, names, shared, dir);

    /* one parser: the same error for the same bad option */
    snprintf(cmd, sizeof cmd, "%s explain gradcam %s x.png -layer 2>&1", darknet, model);
    FILE *p = popen(cmd, "r");
    char line[512] = "";
    fgets(line, sizeof line, p);
    cr_expect_neq(pclose(p), 0);
    cr_expect_str_eq(line, "darknet explain: -layer needs a value\n");

    expect_same_predictions(darknet, model, names, shared, dir);
    expect_same_detections(darknet, shared, dir);
}

/* A tree the patches do not fit: a clear message naming the patch and the hunk, exit 1. */
Test(darknet_patch, a_patch_that_does_not_apply_is_named)
{
    const char *dir = temp_dir();
    char path[512], cmd[2048];
    snprintf(path, sizeof path, "%s/examples", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/examples/darknet.c", dir);
    write_text(path, "int main(void) { return 0; }\n");
    snprintf(path, sizeof path, "%s/Makefile", dir);
    write_text(path, "all:\n");
    snprintf(cmd, sizeof cmd, "%s/tools/build-darknet.sh %s 2>&1", getenv("DX_ROOT"), dir);
    FILE *p = popen(cmd, "r");
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int status = pclose(p);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit status %d", status);
    cr_expect(strstr(out, "patches/0001-explain-subcommand.patch does not apply to"), "%s", out);
    cr_expect(strstr(out, "Hunk #1 FAILED"), "%s", out);
}

/* Runs root/tools/build-darknet.sh on tree with extra arguments; returns its stdout and stderr. */
static char *build_own_tree(const char *root, const char *tree, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/tools/build-darknet.sh %s %s 2>&1", root, tree, args);
    return capture(cmd);
}

/* A tree of your own (DARKNET_SRC): built with OpenCV when pkg-config finds it, OPENCV= decides
 * instead, changed arguments start from a clean tree, and the steps are printed. The tree is the
 * old side of patches/ (what they need to apply) and a Makefile whose targets record OPENCV;
 * the project is a copy of tools/ and patches/ without darknet-src/, as in a fresh checkout. */
Test(darknet_patch, own_tree_opencv_and_flags)
{
    const char *dir = temp_dir(), *dx_root = getenv("DX_ROOT");
    char root[512], tree[512], path[600], cmd[8192];
    snprintf(root, sizeof root, "%s/project", dir);
    snprintf(tree, sizeof tree, "%s/tree", dir);
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/tools %s/patches %s/examples && cp %s/tools/build-darknet.sh %s/tools/ && "
             "cp %s/patches/*.patch %s/patches/ && printf 'ifeq (1,1)\\n' > %s/Makefile && "
             "awk -v dir=%s 'FNR == 1 {f = \"\"} /^\\+\\+\\+ b\\//{f = dir \"/\" substr($2, 3); next} "
             "/^(---|@@)/{next} f && /^[ -]/{print substr($0, 2) >> f}' %s/patches/*.patch && "
             "printf 'obj:\\n\\tmkdir -p obj\\ndarknet clean:\\n\\t@echo $@ OPENCV=$(OPENCV) >> made.txt\\n' >> %s/Makefile",
             root, root, tree, dx_root, root, dx_root, root, tree, tree, dx_root, tree);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    int found = opencv_found();

    char expected[2048];
    char *out = build_own_tree(root, tree, "");
    snprintf(expected, sizeof expected,
             "build-darknet: applying patches/ to %s...\n"
             "build-darknet: building with OPENCV=%d (log: darknet-src/build.log)...\n"
             "built ./darknet (from %s)\n", tree, found, tree);
    cr_expect_str_eq(out, expected);
    snprintf(path, sizeof path, "%s/darknet-src/build.log", root);
    cr_expect_eq(access(path, R_OK), 0, "no darknet-src/build.log");
    out = build_own_tree(root, tree, ""); /* patched, same arguments: nothing cleaned */
    out = build_own_tree(root, tree, "OPENCV=0");
    cr_expect(strstr(out, "building with OPENCV=0"), "%s", out);
    snprintf(path, sizeof path, "%s/made.txt", tree);
    char *made = read_text(path);
    snprintf(expected, sizeof expected,
             "darknet OPENCV=%d\ndarknet OPENCV=%d\nclean OPENCV=0\ndarknet OPENCV=0\n", found, found);
    cr_expect_str_eq(made, expected);
    free(made);
}
