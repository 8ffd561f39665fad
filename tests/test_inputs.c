/* What the command does with the files and options it is given (issues #14 and #22): photos in
 * formats Debian's OpenCV cannot read, photos and networks too large for the memory, files given in
 * the wrong order, -out, option bounds, options meant for the other kind of model, names of another
 * model. Each bad input: one line on stderr naming it, a non-zero exit, no file left behind (nor
 * Darknet's ./bad.list), and in bounded time. The command runs as a child in a fresh directory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <stb_image_write.h>
#include "error.h"
#include "helpers.h"
#include "io/image.h"
#include "io/render.h"
/* libstb.a's; stb_image_write.h declares it only in its implementation part */
unsigned char *stbi_zlib_compress(unsigned char *data, int data_len, int *out_len, int quality);

#define MIB (1024LL * 1024)
/* AddressSanitizer reserves terabytes of address space: no RLIMIT_AS test can run under it. */
#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNDER_ASAN() cr_skip_test("AddressSanitizer cannot run under an address-space limit")
#else
#define SKIP_UNDER_ASAN() (void)0
#endif

static const char *const INPUTS[] = {"net.cfg", "net.weights", "det.cfg", "det.weights", "photo.png",
                                     "big.cfg", "big.weights", "six.names", NULL};

static void path_in(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void write_bytes(const char *dir, const char *name, const void *bytes, size_t n)
{
    char path[512];
    path_in(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static size_t read_bytes(const char *dir, const char *name, unsigned char *buf, size_t len)
{
    char path[512];
    path_in(path, sizeof path, dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot read %s", path);
    size_t n = fread(buf, 1, len, f);
    fclose(f);
    return n;
}

/* A fresh directory: the project's test classifier (6 classes, 16x16) and test detector (2
 * classes), random weights, and photo.png, 40x30. */
static const char *fixture(void)
{
    const char *tmp = temp_dir();
    static __thread char dir[64];
    snprintf(dir, sizeof dir, "%s", tmp);
    const char *cfgs[2][3] = {{"test-classifier.cfg", "net.cfg", "net.weights"},
                              {"test-detector.cfg", "det.cfg", "det.weights"}};
    for (int k = 0; k < 2; ++k) {
        char cfg[512], weights[512], cmd[1200];
        path_in(cfg, sizeof cfg, dir, cfgs[k][1]);
        path_in(weights, sizeof weights, dir, cfgs[k][2]);
        snprintf(cmd, sizeof cmd, "cp %s/cfg/%s %s", getenv("DX_ROOT"), cfgs[k][0], cfg);
        cr_assert_eq(system(cmd), 0);
        dx_close(open_random(cfg, weights, 3 + k));
    }
    dx_image photo = dx_make_image(40, 30, 3);
    for (int i = 0; i < 40 * 30 * 3; ++i) photo.data[i] = (float)((i * 7919) % 255) / 255;
    char png[512];
    path_in(png, sizeof png, dir, "photo.png");
    dx_error err;
    cr_assert_eq(dx_write_png(photo, png, &err), 0, "%s", err.msg);
    dx_free_image(photo);
    return dir;
}

/* The run failed as the house rules say: exit `code`, one line "darknet-explain: ..." holding
 * `needle`, no file left in dir but the inputs (and those the test made: keep, NULL-terminated),
 * no ./bad.list. */
static void expect_refused(const char *dir, const char *const *args, long long as_limit, int code,
                           const char *needle, const char *const *keep)
{
    cli_result r = spawn_cli(dir, args, as_limit, 120);
    char cmd[512] = "";
    for (int k = 0; args[k]; ++k) snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s", args[k]);
    cr_expect_eq(r.status, code, "`%s`: exit %d (-1: timed out), expected %d; stderr: %s", cmd, r.status, code, r.err);
    cr_expect_eq(r.err_lines, 1, "`%s`: %d lines on stderr, expected one: %s", cmd, r.err_lines, r.err);
    cr_expect(strncmp(r.err, "darknet-explain: ", 17) == 0, "`%s`: stderr is '%s'", cmd, r.err);
    cr_expect(strstr(r.err, needle), "`%s`: stderr '%s' does not say '%s'", cmd, r.err, needle);
    const char *keep_too[32];
    int n = 0;
    for (int k = 0; keep && keep[k]; ++k) keep_too[n++] = keep[k];
    for (int k = 0; INPUTS[k]; ++k) keep_too[n++] = INPUTS[k];
    keep_too[n] = NULL;
    cr_expect_eq(stray_files_in(dir, keep_too), 0, "`%s` left files behind (Darknet's bad.list?)", cmd);
}

static cli_result expect_success(const char *dir, const char *const *args)
{
    cli_result r = spawn_cli(dir, args, 0, 300);
    cr_expect_eq(r.status, 0, "`%s %s %s %s`: exit %d: %s", args[0], args[1], args[2], args[3], r.status, r.err);
    return r;
}

/* ---- issue #14 item 4: one image loader ---- */

/* photo.png with the CRC of its first IDAT chunk broken */
static void write_png_with_bad_crc(const char *dir, const char *name)
{
    unsigned char png[65536];
    size_t n = read_bytes(dir, "photo.png", png, sizeof png);
    for (size_t at = 8; at + 12 <= n;) {
        uint32_t len = (uint32_t)png[at] << 24 | png[at + 1] << 16 | png[at + 2] << 8 | png[at + 3];
        if (!memcmp(png + at + 4, "IDAT", 4)) {
            png[at + 8 + len + 3] ^= 1;
            break;
        }
        at += 12 + len;
    }
    write_bytes(dir, name, png, n);
}

Test(inputs, formats_opencv_cannot_read_are_refused_by_name)
{
    const char *dir = fixture();
    static const unsigned char gif[] = "GIF89a\1\0\1\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\4\1\0\0\0\0,\0\0\0\0\1\0\1\0\0\2\2D\1\0;";
    static const unsigned char tga[18 + 12] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 24, 0,
                                               10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30};
    write_bytes(dir, "x.gif", gif, sizeof gif - 1);
    write_bytes(dir, "x.tga", tga, sizeof tga);
    /* a 16-bit PGM whose raster is half there: stb decodes it, OpenCV refuses it */
    unsigned char pgm[13 + 16] = "P5\n4 4\n65535\n";
    write_bytes(dir, "cut16.pgm", pgm, sizeof pgm);
    /* a BMP cut in its pixels: stb makes the missing rows black, OpenCV refuses it */
    unsigned char bmp[54 + 120 * 30] = {'B', 'M'};
    uint32_t fields[] = {sizeof bmp, 0, 54, 40, 40, 30};
    memcpy(bmp + 2, fields, sizeof fields);
    bmp[26] = 1, bmp[28] = 24;
    write_bytes(dir, "cut.bmp", bmp, 54 + 120 * 15);
    write_png_with_bad_crc(dir, "crc.png");
    static const char ascii_cut[] = "P3\n2 2\n255\n255 0 0 0 255 0\n0 0 255 255 255";
    write_bytes(dir, "cut.ppm", ascii_cut, sizeof ascii_cut - 1);
    const struct {
        const char *file, *needle;
    } cases[] = {
        {"x.gif", "x.gif: GIF images are not supported (JPEG, PNG, BMP, PPM/PGM)"},
        {"x.tga", "x.tga: TGA images are not supported (JPEG, PNG, BMP, PPM/PGM)"},
        {"cut16.pgm", "cut16.pgm: not a readable image (PPM/PGM: the raster is cut short)"},
        {"cut.bmp", "cut.bmp: not a readable image (BMP: the pixel data is cut short)"},
        {"crc.png", "crc.png: not a readable image (PNG: CRC error in chunk IDAT)"},
        {"cut.ppm", "cut.ppm: not a readable image (PPM/PGM: the ASCII raster is cut short"},
    };
    const char *made[] = {"x.gif", "x.tga", "cut16.pgm", "cut.bmp", "crc.png", "cut.ppm", NULL};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        const char *args[] = {"gradcam", "net.cfg", "net.weights", cases[k].file, NULL};
        expect_refused(dir, args, 0, 1, cases[k].needle, made);
    }
}

/* What OpenCV reads, the loader reads: plain and raw PBM/PGM/PPM (stb reads only raw PGM/PPM),
 * 16-bit samples, and a JPEG whose EXIF orientation OpenCV applies (Darknet's pixels are turned). */
Test(inputs, every_format_opencv_reads_is_loaded)
{
    const char *dir = fixture();
    static const char p1[] = "P1\n4 2\n0101\n1010\n", p3[] = "P3\n2 2\n255\n255 0 0 0 255 0\n0 0 255 255 255 255\n";
    static const unsigned char p4[] = "P4\n4 2\n\x50\xa0";
    unsigned char p5[13 + 24] = "P5\n4 3\n65535\n";
    write_bytes(dir, "p1.pbm", p1, sizeof p1 - 1);
    write_bytes(dir, "p3.ppm", p3, sizeof p3 - 1);
    write_bytes(dir, "p4.pbm", p4, sizeof p4 - 1);
    write_bytes(dir, "p5.pgm", p5, sizeof p5);
    /* a 40x30 JPEG marked "turn 90 degrees clockwise" (EXIF orientation 6): Darknet sees 30x40 */
    unsigned char rgb[40 * 30 * 3];
    for (int i = 0; i < (int)sizeof rgb; ++i) rgb[i] = (unsigned char)(i * 31);
    char jpg[512];
    path_in(jpg, sizeof jpg, dir, "plain.jpg");
    cr_assert(stbi_write_jpg(jpg, 40, 30, 3, rgb, 90));
    static unsigned char jpeg[65536];
    size_t n = read_bytes(dir, "plain.jpg", jpeg, sizeof jpeg);
    static const unsigned char exif[] = {0xff, 0xe1, 0, 34, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
                                         1, 0, 0x12, 1, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
    static unsigned char turned[65536 + sizeof exif];
    memcpy(turned, jpeg, 2);
    memcpy(turned + 2, exif, sizeof exif);
    memcpy(turned + 2 + sizeof exif, jpeg + 2, n - 2);
    write_bytes(dir, "turned.jpg", turned, n + sizeof exif);
    const struct {
        const char *file;
        int h, w;
    } cases[] = {{"p1.pbm", 2, 4}, {"p3.ppm", 2, 2}, {"p4.pbm", 2, 4}, {"p5.pgm", 3, 4}, {"turned.jpg", 40, 30}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        const char *args[] = {"gradcam", "net.cfg", "net.weights", cases[k].file, "-out", "o", NULL};
        cli_result r = expect_success(dir, args);
        cr_expect_str_eq(r.err, "", "%s", cases[k].file);
        char path[512], json[16384] = "", shape[64];
        path_in(path, sizeof path, dir, "o.json");
        FILE *f = fopen(path, "r");
        cr_assert(f, "%s: no o.json", cases[k].file);
        json[fread(json, 1, sizeof json - 1, f)] = 0;
        fclose(f);
        snprintf(shape, sizeof shape, "\"map_shape_hw\": [\n      %d,\n      %d\n    ]", cases[k].h, cases[k].w);
        cr_expect(strstr(json, shape), "%s: the map is not %dx%d (h x w): %s", cases[k].file, cases[k].h,
                  cases[k].w, json);
    }
}

/* ---- issue #14 item 7: sizes checked before anything is allocated ---- */

/* A black w x h PNG, 1 bit a pixel: a few hundred kilobytes on disk for 144 megapixels. */
static void write_huge_png(const char *dir, const char *name, int w, int h)
{
    size_t row = 1 + (size_t)(w + 7) / 8, raw_len = row * h;
    unsigned char *raw = calloc(raw_len, 1);
    int z_len;
    unsigned char *z = stbi_zlib_compress(raw, (int)raw_len, &z_len, 8);
    free(raw);
    cr_assert(z);
    char path[512];
    path_in(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    unsigned char ihdr[17] = {'I', 'H', 'D', 'R', w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16, h >> 8, h, 1, 0};
    const struct {
        const unsigned char *type, *data;
        size_t len;
    } chunks[] = {{ihdr, ihdr + 4, 13}, {(const unsigned char *)"IDAT", z, (size_t)z_len},
                  {(const unsigned char *)"IEND", NULL, 0}};
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    for (int k = 0; k < 3; ++k) {
        unsigned char be[4] = {chunks[k].len >> 24, chunks[k].len >> 16, chunks[k].len >> 8, chunks[k].len};
        fwrite(be, 1, 4, f);
        fwrite(chunks[k].type, 1, 4, f);
        if (chunks[k].len) fwrite(chunks[k].data, 1, chunks[k].len, f);
        uint32_t crc = dx_crc32(dx_crc32(0, chunks[k].type, 4), chunks[k].data, chunks[k].len);
        unsigned char crc_be[4] = {crc >> 24, crc >> 16, crc >> 8, crc};
        fwrite(crc_be, 1, 4, f);
    }
    fclose(f);
    free(z);
}

Test(inputs, pixel_budget_refuses_before_decoding)
{
    const char *dir = fixture();
    write_huge_png(dir, "huge.png", 12000, 12000);
#if defined(__SANITIZE_ADDRESS__)
    long long limit = 0;
#else
    long long limit = 3000 * MIB; /* Darknet's loader would need some 2.3 GB, a copy 1.7 GB more */
#endif
    const char *args[] = {"gradcam", "net.cfg", "net.weights", "huge.png", NULL};
    expect_refused(dir, args, limit, 1, "huge.png: 12000x12000 pixels (144 megapixels) is more than -max_pixels 50000000",
                   (const char *const[]){"huge.png", NULL});
    /* the budget is the option's: photo.png has 1200 pixels */
    const char *small[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-max_pixels", "1199", NULL};
    expect_refused(dir, small, 0, 1, "photo.png: 40x30 pixels (0.0012 megapixels) is more than -max_pixels 1199",
                   (const char *const[]){"huge.png", NULL});
    const char *enough[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-max_pixels", "1200", "-out", "o", NULL};
    expect_success(dir, enough);
}

Test(inputs, photo_too_large_for_the_address_space_is_refused)
{
    SKIP_UNDER_ASAN();
    const char *dir = fixture();
    write_huge_png(dir, "huge.png", 12000, 12000);
    const char *args[] = {"gradcam", "net.cfg", "net.weights", "huge.png", "-max_pixels", "200000000", NULL};
    expect_refused(dir, args, 3000 * MIB, 1,
                   "huge.png: explaining a 12000x12000 photo needs about", (const char *const[]){"huge.png", NULL});
    cli_result r = spawn_cli(dir, args, 3000 * MIB, 120);
    cr_expect(strstr(r.err, "but the address-space limit (ulimit -v) leaves"), "%s", r.err);
}

/* A [connected] layer of 16384 x 16384 weights: Darknet callocs them and their updates (1 GiB
 * each) without checking, then writes random values into the weights: under a 2000 MiB limit the
 * second calloc fails and the writes crash (SIGSEGV), before the weights file is even read. */
Test(inputs, network_too_large_for_the_address_space_is_refused)
{
    SKIP_UNDER_ASAN();
    const char *dir = fixture();
    char cfg[512];
    path_in(cfg, sizeof cfg, dir, "big.cfg");
    write_text(cfg, "[net]\nwidth=128\nheight=128\nchannels=1\n[connected]\noutput=16384\nactivation=linear\n"
                    "[softmax]\n");
    static const unsigned char header[20] = {0, 0, 0, 0, 2}; /* version 0.2.0; the floats are never read */
    write_bytes(dir, "big.weights", header, sizeof header);
    const char *args[] = {"gradcam", "big.cfg", "big.weights", "photo.png", NULL};
    expect_refused(dir, args, 2000 * MIB, 1, "big.cfg: the network needs about", NULL);
}

/* The reproduction of the issue: Yolo-Fastest-XL crashed in make_convolutional_layer under 400-600
 * MB and never finished under 700 (OpenBLAS's blas_memory_alloc retries a failed mapping forever). */
Test(inputs, yolo_fastest_xl_under_tight_address_space_limits)
{
    SKIP_UNDER_ASAN();
    const char *shared = shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    const char *dir = temp_dir();
    char cfg[1200], weights[1200], photo[1200];
    snprintf(cfg, sizeof cfg, "%s/models/coco/yolo-fastest-1.1-xl.cfg", shared);
    snprintf(weights, sizeof weights, "%s/models/coco/yolo-fastest-1.1-xl.weights", shared);
    snprintf(photo, sizeof photo, "%s/images/dog.jpg", shared);
    const char *args[] = {"gradcam", cfg, weights, photo, "-out", "dog", NULL};
    for (long long mb = 400; mb <= 800; mb += 100) {
        cli_result r = spawn_cli(dir, args, mb * MIB, 60);
        cr_expect_eq(r.status, 1, "%lld MB: exit %d (-1: timed out): %s", mb, r.status, r.err);
        cr_expect_eq(r.err_lines, 1, "%lld MB: %s", mb, r.err);
        cr_expect(strstr(r.err, "needs about") && strstr(r.err, "address-space limit"), "%lld MB: %s", mb, r.err);
        cr_expect_eq(stray_files_in(dir, (const char *const[]){NULL}), 0, "%lld MB left files", mb);
    }
    cli_result r = spawn_cli(dir, args, 3000 * MIB, 300);
    cr_expect_eq(r.status, 0, "3000 MB: exit %d: %s", r.status, r.err);
}

/* ---- issue #14 item 11: arguments in the wrong order, -out, bounds ---- */

Test(inputs, files_in_the_wrong_order_are_named)
{
    const char *dir = fixture();
    /* a JPEG */
    unsigned char rgb[8 * 8 * 3] = {0};
    char jpg[512];
    path_in(jpg, sizeof jpg, dir, "dog.jpg");
    cr_assert(stbi_write_jpg(jpg, 8, 8, 3, rgb, 90));
    const struct {
        const char *args[5], *needle;
    } cases[] = {
        /* the PNG signature holds "\r\n": it read as a cfg with Windows line endings */
        {{"gradcam", "photo.png", "net.cfg", "net.weights"},
         "photo.png: this is a PNG image, not a .cfg (usage: darknet-explain METHOD CFG WEIGHTS IMAGE)"},
        /* it read as truncated weights that do not match the cfg */
        {{"gradcam", "net.cfg", "dog.jpg", "net.weights"}, "dog.jpg: this is a JPEG image, not a .weights file"},
        {{"gradcam", "net.weights", "net.cfg", "photo.png"}, "net.weights: this is a Darknet weights file, not a .cfg"},
        {{"gradcam", "net.cfg", "net.cfg", "photo.png"}, "net.cfg: this is a Darknet cfg (text), not a .weights file"},
        {{"gradcam", "net.cfg", "net.weights", "net.cfg"}, "net.cfg: this is a Darknet cfg (text), not an image"},
        {{"gradcam", "net.cfg", "net.weights", "net.weights"}, "net.weights: this is a Darknet weights file, not an image"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k)
        expect_refused(dir, cases[k].args, 0, 2, cases[k].needle, (const char *const[]){"dog.jpg", NULL});
}

Test(inputs, out_option)
{
    const char *dir = fixture();
    /* -out "" wrote the hidden files .png, .npy, .raw.npy, .json */
    const char *empty[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-out", "", NULL};
    expect_refused(dir, empty, 0, 2, "-out takes a file prefix or a directory ending in '/', not ''", NULL);
    const char *missing[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-out", "nodir/", NULL};
    expect_refused(dir, missing, 0, 1, "-out nodir/: no such directory", NULL);
    const char *missing_parent[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-out", "nodir/x", NULL};
    expect_refused(dir, missing_parent, 0, 1, "-out nodir/x: no such directory nodir/", NULL);
    /* -out DIR/ wrote DIR/.png ...: the usual names, in DIR */
    char sub[512];
    path_in(sub, sizeof sub, dir, "maps");
    cr_assert_eq(mkdir(sub, 0755), 0);
    const char *into[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-out", "maps/", NULL};
    cli_result r = expect_success(dir, into);
    cr_expect(strstr(r.out, "wrote maps/photo_gradcam.png maps/photo_gradcam.npy maps/photo_gradcam.raw.npy "
                            "maps/photo_gradcam.json"), "%s", r.out);
    const char *written[] = {"photo_gradcam.png", "photo_gradcam.npy", "photo_gradcam.raw.npy", "photo_gradcam.json", NULL};
    cr_expect_eq(stray_files_in(sub, written), 0);
    for (int k = 0; k < 4; ++k) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", sub, written[k]);
        cr_expect(access(path, F_OK) == 0, "no %s", path);
    }
    /* a directory named without the slash is the same; `all` and detectors use the same names */
    const char *all[] = {"all", "net.cfg", "net.weights", "photo.png", "-methods", "gradcam", "-out", "maps", NULL};
    r = expect_success(dir, all);
    cr_expect(strstr(r.out, "wrote maps/photo_panel.png"), "%s", r.out);
    const char *det[] = {"gradcam", "det.cfg", "det.weights", "photo.png", "-out", "maps/", "-thresh", "0", NULL};
    r = expect_success(dir, det);
    cr_expect(strstr(r.out, "maps/photo_gradcam.json"), "%s", r.out);
}

/* A run that would take hours is a usage error at once (the bounds are the option table's). */
Test(inputs, option_bounds)
{
    const char *dir = fixture();
    const struct {
        const char *method, *flag, *value, *needle;
    } cases[] = {
        {"ig", "-steps", "100000", "-steps takes a whole number from 1 to 1000, not '100000'"},
        {"lime", "-segments", "10000", "-segments takes a whole number from 1 to 1000, not '10000'"},
        {"smoothgrad", "-samples", "1000000", "-samples takes a whole number from 1 to 10000, not '1000000'"},
        {"rise", "-masks", "1000000", "-masks takes a whole number from 1 to 10000, not '1000000'"},
        {"gradcam", "-max_pixels", "0", "-max_pixels takes a whole number from 1 to 1073741824, not '0'"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        const char *args[] = {cases[k].method, "net.cfg", "net.weights", "photo.png", cases[k].flag, cases[k].value, NULL};
        cli_result r = spawn_cli(dir, args, 0, 30);
        cr_expect_eq(r.status, 2, "%s %s: exit %d (-1: timed out): %s", cases[k].flag, cases[k].value, r.status, r.err);
        cr_expect(strstr(r.err, cases[k].needle) && r.err_lines == 1, "%s", r.err);
    }
    /* the largest allowed value runs */
    const char *largest[] = {"ig", "net.cfg", "net.weights", "photo.png", "-steps", "1000", "-out", "o", NULL};
    expect_success(dir, largest);
}

/* ---- issue #22 item 6: options ignored without a word ---- */

Test(inputs, options_for_the_other_kind_of_model_are_refused)
{
    const char *dir = fixture();
    const struct {
        const char *args[8], *needle;
    } cases[] = {
        {{"gradcam", "net.cfg", "net.weights", "photo.png", "-boxes", "all"}, "-boxes is for detectors, and net.cfg is a classifier"},
        {{"gradcam", "net.cfg", "net.weights", "photo.png", "-box", "1"}, "-box is for detectors"},
        {{"gradcam", "net.cfg", "net.weights", "photo.png", "-thresh", ".3"}, "-thresh is for detectors"},
        {{"gradcam", "net.cfg", "net.weights", "photo.png", "-target", "obj"}, "-target is for detectors"},
        {{"gradcam", "det.cfg", "det.weights", "photo.png", "-score", "prob"}, "-score is for classifiers, and det.cfg is a detector"},
        {{"gradcam", "det.cfg", "det.weights", "photo.png", "-class", "1"}, "-class goes with -region on a detector"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) expect_refused(dir, cases[k].args, 0, 2, cases[k].needle, NULL);
    /* -class picks the class of a -region's anchor */
    const char *region[] = {"gradcam", "det.cfg", "det.weights", "photo.png", "-region", "0,0,20,20", "-class", "1",
                            "-out", "r", NULL};
    cli_result r = expect_success(dir, region);
    cr_expect(strstr(r.out, "class 1"), "%s", r.out);
}

Test(inputs, names_of_another_model_are_refused)
{
    const char *dir = fixture();
    char path[512];
    path_in(path, sizeof path, dir, "two.names");
    write_text(path, "cat\ndog\n");
    const char *two[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-names", "two.names", NULL};
    expect_refused(dir, two, 0, 1, "two.names: 2 names, but the model has 6 classes", (const char *const[]){"two.names", NULL});
    path_in(path, sizeof path, dir, "six.names");
    write_text(path, "a\nb\nc\nd\ne\nf\n\n");
    path_in(path, sizeof path, dir, "model.data");
    write_text(path, "classes=5\nnames=six.names\n");
    const char *data[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-names", "model.data", NULL};
    expect_refused(dir, data, 0, 1, "model.data: says classes=5, but the model has 6 classes",
                   (const char *const[]){"two.names", "model.data", NULL});
    /* as many names as classes (a trailing blank line is no name), or more (Darknet's ImageNet
     * lists name the 1000-class models by their first 1000 lines) */
    const char *six[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-names", "six.names", "-out", "o", NULL};
    expect_success(dir, six);
    path_in(path, sizeof path, dir, "seven.names");
    write_text(path, "a\nb\nc\nd\ne\nf\ng\n");
    const char *seven[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-names", "seven.names", "-out", "o", NULL};
    expect_success(dir, seven);
}

Test(inputs, class_by_name)
{
    const char *dir = fixture();
    char path[512];
    path_in(path, sizeof path, dir, "six.names");
    write_text(path, "cat\ndog\nfox\nowl\ncat\nyak\n");
    const char *fox[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-names", "six.names", "-class", "fox",
                         "-out", "o", NULL};
    cli_result r = expect_success(dir, fox);
    cr_expect(strstr(r.out, "photo.png: fox ") && strstr(r.out, "(class 2)"), "%s", r.out);
    const char *number[] = {"gradcam", "net.cfg", "net.weights", "photo.png", "-names", "six.names", "-class", "5",
                            "-out", "o", NULL};
    r = expect_success(dir, number);
    cr_expect(strstr(r.out, "photo.png: yak ") && strstr(r.out, "(class 5)"), "%s", r.out);
    const struct {
        const char *args[8], *needle;
    } cases[] = {
        {{"gradcam", "net.cfg", "net.weights", "photo.png", "-names", "six.names", "-class", "gnu"},
         "-class 'gnu': no class of that name in six.names"},
        {{"gradcam", "net.cfg", "net.weights", "photo.png", "-names", "six.names", "-class", "cat"},
         "-class 'cat': 2 classes of six.names have that name (the first is 0); give its number"},
        {{"gradcam", "net.cfg", "net.weights", "photo.png", "-class", "fox"},
         "-class takes a whole number >= 0, or a class name with -names, not 'fox'"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) expect_refused(dir, cases[k].args, 0, 2, cases[k].needle,
                       (const char *const[]){"o.png", "o.npy", "o.raw.npy", "o.json", NULL});
}

/* Fuzzing (tests/fuzz/cfg/regressions/height-1-letterbox.cfg): a photo that Darknet's letterbox
 * resizes to 1 pixel high (16x1 on a 16x16 network) or 0 (a 2000x9 banner) became NaN, or a read
 * far outside the image (its resize_image divides by the new height - 1): the classifier printed
 * "-nan%" and wrote NaN maps. Refused before any forward, naming the file; 2 rows work. */
Test(inputs, photo_too_thin_for_the_letterbox_is_refused)
{
    const char *dir = fixture();
    const int sizes[3][2] = {{16, 1}, {2000, 9}, {16, 2}};
    const char *names[3] = {"row.png", "banner.png", "two-rows.png"};
    for (int k = 0; k < 3; ++k) {
        dx_image im = dx_make_image(sizes[k][0], sizes[k][1], 3);
        for (int i = 0; i < im.w * im.h * 3; ++i) im.data[i] = (float)(i % 11) / 11;
        char path[512];
        path_in(path, sizeof path, dir, names[k]);
        dx_error err;
        cr_assert_eq(dx_write_png(im, path, &err), 0, "%s", err.msg);
        dx_free_image(im);
    }
    const char *const keep[] = {"row.png", "banner.png", "two-rows.png", NULL};
    const char *row[] = {"gradcam", "net.cfg", "net.weights", "row.png", NULL};
    expect_refused(dir, row, 0, 1, "row.png: 16x1, letterboxed into the 16x16 network, would be 16x1 pixels", keep);
    const char *banner[] = {"saliency", "det.cfg", "det.weights", "banner.png", NULL};
    expect_refused(dir, banner, 0, 1, "banner.png: 2000x9, letterboxed into the", keep);
    const char *all[] = {"all", "net.cfg", "net.weights", "banner.png", "-methods", "gradcam,saliency", NULL};
    expect_refused(dir, all, 0, 1, "banner.png: 2000x9, letterboxed into the 16x16 network, would be 16x0 pixels",
                   keep);
    /* eval refuses it before its first image: nothing written */
    char list[512];
    path_in(list, sizeof list, dir, "list.txt");
    FILE *f = fopen(list, "w");
    fputs("photo.png\nbanner.png\n", f);
    fclose(f);
    const char *eval[] = {"eval", "net.cfg", "net.weights", "-list", "list.txt", "-methods", "gradcam", "-metrics",
                          "deletion", "-out", "run", NULL};
    cli_result e = spawn_cli(dir, eval, 0, 120);
    cr_expect_eq(e.status, 1, "eval: exit %d: %s", e.status, e.err);
    cr_expect_eq(e.err_lines, 1, "%s", e.err);
    cr_expect(strstr(e.err, "darknet-explain eval: banner.png: 2000x9, letterboxed"), "%s", e.err);
    const char *keep_list[32] = {"row.png", "banner.png", "two-rows.png", "list.txt"};
    for (int k = 0; INPUTS[k]; ++k) keep_list[4 + k] = INPUTS[k];
    cr_expect_eq(stray_files_in(dir, keep_list), 0, "eval left files behind");
    unlink(list);
    /* the library's own entry (no file name) refuses it too */
    dx_error err;
    char cfg[512], weights[512];
    path_in(cfg, sizeof cfg, dir, "net.cfg");
    path_in(weights, sizeof weights, dir, "net.weights");
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    dx_image thin = dx_make_image(16, 1, 3);
    dx_request req;
    dx_request_init(&req);
    dx_result r;
    cr_expect_eq(dx_explain_image(m, thin, &req, &r, &err), -1);
    cr_expect(strstr(err.msg, "the 16x1 photo: 16x1, letterboxed"), "%s", err.msg);
    dx_free_image(thin);
    dx_close(m);
    /* two rows: explained, finite */
    const char *two[] = {"gradcam", "net.cfg", "net.weights", "two-rows.png", "-out", "two", NULL};
    cli_result ok = expect_success(dir, two);
    cr_expect(!strstr(ok.out, "nan"), "%s", ok.out);
}

/* `all` read its photo with the default pixel budget, not -max_pixels. */
Test(inputs, all_keeps_the_pixel_budget)
{
    const char *dir = fixture();
    const char *small[] = {"all", "net.cfg", "net.weights", "photo.png", "-methods", "gradcam", "-max_pixels", "1199",
                           NULL};
    expect_refused(dir, small, 0, 1, "photo.png: 40x30 pixels (0.0012 megapixels) is more than -max_pixels 1199", NULL);
}

/* Fuzzing (tests/fuzz/image/regressions/png-chunk-type-newline.png): stb names an unknown critical
 * PNG chunk by its four raw type bytes, here a line break, and the error came out on two lines. A
 * file name with a line break in it did the same. Every message is one line. */
Test(inputs, error_messages_are_one_line)
{
    const char *dir = fixture();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp %s/tests/fuzz/image/regressions/png-chunk-type-newline.png '%s/new\nline.png'",
             getenv("DX_ROOT"), dir);
    cr_assert_eq(system(cmd), 0);
    const char *args[] = {"gradcam", "net.cfg", "net.weights", "new\nline.png", NULL};
    expect_refused(dir, args, 0, 1, "darknet-explain: new?line.png: ", (const char *const[]){"new\nline.png", NULL});
    /* stb's reason for that chunk, as dx_load_photo quotes it */
    dx_error err;
    dx_set_error(&err, "%s: not a readable image (PNG: %s)", "x.png", "\n\x01\x7f\t");
    cr_expect_str_eq(err.msg, "x.png: not a readable image (PNG: ?\?\?\?)");
}

/* rgb.jpg (a baseline JPEG) with a DHT segment inserted before its EOI: one of n_codes codes */
static void write_jpeg_with_dht(const char *dir, const char *name, int n_codes)
{
    unsigned char jpeg[65536], dht[4 + 17 + 300] = {0xff, 0xc4};
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fuzz/image/seeds/rgb.jpg", getenv("DX_ROOT"));
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    size_t n = fread(jpeg, 1, sizeof jpeg, f);
    fclose(f);
    cr_assert(n > 4 && jpeg[n - 2] == 0xff && jpeg[n - 1] == 0xd9);
    int length = 2 + 17 + n_codes;
    dht[2] = length >> 8;
    dht[3] = length & 0xff;
    dht[4] = 0x10; /* an AC table, index 0 */
    dht[5 + 15] = n_codes > 255 ? 255 : n_codes; /* the counts of 16-bit codes, then of 15-bit ones */
    dht[5 + 14] = n_codes > 255 ? n_codes - 255 : 0;
    unsigned char out[65536 + sizeof dht];
    memcpy(out, jpeg, n - 2);
    memcpy(out + n - 2, dht, 2 + length);
    memcpy(out + n + length, jpeg + n - 2, 2);
    write_bytes(dir, name, out, n + length + 2);
}

/* Fuzzing: stb and libjpeg (OpenCV's JPEG decoder, so Darknet's) disagree. stb decoded JPEGs
 * libjpeg refuses (Darknet's loader then failed and left ./bad.list), read the header of others
 * writing past its Huffman tables (stb-info-huffman-index-257.jpg, UBSan) or shifted by more than
 * 32 bits while decoding (stb-shift-exponent.jpg). JPEGs are judged by libjpeg itself, driven as
 * OpenCV drives it: refused with libjpeg's reason when it fails, read when it reads them, also
 * when what follows the last scan is broken (OpenCV has its image by then). */
Test(inputs, jpeg_judged_by_the_decoder_darknet_uses)
{
    const char *dir = fixture();
    const char *refused[][2] = {{"stb-build-huffman-index-257.jpg", "Bogus Huffman table definition"},
                                {"stb-info-huffman-index-257.jpg", "Bogus Huffman table definition"},
                                {"stb-decodes-libjpeg-refuses.jpg", "not a readable image (JPEG: "}};
    const char *accepted[] = {"stb-shift-exponent.jpg", "libjpeg-premature-end.jpg"};
    const char *keep[8] = {"late-257.jpg"};
    for (int k = 0; k < 3; ++k) keep[1 + k] = refused[k][0];
    for (int k = 0; k < 2; ++k) keep[4 + k] = accepted[k];
    char cmd[1200];
    for (int k = 1; keep[k]; ++k) {
        snprintf(cmd, sizeof cmd, "cp %s/tests/fuzz/image/regressions/%s %s/", getenv("DX_ROOT"), keep[k], dir);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
    write_jpeg_with_dht(dir, "late-257.jpg", 257);
    for (int k = 0; k < 3; ++k) {
        const char *args[] = {"gradcam", "net.cfg", "net.weights", refused[k][0], NULL};
        expect_refused(dir, args, 0, 1, refused[k][1], keep);
    }
    /* read by libjpeg (its warnings not shown): explained, stderr empty */
    const char *ok[3] = {"late-257.jpg", accepted[0], accepted[1]};
    for (int k = 0; k < 3; ++k) {
        const char *args[] = {"gradcam", "net.cfg", "net.weights", ok[k], "-out", "ok", NULL};
        cli_result r = expect_success(dir, args);
        cr_expect_eq(r.err_lines, 0, "%s: %s", ok[k], r.err);
    }
}

/* Fuzzing (tests/fuzz/image/regressions/bmp-*.bmp): BMPs stb decodes and OpenCV's BmpDecoder
 * refuses (an unknown compression, a width or height of 0, a palette of over 256 colours): Darknet's
 * loader failed and wrote ./bad.list. The header is read by OpenCV's rules before any decoder; sides
 * over OpenCV's limit go to the size check (the raster's size overflowed before). */
Test(inputs, bmp_read_by_opencvs_rules)
{
    const char *dir = fixture();
    const char *cases[][2] = {{"bmp-compression-unknown.bmp", "BMP: a pixel format or compression"},
                              {"bmp-width-0.bmp", "BMP: zero or negative width, or zero height"},
                              {"bmp-height-0.bmp", "BMP: zero or negative width, or zero height"},
                              {"bmp-palette-of-1402627500.bmp", "BMP: a palette of more than 256 colours"},
                              /* 1872017665 x 1747057880: the raster's size overflowed the check (UBSan) */
                              {"bmp-raster-size-overflow.bmp", "1872017665x1747057880 pixels"}};
    const char *keep[6] = {0};
    char cmd[1200];
    for (int k = 0; k < 5; ++k) {
        keep[k] = cases[k][0];
        snprintf(cmd, sizeof cmd, "cp %s/tests/fuzz/image/regressions/%s %s/", getenv("DX_ROOT"), cases[k][0], dir);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
    for (int k = 0; k < 5; ++k) {
        const char *args[] = {"gradcam", "net.cfg", "net.weights", cases[k][0], NULL};
        expect_refused(dir, args, 0, 1, cases[k][1], keep);
    }
}
