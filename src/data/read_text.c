/* read_text.c — labelled text (DUET_DATA_TEXT) from "label<TAB>text" lines, JSON lines and
 * folders of files (one subfolder per class). Text that is not valid UTF-8 is decoded as
 * Latin-1 (always, with o->latin1).
 * Not here: CSV files with a text column (read_csv.c), tokenizing (pipe.c).
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "data.h"


static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Growing text and label arrays of d. */
typedef struct text_acc {
    duet_data *d;
    size_t cap_text, cap_lab;
} text_acc;

static int acc_push(text_acc *a, const char *name, int64_t line, const char *text, size_t tn,
                    const char *label, size_t ln, int latin1, duet_err *err) {
    duet_data *d = a->d;
    size_t N = (size_t)d->N;
    void *p = d->text;
    int rc = dt_grow(d->ctx, &p, &a->cap_text, N + 1, sizeof(char *), err);
    if (rc) return dt_err_prefix(err, rc, "%s", name);
    d->text = p;
    d->text[N] = dt_text_utf8(&d->pool, text, tn, latin1);
    if (!d->text[N]) return dt_err(err, DUET_ENOMEM, "%s:%lld: out of memory", name, (long long)line);
    if (label) {
        p = d->labels;
        rc = dt_grow(d->ctx, &p, &a->cap_lab, N + 1, sizeof(char *), err);
        if (rc) return dt_err_prefix(err, rc, "%s", name);
        d->labels = p;
        d->labels[N] = dt_text_utf8(&d->pool, label, ln, latin1);
        if (!d->labels[N]) return dt_err(err, DUET_ENOMEM, "%s:%lld: out of memory", name, (long long)line);
    }
    d->N++;
    return DUET_OK;
}

/* An input without a single example is an error. */
static int acc_finish(const text_acc *a, const char *name, duet_err *err) {
    if (a->d->N == 0) return dt_err(err, DUET_EFORMAT, "%s: no examples", name);
    return DUET_OK;
}

// --- label<TAB>text --------------------------------------------------------------------------

/* Lines of a buffer (after a UTF-8 byte-order mark), numbered from 1, without the \n or \r\n. */
typedef struct line_iter {
    const char *buf;
    size_t len, pos;
    int64_t line;
} line_iter;

static line_iter lines_of(const char *buf, size_t len) {
    line_iter it = {buf, len, len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3) ? 3 : 0, 0};
    return it;
}

static int next_line(line_iter *it, const char **s, const char **e) {
    if (it->pos >= it->len) return 0;
    *s = it->buf + it->pos;
    const char *nl = memchr(*s, '\n', it->len - it->pos);
    *e = nl ? nl : it->buf + it->len;
    it->pos = (size_t)(*e - it->buf) + 1;
    it->line++;
    if (*e > *s && (*e)[-1] == '\r') (*e)--;
    return 1;
}

int dt_read_text_tsv(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                     const duet_load_opts *o, duet_data **out, duet_err *err) {
    *out = NULL;
    int rc = DUET_OK;
    text_acc acc;
    memset(&acc, 0, sizeof acc);
    DT_TRY(dt_data_new(ctx, DUET_DATA_TEXT, name, &acc.d, err));
    line_iter it = lines_of(buf, len);
    const char *s, *e;
    while (!(o->limit > 0 && acc.d->N >= o->limit) && next_line(&it, &s, &e)) {
        int64_t line = it.line;
        const char *t = s;
        while (t < e && is_ws(*t)) t++;
        if (t == e) continue;
        if (o->unlabelled) {
            DT_TRY(acc_push(&acc, name, line, s, (size_t)(e - s), NULL, 0, o->latin1, err));
            continue;
        }
        const char *tab = memchr(s, '\t', (size_t)(e - s));
        if (!tab)
            DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: expected label<TAB>text, found no tab", name, (long long)line));
        const char *ls = s, *le = tab;
        while (ls < le && is_ws(*ls)) ls++;
        while (le > ls && is_ws(le[-1])) le--;
        if (ls == le) DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: missing label", name, (long long)line));
        DT_TRY(acc_push(&acc, name, line, tab + 1, (size_t)(e - tab - 1), ls, (size_t)(le - ls), o->latin1, err));
    }
    DT_TRY(acc_finish(&acc, name, err));
    *out = acc.d;
    return DUET_OK;
fail:
    dt_data_free(acc.d);
    return rc;
}

// --- JSON lines --------------------------------------------------------------------------------

int dt_read_jsonl(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                  const duet_load_opts *o, duet_data **out, duet_err *err) {
    *out = NULL;
    int rc = DUET_OK;
    cJSON *j = NULL;
    text_acc acc;
    memset(&acc, 0, sizeof acc);
    const char *tkey = o->text ? o->text : "text";
    const char *lkey = o->label ? o->label : "label";
    DT_TRY(dt_data_new(ctx, DUET_DATA_TEXT, name, &acc.d, err));
    line_iter it = lines_of(buf, len);
    const char *s, *e;
    while (!(o->limit > 0 && acc.d->N >= o->limit) && next_line(&it, &s, &e)) {
        int64_t line = it.line;
        const char *t = s;
        while (t < e && is_ws(*t)) t++;
        if (t == e) continue;
        size_t bad = 0;
        if (!o->latin1 && !dt_utf8_valid(s, (size_t)(e - s), &bad)) /* JSON is UTF-8 by definition */
            DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: invalid UTF-8 at byte %zu of the line (--latin1 reads Latin-1)",
                          name, (long long)line, bad + 1));
        j = cJSON_ParseWithLength(s, (size_t)(e - s));
        if (!j) DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: invalid JSON", name, (long long)line));
        if (!cJSON_IsObject(j)) DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: expected a JSON object", name, (long long)line));
        const cJSON *tv = cJSON_GetObjectItemCaseSensitive(j, tkey);
        if (!cJSON_IsString(tv) || !tv->valuestring)
            DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: no string field \"%s\"", name, (long long)line, tkey));
        char num[64];
        const char *lab = NULL;
        if (!o->unlabelled) {
            const cJSON *lv = cJSON_GetObjectItemCaseSensitive(j, lkey);
            if (cJSON_IsString(lv) && lv->valuestring) lab = lv->valuestring;
            else if (cJSON_IsNumber(lv)) {
                snprintf(num, sizeof num, "%g", lv->valuedouble);
                lab = num;
            } else if (lv)
                DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: field \"%s\" must be a string or a number", name,
                              (long long)line, lkey));
            else
                DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: no field \"%s\"", name, (long long)line, lkey));
            while (is_ws(*lab)) lab++;
            if (!*lab) DT_TRY(dt_err(err, DUET_EFORMAT, "%s:%lld: empty label", name, (long long)line));
        }
        size_t ln = lab ? strlen(lab) : 0;
        while (ln && is_ws(lab[ln - 1])) ln--;
        DT_TRY(acc_push(&acc, name, line, tv->valuestring, strlen(tv->valuestring), lab, ln, o->latin1, err));
        cJSON_Delete(j);
        j = NULL;
    }
    DT_TRY(acc_finish(&acc, name, err));
    *out = acc.d;
    return DUET_OK;
fail:
    cJSON_Delete(j);
    dt_data_free(acc.d);
    return rc;
}

// --- folders -------------------------------------------------------------------------------------

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static void names_free(duet_ctx *ctx, name_list *l) {
    for (size_t i = 0; i < l->n; i++) dt_free(ctx, l->v[i]);
    dt_free(ctx, l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_path(duet_ctx *ctx, const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *p = dt_alloc(ctx, na + nb + 2);
    if (!p) return NULL;
    memcpy(p, a, na);
    size_t k = na;
    if (k && p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, b, nb + 1);
    return p;
}

/* Sorted names of the non-hidden entries of `dir` that are folders (want_dir) or regular files. */
static int list_dir(duet_ctx *ctx, const char *dir, int want_dir, name_list *l, duet_err *err) {
    memset(l, 0, sizeof *l);
    DIR *dp = opendir(dir);
    if (!dp) return dt_err(err, DUET_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = DUET_OK;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.') continue;
        char *full = join_path(ctx, dir, de->d_name);
        if (!full) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", dir);
            break;
        }
        struct stat st;
        int ok = stat(full, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
        dt_free(ctx, full);
        if (!ok) continue;
        void *a = l->v;
        rc = dt_grow(ctx, &a, &l->cap, l->n + 1, sizeof(char *), err);
        if (rc) break;
        l->v = a;
        l->v[l->n] = dt_strdup(ctx, de->d_name);
        if (!l->v[l->n]) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", dir);
            break;
        }
        l->n++;
    }
    closedir(dp);
    if (rc) {
        names_free(ctx, l);
        return rc;
    }
    if (l->n) qsort(l->v, l->n, sizeof(char *), cmp_str);
    return DUET_OK;
}

/* Reads every regular file of `dir` as one example labelled `label` (NULL: unlabelled). */
static int read_files(text_acc *acc, const char *dir, const char *label, const duet_load_opts *o,
                      duet_err *err) {
    duet_ctx *ctx = acc->d->ctx;
    name_list files;
    int rc = list_dir(ctx, dir, 0, &files, err);
    if (rc) return rc;
    for (size_t i = 0; i < files.n && !(o->limit > 0 && acc->d->N >= o->limit); i++) {
        char *full = join_path(ctx, dir, files.v[i]);
        if (!full) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", dir);
            break;
        }
        char *buf = NULL;
        size_t len = 0;
        rc = dt_read_file(ctx, full, &buf, &len, err);
        if (!rc) {
            size_t tl = strlen(buf); /* text stops at a NUL byte */
            rc = acc_push(acc, full, 0, buf, tl < len ? tl : len, label, label ? strlen(label) : 0,
                          o->latin1, err);
        }
        dt_free(ctx, buf);
        dt_free(ctx, full);
        if (rc) break;
    }
    names_free(ctx, &files);
    return rc;
}

int dt_read_dir(duet_ctx *ctx, const char *path, const duet_load_opts *o, duet_data **out,
                duet_err *err) {
    *out = NULL;
    int rc = DUET_OK;
    text_acc acc;
    memset(&acc, 0, sizeof acc);
    name_list classes;
    memset(&classes, 0, sizeof classes);
    DT_TRY(dt_data_new(ctx, DUET_DATA_TEXT, path, &acc.d, err));
    if (o->unlabelled) {
        DT_TRY(read_files(&acc, path, NULL, o, err));
    } else {
        DT_TRY(list_dir(ctx, path, 1, &classes, err));
        if (classes.n == 0)
            DT_TRY(dt_err(err, DUET_EFORMAT, "%s: no class subfolders (one folder per class expected)", path));
        for (size_t c = 0; c < classes.n && !(o->limit > 0 && acc.d->N >= o->limit); c++) {
            char *sub = join_path(ctx, path, classes.v[c]);
            if (!sub) DT_TRY(dt_err(err, DUET_ENOMEM, "%s: out of memory", path));
            rc = read_files(&acc, sub, classes.v[c], o, err);
            dt_free(ctx, sub);
            if (rc) goto fail;
        }
    }
    DT_TRY(acc_finish(&acc, path, err));
    names_free(ctx, &classes);
    *out = acc.d;
    return DUET_OK;
fail:
    names_free(ctx, &classes);
    dt_data_free(acc.d);
    return rc;
}

int dt_read_corpus(duet_ctx *ctx, const char *name, const char *buf, size_t len, const duet_load_opts *o,
                   duet_data **out, duet_err *err) {
    *out = NULL;
    if (o->limit > 0) { /* the first `limit` lines */
        int64_t lines = 0;
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\n' && ++lines == o->limit) {
                len = i + 1;
                break;
            }
    }
    const char *nul = memchr(buf, '\0', len);
    if (nul) return dt_err(err, DUET_EFORMAT, "%s: byte %zu is NUL; a corpus is text", name, (size_t)(nul - buf));
    if (len == 0) return dt_err(err, DUET_EFORMAT, "%s: empty corpus", name);
    duet_data *d = NULL;
    int rc = dt_data_new(ctx, DUET_DATA_CORPUS, name, &d, err);
    if (rc) return rc;
    d->text = dt_alloc(ctx, sizeof(char *));
    if (d->text) d->text[0] = dt_pool_strndup(&d->pool, buf, len);
    if (!d->text || !d->text[0]) {
        dt_data_free(d);
        return dt_err(err, DUET_ENOMEM, "%s: out of memory (%zu bytes)", name, len);
    }
    d->N = 1;
    *out = d;
    return DUET_OK;
}
