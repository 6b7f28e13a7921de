/* fuzz_llama2c.c — llama2.c checkpoints and their tokenizer.bin (the input holds both: see
 * fuzz_split); on a pair that imports, a few greedy tokens from a prompt. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *a, *b;
    size_t na, nb;
    fuzz_split(data, size, &a, &na, &b, &nb);
    duet_ctx *ctx = fuzz_ctx();
    const char *ck = fuzz_file("model.bin", a, na), *tok = fuzz_file("tok.bin", b, nb);
    duet_model *m = NULL;
    duet_err e;
    if (duet_model_import_llama2c(ctx, ck, tok, &m, &e) != DUET_OK) return 0;
    duet_gen_opts o = duet_gen_opts_default();
    o.prompt = "Once upon a time";
    o.n = 4;
    o.temperature = 0;
    duet_gen_stats st;
    duet_model_generate(ctx, m, &o, NULL, NULL, &st, &e);
    duet_lm_score sc;
    duet_model_score_text(ctx, m, "The end.", 8, NULL, NULL, &sc, &e);
    duet_model_free(m);
    return 0;
}
