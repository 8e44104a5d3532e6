"""Ancestral sampling."""
import pytest
import torch

from ddpm_edu import NoiseSchedule
from ddpm_edu.optimal import GaussianMixture, OptimalDenoiser
from ddpm_edu.sampling import ancestral_sample

SHORT = NoiseSchedule.linear(T=200, beta_start=5e-4, beta_end=0.1)


@pytest.mark.parametrize("target", ["eps", "x0", "v"])
def test_exact_denoiser_samples_the_data_distribution(target):
    mu, c = 1.5, 0.5
    best = OptimalDenoiser(GaussianMixture(torch.tensor([[mu]]), c), SHORT, target)
    x = ancestral_sample(best, SHORT, (1,), 4000, target, sigma="beta_tilde", generator=torch.Generator().manual_seed(0))
    assert float(x.mean()) == pytest.approx(mu, abs=0.05)
    assert float(x.std()) == pytest.approx(c, rel=0.08)


def test_a_v_model_sampled_as_eps_gives_the_wrong_distribution():
    best_v = OptimalDenoiser(GaussianMixture(torch.tensor([[1.5]]), 0.5), SHORT, "v")
    x = ancestral_sample(best_v, SHORT, (1,), 2000, "eps", generator=torch.Generator().manual_seed(0))
    assert abs(float(x.mean()) - 1.5) > 0.5 or abs(float(x.std()) - 0.5) > 0.25


def test_same_seed_same_samples_and_a_generator_is_required():
    best = OptimalDenoiser(GaussianMixture(torch.zeros(1, 2), 1.0), SHORT, "eps")
    a = ancestral_sample(best, SHORT, (2,), 10, generator=torch.Generator().manual_seed(3))
    b = ancestral_sample(best, SHORT, (2,), 10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="^generator="):
        ancestral_sample(best, SHORT, (2,), 10)


@pytest.mark.parametrize("target", ["eps", "x0", "v"])
def test_the_fast_sampler_loop_is_eq7_with_the_models_x0(target):
    # one step of ancestral_sample, recomputed with the public (checked) model_mean
    from ddpm_edu import model_mean
    sched = NoiseSchedule.linear(T=2, beta_start=0.1, beta_end=0.2)
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 3)

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__(); self.net = net
        def forward(self, x, t):
            return self.net(x) * t[:, None].float()
    m = M()
    out, path = ancestral_sample(m, sched, (3,), 5, target, generator=torch.Generator().manual_seed(1), return_path=True)
    g = torch.Generator().manual_seed(1)
    x2 = torch.randn(5, 3, generator=g, dtype=torch.float64).float().double()
    t2 = torch.full((5,), 2)
    mean = model_mean(sched, m(x2.float(), t2).double(), x2, t2, source=target)
    x1 = mean + float(sched.betas[2]) ** 0.5 * torch.randn(5, 3, generator=g).double()
    assert torch.allclose(path[1], x1, atol=1e-5)
    t1 = torch.full((5,), 1)
    assert torch.allclose(out, model_mean(sched, m(path[1].float(), t1).double(), path[1], t1, source=target), atol=1e-5)
