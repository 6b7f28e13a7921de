#!/usr/bin/python3
"""PyTorch peer for duet's diffusion benchmark (`--model diffusion`, optionally `--conditional`):
the same DDPM and U-Net as src/models/diffusion.c, trained the same way on the CPU on the same
IDX files. Prints training images/s and the last epoch's mean loss.

What it mirrors (diffusion.c's layout(), net_fwd()/rb_fwd(), loss_step(), schedule(),
init_params() and df_fit()):
  - DDPM, T = 1000, betas linear 1e-4..0.02, abar_t = prod (1 - beta_s); pixels [0, 1] -> [-1, 1];
    x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps; the net predicts eps; loss = MSE over pixels
    and batch.
  - U-Net with base width C (--hidden), E = 4C, all convs 3x3 padding 1:
      conv 1->C; Res(C)                                      [skip a]
      conv stride 2 C->2C; Res(2C)                           [skip b]
      conv stride 2 2C->2C; Res(2C)
      nearest upsample 2x; conv 2C->2C; cat(., b); conv 4C->2C; Res(2C)
      nearest upsample 2x; conv 2C->C;  cat(., a); conv 2C->C;  Res(C)
      GroupNorm + SiLU; conv C->1
    Res(x) = x + conv2(SiLU(GN2(conv1(SiLU(GN1(x))) + Linear(e)))): the embedding is added
    after the first conv, before the second GroupNorm (as rb_fwd does). GroupNorm groups: the
    largest count <= 8 dividing the channels, eps 1e-5.
    e = SiLU(emb), emb = Linear(4C, 4C)(SiLU(Linear(C, 4C)(sinusoidal(t)))) + class_table[y];
    sinusoidal(t) = [sin(t f_i), cos(t f_i)], f_i = 10000^(-i/(C/2 - 1)) (dt_time_embedding);
    the class table has K+1 rows (row K = "no class"; an unconditional model has K = 0 and
    always uses its single row).
  - init: PyTorch defaults (which duet's init_params copies: U(+-1/sqrt(fan_in)) for convs and
    linears, GN gamma 1 beta 0, class table N(0, 1)); the output conv and every ResBlock's
    second conv (weights and biases) start at zero.
  - training: per image x0, eps ~ N(0, 1), t uniform in 0..T-1, class dropped to the null row
    with probability 0.1 when conditional; Adam(lr 1e-3, betas 0.9/0.999, eps 1e-8) with a
    linear warm-up lr * step / warm for step < warm = min(500, total_steps // 4); the gradient's
    global norm clipped to 1 (scaled by 1/norm when above 1, no epsilon); the EMA of the
    weights, initialised to the starting weights, updated every step with decay
    min(0.999, (1 + s) / (10 + s)); batch 64, reshuffled each epoch, the last batch of an epoch
    shorter when N is not a multiple of the batch (duet's loop, unlike gan_torch.py's).
  - images/s counts the images of the training loop over its wall time (duet's
    images_per_second metadata); the loss is the last epoch's mean per-image-weighted loss.
Not mirrored: the random streams (torch's generator, not duet's), so numbers agree in
distribution only; duet computes some sums in double.
The parameter count (duet's layout() t->n; 518497 for 28x28, C 32, K 10) goes to stderr.

usage: unet_torch.py TRAIN_IMAGES TRAIN_LABELS [--epochs 1] [--limit N] [--batch 64]
                     [--hidden 32] [--threads 2] [--conditional] [--seed 1]
"""
import argparse, os, gzip, math, struct, sys, time
# --threads are PyTorch's own (OpenMP) threads; OpenBLAS's pool on top of them oversubscribes the
# cores (2 to 3 times slower on 2 threads), see bench/blas_env.sh. A value the caller set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("images")
ap.add_argument("labels")
ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--limit", type=int, default=0)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--hidden", type=int, default=32)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--conditional", action="store_true")
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

def raw(path):
    return gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()

ri, rl = raw(a.images), raw(a.labels)
n, H, W = struct.unpack(">III", ri[4:16])
X = torch.frombuffer(bytearray(ri[16:16 + n * H * W]), dtype=torch.uint8).view(n, 1, H, W).float() / 255
Y = torch.frombuffer(bytearray(rl[8:8 + n]), dtype=torch.uint8).long()
if a.limit:
    X, Y = X[:a.limit], Y[:a.limit]
X = 2 * X - 1  # [0, 1] -> [-1, 1]
N = len(X)
assert H % 4 == 0 and W % 4 == 0, "the U-Net needs height and width multiples of 4"
C, T = a.hidden, 1000
E = 4 * C
K = int(Y.max()) + 1 if a.conditional else 0

betas = torch.linspace(0, 1, T, dtype=torch.float64) * (0.02 - 1e-4) + 1e-4
abar = torch.cumprod(1 - betas, 0)
sqa, sqn = abar.sqrt().float(), (1 - abar).sqrt().float()

def groups(ch):
    return next((g for g in range(8, 1, -1) if ch % g == 0), 1)

def conv(ci, co, stride=1):
    return torch.nn.Conv2d(ci, co, 3, stride, 1)

class Res(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.gn1, s.c1 = torch.nn.GroupNorm(groups(c), c, eps=1e-5), conv(c, c)
        s.lin = torch.nn.Linear(E, c)
        s.gn2, s.c2 = torch.nn.GroupNorm(groups(c), c, eps=1e-5), conv(c, c)
        torch.nn.init.zeros_(s.c2.weight), torch.nn.init.zeros_(s.c2.bias)
    def forward(s, x, e):
        h = s.c1(F.silu(s.gn1(x))) + s.lin(e)[:, :, None, None]
        return x + s.c2(F.silu(s.gn2(h)))

class UNet(torch.nn.Module):  # modules in layout()'s order: parameters() is duet's theta, tensor by tensor
    def __init__(s):
        super().__init__()
        s.t1, s.t2 = torch.nn.Linear(C, E), torch.nn.Linear(E, E)
        s.cls = torch.nn.Embedding(K + 1, E)  # N(0, 1), as duet
        s.cin = conv(1, C)
        s.r0, s.r1, s.r2, s.r3, s.r4 = Res(C), Res(2 * C), Res(2 * C), Res(2 * C), Res(C)
        s.d1, s.d2 = conv(C, 2 * C, 2), conv(2 * C, 2 * C, 2)
        s.u1, s.k1 = conv(2 * C, 2 * C), conv(4 * C, 2 * C)
        s.u2, s.k2 = conv(2 * C, C), conv(2 * C, C)
        s.gno, s.cout = torch.nn.GroupNorm(groups(C), C, eps=1e-5), conv(C, 1)
        torch.nn.init.zeros_(s.cout.weight), torch.nn.init.zeros_(s.cout.bias)
        half = C // 2
        f = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / (half - 1)) if half > 1 else torch.ones(1)
        s.register_buffer("freq", f)
    def forward(s, x, t, y):
        arg = (t.float()[:, None] * s.freq[None]).double()
        sin = torch.cat([arg.sin(), arg.cos()], 1).float()
        e = F.silu(s.t2(F.silu(s.t1(sin))) + s.cls(y))
        a_ = s.r0(s.cin(x), e)
        b_ = s.r1(s.d1(a_), e)
        h = s.r2(s.d2(b_), e)
        h = s.u1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = s.r3(s.k1(torch.cat([h, b_], 1)), e)
        h = s.u2(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = s.r4(s.k2(torch.cat([h, a_], 1)), e)
        return s.cout(F.silu(s.gno(h)))

m = UNet()
params = list(m.parameters())
print(f"parameters {sum(p.numel() for p in params)}", file=sys.stderr)
ema = [p.detach().clone() for p in params]
opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
bs = min(a.batch, N)
total = (N + bs - 1) // bs * a.epochs
warm = min(total // 4, 500)
step, seen, loss = 0, 0, float("nan")
t0 = time.perf_counter()
for ep in range(a.epochs):
    perm = torch.randperm(N)
    lsum = 0.0
    for b0 in range(0, N, bs):
        idx = perm[b0:b0 + bs]
        B = len(idx)
        x0, eps = X[idx], torch.randn(B, 1, H, W)
        t = torch.randint(0, T, (B,))
        y = torch.where(torch.rand(B) < 0.1, K, Y[idx]) if K else torch.zeros(B, dtype=torch.long)
        xt = sqa[t][:, None, None, None] * x0 + sqn[t][:, None, None, None] * eps
        l = F.mse_loss(m(xt, t, y), eps)
        opt.zero_grad(set_to_none=True)
        l.backward()
        grads = [p.grad for p in params]
        gn = torch.stack(torch._foreach_norm(grads)).double().norm().item()
        if gn > 1.0:
            torch._foreach_mul_(grads, 1.0 / gn)
        step += 1
        for g in opt.param_groups:
            g["lr"] = 1e-3 * step / warm if warm > 0 and step < warm else 1e-3
        opt.step()
        d = min(0.999, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            torch._foreach_mul_(ema, d)
            torch._foreach_add_(ema, [p.detach() for p in params], alpha=1.0 - d)
        lsum += l.item() * B
        seen += B
    loss = lsum / N
secs = time.perf_counter() - t0
print(f"torch images {seen} images/s {seen / secs:.1f} seconds {secs:.2f} loss {loss:.4f}")
