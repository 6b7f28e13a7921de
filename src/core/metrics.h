/* metrics.h — classification metrics from true and predicted labels and probabilities.
 * defines: dt_metrics_compute (accuracy, macro and per-class precision/recall/F1, confusion
 * matrix, log-loss, two-class ROC-AUC) and dt_roc_auc.
 */
#ifndef DT_METRICS_H
#define DT_METRICS_H

#include "dt.h"

/* proba (n, K) may be NULL (then log_loss and roc_auc are NaN). class_names (K) are copied. */
int dt_metrics_compute(duet_ctx *ctx, int K, int64_t n, const int32_t *ytrue, const int32_t *ypred,
                       const float *proba, char *const *class_names, duet_metrics **out,
                       duet_err *err);
/* Regression metrics (K 0) of predictions v against targets t (n). */
int dt_metrics_regression(duet_ctx *ctx, int64_t n, const double *t, const double *v, duet_metrics **out, duet_err *err);
/* Area under the ROC curve of scores s (n) for positives pos (n, 0/1); ties share ranks.
 * NaN when one class is absent. */
double dt_roc_auc(duet_ctx *ctx, const double *s, const unsigned char *pos, int64_t n);

#endif
