/* The I/O room: .npy files (read back byte by byte, and by NumPy when it is installed), the JSON
 * writer's exact output and misuse detection, the colour maps, PNG output and the heat-map
 * figure (read back with stb_image and checked where the layout puts things). */
#include <errno.h>
#include <ftw.h>
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

/* Each test runs in its own process (Criterion forks), with its own scratch directory. */
static char scratch[64];

static void make_scratch(void)
{
    strcpy(scratch, "/tmp/dx-test-io-XXXXXX");
    cr_assert_not_null(mkdtemp(scratch));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_scratch(void)
{
    nftw(scratch, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *scratch_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", scratch, name);
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

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

/* ---------------------------------------------------------------- PNG and figures */

TestSuite(png, .init = make_scratch, .fini = remove_scratch);
TestSuite(render, .init = make_scratch, .fini = remove_scratch);

Test(png, values_round_to_bytes)
{
    char path[128];
    dx_error err = {{0}};
    /* 3x2 RGB planar: R plane, G plane, B plane */
    float data[18] = {0, 0.5f, 1, 1.7f, -0.2f, 0.2f,
                      1, 0.25f, 0, 0, 0, 0,
                      0, 0.75f, 0.5f, 1, 1, 1};
    image im = {3, 2, 3, data};
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
    image grey = {2, 1, 1, grey_data};
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
    image im = {2, 2, 3, data};
    scratch_path(path, sizeof path, "missing/a.png");
    cr_assert_eq(dx_write_png(im, path, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));

    image four_channels = {1, 3, 4, data};
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
    image im = {w, h, 3, data};
    limit_file_size(4096);
    scratch_path(path, sizeof path, "noise.png");
    cr_assert_eq(dx_write_png(im, path, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));
    free(data);
}

#define PHOTO_W 64
#define PHOTO_H 48
#define BLOB_X 44
#define BLOB_Y 18

static image grey_photo(int w, int h)
{
    image photo = {w, h, 3, malloc(sizeof(float) * 3 * w * h)};
    for (int i = 0; i < 3 * w * h; ++i) photo.data[i] = 0.5f;
    return photo;
}

/* sign * exp(-r^2 / 2 sigma^2) around (cx, cy), added to map */
static void add_blob(float *map, int w, int h, int cx, int cy, float sign)
{
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float r2 = (float)((x - cx) * (x - cx) + (y - cy) * (y - cy));
            map[y * w + x] += sign * expf(-r2 / (2 * 4.0f * 4.0f));
        }
}

typedef struct {
    unsigned char *px;
    int w, h;
} loaded_png;

static loaded_png load_png(const char *path)
{
    loaded_png p;
    int c;
    p.px = stbi_load(path, &p.w, &p.h, &c, 3);
    cr_assert_not_null(p.px, "%s: %s", path, stbi_failure_reason());
    return p;
}

static const unsigned char *pixel_at(const loaded_png *p, int x, int y)
{
    cr_assert(x >= 0 && y >= 0 && x < p->w && y < p->h, "(%d, %d) outside %dx%d", x, y, p->w, p->h);
    return p->px + 3 * ((size_t)y * p->w + x);
}

static int near(const unsigned char *px, int r, int g, int b)
{
    return abs(px[0] - r) <= 2 && abs(px[1] - g) <= 2 && abs(px[2] - b) <= 2;
}

/* The overlay's top-left corner, found by its colour: the first 3x3 block, row by row, of
 * the colour the map's zero gets over the grey photo. Nothing else in the figure (dark
 * background, white antialiased text, the bar's pure colours) has a block of it. */
static void find_overlay(const loaded_png *p, int r, int g, int b, int *ox, int *oy)
{
    for (int y = 0; y + 3 <= p->h; ++y)
        for (int x = 0; x + 3 <= p->w; ++x) {
            int block = 1;
            for (int dy = 0; dy < 3 && block; ++dy)
                for (int dx = 0; dx < 3 && block; ++dx) block = near(pixel_at(p, x + dx, y + dy), r, g, b);
            if (block) {
                *ox = x;
                *oy = y;
                return;
            }
        }
    cr_assert_fail("no block of (%d, %d, %d) in the figure", r, g, b);
}

static int bright_pixels(const loaded_png *p, int x0, int y0, int x1, int y1)
{
    int count = 0;
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) {
            const unsigned char *px = pixel_at(p, x, y);
            count += px[0] > 200 && px[1] > 200 && px[2] > 200;
        }
    return count;
}

static int glyphs_installed(void)
{
    return access("/usr/share/darknet/data/labels/65_1.png", R_OK) == 0;
}

Test(render, unsigned_blob_figure)
{
    char path[128];
    dx_error err = {{0}};
    image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    add_blob(map, PHOTO_W, PHOTO_H, BLOB_X, BLOB_Y, 1);
    scratch_path(path, sizeof path, "fig.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_H, PHOTO_W, 0, "gradcam cat 91%", NULL, path, &err),
                 0, "%s", err.msg);
    loaded_png fig = load_png(path);
    cr_assert_gt(fig.w, PHOTO_W + 20, "figure %dx%d", fig.w, fig.h);
    cr_assert_gt(fig.h, PHOTO_H, "figure %dx%d", fig.w, fig.h);

    /* 0.55 * 0.5 + 0.45 * jet(0) = (0.275, 0.275, 0.5) */
    int ox, oy;
    find_overlay(&fig, 70, 70, 128, &ox, &oy);
    cr_assert_gt(oy, 0, "the title bar is above the overlay");
    cr_assert_leq(ox + PHOTO_W, fig.w);
    cr_assert_leq(oy + PHOTO_H, fig.h);
    const unsigned char *hot = pixel_at(&fig, ox + BLOB_X, oy + BLOB_Y);
    cr_assert(hot[0] > hot[1] + 40 && hot[0] > hot[2] + 40, "blob centre (%d, %d, %d) is red-dominant",
              hot[0], hot[1], hot[2]);
    const unsigned char *cold = pixel_at(&fig, ox + 3, oy + PHOTO_H - 3);
    cr_assert(cold[2] > cold[0] + 40 && cold[2] > cold[1] + 40, "far pixel (%d, %d, %d) is blue-dominant",
              cold[0], cold[1], cold[2]);
    /* the overlay is exactly photo-sized: the pixel right of it is no longer the photo */
    cr_assert_not(near(pixel_at(&fig, ox + PHOTO_W, oy + PHOTO_H - 3), 70, 70, 128));

    /* the colour bar: the first non-background pixel right of the overlay on its top row */
    const unsigned char *background = pixel_at(&fig, 0, 0);
    int bar_x = ox + PHOTO_W;
    while (bar_x < fig.w && near(pixel_at(&fig, bar_x, oy), background[0], background[1], background[2]))
        ++bar_x;
    cr_assert_lt(bar_x, fig.w, "no colour bar right of the overlay");
    int bar_bottom = oy;
    while (bar_bottom + 1 < fig.h &&
           !near(pixel_at(&fig, bar_x, bar_bottom + 1), background[0], background[1], background[2]))
        ++bar_bottom;
    cr_assert_geq(bar_bottom - oy + 1, PHOTO_H, "the bar spans the overlay's height");
    const unsigned char *bar_top = pixel_at(&fig, bar_x, oy);
    const unsigned char *bar_low = pixel_at(&fig, bar_x, bar_bottom);
    cr_assert(bar_top[0] > 100 && bar_top[1] < 30 && bar_top[2] < 30, "bar top (%d, %d, %d) is red",
              bar_top[0], bar_top[1], bar_top[2]);
    cr_assert(bar_low[2] > 100 && bar_low[0] < 30 && bar_low[1] < 30, "bar bottom (%d, %d, %d) is blue",
              bar_low[0], bar_low[1], bar_low[2]);
    int bar_w = 0;
    while (bar_x + bar_w < fig.w &&
           !near(pixel_at(&fig, bar_x + bar_w, oy + PHOTO_H / 2), background[0], background[1], background[2]))
        ++bar_w;
    cr_assert(bar_w >= 16 && bar_w <= 32, "bar width %d", bar_w);

    if (glyphs_installed()) {
        cr_assert_gt(bright_pixels(&fig, 0, 0, fig.w, oy), 20, "the title bar holds text");
        cr_assert_gt(bright_pixels(&fig, bar_x + bar_w, oy, fig.w, oy + PHOTO_H / 2), 5, "hi label");
        cr_assert_gt(bright_pixels(&fig, bar_x + bar_w, oy + PHOTO_H / 2, fig.w, fig.h), 5, "lo label");
    } else {
        cr_log_warn("Darknet's glyphs are not installed: the figure's text was not checked");
    }
    stbi_image_free(fig.px);
    free(map);
    free(photo.data);
}

Test(render, signed_map_uses_the_diverging_colours)
{
    char path[128];
    dx_error err = {{0}};
    image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    add_blob(map, PHOTO_W, PHOTO_H, BLOB_X, BLOB_Y, 3);
    add_blob(map, PHOTO_W, PHOTO_H, 12, 30, -2);
    scratch_path(path, sizeof path, "signed.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_H, PHOTO_W, 1, "saliency", NULL, path, &err), 0,
                 "%s", err.msg);
    loaded_png fig = load_png(path);
    /* a zero-valued point is white over grey: 0.55 * 0.5 + 0.45 * 1 = 0.725 */
    int ox, oy;
    find_overlay(&fig, 185, 185, 185, &ox, &oy);
    const unsigned char *positive = pixel_at(&fig, ox + BLOB_X, oy + BLOB_Y);
    const unsigned char *negative = pixel_at(&fig, ox + 12, oy + 30);
    cr_assert(positive[0] > positive[2] + 40, "positive (%d, %d, %d) is red", positive[0], positive[1], positive[2]);
    cr_assert(negative[2] > negative[0] + 40, "negative (%d, %d, %d) is blue", negative[0], negative[1], negative[2]);
    /* +-max|v| are the ends: the negative peak (-2 of 3) is not fully saturated */
    float end_blue[3];
    dx_colormap(DX_CMAP_DIVERGING, 0, end_blue);
    cr_assert_gt(negative[0], (int)(0.55f * 128 + 0.45f * 255 * end_blue[0]) + 5);
    stbi_image_free(fig.px);
    free(map);
    free(photo.data);
}

Test(render, tiny_photo_still_gets_readable_text)
{
    char path[128];
    dx_error err = {{0}};
    image photo = grey_photo(8, 6);
    float map[48] = {0};
    map[3 * 8 + 4] = 1;
    scratch_path(path, sizeof path, "tiny.png");
    cr_assert_eq(dx_render_overlay(photo, map, 6, 8, 0, "a long title for a tiny photo", NULL, path, &err),
                 0, "%s", err.msg);
    loaded_png fig = load_png(path);
    if (glyphs_installed()) {
        /* size-1 glyphs are 22 px tall: the figure grows to hold the title and both labels */
        cr_assert_gt(fig.w, 200, "figure %dx%d", fig.w, fig.h);
        cr_assert_gt(fig.h, 22 * 3, "figure %dx%d", fig.w, fig.h);
    }
    stbi_image_free(fig.px);
    free(photo.data);
}

Test(render, mismatched_map_is_refused)
{
    char path[128];
    dx_error err = {{0}};
    image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    scratch_path(path, sizeof path, "bad.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_W, PHOTO_H, 0, "t", NULL, path, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));
    free(map);
    free(photo.data);
}

Test(render, unwritable_path_leaves_no_file)
{
    char path[128];
    dx_error err = {{0}};
    image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    scratch_path(path, sizeof path, "no-such-dir/fig.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_H, PHOTO_W, 0, NULL, NULL, path, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "message: %s", err.msg);
    cr_assert_not(exists(path));
    free(map);
    free(photo.data);
}

/* Boxes whose geometry is not finite are not drawn (a NaN edge used to become a full-height
 * outline, and float -> int of an infinite edge is undefined behaviour); a finite box far larger
 * than the photo is drawn clamped to its edges. */
Test(render, boxes_not_finite_are_skipped_and_huge_ones_clamped)
{
    char plain_path[128], odd_path[128], huge_path[128];
    dx_error err = {{0}};
    image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    scratch_path(plain_path, sizeof plain_path, "plain.png");
    scratch_path(odd_path, sizeof odd_path, "odd.png");
    scratch_path(huge_path, sizeof huge_path, "huge.png");
    cr_assert_eq(dx_render_overlay_boxes(photo, map, PHOTO_H, PHOTO_W, 0, NULL, 0, "t", NULL, plain_path, &err),
                 0, "%s", err.msg);
    const dx_render_box odd[] = {
        {4, -INFINITY, 0, INFINITY, {0, 1, 0}, NULL}, /* the box of issue #14: y = -inf, h = inf */
        {4, NAN, 10, 10, {0, 1, 0}, NULL},
        {NAN, 4, 10, 10, {0, 1, 0}, NULL},
        {4, 4, INFINITY, 10, {0, 1, 0}, NULL},
    };
    cr_assert_eq(dx_render_overlay_boxes(photo, map, PHOTO_H, PHOTO_W, 0, odd, 4, "t", NULL, odd_path, &err), 0,
                 "%s", err.msg);
    loaded_png plain = load_png(plain_path), skipped = load_png(odd_path);
    cr_assert(plain.w == skipped.w && plain.h == skipped.h);
    int differ = 0;
    for (int k = 0; k < 3 * plain.w * plain.h; ++k) differ += plain.px[k] != skipped.px[k];
    cr_expect_eq(differ, 0, "%d bytes differ: a box that is not finite was drawn", differ);

    const dx_render_box huge = {-1e30f, -1e30f, 3e30f, 3e30f, {0, 1, 0}, NULL};
    cr_assert_eq(dx_render_overlay_boxes(photo, map, PHOTO_H, PHOTO_W, 0, &huge, 1, "t", NULL, huge_path, &err),
                 0, "%s", err.msg);
    loaded_png clamped = load_png(huge_path);
    int ox, oy; /* jet(0) over grey, as in unsigned_blob_figure */
    find_overlay(&plain, 70, 70, 128, &ox, &oy);
    int corners[4][2] = {{0, 0}, {PHOTO_W - 1, 0}, {0, PHOTO_H - 1}, {PHOTO_W - 1, PHOTO_H - 1}};
    for (int k = 0; k < 4; ++k)
        cr_expect(near(pixel_at(&clamped, ox + corners[k][0], oy + corners[k][1]), 0, 255, 0),
                  "the photo's corner %d,%d is not on the outline", corners[k][0], corners[k][1]);
    cr_expect(near(pixel_at(&clamped, ox + PHOTO_W / 2, oy + PHOTO_H / 2), 70, 70, 128), "the inside was filled");
    stbi_image_free(plain.px);
    stbi_image_free(skipped.px);
    stbi_image_free(clamped.px);
    free(map);
    free(photo.data);
}

/* ---------------------------------------------------------------- the scale a map is drawn on */

/* Signed maps are drawn on -M..M, M = max|v|, and the bar says so: a map of -0.0895..0 had its
 * red end labelled "0", an all-positive occlusion map its deep blue end "0.105". */
Test(render, signed_scale_labels_are_the_drawn_ends)
{
    float negative[3] = {-0.0895f, -0.02f, 0}, positive[3] = {0.105f, 2.f, 5.23f};
    dx_map_scale s;
    char lo[32], hi[32];
    dx_map_scale_of(negative, 3, 1, 100, &s);
    dx_map_scale_labels(&s, 1, lo, hi);
    cr_expect(s.lo == -0.0895f && s.hi == 0.0895f && !s.clipped, "scale %g..%g", s.lo, s.hi);
    cr_expect_str_eq(lo, "-0.0895");
    cr_expect_str_eq(hi, "0.0895");
    dx_map_scale_of(positive, 3, 1, 100, &s);
    dx_map_scale_labels(&s, 1, lo, hi);
    cr_expect_str_eq(lo, "-5.23");
    cr_expect_str_eq(hi, "5.23");
    dx_map_scale_of(positive, 3, 0, 100, &s); /* unsigned: min..max */
    dx_map_scale_labels(&s, 0, lo, hi);
    cr_expect_str_eq(lo, "0.105");
    cr_expect_str_eq(hi, "5.23");
    cr_expect_float_eq(dx_map_scale_position(&s, 0, 0.105f), 0, 1e-6);
    cr_expect_float_eq(dx_map_scale_position(&s, 0, 5.23f), 1, 1e-6);
}

/* Clipping as Captum's visualize_image_attr (outlier_perc = 100 - P): values 1..1000 sum to
 * 500500; the smallest k with 1 + .. + k >= 98% of it is 990 (989 falls short). */
Test(render, clipping_at_the_mass_percentile)
{
    enum { N = 1000 };
    float up[N], alternating[N], offset[N];
    long need = (long)(0.98 * (N * (N + 1) / 2.0) + 0.999999), k = 0;
    while (k * (k + 1) / 2 < need) ++k;
    cr_assert_eq(k, 990);
    for (int i = 0; i < N; ++i) {
        up[(i * 7919) % N] = i + 1; /* in no particular order */
        alternating[i] = i % 2 ? -(float)(i + 1) : (float)(i + 1);
        offset[i] = 5.f + (i + 1);
    }
    dx_map_scale s;
    char lo[32], hi[32];
    dx_map_scale_of(up, N, 0, 98, &s);
    cr_expect(s.clipped && s.lo == 1 && s.hi == 990, "unsigned: %g..%g clipped %d", s.lo, s.hi, s.clipped);
    dx_map_scale_labels(&s, 0, lo, hi);
    cr_expect_str_eq(hi, ">=990");
    cr_expect_str_eq(lo, "1");
    dx_map_scale_of(alternating, N, 1, 98, &s);
    cr_expect(s.clipped && s.lo == -990 && s.hi == 990, "signed: %g..%g", s.lo, s.hi);
    dx_map_scale_labels(&s, 1, lo, hi);
    cr_expect_str_eq(lo, "<=-990");
    cr_expect_str_eq(hi, ">=990");
    /* unsigned maps clip v - min: 0..999 here, the threshold 989 (0 + .. + 989 >= 98% of 499500) */
    dx_map_scale_of(offset, N, 0, 98, &s);
    cr_expect(s.lo == 6 && s.hi == 6 + 989, "offset: %g..%g", s.lo, s.hi);
    dx_map_scale_of(up, N, 0, 100, &s);
    cr_expect(!s.clipped && s.hi == N, "no clipping: %g..%g", s.lo, s.hi);
    /* a threshold within one colour step of the maximum is no clipping */
    float flat[N];
    for (int i = 0; i < N; ++i) flat[i] = 1000 + (i == 0) * 0.5f;
    dx_map_scale_of(flat, N, 0, 98, &s);
    cr_expect(!s.clipped && s.hi == 1000.5f, "%g clipped %d", s.hi, s.clipped);
}

/* The figure's colours follow the scale it is given (the one its bar is labelled with), at the
 * given opacity: a clipped map's values beyond the end take the end's colour. */
Test(render, pixels_follow_the_given_scale_and_opacity)
{
    char path[128];
    dx_error err = {{0}};
    image photo = grey_photo(PHOTO_W, PHOTO_H);
    float *map = calloc(PHOTO_W * PHOTO_H, sizeof(float));
    for (int y = 0; y < PHOTO_H; ++y)
        for (int x = 0; x < PHOTO_W; ++x) map[y * PHOTO_W + x] = x < PHOTO_W / 2 ? 1.f : 4.f;
    map[(PHOTO_H - 1) * PHOTO_W] = -8.f; /* the bottom-left pixel */
    dx_map_scale s = {-2, 2, 1, 90};
    dx_render_style style = {.opacity = 0.8f, .scale = &s};
    scratch_path(path, sizeof path, "scaled.png");
    cr_assert_eq(dx_render_overlay(photo, map, PHOTO_H, PHOTO_W, 1, "t", &style, path, &err), 0, "%s", err.msg);
    loaded_png fig = load_png(path);
    float half[3], end[3], start[3]; /* 1 is half-way to the red end; 4 beyond it; -8 beyond the blue end */
    dx_colormap(DX_CMAP_DIVERGING, 0.75f, half);
    dx_colormap(DX_CMAP_DIVERGING, 1, end);
    dx_colormap(DX_CMAP_DIVERGING, 0, start);
    int rgb_half[3], rgb_end[3], rgb_start[3];
    for (int k = 0; k < 3; ++k) {
        rgb_half[k] = (int)((0.2f * 0.5f + 0.8f * half[k]) * 255 + 0.5f);
        rgb_end[k] = (int)((0.2f * 0.5f + 0.8f * end[k]) * 255 + 0.5f);
        rgb_start[k] = (int)((0.2f * 0.5f + 0.8f * start[k]) * 255 + 0.5f);
    }
    int ox, oy;
    find_overlay(&fig, rgb_half[0], rgb_half[1], rgb_half[2], &ox, &oy); /* the photo's top-left corner */
    const unsigned char *beyond = pixel_at(&fig, ox + PHOTO_W - 10, oy + 10);
    const unsigned char *below = pixel_at(&fig, ox, oy + PHOTO_H - 1);
    cr_expect(near(beyond, rgb_end[0], rgb_end[1], rgb_end[2]), "v = 4 > 2: (%d, %d, %d), not the end's colour",
              beyond[0], beyond[1], beyond[2]);
    cr_expect(near(below, rgb_start[0], rgb_start[1], rgb_start[2]), "v = -8 < -2: (%d, %d, %d), not the low end's",
              below[0], below[1], below[2]);
    /* the v = 1 half is the overlay found: the photo starts at the figure's left margin */
    cr_expect(ox > 0 && ox < 16 && oy > 0, "the v = 1 colour first appears at %d, %d", ox, oy);
    stbi_image_free(fig.px);
    free(map);
    free(photo.data);
}
