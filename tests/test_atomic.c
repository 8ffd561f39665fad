/* The atomic part-file writer (io/atomic.h): a set of files appears whole or not at all, and
 * SIGINT, SIGTERM and SIGHUP remove its part files before the process dies of that signal. The
 * standard outputs, `all` and eval's run.json, summary.json and report.html go through it. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "eval/results.h"
#include "io/atomic.h"
#include "io/render.h"

static void put_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void expect_text(const char *path, const char *text)
{
    char buf[256];
    read_text_into(path, buf, sizeof buf);
    cr_expect_str_eq(buf, text, "%s", path);
}

/* dir/a, dir/b, dir/c as one set with text in each */
static int write_set(const char *dir, const char *text, int rc, dx_error *err)
{
    dx_atomic_set set = {0};
    for (const char *name = "abc"; *name; ++name) {
        char final[256];
        snprintf(final, sizeof final, "%s/%c", dir, *name);
        const char *part = dx_atomic_add(&set, final, err);
        cr_assert(part, "%s", err->msg);
        cr_assert_eq(strcmp(part + strlen(final), ".part"), 0, "part %s", part);
        put_text(part, text);
    }
    return dx_atomic_commit(&set, rc, err);
}

Test(atomic, a_set_is_renamed_only_when_every_file_was_written)
{
    char dir[64], path[256];
    snprintf(dir, sizeof dir, "%s", temp_dir());
    dx_error err = {{0}};
    cr_assert_eq(write_set(dir, "old", 0, &err), 0, "%s", err.msg);
    for (const char *n = "abc"; *n; ++n) {
        snprintf(path, sizeof path, "%s/%c", dir, *n);
        expect_text(path, "old");
    }
    /* a writer failed (rc -1): the old files stay, no part is left */
    snprintf(err.msg, sizeof err.msg, "the writer's own message");
    cr_assert_eq(write_set(dir, "new", -1, &err), -1);
    cr_expect_str_eq(err.msg, "the writer's own message");
    for (const char *n = "abc"; *n; ++n) {
        snprintf(path, sizeof path, "%s/%c", dir, *n);
        expect_text(path, "old");
        snprintf(path, sizeof path, "%s/%c.part", dir, *n);
        cr_expect_not(exists(path), "%s left behind", path);
    }
}

Test(atomic, a_failed_rename_removes_the_files_already_renamed)
{
    char dir[64], path[256];
    snprintf(dir, sizeof dir, "%s", temp_dir());
    snprintf(path, sizeof path, "%s/c", dir);
    cr_assert_eq(mkdir(path, 0777), 0); /* c's rename fails: a directory */
    dx_error err = {{0}};
    cr_assert_eq(write_set(dir, "new", 0, &err), -1);
    cr_expect(strstr(err.msg, path) && strstr(err.msg, strerror(EISDIR)), "message: %s", err.msg);
    for (const char *n = "ab"; *n; ++n) {
        snprintf(path, sizeof path, "%s/%c", dir, *n);
        cr_expect_not(exists(path), "%s was renamed and left", path);
    }
    for (const char *n = "abc"; *n; ++n) {
        snprintf(path, sizeof path, "%s/%c.part", dir, *n);
        cr_expect_not(exists(path), "%s left behind", path);
    }
}

Test(atomic, adopted_files_are_renamed_with_the_set)
{
    char dir[64], staged[256], final[256], other[256];
    snprintf(dir, sizeof dir, "%s", temp_dir());
    snprintf(staged, sizeof staged, "%s/staged", dir);
    snprintf(final, sizeof final, "%s/x", dir);
    snprintf(other, sizeof other, "%s/y", dir);
    put_text(staged, "kept");
    dx_error err = {{0}};
    dx_atomic_set set = {0};
    cr_assert_eq(dx_atomic_adopt(&set, staged, final, &err), 0, "%s", err.msg);
    const char *part = dx_atomic_add(&set, other, &err);
    cr_assert(part, "%s", err.msg);
    put_text(part, "fresh");
    cr_assert_eq(dx_atomic_commit(&set, 0, &err), 0, "%s", err.msg);
    expect_text(final, "kept");
    expect_text(other, "fresh");
    cr_expect_not(exists(staged));
}

/* In a child: a live part of eval's writer (dx_eval_file), a live set of two parts, then the
 * signal. The parent: the child died of that signal and left no part and no final file. */
static void expect_signal_removes_parts(int sig)
{
    char dir[64], path[256];
    snprintf(dir, sizeof dir, "%s", temp_dir());
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        dx_error err;
        dx_eval_file out;
        if (dx_eval_file_open(&out, dir, "summary.json", &err) != 0) _exit(2);
        fputs("{\"n\": 1", out.f);
        fflush(out.f);
        dx_atomic_set set = {0};
        snprintf(path, sizeof path, "%s/map.npy", dir);
        const char *part = dx_atomic_add(&set, path, &err);
        FILE *f = part ? fopen(part, "w") : NULL;
        if (!f) _exit(2);
        fclose(f);
        raise(sig);
        _exit(3); /* not reached: the signal kills */
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == sig, "signal %d: the child %s %d", sig,
              WIFSIGNALED(status) ? "died of signal" : "exited with", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    static const char *const names[] = {"summary.json", "summary.json.part", "map.npy", "map.npy.part"};
    for (int k = 0; k < 4; ++k) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        cr_expect_not(exists(path), "signal %d left %s", sig, path);
    }
}

Test(atomic, sigint_sigterm_sighup_remove_live_parts_and_kill)
{
    expect_signal_removes_parts(SIGTERM);
    expect_signal_removes_parts(SIGINT);
    expect_signal_removes_parts(SIGHUP);
}

/* More files live at once than one block of the registry holds (a detector's -boxes all writes
 * several files per box): in a child, N parts live in one set, then SIGTERM removes every one;
 * then the same N committed appear whole. */
enum { MANY_FILES = 5000 };

static void add_many(dx_atomic_set *set, const char *dir, dx_error *err)
{
    for (int k = 0; k < MANY_FILES; ++k) {
        char final[256];
        snprintf(final, sizeof final, "%s/f%04d", dir, k);
        const char *part = dx_atomic_add(set, final, err);
        if (!part) return;
        FILE *f = fopen(part, "w");
        if (!f || fclose(f) != 0) return;
    }
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert(d, "%s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(atomic, thousands_of_live_files_are_all_registered, .timeout = 60)
{
    char dir[64];
    snprintf(dir, sizeof dir, "%s", temp_dir());
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        dx_error err = {{0}};
        dx_atomic_set set = {0};
        add_many(&set, dir, &err);
        if (set.n != MANY_FILES) _exit(2);
        raise(SIGTERM);
        _exit(3);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "the child exited with %d (2: a file refused)",
              WEXITSTATUS(status));
    cr_expect_eq(count_files(dir), 0, "SIGTERM left files of %d live parts", MANY_FILES);

    dx_error err = {{0}};
    dx_atomic_set set = {0};
    add_many(&set, dir, &err);
    cr_assert_eq(set.n, MANY_FILES, "%s", err.msg);
    cr_assert_eq(dx_atomic_commit(&set, 0, &err), 0, "%s", err.msg);
    cr_expect_eq(count_files(dir), MANY_FILES);
    char path[256];
    snprintf(path, sizeof path, "%s/f%04d", dir, MANY_FILES - 1);
    cr_expect(exists(path), "%s", path);
}

static volatile sig_atomic_t caught;
static void catch_signal(int sig) { caught = sig; }

/* A program's own handler and an ignored signal are left as they are. */
Test(atomic, a_program_handler_is_left_alone)
{
    char dir[64];
    snprintf(dir, sizeof dir, "%s", temp_dir());
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        signal(SIGTERM, catch_signal);
        signal(SIGHUP, SIG_IGN);
        dx_error err;
        dx_atomic_file out;
        char path[256];
        snprintf(path, sizeof path, "%s/run.json", dir);
        if (dx_atomic_fopen(&out, path, &err) != 0) _exit(2);
        raise(SIGTERM);
        raise(SIGHUP);
        fputs("{}\n", out.f);
        int ok = caught == SIGTERM && dx_atomic_fclose(&out, 1, &err) == 0 && exists(path);
        _exit(ok ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}

/* ---- the command killed while it writes ---- */

static int has_part(const char *dir)
{
    DIR *d = opendir(dir);
    int found = 0;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        found = len > 5 && !strcmp(e->d_name + len - 5, ".part");
    }
    if (d) closedir(d);
    return found;
}

/* Sends sig to pid as soon as a part file shows in dir; returns the child's wait status. */
static int kill_when_writing(pid_t pid, const char *dir, int sig, int *seen)
{
    int status;
    struct timespec ms = {0, 1000000};
    *seen = 0;
    for (int k = 0; k < 120000; ++k) { /* two minutes at most */
        if (waitpid(pid, &status, WNOHANG) == pid) return status; /* finished before a part showed */
        if (has_part(dir)) {
            *seen = 1;
            kill(pid, sig);
            break;
        }
        nanosleep(&ms, NULL);
    }
    if (!*seen) kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* A photo whose outputs take a while to write: the PNG's compression, then 2.9 MB of map. */
static void big_photo(const char *dir)
{
    dx_image photo = dx_make_image(1200, 600, 3);
    for (int c = 0; c < 3; ++c)
        for (int p = 0; p < 1200 * 600; ++p)
            photo.data[c * 1200 * 600 + p] = (float)((p * (c + 3) + p / 1200 * 7) % 251) / 250;
    char path[256];
    snprintf(path, sizeof path, "%s/photo.png", dir);
    dx_error err;
    cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
    dx_free_image(photo);
}

Test(atomic, the_command_killed_while_writing_leaves_nothing, .timeout = 300)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    for (int s = 0; s < 2; ++s) {
        char dir[64];
        snprintf(dir, sizeof dir, "%s", classifier_fixture());
        big_photo(dir);
        const char *cli = getenv("DX_CLI");
        const char *argv[] = {cli, "gradcam", "net.cfg", "net.weights", "photo.png", "-out", "big", NULL};
        int seen, status = kill_when_writing(spawn_dx(dir, argv), dir, sigs[s], &seen);
        cr_assert(seen, "no part file showed while the command ran (status %#x)", status);
        cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == sigs[s], "signal %d: status %#x", sigs[s], status);
        cr_expect_eq(stray_files(dir), 0, "signal %d left files behind", sigs[s]);
    }
}

/* A device that fails every write (/dev/full) where the command writes a part: one line, exit 1,
 * no output (the standard outputs' set and eval's run.json). */
Test(atomic, a_failing_write_leaves_nothing)
{
    if (access("/dev/full", W_OK) != 0) cr_skip_test("no writable /dev/full");
    char dir[64], link[256];
    snprintf(dir, sizeof dir, "%s", classifier_fixture());
    snprintf(link, sizeof link, "%s/expl.npy.part", dir);
    cr_assert_eq(symlink("/dev/full", link), 0);
    run_result r = run_dx(dir, "gradcam net.cfg net.weights photo.png -out expl");
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    cr_expect(strstr(r.err, "expl.npy.part: write failed: ") && strstr(r.err, strerror(ENOSPC)), "%s", r.err);
    cr_expect_eq(stray_files(dir), 0);

    char list[256], out[128];
    snprintf(list, sizeof list, "%s/images.txt", dir);
    put_text(list, "photo.png\n");
    snprintf(out, sizeof out, "%s/ev", dir);
    cr_assert_eq(mkdir(out, 0777), 0);
    snprintf(link, sizeof link, "%s/ev/run.json.part", dir);
    cr_assert_eq(symlink("/dev/full", link), 0);
    r = run_dx(dir, "eval net.cfg net.weights -list images.txt -methods saliency -metrics sparseness -out ev");
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    cr_expect(strstr(r.err, "ev/run.json: write failed"), "%s", r.err);
    static const char *const names[] = {"run.json", "run.json.part", "results.csv"};
    for (int k = 0; k < 3; ++k) {
        snprintf(link, sizeof link, "%s/%s", out, names[k]);
        cr_expect_not(exists(link), "eval left %s", link);
    }
}
