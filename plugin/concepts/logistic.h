/* The two statistics TCAV needs, written here: an L2-regularised logistic regression (the linear
 * classifier whose normal is the concept activation vector) and Student's two-sample t-test with
 * its two-sided p-value (the significance test over the random concepts). Deterministic: the same
 * inputs give the same floats on every run. */
#ifndef DX_CONCEPTS_LOGISTIC_H
#define DX_CONCEPTS_LOGISTIC_H
#include <stddef.h>
#include "explain.h"

/* Minimises  (1/n) sum_i log(1 + exp(-s_i (w.x_i + b))) + (lambda/2) |w|^2,  s_i = +1 where y[i]
 * else -1, over w (d floats) and b, by Nesterov's accelerated gradient descent with the step
 * 1/L (L: the loss's Lipschitz constant, from a power iteration on X's rows centred per feature)
 * for `iters` steps. x: n rows of d floats (row-major); y: n labels (0 or 1). w receives the
 * weights, *b the bias. 0, or -1 with err (out of memory; n < 2, or one class absent). */
int dx_logistic_fit(const float *x, const unsigned char *y, int n, int d, double lambda, int iters, float *w,
                    float *b, dx_error *err);
/* The fraction of the n rows that w, b put on their label's side (w.x + b > 0 for y = 1). */
double dx_logistic_accuracy(const float *x, const unsigned char *y, int n, int d, const float *w, float b);

/* Student's two-sample t-test (pooled variance, as scipy.stats.ttest_ind's default and the TCAV
 * paper's code): t of a against b and its two-sided p-value, df = na + nb - 2. Both samples
 * constant: t = 0, p = 1 when the means are equal, else t = +-inf, p = 0. 0, or -1 when
 * na < 2 or nb < 2. */
int dx_ttest_student(const double *a, int na, const double *b, int nb, double *t, double *p);
/* Welch's unequal-variance test (scipy's equal_var=False): the same with the Welch-Satterthwaite
 * degrees of freedom (*df receives them; may be NULL). */
int dx_ttest_welch(const double *a, int na, const double *b, int nb, double *t, double *p, double *df);
/* The two-sided p-value of t with df degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2). */
double dx_t_two_sided_p(double t, double df);
/* The regularised incomplete beta function I_x(a, b) (a, b > 0, 0 <= x <= 1). */
double dx_incomplete_beta(double x, double a, double b);
#endif
