/* The Python module (python/darknet_explain) against the command line: each test runs one class
 * of tests/python/test_darknet_explain.py with Debian's python3 ($DX_PYTHON, else
 * /usr/bin/python3, whose NumPy is python3-numpy), the package from the project's python/ and
 * the library the tests were built with ($DX_LIB, else libdarknet-explain.so beside $DX_CLI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <criterion/criterion.h>
#include "helpers.h"

/* Under AddressSanitizer the library needs the sanitizer runtimes loaded first in python3:
 * the compiler's (DX_CC, as the Makefile's test target passes it) libasan and libubsan. */
static void sanitizer_preload(char *out, size_t len)
{
    out[0] = 0;
#if defined(__SANITIZE_ADDRESS__)
    const char *cc = getenv("DX_CC") ? getenv("DX_CC") : "cc";
    const char *const libs[] = {"libasan.so", "libubsan.so"};
    for (size_t k = 0; k < sizeof libs / sizeof *libs; ++k) {
        char cmd[512], path[1024] = "";
        snprintf(cmd, sizeof cmd, "%s -print-file-name=%s", cc, libs[k]);
        FILE *p = popen(cmd, "r");
        cr_assert(p, "%s failed", cmd);
        if (!fgets(path, sizeof path, p)) path[0] = 0;
        pclose(p);
        path[strcspn(path, "\n")] = 0;
        cr_assert(path[0] == '/', "%s: no path (%s)", cmd, path);
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", used ? ":" : "", path);
    }
#else
    (void)len;
#endif
}

/* Runs the unittest class `name`; its report is in the failure message. */
static void run_python_tests(const char *name)
{
    const char *cli = getenv("DX_CLI"), *root = getenv("DX_ROOT");
    cr_assert(cli && root, "DX_CLI and DX_ROOT are not set (run through make test)");
    const char *python = getenv("DX_PYTHON") ? getenv("DX_PYTHON") : "/usr/bin/python3";
    char lib[1024], preload[2048], log[512], cmd[8192];
    if (getenv("DX_LIB")) snprintf(lib, sizeof lib, "%s", getenv("DX_LIB"));
    else snprintf(lib, sizeof lib, "%.*s/libdarknet-explain.so", (int)(strrchr(cli, '/') - cli), cli);
    sanitizer_preload(preload, sizeof preload);
    snprintf(log, sizeof log, "%s/python.log", temp_dir());
    /* Python's own allocations outlive it by design: no leak report for the interpreter */
    snprintf(cmd, sizeof cmd,
             "cd %s && DX_LIB='%s' DX_PYTHON='%s' PYTHONPATH='%s/python:%s/tests/python' PYTHONDONTWRITEBYTECODE=1 "
             "%s%s%s %s -m unittest -v test_darknet_explain.%s >%s 2>&1",
             temp_dir(), lib, python, root, root, preload[0] ? "LD_PRELOAD='" : "", preload,
             preload[0] ? "' ASAN_OPTIONS=detect_leaks=0" : "", python, name, log);
    int status = system(cmd);
    char report[8192];
    read_text_into(log, report, sizeof report);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed:\n%s", name, report);
    cr_assert(strstr(report, "\nOK"), "%s: no unittest verdict:\n%s", name, report);
}

Test(python, maps_equal_the_cli, .timeout = 300)
{
    run_python_tests("Maps");
}

Test(python, boxes_equal_the_cli_json, .timeout = 300)
{
    run_python_tests("Boxes");
}

Test(python, arrays_equal_files, .timeout = 300)
{
    run_python_tests("Arrays");
}

Test(python, errors_equal_the_cli, .timeout = 300)
{
    run_python_tests("Errors");
}

Test(python, module_is_the_cli, .timeout = 300)
{
    run_python_tests("Module");
}

Test(python, docs_examples_run, .timeout = 300)
{
    run_python_tests("Docs");
}
