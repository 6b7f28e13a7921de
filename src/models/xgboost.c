/* xgboost.c — an XGBoost model saved as JSON (save_model("model.json"), format of XGBoost 1.x
 * and 2.x) as a duet gbdt model, so that it predicts the same margins and probabilities.
 * Read from the file: learner_model_param (base_score in the objective's output space,
 * num_class, num_feature), objective.name, feature_names, and for every tree its
 * left_children / right_children (-1 at a leaf), split_indices, split_conditions (a numeric
 * split sends x < condition left; a leaf's condition is its value), default_left (missing
 * values), sum_hessian (the cover TreeSHAP weighs by), loss_changes, split_type (1:
 * categorical) with categories / categories_nodes / categories_segments / categories_sizes (the
 * categories listed go right, all others left), and tree_info (each tree's class).
 * Objectives: binary:logistic, binary:logitraw, reg:logistic (two classes), multi:softprob and
 * multi:softmax (classes), reg:squarederror, reg:linear, reg:pseudohubererror (numbers, identity
 * link), reg:absoluteerror, reg:quantileerror (one quantile), count:poisson, reg:gamma and
 * reg:tweedie (log link). Others, and dart or linear boosters, are refused by name.
 * Not here: prediction (gbdt.c) or the table of features it reads (data/).
 */
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>

#include "gbdt.h"

static const cJSON *field(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

/* A number that XGBoost may write as a string ("5E-1"). */
static int number(const cJSON *v, double *out) {
    if (cJSON_IsNumber(v)) return *out = v->valuedouble, 1;
    if (!cJSON_IsString(v) || !v->valuestring[0]) return 0;
    char *end;
    *out = strtod(v->valuestring, &end);
    return *end == 0;
}

typedef struct xgb_tree {
    const cJSON *left, *right, *feat, *cond, *dleft, *hess, *gain, *type, *cats, *cat_nodes, *cat_seg, *cat_size;
    int n;
} xgb_tree;

/* The i-th number of an array (bounds checked by the caller). */
static double at(const cJSON *a, int i) {
    const cJSON *v = cJSON_GetArrayItem(a, i);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int array_of(const cJSON *t, const char *k, int n, const cJSON **out, const char *where, int tree, duet_err *err) {
    *out = field(t, k);
    if (!cJSON_IsArray(*out) || (n >= 0 && cJSON_GetArraySize(*out) != n))
        return dt_err(err, DUET_EFORMAT, "%s: tree %d: '%s' is not an array of %d numbers", where, tree, k, n);
    return DUET_OK;
}

/* Appends XGBoost tree number `ti` to g, renumbered breadth-first so that children follow
 * their parents. */
static int add_tree(duet_ctx *ctx, gb_model *g, const cJSON *t, int ti, const char *fn, duet_err *err) {
    xgb_tree x;
    int rc = DUET_OK;
    int *order = NULL, *newid = NULL;
    const cJSON *l0 = field(t, "left_children");
    if (!cJSON_IsArray(l0) || cJSON_GetArraySize(l0) < 1)
        return dt_err(err, DUET_EFORMAT, "%s: tree %d has no 'left_children'", fn, ti);
    x.n = cJSON_GetArraySize(l0);
    if (x.n > (1 << 26)) return dt_err(err, DUET_EFORMAT, "%s: tree %d has %d nodes", fn, ti, x.n);
    DT_TRY(array_of(t, "left_children", x.n, &x.left, fn, ti, err));
    DT_TRY(array_of(t, "right_children", x.n, &x.right, fn, ti, err));
    DT_TRY(array_of(t, "split_indices", x.n, &x.feat, fn, ti, err));
    DT_TRY(array_of(t, "split_conditions", x.n, &x.cond, fn, ti, err));
    DT_TRY(array_of(t, "default_left", x.n, &x.dleft, fn, ti, err));
    DT_TRY(array_of(t, "sum_hessian", x.n, &x.hess, fn, ti, err));
    DT_TRY(array_of(t, "loss_changes", x.n, &x.gain, fn, ti, err));
    x.type = field(t, "split_type"); /* absent before categorical support */
    if (x.type && (!cJSON_IsArray(x.type) || cJSON_GetArraySize(x.type) != x.n))
        return dt_err(err, DUET_EFORMAT, "%s: tree %d: 'split_type' is not an array of %d numbers", fn, ti, x.n);
    x.cats = field(t, "categories"), x.cat_nodes = field(t, "categories_nodes");
    x.cat_seg = field(t, "categories_segments"), x.cat_size = field(t, "categories_sizes");
    int ncn = cJSON_IsArray(x.cat_nodes) ? cJSON_GetArraySize(x.cat_nodes) : 0;
    order = dt_alloc_e(ctx, (size_t)x.n, sizeof(int), "xgboost tree", err);
    newid = dt_alloc_e(ctx, (size_t)x.n, sizeof(int), "xgboost tree", err);
    if (!order || !newid) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    /* breadth-first from the root: every node reached once, children after parents */
    for (int i = 0; i < x.n; i++) newid[i] = -1;
    int head = 0, tail = 0;
    order[tail++] = 0, newid[0] = 0;
    while (head < tail) {
        int j = order[head++];
        double lf = at(x.left, j), rt = at(x.right, j);
        if (lf == -1 && rt == -1) continue;
        for (int c = 0; c < 2; c++) {
            double k = c ? rt : lf;
            if (!(k >= 1 && k < x.n) || k != floor(k) || newid[(int)k] >= 0) {
                rc = dt_err(err, DUET_EFORMAT, "%s: tree %d, node %d: child %g is not a node of the tree reached once", fn, ti, j, k);
                goto fail;
            }
            newid[(int)k] = tail;
            order[tail++] = (int)k;
        }
    }
    int64_t base = g->n_nodes;
    DT_TRY(dt_gb_grow_nodes(ctx, g, base + tail, err));
    for (int q = 0; q < tail; q++) {
        int j = order[q];
        int64_t n = base + q;
        int leaf = at(x.left, j) == -1;
        double cond = at(x.cond, j), f = at(x.feat, j), h = at(x.hess, j), gn = at(x.gain, j);
        double type = x.type ? at(x.type, j) : 0; /* compared as a number: a file's may be anything */
        g->feat[n] = -1, g->thr[n] = 0, g->left[n] = g->right[n] = -1, g->flags[n] = 0;
        g->value[n] = 0, g->cover[n] = isfinite(h) && h >= 0 ? h : 0, g->gain[n] = leaf || !isfinite(gn) ? 0 : gn;
        g->cat_at[n] = -1, g->cat_n[n] = 0;
        if (leaf) {
            if (!isfinite(cond)) {
                rc = dt_err(err, DUET_EFORMAT, "%s: tree %d, leaf %d: its value is not a finite number", fn, ti, j);
                goto fail;
            }
            g->value[n] = cond;
            continue;
        }
        if (!(f >= 0 && f < (double)g->D) || f != floor(f)) {
            rc = dt_err(err, DUET_EFORMAT, "%s: tree %d, node %d: split feature %g is not one of the model's %lld", fn, ti, j, f,
                        (long long)g->D);
            goto fail;
        }
        g->feat[n] = (int32_t)f;
        g->left[n] = newid[(int)at(x.left, j)], g->right[n] = newid[(int)at(x.right, j)]; /* within the tree */
        g->flags[n] = at(x.dleft, j) != 0 ? GB_LEFT : 0;
        if (type == 0) {
            if (isnan(cond)) {
                rc = dt_err(err, DUET_EFORMAT, "%s: tree %d, node %d: its split condition is not a number", fn, ti, j);
                goto fail;
            }
            /* XGBoost's float condition c sends x < c left: for float x, x <= the float below c */
            float c = cond > FLT_MAX ? INFINITY : cond < -FLT_MAX ? -INFINITY : (float)cond; /* no float overflow */
            g->thr[n] = nextafterf(c, -INFINITY);
            continue;
        }
        if (type != 1) {
            rc = dt_err(err, DUET_EFORMAT, "%s: tree %d, node %d: unknown split type %g", fn, ti, j, type);
            goto fail;
        }
        /* categorical: the node's listed categories go right */
        int k = 0;
        for (; k < ncn; k++)
            if (at(x.cat_nodes, k) == j) break;
        double seg = k < ncn ? at(x.cat_seg, k) : NAN, size = k < ncn ? at(x.cat_size, k) : NAN;
        int ncat = cJSON_IsArray(x.cats) ? cJSON_GetArraySize(x.cats) : 0;
        if (k == ncn || !(seg >= 0 && size >= 0 && seg + size <= ncat)) {
            rc = dt_err(err, DUET_EFORMAT, "%s: tree %d, node %d: a categorical split without its categories", fn, ti, j);
            goto fail;
        }
        double top = -1;
        for (int c = 0; c < (int)size; c++) {
            double v = at(x.cats, (int)seg + c);
            if (!(v >= 0 && v < GB_MAX_CATS) || v != floor(v)) {
                rc = dt_err(err, DUET_EFORMAT, "%s: tree %d, node %d: category %g is not a code in 0..%d", fn, ti, j, v, GB_MAX_CATS - 1);
                goto fail;
            }
            top = v > top ? v : top;
        }
        int64_t words = (int64_t)(top + 1 + 31) / 32;
        if (words < 1) words = 1;
        if (g->n_words + words > g->cap_words) {
            int64_t cap = g->cap_words ? g->cap_words : 64;
            while (cap < g->n_words + words) cap *= 2;
            uint32_t *w = dt_realloc(ctx, g->cat_words, (size_t)cap * sizeof(uint32_t));
            if (!w) {
                rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", fn);
                goto fail;
            }
            g->cat_words = w, g->cap_words = cap;
        }
        uint32_t *w = g->cat_words + g->n_words;
        memset(w, 0, (size_t)words * sizeof(uint32_t));
        for (int c = 0; c < (int)size; c++) {
            int64_t v = (int64_t)at(x.cats, (int)seg + c);
            w[v / 32] |= 1u << (v % 32);
        }
        g->flags[n] |= GB_CAT | GB_CAT_RIGHT;
        g->cat_at[n] = g->n_words, g->cat_n[n] = (int32_t)words;
        g->n_words += words;
    }
    g->n_nodes = base + tail;
fail:
    dt_free(ctx, order);
    dt_free(ctx, newid);
    return rc;
}

typedef struct xgb_obj {
    const char *name;
    int obj, classes; /* classes: 2 two, -1 num_class, 0 a number */
    int link;         /* base_score to margin: 0 identity, 1 logit, 2 log */
} xgb_obj;

static const xgb_obj objectives[] = {
    {"binary:logistic", DUET_OBJ_LOGLOSS, 2, 1},   {"binary:logitraw", DUET_OBJ_LOGLOSS, 2, 0},
    {"reg:logistic", DUET_OBJ_LOGLOSS, 2, 1},      {"multi:softprob", DUET_OBJ_LOGLOSS, -1, 0},
    {"multi:softmax", DUET_OBJ_LOGLOSS, -1, 0},    {"reg:squarederror", DUET_OBJ_SQUARED, 0, 0},
    {"reg:linear", DUET_OBJ_SQUARED, 0, 0},        {"reg:pseudohubererror", DUET_OBJ_SQUARED, 0, 0},
    {"reg:absoluteerror", DUET_OBJ_ABSOLUTE, 0, 0}, {"reg:quantileerror", DUET_OBJ_QUANTILE, 0, 0},
    {"count:poisson", DUET_OBJ_POISSON, 0, 2},     {"reg:gamma", DUET_OBJ_POISSON, 0, 2},
    {"reg:tweedie", DUET_OBJ_POISSON, 0, 2},
};

/* XGBoost writes NaN (and may write Infinity) bare, which JSON has no word for: outside strings
 * they become null (a categorical node's unused condition is NaN). A new buffer of *n bytes. */
static char *bare_words_to_null(duet_ctx *ctx, const char *s, size_t len, size_t *n) {
    char *o = dt_alloc(ctx, len + len / 3 + 8), *p = o;
    if (!o) return NULL;
    int str = 0;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (str) {
            *p++ = c, i++;
            if (c == '\\' && i < len) *p++ = s[i++];
            else if (c == '"') str = 0;
            continue;
        }
        if (c == '"') str = 1;
        static const char *const words[] = {"NaN", "-Infinity", "Infinity"};
        int hit = 0;
        for (int w = 0; w < 3 && !hit; w++) {
            size_t l = strlen(words[w]);
            if (len - i >= l && memcmp(s + i, words[w], l) == 0) {
                memcpy(p, "null", 4), p += 4, i += l, hit = 1;
            }
        }
        if (!hit) *p++ = c, i++;
    }
    *n = (size_t)(p - o);
    return o;
}

int dt_gbdt_import_xgboost(duet_ctx *ctx, const char *path, duet_model **out, duet_err *err) {
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = dt_read_file(ctx, path, &buf, &len, err);
    if (rc) return rc;
    duet_model *m = NULL;
    gb_model *g = NULL;
    char **names = NULL;
    size_t jl = 0;
    char *jb = bare_words_to_null(ctx, buf, len, &jl);
    cJSON *j = jb ? cJSON_ParseWithLength(jb, jl) : NULL;
    if (!jb) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (!j) {
        rc = dt_err(err, DUET_EFORMAT, "%s: not JSON (near byte %lld)", path,
                    (long long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - jb : 0));
        goto fail;
    }
    const cJSON *L = field(j, "learner");
    const cJSON *mp = field(L, "learner_model_param"), *ob = field(L, "objective"), *gbm = field(L, "gradient_booster");
    if (!cJSON_IsObject(L) || !cJSON_IsObject(mp) || !cJSON_IsObject(ob) || !cJSON_IsObject(gbm)) {
        rc = dt_err(err, DUET_EFORMAT, "%s: not an XGBoost JSON model (no learner with learner_model_param, objective and "
                    "gradient_booster)", path);
        goto fail;
    }
    const cJSON *bn = field(gbm, "name"), *on = field(ob, "name");
    if (!cJSON_IsString(bn) || strcmp(bn->valuestring, "gbtree") != 0) {
        rc = dt_err(err, DUET_EUNSUPPORTED, "%s: booster '%s': only gbtree models are read (not dart or gblinear)", path,
                    cJSON_IsString(bn) ? bn->valuestring : "?");
        goto fail;
    }
    const xgb_obj *xo = NULL;
    for (size_t i = 0; cJSON_IsString(on) && i < sizeof objectives / sizeof *objectives; i++)
        if (strcmp(on->valuestring, objectives[i].name) == 0) xo = &objectives[i];
    if (!xo) {
        rc = dt_err(err, DUET_EUNSUPPORTED, "%s: objective '%s' is not one duet reads (binary:logistic, multi:softprob, "
                    "reg:squarederror, count:poisson, ...)", path, cJSON_IsString(on) ? on->valuestring : "?");
        goto fail;
    }
    double base, nclass, nfeat, ntarget = 1;
    if (!number(field(mp, "base_score"), &base) || !number(field(mp, "num_class"), &nclass) ||
        !number(field(mp, "num_feature"), &nfeat) || (field(mp, "num_target") && !number(field(mp, "num_target"), &ntarget))) {
        rc = dt_err(err, DUET_EFORMAT, "%s: learner_model_param lacks base_score, num_class or num_feature as numbers", path);
        goto fail;
    }
    if (!(nfeat >= 1 && nfeat <= (1 << 30)) || nfeat != floor(nfeat) || !(nclass >= 0 && nclass <= 100000) || ntarget != 1) {
        rc = dt_err(err, DUET_EFORMAT, "%s: num_feature %g, num_class %g or num_target %g is out of range", path, nfeat, nclass,
                    ntarget);
        goto fail;
    }
    int K = xo->classes == 2 ? 2 : xo->classes < 0 ? (int)nclass : 0;
    if (xo->classes < 0 && K < 2) {
        rc = dt_err(err, DUET_EFORMAT, "%s: %s with num_class %g", path, xo->name, nclass);
        goto fail;
    }
    double margin = base;
    if (xo->link == 1) {
        if (!(base > 0 && base < 1)) {
            rc = dt_err(err, DUET_EFORMAT, "%s: base_score %g is not a probability", path, base);
            goto fail;
        }
        margin = log(base / (1 - base));
    } else if (xo->link == 2) {
        if (!(base > 0)) {
            rc = dt_err(err, DUET_EFORMAT, "%s: base_score %g is not above 0 for a log link", path, base);
            goto fail;
        }
        margin = log(base);
    }
    if (!isfinite(margin)) {
        rc = dt_err(err, DUET_EFORMAT, "%s: base_score is not a finite number", path);
        goto fail;
    }
    const cJSON *model = field(gbm, "model"), *trees = field(model, "trees"), *info = field(model, "tree_info");
    int T = cJSON_IsArray(trees) ? cJSON_GetArraySize(trees) : -1;
    if (T < 0 || !cJSON_IsArray(info) || cJSON_GetArraySize(info) != T) {
        rc = dt_err(err, DUET_EFORMAT, "%s: gradient_booster.model lacks 'trees' and a 'tree_info' of the same length", path);
        goto fail;
    }
    DT_TRY(dt_model_new(ctx, &dt_gbdt_ops, &m, err));
    m->K = K;
    m->D = (int64_t)nfeat;
    if (!(g = dt_calloc(ctx, 1, sizeof *g))) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    g->obj = xo->obj;
    g->quantile = 0.5;
    g->V = K > 2 ? K : 1;
    g->D = m->D;
    if (T % g->V) {
        rc = dt_err(err, DUET_EFORMAT, "%s: %d trees for %d classes", path, T, g->V);
        goto fail;
    }
    g->base = dt_alloc_e(ctx, (size_t)g->V, sizeof(double), "xgboost", err);
    g->start = dt_alloc_e(ctx, (size_t)T + 1, sizeof(int64_t), "xgboost", err);
    if (!g->base || !g->start) {
        rc = DUET_ENOMEM;
        goto fail;
    }
    for (int v = 0; v < g->V; v++) g->base[v] = margin;
    /* duet's layout: tree t belongs to class t mod V; XGBoost writes rounds of one tree per
     * class in class order, which is that */
    const cJSON *t = trees->child, *ti = info->child;
    for (int k = 0; k < T; k++, t = t->next, ti = ti->next) {
        if (!cJSON_IsNumber(ti) || ti->valuedouble != (double)(k % g->V)) {
            rc = dt_err(err, DUET_EUNSUPPORTED, "%s: tree %d belongs to class %g; duet reads models whose trees go round the "
                        "classes in order (num_parallel_tree 1)", path, k, cJSON_IsNumber(ti) ? ti->valuedouble : -1.0);
            goto fail;
        }
        g->start[k] = g->n_nodes;
        DT_TRY(add_tree(ctx, g, t, k, path, err));
        g->T = k + 1;
        g->start[k + 1] = g->n_nodes;
    }
    g->T = T;
    if (!g->cat_words && !(g->cat_words = dt_calloc(ctx, 1, sizeof(uint32_t)))) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    DT_TRY(dt_gb_check(ctx, g, path, err));
    /* the features: XGBoost's names when it has them */
    const cJSON *fnames = field(L, "feature_names");
    int64_t D = m->D;
    if (cJSON_IsArray(fnames) && cJSON_GetArraySize(fnames) == D) {
        names = dt_calloc(ctx, (size_t)D, sizeof(char *));
        if (!names) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        int64_t i = 0;
        for (const cJSON *it = fnames->child; it; it = it->next, i++) {
            if (!cJSON_IsString(it) || !it->valuestring[0]) {
                rc = dt_err(err, DUET_EFORMAT, "%s: feature name %lld is not a string", path, (long long)i + 1);
                goto fail;
            }
            names[i] = it->valuestring;
        }
    }
    DT_TRY(dt_pipe_raw_numbers(ctx, (const char *const *)names, D, &m->pipe, err));
    if (K) {
        m->classes = dt_calloc(ctx, (size_t)K, sizeof(char *));
        if (!m->classes) {
            rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        /* classes 0..K-1 as text, sorted as duet sorts class names (byte order) */
        char **cls = m->classes;
        for (int k = 0; k < K; k++) {
            char num[16];
            snprintf(num, sizeof num, "%d", k);
            if (!(cls[k] = dt_pool_strdup(&m->pool, num))) {
                rc = dt_err(err, DUET_ENOMEM, "%s: out of memory", path);
                goto fail;
            }
        }
        if (K > 10) { /* "10" sorts before "2": XGBoost's class k is not duet's k */
            rc = dt_err(err, DUET_EUNSUPPORTED, "%s: %d classes; duet imports XGBoost models of at most 10 classes", path, K);
            goto fail;
        }
    }
    dt_model_meta_set(m, "imported_from", "%s (XGBoost %s)", path, "JSON");
    dt_model_meta_set(m, "objective", "%s (XGBoost %s)", dt_gb_objective_name(g->obj), xo->name);
    dt_model_meta_set(m, "trees", "%lld", (long long)g->T);
    if (K) dt_model_meta_set(m, "task", "classification");
    else dt_model_meta_set(m, "task", "regression");
    m->state = g;
    g = NULL;
    *out = m;
    m = NULL;
fail:
    dt_gb_free(ctx, g);
    dt_model_free(m);
    dt_free(ctx, names);
    cJSON_Delete(j);
    dt_free(ctx, jb);
    dt_free(ctx, buf);
    return rc;
}
