/* vexp.h — e^x of 8 floats at a time (AVX2 and FMA), for the layers' exponentials: attention's
 * softmax, SwiGLU (layers.c) and SiLU (conv.c), and the sigmoid of 8 floats. Callers run the tail of a row with expf.
 */
#ifndef DT_VEXP_H
#define DT_VEXP_H

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* exp of 8 floats: x = n ln 2 + r with |r| <= ln 2 / 2, a degree-6 polynomial for e^r (the
 * coefficients of Cephes' expf), then 2^n through the exponent bits; within 2 ulp of expf on
 * [-87, 88], which the callers keep to (arguments are clamped). */
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* 1 / (1 + e^-x) of 8 floats */
static inline __m256 sigmoid8(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}
#endif

#endif /* DT_VEXP_H */
