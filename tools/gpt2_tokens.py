#!/usr/bin/python3
"""gpt2_tokens.py — golden GPT-2 token ids for tests/unit/test_tokenizer.c.

An independent plain-Python GPT-2 encoder (byte->unicode table, the pre-token regex via the
`regex` module, merges lowest rank first), written from the description in Radford et al. 2019
and the encoder.json / vocab.bpe file formats.

usage: /usr/bin/python3 tools/gpt2_tokens.py [DIR] [TEXT ...]
DIR defaults to ../shared/data/gpt2_bpe; without TEXT it prints the test strings' ids as C.
"""
import json
import sys

import regex

PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def byte_table():
    keep = [b for b in range(256) if 33 <= b <= 126 or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class Encoder:
    def __init__(self, folder):
        with open(folder + "/encoder.json", encoding="utf-8") as f:
            self.ids = json.load(f)
        with open(folder + "/vocab.bpe", encoding="utf-8") as f:
            lines = f.read().split("\n")
        self.rank = {}
        for r, line in enumerate(x for x in lines[1:] if x):
            a, b = line.split(" ")
            self.rank[(a, b)] = r
        self.table = byte_table()
        self.pat = regex.compile(PAT)

    def word(self, w):
        parts = list(w)
        while len(parts) > 1:
            ranked = [(self.rank.get((parts[i], parts[i + 1]), None), i) for i in range(len(parts) - 1)]
            ranked = [x for x in ranked if x[0] is not None]
            if not ranked:
                break
            r = min(ranked)[0]
            a, b = self.pair_of(r, parts)
            out, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        return [self.ids[p] for p in parts]

    def pair_of(self, r, parts):
        for i in range(len(parts) - 1):
            if self.rank.get((parts[i], parts[i + 1])) == r:
                return parts[i], parts[i + 1]
        raise AssertionError

    def encode(self, text):
        out = []
        for m in self.pat.findall(text):
            out += self.word("".join(self.table[b] for b in m.encode("utf-8")))
        return out


def c_string(t):
    """A C string literal of t's UTF-8 bytes (non-ASCII as "\\xNN" "" breaks)."""
    out = ""
    for b in t.encode("utf-8"):
        if 32 <= b < 127 and chr(b) not in '"\\':
            out += chr(b)
        elif b == 10:
            out += "\\n"
        elif b == 9:
            out += "\\t"
        else:
            out += '\\x%02x""' % b
    return '"' + out + '"'


TESTS = [
    "Hello world",
    "I'm sure they'll say it's 2024, isn't it?",
    "  multiple   spaces\n\nand\tnewlines \n",
    "naïve café 日本",
    "emoji 🙂👍🏽!",
    "1234567 3.14159 -42",
    "x\u00a0\u00a0y  \r\n<|endoftext|>",
    "a\u180e\n\n\u180eb \x1c\u3000\u2028 \u0301\u00bd\u2167",
]

if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/gpt2_bpe"
    enc = Encoder(folder)
    texts = sys.argv[2:] or TESTS
    for t in texts:
        ids = enc.encode(t)
        print("    {%s, %d, {%s}}," % (c_string(t), len(ids), ", ".join(str(i) for i in ids)))


def llama2c_encode(path, vocab_size, text):
    """llama2.c run.c's encode (tok512.bin / tokenizer.bin), for the llama2c golden ids:
    /usr/bin/python3 -c 'import tools.gpt2_tokens as g; print(g.llama2c_encode(PATH, 512, TEXT))'"""
    import struct
    data = open(path, "rb").read()
    pos, vocab, score = 4, [], []
    for _ in range(vocab_size):
        s, n = struct.unpack_from("<fi", data, pos)
        vocab.append(data[pos + 8:pos + 8 + n])
        score.append(s)
        pos += 8 + n
    lookup = {}
    for i, p in enumerate(vocab):
        lookup.setdefault(p, i)
    raw = text.encode("utf-8")
    ids = [lookup[b" "]] if raw else []
    i = 0
    while i < len(raw):
        k = 1
        while i + k < len(raw) and raw[i + k] & 0xC0 == 0x80 and k < 4:
            k += 1
        if raw[i:i + k] in lookup:
            ids.append(lookup[raw[i:i + k]])
        else:
            ids += [b + 3 for b in raw[i:i + k]]
        i += k
    while True:
        best, at = -1e10, -1
        for j in range(len(ids) - 1):
            m = lookup.get(vocab[ids[j]] + vocab[ids[j + 1]])
            if m is not None and score[m] > best:
                best, at = score[m], j
        if at < 0:
            return ids
        ids[at:at + 2] = [lookup[vocab[ids[at]] + vocab[ids[at + 1]]]]


def bpe_train_count(path, vocab):
    """Byte-level BPE learned on the GPT-2 pre-tokens of a file (ties to the smallest pair), and
    the token count of the training text under it, for the bpe golden value:
    /usr/bin/python3 -c 'import tools.gpt2_tokens as g; print(g.bpe_train_count(PATH, 512))'"""
    import collections
    text = open(path, encoding="utf-8").read()
    words = [[list(w.encode("utf-8")), c] for w, c in collections.Counter(regex.findall(PAT, text)).items()]
    for nid in range(256, vocab):
        pc = collections.Counter()
        for w, c in words:
            for i in range(len(w) - 1):
                pc[(w[i], w[i + 1])] += c
        if not pc:
            break
        a, b = max(pc.items(), key=lambda x: (x[1], -x[0][0], -x[0][1]))[0]
        for e in words:
            w, out, i = e[0], [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(nid)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            e[0] = out
    return sum(len(w) * c for w, c in words)
