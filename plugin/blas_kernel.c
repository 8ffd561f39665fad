/* OpenBLAS's kernel for this CPU. A DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernels once, in
 * its library constructor, from the CPU's family and model; a model it does not know (Debian's
 * 0.3.21 on a newer Xeon, or under a hypervisor) gets its SSE3 "Prescott" kernels, 4-6x slower
 * than the AVX-512 ones on the same CPU (docs/benchmarks.md#openblas). OPENBLAS_CORETYPE
 * overrides the choice, but OpenBLAS reads it only as it loads; so the command makes OpenBLAS
 * choose again, with the variable set, before its first BLAS call. (Re-executing the program with
 * the variable set costs another load of Darknet's 258 shared libraries, 0.2-0.25 s: as much as
 * the better kernel saves on one forward of darknet19.) */
#include <cblas.h>
#include <stdlib.h>
#include <strings.h>
#include "blas_kernel.h"

/* Kernels at least as good as `best` (OpenBLAS's core names, compared without case), strongest
 * first: a CPU that has AVX-512 runs the SkylakeX kernels, one with AVX2 and FMA the Haswell ones. */
static const char *const skylakex_or_better[] = {"SkylakeX", "CooperLake", "SapphireRapids", NULL};
static const char *const haswell_or_better[] = {"Haswell", "Zen", "SkylakeX", "CooperLake", "SapphireRapids", NULL};

static int listed(const char *name, const char *const *list)
{
    for (; *list; ++list)
        if (strcasecmp(name, *list) == 0) return 1;
    return 0;
}

const char *dx_blas_better_coretype(const char *corename, unsigned cpu)
{
    if (!corename) return NULL;
    if ((cpu & DX_CPU_SKYLAKEX) == DX_CPU_SKYLAKEX)
        return listed(corename, skylakex_or_better) ? NULL : skylakex_or_better[0];
    if ((cpu & DX_CPU_HASWELL) == DX_CPU_HASWELL)
        return listed(corename, haswell_or_better) ? NULL : haswell_or_better[0];
    return NULL;
}

unsigned dx_cpu_features(void)
{
    unsigned f = 0;
#if defined(__x86_64__) || defined(__i386__)
    /* libgcc's checks include the operating system's: XGETBV says it saves the wide registers */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) f |= DX_CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= DX_CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= DX_CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= DX_CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vl")) f |= DX_CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512dq")) f |= DX_CPU_AVX512DQ;
#endif
    return f;
}

/* OpenBLAS's own kernel selection, which its constructor ran: exported by DYNAMIC_ARCH builds
 * (Debian's), not part of its API, hence weak: NULL where the OpenBLAS has no such choice. */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

const char *dx_blas_best_kernel(void)
{
    /* the user's choice (even a weaker one) stands */
    if (getenv("OPENBLAS_CORETYPE") || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return NULL;
    const char *better = dx_blas_better_coretype(openblas_get_corename(), dx_cpu_features());
    if (!better || setenv("OPENBLAS_CORETYPE", better, 1) != 0) return NULL;
    /* the selection again, now reading OPENBLAS_CORETYPE as it would have at load (children
     * inherit it); the kernels' tables are static and no call uses them yet */
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    return better;
}
