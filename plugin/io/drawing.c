/* How the standard outputs draw a result (see drawing.h). */
#include <math.h>
#include "error.h"
#include "io/drawing.h"
#include "io/image.h"
#include "memory.h"
#include "model.h"

int dx_check_output_options(const dx_output_options *opt, dx_error *err)
{
    if (!opt) return 0;
    if (!(opt->png_opacity >= 0 && opt->png_opacity <= 1)) {
        dx_set_error(err, "png_opacity %g: must be 0 (the default, %g or %g fading) or in (0, 1]", opt->png_opacity,
                     DX_RENDER_OPACITY, DX_RENDER_FADE_OPACITY);
        return -1;
    }
    if (!(opt->png_clip == 0 || (opt->png_clip >= DX_PNG_CLIP_MIN && opt->png_clip <= 100))) {
        dx_set_error(err, "png_clip %g: must be 0 (the default) or from %g to 100", opt->png_clip, DX_PNG_CLIP_MIN);
        return -1;
    }
    return 0;
}

int dx_check_finite_result(const dx_result *r, const char *path, dx_error *err)
{
    long bad = dx_count_nonfinite(r->map, (size_t)r->h * r->w) +
               dx_count_nonfinite(r->native, (size_t)r->native_h * r->native_w);
    if (bad) {
        dx_set_error(err, "%s: the map holds %ld non-finite values (NaN or inf); nothing written", path, bad);
        return -1;
    }
    const dx_detection *b = &r->box;
    if (r->has_box && !(isfinite(b->x) && isfinite(b->y) && isfinite(b->w) && isfinite(b->h))) {
        dx_set_error(err, "%s: the box is not finite (x %g, y %g, w %g, h %g); nothing written", path, b->x, b->y,
                     b->w, b->h);
        return -1;
    }
    return 0;
}

int dx_drawing_size(int photo_w, int photo_h, int width, dx_drawing *d, dx_error *err)
{
    d->w = photo_w;
    d->h = photo_h;
    if (width != 0 && width != photo_w) {
        if (width < DX_PNG_WIDTH_MIN || width > DX_PNG_WIDTH_MAX) {
            dx_set_error(err, "png_width %d: must be 0 (the photo's width) or from %d to %d", width,
                         DX_PNG_WIDTH_MIN, DX_PNG_WIDTH_MAX);
            return -1;
        }
        double h = (double)photo_h * width / photo_w + .5;
        if (h > DX_PNG_HEIGHT_MAX) {
            dx_set_error(err, "png_width %d: the %dx%d photo would be drawn %.0f pixels tall (at most %d)", width,
                         photo_w, photo_h, h, DX_PNG_HEIGHT_MAX);
            return -1;
        }
        d->w = width;
        d->h = h < 2 ? 2 : (int)h;
    }
    d->sx = (float)d->w / photo_w;
    d->sy = (float)d->h / photo_h;
    return 0;
}

dx_image dx_drawn(dx_image im, const dx_drawing *d, const char *path, dx_error *err)
{
    /* Darknet's resize_image does not check its calloc: dx_drawing_size bounds the size */
    return im.w == d->w && im.h == d->h ? dx_copy_image(im, path, err) : dx_backend_resize_image(im, d->w, d->h);
}

void dx_png_display_of(const dx_result *r, const dx_output_options *opt, dx_png_display *d)
{
    float clip = opt && opt->png_clip > 0 ? opt->png_clip : r->signed_map || r->layer < 0 ? DX_PNG_CLIP_DEFAULT : 100;
    dx_map_scale_of(r->map, (size_t)r->h * r->w, r->signed_map, clip, &d->scale);
    d->fade = r->signed_map || r->layer < 0;
    d->opacity = opt && opt->png_opacity > 0 ? opt->png_opacity : d->fade ? DX_RENDER_FADE_OPACITY : DX_RENDER_OPACITY;
}
