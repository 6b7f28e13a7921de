/* compare.c — `duet compare`: both families of models trained on the same data and measured
 * side by side (duet_compare_run), printed as a table and learning curves (text) or one JSON
 * object, and optionally written as an HTML report with plots.
 */
#include <math.h>
#include <string.h>

#include "cli.h"

const opt_spec compare_opts[] = {
    {"--models", "LIST", "models to compare, comma-separated (default: the models the registry compares on this kind of data; on a number, every model that learns one)"},
    {"--lm", "MODEL", "also a language model (a .duet or llama2.c file) classifying the text zero-shot"},
    {"--template", "T", "with --lm: its prompt, {text} the text, {label} the label"},
    {"--lm-tokenizer", "FILE", "with --lm: the tokenizer.bin of a llama2.c checkpoint"},
    {"--augment", "LABEL", "also train the discriminative models with synthetic rows of LABEL added; say whether it helps"},
    {"--augment-model", "M", "with --augment: the generative model that draws them (default nb)"},
    {"--augment-count", "N", "with --augment: how many (default: as many as LABEL has real training rows)"},
    {"--test-share", "F", "share of each class held out for measuring (default 0.2)"},
    {"--curves", "LIST", "learning curves of these models, or none (default: the compared models quick to fit)"},
    {"--curve-points", "N", "training-set sizes on a geometric grid (default 6)"},
    {"--curve-repeats", "N", "random subsets per size (default 5)"},
    {"--curve-min", "N", "smallest training-set size (default max(20, 2 x classes))"},
    {"--curve-max", "N", "largest training-set size (default: the whole training split)"},
    {"--report", "DIR", "write DIR/index.html and its PNG plots"},
    {"--format", "F", "text (default) or json"},
    {NULL, NULL, NULL},
};

/* "1.2 MB" */
static const char *human(int64_t b, char *buf, size_t len) {
    if (b < 1024) snprintf(buf, len, "%lld B", (long long)b);
    else if (b < 1024 * 1024) snprintf(buf, len, "%.1f kB", (double)b / 1024);
    else if (b < 1024LL * 1024 * 1024) snprintf(buf, len, "%.1f MB", (double)b / (1024 * 1024));
    else snprintf(buf, len, "%.2f GB", (double)b / (1024.0 * 1024 * 1024));
    return buf;
}

/* Regressors side by side: RMSE, MAE and R² on the held-out rows. */
static void print_numbers(const duet_compare *c) {
    printf("compare on %s: a number; %lld rows to train on, %lld held out (at random)\n\n", c->data, (long long)c->n_train,
           (long long)c->n_test);
    printf("%-9s %11s %11s %7s %9s %11s %10s %10s  %s\n", "model", "RMSE", "MAE", "R²", "fit s", "predict ms", "size",
           "peak mem", "tuned");
    for (int i = 0; i < c->n_models; i++) {
        const duet_compare_model *m = &c->models[i];
        if (!m->ok) {
            printf("%-9s failed: %s\n", m->name, m->error);
            continue;
        }
        char s1[32], s2[32];
        printf("%-9s %11.5g %11.5g %7.4f %9.2f %11.3f %10s %10s  %s\n", m->name, m->rmse, m->mae, m->r2, m->fit_seconds,
               m->predict_us / 1000.0, human(m->size_bytes, s1, sizeof s1), human(m->peak_bytes, s2, sizeof s2), m->tuned);
    }
}

static void print_text(const duet_compare *c) {
    if (c->K == 0) print_numbers(c);
    else {
    printf("compare on %s: %d classes; %lld rows to train on, %lld held out (stratified)\n\n", c->data, c->K,
           (long long)c->n_train, (long long)c->n_test);
    printf("%-9s %-15s %-22s %9s %9s %9s %11s %10s %10s  %s\n", "model", "family", "learns", "accuracy", "macro F1",
           "fit s", "predict ms", "size", "peak mem", "tuned");
    for (int i = 0; i < c->n_models; i++) {
        const duet_compare_model *m = &c->models[i];
        if (!m->ok) {
            printf("%-9s failed: %s\n", m->name, m->error);
            continue;
        }
        char s1[32], s2[32];
        printf("%-9s %-15s %-22s %9.4f %9.4f %9.2f %11.3f %10s %10s  %s\n", m->name,
               m->generative ? "generative" : "discriminative", m->learns, m->accuracy, m->f1, m->fit_seconds,
               m->predict_us / 1000.0, human(m->size_bytes, s1, sizeof s1), human(m->peak_bytes, s2, sizeof s2), m->tuned);
    }
    }
    if (c->n_curves > 0) {
        printf("\nlearning curves: %s on the held-out rows, mean +- sd over %d random subsets per size\n", c->K ? "error" : "RMSE",
               c->repeats);
        printf("%9s", "rows");
        for (int j = 0; j < c->n_curves; j++) printf("  %-17s", c->curves[j].name);
        printf("\n");
        for (int s = 0; s < c->n_sizes; s++) {
            printf("%9lld", (long long)c->sizes[s]);
            for (int j = 0; j < c->n_curves; j++) {
                double m = c->curves[j].err_mean[s], d = c->curves[j].err_std[s];
                if (isfinite(m) && !c->K) printf("  %-8.4g +- %-6.3g ", m, isfinite(d) ? d : 0.0);
                else if (isfinite(m)) printf("  %.4f +- %.4f   ", m, isfinite(d) ? d : 0.0);
                else printf("  %-17s", "-");
            }
            printf("\n");
        }
    }
    if (c->augment_label[0]) {
        printf("\naugmentation: %lld synthetic '%s' rows (%s) beside %lld real ones; the same held-out rows\n",
               (long long)c->augment_rows, c->augment_label, c->augment_model, (long long)c->augment_real);
        printf("%-9s %28s %28s %28s %12s\n", "model", "accuracy", "macro F1", "recall of label", "gained/lost");
        printf("%-9s %28s %28s %28s\n", "", "real -> synth (dup)", "real -> synth (dup)", "real -> synth (dup)");
        for (int i = 0; i < c->n_augment; i++) {
            const duet_compare_augment *g = &c->augment[i];
            if (!g->ok) {
                printf("%-9s failed: %s\n", g->name, g->error);
                continue;
            }
            printf("%-9s", g->name);
            const double *v[3] = {g->accuracy, g->f1, g->label_recall};
            for (int j = 0; j < 3; j++) printf("   %.4f -> %.4f (%.4f)", v[j][0], v[j][1], v[j][2]);
            printf(" %6lld/%lld%s\n", (long long)g->gained, (long long)g->lost, g->significant ? " *" : "");
        }
        printf("(dup: real rows of the class duplicated instead, the control; * beyond chance: McNemar's test at about 5 %%)\n%s\n",
               c->augment_verdict);
    }
    printf("\n%s\n", c->recommendation);
}

int cmd_compare(duet_ctx *ctx, const args *a) {
    if (a->npos != 1) return die("compare takes one labelled data set (see --help)");
    int fmt = 0;
    static const char *const fmts[] = {"text", "json", NULL};
    if (get(a, "--format") && pick("--format", get(a, "--format"), fmts, &fmt)) return 1;
    duet_compare_opts o = duet_compare_opts_default();
    if (train_params(a, &o.params)) return 1;
    o.models = get(a, "--models");
    const char *curves = get(a, "--curves");
    if (curves) o.curve_models = strcmp(curves, "none") == 0 ? "" : curves;
    if (opt_double(a, "--test-share", 0.01, 0.5, &o.test_share) || opt_int(a, "--curve-points", 2, 30, &o.curve_points) ||
        opt_int(a, "--curve-repeats", 1, 100, &o.curve_repeats) || opt_i64(a, "--curve-min", 2, 1LL << 40, &o.curve_min) ||
        opt_i64(a, "--curve-max", 2, 1LL << 40, &o.curve_max))
        return 1;
    o.augment = get(a, "--augment");
    o.augment_model = get(a, "--augment-model");
    o.lm_template = get(a, "--template");
    if (opt_i64(a, "--augment-count", 1, 1LL << 32, &o.augment_count)) return 1;
    if (!o.augment && (get(a, "--augment-model") || get(a, "--augment-count"))) return die("--augment-model and --augment-count go with --augment");
    if (!get(a, "--lm") && get(a, "--template")) return die("--template goes with --lm");
    duet_data *d = NULL;
    duet_compare *c = NULL;
    duet_model *lm = NULL;
    duet_err e;
    int rc = 1;
    if (get(a, "--lm")) {
        if (open_model(ctx, get(a, "--lm"), get(a, "--lm-tokenizer"), &lm)) goto done;
        if (duet_model_input_kind(lm) != DUET_DATA_CORPUS) {
            die("--lm %s: a %s model is not a language model", get(a, "--lm"), duet_model_name(lm));
            goto done;
        }
        o.lm = lm;
    }
    if (load_data(ctx, a, a->pos[0], 0, &d)) goto done;
    if (duet_compare_run(ctx, d, &o, &c, &e)) {
        fail(&e);
        goto done;
    }
    if (fmt == 1) {
        char *js = duet_compare_json(ctx, c);
        if (!js) {
            die("compare: out of memory");
            goto done;
        }
        printf("%s\n", js);
        duet_free(ctx, js);
    } else {
        print_text(c);
    }
    const char *dir = get(a, "--report");
    if (dir) {
        if (duet_compare_report(ctx, c, dir, &e)) {
            fail(&e);
            goto done;
        }
        if (fmt == 0) printf("report: %s/index.html\n", dir);
    }
    rc = 0;
done:
    duet_compare_free(ctx, c);
    duet_data_free(d);
    duet_model_free(lm);
    return rc;
}
