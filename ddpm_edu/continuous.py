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
from .models import MLPDenoiser, StackedMLP
from .threads import policy, side_by_side, split
from .training import progress_bar


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

    def net_input(self, z_vp: torch.Tensor, lam: torch.Tensor):
        """``(input, c_noise)`` the network sees at (z_vp, lambda): z_vp, rectified flow's (1 - t) x + t eps, or
        EDM's c_in (x + sigma eps)."""
        a, s = (self._shape(v, z_vp) for v in _vp(lam))
        if self.target == "velocity":                          # rectified flow sees (1 - t) x + t eps
            t = torch.sigmoid(-lam / 2)
            return self._shape((1 - t), z_vp) / a * z_vp, c_noise(lam)
        if self.target == "x0":                                # EDM: F(c_in z; c_noise)
            sig = self._shape(torch.exp(-lam / 2), z_vp)
            return 1 / torch.sqrt(sig ** 2 + self.sigma_data ** 2) * (z_vp / a), c_noise(lam)
        return z_vp, c_noise(lam)

    def net_output(self, raw: torch.Tensor, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """The prediction in the objective's own space from the network's output (EDM: c_skip z + c_out F)."""
        if self.target != "x0":
            return raw
        a = self._shape(_vp(lam)[0], z_vp)
        sig, sd2 = self._shape(torch.exp(-lam / 2), z_vp), self.sigma_data ** 2
        z_ve = z_vp / a                                        # x + sigma eps
        return sd2 / (sig ** 2 + sd2) * z_ve + sig * self.sigma_data / torch.sqrt(sig ** 2 + sd2) * raw

    def own(self, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        return self.net_output(self.net(*self.net_input(z_vp, lam)), z_vp, lam)

    def eps(self, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """The eps prediction implied by the own-space prediction, at the variance-preserving z."""
        return self.eps_from_own(self.own(z_vp, lam), z_vp, lam)

    def eps_from_own(self, pred: torch.Tensor, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
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


class _ObjectiveTrainer:
    """K objectives trained as one batched model (a StackedMLP of their nets), or one objective (K = 1, the
    plain net): each member has its own generator, noise levels, input, target and loss weight."""

    def __init__(self, nets: list, data: torch.Tensor, names: list, seeds: list, params: list, batch_size: int,
                 lr: float, ema_decay: float):
        self.stacked = len(nets) > 1
        self.net = StackedMLP(nets) if self.stacked else nets[0]
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.members = [ObjectiveModel(net, name) for net, name in zip(nets, names)]   # each one's input and output maps
        self.names, self.params, self.data, self.batch_size, self.ema_decay = names, params, data, batch_size, ema_decay
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, fused=True)      # one kernel per step, as in Trainer
        self._params, self._ema = list(self.net.parameters()), list(self.ema.parameters())
        self.step, self.logs, self._running = 0, [[] for _ in names], torch.zeros(len(names), dtype=torch.float64)

    def losses(self) -> torch.Tensor:
        """Each member's weighted loss on a fresh batch: draw, noise, predict in its own space, weigh."""
        B, shape, parts = self.batch_size, tuple(self.data.shape[1:]), []
        for m, g, name, params in zip(self.members, self.gens, self.names, self.params):
            idx = torch.randint(0, self.data.shape[0], (B,), generator=g)
            lam = O.sample_lambda(name, B, g, **params).to(torch.float32).clamp(-20, 20)
            eps = torch.randn((B,) + shape, generator=g)
            x = self.data[idx]
            a, s = (v.reshape(-1, *([1] * (x.dim() - 1))) for v in _vp(lam))
            z = a * x + s * eps
            parts.append((m, name, params, x, eps, lam, z, m.net_input(z, lam)))
        if self.stacked:
            raw = self.net(torch.stack([p[-1][0] for p in parts]), torch.stack([p[-1][1] for p in parts]))
        else:
            raw = self.net(*parts[0][-1]).unsqueeze(0)
        return torch.stack([
            (own_weight(name, lam, **params) * (m.net_output(raw[k], z, lam) - own_target(name, x, eps, lam))
             .square().flatten(1).mean(1)).mean() for k, (m, name, params, x, eps, lam, z, _) in enumerate(parts)])

    def train_step(self) -> None:
        loss = self.losses()
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()                     # the members share no parameter: each gets its own gradient
        self.opt.step()
        self.step += 1
        decay = min(self.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            torch._foreach_lerp_(self._ema, self._params, 1 - decay)
        values = loss.detach().double()
        for name, v in zip(self.names, values.tolist()):
            if not math.isfinite(v):
                raise FloatingPointError(f"the training loss of objective {name!r} became {v} at step {self.step}")
        self._running += values

    def run(self, steps: int) -> list:
        start = time.perf_counter()
        for step in range(1, steps + 1):
            self.train_step()
            if step % 50 == 0 or step == steps:
                for k, v in enumerate(self._running.tolist()):
                    self.logs[k].append(v / (50 if step % 50 == 0 else step % 50))
                self._running.zero_()
        nets = [self.ema.member(k) for k in range(len(self.names))] if self.stacked else [self.ema]
        return [ObjectiveRun(name=name, model=ObjectiveModel(net, name).eval(), steps=steps,
                             seconds=time.perf_counter() - start, log_loss=log)
                for name, net, log in zip(self.names, nets, self.logs)]


@policy
def train_objective(net: nn.Module, data: torch.Tensor, name: str, steps: int, seed: int = 0, batch_size: int = 256,
                    lr: float = 2e-3, ema_decay: float = 0.995, progress: bool = False, **params) -> ObjectiveRun:
    """Train ``net`` on ``data`` (N, ...) with objective ``name`` for ``steps`` steps on the CPU; every draw seeded."""
    return train_objectives([net], data, [name], steps, seed=seed, batch_size=batch_size, lr=lr, ema_decay=ema_decay,
                            progress=progress, params=[params])[0]


@policy
def train_objectives(nets: list, data: torch.Tensor, names: list, steps: int, seed=0, batch_size: int = 256,
                     lr: float = 2e-3, ema_decay: float = 0.995, progress: bool = False, params: list | None = None) -> list:
    """Train ``nets[k]`` with objective ``names[k]``, all on ``data``, for ``steps`` steps each: one
    :class:`ObjectiveRun` per objective. The objectives train as batched families side by side
    (:func:`ddpm_edu.threads.split`), each exactly as it would alone. ``seed``: one for all, or one each;
    ``params``: a dict of objective parameters per objective (default: none)."""
    if not isinstance(nets, (list, tuple)) or not nets:
        raise bad_type("nets", nets, "nets must be a non-empty list of networks, one per objective")
    for net in nets:
        check_module("net", net)
    if not isinstance(names, (list, tuple)) or len(names) != len(nets):
        raise bad("names", names, f"give one objective name per network ({len(nets)})")
    data = check_data("data", data).to(torch.float32)
    steps = check_int("steps", steps, 1, 10 ** 9)
    batch_size = check_int("batch_size", batch_size, 1, MAX_N)
    lr = check_real("lr", lr, low=0)
    ema_decay = check_real("ema_decay", ema_decay, low=0, high=1, low_open=False)
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed] * len(nets)
    if len(seeds) != len(nets):
        raise bad("seed", seed, f"give one seed, or one per objective ({len(nets)})")
    seeds = [check_int("seed", s, 0) for s in seeds]
    params = [{} for _ in nets] if params is None else list(params)
    if len(params) != len(nets) or not all(isinstance(p, dict) for p in params):
        raise bad("params", params, f"give a dict of parameters per objective ({len(nets)})")
    for name, p in zip(names, params):
        O._params(name, p)
    plan = []                       # per worker: [(member indices, trainer)], run one after the other
    for g in split(len(nets)):
        parts = [g] if len(g) > 1 and all(isinstance(nets[i], MLPDenoiser) for i in g) else [[i] for i in g]
        plan.append([(p, _ObjectiveTrainer([nets[i] for i in p], data, [names[i] for i in p], [seeds[i] for i in p],
                                           [params[i] for i in p], batch_size, lr, ema_decay)) for p in parts])
    trainers = [tr for work in plan for _, tr in work]
    bar = progress_bar(steps, 0, progress, ", ".join(names))
    shown = [0]

    def poll():
        done = min(tr.step for tr in trainers)
        bar.update(done - shown[0])
        shown[0] = done

    outs = side_by_side([lambda work=work: [(p, tr.run(steps)) for p, tr in work] for work in plan], poll=poll)
    poll()
    bar.close()
    runs = [None] * len(nets)
    for done in outs:
        for g, res in done:
            for i, r in zip(g, res):
                runs[i] = r
    return runs


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
        a, s = (v.reshape(-1, *([1] * (x.dim() - 1))) for v in _vp(lv))
        per = (model.eps(a * x + s * eps, lv) - eps).square().flatten(1).mean(1).double()
        means.append(per.mean()); errs.append(per.std() / math.sqrt(n))
    return torch.stack(means), torch.stack(errs)


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
    out = [None] * len(models)
    jobs = [lambda g=g: (g, _reverse_chain([models[i] for i in g], lam, shape, n, [generators[i] for i in g], clip_x0))
            for g in split(len(models))]
    for g, res in side_by_side(jobs):
        for i, r in zip(g, res):
            out[i] = r
    return out


def _reverse_chain(models: list, lam: torch.Tensor, shape, n: int, generators: list, clip_x0) -> list:
    """The reverse chains of one group's members, one level at a time (each network called as it is: see
    :func:`ddpm_edu.sampling.sample_family` for why sampling does not stack them)."""
    z = [torch.randn((n,) + tuple(shape), generator=g, dtype=torch.float64) for g in generators]
    for k in range(lam.numel()):
        lt = lam[k]
        a_t, s_t = torch.sigmoid(lt).sqrt(), torch.sigmoid(-lt).sqrt()
        lv = torch.full((n,), float(lt))
        x_hat = [(zi - s_t * m.eps(zi.float(), lv).double()) / a_t for m, zi in zip(models, z)]
        if clip_x0 is not None:
            x_hat = [x.clamp(-clip_x0, clip_x0) for x in x_hat]
        if k == lam.numel() - 1:
            return x_hat
        c_z, c_x, std = posterior_step(float(lt), float(lam[k + 1]))
        z = [c_z * zi + c_x * x + std * torch.randn(zi.shape, generator=g, dtype=torch.float64)
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
