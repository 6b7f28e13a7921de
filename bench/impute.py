#!/usr/bin/python3
"""Missing values filled by duet's naive Bayes model of a table against mean/mode filling, on
cells masked at random: UCI Adult, the model trained on adult.data, REPEATS times a share
(--share, default 10 %) of the observed cells of adult.test masked (seeded), filled by
`duet impute MODEL masked.csv` (most likely value given the rest of the row and its label; and
without the label: --unlabelled), and by the training means and modes. Prints per column the
accuracy (categorical) or the mean absolute error (numeric) of each, over every masked cell.

usage: bench/impute.py DUET ADULT_DIR [--share 0.1] [--repeats 3]
"""
import argparse, csv, os, random, statistics, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("duet")
ap.add_argument("adult")
ap.add_argument("--share", type=float, default=0.1)
ap.add_argument("--repeats", type=int, default=3)
a = ap.parse_args()

def rows(path):
    out = []
    for r in csv.reader(open(path)):
        r = [c.strip() for c in r]
        if len(r) == 15:
            out.append(r)
    return out

train, test = rows(os.path.join(a.adult, "adult.data")), rows(os.path.join(a.adult, "adult.test"))
numeric = [all(c.replace(".", "", 1).lstrip("-").isdigit() for c in (r[j] for r in train) if c != "?") for j in range(14)]
names = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation", "relationship",
         "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country"]
fill = []
for j in range(14):
    vals = [r[j] for r in train if r[j] != "?"]
    fill.append(statistics.fmean(float(v) for v in vals) if numeric[j] else statistics.mode(vals))

tmp = tempfile.mkdtemp()
model = os.path.join(tmp, "nb.duet")
subprocess.run([a.duet, "train", os.path.join(a.adult, "adult.data"), "--label", "15", "--model", "nb", "-o", model,
                "--quiet"], check=True, stdout=subprocess.DEVNULL)
score = {"duet": [[0, 0.0] for _ in range(14)], "duet-unlabelled": [[0, 0.0] for _ in range(14)], "mean/mode": [[0, 0.0] for _ in range(14)]}
for rep in range(a.repeats):
    rnd = random.Random(rep)
    masked, truth = [], []
    for i, r in enumerate(test):
        m = list(r)
        for j in range(14):
            if r[j] != "?" and rnd.random() < a.share:
                truth.append((i, j, r[j]))
                m[j] = ""
        masked.append(m)
    for how in ("duet", "duet-unlabelled"):
        src = os.path.join(tmp, "masked.csv")
        with open(src, "w", newline="") as f:
            w = csv.writer(f)
            for m in masked:
                w.writerow(m[:14] + ([m[14].rstrip(".")] if how == "duet" else []))
        dst = os.path.join(tmp, "filled.csv")
        args = [a.duet, "impute", model, src, "-o", dst, "--quiet", "--header", "no"]
        subprocess.run(args, check=True, stderr=subprocess.DEVNULL)
        filled = list(csv.reader(open(dst)))
        for i, j, v in truth:
            s = score[how][j]
            s[0] += 1
            s[1] += abs(float(filled[i][j]) - float(v)) if numeric[j] else float(filled[i][j] == v)
    for i, j, v in truth:
        s = score["mean/mode"][j]
        s[0] += 1
        s[1] += abs(fill[j] - float(v)) if numeric[j] else float(fill[j] == v)

print(f"UCI Adult test rows, {a.share:.0%} of observed cells masked at random, {a.repeats} repeats")
print(f"{'column':16} {'measure':9} {'duet nb':>10} {'duet nb, no label':>18} {'mean/mode':>10}")
for j in range(14):
    f = lambda how: score[how][j][1] / max(score[how][j][0], 1)
    print(f"{names[j]:16} {'MAE' if numeric[j] else 'accuracy':9} {f('duet'):10.4g} {f('duet-unlabelled'):18.4g} {f('mean/mode'):10.4g}")
