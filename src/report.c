/* report.c — the comparison as a report folder (duet_compare_report): index.html, one page
 * with everything inline (style, tables, the recommendation) that refers only to the two PNG
 * plots beside it: learning_curves.png (error against training-set size, mean and standard
 * deviation over the repeats) and cost_accuracy.png (held-out accuracy against fit time).
 * Every file is written to a temporary name and renamed.
 * Not here: the measurements (compare.c), the drawing (io/plot.c).
 */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>

#include "core/dt.h"
#include "io/plot.h"

/* text with the characters HTML gives meaning to escaped */
static void esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void bytes(FILE *f, int64_t b) {
    if (b < 1024) fprintf(f, "%lld B", (long long)b);
    else if (b < 1024 * 1024) fprintf(f, "%.1f kB", (double)b / 1024);
    else fprintf(f, "%.1f MB", (double)b / (1024 * 1024));
}

static int plots(duet_ctx *ctx, const duet_compare *c, const char *dir, int *have_curves, duet_err *err) {
    char path[4096];
    int rc = DUET_OK;
    *have_curves = 0;
    if (c->n_curves > 0 && c->n_sizes > 1) {
        dt_series s[16];
        double *x = dt_alloc_e(ctx, (size_t)c->n_sizes, sizeof(double), "report", err);
        if (!x) return DUET_ENOMEM;
        for (int i = 0; i < c->n_sizes; i++) x[i] = (double)c->sizes[i];
        int ns = c->n_curves < 16 ? c->n_curves : 16;
        for (int k = 0; k < ns; k++) s[k] = (dt_series){c->curves[k].name, x, c->curves[k].err_mean, c->curves[k].err_std, c->n_sizes};
        snprintf(path, sizeof path, "%s/learning_curves.png", dir);
        rc = dt_plot_lines(ctx, path, "Learning curves", "training examples (log scale)", "error on held-out rows", 1, s, ns,
                           err);
        dt_free(ctx, x);
        if (rc) return rc;
        *have_curves = 1;
    }
    int n = c->n_models;
    double *fx = dt_alloc_e(ctx, (size_t)(n ? n : 1), sizeof(double), "report", err);
    double *fy = dt_alloc_e(ctx, (size_t)(n ? n : 1), sizeof(double), "report", err);
    const char **lab = dt_alloc_e(ctx, (size_t)(n ? n : 1), sizeof(char *), "report", err);
    int *grp = dt_alloc_e(ctx, (size_t)(n ? n : 1), sizeof(int), "report", err);
    if (!fx || !fy || !lab || !grp) {
        rc = DUET_ENOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const duet_compare_model *m = &c->models[i];
        fx[i] = m->ok ? m->fit_seconds : NAN;
        fy[i] = m->ok ? m->accuracy : NAN;
        lab[i] = m->name;
        grp[i] = m->generative;
    }
    static const char *const groups[] = {"discriminative", "generative"};
    snprintf(path, sizeof path, "%s/cost_accuracy.png", dir);
    rc = dt_plot_scatter(ctx, path, "Accuracy against fit time", "fit seconds (log scale)", "held-out accuracy", 1, fx, fy,
                         lab, grp, groups, n, 2, err);
done:
    dt_free(ctx, fx);
    dt_free(ctx, fy);
    dt_free(ctx, (void *)lab);
    dt_free(ctx, grp);
    return rc;
}

static void page(FILE *f, const duet_compare *c, int have_curves) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>duet compare: ", f);
    esc(f, c->data);
    fputs("</title>\n<style>\n"
          "body{font:15px/1.45 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}\n"
          "table{border-collapse:collapse;margin:1em 0}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}\n"
          "th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}.gen{color:#c55a00}.dis{color:#1f5fa4}\n"
          ".rec{background:#f3f8ee;border-left:4px solid #5a9e2f;padding:.6em 1em}img{max-width:100%;border:1px solid #eee}\n"
          "</style>\n</head>\n<body>\n<h1>Discriminative and generative models on ",
          f);
    esc(f, c->data);
    fprintf(f, "</h1>\n<p>%d classes; every model trained on the same %lld rows and measured on the same %lld held-out rows "
               "(a stratified split).</p>\n",
            c->K, (long long)c->n_train, (long long)c->n_test);
    fputs("<p class=\"rec\">", f);
    esc(f, c->recommendation);
    fputs("</p>\n<h2>Held-out results</h2>\n<table id=\"models\">\n<tr><th>model</th><th>family</th><th>learns</th>"
          "<th>accuracy</th><th>macro F1</th><th>fit (s)</th><th>predict one (ms)</th><th>model file</th>"
          "<th>peak memory</th><th>tuned</th></tr>\n",
          f);
    for (int i = 0; i < c->n_models; i++) {
        const duet_compare_model *m = &c->models[i];
        fputs("<tr><td>", f);
        esc(f, m->name);
        if (!m->ok) {
            fputs("</td><td colspan=\"9\">could not be trained here: ", f);
            esc(f, m->error);
            fputs("</td></tr>\n", f);
            continue;
        }
        fprintf(f, "</td><td class=\"%s\">%s</td><td>", m->generative ? "gen" : "dis",
                m->generative ? "generative" : "discriminative");
        esc(f, m->learns);
        fprintf(f, "</td><td>%.4f</td><td>%.4f</td><td>%.2f</td><td>%.3f</td><td>", m->accuracy, m->f1, m->fit_seconds,
                m->predict_us / 1000.0);
        bytes(f, m->size_bytes);
        fputs("</td><td>", f);
        bytes(f, m->peak_bytes);
        fputs("</td><td>", f);
        esc(f, m->tuned);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<p>Fit time includes building the features and, where a model tunes its regularisation, "
          "5-fold cross-validation. Peak memory counts the library's own allocations.</p>\n"
          "<img src=\"cost_accuracy.png\" alt=\"held-out accuracy against fit time\" width=\"760\" height=\"460\">\n",
          f);
    if (have_curves) {
        fprintf(f, "<h2>Learning curves</h2>\n<p>Error on the held-out rows against the number of training rows: each point "
                   "is the mean over %d random stratified subsets of the training split (bars: one standard deviation), "
                   "with each model's regularisation fixed at what cross-validation chose on the whole split "
                   "(Ng &amp; Jordan 2001).</p>\n"
                   "<img src=\"learning_curves.png\" alt=\"learning curves\" width=\"760\" height=\"460\">\n"
                   "<table id=\"curves\">\n<tr><th>rows</th>",
                c->repeats);
        for (int k = 0; k < c->n_curves; k++) {
            fputs("<th>", f);
            esc(f, c->curves[k].name);
            fputs("</th>", f);
        }
        fputs("</tr>\n", f);
        for (int s = 0; s < c->n_sizes; s++) {
            fprintf(f, "<tr><td>%lld</td>", (long long)c->sizes[s]);
            for (int k = 0; k < c->n_curves; k++) {
                double m = c->curves[k].err_mean[s], d = c->curves[k].err_std[s];
                if (isfinite(m)) fprintf(f, "<td>%.4f &plusmn; %.4f</td>", m, isfinite(d) ? d : 0.0);
                else fputs("<td>&ndash;</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    if (c->augment_label[0]) {
        fputs("<h2>Synthetic rows</h2>\n<p>", f);
        esc(f, c->augment_verdict);
        fputs("</p>\n<table id=\"augment\">\n<tr><th>model</th><th>accuracy</th><th>macro F1</th><th>recall of ", f);
        esc(f, c->augment_label);
        fputs("</th><th>F1 of ", f);
        esc(f, c->augment_label);
        fputs("</th><th>rows gained / lost</th><th>duplicated real rows instead: accuracy, recall</th></tr>\n", f);
        for (int i = 0; i < c->n_augment; i++) {
            const duet_compare_augment *a = &c->augment[i];
            fputs("<tr><td>", f);
            esc(f, a->name);
            if (!a->ok) {
                fputs("</td><td colspan=\"6\">failed: ", f);
                esc(f, a->error);
                fputs("</td></tr>\n", f);
                continue;
            }
            fprintf(f, "</td><td>%.4f &rarr; %.4f</td><td>%.4f &rarr; %.4f</td><td>%.4f &rarr; %.4f</td><td>%.4f &rarr; %.4f</td>"
                       "<td>%lld / %lld%s</td><td>%.4f, %.4f</td></tr>\n",
                    a->accuracy[0], a->accuracy[1], a->f1[0], a->f1[1], a->label_recall[0], a->label_recall[1], a->label_f1[0],
                    a->label_f1[1], (long long)a->gained, (long long)a->lost, a->significant ? " (beyond chance)" : "",
                    a->accuracy[2], a->label_recall[2]);
        }
        fputs("</table>\n<p>Each model is trained on the real training rows, then on them and the synthetic ones, and, as a "
              "control, on them and as many real rows of the class drawn again, with the same settings, and measured on "
              "the same held-out rows; beyond chance: McNemar's test at about 5 %.</p>\n",
              f);
    }
    fprintf(f, "<p><small>Made by duet %s.</small></p>\n</body>\n</html>\n", duet_version());
}

int duet_compare_report(duet_ctx *ctx, const duet_compare *c, const char *dir, duet_err *err) {
    if (!ctx || !c || !dir || !dir[0]) return dt_err(err, DUET_EINVAL, "duet_compare_report: missing argument");
    if (strlen(dir) > 3000) return dt_err(err, DUET_EINVAL, "report: folder name too long");
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (mkdir(dir, 0777) != 0) return dt_err(err, DUET_EIO, "%s: cannot create the report folder: %s", dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        return dt_err(err, DUET_EIO, "%s: not a folder", dir);
    }
    int have_curves = 0;
    int rc = plots(ctx, c, dir, &have_curves, err);
    if (rc) return rc;
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/index.html", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return dt_err(err, DUET_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    page(f, c, have_curves);
    int bad = ferror(f) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return dt_err(err, DUET_EIO, "%s: write failed", path);
    }
    return DUET_OK;
}
