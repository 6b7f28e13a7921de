/* test_images.h — synthetic labelled images for the image models' tests: 8x8 (or side x side)
 * pictures of a bright horizontal bar (class "0") or vertical bar (class "1") at a random
 * position, with a little noise, written as IDX files and read back. Include after test.h. */
#ifndef DT_TEST_IMAGES_H
#define DT_TEST_IMAGES_H

/* 8x8 images of two classes: a bright horizontal bar (class 0) or vertical bar (class 1) at a
 * random position, with a little noise; written as IDX files (images and labels). side is the
 * image size (8; 6 for the bad-size case). */
static inline void write_bars(int n, int side, const char **img_path, const char **lab_path, uint64_t seed) {
    static unsigned char img[16 + 400 * 64], lab[8 + 400];
    dt_rng r;
    dt_rng_seed(&r, seed);
    unsigned char ih[16] = {0, 0, 8, 3, 0, 0, (unsigned char)(n >> 8), (unsigned char)n,
                            0, 0, 0, (unsigned char)side, 0, 0, 0, (unsigned char)side};
    unsigned char lh[8] = {0, 0, 8, 1, 0, 0, (unsigned char)(n >> 8), (unsigned char)n};
    memcpy(img, ih, 16);
    memcpy(lab, lh, 8);
    int px = side * side;
    for (int i = 0; i < n; i++) {
        int k = i % 2, at = 1 + (int)dt_rng_below(&r, (uint64_t)side - 2);
        unsigned char *p = img + 16 + i * px;
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++) {
                int on = k ? x == at : y == at;
                p[y * side + x] = (unsigned char)(on ? 220 + dt_rng_below(&r, 30) : dt_rng_below(&r, 30));
            }
        lab[8 + i] = (unsigned char)k;
    }
    *img_path = t_tmpfile("-images-idx3-ubyte", (const char *)img, 16 + (size_t)n * (size_t)px);
    *lab_path = t_tmpfile("-labels-idx1-ubyte", (const char *)lab, 8 + (size_t)n);
}

static inline duet_data *load_bars(duet_ctx *ctx, int n, int side, uint64_t seed) {
    const char *ip, *lp;
    write_bars(n, side, &ip, &lp, seed);
    duet_load_opts o = duet_load_opts_default();
    o.labels_path = lp;
    duet_data *d = NULL;
    duet_err e;
    CHECK_OK(duet_data_load(ctx, ip, &o, &d, &e));
    return d;
}

#endif
