/* test_resume.c — training checkpoints of the image models (vae, gan, diffusion): a run cut
 * short after a checkpoint and resumed from it ends exactly where an uninterrupted run ends
 * (the same samples, bit for bit), at an epoch's end or in its middle; bad checkpoints are
 * refused with a message (another model's, a plain model, other data, damaged bytes); models
 * that train in one go refuse --checkpoint.
 */
#include <math.h>
#include <sys/stat.h>

#include "../../src/data/data.h"
#include "test.h"
#include "test_images.h"

static int calls, stop_after;
static int stopper(void *user) {
    (void)user;
    return ++calls > stop_after; /* the trainers ask once per optimizer step */
}

static duet_train_params small(const char *model) {
    duet_train_params p = duet_train_params_default();
    p.model = model;
    p.conditional = 1;
    p.epochs = 3;
    p.batch = 16;
    p.hidden = strcmp(model, "diffusion") == 0 ? 8 : 24;
    p.latent = 4;
    return p;
}

static int same_samples(duet_ctx *ctx, const duet_model *a, const duet_model *b) {
    duet_data *x = NULL, *y = NULL;
    duet_sample_opts so = {0};
    so.steps = 5, so.ddim = 1;
    duet_err e;
    int ok = duet_model_sample_ex(ctx, a, "1", 4, 9, &so, &x, &e) == DUET_OK &&
             duet_model_sample_ex(ctx, b, "1", 4, 9, &so, &y, &e) == DUET_OK && duet_data_rows(x) == 4 &&
             duet_data_rows(y) == 4 && memcmp(x->x, y->x, 4 * 64 * sizeof(float)) == 0;
    duet_data_free(x);
    duet_data_free(y);
    return ok;
}

/* Stops `model` after `stop` steps with a checkpoint every `every`, resumes, compares. */
static void resume_case(const char *model, int every, int stop) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_ctx_set_threads(ctx, 2);
    duet_data *d = load_bars(ctx, 96, 8, 5);
    duet_err e;
    duet_train_params p = small(model);
    duet_model *full = NULL, *cut = NULL, *resumed = NULL;
    CHECK_OK(duet_model_train(ctx, d, &p, &full, &e));
    char ck[64];
    snprintf(ck, sizeof ck, "/tmp/duet_resume_%s_%d.duet", model, (int)getpid());
    remove(ck);
    p.checkpoint = ck;
    p.checkpoint_every = every;
    calls = 0, stop_after = stop;
    duet_ctx_set_abort(ctx, stopper, NULL);
    CHECK_ERR(duet_model_train(ctx, d, &p, &cut, &e), &e, DUET_ECANCELLED, "cancelled");
    duet_ctx_set_abort(ctx, NULL, NULL);
    CHECK(cut == NULL);
    duet_train_params r = small(model);
    r.resume = ck;
    CHECK_OK(duet_model_train(ctx, d, &r, &resumed, &e));
    CHECK(full && resumed && same_samples(ctx, full, resumed));
    if (full && resumed && !same_samples(ctx, full, resumed))
        fprintf(stderr, "  %s: resumed run differs (checkpoint every %d, stopped after %d)\n", model, every, stop);
    duet_model_free(full);
    duet_model_free(resumed);
    remove(ck);
    duet_data_free(d);
    duet_ctx_free(ctx);
}

/* 96 images in batches of 16: 6 steps an epoch (the GAN's too: whole batches only) */
static void test_vae(void) {
    resume_case("vae", 4, 5);  /* in the middle of the first epoch */
    resume_case("vae", 6, 13); /* at the end of the first epoch */
}

static void test_gan(void) {
    resume_case("gan", 4, 9);
    resume_case("gan", 12, 12);
}

static void test_diffusion(void) { resume_case("diffusion", 5, 7); }

static void test_bad_checkpoints(void) {
    duet_ctx *ctx = NULL;
    duet_ctx_new(&ctx, NULL);
    duet_data *d = load_bars(ctx, 96, 8, 5), *d2 = load_bars(ctx, 64, 8, 6);
    duet_err e;
    duet_model *m = NULL, *x = NULL;
    duet_train_params p = small("vae");
    p.epochs = 1;
    char ck[64], plain[64];
    snprintf(ck, sizeof ck, "/tmp/duet_badck_%d.duet", (int)getpid());
    snprintf(plain, sizeof plain, "/tmp/duet_plain_%d.duet", (int)getpid());
    p.checkpoint = ck;
    p.checkpoint_every = 2;
    CHECK_OK(duet_model_train(ctx, d, &p, &m, &e));
    CHECK_OK(duet_model_save(ctx, m, plain, &e));
    duet_model_free(m);
    duet_train_params r = small("vae");
    r.epochs = 1;
    /* another model's checkpoint, a model without training state, other data */
    r.model = "gan", r.resume = ck;
    CHECK_ERR(duet_model_train(ctx, d, &r, &x, &e), &e, DUET_EINVAL, "a vae model, not a gan checkpoint");
    r.model = "vae", r.resume = plain;
    CHECK_ERR(duet_model_train(ctx, d, &r, &x, &e), &e, DUET_EINVAL, "not a checkpoint");
    r.resume = ck;
    CHECK_ERR(duet_model_train(ctx, d2, &r, &x, &e), &e, DUET_EFORMAT, "opt.order");
    /* stopped at the end of the last epoch: nothing is left to do, the model comes back */
    duet_train_params r0 = r;
    CHECK_OK(duet_model_train(ctx, d, &r0, &x, &e));
    duet_model_free(x);
    x = NULL;
    /* one flipped byte in the data: the checksum refuses it */
    FILE *f = fopen(ck, "r+b");
    struct stat st;
    if (f && stat(ck, &st) == 0) {
        fseek(f, (long)st.st_size - 5, SEEK_SET);
        int c = fgetc(f);
        fseek(f, (long)st.st_size - 5, SEEK_SET);
        fputc(c ^ 0x20, f);
    }
    if (f) fclose(f);
    CHECK_ERR(duet_model_train(ctx, d, &r, &x, &e), &e, DUET_EFORMAT, "checksum mismatch");
    CHECK(x == NULL);
    /* a model that trains in one go */
    duet_train_params q = duet_train_params_default();
    q.model = "logreg";
    q.checkpoint = ck;
    CHECK_ERR(duet_model_train(ctx, d, &q, &x, &e), &e, DUET_EINVAL, "checkpoints and resume are for");
    remove(ck);
    remove(plain);
    duet_data_free(d);
    duet_data_free(d2);
    duet_ctx_free(ctx);
}

int main(void) {
    RUN(test_vae);
    RUN(test_gan);
    RUN(test_diffusion);
    RUN(test_bad_checkpoints);
    TEST_END();
}
