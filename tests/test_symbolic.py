"""The SymPy derivations: every identity is proved exactly, and the results agree numerically with
the package's numeric code (to 1e-12 in float64) and with Monte Carlo."""
import math

import numpy as np
import pytest
import sympy as sp
import torch

from ddpm_edu import NoiseSchedule, convert, q_posterior, q_sample, weight
from ddpm_edu import symbolic as S
from ddpm_edu.diffusion import target_from

SCHEDULES = [NoiseSchedule.linear(), NoiseSchedule.cosine()]


@pytest.mark.parametrize("derivation", S.all_derivations(), ids=lambda d: d.title)
def test_every_claim_of_every_derivation_is_proved_exactly(derivation):
    assert derivation.proofs, "a derivation with nothing to prove"
    assert derivation.failed() == []


def test_the_prover_rejects_a_false_claim():
    # the common Min-SNR slip: min(SNR, gamma) used as an eps-space weight is not the x0-space one
    snr, gamma = sp.symbols("SNR gamma", positive=True)
    assert not S.is_zero(sp.Min(snr, gamma) - sp.Min(snr, gamma) / snr)
    lam = S.noise_matching().results["lambda"]
    assert not S.is_zero(lam - (1 - S.alpha) / (2 * S.sigma2 * S.alpha))   # a dropped factor


@pytest.mark.parametrize("T", [2, 3, 5])
def test_elbo_decomposition_has_one_term_per_step(T):
    d = S.elbo_decomposition(T)
    assert len(d.results["L_mid"]) == T - 1
    assert d.failed() == []


def test_elbo_rejects_a_chain_too_long_to_display():
    with pytest.raises(ValueError, match="^T="):
        S.elbo_decomposition(50)


def _lambdify(expr, symbols):
    return sp.lambdify(symbols, expr, modules="numpy", dummify=True)


def _per_t(schedule):
    a = schedule.alphas.numpy()[1:]
    ab = schedule.alpha_bars.numpy()
    return a, ab[:-1], ab[1:]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
def test_derived_posterior_matches_q_posterior(schedule):
    d = S.posterior()
    mean_f = _lambdify(d.results["mean"], [S.alpha, S.abar_prev, S.x0, S.xt])
    var_f = _lambdify(d.results["variance"], [S.alpha, S.abar_prev])
    g = torch.Generator().manual_seed(0)
    t = torch.arange(2, schedule.T + 1)
    x0 = torch.randn(len(t), 1, generator=g, dtype=torch.float64)
    xt = torch.randn(len(t), 1, generator=g, dtype=torch.float64)
    mean, var = q_posterior(schedule, x0, xt, t)
    a, ab_prev, _ = _per_t(schedule)
    np.testing.assert_allclose(mean_f(a[1:], ab_prev[1:], x0[:, 0].numpy(), xt[:, 0].numpy()), mean[:, 0].numpy(), rtol=1e-12, atol=1e-12)
    # absolute 1e-12: the lambdified formula computes 1 - alpha_t abar_{t-1} by subtraction, which
    # costs ~1e-8 relative precision at small t (the package uses expm1 there)
    np.testing.assert_allclose(var_f(a[1:], ab_prev[1:]), var[:, 0].numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
def test_derived_lambda_matches_the_numeric_vlb_weight(schedule):
    d = S.noise_matching()
    a, ab_prev, _ = _per_t(schedule)
    lam_beta = _lambdify(d.results["lambda_beta"], [S.alpha, S.abar_prev])(a, ab_prev)
    np.testing.assert_allclose(lam_beta, weight(schedule, "vlb", sigma="beta")[1:].numpy(), rtol=1e-12, atol=1e-12)
    lam_tilde = _lambdify(d.results["lambda_beta_tilde"], [S.alpha, S.abar_prev])(a[1:], ab_prev[1:])
    np.testing.assert_allclose(lam_tilde, weight(schedule, "vlb", sigma="beta_tilde")[2:].numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
def test_derived_conversion_table_matches_convert(schedule):
    d = S.parameterizations()
    names = d.results["symbols"]
    g = torch.Generator().manual_seed(1)
    t = torch.arange(1, schedule.T)        # t = T on cosine divides by sqrt(abar_T) ~ 5e-5: tested in test_diffusion
    x0 = torch.randn(len(t), 1, generator=g, dtype=torch.float64)
    eps = torch.randn(len(t), 1, generator=g, dtype=torch.float64)
    xt = q_sample(schedule, x0, t, eps)
    truth = {"eps": eps, "x0": x0, "v": target_from(x0, eps, schedule, t, "v")}
    ab = schedule.alpha_bars[t].numpy()
    for (src, dst), expr in d.results["table"].items():
        f = _lambdify(expr, [names[src], names["x_t"], d.results["abar"]])
        sym = f(truth[src][:, 0].numpy(), xt[:, 0].numpy(), ab)
        num = convert(schedule, truth[src], xt, t, source=src, target=dst)[:, 0].numpy()
        np.testing.assert_allclose(sym, num, rtol=1e-12, atol=1e-12, err_msg=f"{src}->{dst}")


def test_gaussian_kl_matches_monte_carlo():
    kl = _lambdify(S.gaussian_kl().results["kl"], [S.m1, S.s1, S.m2, S.s2])
    rng = np.random.default_rng(0)
    n = 1_000_000
    for mu1, sd1, mu2, sd2 in [(0.3, 0.5, -0.4, 1.2), (1.0, 2.0, 0.0, 1.0), (0.0, 1.0, 0.0, 1.0)]:
        z = rng.normal(mu1, sd1, n)
        log_ratio = (-(z - mu1) ** 2 / (2 * sd1 ** 2) - math.log(sd1)) - (-(z - mu2) ** 2 / (2 * sd2 ** 2) - math.log(sd2))
        mc, se = log_ratio.mean(), log_ratio.std() / math.sqrt(n)
        assert abs(kl(mu1, sd1, mu2, sd2) - mc) < 5 * se + 1e-12


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
def test_prior_term_matches_the_closed_form_and_is_tiny(schedule):
    d = S.prior_term()
    f = _lambdify(d.results["L_T"], [d.results["abar_T"], S.x0])
    abar_T = float(schedule.alpha_bars[-1])
    x = np.array([-1.0, 0.0, 0.5, 1.0])
    ref = 0.5 * (abar_T * x ** 2 - abar_T - np.log1p(-abar_T))
    np.testing.assert_allclose(f(abar_T, x), ref, rtol=1e-6, atol=1e-15)
    assert np.all(f(abar_T, x) < 1e-4)   # nats per dimension: nothing to learn


def test_objective_factors_are_proved_and_match_the_numeric_eps_weights():
    import numpy as np
    import sympy as sp
    from ddpm_edu import objectives as O
    d = S.objective_factors()
    assert d.failed() == []
    lam = np.linspace(-8, 8, 41)
    f = {k: sp.lambdify(S.lam_sym, v.subs(sp.Symbol("sigma_d", positive=True), 0.5), "numpy")
         for k, v in d.results["factors"].items()}
    assert np.allclose(f["v"](lam), O.eps_weight("v_cosine", lam))
    assert np.allclose(f["velocity"](lam), O.eps_weight("flow_matching", lam))
    assert np.allclose(f["edm"](lam), O.eps_weight("edm", lam))
    assert np.allclose(f["x0"](lam), np.exp(-lam))


def test_objective_densities_are_proved_and_match_the_numeric_ones():
    import numpy as np
    import sympy as sp
    from ddpm_edu import objectives as O
    d = S.objective_densities()
    assert d.failed() == []
    lam = np.linspace(-8, 8, 41)
    assert np.allclose(sp.lambdify(S.lam_sym, d.results["cosine"], "numpy")(lam), O.lambda_density("v_cosine", lam))
    assert np.allclose(sp.lambdify(S.lam_sym, d.results["flow_matching"], "numpy")(lam), O.lambda_density("flow_matching", lam))
    slopes = d.results["edm_slope_values"]                 # EDM's p w rises at the noisy end, falls at the clean end
    assert slopes[-6] > 0 > slopes[6]


def test_lambda_is_shown_and_kept_in_its_positive_form_which_gives_plus_inf_at_t1_in_floating_point():
    """SymPy's simplified form of the beta-tilde weight, (alpha - 1)/(2 alpha (abar_{t-1} - 1)), is a negative
    number over +0.0 at t = 1 and evaluates to -inf; the positive form the notebook shows evaluates to +inf."""
    d = S.noise_matching()
    a, ab = np.meshgrid(np.linspace(0.01, 0.99, 9), np.linspace(0.01, 0.99, 9))

    def every_factor_positive(expr):
        return all(np.all(sp.lambdify([S.alpha, S.abar_prev], f)(a, ab) > 0) for f in sp.Mul.make_args(expr))
    assert every_factor_positive(d.results["lambda_beta"]) and every_factor_positive(d.results["lambda_beta_tilde"])
    assert not every_factor_positive(d.results["lambda_beta_tilde_simplified"])       # what simplify gives
    assert all("- 1" not in d.step_latex(k) and "+ 1" not in d.step_latex(k) for k in d.steps)
    alpha_1 = np.array([1 - 1e-4])
    with np.errstate(divide="ignore"):
        positive = sp.lambdify([S.alpha, S.abar_prev], d.results["lambda_beta_tilde"])(alpha_1, np.array([1.0]))
        simplified = sp.lambdify([S.alpha, S.abar_prev], d.results["lambda_beta_tilde_simplified"])(alpha_1, np.array([1.0]))
    assert positive[0] == np.inf and simplified[0] == -np.inf

