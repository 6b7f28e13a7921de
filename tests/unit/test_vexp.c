/* test_vexp.c — the 8-wide exponential, sigmoid, logarithm and softplus of nn/vexp.h against
 * libm in double, over their whole working ranges (dense sweeps and edges). */
#include "nn/vexp.h"
#include "test.h"

#if defined(__AVX2__) && defined(__FMA__)
typedef __m256 (*vfn)(__m256);

/* The worst error of f over n points from lo to hi (geometric when geo, else even), in units
 * of ref's ulp plus an absolute slack `abs_tol` (for results near zero). */
static double worst(vfn f, double (*ref)(double), double lo, double hi, int n, int geo, double abs_tol) {
    double bad = 0.0;
    for (int i = 0; i < n; i += 8) {
        float in[8], out[8];
        for (int k = 0; k < 8; k++) {
            double u = (double)(i + k < n ? i + k : n - 1) / (n - 1);
            in[k] = (float)(geo ? lo * pow(hi / lo, u) : lo + (hi - lo) * u);
        }
        _mm256_storeu_ps(out, f(_mm256_loadu_ps(in)));
        for (int k = 0; k < 8; k++) {
            double r = ref((double)in[k]);
            int ex = r != 0.0 && ilogb(r) > -126 ? ilogb(r) : -126; /* float's ulp, subnormals included */
            double ulp = ldexp(1.0, ex - 23);
            double e = (fabs((double)out[k] - r) - abs_tol) / ulp;
            if (e > bad) bad = e;
        }
    }
    return bad;
}

static double sig_ref(double x) { return 1.0 / (1.0 + exp(-x)); }
static double softplus_ref(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static void test_exp8(void) {
    CHECK(worst(exp8, exp, -87.0, 88.0, 200000, 0, 0.0) <= 2.0);
    CHECK(worst(exp8, exp, -1e-3, 1e-3, 10000, 0, 0.0) <= 2.0);
}

static void test_sigmoid8(void) { CHECK(worst(sigmoid8, sig_ref, -80.0, 80.0, 100000, 0, 0.0) <= 4.0); }

static void test_log8(void) {
    CHECK(worst(log8, log, 1.0, 2.0, 100000, 0, 0.0) <= 2.0);
    CHECK(worst(log8, log, 0.5, 1.5, 100000, 0, 0.0) <= 2.0);
    CHECK(worst(log8, log, 1e-37, 1e38, 200000, 1, 0.0) <= 2.0);
}

/* ln(1 + e^-|z|) is taken as the log of a float sum, so results below ~1e-7 carry an absolute
 * error of up to half an ulp of 1 */
static void test_softplus8(void) { CHECK(worst(softplus8, softplus_ref, -90.0, 90.0, 200000, 0, 6e-8) <= 4.0); }
#endif

int main(void) {
#if defined(__AVX2__) && defined(__FMA__)
    RUN(test_exp8);
    RUN(test_sigmoid8);
    RUN(test_log8);
    RUN(test_softplus8);
#endif
    TEST_END();
}
