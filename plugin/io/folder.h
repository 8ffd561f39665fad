/* What the runs that write a folder share (eval, `all`, the methods' -list runs in batch.c): the
 * hold on the folder, what -resume compares, the progress line. */
#ifndef DX_IO_FOLDER_H
#define DX_IO_FOLDER_H
#include <stddef.h>
#include "explain.h"

/* The run's hold on its output folder, for the whole run: flock(LOCK_EX | LOCK_NB) on DIR/NAME,
 * which holds the holder's pid. The kernel releases it however the process ends (a killed run's
 * file is harmless); a finishing run removes the file while it still holds it (dx_unlock_folder),
 * so a run that locked a file since removed tries again on the new one. path receives DIR/NAME.
 * Returns the descriptor, or -1 with err ("DIR: another WHO is writing this folder (pid N)"). */
int dx_lock_folder(const char *dir, const char *name, const char *who, char *path, size_t len, dx_error *err);
/* Removes path and closes fd (fd < 0: nothing). */
void dx_unlock_folder(int fd, const char *path);

/* What a -resume compares (malloc'd text, NULL when out of memory): the program's version, the
 * command line argv[0..argc-1] without -resume, and each file's size and modification time. */
char *dx_run_parameters(int argc, char **argv, const char *const *files, int n_files);

/* The progress line of a run (no line end): done of total images, of which `computed` in this
 * process in `seconds` (the rate and ETA come from those alone: images a resumed run found done
 * cost nothing, " (KEPT)" while there is no rate); img/s, or s/img when slower than 1 img/s;
 * "WHO: d/t images..." or with tty a bar instead of WHO. */
void dx_progress_text(char *out, size_t len, const char *who, const char *kept, int done, int total, int computed,
                      double seconds, int tty);
typedef struct {
    const char *who, *kept; /* as dx_progress_text's */
    int total, done, computed, tty;
    double seconds;         /* spent on the computed images */
} dx_progress;
/* The line on stderr: on a terminal (tty) one line redrawn in place, ended at the last image;
 * otherwise a line each time. */
void dx_progress_show(const dx_progress *p);
#endif
