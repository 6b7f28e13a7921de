/* test_gpt_torch.c — the transformer (src/models/gpt.c) against PyTorch: logits, loss,
 * gradients and three clipped AdamW steps on two tiny models, (a) RoPE, grouped key/value heads,
 * two layers, tied output layer and (b) learned positions, one layer, separate output layer.
 *
 * The golden values are in tests/fixtures/gpt_tiny_{rope,learned}.safetensors, written by
 *   /usr/bin/python3 tools/gpt_torch_fixture.py      (torch 1.13, CPU, float32)
 * which documents their contents; this test needs no torch. The fixtures are committed, so a
 * missing or unreadable one is a failure, not a skip. Tests run from the repository root.
 *
 * Tolerances (both sides compute in float32 with different summation orders):
 *   logits      max |duet - torch| <= 1e-5 * max |logit torch|
 *   loss        |duet - torch| <= 1e-5 * |loss torch|
 *   grad        max |duet - torch| <= 1e-4 * max |grad torch| + 1e-6
 *   grad norm   (before clipping, each step) relative 1e-5
 *   params      after each of 3 steps (lr 1e-2, wd 0.1, clip 0.5, so clipping is active):
 *               max |duet - torch| <= 1e-5
 */
#include "io/safetensors.h"
#include "models/gpt.h"
#include "test.h"

static duet_ctx CTX = {.n_threads = 1, .seed = 42};

/* max |a - b| over n values; *bmax receives max |b|. */
static double max_diff(const float *a, const float *b, size_t n, double *bmax) {
    double d = 0.0, m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (e > d || e != e) d = e;
        if (fabs((double)b[i]) > m) m = fabs((double)b[i]);
    }
    if (bmax) *bmax = m;
    return d;
}

/* First index where |a - b| > tol, or -1. */
static long first_bad(const float *a, const float *b, size_t n, double tol) {
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - (double)b[i]) <= tol)) return (long)i;
    return -1;
}

static int get_f32(const dt_st_file *f, const char *name, int64_t n, const float **out) {
    duet_err err = {0, ""};
    int64_t shape[1] = {n};
    const void *d = NULL;
    int rc = dt_st_get(f, name, DT_F32, 1, shape, &d, NULL, &err);
    if (rc) fprintf(stderr, "  %s\n", err.msg);
    *out = d;
    return rc;
}

static void check_fixture(const char *path) {
    duet_err err = {0, ""};
    dt_st_file *f = NULL;
    dt_gpt_probe *p = NULL;
    float *G = NULL, *M = NULL, *Vm = NULL, *logits = NULL;
    int rc = dt_st_open(&CTX, path, &f, &err);
    if (rc) {
        fprintf(stderr, "  %s (the fixtures are committed; regenerate: /usr/bin/python3 tools/gpt_torch_fixture.py)\n",
                err.msg);
        CHECK(rc == DUET_OK);
        return;
    }
    static const char *keys[] = {"V", "C", "L", "NH", "NKV", "F", "T", "B", "learned_pos", "tied", "steps"};
    int64_t v[11];
    for (int i = 0; i < 11; i++) {
        rc = dt_st_meta_i64(f, keys[i], 0, 1 << 20, &v[i], &err);
        CHECK_OK(rc);
        if (rc) {
            fprintf(stderr, "  %s\n", err.msg);
            goto done;
        }
    }
    double lr = 0, wd = 0, clip = 0;
    rc = dt_st_meta_f64(f, "lr", &lr, &err);
    if (!rc) rc = dt_st_meta_f64(f, "wd", &wd, &err);
    if (!rc) rc = dt_st_meta_f64(f, "clip", &clip, &err);
    CHECK_OK(rc);
    if (rc) goto done;
    dt_gpt_shape s = {(int)v[0], (int)v[1], (int)v[2], (int)v[3], (int)v[4], (int)v[5], (int)v[6], (int)v[8], (int)v[9]};
    int B = (int)v[7], steps = (int)v[10];
    int64_t N = (int64_t)B * s.T;
    float *params = NULL;
    size_t n = 0;
    rc = dt_gpt_probe_new(&CTX, &s, B, &p, &params, &n, &err);
    CHECK_OK(rc);
    if (rc) {
        fprintf(stderr, "  %s\n", err.msg);
        goto done;
    }
    const float *P0, *grad_t, *logits_t;
    const void *tok, *tgt, *loss_t, *gnorm_t;
    int64_t tshape[2] = {B, s.T}, one[1] = {1}, nsteps[1] = {steps};
    int64_t lshape[2] = {N, s.V};
    const void *lg = NULL;
    int bad = get_f32(f, "params", (int64_t)n, &P0) || get_f32(f, "grad", (int64_t)n, &grad_t);
    if (!bad) bad = dt_st_get(f, "logits", DT_F32, 2, lshape, &lg, NULL, &err) ||
                    dt_st_get(f, "tok", DT_I32, 2, tshape, &tok, NULL, &err) ||
                    dt_st_get(f, "tgt", DT_I32, 2, tshape, &tgt, NULL, &err) ||
                    dt_st_get(f, "loss", DT_F64, 1, one, &loss_t, NULL, &err) ||
                    dt_st_get(f, "gnorm", DT_F64, 1, nsteps, &gnorm_t, NULL, &err);
    if (bad && err.msg[0]) fprintf(stderr, "  %s\n", err.msg);
    CHECK(!bad);
    if (bad) goto done;
    logits_t = lg;
    G = calloc(n, sizeof *G), M = calloc(n, sizeof *M), Vm = calloc(n, sizeof *Vm);
    logits = calloc((size_t)(N * s.V), sizeof *logits);
    CHECK(G && M && Vm && logits);
    if (!G || !M || !Vm || !logits) goto done;
    memcpy(params, P0, n * sizeof *params);

    /* forward and backward at the initial parameters */
    double loss = dt_gpt_probe_loss(&CTX, p, params, G, tok, tgt, logits);
    double lmax, gmax, loss0 = *(const double *)loss_t;
    double dl = max_diff(logits, logits_t, (size_t)(N * s.V), &lmax);
    double dg = max_diff(G, grad_t, n, &gmax);
    fprintf(stderr, "  %s: %zu params; max diff logits %.3g (max |logit| %.3g), loss %.3g (loss %.6f), grad %.3g "
            "(max |grad| %.3g)\n", path, n, dl, lmax, fabs(loss - loss0), loss0, dg, gmax);
    CHECK(dl <= 1e-5 * lmax);
    CHECK_NEAR(loss, loss0, 1e-5 * fabs(loss0));
    CHECK(dg <= 1e-4 * gmax + 1e-6);
    long i = first_bad(G, grad_t, n, 1e-4 * gmax + 1e-6);
    if (i >= 0) fprintf(stderr, "  first gradient mismatch at parameter %ld: duet %.9g, torch %.9g\n", i,
                        (double)G[i], (double)grad_t[i]);

    /* clipped AdamW steps, each from the gradient at the current parameters */
    for (int t = 1; t <= steps; t++) {
        char name[32];
        const float *Pt;
        snprintf(name, sizeof name, "step%d", t);
        CHECK(get_f32(f, name, (int64_t)n, &Pt) == DUET_OK);
        if (!Pt) break;
        memset(G, 0, n * sizeof *G);
        dt_gpt_probe_loss(&CTX, p, params, G, tok, tgt, NULL);
        double gn = dt_gpt_probe_step(&CTX, p, G, M, Vm, t, lr, wd, clip), gn0 = ((const double *)gnorm_t)[t - 1];
        double dp = max_diff(params, Pt, n, NULL);
        fprintf(stderr, "  step %d: grad norm %.6f (torch %.6f), max diff params %.3g\n", t, gn, gn0, dp);
        CHECK(gn0 > clip); /* clipping is exercised */
        CHECK_NEAR(gn, gn0, 1e-5 * gn0);
        CHECK(dp <= 1e-5);
        i = first_bad(params, Pt, n, 1e-5);
        if (i >= 0) fprintf(stderr, "  first parameter mismatch after step %d at %ld: duet %.9g, torch %.9g\n", t, i,
                            (double)params[i], (double)Pt[i]);
    }
done:
    free(G);
    free(M);
    free(Vm);
    free(logits);
    dt_gpt_probe_free(&CTX, p);
    dt_st_close(f);
}

static void test_rope_gqa_tied(void) { check_fixture("tests/fixtures/gpt_tiny_rope.safetensors"); }

static void test_learned_pos_untied(void) { check_fixture("tests/fixtures/gpt_tiny_learned.safetensors"); }

int main(void) {
    RUN(test_rope_gqa_tied);
    RUN(test_learned_pos_untied);
    TEST_END();
}
