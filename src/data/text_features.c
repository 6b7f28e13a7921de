/* text_features.c — text to sparse vectors, with scikit-learn's TfidfVectorizer semantics.
 * Analysis: case folded per code point (utf8proc_tolower) unless no_lowercase; word tokens
 * are maximal runs of "word" code points (categories L*, N* and '_') at least 2 code points
 * long, as sklearn's token_pattern r"(?u)\b\w\w+\b"; word n-grams join tokens with one space.
 * Optional character n-grams follow sklearn's analyzer='char_wb' (each whitespace-separated
 * word padded with one space on both sides); they are stored with a leading byte 0x01 so
 * they never collide with word terms.
 * Vocabulary: terms in >= min_df documents, then the max_features most frequent (total
 * count, ties in byte order), sorted in byte order. Hashing mode (hash_dims > 0): column =
 * FNV-1a 64 of the term's UTF-8 bytes mod hash_dims; no vocabulary.
 * Values: TFIDF = tf (or 1 + ln tf) * idf, idf = ln((1 + n) / (1 + df)) + 1, rows L2-normalised;
 * COUNTS = raw counts; BINARY = 1.
 * Not here: the dispatch by kind or the string-list format (pipe.c).
 */
#include <math.h>
#include <utf8proc.h>

#include "features.h"

#define EMPTY32 0xFFFFFFFFu

/* FNV-1a, 64 bits: stable across platforms, so hashed features survive in model files. */
static uint64_t term_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

// --- analysis ------------------------------------------------------------------------------------

typedef int (*emit_fn)(void *u, const char *s, size_t n, duet_err *err);

/* Scratch space for one document. */
typedef struct scan {
    duet_ctx *ctx;
    char *buf;                 /* word tokens joined by single spaces */
    size_t len, cap;
    size_t *tok;               /* (2 * ntok) start and end of each token in buf */
    size_t ntok, tcap;
    size_t *cpo;               /* char n-grams: byte offset of each code point of a padded word */
    size_t cpcap;
    char *wbuf;                /* char n-grams: the padded word */
    size_t wcap;
    char gram[DT_PIPE_MAX_NGRAM * 4 + 2];
} scan;

static void scan_free(scan *sc) {
    dt_free(sc->ctx, sc->buf);
    dt_free(sc->ctx, sc->tok);
    dt_free(sc->ctx, sc->cpo);
    dt_free(sc->ctx, sc->wbuf);
}

static int is_word(int32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

/* Python's str.isspace, which str.split() uses. */
static int is_space(int32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f);
    if (c == 0x85) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

/* Decodes the code point at s[i..n); returns its length (>= 1), *c = -1 for an invalid byte. */
static size_t next_cp(const char *s, size_t i, size_t n, int32_t *c, int lower) {
    unsigned char b = (unsigned char)s[i];
    if (b < 0x80) {
        *c = lower && b >= 'A' && b <= 'Z' ? b + 32 : b;
        return 1;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k <= 0) {
        *c = -1;
        return 1;
    }
    *c = lower ? utf8proc_tolower(cp) : cp;
    return (size_t)k;
}

static int put_cp(scan *sc, char **b, size_t *len, size_t *cap, int32_t c, duet_err *err) {
    int rc = dt_grow(sc->ctx, (void **)b, cap, *len + 8, 1, err);
    if (rc) return rc;
    if (c < 0x80) (*b)[(*len)++] = (char)c;
    else *len += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)*b + *len);
    return DUET_OK;
}

/* Word tokens of text into sc->buf / sc->tok. */
static int tokenize(scan *sc, const char *s, size_t n, int lower, duet_err *err) {
    int rc;
    sc->len = 0;
    sc->ntok = 0;
    size_t start = 0, ncp = 0; /* current run: start in buf, code points */
    for (size_t i = 0; i <= n;) {
        int32_t c = -1;
        if (i < n) i += next_cp(s, i, n, &c, lower);
        else i++;
        if (c >= 0 && is_word(c)) {
            if (ncp == 0) {
                if (sc->len) {
                    rc = put_cp(sc, &sc->buf, &sc->len, &sc->cap, ' ', err);
                    if (rc) return rc;
                }
                start = sc->len;
            }
            rc = put_cp(sc, &sc->buf, &sc->len, &sc->cap, c, err);
            if (rc) return rc;
            ncp++;
            continue;
        }
        if (ncp >= 2) {
            rc = dt_grow(sc->ctx, (void **)&sc->tok, &sc->tcap, 2 * sc->ntok + 2, sizeof(size_t), err);
            if (rc) return rc;
            sc->tok[2 * sc->ntok] = start;
            sc->tok[2 * sc->ntok + 1] = sc->len;
            sc->ntok++;
        } else if (ncp == 1) {
            sc->len = start ? start - 1 : 0; /* drop the one-character run and its space */
        }
        ncp = 0;
    }
    return DUET_OK;
}

/* Character n-grams of one padded word wbuf (ncp code points, offsets cpo). */
static int char_grams(const dt_text_pipe *t, scan *sc, size_t ncp, emit_fn emit, void *u, duet_err *err) {
    for (int g = t->char_min; g <= t->char_max; g++) {
        size_t ng = (size_t)g, o = 0;
        for (;;) {
            size_t e = o + ng < ncp ? o + ng : ncp;
            size_t nb = sc->cpo[e] - sc->cpo[o];
            sc->gram[0] = '\x01';
            memcpy(sc->gram + 1, sc->wbuf + sc->cpo[o], nb);
            int rc = emit(u, sc->gram, nb + 1, err);
            if (rc) return rc;
            if (o + ng >= ncp) break;
            o++;
        }
        if (o == 0) break; /* a short word counts once */
    }
    return DUET_OK;
}

static int char_scan(const dt_text_pipe *t, scan *sc, const char *s, size_t n, emit_fn emit, void *u,
                     duet_err *err) {
    int rc;
    size_t wl = 0, ncp = 0;
    for (size_t i = 0; i <= n;) {
        int32_t c = -1;
        if (i < n) i += next_cp(s, i, n, &c, t->lowercase);
        else i++;
        int sp = c < 0 || is_space(c);
        if (!sp) {
            if (ncp == 0) { /* a new word: leading space */
                wl = 0;
                rc = dt_grow(sc->ctx, (void **)&sc->cpo, &sc->cpcap, 2, sizeof(size_t), err);
                if (rc) return rc;
                sc->cpo[0] = 0;
                rc = put_cp(sc, &sc->wbuf, &wl, &sc->wcap, ' ', err);
                if (rc) return rc;
                ncp = 1;
                sc->cpo[1] = wl;
            }
            rc = put_cp(sc, &sc->wbuf, &wl, &sc->wcap, c, err);
            if (rc) return rc;
            rc = dt_grow(sc->ctx, (void **)&sc->cpo, &sc->cpcap, ncp + 2, sizeof(size_t), err);
            if (rc) return rc;
            sc->cpo[++ncp] = wl;
            continue;
        }
        if (ncp) {
            rc = put_cp(sc, &sc->wbuf, &wl, &sc->wcap, ' ', err);
            if (rc) return rc;
            rc = dt_grow(sc->ctx, (void **)&sc->cpo, &sc->cpcap, ncp + 2, sizeof(size_t), err);
            if (rc) return rc;
            sc->cpo[++ncp] = wl;
            rc = char_grams(t, sc, ncp, emit, u, err);
            if (rc) return rc;
            ncp = 0;
        }
    }
    return DUET_OK;
}

/* Calls emit for every term occurrence of a document. */
static int analyse(const dt_text_pipe *t, scan *sc, const char *s, emit_fn emit, void *u, duet_err *err) {
    if (!s) s = "";
    size_t n = strlen(s);
    int rc = tokenize(sc, s, n, t->lowercase, err);
    if (rc) return rc;
    for (int g = t->ngram_min; g <= t->ngram_max; g++) {
        size_t ng = (size_t)g;
        for (size_t i = 0; i + ng <= sc->ntok; i++) {
            size_t b = sc->tok[2 * i], e = sc->tok[2 * (i + ng - 1) + 1];
            rc = emit(u, sc->buf + b, e - b, err);
            if (rc) return rc;
        }
    }
    if (t->char_max > 0) return char_scan(t, sc, s, n, emit, u, err);
    return DUET_OK;
}

// --- vocabulary lookup ------------------------------------------------------------------------

static int64_t lookup(const dt_text_pipe *t, const char *s, size_t n) {
    uint64_t h = term_hash(s, n), tag = h >> 32;
    for (uint64_t pos = h & t->mask;; pos = (pos + 1) & t->mask) {
        uint64_t e = t->slots[pos];
        uint32_t id = (uint32_t)e;
        if (id == EMPTY32) return -1;
        if ((e >> 32) == tag && (size_t)(t->off[id + 1] - t->off[id] - 1) == n && memcmp(t->terms + t->off[id], s, n) == 0)
            return id;
    }
}

static int build_slots(dt_pipe *p, duet_err *err) {
    dt_text_pipe *t = &p->text;
    uint64_t size = 16;
    while (size < (uint64_t)t->V * 2) size *= 2;
    t->slots = dt_alloc_e(p->ctx, (size_t)size, sizeof(uint64_t), "vocabulary index", err);
    if (!t->slots) return DUET_ENOMEM;
    memset(t->slots, 0xFF, (size_t)size * sizeof(uint64_t));
    t->mask = size - 1;
    for (int64_t v = 0; v < t->V; v++) {
        const char *s = t->terms + t->off[v];
        uint64_t h = term_hash(s, (size_t)(t->off[v + 1] - t->off[v] - 1));
        uint64_t pos = h & t->mask;
        while ((uint32_t)t->slots[pos] != EMPTY32) pos = (pos + 1) & t->mask;
        t->slots[pos] = (h >> 32) << 32 | (uint64_t)(uint32_t)v;
    }
    return DUET_OK;
}

// --- one document to (column, count) pairs -----------------------------------------------------

typedef struct doc_ids {
    duet_ctx *ctx;
    const dt_text_pipe *t;
    int32_t *id;               /* (n) columns, then merged */
    int32_t *cnt;              /* (n) counts after merging */
    size_t n, cap, ccap;
} doc_ids;

static int emit_id(void *u, const char *s, size_t n, duet_err *err) {
    doc_ids *a = u;
    int64_t id = a->t->hash_dims > 0 ? (int64_t)(term_hash(s, n) % (uint64_t)a->t->hash_dims) : lookup(a->t, s, n);
    if (id < 0) return DUET_OK;
    int rc = dt_grow(a->ctx, (void **)&a->id, &a->cap, a->n + 1, sizeof(int32_t), err);
    if (rc) return rc;
    a->id[a->n++] = (int32_t)id;
    return DUET_OK;
}

/* Sorts a[0..n) ascending: quicksort (median of three) with insertion sort for short runs. */
static void sort_i32(int32_t *a, size_t n) {
    while (n > 16) {
        int32_t x = a[0], y = a[n / 2], z = a[n - 1];
        int32_t piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < piv) i++;
            while (a[j] > piv) j--;
            if (i >= j) break;
            int32_t t = a[i];
            a[i++] = a[j];
            a[j--] = t;
        }
        /* a[0..j] <= piv <= a[j+1..n): recurse into the smaller part */
        size_t left = j + 1;
        if (left < n - left) {
            sort_i32(a, left);
            a += left;
            n -= left;
        } else {
            sort_i32(a + left, n - left);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++) {
        int32_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* Analyses one document into sorted distinct columns a->id[0..n) with counts a->cnt. */
static int doc_columns(const dt_text_pipe *t, scan *sc, doc_ids *a, const char *s, duet_err *err) {
    a->n = 0;
    int rc = analyse(t, sc, s, emit_id, a, err);
    if (rc) return rc;
    if (!a->n) return DUET_OK;
    rc = dt_grow(a->ctx, (void **)&a->cnt, &a->ccap, a->n, sizeof(int32_t), err);
    if (rc) return rc;
    sort_i32(a->id, a->n);
    size_t m = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (m && a->id[m - 1] == a->id[i]) a->cnt[m - 1]++;
        else {
            a->id[m] = a->id[i];
            a->cnt[m++] = 1;
        }
    }
    a->n = m;
    return DUET_OK;
}

// --- fitting ------------------------------------------------------------------------------------

/* Vocabulary under construction: an arena of entries, each a bterm header followed by the
 * term's bytes and a NUL (padded to 8 bytes), so that a lookup touches one slot and one entry. */
typedef struct bterm {
    uint64_t hash;
    int64_t count;             /* total occurrences */
    int32_t df, last;          /* documents; last document seen */
    uint32_t len, pad;
} bterm;

#define SLOT_EMPTY UINT64_MAX
#define SLOT_OFF(e) (((e) & (((uint64_t)1 << 40) - 1)) * 8)      /* entry offset in the arena */
#define SLOT_MAKE(h, off) (((h) >> 40) << 40 | (uint64_t)(off) / 8) /* 24-bit hash tag | offset / 8 */

typedef struct vbuild {
    duet_ctx *ctx;
    char *arena;
    size_t used, cap;
    size_t n;                  /* terms */
    uint64_t *slot;
    size_t mask;
    int32_t doc;
} vbuild;

static size_t entry_size(size_t len) { return sizeof(bterm) + ((len + 1 + 7) & ~(size_t)7); }

static int vb_rehash(vbuild *vb, duet_err *err) {
    size_t size = (vb->mask + 1) * 2;
    uint64_t *ns = dt_alloc_e(vb->ctx, size, sizeof(uint64_t), "vocabulary", err);
    if (!ns) return DUET_ENOMEM;
    memset(ns, 0xFF, size * sizeof(uint64_t));
    for (size_t off = 0; off < vb->used;) {
        const bterm *e = (const bterm *)(vb->arena + off);
        size_t pos = (size_t)e->hash & (size - 1);
        while (ns[pos] != SLOT_EMPTY) pos = (pos + 1) & (size - 1);
        ns[pos] = SLOT_MAKE(e->hash, off);
        off += entry_size(e->len);
    }
    dt_free(vb->ctx, vb->slot);
    vb->slot = ns;
    vb->mask = size - 1;
    return DUET_OK;
}

static int emit_build(void *u, const char *s, size_t n, duet_err *err) {
    vbuild *vb = u;
    uint64_t h = term_hash(s, n);
    size_t pos = (size_t)h & vb->mask;
    for (;; pos = (pos + 1) & vb->mask) {
        uint64_t se = vb->slot[pos];
        if (se == SLOT_EMPTY) break;
        if ((se >> 40) != (h >> 40)) continue;
        bterm *e = (bterm *)(vb->arena + SLOT_OFF(se));
        if (e->hash == h && e->len == n && memcmp(e + 1, s, n) == 0) {
            e->count++;
            if (e->last != vb->doc) {
                e->last = vb->doc;
                e->df++;
            }
            return DUET_OK;
        }
    }
    if (vb->n >= (size_t)INT32_MAX || vb->used >= ((size_t)1 << 42))
        return dt_err(err, DUET_ERANGE, "too many distinct terms (%zu); use hash_dims", vb->n);
    size_t es = entry_size(n);
    int rc = dt_grow(vb->ctx, (void **)&vb->arena, &vb->cap, vb->used + es, 1, err);
    if (rc) return rc;
    bterm *e = (bterm *)(vb->arena + vb->used);
    e->hash = h;
    e->count = 1;
    e->df = 1;
    e->last = vb->doc;
    e->len = (uint32_t)n;
    e->pad = 0;
    memcpy(e + 1, s, n);
    ((char *)(e + 1))[n] = 0;
    vb->slot[pos] = SLOT_MAKE(h, vb->used);
    vb->used += es;
    vb->n++;
    if (vb->n * 2 > vb->mask + 1) return vb_rehash(vb, err);
    return DUET_OK;
}

typedef struct kterm {
    const char *s;
    int64_t count;
    int32_t df;
    uint32_t len;
} kterm;

static int cmp_bytes(const void *a, const void *b) {
    const kterm *x = a, *y = b;
    return dt_pipe_cmp(x->s, x->len, y->s, y->len);
}

static int cmp_freq(const void *a, const void *b) {
    const kterm *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return dt_pipe_cmp(x->s, x->len, y->s, y->len);
}

static int check_settings(const dt_text_pipe *t, const char *where, int code, duet_err *err) {
    if (t->mode < DUET_TEXT_TFIDF || t->mode > DUET_TEXT_BINARY)
        return dt_err(err, code, "%s: text mode %d is not tfidf, counts or binary", where, t->mode);
    if (t->ngram_min < 1 || t->ngram_min > t->ngram_max || t->ngram_max > DT_PIPE_MAX_NGRAM)
        return dt_err(err, code, "%s: word n-grams %d-%d (need 1 <= min <= max <= %d)", where, t->ngram_min, t->ngram_max,
                      DT_PIPE_MAX_NGRAM);
    if (!(t->char_min == 0 && t->char_max == 0) &&
        (t->char_min < 1 || t->char_min > t->char_max || t->char_max > DT_PIPE_MAX_NGRAM))
        return dt_err(err, code, "%s: character n-grams %d-%d (need 1 <= min <= max <= %d)", where, t->char_min,
                      t->char_max, DT_PIPE_MAX_NGRAM);
    if (t->min_df < 1) return dt_err(err, code, "%s: min_df %d must be >= 1", where, t->min_df);
    if (t->max_features < 0 || t->max_features > DT_PIPE_MAX_DIM)
        return dt_err(err, code, "%s: max_features %lld must be in 0..%lld", where, (long long)t->max_features,
                      (long long)DT_PIPE_MAX_DIM);
    if (t->hash_dims < 0 || t->hash_dims > DT_PIPE_MAX_DIM)
        return dt_err(err, code, "%s: hash_dims %lld must be in 0..%lld", where, (long long)t->hash_dims,
                      (long long)DT_PIPE_MAX_DIM);
    return DUET_OK;
}

int dt_text_fit(dt_pipe *p, const duet_data *d, const duet_train_params *tp, duet_err *err) {
    dt_text_pipe *t = &p->text;
    duet_ctx *ctx = p->ctx;
    const char *src = d->src ? d->src : "data";
    t->mode = tp->text_mode < 0 ? DUET_TEXT_TFIDF : tp->text_mode;
    t->ngram_min = tp->ngram_min ? tp->ngram_min : 1;
    t->ngram_max = tp->ngram_max ? tp->ngram_max : (t->ngram_min > 2 ? t->ngram_min : 2);
    t->char_min = tp->char_ngram_min ? tp->char_ngram_min : tp->char_ngram_max;
    t->char_max = tp->char_ngram_max ? tp->char_ngram_max : tp->char_ngram_min;
    t->lowercase = !tp->no_lowercase;
    t->sublinear = tp->sublinear_tf != 0;
    t->min_df = tp->min_df ? tp->min_df : 1;
    t->max_features = tp->max_features;
    t->hash_dims = tp->hash_dims;
    t->n_docs = d->N;
    int rc = check_settings(t, "text features", DUET_EINVAL, err);
    if (rc) return rc;
    if (d->N > INT32_MAX - 1) return dt_err(err, DUET_ERANGE, "%s: %lld documents is too many", src, (long long)d->N);

    scan sc = {.ctx = ctx};
    doc_ids a = {.ctx = ctx, .t = t};
    vbuild vb = {.ctx = ctx};
    kterm *k = NULL;
    int64_t *df = NULL;

    if (t->hash_dims > 0) {
        p->D = t->hash_dims;
        if (t->mode == DUET_TEXT_TFIDF) {
            df = dt_calloc(ctx, (size_t)p->D, sizeof(int64_t));
            if (!df) {
                rc = dt_err(err, DUET_ENOMEM, "document frequencies: out of memory");
                goto fail;
            }
            for (int64_t i = 0; i < d->N; i++) {
                if ((i & 255) == 0) DT_TRY(dt_check_abort(ctx, "featurizing text", err));
                DT_TRY(doc_columns(t, &sc, &a, d->text[i], err));
                for (size_t q = 0; q < a.n; q++) df[a.id[q]]++;
            }
        }
    } else {
        vb.slot = dt_alloc_e(ctx, 1024, sizeof(uint64_t), "vocabulary", err);
        if (!vb.slot) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        memset(vb.slot, 0xFF, 1024 * sizeof(uint64_t));
        vb.mask = 1023;
        for (int64_t i = 0; i < d->N; i++) {
            if ((i & 255) == 0) DT_TRY(dt_check_abort(ctx, "featurizing text", err));
            vb.doc = (int32_t)i;
            DT_TRY(analyse(t, &sc, d->text[i], emit_build, &vb, err));
        }
        size_t nk = 0;
        k = dt_alloc_e(ctx, vb.n ? vb.n : 1, sizeof(kterm), "vocabulary", err);
        if (!k) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        for (size_t off = 0; off < vb.used;) {
            const bterm *e = (const bterm *)(vb.arena + off);
            if (e->df >= t->min_df) k[nk++] = (kterm){(const char *)(e + 1), e->count, e->df, e->len};
            off += entry_size(e->len);
        }
        if (nk == 0) {
            rc = vb.n ? dt_err(err, DUET_EINVAL, "%s: no term appears in %d or more documents (min_df)", src, t->min_df)
                      : dt_err(err, DUET_EINVAL, "%s: the training text has no words (tokens are 2+ letters or digits)", src);
            goto fail;
        }
        if (t->max_features > 0 && nk > (size_t)t->max_features) {
            qsort(k, nk, sizeof *k, cmp_freq);
            nk = (size_t)t->max_features;
        }
        if (nk > (size_t)DT_PIPE_MAX_DIM) {
            rc = dt_err(err, DUET_ERANGE, "%s: %zu terms; use max_features or hash_dims", src, nk);
            goto fail;
        }
        qsort(k, nk, sizeof *k, cmp_bytes);
        size_t nbytes = 0;
        for (size_t i = 0; i < nk; i++) nbytes += k[i].len + 1;
        t->V = (int64_t)nk;
        t->nbytes = (int64_t)nbytes;
        p->D = t->V;
        t->terms = dt_alloc_e(ctx, nbytes, 1, "vocabulary", err);
        t->off = dt_alloc_e(ctx, nk + 1, sizeof(int64_t), "vocabulary", err);
        if (!t->terms || !t->off) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        t->off[0] = 0;
        for (size_t i = 0; i < nk; i++) {
            memcpy(t->terms + t->off[i], k[i].s, k[i].len + 1);
            t->off[i + 1] = t->off[i] + k[i].len + 1;
        }
        if (t->mode == DUET_TEXT_TFIDF) {
            df = dt_alloc_e(ctx, nk, sizeof(int64_t), "document frequencies", err);
            if (!df) {
                rc = DUET_ENOMEM;
                goto fail;
            }
            for (size_t i = 0; i < nk; i++) df[i] = k[i].df;
        }
        DT_TRY(build_slots(p, err));
    }
    if (t->mode == DUET_TEXT_TFIDF) {
        t->idf = dt_alloc_e(ctx, (size_t)p->D, sizeof(double), "idf", err);
        if (!t->idf) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        for (int64_t j = 0; j < p->D; j++) t->idf[j] = log((1.0 + (double)d->N) / (1.0 + (double)df[j])) + 1.0;
    }
fail:
    scan_free(&sc);
    dt_free(ctx, a.id);
    dt_free(ctx, a.cnt);
    dt_free(ctx, vb.arena);
    dt_free(ctx, vb.slot);
    dt_free(ctx, k);
    dt_free(ctx, df);
    return rc;
}

// --- applying ----------------------------------------------------------------------------------

int dt_text_apply(const dt_pipe *p, const duet_data *d, dt_mat *out, duet_err *err) {
    const dt_text_pipe *t = &p->text;
    duet_ctx *ctx = p->ctx;
    int rc = DUET_OK;
    scan sc = {.ctx = ctx};
    doc_ids a = {.ctx = ctx, .t = t};
    size_t cap = 0, nnz = 0;
    out->N = d->N;
    out->D = p->D;
    out->rowptr = dt_alloc_e(ctx, (size_t)d->N + 1, sizeof(int64_t), "features", err);
    if (!out->rowptr) return DUET_ENOMEM;
    out->rowptr[0] = 0;
    size_t vcap = 0;
    for (int64_t i = 0; i < d->N; i++) {
        if ((i & 255) == 0) DT_TRY(dt_check_abort(ctx, "featurizing text", err));
        DT_TRY(doc_columns(t, &sc, &a, d->text[i], err));
        size_t need = nnz + a.n;
        DT_TRY(dt_grow(ctx, (void **)&out->col, &cap, need, sizeof(int32_t), err));
        DT_TRY(dt_grow(ctx, (void **)&out->val, &vcap, need, sizeof(float), err));
        double ss = 0;
        for (size_t q = 0; q < a.n; q++) {
            double x;
            if (t->mode == DUET_TEXT_BINARY) x = 1;
            else if (t->mode == DUET_TEXT_COUNTS) x = a.cnt[q];
            else {
                x = t->sublinear ? 1.0 + log((double)a.cnt[q]) : (double)a.cnt[q];
                x *= t->idf[a.id[q]];
                ss += x * x;
            }
            out->col[nnz + q] = a.id[q];
            out->val[nnz + q] = (float)x;
        }
        if (t->mode == DUET_TEXT_TFIDF && ss > 0) {
            double inv = 1.0 / sqrt(ss);
            for (size_t q = 0; q < a.n; q++) {
                double x = t->sublinear ? 1.0 + log((double)a.cnt[q]) : (double)a.cnt[q];
                out->val[nnz + q] = (float)(x * t->idf[a.id[q]] * inv);
            }
        }
        nnz = need;
        out->rowptr[i + 1] = (int64_t)nnz;
    }
    if (!out->col) { /* no terms at all: keep the CSR arrays non-NULL */
        out->col = dt_alloc_e(ctx, 1, sizeof(int32_t), "features", err);
        out->val = dt_alloc_e(ctx, 1, sizeof(float), "features", err);
        if (!out->col || !out->val) {
            rc = DUET_ENOMEM;
            goto fail;
        }
    }
fail:
    scan_free(&sc);
    dt_free(ctx, a.id);
    dt_free(ctx, a.cnt);
    if (rc) dt_mat_free(ctx, out);
    return rc;
}

// --- model file ---------------------------------------------------------------------------------

static const char *mode_word[] = {"tfidf", "counts", "binary"};

int dt_text_save(const dt_pipe *p, dt_st_writer *w, duet_err *err) {
    const dt_text_pipe *t = &p->text;
    int rc = DUET_OK;
    DT_TRY(dt_st_meta(w, "pipe.mode", mode_word[t->mode], err));
    DT_TRY(dt_st_metaf(w, err, "pipe.ngram_min", "%d", t->ngram_min));
    DT_TRY(dt_st_metaf(w, err, "pipe.ngram_max", "%d", t->ngram_max));
    DT_TRY(dt_st_metaf(w, err, "pipe.char_min", "%d", t->char_min));
    DT_TRY(dt_st_metaf(w, err, "pipe.char_max", "%d", t->char_max));
    DT_TRY(dt_st_metaf(w, err, "pipe.lowercase", "%d", t->lowercase));
    DT_TRY(dt_st_metaf(w, err, "pipe.sublinear_tf", "%d", t->sublinear));
    DT_TRY(dt_st_metaf(w, err, "pipe.min_df", "%d", t->min_df));
    DT_TRY(dt_st_metaf(w, err, "pipe.max_features", "%lld", (long long)t->max_features));
    DT_TRY(dt_st_metaf(w, err, "pipe.hash_dims", "%lld", (long long)t->hash_dims));
    DT_TRY(dt_st_metaf(w, err, "pipe.n_docs", "%lld", (long long)t->n_docs));
    DT_TRY(dt_st_metaf(w, err, "pipe.V", "%lld", (long long)t->V));
    if (t->V > 0) DT_TRY(dt_pipe_blob_save(w, "pipe.vocab", t->terms, t->nbytes, t->off, t->V, err));
    if (t->idf) DT_TRY(dt_st_add1(w, "pipe.idf", DT_F64, p->D, t->idf, err));
fail:
    return rc;
}

static int meta_int(const dt_st_file *f, const char *key, int64_t lo, int64_t hi, int *out, duet_err *err) {
    int64_t v;
    int rc = dt_st_meta_i64(f, key, lo, hi, &v, err);
    if (!rc) *out = (int)v;
    return rc;
}

int dt_text_load(dt_pipe *p, const dt_st_file *f, duet_err *err) {
    dt_text_pipe *t = &p->text;
    const char *fn = dt_st_name(f);
    int rc = DUET_OK;
    const char *m = dt_st_meta_get(f, "pipe.mode");
    t->mode = -1;
    for (int i = 0; i < 3 && m; i++)
        if (strcmp(m, mode_word[i]) == 0) t->mode = i;
    if (t->mode < 0) return dt_err(err, DUET_EFORMAT, "%s: metadata 'pipe.mode' is not tfidf, counts or binary", fn);
    DT_TRY(meta_int(f, "pipe.ngram_min", 1, DT_PIPE_MAX_NGRAM, &t->ngram_min, err));
    DT_TRY(meta_int(f, "pipe.ngram_max", 1, DT_PIPE_MAX_NGRAM, &t->ngram_max, err));
    DT_TRY(meta_int(f, "pipe.char_min", 0, DT_PIPE_MAX_NGRAM, &t->char_min, err));
    DT_TRY(meta_int(f, "pipe.char_max", 0, DT_PIPE_MAX_NGRAM, &t->char_max, err));
    DT_TRY(meta_int(f, "pipe.lowercase", 0, 1, &t->lowercase, err));
    DT_TRY(meta_int(f, "pipe.sublinear_tf", 0, 1, &t->sublinear, err));
    DT_TRY(meta_int(f, "pipe.min_df", 1, INT32_MAX, &t->min_df, err));
    DT_TRY(dt_st_meta_i64(f, "pipe.max_features", 0, DT_PIPE_MAX_DIM, &t->max_features, err));
    DT_TRY(dt_st_meta_i64(f, "pipe.hash_dims", 0, DT_PIPE_MAX_DIM, &t->hash_dims, err));
    DT_TRY(dt_st_meta_i64(f, "pipe.n_docs", 0, INT64_MAX, &t->n_docs, err));
    DT_TRY(dt_st_meta_i64(f, "pipe.V", 0, DT_PIPE_MAX_DIM, &t->V, err));
    DT_TRY(check_settings(t, fn, DUET_EFORMAT, err));
    if (t->hash_dims > 0 ? (t->V != 0 || t->hash_dims != p->D) : t->V != p->D) {
        rc = dt_err(err, DUET_EFORMAT, "%s: pipe.D = %lld does not match pipe.V = %lld / pipe.hash_dims = %lld", fn,
                    (long long)p->D, (long long)t->V, (long long)t->hash_dims);
        goto fail;
    }
    if (t->V > 0) {
        const char *b;
        const int64_t *o;
        DT_TRY(dt_pipe_strings_load(f, "pipe.vocab", t->V, 1, &b, &o, err));
        for (int64_t v = 1; v < t->V; v++)
            if (dt_pipe_cmp(b + o[v - 1], (size_t)(o[v] - o[v - 1] - 1), b + o[v], (size_t)(o[v + 1] - o[v] - 1)) >= 0) {
                rc = dt_err(err, DUET_EFORMAT, "%s: vocabulary terms %lld and %lld are not sorted and distinct", fn,
                            (long long)v - 1, (long long)v);
                goto fail;
            }
        t->nbytes = o[t->V];
        t->terms = dt_alloc_e(p->ctx, (size_t)t->nbytes, 1, "vocabulary", err);
        t->off = dt_alloc_e(p->ctx, (size_t)t->V + 1, sizeof(int64_t), "vocabulary", err);
        if (!t->terms || !t->off) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        memcpy(t->terms, b, (size_t)t->nbytes);
        memcpy(t->off, o, ((size_t)t->V + 1) * sizeof(int64_t));
        DT_TRY(build_slots(p, err));
    }
    if (t->mode == DUET_TEXT_TFIDF) {
        const void *x;
        int64_t shape = p->D;
        DT_TRY(dt_st_get(f, "pipe.idf", DT_F64, 1, &shape, &x, NULL, err));
        t->idf = dt_alloc_e(p->ctx, (size_t)p->D, sizeof(double), "idf", err);
        if (!t->idf) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        memcpy(t->idf, x, (size_t)p->D * sizeof(double));
        for (int64_t j = 0; j < p->D; j++)
            if (!isfinite(t->idf[j]) || t->idf[j] < 0) {
                rc = dt_err(err, DUET_EFORMAT, "%s: pipe.idf[%lld] = %g is not a valid weight", fn, (long long)j, t->idf[j]);
                goto fail;
            }
    }
fail:
    return rc; /* partial state is released by dt_pipe_free */
}

void dt_text_free(dt_pipe *p) {
    dt_text_pipe *t = &p->text;
    dt_free(p->ctx, t->terms);
    dt_free(p->ctx, t->off);
    dt_free(p->ctx, t->idf);
    dt_free(p->ctx, t->slots);
    t->terms = NULL;
    t->off = NULL;
    t->idf = NULL;
    t->slots = NULL;
}
