/* OpenBLAS's kernel for this CPU. A DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernels once, in
 * its library constructor, from the CPU's family and model; a model it does not know (Debian's
 * 0.3.21 on a newer Xeon, or under a hypervisor) gets its SSE3 "Prescott" kernels, 4-6x slower
 * than the AVX-512 ones on the same CPU (docs/benchmarks.md). OPENBLAS_CORETYPE overrides the
 * choice, but only before the library loads: so the command re-executes itself once with it set. */
#include <cblas.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>
#include "cli.h"

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

void dx_blas_reexec(char **argv)
{
    /* Set by the user (their choice, even a weaker one) or by the first pass of this function:
     * either way nothing to do, so it runs at most once. */
    if (!argv || !argv[0] || getenv("OPENBLAS_CORETYPE")) return;
    const char *better = dx_blas_better_coretype(openblas_get_corename(), dx_cpu_features());
    if (!better || setenv("OPENBLAS_CORETYPE", better, 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* no /proc, or the binary is gone: go on with the kernels OpenBLAS chose */
    unsetenv("OPENBLAS_CORETYPE");
}
