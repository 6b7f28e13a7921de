#!/bin/sh
# fuzz.sh BUILD SECONDS TARGET... — runs each libFuzzer target (BUILD/fuzz/fuzz_TARGET) for
# SECONDS from its seeds (tests/fuzz/seeds/TARGET), its kept corpus (tests/fuzz/corpus/TARGET)
# and past crashes (tests/fuzz/regress/TARGET), growing a corpus in BUILD/corpus/TARGET; prints
# executions and coverage per target, and "N passed, N failed" (a target fails when it finds a
# crash, leak or timeout; the input is kept in BUILD/crashes/ — add it to
# tests/fuzz/regress/TARGET once fixed).
# fuzz.sh BUILD replay TARGET... — runs each target once on each of those committed files, no
# mutation and no clock: the same inputs, the same verdict on every run (make test's stage).
# fuzz.sh BUILD keep TARGET... — replaces tests/fuzz/corpus/TARGET by the smallest set of
# BUILD/corpus/TARGET and the kept corpus that covers what they cover (libFuzzer -merge=1),
# leaving out what the seeds and regressions already are: after a long run, to keep its reach.
build=$1 secs=$2
shift 2
pass=0 fail=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TMPDIR=${TMPDIR:-/tmp}
if [ "$secs" = replay ]; then
    printf "%-8s %8s  %s\n" target inputs result
    for t in "$@"; do
        bin=$build/fuzz/fuzz_$t
        log=$build/replay_$t.log
        # libFuzzer given files (not folders) runs each once and stops; no time limit per input
        # beyond a generous one, so that a slow machine does not change the verdict
        files=$(find tests/fuzz/seeds/$t tests/fuzz/regress/$t tests/fuzz/corpus/$t -type f 2>/dev/null | sort)
        n=$(echo "$files" | grep -c .)
        if [ "$n" -eq 0 ]; then
            fail=$((fail + 1))
            printf "%-8s %8s  %s\n" "$t" 0 "FAIL (no seeds in tests/fuzz/seeds/$t)"
            continue
        fi
        # shellcheck disable=SC2086 # the names have no spaces (tests/fuzz/ is ours)
        "$bin" -timeout=600 -rss_limit_mb=2560 $files >"$log" 2>&1
        rc=$?
        ran=$(grep -c '^Executed ' "$log")
        if [ $rc -eq 0 ] && [ "$ran" -eq "$n" ]; then
            pass=$((pass + 1)); res=ok
        else
            fail=$((fail + 1)); res="FAIL (ran $ran of $n; see $log)"
            grep -E 'ERROR|SUMMARY|runtime error|Running:' "$log" | tail -n 6 | sed 's/^/    /'
        fi
        printf "%-8s %8s  %s\n" "$t" "$n" "$res"
    done
    echo "$pass passed, $fail failed"
    [ $fail -eq 0 ]
    exit
fi
if [ "$secs" = keep ]; then
    for t in "$@"; do
        new=$build/kept_$t
        rm -rf "$new" && mkdir -p "$new" tests/fuzz/corpus/$t || exit 1 # a new target has none kept yet
        "$build/fuzz/fuzz_$t" -merge=1 -timeout=60 -rss_limit_mb=2560 "$new" "$build/corpus/$t" tests/fuzz/corpus/$t \
            tests/fuzz/seeds/$t tests/fuzz/regress/$t >"$build/keep_$t.log" 2>&1 || { echo "$t: merge failed (see $build/keep_$t.log)"; exit 1; }
        for f in tests/fuzz/seeds/$t/* tests/fuzz/regress/$t/*; do [ -f "$f" ] && rm -f "$new/$(sha1sum "$f" | cut -c1-40)"; done
        rm -rf tests/fuzz/corpus/$t && mv "$new" tests/fuzz/corpus/$t
        echo "$t: $(ls tests/fuzz/corpus/$t | wc -l) inputs kept in tests/fuzz/corpus/$t"
    done
    exit 0
fi
printf "%-8s %12s %8s %8s %8s  %s\n" target executions cov features corpus result
for t in "$@"; do
    bin=$build/fuzz/fuzz_$t
    corpus=$build/corpus/$t
    mkdir -p "$corpus" "$build/crashes"
    log=$build/fuzz_$t.log
    "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$t-" "$corpus" $(for d in seeds regress corpus; do [ -d tests/fuzz/$d/$t ] && echo tests/fuzz/$d/$t; done) >"$log" 2>&1
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
