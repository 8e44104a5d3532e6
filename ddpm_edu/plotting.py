"""The figures notebooks 04-06 and the CLI share. Each draws into a given ``Axes`` and labels it."""

from __future__ import annotations

import numpy as np
import torch

from .data import upsample


def per_t_curve(ax, exp, x: str = "t", space: str | None = None, label: str | None = None, floor: bool = True, color=None):
    """The final per-t loss with a +-2 stderr band, against t or log-SNR, and the exact floor beneath."""
    space = space or exp.target
    t = exp.per_t.t.numpy()
    xs = t if x == "t" else exp.schedule.log_snr[t].numpy()
    loss = exp.per_t.loss[space].numpy()
    err = exp.per_t.stderr[space].numpy()
    (line,) = ax.plot(xs, loss, marker=".", color=color, label=label or f"{exp.target}-model (EMA), held-out data")
    ax.fill_between(xs, np.maximum(loss - 2 * err, 1e-12), loss + 2 * err, color=line.get_color(), alpha=0.25)
    if floor and exp.floor is not None and space == exp.target:
        f = exp.floor["loss"].numpy()
        ax.plot(xs, f, "k--", lw=1.2, label=f"exact floor: {exp.floor['kind']}")
    ax.set_yscale("log")
    ax.set_xlabel("t" if x == "t" else "log-SNR")
    ax.set_ylabel(f"per-dimension MSE in {space} space")
    if x != "t":
        ax.invert_xaxis()
    ax.legend(fontsize=8)
    return ax


def training_loss(ax, exp):
    """The aggregate training loss (mean over each logging window) against steps."""
    ax.plot(exp.train.log_steps, exp.train.log_loss)
    ax.set_xlabel("step"); ax.set_ylabel(f"training loss ({exp.weighting}, {exp.target})")
    ax.set_yscale("log"); ax.set_title("the aggregate loss: flat and noisy")
    return ax


def bin_heatmap(ax, exp, relative: bool = True):
    """Per-t-bin running mean of the unweighted MSE during training: t-bins up, logging windows across.

    With ``relative=True`` each bin is divided by its *final* value, so every bin's remaining fall is
    visible on one colour scale (raw values differ by orders of magnitude between bins); the colour
    scale is capped at a factor 10 so the first transient does not swamp the rest.
    """
    h = exp.train.bin_history.numpy().T
    if relative:
        h = h / h[:, -1:]
    edges = exp.train.bin_edges
    im = ax.imshow(np.log10(h), aspect="auto", origin="lower", cmap="viridis", vmin=0 if relative else None,
                   vmax=1 if relative else None,
                   extent=[exp.train.log_steps[0], exp.train.log_steps[-1], edges[0] - 0.5, edges[-1] - 0.5])
    ax.set_xlabel("step"); ax.set_ylabel("t")
    ax.set_title("log10(loss / its final value), per t-bin" if relative else "log10 loss per t-bin")
    return im


def sample_grid(ax, samples: torch.Tensor, n: int = 64, title: str = "samples"):
    """Digits as a grid (8 x 8 images, upsampled), or 2-D points as a scatter."""
    if samples.dim() == 4:
        k = int(np.sqrt(min(n, len(samples))))
        imgs = upsample(samples[: k * k].clamp(-1, 1), 2)[:, 0]
        imgs = torch.nn.functional.pad(imgs, (1, 1, 1, 1), value=0.0)      # a grey frame around each digit
        h = imgs.shape[-1]
        grid = imgs.reshape(k, k, h, h).permute(0, 2, 1, 3).reshape(k * h, k * h)
        ax.imshow(grid.numpy(), cmap="gray", vmin=-1, vmax=1)
        ax.axis("off")
    else:
        ax.scatter(samples[:, 0], samples[:, 1], s=3)
        ax.set_xlabel("$x_1$"); ax.set_ylabel("$x_2$"); ax.set_aspect("equal")
    ax.set_title(title)
    return ax
