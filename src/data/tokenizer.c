/* tokenizer.c — character, byte-level BPE, GPT-2 and llama2.c tokenizers (see tokenizer.h).
 *
 * One representation for all kinds: V pieces (byte strings) in one blob with offsets; byte-level
 * kinds (bpe, gpt2) add 256 byte tokens and merges (left, right, result) ranked by position;
 * llama2c adds a score per piece; char keeps its sorted code points.
 * Not here: special-token parsing in text (GPT-2's "<|endoftext|>" in a string is plain text, as
 * in OpenAI's encoder), SentencePiece model files, normalisation.
 *
 * References: Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units"
 * (BPE learning, Alg. 1); Radford et al. 2019, GPT-2 (byte-level BPE, the pre-token pattern and
 * the byte->unicode table of OpenAI's encoder.py); Karpathy, llama2.c run.c (tokenizer.bin format
 * and its encode/decode). Encoding a pre-token merges the lowest-rank pair (all its occurrences,
 * left to right) until none is left, exactly as OpenAI's bpe(): O(n * rounds) in the pre-token's
 * length n (a 300 KB word of letters takes about 2 s). llama2c's merge loop uses a heap: O(n log n).
 * Exactness was checked against tools/gpt2_tokens.py on thousands of random strings.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <ctype.h>
#include <math.h>
#include <pcre2.h>

#include <cjson/cJSON.h>

#include "data.h"

// --- types ---------------------------------------------------------------------------------

/* uint64 key -> int64 value, open addressing, linear probing; EMPTY key marks a free slot. */
#define EMPTY UINT64_MAX
typedef struct u64map {
    uint64_t *keys;
    int64_t *vals;
    size_t cap, n; /* cap a power of two (or 0) */
} u64map;

/* byte string -> id, the strings living in a caller's blob with offsets; -1 marks a free slot. */
typedef struct strmap {
    int32_t *slots;
    size_t cap, n;
} strmap;

struct dt_tok {
    int kind;
    int32_t V, bos, eos;
    int32_t max_len;     /* llama2c's max_token_length */
    char *pieces;        /* (off[V]) all piece bytes */
    int64_t *off;        /* (V+1) */
    float *scores;       /* (V) llama2c */
    uint32_t *cps;       /* (V) char: sorted code points */
    int32_t *merges;     /* (M, 3) bpe, gpt2: left, right, result; rank = row */
    int32_t M;
    int32_t byte_id[256];/* bpe, gpt2: token of each byte */
    char bytes[256];     /* llama2c: the raw byte pieces of <0xXX> tokens */
    u64map pair;         /* bpe, gpt2: (left << 32 | right) -> rank */
    strmap pmap;         /* llama2c: piece -> lowest id */
    duet_ctx *ctx;       /* for the regex's memory */
    pcre2_general_context *gctx;
    pcre2_code *re;      /* bpe, gpt2: the GPT-2 pre-token pattern */
};

static const char *const kind_names[] = {"", "char", "bpe", "gpt2", "llama2c"};
/* GPT-2's pattern 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ with
 * \s spelled out as Unicode White_Space, which is what Python's `regex` matches: PCRE2's UCP \s
 * also takes U+180E (MONGOLIAN VOWEL SEPARATOR), which would split text differently. */
#define WS "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
static const char gpt2_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+"
                                   "|[" WS "]+(?![^" WS "])|[" WS "]+";
#undef WS

// --- hash maps -----------------------------------------------------------------------------

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void u64map_free(duet_ctx *ctx, u64map *m) {
    dt_free(ctx, m->keys);
    dt_free(ctx, m->vals);
    memset(m, 0, sizeof *m);
}

/* Slot of key, or -1 when absent. */
static int64_t u64map_find(const u64map *m, uint64_t key) {
    if (!m->cap) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) return (int64_t)i;
        if (m->keys[i] == EMPTY) return -1;
    }
}

static int64_t u64map_get(const u64map *m, uint64_t key, int64_t dflt) {
    int64_t i = u64map_find(m, key);
    return i < 0 ? dflt : m->vals[i];
}

static int u64map_rehash(duet_ctx *ctx, u64map *m, size_t cap, duet_err *err) {
    uint64_t *keys = dt_alloc_e(ctx, cap, sizeof *keys, "tokenizer hash", err);
    int64_t *vals = dt_alloc_e(ctx, cap, sizeof *vals, "tokenizer hash", err);
    if (!keys || !vals) {
        dt_free(ctx, keys);
        dt_free(ctx, vals);
        return DUET_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++) keys[i] = EMPTY;
    for (size_t j = 0; j < m->cap; j++) {
        if (m->keys[j] == EMPTY) continue;
        size_t i = mix64(m->keys[j]) & (cap - 1);
        while (keys[i] != EMPTY) i = (i + 1) & (cap - 1);
        keys[i] = m->keys[j];
        vals[i] = m->vals[j];
    }
    dt_free(ctx, m->keys);
    dt_free(ctx, m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return DUET_OK;
}

/* Adds delta to key's value (inserting it at 0 first); set replaces the value instead. */
static int u64map_add(duet_ctx *ctx, u64map *m, uint64_t key, int64_t v, int set, duet_err *err) {
    int64_t s = u64map_find(m, key);
    if (s >= 0) {
        m->vals[s] = set ? v : m->vals[s] + v;
        return DUET_OK;
    }
    if ((m->n + 1) * 2 > m->cap) {
        int rc = u64map_rehash(ctx, m, m->cap ? m->cap * 2 : 64, err);
        if (rc) return rc;
    }
    size_t i = mix64(key) & (m->cap - 1);
    while (m->keys[i] != EMPTY) i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = v;
    m->n++;
    return DUET_OK;
}

/* FNV-1a over two segments (a string split in two, for pair lookups). */
static uint64_t hash2(const char *a, size_t na, const char *b, size_t nb) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < na; i++) h = (h ^ (unsigned char)a[i]) * 1099511628211ULL;
    for (size_t i = 0; i < nb; i++) h = (h ^ (unsigned char)b[i]) * 1099511628211ULL;
    return mix64(h);
}

static void strmap_free(duet_ctx *ctx, strmap *m) {
    dt_free(ctx, m->slots);
    memset(m, 0, sizeof *m);
}

/* Id of the string a+b in the map (keys are blob[off[id]..off[id+1])), or -1. */
static int32_t strmap_find2(const strmap *m, const char *blob, const int64_t *off, const char *a,
                            size_t na, const char *b, size_t nb) {
    if (!m->cap) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = hash2(a, na, b, nb) & mask;; i = (i + 1) & mask) {
        int32_t id = m->slots[i];
        if (id < 0) return -1;
        const char *k = blob + off[id];
        if ((size_t)(off[id + 1] - off[id]) == na + nb && memcmp(k, a, na) == 0 &&
            memcmp(k + na, b, nb) == 0)
            return id;
    }
}

static int32_t strmap_find(const strmap *m, const char *blob, const int64_t *off, const char *s,
                           size_t n) {
    return strmap_find2(m, blob, off, s, n, "", 0);
}

static void strmap_place(int32_t *slots, size_t cap, const char *blob, const int64_t *off,
                         int32_t id) {
    size_t i = hash2(blob + off[id], (size_t)(off[id + 1] - off[id]), "", 0) & (cap - 1);
    while (slots[i] >= 0) i = (i + 1) & (cap - 1);
    slots[i] = id;
}

/* Inserts id (whose string must not be in the map yet). */
static int strmap_add(duet_ctx *ctx, strmap *m, const char *blob, const int64_t *off, int32_t id,
                      duet_err *err) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        int32_t *slots = dt_alloc_e(ctx, cap, sizeof *slots, "tokenizer hash", err);
        if (!slots) return DUET_ENOMEM;
        for (size_t i = 0; i < cap; i++) slots[i] = -1;
        for (size_t j = 0; j < m->cap; j++)
            if (m->slots[j] >= 0) strmap_place(slots, cap, blob, off, m->slots[j]);
        dt_free(ctx, m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    strmap_place(m->slots, m->cap, blob, off, id);
    m->n++;
    return DUET_OK;
}

// --- UTF-8 ---------------------------------------------------------------------------------

/* Decodes one code point of s[0..n): its length (1..4), or 0 when invalid (overlong,
 * surrogate, above U+10FFFF, truncated). */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) return *cp = c, 1;
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (!len || c > 0xF4 || (size_t)len > n) return 0;
    uint32_t v = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

static int utf8_put(char *out, uint32_t cp) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) return o[0] = (unsigned char)cp, 1;
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

// --- lifecycle -----------------------------------------------------------------------------

void dt_tok_free(duet_ctx *ctx, dt_tok *t) {
    if (!t) return;
    dt_free(ctx, t->pieces);
    dt_free(ctx, t->off);
    dt_free(ctx, t->scores);
    dt_free(ctx, t->cps);
    dt_free(ctx, t->merges);
    u64map_free(ctx, &t->pair);
    strmap_free(ctx, &t->pmap);
    if (t->re) pcre2_code_free(t->re);
    if (t->gctx) pcre2_general_context_free(t->gctx);
    dt_free(ctx, t);
}

static int tok_new(duet_ctx *ctx, int kind, dt_tok **out, duet_err *err) {
    dt_tok *t = dt_calloc(ctx, 1, sizeof *t);
    if (!t) return dt_err(err, DUET_ENOMEM, "tokenizer: out of memory");
    t->kind = kind;
    t->bos = t->eos = -1;
    t->ctx = ctx;
    for (int b = 0; b < 256; b++) t->bytes[b] = (char)b;
    *out = t;
    return DUET_OK;
}

static void *re_malloc(PCRE2_SIZE n, void *ctx) { return dt_alloc(ctx, n); }
static void re_free(void *p, void *ctx) { dt_free(ctx, p); }

/* Compiles the GPT-2 pre-token pattern into t->re (invalid UTF-8 in subjects never matches). */
static int compile_re(dt_tok *t, duet_err *err) {
    t->gctx = pcre2_general_context_create(re_malloc, re_free, t->ctx);
    if (!t->gctx) return dt_err(err, DUET_ENOMEM, "tokenizer: out of memory (regex)");
    pcre2_compile_context *cc = pcre2_compile_context_create(t->gctx);
    if (!cc) return dt_err(err, DUET_ENOMEM, "tokenizer: out of memory (regex)");
    int code;
    PCRE2_SIZE at;
    t->re = pcre2_compile((PCRE2_SPTR)gpt2_pattern, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &at, cc);
    pcre2_compile_context_free(cc);
    if (!t->re) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof msg);
        return dt_err(err, code == PCRE2_ERROR_NOMEMORY || code == PCRE2_ERROR_HEAP_FAILED ? DUET_ENOMEM
                                                                                     : DUET_EUNSUPPORTED,
                      "tokenizer: pre-token regex: %s", (const char *)msg);
    }
    pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
    return DUET_OK;
}

/* Builds the lookup structures of a complete tokenizer (after train, load or file read). */
static int tok_finish(dt_tok *t, duet_err *err) {
    duet_ctx *ctx = t->ctx;
    int rc = DUET_OK;
    if (t->kind == DT_TOK_BPE || t->kind == DT_TOK_GPT2) {
        for (int32_t r = 0; r < t->M; r++) {
            const int32_t *m = t->merges + 3 * (size_t)r;
            uint64_t key = (uint64_t)(uint32_t)m[0] << 32 | (uint32_t)m[1];
            DT_TRY(u64map_add(ctx, &t->pair, key, r, 1, err)); /* a repeated pair: last rank wins */
        }
        if (!t->re) DT_TRY(compile_re(t, err));
    } else if (t->kind == DT_TOK_LLAMA2C) {
        for (int32_t i = 0; i < t->V; i++)
            if (strmap_find(&t->pmap, t->pieces, t->off, t->pieces + t->off[i],
                            (size_t)(t->off[i + 1] - t->off[i])) < 0)
                DT_TRY(strmap_add(ctx, &t->pmap, t->pieces, t->off, i, err));
    }
fail:
    return rc;
}

// --- pre-tokens (bpe, gpt2) ----------------------------------------------------------------

typedef int (*word_fn)(void *user, const char *s, size_t n, duet_err *err);

/* Calls fn on each pre-token of text: the matches of the GPT-2 pattern, and each run of bytes
 * between matches (only invalid UTF-8 is left unmatched) as a pre-token of its own. */
static int pretokens(const dt_tok *t, const char *text, size_t len, word_fn fn, void *user,
                     duet_err *err) {
    if (!len) return DUET_OK;
    pcre2_match_data *md = pcre2_match_data_create(4, t->gctx);
    if (!md) return dt_err(err, DUET_ENOMEM, "tokenizer: out of memory (regex match)");
    int rc = DUET_OK;
    size_t pos = 0;
    while (pos < len) {
        int r = pcre2_match(t->re, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        if (r == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter keeps its frames on the heap */
            r = pcre2_match(t->re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_JIT, md, NULL);
        size_t b = len, e = len;
        if (r >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            b = ov[0];
            e = ov[1];
            if (e <= b) e = b + 1; /* the pattern never matches empty; be safe anyway */
        } else if (r != PCRE2_ERROR_NOMATCH) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(r, msg, sizeof msg);
            rc = dt_err(err, r == PCRE2_ERROR_NOMEMORY ? DUET_ENOMEM : DUET_ERANGE,
                        "tokenizer: pre-token regex at byte %zu: %s", pos, (const char *)msg);
            goto fail;
        }
        if (b > pos) DT_TRY(fn(user, text + pos, b - pos, err));
        if (b < len) DT_TRY(fn(user, text + b, e - b, err));
        pos = e;
    }
fail:
    pcre2_match_data_free(md);
    return rc;
}

static int32_t pair_rank(const dt_tok *t, int32_t a, int32_t b) {
    return (int32_t)u64map_get(&t->pair, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, INT32_MAX);
}

/* Encodes one pre-token s[0..n) into w (n slots): byte tokens, then the lowest-rank pair merged
 * everywhere (left to right, non-overlapping) until no pair has a rank, as OpenAI's bpe().
 * r (n slots) caches the rank of each adjacent pair; a round only looks up the pairs it changed.
 * Returns the count. */
static size_t bpe_word(const dt_tok *t, const unsigned char *s, size_t n, int32_t *w, int32_t *r) {
    for (size_t i = 0; i < n; i++) w[i] = t->byte_id[s[i]];
    for (size_t i = 0; i + 1 < n; i++) r[i] = pair_rank(t, w[i], w[i + 1]);
    while (n > 1) {
        int32_t best = INT32_MAX;
        for (size_t i = 0; i + 1 < n; i++)
            if (r[i] < best) best = r[i];
        if (best == INT32_MAX) break;
        const int32_t *m = t->merges + 3 * (size_t)best;
        size_t j = 0, prev = SIZE_MAX; /* prev: input index of w[j-1], SIZE_MAX when merged */
        for (size_t i = 0; i < n;) {
            int32_t tok = w[i];
            size_t cur = i;
            if (r[i] == best && i + 1 < n && w[i] == m[0] && w[i + 1] == m[1]) {
                tok = m[2];
                cur = SIZE_MAX;
                i += 2;
            } else {
                i++;
            }
            if (j > 0)
                r[j - 1] = prev != SIZE_MAX && cur == prev + 1 ? r[prev] : pair_rank(t, w[j - 1], tok);
            w[j++] = tok;
            prev = cur;
        }
        n = j;
    }
    return n;
}

typedef struct enc_state {
    const dt_tok *t;
    int32_t *ids;
    int32_t *ranks; /* scratch for bpe_word */
    size_t n;
} enc_state;

static int enc_word(void *user, const char *s, size_t n, duet_err *err) {
    (void)err;
    enc_state *st = user;
    st->n += bpe_word(st->t, (const unsigned char *)s, n, st->ids + st->n, st->ranks);
    return DUET_OK;
}

// --- char ----------------------------------------------------------------------------------

int dt_tok_train_char(duet_ctx *ctx, const char *name, const char *text, size_t len, dt_tok **out,
                      duet_err *err) {
    *out = NULL;
    if (!len) return dt_err(err, DUET_EINVAL, "%s: empty text, no characters to learn", name);
    int rc = DUET_OK;
    dt_tok *t = NULL;
    uint8_t *seen = dt_alloc_e(ctx, 0x110000 / 8, 1, "tokenizer", err);
    if (!seen) return DUET_ENOMEM;
    memset(seen, 0, 0x110000 / 8);
    int32_t V = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_next((const unsigned char *)text + i, len - i, &cp);
        if (!k) {
            rc = dt_err(err, DUET_EFORMAT, "%s: invalid UTF-8 at byte %zu", name, i);
            goto fail;
        }
        if (!(seen[cp >> 3] & (1u << (cp & 7)))) V++;
        seen[cp >> 3] |= (uint8_t)(1u << (cp & 7));
        i += (size_t)k;
    }
    DT_TRY(tok_new(ctx, DT_TOK_CHAR, &t, err));
    t->V = V;
    t->cps = dt_alloc_e(ctx, (size_t)V, sizeof *t->cps, "tokenizer", err);
    t->off = dt_alloc_e(ctx, (size_t)V + 1, sizeof *t->off, "tokenizer", err);
    t->pieces = dt_alloc_e(ctx, (size_t)V, 4, "tokenizer", err);
    if (!t->cps || !t->off || !t->pieces) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    int32_t id = 0;
    t->off[0] = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (!(seen[cp >> 3] & (1u << (cp & 7)))) continue;
        t->cps[id] = cp;
        t->off[id + 1] = t->off[id] + utf8_put(t->pieces + t->off[id], cp);
        id++;
    }
    dt_free(ctx, seen);
    *out = t;
    return DUET_OK;
fail:
    dt_free(ctx, seen);
    dt_tok_free(ctx, t);
    return rc;
}

static int char_encode(const dt_tok *t, const char *text, size_t len, int32_t *ids, size_t *n,
                       duet_err *err) {
    size_t m = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_next((const unsigned char *)text + i, len - i, &cp);
        if (!k) return dt_err(err, DUET_EFORMAT, "text: invalid UTF-8 at byte %zu", i);
        int32_t lo = 0, hi = t->V - 1, found = -1;
        while (lo <= hi) {
            int32_t mid = lo + (hi - lo) / 2;
            if (t->cps[mid] == cp) {
                found = mid;
                break;
            }
            if (t->cps[mid] < cp) lo = mid + 1;
            else hi = mid - 1;
        }
        if (found < 0)
            return dt_err(err, DUET_EINVAL,
                          "text byte %zu: character U+%04X is not in the tokenizer's vocabulary", i,
                          (unsigned)cp);
        ids[m++] = found;
        i += (size_t)k;
    }
    *n = m;
    return DUET_OK;
}

// --- byte-level BPE training ---------------------------------------------------------------

typedef struct bpe_train {
    duet_ctx *ctx;
    char *blob;        /* unique pre-tokens' bytes */
    size_t blob_n, blob_cap;
    int64_t *off;      /* (W+1) */
    int64_t *count;    /* (W) occurrences */
    size_t W, cap_w, cap_c;
    strmap map;
} bpe_train;

static int train_word(void *user, const char *s, size_t n, duet_err *err) {
    bpe_train *b = user;
    int32_t id = strmap_find(&b->map, b->blob, b->off, s, n);
    if (id >= 0) {
        b->count[id]++;
        return DUET_OK;
    }
    if (b->W >= INT32_MAX - 1) return dt_err(err, DUET_ERANGE, "tokenizer: too many distinct words");
    int rc = DUET_OK;
    DT_TRY(dt_grow(b->ctx, (void **)&b->blob, &b->blob_cap, b->blob_n + n, 1, err));
    DT_TRY(dt_grow(b->ctx, (void **)&b->off, &b->cap_w, b->W + 2, sizeof *b->off, err));
    DT_TRY(dt_grow(b->ctx, (void **)&b->count, &b->cap_c, b->W + 1, sizeof *b->count, err));
    memcpy(b->blob + b->blob_n, s, n);
    b->blob_n += n;
    b->off[b->W + 1] = (int64_t)b->blob_n;
    b->count[b->W] = 1;
    DT_TRY(strmap_add(b->ctx, &b->map, b->blob, b->off, (int32_t)b->W, err));
    b->W++;
fail:
    return rc;
}

/* Adds sign * count to the pair counts of word w[0..n). */
static int count_pairs(duet_ctx *ctx, u64map *pc, const int32_t *w, size_t n, int64_t c,
                       duet_err *err) {
    for (size_t i = 0; i + 1 < n; i++) {
        int rc = u64map_add(ctx, pc, (uint64_t)(uint32_t)w[i] << 32 | (uint32_t)w[i + 1], c, 0, err);
        if (rc) return rc;
    }
    return DUET_OK;
}

int dt_tok_train_bpe(duet_ctx *ctx, const char *name, const char *text, size_t len, int vocab,
                     dt_tok **out, duet_err *err) {
    *out = NULL;
    if (vocab < 256 || vocab > 65536)
        return dt_err(err, DUET_EINVAL, "%s: BPE vocabulary %d is outside [256, 65536]", name, vocab);
    int rc = DUET_OK;
    dt_tok *t = NULL;
    bpe_train b = {.ctx = ctx};
    u64map pc = {0};
    int32_t *sym = NULL;  /* every unique word's current tokens, word w at off[w] */
    size_t *wlen = NULL;  /* (W) current token count */
    size_t cap_p = 0, cap_m = 0;
    DT_TRY(tok_new(ctx, DT_TOK_BPE, &t, err));
    DT_TRY(compile_re(t, err));
    DT_TRY(dt_grow(ctx, (void **)&b.off, &b.cap_w, 1, sizeof *b.off, err));
    b.off[0] = 0;
    DT_TRY(pretokens(t, text, len, train_word, &b, err));
    strmap_free(ctx, &b.map);

    sym = dt_alloc_e(ctx, b.blob_n ? b.blob_n : 1, sizeof *sym, "tokenizer", err);
    wlen = dt_alloc_e(ctx, b.W ? b.W : 1, sizeof *wlen, "tokenizer", err);
    if (!sym || !wlen) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < b.blob_n; i++) sym[i] = (unsigned char)b.blob[i];
    for (size_t w = 0; w < b.W; w++) {
        wlen[w] = (size_t)(b.off[w + 1] - b.off[w]);
        DT_TRY(count_pairs(ctx, &pc, sym + b.off[w], wlen[w], b.count[w], err));
    }

    /* the 256 byte tokens */
    DT_TRY(dt_grow(ctx, (void **)&t->pieces, &cap_p, 256, 1, err));
    DT_TRY(dt_grow(ctx, (void **)&t->off, &cap_m, 257, sizeof *t->off, err));
    for (int i = 0; i < 256; i++) {
        t->pieces[i] = (char)i;
        t->off[i] = i;
        t->byte_id[i] = i;
    }
    t->off[256] = 256;
    t->merges = dt_alloc_e(ctx, (size_t)(vocab - 256) + 1, 3 * sizeof *t->merges, "tokenizer", err);
    if (!t->merges) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    t->V = 256;
    while (t->V < vocab) {
        DT_TRY(dt_check_abort(ctx, "BPE training", err));
        uint64_t best = EMPTY;
        int64_t bc = 0;
        for (size_t i = 0; i < pc.cap; i++) {
            if (pc.keys[i] == EMPTY || pc.vals[i] < bc) continue;
            if (pc.vals[i] > bc || pc.keys[i] < best) {
                bc = pc.vals[i];
                best = pc.keys[i];
            }
        }
        if (bc <= 0) break; /* nothing left to merge */
        int32_t l = (int32_t)(best >> 32), r = (int32_t)(best & 0xFFFFFFFFu), nid = t->V;
        size_t ln = (size_t)(t->off[l + 1] - t->off[l]), rn = (size_t)(t->off[r + 1] - t->off[r]);
        DT_TRY(dt_grow(ctx, (void **)&t->pieces, &cap_p, (size_t)t->off[nid] + ln + rn, 1, err));
        DT_TRY(dt_grow(ctx, (void **)&t->off, &cap_m, (size_t)nid + 2, sizeof *t->off, err));
        memcpy(t->pieces + t->off[nid], t->pieces + t->off[l], ln);
        memcpy(t->pieces + t->off[nid] + ln, t->pieces + t->off[r], rn);
        t->off[nid + 1] = t->off[nid] + (int64_t)(ln + rn);
        int32_t *m = t->merges + 3 * (size_t)t->M++;
        m[0] = l;
        m[1] = r;
        m[2] = nid;
        t->V++;
        for (size_t wi = 0; wi < b.W; wi++) {
            int32_t *w = sym + b.off[wi];
            size_t n = wlen[wi], i = 0;
            while (i + 1 < n && !(w[i] == l && w[i + 1] == r)) i++;
            if (i + 1 >= n) continue;
            DT_TRY(count_pairs(ctx, &pc, w, n, -b.count[wi], err));
            size_t j = i;
            while (i < n) {
                if (i + 1 < n && w[i] == l && w[i + 1] == r) {
                    w[j++] = nid;
                    i += 2;
                } else {
                    w[j++] = w[i++];
                }
            }
            wlen[wi] = j;
            DT_TRY(count_pairs(ctx, &pc, w, j, b.count[wi], err));
        }
    }
    DT_TRY(tok_finish(t, err));
    *out = t;
    t = NULL;
fail:
    if (rc) dt_err_prefix(err, rc, "%s", name);
    dt_tok_free(ctx, t);
    u64map_free(ctx, &pc);
    strmap_free(ctx, &b.map);
    dt_free(ctx, b.blob);
    dt_free(ctx, b.off);
    dt_free(ctx, b.count);
    dt_free(ctx, sym);
    dt_free(ctx, wlen);
    return rc;
}

// --- GPT-2 ---------------------------------------------------------------------------------

/* GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to 256, 257, ...
 * in byte order. u2b inverts it (code points < 324), -1 elsewhere. */
static void gpt2_tables(uint32_t b2u[256], int16_t u2b[324]) {
    int n = 0;
    for (int i = 0; i < 324; i++) u2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        b2u[b] = keep ? (uint32_t)b : (uint32_t)(256 + n++);
        u2b[b2u[b]] = (int16_t)b;
    }
}

/* Maps a GPT-2 token string (UTF-8 of byte->unicode characters) to its bytes in out (n bytes
 * at most); returns the byte count or -1 when a character is outside the table. */
static long gpt2_unmap(const int16_t u2b[324], const char *s, size_t n, char *out) {
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (!k || cp >= 324 || u2b[cp] < 0) return -1;
        out[m++] = (char)u2b[cp];
        i += (size_t)k;
    }
    return (long)m;
}

int dt_tok_load_gpt2(duet_ctx *ctx, const char *encoder_json, const char *vocab_bpe, dt_tok **out,
                     duet_err *err) {
    *out = NULL;
    int rc = DUET_OK;
    dt_tok *t = NULL;
    char *js = NULL, *bpe = NULL;
    size_t js_n = 0, bpe_n = 0, cap_m = 0;
    cJSON *root = NULL;
    const cJSON **by_id = NULL;
    strmap map = {0};
    uint32_t b2u[256];
    int16_t u2b[324];
    gpt2_tables(b2u, u2b);
    DT_TRY(dt_read_file(ctx, encoder_json, &js, &js_n, err));
    root = cJSON_ParseWithLength(js, js_n);
    if (!root || !cJSON_IsObject(root)) {
        rc = dt_err(err, DUET_EFORMAT, "%s: not a JSON object", encoder_json);
        goto fail;
    }
    int nv = cJSON_GetArraySize(root);
    if (nv < 256 || nv > (1 << 24)) {
        rc = dt_err(err, DUET_EFORMAT, "%s: %d entries, expected 256 to 16777216", encoder_json, nv);
        goto fail;
    }
    DT_TRY(tok_new(ctx, DT_TOK_GPT2, &t, err));
    t->V = nv;
    by_id = dt_calloc(ctx, (size_t)nv, sizeof *by_id);
    t->off = dt_alloc_e(ctx, (size_t)nv + 1, sizeof *t->off, "tokenizer", err);
    if (!by_id || !t->off) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", encoder_json);
        goto fail;
    }
    size_t total = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        double v = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (!(v >= 0 && v < nv && v == (double)(int32_t)v) || by_id[(int32_t)v]) {
            rc = dt_err(err, DUET_EFORMAT, "%s: token '%.40s': id is not a new integer in [0, %d)",
                        encoder_json, it->string, nv);
            goto fail;
        }
        by_id[(int32_t)v] = it;
        total += strlen(it->string);
    }
    t->pieces = dt_alloc_e(ctx, total ? total : 1, 1, "tokenizer", err);
    if (!t->pieces) goto fail_nomem;
    t->off[0] = 0;
    for (int32_t i = 0; i < nv; i++) {
        const char *k = by_id[i]->string;
        long m = gpt2_unmap(u2b, k, strlen(k), t->pieces + t->off[i]);
        if (strcmp(k, "<|endoftext|>") == 0) t->bos = t->eos = i;
        if (m < 0) {
            rc = dt_err(err, DUET_EFORMAT, "%s: token '%.40s' (id %d) has a character outside GPT-2's byte table",
                        encoder_json, k, i);
            goto fail;
        }
        t->off[i + 1] = t->off[i] + m;
    }
    for (int32_t i = 0; i < nv; i++) {
        if (i == t->eos) continue; /* special: kept out of the byte-string map */
        if (strmap_find(&map, t->pieces, t->off, t->pieces + t->off[i], (size_t)(t->off[i + 1] - t->off[i])) >= 0) {
            rc = dt_err(err, DUET_EFORMAT, "%s: token id %d repeats the bytes of another token", encoder_json, i);
            goto fail;
        }
        DT_TRY(strmap_add(ctx, &map, t->pieces, t->off, i, err));
    }
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = strmap_find(&map, t->pieces, t->off, &c, 1);
        if (t->byte_id[b] < 0) {
            rc = dt_err(err, DUET_EFORMAT, "%s: no token for byte 0x%02X", encoder_json, b);
            goto fail;
        }
    }

    DT_TRY(dt_read_file(ctx, vocab_bpe, &bpe, &bpe_n, err));
    size_t pos = 0, line = 0;
    char la[1024], lb[1024]; /* one merge's halves, as bytes */
    while (pos < bpe_n) {
        size_t e = pos;
        while (e < bpe_n && bpe[e] != '\n') e++;
        size_t n = e, sp = pos;
        line++;
        if (n > pos && bpe[n - 1] == '\r') n--;
        const size_t start = pos;
        pos = e + 1;
        if (n == start || (line == 1 && bpe[start] == '#')) continue;
        while (sp < n && bpe[sp] != ' ') sp++;
        long na = -1, nb = -1;
        if (sp < n && sp - start < sizeof la && n - sp - 1 < sizeof lb) {
            na = gpt2_unmap(u2b, bpe + start, sp - start, la);
            nb = gpt2_unmap(u2b, bpe + sp + 1, n - sp - 1, lb);
        }
        int32_t l = -1, r = -1, res = -1;
        if (na > 0 && nb > 0) {
            l = strmap_find(&map, t->pieces, t->off, la, (size_t)na);
            r = strmap_find(&map, t->pieces, t->off, lb, (size_t)nb);
            res = strmap_find2(&map, t->pieces, t->off, la, (size_t)na, lb, (size_t)nb);
        }
        if (l < 0 || r < 0 || res < 0) {
            rc = dt_err(err, DUET_EFORMAT, "%s:%zu: expected 'a b' with a, b and ab in %s", vocab_bpe,
                        line, encoder_json);
            goto fail;
        }
        DT_TRY(dt_grow(ctx, (void **)&t->merges, &cap_m, 3 * ((size_t)t->M + 1), sizeof *t->merges, err));
        int32_t *m = t->merges + 3 * (size_t)t->M++;
        m[0] = l;
        m[1] = r;
        m[2] = res;
        if (t->M >= INT32_MAX / 4) {
            rc = dt_err(err, DUET_EFORMAT, "%s:%zu: too many merges", vocab_bpe, line);
            goto fail;
        }
    }
    DT_TRY(tok_finish(t, err));
    *out = t;
    t = NULL;
    goto done;
fail_nomem:
    rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", encoder_json);
fail:
done:
    cJSON_Delete(root);
    dt_free(ctx, js);
    dt_free(ctx, bpe);
    dt_free(ctx, by_id);
    strmap_free(ctx, &map);
    dt_tok_free(ctx, t);
    return rc;
}

// --- llama2.c ------------------------------------------------------------------------------

int dt_tok_load_llama2c(duet_ctx *ctx, const char *path, int vocab_size, dt_tok **out,
                        duet_err *err) {
    *out = NULL;
    if (vocab_size < 3 || vocab_size > (1 << 24))
        return dt_err(err, DUET_EINVAL, "%s: vocab_size %d is outside [3, 16777216]", path, vocab_size);
    int rc = DUET_OK;
    dt_tok *t = NULL;
    char *buf = NULL;
    size_t n = 0;
    DT_TRY(dt_read_file(ctx, path, &buf, &n, err));
    if (n < 4) {
        rc = dt_err(err, DUET_EFORMAT, "%s: %zu bytes, too short for a tokenizer header", path, n);
        goto fail;
    }
    int32_t maxlen;
    memcpy(&maxlen, buf, 4);
    if (maxlen < 0) {
        rc = dt_err(err, DUET_EFORMAT, "%s: max_token_length %d is negative", path, (int)maxlen);
        goto fail;
    }
    /* pass 1: every length against the file size, before allocating */
    size_t pos = 4, total = 0;
    for (int32_t i = 0; i < vocab_size; i++) {
        int32_t len;
        if (n - pos < 8) {
            rc = dt_err(err, DUET_EFORMAT, "%s: file ends at byte %zu in entry %d of %d (wrong vocab_size?)",
                        path, pos, (int)i, vocab_size);
            goto fail;
        }
        memcpy(&len, buf + pos + 4, 4);
        if (len < 0 || (size_t)len > n - pos - 8) {
            rc = dt_err(err, DUET_EFORMAT, "%s: entry %d at byte %zu: length %d exceeds the file (%zu bytes left)",
                        path, (int)i, pos, (int)len, n - pos - 8);
            goto fail;
        }
        pos += 8 + (size_t)len;
        total += (size_t)len;
    }
    if (pos != n) {
        rc = dt_err(err, DUET_EFORMAT, "%s: %zu bytes left after %d entries (wrong vocab_size?)", path,
                    n - pos, vocab_size);
        goto fail;
    }
    DT_TRY(tok_new(ctx, DT_TOK_LLAMA2C, &t, err));
    t->V = vocab_size;
    t->bos = 1;
    t->eos = 2;
    t->max_len = maxlen;
    t->pieces = dt_alloc_e(ctx, total ? total : 1, 1, "tokenizer", err);
    t->off = dt_alloc_e(ctx, (size_t)vocab_size + 1, sizeof *t->off, "tokenizer", err);
    t->scores = dt_alloc_e(ctx, (size_t)vocab_size, sizeof *t->scores, "tokenizer", err);
    if (!t->pieces || !t->off || !t->scores) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    pos = 4;
    t->off[0] = 0;
    for (int32_t i = 0; i < vocab_size; i++) {
        int32_t len;
        memcpy(&t->scores[i], buf + pos, 4);
        memcpy(&len, buf + pos + 4, 4);
        memcpy(t->pieces + t->off[i], buf + pos + 8, (size_t)len);
        t->off[i + 1] = t->off[i] + len;
        pos += 8 + (size_t)len;
    }
    DT_TRY(tok_finish(t, err));
    *out = t;
    t = NULL;
fail:
    dt_free(ctx, buf);
    dt_tok_free(ctx, t);
    return rc;
}

/* Id of the piece a+b, or -1. */
static int32_t l2_lookup(const dt_tok *t, int32_t a, int32_t b) {
    return strmap_find2(&t->pmap, t->pieces, t->off, t->pieces + t->off[a],
                        (size_t)(t->off[a + 1] - t->off[a]), t->pieces + t->off[b],
                        (size_t)(t->off[b + 1] - t->off[b]));
}

/* A candidate merge of nodes left and its right neighbour (tokens a, b) into id. */
typedef struct l2_cand {
    float score;
    int32_t left, right, a, b, id;
} l2_cand;

/* Heap order: higher score first, then the leftmost pair (node indices keep text order). */
static int cand_before(const l2_cand *x, const l2_cand *y) {
    return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static void heap_push(l2_cand *h, size_t *n, l2_cand c) {
    size_t i = (*n)++;
    while (i > 0 && cand_before(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static l2_cand heap_pop(l2_cand *h, size_t *n) {
    l2_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_before(&h[c + 1], &h[c])) c++;
        if (!cand_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Pushes the pair starting at node l when its concatenation is a piece run.c would pick
 * (score above its initial best, -1e10). */
static void l2_offer(const dt_tok *t, const int32_t *tok, const int32_t *next, int32_t l,
                     l2_cand *h, size_t *nh) {
    if (l < 0 || next[l] < 0) return;
    int32_t r = next[l], id = l2_lookup(t, tok[l], tok[r]);
    if (id >= 0 && t->scores[id] > -1e10f)
        heap_push(h, nh, (l2_cand){t->scores[id], l, r, tok[l], tok[r], id});
}

/* run.c's merge loop (repeatedly merge the adjacent pair whose concatenation has the highest
 * score, the leftmost on ties) with a heap and a linked list: O(n log n) instead of O(n^2).
 * Stale heap entries (a node merged away or changed) are skipped when popped. */
static int l2_merge(duet_ctx *ctx, const dt_tok *t, int32_t *ids, size_t *n_io, duet_err *err) {
    size_t n = *n_io;
    if (n < 2) return DUET_OK;
    if (n > INT32_MAX / 4) return dt_err(err, DUET_ERANGE, "tokenizer: text too long (%zu tokens)", n);
    int32_t *next = dt_alloc_e(ctx, n, sizeof *next, "tokenizer: encode", err);
    int32_t *prev = dt_alloc_e(ctx, n, sizeof *prev, "tokenizer: encode", err);
    l2_cand *h = dt_alloc_e(ctx, 3 * n, sizeof *h, "tokenizer: encode", err); /* n-1 + 2 per merge */
    int rc = DUET_OK;
    if (!next || !prev || !h) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) l2_offer(t, ids, next, (int32_t)i, h, &nh);
    while (nh) {
        l2_cand c = heap_pop(h, &nh);
        if (next[c.left] != c.right || ids[c.left] != c.a || ids[c.right] != c.b) continue;
        ids[c.left] = c.id; /* merge: the right node leaves the list */
        next[c.left] = next[c.right];
        if (next[c.right] >= 0) prev[next[c.right]] = c.left;
        ids[c.right] = -1;
        next[c.right] = -1;
        l2_offer(t, ids, next, prev[c.left], h, &nh);
        l2_offer(t, ids, next, c.left, h, &nh);
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) ids[m++] = ids[i];
    *n_io = m;
fail:
    dt_free(ctx, next);
    dt_free(ctx, prev);
    dt_free(ctx, h);
    return rc;
}

/* run.c's encode: dummy prefix, code points (or their bytes + 3), then merges by best score. */
static int l2_encode(duet_ctx *ctx, const dt_tok *t, const char *text, size_t len, int32_t *ids,
                     size_t *n_out, duet_err *err) {
    int rc = DUET_OK;
    size_t n = 0;
    if (len) {
        int32_t sp = strmap_find(&t->pmap, t->pieces, t->off, " ", 1);
        if (sp < 0 && ' ' + 3 < t->V) sp = ' ' + 3;
        if (sp >= 0) ids[n++] = sp;
    }
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t k = 1; /* a lead byte plus up to 3 continuation bytes, as run.c groups them */
        while (i + k < len && (s[i + k] & 0xC0) == 0x80 && k < 4) k++;
        int32_t id = strmap_find(&t->pmap, t->pieces, t->off, text + i, k);
        if (id >= 0) {
            ids[n++] = id;
        } else {
            for (size_t j = 0; j < k; j++) {
                if (s[i + j] + 3 >= t->V)
                    return dt_err(err, DUET_EINVAL, "text byte %zu: byte 0x%02X has no token (vocab %d)",
                                  i + j, s[i + j], (int)t->V);
                ids[n++] = s[i + j] + 3;
            }
        }
        i += k;
    }
    DT_TRY(l2_merge(ctx, t, ids, &n, err));
    *n_out = n;
fail:
    return rc;
}

// --- encode / decode -----------------------------------------------------------------------

int dt_tok_encode(duet_ctx *ctx, const dt_tok *t, const char *text, size_t len, int32_t **ids,
                  int64_t *n, duet_err *err) {
    *ids = NULL;
    *n = 0;
    if (!text && len) return dt_err(err, DUET_EINVAL, "tokenizer: text is NULL");
    int rc = DUET_OK;
    size_t cnt = 0;
    int32_t *buf = dt_alloc_e(ctx, len + 1, sizeof *buf, "tokenizer: encode", err);
    if (!buf) return DUET_ENOMEM;
    switch (t->kind) {
    case DT_TOK_CHAR: DT_TRY(char_encode(t, text, len, buf, &cnt, err)); break;
    case DT_TOK_LLAMA2C: DT_TRY(l2_encode(ctx, t, text, len, buf, &cnt, err)); break;
    default: {
        enc_state st = {t, buf, dt_alloc_e(ctx, len + 1, sizeof(int32_t), "tokenizer: encode", err), 0};
        if (!st.ranks) DT_TRY(DUET_ENOMEM);
        rc = pretokens(t, text, len, enc_word, &st, err);
        dt_free(ctx, st.ranks);
        DT_TRY(rc);
        cnt = st.n;
    }
    }
    if (cnt + 1 < len / 2) { /* give back most of the slack */
        int32_t *p = dt_realloc(ctx, buf, (cnt + 1) * sizeof *buf);
        if (p) buf = p;
    }
    *ids = buf;
    *n = (int64_t)cnt;
    return DUET_OK;
fail:
    dt_free(ctx, buf);
    return rc;
}

int dt_tok_piece(const dt_tok *t, int prev, int32_t id, const char **piece, size_t *len,
                 duet_err *err) {
    *piece = "";
    *len = 0;
    if (id < 0 || id >= t->V)
        return dt_err(err, DUET_EINVAL, "token id %d is outside the vocabulary [0, %d)", (int)id,
                      (int)t->V);
    const char *p = t->pieces + t->off[id];
    size_t n = (size_t)(t->off[id + 1] - t->off[id]);
    if (t->kind == DT_TOK_LLAMA2C) {
        if (prev == t->bos && n > 0 && p[0] == ' ') p++, n--;
        if (n == 6 && memcmp(p, "<0x", 3) == 0 && p[5] == '>' && isxdigit((unsigned char)p[3]) &&
            isxdigit((unsigned char)p[4])) {
            char hex[3] = {p[3], p[4], 0};
            p = &t->bytes[strtol(hex, NULL, 16)];
            n = 1;
        }
    }
    *piece = p;
    *len = n;
    return DUET_OK;
}

int dt_tok_decode(duet_ctx *ctx, const dt_tok *t, const int32_t *ids, int64_t n, char **out,
                  size_t *len, duet_err *err) {
    *out = NULL;
    if (len) *len = 0;
    if (n < 0 || (n && !ids)) return dt_err(err, DUET_EINVAL, "tokenizer: bad decode arguments");
    int l2 = t->kind == DT_TOK_LLAMA2C;
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->V)
            return dt_err(err, DUET_EINVAL, "token %lld: id %d is outside the vocabulary [0, %d)",
                          (long long)i, (int)ids[i], (int)t->V);
        total += (size_t)(t->off[ids[i] + 1] - t->off[ids[i]]);
    }
    char *buf = dt_alloc_e(ctx, total + 1, 1, "tokenizer: decode", err);
    if (!buf) return DUET_ENOMEM;
    size_t m = 0;
    int prev = -1;
    for (int64_t i = 0; i < n; i++) {
        const char *p;
        size_t k;
        if (!(l2 && (ids[i] == t->bos || ids[i] == t->eos))) {
            dt_tok_piece(t, prev, ids[i], &p, &k, err);
            memcpy(buf + m, p, k);
            m += k;
        }
        prev = ids[i];
    }
    buf[m] = 0;
    *out = buf;
    if (len) *len = m;
    return DUET_OK;
}

int dt_tok_kind(const dt_tok *t) { return t->kind; }
const char *dt_tok_kind_name(const dt_tok *t) { return kind_names[t->kind]; }
int32_t dt_tok_vocab(const dt_tok *t) { return t->V; }
int32_t dt_tok_bos(const dt_tok *t) { return t->bos; }
int32_t dt_tok_eos(const dt_tok *t) { return t->eos; }

// --- I/O -----------------------------------------------------------------------------------

int dt_tok_save(const dt_tok *t, dt_st_writer *w, duet_err *err) {
    int rc = DUET_OK;
    DT_TRY(dt_st_meta(w, "tok.kind", kind_names[t->kind], err));
    DT_TRY(dt_st_metaf(w, err, "tok.vocab", "%d", (int)t->V));
    DT_TRY(dt_st_metaf(w, err, "tok.bos", "%d", (int)t->bos));
    DT_TRY(dt_st_metaf(w, err, "tok.eos", "%d", (int)t->eos));
    DT_TRY(dt_st_add1(w, "tok.pieces", DT_U8, t->off[t->V], t->pieces, err));
    DT_TRY(dt_st_add1(w, "tok.offsets", DT_I64, (int64_t)t->V + 1, t->off, err));
    if (t->kind == DT_TOK_BPE || t->kind == DT_TOK_GPT2) {
        int64_t shape[2] = {t->M, 3};
        DT_TRY(dt_st_add(w, "tok.merges", DT_I32, 2, shape, t->merges, err));
        DT_TRY(dt_st_add1(w, "tok.byte_ids", DT_I32, 256, t->byte_id, err));
    }
    if (t->kind == DT_TOK_LLAMA2C) {
        DT_TRY(dt_st_metaf(w, err, "tok.max_token_length", "%d", (int)t->max_len));
        DT_TRY(dt_st_add1(w, "tok.scores", DT_F32, t->V, t->scores, err));
    }
fail:
    return rc;
}

static int bad(const dt_st_file *f, duet_err *err, const char *what, int64_t i) {
    return dt_err(err, DUET_EFORMAT, "%s: tokenizer: %s (entry %lld)", dt_st_name(f), what, (long long)i);
}

int dt_tok_load(duet_ctx *ctx, const dt_st_file *f, dt_tok **out, duet_err *err) {
    *out = NULL;
    int rc = DUET_OK, kind = 0;
    dt_tok *t = NULL;
    const char *kn = dt_st_meta_get(f, "tok.kind");
    for (int k = DT_TOK_CHAR; k <= DT_TOK_LLAMA2C && kn; k++)
        if (strcmp(kn, kind_names[k]) == 0) kind = k;
    if (!kind)
        return dt_err(err, DUET_EFORMAT, "%s: tokenizer: metadata 'tok.kind' is %s%s%s", dt_st_name(f),
                      kn ? "'" : "", kn ? kn : "missing", kn ? "', not char, bpe, gpt2 or llama2c" : "");
    int64_t V, bos, eos, np;
    int64_t vmin = kind == DT_TOK_CHAR ? 1 : kind == DT_TOK_LLAMA2C ? 3 : 256;
    DT_TRY(dt_st_meta_i64(f, "tok.vocab", vmin, 1 << 24, &V, err));
    if (kind == DT_TOK_BPE && V > 65536) return bad(f, err, "BPE vocabulary above 65536", V);
    DT_TRY(dt_st_meta_i64(f, "tok.bos", -1, V - 1, &bos, err));
    DT_TRY(dt_st_meta_i64(f, "tok.eos", -1, V - 1, &eos, err));
    const void *pieces, *offs;
    int64_t shape[2] = {-1, 3};
    DT_TRY(dt_st_get(f, "tok.pieces", DT_U8, 1, shape, &pieces, &np, err));
    int64_t vshape[1] = {V + 1};
    DT_TRY(dt_st_get(f, "tok.offsets", DT_I64, 1, vshape, &offs, NULL, err));
    DT_TRY(tok_new(ctx, kind, &t, err));
    t->V = (int32_t)V;
    t->bos = (int32_t)bos;
    t->eos = (int32_t)eos;
    t->off = dt_alloc_e(ctx, (size_t)V + 1, sizeof *t->off, "tokenizer", err);
    t->pieces = dt_alloc_e(ctx, np ? (size_t)np : 1, 1, "tokenizer", err);
    if (!t->off || !t->pieces) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    memcpy(t->off, offs, ((size_t)V + 1) * sizeof *t->off);
    if (np) memcpy(t->pieces, pieces, (size_t)np);
    if (t->off[0] != 0) DT_TRY(bad(f, err, "offsets do not start at 0", 0));
    for (int64_t i = 0; i < V; i++)
        if (t->off[i + 1] < t->off[i] || t->off[i + 1] > np)
            DT_TRY(bad(f, err, "offsets not increasing or beyond tok.pieces", i + 1));
    if (t->off[V] != np) DT_TRY(bad(f, err, "offsets do not end at the size of tok.pieces", V));

    if (kind == DT_TOK_CHAR) {
        t->cps = dt_alloc_e(ctx, (size_t)V, sizeof *t->cps, "tokenizer", err);
        if (!t->cps) DT_TRY(DUET_ENOMEM);
        for (int64_t i = 0; i < V; i++) {
            size_t n = (size_t)(t->off[i + 1] - t->off[i]);
            uint32_t cp;
            if (!n || utf8_next((const unsigned char *)t->pieces + t->off[i], n, &cp) != (int)n ||
                (i > 0 && cp <= t->cps[i - 1]))
                DT_TRY(bad(f, err, "char piece is not one UTF-8 character above the previous", i));
            t->cps[i] = cp;
        }
    } else if (kind == DT_TOK_LLAMA2C) {
        const void *sc;
        int64_t ml;
        DT_TRY(dt_st_meta_i64(f, "tok.max_token_length", 0, INT32_MAX, &ml, err));
        t->max_len = (int32_t)ml;
        DT_TRY(dt_st_get(f, "tok.scores", DT_F32, 1, &V, &sc, NULL, err));
        t->scores = dt_alloc_e(ctx, (size_t)V, sizeof *t->scores, "tokenizer", err);
        if (!t->scores) DT_TRY(DUET_ENOMEM);
        memcpy(t->scores, sc, (size_t)V * sizeof *t->scores);
    } else {
        const void *mg, *bi;
        int64_t ms[2];
        DT_TRY(dt_st_get(f, "tok.merges", DT_I32, 2, shape, &mg, ms, err));
        int64_t bshape[1] = {256};
        DT_TRY(dt_st_get(f, "tok.byte_ids", DT_I32, 1, bshape, &bi, NULL, err));
        if (ms[0] > INT32_MAX / 4) DT_TRY(bad(f, err, "too many merges", ms[0]));
        t->M = (int32_t)ms[0];
        t->merges = dt_alloc_e(ctx, (size_t)t->M + 1, 3 * sizeof *t->merges, "tokenizer", err);
        if (!t->merges) DT_TRY(DUET_ENOMEM);
        if (t->M) memcpy(t->merges, mg, (size_t)t->M * 3 * sizeof *t->merges);
        memcpy(t->byte_id, bi, sizeof t->byte_id);
        for (int b = 0; b < 256; b++) {
            int32_t id = t->byte_id[b];
            if (id < 0 || id >= V || t->off[id + 1] - t->off[id] != 1 ||
                (unsigned char)t->pieces[t->off[id]] != b)
                DT_TRY(bad(f, err, "byte_ids entry is not the token of that byte", b));
        }
        for (int32_t r = 0; r < t->M; r++) {
            const int32_t *m = t->merges + 3 * (size_t)r;
            if (m[0] < 0 || m[0] >= V || m[1] < 0 || m[1] >= V || m[2] < 0 || m[2] >= V)
                DT_TRY(bad(f, err, "merge token id outside the vocabulary", r));
            int64_t la = t->off[m[0] + 1] - t->off[m[0]], lb = t->off[m[1] + 1] - t->off[m[1]];
            const char *res = t->pieces + t->off[m[2]];
            if (t->off[m[2] + 1] - t->off[m[2]] != la + lb ||
                memcmp(res, t->pieces + t->off[m[0]], (size_t)la) != 0 ||
                memcmp(res + la, t->pieces + t->off[m[1]], (size_t)lb) != 0)
                DT_TRY(bad(f, err, "merge result is not the concatenation of its pair", r));
        }
    }
    DT_TRY(tok_finish(t, err));
    *out = t;
    return DUET_OK;
fail:
    dt_tok_free(ctx, t);
    return rc;
}
