/* gt-counterfactual: counterfactual explanations (plugin/counterfactual) against the generator's
 * truth on held-out generated images (tools/shapes.c, one object each, 64x64).
 *
 *   gt-counterfactual CFG WEIGHTS N SEED
 *
 * A classifier: images 0..N-1 of set SEED, each driven to every other class (-to) with the
 * command's defaults. A detector: box 0 of each image made to disappear. Prints a markdown row:
 * success rate, mean L1 and changed pixels, the share of the change's mass inside the object's
 * box (the evidence for the class lies there: the truth), beside the box's share of the image
 * (what a change spread at random would put there), and milliseconds per search. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "counterfactual/counterfactual.h"
#include "engine.h"
#include "io/image.h"
#include "model.h"
#include "shapes.h"

#define SIZE 64

typedef struct {
    int runs, wins;
    double l1, changed, inside, area, ms;
} tally;

/* One search from photo im to goal g; its outcome added to t. */
static int search(dx_model *m, dx_image im, const dx_cf_goal *g, const shapes_object *o, tally *t, dx_error *err)
{
    dx_image boxed = dx_fit_photo(m, im);
    dx_cf_options opt = {300, 30, 0.01f, 0.5f, 0.05f, dx_is_detector(m) ? 0.1f : 1.f, NULL};
    dx_cf_result r;
    double t0 = dx_now_ms();
    int rc = boxed.data ? dx_counterfactual(m, boxed.data, g, &opt, &r, err) : -1;
    t->ms += dx_now_ms() - t0;
    if (rc != 0) {
        dx_free_image(boxed);
        return -1;
    }
    const dx_net *net = m->net;
    size_t spatial = (size_t)net->w * net->h;
    float *amount = calloc(spatial, sizeof(float));
    for (size_t k = 0; k < (size_t)net->inputs; ++k) amount[k % spatial] += fabsf(r.x[k] - boxed.data[k]);
    dx_letterbox lb;
    dx_fit_geometry(m, im.w, im.h, &lb);
    float *map = dx_native_to_photo(amount, net->h, net->w, &lb, im.w, im.h);
    ++t->runs;
    t->wins += r.succeeded;
    t->l1 += r.l1;
    t->changed += r.changed;
    t->inside += shapes_energy_in_box(map, im.h, im.w, o);
    t->area += (double)(o->x1 - o->x0 + 1) * (o->y1 - o->y0 + 1) / (im.w * im.h);
    free(map);
    free(amount);
    dx_cf_result_free(&r);
    dx_free_image(boxed);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: gt-counterfactual CFG WEIGHTS N SEED\n");
        return 2;
    }
    int n = atoi(argv[3]);
    unsigned long long seed = strtoull(argv[4], NULL, 10);
    dx_error err;
    dx_model *m = dx_open(argv[1], argv[2], NULL, &err);
    if (!m || n < 1) {
        fprintf(stderr, "gt-counterfactual: %s\n", m ? "N must be positive" : err.msg);
        return 1;
    }
    int detector = dx_is_detector(m);
    tally t = {0};
    for (int i = 0; i < n; ++i) {
        dx_image im;
        shapes_object o;
        shapes_draw(seed, i, SIZE, 1, &im, &o);
        dx_cf_goal g = {.photo_w = im.w, .photo_h = im.h, .thresh = .5f, .hier = .5f, .nms = .45f};
        int rc = 0;
        if (detector) {
            dx_request req;
            dx_request_init(&req);
            dx_detection *b;
            int nb;
            rc = dx_detect_image(m, im, &req, &b, &nb, &err);
            if (rc == 0 && nb > 0) {
                g.kind = DX_CF_DISAPPEAR;
                g.box = b[0];
                rc = search(m, im, &g, &o, &t, &err);
            }
            if (rc == 0) free(b);
        } else {
            g.kind = DX_CF_TO_CLASS;
            for (int to = 0; to < SHAPES_CLASSES && rc == 0; ++to)
                if (to != o.cls) {
                    g.to = to;
                    rc = search(m, im, &g, &o, &t, &err);
                }
        }
        dx_free_image(im);
        if (rc != 0) {
            fprintf(stderr, "gt-counterfactual: image %d: %s\n", i, err.msg);
            dx_close(m);
            return 1;
        }
    }
    dx_close(m);
    if (!t.runs) {
        fprintf(stderr, "gt-counterfactual: no search ran (no box detected)\n");
        return 1;
    }
    printf("| counterfactual (%s, %d searches on %d images, seed %llu) | success %.0f%% | mean L1 %.2f, %.0f pixels "
           "changed | change in the box %.2f vs random %.2f (the box's area) | %.0f ms per search |\n",
           detector ? "box disappears" : "-to every other class", t.runs, n, seed, 100.0 * t.wins / t.runs,
           t.l1 / t.runs, t.changed / t.runs, t.inside / t.runs, t.area / t.runs, t.ms / t.runs);
    return 0;
}
