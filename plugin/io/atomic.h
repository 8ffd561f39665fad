/* Output files that appear whole or not at all, alone or as a set: the one part-file writer of
 * the standard outputs, `all` and eval's run.json, summary.json and report.html.
 *
 * Each file of a set is written under its part name (FINAL.part, beside FINAL so that the
 * rename stays on one file system); dx_atomic_commit renames every part over its final name only
 * when all of them were written, and on any failure removes every part and every final it had
 * already renamed: a reader finds the old files or all the new ones, never a torn file.
 *
 * Signals: while a set is live, SIGINT, SIGTERM and SIGHUP remove its parts (and, while the set
 * is being renamed, its final names too) before the process dies of that same signal, so that its
 * exit status still says which. The handler is installed at the first file, only for the signals
 * whose action is then the default (a program's own handler and SIG_IGN are left alone); it walks
 * a registry of the live paths (owned by their sets; it grows by blocks, as many files as memory
 * holds) and calls nothing but unlink() and raise(). SIGKILL and a power cut still leave parts. */
#ifndef DX_IO_ATOMIC_H
#define DX_IO_ATOMIC_H
#include <stdio.h>
#include "explain.h"

typedef struct dx_atomic_entry dx_atomic_entry;

/* A set of files committed together; {0} is an empty set. */
typedef struct {
    dx_atomic_entry *e;
    int n, cap;
} dx_atomic_set;

/* Adds FINAL; returns the part path to write it to (owned by the set, valid until the commit),
 * or NULL with err (out of memory). */
const char *dx_atomic_add(dx_atomic_set *s, const char *final, dx_error *err);
/* Adds a file already written elsewhere on the same file system (e.g. kept in a staging folder
 * across an interrupted run: a signal leaves it) to be renamed to FINAL with the set; 0 or -1. */
int dx_atomic_adopt(dx_atomic_set *s, const char *written, const char *final, dx_error *err);
/* rc == 0: renames each file over its final name, in the order added. rc != 0 on entry, or a
 * failed rename: removes every part and adopted file and every final already renamed (err says
 * which rename failed; it is left as it was when rc was already non-zero). Empties the set in
 * both cases; returns the resulting rc. */
int dx_atomic_commit(dx_atomic_set *s, int rc, dx_error *err);

/* One file written through stdio, committed alone. */
typedef struct {
    FILE *f;
    dx_atomic_set set;
} dx_atomic_file;
/* Opens PATH.part for writing ("wb"); 0, or -1 with err naming it. */
int dx_atomic_fopen(dx_atomic_file *out, const char *path, dx_error *err);
/* Closes it and renames it over PATH when ok and every write and the close succeeded; otherwise
 * removes it and returns -1 with err naming PATH. */
int dx_atomic_fclose(dx_atomic_file *out, int ok, dx_error *err);
#endif
