#ifndef DX_HOOKS_H
#define DX_HOOKS_H
#include "explain.h"

/* A forward standing in for the Darknet's on layer i of m: reads input (batch x inputs floats),
 * writes the layer's output buffer, equal to the Darknet's forward. 0, or -1 when it could not
 * (nothing written that counts): the Darknet's own forward runs instead. */
typedef int (*dx_fast_forward_fn)(dx_model *m, int i, const float *input);
struct dx_onednn_conv;

/* One layer's hook state (hooks.c). */
typedef struct {
    dx_fast_forward_fn fast_forward; /* the plugin's stand-in, or NULL: the Darknet's own */
    struct dx_onednn_conv *onednn; /* layers/onednn.h's primitive, built at the first forward */
    float *capture;     /* when non-NULL, the layer's output is copied here after each forward */
    double ms_total;    /* accumulated forward time while timing is on */
    long calls;
    double ms_photo;    /* its time (ms) in the last dx_forward_photo while timing is on: the JSON's */
    int stood_in;       /* the stand-in computed the layer's last forward (not the Darknet's) */
} dx_hook;

/* hooks.c */
int dx_hooks_install(dx_model *m, dx_error *err);
void dx_hooks_remove(dx_model *m);
int dx_capture(dx_model *m, int layer, int on); /* keep a copy of a layer's output (0 on success) */
int dx_onednn_layers_ran(const dx_model *m);    /* layers whose last forward was oneDNN's */
#endif
