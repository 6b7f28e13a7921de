#!/bin/sh
# End-to-end tests of the duet command on the data shipped in data/ and bad inputs.
# usage: sh tests/cli/test_cli.sh ./duet       last line: "N passed, N failed"
duet=${1:-./duet}
case $duet in /*) ;; *) duet=$PWD/$duet ;; esac
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# expect_ok DESC CMD... : exit 0
expect_ok() { d=$1; shift; if "$@" >"$t/out" 2>"$t/err"; then ok; else bad "$d (exit $?): $(head -c 300 "$t/err")"; fi; }
# expect_err DESC FRAGMENT CMD... : non-zero exit, one-line error containing FRAGMENT, no crash
expect_err() {
    d=$1; frag=$2; shift 2
    "$@" >"$t/out" 2>"$t/err"; rc=$?
    if [ $rc -eq 0 ]; then bad "$d: succeeded"; return; fi
    if [ $rc -ge 128 ]; then bad "$d: crashed (exit $rc)"; return; fi
    if ! grep -q "duet: error: .*$frag" "$t/err"; then bad "$d: message '$(cat "$t/err")' lacks '$frag'"; return; fi
    [ "$(grep -c 'duet: error' "$t/err")" -eq 1 ] && ok || bad "$d: more than one error line"
}
contains() { d=$1; frag=$2; if grep -q -- "$frag" "$t/out"; then ok; else bad "$d: output lacks '$frag': $(head -c 300 "$t/out")"; fi; }

sms=data/sms_spam/SMSSpamCollection
awk 'NR % 5 != 0 && NR <= 2500' $sms > "$t/train.tsv"
awk 'NR % 5 == 0 && NR <= 2500' $sms > "$t/test.tsv"

# help everywhere
for c in train predict eval info generate score import compare synthesize impute serve; do
    expect_ok "$c --help" $duet $c --help; contains "$c --help" "usage: duet $c"
done
expect_ok "duet --help" $duet --help; contains "duet --help" "commands:"
expect_ok "duet --version" $duet --version; contains "duet --version" "BLAS kernels: "
# a core type the user sets is kept (the program restarts only when none is set)
expect_ok "user's BLAS kernels" env OPENBLAS_CORETYPE=Haswell $duet --version
if grep -q "BLAS kernels: none" "$t/out"; then ok; else contains "user's BLAS kernels" "BLAS kernels: Haswell"; fi

# a model's own options, from the registry
expect_ok "train --model gbdt --help" $duet train --model gbdt --help
contains "gbdt's options" "^  --leaves N  *gbdt: leaves per tree"
if grep -q -- "--C C" "$t/out"; then bad "gbdt's help lists --C"; else ok; fi
expect_ok "train --help" $duet train --help
contains "every model's meaning" "^  --C C  *logreg, svm: inverse regularisation"

# train, predict, eval, info with each model
for m in logreg svm nb; do
    expect_ok "train $m" $duet train "$t/train.tsv" --model $m -o "$t/$m.duet" --quiet
    expect_ok "eval $m" $duet eval "$t/$m.duet" "$t/test.tsv" --format json
    acc=$(sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p' "$t/out")
    if awk "BEGIN{exit !($acc >= 0.95)}"; then ok; else bad "$m accuracy $acc < 0.95"; fi
    contains "eval json f1" '"f1":'
    expect_ok "info $m" $duet info "$t/$m.duet"
    contains "info $m" "learns"
done
# compare: both families on the same split, text, JSON and a report folder
expect_ok "compare" $duet compare "$t/train.tsv" --models logreg,nb --C 10 --alpha 1 --curve-points 3 --curve-repeats 2 \
    --report "$t/rep" --quiet
contains "compare table" "^nb .*generative"
contains "compare curves" "learning curves"
contains "compare recommendation" "most accurate"
[ -s "$t/rep/index.html" ] && [ -s "$t/rep/learning_curves.png" ] && [ -s "$t/rep/cost_accuracy.png" ] && ok || bad "compare: report files missing"
grep -q 'src="learning_curves.png"' "$t/rep/index.html" && ok || bad "compare: the page does not show the curves"
expect_ok "compare json" $duet compare "$t/train.tsv" --models logreg,nb --C 10 --alpha 1 --curves none --format json --quiet
contains "compare json models" '"models":{"logreg":{'
contains "compare json nb" '"nb":{"family":"generative"'
expect_err "compare unknown model" "unknown model 'forest'" $duet compare "$t/train.tsv" --models forest
expect_err "compare bad share" "--test-share" $duet compare "$t/train.tsv" --test-share 0.9
expect_err "compare report on a file" "not a folder" $duet compare "$t/train.tsv" --models nb --curves none --report "$t/train.tsv"
# synthetic data and missing values with naive Bayes on a table
printf 'age,colour,size,label\n' > "$t/tab.csv"
# the same numbers from every awk (mawk's and gawk's rand differ): Park and Miller's generator,
# exact in doubles
lcg='function rnd() { s = (s * 16807) % 2147483647; return s / 2147483647 }'
awk "$lcg"' BEGIN { s = 3; for (i = 0; i < 300; i++) { y = i % 2; c = (rnd() < (y ? 0.9 : 0.1)) ? "red" : "blue";
     if (i % 9 == 4) c = ""; printf "%d,%s,%.2f,%s\n", 30 + 20 * y + int(rnd() * 6), c, 1 + 2 * y + rnd() / 5, y ? "old" : "young" } }' >> "$t/tab.csv"
expect_ok "nb on a table" $duet train "$t/tab.csv" --model nb -o "$t/tab.duet" --quiet
expect_ok "compare augment" $duet compare "$t/tab.csv" --models logreg,nb --C 1 --alpha 1 --curves none --augment old --quiet
contains "compare augment table" "synthetic 'old' rows"
contains "compare augment verdict" "help"
expect_err "augment unknown label" "'middle' is not one of" $duet compare "$t/tab.csv" --models logreg --C 1 --curves none --augment middle
expect_err "augment-model alone" "go with --augment" $duet compare "$t/tab.csv" --augment-model nb
expect_ok "synthesize" $duet synthesize "$t/tab.duet" --count 50 -o "$t/syn.csv" --seed 2
[ "$(wc -l < "$t/syn.csv")" -eq 51 ] && ok || bad "synthesize: want a header and 50 rows"
head -1 "$t/syn.csv" | grep -q '^age,colour,size,label$' && ok || bad "synthesize: header $(head -1 "$t/syn.csv")"
expect_ok "train on synthetic rows" $duet train "$t/syn.csv" --model nb -o "$t/syn.duet" --quiet
expect_ok "impute" $duet impute "$t/tab.duet" "$t/tab.csv" -o "$t/filled.csv"
grep -q "filled 33 missing cells" "$t/err" && ok || bad "impute: $(cat "$t/err")"
awk -F, 'NR > 1 && $2 == "" { e++ } END { exit e > 0 }' "$t/filled.csv" && ok || bad "impute left empty cells"
cut -d, -f1-3 "$t/tab.csv" > "$t/nolabel.csv"
expect_ok "impute without labels" $duet impute "$t/tab.duet" "$t/nolabel.csv" -o "$t/filled2.csv" --draw --seed 5
head -1 "$t/filled2.csv" | grep -q '^age,colour,size$' && ok || bad "impute without labels: header $(head -1 "$t/filled2.csv")"
expect_err "synthesize needs -o" "needs -o" $duet synthesize "$t/tab.duet"
expect_err "impute with logreg" "cannot fill missing values" sh -c "$duet train '$t/tab.csv' --C 1 -o '$t/lr.duet' --quiet && $duet impute '$t/lr.duet' '$t/tab.csv' -o '$t/x.csv'"
echo "Congratulations! You have WON a FREE prize, call 09061701461 now to claim" > "$t/one.txt"
expect_ok "predict stdin" sh -c "$duet predict '$t/logreg.duet' - --proba < '$t/one.txt'"
contains "predict spam" "^spam"
expect_ok "predict explain" $duet predict "$t/logreg.duet" "$t/one.txt" --explain 3 --format json
contains "predict json" '"explain":\[{"feature":'
expect_ok "predict nb explain" $duet predict "$t/nb.duet" "$t/one.txt" --explain 3
expect_ok "predict csv" $duet predict "$t/svm.duet" "$t/test.tsv" --format csv --proba
contains "predict csv header" "label,p_ham,p_spam"
n=$(wc -l < "$t/out"); [ "$n" -eq $(( $(wc -l < "$t/test.tsv") + 1 )) ] && ok || bad "predict csv: $n lines"
expect_ok "generate nb" $duet generate "$t/nb.duet" --label spam --count 3 --seed 3
[ "$(wc -l < "$t/out")" -eq 3 ] && ok || bad "generate: want 3 lines"
cp "$t/out" "$t/gen1"
$duet generate "$t/nb.duet" --label spam --count 3 --seed 3 > "$t/gen2" 2>/dev/null
cmp -s "$t/gen1" "$t/gen2" && ok || bad "generate: same seed, different text"
expect_ok "score nb" $duet score "$t/nb.duet" "$t/test.tsv" --format json
contains "score json" '"nll":'
expect_ok "cv" $duet eval "$t/train.tsv" --cv 3 --model nb --format json
contains "cv json" '"accuracy_std":'
# same seed, same model
$duet train "$t/train.tsv" --model svm -o "$t/svm2.duet" --quiet >/dev/null 2>&1
$duet predict "$t/svm.duet" "$t/test.tsv" --proba > "$t/p1" 2>/dev/null
$duet predict "$t/svm2.duet" "$t/test.tsv" --proba > "$t/p2" 2>/dev/null
cmp -s "$t/p1" "$t/p2" && ok || bad "svm: same seed gave different predictions"

# bad input: a one-line error and a non-zero exit, never a crash
expect_err "missing file" "nope.tsv" $duet train "$t/nope.tsv"
expect_err "unknown option" "unknown option" $duet train "$t/train.tsv" --colour
expect_err "unknown model" "unknown model" $duet train "$t/train.tsv" --model forest
expect_err "bad C" "--C must be" $duet train "$t/train.tsv" --C -1
expect_err "Newton with L1" "needs the L2 penalty" $duet train "$t/train.tsv" --C 1 --penalty l1 --solver newton
expect_err "unknown solver" "--solver must be one of" $duet train "$t/train.tsv" --solver sgd
expect_err "svm with L-BFGS" "svm does not take --solver lbfgs (its solvers: auto, newton; lbfgs is for logreg)" $duet train "$t/train.tsv" --model svm --solver lbfgs
for s in newton lbfgs; do
    expect_ok "solver $s" $duet train "$t/train.tsv" --C 10 --solver $s -o "$t/$s.duet" --quiet
    expect_ok "eval solver $s" $duet eval "$t/$s.duet" "$t/test.tsv" --format json
    acc=$(sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p' "$t/out")
    if awk "BEGIN{exit !($acc >= 0.95)}"; then ok; else bad "solver $s accuracy $acc < 0.95"; fi
done
expect_err "one class" "one class" sh -c "grep '^ham' '$t/train.tsv' > '$t/ham.tsv'; $duet train '$t/ham.tsv' --quiet"
printf 'not a model' > "$t/junk.duet"
expect_err "junk model" "junk.duet" $duet predict "$t/junk.duet" "$t/one.txt"
head -c 200 "$t/logreg.duet" > "$t/trunc.duet"
expect_err "truncated model" "trunc.duet" $duet info "$t/trunc.duet"
expect_err "cannot sample" "cannot generate" $duet generate "$t/logreg.duet"
expect_err "cannot score" "likelihood" $duet score "$t/svm.duet" "$t/test.tsv"
expect_err "unknown label" "not one of" $duet generate "$t/nb.duet" --label eggs
expect_err "bad format" "--format" $duet eval "$t/nb.duet" "$t/test.tsv" --format xml
expect_err "missing data" "nonexistent.csv" $duet predict "$t/logreg.duet" data/nonexistent.csv
: > "$t/empty.csv"
expect_err "empty file" "empty.csv" $duet train "$t/empty.csv"
printf 'a,b,label\n1,2,x\n3,4\n' > "$t/short.csv"
expect_err "short CSV row" "short.csv:3: expected 3 fields, got 2" $duet train "$t/short.csv"
printf 'a,b,label\n1,2,x\n3,4,y\n' > "$t/ok.csv"
expect_err "unknown column" "nosuch" $duet train "$t/ok.csv" --label nosuch
expect_err "column out of range" "'9'" $duet train "$t/ok.csv" --label 9
printf '1 3:1 2:4\n0 1:1\n' > "$t/bad.svm"
expect_err "LIBSVM order" "bad.svm:1:" $duet train "$t/bad.svm"
printf '1 3:x\n' > "$t/bad2.svm"
expect_err "LIBSVM value" "bad2.svm:1:" $duet train "$t/bad2.svm"
# feature numbers in the billions: refused up front, saying how much memory it would take
printf '1 1:0.25 4:1\n2 555555552:3\n0 3:1\n' > "$t/huge.svm"
expect_err "huge feature index" "needs about .* GiB, more than" $duet train "$t/huge.svm" --C 1
expect_err "huge feature index, nb" "nb with 3 classes and 555555552 features needs about" $duet train "$t/huge.svm" --model nb --alpha 1
# a memory limit: a file larger than it is refused as it is read, a model larger than it before the fit
expect_err "file over --max-memory" "needs 467 KiB, more than the 100 KiB allowed" $duet train $sms --max-memory 100K
expect_err "model over --max-memory" "more than the 3 MiB allowed" $duet train "$t/train.tsv" --model mlp --max-memory 3M
expect_err "bad --max-memory" "--max-memory takes a size" $duet train "$t/train.tsv" --max-memory lots
# LIBSVM files larger than half the memory limit stream from disk (values in mapped temporary
# files): the same model as read whole, errors with their line numbers past the first block
awk "$lcg"' BEGIN { s = 11; for (i = 0; i < 6000; i++) { y = i % 3; printf "%d", y;
     for (j = 1; j <= 200; j += 1 + int(rnd() * 9)) printf " %d:%.3f", j, rnd() + (j % 3 == y ? 0.4 : 0); printf "\n" } }' > "$t/big.svm"
expect_ok "train, read whole" $duet train "$t/big.svm" --C 1 --threads 1 -o "$t/whole.duet" --quiet
expect_ok "train, streamed (file over half the limit)" $duet train "$t/big.svm" --C 1 --threads 1 -o "$t/streamed.duet" --max-memory 1600K
contains "streamed train report" "trained logreg on 6000 examples: 3 classes, 200 features"
$duet predict "$t/whole.duet" "$t/big.svm" --proba --format csv > "$t/p1" && $duet predict "$t/streamed.duet" "$t/big.svm" --proba --format csv --max-memory 1600K > "$t/p2" &&
    cmp -s "$t/p1" "$t/p2" && ok || bad "streamed LIBSVM: predictions differ from the file read whole"
expect_ok "streamed nb and svm" sh -c "$duet train '$t/big.svm' --model nb --alpha 1 --stream yes -o '$t/st_nb.duet' --quiet && $duet train '$t/big.svm' --model svm --C 1 --stream yes -o '$t/st_svm.duet' --quiet"
expect_ok "streamed --limit" $duet train "$t/big.svm" --C 1 --stream yes --limit 777 -o "$t/lim.duet"
contains "streamed --limit rows" "on 777 examples"
expect_err "read whole over the limit" "more than the 1.56 MiB allowed" $duet train "$t/big.svm" --C 1 --max-memory 1600K --stream no
awk 'NR == 5000 { print "1 3:0.5 2:0.1"; next } { print }' "$t/big.svm" > "$t/badline.svm"
expect_err "streamed error line" "badline.svm:5000: feature index 2 not increasing" $duet train "$t/badline.svm" --stream yes --max-memory 1M
expect_err "--stream on CSV" "only plain (not gzipped) LIBSVM files stream from disk" $duet train "$t/tab.csv" --stream yes
gzip -c "$t/big.svm" > "$t/big.svm.gz"
expect_err "--stream on gzip" "this one is gzipped" $duet train "$t/big.svm.gz" --stream yes
expect_err "--stream bad value" "--stream must be one of" $duet train "$t/big.svm" --stream maybe
expect_err "no temporary folder" "cannot make a temporary file in $t/none" env TMPDIR="$t/none" $duet train "$t/big.svm" --stream yes
printf '\000\000\010\003\000\000\000\005' > "$t/bad-idx3-ubyte"
expect_err "truncated IDX" "bad-idx3-ubyte" $duet train "$t/bad-idx3-ubyte" --labels "$t/bad-idx3-ubyte"
printf '{"text": "caf\351", "label": "a"}\n{"text": "b", "label": "b"}\n' > "$t/bad.jsonl"
expect_err "invalid UTF-8" "bad.jsonl:1: invalid UTF-8" $duet train "$t/bad.jsonl"
printf 'ham\tcaf\351 au lait\nspam\tfree \377 prize\n' > "$t/latin.tsv"
expect_ok "Latin-1 text TSV read as Latin-1" $duet train "$t/latin.tsv" --model nb -o "$t/latin.duet" --quiet
expect_ok "limit" $duet train "$t/train.tsv" --model nb --limit 100 -o "$t/lim.duet"
contains "limit" "on 100 examples"

# language models: llama2.c checkpoint (greedy text matches llama2.c), import, train, generate, score
st=data/llama2c_tinyllamas
expect_ok "llama2.c greedy" $duet generate $st/stories260K.bin --tokenizer $st/tok512.bin --temperature 0 -n 256 --quiet
cmp -s "$t/out" $st/stories260K_greedy_t0_n256.txt && ok || bad "llama2.c greedy text differs from run.c's"
expect_ok "import" $duet import $st/stories260K.bin --tokenizer $st/tok512.bin -o "$t/stories.duet"
expect_ok "imported greedy" $duet generate "$t/stories.duet" --temperature 0 -n 256 --quiet
cmp -s "$t/out" $st/stories260K_greedy_t0_n256.txt && ok || bad "imported model writes other text"
expect_ok "score json" $duet score "$t/stories.duet" $st/stories260K_greedy_t0_n256.txt --format json
contains "score nll" '"nll":'
contains "score perplexity" '"perplexity":'
expect_ok "score tokens" $duet score "$t/stories.duet" $st/stories260K_greedy_t0_n256.txt --tokens
contains "per-token" 'Lily'
expect_ok "info gpt" $duet info "$t/stories.duet"
contains "info learns" 'learns p(x)'
expect_ok "stop" $duet generate "$t/stories.duet" --prompt "Once upon a time" --stop Lily --temperature 0 --quiet
[ "$(cat "$t/out")" = "Once upon a time, there was a little girl named " ] && ok || bad "stop: '$(cat "$t/out")'"
head -c 20000 data/tinyshakespeare/input.txt > "$t/shakes.txt"
expect_ok "train gpt" $duet train "$t/shakes.txt" --model gpt --layers 1 --dim 32 --heads 2 --context 16 --steps 30 \
    --eval-every 10 --eval-batches 2 --checkpoint "$t/ck.duet" --checkpoint-every 10 -o "$t/gpt.duet" --quiet
contains "train gpt summary" 'validation loss'
[ -s "$t/ck.duet" ] && ok || bad "no checkpoint written"
expect_ok "resume gpt" $duet train "$t/shakes.txt" --model gpt --steps 40 --resume "$t/ck.duet" -o "$t/gpt2.duet" --quiet
contains "resumed to 40" '40 steps'
head -c 3000 "$t/ck.duet" > "$t/ck_trunc.duet"
expect_err "truncated checkpoint" "ck_trunc.duet" $duet train "$t/shakes.txt" --model gpt --resume "$t/ck_trunc.duet"
expect_err "not a checkpoint" "not a checkpoint" $duet train "$t/shakes.txt" --model gpt --resume "$t/gpt.duet"
expect_ok "generate gpt" $duet generate "$t/gpt.duet" --prompt "ROMEO:" -n 50 --seed 5
$duet generate "$t/gpt.duet" --prompt "ROMEO:" -n 50 --seed 5 > "$t/g2" 2>/dev/null
cmp -s "$t/out" "$t/g2" && ok || bad "generate gpt: same seed, different text"
# a class-conditional character LM (clm) classifies by p(text | label); tiny settings keep it quick
expect_ok "train clm" $duet train "$t/train.tsv" --model clm --layers 1 --dim 32 --heads 2 --context 32 --steps 20 \
    -o "$t/clm.duet" --quiet
contains "train clm summary" 'validation loss'
expect_ok "predict clm" $duet predict "$t/clm.duet" "$t/test.tsv" --proba --format csv
[ "$(wc -l < "$t/out")" -ge 400 ] && ok || bad "predict clm: want a row per message"
expect_ok "eval clm" $duet eval "$t/clm.duet" "$t/test.tsv" --format json
contains "eval clm accuracy" '"accuracy":'
expect_ok "info clm" $duet info "$t/clm.duet"
# zero-shot: prompt a language model with each label and keep the likeliest
expect_ok "zero-shot" $duet predict "$t/gpt.duet" "$t/test.tsv" --labels ham,spam --format csv
grep -q "spam\|ham" "$t/out" && ok || bad "zero-shot: no labels in output"
expect_ok "zero-shot template" $duet predict "$t/gpt.duet" "$t/test.tsv" --labels ham,spam --template "{text} => {label}" --no-calibrate
expect_ok "compare with zero-shot" $duet compare "$t/train.tsv" --models nb --alpha 1 --curves none --lm "$t/gpt.duet" --quiet
contains "compare zero-shot row" '^zero-shot .*pretrained'
expect_err "compare lm not an lm" "not a language model" $duet compare "$t/train.tsv" --models nb --lm "$t/nb.duet"
expect_err "zero-shot one label" "--labels" $duet predict "$t/gpt.duet" "$t/test.tsv" --labels ham
expect_err "zero-shot classifier" "language model" $duet predict "$t/nb.duet" "$t/test.tsv" --labels ham,spam
expect_err "prompt too long" "context is 16" $duet generate "$t/gpt.duet" --prompt "$(head -c 100 "$t/shakes.txt")"
expect_err "unknown character" "not in the tokenizer" $duet generate "$t/gpt.duet" --prompt "Zürich"
expect_err "bad top-p" "--top-p" $duet generate "$t/gpt.duet" --top-p 1.5
head -c 1000 $st/stories260K.bin > "$t/trunc.bin"
expect_err "truncated llama2.c" "trunc.bin" $duet generate "$t/trunc.bin" --tokenizer $st/tok512.bin
head -c 100 $st/tok512.bin > "$t/trunc_tok.bin"
expect_err "truncated tokenizer" "trunc_tok.bin" $duet generate $st/stories260K.bin --tokenizer "$t/trunc_tok.bin"
expect_err "import without tokenizer" "--tokenizer" $duet import $st/stories260K.bin
expect_err "checkpoint-every alone" "--checkpoint FILE" $duet train "$t/shakes.txt" --model gpt --checkpoint-every 5
: > "$t/empty.txt"
expect_err "empty corpus" "empty corpus" $duet train "$t/empty.txt" --model gpt
printf 'ab\377cd\n' > "$t/badutf.txt"
expect_err "corpus invalid UTF-8" "invalid UTF-8" $duet train "$t/badutf.txt" --model gpt
expect_err "corpus too small" "tokens; with context" $duet train "$t/shakes.txt" --model gpt --context 4096

# image generative models: a conditional VAE on 1000 Fashion-MNIST images, PNG grids, judging
fm=data/fashion_mnist
expect_ok "train vae" $duet train $fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz --model vae \
    --conditional --epochs 3 --hidden 64 -o "$t/vae.duet" --quiet
expect_ok "generate grid" $duet generate "$t/vae.duet" --label sneaker --count 12 -o "$t/grid.png" --quiet
[ "$(head -c 8 "$t/grid.png" | od -An -c | tr -d ' ')" = "211PNG\r\n032\n" ] && ok || bad "grid.png is not a PNG"
mkdir "$t/imgs"
expect_ok "generate folder" $duet generate "$t/vae.duet" --count 3 -o "$t/imgs/" --quiet
[ "$(ls "$t/imgs" | wc -l)" -eq 3 ] && ok || bad "want 3 PNG files"
expect_ok "score elbo" $duet score "$t/vae.duet" $fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz --limit 50 --format json
contains "elbo field" '"elbo":'
expect_ok "vae classifies" $duet eval "$t/vae.duet" $fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz --limit 200
expect_ok "train judge" $duet train $fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz --model mlp --epochs 3 -o "$t/clf.duet" --quiet
expect_ok "judge" $duet generate "$t/vae.duet" --label bag --count 20 -o "$t/bags.png" --judge "$t/clf.duet" \
    --real $fm/t1k-images-idx3-ubyte.gz --real-labels $fm/t1k-labels-idx1-ubyte.gz --quiet
contains "judge line" 'classified as the label asked for; Fréchet distance'
expect_err "images need -o" "-o FILE.png" $duet generate "$t/vae.duet"
expect_err "judge one image" "at least 2 images" $duet generate "$t/vae.duet" --count 1 -o "$t/one.png" \
    --judge "$t/clf.duet" --real $fm/t1k-images-idx3-ubyte.gz --real-labels $fm/t1k-labels-idx1-ubyte.gz
expect_err "unknown image label" "not one of" $duet generate "$t/vae.duet" --label hat -o "$t/x.png"
expect_err "count 0" "--count" $duet generate "$t/vae.duet" --count 0 -o "$t/x.png"
expect_err "count huge" "--count" $duet generate "$t/vae.duet" --count 99999999999 -o "$t/x.png"
expect_err "corrupt IDX" "truncated IDX header" $duet score "$t/vae.duet" "$t/bad-idx3-ubyte" --labels "$t/bad-idx3-ubyte"
printf '\000\000\010\003\000\000\000\001\000\000\000\003\000\000\000\003abcdefghi' > "$t/small-idx3-ubyte"
printf '\000\000\010\001\000\000\000\001\001' > "$t/small-idx1-ubyte"
expect_err "wrong image size" "3x3 = 9 values, model expects 784" $duet score "$t/vae.duet" "$t/small-idx3-ubyte" --labels "$t/small-idx1-ubyte"
expect_err "vae on a table" "[0, 1]" $duet train "$t/ok.csv" --model vae --no-scale
expect_ok "train gan" $duet train $fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz --model gan \
    --conditional --epochs 1 --limit 256 -o "$t/gan.duet" --quiet
expect_ok "gan grid" $duet generate "$t/gan.duet" --label bag --count 4 -o "$t/gan.png" --quiet
# image models checkpoint and resume: 256 images in batches of 64 make 4 steps an epoch; a
# 1-epoch run's checkpoint (step 4) resumed for 2 epochs equals a straight 2-epoch run
img="$fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz --limit 256"
expect_ok "vae 2 epochs" $duet train $img --model vae --epochs 2 --batch 64 --hidden 32 -o "$t/v2.duet" --quiet
expect_ok "vae checkpoint" $duet train $img --model vae --epochs 1 --batch 64 --hidden 32 --checkpoint "$t/vck.duet" \
    --checkpoint-every 4 -o "$t/v1.duet" --quiet
expect_ok "vae resume" $duet train $img --model vae --epochs 2 --batch 64 --resume "$t/vck.duet" -o "$t/v2r.duet"
contains "vae resume" "trained vae"
grep -q "resuming" "$t/err" && ok || bad "vae resume: no 'resuming' line: $(head -c 300 "$t/err")"
$duet generate "$t/v2.duet" --count 4 --seed 3 -o "$t/a.png" --quiet && $duet generate "$t/v2r.duet" --count 4 --seed 3 -o "$t/b.png" --quiet
cmp -s "$t/a.png" "$t/b.png" && ok || bad "vae: resumed run draws other images than the straight one"
expect_ok "conv vae" $duet train $img --model vae --arch conv --conditional --epochs 1 --batch 64 -o "$t/cv.duet" --quiet
expect_ok "conv vae draws" $duet generate "$t/cv.duet" --label sneaker --count 4 -o "$t/cv.png" --quiet
expect_ok "conv vae scores" $duet score "$t/cv.duet" $img --format json
contains "conv vae scores" '"elbo":'
expect_ok "conv vae info" $duet info "$t/cv.duet"
contains "conv vae info" "conv 28x28"
expect_err "arch for a gan" "--arch chooses the architecture of vae (gan has one)" $duet train $img --model gan --arch conv
printf '\000\000\010\003\000\000\000\002\000\000\000\003\000\000\000\003abcdefghiabcdefghi' > "$t/two-idx3-ubyte"
printf '\000\000\010\001\000\000\000\002\001\000' > "$t/two-idx1-ubyte"
expect_err "conv vae on 3x3 images" "multiples of 4" $duet train "$t/two-idx3-ubyte" --labels "$t/two-idx1-ubyte" --model vae --arch conv
# anomaly scores from the VAE: one per image; --against measures them by ROC-AUC
expect_ok "anomaly" $duet score "$t/vae.duet" $img --anomaly --limit 20
[ "$(wc -l < "$t/out")" -eq 20 ] && ok || bad "anomaly: want 20 scores"
expect_ok "anomaly json" $duet score "$t/vae.duet" $img --anomaly --score nll --limit 20 --format json
contains "anomaly json" '"score":"nll","anomaly":\['
expect_err "anomaly against other sizes" "model expects 784" $duet score "$t/vae.duet" $img --limit 50 --against "$t/two-idx3-ubyte"
expect_ok "anomaly against (json)" $duet score "$t/vae.duet" $fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz \
    --limit 100 --against $fm/t1k-images-idx3-ubyte.gz --format json
contains "anomaly auc" '"auc_nll":0.5,"auc_ratio":0.5,"auc_rate":0.5'
expect_ok "synthesize images" $duet synthesize "$t/vae.duet" --count 3 --label bag -o "$t/synimg/" --seed 4
[ -s "$t/synimg/00002-bag.png" ] && ok || bad "synthesize images: no 00002-bag.png in a new folder"
expect_err "synthesize images, no parent" "cannot make the folder" $duet synthesize "$t/vae.duet" --count 2 -o "$t/no/such/"
expect_err "anomaly with logreg" "no likelihood" $duet score "$t/logreg.duet" "$t/test.tsv" --anomaly
expect_err "anomaly bad score" "--score must be one of" $duet score "$t/vae.duet" $img --anomaly --score zip
# generate, then filter: images a classifier assigns to the asked class, and naive Bayes text
expect_ok "filter images" $duet generate "$t/vae.duet" --label bag --count 6 -o "$t/kept.png" --filter "$t/clf.duet" \
    --keep bag --min-prob 0.5 --seed 4
grep -q "kept 6 of [0-9]* drawn (acceptance" "$t/err" && ok || bad "filter images: $(cat "$t/err")"
[ -s "$t/kept.png" ] && ok || bad "filter images: no grid"
expect_ok "filter text" $duet generate "$t/nb.duet" --label spam --count 3 --filter "$t/logreg.duet" --keep spam --min-prob 0.9
[ "$(grep -c '^spam	' "$t/out")" -eq 3 ] && ok || bad "filter text: want 3 spam lines"
expect_ok "filter gives up" $duet generate "$t/nb.duet" --label ham --count 3 --filter "$t/logreg.duet" --keep spam \
    --min-prob 0.999 --max-draws 20
grep -q "stopped at --max-draws" "$t/err" && ok || bad "filter gives up: $(cat "$t/err")"
expect_err "filter without keep" "--keep" $duet generate "$t/nb.duet" --filter "$t/logreg.duet"
expect_err "filter unknown keep" "not one of its classes" $duet generate "$t/nb.duet" --filter "$t/logreg.duet" --keep eggs
expect_err "resume a logreg" "checkpoints and resume are for" $duet train "$t/train.tsv" --resume "$t/vck.duet"
expect_err "gan cannot score" "likelihood" $duet score "$t/gan.duet" $fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz
expect_err "gan on a table" "multiples of 4" $duet train "$t/ok.csv" --model gan
expect_err "gan smaller than a batch" "less than one batch of 64" $duet train $fm/t1k-images-idx3-ubyte.gz \
    --labels $fm/t1k-labels-idx1-ubyte.gz --model gan --limit 10
expect_ok "train diffusion" $duet train $fm/t1k-images-idx3-ubyte.gz --labels $fm/t1k-labels-idx1-ubyte.gz \
    --model diffusion --conditional --epochs 1 --limit 256 --hidden 8 -o "$t/dif.duet" --quiet
expect_ok "diffusion DDIM grid" $duet generate "$t/dif.duet" --label bag --count 2 --ddim --sample-steps 10 \
    --guidance 3 -o "$t/dif.png" --quiet
[ -s "$t/dif.png" ] && ok || bad "no diffusion grid"
expect_err "bad guidance" "--guidance" $duet generate "$t/dif.duet" --guidance -1 -o "$t/dif.png"
# its score: the variational bound in nats per image
expect_ok "diffusion score" $duet score "$t/dif.duet" $fm/t1k-images-idx3-ubyte.gz --limit 3 --format json
contains "diffusion score is the bound" '"vlb":-[0-9]'
expect_err "diffusion score, not images" "trained on images data, this is text" $duet score "$t/dif.duet" "$t/train.tsv"

# --- numbers: regression with linear, gbdt and mlp on a generated table ---------------------
# y = 3 x1 + 5 [color = red] - x2 + noise; x2 missing in one row in seven; a Park-Miller LCG
awk 'BEGIN { s = 12345; print "x1,x2,color,y"
    for (i = 0; i < 600; i++) {
        s = (s * 16807) % 2147483647; x1 = s / 2147483647 * 4
        s = (s * 16807) % 2147483647; x2 = s / 2147483647 * 2
        s = (s * 16807) % 2147483647; c = int(s / 2147483647 * 3)
        s = (s * 16807) % 2147483647; e = (s / 2147483647 - 0.5) * 0.4
        col = c == 0 ? "red" : c == 1 ? "green" : "blue"
        y = 3 * x1 + (c == 0 ? 5 : 0) - x2 + e
        printf "%.4f,%s,%s,%.4f\n", x1, i % 7 == 3 ? "" : sprintf("%.4f", x2), col, y } }' > "$t/num.csv"
head -481 "$t/num.csv" > "$t/num_train.csv"
{ head -1 "$t/num.csv"; tail -120 "$t/num.csv"; } > "$t/num_test.csv"
expect_ok "train a number (default model)" $duet train "$t/num_train.csv" --label y -o "$t/lin.duet"
contains "the default for numbers is linear" "trained linear .* a number"
for m in gbdt linear mlp; do
    expect_ok "train $m on a number" $duet train "$t/num_train.csv" --label y --model $m -o "$t/n_$m.duet" --quiet
    expect_ok "eval $m on a number" $duet eval "$t/n_$m.duet" "$t/num_test.csv" --label y --format json
    contains "eval $m json" '"rmse":'
    rmse=$(sed -n 's/.*"rmse":\([0-9.e+-]*\).*/\1/p' "$t/out")
    if awk "BEGIN{exit !($rmse < 1.0)}"; then ok; else bad "$m RMSE $rmse >= 1.0"; fi
done
expect_ok "gbdt eval text" $duet eval "$t/n_gbdt.duet" "$t/num_test.csv" --label y
contains "eval prints RMSE" "RMSE"
contains "eval prints R²" "R²"
expect_ok "predict numbers" $duet predict "$t/n_gbdt.duet" "$t/num_test.csv" --label y
[ "$(wc -l < "$t/out")" -eq 120 ] && ok || bad "predict: $(wc -l < "$t/out") lines for 120 rows"
expect_ok "predict numbers json with TreeSHAP" $duet predict "$t/n_gbdt.duet" "$t/num_test.csv" --label y --format json --explain 2
contains "predict json value" '^{"value":[-0-9.]*,"explain":\[{"feature":"x1"'
expect_ok "predict numbers csv" $duet predict "$t/n_linear.duet" "$t/num_test.csv" --label y --format csv
contains "predict csv header" "^value$"
expect_err "no probabilities of a number" "--proba is for classifiers" $duet predict "$t/n_gbdt.duet" "$t/num_test.csv" --proba
expect_ok "info gbdt" $duet info "$t/n_gbdt.duet"
contains "info lists split gain" "features by total split gain"
contains "info: the rounds chosen" "chosen by early stopping"
expect_ok "cv of a number" $duet eval "$t/num.csv" --label y --cv 3 --model gbdt --format json
contains "cv json rmse" '"rmse":'
expect_ok "compare numbers" $duet compare "$t/num.csv" --label y --curve-points 2 --curve-repeats 1 --quiet
contains "compare numbers table" "RMSE"
contains "compare numbers recommendation" "smallest error"
expect_ok "gbdt quantile" $duet train "$t/num_train.csv" --label y --model gbdt --objective quantile --quantile 0.9 -o "$t/q.duet" --quiet
expect_ok "gbdt classes" $duet train "$t/num_train.csv" --label color --model gbdt -o "$t/gc.duet" --quiet
expect_ok "gbdt classes eval" $duet eval "$t/gc.duet" "$t/num_test.csv" --label color --format json
contains "gbdt classes accuracy" '"accuracy":'
expect_err "quantile out of range" "quantile" $duet train "$t/num_train.csv" --label y --model gbdt --objective quantile --quantile 1.5
expect_err "logreg learns classes" "models that learn numbers: linear" $duet train "$t/num_train.csv" --label y --model logreg --task regression
expect_err "linear learns numbers" "linear learns a number" $duet train "$t/num_train.csv" --label color --model linear
expect_err "text in a numeric target" "row 3: the target 'oops'" sh -c "sed '4s/,[^,]*\$/,oops/' '$t/num_train.csv' > '$t/bad.csv' && $duet train '$t/bad.csv' --label y --task regression"
expect_err "infinite target" "not a finite number" sh -c "sed '5s/,[^,]*\$/,inf/' '$t/num_train.csv' > '$t/bad.csv' && $duet train '$t/bad.csv' --label y --task regression --model gbdt"
expect_err "constant target" "nothing to learn" sh -c "awk -F, 'BEGIN{OFS=\",\"} NR > 1 { \$4 = \"2.5\" } 1' '$t/num_train.csv' > '$t/bad.csv' && $duet train '$t/bad.csv' --label y --task regression"
expect_err "poisson below 0" "below 0" sh -c "sed '6s/,[^,]*\$/,-3/' '$t/num_train.csv' > '$t/bad.csv' && $duet train '$t/bad.csv' --label y --model gbdt --objective poisson"
head -c 3000 "$t/n_gbdt.duet" > "$t/trunc.duet"
expect_err "truncated gbdt file" "trunc.duet" $duet predict "$t/trunc.duet" "$t/num_test.csv"
# an XGBoost model, imported, predicts
expect_ok "import xgboost" $duet import tests/fixtures/xgboost/binary_logistic.json -o "$t/xgb.duet"
contains "import says what" "as a gbdt model"
expect_ok "predict with the imported model" $duet predict "$t/xgb.duet" tests/fixtures/xgboost/x.csv --format csv --proba
[ "$(wc -l < "$t/out")" -eq 201 ] && ok || bad "xgboost predict: $(wc -l < "$t/out") lines"
printf '{"learner": {"objective": {"name": "binary:logistic"}}}' > "$t/bad.json"
expect_err "import a JSON that is not XGBoost's" "bad.json: not an XGBoost JSON model" $duet import "$t/bad.json" -o "$t/x.duet"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
