/* `darknet-explain all`: every method's outputs and the panel are committed at once (nothing is
 * written unless every method succeeded, even when the disk fills up or a rename fails). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"
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
    image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(seed, index, size, objects, &photo, objs);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    dx_error err;
    cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
    free_image(photo);
}

/* Entries of dir (hidden ones too) whose name starts with prefix, each logged. */
static int entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    cr_assert(d, "cannot list %s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        cr_log_warn("%s/%s", dir, e->d_name);
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

    shapes_photo(dir, "photo.png", 3, 0, 200, 1);
    char ref[128];
    snprintf(ref, sizeof ref, "%s/ref", dir);
    cr_assert_eq(mkdir(ref, 0777), 0);
    char args[2048];
    snprintf(args, sizeof args, "all %s photo.png -methods gradcam,cam,lrp -out ref/m", shapes_model("classifier"));
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    long first = paged_bytes(ref, "m_gradcam."), all = paged_bytes(ref, "m_");
    /* room for the first method's files and 16 pages more, far from all of them */
    cr_assert_gt(all, first + 64 * 4096, "first method %ld bytes, all %ld", first, all);
    snprintf(cmd, sizeof cmd, "mount -o remount,size=%ldk %s", (first + 16 * 4096) / 1024, mnt);
    cr_assert_eq(system(cmd), 0, "%s", cmd);

    snprintf(args, sizeof args, "all %s photo.png -methods gradcam,cam,lrp -out small/m", shapes_model("classifier"));
    r = run_dx(dir, args);
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    expect_one_error_line(&r, strerror(ENOSPC));
    cr_expect_eq(entries(mnt, ""), 0, "files left on the full file system");
    snprintf(cmd, sizeof cmd, "umount -l %s", mnt);
    cr_expect_eq(system(cmd), 0);
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
    cr_expect_eq(entries(dir, "multi_"), 1, "only the folder multi_panel.png may stay");
    cr_expect_eq(entries(dir, ".multi"), 0, "a staging folder stayed");
}
