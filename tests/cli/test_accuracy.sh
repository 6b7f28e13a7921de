#!/bin/sh
# Targets on real data: accuracy (issue 2; every fifth SMS message held out, UCI Adult's own test
# set), gradient-boosted trees and regression (issue 20) and anomaly detection (issue 5). Skipped under the sanitizers (too slow there; the plain
# build checks them).
# usage: sh tests/cli/test_accuracy.sh ./duet       last line: "N passed, N failed, N skipped"
duet=${1:-./duet}
pass=0; fail=0; skip=0
case $duet in *-san) echo "skipped: accuracy targets run in the plain build only"; echo "0 passed, 0 failed, 1 skipped"; exit 0 ;; esac
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# target MODEL_FILE TEST_FILE MIN LABEL
target() {
    acc=$($duet eval "$1" "$2" --format json 2>/dev/null | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p')
    if [ -n "$acc" ] && awk "BEGIN{exit !($acc >= $3)}"; then
        pass=$((pass + 1)); echo "ok   $4: accuracy $acc >= $3"
    else
        fail=$((fail + 1)); echo "FAIL $4: accuracy '$acc' < $3" >&2
    fi
}
sms=data/sms_spam/SMSSpamCollection
awk 'NR % 5 != 0' $sms > "$t/train.tsv"
awk 'NR % 5 == 0' $sms > "$t/test.tsv"
for spec in "logreg 0.98" "svm 0.98" "nb 0.97"; do
    set -- $spec
    $duet train "$t/train.tsv" --model $1 -o "$t/$1.duet" --quiet >/dev/null 2>&1
    target "$t/$1.duet" "$t/test.tsv" $2 "SMS spam $1"
done
adult=${DUET_SHARED_DATA:-../shared/data}/adult
if [ -f "$adult/adult.data" ] && [ -f "$adult/adult.test" ]; then
    $duet train "$adult/adult.data" -o "$t/adult.duet" --quiet >/dev/null 2>&1
    target "$t/adult.duet" "$adult/adult.test" 0.85 "UCI Adult logreg"
else
    skip=$((skip + 1)); echo "skipped: $adult/adult.data not found"
fi
# gradient-boosted trees and regression (issue 20): Adult's classes, California housing's and
# Bike sharing's numbers, SMS spam on TF-IDF
# metric FILE KEY: the number after "KEY": in a JSON line
metric() { sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" "$1"; }
# check DESC VALUE OP BOUND
check() {
    if [ -n "$2" ] && awk "BEGIN{exit !($2 $3 $4)}"; then pass=$((pass + 1)); echo "ok   $1: $2 $3 $4"
    else fail=$((fail + 1)); echo "FAIL $1: '$2' not $3 $4" >&2; fi
}
$duet train "$t/train.tsv" --model gbdt -o "$t/sms_gbdt.duet" --quiet >/dev/null 2>&1
target "$t/sms_gbdt.duet" "$t/test.tsv" 0.97 "SMS spam gbdt"
if [ -f "$adult/adult.data" ] && [ -f "$adult/adult.test" ]; then
    $duet train "$adult/adult.data" --label 15 --model gbdt -o "$t/adult_gb.duet" --quiet >/dev/null 2>&1
    $duet eval "$t/adult_gb.duet" "$adult/adult.test" --label 15 --format json > "$t/a.json" 2>/dev/null
    check "UCI Adult gbdt accuracy" "$(metric "$t/a.json" accuracy)" ">=" 0.872
    check "UCI Adult gbdt log-loss" "$(metric "$t/a.json" log_loss)" "<=" 0.276
else
    skip=$((skip + 1)); echo "skipped: $adult/adult.data not found"
fi
cal=${DUET_SHARED_DATA:-../shared/data}/california_housing/housing.csv
if [ -f "$cal" ]; then
    awk -v tr="$t/cal_train.csv" -v te="$t/cal_test.csv" 'NR == 1 { print > tr; print > te; next }
        { if ((NR - 1) % 5 == 0) print > te; else print > tr }' "$cal"
    for m in gbdt linear; do
        $duet train "$t/cal_train.csv" --label median_house_value --model $m -o "$t/cal_$m.duet" --quiet >/dev/null 2>&1
        $duet eval "$t/cal_$m.duet" "$t/cal_test.csv" --label median_house_value --format json > "$t/c_$m.json" 2>/dev/null
    done
    check "California housing gbdt RMSE" "$(metric "$t/c_gbdt.json" rmse)" "<=" 48648
    check "California housing linear RMSE" "$(metric "$t/c_linear.json" rmse)" "<=" 68500
else
    skip=$((skip + 1)); echo "skipped: $cal not found"
fi
bike=${DUET_SHARED_DATA:-../shared/data}/bike_sharing/hour.csv
if [ -f "$bike" ]; then
    # 2011 trains, 2012 tests; cnt is the target; casual, registered, instant and the date left out
    awk -F, -v tr="$t/bike_train.csv" -v te="$t/bike_test.csv" '{ o = $3; for (i = 4; i <= 14; i++) o = o "," $i; o = o "," $17
        if (NR == 1) { print o > tr; print o > te } else if ($4 == 0) print o > tr; else print o > te }' "$bike"
    for spec in "gbdt" "gbdt --objective poisson" "linear" "mlp"; do
        name=$(echo "$spec" | tr -d ' -')
        $duet train "$t/bike_train.csv" --label cnt --model $spec -o "$t/bike_$name.duet" --quiet >/dev/null 2>&1
        $duet eval "$t/bike_$name.duet" "$t/bike_test.csv" --label cnt --format json > "$t/b_$name.json" 2>/dev/null
    done
    check "Bike sharing: Poisson trees' RMSLE below squared error's" "$(metric "$t/b_gbdtobjectivepoisson.json" rmsle)" "<" "$(metric "$t/b_gbdt.json" rmsle)"
    check "Bike sharing: gbdt RMSE below linear's" "$(metric "$t/b_gbdt.json" rmse)" "<" "$(metric "$t/b_linear.json" rmse)"
    check "Bike sharing: gbdt RMSE below mlp's" "$(metric "$t/b_gbdt.json" rmse)" "<" "$(metric "$t/b_mlp.json" rmse)"
else
    skip=$((skip + 1)); echo "skipped: $bike not found"
fi
# anomaly detection (issue 5): a VAE of Fashion-MNIST finds MNIST digits MORE likely than its own
# kind (raw likelihood's failure, Nalisnick et al. 2019); the likelihood ratio against zlib's
# bits tells them apart
fm=${DUET_SHARED_DATA:-../shared/data}/fashion_mnist mn=${DUET_SHARED_DATA:-../shared/data}/mnist
if [ -f "$fm/train-images-idx3-ubyte.gz" ] && [ -f "$mn/t10k-images-idx3-ubyte.gz" ]; then
    $duet train "$fm/train-images-idx3-ubyte.gz" --labels "$fm/train-labels-idx1-ubyte.gz" --model vae --limit 10000 \
        --epochs 3 -o "$t/vae.duet" --quiet >/dev/null 2>&1
    $duet score "$t/vae.duet" "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz" --limit 3000 \
        --against "$mn/t10k-images-idx3-ubyte.gz" --format json > "$t/auc.json" 2>/dev/null
    raw=$(sed -n 's/.*"auc_nll":\([0-9.]*\).*/\1/p' "$t/auc.json") ratio=$(sed -n 's/.*"auc_ratio":\([0-9.]*\).*/\1/p' "$t/auc.json")
    if [ -n "$raw" ] && [ -n "$ratio" ] && awk "BEGIN{exit !($raw < 0.5 && $ratio > 0.9)}"; then
        pass=$((pass + 1)); echo "ok   Fashion-MNIST vs MNIST: ROC-AUC raw likelihood $raw < 0.5, ratio $ratio > 0.9"
    else
        fail=$((fail + 1)); echo "FAIL Fashion-MNIST vs MNIST anomaly ROC-AUC: raw '$raw', ratio '$ratio'" >&2
    fi
else
    skip=$((skip + 1)); echo "skipped: $fm or $mn not found"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
