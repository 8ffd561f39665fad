/* The I/O room: .npy files (read back byte by byte, and by NumPy when it is installed), the JSON
 * writer's exact output and misuse detection, the colour maps, PNG output (read back with
 * stb_image). The heat-map figures are test_render.c's. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <stb_image.h>
#include "io/json.h"
#include "io/npy.h"
#include "io/render.h"
#include "helpers.h"

static unsigned char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *bytes = malloc((size_t)size + 1);
    cr_assert_eq(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    bytes[size] = 0;
    *len = (size_t)size;
    return bytes;
}

/* Lets a test exceed a file-size limit and see EFBIG instead of being killed by SIGXFSZ. */
static void limit_file_size(rlim_t bytes)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {bytes, bytes};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
}

/* ---------------------------------------------------------------- npy */

TestSuite(npy, .init = make_scratch, .fini = remove_scratch);

/* Checks the NPY 1.0 layout of the file at path against shape_text (as Python prints the
 * tuple) and the floats bit for bit. */
static void check_npy_file(const char *path, const char *shape_text, const float *values, size_t n)
{
    size_t len;
    unsigned char *bytes = read_whole(path, &len);
    cr_assert_geq(len, 10);
    cr_assert_eq(memcmp(bytes, "\x93NUMPY", 6), 0, "magic");
    cr_assert_eq(bytes[6], 1, "major version");
    cr_assert_eq(bytes[7], 0, "minor version");
    size_t header_len = bytes[8] | (size_t)bytes[9] << 8;
    size_t data_offset = 10 + header_len;
    cr_assert_eq(data_offset % 64, 0, "data starts at %zu, not a multiple of 64", data_offset);
    cr_assert_eq(bytes[data_offset - 1], '\n', "header ends in a newline");
    char *header = strndup((const char *)bytes + 10, header_len);
    cr_assert_not_null(strstr(header, "'descr': '<f4'"), "%s", header);
    cr_assert_not_null(strstr(header, "'fortran_order': False"), "%s", header);
    char shape_entry[128];
    snprintf(shape_entry, sizeof shape_entry, "'shape': %s", shape_text);
    cr_assert_not_null(strstr(header, shape_entry), "want %s in %s", shape_entry, header);
    /* the dict, then only spaces up to the final newline */
    char *dict_end = strrchr(header, '}');
    cr_assert_not_null(dict_end);
    cr_assert_eq(strspn(dict_end + 1, " "), strlen(dict_end + 1) - 1, "padding is spaces: %s", header);
    cr_assert_eq(len, data_offset + 4 * n, "file holds %zu bytes", len);
    for (size_t i = 0; i < n; ++i) {
        const unsigned char *b = bytes + data_offset + 4 * i;
        uint32_t stored = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        uint32_t expected;
        memcpy(&expected, &values[i], 4);
        cr_assert_eq(stored, expected, "float %zu: %08x, want %08x", i, stored, expected);
    }
    free(header);
    free(bytes);
}

static const float MATRIX_3x5[15] = {0.0f, -0.0f, 1.0f, -1.5f, 0.1f,
                                     3.14159274f, 1e-30f, 1e30f, -7e-42f /* subnormal */, 65504.0f,
                                     123456.789f, -0.333333343f, 2.0f, 1e-7f, 42.0f};

Test(npy, matrix_3x5_header_and_bits)
{
    char path[128];
    dx_error err = {{0}};
    int shape[2] = {3, 5};
    cr_assert_eq(dx_npy_write(scratch_path(path, sizeof path, "m.npy"), MATRIX_3x5, 2, shape, &err), 0,
                 "%s", err.msg);
    check_npy_file(path, "(3, 5)", MATRIX_3x5, 15);
}

Test(npy, vector_and_3d_shapes)
{
    char path[128];
    dx_error err = {{0}};
    float cube[2 * 3 * 4];
    for (int i = 0; i < 24; ++i) cube[i] = (float)i * 0.5f - 3;
    int vector_shape[1] = {7};
    cr_assert_eq(dx_npy_write(scratch_path(path, sizeof path, "v.npy"), cube, 1, vector_shape, &err), 0,
                 "%s", err.msg);
    check_npy_file(path, "(7,)", cube, 7);
    int cube_shape[3] = {2, 3, 4};
    cr_assert_eq(dx_npy_write(scratch_path(path, sizeof path, "c.npy"), cube, 3, cube_shape, &err), 0,
                 "%s", err.msg);
    check_npy_file(path, "(2, 3, 4)", cube, 24);
}

/* Loads path with NumPy and checks dtype, shape and every value. The values come back as
 * their bit patterns: converting a subnormal float to text through double would be flushed
 * to zero in this process, since loading libdarknet.so turns on FTZ/DAZ (it is built with
 * -ffast-math). */
static void check_with_numpy(const char *path, const char *shape_text, const float *values, size_t n)
{
    char command[512];
    snprintf(command, sizeof command,
             "/usr/bin/python3 -c 'import sys, numpy; a = numpy.load(sys.argv[1]); "
             "print(a.dtype, a.flags.c_contiguous); print(a.shape); "
             "print(\" \".join(str(int(b)) for b in a.view(\"<u4\").ravel()))' '%s'", path);
    FILE *p = popen(command, "r");
    cr_assert_not_null(p);
    char dtype_line[128], shape_line[128];
    static char values_line[65536];
    cr_assert_not_null(fgets(dtype_line, sizeof dtype_line, p));
    cr_assert_not_null(fgets(shape_line, sizeof shape_line, p));
    cr_assert_not_null(fgets(values_line, sizeof values_line, p));
    cr_assert_eq(pclose(p), 0, "numpy.load failed on %s", path);
    cr_assert_str_eq(dtype_line, "float32 True\n");
    shape_line[strcspn(shape_line, "\n")] = 0;
    cr_assert_str_eq(shape_line, shape_text);
    char *cursor = values_line;
    for (size_t i = 0; i < n; ++i) {
        char *end;
        unsigned long bits = strtoul(cursor, &end, 10);
        cr_assert_neq(end, cursor, "numpy printed too few values");
        uint32_t expected;
        memcpy(&expected, &values[i], 4);
        cr_assert_eq(bits, expected, "value %zu: numpy has bits %08lx, want %08x", i, bits, expected);
        cursor = end;
    }
    cr_assert_eq(strspn(cursor, " \n"), strlen(cursor), "numpy printed too many values");
}

Test(npy, numpy_reads_what_we_write)
{
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        cr_log_warn("python3-numpy is not installed: the NumPy cross-check was skipped");
        return;
    }
    char path[128];
    dx_error err = {{0}};
    int matrix_shape[2] = {3, 5}, vector_shape[1] = {15}, cube_shape[3] = {5, 1, 3};
    cr_assert_eq(dx_npy_write(scratch_path(path, sizeof path, "m.npy"), MATRIX_3x5, 2, matrix_shape, &err), 0);
    check_with_numpy(path, "(3, 5)", MATRIX_3x5, 15);
    cr_assert_eq(dx_npy_write(scratch_path(path, sizeof path, "v.npy"), MATRIX_3x5, 1, vector_shape, &err), 0);
    check_with_numpy(path, "(15,)", MATRIX_3x5, 15);
    cr_assert_eq(dx_npy_write(scratch_path(path, sizeof path, "c.npy"), MATRIX_3x5, 3, cube_shape, &err), 0);
    check_with_numpy(path, "(5, 1, 3)", MATRIX_3x5, 15);
}

Test(npy, missing_directory_fails_without_a_file)
{
    char path[128];
    dx_error err = {{0}};
    int shape[2] = {3, 5};
    scratch_path(path, sizeof path, "no-such-dir/m.npy");
    cr_assert_eq(dx_npy_write(path, MATRIX_3x5, 2, shape, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));
}

Test(npy, bad_shape_is_refused)
{
    char path[128];
    dx_error err = {{0}};
    int shape[2] = {3, -5};
    scratch_path(path, sizeof path, "m.npy");
    cr_assert_eq(dx_npy_write(path, MATRIX_3x5, 2, shape, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));
}

/* A path in the scratch directory that leads to /dev/full (every write fails with ENOSPC).
 * Through a link, a writer that wrongly removes what it failed to write removes only the
 * link: these tests can never delete the device itself, even when run as root. */
static const char *full_device_link(char *buf, size_t size)
{
    if (access("/dev/full", W_OK) != 0) cr_skip_test("no writable /dev/full");
    scratch_path(buf, size, "full");
    cr_assert_eq(symlink("/dev/full", buf), 0);
    return buf;
}

static int is_link(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

Test(npy, full_disk_is_reported_and_the_device_kept)
{
    char path[128];
    dx_error err = {{0}};
    int shape[2] = {3, 5};
    full_device_link(path, sizeof path);
    cr_assert_eq(dx_npy_write(path, MATRIX_3x5, 2, shape, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, strerror(ENOSPC)), "message: %s", err.msg);
    cr_assert(is_link(path), "only regular files are removed on failure");
}

Test(npy, short_write_leaves_no_partial_file)
{
    char path[128];
    dx_error err = {{0}};
    static float big[100000];
    int shape[1] = {100000};
    limit_file_size(4096);
    scratch_path(path, sizeof path, "big.npy");
    cr_assert_eq(dx_npy_write(path, big, 1, shape, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path), "the partial file must be removed");
}

/* ---------------------------------------------------------------- json */

/* The text a writer produced, via an in-memory FILE. */
typedef struct {
    FILE *f;
    char *text;
    size_t len;
} memory_file;

static void memory_open(memory_file *m)
{
    m->f = open_memstream(&m->text, &m->len);
    cr_assert_not_null(m->f);
}

static void memory_close(memory_file *m)
{
    fclose(m->f);
}

Test(json, nested_document_exact_text)
{
    memory_file m;
    memory_open(&m);
    dx_json j;
    dx_json_begin(&j, m.f);
    dx_json_obj_begin(&j);
    dx_json_key(&j, "model");
    dx_json_str(&j, "tiny.cfg");
    dx_json_key(&j, "input");
    dx_json_arr_begin(&j);
    dx_json_int(&j, 224);
    dx_json_int(&j, 224);
    dx_json_arr_end(&j);
    dx_json_key(&j, "top");
    dx_json_arr_begin(&j);
    dx_json_obj_begin(&j);
    dx_json_key(&j, "class");
    dx_json_int(&j, 3);
    dx_json_key(&j, "prob");
    dx_json_num(&j, 0.25);
    dx_json_obj_end(&j);
    dx_json_obj_begin(&j);
    dx_json_obj_end(&j);
    dx_json_arr_end(&j);
    dx_json_key(&j, "layers");
    dx_json_arr_begin(&j);
    dx_json_arr_end(&j);
    dx_json_key(&j, "relu");
    dx_json_bool(&j, 1);
    dx_json_key(&j, "names");
    dx_json_null(&j);
    dx_json_key(&j, "ms");
    dx_json_num(&j, 1.5);
    dx_json_obj_end(&j);
    cr_assert_eq(dx_json_end(&j), 0);
    memory_close(&m);
    cr_assert_str_eq(m.text,
                     "{\n"
                     "  \"model\": \"tiny.cfg\",\n"
                     "  \"input\": [\n"
                     "    224,\n"
                     "    224\n"
                     "  ],\n"
                     "  \"top\": [\n"
                     "    {\n"
                     "      \"class\": 3,\n"
                     "      \"prob\": 0.25\n"
                     "    },\n"
                     "    {}\n"
                     "  ],\n"
                     "  \"layers\": [],\n"
                     "  \"relu\": true,\n"
                     "  \"names\": null,\n"
                     "  \"ms\": 1.5\n"
                     "}\n");
    free(m.text);
}

Test(json, strings_are_escaped)
{
    memory_file m;
    memory_open(&m);
    dx_json j;
    dx_json_begin(&j, m.f);
    dx_json_arr_begin(&j);
    dx_json_str(&j, "say \"hi\"\\ back\nnext\ttab\x01" "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb6");
    dx_json_str(&j, "latin-1 caf\xe9 and a lone continuation \x80 and overlong \xc0\xaf");
    dx_json_str(&j, "overlong \xe0\x80\xaf, surrogate \xed\xa0\x80, beyond U+10FFFF \xf4\x90\x80\x80, cut \xe2\x82");
    dx_json_str(&j, NULL);
    dx_json_arr_end(&j);
    cr_assert_eq(dx_json_end(&j), 0);
    memory_close(&m);
    cr_assert_str_eq(m.text,
                     "[\n"
                     "  \"say \\\"hi\\\"\\\\ back\\nnext\\ttab\\u0001caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb6\",\n"
                     "  \"latin-1 caf\\ufffd and a lone continuation \\ufffd and overlong \\ufffd\\ufffd\",\n"
                     "  \"overlong \\ufffd\\ufffd\\ufffd, surrogate \\ufffd\\ufffd\\ufffd, beyond U+10FFFF "
                     "\\ufffd\\ufffd\\ufffd\\ufffd, cut \\ufffd\\ufffd\",\n"
                     "  null\n"
                     "]\n");
    free(m.text);
}

Test(json, numbers)
{
    memory_file m;
    memory_open(&m);
    dx_json j;
    dx_json_begin(&j, m.f);
    dx_json_arr_begin(&j);
    dx_json_num(&j, NAN);
    dx_json_num(&j, INFINITY);
    dx_json_num(&j, -INFINITY);
    dx_json_num(&j, 3.0);
    dx_json_num(&j, -123456789012.0); /* an integer beyond %.9g's digits: still exact */
    dx_json_num(&j, 0.1f);            /* a float32 value: 9 digits */
    dx_json_num(&j, -2.5e-7);
    dx_json_num(&j, 1e300);           /* integral but beyond 2^53: %.9g */
    dx_json_int(&j, LONG_MIN);
    dx_json_arr_end(&j);
    cr_assert_eq(dx_json_end(&j), 0);
    memory_close(&m);
    char expected[512];
    snprintf(expected, sizeof expected,
             "[\n  null,\n  null,\n  null,\n  3,\n  -123456789012,\n  0.100000001,\n  -2.5e-07,\n"
             "  1e+300,\n  %ld\n]\n", LONG_MIN);
    cr_assert_str_eq(m.text, expected);
    free(m.text);
}

/* Runs a misuse scenario and returns dx_json_end's verdict. */
static int end_of(void (*scenario)(dx_json *))
{
    memory_file m;
    memory_open(&m);
    dx_json j;
    dx_json_begin(&j, m.f);
    scenario(&j);
    int rc = dx_json_end(&j);
    memory_close(&m);
    free(m.text);
    return rc;
}

static void unclosed_object(dx_json *j)
{
    dx_json_obj_begin(j);
    dx_json_key(j, "a");
    dx_json_int(j, 1);
}
static void value_without_key(dx_json *j)
{
    dx_json_obj_begin(j);
    dx_json_int(j, 1);
    dx_json_obj_end(j);
}
static void key_in_array(dx_json *j)
{
    dx_json_arr_begin(j);
    dx_json_key(j, "a");
    dx_json_int(j, 1);
    dx_json_arr_end(j);
}
static void key_without_value(dx_json *j)
{
    dx_json_obj_begin(j);
    dx_json_key(j, "a");
    dx_json_obj_end(j);
}
static void crossed_brackets(dx_json *j)
{
    dx_json_obj_begin(j);
    dx_json_key(j, "a");
    dx_json_arr_begin(j);
    dx_json_obj_end(j);
    dx_json_arr_end(j);
}
static void extra_close(dx_json *j)
{
    dx_json_arr_begin(j);
    dx_json_arr_end(j);
    dx_json_arr_end(j);
}
static void two_documents(dx_json *j)
{
    dx_json_int(j, 1);
    dx_json_int(j, 2);
}
static void nothing(dx_json *j) {}
static void too_deep(dx_json *j)
{
    for (int i = 0; i <= DX_JSON_MAX_DEPTH; ++i) dx_json_arr_begin(j);
    for (int i = 0; i <= DX_JSON_MAX_DEPTH; ++i) dx_json_arr_end(j);
}
static void deepest_allowed(dx_json *j)
{
    for (int i = 0; i < DX_JSON_MAX_DEPTH; ++i) dx_json_arr_begin(j);
    for (int i = 0; i < DX_JSON_MAX_DEPTH; ++i) dx_json_arr_end(j);
}
static void lone_scalar(dx_json *j)
{
    dx_json_str(j, "just this");
}

Test(json, misuse_is_detected)
{
    cr_assert_eq(end_of(unclosed_object), -1);
    cr_assert_eq(end_of(value_without_key), -1);
    cr_assert_eq(end_of(key_in_array), -1);
    cr_assert_eq(end_of(key_without_value), -1);
    cr_assert_eq(end_of(crossed_brackets), -1);
    cr_assert_eq(end_of(extra_close), -1);
    cr_assert_eq(end_of(two_documents), -1);
    cr_assert_eq(end_of(nothing), -1);
    cr_assert_eq(end_of(too_deep), -1);
    cr_assert_eq(end_of(deepest_allowed), 0);
    cr_assert_eq(end_of(lone_scalar), 0);
}

Test(json, failed_write_is_reported)
{
    FILE *f = fopen("/dev/full", "w");
    if (!f) cr_skip_test("no writable /dev/full");
    dx_json j;
    dx_json_begin(&j, f);
    dx_json_obj_begin(&j);
    dx_json_key(&j, "a");
    dx_json_int(&j, 1);
    dx_json_obj_end(&j);
    cr_assert_eq(dx_json_end(&j), -1);
    fclose(f);
}

/* ---------------------------------------------------------------- colour maps */

static void assert_rgb(dx_cmap cm, float t, float r, float g, float b)
{
    float rgb[3];
    dx_colormap(cm, t, rgb);
    cr_assert(fabsf(rgb[0] - r) < 2e-3f && fabsf(rgb[1] - g) < 2e-3f && fabsf(rgb[2] - b) < 2e-3f,
              "colormap %d at %g: (%.4f, %.4f, %.4f), want (%.4f, %.4f, %.4f)", cm, t, rgb[0], rgb[1],
              rgb[2], r, g, b);
}

Test(colormap, jet_matches_opencv)
{
    /* ends and middle of OpenCV's COLORMAP_JET (RGB order) */
    assert_rgb(DX_CMAP_JET, 0, 0, 0, 0.5f);
    assert_rgb(DX_CMAP_JET, 0.5f, 0.5f, 1, 0.5f);
    assert_rgb(DX_CMAP_JET, 1, 0.5f, 0, 0);
    /* the knots: blue, cyan, yellow, red */
    assert_rgb(DX_CMAP_JET, 1 / 8.0f, 0, 0, 1);
    assert_rgb(DX_CMAP_JET, 3 / 8.0f, 0, 1, 1);
    assert_rgb(DX_CMAP_JET, 5 / 8.0f, 1, 1, 0);
    assert_rgb(DX_CMAP_JET, 7 / 8.0f, 1, 0, 0);
    /* entries of OpenCV's 256-entry table (r, g, b at index k = t * 255) */
    assert_rgb(DX_CMAP_JET, 96 / 255.0f, 0.00588235f, 1, 0.99411765f);
    assert_rgb(DX_CMAP_JET, 32 / 255.0f, 0, 0.00196078f, 1);
    /* out of range and NaN are clamped */
    assert_rgb(DX_CMAP_JET, -3, 0, 0, 0.5f);
    assert_rgb(DX_CMAP_JET, 7, 0.5f, 0, 0);
    assert_rgb(DX_CMAP_JET, NAN, 0, 0, 0.5f);
}

Test(colormap, diverging_is_blue_white_red)
{
    assert_rgb(DX_CMAP_DIVERGING, 0.5f, 1, 1, 1);
    float low[3], high[3], near_low[3];
    dx_colormap(DX_CMAP_DIVERGING, 0, low);
    dx_colormap(DX_CMAP_DIVERGING, 1, high);
    dx_colormap(DX_CMAP_DIVERGING, 0.25f, near_low);
    cr_assert(low[2] > low[0] + 0.3f && low[2] > low[1], "t=0 is blue: %g %g %g", low[0], low[1], low[2]);
    cr_assert(high[0] > high[2] + 0.3f && high[0] > high[1], "t=1 is red: %g %g %g", high[0], high[1], high[2]);
    /* halfway to an end is lighter than the end */
    cr_assert(near_low[0] > low[0] && near_low[1] > low[1] && near_low[2] >= low[2]);
}

/* ---------------------------------------------------------------- PNG (the figures: test_render.c) */

TestSuite(png, .init = make_scratch, .fini = remove_scratch);

Test(png, values_round_to_bytes)
{
    char path[128];
    dx_error err = {{0}};
    /* 3x2 RGB planar: R plane, G plane, B plane */
    float data[18] = {0, 0.5f, 1, 1.7f, -0.2f, 0.2f,
                      1, 0.25f, 0, 0, 0, 0,
                      0, 0.75f, 0.5f, 1, 1, 1};
    dx_image im = {3, 2, 3, data};
    cr_assert_eq(dx_write_png(im, scratch_path(path, sizeof path, "rgb.png"), &err), 0, "%s", err.msg);
    int w, h, c;
    unsigned char *px = stbi_load(path, &w, &h, &c, 0);
    cr_assert_not_null(px);
    cr_assert(w == 3 && h == 2 && c == 3, "%dx%dx%d", w, h, c);
    unsigned char expected[18] = {0, 255, 0, 128, 64, 191, 255, 0, 128,
                                  255, 0, 255, 0, 0, 255, 51, 0, 255};
    cr_assert_arr_eq(px, expected, 18);
    stbi_image_free(px);

    float grey_data[2] = {0.2f, 1};
    dx_image grey = {2, 1, 1, grey_data};
    cr_assert_eq(dx_write_png(grey, scratch_path(path, sizeof path, "grey.png"), &err), 0, "%s", err.msg);
    px = stbi_load(path, &w, &h, &c, 0);
    cr_assert_not_null(px);
    unsigned char expected_grey[6] = {51, 51, 51, 255, 255, 255};
    cr_assert(w == 2 && h == 1 && c == 3);
    cr_assert_arr_eq(px, expected_grey, 6);
    stbi_image_free(px);
}

Test(png, failures_leave_no_file)
{
    char path[128];
    dx_error err = {{0}};
    float data[12] = {0};
    dx_image im = {2, 2, 3, data};
    scratch_path(path, sizeof path, "missing/a.png");
    cr_assert_eq(dx_write_png(im, path, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));

    dx_image four_channels = {1, 3, 4, data};
    scratch_path(path, sizeof path, "rgba.png");
    cr_assert_eq(dx_write_png(four_channels, path, &err), -1);
    cr_assert_not(exists(path));

    full_device_link(path, sizeof path);
    cr_assert_eq(dx_write_png(im, path, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert(is_link(path), "only regular files are removed on failure");
}

Test(png, short_write_leaves_no_partial_file)
{
    char path[128];
    dx_error err = {{0}};
    /* noise does not compress: the PNG is far beyond the limit */
    int w = 256, h = 256;
    float *data = malloc(sizeof(float) * 3 * w * h);
    uint32_t state = 12345;
    for (int i = 0; i < 3 * w * h; ++i) {
        state = state * 1664525u + 1013904223u;
        data[i] = (state >> 8) / 16777216.0f;
    }
    dx_image im = {w, h, 3, data};
    limit_file_size(4096);
    scratch_path(path, sizeof path, "noise.png");
    cr_assert_eq(dx_write_png(im, path, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));
    free(data);
}
