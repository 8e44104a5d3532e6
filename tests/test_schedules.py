"""NoiseSchedule: known values, independent recomputation, indexing, and bad input."""
import math

import numpy as np
import pytest
import torch

from ddpm_edu import NoiseSchedule

ALL = [NoiseSchedule.linear, NoiseSchedule.cosine, NoiseSchedule.scaled_linear, NoiseSchedule.sigmoid]


def test_linear_alpha_bar_T_matches_the_published_value():
    # Ho et al. 2020's schedule ends with alpha-bar_T ~ 4.036e-5 (a number quoted across the literature).
    s = NoiseSchedule.linear()
    assert float(s.alpha_bars[1000]) == pytest.approx(4.036e-5, rel=1e-3)


def test_linear_matches_a_plain_numpy_cumprod():
    s = NoiseSchedule.linear(T=1000)
    betas = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - betas)
    np.testing.assert_allclose(s.alpha_bars[1:].numpy(), abar, rtol=1e-12)
    np.testing.assert_allclose(s.one_minus_alpha_bars[1:].numpy(), 1 - abar, rtol=1e-9)
    np.testing.assert_allclose(s.snr[1:].numpy(), abar / (1 - abar), rtol=1e-9)
    np.testing.assert_allclose(s.posterior_variance[2:].numpy(), betas[1:] * (1 - abar[:-1]) / (1 - abar[1:]), rtol=1e-9)


def test_index_zero_is_the_clean_data():
    for make in ALL:
        s = make()
        assert s.betas.shape == (s.T + 1,)
        assert s.betas[0] == 0 and s.alphas[0] == 1 and s.alpha_bars[0] == 1
        assert math.isinf(s.snr[0]) and s.snr[0] > 0 and math.isinf(s.log_snr[0])
        assert s.posterior_variance[0] == 0 and s.posterior_variance[1] == 0


def test_index_t_is_step_t():
    # alpha-bar_1 = 1 - beta_1 exactly: the first noising step is t = 1, not t = 0.
    s = NoiseSchedule.linear()
    assert float(s.alpha_bars[1]) == pytest.approx(1 - 1e-4, rel=1e-15)
    assert float(s.betas[1]) == pytest.approx(1e-4) and float(s.betas[1000]) == pytest.approx(0.02)
    # the named 0-based view shifts by one, visibly
    assert torch.equal(s.zero_based("alpha_bars"), s.alpha_bars[1:])


def test_cosine_follows_the_closed_form_until_the_clip_and_ends_near_zero():
    T, s_off = 1000, 0.008
    s = NoiseSchedule.cosine(T=T, s=s_off)
    f = lambda t: math.cos((t / T + s_off) / (1 + s_off) * math.pi / 2) ** 2
    for t in [1, 10, 500, 900, 990]:
        assert float(s.alpha_bars[t]) == pytest.approx(f(t) / f(0), rel=1e-10)
    assert float(s.betas.max()) <= 0.999
    assert float(s.betas[T]) == pytest.approx(0.999)          # the clip is active at t = T
    assert float(s.alpha_bars[T]) < 1e-8


def test_cosine_max_beta_is_respected_for_any_value():
    s = NoiseSchedule.cosine(T=50, max_beta=0.5)
    assert float(s.betas.max()) <= 0.5


def test_scaled_linear_is_linear_in_sqrt_beta():
    s = NoiseSchedule.scaled_linear(T=1000)
    root = s.betas[1:].sqrt().numpy()
    np.testing.assert_allclose(np.diff(root), np.full(999, (math.sqrt(0.012) - math.sqrt(0.00085)) / 999), rtol=1e-9)


def test_sigmoid_schedule_is_decreasing_and_ends_near_zero():
    s = NoiseSchedule.sigmoid(T=1000)
    assert (s.alpha_bars[1:] < s.alpha_bars[:-1]).all()
    assert float(s.alpha_bars[-1]) < 1e-6
    # Chen (2023), Algorithm 1, evaluated independently at u = 0.5: symmetric range -> alpha-bar = 1/2
    assert float(s.alpha_bars[500]) == pytest.approx(0.5, rel=1e-9)


@pytest.mark.parametrize("make", ALL)
def test_every_schedule_is_a_valid_vp_schedule(make):
    s = make(T=200)
    assert ((s.betas[1:] > 0) & (s.betas[1:] < 1)).all()
    assert torch.allclose(s.alpha_bars + s.one_minus_alpha_bars, torch.ones_like(s.alpha_bars), atol=1e-15)
    assert (s.log_snr[2:] < s.log_snr[1:-1]).all()   # log-SNR falls strictly with t
    assert torch.allclose(s.log_snr[1:], torch.log(s.snr[1:]), rtol=1e-12)


def test_posterior_log_variance_is_clipped_at_t1_like_improved_diffusion():
    s = NoiseSchedule.linear()
    assert float(s.posterior_log_variance_clipped[1]) == pytest.approx(math.log(float(s.posterior_variance[2])))
    assert float(s.posterior_log_variance_clipped[7]) == pytest.approx(math.log(float(s.posterior_variance[7])))


def test_from_betas_round_trips_and_to_casts_a_copy():
    s = NoiseSchedule.cosine(T=100)
    again = NoiseSchedule.from_betas(s.betas[1:])
    assert torch.allclose(again.alpha_bars, s.alpha_bars, rtol=1e-14)
    f32 = s.to("cpu", torch.float32)
    assert f32.alpha_bars.dtype == torch.float32 and s.alpha_bars.dtype == torch.float64
    assert f32.T == 100


@pytest.mark.parametrize("call, argument", [
    (lambda: NoiseSchedule.linear(T=0), "T"),
    (lambda: NoiseSchedule.linear(T=-5), "T"),
    (lambda: NoiseSchedule.linear(T=10.5), "T"),
    (lambda: NoiseSchedule.linear(T=1000.0), "T"),
    (lambda: NoiseSchedule.linear(T="1000"), "T"),
    (lambda: NoiseSchedule.cosine(T=True), "T"),
    (lambda: NoiseSchedule.linear(beta_start=0.0), "beta_start"),
    (lambda: NoiseSchedule.linear(beta_end=1.0), "beta_end"),
    (lambda: NoiseSchedule.linear(beta_end=float("nan")), "beta_end"),
    (lambda: NoiseSchedule.scaled_linear(beta_start=-1e-3), "beta_start"),
    (lambda: NoiseSchedule.cosine(s=-0.1), "s"),
    (lambda: NoiseSchedule.cosine(max_beta=1.5), "max_beta"),
    (lambda: NoiseSchedule.sigmoid(tau=0), "tau"),
    (lambda: NoiseSchedule.sigmoid(start=3, end=-3), "end"),
    (lambda: NoiseSchedule.from_betas([0.1, 1.2]), "betas[1]"),
    (lambda: NoiseSchedule.from_betas([0.1, float("inf")]), "betas[1]"),
    (lambda: NoiseSchedule.from_betas([0.1, float("nan")]), "betas[1]"),
    (lambda: NoiseSchedule.from_betas([[0.1, 0.2]]), "betas"),
    (lambda: NoiseSchedule.from_betas([]), "betas"),
    (lambda: NoiseSchedule.from_betas(NoiseSchedule.linear(T=5).betas), "betas[0]"),
    (lambda: NoiseSchedule.by_name("quadratic"), "name"),
])
def test_bad_input_names_the_argument_and_the_value(call, argument):
    with pytest.raises(ValueError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith(argument + "=")
    assert "must" in msg


def test_leading_zero_gets_a_hint():
    with pytest.raises(ValueError, match="without the leading beta_0"):
        NoiseSchedule.from_betas(NoiseSchedule.linear(T=5).betas)
