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
        duet_data_rows(d);
        if (!o.unlabelled) {
            duet_train_params p = duet_train_params_default();
            p.model = "nb";
            p.alpha = 1;
            duet_model *m = NULL;
            if (duet_model_train(ctx, d, &p, &m, &e) == DUET_OK) {
                int64_t n = duet_data_rows(d);
                int32_t *lab = calloc((size_t)n, sizeof *lab);
                if (lab) duet_model_predict(ctx, m, d, lab, NULL, &e);
                free(lab);
                duet_model_free(m);
            }
        }
        duet_data_free(d);
    }
    return 0;
}
