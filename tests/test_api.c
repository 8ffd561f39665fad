/* The shared library's interface: libdarknet-explain.so exports exactly the functions that the
 * public headers (explain.h, eval/eval.h) declare with DX_API, and every function those headers
 * declare carries DX_API. Besides them it exports gemm and gemm_cpu only: the definitions the
 * dynamic linker binds Darknet's calls to (backends/pjreddie_gemm.c). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"

#define MAX_NAMES 512

typedef struct {
    char name[MAX_NAMES][96];
    int n;
} names;

static int has(const names *s, const char *name)
{
    for (int k = 0; k < s->n; ++k)
        if (strcmp(s->name[k], name) == 0) return 1;
    return 0;
}

static void add(names *s, const char *name)
{
    cr_assert_lt(s->n, MAX_NAMES, "more than %d names", MAX_NAMES);
    snprintf(s->name[s->n++], sizeof s->name[0], "%s", name);
}

/* Appends to `list` (a line per name) what `bad` says, at most a screenful. */
static void note(char *list, size_t len, const char *name, const char *what)
{
    size_t used = strlen(list);
    if (used + 200 < len) snprintf(list + used, len - used, "  %s%s\n", name, what);
}

/* The functions `header` declares: its top-level lines (not indented, not a comment, a typedef
 * or a preprocessor line) with a '(' declare the function named just before it. Those declared
 * with DX_API go to api; the others are listed in bad. */
static void declared_functions(const char *header, names *api, char *bad, size_t bad_len)
{
    FILE *f = fopen(header, "r");
    cr_assert(f, "%s: cannot read", header);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (!isalpha((unsigned char)line[0]) || strncmp(line, "typedef", 7) == 0 || strncmp(line, "extern", 6) == 0)
            continue;
        char *paren = strchr(line, '(');
        if (!paren) continue;
        char *end = paren;
        while (end > line && end[-1] == ' ') --end;
        char *start = end;
        while (start > line && (isalnum((unsigned char)start[-1]) || start[-1] == '_')) --start;
        char name[96];
        snprintf(name, sizeof name, "%.*s", (int)(end - start), start);
        if (strncmp(line, "DX_API ", 7) == 0) add(api, name);
        else note(bad, bad_len, name, " (declared without DX_API)");
    }
    fclose(f);
}

/* The symbols lib defines in its dynamic symbol table, less the linker's own. */
static void exported_symbols(const char *lib, names *out)
{
    char cmd[1200], line[512];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' 2>&1", lib);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "cannot run %s", cmd);
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[256];
        if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3) continue;
        if (!strcmp(name, "_edata") || !strcmp(name, "_end") || !strcmp(name, "__bss_start") ||
            !strcmp(name, "_init") || !strcmp(name, "_fini"))
            continue;
        add(out, name);
    }
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
}

Test(api, shared_library_exports_the_dx_api_only)
{
    const char *cli = getenv("DX_CLI"), *root = getenv("DX_ROOT");
    cr_assert(cli && root, "DX_CLI and DX_ROOT are not set (run through make test)");
    char lib[1024], header[1200];
    if (getenv("DX_LIB")) snprintf(lib, sizeof lib, "%s", getenv("DX_LIB"));
    else snprintf(lib, sizeof lib, "%.*s/libdarknet-explain.so", (int)(strrchr(cli, '/') - cli), cli);

    static names api, exported;
    char missing[4096] = "", leaked[4096] = "", undeclared[4096] = "";
    const char *const headers[] = {"plugin/explain.h", "plugin/eval/eval.h"};
    for (int h = 0; h < 2; ++h) {
        snprintf(header, sizeof header, "%s/%s", root, headers[h]);
        declared_functions(header, &api, undeclared, sizeof undeclared);
    }
    exported_symbols(lib, &exported);
    /* the parse found the API (dx_open is its first function, dx_eval_cli eval.h's) */
    cr_assert(has(&api, "dx_open") && has(&api, "dx_eval_cli"), "%d DX_API functions read from the headers", api.n);

    for (int k = 0; k < api.n; ++k)
        if (!has(&exported, api.name[k])) note(missing, sizeof missing, api.name[k], "");
    for (int k = 0; k < exported.n; ++k)
        if (!has(&api, exported.name[k]) && strcmp(exported.name[k], "gemm") && strcmp(exported.name[k], "gemm_cpu"))
            note(leaked, sizeof leaked, exported.name[k], "");
    cr_expect_str_empty(undeclared, "the public headers declare functions without DX_API:\n%s", undeclared);
    cr_expect_str_empty(missing, "%s does not export these DX_API functions:\n%s", lib, missing);
    cr_expect_str_empty(leaked, "%s exports these, which no public header declares with DX_API:\n%s", lib, leaked);
}
