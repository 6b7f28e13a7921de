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
