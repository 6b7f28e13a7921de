/* png.h — PNG images in and out (libpng), for generated image grids.
 * defines: dt_png_write_grid (N images tiled into one 8-bit gray or RGB PNG, written
 * atomically) and dt_png_read (8-bit gray/RGB, for tests and inputs). libpng's messages and
 * memory go through duet's error and allocator: nothing is printed.
 */
#ifndef DT_PNG_H
#define DT_PNG_H

#include "../core/dt.h"

/* img (N, C, H, W) with values in [0, 1] (clamped), C = 1 (gray) or 3 (RGB), tiled in `cols`
 * columns (0: as square as possible) with `pad` pixels of black between and around them. */
int dt_png_write_grid(duet_ctx *ctx, const char *path, const float *img, int N, int C, int H, int W, int cols,
                      int pad, duet_err *err);
/* The same grid as PNG bytes in memory: *out (allocated with ctx) of *len bytes. */
int dt_png_grid_mem(duet_ctx *ctx, const float *img, int N, int C, int H, int W, int cols, int pad, unsigned char **out,
                    size_t *len, duet_err *err);
/* Reads an 8-bit (or expanded to 8-bit) gray or RGB PNG; alpha is dropped. *pix (H, W, C)
 * is allocated with ctx. */
int dt_png_read(duet_ctx *ctx, const char *path, uint8_t **pix, int *W, int *H, int *C, duet_err *err);

#endif /* DT_PNG_H */
