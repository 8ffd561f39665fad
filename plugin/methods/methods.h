/* The methods. Each turns the forward already run (the model's state on the photo) and a
 * target into a native map: r->native (native_h x native_w over the network input frame),
 * r->layer, and where it applies r->signed_map and r->stats. A method may run other forward
 * passes (perturbed inputs); it then leaves the model's forward state on the original input
 * when it returns, so that the caller can go on with the next target. */
#ifndef DX_METHODS_H
#define DX_METHODS_H
#include "engine.h"
#include "methods/params.h"
#include "targets.h"

typedef int (*dx_method_fn)(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r,
                            dx_error *err);

/* A method that explains several targets (the boxes of one photo) from the same perturbed
 * forwards: t[0..n) and r[0..n); on failure the caller frees the results. */
typedef int (*dx_method_targets_fn)(dx_model *m, const dx_request *req, const dx_target *t, int n,
                                    dx_result *r, dx_error *err);

typedef struct {
    const char *name;  /* on the command line */
    dx_method_fn run;  /* one target (NULL when run_targets is set) */
    const char *help;  /* what it computes, for `<method> -h` (which lists its options after it) */
    /* whether `all` runs it on this model (NULL: every model); an explicit request still runs
     * it and gets the method's own error */
    int (*applies)(const dx_model *m);
    dx_method_targets_fn run_targets; /* all targets at once */
    /* The options it takes (DX_MOPT bits, methods/params.h): what its code reads of the request;
     * the command line refuses the others. */
    unsigned options;
    /* Its defaults of the options whose default differs between methods (dx_request_init_for;
     * 0 where it does not take the option). */
    int samples, masks, cell;
} dx_method_info;

const dx_method_info *dx_method_info_of(dx_method m); /* NULL for no such method */

int dx_method_applies(const dx_model *m, dx_method method);

/* Runs req->method for targets t[0..n) into r[0..n): at once where the method scores all
 * targets on each forward, else one by one. */
int dx_run_method(dx_model *m, const dx_request *req, const dx_target *t, int n, dx_result *r, dx_error *err);

/* Appends a named number to r->stats (ignored beyond DX_MAX_STATS). */
void dx_result_stat(dx_result *r, const char *name, double value);

int dx_method_gradcam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_cam_applies(const dx_model *m); /* a global-average-pool head for CAM */
int dx_method_cam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_gradcampp(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_xgradcam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_hirescam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_layercam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_eigencam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_eigengradcam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_scorecam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_ablationcam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_drise(dx_model *m, const dx_request *req, const dx_target *t, int n, dx_result *r,
                     dx_error *err);
int dx_method_saliency(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_inputxgrad(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_ig(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_deeplift(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
/* DeepLIFT of target t with `rule` against the reference base (net->inputs floats), with the
 * model's forward state on x: attr (net->inputs floats) = the input's contributions (Rescale:
 * (x - base) times the multipliers reaching the input; RevealCancel: m+ dx+ + m- dx-); *f_x,
 * *f_base the score on x and on base. Leaves the forward state on x. 0, or -1 with err (out of
 * memory, a layer without a rule). */
int dx_deeplift(dx_model *m, const dx_target *t, dx_deeplift_rule rule, const float *base, float *attr,
                double *f_x, double *f_base, dx_error *err);
/* revealcancel.c: RevealCancel's delta forward and two-channel backward from layer top (-1: the
 * input) down, with the model's forward state on x and refs[0..top] DeepLIFT's forwards on x'
 * (deeplift.c); mult (top's outputs floats) multiplies both parts of top's difference. attr as
 * dx_deeplift's. 0, or -1 with err (out of memory; a layer the backward reaches without a rule,
 * named). */
int dx_revealcancel(dx_model *m, int top, const float *mult, const dx_reference_layer *refs, const float *base,
                    float *attr, dx_error *err);
int dx_method_smoothgrad(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_smoothgrad2(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_vargrad(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_guidedbp(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_deconvnet(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_guidedgradcam(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_lrp(dx_model *m, const dx_request *req, const dx_target *t, dx_result *r, dx_error *err);
int dx_method_occlusion(dx_model *m, const dx_request *req, const dx_target *t, int n, dx_result *r,
                         dx_error *err);
int dx_method_rise(dx_model *m, const dx_request *req, const dx_target *t, int n, dx_result *r,
                    dx_error *err);
int dx_method_lime(dx_model *m, const dx_request *req, const dx_target *t, int n, dx_result *r,
                    dx_error *err);
int dx_method_kernelshap(dx_model *m, const dx_request *req, const dx_target *t, int n, dx_result *r,
                          dx_error *err);
#endif
