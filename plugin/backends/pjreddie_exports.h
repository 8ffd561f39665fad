/* Functions Debian's libdarknet.so exports but darknet.h does not declare: the pjreddie backend's
 * dx_backend_activate / dx_backend_gradient call them, so that a stand-in forward and the
 * backward match Darknet's forward exactly. */
#ifndef DX_DARKNET_EXPORTS_H
#define DX_DARKNET_EXPORTS_H
#include <darknet.h>

/* delta[i] *= f'(x) where x is the activation's OUTPUT (Darknet's convention) */
void gradient_array(const float *x, const int n, const ACTIVATION a, float *delta);
void activate_array(float *x, const int n, const ACTIVATION a);
#endif
