#ifndef DX_CFG_CHECK_H
#define DX_CFG_CHECK_H
#include <stddef.h>
#include "backends/backend.h"
#include "explain.h"

/* plugin/cfg/: validation of the cfg text before Darknet parses it, and the batch-1 copy.
 * Returns 0 when Debian's Darknet can parse the cfg safely and computes what the text says;
 * -1 with "PATH:LINE: what is wrong" otherwise. Harmless oddities (keys Darknet ignores) are
 * appended to warnings (one per line, may be NULL). */
int dx_cfg_check(const char *cfg_path, char *warnings, size_t warnings_len, dx_error *err);
/* dx_cfg_check that also fills *size (when it returns 0). */
int dx_cfg_check_size(const char *cfg_path, char *warnings, size_t warnings_len, dx_cfg_size *size,
                      dx_error *err);
/* Writes a copy of the cfg with batch=1 and subdivisions=1 to an anonymous file; returns its
 * fd (caller closes) and the /proc path to pass to Darknet. */
int dx_cfg_batch1_copy(const char *cfg_path, char *path_out, size_t path_len, dx_error *err);
int dx_cfg_batch_copy(const char *cfg_path, int batch, char *path_out, size_t path_len, dx_error *err);
#endif
