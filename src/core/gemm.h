/* gemm.h — single-precision matrix multiply, the one kernel dense layers are built on.
 * defines: dt_gemm (cblas_sgemm when built with DT_HAVE_BLAS, else an OpenMP loop blocked over
 * rows of C) and dt_gemm_ref, its plain triple-loop twin that tests compare it with.
 *
 * Both compute C = alpha * op(A) * op(B) + beta * C, everything row-major:
 *   op(A) is (M, K): A is stored (M, K) with row stride lda, or (K, M) when ta is 1;
 *   op(B) is (K, N): B is stored (K, N) with row stride ldb, or (N, K) when tb is 1;
 *   C is (M, N) with row stride ldc. beta == 0 overwrites C (NaNs in C are not propagated).
 * The non-BLAS loop is deterministic: each element of C is summed by one thread in a fixed
 * order, whatever the thread count. Sizes are trusted (internal kernel, not user input).
 */
#ifndef DT_GEMM_H
#define DT_GEMM_H

#include "dt.h"

void dt_gemm(const duet_ctx *ctx, float *C, int64_t ldc, const float *A, int64_t lda, int ta,
             const float *B, int64_t ldb, int tb, float alpha, float beta, int64_t M, int64_t N,
             int64_t K);
void dt_gemm_ref(float *C, int64_t ldc, const float *A, int64_t lda, int ta, const float *B,
                 int64_t ldb, int tb, float alpha, float beta, int64_t M, int64_t N, int64_t K);

/* The same in double, for the linear models' dense passes: cblas_dgemm split over the
 * context's threads as dt_gemm splits cblas_sgemm; a plain loop over rows without BLAS.
 * BLAS itself always runs single-threaded: dt_gemm and dt_dgemm are the only callers of BLAS
 * and set OpenBLAS to one thread once per process (see gemm.c). */
void dt_dgemm(const duet_ctx *ctx, double *C, int64_t ldc, const double *A, int64_t lda, int ta, const double *B,
              int64_t ldb, int tb, double alpha, double beta, int64_t M, int64_t N, int64_t K);
/* The BLAS kernels in use, and the OPENBLAS_CORETYPE that would be better, or NULL (see
 * duet_blas_coretype_advice in duet.h). */
const char *dt_blas_core(void);
const char *dt_blas_advice(void);

#endif /* DT_GEMM_H */
