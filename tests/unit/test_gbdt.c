/* test_gbdt.c — gradient-boosted trees (models/gbdt.c) through the public API: the trees of a
 * few rounds against a plain reference (exhaustive leaf-wise search over every threshold between
 * distinct values, missing values left and right), exact TreeSHAP against the brute-force
 * reference and duet_model_explain, the same model whatever the thread count, model files (round
 * trip; damaged files refused naming the file), the objectives (quantile, Poisson, absolute,
 * log-loss over three classes), native categorical splits, sparse input against dense, and bad
 * parameters and targets.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>

#include "io/safetensors.h"
#include "models/model.h"
#include "test.h"

/* --- tables built in memory ------------------------------------------------------------------ */

typedef struct tab {
    int64_t N, C;
    char *buf;            /* (N, C) cells of 32 bytes */
    const char **cells;   /* (N, C) into buf, or "" / "?" when missing */
    char *lbuf;           /* (N) labels of 32 bytes */
    const char **labels;
    const char **names;   /* (C) */
} tab;

static const char *COLNAMES[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"};

static void tab_init(tab *t, int64_t N, int64_t C) {
    t->N = N, t->C = C;
    t->buf = calloc((size_t)(N * C), 32);
    t->cells = calloc((size_t)(N * C), sizeof(char *));
    t->lbuf = calloc((size_t)N, 32);
    t->labels = calloc((size_t)N, sizeof(char *));
    t->names = COLNAMES;
    for (int64_t i = 0; i < N * C; i++) t->cells[i] = t->buf + 32 * i;
    for (int64_t i = 0; i < N; i++) t->labels[i] = t->lbuf + 32 * i;
}

static void tab_free(tab *t) {
    free(t->buf);
    free(t->cells);
    free(t->lbuf);
    free(t->labels);
    memset(t, 0, sizeof *t);
}

/* Cell (i, c) as a number, or missing ("" or "?", alternating) when v is NaN. */
static void tab_num(tab *t, int64_t i, int64_t c, double v) {
    if (isnan(v)) t->cells[i * t->C + c] = (i + c) % 2 ? "?" : "";
    else {
        snprintf(t->buf + 32 * (i * t->C + c), 32, "%.17g", v);
        t->cells[i * t->C + c] = t->buf + 32 * (i * t->C + c);
    }
}

static void tab_str(tab *t, int64_t i, int64_t c, const char *s) {
    snprintf(t->buf + 32 * (i * t->C + c), 32, "%s", s);
    t->cells[i * t->C + c] = t->buf + 32 * (i * t->C + c);
}

static void tab_label(tab *t, int64_t i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void tab_label(tab *t, int64_t i, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->lbuf + 32 * i, 32, fmt, ap);
    va_end(ap);
}

static duet_data *tab_data(duet_ctx *ctx, const tab *t) {
    duet_data *d = NULL;
    duet_err e = {0, ""};
    int rc = duet_data_from_table(ctx, "gbdt-test", t->names, t->C, t->cells, t->N, t->labels, &d, &e);
    if (rc) fprintf(stderr, "duet_data_from_table: %s\n", e.msg);
    return d;
}

static duet_train_params gb_params(int rounds, int leaves, int min_leaf, double lr) {
    duet_train_params p = duet_train_params_default();
    p.model = "gbdt";
    p.rounds = rounds;
    p.early_stop = -1;
    p.leaves = leaves;
    p.min_leaf = min_leaf;
    p.lr = lr;
    return p;
}

static duet_model *train(duet_ctx *ctx, const duet_data *d, const duet_train_params *p) {
    duet_model *m = NULL;
    duet_err e = {0, ""};
    int rc = d ? duet_model_train(ctx, d, p, &m, &e) : DUET_EINVAL;
    if (rc) {
        t_fail++;
        fprintf(stderr, "train: %d %s\n", rc, e.msg);
        return NULL;
    }
    t_pass++;
    return m;
}

static duet_ctx *new_ctx(int threads, uint64_t seed) {
    duet_ctx *ctx = NULL;
    if (duet_ctx_new(&ctx, NULL)) return NULL;
    duet_ctx_set_threads(ctx, threads);
    duet_ctx_set_seed(ctx, seed);
    return ctx;
}

/* Total split gain and split count of every feature (the model's importance hook). */
static int importance(const duet_model *m, double *gain, int64_t *splits) {
    if (!m->ops->importance) return DUET_EUNSUPPORTED;
    return m->ops->importance(m, gain, splits);
}

static double sigm(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

static int read_all(const char *path, unsigned char **out, size_t *n) {
    FILE *f = fopen(path, "rb");
    *out = NULL, *n = 0;
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(*out, 1, (size_t)(len > 0 ? len : 0), f);
    fclose(f);
    return *n == (size_t)len ? 0 : -1;
}

static int write_all(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(b, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

/* --- 1. golden values: one or a few rounds against a plain reference -------------------------- */

enum { GD = 4, GN = 300, RMAXL = 64, RMAXV = 32 };

/* The golden data: 4 numeric features of few distinct values (some missing), a noisy numeric
 * target, and a class made from it. Values are multiples of 0.25: exact as floats. */
typedef struct golden {
    double x[GN][GD]; /* NaN: missing */
    double t[GN];
    int y[GN];
} golden;

static void golden_make(golden *G, uint64_t seed) {
    dt_rng r;
    dt_rng_seed(&r, seed);
    static const double b_vals[] = {-2, -0.5, 1, 2.5, 4.25};
    for (int i = 0; i < GN; i++) {
        double *x = G->x[i];
        x[0] = (double)dt_rng_below(&r, 7);                       /* 0..6 */
        x[1] = b_vals[dt_rng_below(&r, 5)];
        x[2] = 0.25 * (double)dt_rng_below(&r, 12);               /* 0..2.75 */
        x[3] = 10.0 * (double)(1 + dt_rng_below(&r, 4));          /* 10..40 */
        if (dt_rng_uniform(&r) < 0.08) x[0] = NAN;
        if (dt_rng_uniform(&r) < 0.15) x[1] = NAN;
        if (dt_rng_uniform(&r) < 0.20) x[3] = NAN;
        double s = 1.5 * (isnan(x[0]) ? 2 : x[0]) + (isnan(x[1]) ? 3 : x[1]) - x[2] * x[2] + (x[3] == 30 ? 4 : 0);
        G->t[i] = s + 0.8 * dt_rng_normal(&r);
        G->y[i] = s + 1.5 * dt_rng_normal(&r) > 5.0;
    }
}

static duet_data *golden_data(duet_ctx *ctx, const golden *G, int binary) {
    tab t;
    tab_init(&t, GN, GD);
    for (int i = 0; i < GN; i++) {
        for (int c = 0; c < GD; c++) tab_num(&t, i, c, G->x[i][c]);
        if (binary) tab_label(&t, i, "%s", G->y[i] ? "yes" : "no");
        else tab_label(&t, i, "%.17g", G->t[i]);
    }
    duet_data *d = tab_data(ctx, &t);
    tab_free(&t);
    return d;
}

typedef struct ref_node {
    int feat, k, dleft;   /* split: values <= dv[feat][k] go left; missing left when dleft */
    int left, right;      /* local children; -1 for a leaf */
    double G, H, value, gain;
} ref_node;

typedef struct ref_tree {
    ref_node node[2 * RMAXL];
    int n;
} ref_tree;

typedef struct ref_leaf {
    int *rows, n, node;
    double G, H;
    int feat, k, dleft;   /* best split; feat -1 when none */
    double gain;
} ref_leaf;

typedef struct ref {
    const golden *G;
    int binary, leaves, min_leaf, rounds;
    double lambda, lr;
    double dv[GD][RMAXV];
    int nv[GD];
    double base, F[GN], g[GN], h[GN];
    ref_tree tree[8];
    int near_ties;        /* choices within rounding of a tie: the comparison would be unsafe */
} ref;

static double sc(double G, double H, double lam) { return G * G / (H + lam); }

/* gbdt.c's threshold between two neighbouring distinct values (a float) */
static float ref_mid(float a, float b) {
    float m = (float)(((double)a + (double)b) / 2);
    return m >= a && m < b ? m : a;
}

/* The best split of leaf l by exhaustive search: every feature, every threshold between two
 * distinct training values, missing values right and then (when the leaf has some) left; and,
 * when the leaf has missing values, every value left and the missing ones right (k = nv - 1: the
 * one split a column that is a value or nothing has). gbdt.c never tries that last split (see
 * test_missing_alone); on the golden data it never wins, so the comparison holds either way. */
static void ref_best(ref *R, ref_leaf *l) {
    l->feat = -1, l->gain = 0;
    if (l->n < 2 * R->min_leaf) return;
    for (int f = 0; f < GD; f++) {
        int miss = 0;
        for (int q = 0; q < l->n; q++) miss += isnan(R->G->x[l->rows[q]][f]);
        for (int dir = 0; dir <= (miss > 0); dir++)
            for (int k = 0; k + 1 < R->nv[f] + (miss > 0 && dir == 0); k++) {
                double GL = 0, HL = 0, GR = 0, HR = 0;
                int nL = 0;
                for (int q = 0; q < l->n; q++) {
                    int i = l->rows[q];
                    double v = R->G->x[i][f];
                    if (isnan(v) ? dir : v <= R->dv[f][k]) GL += R->g[i], HL += R->h[i], nL++;
                    else GR += R->g[i], HR += R->h[i];
                }
                if (nL < R->min_leaf || l->n - nL < R->min_leaf || HL < 1e-3 || HR < 1e-3) continue;
                double gain = sc(GL, HL, R->lambda) + sc(GR, HR, R->lambda) - sc(l->G, l->H, R->lambda);
                double lim = l->gain + 1e-12 * fabs(l->gain);
                if (l->feat >= 0 && fabs(gain - lim) < 1e-13 * fabs(l->gain)) R->near_ties++;
                if (gain > lim && gain > 1e-12) l->feat = f, l->k = k, l->gain = gain, l->dleft = miss ? dir : HL >= HR;
            }
    }
}

static void ref_sums(const ref *R, ref_leaf *l) {
    l->G = l->H = 0;
    for (int q = 0; q < l->n; q++) l->G += R->g[l->rows[q]], l->H += R->h[l->rows[q]];
}

static int ref_node_new(ref *R, ref_tree *T, const ref_leaf *l) {
    ref_node *n = &T->node[T->n];
    memset(n, 0, sizeof *n);
    n->feat = -1, n->left = n->right = -1;
    n->G = l->G, n->H = l->H;
    n->value = -l->G / (l->H + R->lambda) * R->lr;
    return T->n++;
}

/* One tree, leaf-wise: the leaf whose best split gains most (the first on ties) is split next;
 * the left child takes a new slot, the right one keeps its parent's. F is updated. */
static void ref_tree_grow(ref *R, ref_tree *T) {
    ref_leaf lv[RMAXL];
    int nl = 1;
    T->n = 0;
    lv[0].rows = malloc(GN * sizeof(int));
    lv[0].n = GN;
    for (int i = 0; i < GN; i++) lv[0].rows[i] = i;
    ref_sums(R, &lv[0]);
    lv[0].node = ref_node_new(R, T, &lv[0]);
    ref_best(R, &lv[0]);
    while (nl < R->leaves) {
        int bi = -1;
        for (int i = 0; i < nl; i++)
            if (lv[i].feat >= 0 && (bi < 0 || lv[i].gain > lv[bi].gain)) bi = i;
        if (bi < 0) break;
        for (int i = 0; i < nl; i++) /* another leaf within rounding of the chosen one */
            if (i != bi && lv[i].feat >= 0 && fabs(lv[i].gain - lv[bi].gain) <= 1e-11 * lv[bi].gain) R->near_ties++;
        ref_leaf *l = &lv[bi], L = {0}, Rt = {0};
        ref_node *nd = &T->node[l->node];
        nd->feat = l->feat, nd->k = l->k, nd->dleft = l->dleft, nd->gain = l->gain;
        L.rows = malloc((size_t)l->n * sizeof(int));
        Rt.rows = malloc((size_t)l->n * sizeof(int));
        for (int q = 0; q < l->n; q++) {
            int i = l->rows[q];
            double v = R->G->x[i][l->feat];
            if (isnan(v) ? l->dleft : v <= R->dv[l->feat][l->k]) L.rows[L.n++] = i;
            else Rt.rows[Rt.n++] = i;
        }
        ref_sums(R, &L);
        ref_sums(R, &Rt);
        L.node = ref_node_new(R, T, &L);
        Rt.node = ref_node_new(R, T, &Rt);
        T->node[l->node].left = L.node, T->node[l->node].right = Rt.node;
        free(l->rows);
        lv[bi] = Rt;
        lv[nl++] = L;
        ref_best(R, &lv[bi]);
        ref_best(R, &lv[nl - 1]);
    }
    for (int s = 0; s < nl; s++) {
        for (int q = 0; q < lv[s].n; q++) R->F[lv[s].rows[q]] += T->node[lv[s].node].value;
        free(lv[s].rows);
    }
}

static void ref_fit(ref *R) {
    const golden *G = R->G;
    for (int f = 0; f < GD; f++) { /* distinct values, sorted */
        R->nv[f] = 0;
        for (int i = 0; i < GN; i++) {
            double v = G->x[i][f];
            if (isnan(v)) continue;
            int j = 0;
            while (j < R->nv[f] && R->dv[f][j] < v) j++;
            if (j < R->nv[f] && R->dv[f][j] == v) continue;
            memmove(&R->dv[f][j + 1], &R->dv[f][j], (size_t)(R->nv[f] - j) * sizeof(double));
            R->dv[f][j] = v;
            R->nv[f]++;
        }
    }
    if (R->binary) {
        double pos = 0;
        for (int i = 0; i < GN; i++) pos += G->y[i];
        double p = (pos + 1e-3) / (GN + 2e-3);
        R->base = log(p / (1 - p));
    } else {
        double s = 0;
        for (int i = 0; i < GN; i++) s += G->t[i];
        R->base = s / GN;
    }
    for (int i = 0; i < GN; i++) R->F[i] = R->base;
    for (int r = 0; r < R->rounds; r++) {
        for (int i = 0; i < GN; i++) {
            if (R->binary) {
                double p = sigm(R->F[i]);
                R->g[i] = p - G->y[i], R->h[i] = p * (1 - p);
            } else {
                R->g[i] = R->F[i] - G->t[i], R->h[i] = 1;
            }
        }
        ref_tree_grow(R, &R->tree[r]);
    }
}

/* A tensor of the saved model as doubles (n values; at most cap). */
static int64_t st_vals(const dt_st_file *f, const char *name, int dtype, double *out, int64_t cap) {
    const void *p;
    int64_t shape = -1, n = 0;
    duet_err e = {0, ""};
    if (dt_st_get(f, name, dtype, 1, &shape, &p, &n, &e)) return -1;
    for (int64_t i = 0; i < n && i < cap; i++)
        switch (dtype) {
        case DT_F64: out[i] = ((const double *)p)[i]; break;
        case DT_F32: out[i] = ((const float *)p)[i]; break;
        case DT_I32: out[i] = ((const int32_t *)p)[i]; break;
        case DT_I64: out[i] = (double)((const int64_t *)p)[i]; break;
        default: out[i] = ((const uint8_t *)p)[i]; break;
        }
    return n;
}

/* The trees in the model file against the reference's, node for node. Returns mismatches. */
static int compare_file(duet_ctx *ctx, const char *path, const ref *R, double scale) {
    enum { CAP = 1024 };
    static double feat[CAP], thr[CAP], left[CAP], right[CAP], flags[CAP], value[CAP], cover[CAP], gain[CAP], start[16],
        base[2];
    dt_st_file *f = NULL;
    duet_err e = {0, ""};
    if (dt_st_open(ctx, path, &f, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    int bad = 0;
    int64_t nn = st_vals(f, "model.feature", DT_I32, feat, CAP);
    int64_t T1 = st_vals(f, "model.tree_start", DT_I64, start, 16);
    st_vals(f, "model.threshold", DT_F32, thr, CAP);
    st_vals(f, "model.left", DT_I32, left, CAP);
    st_vals(f, "model.right", DT_I32, right, CAP);
    st_vals(f, "model.flags", DT_U8, flags, CAP);
    st_vals(f, "model.value", DT_F64, value, CAP);
    st_vals(f, "model.cover", DT_F64, cover, CAP);
    st_vals(f, "model.gain", DT_F64, gain, CAP);
    st_vals(f, "model.base", DT_F64, base, 2);
    if (T1 != R->rounds + 1 || fabs(base[0] - R->base) > 1e-12 * fmax(1, fabs(R->base))) {
        fprintf(stderr, "compare_file: %lld trees, base %.17g against %d, %.17g\n", (long long)T1 - 1, base[0], R->rounds, R->base);
        dt_st_close(f);
        return 1;
    }
    for (int t = 0; t < R->rounds && !bad; t++) {
        const ref_tree *T = &R->tree[t];
        int64_t s = (int64_t)start[t];
        if ((int64_t)start[t + 1] - s != T->n || start[t + 1] > nn) {
            fprintf(stderr, "tree %d: %lld nodes, the reference has %d\n", t, (long long)(start[t + 1] - s), T->n);
            bad++;
            break;
        }
        for (int j = 0; j < T->n; j++) {
            const ref_node *r = &T->node[j];
            int64_t q = s + j;
            int ok = feat[q] == r->feat && left[q] == r->left && right[q] == r->right;
            ok &= fabs(value[q] - r->value) <= 1e-9 * scale && fabs(cover[q] - r->H) <= 1e-9 * fmax(1, r->H);
            ok &= fabs(gain[q] - r->gain) <= 1e-9 * fmax(1, r->gain);
            if (r->feat >= 0) {
                float th = r->k + 1 < R->nv[r->feat] ? ref_mid((float)R->dv[r->feat][r->k], (float)R->dv[r->feat][r->k + 1])
                                                      : FLT_MAX;
                ok &= thr[q] == th && (((int)flags[q] & 1) == r->dleft);
            }
            if (!ok) {
                fprintf(stderr, "tree %d node %d: file feat %g thr %g l %g r %g flags %g value %.12g cover %.12g gain %.12g; "
                        "reference feat %d thr %g l %d r %d dleft %d value %.12g cover %.12g gain %.12g\n", t, j, feat[q], thr[q],
                        left[q], right[q], flags[q], value[q], cover[q], gain[q], r->feat,
                        r->feat >= 0 ? (double)R->dv[r->feat][r->k] : 0.0, r->left, r->right, r->dleft, r->value, r->H, r->gain);
                bad++;
            }
        }
    }
    dt_st_close(f);
    return bad;
}

static void golden_case(const golden *G, int binary, int rounds, int leaves, int min_leaf, double lr, double lambda, int threads) {
    duet_ctx *ctx = new_ctx(threads, 42);
    duet_data *d = golden_data(ctx, G, binary);
    duet_train_params p = gb_params(rounds, leaves, min_leaf, lr);
    p.reg_lambda = lambda;
    p.task = binary ? DUET_TASK_CLASSIFICATION : DUET_TASK_REGRESSION;
    duet_model *m = train(ctx, d, &p);
    ref *R = calloc(1, sizeof *R);
    R->G = G, R->binary = binary, R->leaves = leaves, R->min_leaf = min_leaf, R->rounds = rounds;
    R->lambda = lambda < 0 ? 0 : lambda, R->lr = lr;
    ref_fit(R);
    CHECK(R->near_ties == 0); /* the data leaves no choice to rounding */
    if (!m) goto done;
    duet_err e = {0, ""};
    double scale = 1;
    for (int i = 0; i < GN; i++) scale = fmax(scale, fabs(R->F[i]));
    /* predictions on every training row */
    int bad = 0;
    if (!binary) {
        double *v = calloc(GN, sizeof(double));
        CHECK_OK(duet_model_predict_values(ctx, m, d, v, &e));
        for (int i = 0; i < GN; i++)
            if (!(fabs(v[i] - R->F[i]) <= 1e-9 * fmax(1, fabs(R->F[i])))) {
                if (bad++ < 3) fprintf(stderr, "row %d: duet %.17g, reference %.17g\n", i, v[i], R->F[i]);
            }
        free(v);
    } else {
        float *P = calloc(2 * GN, sizeof(float));
        int32_t *lab = calloc(GN, sizeof(int32_t));
        CHECK_OK(duet_model_predict(ctx, m, d, lab, P, &e));
        CHECK(strcmp(duet_model_class_name(m, 1), "yes") == 0);
        /* raw scores in double through SHAP's sum (phi's last entry is the expected value) */
        dt_mat X = {0};
        CHECK_OK(dt_pipe_apply(ctx, m->pipe, d, &X, &e));
        double phi[GD + 1];
        for (int i = 0; i < GN; i++) {
            double s = 0;
            if (dt_gbdt_shap(ctx, m, X.x + (size_t)i * GD, 0, phi, &e)) bad++;
            for (int j = 0; j <= GD; j++) s += phi[j];
            int ok = fabs(s - R->F[i]) <= 1e-9 * fmax(1, fabs(R->F[i])) && fabs(P[2 * i + 1] - sigm(R->F[i])) <= 1e-6 &&
                     lab[i] == (P[2 * i + 1] > P[2 * i]);
            if (!ok && bad++ < 3) fprintf(stderr, "row %d: duet raw %.17g p %.9g, reference %.17g\n", i, s, P[2 * i + 1], R->F[i]);
        }
        dt_mat_free(ctx, &X);
        free(P);
        free(lab);
    }
    CHECK(bad == 0);
    /* the trees themselves, from the model file */
    const char *path = t_path("golden.duet");
    CHECK_OK(duet_model_save(ctx, m, path, &e));
    CHECK(compare_file(ctx, path, R, scale) == 0);
    unlink(path);
    /* gain and splits per feature */
    double gain[GD], rgain[GD] = {0};
    int64_t splits[GD], rsplits[GD] = {0};
    CHECK(importance(m, gain, splits) == DUET_OK);
    for (int t = 0; t < rounds; t++)
        for (int j = 0; j < R->tree[t].n; j++)
            if (R->tree[t].node[j].feat >= 0) rgain[R->tree[t].node[j].feat] += R->tree[t].node[j].gain, rsplits[R->tree[t].node[j].feat]++;
    for (int f = 0; f < GD; f++) {
        CHECK(splits[f] == rsplits[f]);
        CHECK_NEAR(gain[f], rgain[f], 1e-9 * fmax(1, rgain[f]));
    }
done:
    free(R);
    duet_model_free(m);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

static void test_golden(void) {
    golden *G = malloc(sizeof *G);
    golden_make(G, 2024);
    golden_case(G, 0, 1, 6, 10, 1.0, 1.0, 1);   /* squared error, one round */
    golden_case(G, 0, 1, 8, 15, 0.5, 3.0, 2);
    golden_case(G, 0, 3, 6, 10, 0.5, 1.0, 2);   /* three rounds: gradients of the residuals */
    golden_case(G, 0, 1, 10, 5, 1.0, -1, 1);    /* lambda < 0: none */
    golden_case(G, 1, 1, 6, 10, 1.0, 1.0, 1);   /* log-loss, one round */
    golden_case(G, 1, 1, 8, 15, 0.5, 2.0, 2);
    golden_case(G, 1, 3, 6, 10, 0.5, 1.0, 1);
    free(G);
}

/* --- shared synthetic data: numbers with missing values, one categorical column ------------------ */

/* N rows of D columns (D >= 4): column 1 categorical ("p".."t"), the others numbers (some
 * missing); kind 0: a number, 1: two classes, 3: three classes. */
static duet_data *synth(duet_ctx *ctx, int64_t N, int D, int kind, uint64_t seed) {
    static const char *cats[] = {"p", "q", "r", "s", "t"};
    static const double catw[] = {2, -1, 0.5, -2, 1};
    dt_rng r;
    dt_rng_seed(&r, seed);
    tab t;
    tab_init(&t, N, D);
    for (int64_t i = 0; i < N; i++) {
        double s = 0;
        for (int c = 0; c < D; c++) {
            if (c == 1) {
                int k = (int)dt_rng_below(&r, 5);
                if (dt_rng_uniform(&r) < 0.05) tab_num(&t, i, c, NAN);
                else tab_str(&t, i, c, cats[k]), s += catw[k];
                continue;
            }
            double v = dt_rng_normal(&r);
            if (c == 2) v = floor(v * 4) / 4; /* few distinct values */
            if (dt_rng_uniform(&r) < 0.1) {
                tab_num(&t, i, c, NAN);
                if (c == 0) s += 1.5; /* missing in 'a' means something */
                continue;
            }
            tab_num(&t, i, c, v);
            s += c == 0 ? 2 * v : c == 2 ? v * v : c == 3 ? -v : c % 2 ? 0.3 * v : 0;
        }
        s += 0.5 * dt_rng_normal(&r);
        if (kind == 0) tab_label(&t, i, "%.17g", s);
        else if (kind == 1) tab_label(&t, i, "%s", s > 0.8 ? "pos" : "neg");
        else tab_label(&t, i, "%s", s < 0 ? "lo" : s < 2 ? "mid" : "hi");
    }
    duet_data *d = tab_data(ctx, &t);
    tab_free(&t);
    return d;
}

/* --- 2. TreeSHAP --------------------------------------------------------------------------------- */

static void shap_case(int kind, int D, int rounds, int leaves) {
    duet_ctx *ctx = new_ctx(2, 7);
    duet_data *d = synth(ctx, 1200, D, kind, 100 + (uint64_t)kind);
    duet_train_params p = gb_params(rounds, leaves, 20, 0.3);
    p.task = kind ? DUET_TASK_CLASSIFICATION : DUET_TASK_REGRESSION;
    duet_model *m = train(ctx, d, &p);
    if (!m) goto done;
    duet_err e = {0, ""};
    int K = duet_model_classes(m), V = K > 2 ? K : 1;
    int64_t N = duet_data_rows(d);
    dt_mat X = {0};
    CHECK_OK(dt_pipe_apply(ctx, m->pipe, d, &X, &e));
    CHECK(X.D == D && X.x);
    int64_t splits[16];
    double gain[16];
    importance(m, gain, splits);
    CHECK(splits[1] > 0); /* the categorical column splits */
    float *P = K ? calloc((size_t)(N * K), sizeof(float)) : NULL;
    double *val = K ? NULL : calloc((size_t)N, sizeof(double));
    int32_t *lab = calloc((size_t)N, sizeof(int32_t));
    if (K) CHECK_OK(duet_model_predict(ctx, m, d, lab, P, &e));
    else CHECK_OK(duet_model_predict_values(ctx, m, d, val, &e));
    double phi[17], refphi[17], worst = 0, worst_sum = 0, scale = 1;
    float row[16];
    int bad_explain = 0, nrows = 0;
    for (int64_t q = 0, i = -2; i < N; q++, i = q < 2 ? q - 2 : (q - 2) * 97) { /* two made-up rows, then every 97th */
        const float *x = X.x + (size_t)(i < 0 ? 0 : i) * (size_t)D;
        if (i < 0) {
            for (int j = 0; j < D; j++) row[j] = i == -2 ? NAN : x[j];
            if (i == -1) row[1] = 99; /* an unseen category */
            x = row;
        }
        nrows++;
        double raw[8];
        for (int v = 0; v < V; v++) {
            CHECK_OK(dt_gbdt_shap(ctx, m, x, v, phi, &e));
            CHECK_OK(dt_gbdt_shap_reference(ctx, m, x, v, refphi, &e));
            double s = 0;
            for (int j = 0; j <= D; j++) {
                s += phi[j];
                scale = fmax(scale, fabs(refphi[j]));
                worst = fmax(worst, fabs(phi[j] - refphi[j]));
            }
            raw[v] = s;
            if (i < 0) continue;
            /* duet_model_explain: the same values, largest |value| first, named by column */
            duet_feature out[16];
            int n_out = 0, nz = 0, k = K > 2 ? v : K == 2 ? 1 : 0;
            CHECK_OK(duet_model_explain(ctx, m, d, i, k, out, D, &n_out, &e));
            for (int j = 0; j < D; j++) nz += phi[j] != 0;
            if (n_out != nz) bad_explain++;
            for (int w = 0; w < n_out; w++) {
                int j = 0;
                while (j < D && strcmp(out[w].name, COLNAMES[j]) != 0) j++;
                if (j == D || fabs(out[w].value - phi[j]) > 1e-12 * fmax(1, fabs(phi[j]))) bad_explain++;
                if (w && fabs(out[w].value) > fabs(out[w - 1].value)) bad_explain++;
            }
            if (K == 2) { /* class 0: the same contributions, negated */
                duet_feature o0[16];
                int n0 = 0;
                CHECK_OK(duet_model_explain(ctx, m, d, i, 0, o0, D, &n0, &e));
                CHECK(n0 == n_out);
                for (int w = 0; w < n0 && w < n_out; w++)
                    if (strcmp(o0[w].name, out[w].name) != 0 || o0[w].value != -out[w].value) bad_explain++;
            }
        }
        if (i < 0) continue;
        /* phi sums to the raw score */
        if (K == 0) worst_sum = fmax(worst_sum, fabs(raw[0] - val[i]) / fmax(1, fabs(val[i])));
        else if (K == 2) worst_sum = fmax(worst_sum, fabs(sigm(raw[0]) - P[2 * i + 1]));
        else {
            double mx = raw[0], z = 0;
            for (int v = 1; v < V; v++) mx = fmax(mx, raw[v]);
            for (int v = 0; v < V; v++) z += exp(raw[v] - mx);
            for (int v = 0; v < V; v++) worst_sum = fmax(worst_sum, fabs(exp(raw[v] - mx) / z - P[(size_t)i * (size_t)K + (size_t)v]));
        }
    }
    CHECK(nrows > 10);
    if (worst > 1e-9 * scale) fprintf(stderr, "kind %d: TreeSHAP against brute force: %.3g (scale %.3g)\n", kind, worst, scale);
    CHECK(worst <= 1e-9 * scale);
    /* regression: the prediction in double; classes: float probabilities */
    if (worst_sum > (K ? 1e-6 : 1e-12)) fprintf(stderr, "kind %d: sum of phi off the score by %.3g\n", kind, worst_sum);
    CHECK(worst_sum <= (K ? 1e-6 : 1e-12));
    CHECK(bad_explain == 0);
    /* a tree set past the model's is refused */
    CHECK_ERR(dt_gbdt_shap(ctx, m, X.x, V, phi, &e), &e, DUET_EINVAL, "tree set");
    dt_mat_free(ctx, &X);
    free(P);
    free(val);
    free(lab);
done:
    duet_model_free(m);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

static void test_shap(void) {
    shap_case(1, 6, 12, 8);  /* two classes */
    shap_case(3, 5, 8, 6);   /* three classes: each tree set */
    shap_case(0, 8, 10, 12); /* a number, eight features */
}

/* --- 3. the same model whatever the thread count ---------------------------------------------- */

/* Trains on the data with `threads` and writes the model file (its timing record, "fit_seconds",
 * set to 0: the one thing that may differ); *pred receives the first rows' predictions summed.
 * 6000 rows of 10 features: enough that gbdt.c builds histograms and searches splits in
 * parallel (its thresholds: rows x features above 20000 and 50000). */
static int save_trained(int threads, uint64_t seed, const duet_train_params *p, int kind, const char *path, double *pred) {
    duet_ctx *ctx = new_ctx(threads, seed);
    duet_data *d = synth(ctx, 6000, 10, kind, 5);
    duet_model *m = train(ctx, d, p);
    int rc = -1;
    duet_err e = {0, ""};
    if (m) {
        dt_model_meta_set(m, "fit_seconds", "0");
        rc = duet_model_save(ctx, m, path, &e);
        if (rc) fprintf(stderr, "save: %s\n", e.msg);
        if (kind == 0) {
            double *v = calloc((size_t)duet_data_rows(d), sizeof(double));
            if (!rc) rc = duet_model_predict_values(ctx, m, d, v, &e);
            *pred = v[0] + v[1] + v[2];
            free(v);
        }
    }
    duet_model_free(m);
    duet_data_free(d);
    duet_ctx_free(ctx);
    return rc;
}

static int same_file(const char *a, const char *b) {
    unsigned char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int ok = read_all(a, &x, &nx) == 0 && read_all(b, &y, &ny) == 0 && nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return ok;
}

static void test_threads(void) {
    struct {
        int kind;
        double subsample, colsample;
        int early;
    } cfg[] = {{0, 1, 1, 0}, {3, 1, 1, 0}, {0, 0.7, 0.6, 0}, {3, 0.8, 0.5, 0}, {1, 0.7, 0.8, 1}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        duet_train_params p = gb_params(cfg[c].early ? 40 : 10, 15, 20, 0.2);
        p.subsample = cfg[c].subsample;
        p.colsample = cfg[c].colsample;
        if (cfg[c].early) p.early_stop = 0, p.patience = 5;
        p.task = cfg[c].kind ? DUET_TASK_CLASSIFICATION : DUET_TASK_REGRESSION;
        const char *f1 = t_path("thr1.duet"), *f2 = t_path("thr2.duet"), *f3 = t_path("thr3.duet");
        double p1 = 0, p2 = 0, p3 = 0;
        CHECK(save_trained(1, 42, &p, cfg[c].kind, f1, &p1) == 0);
        CHECK(save_trained(2, 42, &p, cfg[c].kind, f2, &p2) == 0);
        CHECK(save_trained(3, 42, &p, cfg[c].kind, f3, &p3) == 0);
        CHECK(same_file(f1, f2));
        CHECK(same_file(f1, f3));
        CHECK(p1 == p2 && p1 == p3);
        if (cfg[c].subsample < 1) { /* another seed draws other rows */
            CHECK(save_trained(2, 43, &p, cfg[c].kind, f2, &p2) == 0);
            CHECK(!same_file(f1, f2));
        }
        unlink(f1);
        unlink(f2);
        unlink(f3);
    }
}

/* --- 4. model files ---------------------------------------------------------------------------- */

/* A model file in memory, to damage: its header's length and the byte buffer's offset. */
typedef struct mfile {
    unsigned char *b;
    size_t n, hl, buf;
} mfile;

static int mf_read(const char *path, mfile *f) {
    if (read_all(path, &f->b, &f->n) || f->n < 8) return -1;
    f->hl = 0;
    for (int i = 7; i >= 0; i--) f->hl = f->hl << 8 | f->b[i];
    f->buf = 8 + f->hl;
    return f->buf <= f->n ? 0 : -1;
}

/* The file offset and length of tensor `name`'s bytes; -1 when not found. */
static int mf_tensor(const mfile *f, const char *name, size_t *off, size_t *len) {
    char key[128];
    snprintf(key, sizeof key, "\"%s\":{", name);
    char *h = malloc(f->hl + 1);
    memcpy(h, f->b + 8, f->hl);
    h[f->hl] = 0;
    char *at = strstr(h, key), *o = at ? strstr(at, "\"data_offsets\":[") : NULL;
    unsigned long long b0, b1;
    int ok = o && sscanf(o + 16, "%llu,%llu", &b0, &b1) == 2;
    free(h);
    if (!ok) return -1;
    *off = f->buf + (size_t)b0, *len = (size_t)(b1 - b0);
    return 0;
}

/* Replaces `from` in the header by `to` (the same length). */
static int mf_replace(mfile *f, const char *from, const char *to) {
    size_t n = strlen(from);
    for (size_t i = 8; i + n <= f->buf; i++)
        if (memcmp(f->b + i, from, n) == 0) {
            memcpy(f->b + i, to, n);
            return 0;
        }
    return -1;
}

static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* Writes the byte buffer's checksum into the header, as the writer does, so that the damage
 * reaches the model's own checks. */
static int mf_fix_crc(mfile *f) {
    const char *key = "\"duet.crc32\":\"";
    size_t n = strlen(key);
    for (size_t i = 8; i + n + 8 <= f->buf; i++)
        if (memcmp(f->b + i, key, n) == 0) {
            char hex[16];
            snprintf(hex, sizeof hex, "%08lx", (unsigned long)crc32_of(f->b + f->buf, f->n - f->buf));
            memcpy(f->b + i + n, hex, 8);
            return 0;
        }
    return -1;
}

/* Loads the file written from f (its crc fixed when fix) and checks the refusal: code, a fragment
 * of the message, and the file's path in it. */
static void expect_refused(duet_ctx *ctx, mfile *f, int fix, size_t len, const char *frag, int line) {
    const char *path = t_path("damaged.duet");
    if (fix) mf_fix_crc(f);
    write_all(path, f->b, len);
    duet_model *m = NULL;
    duet_err e = {0, ""};
    int rc = duet_model_load(ctx, path, &m, &e);
    if (rc == DUET_EFORMAT && strstr(e.msg, frag) && strstr(e.msg, path) && !m) t_pass++;
    else {
        t_fail++;
        fprintf(stderr, "%s:%d: damaged file: want EFORMAT '%s' naming the file, got %d '%s'\n", __FILE__, line, frag, rc, e.msg);
    }
    duet_model_free(m);
    unlink(path);
}

static void test_files(void) {
    duet_ctx *ctx = new_ctx(2, 42);
    duet_err e = {0, ""};
    for (int kind = 0; kind <= 3; kind += kind ? 2 : 1) { /* round trips: a number, two and three classes */
        duet_data *d = synth(ctx, 800, 6, kind, 9);
        duet_train_params p = gb_params(10, 8, 20, 0.3);
        p.task = kind ? DUET_TASK_CLASSIFICATION : DUET_TASK_REGRESSION;
        duet_model *m = train(ctx, d, &p), *m2 = NULL;
        const char *path = t_path("roundtrip.duet");
        int64_t N = duet_data_rows(d);
        if (m) {
            CHECK_OK(duet_model_save(ctx, m, path, &e));
            CHECK_OK(duet_model_load(ctx, path, &m2, &e));
        }
        if (m2) {
            CHECK(duet_model_classes(m2) == (kind ? kind == 1 ? 2 : 3 : 0));
            CHECK(duet_model_task(m2) == (kind ? DUET_TASK_CLASSIFICATION : DUET_TASK_REGRESSION));
            if (kind == 0) {
                double *a = calloc((size_t)N, sizeof(double)), *b = calloc((size_t)N, sizeof(double));
                CHECK_OK(duet_model_predict_values(ctx, m, d, a, &e));
                CHECK_OK(duet_model_predict_values(ctx, m2, d, b, &e));
                CHECK(memcmp(a, b, (size_t)N * sizeof(double)) == 0);
                free(a);
                free(b);
            } else {
                int K = duet_model_classes(m);
                float *a = calloc((size_t)(N * K), sizeof(float)), *b = calloc((size_t)(N * K), sizeof(float));
                int32_t *la = calloc((size_t)N, sizeof(int32_t)), *lb = calloc((size_t)N, sizeof(int32_t));
                CHECK_OK(duet_model_predict(ctx, m, d, la, a, &e));
                CHECK_OK(duet_model_predict(ctx, m2, d, lb, b, &e));
                CHECK(memcmp(a, b, (size_t)(N * K) * sizeof(float)) == 0 && memcmp(la, lb, (size_t)N * sizeof(int32_t)) == 0);
                free(a);
                free(b);
                free(la);
                free(lb);
            }
            /* explanations survive too */
            duet_feature o1[8], o2[8];
            int n1 = 0, n2 = 0;
            CHECK_OK(duet_model_explain(ctx, m, d, 3, 0, o1, 6, &n1, &e));
            CHECK_OK(duet_model_explain(ctx, m2, d, 3, 0, o2, 6, &n2, &e));
            CHECK(n1 == n2 && n1 > 0);
            for (int w = 0; w < n1 && w < n2; w++) CHECK(strcmp(o1[w].name, o2[w].name) == 0 && o1[w].value == o2[w].value);
        }
        if (m && kind == 0) { /* damaged copies of the regressor's file */
            mfile f = {0};
            CHECK(mf_read(path, &f) == 0);
            unsigned char *orig = malloc(f.n);
            memcpy(orig, f.b, f.n);
            size_t off, len, foff, flen, soff, slen;
            CHECK(mf_tensor(&f, "model.feature", &foff, &flen) == 0);
            CHECK(mf_tensor(&f, "model.tree_start", &soff, &slen) == 0);
            int32_t *feat = (int32_t *)(void *)(orig + foff); /* tensors are aligned to their size */
            int64_t t0end = ((int64_t *)(void *)(orig + soff))[1];
            int inner = -1, leaf = -1;  /* an inner node after the root in tree 0, and a leaf */
            for (int j = 1; j < t0end; j++) {
                if (feat[j] >= 0 && inner < 0) inner = j;
                if (feat[j] < 0 && leaf < 0) leaf = j;
            }
            CHECK(inner > 0 && leaf > 0 && feat[0] >= 0);
            /* the harness itself: the file rewritten as it is loads */
            {
                const char *ok = t_path("rewritten.duet");
                mf_fix_crc(&f);
                write_all(ok, f.b, f.n);
                duet_model *m3 = NULL;
                CHECK_OK(duet_model_load(ctx, ok, &m3, &e));
                duet_model_free(m3);
                unlink(ok);
            }
            /* truncated: half of it, and all but its last byte */
            expect_refused(ctx, &f, 0, f.n / 2, "", __LINE__);
            expect_refused(ctx, &f, 0, f.n - 1, "", __LINE__);
            /* a byte changed without its checksum */
            f.b[f.n - 1] ^= 1;
            expect_refused(ctx, &f, 0, f.n, "checksum", __LINE__);
            memcpy(f.b, orig, f.n);
            /* a child pointing backwards: the inner node's left child is the node before it */
            if (inner > 0 && mf_tensor(&f, "model.left", &off, &len) == 0) {
                int32_t back = inner - 1;
                memcpy(f.b + off + 4 * (size_t)inner, &back, 4);
                expect_refused(ctx, &f, 1, f.n, "children", __LINE__);
                memcpy(f.b, orig, f.n);
                back = 0; /* the root as its own child */
                memcpy(f.b + off, &back, 4);
                expect_refused(ctx, &f, 1, f.n, "children", __LINE__);
                memcpy(f.b, orig, f.n);
            }
            /* a feature past the model's D (6), and a negative one other than -1 */
            {
                int32_t bad = 6;
                memcpy(f.b + foff, &bad, 4);
                expect_refused(ctx, &f, 1, f.n, "feature", __LINE__);
                memcpy(f.b, orig, f.n);
                bad = -2;
                memcpy(f.b + foff + 4 * (size_t)leaf, &bad, 4);
                expect_refused(ctx, &f, 1, f.n, "feature", __LINE__);
                memcpy(f.b, orig, f.n);
            }
            /* a NaN leaf value, an infinite cover, a NaN threshold */
            if (mf_tensor(&f, "model.value", &off, &len) == 0) {
                double nan = NAN;
                memcpy(f.b + off + 8 * (size_t)leaf, &nan, 8);
                expect_refused(ctx, &f, 1, f.n, "not finite", __LINE__);
                memcpy(f.b, orig, f.n);
            }
            if (mf_tensor(&f, "model.cover", &off, &len) == 0) {
                double inf = INFINITY;
                memcpy(f.b + off, &inf, 8);
                expect_refused(ctx, &f, 1, f.n, "not finite", __LINE__);
                memcpy(f.b, orig, f.n);
            }
            if (mf_tensor(&f, "model.threshold", &off, &len) == 0) {
                float nan = NAN;
                memcpy(f.b + off, &nan, 4);
                expect_refused(ctx, &f, 1, f.n, "NaN", __LINE__);
                memcpy(f.b, orig, f.n);
            }
            /* tree starts that do not span the nodes */
            {
                int64_t s1 = t0end + 1;
                memcpy(f.b + soff + 8, &s1, 8);
                expect_refused(ctx, &f, 1, f.n, "tree", __LINE__);
                memcpy(f.b, orig, f.n);
            }
            /* objective metadata that does not fit the task: log-loss for a number, or none */
            CHECK(mf_replace(&f, "\"model.objective\":\"squared\"", "\"model.objective\":\"logloss\"") == 0);
            expect_refused(ctx, &f, 0, f.n, "model.objective", __LINE__);
            memcpy(f.b, orig, f.n);
            CHECK(mf_replace(&f, "\"model.objective\":\"squared\"", "\"model.objective\":\"squired\"") == 0);
            expect_refused(ctx, &f, 0, f.n, "model.objective", __LINE__);
            memcpy(f.b, orig, f.n);
            CHECK(mf_replace(&f, "\"model.quantile\":\"0.5\"", "\"model.quantile\":\"1.5\"") == 0);
            expect_refused(ctx, &f, 0, f.n, "model.quantile", __LINE__);
            memcpy(f.b, orig, f.n);
            free(orig);
            free(f.b);
        }
        if (m && kind == 1) { /* a classifier's file that says squared error */
            mfile f = {0};
            CHECK(mf_read(path, &f) == 0);
            CHECK(mf_replace(&f, "\"model.objective\":\"logloss\"", "\"model.objective\":\"squared\"") == 0);
            expect_refused(ctx, &f, 0, f.n, "model.objective", __LINE__);
            free(f.b);
        }
        duet_model_free(m);
        duet_model_free(m2);
        duet_data_free(d);
        unlink(path);
    }
    duet_ctx_free(ctx);
}

/* --- 5. objectives, categories, sparse input ------------------------------------------------------ */

/* A regression table: 2 numeric features, target t[i] from fn. */
static duet_data *reg_data(duet_ctx *ctx, int64_t N, uint64_t seed, double (*fn)(dt_rng *, double, double), double *t) {
    dt_rng r;
    dt_rng_seed(&r, seed);
    tab tb;
    tab_init(&tb, N, 2);
    for (int64_t i = 0; i < N; i++) {
        double a = dt_rng_uniform(&r) * 2 - 1, b = dt_rng_uniform(&r);
        tab_num(&tb, i, 0, a);
        tab_num(&tb, i, 1, b);
        t[i] = fn(&r, a, b);
        tab_label(&tb, i, "%.17g", t[i]);
    }
    duet_data *d = tab_data(ctx, &tb);
    tab_free(&tb);
    return d;
}

static double f_hetero(dt_rng *r, double a, double b) { return 3 * a + (0.5 + 2 * b) * dt_rng_normal(r) + 0.001 * dt_rng_uniform(r); }
static double f_heavy(dt_rng *r, double a, double b) {
    (void)b;
    double u = dt_rng_uniform(r) - 0.5;
    return 2 * a + 0.3 * tan(3.0 * u) + 0.01 * dt_rng_normal(r); /* heavy tails */
}
static double f_counts(dt_rng *r, double a, double b) {
    double lam = exp(0.5 + a + 0.5 * b), L = exp(-lam), p = 1;
    int k = 0;
    do { /* Knuth's Poisson draw */
        k++;
        p *= dt_rng_uniform(r);
    } while (p > L);
    return k - 1;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_objectives(void) {
    duet_ctx *ctx = new_ctx(2, 42);
    duet_err e = {0, ""};
    enum { N = 2000 };
    double *t = calloc(N, sizeof(double)), *v = calloc(N, sizeof(double));
    /* quantile 0.9: nine targets in ten below the prediction */
    duet_data *d = reg_data(ctx, N, 1, f_hetero, t);
    duet_train_params p = gb_params(100, 15, 20, 0.1);
    p.task = DUET_TASK_REGRESSION;
    p.objective = DUET_OBJ_QUANTILE;
    p.quantile = 0.9;
    duet_model *m = train(ctx, d, &p);
    if (m) {
        CHECK_OK(duet_model_predict_values(ctx, m, d, v, &e));
        int below = 0;
        for (int i = 0; i < N; i++) below += t[i] < v[i];
        fprintf(stderr, "    quantile 0.9: %.3f of the targets below\n", below / (double)N);
        CHECK(below > 0.85 * N && below < 0.95 * N);
    }
    duet_model_free(m);
    duet_data_free(d);
    /* absolute error: a median, better than the constant median on heavy-tailed noise */
    d = reg_data(ctx, N, 2, f_heavy, t);
    p.objective = DUET_OBJ_ABSOLUTE;
    p.quantile = 0;
    m = train(ctx, d, &p);
    if (m) {
        CHECK_OK(duet_model_predict_values(ctx, m, d, v, &e));
        double *s = malloc(N * sizeof(double)), mae = 0, mae0 = 0;
        memcpy(s, t, N * sizeof(double));
        qsort(s, N, sizeof(double), cmp_d);
        double med = s[N / 2];
        int below = 0;
        for (int i = 0; i < N; i++) mae += fabs(t[i] - v[i]), mae0 += fabs(t[i] - med), below += t[i] < v[i];
        fprintf(stderr, "    absolute: MAE %.3f (constant median %.3f), %.3f below\n", mae / N, mae0 / N, below / (double)N);
        CHECK(mae < 0.5 * mae0);
        CHECK(below > 0.4 * N && below < 0.6 * N);
        free(s);
    }
    duet_model_free(m);
    duet_data_free(d);
    /* Poisson: positive predictions whose mean is the targets' */
    d = reg_data(ctx, N, 3, f_counts, t);
    p.objective = DUET_OBJ_POISSON;
    m = train(ctx, d, &p);
    if (m) {
        CHECK_OK(duet_model_predict_values(ctx, m, d, v, &e));
        double mt = 0, mv = 0, mn = INFINITY;
        for (int i = 0; i < N; i++) mt += t[i] / N, mv += v[i] / N, mn = fmin(mn, v[i]);
        fprintf(stderr, "    poisson: mean prediction %.4f, mean target %.4f, least %.4f\n", mv, mt, mn);
        CHECK(mn > 0);
        CHECK(fabs(mv - mt) < 0.02 * mt);
    }
    duet_model_free(m);
    duet_data_free(d);
    /* three classes: probabilities sum to one, and most rows are right */
    d = synth(ctx, 1500, 6, 3, 11);
    p = gb_params(40, 15, 20, 0.2);
    m = train(ctx, d, &p);
    if (m) {
        CHECK(duet_model_classes(m) == 3);
        float *P = calloc(1500 * 3, sizeof(float));
        int32_t *lab = calloc(1500, sizeof(int32_t));
        CHECK_OK(duet_model_predict(ctx, m, d, lab, P, &e));
        double worst = 0;
        int right = 0;
        for (int i = 0; i < 1500; i++) {
            worst = fmax(worst, fabs(P[3 * i] + P[3 * i + 1] + P[3 * i + 2] - 1));
            right += dt_model_class(m, duet_data_label(d, i)) == lab[i];
        }
        CHECK(worst < 1e-5);
        CHECK(right > 1200);
        free(P);
        free(lab);
    }
    duet_model_free(m);
    duet_data_free(d);
    free(t);
    free(v);
    duet_ctx_free(ctx);
}

/* A target set by a category set: A, C, E high and B, D low, 200 rows each, the letters
 * interleaved so that no order of the codes separates them; a noise column beside. */
static void test_categories(void) {
    duet_ctx *ctx = new_ctx(2, 42);
    duet_err e = {0, ""};
    static const char *cats[] = {"A", "B", "C", "D", "E"};
    enum { N = 1000 };
    dt_rng r;
    dt_rng_seed(&r, 77);
    for (int cls = 0; cls <= 1; cls++) {
        tab t;
        tab_init(&t, N, 2);
        for (int i = 0; i < N; i++) {
            int k = i % 5, high = k % 2 == 0;
            tab_str(&t, i, 0, cats[k]);
            tab_num(&t, i, 1, floor(dt_rng_uniform(&r) * 100) / 4);
            if (cls) tab_label(&t, i, "%s", high ? "high" : "low");
            else tab_label(&t, i, "%.17g", high ? 10.0 : 0.0);
        }
        duet_data *d = tab_data(ctx, &t);
        duet_train_params p = gb_params(60, 4, 20, 0.3);
        p.task = cls ? DUET_TASK_CLASSIFICATION : DUET_TASK_REGRESSION;
        duet_model *m = train(ctx, d, &p);
        if (m && !cls) {
            double *v = calloc(N, sizeof(double)), se = 0;
            CHECK_OK(duet_model_predict_values(ctx, m, d, v, &e));
            for (int i = 0; i < N; i++) se += (v[i] - ((i % 5) % 2 == 0 ? 10 : 0)) * (v[i] - ((i % 5) % 2 == 0 ? 10 : 0));
            fprintf(stderr, "    categories: RMSE %.3g\n", sqrt(se / N));
            CHECK(sqrt(se / N) < 1e-3);
            free(v);
            double gain[2];
            int64_t splits[2];
            importance(m, gain, splits);
            CHECK(gain[0] > 1000 * gain[1]); /* the categories explain it, not the noise */
        }
        if (m && cls) {
            int32_t *lab = calloc(N, sizeof(int32_t));
            float *P = calloc(2 * N, sizeof(float));
            CHECK_OK(duet_model_predict(ctx, m, d, lab, P, &e));
            int right = 0;
            double worst = 0;
            for (int i = 0; i < N; i++) {
                int high = (i % 5) % 2 == 0, k = dt_model_class(m, high ? "high" : "low");
                right += lab[i] == k;
                worst = fmax(worst, 1 - P[2 * i + k]);
            }
            CHECK(right == N);
            CHECK(worst < 0.05);
            free(lab);
            free(P);
        }
        duet_model_free(m);
        duet_data_free(d);
        tab_free(&t);
    }
    duet_ctx_free(ctx);
}

/* A LIBSVM copy of a dense table with no missing values (zeros left out) gives the same model. */
static void test_sparse(void) {
    duet_ctx *ctx = new_ctx(2, 42);
    duet_err e = {0, ""};
    enum { N = 600, D = 5 };
    dt_rng r;
    dt_rng_seed(&r, 31);
    tab t;
    tab_init(&t, N, D);
    size_t cap = (size_t)N * 128;
    char *svm = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        double s = 0, x[D];
        for (int j = 0; j < D; j++) {
            x[j] = dt_rng_uniform(&r) < 0.4 ? 0 : 0.25 * (double)(int)(dt_rng_uniform(&r) * 40 - 20);
            if (i == 0) x[j] = 1 + j; /* every column present in the sparse file */
            tab_num(&t, i, j, x[j]);
        }
        s = x[0] - 0.5 * x[1] * (x[2] > 0) + (x[3] == 0 ? 2 : 0) + 0.3 * dt_rng_normal(&r);
        tab_label(&t, i, "%.17g", s);
        len += (size_t)snprintf(svm + len, cap - len, "%.17g", s);
        for (int j = 0; j < D; j++)
            if (x[j] != 0) len += (size_t)snprintf(svm + len, cap - len, " %d:%.17g", j + 1, x[j]);
        len += (size_t)snprintf(svm + len, cap - len, "\n");
    }
    duet_data *dd = tab_data(ctx, &t), *ds = NULL;
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_LIBSVM;
    CHECK_OK(duet_data_load_mem(ctx, "sparse", svm, len, &o, &ds, &e));
    CHECK(ds && duet_data_kind(ds) == DUET_DATA_SPARSE);
    duet_train_params p = gb_params(30, 12, 10, 0.3);
    p.task = DUET_TASK_REGRESSION;
    duet_model *md = train(ctx, dd, &p), *ms = ds ? train(ctx, ds, &p) : NULL;
    if (md && ms) {
        CHECK(duet_model_features(ms) == D);
        double *a = calloc(N, sizeof(double)), *b = calloc(N, sizeof(double)), worst = 0;
        CHECK_OK(duet_model_predict_values(ctx, md, dd, a, &e));
        CHECK_OK(duet_model_predict_values(ctx, ms, ds, b, &e));
        for (int i = 0; i < N; i++) worst = fmax(worst, fabs(a[i] - b[i]) / fmax(1, fabs(a[i])));
        if (worst > 1e-9) fprintf(stderr, "    sparse against dense: %.3g\n", worst);
        CHECK(worst <= 1e-9);
        double ga[D], gb[D];
        int64_t sa[D], sb[D];
        importance(md, ga, sa);
        importance(ms, gb, sb);
        CHECK(memcmp(sa, sb, sizeof sa) == 0);
        /* TreeSHAP on a sparse row (explain scatters it) */
        duet_feature fa[D], fb[D];
        int na = 0, nb = 0;
        CHECK_OK(duet_model_explain(ctx, md, dd, 5, 0, fa, D, &na, &e));
        CHECK_OK(duet_model_explain(ctx, ms, ds, 5, 0, fb, D, &nb, &e));
        CHECK(na == nb && na > 0);
        for (int w = 0; w < na && w < nb; w++) CHECK_NEAR(fa[w].value, fb[w].value, 1e-9);
        free(a);
        free(b);
    }
    duet_model_free(md);
    duet_model_free(ms);
    duet_data_free(dd);
    duet_data_free(ds);
    tab_free(&t);
    free(svm);
    duet_ctx_free(ctx);
}

/* A column that is "1" or missing (a flag): whether it is there decides the target. The one
 * split that uses it sends the values one way and the missing ones the other. */
static void test_missing_alone(void) {
    duet_ctx *ctx = new_ctx(2, 42);
    duet_err e = {0, ""};
    enum { N = 400 };
    dt_rng r;
    dt_rng_seed(&r, 3);
    tab t;
    tab_init(&t, N, 2);
    for (int i = 0; i < N; i++) {
        int on = i % 2;
        tab_num(&t, i, 0, on ? 1.0 : NAN);
        tab_num(&t, i, 1, dt_rng_uniform(&r));
        tab_label(&t, i, "%.17g", on ? 5.0 : 0.0);
    }
    duet_data *d = tab_data(ctx, &t);
    duet_train_params p = gb_params(50, 4, 10, 0.3);
    p.task = DUET_TASK_REGRESSION;
    duet_model *m = train(ctx, d, &p);
    if (m) {
        double *v = calloc(N, sizeof(double)), se = 0;
        CHECK_OK(duet_model_predict_values(ctx, m, d, v, &e));
        for (int i = 0; i < N; i++) se += (v[i] - (i % 2 ? 5 : 0)) * (v[i] - (i % 2 ? 5 : 0));
        if (sqrt(se / N) > 0.01) fprintf(stderr, "    a column present or missing: RMSE %.3g (never split on)\n", sqrt(se / N));
        CHECK(sqrt(se / N) < 0.01);
        free(v);
    }
    duet_model_free(m);
    duet_data_free(d);
    tab_free(&t);
    duet_ctx_free(ctx);
}

/* --- 6. bad parameters and targets ---------------------------------------------------------------- */

static int try_train(duet_ctx *ctx, const duet_data *d, const duet_train_params *p, duet_err *e) {
    duet_model *m = NULL;
    int rc = duet_model_train(ctx, d, p, &m, e);
    duet_model_free(m);
    return rc;
}

/* A numeric target of N rows with label labels[i] set by the caller. */
static duet_data *labelled(duet_ctx *ctx, int N, const char *const *labels) {
    tab t;
    tab_init(&t, N, 2);
    for (int i = 0; i < N; i++) {
        tab_num(&t, i, 0, i % 7);
        tab_num(&t, i, 1, (i * 13) % 5);
        snprintf(t.lbuf + 32 * i, 32, "%s", labels[i]);
    }
    duet_data *d = tab_data(ctx, &t);
    tab_free(&t);
    return d;
}

static void test_bad_input(void) {
    duet_ctx *ctx = new_ctx(2, 42);
    duet_err e = {0, ""};
    enum { N = 120 };
    const char *lab[N];
    char buf[N][16];
    for (int i = 0; i < N; i++) snprintf(buf[i], 16, "%.2f", 0.5 * i + 0.25), lab[i] = buf[i];
    duet_data *d = labelled(ctx, N, lab);
    duet_train_params p = gb_params(5, 4, 5, 0.3), q;
    p.task = DUET_TASK_REGRESSION;
    CHECK_OK(try_train(ctx, d, &p, &e)); /* the control */
    /* parameters (gbdt.c's resolve) */
    q = p, q.objective = DUET_OBJ_QUANTILE, q.quantile = 1.5;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "quantile");
    q = p, q.objective = DUET_OBJ_QUANTILE, q.quantile = -0.1;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "quantile");
    q = p, q.quantile = 0.3; /* a level without the quantile objective */
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "quantile");
    q = p, q.objective = DUET_OBJ_LOGLOSS;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "log-loss");
    q = p, q.objective = 99;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "objective");
    q = p, q.leaves = 1;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "leaves");
    q = p, q.leaves = 70000;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "leaves");
    q = p, q.bins = 300;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "bins");
    q = p, q.bins = 1;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "bins");
    q = p, q.lr = -0.1;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "learning rate");
    q = p, q.lr = 11;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "learning rate");
    q = p, q.lr = NAN;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "learning rate");
    q = p, q.subsample = 1.5;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "subsample");
    q = p, q.subsample = -0.5;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "subsample");
    q = p, q.colsample = 2;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "colsample");
    q = p, q.min_leaf = -3;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "min-leaf");
    q = p, q.rounds = -1;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "rounds");
    q = p, q.depth = -1;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "depth");
    q = p, q.reg_lambda = INFINITY;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "lambda");
    q = p, q.early_stop = 0, q.val_split = 1.5;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "held-out");
    /* zeros are the defaults, not errors: lr 0.1, subsample and colsample 1 */
    q = p, q.lr = 0, q.subsample = 0, q.colsample = 0;
    CHECK_OK(try_train(ctx, d, &q, &e));
    /* Poisson: a mean of zero or less has no log */
    duet_data_free(d);
    for (int i = 0; i < N; i++) snprintf(buf[i], 16, "%d", i % 2 ? -3 : 1);
    d = labelled(ctx, N, lab);
    q = p, q.objective = DUET_OBJ_POISSON;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "Poisson");
    duet_data_free(d);
    /* ... and a negative count is no count even when the mean is above 0 */
    for (int i = 0; i < N; i++) snprintf(buf[i], 16, "%d", i == 5 ? -1 : i % 4);
    d = labelled(ctx, N, lab);
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "Poisson");
    duet_data_free(d);
    /* a class target with a number's objective */
    for (int i = 0; i < N; i++) snprintf(buf[i], 16, "%s", i % 3 ? "x" : "y");
    d = labelled(ctx, N, lab);
    q = gb_params(5, 4, 5, 0.3), q.objective = DUET_OBJ_SQUARED;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "squared");
    /* ... and text in a numeric target */
    q = p;
    CHECK_ERR(try_train(ctx, d, &q, &e), &e, DUET_EINVAL, "row 1:");
    duet_data_free(d);
    for (int i = 0; i < N; i++) snprintf(buf[i], 16, "%g", 0.5 * i);
    snprintf(buf[41], 16, "abc");
    d = labelled(ctx, N, lab);
    CHECK_ERR(try_train(ctx, d, &p, &e), &e, DUET_EINVAL, "row 42");
    duet_data_free(d);
    snprintf(buf[41], 16, "nan");
    d = labelled(ctx, N, lab);
    CHECK_ERR(try_train(ctx, d, &p, &e), &e, DUET_EINVAL, "row 42");
    duet_data_free(d);
    snprintf(buf[41], 16, "20.5");
    snprintf(buf[99], 16, "-inf");
    d = labelled(ctx, N, lab);
    CHECK_ERR(try_train(ctx, d, &p, &e), &e, DUET_EINVAL, "row 100");
    duet_data_free(d);
    /* a constant target */
    for (int i = 0; i < N; i++) snprintf(buf[i], 16, "2.5");
    d = labelled(ctx, N, lab);
    CHECK_ERR(try_train(ctx, d, &p, &e), &e, DUET_EINVAL, "every row");
    duet_data_free(d);
    /* a categorical column of 70000 values */
    {
        enum { M = 70000 };
        tab t;
        tab_init(&t, M, 2);
        for (int i = 0; i < M; i++) {
            char s[16];
            snprintf(s, sizeof s, "id%d", i);
            tab_str(&t, i, 0, s);
            tab_num(&t, i, 1, i % 10);
            tab_label(&t, i, "%.2f", (i % 10) * 0.5 + 0.25);
        }
        d = tab_data(ctx, &t);
        tab_free(&t);
        CHECK_ERR(try_train(ctx, d, &p, &e), &e, DUET_EINVAL, "categories");
        CHECK(strstr(e.msg, "'a'") != NULL); /* the column's name */
        duet_data_free(d);
    }
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_golden);
    RUN(test_shap);
    RUN(test_threads);
    RUN(test_files);
    RUN(test_objectives);
    RUN(test_categories);
    RUN(test_sparse);
    RUN(test_missing_alone);
    RUN(test_bad_input);
    TEST_END();
}
