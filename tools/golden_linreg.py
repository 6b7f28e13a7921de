#!/usr/bin/python3
"""golden_linreg.py — writes scikit-learn golden values for duet's linear regression (src/models/linreg.c).

Writes, under tests/fixtures/linreg/:
  data.csv    120 rows, header "x0,x1,x2,g0,g1,g2,s,y": six features (x0 ~ N(1, 1), not centred;
              x1 ~ N(0, 2^2); x2 = x1 + 0.01 N(0, 1), nearly collinear with x1; g0..g2 a one-hot group
              of three levels), a sample weight s in [0.5, 2] and the target
              y = 3 + 2 x0 - 1.5 x1 + 0.5 x2 + (0, 1, -2)[group] + N(0, 0.5^2).
              Features are rounded to float32 first (duet keeps features as float) and written with
              9 significant digits, so both sides fit exactly the same numbers; y with 17.
  golden.txt  one line per fit: "<model> <alpha> <weighted> <objective> <b> <w0> ... <w5>", where model
              is ridge (Ridge(alpha)), lasso (Lasso(alpha, tol=1e-12, max_iter=10**6)) or enet
              (ElasticNet(alpha, l1_ratio=0.5, tol=1e-12, max_iter=10**6)); weighted 1 means fitted with
              sample_weight=s; objective is scikit-learn's, at its own solution:
                ridge:      sum_i s_i r_i^2 + alpha ||w||^2
                lasso/enet: 1/(2 sum s) sum_i s_i r_i^2 + alpha rho ||w||_1 + alpha (1 - rho)/2 ||w||^2
              (s_i = 1 when unweighted; rho = 1 for lasso, 0.5 for enet).
tests/unit/test_linreg.c checks duet against these files; it needs no Python.

Run from the repository root:  /usr/bin/python3 tools/golden_linreg.py
(needs numpy and scikit-learn; written with scikit-learn 1.2.1, numpy 1.24.2.)
"""
import os

import numpy as np
from sklearn.linear_model import ElasticNet, Lasso, Ridge

OUT = "tests/fixtures/linreg"


def make():
    rng = np.random.default_rng(20240611)
    n = 120
    x0 = rng.normal(1.0, 1.0, n)
    x1 = rng.normal(0.0, 2.0, n)
    x2 = x1 + 0.01 * rng.normal(0.0, 1.0, n)
    grp = rng.integers(0, 3, n)
    g = np.eye(3)[grp]
    X = np.column_stack([x0, x1, x2, g]).astype(np.float32).astype(np.float64)
    s = np.round(rng.uniform(0.5, 2.0, n), 3)
    y = 3 + 2 * X[:, 0] - 1.5 * X[:, 1] + 0.5 * X[:, 2] + np.array([0.0, 1.0, -2.0])[grp] + rng.normal(0, 0.5, n)
    return X, s, y


def objective(kind, alpha, X, y, s, w, b):
    r = y - X @ w - b
    if kind == "ridge":
        return float(np.sum(s * r * r) + alpha * np.dot(w, w))
    rho = 1.0 if kind == "lasso" else 0.5
    return float(np.sum(s * r * r) / (2 * np.sum(s)) + alpha * rho * np.sum(np.abs(w)) + alpha * (1 - rho) / 2 * np.dot(w, w))


def main():
    os.makedirs(OUT, exist_ok=True)
    X, s, y = make()
    with open(os.path.join(OUT, "data.csv"), "w") as f:
        f.write("x0,x1,x2,g0,g1,g2,s,y\n")
        for i in range(X.shape[0]):
            f.write(",".join("%.9g" % v for v in X[i]) + ",%.3f,%.17g\n" % (s[i], y[i]))
    # read back what was written: the fits use exactly the numbers the test reads
    A = np.loadtxt(os.path.join(OUT, "data.csv"), delimiter=",", skiprows=1)
    X, s, y = A[:, :6].astype(np.float32).astype(np.float64), A[:, 6], A[:, 7]  # the float32 the C side reads
    fits = [("ridge", a, wt) for a, wt in ((0.1, 0), (10.0, 0), (1000.0, 0), (3.0, 1))]
    fits += [("lasso", a, wt) for a, wt in ((0.5, 0), (0.05, 0), (0.002, 0), (0.02, 1))]
    fits += [("enet", a, wt) for a, wt in ((0.5, 0), (0.05, 0), (0.002, 0), (0.02, 1))]
    lines = []
    for kind, alpha, wt in fits:
        if kind == "ridge":
            m = Ridge(alpha=alpha)
        elif kind == "lasso":
            m = Lasso(alpha=alpha, tol=1e-12, max_iter=10**6)
        else:
            m = ElasticNet(alpha=alpha, l1_ratio=0.5, tol=1e-12, max_iter=10**6)
        sw = s if wt else np.ones_like(y)
        m.fit(X, y, sample_weight=sw if wt else None)
        obj = objective(kind, alpha, X, y, sw, m.coef_, m.intercept_)
        lines.append("%s %.17g %d %.17g %.17g %s" % (kind, alpha, wt, obj, m.intercept_, " ".join("%.17g" % c for c in m.coef_)))
    with open(os.path.join(OUT, "golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
