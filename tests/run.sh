#!/bin/sh
# Runs every unit test binary and every CLI test script; prints each one's result and, last,
# the totals as "N passed, N failed". Exits non-zero when anything failed.
# usage: tests/run.sh BUILD_DIR DUET_BINARY
build=${1:-build}
duet=${2:-./duet}
# the unit tests run the BLAS kernels the duet program picks for this processor (it restarts
# itself with OPENBLAS_CORETYPE when OpenBLAS falls back to old ones; see duet.h)
core=$("$duet" --version 2>/dev/null | sed -n 's/.*BLAS kernels: \([A-Za-z0-9]*\).*/\1/p')
if [ -z "$OPENBLAS_CORETYPE" ] && [ -n "$core" ] && [ "$core" != none ]; then export OPENBLAS_CORETYPE=$core; fi
# the same thread count on every machine (results that depend on it then do not change the
# verdict): every run without --threads takes OMP_NUM_THREADS
export OMP_NUM_THREADS=2
# a test that hangs fails (after a bound no healthy run comes near) instead of stopping the gate
limit=${DUET_TEST_LIMIT:-1800}
pass=0; fail=0; skip=0
log=$(mktemp)
run_one() {
    name=$1; shift
    timeout -k 10 "$limit" "$@" >"$log" 2>&1
    rc=$?
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "still running after $limit s: stopped" >>"$log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
    [ -n "$p" ] || p=0; [ -n "$f" ] || f=0; [ -n "$s" ] || s=0
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then
        echo "FAIL $name ($p passed, $f failed)"; sed 's/^/    /' "$log" | tail -n 40
    else
        echo "ok   $name ($p passed, $s skipped)"
        grep -E 'skipped:' "$log" | sed 's/^/     /' | head -n 5
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/cli/test_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" sh "$t" "$duet"
done
rm -f "$log"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
