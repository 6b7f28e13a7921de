/* quant.c — ggml's tensor types: the table of sizes, half-precision conversions and a plain
 * reference decoder per supported type (see quant.h). Not here: quantizing (encoding), fast or
 * vectorized decoders, dot products.
 *
 * Block layouts (all little-endian; "half" is an IEEE binary16 scale). A block of 32 elements
 * for the _0/_1 types, a super-block of 256 for the K types:
 *   Q8_0  34 B: half d, int8 q[32];                  x[j] = d*q[j]
 *   Q4_0  18 B: half d, u8 qs[16];                   x[j] = d*(lo(qs[j]) - 8), x[j+16] = d*(hi(qs[j]) - 8)
 *   Q4_1  20 B: half d, half m, u8 qs[16];           x[j] = d*lo(qs[j]) + m,   x[j+16] = d*hi(qs[j]) + m
 *   Q5_0  22 B: half d, u32 qh, u8 qs[16];           the nibble gains a fifth bit, bit j of qh for x[j]
 *               and bit j+16 for x[j+16]; x = d*(q5 - 16)
 *   Q5_1  24 B: half d, half m, u32 qh, u8 qs[16];   x = d*q5 + m
 *   Q4_K 144 B: half d, half dmin, u8 scales[12], u8 qs[128]. Eight sub-blocks of 32, each with a
 *               6-bit scale sc and a 6-bit min m packed in scales (see scale_min below);
 *               x = d*sc*q - dmin*m. The 256 elements come in four runs of 64: run r reads
 *               qs[32r..32r+31], its first 32 elements the low nibbles (sub-block 2r), its next
 *               32 the high nibbles (sub-block 2r+1).
 *   Q5_K 176 B: half d, half dmin, u8 scales[12], u8 qh[32], u8 qs[128]: as Q4_K, and the element
 *               at position l (0..31) of sub-block s takes bit s of qh[l] as its fifth bit.
 *   Q6_K 210 B: u8 ql[128], u8 qh[64], int8 scales[16], half d (the scale comes last). Two
 *               halves of 128; in half h (ql + 64h, qh + 32h), for l < 32 the element l + 32k
 *               (k = 0..3) has low 4 bits from ql[l] (k = 0), ql[l+32] (k = 1), the high nibbles
 *               of those (k = 2, 3), and 2 more bits from qh[l] >> 2k; q6 - 32 is multiplied by
 *               d and by scales[8h + e/16], e the element's index in the half.
 * Facts from ggml's GGUF documentation and block definitions; the code is duet's own.
 */
#include "quant.h"

/* id, name, elements per block, bytes per block, decoded here */
static const dt_qtype qtypes[] = {
    {0, "F32", 1, 4, 1},         {1, "F16", 1, 2, 1},        {2, "Q4_0", 32, 18, 1},
    {3, "Q4_1", 32, 20, 1},      {6, "Q5_0", 32, 22, 1},     {7, "Q5_1", 32, 24, 1},
    {8, "Q8_0", 32, 34, 1},      {9, "Q8_1", 32, 36, 0},     {10, "Q2_K", 256, 84, 0},
    {11, "Q3_K", 256, 110, 0},   {12, "Q4_K", 256, 144, 1},  {13, "Q5_K", 256, 176, 1},
    {14, "Q6_K", 256, 210, 1},   {15, "Q8_K", 256, 292, 0},  {16, "IQ2_XXS", 256, 66, 0},
    {17, "IQ2_XS", 256, 74, 0},  {18, "IQ3_XXS", 256, 98, 0}, {19, "IQ1_S", 256, 50, 0},
    {20, "IQ4_NL", 32, 18, 0},   {21, "IQ3_S", 256, 110, 0}, {22, "IQ2_S", 256, 82, 0},
    {23, "IQ4_XS", 256, 136, 0}, {24, "I8", 1, 1, 0},        {25, "I16", 1, 2, 0},
    {26, "I32", 1, 4, 0},        {27, "I64", 1, 8, 0},       {28, "F64", 1, 8, 0},
    {29, "IQ1_M", 256, 56, 0},   {30, "BF16", 1, 2, 1},      {34, "TQ1_0", 256, 54, 0},
    {35, "TQ2_0", 256, 66, 0},   {39, "MXFP4", 32, 17, 0},
};

const dt_qtype *dt_qtype_of(uint32_t id) {
    for (size_t i = 0; i < sizeof qtypes / sizeof *qtypes; i++)
        if (qtypes[i].id == id) return &qtypes[i];
    return NULL;
}

size_t dt_qtype_bytes(const dt_qtype *t, uint64_t n) {
    if (!t || n % (uint64_t)t->block) return 0;
    uint64_t blocks = n / (uint64_t)t->block;
    if (blocks > SIZE_MAX / (uint64_t)t->bytes) return 0;
    return (size_t)blocks * (size_t)t->bytes;
}

// --- half precision ----------------------------------------------------------------------------

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float dt_fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 31u, mant = h & 0x3ffu;
    if (exp == 31) return bits_f32(sign | 0x7f800000u | mant << 13); /* inf, or NaN keeping its payload */
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in a float (mant < 2^10) */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | (exp + 112u) << 23 | mant << 13); /* rebias 15 -> 127 */
}

float dt_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

// --- block decoders ----------------------------------------------------------------------------

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static float half_at(const uint8_t *p) { return dt_fp16_to_f32(rd16(p)); }

/* Q4_0 (offset 8, no min) and Q4_1 (offset 0, min m) */
static void q4_block(const uint8_t *qs, float d, float m, int off, float *y) {
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((qs[j] & 15) - off);
        y[j + 16] = d * (float)((qs[j] >> 4) - off);
        if (!off) y[j] += m, y[j + 16] += m;
    }
}

/* Q5_0 (offset 16, no min) and Q5_1 (offset 0, min m): the nibbles plus a fifth bit from qh */
static void q5_block(const uint8_t *qs, uint32_t qh, float d, float m, int off, float *y) {
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)((qh >> j) & 1u) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = d * (float)(lo - off);
        y[j + 16] = d * (float)(hi - off);
        if (!off) y[j] += m, y[j + 16] += m;
    }
}

/* The 6-bit scale and min of sub-block i (0..7) of a Q4_K/Q5_K super-block: sub-blocks 0-3 keep
 * theirs in the low 6 bits of bytes i (scale) and i+4 (min); sub-blocks 4-7 keep their low 4 bits
 * in the two nibbles of byte i+4 and their top 2 bits in the top bits of bytes i-4 and i. */
static void scale_min(const uint8_t *s, int i, int *sc, int *m) {
    if (i < 4) {
        *sc = s[i] & 63;
        *m = s[i + 4] & 63;
    } else {
        *sc = (s[i + 4] & 15) | (s[i - 4] >> 6) << 4;
        *m = (s[i + 4] >> 4) | (s[i] >> 6) << 4;
    }
}

/* Q4_K (qh NULL) and Q5_K */
static void qk_block(const uint8_t *b, int five, float *y) {
    float d = half_at(b), dmin = half_at(b + 2);
    const uint8_t *scales = b + 4, *qh = five ? b + 16 : NULL, *qs = five ? b + 48 : b + 16;
    for (int r = 0; r < 4; r++) {        /* four runs of 64 elements */
        for (int half = 0; half < 2; half++) {
            int s = 2 * r + half, sc, m;
            scale_min(scales, s, &sc, &m);
            float ds = d * (float)sc, dm = dmin * (float)m;
            for (int l = 0; l < 32; l++) {
                int q = half ? qs[32 * r + l] >> 4 : qs[32 * r + l] & 15;
                if (qh) q |= ((qh[l] >> s) & 1) << 4;
                y[64 * r + 32 * half + l] = ds * (float)q - dm;
            }
        }
    }
}

static void q6k_block(const uint8_t *b, float *y) {
    float d = half_at(b + 208);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        const int8_t *sc = (const int8_t *)(const void *)(b + 192 + 8 * h);
        float *yh = y + 128 * h;
        for (int l = 0; l < 32; l++) {
            int q[4] = {ql[l] & 15, ql[l + 32] & 15, ql[l] >> 4, ql[l + 32] >> 4};
            for (int k = 0; k < 4; k++) {
                int e = l + 32 * k;
                int v = (q[k] | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
                yh[e] = d * (float)sc[e / 16] * (float)v;
            }
        }
    }
}

// --- rows --------------------------------------------------------------------------------------

int dt_dequant_row(uint32_t type, const void *src, float *dst, int64_t n) {
    const dt_qtype *t = dt_qtype_of(type);
    if (!t || !t->supported) return DUET_EUNSUPPORTED;
    if (n < 0 || n % t->block) return DUET_EINVAL;
    const uint8_t *p = src;
    int64_t nb = n / t->block;
    for (int64_t i = 0; i < nb; i++, p += t->bytes) {
        float *y = dst + i * t->block;
        switch (type) {
        case DT_Q_F32: memcpy(y, p, 4); break; /* the host is little-endian (x86, ARM) */
        case DT_Q_F16: *y = half_at(p); break;
        case DT_Q_BF16: *y = dt_bf16_to_f32(rd16(p)); break;
        case DT_Q_Q8_0: {
            float d = half_at(p);
            for (int j = 0; j < 32; j++) y[j] = d * (float)(int8_t)p[2 + j];
            break;
        }
        case DT_Q_Q4_0: q4_block(p + 2, half_at(p), 0.0f, 8, y); break;
        case DT_Q_Q4_1: q4_block(p + 4, half_at(p), half_at(p + 2), 0, y); break;
        case DT_Q_Q5_0: q5_block(p + 6, rd32(p + 2), half_at(p), 0.0f, 16, y); break;
        case DT_Q_Q5_1: q5_block(p + 8, rd32(p + 4), half_at(p), half_at(p + 2), 0, y); break;
        case DT_Q_Q4_K: qk_block(p, 0, y); break;
        case DT_Q_Q5_K: qk_block(p, 1, y); break;
        case DT_Q_Q6_K: q6k_block(p, y); break;
        default: return DUET_EUNSUPPORTED; /* a supported type without a decoder: unreachable */
        }
    }
    return DUET_OK;
}
