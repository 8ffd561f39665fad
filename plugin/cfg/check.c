/* The cfg check's driver and budgets: reads the cfg, checks [net] (its keys, the network input,
 * its options), then every layer in order through its key checks, its shape and the per-layer
 * memory and time budgets, and last the im2col workspace Darknet shares between the layers. The
 * entry points dx_cfg_check and dx_cfg_check_size (check.h). */
#include <math.h>
#include <stdlib.h>
#include "cfg/cfg.h"
#include "io/sniff.h"
#include "memory.h"

/* One layer's buffers at batch 1. The fuzz harness builds with a smaller budget, so that the
 * networks it hands Darknet stay small enough to parse thousands a second (docs/fuzzing.md). */
#ifndef DX_LAYER_MAX_BYTES
#define DX_LAYER_MAX_BYTES (4.0 * 1024 * 1024 * 1024)
#endif
#define LAYER_MAX_BYTES DX_LAYER_MAX_BYTES
/* Multiply-adds (or comparisons) of one layer's forward pass: minutes on a CPU, some 500 times
 * the largest layer of yolov3 at 608x608. */
#define LAYER_MAX_OPS 1e12

/* The network input from [net] into *in (index -1, named after the section). */
static int net_shape(const cfg *c, const section *s, shape *in)
{
    static const char *const dims[] = {"height", "width", "channels"};
    long long value[3];
    int given = 0;
    for (int i = 0; i < 3; ++i) {
        value[i] = dx_cfg_int(c, s, dims[i], 0);
        given += dx_cfg_find(c, s, dims[i]) != NULL;
        if (dx_cfg_find(c, s, dims[i]) && value[i] <= 0)
            return dx_cfg_fail(c, dx_cfg_line_of(c, s, dims[i]), "%s=%lld in [net] must be > 0",
                               dims[i], value[i]);
    }
    long inputs = dx_cfg_int(c, s, "inputs", 0), time_steps = dx_cfg_int(c, s, "time_steps", 1);
    *in = (shape){.index = -1, .name = s->type};
    if (given > 0 && given < 3)
        return dx_cfg_fail(c, s->line, "[net] needs all of width, height and channels (or only "
                           "inputs=)");
    if (dx_cfg_find(c, s, "inputs") && inputs <= 0)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "inputs"), "inputs=%ld in [net] must be > 0",
                           inputs);
    if (given == 0 && inputs <= 0)
        return dx_cfg_fail(c, s->line, "[net] sets neither width, height and channels nor inputs "
                           "(Darknet would exit)");
    if (time_steps <= 0)
        return dx_cfg_fail(c, dx_cfg_line_of(c, s, "time_steps"), "time_steps=%ld in [net] must "
                           "be > 0", time_steps);
    if (given == 0) {
        dx_cfg_set_flat(in, inputs, "[net] sets inputs= without width, height and channels");
    } else {
        dx_cfg_set_image(in, value[0], value[1], value[2]);
        if (inputs && inputs != in->outputs)
            return dx_cfg_fail(c, dx_cfg_line_of(c, s, "inputs"), "inputs=%ld in [net] differs "
                               "from height*width*channels = %lld", inputs, in->outputs);
    }
    if (4.0 * in->outputs > LAYER_MAX_BYTES)
        return dx_cfg_fail(c, s->line, "the network input of %lld values is too large",
                           in->outputs);
    return 0;
}

static int check_budget(const cfg *c, const section *s, int index, const shape *out,
                        const layer_cost *cost)
{
    if (out->outputs <= 0)
        return dx_cfg_fail(c, s->line, "layer %d %s would output %lld values", index, s->type,
                           out->outputs);
    /* Per output: output and delta, and two more for batch norm's x and x_norm or maxpool's
     * indexes (counted for every layer: the estimate errs on the large side); weights and their
     * updates; the im2col workspace. */
    double bytes = 4.0 * (4.0 * out->outputs + 2.0 * cost->weights + cost->workspace);
    if (bytes > LAYER_MAX_BYTES)
        return dx_cfg_fail(c, s->line, "layer %d %s is too large: it would need %.3g GiB at batch "
                           "1 (%lld outputs, %.3g weights); the limit is %.3g GiB per layer", index,
                           s->type, bytes / (1024.0 * 1024 * 1024), out->outputs, cost->weights,
                           LAYER_MAX_BYTES / (1024.0 * 1024 * 1024));
    if (cost->ops > LAYER_MAX_OPS)
        return dx_cfg_fail(c, s->line, "layer %d %s is too large: it would take %.3g operations "
                           "per image (the limit is %.0e)", index, s->type, cost->ops,
                           LAYER_MAX_OPS);
    return 0;
}

/* Darknet allocates one im2col workspace for the network, as large as the largest any layer
 * reserves; [local] reserves a quarter of what it writes and [crnn] nothing, so they overflow
 * it unless another layer reserves enough. */
typedef struct {
    double reserved;          /* floats Darknet allocates */
    double needed;            /* the most any layer writes */
    const section *neediest;
    int neediest_index;
} shared_workspace;

static int check_network(cfg *c)
{
    const section *net = &c->sections[0];
    const section_spec *spec = dx_cfg_spec_of(net->type);
    if (!spec || spec->type != T_NET)
        return dx_cfg_fail(c, net->line, "not a Darknet cfg: the first section is %s, not [net] or "
                           "[network]", net->type);
    if (c->n_sections == 1) return dx_cfg_fail(c, net->line, "[net] is followed by no layers");
    shape input, *layers = dx_alloc(c->n_sections - 1, sizeof *layers, "the layers' shapes", NULL);
    if (!layers) return dx_cfg_fail(c, 0, "out of memory for the layers' shapes");
    shared_workspace workspace = {0, 0, NULL, 0};
    int failed = dx_cfg_check_keys(c, net, spec) || net_shape(c, net, &input) ||
                 dx_cfg_check_net_options(c, net);
    for (size_t i = 1; !failed && i < c->n_sections; ++i) {
        const section *s = &c->sections[i];
        int index = (int)i - 1;
        layer_cost cost = {0, 0, 0, 0};
        layers[index] = (shape){.index = index, .name = s->type};
        spec = dx_cfg_spec_of(s->type);
        failed = !spec ? dx_cfg_unknown_section(c, s)
               : dx_cfg_check_keys(c, s, spec) ||
                 dx_cfg_layer_shape(c, s, spec->type, index, layers,
                                    index ? &layers[index - 1] : &input, &layers[index], &cost) ||
                 check_budget(c, s, index, &layers[index], &cost);
        workspace.reserved = fmax(workspace.reserved, cost.reserved);
        if (c->size && !failed) {
            c->size->outputs += layers[index].outputs;
            c->size->weights += cost.weights;
        }
        if (cost.workspace > workspace.needed)
            workspace = (shared_workspace){workspace.reserved, cost.workspace, s, index};
    }
    free(layers);
    if (c->size) c->size->workspace = workspace.reserved;
    if (!failed && workspace.needed > workspace.reserved)
        return dx_cfg_fail(c, workspace.neediest->line, "layer %d %s writes %.0f floats of im2col "
                           "workspace but Debian's Darknet allocates only %.0f for the network "
                           "(it under-reserves for [local] and [crnn]); its forward would "
                           "overflow the heap", workspace.neediest_index, workspace.neediest->type,
                           workspace.needed, workspace.reserved);
    return failed ? -1 : 0;
}

int dx_cfg_check(const char *cfg_path, char *warnings, size_t warnings_len, dx_error *err)
{
    return dx_cfg_check_size(cfg_path, warnings, warnings_len, NULL, err);
}

int dx_cfg_check_size(const char *cfg_path, char *warnings, size_t warnings_len, dx_cfg_size *size,
                      dx_error *err)
{
    cfg c = {.path = cfg_path, .warnings = warnings, .warnings_len = warnings_len, .err = err, .size = size};
    if (size) *size = (dx_cfg_size){0, 0, 0};
    /* A photo or the weights given where the cfg belongs (arguments in the wrong order) is named as
     * what it is, not as a cfg with odd line endings or bytes. */
    dx_file_kind kind = dx_sniff_file(cfg_path);
    if (dx_kind_is_image(kind) || kind == DX_KIND_WEIGHTS)
        return dx_cfg_fail(&c, 0, "this is %s, not a Darknet cfg", dx_kind_description(kind));
    size_t len;
    c.text = dx_cfg_read_text(cfg_path, &len, err);
    if (!c.text) return -1;
    int rc = dx_cfg_split_sections(&c, len) || check_network(&c) ? -1 : 0;
    free(c.text);
    free(c.entries);
    free(c.sections);
    return rc;
}
