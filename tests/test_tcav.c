/* TCAV (plugin/concepts): the logistic regression finds a planted direction, the t-test's p-values
 * are scipy's, the directional derivative is the finite difference of the logit along the CAV at
 * the layer, and on the embedded classifier with the generator's concept sets the scores find
 * what the generator planted (tools/concept_sets.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "../tools/concept_sets.h"
#include "concepts/logistic.h"
#include "concepts/tcav.h"
#include "engine.h"
#include "helpers.h"
#include "model.h"
#include "targets.h"

/* n points x ~ N(0, I_d) + shift, labelled by the side of the plane u.x = 0 they fall on (u a
 * random unit vector); the regression must find u. */
static void planted(int n, int d, uint64_t seed, float *x, unsigned char *y, float *u)
{
    rng r = {seed};
    double norm = 0;
    for (int j = 0; j < d; ++j) u[j] = (float)rng_normal(&r), norm += u[j] * u[j];
    for (int j = 0; j < d; ++j) u[j] /= (float)sqrt(norm);
    for (int i = 0; i < n; ++i) {
        double s = 0;
        for (int j = 0; j < d; ++j) x[i * d + j] = (float)(rng_normal(&r) + 3.0), s += (x[i * d + j] - 3.0) * u[j];
        y[i] = s > 0;
    }
}

static double cosine(const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < d; ++j) ab += a[j] * b[j], aa += a[j] * a[j], bb += b[j] * b[j];
    return ab / sqrt(aa * bb);
}

Test(tcav, logistic_regression_recovers_the_planted_direction)
{
    enum { N = 400, D = 20, HELD = 200 };
    float *x = malloc(sizeof(float) * (N + HELD) * D), u[D], w[D], b;
    unsigned char y[N + HELD];
    planted(N + HELD, D, 7, x, y, u);
    dx_error err;
    for (int k = 0; k < 3; ++k) {
        double lambda = k == 0 ? 1e-4 : k == 1 ? 1e-2 : 1;
        cr_assert_eq(dx_logistic_fit(x, y, N, D, lambda, 300, w, &b, &err), 0, "%s", err.msg);
        double acc = dx_logistic_accuracy(x + N * D, y + N, HELD, D, w, b), c = cosine(w, u, D);
        printf("lambda %g: held-out accuracy %.3f, cosine %.4f, |w| %.3f\n", lambda, acc, c, sqrt(cosine(w, w, D) * 0 + 1) * sqrt((double)w[0] * w[0]));
        cr_expect_gt(acc, 0.9, "lambda %g: held-out accuracy %.3f", lambda, acc);
        cr_expect_gt(c, 0.95, "lambda %g: cosine with the planted direction %.4f", lambda, c);
    }
    free(x);
}
