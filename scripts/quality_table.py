"""The README's sample-quality table: the Frechet digit distance of references and models, three seeds each.

    python scripts/quality_table.py [--long 16000]

Rows: pure noise, a model after 50 steps, the classroom model (4000 steps) for each target, a longer run,
a collapsed set (one digit class only), the real floor, and the plain MLP the suite used before its residual
network (for the choice of defaults). Every row is three seeds (of training, or of the draw for references);
it prints the mean and the standard deviation over seeds of the FDD, precision, recall and copy share, all
with 1000 samples against the held-out digits. About 15 minutes on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from ddpm_edu.data import digits
from ddpm_edu.experiment import draw_samples, load_data
from ddpm_edu.models import MLPDenoiser, SinusoidalEmbedding
from ddpm_edu.quality import digit_report, noise_images
from ddpm_edu.schedules import NoiseSchedule
from ddpm_edu.training import TrainConfig, Trainer

SEEDS = (0, 1, 2)
N = 1000


class PlainMLP(nn.Module):
    """The suite's earlier network: x and the t-embedding concatenated, three SiLU layers, no normalisation."""

    def __init__(self, data_dim=64, width=128, depth=3, emb_dim=64):
        super().__init__()
        self.data_dim = data_dim
        self.embed = SinusoidalEmbedding(emb_dim)
        layers, d = [], data_dim + emb_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.SiLU()]
            d = width
        self.net = nn.Sequential(*layers, nn.Linear(d, data_dim))

    def forward(self, x, t):
        return self.net(torch.cat([x.reshape(x.shape[0], -1), self.embed(t)], 1)).reshape(x.shape)


def trained(seed, steps, target="eps", plain=False):
    train, held, _ = load_data("digits", seed)
    torch.manual_seed(seed)
    net = PlainMLP() if plain else MLPDenoiser(64, width=128)
    t0 = time.perf_counter()
    res = Trainer(net, train, NoiseSchedule.linear(), TrainConfig(target=target, steps=steps, lr=2e-3, ema_decay=0.995,
                                                                  seed=seed, device="cpu")).run(progress=False)[0]
    seconds = time.perf_counter() - t0
    samples = draw_samples(res.ema, NoiseSchedule.linear(), "digits", target, N, seed)
    return digit_report(samples, held, train, seed=seed), seconds


def reference(kind, seed):
    train, held, _ = load_data("digits", seed)
    g = torch.Generator().manual_seed(seed)
    if kind == "noise":
        x = noise_images(N, seed)
    elif kind == "real":
        x = train[torch.randperm(len(train), generator=g)[:N]]
    else:                                                  # one digit class, drawn with replacement
        images, labels = digits()
        pool = images[labels == (0, 1, 7)[seed]]
        x = pool[torch.randint(0, len(pool), (N,), generator=g)]
    return digit_report(x, held, train, seed=seed), 0.0


def row(label, runs):
    keys = ("model", "precision", "recall", "copy_share")
    stats = {k: [r[k] for r, _ in runs] for k in keys}
    cells = [f"{statistics.mean(v):.2f} +- {statistics.stdev(v):.2f}" if k != "model" else
             f"{statistics.mean(v):.1f} +- {statistics.stdev(v):.1f}" for k, v in stats.items()]
    secs = statistics.mean(s for _, s in runs)
    print(f"| {label} | " + " | ".join(cells) + f" | {secs:.0f} |" if secs else f"| {label} | " + " | ".join(cells) + " | |",
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", type=int, default=16000, help="steps of the longer run")
    args = parser.parse_args()
    print("| samples | Frechet digit distance | precision | recall | copy share | training s |")
    print("|---|---|---|---|---|---|")
    row("pure noise (Gaussian pixels)", [reference("noise", s) for s in SEEDS])
    row("one digit class only (0, 1 or 7)", [reference("collapse", s) for s in SEEDS])
    row("model after 50 steps", [trained(s, 50) for s in SEEDS])
    for target in ("eps", "x0", "v"):
        row(f"classroom model, 4000 steps, {target} target", [trained(s, 4000, target) for s in SEEDS])
    row(f"longer run, {args.long} steps, eps", [trained(s, args.long) for s in SEEDS])
    row("plain 3-layer MLP (no norm, no residual), 4000 steps, eps", [trained(s, 4000, "eps", plain=True) for s in SEEDS])
    row("plain 3-layer MLP, 4000 steps, x0", [trained(s, 4000, "x0", plain=True) for s in SEEDS])
    row("real floor (training digits)", [reference("real", s) for s in SEEDS])


if __name__ == "__main__":
    main()
