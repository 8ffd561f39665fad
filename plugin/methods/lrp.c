/* LRP (Bach et al. 2015; Montavon et al. 2019): the target's relevance, redistributed layer by
 * layer with each layer's rule (lrp/lrp.h) down to the input or to layer -layer L; the map is
 * the relevance summed over channels, signed. Stats: relevance_target (the seed's sum: the
 * logit for a class target), relevance_map (the map's sum), relevance_absorbed (kept by biases
 * and stabilisers), relevance_bypass (with -layer: reached layers below L around it), so that
 * target = map + absorbed + bypass. */
#include <stdlib.h>
#include "error.h"
#include "lrp/lrp.h"
#include "memory.h"
#include "methods.h"
#include "model.h"

int dx_method_lrp(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err)
{
    dx_target logit;
    if (m->net->layers[t->layer].type == DX_LAYER_SOFTMAX) {
        /* relevance starts at the class's logit, never at the softmax: -score prob does not
         * apply, and the result says what was explained */
        if (dx_class_target(m, t->cls, DX_SCORE_LOGIT, &logit, err) != 0) return -1;
        t = &logit;
        r->score_kind = DX_SCORE_LOGIT;
    }
    if (req->n_layers == DX_LAYERS_AUTO) {
        dx_set_error(err, "-layer auto is for CAM methods: lrp maps one layer's relevance, give -layer L");
        return -1;
    }
    if (req->n_layers > 1) {
        dx_set_error(err, "lrp maps one layer's relevance: give one -layer, not %d", req->n_layers);
        return -1;
    }
    int stop = req->n_layers == 1 ? req->layers[0] : -1;
    if (stop >= m->n) {
        dx_set_error(err, "layer %d does not exist: the model has layers 0..%d", stop, m->n - 1);
        return -1;
    }
    if (stop >= t->layer) {
        dx_set_error(err, "layer %d is not below the target's layer %d", stop, t->layer);
        return -1;
    }
    dx_rule *rules = dx_lrp_rules_for(m, req->lrp_composite, req->lrp_rules, err);
    if (!rules) return -1;
    dx_pass p = {0};
    int rc = dx_reverse(m, t, stop, &(dx_rules){rules, .relevance = 1}, &p, err);
    const dx_layer *l = stop >= 0 ? &m->net->layers[stop] : NULL;
    int channels = l ? l->out_c : m->net->c;
    int h = l ? l->out_h : m->net->h, w = l ? l->out_w : m->net->w;
    float *map = rc == 0 ? dx_alloc((size_t)h * w, sizeof(float), "the relevance map", err) : NULL;
    if (rc == 0 && !map) rc = -1;
    if (rc == 0) {
        const float *rel = dx_pass_buf(&p, stop);
        double sum = 0;
        for (int c = 0; c < channels; ++c)
            for (int q = 0; q < h * w; ++q) map[q] += rel[(size_t)c * h * w + q];
        for (int q = 0; q < h * w; ++q) sum += map[q];
        r->native = map;
        r->native_h = h;
        r->native_w = w;
        r->layer = stop;
        r->signed_map = 1;
        dx_result_stat(r, "relevance_target", p.seed_sum);
        dx_result_stat(r, "relevance_map", sum);
        dx_result_stat(r, "relevance_absorbed", p.absorbed);
        if (stop >= 0) dx_result_stat(r, "relevance_bypass", p.bypass);
    }
    dx_pass_free(m, &p);
    free(rules);
    return rc;
}
