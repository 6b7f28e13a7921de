#!/bin/sh
# Browser checks in headless Chromium (Debian's chromium, driven by playwright-core from npm,
# installed into tests/browser/node_modules): the comparison report renders with every plot
# and no broken reference, and a screenshot is saved (build/report_screenshot.png).
# usage: sh tests/cli/test_browser.sh ./duet       last line: "N passed, N failed"
duet=${1:-./duet}
case $duet in /*) ;; *) duet=$PWD/$duet ;; esac
if ! command -v node >/dev/null 2>&1 || ! [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "skipped: needs node and chromium (make deps installs them)" >&2
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
        { echo "FAIL: npm ci in tests/browser (playwright-core)"; echo "0 passed, 1 failed"; exit 1; }
fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
awk 'NR % 5 != 0 && NR <= 2000' data/sms_spam/SMSSpamCollection > "$t/train.tsv"
if ! $duet compare "$t/train.tsv" --models logreg,nb,svm --C 10 --alpha 1 --curve-points 4 --curve-repeats 2 \
    --augment spam --report "$t/rep" --quiet >"$t/out" 2>&1; then
    echo "FAIL: duet compare: $(tail -3 "$t/out")"; echo "0 passed, 1 failed"; exit 1
fi
mkdir -p build
node tests/browser/report.mjs "$t/rep" build/report_screenshot.png logreg nb svm
