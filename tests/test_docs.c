/* The documentation against the code: docs/cli.md is what tools/cli_doc.c writes from the tables
 * behind -h (so `make cli-doc` was run after the last change to them), every command line in the
 * code blocks of README.md and the .md files of docs/ passes the command line's own argument checks (methods,
 * options, their values and bounds: dx_cli_check_args, which stops before opening a file), and
 * the methods tables of README.md and docs/methods.md name every method of the registry, once. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <wordexp.h>
#include <criterion/criterion.h>
#include "helpers.h"
#include "cli.h"

static const char *root(void)
{
    const char *r = getenv("DX_ROOT");
    cr_assert(r, "run through make test (DX_ROOT)");
    return r;
}

Test(docs, cli_md_is_what_the_generator_writes, .timeout = 60)
{
    const char *cli = getenv("DX_CLI");
    cr_assert(cli, "run through make test (DX_CLI)");
    char cmd[2400], fresh[1200], committed[1200];
    snprintf(fresh, sizeof fresh, "%s/cli.md", temp_dir());
    snprintf(committed, sizeof committed, "%s/docs/cli.md", root());
    /* the generator sits beside the CLI (make test builds it) */
    snprintf(cmd, sizeof cmd, "%.*s/gen-cli-doc > %s", (int)(strrchr(cli, '/') - cli), cli, fresh);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    char *want = read_text(fresh), *have = read_text(committed);
    int line = 1;
    const char *a = want, *b = have;
    while (*a && *a == *b) line += *a++ == '\n', ++b;
    cr_expect(*a == *b, "docs/cli.md differs from what tools/cli_doc.c writes from line %d on: run make cli-doc", line);
    free(want);
    free(have);
}

/* The command-line words of one documented line: NULL when it is not a darknet-explain command
 * line (or a synopsis with placeholders), else argv from the method on (*argc words). */
static char **command_words(const char *line, wordexp_t *w, int *argc)
{
    if (strpbrk(line, "<[") || strstr(line, "...") || strstr(line, "…") || strstr(line, " ..")) return NULL;
    if (wordexp(line, w, WRDE_NOCMD | WRDE_UNDEF) != 0) return NULL;
    size_t k = 0;
    while (k < w->we_wordc && strchr(w->we_wordv[k], '=') && w->we_wordv[k][0] != '-') ++k; /* VAR=value */
    const char *first = k < w->we_wordc ? w->we_wordv[k] : "";
    const char *base = strrchr(first, '/') ? strrchr(first, '/') + 1 : first;
    size_t start = 0;
    if (!strcmp(base, "darknet-explain")) start = k + 1;
    else if ((!strcmp(base, "darknet") || !strcmp(base, "darknet-alexeyab")) && k + 1 < w->we_wordc &&
             !strcmp(w->we_wordv[k + 1], "explain"))
        start = k + 2;
    else if (!strcmp(base, "python3") && k + 2 < w->we_wordc && !strcmp(w->we_wordv[k + 1], "-m") &&
             !strcmp(w->we_wordv[k + 2], "darknet_explain"))
        start = k + 3;
    if (!start || start >= w->we_wordc) {
        wordfree(w);
        return NULL;
    }
    *argc = (int)(w->we_wordc - start);
    return w->we_wordv + start;
}

/* Checks the command lines in path's fenced code blocks; returns how many it checked. */
static int check_commands_in(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot read %s", path);
    char raw[4096], line[8192] = "";
    int in_block = 0, number = 0, first = 0, checked = 0;
    while (fgets(raw, sizeof raw, f)) {
        ++number;
        if (!strncmp(raw, "```", 3)) {
            in_block = !in_block;
            continue;
        }
        if (!in_block) continue;
        raw[strcspn(raw, "\n")] = 0;
        if (!*line) first = number;
        size_t len = strlen(raw);
        int continued = len > 0 && raw[len - 1] == '\\';
        if (continued) raw[len - 1] = 0;
        strncat(line, raw, sizeof line - strlen(line) - 1);
        if (continued) continue;
        char *comment = strstr(line, " #"); /* a shell comment (the docs quote no '#') */
        if (comment) *comment = 0;
        for (size_t n = strlen(line); n > 0 && line[n - 1] == ' '; --n) line[n - 1] = 0;
        wordexp_t w;
        int argc;
        char **argv = command_words(line, &w, &argc);
        if (argv) {
            int help = 0;
            for (int k = 0; k < argc; ++k) help |= !strcmp(argv[k], "-h");
            /* -h prints the help on stdout: not into the test's log */
            fflush(stdout);
            int saved = dup(1), null = open("/dev/null", O_WRONLY);
            cr_assert(saved >= 0 && null >= 0);
            dup2(null, 1);
            int rc = dx_cli_check_args("darknet-explain", argc, argv);
            fflush(stdout);
            dup2(saved, 1);
            close(saved);
            close(null);
            cr_expect_eq(rc, help ? 0 : -1, "%s:%d: `%s` is refused by the command line's checks (exit %d)", path,
                         first, line, rc);
            ++checked;
            wordfree(&w);
        }
        *line = 0;
    }
    fclose(f);
    return checked;
}

Test(docs, documented_command_lines_parse, .timeout = 60)
{
    char pattern[1200];
    snprintf(pattern, sizeof pattern, "%s/docs/*.md", root());
    glob_t g;
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0);
    char readme[1200];
    snprintf(readme, sizeof readme, "%s/README.md", root());
    int checked = check_commands_in(readme);
    cr_expect_geq(checked, 3, "README.md: only %d command lines found to check", checked);
    for (size_t k = 0; k < g.gl_pathc; ++k) checked += check_commands_in(g.gl_pathv[k]);
    globfree(&g);
    cr_expect_geq(checked, 10, "only %d command lines found to check", checked);
}

/* The rows of path's first table whose header starts "| method |": each row's first cell, a
 * code span, must be a method of the registry; every method must have exactly one row. */
static void expect_method_table(const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", root(), name);
    char *text = read_text(path);
    char *table = strstr(text, "\n| method |");
    cr_assert(table, "%s has no table headed '| method |'", name);
    int rows[DX_METHOD_COUNT] = {0};
    for (char *p = strchr(table + 1, '\n'); p && p[1] == '|'; p = strchr(p + 1, '\n')) {
        if (!strncmp(p + 1, "|---", 4)) continue;
        char cell[64];
        cr_assert_eq(sscanf(p + 1, "| `%63[^`]`", cell), 1, "%s: a row of the methods table without a method: %.60s",
                     name, p + 1);
        dx_method m;
        cr_assert_eq(dx_method_from_name(cell, &m), 0, "%s: '%s' is no method", name, cell);
        ++rows[m];
    }
    for (int k = 0; k < DX_METHOD_COUNT; ++k)
        cr_expect_eq(rows[k], 1, "%s: %d rows for %s", name, rows[k], dx_method_name((dx_method)k));
    free(text);
}

Test(docs, method_tables_name_every_method)
{
    expect_method_table("README.md");
    expect_method_table("docs/methods.md");
}
