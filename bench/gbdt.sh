#!/bin/sh
# duet's gradient-boosted trees (--model gbdt) against XGBoost 1.7 (hist, lossguide) and
# scikit-learn's HistGradientBoosting, with the same settings: ROUNDS trees, no early stopping,
# 31 leaves grown best-first, 255 bins, learning rate 0.1, L2 penalty 1, at least 20 rows a leaf
# (bench/gbdt_peer.py says how each peer is set, and how categorical columns reach it).
# Data:
#   adult       UCI Adult: adult.data -> adult.test (32,561 / 16,281 rows; 6 numeric and 8
#               categorical columns; income, column 15, is the label)
#   california  California housing: median_house_value from 9 columns (one categorical, some
#               missing); every fifth data row (the 5th, 10th, ...) held out: 16,512 / 4,128 rows
#   higgs       HIGGS_ROWS (default 1,000,000) x 28 synthetic rows and HIGGS_TEST (100,000) more,
#               from bench/gen_higgs_like.c (seeds 1 and 2; the file says what it draws)
# Measures, per tool:
#   fit 1t / 2t   the fit alone at 1 and 2 threads, as each tool times it in-process (duet: its
#                 "trained ... in X s", from the table in memory to the model; peers: DMatrix +
#                 train() / fit() on a DataFrame already read), median of RUNS processes
#   proc 1t / 2t  the whole process of that fit (start, read the CSV, fit, write the model),
#                 median of the same RUNS runs; RSS: its peak resident memory (/usr/bin/time %M,
#                 the "Maximum resident set size" of time -v), median of those runs
#   predict       the whole test set in-process on all cores (duet: bench/predict_row.c,
#                 features from the table included; XGBoost: DMatrix + predict; scikit-learn:
#                 predict_proba / predict), median of 5 calls; duet's whole `duet eval` process too
#   1 row         one-row latency on 1 thread, median of 20,000 calls: duet_model_predict on a
#                 dataset made with duet_data_from_table (bench/predict_row.c); XGBoost's
#                 XGBoosterPredictFromDense through its C API (bench/xgb_row.c, needs
#                 libxgboost-dev) and Python's inplace_predict (1 row py); scikit-learn's
#                 predict_proba on a one-row array (Python)
#   SHAP          TreeSHAP per row on 1 thread: duet_model_explain row by row (every feature
#                 asked for, 1,000 test rows), XGBoost's pred_contribs on those 1,000 rows in
#                 one call; scikit-learn has none
#   quality       test accuracy, log-loss, ROC AUC (classes) or RMSE, MAE, R^2 (numbers)
# Prints a table per data set with the ratios duet / peer (< 1: duet faster or smaller), a
# summary of the ratios, and writes everything as JSON to $OUT (a folder: $OUT/gbdt.json; else
# that file), by default /tmp/duet-gbdt.json. Never gates anything.
# Knobs: ROUNDS (200) RUNS (3) THREADS ("1 2") DATASETS ("adult california higgs")
#        HIGGS_ROWS (1000000) HIGGS_TEST (100000) KEEP=1 (keep the work folder)
# Needs python3-xgboost, python3-sklearn, python3-pandas and libxgboost-dev (installed when
# missing). Debian's /usr/bin/python3 runs the peers.
set -e
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-200}
RUNS=${RUNS:-3}
THREADS=${THREADS:-1 2}
DATASETS=${DATASETS:-adult california higgs}
HIGGS_ROWS=${HIGGS_ROWS:-1000000}
HIGGS_TEST=${HIGGS_TEST:-100000}
SHARED=${DUET_SHARED_DATA:-../shared/data}
[ -d "$SHARED" ] || SHARED=/work/shared/data
py=/usr/bin/python3
duet=$PWD/duet
unset OMP_NUM_THREADS # set for each fit; predictions run on all cores
if [ -n "$OUT" ] && [ -d "$OUT" ]; then json=$OUT/gbdt.json; else json=${OUT:-/tmp/duet-gbdt.json}; fi

if ! $py -c 'import xgboost, sklearn, pandas' 2>/dev/null || [ ! -f /usr/include/xgboost/c_api.h ]; then
    echo "bench: installing python3-xgboost python3-sklearn python3-pandas libxgboost-dev"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-xgboost python3-sklearn python3-pandas \
        libxgboost-dev >/dev/null
fi
make -s all >/dev/null
var() { make -s --no-print-directory --eval='print-%: ; @echo $($*)' print-$1; }
cflags=$(var CFLAGS)
ldlibs=$(var LDLIBS)
cc=$(var CC)
$cc $cflags -o build/predict_row bench/predict_row.c build/libduet.a $ldlibs
$cc -O2 -std=c11 -o build/gen_higgs_like bench/gen_higgs_like.c -lm
xgb_row=build/xgb_row
$cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -o $xgb_row bench/xgb_row.c -lxgboost 2>/dev/null || xgb_row=

work=$(mktemp -d /tmp/duet-gbdt.XXXXXX)
if [ "$KEEP" = 1 ]; then echo "work folder: $work (kept)"; else trap 'rm -rf "$work"' EXIT; fi
res=$work/results.tsv
: >$res
. bench/blas_env.sh # the OpenBLAS kernels duet picks (trees use no BLAS; printed for the record)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
ver=$($py -c 'import xgboost, sklearn, numpy, pandas; print("xgboost", xgboost.__version__, "scikit-learn", sklearn.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__)')
{
    echo "cpu=$cpu"
    echo "nproc=$(nproc)"
    echo "openblas_coretype=${OPENBLAS_CORETYPE:-unset}"
    echo "duet=$($duet --version)"
    echo "peers=$ver"
    echo "rounds=$ROUNDS"
    echo "runs=$RUNS"
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >$work/machine.txt
echo "machine: $(nproc) cores, $cpu; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "$($duet --version); $ver"
echo "ROUNDS=$ROUNDS RUNS=$RUNS; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

put() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>$res; }
med() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# timed LOG CMD...: runs CMD (its output to LOG); prints "wall_seconds max_rss_MB"
timed() {
    log=$1
    shift
    t0=$(date +%s%N)
    /usr/bin/time -f %M -o $log.rss "$@" >$log 2>&1 || { echo "bench: failed: $*" >&2; cat $log >&2; exit 1; }
    t1=$(date +%s%N)
    echo "$t0 $t1 $(tail -1 $log.rss)" | awk '{printf "%.4f %.1f\n", ($2-$1)/1e9, $3/1024}'
}

fit_cmd() { # TOOL DS TRAIN LABEL THREADS
    case $1 in
    duet) echo "$duet train $3 --label $4 --model gbdt --rounds $ROUNDS --no-early-stop --leaves 31 --bins 255" \
               "--lr 0.1 --lambda 1 --min-leaf 20 --threads $5 -o $work/$2.duet" ;;
    *) echo "$py bench/gbdt_peer.py fit $1 $2 $3 $ROUNDS $5 $work/$2.$1" ;;
    esac
}

bench_set() { # DS TRAIN TEST LABEL
    ds=$1 train=$2 test=$3 label=$4
    echo "$ds: fitting ($RUNS runs each at $THREADS threads)" >&2
    for n in $THREADS; do
        for tool in duet xgboost sklearn; do : >$work/$tool.$n.fit; done
        for _ in $(seq $RUNS); do
            for tool in duet xgboost sklearn; do # interleaved, so that drift hits every tool alike
                t=$(timed $work/log env OMP_NUM_THREADS=$n $(fit_cmd $tool $ds $train $label $n))
                if [ $tool = duet ]; then
                    f=$(sed -n 's/^trained .* in \([0-9.]*\) s;.*/\1/p' $work/log)
                else
                    f=$(sed -n 's/^fit_s //p' $work/log)
                fi
                echo "$t $f" >>$work/$tool.$n.fit
            done
        done
        for tool in duet xgboost sklearn; do
            put $ds $tool wall_s_t$n "$(cut -d' ' -f1 $work/$tool.$n.fit | med)"
            put $ds $tool rss_mb_t$n "$(cut -d' ' -f2 $work/$tool.$n.fit | med)"
            put $ds $tool fit_s_t$n "$(cut -d' ' -f3 $work/$tool.$n.fit | med)"
        done
    done
    echo "$ds: predicting" >&2
    # the models of the last fits (at the last thread count) are the ones evaluated
    : >$work/eval.t
    for _ in $(seq $RUNS); do
        timed $work/eval.json $duet eval $work/$ds.duet $test --label $label --format json | cut -d' ' -f1 >>$work/eval.t
    done
    put $ds duet pred_proc_s "$(med <$work/eval.t)"
    $py -c 'import json, sys
d = json.load(open(sys.argv[1]))
for k in ("accuracy", "log_loss", "roc_auc", "rmse", "mae", "r2"):
    if k in d: print(k, d[k])' $work/eval.json >$work/kv
    build/predict_row $work/$ds.duet $test $label >>$work/kv
    while read k v; do put $ds duet $k $v; done <$work/kv
    for tool in xgboost sklearn; do
        $py bench/gbdt_peer.py eval $tool $ds $train $test $work/$ds.$tool >$work/kv
        if [ $tool = xgboost ] && [ -n "$xgb_row" ]; then
            $xgb_row $work/$ds.xgboost.json $work/$ds.xgboost.row.f32 | sed 's/^row_pred/row_pred_c/' >>$work/kv
        fi
        while read k v; do put $ds $tool $k $v; done <$work/kv
    done
}

for ds in $DATASETS; do
    case $ds in
    adult)
        [ -f $SHARED/adult/adult.data ] || { echo "adult: no data in $SHARED, skipped"; continue; }
        echo "desc_adult=UCI Adult, 32561 train / 16281 test rows, 14 columns (8 categorical), classes" >>$work/machine.txt
        bench_set adult $SHARED/adult/adult.data $SHARED/adult/adult.test 15 ;;
    california)
        src=$SHARED/california_housing/housing.csv
        [ -f $src ] || { echo "california: no data in $SHARED, skipped"; continue; }
        awk -v tr=$work/california.train.csv -v te=$work/california.test.csv \
            'NR == 1 {print > tr; print > te; next} {print > ((NR - 1) % 5 == 0 ? te : tr)}' $src
        echo "desc_california=California housing, every 5th row held out: $(($(wc -l <$work/california.train.csv) - 1)) train / $(($(wc -l <$work/california.test.csv) - 1)) test rows, 9 columns (1 categorical), median_house_value" >>$work/machine.txt
        bench_set california $work/california.train.csv $work/california.test.csv median_house_value ;;
    higgs)
        build/gen_higgs_like $HIGGS_ROWS 1 >$work/higgs.train.csv
        build/gen_higgs_like $HIGGS_TEST 2 >$work/higgs.test.csv
        echo "desc_higgs=synthetic HIGGS-like (bench/gen_higgs_like.c), $HIGGS_ROWS train / $HIGGS_TEST test rows, 28 numeric columns, classes" >>$work/machine.txt
        bench_set higgs $work/higgs.train.csv $work/higgs.test.csv label ;;
    *) echo "unknown data set $ds" >&2; exit 2 ;;
    esac
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>$work/machine.txt
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
$py bench/gbdt_peer.py report $res $json $work/machine.txt
