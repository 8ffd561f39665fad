/* make install / uninstall / deb: exactly the files promised, the README's C API example built
 * against the installed headers and library through pkg-config and run, the man page saying
 * what -h says, the Debian package's files, fields and dependencies. Each test works in a
 * temporary folder; nothing is installed on the machine. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "options.h"
#include "eval/eval.h"

/* Runs a shell command, stderr merged into stdout; returns its exit status (-1: killed) and what
 * it printed (at most len - 1 bytes) in out. */
static int sh(char *out, size_t len, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char wrapped[8300];
    snprintf(wrapped, sizeof wrapped, "(%s) 2>&1", cmd);
    FILE *p = popen(wrapped, "r");
    cr_assert(p, "cannot run %s", cmd);
    size_t n = 0, got;
    char sink[4096];
    while ((got = fread(n + 1 < len ? out + n : sink, 1, n + 1 < len ? len - 1 - n : sizeof sink, p)) > 0)
        if (n + 1 < len) n += got;
    out[n] = 0;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int have(const char *tools)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "for t in %s; do command -v $t >/dev/null || exit 1; done", tools);
    return system(cmd) == 0;
}

/* make in the project: the running suite's build (make test passes DX_MAKE), without the jobserver
 * of a make that may be running this suite */
static const char *make_in_project(void)
{
    static char cmd[2048];
    const char *m = getenv("DX_MAKE");
    if (m) snprintf(cmd, sizeof cmd, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL %s", m);
    else snprintf(cmd, sizeof cmd, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C %s", getenv("DX_ROOT"));
    return cmd;
}

/* runs of white space become one space, none at either end: text as a reader compares it */
static void collapse(char *s)
{
    char *w = s;
    for (const char *r = s; *r; ++r) {
        if (*r == ' ' || *r == '\n' || *r == '\t') {
            if (w > s && w[-1] != ' ') *w++ = ' ';
        } else *w++ = *r;
    }
    if (w > s && w[-1] == ' ') --w;
    *w = 0;
}

/* The README's example compiled in dir with the flags `pkg-config` gives for the installed
 * darknet-explain.pc in pc_dir (its prefix moved to prefix: the files are staged, not installed),
 * then run on the fixture's model and photo with the library from lib_dir. Checks what it prints
 * and writes and that it loaded lib_dir's library. */
static void build_and_run_example(const char *dir, const char *pc_dir, const char *prefix, const char *lib_dir,
                                  const char *extra_cflags)
{
    char flags[2048], out[8192], src[600];
    cr_assert_eq(sh(flags, sizeof flags, "PKG_CONFIG_PATH=%s pkg-config --define-variable=prefix=%s --cflags --libs darknet-explain",
                    pc_dir, prefix), 0, "pkg-config: %s", flags);
    flags[strcspn(flags, "\n")] = 0;
    cr_assert(strstr(flags, "-ldarknet-explain") && strstr(flags, prefix), "pkg-config gave %s", flags);
    snprintf(src, sizeof src, "%s/example.c", dir);
    write_text(src, readme_c_api_example());
    cr_assert_eq(sh(out, sizeof out, "cd %s && %s %s example.c -o example %s", dir, getenv("DX_CC"), extra_cflags, flags),
                 0, "the README example does not compile against the installed files (%s): %s", flags, out);
    cr_assert_eq(sh(out, sizeof out, "cd %s && rm -f explained.* && LD_LIBRARY_PATH=%s ./example net.cfg net.weights photo.png",
                    dir, lib_dir), 0, "the example failed: %s", out);
    int cls, h, w;
    float peak;
    cr_expect_eq(sscanf(out, "class %d: map %dx%d, peak %f", &cls, &h, &w, &peak), 4, "output: %s", out);
    cr_expect_eq(h, 30);
    cr_expect_eq(w, 40);
    char json[700];
    snprintf(json, sizeof json, "%s/explained.json", dir);
    cr_expect(access(json, R_OK) == 0, "the example wrote no explained.json");
    char want[700];
    snprintf(want, sizeof want, "libdarknet-explain.so.0 => %s/libdarknet-explain.so.0", lib_dir);
    sh(out, sizeof out, "cd %s && LD_LIBRARY_PATH=%s ldd ./example", dir, lib_dir);
    cr_expect(strstr(out, want), "the example did not load the installed library: %s", out);
}

/* The flags of DX_CFLAGS that instrument for the sanitizers: a program loading this build's
 * (instrumented) library must be instrumented too. */
static void sanitizer_flags(char *out, size_t len)
{
    char flags[4096];
    snprintf(flags, sizeof flags, "%s", getenv("DX_CFLAGS"));
    out[0] = 0;
    for (char *t = strtok(flags, " "); t; t = strtok(NULL, " "))
        if (!strncmp(t, "-fsanitize", 10) || !strncmp(t, "-fno-sanitize", 13) || !strcmp(t, "-fno-omit-frame-pointer"))
            snprintf(out + strlen(out), len - strlen(out), "%s ", t);
}

Test(install, stage_example_uninstall, .timeout = 600)
{
    if (!have("make pkg-config readelf ldd nm")) cr_skip_test("needs make, pkg-config, binutils, ldd");
    cr_assert(getenv("DX_ROOT") && getenv("DX_CC") && getenv("DX_CFLAGS"), "run through make test");
    const char *dir = classifier_fixture();
    char stage[512], out[16384], expected[2048];
    snprintf(stage, sizeof stage, "%s/stage", dir);
    cr_assert_eq(sh(out, sizeof out, "%s install DESTDIR=%s", make_in_project(), stage), 0, "make install: %s", out);

    const char *v = DX_VERSION;
    snprintf(expected, sizeof expected,
             "usr/local/bin/darknet-explain \n"
             "usr/local/include/darknet-explain/eval/eval.h \n"
             "usr/local/include/darknet-explain/explain.h \n"
             "usr/local/lib/libdarknet-explain.a \n"
             "usr/local/lib/libdarknet-explain.so libdarknet-explain.so.%s\n"
             "usr/local/lib/libdarknet-explain.so.0 libdarknet-explain.so.%s\n"
             "usr/local/lib/libdarknet-explain.so.%s \n"
             "usr/local/lib/pkgconfig/darknet-explain.pc \n"
             "usr/local/share/doc/darknet-explain/README.md \n"
             "usr/local/share/man/man1/darknet-explain.1 \n",
             v, v, v);
    sh(out, sizeof out, "cd %s && find . \\( -type f -o -type l \\) -printf '%%P %%l\\n' | LC_ALL=C sort", stage);
    cr_assert_str_eq(out, expected, "make install put there (file, link target):\n%s", out);
    cr_assert_eq(sh(out, sizeof out, "readelf -d %s/usr/local/lib/libdarknet-explain.so.%s | grep SONAME", stage, v), 0);
    cr_expect(strstr(out, "[libdarknet-explain.so.0]"), "soname: %s", out);
    cr_assert_eq(sh(out, sizeof out, "PKG_CONFIG_PATH=%s/usr/local/lib/pkgconfig pkg-config --modversion darknet-explain", stage), 0);
    cr_expect_eq(strncmp(out, v, strlen(v)), 0, "the .pc's version is %s", out);

    /* the README's example against the staged headers and shared library (the prefix moved into
     * the stage with --define-variable: PKG_CONFIG_SYSROOT_DIR would move Darknet's paths too) */
    char pc_dir[600], prefix[600], lib_dir[600], san[256];
    snprintf(pc_dir, sizeof pc_dir, "%s/usr/local/lib/pkgconfig", stage);
    snprintf(prefix, sizeof prefix, "%s/usr/local", stage);
    snprintf(lib_dir, sizeof lib_dir, "%s/usr/local/lib", stage);
    sanitizer_flags(san, sizeof san);
    build_and_run_example(dir, pc_dir, prefix, lib_dir, san);
    /* linked with the staged static library instead, as docs/install.md says: nothing to load
     * but Darknet's and the system's libraries */
    char out2[8192];
    cr_assert_eq(sh(out, sizeof out, "cd %s && %s %s example.c -o example-static $(PKG_CONFIG_PATH=%s pkg-config "
                    "--define-variable=prefix=%s --cflags darknet-explain) %s/libdarknet-explain.a "
                    "-L/usr/lib/darknet -Wl,-rpath,/usr/lib/darknet -ldarknet -ljpeg -lopenblas -lm -lpthread",
                    dir, getenv("DX_CC"), san, pc_dir, prefix, lib_dir), 0, "static link: %s", out);
    cr_assert_eq(sh(out, sizeof out, "cd %s && ./example-static net.cfg net.weights photo.png && ldd ./example-static", dir), 0,
                 "%s", out);
    cr_assert_eq(sh(out2, sizeof out2, "cd %s && LD_LIBRARY_PATH=%s ./example net.cfg net.weights photo.png", dir, lib_dir), 0);
    cr_expect_eq(strncmp(out, out2, strlen(out2)), 0, "static: %s\nshared: %s", out, out2);
    cr_expect(!strstr(out, "libdarknet-explain"), "the static example loads %s", strstr(out, "libdarknet-explain"));
    /* with the library's own stb, not the older copy libdarknet.so exports */
    cr_assert_eq(sh(out, sizeof out, "nm %s/example-static | grep -E ' stbi_load$'", dir), 0);
    cr_expect(strstr(out, " T stbi_load"), "the static example takes stbi_load from Darknet: %s", out);
    /* the installed program */
    cr_assert_eq(sh(out, sizeof out, "cd %s && %s/usr/local/bin/darknet-explain gradcam net.cfg net.weights photo.png -out cli",
                    dir, stage), 0, "the installed darknet-explain: %s", out);
    cr_expect(strstr(out, "wrote cli.png cli.npy cli.raw.npy cli.json"), "%s", out);

    cr_assert_eq(sh(out, sizeof out, "%s uninstall DESTDIR=%s", make_in_project(), stage), 0, "make uninstall: %s", out);
    sh(out, sizeof out, "cd %s && find . \\( -type f -o -type l -o -name '*darknet-explain*' \\) -printf '%%P\\n'", stage);
    cr_expect_str_eq(out, "", "make uninstall left:\n%s", out);
}

/* Every row and text of -h in the man page (as groff renders it, white space collapsed). */
static int expect_rows_in(const char *man, const char *help, const char *title)
{
    int rows = 0;
    char line[1024];
    for (const char *p = help; *p;) {
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
        p += n + (p[n] == '\n');
        if (strncmp(line, "  ", 2) || line[2] == ' ') continue; /* rows start "  -flag" or "  metric" */
        collapse(line);
        cr_expect(strstr(man, line), "%s: the man page lacks '%s'", title, line);
        ++rows;
    }
    return rows;
}

/* What `darknet-explain ARGS` prints between its usage line and its last line. */
static void help_body(const char *args, char *out, size_t len)
{
    char text[16384];
    cr_assert_eq(sh(text, sizeof text, "%s %s", getenv("DX_CLI"), args), 0, "%s: %s", args, text);
    char *start = strchr(text, '\n'), *end = strstr(text, "\n(and the options of every method");
    cr_assert(start && end && end > start, "%s printed: %s", args, text);
    snprintf(out, len, "%.*s", (int)(end - start), start);
    collapse(out);
}

Test(install, man_page_says_what_help_says, .timeout = 120)
{
    if (!have("groff")) cr_skip_test("needs groff");
    const char *cli = getenv("DX_CLI");
    cr_assert(cli, "run through make test");
    char page[1200], out[16384];
    snprintf(page, sizeof page, "%.*s/darknet-explain.1", (int)(strrchr(cli, '/') - cli), cli);
    cr_assert(access(page, R_OK) == 0, "no %s (make test builds it)", page);
    cr_assert_eq(sh(out, sizeof out, "groff -man -ww -z %s", page), 0);
    cr_expect_str_eq(out, "", "groff warns about the man page: %s", out);
    static char man[1 << 18];
    cr_assert_eq(sh(man, sizeof man, "groff -man -Tascii -P-c -P-b -P-u -P-o %s", page), 0);
    collapse(man);

    size_t n_cli, n_eval;
    dx_cli_option_table(&n_cli);
    dx_eval_option_table(&n_eval);
    cr_assert_eq(sh(out, sizeof out, "%s -h", cli), 0);
    cr_expect_eq(expect_rows_in(man, out, "-h"), (int)n_cli, "-h's option rows");
    cr_assert_eq(sh(out, sizeof out, "%s eval -h", cli), 0);
    cr_expect_eq(expect_rows_in(man, out, "eval -h"), (int)(n_eval + DX_METRIC_COUNT), "eval -h's option and metric rows");
    static char body[16384];
    for (int k = 0; k < DX_METHOD_COUNT; ++k) {
        char args[64];
        snprintf(args, sizeof args, "%s -h", dx_method_name((dx_method)k));
        help_body(args, body, sizeof body);
        cr_expect(strlen(body) > 40 && strstr(man, body), "the man page lacks %s's help: %s", args, body);
    }
    help_body("all -h", body, sizeof body);
    cr_expect(strlen(body) > 40 && strstr(man, body), "the man page lacks all's help: %s", body);
}

Test(install, deb, .timeout = 900)
{
    if (!have("make dpkg-deb dpkg-shlibdeps dpkg-buildflags dpkg-architecture apt-get pkg-config md5sum"))
        cr_skip_test("needs make, dpkg-dev, apt-get, pkg-config");
    cr_assert(getenv("DX_ROOT") && getenv("DX_CC") && getenv("DX_CLI"), "run through make test");
    const char *dir = classifier_fixture();
    char out[16384], arch[64], multiarch[128], deb[700], x[600], expected[2048];
    /* its own build (Debian's flags, build-deb/), whatever this suite's build is */
    cr_assert_eq(sh(out, sizeof out, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C %s deb DEB_DIR=%s",
                    getenv("DX_ROOT"), dir), 0, "make deb: %s", out);
    cr_assert_eq(sh(arch, sizeof arch, "dpkg --print-architecture"), 0);
    cr_assert_eq(sh(multiarch, sizeof multiarch, "dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null"), 0);
    arch[strcspn(arch, "\n")] = 0;
    multiarch[strcspn(multiarch, "\n")] = 0;
    const char *v = DX_VERSION;
    snprintf(deb, sizeof deb, "%s/darknet-explain_%s_%s.deb", dir, v, arch);
    cr_assert(access(deb, R_OK) == 0, "make deb wrote no %s", deb);

    const char *m = multiarch;
    snprintf(expected, sizeof expected,
             "usr/bin/darknet-explain \n"
             "usr/include/darknet-explain/eval/eval.h \n"
             "usr/include/darknet-explain/explain.h \n"
             "usr/lib/%s/libdarknet-explain.a \n"
             "usr/lib/%s/libdarknet-explain.so libdarknet-explain.so.%s\n"
             "usr/lib/%s/libdarknet-explain.so.0 libdarknet-explain.so.%s\n"
             "usr/lib/%s/libdarknet-explain.so.%s \n"
             "usr/lib/%s/pkgconfig/darknet-explain.pc \n"
             "usr/share/doc/darknet-explain/README.md.gz \n"
             "usr/share/doc/darknet-explain/changelog.gz \n"
             "usr/share/doc/darknet-explain/copyright \n"
             "usr/share/lintian/overrides/darknet-explain \n"
             "usr/share/man/man1/darknet-explain.1.gz \n",
             m, m, v, m, v, m, v, m);
    cr_assert_eq(sh(out, sizeof out, "dpkg-deb -c %s | awk '$1 !~ /^d/ {print substr($6, 3), $8}' | LC_ALL=C sort", deb), 0);
    cr_expect_str_eq(out, expected, "the package holds (file, link target):\n%s", out);

    char want[700];
    cr_assert_eq(sh(out, sizeof out, "dpkg-deb -f %s Package Version Architecture", deb), 0);
    snprintf(want, sizeof want, "Package: darknet-explain\nVersion: %s\nArchitecture: %s\n", v, arch);
    cr_expect_str_eq(out, want);
    /* Depends: libc6, libjpeg and OpenBLAS as dpkg-shlibdeps finds them; the installed Darknet's upstream
     * snapshot, whose darknet.h the plugin was compiled with */
    char darknet[256];
    cr_assert_eq(sh(darknet, sizeof darknet, "dpkg-query -W -f '${Version}' darknet"), 0);
    *strrchr(darknet, '-') = 0;
    cr_assert_eq(sh(out, sizeof out, "dpkg-deb -f %s Depends", deb), 0);
    snprintf(want, sizeof want, "darknet (>= %s), darknet (<< %s+)", darknet, darknet);
    cr_expect(strstr(out, "libc6 (>= ") && strstr(out, "libopenblas0") && strstr(out, "libjpeg62-turbo") && strstr(out, want),
              "Depends: %s", out);
    /* oneDNN is loaded at run time (plugin/layers/conv_onednn.c): recommended, not linked */
    cr_assert_eq(sh(out, sizeof out, "dpkg-deb -f %s Recommends", deb), 0);
    cr_expect_str_eq(out, "libdnnl2\n", "Recommends: %s", out);

    /* unpacked: checksums, the program, the README's example against its headers and library */
    snprintf(x, sizeof x, "%s/x", dir);
    cr_assert_eq(sh(out, sizeof out, "dpkg-deb -x %s %s && dpkg-deb -e %s %s/DEBIAN && cd %s && md5sum --quiet -c DEBIAN/md5sums",
                    deb, x, deb, x, x), 0, "%s", out);
    char help[8192];
    cr_assert_eq(sh(help, sizeof help, "%s -h", getenv("DX_CLI")), 0);
    cr_assert_eq(sh(out, sizeof out, "%s/usr/bin/darknet-explain -h", x), 0, "%s", out);
    cr_expect_str_eq(out, help, "the packaged program's -h differs from the build's");
    cr_assert_eq(sh(out, sizeof out, "cd %s && %s/usr/bin/darknet-explain gradcam net.cfg net.weights photo.png -out deb", dir, x),
                 0, "the packaged darknet-explain: %s", out);
    cr_expect(strstr(out, "wrote deb.png deb.npy deb.raw.npy deb.json"), "%s", out);
    char pc_dir[800], prefix[700], lib_dir[800];
    snprintf(pc_dir, sizeof pc_dir, "%s/usr/lib/%s/pkgconfig", x, m);
    snprintf(prefix, sizeof prefix, "%s/usr", x);
    snprintf(lib_dir, sizeof lib_dir, "%s/usr/lib/%s", x, m);
    build_and_run_example(dir, pc_dir, prefix, lib_dir, "");

    /* apt resolves its dependencies on this machine (a simulation: nothing is installed) */
    int rc = sh(out, sizeof out, "apt-get -s -o Debug::NoLocking=1 install %s", deb);
    snprintf(want, sizeof want, "Inst darknet-explain (%s ", v);
    cr_expect(rc == 0 && strstr(out, want), "apt-get -s install: %s", out);
    if (have("lintian")) { /* not in make deps: checked where it is installed */
        rc = sh(out, sizeof out, "lintian --fail-on error,warning %s", deb);
        cr_expect_eq(rc, 0, "lintian: %s", out);
    }
}
