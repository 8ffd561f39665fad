/* Text drawn with Darknet's glyph images (see text.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stb_image.h>
#include "io/text.h"

/* Darknet's glyphs: GLYPH_DIR/<ascii>_<size>.png for the printable ASCII characters and
 * sizes 0..7, grayscale, black ink on white, all glyphs of one size equally tall. */
#define GLYPH_DIR "/usr/share/darknet/data/labels"
#define GLYPH_SIZE_MAX 7
#define HEIGHT_REFERENCE "A" /* always loaded: it gives the font its height */

/* The glyph slot for byte c of a UTF-8 string: printable ASCII as itself, the lead byte of
 * a non-ASCII character as '?', its continuation bytes as nothing (-1). */
static int glyph_slot(unsigned char c)
{
    if (c >= 0x80 && c < 0xC0) return -1;
    if (c < DX_GLYPH_FIRST || c > DX_GLYPH_LAST) c = '?';
    return c - DX_GLYPH_FIRST;
}

void dx_font_free(dx_font *fnt)
{
    for (int i = 0; i <= DX_GLYPH_LAST - DX_GLYPH_FIRST; ++i) stbi_image_free(fnt->glyphs[i].paper);
    memset(fnt, 0, sizeof *fnt);
}

/* Loads the glyphs of text not loaded yet; -1 when one cannot be. */
static int load_glyphs(dx_font *fnt, int size, const char *text)
{
    for (const unsigned char *s = (const unsigned char *)text; *s; ++s) {
        int slot = glyph_slot(*s);
        if (slot < 0 || fnt->glyphs[slot].paper) continue;
        char path[256];
        snprintf(path, sizeof path, GLYPH_DIR "/%d_%d.png", slot + DX_GLYPH_FIRST, size);
        dx_glyph *g = &fnt->glyphs[slot];
        int channels;
        g->paper = stbi_load(path, &g->w, &g->h, &channels, 1);
        if (!g->paper) return -1;
        if (g->h > fnt->height) fnt->height = g->h;
    }
    return 0;
}

void dx_font_load(dx_font *fnt, int size, const char *const *texts, int ntexts)
{
    memset(fnt, 0, sizeof *fnt);
    int rc = load_glyphs(fnt, size, HEIGHT_REFERENCE);
    for (int t = 0; t < ntexts && rc == 0; ++t) rc = load_glyphs(fnt, size, texts[t]);
    if (rc != 0) {
        dx_font_free(fnt);
        return;
    }
    fnt->overlap = size / 2 + 1; /* Darknet's get_label tiles its glyphs this tightly */
}

int dx_text_width(const dx_font *fnt, const char *text)
{
    int width = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; ++s) {
        int slot = glyph_slot(*s);
        if (slot < 0 || !fnt->glyphs[slot].paper) continue;
        width += fnt->glyphs[slot].w - (width ? fnt->overlap : 0);
    }
    return width;
}

void dx_draw_text(dx_image canvas, const dx_font *fnt, const char *text, int x, int y, const float colour[3])
{
    size_t plane = (size_t)canvas.w * canvas.h;
    int pen = x;
    for (const unsigned char *s = (const unsigned char *)text; *s; ++s) {
        int slot = glyph_slot(*s);
        if (slot < 0 || !fnt->glyphs[slot].paper) continue;
        const dx_glyph *g = &fnt->glyphs[slot];
        if (pen > x) pen -= fnt->overlap;
        for (int gy = 0; gy < g->h; ++gy)
            for (int gx = 0; gx < g->w; ++gx) {
                int cx = pen + gx, cy = y + gy;
                if (cx < 0 || cy < 0 || cx >= canvas.w || cy >= canvas.h) continue;
                float ink = 1 - g->paper[gy * g->w + gx] / 255.0f;
                size_t p = (size_t)cy * canvas.w + cx;
                for (int k = 0; k < 3; ++k)
                    canvas.data[k * plane + p] += ink * (colour[k] - canvas.data[k * plane + p]);
            }
        pen += g->w;
    }
}

int dx_title_glyph_size(int photo_h)
{
    int size = (photo_h / 16 - 11) / 10;
    return size < 1 ? 1 : size > GLYPH_SIZE_MAX ? GLYPH_SIZE_MAX : size;
}

int dx_label_glyph_size(int photo_h)
{
    long size = lroundf((photo_h / 25.f - 11) / 10.5f); /* the cells of size s: about 11 + 10.5 s px */
    return size < 0 ? 0 : size > GLYPH_SIZE_MAX ? GLYPH_SIZE_MAX : (int)size;
}
