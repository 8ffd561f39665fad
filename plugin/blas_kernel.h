/* blas_kernel.c — OpenBLAS's kernel for this CPU (dx_blas_best_kernel, in explain.h, is what the
 * front doors call; these are its parts, for the tests). */
#ifndef DX_BLAS_KERNEL_H
#define DX_BLAS_KERNEL_H
#include "explain.h"

/* The CPU's features (dx_cpu_features: those the CPU and the operating system both support) as
 * bits: */
enum {
    DX_CPU_AVX2 = 1, DX_CPU_FMA = 2, DX_CPU_AVX512F = 4, DX_CPU_AVX512BW = 8, DX_CPU_AVX512VL = 16,
    DX_CPU_AVX512DQ = 32,
    DX_CPU_HASWELL = DX_CPU_AVX2 | DX_CPU_FMA, /* what OpenBLAS's Haswell kernels need */
    DX_CPU_SKYLAKEX = DX_CPU_HASWELL | DX_CPU_AVX512F | DX_CPU_AVX512BW | DX_CPU_AVX512VL | DX_CPU_AVX512DQ
};
unsigned dx_cpu_features(void);
/* The OPENBLAS_CORETYPE that runs faster on a CPU with features `cpu` than OpenBLAS's chosen
 * `corename` (openblas_get_corename()), or NULL when corename is as good (static string). */
const char *dx_blas_better_coretype(const char *corename, unsigned cpu);
#endif
