#!/bin/sh
# Data-parallel training over MPI on this machine: logistic regression (C=10) on 20 Newsgroups'
# TF-IDF features (bench/features.py), 1 rank x 1 thread against 2 ranks x 1 thread, whole
# processes, median of RUNS; the model's fit time from its record; and the cost of one
# all-reduce by size (build/allreduce), from which docs/robustness.md estimates more hosts.
# Needs Open MPI (libopenmpi-dev openmpi-bin) and duet built with it. Never gates anything.
set -e
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
out=build/bench
duet=$PWD/duet
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi="mpirun --allow-run-as-root --oversubscribe"
$duet --version | grep -q mpirun || { echo "bench: duet is built without MPI (apt-get install libopenmpi-dev openmpi-bin; make)"; exit 1; }
[ -f $out/20ng-tfidf.train.svm ] || { echo "bench: writing features"; /usr/bin/python3 bench/features.py $out "${DUET_SHARED_DATA:-../shared/data}"; }
make -s build/allreduce >/dev/null
tr=$out/20ng-tfidf.train.svm te=$out/20ng-tfidf.test.svm
med() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
run() { # RANKS: wall seconds of each run, then the model's fit seconds
    for i in $(seq $RUNS); do
        s=$(date +%s.%N)
        if [ $1 -eq 1 ]; then $duet train $tr --C 10 --threads 1 -o $out/mpi$1.duet --quiet >/dev/null
        else $mpi -np $1 $duet train $tr --C 10 --threads 1 -o $out/mpi$1.duet --quiet >/dev/null; fi
        echo "$(date +%s.%N) - $s" | bc
    done | med
}
echo "20 Newsgroups TF-IDF, logreg C=10 (one-vs-rest, 20 classes), threads 1 per rank, median of $RUNS"
printf "%-8s %10s %10s %10s\n" ranks "wall s" "fit s" accuracy
for r in 1 2; do
    w=$(run $r)
    f=$($duet info $out/mpi$r.duet | awk '$1 == "fit_seconds" {print $2}')
    a=$($duet eval $out/mpi$r.duet $te --format json | sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p')
    printf "%-8s %10s %10s %10s\n" $r $w $f $a
    eval "w$r=$w f$r=$f"
done
awk -v a=$w1 -v b=$w2 -v c=$f1 -v d=$f2 'BEGIN {printf "speed-up of 2 ranks: %.2fx whole process, %.2fx fit\n", a / b, c / d}'
echo
echo "MPI_Allreduce of doubles, 2 ranks on this machine"
$mpi -np 2 build/allreduce 10000000
