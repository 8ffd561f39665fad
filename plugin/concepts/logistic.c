/* L2-regularised logistic regression and Student's/Welch's t-test (see logistic.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "concepts/logistic.h"
#include "error.h"
#include "memory.h"

/* The largest eigenvalue of Xc^T Xc / n (Xc: x's rows centred per feature; the bias column is
 * orthogonal to them then and adds 1), by power iteration from a fixed start: deterministic. */
static double top_eigenvalue(const float *xc, int n, int d, float *v, float *u)
{
    for (int j = 0; j < d; ++j) v[j] = 1.0f / sqrtf((float)d) * (j % 2 ? 1.0f : 0.5f);
    double lambda = 0;
    for (int it = 0; it < 50; ++it) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, d, 1.0f, xc, d, v, 1, 0.0f, u, 1);
        cblas_sgemv(CblasRowMajor, CblasTrans, n, d, 1.0f / n, xc, d, u, 1, 0.0f, v, 1);
        double norm = cblas_snrm2(d, v, 1);
        if (norm == 0) return 0;
        lambda = norm;
        cblas_sscal(d, (float)(1 / norm), v, 1);
    }
    return lambda;
}

/* the loss's gradient at (w, b) over the centred rows: g (d floats), *gb; p: n floats of room */
static void gradient(const float *xc, const unsigned char *y, int n, int d, double lambda, const float *w, double b,
                     float *p, float *g, double *gb)
{
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, d, 1.0f, xc, d, w, 1, 0.0f, p, 1);
    double sb = 0;
    for (int i = 0; i < n; ++i) {
        double z = p[i] + b, s = y[i] ? 1 : -1;
        /* d/dz log(1 + exp(-s z)) = -s / (1 + exp(s z)) */
        double r = -s / (1 + exp(s * z));
        p[i] = (float)(r / n);
        sb += r / n;
    }
    memcpy(g, w, sizeof(float) * d);
    cblas_sgemv(CblasRowMajor, CblasTrans, n, d, 1.0f, xc, d, p, 1, (float)lambda, g, 1);
    *gb = sb;
}

int dx_logistic_fit(const float *x, const unsigned char *y, int n, int d, double lambda, int iters, float *w,
                    float *b, dx_error *err)
{
    int pos = 0;
    for (int i = 0; i < n; ++i) pos += y[i] != 0;
    if (n < 2 || pos == 0 || pos == n) {
        dx_set_error(err, "logistic regression needs examples of both labels (%d of %d positive)", pos, n);
        return -1;
    }
    const char *what = "the logistic regression";
    float *xc = dx_alloc((size_t)n * d, sizeof(float), what, err);
    float *mean = xc ? dx_alloc((size_t)d, sizeof(float), what, err) : NULL;
    float *buf = mean ? dx_alloc((size_t)d * 3 + (size_t)n, sizeof(float), what, err) : NULL;
    if (!buf) {
        free(xc);
        free(mean);
        return -1;
    }
    float *v = buf, *g = buf + d, *prev = buf + 2 * (size_t)d, *p = buf + 3 * (size_t)d;
    /* Centring the features is an exact change of the bias (unregularised): w.x + b = w.(x - mean)
     * + (b + w.mean); it leaves the problem far better conditioned for gradient descent. */
    for (int i = 0; i < n; ++i) cblas_saxpy(d, 1.0f / n, x + (size_t)i * d, 1, mean, 1);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < d; ++j) xc[(size_t)i * d + j] = x[(size_t)i * d + j] - mean[j];
    /* the logistic loss's Hessian is at most 1/4 X^T X / n; the bias column adds 1/4 */
    double lip = 0.25 * (top_eigenvalue(xc, n, d, v, p) * 1.01 + 1) + lambda, step = 1 / lip;
    memset(w, 0, sizeof(float) * d);
    memset(prev, 0, sizeof(float) * d);
    double bc = 0, bprev = 0, tk = 1;
    /* Nesterov: the gradient at the look-ahead point v = w + beta (w - prev) */
    for (int it = 0; it < iters; ++it) {
        double tn = (1 + sqrt(1 + 4 * tk * tk)) / 2, beta = (tk - 1) / tn;
        for (int j = 0; j < d; ++j) v[j] = w[j] + (float)beta * (w[j] - prev[j]);
        double vb = bc + beta * (bc - bprev), gb;
        gradient(xc, y, n, d, lambda, v, vb, p, g, &gb);
        memcpy(prev, w, sizeof(float) * d);
        bprev = bc;
        for (int j = 0; j < d; ++j) w[j] = v[j] - (float)step * g[j];
        bc = vb - step * gb;
        tk = tn;
    }
    *b = (float)(bc - cblas_sdot(d, w, 1, mean, 1));
    free(xc);
    free(mean);
    free(buf);
    return 0;
}

double dx_logistic_accuracy(const float *x, const unsigned char *y, int n, int d, const float *w, float b)
{
    int right = 0;
    for (int i = 0; i < n; ++i) right += (cblas_sdot(d, x + (size_t)i * d, 1, w, 1) + b > 0) == (y[i] != 0);
    return n > 0 ? (double)right / n : 0;
}

/* The continued fraction of I_x(a, b) (modified Lentz), valid for x < (a + 1) / (a + b + 2):
 * 1 / (1 + d1 / (1 + d2 / (1 + ...))), d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)),
 * d_{2m} = m (b-m) x / ((a+2m-1)(a+2m)). */
static double beta_fraction(double x, double a, double b)
{
    const double tiny = 1e-300;
    double c = 1, dd = 1 - (a + b) * x / (a + 1);
    if (fabs(dd) < tiny) dd = tiny;
    dd = 1 / dd;
    double f = dd;
    for (int m = 1; m <= 10000; ++m) {
        double num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
        for (int half = 0; half < 2; ++half) {
            dd = 1 + num * dd;
            c = 1 + num / c;
            if (fabs(dd) < tiny) dd = tiny;
            if (fabs(c) < tiny) c = tiny;
            dd = 1 / dd;
            double delta = c * dd;
            f *= delta;
            if (half == 1 && fabs(delta - 1) < 1e-15) return f;
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
        }
    }
    return f;
}

double dx_incomplete_beta(double x, double a, double b)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    /* x^a (1-x)^b / (a B(a, b)), in logs */
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(x, a, b) / a;
    return 1 - front * beta_fraction(1 - x, b, a) / b; /* I_x(a, b) = 1 - I_{1-x}(b, a) */
}

double dx_t_two_sided_p(double t, double df)
{
    if (isnan(t)) return NAN;
    if (isinf(t)) return 0;
    return dx_incomplete_beta(df / (df + t * t), df / 2, 0.5);
}

static void moments(const double *v, int n, double *mean, double *var)
{
    double s = 0, ss = 0;
    for (int i = 0; i < n; ++i) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; ++i) ss += (v[i] - *mean) * (v[i] - *mean);
    *var = ss / (n - 1); /* unbiased */
}

/* t = diff / se with the degenerate se = 0 case: equal means give t = 0 (p = 1), else +-inf */
static double t_of(double diff, double se)
{
    if (se > 0) return diff / se;
    return diff == 0 ? 0 : diff > 0 ? INFINITY : -INFINITY;
}

int dx_ttest_student(const double *a, int na, const double *b, int nb, double *t, double *p)
{
    if (na < 2 || nb < 2) return -1;
    double ma, va, mb, vb;
    moments(a, na, &ma, &va);
    moments(b, nb, &mb, &vb);
    double df = na + nb - 2, pooled = ((na - 1) * va + (nb - 1) * vb) / df;
    *t = t_of(ma - mb, sqrt(pooled * (1.0 / na + 1.0 / nb)));
    *p = dx_t_two_sided_p(*t, df);
    return 0;
}

int dx_ttest_welch(const double *a, int na, const double *b, int nb, double *t, double *p, double *df)
{
    if (na < 2 || nb < 2) return -1;
    double ma, va, mb, vb;
    moments(a, na, &ma, &va);
    moments(b, nb, &mb, &vb);
    double qa = va / na, qb = vb / nb;
    double dof = qa + qb > 0 ? (qa + qb) * (qa + qb) / (qa * qa / (na - 1) + qb * qb / (nb - 1)) : na + nb - 2;
    *t = t_of(ma - mb, sqrt(qa + qb));
    *p = dx_t_two_sided_p(*t, dof);
    if (df) *df = dof;
    return 0;
}
