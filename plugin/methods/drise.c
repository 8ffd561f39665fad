/* D-RISE (Petsiuk et al., "Black-box Explanation of Object Detectors via Saliency Maps", CVPR
 * 2021): a black-box map for one detected box. N random masks M_i (RISE's: a coarse grid of
 * cells kept with probability p, upsampled bilinearly, shifted by a random offset under one
 * cell) multiply the network input; each masked input's weight is the best similarity of any of
 * its proposals (every anchor and cell of every head, before thresholds and NMS) to the target
 * box:  s = IoU(target box, proposal box) x cos(one-hot target class, proposal class
 * probabilities) x proposal objectness.  map = sum_i w_i M_i / (N p), over the network input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "detect.h"
#include "engine.h"
#include "error.h"
#include "memory.h"
#include "model.h"
#include "perturb.h"
#include "rng.h"
#include "scoring.h"

/* One mask, net_h x net_w: grid cells (cell x cell input pixels) kept with probability p,
 * shifted by (shift_x, shift_y) in [0, cell). */
static void draw_mask(dx_rng *rng, int net_w, int net_h, int cell, float p, unsigned char *grid, float *mask)
{
    int gw = (net_w + cell - 1) / cell + 1, gh = (net_h + cell - 1) / cell + 1;
    for (int k = 0; k < gw * gh; ++k) grid[k] = dx_rng_uniform(rng) < p;
    float shift_x = (float)(dx_rng_uniform(rng) * cell), shift_y = (float)(dx_rng_uniform(rng) * cell);
    dx_upsample_mask(grid, gh, gw, (float)cell, (float)cell, shift_y, shift_x, net_h, net_w, mask);
}

/* max over the current forward's proposals of IoU x class cosine x objectness */
static float best_similarity(const dx_model *m, dx_box target, int cls)
{
    const dx_net *net = m->net;
    float best = 0;
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &net->layers[i];
        if (l->type != DX_LAYER_YOLO && l->type != DX_LAYER_REGION) continue;
        for (int cell = 0; cell < l->w * l->h; ++cell)
            for (int a = 0; a < l->n; ++a) {
                float obj = dx_head_objectness(l, a, cell);
                if (!(obj > best)) continue; /* s <= obj: it cannot win */
                float iou = dx_iou(target, dx_head_box(l, a, cell / l->w, cell % l->w, net->w, net->h));
                if (!(iou * obj > best)) continue;
                double norm = 0;
                for (int k = 0; k < l->classes; ++k) {
                    float pk = dx_head_class_prob(l, a, cell, k);
                    norm += (double)pk * pk;
                }
                float s = norm > 0 ? iou * obj * (float)(dx_head_class_prob(l, a, cell, cls) / sqrt(norm)) : 0;
                if (s > best) best = s;
            }
    }
    return best;
}

typedef struct {
    const dx_box *targets;
    const dx_target *t;
    int n_targets;
} similarity_ctx;

/* scoring.c's reader: each target box's best similarity in the current forward */
static void read_similarities(void *ctx, const dx_model *m, float *scores)
{
    const similarity_ctx *s = ctx;
    for (int j = 0; j < s->n_targets; ++j) scores[j] = best_similarity(m, s->targets[j], s->t[j].cls);
}

/* Every target from the same masks: one forward per mask, then each box's best similarity. The
 * masks are drawn in order on this thread a chunk at a time and their inputs scored over the
 * workers' threads (scoring.c); the sums add them in mask order. */
int dx_method_drise(dx_model *m, const dx_request *req, const dx_target *t, int n_targets, dx_result *r,
                    dx_error *err)
{
    dx_net *net = m->net;
    for (int j = 0; j < n_targets; ++j) {
        const dx_layer *head = &net->layers[t[j].layer];
        if (head->type != DX_LAYER_YOLO && head->type != DX_LAYER_REGION) {
            dx_set_error(err, "drise explains a detector's boxes; %s ends in [%s]", m->cfg_path,
                         head->type_name);
            return -1;
        }
    }
    int masks = req->masks, cells = req->cell;
    if (masks < 1 || cells < 1 || !(req->keep_prob > 0 && req->keep_prob < 1)) {
        dx_set_error(err, "drise: -masks %d, -cell %d, -p %g: need masks >= 1, cell >= 1, 0 < p < 1",
                     masks, cells, req->keep_prob);
        return -1;
    }
    int side = net->w > net->h ? net->w : net->h;
    int plane = net->w * net->h, cell = (side + cells - 1) / cells; /* in network-input pixels */
    size_t grid_len = (size_t)((net->w + cell - 1) / cell + 1) * ((net->h + cell - 1) / cell + 1);
    int chunk = dx_score_chunk(1, masks); /* one forward per mask: the model is loaded at batch 1 */
    const char *what = "the D-RISE masks";
    float *original = dx_alloc(net->inputs, sizeof(float), what, err);
    float *masked = dx_alloc((size_t)net->inputs * chunk, sizeof(float), what, err);
    float *mask = dx_alloc((size_t)plane * chunk, sizeof(float), what, err);
    unsigned char *grid = dx_alloc(grid_len, 1, what, err);
    dx_box *targets = dx_alloc(n_targets, sizeof(dx_box), what, err);
    double *sum = dx_alloc((size_t)plane * n_targets, sizeof(double), what, err);
    double *weights = dx_alloc(n_targets, sizeof(double), what, err);
    float *similarity = dx_alloc((size_t)chunk * n_targets, sizeof(float), what, err);
    int rc = -1;
    if (!original || !masked || !mask || !grid || !targets || !sum || !weights || !similarity) goto done;
    if (dx_perturbation_maps(m, r, n_targets, 0, err) != 0) goto done;
    for (int j = 0; j < n_targets; ++j)
        targets[j] = dx_head_box(&net->layers[t[j].layer], t[j].anchor, t[j].row, t[j].col, net->w, net->h);
    memcpy(original, dx_output_of(m, -1), sizeof(float) * net->inputs);
    dx_rng rng;
    dx_rng_init(&rng, req->seed);
    similarity_ctx read = {targets, t, n_targets};
    /* one forward per mask: the model is loaded at batch 1 */
    for (int first = 0; first < masks; first += chunk) {
        int count = masks - first < chunk ? masks - first : chunk;
        for (int i = 0; i < count; ++i) {
            float *mask_i = mask + (size_t)plane * i, *masked_i = masked + (size_t)net->inputs * i;
            draw_mask(&rng, net->w, net->h, cell, req->keep_prob, grid, mask_i);
            for (int c = 0; c < net->c; ++c)
                for (int p = 0; p < plane; ++p) masked_i[c * plane + p] = original[c * plane + p] * mask_i[p];
        }
        if (dx_score_inputs_read(m, read_similarities, &read, n_targets, masked, count, similarity, err) != 0) {
            dx_forward(m, original);
            goto done;
        }
        for (int i = 0; i < count; ++i)
            for (int j = 0; j < n_targets; ++j) {
                float w = similarity[(size_t)i * n_targets + j];
                const float *mask_i = mask + (size_t)plane * i;
                weights[j] += w;
                for (int p = 0; p < plane; ++p) sum[(size_t)plane * j + p] += w * mask_i[p];
            }
    }
    dx_forward(m, original); /* the caller's forward state, as it was */
    for (int j = 0; j < n_targets; ++j) {
        for (int p = 0; p < plane; ++p) r[j].native[p] = (float)(sum[(size_t)plane * j + p] / ((double)masks * req->keep_prob));
        dx_result_stat(&r[j], "masks", masks);
        dx_result_stat(&r[j], "mean_weight", weights[j] / masks);
    }
    rc = 0;
done:
    free(original);
    free(masked);
    free(mask);
    free(grid);
    free(targets);
    free(sum);
    free(weights);
    free(similarity);
    return rc;
}
