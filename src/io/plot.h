/* plot.h — charts written as PNG files, for the comparison report.
 * defines: dt_series, dt_plot_lines (curves with error bars, optional logarithmic x axis and a
 * legend), dt_plot_scatter (labelled points in colour groups), dt_plot_color (the palette).
 * Pictures are 760 x 460 pixels; text uses the built-in 5x7 font (printable ASCII).
 */
#ifndef DT_PLOT_H
#define DT_PLOT_H

#include "../core/dt.h"

typedef struct dt_series {
    const char *name;
    const double *x, *y; /* n points; non-finite ones are skipped */
    const double *err;   /* n half-lengths of error bars, or NULL */
    int n;
} dt_series;

int dt_plot_lines(duet_ctx *ctx, const char *path, const char *title, const char *xlabel, const char *ylabel, int logx,
                  const dt_series *s, int ns, duet_err *err);
/* Points (x[i], y[i]) labelled labels[i] (may be NULL), coloured by group[i] (may be NULL),
 * with a legend of the ngroups group_names. */
int dt_plot_scatter(duet_ctx *ctx, const char *path, const char *title, const char *xlabel, const char *ylabel, int logx,
                    const double *x, const double *y, const char *const *labels, const int *group,
                    const char *const *group_names, int n, int ngroups, duet_err *err);
/* The i-th colour of the palette, 0xRRGGBB. */
uint32_t dt_plot_color(int i);

#endif /* DT_PLOT_H */
