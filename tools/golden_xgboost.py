#!/usr/bin/python3
"""Writes the XGBoost fixtures of tests/unit/test_xgboost.c into tests/fixtures/xgboost/:
x.csv (200 rows of 5 features a..e with missing cells, c a category code 0..5), and for each
objective NAME.json (the model XGBoost saved) and NAME.pred (XGBoost's predictions on x.csv:
probabilities of every class, or the predicted number). Run with Debian's python3-xgboost
(1.7): /usr/bin/python3 tools/golden_xgboost.py. The test reads the files; it never runs Python."""
import os

import numpy as np
import pandas as pd
import xgboost as xgb

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "xgboost")
rng = np.random.default_rng(7)
n = 200
X = rng.normal(size=(n, 5)).astype(np.float32)
X[:, 2] = rng.integers(0, 6, n)
X[rng.random((n, 5)) < 0.1] = np.nan
names = ["a", "b", "c", "d", "e"]
df = pd.DataFrame(X, columns=names)
df.to_csv(os.path.join(out, "x.csv"), index=False, na_rep="", float_format="%.9g")
a, b, c = (np.nan_to_num(X[:, i]) for i in range(3))
cases = [
    ("binary_logistic", {"objective": "binary:logistic"}, ((a + b * b + rng.normal(size=n) * 0.3) > 0.5).astype(int), False),
    ("multi_softprob", {"objective": "multi:softprob", "num_class": 3}, (a > 0).astype(int) + (b > 0.5).astype(int), False),
    ("reg_squarederror", {"objective": "reg:squarederror"}, a * 3 + b, False),
    ("count_poisson", {"objective": "count:poisson"}, rng.poisson(np.exp(a * 0.5)), False),
    ("reg_categorical", {"objective": "reg:squarederror", "max_cat_to_onehot": 1}, np.isin(c, [1, 3, 4]) * 2.0 + a, True),
]
for tag, params, y, cat in cases:
    frame = df.copy()
    if cat:
        frame["c"] = pd.Categorical(frame["c"], categories=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    d = xgb.DMatrix(frame, label=y, enable_categorical=cat)
    booster = xgb.train({"tree_method": "hist", "max_depth": 4, "eta": 0.3, **params}, d, 10)
    booster.save_model(os.path.join(out, tag + ".json"))
    np.savetxt(os.path.join(out, tag + ".pred"), booster.predict(d).reshape(n, -1), fmt="%.9g")
