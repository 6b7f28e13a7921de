#!/bin/sh
# fuzz.sh BUILD SECONDS TARGET... — runs each libFuzzer target (BUILD/fuzz/fuzz_TARGET) for
# SECONDS from its seeds (tests/fuzz/seeds/TARGET) and past crashes (tests/fuzz/regress/TARGET),
# growing a corpus in BUILD/corpus/TARGET; prints executions and coverage per target, and
# "N passed, N failed" (a target fails when it finds a crash, leak or timeout; the input is
# kept in BUILD/crashes/ — add it to tests/fuzz/regress/TARGET once fixed).
build=$1 secs=$2
shift 2
pass=0 fail=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TMPDIR=${TMPDIR:-/tmp}
printf "%-8s %12s %8s %8s %8s  %s\n" target executions cov features corpus result
for t in "$@"; do
    bin=$build/fuzz/fuzz_$t
    corpus=$build/corpus/$t
    mkdir -p "$corpus" "$build/crashes" tests/fuzz/seeds/$t tests/fuzz/regress/$t
    log=$build/fuzz_$t.log
    "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$t-" "$corpus" tests/fuzz/seeds/$t tests/fuzz/regress/$t >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    line=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1)
    cov=$(echo "$line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$line" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); res=ok
    else
        fail=$((fail + 1)); res="FAIL (see $log)"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 5 | sed 's/^/    /'
    fi
    printf "%-8s %12s %8s %8s %8s  %s\n" "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$res"
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
