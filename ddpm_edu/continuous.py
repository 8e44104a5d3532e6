"""Training the objectives of :mod:`ddpm_edu.objectives` side by side, at continuous noise levels.

Every objective here trains the same network (the residual MLP of :mod:`ddpm_edu.models`) on its own
terms: noise levels drawn by its own sampler (``objectives.sample_lambda``), its own input (the
variance-preserving z = alpha x + sigma eps, or rectified flow's (1 - t) x + t eps, or EDM's
preconditioned x + sigma eps), its own output (eps, v, velocity, or EDM's denoiser D with c_skip and
c_out) and its own loss weight. The network is conditioned on the log-SNR lambda, not on an integer t
(through the same sinusoidal embedding, fed c(lambda) = 50 (10 - lambda), which maps the linear
schedule's lambda range onto 0..1000).

For evaluation and sampling every model is turned into an eps-predictor at (z_vp, lambda), so all are
measured the same way: the per-lambda eps-MSE (common random numbers) and ancestral sampling down DDPM's
lambda values (all 1000, or every k-th: :func:`ddpm_lambda_grid`) with the variance-preserving posterior
(Kingma et al. 2021, eq. 6 and appendix A), which is exact between any two noise levels.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import MAX_N, bad, bad_type, check_choice, check_data, check_generator, check_int, check_module, check_real, check_shape, check_tensor
from . import objectives as O


def c_noise(lam: torch.Tensor) -> torch.Tensor:
    """The network's noise-level input: 50 (10 - lambda), so lambda in [-10, 10] spans 0..1000 like t."""
    return 50.0 * (10.0 - lam)


def _vp(lam):
    return torch.sigmoid(lam).sqrt(), torch.sigmoid(-lam).sqrt()


class ObjectiveModel(nn.Module):
    """``net`` used the way objective ``name`` uses it; ``eps(z_vp, lam)`` gives every model's eps prediction.

    ``own(z_vp, lam)`` returns the prediction in the objective's own target space (eps, v, x0 or
    velocity); :func:`own_target` gives the matching truth.
    """

    def __init__(self, net: nn.Module, name: str, sigma_data: float = 0.5):
        super().__init__()
        self.net, self.name = check_module("net", net), check_choice("name", name, O.OBJECTIVES)
        self.target = O.TARGET[name]
        self.sigma_data = check_real("sigma_data", sigma_data, low=0)

    def _shape(self, v, like):
        return v.reshape(-1, *([1] * (like.dim() - 1)))

    def own(self, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        a, s = (self._shape(v, z_vp) for v in _vp(lam))
        if self.target == "velocity":                          # rectified flow sees (1 - t) x + t eps
            t = torch.sigmoid(-lam / 2)
            z_fm = self._shape((1 - t), z_vp) / a * z_vp
            return self.net(z_fm, c_noise(lam))
        if self.target == "x0":                                # EDM: D = c_skip z + c_out F(c_in z; c_noise)
            sigma = torch.exp(-lam / 2)
            sd2 = self.sigma_data ** 2
            z_ve = z_vp / a                                    # x + sigma eps
            sig = self._shape(sigma, z_vp)
            c_in = 1 / torch.sqrt(sig ** 2 + sd2)
            c_skip = sd2 / (sig ** 2 + sd2)
            c_out = sig * self.sigma_data / torch.sqrt(sig ** 2 + sd2)
            return c_skip * z_ve + c_out * self.net(c_in * z_ve, c_noise(lam))
        return self.net(z_vp, c_noise(lam))

    def eps(self, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """The eps prediction implied by the own-space prediction, at the variance-preserving z."""
        pred = self.own(z_vp, lam)
        a, s = (self._shape(v, z_vp) for v in _vp(lam))
        if self.target == "eps":
            return pred
        if self.target == "v":
            return s * z_vp + a * pred
        if self.target == "x0":                                # eps = (z_ve - D) / sigma
            sigma = self._shape(torch.exp(-lam / 2), z_vp)
            return (z_vp / a - pred) / sigma
        t = self._shape(torch.sigmoid(-lam / 2), z_vp)         # eps = z_fm + (1 - t) u
        return (1 - t) / a * z_vp + (1 - t) * pred


def own_target(name: str, x: torch.Tensor, eps: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """The regression target of objective ``name``: eps, v = a eps - s x, x (EDM) or the velocity eps - x."""
    target = O.TARGET[check_choice("name", name, O.OBJECTIVES)]
    if target == "eps":
        return eps
    if target == "x0":
        return x
    if target == "velocity":
        return eps - x
    a, s = (v.reshape(-1, *([1] * (x.dim() - 1))) for v in _vp(lam))
    return a * eps - s * x


def own_weight(name: str, lam: torch.Tensor, **params) -> torch.Tensor:
    """The weight objective ``name`` puts on its own target's MSE (so that own weight x own MSE = eps_weight x eps-MSE)."""
    target = O.TARGET[name]
    w = torch.as_tensor(O.eps_weight(name, lam.detach().cpu().to(torch.float64), **params))
    per = {"eps": torch.ones_like(w), "v": 1 + torch.exp(-lam.cpu().double()),
           "x0": torch.exp(-lam.cpu().double()), "velocity": (1 + torch.exp(-lam.cpu().double() / 2)) ** 2}[target]
    return (w / per).to(lam.device, torch.float32)


@dataclass
class ObjectiveRun:
    name: str
    model: ObjectiveModel           # the EMA model, on the CPU, in eval mode
    steps: int
    seconds: float
    log_loss: list


def train_objective(net: nn.Module, data: torch.Tensor, name: str, steps: int, seed: int = 0, batch_size: int = 256,
                    lr: float = 2e-3, ema_decay: float = 0.995, progress: bool = False, **params) -> ObjectiveRun:
    """Train ``net`` on ``data`` (N, ...) with objective ``name`` for ``steps`` steps on the CPU; every draw seeded."""
    check_module("net", net)
    data = check_data("data", data).to(torch.float32)
    steps = check_int("steps", steps, 1, 10 ** 9)
    batch_size = check_int("batch_size", batch_size, 1, MAX_N)
    lr = check_real("lr", lr, low=0)
    ema_decay = check_real("ema_decay", ema_decay, low=0, high=1, low_open=False)
    O._params(name, params)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    model = ObjectiveModel(net, name)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)      # one kernel per step, as in Trainer
    params_list, ema_list = list(model.parameters()), list(ema.parameters())
    logs = []
    start = time.perf_counter()
    from tqdm.std import tqdm
    import sys
    bar = tqdm(total=steps, disable=not progress, desc=name, file=sys.stderr, mininterval=1.0, ncols=90, ascii=" #", unit="step")
    running = 0.0
    for step in range(1, steps + 1):
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=g)
        lam = O.sample_lambda(name, batch_size, g, **params).to(torch.float32).clamp(-20, 20)
        eps = torch.randn((batch_size,) + tuple(data.shape[1:]), generator=g)
        x = data[idx]
        a, s = (v.reshape(-1, *([1] * (x.dim() - 1))) for v in _vp(lam))
        z = a * x + s * eps
        loss = (own_weight(name, lam, **params) * (model.own(z, lam) - own_target(name, x, eps, lam)).square().flatten(1).mean(1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        decay = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_list, params_list, 1 - decay)
        running += float(loss.detach())
        if step % 50 == 0 or step == steps:
            logs.append(running / (50 if step % 50 == 0 else step % 50))
            running = 0.0
            bar.update(50 if step % 50 == 0 else step % 50)
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(f"the training loss of objective {name!r} became {float(loss.detach())} at step {step}")
    bar.close()
    return ObjectiveRun(name=name, model=ema.eval(), steps=steps, seconds=time.perf_counter() - start, log_loss=logs)


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
        a, s = (v.reshape(-1, *([1] * (x.dim() - 1))) for v in _vp(lv))
        per = (model.eps(a * x + s * eps, lv) - eps).square().flatten(1).mean(1).double()
        means.append(per.mean()); errs.append(per.std() / math.sqrt(n))
    return torch.stack(means), torch.stack(errs)


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
    if not isinstance(model, ObjectiveModel):
        raise bad_type("model", model, "model must be an ObjectiveModel (train_objective returns one)")
    check_generator("generator", generator)
    shape = check_shape("shape", shape)
    if clip_x0 is not None:
        clip_x0 = check_real("clip_x0", clip_x0, low=0)
    lam = check_tensor("lam_grid", lam_grid, accept_arrays=True).to(torch.float64)
    if lam.dim() != 1 or lam.numel() < 2 or not bool((lam[1:] > lam[:-1]).all()) or lam.abs().max() > 40:
        raise bad("lam_grid", lam, "lam_grid must be an increasing 1-D grid of log-SNRs in [-40, 40] (noisy to clean)")
    n = check_int("n", n, 1, MAX_N)
    z = torch.randn((n,) + tuple(shape), generator=generator, dtype=torch.float64)
    for k in range(lam.numel()):
        lt = lam[k]
        a_t, s_t = torch.sigmoid(lt).sqrt(), torch.sigmoid(-lt).sqrt()
        eps = model.eps(z.float(), torch.full((n,), float(lt))).double()
        x_hat = (z - s_t * eps) / a_t
        if clip_x0 is not None:
            x_hat = x_hat.clamp(-clip_x0, clip_x0)
        if k == lam.numel() - 1:
            return x_hat
        c_z, c_x, std = posterior_step(float(lt), float(lam[k + 1]))
        z = c_z * z + c_x * x_hat + std * torch.randn(z.shape, generator=generator, dtype=torch.float64)
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
