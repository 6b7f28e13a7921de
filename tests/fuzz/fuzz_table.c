/* fuzz_table.c — the CSV/TSV reader (separators, headers, quotes, missing values) and, on what
 * it accepts, the table features and a naive Bayes fit and prediction, or (the first byte's top
 * bit) gradient-boosted trees on raw features and category codes: a class or a number, as the
 * labels say. The first byte picks the options. */
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
        if (!o.unlabelled && !(data[0] & 0x80)) fuzz_fit_predict(d, "nb", 0, 1);
        if (!o.unlabelled && (data[0] & 0x80)) {
            duet_train_params p = duet_train_params_default();
            p.model = "gbdt";
            p.rounds = 2, p.early_stop = -1, p.leaves = 4, p.min_leaf = 1;
            duet_model *m = NULL;
            if (duet_model_train(ctx, d, &p, &m, &e) == DUET_OK) fuzz_use_table_model(m);
            duet_model_free(m);
        }
        duet_data_free(d);
    }
    return 0;
}
