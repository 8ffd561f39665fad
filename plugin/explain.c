/* The API's explain call: image -> letterbox -> Darknet's forward -> target -> method -> map
 * over the photo. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"
#include "io/image.h"
#include "methods/methods.h"

void dx_request_init(dx_request *req)
{
    req->method = DX_METHOD_GRADCAM;
    req->class_id = -1;
    req->score = DX_SCORE_LOGIT;
    memset(req->layers, 0, sizeof req->layers);
    req->n_layers = 0;
    req->relu = 1;
    req->eigen_smooth = 0;
    req->aug_smooth = 0;
    req->seed = 1;
    req->batch = 1;
    req->steps = 64;
    req->baseline = "black";
    req->samples = 25;
    req->noise = 0.15f;
    req->lrp_composite = NULL;
    req->lrp_rules = NULL;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int check_classifier(const dx_model *m, dx_error *err)
{
    LAYER_TYPE t = m->net->layers[m->head].type;
    if (t == YOLO || t == REGION || t == DETECTION) {
        dx_set_error(err, "%s: a detector (output layer %d is [%s]); class targets apply to "
                          "classifiers, per-box targets are not available yet",
                     m->cfg_path, m->head, dx_layer_type_name(t));
        return -1;
    }
    return 0;
}

int dx_explain_image(dx_model *m, image photo, const dx_request *req, dx_result *r, dx_error *err)
{
    memset(r, 0, sizeof *r);
    const dx_method_info *method = dx_method_info_of(req->method);
    if (!method) {
        dx_set_error(err, "unknown method %d", (int)req->method);
        return -1;
    }
    if (check_classifier(m, err) != 0) return -1;
    network *net = m->net;
    if (photo.c != net->c) {
        dx_set_error(err, "the image has %d channels, the model's input %d", photo.c, net->c);
        return -1;
    }
    r->method = req->method;
    r->photo = copy_image(photo);

    /* as `darknet classifier predict`: letterbox to the network size, then forward */
    image boxed = letterbox_image(photo, net->w, net->h);
    double t0 = now_ms();
    dx_forward(m, boxed.data);
    r->ms_forward = now_ms() - t0;
    free_image(boxed);

    const float *probs = dx_output_of(m, m->head);
    int classes = dx_class_count(m);
    r->ntop = classes < DX_TOPK ? classes : DX_TOPK;
    int index[DX_TOPK];
    top_k((float *)probs, classes, r->ntop, index);
    for (int k = 0; k < r->ntop; ++k) {
        r->top[k].cls = index[k];
        r->top[k].prob = probs[index[k]];
    }
    r->class_id = req->class_id >= 0 ? req->class_id : index[0];
    r->score_kind = req->score;

    dx_target target;
    if (dx_class_target(m, r->class_id, req->score, &target, err) != 0) goto fail;
    r->logit = dx_output_of(m, dx_find_logit_layer(m))[r->class_id];
    r->prob = probs[r->class_id];

    t0 = now_ms();
    m->ms_backward = 0;
    m->score_batch = req->batch;
    if (method->run(m, req, &target, r, err) != 0) goto fail;
    r->ms_method = now_ms() - t0;
    r->ms_backward = m->ms_backward;

    dx_letterbox g;
    dx_letterbox_geometry(photo.w, photo.h, net->w, net->h, &g);
    r->map = dx_native_to_photo(r->native, r->native_h, r->native_w, &g, photo.w, photo.h);
    r->h = photo.h;
    r->w = photo.w;
    if (!r->map) {
        dx_set_error(err, "out of memory");
        goto fail;
    }
    r->map_min = r->map_max = r->map[0];
    for (int k = 1; k < r->h * r->w; ++k) {
        if (r->map[k] < r->map_min) r->map_min = r->map[k];
        if (r->map[k] > r->map_max) r->map_max = r->map[k];
    }
    return 0;
fail:
    dx_result_free(r);
    return -1;
}

int dx_explain_file(dx_model *m, const char *image_path, const dx_request *req, dx_result *r,
                    dx_error *err)
{
    memset(r, 0, sizeof *r);
    image photo;
    if (dx_load_photo(image_path, &photo, err) != 0) return -1;
    int rc = dx_explain_image(m, photo, req, r, err);
    free_image(photo);
    if (rc == 0) snprintf(r->image_path, sizeof r->image_path, "%s", image_path);
    return rc;
}

void dx_result_free(dx_result *r)
{
    free(r->map);
    free(r->native);
    if (r->photo.data) free_image(r->photo);
    memset(r, 0, sizeof *r);
}
