"""Per-t loss weights, in the target space of your choice.

A weighting is one objective, sum_t w_t E||target - prediction||^2, and the same objective has a
different w_t in each target space, because the errors are tied (Salimans & Ho 2022; Hang et al.
2023, sec. 3.4): for one model,

    eps-MSE = SNR_t * x0-MSE        and        v-MSE = (1 + SNR_t) * x0-MSE.

So a weight given in space A becomes w_B = w_A * m_A / m_B in space B, with m_x0 = 1,
m_eps = SNR, m_v = 1 + SNR. The classic slip: Min-SNR-gamma is min(SNR, gamma) on the **x0**
loss; on an eps loss it is min(SNR, gamma) / SNR = min(1, gamma / SNR), not min(SNR, gamma).

``weight(schedule, name, space)`` returns a float64 tensor of length T + 1 indexed by the math's t.
Index 0 is not a training step (t = 0 is the data itself, which carries no loss): it holds 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import Desc, bad, bad_type, check_bool, check_choice, check_real, check_tensor
from .schedules import NoiseSchedule, check_schedule

SPACES = ("eps", "x0", "v")


def mse_multiplier(schedule: NoiseSchedule, space: str) -> torch.Tensor:
    """m_space with space-MSE = m_space * x0-MSE: 1 for x0, SNR for eps, 1 + SNR for v (per t)."""
    check_schedule("schedule", schedule)
    check_choice("space", space, SPACES)
    if space == "x0":
        return torch.ones_like(schedule.snr)
    if space == "eps":
        return schedule.snr.clone()
    return 1.0 + schedule.snr


def translate(schedule: NoiseSchedule, w: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """Re-express per-t weights ``w`` on the ``source``-space MSE as weights on the ``target``-space MSE.

    w_target = w_source * m_source / m_target, so that w_target * target-MSE = w_source * source-MSE
    for every model (see the module docstring). Index 0 is set to 0.
    """
    check_schedule("schedule", schedule)
    check_choice("source", source, SPACES)
    check_choice("target", target, SPACES)
    w = check_tensor("w", w, finite=False)
    if w.shape != schedule.snr.shape or torch.isnan(w).any() or (w < 0).any():
        raise bad("w", Desc(f"tensor of shape {tuple(w.shape)}"),
                  f"w must hold T + 1 = {schedule.T + 1} non-negative weights (no NaN), index t = step t")
    out = w.clone().to(torch.float64)
    if source != target:
        m_s = mse_multiplier(schedule, source)
        m_t = mse_multiplier(schedule, target)
        out[1:] = (w[1:] * m_s[1:]) / m_t[1:]
    out[0] = 0.0
    return out


# ---------------------------------------------------------------------- the weightings
# Each returns (native weights of length T + 1, native space). Index 0 is overwritten by weight().

def _simple(s: NoiseSchedule):
    """Ho et al. 2020, eq. 14: the unweighted eps-MSE ("L_simple"). Native space: eps, w = 1."""
    return torch.ones_like(s.snr), "eps"


def _vlb(s: NoiseSchedule, sigma: str = "beta", clip_t1: bool = True):
    """Ho et al. 2020, eq. 12: lambda_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha-bar_t)), eps space.

    (beta_t = 1 - alpha_t, so this is the issue's (1 - alpha_t)^2 / (2 sigma_t^2 alpha_t (1 - alpha-bar_t)).)
    sigma="beta": sigma_t^2 = beta_t, lambda_t = beta_t / (2 alpha_t (1 - alpha-bar_t)).
    sigma="beta_tilde": sigma_t^2 = beta-tilde_t, lambda_t = beta_t / (2 alpha_t (1 - alpha-bar_{t-1}))
    = (SNR_{t-1} / SNR_t - 1) / 2 (Kingma et al. 2021, eq. 13, the discrete-time loss, moved to eps space).
    With beta-tilde, lambda_1 is infinite (beta-tilde_1 = 0). With ``clip_t1=True`` (default) we
    return the weight for sigma_1^2 = beta-tilde_2, the variance improved-diffusion actually uses at
    t = 1 (its clipped log-variance); ``clip_t1=False`` returns the honest +inf.
    """
    check_choice("sigma", sigma, ("beta", "beta_tilde"))
    clip_t1 = check_bool("clip_t1", clip_t1)
    b, a, om = s.betas, s.alphas, s.one_minus_alpha_bars
    w = torch.zeros_like(b)
    if sigma == "beta":
        w[1:] = b[1:] / (2 * a[1:] * om[1:])
    else:
        sigma2 = s.posterior_variance.clone()
        if clip_t1:
            sigma2[1] = math.exp(float(s.posterior_log_variance_clipped[1]))
        with torch.no_grad():
            w[1:] = b[1:] ** 2 / (2 * sigma2[1:] * a[1:] * om[1:])
    return w, "eps"


def _min_snr(s: NoiseSchedule, gamma: float = 5.0):
    """Hang et al. 2023 (Min-SNR-gamma), sec. 3.4: w = min(SNR_t, gamma) on the x0-MSE. Native: x0.

    In eps space this is min(SNR, gamma) / SNR; in v space min(SNR, gamma) / (SNR + 1).
    """
    gamma = check_real("gamma", gamma, low=0)
    return torch.clamp(s.snr, max=gamma), "x0"


def _p2(s: NoiseSchedule, k: float = 1.0, gamma: float = 1.0):
    """Choi et al. 2022 (P2 weighting), eq. 8: lambda'_t = lambda_t / (k + SNR_t)^gamma.

    There lambda_t is the factor that turns the VLB term L_t into the simple loss, so on the eps-MSE
    the P2 weight is 1 / (k + SNR_t)^gamma (as in their code). Native space: eps. gamma is the
    exponent (they use gamma = 0.5 or 1, k = 1); gamma -> 0 would give back the simple loss.
    """
    k = check_real("k", k, low=0)
    gamma = check_real("gamma", gamma, low=0)
    log_w = -gamma * torch.logaddexp(torch.tensor(math.log(k), dtype=torch.float64), s.log_snr)   # in logs: no overflow
    span = log_w[1:]
    if float(span.max()) > 700 or float(span.min()) < -700:
        raise bad("gamma", gamma, f"with k = {k:g} the P2 weights 1/(k + SNR)^gamma run from e^{float(span.min()):.0f} "
                                  f"to e^{float(span.max()):.0f}, beyond float64's range: use a smaller gamma or a k "
                                  "nearer 1")
    return torch.exp(log_w), "eps"


def _snr(s: NoiseSchedule):
    """The plain SNR weighting, w = SNR_t on the x0-MSE (Hang et al. 2023, sec. 3.4). Native: x0.

    It *is* the simple loss: SNR * x0-MSE = eps-MSE, so in eps space it is 1.
    """
    return s.snr.clone(), "x0"


def _truncated_snr(s: NoiseSchedule):
    """Truncated SNR, w = max(SNR_t, 1) on the x0-MSE (Salimans & Ho 2022, sec. 4). Native: x0."""
    return torch.clamp(s.snr, min=1.0), "x0"


def _snr_plus_one(s: NoiseSchedule):
    """SNR + 1 on the x0-MSE (Salimans & Ho 2022, sec. 4): the unweighted v-MSE. Native: x0."""
    return 1.0 + s.snr, "x0"


@dataclass(frozen=True)
class Weighting:
    """A named weighting: its function, native space, parameter defaults, source and one-line gist."""
    name: str
    fn: object
    native: str
    defaults: dict
    source: str
    gist: str


WEIGHTINGS = {
    w.name: w for w in [
        Weighting("simple", _simple, "eps", {}, "Ho et al. 2020, eq. 14", "the unweighted eps-MSE"),
        Weighting("vlb", _vlb, "eps", {"sigma": "beta", "clip_t1": True}, "Ho et al. 2020, eq. 12",
                  "the true bound's weight lambda_t"),
        Weighting("min_snr", _min_snr, "x0", {"gamma": 5.0}, "Hang et al. 2023, sec. 3.4",
                  "min(SNR, gamma) on the x0-MSE"),
        Weighting("p2", _p2, "eps", {"k": 1.0, "gamma": 1.0}, "Choi et al. 2022, eq. 8",
                  "1 / (k + SNR)^gamma on the eps-MSE"),
        Weighting("snr", _snr, "x0", {}, "Hang et al. 2023, sec. 3.4", "SNR on the x0-MSE (= simple)"),
        Weighting("truncated_snr", _truncated_snr, "x0", {}, "Salimans & Ho 2022, sec. 4",
                  "max(SNR, 1) on the x0-MSE"),
        Weighting("snr_plus_one", _snr_plus_one, "x0", {}, "Salimans & Ho 2022, sec. 4",
                  "SNR + 1 on the x0-MSE (= unweighted v-MSE)"),
    ]
}


def weight(schedule: NoiseSchedule, name: str, space: str = "eps", **params) -> torch.Tensor:
    """Per-t loss weights w_t (float64, length T + 1) of weighting ``name`` on the ``space``-MSE.

    ``name``: "simple", "vlb" (``sigma="beta"`` or ``"beta_tilde"``, ``clip_t1``), "min_snr"
    (``gamma``), "p2" (``k``, ``gamma``), "snr", "truncated_snr", "snr_plus_one" (see
    ``WEIGHTINGS`` for each one's source and native space). ``space``: "eps", "x0" or "v".
    Index 0 holds 0 (t = 0 is not a training step). Use it as ``loss = w[t] * mse_space``.
    """
    check_schedule("schedule", schedule)
    check_choice("name", name, tuple(WEIGHTINGS))
    check_choice("space", space, SPACES)
    spec = WEIGHTINGS[name]
    unknown = set(params) - set(spec.defaults)
    if unknown:
        allowed = ", ".join(spec.defaults) or "none"
        raise bad(sorted(unknown)[0], params[sorted(unknown)[0]], f"weighting {name!r} takes parameters: {allowed}")
    s64 = schedule.to("cpu", torch.float64)
    w, native = spec.fn(s64, **params)
    out = translate(s64, w, native, space)
    documented = name == "vlb" and params.get("clip_t1") is False and params.get("sigma") == "beta_tilde"
    finite = torch.isfinite(out[2:] if documented else out[1:])
    if not finite.all():
        t_bad = int((~finite).nonzero()[0]) + (2 if documented else 1)
        raise bad("schedule", schedule, f"weighting {name!r} in {space} space is {float(out[t_bad])} at t = {t_bad} on "
                                        "this schedule (its SNR spans more than float64 can hold)")
    return out + 0.0


def normalize(w: torch.Tensor) -> torch.Tensor:
    """w / mean(w[1..T]): weights on one scale, so curves of different weightings can share an axis.

    Only the relative weight across t matters for what a loss emphasises; the overall scale just
    multiplies the learning rate. Infinite entries make this undefined: clip them first.
    """
    w = check_tensor("w", w, finite=False)
    if w.dim() != 1 or w.numel() < 2:
        raise bad("w", Desc(f"tensor of shape {tuple(w.shape)}"), "w must be 1-D: index 0 (unused) and t = 1..T")
    if not torch.isfinite(w[1:]).all():
        raise bad("w", Desc("weights with inf/NaN entries"), "normalize needs finite weights for t = 1..T (clip them first)")
    if (w[1:] < 0).any() or not float(w[1:].mean()) > 0:
        raise bad("w", Desc("weights that are all 0 or negative"), "normalize needs non-negative weights with a positive mean")
    out = w.clone()
    out[1:] = w[1:] / w[1:].mean()
    out[0] = 0.0
    return out


def log_snr_density(schedule: NoiseSchedule) -> torch.Tensor:
    """Density of lambda = log-SNR when t is drawn uniformly from 1..T, at each lambda_t (length T + 1).

    p(lambda) = p(t) |dt / dlambda| = 1 / (T |dlambda/dt|) (change of variables; Kingma & Gao 2023,
    sec. 2, "the weighting as a function of log-SNR"). dlambda/dt is taken by central differences
    (one-sided at the ends). Index 0 holds 0. Multiply a weight by it to see where, in noise level,
    a training objective actually spends its effort.
    """
    check_schedule("schedule", schedule)
    lam = schedule.log_snr[1:].to(torch.float64)
    if lam.numel() < 2:
        raise bad("schedule", schedule, "a log-SNR density needs T >= 2")
    slope = torch.empty_like(lam)
    slope[1:-1] = (lam[2:] - lam[:-2]) / 2
    slope[0] = lam[1] - lam[0]
    slope[-1] = lam[-1] - lam[-2]
    out = torch.zeros(schedule.T + 1, dtype=torch.float64)
    out[1:] = 1.0 / (schedule.T * slope.abs())
    return out


def step_mass(schedule: NoiseSchedule, curves: dict):
    """Each weighting's effort per unit of log-SNR, exactly, step by step: ``(edges, {label: heights})``.

    Step t (drawn with probability 1/T) covers the log-SNR interval from lambda_t to lambda_{t-1}, of width
    dl_t = lambda_{t-1} - lambda_t; its weight w_t spread over that interval has the height w_t / (T dl_t). Over
    t = 2..T (t = 1's interval reaches lambda_0 = +inf) this is a step function with no finite-difference
    estimate of dlambda/dt in it (:func:`log_snr_density` and :func:`effective_weights` use central differences,
    which add their own error where the steps are not small: at the first steps). ``edges``: the T interval ends,
    increasing (noisy to clean); ``heights``: T - 1 values per label, in the same order, normalised so that the
    heights times the widths sum to 1. A last step over 10x the median width (the cosine schedule's clipped
    beta_T) is left out, as in :func:`effective_weights`.
    """
    import numpy as np

    check_schedule("schedule", schedule)
    if not isinstance(curves, dict) or not curves:
        raise bad_type("curves", curves, "curves must be a non-empty dict {label: per-t weights of length T + 1}")
    lam = schedule.log_snr[1:].numpy()                        # lambda_1 > lambda_2 > ... > lambda_T
    widths = lam[:-1] - lam[1:]                                # dl_t for t = 2..T
    keep = np.ones_like(widths, dtype=bool)
    if widths.size >= 3 and widths[-1] > 10 * np.median(widths):
        keep[-1] = False
    edges = lam[: keep.sum() + 1][::-1].copy()
    out = {}
    for label, w in curves.items():
        w = check_tensor(f"curves[{label!r}]", w)
        if w.shape != (schedule.T + 1,):
            raise bad("curves", Desc(f"{label!r} of shape {tuple(w.shape)}"), f"every curve must have length T + 1 = {schedule.T + 1}")
        mass = w[2:].numpy()[keep] / schedule.T
        out[label] = (mass / widths[keep] / mass.sum())[::-1].copy()
    return edges, out


def weighting_curves(schedule: NoiseSchedule, space: str = "eps", gamma: float = 5.0, k: float = 1.0,
                     p2_gamma: float = 1.0) -> dict:
    """The weightings notebook 03 compares, each normalised to mean 1 over t = 1..T, in ``space``.

    Returns ``{label: tensor of length T + 1}`` for VLB (sigma^2 = beta and beta-tilde, t = 1
    clipped), simple, Min-SNR-gamma, P2 (k, p2_gamma) and SNR. Normalising matters because an
    overall factor on a loss only rescales the learning rate: only the *shape* over t is comparable.
    """
    check_schedule("schedule", schedule)
    gamma = check_real("gamma", gamma, low=0)
    k = check_real("k", k, low=0)
    p2_gamma = check_real("p2_gamma", p2_gamma, low=0)
    specs = {
        "VLB, sigma^2 = beta": ("vlb", {"sigma": "beta"}),
        "VLB, sigma^2 = beta-tilde": ("vlb", {"sigma": "beta_tilde"}),
        "simple": ("simple", {}),
        f"Min-SNR-{gamma:g}": ("min_snr", {"gamma": gamma}),
        f"P2 (k={k:g}, gamma={p2_gamma:g})": ("p2", {"k": k, "gamma": p2_gamma}),
        "SNR": ("snr", {}),
    }
    out = {}
    for label, (name, params) in specs.items():
        try:
            out[label] = normalize(weight(schedule, name, space, **params))
        except ValueError as err:          # P2's gamma is this function's p2_gamma
            if name == "p2" and str(err).startswith("gamma="):
                raise ValueError("p2_" + str(err)) from None
            raise
    return out


def effective_weights(schedule: NoiseSchedule, curves: dict):
    """Each weighting times the log-SNR density, normalised to integrate to 1 over log-SNR.

    Returns ``(log_snr, density, {label: effective})`` as numpy arrays over t = 1..T, where
    ``curves`` is ``{label: per-t weights of length T + 1}`` (e.g. from :func:`weighting_curves`).
    A last step whose log-SNR gap is over 10x the median gap (the cosine schedule's clipped
    beta_T: one jump of ~7 units) is one discrete event, not a density: it is left out here, and
    its weight should be shown on a per-t plot instead.
    """
    import numpy as np

    check_schedule("schedule", schedule)
    if not isinstance(curves, dict) or not curves:
        raise bad_type("curves", curves, "curves must be a non-empty dict {label: per-t weights of length T + 1}")
    for label, w in curves.items():
        w = check_tensor(f"curves[{label!r}]", w)
        if w.shape != (schedule.T + 1,):
            raise bad("curves", Desc(f"{label!r} of shape {tuple(w.shape)}"), f"every curve must have length T + 1 = {schedule.T + 1}")
    lam = schedule.log_snr[1:].numpy()
    dens = log_snr_density(schedule)[1:].numpy()
    gaps = np.abs(np.diff(lam))
    keep = np.ones_like(lam, dtype=bool)
    if gaps.size >= 3 and gaps[-1] > 10 * np.median(gaps):
        keep[-1] = False
    lam, dens = lam[keep], dens[keep]
    order = np.argsort(lam)
    out = {}
    for label, w in curves.items():
        e = w[1:].numpy()[keep] * dens
        out[label] = e / np.trapezoid(e[order], lam[order])
    return lam, dens, out
