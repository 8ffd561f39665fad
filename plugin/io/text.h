/* Text in figures, drawn with Darknet's glyph images (the ones its draw_detections uses). */
#ifndef DX_IO_TEXT_H
#define DX_IO_TEXT_H
#include "explain.h"

#define DX_GLYPH_FIRST 32
#define DX_GLYPH_LAST 126

typedef struct {
    int w, h;
    unsigned char *paper; /* 255 where the glyph is blank, 0 where fully inked */
} dx_glyph;

typedef struct {
    dx_glyph glyphs[DX_GLYPH_LAST - DX_GLYPH_FIRST + 1]; /* only those the texts use are loaded */
    int height;  /* the glyphs' height (all of one size are equally tall); 0 when no text can be drawn */
    int overlap; /* columns neighbouring glyphs share */
} dx_font;

/* Loads the glyphs of one size (0..7, cells about 11 + 10.5 size pixels tall) that the texts
 * need. If any is missing or unreadable, the font is left empty (height 0) and the figure goes
 * without text. The height does not depend on the texts (an empty list still sets it). */
void dx_font_load(dx_font *fnt, int size, const char *const *texts, int ntexts);
void dx_font_free(dx_font *fnt);
/* The width of text in pixels (0 with an empty font). */
int dx_text_width(const dx_font *fnt, const char *text);
/* Draws text with its top-left corner at (x, y) of canvas (planar RGB), ink blended over what
 * is there, clipped to the canvas. */
void dx_draw_text(dx_image canvas, const dx_font *fnt, const char *text, int x, int y, const float colour[3]);

/* The glyph size of a figure's title and colour-bar labels for a photo this many pixels high:
 * about 1/16 of it in cell height, never the tiny size 0. */
int dx_title_glyph_size(int photo_h);
/* The glyph size of box labels: about 1/25 of the photo's height in cell height (Darknet's
 * draw_detections: about 1/30), size 0 for photos under about 300 pixels. */
int dx_label_glyph_size(int photo_h);
#endif
