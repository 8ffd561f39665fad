/* The C API example in README.md compiles against the installed header and library flags and
 * does what the README says it does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "io/render.h"

Test(api, readme_example_compiles_and_runs, .timeout = 120)
{
    const char *cc = getenv("DX_CC"), *cflags = getenv("DX_CFLAGS"), *ldflags = getenv("DX_LDFLAGS");
    cr_assert(cc && cflags && ldflags, "run through make test");
    const char *code = readme_c_api_example();
    int lines = 0;
    for (const char *c = code; *c; ++c) lines += *c == '\n';
    cr_expect(lines <= 20, "the README example has %d lines", lines);

    const char *dir = temp_dir();
    char src[512], bin[512], cmd[8192];
    snprintf(src, sizeof src, "%s/example.c", dir);
    snprintf(bin, sizeof bin, "%s/example", dir);
    write_text(src, code);
    snprintf(cmd, sizeof cmd, "%s %s %s -o %s %s", cc, cflags, src, bin, ldflags);
    cr_assert_eq(system(cmd), 0, "the README example does not compile: %s", cmd);

    char cfg[512], weights[512], png[512];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/net.weights", dir);
    dx_close(open_random(cfg, weights, 3));
    snprintf(png, sizeof png, "%s/photo.png", dir);
    dx_image photo = dx_make_image(32, 24, 3);
    for (int k = 0; k < 32 * 24 * 3; ++k) photo.data[k] = (k % 97) / 97.f;
    dx_error err;
    cr_assert_eq(dx_write_png(photo, png, &err), 0, "%s", err.msg);
    dx_free_image(photo);

    snprintf(cmd, sizeof cmd, "cd %s && %s %s %s %s > out.txt", dir, bin, cfg, weights, png);
    cr_assert_eq(system(cmd), 0, "the example failed");
    char out_path[600], out[1024] = "";
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    FILE *f = fopen(out_path, "r");
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    fclose(f);
    int cls, h, w;
    float peak;
    cr_expect_eq(sscanf(out, "class %d: map %dx%d, peak %f", &cls, &h, &w, &peak), 4, "output: %s", out);
    cr_expect_eq(h, 24);
    cr_expect_eq(w, 32);
    snprintf(out_path, sizeof out_path, "%s/explained.json", dir);
    cr_expect(access(out_path, R_OK) == 0, "the example wrote no explained.json");
}

/* The public headers include no Darknet's header (one API for every backend: dx_image and dx_box
 * have Darknet's fields), and no source outside plugin/backends/ includes one (#15's rule: only a
 * backend sees a Darknet's layer struct). */
Test(api, public_headers_need_no_darknet, .timeout = 60)
{
    const char *cc = getenv("DX_CC"), *root = getenv("DX_ROOT");
    cr_assert(cc && root, "run through make test");
    const char *dir = temp_dir();
    char src[512], cmd[4096];
    snprintf(src, sizeof src, "%s/alone.c", dir);
    write_text(src, "#include \"explain.h\"\n#include \"eval/eval.h\"\n"
                    "int main(void) { dx_image im = {1, 1, 3, 0}; dx_box b = {.5f, .5f, 1, 1};\n"
                    "    return im.w + (int)b.w - 2; }\n");
    snprintf(cmd, sizeof cmd, "%s -std=c11 -Wall -Werror -fsyntax-only -I%s/plugin %s", cc, root, src);
    cr_assert_eq(system(cmd), 0, "explain.h does not compile without a Darknet's include path: %s", cmd);
    snprintf(cmd, sizeof cmd,
             "cd %s && grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]darknet\\.h[>\"]' plugin "
             "--include='*.c' --include='*.h' | grep -v '^plugin/backends/' > %s/includers.txt", root, dir);
    cr_assert_neq(system(cmd), -1);
    char list[600];
    snprintf(list, sizeof list, "%s/includers.txt", dir);
    FILE *f = fopen(list, "r");
    cr_assert(f);
    char line[512] = "";
    int found = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    cr_expect(!found, "%s includes a Darknet's header outside plugin/backends/", line);
}
