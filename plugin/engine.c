/* The reverse pass: Darknet computes the forward; the plugin owns every buffer and walks the
 * layers from the target down, in inference mode (frozen batch norm, dropout as the identity, no
 * weight gradients). Darknet's backward pointers are never called. One walk serves the gradient,
 * guided backprop, DeconvNet and every LRP form: they differ only in the rules passed in (as
 * Zennit implements them all with one mechanism), never in state kept on the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "error.h"
#include "io/image.h"
#include "layers/layers.h"
#include "memory.h"
#include "model.h"
#include "targets.h"

const dx_rules dx_gradient_rules = {.every = {.kind = DX_RULE_GRADIENT}};
const dx_rules dx_guided_rules = {.every = {.kind = DX_RULE_GUIDED}};
const dx_rules dx_deconv_rules = {.every = {.kind = DX_RULE_DECONV}};

double dx_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int dx_forward(dx_model *m, const float *input)
{
    if (input != m->input) memcpy(m->input, input, sizeof(float) * m->net->inputs);
    dx_backend_forward(m->net, m->input);
    return 0;
}

static int check_finite_forward(const dx_model *m, dx_error *err)
{
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        long bad = dx_count_nonfinite(l->output, (size_t)l->outputs);
        if (bad) {
            dx_set_error(err, "%s: layer %d (%s) outputs %ld non-finite values (NaN or inf) of %d: non-finite "
                              "weights or an overflow; nothing explained",
                         dx_model_file(m), i, l->type_name, bad, l->outputs);
            return -1;
        }
    }
    return 0;
}

int dx_forward_photo(dx_model *m, dx_image photo, double *ms, dx_error *err)
{
    if (m->net->letterbox && dx_letterbox_check(photo.w, photo.h, m->net->w, m->net->h, NULL, err) != 0) return -1;
    dx_image boxed = dx_fit_photo(m, photo);
    /* each layer's part of this forward, apart from the ones before it and the method's after it */
    for (int i = 0; m->timing && i < m->n; ++i) m->hooks[i].ms_photo = -m->hooks[i].ms_total;
    double t0 = dx_now_ms();
    dx_forward(m, boxed.data);
    if (ms) *ms = dx_now_ms() - t0;
    for (int i = 0; m->timing && i < m->n; ++i) m->hooks[i].ms_photo += m->hooks[i].ms_total;
    dx_free_image(boxed);
    return check_finite_forward(m, err);
}

void dx_forward_layer(dx_model *m, int i)
{
    dx_backend_forward_layer(m->net, i, i > 0 ? m->net->layers[i - 1].output : m->input);
}

void dx_forward_layer_linear(dx_model *m, int i)
{
    /* a stand-in forward would apply the activation; the layer's timing and capture are the
     * model's forward's, not this re-run's */
    int fast = m->fast_layers, timing = m->timing;
    float *capture = m->hooks ? m->hooks[i].capture : NULL;
    m->fast_layers = m->timing = 0;
    if (capture) m->hooks[i].capture = NULL;
    dx_backend_forward_layer_linear(m->net, i, i > 0 ? m->net->layers[i - 1].output : m->input);
    m->fast_layers = fast, m->timing = timing;
    if (capture) m->hooks[i].capture = capture;
}

void dx_forward_from(dx_model *m, int first)
{
    for (int i = first; i < m->n; ++i) dx_forward_layer(m, i);
}

const float *dx_output_of(const dx_model *m, int j)
{
    return j < 0 ? m->input : m->net->layers[j].output;
}

float *dx_scratch(dx_model *m, size_t floats)
{
    (void)floats; /* within m->scratch_len: dx_layer_scratch_floats */
    return m->scratch;
}

float *dx_pass_buf(dx_pass *p, int j)
{
    if (j < 0) return p->buf_input;
    p->touched[j] = 1; /* p->buf[j] exists: dx_reverse_seeded reserved it */
    return p->buf[j];
}

const dx_rule *dx_rule_of(const dx_pass *p, int i)
{
    return p->rules->layers ? &p->rules->layers[i] : &p->rules->every;
}

float *dx_pass_work(dx_pass *p, size_t floats, dx_error *err)
{
    if (floats > p->work_len) {
        free(p->work);
        p->work = dx_alloc(floats, sizeof(float), "the reverse pass's work buffer", err);
        p->work_len = p->work ? floats : 0;
    }
    return p->work;
}

void dx_pass_free(const dx_model *m, dx_pass *p)
{
    for (int j = 0; p->buf && j < m->n; ++j) free(p->buf[j]);
    free(p->buf);
    free(p->touched);
    free(p->buf_input);
    free(p->work);
    memset(p, 0, sizeof *p);
}

/* The first pass allocates the per-layer tables; later ones zero what the last one touched. */
static int prepare(const dx_model *m, dx_pass *p, int top, int stop, dx_error *err)
{
    if (!p->buf) {
        char subject[DX_SUBJECT_LEN];
        snprintf(subject, sizeof subject, "the reverse pass of %s", dx_model_file(m));
        p->buf = dx_alloc(m->n, sizeof(float *), subject, err);
        p->touched = dx_alloc(m->n, 1, subject, err);
        p->buf_input = dx_alloc(m->net->inputs, sizeof(float), subject, err);
        if (!p->buf || !p->touched || !p->buf_input) { /* all or none: the next pass starts over */
            dx_pass_free(m, p);
            return -1;
        }
    }
    if (dx_reserve_reverse(m, p->buf, top, stop, err) != 0) return -1;
    for (int j = 0; j < m->n; ++j) {
        if (p->touched[j]) memset(p->buf[j], 0, sizeof(float) * m->net->layers[j].outputs);
        p->touched[j] = 0;
    }
    memset(p->buf_input, 0, sizeof(float) * m->net->inputs);
    p->seed_sum = p->absorbed = p->bypass = 0;
    return 0;
}

int dx_reverse_seeded(dx_model *m, int top, const float *seed, int stop, const dx_rules *rules, dx_pass *p,
                      dx_error *err)
{
    if (top < 0 || top >= m->n || stop < -1 || stop >= top) {
        dx_set_error(err, "%s from layer %d down to %d: no such range (the model has layers 0..%d)",
                     rules->relevance ? "LRP" : "backward", top, stop, m->n - 1);
        return -1;
    }
    if (prepare(m, p, top, stop, err) != 0) return -1;
    double t0 = dx_now_ms();
    float *at_top = dx_pass_buf(p, top);
    memcpy(at_top, seed, sizeof(float) * m->net->layers[top].outputs);
    for (int k = 0; k < m->net->layers[top].outputs; ++k) p->seed_sum += at_top[k];
    /* Layers are in topological order: once every layer above `stop` has been walked, what
     * reaches stop's output is complete. Untouched layers feed nothing to the target. */
    p->rules = rules;
    int rc = 0;
    for (int i = top; i > stop && rc == 0; --i)
        if (p->touched[i]) rc = dx_layer_reverse(m, p, i, p->buf[i], err);
    p->rules = NULL;
    m->ms_backward += dx_now_ms() - t0;
    if (rc != 0) return -1;
    for (int j = 0; j < stop; ++j)
        if (p->touched[j])
            for (int k = 0; k < m->net->layers[j].outputs; ++k) p->bypass += p->buf[j][k];
    if (rules->relevance) return 0;
    /* a gradient that overflowed would reach the maps as NaN, which a ReLU or a max turns into 0 */
    const float *g = stop < 0 ? p->buf_input : p->touched[stop] ? p->buf[stop] : NULL;
    long bad = dx_count_nonfinite(g, (size_t)(stop < 0 ? m->net->inputs : m->net->layers[stop].outputs));
    if (bad) {
        char where[32] = "the input";
        if (stop >= 0) snprintf(where, sizeof where, "layer %d", stop);
        dx_set_error(err, "%s: the gradient reaching %s holds %ld non-finite values (NaN or inf): the backward "
                          "from layer %d overflows",
                     dx_model_file(m), where, bad, top);
        return -1;
    }
    return 0;
}

int dx_reverse(dx_model *m, const dx_target *t, int stop, const dx_rules *rules, dx_pass *p, dx_error *err)
{
    if (t->layer < 0 || t->layer >= m->n) {
        dx_set_error(err, "the target's layer %d does not exist: the model has layers 0..%d", t->layer, m->n - 1);
        return -1;
    }
    size_t outputs = (size_t)m->net->layers[t->layer].outputs;
    char subject[DX_SUBJECT_LEN];
    snprintf(subject, sizeof subject, "the seed of layer %d of %s", t->layer, dx_model_file(m));
    float *seed = dx_alloc(outputs, sizeof(float), subject, err);
    if (!seed) return -1;
    t->eval(t, m, seed);
    const float *out = dx_output_of(m, t->layer);
    if (rules->relevance)
        for (size_t k = 0; k < outputs; ++k) seed[k] *= out[k];
    int rc = dx_reverse_seeded(m, t->layer, seed, stop, rules, p, err);
    free(seed);
    return rc;
}

int dx_backward(dx_model *m, int top, const float *seed, int stop, dx_error *err)
{
    return dx_reverse_seeded(m, top, seed, stop, &dx_gradient_rules, &m->pass, err);
}

float *dx_grad_of(dx_model *m, int j)
{
    return dx_pass_buf(&m->pass, j);
}
