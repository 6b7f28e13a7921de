/* test_gemm.c — dt_gemm against its triple-loop twin dt_gemm_ref on odd shapes, every
 * transpose combination, padded row strides and several alpha/beta; determinism across
 * thread counts for the built-in loop; dt_dgemm against a plain double loop; products run
 * from several threads at once (server workers do). */
#include <pthread.h>

#include "core/gemm.h"
#include "test.h"

static float frand(dt_rng *r) { return (float)(dt_rng_uniform(r) * 2.0 - 1.0); }

static void test_gemm_matches_ref(void) {
    static const int64_t sz[] = {1, 2, 3, 5, 7, 17, 33, 130};
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-2.0f, 0.25f}};
    duet_ctx ctx = {.n_threads = 4, .seed = 1};
    dt_rng r;
    dt_rng_seed(&r, 7);
    int bad = 0, cases = 0;
    for (size_t a = 0; a < 8; a++)
        for (size_t b = 0; b < 8; b++)
            for (size_t c = 0; c < 8; c += 3) {
                int64_t M = sz[a], N = sz[b], K = sz[(c + a) % 8];
                for (int ta = 0; ta < 2; ta++)
                    for (int tb = 0; tb < 2; tb++)
                        for (int s = 0; s < 3; s++) {
                            int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                            size_t na = (size_t)((ta ? K : M) * lda), nb = (size_t)((tb ? N : K) * ldb), nc = (size_t)(M * ldc);
                            float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float));
                            float *C1 = malloc(nc * sizeof(float)), *C2 = malloc(nc * sizeof(float));
                            for (size_t i = 0; i < na; i++) A[i] = (i % 5 == 0) ? 0.0f : frand(&r);
                            for (size_t i = 0; i < nb; i++) B[i] = frand(&r);
                            for (size_t i = 0; i < nc; i++) C1[i] = C2[i] = frand(&r);
                            dt_gemm(&ctx, C1, ldc, A, lda, ta, B, ldb, tb, ab[s][0], ab[s][1], M, N, K);
                            dt_gemm_ref(C2, ldc, A, lda, ta, B, ldb, tb, ab[s][0], ab[s][1], M, N, K);
                            double tol = 1e-5 * (double)(K + 2);
                            for (int64_t i = 0; i < M; i++)
                                for (int64_t j = 0; j < ldc; j++) {
                                    size_t p = (size_t)(i * ldc + j);
                                    if (fabs((double)C1[p] - (double)C2[p]) > tol) bad++;
                                }
                            cases++;
                            free(A);
                            free(B);
                            free(C1);
                            free(C2);
                        }
            }
    CHECK(bad == 0);
    CHECK(cases == 8 * 8 * 3 * 4 * 3);
}

static void test_gemm_beta_zero_ignores_nan(void) {
    duet_ctx ctx = {.n_threads = 2, .seed = 1};
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, C[4];
    for (int i = 0; i < 4; i++) C[i] = NAN;
    dt_gemm(&ctx, C, 2, A, 3, 0, B, 2, 0, 1.0f, 0.0f, 2, 2, 3); /* (2,3) x (3,2) */
    CHECK_NEAR(C[0], 4, 1e-6);
    CHECK_NEAR(C[1], 5, 1e-6);
    CHECK_NEAR(C[2], 10, 1e-6);
    CHECK_NEAR(C[3], 11, 1e-6);
    for (int i = 0; i < 4; i++) C[i] = NAN;
    dt_gemm(&ctx, C, 2, A, 3, 0, B, 2, 0, 1.0f, 0.0f, 2, 2, 0); /* K = 0: C = 0 */
    CHECK(C[0] == 0 && C[3] == 0);
}

static void test_gemm_deterministic_across_threads(void) {
#ifdef DT_HAVE_BLAS
    SKIP("built with BLAS: bitwise equality across thread counts is the library's business");
#else
    int64_t M = 61, N = 300, K = 257;
    float *A = malloc((size_t)(M * K) * sizeof(float)), *B = malloc((size_t)(K * N) * sizeof(float));
    float *C1 = calloc((size_t)(M * N), sizeof(float)), *C2 = calloc((size_t)(M * N), sizeof(float));
    dt_rng r;
    dt_rng_seed(&r, 3);
    for (int64_t i = 0; i < M * K; i++) A[i] = frand(&r);
    for (int64_t i = 0; i < K * N; i++) B[i] = frand(&r);
    duet_ctx c1 = {.n_threads = 1, .seed = 1}, c8 = {.n_threads = 8, .seed = 1};
    dt_gemm(&c1, C1, N, A, K, 0, B, N, 0, 1.0f, 0.0f, M, N, K);
    dt_gemm(&c8, C2, N, A, K, 0, B, N, 0, 1.0f, 0.0f, M, N, K);
    CHECK(memcmp(C1, C2, (size_t)(M * N) * sizeof(float)) == 0);
    free(A);
    free(B);
    free(C1);
    free(C2);
#endif
}

/* products big enough to be split over threads, by rows and by columns (one row: decoding) */
static void test_gemm_split(void) {
    static const int64_t shapes[][3] = {{1, 3000, 700}, {1, 700, 3000}, {300, 260, 40}, {20, 5000, 30}};
    duet_ctx ctx = {.n_threads = 3, .seed = 1};
    dt_rng r;
    dt_rng_seed(&r, 9);
    int bad = 0;
    for (int s = 0; s < 4; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
                size_t na = (size_t)((ta ? K : M) * lda), nb = (size_t)((tb ? N : K) * ldb), nc = (size_t)(M * ldc);
                float *A = malloc(na * 4), *B = malloc(nb * 4), *C1 = malloc(nc * 4), *C2 = malloc(nc * 4);
                for (size_t i = 0; i < na; i++) A[i] = frand(&r);
                for (size_t i = 0; i < nb; i++) B[i] = frand(&r);
                for (size_t i = 0; i < nc; i++) C1[i] = C2[i] = frand(&r);
                dt_gemm(&ctx, C1, ldc, A, lda, ta, B, ldb, tb, 0.5f, 0.75f, M, N, K);
                dt_gemm_ref(C2, ldc, A, lda, ta, B, ldb, tb, 0.5f, 0.75f, M, N, K);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++)
                        bad += fabs(C1[i * ldc + j] - C2[i * ldc + j]) > 1e-4 * (1 + sqrt((double)K));
                free(A), free(B), free(C1), free(C2);
            }
    CHECK(bad == 0);
}

/* C = alpha op(A) op(B) + beta C in double, the plain way */
static void dgemm_plain(double *C, int64_t ldc, const double *A, int64_t lda, int ta, const double *B, int64_t ldb, int tb,
                        double alpha, double beta, int64_t M, int64_t N, int64_t K) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            long double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (long double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = (double)(alpha * s + beta * C[i * ldc + j]);
        }
}

/* dt_dgemm (the linear models' dense passes) on small, split and one-row shapes, every
 * transpose, padded strides; the padding is left alone */
static void test_dgemm_matches_plain(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {1, 900, 1300}, {2000, 1, 600}, {5, 3000, 400}, {130, 17, 33}};
    duet_ctx ctx = {.n_threads = 3, .seed = 1};
    dt_rng r;
    dt_rng_seed(&r, 11);
    int bad = 0, cases = 0;
    for (int s = 0; s < 6; s++)
        for (int t = 0; t < 4; t++) {
            int ta = t & 1, tb = t >> 1;
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
            size_t na = (size_t)((ta ? K : M) * lda), nb = (size_t)((tb ? N : K) * ldb), nc = (size_t)(M * ldc);
            double *A = malloc(na * 8), *B = malloc(nb * 8), *C1 = malloc(nc * 8), *C2 = malloc(nc * 8);
            for (size_t i = 0; i < na; i++) A[i] = frand(&r);
            for (size_t i = 0; i < nb; i++) B[i] = frand(&r);
            for (size_t i = 0; i < nc; i++) C1[i] = C2[i] = frand(&r);
            double alpha = s % 2 ? 0.5 : 2.0, beta = s % 3 ? 0.75 : 0.0;
            dt_dgemm(&ctx, C1, ldc, A, lda, ta, B, ldb, tb, alpha, beta, M, N, K);
            dgemm_plain(C2, ldc, A, lda, ta, B, ldb, tb, alpha, beta, M, N, K);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < ldc; j++)
                    bad += fabs(C1[i * ldc + j] - C2[i * ldc + j]) > (j < N ? 1e-12 * (1 + sqrt((double)K)) : 0.0);
            cases++;
            free(A), free(B), free(C1), free(C2);
        }
    CHECK(bad == 0);
    CHECK(cases == 24);
}

typedef struct prod_job {
    const float *A, *B;
    float *C;
    int64_t M, N, K;
} prod_job;

static void *run_prod(void *p) {
    prod_job *j = p;
    duet_ctx ctx = {.n_threads = 2, .seed = 1};
    for (int rep = 0; rep < 5; rep++) dt_gemm(&ctx, j->C, j->N, j->A, j->K, 0, j->B, j->N, 0, 1.0f, 0.0f, j->M, j->N, j->K);
    return NULL;
}

/* four threads multiply at once, as the server's workers do: each gets the plain answer */
static void test_gemm_concurrent(void) {
    int64_t M = 200, N = 150, K = 120;
    float *A = malloc((size_t)(M * K) * 4), *B = malloc((size_t)(K * N) * 4), *R = malloc((size_t)(M * N) * 4);
    dt_rng r;
    dt_rng_seed(&r, 5);
    for (int64_t i = 0; i < M * K; i++) A[i] = frand(&r);
    for (int64_t i = 0; i < K * N; i++) B[i] = frand(&r);
    dt_gemm_ref(R, N, A, K, 0, B, N, 0, 1.0f, 0.0f, M, N, K);
    pthread_t th[4];
    prod_job jobs[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (prod_job){A, B, malloc((size_t)(M * N) * 4), M, N, K};
        CHECK(pthread_create(&th[t], NULL, run_prod, &jobs[t]) == 0);
    }
    int bad = 0;
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        for (int64_t i = 0; i < M * N; i++) bad += fabs(jobs[t].C[i] - R[i]) > 1e-4 * (1 + sqrt((double)K));
        free(jobs[t].C);
    }
    CHECK(bad == 0);
    free(A), free(B), free(R);
}

int main(void) {
    RUN(test_dgemm_matches_plain);
    RUN(test_gemm_concurrent);
    RUN(test_gemm_matches_ref);
    RUN(test_gemm_split);
    RUN(test_gemm_beta_zero_ignores_nan);
    RUN(test_gemm_deterministic_across_threads);
    TEST_END();
}
