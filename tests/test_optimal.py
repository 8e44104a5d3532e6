"""The Bayes-optimal denoiser of a Gaussian mixture: closed forms, Monte Carlo, and memorisation."""
import math

import pytest
import torch

from ddpm_edu import NoiseSchedule, data, q_sample
from ddpm_edu.optimal import GaussianMixture, OptimalDenoiser

LIN = NoiseSchedule.linear()


def test_single_gaussian_posterior_is_the_linear_gaussian_formula():
    # x0 ~ N(mu, c^2 I): E[x0|x_t] = mu + a c^2 / (a^2 c^2 + s^2) (x_t - a mu), Var = c^2 s^2 / (a^2 c^2 + s^2)
    mu, c, ab = torch.tensor([[0.5, -1.0]], dtype=torch.float64), 0.7, 0.3
    gm = GaussianMixture(mu, c)
    x_t = torch.tensor([[0.2, 0.1], [-1.0, 2.0]], dtype=torch.float64)
    a, s2 = math.sqrt(ab), 1 - ab
    mean, tr = gm.posterior(x_t, ab)
    assert torch.allclose(mean, mu + a * c * c / (a * a * c * c + s2) * (x_t - a * mu))
    assert torch.allclose(tr, torch.full((2,), 2 * c * c * s2 / (a * a * c * c + s2), dtype=torch.float64))


def test_optimal_loss_of_a_single_gaussian_is_exact():
    c = 0.5
    gm = GaussianMixture(torch.zeros(1, 3, dtype=torch.float64), c)
    t = torch.tensor([1, 100, 500, 1000])
    got, _ = gm.optimal_loss(LIN, t, n=64, space="x0")
    ab = LIN.alpha_bars[t]
    assert torch.allclose(got, c * c * (1 - ab) / (ab * c * c + 1 - ab))


def test_rao_blackwell_floor_matches_brute_force_monte_carlo():
    means, std, w = data.gaussian_mixture_params()
    gm = GaussianMixture(means, std, w)
    g = torch.Generator().manual_seed(5)
    n = 20_000
    x0 = gm.sample(n, g)
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    best = OptimalDenoiser(gm, LIN, "eps")
    floor, err = gm.optimal_loss(LIN, [5, 150, 300, 600], n=4000, seed=1, space="eps")
    for i, t in enumerate([5, 150, 300, 600]):
        tt = torch.full((n,), t)
        x_t = q_sample(LIN, x0, tt, eps)
        per = (best(x_t, tt) - eps).square().mean(1)
        mc, mc_err = float(per.mean()), float(per.std()) / math.sqrt(n)
        assert abs(mc - float(floor[i])) < 4 * math.hypot(mc_err, float(err[i])), t


def test_floor_is_high_at_small_t_for_a_smooth_density():
    means, std, w = data.gaussian_mixture_params()
    floor, _ = GaussianMixture(means, std, w).optimal_loss(LIN, [1, 500, 1000], n=2000)
    assert floor[0] > 0.99 and floor[0] > 5 * floor[1] and floor[1] > 100 * floor[2]


def test_log_prob_matches_torch_distributions():
    means, std, w = data.gaussian_mixture_params()
    gm = GaussianMixture(means, std, w)
    ref = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(w),
        torch.distributions.Independent(torch.distributions.Normal(means, std), 1))
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    assert torch.allclose(gm.log_prob(x), ref.log_prob(x), atol=1e-10)


def test_empirical_optimal_denoiser_memorises_the_training_set():
    pts = data.toy("moons", 50, seed=0).double()
    best = OptimalDenoiser(GaussianMixture.empirical(pts), LIN, "x0")
    g = torch.Generator().manual_seed(0)
    tt = torch.full((50,), 1)        # noise std 0.01, well below the spacing of the points (>= 0.055)
    x_t = q_sample(LIN, pts, tt, torch.randn(50, 2, generator=g, dtype=torch.float64))
    assert (x_t - pts).abs().max() > 0.005
    # snaps back to its own training point (neighbours keep exponentially small weights)
    assert torch.allclose(best(x_t, tt), pts, atol=1e-3)


def test_bad_mixtures_are_rejected():
    with pytest.raises(ValueError, match="^weights="):
        GaussianMixture(torch.zeros(2, 2), 1.0, torch.tensor([0.2, 0.2]))
    with pytest.raises(ValueError, match="^std="):
        GaussianMixture(torch.zeros(2, 2), -1.0)
    with pytest.raises(ValueError, match="^std="):
        GaussianMixture.empirical(torch.zeros(3, 2)).log_prob(torch.zeros(1, 2))


def test_one_dimensional_mixture_posterior_matches_quadrature():
    """1-D, two unequal components: E[x0 | x_t] and Var[x0 | x_t] against a brute-force integral over x0."""
    means, std, w = torch.tensor([[-1.5], [2.0]], dtype=torch.float64), 0.4, torch.tensor([0.3, 0.7], dtype=torch.float64)
    gm = GaussianMixture(means, std, w)
    grid = torch.linspace(-8, 8, 200_001, dtype=torch.float64)
    prior = gm.log_prob(grid[:, None]).exp()
    for ab in (0.999, 0.5, 0.02):
        a, s2 = math.sqrt(ab), 1 - ab
        x_t = torch.tensor([[-2.0], [0.1], [1.7]], dtype=torch.float64)
        mean, tr = gm.posterior(x_t, ab)
        for i in range(3):
            lik = torch.exp(-(x_t[i, 0] - a * grid) ** 2 / (2 * s2))
            post = prior * lik / torch.trapezoid(prior * lik, grid)
            m1 = torch.trapezoid(grid * post, grid)
            var = torch.trapezoid((grid - m1) ** 2 * post, grid)
            assert abs(float(mean[i, 0] - m1)) < 1e-6 and abs(float(tr[i] - var)) < 1e-6, (ab, i)


def test_gaussian_data_floor_matches_a_fitted_linear_regression_on_samples():
    # independent check: draw x0 ~ N(mu, Sigma), regress eps on x_t with sklearn, compare held-out MSEs
    import numpy as np
    from sklearn.linear_model import LinearRegression
    from ddpm_edu.optimal import GaussianData
    g = torch.Generator().manual_seed(0)
    D = 6
    A = torch.randn(D, D, generator=g, dtype=torch.float64)
    cov = A @ A.T / D
    cov[0, :] = 0; cov[:, 0] = 0                                 # one constant pixel, as digits have
    mu = torch.randn(D, generator=g, dtype=torch.float64)
    gd = GaussianData(mu, cov)
    L = torch.linalg.cholesky(cov + 1e-12 * torch.eye(D, dtype=torch.float64))
    n = 200_000
    x0 = mu + torch.randn(n, D, generator=g, dtype=torch.float64) @ L.T
    eps = torch.randn(n, D, generator=g, dtype=torch.float64)
    for t in (1, 50, 300, 900):
        ab = float(LIN.alpha_bars[t])
        x_t = ab ** 0.5 * x0 + (1 - ab) ** 0.5 * eps
        half = n // 2
        reg = LinearRegression().fit(x_t[:half].numpy(), eps[:half].numpy())
        mc = float(((reg.predict(x_t[half:].numpy()) - eps[half:].numpy()) ** 2).mean())
        exact = float(gd.optimal_loss(LIN, [t], "eps")[0])
        assert mc == pytest.approx(exact, rel=0.01, abs=2e-4), t
        model = gd.denoiser(LIN)(x_t[half:], torch.full((n - half,), t))            # the same draws, as a model
        gap = float(np.sqrt(((model.numpy() - reg.predict(x_t[half:].numpy())) ** 2).mean()))
        assert gap < 0.01, (t, gap)                                              # the regression's fit noise only
        own = float(((model - eps[half:]) ** 2).mean())
        assert own == pytest.approx(exact, rel=0.01, abs=2e-4) and own <= mc + 1e-4, t
        x0_exact = float(gd.optimal_loss(LIN, [t], "x0")[0])
        assert x0_exact == pytest.approx(exact * (1 - ab) / ab, rel=1e-12)


def test_gaussian_data_with_unit_variance_has_floor_alpha_bar():
    from ddpm_edu.optimal import GaussianData
    gd = GaussianData(torch.zeros(4), torch.eye(4, dtype=torch.float64))
    t = torch.tensor([1, 10, 500, 1000])
    assert torch.allclose(gd.optimal_loss(LIN, t, "eps"), LIN.alpha_bars[t])


def test_the_grid_denoiser_reads_eps_off_x_t_at_t_1_and_is_the_posterior_mean_of_a_discrete_prior():
    """17-level data: at t = 1 (noise 0.01, levels 0.125 apart) eps is recovered almost exactly; at any t its x0 is
    the posterior mean of each pixel's level histogram, recomputed here by Bayes' rule in numpy."""
    import numpy as np
    from ddpm_edu.optimal import GridDenoiser

    lin = NoiseSchedule.linear()
    g = torch.Generator().manual_seed(0)
    levels = torch.linspace(-1, 1, 17, dtype=torch.float64)
    x0 = levels[torch.randint(0, 17, (200, 1, 8, 8), generator=g)]
    den = GridDenoiser(x0[:150], lin)
    eps = torch.randn(50, 1, 8, 8, generator=g, dtype=torch.float64)
    t1 = torch.ones(50, dtype=torch.int64)
    x_t = q_sample(lin, x0[150:], t1, eps)
    assert float((den(x_t, t1) - eps).square().mean()) < 1e-8
    t = torch.full((50,), 300)
    x_t = q_sample(lin, x0[150:], t, eps)
    ab = float(lin.alpha_bars[300])
    counts = np.stack([np.bincount(np.round((x0[:150, 0].reshape(150, -1)[:, d].numpy() + 1) * 8).astype(int),
                                   minlength=17) for d in range(64)]) + 0.5
    prior = counts / counts.sum(1, keepdims=True)                                       # (64, 17)
    xt = x_t.reshape(50, 64).numpy()[:, :, None]
    like = np.exp(-(xt - np.sqrt(ab) * levels.numpy()) ** 2 / (2 * (1 - ab)))
    post = prior[None] * like
    expected = (post * levels.numpy()).sum(2) / post.sum(2)
    np.testing.assert_allclose(den.x0(x_t, t).reshape(50, 64).numpy(), expected, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="^train="):
        GridDenoiser(x0[:10] + 0.01, lin)
