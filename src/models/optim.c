/* optim.c — L-BFGS with OWL-QN for an L1 term, and trust-region Newton (TRON); see optim.h.
 * References: Nocedal & Wright, Numerical Optimization (2nd ed.), Alg. 7.4 (L-BFGS two-loop
 * recursion) and Alg. 7.2 (CG-Steihaug); Andrew & Gao 2007 (OWL-QN); Lin, Weng & Keerthi
 * 2008, "Trust region Newton method for large-scale logistic regression", Alg. 1 and 2 with
 * the radius update rules of their section 2.1; Hsia, Chiang & Lin 2018 (diagonal
 * preconditioning of the inner conjugate gradients, trust region in the preconditioner's norm).
 * Not here: any model's objective (the callers pass it in).
 */
#include "optim.h"

#include <math.h>

/* Four partial sums so the compiler can keep them in one vector register. */
static double dot(const double *a, const double *b, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* The pseudo-gradient of f + l1*|w|: the gradient where |w| is differentiable, else the
 * one-sided derivative that descends, or 0 when neither side descends. */
static void pseudo_grad(const double *w, const double *g, double l1, double *pg, int64_t n) {
    if (l1 == 0) {
        memcpy(pg, g, (size_t)n * sizeof *pg);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        if (w[i] > 0) pg[i] = g[i] + l1;
        else if (w[i] < 0) pg[i] = g[i] - l1;
        else if (g[i] + l1 < 0) pg[i] = g[i] + l1;
        else if (g[i] - l1 > 0) pg[i] = g[i] - l1;
        else pg[i] = 0;
    }
}

static double l1norm(const double *w, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs(w[i]);
    return s;
}

int dt_lbfgs(duet_ctx *ctx, int64_t n, double *w, dt_fg_fn fg, void *user, dt_opt *o,
             duet_err *err) {
    int M = o->memory > 0 ? o->memory : 10;
    int rc = DUET_OK;
    size_t vec = (size_t)n;
    /* g, pg, d, wn, gn, plus M pairs s, y */
    double *own = o->work ? NULL : dt_alloc_e(ctx, dt_opt_work(n, M, 0), sizeof(double), o->what, err);
    double *buf = o->work ? o->work : own;
    double *rho = dt_calloc(ctx, (size_t)M, sizeof(double));
    double *alpha = dt_calloc(ctx, (size_t)M, sizeof(double));
    if (!buf || !rho || !alpha) {
        rc = buf ? dt_err(err, DUET_ENOMEM, "%s: out of memory", o->what) : DUET_ENOMEM;
        goto fail;
    }
    double *g = buf, *pg = g + vec, *d = pg + vec, *wn = d + vec, *gn = wn + vec;
    double *S = gn + vec, *Y = S + vec * (size_t)M;
    /* the tolerance is relative to the gradient at w = 0, also when w starts elsewhere (a warm
     * start begins near an optimum, where a relative test would never be met) */
    int zero = 1;
    for (int64_t i = 0; i < n && zero; i++) zero = w[i] == 0;
    if (!zero) {
        double f0;
        memset(wn, 0, vec * sizeof *wn);
        DT_TRY(fg(user, wn, gn, &f0, err));
        pseudo_grad(wn, gn, o->l1, pg, n);
    }
    double f = 0;
    DT_TRY(fg(user, w, g, &f, err));
    f += o->l1 * l1norm(w, n);
    if (zero) pseudo_grad(w, g, o->l1, pg, n);
    double g0 = sqrt(dot(pg, pg, n));
    if (g0 == 0) g0 = 1;
    pseudo_grad(w, g, o->l1, pg, n);
    int k = 0, stored = 0, head = 0;
    double fhist[10] = {0}; /* objective after the last ten iterations, by iteration mod 10 */
    o->iters = 0;
    o->gnorm = 1;
    double gn_rel = sqrt(dot(pg, pg, n)) / g0;
    while (o->iters < o->max_iter && gn_rel > o->tol) {
        /* two-loop recursion: d = -H pg */
        for (int64_t i = 0; i < n; i++) d[i] = -pg[i];
        for (int j = 0; j < stored; j++) {
            int t = (head - 1 - j + M) % M;
            alpha[t] = rho[t] * dot(S + (size_t)t * vec, d, n);
            double *yt = Y + (size_t)t * vec;
            for (int64_t i = 0; i < n; i++) d[i] -= alpha[t] * yt[i];
        }
        const double *P = o->precond;
        if (stored) { /* H0 = gamma * diag(P), gamma = s'y / y'Py */
            int t = (head - 1 + M) % M;
            double *yt = Y + (size_t)t * vec, ypy = 0;
            if (P)
                for (int64_t i = 0; i < n; i++) ypy += yt[i] * P[i] * yt[i];
            else
                ypy = dot(yt, yt, n);
            double gamma = 1.0 / (rho[t] * ypy);
            for (int64_t i = 0; i < n; i++) d[i] *= gamma * (P ? P[i] : 1);
        } else if (P) {
            for (int64_t i = 0; i < n; i++) d[i] *= P[i];
        }
        for (int j = stored - 1; j >= 0; j--) {
            int t = (head - 1 - j + M) % M;
            double beta = rho[t] * dot(Y + (size_t)t * vec, d, n);
            double *st = S + (size_t)t * vec;
            for (int64_t i = 0; i < n; i++) d[i] += (alpha[t] - beta) * st[i];
        }
        if (o->l1 != 0) /* keep the direction in the orthant that -pg points to */
            for (int64_t i = 0; i < n; i++)
                if (d[i] * pg[i] >= 0) d[i] = 0;
        double slope = dot(pg, d, n);
        if (slope >= 0) { /* not a descent direction: restart from steepest descent */
            for (int64_t i = 0; i < n; i++) d[i] = -pg[i];
            slope = -dot(pg, pg, n);
            stored = 0;
        }
        double step = k == 0 && !stored ? 1.0 / sqrt(dot(d, d, n)) : 1.0;
        if (step > 1) step = 1;
        double fn = 0;
        int ok = 0;
        for (int ls = 0; ls < 40; ls++) {
            for (int64_t i = 0; i < n; i++) {
                double v = w[i] + step * d[i];
                if (o->l1 != 0) { /* project onto the orthant of w (or of -pg where w is 0) */
                    double orth = w[i] != 0 ? w[i] : -pg[i];
                    if (v * orth <= 0) v = 0;
                }
                wn[i] = v;
            }
            DT_TRY(fg(user, wn, gn, &fn, err));
            fn += o->l1 * l1norm(wn, n);
            double dec = 0;
            for (int64_t i = 0; i < n; i++) dec += pg[i] * (wn[i] - w[i]);
            if (fn <= f + 1e-4 * dec) {
                ok = 1;
                break;
            }
            step *= 0.5;
        }
        o->iters++;
        if (!ok) break; /* no decrease possible: at the optimum within rounding */
        /* new correction pair from the smooth gradient */
        double *st = S + (size_t)head * vec, *yt = Y + (size_t)head * vec;
        for (int64_t i = 0; i < n; i++) {
            st[i] = wn[i] - w[i];
            yt[i] = gn[i] - g[i];
        }
        double sy = dot(st, yt, n);
        if (sy > 1e-12) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % M;
            if (stored < M) stored++;
        }
        double fold = f;
        memcpy(w, wn, vec * sizeof *w);
        memcpy(g, gn, vec * sizeof *g);
        f = fn;
        pseudo_grad(w, g, o->l1, pg, n);
        gn_rel = sqrt(dot(pg, pg, n)) / g0;
        k++;
        if (o->iters % 50 == 0 && !o->quiet)
            dt_log(ctx, 2, "%s: iteration %d objective %.8g gradient %.3g", o->what, o->iters, f, gn_rel);
        DT_TRY(dt_check_abort(ctx, o->what, err));
        if (fabs(fold - f) <= 1e-12 * fabs(f)) break;
        /* a plateau: ten iterations gained less than tol/100 of the objective */
        fhist[o->iters % 10] = f;
        if (o->iters >= 10 && fhist[(o->iters + 1) % 10] - f <= 1e-2 * o->tol * fabs(f)) break;
    }
    if (gn_rel > o->tol && o->iters >= o->max_iter && !o->quiet)
        dt_log(ctx, 1, "%s: stopped after %d iterations (gradient %.3g of its start, tolerance %g)",
               o->what, o->iters, gn_rel, o->tol);
    o->f = f;
    o->gnorm = gn_rel;
fail:
    dt_free(ctx, own);
    dt_free(ctx, rho);
    dt_free(ctx, alpha);
    return rc;
}

// --- trust-region Newton -------------------------------------------------------------------

/* Approximately solves H s = -g within ||s||_M <= delta by preconditioned conjugate gradients
 * (M the Hessian's diagonal and Mi its inverse, or both NULL: the identity); stops when the
 * residual's M^-1-norm falls to eta of the gradient's, or on the boundary. Leaves
 * r = -g - H s; adds the products used to *products. Three passes over the vectors per product (they
 * are memory-bound on large n): ||s||_M^2 is updated, not recomputed, and the preconditioned
 * residual M^-1 r is never stored. */
static int trcg(void *user, dt_hv_fn hv, int64_t n, const double *g, const double *M, const double *Mi, double delta,
                double *s, double *r, double *d, double *Hd, int *products, duet_err *err) {
    const double eta = 0.1;
    double rz = 0;
    for (int64_t i = 0; i < n; i++) {
        s[i] = 0;
        r[i] = -g[i];
        d[i] = Mi ? r[i] * Mi[i] : r[i];
        rz += r[i] * d[i];
    }
    double tol = eta * sqrt(rz), sMs = 0;
    int it = 0;
    while (it < n + 10 && sqrt(rz) > tol) {
        int rc = hv(user, d, Hd, err);
        if (rc) return rc;
        it++;
        (*products)++;
        double dHd = 0, sMd = 0, dMd = 0;
        for (int64_t i = 0; i < n; i++) {
            double m = M ? M[i] : 1;
            dHd += d[i] * Hd[i];
            sMd += s[i] * m * d[i];
            dMd += d[i] * m * d[i];
        }
        double alpha = rz / dHd;
        if (!(dHd > 0) || sMs + 2 * alpha * sMd + alpha * alpha * dMd > delta * delta) {
            /* the step leaves the region (or the curvature is not positive): stop on its
             * boundary along d, at the tau >= 0 with ||s + tau d||_M = delta */
            double dd = fmax(delta * delta - sMs, 0), rad = sqrt(sMd * sMd + dMd * dd);
            double tau = sMd >= 0 ? dd / (sMd + rad) : (rad - sMd) / dMd;
            for (int64_t i = 0; i < n; i++) {
                s[i] += tau * d[i];
                r[i] -= tau * Hd[i];
            }
            break;
        }
        sMs += 2 * alpha * sMd + alpha * alpha * dMd;
        double rz1 = 0;
        for (int64_t i = 0; i < n; i++) {
            s[i] += alpha * d[i];
            r[i] -= alpha * Hd[i];
            rz1 += r[i] * r[i] * (Mi ? Mi[i] : 1);
        }
        double beta = rz1 / rz;
        for (int64_t i = 0; i < n; i++) d[i] = (Mi ? r[i] * Mi[i] : r[i]) + beta * d[i];
        rz = rz1;
    }
    return DUET_OK;
}

/* sum_i a_i^2 m_i (m NULL: the identity) */
static double sqnorm_m(const double *a, const double *m, int64_t n) {
    double t = 0;
    for (int64_t i = 0; i < n; i++) t += a[i] * a[i] * (m ? m[i] : 1);
    return t;
}

/* M = the Hessian's diagonal, Mi = 1 / M */
static int diag_inverse(void *user, dt_hdiag_fn hdiag, double *M, double *Mi, int64_t n, duet_err *err) {
    int rc = hdiag(user, M, err);
    if (rc) return rc;
    for (int64_t i = 0; i < n; i++) Mi[i] = 1 / M[i];
    return DUET_OK;
}

int dt_tron(duet_ctx *ctx, int64_t n, double *w, dt_fg_fn fg, dt_hv_fn hv, dt_hdiag_fn hdiag, void *user,
            dt_opt *o, duet_err *err) {
    /* acceptance and radius constants of Lin, Weng & Keerthi (2008) */
    const double eta0 = 1e-4, eta1 = 0.25, eta2 = 0.75, sigma1 = 0.25, sigma2 = 0.5, sigma3 = 4;
    int rc = DUET_OK;
    size_t vec = (size_t)n;
    double *own = o->work ? NULL : dt_alloc_e(ctx, dt_opt_work(n, 0, 1), sizeof(double), o->what, err);
    double *buf = o->work ? o->work : own;
    if (!buf) return DUET_ENOMEM;
    double *g = buf, *gn = g + vec, *wn = gn + vec, *s = wn + vec, *r = s + vec, *d = r + vec, *Hd = d + vec,
           *M = hdiag ? Hd + vec : NULL, *Mi = hdiag ? M + vec : NULL;
    /* the tolerance is relative to the gradient at w = 0, as in dt_lbfgs */
    int zero = 1;
    double f = 0;
    for (int64_t i = 0; i < n && zero; i++) zero = w[i] == 0;
    if (!zero) {
        memset(wn, 0, vec * sizeof *wn);
        DT_TRY(fg(user, wn, gn, &f, err));
    }
    DT_TRY(fg(user, w, g, &f, err));
    double g0 = sqrt(dot(zero ? g : gn, zero ? g : gn, n));
    if (g0 == 0) g0 = 1;
    if (M) DT_TRY(diag_inverse(user, hdiag, M, Mi, n, err));
    o->iters = o->inner = 0;
    double gnorm = sqrt(dot(g, g, n)), delta = 0;
    for (int64_t i = 0; i < n; i++) delta += g[i] * g[i] / (M ? M[i] : 1);
    delta = sqrt(delta);
    int first = 1;
    while (o->iters < o->max_iter && gnorm > o->tol * g0) {
        DT_TRY(trcg(user, hv, n, g, M, Mi, delta, s, r, d, Hd, &o->inner, err));
        for (int64_t i = 0; i < n; i++) wn[i] = w[i] + s[i];
        double gs = dot(g, s, n), prered = -0.5 * (gs - dot(s, r, n));
        double fn = 0;
        DT_TRY(fg(user, wn, gn, &fn, err));
        double actred = f - fn, snorm = sqrt(sqnorm_m(s, M, n));
        if (first) delta = delta < snorm ? delta : snorm;
        first = 0;
        /* the step that minimises the quadratic through f, the slope and the new value */
        double alpha = fn - f - gs <= 0 ? sigma3 : -0.5 * gs / (fn - f - gs);
        if (alpha < sigma1) alpha = sigma1;
        if (actred < eta0 * prered) delta = fmin(alpha * snorm, sigma2 * delta);
        else if (actred < eta1 * prered) delta = fmax(sigma1 * delta, fmin(alpha * snorm, sigma2 * delta));
        else if (actred < eta2 * prered) delta = fmax(sigma1 * delta, fmin(alpha * snorm, sigma3 * delta));
        else delta = fmax(delta, fmin(alpha * snorm, sigma3 * delta));
        o->iters++;
        if (actred > eta0 * prered) { /* accept the step */
            memcpy(w, wn, vec * sizeof *w);
            memcpy(g, gn, vec * sizeof *g);
            f = fn;
            gnorm = sqrt(dot(g, g, n));
            if (M) DT_TRY(diag_inverse(user, hdiag, M, Mi, n, err));
        } else {
            double fw; /* back to the Hessian at w for the next products */
            DT_TRY(fg(user, w, gn, &fw, err));
        }
        if (!o->quiet)
            dt_log(ctx, 2, "%s: newton %d objective %.8g gradient %.3g radius %.3g cg %d", o->what, o->iters, f,
                   gnorm / g0, delta, o->inner);
        DT_TRY(dt_check_abort(ctx, o->what, err));
        if (prered <= 0 && actred <= 0) break; /* no progress is possible within rounding */
        if (fabs(actred) <= 1e-12 * fabs(f) && fabs(prered) <= 1e-12 * fabs(f)) break;
        if (delta <= 1e-300) break;
    }
    if (gnorm > o->tol * g0 && o->iters >= o->max_iter && !o->quiet)
        dt_log(ctx, 1, "%s: stopped after %d Newton steps (gradient %.3g of its start, tolerance %g)", o->what,
               o->iters, gnorm / g0, o->tol);
    o->f = f;
    o->gnorm = gnorm / g0;
fail:
    dt_free(ctx, own);
    return rc;
}
