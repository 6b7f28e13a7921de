#!/bin/sh
# test.sh MAKE — the test gate behind `make test` (after the packages are installed): the suite
# on the plain build (make check), each fuzz target's seeds and past crashes replayed once (make
# fuzz-replay), then the suite under AddressSanitizer and UBSan (make check SAN=...). Every stage
# runs even when one before it failed; the last line sums them: "N passed, N failed, N skipped".
# Nothing here depends on time: no fixed-time fuzzing, no timed assertions, so a commit gets the
# same verdict on every run and machine.
make=${1:-make}
pass=0 fail=0 skip=0
log=$(mktemp) rcf=$(mktemp)
trap 'rm -f "$log" "$rcf"' EXIT
stage() {
    name=$1; shift
    echo "== $name"
    echo 1 > "$rcf"
    { "$@"; echo $? > "$rcf"; } 2>&1 | tee "$log"
    rc=$(cat "$rcf")
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
    [ -n "$p" ] || p=0; [ -n "$f" ] || f=0; [ -n "$s" ] || s=0
    # a stage that stopped without its count (a build error) counts as one failure
    if [ "$rc" != 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $name: exited $rc"; fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}
stage "tests" $make --no-print-directory check
stage "fuzz targets: seeds, kept corpus and regressions replayed once" $make --no-print-directory fuzz-replay
stage "tests under AddressSanitizer and UBSan" $make --no-print-directory check SAN=address,undefined
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
