/* features.h — internal to the feature pipeline (pipe.c, text_features.c, table_features.c).
 * defines: struct dt_pipe and its per-kind states (dt_text_pipe, dt_table_pipe), the per-kind
 * fit/apply/save/load entry points that pipe.c dispatches to, and the shared helper that
 * stores a list of strings as a U8 tensor of NUL-terminated strings plus I64 offsets.
 * Nothing outside src/data/{pipe,text_features,table_features}.c should include it: the rest
 * of the library goes through the dt_pipe_* functions of data.h.
 */
#ifndef DT_FEATURES_H
#define DT_FEATURES_H

#include "../core/dt.h"
#include "../io/safetensors.h"
#include "data.h"

/* Limits checked at fit and at load. */
#define DT_PIPE_MAX_NGRAM 16              /* longest word or character n-gram */
#define DT_PIPE_MAX_DIM ((int64_t)1 << 30) /* feature columns (col indices are int32) */

/* --- text ------------------------------------------------------------------------------------ */

typedef struct dt_text_pipe {
    int mode;                  /* DUET_TEXT_* */
    int ngram_min, ngram_max;  /* word n-grams, 1 <= min <= max */
    int char_min, char_max;    /* character n-grams; 0, 0 = off */
    int lowercase;             /* 1: fold case before tokenizing (per code point) */
    int sublinear;             /* 1: tf = 1 + ln(count) (tfidf only) */
    int min_df;                /* vocabulary: terms in >= min_df training documents */
    int64_t max_features;      /* vocabulary: most frequent terms kept; 0 = all */
    int64_t hash_dims;         /* > 0: hashing mode, D = hash_dims, no vocabulary; column =
                                  FNV-1a 64 of the term's UTF-8 bytes mod hash_dims */
    int64_t n_docs;            /* training documents (for the record and idf) */
    int64_t V;                 /* vocabulary terms (0 in hashing mode) */
    char *terms;               /* (nbytes) sorted NUL-terminated terms, byte order; character
                                  n-grams start with the byte 0x01 (never in word terms) */
    int64_t nbytes;
    int64_t *off;              /* (V+1) term v is terms + off[v], off[V] == nbytes */
    double *idf;               /* (D) smooth idf, tfidf mode only; NULL otherwise */
    /* lookup table over the vocabulary: open addressing, (tag, id) pairs, id -1 = empty */
    uint64_t *slots;           /* (mask+1) tag << 32 | (uint32) id */
    uint64_t mask;
} dt_text_pipe;

/* --- tables ---------------------------------------------------------------------------------- */

typedef struct dt_table_col {
    char *name;                /* header name */
    int categorical;           /* 0: numeric, 1: one-hot */
    int missing;               /* 1: training had missing cells -> "name?" indicator feature */
    double mean, std;          /* numeric: training mean and population std (std 0 -> 1) */
    double lo, hi;             /* numeric: the training values' range (lo > hi: unknown, files
                                  before it was kept) */
    int integral;              /* numeric: every training value was a whole number */
    int64_t ncat;              /* categorical: training categories */
    char **cats;               /* (ncat) sorted by byte order */
    int64_t first;             /* index of the column's first feature */
} dt_table_col;

typedef struct dt_table_pipe {
    int64_t C;                 /* columns */
    int scale;                 /* 1: standardise numeric columns */
    int codes;                 /* 1: raw features (DT_FEATURES_RAW): a column is one feature, its
                                  number or category index, NaN when missing */
    dt_table_col *cols;        /* (C) */
    dt_pool pool;              /* names and categories */
} dt_table_pipe;

/* --- the pipeline -------------------------------------------------------------------------- */

struct dt_pipe {
    duet_ctx *ctx;
    int kind;                  /* DUET_DATA_* */
    int64_t D;                 /* output features */
    dt_text_pipe text;         /* kind TEXT */
    dt_table_pipe table;       /* kind TABLE */
    int64_t H, W;              /* kind DENSE: image size, 0 when unknown */
    int scale;                 /* kind DENSE: 1 = divide by 255 */
};

/* Text (text_features.c). fit fills p->text and p->D; p->ctx and kind are set. */
int dt_text_fit(dt_pipe *p, const duet_data *d, const duet_train_params *tp, duet_err *err);
int dt_text_apply(const dt_pipe *p, const duet_data *d, dt_mat *out, duet_err *err);
int dt_text_save(const dt_pipe *p, dt_st_writer *w, duet_err *err);
int dt_text_load(dt_pipe *p, const dt_st_file *f, duet_err *err);
void dt_text_free(dt_pipe *p);

/* Tables, dense vectors and sparse vectors (table_features.c). */
int dt_table_fit(dt_pipe *p, const duet_data *d, const duet_train_params *tp, int features, duet_err *err);
int dt_table_apply(const dt_pipe *p, const duet_data *d, dt_mat *out, duet_err *err);
int dt_table_save(const dt_pipe *p, dt_st_writer *w, duet_err *err);
int dt_table_load(dt_pipe *p, const dt_st_file *f, duet_err *err);
void dt_table_free(dt_pipe *p);
/* Feature j's name for a table pipeline ("age", "sex=Male", "age?"). */
const char *dt_table_feature_name(const dt_pipe *p, int64_t j, char *buf, size_t len);
int dt_dense_apply(const dt_pipe *p, const duet_data *d, dt_mat *out, duet_err *err);
int dt_sparse_apply(const dt_pipe *p, const duet_data *d, dt_mat *out, duet_err *err);

/* --- string lists in a model file (pipe.c) --------------------------------------------------- */

/* Writes n strings as `name` (U8, the strings each followed by a NUL) and `name`_off (I64,
 * n+1 offsets, off[0] = 0, off[n] = total bytes). n >= 1. ctx allocates the scratch copy. */
int dt_pipe_strings_save(duet_ctx *ctx, dt_st_writer *w, const char *name, char *const *s,
                         int64_t n, duet_err *err);
/* Same for strings already concatenated: bytes (nbytes) and off (n+1). */
int dt_pipe_blob_save(dt_st_writer *w, const char *name, const char *bytes, int64_t nbytes,
                      const int64_t *off, int64_t n, duet_err *err);
/* Reads and validates the pair written above: n strings expected; offsets start at 0, increase
 * by at least min_len + 1, end at the byte count; every string ends with its only NUL.
 * *bytes and *off point into the file (they live as long as f). */
int dt_pipe_strings_load(const dt_st_file *f, const char *name, int64_t n, int64_t min_len,
                         const char **bytes, const int64_t **off, duet_err *err);

/* Byte-order comparison of NUL-free strings (memcmp, shorter first on a tie), as Python and
 * scikit-learn order str (UTF-8 byte order is code point order). */
static inline int dt_pipe_cmp(const char *a, size_t na, const char *b, size_t nb) {
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c) return c;
    return na < nb ? -1 : na > nb;
}

#endif /* DT_FEATURES_H */
