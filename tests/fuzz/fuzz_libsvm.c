/* fuzz_libsvm.c — the LIBSVM/svmlight reader and, on what it accepts, a logistic regression
 * fit at a fixed C and its predictions (up to 100,000 features: past that a fit takes seconds
 * and the fuzzer stalls; the up-front memory check has its own CLI test). */
#include "fuzz.h"

#include "data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    duet_ctx *ctx = fuzz_ctx();
    duet_load_opts o = duet_load_opts_default();
    o.format = DUET_FMT_LIBSVM;
    duet_data *d = NULL;
    duet_err e;
    if (duet_data_load_mem(ctx, "fuzz.svm", (const char *)data, size, &o, &d, &e) == DUET_OK && d->D <= 100000)
        fuzz_fit_predict(d, "logreg", 1, 0);
    duet_data_free(d);
    return 0;
}
