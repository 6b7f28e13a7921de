/* gemm.c — C = alpha * op(A) * op(B) + beta * C in float, row-major (see gemm.h).
 * With DT_HAVE_BLAS it hands the work to single-threaded cblas_sgemm calls, split over OpenMP
 * threads when the product is large; otherwise rows of C are dealt to
 * OpenMP threads in groups of four, each group walking K in order over column blocks of
 * JB, so that a row of B is loaded once for four rows of C and every output element is
 * accumulated by one thread in a fixed order (deterministic for any thread count).
 * Not here: anything that knows about layers or models.
 */
#include "gemm.h"

#include <limits.h>
#include <strings.h>

#ifdef DT_HAVE_BLAS
#include <cblas.h>
#include <pthread.h>
#endif

#define IB 4   /* rows of C per task */
#define JB 512 /* columns of C per block (stays in L1 for four rows) */

static void scale_rows(float *C, int64_t ldc, float beta, int64_t i0, int64_t i1, int64_t N) {
    for (int64_t i = i0; i < i1; i++) {
        float *c = C + (size_t)i * (size_t)ldc;
        if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

static inline float opa(const float *A, int64_t lda, int ta, int64_t i, int64_t k) {
    return ta ? A[(size_t)k * (size_t)lda + (size_t)i] : A[(size_t)i * (size_t)lda + (size_t)k];
}

/* Rows i0..i1 (at most IB) of C += alpha * op(A) * B, B stored (K, N). */
static void rows_nn(float *C, int64_t ldc, const float *A, int64_t lda, int ta, const float *B,
                    int64_t ldb, float alpha, int64_t i0, int64_t i1, int64_t N, int64_t K) {
    int64_t nr = i1 - i0;
    float *c[IB];
    for (int64_t r = 0; r < nr; r++) c[r] = C + (size_t)(i0 + r) * (size_t)ldc;
    for (int64_t j0 = 0; j0 < N; j0 += JB) {
        int64_t j1 = j0 + JB < N ? j0 + JB : N;
        for (int64_t k = 0; k < K; k++) {
            float a[IB] = {0};
            int any = 0;
            for (int64_t r = 0; r < nr; r++) {
                a[r] = alpha * opa(A, lda, ta, i0 + r, k);
                any |= a[r] != 0.0f;
            }
            if (!any) continue; /* sparse inputs and ReLU activations: skip zero rows */
            const float *b = B + (size_t)k * (size_t)ldb;
            if (nr == IB) {
                float *c0 = c[0], *c1 = c[1], *c2 = c[2], *c3 = c[3];
                for (int64_t j = j0; j < j1; j++) {
                    float bj = b[j];
                    c0[j] += a[0] * bj;
                    c1[j] += a[1] * bj;
                    c2[j] += a[2] * bj;
                    c3[j] += a[3] * bj;
                }
            } else {
                for (int64_t r = 0; r < nr; r++)
                    for (int64_t j = j0; j < j1; j++) c[r][j] += a[r] * b[j];
            }
        }
    }
}

/* Dot product of x (stride sx) and y (contiguous) of length K, eight partial sums. */
static float dot(const float *x, int64_t sx, const float *y, int64_t K) {
    float s[8] = {0};
    int64_t k = 0;
    if (sx == 1) {
        for (; k + 8 <= K; k += 8)
            for (int t = 0; t < 8; t++) s[t] += x[k + t] * y[k + t];
    }
    for (; k < K; k++) s[k & 7] += x[(size_t)k * (size_t)sx] * y[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Rows i0..i1 of C += alpha * op(A) * B^T, B stored (N, K). */
static void rows_nt(float *C, int64_t ldc, const float *A, int64_t lda, int ta, const float *B,
                    int64_t ldb, float alpha, int64_t i0, int64_t i1, int64_t N, int64_t K) {
    for (int64_t i = i0; i < i1; i++) {
        float *c = C + (size_t)i * (size_t)ldc;
        const float *a = ta ? A + i : A + (size_t)i * (size_t)lda;
        int64_t sa = ta ? lda : 1;
        for (int64_t j = 0; j < N; j++) c[j] += alpha * dot(a, sa, B + (size_t)j * (size_t)ldb, K);
    }
}

#ifdef DT_HAVE_BLAS
/* BLAS threading is decided here, once per process: OpenBLAS runs every call on the calling
 * thread, and large products are split over duet's own OpenMP threads (see dt_gemm). OpenBLAS's
 * threads would busy-wait between calls and fight OpenMP's for the cores, and its thread count
 * is process-wide state: setting it per call, as server workers run products concurrently, was
 * a race. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_one_thread(void) { openblas_set_num_threads(1); }
static void blas_init(void) { pthread_once(&blas_once, blas_one_thread); }

const char *dt_blas_core(void) {
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}

const char *dt_blas_advice(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    /* kernels that use AVX2 and FMA, or AVX-512, in OpenBLAS 0.3.x */
    static const char *const modern[] = {"haswell", "skylakex", "cooperlake", "sapphirerapids", "zen", NULL};
    const char *c = dt_blas_core();
    for (int i = 0; modern[i]; i++)
        if (strcasecmp(c, modern[i]) == 0) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

/* A product handed to BLAS, in float or double (dbl), and split over OpenMP threads. */
typedef struct blas_prod {
    int dbl;
    void *C;
    const void *A, *B;
    int64_t ldc, lda, ldb, M, N, K;
    int ta, tb;
    double alpha, beta;
} blas_prod;

/* One BLAS call on rows i0..i1 or columns j0..j1 of C (part of a split product). */
static void blas_part(const blas_prod *p, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    size_t ao = p->ta ? (size_t)i0 : (size_t)i0 * (size_t)p->lda, bo = p->tb ? (size_t)j0 * (size_t)p->ldb : (size_t)j0;
    size_t co = (size_t)i0 * (size_t)p->ldc + (size_t)j0;
    enum CBLAS_TRANSPOSE ta = p->ta ? CblasTrans : CblasNoTrans, tb = p->tb ? CblasTrans : CblasNoTrans;
    int m = (int)(i1 - i0), n = (int)(j1 - j0), k = (int)p->K, lda = (int)p->lda, ldb = (int)p->ldb, ldc = (int)p->ldc;
    if (m == 1) { /* one row (decoding a token): a matrix-vector product reads B once */
        enum CBLAS_TRANSPOSE tv = p->tb ? CblasNoTrans : CblasTrans;
        int rows = p->tb ? n : k, cols = p->tb ? k : n, inc = p->ta ? lda : 1;
        if (p->dbl)
            cblas_dgemv(CblasRowMajor, tv, rows, cols, p->alpha, (const double *)p->B + bo, ldb, (const double *)p->A + ao,
                        inc, p->beta, (double *)p->C + co, 1);
        else
            cblas_sgemv(CblasRowMajor, tv, rows, cols, (float)p->alpha, (const float *)p->B + bo, ldb,
                        (const float *)p->A + ao, inc, (float)p->beta, (float *)p->C + co, 1);
        return;
    }
    if (p->dbl)
        cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, p->alpha, (const double *)p->A + ao, lda, (const double *)p->B + bo, ldb,
                    p->beta, (double *)p->C + co, ldc);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, (float)p->alpha, (const float *)p->A + ao, lda,
                    (const float *)p->B + bo, ldb, (float)p->beta, (float *)p->C + co, ldc);
}

/* 1 when BLAS's int indexes every size of the product */
static int blas_fits(int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc) {
    return K > 0 && M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX;
}

/* The product by single-threaded BLAS calls; one per thread on blocks of rows (or of columns
 * when C is wide and short) when it is large. */
static void blas_split(const duet_ctx *ctx, const blas_prod *p) {
    blas_init();
    double work = (double)p->M * (double)p->N * (double)p->K;
    int nt = work >= 1048576.0 ? dt_threads(ctx) : 1;
    int by_rows = p->M >= p->N || p->M >= 64 * (int64_t)nt;
    int64_t len = by_rows ? p->M : p->N;
    if (nt > len / 16) nt = (int)(len / 16) > 1 ? (int)(len / 16) : 1;
    if (nt <= 1) {
        blas_part(p, 0, p->M, 0, p->N);
        return;
    }
    int64_t chunk = ((len + nt - 1) / nt + 7) / 8 * 8;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; t++) {
        int64_t s = (int64_t)t * chunk, e = s + chunk < len ? s + chunk : len;
        if (s >= e) continue;
        if (by_rows) blas_part(p, s, e, 0, p->N);
        else blas_part(p, 0, p->M, s, e);
    }
}
#else
const char *dt_blas_core(void) { return "none"; }
const char *dt_blas_advice(void) { return NULL; }
#endif

void dt_gemm(const duet_ctx *ctx, float *C, int64_t ldc, const float *A, int64_t lda, int ta,
             const float *B, int64_t ldb, int tb, float alpha, float beta, int64_t M, int64_t N,
             int64_t K) {
    if (M <= 0 || N <= 0) return;
    double work = (double)M * (double)N * (double)(K > 0 ? K : 1);
#ifdef DT_HAVE_BLAS
    if (blas_fits(M, N, K, lda, ldb, ldc)) {
        blas_prod p = {.dbl = 0, .C = C, .A = A, .B = B, .ldc = ldc, .lda = lda, .ldb = ldb, .M = M, .N = N, .K = K,
                       .ta = ta, .tb = tb, .alpha = alpha, .beta = beta};
        blas_split(ctx, &p);
        return;
    }
#endif
    int64_t tasks = (M + IB - 1) / IB;
    int nt = work > 65536.0 ? dt_threads(ctx) : 1;
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
    for (int64_t t = 0; t < tasks; t++) {
        int64_t i0 = t * IB, i1 = i0 + IB < M ? i0 + IB : M;
        scale_rows(C, ldc, beta, i0, i1, N);
        if (K <= 0 || alpha == 0.0f) continue;
        if (tb) rows_nt(C, ldc, A, lda, ta, B, ldb, alpha, i0, i1, N, K);
        else rows_nn(C, ldc, A, lda, ta, B, ldb, alpha, i0, i1, N, K);
    }
}

void dt_gemm_ref(float *C, int64_t ldc, const float *A, int64_t lda, int ta, const float *B,
                 int64_t ldb, int tb, float alpha, float beta, int64_t M, int64_t N, int64_t K) {
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * (size_t)lda + (size_t)i] : A[(size_t)i * (size_t)lda + (size_t)k];
                double b = tb ? B[(size_t)j * (size_t)ldb + (size_t)k] : B[(size_t)k * (size_t)ldb + (size_t)j];
                s += a * b;
            }
            float *c = C + (size_t)i * (size_t)ldc + (size_t)j;
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * (double)*c));
        }
    }
}

void dt_dgemm(const duet_ctx *ctx, double *C, int64_t ldc, const double *A, int64_t lda, int ta, const double *B,
              int64_t ldb, int tb, double alpha, double beta, int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0) return;
#ifdef DT_HAVE_BLAS
    if (blas_fits(M, N, K, lda, ldb, ldc)) {
        blas_prod p = {.dbl = 1, .C = C, .A = A, .B = B, .ldc = ldc, .lda = lda, .ldb = ldb, .M = M, .N = N, .K = K,
                       .ta = ta, .tb = tb, .alpha = alpha, .beta = beta};
        blas_split(ctx, &p);
        return;
    }
#endif
    /* without BLAS (or past its int): rows of C over the context's threads, each element summed in order */
    int nt = (double)M * (double)N * (double)(K > 0 ? K : 1) > 65536.0 ? dt_threads(ctx) : 1;
    (void)nt;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double sum = 0;
            for (int64_t k = 0; k < K; k++)
                sum += (ta ? A[(size_t)k * (size_t)lda + (size_t)i] : A[(size_t)i * (size_t)lda + (size_t)k]) *
                       (tb ? B[(size_t)j * (size_t)ldb + (size_t)k] : B[(size_t)k * (size_t)ldb + (size_t)j]);
            double *c = C + (size_t)i * (size_t)ldc + (size_t)j;
            *c = alpha * sum + (beta == 0 ? 0 : beta * *c);
        }
}
