/* duet.c — the command line: parses flags, calls the library through include/duet.h only, and
 * turns a status into a one-line error and a non-zero exit. Dispatches on what a model can do
 * (duet_model_caps), never on its name.
 * Commands: train, predict, eval, info, generate, score, import (here), compare (compare.c),
 * synthesize and impute (synth.c);
 * `duet help COMMAND` or `--help`. Helpers shared with the other files are declared in cli.h.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* --- options ---------------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static int quiet, tty;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("duet: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int fail(const duet_err *e) { return die("%s", e->msg[0] ? e->msg : duet_status_name(e->code)); }

const char *get(const args *a, const char *name) {
    for (int i = a->n - 1; i >= 0; i--)
        if (strcmp(a->key[i], name) == 0) return a->val[i] ? a->val[i] : "";
    return NULL;
}

static const opt_spec *find_spec(const opt_spec *s, const char *name) {
    for (; s->name; s++)
        if (strcmp(s->name, name) == 0) return s;
    return NULL;
}

/* Parses argv against the command's options (and the common ones). 0 ok, 1 error, 2 help. */
static int parse(int argc, char **argv, const opt_spec *spec, const opt_spec *common, args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) return 2;
        if (s[0] != '-' || strcmp(s, "-") == 0) {
            if (a->npos == 8) return die("too many arguments (at '%s')", s);
            a->pos[a->npos++] = s;
            continue;
        }
        char name[64];
        const char *eq = strchr(s, '=');
        size_t len = eq ? (size_t)(eq - s) : strlen(s);
        if (len >= sizeof name) return die("unknown option '%s'", s);
        memcpy(name, s, len);
        name[len] = 0;
        const opt_spec *o = find_spec(spec, name);
        if (!o) o = find_spec(common, name);
        if (!o) return die("unknown option '%s' (see --help)", name);
        if (a->n == MAX_ARGS) return die("too many options");
        a->key[a->n] = o->name;
        if (o->arg) {
            if (eq) a->val[a->n] = eq + 1;
            else if (i + 1 < argc) a->val[a->n] = argv[++i];
            else return die("option %s needs a value (%s)", name, o->arg);
        } else if (eq) {
            return die("option %s takes no value", name);
        }
        a->n++;
    }
    return 0;
}

static int to_long(const char *flag, const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return die("%s must be an integer in %lld..%lld (got '%s')", flag, lo, hi, s);
    *out = v;
    return 0;
}

static int to_double(const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return die("%s must be a number in %g..%g (got '%s')", flag, lo, hi, s);
    *out = v;
    return 0;
}

/* Integer option into *out when present. */
int opt_int(const args *a, const char *flag, long long lo, long long hi, int *out) {
    const char *s = get(a, flag);
    long long v;
    if (!s) return 0;
    if (to_long(flag, s, lo, hi, &v)) return 1;
    *out = (int)v;
    return 0;
}

int opt_i64(const args *a, const char *flag, long long lo, long long hi, int64_t *out) {
    const char *s = get(a, flag);
    long long v;
    if (!s) return 0;
    if (to_long(flag, s, lo, hi, &v)) return 1;
    *out = v;
    return 0;
}

int opt_double(const args *a, const char *flag, double lo, double hi, double *out) {
    const char *s = get(a, flag);
    return s ? to_double(flag, s, lo, hi, out) : 0;
}

/* "1-2" or "3" */
static int opt_range(const args *a, const char *flag, int *lo, int *hi) {
    const char *s = get(a, flag);
    if (!s) return 0;
    int x, y, n = 0;
    if (sscanf(s, "%d-%d%n", &x, &y, &n) == 2 && s[n] == 0) {
    } else if (sscanf(s, "%d%n", &x, &n) == 1 && s[n] == 0) {
        y = x;
    } else {
        return die("%s takes a range like 1-2 (got '%s')", flag, s);
    }
    if (x < 1 || y < x || y > 16) return die("%s: range %d-%d must satisfy 1 <= min <= max <= 16", flag, x, y);
    *lo = x;
    *hi = y;
    return 0;
}

int pick(const char *flag, const char *s, const char *const *names, int *out) {
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    char list[256] = "";
    for (int i = 0; names[i]; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    return die("%s must be one of %s (got '%s')", flag, list, s);
}

/* --- help ----------------------------------------------------------------------------------- */

static const opt_spec common_opts[] = {
    {"--threads", "N", "worker threads (default: OMP_NUM_THREADS, else all cores)"},
    {"--seed", "S", "random seed (default 1): same seed, same model"},
    {"--quiet", NULL, "no progress or information on stderr"},
    {"--max-memory", "SIZE", "refuse work that needs more memory than SIZE (e.g. 4G, 512M; default: the machine's memory)"},
    {NULL, NULL, NULL},
};

const opt_spec data_opts_list[] = {
    {"--label", "COL", "label column: header name or 1-based index (default: last; JSONL: \"label\")"},
    {"--text", "COL", "text column or field: header name or 1-based index (makes a CSV text data)"},
    {"--labels", "FILE", "IDX label file that goes with IDX images"},
    {"--input-format", "F", "csv, libsvm, text (label<TAB>text), jsonl, dir, idx or corpus (default: detect)"},
    {"--header", "yes|no", "CSV: whether the first row names the columns (default: detect)"},
    {"--sep", "C", "CSV separator: , ; tab or space (default: detect)"},
    {"--limit", "N", "read only the first N examples"},
    {"--latin1", NULL, "decode text as Latin-1 instead of UTF-8"},
    {"--stream", "yes|no", "LIBSVM: keep the values in temporary files on disk, not in memory (default: when the file is over half of --max-memory)"},
    {NULL, NULL, NULL},
};

/* Options; one of empty help is a model's own: what it means to each model that reads it (only
 * to `model` when not NULL), models that read it alike on one line. */
static void print_opts_for(const opt_spec *s, const char *model) {
    for (; s->name; s++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", s->name, s->arg ? " " : "", s->arg ? s->arg : "");
        if (strcmp(s->name, "--model") == 0) {
            printf("  %-22s the model (default: %s for classes, %s for numbers):\n", left, duet_model_default(DUET_TASK_CLASSIFICATION),
                   duet_model_default(DUET_TASK_REGRESSION));
            for (int i = 0; duet_model_type(i); i++)
                if (!model || strcmp(model, duet_model_type(i)) == 0)
                    printf("  %-22s   %-9s %s\n", "", duet_model_type(i), duet_model_type_about(duet_model_type(i)));
            continue;
        }
        if (s->help[0]) {
            printf("  %-22s %s\n", left, s->help);
            continue;
        }
        int shown = 0;
        for (int i = 0; duet_model_type(i); i++) {
            const char *name = duet_model_type(i), *h = duet_model_option(name, s->name);
            if (!h || (model && strcmp(model, name) != 0)) continue;
            int first = 1; /* models with this meaning were listed with the first of them */
            for (int j = 0; j < i && first; j++) {
                const char *hj = duet_model_option(duet_model_type(j), s->name);
                if (hj && strcmp(hj, h) == 0 && (!model || strcmp(model, duet_model_type(j)) == 0)) first = 0;
            }
            if (!first) continue;
            char who[128];
            size_t w = (size_t)snprintf(who, sizeof who, "%s", name);
            for (int j = i + 1; duet_model_type(j) && w < sizeof who; j++) {
                const char *hj = duet_model_option(duet_model_type(j), s->name);
                if (hj && strcmp(hj, h) == 0 && !model) w += (size_t)snprintf(who + w, sizeof who - w, ", %s", duet_model_type(j));
            }
            printf("  %-22s %s: %s\n", shown ? "" : left, who, h);
            shown = 1;
        }
    }
}

static void print_opts(const opt_spec *s) { print_opts_for(s, NULL); }

/* --- data and context ------------------------------------------------------------------------ */

static void on_log(void *user, int level, const char *msg) {
    (void)user;
    if (quiet && level != 1) return;
    if (level == 2) {
        if (tty) fprintf(stderr, "\r\033[K%s", msg);
        return;
    }
    if (tty) fputs("\r\033[K", stderr);
    fprintf(stderr, level == 1 ? "duet: warning: %s\n" : "%s\n", msg);
}

static int on_abort(void *user) {
    (void)user;
    return interrupted;
}

static int make_ctx(const args *a, duet_ctx **ctx) {
    duet_err e;
    if (duet_ctx_new(ctx, &e)) return fail(&e);
    int threads = 0;
    long long seed = 1;
    if (opt_int(a, "--threads", 1, 1024, &threads)) return 1;
    if (get(a, "--seed") && to_long("--seed", get(a, "--seed"), 0, 0x7fffffffffffffffLL, &seed)) return 1;
    if (threads) duet_ctx_set_threads(*ctx, threads);
    if (get(a, "--max-memory")) { /* a number of bytes with an optional K, M, G or T (powers of 1024) */
        const char *v = get(a, "--max-memory");
        char *end = NULL;
        double x = strtod(v, &end);
        int sh = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20 : *end == 'G' || *end == 'g' ? 30
                 : *end == 'T' || *end == 't' ? 40 : 0;
        if (sh) end++;
        if (end == v || *end || !(x >= 1) || x * (double)(1ull << sh) > 1e18)
            return die("--max-memory takes a size such as 4G, 512M or 100000 (got '%s')", v);
        duet_ctx_set_mem_limit(*ctx, (size_t)(x * (double)(1ull << sh)));
    }
    duet_ctx_set_seed(*ctx, (uint64_t)seed);
    quiet = get(a, "--quiet") != NULL;
    tty = isatty(2);
    duet_ctx_set_log(*ctx, on_log, NULL);
    duet_ctx_set_abort(*ctx, on_abort, NULL);
    return 0;
}

int load_opts(const args *a, duet_load_opts *o) {
    *o = duet_load_opts_default();
    o->label = get(a, "--label");
    o->text = get(a, "--text");
    o->labels_path = get(a, "--labels");
    o->latin1 = get(a, "--latin1") != NULL;
    const char *sm = get(a, "--stream");
    if (sm) {
        static const char *const names[] = {"no", "auto", "yes", NULL};
        if (pick("--stream", sm, names, &o->stream)) return 1;
        o->stream -= 1;
    }
    if (opt_i64(a, "--limit", 1, 0x7fffffffffffffffLL, &o->limit)) return 1;
    const char *f = get(a, "--input-format");
    if (f) {
        static const char *const names[] = {"auto", "csv", "libsvm", "text", "jsonl", "dir", "idx", "corpus", NULL};
        if (pick("--input-format", f, names, &o->format)) return 1;
    }
    const char *h = get(a, "--header");
    if (h) {
        static const char *const names[] = {"no", "yes", NULL};
        if (pick("--header", h, names, &o->header)) return 1;
    }
    const char *s = get(a, "--sep");
    if (s) {
        if (strcmp(s, "tab") == 0 || strcmp(s, "\\t") == 0) o->sep = '\t';
        else if (strcmp(s, "space") == 0) o->sep = ' ';
        else if (strlen(s) == 1 && strchr(",;\t ", s[0])) o->sep = s[0];
        else return die("--sep must be one of , ; tab space (got '%s')", s);
    }
    return 0;
}

int load_data(duet_ctx *ctx, const args *a, const char *path, int unlabelled, duet_data **d) {
    duet_load_opts o;
    duet_err e;
    if (load_opts(a, &o)) return 1;
    o.unlabelled = unlabelled;
    if (duet_data_load(ctx, path, &o, d, &e)) return fail(&e);
    return 0;
}

/* Data to predict on: labelled when every label is a class of the model, else unlabelled. */
static int load_corpus(duet_ctx *ctx, const args *a, const char *path, duet_data **d) {
    duet_load_opts o;
    if (load_opts(a, &o)) return 1;
    o.format = DUET_FMT_CORPUS;
    duet_err e;
    if (duet_data_load(ctx, path, &o, d, &e)) return fail(&e);
    return 0;
}

static int load_for_model(duet_ctx *ctx, const args *a, const char *path, const duet_model *m, duet_data **d) {
    duet_load_opts o;
    duet_err e;
    if (load_opts(a, &o)) return 1;
    /* text models read lines of text (or label<TAB>text) unless told otherwise */
    size_t pl = strlen(path);
    int jsonl = pl > 6 && strcmp(path + pl - 6, ".jsonl") == 0;
    struct stat st;
    int file = strcmp(path, "-") == 0 || (stat(path, &st) == 0 && S_ISREG(st.st_mode));
    if (duet_model_input_kind(m) == DUET_DATA_TEXT && file && !o.format && !o.text && !jsonl) o.format = DUET_FMT_TEXT;
    if (strcmp(path, "-") != 0 && duet_data_load(ctx, path, &o, d, &e) == DUET_OK) {
        /* a table short of the model's columns read its last feature as the label */
        int ok = duet_model_table_columns(m) == 0 || duet_data_columns(*d) >= duet_model_table_columns(m);
        int numbers = duet_model_task(m) == DUET_TASK_REGRESSION;
        for (int64_t i = 0; ok && i < duet_data_rows(*d); i++) {
            const char *l = duet_data_label(*d, i);
            if (numbers) { /* a regressor's data is labelled when every label is a number */
                char *end;
                ok = l && (strtod(l, &end), end != l);
                continue;
            }
            int found = 0;
            for (int k = 0; l && !found && k < duet_model_classes(m); k++) {
                const char *c = duet_model_class_name(m, k);
                size_t n = strlen(c);
                found = strcmp(l, c) == 0 || (strncmp(l, c, n) == 0 && strcmp(l + n, ".") == 0);
            }
            ok = found;
        }
        if (ok) return 0;
        duet_data_free(*d);
        *d = NULL;
    }
    o.unlabelled = 1;
    if (duet_data_load(ctx, path, &o, d, &e)) return fail(&e);
    return 0;
}

/* --- JSON output ------------------------------------------------------------------------------ */

void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p == '\r') fputs("\\r", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

/* --- train -------------------------------------------------------------------------------- */

/* The training options. An empty help means a model's own option: `--help` shows what it means
 * to each model that reads it (the registry says, through duet_model_option). */
const opt_spec train_opts[] = {
    {"-o", "MODEL", "where to write the model (default: model.duet)"},
    {"--model", "NAME", ""},
    {"--task", "T", "classification or regression (default: regression when the labels are numbers that are not a few class codes)"},
    {"--C", "C", ""},
    {"--penalty", "l2|l1", ""},
    {"--solver", "S", ""},
    {"--tol", "T", ""},
    {"--max-iter", "N", ""},
    {"--cv-folds", "K", "folds used to choose the regularisation when not given (default 5)"},
    {"--balanced", NULL, "weight classes inversely to their frequency"},
    {"--ovr", NULL, ""},
    {"--softmax", NULL, ""},
    {"--nb", "KIND", ""},
    {"--alpha", "A", ""},
    {"--l1-ratio", "R", ""},
    {"--rounds", "N", ""},
    {"--no-early-stop", NULL, ""},
    {"--leaves", "N", ""},
    {"--depth", "N", ""},
    {"--min-leaf", "N", ""},
    {"--lambda", "L", ""},
    {"--subsample", "F", ""},
    {"--colsample", "F", ""},
    {"--bins", "N", ""},
    {"--objective", "O", ""},
    {"--quantile", "Q", ""},
    {"--hidden", "N", ""},
    {"--layers", "N", ""},
    {"--epochs", "N", ""},
    {"--batch", "N", ""},
    {"--lr", "R", ""},
    {"--l2", "L", ""},
    {"--val-split", "F", ""},
    {"--patience", "N", ""},
    {"--features", "MODE", "text features: tfidf (default), counts (the default of models of counts) or binary"},
    {"--ngram", "A-B", "word n-grams (default 1-2)"},
    {"--char-ngram", "A-B|none", "character n-grams as well (default: 2-5 for short texts, except for models of words)"},
    {"--hash", "N", "hash text features into N columns instead of a vocabulary"},
    {"--min-df", "N", "drop terms seen in fewer than N documents (default 1; 2 from 5000 texts)"},
    {"--max-features", "N", "keep only the N most frequent terms"},
    {"--sublinear", NULL, "text: use 1 + log(tf)"},
    {"--no-lowercase", NULL, "text: keep case"},
    {"--no-scale", NULL, "tables and images: do not standardise / scale"},
    {"--latent", "N", ""},
    {"--arch", "A", ""},
    {"--conditional", NULL, ""},
    {"--heads", "N", ""},
    {"--dim", "N", ""},
    {"--context", "N", ""},
    {"--steps", "N", ""},
    {"--warmup", "N", ""},
    {"--min-lr", "R", ""},
    {"--accum", "N", ""},
    {"--grad-clip", "G", ""},
    {"--eval-every", "N", ""},
    {"--eval-batches", "N", ""},
    {"--val-share", "F", ""},
    {"--learned-pos", NULL, ""},
    {"--tokenizer", "T", ""},
    {"--vocab", "N", ""},
    {"--checkpoint", "FILE", ""},
    {"--checkpoint-every", "N", ""},
    {"--resume", "FILE", ""},
    {"--test", "FILE", "evaluate the trained model on FILE afterwards"},
    {"--test-labels", "FILE", "IDX label file that goes with --test images"},
    {NULL, NULL, NULL},
};

int train_params(const args *a, duet_train_params *p) {
    *p = duet_train_params_default();
    if (get(a, "--model")) p->model = get(a, "--model");
    if (opt_double(a, "--C", 1e-12, 1e12, &p->C)) return 1;
    const char *pen = get(a, "--penalty");
    if (pen) {
        if (strcmp(pen, "l2") == 0) p->penalty = DUET_PENALTY_L2;
        else if (strcmp(pen, "l1") == 0) p->penalty = DUET_PENALTY_L1;
        else return die("--penalty must be l1 or l2 (got '%s')", pen);
    }
    if (opt_double(a, "--tol", 1e-15, 1, &p->tol)) return 1;
    if (opt_int(a, "--max-iter", 1, 1000000, &p->max_iter)) return 1;
    if (opt_int(a, "--cv-folds", 2, 100, &p->cv_folds)) return 1;
    p->class_weight_balanced = get(a, "--balanced") != NULL;
    const char *arch = get(a, "--arch");
    if (arch) {
        static const char *const names[] = {"mlp", "conv", NULL};
        if (pick("--arch", arch, names, &p->arch)) return 1;
    }
    const char *solver = get(a, "--solver");
    if (solver) {
        static const char *const names[] = {"auto", "newton", "lbfgs", NULL};
        if (pick("--solver", solver, names, &p->solver)) return 1;
    }
    if (get(a, "--ovr")) p->multinomial = -1;
    if (get(a, "--softmax")) p->multinomial = 1;
    const char *nb = get(a, "--nb");
    if (nb) {
        static const char *const names[] = {"auto", "multinomial", "bernoulli", "gaussian", "mixed", NULL};
        if (pick("--nb", nb, names, &p->nb_kind)) return 1;
    }
    if (opt_double(a, "--alpha", 1e-10, 1e12, &p->alpha)) return 1;
    const char *task = get(a, "--task");
    if (task) {
        static const char *const names[] = {"auto", "classification", "regression", NULL};
        if (pick("--task", task, names, &p->task)) return 1;
    }
    const char *obj = get(a, "--objective");
    if (obj) {
        static const char *const names[] = {"auto", "logloss", "squared", "absolute", "quantile", "poisson", NULL};
        if (pick("--objective", obj, names, &p->objective)) return 1;
    }
    if (opt_double(a, "--l1-ratio", 1e-9, 0.999999, &p->l1_ratio) || opt_int(a, "--rounds", 1, 1000000, &p->rounds) ||
        opt_int(a, "--leaves", 2, 65536, &p->leaves) || opt_int(a, "--depth", 1, 1000, &p->depth) ||
        opt_int(a, "--min-leaf", 1, 1 << 30, &p->min_leaf) || opt_double(a, "--subsample", 1e-6, 1, &p->subsample) ||
        opt_double(a, "--colsample", 1e-6, 1, &p->colsample) || opt_int(a, "--bins", 2, 255, &p->bins) ||
        opt_double(a, "--quantile", 1e-6, 1 - 1e-6, &p->quantile))
        return 1;
    if (get(a, "--lambda")) {
        if (opt_double(a, "--lambda", 0, 1e12, &p->reg_lambda)) return 1;
        if (p->reg_lambda == 0) p->reg_lambda = -1; /* library: <0 means none */
    }
    if (get(a, "--no-early-stop")) p->early_stop = -1;
    if (opt_int(a, "--hidden", 1, 65536, &p->hidden)) return 1;
    if (opt_int(a, "--layers", 1, 1024, &p->layers)) return 1;
    if (opt_int(a, "--epochs", 1, 100000, &p->epochs)) return 1;
    if (opt_int(a, "--batch", 1, 1 << 20, &p->batch)) return 1;
    if (opt_double(a, "--lr", 1e-10, 10, &p->lr)) return 1;
    if (get(a, "--l2")) {
        if (opt_double(a, "--l2", 0, 10, &p->l2)) return 1;
        if (p->l2 == 0) p->l2 = -1; /* library: <0 means none */
    }
    if (opt_double(a, "--val-split", 0.01, 0.9, &p->val_split)) return 1;
    if (opt_int(a, "--patience", 1, 100000, &p->patience)) return 1;
    const char *fm = get(a, "--features");
    if (fm) {
        static const char *const names[] = {"tfidf", "counts", "binary", NULL};
        if (pick("--features", fm, names, &p->text_mode)) return 1;
    }
    if (opt_range(a, "--ngram", &p->ngram_min, &p->ngram_max)) return 1;
    if (get(a, "--char-ngram") && strcmp(get(a, "--char-ngram"), "none") == 0) p->char_ngram_min = p->char_ngram_max = -1;
    else if (opt_range(a, "--char-ngram", &p->char_ngram_min, &p->char_ngram_max)) return 1;
    if (opt_i64(a, "--hash", 1, 1LL << 30, &p->hash_dims)) return 1;
    if (opt_int(a, "--min-df", 1, 1 << 30, &p->min_df)) return 1;
    if (opt_i64(a, "--max-features", 1, 1LL << 30, &p->max_features)) return 1;
    p->sublinear_tf = get(a, "--sublinear") != NULL;
    p->no_lowercase = get(a, "--no-lowercase") != NULL;
    p->no_scale = get(a, "--no-scale") != NULL;
    if (opt_int(a, "--heads", 1, 65536, &p->heads) || opt_int(a, "--dim", 2, 65536, &p->dim) ||
        opt_int(a, "--context", 2, 65536, &p->context) || opt_i64(a, "--steps", 1, 1LL << 40, &p->steps) ||
        opt_int(a, "--accum", 1, 65536, &p->accum) || opt_double(a, "--min-lr", 0, 10, &p->min_lr) ||
        opt_int(a, "--eval-every", 1, 1 << 30, &p->eval_every) || opt_int(a, "--eval-batches", 1, 1 << 20, &p->eval_batches) ||
        opt_double(a, "--val-share", 0, 0.9, &p->val_share) || opt_int(a, "--vocab", 256, 65536, &p->vocab) ||
        opt_i64(a, "--checkpoint-every", 1, 1LL << 40, &p->checkpoint_every))
        return 1;
    if (get(a, "--warmup")) {
        if (opt_int(a, "--warmup", 0, 1 << 30, &p->warmup)) return 1;
        if (p->warmup == 0) p->warmup = -1; /* library: <0 means none */
    }
    if (get(a, "--grad-clip")) {
        if (opt_double(a, "--grad-clip", 0, 1e9, &p->grad_clip)) return 1;
        if (p->grad_clip == 0) p->grad_clip = -1;
    }
    if (get(a, "--val-share") && p->val_share == 0) p->val_share = -1;
    p->learned_pos = get(a, "--learned-pos") != NULL;
    if (opt_int(a, "--latent", 1, 65536, &p->latent)) return 1;
    p->conditional = get(a, "--conditional") != NULL;
    p->tokenizer = get(a, "--tokenizer");
    p->checkpoint = get(a, "--checkpoint");
    p->resume = get(a, "--resume");
    if (p->checkpoint_every && !p->checkpoint) return die("--checkpoint-every needs --checkpoint FILE");
    if (p->checkpoint && !p->checkpoint_every) p->checkpoint_every = 500;
    return 0;
}

static const char *meta(const duet_model *m, const char *key) {
    for (int i = 0; duet_model_meta_key(m, i); i++)
        if (strcmp(duet_model_meta_key(m, i), key) == 0) return duet_model_meta_value(m, i);
    return NULL;
}

static void print_metrics_text(const duet_metrics *m);
static void print_metrics_json(const duet_metrics *m, const char *extra);

static int cmd_train(duet_ctx *ctx, const args *a) {
    if (a->npos != 1) return die("train takes one data file or folder (see duet train --help)");
    duet_train_params p;
    if (train_params(a, &p)) return 1;
    const char *out = get(a, "-o") ? get(a, "-o") : "model.duet";
    duet_data *d = NULL, *t = NULL;
    duet_model *m = NULL;
    duet_metrics *mt = NULL;
    duet_err e;
    int rc = 1;
    int corpus = duet_model_type_input(p.model) == DUET_DATA_CORPUS;
    if (corpus ? load_corpus(ctx, a, a->pos[0], &d) : load_data(ctx, a, a->pos[0], 0, &d)) goto done;
    if (!quiet && !corpus) fprintf(stderr, "read %lld examples from %s\n", (long long)duet_data_rows(d), a->pos[0]);
    if (duet_model_train(ctx, d, &p, &m, &e)) {
        fail(&e);
        goto done;
    }
    if (mpi_rank() > 0) { /* another rank of a data-parallel run: rank 0 writes and reports */
        rc = 0;
        goto done;
    }
    if (duet_model_save(ctx, m, out, &e)) {
        fail(&e);
        goto done;
    }
    if (mpi_size() > 1 && !quiet) fprintf(stderr, "trained data-parallel on %d processes\n", mpi_size());
    if (corpus) {
        printf("trained %s (%s parameters, %s tokenizer) on %s: %s steps, validation loss %s, %s tokens/s, %s s; wrote %s\n",
               duet_model_name(m), meta(m, "params"), meta(m, "tokenizer"), a->pos[0], meta(m, "steps"),
               meta(m, "val_loss") ? meta(m, "val_loss") : "-", meta(m, "tokens_per_second") ? meta(m, "tokens_per_second") : "-",
               meta(m, "fit_seconds"), out);
        rc = 0;
        goto done;
    }
    const char *secs = NULL, *feats = NULL;
    for (int i = 0; duet_model_meta_key(m, i); i++) {
        if (strcmp(duet_model_meta_key(m, i), "fit_seconds") == 0) secs = duet_model_meta_value(m, i);
        if (strcmp(duet_model_meta_key(m, i), "pipeline") == 0) feats = duet_model_meta_value(m, i);
    }
    if (duet_model_features(m) == 0) /* a model of the raw text (the class-conditional language model) */
        printf("trained %s (%s parameters, %s tokenizer) on %lld examples: %d classes, %s steps, validation loss %s, in %s s; "
               "wrote %s\n", duet_model_name(m), meta(m, "params") ? meta(m, "params") : "?",
               meta(m, "tokenizer") ? meta(m, "tokenizer") : "?", (long long)duet_data_rows(d), duet_model_classes(m),
               meta(m, "steps") ? meta(m, "steps") : "?", meta(m, "val_loss") ? meta(m, "val_loss") : "-", secs ? secs : "?", out);
    else if (duet_model_task(m) == DUET_TASK_REGRESSION)
        printf("trained %s on %lld examples: a number (%s), %lld features (%s) in %s s; wrote %s\n", duet_model_name(m),
               (long long)duet_data_rows(d), meta(m, "target") ? meta(m, "target") : "regression",
               (long long)duet_model_features(m), feats ? feats : "?", secs ? secs : "?", out);
    else
        printf("trained %s on %lld examples: %d classes, %lld features (%s) in %s s; wrote %s\n", duet_model_name(m),
               (long long)duet_data_rows(d), duet_model_classes(m), (long long)duet_model_features(m), feats ? feats : "?",
               secs ? secs : "?", out);
    if (get(a, "--test")) {
        args ta = *a; /* the test set's own IDX labels */
        if (get(a, "--test-labels") && ta.n < MAX_ARGS) {
            ta.key[ta.n] = "--labels";
            ta.val[ta.n++] = get(a, "--test-labels");
        }
        if (load_for_model(ctx, &ta, get(a, "--test"), m, &t)) goto done;
        if (duet_model_eval(ctx, m, t, &mt, &e)) {
            fail(&e);
            goto done;
        }
        printf("test set %s:\n", get(a, "--test"));
        print_metrics_text(mt);
    }
    rc = 0;
done:
    duet_metrics_free(ctx, mt);
    duet_model_free(m);
    duet_data_free(d);
    duet_data_free(t);
    return rc;
}

/* --- predict ------------------------------------------------------------------------------- */

static const opt_spec predict_opts[] = {
    {"--proba", NULL, "print the probability of every class"},
    {"--explain", "K", "list the K features that pushed each decision most"},
    {"--format", "F", "text (default), json (one object per line) or csv"},
    {"-o", "FILE", "write predictions to FILE instead of standard output"},
    {"--labels", "A,B,...", "language models: classify zero-shot among these labels"},
    {"--template", "T", "with --labels: the prompt, {text} the text, {label} the label (default \"{text}\\nLabel: {label}\")"},
    {"--no-calibrate", NULL, "with --labels: skip the calibration on the content-free text \"N/A\""},
    {NULL, NULL, NULL},
};

/* ,"explain":[{"feature": name, "value": v}, ...] for the n features in fe. */
static void json_explain(FILE *out, const duet_feature *fe, int n) {
    fputs(",\"explain\":[", out);
    for (int t = 0; t < n; t++) {
        fputs(t ? ",{\"feature\":" : "{\"feature\":", out);
        json_str(out, fe[t].name);
        fputs(",\"value\":", out);
        json_num(out, fe[t].value);
        fputc('}', out);
    }
    fputc(']', out);
}

/* A regressor's predictions: one number per row (text), {"value": v} (json) or a "value" column
 * (csv); --explain lists what raised or lowered each. */
static int predict_values(duet_ctx *ctx, const args *a, const duet_model *m, const duet_data *d, int fmt, int nexp) {
    if (get(a, "--proba")) return die("--proba is for classifiers; %s predicts a number", a->pos[0]);
    int64_t N = duet_data_rows(d);
    double *v = calloc((size_t)N + 1, sizeof *v);
    duet_feature *fe = calloc((size_t)nexp + 1, sizeof *fe);
    FILE *out = stdout;
    duet_err e;
    int rc = 1;
    if (!v || !fe) {
        die("out of memory for %lld predictions", (long long)N);
        goto done;
    }
    if (duet_model_predict_values(ctx, m, d, v, &e)) {
        fail(&e);
        goto done;
    }
    if (get(a, "-o") && !(out = fopen(get(a, "-o"), "w"))) {
        die("%s: cannot write: %s", get(a, "-o"), strerror(errno));
        out = stdout;
        goto done;
    }
    if (fmt == 2) fputs("value\n", out);
    for (int64_t i = 0; i < N; i++) {
        int ne = 0;
        if (nexp && duet_model_explain(ctx, m, d, i, 0, fe, nexp, &ne, &e)) {
            fail(&e);
            goto done;
        }
        if (fmt == 1) {
            fputs("{\"value\":", out);
            json_num(out, v[i]);
            if (nexp) json_explain(out, fe, ne);
            fputs("}\n", out);
            continue;
        }
        fprintf(out, "%.10g\n", v[i]);
        if (fmt == 0)
            for (int t = 0; t < ne; t++) fprintf(out, "  %+.6g  %s\n", fe[t].value, fe[t].name);
    }
    rc = 0;
done:
    if (out != stdout && fclose(out) != 0) rc = die("%s: write failed", get(a, "-o"));
    free(v);
    free(fe);
    return rc;
}

static int cmd_predict(duet_ctx *ctx, const args *a) {
    if (a->npos != 2) return die("predict takes a model and a data file (or - for standard input)");
    int fmt = 0, nexp = 0, proba = get(a, "--proba") != NULL;
    static const char *const fmts[] = {"text", "json", "csv", NULL};
    if (get(a, "--format") && pick("--format", get(a, "--format"), fmts, &fmt)) return 1;
    if (opt_int(a, "--explain", 1, 1000, &nexp)) return 1;
    duet_model *m = NULL;
    duet_data *d = NULL;
    int32_t *lab = NULL;
    float *P = NULL;
    duet_feature *fe = NULL;
    FILE *out = stdout;
    duet_err e;
    int rc = 1;
    if (duet_model_load(ctx, a->pos[0], &m, &e)) {
        fail(&e);
        goto done;
    }
    if (duet_model_input_kind(m) == DUET_DATA_CORPUS && get(a, "--labels")) {
        rc = predict_zeroshot(ctx, a, m, fmt);
        goto done;
    }
    if (get(a, "--labels") && duet_model_input_kind(m) != DUET_DATA_DENSE) {
        die("--labels A,B,... classifies zero-shot and needs a language model, not %s (a %s model)", a->pos[0],
            duet_model_name(m));
        goto done;
    }
    if (!(duet_model_caps(m) & DUET_CAN_PREDICT)) {
        die("%s: a %s model learns %s and cannot predict labels%s", a->pos[0], duet_model_name(m), duet_model_learns(m),
            duet_model_input_kind(m) == DUET_DATA_CORPUS ? " (a language model classifies zero-shot with --labels)" : "");
        goto done;
    }
    if (nexp && !(duet_model_caps(m) & DUET_CAN_EXPLAIN)) {
        die("%s: a %s model cannot explain its decisions", a->pos[0], duet_model_name(m));
        goto done;
    }
    if (load_for_model(ctx, a, a->pos[1], m, &d)) goto done;
    if (duet_model_task(m) == DUET_TASK_REGRESSION) {
        rc = predict_values(ctx, a, m, d, fmt, nexp);
        goto done;
    }
    int64_t N = duet_data_rows(d);
    int K = duet_model_classes(m);
    lab = calloc((size_t)N + 1, sizeof *lab);
    P = calloc(((size_t)N + 1) * (size_t)K, sizeof *P);
    fe = calloc((size_t)nexp + 1, sizeof *fe);
    if (!lab || !P || !fe) {
        die("out of memory for %lld predictions", (long long)N);
        goto done;
    }
    if (duet_model_predict(ctx, m, d, lab, P, &e)) {
        fail(&e);
        goto done;
    }
    if (get(a, "-o") && !(out = fopen(get(a, "-o"), "w"))) {
        die("%s: cannot write: %s", get(a, "-o"), strerror(errno));
        out = stdout;
        goto done;
    }
    if (fmt == 2) {
        fputs("label", out);
        if (proba)
            for (int k = 0; k < K; k++) fprintf(out, ",p_%s", duet_model_class_name(m, k));
        fputc('\n', out);
    }
    for (int64_t i = 0; i < N; i++) {
        const char *name = duet_model_class_name(m, lab[i]);
        const float *pi = P + (size_t)i * (size_t)K;
        int ne = 0;
        if (nexp && duet_model_explain(ctx, m, d, i, lab[i], fe, nexp, &ne, &e)) {
            fail(&e);
            goto done;
        }
        if (fmt == 0) {
            fputs(name, out);
            if (proba) {
                fputc('\t', out);
                for (int k = 0; k < K; k++) fprintf(out, "%s%s=%.4f", k ? " " : "", duet_model_class_name(m, k), pi[k]);
            }
            fputc('\n', out);
            for (int t = 0; t < ne; t++) fprintf(out, "  %+.4f  %s\n", fe[t].value, fe[t].name);
        } else if (fmt == 1) {
            fputs("{\"label\":", out);
            json_str(out, name);
            if (proba) {
                fputs(",\"proba\":{", out);
                for (int k = 0; k < K; k++) {
                    if (k) fputc(',', out);
                    json_str(out, duet_model_class_name(m, k));
                    fputc(':', out);
                    json_num(out, pi[k]);
                }
                fputc('}', out);
            }
            if (nexp) json_explain(out, fe, ne);
            fputs("}\n", out);
        } else {
            int q = strpbrk(name, ",\"\n") != NULL;
            fprintf(out, q ? "\"%s\"" : "%s", name);
            if (proba)
                for (int k = 0; k < K; k++) fprintf(out, ",%.6g", pi[k]);
            fputc('\n', out);
        }
    }
    rc = 0;
done:
    if (out != stdout && fclose(out) != 0) rc = die("%s: write failed", get(a, "-o"));
    free(lab);
    free(P);
    free(fe);
    duet_data_free(d);
    duet_model_free(m);
    return rc;
}

/* --- eval ------------------------------------------------------------------------------------ */

static const opt_spec eval_opts[] = {
    {"--format", "F", "text (default) or json"},
    {"--cv", "K", "k-fold cross-validation of a model trained on DATA (train flags apply)"},
    {NULL, NULL, NULL},
};

static void print_metrics_text(const duet_metrics *m) {
    printf("  examples   %lld\n", (long long)m->n);
    if (m->K == 0) { /* a regressor's */
        printf("  RMSE       %.6g", m->rmse);
        if (m->rmse_std > 0) printf(" ± %.4g", m->rmse_std);
        printf("\n  MAE        %.6g\n  R²         %.4f\n", m->mae, m->r2);
        if (isfinite(m->mape)) printf("  MAPE       %.4f\n", m->mape);
        if (isfinite(m->rmsle)) printf("  RMSLE      %.4f\n", m->rmsle);
        return;
    }
    printf("  accuracy   %.4f", m->accuracy);
    if (m->accuracy_std > 0) printf(" ± %.4f", m->accuracy_std);
    printf("\n  macro F1   %.4f", m->f1);
    if (m->f1_std > 0) printf(" ± %.4f", m->f1_std);
    printf("\n  precision  %.4f (macro)\n  recall     %.4f (macro)\n  log-loss   %.4f\n", m->precision, m->recall, m->log_loss);
    if (isfinite(m->roc_auc)) printf("  ROC-AUC    %.4f\n", m->roc_auc);
    int w = 5;
    for (int k = 0; k < m->K; k++) w = (int)strlen(m->class_names[k]) > w ? (int)strlen(m->class_names[k]) : w;
    if (w > 24) w = 24;
    printf("\n  %-*s  precision  recall  F1      support\n", w, "class");
    for (int k = 0; k < m->K; k++)
        printf("  %-*.*s  %.4f     %.4f  %.4f  %lld\n", w, w, m->class_names[k], m->class_precision[k], m->class_recall[k],
               m->class_f1[k], (long long)m->support[k]);
    if (m->K <= 20) {
        printf("\n  confusion (rows: true, columns: predicted)\n  %-*s", w, "");
        for (int k = 0; k < m->K; k++) printf(" %8.8s", m->class_names[k]);
        putchar('\n');
        for (int r = 0; r < m->K; r++) {
            printf("  %-*.*s", w, w, m->class_names[r]);
            for (int c = 0; c < m->K; c++) printf(" %8lld", (long long)m->confusion[(size_t)r * (size_t)m->K + (size_t)c]);
            putchar('\n');
        }
    }
}

static void print_metrics_json(const duet_metrics *m, const char *extra) {
    if (m->K == 0) {
        printf("{\"n\":%lld,\"rmse\":", (long long)m->n);
        json_num(stdout, m->rmse);
        printf(",\"mae\":");
        json_num(stdout, m->mae);
        printf(",\"r2\":");
        json_num(stdout, m->r2);
        printf(",\"mape\":");
        json_num(stdout, m->mape);
        printf(",\"rmsle\":");
        json_num(stdout, m->rmsle);
        if (m->rmse_std > 0) {
            printf(",\"rmse_std\":");
            json_num(stdout, m->rmse_std);
        }
        printf("%s}\n", extra ? extra : "");
        return;
    }
    printf("{\"n\":%lld,\"accuracy\":", (long long)m->n);
    json_num(stdout, m->accuracy);
    printf(",\"f1\":");
    json_num(stdout, m->f1);
    printf(",\"precision\":");
    json_num(stdout, m->precision);
    printf(",\"recall\":");
    json_num(stdout, m->recall);
    printf(",\"log_loss\":");
    json_num(stdout, m->log_loss);
    printf(",\"roc_auc\":");
    json_num(stdout, m->roc_auc);
    if (m->accuracy_std > 0 || m->f1_std > 0) {
        printf(",\"accuracy_std\":");
        json_num(stdout, m->accuracy_std);
        printf(",\"f1_std\":");
        json_num(stdout, m->f1_std);
    }
    printf(",\"classes\":[");
    for (int k = 0; k < m->K; k++) {
        printf(k ? ",{\"name\":" : "{\"name\":");
        json_str(stdout, m->class_names[k]);
        printf(",\"precision\":");
        json_num(stdout, m->class_precision[k]);
        printf(",\"recall\":");
        json_num(stdout, m->class_recall[k]);
        printf(",\"f1\":");
        json_num(stdout, m->class_f1[k]);
        printf(",\"support\":%lld}", (long long)m->support[k]);
    }
    printf("],\"confusion\":[");
    for (int r = 0; r < m->K; r++) {
        printf(r ? ",[" : "[");
        for (int c = 0; c < m->K; c++) printf(c ? ",%lld" : "%lld", (long long)m->confusion[(size_t)r * (size_t)m->K + (size_t)c]);
        putchar(']');
    }
    printf("]%s}\n", extra ? extra : "");
}

static int cmd_eval(duet_ctx *ctx, const args *a) {
    int fmt = 0, folds = 0;
    static const char *const fmts[] = {"text", "json", NULL};
    if (get(a, "--format") && pick("--format", get(a, "--format"), fmts, &fmt)) return 1;
    if (opt_int(a, "--cv", 2, 100, &folds)) return 1;
    duet_model *m = NULL;
    duet_data *d = NULL;
    duet_metrics *mt = NULL;
    duet_err e;
    int rc = 1;
    char extra[256] = "";
    if (folds) {
        if (a->npos != 1) return die("eval --cv K takes one data file (and train flags)");
        duet_train_params p;
        if (train_params(a, &p)) return 1;
        if (load_data(ctx, a, a->pos[0], 0, &d)) goto done;
        if (duet_cross_validate(ctx, d, &p, folds, &mt, &e)) {
            fail(&e);
            goto done;
        }
        const char *mn = duet_model_chosen(ctx, d, &p);
        if (!mn) mn = "?";
        snprintf(extra, sizeof extra, ",\"model\":\"%s\",\"folds\":%d", mn, folds);
        if (fmt == 0) printf("%s, %d-fold cross-validation on %s:\n", mn, folds, a->pos[0]);
    } else {
        if (a->npos != 2) return die("eval takes a model and labelled data (or DATA --cv K)");
        if (duet_model_load(ctx, a->pos[0], &m, &e)) {
            fail(&e);
            goto done;
        }
        if (!(duet_model_caps(m) & DUET_CAN_PREDICT)) {
            die("%s: a %s model cannot predict labels", a->pos[0], duet_model_name(m));
            goto done;
        }
        if (load_data(ctx, a, a->pos[1], 0, &d)) goto done;
        if (duet_model_eval(ctx, m, d, &mt, &e)) {
            fail(&e);
            goto done;
        }
        snprintf(extra, sizeof extra, ",\"model\":\"%s\"", duet_model_name(m));
        if (fmt == 0) printf("%s on %s:\n", duet_model_name(m), a->pos[1]);
    }
    if (fmt == 0) print_metrics_text(mt);
    else print_metrics_json(mt, extra);
    rc = 0;
done:
    duet_metrics_free(ctx, mt);
    duet_model_free(m);
    duet_data_free(d);
    return rc;
}

/* --- info ------------------------------------------------------------------------------------ */

static const opt_spec info_opts[] = {
    {"--top", "N", "features listed per class (default 10)"},
    {"--format", "F", "text (default) or json"},
    {NULL, NULL, NULL},
};

static int cmd_info(duet_ctx *ctx, const args *a) {
    if (a->npos != 1) return die("info takes one model file");
    int top = 10, fmt = 0;
    static const char *const fmts[] = {"text", "json", NULL};
    if (opt_int(a, "--top", 0, 1000, &top)) return 1;
    if (get(a, "--format") && pick("--format", get(a, "--format"), fmts, &fmt)) return 1;
    duet_model *m = NULL;
    duet_err e;
    duet_feature *fe = calloc((size_t)top + 1, sizeof *fe);
    int rc = 1;
    if (!fe) return die("out of memory");
    if (duet_model_load(ctx, a->pos[0], &m, &e)) {
        fail(&e);
        goto done;
    }
    unsigned caps = duet_model_caps(m);
    int K = duet_model_classes(m);
    if (fmt == 0) {
        printf("%s: %s model, learns %s; can%s%s%s%s\n", a->pos[0], duet_model_name(m), duet_model_learns(m),
               caps & DUET_CAN_PREDICT ? " predict" : "", caps & DUET_CAN_EXPLAIN ? " explain" : "",
               caps & DUET_CAN_SAMPLE ? " sample" : "", caps & DUET_CAN_SCORE ? " score" : "");
        if (K) {
            printf("  classes   %d:", K);
            for (int k = 0; k < K && k < 50; k++) printf(" %s", duet_model_class_name(m, k));
            printf("\n  features  %lld\n", (long long)duet_model_features(m));
        }
        for (int i = 0; duet_model_meta_key(m, i); i++) printf("  %-9s %s\n", duet_model_meta_key(m, i), duet_model_meta_value(m, i));
    } else {
        printf("{\"model\":");
        json_str(stdout, duet_model_name(m));
        printf(",\"learns\":");
        json_str(stdout, duet_model_learns(m));
        printf(",\"features\":%lld,\"meta\":{", (long long)duet_model_features(m));
        for (int i = 0; duet_model_meta_key(m, i); i++) {
            if (i) putchar(',');
            json_str(stdout, duet_model_meta_key(m, i));
            putchar(':');
            json_str(stdout, duet_model_meta_value(m, i));
        }
        printf("},");
    }
    int trees = 0; /* models of trees: split importances instead of weights */
    for (int by = 0; by < 2 && top; by++) {
        int n = 0;
        int r = duet_model_importance(ctx, m, by, fe, top, &n, &e);
        if (r == DUET_EUNSUPPORTED) break;
        if (r) {
            fail(&e);
            goto done;
        }
        trees = 1;
        if (fmt == 0) {
            printf("\n  features by %s:\n", by ? "number of splits" : "total split gain");
            for (int t = 0; t < n; t++) printf(by ? "    %9.0f  %s\n" : "    %9.4g  %s\n", fe[t].value, fe[t].name);
        } else {
            printf(by ? ",\"splits\":[" : "\"importance\":{\"gain\":[");
            for (int t = 0; t < n; t++) {
                printf(t ? ",{\"feature\":" : "{\"feature\":");
                json_str(stdout, fe[t].name);
                printf(",\"value\":");
                json_num(stdout, fe[t].value);
                putchar('}');
            }
            printf(by ? "]}," : "]");
        }
    }
    if (fmt == 1 && !duet_model_classes(m)) printf("\"task\":\"%s\",", duet_model_task(m) == DUET_TASK_REGRESSION ? "regression" : "none");
    if (fmt == 1) printf("\"classes\":[");
    for (int k = 0; k < (K ? K : 1) && !trees; k++) { /* a regressor's one set of weights */
        int n = 0;
        int r = top && (caps & DUET_CAN_EXPLAIN) ? duet_model_top_features(ctx, m, k, fe, top, &n, &e) : DUET_OK;
        if (r && r != DUET_EUNSUPPORTED) {
            fail(&e);
            goto done;
        }
        if (!K && fmt == 0 && n) {
            printf("\n  top features (weight on the prediction):\n");
            for (int t = 0; t < n; t++) printf("    %+11.6g  %s\n", fe[t].value, fe[t].name);
            continue;
        }
        if (!K) continue;
        if (K == 2 && k == 0 && fmt == 0 && n) printf("\n");
        if (fmt == 0 && n) {
            if (k == 0 && K != 2) printf("\n");
            printf("  top features for %s:\n", duet_model_class_name(m, k));
            for (int t = 0; t < n; t++) printf("    %+9.4f  %s\n", fe[t].value, fe[t].name);
        } else if (fmt == 1) {
            printf(k ? ",{\"name\":" : "{\"name\":");
            json_str(stdout, duet_model_class_name(m, k));
            printf(",\"top\":[");
            for (int t = 0; t < n; t++) {
                printf(t ? ",{\"feature\":" : "{\"feature\":");
                json_str(stdout, fe[t].name);
                printf(",\"value\":");
                json_num(stdout, fe[t].value);
                putchar('}');
            }
            printf("]}");
        }
    }
    if (fmt == 1) printf("]}\n");
    rc = 0;
done:
    free(fe);
    duet_model_free(m);
    return rc;
}

/* --- generate and score (generative models) ----------------------------------------------- */

static const opt_spec generate_opts[] = {
    {"--prompt", "TEXT", "language models: text to continue (default: from the start of a text)"},
    {"-n", "N", "language models: tokens to write (default 256)"},
    {"--temperature", "T", "language models: sampling temperature; 0 = greedy (default 1)"},
    {"--top-k", "K", "language models: sample among the K most likely tokens (default: all)"},
    {"--top-p", "P", "language models: sample from the smallest set holding P of the probability (default 1)"},
    {"--stop", "STR", "language models: stop before STR would be written"},
    {"--tokenizer", "FILE", "run a llama2.c checkpoint (MODEL) with its tokenizer.bin"},
    {"--count", "N", "other generative models: examples to draw (default 10; images 64)"},
    {"--cols", "N", "images: columns of the PNG grid (default: about square)"},
    {"--guidance", "W", "diffusion: classifier-free guidance weight (default: the model's)"},
    {"--sample-steps", "N", "diffusion: sampler steps (default: DDPM's training steps, DDIM 50)"},
    {"--ddim", NULL, "diffusion: the faster deterministic DDIM sampler"},
    {"--judge", "CLASSIFIER", "judge the examples with a classifier: the share it assigns to the asked label"},
    {"--real", "DATA", "with --judge: real examples, for the Fréchet distance in the classifier's features"},
    {"--real-labels", "FILE", "IDX label file that goes with --real images"},
    {"--label", "NAME", "class to draw from (default: drawn from the prior)"},
    {"--filter", "CLASSIFIER", "keep only examples this classifier assigns to --keep (regenerating the rest)"},
    {"--keep", "LABEL", "with --filter: the class to keep"},
    {"--min-prob", "P", "with --filter: the least probability of --keep to accept (default 0.5)"},
    {"--max-draws", "N", "with --filter: give up after N draws (default 100 x count)"},
    {"-o", "FILE", "write to FILE instead of standard output; images: FILE.png (a grid) or DIR/"},
    {NULL, NULL, NULL},
};

int put_text(void *user, const char *piece, size_t len) {
    FILE *out = user;
    fwrite(piece, 1, len, out);
    fflush(out);
    return ferror(out) != 0;
}

/* A duet model file, or a llama2.c checkpoint when --tokenizer names its tokenizer. */
int open_model(duet_ctx *ctx, const char *path, const char *tok, duet_model **m) {
    duet_err e;
    if (tok ? duet_model_import_llama2c(ctx, path, tok, m, &e) : duet_model_load(ctx, path, m, &e)) return fail(&e);
    return 0;
}

int gen_opts(const args *a, duet_gen_opts *o) {
    *o = duet_gen_opts_default();
    long long seed = 1;
    if (opt_i64(a, "-n", 0, 1LL << 40, &o->n) || opt_double(a, "--temperature", 0, 100, &o->temperature) ||
        opt_int(a, "--top-k", 0, 1 << 30, &o->top_k) || opt_double(a, "--top-p", 0, 1, &o->top_p))
        return 1;
    if (get(a, "--seed") && to_long("--seed", get(a, "--seed"), 0, 0x7fffffffffffffffLL, &seed)) return 1;
    o->seed = (uint64_t)seed;
    o->prompt = get(a, "--prompt");
    o->stop = get(a, "--stop");
    return 0;
}

static int generate_text(duet_ctx *ctx, const args *a, const duet_model *m, FILE *out) {
    duet_gen_opts o;
    if (gen_opts(a, &o)) return 1;
    if (o.prompt) fputs(o.prompt, out);
    duet_gen_stats st;
    duet_err e;
    if (duet_model_generate(ctx, m, &o, put_text, out, &st, &e)) {
        fputc('\n', out);
        return fail(&e);
    }
    fputc('\n', out);
    fflush(out);
    if (!quiet)
        fprintf(stderr, "%lld tokens in %.2f s (%.1f tokens/s); prompt %lld tokens in %.3f s\n", (long long)st.tokens,
                st.seconds, st.seconds > 0 ? (double)st.tokens / st.seconds : 0.0, (long long)st.prompt_tokens,
                st.prompt_seconds);
    return 0;
}

/* --judge CLASSIFIER [--real DATA]: how a classifier sees the generated examples. */
static int judge(duet_ctx *ctx, const args *a, const duet_data *gen) {
    duet_model *clf = NULL;
    duet_data *real = NULL;
    duet_err e;
    duet_judgement j;
    int rc = 1;
    if (duet_model_load(ctx, get(a, "--judge"), &clf, &e)) return fail(&e);
    if (get(a, "--real")) {
        args ra = *a; /* the real set's own IDX labels */
        for (int i = 0; i < ra.n; i++)
            if (strcmp(ra.key[i], "--labels") == 0) ra.key[i] = "--ignored";
        if (get(a, "--real-labels") && ra.n < MAX_ARGS) {
            ra.key[ra.n] = "--labels";
            ra.val[ra.n++] = get(a, "--real-labels");
        }
        if (load_for_model(ctx, &ra, get(a, "--real"), clf, &real)) goto done;
    }
    if (duet_judge(ctx, clf, gen, real, &j, &e)) {
        fail(&e);
        goto done;
    }
    printf("judge %s: %.1f%% of %lld examples classified as the label asked for", get(a, "--judge"), 100 * j.accuracy,
           (long long)j.n);
    if (real) printf("; Fréchet distance %.3f to %lld real examples (the classifier's last hidden layer, %lld features)",
                     j.frechet, (long long)j.n_real, (long long)j.dim);
    printf("\n");
    rc = 0;
done:
    duet_data_free(real);
    duet_model_free(clf);
    return rc;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int cmd_generate(duet_ctx *ctx, const args *a) {
    if (a->npos != 1) return die("generate takes one model file");
    long long count = 10, seed = 1;
    int cols = 0;
    if (get(a, "--count") && to_long("--count", get(a, "--count"), 1, 10000000, &count)) return 1;
    if (get(a, "--seed") && to_long("--seed", get(a, "--seed"), 0, 0x7fffffffffffffffLL, &seed)) return 1;
    if (opt_int(a, "--cols", 1, 1000, &cols)) return 1;
    const char *opath = get(a, "-o");
    duet_model *m = NULL;
    duet_data *s = NULL;
    duet_err e;
    int rc = 1;
    FILE *out = stdout;
    char *buf = malloc(1 << 16);
    if (!buf) return die("out of memory");
    if (open_model(ctx, a->pos[0], get(a, "--tokenizer"), &m)) goto done;
    int images = duet_model_input_kind(m) == DUET_DATA_DENSE;
    if (images && (!opath || (!ends_with(opath, ".png") && !ends_with(opath, "/")))) {
        die("%s draws images: give -o FILE.png (one grid) or -o DIR/ (one PNG each)", a->pos[0]);
        goto done;
    }
    if (images && !get(a, "--count")) count = 64;
    if (opath && !images && !(out = fopen(opath, "w"))) {
        out = stdout;
        die("%s: cannot write: %s", opath, strerror(errno));
        goto done;
    }
    if (get(a, "--filter")) {
        rc = generate_filtered(ctx, a, m, out, opath, images);
        goto done;
    }
    if (duet_model_input_kind(m) == DUET_DATA_CORPUS) {
        rc = generate_text(ctx, a, m, out);
        goto done;
    }
    if (!(duet_model_caps(m) & DUET_CAN_SAMPLE)) {
        die("%s: a %s model learns %s and cannot generate examples", a->pos[0], duet_model_name(m), duet_model_learns(m));
        goto done;
    }
    duet_sample_opts so = {0, 0, get(a, "--ddim") != NULL};
    if (opt_double(a, "--guidance", 0, 1000, &so.guidance) || opt_int(a, "--sample-steps", 1, 100000, &so.steps)) goto done;
    if (duet_model_sample_ex(ctx, m, get(a, "--label"), count, (uint64_t)seed, &so, &s, &e)) {
        fail(&e);
        goto done;
    }
    if (images) {
        if (duet_data_write_png(ctx, s, opath, cols, &e)) {
            fail(&e);
            goto done;
        }
        if (!quiet) fprintf(stderr, "wrote %lld images to %s\n", count, opath);
    }
    if (get(a, "--judge") && judge(ctx, a, s)) goto done;
    if (images) {
        rc = 0;
        goto done;
    }
    for (int64_t i = 0; i < duet_data_rows(s); i++) {
        if (duet_data_row_string(s, i, buf, 1 << 16, &e)) {
            fail(&e);
            goto done;
        }
        const char *l = duet_data_label(s, i);
        if (l && l[0]) fprintf(out, "%s\t%s\n", l, buf);
        else fprintf(out, "%s\n", buf);
    }
    rc = 0;
done:
    if (out != stdout) fclose(out);
    free(buf);
    duet_data_free(s);
    duet_model_free(m);
    return rc;
}

static const opt_spec score_opts[] = {
    {"--format", "F", "text (default: one log-likelihood per line, then the mean) or json"},
    {"--anomaly", NULL, "anomaly scores, higher for more unusual rows (see --score)"},
    {"--score", "S", "with --anomaly: auto (rate for text, ratio otherwise), nll (-log2 p(x), fails on simple inputs),\n"
                     "                         ratio (-log2 p(x) less the bits zlib needs for x) or rate (bits per byte)"},
    {"--against", "FILE", "ROC-AUC of every score at telling FILE's rows (unusual) from DATA's (usual)"},
    {"--tokens", NULL, "language models: print each token's log-probability"},
    {"--tokenizer", "FILE", "score with a llama2.c checkpoint (MODEL) and its tokenizer.bin"},
    {NULL, NULL, NULL},
};

static int read_all(const char *path, char **buf, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return die("%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap < ((size_t)1 << 40) ? realloc(b, cap * 2) : NULL;
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (!b) return die("%s: out of memory", path);
    if (bad) {
        free(b);
        return die("%s: read failed", path);
    }
    *buf = b;
    *len = n;
    return 0;
}

static int print_token(void *user, const char *piece, size_t len, double logp) {
    (void)user;
    printf("%10.4f\t", logp);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)piece[i];
        if (ch == '\n') fputs("\\n", stdout);
        else if (ch == '\t') fputs("\\t", stdout);
        else putchar(ch);
    }
    putchar('\n');
    return 0;
}

static int score_text(duet_ctx *ctx, const args *a, const duet_model *m, const char *path, int fmt) {
    char *buf = NULL;
    size_t len = 0;
    if (read_all(path, &buf, &len)) return 1;
    duet_lm_score r;
    duet_err e;
    int bad = duet_model_score_text(ctx, m, buf, len, get(a, "--tokens") ? print_token : NULL, NULL, &r, &e);
    free(buf);
    if (bad) return fail(&e);
    if (fmt == 0) printf("%lld tokens: nll %.4f nats/token, perplexity %.3f\n", (long long)r.tokens, r.nll, r.perplexity);
    else {
        printf("{\"tokens\":%lld,\"nll\":", (long long)r.tokens);
        json_num(stdout, r.nll);
        printf(",\"perplexity\":");
        json_num(stdout, r.perplexity);
        printf("}\n");
    }
    return 0;
}

static int cmd_score(duet_ctx *ctx, const args *a) {
    if (a->npos != 2) return die("score takes a model and a data file");
    int fmt = 0;
    static const char *const fmts[] = {"text", "json", NULL};
    if (get(a, "--format") && pick("--format", get(a, "--format"), fmts, &fmt)) return 1;
    duet_model *m = NULL;
    duet_data *d = NULL;
    double *lp = NULL;
    duet_err e;
    int rc = 1;
    if (open_model(ctx, a->pos[0], get(a, "--tokenizer"), &m)) goto done;
    if (get(a, "--anomaly") || get(a, "--against")) {
        rc = score_anomaly(ctx, a, m, fmt);
        goto done;
    }
    if (duet_model_input_kind(m) == DUET_DATA_CORPUS) {
        rc = score_text(ctx, a, m, a->pos[1], fmt);
        goto done;
    }
    if (!(duet_model_caps(m) & DUET_CAN_SCORE)) {
        die("%s: a %s model learns %s and gives no likelihood", a->pos[0], duet_model_name(m), duet_model_learns(m));
        goto done;
    }
    if (load_for_model(ctx, a, a->pos[1], m, &d)) goto done;
    int64_t N = duet_data_rows(d);
    lp = calloc((size_t)N + 1, sizeof *lp);
    if (!lp) {
        die("out of memory");
        goto done;
    }
    if (duet_model_score(ctx, m, d, lp, &e)) {
        fail(&e);
        goto done;
    }
    double s = 0;
    for (int64_t i = 0; i < N; i++) s += lp[i];
    double mean = N ? s / (double)N : NAN;
    if (fmt == 0) {
        for (int64_t i = 0; i < N; i++) printf("%.6f\n", lp[i]);
        fprintf(stderr, "mean %s %.6f nats over %lld examples\n",
                strcmp(duet_model_score_name(m), "logp") ? duet_model_score_name(m) : "log-likelihood", mean, (long long)N);
    } else {
        printf("{\"n\":%lld,\"mean_logp\":", (long long)N);
        json_num(stdout, mean);
        if (strcmp(duet_model_score_name(m), "logp") != 0) {
            printf(",\"%s\":", duet_model_score_name(m));
            json_num(stdout, mean);
        }
        printf(",\"nll\":");
        json_num(stdout, -mean);
        printf(",\"logp\":[");
        for (int64_t i = 0; i < N; i++) {
            if (i) putchar(',');
            json_num(stdout, lp[i]);
        }
        printf("]}\n");
    }
    rc = 0;
done:
    free(lp);
    duet_data_free(d);
    duet_model_free(m);
    return rc;
}

static const opt_spec import_opts[] = {
    {"--tokenizer", "FILE", "llama2.c: the checkpoint's tokenizer (tokenizer.bin format)"},
    {"-o", "MODEL", "where to write the duet model (default: model.duet)"},
    {NULL, NULL, NULL},
};

/* 1 when the file starts (after blanks) with '{': a JSON model (XGBoost's). */
static int json_file(const char *path) {
    FILE *f = fopen(path, "rb");
    int c = ' ';
    if (!f) return 0;
    while (c == ' ' || c == '\t' || c == '\n' || c == '\r') c = fgetc(f);
    fclose(f);
    return c == '{';
}

static int cmd_import(duet_ctx *ctx, const args *a) {
    if (a->npos != 1) return die("import takes one model: an XGBoost JSON model, or a llama2.c checkpoint with --tokenizer");
    int xgb = json_file(a->pos[0]);
    if (!xgb && !get(a, "--tokenizer"))
        return die("%s: not a JSON model; a llama2.c checkpoint needs --tokenizer FILE (its tokenizer.bin)", a->pos[0]);
    const char *out = get(a, "-o") ? get(a, "-o") : "model.duet";
    duet_model *m = NULL;
    duet_err e;
    int rc = 1;
    if (xgb) {
        if (duet_model_import_xgboost(ctx, a->pos[0], &m, &e)) {
            fail(&e);
            goto done;
        }
    } else if (open_model(ctx, a->pos[0], get(a, "--tokenizer"), &m)) goto done;
    if (duet_model_save(ctx, m, out, &e)) {
        fail(&e);
        goto done;
    }
    printf("imported %s as a %s model; wrote %s\n", a->pos[0], duet_model_name(m), out);
    rc = 0;
done:
    duet_model_free(m);
    return rc;
}

/* --- dispatch -------------------------------------------------------------------------------- */

typedef struct command {
    const char *name, *usage, *about;
    const opt_spec *opts;
    int data_opts; /* 1: accepts the data-reading options */
    int train_opts;
    int (*run)(duet_ctx *ctx, const args *a);
} command;

static const command commands[] = {
    {"train", "duet train DATA [-o MODEL] [--model NAME] [--label COL] [options]",
     "train a model on labelled data (CSV/TSV, LIBSVM, text TSV, JSONL, a folder of texts, IDX images)", train_opts, 1, 0,
     cmd_train},
    {"predict", "duet predict MODEL DATA|- [--proba] [--explain K] [--format text|json|csv]\n"
                "       duet predict LANGUAGE_MODEL DATA|- --labels A,B,... [--template T]",
     "label new examples (raw rows or text; - reads standard input)", predict_opts, 1, 0, cmd_predict},
    {"eval", "duet eval MODEL DATA [--format text|json]   or   duet eval DATA --cv K [train options]",
     "accuracy, precision/recall/F1, ROC-AUC, log-loss and confusion matrix", eval_opts, 1, 1, cmd_eval},
    {"info", "duet info MODEL [--top N] [--format text|json]", "what a model is, how it was trained, its top features",
     info_opts, 0, 0, cmd_info},
    {"generate", "duet generate MODEL [--prompt TEXT] [-n N] [--temperature T] [--top-k K] [--top-p P] [--seed S]\n"
                 "       duet generate MODEL [--count N] [--label NAME] [--seed S]",
     "write text with a language model (streamed), or draw new examples from another generative model",
     generate_opts, 1, 0, cmd_generate},
    {"score", "duet score MODEL DATA [--format text|json] [--tokens] [--anomaly [--score S]] [--against FILE]",
     "log-likelihood of each example under a generative model; a language model's nll and perplexity", score_opts, 1, 0,
     cmd_score},
    {"compare", "duet compare DATA [--models LIST] [--report DIR] [--format text|json] [train options]",
     "train discriminative and generative classifiers on the same data and compare accuracy, cost and learning curves",
     compare_opts, 1, 1, cmd_compare},
    {"synthesize", "duet synthesize MODEL -o FILE [--count N] [--label NAME] [--seed S]",
     "draw synthetic training data from a generative model, written as duet reads it back", synthesize_opts, 0, 0,
     cmd_synthesize},
    {"impute", "duet impute MODEL TABLE -o FILE [--draw] [--seed S]",
     "fill a table's missing cells from a generative model of it (naive Bayes on tables)", impute_opts, 1, 0, cmd_impute},
    {"serve", "duet serve MODEL... [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--threads N]",
     "serve models over HTTP: OpenAI-style completions and chat, classify, images, score, a web page", serve_opts, 0, 0,
     cmd_serve},
    {"import", "duet import MODEL.json [-o MODEL]   or   duet import CHECKPOINT --tokenizer FILE [-o MODEL]",
     "turn an XGBoost JSON model, or a llama2.c checkpoint and its tokenizer, into a duet model file", import_opts, 0, 0,
     cmd_import},
};
#define NCMD (int)(sizeof commands / sizeof *commands)

static void usage(void) {
    printf("duet %s — discriminative and generative machine learning in one command\n\n", duet_version());
    printf("usage: duet COMMAND [options]\n\ncommands:\n");
    for (int i = 0; i < NCMD; i++) printf("  %-9s %s\n", commands[i].name, commands[i].about);
    printf("\n`duet COMMAND --help` lists a command's options. Example:\n"
           "  duet train data/sms_spam/SMSSpamCollection -o spam.duet\n"
           "  echo 'WINNER! Claim your free prize now' | duet predict spam.duet - --explain 5\n");
}

static void command_help(const command *c, const char *model) {
    printf("usage: %s\n\n%s\n\noptions:\n", c->usage, c->about);
    int trains = c->train_opts || c->opts == train_opts;
    if (model && !duet_model_type_about(model)) printf("  (no model '%s'; all of them follow)\n", model), model = NULL;
    print_opts_for(c->opts, model);
    if (c->train_opts) print_opts_for(train_opts + 1, model);
    if (trains && !model) printf("  (`duet %s --model NAME --help`: that model's options alone)\n", c->name);
    if (c->data_opts) {
        printf("\nreading data:\n");
        print_opts(data_opts_list);
    }
    printf("\ncommon:\n");
    print_opts(common_opts);
}

int main(int argc, char **argv) {
    /* OpenBLAS chose its kernels as it loaded; on a processor it does not know it takes old
     * ones (3 times slower here). Then the program restarts once with OPENBLAS_CORETYPE set
     * (never when the user set it), and with OPENBLAS_NUM_THREADS=1 unless set: the library
     * splits BLAS work over its own threads, and OpenBLAS's idle ones would busy-wait. */
    const char *core = duet_blas_coretype_advice();
    if (core && !getenv("OPENBLAS_CORETYPE") && setenv("OPENBLAS_CORETYPE", core, 1) == 0) {
        if (!getenv("OPENBLAS_NUM_THREADS")) setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv); /* on failure: go on with the kernels there are */
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0)
            for (int i = 0; i < NCMD; i++)
                if (strcmp(commands[i].name, argv[2]) == 0) {
                    command_help(&commands[i], NULL);
                    return 0;
                }
        usage();
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("%s (BLAS kernels: %s)%s\n", duet_build_info(), duet_blas_core(), mpi_built() ? "; mpirun: data-parallel train" : "");
        return 0;
    }
    const command *c = NULL;
    for (int i = 0; i < NCMD; i++)
        if (strcmp(commands[i].name, argv[1]) == 0) c = &commands[i];
    if (!c) return die("unknown command '%s' (commands: train, predict, eval, info, generate, score, compare, synthesize, impute, serve, import)", argv[1]);
    /* options: the command's own, then data-reading, train (eval --cv) and common ones */
    opt_spec all[128];
    int n = 0;
    for (const opt_spec *s = c->opts; s->name; s++) all[n++] = *s;
    if (c->train_opts)
        for (const opt_spec *s = train_opts + 1; s->name; s++) all[n++] = *s;
    if (c->data_opts)
        for (const opt_spec *s = data_opts_list; s->name; s++) all[n++] = *s;
    all[n] = (opt_spec){NULL, NULL, NULL};
    args a;
    int pr = parse(argc - 2, argv + 2, all, common_opts, &a);
    if (pr == 2) { /* with --model NAME: that model's options alone */
        const char *model = NULL;
        for (int i = 2; i + 1 < argc; i++)
            if (strcmp(argv[i], "--model") == 0) model = argv[i + 1];
        for (int i = 2; i < argc; i++)
            if (strncmp(argv[i], "--model=", 8) == 0) model = argv[i] + 8;
        command_help(c, model);
        return 0;
    }
    if (pr) return 1;
    signal(SIGINT, on_sigint);
    /* under mpirun, `train` is data-parallel across the ranks; rank 0 alone speaks and writes */
    int ranks = strcmp(c->name, "train") == 0 && mpi_start(&argc, &argv);
    duet_ctx *ctx = NULL;
    if (make_ctx(&a, &ctx)) {
        duet_ctx_free(ctx);
        mpi_stop();
        return 1;
    }
    if (ranks) {
        mpi_setup(ctx);
        if (mpi_rank() > 0) quiet = 1;
    }
    int rc = c->run(ctx, &a);
    duet_ctx_free(ctx);
    mpi_stop();
    return rc;
}
