#!/usr/bin/python3
"""conv_torch_fixture.py — writes PyTorch golden values for duet's image layers (src/nn/conv.c).

Writes tests/fixtures/conv_torch.safetensors (float32 unless said). For each case the upstream
gradient dy is random and the loss is sum(y * dy), so dx, dw, db are its gradients.
  metadata  for each convolution case "<case>": "B C H W K kh kw stride pad opad" (decimal)
  c1        Conv2d(3 -> 5, kernel 3, stride 1, padding 1), x (2, 3, 7, 6)
  c2        Conv2d(4 -> 6, kernel 4, stride 2, padding 1), x (2, 4, 9, 8)
  t1        ConvTranspose2d(6 -> 4, kernel 4, stride 2, padding 1), x (2, 6, 4, 3)
  t2        ConvTranspose2d(3 -> 2, kernel 3, stride 2, padding 1, output_padding 1), x (2, 3, 3, 4)
  w1        Conv2d(8 -> 9, kernel 3, stride 1, padding 1), x (2, 8, 7, 6) (duet: Winograd's F(2x2, 3x3))
            each: <case>.x .w .b .y .dy .dx .dw .db (PyTorch's shapes)
  gn        GroupNorm(2 groups, 6 channels, eps 1e-5) on x (2, 6, 5, 4) with random weight/bias:
            gn.x .gamma .beta .y .dy .dx .dgamma .dbeta
  act       act.x (64); act.dy (64); act.<name>.y, act.<name>.dx for name in
            silu relu leaky (slope 0.2) tanh sigmoid
  temb      temb.t (4); temb.out (4, 16): diffusers' get_timestep_embedding(t, 16) with its
            defaults (flip_sin_to_cos False, downscale_freq_shift 1), written out here
tests/unit/test_conv.c checks duet against this file; it needs no torch.

Run from the repository root:  /usr/bin/python3 tools/conv_torch_fixture.py
(needs torch; tested with torch 1.13, CPU.)
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)


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


def np32(t):
    return t.detach().cpu().numpy().astype(np.float32)


def conv_case(name, gen, B, C, H, W, K, k, stride, pad, opad, transposed):
    if transposed:
        m = torch.nn.ConvTranspose2d(C, K, k, stride=stride, padding=pad, output_padding=opad)
    else:
        m = torch.nn.Conv2d(C, K, k, stride=stride, padding=pad)
    with torch.no_grad():
        m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.5)
        m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.5)
    x = torch.randn((B, C, H, W), generator=gen).requires_grad_(True)
    y = m(x)
    dy = torch.randn(y.shape, generator=gen)
    (y * dy).sum().backward()
    out = [("x", x), ("w", m.weight), ("b", m.bias), ("y", y), ("dy", dy), ("dx", x.grad),
           ("dw", m.weight.grad), ("db", m.bias.grad)]
    meta = f"{B} {C} {H} {W} {K} {k} {k} {stride} {pad} {opad}"
    return [(f"{name}.{n}", np32(t)) for n, t in out], meta


def timestep_embedding(t, dim, max_period=10000, shift=1):
    """diffusers.models.embeddings.get_timestep_embedding with its defaults."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(0, half, dtype=torch.float32)
    exponent = exponent / (half - shift)
    emb = torch.exp(exponent)
    emb = t[:, None].float() * emb[None, :]
    return torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)


def main():
    gen = torch.Generator().manual_seed(4)
    tensors, meta = [], {}
    for name, args in [("c1", (2, 3, 7, 6, 5, 3, 1, 1, 0, False)), ("c2", (2, 4, 9, 8, 6, 4, 2, 1, 0, False)),
                       ("t1", (2, 6, 4, 3, 4, 4, 2, 1, 0, True)), ("t2", (2, 3, 3, 4, 2, 3, 2, 1, 1, True))]:
        t, m = conv_case(name, gen, *args)
        tensors += t
        meta[name] = m

    gn = torch.nn.GroupNorm(2, 6, eps=1e-5)
    with torch.no_grad():
        gn.weight.copy_(1.0 + 0.3 * torch.randn(6, generator=gen))
        gn.bias.copy_(0.3 * torch.randn(6, generator=gen))
    x = (torch.randn((2, 6, 5, 4), generator=gen) * 2.0 + 0.5).requires_grad_(True)
    y = gn(x)
    dy = torch.randn(y.shape, generator=gen)
    (y * dy).sum().backward()
    tensors += [("gn.x", np32(x)), ("gn.gamma", np32(gn.weight)), ("gn.beta", np32(gn.bias)), ("gn.y", np32(y)),
                ("gn.dy", np32(dy)), ("gn.dx", np32(x.grad)), ("gn.dgamma", np32(gn.weight.grad)),
                ("gn.dbeta", np32(gn.bias.grad))]

    xa = torch.randn(64, generator=gen) * 3.0
    dya = torch.randn(64, generator=gen)
    tensors += [("act.x", np32(xa)), ("act.dy", np32(dya))]
    for name, fn in [("silu", F.silu), ("relu", F.relu), ("leaky", lambda v: F.leaky_relu(v, 0.2)),
                     ("tanh", torch.tanh), ("sigmoid", torch.sigmoid)]:
        xi = xa.clone().requires_grad_(True)
        yi = fn(xi)
        (yi * dya).sum().backward()
        tensors += [(f"act.{name}.y", np32(yi)), (f"act.{name}.dx", np32(xi.grad))]

    t = torch.tensor([0.0, 1.0, 17.0, 999.0])
    tensors += [("temb.t", np32(t)), ("temb.out", np32(timestep_embedding(t, 16)))]

    # last, so that the tensors above stay as they were: a 3x3 convolution that duet runs by Winograd
    t, m = conv_case("w1", gen, 2, 8, 7, 6, 9, 3, 1, 1, 0, False)
    tensors += t
    meta["w1"] = m

    meta["generator"] = "tools/conv_torch_fixture.py, torch " + torch.__version__
    path = os.path.join("tests", "fixtures", "conv_torch.safetensors")
    write_safetensors(path, tensors, meta)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
