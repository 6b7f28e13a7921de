#!/bin/sh
# Exploration, not a test (not part of make test; tests/cli/test_crash.sh is the test): the
# timing-based crash check that test_crash.sh used to be. Training is killed with SIGKILL at
# moments chosen by sleeping (awk seeded rand: the same delays on one awk, other ones between
# mawk and gawk), so where each kill lands (start-up, mid-step, mid-write, before fsync, before
# rename) depends on the machine and on the run: on a fast machine all steps can finish before
# the kills land, on a slow one they land mostly at start-up. Useful to shake out what the fixed
# kill points of test_crash.sh do not choose; CRASH_STEPS and CRASH_KILLS set the run length and
# the number of kills.
# usage: sh bench/crash.sh ./duet       last line: "N passed, N failed"
duet=${1:-./duet}
case $duet in /*) ;; *) duet=$PWD/$duet ;; esac
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

head -c 30000 data/tinyshakespeare/input.txt > "$t/corpus.txt"
STEPS=${CRASH_STEPS:-3000} # 20 kills take about 1,100 steps on this machine: room for one 2.7x faster
train="$duet train $t/corpus.txt --model gpt --layers 1 --dim 64 --heads 2 --context 32 --batch 8 --steps $STEPS
       --eval-every 1000 --seed 5 --threads 1 --quiet"
$train -o "$t/straight.duet" >/dev/null 2>&1 && ok || bad "the uninterrupted run failed"

# the same training, killed and resumed until it finishes; the kills land at random moments
# between 0.02 and 0.4 s after each start (awk's seeded rand: the same moments every run)
kills=0 runs=0 done_=0
delays=$(awk 'BEGIN { srand(7); for (i = 0; i < 400; i++) printf "%.3f\n", 0.02 + rand() * 0.38 }')
for d in $delays; do
    runs=$((runs + 1))
    resume=""
    [ -f "$t/ck.duet" ] && resume="--resume $t/ck.duet"
    $train --checkpoint "$t/ck.duet" --checkpoint-every 1 $resume -o "$t/killed.duet" >"$t/log" 2>&1 &
    pid=$!
    sleep "$d"
    if kill -0 $pid 2>/dev/null; then
        kill -KILL $pid 2>/dev/null
        wait $pid 2>/dev/null
        kills=$((kills + 1))
        [ $kills -ge ${CRASH_KILLS:-20} ] && break
    else
        wait $pid; rc=$?
        if [ $rc -ne 0 ]; then bad "run $runs failed (exit $rc): $(tail -c 300 "$t/log")"; break; fi
        done_=1; break
    fi
done
# after the kills, let it finish
if [ $done_ -eq 0 ] && [ $fail -eq 0 ]; then
    $train --checkpoint "$t/ck.duet" --checkpoint-every 1 --resume "$t/ck.duet" -o "$t/killed.duet" >"$t/log" 2>&1 && done_=1 ||
        bad "the last resume failed: $(tail -c 300 "$t/log")"
fi
echo "killed $kills times in $runs runs" >&2
[ $kills -ge 20 ] && ok || bad "only $kills kills landed before training finished (raise CRASH_STEPS)"
if [ $done_ -eq 1 ]; then
    a=$($duet score "$t/straight.duet" "$t/corpus.txt" --format json 2>&1)
    b=$($duet score "$t/killed.duet" "$t/corpus.txt" --format json 2>&1)
    [ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "the resumed model scores otherwise: $a / $b"
    ga=$($duet generate "$t/straight.duet" --prompt "ROMEO:" -n 60 --temperature 0 --quiet 2>&1)
    gb=$($duet generate "$t/killed.duet" --prompt "ROMEO:" -n 60 --temperature 0 --quiet 2>&1)
    [ "$ga" = "$gb" ] && ok || bad "the resumed model writes otherwise"
fi

# a checkpoint damaged on disk: one byte of its tensors changed
if [ -f "$t/ck.duet" ]; then
    cp "$t/ck.duet" "$t/bad.duet"
    size=$(wc -c < "$t/bad.duet")
    printf '\377' | dd of="$t/bad.duet" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
    if $train --resume "$t/bad.duet" -o "$t/x.duet" >"$t/out" 2>&1; then bad "a damaged checkpoint was accepted"
    else grep -q "checksum mismatch" "$t/out" && ok || bad "damaged checkpoint: $(cat "$t/out")"; fi
fi
# a killed write leaves at most one temporary file per target, which the next write replaces
[ "$(ls "$t" | grep -c '\.tmp')" -le 2 ] && ok || bad "killed writes left $(ls "$t" | grep -c '\.tmp') temporary files"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
