/* data.h — raw datasets, feature matrices, readers and the feature pipeline.
 * defines: struct duet_data (raw examples and labels, as read), dt_mat (the numeric feature
 * matrix that models see, dense or CSR), the readers (dt_read_*), and dt_pipe, the fitted
 * featurizer that turns raw examples into a dt_mat and is stored in the model file.
 */
#ifndef DT_DATA_H
#define DT_DATA_H

#include "../core/dt.h"

/* --- raw data ------------------------------------------------------------------------------ */

/* A dataset as read: one of four kinds of examples, plus an optional label per example.
 * All strings live in `pool`; arrays are allocated with ctx. Read-only after loading. */
struct duet_data {
    duet_ctx *ctx;
    dt_pool pool;
    int kind;          /* DUET_DATA_* */
    int64_t N;         /* examples */
    char *src;         /* where it came from, for messages (pool) */
    char **labels;     /* (N) label strings, or NULL when unlabelled */
    /* DUET_DATA_TEXT */
    char **text;       /* (N) UTF-8 text */
    /* DUET_DATA_TABLE: missing cells are NULL */
    int64_t C;         /* columns, the label column excluded */
    char **colnames;   /* (C) header names, or "1", "2", ... when there is no header */
    char **cells;      /* (N, C) row-major */
    /* DUET_DATA_DENSE */
    int64_t D;         /* values per example (H*W for images) */
    int64_t H, W;      /* image height and width, 0 when not an image */
    float *x;          /* (N, D) raw values (pixels 0..255) */
    /* DUET_DATA_SPARSE: CSR with 0-based, strictly increasing column indices */
    int64_t *rowptr;   /* (N+1) */
    int32_t *col;      /* (nnz) */
    float *val;        /* (nnz) */
    /* D above is 1 + the largest column index for SPARSE */
    void *map[3];      /* SPARSE streamed from disk: rowptr, col, val are these read-only */
    size_t map_len[3]; /* mappings of temporary files (munmap, not dt_free) */
};

/* A new empty dataset of a kind; arrays are attached by the reader. */
int dt_data_new(duet_ctx *ctx, int kind, const char *src, duet_data **out, duet_err *err);

void dt_data_free(duet_data *d);
/* Reads a dataset; the format comes from o->format or, when AUTO, from the path (a folder ->
 * DIR; .idx/-ubyte(.gz) -> IDX; .jsonl -> JSONL; .svm/.libsvm/.svmlight -> LIBSVM; .tsv/.txt
 * whose lines are label<TAB>text -> TEXT) and else from the content (first line looks like
 * "label idx:val" -> LIBSVM, "{" -> JSONL, otherwise CSV). Files may be gzipped (.gz).
 * o->limit > 0 keeps only the first o->limit examples. */
int dt_data_load(duet_ctx *ctx, const char *path, const duet_load_opts *o, duet_data **out,
                 duet_err *err);
int dt_data_load_mem(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                     const duet_load_opts *o, duet_data **out, duet_err *err);

/* A new dataset holding rows idx[0..n) of d (copied). */
int dt_data_subset(duet_ctx *ctx, const duet_data *d, const int64_t *idx, int64_t n,
                   duet_data **out, duet_err *err);
/* A new dataset: every row of a, then every row of b (same kind; tables: same columns;
 * vectors: same length), both labelled or neither. */
int dt_data_concat(duet_ctx *ctx, const duet_data *a, const duet_data *b, duet_data **out, duet_err *err);
/* A one-row view of row i of d: shares d's arrays (CSR offsets stay absolute); never freed. */
void dt_data_view_row(const duet_data *d, int64_t i, duet_data *v);

/* Datasets from a program's own arrays (build.c; see duet_data_from_texts in duet.h): copied
 * and checked as a reader checks a file; labels (n) may be NULL. */
int dt_data_from_texts(duet_ctx *ctx, const char *name, const char *const *texts, int64_t n, const char *const *labels,
                       duet_data **out, duet_err *err);
int dt_data_from_table(duet_ctx *ctx, const char *name, const char *const *colnames, int64_t cols, const char *const *cells,
                       int64_t rows, const char *const *labels, duet_data **out, duet_err *err);
int dt_data_from_dense(duet_ctx *ctx, const char *name, const float *x, int64_t rows, int64_t cols, const char *const *labels,
                       duet_data **out, duet_err *err);
/* 1 when a table cell's text (n bytes, blanks trimmed) means a missing value: empty, "?", "NA",
 * "N/A" or "NaN" (any case), as the CSV reader and dt_data_from_table read it. */
int dt_cell_missing(const char *s, size_t n);

/* --- readers: each fills a new duet_data; messages name the file and line or offset ---------- */

/* `name` is used in messages; buf need not be NUL-terminated. */
int dt_read_csv(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                const duet_load_opts *o, duet_data **out, duet_err *err);
/* The LIBSVM file at path read in blocks, its values kept in mapped temporary files rather
 * than in memory (for files larger than memory; see read_libsvm.c). */
int dt_read_libsvm_stream(duet_ctx *ctx, const char *path, const duet_load_opts *o, duet_data **out, duet_err *err);
int dt_read_libsvm(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                   const duet_load_opts *o, duet_data **out, duet_err *err);
int dt_read_text_tsv(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                     const duet_load_opts *o, duet_data **out, duet_err *err);
/* The whole input as one running text (DUET_DATA_CORPUS, N = 1); limit > 0 keeps the first
 * `limit` lines. NUL bytes and empty input are errors. */
int dt_read_corpus(duet_ctx *ctx, const char *name, const char *buf, size_t len, const duet_load_opts *o,
                   duet_data **out, duet_err *err);
int dt_read_jsonl(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                  const duet_load_opts *o, duet_data **out, duet_err *err);
int dt_read_dir(duet_ctx *ctx, const char *path, const duet_load_opts *o, duet_data **out,
                duet_err *err);
/* Images from path and labels from o->labels_path (optional when o->unlabelled); gzip or not. */
int dt_read_idx(duet_ctx *ctx, const char *path, const duet_load_opts *o, duet_data **out,
                duet_err *err);
/* 1 when buf starts with the gzip magic bytes. */
int dt_is_gzip(const char *buf, size_t len);
/* Inflates gzip data (one or more members) into a new NUL-terminated buffer *out (ctx). */
int dt_gunzip_mem(duet_ctx *ctx, const char *name, const char *in, size_t in_len, char **out, size_t *out_len,
                  duet_err *err);
/* Whole file (or "-" for stdin) into memory; *buf is NUL-terminated, caller frees with ctx. */
int dt_read_file(duet_ctx *ctx, const char *path, char **buf, size_t *len, duet_err *err);
/* Copies s[0..n) into the pool as UTF-8, decoding it as Latin-1 when it is not valid UTF-8
 * or latin1 is set; NULL when out of memory. */
char *dt_text_utf8(dt_pool *pool, const char *s, size_t n, int latin1);
/* Checks that s[0..n) is valid UTF-8 (returns 1), else returns 0 and *bad = offset of the
 * first bad byte. */
int dt_utf8_valid(const char *s, size_t n, size_t *bad);

/* --- feature matrix -------------------------------------------------------------------------- */

/* What models see: N rows of D features, dense or CSR (exactly one of x / rowptr is set). */
typedef struct dt_mat {
    int64_t N, D;
    float *x;          /* dense (N, D) row-major, or NULL */
    int64_t *rowptr;   /* CSR (N+1), or NULL */
    int32_t *col;      /* (nnz) */
    float *val;        /* (nnz) */
    int borrowed;      /* 1: the arrays belong to the dataset the matrix was made from (which must
                          outlive it); dt_mat_free leaves them */
} dt_mat;

void dt_mat_free(duet_ctx *ctx, dt_mat *m);
/* A new matrix holding rows idx[0..n) of m. */
int dt_mat_rows(duet_ctx *ctx, const dt_mat *m, const int64_t *idx, int64_t n, dt_mat *out,
                duet_err *err);

static inline double dt_mat_dot(const dt_mat *m, int64_t i, const double *w) {
    double s = 0;
    if (m->x) {
        const float *r = m->x + (size_t)i * (size_t)m->D;
        for (int64_t j = 0; j < m->D; j++) s += (double)r[j] * w[j];
    } else {
        for (int64_t p = m->rowptr[i]; p < m->rowptr[i + 1]; p++) s += (double)m->val[p] * w[m->col[p]];
    }
    return s;
}

/* g += a * row i */
static inline void dt_mat_axpy(const dt_mat *m, int64_t i, double a, double *g) {
    if (m->x) {
        const float *r = m->x + (size_t)i * (size_t)m->D;
        for (int64_t j = 0; j < m->D; j++) g[j] += a * (double)r[j];
    } else {
        for (int64_t p = m->rowptr[i]; p < m->rowptr[i + 1]; p++) g[m->col[p]] += a * (double)m->val[p];
    }
}

static inline double dt_mat_sqnorm(const dt_mat *m, int64_t i) {
    double s = 0;
    if (m->x) {
        const float *r = m->x + (size_t)i * (size_t)m->D;
        for (int64_t j = 0; j < m->D; j++) s += (double)r[j] * r[j];
    } else {
        for (int64_t p = m->rowptr[i]; p < m->rowptr[i + 1]; p++) s += (double)m->val[p] * m->val[p];
    }
    return s;
}

/* --- feature pipeline ---------------------------------------------------------------------------- */

typedef struct dt_pipe dt_pipe;
struct dt_st_writer;
struct dt_st_file;

/* Fits the featurizer to the kind of `data`, with settings from p:
 *   TEXT   -> word (and optional character) n-grams, TF-IDF / counts / binary, vocabulary or
 *             hashing; Unicode-aware splitting and case folding (utf8proc)
 *   TABLE  -> numeric columns standardised (+ missing indicator where values are missing),
 *             categorical columns one-hot (+ missing indicator)
 *   DENSE  -> pixels scaled to [0, 1]
 *   SPARSE -> passed through (D from the training data; larger indices are dropped) */
enum { /* the features a model asks for (dt_model_ops.features) */
    DT_FEATURES_SCALED = 0, /* as described above: linear models, networks, naive Bayes */
    DT_FEATURES_RAW = 1     /* trees: a table column is one feature, its number as it is or its
                               category's index (dt_pipe_categories), NaN when missing or unknown;
                               pixels unscaled; text and sparse vectors as above */
};
int dt_pipe_fit(duet_ctx *ctx, const duet_data *data, const duet_train_params *p, int features,
                dt_pipe **out, duet_err *err);
/* Featurizes any data of the same kind (labelled or not) into a new matrix. */
int dt_pipe_apply(duet_ctx *ctx, const dt_pipe *pipe, const duet_data *data, dt_mat *out,
                  duet_err *err);
int64_t dt_pipe_dim(const dt_pipe *pipe);
int dt_pipe_kind(const dt_pipe *pipe);             /* DUET_DATA_* it was fitted on */
/* 1 when the pipeline reads images: their height and width, and the factor that turns a
 * feature value back into a raw pixel value (255 when pixels were scaled to [0, 1]). */
int dt_pipe_image(const dt_pipe *pipe, int64_t *H, int64_t *W, float *scale);
int dt_pipe_text_mode(const dt_pipe *pipe);        /* DUET_TEXT_* (text pipelines) */
/* Name of feature j ("free", "call now", "age", "sex=Male", "pixel[3,14]"); writes into buf. */
const char *dt_pipe_feature_name(const dt_pipe *pipe, int64_t j, char *buf, size_t len);
/* One line describing the pipeline, e.g. "tfidf word 1-2-grams, 8713 terms". */
const char *dt_pipe_describe(const dt_pipe *pipe, char *buf, size_t len);
int dt_pipe_save(const dt_pipe *pipe, struct dt_st_writer *w, duet_err *err);
int dt_pipe_load(duet_ctx *ctx, const struct dt_st_file *f, dt_pipe **out, duet_err *err);
void dt_pipe_free(dt_pipe *pipe);

/* For generative models that sample: the inverse of the pipeline, where one exists.
 * TEXT: feature j's term; TABLE: sets up rows from feature values; see featurize.c. */
int dt_pipe_is_ngram(const dt_pipe *pipe, int64_t j); /* 1 when feature j is a word unigram */
/* TEXT with a vocabulary: the term of feature j (NUL-terminated, lives as long as pipe);
 * NULL in hashing mode or for character n-grams. */
const char *dt_pipe_term(const dt_pipe *pipe, int64_t j);
/* TABLE: the columns, and column c's features for models that treat a column as one
 * variable: *categorical (1: one-hot, 0: numeric), its first feature, *n its one-hot features
 * (1 for a numeric column) and *miss its missing-value indicator's feature (-1: none). Returns 0
 * when pipe is not a table pipeline or c is out of range. */
int64_t dt_pipe_table_cols(const dt_pipe *pipe);
/* TABLE: miss (N, C) receives 1 where row i of d has no value in the pipeline's column c. */
int dt_pipe_table_missing(const dt_pipe *pipe, const duet_data *d, unsigned char *miss, duet_err *err);
/* TABLE: column c's header name, or NULL. */
const char *dt_pipe_table_colname(const dt_pipe *pipe, int64_t c);
/* A pipeline of raw features for a table of C numeric columns named names (NULL: "1", "2", ...),
 * for models made elsewhere (an imported XGBoost model): each column one feature, NaN when missing. */
int dt_pipe_raw_numbers(duet_ctx *ctx, const char *const *names, int64_t C, dt_pipe **out, duet_err *err);
/* Raw table features: how many categories feature j has (its values are 0..n-1 or NaN), 0 when
 * it is a number (or the pipeline is not one of raw table features); category k's text. */
int64_t dt_pipe_categories(const dt_pipe *pipe, int64_t j);
const char *dt_pipe_category(const dt_pipe *pipe, int64_t j, int64_t k);
int dt_pipe_table_col(const dt_pipe *pipe, int64_t c, int *categorical, int64_t *first, int64_t *n, int64_t *miss);
/* TABLE: writes one CSV row (no label) from a feature vector x (D): numeric columns undo the
 * scaling, categorical columns take the category with the largest value. */
int dt_pipe_table_row(const dt_pipe *pipe, const float *x, char *buf, size_t len, duet_err *err);

#endif /* DT_DATA_H */
