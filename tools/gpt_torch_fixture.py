#!/usr/bin/python3
"""gpt_torch_fixture.py — writes PyTorch golden values for duet's transformer (src/models/gpt.c).

For each configuration it builds the model in torch (float32) from duet's flat parameter
layout (src/models/gpt.h), with seeded random parameters (norm weights random around 1),
random tokens and targets, and saves to tests/fixtures/gpt_tiny_<name>.safetensors:
  metadata  V C L NH NKV F T B learned_pos tied steps lr wd clip (decimal strings)
  params    (n) F32   the parameters, duet's layout
  tok, tgt  (B, T) I32
  logits    (B*T, V) F32
  loss      (1) F64   mean cross-entropy
  grad      (n) F32   d loss / d params, duet's layout
  gnorm     (steps) F64  gradient norm before clipping at each step
  step1..   (n) F32   params after each step: forward/backward at the current params,
                      clip_grad_norm_(clip), AdamW(betas (0.9, 0.99), eps 1e-8) with weight decay
                      wd on the matrices and 0 on the norm weights, constant lr.
tests/unit/test_gpt_torch.c checks duet against these files; it needs no torch.

Run from the repository root:  /usr/bin/python3 tools/gpt_torch_fixture.py
(needs torch; tested with torch 1.13, CPU.)
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

CONFIGS = [
    # name, V, C, L, NH, NKV, F, T, B, learned_pos, tied
    dict(name="rope", V=11, C=16, L=2, NH=4, NKV=2, F=24, T=8, B=2, learned_pos=0, tied=1, seed=1),
    dict(name="learned", V=13, C=12, L=1, NH=3, NKV=3, F=20, T=5, B=3, learned_pos=1, tied=0, seed=2),
]
STEPS, LR, WD, CLIP, EPS = 3, 1e-2, 0.1, 0.5, 1e-5


def layout(c):
    """(name, shape, decay) in duet's order; the tied head is not a separate entry."""
    V, C, L, NH, NKV, Fh, T = c["V"], c["C"], c["L"], c["NH"], c["NKV"], c["F"], c["T"]
    hd = C // NH
    kv = NKV * hd
    out = [("tok_emb", (V, C), True)]
    if c["learned_pos"]:
        out.append(("pos_emb", (T, C), True))
    if not c["tied"]:
        out.append(("head", (V, C), True))
    for l in range(L):
        out += [(f"l{l}.attn_norm", (C,), False), (f"l{l}.mlp_norm", (C,), False),
                (f"l{l}.wq", (NH * hd, C), True), (f"l{l}.wk", (kv, C), True), (f"l{l}.wv", (kv, C), True),
                (f"l{l}.wo", (C, NH * hd), True), (f"l{l}.w1", (Fh, C), True), (f"l{l}.w3", (Fh, C), True),
                (f"l{l}.w2", (C, Fh), True)]
    out.append(("final_norm", (C,), False))
    return out


def init_params(c, gen):
    ps = {}
    for name, shape, decay in layout(c):
        if not decay:  # norm weights: random around 1
            t = 1.0 + 0.2 * torch.randn(shape, generator=gen)
        elif name in ("tok_emb", "pos_emb", "head"):
            t = 0.7 * torch.randn(shape, generator=gen)
        else:
            t = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
        ps[name] = torch.nn.Parameter(t.float())
    return ps


def rmsnorm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def rope(x, T, hd):
    """x (B, T, H, hd): pairs (2j, 2j+1) rotated by t * 10000^(-2j/hd)."""
    j = torch.arange(hd // 2, dtype=torch.float64)
    freq = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -2.0 * j / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freq[None, :]
    cs, sn = torch.cos(ang).float()[None, :, None, :], torch.sin(ang).float()[None, :, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cs - b * sn, a * sn + b * cs), dim=-1).flatten(-2)


def forward(c, ps, tok):
    B, T = tok.shape
    C, NH, NKV = c["C"], c["NH"], c["NKV"]
    hd = C // NH
    x = ps["tok_emb"][tok]
    if c["learned_pos"]:
        x = x + ps["pos_emb"][:T][None]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(c["L"]):
        p = lambda n: ps[f"l{l}.{n}"]  # noqa: E731
        h = rmsnorm(x, p("attn_norm"))
        q = (h @ p("wq").t()).view(B, T, NH, hd)
        k = (h @ p("wk").t()).view(B, T, NKV, hd)
        v = (h @ p("wv").t()).view(B, T, NKV, hd)
        if not c["learned_pos"]:
            q, k = rope(q, T, hd), rope(k, T, hd)
        rep = NH // NKV  # query head i uses kv head i // rep
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, NH, T, hd)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~mask, float("-inf"))
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, NH * hd)
        x = x + o @ p("wo").t()
        h2 = rmsnorm(x, p("mlp_norm"))
        x = x + (F.silu(h2 @ p("w1").t()) * (h2 @ p("w3").t())) @ p("w2").t()
    head = ps["tok_emb"] if c["tied"] else ps["head"]
    return (rmsnorm(x, ps["final_norm"]) @ head.t()).reshape(B * T, c["V"])


def flat(c, tensors):
    return torch.cat([tensors[name].detach().reshape(-1) for name, _, _ in layout(c)]).numpy()


def write_safetensors(path, tensors, meta):
    """tensors: list of (name, numpy array); written in that order, back to back."""
    dt = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int32"): "I32"}
    header, blobs, off = {}, [], 0
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-(8 + len(h))) % 64)  # buffer starts 64-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make(c, outdir):
    gen = torch.Generator().manual_seed(1000 + c["seed"])
    ps = init_params(c, gen)
    B, T, V = c["B"], c["T"], c["V"]
    tok = torch.randint(0, V, (B, T), generator=gen)
    tgt = torch.randint(0, V, (B, T), generator=gen)
    params0 = flat(c, ps)

    logits = forward(c, ps, tok)
    loss = F.cross_entropy(logits, tgt.reshape(-1))
    loss.backward()
    grad = flat(c, {n: p.grad for n, p in ps.items()})

    decay = [ps[n] for n, _, d in layout(c) if d]
    nodecay = [ps[n] for n, _, d in layout(c) if not d]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.99), eps=1e-8)
    every = decay + nodecay
    steps, gnorms = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        F.cross_entropy(forward(c, ps, tok), tgt.reshape(-1)).backward()
        gnorms.append(float(torch.nn.utils.clip_grad_norm_(every, CLIP)))
        for grp in opt.param_groups:
            grp["lr"] = LR
        opt.step()
        steps.append(flat(c, ps))

    meta = {k: c[k] for k in ("V", "C", "L", "NH", "NKV", "F", "T", "B", "learned_pos", "tied")}
    meta.update(steps=STEPS, lr=repr(LR), wd=repr(WD), clip=repr(CLIP))
    tensors = [("loss", np.array([loss.item()], dtype=np.float64)),
               ("gnorm", np.array(gnorms, dtype=np.float64)),
               ("params", params0), ("grad", grad),
               ("logits", logits.detach().numpy().astype(np.float32)),
               ("tok", tok.numpy().astype(np.int32)), ("tgt", tgt.numpy().astype(np.int32))]
    tensors += [(f"step{i + 1}", s) for i, s in enumerate(steps)]
    path = os.path.join(outdir, f"gpt_tiny_{c['name']}.safetensors")
    write_safetensors(path, tensors, meta)
    print(f"{path}: {params0.size} params, loss {loss.item():.6f}, max|logit| "
          f"{logits.abs().max().item():.3f}, grad norms {', '.join(f'{g:.4f}' for g in gnorms)} "
          f"(clip {CLIP}), {os.path.getsize(path)} bytes")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    os.makedirs(outdir, exist_ok=True)
    for c in CONFIGS:
        make(c, outdir)


if __name__ == "__main__":
    main()
