#!/usr/bin/python3
"""PyTorch peer for duet's GAN benchmark: the same conditional DCGAN-style networks (generator
z(64)+one-hot -> linear -> 64x7x7 -> ConvT 4/2/1 -> 32x14x14 -> ConvT 4/2/1 -> sigmoid;
discriminator image + one plane per class -> Conv 4/2/1 (32) -> LeakyReLU(0.2) -> Conv 4/2/1
(64) -> LeakyReLU(0.2) -> linear), the same losses, Adam(2e-4, betas 0.5/0.999), batch 64, one
discriminator and one generator step per batch on the same fakes. Prints training images/s.

usage: gan_torch.py TRAIN_IMAGES TRAIN_LABELS --epochs 1 --limit N --threads 2
"""
import argparse, os, gzip, struct, time
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
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)

def raw(path):
    return gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()

ri, rl = raw(a.images), raw(a.labels)
n, h, w = struct.unpack(">III", ri[4:16])
X = torch.frombuffer(bytearray(ri[16:16 + n * h * w]), dtype=torch.uint8).view(n, 1, h, w).float() / 255
Y = torch.frombuffer(bytearray(rl[8:8 + n]), dtype=torch.uint8).long()
if a.limit:
    X, Y = X[:a.limit], Y[:a.limit]
K, Z = 10, 64
G = torch.nn.ModuleDict({"fc": torch.nn.Linear(Z + K, 64 * (h // 4) * (w // 4)),
                         "t1": torch.nn.ConvTranspose2d(64, 32, 4, 2, 1), "t2": torch.nn.ConvTranspose2d(32, 1, 4, 2, 1)})
D = torch.nn.ModuleDict({"c1": torch.nn.Conv2d(1 + K, 32, 4, 2, 1), "c2": torch.nn.Conv2d(32, 64, 4, 2, 1),
                         "fc": torch.nn.Linear(64 * (h // 4) * (w // 4), 1)})

def gen(z, y):
    x = F.relu(G["fc"](torch.cat([z, F.one_hot(y, K).float()], 1))).view(-1, 64, h // 4, w // 4)
    return torch.sigmoid(G["t2"](F.relu(G["t1"](x))))

def disc(x, y):
    planes = F.one_hot(y, K).float()[:, :, None, None].expand(-1, K, h, w)
    x = F.leaky_relu(D["c1"](torch.cat([x, planes], 1)), 0.2)
    x = F.leaky_relu(D["c2"](x), 0.2)
    return D["fc"](x.flatten(1)).squeeze(1)

og = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
od = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
bce = F.binary_cross_entropy_with_logits
t0, seen = time.perf_counter(), 0
for ep in range(a.epochs):
    perm = torch.randperm(len(X))
    for i in range(0, len(X) - a.batch + 1, a.batch):
        idx = perm[i:i + a.batch]
        x, y = X[idx], Y[idx]
        fake = gen(torch.randn(a.batch, Z), y)
        ld = bce(disc(x, y), torch.ones(a.batch)) + bce(disc(fake.detach(), y), torch.zeros(a.batch))
        od.zero_grad()
        ld.backward()
        od.step()
        lg = bce(disc(fake, y), torch.ones(a.batch))
        og.zero_grad()
        lg.backward()
        og.step()
        seen += a.batch
secs = time.perf_counter() - t0
print(f"torch images {seen} images/s {seen / secs:.0f} seconds {secs:.2f}")
