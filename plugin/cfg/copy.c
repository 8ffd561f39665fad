/* The copy of a cfg the plugin hands Darknet instead of the cfg: [net]'s batch and subdivisions
 * replaced (batch 1 for explaining one image, larger for scoring many at once), every other byte
 * kept, written to an anonymous file so that nothing is left behind. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cfg/cfg.h"
#include "error.h"

/* Whether the line [p, end) starts with `word` once blanks and tabs are ignored (as strip()
 * removes them); *after is where the rest of the line begins. */
static int starts_with_word(const char *p, const char *end, const char *word, const char **after)
{
    for (; p < end && *word; ++p) {
        if (*p == ' ' || *p == '\t') continue;
        if (*p != *word) return 0;
        ++word;
    }
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    *after = p;
    return *word == '\0';
}

static int sets_key(const char *line, const char *end, const char *key)
{
    const char *after;
    return starts_with_word(line, end, key, &after) && after < end && *after == '=';
}

static int is_net_header(const char *line, const char *end)
{
    const char *after;
    return (starts_with_word(line, end, "[net]", &after) ||
            starts_with_word(line, end, "[network]", &after)) && after == end;
}

static int is_section_header(const char *line, const char *end)
{
    const char *after;
    return starts_with_word(line, end, "[", &after);
}

/* The line starting at p, up to limit: returns its end (the '\n' or limit), *next the line after. */
static const char *line_end(const char *p, const char *limit, const char **next)
{
    const char *eol = memchr(p, '\n', (size_t)(limit - p));
    *next = eol ? eol + 1 : limit;
    return eol ? eol : limit;
}

static const char *const BATCH_KEYS[] = {"batch", "subdivisions"};

typedef struct {
    const char *body, *end; /* [net]'s lines, after its header */
    int has[2];             /* which of BATCH_KEYS it sets */
} net_lines;

static int locate_net(const char *text, size_t len, net_lines *net)
{
    *net = (net_lines){.end = text + len};
    for (const char *line = text, *next; line < text + len; line = next) {
        const char *end = line_end(line, text + len, &next);
        if (is_section_header(line, end)) {
            if (net->body) {
                net->end = line;
                return 0;
            }
            if (!is_net_header(line, end)) return -1;
            net->body = next;
        } else if (net->body) {
            for (int k = 0; k < 2; ++k) net->has[k] |= sets_key(line, end, BATCH_KEYS[k]);
        }
    }
    return net->body ? 0 : -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t done = write(fd, p, n);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) return -1;
        p += done;
        n -= (size_t)done;
    }
    return 0;
}

/* Writes the text with [net]'s batch set to `batch` and subdivisions to 1: lines that set them
 * are replaced, missing ones are added right after the [net] line, all other bytes are kept. */
static int write_batch(int fd, const char *text, size_t len, const net_lines *net, int batch)
{
    char values[2][16];
    snprintf(values[0], sizeof values[0], "=%d", batch); /* BATCH_KEYS order: batch, subdivisions */
    snprintf(values[1], sizeof values[1], "=1");
    if (write_all(fd, text, (size_t)(net->body - text))) return -1;
    if (net->body[-1] != '\n' && write_all(fd, "\n", 1)) return -1;
    for (int k = 0; k < 2; ++k)
        if (!net->has[k] && (write_all(fd, BATCH_KEYS[k], strlen(BATCH_KEYS[k])) ||
                             write_all(fd, values[k], strlen(values[k])) || write_all(fd, "\n", 1)))
            return -1;
    for (const char *line = net->body, *next; line < net->end; line = next) {
        const char *end = line_end(line, net->end, &next);
        int replaced = -1;
        for (int k = 0; k < 2; ++k)
            if (sets_key(line, end, BATCH_KEYS[k])) replaced = k;
        if (replaced < 0) {
            if (write_all(fd, line, (size_t)(next - line))) return -1;
        } else if (write_all(fd, BATCH_KEYS[replaced], strlen(BATCH_KEYS[replaced])) ||
                   write_all(fd, values[replaced], strlen(values[replaced])) ||
                   (end < next && write_all(fd, "\n", 1))) {
            return -1;
        }
    }
    return write_all(fd, net->end, (size_t)(text + len - net->end));
}

int dx_cfg_batch1_copy(const char *cfg_path, char *path_out, size_t path_len, dx_error *err)
{
    return dx_cfg_batch_copy(cfg_path, 1, path_out, path_len, err);
}

int dx_cfg_batch_copy(const char *cfg_path, int batch, char *path_out, size_t path_len, dx_error *err)
{
    size_t len;
    char *text = dx_cfg_read_text(cfg_path, &len, err);
    if (!text) return -1;
    net_lines net;
    int fd = -1;
    if (locate_net(text, len, &net) != 0) {
        dx_set_error(err, "%s: not a Darknet cfg: the first section is not [net] or [network]",
                     cfg_path);
    } else if ((fd = memfd_create("darknet-explain-cfg", MFD_CLOEXEC)) < 0) {
        dx_set_error(err, "%s: cannot create the batch-%d copy: %s", cfg_path, batch, strerror(errno));
    } else if (write_batch(fd, text, len, &net, batch) != 0) {
        dx_set_error(err, "%s: cannot write the batch-%d copy: %s", cfg_path, batch, strerror(errno));
    } else {
        int n = snprintf(path_out, path_len, "/proc/self/fd/%d", fd);
        if (n > 0 && (size_t)n < path_len) {
            free(text);
            return fd;
        }
        dx_set_error(err, "%s: the path buffer is too small for the batch-%d copy's path", cfg_path, batch);
    }
    if (fd >= 0) close(fd);
    free(text);
    return -1;
}
