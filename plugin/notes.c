/* What a run of the command line prints beside its files (notes.h): one line per photo on
 * stdout, one note line on stderr when maps are blank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "memory.h"
#include "notes.h"
#include "outputs.h"

void dx_cli_print_target(const char *image, int names, const dx_model *m, const dx_result *r)
{
    if (names)
        printf("%s: %s %.2f%% (class %d)\n", image, dx_class_name(m, r->class_id), 100 * r->prob, r->class_id);
    else
        printf("%s: class %d %.2f%%\n", image, r->class_id, 100 * r->prob);
}

void dx_blank_add(dx_blank_maps *b, const dx_result *r, const char *name)
{
    if (r->map_min != r->map_max) return;
    size_t used = strlen(b->names);
    snprintf(b->names + used, sizeof b->names - used, "%s%s", b->count ? ", " : "", name);
    b->relu_zeros = (b->count == 0 || b->relu_zeros) && r->relu && r->map_max == 0;
    ++b->count;
}

void dx_blank_note(const char *program, const dx_blank_maps *b, const char *method)
{
    if (!b->count) return;
    int one = b->count == 1;
    fprintf(stderr, "%s: note: the %s%s%s of %s %s ", program, method ? method : "", method ? " " : "",
            one ? "map" : "maps", b->names, one ? "is" : "are");
    if (b->relu_zeros)
        fprintf(stderr, "0 everywhere: no positive evidence at the layer survives the ReLU (a weak target); "
                        "-relu 0 shows the negative evidence\n");
    else
        fprintf(stderr, "the same value everywhere: nothing to see\n");
}

int dx_see_box(void *ctx, const dx_box_explanations *e, int k, dx_result *r, dx_error *err)
{
    dx_boxes_seen *s = ctx;
    if (k == 0 && !(s->boxes = dx_alloc(e->n, sizeof *s->boxes, "the boxes seen", err))) return -1;
    s->boxes[s->n++] = r->box;
    char stem[32], name[1100];
    dx_box_stem(e, k, stem, sizeof stem);
    snprintf(name, sizeof name, "%s%s%s", s->path ? s->path : "", s->path ? " " : "", stem);
    dx_blank_add(&s->blank, r, name);
    return 0;
}
