/* The option tables' parser (see options.h). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "explain.h"
#include "options.h"

/* OPT_LAYERS writes dx_request's layers[] and the count that follows it */
#define N_LAYERS_AFTER_LAYERS (offsetof(dx_request, n_layers) - offsetof(dx_request, layers))
_Static_assert(offsetof(dx_request, n_layers) - offsetof(dx_request, layers) == sizeof(int) * DX_MAX_LAYERS,
               "dx_request.n_layers must follow layers[]");

static int parse_choice(const char *choices, const char *value, int *out)
{
    int index = 0;
    size_t len = strlen(value);
    for (const char *c = choices; *c; ++index) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == len && !strncmp(c, value, n)) {
            *out = index;
            return 0;
        }
        c += n + (bar != NULL);
    }
    return -1;
}

static int parse_layers(const char *value, int *layers, int *count)
{
    if (!strcmp(value, "auto")) {
        *count = DX_LAYERS_AUTO;
        return 0;
    }
    int n = 0;
    const char *p = value;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT_MAX || n == DX_MAX_LAYERS) return -1;
        layers[n++] = (int)v;
        if (*end == 0) break;
        if (*end != ',') return -1;
        p = end + 1;
    }
    *count = n;
    return 0;
}

/* Parses one option's value into args; 0 on success, else prints the one-line reason. */
static int parse_option(FILE *errs, const char *who, const dx_option *o, const char *value, void *args)
{
    char *field = (char *)args + o->offset, *end;
    errno = 0;
    switch (OPT_KIND(o)) {
    case OPT_FLAG:
        *(int *)field = 1;
        return 0;
    case OPT_INT: {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < o->lo || v > o->hi) break;
        *(int *)field = (int)v;
        return 0;
    }
    case OPT_FLOAT:
    case OPT_DOUBLE: {
        double v = strtod(value, &end);
        if (errno || end == value || *end || !(v >= o->lo && v <= o->hi)) break;
        if (OPT_KIND(o) == OPT_FLOAT) *(float *)field = (float)v;
        else *(double *)field = v;
        return 0;
    }
    case OPT_U64: {
        if (value[0] == '-') break;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end) break;
        *(unsigned long long *)field = v;
        return 0;
    }
    case OPT_TEXT:
        *(const char **)field = value;
        return 0;
    case OPT_CHOICE:
        if (parse_choice(o->choices, value, (int *)field) == 0) return 0;
        fprintf(errs, "%s: %s takes ", who, o->flag);
        for (const char *c = o->choices; *c;) { /* "a|b|c" -> "a, b or c" */
            const char *bar = strchr(c, '|');
            size_t n = bar ? (size_t)(bar - c) : strlen(c);
            fprintf(errs, "%.*s%s", (int)n, c, !bar ? "" : strchr(bar + 1, '|') ? ", " : " or ");
            c += n + (bar != NULL);
        }
        fprintf(errs, ", not '%s'\n", value);
        return -1;
    case OPT_LAYERS:
        if (parse_layers(value, (int *)field, (int *)(field + N_LAYERS_AFTER_LAYERS)) == 0) return 0;
        fprintf(errs, "%s: %s takes a layer index, up to %d comma-separated indices or auto, not '%s'\n", who,
                o->flag, DX_MAX_LAYERS, value);
        return -1;
    }
    if (OPT_KIND(o) == OPT_U64)
        fprintf(errs, "%s: %s takes a whole number >= 0, not '%s'\n", who, o->flag, value);
    else if (OPT_KIND(o) == OPT_INT && o->hi == INT_MAX)
        fprintf(errs, "%s: %s takes a whole number >= %.0f, not '%s'\n", who, o->flag, o->lo, value);
    else if (OPT_KIND(o) == OPT_INT) /* %.0f: 1000000, not %g's 1e+06 */
        fprintf(errs, "%s: %s takes a whole number from %.0f to %.0f, not '%s'\n", who, o->flag, o->lo, o->hi,
                value);
    else
        fprintf(errs, "%s: %s takes a number from %g to %g, not '%s'\n", who, o->flag, o->lo, o->hi, value);
    return -1;
}

/* The option argv word `arg` names, or NULL; *is_option says whether it is an option word at all
 * (a lone "-" is a positional argument). */
static const dx_option *option_named(const dx_option *options, size_t n_options, const char *arg, int *is_option)
{
    *is_option = arg[0] == '-' && arg[1] != 0;
    for (size_t i = 0; *is_option && i < n_options; ++i)
        if (!strcmp(arg, options[i].flag)) return &options[i];
    return NULL;
}

int dx_options_parse(const char *who, const dx_option *options, size_t n_options, int argc, char **argv,
                     void *args, const char **positional, int max_positional, int *npos)
{
    return dx_options_parse_to(stderr, who, options, n_options, argc, argv, args, positional, max_positional, npos);
}

int dx_options_parse_to(FILE *errs, const char *who, const dx_option *options, size_t n_options, int argc,
                        char **argv, void *args, const char **positional, int max_positional, int *npos)
{
    *npos = 0;
    for (int k = 1; k < argc; ++k) {
        const char *arg = argv[k];
        int is_option;
        const dx_option *o = option_named(options, n_options, arg, &is_option);
        if (!is_option) {
            if (*npos == max_positional) {
                fprintf(errs, "%s: unexpected argument '%s'\n", who, arg);
                return -1;
            }
            positional[(*npos)++] = arg;
            continue;
        }
        if (!o) {
            fprintf(errs, "%s: unknown option '%s' (see %s -h)\n", who, arg, who);
            return -1;
        }
        if (OPT_KIND(o) != OPT_FLAG && k + 1 >= argc) {
            fprintf(errs, "%s: %s needs a value\n", who, arg);
            return -1;
        }
        if (parse_option(errs, who, o, OPT_KIND(o) == OPT_FLAG ? NULL : argv[++k], args) != 0) return -1;
    }
    return 0;
}

const dx_option *dx_options_first(const dx_option *options, size_t n_options, int argc, char **argv,
                                  int (*match)(const dx_option *o, void *ctx), void *ctx)
{
    for (int k = 1; k < argc; ++k) {
        int is_option;
        const dx_option *o = option_named(options, n_options, argv[k], &is_option);
        if (!o) continue;
        if (match(o, ctx)) return o;
        if (OPT_KIND(o) != OPT_FLAG) ++k; /* its value */
    }
    return NULL;
}

static int out_of_scope(const dx_option *o, void *models)
{
    return OPT_SCOPE(o) && !(OPT_SCOPE(o) & *(const dx_opt_kind *)models);
}

const dx_option *dx_options_out_of_scope(const dx_option *options, size_t n_options, int argc, char **argv,
                                         dx_opt_kind models)
{
    return dx_options_first(options, n_options, argc, argv, out_of_scope, &models);
}

int dx_option_default_note(const dx_option *o, const void *defaults, char *buf, size_t len)
{
    if (!defaults || strstr(o->help, "default")) return -1;
    const char *field = (const char *)defaults + o->offset;
    switch (OPT_KIND(o)) {
    case OPT_INT: snprintf(buf, len, "default %d", *(const int *)field); return 0;
    case OPT_FLOAT: snprintf(buf, len, "default %g", *(const float *)field); return 0;
    case OPT_DOUBLE: snprintf(buf, len, "default %g", *(const double *)field); return 0;
    case OPT_U64: snprintf(buf, len, "default %llu", *(const unsigned long long *)field); return 0;
    case OPT_CHOICE: {
        const char *c = o->choices;
        for (int i = *(const int *)field; i > 0 && c; --i) {
            c = strchr(c, '|');
            if (c) ++c;
        }
        if (!c) return -1;
        snprintf(buf, len, "default %.*s", (int)strcspn(c, "|"), c);
        return 0;
    }
    default: return -1;
    }
}

void dx_options_usage(FILE *f, const dx_option *options, size_t n_options, int flag_width, dx_option_note_fn note,
                      const void *defaults)
{
    for (size_t k = 0; k < n_options; ++k) {
        char text[1024];
        int noted = (note && note(&options[k], text, sizeof text) == 0) ||
                    dx_option_default_note(&options[k], defaults, text, sizeof text) == 0;
        fprintf(f, "  %-*s %s%s%s%s\n", flag_width, options[k].flag, options[k].help, noted ? " [" : "",
                noted ? text : "", noted ? "]" : "");
    }
}
