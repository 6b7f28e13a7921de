/* read_csv.c — delimited tables (DUET_DATA_TABLE, or DUET_DATA_TEXT when a text column is
 * named): separator and header detection, RFC 4180 quoting, missing values, the label column.
 * Not here: choosing the format (data.c), featurizing columns (pipe.c).
 */
#include "data.h"


static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* A field that holds no value: "", "?", "NA", "N/A", "nan" (any case). */
int dt_cell_missing(const char *s, size_t n) {
    if (n == 0) return 1;
    if (n == 1) return s[0] == '?';
    if (n == 2) return (s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'a';
    if (n == 3)
        return ((s[0] | 0x20) == 'n' && s[1] == '/' && (s[2] | 0x20) == 'a') ||
               ((s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'a' && (s[2] | 0x20) == 'n');
    return 0;
}

/* A plain decimal number: [+-]digits[.digits][e[+-]digits], at least one digit. */
static int is_number(const char *s) {
    if (!s) return 0;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    int digits = 0;
    while (*p >= '0' && *p <= '9') p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, digits++;
    }
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == 0;
}

// --- separator detection -----------------------------------------------------------------------

/* Separators outside quotes in each of the first `max` non-blank records; returns how many
 * records were seen. For ' ', runs of blanks between fields count once. */
static int count_sep(const char *buf, size_t len, size_t pos, char sep, int *counts, int max) {
    int nrec = 0;
    while (pos < len && nrec < max) {
        int inq = 0, cnt = 0, content = 0, pending = 0;
        size_t p = pos;
        for (; p < len; p++) {
            char c = buf[p];
            if (inq) {
                if (c == '"') inq = 0;
                continue;
            }
            if (c == '\n') break;
            if (c == '"') {
                inq = 1;
                content = 1;
                if (pending) cnt++;
                pending = 0;
                continue;
            }
            if (sep == ' ') {
                if (c == ' ' || c == '\t') {
                    if (content) pending = 1;
                } else if (c != '\r') {
                    if (pending) cnt++;
                    pending = 0;
                    content = 1;
                }
            } else {
                if (c == sep) cnt++;
                if (!is_blank(c)) content = 1;
            }
        }
        pos = p + 1;
        if (!content) continue;
        counts[nrec++] = cnt;
    }
    return nrec;
}

static char detect_sep(const char *buf, size_t len, size_t pos) {
    static const char cand[4] = {',', '\t', ';', ' '};
    int counts[20];
    int best = -1, best_cnt = 0, fallback = -1, fallback_cnt = 0;
    for (int c = 0; c < 4; c++) {
        int n = count_sep(buf, len, pos, cand[c], counts, 20);
        if (n == 0) return ',';
        int same = counts[0] > 0;
        for (int i = 1; i < n && same; i++) same = counts[i] == counts[0];
        /* the most fields wins among consistent candidates, ties by order; ' ' only as a last resort */
        if (same && cand[c] != ' ' && counts[0] > best_cnt) {
            best = c;
            best_cnt = counts[0];
        }
        if (same && cand[c] == ' ' && best < 0) best = c;
        if (cand[c] != ' ' && counts[0] > fallback_cnt) {
            fallback = c;
            fallback_cnt = counts[0];
        }
    }
    if (best >= 0) return cand[best];
    if (fallback >= 0) return cand[fallback];
    return ',';
}

// --- records ----------------------------------------------------------------------------------

typedef struct csv_parser {
    duet_ctx *ctx;
    const char *name;
    const char *buf;
    size_t len, pos;
    int64_t line;       /* line of the next character, 1-based */
    char sep;
    char *scratch;      /* unescaped field text of the current record */
    size_t scap, sused;
    size_t *foff;       /* (nf) field starts in scratch; SIZE_MAX = missing */
    size_t *flen;
    size_t fcap, nf;
} csv_parser;

static int put_char(csv_parser *p, char c, duet_err *err) {
    if (p->sused + 1 >= p->scap) {
        void *s = p->scratch;
        int rc = dt_grow(p->ctx, &s, &p->scap, p->sused + 2, 1, err);
        if (rc) return dt_err_prefix(err, rc, "%s:%lld", p->name, (long long)p->line);
        p->scratch = s;
    }
    p->scratch[p->sused++] = c;
    return DUET_OK;
}

static int end_field(csv_parser *p, size_t start, int quoted, duet_err *err) {
    size_t cap = p->fcap;
    void *a = p->foff;
    int rc = dt_grow(p->ctx, &a, &cap, p->nf + 1, sizeof(size_t), err);
    if (rc) return dt_err_prefix(err, rc, "%s", p->name);
    p->foff = a;
    cap = p->fcap;
    a = p->flen;
    rc = dt_grow(p->ctx, &a, &cap, p->nf + 1, sizeof(size_t), err);
    if (rc) return dt_err_prefix(err, rc, "%s", p->name);
    p->flen = a;
    p->fcap = cap;
    size_t n = p->sused - start;
    if (!quoted) { /* trim blanks around unquoted fields */
        const char *s = p->scratch + start;
        size_t a0 = 0;
        while (a0 < n && is_blank(s[a0])) a0++;
        while (n > a0 && is_blank(s[n - 1])) n--;
        start += a0;
        n -= a0;
    }
    p->foff[p->nf] = (!quoted && dt_cell_missing(p->scratch + start, n)) ? SIZE_MAX : start;
    p->flen[p->nf] = n;
    p->nf++;
    return DUET_OK;
}

/* Skips blank lines; returns 0 at the end of input. */
static int skip_blank_lines(csv_parser *p) {
    while (p->pos < p->len) {
        size_t q = p->pos;
        while (q < p->len && is_blank(p->buf[q])) q++;
        if (q < p->len && p->buf[q] != '\n') return 1;
        if (q >= p->len) {
            p->pos = p->len;
            return 0;
        }
        p->pos = q + 1;
        p->line++;
    }
    return 0;
}

/* Parses one record into p->scratch / p->foff; *line = where it starts. */
static int parse_record(csv_parser *p, int64_t *line, duet_err *err) {
    int rc;
    p->nf = 0;
    p->sused = 0;
    *line = p->line;
    const char *b = p->buf;
    char sep = p->sep;
    for (;;) {
        /* one field */
        while (p->pos < p->len && (b[p->pos] == ' ' || (b[p->pos] == '\t' && sep != '\t'))) p->pos++;
        size_t start = p->sused;
        int quoted = 0;
        if (p->pos < p->len && b[p->pos] == '"') {
            quoted = 1;
            int64_t qline = p->line;
            p->pos++;
            for (;;) {
                if (p->pos >= p->len)
                    return dt_err(err, DUET_EFORMAT, "%s:%lld: unterminated quoted field", p->name, (long long)qline);
                char c = b[p->pos++];
                if (c == '"') {
                    if (p->pos < p->len && b[p->pos] == '"') {
                        p->pos++;
                        if ((rc = put_char(p, '"', err))) return rc;
                        continue;
                    }
                    break;
                }
                if (c == '\n') p->line++;
                if ((rc = put_char(p, c, err))) return rc;
            }
            /* after the closing quote: blanks, then a separator or the end of the line */
            while (p->pos < p->len && b[p->pos] != sep && b[p->pos] != '\n') {
                char c = b[p->pos++];
                if (c == ' ' || c == '\t' || c == '\r') continue;
                if ((rc = put_char(p, c, err))) return rc; /* lenient: text after the quote */
            }
        } else {
            while (p->pos < p->len && b[p->pos] != sep && b[p->pos] != '\n') {
                if ((rc = put_char(p, b[p->pos], err))) return rc;
                p->pos++;
            }
        }
        if ((rc = put_char(p, 0, err))) return rc;
        p->sused--; /* the NUL is not part of the field; put_char left room */
        if ((rc = end_field(p, start, quoted, err))) return rc;
        p->sused++; /* keep the NUL after the field */
        if (p->pos >= p->len) return DUET_OK;
        if (b[p->pos] == '\n') {
            p->pos++;
            p->line++;
            return DUET_OK;
        }
        p->pos++; /* the separator */
        if (sep == ' ') { /* runs of blanks are one separator; trailing blanks end the line */
            while (p->pos < p->len && (b[p->pos] == ' ' || b[p->pos] == '\t' || b[p->pos] == '\r')) p->pos++;
            if (p->pos >= p->len) return DUET_OK;
            if (b[p->pos] == '\n') {
                p->pos++;
                p->line++;
                return DUET_OK;
            }
        }
    }
}

/* scikit-learn's bundled CSV files start with "n_samples,n_features,class names...": a line
 * that is no header of the ndata-field rows below it. */
static int sklearn_first_line(char **f0, int64_t n0, int64_t ndata) {
    if (n0 < 3 || !f0[0] || !f0[1]) return 0;
    for (int k = 0; k < 2; k++)
        for (const char *q = f0[k]; *q; q++)
            if (*q < '0' || *q > '9') return 0;
    if (strtoll(f0[1], NULL, 10) != ndata - 1) return 0; /* (strtoll saturates: no + 1 on it) */
    for (int64_t j = 2; j < n0; j++)
        if (!f0[j] || is_number(f0[j])) return 0;
    return 1;
}

// --- the reader -------------------------------------------------------------------------------

/* Column named by `spec` (header name, else 1-based index); -1 when there is none. */
static int64_t find_col(const char *spec, char **names, int64_t ncols) {
    if (names)
        for (int64_t j = 0; j < ncols; j++)
            if (names[j] && strcmp(names[j], spec) == 0) return j;
    char *end = NULL;
    long long v = strtoll(spec, &end, 10);
    if (end != spec && *end == 0 && v >= 1 && v <= ncols) return (int64_t)v - 1;
    return -1;
}

static char *trim_inplace(char *s) {
    while (is_blank(*s) || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (is_blank(s[n - 1]) || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

int dt_read_csv(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                const duet_load_opts *o, duet_data **out, duet_err *err) {
    *out = NULL;
    int rc = DUET_OK;
    duet_data *d = NULL;
    char **f = NULL;       /* (nrec, ncols) pool strings, NULL = missing */
    int64_t *lines = NULL; /* (nrec) */
    size_t fcap = 0, lcap = 0, nrec = 0;
    int64_t ncols = -1;
    int dropped = 0, sklearn = 0; /* a scikit-learn first line: dropped, or kept as row 0 */
    csv_parser p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.name = name;
    p.buf = buf;
    p.len = len;
    p.line = 1;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) p.pos = 3;
    DT_TRY(dt_data_new(ctx, DUET_DATA_TABLE, name, &d, err));

    /* a first line such as "|1x3 Cross validator" (UCI adult.test) is a comment */
    if (skip_blank_lines(&p) && buf[p.pos] == '|') {
        const char *nl = memchr(buf + p.pos, '\n', len - p.pos);
        p.pos = nl ? (size_t)(nl - buf) + 1 : len;
        p.line++;
    }
    p.sep = o->sep ? o->sep : detect_sep(buf, len, p.pos);
    if (p.sep != ',' && p.sep != ';' && p.sep != '\t' && p.sep != ' ' && p.sep != '|')
        DT_TRY(dt_err(err, DUET_EINVAL, "%s: unsupported separator '%c'", name, p.sep));

    size_t want = o->limit > 0 ? (size_t)o->limit + 1 : SIZE_MAX;
    while (nrec < want && skip_blank_lines(&p)) {
        int64_t line;
        DT_TRY(parse_record(&p, &line, err));
        if (ncols < 0) ncols = (int64_t)p.nf;
        if (nrec == 1 && !dropped && (int64_t)p.nf != ncols && o->header != 0 &&
            sklearn_first_line(f, ncols, (int64_t)p.nf)) {
            nrec = 0; /* forget that first line */
            ncols = (int64_t)p.nf;
            dropped = 1;
        }
        if ((int64_t)p.nf != ncols)
            DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: expected %lld fields, got %zu", name,
                          (long long)line, (long long)ncols, p.nf));
        void *a = f;
        DT_TRY(dt_grow(ctx, &a, &fcap, (nrec + 1) * (size_t)ncols, sizeof(char *), err));
        f = a;
        a = lines;
        DT_TRY(dt_grow(ctx, &a, &lcap, nrec + 1, sizeof(int64_t), err));
        lines = a;
        lines[nrec] = line;
        for (size_t j = 0; j < p.nf; j++) {
            char *s = NULL;
            if (p.foff[j] != SIZE_MAX) {
                s = dt_pool_strndup(&d->pool, p.scratch + p.foff[j], p.flen[j]);
                if (!s) DT_TRY(dt_err(err, DUET_ENOMEM, "%s:%lld: out of memory", name, (long long)line));
            }
            f[nrec * (size_t)ncols + j] = s;
        }
        nrec++;
    }
    if (nrec == 0) DT_TRY(dt_err(err, DUET_EFORMAT, "%s: no rows", name));

    /* header */
    int header = o->header;
    if (header < 0 && !dropped && o->limit <= 0 && sklearn_first_line(f, ncols, ncols) &&
        strtoll(f[0], NULL, 10) == (long long)nrec - 1)
        header = sklearn = 1; /* and its first number is the row count */
    if (header < 0) {
        header = 0;
        size_t sample = nrec - 1 < 500 ? nrec - 1 : 500;
        int all_text = 1, later_num = 0;
        for (int64_t j = 0; j < ncols; j++) {
            const char *h = f[j];
            if (is_number(h)) all_text = 0;
            int seen = 0, numeric = 1;
            for (size_t i = 1; i <= sample; i++) {
                const char *s = f[i * (size_t)ncols + (size_t)j];
                if (!s) continue;
                seen = 1;
                if (is_number(s)) later_num = 1;
                else numeric = 0;
            }
            if (h && !is_number(h) && seen && numeric) header = 1;
        }
        if (all_text && later_num) header = 1;
        /* a label or text column named by a word that the first row holds */
        const char *named[2] = {o->label, o->text};
        for (int k = 0; k < 2 && !header; k++) {
            if (!named[k] || is_number(named[k])) continue;
            for (int64_t j = 0; j < ncols; j++)
                if (f[j] && strcmp(f[j], named[k]) == 0) header = 1;
        }
    }
    if (dropped) header = 0;
    char **names = header && !sklearn ? f : NULL;
    size_t first = header ? 1 : 0;
    size_t N = nrec - first;
    if (o->limit > 0 && N > (size_t)o->limit) N = (size_t)o->limit;

    /* label and text columns */
    int64_t lc = -1, tc = -1;
    if (o->label) {
        lc = find_col(o->label, names, ncols);
        if (lc < 0 && !o->unlabelled)
            DT_TRY(dt_err(err, DUET_EINVAL, "%s: no label column '%s' (%lld columns%s)", name, o->label,
                          (long long)ncols, header ? "" : ", no header"));
    } else if (!o->unlabelled) {
        lc = ncols - 1;
    }
    if (o->text) {
        tc = find_col(o->text, names, ncols);
        if (tc < 0)
            DT_TRY(dt_err(err, DUET_EINVAL, "%s: no text column '%s' (%lld columns%s)", name, o->text,
                          (long long)ncols, header ? "" : ", no header"));
        if (tc == lc) DT_TRY(dt_err(err, DUET_EINVAL, "%s: column '%s' cannot be both text and label", name, o->text));
    }
    int64_t C = tc >= 0 ? 0 : ncols - (lc >= 0);
    if (tc < 0 && C == 0)
        DT_TRY(dt_err(err, DUET_EFORMAT, "%s: only the label column; no feature columns left", name));

    size_t nn = N ? N : 1;
    d->N = (int64_t)N;
    if (lc >= 0) {
        d->labels = dt_alloc_e(ctx, nn, sizeof(char *), name, err);
        if (!d->labels) DT_TRY(err ? err->code : DUET_ENOMEM);
        for (size_t i = 0; i < N; i++) {
            char *s = f[(first + i) * (size_t)ncols + (size_t)lc];
            if (s) s = trim_inplace(s);
            if (!s || !*s)
                DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: missing label (column %lld)", name,
                              (long long)lines[first + i], (long long)lc + 1));
            d->labels[i] = s;
        }
    }
    if (tc >= 0) {
        d->kind = DUET_DATA_TEXT;
        d->text = dt_alloc_e(ctx, nn, sizeof(char *), name, err);
        if (!d->text) DT_TRY(err ? err->code : DUET_ENOMEM);
        for (size_t i = 0; i < N; i++) {
            const char *s = f[(first + i) * (size_t)ncols + (size_t)tc];
            if (!s) s = "";
            d->text[i] = dt_text_utf8(&d->pool, s, strlen(s), o->latin1);
            if (!d->text[i]) DT_TRY(dt_err(err, DUET_ENOMEM, "%s: out of memory", name));
        }
    } else {
        size_t cells = 0;
        if (!dt_mul_ok(nn, (size_t)C, &cells)) DT_TRY(dt_err(err, DUET_ERANGE, "%s: table too large", name));
        d->C = C;
        d->colnames = dt_alloc_e(ctx, (size_t)C, sizeof(char *), name, err);
        if (!d->colnames) DT_TRY(err ? err->code : DUET_ENOMEM);
        int64_t c = 0;
        for (int64_t j = 0; j < ncols; j++) {
            if (j == lc) continue;
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)j + 1);
            const char *nm = names && names[j] ? trim_inplace(names[j]) : num;
            if (!*nm) nm = num;
            d->colnames[c] = dt_pool_strdup(&d->pool, nm);
            if (!d->colnames[c]) DT_TRY(dt_err(err, DUET_ENOMEM, "%s: out of memory", name));
            c++;
        }
        /* the cells are f's, moved down in place past the header and the label column (a cell
         * never moves up): a large table is not held twice */
        size_t to = 0;
        for (size_t i = 0; i < N; i++)
            for (int64_t j = 0; j < ncols; j++)
                if (j != lc) f[to++] = f[(first + i) * (size_t)ncols + (size_t)j];
        d->cells = f;
        f = NULL;
        (void)cells;
    }
    dt_free(ctx, f);
    dt_free(ctx, lines);
    dt_free(ctx, p.scratch);
    dt_free(ctx, p.foff);
    dt_free(ctx, p.flen);
    *out = d;
    return DUET_OK;
fail:
    dt_free(ctx, f);
    dt_free(ctx, lines);
    dt_free(ctx, p.scratch);
    dt_free(ctx, p.foff);
    dt_free(ctx, p.flen);
    dt_data_free(d);
    return rc;
}
