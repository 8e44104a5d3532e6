"""Forward process, posterior and the eps / x0 / v conversions, held against independent math."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from ddpm_edu import NoiseSchedule, convert, model_mean, model_mean_from_eps, q_posterior, q_sample
from ddpm_edu.diffusion import target_from

LIN = NoiseSchedule.linear()
COS = NoiseSchedule.cosine()


def test_q_sample_has_the_right_marginal_moments():
    # Monte Carlo: x_t | x0 is N(sqrt(abar) x0, 1 - abar)
    g = torch.Generator().manual_seed(0)
    n, t = 200_000, 300
    x0 = torch.full((n, 1), 0.7, dtype=torch.float64)
    xt = q_sample(LIN, x0, torch.full((n,), t), torch.randn(n, 1, generator=g, dtype=torch.float64))
    abar = float(np.prod(1 - np.linspace(1e-4, 0.02, 1000)[:t]))
    assert float(xt.mean()) == pytest.approx(math.sqrt(abar) * 0.7, abs=4 * math.sqrt((1 - abar) / n))
    assert float(xt.var()) == pytest.approx(1 - abar, rel=0.01)


def test_q_sample_broadcasts_over_image_shapes_and_t_zero_is_the_data():
    x0 = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    eps = torch.randn_like(x0)
    xt = q_sample(LIN, x0, torch.tensor([0, 1, 500, 1000]), eps)
    assert xt.shape == x0.shape
    assert torch.equal(xt[0], x0[0])
    a, s = LIN.alpha_bars[500].sqrt(), LIN.one_minus_alpha_bars[500].sqrt()
    assert torch.allclose(xt[2], a * x0[2] + s * eps[2])


def _posterior_by_bayes(s, x0, xt, t):
    """q(x_{t-1} | x_t, x0) by multiplying the two Gaussians numerically on a grid (Bayes' rule)."""
    abar_prev = float(s.alpha_bars[t - 1]); alpha = float(s.alphas[t]); beta = float(s.betas[t])
    m1, v1 = math.sqrt(abar_prev) * x0, 1 - abar_prev         # q(x_{t-1} | x0)
    # the posterior mean lies between the two centres; its sd is below both factors' sds
    lo, hi = sorted([m1, xt / math.sqrt(alpha)])
    sd = math.sqrt(min(v1, beta / alpha))
    grid = np.linspace(lo - 20 * sd, hi + 20 * sd, 2_000_001)
    logp = -(grid - m1) ** 2 / (2 * v1) - (xt - math.sqrt(alpha) * grid) ** 2 / (2 * beta)
    p = np.exp(logp - logp.max()); p /= p.sum()
    mean = (grid * p).sum()
    return mean, ((grid - mean) ** 2 * p).sum()


@pytest.mark.parametrize("t", [2, 5, 50, 400, 1000])
def test_q_posterior_equals_the_product_of_gaussians(t):
    x0, xt = 0.3, -0.8
    mean, var = q_posterior(LIN, torch.tensor([[x0]], dtype=torch.float64), torch.tensor([[xt]], dtype=torch.float64), torch.tensor([t]))
    m_ref, v_ref = _posterior_by_bayes(LIN, x0, xt, t)
    assert float(mean) == pytest.approx(m_ref, rel=1e-6, abs=1e-9)
    assert float(var) == pytest.approx(v_ref, rel=1e-4)


def test_q_posterior_at_t1_is_a_point_mass_at_x0():
    x0 = torch.randn(3, 2, dtype=torch.float64); xt = torch.randn(3, 2, dtype=torch.float64)
    mean, var = q_posterior(LIN, x0, xt, torch.ones(3, dtype=torch.int64))
    assert torch.allclose(mean, x0, atol=1e-15) and (var == 0).all()


def test_model_mean_eq11_equals_posterior_mean_at_the_implied_x0():
    g = torch.Generator().manual_seed(1)
    t = torch.randint(1, 1001, (64,), generator=g)
    xt = torch.randn(64, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(64, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(model_mean_from_eps(LIN, xt, t, eps), model_mean(LIN, eps, xt, t, "eps"), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), t=st.integers(1, 1000), cosine=st.booleans(),
       scale=st.floats(0.1, 5.0))
def test_conversions_round_trip_in_all_six_directions(seed, t, cosine, scale):
    s = COS if cosine else LIN
    g = torch.Generator().manual_seed(seed)
    x0 = scale * torch.randn(8, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(8, 4, generator=g, dtype=torch.float64)
    tt = torch.full((8,), t)
    xt = q_sample(s, x0, tt, eps)
    truth = {"eps": eps, "x0": x0, "v": target_from(x0, eps, s, tt, "v")}
    for src in truth:
        for dst in truth:
            got = convert(s, truth[src], xt, tt, source=src, target=dst)
            # relative to the size of the quantities: dividing by sqrt(alpha-bar_T) ~ 5e-5 (cosine, t = T)
            # amplifies rounding, so the bound is 1e-10 times the scale of the inputs
            assert torch.allclose(got, truth[dst], rtol=0, atol=1e-10 * max(1.0, scale)), (src, dst)
            back = convert(s, got, xt, tt, source=dst, target=src)
            assert torch.allclose(back, truth[src], rtol=0, atol=1e-10 * max(1.0, scale)), (src, dst)


def test_v_is_the_published_definition():
    # Salimans & Ho 2022: v = alpha eps - sigma x0, with alpha^2 + sigma^2 = 1
    x0 = torch.tensor([[1.0]], dtype=torch.float64); eps = torch.tensor([[2.0]], dtype=torch.float64)
    t = torch.tensor([500])
    a = math.sqrt(float(LIN.alpha_bars[500])); sg = math.sqrt(1 - a * a)
    assert float(target_from(x0, eps, LIN, t, "v")) == pytest.approx(a * 2.0 - sg * 1.0, rel=1e-12)


@pytest.mark.parametrize("call, argument", [
    (lambda: q_sample(LIN, torch.zeros(2, 1), torch.tensor([0, 1001]), torch.zeros(2, 1)), "t"),
    (lambda: q_sample(LIN, torch.zeros(2, 1), torch.tensor([1.0, 2.0]), torch.zeros(2, 1)), "t"),
    (lambda: q_sample(LIN, torch.zeros(2, 1), torch.tensor([1, 2]), torch.zeros(3, 1)), "noise"),
    (lambda: q_sample(LIN, torch.zeros(3, 1), torch.tensor([1, 2]), torch.zeros(3, 1)), "x0"),
    (lambda: q_posterior(LIN, torch.zeros(2, 1), torch.zeros(2, 1), torch.tensor([0, 1])), "t"),
    (lambda: convert(LIN, torch.zeros(2, 1), torch.zeros(2, 1), 5, source="score"), "source"),
    (lambda: convert(LIN, torch.zeros(2, 1), torch.zeros(2, 1), 5, target="noise"), "target"),
    (lambda: convert(LIN, torch.zeros(2, 1), torch.zeros(2, 1), True), "t"),
])
def test_bad_input_is_a_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value).startswith(argument + "=")
