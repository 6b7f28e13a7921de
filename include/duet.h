/* duet.h — the public C API of libduet: machine learning for both families of models,
 * discriminative (p(y|x): logistic regression, linear SVM, MLP) and generative
 * (p(x|y)p(y), p(x): naive Bayes, and later language and image models).
 *
 * Conventions
 *  - Every fallible function returns a status (DUET_OK = 0, negatives on failure) and takes a
 *    last argument `duet_err *err` (may be NULL) that receives a message saying where and why.
 *  - Results come back through out-parameters; on failure *out is left NULL.
 *  - Handles come in _new/_load ... _free pairs; _free(NULL) is a no-op.
 *  - Pointer parameters are borrowed for the duration of the call unless a comment says
 *    "must outlive".
 *  - The library never prints, exits or aborts on anything a caller supplies.
 *
 * Thread safety
 *  - duet_ctx: configure it before use; afterwards it may be shared read-only by threads
 *    that each pass it to calls on different objects.
 *  - duet_model: a fitted or loaded model is read-only: predict, explain, score, sample and
 *    save are safe to call concurrently on the same model.
 *  - duet_data: read-only after loading; safe to share.
 */
#ifndef DUET_H
#define DUET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- version and build info ------------------------------------------------------------ */

#define DUET_VERSION_MAJOR 0
#define DUET_VERSION_MINOR 1
#define DUET_VERSION_PATCH 0

#if defined(_WIN32)
#define DUET_API __declspec(dllexport)
#else
#define DUET_API __attribute__((visibility("default")))
#endif
#define DUET_DEPRECATED(func, hint) func __attribute__((deprecated(hint)))

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
DUET_API const char *duet_version(void);
/* 1 when s[0..n) is valid UTF-8 (no overlong forms, surrogates or values above U+10FFFF);
 * else 0, and *bad (when not NULL) receives the offset of the first byte that breaks it. */
DUET_API int duet_utf8_valid(const char *s, size_t n, size_t *bad);
/* Features compiled in, e.g. "openmp blas utf8proc zlib". */
DUET_API const char *duet_build_info(void);
/* The kernels the BLAS library runs on this processor ("Haswell", "SkylakeX", ...; "none"
 * without BLAS). */
DUET_API const char *duet_blas_core(void);
/* OpenBLAS picks its kernels as it loads, and on a processor newer than it knows it falls back
 * to old ones without AVX2 (2 to 3 times slower on duet's dense models). Returns the value of
 * OPENBLAS_CORETYPE that selects the kernels this processor runs best when OpenBLAS picked
 * worse ones, else NULL. The variable only acts on a process that starts with it set: the duet
 * program restarts itself once with it; programs linking libduet can do the same. */
DUET_API const char *duet_blas_coretype_advice(void);

/* --- status and error ------------------------------------------------------------------ */

enum {
    DUET_OK = 0,
    DUET_EINVAL = -1,       /* a bad argument, flag or parameter */
    DUET_ENOMEM = -2,       /* an allocation failed */
    DUET_EIO = -3,          /* a file could not be opened, read or written */
    DUET_EFORMAT = -4,      /* a file or input is malformed */
    DUET_ERANGE = -5,       /* a value or size is out of range, or a buffer too small */
    DUET_EUNSUPPORTED = -6, /* the model cannot do that, or a feature is not built in */
    DUET_ECANCELLED = -7    /* the abort callback asked to stop */
};

typedef struct duet_err {
    int code;
    char msg[256];
} duet_err;

/* A short name for a status code: "EINVAL", ... */
DUET_API const char *duet_status_name(int code);

/* --- context ----------------------------------------------------------------------------- */

typedef struct duet_ctx duet_ctx;

/* Allocator hook in the style of Lua's lua_Alloc: size 0 frees ptr and returns NULL;
 * otherwise it behaves as realloc(ptr, size) and returns NULL on failure. */
typedef void *(*duet_alloc_fn)(void *user, void *ptr, size_t size);
/* Log hook: level 0 = info, 1 = warning, 2 = progress (a line that may be overwritten). */
typedef void (*duet_log_fn)(void *user, int level, const char *msg);
/* Abort hook for long calls: return non-zero to stop with DUET_ECANCELLED. */
typedef int (*duet_abort_fn)(void *user);

DUET_API int duet_ctx_new(duet_ctx **out, duet_err *err);
DUET_API void duet_ctx_free(duet_ctx *ctx);
/* Threads for heavy loops; 0 (and a new context's default) means OMP_NUM_THREADS when it is
 * set, else all the cores this process may run on. */
DUET_API void duet_ctx_set_threads(duet_ctx *ctx, int n_threads);
DUET_API int duet_ctx_threads(const duet_ctx *ctx);
/* Base seed of every random choice the library makes (default 42). */
DUET_API void duet_ctx_set_seed(duet_ctx *ctx, uint64_t seed);
DUET_API void duet_ctx_set_log(duet_ctx *ctx, duet_log_fn fn, void *user);
/* Must be called before anything is allocated with the context. */
DUET_API void duet_ctx_set_alloc(duet_ctx *ctx, duet_alloc_fn fn, void *user);
/* The largest single allocation the library will ask for, in bytes (0: the machine's physical
 * memory, the default). Work that needs more is refused up front with DUET_ENOMEM and a message
 * that says how much it needs, e.g. a LIBSVM file whose feature numbers run into the billions. */
DUET_API void duet_ctx_set_mem_limit(duet_ctx *ctx, size_t bytes);
/* Adds buf[0..n) element-wise across the processes of a data-parallel run, in place, the
 * result the same on every process (an all-reduce, e.g. MPI_Allreduce with MPI_SUM); 0 on
 * success. */
typedef int (*duet_reduce_fn)(void *user, double *buf, size_t n);
/* Data-parallel training across `size` processes (MPI ranks, say), this one being `rank`.
 * Every process calls duet_model_train with the same data and parameters; the features are
 * fitted on all of the data, then each process fits the model on its share of the rows (row i
 * goes to process i mod size), combining its sums with the others' through reduce at the same
 * points, so that every process ends with the model one process would fit on all the rows
 * (within rounding). Models that train this way: logreg, nb (multinomial and Bernoulli), mlp,
 * vae, gan and diffusion (the same batches, each process its rows of them)
 * and gpt (every process draws the same batches and takes a block of their windows). Only
 * rank 0 writes checkpoints. Others refuse. size 1 (the default) trains alone. */
DUET_API void duet_ctx_set_distributed(duet_ctx *ctx, int rank, int size, duet_reduce_fn reduce, void *user);
DUET_API void duet_ctx_set_abort(duet_ctx *ctx, duet_abort_fn fn, void *user);
/* Frees memory that the library returned (strings, arrays). */
DUET_API void duet_free(duet_ctx *ctx, void *p);

/* --- datasets ---------------------------------------------------------------------------- */

typedef struct duet_data duet_data;

enum { /* input formats */
    DUET_FMT_AUTO = 0,
    DUET_FMT_CSV,    /* delimited table: , ; tab or space; header or not */
    DUET_FMT_LIBSVM, /* label idx:val idx:val ... */
    DUET_FMT_TEXT,   /* labelled text: label<TAB>text (or text alone when unlabelled) */
    DUET_FMT_JSONL,  /* {"text": ..., "label": ...} per line */
    DUET_FMT_DIR,    /* a folder whose subfolders are the classes, one text file per example */
    DUET_FMT_IDX,    /* IDX images (with a separate IDX label file) */
    DUET_FMT_CORPUS  /* one running text (UTF-8), for language models */
};

enum { /* kinds of raw examples */
    DUET_DATA_TEXT = 1,  /* one text per example */
    DUET_DATA_TABLE = 2, /* columns of numbers and categories, with missing values */
    DUET_DATA_DENSE = 3, /* a fixed-size numeric vector per example (IDX images) */
    DUET_DATA_SPARSE = 4, /* sparse numeric vectors (LIBSVM) */
    DUET_DATA_CORPUS = 5  /* one running text (a single example, unlabelled) */
};

typedef struct duet_load_opts {
    int format;             /* DUET_FMT_*, default AUTO (by extension and content) */
    const char *label;      /* label column: header name or 1-based index; NULL = default */
    const char *text;       /* text column/field: header name or 1-based index; NULL = default */
    const char *labels_path; /* IDX: the label file that goes with the images */
    int header;             /* CSV: -1 detect, 0 none, 1 present */
    char sep;               /* CSV: 0 detect, else ',' ';' '\t' ' ' */
    int unlabelled;         /* 1: the input has no label column (for predict) */
    int64_t limit;          /* read at most this many examples; 0 = all */
    int latin1;             /* 1: decode text as Latin-1; 0: UTF-8, or Latin-1 where a
                               DIR file is not valid UTF-8 (raw e-mails) */
    int stream;             /* LIBSVM files: 1 read in blocks with the values kept in mapped
                               temporary files on disk (in $TMPDIR, else /var/tmp) rather than
                               in memory; 0 (default) so when the file is larger than half the
                               memory limit; -1 never */
} duet_load_opts;

DUET_API duet_load_opts duet_load_opts_default(void);
/* Reads a dataset from a file, folder or "-" (standard input). */
DUET_API int duet_data_load(duet_ctx *ctx, const char *path, const duet_load_opts *opts,
                            duet_data **out, duet_err *err);
/* Reads a dataset from memory; `name` is used in messages. */
DUET_API int duet_data_load_mem(duet_ctx *ctx, const char *name, const char *buf, size_t len,
                                const duet_load_opts *opts, duet_data **out, duet_err *err);
/* Datasets from a program's own arrays, with nothing to parse (what a server receives, rows an
 * embedding program holds). Everything is copied and checked as a reader checks a file; messages
 * name `name` and the row. labels (one per row) may be NULL: unlabelled.
 *   texts: n UTF-8 texts, none blank.
 *   table: cells (rows, cols) row-major, as text ("39", "State-gov"); NULL, empty, "?", "NA",
 *     "N/A" and "NaN" are missing, and blanks around a value are dropped, as the CSV reader reads
 *     them. colnames (cols) may be NULL ("1", "2", ...); a model matches the columns by name when
 *     all of its own are there, else by position.
 *   values: x (rows, cols) row-major, finite; images as rows of pixels 0..255. */
DUET_API int duet_data_from_texts(duet_ctx *ctx, const char *name, const char *const *texts, int64_t n,
                                  const char *const *labels, duet_data **out, duet_err *err);
DUET_API int duet_data_from_table(duet_ctx *ctx, const char *name, const char *const *colnames, int64_t cols,
                                  const char *const *cells, int64_t rows, const char *const *labels, duet_data **out,
                                  duet_err *err);
DUET_API int duet_data_from_values(duet_ctx *ctx, const char *name, const float *x, int64_t rows, int64_t cols,
                                   const char *const *labels, duet_data **out, duet_err *err);
DUET_API void duet_data_free(duet_data *data);
DUET_API int64_t duet_data_rows(const duet_data *data);
/* A table's columns (the label's excluded); 0 for other kinds of data. */
DUET_API int64_t duet_data_columns(const duet_data *data);
DUET_API int duet_data_kind(const duet_data *data);
/* The label string of row i, or NULL when the data is unlabelled. */
DUET_API const char *duet_data_label(const duet_data *data, int64_t i);
/* Writes row i as it would be read back (text, or a CSV row) into buf; ERANGE if too small. */
DUET_API int duet_data_row_string(const duet_data *data, int64_t i, char *buf, size_t len,
                                  duet_err *err);
/* Splits rows into two new datasets: row i goes to `b` when (i % every) == every - 1
 * (every=5: every fifth row held out), else to `a`. */
DUET_API int duet_data_split_every(const duet_data *data, int64_t every, duet_data **a,
                                   duet_data **b, duet_err *err);

/* Writes image examples (DUET_DATA_DENSE with a known height and width, raw values 0..255)
 * as one PNG grid of `cols` columns (0: about square), or, when path ends with '/', one PNG
 * per image in that folder, made when missing (00000-label.png, ...). */
DUET_API int duet_data_write_png(duet_ctx *ctx, const duet_data *data, const char *path, int cols, duet_err *err);
/* Images first..first+count-1 as PNG bytes in memory (one grid, or the image alone when count
 * is 1): *out of *len bytes, free with duet_free. */
DUET_API int duet_data_png(duet_ctx *ctx, const duet_data *data, int64_t first, int64_t count, int cols, unsigned char **out,
                           size_t *len, duet_err *err);

/* --- models: training -------------------------------------------------------------------- */

typedef struct duet_model duet_model;

enum { /* what a model can do */
    DUET_CAN_PREDICT = 1 << 0, /* label and class probabilities */
    DUET_CAN_EXPLAIN = 1 << 1, /* per-feature contributions to a decision */
    DUET_CAN_SAMPLE = 1 << 2,  /* draw new examples */
    DUET_CAN_SCORE = 1 << 3    /* log-likelihood of an example */
};

enum { DUET_PENALTY_L2 = 2, DUET_PENALTY_L1 = 1 };
/* naive Bayes kinds; MIXED is for tables: a Gaussian per numeric column and a categorical
 * distribution per categorical one, missing values included (AUTO picks it for tables) */
enum { DUET_NB_AUTO = 0, DUET_NB_MULTINOMIAL, DUET_NB_BERNOULLI, DUET_NB_GAUSSIAN, DUET_NB_MIXED };
/* logreg solvers: AUTO is trust-region Newton for L2 on sparse features, L-BFGS otherwise
 * (dense features, where each Hessian product costs a full pass; and OWL-QN for L1) */
enum { DUET_SOLVER_AUTO = 0, DUET_SOLVER_NEWTON, DUET_SOLVER_LBFGS };
enum { DUET_ARCH_MLP = 0, DUET_ARCH_CONV };
enum { DUET_TEXT_TFIDF = 0, DUET_TEXT_COUNTS, DUET_TEXT_BINARY };
/* What the label is. AUTO: a number when every label is a finite number and they are not a few
 * whole-number codes (some value has a fraction, or there are more than 50 distinct values) and
 * the model can learn a number; classes otherwise. */
enum { DUET_TASK_AUTO = 0, DUET_TASK_CLASSIFICATION, DUET_TASK_REGRESSION };
/* gradient-boosted trees' loss: AUTO is log-loss for classes and squared error for numbers */
enum { DUET_OBJ_AUTO = 0, DUET_OBJ_LOGLOSS, DUET_OBJ_SQUARED, DUET_OBJ_ABSOLUTE, DUET_OBJ_QUANTILE, DUET_OBJ_POISSON };

typedef struct duet_train_params {
    const char *model;   /* "logreg", "linear", "gbdt", "svm", "nb", "mlp", ...; default "logreg"
                            for classes, "linear" for numbers */
    int task;            /* DUET_TASK_*: classes or a number (default: from the labels) */
    /* linear models */
    double C;            /* inverse regularisation; 0 = choose by cross-validation */
    int penalty;         /* DUET_PENALTY_L2 (default) or L1 */
    double tol;          /* solver tolerance; 0 = default */
    int max_iter;        /* 0 = default */
    int cv_folds;        /* folds for choosing C (and NB's alpha); 0 = default */
    int class_weight_balanced; /* 1: weight classes by n / (K * n_k) */
    int multinomial;     /* logreg with K > 2: 1 softmax, -1 one-vs-rest, 0 (default) softmax
                            unless K x D exceeds 4 million weights, then one-vs-rest */
    int solver;          /* logreg: DUET_SOLVER_*; NEWTON needs the L2 penalty */
    /* naive Bayes */
    int nb_kind;         /* DUET_NB_*; AUTO: multinomial for text/sparse, mixed for tables,
                            Gaussian otherwise */
    double alpha;        /* smoothing; 0 = choose by cross-validation */
    /* MLP */
    int hidden;          /* units per hidden layer; 0 = default (256) */
    int layers;          /* hidden layers; 0 = default (1) */
    int epochs;          /* 0 = default (30) */
    int batch;           /* 0 = default (128) */
    double lr;           /* Adam step; 0 = default (1e-3) */
    double l2;           /* weight decay; <0 = none, 0 = default (1e-4) */
    double val_split;    /* share held out for early stopping; 0 = default (0.1) */
    int patience;        /* epochs without improvement before stopping; 0 = default (5) */
    /* gradient-boosted trees (gbdt); `lr` (default 0.1), `val_split` (default 0.1) and
     * `patience` (default 20) above apply too */
    int rounds;          /* boosting rounds at most; 0 = default (1000, stopped early on the
                            held-out share; 100 without early stopping) */
    int early_stop;      /* 0 = default (on), -1 = off: all `rounds` on all rows */
    int leaves;          /* leaves per tree; 0 = default (31) */
    int depth;           /* largest depth; 0 = no limit */
    int min_leaf;        /* fewest rows in a leaf; 0 = default (20) */
    double reg_lambda;   /* L2 penalty on leaf values; 0 = default (1); < 0 none */
    double subsample;    /* share of rows each tree sees; 0 = default (1) */
    double colsample;    /* share of features each tree may split on; 0 = default (1) */
    int bins;            /* histogram bins per feature, 2..255; 0 = default (255) */
    int objective;       /* DUET_OBJ_* */
    double quantile;     /* DUET_OBJ_QUANTILE's level in (0, 1); 0 = default (0.5) */
    /* linear regression (linear): `penalty` (L2: ridge, the default; L1: lasso) and `alpha`
     * (chosen by cross-validation when 0) above apply; l1_ratio in (0, 1) makes it elastic-net */
    double l1_ratio;
    /* features: text */
    int text_mode;       /* DUET_TEXT_*; NB defaults to counts */
    int ngram_min, ngram_max;           /* word n-grams; 0 = default (1, 2) */
    int char_ngram_min, char_ngram_max; /* character n-grams (within words, padded by spaces);
                                          0 = default: 2-5 for short texts (mean <= 1000
                                          bytes) except naive Bayes, else off; -1 = off */
    int64_t hash_dims;   /* >0: hash features into this many columns (no vocabulary) */
    int min_df;          /* drop terms seen in fewer documents; 0 = default: 1, or 2 from
                            5000 documents up (rare n-grams then cost time, not accuracy) */
    int64_t max_features; /* keep the most frequent terms; 0 = no limit */
    int sublinear_tf;    /* 1: use 1 + log(tf) */
    int no_lowercase;    /* 1: keep case */
    /* features: tables and images */
    int no_scale;        /* 1: do not standardise numeric columns / scale pixels */
    /* image generative models (vae); `hidden`, `epochs`, `batch`, `lr` above apply too, with
     * defaults 400, 10, 128 and 1e-3 */
    int latent;          /* latent dimensions; 0 = default (20) */
    int arch;            /* vae: DUET_ARCH_MLP (default) or DUET_ARCH_CONV (convolutional encoder
                            and decoder ends; images of multiples of 4) */
    int conditional;     /* 1: learn p(x|y): draw images of a chosen class, classify by Bayes' rule */
    /* language models (gpt); `layers`, `batch`, `lr` and `l2` (weight decay) above apply too,
     * with defaults 4, 12, 1e-3 and 0.1 */
    int heads;           /* attention heads; 0 = default (4) */
    int dim;             /* model width; 0 = default (128) */
    int context;         /* tokens of context; 0 = default (64) */
    int64_t steps;       /* optimizer steps; 0 = default (2000) */
    int warmup;          /* steps of linear warm-up; 0 = default (100); < 0 none */
    int accum;           /* micro-batches per step (gradient accumulation); 0 = default (1) */
    double min_lr;       /* learning rate at the end of the cosine decay; 0 = default (lr / 10) */
    double grad_clip;    /* clip the gradient norm to this; 0 = default (1.0); < 0 none */
    int eval_every;      /* steps between validation-loss estimates; 0 = default (250) */
    int eval_batches;    /* batches per estimate; 0 = default (20) */
    double val_share;    /* share of the corpus (its end) held out; 0 = default (0.1) */
    int learned_pos;     /* 1: learned position embeddings; 0 (default): rotary (RoPE) */
    const char *tokenizer; /* "char" (default), "bpe" (learned on the corpus), or a folder
                              holding GPT-2's encoder.json and vocab.bpe */
    int vocab;           /* bpe: vocabulary size; 0 = default (512) */
    int64_t checkpoint_every; /* > 0: write `checkpoint` every so many steps */
    const char *checkpoint;   /* checkpoint path (weights, optimizer and random state) */
    const char *resume;       /* continue training from this checkpoint */
} duet_train_params;

DUET_API duet_train_params duet_train_params_default(void);
/* Fits the feature pipeline and the model on labelled data. Long: honours the abort hook. */
DUET_API int duet_model_train(duet_ctx *ctx, const duet_data *data, const duet_train_params *p,
                              duet_model **out, duet_err *err);
DUET_API void duet_model_free(duet_model *model);
/* The model duet_model_train fits on data with p: p->model, or when NULL the default for the
 * target (classes or a number); NULL when the settings are invalid for the data. */
DUET_API const char *duet_model_chosen(duet_ctx *ctx, const duet_data *data, const duet_train_params *p);

/* --- models: description ------------------------------------------------------------------ */

DUET_API const char *duet_model_name(const duet_model *model); /* "logreg", ... */
/* What it learns: "p(y|x)", "p(x|y)p(y)" or "p(x)". */
DUET_API const char *duet_model_learns(const duet_model *model);
DUET_API unsigned duet_model_caps(const duet_model *model); /* DUET_CAN_* mask */
/* What duet_model_score computes: "logp" (log-likelihood) or "elbo" (a lower bound of it). */
DUET_API const char *duet_model_score_name(const duet_model *model);
/* DUET_TASK_CLASSIFICATION or DUET_TASK_REGRESSION (0 for language models). */
DUET_API int duet_model_task(const duet_model *model);
/* Classes; 0 for a regressor (and a language model). */
DUET_API int duet_model_classes(const duet_model *model);
DUET_API const char *duet_model_class_name(const duet_model *model, int k);
DUET_API int64_t duet_model_features(const duet_model *model);
/* The columns of the table a model was trained on; 0 when it was not trained on a table. */
DUET_API int64_t duet_model_table_columns(const duet_model *model);
/* The name of table column i (its header, or "1", "2", ... when the data had none); NULL out of range. */
DUET_API const char *duet_model_table_column(const duet_model *model, int64_t i);
/* The kind of data the model reads (DUET_DATA_*), so callers can read new input the same way. */
DUET_API int duet_model_input_kind(const duet_model *model);
/* The model's training record and settings as key/value pairs: i from 0 until NULL. */
DUET_API const char *duet_model_meta_key(const duet_model *model, int i);
DUET_API const char *duet_model_meta_value(const duet_model *model, int i);

typedef struct duet_feature {
    char name[64];  /* feature name: a word or n-gram, "col=value", "col", "pixel[r,c]" */
    double value;   /* weight, contribution or log-likelihood ratio */
} duet_feature;

/* Models of trees: the n features whose splits gained most in total (by 0), or that were split
 * on most often (by 1), with that total; DUET_EUNSUPPORTED for other models. */
DUET_API int duet_model_importance(duet_ctx *ctx, const duet_model *model, int by, duet_feature *out, int n, int *n_out,
                                   duet_err *err);
/* The n features that weigh most for class k (a regressor's k is 0); *n_out receives how many
 * were written; DUET_EUNSUPPORTED when the model has no per-feature weights. */
DUET_API int duet_model_top_features(duet_ctx *ctx, const duet_model *model, int k,
                                     duet_feature *out, int n, int *n_out, duet_err *err);

/* --- models: prediction -------------------------------------------------------------------- */

/* Predicts every row: labels[N] (class indices) and, when proba is not NULL, proba[N*K]. */
DUET_API int duet_model_predict(duet_ctx *ctx, const duet_model *model, const duet_data *data,
                                int32_t *labels, float *proba, duet_err *err);
/* A regressor's prediction for every row into values (N); DUET_EINVAL for a classifier. */
DUET_API int duet_model_predict_values(duet_ctx *ctx, const duet_model *model, const duet_data *data, double *values,
                                       duet_err *err);
/* The n features that pushed row i towards class k most (positive) or away (negative); for a
 * regressor (k 0) those that raised its prediction most or lowered it. */
DUET_API int duet_model_explain(duet_ctx *ctx, const duet_model *model, const duet_data *data,
                                int64_t i, int k, duet_feature *out, int n, int *n_out,
                                duet_err *err);
/* Log-likelihood of each row in nats: log p(x) (marginal over classes for p(x|y)p(y)). */
DUET_API int duet_model_score(duet_ctx *ctx, const duet_model *model, const duet_data *data,
                              double *logp, duet_err *err);
/* Draws `count` new examples of class `label` (NULL: classes drawn from the prior). */
DUET_API int duet_model_sample(duet_ctx *ctx, const duet_model *model, const char *label,
                               int64_t count, uint64_t seed, duet_data **out, duet_err *err);
/* Settings of samplers that have them (diffusion); zero fields mean the model's defaults. */
typedef struct duet_sample_opts {
    double guidance;  /* classifier-free guidance weight w: (1 + w) eps(x, y) - w eps(x) */
    int steps;        /* sampler steps */
    int ddim;         /* 1: the deterministic DDIM sampler instead of DDPM's */
} duet_sample_opts;
DUET_API int duet_model_sample_ex(duet_ctx *ctx, const duet_model *model, const char *label, int64_t count,
                                  uint64_t seed, const duet_sample_opts *opts, duet_data **out, duet_err *err);

/* --- language models --------------------------------------------------------------------- */

/* Receives generated text as it is produced (a piece may end inside a UTF-8 character).
 * Return non-zero to stop. */
typedef int (*duet_text_fn)(void *user, const char *piece, size_t len);

typedef struct duet_gen_opts {
    const char *prompt;  /* text to continue; NULL or "" starts from the beginning of a text */
    int64_t n;           /* new tokens; default 256 */
    double temperature;  /* 0 = greedy (argmax); default 1 */
    int top_k;           /* keep the k most likely tokens; 0 = all */
    double top_p;        /* keep the smallest set with this much probability; 1 = all */
    uint64_t seed;       /* same seed, same text */
    const char *stop;    /* stop before this string appears (not printed); NULL = none */
} duet_gen_opts;

typedef struct duet_gen_stats {
    int64_t prompt_tokens, tokens;   /* tokens read, tokens generated */
    double prompt_seconds, seconds;  /* time for the prompt, time generating */
} duet_gen_stats;

DUET_API duet_gen_opts duet_gen_opts_default(void);
/* Continues a prompt with a language model (one whose input kind is DUET_DATA_CORPUS),
 * streaming text to fn; other models give DUET_EUNSUPPORTED. stats may be NULL. */
DUET_API int duet_model_generate(duet_ctx *ctx, const duet_model *model, const duet_gen_opts *opts,
                                 duet_text_fn fn, void *user, duet_gen_stats *stats, duet_err *err);

/* Receives one scored token: its text and log-probability (nats) given what precedes it. */
typedef int (*duet_token_fn)(void *user, const char *piece, size_t len, double logp);

typedef struct duet_lm_score {
    int64_t tokens;      /* tokens scored */
    double nll;          /* mean negative log-likelihood per token, nats */
    double perplexity;   /* exp(nll) */
} duet_lm_score;

/* Scores a text with a language model; fn (may be NULL) receives every token. */
DUET_API int duet_model_score_text(duet_ctx *ctx, const duet_model *model, const char *text, size_t len,
                                   duet_token_fn fn, void *user, duet_lm_score *out, duet_err *err);
/* A llama2.c checkpoint (legacy float32 format) with its tokenizer (tokenizer.bin format) as a
 * duet language model; save it with duet_model_save. */
DUET_API int duet_model_import_llama2c(duet_ctx *ctx, const char *checkpoint, const char *tokenizer,
                                       duet_model **out, duet_err *err);
/* An XGBoost model saved with save_model("model.json") as a duet gradient-boosted tree model
 * ("gbdt") that predicts the same margins and probabilities: gbtree boosters with the
 * objectives binary:logistic, binary:logitraw, reg:logistic, multi:softprob/softmax (at most 10
 * classes, named "0", "1", ...), reg:squarederror, reg:absoluteerror, count:poisson, reg:gamma,
 * reg:tweedie; numeric and categorical splits. It reads tables of XGBoost's features, matched by
 * the model's feature_names when the table has all of them, else by position. */
DUET_API int duet_model_import_xgboost(duet_ctx *ctx, const char *path, duet_model **out, duet_err *err);
/* The i-th kind of model duet trains ("logreg", "linear", "gbdt", ...), NULL past the last; its
 * one-line description; the kind duet_model_train fits by default for a task
 * (DUET_TASK_CLASSIFICATION or DUET_TASK_REGRESSION). */
DUET_API const char *duet_model_type(int i);
DUET_API const char *duet_model_type_about(const char *name);
DUET_API const char *duet_model_default(int task);
/* What the training option `option` ("--leaves") means to model `name` ("leaves per tree
 * (default 31)"), or NULL when that model does not read it. */
DUET_API const char *duet_model_option(const char *name, const char *option);
/* The kind of data a model of that name trains on (DUET_DATA_CORPUS for language models,
 * 0 for models that take any labelled data); -1 for an unknown name. */
DUET_API int duet_model_type_input(const char *name);

/* --- judging generated examples -------------------------------------------------------------- */

/* The features a model computes on the way to its decision (an MLP's last hidden layer) for
 * every row: *out (N, *dim) allocated with ctx (free with duet_free). */
DUET_API int duet_model_embed(duet_ctx *ctx, const duet_model *model, const duet_data *data, float **out,
                              int64_t *dim, duet_err *err);

typedef struct duet_judgement {
    int64_t n;          /* generated examples judged */
    double accuracy;    /* share the classifier assigns to the label they were generated for */
    double frechet;     /* Fréchet distance to the real examples in the classifier's features
                           (an FID on our own classifier, not Inception); NaN when not computed */
    int64_t dim, n_real;
} duet_judgement;

/* Judges generated examples (labelled with the class asked for) with a classifier; with real
 * examples (may be NULL) and a classifier that has hidden features, also the Fréchet distance. */
DUET_API int duet_judge(duet_ctx *ctx, const duet_model *classifier, const duet_data *generated,
                        const duet_data *real, duet_judgement *out, duet_err *err);

/* --- evaluation ------------------------------------------------------------------------------ */

typedef struct duet_metrics {
    int K;               /* classes; 0: a regressor's metrics (rmse ... mape; the others NaN) */
    int64_t n;           /* rows evaluated */
    double accuracy;
    double f1;           /* macro F1 */
    double precision;    /* macro precision */
    double recall;       /* macro recall */
    double log_loss;     /* mean negative log-likelihood of the true class */
    double roc_auc;      /* two classes only: AUC of class 1's probability; NaN otherwise */
    double *class_precision, *class_recall, *class_f1; /* [K] */
    int64_t *support;    /* [K] rows per true class */
    int64_t *confusion;  /* [K*K], row = true, column = predicted */
    char **class_names;  /* [K] */
    double accuracy_std, f1_std; /* across folds (cross-validation only) */
    /* regressors: root mean squared error, mean absolute error, coefficient of determination,
     * mean absolute percentage error (rows whose target is 0 left out; NaN when all are), root
     * mean squared logarithmic error (of counts and other targets >= 0, predictions below 0 taken
     * as 0; NaN when a target is negative) */
    double rmse, mae, r2, mape, rmsle;
    double rmse_std;     /* across folds (cross-validation only) */
} duet_metrics;

/* Predicts labelled data and compares with its labels; labels the model does not know
 * are an error. */
DUET_API int duet_model_eval(duet_ctx *ctx, const duet_model *model, const duet_data *data,
                             duet_metrics **out, duet_err *err);
/* K-fold cross-validation: trains on K-1 folds, evaluates on the rest, pools predictions. */
DUET_API int duet_cross_validate(duet_ctx *ctx, const duet_data *data,
                                 const duet_train_params *p, int folds, duet_metrics **out,
                                 duet_err *err);
DUET_API void duet_metrics_free(duet_ctx *ctx, duet_metrics *m);

/* --- model files ----------------------------------------------------------------------------- */

/* safetensors with duet's metadata; written atomically (temporary file, fsync, rename). */
DUET_API int duet_model_save(duet_ctx *ctx, const duet_model *model, const char *path,
                             duet_err *err);
/* The bytes duet_model_save would write (the model file's size), without writing it. */
DUET_API int duet_model_file_size(duet_ctx *ctx, const duet_model *model, int64_t *bytes, duet_err *err);
/* Validates every size and offset against the file before allocating. `ctx` must outlive
 * the model. */
DUET_API int duet_model_load(duet_ctx *ctx, const char *path, duet_model **out, duet_err *err);

/* --- generative models at work ---------------------------------------------------------------- */

/* Draws count examples of class label (NULL: classes from the model's prior) and writes them
 * where `duet train` reads them back: a table as CSV (the label last; a header unless the
 * training data had none), text as
 * label<TAB>text lines, images as an IDX pair (path, and beside it the labels: "images" and
 * "idx3" in the name become "labels" and "idx1", else path + ".labels"), a PNG grid (path ending .png) or one PNG each
 * (path ending /). opts: sampler settings (may be NULL). */
DUET_API int duet_model_synthesize(duet_ctx *ctx, const duet_model *model, const char *label, int64_t count,
                                   uint64_t seed, const duet_sample_opts *opts, const char *path, duet_err *err);
/* Generate, then filter: draws examples of `label` as duet_model_sample_ex does and keeps those
 * that the classifier clf gives class `keep` a probability of at least min_prob, drawing again
 * until count are kept or max_draws were drawn (0: 100 x count). *out holds the kept examples
 * (possibly fewer than count), *drawn how many were drawn: the acceptance rate is their ratio. */
DUET_API int duet_model_sample_filtered(duet_ctx *ctx, const duet_model *model, const char *label, int64_t count,
                                        uint64_t seed, const duet_sample_opts *opts, const duet_model *clf,
                                        const char *keep, double min_prob, int64_t max_draws, duet_data **out,
                                        int64_t *drawn, duet_err *err);
/* Fills the missing cells of a table with a generative model of it (naive Bayes on tables):
 * each cell's most likely value given the row's other cells and its label when the data has one
 * (draw 0), or a draw from that conditional (draw 1, seeded). Writes every row, completed, as
 * CSV to path (the label last when labelled; a header unless the training data had none);
 * *filled receives the cells filled. */
DUET_API int duet_model_impute(duet_ctx *ctx, const duet_model *model, const duet_data *data, int draw, uint64_t seed,
                               const char *path, int64_t *filled, duet_err *err);

/* A language model as a zero-shot classifier: every text of data (text rows) is put into
 * template in place of {text} and each of the nlab labels is scored as what follows ({label}
 * marks its place; without it the label follows the template after a space; NULL: the
 * template "{text}\nLabel: {label}"). P (N, nlab) receives the softmax of the labels'
 * log-probabilities; with calibrate, each label's log-probability after the content-free text
 * "N/A" is subtracted first (Zhao et al. 2021). A text with a character the model never saw
 * gets no evidence (P from the calibration alone). */
DUET_API int duet_lm_classify(duet_ctx *ctx, const duet_model *lm, const duet_data *data, const char *const *labels, int nlab,
                              const char *template_, int calibrate, float *P, duet_err *err);

/* Anomaly scores of every row (scores, N), higher for more unusual inputs, from a model that
 * scores (naive Bayes, the VAE, or a language model scoring each row's text):
 * DUET_ANOMALY_NLL is -log2 p(x), the raw likelihood in bits, which ranks inputs that are simply
 * simpler than the training data as usual however foreign they are (Nalisnick et al. 2019);
 * DUET_ANOMALY_RATIO subtracts the bits zlib needs for the raw input, a likelihood ratio against
 * a generic model of complexity (Serrà et al. 2020), for inputs of one size such as images;
 * DUET_ANOMALY_RATE divides by the input's bytes (bits per byte), for text, whose length varies;
 * DUET_ANOMALY_AUTO picks RATE for text and RATIO otherwise. */
enum { DUET_ANOMALY_AUTO = 0, DUET_ANOMALY_NLL, DUET_ANOMALY_RATIO, DUET_ANOMALY_RATE };
DUET_API int duet_model_anomaly(duet_ctx *ctx, const duet_model *model, const duet_data *data, int method,
                                double *scores, duet_err *err);
/* The area under the ROC curve of telling pos (e.g. anomalies) from neg by score, higher meaning
 * positive; ties count half. NaN when either side is empty or out of memory. */
DUET_API double duet_roc_auc(duet_ctx *ctx, const double *neg, int64_t n_neg, const double *pos, int64_t n_pos);

/* --- both families side by side ------------------------------------------------------------- */

/* Trains several classifiers, discriminative and generative, on one stratified training split
 * of labelled data and measures them on the held-out rest; then learning curves (error against
 * training-set size, Ng & Jordan's protocol) and a recommendation that names the trade-off.
 * When the label is a number (params.task, or numbers that are not a few class codes) it
 * compares the models that learn numbers (default: every one that does) by RMSE instead. */
typedef struct duet_compare_opts {
    const char *models;       /* comma-separated; NULL: text: logreg,svm,nb,mlp,clm; tables and
                                 LIBSVM: logreg,svm,nb,mlp; images: logreg,mlp,nb,vae (generative
                                 models run conditional) */
    double test_share;        /* share of each class held out; 0 = default 0.2 */
    const char *curve_models; /* learning curves of these; NULL: the compared logreg, svm and nb;
                                 "" = none */
    int curve_points;         /* training sizes on a geometric grid; 0 = default 6 */
    int curve_repeats;        /* random stratified subsets per size; 0 = default 5 */
    int64_t curve_min;        /* smallest size; 0 = max(20, 2 K) */
    int64_t curve_max;        /* largest size; 0 = the whole training split */
    duet_train_params params; /* settings every model gets (model is set per model; C and alpha
                                 are chosen by cross-validation when 0, and kept fixed along the
                                 curves) */
    const duet_model *lm;     /* a language model that classifies the text zero-shot beside the
                                 others (row "zero-shot"; duet_lm_classify); NULL: none */
    const char *lm_template;  /* its prompt; NULL: duet_lm_classify's default */
    const char *augment;      /* a class: the discriminative models are trained again with
                                 synthetic rows of it added, and measured against themselves;
                                 NULL: no augmentation */
    const char *augment_model; /* what draws the synthetic rows; NULL: "nb" */
    int64_t augment_count;    /* synthetic rows; 0: as many as the class has training rows */
} duet_compare_opts;
DUET_API duet_compare_opts duet_compare_opts_default(void);

typedef struct duet_compare_model {
    char name[32];            /* "logreg", "nb", ... */
    char learns[48];          /* "p(y|x)", "p(x|y)p(y)", ... */
    int generative;           /* 1: it learns p(x|y)p(y) or p(x) */
    int ok;                   /* 0: it could not be trained or evaluated here; error says why */
    char error[256];
    double accuracy, f1;      /* on the held-out rows; f1 is the macro average (NaN for numbers) */
    double rmse, mae, r2;     /* a number's: on the held-out rows (NaN for classes) */
    double fit_seconds;       /* training: features, cross-validation when it tunes, fit */
    double predict_us;        /* median time to predict one row alone, in microseconds */
    int64_t size_bytes;       /* the model file */
    int64_t peak_bytes;       /* the most bytes the library held at once, training to predicting
                                 (its own allocations; BLAS buffers and the data are not counted) */
    char tuned[64];           /* what cross-validation chose, "C=10" or "alpha=0.1", or "" */
} duet_compare_model;

/* One discriminative model trained on the real training rows ([0]), on them plus the
 * synthetic rows ([1]), and, as a control, on them plus as many real rows of the class drawn
 * again at random ([2]: plain oversampling), each measured on the same held-out rows. */
typedef struct duet_compare_augment {
    char name[32];
    int ok;
    char error[256];
    double accuracy[3], f1[3];         /* f1: macro average */
    double label_recall[3], label_f1[3]; /* of the augmented class */
    int64_t gained, lost;              /* held-out rows right only with / only without the synthetic rows */
    int significant;                   /* McNemar's test at about 5 %: |gained - lost| > 2 sqrt(gained + lost) */
    int64_t vs_dup_gained, vs_dup_lost; /* right only with the synthetic rows / only with the duplicated ones */
    int vs_dup_significant;
} duet_compare_augment;

typedef struct duet_compare_curve {
    char name[32];
    double *err_mean, *err_std; /* [n_sizes]: error rate (1 - accuracy), or a number's RMSE, over the repeats */
} duet_compare_curve;

typedef struct duet_compare {
    const char *data;         /* the data's name (lives as long as the data) */
    int K;                    /* classes; 0: the label is a number, the models regressors (compared
                                 by RMSE on a random held-out share) */
    int64_t n_train, n_test;
    int n_models;
    duet_compare_model *models;
    int n_sizes, repeats;     /* learning-curve sizes (the whole split: one subset only) */
    int64_t *sizes;
    int n_curves;
    duet_compare_curve *curves;
    char recommendation[1024];
    /* augmentation (opts.augment): n_augment models, augment_rows synthetic rows of
     * augment_label drawn by augment_model beside augment_real real ones; verdict in words */
    int n_augment;
    duet_compare_augment *augment;
    char augment_label[64], augment_model[32];
    int64_t augment_rows, augment_real;
    char augment_verdict[1024];
} duet_compare;

DUET_API int duet_compare_run(duet_ctx *ctx, const duet_data *data, const duet_compare_opts *opts,
                              duet_compare **out, duet_err *err);
DUET_API void duet_compare_free(duet_ctx *ctx, duet_compare *c);
/* The result as one JSON object ({"data": ..., "models": {"logreg": {...}, ...}, "curves": ...,
 * "recommendation": ...}); free with duet_free. NULL when out of memory. */
DUET_API char *duet_compare_json(duet_ctx *ctx, const duet_compare *c);
/* Writes dir/index.html (a self-contained page: tables, recommendation) and its PNG plots
 * (learning curves; accuracy against fit time); creates dir when missing. */
DUET_API int duet_compare_report(duet_ctx *ctx, const duet_compare *c, const char *dir, duet_err *err);

#ifdef __cplusplus
}
#endif
#endif /* DUET_H */
