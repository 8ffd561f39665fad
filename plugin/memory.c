/* Memory checks before allocations that nobody could check afterwards: Darknet's make_* and
 * copy_image functions calloc without testing the result (a failure is a SIGSEGV), and
 * OpenBLAS's blas_memory_alloc retries a failed buffer mapping forever (a hang). The plugin
 * compares what such a step will allocate with what the process can still get, and refuses with
 * one line naming the need instead. */
#include <cblas.h>
#include <stdatomic.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "error.h"
#include "memory.h"

#define MIB (1024.0 * 1024.0)
/* Small allocations besides the ones a check names (stdio, libc arenas, Darknet's small arrays). */
#define SLACK_BYTES (32 * MIB)
/* One OpenBLAS thread's address space, measured on Debian's OpenBLAS 0.3.21 (x86-64): a
 * BUFFER_SIZE = 128 MiB buffer (+ one page) that blas_memory_alloc maps the first time the thread
 * runs a level-3 call, and an 8 MiB stack for each pool thread. blas_memory_alloc loops until that
 * mapping succeeds, so under an address-space limit (ulimit -v) too tight for it, the first sgemm
 * never returns. */
#define BLAS_THREAD_BYTES ((128 + 8) * MIB + 4096)

/* Bytes counted in /proc/meminfo under `key` (kB there), or -1. */
static double meminfo_bytes(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double bytes = -1;
    size_t len = strlen(key);
    while (bytes < 0 && fgets(line, sizeof line, f))
        if (!strncmp(line, key, len) && line[len] == ':') bytes = 1024.0 * strtod(line + len + 1, NULL);
    fclose(f);
    return bytes;
}

/* The process's mapped address space (VmSize), or -1. */
static double address_space_used(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    double pages = -1;
    if (fscanf(f, "%lf", &pages) != 1) pages = -1;
    fclose(f);
    return pages < 0 ? -1 : pages * (double)sysconf(_SC_PAGESIZE);
}

/* The room under the address-space limit, and (with_available) in the available memory. */
static double room_in(int with_available, const char **limited_by)
{
    double room = 1e300;
    *limited_by = "no limit";
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        double used = address_space_used();
        if (used >= 0) {
            room = (double)rl.rlim_cur - used;
            *limited_by = "the address-space limit (ulimit -v)";
        }
    }
    /* What the kernel expects it can still hand out without swapping; past it the process is
     * thrashing or OOM-killed rather than refused. */
    double available = with_available ? meminfo_bytes("MemAvailable") : -1, swap = meminfo_bytes("SwapFree");
    if (available >= 0 && available + (swap > 0 ? swap : 0) < room) {
        room = available + (swap > 0 ? swap : 0);
        *limited_by = "the available memory (MemAvailable)";
    }
    return room < 0 ? 0 : room;
}

double dx_memory_room(const char **limited_by) { return room_in(1, limited_by); }

int dx_memory_check(double bytes, const char *subject, const char *what, dx_error *err)
{
    const char *limited_by;
    double room = dx_memory_room(&limited_by);
    if (bytes + SLACK_BYTES <= room) return 0;
    dx_set_error(err, "%s: %s needs about %.0f MiB of memory, but %s leaves %.0f MiB", subject, what,
                 (bytes + SLACK_BYTES) / MIB, limited_by, room / MIB);
    return -1;
}

/* A product that every pool thread takes a share of (each share at least one 64-row block, with
 * enough multiply-adds that OpenBLAS does not run it on one thread), so that each maps its buffer.
 * Plain calloc, not dx_alloc: mapping the buffers now is an optimisation, and a failure here only
 * leaves them to be mapped at the first sgemm. */
static void map_blas_buffers(int threads)
{
    int n = 64 * threads, k = 64;
    float *a = calloc((size_t)n * k, sizeof(float)), *b = calloc((size_t)k * n, sizeof(float));
    float *c = calloc((size_t)n * n, sizeof(float));
    if (a && b && c)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, k, 1, a, k, b, n, 0, c, n);
    free(a);
    free(b);
    free(c);
}

int dx_blas_threads_fit(int wanted)
{
    const char *limited_by; /* the buffers take address space; most of it is never touched */
    double fit = (room_in(0, &limited_by) - SLACK_BYTES) / BLAS_THREAD_BYTES;
    return fit < 0 ? 0 : fit < wanted ? (int)fit : wanted;
}

static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static int blas_ready;

int dx_blas_reserve(const char *subject, dx_error *err)
{
    pthread_mutex_lock(&blas_lock);
    int rc = 0;
    if (!blas_ready) {
        /* One thread unless OPENBLAS_NUM_THREADS says otherwise: Darknet's own code runs on one
         * core for half or more of a forward, while OpenBLAS's idle threads spin (sched_yield);
         * on the shared 2-core machine one thread was faster on every model measured
         * (docs/benchmarks.md#openblas). Never more threads than the address space holds
         * buffers for. */
        int fit = dx_blas_threads_fit(getenv("OPENBLAS_NUM_THREADS") ? openblas_get_num_threads() : 1);
        if (fit < 1) {
            const char *limited_by;
            double room = room_in(0, &limited_by);
            dx_set_error(err, "%s: OpenBLAS needs about %.0f MiB of memory for its buffer, but %s leaves "
                         "%.0f MiB", subject, (BLAS_THREAD_BYTES + SLACK_BYTES) / MIB, limited_by, room / MIB);
            rc = -1;
        } else {
            openblas_set_num_threads(fit);
            map_blas_buffers(fit);
            blas_ready = 1;
        }
    }
    pthread_mutex_unlock(&blas_lock);
    return rc;
}

int dx_blas_may_hang(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
    double used = address_space_used();
    return used >= 0 && (double)rl.rlim_cur - used < BLAS_THREAD_BYTES;
}

/* Fault injection: calls counted since the last dx_alloc_fail_at; fail_at == 0: none fails.
 * env_read: DX_FAIL_ALLOC has been looked at (once per process, before any dx_alloc_fail_at). */
static atomic_long calls, fail_at;
static atomic_int env_read;

void dx_alloc_fail_at(long n)
{
    atomic_store(&env_read, 1);
    atomic_store(&fail_at, n > 0 ? n : 0);
    atomic_store(&calls, 0);
}

long dx_alloc_calls(void) { return atomic_load(&calls); }

/* 1 when this call is the one the test asked to fail */
static int injected_failure(void)
{
    if (!atomic_exchange(&env_read, 1)) {
        const char *env = getenv("DX_FAIL_ALLOC");
        if (env && *env) atomic_store(&fail_at, strtol(env, NULL, 10));
    }
    long n = atomic_fetch_add(&calls, 1) + 1, at = atomic_load(&fail_at);
    return at > 0 && n == at;
}

/* count x size in *bytes (at least 1), or 0 when the product does not fit size_t */
static int array_bytes(size_t count, size_t size, size_t *bytes)
{
    if (size && count > SIZE_MAX / size) return 0;
    *bytes = count && size ? count * size : 1;
    return 1;
}

static void *fail(size_t count, size_t size, const char *subject, dx_error *err)
{
    size_t bytes;
    if (!array_bytes(count, size, &bytes))
        dx_set_error(err, "out of memory for %s (%zu x %zu bytes is more than the address space)", subject, count,
                     size);
    else if (bytes < MIB)
        dx_set_error(err, "out of memory for %s (%zu bytes)", subject, bytes);
    else
        dx_set_error(err, "out of memory for %s (%.1f MiB)", subject, bytes / MIB);
    return NULL;
}

void *dx_alloc(size_t count, size_t size, const char *subject, dx_error *err)
{
    size_t bytes;
    void *p = array_bytes(count, size, &bytes) && !injected_failure() ? calloc(1, bytes) : NULL;
    return p ? p : fail(count, size, subject, err);
}

void *dx_alloc_optional(size_t count, size_t size)
{
    size_t bytes;
    const char *env = getenv("DX_FAIL_OPTIONAL_ALLOC");
    return array_bytes(count, size, &bytes) && !(env && strcmp(env, "1") == 0) ? calloc(1, bytes) : NULL;
}

void *dx_realloc_array(void *p, size_t count, size_t size, const char *subject, dx_error *err)
{
    size_t bytes;
    void *q = array_bytes(count, size, &bytes) && !injected_failure() ? realloc(p, bytes) : NULL;
    return q ? q : fail(count, size, subject, err);
}

char *dx_strdup(const char *s, const char *subject, dx_error *err)
{
    size_t len = strlen(s) + 1;
    char *copy = dx_alloc(len, 1, subject, err);
    return copy ? memcpy(copy, s, len) : NULL;
}
