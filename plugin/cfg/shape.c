/* Each layer's output shape and cost, as the make_*_layer functions of Debian's Darknet compute
 * them from the layer's input and keys: one small function per section type, looked up in a
 * table by the section's type. What Darknet would assert on, divide by zero with, read out of
 * bounds or silently compute otherwise is refused here. */
#include <math.h>
#include <stdlib.h>
#include "cfg/cfg.h"

/* An integer key that must be > 0 (Darknet divides by it, or allocates by it). */
static int positive(const cfg *c, const section *s, const char *key, long def, long *out)
{
    *out = dx_cfg_int(c, s, key, def);
    if (*out > 0) return 0;
    return dx_cfg_fail(c, dx_cfg_line_of(c, s, key), "%s=%ld in %s must be > 0", key, *out,
                       s->type);
}

static int is_image(const shape *in)
{
    return in->h > 0 && in->w > 0 && in->c > 0;
}

static int need_image(const cfg *c, const section *s, int index, const shape *in)
{
    if (is_image(in)) return 0;
    if (in->index < 0)
        return dx_cfg_fail(c, s->line, "layer %d %s needs an image input but the network input is "
                           "a flat vector (%s)", index, s->type, in->flat_why);
    return dx_cfg_fail(c, s->line, "layer %d %s needs an image input but layer %d %s outputs a "
                       "flat vector (%s)", index, s->type, in->index, in->name, in->flat_why);
}

/* A layer index as route and shortcut resolve it (negative: relative to this layer). */
static int resolve(const cfg *c, const section *s, const char *key, int index, long given,
                   int *out)
{
    long target = given < 0 ? index + given : given;
    if (target >= 0 && target < index) {
        *out = (int)target;
        return 0;
    }
    if (index == 0)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, key), "%s in %s refers to layer %ld, but it is "
                           "the first layer and there is none before it", key, s->type, target);
    return dx_cfg_fail(c, dx_cfg_line_of(c, s, key), "%s=%ld in %s (layer %d) refers to layer "
                       "%ld, out of range 0..%d", key, given, s->type, index, target, index - 1);
}

static void keep_shape(shape *out, const shape *in)
{
    out->h = in->h;
    out->w = in->w;
    out->c = in->c;
    out->outputs = in->outputs;
    out->flat_why = in->flat_why;
}

void dx_cfg_set_flat(shape *out, long long outputs, const char *why)
{
    out->h = out->w = out->c = 0;
    out->outputs = outputs;
    out->flat_why = why;
}

void dx_cfg_set_image(shape *out, double h, double w, double c)
{
    const double clamp = 1e15;
    out->h = (long long)fmin(h, clamp);
    out->w = (long long)fmin(w, clamp);
    out->c = (long long)fmin(c, clamp);
    out->outputs = (long long)fmin(h * w * c, clamp);
}

/* A sliding window's output size as Darknet computes it; the window must fit in the padded
 * input (C's division would otherwise round a negative span up to one output). */
static int window_out(const cfg *c, const section *s, long long in, long long padded, long size,
                      long stride, long long *out)
{
    if (in + padded < size)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "size"), "size=%ld in %s is larger than its "
                           "input (%lld) plus padding (%lld)", size, s->type, in, padded);
    *out = (in + padded - size) / stride + 1;
    return 0;
}

/* [convolutional] and [deconvolutional] padding: pad=1 means size/2, else padding= pixels. */
static int conv_padding(const cfg *c, const section *s, long size, long *padding)
{
    *padding = dx_cfg_int(c, s, "pad", 0) ? size / 2 : dx_cfg_int(c, s, "padding", 0);
    if (*padding >= 0) return 0;
    return dx_cfg_fail(c, dx_cfg_line_of(c, s, "padding"), "padding=%ld in %s must be >= 0",
                       *padding, s->type);
}

/* AlexeyAB's per-axis strides, which Debian's Darknet ignores. */
static int same_axis_strides(const cfg *c, const section *s, long stride)
{
    const char *axes[] = {"stride_x", "stride_y"};
    for (int i = 0; i < 2; ++i) {
        const entry *e = dx_cfg_find(c, s, axes[i]);
        if (e && strtol(e->value, NULL, 10) != stride)
            return dx_cfg_fail(c, e->line, "%s=%s in %s: AlexeyAB strides that axis differently; "
                               "Debian's Darknet ignores %s and would use stride=%ld", axes[i],
                               e->value, s->type, axes[i], stride);
    }
    return 0;
}

/* [yolo] and [region] anchors: Darknet writes as many as are listed into 2*num slots. */
static int check_anchors(const cfg *c, const section *s, long num)
{
    const entry *e = dx_cfg_find(c, s, "anchors");
    if (!e)
        return dx_cfg_fail(c, s->line, "%s has no anchors= (Darknet would use 0.5 for all %ld "
                           "anchors)", s->type, num);
    if (dx_cfg_list_count(e->value) != 2 * num)
        return dx_cfg_fail(c, e->line, "anchors in %s lists %d numbers but num=%ld needs %ld (one "
                           "width and height per anchor)", s->type, dx_cfg_list_count(e->value),
                           num, 2 * num);
    return 0;
}

/* A tree file's entries must cover exactly the values the softmax tree runs over. */
static int check_tree(const cfg *c, const section *s, long long expected, const char *what)
{
    const entry *e = dx_cfg_find(c, s, "tree");
    int error = 0;
    long entries = e ? dx_cfg_count_lines(e->value, &error) : expected;
    if (entries == expected) return 0;
    return dx_cfg_fail(c, e->line, "tree=%s in %s has %ld entries but %s is %lld", e->value,
                       s->type, entries, what, expected);
}

/* The expected input of [yolo] and [region] (Darknet asserts it equals the actual one). */
static int check_inputs(const cfg *c, const section *s, int index, const shape *in,
                        long long expected, const char *formula)
{
    if (in->outputs == expected) return 0;
    return dx_cfg_fail(c, s->line, "layer %d %s expects %s = %lld inputs but layer %d %s outputs "
                       "%lld (%lldx%lldx%lld); set filters=%lld in the [convolutional] before it",
                       index, s->type, formula, expected, in->index, in->name, in->outputs, in->w,
                       in->h, in->c, in->h > 0 && in->w > 0 ? expected / (in->h * in->w) : 0);
}

static int conv_shape(const cfg *c, const section *s, int index, const shape *layers,
                      const shape *in, shape *out, layer_cost *cost)
{
    long filters, size, stride, groups, padding;
    long long oh = 0, ow = 0;
    if (positive(c, s, "filters", 1, &filters) || positive(c, s, "size", 1, &size) ||
        positive(c, s, "stride", 1, &stride) || positive(c, s, "groups", 1, &groups))
        return -1;
    if (conv_padding(c, s, size, &padding) || same_axis_strides(c, s, stride) ||
        need_image(c, s, index, in))
        return -1;
    if (in->c % groups || filters % groups)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "groups"), "groups=%ld in %s does not divide "
                           "its %lld input channels and filters=%ld", groups, s->type, in->c,
                           filters);
    if (size == 1 && (stride != 1 || padding != 0))
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "size"), "size=1 with stride=%ld, padding=%ld "
                           "in %s: Debian's Darknet skips im2col for 1x1 kernels and would read "
                           "the input as if stride were 1 and padding 0", stride, padding, s->type);
    if (window_out(c, s, in->h, 2LL * padding, size, stride, &oh) ||
        window_out(c, s, in->w, 2LL * padding, size, stride, &ow))
        return -1;
    dx_cfg_set_image(out, oh, ow, filters);
    cost->weights = (double)in->c / groups * filters * size * size;
    cost->workspace = cost->reserved = (double)oh * ow * size * size * in->c / groups;
    cost->ops = cost->weights * oh * ow;
    return 0;
}

static int deconv_shape(const cfg *c, const section *s, int index, const shape *layers,
                        const shape *in, shape *out, layer_cost *cost)
{
    long filters, size, stride, padding;
    if (positive(c, s, "filters", 1, &filters) || positive(c, s, "size", 1, &size) ||
        positive(c, s, "stride", 1, &stride) || conv_padding(c, s, size, &padding) ||
        need_image(c, s, index, in))
        return -1;
    dx_cfg_set_image(out, (in->h - 1) * stride + size - 2LL * padding,
                      (in->w - 1) * stride + size - 2LL * padding, filters);
    if (out->h <= 0 || out->w <= 0)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "padding"), "padding %ld in %s leaves no output",
                           padding, s->type);
    cost->weights = (double)in->c * filters * size * size;
    cost->workspace = cost->reserved = (double)in->h * in->w * size * size * filters;
    cost->ops = cost->weights * in->h * in->w;
    return 0;
}

static int local_shape(const cfg *c, const section *s, int index, const shape *layers,
                       const shape *in, shape *out, layer_cost *cost)
{
    long filters, size, stride;
    long long oh = 0, ow = 0;
    if (positive(c, s, "filters", 1, &filters) || positive(c, s, "size", 1, &size) ||
        positive(c, s, "stride", 1, &stride) || need_image(c, s, index, in))
        return -1;
    /* local_out_height counts pad as one pixel whatever its value, while im2col pads by it. */
    long pad = dx_cfg_int(c, s, "pad", 0);
    if (pad != 0 && (pad != 1 || size != 3))
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "pad"), "pad=%ld with size=%ld in %s: Debian's "
                           "Darknet sizes the output for pad=1, size=3 only and would mix up "
                           "positions", pad, size, s->type);
    if (window_out(c, s, in->h, 2 * pad, size, stride, &oh) ||
        window_out(c, s, in->w, 2 * pad, size, stride, &ow))
        return -1;
    dx_cfg_set_image(out, oh, ow, filters);
    cost->weights = cost->ops = (double)in->c * filters * size * size * oh * ow;
    cost->workspace = (double)oh * ow * size * size * in->c;
    cost->reserved = cost->workspace / sizeof(float); /* make_local_layer counts bytes as floats */
    return 0;
}

/* [activation], [logistic]: the input's shape. */
static int same_shape(const cfg *c, const section *s, int index, const shape *layers,
                      const shape *in, shape *out, layer_cost *cost)
{
    keep_shape(out, in);
    return 0;
}

static int dropout_shape(const cfg *c, const section *s, int index, const shape *layers,
                         const shape *in, shape *out, layer_cost *cost)
{
    if (index == 0)
        return dx_cfg_fail(c, s->line, "[dropout] cannot be the first layer: Darknet shares the "
                           "output of the layer before it (and would read before the start of "
                           "the layers)");
    keep_shape(out, in);
    return 0;
}

static int batchnorm_shape(const cfg *c, const section *s, int index, const shape *layers,
                           const shape *in, shape *out, layer_cost *cost)
{
    /* forward_batchnorm_layer copies into l.x, which make_batchnorm_layer never allocates */
    return dx_cfg_fail(c, s->line, "[batchnorm] as a layer of its own crashes Debian's Darknet in "
                       "its forward (its l.x buffer is never allocated); use batch_normalize=1 in "
                       "the convolutional layer instead");
}

/* [l2norm] normalizes over out_c: a flat input would pass through unnormalized. */
static int l2norm_shape(const cfg *c, const section *s, int index, const shape *layers,
                        const shape *in, shape *out, layer_cost *cost)
{
    if (need_image(c, s, index, in)) return -1;
    keep_shape(out, in);
    return 0;
}

static int normalization_shape(const cfg *c, const section *s, int index, const shape *layers,
                               const shape *in, shape *out, layer_cost *cost)
{
    long size;
    if (positive(c, s, "size", 5, &size) || need_image(c, s, index, in)) return -1;
    keep_shape(out, in);
    cost->ops = (double)out->outputs * size;
    return 0;
}

/* [rnn], [gru], [lstm]: output= values, flat, from `gates` output x (inputs + output) weight
 * matrices. */
static int recurrent(const cfg *c, const section *s, const shape *in, shape *out,
                     layer_cost *cost, double gates)
{
    long n;
    if (positive(c, s, "output", 1, &n)) return -1;
    dx_cfg_set_flat(out, n, "Darknet gives recurrent layers no width/height/channels");
    cost->weights = cost->ops = gates * n * ((double)in->outputs + n);
    return 0;
}

static int rnn_shape(const cfg *c, const section *s, int index, const shape *layers,
                     const shape *in, shape *out, layer_cost *cost)
{
    if (recurrent(c, s, in, out, cost, 1)) return -1;
    long n = (long)out->outputs;
    const entry *hidden = dx_cfg_find(c, s, "hidden");
    if (hidden && strtol(hidden->value, NULL, 10) != n)
        return dx_cfg_fail(c, hidden->line, "hidden=%s in [rnn]: AlexeyAB's hidden state size; "
                           "Debian's Darknet ignores it and would use output=%ld", hidden->value,
                           n);
    return 0;
}

static int gru_shape(const cfg *c, const section *s, int index, const shape *layers,
                     const shape *in, shape *out, layer_cost *cost)
{
    return recurrent(c, s, in, out, cost, 3);
}

static int lstm_shape(const cfg *c, const section *s, int index, const shape *layers,
                      const shape *in, shape *out, layer_cost *cost)
{
    return recurrent(c, s, in, out, cost, 4);
}

static int crnn_shape(const cfg *c, const section *s, int index, const shape *layers,
                      const shape *in, shape *out, layer_cost *cost)
{
    long filters, hidden;
    if (positive(c, s, "output_filters", 1, &filters) ||
        positive(c, s, "hidden_filters", 1, &hidden) || need_image(c, s, index, in))
        return -1;
    if (in->h != in->w) /* parse_crnn passes (w, h) where make_crnn_layer expects (h, w) */
        return dx_cfg_fail(c, s->line, "layer %d [crnn] gets a %lldx%lld input: Debian's Darknet "
                           "swaps width and height for [crnn], so only square inputs are "
                           "computed right", index, in->w, in->h);
    dx_cfg_set_image(out, in->h, in->w, filters);
    cost->weights = 9.0 * ((double)in->c * hidden + (double)hidden * hidden +
                           (double)hidden * filters);
    /* its 3x3 convolutions share the network's workspace, which make_crnn_layer does not
     * reserve anything of */
    cost->workspace = 9.0 * in->h * in->w * (in->c > hidden ? in->c : hidden);
    cost->ops = cost->weights * in->h * in->w;
    return 0;
}

static int connected_shape(const cfg *c, const section *s, int index, const shape *layers,
                           const shape *in, shape *out, layer_cost *cost)
{
    long n;
    if (positive(c, s, "output", 1, &n)) return -1;
    dx_cfg_set_image(out, 1, 1, n);
    cost->weights = cost->ops = (double)in->outputs * n;
    return 0;
}

static int crop_shape(const cfg *c, const section *s, int index, const shape *layers,
                      const shape *in, shape *out, layer_cost *cost)
{
    long crop_h, crop_w;
    if (positive(c, s, "crop_height", 1, &crop_h) || positive(c, s, "crop_width", 1, &crop_w) ||
        need_image(c, s, index, in))
        return -1;
    if (crop_h > in->h || crop_w > in->w)
        return dx_cfg_fail(c, s->line, "crop %ldx%ld in %s is larger than its %lldx%lld input",
                           crop_w, crop_h, s->type, in->w, in->h);
    dx_cfg_set_image(out, crop_h, crop_w, in->c);
    return 0;
}

static int cost_shape(const cfg *c, const section *s, int index, const shape *layers,
                      const shape *in, shape *out, layer_cost *cost)
{
    dx_cfg_set_flat(out, in->outputs, "Darknet gives [cost] no width/height/channels");
    return 0;
}

static int region_shape(const cfg *c, const section *s, int index, const shape *layers,
                        const shape *in, shape *out, layer_cost *cost)
{
    long coords = dx_cfg_int(c, s, "coords", 4), classes, num;
    if (positive(c, s, "classes", 20, &classes) || positive(c, s, "num", 1, &num) ||
        need_image(c, s, index, in))
        return -1;
    if (coords < 4)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "coords"), "coords=%ld in %s: a box needs 4 "
                           "coordinates", coords, s->type);
    if (check_anchors(c, s, num) || check_tree(c, s, classes, "classes")) return -1;
    dx_cfg_set_image(out, in->h, in->w, (double)num * (classes + coords + 1));
    return check_inputs(c, s, index, in, out->outputs, "w*h*num*(coords+classes+1)");
}

static int yolo_shape(const cfg *c, const section *s, int index, const shape *layers,
                      const shape *in, shape *out, layer_cost *cost)
{
    long classes, num;
    if (positive(c, s, "classes", 20, &classes) || positive(c, s, "num", 1, &num) ||
        need_image(c, s, index, in) || check_anchors(c, s, num))
        return -1;
    const entry *mask = dx_cfg_find(c, s, "mask");
    long masked = mask ? dx_cfg_list_count(mask->value) : num;
    for (int i = 0; mask && i < masked; ++i) {
        double m = dx_cfg_list_at(mask->value, i);
        if (m < 0 || m >= num)
            return dx_cfg_fail(c, mask->line, "mask entry %g in %s is not an anchor index "
                               "(0..%ld, num=%ld)", m, s->type, num - 1, num);
    }
    dx_cfg_set_image(out, in->h, in->w, (double)masked * (classes + 5));
    return check_inputs(c, s, index, in, out->outputs, "w*h*masks*(classes+5)");
}

/* forward_iseg_layer reads net.truth, which network_predict sets to NULL. */
static int iseg_shape(const cfg *c, const section *s, int index, const shape *layers,
                      const shape *in, shape *out, layer_cost *cost)
{
    return dx_cfg_fail(c, s->line, "[iseg] crashes Debian's Darknet at inference: its forward "
                       "reads the training truth, which prediction leaves unset");
}

static int detection_shape(const cfg *c, const section *s, int index, const shape *layers,
                           const shape *in, shape *out, layer_cost *cost)
{
    long coords = dx_cfg_int(c, s, "coords", 1), classes = dx_cfg_int(c, s, "classes", 1);
    long num, side;
    if (positive(c, s, "num", 1, &num) || positive(c, s, "side", 7, &side)) return -1;
    if (coords < 0 || classes < 0)
        return dx_cfg_fail(c, s->line, "coords=%ld, classes=%ld in %s must be >= 0", coords,
                           classes, s->type);
    double expected = (double)side * side * ((1 + coords) * num + classes);
    if (expected != (double)in->outputs)
        return dx_cfg_fail(c, s->line, "layer %d %s expects side*side*((1+coords)*num+classes) "
                           "= %.0f inputs but layer %d %s outputs %lld", index, s->type, expected,
                           in->index, in->name, in->outputs);
    dx_cfg_set_flat(out, in->outputs, "Darknet gives [detection] no width/height/channels");
    return 0;
}

static int softmax_shape(const cfg *c, const section *s, int index, const shape *layers,
                         const shape *in, shape *out, layer_cost *cost)
{
    long groups;
    if (positive(c, s, "groups", 1, &groups)) return -1;
    if (in->outputs % groups)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "groups"), "groups=%ld in %s does not divide "
                           "its %lld inputs", groups, s->type, in->outputs);
    if (dx_cfg_float(c, s, "temperature", 1) <= 0)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "temperature"), "temperature in %s must be > 0",
                           s->type);
    if (dx_cfg_float(c, s, "spatial", 0) != 0)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "spatial"), "spatial in %s: only Darknet's GPU "
                           "code honours it; Debian's CPU Darknet would softmax over each group "
                           "instead", s->type);
    if (check_tree(c, s, in->outputs, "its input size")) return -1;
    dx_cfg_set_flat(out, in->outputs, "Darknet gives [softmax] no width/height/channels");
    return 0;
}

static int maxpool_shape(const cfg *c, const section *s, int index, const shape *layers,
                         const shape *in, shape *out, layer_cost *cost)
{
    long stride, size;
    long long oh = 0, ow = 0;
    if (positive(c, s, "stride", 1, &stride) || positive(c, s, "size", stride, &size))
        return -1;
    long padding = dx_cfg_int(c, s, "padding", size - 1);
    /* forward_maxpool_layer starts windows at -padding/2: beyond 2*size-2 some windows would
     * hold no input at all and output -FLT_MAX. */
    if (padding < 0 || padding > 2 * size - 2)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "padding"), "padding=%ld in %s must be in "
                           "0..%ld (2*size-2)", padding, s->type, 2 * size - 2);
    if (same_axis_strides(c, s, stride) || need_image(c, s, index, in) ||
        window_out(c, s, in->h, padding, size, stride, &oh) ||
        window_out(c, s, in->w, padding, size, stride, &ow))
        return -1;
    dx_cfg_set_image(out, oh, ow, in->c);
    cost->ops = (double)out->outputs * size * size;
    return 0;
}

static int reorg_shape(const cfg *c, const section *s, int index, const shape *layers,
                       const shape *in, shape *out, layer_cost *cost)
{
    long reverse = dx_cfg_int(c, s, "reverse", 0), flatten = dx_cfg_int(c, s, "flatten", 0);
    long extra = dx_cfg_int(c, s, "extra", 0), stride;
    if (positive(c, s, "stride", 1, &stride) || need_image(c, s, index, in)) return -1;
    if (extra < 0)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "extra"), "extra=%ld in %s must be >= 0", extra,
                           s->type);
    if (extra) {
        dx_cfg_set_flat(out, in->outputs + extra, "extra= makes [reorg] flat");
        return 0;
    }
    /* reorg_cpu and flatten move all w*h*c values: the output must hold exactly as many. */
    int spatial_ok = reverse || (in->w % stride == 0 && in->h % stride == 0);
    int channels_ok = (!reverse && flatten) || in->c % (stride * stride) == 0;
    if (!spatial_ok || !channels_ok)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "stride"), "stride=%ld in %s does not divide "
                           "its %lldx%lldx%lld input (%s)", stride, s->type, in->w, in->h, in->c,
                           spatial_ok ? "channels by stride*stride" : "width and height by stride");
    if (reverse) dx_cfg_set_image(out, in->h * stride, in->w * stride, in->c / (stride * stride));
    else dx_cfg_set_image(out, in->h / stride, in->w / stride, (double)in->c * stride * stride);
    return 0;
}

static int avgpool_shape(const cfg *c, const section *s, int index, const shape *layers,
                         const shape *in, shape *out, layer_cost *cost)
{
    if (need_image(c, s, index, in)) return -1;
    dx_cfg_set_image(out, 1, 1, in->c);
    return 0;
}

static int route_shape(const cfg *c, const section *s, int index, const shape *layers,
                       const shape *in, shape *out, layer_cost *cost)
{
    const entry *e = dx_cfg_find(c, s, "layers");
    if (!e)
        return dx_cfg_fail(c, s->line, "[route] needs layers= (Darknet would crash reading it)");
    out->outputs = 0;
    for (int i = 0; i < dx_cfg_list_count(e->value); ++i) {
        int from;
        if (resolve(c, s, "layers", index, (long)dx_cfg_list_at(e->value, i), &from)) return -1;
        const shape *src = &layers[from];
        out->outputs += src->outputs;
        if (i == 0) {
            out->h = src->h;
            out->w = src->w;
            out->c = src->c;
            out->flat_why = "its input is flat";
        } else if (src->h == out->h && src->w == out->w) {
            out->c += src->c;
        } else {
            out->h = out->w = out->c = 0;
            out->flat_why = "its inputs differ in size";
        }
    }
    return 0;
}

static int upsample_shape(const cfg *c, const section *s, int index, const shape *layers,
                          const shape *in, shape *out, layer_cost *cost)
{
    long stride = dx_cfg_int(c, s, "stride", 2);
    if (stride == 0)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "stride"), "stride=0 in %s leaves no output "
                           "(must be > 0 to upsample, < 0 to downsample)", s->type);
    if (need_image(c, s, index, in)) return -1;
    if (stride > 0) {
        dx_cfg_set_image(out, in->h * stride, in->w * stride, in->c);
        return 0;
    }
    if (in->w % -stride || in->h % -stride)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "stride"), "stride=%ld in %s does not divide "
                           "its %lldx%lld input", stride, s->type, in->w, in->h);
    dx_cfg_set_image(out, in->h / -stride, in->w / -stride, in->c);
    return 0;
}

static int shortcut_shape(const cfg *c, const section *s, int index, const shape *layers,
                          const shape *in, shape *out, layer_cost *cost)
{
    const entry *e = dx_cfg_find(c, s, "from");
    int from;
    if (!e)
        return dx_cfg_fail(c, s->line, "[shortcut] needs from= (Darknet would crash reading it)");
    if (dx_cfg_list_count(e->value) > 1)
        return dx_cfg_fail(c, e->line, "from=%s in [shortcut]: AlexeyAB's shortcut over several "
                           "layers; Debian's Darknet reads only the first index and would ignore "
                           "the others", e->value);
    if (resolve(c, s, "from", index, strtol(e->value, NULL, 10), &from)) return -1;
    const shape *src = &layers[from];
    if (need_image(c, s, index, in) || need_image(c, s, index, src)) return -1;
    /* shortcut_cpu: assert(w1/w2 == h1/h2) and assert(w2/w1 == h2/h1), 1 = from, 2 = output */
    if (src->w / in->w != src->h / in->h || in->w / src->w != in->h / src->h)
        return dx_cfg_fail(c, e->line, "layer %d [shortcut]: from=%s (layer %d, %lldx%lldx%lld) "
                           "cannot be added to layer %d's %lldx%lldx%lld output: Darknet asserts "
                           "that width and height scale by the same factor", index, e->value, from,
                           src->w, src->h, src->c, index - 1, in->w, in->h, in->c);
    keep_shape(out, in);
    return 0;
}

/* Each layer type's output and cost from its input; [net] has none (see dx_cfg_layer_shape). */
typedef int shape_fn(const cfg *c, const section *s, int index, const shape *layers,
                     const shape *in, shape *out, layer_cost *cost);
static shape_fn *const SHAPES[] = {
    [T_CONV] = conv_shape, [T_DECONV] = deconv_shape, [T_LOCAL] = local_shape,
    [T_ACTIVATION] = same_shape, [T_LOGISTIC] = same_shape, [T_L2NORM] = l2norm_shape,
    [T_RNN] = rnn_shape, [T_GRU] = gru_shape, [T_LSTM] = lstm_shape, [T_CRNN] = crnn_shape,
    [T_CONNECTED] = connected_shape, [T_CROP] = crop_shape, [T_COST] = cost_shape,
    [T_REGION] = region_shape, [T_YOLO] = yolo_shape, [T_ISEG] = iseg_shape,
    [T_DETECTION] = detection_shape, [T_SOFTMAX] = softmax_shape,
    [T_NORMALIZATION] = normalization_shape, [T_BATCHNORM] = batchnorm_shape,
    [T_MAXPOOL] = maxpool_shape, [T_REORG] = reorg_shape, [T_AVGPOOL] = avgpool_shape,
    [T_ROUTE] = route_shape, [T_UPSAMPLE] = upsample_shape, [T_SHORTCUT] = shortcut_shape,
    [T_DROPOUT] = dropout_shape,
};

int dx_cfg_layer_shape(const cfg *c, const section *s, layer_type type, int index,
                       const shape *layers, const shape *in, shape *out, layer_cost *cost)
{
    *cost = (layer_cost){0, 0, 0, 0};
    if (!SHAPES[type]) /* [net]: only the first section is the network */
        return dx_cfg_fail(c, s->line, "a second %s section (Darknet would make an empty layer "
                           "of it)", s->type);
    return SHAPES[type](c, s, index, layers, in, out, cost);
}
