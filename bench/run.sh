#!/bin/sh
# duet against LIBLINEAR and scikit-learn on identical features (LIBSVM files written by
# bench/features.py with scikit-learn's vectorizers): SMS spam, 20 Newsgroups, Fashion-MNIST.
# For each: fit time, predict time and test accuracy of every tool, and the ratios peer/duet
# (> 1: duet is faster). duet and LIBLINEAR are timed as whole processes (reading the file
# included; median of RUNS runs); scikit-learn's times are its own in-process fit() and
# predict() (reading excluded), which favours it.
# Also: naive Bayes, duet vs scikit-learn's MultinomialNB on the same counts (fit against fit,
# both in-process medians; and whole processes that read the same file), and end to end on raw
# text (read, featurize, fit) as whole processes.
# Needs liblinear-tools and python3-sklearn (installed when missing). Never gates anything.
set -e
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SHARED=${DUET_SHARED_DATA:-../shared/data}
duet=$PWD/duet
. bench/blas_env.sh
py=/usr/bin/python3
out=build/bench
mkdir -p $out
if ! $py -c 'import sklearn' 2>/dev/null || ! command -v liblinear-train >/dev/null; then
    echo "bench: installing liblinear-tools python3-sklearn"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liblinear-tools python3-sklearn >/dev/null
fi
[ -f $out/sms-tfidf.train.svm ] || { echo "bench: writing features"; $py bench/features.py $out "$SHARED"; }

# median wall seconds of N runs of a command
wall() {
    n=$1; shift
    for i in $(seq $n); do
        /usr/bin/time -f "%e" -o $out/t.$i "$@" >/dev/null 2>$out/err || { echo "bench: failed: $*" >&2; cat $out/err >&2; exit 1; }
    done
    cat $out/t.* | sort -n | awk -v n=$n '{a[NR]=$1} END {print a[int((n+1)/2)]}'
    rm -f $out/t.*
}
line() { printf "%-9s %-26s %-12s %8s %8s %8s %9s\n" "$@"; }
ratio() { awk -v a=$1 -v b=$2 'BEGIN {printf "%.2fx", a/b}'; }

logreg() { # NAME C RUNS [SKLEARN_MAX_ITER]
    tr=$out/$1.train.svm te=$out/$1.test.svm
    [ -f $tr ] || { echo "$1: no features (data missing), skipped"; return; }
    d_fit=$(wall $3 $duet train $tr --C $2 --quiet -o $out/d.duet)
    d_pred=$(wall $3 $duet eval $out/d.duet $te --format json)
    d_acc=$($duet eval $out/d.duet $te --format json | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p')
    line "$1" "logreg C=$2" duet $d_fit $d_pred $d_acc ""
    l_fit=$(wall $3 liblinear-train -q -s 0 -c $2 -B 1 $tr $out/ll.model)
    l_pred=$(wall $3 liblinear-predict $te $out/ll.model $out/ll.out)
    l_acc=$(liblinear-predict $te $out/ll.model $out/ll.out | sed -n 's/Accuracy = \([0-9.]*\)%.*/\1/p' | awk '{printf "%.4f", $1/100}')
    line "" "" LIBLINEAR $l_fit $l_pred $l_acc "$(ratio $l_fit $d_fit)"
    set -- $1 $2 $($py bench/peer_sklearn.py logreg $2 $tr $te $4 2>/dev/null)
    line "" "" scikit-learn $3 $4 $5 "$(ratio $3 $d_fit)"
}

# the median of duet's own fit time over N runs ("trained ... in X s": features and fit, the
# file's reading and the model's writing excluded, as scikit-learn's fit())
fit_s() {
    n=$1; shift
    for i in $(seq $n); do "$@" 2>/dev/null | sed -n 's/.* in \([0-9.]*\) s;.*/\1/p'; done |
        sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

nb() { # NAME ALPHA
    tr=$out/$1-counts.train.svm te=$out/$1-counts.test.svm
    [ -f $tr ] || return 0
    d_proc=$(wall $RUNS $duet train $tr --model nb --nb multinomial --alpha $2 --quiet -o $out/nb.duet)
    d_fit=$(build/fit_time $tr $2 5) # in-process median of 5, as scikit-learn's
    d_pred=$(wall $RUNS $duet eval $out/nb.duet $te --format json)
    d_acc=$($duet eval $out/nb.duet $te --format json | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p')
    cat > $out/sk_nb_proc.py <<PY
import sys
from sklearn.datasets import load_svmlight_file
from sklearn.naive_bayes import MultinomialNB
X, y = load_svmlight_file(sys.argv[1])
MultinomialNB(alpha=float(sys.argv[2])).fit(X, y)
PY
    s_proc=$(wall $RUNS $py $out/sk_nb_proc.py $tr $2)
    set -- $1 $2 $($py bench/peer_sklearn.py nb $2 $tr $te 2>/dev/null)
    line "$1" "naive Bayes alpha=$2" duet $d_fit $d_pred $d_acc ""
    line "" "" scikit-learn $3 $4 $5 "$(ratio $3 $d_fit)"
    echo "          whole processes from the same file (read, fit; duet also writes the model):" \
         "duet $d_proc s, scikit-learn $s_proc s: $(ratio $s_proc $d_proc)"
}

make -s build/fit_time >/dev/null
echo "machine: $(nproc) cores; RUNS=$RUNS; times in seconds (median)"
line data model tool fit predict accuracy peer/duet
logreg sms-tfidf 10 $RUNS
logreg 20ng-tfidf 10 1
logreg fmnist 1 1 100 # scikit-learn at its default 100 iterations: 1000 take over 10 minutes here
nb sms 1
nb 20ng 0.1

# end to end on raw text: whole processes, reading and featurizing included
cat > $out/sk_nb.py <<'PY'
import sys
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
x, y = [], []
for line in open(sys.argv[1], encoding='utf-8', errors='replace'):
    a, b = line.rstrip('\n').split('\t', 1); y.append(a); x.append(b)
MultinomialNB().fit(CountVectorizer(ngram_range=(1, 2)).fit_transform(x), y)
PY
p=$(wall $RUNS $py $out/sk_nb.py data/sms_spam/SMSSpamCollection)
d=$(wall $RUNS $duet train data/sms_spam/SMSSpamCollection --model nb --alpha 1 --quiet -o $out/nb.duet)
echo
echo "end to end, raw SMS text -> word 1-2-gram counts -> naive Bayes (whole processes):"
echo "  scikit-learn $p s, duet $d s: $(ratio $p $d)"
