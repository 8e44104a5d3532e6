"""Ancestral sampling (DDPM's Algorithm 2) for a model of any target, at discrete t and at continuous log-SNR.

Convert the prediction to x0, take the posterior mean (eq. 7), add sigma_t z with sigma_t^2 =
beta_t or beta-tilde_t, and no noise at t = 1. A v-model needs no sampler of its own. The objectives of
notebook 07 (:class:`~ddpm_edu.losses.ObjectiveModel`) are sampled down a log-SNR grid with the
variance-preserving posterior (:func:`ancestral_sample_lambda`). How good the samples are is measured in
:mod:`ddpm_edu.quality`. The conversions and the posterior mean are :mod:`ddpm_edu.diffusion`'s.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import objectives as O
from ._checks import MAX_N, MAX_T, Desc, bad, bad_type, check_choice, check_generator, check_int, check_module, check_real, check_shape, check_tensor
from .diffusion import TARGETS, convert_kernel, noised, vp_coefficients, forward_coefficients, posterior_coefficients, posterior_mean_kernel
from .losses import ObjectiveModel
from .runtime import model_device
from .schedules import NoiseSchedule, check_schedule
from .threads import fan_out, policy, split


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
    dev = model_device(models[0], device)
    return fan_out(split(len(models)), lambda g: _chain([models[i] for i in g], schedule, shape, n, [targets[i] for i in g],
                                                        sigma, [generators[i] for i in g], dev, clip_x0, return_path))


def _chain(models, schedule, shape, n, targets, sigma, generators, dev, clip_x0, return_path) -> list:
    """The reverse chains t = T..1 of one group's members, one step at a time: eq. 7 with x0 from the model
    (see model_mean), plus sigma_t z for t > 1."""
    var = schedule.betas if sigma == "beta" else schedule.posterior_variance
    a, s_ = (c.tolist() for c in forward_coefficients(schedule))      # per-t scalars, precomputed once
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
            x0 = convert_kernel(target, "x0", m(x[k], tt), x[k], a[t], s_[t])
            if clip_x0 is not None:
                x0 = x0.clamp(-clip_x0, clip_x0)
            x[k] = posterior_mean_kernel(c0[t], ct[t], x0, x[k])
            if t > 1:
                x[k] = x[k] + std[t] * torch.randn(x[k].shape, generator=g).to(dev)
            if return_path:
                paths[k].append(x[k].cpu().double())
    return [(xi.cpu().double(), p) for xi, p in zip(x, paths)] if return_path else [xi.cpu().double() for xi in x]


def ddim_timesteps(T: int, steps: int) -> list:
    """The ``steps`` timesteps t_1 < ... < t_steps a shortened sampler visits: evenly spaced in 1..T, both ends
    included, rounded as improved-diffusion's ``space_timesteps`` rounds them (``steps = T``: every t)."""
    T, steps = check_int("T", T, 1, MAX_T), check_int("steps", steps, 1)
    if steps > T:
        raise bad("steps", steps, f"steps must be between 1 and T = {T}")
    return [T] if steps == 1 else [round(i * (T - 1) / (steps - 1)) + 1 for i in range(steps)]


@policy
@torch.no_grad()
def ddim_sample(model: nn.Module, schedule: NoiseSchedule, shape, n: int, steps: int, eta: float = 0.0,
                target: str = "eps", generator: torch.Generator | None = None, device=None,
                clip_x0: float | None = None, return_path: bool = False):
    """DDIM (Song et al. 2021): n samples in ``steps`` steps from a model trained on the DDPM loss, no retraining.

    Down the timesteps of :func:`ddim_timesteps`, from t to the previous visited step s (s = 0 after the last):
        x_s = sqrt(alpha-bar_s) x0_hat + sqrt(1 - alpha-bar_s - sigma^2) eps_hat + sigma z          (eq. 12)
        sigma = eta sqrt((1 - alpha-bar_s) / (1 - alpha-bar_t)) sqrt(1 - alpha-bar_t / alpha-bar_s)  (eq. 16)
    x0_hat and eps_hat are the model's prediction converted (any ``target``); with ``clip_x0`` the x0 is clamped
    and eps_hat recomputed from it, as improved-diffusion does. ``eta = 0``: deterministic given x_T (the same
    generator gives the same samples). ``eta = 1``: sigma^2 is the posterior variance beta-tilde of the chain
    through the visited steps, so with every step (``steps = T``) it is ancestral sampling with sigma^2 =
    beta-tilde_t (:func:`ancestral_sample`, ``sigma="beta_tilde"``, the same draws), and with fewer it is ancestral
    sampling of the respaced chain (improved-diffusion's respacing). x_T is the generator's first draw, as in
    :func:`ancestral_sample`; ``return_path=True`` also returns the x_t visited, x_T first. Returns (n, *shape),
    float64 on the CPU.
    """
    check_module("model", model)
    check_schedule("schedule", schedule)
    shape = check_shape("shape", shape)
    n = check_int("n", n, 1, MAX_N)
    taus = ddim_timesteps(schedule.T, steps)
    eta = check_real("eta", eta, low=0, high=1, low_open=False, high_open=False)
    check_choice("target", target, TARGETS)
    check_generator("generator", generator)
    clip_x0 = None if clip_x0 is None else check_real("clip_x0", clip_x0, low=0)
    dev = model_device(model, device)
    model.eval()
    return _ddim_chain(model, schedule, shape, n, taus, eta, target, generator, dev, clip_x0, return_path)


def _ddim_chain(model, schedule, shape, n, taus, eta, target, g, dev, clip_x0, return_path):
    abar = schedule.alpha_bars.tolist()
    x = torch.randn((n,) + tuple(shape), generator=g, dtype=torch.float64).to(dev, torch.float32)
    path = [x.cpu().double()] if return_path else None
    tt = torch.empty(n, dtype=torch.int64, device=dev)
    for i in range(len(taus) - 1, -1, -1):
        t, prev = taus[i], (taus[i - 1] if i > 0 else 0)
        a, s = math.sqrt(abar[t]), math.sqrt(1.0 - abar[t])
        pred = model(x, tt.fill_(t))
        x0 = convert_kernel(target, "x0", pred, x, a, s)
        if clip_x0 is None:
            eps = convert_kernel(target, "eps", pred, x, a, s)
        else:
            x0 = x0.clamp(-clip_x0, clip_x0)
            eps = convert_kernel("x0", "eps", x0, x, a, s)
        sigma = eta * math.sqrt((1 - abar[prev]) / (1 - abar[t]) * (1 - abar[t] / abar[prev]))
        # eq. 12: x0_hat taken to level s, plus the direction pointing to x_t (eps_hat), plus fresh noise
        x = noised(math.sqrt(abar[prev]), math.sqrt(max(1 - abar[prev] - sigma ** 2, 0.0)), x0, eps)
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=g).to(dev)
        if return_path:
            path.append(x.cpu().double())
    return (x.cpu().double(), path) if return_path else x.cpu().double()


@policy
@torch.no_grad()
def ancestral_sample_lambda(model: ObjectiveModel, lam_grid, shape, n: int, generator: torch.Generator,
                            clip_x0: float | None = 1.0) -> torch.Tensor:
    """Ancestral sampling down a decreasing log-SNR grid with the variance-preserving posterior.

    From z_t at lambda_t to z_s at lambda_s > lambda_t: x_hat from the model's eps, then
    q(z_s | z_t, x_hat) = N(alpha_t|s sigma_s^2 / sigma_t^2 z_t + alpha_s sigma_t|s^2 / sigma_t^2 x_hat,
    sigma_t|s^2 sigma_s^2 / sigma_t^2) with alpha_t|s = alpha_t / alpha_s, sigma_t|s^2 = sigma_t^2 -
    alpha_t|s^2 sigma_s^2 (Kingma et al. 2021, appendix A). On DDPM's lambda_t grid this is DDPM's
    sampler with sigma_t^2 = beta-tilde_t; the last step returns x_hat.
    """
    return sample_objectives([model], lam_grid, shape, n, [generator], clip_x0=clip_x0)[0]


@policy
@torch.no_grad()
def sample_objectives(models: list, lam_grid, shape, n: int, generators: list, clip_x0: float | None = 1.0) -> list:
    """:func:`ancestral_sample_lambda` for K models at once (groups side by side); member k draws
    from ``generators[k]`` and gets what it would alone (to float32 rounding). Returns K tensors (n, *shape), float64."""
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, ObjectiveModel) for m in models):
        raise bad_type("model", models, "model must be an ObjectiveModel (train_objective returns one)")
    if not isinstance(generators, (list, tuple)) or len(generators) != len(models):
        raise bad("generators", generators, f"give one generator per model ({len(models)})")
    for g in generators:
        check_generator("generator", g)
    shape = check_shape("shape", shape)
    if clip_x0 is not None:
        clip_x0 = check_real("clip_x0", clip_x0, low=0)
    lam = check_tensor("lam_grid", lam_grid, accept_arrays=True).to(torch.float64)
    if lam.dim() != 1 or lam.numel() < 2 or not bool((lam[1:] > lam[:-1]).all()) or lam.abs().max() > 40:
        raise bad("lam_grid", lam, "lam_grid must be an increasing 1-D grid of log-SNRs in [-40, 40] (noisy to clean)")
    n = check_int("n", n, 1, MAX_N)
    return fan_out(split(len(models)), lambda g: _reverse_chain([models[i] for i in g], lam, shape, n,
                                                                [generators[i] for i in g], clip_x0))


def _reverse_chain(models: list, lam: torch.Tensor, shape, n: int, generators: list, clip_x0) -> list:
    """The reverse chains of one group's members, one level at a time (each network called as it is: see
    :func:`ddpm_edu.sampling.sample_family` for why sampling does not stack them)."""
    z = [torch.randn((n,) + tuple(shape), generator=g, dtype=torch.float64) for g in generators]
    for k in range(lam.numel()):
        lt = lam[k]
        a_t, s_t = vp_coefficients(lt)
        lv = torch.full((n,), float(lt))
        x_hat = [convert_kernel("eps", "x0", m.eps(zi.float(), lv).double(), zi, a_t, s_t) for m, zi in zip(models, z)]
        if clip_x0 is not None:
            x_hat = [x.clamp(-clip_x0, clip_x0) for x in x_hat]
        if k == lam.numel() - 1:
            return x_hat
        c_z, c_x, std = posterior_step(float(lt), float(lam[k + 1]))
        z = [posterior_mean_kernel(c_x, c_z, x, zi) + std * torch.randn(zi.shape, generator=g, dtype=torch.float64)
             for zi, x, g in zip(z, x_hat, generators)]
    return z


def ddpm_lambda_grid(steps: int = 1000) -> torch.Tensor:
    """``steps`` of DDPM's 1000 log-SNRs (linear schedule), evenly spaced in t and ending at t = 1, increasing
    (noisy to clean): the grid :func:`ancestral_sample_lambda` walks. 1000 gives every level; 250 every fourth
    (t = 997, 993, ..., 5, 1)."""
    steps = check_int("steps", steps, 2, 1000)
    if 1000 % steps:
        raise bad("steps", steps, "steps must divide 1000 (e.g. 1000, 500, 250, 200, 100, 50) so the grid is evenly spaced in t")
    lam_by_t = torch.as_tensor(O.linear_log_snr(), dtype=torch.float64)      # t = 1..1000, decreasing
    return lam_by_t[:: 1000 // steps].flip(0)


def posterior_step(lam_t: float, lam_s: float):
    """``(c_z, c_x, std)`` of q(z_s | z_t, x) = N(c_z z_t + c_x x, std^2) for lambda_s > lambda_t (VP).

    alpha_t|s = alpha_t / alpha_s, sigma_t|s^2 = sigma_t^2 - alpha_t|s^2 sigma_s^2; c_z = alpha_t|s sigma_s^2 /
    sigma_t^2, c_x = alpha_s sigma_t|s^2 / sigma_t^2, std^2 = sigma_t|s^2 sigma_s^2 / sigma_t^2 (Kingma et al. 2021).
    """
    lam_t = check_real("lam_t", lam_t, low=-40, high=40)
    lam_s = check_real("lam_s", lam_s, low=-40, high=40)
    if not lam_s > lam_t:
        raise bad("lam_s", lam_s, f"lam_s must be larger (cleaner) than lam_t = {lam_t}")
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))
    a_t, a_s = math.sqrt(sig(lam_t)), math.sqrt(sig(lam_s))
    s2_t, s2_s = sig(-lam_t), sig(-lam_s)
    a_ts = a_t / a_s
    var_ts = s2_t - a_ts ** 2 * s2_s
    return a_ts * s2_s / s2_t, a_s * var_ts / s2_t, math.sqrt(max(var_ts * s2_s / s2_t, 0.0))
