#!/usr/bin/python3
"""PyTorch peer for duet's gpt benchmark: the same transformer (RMSNorm, rotary positions,
SwiGLU MLP, tied embedding, no biases), the same AdamW settings and batch, trained on the same
character-level corpus on the CPU. Prints one line: steps, tokens/s, final losses.

usage: gpt_torch.py CORPUS --layers 4 --heads 4 --dim 128 --context 64 --batch 12 --steps 200 --threads 2
"""
import argparse, os, math, time
# --threads are PyTorch's own (OpenMP) threads; OpenBLAS's pool on top of them oversubscribes the
# cores (2 to 3 times slower on 2 threads), see bench/blas_env.sh. A value the caller set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("corpus")
ap.add_argument("--layers", type=int, default=4)
ap.add_argument("--heads", type=int, default=4)
ap.add_argument("--dim", type=int, default=128)
ap.add_argument("--context", type=int, default=64)
ap.add_argument("--batch", type=int, default=12)
ap.add_argument("--steps", type=int, default=200)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

text = open(a.corpus, encoding="utf-8").read()
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
n = int(len(data) * 0.9)
train, val = data[:n], data[n:]
V, C, L, H, T, B = len(chars), a.dim, a.layers, a.heads, a.context, a.batch
hd = C // H
Fh = (8 * C // 3 + 7) // 8 * 8

class RMSNorm(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.w = torch.nn.Parameter(torch.ones(c))
    def forward(s, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * s.w

j = torch.arange(hd // 2, dtype=torch.float64)
ang = torch.arange(T, dtype=torch.float64)[:, None] * (10000.0 ** (-2 * j / hd))[None, :]
COS, SIN = torch.cos(ang).float(), torch.sin(ang).float()

def rope(x):  # (B, H, T, hd), pairs (2j, 2j+1)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = COS[: x.shape[2]], SIN[: x.shape[2]]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)

class Block(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.n1, s.n2 = RMSNorm(C), RMSNorm(C)
        s.wq, s.wk, s.wv, s.wo = (torch.nn.Linear(C, C, bias=False) for _ in range(4))
        s.w1, s.w3 = torch.nn.Linear(C, Fh, bias=False), torch.nn.Linear(C, Fh, bias=False)
        s.w2 = torch.nn.Linear(Fh, C, bias=False)
    def forward(s, x):
        b, t, _ = x.shape
        h = s.n1(x)
        q, k, v = (w(h).view(b, t, H, hd).transpose(1, 2) for w in (s.wq, s.wk, s.wv))
        o = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True) \
            if hasattr(F, "scaled_dot_product_attention") else None
        if o is None:
            att = (rope(q) @ rope(k).transpose(-2, -1)) / math.sqrt(hd)
            att = att.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf")).softmax(-1)
            o = att @ v
        x = x + s.wo(o.transpose(1, 2).reshape(b, t, C))
        h = s.n2(x)
        return x + s.w2(F.silu(s.w1(h)) * s.w3(h))

class GPT(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = torch.nn.Embedding(V, C)
        s.blocks = torch.nn.ModuleList(Block() for _ in range(L))
        s.nf = RMSNorm(C)
        for p in s.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)
    def forward(s, idx, tgt):
        x = s.emb(idx)
        for blk in s.blocks:
            x = blk(x)
        logits = s.nf(x) @ s.emb.weight.t()
        return F.cross_entropy(logits.view(-1, V), tgt.view(-1))

m = GPT()
decay = [p for p in m.parameters() if p.dim() == 2]
nodecay = [p for p in m.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                        lr=a.lr, betas=(0.9, 0.99), eps=1e-8)

def batch(d):
    ix = torch.randint(len(d) - T - 1, (B,))
    return torch.stack([d[i:i + T] for i in ix]), torch.stack([d[i + 1:i + T + 1] for i in ix])

def lr_at(it, warmup=100, total=None):
    total = total or a.steps
    if it < warmup:
        return a.lr * (it + 1) / (warmup + 1)
    if it >= total:
        return a.lr / 10
    r = (it - warmup) / (total - warmup)
    return a.lr / 10 + 0.5 * (1 + math.cos(math.pi * r)) * (a.lr - a.lr / 10)

warm = 5
for it in range(a.steps + warm):
    if it == warm:
        t0 = time.perf_counter()
    for g in opt.param_groups:
        g["lr"] = lr_at(it)
    x, y = batch(train)
    loss = m(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
secs = time.perf_counter() - t0
print(f"torch steps {a.steps} tokens/s {a.steps * B * T / secs:.0f} seconds {secs:.2f} last_loss {loss.item():.4f}")
