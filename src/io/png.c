/* png.c — writes image grids and reads PNG files through libpng (see png.h).
 * libpng reports errors by longjmp: each entry point sets a jump buffer, and the error callback
 * copies libpng's message into duet_err before jumping back.
 */
#include "png.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>

typedef struct png_io {
    duet_ctx *ctx;
    duet_err *err;
    const char *path;
} png_io;

static void on_error(png_structp png, png_const_charp msg) {
    png_io *io = png_get_error_ptr(png);
    dt_err(io->err, DUET_EFORMAT, "%s: PNG: %s", io->path, msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* the library never prints */
}

static png_voidp on_malloc(png_structp png, png_alloc_size_t n) {
    png_io *io = png_get_mem_ptr(png);
    return dt_alloc(io->ctx, n);
}

static void on_free(png_structp png, png_voidp p) {
    png_io *io = png_get_mem_ptr(png);
    dt_free(io->ctx, p);
}

static unsigned char to_byte(float v) {
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (unsigned char)(v * 255.0f + 0.5f);
}

/* Encodes img as one PNG grid into the open stream fp; `name` is for messages. */
static int encode_grid(duet_ctx *ctx, const char *name, const float *img, int N, int C, int H, int W, int cols, int pad,
                       FILE *fp, duet_err *err) {
    if (N < 1 || (C != 1 && C != 3) || H < 1 || W < 1 || pad < 0 || pad > 64 || cols < 0)
        return dt_err(err, DUET_EINVAL, "%s: cannot tile %d images of %dx%dx%d", name, N, C, H, W);
    if (!cols) {
        cols = 1;
        while (cols * cols < N) cols++;
    }
    if (cols > N) cols = N;
    int rows = (N + cols - 1) / cols;
    int64_t GW = (int64_t)cols * (W + pad) + pad, GH = (int64_t)rows * (H + pad) + pad;
    if (GW > 65535 || GH > 65535) return dt_err(err, DUET_ERANGE, "%s: a %lldx%lld grid is too large", name, (long long)GW, (long long)GH);
    size_t stride = (size_t)GW * (size_t)C;
    unsigned char *pix = dt_calloc(ctx, (size_t)GH, stride);
    png_bytep *rowp = dt_alloc(ctx, (size_t)GH * sizeof *rowp);
    png_structp png = NULL;
    png_infop info = NULL;
    png_io io = {ctx, err, name};
    int rc = DUET_OK;
    if (!pix || !rowp) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory for a %lldx%lld image", name, (long long)GW, (long long)GH);
        goto done;
    }
    for (int n = 0; n < N; n++) {
        int64_t x0 = pad + (int64_t)(n % cols) * (W + pad), y0 = pad + (int64_t)(n / cols) * (H + pad);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++)
                    pix[(size_t)(y0 + y) * stride + (size_t)(x0 + x) * (size_t)C + (size_t)c] =
                        to_byte(img[(((size_t)n * (size_t)C + (size_t)c) * (size_t)H + (size_t)y) * (size_t)W + (size_t)x]);
    }
    for (int64_t y = 0; y < GH; y++) rowp[y] = pix + (size_t)y * stride;
    png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning, &io, on_malloc, on_free);
    info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory (PNG writer)", name);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = err && err->code ? err->code : DUET_EIO;
        goto done;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)GW, (png_uint_32)GH, 8, C == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_rows(png, info, rowp);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
done:
    if (png) png_destroy_write_struct(&png, info ? &info : NULL);
    dt_free(ctx, pix);
    dt_free(ctx, rowp);
    return rc;
}

int dt_png_write_grid(duet_ctx *ctx, const char *path, const float *img, int N, int C, int H, int W, int cols,
                      int pad, duet_err *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return dt_err(err, DUET_EINVAL, "%s: path too long", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return dt_err(err, DUET_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    int rc = encode_grid(ctx, path, img, N, C, H, W, cols, pad, fp, err);
    int bad = fflush(fp) != 0 || ferror(fp);
    bad |= fclose(fp) != 0;
    if (!rc && bad) rc = dt_err(err, DUET_EIO, "%s: write failed", tmp);
    if (!rc && rename(tmp, path) != 0) rc = dt_err(err, DUET_EIO, "%s: cannot rename: %s", path, strerror(errno));
    if (rc) remove(tmp);
    return rc;
}

int dt_png_grid_mem(duet_ctx *ctx, const float *img, int N, int C, int H, int W, int cols, int pad, unsigned char **out,
                    size_t *len, duet_err *err) {
    *out = NULL, *len = 0;
    char *buf = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&buf, &n);
    if (!fp) return dt_err(err, DUET_ENOMEM, "PNG: out of memory");
    int rc = encode_grid(ctx, "PNG", img, N, C, H, W, cols, pad, fp, err);
    int bad = fclose(fp) != 0;
    if (!rc && bad) rc = dt_err(err, DUET_ENOMEM, "PNG: out of memory");
    if (!rc && !(*out = dt_alloc(ctx, n ? n : 1))) rc = dt_err(err, DUET_ENOMEM, "PNG: out of memory");
    if (!rc) {
        memcpy(*out, buf, n);
        *len = n;
    }
    free(buf); /* open_memstream's buffer comes from malloc */
    return rc;
}

int dt_png_read(duet_ctx *ctx, const char *path, uint8_t **out, int *W, int *H, int *C, duet_err *err) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return dt_err(err, DUET_EIO, "%s: cannot open: %s", path, strerror(errno));
    png_io io = {ctx, err, path};
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &io, on_error, on_warning, &io, on_malloc, on_free);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile pix = NULL;
    png_bytep *volatile rowp = NULL;
    int rc = DUET_OK;
    if (!png || !info) {
        rc = dt_err(err, DUET_ENOMEM, "%s: out of memory (PNG reader)", path);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        rc = err && err->code ? err->code : DUET_EFORMAT;
        goto done;
    }
    png_init_io(png, fp);
    png_set_user_limits(png, 16384, 16384);
    png_read_info(png, info);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_packing(png);
    png_set_palette_to_rgb(png);
    png_set_expand_gray_1_2_4_to_8(png);
    png_read_update_info(png, info);
    int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    int c = (int)png_get_channels(png, info);
    if (c != 1 && c != 3) {
        rc = dt_err(err, DUET_EFORMAT, "%s: %d channels after conversion; expected gray or RGB", path, c);
        goto done;
    }
    pix = dt_alloc_e(ctx, (size_t)w * (size_t)h, (size_t)c, path, err);
    rowp = dt_alloc_e(ctx, (size_t)h, sizeof(png_bytep), path, err);
    if (!pix || !rowp) {
        rc = DUET_ENOMEM;
        goto done;
    }
    for (int y = 0; y < h; y++) rowp[y] = pix + (size_t)y * (size_t)w * (size_t)c;
    png_read_image(png, rowp);
    *W = w, *H = h, *C = c;
    *out = pix;
    pix = NULL;
done:
    if (png) png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    fclose(fp);
    dt_free(ctx, pix);
    dt_free(ctx, rowp);
    return rc;
}
