#!/usr/bin/python3
"""PyTorch peer for duet's VAE benchmark: the same model (784-H-Z MLP encoder, Z-H-784 decoder,
ReLU, Bernoulli pixels, one posterior sample per image), the same Adam settings and batch,
trained on the same Fashion-MNIST IDX files on the CPU. Prints training images/s and the test
ELBO (nats per image, one sample, as duet's `score` computes it). --conv: duet's `--arch conv`
(encoder Conv 4/2/1 (32) -> ReLU -> Conv 4/2/1 (64) -> ReLU -> linear mu, logvar; decoder
linear -> ReLU -> 64 x H/4 x W/4 -> ConvT 4/2/1 (32) -> ReLU -> ConvT 4/2/1 (1) -> logits).

usage: vae_torch.py TRAIN_IMAGES TRAIN_LABELS TEST_IMAGES --epochs 5 --threads 2 [--conv]
"""
import argparse, os, gzip, struct, time
# --threads are PyTorch's own (OpenMP) threads; OpenBLAS's pool on top of them oversubscribes the
# cores (2 to 3 times slower on 2 threads), see bench/blas_env.sh. A value the caller set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("train_images")
ap.add_argument("train_labels")
ap.add_argument("test_images")
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--hidden", type=int, default=400)
ap.add_argument("--latent", type=int, default=20)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--conv", action="store_true")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

def idx(path):
    global IH, IW
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    n, IH, IW = struct.unpack(">III", raw[4:16])
    return torch.frombuffer(bytearray(raw[16:16 + n * IH * IW]), dtype=torch.uint8).view(n, IH * IW).float() / 255

X, T = idx(a.train_images), idx(a.test_images)
D, H, Z = X.shape[1], a.hidden, a.latent
if a.conv:
    H = 64 * (IH // 4) * (IW // 4)

class VAE(torch.nn.Module):
    def __init__(s):
        super().__init__()
        if a.conv:
            s.c1, s.c2 = torch.nn.Conv2d(1, 32, 4, 2, 1), torch.nn.Conv2d(32, 64, 4, 2, 1)
            s.t1, s.t2 = torch.nn.ConvTranspose2d(64, 32, 4, 2, 1), torch.nn.ConvTranspose2d(32, 1, 4, 2, 1)
        else:
            s.fc1, s.fc4 = torch.nn.Linear(D, H), torch.nn.Linear(H, D)
        s.mu, s.lv = torch.nn.Linear(H, Z), torch.nn.Linear(H, Z)
        s.fc3 = torch.nn.Linear(Z, H)
    def encode(s, x):
        if a.conv:
            return F.relu(s.c2(F.relu(s.c1(x.view(-1, 1, IH, IW))))).flatten(1)
        return F.relu(s.fc1(x))
    def decode(s, h):
        if a.conv:
            return s.t2(F.relu(s.t1(h.view(-1, 64, IH // 4, IW // 4)))).flatten(1)
        return s.fc4(h)
    def forward(s, x):
        h = s.encode(x)
        mu, lv = s.mu(h), s.lv(h)
        z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        logits = s.decode(F.relu(s.fc3(z)))
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = -0.5 * (1 + lv - mu.pow(2) - lv.exp()).sum(1)
        return rec + kl  # -ELBO per image

m = VAE()
opt = torch.optim.Adam(m.parameters(), lr=a.lr)
t0 = time.perf_counter()
for ep in range(a.epochs):
    perm = torch.randperm(len(X))
    for i in range(0, len(X), a.batch):
        loss = m(X[perm[i:i + a.batch]]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
secs = time.perf_counter() - t0
with torch.no_grad():
    elbo = -m(T).mean().item()
print(f"torch epochs {a.epochs} images/s {a.epochs * len(X) / secs:.0f} seconds {secs:.2f} test_elbo {elbo:.3f}")
