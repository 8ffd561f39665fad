/* `darknet explain` inside Darknet: patches/ applied to Debian's darknet source package, built
 * with plugin/ compiled in (tools/build-darknet.sh, i.e. make darknet). The patched binary
 * explains exactly as darknet-explain does, and Darknet's own commands are unchanged. Photos
 * are PNGs: the patched build decodes with stb (Debian's binary with OpenCV), and PNG decodes
 * to the same pixels in both, so outputs can be compared bit for bit. */
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

Test(darknet_patch, explain_inside_darknet, .timeout = 600)
{
    const char *root = getenv("DX_ROOT"), *cli = getenv("DX_CLI");
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: the patched-Darknet checks need its real models");
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s/tools/build-darknet.sh > /dev/null 2>&1", root);
    int status = system(cmd);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
        cr_skip_test("apt cannot fetch Debian's darknet source package here: make darknet skipped");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "make darknet failed (see darknet-src/build.log)");
    char darknet[1200];
    snprintf(darknet, sizeof darknet, "%s/darknet", root);

    const char *dir = temp_dir();
    char model[1200], names[1200];
    snprintf(model, sizeof model, "%s/models/imagenet/tiny.cfg %s/models/imagenet/tiny.weights", shared, shared);
    snprintf(names, sizeof names, "%s/models/imagenet/imagenet.shortnames.list", shared);
    static const char *const methods[] = {"gradcam", "saliency"};
    for (int k = 0; k < 2; ++k) {
        /* the same arguments through both front doors */
        char args[4096];
        snprintf(args, sizeof args, "%s %s %s/images/coffee.png -names %s -score prob", methods[k], model,
                 shared, names);
        snprintf(cmd, sizeof cmd, "cd %s && %s explain %s -out inside >/dev/null 2>&1 && %s %s -out outside >/dev/null 2>&1",
                 dir, darknet, args, cli, args);
        cr_assert_eq(system(cmd), 0, "%s failed", cmd);
        static const char *const suffixes[] = {".npy", ".raw.npy", ".png"};
        for (int s = 0; s < 3; ++s) {
            char a[1200], b[1200];
            snprintf(a, sizeof a, "%s/inside%s", dir, suffixes[s]);
            snprintf(b, sizeof b, "%s/outside%s", dir, suffixes[s]);
            cr_expect(files_equal(a, b), "%s: darknet explain and darknet-explain wrote different %s",
                      methods[k], suffixes[s]);
        }
    }
    /* one parser: the same error for the same bad option */
    snprintf(cmd, sizeof cmd, "%s explain gradcam %s x.png -layer 2>&1", darknet, model);
    FILE *p = popen(cmd, "r");
    char line[512] = "";
    fgets(line, sizeof line, p);
    cr_expect_neq(pclose(p), 0);
    cr_expect_str_eq(line, "darknet explain: -layer needs a value\n");

    /* Darknet's own commands are unchanged: the same top-5 as Debian's unpatched binary */
    if (access("/usr/bin/darknet", X_OK) == 0) {
        char data[256];
        snprintf(data, sizeof data, "%s/in1k.data", dir);
        FILE *f = fopen(data, "w");
        fprintf(f, "classes=1000\nnames=%s\n", names);
        fclose(f);
        static const char *const photos[] = {"coffee.png", "chelsea.png", "astronaut.png"};
        for (int k = 0; k < 3; ++k) {
            char ours[16384];
            snprintf(cmd, sizeof cmd, "%s classifier predict %s %s %s/images/%s -t 5 2>/dev/null", darknet,
                     data, model, shared, photos[k]);
            snprintf(ours, sizeof ours, "%s", capture(cmd));
            snprintf(cmd, sizeof cmd, "/usr/bin/darknet classifier predict %s %s %s/images/%s -t 5 2>/dev/null",
                     data, model, shared, photos[k]);
            cr_expect_str_eq(ours, capture(cmd), "%s: the patched darknet predicts differently", photos[k]);
            cr_log_info("%s: %.*s", photos[k], (int)strcspn(ours, "\n"), ours);
        }
    }

    /* ... and run headless: no window, no key press */
    char coco[256];
    snprintf(coco, sizeof coco, "%s/coco.data", dir);
    FILE *f = fopen(coco, "w");
    fprintf(f, "classes=80\nnames=%s/models/coco/coco.names\n", shared);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "cd %s && DISPLAY= %s detector test %s %s/models/coco/yolo-fastest-1.1.cfg "
             "%s/models/coco/yolo-fastest-1.1.weights %s/images/person.jpg </dev/null 2>/dev/null",
             dir, darknet, coco, shared, shared, shared);
    char *out = capture(cmd);
    cr_expect(strstr(out, "person: 98%"), "detector test printed: %s", out);
    char predictions[512];
    snprintf(predictions, sizeof predictions, "%s/predictions.jpg", dir);
    cr_expect(access(predictions, R_OK) == 0, "no predictions.jpg");
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
