/* The fuzz corpus replayed: every seed and every regression input of each fuzz target
 * (tests/fuzz/<target>/seeds and regressions; the cfg seeds link the project's own cfg files)
 * goes through the same target function the AFL++ harness runs (tests/fuzz/targets.c), which
 * must return cleanly: accepted, or refused with one line. Under `make test SANITIZE=1` this is
 * the fuzzer's crash check, under ASan and UBSan, for every input it ever found. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <darknet.h> /* the fuzz regressions read the Darknet's own layers */
#include "explain.h"
#include "fuzz/targets.h"

static unsigned char *slurp_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(n > 0 ? (size_t)n : 1);
    *size = n > 0 ? fread(data, 1, (size_t)n, f) : 0;
    fclose(f);
    return data;
}

/* Runs t on every regular file of dir (missing dir: none); returns how many. */
static int replay_dir(dx_fuzz_target t, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[2048], msg[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t size;
        unsigned char *data = slurp_file(path, &size);
        dx_fuzz_outcome o = dx_fuzz_one(t, data, size, msg, sizeof msg);
        free(data);
        cr_expect(o == DX_FUZZ_ACCEPTED || o == DX_FUZZ_REFUSED, "%s target on %s: %s", dx_fuzz_target_name(t),
                  path, msg);
        if (o == DX_FUZZ_REFUSED)
            cr_expect(*msg && !strchr(msg, '\n'), "%s: the refusal is not one line: '%s'", path, msg);
        ++n;
    }
    closedir(d);
    return n;
}

static void replay(dx_fuzz_target t)
{
    const char *root = getenv("DX_ROOT");
    cr_assert(root, "DX_ROOT is not set (run through make test)");
    cr_assert_eq(dx_fuzz_init(root), 0);
    char dir[1100];
    int n = 0;
    const char *const parts[] = {"seeds", "regressions"};
    for (int k = 0; k < 2; ++k) {
        snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", root, dx_fuzz_target_name(t), parts[k]);
        n += replay_dir(t, dir);
    }
    cr_expect_gt(n, 3, "only %d inputs for the %s target: is tests/fuzz/%s/seeds there?", n,
                 dx_fuzz_target_name(t), dx_fuzz_target_name(t));
}

Test(fuzz_replay, cfg, .timeout = 300) { replay(DX_FUZZ_CFG); }
Test(fuzz_replay, weights, .timeout = 300) { replay(DX_FUZZ_WEIGHTS); }
Test(fuzz_replay, image, .timeout = 300) { replay(DX_FUZZ_IMAGE); }
Test(fuzz_replay, options, .timeout = 300) { replay(DX_FUZZ_OPTIONS); }
Test(fuzz_replay, lists, .timeout = 300) { replay(DX_FUZZ_LISTS); }

/* Found by the weights target: a header whose major version times 10 overflows an int (UB in the
 * plugin's header check). Darknet's build computes major * 10 + minor with the int wrapping, so
 * for major = -429496729 the sum wraps to 6 and Darknet reads an 8-byte `seen`: the plugin must
 * decide the same header size, or it refuses (or misreads) a file Darknet loads aligned. */
Test(fuzz_regressions, weights_version_wraps_as_in_darknet)
{
    const char *root = getenv("DX_ROOT");
    cr_assert(root, "DX_ROOT is not set (run through make test)");
    char cfg[1100], seed[1100], wrapped[] = "/tmp/dx-wrapped-XXXXXX";
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", root);
    snprintf(seed, sizeof seed, "%s/tests/fuzz/weights/seeds/test-classifier.weights", root);
    size_t size;
    unsigned char *data = slurp_file(seed, &size);
    int header[3];
    memcpy(header, data, sizeof header);
    cr_assert(header[0] * 10 + header[1] >= 2, "the seed has the 20-byte header");
    header[0] = -429496729; /* * 10 + 0 wraps to 6 in 32 bits */
    header[1] = 0;
    memcpy(data, header, sizeof header);
    int fd = mkstemp(wrapped);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, data, size), (ssize_t)size);
    close(fd);
    free(data);

    dx_error err;
    dx_model *plain = dx_open(cfg, seed, NULL, &err);
    cr_assert(plain, "%s", err.msg);
    dx_model *m = dx_open(cfg, wrapped, NULL, &err);
    unlink(wrapped);
    cr_assert(m, "Darknet loads this file with a 20-byte header, the plugin refused it: %s", err.msg);
    /* loaded aligned: every parameter as from the plain header */
    const layer *a = &dx_network(plain)->layers[0], *b = &dx_network(m)->layers[0];
    cr_expect_eq(memcmp(a->weights, b->weights, sizeof(float) * a->nweights), 0);
    const layer *ha = &dx_network(plain)->layers[12], *hb = &dx_network(m)->layers[12];
    cr_expect_eq(memcmp(ha->biases, hb->biases, sizeof(float) * ha->outputs), 0, "the head's biases");
    dx_close(m);
    dx_close(plain);
}
