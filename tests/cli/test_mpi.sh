#!/bin/sh
# Data-parallel training over MPI: `mpirun -np 2 duet train` on loopback gives the model one
# process gives (predictions and probabilities, test accuracy within 0.005), for logistic
# regression (at a given C, and with C chosen by cross-validation), the linear SVM (primal),
# naive Bayes (counts and Gaussian), the language model (the same nll), the class-conditional
# character model, the MLP on text and images, the VAE, GAN and diffusion model.
# usage: sh tests/cli/test_mpi.sh ./duet       last line: "N passed, N failed[, N skipped]"
duet=${1:-./duet}
case $duet in /*) ;; *) duet=$PWD/$duet ;; esac
skip() { echo "skipped: $1"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
case $duet in *-san) skip "MPI runs in the plain build only (Open MPI's own allocations trip LeakSanitizer)" ;; esac
# shared memory between the ranks, without the kernel's cross-memory attach (containers lack it)
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
# DUET_EXPECT_MPI=1 (make check sets it when it found Open MPI's development files, as after
# make test's set-up): a duet without MPI, or an mpirun that cannot start, fails instead of skipping
refuse() {
    if [ "${DUET_EXPECT_MPI:-0}" = 1 ]; then echo "FAIL: make found Open MPI, but $1" >&2; echo "0 passed, 1 failed"; exit 1; fi
    skip "$1"
}
command -v mpirun >/dev/null 2>&1 || refuse "no mpirun (Debian: openmpi-bin libopenmpi-dev, then rebuild)"
$duet --version | grep -q "mpirun" || refuse "this duet was built without MPI (install libopenmpi-dev and rebuild; make rebuilds when it finds it)"
mpirun --allow-run-as-root --oversubscribe -np 2 true >/dev/null 2>&1 || refuse "mpirun cannot start 2 ranks here: $(mpirun --allow-run-as-root --oversubscribe -np 2 true 2>&1 | head -c 200)"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
mpi="mpirun --allow-run-as-root --oversubscribe -np 2"

sms=data/sms_spam/SMSSpamCollection
awk 'NR % 5 != 0 && NR <= 3000' $sms > "$t/train.tsv"
awk 'NR % 5 == 0 && NR <= 3000' $sms > "$t/test.tsv"
# same DESC ARGS...: one process and two ranks train with ARGS; the models must agree
same() {
    d=$1; shift
    $duet train "$t/train.tsv" "$@" --threads 1 -o "$t/one.duet" --quiet >/dev/null 2>"$t/err1" || { bad "$d: one process: $(cat "$t/err1")"; return; }
    $mpi $duet train "$t/train.tsv" "$@" --threads 1 -o "$t/two.duet" >"$t/out2" 2>"$t/err2" || { bad "$d: mpirun: $(tail -c 400 "$t/err2")"; return; }
    grep -q "trained data-parallel on 2 processes" "$t/err2" && ok || bad "$d: not data-parallel: $(tail -c 300 "$t/err2")"
    [ "$(grep -c '^trained' "$t/out2")" -eq 1 ] && ok || bad "$d: want one report (rank 0): $(cat "$t/out2")"
    $duet predict "$t/one.duet" "$t/test.tsv" --proba --format csv > "$t/p1" && $duet predict "$t/two.duet" "$t/test.tsv" --proba --format csv > "$t/p2"
    paste -d, "$t/p1" "$t/p2" | awk -F, -v d="$d" 'NR > 1 { n++; if ($1 != $4) diff++; e = $2 - $5; if (e < 0) e = -e; if (e > m) m = e }
        END { if (diff > 0.005 * n || m > 1e-4) { printf "FAIL: %s: %d of %d labels differ, max probability difference %g\n", d, diff, n, m; exit 1 } }' >&2 &&
        ok || fail=$((fail + 1))
    a1=$($duet eval "$t/one.duet" "$t/test.tsv" --format json | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p')
    a2=$($duet eval "$t/two.duet" "$t/test.tsv" --format json | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p')
    awk -v a="$a1" -v b="$a2" -v f="${floor:-0.9}" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > f && d <= 0.005) }' && ok || bad "$d: accuracy $a1 alone, $a2 on 2 ranks"
}
same "logreg C=10" --C 10
same "logreg L-BFGS" --C 10 --solver lbfgs --char-ngram none
same "logreg, C by cross-validation" --char-ngram none
$duet info "$t/two.duet" | grep -q "processes *2 (data-parallel" && ok || bad "the model does not record its processes"
c1=$($duet info "$t/one.duet" | awk '$1 == "C" {print $2}'); c2=$($duet info "$t/two.duet" | awk '$1 == "C" {print $2}')
[ -n "$c1" ] && [ "$c1" = "$c2" ] && ok || bad "cross-validation chose C=$c1 alone, C=$c2 on 2 ranks"
same "naive Bayes" --model nb --alpha 0.5
same "naive Bayes, alpha by cross-validation" --model nb
same "Gaussian naive Bayes" --model nb --nb gaussian --char-ngram none
# the linear SVM: on several processes it solves the primal (as --solver newton does alone)
same "svm, primal" --model svm --C 1 --solver newton
same "svm, C by cross-validation" --model svm --solver newton --char-ngram none
# and against one process's default (the dual): the same optimum to the dual's tolerance
$duet train "$t/train.tsv" --model svm --C 1 --threads 1 -o "$t/one.duet" --quiet >/dev/null 2>&1 &&
    $mpi $duet train "$t/train.tsv" --model svm --C 1 --threads 1 -o "$t/two.duet" >/dev/null 2>"$t/err" && ok || bad "svm dual vs distributed: $(tail -c 300 "$t/err")"
a1=$($duet eval "$t/one.duet" "$t/test.tsv" --format json | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p')
a2=$($duet eval "$t/two.duet" "$t/test.tsv" --format json | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p')
awk -v a="$a1" -v b="$a2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0.95 && d <= 0.005) }' && ok || bad "svm: accuracy $a1 (dual, alone), $a2 (primal, 2 ranks)"
# the class-conditional character model: one corpus everywhere, each rank its windows of a batch
floor=0.5; same "clm" --model clm --layers 1 --dim 32 --heads 2 --context 32 --batch 8 --steps 20 --eval-every 1000; floor=0.9
# the language model: every rank draws the same batches and computes its block of the windows
head -c 30000 data/tinyshakespeare/input.txt > "$t/corpus.txt"
lm="--model gpt --layers 1 --dim 32 --heads 2 --context 32 --batch 8 --steps 60 --eval-every 1000 --seed 5 --threads 1"
$duet train "$t/corpus.txt" $lm -o "$t/lm1.duet" --quiet >/dev/null 2>&1 && ok || bad "gpt alone"
$mpi $duet train "$t/corpus.txt" $lm -o "$t/lm2.duet" >/dev/null 2>"$t/err" && ok || bad "gpt on 2 ranks: $(tail -c 300 "$t/err")"
n1=$($duet score "$t/lm1.duet" "$t/corpus.txt" --format json | sed -n 's/.*"nll":\([0-9.]*\).*/\1/p')
n2=$($duet score "$t/lm2.duet" "$t/corpus.txt" --format json | sed -n 's/.*"nll":\([0-9.]*\).*/\1/p')
awk -v a="$n1" -v b="$n2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-4 * a) }' && ok || bad "gpt: nll $n1 alone, $n2 on 2 ranks"
# the MLP on dense features (images): the same batches from all ranks' rows, gradients added
fm=data/fashion_mnist
img="$fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz --model mlp --hidden 64 --epochs 5 --threads 1"
$duet train $img -o "$t/mlp1.duet" --quiet >/dev/null 2>&1 && ok || bad "mlp alone"
$mpi $duet train $img -o "$t/mlp2.duet" >/dev/null 2>"$t/err" && ok || bad "mlp on 2 ranks: $(tail -c 300 "$t/err")"
$duet predict "$t/mlp1.duet" $fm/t1k-images-idx3-ubyte.gz --proba --format csv > "$t/p1"
$duet predict "$t/mlp2.duet" $fm/t1k-images-idx3-ubyte.gz --proba --format csv > "$t/p2"
paste -d, "$t/p1" "$t/p2" | awk -F, 'NR > 1 { n++; if ($1 != $12) diff++; for (k = 2; k <= 11; k++) { e = $k - $(k + 11); if (e < 0) e = -e; if (e > m) m = e } }
    END { if (n < 1000 || diff > 5 || m > 1e-3) { printf "FAIL: mlp: %d of %d labels differ, max probability difference %g\n", diff, n, m; exit 1 } }' >&2 &&
    ok || fail=$((fail + 1))
# the conditional VAE: the same order of all ranks' images, the same noise; its ELBO as one process's
vae="$fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz --model vae --conditional --hidden 64 --epochs 3 --batch 64 --threads 1"
$duet train $vae -o "$t/vae1.duet" --quiet >/dev/null 2>&1 && ok || bad "vae alone"
$mpi $duet train $vae -o "$t/vae2.duet" >/dev/null 2>"$t/err" && ok || bad "vae on 2 ranks: $(tail -c 300 "$t/err")"
e1=$($duet info "$t/vae1.duet" | awk '$1 == "train_nelbo" {print $2}'); e2=$($duet info "$t/vae2.duet" | awk '$1 == "train_nelbo" {print $2}')
awk -v a="$e1" -v b="$e2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 1e-3 * a) }' && ok || bad "vae: -ELBO $e1 alone, $e2 on 2 ranks"
# the GAN and the diffusion model: the same losses and the same drawings as one process's
for g in "gan --latent 16 --epochs 2" "diffusion --hidden 8 --epochs 1"; do
    gm="$fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz --model $g --conditional --batch 32 --limit 256 --threads 1"
    name=${g%% *}
    $duet train $gm -o "$t/${name}1.duet" --quiet >/dev/null 2>&1 && ok || bad "$name alone"
    $mpi $duet train $gm -o "$t/${name}2.duet" >/dev/null 2>"$t/err" && ok || bad "$name on 2 ranks: $(tail -c 300 "$t/err")"
    l1=$($duet info "$t/${name}1.duet" | awk '$1 ~ /loss$/ {printf "%s ", $2}'); l2=$($duet info "$t/${name}2.duet" | awk '$1 ~ /loss$/ {printf "%s ", $2}')
    [ -n "$l1" ] && [ "$l1" = "$l2" ] && ok || bad "$name: losses '$l1' alone, '$l2' on 2 ranks"
done
same "mlp on text (lazy Adam over the rows every rank touches)" --model mlp --hidden 32 --epochs 10 --char-ngram none
# gradient-boosted trees: histograms added across the ranks, the held-out share and the bins'
# sample drawn over all rows; a generated table (Park-Miller LCG, as test_cli.sh)
awk 'BEGIN { s = 777; print "x1,x2,color,y,cls"
    for (i = 0; i < 3000; i++) {
        s = (s * 16807) % 2147483647; x1 = s / 2147483647 * 4
        s = (s * 16807) % 2147483647; x2 = s / 2147483647 * 2
        s = (s * 16807) % 2147483647; c = int(s / 2147483647 * 3)
        s = (s * 16807) % 2147483647; e = (s / 2147483647 - 0.5) * 2
        y = 3 * x1 + (c == 0 ? 5 : 0) - x2 + e
        col = c == 0 ? "red" : c == 1 ? "green" : "blue"; cls = y > 6 ? "hi" : "lo"
        printf "%.4f,%s,%s,%.4f,%s\n", x1, i % 9 == 4 ? "" : sprintf("%.4f", x2), col, y, cls } }' \
    > "$t/tab.csv"
for task in "--label cls" "--label y --rounds 40 --no-early-stop" "--label y"; do
    $duet train "$t/tab.csv" $task --model gbdt --threads 1 -o "$t/g1.duet" --quiet >/dev/null 2>"$t/err1" || bad "gbdt $task alone: $(cat "$t/err1")"
    $mpi $duet train "$t/tab.csv" $task --model gbdt --threads 1 -o "$t/g2.duet" >/dev/null 2>"$t/err2" || bad "gbdt $task on 2 ranks: $(tail -c 300 "$t/err2")"
    grep -q "trained data-parallel on 2 processes" "$t/err2" && ok || bad "gbdt $task: not data-parallel"
    lab=${task%% *}; lab="$lab ${task#--label }"; lab=${lab%% --*}
    $duet predict "$t/g1.duet" "$t/tab.csv" $lab --format json > "$t/p1" && $duet predict "$t/g2.duet" "$t/tab.csv" $lab --format json > "$t/p2"
    cmp -s "$t/p1" "$t/p2" && ok || bad "gbdt $task: 2 ranks predict otherwise than one process: $(diff "$t/p1" "$t/p2" | head -c 300)"
done
$mpi $duet train "$t/train.tsv" --model gbdt -o "$t/g3.duet" >/dev/null 2>"$t/err"
grep -q "duet: error: .*not sparse ones" "$t/err" && ok || bad "gbdt on sparse features over MPI: $(tail -c 300 "$t/err")"
$mpi $duet train "$t/tab.csv" --label y --model gbdt --objective quantile --quantile 0.9 -o "$t/g4.duet" >/dev/null 2>"$t/err"
grep -q "duet: error: .*data-parallel training takes the logloss, squared and poisson objectives" "$t/err" && ok ||
    bad "gbdt quantile over MPI: $(tail -c 300 "$t/err")"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
