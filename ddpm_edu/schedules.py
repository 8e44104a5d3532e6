"""Noise schedules: everything about beta_t in one small object.

Indexing follows the math, not the array: every per-t tensor has length ``T + 1`` and
``schedule.alpha_bars[t]`` is alpha-bar_t exactly as written in Ho et al. (2020). Index 0 is the
clean data x_0: beta_0 = 0, alpha_0 = alpha-bar_0 = 1, SNR_0 = log-SNR_0 = +inf, beta-tilde_0 = 0.
The training steps are t = 1..T. (diffusers and improved-diffusion store the same numbers 0-based,
so their ``alphas_cumprod[t]`` is our ``alpha_bars[t + 1]``; :meth:`NoiseSchedule.zero_based`
gives that view by name, never by a silent shift.)

All tensors are float64 on the CPU; :meth:`NoiseSchedule.to` casts a copy for training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from ._checks import MAX_T, Desc, bad, bad_type, check_choice, check_int, check_real

SCHEDULES = ("linear", "cosine", "scaled_linear", "sigmoid")      # NoiseSchedule.by_name's names, in one place
MAX_ALPHA_BAR_T = 0.05      # a chain must end close to pure noise, or samples started from N(0, I) cannot become data

_PER_T = ("betas", "alphas", "alpha_bars", "one_minus_alpha_bars", "snr", "log_snr",
          "posterior_variance", "posterior_log_variance_clipped")


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A discrete-time variance-preserving noise schedule, t = 0..T (index 0 = clean data).

    Attributes (all tensors of shape ``(T + 1,)``, float64 unless cast with :meth:`to`):
        betas: beta_t, the variance added at step t (Ho et al. 2020, eq. 2); betas[0] = 0.
        alphas: alpha_t = 1 - beta_t.
        alpha_bars: alpha-bar_t = prod_{s=1..t} alpha_s (Ho et al. 2020, eq. 4); alpha_bars[0] = 1.
        one_minus_alpha_bars: 1 - alpha-bar_t, computed with expm1 so it keeps full precision at
            small t (where 1 - alpha-bar_1 = beta_1 = 1e-4).
        snr: SNR_t = alpha-bar_t / (1 - alpha-bar_t) (Kingma et al. 2021, eq. 2); snr[0] = inf.
        log_snr: log SNR_t; log_snr[0] = inf.
        posterior_variance: beta-tilde_t = beta_t (1 - alpha-bar_{t-1}) / (1 - alpha-bar_t)
            (Ho et al. 2020, eq. 7); beta-tilde_1 = 0 exactly, beta-tilde_0 = 0 by convention.
        posterior_log_variance_clipped: log beta-tilde_t with t = 1 replaced by log beta-tilde_2,
            as improved-diffusion does (Nichol & Dhariwal 2021, code ``gaussian_diffusion.py``), so
            that a log-variance or KL at t = 1 stays finite; index 0 holds the same value as t = 1.
        T: the number of diffusion steps.
        name: a label for plots ("linear", "cosine", ...).
    """

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor
    one_minus_alpha_bars: torch.Tensor
    snr: torch.Tensor
    log_snr: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_log_variance_clipped: torch.Tensor
    T: int
    name: str = "custom"

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_betas(cls, betas, name: str = "custom") -> "NoiseSchedule":
        """Build a schedule from beta_1..beta_T (a 1-D sequence of length T, each in (0, 1)).

        Pass the betas of the steps only: the leading beta_0 = 0 of ``schedule.betas`` is not a
        step (pass ``schedule.betas[1:]``).
        """
        if not isinstance(name, str):
            raise bad_type("name", name, "name must be a string (a label for plots)")
        if isinstance(betas, (str, bytes, dict)) or betas is None or isinstance(betas, bool):
            raise bad_type("betas", betas, "betas must be a 1-D sequence of numbers in (0, 1)")
        if isinstance(betas, torch.Tensor) and (betas.dtype == torch.bool or betas.dtype.is_complex):
            raise bad_type("betas", betas, "betas must hold real numbers in (0, 1)")
        try:
            b = torch.as_tensor(betas, dtype=torch.float64).detach().cpu().clone()
        except (TypeError, ValueError, RuntimeError, OverflowError):
            raise bad_type("betas", betas, "betas must be a 1-D sequence of numbers in (0, 1)") from None
        if b.dim() != 1 or b.numel() < 1 or b.numel() > MAX_T:
            raise bad("betas", Desc(f"tensor of shape {tuple(b.shape)}"),
                      f"betas must be 1-D with length T in 1..{MAX_T} (beta_1..beta_T)")
        if not torch.isfinite(b).all():
            i = int((~torch.isfinite(b)).nonzero()[0])
            raise bad(f"betas[{i}]", float(b[i]), "every beta must be finite, in (0, 1)")
        outside = (b <= 0) | (b >= 1)
        if outside.any():
            i = int(outside.nonzero()[0])
            hint = " (pass betas for t = 1..T only, without the leading beta_0 = 0)" if i == 0 and b[0] == 0 else ""
            raise bad(f"betas[{i}]", float(b[i]), "every beta must lie in the open interval (0, 1)" + hint)
        T = b.numel()
        if float(torch.log1p(-b).sum()) < math.log(torch.finfo(torch.float64).tiny) + 50:
            raise bad("betas", Desc(f"{T} betas up to {float(b.max()):.3g}"),
                      "alpha-bar_T would underflow to 0 in float64 (the chain destroys the data long before t = T): "
                      "use smaller betas or fewer steps")
        zero = torch.zeros(1, dtype=torch.float64)
        betas = torch.cat([zero, b])
        log_alphas = torch.log1p(-betas)                  # log alpha_t, exact near 0
        log_abar = torch.cumsum(log_alphas, 0)            # log alpha-bar_t
        alpha_bars = torch.exp(log_abar)
        one_minus = 0.0 - torch.expm1(log_abar)           # 1 - alpha-bar_t without cancellation; 0.0 - (not a
        # negation) so that index 0 is +0.0: -expm1(0) is -0.0, which made beta-tilde_1 = -0.0 and lambda_1 = -inf
        with torch.no_grad():
            log_snr = log_abar - torch.log(one_minus)     # index 0: 0 - log 0 = +inf
            snr = torch.exp(log_snr)
        if not torch.isfinite(log_snr[1:]).all():
            raise bad("betas", Desc(f"beta_1 = {float(b[0]):.3g}"), "beta_1 is so small that SNR_1 = (1 - beta_1) / beta_1 "
                                                                   "overflows float64: use beta_1 >= 1e-300")
        post = torch.zeros_like(betas)
        post[1:] = betas[1:] * one_minus[:-1] / one_minus[1:]
        log_post = torch.empty_like(betas)
        if T >= 2:
            log_post[1:] = torch.log(post[1:].clamp_min(torch.finfo(torch.float64).tiny))
            log_post[1] = log_post[2]
        else:  # T = 1 has no beta-tilde_2 to clip to; fall back to log beta_1 (the "large" variance)
            log_post[1] = torch.log(betas[1])
        log_post[0] = log_post[1]
        return cls(betas=betas, alphas=1.0 - betas, alpha_bars=alpha_bars, one_minus_alpha_bars=one_minus,
                   snr=snr, log_snr=log_snr, posterior_variance=post,
                   posterior_log_variance_clipped=log_post, T=T, name=name)

    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "NoiseSchedule":
        """Linear betas from ``beta_start`` to ``beta_end`` over t = 1..T (Ho et al. 2020, sec. 4).

        The betas are not rescaled with T: with few steps and these defaults alpha-bar_T stays far
        from 0 (improved-diffusion multiplies both ends by 1000 / T; do so yourself if you want it).
        """
        T = check_int("T", T, 1, MAX_T)
        beta_start = check_real("beta_start", beta_start, low=0, high=1)
        beta_end = check_real("beta_end", beta_end, low=0, high=1)
        return cls.from_betas(torch.linspace(beta_start, beta_end, T, dtype=torch.float64), name="linear")

    @classmethod
    def scaled_linear(cls, T: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> "NoiseSchedule":
        """Betas linear in sqrt(beta): (linspace(sqrt(start), sqrt(end), T))^2.

        The Stable Diffusion schedule (Rombach et al. 2022, latent-diffusion config; diffusers'
        ``beta_schedule="scaled_linear"``).
        """
        T = check_int("T", T, 1, MAX_T)
        beta_start = check_real("beta_start", beta_start, low=0, high=1)
        beta_end = check_real("beta_end", beta_end, low=0, high=1)
        root = torch.linspace(math.sqrt(beta_start), math.sqrt(beta_end), T, dtype=torch.float64)
        return cls.from_betas(root ** 2, name="scaled_linear")

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> "NoiseSchedule":
        """The cosine schedule (Nichol & Dhariwal 2021, eq. 17).

        alpha-bar_t = f(t) / f(0) with f(t) = cos(((t / T + s) / (1 + s)) * pi / 2)^2, and
        beta_t = min(1 - alpha-bar_t / alpha-bar_{t-1}, max_beta). The clip bites at the last steps
        (f(T) = 0 would make beta_T = 1), so alpha-bar is recomputed from the clipped betas: this
        is what makes the VLB weight spike near t = T (notebook 03 shows it).
        """
        T = check_int("T", T, 1, MAX_T)
        s = check_real("s", s, low=0, low_open=False)
        max_beta = check_real("max_beta", max_beta, low=0, high=1)
        t = torch.arange(T + 1, dtype=torch.float64)
        f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
        abar = f / f[0]
        betas = (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)
        if not (betas > 0).all():
            raise bad("s", s, "s this small gives a zero beta_1; use s >= 0 with T small enough that beta_1 > 0")
        return cls.from_betas(betas, name="cosine")

    @classmethod
    def sigmoid(cls, T: int = 1000, start: float = -3.0, end: float = 3.0, tau: float = 1.0,
                max_beta: float = 0.999) -> "NoiseSchedule":
        """The sigmoid schedule of Chen (2023), "On the importance of noise scheduling", Algorithm 1.

        alpha-bar(u) = (sigmoid(end / tau) - sigmoid((u (end - start) + start) / tau))
        / (sigmoid(end / tau) - sigmoid(start / tau)) for u = t / T, clipped below at 1e-9; betas
        are then 1 - alpha-bar_t / alpha-bar_{t-1}, clipped at ``max_beta``.
        """
        T = check_int("T", T, 1, MAX_T)
        start = check_real("start", start)
        end = check_real("end", end)
        if not end > start:
            raise bad("end", end, f"end must be greater than start (= {start})")
        tau = check_real("tau", tau, low=0)
        max_beta = check_real("max_beta", max_beta, low=0, high=1)
        u = torch.arange(T + 1, dtype=torch.float64) / T
        v_start = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64))
        v_end = torch.sigmoid(torch.tensor(end / tau, dtype=torch.float64))
        abar = (v_end - torch.sigmoid((u * (end - start) + start) / tau)) / (v_end - v_start)
        abar = abar.clamp(min=1e-9, max=1.0)
        betas = (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)
        if not (betas > 0).all():
            raise bad("tau", tau, "these start/end/tau give a zero beta at some step; widen the range or lower T")
        return cls.from_betas(betas, name="sigmoid")

    @classmethod
    def by_name(cls, name: str, T: int = 1000, **params) -> "NoiseSchedule":
        """``NoiseSchedule.by_name("cosine", T=500, s=0.008)``: the constructor named ``name``."""
        makers = {"linear": cls.linear, "cosine": cls.cosine, "scaled_linear": cls.scaled_linear,
                  "sigmoid": cls.sigmoid}
        assert tuple(makers) == SCHEDULES
        check_choice("name", name, tuple(makers))
        import inspect
        allowed = [p for p in inspect.signature(makers[name]).parameters if p != "T"]
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise bad(unknown[0], params[unknown[0]], f"the {name} schedule takes: T, {', '.join(allowed)}")
        return makers[name](T=T, **params)

    # ------------------------------------------------------------------ helpers
    @property
    def timesteps(self) -> torch.Tensor:
        """The training steps 1..T as an int64 tensor."""
        return torch.arange(1, self.T + 1)

    def to(self, device=None, dtype: torch.dtype | None = None) -> "NoiseSchedule":
        """A copy with every per-t tensor moved to ``device`` and cast to ``dtype`` (a floating-point
        dtype: an integer one would turn alpha-bar into [1, 0, 0, ...])."""
        if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
            raise bad_type("dtype", dtype, "dtype must be a floating-point torch dtype (torch.float32 or torch.float64)")
        if device is not None and not isinstance(device, (str, torch.device)):
            raise bad_type("device", device, "device must be a string such as 'cpu' or 'cuda', or a torch.device")
        if device is not None:
            try:
                torch.device(device)
            except (RuntimeError, TypeError):
                raise bad("device", device, "device must name a torch device such as 'cpu' or 'cuda'") from None
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in _PER_T:
            moved[key] = moved[key].to(device=device, dtype=dtype)
        return NoiseSchedule(**moved)

    def zero_based(self, attribute: str) -> torch.Tensor:
        """The diffusers / improved-diffusion view: ``attribute`` for t = 1..T stored at index t - 1.

        ``schedule.zero_based("alpha_bars")[i]`` equals diffusers' ``alphas_cumprod[i]``.
        """
        check_choice("attribute", attribute, _PER_T)
        return getattr(self, attribute)[1:]

    def __repr__(self) -> str:
        return (f"NoiseSchedule(name={self.name!r}, T={self.T}, beta_1={float(self.betas[1]):.3g}, "
                f"beta_T={float(self.betas[-1]):.3g}, alpha_bar_T={float(self.alpha_bars[-1]):.3g})")


def check_schedule(name: str, schedule) -> NoiseSchedule:
    """``schedule`` if it is a :class:`NoiseSchedule` (here, not in ``_checks``: ``_checks`` imports nothing of ours)."""
    if not isinstance(schedule, NoiseSchedule):
        raise bad_type(name, schedule, f"{name} must be a NoiseSchedule (e.g. NoiseSchedule.linear())")
    return schedule


def check_schedule_reaches_noise(sched: NoiseSchedule, T: int) -> None:
    """Refuse a schedule whose chain does not end near pure noise (alpha-bar_T > 0.05)."""
    ab_T = float(sched.alpha_bars[-1])
    if ab_T > MAX_ALPHA_BAR_T:
        raise bad("T", T, f"with the {sched.name} schedule and T = {T}, alpha-bar_T = {ab_T:.4g} > {MAX_ALPHA_BAR_T}: "
                          "the chain does not reach noise, so samples started from N(0, I) cannot become data; "
                          "use a larger T (the linear schedule needs T >= 300)")
