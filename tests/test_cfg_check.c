/* plugin/cfg/: malformed cfgs are refused with "PATH:LINE: what is wrong", real cfgs pass, and the
 * batch-1 copy changes only [net]'s batch and subdivisions.
 *
 * What Debian's Darknet itself does on some of these cfgs (parse_network_cfg on the same text,
 * run once by hand, not here): a key before the first section -> SIGSEGV (read_option on a NULL
 * section); [maxpool] stride=0 -> SIGFPE; [yolo] after filters=21 -> "parse_yolo: Assertion
 * `l.outputs == params.inputs' failed"; [softmax] tree= a missing file -> SIGSEGV (read_tree does
 * not check fopen); a convolution after a route of differently sized inputs -> error() aborts;
 * route layers=-5 and shortcut from=-3 after one layer, or a first [dropout] -> it "succeeds",
 * reading net->layers[] before its start; activation=mish -> "Couldn't find activation function
 * mish, going with ReLU". */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cfg/check.h"
#include "helpers.h"

/* One cfg file in a fresh directory of its own. */
typedef struct {
    char dir[64];
    char path[128];
} temp_cfg;

static void temp_cfg_create(temp_cfg *t, const char *text, size_t len)
{
    strcpy(t->dir, "/tmp/dx-cfg-test-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir), "mkdtemp failed");
    snprintf(t->path, sizeof t->path, "%s/model.cfg", t->dir);
    if (!text) return; /* the file stays absent */
    FILE *f = fopen(t->path, "wb");
    cr_assert_not_null(f, "cannot create %s", t->path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void temp_cfg_remove(temp_cfg *t)
{
    unlink(t->path);
    rmdir(t->dir);
}

/* Asserts that the cfg `text` (len bytes; NULL: no file at all) is refused at `line` (0: a
 * problem of the whole file) with a message containing `phrase`. */
static void expect_refused_bytes(const char *text, size_t len, int line, const char *phrase)
{
    temp_cfg t;
    temp_cfg_create(&t, text, len);
    dx_error err = {{0}};
    char warnings[1024] = "";
    int rc = dx_cfg_check(t.path, warnings, sizeof warnings, &err);
    char prefix[160];
    if (line > 0) snprintf(prefix, sizeof prefix, "%s:%d: ", t.path, line);
    else snprintf(prefix, sizeof prefix, "%s: ", t.path);
    temp_cfg_remove(&t);
    cr_assert_eq(rc, -1, "accepted a cfg that should fail with \"%s\"", phrase);
    cr_assert(strncmp(err.msg, prefix, strlen(prefix)) == 0, "expected the message to start with "
              "\"%s\", got \"%s\"", prefix, err.msg);
    cr_assert(strstr(err.msg, phrase), "expected \"%s\" in \"%s\"", phrase, err.msg);
    cr_assert_null(strchr(err.msg, '\n'), "the message must be one line: \"%s\"", err.msg);
}

static void expect_refused(const char *text, int line, const char *phrase)
{
    expect_refused_bytes(text, strlen(text), line, phrase);
}

/* Accepts the cfg and returns its warnings in `warnings`. */
static void expect_accepted(const char *text, char *warnings, size_t warnings_len, char *path_out)
{
    temp_cfg t;
    temp_cfg_create(&t, text, strlen(text));
    dx_error err = {{0}};
    warnings[0] = '\0';
    int rc = dx_cfg_check(t.path, warnings, warnings_len, &err);
    strcpy(path_out, t.path);
    temp_cfg_remove(&t);
    cr_assert_eq(rc, 0, "refused a valid cfg: %s", err.msg);
}

/* Lines 1-4. */
#define NET "[net]\nwidth=32\nheight=32\nchannels=3\n"
/* 6 lines: 32x32x8 after NET. */
#define CONV8 "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
/* Lines 5-13: a 32x32x18 convolution and a [yolo] over it that fits (3 masks, 1 class). */
#define YOLO_OK NET "[convolutional]\nfilters=18\nsize=1\nactivation=linear\n" \
    "[yolo]\nmask=0,1,2\nanchors=1,2,3,4,5,6\nclasses=1\nnum=3\n"

/* ---- the file ---- */

Test(cfg_check, missing_file)
{
    expect_refused_bytes(NULL, 0, 0, "cannot open: No such file or directory");
}

Test(cfg_check, empty_file)
{
    expect_refused("", 0, "not a Darknet cfg: no [net] section");
}

Test(cfg_check, only_comments)
{
    expect_refused("# a cfg\n; nothing else\n\n", 0, "not a Darknet cfg: no [net] section");
}

Test(cfg_check, binary_garbage)
{
    static const char elf[] = "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0\x01\0\0\0";
    expect_refused_bytes(elf, sizeof elf - 1, 0, "not a Darknet cfg: it holds binary data");
}

/* A photo or weights where the cfg belongs (arguments in the wrong order) is named as what it is:
 * the PNG signature holds "\r\n" and read as a Windows line ending. */
Test(cfg_check, image_or_weights_instead_of_a_cfg)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    expect_refused_bytes(png, sizeof png - 1, 0, "this is a PNG image, not a Darknet cfg");
    static const char jpeg[] = "\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
    expect_refused_bytes(jpeg, sizeof jpeg - 1, 0, "this is a JPEG image, not a Darknet cfg");
    static const char weights[] = "\0\0\0\0\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x12\x34\x56\x78";
    expect_refused_bytes(weights, sizeof weights - 1, 0, "this is a Darknet weights file, not a Darknet cfg");
}

Test(cfg_check, first_section_not_net)
{
    expect_refused("# detector\n" CONV8, 2,
                   "not a Darknet cfg: the first section is [convolutional], not [net]");
}

Test(cfg_check, line_before_first_section)
{
    expect_refused("width=32\n[net]\nheight=32\n", 1, "comes before the first section");
}

Test(cfg_check, windows_line_endings)
{
    expect_refused("[net]\r\nwidth=32\r\n", 1, "Windows (CRLF) line ending");
}

Test(cfg_check, line_without_equals)
{
    expect_refused(NET "[convolutional]\nfilters 8\n", 6, "'filters8' is not key=value");
}

Test(cfg_check, empty_value)
{
    expect_refused(NET "[convolutional]\nfilters=\nsize=3\n", 6, "'filters=' has no value");
}

/* ---- sections ---- */

Test(cfg_check, unknown_section)
{
    expect_refused(NET "[convolution]\nfilters=8\n", 5, "unknown section [convolution]");
}

Test(cfg_check, alexeyab_section)
{
    expect_refused(NET CONV8 "[sam]\nfrom=-1\n", 11,
                   "[sam] is an AlexeyAB Darknet layer; Debian's Darknet cannot run it");
}

Test(cfg_check, second_net_section)
{
    expect_refused(NET CONV8 "[net]\nwidth=32\n", 11, "a second [net] section");
}

Test(cfg_check, no_layers)
{
    expect_refused(NET, 1, "[net] is followed by no layers");
}

Test(cfg_check, net_without_input)
{
    expect_refused("[net]\nbatch=1\n" CONV8, 1, "sets neither width, height and channels nor inputs");
}

/* ---- values ---- */

Test(cfg_check, unknown_activation)
{
    expect_refused(NET "[convolutional]\nfilters=8\nsize=3\nactivation=mish\n", 8,
                   "activation=mish is unknown to Debian's Darknet, which would silently use relu");
}

Test(cfg_check, not_an_integer)
{
    expect_refused(NET "[convolutional]\nfilters=3x\nsize=3\n", 6,
                   "filters=3x in [convolutional] is not an integer (Darknet's atoi would silently "
                   "read 3)");
}

Test(cfg_check, comment_after_value)
{
    expect_refused(NET "[convolutional]\nfilters=8\nsize=3 # kernel\n", 7,
                   "comments must be on their own line");
}

Test(cfg_check, not_a_number)
{
    expect_refused(NET CONV8 "[dropout]\nprobability=.5x\n", 12, "probability=.5x in [dropout] is "
                   "not a number");
}

Test(cfg_check, list_with_empty_element)
{
    expect_refused(NET CONV8 "[route]\nlayers=-1,\n", 12, "is not a comma-separated list of integers");
}

Test(cfg_check, integer_out_of_range)
{
    expect_refused(NET "[convolutional]\nfilters=99999999999\n", 6, "is out of int range");
}

Test(cfg_check, repeated_key_with_other_value)
{
    expect_refused(NET "[convolutional]\nfilters=8\nsize=3\nfilters=16\n", 8,
                   "filters is set again in [convolutional] (first filters=8 at line 6)");
}

/* Darknet: forward_batchnorm_layer -> copy_cpu(..., l.x = NULL) -> SIGSEGV */
Test(cfg_check, standalone_batchnorm_layer)
{
    expect_refused(NET "[convolutional]\nfilters=4\nsize=3\nactivation=linear\n[batchnorm]\n", 9,
                   "[batchnorm] as a layer of its own crashes Debian's Darknet");
}

/* Darknet: network_predict sets net.truth = 0, forward_iseg_layer reads it -> SIGSEGV */
Test(cfg_check, iseg_layer)
{
    expect_refused(NET "[convolutional]\nfilters=7\nsize=1\nactivation=linear\n"
                   "[iseg]\nclasses=3\nids=4\n", 9, "[iseg] crashes Debian's Darknet at inference");
}

Test(cfg_check, maxpool_stride_zero)
{
    expect_refused(NET "[maxpool]\nsize=2\nstride=0\n", 7, "stride=0 in [maxpool] must be > 0");
}

Test(cfg_check, conv_size_zero)
{
    expect_refused(NET "[convolutional]\nfilters=8\nsize=0\n", 7, "size=0 in [convolutional] must be > 0");
}

Test(cfg_check, upsample_stride_zero)
{
    expect_refused(NET CONV8 "[upsample]\nstride=0\n", 12, "stride=0 in [upsample] leaves no output");
}

Test(cfg_check, conv_groups_not_dividing_channels)
{
    expect_refused(NET "[convolutional]\nfilters=8\nsize=3\ngroups=2\n", 8,
                   "groups=2 in [convolutional] does not divide its 3 input channels");
}

Test(cfg_check, softmax_groups_not_dividing_inputs)
{
    expect_refused(NET CONV8 "[avgpool]\n[softmax]\ngroups=3\n", 13,
                   "groups=3 in [softmax] does not divide its 8 inputs");
}

Test(cfg_check, one_by_one_conv_with_stride)
{
    expect_refused(NET "[convolutional]\nfilters=8\nsize=1\nstride=2\n", 7,
                   "Debian's Darknet skips im2col for 1x1 kernels");
}

Test(cfg_check, reorg_stride_not_dividing)
{
    expect_refused(NET CONV8 "[reorg]\nstride=3\n", 12, "stride=3 in [reorg] does not divide");
}

Test(cfg_check, oversized_layer)
{
    expect_refused(NET "[convolutional]\nfilters=2000000000\nsize=3\npad=1\n", 5, "is too large");
}

Test(cfg_check, absurd_pooling_window)
{
    /* 32*32*3 outputs, each the max over a 100000x100000 window: days of CPU. */
    expect_refused(NET "[maxpool]\nsize=100000\nstride=1\n", 5,
                   "layer 0 [maxpool] is too large: it would take 3.07e+13 operations per image");
}

/* Darknet: make_local_layer reserves 27648 bytes of workspace, its forward writes 27648 floats
 * (malloc_usable_size of net->workspace after parse_network_cfg confirms the 4x shortfall). */
Test(cfg_check, local_layer_overflows_shared_workspace)
{
    expect_refused(NET "[local]\nfilters=2\nsize=3\nstride=1\npad=1\n", 5,
                   "layer 0 [local] writes 27648 floats of im2col workspace but Debian's Darknet "
                   "allocates only 6912 for the network");
}

Test(cfg_check, missing_required_route_layers)
{
    expect_refused(NET CONV8 "[route]\n" CONV8, 11, "[route] needs layers=");
}

Test(cfg_check, steps_policy_without_scales)
{
    expect_refused("[net]\nwidth=32\nheight=32\nchannels=3\npolicy=steps\nsteps=100,200\n" CONV8, 5,
                   "policy=steps needs steps= and scales=");
}

Test(cfg_check, dontload_misaligns_weights)
{
    expect_refused(NET CONV8 CONV8 "dontload=1\n", 17, "dontload=1 in [convolutional]");
}

/* ---- keys other forks honour ---- */

Test(cfg_check, route_groups)
{
    expect_refused(NET CONV8 "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n", 13,
                   "groups=2 in [route]: AlexeyAB passes on only a 1/groups slice");
}

Test(cfg_check, dilation)
{
    expect_refused(NET "[convolutional]\nfilters=8\nsize=3\ndilation=2\n", 8,
                   "dilation=2 in [convolutional]: AlexeyAB's dilated convolution");
}

Test(cfg_check, stride_x_differs)
{
    expect_refused(NET "[convolutional]\nfilters=8\nsize=3\nstride=1\nstride_x=2\n", 9,
                   "stride_x=2 in [convolutional]");
}

Test(cfg_check, scale_x_y)
{
    expect_refused(YOLO_OK "scale_x_y=1.05\n", 14, "scale_x_y=1.05 in [yolo]");
}

Test(cfg_check, shortcut_from_several_layers)
{
    expect_refused(NET CONV8 CONV8 "[shortcut]\nfrom=-1,-2\n", 18,
                   "AlexeyAB's shortcut over several layers");
}

Test(cfg_check, shortcut_weights_type)
{
    expect_refused(NET CONV8 CONV8 "[shortcut]\nfrom=-2\nweights_type=per_channel\n", 19,
                   "weights_type=per_channel in [shortcut]");
}

Test(cfg_check, spatial_softmax)
{
    expect_refused(NET CONV8 "[softmax]\nspatial=1\n", 12, "only Darknet's GPU code honours it");
}

/* ---- layer indices and shapes ---- */

Test(cfg_check, route_index_out_of_range)
{
    expect_refused(NET CONV8 "[route]\nlayers=-5\n", 12,
                   "layers=-5 in [route] (layer 1) refers to layer -4, out of range 0..0");
}

Test(cfg_check, route_to_itself)
{
    expect_refused(NET CONV8 "[route]\nlayers=1\n", 12, "refers to layer 1, out of range 0..0");
}

Test(cfg_check, shortcut_index_out_of_range)
{
    expect_refused(NET CONV8 "[shortcut]\nfrom=-3\n", 12,
                   "from=-3 in [shortcut] (layer 1) refers to layer -2, out of range");
}

Test(cfg_check, shortcut_shape_mismatch)
{
    /* layer 0: 32x32x8, layer 1: cropped to 32x16, layer 2 adds layer 0 (32x32) to it. */
    expect_refused(NET CONV8 "[crop]\ncrop_height=16\ncrop_width=32\n[shortcut]\nfrom=-2\n", 15,
                   "layer 2 [shortcut]: from=-2 (layer 0, 32x32x8) cannot be added to layer 1's "
                   "32x16x8 output");
}

Test(cfg_check, dropout_first)
{
    expect_refused(NET "[dropout]\nprobability=.5\n", 5, "[dropout] cannot be the first layer");
}

Test(cfg_check, yolo_inputs_mismatch)
{
    expect_refused(NET "[convolutional]\nfilters=21\nsize=1\nactivation=linear\n"
                   "[yolo]\nmask=0,1,2\nanchors=1,2,3,4,5,6\nclasses=1\nnum=3\n", 9,
                   "layer 1 [yolo] expects w*h*masks*(classes+5) = 18432 inputs but layer 0 "
                   "[convolutional] outputs 21504 (32x32x21); set filters=18");
}

Test(cfg_check, yolo_mask_out_of_range)
{
    expect_refused(NET "[convolutional]\nfilters=18\nsize=1\nactivation=linear\n"
                   "[yolo]\nmask=0,1,3\nanchors=1,2,3,4,5,6\nclasses=1\nnum=3\n", 10,
                   "mask entry 3 in [yolo] is not an anchor index (0..2, num=3)");
}

Test(cfg_check, yolo_anchor_count)
{
    expect_refused(NET "[convolutional]\nfilters=18\nsize=1\nactivation=linear\n"
                   "[yolo]\nmask=0,1,2\nanchors=1,2,3,4\nclasses=1\nnum=3\n", 11,
                   "anchors in [yolo] lists 4 numbers but num=3 needs 6");
}

Test(cfg_check, region_inputs_mismatch)
{
    expect_refused(NET "[convolutional]\nfilters=30\nsize=1\nactivation=linear\n"
                   "[region]\nanchors=1,1,2,2\nclasses=1\ncoords=4\nnum=2\n", 9,
                   "expects w*h*num*(coords+classes+1) = 12288 inputs");
}

Test(cfg_check, missing_tree_file)
{
    expect_refused(NET CONV8 "[softmax]\ntree=data/missing.tree\n", 12,
                   "tree=data/missing.tree in [softmax] cannot be read (No such file or directory)");
}

Test(cfg_check, tree_file_is_a_directory)
{
    expect_refused(NET CONV8 "[softmax]\ntree=/\n", 12, "tree=/ in [softmax] cannot be read (Is a "
                   "directory)");
}

Test(cfg_check, tree_entries_differ_from_inputs)
{
    char tree[] = "/tmp/dx-cfg-tree-XXXXXX";
    int fd = mkstemp(tree);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "a -1\nb -1\nc -1\n", 15), 15);
    close(fd);
    char text[512];
    snprintf(text, sizeof text, NET CONV8 "[avgpool]\n[softmax]\ntree=%s\n", tree);
    expect_refused(text, 13, "has 3 entries but its input size is 8");
    unlink(tree);
}

Test(cfg_check, conv_after_flat_route)
{
    /* layer 0: 32x32x8, layer 1: 16x16x8, layer 2 concatenates both: a flat vector. */
    expect_refused(NET CONV8 "[maxpool]\nsize=2\nstride=2\n[route]\nlayers=-1,-2\n" CONV8, 16,
                   "layer 3 [convolutional] needs an image input but layer 2 [route] outputs a "
                   "flat vector (its inputs differ in size)");
}

Test(cfg_check, kernel_larger_than_input)
{
    expect_refused("[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=2\nsize=7\n", 7,
                   "size=7 in [convolutional] is larger than its input (4) plus padding (0)");
}

/* ---- accepted ---- */

Test(cfg_check, unknown_harmless_key_warns)
{
    char warnings[512], path[128];
    expect_accepted(NET CONV8 "colour=blue\n", warnings, sizeof warnings, path);
    char expected[256];
    snprintf(expected, sizeof expected,
             "%s:11: key 'colour' in [convolutional] is ignored by Debian's Darknet\n", path);
    cr_assert_str_eq(warnings, expected);
}

Test(cfg_check, warnings_never_overflow)
{
    char warnings[40], path[128];
    memset(warnings, 0, sizeof warnings);
    expect_accepted(NET CONV8 "colour=blue\nshape=round\n", warnings, sizeof warnings, path);
    cr_assert_eq(warnings[0], '\0', "a warning longer than the buffer must be dropped whole");
}

Test(cfg_check, letter_box_zero_warns)
{
    char warnings[512], path[128];
    expect_accepted(NET "letter_box=0\n" CONV8, warnings, sizeof warnings, path);
    cr_assert(strstr(warnings, ":5: letter_box=0: AlexeyAB's Darknet stretches images"), "%s",
              warnings);
}

Test(cfg_check, alexeyab_training_keys_accepted_silently)
{
    char warnings[512], path[128];
    expect_accepted(YOLO_OK "scale_x_y=1.0\niou_loss=ciou\niou_normalizer=0.07\nnms_kind=greedynms\n"
                    "beta_nms=0.6\nmax_delta=5\nlabel_smooth_eps=0.1\n", warnings, sizeof warnings,
                    path);
    cr_assert_str_eq(warnings, "");
}

/* Every cfg Debian ships is accepted, except one naming a relative tree= or map= file that is
 * missing from the current directory: that one is refused naming the file. */
Test(cfg_check, debian_cfgs)
{
    glob_t g;
    cr_assert_eq(glob("/usr/share/darknet/cfg/*.cfg", 0, NULL, &g), 0, "no Debian cfgs found");
    for (size_t i = 0; i < g.gl_pathc; ++i) {
        const char *path = g.gl_pathv[i];
        char missing[256] = "";
        FILE *f = fopen(path, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f)) {
            char file[256];
            if ((sscanf(line, " tree = %255s", file) == 1 || sscanf(line, " map = %255s", file) == 1) &&
                file[0] != '/' && access(file, R_OK) != 0)
                strcpy(missing, file);
        }
        if (f) fclose(f);
        dx_error err = {{0}};
        int rc = dx_cfg_check(path, NULL, 0, &err);
        if (missing[0]) {
            cr_expect_eq(rc, -1, "%s names a missing %s but was accepted", path, missing);
            cr_expect(strstr(err.msg, missing), "%s: \"%s\" does not name %s", path, err.msg, missing);
        } else {
            cr_expect_eq(rc, 0, "%s refused: %s", path, err.msg);
        }
    }
    globfree(&g);
}

/* name: a cfg of ../shared/models, e.g. "imagenet/tiny" */
static void expect_shared_cfg_accepted(const char *name)
{
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent: real-model checks skipped");
    char path[1200];
    snprintf(path, sizeof path, "%s/models/%s.cfg", shared, name);
    dx_error err = {{0}};
    char warnings[4096] = "";
    cr_assert_eq(dx_cfg_check(path, warnings, sizeof warnings, &err), 0, "%s refused: %s", path,
                 err.msg);
}

Test(cfg_check, shared_imagenet_tiny)
{
    expect_shared_cfg_accepted("imagenet/tiny");
}

Test(cfg_check, shared_yolo_fastest)
{
    expect_shared_cfg_accepted("coco/yolo-fastest-1.1");
}

Test(cfg_check, shared_yolo_fastest_xl)
{
    expect_shared_cfg_accepted("coco/yolo-fastest-1.1-xl");
}

Test(cfg_check, shared_mnist_lenet)
{
    expect_shared_cfg_accepted("mnist/mnist_lenet");
}

/* ---- the batch-1 copy ---- */

/* Reads the copy back through its /proc path. */
static char *read_copy(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open the copy at %s", path);
    static char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

Test(cfg_check, batch1_copy_replaces_batch_and_subdivisions)
{
    const char *original = "[net]\n# Training\nbatch=64\n  subdivisions = 16\nwidth=32\nheight=32\n"
                           "channels=3\n\n" CONV8 "batch=7\n";
    const char *expected = "[net]\n# Training\nbatch=1\nsubdivisions=1\nwidth=32\nheight=32\n"
                           "channels=3\n\n" CONV8 "batch=7\n";
    temp_cfg t;
    temp_cfg_create(&t, original, strlen(original));
    dx_error err = {{0}};
    char path[64];
    int fd = dx_cfg_batch1_copy(t.path, path, sizeof path, &err);
    temp_cfg_remove(&t);
    cr_assert_geq(fd, 0, "%s", err.msg);
    cr_assert(strncmp(path, "/proc/self/fd/", 14) == 0, "%s", path);
    cr_assert_str_eq(read_copy(path), expected);
    char warnings[256] = "";
    cr_assert_eq(dx_cfg_check(path, warnings, sizeof warnings, &err), 0, "%s", err.msg);
    close(fd);
}

Test(cfg_check, batch1_copy_adds_missing_keys)
{
    const char *original = "[network]\nwidth=32\nheight=32\nchannels=3\n" CONV8;
    const char *expected = "[network]\nbatch=1\nsubdivisions=1\nwidth=32\nheight=32\nchannels=3\n" CONV8;
    temp_cfg t;
    temp_cfg_create(&t, original, strlen(original));
    dx_error err = {{0}};
    char path[64];
    int fd = dx_cfg_batch1_copy(t.path, path, sizeof path, &err);
    temp_cfg_remove(&t);
    cr_assert_geq(fd, 0, "%s", err.msg);
    cr_assert_str_eq(read_copy(path), expected);
    close(fd);
}

Test(cfg_check, batch1_copy_of_yolov3_keeps_every_other_line)
{
    const char *source = "/usr/share/darknet/cfg/yolov3.cfg";
    dx_error err = {{0}};
    char path[64];
    int fd = dx_cfg_batch1_copy(source, path, sizeof path, &err);
    cr_assert_geq(fd, 0, "%s", err.msg);
    FILE *a = fopen(source, "r"), *b = fopen(path, "r");
    cr_assert(a && b);
    char la[1024], lb[1024];
    int line = 0, in_net = 0;
    while (fgets(la, sizeof la, a)) {
        ++line;
        cr_assert_not_null(fgets(lb, sizeof lb, b), "the copy ends early at line %d", line);
        if (la[0] == '[') in_net = strcmp(la, "[net]\n") == 0;
        if (in_net && strncmp(la, "batch=", 6) == 0) cr_assert_str_eq(lb, "batch=1\n");
        else if (in_net && strncmp(la, "subdivisions=", 13) == 0) cr_assert_str_eq(lb, "subdivisions=1\n");
        else cr_assert_str_eq(lb, la, "line %d differs", line);
    }
    cr_assert_null(fgets(lb, sizeof lb, b), "the copy is longer than the original");
    fclose(a);
    fclose(b);
    cr_assert_eq(dx_cfg_check(path, NULL, 0, &err), 0, "%s", err.msg);
    close(fd);
}

Test(cfg_check, batch1_copy_of_missing_file)
{
    dx_error err = {{0}};
    char path[64];
    cr_assert_eq(dx_cfg_batch1_copy("/nonexistent/x.cfg", path, sizeof path, &err), -1);
    cr_assert_str_eq(err.msg, "/nonexistent/x.cfg: cannot open: No such file or directory");
}
