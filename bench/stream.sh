#!/bin/sh
# Training on a LIBSVM file read whole against the same file streamed from disk (its values in
# mapped temporary files, --stream yes): wall time and the peak of the process's own
# (anonymous) memory, sampled from /proc every 20 ms, for logistic regression C=1 and naive
# Bayes; median of RUNS. The file (ROWS rows of 60 values among 5,000 features, about 0.5 GB
# by default) is made once under build/bench. Never gates anything.
set -e
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
ROWS=${ROWS:-1000000}
out=build/bench
duet=$PWD/duet
mkdir -p $out
f=$out/stream-$ROWS.svm
[ -f $f ] || { echo "bench: writing $f"; awk -v n=$ROWS 'BEGIN { srand(7); for (i = 0; i < n; i++) { y = i % 4; printf "%d", y;
    j = 0; for (k = 0; k < 60; k++) { j += 1 + int(rand() * 160); printf " %d:%.3f", j, rand() + (j % 4 == y ? 0.3 : 0) } printf "\n" } }' > $f; }
med() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# one run: "wall_s peak_anon_MiB"
one() {
    s=$(date +%s.%N)
    $duet train $f "$@" --threads 1 -o $out/stream.duet --quiet >/dev/null 2>&1 &
    pid=$! peak=0
    while kill -0 $pid 2>/dev/null; do
        a=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
        [ -n "$a" ] && [ "$a" -gt "$peak" ] && peak=$a
        sleep 0.02
    done
    wait $pid
    echo "$(echo "$(date +%s.%N) - $s" | bc) $((peak / 1024))"
}
echo "$(du -m $f | cut -f1) MiB LIBSVM, $ROWS rows; threads 1; median of $RUNS"
printf "%-12s %-8s %10s %16s\n" model read "wall s" "peak anon MiB"
for m in "logreg --C 1" "nb --alpha 1"; do
    for how in no yes; do
        r=$(for i in $(seq $RUNS); do one --model $m --stream $how; done)
        w=$(echo "$r" | awk '{print $1}' | med) p=$(echo "$r" | awk '{print $2}' | med)
        printf "%-12s %-8s %10.2f %16s\n" "${m%% *}" "$([ $how = yes ] && echo streamed || echo whole)" $w $p
    done
done
