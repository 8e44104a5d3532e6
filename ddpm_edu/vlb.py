"""The bound itself: every term of -ELBO for a trained model, in bits per dimension.

-ELBO = L_T + sum_{t=2..T} L_{t-1} + L_0 (Ho et al. 2020, eq. 5), with
    L_T     = KL(q(x_T | x_0) || N(0, I))                       (no parameters)
    L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t))  (t = 2..T, one x_t ~ q(x_t | x_0) each)
    L_0     = -log p_theta(x_0 | x_1)                            (discretized Gaussian decoder, sec. 3.3)
p_theta(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I) with mu_theta the posterior mean at the
model's x0 (any target) and sigma_t^2 = beta_t ("beta") or beta-tilde_t ("beta_tilde").
At t = 1 beta-tilde_1 = 0, so the decoder's variance is clipped to beta-tilde_2 (improved-diffusion's
``posterior_log_variance_clipped``); ``clip_t1=False`` shows what happens without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import MAX_N, Desc, bad, check_bool, check_choice, check_data, check_generator, check_int, check_model_fits, check_module, check_real, check_tensor
from .diffusion import TARGETS, convert_kernel, forward_coefficients, noised, posterior_coefficients, posterior_mean_kernel
from .runtime import model_device
from .schedules import NoiseSchedule, check_schedule
from .threads import policy, side_by_side, workers

LN2 = math.log(2.0)


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise, in nats.

    = (logvar2 - logvar1 + e^(logvar1 - logvar2) + (mean1 - mean2)^2 e^(-logvar2) - 1) / 2, the closed
    form that notebook 02 derives by integration (and ``tests/test_vlb.py`` checks against it).
    """
    mean1, logvar1, mean2, logvar2 = (_real(n, v) for n, v in (("mean1", mean1), ("logvar1", logvar1),
                                                              ("mean2", mean2), ("logvar2", logvar2)))
    _broadcast((("mean1", mean1), ("logvar1", logvar1), ("mean2", mean2), ("logvar2", logvar2)))
    ratio = torch.exp(logvar1 - logvar2)
    gap = (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    out = 0.5 * (logvar2 - logvar1 + ratio + gap - 1.0)
    if not torch.isfinite(out).all():
        if not torch.isfinite(ratio).all():
            raise bad("logvar1", Desc(f"log-variances from {float(torch.minimum(logvar1.min(), logvar2.min())):.3g} to "
                                      f"{float(torch.maximum(logvar1.max(), logvar2.max())):.3g}"),
                      "the KL overflows float64: logvar1 and logvar2 must differ by less than about 700")
        raise bad("mean1", Desc(f"means up to {float(torch.maximum(mean1.abs().max(), mean2.abs().max())):.3g}"),
                  "the KL overflows float64: (mean1 - mean2)^2 / e^logvar2 is too large to represent")
    return out


def _broadcast(named) -> None:
    """Raise a ValueError naming the first argument whose shape does not broadcast with the ones before it."""
    shape = named[0][1].shape
    for name, v in named[1:]:
        try:
            shape = torch.broadcast_shapes(shape, v.shape)
        except RuntimeError:
            raise bad(name, Desc(f"tensor of shape {tuple(v.shape)}"),
                      f"{name} must broadcast with {', '.join(n for n, _ in named if n != name)}") from None


def _real(name, v):
    """A number or tensor as a finite float64 tensor (integers converted)."""
    if isinstance(v, torch.Tensor) or isinstance(v, (list, tuple)) or hasattr(v, "__array__"):
        return check_tensor(name, v, accept_arrays=True).to(torch.float64)
    return torch.tensor(check_real(name, v), dtype=torch.float64)


def _std_normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-z / math.sqrt(2.0))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
                                        levels: int = 256) -> torch.Tensor:
    """log P(x) for x on a grid of ``levels`` values spanning [-1, 1], under N(mean, e^(2 log_scale))
    integrated over each grid value's bin (Ho et al. 2020, sec. 3.3, eq. 13).

    Bins have width 2 / (levels - 1); the first and last bins extend to -inf and +inf, so the
    probabilities of all grid values sum to 1. Elementwise, in nats. 8-bit images: levels = 256;
    sklearn's digits (0..16): levels = 17.
    """
    levels = check_int("levels", levels, 2, 2 ** 16)
    x, mean, log_scale = (_real(n, v) for n, v in (("x", x), ("mean", mean), ("log_scale", log_scale)))
    _broadcast((("x", x), ("mean", mean), ("log_scale", log_scale)))
    if x.numel() and (x.min() < -1 - 1e-9 or x.max() > 1 + 1e-9):
        raise bad("x", Desc(f"values from {float(x.min()):.3g} to {float(x.max()):.3g}"), "x must lie on the grid in [-1, 1]")
    half = 1.0 / (levels - 1)
    inv = torch.exp(-log_scale)
    upper = _std_normal_cdf((x - mean + half) * inv)
    lower = _std_normal_cdf((x - mean - half) * inv)
    cdf_upper = torch.where(x > 1 - 1e-6, torch.ones_like(upper), upper)
    cdf_lower = torch.where(x < -1 + 1e-6, torch.zeros_like(lower), lower)
    prob = (cdf_upper - cdf_lower).clamp_min(1e-300)
    # far in a tail the difference of two CDFs underflows: use the density times the bin width there
    z = (x - mean) * inv
    log_pdf_bin = -0.5 * z ** 2 - 0.5 * math.log(2 * math.pi) - log_scale + math.log(2 * half)
    out = torch.where(prob > 1e-12, torch.log(prob), log_pdf_bin)
    if not torch.isfinite(out).all():
        raise bad("log_scale", Desc(f"log-scales down to {float(log_scale.min()):.3g}"),
                  "the log-likelihood underflows float64: the scale is too small for how far x lies from mean")
    return out


@dataclass
class BoundTerms:
    """-ELBO per example, split by term, in bits per dimension.

    ``prior``: L_T, shape (B,). ``terms``: shape (B, T + 1); column t holds the term whose model call
    is at step t: column 1 is L_0 (the decoder), column t >= 2 is L_{t-1}; column 0 is 0.
    ``total`` = prior + terms.sum(1): the negative ELBO, an upper bound on -log2 p_theta(x_0) per dim.
    """
    prior: torch.Tensor
    terms: torch.Tensor
    sigma: str

    @property
    def total(self) -> torch.Tensor:
        return self.prior + self.terms.sum(1)


def _model_logvar(schedule: NoiseSchedule, sigma: str, clip_t1: bool) -> torch.Tensor:
    if sigma == "beta":
        logvar = torch.log(schedule.betas.clamp_min(1e-300))
    else:
        logvar = schedule.posterior_log_variance_clipped.clone() if clip_t1 else \
            torch.log(schedule.posterior_variance.clamp_min(0.0))
    return logvar


@dataclass
class _BoundJob:
    """What every chunk of :func:`bound_terms` shares: the model, the data, the per-t tables (computed once)."""
    model: torch.nn.Module
    x0: torch.Tensor                # (B, ...), float64
    target: str
    levels: int | None
    logvar: torch.Tensor            # the model's log sigma_t^2, length T + 1
    tables: tuple                   # a_t, s_t, c0_t, ct_t, beta-tilde_t (float64, length T + 1)
    chunk: int
    dev: torch.device

    def terms(self, start: int, noise: torch.Tensor) -> torch.Tensor:
        """The terms of steps start..start + n - 1 for every example, (B, n) in bits/dim."""
        B, T, shape1 = self.x0.shape[0], self.logvar.shape[0] - 1, (1,) * (self.x0.dim() - 1)
        ts = torch.arange(start, min(start + self.chunk, T + 1))
        n = len(ts)
        tt = ts.repeat_interleave(B)                              # (n * B,)
        xx = self.x0.repeat(n, *shape1)                           # (n * B, ...)
        a, s, c0, ct, var = (v[tt].reshape(-1, *shape1) for v in self.tables)
        x_t = noised(a, s, xx, noise)
        pred = self.model(x_t.to(self.dev, torch.float32), tt.to(self.dev)).to("cpu", torch.float64)
        mu_theta = posterior_mean_kernel(c0, ct, convert_kernel(self.target, "x0", pred, x_t, a, s), x_t)
        lv = self.logvar[tt].reshape(-1, *shape1).expand_as(xx)
        out = torch.empty(n * B, dtype=torch.float64)
        later, first = tt >= 2, tt == 1
        if later.any():
            mu = posterior_mean_kernel(c0[later], ct[later], xx[later], x_t[later])
            kl = normal_kl(mu, torch.log(var[later].expand_as(mu)), mu_theta[later], lv[later])
            out[later] = kl.flatten(1).sum(1)
        if first.any():
            out[first] = self._decoder_nll(xx[first], mu_theta[first], lv[first])
        return out.reshape(n, B).T / (xx[0].numel() * LN2)

    def _decoder_nll(self, x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """L_0 = -log p(x_0 | x_1) per example, in nats: discretized (sec. 3.3) or, for continuous data, the density."""
        if not math.isfinite(float(self.logvar[1])):
            return torch.full((x.shape[0],), math.inf, dtype=torch.float64)   # sigma_1 = 0: a point mass
        if self.levels is None:
            ll = -0.5 * ((x - mean) ** 2 * torch.exp(-logvar) + logvar + math.log(2 * math.pi))
        else:
            ll = discretized_gaussian_log_likelihood(x, mean, 0.5 * logvar, self.levels)
        return -ll.flatten(1).sum(1)


@policy
@torch.no_grad()
def bound_terms(model, x0: torch.Tensor, schedule: NoiseSchedule, target: str = "eps", sigma: str = "beta",
                generator: torch.Generator | None = None, levels: int | None = 256, clip_t1: bool = True,
                chunk: int = 100, device=None) -> BoundTerms:
    """Every term of -ELBO for each example of ``x0`` (B, ...), all T steps, batched over t.

    One x_t ~ q(x_t | x_0) is drawn per (example, t) from ``generator`` (the only randomness). With
    ``levels=None`` the data are treated as continuous and L_0 uses the Gaussian density (for the
    toy mixtures, whose true density is known).
    """
    check_module("model", model)
    check_schedule("schedule", schedule)
    check_choice("target", target, TARGETS)
    check_choice("sigma", sigma, ("beta", "beta_tilde"))
    check_generator("generator", generator)
    clip_t1 = check_bool("clip_t1", clip_t1)
    chunk = min(check_int("chunk", chunk, 1, MAX_N), schedule.T)    # a chunk longer than T is all of T
    if levels is not None:
        levels = check_int("levels", levels, 2, 2 ** 16)
    x0 = check_data("x0", x0).to(torch.float64)
    check_model_fits("x0", x0, model)
    if levels is not None and (x0.min() < -1 - 1e-9 or x0.max() > 1 + 1e-9):
        raise bad("x0", Desc(f"values from {float(x0.min()):.3g} to {float(x0.max()):.3g}"),
                  f"with levels={levels} the data must lie on a grid in [-1, 1] (levels=None for continuous data)")
    T = schedule.T
    # L_T: closed form, no model
    prior = normal_kl(schedule.alpha_bars[T].sqrt() * x0, torch.log(schedule.one_minus_alpha_bars[T]), 0.0, 0.0)
    prior = prior.flatten(1).sum(1) / (x0[0].numel() * LN2)
    model.eval()
    job = _BoundJob(model, x0, target, levels, _model_logvar(schedule, sigma, clip_t1),
                    (*forward_coefficients(schedule), *posterior_coefficients(schedule), schedule.posterior_variance),
                    chunk, model_device(model, device))
    return BoundTerms(prior=prior, terms=_all_terms(job, T, generator), sigma=sigma)


def _all_terms(job: _BoundJob, T: int, generator) -> torch.Tensor:
    """(B, T + 1): chunks of steps, evaluated side by side in waves (one per worker). The noise of each wave is
    drawn first, in step order, so the result does not depend on how many cores computed it."""
    B, x0 = job.x0.shape[0], job.x0
    terms = torch.zeros(B, T + 1, dtype=torch.float64)
    starts = list(range(1, T + 1, job.chunk))
    wave = workers(len(starts))
    for i in range(0, len(starts), wave):
        noises = [torch.randn((min(job.chunk, T + 1 - start) * B,) + tuple(x0.shape[1:]), generator=generator,
                              dtype=torch.float64) for start in starts[i:i + wave]]
        done = side_by_side([lambda start=start, z=z: job.terms(start, z) for start, z in zip(starts[i:i + wave], noises)])
        for start, part in zip(starts[i:i + wave], done):
            terms[:, start:start + part.shape[1]] = part
    return terms


def histogram_bits(train: torch.Tensor, test: torch.Tensor, levels: int = 17, per_pixel: bool = False) -> float:
    """Bits per dimension of ``test`` under a histogram of the grey levels of ``train``: the cost of a code that
    knows nothing about images but how often each level occurs (over all pixels, or for each pixel alone
    with ``per_pixel=True``). Both sets lie on the grid of ``levels`` values in [-1, 1]; the counts are
    smoothed by adding one to each (Laplace), so a level unseen in training costs a finite amount. The
    yardsticks beside a bound on discrete data: a model of digits should cost less than these."""
    levels = check_int("levels", levels, 2, 2 ** 16)
    check_bool("per_pixel", per_pixel)
    codes = []
    for name, x in (("train", train), ("test", test)):
        x = check_data(name, x).to(torch.float64).reshape(len(x), -1)
        k = (x + 1) * (levels - 1) / 2
        if (k - k.round()).abs().max() > 1e-6 or k.min() < -1e-6 or k.max() > levels - 1 + 1e-6:
            raise bad(name, Desc(f"values from {float(x.min()):.3g} to {float(x.max()):.3g}"),
                      f"{name} must lie on the grid of {levels} levels in [-1, 1]")
        codes.append(k.round().long())
    a, b = codes
    if a.shape[1] != b.shape[1]:
        raise bad("test", Desc(f"{b.shape[1]} values per example"), f"test must have the train data's {a.shape[1]}")
    if per_pixel:
        counts = torch.stack([torch.bincount(a[:, j], minlength=levels) for j in range(a.shape[1])]).double() + 1
        p = counts / counts.sum(1, keepdim=True)
        return float(-torch.log2(p[torch.arange(a.shape[1]), b]).mean())
    counts = torch.bincount(a.reshape(-1), minlength=levels).double() + 1
    return float(-torch.log2((counts / counts.sum())[b]).mean())


def _terms(name, per_t) -> torch.Tensor:
    """A (B, T + 1) table of finite bound terms, column 0 unused; returns columns 1..T as float64."""
    per_t = check_tensor(name, per_t, accept_arrays=True)
    if per_t.dim() != 2 or per_t.shape[0] < 1 or per_t.shape[1] < 2:
        raise bad(name, Desc(f"tensor of shape {tuple(per_t.shape)}"), f"{name} must have shape (B, T + 1) with B >= 1, T >= 1")
    return per_t[:, 1:].to(torch.float64)


def estimator_variance(per_t: torch.Tensor, probs: torch.Tensor | None = None) -> float:
    """Variance of the one-t estimate of sum_t L_t: draw t ~ p, report L_t / p(t).

    ``per_t``: (B, T + 1) terms (column 0 unused), ``probs``: p(t) over 0..T (uniform if None).
    Exact (no sampling): E over t and over the B examples of (L_t/p(t))^2 minus the squared mean.
    With p(t) proportional to sqrt(E[L_t^2]) it is the smallest possible (Nichol & Dhariwal 2021, sec. 3.3).
    """
    L = _terms("per_t", per_t)
    T = L.shape[1]
    if probs is None:
        p = torch.full((T,), 1.0 / T, dtype=torch.float64)
    else:
        p = check_tensor("probs", probs, accept_arrays=True).to(torch.float64)
        if p.shape != (T + 1,):
            raise bad("probs", Desc(f"tensor of shape {tuple(p.shape)}"), f"probs must hold p(t) for t = 0..T ({T + 1} numbers)")
        p = p[1:]
    if (p <= 0).any() or abs(float(p.sum()) - 1) > 1e-9:
        raise bad("probs", Desc("a distribution with zeros or not summing to 1"), "probs must be > 0 on 1..T and sum to 1")
    second = ((L ** 2) / p[None, :]).sum(1).mean()      # E_x E_{t~p}[(L_t/p_t)^2]
    first = L.sum(1).mean()
    return float(second - first ** 2)


def second_moment_probs(per_t: torch.Tensor, uniform_prob: float = 0.0) -> torch.Tensor:
    """p(t) proportional to sqrt(E[L_t^2]) over the examples (index 0 gets 0)."""
    L = _terms("per_t", per_t)
    uniform_prob = check_real("uniform_prob", uniform_prob, low=0, high=1, low_open=False, high_open=False)
    rms = (L ** 2).mean(0).sqrt()
    T = L.shape[1]
    p = torch.zeros(T + 1, dtype=torch.float64)
    if not float(rms.sum()) > 0:
        p[1:] = 1.0 / T                                   # no signal to importance-sample by: uniform
        return p
    p[1:] = (1 - uniform_prob) * rms / rms.sum() + uniform_prob / T
    return p


def stratified_variance(per_t: torch.Tensor, batch: int) -> float:
    """Variance of the batch estimate of E_x sum_t L_t from ``batch`` (example, t) pairs, as a training batch draws
    them: each pair its own example (uniform over the B rows), its t uniform in its own one of ``batch`` equal strata
    of 1..T (stratified sampling). The estimate sum_j (T / batch) L_{t_j}(x_j) has variance
    sum_j (T / batch)^2 Var_{x, t in S_j} L_t(x). Like for like with ``estimator_variance(per_t) / batch``, a batch of
    independent uniform (example, t) pairs: the spread between examples is divided by the batch in both."""
    L = _terms("per_t", per_t)
    T = L.shape[1]
    batch = check_int("batch", batch, 1)
    if T % batch:
        raise bad("batch", batch, f"batch must divide T = {T} (the columns of per_t after the first) so the strata are equal")
    strata = L.T.reshape(batch, -1)                                  # stratum j: every (t in S_j, example) pair
    return float((T / batch) ** 2 * strata.var(dim=1, unbiased=False).sum())


class SnapToGrid(torch.nn.Module):
    """A model that knows its data lie on a grid of ``levels`` values in [-1, 1].

    Wraps ``model`` (a ``target``-predictor): at steps where the noise is small next to the grid
    spacing (sqrt((1 - alpha-bar_t) / alpha-bar_t) < spacing / 8), it rounds the model's x0 to the
    nearest grid value and returns the prediction that rounded x0 implies. Used in notebook 06 to
    show where a bound above the trivial log2(levels) bits/dim comes from: a network trained on the
    continuous MSE does not use that the data are discrete, and the first steps pay for it.
    """

    def __init__(self, model, schedule: NoiseSchedule, target: str = "eps", levels: int = 17):
        super().__init__()
        self.model, self.schedule = model, schedule
        self.target = check_choice("target", target, TARGETS)
        self.levels = check_int("levels", levels, 2)
        spacing = 2.0 / (self.levels - 1)
        ratio = (schedule.one_minus_alpha_bars / schedule.alpha_bars).sqrt()
        self.register_buffer("snap", ratio < spacing / 8, persistent=False)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        from .diffusion import convert

        pred = self.model(x_t, t)
        t_cpu = torch.as_tensor(t).reshape(-1).to("cpu")
        sel = self.snap[t_cpu]
        if not bool(sel.any()):
            return pred
        xt64, p64 = x_t.to("cpu", torch.float64), pred.to("cpu", torch.float64)
        x0 = convert(self.schedule, p64, xt64, t_cpu, source=self.target, target="x0")
        half = (self.levels - 1) / 2
        snapped = torch.round((x0.clamp(-1, 1) + 1) * half) / half - 1
        x0 = torch.where(sel.reshape(-1, *([1] * (x0.dim() - 1))), snapped, x0)
        out = x0 if self.target == "x0" else convert(self.schedule, x0, xt64, t_cpu, source="x0", target=self.target)
        return out.to(pred.device, pred.dtype)
