/* model.h — the model interface every model fills, and struct duet_model.
 * defines: dt_model_ops (a table of function pointers and a capability mask: what the model
 * learns decides what it can do), dt_fit_args, the registry (dt_model_find) and helpers
 * shared by models (class weights, meta entries).
 *
 * A model sees only numeric features (dt_mat) and a target per row: a class index, or a number
 * (a regressor's; K == 0). The feature pipeline and label names are handled around it by api.c,
 * which gives each model the features it asks for (dt_model_ops.features).
 */
#ifndef DT_MODEL_H
#define DT_MODEL_H

#include <stddef.h>

#include "../core/dt.h"
#include "../data/data.h"
#include "../io/safetensors.h"

typedef struct dt_fit_args {
    const dt_mat *X;           /* (N, D) features */
    const int32_t *y;          /* (N) class indices 0..K-1 (classifiers) */
    int K;                     /* classes, >= 2; 0: the target is a number, t */
    const double *sw;          /* (N) sample weights (class weights), or NULL for all 1 */
    const duet_train_params *p;
    int verbose;               /* 1: log progress lines through ctx */
    const double *t;           /* (N) finite targets when K == 0, else NULL */
} dt_fit_args;

/* A training option a model reads and what it means to it ("--leaves", "leaves per tree
 * (default 31)"): `duet train --help` shows each under the models that read it. */
typedef struct dt_option {
    const char *name, *help;
} dt_option;

typedef struct dt_model_ops {
    const char *name;          /* "logreg" */
    const char *learns;        /* "p(y|x)", "p(x|y)p(y)", "p(x)" */
    unsigned caps;             /* DUET_CAN_* */
    const char *about;         /* one line for `duet info` and --help */
    const char *score_name;    /* what score computes: NULL for "logp" (exact), "elbo" (a bound) */

    /* Fits m->state from args (K, D known from args). Validates its own parameters. */
    int (*fit)(duet_ctx *ctx, duet_model *m, const dt_fit_args *a, duet_err *err);
    /* Bytes the fit will hold at its peak beyond the data, estimated from K, D and the
     * parameters, so that work too large for the machine is refused before it starts. NULL
     * when small or not known. */
    double (*fit_bytes)(const duet_model *m, const dt_fit_args *a);
    /* 1: fit combines its sums with dt_reduce, so it trains data-parallel (each process on a
     * share of the rows; see duet_ctx_set_distributed) */
    int distributed;
    /* Regressors (K == 0): one number per row of X into v (N). NULL for models that learn only
     * classes. */
    int (*predict_values)(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *v, duet_err *err);
    /* P (N, K) class probabilities for every row of X. */
    int (*predict_proba)(duet_ctx *ctx, const duet_model *m, const dt_mat *X, float *P,
                         duet_err *err);
    /* Contribution of each stored feature of row i to class k (a regressor's k is 0): writes up
     * to nnz(row i) (D for models of raw features) (feature index, value) pairs into feat/val,
     * *n = count. NULL when it cannot explain. */
    int (*explain)(duet_ctx *ctx, const duet_model *m, const dt_mat *X, int64_t i, int k,
                   int64_t *feat, double *val, int64_t *n, duet_err *err);
    /* Models of trees: every feature's total split gain and split count (D each). NULL if none. */
    int (*importance)(const duet_model *m, double *gain, int64_t *splits);
    /* Weight of every feature for class k, val (D), for "top features". NULL if none. */
    int (*feature_weights)(duet_ctx *ctx, const duet_model *m, int k, double *val,
                           duet_err *err);
    /* log p(x) per row (N), or a lower bound of it (score_name "elbo"). NULL when it cannot score. */
    int (*score)(duet_ctx *ctx, const duet_model *m, const dt_mat *X, double *logp,
                 duet_err *err);
    /* Draws one example of class *k into the feature space: x (D) dense. *k < 0: the model
     * draws the class from its prior and writes it to *k. o: sampler settings (never NULL;
     * zeros mean the model's defaults; models without a sampler ignore them). NULL if it
     * cannot sample. */
    int (*sample)(duet_ctx *ctx, const duet_model *m, int *k, dt_rng *rng, const duet_sample_opts *o, float *x,
                  duet_err *err);
    /* Fills the missing columns of one table row: x (D) its features, miss (one flag per column
     * of the table) which cells are missing, k its class or -1 when unknown; draw 0 writes each
     * missing column's most likely value given the rest, 1 a draw from that conditional (r).
     * out (D) receives the completed features. NULL when it cannot. */
    int (*impute)(duet_ctx *ctx, const duet_model *m, const float *x, const unsigned char *miss, int k, int draw,
                  dt_rng *r, float *out, duet_err *err);
    /* Features the model computes on the way to its decision (an MLP's last hidden layer), E
     * (N, *dim), for Fréchet distances; *dim alone when E is NULL. NULL when it has none. */
    int (*embed)(duet_ctx *ctx, const duet_model *m, const dt_mat *X, float *E, int64_t *dim, duet_err *err);
    /* Adds the model's tensors and metadata (prefix "model.") to w. */
    int (*save)(const duet_model *m, dt_st_writer *w, duet_err *err);
    /* Fills m->state from f; K and D are already set on m and must be checked. */
    int (*load)(duet_ctx *ctx, duet_model *m, const dt_st_file *f, duet_err *err);
    void (*free_state)(duet_ctx *ctx, void *state);
    /* The hyperparameter chosen by cross-validation when the user gives none: its name ("C"),
     * the duet_train_params field it sets (tune_field: offsetof, a double; 0 there means "choose
     * it"), and its grid; NULL when none is tuned. See dt_tuned_param. */
    const char *tune;
    size_t tune_field;
    /* Optional: *applies = 0 when the tuned parameter does not apply to this fit (naive Bayes'
     * alpha for Gaussian features), so no time is spent choosing it; a status (it may combine
     * sums across processes). NULL: it always applies. */
    int (*tunes)(const duet_model *m, const dt_fit_args *a, int *applies, duet_err *err);
    const double *tune_grid;
    int tune_n;

    /* 1: fit honours duet_train_params.checkpoint, checkpoint_every and resume (ckpt.c) */
    int resumable;

    /* --- what the program needs to know of the model: api.c, compare.c, cli/ and server/ read
     * these and never name a model --- */
    const char *title;         /* in sentences: "logistic regression", "the linear SVM" */
    const dt_option *options;  /* the training options it reads beyond the shared ones, NULL-ended */
    unsigned targets;          /* DT_TARGET_*: what it learns (0 means classes only) */
    int features;              /* DT_FEATURES_* (data.h): scaled and one-hot, or raw for trees */
    unsigned roles;            /* DT_ROLE_*: the one model duet train fits when none is named, ... */
    unsigned compare_on;       /* data kinds (1 << DUET_DATA_*) compare includes it on by default */
    int quick;                 /* 1: fits in a fraction of a second on thousands of rows (compare's
                                  default learning curves) */
    int compare_conditional;   /* 1: compare trains it class-conditional, a classifier by Bayes' rule */
    const char *versus;        /* a generative classifier's discriminative twin (naive Bayes: logreg,
                                  Ng & Jordan 2001): compare says where their learning curves cross */
    int text_counts;           /* 1: text features are term counts by default (else TF-IDF) */
    int words_only;            /* 1: no character n-grams by default (others add 2-5-grams on short texts) */
    unsigned solvers;          /* the --solver values it takes besides auto (1 << DUET_SOLVER_*) */
    int archs;                 /* 1: --arch chooses its architecture (mlp or conv) */

    /* Models of raw labelled text (raw_text 1: no feature pipeline, D = 0): fit_text trains on
     * texts (N) with classes y; predict_text writes P (N, K). The class-conditional language
     * model. 0 and NULL for the others. */
    int raw_text;
    int (*fit_text)(duet_ctx *ctx, duet_model *m, const char *const *texts, const int32_t *y, int64_t N, int K,
                    const duet_train_params *p, duet_err *err);
    int (*predict_text)(duet_ctx *ctx, const duet_model *m, const char *const *texts, int64_t N, float *P, duet_err *err);

    /* Language models: they train on one running text (input == DUET_DATA_CORPUS) instead of
     * labelled rows, and have no classes or feature pipeline. 0 and NULL for the others. */
    int input;
    int (*fit_corpus)(duet_ctx *ctx, duet_model *m, const char *src, const char *text, size_t len,
                      const duet_train_params *p, duet_err *err);
    int (*generate)(duet_ctx *ctx, const duet_model *m, const duet_gen_opts *o, duet_text_fn fn, void *user,
                    duet_gen_stats *st, duet_err *err);
    int (*score_text)(duet_ctx *ctx, const duet_model *m, const char *text, size_t len, duet_token_fn fn,
                      void *user, duet_lm_score *out, duet_err *err);
} dt_model_ops;

#define DT_MAX_META 32

struct duet_model {
    duet_ctx *ctx;             /* must outlive the model */
    const dt_model_ops *ops;
    dt_pipe *pipe;             /* featurizer fitted on the training data */
    int K;                     /* classes */
    int64_t D;                 /* features (== dt_pipe_dim(pipe)) */
    char **classes;            /* (K) label names, in pool */
    dt_pool pool;
    int n_meta;                /* training record: "n_train", "C", "cv_accuracy", ... */
    char *meta_key[DT_MAX_META], *meta_val[DT_MAX_META]; /* in pool */
    void *state;               /* the model's own */
};

/* The training rows rows[0..n) of a: a new matrix *X (free with dt_mat_free) and their labels
 * and weights written into y (n) and sw (n; skipped when a->sw is NULL). */
int dt_fit_rows(duet_ctx *ctx, const dt_fit_args *a, const int64_t *rows, int64_t n, dt_mat *X, int32_t *y,
                double *sw, duet_err *err);
/* The same for a regressor's rows (a->K == 0): their targets into t (n). */
int dt_fit_rows_t(duet_ctx *ctx, const dt_fit_args *a, const int64_t *rows, int64_t n, dt_mat *X, double *t,
                  double *sw, duet_err *err);

/* The sorted distinct labels of d become m->classes (m->K); y (N) receives each row's class
 * (api.c). Fewer than two classes, or more than 100000, are an error naming the data. */
int dt_collect_classes(duet_model *m, const duet_data *d, int32_t *y, duet_err *err);
/* Stratified fold of every row (fold, N): the rows of each class shuffled (seed) and dealt
 * round-robin over `folds`; tmp (N) is scratch (api.c). */
void dt_stratified_folds(const int32_t *y, int64_t N, int K, int folds, uint64_t seed, int64_t *tmp, int *fold);

/* 1 in *regress when training on d with p learns a number (api.c: p->task, the model, the labels). */
int dt_learns_number(duet_ctx *ctx, const duet_data *d, const duet_train_params *p, int *regress, duet_err *err);

/* Plain folds (numbers): the rows 0..N-1 shuffled by seed into perm (N); then fold f of `folds`
 * (the shuffled positions j with j mod folds == f) into te, the other rows into tr (api.c). */
void dt_shuffled_rows(uint64_t seed, int64_t N, int64_t *perm);
void dt_fold_split(const int64_t *perm, int64_t N, int folds, int f, int64_t *tr, int64_t *ntr, int64_t *te, int64_t *nte);

/* The index of class `label` (a trailing '.' forgiven, as UCI Adult's test labels have one), or
 * -1 (api.c). */
int dt_model_class(const duet_model *m, const char *label);
/* Samples of a model of a table (duet_model_sample: labelled rows of CSV text) read back as a
 * table with the model's columns, as `duet train` reads a synthesized file (synth.c). */
int dt_samples_table(duet_ctx *ctx, const duet_model *m, const duet_data *s, duet_data **out, duet_err *err);

/* A new empty model of that kind; dt_model_free frees it and its state. */
int dt_model_new(duet_ctx *ctx, const dt_model_ops *ops, duet_model **out, duet_err *err);
void dt_model_free(duet_model *m);
/* Adds a model's metadata, pipeline and tensors to w (the model file, or a checkpoint). */
int dt_model_write(const duet_model *m, dt_st_writer *w, duet_err *err);
/* The model stored in an open model file (checked against the file before use). */
int dt_model_from_file(duet_ctx *ctx, const dt_st_file *f, duet_model **out, duet_err *err);

/* --- training checkpoints (ckpt.c) --------------------------------------------------------- */

#define DT_CKPT_MAX_BUF 8

/* One named 1-D buffer of training state ("opt.m", "opt.order"): n elements of dtype. */
typedef struct dt_ckpt_buf {
    const char *name;
    int dtype;       /* DT_F32, DT_I64 ... */
    void *data;      /* reading: NULL = allocate it with the file's size (the caller frees it) */
    size_t n;        /* reading: 0 = any size (set from the file) */
} dt_ckpt_buf;

typedef struct dt_ckpt {
    int64_t step;    /* optimizer steps taken */
    int64_t epoch;   /* models that train in epochs: the epoch in progress (from 1); else 0 */
    int64_t pos;     /* ... and the next position in that epoch's row order */
    double sum[2];   /* ... and the loss(es) summed over the epoch so far */
    dt_rng rng;      /* the training generator */
    dt_ckpt_buf buf[DT_CKPT_MAX_BUF];
    int nbuf;
} dt_ckpt;

/* Writes m (as dt_model_write does) and c's state to path, atomically. */
int dt_ckpt_write(duet_ctx *ctx, const duet_model *m, const dt_ckpt *c, const char *path, duet_err *err);
/* Reads a checkpoint to resume training a model like `like`: the same kind and, when like has
 * classes, the same classes and features. *state receives the model's state (the caller owns
 * it); c's counters, generator and each of its buffers (names, dtypes and sizes set by the
 * caller) are filled. Messages name the file. */
int dt_ckpt_read(duet_ctx *ctx, const duet_model *like, const char *path, dt_ckpt *c, void **state, duet_err *err);
/* Where training starts: c as read from a checkpoint when resume, else the beginning (step 0,
 * epoch 1, position 0, sums 0) with the generator seeded by seed. */
void dt_ckpt_start(dt_ckpt *c, int resume, uint64_t seed);
/* Checks that order (N) read from checkpoint `path` is a permutation of 0..N-1, and that the
 * position c->epoch / c->pos lies within `epochs` epochs of N rows; EFORMAT naming the file. */
int dt_ckpt_check_epoch(duet_ctx *ctx, const dt_ckpt *c, const int64_t *order, int64_t N, int epochs, const char *path,
                        duet_err *err);

/* Looks a model up by name; NULL when unknown. */
const dt_model_ops *dt_model_find(const char *name);
/* Names of all models, comma-separated, for messages. */
const char *dt_model_names(void);

/* Roles a model can hold (dt_model_ops.roles), each held by exactly one model. */
enum {
    DT_ROLE_DEFAULT = 1, /* duet train fits it when no model is named */
    DT_ROLE_AUGMENT = 2, /* compare --augment draws synthetic rows from it unless told otherwise */
    DT_ROLE_REGRESS = 4, /* duet train fits it when no model is named and the target is a number */
};
/* What a model learns (dt_model_ops.targets). */
enum { DT_TARGET_CLASS = 1, DT_TARGET_NUMBER = 2 };
static inline unsigned dt_model_targets(const dt_model_ops *ops) { return ops->targets ? ops->targets : DT_TARGET_CLASS; }
/* The model that holds role (never NULL: the registry gives every role to one model). */
const dt_model_ops *dt_model_for(unsigned role);
/* The i-th model of the registry (in the order compare lists them), NULL past the last. */
const dt_model_ops *dt_model_at(int i);
/* Names of the models keep(ops, arg) accepts (NULL: all), in the registry's order, joined by sep,
 * written into buf (empty when none is); buf is returned. */
const char *dt_model_names_if(int (*keep)(const dt_model_ops *ops, const void *arg), const void *arg, const char *sep,
                              char *buf, size_t cap);

/* The training setting ops tunes, in p (a double: 0 means "choose it by cross-validation");
 * NULL when the model tunes none. */
static inline double *dt_tuned_param(const dt_model_ops *ops, duet_train_params *p) {
    return ops->tune ? (double *)(void *)((char *)p + ops->tune_field) : NULL;
}
/* Records a training fact shown by `duet info` and saved in the file (replaces same key). */
int dt_model_meta_set(duet_model *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *dt_model_meta_get(const duet_model *m, const char *key);

/* Test hook (gan.c): central differences against the GAN's backward passes on a random tiny
 * network; *worst <= 1 when every sampled gradient is within tolerance. */
int dt_gan_gradcheck(duet_ctx *ctx, int H, int W, int K, double *worst, duet_err *err);
/* The same for the VAE (vae.c) on 8x8 images: MLP (conv 0) or convolutional, K classes fed to
 * the decoder (0: unconditional). */
int dt_vae_gradcheck(duet_ctx *ctx, int conv, int K, double *worst, duet_err *err);

/* Gradient-boosted trees (gbdt.c): exact TreeSHAP values of row x (D values) for tree set v (a
 * class beyond two classes, else 0) into phi (D + 1, the last the expected value), and the same
 * by brute force over all subsets of at most 16 features (the reference the tests compare). */
int dt_gbdt_shap(duet_ctx *ctx, const duet_model *m, const float *x, int v, double *phi, duet_err *err);
int dt_gbdt_shap_reference(duet_ctx *ctx, const duet_model *m, const float *x, int v, double *phi, duet_err *err);
/* An XGBoost model saved as JSON, as a gbdt model whose features are the table columns
 * XGBoost's features are, by name when it has them (xgboost.c). */
int dt_gbdt_import_xgboost(duet_ctx *ctx, const char *path, duet_model **out, duet_err *err);
/* Linear regression's objective at w (D + 1, the intercept last) in scikit-learn's terms (Ridge,
 * Lasso, ElasticNet: see linreg.c), for tests against it. */
double dt_linreg_objective(const duet_train_params *p, double alpha, const dt_mat *X, const double *t, const double *sw,
                           const double *w);

/* The training options gpt reads (the class-conditional language model reads them too). */
extern const dt_option dt_gpt_options[];

extern const dt_model_ops dt_logreg_ops, dt_svm_ops, dt_nb_ops, dt_mlp_ops, dt_vae_ops, dt_gan_ops, dt_gpt_ops, dt_diffusion_ops,
    dt_clm_ops, dt_gbdt_ops, dt_linreg_ops;

#endif /* DT_MODEL_H */
