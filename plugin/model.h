/* model.c: the model the plugin's rooms share (struct dx_model) and opening it. */
#ifndef DX_MODEL_H
#define DX_MODEL_H
#include "backends/backend.h"
#include "engine.h"
#include "explain.h"
#include "hooks.h"
#include "workers.h"

struct dx_model {
    dx_net *net;
    dx_cfg_size size;         /* what the cfg check estimated (for the memory checks of copies) */
    long max_pixels;          /* photos with more pixels are refused (dx_open_options.max_pixels) */
    char cfg_path[1024];
    char weights_path[1024];
    int n;                    /* layers */
    dx_hook *hooks;           /* one per dx_layer */
    int timing;               /* per-layer timing on/off */
    int fast_layers;          /* run the hooks' fast_forward stand-ins (dx_set_fast_layers) */
    int onednn;               /* the convolutions' stand-in is oneDNN's (dx_set_onednn) */
    int incremental;          /* occlusion recomputes only what a window reaches (dx_set_incremental) */
    struct dx_model *batched; /* its batch-N copy of the network (NULL until needed) */
    /* workers.c's copies for workers 1.. (batch 1; NULL until a job needs them) */
    struct dx_model *copies[DX_MAX_WORKERS - 1];
    int scored_by;            /* workers that scored inputs in the last spread scoring (scoring.c) */
    float *input;             /* the network input of the last forward (net->inputs floats) */
    /* The reverse pass of dx_backward and dx_target_backward (engine.c): d(target)/d(layer
     * output), plugin-owned, one buffer per layer (dx_grad_of). */
    dx_pass pass;
    float *scratch;           /* per-layer temporaries (largest need over the layers) */
    /* layers/conv_onednn.c's buffer for one oneDNN call's blocked input, blocked output and
     * scratchpad, shared by every layer's primitives (the largest need so far; hooks.c frees it) */
    void *onednn_buffer;
    size_t onednn_buffer_bytes;
    size_t scratch_len;
    char **names;
    int n_names;
    int head;                 /* index of the layer whose output is the model's output */
    double ms_backward;       /* time spent in reverse passes since the caller zeroed it */
    char warnings[4096];      /* what cfg checking found harmless but worth saying, one per line */
};

/* model.c */
/* Darknet's messages go to /dev/null in between (restore takes what silence returned). */
int dx_silence_stderr(void);
void dx_restore_stderr(int saved);
long dx_count_nonfinite(const float *v, size_t n); /* NaN and inf among v[0..n) */
const char *dx_model_file(const dx_model *m);     /* the weights path, or the cfg's without weights */
/* m's network again at batch N, same parameters and hooks, input buffer for N inputs */
dx_model *dx_open_batch_copy(const dx_model *m, int batch, dx_error *err);
/* dx_open_batch_copy's memory check passes (without an error message) */
int dx_batch_copy_fits(const dx_model *m, int batch);
/* Closes m's copies (the batch-N one and the workers'): they hold the parameters as they were. */
void dx_close_copies(dx_model *m);

/* The layer CAM methods use for a target at layer top: for a detector's head, the last feature
 * layer feeding it; otherwise dx_default_layer. */
int dx_default_layer_for(const dx_model *m, int top);
#endif
