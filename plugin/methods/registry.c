/* The registry of methods: the one table that names them, for the API and the command line. */
#include <stdio.h>
#include <string.h>
#include "methods.h"

/* The options each family's code reads (dx_method_info.options): the CAM family's
 * cam_explain reads the layers, the ReLU and both smoothings; every method but lrp starts from
 * the class's logit or probability (-score). */
#define TARGET DX_MOPT(SCORE)
#define CAM (TARGET | DX_MOPT(LAYER) | DX_MOPT(RELU) | DX_MOPT(EIGEN_SMOOTH) | DX_MOPT(AUG_SMOOTH))
#define EIGEN (TARGET | DX_MOPT(LAYER) | DX_MOPT(RELU) | DX_MOPT(AUG_SMOOTH)) /* always the component */
#define SMOOTH (TARGET | DX_MOPT(SAMPLES) | DX_MOPT(NOISE) | DX_MOPT(SEED))
#define PERTURB (TARGET | DX_MOPT(OCCLUDE) | DX_MOPT(SEED) | DX_MOPT(BATCH))
#define MASKS (DX_MOPT(MASKS) | DX_MOPT(CELL) | DX_MOPT(P))

static const dx_method_info registry[DX_METHOD_COUNT] = {
    [DX_METHOD_GRADCAM] = {"gradcam", dx_method_gradcam,
        "Grad-CAM: weighs each channel of a layer's feature map by the mean gradient of the\n"
        "target score over it, sums, keeps the positive part.\n", .options = CAM},
    [DX_METHOD_SALIENCY] = {"saliency", dx_method_saliency,
        "Saliency: the gradient of the target score with respect to the input pixels,\n"
        "max of |gradient| over the colour channels.\n", .options = TARGET},
    [DX_METHOD_INPUTXGRAD] = {"inputxgrad", dx_method_inputxgrad,
        "Input x gradient: the input pixels times the gradient of the target score, summed\n"
        "over the colour channels (signed).\n", .options = TARGET},
    [DX_METHOD_IG] = {"ig", dx_method_ig,
        "Integrated Gradients: (x - x') times the mean gradient on the straight path from a\n"
        "baseline x' to the input x (trapezoid rule), summed over the colour channels (signed).\n"
        "The attributions add up to f(x) - f(x'); the JSON's method_stats give both and the gap.\n",
        .options = TARGET | DX_MOPT(STEPS) | DX_MOPT(BASELINE) | DX_MOPT(SEED)},
    [DX_METHOD_DEEPLIFT] = {"deeplift", dx_method_deeplift,
        "DeepLIFT (Shrikumar et al.): (x - x') times the multipliers of one reverse pass against\n"
        "a forward on the baseline x', summed over the colour channels (signed). -rule rescale:\n"
        "each activation's derivative is (f(z) - f(z')) / (z - z') ([maxpool] as Captum's);\n"
        "-rule revealcancel: the differences' positive and negative parts travel apart and each\n"
        "activation gives each part its own multiplier. The attributions add up to f(x) - f(x')\n"
        "for a class logit or a box's score; the JSON's method_stats give both and the gap\n"
        "(docs/methods.md).\n",
        .options = TARGET | DX_MOPT(BASELINE) | DX_MOPT(RULE) | DX_MOPT(SEED)},
    [DX_METHOD_SMOOTHGRAD] = {"smoothgrad", dx_method_smoothgrad,
        "SmoothGrad: the mean gradient over noisy copies of the input, max of |mean| over the\n"
        "colour channels.\n", .options = SMOOTH, .samples = 25},
    [DX_METHOD_SMOOTHGRAD2] = {"smoothgrad2", dx_method_smoothgrad2,
        "SmoothGrad-squared: the mean squared gradient over noisy copies of the input, max over\n"
        "the colour channels.\n", .options = SMOOTH, .samples = 25},
    [DX_METHOD_VARGRAD] = {"vargrad", dx_method_vargrad,
        "VarGrad: the variance of the gradient over noisy copies of the input, max over the\n"
        "colour channels.\n", .options = SMOOTH, .samples = 25},
    [DX_METHOD_GUIDEDBP] = {"guidedbp", dx_method_guidedbp,
        "Guided backpropagation: the gradient with every rectifier (relu, leaky, ...) passing\n"
        "only positive gradients and only where its input is positive (leaky: times its slope);\n"
        "max of |.| over the colour channels.\n", .options = TARGET},
    [DX_METHOD_DECONVNET] = {"deconvnet", dx_method_deconvnet,
        "DeconvNet: the gradient with every rectifier passing the positive part of the\n"
        "gradient whatever its input; max of |.| over the colour channels.\n", .options = TARGET},
    [DX_METHOD_GUIDEDGRADCAM] = {"guidedgradcam", dx_method_guidedgradcam,
        "Guided Grad-CAM: the guidedbp map times the Grad-CAM map (its options as gradcam's)\n"
        "resized bilinearly to the input.\n", .options = CAM},
    [DX_METHOD_CAM] = {"cam", dx_method_cam,
        "CAM (Zhou et al.): the map sum_k w_k A_k with w the target class's weights in a\n"
        "global-average-pool head above the layer ([avgpool] with 1x1 linear [convolutional] or\n"
        "linear [connected] layers, batch norm folded; the head's bias is left out). Other heads\n"
        "are refused. Equals Grad-CAM times the layer's pixel count.\n", dx_cam_applies, .options = CAM},
    [DX_METHOD_GRADCAMPP] = {"gradcam++", dx_method_gradcampp,
        "Grad-CAM++: channel weights sum_ij a_ij ReLU(g_ij) with the closed form\n"
        "a = g^2 / (2 g^2 + sum_ij(A) g^3) of an exponential score (as pytorch-grad-cam; a = 0\n"
        "where g = 0), g = d(score)/dA.\n", .options = CAM},
    [DX_METHOD_XGRADCAM] = {"xgradcam", dx_method_xgradcam,
        "XGrad-CAM: channel weights sum_ij g_ij A_ij / sum_ij A_ij.\n", .options = CAM},
    [DX_METHOD_HIRESCAM] = {"hirescam", dx_method_hirescam,
        "HiResCAM: sum over channels of the gradient times the activation, element-wise.\n", .options = CAM},
    [DX_METHOD_LAYERCAM] = {"layercam", dx_method_layercam,
        "LayerCAM: sum over channels of ReLU(gradient) times the activation, element-wise.\n", .options = CAM},
    [DX_METHOD_EIGENCAM] = {"eigencam", dx_method_eigencam,
        "Eigen-CAM: the first principal component of the layer's activations (pixels x channels,\n"
        "centred over pixels), signed to correlate positively with their channel sum. Class-\n"
        "agnostic: no gradient.\n", .options = EIGEN},
    [DX_METHOD_EIGENGRADCAM] = {"eigengradcam", dx_method_eigengradcam,
        "EigenGrad-CAM: the first principal component of gradient times activation, signed to\n"
        "correlate positively with the HiResCAM map.\n", .options = EIGEN},
    [DX_METHOD_SCORECAM] = {"scorecam", dx_method_scorecam,
        "Score-CAM: each channel, upsampled to the input and min-max scaled, masks the input;\n"
        "channel weights are the softmax over channels of the masked inputs' target scores (the\n"
        "paper's score gains: its baseline cancels in the softmax). One forward per channel.\n",
        .options = CAM | DX_MOPT(BATCH)},
    [DX_METHOD_ABLATIONCAM] = {"ablationcam", dx_method_ablationcam,
        "Ablation-CAM: channel weights (S - S_k) / S, S_k the target score with channel k of the\n"
        "layer zeroed (the layers above it re-run, once per channel).\n", .options = CAM},
    [DX_METHOD_LRP] = {"lrp", dx_method_lrp,
        "Layer-wise Relevance Propagation: the class logit (whatever -score) redistributed layer\n"
        "by layer down to the input (batch norm folded into the convolutions), summed over\n"
        "channels, signed. -rules names: epsilon[=E] gamma[=G] alphabeta=A/B alpha1beta0\n"
        "alpha2beta1 zplus zplus-nobias zb[=LOW/HIGH] flat w2 pass; [maxpool]: wta (default) or\n"
        "proportional (docs/lrp.md).\n",
        .options = DX_MOPT(LAYER) | DX_MOPT(COMPOSITE) | DX_MOPT(RULES)},
    [DX_METHOD_DRISE] = {"drise", .run_targets = dx_method_drise, .help =
        "D-RISE (detectors only): random masks multiply the input; each masked input is weighted\n"
        "by its best proposal's similarity to the box (IoU x class-vector cosine x objectness);\n"
        "the map is the weighted mean mask. One forward per mask.\n", .applies = dx_is_detector,
        .options = MASKS | DX_MOPT(SEED), .masks = 1000, .cell = 20 /* 16-pixel cells on a 320x320 input */},
    [DX_METHOD_OCCLUSION] = {"occlusion", .run_targets = dx_method_occlusion, .help =
        "Occlusion (Zeiler & Fergus): slides a square window over the network input, replaces it\n"
        "by the baseline, and maps each pixel to the mean score drop of the windows covering it\n"
        "(signed). Windows start every S pixels, the last flush with the far edge.\n",
        .options = TARGET | DX_MOPT(OCCLUDE) | DX_MOPT(BATCH) | DX_MOPT(WINDOW) | DX_MOPT(STRIDE)},
    [DX_METHOD_RISE] = {"rise", .run_targets = dx_method_rise, .help =
        "RISE (Petsiuk et al.): N random masks, each an s x s grid of cells kept with probability p,\n"
        "upsampled bilinearly and shifted at random; map = sum_i score(x*M_i + b*(1-M_i)) M_i / (N p),\n"
        "b the -occlude baseline (black: the paper's x*M).\n",
        .options = PERTURB | MASKS, .masks = 300 /* about 25 s per image for Tiny Darknet on 2 cores */,
        .cell = 7 /* the paper's grid */},
    [DX_METHOD_LIME] = {"lime", .run_targets = dx_method_lime, .help =
        "LIME (Ribeiro et al.): SLIC superpixels switched on/off at random (off = baseline),\n"
        "samples weighted by sqrt(exp(-d^2/w^2)) of their cosine distance d to the photo, weighted\n"
        "ridge regression (alpha 1, with intercept); each pixel gets its superpixel's\n"
        "coefficient (signed). method_stats: f_x, f_baseline, intercept, r2.\n",
        .options = PERTURB | DX_MOPT(SEGMENTS) | DX_MOPT(SAMPLES) | DX_MOPT(KERNEL_WIDTH), .samples = 400},
    [DX_METHOD_KERNELSHAP] = {"kernelshap", .run_targets = dx_method_kernelshap, .help =
        "KernelSHAP (Lundberg & Lee): Shapley values of SLIC superpixels (absent = baseline) by\n"
        "regression with the Shapley kernel on paired coalitions, constrained so that they sum\n"
        "exactly to f(x) - f(baseline) (signed). method_stats: f_x, f_baseline, efficiency_gap.\n",
        .options = PERTURB | DX_MOPT(SEGMENTS) | DX_MOPT(SAMPLES), .samples = 400},
};

const dx_method_info *dx_method_info_of(dx_method m)
{
    return (unsigned)m < DX_METHOD_COUNT ? &registry[m] : NULL;
}

int dx_method_applies(const dx_model *m, dx_method method)
{
    const dx_method_info *info = dx_method_info_of(method);
    return info && (!info->applies || info->applies(m));
}

int dx_run_method(dx_model *m, const dx_request *req, const dx_target *t, int n, dx_result *r, dx_error *err)
{
    const dx_method_info *info = dx_method_info_of(req->method);
    if (info->run_targets) return info->run_targets(m, req, t, n, r, err);
    for (int k = 0; k < n; ++k)
        if (info->run(m, req, &t[k], &r[k], err) != 0) return -1;
    return 0;
}

const char *dx_method_name(dx_method m) { return (unsigned)m < DX_METHOD_COUNT ? registry[m].name : "?"; }

const char *dx_method_help(dx_method m) { return (unsigned)m < DX_METHOD_COUNT ? registry[m].help : ""; }

int dx_method_from_name(const char *name, dx_method *out)
{
    for (int k = 0; k < DX_METHOD_COUNT; ++k)
        if (!strcmp(name, registry[k].name)) {
            *out = (dx_method)k;
            return 0;
        }
    return -1;
}

void dx_result_stat(dx_result *r, const char *name, double value)
{
    if (r->n_stats >= DX_MAX_STATS) return;
    snprintf(r->stats[r->n_stats].name, sizeof r->stats[0].name, "%s", name);
    r->stats[r->n_stats++].value = value;
}
