"""Ancestral sampling (DDPM's Algorithm 2) for a model of any target.

Convert the prediction to x0, take the posterior mean (eq. 7), add sigma_t z with sigma_t^2 =
beta_t or beta-tilde_t, and no noise at t = 1. A v-model needs no sampler of its own. How good the
samples are is measured in :mod:`ddpm_edu.quality`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import MAX_N, Desc, bad, bad_type, check_choice, check_generator, check_int, check_module, check_real, check_shape
from .diffusion import TARGETS, posterior_coefficients
from .schedules import NoiseSchedule, check_schedule
from .threads import policy, side_by_side, split


def _model_device(model: nn.Module, device=None) -> torch.device:
    if device is not None:
        from .training import pick_device          # a bad device name is a ValueError naming device
        return pick_device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@policy
@torch.no_grad()
def ancestral_sample(model: nn.Module, schedule: NoiseSchedule, shape, n: int, target: str = "eps",
                     sigma: str = "beta", generator: torch.Generator | None = None, device=None,
                     clip_x0: float | None = None, return_path: bool = False):
    """Draw n samples of ``shape`` by ancestral sampling (Ho et al. 2020, Algorithm 2).

    ``target`` must be what the model predicts: sampling a v-model as if it predicted eps is a
    real bug that notebook 05 shows. ``clip_x0`` clamps the model's x0 (e.g. 1.0 for data in
    [-1, 1]) at every step, as improved-diffusion does (Ho et al.'s Algorithm 2 has no clip; their
    code has it). ``return_path=True`` also returns x_t at every step.
    """
    check_module("model", model)
    check_choice("target", target, TARGETS)
    check_generator("generator", generator)
    out = sample_family([model], schedule, shape, n, [target], sigma=sigma, generators=[generator], device=device,
                        clip_x0=clip_x0, return_path=return_path)[0]
    return out


@policy
@torch.no_grad()
def sample_family(models: list, schedule: NoiseSchedule, shape, n: int, targets: list, sigma: str = "beta",
                  generators: list | None = None, device=None, clip_x0: float | None = None, return_path: bool = False) -> list:
    """n ancestral samples from each of K models: the members are split into groups sampled side by side
    (:func:`ddpm_edu.threads.split`), each group's chains stepped together; member k draws from
    ``generators[k]`` and gets what :func:`ancestral_sample` would give it alone (the same draws and steps;
    float32 matrix products may differ in the last bit with the memory layout). Returns K tensors
    (n, *shape), float64 on the CPU (with ``return_path``: K pairs (samples, path)).

    Each member's network is called as it is, not stacked: at n = 1000 a stacked forward pass
    (:class:`~ddpm_edu.models.StackedMLP`) took 9.4 ms against 7.3 ms for three plain ones on a 2-core CPU
    machine (its activations no longer fit the core's cache), so only training stacks the members."""
    if not isinstance(models, (list, tuple)) or not models:
        raise bad_type("models", models, "models must be a non-empty list of models")
    for i, m in enumerate(models):
        check_module(f"models[{i}]", m)
    check_schedule("schedule", schedule)
    shape = check_shape("shape", shape)
    if not isinstance(targets, (list, tuple)) or len(targets) != len(models):
        raise bad("targets", targets, f"give one target per model ({len(models)})")
    for i, target in enumerate(targets):
        check_choice(f"targets[{i}]", target, TARGETS)
    check_choice("sigma", sigma, ("beta", "beta_tilde"))
    n = check_int("n", n, 1, MAX_N)
    generators = [None] * len(models) if generators is None else list(generators)
    if len(generators) != len(models):
        raise bad("generators", Desc(f"{len(generators)} generators"), f"give one generator per model ({len(models)})")
    for i, g in enumerate(generators):
        if g is not None:
            check_generator(f"generators[{i}]", g)
    if clip_x0 is not None:
        clip_x0 = check_real("clip_x0", clip_x0, low=0)
    for m in models:
        dim = getattr(m, "data_dim", None)
        if dim is not None and math.prod(shape) != dim:
            raise bad("shape", shape, f"the model takes {dim} numbers per example")
    dev = _model_device(models[0], device)
    out = [None] * len(models)
    tasks = [lambda g=g: (g, _chain([models[i] for i in g], schedule, shape, n, [targets[i] for i in g], sigma,
                                    [generators[i] for i in g], dev, clip_x0, return_path)) for g in split(len(models))]
    for g, res in side_by_side(tasks):
        for i, r in zip(g, res):
            out[i] = r
    return out


def _to_x0(target: str, x, pred, a: float, s: float):
    """x0 implied by a prediction at x_t = a x0 + s eps (the conversions of notebook 02)."""
    if target == "eps":
        return (x - s * pred) / a
    if target == "v":
        return a * x - s * pred
    return pred


def _chain(models, schedule, shape, n, targets, sigma, generators, dev, clip_x0, return_path) -> list:
    """The reverse chains t = T..1 of one group's members, one step at a time: eq. 7 with x0 from the model
    (see model_mean), plus sigma_t z for t > 1."""
    var = schedule.betas if sigma == "beta" else schedule.posterior_variance
    a = schedule.alpha_bars.sqrt().tolist()                    # per-t scalars, precomputed once
    s_ = schedule.one_minus_alpha_bars.sqrt().tolist()
    c0, ct = (c.tolist() for c in posterior_coefficients(schedule))
    std = var.sqrt().tolist()
    x = [torch.randn((n,) + tuple(shape), generator=g, dtype=torch.float64).to(dev, torch.float32) for g in generators]
    paths = [[xi.cpu().double()] for xi in x] if return_path else None
    for m in models:
        m.eval()
    tt = torch.empty(n, dtype=torch.int64, device=dev)
    for t in range(schedule.T, 0, -1):
        tt.fill_(t)
        for k, (m, target, g) in enumerate(zip(models, targets, generators)):
            x0 = _to_x0(target, x[k], m(x[k], tt), a[t], s_[t])
            if clip_x0 is not None:
                x0 = x0.clamp(-clip_x0, clip_x0)
            x[k] = c0[t] * x0 + ct[t] * x[k]
            if t > 1:
                x[k] = x[k] + std[t] * torch.randn(x[k].shape, generator=g).to(dev)
            if return_path:
                paths[k].append(x[k].cpu().double())
    return [(xi.cpu().double(), p) for xi, p in zip(x, paths)] if return_path else [xi.cpu().double() for xi in x]
