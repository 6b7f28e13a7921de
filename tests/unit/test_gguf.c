/* test_gguf.c — the GGUF reader (io/gguf.c) and ggml's types (core/quant.c).
 * (a) the stories260K GGUF files in ../shared/data (skipped, saying so, when missing): metadata,
 *     tensor table and data offsets, and every quantized tensor of the q8_0 file within one
 *     quantization step of the same tensor of the f32 file;
 * (b) one hand-built block of every supported type decoded against values worked out here from
 *     the layout, element by element, plus hand-computed spot values; fp16/bf16 special values;
 * (c) malformed files built in memory, each refused with DUET_EFORMAT and a message with the
 *     byte offset;
 * (d) every truncation of a small valid file refused cleanly, and every allocation failing in
 *     turn, through both the memory and the file entry points, with nothing leaked.
 */
#include "core/quant.h"
#include "io/gguf.h"
#include "test.h"

// --- building files ----------------------------------------------------------------------------

typedef struct gb {
    unsigned char b[4096];
    size_t n;
} gb;

static void put(gb *g, const void *p, size_t n) {
    if (g->n + n > sizeof g->b) abort(); /* a test bug */
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void p8(gb *g, uint8_t v) { put(g, &v, 1); }
static void p32(gb *g, uint32_t v) {
    for (int i = 0; i < 4; i++) p8(g, (uint8_t)(v >> 8 * i));
}
static void p64(gb *g, uint64_t v) {
    for (int i = 0; i < 8; i++) p8(g, (uint8_t)(v >> 8 * i));
}
static void pstr(gb *g, const char *s) {
    p64(g, strlen(s));
    put(g, s, strlen(s));
}
static void set32(gb *g, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) g->b[at + (size_t)i] = (uint8_t)(v >> 8 * i);
}
static void set64(gb *g, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) g->b[at + (size_t)i] = (uint8_t)(v >> 8 * i);
}

/* What varies between the small test files. */
typedef struct fparams {
    uint32_t align;     /* general.alignment */
    const char *name0;  /* tensor 0's name */
    const char *name1;  /* tensor 1's name */
    int dup_key;        /* write general.architecture twice */
} fparams;

/* Where the fields that the malformed cases change were written. */
typedef struct fofs {
    size_t arch_len, arch_type, align_val, nested_inner_type, t0_ndims, t0_ne, t0_type, t1_off;
} fofs;

/* A small valid file: 8 key/values (a string, the alignment, an array of strings, an array of
 * arrays of i32, u8, i32, f32, bool) and two tensors: "w" F32 (4, 2) and name1 Q8_0 (64). */
static void small_file(gb *g, const fparams *fp, fofs *o) {
    fofs dummy;
    if (!o) o = &dummy;
    g->n = 0;
    put(g, "GGUF", 4);
    p32(g, 3);
    p64(g, 2);                  /* tensors */
    p64(g, fp->dup_key ? 9 : 8); /* key/values */
    pstr(g, "general.architecture");
    o->arch_type = g->n;
    p32(g, DT_GGUF_STRING);
    o->arch_len = g->n;
    pstr(g, "llama");
    pstr(g, "general.alignment");
    p32(g, DT_GGUF_U32);
    o->align_val = g->n;
    p32(g, fp->align);
    pstr(g, "tokenizer.ggml.tokens");
    p32(g, DT_GGUF_ARRAY);
    p32(g, DT_GGUF_STRING);
    p64(g, 3);
    pstr(g, "a");
    pstr(g, "bc");
    pstr(g, "");
    pstr(g, "test.nested");
    p32(g, DT_GGUF_ARRAY);
    p32(g, DT_GGUF_ARRAY);
    p64(g, 2);
    o->nested_inner_type = g->n;
    p32(g, DT_GGUF_I32);
    p64(g, 2);
    p32(g, 1);
    p32(g, (uint32_t)-2);
    p32(g, DT_GGUF_STRING);
    p64(g, 1);
    pstr(g, "x");
    pstr(g, "test.u8");
    p32(g, DT_GGUF_U8);
    p8(g, 200);
    pstr(g, "test.i32");
    p32(g, DT_GGUF_I32);
    p32(g, (uint32_t)-5);
    pstr(g, "test.f32");
    p32(g, DT_GGUF_F32);
    p32(g, 0x3fc00000u); /* 1.5 */
    pstr(g, "test.bool");
    p32(g, DT_GGUF_BOOL);
    p8(g, 1);
    if (fp->dup_key) {
        pstr(g, "general.architecture");
        p32(g, DT_GGUF_STRING);
        pstr(g, "gpt2");
    }
    /* tensor infos */
    pstr(g, fp->name0);
    o->t0_ndims = g->n;
    p32(g, 2);
    o->t0_ne = g->n;
    p64(g, 4);
    p64(g, 2);
    o->t0_type = g->n;
    p32(g, DT_Q_F32);
    p64(g, 0);
    pstr(g, fp->name1);
    p32(g, 1);
    p64(g, 64);
    p32(g, DT_Q_Q8_0);
    o->t1_off = g->n;
    uint64_t off1 = (32 + fp->align - 1) / fp->align * fp->align;
    p64(g, off1);
    while (g->n % fp->align) p8(g, 0);
    /* data: 8 floats, padding, two Q8_0 blocks (d = 1.0, q = j - 16) */
    for (int i = 0; i < 8; i++) p32(g, 0x3f800000u + (uint32_t)i);
    for (uint64_t i = 32; i < off1; i++) p8(g, 0);
    for (int blk = 0; blk < 2; blk++) {
        p8(g, 0x00), p8(g, 0x3c);
        for (int j = 0; j < 32; j++) p8(g, (uint8_t)(j - 16));
    }
}

static const fparams std_params = {32, "w", "blk.0.q", 0};

// --- (a) the shared stories260K files ---------------------------------------------------------

static int open_shared(duet_ctx *ctx, const char *rel, dt_gguf **f) {
    const char *path = t_shared(rel);
    *f = NULL;
    if (!path) {
        char why[200];
        snprintf(why, sizeof why, "%s is missing (set DUET_SHARED_DATA)", rel);
        SKIP(why);
        return 0;
    }
    duet_err e = {0, ""};
    int rc = dt_gguf_open(ctx, path, f, &e);
    if (rc != DUET_OK) fprintf(stderr, "%s is there but does not open: %s\n", path, e.msg);
    CHECK(rc == DUET_OK);
    return rc == DUET_OK;
}

static void check_str(const dt_gguf *f, const char *key, const char *want) {
    const char *s = NULL;
    size_t n = 0;
    duet_err e = {0, ""};
    CHECK(dt_gguf_get_str(f, key, &s, &n, &e) == DUET_OK && n == strlen(want) && memcmp(s, want, n) == 0);
}

static void check_u32(const dt_gguf *f, const char *key, uint32_t want) {
    uint32_t v = 0;
    duet_err e = {0, ""};
    CHECK(dt_gguf_get_u32(f, key, &v, &e) == DUET_OK && v == want);
}

static void check_stories_meta(const dt_gguf *f, uint64_t data_off) {
    CHECK(dt_gguf_version(f) == 3);
    CHECK(dt_gguf_n_tensors(f) == 48);
    CHECK(dt_gguf_data_offset(f) == data_off);
    CHECK(dt_gguf_alignment(f) == 32);
    check_str(f, "general.architecture", "llama");
    check_str(f, "tokenizer.ggml.model", "llama");
    check_u32(f, "llama.embedding_length", 64);
    check_u32(f, "llama.block_count", 5);
    check_u32(f, "llama.attention.head_count", 8);
    check_u32(f, "llama.attention.head_count_kv", 4);
    check_u32(f, "llama.context_length", 512);
    check_u32(f, "llama.feed_forward_length", 172);
    check_u32(f, "tokenizer.ggml.bos_token_id", 1);
    float eps = 0;
    duet_err e = {0, ""};
    CHECK(dt_gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps, &e) == DUET_OK && eps == 1e-5f);
    int b = 0;
    CHECK(dt_gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b, &e) == DUET_OK && b == 1);
    dt_gguf_arr a;
    CHECK(dt_gguf_get_arr(f, "tokenizer.ggml.tokens", &a, &e) == DUET_OK && a.type == DT_GGUF_STRING && a.n == 512);
    dt_gguf_iter it;
    const char *s;
    size_t n, count = 0;
    int first_ok = 0;
    dt_gguf_arr_iter(&a, &it);
    while (dt_gguf_iter_str(&it, &s, &n)) {
        if (count == 1) first_ok = n == 3 && memcmp(s, "<s>", 3) == 0;
        count++;
    }
    CHECK(count == 512 && first_ok);
    CHECK(dt_gguf_get_arr(f, "tokenizer.ggml.scores", &a, &e) == DUET_OK && a.type == DT_GGUF_F32 && a.n == 512);
    const dt_gguf_tensor *t = dt_gguf_find_tensor(f, "token_embd.weight");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512);
    t = dt_gguf_find_tensor(f, "blk.4.ffn_down.weight");
    CHECK(t && t->ne[0] == 172 && t->ne[1] == 64);
    CHECK(dt_gguf_find_tensor(f, "blk.5.ffn_down.weight") == NULL);
}

/* Every tensor of the q8_0 file against the f32 file's: Q8_0 within its block's step d, F16
 * within fp16 rounding (2^-11 relative, 2^-25 below the normal range), F32 exactly. */
static void test_stories(void) {
    duet_ctx *ctx = NULL;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    dt_gguf *f32 = NULL, *q8 = NULL;
    int have32 = open_shared(ctx, "llama2c_tinyllamas/stories260K-f32.gguf", &f32);
    int have8 = open_shared(ctx, "llama2c_tinyllamas/stories260K-q8_0.gguf", &q8);
    if (have32) check_stories_meta(f32, 14240);
    if (have8) {
        check_stories_meta(q8, 14272);
        check_u32(q8, "general.quantization_version", 2);
        check_u32(q8, "general.file_type", 7);
    }
    if (have32 && have8) {
        int counts[3] = {0, 0, 0}, bad = 0;
        for (int64_t i = 0; i < dt_gguf_n_tensors(q8); i++) {
            const dt_gguf_tensor *tq = dt_gguf_tensor_at(q8, i), *tf = dt_gguf_find_tensor(f32, tq->name);
            if (!tf || tf->type != DT_Q_F32 || memcmp(tf->ne, tq->ne, sizeof tf->ne) != 0) {
                bad++;
                continue;
            }
            size_t n = tf->nbytes / 4;
            float *x = malloc(n * sizeof *x), *ref = malloc(n * sizeof *ref);
            if (!x || !ref) abort();
            memcpy(ref, tf->data, n * sizeof *ref);
            CHECK(dt_dequant_row(tq->type, tq->data, x, (int64_t)n) == DUET_OK);
            const unsigned char *blk = tq->data;
            for (size_t j = 0; j < n; j++) {
                double tol = 0;
                if (tq->type == DT_Q_Q8_0) tol = dt_fp16_to_f32((uint16_t)(blk[34 * (j / 32)] | blk[34 * (j / 32) + 1] << 8));
                else if (tq->type == DT_Q_F16) tol = fmax(fabs(ref[j]) * 0x1p-11, 0x1p-25);
                if (fabs((double)x[j] - (double)ref[j]) > tol) {
                    if (bad++ < 3) fprintf(stderr, "%s[%zu] = %g, f32 file %g (tol %g)\n", tq->name, j, x[j], ref[j], tol);
                }
            }
            counts[tq->type == DT_Q_Q8_0 ? 0 : tq->type == DT_Q_F16 ? 1 : 2]++;
            free(x);
            free(ref);
        }
        CHECK(bad == 0);
        CHECK(counts[0] == 32 && counts[1] == 5 && counts[2] == 11);
    }
    dt_gguf_close(f32);
    dt_gguf_close(q8);
    duet_ctx_free(ctx);
}

// --- (b) hand-built blocks --------------------------------------------------------------------

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void test_halves(void) {
    /* fp16: bits -> exact float (hand-computed) */
    static const struct {
        uint16_t h;
        float f;
    } h16[] = {{0x3c00, 1.0f},       {0xc000, -2.0f},          {0x0001, 0x1p-24f},  {0x03ff, 1023 * 0x1p-24f},
               {0x0400, 0x1p-14f},   {0x7bff, 65504.0f},       {0x3555, 0.333251953125f}, {0x8001, -0x1p-24f},
               {0x0000, 0.0f},       {0x7c00, INFINITY},       {0xfc00, -INFINITY}};
    for (size_t i = 0; i < sizeof h16 / sizeof *h16; i++) CHECK(f32_bits(dt_fp16_to_f32(h16[i].h)) == f32_bits(h16[i].f));
    CHECK(f32_bits(dt_fp16_to_f32(0x8000)) == 0x80000000u); /* -0 */
    CHECK(f32_bits(dt_fp16_to_f32(0x7e00)) == 0x7fc00000u); /* quiet NaN */
    CHECK(f32_bits(dt_fp16_to_f32(0x7c01)) == 0x7f802000u); /* NaN payload kept */
    CHECK(f32_bits(dt_fp16_to_f32(0xfe00)) == 0xffc00000u);
    /* every half round-trips through float and back by rounding: the conversion is monotone
     * over the finite halves and each finite value is exact (checked against ldexp) */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        uint32_t e = (h >> 10) & 31, m = h & 1023;
        if (e == 31) continue;
        double v = e ? ldexp(1024 + m, (int)e - 25) : ldexp(m, -24);
        if (h & 0x8000) v = -v;
        if ((double)dt_fp16_to_f32((uint16_t)h) != v) bad++;
    }
    CHECK(bad == 0);
    /* bf16: the top half of a float */
    CHECK(dt_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(dt_bf16_to_f32(0xc040) == -3.0f);
    CHECK(dt_bf16_to_f32(0x0001) == 0x1p-133f);
    CHECK(dt_bf16_to_f32(0x7f80) == INFINITY && dt_bf16_to_f32(0xff80) == -INFINITY);
    CHECK(f32_bits(dt_bf16_to_f32(0x7fc1)) == 0x7fc10000u);
    CHECK(f32_bits(dt_bf16_to_f32(0x8000)) == 0x80000000u);
}

/* Decodes blk (one block of type) and compares with want[n] exactly. */
static void check_block(uint32_t type, const unsigned char *blk, const float *want, int n) {
    float got[256];
    CHECK(dt_dequant_row(type, blk, got, n) == DUET_OK);
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (f32_bits(got[i]) != f32_bits(want[i]) && bad++ < 3)
            fprintf(stderr, "type %u element %d: got %.9g, want %.9g\n", type, i, got[i], want[i]);
    CHECK(bad == 0);
}

static void test_plain_types(void) {
    unsigned char f32[8] = {0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    check_block(DT_Q_F32, f32, (const float[]){1.5f, -2.0f}, 2);
    unsigned char f16[6] = {0x00, 0x3c, 0x01, 0x00, 0xff, 0x7b};
    check_block(DT_Q_F16, f16, (const float[]){1.0f, 0x1p-24f, 65504.0f}, 3);
    unsigned char bf[4] = {0x80, 0x3f, 0x40, 0xc0};
    check_block(DT_Q_BF16, bf, (const float[]){1.0f, -3.0f}, 2);
}

static void test_q8_0(void) {
    unsigned char b[34] = {0x00, 0x38}; /* d = 0.5 */
    float want[32];
    for (int j = 0; j < 32; j++) {
        int q = j * 9 - 140; /* -140..139, wrapped to int8 */
        q = q < -128 ? q + 256 : q > 127 ? q - 256 : q;
        b[2 + j] = (unsigned char)(int8_t)q;
        want[j] = 0.5f * (float)q;
    }
    CHECK(want[0] == 58.0f && want[31] == -58.5f); /* q -140 wraps to 116, 139 to -117 */
    check_block(DT_Q_Q8_0, b, want, 32);
}

/* Q4_0/Q4_1/Q5_0/Q5_1 with qs[j] = (15 - j) << 4 | j: the low nibble of element j is j, the high
 * nibble (element j + 16) is 15 - j. */
static void test_32_blocks(void) {
    unsigned char qs[16];
    for (int j = 0; j < 16; j++) qs[j] = (unsigned char)((15 - j) << 4 | j);
    float want[32];
    unsigned char b[24];
    /* Q4_0: d = 2 */
    b[0] = 0x00, b[1] = 0x40;
    memcpy(b + 2, qs, 16);
    for (int j = 0; j < 16; j++) want[j] = 2.0f * (float)(j - 8), want[j + 16] = 2.0f * (float)(7 - j);
    CHECK(want[0] == -16.0f && want[16] == 14.0f && want[31] == -16.0f);
    check_block(DT_Q_Q4_0, b, want, 32);
    /* Q4_1: d = 0.5, m = -1 */
    b[0] = 0x00, b[1] = 0x38, b[2] = 0x00, b[3] = 0xbc;
    memcpy(b + 4, qs, 16);
    for (int j = 0; j < 16; j++) want[j] = 0.5f * (float)j - 1.0f, want[j + 16] = 0.5f * (float)(15 - j) - 1.0f;
    check_block(DT_Q_Q4_1, b, want, 32);
    /* Q5_0: d = 1, qh = 0xa5a5f00f (bytes 0f f0 a5 a5) */
    const unsigned char qh[4] = {0x0f, 0xf0, 0xa5, 0xa5};
    uint32_t h = 0xa5a5f00fu;
    b[0] = 0x00, b[1] = 0x3c;
    memcpy(b + 2, qh, 4);
    memcpy(b + 6, qs, 16);
    for (int j = 0; j < 16; j++) {
        want[j] = (float)((j | (int)((h >> j) & 1) << 4) - 16);
        want[j + 16] = (float)(((15 - j) | (int)((h >> (j + 16)) & 1) << 4) - 16);
    }
    CHECK(want[0] == 0.0f && want[4] == -12.0f && want[16] == 15.0f && want[17] == -2.0f);
    check_block(DT_Q_Q5_0, b, want, 32);
    /* Q5_1: d = 0.5, m = 2 */
    b[0] = 0x00, b[1] = 0x38, b[2] = 0x00, b[3] = 0x40;
    memcpy(b + 4, qh, 4);
    memcpy(b + 8, qs, 16);
    for (int j = 0; j < 16; j++) {
        want[j] = 0.5f * (float)(j | (int)((h >> j) & 1) << 4) + 2.0f;
        want[j + 16] = 0.5f * (float)((15 - j) | (int)((h >> (j + 16)) & 1) << 4) + 2.0f;
    }
    check_block(DT_Q_Q5_1, b, want, 32);
}

/* The 12 scale bytes of a Q4_K/Q5_K block encoding, by hand, scales {1,2,3,4,21,38,55,63} and
 * mins {5,6,7,8,33,50,3,28}: sub-blocks 4-7 keep their top two bits (21 = 01 0101: 1; 33 =
 * 10 0001: 2) in bytes 0-3 (scales) and 4-7 (mins), different for the two, and their low four
 * in the nibbles of bytes 8-11 (scale low, min high). */
static const unsigned char kscales[12] = {0x41, 0x82, 0xc3, 0xc4, 0x85, 0xc6, 0x07, 0x48, 0x15, 0x26, 0x37, 0xcf};
static const int ksc[8] = {1, 2, 3, 4, 21, 38, 55, 63}, kmin[8] = {5, 6, 7, 8, 33, 50, 3, 28};

static void test_k_blocks(void) {
    static unsigned char b[210];
    static float want[256];
    /* Q4_K: d = 1, dmin = 0.5, qs[k] = 37k + 11 (mod 256) */
    memset(b, 0, sizeof b);
    b[0] = 0x00, b[1] = 0x3c, b[2] = 0x00, b[3] = 0x38;
    memcpy(b + 4, kscales, 12);
    for (int k = 0; k < 128; k++) b[16 + k] = (unsigned char)(k * 37 + 11);
    for (int e = 0; e < 256; e++) {
        int run = e / 64, high = (e % 64) / 32, l = e % 32, s = 2 * run + high;
        int q = (b[16 + 32 * run + l] >> (4 * high)) & 15;
        want[e] = 1.0f * (float)ksc[s] * (float)q - 0.5f * (float)kmin[s];
    }
    CHECK(want[0] == 8.5f && want[255] == 364.0f); /* 1*1*11 - 2.5; qs[127] = 0x66: 63*6 - 14 */
    check_block(DT_Q_Q4_K, b, want, 256);
    /* Q5_K: d = 0.5, dmin = 1, qh[l] = 29l + 3, qs as above */
    memset(b, 0, sizeof b);
    b[0] = 0x00, b[1] = 0x38, b[2] = 0x00, b[3] = 0x3c;
    memcpy(b + 4, kscales, 12);
    for (int l = 0; l < 32; l++) b[16 + l] = (unsigned char)(l * 29 + 3);
    for (int k = 0; k < 128; k++) b[48 + k] = (unsigned char)(k * 37 + 11);
    for (int e = 0; e < 256; e++) {
        int run = e / 64, high = (e % 64) / 32, l = e % 32, s = 2 * run + high;
        int q = ((b[48 + 32 * run + l] >> (4 * high)) & 15) | ((b[16 + l] >> s) & 1) << 4;
        want[e] = 0.5f * (float)ksc[s] * (float)q - (float)kmin[s];
    }
    CHECK(want[0] == 8.5f); /* q = 11 | 16: 0.5*1*27 - 5 */
    check_block(DT_Q_Q5_K, b, want, 256);
    /* Q6_K: ql[k] = 53k + 7, qh[k] = 71k + 13, sixteen different scales, d = 0.25 (last) */
    static const int8_t sc6[16] = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 15, -128};
    memset(b, 0, sizeof b);
    for (int k = 0; k < 128; k++) b[k] = (unsigned char)(k * 53 + 7);
    for (int k = 0; k < 64; k++) b[128 + k] = (unsigned char)(k * 71 + 13);
    for (int k = 0; k < 16; k++) b[192 + k] = (unsigned char)sc6[k];
    b[208] = 0x00, b[209] = 0x34;
    for (int e = 0; e < 256; e++) {
        int half = e / 128, idx = e % 128, part = idx / 32, l = idx % 32;
        int lo = b[64 * half + l + (part & 1) * 32];
        lo = part < 2 ? lo & 15 : lo >> 4;
        int hi = (b[128 + 32 * half + l] >> (2 * part)) & 3;
        want[e] = 0.25f * (float)sc6[8 * half + idx / 16] * (float)((lo | hi << 4) - 32);
    }
    CHECK(want[0] == -2.25f); /* ql 7, qh 13 -> 7 | 1 << 4 = 23, 23 - 32 = -9, times 0.25 */
    check_block(DT_Q_Q6_K, b, want, 256);
}

static void test_dequant_refusals(void) {
    float out[256];
    unsigned char z[300] = {0};
    CHECK(dt_dequant_row(DT_Q_Q2_K, z, out, 256) == DUET_EUNSUPPORTED);
    CHECK(dt_dequant_row(5, z, out, 32) == DUET_EUNSUPPORTED); /* a retired id */
    CHECK(dt_dequant_row(DT_Q_Q8_0, z, out, 33) == DUET_EINVAL);
    CHECK(dt_dequant_row(DT_Q_Q4_K, z, out, -256) == DUET_EINVAL);
    CHECK(dt_qtype_of(DT_Q_Q3_K) && !dt_qtype_of(DT_Q_Q3_K)->supported && strcmp(dt_qtype_of(DT_Q_Q3_K)->name, "Q3_K") == 0);
    CHECK(dt_qtype_bytes(dt_qtype_of(DT_Q_Q6_K), 512) == 420 && dt_qtype_bytes(dt_qtype_of(DT_Q_Q6_K), 100) == 0);
}

// --- the small file, valid ---------------------------------------------------------------------

static void test_small_valid(void) {
    gb g;
    fofs o;
    small_file(&g, &std_params, &o);
    duet_ctx *ctx = NULL;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    dt_gguf *f = NULL;
    int rc = dt_gguf_open_mem(ctx, "small.gguf", g.b, g.n, &f, &e);
    if (rc) fprintf(stderr, "small.gguf: %s\n", e.msg);
    CHECK(rc == DUET_OK);
    if (!f) goto done;
    CHECK(dt_gguf_n_kv(f) == 8 && strcmp(dt_gguf_kv_key(f, 2), "tokenizer.ggml.tokens") == 0);
    CHECK(dt_gguf_kv_type(f, 1) == DT_GGUF_U32 && dt_gguf_find_key(f, "test.bool") == 7 && dt_gguf_find_key(f, "nope") == -1);
    check_str(f, "general.architecture", "llama");
    uint32_t u = 0;
    int32_t i = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float x = 0;
    int b = 0;
    CHECK(dt_gguf_get_u32(f, "test.u8", &u, &e) == DUET_OK && u == 200);       /* widened */
    CHECK(dt_gguf_get_i64(f, "test.u8", &i64, &e) == DUET_OK && i64 == 200);
    CHECK(dt_gguf_get_i32(f, "test.i32", &i, &e) == DUET_OK && i == -5);
    CHECK_ERR(dt_gguf_get_u32(f, "test.i32", &u, &e), &e, DUET_ERANGE, "does not fit a u32");
    CHECK_ERR(dt_gguf_get_u64(f, "test.i32", &u64, &e), &e, DUET_ERANGE, "-5");
    CHECK(dt_gguf_get_f32(f, "test.f32", &x, &e) == DUET_OK && x == 1.5f);
    CHECK(dt_gguf_get_f32(f, "test.i32", &x, &e) == DUET_OK && x == -5.0f);  /* integers are numbers */
    CHECK(dt_gguf_get_bool(f, "test.bool", &b, &e) == DUET_OK && b == 1);
    CHECK_ERR(dt_gguf_get_u32(f, "general.architecture", &u, &e), &e, DUET_EFORMAT, "is a string, not an integer");
    CHECK_ERR(dt_gguf_get_bool(f, "test.u8", &b, &e), &e, DUET_EFORMAT, "offset");
    CHECK_ERR(dt_gguf_get_u32(f, "llama.block_count", &u, &e), &e, DUET_EFORMAT, "'llama.block_count' is missing");
    dt_gguf_arr a, sub;
    dt_gguf_iter it, in;
    const char *s;
    size_t n;
    CHECK(dt_gguf_get_arr(f, "tokenizer.ggml.tokens", &a, &e) == DUET_OK && a.type == DT_GGUF_STRING && a.n == 3);
    dt_gguf_arr_iter(&a, &it);
    CHECK(dt_gguf_iter_str(&it, &s, &n) && n == 1 && s[0] == 'a');
    CHECK(dt_gguf_iter_str(&it, &s, &n) && n == 2 && memcmp(s, "bc", 2) == 0);
    CHECK(dt_gguf_iter_str(&it, &s, &n) && n == 0);
    CHECK(!dt_gguf_iter_str(&it, &s, &n));
    CHECK(dt_gguf_get_arr(f, "test.nested", &a, &e) == DUET_OK && a.type == DT_GGUF_ARRAY && a.n == 2);
    dt_gguf_arr_iter(&a, &it);
    CHECK(dt_gguf_iter_arr(&it, &sub) && sub.type == DT_GGUF_I32 && sub.n == 2);
    CHECK(dt_gguf_arr_i64(&sub, 0, &i64) && i64 == 1 && dt_gguf_arr_i64(&sub, 1, &i64) && i64 == -2 && !dt_gguf_arr_i64(&sub, 2, &i64));
    double d = 0;
    CHECK(dt_gguf_arr_f64(&sub, 1, &d) && d == -2.0);
    CHECK(dt_gguf_iter_arr(&it, &sub) && sub.type == DT_GGUF_STRING && sub.n == 1);
    dt_gguf_arr_iter(&sub, &in);
    CHECK(dt_gguf_iter_str(&in, &s, &n) && n == 1 && s[0] == 'x');
    CHECK(!dt_gguf_iter_arr(&it, &sub));
    CHECK(dt_gguf_n_tensors(f) == 2);
    const dt_gguf_tensor *t = dt_gguf_find_tensor(f, "w"), *q = dt_gguf_find_tensor(f, "blk.0.q");
    CHECK(t && t->type == DT_Q_F32 && t->n_dims == 2 && t->ne[0] == 4 && t->ne[1] == 2 && t->ne[2] == 1 && t->nbytes == 32);
    CHECK(q && q->type == DT_Q_Q8_0 && q->nbytes == 68 && q->offset % 32 == 0 && q->offset + 68 == g.n);
    CHECK(t && t->data == g.b + dt_gguf_data_offset(f) && dt_gguf_tensor_at(f, 1) == q);
    if (q) {
        float y[64];
        CHECK(dt_dequant_row(q->type, q->data, y, 64) == DUET_OK && y[0] == -16.0f && y[63] == 15.0f);
    }
    dt_gguf_close(f);
    /* the same bytes from a file */
    const char *path = t_tmpfile(".gguf", (const char *)g.b, g.n);
    CHECK_OK(dt_gguf_open(ctx, path, &f, &e));
    CHECK(f && dt_gguf_n_tensors(f) == 2 && dt_gguf_find_tensor(f, "blk.0.q"));
    dt_gguf_close(f);
    remove(path);
    CHECK_ERR(dt_gguf_open(ctx, "/nonexistent/x.gguf", &f, &e), &e, DUET_EIO, "/nonexistent/x.gguf");
    CHECK(f == NULL);
    /* a tensor without elements is fine: Q8_0 (0, 5) */
    fparams pe = std_params;
    small_file(&g, &pe, &o);
    set64(&g, o.t0_ne, 0);
    set64(&g, o.t0_ne + 8, 5);
    set32(&g, o.t0_type, DT_Q_Q8_0);
    CHECK_OK(dt_gguf_open_mem(ctx, "empty.gguf", g.b, g.n, &f, &e));
    CHECK(f && dt_gguf_find_tensor(f, "w") && dt_gguf_find_tensor(f, "w")->nbytes == 0);
    dt_gguf_close(f);
    /* other alignments */
    fparams p64 = std_params;
    p64.align = 64;
    small_file(&g, &p64, NULL);
    CHECK_OK(dt_gguf_open_mem(ctx, "a64.gguf", g.b, g.n, &f, &e));
    CHECK(f && dt_gguf_alignment(f) == 64 && dt_gguf_data_offset(f) % 64 == 0);
    dt_gguf_close(f);
done:
    duet_ctx_free(ctx);
}

// --- (c) malformed files -----------------------------------------------------------------------

/* Opens g and expects DUET_EFORMAT with "offset" and frag in the message. */
static void expect_bad(duet_ctx *ctx, const gb *g, const char *what, const char *frag) {
    dt_gguf *f = NULL;
    duet_err e = {0, ""};
    int rc = dt_gguf_open_mem(ctx, "bad.gguf", g->b, g->n, &f, &e);
    int ok = rc == DUET_EFORMAT && f == NULL && strstr(e.msg, "bad.gguf: offset ") && strstr(e.msg, frag);
    if (!ok) fprintf(stderr, "%s: want EFORMAT with '%s', got %d '%s'\n", what, frag, rc, e.msg);
    CHECK(ok);
    dt_gguf_close(f);
}

static void test_malformed(void) {
    duet_ctx *ctx = NULL;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    gb g;
    fofs o;
    fparams p = std_params;
#define BAD(what, frag, patch)                                                                                   \
    do {                                                                                                         \
        small_file(&g, &p, &o);                                                                                  \
        patch;                                                                                                   \
        expect_bad(ctx, &g, what, frag);                                                                         \
        p = std_params;                                                                                          \
    } while (0)
    BAD("bad magic", "not a GGUF file", g.b[3] = 'G');
    BAD("version 1", "GGUF version 1", set32(&g, 4, 1));
    BAD("version 4", "GGUF version 4", set32(&g, 4, 4));
    BAD("big-endian", "big-endian", set32(&g, 4, 0x03000000u));
    BAD("tensor count", "tensor infos need", set64(&g, 8, (uint64_t)1 << 62));
    BAD("tensor count 2^63-1", "tensor infos need", set64(&g, 8, (uint64_t)INT64_MAX));
    BAD("key/value count", "key/values need", set64(&g, 16, (uint64_t)1 << 62));
    BAD("string length 2^64-1", "length 18446744073709551615 exceeds", set64(&g, o.arch_len, UINT64_MAX));
    BAD("unknown value type", "unknown value type 13", set32(&g, o.arch_type, 13));
    BAD("arrays nested 3 deep", "nested more than 2 deep", set32(&g, o.nested_inner_type, DT_GGUF_ARRAY));
    p.dup_key = 1;
    BAD("duplicate key", "'general.architecture' appears twice", (void)0);
    p.name1 = "w";
    BAD("duplicate tensor", "tensor 'w' appears twice", (void)0);
    BAD("alignment 0", "general.alignment 0 is not a power of two", set32(&g, o.align_val, 0));
    BAD("alignment 13", "general.alignment 13", set32(&g, o.align_val, 13));
    BAD("alignment 2^31", "general.alignment 2147483648", set32(&g, o.align_val, 1u << 31));
    BAD("alignment type", "general.alignment is a i32", set32(&g, o.align_val - 4, DT_GGUF_I32));
    p.name0 = "a_tensor_name_that_is_sixty_five_bytes_long_which_is_two_too_many";
    BAD("65-byte name", "a name of 65 bytes", (void)0);
    p.name0 = "";
    BAD("empty name", "a name of 0 bytes", (void)0);
    BAD("5 dims", "5 dimensions", set32(&g, o.t0_ndims, 5));
    BAD("0 dims", "0 dimensions", set32(&g, o.t0_ndims, 0));
    BAD("element-count overflow", "overflow", (set64(&g, o.t0_ne, (uint64_t)1 << 32), set64(&g, o.t0_ne + 8, (uint64_t)1 << 32)));
    BAD("negative dimension", "overflow", set64(&g, o.t0_ne, UINT64_MAX));
    /* no elements, but a row of 2^62 floats whose size overflows (found by fuzzing) */
    BAD("empty tensor, huge row", "overflow a size", (set64(&g, o.t0_ne, (uint64_t)1 << 62), set64(&g, o.t0_ne + 8, 0)));
    BAD("empty tensor, huge column", "overflow a size", (set64(&g, o.t0_ne, 0), set64(&g, o.t0_ne + 8, (uint64_t)1 << 62)));
    BAD("unknown ggml type", "unknown ggml type 4", set32(&g, o.t0_type, 4));
    BAD("unknown ggml type 99", "unknown ggml type 99", set32(&g, o.t0_type, 99));
    BAD("row not a multiple of the block", "row length 4 is not a multiple of Q8_0's block of 32", set32(&g, o.t0_type, DT_Q_Q8_0));
    BAD("offset misaligned", "not a multiple of the alignment 32", set64(&g, o.t1_off, 36));
    BAD("offset past the end", "ends past the end", set64(&g, o.t1_off, (uint64_t)1 << 40));
    BAD("offset near 2^64", "ends past the end", set64(&g, o.t1_off, UINT64_MAX - 31));
    BAD("truncated data", "ends past the end", g.n -= 10);
#undef BAD
    duet_ctx_free(ctx);
}

// --- (d) truncations and allocation failures ------------------------------------------------------

static void test_truncations(void) {
    gb g;
    small_file(&g, &std_params, NULL);
    duet_ctx *ctx = NULL;
    duet_err e = {0, ""};
    CHECK_OK(duet_ctx_new(&ctx, &e));
    int bad = 0;
    for (size_t n = 0; n < g.n; n++) {
        unsigned char *copy = malloc(n ? n : 1); /* exactly n bytes, so ASan sees any over-read */
        if (!copy) abort();
        memcpy(copy, g.b, n);
        dt_gguf *f = NULL;
        int rc = dt_gguf_open_mem(ctx, "cut.gguf", copy, n, &f, &e);
        if ((rc != DUET_EFORMAT || f || !strstr(e.msg, "offset")) && bad++ < 3)
            fprintf(stderr, "cut at %zu: %d '%s'\n", n, rc, e.msg);
        dt_gguf_close(f);
        free(copy);
    }
    CHECK(bad == 0);
    duet_ctx_free(ctx);
}

static gb alloc_file;
static char alloc_path[256];

static int alloc_body(duet_ctx *ctx, long k, duet_err *e) {
    (void)k;
    dt_gguf *f = NULL;
    int rc = dt_gguf_open_mem(ctx, "small.gguf", alloc_file.b, alloc_file.n, &f, e);
    if (rc) return rc;
    uint32_t a = 0;
    rc = dt_gguf_get_u32(f, "general.alignment", &a, e);
    dt_gguf_close(f);
    if (rc) return rc;
    rc = dt_gguf_open(ctx, alloc_path, &f, e);
    if (rc == DUET_OK && !dt_gguf_find_tensor(f, "w")) rc = DUET_EINVAL;
    dt_gguf_close(f);
    return rc;
}

static void test_alloc_failures(void) {
    small_file(&alloc_file, &std_params, NULL);
    snprintf(alloc_path, sizeof alloc_path, "%s", t_tmpfile(".gguf", (const char *)alloc_file.b, alloc_file.n));
    long total = 0;
    CHECK(t_each_alloc_failure(alloc_body, &total) == 0);
    CHECK(total >= 12); /* two opens of six allocations or more each */
    remove(alloc_path);
}

int main(void) {
    RUN(test_halves);
    RUN(test_plain_types);
    RUN(test_q8_0);
    RUN(test_32_blocks);
    RUN(test_k_blocks);
    RUN(test_dequant_refusals);
    RUN(test_small_valid);
    RUN(test_malformed);
    RUN(test_truncations);
    RUN(test_alloc_failures);
    RUN(test_stories);
    TEST_END();
}
