/* The methods' own options (params.h): the library's table of their rows, their values as the
 * command line writes them, the defaults each method runs with, `<method> -h` and the JSON's
 * "parameters". */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "lrp/lrp.h"
#include "methods/methods.h"

#define ROW(id, flag, kind, field, lo, hi, choices, help) {flag, kind, offsetof(dx_request, field), lo, hi, choices, help},
static const dx_option rows[] = {DX_METHOD_OPTIONS_OWN(ROW) DX_METHOD_OPTIONS_SHARED(ROW)};
#undef ROW
_Static_assert(sizeof rows / sizeof rows[0] == DX_MOPT_COUNT, "one row per dx_method_option");

const dx_option *dx_method_option_row(dx_method_option o)
{
    return (unsigned)o < DX_MOPT_COUNT ? &rows[o] : NULL;
}

int dx_method_option_at(size_t offset)
{
    for (int o = 0; o < DX_MOPT_COUNT; ++o)
        if (rows[o].offset == offset) return o;
    return -1;
}

int dx_method_option_of_row(const dx_option *row, size_t request_offset)
{
    if (row->offset < request_offset || row->offset >= request_offset + sizeof(dx_request)) return -1;
    return dx_method_option_at(row->offset - request_offset);
}

int dx_method_takes(dx_method m, dx_method_option o)
{
    const dx_method_info *info = dx_method_info_of(m);
    return info && (unsigned)o < DX_MOPT_COUNT && (info->options >> o & 1u);
}

typedef struct {
    size_t request_offset;
    const dx_method *methods;
    int n;
} method_set;

static int taken_by_none(const dx_option *o, void *ctx)
{
    const method_set *s = ctx;
    int id = dx_method_option_of_row(o, s->request_offset);
    for (int k = 0; id >= 0 && k < s->n; ++k)
        if (dx_method_takes(s->methods[k], (dx_method_option)id)) return 0;
    return id >= 0;
}

int dx_method_options_check(FILE *errs, const char *who, const char *program, const dx_option *options,
                            size_t n_options, size_t request_offset, const dx_method *methods, int n,
                            const char *list, int argc, char **argv)
{
    method_set set = {request_offset, methods, n};
    const dx_option *o = dx_options_first(options, n_options, argc, argv, taken_by_none, &set);
    if (!o) return 0;
    if (list || n != 1) {
        fprintf(errs, "%s: %s: none of -methods %s takes it (see %s <method> -h)\n", who, o->flag, list ? list : "",
                program);
        return -1;
    }
    const char *name = dx_method_name(methods[0]);
    fprintf(errs, "%s: %s does not take %s (its options: ", who, name, o->flag);
    for (int id = 0, listed = 0; id < DX_MOPT_COUNT; ++id)
        if (dx_method_takes(methods[0], (dx_method_option)id)) fprintf(errs, "%s%s", listed++ ? ", " : "", rows[id].flag);
    fprintf(errs, "; see %s %s -h)\n", program, name);
    return -1;
}

/* The values that stand for "the method's default" in a request (0 samples, masks, cell), as
 * the registry gives them for req->method. */
static void method_counts(dx_request *req)
{
    const dx_method_info *info = dx_method_info_of(req->method);
    if (!info) return;
    if (!req->samples) req->samples = info->samples;
    if (!req->masks) req->masks = info->masks;
    if (!req->cell) req->cell = info->cell;
}

void dx_request_init_for(dx_request *req, dx_method method)
{
    dx_request_init(req);
    req->method = method;
    method_counts(req);
}

void dx_request_effective(const dx_request *req, dx_request *out)
{
    *out = *req;
    method_counts(out);
    if (!out->baseline) {
        dx_request defaults;
        dx_request_init(&defaults);
        out->baseline = defaults.baseline;
    }
    /* the composite is filled only here: given at the start, it would conflict with -rules */
    if (out->method == DX_METHOD_LRP && !out->lrp_composite && !out->lrp_rules)
        out->lrp_composite = DX_LRP_DEFAULT_COMPOSITE;
}

/* The shortest decimal that reads back as v (strtod, then float, as the parser does). */
static void float_text(float v, char *buf, size_t len)
{
    for (int digits = 1; digits <= 9; ++digits) {
        snprintf(buf, len, "%.*g", digits, v);
        if ((float)strtod(buf, NULL) == v) return;
    }
}

int dx_method_option_text(const dx_request *req, dx_method_option o, char *buf, size_t len)
{
    const dx_option *row = dx_method_option_row(o);
    if (!row || len == 0) return -1;
    const char *field = (const char *)req + row->offset;
    *buf = 0;
    switch (OPT_KIND(row)) {
    case OPT_FLAG: return *(const int *)field ? 0 : -1;
    case OPT_INT: snprintf(buf, len, "%d", *(const int *)field); return 0;
    case OPT_FLOAT: float_text(*(const float *)field, buf, len); return 0;
    case OPT_U64: snprintf(buf, len, "%llu", *(const unsigned long long *)field); return 0;
    case OPT_TEXT: {
        const char *text = *(const char *const *)field;
        if (!text) return -1;
        snprintf(buf, len, "%s", text);
        return 0;
    }
    case OPT_CHOICE: { /* the index-th word of "a|b|c" */
        const char *c = row->choices;
        for (int k = *(const int *)field; k > 0 && c; --k) c = strchr(c, '|') ? strchr(c, '|') + 1 : NULL;
        if (!c) return -1;
        snprintf(buf, len, "%.*s", (int)strcspn(c, "|"), c);
        return 0;
    }
    case OPT_LAYERS:
        if (req->n_layers == DX_LAYERS_AUTO) snprintf(buf, len, "auto");
        if (req->n_layers <= 0) return req->n_layers == DX_LAYERS_AUTO ? 0 : -1;
        for (int k = 0, used = 0; k < req->n_layers && used < (int)len; ++k)
            used += snprintf(buf + used, len - used, "%s%d", k ? "," : "", req->layers[k]);
        return 0;
    }
    return -1;
}

/* The default of option o that method m runs with, as text; -1 when it has none to show. */
static int default_text(dx_method m, dx_method_option o, char *buf, size_t len)
{
    dx_request init, runs;
    dx_request_init_for(&init, m);
    dx_request_effective(&init, &runs);
    return dx_method_option_text(&runs, o, buf, len);
}

/* Appends printf's text to buf (len bytes, NUL-terminated), truncating. */
static void appendf(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

void dx_method_option_note(dx_method_option o, char *buf, size_t len)
{
    char value[DX_METHOD_COUNT][64];
    int takes[DX_METHOD_COUNT], has[DX_METHOD_COUNT], done[DX_METHOD_COUNT] = {0}, takers = 0, distinct = 0;
    for (int k = 0; k < DX_METHOD_COUNT; ++k) {
        if (!(takes[k] = dx_method_takes((dx_method)k, o))) continue;
        has[k] = default_text((dx_method)k, o, value[k], sizeof value[k]) == 0;
        int seen = 0;
        for (int i = 0; i < k && !seen; ++i)
            seen = takes[i] && has[i] == has[k] && (!has[k] || !strcmp(value[i], value[k]));
        takers += 1;
        distinct += !seen;
    }
    if (len) *buf = 0;
    if (!takers) return;
    int sep = 0;
    if (distinct == 1 && takers > 2 && takers >= DX_METHOD_COUNT - 2) { /* "every method but a, b" */
        appendf(buf, len, "every method but ");
        int first = -1;
        for (int k = 0; k < DX_METHOD_COUNT; ++k) {
            if (takes[k] && first < 0) first = k;
            if (!takes[k]) appendf(buf, len, "%s%s", sep++ ? ", " : "", dx_method_name((dx_method)k));
        }
        if (has[first]) appendf(buf, len, "; default %s", value[first]);
        return;
    }
    /* the methods of each default, in the registry's order: "a, b: default 1; c: default 2" */
    for (int k = 0; k < DX_METHOD_COUNT; ++k) {
        if (!takes[k] || done[k]) continue;
        appendf(buf, len, "%s%s", sep++ ? "; " : "", dx_method_name((dx_method)k));
        for (int i = k + 1; i < DX_METHOD_COUNT; ++i)
            if (takes[i] && !done[i] && has[i] == has[k] && (!has[k] || !strcmp(value[i], value[k]))) {
                done[i] = 1;
                appendf(buf, len, ", %s", dx_method_name((dx_method)i));
            }
        if (has[k]) appendf(buf, len, "%sdefault %s", distinct > 1 ? ": " : "; ", value[k]);
    }
}

int dx_method_option_row_note(const dx_option *row, size_t request_offset, char *buf, size_t len)
{
    int o = dx_method_option_of_row(row, request_offset);
    if (o < 0) return -1;
    dx_method_option_note((dx_method_option)o, buf, len);
    return 0;
}

/* The words of text from column `at` on, wrapped within `width` columns, continuation lines
 * indented to `indent` ("(default X)" kept on one line); a newline at the end. */
static void wrapped(FILE *f, const char *text, int at, int indent, int width)
{
    for (const char *p = text, *first = text; *p;) {
        size_t n = strcspn(p, " ");
        if (!strncmp(p, "(default", n) && p[n] == ' ') n += 1 + strcspn(p + n + 1, " ");
        if (p != first && at + 1 + (int)n > width) {
            fprintf(f, "\n%*s", indent, "");
            at = indent;
        } else if (p != first) {
            fputc(' ', f);
            ++at;
        }
        fprintf(f, "%.*s", (int)n, p);
        at += (int)n;
        p += n;
        while (*p == ' ') ++p;
    }
    fputc('\n', f);
}

#define USAGE_WIDTH 100
#define USAGE_HELP_COLUMN 20

void dx_method_usage(FILE *f, dx_method m)
{
    fputs(dx_method_help(m), f);
    int any = 0;
    for (int o = 0; o < DX_MOPT_COUNT; ++o) {
        if (!dx_method_takes(m, (dx_method_option)o)) continue;
        if (!any++) fputs("its options:\n", f);
        const dx_option *row = &rows[o];
        const char *help = row->help, *gap = OPT_KIND(row) == OPT_FLAG ? NULL : strstr(help, "  ");
        char head[128], text[1024], value[64];
        snprintf(head, sizeof head, "  %s%s%.*s", row->flag, gap ? " " : "", gap ? (int)(gap - help) : 0, help);
        snprintf(text, sizeof text, "%s", gap ? gap + 2 : help);
        if (default_text(m, (dx_method_option)o, value, sizeof value) == 0 && OPT_KIND(row) != OPT_FLAG)
            appendf(text, sizeof text, " (default %s)", value);
        int at = fprintf(f, "%s ", head);
        for (; at < USAGE_HELP_COLUMN; ++at) fputc(' ', f);
        wrapped(f, text, at, USAGE_HELP_COLUMN, USAGE_WIDTH);
    }
    if (!any) fputs("It has no options of its own.\n", f);
}

void dx_json_parameters(dx_json *j, const dx_request *req, int detector)
{
    dx_json_obj_begin(j);
    for (int o = 0; o < DX_MOPT_COUNT; ++o) {
        const dx_option *row = &rows[o];
        if (!dx_method_takes(req->method, (dx_method_option)o) ||
            (OPT_SCOPE(row) && !(OPT_SCOPE(row) & (detector ? OPT_DETECTORS : OPT_CLASSIFIERS))))
            continue;
        const char *field = (const char *)req + row->offset;
        char text[256];
        int has = dx_method_option_text(req, (dx_method_option)o, text, sizeof text) == 0;
        dx_json_key(j, row->flag + 1);
        switch (OPT_KIND(row)) {
        case OPT_FLAG: dx_json_bool(j, has); break;
        case OPT_INT: dx_json_int(j, *(const int *)field); break;
        case OPT_FLOAT: dx_json_num(j, strtod(text, NULL)); break; /* the shortest text, as given */
        case OPT_U64: dx_json_u64(j, *(const unsigned long long *)field); break;
        default: dx_json_str(j, has ? text : NULL); break;
        }
    }
    dx_json_obj_end(j);
}
