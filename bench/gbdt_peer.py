"""gbdt_peer.py — the peers of bench/gbdt.sh (XGBoost's hist trees and scikit-learn's
HistGradientBoosting), and the report that puts every tool's numbers side by side.

  gbdt_peer.py fit TOOL DATASET TRAIN ROUNDS THREADS MODEL   read, fit (timed), save; prints fit_s
  gbdt_peer.py eval TOOL DATASET TRAIN TEST MODEL            prints predict_s, metrics, row_us,
                                                               shap_us as "key value" lines;
                                                               XGBoost: also MODEL.row.f32 for xgb_row.c
  gbdt_peer.py report RESULTS.tsv JSON MACHINE.txt           tables, ratios, and the JSON file

TOOL: xgboost or sklearn. DATASET: adult, california or higgs (bench/gen_higgs_like.c).
The settings are the ones gbdt.sh gives duet: ROUNDS trees (no early stopping), 31 leaves grown
best-first with no depth limit, 255 bins, learning rate 0.1, L2 penalty 1 on leaf values, at
least 20 rows a leaf, the base score the training mean (XGBoost 1.7 would start at 0.5).
  XGBoost: tree_method=hist, grow_policy=lossguide, max_leaves=31, max_depth=0, max_bin=255,
    eta=0.1, reg_lambda=1, nthread=THREADS; min_child_weight is a hessian sum, not a row count:
    20 for squared error (hessian 1 a row: exactly 20 rows) and 1 (its default) for log-loss,
    where a row's hessian p(1-p) <= 0.25 varies, so that no value means "20 rows".
  scikit-learn: max_iter=ROUNDS, max_leaf_nodes=31, max_bins=255, learning_rate=0.1,
    l2_regularization=1, min_samples_leaf=20, early_stopping=False; threads by OMP_NUM_THREADS
    (which gbdt.sh sets before Python starts).
Categorical columns (Adult's 8, California's ocean_proximity) are native categoricals in both,
as they are in duet: pandas `category` columns with enable_categorical=True for XGBoost, ordinal
codes (the training set's categories in sorted order, unseen or missing -> NaN) with a
categorical_features mask for scikit-learn. '?' and empty cells are missing (NaN) everywhere.
fit_s times what duet's "trained ... in X s" times: from the table in memory (a DataFrame) to the
fitted model: XGBoost's DMatrix (with its quantile sketch) and train(), scikit-learn's fit().
"""
import json
import os
import pickle
import sys
import time

import numpy as np
import pandas as pd

ADULT_COLS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
              "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
              "income"]


def read(dataset, path):
    """(X DataFrame with category columns, y array, task)."""
    if dataset == "adult":
        df = pd.read_csv(path, header=None, names=ADULT_COLS, skipinitialspace=True, na_values="?", comment="|")
        y = (df.pop("income").str.rstrip(".") == ">50K").astype(np.float32).values
        task = "classification"
    elif dataset == "california":
        df = pd.read_csv(path)
        y = df.pop("median_house_value").astype(np.float64).values
        task = "regression"
    elif dataset == "higgs":
        df = pd.read_csv(path, dtype=np.float32)
        y = df.pop("label").values
        task = "classification"
    else:
        raise SystemExit("gbdt_peer: unknown dataset " + dataset)
    return df, y, task


def categories(df):
    """The training set's categories of each text column, sorted."""
    return {c: sorted(df[c].dropna().unique()) for c in df.columns if df[c].dtype == object}


def encode(df, cats, tool):
    """XGBoost: pandas categories; scikit-learn: a float array of ordinal codes and the mask."""
    df = df.copy()
    for c, values in cats.items():
        df[c] = pd.Categorical(df[c], categories=values)
    if tool == "xgboost":
        return df, None
    mask = np.array([c in cats for c in df.columns])
    X = np.empty(df.shape, dtype=np.float64)
    for j, c in enumerate(df.columns):
        if c in cats:
            codes = df[c].cat.codes.values.astype(np.float64)
            codes[codes < 0] = np.nan
            X[:, j] = codes
        else:
            X[:, j] = df[c].values
    return X, mask


def xgb_params(task, threads, base):
    return {"tree_method": "hist", "grow_policy": "lossguide", "max_leaves": 31, "max_depth": 0, "max_bin": 255,
            "eta": 0.1, "reg_lambda": 1.0, "min_child_weight": 20.0 if task == "regression" else 1.0,
            "objective": "reg:squarederror" if task == "regression" else "binary:logistic",
            "base_score": float(base), "nthread": threads, "max_cat_to_onehot": 1, "verbosity": 0}


def fit(tool, dataset, train, rounds, threads, model_path):
    df, y, task = read(dataset, train)
    cats = categories(df)
    X, mask = encode(df, cats, tool)
    t0 = time.perf_counter()
    if tool == "xgboost":
        import xgboost as xgb
        d = xgb.DMatrix(X, label=y, enable_categorical=True, nthread=threads)
        model = xgb.train(xgb_params(task, threads, y.mean()), d, num_boost_round=rounds)
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
        kw = dict(loss="squared_error") if task == "regression" else dict(loss="log_loss")
        model = cls(learning_rate=0.1, max_iter=rounds, max_leaf_nodes=31, max_depth=None, min_samples_leaf=20,
                    l2_regularization=1.0, max_bins=255, categorical_features=mask if mask.any() else None,
                    early_stopping=False, random_state=0, **kw).fit(X, y)
    fit_s = time.perf_counter() - t0
    if tool == "xgboost":
        model.save_model(model_path + ".json")  # categorical splits need JSON
    else:
        with open(model_path, "wb") as f:
            pickle.dump(model, f)
    print("fit_s %.6f" % fit_s)


def median_time(fn, n):
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return float(np.median(t))


def row_latency_us(fn, reps):
    for _ in range(min(200, reps)):
        fn()
    t = np.empty(reps)
    clock = time.perf_counter_ns
    for i in range(reps):
        t0 = clock()
        fn()
        t[i] = clock() - t0
    return float(np.median(t)) / 1e3


def evaluate(tool, dataset, train, test, model_path):
    from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, r2_score, roc_auc_score
    dtr, _, task = read(dataset, train)
    cats = categories(dtr)
    del dtr
    df, y, _ = read(dataset, test)
    X, _ = encode(df, cats, tool)
    threads = os.cpu_count()
    out = {}
    if tool == "xgboost":
        import xgboost as xgb
        model = xgb.Booster(model_file=model_path + ".json")
        model.set_param("nthread", threads)
        predict = lambda: model.predict(xgb.DMatrix(X, enable_categorical=True, nthread=threads))
    elif task == "regression":
        with open(model_path, "rb") as f:
            model = pickle.load(f)
        predict = lambda: model.predict(X)
    else:
        with open(model_path, "rb") as f:
            model = pickle.load(f)
        predict = lambda: model.predict_proba(X)[:, 1]
    p = predict()
    out["predict_s"] = median_time(predict, 5)
    if task == "regression":
        out["rmse"] = float(np.sqrt(np.mean((p - y) ** 2)))
        out["mae"] = float(mean_absolute_error(y, p))
        out["r2"] = float(r2_score(y, p))
    else:
        p = np.clip(p, 1e-15, 1 - 1e-15)
        out["accuracy"] = float(accuracy_score(y, p > 0.5))
        out["log_loss"] = float(log_loss(y, p))
        out["roc_auc"] = float(roc_auc_score(y, p))
    # one row (the first test row), on 1 thread, each call timed alone, median
    if tool == "xgboost":
        model.set_param("nthread", 1)
        # inplace_predict on a float array of the row (category codes for categorical columns);
        # a one-row DataFrame costs ~1 ms of pandas per call
        codes = X.copy()
        for c in cats:
            codes[c] = codes[c].cat.codes.astype(np.float32).where(codes[c].cat.codes >= 0, np.nan)
        row = np.ascontiguousarray(codes.iloc[:1].values.astype(np.float32))
        ref = model.predict(xgb.DMatrix(X.iloc[:1], enable_categorical=True))
        got = model.inplace_predict(row)
        if not np.allclose(ref, got, rtol=1e-5, atol=1e-6):
            raise SystemExit("gbdt_peer: inplace_predict on codes disagrees with predict: %s %s" % (ref, got))
        out["row_us_py"] = row_latency_us(lambda: model.inplace_predict(row), 20000)
        out["row_pred"] = float(got[0])
        row.tofile(model_path + ".row.f32")  # for bench/xgb_row.c, the same call from C
        # TreeSHAP: pred_contribs over 1000 rows in one call on 1 thread, per row
        n = min(1000, len(X))
        dm = xgb.DMatrix(X.iloc[:n], enable_categorical=True, nthread=1)
        model.predict(dm, pred_contribs=True)
        out["shap_us"] = 1e6 * median_time(lambda: model.predict(dm, pred_contribs=True), 3) / n
    else:
        row = X[:1]
        fn = (lambda: model.predict(row)) if task == "regression" else (lambda: model.predict_proba(row))
        out["row_us_py"] = row_latency_us(fn, 2000)
    for k, v in out.items():
        print("%s %.6g" % (k, v))


# --- report ---------------------------------------------------------------------------------------

DATASETS = ["adult", "california", "higgs"]
TOOLS = ["duet", "xgboost", "sklearn"]
FIT_KEYS = [("fit_s_t1", "fit 1t s"), ("fit_s_t2", "fit 2t s"), ("wall_s_t1", "proc 1t s"), ("wall_s_t2", "proc 2t s"),
            ("rss_mb_t1", "RSS 1t MB"), ("rss_mb_t2", "RSS 2t MB")]
PRED_KEYS = [("predict_s", "predict s"), ("row_us", "1 row us"), ("row_us_py", "1 row py us"), ("shap_us", "SHAP us")]
RATIO_KEYS = FIT_KEYS + PRED_KEYS[:2] + PRED_KEYS[3:]


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 1:
        return "%.3g" % v
    return "%.4f" % v


def table(r, keys, ratio_keys):
    print("  %-9s" % "" + "".join("%12s" % h for _, h in keys))
    for tool in TOOLS:
        if tool in r:
            print("  %-9s" % tool + "".join("%12s" % fmt(r[tool].get(k)) for k, _ in keys))
    for peer in TOOLS[1:]:
        if peer in r and "duet" in r:
            cells = []
            for k, _ in keys:
                a, b = r["duet"].get(k), r[peer].get(k)
                cells.append("%.2fx" % (a / b) if k in ratio_keys and a is not None and b else "")
            print("  %-9s" % ("d/" + peer[:7]) + "".join("%12s" % c for c in cells))


def report(tsv, json_path, machine_path):
    res = {}
    for line in open(tsv):
        ds, tool, key, val = line.rstrip("\n").split("\t")
        res.setdefault(ds, {}).setdefault(tool, {})[key] = float(val)
    machine = dict(l.rstrip("\n").split("=", 1) for l in open(machine_path) if "=" in l)
    ratio_keys = [k for k, _ in RATIO_KEYS]
    ratios = {}
    for ds in DATASETS:
        if ds not in res:
            continue
        r = res[ds]
        print()
        print("%s: %s" % (ds, machine.get("desc_" + ds, "")))
        table(r, FIT_KEYS, ratio_keys)
        quality = ["accuracy", "log_loss", "roc_auc"] if "roc_auc" in r.get("duet", {}) else ["rmse", "mae", "r2"]
        table(r, PRED_KEYS + [(q, q) for q in quality], ratio_keys)
        d = r.get("duet", {})
        if "pred_proc_s" in d:
            print("  duet: whole `duet eval` process %s s; one row with the dataset built each call %s us, "
                  "on all cores %s us" % (fmt(d["pred_proc_s"]), fmt(d.get("row_build_us")), fmt(d.get("row_us_all"))))
        for peer in TOOLS[1:]:
            if peer in r and "duet" in r:
                ratios.setdefault(ds, {})[peer] = {k: d[k] / r[peer][k] for k in ratio_keys
                                                   if d.get(k) is not None and r[peer].get(k)}
    print()
    print("summary: duet / peer, time or memory (< 1: duet faster or smaller)")
    print("%-11s %-8s" % ("", "peer") + "".join("%11s" % h.replace(" s", "").replace(" us", "").replace(" MB", "")
                                               for _, h in RATIO_KEYS))
    for ds, per in ratios.items():
        for peer, row in per.items():
            print("%-11s %-8s" % (ds, peer) + "".join("%11s" % ("%.2f" % row[k] if k in row else "-")
                                                      for k, _ in RATIO_KEYS))
    with open(json_path, "w") as f:
        json.dump({"machine": machine, "results": res, "ratios_duet_over_peer": ratios}, f, indent=1, sort_keys=True)
    print()
    print("JSON: " + json_path)


def main(argv):
    if len(argv) >= 8 and argv[1] == "fit":
        fit(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]), argv[7])
    elif len(argv) >= 7 and argv[1] == "eval":
        evaluate(argv[2], argv[3], argv[4], argv[5], argv[6])
    elif len(argv) >= 5 and argv[1] == "report":
        report(argv[2], argv[3], argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
