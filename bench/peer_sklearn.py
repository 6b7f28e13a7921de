# scikit-learn on a LIBSVM train/test pair: prints "fit_s predict_s accuracy" (in-process times;
# naive Bayes: the median of five fits, its fit being a few milliseconds to a second).
# usage: /usr/bin/python3 bench/peer_sklearn.py logreg|nb C TRAIN TEST [MAX_ITER]
import statistics, sys, time
from sklearn.datasets import load_svmlight_files
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
model, C, tr, te = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
Xtr, ytr, Xte, yte = load_svmlight_files([tr, te])
it = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
fits = []
for _ in range(5 if model == "nb" else 1):
    m = LogisticRegression(C=C, max_iter=it) if model == "logreg" else MultinomialNB(alpha=C)
    t0 = time.perf_counter(); m.fit(Xtr, ytr); fits.append(time.perf_counter() - t0)
t1 = time.perf_counter()
acc = (m.predict(Xte) == yte).mean(); t2 = time.perf_counter()
print(f"{statistics.median(fits):.4f} {t2 - t1:.3f} {acc:.4f}")
