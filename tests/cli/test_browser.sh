#!/bin/sh
# Browser checks in headless Chromium (Debian's chromium, driven by playwright-core from npm,
# installed into tests/browser/node_modules): the comparison report renders with every plot
# and no broken reference (build/report_screenshot.png); `duet serve` answers the official
# OpenAI client (npm "openai") and its page streams, classifies and draws
# (build/serve_screenshot.png).
# usage: sh tests/cli/test_browser.sh ./duet       last line: "N passed, N failed"
duet=${1:-./duet}
case $duet in /*) ;; *) duet=$PWD/$duet ;; esac
if ! command -v node >/dev/null 2>&1 || ! [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "skipped: needs node and chromium (make deps installs them)" >&2
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/openai ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
        { echo "FAIL: npm ci in tests/browser (playwright-core)"; echo "0 passed, 1 failed"; exit 1; }
fi
t=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$t"' EXIT
awk 'NR % 5 != 0 && NR <= 2000' data/sms_spam/SMSSpamCollection > "$t/train.tsv"
if ! $duet compare "$t/train.tsv" --models logreg,nb,svm --C 10 --alpha 1 --curve-points 4 --curve-repeats 2 \
    --augment spam --report "$t/rep" --quiet >"$t/out" 2>&1; then
    echo "FAIL: duet compare: $(tail -3 "$t/out")"; echo "0 passed, 1 failed"; exit 1
fi
mkdir -p build
pass=0; fail=0
# tally: adds a node script's "N passed, N failed" to the totals
tally() {
    cat "$t/log"
    p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$t/log" | tail -n 1)
    f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$t/log" | tail -n 1)
    [ -n "$p" ] || { p=0; f=1; echo "FAIL: $1 did not finish"; }
    pass=$((pass + p)); fail=$((fail + f))
}
node tests/browser/report.mjs "$t/rep" build/report_screenshot.png logreg nb svm >"$t/log" 2>&1
tally report.mjs

# the server: a spam filter, a story model, an image model
st=data/llama2c_tinyllamas
$duet train "$t/train.tsv" --C 10 -o "$t/spam.duet" --quiet &&
$duet train data/fashion_mnist/t1k-images-idx3-ubyte.gz --labels data/fashion_mnist/t1k-labels-idx1-ubyte.gz --model vae \
    --conditional --epochs 3 -o "$t/fashion.duet" --quiet || { echo "FAIL: training the served models"; fail=$((fail + 1)); }
$duet serve "$t/spam.duet" $st/stories260K.bin "$t/fashion.duet" --tokenizer $st/tok512.bin --port 0 >"$t/srv" 2>&1 &
pid=$!
i=0
while ! grep -q "listening on" "$t/srv" && [ $i -lt 300 ] && kill -0 $pid 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
url=$(sed -n 's/.*listening on \(http:[^ ]*\/\).*/\1/p' "$t/srv")
if [ -n "$url" ]; then
    node tests/browser/serve.mjs "$url" build/serve_screenshot.png >"$t/log" 2>&1
    tally serve.mjs
else
    echo "FAIL: duet serve did not start: $(cat "$t/srv")"; fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
