/* What every backend does alike, with no Darknet's header: the table of open networks that a
 * per-layer trampoline finds its network in, the weights file's size check, muting a Darknet's
 * messages, the cfg's batch, a child's output. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "backend.h"
#include "error.h"
#include "model.h"

#define DX_MAX_NETS 64
static struct { void *net; const void *key; } nets[DX_MAX_NETS];
static pthread_mutex_t nets_lock = PTHREAD_MUTEX_INITIALIZER;

int dx_backend_register(void *net, const void *key, const char *shown_as, dx_error *err)
{
    pthread_mutex_lock(&nets_lock);
    int slot = -1;
    for (int k = 0; k < DX_MAX_NETS && slot < 0; ++k)
        if (!nets[k].net) slot = k;
    if (slot >= 0) nets[slot].net = net, nets[slot].key = key;
    pthread_mutex_unlock(&nets_lock);
    if (slot < 0) {
        dx_set_error(err, "%s: more than %d networks open at once", shown_as, DX_MAX_NETS);
        return -1;
    }
    return 0;
}

void dx_backend_unregister(void *net)
{
    pthread_mutex_lock(&nets_lock);
    for (int k = 0; k < DX_MAX_NETS; ++k)
        if (nets[k].net == net) nets[k].net = 0, nets[k].key = 0;
    pthread_mutex_unlock(&nets_lock);
}

void *dx_backend_find(const void *key)
{
    void *found = 0;
    pthread_mutex_lock(&nets_lock);
    for (int k = 0; k < DX_MAX_NETS && !found; ++k)
        if (nets[k].net && nets[k].key == key) found = nets[k].net;
    pthread_mutex_unlock(&nets_lock);
    return found;
}

int dx_backend_check_weights_file(const char *path, int (*seen_is_64bit)(const int version[3]), long need_floats,
                                  dx_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dx_set_error(err, "%s: cannot open weights: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int version[3];
    long header = fread(version, sizeof(int), 3, f) == 3 ? 12 + (seen_is_64bit(version) ? 8 : 4) : -1;
    int stat_ok = fstat(fileno(f), &st) == 0;
    fclose(f);
    if (!stat_ok || !S_ISREG(st.st_mode)) {
        dx_set_error(err, "%s: not a regular file", path);
        return -1;
    }
    long need = need_floats * (long)sizeof(float);
    if (header < 0 || st.st_size < header) {
        dx_set_error(err, "%s: truncated weights: %ld bytes, shorter than the 20-byte header", path,
                     (long)st.st_size);
        return -1;
    }
    if (st.st_size - header != need) {
        dx_set_error(err, "%s: %s weights: the file holds %ld bytes of weights, the cfg needs %ld "
                          "(%ld floats); cfg and weights do not match",
                     path, st.st_size - header < need ? "truncated" : "oversized",
                     (long)(st.st_size - header), need, need / 4);
        return -1;
    }
    return 0;
}

dx_backend_quiet dx_backend_quiet_begin(int verbose)
{
    dx_backend_quiet q = {-1, -1};
    if (verbose) return q;
    fflush(stdout);
    q.out = dup(1);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
        dup2(devnull, 1);
        close(devnull);
    }
    q.err = dx_silence_stderr();
    return q;
}

void dx_backend_quiet_end(dx_backend_quiet q)
{
    dx_restore_stderr(q.err);
    if (q.out < 0) return;
    fflush(stdout);
    dup2(q.out, 1);
    close(q.out);
}

int dx_backend_cfg_batch(const char *cfg_path)
{
    FILE *f = fopen(cfg_path, "r");
    if (!f) return 1;
    char line[4096];
    int batch = 1, subdivisions = 1, sections = 0;
    while (fgets(line, sizeof line, f) && sections < 2) {
        char key[64];
        int value;
        char *p = line;
        while (*p == ' ' || *p == '\t') ++p;
        if (*p == '[') ++sections;
        else if (sections == 1 && sscanf(p, " %63[^= \t] = %d", key, &value) == 2) {
            if (strcmp(key, "batch") == 0) batch = value;
            if (strcmp(key, "subdivisions") == 0) subdivisions = value;
        }
    }
    fclose(f);
    if (subdivisions > 0) batch /= subdivisions;
    return batch > 0 ? batch : 1;
}

void dx_backend_read_tail(int fd, char *text, size_t cap)
{
    size_t used = 0;
    ssize_t got;
    char chunk[4096];
    text[0] = 0;
    while ((got = read(fd, chunk, sizeof chunk)) > 0) {
        if (used + (size_t)got >= cap) { /* keep the tail */
            size_t drop = used + (size_t)got - (cap - 1);
            if (drop > used) drop = used;
            memmove(text, text + drop, used - drop);
            used -= drop;
        }
        size_t take = (size_t)got < cap - 1 - used ? (size_t)got : cap - 1 - used;
        memcpy(text + used, chunk + got - take, take);
        used += take;
        text[used] = 0;
    }
}
