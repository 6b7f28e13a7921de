/* fuzz_table.c — the CSV/TSV reader (separators, headers, quotes, missing values) and, on what
 * it accepts, the table features and a naive Bayes fit, prediction and imputation. The first
 * byte picks the options. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    duet_ctx *ctx = fuzz_ctx();
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_CSV;
    static const int header[4] = {-1, 0, 1, -1};
    o.header = header[data[0] & 3];
    o.sep = "\0,;\t "[(data[0] >> 2) % 5];
    o.unlabelled = (data[0] >> 5) & 1;
    duet_data *d = NULL;
    duet_err e;
    if (duet_data_load_mem(ctx, "fuzz.csv", (const char *)data + 1, size - 1, &o, &d, &e) == DUET_OK) {
        if (!o.unlabelled) fuzz_fit_predict(d, "nb", 0, 1);
        duet_data_free(d);
    }
    return 0;
}
