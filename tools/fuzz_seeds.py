"""Writes the fuzz targets' seed inputs into tests/fuzz/seeds/TARGET/ (small, valid examples
of each format, so the fuzzers start deep inside the readers). Run from the repository root
after `make`: python3 tools/fuzz_seeds.py. The seeds are committed; this records how."""
import json
import os
import struct
import subprocess
import tempfile

root = "tests/fuzz/seeds"


def put(target, name, data):
    os.makedirs(f"{root}/{target}", exist_ok=True)
    with open(f"{root}/{target}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def two(a, b):
    """The two-file inputs: a 2-byte little-endian length of the first, then both."""
    return struct.pack("<H", len(a)) + a + b


# tables: the first byte picks header (bits 0-1), separator (bits 2-4) and unlabelled (bit 5)
put("table", "header.csv", b"\x02" + b"age,job,hours,income\n30,clerk,40,low\n50,manager,?,high\n45,\"man,ager\",50,high\n,clerk,20,low\n")
put("table", "semicolon.csv", b"\x08" + b"1.5;a;x\n2.5;b;y\nNA;a;x\n3e2;;y\n")
put("table", "tabs.tsv", b"\x0f" + b"x\ty\tlabel\n1\t2\tp\n3\t4\tq\n")
put("table", "adult.csv", b"\x00" + b"39, State-gov, 77516, Bachelors, <=50K\n50, Self-emp, 83311, Bachelors, >50K\n38, Private, 215646, HS-grad, <=50K\n")
put("libsvm", "a.svm", "+1 1:0.5 3:1 10:2\n-1 2:1 3:-0.5\n+1 1:1e-3 4:7 # comment\n-1 5:1\n")
put("libsvm", "multi.svm", "2 1:1 2:1\n0 3:1\n1 1:0.25 4:1\n2 2:3\n")
put("text", "sms.tsv", b"\x00" + "ham\tGo until jurong point, crazy..\nspam\tFree entry in 2 a wkly comp to win FA Cup\nham\tOk lar... Joking wif u oni\nspam\tWINNER!! £900 prize\n".encode())
put("text", "a.jsonl", b"\x01" + '{"text": "good movie", "label": "pos"}\n{"text": "bad \\u00e9 film", "label": "neg"}\n{"label": 1, "text": "ok"}\n'.encode())
put("text", "corpus.txt", b"\x02" + "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n".encode())


def idx_images(n, h, w):
    return struct.pack(">BBBBIII", 0, 0, 8, 3, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))


def idx_labels(n):
    return struct.pack(">BBBBI", 0, 0, 8, 1, n) + bytes(i % 3 for i in range(n))


put("idx", "small.idx", two(idx_images(6, 4, 4), idx_labels(6)))
put("idx", "one.idx", two(idx_images(1, 2, 3), idx_labels(1)))


# llama2.c: a checkpoint with dim 8, hidden 16, 1 layer, 2 heads, vocab 8, seq_len 4, and a
# tokenizer of 8 pieces
def llama2c(vocab=8, dim=8, hidden=16, layers=1, heads=2, seq=4, shared=True):
    hs = dim // heads
    n = vocab * dim + layers * (dim + 4 * dim * dim + dim + 3 * dim * hidden) + dim + seq * hs
    if not shared:
        n += vocab * dim
    h = struct.pack("<7i", dim, hidden, layers, heads, heads, vocab if shared else -vocab, seq)
    return h + struct.pack(f"<{n}f", *[((i * 7919) % 200 - 100) / 400.0 for i in range(n)])


def tokenizer(pieces):
    out = struct.pack("<i", max(len(p) for p in pieces))
    for i, p in enumerate(pieces):
        out += struct.pack("<fi", -float(i), len(p)) + p
    return out


pieces = [b"<unk>", b"<s>", b"</s>", b" ", b"a", b"b", b"ab", b" a"]
put("llama2c", "tiny.bin", two(llama2c(), tokenizer(pieces)))
put("llama2c", "unshared.bin", two(llama2c(shared=False), tokenizer(pieces)))


# GPT-2 BPE: bytes mapped to printable characters as GPT-2 does, a few merges
def byte_chars():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


bc = byte_chars()
enc = {bc[b]: i for i, b in enumerate(range(256))}
merges = [("H", "e"), ("l", "l"), ("He", "ll"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or")]
for a, b in merges:
    enc[a + b] = len(enc)
enc["<|endoftext|>"] = len(enc)
bpe = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
put("gpt2", "small", two(json.dumps(enc, ensure_ascii=False).encode(), bpe.encode()))

# GGUF: little-endian; a string is a u64 length and its bytes; value types 0 u8 .. 12 f64
def gguf(kvs, tensors, version=3, align=32):
    """kvs: (key, type, value) with arrays as (9, (elem_type, [values])); tensors: (name, ggml
    type, ne, data bytes). Tensor data is laid out in order, each aligned."""
    def s(x):
        x = x.encode() if isinstance(x, str) else x
        return struct.pack("<Q", len(x)) + x

    scal = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def val(t, v):
        if t == 8:
            return s(v)
        if t == 9:
            et, vs = v
            return struct.pack("<IQ", et, len(vs)) + b"".join(val(et, x) for x in vs)
        return struct.pack("<" + scal[t], v)

    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += s(k) + struct.pack("<I", t) + val(t, v)
    data, offs = b"", []
    for name, gt, ne, raw in tensors:
        data += b"\0" * (-len(data) % align)
        offs.append(len(data))
        data += raw
    for (name, gt, ne, raw), off in zip(tensors, offs):
        out += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne) + struct.pack("<IQ", gt, off)
    return out + b"\0" * (-len(out) % align) + data


def pattern(n, seed):
    return bytes((i * 131 + seed * 17 + 7) % 256 for i in range(n))


def f32s(n):
    return struct.pack(f"<{n}f", *[((i * 7919) % 200 - 100) / 400.0 for i in range(n)])


def q8_0(rows, cols):  # blocks of fp16 d = 1/64 (0x2400) and 32 int8
    return b"".join(b"\x00\x24" + pattern(32, r * cols + c) for r in range(rows) for c in range(cols // 32))


toks = ["<unk>", "<s>", "</s>", "\u2581a", "\u2581b", "ab", "<0x0A>", "\u2581the"]
put("gguf", "llama_like.gguf", gguf(
    [("general.architecture", 8, "llama"), ("general.alignment", 4, 32), ("llama.embedding_length", 4, 32),
     ("llama.block_count", 4, 1), ("llama.attention.head_count", 4, 2), ("llama.context_length", 4, 16),
     ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5), ("llama.rope.freq_base", 6, 10000.0),
     ("tokenizer.ggml.model", 8, "llama"), ("tokenizer.ggml.tokens", 9, (8, toks)),
     ("tokenizer.ggml.scores", 9, (6, [-float(i) for i in range(len(toks))])),
     ("tokenizer.ggml.token_type", 9, (5, [2, 3, 3, 1, 1, 1, 6, 1])), ("tokenizer.ggml.bos_token_id", 4, 1),
     ("tokenizer.ggml.add_bos_token", 7, True), ("test.nested", 9, (9, [(5, [1, -2]), (8, ["x", ""])])),
     ("test.i64", 11, -(1 << 40)), ("test.u64", 10, 1 << 63), ("test.f64", 12, 0.25), ("test.i8", 1, -3)],
    [("token_embd.weight", 8, [32, 8], q8_0(8, 32)), ("output_norm.weight", 0, [32], f32s(32)),
     ("blk.0.ffn_down.weight", 1, [16, 32], struct.pack("<512e", *[((i * 37) % 64 - 32) / 16.0 for i in range(512)]))]))
# one tensor of each supported type (F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K,
# BF16) and one ggml knows but duet cannot decode (Q3_K); version 2, alignment 64. Scales are
# small halves (0x2400 = 1/64, 0x1c00 = 1/256) ahead of patterned bytes.
blocks = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 12: (256, 144),
          13: (256, 176), 14: (256, 210), 30: (1, 2), 11: (256, 110)}
tensors = []
for gt, (blk, nb) in blocks.items():
    ne0 = 2 * max(blk, 32)
    nblocks = ne0 // blk * 2
    if gt in (0, 1, 30):
        raw = f32s(ne0 * 2) if gt == 0 else struct.pack(f"<{ne0 * 2}e", *[i / 64.0 for i in range(ne0 * 2)]) if gt == 1 \
            else b"".join(struct.pack("<f", i / 8.0)[2:] for i in range(ne0 * 2))
    else:
        raw = b"".join((pattern(nb - 2, k) + b"\x00\x24") if gt == 14 else (b"\x00\x24\x00\x1c" + pattern(nb - 4, k))
                       for k in range(nblocks))
    tensors.append((f"t{gt}", gt, [ne0, 2], raw))
put("gguf", "types.gguf", gguf([("general.architecture", 8, "test"), ("general.alignment", 4, 64)], tensors, version=2, align=64))

# server bodies: the first byte picks the endpoint (completions, chat, classify, images, score)
bodies = [
    (0, {"model": "stories", "prompt": "Once upon a time", "max_tokens": 5, "temperature": 0.7, "top_p": 0.9, "stop": ["\n", "a"], "seed": 3}),
    (0, {"model": "stories", "prompt": ["x"], "max_tokens": 4, "stream": True, "top_k": 5}),
    (1, {"model": "stories", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "max_tokens": 4, "stream": True}),
    (2, {"model": "spam", "input": ["free prize", "lunch?"], "explain": 3}),
    (2, {"model": "people", "input": {"age": 41, "job": "manager", "hours": None}}),
    (2, {"model": "people", "input": "30, clerk, 40"}),
    (2, {"model": "stories", "input": "happy cat", "labels": ["happy", "sad"], "template": "Review: {text} It was"}),
    (3, {"model": "fashion", "label": "bag", "n": 2, "grid": True, "seed": 1}),
    (4, {"model": "spam", "input": "free"}),
    (4, {"model": "stories", "input": ["Once", "The end"]}),
]
for i, (ep, b) in enumerate(bodies):
    put("server", f"body{i}", bytes([ep]) + json.dumps(b).encode())

# model files: tiny models of each kind, written by duet itself
with tempfile.TemporaryDirectory() as t:
    sms = open("data/sms_spam/SMSSpamCollection", encoding="utf-8").readlines()[:40]
    open(f"{t}/sms.tsv", "w", encoding="utf-8").writelines(sms)
    open(f"{t}/tab.csv", "w").write("age,job,income\n30,clerk,low\n50,manager,high\n45,manager,high\n25,clerk,low\n")
    open(f"{t}/corpus.txt", "w").write("to be or not to be, that is the question. " * 8)
    runs = [
        ("nb_text", ["train", f"{t}/sms.tsv", "--model", "nb", "--max-features", "30", "--alpha", "1"]),
        ("logreg_text", ["train", f"{t}/sms.tsv", "--C", "1", "--max-features", "30", "--char-ngram", "none"]),
        ("nb_table", ["train", f"{t}/tab.csv", "--model", "nb", "--alpha", "1"]),
        ("mlp_table", ["train", f"{t}/tab.csv", "--model", "mlp", "--hidden", "4", "--epochs", "2"]),
        ("gpt", ["train", f"{t}/corpus.txt", "--model", "gpt", "--layers", "1", "--dim", "8", "--heads", "2", "--context", "8",
                 "--steps", "2", "--batch", "2"]),
    ]
    for name, args in runs:
        subprocess.run(["./duet"] + args + ["-o", f"{t}/{name}.duet", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        put("model", f"{name}.duet", open(f"{t}/{name}.duet", "rb").read())
