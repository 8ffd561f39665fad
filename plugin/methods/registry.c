/* The registry of methods: the one table that names them, for the API and the command line. */
#include <stdio.h>
#include <string.h>
#include "methods.h"

#define CAM_OPTIONS                                                                          \
    "  -layer L[,L2..]  the layer(s) (default: the last feature layer before the head);\n"   \
    "                   several layers' maps are averaged at the finest resolution\n"        \
    "  -relu 0|1        keep negative evidence with 0 (default 1)\n"                         \
    "  -eigen_smooth    the first principal component of the weighted activations instead\n" \
    "                   of their channel sum\n"                                              \
    "  -aug_smooth      average the maps of the image, its mirror and their 1.1x zooms\n"

static const dx_method_info registry[DX_METHOD_COUNT] = {
    [DX_METHOD_GRADCAM] = {"gradcam", dx_method_gradcam,
        "Grad-CAM: weighs each channel of a layer's feature map by the mean gradient of the\n"
        "target score over it, sums, keeps the positive part.\n" CAM_OPTIONS},
    [DX_METHOD_SALIENCY] = {"saliency", dx_method_saliency,
        "Saliency: the gradient of the target score with respect to the input pixels,\n"
        "max of |gradient| over the colour channels.\n"},
    [DX_METHOD_INPUTXGRAD] = {"inputxgrad", dx_method_inputxgrad,
        "Input x gradient: the input pixels times the gradient of the target score, summed\n"
        "over the colour channels (signed).\n"},
    [DX_METHOD_IG] = {"ig", dx_method_ig,
        "Integrated Gradients: (x - x') times the mean gradient on the straight path from a\n"
        "baseline x' to the input x (trapezoid rule), summed over the colour channels (signed).\n"
        "The attributions add up to f(x) - f(x'); the JSON's method_stats give both and the gap.\n"
        "  -steps N         intervals of the path (default 64; N + 1 forward/backward passes)\n"
        "  -baseline B      black (zeros, default), blur (the input blurred by a Gaussian of\n"
        "                   sigma = network width / 16 pixels), noise (uniform [0,1), from -seed)\n"
        "                   or an image file (letterboxed as the photo)\n"},
    [DX_METHOD_SMOOTHGRAD] = {"smoothgrad", dx_method_smoothgrad,
        "SmoothGrad: the mean gradient over noisy copies of the input, max of |mean| over the\n"
        "colour channels.\n"
        "  -samples N       noisy copies (default 25)\n"
        "  -noise S         Gaussian noise sd as a fraction of the input's range (default 0.15)\n"
        "  -seed S          the noise draws\n"},
    [DX_METHOD_SMOOTHGRAD2] = {"smoothgrad2", dx_method_smoothgrad2,
        "SmoothGrad-squared: the mean squared gradient over noisy copies of the input, max over\n"
        "the colour channels. Options as smoothgrad.\n"},
    [DX_METHOD_VARGRAD] = {"vargrad", dx_method_vargrad,
        "VarGrad: the variance of the gradient over noisy copies of the input, max over the\n"
        "colour channels. Options as smoothgrad.\n"},
    [DX_METHOD_GUIDEDBP] = {"guidedbp", dx_method_guidedbp,
        "Guided backpropagation: the gradient with every rectifier (relu, leaky, ...) passing\n"
        "only positive gradients and only where its input is positive (leaky: times its slope);\n"
        "max of |.| over the colour channels.\n"},
    [DX_METHOD_DECONVNET] = {"deconvnet", dx_method_deconvnet,
        "DeconvNet: the gradient with every rectifier passing the positive part of the\n"
        "gradient whatever its input; max of |.| over the colour channels.\n"},
    [DX_METHOD_GUIDEDGRADCAM] = {"guidedgradcam", dx_method_guidedgradcam,
        "Guided Grad-CAM: the guidedbp map times the Grad-CAM map resized bilinearly to the\n"
        "input.\n"
        "  -layer L[,L2..]  Grad-CAM's layer(s), as gradcam\n"
        "  -relu 0|1        as gradcam\n"},
    [DX_METHOD_CAM] = {"cam", dx_method_cam,
        "CAM (Zhou et al.): the map sum_k w_k A_k with w the target class's weights in a\n"
        "global-average-pool head above the layer ([avgpool] with 1x1 linear [convolutional] or\n"
        "linear [connected] layers, batch norm folded; the head's bias is left out). Other heads\n"
        "are refused. Equals Grad-CAM times the layer's pixel count.\n" CAM_OPTIONS, dx_cam_applies},
    [DX_METHOD_GRADCAMPP] = {"gradcam++", dx_method_gradcampp,
        "Grad-CAM++: channel weights sum_ij a_ij ReLU(g_ij) with the closed form\n"
        "a = g^2 / (2 g^2 + sum_ij(A) g^3) of an exponential score (as pytorch-grad-cam; a = 0\n"
        "where g = 0), g = d(score)/dA.\n" CAM_OPTIONS},
    [DX_METHOD_XGRADCAM] = {"xgradcam", dx_method_xgradcam,
        "XGrad-CAM: channel weights sum_ij g_ij A_ij / sum_ij A_ij.\n" CAM_OPTIONS},
    [DX_METHOD_HIRESCAM] = {"hirescam", dx_method_hirescam,
        "HiResCAM: sum over channels of the gradient times the activation, element-wise.\n" CAM_OPTIONS},
    [DX_METHOD_LAYERCAM] = {"layercam", dx_method_layercam,
        "LayerCAM: sum over channels of ReLU(gradient) times the activation, element-wise.\n" CAM_OPTIONS},
    [DX_METHOD_EIGENCAM] = {"eigencam", dx_method_eigencam,
        "Eigen-CAM: the first principal component of the layer's activations (pixels x channels,\n"
        "centred over pixels), signed to correlate positively with their channel sum. Class-\n"
        "agnostic: no gradient.\n" CAM_OPTIONS},
    [DX_METHOD_EIGENGRADCAM] = {"eigengradcam", dx_method_eigengradcam,
        "EigenGrad-CAM: the first principal component of gradient times activation, signed to\n"
        "correlate positively with the HiResCAM map.\n" CAM_OPTIONS},
    [DX_METHOD_SCORECAM] = {"scorecam", dx_method_scorecam,
        "Score-CAM: each channel, upsampled to the input and min-max scaled, masks the input;\n"
        "channel weights are the softmax over channels of the masked inputs' target scores (the\n"
        "paper's score gains: its baseline cancels in the softmax). One forward per channel.\n"
        CAM_OPTIONS "  -batch N         masked inputs scored per call (default 1)\n"},
    [DX_METHOD_ABLATIONCAM] = {"ablationcam", dx_method_ablationcam,
        "Ablation-CAM: channel weights (S - S_k) / S, S_k the target score with channel k of the\n"
        "layer zeroed (the layers above it re-run, once per channel).\n" CAM_OPTIONS},
    [DX_METHOD_LRP] = {"lrp", dx_method_lrp,
        "Layer-wise Relevance Propagation: the class logit redistributed layer by layer down to\n"
        "the input (batch norm folded into the convolutions), summed over channels, signed.\n"
        "  -composite NAME  epsilon-plus-flat-nobias (default), or Zennit's epsilon-plus-flat,\n"
        "                   epsilon-plus, epsilon-gamma-box (docs/conventions.md)\n"
        "  -rules SPEC      custom rules per layer range, e.g. 0:zb,1-10:gamma=0.25,11-:epsilon=0.01\n"
        "                   (epsilon[=E] gamma[=G] alphabeta=A/B alpha1beta0 alpha2beta1 zplus\n"
        "                   zplus-nobias zb[=LOW/HIGH] flat w2 pass; [maxpool]: wta (default) or\n"
        "                   proportional)\n"
        "  -layer L         the relevance at layer L's output instead of the input\n"},
    [DX_METHOD_DRISE] = {"drise", .run_targets = dx_method_drise, .help =
        "D-RISE (detectors only): random masks multiply the input; each masked input is weighted\n"
        "by its best proposal's similarity to the box (IoU x class-vector cosine x objectness);\n"
        "the map is the weighted mean mask. One forward per mask.\n"
        "  -masks N   masks (default 1000)\n"
        "  -cell s    mask grid cells per side (default 20)\n"
        "  -p P       probability a cell is kept (default .5)\n"
        "  -seed S    the masks' seed (default 1)\n", .applies = dx_is_detector},
    [DX_METHOD_OCCLUSION] = {"occlusion", .run_targets = dx_method_occlusion, .help =
        "Occlusion (Zeiler & Fergus): slides a square window over the network input, replaces it\n"
        "by the baseline, and maps each pixel to the mean score drop of the windows covering it\n"
        "(signed). Windows start every S pixels, the last flush with the far edge.\n"
        "  -window W        window side in network-input pixels (default 32)\n"
        "  -stride S        step between windows (default 16)\n"
        "  -occlude black|mean|blur  the baseline (default black)\n"
        "  -batch N         perturbed inputs per scoring call\n"},
    [DX_METHOD_RISE] = {"rise", .run_targets = dx_method_rise, .help =
        "RISE (Petsiuk et al.): N random masks, each an s x s grid of cells kept with probability p,\n"
        "upsampled bilinearly and shifted at random; map = sum_i score(x*M_i + b*(1-M_i)) M_i / (N p).\n"
        "  -masks N         masks (default 300)\n"
        "  -cell s          grid cells per side (default 7)\n"
        "  -p P             keep probability (default 0.5)\n"
        "  -occlude black|mean|blur  b (default black: the paper's x*M)\n"
        "  -seed S, -batch N\n"},
    [DX_METHOD_LIME] = {"lime", .run_targets = dx_method_lime, .help =
        "LIME (Ribeiro et al.): SLIC superpixels switched on/off at random (off = baseline),\n"
        "samples weighted by sqrt(exp(-d^2/w^2)) of their cosine distance d to the photo, weighted\n"
        "ridge regression (alpha 1, with intercept); each pixel gets its superpixel's\n"
        "coefficient (signed). method_stats: f_x, f_baseline, intercept, r2.\n"
        "  -segments K      superpixels asked for (default 50; SLIC compactness 10)\n"
        "  -samples N       perturbed inputs (default 400)\n"
        "  -kernel_width w  (default 0.25)\n"
        "  -occlude black|mean|blur, -seed S, -batch N\n"},
    [DX_METHOD_KERNELSHAP] = {"kernelshap", .run_targets = dx_method_kernelshap, .help =
        "KernelSHAP (Lundberg & Lee): Shapley values of SLIC superpixels (absent = baseline) by\n"
        "regression with the Shapley kernel on paired coalitions, constrained so that they sum\n"
        "exactly to f(x) - f(baseline) (signed). method_stats: f_x, f_baseline, efficiency_gap.\n"
        "  -segments K      superpixels asked for (default 50)\n"
        "  -samples N       coalitions scored besides the full and the empty one (default 400)\n"
        "  -occlude black|mean|blur, -seed S, -batch N\n"},
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
