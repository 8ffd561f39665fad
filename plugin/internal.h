/* What the plugin's rooms share: the model, the hooks, the reverse-pass engine. Not installed. */
#ifndef DX_INTERNAL_H
#define DX_INTERNAL_H

#include <stddef.h>
#include <stdarg.h>
#include "explain.h"

/* One layer's hook state (hooks.c). */
typedef struct {
    void (*darknet_forward)(struct layer, struct network); /* Darknet's own forward */
    float *capture;     /* when non-NULL, the layer's output is copied here after each forward */
    double ms_total;    /* accumulated forward time while timing is on */
    long calls;
} dx_hook;

struct dx_model {
    network *net;
    char cfg_path[1024];
    char weights_path[1024];
    int n;                    /* layers */
    dx_hook *hooks;           /* one per layer */
    int timing;               /* per-layer timing on/off */
    float *input;             /* the network input of the last forward (net->inputs floats) */
    /* Reverse pass (engine.c): d(target)/d(layer output), plugin-owned, one buffer per layer. */
    float **grad;
    float *grad_input;        /* d(target)/d(network input) */
    unsigned char *touched;   /* grad[i] holds a non-zero seed or contribution */
    float *scratch;           /* per-layer temporaries (largest need over the layers) */
    size_t scratch_len;
    char **names;
    int n_names;
    int head;                 /* index of the layer whose output is the model's output */
    double ms_backward;       /* time spent in dx_backward since the caller zeroed it */
    char warnings[4096];      /* what cfg checking found harmless but worth saying, one per line */
};

void dx_set_error(dx_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cfg_check.c: validation of the cfg text before Darknet parses it, and the batch-1 copy.
 * Returns 0 when Debian's Darknet can parse the cfg safely and computes what the text says;
 * -1 with "PATH:LINE: what is wrong" otherwise. Harmless oddities (keys Darknet ignores) are
 * appended to warnings (one per line, may be NULL). */
int dx_cfg_check(const char *cfg_path, char *warnings, size_t warnings_len, dx_error *err);
/* Writes a copy of the cfg with batch=1 and subdivisions=1 to an anonymous file; returns its
 * fd (caller closes) and the /proc path to pass to Darknet. */
int dx_cfg_batch1_copy(const char *cfg_path, char *path_out, size_t path_len, dx_error *err);

/* model.c */
long dx_weights_floats(const network *net); /* floats the weights file must hold after its header */
const char *dx_layer_type_name(LAYER_TYPE t);

/* hooks.c */
int dx_hooks_install(dx_model *m, dx_error *err);
void dx_hooks_remove(dx_model *m);
int dx_capture(dx_model *m, int layer, int on); /* keep a copy of a layer's output (0 on success) */

/* engine.c — the inference-mode reverse pass. */
int dx_forward(dx_model *m, const float *input);   /* runs Darknet's forward on input (net->inputs) */
const float *dx_output_of(const dx_model *m, int j); /* layer j's output; j < 0: the network input */
float *dx_grad_of(dx_model *m, int j);               /* grad buffer of j (marks it touched); j < 0: input */
/* Zeroes all gradients, places seed (layer top's outputs floats) at layer top and propagates it
 * down until the gradient of layer stop's output is complete (stop = -1: the network input). */
int dx_backward(dx_model *m, int top, const float *seed, int stop, dx_error *err);
float *dx_scratch(dx_model *m, size_t floats);

/* layers/: one backward per Darknet layer type (see layers/layers.h). */
int dx_layer_backward(dx_model *m, int i, const float *gout, dx_error *err);
size_t dx_layer_scratch_floats(const layer *l);

/* targets.c */
int dx_find_logit_layer(const dx_model *m);  /* the layer whose outputs are the class scores */
int dx_class_seed(dx_model *m, int cls, dx_score kind, int *seed_layer, float **seed, dx_error *err);

#endif
