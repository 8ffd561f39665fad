/* Pretty-printed JSON (2-space indentation, as Python's json.dumps(indent=2)) for the
 * metadata files. Strings are escaped per RFC 8259; invalid UTF-8 (e.g. a Latin-1 file name)
 * becomes U+FFFD so that the output is always valid JSON. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "io/json.h"

void dx_json_begin(dx_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

static void newline_indent(dx_json *j, int depth)
{
    fputc('\n', j->f);
    for (int i = 0; i < depth; ++i) fputs("  ", j->f);
}

/* Places the separator before a new value (or key) and checks that one may come here.
 * Returns 0 when the caller may write it. */
static int before_value(dx_json *j, int is_key)
{
    if (j->err) return -1;
    if (j->depth == 0) {
        if (j->top_written || is_key) j->err = 1;
        j->top_written = 1;
        return j->err ? -1 : 0;
    }
    int in_object = j->open[j->depth - 1] == '{';
    if (j->key_pending) {
        /* the value of the member whose key was just written: it goes on the key's line */
        if (is_key) j->err = 1;
        j->key_pending = 0;
        return j->err ? -1 : 0;
    }
    if (in_object != is_key) { /* objects hold key-value pairs, arrays bare values */
        j->err = 1;
        return -1;
    }
    if (j->count[j->depth - 1]++ > 0) fputc(',', j->f);
    newline_indent(j, j->depth);
    return 0;
}

static void open_container(dx_json *j, char open)
{
    if (before_value(j, 0) != 0) return;
    if (j->depth == DX_JSON_MAX_DEPTH) {
        j->err = 1;
        return;
    }
    fputc(open, j->f);
    j->open[j->depth] = open;
    j->count[j->depth] = 0;
    j->depth++;
}

static void close_container(dx_json *j, char open, char close)
{
    if (j->err) return;
    if (j->depth == 0 || j->open[j->depth - 1] != open || j->key_pending) {
        j->err = 1;
        return;
    }
    j->depth--;
    if (j->count[j->depth] > 0) newline_indent(j, j->depth); /* empty ones stay {} and [] */
    fputc(close, j->f);
}

void dx_json_obj_begin(dx_json *j) { open_container(j, '{'); }
void dx_json_obj_end(dx_json *j) { close_container(j, '{', '}'); }
void dx_json_arr_begin(dx_json *j) { open_container(j, '['); }
void dx_json_arr_end(dx_json *j) { close_container(j, '[', ']'); }

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if s does not start one: no overlong
 * forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static int utf8_sequence_length(const unsigned char *s)
{
    unsigned char c = s[0];
    int len;
    unsigned min_second = 0x80, max_second = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) min_second = 0xA0; /* overlong */
        if (c == 0xED) max_second = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) min_second = 0x90; /* overlong */
        if (c == 0xF4) max_second = 0x8F; /* above U+10FFFF */
    } else return 0;
    if (s[1] < min_second || s[1] > max_second) return 0;
    for (int i = 2; i < len; ++i)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

static void write_escaped(FILE *f, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    fputc('"', f);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            s++;
        } else if (c < 0x20) {
            const char *shortcut = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r"
                                 : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (shortcut) fputs(shortcut, f);
            else fprintf(f, "\\u%04x", c);
            s++;
        } else if (c < 0x80) {
            fputc(c, f);
            s++;
        } else {
            int len = utf8_sequence_length(s);
            if (len) fwrite(s, 1, (size_t)len, f);
            else fputs("\\ufffd", f); /* one replacement per invalid byte */
            s += len ? len : 1;
        }
    }
    fputc('"', f);
}

void dx_json_key(dx_json *j, const char *k)
{
    if (before_value(j, 1) != 0) return;
    write_escaped(j->f, k);
    fputs(": ", j->f);
    j->key_pending = 1;
}

void dx_json_str(dx_json *j, const char *s)
{
    if (!s) {
        dx_json_null(j);
        return;
    }
    if (before_value(j, 0) == 0) write_escaped(j->f, s);
}

/* Doubles below 2^53 in magnitude hold integers exactly: those print as integers. */
#define EXACT_INTEGER_LIMIT 9007199254740992.0

void dx_json_num(dx_json *j, double v)
{
    if (!isfinite(v)) {
        dx_json_null(j); /* JSON has no NaN or infinity */
        return;
    }
    if (before_value(j, 0) != 0) return;
    if (v == floor(v) && fabs(v) < EXACT_INTEGER_LIMIT) fprintf(j->f, "%.0f", v);
    else fprintf(j->f, "%.9g", v); /* 9 significant digits round-trip any float32 */
}

void dx_json_int(dx_json *j, long v)
{
    if (before_value(j, 0) == 0) fprintf(j->f, "%ld", v);
}

void dx_json_u64(dx_json *j, unsigned long long v)
{
    if (before_value(j, 0) == 0) fprintf(j->f, "%llu", v);
}

void dx_json_bool(dx_json *j, int v)
{
    if (before_value(j, 0) == 0) fputs(v ? "true" : "false", j->f);
}

void dx_json_null(dx_json *j)
{
    if (before_value(j, 0) == 0) fputs("null", j->f);
}

int dx_json_end(dx_json *j)
{
    if (j->err || j->depth != 0 || !j->top_written) return -1;
    fputc('\n', j->f);
    if (fflush(j->f) != 0 || ferror(j->f)) return -1;
    return 0;
}
