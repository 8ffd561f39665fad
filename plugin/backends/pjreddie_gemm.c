/* A BLAS-backed gemm_cpu for Darknet's forward. Debian's libdarknet.so calls gemm and gemm_cpu
 * through its PLT, so these definitions (in the CLI, the test binary, or libdarknet-explain.so
 * when it is linked before libdarknet.so) are the ones the dynamic linker binds Darknet's calls
 * to. Darknet's own is kept reachable (dlsym RTLD_NEXT) for dx_set_blas(0) / DX_BLAS=0.
 * In the patched ./darknet, Darknet's objects are linked statically after the plugin's: they
 * reference only gemm and gemm_cpu from Darknet's gemm.o, both defined here, so that member is
 * never pulled in and BLAS is used there too (with no Darknet gemm to switch back to). Weak, so
 * that a build which does link Darknet's gemm.o (e.g. a GPU build) takes Darknet's and links.
 * Exported (visibility default) although the library's objects hide what is not DX_API: the
 * dynamic linker binds Darknet's calls only to exported definitions.
 *
 * Threads: Debian's Darknet forward is single-threaded (no OpenMP) and the plugin's own loops
 * are too, so OpenBLAS's pool is the only parallelism: dx_blas_reserve (memory.c) sizes it once,
 * when the first model opens, to the online cores and the memory its buffers need. */
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"

typedef void (*gemm_fn)(int, int, int, int, int, float, float *, int, float *, int, float, float *, int);

static gemm_fn darknet_gemm_cpu;
static int blas_on = -1; /* -1: not yet decided (DX_BLAS decides on first use) */
static long blas_calls;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;

static void setup(void)
{
    darknet_gemm_cpu = (gemm_fn)dlsym(RTLD_NEXT, "gemm_cpu");
    const char *env = getenv("DX_BLAS");
    if (__atomic_load_n(&blas_on, __ATOMIC_RELAXED) < 0)
        __atomic_store_n(&blas_on, !(env && strcmp(env, "0") == 0), __ATOMIC_RELAXED);
}

void dx_set_blas(int on)
{
    pthread_once(&setup_once, setup);
    __atomic_store_n(&blas_on, on != 0, __ATOMIC_RELAXED);
}

int dx_blas(void)
{
    pthread_once(&setup_once, setup);
    return __atomic_load_n(&blas_on, __ATOMIC_RELAXED);
}

long dx_blas_gemm_calls(void) { return __atomic_load_n(&blas_calls, __ATOMIC_RELAXED); }

/* Darknet's contract: C = ALPHA * op(A) * op(B) + BETA * C, all row-major, op = transpose when
 * TA/TB is non-zero; A is M x K (K x M when TA), B is K x N (N x K when TB), C is M x N.
 * Exactly cblas_sgemm's. */
__attribute__((weak, visibility("default"))) void gemm_cpu(int TA, int TB, int M, int N, int K, float ALPHA,
                                                          float *A, int lda, float *B, int ldb, float BETA, float *C, int ldc)
{
    if (!dx_blas() && darknet_gemm_cpu) {
        darknet_gemm_cpu(TA, TB, M, N, K, ALPHA, A, lda, B, ldb, BETA, C, ldc);
        return;
    }
    __atomic_fetch_add(&blas_calls, 1, __ATOMIC_RELAXED);
    cblas_sgemm(CblasRowMajor, TA ? CblasTrans : CblasNoTrans, TB ? CblasTrans : CblasNoTrans, M, N,
                K, ALPHA, A, lda, B, ldb, BETA, C, ldc);
}

/* Darknet's gemm is gemm_cpu on the CPU */
__attribute__((weak, visibility("default"))) void gemm(int TA, int TB, int M, int N, int K, float ALPHA, float *A,
                                                      int lda, float *B, int ldb, float BETA, float *C, int ldc)
{
    gemm_cpu(TA, TB, M, N, K, ALPHA, A, lda, B, ldb, BETA, C, ldc);
}
