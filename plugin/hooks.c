/* Forward hooks: the backend calls hooked_forward in place of every layer's forward. It calls
 * the Darknet's own forward (the forward is Darknet's, unchanged) and then does what the running
 * method asked for: keep a copy of the layer's output, time the layer. With nothing asked it
 * costs one table look-up per layer. It is also where a faster forward stands in for Darknet's
 * on a layer type Darknet computes slowly (grouped/depthwise convolutions: one small gemm per
 * group), and unless DX_ONEDNN=0 every convolution through oneDNN (layers/onednn.h: its direct
 * convolutions, batch norm and activation fused). The stand-ins' outputs equal Darknet's
 * (tests/test_speed.c, tests/test_onednn.c: within float rounding for oneDNN's). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "error.h"
#include "hooks.h"
#include "layers/layers.h"
#include "layers/onednn.h"
#include "memory.h"
#include "model.h"

static void hooked_forward(void *owner, int i, dx_layer_call *call)
{
    dx_model *m = owner;
    dx_hook *h = &m->hooks[i];
    double t0 = m->timing ? dx_now_ms() : 0;
    h->stood_in = m->fast_layers && h->fast_forward && h->fast_forward(m, i, dx_backend_call_input(call)) == 0;
    if (!h->stood_in) dx_backend_call_darknet(call);
    if (m->timing) {
        h->ms_total += dx_now_ms() - t0;
        h->calls++;
    }
    if (h->capture) memcpy(h->capture, m->net->layers[i].output, sizeof(float) * m->net->layers[i].outputs);
}

int dx_hooks_install(dx_model *m, dx_error *err)
{
    m->hooks = dx_alloc(m->n, sizeof(dx_hook), m->cfg_path, err);
    if (!m->hooks) return -1;
    const char *env = getenv("DX_FAST_LAYERS");
    m->fast_layers = !(env && strcmp(env, "0") == 0);
    env = getenv("DX_INCREMENTAL");
    m->incremental = !(env && strcmp(env, "0") == 0);
    /* oneDNN's convolutions unless DX_ONEDNN=0: 1.9-2.7x faster forwards
     * (docs/benchmarks.md#onednn-convolutions), within float rounding of Darknet's; off gives
     * Darknet's own forward bit for bit. They read a layer's parameters once (folded and
     * reordered): parameters changed in place are announced (dx_params_changed). */
    env = getenv("DX_ONEDNN");
    dx_set_onednn(m, !(env && strcmp(env, "0") == 0));
    dx_backend_set_hook(m->net, hooked_forward, m);
    return 0;
}

/* The oneDNN states' call buffer (layers/conv_onednn.c), made again at their next call. */
static void free_onednn_buffer(dx_model *m)
{
    free(m->onednn_buffer);
    m->onednn_buffer = 0;
    m->onednn_buffer_bytes = 0;
}

void dx_set_onednn(dx_model *m, int on)
{
    m->onednn = on != 0;
    if (!m->onednn) free_onednn_buffer(m);
    for (int i = 0; i < m->n; ++i) {
        const dx_layer *l = &m->net->layers[i];
        dx_hook *h = &m->hooks[i];
        dx_onednn_conv_free(h->onednn);
        h->onednn = 0;
        h->fast_forward = 0;
        if (m->onednn && dx_onednn_supports(l))
            h->fast_forward = dx_forward_onednn_convolutional;
        else if (l->type == DX_LAYER_CONVOLUTIONAL && l->groups > 1 && !l->binary && l->dilation == 1 &&
                 l->stride_x == l->stride_y && !l->darknet_forward_only)
            h->fast_forward = dx_forward_grouped_convolutional;
    }
    if (m->batched) dx_set_onednn(m->batched, on);
}

void dx_hooks_remove(dx_model *m)
{
    if (!m->hooks) return;
    dx_backend_set_hook(m->net, 0, 0);
    for (int i = 0; i < m->n; ++i) {
        free(m->hooks[i].capture);
        dx_onednn_conv_free(m->hooks[i].onednn);
    }
    free(m->hooks);
    m->hooks = 0;
    free_onednn_buffer(m);
}

int dx_capture(dx_model *m, int i, int on)
{
    if (i < 0 || i >= m->n) return -1;
    dx_hook *h = &m->hooks[i];
    if (on && !h->capture) {
        h->capture = dx_alloc(m->net->layers[i].outputs, sizeof(float), "a layer's capture", NULL); /* -1 says so */
        if (!h->capture) return -1;
    } else if (!on) {
        free(h->capture);
        h->capture = 0;
    }
    return 0;
}

void dx_params_changed(dx_model *m, int layer)
{
    if (!m || !m->hooks || layer >= m->n) return;
    for (int i = layer < 0 ? 0 : layer; i < (layer < 0 ? m->n : layer + 1); ++i) {
        dx_onednn_conv_free(m->hooks[i].onednn);
        m->hooks[i].onednn = 0;
    }
    /* the batch copy and the workers' copies loaded the weights as they were (model.c's
     * dx_open_batch_copy) */
    dx_close_copies(m);
}

int dx_onednn_layers_ran(const dx_model *m)
{
    int n = 0;
    for (int i = 0; i < m->n; ++i) n += m->hooks[i].stood_in && m->hooks[i].fast_forward == dx_forward_onednn_convolutional;
    return n;
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
