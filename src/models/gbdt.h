/* gbdt.h — the state of a gradient-boosted tree model, shared by gbdt.c (training, prediction,
 * files) and xgboost.c (import of XGBoost's JSON models).
 * defines: gb_model (trees as flat node arrays), its node flags, and the helpers that grow,
 * check and free it.
 */
#ifndef DT_GBDT_H
#define DT_GBDT_H

#include "model.h"

#define GB_MAX_CATS 65536        /* categories of one feature */
#define GB_MAX_DEPTH 1000        /* trees from files: deeper ones are refused */

/* node flags: missing goes left; a categorical split (its set's categories go left); ... whose
 * set's categories go right instead, and every other category left (XGBoost's convention) */
enum { GB_LEFT = 1, GB_CAT = 2, GB_CAT_RIGHT = 4 };


typedef struct gb_model {
    int obj;                  /* DUET_OBJ_*, resolved */
    double quantile;
    int V;                    /* trees per round: K for more than two classes, else 1 */
    int64_t D;
    int64_t T;                /* trees */
    double *base;             /* (V) starting score */
    int64_t *start;           /* (T+1) first node of tree t */
    int64_t n_nodes, cap_nodes;
    int32_t *feat;            /* split feature, -1 for a leaf */
    float *thr;               /* numeric: x <= thr goes left */
    int32_t *left, *right;    /* children, indices within the tree (> the node's own) */
    uint8_t *flags;           /* GB_LEFT, GB_CAT */
    double *value;            /* leaf value (inner nodes: what they would predict) */
    double *cover;            /* hessian sum of the training rows that reached the node */
    double *gain;             /* split gain (0 for leaves) */
    int64_t *cat_at;          /* categorical nodes: first word of their set, else -1 */
    int32_t *cat_n;           /* ... and its words (category c goes left when bit c is set) */
    uint32_t *cat_words;
    int64_t n_words, cap_words;
    int depth;                /* deepest tree (TreeSHAP's path buffers) */
} gb_model;

void dt_gb_free(duet_ctx *ctx, void *state);
/* Room for `need` nodes. */
int dt_gb_grow_nodes(duet_ctx *ctx, gb_model *g, int64_t need, duet_err *err);
/* Checks every tree of g as a model file's must be (children later in their tree, features
 * below D, finite values, category sets inside cat_words, depth at most GB_MAX_DEPTH) and sets
 * g->depth; EFORMAT naming `where`, the tree and the node. */
int dt_gb_check(duet_ctx *ctx, gb_model *g, const char *where, duet_err *err);
/* The objective's name ("logloss", "squared", ...) and back (0 when unknown). */
const char *dt_gb_objective_name(int obj);
int dt_gb_objective(const char *name);

#endif /* DT_GBDT_H */
