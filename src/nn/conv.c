/* conv.c — 2-D convolution and transposed convolution, fast and plain (see conv.h; the other
 * image layers are in image.c).
 *
 * The fast convolutions unfold images into columns (im2col), a few images side by side, and
 * multiply with dt_gemm; the backward passes fold columns back (col2im). The batch is cut into
 * a fixed number of groups (min(B, DT_CONV_GROUPS), whatever the thread count); each group is
 * handled by one thread with its own column buffer and its own partial weight/bias gradient,
 * and the partials are added in group order, so results do not depend on the thread count.
 * Each thread takes a run of neighbouring groups: the images the point-wise loops around a
 * layer (static schedules over the batch) gave it too, still in its cache (2 threads: U-Net
 * +7 %, GAN +10 % against alternating groups); the phases' Winograd products (below) take at
 * most PH_GROUPS groups. With a single group (B == 1) the
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
 * 4x4 stride-2 pad-1 convolutions and transposed ones (the VAE's and GAN's inner layers) with at
 * least 16 channels on each side go by Winograd's F(4x4, 2x2) on the four 2x2 stride-1 phases
 * of the window: 25 products per chunk of images, 1.96x fewer multiplications than the
 * unfolding at 7x7 (section below).
 * Not here: weights, whole models, optimisers.
 */
#include "conv.h"


#include "../core/gemm.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif

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

/* Sizes of one group's slice of the scratch: the columns of `imgs` images unfolded side by side
 * (see run_unfold) and 8 floats of slack, at `split` their rows split for stride 2, at `side` the
 * chunk's other operand side by side; `col` floats in all before the partial weight gradient
 * (w floats) and bias gradient. */
#define UNFOLD_FLOATS (1 << 17) /* column floats per chunk of images (at least one image) */

typedef struct conv_sizes {
    int imgs;
    size_t cols, split, side, col, w, group;
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

/* Winograd F(4x4, 2x2) on the phases of 4x4 stride-2 pad-1 layers with at least PH_MIN channels
 * on each side whose wide side is twice the narrow one (see the section below). A layer links a
 * wide side (Cw, 2h, 2w) with a narrow side (Cn, h, w): a convolution's input is wide, a
 * transposed one's input narrow. Images go PH_LANES at a time, one in each lane of a vector.
 * The scratch, at these offsets (floats): the transformed weights (25 planes of Cn x 4 Cw, us
 * apart), the weight gradient's sums (the same), 25 planes (4 Cw, T) and 25 planes (Cn, T) for a
 * chunk of images, T = tiles x PH_LANES columns, and lanes: one wide channel's padded (input,
 * output), every narrow input channel's, padded, one narrow output channel's. */
#define PH_MIN 16 /* the GAN's first layer, 11 channels in at 28x28, runs 10 % slower this way */
#define PH_LANES 8
#define PH_COLS 64 /* columns per product at most */
/* batch groups at most (whatever the thread count, as for the others): each keeps a transformed
 * weight gradient 6.25x the weights' size, which the groups' sum reads back (half the groups: GAN
 * on two threads +12 %, conv VAE +4-20 %) */
#define PH_GROUPS 4

typedef struct ph_sizes {
    int Cn, Cw, h, w;   /* the narrow side's channels and size, the wide side's channels */
    int tH, tW;         /* tiles down and across */
    int Hw, Ww, Hn, Wn; /* the lane buffers' rows and pixels per row: wide, narrow */
    size_t tiles, T;    /* tiles per image, product columns per chunk */
    size_t us;          /* floats from one weight plane to the next: Cn 4 Cw and 16 (no multiple of 4 KiB apart) */
    size_t u, du, a, b, wi, wo, ni, no, total;
} ph_sizes;

static int ph_shape(const dt_conv_shape *s) {
    return s->kh == 4 && s->kw == 4 && s->stride == 2 && s->pad == 1 && s->C >= PH_MIN && s->K >= PH_MIN && s->H > 0 && s->W > 0;
}

static int max_i(int a, int b) { return a > b ? a : b; }

/* The layout for shape s as a convolution (transposed 0: H and W even) or a transposed one. */
static ph_sizes ph_layout(const dt_conv_shape *s, int transposed) {
    ph_sizes z;
    z.Cn = transposed ? s->C : s->K, z.Cw = transposed ? s->K : s->C;
    z.h = transposed ? s->H : s->H / 2, z.w = transposed ? s->W : s->W / 2;
    z.tH = z.h / 4 + 1, z.tW = z.w / 4 + 1, z.tiles = (size_t)z.tH * (size_t)z.tW;
    z.T = z.tiles * PH_LANES;
    /* rows and pixels the tiles read and write, and to_lanes's whole vectors */
    z.Hw = 8 * z.tH + 2, z.Ww = max_i(8 * z.tW + 2, 1 + (2 * z.w + 7) / 8 * 8);
    z.Hn = 4 * z.tH + 1, z.Wn = max_i(4 * z.tW + 1, 1 + (z.w + 7) / 8 * 8);
    z.us = (size_t)z.Cn * 4 * (size_t)z.Cw + 16;
    size_t u = 25 * z.us, lw = (size_t)z.Hw * (size_t)z.Ww * PH_LANES, ln = (size_t)z.Hn * (size_t)z.Wn * PH_LANES;
    z.u = 0, z.du = u, z.a = 2 * u, z.b = z.a + 25 * (4 * (size_t)z.Cw * z.T + 8), z.wi = z.b + 25 * ((size_t)z.Cn * z.T + 8);
    z.wo = z.wi + lw, z.ni = z.wo + lw, z.no = z.ni + (size_t)z.Cn * ln, z.total = z.no + ln;
    return z;
}

typedef struct geom {
    int Ci, Hi, Wi, kh, kw, st, pad, Ho, Wo;
    size_t ld; /* floats from one column row to the next: n Ho Wo for n images side by side */
} geom;

/* Stride 2: one channel's rows, padded, split into even and odd columns:
 * S[(2 r + par) Ls + pad + k] = img[r - pad][2 k + par] (zero before and past the row, and for
 * the padding rows), for the split_rows_n rows r = ih + pad that the windows read, Ls =
 * split_len floats each; 8 floats of slack for whole vectors. */
static int split_len(const geom *g) { return g->pad + g->Wo + g->kw + 8; }
static int split_rows_n(const geom *g) { return g->Ho > 0 ? 2 * (g->Ho - 1) + g->kh : 0; }
static size_t split_size(const geom *g) { return g->st == 2 ? 2 * (size_t)split_rows_n(g) * (size_t)split_len(g) : 0; }

static conv_sizes sizes(const dt_conv_shape *s) {
    conv_sizes z;
    size_t kk = (size_t)s->kh * (size_t)s->kw, HW = (size_t)s->H * (size_t)s->W;
    size_t a = 0, b = (size_t)s->K * kk * HW, ys = 0; /* an image's columns (conv, transposed), output */
    int Ho = 0, Wo = 0, Ht, Wt, G = conv_groups(s->B), most = (s->B + G - 1) / G; /* images in the largest group */
    if (s->H + 2 * s->pad >= s->kh && s->W + 2 * s->pad >= s->kw) {
        dt_conv_out(s, &Ho, &Wo);
        a = (size_t)s->C * kk * (size_t)Ho * (size_t)Wo, ys = (size_t)s->K * (size_t)Ho * (size_t)Wo;
    }
    size_t per = a > b ? a : b, side = ys > (size_t)s->C * HW ? ys : (size_t)s->C * HW, split = 0;
    /* side by side when the weights, packed once instead of per image, outweigh the gathering
     * of the other operand (the VAE's 1-channel ends: 11 % faster image by image) */
    z.imgs = per >= UNFOLD_FLOATS || (size_t)s->K * (size_t)s->C * kk < side ? 1 : (int)(UNFOLD_FLOATS / per);
    if (z.imgs > most) z.imgs = most;
    if (s->stride == 2) { /* a convolution's split rows or a transposed one's */
        dt_convt_out(s, 1, &Ht, &Wt);
        geom gc = {s->C, s->H, s->W, s->kh, s->kw, 2, s->pad, Ho, Wo, 0};
        geom gt = {s->K, Ht, Wt, s->kh, s->kw, 2, s->pad, s->H, s->W, 0};
        split = split_size(&gc) > split_size(&gt) ? split_size(&gc) : split_size(&gt);
    }
    z.cols = (size_t)z.imgs * per, z.split = z.cols + 8, z.side = z.split + (size_t)z.imgs * split;
    z.col = z.side + (size_t)z.imgs * side;
    if (same_conv(s) && shift_layout(s).total > z.col) /* a transposed one of that shape unfolds */
        z.col = shift_layout(s).total;
    if (wino_conv(s) && wino_layout(s).total > z.col) z.col = wino_layout(s).total;
    if (ph_shape(s)) { /* as a convolution or as a transposed one, whichever the caller runs */
        size_t t = ph_layout(s, 1).total;
        if (s->H % 2 == 0 && s->W % 2 == 0 && ph_layout(s, 0).total > t) t = ph_layout(s, 0).total;
        if (t > z.col) z.col = t;
    }
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

/* One row of W floats split into its even and odd columns: ev[k] = src[2 k], od[k] = src[2 k + 1]
 * (0 past the row) for k below the returned count, at least (W + 1) / 2. The vector loop writes
 * whole vectors of 8 (zeros past the row) and reads whole vectors past the row, dropping what
 * it reads there, where `avail` floats from src allow it (a masked load is slow). */
static inline int split_row(const float *src, int W, size_t avail, float *restrict ev, float *restrict od) {
    int i = 0;
    (void)avail; /* used by the vector loop */
#if defined(__AVX2__) && defined(__FMA__)
    for (; 2 * i < W; i += 8) {
        __m256 a, b;
        if (2 * i + 16 <= W) {
            a = _mm256_loadu_ps(src + 2 * i), b = _mm256_loadu_ps(src + 2 * i + 8);
        } else {
            __m256i q = _mm256_add_epi32(_mm256_set1_epi32(2 * i), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), w = _mm256_set1_epi32(W);
            __m256i m0 = _mm256_cmpgt_epi32(w, q), m1 = _mm256_cmpgt_epi32(w, _mm256_add_epi32(q, _mm256_set1_epi32(8)));
            if ((size_t)(2 * i) + 16 <= avail) {
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
    return i;
}

/* Channel img (Hi, Wi) into S (see split_len), whose zeros are already there: split_row writes
 * the same floats for every channel, each row's image columns and zeros up to a whole vector
 * (Ls - pad = Wo + kw + 8 >= (Wi + 1) / 2 + 8 leaves room). `avail` floats can be read from img. */
static void split_rows(const geom *g, const float *img, size_t avail, float *S) {
    int Ls = split_len(g), p = g->pad, top = split_rows_n(g) - p < g->Hi ? split_rows_n(g) - p : g->Hi;
    for (int ih = 0; ih < top; ih++) {
        size_t at = (size_t)ih * (size_t)g->Wi;
        float *ev = S + (size_t)(2 * (ih + p)) * (size_t)Ls + p;
        split_row(img + at, g->Wi, avail - at, ev, ev + Ls);
    }
}

/* Where in S window position (0, 0) of tap (i, j) reads: img[2 oh - pad + i][2 ow - pad + j] =
 * S[split_at + oh 4 Ls + ow] (two padded rows down per oh). */
static size_t split_at(const geom *g, int i, int j) {
    int d = j - g->pad, par = d & 1, m = (d - par) / 2;
    return (size_t)(2 * i + par) * (size_t)split_len(g) + (size_t)(g->pad + m);
}

/* rows x n floats, packed, into dst from rows `step` apart in src; 8 at a time: up to 7 past the
 * end into dst and from each row of src (the callers' next rows, written after, or slack). */
static inline KEEP_LOOPS void copy_rows(float *dst, const float *src, int rows, int n, size_t step) {
#if defined(__AVX2__) && defined(__FMA__)
    if (n <= 8) { /* one vector a row: the small images' case */
        for (int r = 0; r < rows; r++, dst += n, src += step) _mm256_storeu_ps(dst, _mm256_loadu_ps(src));
        return;
    }
    for (int r = 0; r < rows; r++, dst += n, src += step)
        for (int k = 0; k < n; k += 8) _mm256_storeu_ps(dst + k, _mm256_loadu_ps(src + k));
#else
    for (int r = 0; r < rows; r++, dst += n, src += step)
        for (int k = 0; k < n; k++) dst[k] = src[k];
#endif
}

/* Rows `step` apart in d += rows x n packed floats from r, 8 at a time; the last part of a row
 * loads and stores whole vectors, keeping d's values past n (d and r have 7 floats after each
 * row: the callers' slack or next rows). */
static inline void add_rows(float *d, const float *r, int rows, int n, size_t step) {
#if defined(__AVX2__) && defined(__FMA__)
    int full = n & ~7;
    __m256 tail = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - full), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    for (int q = 0; q < rows; q++, d += step, r += n) {
        for (int k = 0; k < full; k += 8) _mm256_storeu_ps(d + k, _mm256_add_ps(_mm256_loadu_ps(d + k), _mm256_loadu_ps(r + k)));
        if (full < n) {
            __m256 a = _mm256_loadu_ps(d + full);
            _mm256_storeu_ps(d + full, _mm256_blendv_ps(a, _mm256_add_ps(a, _mm256_loadu_ps(r + full)), tail));
        }
    }
#else
    for (int q = 0; q < rows; q++, d += step, r += n)
        for (int k = 0; k < n; k++) d[k] += r[k];
#endif
}

/* im2col at stride 2: every window row reads a split row, 4 Ls apart (two padded rows down). Each
 * column row is written image after image, and the rows in order, so that every whole-vector
 * write past a row's end lands on floats written after it (the last row's on the columns'
 * slack). */
static KEEP_LOOPS void im2col_s2(const geom *g, const float *img, size_t xs, int n, float *col, float *S) {
    size_t step = 4 * (size_t)split_len(g), ss = split_size(g), cs = (size_t)g->Hi * (size_t)g->Wi;
    int Ho = g->Ho, Wo = g->Wo;
    memset(S, 0, (size_t)n * ss * sizeof(float));
    for (int c = 0; c < g->Ci; c++) {
        for (int t = 0; t < n; t++) split_rows(g, img + (size_t)t * xs + (size_t)c * cs, (size_t)(n - t) * xs - (size_t)c * cs, S + (size_t)t * ss);
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                float *d = col + ((size_t)(c * g->kh + i) * (size_t)g->kw + (size_t)j) * g->ld;
                const float *src = S + split_at(g, i, j);
                for (int t = 0; t < n; t++, src += ss, d += (size_t)Ho * (size_t)Wo) copy_rows(d, src, Ho, Wo, step);
            }
    }
}

/* col2im at stride 2: one image's columns added into each channel's split rows, then merged. */
static void col2im_s2(const geom *g, const float *col, float *img, float *S) {
    size_t Ls = (size_t)split_len(g), step = 4 * Ls;
    int Ho = g->Ho, Wo = g->Wo;
    for (int c = 0; c < g->Ci; c++) {
        memset(S, 0, split_size(g) * sizeof(float));
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                add_rows(S + split_at(g, i, j), col + ((size_t)(c * g->kh + i) * (size_t)g->kw + (size_t)j) * g->ld, Ho, Wo, step);
            }
        float *dst = img + (size_t)c * (size_t)g->Hi * (size_t)g->Wi;
        for (int ih = 0; ih < g->Hi; ih++) {
            int r = ih + g->pad, w = 0;
            float *d = dst + (size_t)ih * (size_t)g->Wi;
            if (r >= split_rows_n(g)) { /* no window reads the row */
                memset(d, 0, (size_t)g->Wi * sizeof(float));
                continue;
            }
            const float *ev = S + (size_t)(2 * r) * Ls + g->pad, *od = ev + Ls;
#if defined(__AVX2__) && defined(__FMA__)
            for (; w + 16 <= g->Wi; w += 16) {
                __m256 a = _mm256_loadu_ps(ev + w / 2), b = _mm256_loadu_ps(od + w / 2);
                __m256 lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
                _mm256_storeu_ps(d + w, _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_storeu_ps(d + w + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
            }
            for (; w + 8 <= g->Wi; w += 8) {
                __m128 a = _mm_loadu_ps(ev + w / 2), b = _mm_loadu_ps(od + w / 2);
                _mm_storeu_ps(d + w, _mm_unpacklo_ps(a, b));
                _mm_storeu_ps(d + w + 4, _mm_unpackhi_ps(a, b));
            }
#endif
            for (; w + 1 < g->Wi; w += 2) d[w] = ev[w / 2], d[w + 1] = od[w / 2];
            if (w < g->Wi) d[w] = ev[w / 2];
        }
    }
}

/* The columns of n images img + t xs, side by side: image t's at col + t Ho Wo in each row. */
static void im2col(const geom *g, const float *img, size_t xs, int n, float *col, float *S) {
    size_t P = (size_t)g->Ho * (size_t)g->Wo;
    if (g->st == 2) {
        im2col_s2(g, img, xs, n, col, S);
        return;
    }
    for (int t = 0; t < n; t++, img += xs, col += P)
        for (int c = 0; c < g->Ci; c++)
            for (int i = 0; i < g->kh; i++)
                for (int j = 0; j < g->kw; j++) {
                    float *row = col + ((size_t)(c * g->kh + i) * (size_t)g->kw + (size_t)j) * g->ld;
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

/* Images img + t xs (Ci, Hi, Wi), t < n, = the sum of every column entry that looks at each of
 * their pixels, from the columns side by side (the images are written). */
static void col2im(const geom *g, const float *col, float *img, size_t xs, int n, float *S) {
    size_t P = (size_t)g->Ho * (size_t)g->Wo;
    for (int t = 0; t < n; t++, img += xs, col += P) {
        if (g->st == 2) {
            col2im_s2(g, col, img, S);
            continue;
        }
        memset(img, 0, (size_t)g->Ci * (size_t)g->Hi * (size_t)g->Wi * sizeof(float));
        for (int c = 0; c < g->Ci; c++)
            for (int i = 0; i < g->kh; i++)
                for (int j = 0; j < g->kw; j++) {
                    const float *row = col + ((size_t)(c * g->kh + i) * (size_t)g->kw + (size_t)j) * g->ld;
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
    conv_sizes z;   /* the scratch's layout, worked out once per call (run_job) */
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
 * even columns and E its odd ones one place on. split_row reads past a row where `avail` (the
 * floats readable from img on) allows, and writes whole vectors: up to 8 floats past a row, into
 * the next row (written after it) or the buffer's slack. */
static void wino_split(const float *img, size_t avail, int H, int W, int off, int Hp, int L, float *restrict E,
                       float *restrict O) {
    for (int r = 0; r < Hp; r++) {
        float *e = E + (size_t)r * (size_t)L, *o = O + (size_t)r * (size_t)L;
        int h = r - off;
        if (h < 0 || h >= H) {
            memset(e, 0, (size_t)L * sizeof(float));
            memset(o, 0, (size_t)L * sizeof(float));
            continue;
        }
        float *ev = off ? o : e, *od = off ? e + 1 : o; /* the image's columns 2i and 2i + 1 */
        e[0] = 0.0f;
        int i = split_row(img + (size_t)h * (size_t)W, W, avail - (size_t)h * (size_t)W, ev, od);
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
            wino_split(img + at, (size_t)n * (size_t)nch * HW - at, H, W, !grad, z->Hp, z->L, scr + z->even, scr + z->odd);
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

/* --- Winograd F(4x4, 2x2) on the stride-2 phases ---------------------------------------------
 * A 4x4 stride-2 pad-1 layer with weights w (Cn, Cw, 4, 4) links wide (Cw, 2h, 2w) and narrow
 * (Cn, h, w) by narrow[n][r][s] ~ wide[c][2r - 1 + i][2s - 1 + j] w[n][c][i][j]: a convolution
 * sums it from wide to narrow, a transposed one from narrow to wide (both with weights in that
 * order). Split into phases p, q (i = 2a + p, j = 2b + q) the wide-to-narrow sum is four 2x2
 * stride-1 correlations, narrow[r][s] = sum_pq,ab w_pq[a][b] X_pq[r + a][s + b] with
 * X_pq[r][s] = wide[2r + p - 1][2s + q - 1], and the narrow-to-wide one is four full ones,
 * Y_pq[r][s] = wide[2r + p - 1][2s + q - 1] = sum_ab w_pq[1 - a][1 - b] narrow[r - 1 + a][s - 1 + b].
 * Winograd's F(4x4, 2x2) (points 0, 1, -1, 2 and infinity) gives 4x4 outputs from 5x5 inputs d:
 *   y = A^T [(G g G^T) . (B^T d B)] A,
 *   B^T = [2 -1 -2 1 0; 0 2 1 -1 0; 0 2 -3 1 0; 0 -1 0 1 0; 0 2 -1 -2 1],
 *   G = [1/2 0; 1/2 1/2; -1/6 1/6; 1/6 1/3; 0 1],  A^T = [1 1 1 1 0; 0 1 -1 2 0; 0 1 1 4 0; 0 1 -1 8 1],
 * so that the sums over channels and phases are 25 products (Cn, 4 Cw) x (4 Cw, tiles): 100
 * multiplications per 4x4 tile and channel pair where the direct sum has 256 (at 7x7, whose
 * last tiles reach past the edge, 1.96x fewer). The narrow-to-wide products take the flipped
 * weights' transform, (4 Cw, Cn). The weight gradient is G^T [sum over tiles (A dY A^T) .
 * (B^T d B)] G, its sums products (4 Cw, tiles) x (tiles, Cn) (transposed; see ph_dw). Tiles run
 * on one grid for every pass, tH x tW = (h/4 + 1) x (w/4 + 1), which covers the h + 1 rows of
 * each Y_pq. The transforms work on a chunk of PH_LANES images at once, one in each lane of a
 * vector: each channel of the chunk's images is first turned into rows of pixels of 8 floats
 * (to_lanes: 8x8 transposes), so that every tile's transform is plain vector arithmetic, and
 * the products' columns are (tile, image). */

typedef float v8 __attribute__((vector_size(32)));

#if defined(__GNUC__) && !defined(__clang__) && !defined(__AVX__)
/* without AVX GCC notes that returning v8 by value differs from the AVX ABI: these are static */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

INLINE v8 ld8(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

INLINE void st8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

#if defined(__AVX2__) && defined(__FMA__)
/* r[i][k] <-> r[k][i]. */
static inline void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    for (int i = 0; i < 8; i += 4) { /* u[i + k]: column k of rows i..i+3, then column k + 4 */
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int k = 0; k < 4; k++) r[k] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x20), r[k + 4] = _mm256_permute2f128_ps(u[k], u[k + 4], 0x31);
}

/* The first m < 8 floats of v into d (a masked store is slow on AMD's cores). */
static inline void store_first(float *d, __m256 v, int m) {
    __m128 q = _mm256_castps256_ps128(v);
    if (m >= 4) _mm_storeu_ps(d, q), q = _mm256_extractf128_ps(v, 1), d += 4, m -= 4;
    if (m >= 2) _mm_storel_pi((__m64 *)d, q), q = _mm_movehl_ps(q, q), d += 2, m -= 2;
    if (m) _mm_store_ss(d, q);
}

static inline __m256i first_lanes(int m) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
#endif

/* Pixel (r, c) of a lane buffer with rows of Wp pixels: 8 floats, image i's in lane i. */
static inline float *px(float *L, int Wp, int r, int c) { return L + ((size_t)r * (size_t)Wp + (size_t)c) * PH_LANES; }

/* Planes x + i xs (H, W) of images i < n <= 8 into lane buffer L at row r + off, pixel c + off;
 * lanes past n are zero. 8 pixels at a time: a row's last vectors write zeros past it (Wp is
 * at least off + W rounded up to 8). */
static void to_lanes(const float *x, size_t xs, int n, int H, int W, int off, int Wp, float *L) {
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c += 8) {
            float *d = px(L, Wp, r + off, c + off);
            const float *s = x + (size_t)r * (size_t)W + (size_t)c;
            int m = W - c < 8 ? W - c : 8;
#if defined(__AVX2__) && defined(__FMA__)
            __m256 v[8];
            __m256i k8 = first_lanes(m);
            if (c == 0) /* the next channel's row: the images' planes are far apart for the prefetcher */
                for (int i = 0; i < n; i++) {
                    _mm_prefetch((const char *)(s + i * xs + (size_t)H * (size_t)W), _MM_HINT_T0);
                    _mm_prefetch((const char *)(s + i * xs + (size_t)H * (size_t)W + W - 1), _MM_HINT_T0);
                }
            for (int i = 0; i < 8; i++)
                v[i] = i >= n ? _mm256_setzero_ps() : m == 8 ? _mm256_loadu_ps(s + i * xs) : _mm256_maskload_ps(s + i * xs, k8);
            transpose8(v);
            for (int k = 0; k < 8; k++) _mm256_storeu_ps(d + 8 * k, v[k]);
#else
            for (int k = 0; k < 8; k++) /* zeros past the row too, as the vectors write them */
                for (int i = 0; i < 8; i++) d[8 * k + i] = i < n && k < m ? s[(size_t)i * xs + (size_t)k] : 0.0f;
#endif
        }
}

/* Zeros of a lane buffer of `rows` rows of Wp pixels around the H rows of W pixels that
 * to_lanes writes at (1, 1): the rows above and below, the pixel left of each row and those
 * right of its whole vectors. */
static void zero_border(float *L, int rows, int Wp, int H, int W) {
    int right = 1 + (W + 7) / 8 * 8;
    for (int r = 0; r < rows; r++) {
        if (r < 1 || r > H) {
            memset(px(L, Wp, r, 0), 0, (size_t)Wp * PH_LANES * sizeof(float));
            continue;
        }
        memset(px(L, Wp, r, 0), 0, PH_LANES * sizeof(float));
        if (right < Wp) memset(px(L, Wp, r, right), 0, (size_t)(Wp - right) * PH_LANES * sizeof(float));
    }
}

/* The way back: lane buffer L's row r + off, pixels c + off (c < W) into planes y + i ys, i < n.
 * Reads whole vectors of 8 pixels (Wp as for to_lanes). */
static void from_lanes(float *L, int Wp, int off, int H, int W, int n, float *y, size_t ys) {
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c += 8) {
            const float *s = px(L, Wp, r + off, c + off);
            float *d = y + (size_t)r * (size_t)W + (size_t)c;
            int m = W - c < 8 ? W - c : 8;
#if defined(__AVX2__) && defined(__FMA__)
            __m256 v[8];
            for (int k = 0; k < 8; k++) v[k] = _mm256_loadu_ps(s + 8 * k);
            transpose8(v);
            for (int i = 0; i < n; i++) {
                if (m == 8) _mm256_storeu_ps(d + i * ys, v[i]);
                else store_first(d + i * ys, v[i], m);
            }
#else
            for (int i = 0; i < n; i++)
                for (int k = 0; k < m; k++) d[(size_t)i * ys + (size_t)k] = s[8 * k + i];
#endif
        }
}

/* B^T d (see the section's comment). */
INLINE void bt5(const v8 d[5], v8 o[5]) {
    v8 t = d[3] - d[1];
    o[0] = 2.0f * (d[0] - d[2]) + t, o[1] = 2.0f * d[1] + d[2] - d[3], o[2] = 2.0f * d[1] - 3.0f * d[2] + d[3];
    o[3] = t, o[4] = d[4] - d[2] - 2.0f * t;
}

/* A t: the 4 values of a tile's side to the 5 of the transformed one. */
INLINE void a5(const v8 t[4], v8 o[5]) {
    v8 e = t[0] + t[2], f = t[1] + t[3];
    o[0] = t[0], o[1] = e + f, o[2] = e - f, o[3] = t[0] + 2.0f * t[1] + 4.0f * t[2] + 8.0f * t[3], o[4] = t[3];
}

/* A^T m: back from 5 to 4. */
INLINE void at4(const v8 m[5], v8 o[4]) {
    v8 e = m[1] + m[2], f = m[1] - m[2];
    o[0] = m[0] + e + m[3], o[1] = f + 2.0f * m[3], o[2] = e + 4.0f * m[3], o[3] = f + 8.0f * m[3] + m[4];
}

/* The 5x5 transformed tile of the n x n tile d[a][b] = x[a rs + b cs] (8 lanes each), each side
 * by its 1-D transform: B^T d B of a 5x5 input tile (n 5), A t A^T of a 4x4 gradient tile (n 4);
 * entry 5i + j into o[(5i + j) ps]. */
INLINE void ph_to5(const float *x, int n, size_t rs, size_t cs, float *o, size_t ps) {
    v8 f[5][5];
    for (int a = 0; a < n; a++) {
        v8 d[5];
        for (int b = 0; b < n; b++) d[b] = ld8(x + a * rs + b * cs);
        if (n == 5) bt5(d, f[a]);
        else a5(d, f[a]);
    }
    for (int j = 0; j < 5; j++) {
        v8 col[5], e[5];
        for (int a = 0; a < n; a++) col[a] = f[a][j];
        if (n == 5) bt5(col, e);
        else a5(col, e);
        for (int i = 0; i < 5; i++) st8(o + (size_t)(5 * i + j) * ps, e[i]);
    }
}

/* A^T m A + bias of the tile whose entry 5i + j is at m[(5i + j) ps]: y[a][b] into x[a rs + b cs]. */
INLINE void ph_down(const float *m, size_t ps, float bias, float *x, size_t rs, size_t cs) {
    v8 f[5][4];
    for (int i = 0; i < 5; i++) {
        v8 r[5];
        for (int j = 0; j < 5; j++) r[j] = ld8(m + (size_t)(5 * i + j) * ps);
        at4(r, f[i]);
    }
    for (int b = 0; b < 4; b++) {
        v8 c[5] = {f[0][b], f[1][b], f[2][b], f[3][b], f[4][b]}, y[4];
        at4(c, y);
        for (int a = 0; a < 4; a++) st8(x + a * rs + b * cs, y[a] + bias);
    }
}

/* G g of a kernel side's 2 values (8 kernels at once), and G^T u back (one). */
INLINE void g5(v8 g0, v8 g1, v8 o[5]) {
    o[0] = 0.5f * g0, o[1] = 0.5f * (g0 + g1), o[2] = (g1 - g0) * (1.0f / 6.0f), o[3] = (g0 + 2.0f * g1) * (1.0f / 6.0f), o[4] = g1;
}

static void gt2(const float u[5], float o[2]) {
    o[0] = 0.5f * (u[0] + u[1]) + (u[3] - u[2]) * (1.0f / 6.0f);
    o[1] = 0.5f * u[1] + u[2] * (1.0f / 6.0f) + u[3] * (1.0f / 3.0f) + u[4];
}

/* The transformed weights u[xi], entry xi of G w_pq G^T: for the wide-to-narrow products
 * (Cn, 4 Cw) at column 4 cw + 2p + q; for narrow to wide (flip), of the flipped w_pq, (4 Cw, Cn).
 * 8 columns of a row at a time, so that each plane is written in whole vectors. Once per call,
 * before the groups share it. */
static void ph_weights(int nth, const conv_job *j, const ph_sizes *z, int flip, float *u) {
    int Cw4 = 4 * z->Cw, rows = flip ? Cw4 : z->Cn, cols = flip ? z->Cn : Cw4;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && (size_t)rows * (size_t)cols >= 4096)
    for (int r = 0; r < rows; r++)
        for (int q0 = 0; q0 < cols; q0 += 8) {
            int n = cols - q0 < 8 ? cols - q0 : 8;
            v8 k[2][2] = {{{0}}}, f[2][5], col[5];
            for (int l = 0; l < n; l++) {
                int cn = flip ? q0 + l : r, cwpq = flip ? r : q0 + l, pq = cwpq % 4;
                const float *g = j->w + ((size_t)cn * (size_t)z->Cw + (size_t)(cwpq / 4)) * 16 + 4 * (pq / 2) + pq % 2;
                if (flip) k[0][0][l] = g[10], k[0][1][l] = g[8], k[1][0][l] = g[2], k[1][1][l] = g[0];
                else k[0][0][l] = g[0], k[0][1][l] = g[2], k[1][0][l] = g[8], k[1][1][l] = g[10];
            }
            for (int a = 0; a < 2; a++) g5(k[a][0], k[a][1], f[a]);
            for (int jj = 0; jj < 5; jj++) {
                g5(f[0][jj], f[1][jj], col);
                for (int i = 0; i < 5; i++) {
                    float *o = u + (size_t)(5 * i + jj) * z->us + (size_t)r * (size_t)cols + (size_t)q0;
                    if (n == 8) st8(o, col[i]);
                    else memcpy(o, &col[i], (size_t)n * sizeof(float));
                }
            }
        }
}

static int transposed_op(const conv_job *j) { return j->op == OP_CONVT_FWD || j->op == OP_CONVT_BWD; }

/* Whether job j goes by the phases' products: a convolution of even size or a transposed one
 * of exactly twice its input's. */
static int phased(const conv_job *j) {
    const dt_conv_shape *s = j->s;
    if (!ph_shape(s)) return 0;
    return transposed_op(j) ? j->Ho == 2 * s->H && j->Wo == 2 * s->W : s->H % 2 == 0 && s->W % 2 == 0;
}

/* Whether job j's products go from narrow to wide (with the flipped weights). */
static int ph_flip(const conv_job *j) { return j->op == OP_CONVT_FWD || j->op == OP_CONV_BWD; }

/* The chunk's wide input (m images from x, each (Cw, 2h, 2w)) into va: phase p, q's B^T d B of
 * tile t of channel c at column 8 t of row 4c + 2p + q of each plane. */
static void ph_wide_in(const float *x, int m, const ph_sizes *z, float *L, float *va) {
    size_t is = (size_t)z->Cw * 4 * (size_t)z->h * (size_t)z->w, pa = 4 * (size_t)z->Cw * z->T + 8, rw = 2 * (size_t)z->Ww * PH_LANES;
    for (int c = 0; c < z->Cw; c++) {
        to_lanes(x + (size_t)c * 4 * (size_t)z->h * (size_t)z->w, is, m, 2 * z->h, 2 * z->w, 1, z->Ww, L);
        for (int ty = 0; ty < z->tH; ty++)
            for (int tx = 0; tx < z->tW; tx++)
                for (int pq = 0; pq < 4; pq++)
                    ph_to5(px(L, z->Ww, 8 * ty + pq / 2, 8 * tx + pq % 2), 5, rw, 2 * PH_LANES,
                          va + (4 * (size_t)c + (size_t)pq) * z->T + (size_t)(ty * z->tW + tx) * PH_LANES, pa);
    }
}

/* The chunk's narrow input, already in lanes (one buffer of ln floats per channel), into vb:
 * tile t of channel c at column 8 t of row c of each plane, A dY A^T (grad) or B^T d B. */
static void ph_narrow_in(float *L, size_t ln, int grad, const ph_sizes *z, float *vb) {
    size_t pb = (size_t)z->Cn * z->T + 8, rn = (size_t)z->Wn * PH_LANES;
    for (int c = 0; c < z->Cn; c++)
        for (int ty = 0; ty < z->tH; ty++)
            for (int tx = 0; tx < z->tW; tx++) {
                float *o = vb + (size_t)c * z->T + (size_t)(ty * z->tW + tx) * PH_LANES;
                float *Lc = L + (size_t)c * ln;
                if (grad) ph_to5(px(Lc, z->Wn, 4 * ty + 1, 4 * tx + 1), 4, rn, PH_LANES, o, pb);
                else ph_to5(px(Lc, z->Wn, 4 * ty, 4 * tx), 5, rn, PH_LANES, o, pb);
            }
}

/* Output channels of the chunk's m images from the planes at out (rows: nch channels, or 4
 * phases of each for the wide side), A^T m A of each tile plus bias[c] (bias may be NULL), through
 * lane buffer L, into y (m images of nch channels). */
INLINE void ph_out(const float *out, int wide, const float *bias, int m, const ph_sizes *z, float *L, float *y) {
    int nch = wide ? z->Cw : z->Cn, ph = wide ? 4 : 1, Wp = wide ? z->Ww : z->Wn, H = wide ? 2 * z->h : z->h, W = wide ? 2 * z->w : z->w;
    size_t ps = (size_t)ph * (size_t)nch * z->T + 8, rs = (size_t)Wp * PH_LANES * (size_t)(wide ? 2 : 1), hw = (size_t)H * (size_t)W;
    for (int c = 0; c < nch; c++) {
        float bc = bias ? bias[c] : 0.0f;
        for (int ty = 0; ty < z->tH; ty++)
            for (int tx = 0; tx < z->tW; tx++)
                for (int pq = 0; pq < ph; pq++) /* phase p, q's tile: every other row and pixel of the wide side */
                    ph_down(out + ((size_t)(ph * c + pq)) * z->T + (size_t)(ty * z->tW + tx) * PH_LANES, ps, bc,
                            px(L, Wp, (wide ? 8 : 4) * ty + pq / 2, (wide ? 8 : 4) * tx + pq % 2), rs, (size_t)(wide ? 2 : 1) * PH_LANES);
        from_lanes(L, Wp, wide, H, W, m, y + (size_t)c * hw, (size_t)nch * hw);
    }
}

/* The 25 products into C (rows M, columns T) = A[xi] (M, K) x B (K, T), PH_COLS columns at a time
 * (at 7x7 a chunk has 32; on (64, 128) x (128, 128) products OpenBLAS ran 15-25 % faster 64
 * columns at a time, for larger images). */
static void ph_products(const duet_ctx *gc, float *C, size_t pc, const float *A, size_t pA, int64_t K, const float *B, size_t pB,
                        int64_t M, size_t T) {
    for (size_t c0 = 0; c0 < T; c0 += PH_COLS)
        for (int xi = 0; xi < 25; xi++)
            dt_gemm(gc, C + xi * pc + c0, (int64_t)T, A + xi * pA, K, 0, B + xi * pB + c0, (int64_t)T, 0, 1.0f, 0.0f, M,
                    (int64_t)(T - c0 < PH_COLS ? T - c0 : PH_COLS), K);
}

/* Items b0..b1 by the phases' products, PH_LANES images at a time, with the transformed weights
 * j->u; the weight gradient is summed over the chunks in the transformed domain, into the
 * scratch's du (ph_dw turns it back). Each plane has 8 floats of slack. */
static void run_phased(const duet_ctx *gc, const conv_job *j, int b0, int b1, float *scr, int dw) {
    int tr = transposed_op(j);
    ph_sizes z = ph_layout(j->s, tr);
    int Cn = z.Cn, Cw4 = 4 * z.Cw;
    size_t hw = (size_t)z.h * (size_t)z.w, U = z.us, T = z.T, pa = (size_t)Cw4 * T + 8, pb = (size_t)Cn * T + 8;
    size_t ln = (size_t)z.Hn * (size_t)z.Wn * PH_LANES; /* a narrow channel's lanes */
    /* the wide side's input (the forward's, or the gradient's), the narrow one's, the outputs */
    const float *win = j->op == OP_CONVT_BWD ? j->dy : j->op == OP_CONVT_FWD ? NULL : j->x;
    const float *nin = j->op == OP_CONV_BWD ? j->dy : j->op == OP_CONV_FWD ? NULL : j->x;
    float *nout = j->op == OP_CONV_FWD ? j->y : j->op == OP_CONVT_BWD ? j->dx : NULL;
    float *wout = j->op == OP_CONVT_FWD ? j->y : j->op == OP_CONV_BWD ? j->dx : NULL;
    float *du = scr + z.du, *va = scr + z.a, *vb = scr + z.b, *Lni = scr + z.ni;
    zero_border(scr + z.wi, z.Hw, z.Ww, 2 * z.h, 2 * z.w); /* the input lanes' borders stay zero */
    for (int c = 0; c < Cn; c++) zero_border(Lni + (size_t)c * ln, z.Hn, z.Wn, z.h, z.w);
    memset(scr + z.wo, 0, (z.ni - z.wo) * sizeof(float)), memset(scr + z.no, 0, (z.total - z.no) * sizeof(float));
    for (int b = b0; b < b1; b += PH_LANES) {
        int m = b1 - b < PH_LANES ? b1 - b : PH_LANES;
        if (win && (nout || dw)) ph_wide_in(win + (size_t)b * (size_t)Cw4 * hw, m, &z, scr + z.wi, va);
        if (nin && (dw || wout))
            for (int c = 0; c < Cn; c++)
                to_lanes(nin + ((size_t)b * (size_t)Cn + (size_t)c) * hw, (size_t)Cn * hw, m, z.h, z.w, 1, z.Wn, Lni + (size_t)c * ln);
        if (nin && dw) { /* (4 Cw, T) x (T, Cn) summed into du */
            ph_narrow_in(Lni, ln, 1, &z, vb);
            for (int xi = 0; xi < 25; xi++)
                dt_gemm(gc, du + xi * U, Cn, va + xi * pa, (int64_t)T, 0, vb + xi * pb, (int64_t)T, 1, 1.0f, b > b0 ? 1.0f : 0.0f, Cw4, Cn,
                        (int64_t)T);
        }
        if (nout) { /* wide to narrow */
            ph_products(gc, vb, pb, j->u, U, Cw4, va, pa, Cn, T);
            ph_out(vb, 0, tr ? NULL : j->b, m, &z, scr + z.no, nout + (size_t)b * (size_t)Cn * hw);
        }
        if (wout) { /* narrow to wide, with the flipped weights */
            ph_narrow_in(Lni, ln, 0, &z, vb);
            ph_products(gc, va, pa, j->u, U, Cn, vb, pb, Cw4, T);
            ph_out(va, 1, tr ? j->b : NULL, m, &z, scr + z.wo, wout + (size_t)b * (size_t)Cw4 * hw);
        }
    }
}

/* dw (Cn, Cw, 4, 4) += G^T du G: entry (4 cw + 2p + q, cn) of the 25 planes du[xi us] (the
 * products sum it transposed: OpenBLAS runs them 5 % faster that way round) into
 * w[cn][cw][2a + p][2b + q]. */
static void ph_dw(const float *du, const ph_sizes *z, float *dw) {
    size_t U = (size_t)z->Cn * 4 * (size_t)z->Cw, Cn = (size_t)z->Cn;
    for (size_t k = 0; k < U; k++) {
        float m[5], f[5][2], c[5], o[2];
        for (int i = 0; i < 5; i++) {
            for (int jj = 0; jj < 5; jj++) m[jj] = du[(size_t)(5 * i + jj) * z->us + k];
            gt2(m, f[i]);
        }
        size_t cn = k % Cn, cw = k / Cn / 4, pq = k / Cn % 4;
        float *g = dw + (cn * (size_t)z->Cw + cw) * 16 + 4 * (pq / 2) + pq % 2;
        for (int b = 0; b < 2; b++) {
            for (int i = 0; i < 5; i++) c[i] = f[i][b];
            gt2(c, o);
            g[2 * b] += o[0], g[8 + 2 * b] += o[1];
        }
    }
}

/* n images' (ch, P) blocks from src into dst, from image order (n, ch, P) to side by side
 * (ch, n P) when `to_side`, back otherwise; returns dst. */
static float *regroup(const float *src, int n, int64_t ch, int64_t P, float *dst, int to_side) {
    for (int t = 0; t < n; t++)
        for (int64_t c = 0; c < ch; c++) {
            size_t img = (size_t)(t * ch + c) * (size_t)P, side = (size_t)(c * n + t) * (size_t)P;
            memcpy(dst + (to_side ? side : img), src + (to_side ? img : side), (size_t)P * sizeof(float));
        }
    return dst;
}

/* y (n, K, P) += b (K; nothing when NULL). */
static void add_bias(float *y, int n, int64_t K, int64_t P, const float *b) {
    if (b)
        for (int64_t r = 0; r < (int64_t)n * K; r++)
            for (int64_t p = 0; p < P; p++) y[(size_t)r * (size_t)P + (size_t)p] += b[r % K];
}

/* Items b..b+n unfolded side by side: each column row holds the n images' positions one after
 * the other, so that one product covers the chunk (the weights packed once, and a long inner
 * dimension for the weight gradient: the conv VAE's convolutions 5 % faster than image by
 * image); the other operand is regrouped the same way in the scratch's `side` buffer (for one
 * image, the image itself). The weight gradient is summed transposed into dwp, (C kk, K) or
 * (K kk, C): OpenBLAS's product runs 15 % faster that way round on the VAE's shapes. */
static void run_unfold(const duet_ctx *gc, const conv_job *j, int b, int n, float *scr, float *dwp) {
    const dt_conv_shape *s = j->s;
    const conv_sizes *z = &j->z;
    int64_t kk = (int64_t)s->kh * s->kw, HW = (int64_t)s->H * s->W, P = (int64_t)j->Ho * j->Wo;
    int64_t Ckk = (int64_t)s->C * kk, Kkk = (int64_t)s->K * kk, nP = n * P, nHW = n * HW;
    size_t xs = (size_t)s->C * (size_t)HW, ys = (size_t)s->K * (size_t)P;
    /* conv: the input is unfolded at the output's positions; transposed: the output is
     * unfolded at the input's positions */
    geom gconv = {s->C, s->H, s->W, s->kh, s->kw, s->stride, s->pad, j->Ho, j->Wo, (size_t)nP};
    geom gt = {s->K, j->Ho, j->Wo, s->kh, s->kw, s->stride, s->pad, s->H, s->W, (size_t)nHW};
    float *col = scr, *S = scr + z->split, *T = scr + z->side;
    const float *xb = j->x ? j->x + (size_t)b * xs : NULL, *dyb = j->dy ? j->dy + (size_t)b * ys : NULL;
    float *yb = j->y ? j->y + (size_t)b * ys : NULL, *dxb = j->dx ? j->dx + (size_t)b * xs : NULL;
    switch (j->op) {
    case OP_CONV_FWD:
        im2col(&gconv, xb, xs, n, col, S);
        dt_gemm(gc, n > 1 ? T : yb, nP, j->w, Ckk, 0, col, nP, 0, 1.0f, 0.0f, s->K, nP, Ckk);
        if (n > 1) regroup(T, n, s->K, P, yb, 0);
        add_bias(yb, n, s->K, P, j->b);
        break;
    case OP_CONV_BWD: {
        const float *d = n > 1 ? regroup(dyb, n, s->K, P, T, 1) : dyb;
        im2col(&gconv, xb, xs, n, col, S);
        dt_gemm(gc, dwp, s->K, col, nP, 0, d, nP, 1, 1.0f, 1.0f, Ckk, s->K, nP);
        if (dxb) {
            dt_gemm(gc, col, nP, j->w, Ckk, 1, d, nP, 0, 1.0f, 0.0f, Ckk, nP, s->K);
            col2im(&gconv, col, dxb, xs, n, S);
        }
        break;
    }
    case OP_CONVT_FWD:
        dt_gemm(gc, col, nHW, j->w, Kkk, 1, n > 1 ? regroup(xb, n, s->C, HW, T, 1) : xb, nHW, 0, 1.0f, 0.0f, Kkk, nHW, s->C);
        col2im(&gt, col, yb, ys, n, S);
        add_bias(yb, n, s->K, P, j->b);
        break;
    case OP_CONVT_BWD:
        im2col(&gt, dyb, ys, n, col, S);
        dt_gemm(gc, dwp, s->C, col, nHW, 0, n > 1 ? regroup(xb, n, s->C, HW, T, 1) : xb, nHW, 1, 1.0f, 1.0f, Kkk, s->C, nHW);
        if (dxb) {
            dt_gemm(gc, n > 1 ? T : dxb, nHW, j->w, Kkk, 0, col, nHW, 0, 1.0f, 0.0f, s->C, nHW, Kkk);
            if (n > 1) regroup(T, n, s->C, HW, dxb, 0);
        }
        break;
    default:
        break;
    }
}

/* Whether job j's items are unfolded (run_unfold); else Winograd's or the shifted products take
 * them. */
static int unfolds(const conv_job *j) {
    int conv = j->op == OP_CONV_FWD || j->op == OP_CONV_BWD;
    return !phased(j) && !(conv && (wino_conv(j->s) || same_conv(j->s)));
}

/* Items b0..b1 with one thread's gemm context `gc` and its slice of the scratch. */
static void run_items(const duet_ctx *gc, const conv_job *j, int b0, int b1, float *scr, float *dwp, float *dbp) {
    const dt_conv_shape *s = j->s;
    if (phased(j)) {
        run_phased(gc, j, b0, b1, scr, dwp != NULL);
    } else if (unfolds(j)) {
        int m = j->z.imgs, q = (b1 - b0 + m - 1) / m; /* q chunks of at most m, as even as can be */
        for (int k = 0; k < q; k++) {
            int c0 = b0 + (b1 - b0) * k / q, c1 = b0 + (b1 - b0) * (k + 1) / q;
            run_unfold(gc, j, c0, c1 - c0, scr, dwp);
        }
    } else if (wino_conv(s)) {
        run_wino(gc, j, b0, b1, scr, dwp);
    } else {
        run_shifted(gc, j, b0, b1, scr, dwp);
    }
    if (j->dy && dbp) {
        size_t P = (size_t)j->Ho * (size_t)j->Wo;
        for (int b = b0; b < b1; b++)
            for (int k = 0; k < s->K; k++) dbp[k] += (float)dt_sum_d(j->dy + ((size_t)b * (size_t)s->K + (size_t)k) * P, P);
    }
}

static void run_job(const duet_ctx *ctx, const conv_job *j, float *dw, float *db, float *work) {
    const dt_conv_shape *s = j->s;
    int G = conv_groups(s->B), nth = dt_threads(ctx);
    if (phased(j) && G > PH_GROUPS) G = PH_GROUPS;
    int nt = nth < G ? nth : G;
    conv_sizes z = sizes(s);
    int bwd = j->op == OP_CONV_BWD || j->op == OP_CONVT_BWD;
    duet_ctx one = {0};
    if (ctx) one = *ctx;
    one.n_threads = 1;
    const duet_ctx *gc = nt > 1 ? &one : ctx; /* a lone group lets dt_gemm use the threads */
    conv_job jw = *j;
    jw.z = z;
    if ((j->op == OP_CONV_FWD || (j->op == OP_CONV_BWD && j->dx)) && wino_conv(s)) { /* in group 0's slot */
        wino_weights(nth, j, work + wino_layout(s).u);
        jw.u = work + wino_layout(s).u;
    }
    if (phased(j) && (!bwd || j->dx)) { /* likewise */
        ph_sizes pz = ph_layout(s, transposed_op(j));
        ph_weights(nth, j, &pz, ph_flip(j), work + pz.u);
        jw.u = work + pz.u;
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
    if (phased(j)) { /* the transformed partial gradients added in group order, then turned back */
        ph_sizes pz = ph_layout(s, transposed_op(j));
        size_t n9 = 25 * pz.us;
        float *du = work + pz.du;
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && n9 * (size_t)G > 65536)
        for (size_t k0 = 0; k0 < n9; k0 += 2048) /* a block of group 0's sums in cache while the others are added */
            for (int g = 1; g < G; g++) {
                const float *part = work + (size_t)g * z.group + pz.du;
                for (size_t k = k0; k < n9 && k < k0 + 2048; k++) du[k] += part[k];
            }
        ph_dw(du, &pz, dw);
    } else { /* partial gradients added in group order; the unfolded ones are transposed (see run_unfold) */
        size_t rows = j->op == OP_CONV_BWD ? (size_t)s->K : (size_t)s->C, cols = z.w / rows;
        int tr = unfolds(j);
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1 && z.w * (size_t)G > 65536)
        for (size_t a = 0; a < rows; a++)
            for (size_t r = 0; r < cols; r++) {
                size_t at = tr ? r * rows + a : a * cols + r;
                float acc = 0.0f;
                for (int g = 0; g < G; g++) acc += work[(size_t)g * z.group + z.col + at];
                dw[a * cols + r] += acc;
            }
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
    conv_job j = {.op = OP_CONV_FWD, .s = s, .x = x, .w = w, .b = b, .y = y};
    dt_conv_out(s, &j.Ho, &j.Wo);
    run_job(ctx, &j, NULL, NULL, work);
}

void dt_conv2d_bwd(const duet_ctx *ctx, const dt_conv_shape *s, const float *dy, const float *x, const float *w,
                   float *dx, float *dw, float *db, float *work) {
    conv_job j = {.op = OP_CONV_BWD, .s = s, .x = x, .w = w, .dy = dy, .dx = dx};
    dt_conv_out(s, &j.Ho, &j.Wo);
    run_job(ctx, &j, dw, db, work);
}

void dt_convt2d_fwd(const duet_ctx *ctx, const dt_conv_shape *s, int opad, const float *x, const float *w,
                    const float *b, float *y, float *work) {
    conv_job j = {.op = OP_CONVT_FWD, .s = s, .x = x, .w = w, .b = b, .y = y};
    dt_convt_out(s, opad, &j.Ho, &j.Wo);
    run_job(ctx, &j, NULL, NULL, work);
}

void dt_convt2d_bwd(const duet_ctx *ctx, const dt_conv_shape *s, int opad, const float *dy, const float *x,
                    const float *w, float *dx, float *dw, float *db, float *work) {
    conv_job j = {.op = OP_CONVT_BWD, .s = s, .x = x, .w = w, .dy = dy, .dx = dx};
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
