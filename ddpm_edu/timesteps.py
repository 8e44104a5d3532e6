"""How a training step picks its timesteps, and how the loss is kept per timestep.

Every t-sampler has one interface (improved-diffusion's ``resample.py``, ``ScheduleSampler.sample``):
``sample(n, generator) -> (t, weights)``, t an int64 tensor (n,) in 1..T and ``weights`` the importance
weights 1 / (T p(t)) that make the weighted loss an unbiased estimate of the uniform-t loss, or ``None`` where
p(t) is uniform (every weight would be 1). :func:`make_sampler` builds one by name (``T_SAMPLING``).
:class:`PerTimestepTracker` keeps the running per-t means the training curves are drawn from.
"""

from __future__ import annotations

import math

import torch

from ._checks import MAX_N, MAX_T, check_choice, check_generator, check_int, check_real
from .runtime import accumulator_dtype

T_SAMPLING = ("uniform", "stratified", "importance")


class UniformSampler:
    """t uniform on 1..T, drawn on the generator's device (the CPU or a CUDA device); weights None."""

    def __init__(self, T: int):
        self.T = check_int("T", T, 1, MAX_T)

    def sample(self, n: int, generator: torch.Generator):
        return torch.randint(1, self.T + 1, (n,), generator=generator, device=generator.device), None

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Nothing to learn from the losses."""


class StratifiedSampler(UniformSampler):
    """One t in each of n equal strata of 1..T (:func:`stratified_t`); weights None (p(t) is uniform)."""

    def sample(self, n: int, generator: torch.Generator):
        return stratified_t(n, self.T, generator), None


class LossSecondMomentSampler:
    """Importance sampling of t with p(t) proportional to sqrt(E[L_t^2]) (Nichol & Dhariwal 2021,
    sec. 3.3; improved-diffusion's ``LossSecondMomentResampler``), from the last ``history`` losses
    seen at each t, mixed with ``uniform_prob`` of the uniform distribution. Until every t has a
    full history it samples uniformly. Each sample carries the weight 1 / (T p(t)), so the
    reweighted loss is an unbiased estimate of the uniform-t loss.
    """

    def __init__(self, T: int, history: int = 10, uniform_prob: float = 0.001):
        self.T = check_int("T", T, 1, MAX_T)
        self.history = check_int("history", history, 1, 10_000)
        self.uniform_prob = check_real("uniform_prob", uniform_prob, low=0, high=1, low_open=False, high_open=False)
        self.losses = torch.zeros(T + 1, self.history, dtype=torch.float64)
        self.counts = torch.zeros(T + 1, dtype=torch.int64)

    def warmed_up(self) -> bool:
        return bool((self.counts[1:] >= self.history).all())

    def probs(self) -> torch.Tensor:
        """p(t) for t = 0..T (p(0) = 0)."""
        p = torch.zeros(self.T + 1, dtype=torch.float64)
        if not self.warmed_up():
            p[1:] = 1.0 / self.T
            return p
        rms = (self.losses[1:] ** 2).mean(dim=1).sqrt()
        if not torch.isfinite(rms).all() or rms.sum() <= 0:
            p[1:] = 1.0 / self.T
            return p
        p[1:] = (1 - self.uniform_prob) * rms / rms.sum() + self.uniform_prob / self.T
        return p

    def sample(self, n: int, generator: torch.Generator):
        """``(t, weights)``: n steps and their importance weights 1 / (T p(t))."""
        n = check_int("n", n, 1, MAX_N)
        check_generator("generator", generator)
        p = self.probs()
        t = torch.multinomial(p, n, replacement=True, generator=generator)
        return t, 1.0 / (self.T * p[t])

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        t = t.cpu(); losses = losses.detach().to("cpu", torch.float64)
        order = torch.argsort(t, stable=True)
        ts, ls = t[order], losses[order]
        first = torch.searchsorted(ts, ts, right=False)            # where each t's run starts
        rank = torch.arange(len(ts)) - first                       # position within its run
        slot = (self.counts[ts] + rank) % self.history
        self.losses[ts, slot] = ls
        self.counts += torch.bincount(ts, minlength=self.T + 1)

    def state_dict(self) -> dict:
        return {"losses": self.losses.clone(), "counts": self.counts.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.losses.copy_(state["losses"]); self.counts.copy_(state["counts"])


def stratified_t(n: int, T: int, generator: torch.Generator) -> torch.Tensor:
    """n steps, one in each of n equal strata of 1..T, in random order (antithetic/stratified
    sampling: every batch covers the whole range, which lowers the variance of the batch loss).
    Drawn on the generator's device (the CPU or a CUDA device)."""
    n = check_int("n", n, 1, MAX_N)
    T = check_int("T", T, 1, MAX_T)
    dev = check_generator("generator", generator).device
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=dev)
    strata = torch.randperm(n, generator=generator, device=dev).to(torch.float64)
    return (((strata + u) * T / n).floor().long() + 1).clamp(1, T)


class PerTimestepTracker:
    """Running sums of a per-sample loss in ``n_bins`` equal bins of t = 1..T, kept on the device.

    ``update`` costs two ``index_add_`` calls and no host sync; ``snapshot`` returns the mean per bin
    since the previous snapshot (NaN for a bin that got no sample in that window) and starts a new
    window. ``bin_edges[i]..bin_edges[i+1]-1`` are the steps of bin i. With ``members=K`` it keeps K
    rows (one per model of a family): ``update`` then takes t and losses of shape (K, B) and
    ``snapshot`` returns (K, n_bins).
    """

    def __init__(self, T: int, n_bins: int = 20, device="cpu", members: int | None = None):
        self.T, self.n_bins = check_int("T", T, 1, MAX_T), min(check_int("n_bins", n_bins, 1, MAX_T), T)
        self.members = None if members is None else check_int("members", members, 1, 4096)
        dtype = accumulator_dtype(device)
        self.sums = torch.zeros(self.members or 1, self.n_bins, dtype=dtype, device=device)
        self.counts = torch.zeros_like(self.sums)
        self.bin_edges = [1 + (i * T) // self.n_bins for i in range(self.n_bins + 1)]
        self._bin_of_t = torch.tensor([0] + [(t - 1) * self.n_bins // T for t in range(1, T + 1)], device=device)

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        t, losses = t.reshape(-1, t.shape[-1]), losses.reshape(-1, losses.shape[-1])
        row = torch.arange(t.shape[0], device=t.device)[:, None] * self.n_bins
        b = (self._bin_of_t[t] + row).reshape(-1)
        self.sums.view(-1).index_add_(0, b, losses.detach().reshape(-1).to(self.sums.dtype))
        self.counts.view(-1).index_add_(0, b, torch.ones_like(self.sums.view(-1)[b]))

    def snapshot(self) -> torch.Tensor:
        means = torch.where(self.counts > 0, self.sums / self.counts.clamp_min(1), torch.full_like(self.sums, math.nan))
        self.sums.zero_(); self.counts.zero_()
        means = means.to("cpu", torch.float64)
        return means[0] if self.members is None else means

    def bin_centers(self) -> list:
        return [(self.bin_edges[i] + self.bin_edges[i + 1] - 1) / 2 for i in range(self.n_bins)]


def make_sampler(name: str, T: int):
    """The t-sampler called ``name`` (one of ``T_SAMPLING``) for a T-step chain."""
    check_choice("t_sampling", name, T_SAMPLING)
    return {"uniform": UniformSampler, "stratified": StratifiedSampler, "importance": LossSecondMomentSampler}[name](T)
