/* What the AlexeyAB backend's files share: alexeyab.c (the network, its hooks, weights, images)
 * and alexeyab_cfg.c (the cfg parsed in a child process). Includes the fork's darknet.h. */
#ifndef DX_ALEXEYAB_H
#define DX_ALEXEYAB_H
#include <darknet.h>
#include "backends/backend.h"

/* libdarknet.so exports these; the fork declares them in src/parser.h, src/activations.h and
 * src/gemm.h, which it does not install. */
network parse_network_cfg_custom(char *filename, int batch, int time_steps);
void load_weights(network *net, char *filename);
void save_weights(network net, char *filename);
void activate_array(float *x, const int n, const ACTIVATION a);
void activate_array_cpu_custom(float *x, const int n, const ACTIVATION a);
void gradient_array(const float *x, const int n, const ACTIVATION a, float *delta);
void gradient_array_swish(const float *x, const int n, const float *sigmoid, float *delta);
void gradient_array_mish(const int n, const float *activation_input, float *delta);
void gradient_array_hard_mish(const int n, const float *activation_input, float *delta);
int is_avx(void);
int is_fma_avx2(void);

/* The floats the weights file holds for layer l (inner layers of the recurrent types included),
 * as the fork's load_weights reads them (alexeyab.c). */
long dx_alexeyab_layer_floats(const layer *l);
/* The fork's parser run on cfg_path in a child process (alexeyab_cfg.c, before
 * dx_backend_check_cfg): 0 with the network's size at batch 1, or -1 with the line of the
 * fork's output that says why (shown_as names the cfg). */
int dx_alexeyab_parse_in_child(const char *cfg_path, const char *shown_as, dx_cfg_size *size, dx_error *err);
#endif
