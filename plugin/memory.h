#ifndef DX_MEMORY_H
#define DX_MEMORY_H
#include <stddef.h>
#include "explain.h"

/* memory.c — checks before allocations nobody can check afterwards (Darknet's callocs, OpenBLAS's
 * buffers). Bytes the process can still allocate: the smaller of what RLIMIT_AS leaves above the
 * mapped address space and the available memory; *limited_by says which. */
double dx_memory_room(const char **limited_by);
/* 0 when `bytes` (and some slack) fit in dx_memory_room, else -1 with "SUBJECT: WHAT needs about N
 * MiB of memory, but ... leaves M MiB". */
int dx_memory_check(double bytes, const char *subject, const char *what, dx_error *err);
/* Sizes OpenBLAS's thread pool to one thread (OPENBLAS_NUM_THREADS wins) but never more
 * threads than the address space has room for their buffers, and maps those buffers now (once per
 * process). -1 when not even one fits. */
int dx_blas_reserve(const char *subject, dx_error *err);
/* How many of `wanted` more threads running OpenBLAS calls have room for their buffers. */
int dx_blas_threads_fit(int wanted);
/* The address-space limit leaves no room for one more OpenBLAS buffer: a pool thread may be stuck
 * mapping its own (and exit() would wait for it forever). */
int dx_blas_may_hang(void);

/* The library's one out-of-memory policy: every allocation the plugin makes itself goes through
 * dx_alloc / dx_realloc_array / dx_strdup, which fail the request with one line in err
 * ("out of memory for SUBJECT (N MiB)", or N bytes) and never abort. SUBJECT names what the block is for
 * ("the CAM's weights"). The caller owns the block (free() it); on NULL nothing was allocated and
 * the caller frees what it holds and returns its error. Places that must not come here keep their
 * own handling with a comment: the signal-safe registry of io/atomic.c, io/scale.c's optional clip
 * buffer, the faster paths' dx_alloc_optional; libraries allocate for themselves (stb, libjpeg, libc's open_memstream and getline: their
 * failures are reported where they return), and Darknet's own unchecked allocations are preceded
 * by dx_memory_check. */

/* Room for a SUBJECT that names a file ("the reverse pass of PATH"): a path and a few words. */
#define DX_SUBJECT_LEN 1100

/* count x size bytes, zeroed (calloc), or NULL with err set when count x size overflows size_t
 * or the allocation fails. count 0 allocates one byte, so NULL always means failure. */
void *dx_alloc(size_t count, size_t size, const char *subject, dx_error *err);
/* p (from dx_alloc or NULL) resized to count x size bytes (the new tail not zeroed); NULL with err
 * set and p left as it was (still the caller's) on overflow or failure. */
void *dx_realloc_array(void *p, size_t count, size_t size, const char *subject, dx_error *err);
/* A copy of s, or NULL with err set. */
char *dx_strdup(const char *s, const char *subject, dx_error *err);
/* A block a faster path can do without (calloc'ed, or NULL): its caller then takes the plain path
 * (oneDNN's convolutions: Darknet's own forward and the BLAS reverse pass), so a failure is no
 * error, and the fault injection below does not count it (tests/test_oom.c: each counted failure
 * must end the command). DX_FAIL_OPTIONAL_ALLOC=1 in the environment fails every one (the
 * fallback's test). */
void *dx_alloc_optional(size_t count, size_t size);

/* Fault injection for the tests (tests/test_oom.c), always compiled in, one atomic increment per
 * call: after dx_alloc_fail_at(n) (n > 0), the n-th call of the three above from then on fails as
 * if the memory were exhausted; 0 turns that off. The environment variable DX_FAIL_ALLOC=n, read at
 * the first call, does the same for a whole process (the CLI). dx_alloc_calls: the calls since the
 * last dx_alloc_fail_at (or since the process started). */
void dx_alloc_fail_at(long n);
long dx_alloc_calls(void);
#endif
