/* Reading a cfg as Darknet's read_cfg does: the file read whole and split into sections of
 * key=value lines, keys looked up as option_find does, comma lists and the lines of files the cfg
 * names counted as Darknet reads them; and how every check reports against the cfg's lines
 * (dx_cfg_fail, dx_cfg_warn). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cfg/cfg.h"
#include "error.h"
#include "memory.h"

#define CFG_MAX_BYTES (16L << 20)            /* far beyond any real cfg; refuses reading a huge file */

int dx_cfg_fail(const cfg *c, int line, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (line > 0) dx_set_error(c->err, "%s:%d: %s", c->path, line, what);
    else dx_set_error(c->err, "%s: %s", c->path, what);
    return -1;
}

void dx_cfg_warn(const cfg *c, int line, const char *fmt, ...)
{
    if (!c->warnings || c->warnings_len == 0) return;
    char what[512], full[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int n = snprintf(full, sizeof full, "%s:%d: %s\n", c->path, line, what);
    size_t used = strnlen(c->warnings, c->warnings_len - 1);
    if (n > 0 && used + (size_t)n < c->warnings_len) memcpy(c->warnings + used, full, (size_t)n + 1);
}

char *dx_cfg_read_text(const char *path, size_t *len, dx_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dx_set_error(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *text = dx_alloc(cap, 1, path, err);
    while (text) {
        n += fread(text + n, 1, cap - 1 - n, f);
        if (ferror(f) || n < cap - 1 || n >= CFG_MAX_BYTES) break;
        char *bigger = dx_realloc_array(text, cap, 2, path, err);
        if (!bigger) free(text);
        text = bigger;
        cap *= 2;
    }
    int read_error = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (!text) return NULL; /* err says out of memory */
    if (read_error) dx_set_error(err, "%s: cannot read: %s", path, strerror(read_error));
    else if (n >= CFG_MAX_BYTES) dx_set_error(err, "%s: not a Darknet cfg: larger than %ld MiB", path,
                                              CFG_MAX_BYTES >> 20);
    else {
        text[n] = '\0';
        *len = n;
        return text;
    }
    free(text);
    return NULL;
}

static int grow(void **array, size_t *cap, size_t need, size_t item)
{
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap * 2 : 64;
    void *bigger = dx_realloc_array(*array, cap2, item, "the cfg's sections", NULL); /* the caller reports */
    if (!bigger) return -1;
    *array = bigger;
    *cap = cap2;
    return 0;
}

int dx_cfg_split_sections(cfg *c, size_t len)
{
    size_t entries_cap = 0, sections_cap = 0;
    int line = 0;
    for (size_t i = 0; i < len; ++i) {
        unsigned char ch = (unsigned char)c->text[i];
        if (ch == '\n') ++line;
        else if (ch == '\r')
            return dx_cfg_fail(c, line + 1, "Windows (CRLF) line ending: Debian's Darknet keeps "
                               "the '\\r', so section names and activations stop matching; "
                               "convert the file with dos2unix");
        else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return dx_cfg_fail(c, 0, "not a Darknet cfg: it holds binary data (byte 0x%02x on "
                               "line %d)", ch, line + 1);
    }
    line = 0;
    for (char *start = c->text; start < c->text + len;) {
        char *end = strchr(start, '\n');
        char *next = end ? end + 1 : c->text + len;
        if (end) *end = '\0';
        ++line;
        char *kept = start; /* strip() of utils.c: drop every blank and tab */
        for (char *p = start; *p; ++p)
            if (*p != ' ' && *p != '\t') *kept++ = *p;
        *kept = '\0';
        if (start[0] == '[') {
            if (grow((void **)&c->sections, &sections_cap, c->n_sections + 1, sizeof(section)))
                return dx_cfg_fail(c, 0, "out of memory");
            c->sections[c->n_sections++] = (section){start, line, c->n_entries, 0};
        } else if (start[0] && start[0] != '#' && start[0] != ';') {
            char *eq = strchr(start, '=');
            if (c->n_sections == 0)
                return dx_cfg_fail(c, line, "not a Darknet cfg: '%s' comes before the first "
                                   "section (Darknet would crash)", start);
            if (!eq)
                return dx_cfg_fail(c, line, "'%s' is not key=value (Darknet would keep it as a key "
                                   "without value)", start);
            if (eq == start) return dx_cfg_fail(c, line, "'%s' has no key before '='", start);
            if (eq[1] == '\0')
                return dx_cfg_fail(c, line, "'%s' has no value (Darknet drops the line and uses a "
                                   "default or crashes)", start);
            *eq = '\0';
            if (grow((void **)&c->entries, &entries_cap, c->n_entries + 1, sizeof(entry)))
                return dx_cfg_fail(c, 0, "out of memory");
            c->entries[c->n_entries++] = (entry){start, eq + 1, line};
            c->sections[c->n_sections - 1].count++;
        }
        start = next;
    }
    if (c->n_sections == 0)
        return dx_cfg_fail(c, 0, "not a Darknet cfg: no [net] section (no sections at all)");
    return 0;
}

const entry *dx_cfg_find(const cfg *c, const section *s, const char *key)
{
    for (size_t i = s->first; i < s->first + s->count; ++i)
        if (strcmp(c->entries[i].key, key) == 0) return &c->entries[i];
    return NULL;
}

long dx_cfg_int(const cfg *c, const section *s, const char *key, long def)
{
    const entry *e = dx_cfg_find(c, s, key);
    return e ? strtol(e->value, NULL, 10) : def;
}

double dx_cfg_float(const cfg *c, const section *s, const char *key, double def)
{
    const entry *e = dx_cfg_find(c, s, key);
    return e ? strtod(e->value, NULL) : def;
}

int dx_cfg_line_of(const cfg *c, const section *s, const char *key)
{
    const entry *e = dx_cfg_find(c, s, key);
    return e ? e->line : s->line;
}

int dx_cfg_list_count(const char *s)
{
    int n = 1;
    for (; *s; ++s) n += *s == ',';
    return n;
}

double dx_cfg_list_at(const char *s, int i)
{
    for (; i > 0; --i) s = strchr(s, ',') + 1;
    return strtod(s, NULL);
}

long dx_cfg_count_lines(const char *path, int *error)
{
    FILE *f = fopen(path, "r");
    struct stat st;
    if (!f) {
        *error = errno;
        return -1;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) { /* fopen "r" accepts a directory */
        *error = EISDIR;
        fclose(f);
        return -1;
    }
    long lines = 0;
    int ch, last = '\n';
    while ((ch = getc(f)) != EOF) {
        lines += ch == '\n';
        last = ch;
    }
    fclose(f);
    return lines + (last != '\n');
}
