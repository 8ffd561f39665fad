/* Non-finite numbers (NaN, inf) anywhere between the weights and the outputs: warned about at
 * load, refused at the forward, the backward, the boxes and the maps, never written. The
 * command-line side (bad weights files, boxes at infinity, -region nan) is in test_cli.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "detect.h"
#include "engine.h"
#include "helpers.h"

/* Two linear 3x3 convolutions, a global average and a linear connected layer: on a black photo
 * with zero biases every output is 0, while the gradient reaching the input is the product of
 * both convolutions' weights. */
static const char *const LINEAR_NET =
    "[net]\nwidth=8\nheight=8\nchannels=3\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=linear\n"
    "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=linear\n"
    "[avgpool]\n"
    "[connected]\noutput=2\nactivation=linear\n"
    "[softmax]\n";

/* Writes LINEAR_NET's cfg and weights (convolution weights conv_weight, connected weights 1,
 * biases 0) into a fresh directory; cfg and weights receive the paths. */
static void write_linear_net(float conv_weight, char *cfg, char *weights, size_t len)
{
    const char *dir = temp_dir();
    snprintf(cfg, len, "%s/net.cfg", dir);
    snprintf(weights, len, "%s/net.weights", dir);
    write_text(cfg, LINEAR_NET);
    FILE *f = create_weights_file(weights);
    float zero = 0, one = 1;
    for (int layer = 0; layer < 2; ++layer) {
        for (int k = 0; k < 4; ++k) fwrite(&zero, 4, 1, f);                    /* biases */
        for (int k = 0; k < 4 * (layer ? 4 : 3) * 9; ++k) fwrite(&conv_weight, 4, 1, f);
    }
    for (int k = 0; k < 2; ++k) fwrite(&zero, 4, 1, f);                         /* connected biases */
    for (int k = 0; k < 2 * 4; ++k) fwrite(&one, 4, 1, f);
    fclose(f);
}

/* The forward is finite (all zeros) but the input gradient is 36 x 36 x 1e20 x 1e20 / 64:
 * inf. Saliency used to write a map of inf (and a ReLU or max would turn NaN into 0); the
 * backward now refuses it. */
Test(nonfinite, overflowing_backward_is_an_error)
{
    char cfg[256], weights[256];
    write_linear_net(1e20f, cfg, weights, sizeof cfg);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    cr_expect_str_eq(dx_warnings(m), "", "finite weights warned about: %s", dx_warnings(m));
    dx_image black = dx_make_image(8, 8, 3);
    dx_request req;
    dx_request_init(&req);
    dx_result r;
    static const dx_method methods[] = {DX_METHOD_SALIENCY, DX_METHOD_INPUTXGRAD, DX_METHOD_GUIDEDBP};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; ++k) {
        req.method = methods[k];
        int rc = dx_explain_image(m, black, &req, &r, &err);
        cr_expect_eq(rc, -1, "%s: explained (map max %g)", dx_method_name(methods[k]), rc == 0 ? r.map_max : 0);
        if (rc == 0) dx_result_free(&r);
        else cr_expect(strstr(err.msg, "net.weights: the gradient reaching the input holds") &&
                       strstr(err.msg, "non-finite"), "%s", err.msg);
    }
    /* the same network with ordinary weights explains the same photo */
    dx_close(m);
    write_linear_net(0.1f, cfg, weights, sizeof cfg);
    m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    req.method = DX_METHOD_SALIENCY;
    cr_assert_eq(dx_explain_image(m, black, &req, &r, &err), 0, "%s", err.msg);
    cr_expect(isfinite(r.map_max) && r.map_max > 0, "map max %g", r.map_max);
    dx_result_free(&r);
    dx_free_image(black);
    dx_close(m);
}

/* The load warning counts the non-finite weights of the first such layer and of the file. */
Test(nonfinite, weights_warning_names_the_layer)
{
    char cfg[256], weights[256];
    write_linear_net(INFINITY, cfg, weights, sizeof cfg);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    char expected[512];
    snprintf(expected, sizeof expected,
             "%s: layer 0 (convolutional) has 108 non-finite weights (NaN or inf) (252 in 2 layers)\n", weights);
    cr_expect_str_eq(dx_warnings(m), expected);
    dx_close(m);
}

/* dx_region_box never reports success without a box: a region with NaN or inf is refused. */
Test(nonfinite, region_box_refuses_a_region_not_finite)
{
    char cfg[1200], weights[256];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-detector.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/net.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, 3);
    dx_image photo = dx_make_image(40, 30, 3);
    for (int k = 0; k < 40 * 30 * 3; ++k) photo.data[k] = (k % 7) / 7.f;
    dx_image boxed = dx_backend_letterbox_image(photo, dx_network(m)->w, dx_network(m)->h);
    dx_forward(m, boxed.data);
    const float regions[][4] = {{NAN, NAN, 5, 5}, {0, 0, INFINITY, INFINITY}, {0, 0, 5, NAN}, {-INFINITY, 0, 5, 5}};
    for (size_t k = 0; k < sizeof regions / sizeof *regions; ++k) {
        dx_detection d;
        memset(&d, 0xBE, sizeof d); /* what an unset output would hold */
        dx_error err;
        cr_expect_eq(dx_region_box(m, 40, 30, regions[k], &d, &err), -1, "region %g,%g,%g,%g: a box (layer %d)",
                     regions[k][0], regions[k][1], regions[k][2], regions[k][3], d.layer);
    }
    float ok[4] = {5, 5, 10, 10};
    dx_detection d;
    dx_error err;
    cr_expect_eq(dx_region_box(m, 40, 30, ok, &d, &err), 0, "%s", err.msg);
    cr_expect(d.layer == dx_network(m)->n - 1 && isfinite(d.x) && isfinite(d.h), "layer %d", d.layer);
    dx_free_image(boxed);
    dx_free_image(photo);
    dx_close(m);
}

/* The writers refuse a result whose map or box is not finite (whatever produced it): no file. */
Test(nonfinite, writers_refuse_maps_not_finite)
{
    char cfg[1200], weights[256];
    const char *dir = temp_dir();
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/net.weights", dir);
    dx_model *m = open_random(cfg, weights, 4);
    unlink(weights);
    dx_image photo = dx_make_image(20, 16, 3);
    for (int k = 0; k < 20 * 16 * 3; ++k) photo.data[k] = (k % 5) / 5.f;
    dx_request req;
    dx_request_init(&req);
    dx_result r;
    dx_error err;
    cr_assert_eq(dx_explain_image(m, photo, &req, &r, &err), 0, "%s", err.msg);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/x", dir);
    cr_assert_eq(dx_write_outputs(m, &r, prefix, NULL, &err), 0, "%s", err.msg); /* finite: written */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm %s/x*", dir);
    cr_assert_eq(system(cmd), 0);
    r.map[7] = NAN;
    cr_expect_eq(dx_write_outputs(m, &r, prefix, NULL, &err), -1);
    cr_expect(strstr(err.msg, "non-finite"), "%s", err.msg);
    char panel[600];
    snprintf(panel, sizeof panel, "%s/panel.png", dir);
    cr_expect_eq(dx_write_panel(m, &r, 1, panel, NULL, &err), -1);
    r.map[7] = 0;
    r.has_box = 1;
    r.box = (dx_detection){.x = 1, .y = -INFINITY, .w = 3, .h = INFINITY};
    cr_expect_eq(dx_write_outputs(m, &r, prefix, NULL, &err), -1);
    cr_expect(strstr(err.msg, "box is not finite"), "%s", err.msg);
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s)\"", dir);
    cr_expect_eq(system(cmd), 0, "files left in %s", dir);
    dx_result_free(&r);
    dx_free_image(photo);
    dx_close(m);
}
