/* The AlexeyAB backend's cfg check: the fork's own parser, run in a child process, since it exits
 * or crashes on a bad cfg (alexeyab.c has the rest of the backend). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "backends/alexeyab.h"
#include "error.h"

/* The line of the fork's output that says why (at most len - 1 characters of it): the last one
 * naming an error or a failed assertion, else the last that is not part of its backtrace. */
static void reason_line(const char *text, char *line, size_t len)
{
    const char *best = NULL, *fallback = NULL;
    size_t best_len = 0, fallback_len = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        int backtrace = memmem(p, n, "[0x", 3) || !strncmp(p, "backtrace (", 11) || !strncmp(p, "Darknet error location", 22);
        if (n && !backtrace) fallback = p, fallback_len = n;
        if (n && !backtrace && (memmem(p, n, "rror", 4) || memmem(p, n, "Assertion", 9))) best = p, best_len = n;
        p += n + (p[n] == '\n');
    }
    if (!best) best = fallback, best_len = fallback_len;
    while (best_len && (best[best_len - 1] == '\r' || best[best_len - 1] == ' ')) --best_len;
    size_t n = best ? (best_len < len - 1 ? best_len : len - 1) : 0;
    if (n) memcpy(line, best, n);
    line[n] = 0;
}

/* The fork's parser calls exit() (its error()) or crashes on a bad cfg, after printing why on
 * stdout or stderr; an unknown key is only a warning there. So the cfg is parsed first in a child
 * process: a child that fails gives the line of its output that says why, one that parses gives the
 * network's size at batch 1. */
int dx_alexeyab_parse_in_child(const char *cfg_path, const char *shown_as, dx_cfg_size *size, dx_error *err)
{
    int out[2], res[2];
    if (pipe(out) != 0) {
        dx_set_error(err, "%s: cannot check the cfg: %s", shown_as, strerror(errno));
        return -1;
    }
    if (pipe(res) != 0) {
        close(out[0]), close(out[1]);
        dx_set_error(err, "%s: cannot check the cfg: %s", shown_as, strerror(errno));
        return -1;
    }
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(out[0]), close(res[0]);
        dup2(out[1], 1), dup2(out[1], 2);
        gpu_index = -1; /* as the parent's parse (alexeyab.c cpu_path_begin) */
        network net = parse_network_cfg_custom((char *)cfg_path, 1, 1);
        for (int i = 0; i < net.n; ++i)
            if (net.layers[i].xnor || net.layers[i].binary) {
                /* binarize_weights overruns its arrays in the first forward (convolutional_layer.c:1214) */
                printf("layer %d [convolutional]: xnor/binary weights, on which the fork's forward crashes\n", i);
                fflush(stdout); /* _exit flushes nothing */
                _exit(3);
            }
        for (int i = 0; i < net.n; ++i)
            if (net.layers[i].type == CROP && (net.layers[i].out_h > net.layers[i].h || net.layers[i].out_w > net.layers[i].w)) {
                /* its forward reads rows and columns outside its input (crop_layer.c) */
                printf("layer %d [crop]: a %dx%d crop of a %dx%d input, outside of which the fork reads\n", i,
                       net.layers[i].out_w, net.layers[i].out_h, net.layers[i].w, net.layers[i].h);
                fflush(stdout); /* _exit flushes nothing */
                _exit(3);
            }
        dx_cfg_size s = {0, 0, 0};
        for (int i = 0; i < net.n; ++i) {
            const layer *l = &net.layers[i];
            s.outputs += l->outputs, s.weights += dx_alexeyab_layer_floats(l);
            if (l->workspace_size / sizeof(float) > s.workspace) s.workspace = l->workspace_size / sizeof(float);
        }
        _exit(write(res[1], &s, sizeof s) == (ssize_t)sizeof s ? 0 : 1);
    }
    close(out[1]), close(res[1]);
    char text[8192] = "";
    if (pid > 0) dx_backend_read_tail(out[0], text, sizeof text);
    dx_cfg_size s;
    ssize_t have = pid > 0 ? read(res[0], &s, sizeof s) : -1;
    close(out[0]), close(res[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        dx_set_error(err, "%s: cannot check the cfg: %s", shown_as, strerror(errno));
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && have == (ssize_t)sizeof s) {
        *size = s;
        return 0;
    }
    char reason[256];
    reason_line(text, reason, sizeof reason);
    if (WIFSIGNALED(status))
        dx_set_error(err, "%s: AlexeyAB's Darknet crashes parsing this cfg (signal %d)%s%s", shown_as,
                     WTERMSIG(status), *reason ? " after: " : "", reason);
    else
        dx_set_error(err, "%s: AlexeyAB's Darknet refuses this cfg: %s", shown_as,
                     *reason ? reason : "its parser exits without saying why");
    return -1;
}

int dx_backend_check_cfg(const char *cfg_path, char *warnings, size_t warnings_len, dx_cfg_size *size,
                         dx_error *err)
{
    FILE *f = fopen(cfg_path, "r");
    if (!f) {
        dx_set_error(err, "%s: cannot open cfg: %s", cfg_path, strerror(errno));
        return -1;
    }
    fclose(f);
    return dx_alexeyab_parse_in_child(cfg_path, cfg_path, size, err);
}
