/* Forward hooks: after load, every layer's forward pointer is wrapped. The wrapper calls
 * Darknet's own forward (the forward is Darknet's, unchanged) and then does what the running
 * method asked for: keep a copy of the layer's output, time the layer. With nothing asked it
 * costs one table look-up per layer. It is also where a faster forward stands in for Darknet's
 * on a layer type Darknet computes slowly (grouped/depthwise convolutions: one small gemm per
 * group); the stand-in's outputs equal Darknet's (tests/test_speed.c). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

/* Darknet passes the layer and the network by value, so the wrapper finds its model through
 * the network's layer array, which is unique per loaded network. */
#define DX_MAX_MODELS 64
static struct { const layer *layers; dx_model *model; } registry[DX_MAX_MODELS];
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static dx_model *model_of(const layer *layers)
{
    dx_model *found = 0;
    pthread_mutex_lock(&registry_lock);
    for (int k = 0; k < DX_MAX_MODELS && !found; ++k)
        if (registry[k].layers == layers) found = registry[k].model;
    pthread_mutex_unlock(&registry_lock);
    return found;
}

static void hooked_forward(layer l, network net)
{
    dx_model *m = model_of(net.layers);
    dx_hook *h = &m->hooks[net.index];
    double t0 = m->timing ? dx_now_ms() : 0;
    if (m->fast_layers && h->fast_forward) h->fast_forward(l, net);
    else h->darknet_forward(l, net);
    if (m->timing) {
        h->ms_total += dx_now_ms() - t0;
        h->calls++;
    }
    if (h->capture) memcpy(h->capture, l.output, sizeof(float) * l.outputs);
}

int dx_hooks_install(dx_model *m, dx_error *err)
{
    m->hooks = calloc(m->n, sizeof(dx_hook));
    if (!m->hooks) {
        dx_set_error(err, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&registry_lock);
    int slot = -1;
    for (int k = 0; k < DX_MAX_MODELS && slot < 0; ++k)
        if (!registry[k].layers) slot = k;
    if (slot >= 0) {
        registry[slot].layers = m->net->layers;
        registry[slot].model = m;
    }
    pthread_mutex_unlock(&registry_lock);
    if (slot < 0) {
        dx_set_error(err, "more than %d models open at once", DX_MAX_MODELS);
        return -1;
    }
    const char *env = getenv("DX_FAST_LAYERS");
    m->fast_layers = !(env && strcmp(env, "0") == 0);
    env = getenv("DX_INCREMENTAL");
    m->incremental = !(env && strcmp(env, "0") == 0);
    for (int i = 0; i < m->n; ++i) {
        layer *l = &m->net->layers[i];
        m->hooks[i].darknet_forward = l->forward;
        if (l->type == CONVOLUTIONAL && l->groups > 1 && !l->xnor && !l->binary)
            m->hooks[i].fast_forward = dx_forward_grouped_convolutional;
        l->forward = hooked_forward;
    }
    return 0;
}

void dx_hooks_remove(dx_model *m)
{
    if (!m->hooks) return;
    for (int i = 0; i < m->n; ++i) {
        m->net->layers[i].forward = m->hooks[i].darknet_forward;
        free(m->hooks[i].capture);
    }
    pthread_mutex_lock(&registry_lock);
    for (int k = 0; k < DX_MAX_MODELS; ++k)
        if (registry[k].model == m) registry[k].layers = 0, registry[k].model = 0;
    pthread_mutex_unlock(&registry_lock);
    free(m->hooks);
    m->hooks = 0;
}

int dx_capture(dx_model *m, int i, int on)
{
    if (i < 0 || i >= m->n) return -1;
    dx_hook *h = &m->hooks[i];
    if (on && !h->capture) {
        h->capture = calloc((size_t)m->net->layers[i].outputs, sizeof(float));
        if (!h->capture) return -1;
    } else if (!on) {
        free(h->capture);
        h->capture = 0;
    }
    return 0;
}

void dx_set_layer_timing(dx_model *m, int on)
{
    m->timing = on;
    for (int i = 0; i < m->n; ++i) m->hooks[i].ms_total = 0, m->hooks[i].calls = 0;
}

double dx_layer_forward_ms(const dx_model *m, int i)
{
    if (i < 0 || i >= m->n) return -1;
    return m->hooks[i].calls ? m->hooks[i].ms_total / m->hooks[i].calls : 0;
}

void dx_set_fast_layers(dx_model *m, int on)
{
    m->fast_layers = on != 0;
    if (m->batched) m->batched->fast_layers = m->fast_layers;
}

void dx_set_incremental(dx_model *m, int on)
{
    m->incremental = on != 0;
}
