/* fuzz_xgboost.c — XGBoost JSON models (duet import model.json); on a file that imports, one
 * row predicted and explained (TreeSHAP), and the model saved as a duet file and loaded again. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    duet_ctx *ctx = fuzz_ctx();
    duet_model *m = NULL, *back = NULL;
    duet_err e;
    if (duet_model_import_xgboost(ctx, fuzz_file("model.json", data, size), &m, &e) != DUET_OK) return 0;
    fuzz_use_table_model(m);
    const char *path = fuzz_file("model.duet", (const uint8_t *)"", 0);
    if (duet_model_save(ctx, m, path, &e) == DUET_OK && duet_model_load(ctx, path, &back, &e) == DUET_OK) fuzz_use_table_model(back);
    duet_model_free(back);
    duet_model_free(m);
    return 0;
}
