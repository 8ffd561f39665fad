/* The methods' -list runs (plugin/batch.c) on the project's shapes models and generated photos:
 * every photo's outputs equal those of its single-photo run (byte for byte, the JSON but for its
 * timings), photos sharing a name kept apart; detections.json's boxes are the per-photo JSON's
 * and the library's decoding; every photo is checked before the first; a run killed (SIGKILL)
 * and resumed writes what an uninterrupted one writes; a second run on the folder is refused;
 * option mistakes are one-line usage errors. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "io/image.h"
#include "io/render.h"
#include "../tools/shapes.h"

/* The shapes model of cfg/ ("classifier" or "detector"): cfg and weights paths. */
static void shapes_files(const char *which, char *cfg, char *weights, size_t len)
{
    const char *root = getenv("DX_ROOT");
    cr_assert(root, "DX_ROOT is not set (run through make test)");
    snprintf(cfg, len, "%s/cfg/shapes-%s.cfg", root, which);
    snprintf(weights, len, "%s/cfg/shapes-%s.weights", root, which);
}

/* "CFG WEIGHTS" for a command line */
static const char *shapes_model(const char *which)
{
    static __thread char args[2100];
    char cfg[1024], weights[1024];
    shapes_files(which, cfg, weights, sizeof cfg);
    snprintf(args, sizeof args, "%s %s", cfg, weights);
    return args;
}

/* dir/name: image `index` of the shapes set `seed`, 96 x 96, with up to 3 objects */
static void shapes_photo(const char *dir, const char *name, int seed, int index)
{
    dx_image photo;
    shapes_object objs[SHAPES_MAX_OBJECTS];
    shapes_draw(seed, index, 96, 3, &photo, objs);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    dx_error err;
    cr_assert_eq(dx_write_png(photo, path, &err), 0, "%s", err.msg);
    dx_free_image(photo);
}

static void write_in(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_text(path, text);
}

/* A folder with photos a/p0..p3.png and b/p1.png (another photo of the same name) and list.txt
 * naming them (with a blank and a comment line): images 0..4 are a/p0, a/p1, a/p2, b/p1, a/p3. */
#define N_PHOTOS 5
static const char *const photo_paths[N_PHOTOS] = {"a/p0.png", "a/p1.png", "a/p2.png", "b/p1.png", "a/p3.png"};
static const char *const batch_stems[N_PHOTOS] = {"p0", "p1@1", "p2", "p1@3", "p3"};
static const char *photos_fixture(void)
{
    const char *dir = temp_dir();
    char path[1024];
    snprintf(path, sizeof path, "%s/a", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/b", dir);
    mkdir(path, 0777);
    for (int k = 0; k < N_PHOTOS; ++k) shapes_photo(dir, photo_paths[k], 11, k);
    write_in(dir, "list.txt", "a/p0.png\n\n# the second p1 is another photo\na/p1.png\na/p2.png\nb/p1.png\na/p3.png\n");
    return dir;
}

/* whole file, malloc'd, with its length */
static char *read_bytes(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    char *data = malloc(*len + 1);
    size_t got = fread(data, 1, *len, f);
    fclose(f);
    data[got] = 0;
    return data;
}

/* The JSON's text without the lines of its timings (the only members that differ between two
 * runs of the same command): "forward", "backward", "method" with a number, "forward_ms". */
static void strip_timings(char *text)
{
    static const char *const keys[] = {"\"forward\": ", "\"backward\": ", "\"method\": ", "\"forward_ms\": "};
    char *out = text;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        end = end ? end + 1 : line + strlen(line);
        const char *key = line + strspn(line, " ");
        int timing = 0;
        for (int k = 0; k < 4 && !timing; ++k) {
            size_t n = strlen(keys[k]);
            timing = !strncmp(key, keys[k], n) && (key[n] == '-' || (key[n] >= '0' && key[n] <= '9'));
        }
        if (!timing) {
            memmove(out, line, end - line);
            out += end - line;
        }
        line = end;
    }
    *out = 0;
}

/* text (malloc'd) with each "FROM_ made "TO_ (a file name's stem), freed; the result malloc'd */
static char *renamed(char *text, const char *from, const char *to)
{
    char old[300], new[300];
    snprintf(old, sizeof old, "\"%s_", from);
    snprintf(new, sizeof new, "\"%s_", to);
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, old)); p += strlen(old)) ++n;
    char *out = malloc(strlen(text) + n * strlen(new) + 1), *o = out;
    for (const char *p = text, *q; *p; p = q + strlen(old)) {
        if (!(q = strstr(p, old))) {
            strcpy(o, p);
            o += strlen(p);
            break;
        }
        memcpy(o, p, q - p);
        o += q - p;
        strcpy(o, new);
        o += strlen(new);
    }
    *o = 0;
    free(text);
    return out;
}

/* Expects files a and b to hold the same bytes; a .json but for its timings, and the names of
 * its files (stem in a's, batch_stem in b's). */
static void expect_same_output(const char *a, const char *stem, const char *b, const char *batch_stem)
{
    long na = 0, nb = 0;
    char *x = read_bytes(a, &na), *y = read_bytes(b, &nb);
    cr_assert(x && y, "cannot read %s or %s", a, b);
    size_t len = strlen(a);
    if (len > 5 && !strcmp(a + len - 5, ".json")) {
        x = renamed(x, stem, batch_stem);
        strip_timings(x);
        strip_timings(y);
        na = (long)strlen(x);
        nb = (long)strlen(y);
    }
    cr_expect(na == nb && !memcmp(x, y, na), "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* Every output of single/ (named STEM...) against batch/BATCH_STEM...: returns how many. */
static int expect_single_outputs(const char *single, const char *stem, const char *batch, const char *batch_stem)
{
    DIR *d = opendir(single);
    cr_assert(d, "cannot list %s", single);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, stem, strlen(stem))) continue;
        char a[1600], b[1600];
        snprintf(a, sizeof a, "%s/%s", single, e->d_name);
        snprintf(b, sizeof b, "%s/%s%s", batch, batch_stem, e->d_name + strlen(stem));
        expect_same_output(a, stem, b, batch_stem);
        ++n;
    }
    closedir(d);
    return n;
}

/* Entries of dir not starting with '.', or starting with it (hidden = 1). */
static int count_entries(const char *dir, int hidden, char *names, size_t len)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    if (names) names[0] = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || (e->d_name[0] == '.') != hidden) continue;
        if (names) snprintf(names + strlen(names), len - strlen(names), " %s", e->d_name);
        ++n;
    }
    closedir(d);
    return n;
}

/* The number's text after the next occurrence of key at or after *at (moved past it), or "". */
static const char *token_after(const char **at, const char *key, char *out, size_t len)
{
    const char *p = strstr(*at, key);
    out[0] = 0;
    if (!p) return out;
    p += strlen(key);
    p += strspn(p, " \n[");
    size_t n = strcspn(p, ",\n]}\"");
    snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p);
    *at = p + n;
    return out;
}

/* A box of a per-photo JSON: its x, y, w, h, class and score as written */
typedef struct {
    char v[6][32];
} box_text;

static int own_boxes(const char *json, box_text *out, int max)
{
    static const char *const keys[6] = {"\"x\": ", "\"y\": ", "\"w\": ", "\"h\": ", "\"class\": ", "\"score\": "};
    const char *at = strstr(json, "\"boxes\": [");
    int n = 0;
    while (at && n < max && (at = strstr(at, "\"id\": \"box"))) {
        for (int k = 0; k < 6; ++k) token_after(&at, keys[k], out[n].v[k], sizeof out[n].v[k]);
        ++n;
    }
    return n;
}

Test(batch, detector_list_equals_single_runs_and_detections_json, .timeout = 300)
{
    const char *dir = photos_fixture();
    char args[4096], single[1200], batch[1200], path[1400];
    snprintf(args, sizeof args, "gradcam %s -list list.txt -outdir out -boxes all", shapes_model("detector"));
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "gradcam: 5/5 images"), "a progress line per photo: %s", r.err);
    snprintf(batch, sizeof batch, "%s/out", dir);
    int outputs = 0;
    for (int k = 0; k < N_PHOTOS; ++k) {
        snprintf(args, sizeof args, "gradcam %s %s -boxes all -out single%d/", shapes_model("detector"),
                 photo_paths[k], k);
        snprintf(single, sizeof single, "%s/single%d", dir, k);
        mkdir(single, 0777);
        r = run_dx(dir, args);
        cr_assert_eq(r.status, 0, "%s", r.err);
        int n = expect_single_outputs(single, k == 1 || k == 3 ? "p1" : batch_stems[k], batch, batch_stems[k]);
        cr_expect_geq(n, 2, "photo %d: %d outputs", k, n);
        outputs += n;
    }
    cr_expect_eq(count_entries(batch, 0, NULL, 0), outputs + 1, "the photos' outputs and detections.json");

    /* detections.json: each photo's boxes, as its own JSON has them and the library decodes them */
    char cfg[1024], weights[1024], text[64], want[64];
    shapes_files("detector", cfg, weights, sizeof cfg);
    dx_error err;
    dx_model *m = dx_open(cfg, weights, NULL, &err);
    cr_assert(m, "%s", err.msg);
    dx_request req;
    dx_request_init(&req);
    snprintf(path, sizeof path, "%s/detections.json", batch);
    char *coco = read_text(path);
    const char *at = strstr(coco, "\"annotations\"");
    cr_assert(at);
    int boxes = 0;
    for (int k = 0; k < N_PHOTOS; ++k) {
        snprintf(path, sizeof path, "%s/%s_gradcam.json", batch, batch_stems[k]);
        char *own_text = read_text(path);
        box_text own[16];
        int n_own = own_boxes(own_text, own, 16);
        free(own_text);
        snprintf(path, sizeof path, "%s/%s", dir, photo_paths[k]);
        dx_image photo;
        cr_assert_eq(dx_load_photo(path, &photo, &err), 0, "%s", err.msg);
        dx_detection *found;
        int n;
        cr_assert_eq(dx_detect_image(m, photo, &req, &found, &n, &err), 0, "%s", err.msg);
        cr_expect_eq(n_own, n, "image %d: its JSON has %d boxes, the library decodes %d", k, n_own, n);
        for (int b = 0; b < n && b < n_own; ++b, ++boxes) {
            snprintf(want, sizeof want, "%d", k);
            cr_assert_str_eq(token_after(&at, "\"image_id\": ", text, sizeof text), want);
            cr_expect_str_eq(token_after(&at, "\"category_id\": ", text, sizeof text), own[b].v[4]);
            cr_expect_eq(atoi(text), found[b].cls);
            const float values[] = {found[b].x, found[b].y, found[b].w, found[b].h, 0, found[b].score};
            for (int v = 0; v < 6; ++v) {
                if (v == 4) continue; /* the class, above */
                const char *key = v == 0 ? "\"bbox\": [" : v < 4 ? "," : "\"score\": ";
                cr_expect_str_eq(token_after(&at, key, text, sizeof text), own[b].v[v], "image %d box %d member %d", k,
                                 b, v);
                cr_expect_eq((float)strtod(text, NULL), values[v], "image %d box %d member %d", k, b, v);
            }
            snprintf(want, sizeof want, "%s_gradcam_box%d.npy", batch_stems[k], b);
            cr_expect_str_eq(token_after(&at, "\"map\": \"", text, sizeof text), want);
        }
        free(found);
        dx_free_image(photo);
    }
    cr_expect_null(strstr(at, "\"image_id\""), "no other box in detections.json");
    cr_expect_geq(boxes, 5, "the photos have boxes to compare");
    free(coco);
    dx_close(m);
}

Test(batch, classifier_list_equals_single_runs_and_results_csv, .timeout = 300)
{
    const char *dir = photos_fixture();
    char args[4096], single[1200], batch[1200], path[1400];
    snprintf(args, sizeof args, "saliency %s -list list.txt -outdir out", shapes_model("classifier"));
    run_result r = run_dx(dir, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(batch, sizeof batch, "%s/out", dir);
    snprintf(path, sizeof path, "%s/results.csv", batch);
    char *csv = read_text(path);
    const char *row = strchr(csv, '\n');
    cr_assert(row);
    for (int k = 0; k < N_PHOTOS; ++k) {
        snprintf(args, sizeof args, "saliency %s %s -out single%d/", shapes_model("classifier"), photo_paths[k], k);
        snprintf(single, sizeof single, "%s/single%d", dir, k);
        mkdir(single, 0777);
        r = run_dx(dir, args);
        cr_assert_eq(r.status, 0, "%s", r.err);
        const char *stem = k == 1 || k == 3 ? "p1" : batch_stems[k];
        cr_expect_eq(expect_single_outputs(single, stem, batch, batch_stems[k]), 4, "png, npy, raw.npy, json");
        /* its row: the class and probability its JSON gives the target */
        char expect[512], cls[32], prob[32];
        snprintf(path, sizeof path, "%s/%s_saliency.json", single, stem);
        char *own = read_text(path);
        const char *at = strstr(own, "\"target\"");
        cr_assert(at);
        token_after(&at, "\"class\": ", cls, sizeof cls);
        token_after(&at, "\"probability\": ", prob, sizeof prob);
        free(own);
        snprintf(expect, sizeof expect, "\n%d,%s,saliency,%s,class %s,%s,%s_saliency.npy,%s_saliency.png,%s_saliency.json\n",
                 k, photo_paths[k], cls, cls, prob, batch_stems[k], batch_stems[k], batch_stems[k]);
        cr_expect(!strncmp(row, expect, strlen(expect)), "row %d is not '%s': %.200s", k, expect + 1, row + 1);
        row = strchr(row + 1, '\n');
        cr_assert(row);
    }
    cr_expect_str_eq(row, "\n", "one row per photo");
    free(csv);
}

/* Issue #20: a bad path is reported before anything is explained or written, naming the list
 * file and line. */
Test(batch, every_photo_is_checked_before_the_first)
{
    const char *dir = photos_fixture();
    write_in(dir, "notimage.png", "not a PNG at all\n");
    struct {
        const char *line, *says;
    } cases[] = {
        {"nothere.png", "list2.txt:5: nothere.png: cannot open image"},
        {"notimage.png", "list2.txt:5: notimage.png: not a readable image"},
    };
    char args[4096], list[256], path[1200];
    snprintf(path, sizeof path, "%s/empty", dir);
    mkdir(path, 0777);
    for (int k = 0; k < 2; ++k) {
        snprintf(list, sizeof list, "a/p0.png\n# two photos follow\na/p1.png\n\n%s\na/p2.png\n", cases[k].line);
        write_in(dir, "list2.txt", list);
        for (int existing = 0; existing < 2; ++existing) {
            snprintf(args, sizeof args, "gradcam %s -list list2.txt -outdir %s", shapes_model("classifier"),
                     existing ? "empty" : "new");
            run_result r = run_dx(dir, args);
            cr_expect_eq(r.status, 1, "%s", r.err);
            cr_expect_eq(r.err_lines, 1, "one line: %s", r.err);
            cr_expect(strstr(r.err, cases[k].says), "'%s' does not say '%s'", r.err, cases[k].says);
            snprintf(path, sizeof path, "%s/new", dir);
            cr_expect(!exists(path), "the output folder is not created");
            snprintf(path, sizeof path, "%s/empty", dir);
            cr_expect_eq(count_entries(path, 0, NULL, 0) + count_entries(path, 1, NULL, 0), 0, "nothing written");
        }
    }
    snprintf(args, sizeof args, "gradcam %s -list missing.txt -outdir new", shapes_model("classifier"));
    run_result r = run_dx(dir, args);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "missing.txt: cannot read the image list"), "%s", r.err);
}

/* Photos sharing a name get their index; a photo already named so is refused, naming both lines. */
Test(batch, shared_names_told_apart_or_refused)
{
    const char *dir = photos_fixture();
    shapes_photo(dir, "p1@1.png", 11, 9);
    write_in(dir, "clash.txt", "a/p0.png\na/p1.png\np1@1.png\nb/p1.png\n");
    char args[4096];
    snprintf(args, sizeof args, "gradcam %s -list clash.txt -outdir out", shapes_model("classifier"));
    run_result r = run_dx(dir, args);
    cr_expect_eq(r.status, 1);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    cr_expect(strstr(r.err, "clash.txt:2 and line 3: both photos' outputs would be named p1@1_*"), "%s", r.err);
}

/* the records in DIR/.batch.log */
static int records(const char *dir, const char *outdir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/.batch.log", dir, outdir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) n += !strncmp(line, "photo ", 6) && strchr(line, '\n');
    fclose(f);
    return n;
}

/* `all` on the detector with -boxes all over 10 photos, into outdir, in the background */
#define RESUME_PHOTOS 10
static pid_t start_all(const char *dir, const char *outdir, int resume)
{
    static char cfg[1024], weights[1024];
    shapes_files("detector", cfg, weights, sizeof cfg);
    const char *argv[] = {getenv("DX_CLI"), "all", cfg, weights, "-list", "many.txt", "-outdir", outdir, "-methods",
                          "gradcam,saliency", "-boxes", "all", resume ? "-resume" : NULL, NULL};
    return spawn_dx(dir, argv);
}

static const char *many_fixture(void)
{
    const char *dir = temp_dir();
    char list[1024] = "", name[64];
    for (int k = 0; k < RESUME_PHOTOS; ++k) {
        snprintf(name, sizeof name, "s%02d.png", k);
        shapes_photo(dir, name, 5, k);
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\n", name);
    }
    write_in(dir, "many.txt", list);
    return dir;
}

static int wait_status(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* Every file of a/ in b/ (the same bytes, the JSON but for its timings) and no other. */
static void expect_same_folder(const char *a, const char *b)
{
    char names_a[8192], names_b[8192];
    int n = count_entries(a, 0, names_a, sizeof names_a);
    cr_expect_eq(count_entries(b, 0, names_b, sizeof names_b), n);
    cr_expect_str_eq(names_a, names_b);
    DIR *d = opendir(a);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char x[1400], y[1400];
        snprintf(x, sizeof x, "%s/%s", a, e->d_name);
        snprintf(y, sizeof y, "%s/%s", b, e->d_name);
        expect_same_output(x, "", y, "");
    }
    if (d) closedir(d);
}

Test(batch, resume_after_sigkill_writes_an_uninterrupted_run, .timeout = 600)
{
    const char *dir = many_fixture();
    char whole[1200], killed[1200], path[1400], hidden[1024];
    cr_assert_eq(wait_status(start_all(dir, "whole", 0)), 0);
    snprintf(whole, sizeof whole, "%s/whole", dir);
    snprintf(killed, sizeof killed, "%s/killed", dir);
    cr_assert_eq(records(dir, "whole"), RESUME_PHOTOS);

    pid_t pid = start_all(dir, "killed", 0);
    int status = 0, ended = 0;
    while (!(ended = waitpid(pid, &status, WNOHANG) != 0) && records(dir, "killed") < 3)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (!ended) {
        kill(pid, SIGKILL);
        status = wait_status(pid);
    }
    int kept = records(dir, "killed");
    cr_assert(WIFSIGNALED(status), "the run ended before it could be killed (%d photos)", kept);
    cr_assert_lt(kept, RESUME_PHOTOS);
    cr_log_info("killed after %d of %d photos", kept, RESUME_PHOTOS);
    /* a record torn by the kill: the resumed run drops it */
    snprintf(path, sizeof path, "%s/.batch.log", killed);
    FILE *f = fopen(path, "a");
    fputs("photo 9 96 9", f);
    fclose(f);

    cr_assert_eq(wait_status(start_all(dir, "killed", 1)), 0);
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    char *out = read_text(path), expect[1400];
    snprintf(expect, sizeof expect, "(%d explained now, %d kept from the interrupted run)", RESUME_PHOTOS - kept, kept);
    cr_expect(strstr(out, expect), "'%s' does not say '%s'", out, expect);
    free(out);
    expect_same_folder(whole, killed);
    snprintf(path, sizeof path, "%s/detections.json", killed);
    snprintf(expect, sizeof expect, "%s/detections.json", whole);
    expect_same_file(expect, path);
    cr_expect_eq(count_entries(killed, 1, hidden, sizeof hidden), 1, "only the log is hidden:%s", hidden);

    /* a finished run: resumed, nothing to do; without -resume or with other options, refused */
    cr_expect_eq(wait_status(start_all(dir, "killed", 1)), 0);
    expect_same_folder(whole, killed);
    char args[4096];
    snprintf(args, sizeof args, "all %s -list many.txt -outdir killed -methods gradcam,saliency -boxes all",
             shapes_model("detector"));
    run_result r = run_dx(dir, args);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "killed/.batch.log exists: pass -resume to continue that run"), "%s", r.err);
    snprintf(args, sizeof args, "all %s -list many.txt -outdir killed -methods gradcam,saliency -boxes all -resume "
             "-thresh .6", shapes_model("detector"));
    r = run_dx(dir, args);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "left by a run of other options, model, list or photos: cannot resume it"), "%s", r.err);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    expect_same_folder(whole, killed);
}

/* A second run on a folder a run holds (stopped mid-run) is refused; the first then finishes. */
Test(batch, second_run_on_the_same_folder_is_refused, .timeout = 600)
{
    const char *dir = many_fixture();
    pid_t first = start_all(dir, "both", 0);
    int status = 0, ended = 0;
    while (!(ended = waitpid(first, &status, WNOHANG) != 0) && records(dir, "both") < 1)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    cr_assert(!ended, "the first run ended before a second could start");
    kill(first, SIGSTOP);
    char args[4096], expect[256], path[1400];
    snprintf(expect, sizeof expect, "both: another run of darknet-explain -list is writing this folder (pid %d)",
             (int)first);
    for (int resume = 0; resume < 2; ++resume) {
        snprintf(args, sizeof args, "all %s -list many.txt -outdir both -methods gradcam,saliency -boxes all%s",
                 shapes_model("detector"), resume ? " -resume" : "");
        run_result r = run_dx(dir, args);
        cr_expect_eq(r.status, 1, "the second run%s: %s", resume ? " (-resume)" : "", r.err);
        cr_expect(strstr(r.err, expect), "'%s' does not say '%s'", r.err, expect);
        cr_expect_eq(r.err_lines, 1, "%s", r.err);
    }
    kill(first, SIGCONT);
    status = wait_status(first);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the first run: status %#x", status);
    cr_expect_eq(records(dir, "both"), RESUME_PHOTOS);
    snprintf(path, sizeof path, "%s/both/.batch.lock", dir);
    cr_expect(!exists(path), "%s is left behind", path);
}

Test(batch, option_mistakes_are_usage_errors)
{
    const char *dir = photos_fixture();
    const char *model = shapes_model("classifier");
    struct {
        const char *args, *says;
    } cases[] = {
        {"-list list.txt -outdir out a/p0.png", "-list FILE replaces <image>: give one or the other"},
        {"a/p0.png -outdir out", "-outdir goes with -list (one image's outputs: -out DIR/)"},
        {"-list list.txt -outdir out -out x", "-out names one image's outputs; with -list, -outdir DIR"},
        {"-list list.txt", "-list needs -outdir DIR, the folder of the outputs"},
        {"-outdir out", "-outdir goes with -list"},
        {"", "needs <cfg> <weights> <image>, or -list FILE -outdir DIR"},
        {"a/p0.png -resume", "-resume goes with 'all' or -list, not with 'gradcam' alone"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; ++k) {
        char args[4096], path[1200];
        snprintf(args, sizeof args, "gradcam %s %s", model, cases[k].args);
        run_result r = run_dx(dir, args);
        cr_expect_eq(r.status, 2, "%s: exit %d", cases[k].args, r.status);
        cr_expect_eq(r.err_lines, 1, "%s: %s", cases[k].args, r.err);
        cr_expect(strstr(r.err, cases[k].says), "%s: '%s' does not say '%s'", cases[k].args, r.err, cases[k].says);
        snprintf(path, sizeof path, "%s/out", dir);
        cr_expect(!exists(path), "%s: nothing written", cases[k].args);
    }
}

/* A photo that fails after the run started is named (a single-photo run's message need not):
 * `all -box 0` finds no box 0 above -thresh 1 on the first photo. */
Test(batch, a_failing_photo_is_named)
{
    const char *dir = photos_fixture();
    char args[4096];
    snprintf(args, sizeof args, "all %s -list list.txt -outdir out -methods gradcam -thresh 1",
             shapes_model("detector"));
    run_result r = run_dx(dir, args);
    cr_expect_eq(r.status, 1);
    cr_expect_eq(r.err_lines, 1, "%s", r.err);
    cr_expect(strstr(r.err, "darknet-explain: a/p0.png: no detection above -thresh 1"), "%s", r.err);
}
