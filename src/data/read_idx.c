/* read_idx.c — IDX images (MNIST, Fashion-MNIST) as DUET_DATA_DENSE: an idx3 u8 image file
 * (magic 0x00000803, N, H, W) and an idx1 u8 label file (magic 0x00000801, N); gzip or not.
 * Labels are the class numbers, or Fashion-MNIST's class names ("sneaker", "bag", ...) when
 * the label file's path says "fashion".
 * Every size in a header is checked against the bytes actually there.
 * Not here: scaling pixels (pipe.c).
 */
#include "data.h"

#include <strings.h>

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Checks an IDX u8 header with `ndim` dimensions; dims[] receives them. */
static int idx_header(const char *path, const char *buf, size_t len, int ndim, uint32_t *dims,
                      size_t *payload, duet_err *err) {
    const unsigned char *u = (const unsigned char *)buf;
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (len < 4) return dt_err(err, DUET_EFORMAT, "%s: not an IDX file (%zu bytes)", path, len);
    if (u[0] != 0 || u[1] != 0 || u[2] != 0x08)
        return dt_err(err, DUET_EFORMAT, "%s: not an IDX u8 file (magic %02x%02x%02x%02x)", path, u[0], u[1], u[2], u[3]);
    if (u[3] != ndim)
        return dt_err(err, DUET_EFORMAT, "%s: IDX file has %d dimensions, expected %d (%s)", path, u[3], ndim,
                      ndim == 3 ? "images" : "labels");
    if (len < hdr)
        return dt_err(err, DUET_EFORMAT, "%s: truncated IDX header at offset %zu (needs %zu bytes)", path, len, hdr);
    size_t total = 1;
    for (int k = 0; k < ndim; k++) {
        dims[k] = be32(u + 4 + 4 * k);
        if (!dt_mul_ok(total, dims[k], &total))
            return dt_err(err, DUET_EFORMAT, "%s: IDX dimensions overflow", path);
    }
    if (total > len - hdr)
        return dt_err(err, DUET_EFORMAT, "%s: truncated: header promises %zu bytes of data, file ends at offset %zu",
                      path, total, len);
    *payload = hdr;
    return DUET_OK;
}

int dt_read_idx(duet_ctx *ctx, const char *path, const duet_load_opts *o, duet_data **out,
                duet_err *err) {
    *out = NULL;
    int rc = DUET_OK;
    duet_data *d = NULL;
    char *img = NULL, *lab = NULL;
    size_t ilen = 0, llen = 0, ioff = 0, loff = 0;
    uint32_t idims[3] = {0, 0, 0}, ldims[1] = {0};
    if (!o->labels_path && !o->unlabelled)
        return dt_err(err, DUET_EINVAL, "%s: IDX images need --labels FILE", path);
    DT_TRY(dt_read_file(ctx, path, &img, &ilen, err));
    DT_TRY(idx_header(path, img, ilen, 3, idims, &ioff, err));
    if (o->labels_path) {
        DT_TRY(dt_read_file(ctx, o->labels_path, &lab, &llen, err));
        DT_TRY(idx_header(o->labels_path, lab, llen, 1, ldims, &loff, err));
        if (ldims[0] != idims[0])
            DT_TRY(dt_err(err, DUET_EFORMAT, "%s: %u labels for %u images in %s", o->labels_path, ldims[0],
                          idims[0], path));
    }
    size_t N = idims[0], D = (size_t)idims[1] * idims[2];
    if (o->limit > 0 && (uint64_t)o->limit < N) N = (size_t)o->limit;
    if (D == 0) DT_TRY(dt_err(err, DUET_EFORMAT, "%s: images of size %ux%u", path, idims[1], idims[2]));
    DT_TRY(dt_data_new(ctx, DUET_DATA_DENSE, path, &d, err));
    d->N = (int64_t)N;
    d->D = (int64_t)D;
    d->H = idims[1];
    d->W = idims[2];
    size_t total = N * D; /* fits: checked against the file size above */
    d->x = dt_alloc_e(ctx, total ? total : 1, sizeof(float), path, err);
    if (!d->x) DT_TRY(err ? err->code : DUET_ENOMEM);
    const unsigned char *px = (const unsigned char *)img + ioff;
    for (size_t i = 0; i < total; i++) d->x[i] = (float)px[i];
    if (lab) {
        /* Fashion-MNIST (recognised by its path) has names for its ten classes */
        static const char *const fashion[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                                "sandal",  "shirt",   "sneaker",  "bag",   "ankle-boot"};
        int named = 0;
        for (const char *c = o->labels_path; !named && *c; c++) named = strncasecmp(c, "fashion", 7) == 0;
        char *names[256] = {0};
        d->labels = dt_alloc_e(ctx, N ? N : 1, sizeof(char *), o->labels_path, err);
        if (!d->labels) DT_TRY(err ? err->code : DUET_ENOMEM);
        const unsigned char *ly = (const unsigned char *)lab + loff;
        for (size_t i = 0; i < N; i++) {
            unsigned v = ly[i];
            if (!names[v]) {
                char num[16];
                snprintf(num, sizeof num, "%s", named && v < 10 ? fashion[v] : "");
                if (!num[0]) snprintf(num, sizeof num, "%u", v);
                names[v] = dt_pool_strdup(&d->pool, num);
                if (!names[v]) DT_TRY(dt_err(err, DUET_ENOMEM, "%s: out of memory", path));
            }
            d->labels[i] = names[v];
        }
    }
    dt_free(ctx, img);
    dt_free(ctx, lab);
    *out = d;
    return DUET_OK;
fail:
    dt_free(ctx, img);
    dt_free(ctx, lab);
    dt_data_free(d);
    return rc;
}
