/* Photos in and maps back out: loading with a check first, and the letterbox geometry. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stb_image.h>
#include "io/image.h"

int dx_check_photo(const char *path, dx_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        dx_set_error(err, "%s: cannot open image: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        dx_set_error(err, "%s: not a regular file", path);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        dx_set_error(err, "%s: cannot read image: %s", path, strerror(errno));
        return -1;
    }
    int w, h, c, ok = stbi_info_from_file(f, &w, &h, &c);
    fclose(f);
    if (!ok) {
        dx_set_error(err, "%s: not a readable image (%s)", path, stbi_failure_reason());
        return -1;
    }
    return 0;
}

int dx_load_photo(const char *path, image *out, dx_error *err)
{
    if (dx_check_photo(path, err) != 0) return -1;
    /* Darknet's loader (OpenCV in Debian's build) returns a 10x10 image and appends to
     * ./bad.list when it cannot decode; decode fully with stb first so that a corrupt or
     * non-image file is an error here. Darknet's loader is still the one used, so the pixels
     * are exactly those `darknet classifier predict` sees. */
    int w, h, c;
    unsigned char *pixels = stbi_load(path, &w, &h, &c, 3);
    if (!pixels) {
        dx_set_error(err, "%s: not a readable image (%s)", path, stbi_failure_reason());
        return -1;
    }
    stbi_image_free(pixels);
    image im = load_image_color((char *)path, 0, 0);
    if (im.w != w || im.h != h) {
        free_image(im);
        dx_set_error(err, "%s: Darknet's image loader could not decode it (stb reads %dx%d)", path, w, h);
        return -1;
    }
    *out = im;
    return 0;
}

void dx_letterbox_geometry(int photo_w, int photo_h, int net_w, int net_h, dx_letterbox *g)
{
    /* as Darknet's letterbox_image: fit the longer side, integer sizes, centred */
    int new_w = photo_w, new_h = photo_h;
    if ((float)net_w / photo_w < (float)net_h / photo_h) {
        new_w = net_w;
        new_h = (photo_h * net_w) / photo_w;
    } else {
        new_h = net_h;
        new_w = (photo_w * net_h) / photo_h;
    }
    g->net_w = net_w;
    g->net_h = net_h;
    g->inner_w = new_w;
    g->inner_h = new_h;
    g->dx = (net_w - new_w) / 2;
    g->dy = (net_h - new_h) / 2;
}

float dx_sample_bilinear(const float *map, int h, int w, float y, float x)
{
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x > w - 1) x = w - 1;
    if (y > h - 1) y = h - 1;
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - x0, fy = y - y0;
    float top = map[y0 * w + x0] * (1 - fx) + map[y0 * w + x1] * fx;
    float bottom = map[y1 * w + x0] * (1 - fx) + map[y1 * w + x1] * fx;
    return top * (1 - fy) + bottom * fy;
}

/* Each photo pixel centre is mapped into the letterboxed network frame, then into the native
 * map's cells (pixel centres aligned, as cv2.resize does), and sampled bilinearly. */
float *dx_native_to_photo(const float *native, int native_h, int native_w, const dx_letterbox *g,
                          int photo_w, int photo_h)
{
    float *map = malloc(sizeof(float) * (size_t)photo_w * photo_h);
    if (!map) return 0;
    float sx = (float)g->inner_w / photo_w, sy = (float)g->inner_h / photo_h;
    float fx = (float)native_w / g->net_w, fy = (float)native_h / g->net_h;
    for (int y = 0; y < photo_h; ++y) {
        float ny = g->dy + (y + .5f) * sy;             /* network-frame coordinate */
        float my = ny * fy - .5f;                      /* native-map cell coordinate */
        for (int x = 0; x < photo_w; ++x) {
            float nx = g->dx + (x + .5f) * sx;
            map[(size_t)y * photo_w + x] = dx_sample_bilinear(native, native_h, native_w, my, nx * fx - .5f);
        }
    }
    return map;
}
