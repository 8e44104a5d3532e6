"""The loss as score matching (notebook 09): SymPy's proofs, and the exact score of a Gaussian mixture."""
import math

import numpy as np
import pytest
import sympy as sp
import torch

from ddpm_edu import symbolic as S
from ddpm_edu.data import gaussian_mixture_params
from ddpm_edu.optimal import GaussianMixture


def test_sympy_proves_every_identity_of_the_score_derivation():
    d = S.score_matching()
    assert d.failed() == [] and len(d.proofs) == 4


def test_the_gaussian_identities_hold_by_monte_carlo():
    """E[eps | x_t] = -s score and Tweedie, for x0 ~ N(1.5, 0.5^2) at abar = 0.3: regress eps and x0 on x_t."""
    d = S.score_matching()
    mu, c, ab = 1.5, 0.5, 0.3
    g = torch.Generator().manual_seed(0)
    x0 = mu + c * torch.randn(400_000, generator=g, dtype=torch.float64)
    eps = torch.randn(400_000, generator=g, dtype=torch.float64)
    xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
    score = sp.lambdify(S.xt, d.results["marginal_score"].subs({S.abar: ab, d.results["mu"]: mu, d.results["c"]: c}))
    for probe in (0.0, 1.0, 2.0):                        # conditional means in a narrow window around x_t = probe
        near = (xt - probe).abs() < 0.02
        assert float(eps[near].mean()) == pytest.approx(-math.sqrt(1 - ab) * score(probe), abs=0.03)
        assert float(x0[near].mean()) == pytest.approx((probe + (1 - ab) * score(probe)) / math.sqrt(ab), abs=0.03)


def test_the_mixtures_score_is_the_gradient_of_its_log_density_and_minus_s_times_it_is_e_eps():
    m = GaussianMixture(*gaussian_mixture_params())
    x = 2 * torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for ab in (0.9999, 0.5, 1e-3):
        a, s = math.sqrt(ab), math.sqrt(1 - ab)
        xr = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(m._log_marginal(xr, a, 1 - ab).sum(), xr)
        score = m.score(x, ab)
        torch.testing.assert_close(score, grad, rtol=1e-10, atol=1e-10)
        mean, _ = m.posterior(x, ab)
        torch.testing.assert_close(-s * score, (x - a * mean) / s, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="^alpha_bar="):
        m.score(x, 1.5)
    assert np.isfinite(m.score(x, 0.5).numpy()).all()


def test_exercise_09_2s_answer_is_one_ddim_step_on_the_exact_gaussian_denoiser():
    """From x_T to t = 1 in one DDIM step (eta = 0) with the exact E[eps | x_t] of N(0, 1) data: the path's second point."""
    from ddpm_edu import NoiseSchedule
    from _solutions import value
    from ddpm_edu.optimal import OptimalDenoiser
    from ddpm_edu.sampling import ddim_sample

    short = NoiseSchedule.linear(T=200)            # alpha-bar_T = 0.13: no float32 cancellation in x0_hat at t = T
    best = OptimalDenoiser(GaussianMixture(torch.zeros(1, 1), 1.0), short, "eps")
    _, path = ddim_sample(best, short, (1,), 16, 2, generator=torch.Generator().manual_seed(0), return_path=True)
    ab = short.alpha_bars.double()
    expected = value("09.2")(path[0].numpy(), float(ab[200]), float(ab[1]))
    np.testing.assert_allclose(path[1].numpy(), expected, rtol=1e-5, atol=1e-6)
