"""Training losses as small objects: the noise draw, the target and the weight of one objective, in one class.

Modelled on NVlabs/edm ``training/loss.py`` (an objective is a callable that draws its noise levels, forms the
noisy input, calls the network and returns the weighted error) and on improved-diffusion's
``GaussianDiffusion.training_losses`` (x_t from ``q_sample``, the target from a table, a named weighting).
Both losses here serve K members at once (the models a notebook compares, stacked into one batched network by
the :class:`~ddpm_edu.training.Trainer`; K = 1 is the plain case) and have one interface::

    loss(forward, data) -> (loss (K,), error (K, B), t (K, B) or None)

``forward(x (K, B, ...), c (K, B)) -> (K, B, ...)`` is the network (the trainer's; a single model sees row 0),
``data`` is (1 or K, N, ...): one data set for all or one per member. ``error`` is each example's unweighted
per-dimension MSE in the member's own target space, ``t`` the timesteps drawn (``None`` for continuous noise
levels). Every draw comes from the member's own generator, in the order a member trained alone would draw it.

* :class:`DDPMLoss`: discrete t in 1..T, targets eps, x0 or v, any weighting of :mod:`ddpm_edu.weighting`,
  any t-sampler of :mod:`ddpm_edu.timesteps`.
* :class:`ObjectiveLoss`: the objectives of :mod:`ddpm_edu.objectives` at continuous log-SNR lambda, each with
  its own lambda sampler, input, output map and weight (:class:`ObjectiveModel`).
"""

from __future__ import annotations

import torch
from torch import nn

from . import objectives as O
from ._checks import bad, check_choice, check_module, check_real
from .diffusion import combine, convert_kernel, forward_coefficients, noised, target_coefficients, vp_coefficients
from .schedules import NoiseSchedule
from .timesteps import make_sampler
from .weighting import weight


def _rows(data: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x0 (K, B, ...): row k holds examples ``idx[k]`` of member k's data (or of the one shared data set)."""
    if data.shape[0] == 1:
        return data[0][idx]
    return data[torch.arange(idx.shape[0], device=idx.device)[:, None], idx]


class DDPMLoss:
    """L_k = mean_b  w_k[t_b] iw_b ||f_k(x_t, t_b) - y_k||^2 / D  for each member k (Ho et al. 2020, eq. 14 with the
    weight of :func:`ddpm_edu.weighting.weight` in the target's own space; iw the importance weights of the
    t-sampler, 1 where t is uniform).

    x_t = :func:`~ddpm_edu.diffusion.noised` (eq. 4); y_k = c_eps eps + c_x0 x0 from
    :func:`~ddpm_edu.diffusion.target_coefficients` (eps, x0 or v). ``weights``: K per-t tables (length T + 1,
    finite); ``t_samplings``: K names from ``timesteps.T_SAMPLING``; ``seeds``: K generator seeds. On CUDA the
    generators live on the GPU (no copy and no sync per step); the importance sampler's table stays on the CPU.
    """

    def __init__(self, schedule: NoiseSchedule, targets, weights, t_samplings, seeds, batch_size: int,
                 device: torch.device, dtype: torch.dtype, labels=None):
        self.T, self.batch_size, self.labels = schedule.T, batch_size, labels or [repr(t) for t in targets]
        a, s = forward_coefficients(schedule.to(device, dtype))                 # per-t tables, once
        self._a, self._s = a, s
        self.weights = torch.stack([w.to(device, dtype) for w in weights])      # (K, T + 1)
        self._c_eps, self._c_x0 = (torch.stack(c) for c in zip(*(target_coefficients(a, s, tg) for tg in targets)))
        self.gens = [torch.Generator(device if device.type == "cuda" else "cpu").manual_seed(sd) for sd in seeds]
        self.samplers = [make_sampler(name, schedule.T) for name in t_samplings]
        self.importance = [name == "importance" for name in t_samplings]
        # the importance sampler draws on the CPU: from the member's generator there, from a second one on CUDA
        self.sampler_gens = [g if g.device.type == "cpu" else torch.Generator().manual_seed(sd + 1)
                             for g, sd in zip(self.gens, seeds)]
        self.device = device

    def describe(self, k: int) -> str:
        return self.labels[k]

    def draw(self, n_data: int, shape: tuple):
        """Each member's batch indices, steps t and noise, from its own generator: (K, B), (K, B), (K, B, ...);
        the importance weights 1 / (T p(t)) as (K, B), or None when no member samples t by importance."""
        n, idx, ts, iws, eps = self.batch_size, [], [], [], []
        for g, sampler, sg, imp in zip(self.gens, self.samplers, self.sampler_gens, self.importance):
            idx.append(torch.randint(0, n_data, (n,), generator=g, device=g.device))
            t, iw = sampler.sample(n, sg if imp else g)
            ts.append(t); iws.append(iw)
            eps.append(torch.randn((n,) + shape, generator=g, device=g.device))
        iw = None if all(w is None for w in iws) else torch.stack(
            [torch.ones(n, dtype=torch.float64) if w is None else w for w in iws]).to(self.device, self.weights.dtype)
        return torch.stack(idx).to(self.device), torch.stack(ts).to(self.device), iw, torch.stack(eps).to(self.device)

    def __call__(self, forward, data: torch.Tensor):
        idx, t, iw, eps = self.draw(data.shape[1], tuple(data.shape[2:]))
        x0 = _rows(data, idx)                                                    # (K, B, ...)
        at = lambda table: table[t].reshape(t.shape + (1,) * (x0.dim() - 2))   # noqa: E731 - (K, B, 1, ...)
        x_t = noised(at(self._a), at(self._s), x0, eps)
        c = lambda table: table.gather(1, t).reshape(t.shape + (1,) * (x0.dim() - 2))   # noqa: E731
        error = (forward(x_t, t) - combine(c(self._c_eps), c(self._c_x0), eps, x0)).square().flatten(2).mean(2)
        per_sample = self.weights.gather(1, t) * error
        return (per_sample if iw is None else per_sample * iw).mean(1), error, t

    def update(self, t: torch.Tensor, error: torch.Tensor) -> None:
        """Let the importance samplers see the weighted per-sample losses of the last step."""
        for k, (sampler, imp) in enumerate(zip(self.samplers, self.importance)):
            if imp:
                sampler.update(t[k], (self.weights[k][t[k]] * error[k]).detach())

    def state_dict(self) -> dict:
        return {"generators": [g.get_state() for g in self.gens], "generator_device": self.gens[0].device.type,
                "samplers": [s.state_dict() if imp else None for s, imp in zip(self.samplers, self.importance)],
                "sampler_generators": [g.get_state() for g in self.sampler_gens]}

    def load_state_dict(self, state: dict) -> None:
        for k, (g, sg) in enumerate(zip(state["generators"], state["sampler_generators"])):
            self.gens[k].set_state(g); self.sampler_gens[k].set_state(sg)
            if self.importance[k] and state["samplers"][k] is not None:
                self.samplers[k].load_state_dict(state["samplers"][k])


def finite_weight(schedule: NoiseSchedule, weighting: str, target: str, params: dict) -> torch.Tensor:
    """A member's per-t loss weight in its target's space, refused where it is not finite."""
    w = weight(schedule, weighting, target, **params)
    if not torch.isfinite(w[1:]).all():
        t_bad = int((~torch.isfinite(w[1:])).nonzero()[0]) + 1
        raise bad("weighting_params", params,
                  f"weighting {weighting!r} with these parameters is {float(w[t_bad])} at t = {t_bad}: "
                  "training on it gives an infinite loss (for the VLB with sigma='beta_tilde', keep clip_t1=True)")
    return w


# ---------------------------------------------------------------------------- continuous noise levels
def c_noise(lam: torch.Tensor) -> torch.Tensor:
    """The network's noise-level input: 50 (10 - lambda), so lambda in [-10, 10] spans 0..1000 like t."""
    return 50.0 * (10.0 - lam)


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


class ObjectiveModel(nn.Module):
    """``net`` used the way objective ``name`` uses it; ``eps(z_vp, lam)`` gives every model's eps prediction.

    The network sees its objective's own input (the variance-preserving z = alpha x + sigma eps, rectified
    flow's (1 - t) x + t eps, or EDM's c_in (x + sigma eps); Karras et al. 2022, table 1) and the noise level
    c_noise(lambda). ``own(z_vp, lam)`` returns the prediction in the objective's own target space (eps, v, x0
    or velocity); :func:`own_target` gives the matching truth.
    """

    def __init__(self, net: nn.Module, name: str, sigma_data: float = 0.5):
        super().__init__()
        self.net, self.name = check_module("net", net), check_choice("name", name, O.OBJECTIVES)
        self.target = O.TARGET[name]
        self.sigma_data = check_real("sigma_data", sigma_data, low=0)

    def net_input(self, z_vp: torch.Tensor, lam: torch.Tensor):
        """``(input, c_noise)`` the network sees at (z_vp, lambda)."""
        a, _ = (_col(v, z_vp) for v in vp_coefficients(lam))
        if self.target == "velocity":                          # rectified flow sees (1 - t) x + t eps
            t = torch.sigmoid(-lam / 2)
            return _col((1 - t), z_vp) / a * z_vp, c_noise(lam)
        if self.target == "x0":                                # EDM: F(c_in z; c_noise)
            sig = _col(torch.exp(-lam / 2), z_vp)
            return 1 / torch.sqrt(sig ** 2 + self.sigma_data ** 2) * (z_vp / a), c_noise(lam)
        return z_vp, c_noise(lam)

    def net_output(self, raw: torch.Tensor, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """The prediction in the objective's own space from the network's output (EDM: c_skip z + c_out F)."""
        if self.target != "x0":
            return raw
        a = _col(vp_coefficients(lam)[0], z_vp)
        sig, sd2 = _col(torch.exp(-lam / 2), z_vp), self.sigma_data ** 2
        z_ve = z_vp / a                                        # x + sigma eps
        return sd2 / (sig ** 2 + sd2) * z_ve + sig * self.sigma_data / torch.sqrt(sig ** 2 + sd2) * raw

    def own(self, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        return self.net_output(self.net(*self.net_input(z_vp, lam)), z_vp, lam)

    def eps(self, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """The eps prediction implied by the own-space prediction, at the variance-preserving z."""
        return self.eps_from_own(self.own(z_vp, lam), z_vp, lam)

    def eps_from_own(self, pred: torch.Tensor, z_vp: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        a, s = (_col(v, z_vp) for v in vp_coefficients(lam))
        if self.target in ("eps", "v"):                        # the conversions of notebook 02
            return convert_kernel(self.target, "eps", pred, z_vp, a, s)
        if self.target == "x0":                                # eps = (z_ve - D) / sigma
            sigma = _col(torch.exp(-lam / 2), z_vp)
            return (z_vp / a - pred) / sigma
        t = _col(torch.sigmoid(-lam / 2), z_vp)                # eps = z_fm + (1 - t) u
        return (1 - t) / a * z_vp + (1 - t) * pred


def own_target(name: str, x: torch.Tensor, eps: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """The regression target of objective ``name``: eps, v = a eps - s x, x (EDM) or the velocity eps - x."""
    target = O.TARGET[check_choice("name", name, O.OBJECTIVES)]
    if target == "velocity":
        return eps - x
    a, s = (_col(v, x) for v in vp_coefficients(lam))
    return combine(*target_coefficients(a, s, target), eps, x)


def own_weight(name: str, lam: torch.Tensor, **params) -> torch.Tensor:
    """The weight objective ``name`` puts on its own target's MSE (so that own weight x own MSE = eps_weight x eps-MSE)."""
    target = O.TARGET[name]
    w = torch.as_tensor(O.eps_weight(name, lam.detach().cpu().to(torch.float64), **params))
    per = {"eps": torch.ones_like(w), "v": 1 + torch.exp(-lam.cpu().double()),
           "x0": torch.exp(-lam.cpu().double()), "velocity": (1 + torch.exp(-lam.cpu().double() / 2)) ** 2}[target]
    return (w / per).to(lam.device, torch.float32)


class ObjectiveLoss:
    """K objectives' losses: member k draws lambda from its objective's sampler (``objectives.sample_lambda``,
    clamped to [-20, 20]), forms z = alpha x + sigma eps (:func:`~ddpm_edu.diffusion.noised` with
    :func:`~ddpm_edu.diffusion.vp_coefficients`), and weighs its own-space MSE by :func:`own_weight`
    (Kingma & Gao 2023: every one of them a weighted ELBO). ``t`` is None: the levels are continuous."""

    def __init__(self, models: list, params: list, seeds: list, batch_size: int):
        self.models, self.params, self.batch_size = models, params, batch_size
        self.names = [m.name for m in models]
        self.gens = [torch.Generator().manual_seed(s) for s in seeds]

    def describe(self, k: int) -> str:
        return f"objective {self.names[k]!r}"

    def __call__(self, forward, data: torch.Tensor):
        B, shape, parts = self.batch_size, tuple(data.shape[2:]), []
        for m, g, params in zip(self.models, self.gens, self.params):
            idx = torch.randint(0, data.shape[1], (B,), generator=g)
            lam = O.sample_lambda(m.name, B, g, **params).to(torch.float32).clamp(-20, 20)
            eps = torch.randn((B,) + shape, generator=g)
            x = data[0][idx]
            a, s = (_col(v, x) for v in vp_coefficients(lam))
            z = noised(a, s, x, eps)
            parts.append((x, eps, lam, z, m.net_input(z, lam)))
        raw = forward(torch.stack([p[-1][0] for p in parts]), torch.stack([p[-1][1] for p in parts]))
        errors = torch.stack([(m.net_output(raw[k], z, lam) - own_target(m.name, x, eps, lam)).square().flatten(1).mean(1)
                              for k, (m, (x, eps, lam, z, _)) in enumerate(zip(self.models, parts))])
        weights = torch.stack([own_weight(m.name, p[2], **params) for m, p, params in zip(self.models, parts, self.params)])
        return (weights * errors).mean(1), errors, None

    def update(self, t, error) -> None:
        """Nothing to update: the lambda samplers are fixed."""

    def state_dict(self) -> dict:
        return {"generators": [g.get_state() for g in self.gens], "generator_device": "cpu",
                "samplers": [None] * len(self.gens), "sampler_generators": [g.get_state() for g in self.gens]}

    def load_state_dict(self, state: dict) -> None:
        for g, s in zip(self.gens, state["generators"]):
            g.set_state(s)
