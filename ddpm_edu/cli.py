"""``python -m ddpm_edu train ...`` for headless runs, ``python -m ddpm_edu bench`` for speed figures.

    python -m ddpm_edu train --data digits --target eps --seconds 60 --out runs/eps
        writes runs/eps/metrics.json and runs/eps/{per_t,training,heatmap,samples}.png
    python -m ddpm_edu bench [--seconds 10] [--device cpu]
        prints steps/s of our step and of a textbook step, and seconds until the per-t curve settles
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .weighting import WEIGHTINGS


def _parse_weighting_params(items):
    params = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--param={item!r} is not allowed: write NAME=VALUE, e.g. gamma=5")
        key, value = item.split("=", 1)
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    return params


def _train(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plotting
    from .experiment import run

    params = _parse_weighting_params(args.param)
    if args.weighting == "min_snr" and args.gamma is not None:
        params["gamma"] = args.gamma
    exp = run(data=args.data, target=args.target, weighting=args.weighting, weighting_params=params,
              schedule=args.schedule, T=args.T, steps=args.steps, seconds=args.seconds, seed=args.seed,
              device=args.device, width=args.width, model=args.model, batch_size=args.batch_size, lr=args.lr,
              compile=args.compile, progress=not args.quiet)
    os.makedirs(args.out, exist_ok=True)
    metrics = exp.metrics()
    tmp = os.path.join(args.out, "metrics.json.tmp")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=1)
    os.replace(tmp, os.path.join(args.out, "metrics.json"))
    figures = {
        "per_t.png": lambda ax: plotting.per_t_curve(ax, exp),
        "training.png": lambda ax: plotting.training_loss(ax, exp),
        "heatmap.png": lambda ax: plotting.bin_heatmap(ax, exp),
        "samples.png": lambda ax: plotting.sample_grid(ax, exp.samples, title=f"{exp.target}-model samples"),
    }
    for name, draw in figures.items():
        fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        draw(ax)
        fig.savefig(os.path.join(args.out, name), dpi=100)
        plt.close(fig)
    q = metrics["sample_quality"]
    print(f"{metrics['steps']} steps in {metrics['seconds']:.1f} s on {metrics['device']}; "
          f"{q['name']}: model {q['model']:.3f}, real {q['real']:.3f}; wrote {args.out}/metrics.json")
    return 0


def _bench(args) -> int:
    from .bench import main as bench_main
    return bench_main(seconds=args.seconds, device=args.device, width=args.width, compile_cpu=args.compile)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddpm_edu", description="ddpm-edu: headless runs and benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a tiny model; write metrics.json and figures")
    tr.add_argument("--data", default="digits", choices=["digits", "moons", "swiss_roll", "gaussian_mixture"])
    tr.add_argument("--target", default="eps", choices=["eps", "x0", "v"])
    tr.add_argument("--weighting", default="simple", choices=list(WEIGHTINGS))
    tr.add_argument("--gamma", type=float, default=None, help="Min-SNR gamma (with --weighting min_snr)")
    tr.add_argument("--param", action="append", help="weighting parameter NAME=VALUE (repeatable), e.g. sigma=beta_tilde")
    tr.add_argument("--schedule", default="linear", choices=["linear", "cosine", "scaled_linear", "sigmoid"])
    tr.add_argument("--T", type=int, default=1000)
    tr.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    tr.add_argument("--seconds", type=float, default=None, help="stop after this much wall time")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    tr.add_argument("--model", default="mlp", choices=["mlp", "conv"])
    tr.add_argument("--width", type=int, default=128)
    tr.add_argument("--batch-size", type=int, default=256)
    tr.add_argument("--lr", type=float, default=2e-3)
    tr.add_argument("--out", required=True, help="output folder (created)")
    tr.add_argument("--compile", action="store_true", help="compile the model's forward pass with torch.compile")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    be = sub.add_parser("bench", help="training speed and time-to-stable-curve, ours against a textbook step")
    be.add_argument("--seconds", type=float, default=None, help="time budget for the convergence run")
    be.add_argument("--device", default=None, help="cpu or cuda (default: cpu, and cuda too when present)")
    be.add_argument("--width", type=int, default=128)
    be.add_argument("--compile", action="store_true",
                    help="time torch.compile on the CPU too (always done on CUDA; about 20 s of compiling per mode)")
    args = parser.parse_args(argv)
    try:
        return _train(args) if args.command == "train" else _bench(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
