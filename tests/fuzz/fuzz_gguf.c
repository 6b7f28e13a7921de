/* fuzz_gguf.c — GGUF files (io/gguf.c, from memory); on a file that opens, every key read with
 * every getter, every array walked (strings, nested arrays, numbers), every tensor looked up by
 * name and the first rows of each decoded (core/quant.c), as a model loader would. */
#include "core/quant.h"
#include "fuzz.h"
#include "io/gguf.h"

/* Walks an array: strings and sub-arrays by iteration, numbers by index. */
static void walk_arr(const dt_gguf_arr *a, int depth) {
    dt_gguf_iter it;
    dt_gguf_arr sub;
    const char *s;
    size_t len, sum = 0;
    int64_t v;
    double x;
    dt_gguf_arr_iter(a, &it);
    if (a->type == DT_GGUF_STRING)
        while (dt_gguf_iter_str(&it, &s, &len)) sum += len ? (unsigned char)s[len - 1] : 0;
    else if (a->type == DT_GGUF_ARRAY)
        while (dt_gguf_iter_arr(&it, &sub)) {
            if (depth > 1) abort(); /* the reader refuses arrays nested deeper */
            walk_arr(&sub, depth + 1);
        }
    else
        for (uint64_t i = 0; i < a->n && i < 4096; i++) sum += (size_t)dt_gguf_arr_i64(a, i, &v) + (size_t)dt_gguf_arr_f64(a, i, &x);
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    duet_ctx *ctx = fuzz_ctx();
    /* an exact-size copy, so that ASan sees any read past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    dt_gguf *f = NULL;
    duet_err e;
    if (dt_gguf_open_mem(ctx, "fuzz.gguf", buf, size, &f, &e) != DUET_OK) {
        if (f || (e.code != DUET_ENOMEM && (e.code != DUET_EFORMAT || !strstr(e.msg, "offset")))) abort(); /* a refusal says where */
        free(buf);
        return 0;
    }
    for (int64_t i = 0; i < dt_gguf_n_kv(f); i++) {
        const char *key = dt_gguf_kv_key(f, i), *s;
        if (dt_gguf_find_key(f, key) != i) abort(); /* keys are unique */
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float x;
        int b;
        size_t len;
        dt_gguf_arr a;
        dt_gguf_get_u32(f, key, &u32, &e);
        dt_gguf_get_i32(f, key, &i32, &e);
        dt_gguf_get_u64(f, key, &u64, &e);
        dt_gguf_get_i64(f, key, &i64, &e);
        dt_gguf_get_f32(f, key, &x, &e);
        dt_gguf_get_bool(f, key, &b, &e);
        if (dt_gguf_get_str(f, key, &s, &len, &e) == DUET_OK && len) u32 = (unsigned char)s[len - 1];
        if (dt_gguf_get_arr(f, key, &a, &e) == DUET_OK) walk_arr(&a, 1);
    }
    for (int64_t i = 0; i < dt_gguf_n_tensors(f); i++) {
        const dt_gguf_tensor *t = dt_gguf_tensor_at(f, i);
        if (dt_gguf_find_tensor(f, t->name) != t) abort(); /* names are unique */
        const dt_qtype *q = dt_qtype_of(t->type);
        if (!q || (const uint8_t *)t->data < buf || t->nbytes > size || (const uint8_t *)t->data - buf > (ptrdiff_t)(size - t->nbytes))
            abort(); /* the reader promised type and bounds */
        if (!q->supported || t->ne[0] == 0) continue;
        /* the first two rows (or fewer), at most 64K elements each */
        int64_t n = t->ne[0] < 65536 ? t->ne[0] : 65536 / q->block * q->block;
        size_t row = dt_qtype_bytes(q, (uint64_t)t->ne[0]);
        if (!row) abort(); /* the reader promised that a row's size fits */
        size_t rows = t->nbytes / row;
        float *y = malloc((size_t)n * sizeof *y);
        for (size_t r = 0; y && n && r < rows && r < 2; r++)
            if (dt_dequant_row(t->type, (const uint8_t *)t->data + r * row, y, n) != DUET_OK) abort();
        free(y);
    }
    dt_gguf_close(f);
    free(buf);
    return 0;
}
