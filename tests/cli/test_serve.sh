#!/bin/sh
# `duet serve` over real HTTP on a loopback port: every endpoint, streaming, the API key, the
# limits, bad bodies and slow clients, and that the server keeps answering after each of them.
# usage: sh tests/cli/test_serve.sh ./duet       last line: "N passed, N failed"
duet=${1:-./duet}
case $duet in /*) ;; *) duet=$PWD/$duet ;; esac
if ! command -v curl >/dev/null 2>&1; then
    echo "skipped: needs curl (make test-deps installs it)" >&2
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
t=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$t"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
contains() { d=$1; frag=$2; if grep -q -- "$frag" "$t/out"; then ok; else bad "$d: answer lacks '$frag': $(head -c 300 "$t/out")"; fi; }
lacks() { d=$1; frag=$2; if grep -q -- "$frag" "$t/out"; then bad "$d: answer has '$frag'"; else ok; fi; }

# serve NAME ARGS...: starts `duet serve ARGS --port 0`, waits for its address; sets $url, $pid
serve() {
    name=$1; shift
    $duet serve "$@" --port 0 >"$t/$name.out" 2>"$t/$name.err" &
    pid=$!
    pids="$pids $pid"
    i=0
    while ! grep -q "listening on" "$t/$name.out" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 $pid 2>/dev/null; then bad "$name: the server did not start: $(cat "$t/$name.err")"; url=""; return 1; fi
        sleep 0.1
    done
    url=$(sed -n 's/.*listening on \(http:[^ ]*\/\).*/\1/p' "$t/$name.out")
    ok
}
# req METHOD PATH [BODY|- [curl options...]]: the answer in $t/out, the status in $code
req() {
    m=$1; p=$2; b=${3:--}; shift 2; [ $# -gt 0 ] && shift
    if [ "$b" != - ]; then code=$(curl -s -o "$t/out" -w '%{http_code}' -X "$m" "$@" "$url${p#/}" --data-binary "$b");
    else code=$(curl -s -o "$t/out" -w '%{http_code}' -X "$m" "$@" "$url${p#/}"); fi
}
# expect CODE DESC METHOD PATH [BODY] [curl options...]
expect() {
    want=$1; d=$2; shift 2
    req "$@"
    [ "$code" = "$want" ] && ok || bad "$d: status $code, not $want: $(head -c 300 "$t/out")"
}
alive() { expect 200 "still answering after $1" GET /health; }
# the text of every "text" field in $t/out, joined (the stories model writes no quotes or escapes)
texts() { sed -n 's/.*"text":"\([^"\\]*\)".*/\1/p' "$t/out" | tr -d '\n'; }

# --- models: a spam filter (logreg, and nb that also scores), a llama2.c story model, an image
# VAE, and a naive Bayes model of a small table
sms=data/sms_spam/SMSSpamCollection
st=data/llama2c_tinyllamas
awk 'NR <= 2000' $sms > "$t/sms.tsv"
$duet train "$t/sms.tsv" --C 10 -o "$t/spam.duet" --quiet && ok || bad "train spam"
$duet train "$t/sms.tsv" --model nb -o "$t/spamnb.duet" --quiet && ok || bad "train nb"
$duet train data/fashion_mnist/t1k-images-idx3-ubyte.gz --labels data/fashion_mnist/t1k-labels-idx1-ubyte.gz --model vae \
    --conditional --epochs 1 -o "$t/fashion.duet" --quiet && ok || bad "train vae"
awk 'BEGIN { srand(3); print "age,job,hours,income";
             for (i = 0; i < 200; i++) { a = 20 + int(rand() * 50); j = rand() < 0.5 ? "clerk" : "manager";
                                         h = 20 + int(rand() * 40); print a "," j "," h "," ((j == "manager" && h > 35) ? "high" : "low") } }' \
    > "$t/people.csv"
$duet train "$t/people.csv" --model nb -o "$t/people.duet" --quiet && ok || bad "train table nb"

serve main "$t/spam.duet" "$t/spamnb.duet" $st/stories260K.bin "$t/fashion.duet" "$t/people.duet" --tokenizer $st/tok512.bin \
    --threads 2 --max-body 100000 --max-tokens 600 --idle-timeout 1 || { echo "$pass passed, $fail failed"; exit 1; }

# --- the plain GET endpoints
expect 200 "health" GET /health; contains "health" '"status":"ok"'
expect 200 "page" GET /; contains "page" '<title>duet</title>'; contains "page streams" 'getReader'
expect 200 "models" GET /v1/models
for id in spam spamnb stories260K fashion people; do contains "models lists $id" "\"id\":\"$id\""; done
contains "models: capabilities" '"capabilities":\["completions"'
contains "models: classes" '"classes":\["ham","spam"\]'
contains "models: columns" '"columns":\["age","job","hours"\]'

# --- classify: text, a batch, explanations, table rows in three shapes
expect 200 "classify" POST /v1/classify '{"model":"spam","input":"WINNER!! Claim your free prize now, call 09061701461","explain":3}'
contains "classify label" '"label":"spam"'; contains "classify probabilities" '"probabilities":{"ham":'
contains "classify explanation" '"explanation":\[{"feature":'
expect 200 "classify batch" POST /v1/classify '{"model":"spamnb","input":["free entry to win cash","see you at lunch"]}'
contains "batch" '"data":\[{"label":"spam".*{"label":"ham"'
expect 200 "classify row (text)" POST /v1/classify '{"model":"people","input":"45, manager, 50","explain":2}'
contains "row text" '"label":"high"'; contains "row explained" '"feature":"job=manager"'
expect 200 "classify row (array)" POST /v1/classify '{"model":"people","input":[45,"clerk",50]}'; contains "row array" '"label":"low"'
expect 200 "classify row (object)" POST /v1/classify '{"model":"people","input":{"age":30,"job":"manager","hours":60}}'
contains "row object" '"label":"high"'
expect 200 "classify zero-shot" POST /v1/classify '{"model":"stories260K","input":"The cat was happy.","labels":["happy","sad"]}'
contains "zero-shot" '"probabilities":{"happy":'

# --- completions: the served text is the command line's, streamed or not
$duet generate $st/stories260K.bin --tokenizer $st/tok512.bin --prompt "Once upon a time" --temperature 0 -n 40 --quiet > "$t/cli.txt"
gold=$(tr -d '\n' < "$t/cli.txt" | sed 's/^Once upon a time//')
expect 200 "completion" POST /v1/completions '{"model":"stories260K","prompt":"Once upon a time","max_tokens":40,"temperature":0}'
contains "completion object" '"object":"text_completion"'; contains "completion usage" '"completion_tokens":40'
contains "completion finish" '"finish_reason":"length"'
[ "$(texts)" = "$gold" ] && ok || bad "completion: '$(texts)' is not duet generate's '$gold'"
expect 200 "stream" POST /v1/completions '{"model":"stories260K","prompt":"Once upon a time","max_tokens":40,"temperature":0,"stream":true}'
[ "$(head -c 6 "$t/out")" = "data: " ] && ok || bad "stream: not server-sent events"
[ "$(grep -v '^$' "$t/out" | tail -n 1)" = "data: [DONE]" ] && ok || bad "stream does not end with data: [DONE]"
[ "$(grep -c '^data: {' "$t/out")" -ge 10 ] && ok || bad "stream: fewer than 10 events"
[ "$(texts)" = "$gold" ] && ok || bad "stream text '$(texts)' is not '$gold'"
curl -s -D "$t/hdr" -o /dev/null "${url}v1/completions" -d '{"model":"stories260K","max_tokens":3,"stream":true}'
grep -qi '^content-type: text/event-stream' "$t/hdr" && ok || bad "stream content type"
expect 200 "stop" POST /v1/completions '{"model":"stories260K","prompt":"Once upon a time","max_tokens":200,"temperature":0,"stop":["Lily"]}'
contains "stop finish" '"finish_reason":"stop"'; lacks "stop text" 'Lily'
expect 200 "stop stream" POST /v1/completions '{"model":"stories260K","prompt":"Once upon a time","max_tokens":200,"temperature":0,"stop":"Lily","stream":true}'
lacks "stop stream text" 'Lily'; contains "stop stream finish" '"finish_reason":"stop"'
expect 200 "stream with usage" POST /v1/completions '{"model":"stories260K","max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}'
contains "usage chunk" '"choices":\[\],"usage":{"prompt_tokens":'
expect 400 "stream_options type" POST /v1/completions '{"model":"stories260K","stream":true,"stream_options":3}'
expect 200 "seeded" POST /v1/completions '{"model":"stories260K","max_tokens":30,"temperature":1,"top_p":0.9,"seed":7}'
a=$(texts)
expect 200 "seeded again" POST /v1/completions '{"model":"stories260K","max_tokens":30,"temperature":1,"top_p":0.9,"seed":7}'
[ -n "$a" ] && [ "$(texts)" = "$a" ] && ok || bad "same seed, other text: '$a' / '$(texts)'"
expect 200 "chat" POST /v1/chat/completions '{"model":"stories260K","messages":[{"role":"system","content":"You tell stories."},{"role":"user","content":"Tell me about a dog."}],"max_tokens":20,"temperature":0}'
contains "chat object" '"object":"chat.completion"'; contains "chat role" '"role":"assistant","content":"'
expect 200 "chat stream" POST /v1/chat/completions '{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"stream":true}'
contains "chat chunk" '"object":"chat.completion.chunk"'; contains "chat delta" '"delta":{"role":"assistant"'
[ "$(grep -v '^$' "$t/out" | tail -n 1)" = "data: [DONE]" ] && ok || bad "chat stream end"

# --- score and images
expect 200 "score lm" POST /v1/score '{"model":"stories260K","input":"Once upon a time there was a little girl."}'
contains "score perplexity" '"perplexity":'
expect 200 "score nb" POST /v1/score '{"model":"spamnb","input":["free prize","hello"]}'; contains "score logp" '"logp":\[-'
expect 200 "images" POST /v1/images/generations '{"model":"fashion","label":"bag","n":3,"seed":1}'
contains "images label" '"label":"bag"'
[ "$(grep -o '"b64_json"' "$t/out" | wc -l)" -eq 3 ] && ok || bad "images: not 3 images"
sed -n 's/.*"b64_json":"\([^"]*\)".*/\1/p' "$t/out" | base64 -d 2>/dev/null | head -c 4 | od -An -c | grep -q 'P   N   G' && ok ||
    bad "images: the first is not a PNG: $(head -c 200 "$t/out")"
expect 200 "image grid" POST /v1/images/generations '{"model":"fashion","n":4,"grid":true}'
[ "$(grep -o '"b64_json"' "$t/out" | wc -l)" -eq 1 ] && ok || bad "grid: not one image"

# --- bad requests: each a JSON error with the right status, and the server goes on
expect 400 "malformed JSON" POST /v1/classify '{"model": "spam", "input": '; contains "malformed" '"error":{"message":"the body is not valid JSON'
expect 400 "empty body" POST /v1/classify ''
expect 400 "not an object" POST /v1/completions '["a"]'
expect 400 "input type" POST /v1/classify '{"model":"spam","input":5}'
expect 400 "no input" POST /v1/classify '{"model":"spam"}'
expect 400 "model type" POST /v1/classify '{"model":7,"input":"x"}'
expect 400 "max_tokens type" POST /v1/completions '{"model":"stories260K","max_tokens":"ten"}'; contains "max_tokens" '\\"max_tokens\\" must be a number'
expect 400 "max_tokens limit" POST /v1/completions '{"model":"stories260K","max_tokens":100000}'
expect 400 "temperature range" POST /v1/completions '{"model":"stories260K","temperature":9}'
expect 400 "stream type" POST /v1/completions '{"model":"stories260K","stream":"yes"}'
expect 400 "stop type" POST /v1/completions '{"model":"stories260K","stop":[1,2]}'
expect 400 "messages missing" POST /v1/chat/completions '{"model":"stories260K"}'
expect 400 "not a language model" POST /v1/completions '{"model":"spam","prompt":"x"}'
expect 400 "cannot draw" POST /v1/images/generations '{"model":"spam"}'
expect 400 "unknown label" POST /v1/images/generations '{"model":"fashion","label":"cat"}'
expect 400 "too many images" POST /v1/images/generations '{"model":"fashion","n":100000}'
expect 400 "row width" POST /v1/classify '{"model":"people","input":[1,2]}'
expect 400 "unknown column" POST /v1/classify '{"model":"people","input":{"salary":3}}'
expect 400 "bad UTF-8" POST /v1/classify "$(printf '{"model":"spam","input":"\377\376"}')"
expect 400 "zero-shot without labels" POST /v1/classify '{"model":"stories260K","input":"x"}'
expect 404 "unknown model" POST /v1/classify '{"model":"nope","input":"x"}'; contains "404 json" '"code":"not_found"'
expect 404 "unknown path" GET /v2/nothing
expect 405 "wrong method" GET /v1/classify
head -c 200000 /dev/zero | tr '\0' 'a' > "$t/big"
expect 413 "huge body" POST /v1/classify "@$t/big"
code=$(curl -s -o "$t/out" -w '%{http_code}' -H 'Transfer-Encoding: chunked' "${url}v1/classify" --data-binary @"$t/big")
[ "$code" = 413 ] && ok || bad "huge chunked body: $code"
alive "bad requests"
# mangled bodies: valid requests with bytes deleted, inserted or replaced, to every endpoint;
# each gets an answer (200 or 4xx), never a dropped connection or a 5xx
cat > "$t/seeds" <<'EOF'
/v1/classify {"model":"spam","input":["free prize","hello there"],"explain":3}
/v1/classify {"model":"people","input":{"age":30,"job":"manager","hours":60}}
/v1/classify {"model":"stories260K","input":"a cat","labels":["happy","sad"],"template":"{text} is"}
/v1/completions {"model":"stories260K","prompt":["Once"],"max_tokens":5,"temperature":0.5,"top_p":0.9,"stop":["a","b"],"seed":1}
/v1/chat/completions {"model":"stories260K","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4}
/v1/images/generations {"model":"fashion","label":"bag","n":2,"grid":true,"seed":3}
/v1/score {"model":"spamnb","input":["free prize","hello"]}
EOF
awk -v chars='{}[]":,0123456789.eE-tfnul \\x' 'BEGIN { srand(11) }
     { path[NR] = $1; body[NR] = substr($0, length($1) + 2) }
     END { for (i = 0; i < 240; i++) {
             k = 1 + int(rand() * NR); b = body[k]; n = 1 + int(rand() * 4)
             for (m = 0; m < n; m++) {
               p = 1 + int(rand() * length(b)); r = rand(); c = substr(chars, 1 + int(rand() * length(chars)), 1)
               if (r < 0.4) b = substr(b, 1, p - 1) substr(b, p + 1)
               else if (r < 0.7) b = substr(b, 1, p) c substr(b, p + 1)
               else b = substr(b, 1, p - 1) c substr(b, p + 1)
             }
             print path[k] " " b } }' "$t/seeds" > "$t/mangled"
while IFS= read -r line; do
    code=$(curl -s -o "$t/out" -w '%{http_code}' "$url${line%% *}" --data-binary "${line#* }")
    case $code in 200|400|404|413) ;; *) echo "$code $line" >> "$t/odd" ;; esac
done < "$t/mangled"
[ ! -s "$t/odd" ] && ok || bad "mangled bodies: $(head -c 600 "$t/odd")"
alive "240 mangled bodies"
# a slow client: half a request, then silence; the server closes it and serves others meanwhile
port=$(echo "$url" | sed 's/.*:\([0-9]*\)\/$/\1/')
bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"mo' >&3; s=\$(date +%s); cat <&3 >/dev/null; echo \$((\$(date +%s) - s))" > "$t/slow" 2>&1 &
slow=$!
sleep 0.3
alive "a slow client holds a connection"
wait $slow
[ "$(cat "$t/slow")" -le 5 ] 2>/dev/null && ok || bad "slow client not closed within 5 s: $(cat "$t/slow")"
bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'GET /hea' >&3; cat <&3 >/dev/null" && ok || bad "partial request line"
# a client that leaves after the first event of a stream: the worker stops generating
req GET /metrics; before=$(sed -n 's/^duet_generated_tokens_total //p' "$t/out")
body='{"model":"stories260K","max_tokens":256,"temperature":1,"stream":true}'
bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${#body}\r\n\r\n%s' '$body' >&3;
         while read -r line <&3; do case \$line in data:*) break;; esac; done; exec 3>&-"
sleep 1
req GET /metrics; after=$(sed -n 's/^duet_generated_tokens_total //p' "$t/out")
echo "left-stream tokens: $((after - before))" >&2; [ $((after - before)) -lt 200 ] && ok || bad "a client left after one event, yet $((after - before)) of 256 tokens were generated"
alive "a client left a stream"
expect 200 "metrics" GET /metrics
contains "metrics requests" 'duet_requests_total{path="/v1/classify",code="200"}'
contains "metrics 413" 'code="413"'
contains "metrics histogram" 'duet_request_duration_seconds_bucket{le="+Inf"}'
contains "metrics tokens" 'duet_generated_tokens_total [1-9]'
contains "metrics tokens/s" 'duet_tokens_per_second [1-9]'
kill -TERM $pid; i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $pid 2>/dev/null; then bad "SIGTERM did not stop the server"; else wait $pid; rc=$?; [ $rc -eq 0 ] && ok || bad "server exit status $rc"; fi

# --- the API key, and an overloaded server: one worker, a queue of one
serve keyed "$t/spam.duet" $st/stories260K.bin --tokenizer $st/tok512.bin --api-key sekret --threads 1 --queue 1 || exit 1
expect 401 "no key" GET /v1/models; contains "401 json" '"type":"authentication_error"'
expect 401 "wrong key" POST /v1/classify '{"input":"x"}' -H 'Authorization: Bearer nope'
expect 401 "metrics need the key" GET /metrics
expect 200 "right key" GET /v1/models - -H 'Authorization: Bearer sekret'
expect 200 "health needs none" GET /health
expect 200 "page needs none" GET /
cp=""
for i in 1 2 3 4 5 6 7 8; do
    curl -s -o /dev/null -w '%{http_code}\n' -H 'Authorization: Bearer sekret' "${url}v1/completions" \
        -d '{"model":"stories260K","max_tokens":500,"temperature":1}' >> "$t/codes" &
    cp="$cp $!"
done
wait $cp
n200=$(grep -c '^200$' "$t/codes"); n503=$(grep -c '^503$' "$t/codes")
[ "$n503" -ge 1 ] && [ $((n200 + n503)) -eq 8 ] && ok || bad "overload: $n200 answered, $n503 refused with 503 (of 8): $(tr '\n' ' ' < "$t/codes")"
alive "overload"

# --- long work ends at --timeout and when its client leaves, whatever the endpoint
serve slow $st/stories260K.bin --tokenizer $st/tok512.bin --threads 1 --timeout 1 || exit 1
awk 'BEGIN { printf "{\"model\":\"stories260K\",\"labels\":[\"happy\",\"sad\"],\"input\":["
             for (i = 0; i < 6000; i++) printf "%s\"the little dog ran to the park and played %d\"", i ? "," : "", i; print "]}" }' > "$t/many.json"
s0=$(date +%s)
expect 504 "classify past --timeout" POST /v1/classify "@$t/many.json"
[ $(($(date +%s) - s0)) -le 4 ] && ok || bad "classify ran $(($(date +%s) - s0)) s past a 1 s timeout"
curl -s -o /dev/null --max-time 0.3 "${url}v1/classify" --data-binary "@$t/many.json"
s0=$(date +%s)
expect 200 "the worker is free after a client left" POST /v1/classify '{"input":"a dog","labels":["happy","sad"]}'
[ $(($(date +%s) - s0)) -le 3 ] && ok || bad "the next request waited $(($(date +%s) - s0)) s behind a request whose client left"
expect 200 "metrics" GET /metrics; contains "a client that left is counted" 'code="499"'

# --- command-line errors
$duet serve --port 0 >/dev/null 2>"$t/err" && bad "serve without a model" || { grep -q "one or more model" "$t/err" && ok || bad "no-model message: $(cat "$t/err")"; }
cp "$t/spam.duet" "$t/spam2.duet"; mkdir -p "$t/other"; cp "$t/spam.duet" "$t/other/spam.duet"
$duet serve "$t/spam.duet" "$t/other/spam.duet" --port 0 >/dev/null 2>"$t/err" && bad "duplicate ids" || { grep -q "both be served as 'spam'" "$t/err" && ok || bad "duplicate message: $(cat "$t/err")"; }
$duet serve "$t/missing.duet" --port 0 >/dev/null 2>"$t/err" && bad "missing model" || { grep -q "missing.duet" "$t/err" && ok || bad "missing message"; }
$duet serve "$t/spam.duet" --port 99999 >/dev/null 2>"$t/err" && bad "bad port" || { grep -q "\-\-port" "$t/err" && ok || bad "port message"; }
kport=$(echo "$url" | sed 's/.*:\([0-9]*\)\/$/\1/')
$duet serve "$t/spam.duet" --port "$kport" --host 127.0.0.1 >/dev/null 2>"$t/err" &
p2=$!; sleep 0.5
if kill -0 $p2 2>/dev/null; then kill $p2; bad "a second server on a taken port"; else wait $p2; grep -q "cannot listen" "$t/err" && ok || bad "port in use: $(cat "$t/err")"; fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
