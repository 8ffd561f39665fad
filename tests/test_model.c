/* model.c's loading of layer types beyond convolutions: a [deconvolutional] layer's weights are
 * counted and read as Darknet saves them, and explanations reach it as far as the plugin can. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"

/* 8x8x3 -> conv 4x4x4 -> deconv (2x2, stride 2) 8x8x2, with batch norm -> avgpool -> softmax */
static const char *const DECONV_NET =
    "[net]\nwidth=8\nheight=8\nchannels=3\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[deconvolutional]\nfilters=2\nsize=2\nstride=2\nbatch_normalize=1\nactivation=linear\n"
    "[avgpool]\n"
    "[softmax]\n";
/* the floats Darknet's save_weights writes for DECONV_NET: conv biases 4 + weights 4*3*3*3;
 * deconv biases 2 + scales, means, variances 3*2 + weights 4*2*2*2 (c * n * size * size) */
#define CONV_FLOATS (4 + 4 * 3 * 3 * 3)
#define DECONV_FLOATS (2 + 3 * 2 + 4 * 2 * 2 * 2)

/* float k of the weights file: in [0.5, 1.5), so the variances among them are positive */
static float value_of(int k) { return 0.5f + (k % 97) / 97.f; }

/* Writes DECONV_NET and a weights file of `count` floats, float k = value_of(k), into a fresh
 * directory. */
static void write_deconv_net(int count, char *cfg, char *weights, size_t len)
{
    const char *dir = temp_dir();
    snprintf(cfg, len, "%s/net.cfg", dir);
    snprintf(weights, len, "%s/net.weights", dir);
    write_text(cfg, DECONV_NET);
    FILE *f = create_weights_file(weights);
    for (int k = 0; k < count; ++k) {
        float v = value_of(k);
        fwrite(&v, 4, 1, f);
    }
    fclose(f);
}

/* Darknet's loader divided by the deconvolution's groups, which it leaves at 0: dx_open died of
 * SIGFPE on any cfg with a [deconvolutional] layer and a weights file. Now the file is checked
 * against c * n * size * size weights and read in order; perturbation methods explain through
 * the layer (in the batched copy too), gradient methods refuse it in one line. */
Test(model, deconvolutional_weights_load)
{
    char cfg[256], weights[256];
    write_deconv_net(CONV_FLOATS + DECONV_FLOATS, cfg, weights, sizeof cfg);
    dx_error err = {{0}};
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    const layer *d = &dx_network(m)->layers[1];
    cr_assert_eq(d->type, DECONVOLUTIONAL);
    /* the file's order: biases, scales, rolling means, rolling variances, weights */
    int at = CONV_FLOATS;
    cr_expect_float_eq(d->biases[0], value_of(at), 1e-7);
    cr_expect_float_eq(d->scales[1], value_of(at + 3), 1e-7);
    cr_expect_float_eq(d->rolling_variance[1], value_of(at + 7), 1e-7);
    cr_expect_float_eq(d->weights[0], value_of(at + 8), 1e-7);
    cr_expect_float_eq(d->weights[4 * 2 * 2 * 2 - 1], value_of(at + DECONV_FLOATS - 1), 1e-7);

    dx_image photo = dx_make_image(8, 8, 3);
    for (int k = 0; k < 8 * 8 * 3; ++k) photo.data[k] = (k % 13) / 13.f;
    dx_request req;
    dx_request_init(&req);
    req.method = DX_METHOD_RISE;
    req.masks = 8;
    req.batch = 4; /* the batched copy goes through save_weights and load_weights */
    dx_result r;
    cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "%s", err.msg);
    cr_expect_gt(r.prob, 0);
    dx_result_free(&r);
    req.method = DX_METHOD_SALIENCY;
    cr_expect_eq(dx_explain_image(m, photo, &req, &r, &err), -1);
    cr_expect(strstr(err.msg, "layer 1 [deconvolutional]: darknet-explain has no backward") && !strchr(err.msg, '\n'),
              "message: %s", err.msg);
    dx_free_image(photo);
    dx_close(m);

    /* one float short is a truncated file, not a crash */
    write_deconv_net(CONV_FLOATS + DECONV_FLOATS - 1, cfg, weights, sizeof cfg);
    cr_expect_null(dx_open(cfg, weights, NULL, &err));
    cr_expect(strstr(err.msg, "truncated weights") && strstr(err.msg, weights), "message: %s", err.msg);
}
