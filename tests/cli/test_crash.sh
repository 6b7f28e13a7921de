#!/bin/sh
# Crash-safe training: a language model's training is killed with SIGKILL at fixed points of its
# checkpoint writes and resumed from its checkpoint each time; the model it ends with equals an
# uninterrupted run's (same nll to the last digit, same greedy text). A damaged checkpoint is
# refused with a message that says so; killed writes leave at most one temporary file per target.
# The kills come from an LD_PRELOAD shim (tests/cli/crash_shim.c, compiled here with cc) that
# raises SIGKILL at the chosen libc call of the chosen checkpoint write: no sleeps, no timing,
# the same points on every machine. Some kills also simulate a power loss (data not fsynced is
# dropped), which catches a rename before fsync.
# usage: sh tests/cli/test_crash.sh ./duet       last line: "N passed, N failed"
duet=${1:-./duet}
case $duet in /*) ;; *) duet=$PWD/$duet ;; esac
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

if ! command -v cc >/dev/null 2>&1; then
    bad "no C compiler (cc) to build tests/cli/crash_shim.c"; echo "$pass passed, $fail failed"; exit 1
fi
if ! cc -shared -fPIC -o "$t/shim.so" tests/cli/crash_shim.c -ldl 2>"$t/cc.log"; then
    bad "cc could not build tests/cli/crash_shim.c: $(head -c 500 "$t/cc.log")"; echo "$pass passed, $fail failed"; exit 1
fi
# the sanitizer build wants its runtime first among the libraries; the shim goes before it
# (it only forwards calls, so ASan's own interceptors still see every one)
asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

head -c 30000 data/tinyshakespeare/input.txt > "$t/corpus.txt"
STEPS=150
train="$duet train $t/corpus.txt --model gpt --layers 1 --dim 64 --heads 2 --context 32 --batch 8 --steps $STEPS
       --eval-every 1000 --seed 5 --threads 1 --quiet"
ck=$t/ckpt.duet
$train -o "$t/straight.duet" >/dev/null 2>&1 && ok || bad "the uninterrupted run failed"

# the step of the checkpoint at $1 ("none" when there is none, "bad" when it does not load)
step_of() {
    if [ ! -e "$1" ]; then echo none; return; fi
    s=$($duet info "$1" 2>/dev/null | awk '$1 == "steps" { print $2 }')
    echo "${s:-bad}"
}

# The same training, killed and resumed (from the checkpoint when there is one) at each point,
# in order. A point is K:OP:N:before|after[:lose] (crash_shim.c): the K-th checkpoint write of
# that run (each writes the next step; a run resumed from step s writes s+1 first), its N-th call
# of OP. A checkpoint write is fopen(tmp), 18 fwrites, fflush, fsync, fclose, rename(tmp, ckpt).
# After each kill: the step the checkpoint holds, and the temporary file: none, partial (there,
# does not load), whole (loads, and holds the next step), empty (0 bytes: cut by the simulated
# power loss).
#   point                  step  tmp      where
points='1:fwrite:10:after      none  partial  mid-write of the first checkpoint (none yet)
2:fwrite:6:after        1     partial  mid-write of the second
1:fsync:1:before        1     whole    written and flushed, before fsync
1:rename:1:before       1     whole    after fsync, before rename
1:rename:1:after        2     none     right after rename
70:fwrite:12:after      71    partial  mid-write, 70 checkpoints into the run
1:fclose:1:before:lose  71    whole    after fsync, before rename, power lost
2:fsync:1:before:lose   72    empty    before fsync, power lost: the tmp is lost, not the ckpt
3:rename:1:after:lose   75    none     right after rename, power lost: the fsync kept it
60:rename:1:before      134   whole    late: before rename, 60 checkpoints into the run
13:fwrite:16:after      146   partial  late: mid-write
4:rename:1:after        150   none     the last checkpoint written, the model not yet'
kills=0 runs=0
echo "$points" > "$t/points"
while read -r at want tmp what; do
    runs=$((runs + 1))
    resume=""
    [ -f "$ck" ] && resume="--resume $ck"
    CRASH_AT=$at CRASH_FILE=ckpt.duet LD_PRELOAD=$t/shim.so ASAN_OPTIONS=$asan \
        $train --checkpoint "$ck" --checkpoint-every 1 $resume -o "$t/killed.duet" >"$t/log" 2>&1 </dev/null
    rc=$?
    if [ $rc -ne 137 ]; then
        bad "kill at $at ($what): exit $rc, not 137 (SIGKILL; was the point reached?): $(tail -c 300 "$t/log")"
        continue
    fi
    kills=$((kills + 1))
    got=$(step_of "$ck")
    [ "$got" = "$want" ] && ok || bad "kill at $at ($what): the checkpoint holds step $got, not $want"
    case $tmp in
    none)    [ ! -e "$ck.tmp" ] ;;
    empty)   [ -f "$ck.tmp" ] && [ ! -s "$ck.tmp" ] ;;
    partial) [ -s "$ck.tmp" ] && [ "$(step_of "$ck.tmp")" = bad ] ;;
    whole)   [ "$(step_of "$ck.tmp")" = $(( ${want#none} + 1 )) ] ;;
    esac && ok || bad "kill at $at ($what): the temporary file is not $tmp ($(ls -l "$ck.tmp" 2>&1))"
done < "$t/points"
echo "killed $kills times in $runs runs at fixed points" >&2
# then it finishes, resuming from the last checkpoint
done_=0
$train --checkpoint "$ck" --checkpoint-every 1 --resume "$ck" -o "$t/killed.duet" >"$t/log" 2>&1 && done_=1 ||
    bad "the last resume failed: $(tail -c 300 "$t/log")"
if [ $done_ -eq 1 ]; then
    a=$($duet score "$t/straight.duet" "$t/corpus.txt" --format json 2>&1)
    b=$($duet score "$t/killed.duet" "$t/corpus.txt" --format json 2>&1)
    [ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "the resumed model scores otherwise: $a / $b"
    ga=$($duet generate "$t/straight.duet" --prompt "ROMEO:" -n 60 --temperature 0 --quiet 2>&1)
    gb=$($duet generate "$t/killed.duet" --prompt "ROMEO:" -n 60 --temperature 0 --quiet 2>&1)
    [ "$ga" = "$gb" ] && ok || bad "the resumed model writes otherwise"
fi

# a checkpoint damaged on disk: one byte of its tensors changed
if [ -f "$ck" ]; then
    cp "$ck" "$t/bad.duet"
    size=$(wc -c < "$t/bad.duet")
    printf '\377' | dd of="$t/bad.duet" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
    if $train --resume "$t/bad.duet" -o "$t/x.duet" >"$t/out" 2>&1; then bad "a damaged checkpoint was accepted"
    else grep -q "checksum mismatch" "$t/out" && ok || bad "damaged checkpoint: $(cat "$t/out")"; fi
else bad "no checkpoint left to damage"; fi
# a killed write leaves at most one temporary file per target, which the next write replaces
[ "$(ls "$t" | grep -c '\.tmp')" -le 2 ] && ok || bad "killed writes left $(ls "$t" | grep -c '\.tmp') temporary files"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
