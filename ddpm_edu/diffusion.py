"""The forward process, its posterior, and the three prediction targets.

Shapes: ``x0``, ``x_t``, ``noise`` and predictions are ``(B, ...)`` (any data shape after the batch
dimension); ``t`` is an int or an int64 tensor of shape ``(B,)`` with entries in 1..T (the math's
index; see :mod:`ddpm_edu.schedules`). Per-t coefficients are gathered at ``t`` and broadcast over
the data dimensions, in the data's dtype and on its device.

Notation: a_t = sqrt(alpha-bar_t), s_t = sqrt(1 - alpha-bar_t), so that
    x_t = a_t x0 + s_t eps                  (Ho et al. 2020, eq. 4)
    v   = a_t eps - s_t x0                  (Salimans & Ho 2022, sec. 4)
and a_t^2 + s_t^2 = 1.
"""

from __future__ import annotations

import torch

from ._checks import bad, check_choice, check_like, check_real, check_tensor, check_timesteps, Desc
from .schedules import NoiseSchedule, check_schedule

TARGETS = ("eps", "x0", "v")


def extract(values: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` shaped ``(B, 1, ..., 1)`` (or ``()`` for a scalar t) to broadcast against ``like``.
    ``values`` is a per-t table of length T + 1, so t may run from 0 to T."""
    t = check_timesteps("t", t, values.shape[0] - 1, low=0).to(values.device)
    out = values[t].to(device=like.device, dtype=like.dtype)
    if out.dim() == 0:
        return out
    return out.reshape(out.shape[0], *([1] * (like.dim() - 1)))


# ---------------------------------------------------------------- unchecked kernels
# The formulas themselves, once each. The public functions below check their arguments and call these; the
# training loss, the per-t evaluation, the bound, the samplers and the continuous objectives call them directly
# on tensors already checked at their own public boundary (DESIGN.md: validation happens once).

def forward_coefficients(schedule: NoiseSchedule):
    """``(a, s)``: the per-t tables a_t = sqrt(alpha-bar_t), s_t = sqrt(1 - alpha-bar_t), float64, length T + 1."""
    return schedule.alpha_bars.sqrt(), schedule.one_minus_alpha_bars.sqrt()


def vp_coefficients(lam: torch.Tensor):
    """``(a, s)`` at log-SNR lambda for the variance-preserving process: a^2 = sigmoid(lambda), s^2 = sigmoid(-lambda)
    (Kingma et al. 2021, sec. 2: alpha^2 / sigma^2 = exp(lambda), alpha^2 + sigma^2 = 1)."""
    return torch.sigmoid(lam).sqrt(), torch.sigmoid(-lam).sqrt()


def noised(a, s, x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_t = a x0 + s eps, with a, s already gathered at t and broadcastable (Ho et al. 2020, eq. 4).

    The package's one statement of the forward process: :func:`q_sample`, the trainer's loss, the per-t
    evaluation, the bound, the benchmark's textbook step and the continuous objectives all form x_t here."""
    return a * x0 + s * eps


def target_coefficients(a, s, target: str):
    """``(c_eps, c_x0)`` with target = c_eps eps + c_x0 x0: eps (1, 0), x0 (0, 1), v (a, -s).

    v = a eps - s x0 (Salimans & Ho 2022, sec. 4). ``a``, ``s``: tables or values gathered at t."""
    if target == "eps":
        return torch.ones_like(a), torch.zeros_like(a)
    if target == "x0":
        return torch.zeros_like(a), torch.ones_like(a)
    return a, -s


def combine(c_eps, c_x0, eps: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """c_eps eps + c_x0 x0: a regression target from its coefficients (:func:`target_coefficients`)."""
    return c_eps * eps + c_x0 * x0


def convert_kernel(source: str, target: str, pred: torch.Tensor, x_t: torch.Tensor, a, s) -> torch.Tensor:
    """The six conversions between eps, x0 and v at x_t = a x0 + s eps, v = a eps - s x0 (see :func:`convert`)."""
    if source == target:
        return pred
    formulas = {
        ("eps", "x0"): lambda p: (x_t - s * p) / a,
        ("x0", "eps"): lambda p: (x_t - a * p) / s,
        ("v", "x0"): lambda p: a * x_t - s * p,
        ("v", "eps"): lambda p: s * x_t + a * p,
        ("eps", "v"): lambda p: (p - s * x_t) / a,
        ("x0", "v"): lambda p: (a * x_t - p) / s,
    }
    return formulas[(source, target)](pred)


def posterior_mean_kernel(c0, ct, x0: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
    """mu-tilde = c0 x0 + ct x_t, the posterior mean from its coefficients (Ho et al. 2020, eq. 7;
    :func:`posterior_coefficients`)."""
    return c0 * x0 + ct * x_t


def _gather(table: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``table[t]`` shaped to broadcast against ``like`` (B, ...), in its dtype and on its device; t checked."""
    out = table[t].to(device=like.device, dtype=like.dtype)
    return out if out.dim() == 0 else out.reshape(out.shape[0], *([1] * (like.dim() - 1)))


# ---------------------------------------------------------------- the public, checked functions
def _check_batch(name: str, x, t: torch.Tensor) -> torch.Tensor:
    """``x`` as a finite float tensor (integer tensors become float64) whose batch matches ``t``."""
    x = check_tensor(name, x)
    if t.dim() == 1 and (x.dim() == 0 or x.shape[0] != t.shape[0]):
        raise bad(name, Desc(f"tensor of shape {tuple(x.shape)}"),
                  f"{name} must have batch size {t.shape[0]} to match t (shape (B, ...))")
    return x


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """Draw x_t ~ q(x_t | x_0) given the noise: x_t = sqrt(alpha-bar_t) x0 + sqrt(1 - alpha-bar_t) eps.

    Ho et al. 2020, eq. 4 (closed form of the forward process). ``t`` may be 0..T here: t = 0
    returns x0 itself. The noise is an argument, never drawn inside, so results are reproducible.
    """
    check_schedule("schedule", schedule)
    t = check_timesteps("t", t, schedule.T, low=0)
    x0 = _check_batch("x0", x0, t)
    noise = check_like("noise", noise, "x0", x0)
    a, s = (_gather(c, t, x0) for c in forward_coefficients(schedule))
    return noised(a, s, x0, noise)


def posterior_coefficients(schedule: NoiseSchedule):
    """The two per-t coefficients of the posterior mean, mu-tilde_t = c0_t x0 + ct_t x_t.

    Ho et al. 2020, eq. 7: c0_t = sqrt(alpha-bar_{t-1}) beta_t / (1 - alpha-bar_t) and
    ct_t = sqrt(alpha_t) (1 - alpha-bar_{t-1}) / (1 - alpha-bar_t). Length T + 1; index 0 holds 0.
    At t = 1 they are exactly 1 and 0: the posterior mean is x0.
    """
    check_schedule("schedule", schedule)
    c0 = torch.zeros_like(schedule.betas)
    ct = torch.zeros_like(schedule.betas)
    om = schedule.one_minus_alpha_bars
    c0[1:] = schedule.alpha_bars[:-1].sqrt() * schedule.betas[1:] / om[1:]
    ct[1:] = schedule.alphas[1:].sqrt() * om[:-1] / om[1:]
    return c0, ct


def q_posterior(schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t):
    """Mean and variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, eqs. 6-7).

    Returns ``(mean, variance)``: mean has the shape of ``x0``; variance is beta-tilde_t shaped
    ``(B, 1, ..., 1)``. At t = 1 the variance is exactly 0 and the mean is exactly x0: given x0,
    x_0 is known, so the "posterior" is a point mass. We return that 0 unchanged (it is the truth).
    Code that needs a log-variance (a KL, the sampler's noise) must not take log 0: it uses
    ``schedule.posterior_log_variance_clipped``, which, like improved-diffusion, puts
    beta-tilde_2 at t = 1; DDPM's sampler adds no noise at t = 1 anyway.
    """
    check_schedule("schedule", schedule)
    t = check_timesteps("t", t, schedule.T, low=1)
    x0 = _check_batch("x0", x0, t)
    x_t = check_like("x_t", x_t, "x0", x0)
    c0, ct = posterior_coefficients(schedule)
    mean = posterior_mean_kernel(extract(c0, t, x0), extract(ct, t, x0), x0, x_t)
    variance = extract(schedule.posterior_variance, t, x0)
    if variance.dim() == 0:
        variance = variance.reshape([1] * x0.dim()) if x0.dim() else variance
    return mean, variance


def convert(schedule: NoiseSchedule, prediction: torch.Tensor, x_t: torch.Tensor, t,
            source: str = "eps", target: str = "x0") -> torch.Tensor:
    """Translate a prediction of ``source`` into the ``target`` it implies, given x_t and t.

    With a = sqrt(alpha-bar_t), s = sqrt(1 - alpha-bar_t), x_t = a x0 + s eps and v = a eps - s x0
    (Salimans & Ho 2022, eq. in sec. 4 and appendix D):
        eps -> x0: (x_t - s eps) / a        x0 -> eps: (x_t - a x0) / s
        v   -> x0: a x_t - s v              v  -> eps: s x_t + a v
        eps -> v : (eps - s x_t) / a        x0 -> v  : (a x_t - x0) / s
    Division by a loses precision as alpha-bar_t -> 0 (eps -> x0 at t = T); by s as t -> 0.
    """
    check_schedule("schedule", schedule)
    check_choice("source", source, TARGETS)
    check_choice("target", target, TARGETS)
    t = check_timesteps("t", t, schedule.T, low=1)
    prediction = _check_batch("prediction", prediction, t)
    x_t = check_like("x_t", x_t, "prediction", prediction)
    a, s = (_gather(c, t, x_t) for c in forward_coefficients(schedule))
    return convert_kernel(source, target, prediction, x_t, a, s)


def target_from(x0: torch.Tensor, noise: torch.Tensor, schedule: NoiseSchedule, t, target: str) -> torch.Tensor:
    """The regression target a model of kind ``target`` learns: eps, x0, or v = a eps - s x0."""
    check_choice("target", target, TARGETS)
    check_schedule("schedule", schedule)
    t = check_timesteps("t", t, schedule.T, low=1)
    x0 = _check_batch("x0", x0, t)
    noise = check_like("noise", noise, "x0", x0)
    if target == "eps":
        return noise
    if target == "x0":
        return x0
    a, s = (_gather(c, t, x0) for c in forward_coefficients(schedule))
    return combine(*target_coefficients(a, s, target), noise, x0)


def model_mean_from_eps(schedule: NoiseSchedule, x_t: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
    """mu_theta(x_t, t) = (x_t - beta_t / sqrt(1 - alpha-bar_t) eps_theta) / sqrt(alpha_t).

    Ho et al. 2020, eq. 11. It equals the posterior mean (eq. 7) evaluated at the x0 implied by
    eps_theta; the tests check that identity.
    """
    check_schedule("schedule", schedule)
    t = check_timesteps("t", t, schedule.T, low=1)
    x_t = _check_batch("x_t", x_t, t)
    eps = check_like("eps", eps, "x_t", x_t)
    coef = extract(schedule.betas / schedule.one_minus_alpha_bars.sqrt().clamp_min(1e-300), t, x_t)
    return (x_t - coef * eps) / extract(schedule.alphas.sqrt(), t, x_t)


def model_mean(schedule: NoiseSchedule, prediction: torch.Tensor, x_t: torch.Tensor, t, source: str = "eps",
               clip_x0: float | None = None) -> torch.Tensor:
    """mu_theta for a model of any target: convert to x0 (optionally clipped), then the posterior mean.

    This is the one sampler every parameterization shares (eq. 7 with x0 replaced by the model's
    x0); for ``source="eps"`` and no clipping it equals eq. 11.
    """
    if clip_x0 is not None:
        clip_x0 = check_real("clip_x0", clip_x0, low=0)
    x0_hat = convert(schedule, prediction, x_t, t, source=source, target="x0")
    if clip_x0 is not None:
        x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
    mean, _ = q_posterior(schedule, x0_hat, x_t, t)
    return mean
