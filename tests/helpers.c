#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "cli.h"
#include "engine.h"
#include "helpers.h"
#include "io/render.h"
#include "memory.h"
#include "model.h"

/* Every test process runs the OpenBLAS kernels darknet-explain runs (its children inherit the
 * OPENBLAS_CORETYPE this sets), so the command's outputs and the library's compare exactly. */
__attribute__((constructor)) static void same_kernels_as_the_command(void) { dx_blas_best_kernel(); }

double rng_uniform(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return ((r->s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

double rng_normal(rng *r)
{
    double u = rng_uniform(r) + 1e-12, v = rng_uniform(r);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *text = malloc(n + 1);
    cr_assert_eq(fread(text, 1, n, f), (size_t)n, "cannot read %s", path);
    text[n] = 0;
    fclose(f);
    return text;
}

void expect_same_file(const char *a, const char *b)
{
    char *x = read_text(a), *y = read_text(b);
    int same = !strcmp(x, y);
    if (!same) { /* the first differing line, for the log */
        int line = 1;
        const char *p = x, *q = y;
        while (*p && *p == *q) line += *p++ == '\n', ++q;
        cr_log_error("%s and %s differ at line %d", a, b, line);
    }
    cr_expect(same, "%s differs from %s", b, a);
    free(x);
    free(y);
}

const char *temp_dir(void)
{
    static __thread char dir[64];
    snprintf(dir, sizeof dir, "/tmp/dx-test-XXXXXX");
    cr_assert(mkdtemp(dir));
    return dir;
}

static void put(FILE *f, rng *r, int n, double lo, double hi)
{
    for (int k = 0; k < n; ++k) {
        float v = (float)(lo + (hi - lo) * rng_uniform(r));
        fwrite(&v, sizeof v, 1, f);
    }
}

static void put_normal(FILE *f, rng *r, long n, double sd)
{
    for (long k = 0; k < n; ++k) {
        float v = (float)(sd * rng_normal(r));
        fwrite(&v, sizeof v, 1, f);
    }
}

static void put_bn(FILE *f, rng *r, int n)
{
    put(f, r, n, 0.5, 1.5);   /* scales */
    put(f, r, n, -0.1, 0.1);  /* rolling mean */
    put(f, r, n, 0.5, 1.5);   /* rolling variance */
}

FILE *create_weights_file(const char *path)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    int header[3] = {0, 2, 0};
    uint64_t seen = 0;
    fwrite(header, sizeof(int), 3, f);
    fwrite(&seen, sizeof seen, 1, f);
    return f;
}

dx_model *open_random(const char *cfg, const char *weights_out, uint64_t seed)
{
    dx_error err;
    dx_model *shape = dx_open(cfg, NULL, NULL, &err);
    cr_assert(shape, "%s", err.msg);
    FILE *f = create_weights_file(weights_out);
    rng r = {seed * 2654435761ULL + 1};
    /* the neutral table: this file is every backend's (each Darknet's own struct differs) */
    const dx_net *net = shape->net;
    for (int i = 0; i < net->n; ++i) {
        const dx_layer *l = &net->layers[i];
        if (l->type == DX_LAYER_CONVOLUTIONAL) {
            long fan_in = (long)l->c / l->groups * l->size * l->size;
            put(f, &r, l->n, -0.1, 0.1);
            if (l->batch_normalize) put_bn(f, &r, l->n);
            put_normal(f, &r, fan_in * l->n, sqrt(2.0 / fan_in));
        } else if (l->type == DX_LAYER_CONNECTED) {
            put(f, &r, l->outputs, -0.1, 0.1);
            put_normal(f, &r, (long)l->inputs * l->outputs, sqrt(2.0 / l->inputs));
            if (l->batch_normalize) put_bn(f, &r, l->outputs);
        } else if (l->type == DX_LAYER_BATCHNORM) {
            put_bn(f, &r, l->c);
        }
    }
    fclose(f);
    dx_close(shape);
    dx_model *m = dx_open(cfg, weights_out, NULL, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

dx_model *open_cfg_text(const char *name, const char *cfg_text, uint64_t seed)
{
    const char *dir = temp_dir();
    char cfg[256], weights[256];
    snprintf(cfg, sizeof cfg, "%s/%s.cfg", dir, name);
    snprintf(weights, sizeof weights, "%s/%s.weights", dir, name);
    write_text(cfg, cfg_text);
    return open_random(cfg, weights, seed);
}

dx_image noise_photo(int w, int h, int c, uint64_t seed)
{
    dx_image im = dx_make_image(w, h, c);
    rng r = {seed * 7919 + 3};
    for (int k = 0; k < w * h * c; ++k) im.data[k] = (float)rng_uniform(&r);
    return im;
}

double projected_output(dx_model *m, int top, const float *proj, const float *x)
{
    dx_forward(m, x);
    const float *out = dx_output_of(m, top);
    double f = 0;
    for (int k = 0; k < m->net->layers[top].outputs; ++k) f += (double)proj[k] * out[k];
    return f;
}

float *analytic_input_grad(dx_model *m, int top, const float *proj, const float *x)
{
    dx_error err;
    dx_forward(m, x);
    cr_assert_eq(dx_backward(m, top, proj, -1, &err), 0, "%s", err.msg);
    int n = m->net->inputs;
    float *g = malloc(sizeof(float) * n);
    memcpy(g, dx_grad_of(m, -1), sizeof(float) * n);
    return g;
}

static double central_difference(dx_model *m, int top, const float *proj, float *x, int k, float h)
{
    float keep = x[k];
    x[k] = keep + h;
    double up = projected_output(m, top, proj, x);
    x[k] = keep - h;
    double down = projected_output(m, top, proj, x);
    x[k] = keep;
    /* the step actually taken in float */
    return (up - down) / ((double)(keep + h) - (double)(keep - h));
}

static int by_abs_desc(const void *a, const void *b, void *grad)
{
    const float *g = grad;
    float x = fabsf(g[*(const int *)a]), y = fabsf(g[*(const int *)b]);
    return (x < y) - (x > y);
}

fd_report fd_check_coords(dx_model *m, int top, const float *proj, const float *x0,
                          const float *grad, int count, float h, uint64_t seed)
{
    int n = m->net->inputs;
    float *x = malloc(sizeof(float) * n);
    memcpy(x, x0, sizeof(float) * n);
    int *order = malloc(sizeof(int) * n);
    for (int k = 0; k < n; ++k) order[k] = k;
    qsort_r(order, n, sizeof(int), by_abs_desc, (void *)grad);
    if (count > n) count = n;
    rng r = {seed + 7};
    double num = 0, den = 0;
    fd_report rep = {0};
    /* float32 forward: f carries rounding of about 1e-7 of sum |proj_k out_k|, which a central
     * difference divides by h */
    dx_forward(m, x);
    const float *out = dx_output_of(m, top);
    double scale = 0;
    for (int k = 0; k < m->net->layers[top].outputs; ++k) scale += fabs((double)proj[k] * out[k]);
    double noise = 1e-7 * scale / h;
    for (int s = 0; s < count; ++s) {
        int k = s < count / 2 ? order[s] : (int)(rng_uniform(&r) * n);
        double fd1 = central_difference(m, top, proj, x, k, h);
        double fd2 = central_difference(m, top, proj, x, k, h / 2);
        if (getenv("DX_FD_DEBUG")) fprintf(stderr, "  x[%d] analytic %.6g fd(h) %.6g fd(h/2) %.6g noise %.2g\n", k, grad[k], fd1, fd2, noise);
        if (fabs(fd1 - fd2) > 0.01 * fmax(fabs(fd1), fabs(fd2)) + 4 * noise) {
            rep.skipped++;
            continue;
        }
        rep.used++;
        if (fabs(grad[k] - fd2) <= 0.01 * fabs(fd2) + 4 * noise) rep.agree++;
        num += (grad[k] - fd2) * (grad[k] - fd2);
        den += fd2 * fd2;
    }
    rep.rel_err = den > 0 ? sqrt(num / den) : sqrt(num);
    free(order);
    free(x);
    return rep;
}

double fd_directional(dx_model *m, int top, const float *proj, const float *x0, const float *grad,
                      const float *v, float h, double *analytic_out, double *fd_out)
{
    int n = m->net->inputs;
    float *x = calloc(n, sizeof(float)); /* calloc: gcc cannot tell that n > 0 fills it */
    double analytic = 0;
    for (int k = 0; k < n; ++k) analytic += (double)grad[k] * v[k];
    for (int k = 0; k < n; ++k) x[k] = x0[k] + h * v[k];
    double up = projected_output(m, top, proj, x);
    for (int k = 0; k < n; ++k) x[k] = x0[k] - h * v[k];
    double down = projected_output(m, top, proj, x);
    free(x);
    double fd = (up - down) / (2 * h);
    if (analytic_out) *analytic_out = analytic;
    if (fd_out) *fd_out = fd;
    return fabs(analytic - fd) / fmax(fabs(fd), 1e-12);
}

const char *shared_dir(void)
{
    static char path[1100];
    const char *root = getenv("DX_ROOT");
    snprintf(path, sizeof path, "%s/../shared", root ? root : ".");
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/models/imagenet/tiny.weights", path);
    return access(probe, R_OK) == 0 ? path : NULL;
}

dx_model *open_shared_model(const char *name, const char *names)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: real-model checks skipped");
    char cfg[1200], weights[1200], names_path[1200];
    snprintf(cfg, sizeof cfg, "%s/models/%s.cfg", shared, name);
    snprintf(weights, sizeof weights, "%s/models/%s.weights", shared, name);
    snprintf(names_path, sizeof names_path, "%s/models/%s", shared, names ? names : "");
    dx_open_options opt = {.names = names ? names_path : NULL};
    dx_error err;
    dx_model *m = dx_open(cfg, weights, &opt, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

void expect_each_box_alone(dx_model *m, dx_image photo, const dx_request *req, const dx_box_explanations *all)
{
    dx_request one_box = *req;
    for (int b = 0; b < all->n; ++b) {
        one_box.box = b;
        dx_result one;
        dx_error err;
        cr_assert_eq(dx_explain_image(m, photo, &one_box, &one, &err), 0, "%s", err.msg);
        const dx_result *r = &all->results[b];
        cr_expect(one.has_box && one.box.layer == r->box.layer && one.box.cls == r->box.cls &&
                  one.box.score == r->box.score, "%s box %d: not the same box alone", dx_method_name(req->method), b);
        double diff = 0, peak = 0;
        for (int p = 0; p < r->h * r->w; ++p) {
            diff = fmax(diff, fabs(one.map[p] - r->map[p]));
            peak = fmax(peak, fabs(r->map[p]));
        }
        cr_expect(peak > 0 && diff <= 1e-6 * peak, "%s box %d: maps differ by %g (peak %g)",
                  dx_method_name(req->method), b, diff, peak);
        dx_result_free(&one);
    }
}

void read_text_into(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

void assert_make(const char *dir, const char *targets)
{
    char cmd[4096], log[1200], said[4096] = "";
    snprintf(log, sizeof log, "%s/make.log", dir);
    snprintf(cmd, sizeof cmd, "env -u MAKEFLAGS -u MFLAGS make --no-print-directory -C '%s' %s >'%s' 2>&1",
             getenv("DX_ROOT"), targets, log);
    int made = system(cmd);
    if (made != 0) read_text_into(log, said, sizeof said);
    cr_assert_eq(made, 0, "make %s failed (status %d): %s", targets, made, said);
}

run_result run_dx(const char *dir, const char *args)
{
    const char *cli = getenv("DX_CLI");
    cr_assert(cli, "DX_CLI is not set (run through make test)");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s >stdout.txt 2>stderr.txt", dir, cli, args);
    int status = system(cmd);
    run_result r = {0};
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char path[1024];
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    read_text_into(path, r.out, sizeof r.out);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    read_text_into(path, r.err, sizeof r.err);
    for (char *c = r.err; *c; ++c) r.err_lines += *c == '\n';
    return r;
}

static void read_capture(int fd, char *buf, size_t len)
{
    ssize_t n = pread(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
}

cli_result spawn_cli(const char *dir, const char *const *args, long long as_limit, int timeout_s)
{
    const char *cli = getenv("DX_CLI");
    cr_assert(cli, "DX_CLI is not set (run through make test)");
    char out_path[] = "/tmp/dx-cli-out-XXXXXX", err_path[] = "/tmp/dx-cli-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    cr_assert(out_fd >= 0 && err_fd >= 0);
    unlink(out_path);
    unlink(err_path);
    const char *argv[64] = {"darknet-explain"};
    int argc = 1;
    for (; args[argc - 1]; ++argc) {
        cr_assert(argc < 63);
        argv[argc] = args[argc - 1];
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {(rlim_t)as_limit, (rlim_t)as_limit};
        if (chdir(dir) != 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0 ||
            (as_limit > 0 && setrlimit(RLIMIT_AS, &rl) != 0))
            _exit(125);
        execv(cli, (char *const *)argv);
        _exit(126);
    }
    cli_result r = {0};
    int status = 0;
    struct rusage ru = {0};
    for (;;) {
        if (wait4(pid, &status, WNOHANG, &ru) == pid) break;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec >= timeout_s) {
            kill(pid, SIGKILL);
            wait4(pid, &status, 0, &ru);
            r.status = -1;
            break;
        }
        usleep(20000);
    }
    r.max_rss_kb = ru.ru_maxrss;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r.seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (r.status == 0) r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    read_capture(out_fd, r.out, sizeof r.out);
    read_capture(err_fd, r.err, sizeof r.err);
    for (char *c = r.err; *c; ++c) r.err_lines += *c == '\n';
    return r;
}

int spawn_dx(const char *dir, const char *const *argv)
{
    cr_assert(argv[0], "DX_CLI is not set (run through make test)");
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        int out = open("stdout.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int stray_files(const char *dir)
{
    static const char *const known[] = {"stdout.txt", "stderr.txt", "net.cfg", "net.weights", "photo.png",
                                        "bad.cfg", "bad.weights", "notimage.jpg", NULL};
    return stray_files_in(dir, known);
}

int stray_files_in(const char *dir, const char *const *keep)
{
    DIR *d = opendir(dir);
    cr_assert(d, "cannot list %s", dir);
    int stray = 0;
    for (struct dirent *e; (e = readdir(d));) {
        int kept = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
        for (int k = 0; keep[k] && !kept; ++k) kept = !strcmp(e->d_name, keep[k]);
        if (!kept) {
            cr_log_warn("stray file %s/%s", dir, e->d_name);
            stray++;
        }
    }
    closedir(d);
    return stray;
}

const char *classifier_fixture(void)
{
    const char *dir = temp_dir();
    char cfg[256], weights[256], cmd[1024];
    snprintf(cfg, sizeof cfg, "%s/net.cfg", dir);
    snprintf(weights, sizeof weights, "%s/net.weights", dir);
    snprintf(cmd, sizeof cmd, "cp %s/cfg/test-classifier.cfg %s", getenv("DX_ROOT"), cfg);
    cr_assert_eq(system(cmd), 0);
    dx_close(open_random(cfg, weights, 1));
    /* a 40x30 photo: a bright square on grey */
    dx_image photo = dx_make_image(40, 30, 3);
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 30; ++y)
            for (int x = 0; x < 40; ++x)
                photo.data[c * 1200 + y * 40 + x] = (x > 10 && x < 25 && y > 5 && y < 20) ? 0.9f : 0.4f;
    char png[256];
    snprintf(png, sizeof png, "%s/photo.png", dir);
    dx_error err;
    cr_assert_eq(dx_write_png(photo, png, &err), 0, "%s", err.msg);
    dx_free_image(photo);
    return dir;
}

/* ---- a scratch directory per test: Criterion runs each test in a process of its own ---- */

static char scratch[64];

void make_scratch(void)
{
    strcpy(scratch, "/tmp/dx-test-io-XXXXXX");
    cr_assert_not_null(mkdtemp(scratch));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void remove_scratch(void)
{
    nftw(scratch, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

const char *scratch_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", scratch, name);
    return buf;
}

int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

const char *readme_c_api_example(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/README.md", getenv("DX_ROOT"));
    FILE *f = fopen(path, "r");
    cr_assert(f, "no README.md");
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    char *section = strstr(text, "## The C API");
    cr_assert(section, "README.md has no '## The C API' section");
    char *start = strstr(section, "```c\n");
    cr_assert(start);
    start += 5;
    char *end = strstr(start, "```");
    cr_assert(end);
    *end = 0;
    return start;
}

void resize_centres(const float *src, int h, int w, float *dst, int h2, int w2)
{
    for (int y = 0; y < h2; ++y)
        for (int x = 0; x < w2; ++x) {
            double sy = fmin(fmax((y + .5) * h / h2 - .5, 0), h - 1), sx = fmin(fmax((x + .5) * w / w2 - .5, 0), w - 1);
            int y0 = (int)sy, x0 = (int)sx, y1 = y0 + 1 < h ? y0 + 1 : y0, x1 = x0 + 1 < w ? x0 + 1 : x0;
            double fy = sy - y0, fx = sx - x0;
            dst[y * w2 + x] = (float)((1 - fy) * ((1 - fx) * src[y0 * w + x0] + fx * src[y0 * w + x1]) +
                                      fy * ((1 - fx) * src[y1 * w + x0] + fx * src[y1 * w + x1]));
        }
}

void write_smooth_photo(const char *path, int w, int h)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    fprintf(f, "P6\n%d %d\n255\n", w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            unsigned char px[3] = {(unsigned char)(255 * x / w), (unsigned char)(255 * y / h),
                                   (unsigned char)(128 + 100 * sin(x * 0.3 + y * 0.2))};
            fwrite(px, 1, 3, f);
        }
    fclose(f);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int list_cfgs(const char *dir, char **names, int max)
{
    DIR *d = opendir(dir);
    cr_assert(d, "%s", dir);
    int n = 0;
    for (struct dirent *e; n < max && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".cfg")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    return n;
}

/* A crop is a fixed size: shrinking the input under it makes a cfg the backends refuse (vgg-16's
 * 224 crop of a 128 input, which AlexeyAB's fork reads outside of). */
void copy_cfg_at_side(const char *cfg, const char *copy, int side)
{
    char *text = read_text(cfg);
    FILE *f = fopen(copy, "w");
    cr_assert(f, "%s", copy);
    if (strstr(text, "[crop]")) side = 0;
    int in_net = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        const char *p = line + strspn(line, " \t");
        if (*p == '[') in_net = !strncmp(p, "[net]", 5) || !strncmp(p, "[network]", 9);
        if (side && in_net && (!strncmp(p, "width", 5) || !strncmp(p, "height", 6))) {
            fprintf(f, "%.*s=%d\n", (int)strcspn(p, " =\t"), p, side);
            continue;
        }
        fprintf(f, "%s\n", line);
    }
    fclose(f);
    free(text);
}

float *darknet_layer_output(dx_model *m, int i)
{
    const dx_layer *l = &m->net->layers[i];
    size_t n = (size_t)l->outputs * l->batch;
    float *darknet = malloc(sizeof(float) * n);
    dx_set_fast_layers(m, 0);
    dx_forward_layer(m, i);
    memcpy(darknet, l->output, sizeof(float) * n);
    dx_set_fast_layers(m, 1);
    return darknet;
}

double rel_diff(const float *a, const float *b, size_t n, double *largest)
{
    double diff = 0, scale = 0;
    for (size_t k = 0; k < n; ++k) {
        diff = fmax(diff, fabs((double)a[k] - b[k]));
        scale = fmax(scale, fabs((double)b[k]));
    }
    if (largest) *largest = scale;
    return scale > 0 ? diff / scale : diff == 0 ? 0 : INFINITY;
}

float *forward_state(dx_model *m, size_t *len)
{
    const dx_net *net = m->net; /* the backend's view: every Darknet's build compiles these helpers */
    size_t n = (size_t)net->inputs;
    for (int i = 0; i < net->n; ++i) n += (size_t)net->layers[i].outputs;
    float *state = malloc(sizeof(float) * n), *at = state;
    memcpy(at, dx_output_of(m, -1), sizeof(float) * net->inputs);
    at += net->inputs;
    for (int i = 0; i < net->n; ++i) {
        memcpy(at, net->layers[i].output, sizeof(float) * net->layers[i].outputs);
        at += net->layers[i].outputs;
    }
    *len = n;
    return state;
}

void expect_each_failed_allocation_is_one_error(dx_model *m, dx_image photo, const dx_request *req)
{
    const char *name = dx_method_name(req->method);
    dx_result ref, r;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, req, &ref, &err), 0, "%s: %s", name, err.msg); /* first-time blocks */
    dx_result_free(&ref);
    dx_close_copies(m); /* counted: each failing run below opens them again */
    dx_alloc_fail_at(0);
    cr_assert_eq(dx_explain_image(m, photo, req, &ref, &err), 0, "%s: %s", name, err.msg);
    long calls = dx_alloc_calls();
    int failed = 0;
    for (long n = 1; n <= calls + 2; ++n) {
        dx_close_copies(m); /* each run opens them: their allocations fail too */
        dx_alloc_fail_at(n);
        int rc = dx_explain_image(m, photo, req, &r, &err);
        dx_alloc_fail_at(0);
        if (rc == 0) dx_result_free(&r);
        else {
            ++failed;
            const char *at = strstr(err.msg, "out of memory");
            cr_assert(at && !strstr(at + 1, "out of memory") && !strchr(err.msg, '\n'), "%s, allocation %ld: '%s'",
                      name, n, err.msg);
        }
        cr_assert_eq(dx_explain_image(m, photo, req, &r, &err), 0, "%s, after allocation %ld failed: %s", name, n,
                     err.msg);
        cr_assert(!memcmp(r.native, ref.native, sizeof(float) * r.native_h * r.native_w),
                  "%s, after allocation %ld failed, the map differs", name, n);
        dx_result_free(&r);
    }
    cr_log_info("%s: %ld allocations, %d runs failed", name, calls, failed);
    /* the count varies from run to run: a copy that got no input made no allocation */
    cr_expect_geq(failed, calls / 2, "%s: only %d of %ld allocations failed a run", name, failed, calls);
    dx_result_free(&ref);
}
