/* fuzz_model.c — duet model files (safetensors with duet's metadata and checksum); on a file
 * that loads, what a user would do next: info, top features, and predict (a class or a number),
 * explain, generate or sample as the model allows. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    duet_ctx *ctx = fuzz_ctx();
    duet_model *m = NULL;
    duet_err e;
    if (duet_model_load(ctx, fuzz_file("model.duet", data, size), &m, &e) != DUET_OK) return 0;
    duet_model_name(m);
    duet_model_learns(m);
    for (int i = 0; duet_model_meta_key(m, i); i++) duet_model_meta_value(m, i);
    unsigned caps = duet_model_caps(m);
    int K = duet_model_classes(m), kind = duet_model_input_kind(m);
    for (int k = 0; k < K; k++) duet_model_class_name(m, k);
    for (int64_t c = 0; c < duet_model_table_columns(m); c++) duet_model_table_column(m, c);
    duet_feature f[5];
    int nf = 0;
    if (K > 0) duet_model_top_features(ctx, m, 0, f, 5, &nf, &e);
    if (kind == DUET_DATA_CORPUS) {
        duet_gen_opts o = duet_gen_opts_default();
        o.prompt = "a";
        o.n = 3;
        o.temperature = 0;
        duet_gen_stats st;
        duet_model_generate(ctx, m, &o, NULL, NULL, &st, &e);
    } else if (kind == DUET_DATA_TEXT && (caps & DUET_CAN_PREDICT)) {
        static const char txt[] = "hello there\nwin a free prize now\n";
        duet_load_opts lo = duet_load_opts_default();
        lo.format = DUET_FMT_TEXT;
        lo.unlabelled = 1;
        duet_data *d = NULL;
        if (duet_data_load_mem(ctx, "text", txt, sizeof txt - 1, &lo, &d, &e) == DUET_OK) {
            int32_t lab[2];
            float *P = calloc(2 * (size_t)(K > 0 ? K : 1), sizeof *P);
            if (P && duet_model_predict(ctx, m, d, lab, P, &e) == DUET_OK && (caps & DUET_CAN_EXPLAIN))
                duet_model_explain(ctx, m, d, 1, lab[1], f, 5, &nf, &e);
            free(P);
            duet_data_free(d);
        }
    }
    if (kind == DUET_DATA_TABLE) fuzz_use_table_model(m);
    if ((caps & DUET_CAN_SAMPLE) && kind != DUET_DATA_CORPUS) {
        duet_data *s = NULL;
        if (duet_model_sample(ctx, m, NULL, 2, 1, &s, &e) == DUET_OK) duet_data_free(s);
    }
    duet_model_free(m);
    return 0;
}
