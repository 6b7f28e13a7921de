/* fuzz_gpt2.c — GPT-2's BPE files, encoder.json and vocab.bpe (the input holds both: see
 * fuzz_split); on a pair that loads, encoding and decoding a text with every kind of character
 * the pre-tokenizer splits on. Uses the library's internal tokenizer (src/data/tokenizer.h). */
#include "fuzz.h"

#include "data/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *a, *b;
    size_t na, nb;
    fuzz_split(data, size, &a, &na, &b, &nb);
    duet_ctx *ctx = fuzz_ctx();
    const char *enc = fuzz_file("encoder.json", a, na), *bpe = fuzz_file("vocab.bpe", b, nb);
    dt_tok *t = NULL;
    duet_err e;
    if (dt_tok_load_gpt2(ctx, enc, bpe, &t, &e) != DUET_OK) return 0;
    static const char text[] = "Hello world, it's 2026! héllo   naïve\t\n\xe2\x80\x94 ok?? 12345 'll 've";
    int32_t *ids = NULL;
    int64_t n = 0;
    if (dt_tok_encode(ctx, t, text, sizeof text - 1, &ids, &n, &e) == DUET_OK) {
        char *out = NULL;
        size_t len = 0;
        if (dt_tok_decode(ctx, t, ids, n, &out, &len, &e) == DUET_OK) duet_free(ctx, out);
        duet_free(ctx, ids);
    }
    dt_tok_free(ctx, t);
    return 0;
}
