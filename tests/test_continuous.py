"""Training objectives at continuous noise levels: parameterizations, the sampler's posterior, and a short run."""
import math

import pytest
import torch

from ddpm_edu import NoiseSchedule
from ddpm_edu import objectives as O
from ddpm_edu.continuous import (ObjectiveModel, ancestral_sample_lambda, eps_loss_per_lambda, own_target, own_weight,
                                 ddpm_lambda_grid, posterior_step, train_objective)
from ddpm_edu.diffusion import posterior_coefficients
from ddpm_edu.models import MLPDenoiser


def test_the_posterior_step_on_the_linear_grid_is_ddpms_posterior():
    lin = NoiseSchedule.linear()
    c0, ct = posterior_coefficients(lin)
    for t in (2, 10, 500, 1000):
        c_z, c_x, std = posterior_step(float(lin.log_snr[t]), float(lin.log_snr[t - 1]))
        assert c_z == pytest.approx(float(ct[t]), rel=1e-6) and c_x == pytest.approx(float(c0[t]), rel=1e-6)
        assert std ** 2 == pytest.approx(float(lin.posterior_variance[t]), rel=1e-6)


def test_the_sampling_grid_is_every_kth_of_ddpms_log_snrs_from_noisy_to_t_1():
    lam = NoiseSchedule.linear().log_snr.double()                 # index t = 0..1000
    assert torch.allclose(ddpm_lambda_grid(1000), lam[1:].flip(0))
    g = ddpm_lambda_grid(250)
    assert g.shape == (250,) and bool((g[1:] > g[:-1]).all())
    assert torch.allclose(g[[0, 1, -2, -1]], lam[[997, 993, 5, 1]])    # ends at the cleanest level, t = 1
    for bad_steps in (3, 0, 1001, 2.5):
        with pytest.raises(ValueError, match="steps"):
            ddpm_lambda_grid(bad_steps)


@pytest.mark.parametrize("name", O.OBJECTIVES)
def test_a_perfect_own_space_prediction_is_a_perfect_eps_prediction(name):
    """Feed the model the true own-space target: its eps() must give back the true eps (all conversions agree)."""
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(64, 5, generator=g), torch.randn(64, 5, generator=g)
    lam = O.sample_lambda(name, 64, g).float().clamp(-9, 9)
    m = ObjectiveModel(torch.nn.Identity(), name)
    truth = own_target(name, x, eps, lam)
    m.own = lambda z, l: truth
    a, s = torch.sigmoid(lam).sqrt()[:, None], torch.sigmoid(-lam).sqrt()[:, None]
    assert torch.allclose(m.eps(a * x + s * eps, lam), eps, atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("name", O.OBJECTIVES)
def test_own_weight_times_own_mse_is_the_eps_weighted_loss(name):
    g = torch.Generator().manual_seed(2)
    lam = O.sample_lambda(name, 500, g).float().clamp(-12, 12)
    factor = {"eps": torch.ones_like(lam), "v": 1 + torch.exp(-lam), "x0": torch.exp(-lam),
              "velocity": (1 + torch.exp(-lam / 2)) ** 2}[O.TARGET[name]]
    assert torch.allclose(own_weight(name, lam) * factor, torch.as_tensor(O.eps_weight(name, lam.double())).float(),
                          rtol=1e-4)


def test_a_short_flow_matching_run_learns_and_samples_in_range():
    g = torch.Generator().manual_seed(0)
    data = torch.cat([torch.randn(500, 2, generator=g) * 0.1 + 1, torch.randn(500, 2, generator=g) * 0.1 - 1])
    torch.manual_seed(0)
    before = ObjectiveModel(MLPDenoiser(2, width=32), "flow_matching")
    lam = torch.tensor([-4.0, 0.0, 4.0])
    loss_before, _ = eps_loss_per_lambda(before, data, lam, n=256)
    torch.manual_seed(0)
    run = train_objective(MLPDenoiser(2, width=32), data, "flow_matching", steps=300, seed=0, batch_size=128)
    loss_after, _ = eps_loss_per_lambda(run.model, data, lam, n=256)
    assert (loss_after < loss_before).all() and run.steps == 300 and all(math.isfinite(v) for v in run.log_loss)
    grid = torch.linspace(-10, 10, 200)
    x = ancestral_sample_lambda(run.model, grid, (2,), 400, torch.Generator().manual_seed(1), clip_x0=None)
    assert x.shape == (400, 2) and torch.isfinite(x).all()
    assert 0.6 < float(x.abs().mean()) < 1.4                  # near the two modes at +-1, not at 0 or far out
