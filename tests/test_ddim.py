"""DDIM (Song et al. 2021): the textbook update at every t, deterministic at eta = 0, ancestral sampling at eta = 1."""
import math

import pytest
import torch

from ddpm_edu import NoiseSchedule
from ddpm_edu.models import MLPDenoiser
from ddpm_edu.optimal import GaussianMixture, OptimalDenoiser
from ddpm_edu.sampling import ancestral_sample, ddim_sample, ddim_timesteps

SHORT = NoiseSchedule.linear(T=200, beta_start=5e-4, beta_end=0.1)


def _net(seed=0):
    torch.manual_seed(seed)
    return MLPDenoiser(2, width=16).eval()


def test_the_visited_steps_are_evenly_spaced_with_both_ends():
    assert ddim_timesteps(1000, 1000) == list(range(1, 1001))
    assert ddim_timesteps(1000, 1) == [1000]
    ten = ddim_timesteps(1000, 10)
    assert ten[0] == 1 and ten[-1] == 1000 and len(set(ten)) == 10 and ten == sorted(ten)
    assert ddim_timesteps(1000, 4) == [1, 334, 667, 1000]
    for bad in (0, 1001, 2.5):
        with pytest.raises(ValueError, match="^steps="):
            ddim_timesteps(1000, bad)


@pytest.mark.parametrize("steps", [200, 17])
def test_eta_0_is_the_textbook_update_eq12_at_every_visited_step(steps):
    """A textbook loop, written here from eq. 12 with sigma = 0 (eps-model, no clipping), against the path."""
    net, g = _net(), torch.Generator().manual_seed(5)
    x, path = ddim_sample(net, SHORT, (2,), 64, steps, eta=0.0, generator=g, return_path=True)
    abar = SHORT.alpha_bars.double()
    taus = ddim_timesteps(SHORT.T, steps)
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.equal(path[0], z.float().double())          # x_T is the generator's first draw (float32 model)
    for k, (t, prev) in enumerate(zip(taus[::-1], (taus[::-1] + [0])[1:])):
        eps = net(path[k].float(), torch.full((64,), t)).double()
        x0 = (path[k] - (1 - abar[t]).sqrt() * eps) / abar[t].sqrt()
        expected = abar[prev].sqrt() * x0 + (1 - abar[prev]).sqrt() * eps
        torch.testing.assert_close(path[k + 1], expected, rtol=1e-4, atol=1e-4)
    assert len(path) == steps + 1 and torch.equal(path[-1], x)


def test_eta_0_gives_the_same_samples_twice_and_needs_a_generator():
    net = _net()
    a = ddim_sample(net, SHORT, (2,), 32, 20, generator=torch.Generator().manual_seed(1))
    b = ddim_sample(net, SHORT, (2,), 32, 20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    c = ddim_sample(net, SHORT, (2,), 32, 20, eta=1.0, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(a, c)
    with pytest.raises(ValueError, match="^generator="):
        ddim_sample(net, SHORT, (2,), 8, 5)
    for name, kwargs in (("eta", {"eta": 1.5}), ("steps", {"steps": 0}), ("target", {"target": "score"})):
        with pytest.raises(ValueError, match=f"^{name}="):
            ddim_sample(net, SHORT, (2,), 8, **{"steps": 5, **kwargs}, generator=torch.Generator())


@pytest.mark.parametrize("target", ["eps", "x0", "v"])
def test_eta_1_with_every_step_is_ancestral_sampling_with_beta_tilde(target):
    """Not only in distribution: with the same generator it draws the same noise at the same steps, and its mean is
    the posterior mean, so the samples agree to float32 rounding (x0 clipped as for digits)."""
    net = _net(2)
    kw = dict(target=target, clip_x0=1.0)
    a = ddim_sample(net, SHORT, (2,), 256, SHORT.T, eta=1.0, generator=torch.Generator().manual_seed(7), **kw)
    b = ancestral_sample(net, SHORT, (2,), 256, sigma="beta_tilde", generator=torch.Generator().manual_seed(7), **kw)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_eta_1_on_fewer_steps_is_ancestral_sampling_of_the_respaced_chain():
    """improved-diffusion's respacing: the visited steps' alpha-bars define a shorter chain (beta_i = 1 - abar_{t_i} /
    abar_{t_(i-1)}); ancestral sampling of it, the model called at the original t, is DDIM with eta = 1."""
    net, taus = _net(3), ddim_timesteps(SHORT.T, 25)
    abar = SHORT.alpha_bars.double()
    kept = torch.tensor([1.0] + [float(abar[t]) for t in taus], dtype=torch.float64)
    short = NoiseSchedule.from_betas(1 - kept[1:] / kept[:-1])
    at_t = torch.tensor([0] + taus)

    class Respaced(torch.nn.Module):
        def forward(self, x, i):
            return net(x, at_t[i])

    a = ddim_sample(net, SHORT, (2,), 128, 25, eta=1.0, generator=torch.Generator().manual_seed(4))
    b = ancestral_sample(Respaced(), short, (2,), 128, sigma="beta_tilde", generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_with_the_exact_denoiser_every_step_draws_the_data_distribution_and_few_steps_shrink_it(eta):
    """A Gaussian N(1.5, 0.5^2) and its exact E[eps | x_t]: with every step both samplers give its mean and spread;
    with 10 steps the spread shrinks (measured: 0.36 at eta = 0, 0.32 at eta = 1; the reverse steps' Gaussians are
    too narrow when the steps are long, Bao et al. 2022), more at eta = 1."""
    mu, c = 1.5, 0.5
    best = OptimalDenoiser(GaussianMixture(torch.tensor([[mu]]), c), SHORT, "eps")
    draw = lambda steps, e: ddim_sample(best, SHORT, (1,), 4000, steps, eta=e, generator=torch.Generator().manual_seed(0))
    x = draw(SHORT.T, eta)
    assert float(x.mean()) == pytest.approx(mu, abs=0.05)
    assert float(x.std()) == pytest.approx(c, rel=0.05)
    assert math.isfinite(float(x.abs().max()))
    few = [float(draw(10, e).std()) for e in (0.0, 1.0)]
    assert few[1] < few[0] < 0.8 * c
