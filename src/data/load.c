/* load.c — choosing a reader: dt_data_load and dt_data_load_mem look at the name, then the
 * content (IDX magic, JSON, "label idx:val", label<TAB>text, else CSV), and hand the bytes to
 * one of the readers.
 * Not here: the readers (read_*.c) or whole-file reading (data.c).
 */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include "data.h"

// --- choosing a reader ------------------------------------------------------------------------

static int ends_with(const char *s, size_t n, const char *suf) {
    size_t m = strlen(suf);
    if (n < m) return 0;
    for (size_t i = 0; i < m; i++) {
        char a = s[n - m + i], b = suf[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != b) return 0;
    }
    return 1;
}

/* Format from the file name alone (gzip suffix ignored); AUTO when it says nothing. */
static int format_from_name(const char *name) {
    size_t n = strlen(name);
    if (ends_with(name, n, ".gz")) n -= 3;
    if (ends_with(name, n, "-ubyte") || ends_with(name, n, ".idx3") || ends_with(name, n, ".idx") ||
        strstr(name, "-idx3-ubyte"))
        return DUET_FMT_IDX;
    if (ends_with(name, n, ".jsonl") || ends_with(name, n, ".ndjson")) return DUET_FMT_JSONL;
    if (ends_with(name, n, ".svm") || ends_with(name, n, ".libsvm") || ends_with(name, n, ".svmlight"))
        return DUET_FMT_LIBSVM;
    if (ends_with(name, n, ".csv")) return DUET_FMT_CSV;
    return DUET_FMT_AUTO;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* 1 when the line [s, e) looks like "label idx:val idx:val ..." with at least one pair. */
static int libsvm_like(const char *s, const char *e) {
    const char *p = s;
    while (p < e && is_space(*p)) p++;
    const char *t = p;
    while (p < e && !is_space(*p)) p++;
    if (p == t || memchr(t, ':', (size_t)(p - t))) return 0; /* the label has no ':' */
    int pairs = 0;
    for (;;) {
        while (p < e && is_space(*p)) p++;
        if (p >= e || *p == '#') break;
        t = p;
        while (p < e && !is_space(*p)) p++;
        const char *c = memchr(t, ':', (size_t)(p - t));
        if (!c || c == t || c + 1 == p) return 0;
        for (const char *q = t; q < c; q++)
            if (!(*q >= '0' && *q <= '9') && !(c - t == 3 && !memcmp(t, "qid", 3))) return 0;
        pairs++;
    }
    return pairs > 0;
}

/* 1 when the first lines look like "label<TAB>free text": every line has a tab, the first
 * field is a short word, the rest has spaces, and the tab counts do not form a table. */
static int tsv_text_like(const char *buf, size_t len) {
    size_t pos = 0;
    int lines = 0, spaced = 0, tabs0 = -1, same_tabs = 1;
    while (pos < len && lines < 20) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        const char *e = nl ? nl : buf + len;
        pos = (size_t)(e - buf) + 1;
        const char *t = s;
        while (t < e && is_space(*t)) t++;
        if (t == e) continue;
        const char *tab = memchr(s, '\t', (size_t)(e - s));
        if (!tab || tab == s || tab - s > 64) return 0;
        for (const char *q = s; q < tab; q++)
            if (*q == ' ') return 0;
        int tabs = 0;
        for (const char *q = s; q < e; q++) tabs += *q == '\t';
        if (tabs0 < 0) tabs0 = tabs;
        else if (tabs != tabs0) same_tabs = 0;
        if (memchr(tab, ' ', (size_t)(e - tab))) spaced++;
        lines++;
    }
    if (lines == 0) return 0;
    if (same_tabs && tabs0 > 1) return 0;
    return spaced * 2 >= lines;
}

/* Format from the content: JSONL, LIBSVM, labelled text or CSV. */
static int format_from_content(const char *buf, size_t len, const duet_load_opts *o) {
    size_t pos = 0;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) pos = 3;
    while (pos < len) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        const char *e = nl ? nl : buf + len;
        const char *t = s;
        while (t < e && is_space(*t)) t++;
        if (t == e || *t == '#') {
            pos = (size_t)(e - buf) + 1;
            continue;
        }
        if (*t == '{') return DUET_FMT_JSONL;
        if (libsvm_like(s, e)) return DUET_FMT_LIBSVM;
        /* unlabelled LIBSVM: the line starts with idx:val */
        if (o->unlabelled && *t >= '0' && *t <= '9') {
            const char *c = t;
            while (c < e && *c >= '0' && *c <= '9') c++;
            if (c < e && *c == ':') {
                const char *q = c + 1;
                if (q < e && !is_space(*q)) return DUET_FMT_LIBSVM;
            }
        }
        break;
    }
    if (!o->text && tsv_text_like(buf + pos, len - pos)) return DUET_FMT_TEXT;
    return DUET_FMT_CSV;
}

static int read_mem_as(duet_ctx *ctx, int fmt, const char *name, const char *buf, size_t len,
                       const duet_load_opts *o, duet_data **out, duet_err *err) {
    switch (fmt) {
    case DUET_FMT_CSV: return dt_read_csv(ctx, name, buf, len, o, out, err);
    case DUET_FMT_LIBSVM: return dt_read_libsvm(ctx, name, buf, len, o, out, err);
    case DUET_FMT_TEXT: return dt_read_text_tsv(ctx, name, buf, len, o, out, err);
    case DUET_FMT_JSONL: return dt_read_jsonl(ctx, name, buf, len, o, out, err);
    case DUET_FMT_CORPUS: return dt_read_corpus(ctx, name, buf, len, o, out, err);
    case DUET_FMT_DIR:
    case DUET_FMT_IDX:
        return dt_err(err, DUET_EUNSUPPORTED, "%s: %s data cannot be read from memory", name,
                      fmt == DUET_FMT_DIR ? "folder" : "IDX");
    default: return dt_err(err, DUET_EINVAL, "%s: unknown input format %d", name, fmt);
    }
}

static int idx_magic(const char *buf, size_t len) {
    return len >= 4 && buf[0] == 0 && buf[1] == 0 && (unsigned char)buf[2] == 0x08 &&
           (buf[3] == 1 || buf[3] == 2 || buf[3] == 3);
}

int dt_data_load_mem(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                     const duet_load_opts *o, duet_data **out, duet_err *err) {
    *out = NULL;
    duet_load_opts def;
    if (!o) {
        memset(&def, 0, sizeof def);
        def.header = -1;
        o = &def;
    }
    if (!name) name = "<memory>";
    char *plain = NULL;
    if (dt_is_gzip(buf, len)) {
        size_t plen = 0;
        int rc = dt_gunzip_mem(ctx, name, buf, len, &plain, &plen, err);
        if (rc) return rc;
        buf = plain;
        len = plen;
    }
    int fmt = o->format;
    if (fmt == DUET_FMT_AUTO) fmt = format_from_name(name);
    if (fmt == DUET_FMT_AUTO) {
        if (idx_magic(buf, len)) fmt = DUET_FMT_IDX;
        else fmt = format_from_content(buf, len, o);
    }
    int rc = read_mem_as(ctx, fmt, name, buf, len, o, out, err);
    dt_free(ctx, plain);
    return rc;
}

/* A plain (not gzipped) LIBSVM file is streamed from disk when asked (o->stream 1) or when it
 * is larger than half the memory limit (o->stream 0): *out is then the data. Otherwise *out
 * stays NULL and the file is read whole; o->stream 1 on another format is an error. */
static int maybe_stream(duet_ctx *ctx, const char *path, int fmt, const duet_load_opts *o, duet_data **out, duet_err *err) {
    struct stat st;
    if (o->stream < 0 || stat(path, &st) != 0) return DUET_OK;
    if (!S_ISREG(st.st_mode) || (fmt != DUET_FMT_AUTO && fmt != DUET_FMT_LIBSVM)) {
        if (o->stream > 0) return dt_err(err, DUET_EUNSUPPORTED, "%s: only plain (not gzipped) LIBSVM files stream from disk", path);
        return DUET_OK;
    }
    if (o->stream == 0 && (!ctx->mem_limit || (double)st.st_size <= 0.5 * (double)ctx->mem_limit)) return DUET_OK;
    char head[65536];
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        n = fread(head, 1, sizeof head, f);
        fclose(f);
    }
    int gz = dt_is_gzip(head, n);
    if (fmt == DUET_FMT_AUTO && !gz && !idx_magic(head, n)) {
        size_t m = n; /* whole lines only */
        while (m > 0 && head[m - 1] != '\n' && n == sizeof head) m--;
        fmt = format_from_content(head, m ? m : n, o);
    }
    if (fmt == DUET_FMT_LIBSVM && !gz) return dt_read_libsvm_stream(ctx, path, o, out, err);
    if (o->stream > 0)
        return dt_err(err, DUET_EUNSUPPORTED, "%s: only plain (not gzipped) LIBSVM files stream from disk; this one is %s", path,
                      gz ? "gzipped" : "not LIBSVM");
    return DUET_OK;
}

int dt_data_load(duet_ctx *ctx, const char *path, const duet_load_opts *o, duet_data **out,
                 duet_err *err) {
    *out = NULL;
    duet_load_opts def;
    if (!o) {
        memset(&def, 0, sizeof def);
        def.header = -1;
        o = &def;
    }
    if (!path || !*path) return dt_err(err, DUET_EINVAL, "no input path given");
    int is_stdin = strcmp(path, "-") == 0;
    int fmt = o->format;
    if (fmt == DUET_FMT_AUTO && !is_stdin) {
        struct stat st;
        if (stat(path, &st) != 0) return dt_err(err, DUET_EIO, "%s: cannot open: %s", path, strerror(errno));
        if (S_ISDIR(st.st_mode)) fmt = DUET_FMT_DIR;
        else fmt = format_from_name(path);
    }
    if (!is_stdin && (fmt == DUET_FMT_AUTO || fmt == DUET_FMT_LIBSVM || o->stream > 0)) {
        int rc = maybe_stream(ctx, path, fmt, o, out, err);
        if (rc != DUET_OK || *out) return rc;
    }
    if (fmt == DUET_FMT_DIR) {
        if (is_stdin) return dt_err(err, DUET_EINVAL, "a folder dataset cannot come from standard input");
        return dt_read_dir(ctx, path, o, out, err);
    }
    if (fmt == DUET_FMT_IDX) {
        if (is_stdin) return dt_err(err, DUET_EINVAL, "IDX images cannot come from standard input");
        return dt_read_idx(ctx, path, o, out, err);
    }
    char *buf = NULL;
    size_t len = 0;
    int rc = dt_read_file(ctx, path, &buf, &len, err);
    if (rc) return rc;
    const char *name = is_stdin ? "<stdin>" : path;
    if (fmt == DUET_FMT_AUTO) {
        if (idx_magic(buf, len) && !is_stdin) {
            dt_free(ctx, buf);
            return dt_read_idx(ctx, path, o, out, err);
        }
        fmt = format_from_content(buf, len, o);
    }
    rc = read_mem_as(ctx, fmt, name, buf, len, o, out, err);
    dt_free(ctx, buf);
    return rc;
}

