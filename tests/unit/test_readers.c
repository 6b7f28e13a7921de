/* test_readers.c — the dataset readers: CSV, LIBSVM, label<TAB>text, JSONL, folders, IDX,
 * gzip, UTF-8 checks, dt_mat_rows; good and bad inputs, and the real data sets when present.
 */
#include <sys/stat.h>
#include <zlib.h>

#include "data/data.h"
#include "test.h"

static duet_ctx *ctx;

static duet_load_opts opts(void) { return duet_load_opts_default(); }

/* Loads a string through the public memory API. */
static int load(const char *name, const char *s, const duet_load_opts *o, duet_data **d, duet_err *err) {
    return duet_data_load_mem(ctx, name, s, strlen(s), o, d, err);
}

static const char *cell(const duet_data *d, int64_t i, int64_t j) { return d->cells[i * d->C + j]; }
static int streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

// --- CSV --------------------------------------------------------------------------------------

static void test_csv_basic(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    CHECK_OK(load("t.csv", "a,b,label\n1,x,yes\n2,y,no\n", &o, &d, &err));
    CHECK(duet_data_kind(d) == DUET_DATA_TABLE);
    CHECK(duet_data_rows(d) == 2);
    CHECK(d->C == 2);
    CHECK(streq(d->colnames[0], "a") && streq(d->colnames[1], "b"));
    CHECK(streq(cell(d, 1, 1), "y"));
    CHECK(streq(duet_data_label(d, 0), "yes") && streq(duet_data_label(d, 1), "no"));
    CHECK(streq(d->src, "t.csv"));
    duet_data_free(d);

    /* quoted fields: separators, doubled quotes and newlines inside quotes */
    CHECK_OK(load("q.csv", "id,text,label\n1,\"hello, \"\"world\"\"\nline2\",spam\n2,plain,ham\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2);
    CHECK(streq(cell(d, 0, 1), "hello, \"world\"\nline2"));
    CHECK(streq(duet_data_label(d, 1), "ham"));
    duet_data_free(d);
    /* the line number after a quoted newline is right */
    CHECK_ERR(load("q.csv", "id,text,label\n1,\"a\nb\nc\",x\n2,y\n", &o, &d, &err), &err, DUET_EFORMAT,
              "q.csv:5: expected 3 fields, got 2");
    CHECK(d == NULL);
    CHECK_ERR(load("u.csv", "a,b\n1,\"open\n", &o, &d, &err), &err, DUET_EFORMAT, "u.csv:2: unterminated");

    /* CRLF and blank lines */
    CHECK_OK(load("crlf.csv", "x,y\r\n1,a\r\n\r\n2,b\r\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2);
    CHECK(streq(duet_data_label(d, 0), "a") && streq(duet_data_label(d, 1), "b"));
    CHECK(streq(d->colnames[0], "x"));
    duet_data_free(d);
}

static void test_csv_missing_and_seps(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    CHECK_OK(load("m.csv", "1,?,2.5,a\nNA,,N/A,b\n3,nan,\"NA\",c\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 3 && d->C == 3);
    CHECK(streq(d->colnames[0], "1") && streq(d->colnames[2], "3")); /* no header */
    CHECK(cell(d, 0, 1) == NULL && cell(d, 1, 0) == NULL && cell(d, 1, 1) == NULL);
    CHECK(cell(d, 1, 2) == NULL && cell(d, 2, 1) == NULL);
    CHECK(streq(cell(d, 2, 2), "NA")); /* quoted: a value */
    CHECK(streq(cell(d, 0, 2), "2.5"));
    duet_data_free(d);

    /* ", " separator (UCI adult), a "|" first line, labels kept as read */
    const char *adult = "|1x3 Cross validator\n25, Private, 226802, <=50K.\n38, ?, 89814, >50K.\n";
    CHECK_OK(load("adult.test", adult, &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && d->C == 3);
    CHECK(streq(cell(d, 0, 1), "Private") && cell(d, 1, 1) == NULL);
    CHECK(streq(duet_data_label(d, 1), ">50K."));
    duet_data_free(d);

    CHECK_OK(load("s.csv", "a;b;c\n1,5;2;x\n3;4;y\n", &o, &d, &err));
    CHECK(d->C == 2 && streq(cell(d, 0, 0), "1,5") && streq(duet_data_label(d, 1), "y"));
    duet_data_free(d);
    CHECK_OK(load("t.csv", "a\tb c\tz\n1\t2 3\tx\n", &o, &d, &err));
    CHECK(d->C == 2 && streq(cell(d, 0, 1), "2 3"));
    duet_data_free(d);
    CHECK_OK(load("sp.csv", "1 2  3 a\n  4 5 6 b  \n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && d->C == 3 && streq(cell(d, 1, 0), "4") && streq(duet_data_label(d, 1), "b"));
    duet_data_free(d);
    o.sep = ';';
    CHECK_OK(load("f.csv", "1,2;a\n3,4;b\n", &o, &d, &err));
    CHECK(d->C == 1 && streq(cell(d, 1, 0), "3,4"));
    duet_data_free(d);
}

static void test_csv_header(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    /* one non-numeric name over a numeric column -> header */
    CHECK_OK(load("h.csv", "150,4,setosa\n5.1,3.5,0\n4.9,3.0,1\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && streq(d->colnames[0], "150"));
    duet_data_free(d);
    /* all text over categorical and numeric columns -> header */
    CHECK_OK(load("h.csv", "color,size,y\nred,1,a\nblue,2,b\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && streq(d->colnames[0], "color"));
    duet_data_free(d);
    /* all text, all categorical -> no header */
    CHECK_OK(load("h.csv", "red,big,a\nblue,small,b\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && streq(d->colnames[1], "2"));
    duet_data_free(d);
    /* forced off / on */
    /* scikit-learn's "n_samples,n_features,names" first line */
    CHECK_OK(load("sk.csv", "2,3,neg,pos\n1,2,3,0\n4,5,6,1\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && d->C == 3 && streq(d->colnames[0], "1") && streq(duet_data_label(d, 1), "1"));
    duet_data_free(d);
    CHECK_OK(load("sk.csv", "2,2,neg,pos\n1,2,0\n4,5,1\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && d->C == 2 && streq(cell(d, 0, 0), "1"));
    duet_data_free(d);
    CHECK_OK(load("sk.csv", "3,3,x,y\n1,2,p,a\n4,5,q,b\n", &o, &d, &err)); /* 3 is not the row count */
    CHECK(duet_data_rows(d) == 3);
    duet_data_free(d);
    o.header = 0;
    CHECK_OK(load("h.csv", "color,size,y\nred,1,a\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && streq(cell(d, 0, 0), "color"));
    duet_data_free(d);
    o.header = 1;
    CHECK_OK(load("h.csv", "1,2,3\n4,5,6\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 1 && streq(d->colnames[1], "2"));
    duet_data_free(d);
}

static void test_csv_columns(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    const char *s = "y,age,city\na,30,Paris\nb,40,Rome\n";
    o.label = "y";
    CHECK_OK(load("c.csv", s, &o, &d, &err));
    CHECK(d->C == 2 && streq(d->colnames[0], "age") && streq(duet_data_label(d, 1), "b"));
    duet_data_free(d);
    o.label = "2";
    CHECK_OK(load("c.csv", s, &o, &d, &err));
    CHECK(d->C == 2 && streq(d->colnames[0], "y") && streq(duet_data_label(d, 0), "30"));
    duet_data_free(d);
    o.label = "nope";
    CHECK_ERR(load("c.csv", s, &o, &d, &err), &err, DUET_EINVAL, "no label column 'nope'");
    /* unlabelled: every column is a feature, unless the label column is named and present */
    o = opts();
    o.unlabelled = 1;
    CHECK_OK(load("c.csv", s, &o, &d, &err));
    CHECK(d->C == 3 && d->labels == NULL && duet_data_label(d, 0) == NULL);
    duet_data_free(d);
    o.label = "y";
    CHECK_OK(load("c.csv", s, &o, &d, &err));
    CHECK(d->C == 2 && streq(duet_data_label(d, 0), "a"));
    duet_data_free(d);
    o.label = "label";
    CHECK_OK(load("c.csv", s, &o, &d, &err));
    CHECK(d->C == 3 && d->labels == NULL);
    duet_data_free(d);
    /* a text column makes TEXT data */
    o = opts();
    o.text = "msg";
    CHECK_OK(load("x.csv", "msg,label\n\"hi, there\",ham\nwin now,spam\n", &o, &d, &err));
    CHECK(duet_data_kind(d) == DUET_DATA_TEXT && duet_data_rows(d) == 2);
    CHECK(streq(d->text[0], "hi, there") && streq(duet_data_label(d, 1), "spam"));
    duet_data_free(d);
    /* errors */
    o = opts();
    CHECK_ERR(load("w.csv", "a,b,c\n1,2,3\n4,5\n", &o, &d, &err), &err, DUET_EFORMAT, "w.csv:3: expected 3 fields, got 2");
    CHECK_ERR(load("w.csv", "a,b,c\n1,2,3\n4,5,6,7\n", &o, &d, &err), &err, DUET_EFORMAT, "w.csv:3: expected 3 fields, got 4");
    CHECK_ERR(load("l.csv", "a,b\n1,x\n2,\n", &o, &d, &err), &err, DUET_EFORMAT, "l.csv:3: missing label");
    CHECK_ERR(load("l.csv", "a,b\n1,x\n2,?\n", &o, &d, &err), &err, DUET_EFORMAT, "l.csv:3: missing label");
    /* labels are trimmed */
    CHECK_OK(load("l.csv", "a,b\n1,\" x \"\n2,y\n", &o, &d, &err));
    CHECK(streq(duet_data_label(d, 0), "x"));
    duet_data_free(d);
    /* limit */
    o.limit = 2;
    CHECK_OK(load("l.csv", "a,b\n1,x\n2,y\n3,z\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && streq(duet_data_label(d, 1), "y"));
    duet_data_free(d);
}

// --- text, JSONL, LIBSVM ------------------------------------------------------------------------

static void test_text_tsv(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    const char *s = "ham\tGo until jurong point, crazy\nspam\tFree entry in 2 a wkly comp\r\n\nham\tOk lar\tJoking\n";
    CHECK_OK(load("sms", s, &o, &d, &err)); /* detected from the content */
    CHECK(duet_data_kind(d) == DUET_DATA_TEXT && duet_data_rows(d) == 3);
    CHECK(streq(duet_data_label(d, 1), "spam") && streq(d->text[1], "Free entry in 2 a wkly comp"));
    CHECK(streq(d->text[2], "Ok lar\tJoking"));
    duet_data_free(d);
    /* Latin-1 fallback for bad UTF-8, and forced */
    o.format = DUET_FMT_TEXT;
    CHECK_OK(load("l1", "fr\t\xe9t\xe9\nfr\tcaf\xc3\xa9\n", &o, &d, &err));
    CHECK(streq(d->text[0], "\xc3\xa9t\xc3\xa9") && streq(d->text[1], "caf\xc3\xa9"));
    duet_data_free(d);
    o.latin1 = 1;
    CHECK_OK(load("l1", "fr\tcaf\xc3\xa9\n", &o, &d, &err));
    CHECK(streq(d->text[0], "caf\xc3\x83\xc2\xa9"));
    duet_data_free(d);
    o.latin1 = 0;
    CHECK_ERR(load("nt.tsv", "ham\thello\nno tab here\n", &o, &d, &err), &err, DUET_EFORMAT, "nt.tsv:2:");
    o.unlabelled = 1;
    CHECK_OK(load("u", "no tab here\nsecond\tline\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && d->labels == NULL && streq(d->text[1], "second\tline"));
    duet_data_free(d);
}

static void test_jsonl(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    const char *s = "{\"text\": \"hello world\", \"label\": \"pos\"}\n\n{\"label\": 1, \"text\": \"x\"}\n"
                    "{\"text\": \"y\", \"label\": 2.5}\n";
    CHECK_OK(load("a.jsonl", s, &o, &d, &err));
    CHECK(duet_data_kind(d) == DUET_DATA_TEXT && duet_data_rows(d) == 3);
    CHECK(streq(d->text[0], "hello world") && streq(duet_data_label(d, 0), "pos"));
    CHECK(streq(duet_data_label(d, 1), "1") && streq(duet_data_label(d, 2), "2.5"));
    duet_data_free(d);
    CHECK_OK(load("noext", s, &o, &d, &err)); /* detected from "{" */
    CHECK(duet_data_rows(d) == 3);
    duet_data_free(d);
    CHECK_ERR(load("b.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\": oops}\n", &o, &d, &err), &err,
              DUET_EFORMAT, "b.jsonl:2: invalid JSON");
    CHECK_ERR(load("b.jsonl", "{\"body\":\"a\",\"label\":\"x\"}\n", &o, &d, &err), &err, DUET_EFORMAT,
              "b.jsonl:1: no string field \"text\"");
    CHECK_ERR(load("b.jsonl", "{\"text\":\"a\"}\n", &o, &d, &err), &err, DUET_EFORMAT, "b.jsonl:1: no field \"label\"");
    CHECK_ERR(load("b.jsonl", "[1]\n", &o, &d, &err), &err, DUET_EFORMAT, "b.jsonl:1: expected a JSON object");
    o.text = "body";
    o.label = "y";
    CHECK_OK(load("c.jsonl", "{\"body\":\"a b\",\"y\":\"k\"}\n", &o, &d, &err));
    CHECK(streq(d->text[0], "a b") && streq(duet_data_label(d, 0), "k"));
    duet_data_free(d);
    o = opts();
    o.unlabelled = 1;
    CHECK_OK(load("c.jsonl", "{\"text\":\"a b\"}\n", &o, &d, &err));
    CHECK(d->labels == NULL && streq(d->text[0], "a b"));
    duet_data_free(d);
}

static void test_libsvm(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    const char *s = "# comment\n+1 1:0.5 3:2\n-1 qid:3 2:1 # trailing\n\n+1\n";
    CHECK_OK(load("d.svm", s, &o, &d, &err));
    CHECK(duet_data_kind(d) == DUET_DATA_SPARSE && duet_data_rows(d) == 3 && d->D == 3);
    CHECK(d->rowptr[0] == 0 && d->rowptr[1] == 2 && d->rowptr[2] == 3 && d->rowptr[3] == 3);
    CHECK(d->col[0] == 0 && d->col[1] == 2 && d->col[2] == 1);
    CHECK_NEAR(d->val[0], 0.5, 0) ;
    CHECK_NEAR(d->val[1], 2, 0);
    CHECK(streq(duet_data_label(d, 0), "+1") && streq(duet_data_label(d, 1), "-1"));
    duet_data_free(d);
    CHECK_OK(load("noext", "1 4:1 7:2\n0 1:3\n", &o, &d, &err)); /* detected from the content */
    CHECK(duet_data_kind(d) == DUET_DATA_SPARSE && d->D == 7);
    duet_data_free(d);
    CHECK_ERR(load("d.svm", "1 1:1 2:2\n1 3:1 2:2\n", &o, &d, &err), &err, DUET_EFORMAT,
              "d.svm:2: feature index 2 not increasing (prev 3)");
    CHECK_ERR(load("d.svm", "1 1:1 1:2\n", &o, &d, &err), &err, DUET_EFORMAT, "d.svm:1: feature index 1 not increasing");
    CHECK_ERR(load("d.svm", "1 0:1\n", &o, &d, &err), &err, DUET_EFORMAT, "d.svm:1: feature index 0 out of range");
    CHECK_ERR(load("d.svm", "1 2:abc\n", &o, &d, &err), &err, DUET_EFORMAT, "d.svm:1: bad value");
    CHECK_ERR(load("d.svm", "1 x:1\n", &o, &d, &err), &err, DUET_EFORMAT, "d.svm:1: bad feature index");
    CHECK_ERR(load("d.svm", "1 5\n", &o, &d, &err), &err, DUET_EFORMAT, "d.svm:1: expected idx:value");
    CHECK_ERR(load("d.svm", "1 1:1\n2:1\n", &o, &d, &err), &err, DUET_EFORMAT, "d.svm:2: expected a label");
    o.unlabelled = 1;
    CHECK_OK(load("u.svm", "2:1 5:3\n1 1:1\n", &o, &d, &err));
    CHECK(d->labels == NULL && duet_data_rows(d) == 2 && d->D == 5 && d->rowptr[2] == 3);
    duet_data_free(d);
    o.unlabelled = 0;
    o.limit = 1;
    CHECK_OK(load("d.svm", "1 1:1\n2 2:1\n", &o, &d, &err));
    CHECK(duet_data_rows(d) == 1 && d->D == 1);
    duet_data_free(d);
}

/* LIBSVM streamed from disk in 16 KiB blocks (a 256 KiB memory limit) reads what the whole-file
 * reader reads: rows across block boundaries, a line longer than a block, CRLF, a BOM, no final
 * line break, --limit; and fails with the same message, line numbers counted across blocks. */
static int same_sparse(const duet_data *a, const duet_data *b) {
    if (!a || !b || a->N != b->N || a->D != b->D || a->rowptr[a->N] != b->rowptr[b->N]) return 0;
    for (int64_t i = 0; i < a->N; i++)
        if (a->rowptr[i + 1] != b->rowptr[i + 1] || !streq(duet_data_label(a, i), duet_data_label(b, i))) return 0;
    for (int64_t q = 0; q < a->rowptr[a->N]; q++)
        if (a->col[q] != b->col[q] || a->val[q] != b->val[q]) return 0;
    return 1;
}

static void test_libsvm_stream(void) {
    duet_ctx *sc = NULL;
    duet_err err = {0, ""}, err2 = {0, ""};
    CHECK_OK(duet_ctx_new(&sc, &err));
    duet_ctx_set_mem_limit(sc, 256 << 10);
    size_t cap = 400000, n = 0;
    char *big = malloc(cap);
    n += (size_t)snprintf(big + n, cap - n, "\xEF\xBB\xBF# made up\r\n");
    for (int i = 0; i < 3000; i++) {
        n += (size_t)snprintf(big + n, cap - n, "%s", i % 2 ? "pos" : "neg");
        int width = i == 1234 ? 3000 : 1 + i % 17; /* row 1234 is longer than a block */
        for (int j = 1; j <= width; j++) n += (size_t)snprintf(big + n, cap - n, " %d:%.3g", j * 3 + i % 3, (double)(i % 7) - 2.5 + j / 8.0);
        n += (size_t)snprintf(big + n, cap - n, "%s", i % 5 == 0 ? " # note\r\n" : i == 2999 ? "" : "\n");
    }
    const char *inputs[] = {big, "1 1:1", "\n\n# nothing but\n1\n0 2:1\n", "1 1:1 2:2\n1 3:1 2:2\n", "1 2:abc\n", "1 1:1\n2:1\n", ""};
    for (size_t k = 0; k < sizeof inputs / sizeof *inputs; k++) {
        const char *path = T_TMP(".svm", inputs[k]);
        for (int64_t limit = 0; limit <= 700; limit += 700) {
            duet_load_opts o = opts();
            o.limit = limit;
            duet_data *whole = NULL, *streamed = NULL;
            int r1 = duet_data_load_mem(ctx, path, inputs[k], strlen(inputs[k]), &o, &whole, &err);
            o.stream = 1;
            int r2 = duet_data_load(sc, path, &o, &streamed, &err2);
            CHECK(r1 == r2);
            if (r1 == DUET_OK) {
                CHECK(same_sparse(whole, streamed));
                CHECK(streamed && streamed->map[0] != NULL); /* the offsets are mapped, not allocated */
            } else {
                CHECK(strcmp(err.msg, err2.msg) == 0);
                if (strcmp(err.msg, err2.msg) != 0) fprintf(stderr, "  whole: %s\n  streamed: %s\n", err.msg, err2.msg);
            }
            duet_data_free(whole);
            duet_data_free(streamed);
        }
        remove(path);
    }
    /* the big one through the automatic choice: over half the limit streams, else it is read */
    const char *path = T_TMP(".svm", big);
    duet_load_opts o = opts();
    duet_data *d = NULL;
    CHECK_OK(duet_data_load(sc, path, &o, &d, &err));
    CHECK(d && d->map[1] != NULL && duet_data_rows(d) == 3000);
    duet_data_free(d);
    CHECK_OK(duet_data_load(ctx, path, &o, &d, &err));
    CHECK(d && d->map[1] == NULL && duet_data_rows(d) == 3000);
    duet_data_free(d);
    o.stream = -1; /* never: then the limit refuses it */
    CHECK_ERR(duet_data_load(sc, path, &o, &d, &err), &err, DUET_ENOMEM, "more than the 256 KiB allowed");
    remove(path);
    free(big);
    duet_ctx_free(sc);
}

/* dt_parse_double gives strtod's double bit for bit, on random decimals of every shape the
 * fast path takes and many it hands to strtod, and refuses what is not one whole number. */
static void test_parse_double(void) {
    dt_rng r;
    dt_rng_seed(&r, 7);
    int same = 0, total = 0;
    char s[96];
    for (int it = 0; it < 200000; it++) {
        int n = 0;
        if (dt_rng_below(&r, 4) == 0) s[n++] = dt_rng_below(&r, 2) ? '-' : '+';
        int ld = (int)dt_rng_below(&r, 22), fd = (int)dt_rng_below(&r, 22);
        for (int i = 0; i < ld; i++) s[n++] = (char)('0' + dt_rng_below(&r, 10));
        if (fd || !ld || dt_rng_below(&r, 3) == 0) {
            s[n++] = '.';
            for (int i = 0; i < fd; i++) s[n++] = (char)('0' + dt_rng_below(&r, 10));
        }
        if (dt_rng_below(&r, 3) == 0) {
            s[n++] = dt_rng_below(&r, 2) ? 'e' : 'E';
            if (dt_rng_below(&r, 2)) s[n++] = dt_rng_below(&r, 2) ? '-' : '+';
            int ed = (int)dt_rng_below(&r, 4);
            for (int i = 0; i < ed; i++) s[n++] = (char)('0' + dt_rng_below(&r, 10));
        }
        s[n] = 0;
        char *end = NULL;
        double want = strtod(s, &end), got = 0;
        int ok = dt_parse_double(s, (size_t)n, &got);
        total++;
        if (end == s + n && n > 0) same += ok && memcmp(&want, &got, sizeof got) == 0;
        else same += !ok;
    }
    CHECK(same == total);
    /* the shapes scikit-learn's %.16g writes, near the fast path's edges */
    const char *cases[] = {"0.1234567890123456", "9.007199254740993", "9007199254740993", "1e22", "1e23", "1e-22",
                           "123456789e-30", "4.9e-324", "1.7976931348623157e308", "-0", "0e999", "0x1p3", "inf",
                           "-nan", "  1", "1 ", "1e", "1e+", ".", "-", "", "1.5e-7", "0.000000000000000000001234"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *c = cases[i];
        char *end = NULL;
        double want = strtod(c, &end), got = 0;
        int valid = *c && end == c + strlen(c);
        int ok = dt_parse_double(c, strlen(c), &got);
        CHECK(ok == valid);
        if (ok && valid) CHECK(memcmp(&want, &got, sizeof got) == 0);
    }
}

/* A table row as one CSV line: separators quoted only inside cells that hold them. */
static void test_row_string(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    CHECK_OK(load("r.csv", "a,b,c,label\n1,\"x, y\",z,yes\n2,\"say \"\"hi\"\"\",,no\n", &o, &d, &err));
    char buf[128];
    CHECK_OK(duet_data_row_string(d, 0, buf, sizeof buf, &err));
    CHECK(streq(buf, "1,\"x, y\",z"));
    CHECK_OK(duet_data_row_string(d, 1, buf, sizeof buf, &err));
    CHECK(streq(buf, "2,\"say \"\"hi\"\"\",?"));
    CHECK_ERR(duet_data_row_string(d, 2, buf, sizeof buf, &err), &err, DUET_ERANGE, "out of range");
    duet_data_free(d);
}

static void test_utf8(void) {
    size_t bad = 0;
    CHECK(dt_utf8_valid("abc", 3, &bad) == 1);
    CHECK(dt_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, &bad) == 1);
    CHECK(dt_utf8_valid("ab\xc3", 3, &bad) == 0 && bad == 2);
    CHECK(dt_utf8_valid("\xc0\x80", 2, &bad) == 0 && bad == 0);       /* overlong */
    CHECK(dt_utf8_valid("a\xed\xa0\x80", 4, &bad) == 0 && bad == 1);  /* surrogate */
    CHECK(dt_utf8_valid("\xf4\x90\x80\x80", 4, &bad) == 0);            /* > U+10FFFF */
    CHECK(dt_utf8_valid("x\xe9y", 3, &bad) == 0 && bad == 1);
}

// --- files: gzip, folders, IDX -------------------------------------------------------------------

static char *gz_tmp(const char *suffix, const void *data, size_t n) {
    char *p = t_tmpfile(suffix, "", 0);
    gzFile g = gzopen(p, "wb");
    if (g) {
        gzwrite(g, data, (unsigned)n);
        gzclose(g);
    }
    return p;
}

static void test_files_gzip(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    const char *s = "a,b,y\n1,2,p\n3,4,q\n";
    CHECK_OK(duet_data_load(ctx, T_TMP(".csv", s), &o, &d, &err));
    CHECK(duet_data_rows(d) == 2);
    duet_data_free(d);
    char *gz = gz_tmp(".csv.gz", s, strlen(s));
    CHECK_OK(duet_data_load(ctx, gz, &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && streq(duet_data_label(d, 1), "q"));
    CHECK(streq(d->src, gz));
    duet_data_free(d);
    /* truncated gzip */
    char *buf = NULL;
    size_t len = 0;
    CHECK_OK(dt_read_file(ctx, gz, &buf, &len, &err));
    CHECK(len == strlen(s) && buf[len] == 0 && strcmp(buf, s) == 0);
    dt_free(ctx, buf);
    FILE *f = fopen(gz, "rb");
    char raw[256];
    size_t n = f ? fread(raw, 1, sizeof raw, f) : 0;
    if (f) fclose(f);
    char *cut = t_tmpfile(".csv.gz", raw, n > 12 ? n - 12 : n);
    CHECK_ERR(duet_data_load(ctx, cut, &o, &d, &err), &err, DUET_EFORMAT, "gzip");
    CHECK_ERR(duet_data_load(ctx, "/nonexistent/x.csv", &o, &d, &err), &err, DUET_EIO, "/nonexistent/x.csv");
}

static void test_dir(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    char root[256], p[512];
    snprintf(root, sizeof root, "/tmp/duet_test_dir_%d", (int)getpid());
    const char *files[][2] = {{"spam/b.txt", "buy now"}, {"spam/a.txt", "win \xe9t\xe9"},
                              {"ham/1", "hello"}, {"ham/.hidden", "skip me"}, {"loose.txt", "x"}};
    mkdir(root, 0700);
    snprintf(p, sizeof p, "%s/spam", root);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/ham", root);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/.git", root);
    mkdir(p, 0700);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", root, files[i][0]);
        FILE *f = fopen(p, "wb");
        if (f) {
            fputs(files[i][1], f);
            fclose(f);
        }
    }
    CHECK_OK(duet_data_load(ctx, root, &o, &d, &err));
    CHECK(duet_data_kind(d) == DUET_DATA_TEXT && duet_data_rows(d) == 3);
    if (d && d->N == 3) {
        CHECK(streq(duet_data_label(d, 0), "ham") && streq(d->text[0], "hello"));
        CHECK(streq(duet_data_label(d, 1), "spam") && streq(d->text[1], "win \xc3\xa9t\xc3\xa9"));
        CHECK(streq(d->text[2], "buy now"));
    }
    duet_data_free(d);
    o.unlabelled = 1;
    CHECK_OK(duet_data_load(ctx, root, &o, &d, &err));
    CHECK(duet_data_rows(d) == 1 && d->labels == NULL && streq(d->text[0], "x"));
    duet_data_free(d);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", root, files[i][0]);
        remove(p);
    }
    const char *dirs[] = {"spam", "ham", ".git", ""};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        rmdir(p);
    }
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void test_idx(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    unsigned char img[16 + 12], lab[8 + 2], lab3[8 + 3];
    put_be32(img, 0x803);
    put_be32(img + 4, 2);
    put_be32(img + 8, 2);
    put_be32(img + 12, 3);
    for (int i = 0; i < 12; i++) img[16 + i] = (unsigned char)(i * 20);
    put_be32(lab, 0x801);
    put_be32(lab + 4, 2);
    lab[8] = 7;
    lab[9] = 3;
    put_be32(lab3, 0x801);
    put_be32(lab3 + 4, 3);
    lab3[8] = lab3[9] = lab3[10] = 1;
    char *ip = t_tmpfile("-images-idx3-ubyte", (const char *)img, sizeof img);
    char *lp = gz_tmp("-labels-idx1-ubyte.gz", lab, sizeof lab);
    o.labels_path = lp;
    CHECK_OK(duet_data_load(ctx, ip, &o, &d, &err));
    CHECK(duet_data_kind(d) == DUET_DATA_DENSE && duet_data_rows(d) == 2);
    CHECK(d->D == 6 && d->H == 2 && d->W == 3);
    CHECK(streq(duet_data_label(d, 0), "7") && streq(duet_data_label(d, 1), "3"));
    CHECK_NEAR(d->x[7], 140, 0);
    duet_data_free(d);
    char *ipgz = gz_tmp(".idx3.gz", img, sizeof img);
    o.limit = 1;
    CHECK_OK(duet_data_load(ctx, ipgz, &o, &d, &err));
    CHECK(duet_data_rows(d) == 1 && d->D == 6);
    duet_data_free(d);
    o.limit = 0;
    char *cut = t_tmpfile("-images-idx3-ubyte", (const char *)img, sizeof img - 1);
    CHECK_ERR(duet_data_load(ctx, cut, &o, &d, &err), &err, DUET_EFORMAT, "truncated");
    CHECK(d == NULL);
    cut = t_tmpfile("-images-idx3-ubyte", (const char *)img, 10);
    CHECK_ERR(duet_data_load(ctx, cut, &o, &d, &err), &err, DUET_EFORMAT, "truncated IDX header");
    o.labels_path = t_tmpfile("-labels-idx1-ubyte", (const char *)lab3, sizeof lab3);
    CHECK_ERR(duet_data_load(ctx, ip, &o, &d, &err), &err, DUET_EFORMAT, "3 labels for 2 images");
    o.labels_path = ip;
    CHECK_ERR(duet_data_load(ctx, ip, &o, &d, &err), &err, DUET_EFORMAT, "dimensions");
    o.labels_path = NULL;
    CHECK_ERR(duet_data_load(ctx, ip, &o, &d, &err), &err, DUET_EINVAL, "IDX images need --labels FILE");
    o.unlabelled = 1;
    CHECK_OK(duet_data_load(ctx, ip, &o, &d, &err));
    CHECK(duet_data_rows(d) == 2 && d->labels == NULL);
    duet_data_free(d);
    /* a header whose sizes overflow or exceed the file */
    put_be32(img + 4, 0xFFFFFFFFu);
    put_be32(img + 8, 0xFFFFFFFFu);
    cut = t_tmpfile("-images-idx3-ubyte", (const char *)img, sizeof img);
    CHECK(duet_data_load(ctx, cut, &o, &d, &err) == DUET_EFORMAT && d == NULL);
}

static void test_mat_rows(void) {
    duet_err err = {0, ""};
    float x[6] = {1, 2, 3, 4, 5, 6};
    dt_mat m = {3, 2, x, NULL, NULL, NULL, 0}, r;
    int64_t idx[2] = {2, 0};
    CHECK_OK(dt_mat_rows(ctx, &m, idx, 2, &r, &err));
    CHECK(r.N == 2 && r.D == 2 && r.x && r.x[0] == 5 && r.x[1] == 6 && r.x[2] == 1);
    dt_mat_free(ctx, &r);
    CHECK(r.x == NULL && r.N == 0);
    int64_t rp[4] = {0, 1, 1, 3};
    int32_t col[3] = {1, 0, 1};
    float val[3] = {9, 7, 8};
    dt_mat s = {3, 2, NULL, rp, col, val, 0};
    int64_t idx2[3] = {2, 1, 0};
    CHECK_OK(dt_mat_rows(ctx, &s, idx2, 3, &r, &err));
    CHECK(r.rowptr && r.rowptr[1] == 2 && r.rowptr[2] == 2 && r.rowptr[3] == 3);
    CHECK(r.col[0] == 0 && r.val[1] == 8 && r.col[2] == 1 && r.val[2] == 9);
    dt_mat_free(ctx, &r);
    int64_t badi = 3;
    CHECK_ERR(dt_mat_rows(ctx, &s, &badi, 1, &r, &err), &err, DUET_ERANGE, "out of range");
}

/* Every allocation failure is reported and leaks nothing, in every in-memory reader. */
static void test_alloc_failures(void) {
    const char *inputs[][2] = {{"f.csv", "a,b,y\n1,\"x, y\",p\n3,?,q\n"},
                               {"f.svm", "1 1:1 3:2\n-1 2:0.5\n"},
                               {"f.tsv", "ham\thello there\nspam\twin \xe9 now\n"},
                               {"f.jsonl", "{\"text\":\"a b\",\"label\":1}\n{\"text\":\"c\",\"label\":\"x\"}\n"}};
    for (int t = 0; t < 4; t++) {
        int failures = 0, leaks = 0, ok = 0;
        for (long k = 1; k < 300 && !ok; k++) {
            duet_ctx *c = NULL;
            duet_err err = {0, ""};
            if (duet_ctx_new(&c, &err) != DUET_OK) break;
            t_failalloc fa = {0, k, 0};
            duet_ctx_set_alloc(c, t_failalloc_fn, &fa);
            duet_data *d = NULL;
            duet_load_opts o = opts();
            int rc = duet_data_load_mem(c, inputs[t][0], inputs[t][1], strlen(inputs[t][1]), &o, &d, &err);
            if (rc == DUET_OK) {
                ok = 1;
                duet_data_free(d);
            } else {
                failures += rc == DUET_ENOMEM;
                CHECK(d == NULL);
            }
            if (fa.live != 0) leaks++;
            duet_ctx_free(c);
        }
        CHECK(ok && failures >= 2);
        CHECK(leaks == 0);
    }
}

// --- datasets from arrays --------------------------------------------------------------------------

/* duet_data_from_texts, _table and _values: copies, checks as the readers check, and the same
 * dataset as the CSV reader makes of the same rows */
static void test_from_arrays(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    const char *texts[] = {"free prize now", "see you \xc3\xa0 lunch\nlater"}, *labels[] = {" spam ", "ham"};
    CHECK_OK(duet_data_from_texts(ctx, "msgs", texts, 2, labels, &d, &err));
    CHECK(d && duet_data_kind(d) == DUET_DATA_TEXT && duet_data_rows(d) == 2 && d->text[0] != texts[0]);
    CHECK(d && streq(d->text[1], texts[1]) && streq(duet_data_label(d, 0), "spam"));
    duet_data_free(d);
    const char *blank[] = {"ok", " \t\f"}, *bad8[] = {"ok", "\xff"}, *none[] = {"ok", NULL};
    CHECK_ERR(duet_data_from_texts(ctx, "msgs", blank, 2, NULL, &d, &err), &err, DUET_EINVAL, "msgs: text 2 is empty");
    CHECK_ERR(duet_data_from_texts(ctx, "msgs", bad8, 2, NULL, &d, &err), &err, DUET_EINVAL, "msgs: text 2 is not UTF-8 (byte 1)");
    CHECK_ERR(duet_data_from_texts(ctx, "msgs", none, 2, NULL, &d, &err), &err, DUET_EINVAL, "text 2 is empty");
    CHECK_ERR(duet_data_from_texts(ctx, "msgs", texts, 0, NULL, &d, &err), &err, DUET_EINVAL, "msgs: no rows");
    CHECK_ERR(duet_data_from_texts(ctx, "msgs", NULL, 2, NULL, &d, &err), &err, DUET_EINVAL, "texts is NULL");
    const char *nolab[] = {"spam", "  "};
    CHECK_ERR(duet_data_from_texts(ctx, "msgs", texts, 2, nolab, &d, &err), &err, DUET_EINVAL, "msgs: row 2: the label is missing");
    CHECK(d == NULL);

    /* a table: blanks trimmed, missing tokens missing, names kept, as the CSV reader reads it */
    const char *names[] = {"age", "job"};
    const char *cells[] = {" 39 ", "State-gov", "NA", NULL, "50", "", "?", " Private\t"};
    CHECK_OK(duet_data_from_table(ctx, "rows", names, 2, cells, 4, NULL, &d, &err));
    duet_data *c = NULL;
    duet_load_opts o = opts();
    o.unlabelled = 1;
    CHECK_OK(load("rows.csv", "age,job\n 39 ,State-gov\nNA,\n50,\n?, Private\t\n", &o, &c, &err));
    CHECK(d && c && d->N == c->N && d->C == c->C);
    for (int64_t k = 0; d && c && k < d->N * d->C; k++)
        CHECK((!d->cells[k] && !c->cells[k]) || streq(d->cells[k], c->cells[k]));
    CHECK(d && streq(d->colnames[1], "job") && !d->cells[2] && !d->cells[3] && !d->cells[5] && streq(d->cells[7], "Private"));
    duet_data_free(c);
    duet_data_free(d);
    CHECK_OK(duet_data_from_table(ctx, "rows", NULL, 2, cells, 4, NULL, &d, &err));
    CHECK(d && streq(d->colnames[0], "1") && streq(d->colnames[1], "2"));
    duet_data_free(d);
    const char *bcells[] = {"1", "\xc3"};
    CHECK_ERR(duet_data_from_table(ctx, "rows", names, 2, bcells, 1, NULL, &d, &err), &err, DUET_EINVAL,
              "rows: row 1, column 2 is not UTF-8");
    CHECK_ERR(duet_data_from_table(ctx, "rows", names, 0, cells, 4, NULL, &d, &err), &err, DUET_EINVAL, "rows: no columns");
    CHECK_ERR(duet_data_from_table(ctx, "rows", names, 2, NULL, 4, NULL, &d, &err), &err, DUET_EINVAL, "cells is NULL");
    CHECK_ERR(duet_data_from_table(ctx, "rows", names, INT64_MAX / 2, cells, 4, NULL, &d, &err), &err, DUET_EINVAL,
              "more than memory can index");

    /* values */
    float x[6] = {0, 255, 3, 4, 5, 6};
    const char *vl[] = {"a", "b"};
    CHECK_OK(duet_data_from_values(ctx, "px", x, 2, 3, vl, &d, &err));
    CHECK(d && duet_data_kind(d) == DUET_DATA_DENSE && d->D == 3 && d->x != x && d->x[1] == 255 && streq(duet_data_label(d, 1), "b"));
    duet_data_free(d);
    x[4] = NAN;
    CHECK_ERR(duet_data_from_values(ctx, "px", x, 2, 3, NULL, &d, &err), &err, DUET_EINVAL, "px: row 2, column 2 is not a finite number");
    CHECK_ERR(duet_data_from_values(ctx, "px", NULL, 2, 3, NULL, &d, &err), &err, DUET_EINVAL, "x is NULL");
    CHECK_ERR(duet_data_from_values(NULL, "px", x, 2, 3, NULL, &d, &err), &err, DUET_EINVAL, "ctx is required");
    CHECK(d == NULL);
}

/* every allocation of duet_data_from_table failing in turn: ENOMEM, nothing leaked */
static int from_table_body(duet_ctx *c, long k, duet_err *e) {
    (void)k;
    const char *names[] = {"a", "b"}, *cells[] = {"1", "x", NULL, "y"}, *labels[] = {"p", "q"};
    duet_data *d = NULL;
    int rc = duet_data_from_table(c, "t", names, 2, cells, 2, labels, &d, e);
    duet_data_free(d);
    return rc;
}

static void test_from_arrays_alloc(void) {
    long total = 0;
    CHECK(t_each_alloc_failure(from_table_body, &total) == 0);
    CHECK(total >= 3);
}

/* "-" reads standard input. */
static void test_stdin(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    const char *p = T_TMP(".svm", "1 1:1\n2 2:1\n");
    if (!freopen(p, "rb", stdin)) { /* a file the test just wrote: not opening it is a failure */
        CHECK(!"stdin redirected from a temporary file");
        return;
    }
    CHECK_OK(duet_data_load(ctx, "-", &o, &d, &err));
    CHECK(duet_data_kind(d) == DUET_DATA_SPARSE && duet_data_rows(d) == 2);
    duet_data_free(d);
}

// --- real data sets ---------------------------------------------------------------------------------

static int64_t count_label(const duet_data *d, const char *l) {
    int64_t n = 0;
    for (int64_t i = 0; i < duet_data_rows(d); i++) n += streq(duet_data_label(d, i), l);
    return n;
}

static void test_real(void) {
    duet_data *d = NULL;
    duet_err err = {0, ""};
    duet_load_opts o = opts();
    const char *p = t_shared("sms_spam/SMSSpamCollection");
    if (!p) SKIP("sms_spam missing");
    else {
        CHECK_OK(duet_data_load(ctx, p, &o, &d, &err));
        CHECK(duet_data_kind(d) == DUET_DATA_TEXT);
        CHECK(duet_data_rows(d) == 5574);
        CHECK(count_label(d, "spam") == 747); /* cut -f1 SMSSpamCollection | sort | uniq -c */
        duet_data_free(d);
    }
    p = t_shared("adult/adult.data");
    if (!p) SKIP("adult missing");
    else {
        CHECK_OK(duet_data_load(ctx, p, &o, &d, &err));
        CHECK(duet_data_kind(d) == DUET_DATA_TABLE);
        CHECK(duet_data_rows(d) == 32561 && d->C == 14);
        /* /usr/bin/python3: sum(l.strip().endswith('>50K') for l in open('adult.data') if l.strip()) */
        CHECK(count_label(d, ">50K") == 7841);
        int64_t miss = 0;
        for (int64_t i = 0; d && i < d->N; i++) miss += cell(d, i, 1) == NULL;
        CHECK(miss == 1836); /* workclass "?" */
        CHECK(streq(cell(d, 0, 1), "State-gov") && streq(d->colnames[0], "1"));
        duet_data_free(d);
    }
    p = t_shared("adult/adult.test");
    if (p) {
        CHECK_OK(duet_data_load(ctx, p, &o, &d, &err));
        CHECK(duet_data_rows(d) == 16281 && d->C == 14);
        CHECK(count_label(d, ">50K.") == 3846);
        duet_data_free(d);
    }
    p = t_shared("fashion_mnist/train-images-idx3-ubyte.gz");
    const char *lp = t_shared("fashion_mnist/train-labels-idx1-ubyte.gz");
    if (!p || !lp) SKIP("fashion_mnist missing");
    else {
        o.labels_path = lp;
        CHECK_OK(duet_data_load(ctx, p, &o, &d, &err));
        CHECK(duet_data_kind(d) == DUET_DATA_DENSE && duet_data_rows(d) == 60000);
        CHECK(d->H == 28 && d->W == 28 && d->D == 784);
        CHECK(count_label(d, "ankle-boot") == 6000); /* Fashion-MNIST labels read as class names */
        float mx = 0;
        for (int64_t i = 0; d && i < 784; i++) mx = d->x[i] > mx ? d->x[i] : mx;
        CHECK(mx > 0 && mx <= 255);
        duet_data_free(d);
        o.labels_path = t_shared("mnist/t10k-labels-idx1-ubyte.gz");
        if (o.labels_path) /* 10000 labels for 60000 images */
            CHECK_ERR(duet_data_load(ctx, p, &o, &d, &err), &err, DUET_EFORMAT, "10000 labels for 60000 images");
        o.labels_path = NULL;
    }
    p = t_shared("sklearn_small/iris.csv");
    if (p) {
        CHECK_OK(duet_data_load(ctx, p, &o, &d, &err));
        CHECK(duet_data_rows(d) == 150 && d->C == 4);
        CHECK(count_label(d, "2") == 50);
        CHECK(streq(d->colnames[0], "1")); /* "150,4,setosa,..." is not a header */
        duet_data_free(d);
    }
    p = t_shared("sklearn_small/breast_cancer.csv");
    if (p) {
        CHECK_OK(duet_data_load(ctx, p, &o, &d, &err));
        CHECK(duet_data_rows(d) == 569 && d->C == 30);
        duet_data_free(d);
    }
}

int main(void) {
    duet_err err = {0, ""};
    if (duet_ctx_new(&ctx, &err) != DUET_OK) return 1;
    RUN(test_csv_basic);
    RUN(test_csv_missing_and_seps);
    RUN(test_csv_header);
    RUN(test_csv_columns);
    RUN(test_text_tsv);
    RUN(test_jsonl);
    RUN(test_libsvm);
    RUN(test_libsvm_stream);
    RUN(test_parse_double);
    RUN(test_row_string);
    RUN(test_utf8);
    RUN(test_files_gzip);
    RUN(test_dir);
    RUN(test_idx);
    RUN(test_mat_rows);
    RUN(test_alloc_failures);
    RUN(test_from_arrays);
    RUN(test_from_arrays_alloc);
    RUN(test_stdin);
    RUN(test_real);
    duet_ctx_free(ctx);
    TEST_END();
}
