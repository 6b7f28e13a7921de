/* conv.c — image layers: convolution, transposed convolution, upsampling, group norm,
 * activations, time embedding (see conv.h).
 *
 * The fast convolutions unfold each image into columns (im2col) and multiply with dt_gemm; the
 * backward passes fold columns back (col2im). The batch is cut into a fixed number of groups
 * (min(B, DT_CONV_GROUPS), whatever the thread count); each group is handled by one thread with its
 * own column buffer and its own partial weight/bias gradient, and the partials are added in
 * group order, so results do not depend on the thread count. Each thread takes a run of
 * neighbouring groups: the images the point-wise loops around a layer (static schedules over
 * the batch) gave it too, still in its cache (2 threads: U-Net +7 %, GAN +10 % against
 * alternating groups). With a single group (B == 1) the
 * products themselves are split over the threads by dt_gemm.
 * Stride-1 "same" convolutions (kh = kw = 2 pad + 1, the U-Net's 3x3 layers) skip the unfolding:
 * the image is copied once into a zero border of pad pixels, (C, Hp, Wp), and each of the
 * kh kw taps is one product of that tap's (K, C) weights with the padded image seen from the
 * tap's offset, a (C, H Wp) view with row stride Hp Wp: outputs come out on a grid Wp wide
 * whose last 2 pad columns are dropped. The backward passes use the same views of the padded
 * gradient for the input's gradient, so nothing is folded back, and for the weight gradient
 * (tap by tap, against the padded input's views); memory traffic is what limited the unfolding
 * version on two cores.
 * 3x3 stride-1 pad-1 convolutions with at least 8 channels on each side (all but the first and
 * last of the U-Net's) go by Winograd's F(2x2, 3x3) instead: 16 products per chunk of images in
 * a transformed domain, 2.25x fewer multiplications than the direct sum (section below).
 * Not here: weights, whole models, optimisers.
 */
#include "conv.h"

#include <math.h>

#include "../core/gemm.h"
#include "vexp.h"

#define DT_CONV_GROUPS 8

static int conv_groups(int B) { return B < DT_CONV_GROUPS ? (B > 0 ? B : 1) : DT_CONV_GROUPS; }

/* --- shapes --------------------------------------------------------------------------------- */

void dt_conv_out(const dt_conv_shape *s, int *Ho, int *Wo) {
    *Ho = (s->H + 2 * s->pad - s->kh) / s->stride + 1;
    *Wo = (s->W + 2 * s->pad - s->kw) / s->stride + 1;
}

void dt_convt_out(const dt_conv_shape *s, int opad, int *Ho, int *Wo) {
    *Ho = (s->H - 1) * s->stride - 2 * s->pad + s->kh + opad;
    *Wo = (s->W - 1) * s->stride - 2 * s->pad + s->kw + opad;
}

/* Sizes of one group's slice of the scratch. */
typedef struct conv_sizes {
    size_t cols, col, w, group; /* unfolded columns; all of the layer's scratch for them */
} conv_sizes;

static int same_conv(const dt_conv_shape *s) { return s->stride == 1 && s->kh == 2 * s->pad + 1 && s->kw == s->kh; }

/* The shifted products' scratch (floats) at its offsets: padded input, padded gradient, wide
 * output, the weights by tap (kk, K, C), the weight gradient by tap (kk, K, C). */
typedef struct shift_sizes {
    size_t xp, dyp, wide, wt, dwt, total;
} shift_sizes;

static shift_sizes shift_layout(const dt_conv_shape *s) {
    shift_sizes z;
    size_t hpwp = (size_t)(s->H + 2 * s->pad) * (size_t)(s->W + 2 * s->pad), slack = 2 * (size_t)s->pad + 8;
    size_t kk = (size_t)s->kh * (size_t)s->kw, KC = (size_t)s->K * (size_t)s->C, ch = s->K > s->C ? (size_t)s->K : (size_t)s->C;
    z.xp = 0;
    z.dyp = z.xp + (size_t)s->C * hpwp + slack;
    z.wide = z.dyp + (size_t)s->K * hpwp + slack;
    z.wt = z.wide + ch * (size_t)s->H * (size_t)(s->W + 2 * s->pad);
    z.dwt = z.wt + kk * KC;
    z.total = z.dwt + kk * KC;
    return z;
}

/* Winograd F(2x2, 3x3) for 3x3 stride-1 pad-1 convolutions with at least WINO_MIN channels on
 * each side (see the section below). Its scratch, at these offsets (floats): the transformed
 * weights (16, K, C), their gradient (16, K, C), two buffers of 16 planes (channels, tiles) for
 * a chunk of whole images, one channel's padded rows split into even and odd columns, and 16
 * floats for the end of an output row. */
#define WINO_MIN 8
#define WINO_TILES 128 /* tiles per chunk of images (at least one image) */

typedef struct wino_sizes {
    int tH, tW, Hp, L, imgs; /* tiles down and across, split rows and their length, images per chunk */
    size_t tiles;            /* tiles per image */
    size_t u, du, a, b, even, odd, row, total;
} wino_sizes;

static int wino_conv(const dt_conv_shape *s) {
    return s->stride == 1 && s->pad == 1 && s->kh == 3 && s->kw == 3 && s->C >= WINO_MIN && s->K >= WINO_MIN;
}

static wino_sizes wino_layout(const dt_conv_shape *s) {
    wino_sizes z;
    z.tH = (s->H + 1) / 2, z.tW = (s->W + 1) / 2, z.Hp = 2 * z.tH + 2, z.L = z.tW + 1;
    z.tiles = (size_t)z.tH * (size_t)z.tW;
    int G = conv_groups(s->B), most = (s->B + G - 1) / G; /* images in the largest group */
    z.imgs = z.tiles >= WINO_TILES ? 1 : (int)(WINO_TILES / z.tiles);
    if (z.imgs > most) z.imgs = most;
    size_t kc16 = 16 * (size_t)s->K * (size_t)s->C, ch = (size_t)(s->K > s->C ? s->K : s->C);
    size_t planes = 16 * (ch * z.tiles * (size_t)z.imgs + 8), split = (size_t)z.Hp * (size_t)z.L + 16;
    z.u = 0, z.du = kc16, z.a = 2 * kc16, z.b = z.a + planes, z.even = z.b + planes, z.odd = z.even + split;
    z.row = z.odd + split, z.total = z.row + 16;
    return z;
}

typedef struct geom {
    int Ci, Hi, Wi, kh, kw, st, pad, Ho, Wo;
} geom;

/* Stride 2: one channel's rows split, S[(2 ih + par) Ls + pad + k] = img[ih][2 k + par] (zero
 * before and past the row), Ls = split_len floats each; 8 floats of slack for whole vectors. */
static int split_len(const geom *g) { return g->pad + g->Wo + g->kw + 8; }
static size_t split_size(const geom *g) { return g->st == 2 ? 2 * (size_t)g->Hi * (size_t)split_len(g) : 0; }

static conv_sizes sizes(const dt_conv_shape *s) {
    conv_sizes z;
    size_t kk = (size_t)s->kh * (size_t)s->kw, a = 0, b = (size_t)s->K * kk * (size_t)s->H * (size_t)s->W;
    if (s->H + 2 * s->pad >= s->kh && s->W + 2 * s->pad >= s->kw) {
        int Ho, Wo;
        dt_conv_out(s, &Ho, &Wo);
        a = (size_t)s->C * kk * (size_t)Ho * (size_t)Wo;
    }
    z.cols = a > b ? a : b;
    if (s->stride == 2) { /* split rows after the columns and their slack: a convolution's or a transposed one's */
        int Ho, Wo, Ht, Wt;
        dt_conv_out(s, &Ho, &Wo);
        dt_convt_out(s, 1, &Ht, &Wt);
        geom gc = {s->C, s->H, s->W, s->kh, s->kw, 2, s->pad, Ho > 0 ? Ho : 0, Wo > 0 ? Wo : 0};
        geom gt = {s->K, Ht, Wt, s->kh, s->kw, 2, s->pad, s->H, s->W};
        a = split_size(&gc), b = split_size(&gt);
        z.col = z.cols + 8 + (a > b ? a : b);
    } else {
        z.col = z.cols;
    }
    if (same_conv(s) && shift_layout(s).total > z.col) /* a transposed one of that shape unfolds */
        z.col = shift_layout(s).total;
    if (wino_conv(s) && wino_layout(s).total > z.col) z.col = wino_layout(s).total;
    z.w = (size_t)s->K * (size_t)s->C * kk;
    z.group = z.col + z.w + (size_t)s->K;
    return z;
}

size_t dt_conv_work(const dt_conv_shape *s) { return (size_t)conv_groups(s->B) * sizes(s).group; }

/* --- im2col / col2im -------------------------------------------------------------------------
 * Geometry: an image (Ci, Hi, Wi) seen through a kh x kw window at stride st and padding pad,
 * at Ho x Wo window positions. Column row r = (c kh + i) kw + j holds, for every position
 * (oh, ow), img[c][oh st - pad + i][ow st - pad + j] (0 outside the image). At stride 2 each
 * channel's rows are first split into their even and odd columns (see split_rows), so that
 * every column row is copied, or added, along contiguous floats. */

/* Window positions ow in [lo, hi) whose column ow st - pad + j falls inside [0, Wi). */
static void valid_range(int j, int st, int pad, int Wi, int Wo, int *lo, int *hi) {
    int a = pad - j, l = a > 0 ? (a + st - 1) / st : 0;
    int b = Wi - 1 + pad - j, h = b >= 0 ? b / st + 1 : 0;
    if (h > Wo) h = Wo;
    if (l > h) l = h;
    *lo = l, *hi = h;
}

/* GCC turns a loop of vector loads and stores into a call of memmove, which costs more than the
 * loop on rows this short; this keeps the loop. */
#if defined(__GNUC__) && !defined(__clang__)
#define KEEP_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define KEEP_LOOPS
#endif

/* Channel img (Hi, Wi) into S (see split_len). */
static void split_rows(const geom *g, const float *img, float *S) {
    int Ls = split_len(g), p = g->pad;
    for (int ih = 0; ih < g->Hi; ih++) {
        const float *src = img + (size_t)ih * (size_t)g->Wi;
        float *ev = S + (size_t)(2 * ih) * (size_t)Ls, *od = ev + Ls;
        int k = 0, pairs = g->Wi / 2;
        for (; k < p; k++) ev[k] = od[k] = 0.0f;
        for (k = 0; k < pairs; k++) ev[p + k] = src[2 * k], od[p + k] = src[2 * k + 1];
        if (g->Wi & 1) ev[p + k] = src[2 * k], od[p + k] = 0.0f, k++;
        for (; k < Ls - p; k++) ev[p + k] = od[p + k] = 0.0f;
    }
}

/* Where in S window position ow = 0 of column j reads image row ih: img[ih][2 ow - pad + j] =
 * S[split_at + ow]. */
static size_t split_at(const geom *g, int ih, int j) {
    int d = j - g->pad, par = d & 1, m = (d - par) / 2;
    return (size_t)(2 * ih + par) * (size_t)split_len(g) + (size_t)(g->pad + m);
}

/* n floats from src to dst, or zeros when src is NULL, 8 at a time: up to 7 past n into dst and
 * from src (the callers' next rows, written after, or slack). */
static inline KEEP_LOOPS void copy_row(float *dst, const float *src, int n) {
    int k = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; k < n; k += 8) _mm256_storeu_ps(dst + k, src ? _mm256_loadu_ps(src + k) : _mm256_setzero_ps());
#endif
    for (; k < n; k++) dst[k] = src ? src[k] : 0.0f;
}

/* d[0..n) += r[0..n), 8 at a time; the last part loads and stores whole vectors, keeping d's
 * values past n (d and r have 7 floats after n: the callers' slack or next rows). */
static inline void add_row(float *d, const float *r, int n) {
    int k = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; k + 8 <= n; k += 8) _mm256_storeu_ps(d + k, _mm256_add_ps(_mm256_loadu_ps(d + k), _mm256_loadu_ps(r + k)));
    if (k < n) {
        __m256 m = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
        __m256 a = _mm256_loadu_ps(d + k);
        _mm256_storeu_ps(d + k, _mm256_blendv_ps(a, _mm256_add_ps(a, _mm256_loadu_ps(r + k)), m));
        k = n;
    }
#endif
    for (; k < n; k++) d[k] += r[k];
}

/* im2col at stride 2: window rows oh in [lo, hi) read split rows 4 Ls apart (two image rows
 * down), the others are zeros. */
static KEEP_LOOPS void im2col_s2(const geom *g, const float *img, float *col, float *S) {
    size_t P = (size_t)g->Ho * (size_t)g->Wo, step = 4 * (size_t)split_len(g);
    int Wo = g->Wo;
    for (int c = 0; c < g->Ci; c++) {
        split_rows(g, img + (size_t)c * (size_t)g->Hi * (size_t)g->Wi, S);
        for (int i = 0; i < g->kh; i++) {
            int lo, hi;
            valid_range(i, 2, g->pad, g->Hi, g->Ho, &lo, &hi);
            for (int j = 0; j < g->kw; j++) {
                float *row = col + ((size_t)(c * g->kh + i) * (size_t)g->kw + (size_t)j) * P, *d = row + (size_t)lo * (size_t)Wo;
                copy_row(row, NULL, lo * Wo);
                if (hi > lo) {
                    const float *src = S + split_at(g, 2 * lo - g->pad + i, j);
                    for (int oh = lo; oh < hi; oh++, src += step, d += Wo) copy_row(d, src, Wo);
                }
                copy_row(row + (size_t)hi * (size_t)Wo, NULL, (g->Ho - hi) * Wo);
            }
        }
    }
}

/* col2im at stride 2: the columns added into each channel's split rows, then merged. */
static void col2im_s2(const geom *g, const float *col, float *img, float *S) {
    size_t P = (size_t)g->Ho * (size_t)g->Wo, Ls = (size_t)split_len(g), step = 4 * Ls;
    int Wo = g->Wo;
    for (int c = 0; c < g->Ci; c++) {
        memset(S, 0, split_size(g) * sizeof(float));
        for (int i = 0; i < g->kh; i++) {
            int lo, hi;
            valid_range(i, 2, g->pad, g->Hi, g->Ho, &lo, &hi);
            if (hi <= lo) continue;
            for (int j = 0; j < g->kw; j++) {
                const float *r = col + ((size_t)(c * g->kh + i) * (size_t)g->kw + (size_t)j) * P + (size_t)lo * (size_t)Wo;
                float *d = S + split_at(g, 2 * lo - g->pad + i, j);
                for (int oh = lo; oh < hi; oh++, d += step, r += Wo) add_row(d, r, Wo);
            }
        }
        float *dst = img + (size_t)c * (size_t)g->Hi * (size_t)g->Wi;
        for (int ih = 0; ih < g->Hi; ih++) {
            const float *ev = S + (size_t)(2 * ih) * Ls + g->pad, *od = ev + Ls;
            float *d = dst + (size_t)ih * (size_t)g->Wi;
            int w = 0;
#if defined(__AVX2__) && defined(__FMA__)
            for (; w + 16 <= g->Wi; w += 16) {
                __m256 a = _mm256_loadu_ps(ev + w / 2), b = _mm256_loadu_ps(od + w / 2);
                __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
                _mm256_storeu_ps(d + w, _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_storeu_ps(d + w + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
            }
#endif
            for (; w + 1 < g->Wi; w += 2) d[w] = ev[w / 2], d[w + 1] = od[w / 2];
            if (w < g->Wi) d[w] = ev[w / 2];
        }
    }
}

static void im2col(const geom *g, const float *img, float *col, float *S) {
    size_t P = (size_t)g->Ho * (size_t)g->Wo;
    if (g->st == 2) {
        im2col_s2(g, img, col, S);
        return;
    }
    for (int c = 0; c < g->Ci; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                float *row = col + ((size_t)(c * g->kh + i) * (size_t)g->kw + (size_t)j) * P;
                int lo, hi;
                valid_range(j, g->st, g->pad, g->Wi, g->Wo, &lo, &hi);
                for (int oh = 0; oh < g->Ho; oh++) {
                    float *r = row + (size_t)oh * (size_t)g->Wo;
                    int ih = oh * g->st - g->pad + i;
                    if (ih < 0 || ih >= g->Hi) {
                        memset(r, 0, (size_t)g->Wo * sizeof(float));
                        continue;
                    }
                    const float *src = img + ((size_t)c * (size_t)g->Hi + (size_t)ih) * (size_t)g->Wi;
                    for (int ow = 0; ow < lo; ow++) r[ow] = 0.0f;
                    if (g->st == 1) {
                        if (hi > lo) memcpy(r + lo, src + lo - g->pad + j, (size_t)(hi - lo) * sizeof(float));
                    } else {
                        for (int ow = lo; ow < hi; ow++) r[ow] = src[ow * g->st - g->pad + j];
                    }
                    for (int ow = hi; ow < g->Wo; ow++) r[ow] = 0.0f;
                }
            }
}

/* img (Ci, Hi, Wi) = the sum of every column entry that looks at each pixel (img is written). */
static void col2im(const geom *g, const float *col, float *img, float *S) {
    size_t P = (size_t)g->Ho * (size_t)g->Wo;
    if (g->st == 2) {
        col2im_s2(g, col, img, S);
        return;
    }
    memset(img, 0, (size_t)g->Ci * (size_t)g->Hi * (size_t)g->Wi * sizeof(float));
    for (int c = 0; c < g->Ci; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const float *row = col + ((size_t)(c * g->kh + i) * (size_t)g->kw + (size_t)j) * P;
                int lo, hi;
                valid_range(j, g->st, g->pad, g->Wi, g->Wo, &lo, &hi);
                for (int oh = 0; oh < g->Ho; oh++) {
                    int ih = oh * g->st - g->pad + i;
                    if (ih < 0 || ih >= g->Hi) continue;
                    const float *r = row + (size_t)oh * (size_t)g->Wo;
                    float *dst = img + ((size_t)c * (size_t)g->Hi + (size_t)ih) * (size_t)g->Wi;
                    if (g->st == 1) {
                        float *d = dst - g->pad + j;
                        for (int ow = lo; ow < hi; ow++) d[ow] += r[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) dst[ow * g->st - g->pad + j] += r[ow];
                    }
                }
            }
}

/* --- the batch-group driver ----------------------------------------------------------------- */

enum { OP_CONV_FWD, OP_CONV_BWD, OP_CONVT_FWD, OP_CONVT_BWD };

typedef struct conv_job {
    int op;
    const dt_conv_shape *s;
    int Ho, Wo; /* output size of the layer (conv or transposed) */
    const float *x, *w, *b, *dy;
    float *y, *dx;
    const float *u; /* Winograd's transformed weights, shared by the groups */
} conv_job;

/* src (n, H, W) into dst (n, Hp, Wp) inside a border of p zeros (dst's border and slack are
 * already zero). */
static void pad_into(const float *src, float *dst, int n, int H, int W, int p) {
    int Wp = W + 2 * p;
    size_t hpwp = (size_t)(H + 2 * p) * (size_t)Wp;
    for (int c = 0; c < n; c++)
        for (int h = 0; h < H; h++)
            memcpy(dst + (size_t)c * hpwp + (size_t)(h + p) * (size_t)Wp + (size_t)p, src + ((size_t)c * (size_t)H + (size_t)h) * (size_t)W,
                   (size_t)W * sizeof(float));
}

/* dst (n, H, W) = the first W columns of each row of wide (n, H, Wp). */
static void from_wide(const float *wide, float *dst, int n, int H, int W, int Wp) {
    for (int c = 0; c < n; c++)
        for (int h = 0; h < H; h++)
            memcpy(dst + ((size_t)c * (size_t)H + (size_t)h) * (size_t)W, wide + ((size_t)c * (size_t)H + (size_t)h) * (size_t)Wp,
                   (size_t)W * sizeof(float));
}

/* The stride-1 "same" convolution of items b0..b1 by shifted products (see the top). The weight
 * gradient too: tap t's (K, C) is the padded gradient's view at the output positions times the
 * padded input's view at the tap's offset, transposed (the views' extra columns read zeros in the
 * gradient), summed over the items in scr's by-tap buffer and added into dwp at the end. */
static void run_shifted(const duet_ctx *gc, const conv_job *j, int b0, int b1, float *scr, float *dwp) {
    const dt_conv_shape *s = j->s;
    int p = s->pad, H = s->H, W = s->W, Wp = W + 2 * p, kk = s->kh * s->kw, C = s->C, K = s->K;
    int64_t hpwp = (int64_t)(H + 2 * p) * Wp, P = (int64_t)H * Wp, HW = (int64_t)H * W;
    size_t KC = (size_t)K * (size_t)C, xs = (size_t)C * (size_t)HW, ys = (size_t)K * (size_t)HW;
    shift_sizes z = shift_layout(s);
    float *xp = scr + z.xp, *dyp = scr + z.dyp, *wide = scr + z.wide, *wt = scr + z.wt, *dwt = scr + z.dwt;
    int bwd = j->op == OP_CONV_BWD;
    memset(xp, 0, z.wide * sizeof(float)); /* borders and slack stay zero */
    if (dwp) memset(dwt, 0, (size_t)kk * KC * sizeof(float));
    for (int k = 0; k < K; k++) /* weights (K, C, kh, kw) by tap: wt[t] (K, C) */
        for (int c = 0; c < C; c++)
            for (int t = 0; t < kk; t++)
                wt[(size_t)t * KC + (size_t)k * (size_t)C + (size_t)c] = j->w[((size_t)k * (size_t)C + (size_t)c) * (size_t)kk + (size_t)t];
    for (int b = b0; b < b1; b++) {
        const float *xb = j->x + (size_t)b * xs;
        if (!bwd || dwp) pad_into(xb, xp, C, H, W, p);
        if (!bwd) {
            for (int t = 0; t < kk; t++) {
                int64_t off = (int64_t)(t / s->kw) * Wp + t % s->kw;
                dt_gemm(gc, wide, P, wt + (size_t)t * KC, C, 0, xp + off, hpwp, 0, 1.0f, t ? 1.0f : 0.0f, K, P, C);
            }
            float *yb = j->y + (size_t)b * ys;
            from_wide(wide, yb, K, H, W, Wp);
            if (j->b)
                for (int k = 0; k < K; k++)
                    for (int64_t q = 0; q < HW; q++) yb[(size_t)k * (size_t)HW + (size_t)q] += j->b[k];
            continue;
        }
        pad_into(j->dy + (size_t)b * ys, dyp, K, H, W, p);
        if (dwp)
            for (int t = 0; t < kk; t++) {
                int64_t off = (int64_t)(t / s->kw) * Wp + t % s->kw;
                dt_gemm(gc, dwt + (size_t)t * KC, C, dyp + (int64_t)p * Wp + p, hpwp, 0, xp + off, hpwp, 1, 1.0f, 1.0f, K, C, P);
            }
        if (j->dx) { /* dx = the flipped taps' products with the padded gradient */
            for (int t = 0; t < kk; t++) {
                int64_t off = (int64_t)(s->kh - 1 - t / s->kw) * Wp + (s->kw - 1 - t % s->kw);
                dt_gemm(gc, wide, P, wt + (size_t)t * KC, C, 1, dyp + off, hpwp, 0, 1.0f, t ? 1.0f : 0.0f, C, P, K);
            }
            from_wide(wide, j->dx + (size_t)b * xs, C, H, W, Wp);
        }
    }
    if (dwp)
        for (int k = 0; k < K; k++)
            for (int c = 0; c < C; c++)
                for (int t = 0; t < kk; t++)
                    dwp[((size_t)k * (size_t)C + (size_t)c) * (size_t)kk + (size_t)t] += dwt[(size_t)t * KC + (size_t)k * (size_t)C + (size_t)c];
}

/* --- Winograd F(2x2, 3x3) ----------------------------------------------------------------------
 * Each 2x2 output tile comes from the 4x4 input tile d around it (rows 2ty-1.., columns 2tx-1..):
 *   y = A^T [(G g G^T) . (B^T d B)] A   (Lavin & Gray 2016), summed over input channels, with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * The channel sums at each of the 16 entries xi are products (K, C) x (C, tiles) by dt_gemm: 16
 * multiplications per tile and channel pair where the direct sum has 36 (2.25x fewer). Images
 * are cut into tiles down and across, the last ones reaching past an odd edge into zeros. The
 * input's gradient is the same convolution of dy with the weights flipped and transposed; the
 * weight gradient is G^T [sum over tiles (A dY A^T) . (B^T d B)] G, products (K, tiles) x
 * (tiles, C). Rows are split into even and odd columns first, so that every transform runs
 * along contiguous rows of tiles. */

/* G g G^T of the 3x3 g into u[xi us] (xi = 4 i + j). */
static void wino_g(const float *g, float *u, size_t us) {
    float t[4][3];
    for (int j = 0; j < 3; j++) {
        t[0][j] = g[j], t[3][j] = g[6 + j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]), t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
    }
    for (int i = 0; i < 4; i++) {
        u[(size_t)(4 * i) * us] = t[i][0], u[(size_t)(4 * i + 3) * us] = t[i][2];
        u[(size_t)(4 * i + 1) * us] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[(size_t)(4 * i + 2) * us] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
    }
}

/* dg (3x3) += G^T du G, du's entry xi at du[xi ds]. */
static void wino_gt(const float *du, size_t ds, float *dg) {
    float t[3][4];
    for (int j = 0; j < 4; j++) {
        float d0 = du[(size_t)j * ds], d1 = du[(size_t)(4 + j) * ds], d2 = du[(size_t)(8 + j) * ds], d3 = du[(size_t)(12 + j) * ds];
        t[0][j] = d0 + 0.5f * (d1 + d2), t[1][j] = 0.5f * (d1 - d2), t[2][j] = 0.5f * (d1 + d2) + d3;
    }
    for (int i = 0; i < 3; i++) {
        dg[3 * i] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
        dg[3 * i + 1] += 0.5f * (t[i][1] - t[i][2]);
        dg[3 * i + 2] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
    }
}

/* One channel (H, W), shifted down and right by off (0 or 1) zeros, as Hp rows of its even
 * columns E and its odd columns O (L each; zero past the image). With off 1, O holds the image's
 * even columns and E its odd ones one place on. The vector loop reads 16 columns at a time, past
 * the row's end into the floats after it (zeroed in the registers) where `avail` (the floats
 * readable from img on) allows, masked where it does not; it writes whole vectors: up to 8
 * floats past a row, into the next row (written after it) or the buffer's slack. */
static void wino_split(const float *img, size_t avail, int H, int W, int off, const wino_sizes *z, float *restrict E,
                       float *restrict O) {
    int L = z->L;
    (void)avail; /* used by the vector loop */
    for (int r = 0; r < z->Hp; r++) {
        float *e = E + (size_t)r * (size_t)L, *o = O + (size_t)r * (size_t)L;
        int h = r - off, i = 0;
        if (h < 0 || h >= H) {
            memset(e, 0, (size_t)L * sizeof(float));
            memset(o, 0, (size_t)L * sizeof(float));
            continue;
        }
        const float *src = img + (size_t)h * (size_t)W;
        float *ev = off ? o : e, *od = off ? e + 1 : o; /* the image's columns 2i and 2i + 1 */
        e[0] = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
        for (; 2 * i < W; i += 8) {
            __m256 a, b;
            if (2 * i + 16 <= W) {
                a = _mm256_loadu_ps(src + 2 * i), b = _mm256_loadu_ps(src + 2 * i + 8);
            } else {
                __m256i q = _mm256_add_epi32(_mm256_set1_epi32(2 * i), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), w = _mm256_set1_epi32(W);
                __m256i m0 = _mm256_cmpgt_epi32(w, q), m1 = _mm256_cmpgt_epi32(w, _mm256_add_epi32(q, _mm256_set1_epi32(8)));
                if ((size_t)h * (size_t)W + (size_t)(2 * i) + 16 <= avail) { /* a masked load is slow */
                    a = _mm256_and_ps(_mm256_loadu_ps(src + 2 * i), _mm256_castsi256_ps(m0));
                    b = _mm256_and_ps(_mm256_loadu_ps(src + 2 * i + 8), _mm256_castsi256_ps(m1));
                } else {
                    a = _mm256_maskload_ps(src + 2 * i, m0), b = _mm256_maskload_ps(src + 2 * i + 8, m1);
                }
            }
            __m256 pe = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), po = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
            _mm256_storeu_ps(ev + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pe), _MM_SHUFFLE(3, 1, 2, 0))));
            _mm256_storeu_ps(od + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(po), _MM_SHUFFLE(3, 1, 2, 0))));
        }
#endif
        for (; 2 * i < W; i++) ev[i] = src[2 * i], od[i] = 2 * i + 1 < W ? src[2 * i + 1] : 0.0f;
        for (int k = i; k < L; k++) ev[k] = 0.0f;
        for (int k = i; k < L - off; k++) od[k] = 0.0f;
    }
}

/* B^T d B of every 4x4 tile of the split rows into v[xi ps + ty tW + tx]. The vector loops read
 * and write whole vectors: up to 7 tiles past a row of tiles, into the next row (written after
 * it), the next image or channel (wino_tiles writes those later) or a plane's slack. */
static void wino_in(const float *E, const float *O, const wino_sizes *z, float *restrict v, size_t ps) {
    static const int rx[4] = {0, 1, 2, 1}, ry[4] = {2, 2, 1, 3}; /* B^T's rows: row rx + sg row ry */
    static const float sg[4] = {-1.0f, 1.0f, -1.0f, -1.0f};
    int L = z->L, tW = z->tW;
    for (int ty = 0; ty < z->tH; ty++)
        for (int k = 0; k < 4; k++) {
            const float *ex = E + (size_t)(2 * ty + rx[k]) * (size_t)L, *ey = E + (size_t)(2 * ty + ry[k]) * (size_t)L;
            const float *ox = O + (size_t)(2 * ty + rx[k]) * (size_t)L, *oy = O + (size_t)(2 * ty + ry[k]) * (size_t)L;
            float g = sg[k], *v0 = v + (size_t)(4 * k) * ps + (size_t)ty * (size_t)tW;
            float *v1 = v0 + ps, *v2 = v1 + ps, *v3 = v2 + ps;
            int tx = 0;
#if defined(__AVX2__) && defined(__FMA__)
            __m256 gv = _mm256_set1_ps(g);
            for (; tx < tW; tx += 8) {
                __m256 e0 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(ey + tx), _mm256_loadu_ps(ex + tx));
                __m256 e1 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(ey + tx + 1), _mm256_loadu_ps(ex + tx + 1));
                __m256 o0 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(oy + tx), _mm256_loadu_ps(ox + tx));
                __m256 o1 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(oy + tx + 1), _mm256_loadu_ps(ox + tx + 1));
                _mm256_storeu_ps(v0 + tx, _mm256_sub_ps(e0, e1));
                _mm256_storeu_ps(v1 + tx, _mm256_add_ps(o0, e1));
                _mm256_storeu_ps(v2 + tx, _mm256_sub_ps(e1, o0));
                _mm256_storeu_ps(v3 + tx, _mm256_sub_ps(o0, o1));
            }
#endif
            for (; tx < tW; tx++) {
                float e0 = ex[tx] + g * ey[tx], e1 = ex[tx + 1] + g * ey[tx + 1];
                float o0 = ox[tx] + g * oy[tx], o1 = ox[tx + 1] + g * oy[tx + 1];
                v0[tx] = e0 - e1, v1[tx] = o0 + e1, v2[tx] = e1 - o0, v3[tx] = o0 - o1;
            }
        }
}

/* A dY A^T of every 2x2 tile of the split rows (unshifted) into m[xi ps + ty tW + tx]; whole
 * vectors as in wino_in. */
static void wino_dy(const float *E, const float *O, const wino_sizes *z, float *restrict m, size_t ps) {
    static const float a[4] = {1.0f, 1.0f, 1.0f, 0.0f}, b[4] = {0.0f, 1.0f, -1.0f, -1.0f}; /* A's rows */
    int L = z->L, tW = z->tW;
    for (int ty = 0; ty < z->tH; ty++)
        for (int k = 0; k < 4; k++) {
            const float *e0 = E + (size_t)(2 * ty) * (size_t)L, *e1 = e0 + L, *o0 = O + (size_t)(2 * ty) * (size_t)L, *o1 = o0 + L;
            float *m0 = m + (size_t)(4 * k) * ps + (size_t)ty * (size_t)tW, *m1 = m0 + ps, *m2 = m1 + ps, *m3 = m2 + ps;
            int tx = 0;
#if defined(__AVX2__) && defined(__FMA__)
            __m256 av = _mm256_set1_ps(a[k]), bv = _mm256_set1_ps(b[k]);
            for (; tx < tW; tx += 8) {
                __m256 p = _mm256_fmadd_ps(bv, _mm256_loadu_ps(e1 + tx), _mm256_mul_ps(av, _mm256_loadu_ps(e0 + tx)));
                __m256 q = _mm256_fmadd_ps(bv, _mm256_loadu_ps(o1 + tx), _mm256_mul_ps(av, _mm256_loadu_ps(o0 + tx)));
                _mm256_storeu_ps(m0 + tx, p);
                _mm256_storeu_ps(m1 + tx, _mm256_add_ps(p, q));
                _mm256_storeu_ps(m2 + tx, _mm256_sub_ps(p, q));
                _mm256_storeu_ps(m3 + tx, _mm256_sub_ps(_mm256_setzero_ps(), q));
            }
#endif
            for (; tx < tW; tx++) {
                float p = a[k] * e0[tx] + b[k] * e1[tx], q = a[k] * o0[tx] + b[k] * o1[tx];
                m0[tx] = p, m1[tx] = p + q, m2[tx] = p - q, m3[tx] = -q;
            }
        }
}

/* Every channel of n images (nch, H, W) into 16 planes (nch, n tiles) ps apart: the input
 * transform (grad 0) or the gradient's (grad 1). Channel by channel, images in order (see
 * wino_in). */
static void wino_tiles(const float *img, int nch, int n, int H, int W, int grad, const wino_sizes *z, float *scr,
                       float *v, size_t ps) {
    size_t T = (size_t)n * z->tiles, HW = (size_t)H * (size_t)W;
    for (int c = 0; c < nch; c++)
        for (int i = 0; i < n; i++) {
            size_t at = ((size_t)i * (size_t)nch + (size_t)c) * HW;
            wino_split(img + at, (size_t)n * (size_t)nch * HW - at, H, W, !grad, z, scr + z->even, scr + z->odd);
            float *dst = v + (size_t)c * T + (size_t)i * z->tiles;
            if (grad) wino_dy(scr + z->even, scr + z->odd, z, dst, ps);
            else wino_in(scr + z->even, scr + z->odd, z, dst, ps);
        }
}

/* Output channels of n images (nch, H, W) = A^T m A of each tile of the planes (nch, n tiles)
 * ps apart, plus bias[c] (bias may be NULL). The vector loop stores 16 columns at a time into
 * the output rows, the last ones of a row through scratch r. */
static void wino_out(const float *m, int nch, int n, int H, int W, const float *bias, const wino_sizes *z, float *scr,
                     float *y, size_t ps) {
    int tW = z->tW;
    size_t T = (size_t)n * z->tiles, HW = (size_t)H * (size_t)W;
    (void)scr; /* used by the vector loop */
    for (int i = 0; i < n; i++)
        for (int c = 0; c < nch; c++) {
            float bc = bias ? bias[c] : 0.0f, *yc = y + ((size_t)i * (size_t)nch + (size_t)c) * HW;
            for (int ty = 0; ty < z->tH; ty++) {
                const float *q = m + (size_t)c * T + (size_t)i * z->tiles + (size_t)ty * (size_t)tW;
                float *y0 = yc + (size_t)(2 * ty) * (size_t)W, *y1 = 2 * ty + 1 < H ? y0 + W : NULL;
                int tx = 0;
#if defined(__AVX2__) && defined(__FMA__)
                __m256 bv = _mm256_set1_ps(bc);
                float *r = scr + z->row;
                for (; tx < tW; tx += 8) { /* past the row: the next row's tiles or slack, unused */
                    __m256 u0[4], u1[4];
                    for (int s = 0; s < 4; s++) {
                        __m256 a0 = _mm256_loadu_ps(q + (size_t)s * ps + tx), a1 = _mm256_loadu_ps(q + (size_t)(4 + s) * ps + tx);
                        __m256 a2 = _mm256_loadu_ps(q + (size_t)(8 + s) * ps + tx), a3 = _mm256_loadu_ps(q + (size_t)(12 + s) * ps + tx);
                        u0[s] = _mm256_add_ps(_mm256_add_ps(a0, a1), a2), u1[s] = _mm256_sub_ps(_mm256_sub_ps(a1, a2), a3);
                    }
                    for (int h = 0; h < 2; h++) {
                        __m256 *u = h ? u1 : u0;
                        float *yr = h ? y1 : y0;
                        if (!yr) break;
                        __m256 ya = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(u[0], u[1]), u[2]), bv);
                        __m256 yb = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(u[1], u[2]), u[3]), bv);
                        __m256 lo = _mm256_unpacklo_ps(ya, yb), hi = _mm256_unpackhi_ps(ya, yb);
                        int left = W - 2 * tx;
                        float *d = left >= 16 ? yr + 2 * tx : r;
                        _mm256_storeu_ps(d, _mm256_permute2f128_ps(lo, hi, 0x20));
                        _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
                        for (int k = 0; left < 16 && k < left; k++) yr[2 * tx + k] = r[k];
                    }
                }
#endif
                for (; tx < tW; tx++) {
                    float u0[4], u1[4];
                    for (int s = 0; s < 4; s++) {
                        float a0 = q[(size_t)s * ps + tx], a1 = q[(size_t)(4 + s) * ps + tx];
                        float a2 = q[(size_t)(8 + s) * ps + tx], a3 = q[(size_t)(12 + s) * ps + tx];
                        u0[s] = a0 + a1 + a2, u1[s] = a1 - a2 - a3;
                    }
                    float v[4] = {u0[0] + u0[1] + u0[2] + bc, u0[1] - u0[2] - u0[3] + bc, u1[0] + u1[1] + u1[2] + bc,
                                  u1[1] - u1[2] - u1[3] + bc};
                    for (int k = 0; k < 4; k++) {
                        float *yr = k < 2 ? y0 : y1;
                        if (yr && 2 * tx + (k & 1) < W) yr[2 * tx + (k & 1)] = v[k];
                    }
                }
            }
        }
}

/* The transformed weights into u: for the forward (16, K, C); for the input's gradient the
 * flipped weights, (16, C, K). Once per call, before the groups share it. */
static void wino_weights(int nth, const conv_job *j, float *u) {
    const dt_conv_shape *s = j->s;
    size_t KC = (size_t)s->K * (size_t)s->C;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && KC >= 1024)
    for (int k = 0; k < s->K; k++)
        for (int c = 0; c < s->C; c++) {
            const float *g = j->w + ((size_t)k * (size_t)s->C + (size_t)c) * 9;
            if (j->op == OP_CONV_FWD) {
                wino_g(g, u + (size_t)k * (size_t)s->C + (size_t)c, KC);
            } else {
                float f[9];
                for (int t = 0; t < 9; t++) f[t] = g[8 - t];
                wino_g(f, u + (size_t)c * (size_t)s->K + (size_t)k, KC);
            }
        }
}

/* The convolution of items b0..b1 by Winograd's products, in chunks of z.imgs images, with the
 * transformed weights j->u; the weight gradient is summed over the chunks in the transformed
 * domain and added into dwp at the end. Each plane has 8 floats of slack (see wino_in). */
static void run_wino(const duet_ctx *gc, const conv_job *j, int b0, int b1, float *scr, float *dwp) {
    const dt_conv_shape *s = j->s;
    int C = s->C, K = s->K, H = s->H, W = s->W;
    wino_sizes z = wino_layout(s);
    size_t KC = (size_t)K * (size_t)C, HW = (size_t)H * (size_t)W, xs = (size_t)C * HW, ys = (size_t)K * HW;
    const float *u = j->u;
    float *du = scr + z.du, *va = scr + z.a, *vb = scr + z.b;
    if (dwp) memset(du, 0, 16 * KC * sizeof(float));
    for (int b = b0; b < b1; b += z.imgs) {
        int n = b1 - b < z.imgs ? b1 - b : z.imgs;
        int64_t T = (int64_t)n * (int64_t)z.tiles;
        size_t cp = (size_t)C * (size_t)T + 8, kp = (size_t)K * (size_t)T + 8; /* plane strides */
        if (j->op == OP_CONV_FWD) {
            wino_tiles(j->x + (size_t)b * xs, C, n, H, W, 0, &z, scr, va, cp);
            for (int xi = 0; xi < 16; xi++)
                dt_gemm(gc, vb + xi * kp, T, u + xi * KC, C, 0, va + xi * cp, T, 0, 1.0f, 0.0f, K, T, C);
            wino_out(vb, K, n, H, W, j->b, &z, scr, j->y + (size_t)b * ys, kp);
            continue;
        }
        if (dwp) {
            wino_tiles(j->x + (size_t)b * xs, C, n, H, W, 0, &z, scr, va, cp);
            wino_tiles(j->dy + (size_t)b * ys, K, n, H, W, 1, &z, scr, vb, kp);
            for (int xi = 0; xi < 16; xi++)
                dt_gemm(gc, du + xi * KC, C, vb + xi * kp, T, 0, va + xi * cp, T, 1, 1.0f, 1.0f, K, C, T);
        }
        if (j->dx) {
            wino_tiles(j->dy + (size_t)b * ys, K, n, H, W, 0, &z, scr, vb, kp);
            for (int xi = 0; xi < 16; xi++)
                dt_gemm(gc, va + xi * cp, T, u + xi * KC, K, 0, vb + xi * kp, T, 0, 1.0f, 0.0f, C, T, K);
            wino_out(va, C, n, H, W, NULL, &z, scr, j->dx + (size_t)b * xs, cp);
        }
    }
    if (dwp)
        for (int k = 0; k < K; k++)
            for (int c = 0; c < C; c++) {
                size_t kc = (size_t)k * (size_t)C + (size_t)c;
                wino_gt(du + kc, KC, dwp + kc * 9);
            }
}

/* Items b0..b1 with one thread's gemm context `gc` and its slice of the scratch. */
static void run_items(const duet_ctx *gc, const conv_job *j, int b0, int b1, float *col, float *dwp, float *dbp) {
    const dt_conv_shape *s = j->s;
    int64_t kk = (int64_t)s->kh * s->kw, HW = (int64_t)s->H * s->W, P = (int64_t)j->Ho * j->Wo;
    int64_t Ckk = (int64_t)s->C * kk, Kkk = (int64_t)s->K * kk;
    size_t xs = (size_t)s->C * (size_t)HW, ys = (size_t)s->K * (size_t)P;
    /* conv: the input is unfolded at the output's positions; transposed: the output is
     * unfolded at the input's positions */
    geom gconv = {s->C, s->H, s->W, s->kh, s->kw, s->stride, s->pad, j->Ho, j->Wo};
    geom gt = {s->K, j->Ho, j->Wo, s->kh, s->kw, s->stride, s->pad, s->H, s->W};
    float *S = s->stride == 2 ? col + sizes(s).cols + 8 : NULL; /* split rows */
    int conv = j->op == OP_CONV_FWD || j->op == OP_CONV_BWD, wino = conv && wino_conv(s);
    int unfolds = !wino && !(conv && same_conv(s)); /* else the items go through one routine */
    if (wino) run_wino(gc, j, b0, b1, col, dwp);
    else if (!unfolds) run_shifted(gc, j, b0, b1, col, dwp);
    for (int b = b0; b < b1; b++) {
        const float *xb = j->x ? j->x + (size_t)b * xs : NULL;
        const float *dyb = j->dy ? j->dy + (size_t)b * ys : NULL;
        switch (unfolds ? j->op : -1) {
        case OP_CONV_FWD: {
            float *yb = j->y + (size_t)b * ys;
            im2col(&gconv, xb, col, S);
            dt_gemm(gc, yb, P, j->w, Ckk, 0, col, P, 0, 1.0f, 0.0f, s->K, P, Ckk);
            if (j->b)
                for (int k = 0; k < s->K; k++)
                    for (int64_t p = 0; p < P; p++) yb[(size_t)k * (size_t)P + (size_t)p] += j->b[k];
            break;
        }
        case OP_CONV_BWD:
            im2col(&gconv, xb, col, S);
            dt_gemm(gc, dwp, Ckk, dyb, P, 0, col, P, 1, 1.0f, 1.0f, s->K, Ckk, P);
            if (j->dx) {
                dt_gemm(gc, col, P, j->w, Ckk, 1, dyb, P, 0, 1.0f, 0.0f, Ckk, P, s->K);
                col2im(&gconv, col, j->dx + (size_t)b * xs, S);
            }
            break;
        case OP_CONVT_FWD: {
            float *yb = j->y + (size_t)b * ys;
            dt_gemm(gc, col, HW, j->w, Kkk, 1, xb, HW, 0, 1.0f, 0.0f, Kkk, HW, s->C);
            col2im(&gt, col, yb, S);
            if (j->b)
                for (int k = 0; k < s->K; k++)
                    for (int64_t p = 0; p < P; p++) yb[(size_t)k * (size_t)P + (size_t)p] += j->b[k];
            break;
        }
        case OP_CONVT_BWD:
            im2col(&gt, dyb, col, S);
            dt_gemm(gc, dwp, Kkk, xb, HW, 0, col, HW, 1, 1.0f, 1.0f, s->C, Kkk, HW);
            if (j->dx) dt_gemm(gc, j->dx + (size_t)b * xs, HW, j->w, Kkk, 0, col, HW, 0, 1.0f, 0.0f, s->C, HW, Kkk);
            break;
        default:
            break;
        }
        if (dyb && dbp)
            for (int k = 0; k < s->K; k++) dbp[k] += (float)dt_sum_d(dyb + (size_t)k * (size_t)P, (size_t)P);
    }
}

static void run_job(const duet_ctx *ctx, const conv_job *j, float *dw, float *db, float *work) {
    const dt_conv_shape *s = j->s;
    int G = conv_groups(s->B), nth = dt_threads(ctx);
    int nt = nth < G ? nth : G;
    conv_sizes z = sizes(s);
    int bwd = j->op == OP_CONV_BWD || j->op == OP_CONVT_BWD;
    duet_ctx one = {0};
    if (ctx) one = *ctx;
    one.n_threads = 1;
    const duet_ctx *gc = nt > 1 ? &one : ctx; /* a lone group lets dt_gemm use the threads */
    conv_job jw = *j;
    if ((j->op == OP_CONV_FWD || (j->op == OP_CONV_BWD && j->dx)) && wino_conv(s)) { /* in group 0's slot */
        wino_weights(nth, j, work + wino_layout(s).u);
        jw.u = work + wino_layout(s).u;
    }
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int g = 0; g < G; g++) {
        float *col = work + (size_t)g * z.group, *dwp = col + z.col, *dbp = dwp + z.w;
        if (bwd) {
            memset(dwp, 0, z.w * sizeof(float));
            memset(dbp, 0, (size_t)s->K * sizeof(float));
        }
        int b0 = (int)((int64_t)s->B * g / G), b1 = (int)((int64_t)s->B * (g + 1) / G);
        run_items(gc, &jw, b0, b1, col, bwd ? dwp : NULL, bwd && db ? dbp : NULL);
    }
    if (!bwd) return;
    /* partial gradients added in group order */
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && z.w * (size_t)G > 65536)
    for (size_t i = 0; i < z.w; i++) {
        float acc = 0.0f;
        for (int g = 0; g < G; g++) acc += work[(size_t)g * z.group + z.col + i];
        dw[i] += acc;
    }
    if (db)
        for (int k = 0; k < s->K; k++) {
            float acc = 0.0f;
            for (int g = 0; g < G; g++) acc += work[(size_t)g * z.group + z.col + z.w + (size_t)k];
            db[k] += acc;
        }
}

void dt_conv2d_fwd(const duet_ctx *ctx, const dt_conv_shape *s, const float *x, const float *w, const float *b,
                   float *y, float *work) {
    conv_job j = {OP_CONV_FWD, s, 0, 0, x, w, b, NULL, y, NULL, NULL};
    dt_conv_out(s, &j.Ho, &j.Wo);
    run_job(ctx, &j, NULL, NULL, work);
}

void dt_conv2d_bwd(const duet_ctx *ctx, const dt_conv_shape *s, const float *dy, const float *x, const float *w,
                   float *dx, float *dw, float *db, float *work) {
    conv_job j = {OP_CONV_BWD, s, 0, 0, x, w, NULL, dy, NULL, dx, NULL};
    dt_conv_out(s, &j.Ho, &j.Wo);
    run_job(ctx, &j, dw, db, work);
}

void dt_convt2d_fwd(const duet_ctx *ctx, const dt_conv_shape *s, int opad, const float *x, const float *w,
                    const float *b, float *y, float *work) {
    conv_job j = {OP_CONVT_FWD, s, 0, 0, x, w, b, NULL, y, NULL, NULL};
    dt_convt_out(s, opad, &j.Ho, &j.Wo);
    run_job(ctx, &j, NULL, NULL, work);
}

void dt_convt2d_bwd(const duet_ctx *ctx, const dt_conv_shape *s, int opad, const float *dy, const float *x,
                    const float *w, float *dx, float *dw, float *db, float *work) {
    conv_job j = {OP_CONVT_BWD, s, 0, 0, x, w, NULL, dy, NULL, dx, NULL};
    dt_convt_out(s, opad, &j.Ho, &j.Wo);
    run_job(ctx, &j, dw, db, work);
}

/* --- plain twins: direct loops, each output summed in double --------------------------------- */

/* Index of a 4-D NCHW-like array (d0, d1, d2, d3). */
#define AT4(d1, d2, d3, a, b, c, e) ((((size_t)(a) * (size_t)(d1) + (size_t)(b)) * (size_t)(d2) + (size_t)(c)) * (size_t)(d3) + (size_t)(e))

void dt_conv2d_fwd_ref(const dt_conv_shape *s, const float *x, const float *w, const float *b, float *y) {
    int Ho, Wo;
    dt_conv_out(s, &Ho, &Wo);
    for (int n = 0; n < s->B; n++)
        for (int k = 0; k < s->K; k++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double acc = b ? b[k] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int i = 0; i < s->kh; i++)
                            for (int jj = 0; jj < s->kw; jj++) {
                                int ih = oh * s->stride - s->pad + i, iw = ow * s->stride - s->pad + jj;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)x[AT4(s->C, s->H, s->W, n, c, ih, iw)] *
                                       w[AT4(s->C, s->kh, s->kw, k, c, i, jj)];
                            }
                    y[AT4(s->K, Ho, Wo, n, k, oh, ow)] = (float)acc;
                }
}

/* o = (p + pad - i) / stride when that is a whole number in [0, n), else -1 */
static int src_pos(int p, int pad, int i, int stride, int n) {
    int a = p + pad - i;
    if (a < 0 || a % stride) return -1;
    a /= stride;
    return a < n ? a : -1;
}

void dt_conv2d_bwd_ref(const dt_conv_shape *s, const float *dy, const float *x, const float *w, float *dx,
                       float *dw, float *db) {
    int Ho, Wo;
    dt_conv_out(s, &Ho, &Wo);
    if (dx)
        for (int n = 0; n < s->B; n++)
            for (int c = 0; c < s->C; c++)
                for (int ih = 0; ih < s->H; ih++)
                    for (int iw = 0; iw < s->W; iw++) {
                        double acc = 0.0;
                        for (int k = 0; k < s->K; k++)
                            for (int i = 0; i < s->kh; i++)
                                for (int jj = 0; jj < s->kw; jj++) {
                                    int oh = src_pos(ih, s->pad, i, s->stride, Ho);
                                    int ow = src_pos(iw, s->pad, jj, s->stride, Wo);
                                    if (oh < 0 || ow < 0) continue;
                                    acc += (double)dy[AT4(s->K, Ho, Wo, n, k, oh, ow)] *
                                           w[AT4(s->C, s->kh, s->kw, k, c, i, jj)];
                                }
                        dx[AT4(s->C, s->H, s->W, n, c, ih, iw)] = (float)acc;
                    }
    for (int k = 0; k < s->K; k++)
        for (int c = 0; c < s->C; c++)
            for (int i = 0; i < s->kh; i++)
                for (int jj = 0; jj < s->kw; jj++) {
                    double acc = 0.0;
                    for (int n = 0; n < s->B; n++)
                        for (int oh = 0; oh < Ho; oh++)
                            for (int ow = 0; ow < Wo; ow++) {
                                int ih = oh * s->stride - s->pad + i, iw = ow * s->stride - s->pad + jj;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)dy[AT4(s->K, Ho, Wo, n, k, oh, ow)] *
                                       x[AT4(s->C, s->H, s->W, n, c, ih, iw)];
                            }
                    dw[AT4(s->C, s->kh, s->kw, k, c, i, jj)] += (float)acc;
                }
    if (db)
        for (int k = 0; k < s->K; k++) {
            double acc = 0.0;
            for (int n = 0; n < s->B; n++)
                for (int p = 0; p < Ho * Wo; p++) acc += dy[((size_t)n * (size_t)s->K + (size_t)k) * (size_t)(Ho * Wo) + (size_t)p];
            db[k] += (float)acc;
        }
}

void dt_convt2d_fwd_ref(const dt_conv_shape *s, int opad, const float *x, const float *w, const float *b, float *y) {
    int Ho, Wo;
    dt_convt_out(s, opad, &Ho, &Wo);
    for (int n = 0; n < s->B; n++)
        for (int k = 0; k < s->K; k++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double acc = b ? b[k] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int i = 0; i < s->kh; i++)
                            for (int jj = 0; jj < s->kw; jj++) {
                                int iy = src_pos(oy, s->pad, i, s->stride, s->H);
                                int ix = src_pos(ox, s->pad, jj, s->stride, s->W);
                                if (iy < 0 || ix < 0) continue;
                                acc += (double)x[AT4(s->C, s->H, s->W, n, c, iy, ix)] *
                                       w[AT4(s->K, s->kh, s->kw, c, k, i, jj)];
                            }
                    y[AT4(s->K, Ho, Wo, n, k, oy, ox)] = (float)acc;
                }
}

void dt_convt2d_bwd_ref(const dt_conv_shape *s, int opad, const float *dy, const float *x, const float *w,
                        float *dx, float *dw, float *db) {
    int Ho, Wo;
    dt_convt_out(s, opad, &Ho, &Wo);
    if (dx)
        for (int n = 0; n < s->B; n++)
            for (int c = 0; c < s->C; c++)
                for (int iy = 0; iy < s->H; iy++)
                    for (int ix = 0; ix < s->W; ix++) {
                        double acc = 0.0;
                        for (int k = 0; k < s->K; k++)
                            for (int i = 0; i < s->kh; i++)
                                for (int jj = 0; jj < s->kw; jj++) {
                                    int oy = iy * s->stride - s->pad + i, ox = ix * s->stride - s->pad + jj;
                                    if (oy < 0 || oy >= Ho || ox < 0 || ox >= Wo) continue;
                                    acc += (double)dy[AT4(s->K, Ho, Wo, n, k, oy, ox)] *
                                           w[AT4(s->K, s->kh, s->kw, c, k, i, jj)];
                                }
                        dx[AT4(s->C, s->H, s->W, n, c, iy, ix)] = (float)acc;
                    }
    for (int c = 0; c < s->C; c++)
        for (int k = 0; k < s->K; k++)
            for (int i = 0; i < s->kh; i++)
                for (int jj = 0; jj < s->kw; jj++) {
                    double acc = 0.0;
                    for (int n = 0; n < s->B; n++)
                        for (int iy = 0; iy < s->H; iy++)
                            for (int ix = 0; ix < s->W; ix++) {
                                int oy = iy * s->stride - s->pad + i, ox = ix * s->stride - s->pad + jj;
                                if (oy < 0 || oy >= Ho || ox < 0 || ox >= Wo) continue;
                                acc += (double)dy[AT4(s->K, Ho, Wo, n, k, oy, ox)] *
                                       x[AT4(s->C, s->H, s->W, n, c, iy, ix)];
                            }
                    dw[AT4(s->K, s->kh, s->kw, c, k, i, jj)] += (float)acc;
                }
    if (db)
        for (int k = 0; k < s->K; k++) {
            double acc = 0.0;
            for (int n = 0; n < s->B; n++)
                for (int p = 0; p < Ho * Wo; p++) acc += dy[((size_t)n * (size_t)s->K + (size_t)k) * (size_t)(Ho * Wo) + (size_t)p];
            db[k] += (float)acc;
        }
}

/* --- upsampling ------------------------------------------------------------------------------ */

void dt_upsample2x_fwd(int nth, const float *x, float *y, int B, int C, int H, int W) {
    (void)nth; /* unused without OpenMP */
    int64_t planes = (int64_t)B * C;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && planes * H * W > 16384)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + (size_t)p * (size_t)H * (size_t)W;
        float *yp = y + (size_t)p * (size_t)H * (size_t)W * 4;
        for (int h = 0; h < H; h++) {
            float *r0 = yp + (size_t)(2 * h) * (size_t)(2 * W), *r1 = r0 + 2 * W;
            const float *xr = xp + (size_t)h * (size_t)W;
            for (int w = 0; w < W; w++) r0[2 * w] = r0[2 * w + 1] = xr[w];
            memcpy(r1, r0, (size_t)(2 * W) * sizeof(float));
        }
    }
}

void dt_upsample2x_bwd(int nth, const float *dy, float *dx, int B, int C, int H, int W) {
    (void)nth; /* unused without OpenMP */
    int64_t planes = (int64_t)B * C;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && planes * H * W > 16384)
    for (int64_t p = 0; p < planes; p++) {
        const float *dyp = dy + (size_t)p * (size_t)H * (size_t)W * 4;
        float *dxp = dx + (size_t)p * (size_t)H * (size_t)W;
        for (int h = 0; h < H; h++) {
            const float *r0 = dyp + (size_t)(2 * h) * (size_t)(2 * W), *r1 = r0 + 2 * W;
            for (int w = 0; w < W; w++)
                dxp[(size_t)h * (size_t)W + (size_t)w] = (r0[2 * w] + r0[2 * w + 1]) + (r1[2 * w] + r1[2 * w + 1]);
        }
    }
}

/* --- group normalisation --------------------------------------------------------------------- */

/* Sums in double over n floats, 4 at a time in two registers when AVX2 is there (the lanes
 * added in a fixed order, so a result does not depend on the thread running it): of x (also the
 * convolutions' bias gradients and the U-Net's embedding gradient), of x * y, and of (x - mu)^2. */
double dt_sum_d(const float *x, size_t n) {
    size_t i = 0;
    double s = 0.0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
    }
    double l[4];
    _mm256_storeu_pd(l, _mm256_add_pd(a0, a1));
    s = (l[0] + l[1]) + (l[2] + l[3]);
#endif
    for (; i < n; i++) s += x[i];
    return s;
}

static double dot_d(const float *x, const float *y, size_t n) {
    size_t i = 0;
    double s = 0.0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        a0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), _mm256_cvtps_pd(_mm_loadu_ps(y + i)), a0);
        a1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), _mm256_cvtps_pd(_mm_loadu_ps(y + i + 4)), a1);
    }
    double l[4];
    _mm256_storeu_pd(l, _mm256_add_pd(a0, a1));
    s = (l[0] + l[1]) + (l[2] + l[3]);
#endif
    for (; i < n; i++) s += (double)x[i] * y[i];
    return s;
}

static double sqdev_d(const float *x, size_t n, double mu) {
    size_t i = 0;
    double s = 0.0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), m = _mm256_set1_pd(mu);
    for (; i + 8 <= n; i += 8) {
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), m);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), m);
        a0 = _mm256_fmadd_pd(d0, d0, a0);
        a1 = _mm256_fmadd_pd(d1, d1, a1);
    }
    double l[4];
    _mm256_storeu_pd(l, _mm256_add_pd(a0, a1));
    s = (l[0] + l[1]) + (l[2] + l[3]);
#endif
    for (; i < n; i++) s += ((double)x[i] - mu) * ((double)x[i] - mu);
    return s;
}

void dt_groupnorm_fwd(int nth, const float *x, const float *gamma, const float *beta, float *y, float *mean,
                      float *rstd, int B, int C, int HW, int G, float eps) {
    (void)nth; /* unused without OpenMP */
    int cg = C / G;
    size_t n = (size_t)cg * (size_t)HW;
    int64_t tasks = (int64_t)B * G;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && (size_t)tasks * n > 16384)
    for (int64_t t = 0; t < tasks; t++) {
        const float *xg = x + (size_t)t * n;
        float *yg = y + (size_t)t * n;
        double mu = dt_sum_d(xg, n) / (double)n, ss = sqdev_d(xg, n, mu);
        float m = (float)mu, r = (float)(1.0 / sqrt(ss / (double)n + eps));
        mean[t] = m, rstd[t] = r;
        int c0 = (int)(t % G) * cg;
        for (int c = 0; c < cg; c++) {
            float a = gamma ? gamma[c0 + c] * r : r, bb = beta ? beta[c0 + c] : 0.0f;
            const float *xc = xg + (size_t)c * (size_t)HW;
            float *yc = yg + (size_t)c * (size_t)HW;
            for (int i = 0; i < HW; i++) yc[i] = (xc[i] - m) * a + bb;
        }
    }
}

/* With xhat = (x - m) r, a channel's sums of dy and dy xhat come from those of dy and dy x:
 * sum dy xhat = r (sum dy x - m sum dy). */
void dt_groupnorm_bwd(int nth, const float *dy, const float *x, const float *gamma, const float *mean,
                      const float *rstd, float *dx, float *dgamma, float *dbeta, int B, int C, int HW, int G) {
    int cg = C / G;
    size_t n = (size_t)cg * (size_t)HW;
    int64_t tasks = (int64_t)B * G;
    int big = nth > 1 && (size_t)tasks * n > 16384;
    (void)big; /* unused without OpenMP */
    /* parameter gradients first (dx may alias dy): each channel summed by one thread */
    if (dgamma || dbeta) {
#pragma omp parallel for schedule(static) num_threads(nth) if (big)
        for (int c = 0; c < C; c++) {
            double sg = 0.0, sb = 0.0;
            for (int b = 0; b < B; b++) {
                size_t off = ((size_t)b * (size_t)C + (size_t)c) * (size_t)HW;
                size_t t = (size_t)b * (size_t)G + (size_t)(c / cg);
                double sdy = dt_sum_d(dy + off, (size_t)HW);
                sg += rstd[t] * (dot_d(dy + off, x + off, (size_t)HW) - mean[t] * sdy);
                sb += sdy;
            }
            if (dgamma) dgamma[c] += (float)sg;
            if (dbeta) dbeta[c] += (float)sb;
        }
    }
#pragma omp parallel for schedule(static) num_threads(nth) if (big)
    for (int64_t t = 0; t < tasks; t++) {
        const float *xg = x + (size_t)t * n, *dyg = dy + (size_t)t * n;
        float *dxg = dx + (size_t)t * n;
        float m = mean[t], r = rstd[t];
        int c0 = (int)(t % G) * cg;
        double s1 = 0.0, s2 = 0.0; /* sum of g, sum of g * xhat, g = dy * gamma */
        for (int c = 0; c < cg; c++) {
            double ga = gamma ? gamma[c0 + c] : 1.0;
            const float *dc = dyg + (size_t)c * (size_t)HW, *xc = xg + (size_t)c * (size_t)HW;
            double sdy = dt_sum_d(dc, (size_t)HW);
            s1 += ga * sdy;
            s2 += ga * r * (dot_d(dc, xc, (size_t)HW) - m * sdy);
        }
        float a1 = (float)(s1 / (double)n), a2 = (float)(s2 / (double)n);
        for (int c = 0; c < cg; c++) {
            float ga = gamma ? gamma[c0 + c] : 1.0f;
            for (int i = 0; i < HW; i++) {
                size_t at = (size_t)c * (size_t)HW + (size_t)i;
                float xh = (xg[at] - m) * r;
                dxg[at] = r * (dyg[at] * ga - a1 - xh * a2);
            }
        }
    }
}

/* --- activations ----------------------------------------------------------------------------- */

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One element: the activation of v (dy NULL) or dy[0] times its derivative at v. */
static inline float act1(int kind, float v, const float *dy) {
    float y = v, d = 1.0f;
    switch (kind) {
    case DT_ACT_RELU: y = v > 0.0f ? v : 0.0f, d = v > 0.0f ? 1.0f : 0.0f; break;
    case DT_ACT_LEAKY: y = v > 0.0f ? v : 0.2f * v, d = v > 0.0f ? 1.0f : 0.2f; break;
    case DT_ACT_TANH: y = tanhf(v), d = 1.0f - y * y; break;
    case DT_ACT_SIGMOID: y = sigm(v), d = y * (1.0f - y); break;
    case DT_ACT_SILU: {
        float sg = sigm(v);
        y = v * sg, d = sg * (1.0f + v * (1.0f - sg));
        break;
    }
    default: break;
    }
    return dy ? dy[0] * d : y;
}

#if defined(__AVX2__) && defined(__FMA__)
/* Elements i..end 8 at a time where the kind has a vector form (SiLU with sigmoid8; ReLU and
 * LeakyReLU as max(v, 0) + a min(v, 0)); returns where the scalar tail starts. */
static size_t act8(int kind, const float *x, const float *dy, float *out, size_t i, size_t end) {
    __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps(), a = _mm256_set1_ps(kind == DT_ACT_LEAKY ? 0.2f : 0.0f);
    if (kind == DT_ACT_SILU)
        for (; i + 8 <= end; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i), sg = sigmoid8(v);
            __m256 r = dy ? _mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_mul_ps(sg, _mm256_fmadd_ps(v, _mm256_sub_ps(one, sg), one)))
                          : _mm256_mul_ps(v, sg);
            _mm256_storeu_ps(out + i, r);
        }
    if (kind == DT_ACT_RELU || kind == DT_ACT_LEAKY)
        for (; i + 8 <= end; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i), r;
            if (dy) {
                __m256 d = _mm256_loadu_ps(dy + i);
                r = _mm256_blendv_ps(_mm256_mul_ps(a, d), d, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
            } else {
                r = _mm256_fmadd_ps(a, _mm256_min_ps(v, zero), _mm256_max_ps(v, zero));
            }
            _mm256_storeu_ps(out + i, r);
        }
    return i;
}
#endif

/* The activation (dy NULL) or its gradient over n elements, in blocks of 1024 over the threads. */
static void act_run(int nth, int kind, const float *x, const float *dy, float *out, size_t n) {
    (void)nth; /* unused without OpenMP */
    int64_t blocks = (int64_t)(n / 1024) + 1;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && n > 65536)
    for (int64_t blk = 0; blk < blocks; blk++) {
        size_t i = (size_t)blk * 1024, end = i + 1024 < n ? i + 1024 : n;
#if defined(__AVX2__) && defined(__FMA__)
        i = act8(kind, x, dy, out, i, end);
#endif
        for (; i < end; i++) out[i] = act1(kind, x[i], dy ? dy + i : NULL);
    }
}

void dt_act_fwd(int nth, int kind, const float *x, float *y, size_t n) { act_run(nth, kind, x, NULL, y, n); }

void dt_act_bwd(int nth, int kind, const float *dy, const float *x, float *dx, size_t n) { act_run(nth, kind, x, dy, dx, n); }

/* --- time embedding -------------------------------------------------------------------------- */

void dt_time_embedding(const float *t, int B, int dim, float *out) {
    int half = dim / 2;
    for (int i = 0; i < half; i++) {
        float f = half > 1 ? expf(-logf(10000.0f) * (float)i / (float)(half - 1)) : 1.0f;
        for (int b = 0; b < B; b++) {
            float a = t[b] * f;
            out[(size_t)b * (size_t)dim + (size_t)i] = (float)sin((double)a);
            out[(size_t)b * (size_t)dim + (size_t)half + (size_t)i] = (float)cos((double)a);
        }
    }
}
