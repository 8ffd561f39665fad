/* `darknet-explain all`: every method's outputs and the panel are committed at once (nothing is
 * written unless every method succeeded, even when the disk fills up or a rename fails). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include <stb_image.h>
#include "io/render.h"
#include "../tools/shapes.h"

/* The shapes models of cfg/ as "CFG WEIGHTS" arguments (absolute paths). */
static const char *shapes_model(const char *which)
{
    static __thread char args[1024];
    const char *root = getenv("DX_ROOT");
    snprintf(args, sizeof args, "%s/cfg/shapes-%s.cfg %s/cfg/shapes-%s.weights", root, which, root, which);
    return args;
}

/* dir/name: image `index` of the shapes set `seed`, size x size, with up to `objects` objects */
static void shapes_photo(const char *dir, const char *name, int seed, int index, int size, int objects)
{
    dx_image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(seed, index, size, objects, &photo, objs);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    dx_error err;
    cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
    dx_free_image(photo);
}

/* The entries of the last entries() call, for messages. */
static char listed[4096];

/* Entries of dir (hidden ones too) whose name starts with prefix; their names into listed. */
static int entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    cr_assert(d, "cannot list %s", dir);
    int n = 0;
    listed[0] = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        size_t used = strlen(listed);
        snprintf(listed + used, sizeof listed - used, " %s", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* Bytes of dir's files named prefix*, each rounded up to whole 4 KiB pages (as tmpfs counts). */
static long paged_bytes(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    long total = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!strncmp(e->d_name, prefix, strlen(prefix)) && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            total += (st.st_size + 4095) / 4096 * 4096;
    }
    if (d) closedir(d);
    return total;
}

/* Only the error line starts with the program's name; the others are progress lines. */
static void expect_one_error_line(const run_result *r, const char *needle)
{
    int errors = 0;
    for (const char *line = r->err; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
        if (!strncmp(line, "darknet-explain: ", 17)) errors++;
        else cr_expect(line[0] == '[', "not a progress line: %.80s", line);
    }
    cr_expect_eq(errors, 1, "stderr: %s", r->err);
    cr_expect(strstr(r->err, needle), "stderr does not say '%s': %s", needle, r->err);
}

/* A file system that fills up after the first method: exit 1 with one error line, and neither the
 * first method's files nor anything else stays. */
Test(all, a_full_disk_leaves_nothing, .timeout = 300)
{
    char dir[64], mnt[128], cmd[1024];
    snprintf(dir, sizeof dir, "/tmp/dx-test-XXXXXX");
    snprintf(mnt, sizeof mnt, "%s/small", mkdtemp(dir) ? dir : "/nonexistent");
    if (mkdir(mnt, 0777) != 0) cr_skip_test("cannot make %s", mnt);
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=64k tmpfs %s 2>/dev/null", mnt);
    if (system(cmd) != 0) cr_skip_test("cannot mount a tmpfs here (the test needs root)");

    char umount[256];
    snprintf(umount, sizeof umount, "umount -l %s", mnt);
    shapes_photo(dir, "photo.png", 3, 0, 200, 1);
    char ref[128];
    snprintf(ref, sizeof ref, "%s/ref", dir);
    char args[2048];
    snprintf(args, sizeof args, "all %s photo.png -methods gradcam,cam,lrp -out ref/m", shapes_model("classifier"));
    run_result r = {0};
    if (mkdir(ref, 0777) == 0) r = run_dx(dir, args);
    long first = paged_bytes(ref, "m_gradcam."), all = paged_bytes(ref, "m_");
    /* room for the first method's files and 16 pages more, far from all of them */
    snprintf(cmd, sizeof cmd, "mount -o remount,size=%ldk %s", (first + 16 * 4096) / 1024, mnt);
    int ready = r.status == 0 && first > 0 && all > first + 64 * 4096 && system(cmd) == 0;
    if (ready) {
        snprintf(args, sizeof args, "all %s photo.png -methods gradcam,cam,lrp -out small/m", shapes_model("classifier"));
        r = run_dx(dir, args);
    }
    int left = ready ? entries(mnt, "") : 0;
    cr_expect_eq(system(umount), 0, "%s", umount); /* before any assertion can end the test */
    cr_assert(ready, "the reference run (exit %d: %s) gave %ld bytes for the first method, %ld for all; %s", r.status,
              r.err, first, all, cmd);
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    expect_one_error_line(&r, strerror(ENOSPC));
    cr_expect_eq(left, 0, "%d files left on the full file system:%s", left, listed);
}

/* The last rename fails (the panel's name is taken by a folder): the methods' files already
 * renamed are removed again. */
Test(all, a_failed_rename_leaves_nothing)
{
    char dir[64], path[256];
    snprintf(dir, sizeof dir, "%s", classifier_fixture());
    snprintf(path, sizeof path, "%s/multi_panel.png", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    run_result r = run_dx(dir, "all net.cfg net.weights photo.png -methods gradcam,saliency -layer 5 -out multi");
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    expect_one_error_line(&r, "multi_panel.png: cannot write: ");
    cr_expect_eq(entries(dir, "multi_"), 1, "only the folder multi_panel.png may stay:%s", listed);
    cr_expect_eq(entries(dir, ".multi"), 0, "a staging folder stayed:%s", listed);
}

/* ---- progress, -resume ---- */

/* "[k/n] method S s" lines on stderr, one per method; how many name "kept". */
static int progress_lines(const char *err, const char *const *methods, int n, int *kept)
{
    int lines = 0;
    *kept = 0;
    for (const char *line = err; *line; ++lines) {
        int k, total;
        char name[64], rest[64];
        cr_assert_eq(sscanf(line, "[%d/%d] %63s %63s", &k, &total, name, rest), 4, "line %d: %.80s", lines, line);
        cr_expect_eq(k, lines + 1);
        cr_expect_eq(total, n);
        cr_expect_str_eq(name, methods[lines < n ? lines : 0]);
        double seconds;
        if (!strcmp(rest, "kept")) ++*kept;
        else cr_expect(sscanf(rest, "%lf", &seconds) == 1 && seconds >= 0, "line %d: %.80s", lines, line);
        const char *next = strchr(line, '\n');
        line = next ? next + 1 : line + strlen(line);
    }
    return lines;
}

Test(all, shows_progress_per_method)
{
    const char *dir = classifier_fixture();
    run_result r = run_dx(dir, "all net.cfg net.weights photo.png -methods gradcam,saliency -layer 5 -out multi");
    cr_assert_eq(r.status, 0, "%s", r.err);
    static const char *const methods[] = {"gradcam", "saliency"};
    int kept;
    cr_expect_eq(progress_lines(r.err, methods, 2, &kept), 2, "stderr: %s", r.err);
    cr_expect_eq(kept, 0);
}

/* A prefix that starts with a dot: its files are told from the staging folder's own. */
Test(all, a_hidden_prefix)
{
    const char *dir = classifier_fixture();
    run_result r = run_dx(dir, "all net.cfg net.weights photo.png -methods gradcam,saliency -layer 5 -out .hid");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(entries(dir, ".hid_"), 9, "four files per method and the panel:%s", listed);
    cr_expect_eq(entries(dir, ".hid_all"), 0, "the staging folder stayed:%s", listed);
}

static int same_bytes(const char *a, const char *b)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

/* The JSON without its "timings_ms" member (the one thing two runs of a method differ in). */
static void json_without_timings(const char *path, char *out, size_t len)
{
    read_text_into(path, out, len);
    char *t = strstr(out, "\"timings_ms\"");
    cr_assert(t, "%s has no timings_ms", path);
    char *end = strchr(t, '}');
    cr_assert(end);
    memmove(t, end + 1, strlen(end + 1) + 1);
}

/* Waits (two minutes at most) for path to exist while pid runs; 1 if it showed. */
static int wait_for(const char *path, pid_t pid)
{
    struct timespec ms = {0, 1000000};
    for (int k = 0; k < 120000; ++k) {
        if (access(path, F_OK) == 0) return 1;
        if (waitpid(pid, NULL, WNOHANG) == pid) return 0;
        nanosleep(&ms, NULL);
    }
    return 0;
}

static const char *const resume_methods[] = {"gradcam", "cam", "rise", "lrp"};

/* Killed by SIGTERM once two of four methods are finished (rise, the slow one, runs), then `all
 * ... -resume`: the finished ones are kept, not recomputed (their files are the interrupted run's,
 * timings included), the others are computed, and every output equals an uninterrupted run's. */
Test(all, resume_after_sigterm_keeps_the_finished_methods, .timeout = 600)
{
    char dir[64], path[512], other[512];
    snprintf(dir, sizeof dir, "%s", temp_dir());
    shapes_photo(dir, "photo.png", 3, 1, 120, 1);
    char model[1024], args[2048];
    snprintf(model, sizeof model, "%s", shapes_model("classifier"));
    static const char *const common = "photo.png -methods gradcam,cam,rise,lrp -masks 300";
    snprintf(path, sizeof path, "%s/ref", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    snprintf(args, sizeof args, "all %s %s -out ref/m", model, common);
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);

    snprintf(path, sizeof path, "%s/out", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    const char *cfg = strtok(model, " "), *weights = strtok(NULL, " ");
    const char *argv[] = {getenv("DX_CLI"), "all", cfg, weights, "photo.png", "-methods", "gradcam,cam,rise,lrp",
                          "-masks", "300", "-out", "out/m", NULL};
    pid_t pid = spawn_dx(dir, argv);
    snprintf(path, sizeof path, "%s/out/.m_all.part/.cam.done", dir);
    int seen = wait_for(path, pid);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(seen, "cam never finished");
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x", status);
    snprintf(path, sizeof path, "%s/out", dir);
    cr_expect_eq(entries(path, "m_"), 0, "outputs of an interrupted run:%s", listed);
    int finished = 0;
    static char staged[4][8192];
    for (int i = 0; i < 4; ++i) {
        snprintf(path, sizeof path, "%s/out/.m_all.part/.%s.done", dir, resume_methods[i]);
        finished += access(path, F_OK) == 0;
        snprintf(path, sizeof path, "%s/out/.m_all.part/m_%s.json", dir, resume_methods[i]);
        read_text_into(path, staged[i], sizeof staged[i]);
    }
    cr_assert(finished >= 2 && finished < 4, "%d methods finished", finished);
    snprintf(path, sizeof path, "%s/out/.m_all.part", dir);
    cr_expect_eq(entries(path, "m_rise.png"), 0, "rise's part file stayed:%s", listed);

    snprintf(args, sizeof args, "all %s %s %s -out out/m -resume", cfg, weights, common);
    r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    int kept;
    cr_expect_eq(progress_lines(r.err, resume_methods, 4, &kept), 4, "stderr: %s", r.err);
    cr_expect_eq(kept, finished, "stderr: %s", r.err);
    for (int i = 0; i < 4; ++i) {
        static const char *const suffixes[] = {".png", ".npy", ".raw.npy"};
        for (int k = 0; k < 3; ++k) {
            snprintf(path, sizeof path, "%s/out/m_%s%s", dir, resume_methods[i], suffixes[k]);
            snprintf(other, sizeof other, "%s/ref/m_%s%s", dir, resume_methods[i], suffixes[k]);
            cr_expect(same_bytes(path, other), "%s differs from %s", path, other);
        }
        static char json[8192], ref[8192];
        snprintf(path, sizeof path, "%s/out/m_%s.json", dir, resume_methods[i]);
        snprintf(other, sizeof other, "%s/ref/m_%s.json", dir, resume_methods[i]);
        if (i < finished) {
            read_text_into(path, json, sizeof json);
            cr_expect_str_eq(json, staged[i], "%s was recomputed", path);
        }
        json_without_timings(path, json, sizeof json);
        json_without_timings(other, ref, sizeof ref);
        cr_expect_str_eq(json, ref, "%s differs from %s beyond its timings", path, other);
    }
    snprintf(path, sizeof path, "%s/out/m_panel.png", dir);
    snprintf(other, sizeof other, "%s/ref/m_panel.png", dir);
    cr_expect(same_bytes(path, other), "%s differs from %s", path, other);
    snprintf(path, sizeof path, "%s/out", dir);
    cr_expect_eq(entries(path, ".m_all"), 0, "the staging folder stayed:%s", listed);
}

/* -resume reuses only a run of the same parameters; without -resume a leftover is started over. */
Test(all, resume_refuses_other_parameters)
{
    char dir[64], stage[256], marker[300];
    snprintf(dir, sizeof dir, "%s", classifier_fixture());
    snprintf(stage, sizeof stage, "%s/.multi_all.part", dir);
    cr_assert_eq(mkdir(stage, 0777), 0);
    snprintf(marker, sizeof marker, "%s/.params", stage);
    FILE *f = fopen(marker, "w");
    cr_assert(f);
    fputs("darknet-explain (another command)\n", f);
    fclose(f);
    run_result r = run_dx(dir, "all net.cfg net.weights photo.png -methods gradcam,saliency -layer 5 -out multi -resume");
    cr_expect_eq(r.status, 1, "%s", r.err);
    expect_one_error_line(&r, ".multi_all.part: left by `all` with other options or input files: cannot resume");
    cr_expect_eq(access(marker, F_OK), 0, "the other run's staging folder was touched");
    cr_expect_eq(entries(dir, "multi_"), 0, "%s", listed);
    r = run_dx(dir, "all net.cfg net.weights photo.png -methods gradcam,saliency -layer 5 -out multi");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(entries(dir, "multi_"), 9, "four files per method and the panel:%s", listed);
    cr_expect_eq(entries(dir, ".multi_all"), 0, "the staging folder stayed:%s", listed);
    r = run_dx(dir, "gradcam net.cfg net.weights photo.png -resume");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "-resume goes with 'all'"), "%s", r.err);
}

/* ---- detectors: -boxes all ---- */

/* The first image of a shapes set with two boxes or more above -thresh, as dir/photo.png. */
static int two_box_photo(const char *dir)
{
    char cfg[1024], weights[1024];
    snprintf(cfg, sizeof cfg, "%s", shapes_model("detector"));
    *strchr(cfg, ' ') = 0;
    snprintf(weights, sizeof weights, "%s", strchr(shapes_model("detector"), ' ') + 1);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    for (int index = 0; index < 50; ++index) {
        dx_image photo;
        shapes_object objs[SHAPES_MAX_OBJECTS];
        shapes_draw(5, index, 128, 3, &photo, objs);
        dx_request req;
        dx_request_init(&req);
        dx_detection *boxes;
        int n;
        cr_assert_eq(dx_detect_image(m, photo, &req, &boxes, &n, &err), 0, "%s", err.msg);
        free(boxes);
        if (n >= 2) {
            char path[512];
            snprintf(path, sizeof path, "%s/photo.png", dir);
            cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
            dx_free_image(photo);
            dx_close(m);
            return n;
        }
        dx_free_image(photo);
    }
    cr_assert_fail("no image of the shapes set 5 has two boxes");
    return 0;
}

/* Each method's box outputs (as the method alone writes them) and a panel per box. */
Test(all, boxes_all_on_a_detector, .timeout = 300)
{
    char dir[64], path[512], other[512], args[2048];
    snprintf(dir, sizeof dir, "%s", temp_dir());
    int n = two_box_photo(dir);
    static const char *const methods[] = {"gradcam", "saliency"};
    snprintf(args, sizeof args, "all %s photo.png -boxes all -methods gradcam,saliency -out d", shapes_model("detector"));
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    for (int i = 0; i < 2; ++i) {
        snprintf(args, sizeof args, "%s %s photo.png -boxes all -out single_%s", methods[i], shapes_model("detector"),
                 methods[i]);
        run_result alone = run_dx(dir, args);
        cr_assert_eq(alone.status, 0, "%s", alone.err);
        for (int k = 0; k <= n; ++k)
            for (int npy = 0; npy < (k < n ? 2 : 1); ++npy) {
                char name[64];
                if (k < n) snprintf(name, sizeof name, "%s_box%d.%s", methods[i], k, npy ? "npy" : "png");
                else snprintf(name, sizeof name, "%s_boxes.png", methods[i]);
                snprintf(path, sizeof path, "%s/d_%s", dir, name);
                snprintf(other, sizeof other, "%s/single_%s", dir, name);
                cr_expect(same_bytes(path, other), "%s differs from %s", path, other);
            }
        snprintf(path, sizeof path, "%s/d_%s.json", dir, methods[i]);
        cr_expect_eq(access(path, R_OK), 0, "no %s", path);
    }
    for (int k = 0; k < n; ++k) {
        snprintf(path, sizeof path, "%s/d_panel_box%d.png", dir, k);
        int w, h, channels;
        cr_expect(stbi_info(path, &w, &h, &channels), "%s is not a PNG", path);
        cr_expect(w >= 2 * 128, "%s is %d wide: not a tile per method", path, w);
        char line[64];
        snprintf(line, sizeof line, "box%d ", k);
        cr_expect(strstr(r.out, line) && strstr(r.out, path + strlen(dir) + 1), "stdout: %s", r.out);
    }
    snprintf(path, sizeof path, "%s/d_panel_box0.png", dir);
    snprintf(other, sizeof other, "%s/d_panel_box1.png", dir);
    cr_expect_not(same_bytes(path, other), "the boxes' panels are the same");
    cr_expect_eq(entries(dir, "d_"), 2 * (2 * n + 2) + n,
                 "per method the box maps, the boxes' figure and the JSON; a panel per box:%s", listed);
    cr_expect_eq(entries(dir, ".d_"), 0, "the staging folder stayed:%s", listed);

    /* all or nothing: the last panel's name is taken */
    snprintf(path, sizeof path, "%s/e_panel_box%d.png", dir, n - 1);
    cr_assert_eq(mkdir(path, 0777), 0);
    snprintf(args, sizeof args, "all %s photo.png -boxes all -methods gradcam,saliency -out e", shapes_model("detector"));
    r = run_dx(dir, args);
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    expect_one_error_line(&r, "cannot write");
    cr_expect_eq(entries(dir, "e_"), 1, "only the folder may stay:%s", listed);
}

/* Where the w x h block of b (row stride bw) at (bx, by) lies in a (row stride aw, aw x ah),
 * pixel for pixel; 0 when it does not. */
static int find_block(const unsigned char *a, int aw, int ah, const unsigned char *b, int bw, int bx, int by, int w,
                      int h)
{
    for (int y = 0; y + h <= ah; ++y)
        for (int x = 0; x + w <= aw; ++x) {
            int same = 1;
            for (int r = 0; r < h && same; ++r)
                same = !memcmp(a + 3 * ((size_t)(y + r) * aw + x), b + 3 * ((size_t)(by + r) * bw + bx), 3 * (size_t)w);
            if (same) return 1;
        }
    return 0;
}

/* Each map of the panel is drawn as its method's own figure draws it (the same scale, blend and
 * opacity): a pixel-level map's tile was drawn as a CAM map's (unclipped, a constant blend)
 * because the panel did not know its layer. */
Test(all, panel_tiles_are_the_methods_figures)
{
    const char *dir = classifier_fixture();
    static const char *const methods[] = {"gradcam", "saliency", "inputxgrad"};
    run_result r = run_dx(dir, "all net.cfg net.weights photo.png -methods gradcam,saliency,inputxgrad -out p");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char path[512];
    int pw, ph, c, fw, fh, px, py;
    snprintf(path, sizeof path, "%s/p_panel.png", dir);
    unsigned char *panel = stbi_load(path, &pw, &ph, &c, 3);
    cr_assert_not_null(panel, "%s", path);
    dx_label_place none;
    cr_assert_eq(dx_render_label_layout(40, 30, NULL, 0, &px, &py, &none), 0); /* the fixture's photo is 40x30 */
    for (int k = 0; k < 3; ++k) {
        snprintf(path, sizeof path, "%s/p_%s.png", dir, methods[k]);
        unsigned char *fig = stbi_load(path, &fw, &fh, &c, 3);
        cr_assert_not_null(fig, "%s", path);
        cr_expect(find_block(panel, pw, ph, fig, fw, px, py, 40, 30), "%s: its figure's map is not in the panel",
                  methods[k]);
        stbi_image_free(fig);
    }
    stbi_image_free(panel);
}
