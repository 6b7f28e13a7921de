/* cli.h — what the command line's files share: option specs and parsed arguments, messages
 * (die, fail), option readers, data loading and training flags (duet.c), and the commands that
 * live in their own file.
 * Programs see the library only through include/duet.h.
 */
#ifndef DUET_CLI_H
#define DUET_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "duet.h"

typedef struct opt_spec {
    const char *name;  /* "--model" or "-o" */
    const char *arg;   /* NULL for a switch, else the placeholder shown in help */
    const char *help;
} opt_spec;

#define MAX_ARGS 64
typedef struct args {
    const char *pos[8]; /* positional arguments */
    int npos;
    const char *key[MAX_ARGS], *val[MAX_ARGS];
    int n;
} args;

/* "duet: error: ..." on stderr; returns 1 (the exit status). */
int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail(const duet_err *e);
/* The value of option name (or "" for a switch), NULL when absent; the last one wins. */
const char *get(const args *a, const char *name);
/* Parsed values with range checks: 0, or 1 after a message. Absent options leave *out. */
int opt_int(const args *a, const char *flag, long long lo, long long hi, int *out);
int opt_i64(const args *a, const char *flag, long long lo, long long hi, int64_t *out);
int opt_double(const args *a, const char *flag, double lo, double hi, double *out);
/* *out = the index of s in names (NULL-terminated), or a message listing them. */
int pick(const char *flag, const char *s, const char *const *names, int *out);
/* The data-reading options of a as load options: 0, or 1 after a message. */
int load_opts(const args *a, duet_load_opts *o);
/* Reads data with the data-reading options of a. */
int load_data(duet_ctx *ctx, const args *a, const char *path, int unlabelled, duet_data **d);
/* A duet model file, or a llama2.c checkpoint when tok names its tokenizer.bin. */
int open_model(duet_ctx *ctx, const char *path, const char *tok, duet_model **m);
/* The training options of a (train_opts) as parameters. */
int train_params(const args *a, duet_train_params *p);
/* The language-model generation options of a (-n, --temperature, --top-k, --top-p, --seed,
 * --prompt, --stop). */
int gen_opts(const args *a, duet_gen_opts *o);
/* A duet_text_fn writing to the FILE user. */
int put_text(void *user, const char *piece, size_t len);
void json_str(FILE *f, const char *s);
void json_num(FILE *f, double v);

extern const opt_spec train_opts[], data_opts_list[];

/* compare.c */
extern const opt_spec compare_opts[];
int cmd_compare(duet_ctx *ctx, const args *a);
/* synth.c */
extern const opt_spec synthesize_opts[], impute_opts[];
int cmd_synthesize(duet_ctx *ctx, const args *a);
int cmd_impute(duet_ctx *ctx, const args *a);
/* duet generate ... --filter CLASSIFIER --keep LABEL: generate, then filter */
int generate_filtered(duet_ctx *ctx, const args *a, const duet_model *m, FILE *out, const char *opath, int images);
/* duet predict LM DATA --labels a,b [--template T]: a language model prompted to classify */
int predict_zeroshot(duet_ctx *ctx, const args *a, const duet_model *lm, int fmt);
/* duet score ... --anomaly / --against: anomaly scores, or their ROC-AUC against another set */
int score_anomaly(duet_ctx *ctx, const args *a, const duet_model *m, int fmt);

/* mpi.c: data-parallel training under mpirun (when built with MPI; else one process) */
int mpi_start(int *argc, char ***argv); /* 1 when this is one of several MPI ranks */
void mpi_setup(duet_ctx *ctx);
int mpi_rank(void);
int mpi_size(void);
void mpi_stop(void);
int mpi_built(void); /* 1 when built with MPI */

/* server/serve.c */
extern const opt_spec serve_opts[];
int cmd_serve(duet_ctx *ctx, const args *a);

#endif /* DUET_CLI_H */
