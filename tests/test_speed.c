/* Speed without changing answers: the BLAS gemm_cpu is really the one Darknet calls, and the
 * forward it gives has Darknet's top-5 and detections; the grouped-convolution stand-in equals
 * Darknet's layer forward; batched scoring equals one-by-one scoring. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "engine.h"
#include "helpers.h"
#include "io/image.h"
#include "model.h"
#include "scoring.h"

static float *letterboxed(dx_model *m, const char *path)
{
    dx_image photo;
    dx_error err;
    cr_assert_eq(dx_load_photo(path, &photo, &err), 0, "%s", err.msg);
    dx_image boxed = dx_backend_letterbox_image(photo, m->net->w, m->net->h);
    dx_free_image(photo);
    return boxed.data;
}

/* max |a - b| over max(1, max |b|) */
static double diff_over_largest_or_1(const float *a, const float *b, size_t n)
{
    double diff = 0, scale = 1;
    for (size_t k = 0; k < n; ++k) {
        diff = fmax(diff, fabs((double)a[k] - b[k]));
        scale = fmax(scale, fabs((double)b[k]));
    }
    return diff / scale;
}

/* LD_DEBUG=bindings shows which object the dynamic linker binds libdarknet.so's gemm_cpu to */
static int gemm_bound_to(const char *command, const char *object)
{
    char cmd[4096], line[2048];
    snprintf(cmd, sizeof cmd, "LD_BIND_NOW=1 LD_DEBUG=bindings %s 2>&1 >/dev/null", command);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    int found = 0;
    while (fgets(line, sizeof line, p))
        if (strstr(line, "libdarknet.so") && strstr(line, "`gemm_cpu'"))
            found = strstr(line, object) != NULL ? 1 : -1;
    pclose(p);
    return found;
}

Test(speed, blas_gemm_is_what_darknet_calls, .timeout = 120)
{
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", getenv("DX_ROOT"));
    char weights[512];
    snprintf(weights, sizeof weights, "%s/speed.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, 5);
    float *x = calloc(m->net->inputs, sizeof(float));
    /* this test binary: Darknet's forward goes through backends/pjreddie_gemm.c */
    dx_set_blas(1);
    long before = dx_blas_gemm_calls();
    dx_forward(m, x);
    long with_blas = dx_blas_gemm_calls() - before;
    dx_set_blas(0);
    before = dx_blas_gemm_calls();
    dx_forward(m, x);
    long without = dx_blas_gemm_calls() - before;
    dx_set_blas(1);
    cr_assert_gt(with_blas, 0, "Darknet's forward never reached the BLAS gemm_cpu");
    cr_assert_eq(without, 0, "dx_set_blas(0) still ran BLAS (%ld calls)", without);
    free(x);
    dx_close(m);

    /* the CLI, and a program linked with libdarknet-explain.so */
    const char *cli = getenv("DX_CLI"), *cc = getenv("DX_CC"), *cflags = getenv("DX_CFLAGS"),
               *ldflags = getenv("DX_LDFLAGS");
    cr_assert(cli && cc && cflags && ldflags, "run through make test");
    char run_cli[1200];
    snprintf(run_cli, sizeof run_cli, "%s --help", cli);
    cr_assert_eq(gemm_bound_to(run_cli, cli), 1, "the CLI does not interpose gemm_cpu");

    char lib_dir[1024], rest[4096], src[512], bin[512], cmd[8192];
    const char *space = strchr(ldflags, ' ');
    cr_assert(space && strstr(ldflags, ".a "), "DX_LDFLAGS starts with the static library");
    snprintf(lib_dir, sizeof lib_dir, "%.*s", (int)(space - ldflags), ldflags);
    *strrchr(lib_dir, '/') = 0;
    snprintf(rest, sizeof rest, "%s", space);
    snprintf(src, sizeof src, "%s/uses_so.c", temp_dir());
    snprintf(bin, sizeof bin, "%s/uses_so", temp_dir());
    write_text(src, "#include \"explain.h\"\nint main(void) { return dx_blas() ? 0 : 1; }\n");
    snprintf(cmd, sizeof cmd, "%s %s %s -o %s -L%s -ldarknet-explain -Wl,-rpath,%s %s", cc, cflags, src,
             bin, lib_dir, lib_dir, rest);
    cr_assert_eq(system(cmd), 0, "cannot link against the shared library: %s", cmd);
    cr_assert_eq(gemm_bound_to(bin, "libdarknet-explain.so"), 1,
                 "a program linked with libdarknet-explain.so does not interpose gemm_cpu");

    /* the patched ./darknet (when built): Darknet's gemm.o is left out of the static link, so
     * its gemm_nn is absent and gemm/gemm_cpu are the plugin's */
    char darknet[1200];
    snprintf(darknet, sizeof darknet, "%s/darknet", getenv("DX_ROOT"));
    if (access(darknet, X_OK) != 0) return;
    snprintf(cmd, sizeof cmd, "nm %s | grep -cE ' (gemm_nn|gemm_tt)$'", darknet);
    FILE *p = popen(cmd, "r");
    int darknet_gemm = -1;
    cr_assert(p && fscanf(p, "%d", &darknet_gemm) == 1);
    pclose(p);
    cr_expect_eq(darknet_gemm, 0, "./darknet links Darknet's own gemm code");
}

static void top5(const float *p, int n, int *out)
{
    for (int k = 0; k < 5; ++k) {
        int best = -1;
        for (int c = 0; c < n; ++c) {
            int taken = 0;
            for (int j = 0; j < k; ++j) taken |= out[j] == c;
            if (!taken && (best < 0 || p[c] > p[best])) best = c;
        }
        out[k] = best;
    }
}

static const char *const photos[] = {"dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg",
                                     "person.jpg", "scream.jpg", "kite.jpg", "coffee.png",
                                     "chelsea.png", "squirrel_cls.jpg"};

Test(speed, blas_forward_gives_darknets_top5, .timeout = 240)
{
    dx_model *m = open_shared_model("imagenet/tiny", NULL);
    int classes = dx_class_count(m);
    float *own = malloc(sizeof(float) * classes);
    double worst = 0;
    for (size_t p = 0; p < sizeof photos / sizeof *photos; ++p) {
        char path[1200];
        snprintf(path, sizeof path, "%s/images/%s", shared_dir(), photos[p]);
        float *x = letterboxed(m, path);
        dx_set_blas(0);
        dx_forward(m, x);
        memcpy(own, dx_output_of(m, m->head), sizeof(float) * classes);
        dx_set_blas(1);
        dx_forward(m, x);
        const float *blas = dx_output_of(m, m->head);
        int a[5], b[5];
        top5(own, classes, a);
        top5(blas, classes, b);
        for (int k = 0; k < 5; ++k)
            cr_expect_eq(a[k], b[k], "%s: top-%d is class %d with Darknet's gemm, %d with BLAS",
                         photos[p], k + 1, a[k], b[k]);
        worst = fmax(worst, diff_over_largest_or_1(blas, own, classes));
        free(x);
    }
    cr_log_info("tiny: BLAS vs Darknet's gemm, max |dprob| %.2g over %zu photos\n", worst,
                sizeof photos / sizeof *photos);
    cr_expect_leq(worst, 1e-4, "probabilities differ by %.3g", worst);
    free(own);
    dx_close(m);
}

typedef struct {
    int n;
    detection *d;
} dets;

static dets detect(dx_model *m, dx_image photo, const float *x)
{
    dx_forward(m, x);
    dets r;
    r.d = get_network_boxes(dx_network(m), photo.w, photo.h, .5f, .5f, 0, 1, &r.n);
    int classes = m->net->layers[m->head].classes;
    do_nms_sort(r.d, r.n, classes, .45f);
    return r;
}

Test(speed, blas_forward_gives_darknets_detections, .timeout = 240)
{
    dx_model *m = open_shared_model("coco/yolo-fastest-1.1", NULL);
    int classes = m->net->layers[m->head].classes, compared = 0;
    for (size_t p = 0; p < sizeof photos / sizeof *photos; ++p) {
        char path[1200];
        snprintf(path, sizeof path, "%s/images/%s", shared_dir(), photos[p]);
        dx_image photo;
        dx_error err;
        cr_assert_eq(dx_load_photo(path, &photo, &err), 0, "%s", err.msg);
        dx_image boxed = dx_backend_letterbox_image(photo, m->net->w, m->net->h);
        dx_set_blas(0);
        dets own = detect(m, photo, boxed.data);
        dx_set_blas(1);
        dets blas = detect(m, photo, boxed.data);
        cr_assert_eq(own.n, blas.n);
        /* the same candidates in the same order: each above 0.5 for the same classes, boxes
         * within a thousandth of a pixel-relative unit */
        for (int k = 0; k < own.n; ++k)
            for (int c = 0; c < classes; ++c) {
                int a = own.d[k].prob[c] > .5f, b = blas.d[k].prob[c] > .5f;
                cr_expect_eq(a, b, "%s: box %d class %d detected by only one forward", photos[p], k, c);
                if (!a) continue;
                ++compared;
                cr_expect_leq(fabsf(own.d[k].bbox.x - blas.d[k].bbox.x) + fabsf(own.d[k].bbox.y - blas.d[k].bbox.y) +
                                  fabsf(own.d[k].bbox.w - blas.d[k].bbox.w) + fabsf(own.d[k].bbox.h - blas.d[k].bbox.h),
                              1e-3, "%s: box %d moved", photos[p], k);
            }
        free_detections(own.d, own.n);
        free_detections(blas.d, blas.n);
        dx_free_image(boxed);
        dx_free_image(photo);
    }
    cr_log_info("yolo-fastest-1.1: %d detections compared\n", compared);
    cr_assert_gt(compared, 5, "too few detections to compare");
    dx_close(m);
}

/* Each grouped convolution, run on the input the full forward gave it, by Darknet and by the
 * stand-in: returns the worst relative difference over those layers. */
static double grouped_layers_diff(dx_model *m, const float *x, int *layers)
{
    dx_forward(m, x);
    double worst = 0;
    *layers = 0;
    for (int i = 0; i < m->n; ++i) {
        if (!m->hooks[i].fast_forward) continue;
        const dx_layer *l = &m->net->layers[i];
        size_t n = (size_t)l->outputs * l->batch;
        float *darknet = darknet_layer_output(m, i);
        dx_forward_layer(m, i);
        worst = fmax(worst, diff_over_largest_or_1(l->output, darknet, n));
        free(darknet);
        ++*layers;
    }
    return worst;
}

/* depthwise with and without batch norm, strides 1 and 2, 3x3 and 5x5, a grouped 1x1 and a
 * grouped 3x3 with several channels per group, odd sizes so padding meets both edges */
static const char grouped_cfg[] =
    "[net]\nwidth=23\nheight=17\nchannels=3\n\n"
    "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=8\ngroups=8\nsize=3\nstride=2\npad=1\nbatch_normalize=1\nactivation=relu\n\n"
    "[convolutional]\nfilters=8\ngroups=8\nsize=5\nstride=1\npad=1\nactivation=linear\n\n"
    "[convolutional]\nfilters=12\ngroups=4\nsize=3\nstride=1\npad=1\nbatch_normalize=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=6\ngroups=2\nsize=1\nstride=1\npad=0\nactivation=logistic\n\n"
    "[avgpool]\n\n[softmax]\n";

/* Each grouped layer's stand-in against Darknet's forward (with Darknet's gemm and with BLAS),
 * and the whole network's head with the stand-ins on and off; closes m. The models open with
 * DX_ONEDNN=0, where the grouped stand-in runs (oneDNN's: tests/test_onednn.c). */
static void check_grouped_stand_ins(const char *name, dx_model *m, int seed)
{
    float *x = malloc(sizeof(float) * m->net->inputs);
    rng r = {seed};
    for (int j = 0; j < m->net->inputs; ++j) x[j] = (float)rng_uniform(&r);
    int layers;
    dx_set_blas(0); /* Darknet's own gemm: the stand-in adds the same terms in the same order */
    double exact = grouped_layers_diff(m, x, &layers);
    dx_set_blas(1);
    double blas = grouped_layers_diff(m, x, &layers);
    cr_assert_gt(layers, 0, "%s has no grouped convolution", name);
    cr_log_info("%s: %d grouped layers, stand-in vs Darknet: %.2g (Darknet's gemm), %.2g (BLAS)\n",
                name, layers, exact, blas);
    cr_expect_leq(exact, 1e-6, "%s: stand-in vs Darknet's gemm differ by %.3g", name, exact);
    cr_expect_leq(blas, 1e-5, "%s: stand-in vs Darknet with BLAS differ by %.3g", name, blas);

    /* the whole network: the head's output with the stand-ins on and off */
    int head_n = m->net->layers[m->head].outputs;
    float *off = malloc(sizeof(float) * head_n);
    dx_set_fast_layers(m, 0);
    dx_forward(m, x);
    memcpy(off, dx_output_of(m, m->head), sizeof(float) * head_n);
    dx_set_fast_layers(m, 1);
    dx_forward(m, x);
    double whole = diff_over_largest_or_1(dx_output_of(m, m->head), off, head_n);
    cr_expect_leq(whole, 1e-5, "%s: network output differs by %.3g", name, whole);
    free(off);
    free(x);
    dx_close(m);
}

Test(speed, grouped_conv_equals_darknets_forward, .timeout = 240)
{
    char cfg[512], weights[512], detector[512], detector_weights[512];
    setenv("DX_ONEDNN", "0", 1);
    snprintf(cfg, sizeof cfg, "%s/grouped.cfg", temp_dir());
    write_text(cfg, grouped_cfg);
    snprintf(weights, sizeof weights, "%s/grouped.weights", temp_dir());
    check_grouped_stand_ins("grouped.cfg", open_random(cfg, weights, 7), 11);
    snprintf(detector, sizeof detector, "%s/cfg/test-detector.cfg", getenv("DX_ROOT"));
    snprintf(detector_weights, sizeof detector_weights, "%s/detector.weights", temp_dir());
    check_grouped_stand_ins("test-detector.cfg", open_random(detector, detector_weights, 8), 12);
}

/* Apart from the test above: a skip (or a warning) after an assertion fails Criterion 2.4's exit status. */
Test(speed, grouped_conv_equals_darknets_forward_yolo_fastest, .timeout = 240)
{
    setenv("DX_ONEDNN", "0", 1);
    dx_model *m = open_shared_model("coco/yolo-fastest-1.1", NULL);
    check_grouped_stand_ins("yolo-fastest-1.1", m, 13);
    check_grouped_stand_ins("yolo-fastest-1.1-xl", open_shared_model("coco/yolo-fastest-1.1-xl", NULL), 14);
}

/* a score of two layers' outputs, so the batched view must place both at the right item */
static float two_layer_eval(const dx_target *t, const dx_model *m, float *seed)
{
    const dx_layer *top = &m->net->layers[t->layer], *below = &m->net->layers[t->cls];
    return top->output[top->outputs / 3] + 0.5f * below->output[below->outputs - 1] + m->input[7];
}

static void check_batched_scores(dx_model *m, const dx_target *t, int n, int batch, const char *what)
{
    size_t per = (size_t)m->net->inputs;
    float *inputs = malloc(sizeof(float) * per * n), *one = malloc(sizeof(float) * n),
          *batched = malloc(sizeof(float) * n);
    rng r = {99};
    for (size_t j = 0; j < per * n; ++j) inputs[j] = (float)rng_uniform(&r);
    dx_error err;
    cr_assert_eq(dx_score_inputs(m, t, inputs, n, 1, one, &err), 0, "%s", err.msg);
    cr_assert_eq(dx_score_inputs(m, t, inputs, n, batch, batched, &err), 0, "%s", err.msg);
    cr_assert(m->batched && m->batched->net->batch == batch, "%s: no batch-%d copy was used", what, batch);
    double worst = 0;
    for (int k = 0; k < n; ++k)
        worst = fmax(worst, fabs((double)batched[k] - one[k]) / fmax(1, fabs(one[k])));
    cr_log_info("%s: %d inputs in batches of %d, worst relative score difference %.2g\n", what, n,
                batch, worst);
    cr_expect_leq(worst, 1e-5, "%s: batched scores differ by %.3g", what, worst);
    /* the model's own forward state is on the last input */
    cr_expect_eq(memcmp(m->input, inputs + per * (n - 1), sizeof(float) * per), 0);
    free(inputs);
    free(one);
    free(batched);
}

Test(speed, batched_scores_equal_one_by_one, .timeout = 240)
{
    char cfg[512], weights[512];
    snprintf(cfg, sizeof cfg, "%s/cfg/test-classifier.cfg", getenv("DX_ROOT"));
    snprintf(weights, sizeof weights, "%s/batched.weights", temp_dir());
    dx_model *m = open_random(cfg, weights, 13);
    dx_target t;
    dx_error err;
    cr_assert_eq(dx_class_target(m, 1, DX_SCORE_PROB, &t, &err), 0, "%s", err.msg);
    check_batched_scores(m, &t, 7, 3, "test-classifier.cfg, class probability");
    dx_close(m);
}

/* Apart from the test above: a skip after an assertion fails Criterion 2.4's exit status. */
Test(speed, batched_scores_equal_one_by_one_yolo_fastest, .timeout = 240)
{
    dx_model *m = open_shared_model("coco/yolo-fastest-1.1", NULL);
    dx_target two = {.layer = m->head, .eval = two_layer_eval, .cls = m->head / 2};
    check_batched_scores(m, &two, 5, 4, "yolo-fastest-1.1, two layers' outputs");
    dx_close(m);
}
