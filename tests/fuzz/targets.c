/* The fuzz targets (see targets.h). Each writes the input where the parser reads it (a file in
 * the private directory, or argv), calls the project's own entry point, and checks the house
 * rules on what came back: a refusal is one line naming what is wrong, nothing else is printed on
 * stderr, no file is left behind. A crash, an abort or an exit() inside is the fuzzer's finding. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <darknet.h> /* the forward budget reads the Darknet's own layers */
#include "cli.h"
#include "engine.h"
#include "eval/results.h"
#include "io/image.h"
#include "targets.h"

static const char *const NAMES[DX_FUZZ_TARGETS] = {"cfg", "weights", "image", "options", "lists"};

/* The files a target may write in the private directory; anything else there after a run was
 * left behind by the code under test. */
#define INPUT "input"
#define LIST "images.txt"
#define LABELED_IMAGE "photo.png"
#define LABELS "photo.txt"
#define CAPTURE "stderr.txt"
static const char *const OWN_FILES[] = {INPUT, LIST, LABELS, CAPTURE};

/* Forward and saliency of a fuzzed cfg only below this many multiply-adds (milliseconds). */
#define CFG_FORWARD_MAX_OPS 2e7
/* A list's first images whose label files are read (as eval does before its first image). */
#define LABEL_CLASSES 80 /* the labels name classes of an 80-class (COCO) model */
#define LIST_MAX_LABELED 64
/* argv words from one input */
#define MAX_ARGS 256

static char work_dir[512];
static char fixed_cfg[PATH_MAX + 32]; /* the weights target's cfg */
static pid_t owner;           /* the process that made work_dir (removes it at exit) */
static int real_stderr = -1, real_stdout = -1, null_fd = -1, capture_fd = -1;
static volatile int inside;   /* a target is running */

const char *dx_fuzz_target_name(dx_fuzz_target t)
{
    return t >= 0 && t < DX_FUZZ_TARGETS ? NAMES[t] : "?";
}

int dx_fuzz_target_from_name(const char *name, dx_fuzz_target *t)
{
    for (int k = 0; k < DX_FUZZ_TARGETS; ++k)
        if (!strcmp(name, NAMES[k])) {
            *t = (dx_fuzz_target)k;
            return 0;
        }
    return -1;
}

static void remove_work_dir(void)
{
    DIR *d = opendir(work_dir);
    struct dirent *e;
    char path[1100];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", work_dir, e->d_name);
            remove(path);
        }
    if (d) closedir(d);
    rmdir(work_dir);
}

/* While a target runs stderr goes to the capture file: on a crash, what it holds (the
 * sanitizer's report, Darknet's last words) is copied to the real stderr. */
static void dump_capture(void)
{
    if (!inside || capture_fd < 0) return;
    char buf[4096];
    ssize_t n;
    for (off_t at = 0; (n = pread(capture_fd, buf, sizeof buf, at)) > 0; at += n)
        if (write(real_stderr, buf, (size_t)n) < 0) break;
}

static void on_fatal_signal(int sig)
{
    dump_capture();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* the sanitizers' hook, present in sanitized builds only */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void at_exit(void)
{
    if (inside) {
        static const char what[] = "fuzz: exit() called while a target ran (Darknet's exit on bad input?)\n";
        dump_capture();
        if (write(real_stderr, what, sizeof what - 1) < 0) {}
        abort();
    }
    if (getpid() == owner) remove_work_dir();
}

int dx_fuzz_init(const char *root)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(work_dir, sizeof work_dir, "%s/dx-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char absolute[PATH_MAX];
    snprintf(fixed_cfg, sizeof fixed_cfg, "%s/cfg/test-classifier.cfg", realpath(root, absolute) ? absolute : root);
    if (access(fixed_cfg, R_OK) != 0) {
        fprintf(stderr, "fuzz: %s: cannot read it (is %s the project's root?)\n", fixed_cfg, root);
        return -1;
    }
    if (!mkdtemp(work_dir) || chdir(work_dir) != 0) {
        fprintf(stderr, "fuzz: cannot make a private directory %s\n", work_dir);
        return -1;
    }
    owner = getpid();
    atexit(at_exit);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(dump_capture);
    signal(SIGABRT, on_fatal_signal); /* assert() in Darknet, or the harness's own abort */
    real_stderr = dup(2);
    real_stdout = dup(1);
    null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    capture_fd = open(CAPTURE, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (real_stderr < 0 || real_stdout < 0 || null_fd < 0 || capture_fd < 0) {
        fprintf(stderr, "fuzz: cannot set up the stderr capture in %s\n", work_dir);
        return -1;
    }
    return 0;
}

static int write_file(const char *name, const unsigned char *data, size_t size)
{
    FILE *f = fopen(name, "wb");
    if (!f) return -1;
    size_t done = size ? fwrite(data, 1, size, f) : 0;
    return (fclose(f) == 0 && done == size) ? 0 : -1;
}

/* ---- what a target did besides its result ---- */

/* stdout to /dev/null, stderr into the capture file, for the length of one target */
static void capture_begin(void)
{
    fflush(stdout);
    fflush(stderr);
    /* fd 2 shares capture_fd's offset: back to 0, or the next run's text lands after a hole */
    if (ftruncate(capture_fd, 0) != 0 || lseek(capture_fd, 0, SEEK_SET) != 0) {}
    dup2(null_fd, 1);
    dup2(capture_fd, 2);
}

/* The captured stderr (NUL-terminated, cut to len) and its number of lines. */
static int capture_end(char *text, size_t len)
{
    fflush(stdout);
    fflush(stderr);
    dup2(real_stdout, 1);
    dup2(real_stderr, 2);
    ssize_t n = pread(capture_fd, text, len - 1, 0);
    text[n > 0 ? n : 0] = 0;
    int lines = 0;
    for (ssize_t k = 0; k < n; ++k) lines += text[k] == '\n';
    return lines + (n > 0 && text[n - 1] != '\n');
}

/* The first file in the private directory that no target writes, removed; 0 when none. */
static int left_behind(char *name, size_t len)
{
    DIR *d = opendir(".");
    struct dirent *e;
    int found = 0;
    while (d && !found && (e = readdir(d))) {
        found = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        for (size_t k = 0; found && k < sizeof OWN_FILES / sizeof OWN_FILES[0]; ++k)
            found = strcmp(e->d_name, OWN_FILES[k]) != 0;
        if (found) {
            snprintf(name, len, "%s", e->d_name);
            remove(e->d_name);
        }
    }
    if (d) closedir(d);
    return found;
}

__attribute__((format(printf, 4, 5)))
static dx_fuzz_outcome say(dx_fuzz_outcome outcome, char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return outcome;
}

/* A refusal's message: non-empty, one line. */
static dx_fuzz_outcome refused(const char *what, char *msg, size_t len)
{
    if (!*what) return say(DX_FUZZ_BROKEN, msg, len, "refused without a message");
    if (strchr(what, '\n')) return say(DX_FUZZ_BROKEN, msg, len, "a message of several lines: %s", what);
    return say(DX_FUZZ_REFUSED, msg, len, "%s", what);
}

/* ---- the targets ---- */

/* Multiply-adds of a forward, roughly (each output times what it reads). */
static double forward_ops(const network *net)
{
    double ops = 0;
    for (int i = 0; i < net->n; ++i) {
        const layer *l = &net->layers[i];
        double per_output = 1;
        switch (l->type) {
        case CONVOLUTIONAL: case DECONVOLUTIONAL: case LOCAL:
            per_output = (double)l->size * l->size * l->c / (l->groups > 0 ? l->groups : 1);
            break;
        case CONNECTED: case RNN: case GRU: case LSTM: case CRNN: per_output = l->inputs; break;
        case MAXPOOL: per_output = (double)l->size * l->size; break;
        case AVGPOOL: per_output = (double)l->w * l->h; break;
        default: break;
        }
        ops += per_output * l->outputs + l->inputs;
    }
    return ops;
}

/* Explains the model's top class (or first box) on a fixed w x h photo: any failure must be a
 * one-line error. */
static dx_fuzz_outcome explain_fixed_photo(dx_model *m, dx_method method, int w, int h, char *msg, size_t len)
{
    dx_image photo = dx_make_image(w, h, 3);
    for (int k = 0; k < w * h * 3; ++k) photo.data[k] = (float)(k % 7) / 7;
    dx_request req;
    dx_request_init(&req);
    req.method = method;
    dx_result r;
    dx_error err = {""};
    int rc = dx_explain_image(m, photo, &req, &r, &err);
    dx_free_image(photo);
    if (rc == 0) {
        dx_result_free(&r);
        return DX_FUZZ_ACCEPTED;
    }
    return refused(err.msg, msg, len) == DX_FUZZ_BROKEN ? DX_FUZZ_BROKEN : DX_FUZZ_ACCEPTED;
}

static dx_fuzz_outcome run_cfg(const unsigned char *data, size_t size, char *msg, size_t len)
{
    if (write_file(INPUT, data, size)) return say(DX_FUZZ_BROKEN, msg, len, "cannot write the input");
    dx_error err = {""};
    dx_model *m = dx_open(INPUT, NULL, NULL, &err);
    if (!m) return refused(err.msg, msg, len);
    dx_fuzz_outcome o = DX_FUZZ_ACCEPTED;
    const network *net = dx_network(m);
    /* a photo has 3 channels (explaining refuses other inputs): those networks run on zeros */
    if (forward_ops(net) < CFG_FORWARD_MAX_OPS && net->c == 3)
        o = explain_fixed_photo(m, DX_METHOD_SALIENCY, net->w, net->h, msg, len);
    else if (forward_ops(net) < CFG_FORWARD_MAX_OPS)
        dx_forward(m, dx_output_of(m, -1));
    dx_close(m);
    return o;
}

static dx_fuzz_outcome run_weights(const unsigned char *data, size_t size, char *msg, size_t len)
{
    if (write_file(INPUT, data, size)) return say(DX_FUZZ_BROKEN, msg, len, "cannot write the input");
    dx_error err = {""};
    dx_model *m = dx_open(fixed_cfg, INPUT, NULL, &err);
    if (!m) return refused(err.msg, msg, len);
    dx_fuzz_outcome o = explain_fixed_photo(m, DX_METHOD_GRADCAM, 20, 12, msg, len);
    dx_close(m);
    return o;
}

static dx_fuzz_outcome run_image(const unsigned char *data, size_t size, char *msg, size_t len)
{
    if (write_file(INPUT, data, size)) return say(DX_FUZZ_BROKEN, msg, len, "cannot write the input");
    dx_error err = {""};
    dx_image photo;
    if (dx_load_photo(INPUT, &photo, &err) != 0) return refused(err.msg, msg, len);
    dx_fuzz_outcome o = DX_FUZZ_ACCEPTED;
    if (photo.w <= 0 || photo.h <= 0 || photo.c != 3 || !photo.data)
        o = say(DX_FUZZ_BROKEN, msg, len, "loaded as %dx%dx%d", photo.w, photo.h, photo.c);
    dx_free_image(photo);
    return o;
}

static dx_fuzz_outcome run_options(const unsigned char *data, size_t size, char *msg, size_t len)
{
    /* argv's words: the bytes split at NUL and newline (a trailing separator ends the last word) */
    char *text = malloc(size + 1), *argv[MAX_ARGS + 1];
    if (!text) return say(DX_FUZZ_BROKEN, msg, len, "out of memory");
    memcpy(text, data, size);
    text[size] = 0;
    int argc = 0;
    for (size_t start = 0; start < size && argc < MAX_ARGS;) {
        size_t end = start;
        while (end < size && text[end] != 0 && text[end] != '\n') ++end;
        text[end] = 0;
        argv[argc++] = text + start;
        start = end + 1;
    }
    argv[argc] = NULL;
    char printed[2048];
    capture_begin();
    int rc = dx_cli_check_args("darknet-explain", argc, argv);
    int lines = capture_end(printed, sizeof printed);
    free(text);
    if (rc != -1 && rc != 0 && rc != 2) return say(DX_FUZZ_BROKEN, msg, len, "exit code %d", rc);
    if (rc != 2 && lines)
        return say(DX_FUZZ_BROKEN, msg, len, "exit code %d after %d lines on stderr: %s", rc, lines, printed);
    /* no argument at all: the usage text, as any command */
    if (rc == 2 && argc > 0 && lines != 1)
        return say(DX_FUZZ_BROKEN, msg, len, "a usage error of %d lines: %s", lines, printed);
    if (rc != 2) return DX_FUZZ_ACCEPTED;
    printed[strcspn(printed, "\n")] = 0;
    return refused(printed, msg, len);
}

static dx_fuzz_outcome run_lists(const unsigned char *data, size_t size, char *msg, size_t len)
{
    const unsigned char *nul = memchr(data, 0, size);
    size_t list_size = nul ? (size_t)(nul - data) : size;
    if (write_file(LIST, data, list_size) || (nul && write_file(LABELS, nul + 1, size - list_size - 1)))
        return say(DX_FUZZ_BROKEN, msg, len, "cannot write the input");
    dx_letterbox g;
    dx_letterbox_geometry(640, 480, 224, 224, &g); /* a photo letterboxed into a 224 x 224 network */
    dx_error err = {""};
    dx_pixel_box *boxes;
    int *classes;
    dx_eval_list list;
    int rc = dx_eval_read_labels(LABELED_IMAGE, &g, LABEL_CLASSES, &boxes, &classes, &err);
    if (rc >= 0) {
        free(boxes);
        free(classes);
        rc = dx_eval_read_list(LIST, &list, &err);
    }
    if (rc >= 0) {
        for (int k = 0; rc >= 0 && k < list.n && k < LIST_MAX_LABELED; ++k) {
            rc = dx_eval_read_labels(list.paths[k], &g, LABEL_CLASSES, &boxes, &classes, &err);
            free(boxes);
            free(classes);
        }
        dx_eval_list_free(&list);
    }
    if (nul) remove(LABELS);
    return rc < 0 ? refused(err.msg, msg, len) : DX_FUZZ_ACCEPTED;
}

dx_fuzz_outcome dx_fuzz_one(dx_fuzz_target t, const unsigned char *data, size_t size, char *msg, size_t msg_len)
{
    static dx_fuzz_outcome (*const run[DX_FUZZ_TARGETS])(const unsigned char *, size_t, char *, size_t) = {
        run_cfg, run_weights, run_image, run_options, run_lists};
    char printed[2048], stray[256];
    *msg = 0;
    if (t < 0 || t >= DX_FUZZ_TARGETS) return say(DX_FUZZ_BROKEN, msg, msg_len, "no target %d", (int)t);
    inside = 1;
    /* the options target captures its own stderr: a usage error is its one line */
    if (t != DX_FUZZ_OPTIONS) capture_begin();
    dx_fuzz_outcome o = run[t](data, size, msg, msg_len);
    int lines = t != DX_FUZZ_OPTIONS ? capture_end(printed, sizeof printed) : 0;
    inside = 0;
    if (o != DX_FUZZ_BROKEN && lines)
        o = say(DX_FUZZ_BROKEN, msg, msg_len, "%d stray lines on stderr: %s", lines, printed);
    if (left_behind(stray, sizeof stray))
        o = say(DX_FUZZ_BROKEN, msg, msg_len, "left the file %s behind", stray);
    return o;
}
