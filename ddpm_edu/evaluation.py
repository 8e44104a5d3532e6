"""Measuring a trained model: its per-t loss with common random numbers, its loss per log-SNR, and how noisy a
minibatch gradient of an objective is at its parameters. Every x_t is formed by :mod:`ddpm_edu.diffusion`; the
gradient noise is measured on the training loss itself (:class:`~ddpm_edu.losses.DDPMLoss`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import MAX_N, Desc, bad, bad_type, check_choice, check_data, check_int, check_model_fits, check_module, check_tensor, check_timesteps
from .diffusion import TARGETS, combine, convert_kernel, forward_coefficients, noised, target_coefficients, vp_coefficients
from .losses import DDPMLoss, ObjectiveModel
from .runtime import pick_device
from .schedules import NoiseSchedule, check_schedule
from .threads import policy
from .weighting import WEIGHTINGS, normalize, weight


@dataclass
class PerTLoss:
    """Per-t evaluation with common random numbers. ``loss[space]`` and ``stderr[space]`` are
    arrays over ``t`` of the per-dimension MSE in that space (the same predictions, converted)."""
    t: torch.Tensor
    loss: dict
    stderr: dict
    target: str
    n: int


@policy
@torch.no_grad()
def evaluate_per_t(model: nn.Module, data: torch.Tensor, schedule: NoiseSchedule, target: str, t_values=None,
                   n: int = 512, seed: int = 1234, device=None) -> PerTLoss:
    """Per-t loss of ``model`` (a ``target``-predictor) on a fixed grid of t with fixed noise.

    The same ``n`` examples and the same noise are used at every t (common random numbers), so the
    differences between t are not sampling noise. Reported for all three spaces, with standard
    errors over the n examples.
    """
    check_module("model", model)
    check_schedule("schedule", schedule)
    check_choice("target", target, TARGETS)
    data = check_data("data", data)
    dev = pick_device(device)
    if t_values is None:
        t_values = torch.unique(torch.linspace(1, schedule.T, 50).round().long())
    t_values = check_timesteps("t_values", t_values, schedule.T).reshape(-1)
    if t_values.numel() < 1:
        raise bad("t_values", t_values, "t_values must name at least one step")
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2 ** 63 - 1))
    if data.shape[0] < 2:
        raise bad("data", Desc(f"tensor of shape {tuple(data.shape)}"), "data must hold at least 2 examples (for standard errors)")
    check_model_fits("data", data, model)
    n = min(check_int("n", n, 2, MAX_N), data.shape[0])
    idx = torch.randperm(data.shape[0], generator=g)[:n]
    x0 = data[idx].to(torch.float64)
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    p = next(model.parameters(), None)
    home = p.device if p is not None else torch.device("cpu")
    was_training = model.training
    model.to(dev).eval()
    try:
        loss, err = _per_t_loop(model, schedule, target, t_values, x0, noise, dev)
    finally:                                  # the caller's model stays where (and as) it was
        model.to(home).train(was_training)
    return PerTLoss(t=t_values, loss={k: torch.stack(v) for k, v in loss.items()},
                    stderr={k: torch.stack(v) for k, v in err.items()}, target=target, n=n)


def _per_t_loop(model, schedule, target, t_values, x0, noise, dev):
    n = x0.shape[0]
    loss = {sp: [] for sp in TARGETS}
    err = {sp: [] for sp in TARGETS}
    a_t, s_t = forward_coefficients(schedule)
    for t in t_values.tolist():
        tt = torch.full((n,), t, dtype=torch.int64)
        a, s = a_t[t], s_t[t]
        x_t = noised(a, s, x0, noise)
        pred = model(x_t.to(dev, torch.float32), tt.to(dev)).to("cpu", torch.float64)
        for sp in TARGETS:
            p = convert_kernel(target, sp, pred, x_t, a, s)
            per = (p - combine(*target_coefficients(a, s, sp), noise, x0)).square().flatten(1).mean(1)
            loss[sp].append(per.mean())
            err[sp].append(per.std() / math.sqrt(n))
    return loss, err


@policy
def gradient_noise(model: nn.Module, data: torch.Tensor, schedule: NoiseSchedule, target: str = "eps",
                   weighting: str = "simple", weighting_params: dict | None = None, batch_size: int = 256,
                   n_batches: int = 32, seed: int = 0) -> dict:
    """How noisy a minibatch gradient of an objective is, at the parameters of ``model``.

    Draws ``n_batches`` independent minibatches (uniform t, as in training), computes the gradient
    g_i of the weighted loss on each, and returns ``{"signal": ||mean g||^2, "noise": mean ||g_i -
    mean g||^2, "ratio": noise / signal}``. The weights are normalised to mean 1 over t, so two
    weightings are compared at the same overall scale (the ratio does not depend on it anyway). A
    high ratio means each step mostly follows noise: the difficulty Nichol & Dhariwal (2021, sec.
    3.3) report for optimising the VLB directly, whose few large small-t terms dominate a batch.
    """
    check_module("model", model)
    check_schedule("schedule", schedule)
    check_choice("target", target, TARGETS)
    data = check_data("data", data).to(torch.float32)
    check_model_fits("data", data, model)
    batch_size = check_int("batch_size", batch_size, 1, MAX_N)
    n_batches = check_int("n_batches", n_batches, 2, 10_000)
    check_choice("weighting", weighting, tuple(WEIGHTINGS))
    if weighting_params is not None and not isinstance(weighting_params, dict):
        raise bad_type("weighting_params", weighting_params, "weighting_params must be a dict")
    w = normalize(weight(schedule, weighting, target, **(weighting_params or {})))
    m = copy.deepcopy(model).to("cpu").train()
    params = [p for p in m.parameters() if p.requires_grad]
    loss = DDPMLoss(schedule, [target], [w], ["uniform"], [check_int("seed", seed, 0)], batch_size, torch.device("cpu"),
                    torch.float32)
    net = lambda x, t: m(x[0], t[0]).unsqueeze(0)       # noqa: E731 - the loss calls a (K, B, ...) network
    grads = [torch.cat([gr.reshape(-1) for gr in torch.autograd.grad(loss(net, data[None])[0].sum(), params)]).double()
             for _ in range(n_batches)]
    G = torch.stack(grads)
    mean = G.mean(0)
    signal = float(mean.square().sum())
    noise = float((G - mean).square().sum(1).mean())
    return {"signal": signal, "noise": noise, "ratio": noise / signal if signal > 0 else math.inf}


@policy
@torch.no_grad()
def eps_loss_per_lambda(model: ObjectiveModel, data: torch.Tensor, lam_values, n: int = 512, seed: int = 1234):
    """``(mean, stderr)`` of the per-dimension eps-MSE at each lambda, the same examples and noise at every lambda."""
    if not isinstance(model, ObjectiveModel):
        raise bad_type("model", model, "model must be an ObjectiveModel (train_objective returns one)")
    data = check_data("data", data)
    if data.shape[0] < 2:
        raise bad("data", data, "data must hold at least 2 examples")
    lam_values = check_tensor("lam_values", lam_values, accept_arrays=True).reshape(-1)
    if lam_values.numel() < 1:
        raise bad("lam_values", lam_values, "lam_values must hold at least one log-SNR")
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2 ** 63 - 1))
    n = min(check_int("n", n, 2, MAX_N), data.shape[0])
    x = data[torch.randperm(data.shape[0], generator=g)[:n]].to(torch.float32)
    eps = torch.randn(x.shape, generator=g)
    means, errs = [], []
    for lam in torch.as_tensor(lam_values, dtype=torch.float32).tolist():
        lv = torch.full((n,), lam)
        a, s = (v.reshape(-1, *([1] * (x.dim() - 1))) for v in vp_coefficients(lv))
        per = (model.eps(noised(a, s, x, eps), lv) - eps).square().flatten(1).mean(1).double()
        means.append(per.mean()); errs.append(per.std() / math.sqrt(n))
    return torch.stack(means), torch.stack(errs)
