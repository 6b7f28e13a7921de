#!/bin/sh
# Benchmarks: duet against its peers in the same run, whole-process wall time and peak memory
# (median of RUNS runs), with the ratio peer/duet (> 1: duet is faster).
#   1. solver only: LIBLINEAR's logistic regression and L2-loss SVM vs duet on the same LIBSVM file
#   2. end to end on raw text: scikit-learn (TfidfVectorizer + LogisticRegressionCV / MultinomialNB)
#      vs duet train on the SMS Spam Collection (read, featurize, choose C by 5-fold CV, fit)
#   3. Fashion-MNIST (60k x 784): multinomial logistic regression, duet vs scikit-learn (lbfgs)
# Needs liblinear-tools and python3-sklearn (installed here when missing); never gates anything.
set -e
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
duet=./duet
py=/usr/bin/python3
out=build/bench
mkdir -p $out
if ! $py -c 'import sklearn' 2>/dev/null || ! command -v liblinear-train >/dev/null; then
    echo "bench: installing liblinear-tools python3-sklearn"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liblinear-tools python3-sklearn >/dev/null
fi
# median wall seconds and peak KB of RUNS runs of a command: prints "SECONDS KB"
measure() {
    for i in $(seq $RUNS); do
        /usr/bin/time -f "%e %M" -o $out/t.$i "$@" >/dev/null 2>&1 || { echo "bench: failed: $*" >&2; exit 1; }
    done
    cat $out/t.* | sort -n | awk -v n=$RUNS '{a[NR]=$1; m[NR]=$2} END {mid=int((n+1)/2); print a[mid], m[mid]}'
    rm -f $out/t.*
}
row() { # name peer_s peer_kb duet_s duet_kb
    awk -v n="$1" -v ps=$2 -v pk=$3 -v ds=$4 -v dk=$5 'BEGIN {
        printf "%-44s %8.2f s %7.0f MB | %8.2f s %7.0f MB | %5.2fx time %5.2fx memory\n", n, ps, pk/1024, ds, dk/1024, ps/ds, pk/dk }'
}
header() { printf "\n%-44s %20s | %20s | peer/duet\n" "$1" "$2" "duet"; }

# --- 1. solver vs LIBLINEAR --------------------------------------------------------------------
$py - <<'PY'
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.datasets import dump_svmlight_file
x, y = [], []
for line in open('data/sms_spam/SMSSpamCollection', encoding='utf-8', errors='replace'):
    a, b = line.rstrip('\n').split('\t', 1); y.append(1 if a == 'spam' else 0); x.append(b)
X = TfidfVectorizer(ngram_range=(1, 2)).fit_transform(x)
dump_svmlight_file(X, y, 'build/bench/sms.svm', zero_based=False)
PY
header "solver, SMS TF-IDF 1-2-grams (LIBSVM file)" "LIBLINEAR"
for spec in "0 logreg 1e-4" "0 logreg 0.01" "1 svm 0.1"; do
    set -- $spec
    p=$(measure liblinear-train -q -s $1 -c 10 -B 1 -e $3 $out/sms.svm $out/ll.model)
    d=$(measure $duet train $out/sms.svm --model $2 --C 10 --tol $3 --quiet -o $out/d.duet)
    row "$2 C=10 tol $3" $p $d
done

# --- 2. end to end on raw text vs scikit-learn --------------------------------------------------
cat > $out/sk_sms.py <<'PY'
import sys
from sklearn.feature_extraction.text import TfidfVectorizer, CountVectorizer
from sklearn.pipeline import make_union
from sklearn.linear_model import LogisticRegressionCV
from sklearn.naive_bayes import MultinomialNB
x, y = [], []
for line in open(sys.argv[2], encoding='utf-8', errors='replace'):
    a, b = line.rstrip('\n').split('\t', 1); y.append(a); x.append(b)
if sys.argv[1] == 'logreg':
    f = make_union(TfidfVectorizer(ngram_range=(1, 2)), TfidfVectorizer(analyzer='char_wb', ngram_range=(2, 5)))
    X = f.fit_transform(x)
    LogisticRegressionCV(Cs=[0.1, 1, 10, 100, 1000], cv=5, max_iter=1000).fit(X, y)
else:
    X = CountVectorizer(ngram_range=(1, 2)).fit_transform(x)
    MultinomialNB().fit(X, y)
PY
header "end to end, SMS Spam Collection (5574 texts)" "scikit-learn"
p=$(measure $py $out/sk_sms.py logreg data/sms_spam/SMSSpamCollection)
d=$(measure $duet train data/sms_spam/SMSSpamCollection --quiet -o $out/d.duet)
row "logreg, word+char n-grams, C by 5-fold CV" $p $d
p=$(measure $py $out/sk_sms.py nb data/sms_spam/SMSSpamCollection)
d=$(measure $duet train data/sms_spam/SMSSpamCollection --model nb --alpha 1 --quiet -o $out/d.duet)
row "naive Bayes, word 1-2-gram counts" $p $d

# --- 3. Fashion-MNIST ----------------------------------------------------------------------------
fm=../shared/data/fashion_mnist
if [ -f $fm/train-images-idx3-ubyte.gz ]; then
    cat > $out/sk_fm.py <<'PY'
import gzip, sys, numpy as np
from sklearn.linear_model import LogisticRegression
d = sys.argv[1]
X = np.frombuffer(gzip.open(d + '/train-images-idx3-ubyte.gz').read()[16:], np.uint8).reshape(-1, 784) / 255.0
y = np.frombuffer(gzip.open(d + '/train-labels-idx1-ubyte.gz').read()[8:], np.uint8)
LogisticRegression(C=1, max_iter=100).fit(X, y)
PY
    header "Fashion-MNIST train (60000 x 784)" "scikit-learn"
    p=$(measure $py $out/sk_fm.py $fm)
    d=$(measure $duet train $fm/train-images-idx3-ubyte.gz --labels $fm/train-labels-idx1-ubyte.gz --C 1 --max-iter 100 --quiet -o $out/d.duet)
    row "multinomial logreg C=1, 100 iterations" $p $d
else
    echo "Fashion-MNIST not found under $fm: skipped"
fi
