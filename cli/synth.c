/* synth.c — `duet synthesize` (synthetic training data from a generative model) and
 * `duet impute` (missing cells filled from a generative model of a table).
 */
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
