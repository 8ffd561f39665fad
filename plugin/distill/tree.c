/* CART (Breiman et al. 1984) for classification: binary splits on one feature at a time, Gini
 * impurity, grown greedily to a depth limit, no pruning (as scikit-learn's
 * DecisionTreeClassifier with max_depth and min_samples_leaf, but with deterministic
 * tie-breaking instead of a random feature order). */
#include <stdlib.h>
#include <string.h>
#include "distill/distill.h"
#include "error.h"
#include "memory.h"

/* Two impurity sums closer than this are equal (they are sums of a few hundred quotients of
 * whole numbers: rounding differs between splits of equal impurity by far less). */
#define TIE 1e-9

typedef struct {
    float v;
    int i;
} keyed;

static int by_value(const void *a, const void *b)
{
    const keyed *p = a, *q = b;
    if (p->v != q->v) return p->v < q->v ? -1 : 1;
    return (p->i > q->i) - (p->i < q->i);
}

typedef struct {
    const float *x;
    const int *y;
    int d, k;
    dx_tree_params p;
    dx_tree *t;
    keyed *sorted;      /* n */
    long long *left, *right; /* k class counts each */
    dx_error *err;
} grower;

/* n times the Gini impurity of counts c (n of them in all): n - sum c^2 / n */
static double weighted_gini(long long sq, int n)
{
    return n > 0 ? n - (double)sq / n : 0;
}

static int new_node(grower *g, const int *idx, int n, int depth)
{
    dx_tree *t = g->t;
    dx_tree_node *grown = dx_realloc_array(t->nodes, (size_t)t->n_nodes + 1, sizeof *grown, "the tree", g->err);
    if (!grown) return -1;
    t->nodes = grown;
    dx_tree_node *nd = &t->nodes[t->n_nodes];
    *nd = (dx_tree_node){.feature = -1, .left = -1, .right = -1, .depth = depth, .n = n};
    if (!(nd->counts = dx_alloc((size_t)g->k, sizeof(int), "the tree", g->err))) return -1;
    for (int i = 0; i < n; ++i) nd->counts[g->y[idx[i]]]++;
    long long sq = 0;
    for (int c = 0; c < g->k; ++c) {
        sq += (long long)nd->counts[c] * nd->counts[c];
        if (nd->counts[c] > nd->counts[nd->cls]) nd->cls = c;
    }
    nd->gini = n > 0 ? weighted_gini(sq, n) / n : 0;
    return t->n_nodes++;
}

/* The best split of the samples idx[0..n): *feature -1 when none lowers the impurity. */
static void best_split(grower *g, const int *idx, int n, int *feature, float *threshold)
{
    *feature = -1;
    long long sq_all = 0;
    for (int c = 0; c < g->k; ++c) g->right[c] = 0;
    for (int i = 0; i < n; ++i) g->right[g->y[idx[i]]]++;
    for (int c = 0; c < g->k; ++c) sq_all += g->right[c] * g->right[c];
    double best = weighted_gini(sq_all, n) - TIE; /* a split must lower it */
    for (int f = 0; f < g->d; ++f) {
        for (int i = 0; i < n; ++i) g->sorted[i] = (keyed){g->x[(size_t)idx[i] * g->d + f], idx[i]};
        qsort(g->sorted, (size_t)n, sizeof *g->sorted, by_value);
        for (int c = 0; c < g->k; ++c) {
            g->left[c] = 0;
            g->right[c] = 0;
        }
        for (int i = 0; i < n; ++i) g->right[g->y[idx[i]]]++;
        long long sq_left = 0, sq_right = sq_all;
        for (int i = 0; i + 1 < n; ++i) { /* sorted[0..i] go left */
            int c = g->y[g->sorted[i].i];
            sq_left += 2 * g->left[c] + 1;
            sq_right -= 2 * g->right[c] - 1;
            g->left[c]++;
            g->right[c]--;
            int nl = i + 1, nr = n - nl;
            float a = g->sorted[i].v, b = g->sorted[i + 1].v;
            if (a == b || nl < g->p.min_leaf || nr < g->p.min_leaf) continue;
            double w = weighted_gini(sq_left, nl) + weighted_gini(sq_right, nr);
            if (w < best) {
                best = w - TIE;
                *feature = f;
                float mid = (float)(((double)a + b) / 2);
                *threshold = mid < b && mid >= a ? mid : a;
            }
        }
    }
}

static int grow(grower *g, int *idx, int n, int depth)
{
    int at = new_node(g, idx, n, depth);
    if (at < 0) return -1;
    dx_tree *t = g->t;
    if (depth > t->depth) t->depth = depth;
    int feature = -1;
    float threshold = 0;
    if (depth < g->p.max_depth && t->nodes[at].gini > 0 && n >= 2 * g->p.min_leaf)
        best_split(g, idx, n, &feature, &threshold);
    if (feature < 0) {
        t->leaves++;
        return at;
    }
    /* stable partition: the left samples first, each side in its former order */
    int *tmp = dx_alloc((size_t)n, sizeof(int), "the tree", g->err);
    if (!tmp) return -1;
    int nl = 0, nr = 0;
    for (int i = 0; i < n; ++i)
        if (g->x[(size_t)idx[i] * g->d + feature] <= threshold) idx[nl++] = idx[i];
        else tmp[nr++] = idx[i];
    memcpy(idx + nl, tmp, sizeof(int) * (size_t)nr);
    free(tmp);
    t->nodes[at].feature = feature;
    t->nodes[at].threshold = threshold;
    int left = grow(g, idx, nl, depth + 1);
    if (left < 0) return -1;
    t->nodes[at].left = left;
    int right = grow(g, idx + nl, nr, depth + 1);
    if (right < 0) return -1;
    t->nodes[at].right = right;
    return at;
}

int dx_tree_fit(const float *x, const int *y, int n, int n_features, int n_classes, const dx_tree_params *p,
                dx_tree *t, dx_error *err)
{
    memset(t, 0, sizeof *t);
    if (n < 1 || n_features < 1 || n_classes < 1 || p->max_depth < 0 || p->min_leaf < 1) {
        dx_set_error(err, "a tree needs samples (%d), features (%d), classes (%d), a depth >= 0 (%d) and "
                          "leaves of >= 1 sample (%d)", n, n_features, n_classes, p->max_depth, p->min_leaf);
        return -1;
    }
    for (int i = 0; i < n; ++i)
        if (y[i] < 0 || y[i] >= n_classes) {
            dx_set_error(err, "sample %d's class %d is not one of the %d classes", i, y[i], n_classes);
            return -1;
        }
    t->n_features = n_features;
    t->n_classes = n_classes;
    t->params = *p;
    grower g = {x, y, n_features, n_classes, *p, t, NULL, NULL, NULL, err};
    int *idx = dx_alloc((size_t)n, sizeof(int), "the tree", err);
    g.sorted = idx ? dx_alloc((size_t)n, sizeof(keyed), "the tree", err) : NULL;
    g.left = g.sorted ? dx_alloc((size_t)n_classes * 2, sizeof(long long), "the tree", err) : NULL;
    int rc = -1;
    if (g.left) {
        g.right = g.left + n_classes;
        for (int i = 0; i < n; ++i) idx[i] = i;
        rc = grow(&g, idx, n, 0) < 0 ? -1 : 0;
    }
    free(idx);
    free(g.sorted);
    free(g.left);
    if (rc != 0) dx_tree_free(t);
    return rc;
}

void dx_tree_free(dx_tree *t)
{
    for (int k = 0; k < t->n_nodes; ++k) free(t->nodes[k].counts);
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

int dx_tree_leaf(const dx_tree *t, const float *x)
{
    int k = 0;
    while (t->nodes[k].feature >= 0)
        k = x[t->nodes[k].feature] <= t->nodes[k].threshold ? t->nodes[k].left : t->nodes[k].right;
    return k;
}

int dx_tree_predict(const dx_tree *t, const float *x)
{
    return t->nodes[dx_tree_leaf(t, x)].cls;
}

static void write_counts(const dx_tree *t, const dx_tree_node *nd, FILE *f, const char *const *classes)
{
    fprintf(f, "n=%d gini=%.4f", nd->n, nd->gini);
    for (int c = 0; c < t->n_classes; ++c)
        if (nd->counts[c]) fprintf(f, " %s:%d", classes[c], nd->counts[c]);
}

static void write_node(const dx_tree *t, int k, int indent, FILE *f, const char *const *features,
                       const char *const *classes)
{
    const dx_tree_node *nd = &t->nodes[k];
    if (nd->feature < 0) {
        fprintf(f, "%*sclass %s  (", indent, "", classes[nd->cls]);
        write_counts(t, nd, f, classes);
        fprintf(f, ")\n");
        return;
    }
    fprintf(f, "%*sif %s <= %.9g  (", indent, "", features[nd->feature], nd->threshold);
    write_counts(t, nd, f, classes);
    fprintf(f, ")\n");
    write_node(t, nd->left, indent + 2, f, features, classes);
    fprintf(f, "%*selse  (%s > %.9g)\n", indent, "", features[nd->feature], nd->threshold);
    write_node(t, nd->right, indent + 2, f, features, classes);
}

int dx_tree_write_text(const dx_tree *t, FILE *f, const char *const *features, const char *const *classes)
{
    write_node(t, 0, 0, f, features, classes);
    return ferror(f) ? -1 : 0;
}

void dx_tree_write_json(const dx_tree *t, dx_json *j, const char *const *features, const char *const *classes)
{
    dx_json_arr_begin(j);
    for (int k = 0; k < t->n_nodes; ++k) {
        const dx_tree_node *nd = &t->nodes[k];
        dx_json_obj_begin(j);
        dx_json_key(j, "id");
        dx_json_int(j, k);
        dx_json_key(j, "depth");
        dx_json_int(j, nd->depth);
        dx_json_key(j, "n");
        dx_json_int(j, nd->n);
        dx_json_key(j, "gini");
        dx_json_num(j, nd->gini);
        dx_json_key(j, "counts");
        dx_json_arr_begin(j);
        for (int c = 0; c < t->n_classes; ++c) dx_json_int(j, nd->counts[c]);
        dx_json_arr_end(j);
        dx_json_key(j, "class");
        dx_json_int(j, nd->cls);
        dx_json_key(j, "class_name");
        dx_json_str(j, classes[nd->cls]);
        if (nd->feature >= 0) {
            dx_json_key(j, "feature");
            dx_json_int(j, nd->feature);
            dx_json_key(j, "feature_name");
            dx_json_str(j, features[nd->feature]);
            dx_json_key(j, "threshold");
            dx_json_num(j, nd->threshold);
            dx_json_key(j, "left");
            dx_json_int(j, nd->left);
            dx_json_key(j, "right");
            dx_json_int(j, nd->right);
        }
        dx_json_obj_end(j);
    }
    dx_json_arr_end(j);
}
