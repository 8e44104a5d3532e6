"""Modern objectives as weighted ELBOs: every closed form against Monte Carlo, and known results (Kingma & Gao 2023)."""
import math

import numpy as np
import pytest
import torch

from ddpm_edu import objectives as O

N = 400_000


def _mc_density(name, **params):
    lam = O.sample_lambda(name, N, torch.Generator().manual_seed(0), **params).numpy()
    lo, hi = np.quantile(lam, [0.01, 0.99])
    edges = np.linspace(lo, hi, 41)
    counts, _ = np.histogram(lam, edges)
    mc = counts / (N * np.diff(edges))
    err = np.sqrt(counts) / (N * np.diff(edges))
    fine = [np.linspace(a, b, 201) for a, b in zip(edges[:-1], edges[1:])]
    exact = np.array([np.trapezoid(O.lambda_density(name, f, **params), f) / (f[-1] - f[0]) for f in fine])
    return mc, err, exact


CONTINUOUS = [n for n in O.OBJECTIVES if n not in ("ddpm", "min_snr", "p2")]


@pytest.mark.parametrize("name", CONTINUOUS)
def test_each_density_matches_a_histogram_of_its_own_sampler(name):
    mc, err, exact = _mc_density(name)
    assert np.all(np.abs(mc - exact) < 5 * err + 0.01 * exact), name


@pytest.mark.parametrize("name", ["ddpm", "min_snr", "p2"])
def test_the_discrete_t_density_matches_the_cdf_of_its_sampler(name):
    """t uniform on 1..1000 puts mass 1/T on each lambda_t: compare cumulative distributions (Kolmogorov-Smirnov)."""
    lam = np.sort(O.sample_lambda(name, N, torch.Generator().manual_seed(0)).numpy())
    grid = np.linspace(-10.2, 9.3, 20001)
    dens = O.lambda_density(name, grid)
    exact_cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(grid))])
    mc_cdf = np.searchsorted(lam, grid, side="right") / N
    assert np.abs(exact_cdf - mc_cdf).max() < 1.5 / 1000 + 2.0 / math.sqrt(N)


@pytest.mark.parametrize("name, params", [("edm", {"P_mean": 0.4, "P_std": 0.6}), ("sd3", {"m": 0.5, "s": 0.7}),
                                          ("iddpm", {"s": 0.0}), ("sigmoid", {"b": 2.0, "s": 0.02})])
def test_densities_follow_their_parameters(name, params):
    mc, err, exact = _mc_density(name, **params)
    assert np.all(np.abs(mc - exact) < 5 * err + 0.01 * exact)


def _vp(lam):
    return torch.sigmoid(lam).sqrt(), torch.sigmoid(-lam).sqrt()


@pytest.mark.parametrize("name", O.OBJECTIVES)
def test_the_eps_weight_converts_the_objectives_own_loss(name):
    """On random tensors: (the objective's weight on its own target's MSE) x (that MSE) = eps_weight x eps-MSE."""
    g = torch.Generator().manual_seed(1)
    n, d = 2000, 16
    lam = O.sample_lambda(name, n, g).clamp(-12, 12)
    x, eps = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)
    err = 0.3 * torch.randn(n, d, generator=g, dtype=torch.float64)
    target = O.TARGET[name]
    if target in ("eps", "v"):
        a, s = (v[:, None] for v in _vp(lam))
        z = a * x + s * eps
        if target == "eps":
            eps_hat, own = eps + err, err.square().mean(1)
        else:
            v_hat = a * eps - s * x + err
            eps_hat, own = s * z + a * v_hat, err.square().mean(1)          # eps from (v, z): Salimans & Ho 2022
        own_weight = torch.ones(n, dtype=torch.float64)
        if name == "min_snr":                 # min(SNR, gamma) on the x0-MSE = own weight on eps-MSE via x0 = eps/SNR
            own_weight = torch.minimum(lam.exp(), torch.tensor(5.0, dtype=torch.float64)) / lam.exp()
        if name == "p2":
            own_weight = 1.0 / (1.0 + lam.exp())
        if name in ("elbo", "sigmoid"):
            dens = torch.as_tensor(O.lambda_density(name, lam.numpy()))
            w = 1.0 if name == "elbo" else torch.sigmoid(-lam)
            own_weight = w / dens
    elif target == "x0":                      # EDM: z = x + sigma eps, D predicts x, weight (sigma^2 + sd^2)/(sigma sd)^2
        sigma = torch.exp(-lam / 2)[:, None]
        z = x + sigma * eps
        x_hat = x + err
        eps_hat = (z - x_hat) / sigma
        own = err.square().mean(1)
        sd = 0.5
        own_weight = (sigma[:, 0] ** 2 + sd ** 2) / (sigma[:, 0] * sd) ** 2
    else:                                     # rectified flow: z = (1 - t) x + t eps, velocity u = eps - x
        t = torch.sigmoid(-lam / 2)[:, None]
        z = (1 - t) * x + t * eps
        u_hat = eps - x + err
        eps_hat = z + (1 - t) * u_hat
        own = err.square().mean(1)
        own_weight = torch.ones(n, dtype=torch.float64)
    eps_mse = (eps_hat - eps).square().mean(1)
    w = torch.as_tensor(O.eps_weight(name, lam))
    assert torch.allclose(own_weight * own, w * eps_mse, rtol=1e-8, atol=1e-12)


def test_known_effective_weightings_kingma_and_gao_table_1():
    lam = np.linspace(-8, 8, 33)
    assert np.allclose(O.effective_weighting("v_cosine", lam), np.exp(-lam / 2) / math.pi)
    assert np.allclose(O.effective_weighting("flow_matching", lam), 0.5 * np.exp(-lam / 2))
    assert np.allclose(O.effective_weighting("elbo", lam), 1.0)
    assert np.allclose(O.effective_weighting("sigmoid", lam), 1 / (1 + np.exp(lam)))
    assert np.allclose(O.lambda_density("iddpm", lam, s=0.0), 1 / (2 * math.pi * np.cosh(lam / 2)))
    edm = (np.exp(-0.5 * ((lam - 2.4) / 2.4) ** 2) / (2.4 * math.sqrt(2 * math.pi))) * (np.exp(-lam) + 0.25) / 0.25
    assert np.allclose(O.effective_weighting("edm", lam), edm)


def test_which_objectives_are_elbos_of_augmented_data():
    table = O.monotone_table()
    for name in ("elbo", "v_cosine", "flow_matching", "sigmoid"):       # monotone weightings (Kingma & Gao 2023)
        assert table[name].product, name
    for name in ("ddpm", "iddpm", "edm", "sd3", "min_snr", "p2"):
        assert not table[name].product, name
    assert not table["elbo"].weight_alone                              # 1/p under cosine sampling: not monotone
    assert table["v_cosine"].weight_alone and table["edm"].weight_alone


def test_torch_in_torch_out_and_scalars():
    lam = torch.linspace(-5, 5, 11)
    out = O.effective_weighting("edm", lam)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert isinstance(O.eps_weight("v_cosine", 0.0), float) and O.eps_weight("v_cosine", 0.0) == 2.0


@pytest.mark.parametrize("call, message", [
    (lambda: O.effective_weighting("dpm", [0.0]), "^name='dpm' is not allowed"),
    (lambda: O.effective_weighting("edm", [0.0], P_std=0.0), "^P_std=0.0 is not allowed"),
    (lambda: O.effective_weighting("sd3", [0.0], s=-1.0), "^s=-1.0 is not allowed"),
    (lambda: O.effective_weighting("min_snr", [0.0], gamma=float("nan")), "^gamma=nan is not allowed"),
    (lambda: O.effective_weighting("p2", [0.0], P_mean=1.0), "^P_mean=1.0 is not allowed: objective 'p2' takes: k, gamma"),
    (lambda: O.effective_weighting("ddpm", [float("nan")]), "^lam="),
])
def test_bad_parameters_are_value_errors_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
