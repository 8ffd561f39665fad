/* The registry of methods: the one table that names them, for the API and the command line. */
#include <stdio.h>
#include <string.h>
#include "methods.h"

static const dx_method_info registry[DX_METHOD_COUNT] = {
    [DX_METHOD_GRADCAM] = {"gradcam", dx_method_gradcam,
        "Grad-CAM: weighs each channel of a layer's feature map by the mean gradient of the\n"
        "target score over it, sums, keeps the positive part.\n"
        "  -layer L[,L2..]  the layer(s) (default: the last feature layer before the head);\n"
        "                   several layers' maps are averaged at the finest resolution\n"
        "  -relu 0|1        keep negative evidence with 0 (default 1)\n"},
    [DX_METHOD_SALIENCY] = {"saliency", dx_method_saliency,
        "Saliency: the gradient of the target score with respect to the input pixels,\n"
        "max of |gradient| over the colour channels.\n"},
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
