"""The bound, term by term: closed forms, the identity KL = lambda_t x eps-MSE, and variance reduction."""
import math

import numpy as np
import pytest
import scipy.stats
import sympy as sp
import torch

from ddpm_edu import NoiseSchedule, symbolic as S, weight
from ddpm_edu.vlb import (bound_terms, discretized_gaussian_log_likelihood, estimator_variance, normal_kl,
                          second_moment_probs, stratified_variance)

SHORT = NoiseSchedule.linear(T=100, beta_start=1e-3, beta_end=0.2)
X0 = torch.tensor([[0.25, -0.5, 1.0, -1.0]], dtype=torch.float64)   # on the 17-level digit grid


class OffsetModel(torch.nn.Module):
    """Knows the single training example x0, so it can output the true eps of x_t plus ``delta``."""
    def __init__(self, schedule, x0, delta):
        super().__init__()
        self.schedule, self.x0, self.delta = schedule, x0, delta

    def forward(self, x_t, t):
        a = self.schedule.alpha_bars[t].sqrt().reshape(-1, 1).float()
        s = self.schedule.one_minus_alpha_bars[t].sqrt().reshape(-1, 1).float()
        return (x_t - a * self.x0.float()) / s + self.delta


def test_normal_kl_matches_the_derived_closed_form_and_monte_carlo():
    kl = sp.lambdify([S.m1, S.s1, S.m2, S.s2], S.gaussian_kl().results["kl_closed"])
    ours = float(normal_kl(0.3, 2 * math.log(0.5), -0.4, 2 * math.log(1.2)))
    assert ours == pytest.approx(kl(0.3, 0.5, -0.4, 1.2), rel=1e-12)
    z = np.random.default_rng(0).normal(0.3, 0.5, 1_000_000)
    lr = scipy.stats.norm.logpdf(z, 0.3, 0.5) - scipy.stats.norm.logpdf(z, -0.4, 1.2)
    assert abs(ours - lr.mean()) < 5 * lr.std() / 1000


@pytest.mark.parametrize("levels", [17, 256])
def test_discretized_likelihood_sums_to_one_and_matches_scipy(levels):
    grid = torch.linspace(-1, 1, levels, dtype=torch.float64)
    for mean, sd in [(0.1, 0.3), (-0.9, 0.05), (0.0, 2.0)]:
        logp = discretized_gaussian_log_likelihood(grid, torch.tensor(mean, dtype=torch.float64),
                                                   torch.tensor(math.log(sd), dtype=torch.float64), levels)
        assert float(logp.exp().sum()) == pytest.approx(1.0, abs=1e-9)
        h = 1 / (levels - 1)
        ref = scipy.stats.norm.cdf(grid.numpy() + h, mean, sd) - scipy.stats.norm.cdf(grid.numpy() - h, mean, sd)
        ref[0] = scipy.stats.norm.cdf(-1 + h, mean, sd); ref[-1] = 1 - scipy.stats.norm.cdf(1 - h, mean, sd)
        mask = ref > 1e-12
        np.testing.assert_allclose(logp.exp().numpy()[mask], ref[mask], rtol=1e-7)


def test_prior_term_matches_its_closed_form():
    b = bound_terms(OffsetModel(SHORT, X0, 0.0), X0, SHORT, generator=torch.Generator().manual_seed(0), levels=17)
    L_T = sp.lambdify([S.prior_term().results["abar_T"], S.x0], S.prior_term().results["L_T"])
    ref = sum(L_T(float(SHORT.alpha_bars[-1]), float(v)) for v in X0[0]) / (4 * math.log(2))
    assert float(b.prior[0]) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("sigma", ["beta", "beta_tilde"])
def test_each_kl_term_is_lambda_t_times_the_eps_error(sigma):
    delta = 0.3
    b = bound_terms(OffsetModel(SHORT, X0, delta), X0, SHORT, sigma=sigma, generator=torch.Generator().manual_seed(0), levels=17)
    lam = weight(SHORT, "vlb", sigma=sigma)
    t = torch.arange(2, SHORT.T + 1)
    expected = lam[t] * 4 * delta ** 2                       # ||eps - eps_hat||^2 = D delta^2
    if sigma == "beta":                                      # plus the variance mismatch, per dimension
        ratio = SHORT.posterior_variance[t] / SHORT.betas[t]
        expected = expected + 4 * 0.5 * (ratio - 1 - torch.log(ratio))
    # float32 model outputs: the identity holds to ~1e-5 relative
    np.testing.assert_allclose(b.terms[0, 2:].numpy(), (expected / (4 * math.log(2))).numpy(), rtol=2e-4, atol=1e-9)


def test_a_model_with_the_true_posterior_pays_only_the_irreducible_parts():
    b = bound_terms(OffsetModel(SHORT, X0, 0.0), X0, SHORT, sigma="beta_tilde", generator=torch.Generator().manual_seed(0), levels=17)
    assert torch.allclose(b.terms[0, 2:], torch.zeros(SHORT.T - 1, dtype=torch.float64), atol=1e-9)
    # what is left: L_T and the decoder at its exact mean with the clipped variance beta-tilde_2
    sd = math.sqrt(float(SHORT.posterior_variance[2]))
    dec = -sum(float(discretized_gaussian_log_likelihood(v, v, torch.tensor(math.log(sd), dtype=torch.float64), 17))
               for v in X0[0]) / (4 * math.log(2))
    assert float(b.total[0]) == pytest.approx(float(b.prior[0]) + dec, rel=1e-6, abs=1e-9)


def test_unclipped_t1_variance_breaks_the_bound():
    b = bound_terms(OffsetModel(SHORT, X0, 0.1), X0, SHORT, sigma="beta_tilde", clip_t1=False,
                    generator=torch.Generator().manual_seed(0), levels=17)
    assert math.isinf(float(b.terms[0, 1])) and math.isinf(float(b.total[0]))


def test_importance_sampling_of_t_lowers_the_estimator_variance():
    rng = torch.Generator().manual_seed(0)
    per_t = torch.zeros(64, 101, dtype=torch.float64)
    per_t[:, 1:] = torch.rand(64, 100, generator=rng, dtype=torch.float64) * torch.logspace(1, -3, 100, dtype=torch.float64)
    uniform = estimator_variance(per_t)
    imp = estimator_variance(per_t, second_moment_probs(per_t))
    assert imp < uniform / 5
    # and exactly what sampling gives
    p = second_moment_probs(per_t)
    t = torch.multinomial(p, 400_000, replacement=True, generator=rng)
    x = torch.randint(0, 64, (400_000,), generator=rng)
    draws = per_t[x, t] / p[t]
    assert float(draws.var()) == pytest.approx(imp, rel=0.05)
    assert stratified_variance(per_t, 10) < uniform / 10


def test_the_stratified_variance_is_that_of_a_batch_of_independent_examples_by_monte_carlo():
    """Draw batches of 10 (example, t) pairs, one t in each tenth of 1..T, each pair its own example: the variance of
    the batch estimate sum_j (T / 10) L_{t_j}(x_j) over many batches is what stratified_variance says."""
    g = torch.Generator().manual_seed(3)
    per_t = torch.zeros(64, 101, dtype=torch.float64)
    scale = 0.2 + 2 * torch.rand(64, 1, generator=g, dtype=torch.float64)   # some examples cost more at every t
    per_t[:, 1:] = scale * (1 + torch.rand(64, 100, generator=g, dtype=torch.float64)) * torch.linspace(5, 0.1, 100) ** 2
    n = 200_000
    x = torch.randint(0, 64, (n, 10), generator=g)
    t = 1 + torch.arange(10) * 10 + torch.randint(0, 10, (n, 10), generator=g)
    estimates = (100 / 10) * per_t[x, t].sum(1)
    assert float(estimates.mean()) == pytest.approx(float(per_t[:, 1:].sum(1).mean()), rel=0.01)
    assert float(estimates.var()) == pytest.approx(stratified_variance(per_t, 10), rel=0.03)


@pytest.mark.parametrize("target", ["x0", "eps", "v"])
def test_snap_to_grid_rounds_x0_at_the_first_two_steps_only(target):
    """On the linear schedule with 17 levels (spacing 0.125) the noise in x0 units, sqrt((1 - abar_t) / abar_t),
    is under spacing / 8 = 0.0156 at t = 1 (0.0100) and t = 2 (0.0148), not at t = 3 (0.0190): by hand."""
    from ddpm_edu.diffusion import convert
    from ddpm_edu.vlb import SnapToGrid
    sched = NoiseSchedule.linear()
    g = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, 17, (6, 4), generator=g).double() / 8 - 1          # on the 17-level grid in [-1, 1]
    off = x0 + 0.03 * torch.randn(x0.shape, generator=g, dtype=torch.float64)  # a model that is a little off
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    for t_value, snapped in ((1, True), (2, True), (3, False), (500, False)):
        t = torch.full((6,), t_value)
        ab = sched.alpha_bars[t_value].double()
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        guess = convert(sched, off, x_t, t, source="x0", target=target)          # what the wrapped model says
        out = SnapToGrid(lambda x, tt: guess, sched, target, levels=17)(x_t, t)
        implied = convert(sched, out, x_t, t, source=target, target="x0")
        assert torch.allclose(implied, x0 if snapped else off, atol=1e-6), (target, t_value)
