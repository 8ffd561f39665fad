/* The tree as a figure: a box per node, the root at the top, leaves in one column slot each (in
 * their left-to-right order), each parent centred over its children; the edge to the left child
 * is the test's "yes", to the right child its "no". Internal nodes are grey, leaves tinted with
 * their class's box colour (render.h's palette). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "distill/distill.h"
#include "error.h"
#include "io/image.h"
#include "io/render.h"
#include "io/text.h"
#include "memory.h"

#define GLYPH_SIZE 1        /* cells about 21 pixels tall */
#define PAD 6               /* inside a box, around its text */
#define GAP_X 16            /* between two column slots */
#define GAP_Y 36            /* between two rows of boxes */
#define MAX_SIDE 30000      /* pixels; beyond, the figure is refused (fewer leaves: -depth, -min_leaf) */

static void node_lines(const dx_tree *t, int k, const char *const *features, const char *const *classes,
                       char line[2][160])
{
    const dx_tree_node *nd = &t->nodes[k];
    if (nd->feature >= 0) snprintf(line[0], 160, "%s <= %.4g", features[nd->feature], nd->threshold);
    else snprintf(line[0], 160, "%s", classes[nd->cls]);
    snprintf(line[1], 160, "n=%d %s:%d", nd->n, classes[nd->cls], nd->counts[nd->cls]);
}

/* centre x of every node, leaves on slots 0, 1, .. in order; returns the next free slot */
static int place(const dx_tree *t, int k, int slot, double *centre)
{
    const dx_tree_node *nd = &t->nodes[k];
    if (nd->feature < 0) {
        centre[k] = slot;
        return slot + 1;
    }
    slot = place(t, nd->left, slot, centre);
    slot = place(t, nd->right, slot, centre);
    centre[k] = (centre[nd->left] + centre[nd->right]) / 2;
    return slot;
}

static void fill(dx_image im, int x0, int y0, int x1, int y1, const float rgb[3])
{
    for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < im.h; ++y)
        for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < im.w; ++x)
            for (int c = 0; c < 3; ++c) im.data[((size_t)c * im.h + y) * im.w + x] = rgb[c];
}

/* a line two pixels thick from (x0, y0) to (x1, y1) */
static void line(dx_image im, double x0, double y0, double x1, double y1, const float rgb[3])
{
    double dx = x1 - x0, dy = y1 - y0;
    int steps = (int)(fabs(dx) > fabs(dy) ? fabs(dx) : fabs(dy)) + 1;
    for (int s = 0; s <= steps; ++s) {
        int x = (int)(x0 + dx * s / steps), y = (int)(y0 + dy * s / steps);
        fill(im, x, y, x + 1, y + 1, rgb);
    }
}

int dx_tree_draw(const dx_tree *t, const char *const *features, const char *const *classes, dx_image *out,
                 dx_error *err)
{
    out->data = NULL;
    int n = t->n_nodes;
    char (*text)[2][160] = dx_alloc((size_t)n, sizeof *text, "the tree's figure", err);
    const char **all = text ? dx_alloc((size_t)n * 2 + 2, sizeof *all, "the tree's figure", err) : NULL;
    double *centre = all ? dx_alloc((size_t)n, sizeof *centre, "the tree's figure", err) : NULL;
    if (!centre) {
        free(text);
        free(all);
        return -1;
    }
    for (int k = 0; k < n; ++k) {
        node_lines(t, k, features, classes, text[k]);
        all[2 * k] = text[k][0];
        all[2 * k + 1] = text[k][1];
    }
    all[2 * n] = "yes";
    all[2 * n + 1] = "no";
    dx_font fnt;
    dx_font_load(&fnt, GLYPH_SIZE, all, 2 * n + 2);
    int line_h = fnt.height > 0 ? fnt.height : 12; /* no glyphs: the boxes still show the shape */
    int box_w = 40;
    for (int k = 0; k < 2 * n; ++k) {
        int w = dx_text_width(&fnt, all[k]) + 2 * PAD;
        if (w > box_w) box_w = w;
    }
    int box_h = 2 * line_h + 2 * PAD, col = box_w + GAP_X, row = box_h + GAP_Y;
    int slots = place(t, 0, 0, centre);
    double w = (double)slots * col + GAP_X, h = (double)(t->depth + 1) * row - GAP_Y + 2 * GAP_X;
    int rc = -1;
    if (w > MAX_SIDE || h > MAX_SIDE) {
        dx_set_error(err, "the tree's figure would be %.0f x %.0f pixels (at most %d a side: fewer leaves, "
                          "-depth or -min_leaf)", w, h, MAX_SIDE);
        goto done;
    }
    if (dx_memory_check(w * h * 3 * sizeof(float), "the tree's figure", "its pixels", err) != 0) goto done;
    dx_image im = dx_make_image((int)w, (int)h, 3);
    if (!im.data) {
        dx_set_error(err, "out of memory for the tree's figure");
        goto done;
    }
    const float white[3] = {1, 1, 1}, ink[3] = {0, 0, 0}, grey[3] = {.88f, .88f, .88f}, edge[3] = {.35f, .35f, .35f};
    fill(im, 0, 0, im.w - 1, im.h - 1, white);
    /* box k's top-left corner */
#define BOX_X(k) (GAP_X + (int)(centre[k] * col + .5))
#define BOX_Y(k) (GAP_X + t->nodes[k].depth * row)
    for (int k = 0; k < n; ++k) {
        const dx_tree_node *nd = &t->nodes[k];
        if (nd->feature < 0) continue;
        for (int side = 0; side < 2; ++side) {
            int c = side ? nd->right : nd->left;
            double x0 = BOX_X(k) + box_w / 2.0, y0 = BOX_Y(k) + box_h, x1 = BOX_X(c) + box_w / 2.0, y1 = BOX_Y(c);
            line(im, x0, y0, x1, y1, edge);
            const char *label = side ? "no" : "yes";
            int lw = dx_text_width(&fnt, label);
            dx_draw_text(im, &fnt, label, (int)((x0 + x1) / 2) + (side ? 4 : -4 - lw),
                         (int)((y0 + y1) / 2) - line_h / 2, ink);
        }
    }
    for (int k = 0; k < n; ++k) {
        const dx_tree_node *nd = &t->nodes[k];
        int x = BOX_X(k), y = BOX_Y(k);
        float tint[3];
        dx_box_colour(nd->cls, tint);
        for (int c = 0; c < 3; ++c) tint[c] = .55f + .45f * tint[c];
        fill(im, x, y, x + box_w - 1, y + box_h - 1, edge);
        fill(im, x + 2, y + 2, x + box_w - 3, y + box_h - 3, nd->feature < 0 ? tint : grey);
        for (int l = 0; l < 2; ++l) dx_draw_text(im, &fnt, text[k][l], x + PAD, y + PAD + l * line_h, ink);
    }
#undef BOX_X
#undef BOX_Y
    *out = im;
    rc = 0;
done:
    dx_font_free(&fnt);
    free(text);
    free(all);
    free(centre);
    return rc;
}
