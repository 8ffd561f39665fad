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
#endif
