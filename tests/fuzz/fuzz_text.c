/* fuzz_text.c — labelled text as TSV (label<TAB>text) or JSONL, and a running corpus; on what is
 * accepted, the text features (word and character n-grams, TF-IDF) and a naive Bayes fit. The
 * first byte picks the format. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    duet_ctx *ctx = fuzz_ctx();
    duet_load_opts o = duet_load_opts_default();
    int f = data[0] % 3;
    o.format = f == 0 ? DUET_FMT_TEXT : f == 1 ? DUET_FMT_JSONL : DUET_FMT_CORPUS;
    o.latin1 = (data[0] >> 2) & 1;
    duet_data *d = NULL;
    duet_err e;
    if (duet_data_load_mem(ctx, "fuzz.txt", (const char *)data + 1, size - 1, &o, &d, &e) == DUET_OK) {
        if (f != 2) fuzz_fit_predict(d, "nb", 0, 0.5);
        duet_data_free(d);
    }
    return 0;
}
