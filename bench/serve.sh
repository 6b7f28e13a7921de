#!/bin/sh
# `duet serve` under load.
#  1. wrk (Debian) posts one text to /v1/classify for DURATION seconds (default 30) with
#     CONNS connections: requests/s, p50/p99 latency, errors, and the server's resident memory
#     at the start and the end. The same against the peer, scikit-learn's pipeline behind
#     Python's ThreadingHTTPServer (bench/serve_peer.py), on the same features (TF-IDF word
#     1-2-grams, C=10) and the same body; the ratio duet/peer.
#  2. Generation with the llama2.c stories260K model: tokens/s with 1 and with 4 concurrent
#     streams (server-sent events, counted as they arrive).
# Needs wrk, curl and python3-sklearn (installed when missing). Never gates anything.
set -e
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30}
CONNS=${CONNS:-16}
out=build/bench
mkdir -p $out
py=/usr/bin/python3
duet=$PWD/duet
if ! command -v wrk >/dev/null || ! command -v curl >/dev/null || ! $py -c 'import sklearn' 2>/dev/null; then
    echo "bench: installing wrk curl python3-sklearn"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk curl python3-sklearn >/dev/null
fi
. bench/blas_env.sh
sms=data/sms_spam/SMSSpamCollection
st=data/llama2c_tinyllamas
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done' EXIT

rss() { awk '/^VmRSS/ {print $2 / 1024}' /proc/$1/status; }
# wrk_run NAME URL PID: one line of figures
wrk_run() {
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @- "$2v1/classify" <<EOF
{"model":"spam","input":"warm up"}
EOF
    r0=$(rss $3)
    wrk -t2 -c$CONNS -d${DURATION}s --latency -s bench/classify.lua "$2v1/classify" > $out/wrk_$1.txt
    r1=$(rss $3)
    # latencies in ms whatever unit wrk printed
    f=$out/wrk_$1.txt
    lat() { awk -v p="$1" '$1 == p { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
            print (u == "us" ? v / 1000 : u == "s" ? v * 1000 : v) }' $f; }
    rps=$(awk '/^Requests\/sec/ {print $2}' $f)
    n=$(awk '/requests in/ {print $1}' $f)
    errs=$(awk '/Non-2xx/ {s += $NF} /Socket errors/ {gsub(/[^0-9 ]/, " "); s += $1 + $2 + $3 + $4} END {print s + 0}' $f)
    printf "%-22s %10s %10s %9s %9s %7s %9.1f %9.1f\n" "$1" "$n" "$rps" "$(lat 50%)" "$(lat 99%)" "$errs" "$r0" "$r1"
    eval "rps_$1=$rps"
}

echo "bench: training the spam filters"
$duet train $sms --C 10 --char-ngram none -o $out/spam.duet --quiet
$duet serve $out/spam.duet $st/stories260K.bin --tokenizer $st/tok512.bin --port 0 --quiet >$out/serve.out 2>&1 &
spid=$!; pids="$pids $spid"
$py bench/serve_peer.py $sms 18931 >$out/peer.out 2>&1 &
ppid=$!; pids="$pids $ppid"
i=0
until grep -q listening $out/serve.out && grep -q listening $out/peer.out; do
    i=$((i + 1)); [ $i -lt 600 ] || { echo "bench: servers did not start"; cat $out/serve.out $out/peer.out; exit 1; }
    sleep 0.1
done
url=$(sed -n 's/.*listening on \(http:[^ ]*\/\).*/\1/p' $out/serve.out)

echo
echo "POST /v1/classify, SMS spam logreg (TF-IDF word 1-2-grams, C=10), wrk ${DURATION} s, $CONNS connections, 2 threads"
printf "%-22s %10s %10s %9s %9s %7s %9s %9s\n" server requests req/s "p50 ms" "p99 ms" errors "RSS0 MB" "RSS1 MB"
wrk_run duet "$url" $spid
wrk_run sklearn_http "http://127.0.0.1:18931/" $ppid
awk -v a="$rps_duet" -v b="$rps_sklearn_http" 'BEGIN {printf "requests/s duet / peer: %.1fx\n", a / b}'
kill $ppid; ppid=""

# generation: N concurrent streams of 256 tokens; tokens/s over all of them
gen() {
    n=$1
    t0=$(date +%s.%N)
    cps=""
    for k in $(seq $n); do
        curl -s -N "${url}v1/completions" -H 'Content-Type: application/json' \
            -d "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":256,\"temperature\":1,\"seed\":$k,\"stream\":true}" \
            > $out/gen_$k.txt &
        cps="$cps $!"
    done
    wait $cps
    t1=$(date +%s.%N)
    tok=$(cat $(seq -f "$out/gen_%g.txt" $n) | grep -c '"text":"[^"]')
    awk -v n=$n -v tok=$tok -v s="$(echo "$t1 - $t0" | bc)" 'BEGIN {printf "%-10d %10d %10.3f %12.0f %14.0f\n", n, tok, s, tok / s, tok / s / n}'
}
echo
echo "generation, stories260K (llama2.c), 256 tokens a stream, temperature 1, server-sent events; 2 workers"
printf "%-10s %10s %10s %12s %14s\n" streams tokens seconds "tokens/s" "per stream"
gen 1 >/dev/null # warm up
for n in 1 4; do
    for r in 1 2 3; do gen $n; done | sort -k4 -n | sed -n 2p # the median of 3
done
