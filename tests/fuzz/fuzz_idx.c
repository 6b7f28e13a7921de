/* fuzz_idx.c — IDX images and their IDX labels (the input holds both: see fuzz_split), gzip or
 * not; on what is accepted, a naive Bayes fit on the pixels. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *a, *b;
    size_t na, nb;
    fuzz_split(data, size, &a, &na, &b, &nb);
    duet_ctx *ctx = fuzz_ctx();
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_IDX;
    const char *img = fuzz_file("images.idx", a, na);
    o.labels_path = fuzz_file("labels.idx", b, nb);
    duet_data *d = NULL;
    duet_err e;
    if (duet_data_load(ctx, img, &o, &d, &e) == DUET_OK) {
        fuzz_fit_predict(d, "nb", 0, 1);
        duet_data_free(d);
    }
    return 0;
}
