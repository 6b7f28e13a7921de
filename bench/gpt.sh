#!/bin/sh
# The language model against PyTorch (Debian python3-torch) on the CPU, and generation speed.
#  1. Training: nanoGPT's Tiny Shakespeare CPU configuration (4 layers, 4 heads, width 128,
#     context 64, batch 12) for STEPS steps, duet and bench/gpt_torch.py (the same architecture,
#     optimizer and batch) at the same thread count (1 and all cores); training tokens/s as each
#     program measures it, and the ratio duet/PyTorch (> 1: duet is faster).
#  2. Generation with the KV cache, tokens/s: stories260K (llama2.c), the model trained in 1, and
#     a randomly initialised ~110M-parameter model (GPT-2 small's shape with a 2x MLP and GPT-2's
#     50257-token vocabulary), with the bound memory bandwidth puts on it: every weight is read
#     once per token, so tokens/s <= bandwidth / weight bytes.
# Never gates anything. Needs python3-torch (installed when missing).
set -e
cd "$(dirname "$0")/.."
STEPS=${STEPS:-300}
SHARED=${DUET_SHARED_DATA:-../shared/data}
duet=$PWD/duet
. bench/blas_env.sh
py=/usr/bin/python3
out=build/bench
mkdir -p $out
corpus=data/tinyshakespeare/input.txt
if ! $py -c 'import torch' 2>/dev/null; then
    echo "bench: installing python3-torch"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch >/dev/null
fi
cores=$(nproc)
cfg="--layers 4 --heads 4 --dim 128 --context 64 --batch 12 --steps $STEPS"

echo "== training: Tiny Shakespeare, char level, $cfg"
printf "%-8s %14s %14s %8s\n" threads duet_tok/s torch_tok/s ratio
for th in 1 $cores; do
    $duet train $corpus --model gpt $cfg --eval-every 100000 --eval-batches 1 --threads $th -o $out/gpt.duet --quiet > $out/gpt.txt
    d=$(sed -n 's/.* \([0-9]*\) tokens\/s.*/\1/p' $out/gpt.txt)
    t=$($py bench/gpt_torch.py $corpus $cfg --threads $th | sed -n 's/.*tokens\/s \([0-9]*\).*/\1/p')
    printf "%-8s %14s %14s %8s\n" $th "$d" "$t" "$(awk -v a=$d -v b=$t 'BEGIN {printf "%.2fx", a/b}')"
done

echo "== generation with the KV cache ($cores threads)"
cc -O2 -mavx2 -fopenmp bench/membw.c -o $out/membw
bw=$($out/membw)
echo "memory read bandwidth: $bw GB/s"
gen() { # NAME MODEL N [more flags]
    name=$1 model=$2 n=$3; shift 3
    $duet generate $model -n $n --temperature 0 "$@" 2>$out/gen.err >/dev/null
    sed -n 's/^\([0-9]*\) tokens in \([0-9.]*\) s (\([0-9.]*\) tokens\/s).*/\3/p' $out/gen.err
}
printf "%-34s %12s %12s %14s %8s\n" model params tok/s bound_tok/s share
row() { # NAME PARAMS TOKS BYTES_PER_TOKEN
    bound=$(awk -v bw=$bw -v b=$4 'BEGIN {printf "%.1f", bw * 1e9 / b}')
    printf "%-34s %12s %12s %14s %8s\n" "$1" $2 $3 $bound "$(awk -v a=$3 -v b=$bound 'BEGIN {printf "%.0f%%", 100 * a / b}')"
}
st=data/llama2c_tinyllamas
r=$(gen stories260K $st/stories260K.bin 256 --tokenizer $st/tok512.bin)
row "stories260K (llama2.c)" 260K $r $((260000 * 4))
r=$(gen trained $out/gpt.duet 512)
row "Tiny Shakespeare model (above)" 0.80M $r $((800000 * 4))
if [ -f $SHARED/gpt2_bpe/encoder.json ]; then
    head -c 200000 $corpus > $out/small.txt
    [ -f $out/gpt110m.duet ] || $duet train $out/small.txt --model gpt --tokenizer $SHARED/gpt2_bpe --layers 12 --heads 12 \
        --dim 768 --hidden 1536 --context 256 --batch 1 --steps 1 --eval-every 1000 --eval-batches 1 --val-share 0.05 \
        -o $out/gpt110m.duet --quiet >/dev/null
    p=$($duet info $out/gpt110m.duet | sed -n 's/^ *params *\([0-9]*\)/\1/p')
    r=$(gen random110M $out/gpt110m.duet 128 --prompt "ROMEO:")
    row "random ~110M (GPT-2 vocabulary)" $p $r $((p * 4))
else
    echo "random ~110M: skipped ($SHARED/gpt2_bpe missing)"
fi
