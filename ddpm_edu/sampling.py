"""Ancestral sampling and sample-quality figures that need no download.

* :func:`ancestral_sample`: DDPM's Algorithm 2 for a model of any target: convert the prediction
  to x0, take the posterior mean (eq. 7), add sigma_t z with sigma_t^2 = beta_t or beta-tilde_t,
  and no noise at t = 1. A v-model needs no sampler of its own.
* :func:`energy_distance` for 2-D data (with the real-vs-real floor next to it);
* :class:`DigitJudge`: a logistic-regression classifier trained on real digits; the share of samples
  it labels with probability > 0.9 (next to the share for held-out real digits).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from ._checks import bad, check_choice, check_int
from .diffusion import TARGETS, posterior_coefficients
from .schedules import NoiseSchedule


def _model_device(model: nn.Module, device=None) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def ancestral_sample(model: nn.Module, schedule: NoiseSchedule, shape, n: int, target: str = "eps",
                     sigma: str = "beta", generator: torch.Generator | None = None, device=None,
                     clip_x0: float | None = None, return_path: bool = False):
    """Draw n samples of ``shape`` by ancestral sampling (Ho et al. 2020, Algorithm 2).

    ``target`` must be what the model predicts: sampling a v-model as if it predicted eps is a
    real bug that notebook 05 shows. ``clip_x0`` clamps the model's x0 (e.g. 1.0 for data in
    [-1, 1]), as improved-diffusion does. ``return_path=True`` also returns x_t at every step.
    """
    check_choice("target", target, TARGETS)
    check_choice("sigma", sigma, ("beta", "beta_tilde"))
    n = check_int("n", n, 1)
    if generator is None:
        raise bad("generator", None, "pass a torch.Generator: every random draw is seeded in ddpm_edu")
    dev = _model_device(model, device)
    var = schedule.betas if sigma == "beta" else schedule.posterior_variance
    # per-t scalars, precomputed once: the loop below is eq. 7 with x0 from the model (see model_mean)
    a = schedule.alpha_bars.sqrt().tolist()
    s_ = schedule.one_minus_alpha_bars.sqrt().tolist()
    c0, ct = (c.tolist() for c in posterior_coefficients(schedule))
    std = var.sqrt().tolist()
    x = torch.randn((n,) + tuple(shape), generator=generator, dtype=torch.float64).to(dev, torch.float32)
    path = [x.cpu().double()] if return_path else None
    model.eval()
    tt = torch.empty(n, dtype=torch.int64, device=dev)
    for t in range(schedule.T, 0, -1):
        pred = model(x, tt.fill_(t))
        if target == "eps":
            x0 = (x - s_[t] * pred) / a[t]
        elif target == "v":
            x0 = a[t] * x - s_[t] * pred
        else:
            x0 = pred
        if clip_x0 is not None:
            x0 = x0.clamp(-clip_x0, clip_x0)
        x = c0[t] * x0 + ct[t] * x
        if t > 1:
            x = x + std[t] * torch.randn(x.shape, generator=generator).to(dev)
        if return_path:
            path.append(x.cpu().double())
    x = x.cpu().double()
    return (x, path) if return_path else x


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Squared energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between two samples (n, D), (m, D).

    Szekely & Rizzo (2013), eq. 1, with the V-statistic (all pairs, self-pairs included). It is >= 0
    and 0 for identical samples; compare a model's value with the real-vs-real floor.
    """
    x = torch.as_tensor(x, dtype=torch.float64).reshape(len(x), -1)
    y = torch.as_tensor(y, dtype=torch.float64).reshape(len(y), -1)
    return float(2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean())


class DigitJudge:
    """Logistic regression on the 64 pixels of real digits (train split), judging confidence.

    ``confident_share(images)`` is the share of images whose top class probability exceeds
    ``threshold``: real held-out digits score high, noise and blurs score low. It is a sanity
    figure, not FID: over-smoothed digits can score well (notebook 05 says so).
    """

    def __init__(self, seed: int = 0, threshold: float = 0.9):
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split

        from .data import digits

        images, labels = digits(torch.float64)
        X = images.reshape(len(images), -1).numpy()
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            X, labels.numpy(), test_size=0.3, random_state=seed, stratify=labels.numpy())
        self.clf = LogisticRegression(max_iter=2000, C=1.0).fit(self.X_train, self.y_train)
        self.threshold = threshold

    def confident_share(self, images) -> float:
        X = torch.as_tensor(images, dtype=torch.float64).reshape(len(images), -1).clamp(-1, 1).numpy()
        return float((self.clf.predict_proba(X).max(1) > self.threshold).mean())

    def real_share(self) -> float:
        """The same figure for held-out real digits: the ceiling to compare against."""
        return self.confident_share(torch.as_tensor(self.X_test))


@functools.lru_cache(maxsize=4)
def digit_judge(seed: int = 0) -> DigitJudge:
    """A cached :class:`DigitJudge` (fitting it takes a second; every run with the same seed shares one)."""
    return DigitJudge(seed=seed)


def sample_quality(data_name: str, samples: torch.Tensor, real: torch.Tensor, seed: int = 0) -> dict:
    """``{"name", "model", "real"}``: the figure for the samples and for real data (the floor or ceiling).

    digits: share judged confidently by :class:`DigitJudge` (higher is better; "real" = held-out digits).
    2-D toys: energy distance to held-out real points (lower is better; "real" = real vs real, the floor).
    """
    if data_name == "digits":
        judge = digit_judge(seed)
        return {"name": "confident_share_p>0.9", "model": judge.confident_share(samples), "real": judge.real_share()}
    n = min(len(samples), len(real) // 2)
    g = np.random.default_rng(seed)
    perm = g.permutation(len(real))
    held_a, held_b = real[perm[:n]], real[perm[n:2 * n]]
    return {"name": "energy_distance", "model": energy_distance(samples[:n], held_a), "real": energy_distance(held_b, held_a)}
