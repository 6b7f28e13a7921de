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
# req METHOD PATH [BODY|- [curl options...]]: the answer in $t/out, the status in $code (000 when
# none came within 120 s: a server that hangs fails the check instead of stalling the test)
req() {
    m=$1; p=$2; b=${3:--}; shift 2; [ $# -gt 0 ] && shift
    if [ "$b" != - ]; then code=$(curl -s --max-time 120 -o "$t/out" -w '%{http_code}' -X "$m" "$@" "$url${p#/}" --data-binary "$b");
    else code=$(curl -s --max-time 120 -o "$t/out" -w '%{http_code}' -X "$m" "$@" "$url${p#/}"); fi
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
# metric SERIES [curl options...]: the value of SERIES (a name with its labels, as GET /metrics
# writes it) on the server at $url; empty when it is not listed
metric() { mn=$1; shift; curl -s --max-time 30 "$@" "${url}metrics" | awk -v n="$mn" 'index($0, n " ") == 1 { print $2 }'; }
# await DESC SERIES VALUE [curl options...]: waits until SERIES reads VALUE; 60 s at most, a bound
# on a hang, not a timing (where a check relies on it, the work it waits for takes far longer)
await() {
    d=$1; an=$2; av=$3; shift 3
    end=$(($(date +%s) + 60))
    while v=$(metric "$an" "$@"); [ "$v" != "$av" ]; do
        if [ "$(date +%s)" -ge $end ]; then bad "$d: $an is '$v', not $av, after 60 s"; return 1; fi
        sleep 0.1
    done
    ok
}
# rawconn PORT RAW [FILE]: on a new connection to PORT, sends RAW (a printf format), touches FILE,
# then reads until the server closes the connection: prints "closed", or "open" when it was still
# open after 30 s of silence
rawconn() {
    bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf "$2" >&3; [ -n "$3" ] && : > "$3"
             while :; do IFS= read -r -t 30 -d "" x <&3; r=$?; [ $r -gt 128 ] && { echo open; exit 1; }; [ $r -ne 0 ] && break; done
             echo closed' sh "$@"
}

# --- models: a spam filter (logreg, and nb that also scores), a llama2.c story model, an image
# VAE, and a naive Bayes model of a small table
sms=data/sms_spam/SMSSpamCollection
st=data/llama2c_tinyllamas
awk 'NR <= 2000' $sms > "$t/sms.tsv"
$duet train "$t/sms.tsv" --C 10 -o "$t/spam.duet" --quiet && ok || bad "train spam"
$duet train "$t/sms.tsv" --model nb -o "$t/spamnb.duet" --quiet && ok || bad "train nb"
$duet train data/fashion_mnist/t1k-images-idx3-ubyte.gz --labels data/fashion_mnist/t1k-labels-idx1-ubyte.gz --model vae \
    --conditional --epochs 1 -o "$t/fashion.duet" --quiet && ok || bad "train vae"
# (random numbers from awk's own rand() differ between awks: a Park-Miller generator instead,
# exact in doubles, the same everywhere)
awk 'function rnd() { s = (s * 16807) % 2147483647; return s / 2147483647 }
     BEGIN { s = 3; print "age,job,hours,income";
             for (i = 0; i < 200; i++) { a = 20 + int(rnd() * 50); j = rnd() < 0.5 ? "clerk" : "manager";
                                         h = 20 + int(rnd() * 40); print a "," j "," h "," ((j == "manager" && h > 35) ? "high" : "low") } }' \
    > "$t/people.csv"
$duet train "$t/people.csv" --model nb -o "$t/people.duet" --quiet && ok || bad "train table nb"
# a table of one column (and the label): a missing value there once made a blank line, no row
awk -F, 'NR == 1 { print "job,income" } NR > 1 { print $2 "," $4 }' "$t/people.csv" > "$t/jobs.csv"
$duet train "$t/jobs.csv" --header yes --model nb -o "$t/jobs.duet" --quiet && ok || bad "train one-column nb"
# a number: hours from age and job, by gradient-boosted trees (40 whole numbers would be classes
# unless told)
awk -F, 'NR == 1 { print "age,job,hours" } NR > 1 { print $1 "," $2 "," $3 }' "$t/people.csv" > "$t/hours.csv"
$duet train "$t/hours.csv" --model gbdt --task regression --min-leaf 5 -o "$t/hours.duet" --quiet && ok || bad "train gbdt regressor"

serve main "$t/spam.duet" "$t/spamnb.duet" $st/stories260K.bin "$t/fashion.duet" "$t/people.duet" "$t/jobs.duet" "$t/hours.duet" --tokenizer $st/tok512.bin \
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
# --- predict: a regressor's number (and a classifier's answer there too)
expect 200 "predict a number" POST /v1/predict '{"model":"hours","input":{"age":30,"job":"manager"},"explain":2}'
contains "predict value" '"value":[0-9]'; contains "predict explanation" '"explanation":\[{"feature":"'
expect 200 "predict a batch of numbers" POST /v1/predict '{"model":"hours","input":[[30,"manager"],[50,"clerk"]]}'
contains "predict batch" '"data":\[{"value":'
expect 200 "predict with a classifier" POST /v1/predict '{"model":"people","input":[45,"clerk",50]}'; contains "predict label" '"label":"low"'
expect 400 "classify with a regressor" POST /v1/classify '{"model":"hours","input":[30,"manager"]}'
contains "classify regressor message" "predicts a number, not a class: POST /v1/predict"
expect 200 "models says regression" GET /v1/models; contains "models task" '"task":"regression"'
expect 400 "predict with a language model" POST /v1/predict '{"model":"stories260K","input":"Once upon a time"}'
contains "predict language model message" 'is a language model: POST /v1/classify'
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
curl -s --max-time 120 -D "$t/hdr" -o /dev/null "${url}v1/completions" -d '{"model":"stories260K","max_tokens":3,"stream":true,"seed":1}'
grep -qi '^content-type: text/event-stream' "$t/hdr" && ok || bad "stream content type"
expect 200 "stop" POST /v1/completions '{"model":"stories260K","prompt":"Once upon a time","max_tokens":200,"temperature":0,"stop":["Lily"]}'
contains "stop finish" '"finish_reason":"stop"'; lacks "stop text" 'Lily'
expect 200 "stop stream" POST /v1/completions '{"model":"stories260K","prompt":"Once upon a time","max_tokens":200,"temperature":0,"stop":"Lily","stream":true}'
lacks "stop stream text" 'Lily'; contains "stop stream finish" '"finish_reason":"stop"'
expect 200 "stream with usage" POST /v1/completions '{"model":"stories260K","max_tokens":5,"seed":2,"stream":true,"stream_options":{"include_usage":true}}'
contains "usage chunk" '"choices":\[\],"usage":{"prompt_tokens":'
expect 400 "stream_options type" POST /v1/completions '{"model":"stories260K","stream":true,"stream_options":3}'
expect 200 "seeded" POST /v1/completions '{"model":"stories260K","max_tokens":30,"temperature":1,"top_p":0.9,"seed":7}'
a=$(texts)
expect 200 "seeded again" POST /v1/completions '{"model":"stories260K","max_tokens":30,"temperature":1,"top_p":0.9,"seed":7}'
[ -n "$a" ] && [ "$(texts)" = "$a" ] && ok || bad "same seed, other text: '$a' / '$(texts)'"
expect 200 "chat" POST /v1/chat/completions '{"model":"stories260K","messages":[{"role":"system","content":"You tell stories."},{"role":"user","content":"Tell me about a dog."}],"max_tokens":20,"temperature":0}'
contains "chat object" '"object":"chat.completion"'; contains "chat role" '"role":"assistant","content":"'
expect 200 "chat stream" POST /v1/chat/completions '{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"seed":3,"stream":true}'
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
expect 200 "image grid" POST /v1/images/generations '{"model":"fashion","n":4,"grid":true,"seed":2}'
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
# raw control characters inside JSON strings (RFC 8259 forbids them; a NUL once cut a string
# short and led the server to a freed dataset): 400, naming the field, for every byte 0x00-0x1f
i=0
while [ $i -lt 32 ]; do
    printf "{\"model\":\"spam\",\"input\":[\"lunch?\",\"free\\$(printf %03o $i) prize\"]}" > "$t/ctl"
    expect 400 "raw control byte $i in a string" POST /v1/classify "@$t/ctl"
    contains "raw control byte $i: the field" '\\"input\[1\]\\": a raw control character (byte 0x'"$(printf %02x $i)"
    i=$((i + 1))
done
printf '{"model":"spam","input":["\014\000\000\000free prize","lunch?"]}' > "$t/ctl"
expect 400 "the NUL bytes that reached a freed dataset" POST /v1/classify "@$t/ctl"; contains "NUL" '\\"input\[0\]\\": a raw control character (byte 0x0c'
printf '{"model":"stories260K","messages":[{"role":"user","content":"Hi\001"}]}' > "$t/ctl"
expect 400 "a raw control byte in a chat message" POST /v1/chat/completions "@$t/ctl"; contains "chat" 'messages\[0\].content'
printf '{"model":"spam",\000"input":"x"}' > "$t/ctl"
expect 400 "a raw NUL between values" POST /v1/classify "@$t/ctl"; contains "between" 'between values'
expect 400 "an escaped form feed alone is an empty input" POST /v1/classify '{"model":"spam","input":["\f","lunch?"]}'; contains "blank" 'input: text 1 is empty'
expect 200 "escaped control characters are text" POST /v1/classify '{"model":"spam","input":["free\u0001prize\t","lunch?"]}'
expect 400 "an escaped NUL would cut a text short" POST /v1/classify '{"model":"spam","input":["free\u0000prize","lunch?"]}'
contains "escaped NUL" '\\"input\[0\]\\": \\\\u0000 (NUL)'
expect 400 "an escaped NUL in a model name" POST /v1/classify '{"model":"spam\u0000junk","input":"x"}'; contains "NUL model" '\\"model\\"'
expect 400 "more after the JSON value" POST /v1/classify '{"model":"spam","input":"hello"} trailing'; contains "trailing" 'more after its JSON value'
expect 400 "two JSON values" POST /v1/classify '{"model":"spam","input":"a"}{"model":"spam","input":"b"}'
expect 200 "whitespace after the JSON value" POST /v1/classify "$(printf '{"model":"spam","input":"hello"} \n ')"
# inputs the readers once dropped (a byte-order mark alone, a first cell "|...", a blank cell
# of a one-column table): each is a row
expect 200 "a byte-order mark alone is an input" POST /v1/classify '{"model":"spam","input":["\ufeff","hello"]}'
[ "$(grep -o '"label"' "$t/out" | wc -l)" -eq 2 ] && ok || bad "byte-order mark: not 2 answers: $(head -c 300 "$t/out")"
expect 200 "a first cell that starts with |" POST /v1/classify '{"model":"people","input":[[30,"|clerk",40],[50,"manager",60]]}'
[ "$(grep -o '"label"' "$t/out" | wc -l)" -eq 2 ] && ok || bad "'|' cell: not 2 answers: $(head -c 300 "$t/out")"
expect 200 "missing and blank cells of a one-column table" POST /v1/classify '{"model":"jobs","input":[[null],[" "],["clerk"]]}'
[ "$(grep -o '"label"' "$t/out" | wc -l)" -eq 3 ] && ok || bad "one-column blanks: not 3 answers: $(head -c 300 "$t/out")"
python3 -c 'import sys; sys.stdout.buffer.write(b"{\"" + b"a" * 39 + "\u00e9".encode() + b"\":\"\x01\"}")' > "$t/ctl" 2>/dev/null &&
    { expect 400 "a long key cut inside a character" POST /v1/classify "@$t/ctl"; iconv -f UTF-8 -t UTF-8 "$t/out" >/dev/null 2>&1 && ok || bad "the error is not UTF-8: $(head -c 300 "$t/out")"; }
alive "raw control characters"
expect 400 "zero-shot without labels" POST /v1/classify '{"model":"stories260K","input":"x"}'
expect 404 "unknown model" POST /v1/classify '{"model":"nope","input":"x"}'; contains "404 json" '"code":"not_found"'
expect 404 "unknown path" GET /v2/nothing
expect 405 "wrong method" GET /v1/classify
head -c 200000 /dev/zero | tr '\0' 'a' > "$t/big"
# (curl sends the body only once the server says to: the server answers 413 from the headers and
# closes, and a body still arriving then would reset the connection, losing the answer at times)
expect 413 "huge body" POST /v1/classify "@$t/big" -H 'Expect: 100-continue' --expect100-timeout 60
code=$(curl -s --max-time 120 -o "$t/out" -w '%{http_code}' -H 'Transfer-Encoding: chunked' "${url}v1/classify" --data-binary @"$t/big")
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
awk -v chars='{}[]":,0123456789.eE-tfnul \\x' 'function rnd() { s = (s * 16807) % 2147483647; return s / 2147483647 }
     BEGIN { s = 11 }
     { path[NR] = $1; body[NR] = substr($0, length($1) + 2) }
     END { for (i = 0; i < 240; i++) {
             k = 1 + int(rnd() * NR); b = body[k]; n = 1 + int(rnd() * 4)
             for (m = 0; m < n; m++) {
               p = 1 + int(rnd() * length(b)); r = rnd(); c = substr(chars, 1 + int(rnd() * length(chars)), 1)
               if (r < 0.4) b = substr(b, 1, p - 1) substr(b, p + 1)
               else if (r < 0.7) b = substr(b, 1, p) c substr(b, p + 1)
               else b = substr(b, 1, p - 1) c substr(b, p + 1)
             }
             print path[k] " " b } }' "$t/seeds" > "$t/mangled"
while IFS= read -r line; do
    code=$(curl -s --max-time 120 -o "$t/out" -w '%{http_code}' "$url${line%% *}" --data-binary "${line#* }")
    case $code in 200|400|404|413) ;; *) echo "$code $line" >> "$t/odd"; [ "$code" = 000 ] && break ;; esac
done < "$t/mangled"
[ ! -s "$t/odd" ] && ok || bad "mangled bodies: $(head -c 600 "$t/odd")"
alive "240 mangled bodies"
# a slow client: half a request, then silence; the server closes it (--idle-timeout 1) and serves
# others meanwhile. What is checked is that the server closes it, not how soon (30 s at most).
port=$(echo "$url" | sed 's/.*:\([0-9]*\)\/$/\1/')
rawconn "$port" 'POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"mo' "$t/sent" > "$t/slow" 2>&1 &
slow=$!
i=0; while [ ! -e "$t/sent" ] && kill -0 $slow 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$t/sent" ] && ok || bad "a slow client could not connect: $(cat "$t/slow")"
alive "a slow client holds a connection"
wait $slow
[ "$(cat "$t/slow")" = closed ] && ok || bad "a slow client: the server did not close its connection: $(cat "$t/slow")"
[ "$(rawconn "$port" 'GET /hea')" = closed ] && ok || bad "partial request line: the server did not close the connection"
expect 200 "metrics" GET /metrics
contains "metrics requests" 'duet_requests_total{path="/v1/classify",code="200"}'
contains "metrics 413" 'code="413"'
contains "metrics histogram" 'duet_request_duration_seconds_bucket{le="+Inf"}'
contains "metrics tokens" 'duet_generated_tokens_total [1-9]'
contains "metrics tokens/s" 'duet_tokens_per_second [1-9]'
kill -TERM $pid; i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $pid 2>/dev/null; then bad "SIGTERM did not stop the server within 30 s"; else wait $pid; rc=$?; [ $rc -eq 0 ] && ok || bad "server exit status $rc"; fi

# long work that no machine finishes soon, so that the checks below do not depend on its speed:
# zero-shot classification of 2000 texts of 430 characters among 32 labels (about 10 minutes on
# one core; the servers' --timeout ends it long before)
awk 'BEGIN { printf "{\"model\":\"stories260K\",\"labels\":["
             for (k = 0; k < 32; k++) printf "%s\"label %d\"", k ? "," : "", k
             printf "],\"input\":["
             for (i = 0; i < 2000; i++) {
                 printf "%s\"%d", i ? "," : "", i
                 for (r = 0; r < 10; r++) printf " the little dog ran to the park and played"
                 printf "\""
             }
             print "]}" }' > "$t/many.json"

# --- the API key, and an overloaded server: one worker, a queue of one
serve keyed "$t/spam.duet" $st/stories260K.bin --tokenizer $st/tok512.bin --api-key sekret --threads 1 --queue 1 \
    --max-tokens 4000000 || exit 1
auth='Authorization: Bearer sekret'
expect 401 "no key" GET /v1/models; contains "401 json" '"type":"authentication_error"'
expect 401 "wrong key" POST /v1/classify '{"input":"x"}' -H 'Authorization: Bearer nope'
expect 401 "metrics need the key" GET /metrics
expect 200 "right key" GET /v1/models - -H "$auth"
expect 200 "health needs none" GET /health
expect 200 "page needs none" GET /
# the worker taken by one long request, the queue filled by another (the metrics say when), then
# one more is refused with 503; the two clients then leave, and the worker is free again
curl -s -o /dev/null --max-time 300 -H "$auth" "${url}v1/classify" --data-binary "@$t/many.json" &
l1=$!
await "overload: a long request takes the worker" duet_busy_workers 1 -H "$auth"
curl -s -o /dev/null --max-time 300 -H "$auth" "${url}v1/classify" --data-binary "@$t/many.json" &
l2=$!
await "overload: another waits in the queue" duet_queue_jobs 1 -H "$auth"
expect 503 "overload: the worker taken and the queue full" POST /v1/classify '{"model":"spam","input":"free prize"}' -H "$auth"
contains "503 json" '"code":"overloaded"'
kill $l1 $l2 2>/dev/null; { wait $l1 $l2; } 2>/dev/null
await "overload: both clients left (499)" 'duet_requests_total{path="/v1/classify",code="499"}' 2 -H "$auth"
await "overload: the worker is free again" duet_busy_workers 0 -H "$auth"
await "overload: the queue is empty again" duet_queue_jobs 0 -H "$auth"
expect 200 "answered after the overload" POST /v1/classify '{"model":"spam","input":"free prize"}' -H "$auth"
alive "overload"
# a client that leaves after the first event of a stream: the worker stops generating. Greedy
# decoding after "and and and" repeats itself and never ends the story (checked on 2000 tokens),
# so the stream's 4,000,000 tokens would take the worker many minutes unless it stops; it stops
# within tens of tokens (100,000 is the bound: below the 64 MiB of unsent events, about 400,000
# tokens, at which a server that missed the leaving would stop anyway)
expect 200 "greedy after 'and and and'" POST /v1/completions '{"model":"stories260K","prompt":"and and and","max_tokens":2000,"temperature":0}' -H "$auth"
contains "greedy after 'and and and' does not end the story" '"finish_reason":"length"'
before=$(metric duet_generated_tokens_total -H "$auth")
body='{"model":"stories260K","prompt":"and and and","max_tokens":4000000,"temperature":0,"stream":true}'
port=$(echo "$url" | sed 's/.*:\([0-9]*\)\/$/\1/')
bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
         printf "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekret\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" ${#2} "$2" >&3
         while IFS= read -r -t 30 line <&3; do case $line in data:*) exit 0;; esac; done; exit 1' sh "$port" "$body" &&
    ok || bad "a stream: no first event within 30 s"
await "a client left a stream: the worker stops generating" duet_busy_workers 0 -H "$auth"
after=$(metric duet_generated_tokens_total -H "$auth")
[ -n "$before" ] && [ -n "$after" ] && [ $((after - before)) -lt 100000 ] && ok ||
    bad "a client left after one event, yet '$before' -> '$after' tokens were generated (of 4000000)"
alive "a client left a stream"

# --- long work ends at --timeout and when its client leaves, whatever the endpoint
serve slow $st/stories260K.bin --tokenizer $st/tok512.bin --threads 1 --timeout 0.5 || exit 1
s0=$(date +%s)
expect 504 "classify past --timeout" POST /v1/classify "@$t/many.json"
[ $(($(date +%s) - s0)) -le 60 ] && ok || bad "classify ran $(($(date +%s) - s0)) s past a 0.5 s timeout"
expect 200 "the worker is free after a timeout" POST /v1/classify '{"input":"a dog","labels":["happy","sad"]}'
# a client that leaves once its request is running (--timeout 120, the default, ends it otherwise:
# the worker's going idle within 60 s shows that it stopped because the client left)
serve leave $st/stories260K.bin --tokenizer $st/tok512.bin --threads 1 || exit 1
curl -s -o /dev/null --max-time 300 "${url}v1/classify" --data-binary "@$t/many.json" &
l1=$!
await "a long request takes the worker" duet_busy_workers 1
kill $l1 2>/dev/null; { wait $l1; } 2>/dev/null
await "a client that left is counted (499)" 'duet_requests_total{path="/v1/classify",code="499"}' 1
await "the worker stops when its client leaves" duet_busy_workers 0
expect 200 "the worker is free after a client left" POST /v1/classify '{"input":"a dog","labels":["happy","sad"]}'
expect 200 "metrics" GET /metrics; contains "a client that left is counted" 'code="499"'

# --- command-line errors
$duet serve --port 0 >/dev/null 2>"$t/err" && bad "serve without a model" || { grep -q "one or more model" "$t/err" && ok || bad "no-model message: $(cat "$t/err")"; }
cp "$t/spam.duet" "$t/spam2.duet"; mkdir -p "$t/other"; cp "$t/spam.duet" "$t/other/spam.duet"
$duet serve "$t/spam.duet" "$t/other/spam.duet" --port 0 >/dev/null 2>"$t/err" && bad "duplicate ids" || { grep -q "both be served as 'spam'" "$t/err" && ok || bad "duplicate message: $(cat "$t/err")"; }
$duet serve "$t/missing.duet" --port 0 >/dev/null 2>"$t/err" && bad "missing model" || { grep -q "missing.duet" "$t/err" && ok || bad "missing message"; }
$duet serve "$t/spam.duet" --port 99999 >/dev/null 2>"$t/err" && bad "bad port" || { grep -q "\-\-port" "$t/err" && ok || bad "port message"; }
kport=$(echo "$url" | sed 's/.*:\([0-9]*\)\/$/\1/')
$duet serve "$t/spam.duet" --port "$kport" --host 127.0.0.1 >/dev/null 2>"$t/err" &
p2=$!; i=0
while kill -0 $p2 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $p2 2>/dev/null; then kill $p2; bad "a second server on a taken port (still running after 30 s)"; else wait $p2; grep -q "cannot listen" "$t/err" && ok || bad "port in use: $(cat "$t/err")"; fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
