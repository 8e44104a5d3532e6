"""Today's diffusion objectives as weighted ELBOs, all on one log-SNR axis (Kingma & Gao 2023).

Every objective trains a denoiser at noise levels drawn from some distribution and weights a squared
error in some target space. Written in the log signal-to-noise ratio lambda = log(alpha^2 / sigma^2)
of z = alpha x + sigma eps, each one is

    E_{lambda ~ p} [ w(lambda) ||eps - eps_hat||^2 ]  =  integral  p(lambda) w(lambda) ||eps - eps_hat||^2  d lambda,

where ``lambda_density`` is p, the density of lambda induced by how t (or sigma) is sampled, and
``eps_weight`` is w, the weight the objective puts on the eps-MSE once its own target's MSE is
converted (x0-MSE = e^-lambda eps-MSE, v-MSE = (1 + e^-lambda) eps-MSE, velocity-MSE =
(1 + e^(-lambda/2))^2 eps-MSE). Their product, ``effective_weighting``, is Kingma & Gao's w(lambda)
(their eq. 6 and Table 1): the continuous-time ELBO is the constant weighting, and when the product is
non-increasing in lambda the objective is the ELBO of data augmented with Gaussian noise (their sec. 4).
Mind the product: the ELBO's eps-weight alone (1 / p under cosine sampling) is not monotone.

Names (``OBJECTIVES``) and defaults:

* ``ddpm``: eps-MSE, t uniform on 1..1000, linear betas 1e-4..0.02 (Ho et al. 2020);
* ``iddpm``: eps-MSE, t uniform on [0, 1], cosine schedule with offset s = 0.008 (Nichol & Dhariwal 2021, eq. 17);
* ``elbo``: the continuous-time ELBO (Kingma et al. 2021, eq. 17): iddpm's sampler, eps-weight 1 / p;
* ``v_cosine``: v-MSE, t uniform on [0, 1], alpha = cos(pi t / 2) (Salimans & Ho 2022, sec. 4; their s = 0);
* ``edm``: ln sigma ~ N(P_mean, P_std^2), P_mean = -1.2, P_std = 1.2, the loss weight
  (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 on the MSE of D(x; sigma) - x, sigma_data = 0.5
  (Karras et al. 2022, Table 1, "training"); lambda = -2 ln sigma;
* ``flow_matching``: rectified flow z_t = (1 - t) x + t eps, velocity target eps - x, t ~ U(0, 1)
  (Liu et al. 2022; Lipman et al. 2023);
* ``sd3``: the same with t ~ logit-normal(m = 0, s = 1) (Esser et al. 2024, sec. 3.1);
* ``min_snr``: Min-SNR-gamma (gamma = 5) on the linear schedule, eps-prediction (Hang et al. 2023);
* ``p2``: P2 with k = 1, gamma = 1 on the linear schedule (Choi et al. 2022, eq. 8);
* ``sigmoid``: Kingma & Gao's w(lambda) = sigmoid(b - lambda), b = 0 (their sec. 5), here drawn with
  iddpm's sampler and eps-weight sigmoid(b - lambda) / p.

All functions take lambda as a numpy array or torch tensor and return float64 of the same kind.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import MAX_N, bad, bad_type, check_choice, check_generator, check_int, check_real

OBJECTIVES = ("ddpm", "iddpm", "elbo", "v_cosine", "edm", "flow_matching", "sd3", "min_snr", "p2", "sigmoid")

# parameters each objective takes, with their defaults (anything else is refused)
DEFAULTS = {
    "ddpm": {}, "iddpm": {"s": 0.008}, "elbo": {"s": 0.008}, "v_cosine": {},
    "edm": {"P_mean": -1.2, "P_std": 1.2, "sigma_data": 0.5},
    "flow_matching": {}, "sd3": {"m": 0.0, "s": 1.0},
    "min_snr": {"gamma": 5.0}, "p2": {"k": 1.0, "gamma": 1.0}, "sigmoid": {"b": 0.0, "s": 0.008},
}
TARGET = {"ddpm": "eps", "iddpm": "eps", "elbo": "eps", "v_cosine": "v", "edm": "x0", "flow_matching": "velocity",
          "sd3": "velocity", "min_snr": "eps", "p2": "eps", "sigmoid": "eps"}
SOURCES = {
    "ddpm": "Ho et al. 2020, eq. 14", "iddpm": "Nichol & Dhariwal 2021, eq. 17", "elbo": "Kingma et al. 2021, eq. 17",
    "v_cosine": "Salimans & Ho 2022, sec. 4", "edm": "Karras et al. 2022, Table 1",
    "flow_matching": "Liu et al. 2022; Lipman et al. 2023", "sd3": "Esser et al. 2024, sec. 3.1",
    "min_snr": "Hang et al. 2023, sec. 3.4", "p2": "Choi et al. 2022, eq. 8", "sigmoid": "Kingma & Gao 2023, sec. 5",
}

_LINEAR = {"T": 1000, "beta_start": 1e-4, "beta_end": 0.02}
LAMBDA_RANGE = (-10.0, 10.0)       # where notebook 07 compares objectives: about the linear schedule's range


# ---------------------------------------------------------------------------------------- helpers
def _as_array(lam):
    """(float64 numpy array, converter back to the caller's kind)."""
    if isinstance(lam, torch.Tensor):
        if lam.dtype == torch.bool or lam.dtype.is_complex:
            raise bad_type("lam", lam, "lam must hold real numbers")
        device = lam.device
        return lam.detach().to("cpu", torch.float64).numpy(), lambda a: torch.as_tensor(a, dtype=torch.float64, device=device)
    if isinstance(lam, (str, bytes, dict, bool, np.bool_)) or lam is None:
        raise bad_type("lam", lam, "lam must be a number or an array of numbers")
    try:
        arr = np.asarray(lam, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise bad_type("lam", lam, "lam must be a number or an array of numbers") from None
    if np.isnan(arr).any():
        raise bad("lam", "an array with NaN entries", "lam must be real numbers (+-inf allowed)")
    return arr, (lambda a: a) if arr.ndim else (lambda a: float(a) if np.ndim(a) == 0 else a)


def _params(name: str, params: dict) -> dict:
    check_choice("name", name, OBJECTIVES)
    allowed = DEFAULTS[name]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise bad(unknown[0], params[unknown[0]], f"objective {name!r} takes: {', '.join(allowed) or 'no parameters'}")
    out = dict(allowed)
    out.update(params)
    positive = {"s", "P_std", "sigma_data", "gamma", "k"}
    for key, value in out.items():
        if key == "s" and name in ("iddpm", "elbo", "sigmoid"):
            out[key] = check_real(key, value, low=0, high=0.5, low_open=False)
        elif key in positive:
            out[key] = check_real(key, value, low=0)
        else:
            out[key] = check_real(key, value)
    return out


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def linear_log_snr() -> np.ndarray:
    """lambda_t for t = 1..1000 of DDPM's linear schedule (from ``NoiseSchedule.linear``), decreasing.
    A fresh copy each call; the schedule itself is built once (training draws from it every step)."""
    return _linear_log_snr().copy()


@functools.lru_cache(maxsize=1)
def _linear_log_snr() -> np.ndarray:
    from .schedules import NoiseSchedule

    return NoiseSchedule.linear(**_LINEAR).log_snr[1:].numpy()


def _discrete_density(lam: np.ndarray) -> np.ndarray:
    """Density of lambda when t is uniform on 1..T of the linear schedule: 1 / (T |lambda_t - lambda_t+1|)
    between consecutive steps (a piecewise-constant density whose mass between two steps is 1/T)."""
    grid = linear_log_snr()                          # decreasing in t
    T = len(grid)
    gaps = grid[:-1] - grid[1:]
    dens_between = 1.0 / (T * gaps)                  # on [grid[k+1], grid[k]]
    asc = grid[::-1]                                 # increasing lambda
    dens_asc = dens_between[::-1]
    out = np.zeros_like(lam, dtype=np.float64)
    inside = (lam >= asc[0]) & (lam <= asc[-1])
    idx = np.clip(np.searchsorted(asc, lam[inside], side="right") - 1, 0, len(dens_asc) - 1)
    out[inside] = dens_asc[idx]
    return out


def _cosine_density(lam: np.ndarray, s: float) -> np.ndarray:
    """Density of lambda for t ~ U(0, 1) under alpha-bar(t) = f(t)/f(0), f(t) = cos^2((t + s)/(1 + s) pi/2).

    Inverting alpha-bar = sigmoid(lambda): t = (1 + s)(2/pi) arccos(u) - s with u = sqrt(f(0) sigmoid(lambda)),
    so |dt/dlambda| = (1 + s)/pi * u sigmoid(-lambda) / sqrt(1 - u^2) on the lambdas that t in [0, 1] reaches.
    For s = 0 this is sech(lambda/2) / (2 pi) (Kingma & Gao 2023, Table 1).
    """
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    u = np.sqrt(f0 * _sigmoid(lam))
    dens = (1 + s) / math.pi * u * _sigmoid(-lam) / np.sqrt(np.clip(1 - u * u, 1e-300, None))
    t = (1 + s) * (2 / math.pi) * np.arccos(np.clip(u, 0.0, 1.0)) - s
    return np.where((t >= 0) & (t <= 1), dens, 0.0)


def _cosine_lambda(t: np.ndarray, s: float) -> np.ndarray:
    f = lambda x: np.cos((x + s) / (1 + s) * math.pi / 2) ** 2
    ab = np.clip(f(t) / f(0.0), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return np.log(ab) - np.log1p(-ab)


# ---------------------------------------------------------------------------------------- the three functions
def lambda_density(name: str, lam, **params):
    """p(lambda): the density of the log-SNR lambda that objective ``name`` trains at (see the module docstring)."""
    p = _params(name, params)
    x, back = _as_array(lam)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        if name in ("ddpm", "min_snr", "p2"):
            out = _discrete_density(x)
        elif name in ("iddpm", "elbo", "sigmoid"):
            out = _cosine_density(x, p["s"])
        elif name == "v_cosine":
            out = 1.0 / (2 * math.pi * np.cosh(x / 2))
        elif name == "edm":                          # lambda = -2 ln sigma, ln sigma ~ N(P_mean, P_std^2)
            out = _normal_pdf(x, -2 * p["P_mean"], 2 * p["P_std"])
        elif name == "flow_matching":                # t = sigmoid(-lambda/2), t ~ U(0, 1)
            out = 1.0 / (8 * np.cosh(x / 4) ** 2)
        else:                                        # sd3: logit(t) ~ N(m, s^2), lambda = -2 logit(t)
            out = _normal_pdf(x, -2 * p["m"], 2 * p["s"])
    out = np.where(np.isfinite(out), out, 0.0) + 0.0
    return back(out)


def eps_weight(name: str, lam, **params):
    """w(lambda): the weight objective ``name`` puts on the eps-MSE at lambda, its own target's MSE converted."""
    p = _params(name, params)
    x, back = _as_array(lam)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        if name in ("ddpm", "iddpm"):
            out = np.ones_like(x)
        elif name == "elbo":
            dens = _cosine_density(x, p["s"])
            out = np.where(dens > 0, 1.0 / np.where(dens > 0, dens, 1.0), 0.0)
        elif name == "sigmoid":
            dens = _cosine_density(x, p["s"])
            out = np.where(dens > 0, _sigmoid(p["b"] - x) / np.where(dens > 0, dens, 1.0), 0.0)
        elif name == "v_cosine":                     # v-MSE = (1 + 1/SNR) eps-MSE
            out = 1.0 + np.exp(-x)
        elif name == "edm":                          # x0-MSE = sigma^2 eps-MSE, times EDM's weight
            sd2 = p["sigma_data"] ** 2
            out = 1.0 + np.exp(-x) / sd2
        elif name in ("flow_matching", "sd3"):       # velocity-MSE = (1 + e^(-lambda/2))^2 eps-MSE
            out = (1.0 + np.exp(-x / 2)) ** 2
        elif name == "min_snr":                      # min(SNR, gamma) on x0 = min(1, gamma/SNR) on eps
            out = np.minimum(1.0, p["gamma"] * np.exp(-x))
        else:                                        # p2: 1 / (k + SNR)^gamma on eps
            out = np.exp(-p["gamma"] * np.logaddexp(math.log(p["k"]), x))
    out = np.where(np.isnan(out), 0.0, out) + 0.0
    return back(out)


def effective_weighting(name: str, lam, **params):
    """p(lambda) w(lambda): how much objective ``name`` trains at each log-SNR (Kingma & Gao 2023, eq. 6).

    Where p is 0 the product is 0 (even where w is infinite): the objective never trains there.
    """
    p_val = lambda_density(name, lam, **params)
    w_val = eps_weight(name, lam, **params)
    if isinstance(p_val, torch.Tensor):
        prod = torch.where(p_val > 0, p_val * torch.nan_to_num(w_val, posinf=0.0), torch.zeros_like(p_val))
        return prod + 0.0
    prod = np.where(np.asarray(p_val) > 0, np.asarray(p_val) * np.nan_to_num(np.asarray(w_val), posinf=0.0), 0.0) + 0.0
    return float(prod) if np.ndim(prod) == 0 else prod


def normalised(name: str, lam, **params) -> np.ndarray:
    """``effective_weighting`` divided by its integral over the (sorted) grid ``lam``: curves that integrate to 1."""
    x, _ = _as_array(lam)
    if x.ndim != 1 or x.size < 2 or not np.all(np.isfinite(x)):
        raise bad("lam", f"array of shape {x.shape}", "a 1-D grid of at least 2 finite lambdas")
    e = np.asarray(effective_weighting(name, x, **params), dtype=np.float64)
    order = np.argsort(x)
    area = np.trapezoid(e[order], x[order])
    if not area > 0:
        raise bad("lam", f"grid {x.min():.3g}..{x.max():.3g}", f"a grid where objective {name!r} has weight")
    return e / area


# ---------------------------------------------------------------------------------------- samplers (for checks and training)
def sample_lambda(name: str, n: int, generator: torch.Generator, **params) -> torch.Tensor:
    """n log-SNRs drawn the way objective ``name`` draws its noise levels (t, sigma or logit t), float64."""
    p = _params(name, params)
    n = check_int("n", n, 1, MAX_N)
    check_generator("generator", generator)
    if name in ("ddpm", "min_snr", "p2"):
        grid = torch.as_tensor(linear_log_snr())
        t = torch.randint(0, len(grid), (n,), generator=generator)
        return grid[t]
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    if name in ("iddpm", "elbo", "sigmoid"):
        u = u.clamp(1e-9, 1 - 1e-9)
        return torch.as_tensor(_cosine_lambda(u.numpy(), p["s"]))
    if name == "v_cosine":
        u = u.clamp(1e-9, 1 - 1e-9)
        return torch.as_tensor(_cosine_lambda(u.numpy(), 0.0))
    if name == "edm":
        ln_sigma = p["P_mean"] + p["P_std"] * torch.randn(n, generator=generator, dtype=torch.float64)
        return -2 * ln_sigma
    if name == "flow_matching":
        t = u.clamp(1e-9, 1 - 1e-9)
        return 2 * (torch.log1p(-t) - torch.log(t))
    z = p["m"] + p["s"] * torch.randn(n, generator=generator, dtype=torch.float64)   # sd3: t = sigmoid(z)
    return -2 * z


@dataclass(frozen=True)
class Monotone:
    """Whether a curve is non-increasing in lambda on a grid (within a relative tolerance)."""
    product: bool
    weight_alone: bool


def is_non_increasing(values, rel_tol: float = 1e-9) -> bool:
    """True when ``values`` (on an increasing lambda grid) never rise by more than ``rel_tol`` of their scale."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return True
    scale = max(np.abs(v).max(), 1e-300)
    return bool(np.all(np.diff(v) <= rel_tol * scale))


def monotone_table(lam=None, **overrides) -> dict:
    """``{name: Monotone(product, weight_alone)}`` on the support of each objective's density.

    ``product``: is p(lambda) w(lambda) non-increasing (then the objective is an ELBO of noise-augmented
    data, Kingma & Gao 2023, sec. 4); ``weight_alone``: is w(lambda) by itself non-increasing.
    """
    lam = np.linspace(-20, 20, 8001) if lam is None else np.sort(np.asarray(lam, dtype=np.float64))
    out = {}
    for name in OBJECTIVES:
        params = overrides.get(name, {})
        dens = np.asarray(lambda_density(name, lam, **params))
        support = dens > 0
        prod = np.asarray(effective_weighting(name, lam, **params))[support]
        w = np.asarray(eps_weight(name, lam, **params))[support]
        out[name] = Monotone(product=is_non_increasing(prod, 1e-6), weight_alone=is_non_increasing(w, 1e-6))
    return out


def summary(lam=None) -> dict:
    """``{name: (mode, mean)}`` of each objective's normalised effective weighting over ``LAMBDA_RANGE``.

    For a monotone weighting the mode is an end of the range, and the mean depends on the range: the
    figures describe where the objective trains *within* the noise levels a model is trained on."""
    lam = np.linspace(*LAMBDA_RANGE, 4001) if lam is None else np.asarray(lam, dtype=np.float64)
    out = {}
    for name in OBJECTIVES:
        e = normalised(name, lam)
        out[name] = (float(lam[np.argmax(e)]), float(np.trapezoid(lam * e, lam)))
    return out
