/* The plugin's gradients on the real pretrained models in ../shared, against finite
 * differences: Tiny Darknet (ImageNet classifier, batch norm, 16 convolutions) and
 * Yolo-Fastest 1.1 (COCO detector: depthwise convolutions, shortcut, route, upsample, two yolo
 * heads), with directional finite differences (see directional_checks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "engine.h"
#include "helpers.h"
#include "io/image.h"
#include "targets.h"

static float *letterboxed_photo(dx_model *m, const char *name, dx_letterbox *box)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/images/%s", shared_dir(), name);
    dx_image photo;
    dx_error err;
    cr_assert_eq(dx_load_photo(path, &photo, &err), 0, "%s", err.msg);
    network *net = dx_network(m);
    dx_image boxed = dx_backend_letterbox_image(photo, net->w, net->h);
    dx_letterbox_geometry(photo.w, photo.h, net->w, net->h, box);
    dx_free_image(photo);
    return boxed.data;
}

/* Normalises v and returns its norm before. */
static double normalise(float *v, int n)
{
    double norm = 0;
    for (int k = 0; k < n; ++k) norm += (double)v[k] * v[k];
    norm = sqrt(norm);
    for (int k = 0; k < n; ++k) v[k] = (float)(v[k] / norm);
    return norm;
}

/* |<g, v> - finite difference along v| must stay within 1% of `scale`, the norm of the gradient
 * over the region v covers (so along the gradient itself, 1% relative). */
static void expect_directional(dx_model *m, int top, const float *proj, const float *x, const float *g,
                               const float *v, double scale, const char *what, const char *direction)
{
    const float h = 1e-4f; /* small enough to stay between kinks, large enough for float32 */
    double analytic, fd;
    fd_directional(m, top, proj, x, g, v, h, &analytic, &fd);
    cr_log_info("%s: along %s: analytic %.6g, finite differences %.6g (%.2e of the gradient's norm)",
                what, direction, analytic, fd, fabs(analytic - fd) / scale);
    cr_expect(fabs(analytic - fd) < 0.01 * scale, "%s: along %s: analytic %.6g vs finite differences %.6g",
              what, direction, analytic, fd);
}

/* Checks d f/d x for f = <proj, output of top> at x in three directions, all within the photo
 * (the letterbox border is constant grey, so maxpool windows there hold exact ties: the
 * function has a kink in every direction that moves them):
 *  - the gradient itself (the largest directional derivative there is);
 *  - the gradient restricted to a 48x48 patch around its largest entry;
 *  - a random +-1 pattern on that patch.
 * Single-pixel differences are left to the small networks: at the pixels that matter most a
 * 150k-pixel ReLU network has a kink within any usable step. */
static void directional_checks(dx_model *m, int top, const float *proj, const float *x,
                               const dx_letterbox *box, const char *what)
{
    network *net = dx_network(m);
    int n = net->inputs, plane = net->w * net->h;
    float *g = analytic_input_grad(m, top, proj, x);
    float *v = malloc(sizeof(float) * n);
    int best = -1;
    for (int k = 0; k < n; ++k) {
        int px = k % plane % net->w, py = k % plane / net->w;
        int in_photo = px >= box->dx && px < box->dx + box->inner_w && py >= box->dy &&
                       py < box->dy + box->inner_h;
        v[k] = in_photo ? g[k] : 0;
        if (in_photo && (best < 0 || fabsf(g[k]) > fabsf(g[best]))) best = k;
    }
    double scale = normalise(v, n);
    expect_directional(m, top, proj, x, g, v, scale, what, "the gradient");

    int bx = best % plane % net->w, by = best % plane / net->w;
    for (int k = 0; k < n; ++k) {
        int px = k % plane % net->w, py = k % plane / net->w;
        v[k] = abs(px - bx) < 24 && abs(py - by) < 24 ? g[k] : 0;
    }
    scale = normalise(v, n);
    expect_directional(m, top, proj, x, g, v, scale, what, "the gradient on a 48x48 patch");

    rng r = {17};
    for (int k = 0; k < n; ++k) v[k] = v[k] != 0 ? (rng_uniform(&r) < .5 ? -1.f : 1.f) : 0;
    normalise(v, n);
    expect_directional(m, top, proj, x, g, v, scale, what, "a random +-1 pattern on that patch");
    free(v);
    free(g);
}

Test(real_model, tiny_darknet_logit_gradient, .timeout = 300)
{
    dx_model *m = open_shared_model("imagenet/tiny", NULL);
    dx_letterbox box;
    float *x = letterboxed_photo(m, "dog.jpg", &box);
    dx_forward(m, x);
    int logits = dx_find_logit_layer(m);
    network *net = dx_network(m);
    int classes = net->layers[logits].outputs, top1 = 0;
    for (int k = 1; k < classes; ++k)
        if (dx_output_of(m, logits)[k] > dx_output_of(m, logits)[top1]) top1 = k;
    float *proj = calloc(classes, sizeof(float));
    proj[top1] = 1;
    directional_checks(m, logits, proj, x, &box, "tiny.cfg, logit of the top class on dog.jpg");
    free(proj);
    free(x);
    dx_close(m);
}

Test(real_model, yolo_fastest_head_gradient, .timeout = 300)
{
    dx_model *m = open_shared_model("coco/yolo-fastest-1.1", NULL);
    dx_letterbox box;
    float *x = letterboxed_photo(m, "person.jpg", &box);
    dx_forward(m, x);
    network *net = dx_network(m);
    /* the most confident objectness of each yolo head, times its best class: the score a box
     * target is built from; both heads so the gradient crosses route and upsample */
    for (int i = 0; i < net->n; ++i) {
        layer *l = &net->layers[i];
        if (l->type != YOLO) continue;
        int plane = l->w * l->h, per_anchor = (5 + l->classes) * plane, best = 0, best_anchor = 0;
        for (int a = 0; a < l->n; ++a)
            for (int p = 0; p < plane; ++p)
                if (l->output[a * per_anchor + 4 * plane + p] >
                    l->output[best_anchor * per_anchor + 4 * plane + best]) best = p, best_anchor = a;
        float *proj = calloc(l->outputs, sizeof(float));
        int base = best_anchor * per_anchor;
        proj[base + 4 * plane + best] = 1;               /* objectness */
        proj[base + 5 * plane + best] = 1;               /* class 0: person */
        proj[base + 2 * plane + best] = 0.5f;            /* box width logit */
        char what[128];
        snprintf(what, sizeof what, "yolo-fastest-1.1, yolo layer %d on person.jpg", i);
        directional_checks(m, i, proj, x, &box, what);
        free(proj);
    }
    free(x);
    dx_close(m);
}
