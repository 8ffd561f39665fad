/* The AFL++ harness: build-fuzz/dx-fuzz TARGET [FILE]
 *
 * Under afl-fuzz (built with afl-clang-fast): persistent mode, the test case in shared memory,
 * 1000 inputs per forked child. Without afl-fuzz, or given FILE: runs that one input (stdin when
 * no FILE) and prints what happened, to reproduce a finding. A target that breaks a house rule
 * (targets.h: DX_FUZZ_BROKEN) aborts, so afl-fuzz files it with the crashes. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "targets.h"

#ifndef DX_FUZZ_ROOT
#define DX_FUZZ_ROOT "."
#endif

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

/* DX_FUZZ_TOLERATE=TEXT1|TEXT2..: under afl-fuzz, a broken house rule whose message contains one
 * of the texts does not abort. afl-fuzz keeps no crashing input in its queue, so a finding already
 * reported (e.g. every image stb decodes and Darknet's loader does not) would hide the inputs
 * behind it. */
static const char *tolerate;

static int tolerated(const char *msg)
{
    for (const char *p = tolerate; p && *p;) {
        size_t n = strcspn(p, "|");
        if (n && memmem(msg, strlen(msg), p, n)) return 1;
        p += n + (p[n] == '|');
    }
    return 0;
}

static void run_one(dx_fuzz_target t, const unsigned char *data, size_t size, int verbose)
{
    char msg[2048];
    dx_fuzz_outcome o = dx_fuzz_one(t, data, size, msg, sizeof msg);
    if (o == DX_FUZZ_BROKEN && !verbose && tolerated(msg)) return;
    if (verbose)
        fprintf(stderr, "%s: %s %s\n", dx_fuzz_target_name(t),
                o == DX_FUZZ_ACCEPTED ? "accepted" : o == DX_FUZZ_REFUSED ? "refused:" : "BROKEN:", msg);
    if (o == DX_FUZZ_BROKEN) {
        if (!verbose) fprintf(stderr, "%s: BROKEN: %s\n", dx_fuzz_target_name(t), msg);
        abort();
    }
}

static unsigned char *read_all(FILE *f, size_t *size)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *data = malloc(cap);
    size_t got;
    while (data && (got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) data = realloc(data, cap *= 2);
    }
    *size = n;
    return data;
}

int main(int argc, char **argv)
{
    dx_fuzz_target t;
    if (argc < 2 || argc > 3 || dx_fuzz_target_from_name(argv[1], &t) != 0) {
        fprintf(stderr, "usage: %s cfg|weights|image|options|lists [FILE]\n", argv[0]);
        return 2;
    }
    /* OpenBLAS's thread pool does not survive the fork server's fork: one thread, the caller */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    openblas_set_num_threads(1);
    const char *root = getenv("DX_ROOT") ? getenv("DX_ROOT") : DX_FUZZ_ROOT;
    if (argc == 3) {
        FILE *f = fopen(argv[2], "rb");
        if (!f) {
            perror(argv[2]);
            return 2;
        }
        size_t size;
        unsigned char *data = read_all(f, &size);
        fclose(f);
        if (!data || dx_fuzz_init(root) != 0) return 2;
        run_one(t, data, size, 1);
        free(data);
        return 0;
    }
#ifdef __AFL_FUZZ_TESTCASE_LEN
    tolerate = getenv("DX_FUZZ_TOLERATE");
    __AFL_INIT();
    if (dx_fuzz_init(root) != 0) return 2; /* in each child: its own directory */
    unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(1000)) run_one(t, buf, __AFL_FUZZ_TESTCASE_LEN, 0);
#else
    size_t size;
    unsigned char *data = read_all(stdin, &size);
    if (!data || dx_fuzz_init(root) != 0) return 2;
    run_one(t, data, size, 1);
    free(data);
#endif
    return 0;
}
