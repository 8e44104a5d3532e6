"""Ancestral sampling (DDPM's Algorithm 2) for a model of any target.

Convert the prediction to x0, take the posterior mean (eq. 7), add sigma_t z with sigma_t^2 =
beta_t or beta-tilde_t, and no noise at t = 1. A v-model needs no sampler of its own. How good the
samples are is measured in :mod:`ddpm_edu.quality`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import MAX_N, bad, check_choice, check_generator, check_int, check_module, check_real, check_schedule, check_shape
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
    check_module("model", model)
    check_schedule("schedule", schedule)
    shape = check_shape("shape", shape)
    check_choice("target", target, TARGETS)
    check_choice("sigma", sigma, ("beta", "beta_tilde"))
    n = check_int("n", n, 1, MAX_N)
    check_generator("generator", generator)
    if clip_x0 is not None:
        clip_x0 = check_real("clip_x0", clip_x0, low=0)
    dim = getattr(model, "data_dim", None)
    if dim is not None and math.prod(shape) != dim:
        raise bad("shape", shape, f"the model takes {dim} numbers per example")
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
