/* The runs' shared folder helpers (see folder.h), moved here from eval/run.c and all.c so that
 * the methods' -list runs (batch.c) share them. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "error.h"
#include "io/folder.h"

int dx_lock_folder(const char *dir, const char *name, const char *who, char *path, size_t len, dx_error *err)
{
    snprintf(path, len, "%s/%s", dir, name);
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            dx_set_error(err, "%s: cannot create: %s", path, strerror(errno));
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int busy = errno == EWOULDBLOCK, pid = 0;
            char text[24], holder[40] = "";
            /* the holder writes its pid just after it locks: give it a moment */
            for (int tries = 0; busy && pid <= 0 && tries < 50; ++tries) {
                ssize_t n = pread(fd, text, sizeof text - 1, 0);
                text[n > 0 ? n : 0] = 0;
                if ((pid = atoi(text)) <= 0) nanosleep(&(struct timespec){0, 10000000}, NULL);
            }
            if (pid > 0) snprintf(holder, sizeof holder, " (pid %d)", pid);
            if (busy) dx_set_error(err, "%s: another %s is writing this folder%s", dir, who, holder);
            else dx_set_error(err, "%s: cannot lock: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        struct stat held, now;
        if (fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
            char text[24];
            int n = snprintf(text, sizeof text, "%d\n", (int)getpid());
            if (ftruncate(fd, 0) == 0 && pwrite(fd, text, n, 0) == n) return fd;
            dx_set_error(err, "%s: cannot write: %s", path, strerror(errno));
            unlink(path);
            close(fd);
            return -1;
        }
        close(fd);
    }
}

void dx_unlock_folder(int fd, const char *path)
{
    if (fd < 0) return;
    unlink(path);
    close(fd);
}

char *dx_run_parameters(int argc, char **argv, const char *const *files, int n_files)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    fprintf(f, "darknet-explain %s\n", DX_VERSION);
    for (int k = 0; k < argc; ++k)
        if (strcmp(argv[k], "-resume")) fprintf(f, "arg %s\n", argv[k]);
    for (int k = 0; k < n_files; ++k) {
        struct stat st;
        if (stat(files[k], &st) == 0)
            fprintf(f, "file %s %lld %lld.%09ld\n", files[k], (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                    st.st_mtim.tv_nsec);
    }
    return fclose(f) == 0 ? text : (free(text), NULL);
}

void dx_progress_text(char *out, size_t len, const char *who, const char *kept, int done, int total, int computed,
                      double seconds, int tty)
{
    char rate[96];
    snprintf(rate, sizeof rate, " (%s)", kept);
    if (computed > 0) {
        double per = seconds / computed;
        long left = lround(per * (total - done));
        int at = per < 1 ? snprintf(rate, sizeof rate, ", %.2f img/s", computed / fmax(seconds, 1e-9))
                         : snprintf(rate, sizeof rate, ", %.1f s/img", per);
        if (left < 60) snprintf(rate + at, sizeof rate - at, ", ETA %lds", left);
        else if (left < 3600) snprintf(rate + at, sizeof rate - at, ", ETA %ldm%02lds", left / 60, left % 60);
        else snprintf(rate + at, sizeof rate - at, ", ETA %ldh%02ldm", left / 3600, left % 3600 / 60);
    }
    char bar[31];
    int filled = total ? 30 * done / total : 30;
    for (int k = 0; k < 30; ++k) bar[k] = k < filled ? '#' : '.';
    bar[30] = 0;
    if (tty) snprintf(out, len, "[%s] %d/%d images%s", bar, done, total, rate);
    else snprintf(out, len, "%s: %d/%d images%s", who, done, total, rate);
}

void dx_progress_show(const dx_progress *p)
{
    char text[200];
    dx_progress_text(text, sizeof text, p->who, p->kept, p->done, p->total, p->computed, p->seconds, p->tty);
    if (p->tty) fprintf(stderr, "\r%-78s%s", text, p->done == p->total ? "\n" : "");
    else fprintf(stderr, "%s\n", text);
    fflush(stderr);
}
