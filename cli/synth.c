/* synth.c — generative models at work on the command line: `duet synthesize` (synthetic
 * training data), `duet impute` (a table's missing cells filled), and `duet score --anomaly`
 * (unusual inputs ranked; with --against, the ranking measured by ROC-AUC).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const opt_spec synthesize_opts[] = {
    {"-o", "FILE", "where to write: FILE.csv / FILE.tsv (tables, text), an IDX images file, FILE.png or DIR/ (images)"},
    {"--count", "N", "examples to draw (default 100)"},
    {"--label", "NAME", "draw this class (default: classes drawn from the model's prior)"},
    {"--guidance", "W", "diffusion: classifier-free guidance (default 2)"},
    {"--sample-steps", "N", "diffusion: sampler steps"},
    {"--ddim", NULL, "diffusion: the deterministic DDIM sampler (50 steps)"},
    {NULL, NULL, NULL},
};

int cmd_synthesize(duet_ctx *ctx, const args *a) {
    if (a->npos != 1) return die("synthesize takes one model file");
    const char *path = get(a, "-o");
    if (!path || !path[0]) return die("synthesize needs -o FILE");
    int64_t count = 100, seed = 1;
    if (opt_i64(a, "--count", 1, 10000000, &count) || opt_i64(a, "--seed", 0, 0x7fffffffffffffffLL, &seed)) return 1;
    duet_sample_opts so = {0, 0, get(a, "--ddim") != NULL};
    if (opt_double(a, "--guidance", 0, 1000, &so.guidance) || opt_int(a, "--sample-steps", 1, 100000, &so.steps)) return 1;
    duet_model *m = NULL;
    duet_err e;
    if (duet_model_load(ctx, a->pos[0], &m, &e)) return fail(&e);
    int rc = 0;
    if (!(duet_model_caps(m) & DUET_CAN_SAMPLE))
        rc = die("%s: a %s model learns %s and cannot draw examples", a->pos[0], duet_model_name(m), duet_model_learns(m));
    else if (duet_model_synthesize(ctx, m, get(a, "--label"), count, (uint64_t)seed, &so, path, &e))
        rc = fail(&e);
    else
        fprintf(stderr, "wrote %lld synthetic examples to %s\n", (long long)count, path);
    duet_model_free(m);
    return rc;
}

const opt_spec impute_opts[] = {
    {"-o", "FILE", "the completed table (CSV)"},
    {"--draw", NULL, "draw each missing cell from its conditional distribution instead of its most likely value"},
    {NULL, NULL, NULL},
};

int cmd_impute(duet_ctx *ctx, const args *a) {
    if (a->npos != 2) return die("impute takes a model and a table");
    const char *path = get(a, "-o");
    if (!path || !path[0]) return die("impute needs -o FILE");
    int64_t seed = 1;
    if (opt_i64(a, "--seed", 0, 0x7fffffffffffffffLL, &seed)) return 1;
    duet_model *m = NULL;
    duet_data *d = NULL;
    duet_err e;
    int rc = 1;
    int64_t filled = 0;
    duet_load_opts o;
    if (load_opts(a, &o)) return 1;
    if (duet_model_load(ctx, a->pos[0], &m, &e)) return fail(&e);
    /* labelled (its last column, or --label) when the table has one column more than the model's */
    o.unlabelled = 1;
    if (duet_data_load(ctx, a->pos[1], &o, &d, &e)) {
        fail(&e);
        goto done;
    }
    if (get(a, "--label") || duet_data_columns(d) == duet_model_table_columns(m) + 1) {
        duet_data_free(d);
        d = NULL;
        o.unlabelled = 0;
        if (duet_data_load(ctx, a->pos[1], &o, &d, &e)) {
            fail(&e);
            goto done;
        }
    }
    if (duet_model_impute(ctx, m, d, get(a, "--draw") != NULL, (uint64_t)seed, path, &filled, &e)) {
        fail(&e);
        goto done;
    }
    fprintf(stderr, "filled %lld missing cells of %lld rows; wrote %s\n", (long long)filled, (long long)duet_data_rows(d), path);
    rc = 0;
done:
    duet_data_free(d);
    duet_model_free(m);
    return rc;
}

/* Rows to score for anomalies: a language model reads lines of text (label<TAB>text when every
 * line has one, else whole lines); other models read data as for scoring (--against's without
 * labels). */
static int anomaly_data(duet_ctx *ctx, const args *a, const duet_model *m, const char *path, int against, duet_data **d) {
    duet_load_opts o;
    duet_err e;
    if (load_opts(a, &o)) return 1;
    if (against) o.labels_path = NULL; /* --labels belongs to DATA */
    if (duet_model_input_kind(m) == DUET_DATA_CORPUS) {
        o.format = DUET_FMT_TEXT;
        if (duet_data_load(ctx, path, &o, d, &e) == DUET_OK) return 0;
        o.unlabelled = 1;
    }
    if (duet_data_load(ctx, path, &o, d, &e) == DUET_OK) return 0;
    o.unlabelled = 1;
    if (duet_data_load(ctx, path, &o, d, &e) == DUET_OK) return 0;
    return fail(&e);
}

int score_anomaly(duet_ctx *ctx, const args *a, const duet_model *m, int fmt) {
    int method = DUET_ANOMALY_AUTO;
    const char *how = get(a, "--score");
    if (how) {
        static const char *const names[] = {"auto", "nll", "ratio", "rate", NULL};
        if (pick("--score", how, names, &method)) return 1;
    }
    const char *against = get(a, "--against");
    duet_data *d = NULL, *o = NULL;
    double *s = NULL, *u = NULL;
    duet_err e;
    int rc = 1;
    if (anomaly_data(ctx, a, m, a->pos[1], 0, &d) || (against && anomaly_data(ctx, a, m, against, 1, &o))) goto done;
    int64_t n = duet_data_rows(d), k = o ? duet_data_rows(o) : 0;
    s = calloc((size_t)n + 1, sizeof *s), u = calloc((size_t)k + 1, sizeof *u);
    if (!s || !u) {
        die("out of memory");
        goto done;
    }
    if (!against) {
        if (duet_model_anomaly(ctx, m, d, method, s, &e)) {
            fail(&e);
            goto done;
        }
        if (fmt == 0)
            for (int64_t i = 0; i < n; i++) printf("%.4f\n", s[i]);
        else {
            static const char *const mn[] = {"auto", "nll", "ratio", "rate"};
            printf("{\"n\":%lld,\"score\":\"%s\",\"anomaly\":[", (long long)n, mn[method]);
            for (int64_t i = 0; i < n; i++) {
                if (i) putchar(',');
                json_num(stdout, s[i]);
            }
            printf("]}\n");
        }
        rc = 0;
        goto done;
    }
    /* every score on both sets: how well each tells the other set's rows (positives) from DATA's */
    static const char *const what[] = {"", "raw likelihood, -log2 p(x)", "likelihood ratio against zlib", "bits per byte"};
    static const char *const key[] = {"", "auc_nll", "auc_ratio", "auc_rate"};
    double auc[4] = {0};
    for (int h = DUET_ANOMALY_NLL; h <= DUET_ANOMALY_RATE; h++) {
        if (duet_model_anomaly(ctx, m, d, h, s, &e) || duet_model_anomaly(ctx, m, o, h, u, &e)) {
            fail(&e);
            goto done;
        }
        auc[h] = duet_roc_auc(ctx, s, n, u, k);
    }
    if (fmt == 0) {
        printf("anomaly detection: %lld rows of %s (usual) against %lld of %s (unusual)\n", (long long)n, a->pos[1], (long long)k,
               against);
        for (int h = DUET_ANOMALY_NLL; h <= DUET_ANOMALY_RATE; h++) printf("  ROC-AUC, %-32s %.4f\n", what[h], auc[h]);
    } else {
        printf("{\"n\":%lld,\"n_against\":%lld", (long long)n, (long long)k);
        for (int h = DUET_ANOMALY_NLL; h <= DUET_ANOMALY_RATE; h++) {
            printf(",\"%s\":", key[h]);
            json_num(stdout, auc[h]);
        }
        printf("}\n");
    }
    rc = 0;
done:
    free(s);
    free(u);
    duet_data_free(d);
    duet_data_free(o);
    return rc;
}

/* A text buffer that a language model's output is gathered into. */
typedef struct text_buf {
    char *s;
    size_t n, cap;
} text_buf;

static int gather(void *user, const char *piece, size_t len) {
    text_buf *b = user;
    if (b->n + len + 1 > b->cap) {
        size_t nc = (b->n + len + 1) * 2;
        char *p = realloc(b->s, nc);
        if (!p) return 1;
        b->s = p, b->cap = nc;
    }
    memcpy(b->s + b->n, piece, len);
    b->n += len;
    b->s[b->n] = 0;
    return 0;
}

/* P(keep) of one text under the classifier (a one-line text dataset). */
static int text_prob(duet_ctx *ctx, const duet_model *clf, int k, const char *text, double *p, duet_err *e) {
    size_t n = strlen(text);
    char *line = malloc(n + 2);
    if (!line) {
        e->code = DUET_ENOMEM;
        snprintf(e->msg, sizeof e->msg, "out of memory");
        return DUET_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) line[i] = text[i] == '\n' || text[i] == '\r' ? ' ' : text[i];
    line[n] = '\n', line[n + 1] = 0;
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_TEXT;
    o.unlabelled = 1;
    duet_data *d = NULL;
    int rc = duet_data_load_mem(ctx, "generated", line, n + 1, &o, &d, e);
    free(line);
    float pr[256];
    int32_t lab;
    if (!rc && duet_model_classes(clf) > 256) rc = DUET_ERANGE;
    if (!rc && duet_data_rows(d) == 0) *p = 0; /* blank text: never kept */
    else if (!rc) rc = duet_model_predict(ctx, clf, d, &lab, pr, e);
    if (!rc && duet_data_rows(d)) *p = pr[k];
    duet_data_free(d);
    return rc;
}

int generate_filtered(duet_ctx *ctx, const args *a, const duet_model *m, FILE *out, const char *opath, int images) {
    const char *keep = get(a, "--keep");
    if (!keep) return die("--filter needs --keep LABEL (the classifier's class to keep)");
    double minp = 0.5;
    int64_t count = images ? 64 : 10, maxd = 0, seed = 1;
    int cols = 0;
    if (opt_double(a, "--min-prob", 0, 1, &minp) || opt_i64(a, "--count", 1, 10000000, &count) ||
        opt_i64(a, "--max-draws", 1, 1LL << 40, &maxd) || opt_i64(a, "--seed", 0, 0x7fffffffffffffffLL, &seed) ||
        opt_int(a, "--cols", 1, 1000, &cols))
        return 1;
    if (!maxd) maxd = 100 * count;
    duet_model *clf = NULL;
    duet_data *s = NULL;
    duet_err e;
    int rc = 1, k = -1;
    int64_t drawn = 0, kept = 0;
    if (duet_model_load(ctx, get(a, "--filter"), &clf, &e)) return fail(&e);
    for (int c = 0; c < duet_model_classes(clf); c++)
        if (!strcmp(duet_model_class_name(clf, c), keep)) k = c;
    if (!(duet_model_caps(clf) & DUET_CAN_PREDICT) || k < 0) {
        die("%s: %s", get(a, "--filter"), k < 0 ? "the label to --keep is not one of its classes" : "it cannot classify");
        goto done;
    }
    if (duet_model_input_kind(m) == DUET_DATA_CORPUS) { /* a language model: one text at a time */
        duet_gen_opts o;
        if (gen_opts(a, &o)) goto done;
        uint64_t base = o.seed;
        text_buf b = {0};
        for (; kept < count && drawn < maxd; drawn++) {
            b.n = 0;
            if (gather(&b, "", 0)) break;
            o.seed = base + (uint64_t)drawn;
            double p = 0;
            if (duet_model_generate(ctx, m, &o, gather, &b, NULL, &e) ||
                text_prob(ctx, clf, k, b.s, &p, &e)) {
                free(b.s);
                fail(&e);
                goto done;
            }
            if (p >= minp) {
                fprintf(out, "%s%s\n", o.prompt ? o.prompt : "", b.s);
                kept++;
            }
        }
        free(b.s);
    } else {
        duet_sample_opts so = {0, 0, get(a, "--ddim") != NULL};
        if (opt_double(a, "--guidance", 0, 1000, &so.guidance) || opt_int(a, "--sample-steps", 1, 100000, &so.steps)) goto done;
        if (duet_model_sample_filtered(ctx, m, get(a, "--label"), count, (uint64_t)seed, &so, clf, keep, minp, maxd, &s, &drawn,
                                       &e)) {
            fail(&e);
            goto done;
        }
        kept = duet_data_rows(s);
        if (images && kept && duet_data_write_png(ctx, s, opath, cols, &e)) {
            fail(&e);
            goto done;
        }
        char buf[1 << 14];
        for (int64_t i = 0; !images && i < kept; i++) {
            if (duet_data_row_string(s, i, buf, sizeof buf, &e)) {
                fail(&e);
                goto done;
            }
            fprintf(out, "%s\t%s\n", duet_data_label(s, i), buf);
        }
    }
    fprintf(stderr, "kept %lld of %lld drawn (acceptance %.1f %%) with P(%s) >= %g by %s%s\n", (long long)kept, (long long)drawn,
            drawn ? 100.0 * (double)kept / (double)drawn : 0.0, keep, minp, get(a, "--filter"),
            kept < count ? "; stopped at --max-draws" : "");
    rc = 0;
done:
    duet_data_free(s);
    duet_model_free(clf);
    return rc;
}

/* Splits "a,b,c" into at most max names (pointers into buf, a copy of s). */
static int split_labels(const char *s, char *buf, size_t len, const char **out, int max) {
    snprintf(buf, len, "%s", s);
    int n = 0;
    for (char *p = buf; p && *p && n < max;) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        if (*p) out[n++] = p;
        p = c ? c + 1 : NULL;
    }
    return n;
}

int predict_zeroshot(duet_ctx *ctx, const args *a, const duet_model *lm, int fmt) {
    const char *labels[1000];
    static char buf[1 << 16];
    int K = split_labels(get(a, "--labels"), buf, sizeof buf, labels, 1000);
    if (K < 2) return die("--labels needs two or more labels, comma-separated");
    duet_load_opts o;
    duet_data *d = NULL;
    duet_err e;
    float *P = NULL;
    int rc = 1;
    if (load_opts(a, &o)) return 1;
    o.format = DUET_FMT_TEXT; /* label<TAB>text, or whole lines */
    if (duet_data_load(ctx, a->pos[1], &o, &d, &e)) {
        o.unlabelled = 1;
        if (duet_data_load(ctx, a->pos[1], &o, &d, &e)) return fail(&e);
    }
    int64_t N = duet_data_rows(d), scored = 0, right = 0;
    if (!(P = calloc((size_t)(N ? N : 1) * (size_t)K, sizeof *P))) {
        die("out of memory");
        goto done;
    }
    if (duet_lm_classify(ctx, lm, d, labels, K, get(a, "--template"), get(a, "--no-calibrate") == NULL, P, &e)) {
        fail(&e);
        goto done;
    }
    if (fmt == 2) {
        fputs("label", stdout);
        for (int k = 0; get(a, "--proba") && k < K; k++) printf(",p_%s", labels[k]);
        putchar('\n');
    }
    for (int64_t i = 0; i < N; i++) {
        const float *p = P + (size_t)i * (size_t)K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (p[k] > p[best]) best = k;
        const char *truth = duet_data_label(d, i);
        for (int k = 0; truth && k < K; k++)
            if (!strcmp(truth, labels[k])) scored++, right += k == best;
        if (fmt == 1) {
            printf("{\"label\":");
            json_str(stdout, labels[best]);
            printf(",\"probabilities\":{");
            for (int k = 0; k < K; k++) {
                if (k) putchar(',');
                json_str(stdout, labels[k]);
                printf(":%.6g", (double)p[k]);
            }
            printf("}}\n");
        } else if (fmt == 2) {
            fputs(labels[best], stdout);
            for (int k = 0; get(a, "--proba") && k < K; k++) printf(",%.6g", (double)p[k]);
            putchar('\n');
        } else {
            fputs(labels[best], stdout);
            for (int k = 0; get(a, "--proba") && k < K; k++) printf("%s%s=%.4f", k ? " " : "\t", labels[k], (double)p[k]);
            putchar('\n');
        }
    }
    if (scored) fprintf(stderr, "zero-shot accuracy on the %lld rows labelled with a candidate: %.4f\n", (long long)scored,
                        (double)right / (double)scored);
    rc = 0;
done:
    free(P);
    duet_data_free(d);
    return rc;
}
