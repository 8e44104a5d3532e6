"""Loss weights: known values, the target-space identities, and the two places common code breaks."""
import math

import pytest
import torch

from ddpm_edu import NoiseSchedule, WEIGHTINGS, convert, normalize, q_sample, weight
from ddpm_edu.diffusion import target_from

LIN = NoiseSchedule.linear()
COS = NoiseSchedule.cosine()


def test_vlb_weight_known_values_on_the_linear_schedule():
    w = weight(LIN, "vlb", sigma="beta")
    # lambda_1 = beta_1 / (2 alpha_1 (1 - alpha-bar_1)) = 1 / (2 * 0.9999)
    assert float(w[1]) == pytest.approx(0.50005, rel=1e-4)
    assert float(w[1000]) == pytest.approx(0.0102, rel=2e-3)
    inner = int(w[1:].argmin()) + 1
    assert 1 < inner < 1000                      # not monotone: the minimum is inside
    assert float(w[inner]) < float(w[1000])
    assert float(w[1] / w[1000]) == pytest.approx(49, rel=0.01)   # the notebook-03 claim


def test_weights_have_length_T_plus_1_and_zero_at_index_0():
    for name in WEIGHTINGS:
        for space in ("eps", "x0", "v"):
            w = weight(COS, name, space)
            assert w.shape == (1001,) and w.dtype == torch.float64 and w[0] == 0
            assert torch.isfinite(w).all(), (name, space)


def test_beta_tilde_vlb_weight_is_the_kingma_snr_difference():
    w = weight(LIN, "vlb", sigma="beta_tilde")
    snr = LIN.snr
    assert torch.allclose(w[2:], (snr[1:-1] / snr[2:] - 1) / 2, rtol=1e-9)


def test_beta_tilde_vlb_at_t1_is_infinite_unless_clipped():
    raw = weight(LIN, "vlb", sigma="beta_tilde", clip_t1=False)
    assert raw[1] == math.inf                  # +inf, never -inf (beta-tilde_1 is +0.0, not -0.0)
    clipped = weight(LIN, "vlb", sigma="beta_tilde")
    b1, a1 = float(LIN.betas[1]), float(LIN.alphas[1])
    # sigma_1^2 = beta-tilde_2, and 1 - alpha-bar_1 = beta_1
    assert float(clipped[1]) == pytest.approx(b1 ** 2 / (2 * float(LIN.posterior_variance[2]) * a1 * b1), rel=1e-9)


def test_cosine_vlb_weight_spikes_at_the_clipped_last_step():
    w = weight(COS, "vlb", sigma="beta")
    assert float(w[1000]) > 100 * float(w[990])     # the max_beta clip at t = T


def _errors(s, t, seed=0):
    """Per-sample MSEs of one (random) model in all three spaces at step t."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(256, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(256, 5, generator=g, dtype=torch.float64)
    tt = torch.full((256,), t)
    xt = q_sample(s, x0, tt, eps)
    eps_hat = eps + 0.3 * torch.randn(256, 5, generator=g, dtype=torch.float64)   # an imperfect model
    mse = {}
    for space in ("eps", "x0", "v"):
        pred = convert(s, eps_hat, xt, tt, "eps", space)
        mse[space] = ((pred - target_from(x0, eps, s, tt, space)) ** 2).mean()
    return mse


@pytest.mark.parametrize("name", list(WEIGHTINGS))
@pytest.mark.parametrize("t", [1, 37, 400, 999])
def test_each_space_weight_times_its_mse_is_the_same_loss(name, t):
    for s in (LIN, COS):
        mse = _errors(s, t)
        losses = {sp: float(weight(s, name, sp)[t] * mse[sp]) for sp in mse}
        assert losses["eps"] == pytest.approx(losses["x0"], rel=1e-8)
        assert losses["v"] == pytest.approx(losses["x0"], rel=1e-8)


def test_error_identities_eps_is_snr_times_x0_and_v_is_one_plus_snr():
    for t in (3, 300, 900):
        mse = _errors(LIN, t, seed=t)
        snr = float(LIN.snr[t])
        assert float(mse["eps"]) == pytest.approx(snr * float(mse["x0"]), rel=1e-9)
        assert float(mse["v"]) == pytest.approx((1 + snr) * float(mse["x0"]), rel=1e-9)


def test_min_snr_target_spaces():
    gamma = 5.0
    snr = LIN.snr[1:]
    assert torch.allclose(weight(LIN, "min_snr", "x0", gamma=gamma)[1:], torch.clamp(snr, max=gamma))
    w_eps = weight(LIN, "min_snr", "eps", gamma=gamma)[1:]
    assert torch.allclose(w_eps, torch.clamp(snr, max=gamma) / snr)
    # exactly the simple weight where SNR <= gamma, and below it elsewhere
    assert (w_eps[snr <= gamma] == 1).all()
    assert (w_eps[snr > gamma] < 1).all()
    # and NOT min(SNR, gamma) on the eps loss (the common slip): that one exceeds 1 somewhere
    assert not torch.allclose(w_eps, torch.clamp(snr, max=gamma))
    # Hang et al.'s v-prediction form
    assert torch.allclose(weight(LIN, "min_snr", "v", gamma=gamma)[1:], torch.clamp(snr, max=gamma) / (snr + 1))


def test_p2_matches_choi_et_al_and_reduces_towards_simple():
    snr = LIN.snr[1:]
    assert torch.allclose(weight(LIN, "p2", k=1.0, gamma=0.5)[1:], 1 / (1 + snr) ** 0.5)
    assert torch.allclose(weight(LIN, "p2", k=1.0, gamma=1e-12)[1:], torch.ones(1000, dtype=torch.float64), atol=1e-9)


def test_snr_weighting_is_the_simple_loss_and_snr_plus_one_is_unweighted_v():
    assert torch.allclose(weight(LIN, "snr", "eps"), weight(LIN, "simple", "eps"))
    assert torch.allclose(weight(LIN, "snr_plus_one", "v")[1:], torch.ones(1000, dtype=torch.float64))
    tr = weight(LIN, "truncated_snr", "x0")[1:]
    assert torch.allclose(tr, torch.maximum(LIN.snr[1:], torch.ones(1000, dtype=torch.float64)))


def test_vlb_weight_times_eps_mse_is_the_kl_between_posterior_and_model_means():
    # KL(N(mu1, s2) || N(mu2, s2)) = |mu1 - mu2|^2 / (2 s2): compute it from the two means directly.
    from ddpm_edu import model_mean_from_eps, q_posterior
    g = torch.Generator().manual_seed(3)
    for t in (2, 100, 1000):
        x0 = torch.randn(1, 6, generator=g, dtype=torch.float64)
        eps = torch.randn(1, 6, generator=g, dtype=torch.float64)
        eps_hat = torch.randn(1, 6, generator=g, dtype=torch.float64)
        tt = torch.tensor([t])
        xt = q_sample(LIN, x0, tt, eps)
        mu, _ = q_posterior(LIN, x0, xt, tt)
        mu_theta = model_mean_from_eps(LIN, xt, tt, eps_hat)
        for sigma, var in (("beta", LIN.betas[t]), ("beta_tilde", LIN.posterior_variance[t])):
            kl_mean_part = float(((mu - mu_theta) ** 2).sum() / (2 * var))
            lam = float(weight(LIN, "vlb", sigma=sigma)[t])
            assert kl_mean_part == pytest.approx(lam * float(((eps - eps_hat) ** 2).sum()), rel=1e-7)


def test_normalize_gives_mean_one_over_the_training_steps():
    w = normalize(weight(LIN, "vlb"))
    assert float(w[1:].mean()) == pytest.approx(1.0) and w[0] == 0
    with pytest.raises(ValueError, match="^w="):
        normalize(weight(LIN, "vlb", sigma="beta_tilde", clip_t1=False))


@pytest.mark.parametrize("kwargs, argument", [
    (dict(name="fancy"), "name"),
    (dict(name="simple", space="score"), "space"),
    (dict(name="min_snr", gamma=0), "gamma"),
    (dict(name="min_snr", gamma=-1.0), "gamma"),
    (dict(name="min_snr", gamma=float("nan")), "gamma"),
    (dict(name="p2", gamma=0), "gamma"),
    (dict(name="p2", k=0), "k"),
    (dict(name="vlb", sigma="large"), "sigma"),
    (dict(name="simple", gamma=5), "gamma"),
])
def test_bad_input_is_a_value_error_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError) as err:
        weight(LIN, **kwargs)
    assert str(err.value).startswith(argument + "=")


def test_log_snr_density_matches_the_cosine_closed_form_and_integrates_to_one():
    import numpy as np
    from ddpm_edu.weighting import log_snr_density
    T, s_off = 1000, 0.008
    sched = NoiseSchedule.cosine(T=T, s=s_off)
    dens = log_snr_density(sched)[1:].numpy()
    lam = sched.log_snr[1:].numpy()
    # unclipped cosine: abar = cos^2(theta) / f0 with theta = (u + s)/(1 + s) pi/2, f0 = cos^2(theta(0)),
    # so lambda = log cos^2 - log(f0 - cos^2) and dlambda/dtheta = -2 tan - sin 2theta / (f0 - cos^2);
    # p(lambda) = 1 / |dlambda/du| for u = t/T uniform
    u = np.arange(1, T + 1) / T
    theta = (u + s_off) / (1 + s_off) * np.pi / 2
    f0 = np.cos(s_off / (1 + s_off) * np.pi / 2) ** 2
    dlam_dtheta = -2 * np.tan(theta) - np.sin(2 * theta) / (f0 - np.cos(theta) ** 2)
    ref = 1 / np.abs(dlam_dtheta * np.pi / (2 * (1 + s_off)))
    # central differences are O(h^2): accurate where lambda(t) is smooth (away from both ends)
    np.testing.assert_allclose(dens[20:950], ref[20:950], rtol=1e-3)
    # a density in lambda: integrates to ~1 over the range the schedule covers
    assert abs(np.trapezoid(dens[::-1], lam[::-1]) - 1) < 0.02


def test_weighting_curves_are_normalised_and_finite():
    from ddpm_edu.weighting import weighting_curves
    for space in ("eps", "x0", "v"):
        curves = weighting_curves(COS, space)
        assert len(curves) == 6
        for label, w in curves.items():
            assert torch.isfinite(w).all(), label
            assert float(w[1:].mean()) == pytest.approx(1.0), label


def test_vlb_spends_equal_effort_on_every_log_snr():
    # (SNR_{t-1}/SNR_t - 1)/2 = (exp(dlambda) - 1)/2 ~ dlambda/2 and the density is 1/(T dlambda):
    # the product is 1/(2T) whatever the schedule (Kingma et al. 2021: the ELBO is invariant to the schedule)
    from ddpm_edu.weighting import effective_weights, weighting_curves
    for s in (LIN, COS):
        lam, dens, eff = effective_weights(s, weighting_curves(s))
        e = eff["VLB, sigma^2 = beta-tilde"][30:-10]   # away from the ends, where dlambda is not small
        assert e.max() / e.min() < 1.1, s.name
        simple = eff["simple"]
        assert simple.max() / simple.min() > 10        # the simple loss is anything but flat


def test_effective_weights_drop_only_the_clipped_cosine_step():
    from ddpm_edu.weighting import effective_weights, weighting_curves
    assert len(effective_weights(COS, weighting_curves(COS))[0]) == COS.T - 1
    assert len(effective_weights(LIN, weighting_curves(LIN))[0]) == LIN.T


@pytest.mark.parametrize("schedule", [NoiseSchedule.linear(), NoiseSchedule.cosine(), NoiseSchedule.scaled_linear(),
                                      NoiseSchedule.sigmoid(), NoiseSchedule.linear(T=10), NoiseSchedule.cosine(T=2)])
def test_every_weight_is_non_negative_and_never_minus_zero(schedule):
    """Every weighting, every space, every t: w >= 0 (or +inf where documented), no NaN, no -0.0."""
    from ddpm_edu.weighting import SPACES, WEIGHTINGS
    variants = [(name, {}) for name in WEIGHTINGS] + [
        ("vlb", {"sigma": "beta_tilde"}), ("vlb", {"sigma": "beta_tilde", "clip_t1": False}),
        ("min_snr", {"gamma": 1e-3}), ("min_snr", {"gamma": 1e3}), ("p2", {"k": 1e-3, "gamma": 2.0}), ("p2", {"k": 5.0, "gamma": 0.5})]
    for name, params in variants:
        for space in SPACES:
            w = weight(schedule, name, space, **params)
            assert not torch.isnan(w).any(), (name, params, space)
            assert (w >= 0).all(), (name, params, space)                  # -inf fails here
            assert not torch.signbit(w).any(), (name, params, space)      # -0.0 fails here
            infinite = torch.isinf(w).nonzero().flatten().tolist()
            documented = name == "vlb" and params.get("clip_t1") is False and params.get("sigma") == "beta_tilde"
            assert infinite == ([1] if documented else []), (name, params, space, infinite)   # +inf only where documented
            assert w[0] == 0 and not torch.signbit(w[0])


def test_schedule_tensors_hold_no_minus_zero():
    for s in (NoiseSchedule.linear(), NoiseSchedule.cosine(), NoiseSchedule.linear(T=1)):
        for key in ("betas", "alphas", "alpha_bars", "one_minus_alpha_bars", "snr", "posterior_variance"):
            v = getattr(s, key)
            assert not torch.signbit(v).any(), key
        assert s.posterior_variance[1] == 0 and s.one_minus_alpha_bars[0] == 0


def test_step_mass_is_the_histogram_of_the_levels_uniform_t_visits():
    """Draw t uniform on 2..T and a log-SNR uniform in step t's interval, weigh each draw by w_t: the weighted histogram
    over the intervals is step_mass's heights (exact per step; no finite differences)."""
    import numpy as np
    from ddpm_edu.weighting import step_mass, weighting_curves
    lin = NoiseSchedule.linear(T=50)
    curves = weighting_curves(lin, "eps")
    edges, heights = step_mass(lin, curves)
    rng = np.random.default_rng(0)
    lam = lin.log_snr.numpy()
    t = rng.integers(2, lin.T + 1, 2_000_000)
    draws = lam[t] + rng.random(t.size) * (lam[t - 1] - lam[t])
    for label in ("VLB, sigma^2 = beta-tilde", "simple", "Min-SNR-5"):
        w = curves[label].numpy()[t]
        hist, _ = np.histogram(draws, bins=edges, weights=w, density=True)
        np.testing.assert_allclose(hist, heights[label], rtol=0.03)
    widths = np.diff(edges)
    assert all(abs((h * widths).sum() - 1) < 1e-12 for h in heights.values())
