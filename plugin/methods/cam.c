/* The CAM family: at a layer with activations A (c x h x w), map = sum_k W_k ⊙ A_k, ReLU'd.
 * Methods differ only in the weights W (c x h x w; most give one weight per channel, repeated
 * over the channel's pixels). With -eigen_smooth (always for Eigen-CAM and EigenGrad-CAM) the
 * channel sum is replaced by the first principal component of W ⊙ A. With several layers
 * (-layer 8,12) each layer's map is scaled to [-1, 1] by its largest magnitude, resized
 * bilinearly (pixel centres aligned, as the map is drawn on the photo) to the finest layer's
 * resolution, and the maps are averaged (as pytorch-grad-cam aggregates target layers, which
 * min-max scales them instead: we keep zero and the sign meaningful); -layer auto picks them per
 * target (dx_auto_layers: a head's default layer and its inputs' coarser resolutions). -aug_smooth averages
 * the maps of 4 variants of the network input (identity, mirror, 1.1x zoom about the centre,
 * both), each mapped back to the original frame. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "error.h"
#include "io/image.h"
#include "layers/layers.h"
#include "memory.h"
#include "methods.h"
#include "model.h"
#include "scoring.h"

/* Fills weights (A's c x h x w) for layer `at`. */
typedef int (*cam_weights_fn)(dx_model *m, const dx_request *req, const dx_target *t, int at,
                              float *weights, dx_error *err);

typedef struct {
    cam_weights_fn weigh;
    int eigen; /* the map is always the principal component of W ⊙ A */
} cam_method;

static int cam_layer(const dx_model *m, int requested, const dx_target *t, dx_error *err)
{
    int index = requested >= 0 ? requested : dx_default_layer_for(m, t->layer);
    if (index < 0 || index >= m->n) {
        dx_set_error(err, "layer %d does not exist: the model has layers 0..%d", requested, m->n - 1);
        return -1;
    }
    const dx_layer *l = &m->net->layers[index];
    if (l->out_h * l->out_w <= 1) {
        dx_set_error(err, "layer %d [%s] has no spatial extent (%dx%dx%d output); CAM methods need a "
                          "layer with a feature map", index, l->type_name, l->out_w,
                     l->out_h, l->out_c);
        return -1;
    }
    if (index >= t->layer) {
        dx_set_error(err, "layer %d is not below the target's layer %d", index, t->layer);
        return -1;
    }
    return index;
}

/* LAPACK (in OpenBLAS): selected eigenpairs of a symmetric matrix; the trailing size_t are
 * gfortran's hidden lengths of the three character arguments. */
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
             const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
             const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t,
             size_t, size_t);

/* The largest eigenvalue of the symmetric n x n matrix a (destroyed) and its unit eigenvector;
 * -2 with err when out of memory, -1 when the decomposition fails. */
static int top_eigenpair(double *a, int n, double *value, double *vector, dx_error *err)
{
    int found, info, lwork = 26 * n, liwork = 10 * n;
    double zero = 0, abstol = 0;
    double *work = dx_alloc(lwork, sizeof(double), "Eigen-CAM's decomposition", err);
    int *iwork = dx_alloc(liwork, sizeof(int), "Eigen-CAM's decomposition", err), isuppz[2];
    if (!work || !iwork) {
        free(work);
        free(iwork);
        return -2;
    }
    dsyevr_("V", "I", "U", &n, a, &n, &zero, &zero, &n, &n, &abstol, &found, value, vector, &n, isuppz,
            work, &lwork, iwork, &liwork, &info, 1, 1, 1);
    free(work);
    free(iwork);
    return info == 0 && found == 1 ? 0 : -1;
}

/* pytorch-grad-cam's get_2d_projection: x is W ⊙ A (c x spatial); with X = x^T centred over the
 * pixels (spatial x c), map = X v, v the first right singular vector of X. Its sign is
 * arbitrary (pytorch-grad-cam #315); we choose the one whose map correlates positively with the
 * channel sum of x (the map without the projection). X v comes from the smaller Gram matrix:
 * X^T X (c x c) gives v; X X^T (spatial x spatial) gives u with X v = sqrt(lambda) u. */
static int first_component(const float *x, int c, int spatial, float *map, dx_error *err)
{
    int n = c < spatial ? c : spatial;
    double *centred = dx_alloc((size_t)c * spatial, sizeof(double), "Eigen-CAM's decomposition", err); /* c x spatial */
    double *gram = dx_alloc((size_t)n * n, sizeof(double), "Eigen-CAM's decomposition", err);
    double *vector = dx_alloc(n, sizeof(double), "Eigen-CAM's decomposition", err);
    if (!centred || !gram || !vector) {
        free(centred), free(gram), free(vector);
        return -1;
    }
    for (int k = 0; k < c; ++k) {
        double mean = 0;
        for (int p = 0; p < spatial; ++p) mean += x[(size_t)k * spatial + p];
        mean /= spatial;
        for (int p = 0; p < spatial; ++p) centred[(size_t)k * spatial + p] = x[(size_t)k * spatial + p] - mean;
    }
    if (n == c) /* X^T X = centred centred^T */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, c, spatial, 1, centred, spatial, 0, gram, n);
    else        /* X X^T = centred^T centred */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, spatial, c, 1, centred, spatial, 0, gram, n);
    /* dsyevr reads the matrix column-major: row-major upper is column-major lower; symmetric */
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < i; ++j) gram[(size_t)i * n + j] = gram[(size_t)j * n + i];
    double lambda;
    int eigen = top_eigenpair(gram, n, &lambda, vector, err);
    if (eigen != 0) {
        free(centred), free(gram), free(vector);
        if (eigen == -1)
            dx_set_error(err, "Eigen-CAM: the eigen decomposition of the %dx%d activation covariance failed", n, n);
        return -1;
    }
    double sign = 0;
    for (int p = 0; p < spatial; ++p) {
        double v = 0, sum = 0;
        if (n == c)
            for (int k = 0; k < c; ++k) v += centred[(size_t)k * spatial + p] * vector[k];
        else
            v = sqrt(lambda > 0 ? lambda : 0) * vector[p];
        for (int k = 0; k < c; ++k) sum += x[(size_t)k * spatial + p];
        map[p] = (float)v;
        sign += v * sum;
    }
    if (sign < 0)
        for (int p = 0; p < spatial; ++p) map[p] = -map[p];
    free(centred), free(gram), free(vector);
    return 0;
}

/* One layer's map: out_h x out_w floats (malloc'd), or NULL. */
static float *cam_map(dx_model *m, const dx_request *req, const dx_target *t, int at,
                      const cam_method *method, dx_error *err)
{
    const dx_layer *l = &m->net->layers[at];
    size_t spatial = (size_t)l->out_h * l->out_w, size = spatial * l->out_c;
    float *weighted = dx_alloc(size, sizeof(float), "the CAM", err);
    float *map = dx_alloc(spatial, sizeof(float), "the CAM", err);
    if (!weighted || !map) goto fail;
    if (method->weigh(m, req, t, at, weighted, err) != 0) goto fail;
    const float *acts = dx_output_of(m, at);
    for (size_t i = 0; i < size; ++i) weighted[i] *= acts[i];
    if (method->eigen || req->eigen_smooth) {
        if (first_component(weighted, l->out_c, (int)spatial, map, err) != 0) goto fail;
    } else {
        for (size_t i = 0; i < size; ++i) map[i % spatial] += weighted[i];
    }
    if (req->relu) /* NaN stays NaN (not 0): the map check reports it */
        for (size_t p = 0; p < spatial; ++p) map[p] = map[p] < 0.f ? 0.f : map[p];
    free(weighted);
    return map;
fail:
    free(weighted);
    free(map);
    return NULL;
}

static void scale_to_unit(float *map, size_t n)
{
    float peak = 0.f;
    for (size_t p = 0; p < n; ++p) peak = fmaxf(peak, fabsf(map[p]));
    if (peak > 0.f)
        for (size_t p = 0; p < n; ++p) map[p] /= peak;
}

/* The map of the model's current forward state: r->native, native_h/w, layer. */
static int cam_run(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r,
                   const cam_method *method, dx_error *err)
{
    int n = req->n_layers > 0 ? req->n_layers : 1;
    int at[DX_MAX_LAYERS], finest = -1, asked[DX_MAX_LAYERS];
    if (req->n_layers == DX_LAYERS_AUTO && (n = dx_auto_layers(m, t->layer, asked, err)) < 0) return -1;
    for (int k = 0; k < n; ++k) {
        at[k] = cam_layer(m, req->n_layers == DX_LAYERS_AUTO ? asked[k] : req->n_layers > 0 ? req->layers[k] : -1,
                          t, err);
        if (at[k] < 0) return -1;
        const dx_layer *l = &m->net->layers[at[k]];
        if (finest < 0 || l->out_h * l->out_w > m->net->layers[finest].out_h * m->net->layers[finest].out_w)
            finest = at[k];
    }
    int h = m->net->layers[finest].out_h, w = m->net->layers[finest].out_w;
    float *sum = n > 1 ? dx_alloc((size_t)h * w, sizeof(float), "the layers' CAMs", err) : NULL;
    if (n > 1 && !sum) return -1;
    for (int k = 0; k < n; ++k) {
        float *map = cam_map(m, req, t, at[k], method, err);
        if (!map) {
            free(sum);
            return -1;
        }
        if (n == 1) {
            r->native = map;
            break;
        }
        const dx_layer *l = &m->net->layers[at[k]];
        scale_to_unit(map, (size_t)l->out_h * l->out_w);
        /* the whole frame onto h x w: dx_native_to_photo with an empty letterbox */
        dx_letterbox frame = {.net_w = w, .net_h = h, .inner_w = w, .inner_h = h};
        float *resized = dx_native_to_photo(map, l->out_h, l->out_w, &frame, w, h);
        free(map);
        if (!resized) {
            free(sum);
            dx_set_error(err, "out of memory for the layers' CAMs");
            return -1;
        }
        for (int p = 0; p < h * w; ++p) sum[p] += resized[p] / n;
        free(resized);
    }
    if (n > 1) r->native = sum;
    r->native_h = h;
    r->native_w = w;
    r->layer = finest;
    r->signed_map = !req->relu;
    r->relu = req->relu;
    return 0;
}

#define AUG_ZOOM 1.1f

/* Variant a of the network input x (c x h x w): bit 0 mirrors, bit 1 zooms by AUG_ZOOM about
 * the centre (bilinear, pixel centres aligned). */
static void augment(const float *x, int c, int h, int w, int a, float *out)
{
    float zoom = a & 2 ? AUG_ZOOM : 1.f;
    for (int k = 0; k < c; ++k)
        for (int y = 0; y < h; ++y)
            for (int i = 0; i < w; ++i) {
                int from = a & 1 ? w - 1 - i : i;
                float sy = h / 2.f + (y + .5f - h / 2.f) / zoom - .5f;
                float sx = w / 2.f + (from + .5f - w / 2.f) / zoom - .5f;
                out[((size_t)k * h + y) * w + i] = zoom == 1.f ? x[((size_t)k * h + y) * w + from]
                    : dx_sample_bilinear(x + (size_t)k * h * w, h, w, sy, sx);
            }
}

/* Adds variant a's map (h x w, over the augmented frame) mapped back to the original frame into
 * sum, counting in count the variants that see each cell (a zoom does not see the border). */
static void add_unaugmented(const float *map, int h, int w, int a, float *sum, float *count)
{
    float zoom = a & 2 ? AUG_ZOOM : 1.f;
    for (int y = 0; y < h; ++y)
        for (int i = 0; i < w; ++i) {
            float fy = .5f + ((y + .5f) / h - .5f) * zoom, fx = .5f + ((i + .5f) / w - .5f) * zoom;
            if (fy < 0 || fy > 1 || fx < 0 || fx > 1) continue;
            float my = fy * h - .5f, mx = fx * w - .5f;
            if (a & 1) mx = w - 1 - mx;
            sum[y * w + i] += dx_sample_bilinear(map, h, w, my, mx);
            count[y * w + i] += 1;
        }
}

static int cam_explain(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r,
                       const cam_method *method, dx_error *err)
{
    if (!req->aug_smooth) return cam_run(m, req, t, r, method, err);
    const dx_net *net = m->net;
    size_t inputs = (size_t)net->inputs;
    float *original = dx_alloc(inputs, sizeof(float), "-aug_smooth", err);
    float *variant = dx_alloc(inputs, sizeof(float), "-aug_smooth", err);
    float *sum = NULL, *count = NULL, *restore = NULL;
    int rc = -1;
    if (!original || !variant) goto oom;
    memcpy(original, m->input, sizeof(float) * inputs);
    restore = original;
    for (int a = 0; a < 4; ++a) {
        augment(original, net->c, net->h, net->w, a, variant);
        dx_forward(m, variant);
        dx_result part = {0};
        if (cam_run(m, req, t, &part, method, err) != 0) goto done;
        if (!sum) {
            r->native_h = part.native_h;
            r->native_w = part.native_w;
            r->layer = part.layer;
            r->signed_map = part.signed_map;
            sum = dx_alloc((size_t)part.native_h * part.native_w, sizeof(float), "-aug_smooth", err);
            count = dx_alloc((size_t)part.native_h * part.native_w, sizeof(float), "-aug_smooth", err);
            if (!sum || !count) {
                free(part.native);
                goto oom;
            }
        }
        add_unaugmented(part.native, part.native_h, part.native_w, a, sum, count);
        free(part.native);
    }
    for (int p = 0; p < r->native_h * r->native_w; ++p) sum[p] /= count[p];
    r->native = sum;
    sum = NULL;
    rc = 0;
    goto done;
oom: /* err says so */
done:
    if (restore) dx_forward(m, restore); /* the caller's forward state */
    free(original);
    free(variant);
    free(sum);
    free(count);
    return rc;
}

/* d(score)/dA at layer at (c x h x w), or NULL. */
static const float *layer_gradient(dx_model *m, const dx_target *t, int at, dx_error *err)
{
    return dx_target_backward(m, t, at, NULL, err) == 0 ? dx_grad_of(m, at) : NULL;
}

static void repeat_over_pixels(float *weights, int k, size_t spatial, double w)
{
    for (size_t p = 0; p < spatial; ++p) weights[k * spatial + p] = (float)w;
}

/* Grad-CAM (Selvaraju et al.): W_k = mean over pixels of d(score)/dA_k. */
static int gradcam_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                           float *weights, dx_error *err)
{
    const float *grad = layer_gradient(m, t, at, err);
    if (!grad) return -1;
    const dx_layer *l = &m->net->layers[at];
    size_t spatial = (size_t)l->out_h * l->out_w;
    for (int k = 0; k < l->out_c; ++k) {
        double sum = 0;
        for (size_t p = 0; p < spatial; ++p) sum += grad[k * spatial + p];
        repeat_over_pixels(weights, k, spatial, sum / spatial);
    }
    return 0;
}

/* Grad-CAM++ (Chattopadhay et al., eq. 19, for S = exp(score)), as pytorch-grad-cam computes
 * it: a_ij = g^2 / (2 g^2 + sum_ab(A_ab) g^3 + 1e-6), 0 where g = 0; W_k = sum_ij a_ij ReLU(g_ij). */
static int gradcampp_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                             float *weights, dx_error *err)
{
    const float *grad = layer_gradient(m, t, at, err);
    if (!grad) return -1;
    const dx_layer *l = &m->net->layers[at];
    const float *acts = dx_output_of(m, at);
    size_t spatial = (size_t)l->out_h * l->out_w;
    for (int k = 0; k < l->out_c; ++k) {
        const float *g = grad + k * spatial, *a = acts + k * spatial;
        double sum_a = 0, w = 0;
        for (size_t p = 0; p < spatial; ++p) sum_a += a[p];
        for (size_t p = 0; p < spatial; ++p) {
            double g2 = (double)g[p] * g[p];
            if (g[p] > 0) w += g2 / (2 * g2 + sum_a * g2 * g[p] + 1e-6) * g[p];
        }
        repeat_over_pixels(weights, k, spatial, w);
    }
    return 0;
}

/* XGrad-CAM (Fu et al.): W_k = sum_ij g_ij A_ij / (sum_ij A_ij + 1e-7), as pytorch-grad-cam. */
static int xgradcam_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                            float *weights, dx_error *err)
{
    const float *grad = layer_gradient(m, t, at, err);
    if (!grad) return -1;
    const dx_layer *l = &m->net->layers[at];
    const float *acts = dx_output_of(m, at);
    size_t spatial = (size_t)l->out_h * l->out_w;
    for (int k = 0; k < l->out_c; ++k) {
        double sum_a = 0, sum_ga = 0;
        for (size_t p = 0; p < spatial; ++p) {
            sum_a += acts[k * spatial + p];
            sum_ga += (double)grad[k * spatial + p] * acts[k * spatial + p];
        }
        repeat_over_pixels(weights, k, spatial, sum_ga / (sum_a + 1e-7));
    }
    return 0;
}

/* HiResCAM (Draelos & Carin): W = d(score)/dA, element-wise. */
static int hirescam_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                            float *weights, dx_error *err)
{
    const float *grad = layer_gradient(m, t, at, err);
    if (!grad) return -1;
    memcpy(weights, grad, sizeof(float) * m->net->layers[at].outputs);
    return 0;
}

/* LayerCAM (Jiang et al.): W = ReLU(d(score)/dA), element-wise. */
static int layercam_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                            float *weights, dx_error *err)
{
    const float *grad = layer_gradient(m, t, at, err);
    if (!grad) return -1;
    for (int i = 0; i < m->net->layers[at].outputs; ++i) weights[i] = grad[i] > 0.f ? grad[i] : 0.f;
    return 0;
}

/* Eigen-CAM (Muhammad & Yeasin): the activations themselves. */
static int unit_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                        float *weights, dx_error *err)
{
    for (int i = 0; i < m->net->layers[at].outputs; ++i) weights[i] = 1.f;
    return 0;
}

/* Inference batch norm as the Darknet applies it: output f is multiplied by
 * scales[f] / dx_bn_divisor(l, f). */
static double bn_factor(const dx_layer *l, int f)
{
    return l->batch_normalize ? l->scales[f] / dx_bn_divisor(l, f) : 1.0;
}

/* What layer l is to CAM on the way down from the target: a linear map of the channels
 * (CAM_LINEAR: a 1x1 linear [convolutional] anywhere, a linear [connected] above the pool), the
 * global average pool, the identity ([dropout] at inference), or none of these. */
enum { CAM_OTHER, CAM_LINEAR, CAM_POOL, CAM_IDENTITY };
static int cam_head_layer(const dx_layer *l, int below_pool)
{
    if (l->type == DX_LAYER_CONVOLUTIONAL && l->size == 1 && l->stride == 1 && l->groups == 1 &&
        l->activation == DX_ACT_LINEAR && l->out_h == l->h && l->out_w == l->w)
        return CAM_LINEAR;
    if (l->type == DX_LAYER_CONNECTED && l->activation == DX_ACT_LINEAR && !below_pool) return CAM_LINEAR;
    if (l->type == DX_LAYER_AVGPOOL && !below_pool) return CAM_POOL;
    return l->type == DX_LAYER_DROPOUT ? CAM_IDENTITY : CAM_OTHER;
}

/* For `all`: the model's class target has a CAM head above the default layer. */
int dx_cam_applies(const dx_model *m)
{
    int below_pool = 0, at = dx_default_layer(m);
    dx_layer_kind head = m->net->layers[m->head].type;
    if (at < 0 || head == DX_LAYER_YOLO || head == DX_LAYER_REGION || head == DX_LAYER_DETECTION) return 0;
    for (int i = dx_find_logit_layer(m); i > at; --i) {
        int kind = cam_head_layer(&m->net->layers[i], below_pool);
        if (kind == CAM_OTHER) return 0;
        below_pool |= kind == CAM_POOL;
    }
    return below_pool;
}

/* CAM (Zhou et al.): the head between layer at and the target is linear in A's channel means:
 * score = sum_k w_k mean_ij(A_k) + bias. Walking it down from the target turns the target's
 * one-hot class into w: a [connected] or 1x1 [convolutional] (linear, batch norm folded) maps
 * weights over its outputs to weights over its inputs, [avgpool] keeps them per channel,
 * [dropout] is the identity at inference. */
static int cam_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                       float *weights, dx_error *err)
{
    const dx_net *net = m->net;
    int top = t->layer, below_pool = 0;
    double *w = dx_alloc(net->layers[top].outputs, sizeof(double), "the CAM's weights", err);
    if (!w) return -1;
    w[t->cls] = 1;
    for (int i = top; i > at; --i) {
        const dx_layer *l = &net->layers[i];
        int kind = cam_head_layer(l, below_pool);
        if (kind == CAM_OTHER) {
            free(w);
            dx_set_error(err, "CAM needs a global-average-pool head between layer %d and the target "
                              "layer %d ([avgpool] with 1x1 linear [convolutional] below it or linear "
                              "[connected] above it); layer %d [%s] is not one",
                         at, top, i, l->type_name);
            return -1;
        }
        below_pool |= kind == CAM_POOL;
        if (kind != CAM_LINEAR) continue;
        int outs = l->type == DX_LAYER_CONVOLUTIONAL ? l->n : l->outputs, ins = l->type == DX_LAYER_CONVOLUTIONAL ? l->c : l->inputs;
        double *below = dx_alloc(ins, sizeof(double), "the CAM's weights", err);
        if (!below) {
            free(w);
            return -1;
        }
        for (int f = 0; f < outs; ++f) {
            double wf = w[f] * bn_factor(l, f);
            for (int k = 0; k < ins; ++k) below[k] += wf * l->weights[(size_t)f * ins + k];
        }
        free(w);
        w = below;
    }
    if (!below_pool) {
        free(w);
        dx_set_error(err, "CAM needs an [avgpool] between layer %d and the target layer %d", at, top);
        return -1;
    }
    const dx_layer *l = &net->layers[at];
    size_t spatial = (size_t)l->out_h * l->out_w;
    for (int k = 0; k < l->out_c; ++k) repeat_over_pixels(weights, k, spatial, w[k]);
    free(w);
    return 0;
}

/* Score-CAM (Wang et al.): channel k of A, upsampled to the input (bilinear, pixel centres
 * aligned) and min-max scaled to [0, 1] (+1e-8 as pytorch-grad-cam), masks the input;
 * W_k = softmax over k of the masked inputs' target scores. The paper's weights are the score
 * gains over a baseline input, softmaxed: the baseline's score cancels in the softmax, so
 * these are also pytorch-grad-cam's. Masked inputs are scored -batch at a time (at -batch 1,
 * over the workers' threads). */
static int scorecam_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                            float *weights, dx_error *err)
{
    const dx_net *net = m->net;
    const dx_layer *l = &net->layers[at];
    size_t spatial = (size_t)l->out_h * l->out_w, frame = (size_t)net->h * net->w;
    int c = l->out_c, batch = dx_score_chunk(req->batch, c); /* masked inputs per scoring call */
    float *acts = dx_alloc(l->outputs, sizeof(float), "Score-CAM", err);
    float *original = dx_alloc(net->inputs, sizeof(float), "Score-CAM", err);
    float *masked = dx_alloc((size_t)net->inputs * batch, sizeof(float), "Score-CAM", err);
    float *mask = dx_alloc(frame, sizeof(float), "Score-CAM", err);
    float *scores = dx_alloc(c, sizeof(float), "Score-CAM", err), *restore = NULL;
    int rc = -1;
    if (!acts || !original || !masked || !mask || !scores) goto done;
    memcpy(acts, dx_output_of(m, at), sizeof(float) * l->outputs);
    memcpy(original, m->input, sizeof(float) * net->inputs);
    restore = original;
    dx_letterbox whole = {.net_w = net->w, .net_h = net->h, .inner_w = net->w, .inner_h = net->h};
    for (int k0 = 0; k0 < c; k0 += batch) {
        int n = c - k0 < batch ? c - k0 : batch;
        for (int b = 0; b < n; ++b) {
            float *up = dx_native_to_photo(acts + (k0 + b) * spatial, l->out_h, l->out_w, &whole, net->w, net->h);
            if (!up) {
                dx_set_error(err, "out of memory for Score-CAM");
                goto done;
            }
            float lo = up[0], hi = up[0];
            for (size_t p = 1; p < frame; ++p) lo = fminf(lo, up[p]), hi = fmaxf(hi, up[p]);
            for (size_t p = 0; p < frame; ++p) mask[p] = (up[p] - lo) / (hi - lo + 1e-8f);
            free(up);
            float *x = masked + (size_t)b * net->inputs;
            for (size_t i = 0; i < (size_t)net->inputs; ++i) x[i] = original[i] * mask[i % frame];
        }
        if (dx_score_inputs(m, t, masked, n, req->batch, scores + k0, err) != 0) goto done;
    }
    float best = scores[0];
    for (int k = 1; k < c; ++k) best = fmaxf(best, scores[k]);
    double total = 0;
    for (int k = 0; k < c; ++k) total += exp((double)scores[k] - best);
    for (int k = 0; k < c; ++k) repeat_over_pixels(weights, k, spatial, exp((double)scores[k] - best) / total);
    rc = 0;
done:
    if (restore) dx_forward(m, restore); /* the caller's forward state */
    free(acts), free(original), free(masked), free(mask), free(scores);
    return rc;
}

/* Ablation-CAM (Desai & Ramaswamy), as pytorch-grad-cam: W_k = (S - S_k) / S with S_k the
 * target score when channel k of layer at's output is zeroed in Darknet's buffer and the
 * layers above are re-run from it. */
static int ablation_weights(dx_model *m, const dx_request *req, const dx_target *t, int at,
                            float *weights, dx_error *err)
{
    const dx_layer *l = &m->net->layers[at];
    size_t spatial = (size_t)l->out_h * l->out_w;
    float score = dx_target_score(t, m);
    if (score == 0.f) {
        dx_set_error(err, "Ablation-CAM divides by the target score, which is 0 here");
        return -1;
    }
    float *kept = dx_alloc(spatial, sizeof(float), "Ablation-CAM", err);
    if (!kept) return -1;
    for (int k = 0; k < l->out_c; ++k) {
        float *channel = l->output + k * spatial;
        memcpy(kept, channel, sizeof(float) * spatial);
        memset(channel, 0, sizeof(float) * spatial);
        dx_forward_from(m, at + 1);
        float ablated = dx_target_score(t, m);
        memcpy(channel, kept, sizeof(float) * spatial);
        repeat_over_pixels(weights, k, spatial, ((double)score - ablated) / score);
    }
    dx_forward_from(m, at + 1);
    free(kept);
    return 0;
}

#define CAM_METHOD(name, weights_fn, always_eigen)                                                   \
    int dx_method_##name(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r,       \
                         dx_error *err)                                                              \
    {                                                                                                \
        static const cam_method method = {weights_fn, always_eigen};                                 \
        return cam_explain(m, req, t, r, &method, err);                                              \
    }

CAM_METHOD(gradcam, gradcam_weights, 0)
CAM_METHOD(cam, cam_weights, 0)
CAM_METHOD(gradcampp, gradcampp_weights, 0)
CAM_METHOD(xgradcam, xgradcam_weights, 0)
CAM_METHOD(hirescam, hirescam_weights, 0)
CAM_METHOD(layercam, layercam_weights, 0)
CAM_METHOD(eigencam, unit_weights, 1)
CAM_METHOD(eigengradcam, hirescam_weights, 1)
CAM_METHOD(scorecam, scorecam_weights, 0)
CAM_METHOD(ablationcam, ablation_weights, 0)
