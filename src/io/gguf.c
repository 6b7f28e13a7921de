/* gguf.c — reads GGUF files as hostile input (see gguf.h for the format).
 * Not here: the meaning of keys and tensors (models, tokenizers), decoding tensor data
 * (core/quant.c), writing GGUF.
 * Reference: ggml's GGUF specification (docs/gguf.md in the ggml repository) for the layout; the
 * checks follow what llama.cpp's reader refuses, in duet's words.
 *
 * Opening walks the whole header once and checks, before anything is allocated or trusted:
 * every count against the bytes left (each key/value takes at least 14 bytes, each tensor info
 * at least 33, each array element at least its type's smallest size), every string length
 * against the bytes left, value and element types, arrays nested at most two deep (an array of
 * arrays), keys non-empty, free of NULs and unique, `general.alignment` a u32 power of two in
 * 1..1 MiB, tensor names 1..63 bytes and unique, 1..4 dimensions whose product fits an int64, a
 * known ggml type, a row length that is a whole number of blocks, an aligned offset, and data that
 * lies inside the file. Each error is "NAME: offset N: what", N the byte offset of the field.
 *
 * The file is mapped read-only where POSIX mapped files exist (tensor data is used in place; a
 * file truncated by another process while mapped faults, as with any mapping), else read whole.
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/quant.h"

#if defined(_POSIX_MAPPED_FILES) && _POSIX_MAPPED_FILES > 0
#include <sys/mman.h>
#define HAVE_MMAP 1
#else
#define HAVE_MMAP 0
#endif

#define MIN_KV 14     /* u64 key length, a 1-byte key, u32 type, a 1-byte value */
#define MIN_TENSOR 33 /* u64 name length, a 1-byte name, u32 n_dims, one u64 ne, u32 type, u64 offset */
#define MAX_DEPTH 2   /* an array of arrays, no deeper */
#define DEFAULT_ALIGN 32

// --- types -------------------------------------------------------------------------------------

typedef struct kv {
    const char *key;  /* NUL-terminated, in keys */
    uint32_t type;
    uint64_t key_off; /* file offset of the key (for messages) */
    uint64_t off;     /* file offset of the value */
} kv;

typedef struct tensor {
    dt_gguf_tensor pub;
    uint64_t info_off; /* file offset of its info (for messages) */
} tensor;

struct dt_gguf {
    duet_ctx *ctx;
    char *name;
    const unsigned char *b; /* the file's bytes */
    size_t size;
    void *map;              /* the mapping, when mapped */
    unsigned char *owned;   /* the bytes, when read whole */
    uint32_t version, align;
    uint64_t data_off;
    kv *kv;                 /* (n_kv) in file order */
    const kv **kv_sorted;   /* (n_kv) by key */
    char *keys;             /* every key and its NUL */
    int64_t n_kv;
    tensor *t;              /* (n_t) in file order */
    const tensor **t_sorted; /* (n_t) by name */
    int64_t n_t;
};

/* Smallest size of a value of each type (strings: the length alone; arrays: type and count). */
static const uint8_t type_min[13] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};
static const char *const type_names[13] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                           "string", "array", "u64", "i64", "f64"};

static int is_scalar(uint32_t t) { return t <= DT_GGUF_F64 && t != DT_GGUF_STRING && t != DT_GGUF_ARRAY; }
static const char *tname(uint32_t t) { return t <= DT_GGUF_F64 ? type_names[t] : "?"; }

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* "name: offset N: ..." */
static int bad(const dt_gguf *f, duet_err *err, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(const dt_gguf *f, duet_err *err, uint64_t off, const char *fmt, ...) {
    if (!err) return DUET_EFORMAT;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return dt_err(err, DUET_EFORMAT, "%.80s: offset %llu: %s", f->name, (unsigned long long)off, what);
}

// --- walking the header ------------------------------------------------------------------------

/* A read position; every read checks the bytes left first. */
typedef struct cur {
    const dt_gguf *f;
    uint64_t pos;
    duet_err *err;
} cur;

static uint64_t left(const cur *c) { return (uint64_t)c->f->size - c->pos; }

static int need(cur *c, uint64_t n, const char *what) {
    if (n <= left(c)) return DUET_OK;
    return bad(c->f, c->err, c->pos, "%s needs %llu bytes, %llu left", what, (unsigned long long)n,
               (unsigned long long)left(c));
}

static int get32(cur *c, uint32_t *v, const char *what) {
    int rc = need(c, 4, what);
    if (rc) return rc;
    *v = rd32(c->f->b + c->pos);
    c->pos += 4;
    return DUET_OK;
}

static int get64(cur *c, uint64_t *v, const char *what) {
    int rc = need(c, 8, what);
    if (rc) return rc;
    *v = rd64(c->f->b + c->pos);
    c->pos += 8;
    return DUET_OK;
}

/* A string: *off and *len receive where its bytes start and how many there are. */
static int get_str(cur *c, uint64_t *off, uint64_t *len, const char *what) {
    uint64_t at = c->pos;
    int rc = get64(c, len, what);
    if (rc) return rc;
    if (*len > left(c))
        return bad(c->f, c->err, at, "%s: length %llu exceeds the %llu bytes left", what,
                   (unsigned long long)*len, (unsigned long long)left(c));
    *off = c->pos;
    c->pos += *len;
    return DUET_OK;
}

/* Skips a value of type t whose first byte is at c->pos; depth counts the arrays around it. */
static int skip_value(cur *c, uint32_t t, int depth, const char *key) {
    uint64_t at = c->pos;
    if (t > DT_GGUF_F64) return bad(c->f, c->err, at, "key '%.40s': unknown value type %u", key, t);
    if (is_scalar(t)) {
        int rc = need(c, type_min[t], "a value");
        if (rc) return rc;
        c->pos += type_min[t];
        return DUET_OK;
    }
    if (t == DT_GGUF_STRING) {
        uint64_t off, len;
        return get_str(c, &off, &len, "a string value");
    }
    if (depth >= MAX_DEPTH) return bad(c->f, c->err, at, "key '%.40s': arrays nested more than %d deep", key, MAX_DEPTH);
    uint32_t et;
    uint64_t n;
    int rc = get32(c, &et, "an array's element type");
    if (rc == DUET_OK) rc = get64(c, &n, "an array's length");
    if (rc) return rc;
    if (et > DT_GGUF_F64) return bad(c->f, c->err, at, "key '%.40s': unknown array element type %u", key, et);
    if (n > left(c) / type_min[et])
        return bad(c->f, c->err, at, "key '%.40s': an array of %llu %s needs at least %llu bytes each, %llu left", key,
                   (unsigned long long)n, tname(et), (unsigned long long)type_min[et], (unsigned long long)left(c));
    if (is_scalar(et)) {
        c->pos += n * type_min[et]; /* fits: checked just above */
        return DUET_OK;
    }
    for (uint64_t i = 0; i < n; i++) {
        rc = skip_value(c, et, depth + 1, key);
        if (rc) return rc;
    }
    return DUET_OK;
}

static int cmp_kv(const void *a, const void *b) { return strcmp((*(const kv *const *)a)->key, (*(const kv *const *)b)->key); }
static int cmp_tensor(const void *a, const void *b) {
    return strcmp((*(const tensor *const *)a)->pub.name, (*(const tensor *const *)b)->pub.name);
}

/* The key/values, starting at c->pos: n of them. */
static int read_kvs(dt_gguf *f, cur *c, uint64_t n, duet_err *err) {
    f->kv = dt_alloc_e(f->ctx, (size_t)n, sizeof *f->kv, f->name, err);
    if (!f->kv) return DUET_ENOMEM;
    uint64_t total = 0; /* key bytes with their NULs */
    for (uint64_t i = 0; i < n; i++) {
        kv *k = &f->kv[i];
        uint64_t off, len;
        char what[40];
        snprintf(what, sizeof what, "key %llu", (unsigned long long)i);
        k->key_off = c->pos;
        int rc = get_str(c, &off, &len, what);
        if (rc) return rc;
        if (len == 0) return bad(f, err, k->key_off, "key %llu is empty", (unsigned long long)i);
        if (memchr(f->b + off, 0, (size_t)len)) return bad(f, err, k->key_off, "key %llu holds a NUL byte", (unsigned long long)i);
        total += len + 1; /* the key is copied once all are read (k->key stays NULL until then) */
        uint64_t at = c->pos;
        rc = get32(c, &k->type, "a value type");
        if (rc) return rc;
        char key[41];
        snprintf(key, sizeof key, "%.*s", (int)(len < 40 ? len : 40), (const char *)(f->b + off));
        if (k->type > DT_GGUF_F64) return bad(f, err, at, "key '%s': unknown value type %u", key, k->type);
        k->off = c->pos;
        rc = skip_value(c, k->type, 0, key);
        if (rc) return rc;
        f->n_kv = (int64_t)i + 1;
    }
    /* copy the keys, NUL-terminated, into one block; then sort them to find duplicates */
    f->keys = dt_alloc_e(f->ctx, (size_t)total, 1, f->name, err);
    f->kv_sorted = dt_alloc_e(f->ctx, (size_t)n, sizeof *f->kv_sorted, f->name, err);
    if (!f->keys || !f->kv_sorted) return DUET_ENOMEM;
    char *p = f->keys;
    for (int64_t i = 0; i < f->n_kv; i++) {
        kv *k = &f->kv[i];
        uint64_t len = rd64(f->b + k->key_off);
        memcpy(p, f->b + k->key_off + 8, (size_t)len);
        p[len] = 0;
        k->key = p;
        p += len + 1;
        f->kv_sorted[i] = k;
    }
    if (n) qsort(f->kv_sorted, (size_t)n, sizeof *f->kv_sorted, cmp_kv);
    for (int64_t i = 1; i < f->n_kv; i++)
        if (strcmp(f->kv_sorted[i - 1]->key, f->kv_sorted[i]->key) == 0) {
            const kv *a = f->kv_sorted[i - 1], *b = f->kv_sorted[i];
            return bad(f, err, a->key_off > b->key_off ? a->key_off : b->key_off, "key '%.40s' appears twice", a->key);
        }
    return DUET_OK;
}

static int read_alignment(dt_gguf *f, duet_err *err) {
    f->align = DEFAULT_ALIGN;
    int64_t i = dt_gguf_find_key(f, "general.alignment");
    if (i < 0) return DUET_OK;
    const kv *k = &f->kv[i];
    if (k->type != DT_GGUF_U32) return bad(f, err, k->off, "general.alignment is a %s, not a u32", tname(k->type));
    uint32_t a = rd32(f->b + k->off);
    if (a == 0 || (a & (a - 1)) || a > DT_GGUF_MAX_ALIGN)
        return bad(f, err, k->off, "general.alignment %u is not a power of two from 1 to %u", a, DT_GGUF_MAX_ALIGN);
    f->align = a;
    return DUET_OK;
}

/* The tensor infos, starting at c->pos: n of them. */
static int read_tensors(dt_gguf *f, cur *c, uint64_t n, duet_err *err) {
    f->t = dt_alloc_e(f->ctx, (size_t)n, sizeof *f->t, f->name, err);
    f->t_sorted = dt_alloc_e(f->ctx, (size_t)n, sizeof *f->t_sorted, f->name, err);
    if (!f->t || !f->t_sorted) return DUET_ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        tensor *t = &f->t[i];
        dt_gguf_tensor *p = &t->pub;
        uint64_t off, len, at;
        char what[40];
        snprintf(what, sizeof what, "tensor %llu's name", (unsigned long long)i);
        t->info_off = c->pos;
        int rc = get_str(c, &off, &len, what);
        if (rc) return rc;
        if (len == 0 || len > DT_GGUF_MAX_NAME)
            return bad(f, err, t->info_off, "tensor %llu: a name of %llu bytes (1 to %d allowed)", (unsigned long long)i,
                       (unsigned long long)len, DT_GGUF_MAX_NAME);
        memcpy(p->name, f->b + off, (size_t)len);
        p->name[len] = 0;
        if (strlen(p->name) != len) return bad(f, err, t->info_off, "tensor %llu: its name holds a NUL byte", (unsigned long long)i);
        uint32_t nd;
        at = c->pos;
        if ((rc = get32(c, &nd, "a tensor's dimension count"))) return rc;
        if (nd < 1 || nd > DT_GGUF_MAX_DIMS)
            return bad(f, err, at, "tensor '%s': %u dimensions (1 to %d allowed)", p->name, nd, DT_GGUF_MAX_DIMS);
        p->n_dims = (int)nd;
        uint64_t count = 1;
        for (int d = 0; d < DT_GGUF_MAX_DIMS; d++) {
            uint64_t ne = 1;
            at = c->pos;
            if (d < p->n_dims && (rc = get64(c, &ne, "a tensor dimension"))) return rc;
            if (ne > (uint64_t)INT64_MAX || (ne && count > (uint64_t)INT64_MAX / ne))
                return bad(f, err, at, "tensor '%s': dimension %d (%llu) makes the element count overflow", p->name, d,
                           (unsigned long long)ne);
            count *= ne;
            p->ne[d] = (int64_t)ne;
        }
        at = c->pos;
        if ((rc = get32(c, &p->type, "a tensor's type"))) return rc;
        const dt_qtype *q = dt_qtype_of(p->type);
        if (!q) return bad(f, err, at, "tensor '%s': unknown ggml type %u", p->name, p->type);
        if (p->ne[0] % q->block)
            return bad(f, err, t->info_off, "tensor '%s': row length %lld is not a multiple of %s's block of %d", p->name,
                       (long long)p->ne[0], q->name, q->block);
        /* the size, and the same with empty dimensions taken as one block or one row (`span`): a
         * tensor without elements may not have a dimension, a row in particular, too large for the
         * sizes a user computes from it */
        uint64_t span = p->ne[0] ? (uint64_t)p->ne[0] : (uint64_t)q->block;
        for (int d = 1; d < DT_GGUF_MAX_DIMS && span; d++) {
            uint64_t ne = p->ne[d] ? (uint64_t)p->ne[d] : 1;
            span = span > (uint64_t)INT64_MAX / ne ? 0 : span * ne;
        }
        p->nbytes = dt_qtype_bytes(q, count);
        if (!dt_qtype_bytes(q, span))
            return bad(f, err, t->info_off, "tensor '%s': dimensions (%lld, %lld, %lld, %lld) of %s overflow a size", p->name,
                       (long long)p->ne[0], (long long)p->ne[1], (long long)p->ne[2], (long long)p->ne[3], q->name);
        at = c->pos;
        if ((rc = get64(c, &p->offset, "a tensor's offset"))) return rc;
        if (p->offset % f->align)
            return bad(f, err, at, "tensor '%s': data offset %llu is not a multiple of the alignment %u", p->name,
                       (unsigned long long)p->offset, f->align);
        f->t_sorted[i] = t;
        f->n_t = (int64_t)i + 1;
    }
    /* the data section starts at the next multiple of the alignment; every tensor must lie in it */
    uint64_t end = c->pos, pad = (f->align - end % f->align) % f->align;
    f->data_off = end + pad; /* end <= size, pad < 2^20: no overflow */
    for (int64_t i = 0; i < f->n_t; i++) {
        dt_gguf_tensor *p = &f->t[i].pub;
        uint64_t size = f->size, rel = p->offset;
        if (rel > size || f->data_off > size - rel || p->nbytes > size - rel - f->data_off)
            return bad(f, err, f->t[i].info_off, "tensor '%s': data at %llu + %llu bytes (%zu) ends past the end of the file (%llu bytes)",
                       p->name, (unsigned long long)f->data_off, (unsigned long long)rel, p->nbytes, (unsigned long long)size);
        p->offset = f->data_off + rel;
        p->data = f->b + p->offset;
    }
    if (n) qsort(f->t_sorted, (size_t)n, sizeof *f->t_sorted, cmp_tensor);
    for (int64_t i = 1; i < f->n_t; i++)
        if (strcmp(f->t_sorted[i - 1]->pub.name, f->t_sorted[i]->pub.name) == 0) {
            const tensor *a = f->t_sorted[i - 1], *b = f->t_sorted[i];
            return bad(f, err, a->info_off > b->info_off ? a->info_off : b->info_off, "tensor '%s' appears twice", a->pub.name);
        }
    return DUET_OK;
}

/* Walks f->b[0..size): header, key/values, tensor infos. */
static int parse(dt_gguf *f, duet_err *err) {
    cur c = {f, 0, err};
    if (f->size < 4 || memcmp(f->b, "GGUF", 4) != 0)
        return bad(f, err, 0, "not a GGUF file (it does not start with \"GGUF\")");
    c.pos = 4;
    uint32_t v;
    uint64_t nt, nkv;
    int rc = get32(&c, &v, "the version");
    if (rc) return rc;
    if (v == 0x02000000u || v == 0x03000000u)
        return bad(f, err, 4, "a big-endian GGUF file (only little-endian ones are read)");
    if (v != 2 && v != 3) return bad(f, err, 4, "GGUF version %u (versions 2 and 3 are read)", v);
    f->version = v;
    if ((rc = get64(&c, &nt, "the tensor count")) || (rc = get64(&c, &nkv, "the key/value count"))) return rc;
    /* each key/value and each tensor info takes a minimum number of bytes: refuse counts the
     * file cannot hold before allocating for them */
    if (nkv > left(&c) / MIN_KV)
        return bad(f, err, 16, "%llu key/values need at least %d bytes each, %llu left", (unsigned long long)nkv, MIN_KV,
                   (unsigned long long)left(&c));
    if (nt > left(&c) / MIN_TENSOR || nkv * MIN_KV + nt * MIN_TENSOR > left(&c))
        return bad(f, err, 8, "%llu tensor infos need at least %d bytes each, %llu left after the key/values", (unsigned long long)nt,
                   MIN_TENSOR, (unsigned long long)left(&c));
    if ((rc = read_kvs(f, &c, nkv, err)) || (rc = read_alignment(f, err))) return rc;
    return read_tensors(f, &c, nt, err);
}

// --- lifecycle ---------------------------------------------------------------------------------

static int gguf_new(duet_ctx *ctx, const char *name, dt_gguf **out, duet_err *err) {
    dt_gguf *f = dt_calloc(ctx, 1, sizeof *f);
    char *nm = dt_strdup(ctx, name);
    if (!f || !nm) {
        dt_free(ctx, f);
        dt_free(ctx, nm);
        return dt_err(err, DUET_ENOMEM, "%s: out of memory", name);
    }
    f->ctx = ctx;
    f->name = nm;
    *out = f;
    return DUET_OK;
}

int dt_gguf_open_mem(duet_ctx *ctx, const char *name, const void *buf, size_t len, dt_gguf **out, duet_err *err) {
    static const unsigned char empty[1];
    *out = NULL;
    dt_gguf *f;
    int rc = gguf_new(ctx, name, &f, err);
    if (rc) return rc;
    f->b = buf ? buf : empty;
    f->size = buf ? len : 0;
    if ((rc = parse(f, err))) {
        dt_gguf_close(f);
        return rc;
    }
    *out = f;
    return DUET_OK;
}

/* Reads n bytes of fd into p. */
static int read_whole(int fd, unsigned char *p, size_t n) {
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        p += r, n -= (size_t)r;
    }
    return 1;
}

int dt_gguf_open(duet_ctx *ctx, const char *path, dt_gguf **out, duet_err *err) {
    static const unsigned char empty[1];
    *out = NULL;
    dt_gguf *f = NULL;
    int rc, fd = open(path, O_RDONLY);
    if (fd < 0) return dt_err(err, DUET_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = dt_err(err, DUET_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = dt_err(err, DUET_EIO, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        rc = dt_err(err, DUET_ERANGE, "%s: %lld bytes do not fit this machine's address space", path, (long long)st.st_size);
        goto fail;
    }
    if ((rc = gguf_new(ctx, path, &f, err))) goto fail;
    f->size = (size_t)st.st_size;
    f->b = empty;
#if HAVE_MMAP
    if (f->size) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) f->map = m, f->b = m;
    }
#endif
    if (f->size && !f->map) { /* no mapping: read it whole */
        f->owned = dt_alloc_e(ctx, f->size, 1, path, err);
        if (!f->owned) {
            rc = DUET_ENOMEM;
            goto fail;
        }
        if (!read_whole(fd, f->owned, f->size)) {
            rc = dt_err(err, DUET_EIO, "%s: read failed", path);
            goto fail;
        }
        f->b = f->owned;
    }
    close(fd);
    fd = -1;
    if ((rc = parse(f, err))) goto fail;
    *out = f;
    return DUET_OK;
fail:
    if (fd >= 0) close(fd);
    dt_gguf_close(f);
    return rc;
}

void dt_gguf_close(dt_gguf *f) {
    if (!f) return;
    duet_ctx *ctx = f->ctx;
#if HAVE_MMAP
    if (f->map) munmap(f->map, f->size);
#endif
    dt_free(ctx, f->owned);
    dt_free(ctx, f->kv);
    dt_free(ctx, f->kv_sorted);
    dt_free(ctx, f->keys);
    dt_free(ctx, f->t);
    dt_free(ctx, f->t_sorted);
    dt_free(ctx, f->name);
    dt_free(ctx, f);
}

const char *dt_gguf_name(const dt_gguf *f) { return f->name; }
uint32_t dt_gguf_version(const dt_gguf *f) { return f->version; }
uint32_t dt_gguf_alignment(const dt_gguf *f) { return f->align; }
uint64_t dt_gguf_data_offset(const dt_gguf *f) { return f->data_off; }
size_t dt_gguf_size(const dt_gguf *f) { return f->size; }

// --- key/values --------------------------------------------------------------------------------

int64_t dt_gguf_n_kv(const dt_gguf *f) { return f->n_kv; }
const char *dt_gguf_kv_key(const dt_gguf *f, int64_t i) { return i >= 0 && i < f->n_kv ? f->kv[i].key : NULL; }
uint32_t dt_gguf_kv_type(const dt_gguf *f, int64_t i) { return i >= 0 && i < f->n_kv ? f->kv[i].type : UINT32_MAX; }

static int cmp_key(const void *key, const void *elem) { return strcmp(key, (*(const kv *const *)elem)->key); }

int64_t dt_gguf_find_key(const dt_gguf *f, const char *key) {
    if (!f->n_kv || !f->kv_sorted) return -1;
    const kv *const *k = bsearch(key, f->kv_sorted, (size_t)f->n_kv, sizeof *f->kv_sorted, cmp_key);
    return k ? *k - f->kv : -1;
}

/* The key/value of that key, or NULL with EFORMAT in err. */
static const kv *lookup(const dt_gguf *f, const char *key, duet_err *err) {
    int64_t i = dt_gguf_find_key(f, key);
    if (i < 0) dt_err(err, DUET_EFORMAT, "%.80s: key '%.60s' is missing", f->name, key);
    return i < 0 ? NULL : &f->kv[i];
}

/* An integer value of any width at p, as a sign and a magnitude-preserving pair: *neg set for a
 * negative value (then *s holds it), else *u holds it. 0 when t is not an integer type. */
static int int_at(uint32_t t, const unsigned char *p, int *neg, int64_t *s, uint64_t *u) {
    int64_t v;
    *neg = 0;
    switch (t) {
    case DT_GGUF_U8: *u = p[0]; return 1;
    case DT_GGUF_U16: *u = rd16(p); return 1;
    case DT_GGUF_U32: *u = rd32(p); return 1;
    case DT_GGUF_U64: *u = rd64(p); return 1;
    case DT_GGUF_I8: v = (int8_t)p[0]; break;
    case DT_GGUF_I16: v = (int16_t)rd16(p); break;
    case DT_GGUF_I32: v = (int32_t)rd32(p); break;
    case DT_GGUF_I64: {
        uint64_t x = rd64(p);
        memcpy(&v, &x, sizeof v); /* two's complement */
        break;
    }
    default: return 0;
    }
    if (v < 0) *neg = 1, *s = v;
    else *u = (uint64_t)v;
    return 1;
}

/* Reads an integer key into [lo, hi] (lo <= 0); *out gets it as int64 (u64 callers pass
 * hi = UINT64_MAX and read *uout). */
static int get_int(const dt_gguf *f, const char *key, int64_t lo, uint64_t hi, int64_t *out, uint64_t *uout,
                   const char *want, duet_err *err) {
    const kv *k = lookup(f, key, err);
    if (!k) return DUET_EFORMAT;
    int neg;
    int64_t s = 0;
    uint64_t u = 0;
    if (!int_at(k->type, f->b + k->off, &neg, &s, &u))
        return bad(f, err, k->off, "key '%.60s' is a %s, not an integer", key, tname(k->type));
    if (neg ? s < lo : u > hi)
        return dt_err(err, DUET_ERANGE, "%.80s: offset %llu: key '%.60s' = %s%llu does not fit a %s", f->name,
                      (unsigned long long)k->off, key, neg ? "-" : "", neg ? 0ull - (unsigned long long)s : (unsigned long long)u, want);
    if (out) *out = neg ? s : (int64_t)(u > (uint64_t)INT64_MAX ? INT64_MAX : u);
    if (uout) *uout = u;
    return DUET_OK;
}

int dt_gguf_get_u32(const dt_gguf *f, const char *key, uint32_t *out, duet_err *err) {
    int64_t v;
    int rc = get_int(f, key, 0, UINT32_MAX, &v, NULL, "u32", err);
    if (rc == DUET_OK) *out = (uint32_t)v;
    return rc;
}

int dt_gguf_get_i32(const dt_gguf *f, const char *key, int32_t *out, duet_err *err) {
    int64_t v;
    int rc = get_int(f, key, INT32_MIN, INT32_MAX, &v, NULL, "i32", err);
    if (rc == DUET_OK) *out = (int32_t)v;
    return rc;
}

int dt_gguf_get_u64(const dt_gguf *f, const char *key, uint64_t *out, duet_err *err) {
    return get_int(f, key, 0, UINT64_MAX, NULL, out, "u64", err);
}

int dt_gguf_get_i64(const dt_gguf *f, const char *key, int64_t *out, duet_err *err) {
    return get_int(f, key, INT64_MIN, INT64_MAX, out, NULL, "i64", err);
}

/* A number of any numeric type at p; 0 when t is not numeric. */
static int num_at(uint32_t t, const unsigned char *p, double *out) {
    int neg;
    int64_t s = 0;
    uint64_t u = 0;
    if (t == DT_GGUF_F32) {
        uint32_t x = rd32(p);
        float v;
        memcpy(&v, &x, sizeof v);
        *out = v;
    } else if (t == DT_GGUF_F64) {
        uint64_t x = rd64(p);
        memcpy(out, &x, sizeof *out);
    } else if (t == DT_GGUF_BOOL) {
        *out = p[0] != 0;
    } else if (int_at(t, p, &neg, &s, &u)) {
        *out = neg ? (double)s : (double)u;
    } else {
        return 0;
    }
    return 1;
}

int dt_gguf_get_f32(const dt_gguf *f, const char *key, float *out, duet_err *err) {
    const kv *k = lookup(f, key, err);
    if (!k) return DUET_EFORMAT;
    double v;
    if (k->type == DT_GGUF_BOOL || !num_at(k->type, f->b + k->off, &v))
        return bad(f, err, k->off, "key '%.60s' is a %s, not a number", key, tname(k->type));
    *out = (float)v;
    return DUET_OK;
}

int dt_gguf_get_bool(const dt_gguf *f, const char *key, int *out, duet_err *err) {
    const kv *k = lookup(f, key, err);
    if (!k) return DUET_EFORMAT;
    if (k->type != DT_GGUF_BOOL) return bad(f, err, k->off, "key '%.60s' is a %s, not a bool", key, tname(k->type));
    *out = f->b[k->off] != 0;
    return DUET_OK;
}

int dt_gguf_get_str(const dt_gguf *f, const char *key, const char **s, size_t *len, duet_err *err) {
    const kv *k = lookup(f, key, err);
    if (!k) return DUET_EFORMAT;
    if (k->type != DT_GGUF_STRING) return bad(f, err, k->off, "key '%.60s' is a %s, not a string", key, tname(k->type));
    *len = (size_t)rd64(f->b + k->off); /* checked against the file size on opening */
    *s = (const char *)(f->b + k->off + 8);
    return DUET_OK;
}

int dt_gguf_get_arr(const dt_gguf *f, const char *key, dt_gguf_arr *out, duet_err *err) {
    const kv *k = lookup(f, key, err);
    if (!k) return DUET_EFORMAT;
    if (k->type != DT_GGUF_ARRAY) return bad(f, err, k->off, "key '%.60s' is a %s, not an array", key, tname(k->type));
    out->type = rd32(f->b + k->off);
    out->n = rd64(f->b + k->off + 4);
    out->p = f->b + k->off + 12;
    out->off = k->off + 12;
    return DUET_OK;
}

// --- arrays ------------------------------------------------------------------------------------

int dt_gguf_arr_i64(const dt_gguf_arr *a, uint64_t i, int64_t *out) {
    int neg;
    int64_t s = 0;
    uint64_t u = 0;
    if (!is_scalar(a->type) || i >= a->n || !int_at(a->type, a->p + i * type_min[a->type], &neg, &s, &u)) return 0;
    if (!neg && u > (uint64_t)INT64_MAX) return 0;
    *out = neg ? s : (int64_t)u;
    return 1;
}

int dt_gguf_arr_f64(const dt_gguf_arr *a, uint64_t i, double *out) {
    if (!is_scalar(a->type) || i >= a->n) return 0;
    return num_at(a->type, a->p + i * type_min[a->type], out);
}

void dt_gguf_arr_iter(const dt_gguf_arr *a, dt_gguf_iter *it) {
    it->p = a->p;
    it->off = a->off;
    it->i = 0;
    it->n = a->n;
    it->type = a->type;
}

int dt_gguf_iter_str(dt_gguf_iter *it, const char **s, size_t *len) {
    if (it->type != DT_GGUF_STRING || it->i >= it->n) return 0;
    uint64_t n = rd64(it->p); /* the walk on opening checked every length */
    *s = (const char *)(it->p + 8);
    *len = (size_t)n;
    it->p += 8 + n, it->off += 8 + n, it->i++;
    return 1;
}

int dt_gguf_iter_arr(dt_gguf_iter *it, dt_gguf_arr *sub) {
    if (it->type != DT_GGUF_ARRAY || it->i >= it->n) return 0;
    sub->type = rd32(it->p);
    sub->n = rd64(it->p + 4);
    sub->p = it->p + 12;
    sub->off = it->off + 12;
    /* step past it: an inner array holds scalars or strings (nothing deeper was accepted) */
    uint64_t bytes = 0;
    if (is_scalar(sub->type)) {
        bytes = sub->n * type_min[sub->type];
    } else {
        dt_gguf_iter in;
        const char *s;
        size_t len;
        dt_gguf_arr_iter(sub, &in);
        while (dt_gguf_iter_str(&in, &s, &len)) {}
        bytes = in.off - sub->off;
    }
    it->p = sub->p + bytes, it->off = sub->off + bytes, it->i++;
    return 1;
}

// --- tensors -----------------------------------------------------------------------------------

int64_t dt_gguf_n_tensors(const dt_gguf *f) { return f->n_t; }
const dt_gguf_tensor *dt_gguf_tensor_at(const dt_gguf *f, int64_t i) { return i >= 0 && i < f->n_t ? &f->t[i].pub : NULL; }

static int cmp_name(const void *key, const void *elem) { return strcmp(key, (*(const tensor *const *)elem)->pub.name); }

const dt_gguf_tensor *dt_gguf_find_tensor(const dt_gguf *f, const char *name) {
    if (!f->n_t || !f->t_sorted) return NULL;
    const tensor *const *t = bsearch(name, f->t_sorted, (size_t)f->n_t, sizeof *f->t_sorted, cmp_name);
    return t ? &(*t)->pub : NULL;
}
