#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"

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

dx_model *open_random(const char *cfg, const char *weights_out, uint64_t seed)
{
    dx_error err;
    dx_model *shape = dx_open(cfg, NULL, NULL, &err);
    cr_assert(shape, "%s", err.msg);
    FILE *f = fopen(weights_out, "wb");
    cr_assert(f);
    int header[3] = {0, 2, 0};
    uint64_t seen = 0;
    fwrite(header, sizeof(int), 3, f);
    fwrite(&seen, sizeof seen, 1, f);
    rng r = {seed * 2654435761ULL + 1};
    network *net = dx_network(shape);
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if (l->type == CONVOLUTIONAL) {
            long fan_in = (long)l->c / l->groups * l->size * l->size;
            put(f, &r, l->n, -0.1, 0.1);
            if (l->batch_normalize) put_bn(f, &r, l->n);
            put_normal(f, &r, fan_in * l->n, sqrt(2.0 / fan_in));
        } else if (l->type == CONNECTED) {
            put(f, &r, l->outputs, -0.1, 0.1);
            put_normal(f, &r, (long)l->inputs * l->outputs, sqrt(2.0 / l->inputs));
            if (l->batch_normalize) put_bn(f, &r, l->outputs);
        } else if (l->type == BATCHNORM) {
            put_bn(f, &r, l->c);
        }
    }
    fclose(f);
    dx_close(shape);
    dx_model *m = dx_open(cfg, weights_out, NULL, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

double projected_output(dx_model *m, int top, const float *proj, const float *x)
{
    dx_forward(m, x);
    const float *out = dx_output_of(m, top);
    double f = 0;
    for (int k = 0; k < dx_network(m)->layers[top].outputs; ++k) f += (double)proj[k] * out[k];
    return f;
}

float *analytic_input_grad(dx_model *m, int top, const float *proj, const float *x)
{
    dx_error err;
    dx_forward(m, x);
    cr_assert_eq(dx_backward(m, top, proj, -1, &err), 0, "%s", err.msg);
    int n = dx_network(m)->inputs;
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
    int n = dx_network(m)->inputs;
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
    for (int k = 0; k < dx_network(m)->layers[top].outputs; ++k) scale += fabs((double)proj[k] * out[k]);
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
    int n = dx_network(m)->inputs;
    float *x = malloc(sizeof(float) * n);
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

void expect_each_box_alone(dx_model *m, image photo, const dx_request *req, const dx_box_explanations *all)
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
    return stat(path, &st) == 0;
}
