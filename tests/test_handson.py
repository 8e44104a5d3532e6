"""Notebook 08: a student's correct functions pass, and each typical mistake gets a hint naming its kind.

The functions here are written as a student would write them (plain torch, from the papers), not taken from the
package; each mistake is one edit of the correct version.
"""
import pytest
import torch

from ddpm_edu.exercises import EXERCISES, check, yours_or_ours


def q_sample(x0, t, eps, alpha_bars, *, sqrt=True, shift=0, swap=False):
    ab = alpha_bars[t - shift].reshape(-1, *([1] * (x0.dim() - 1)))
    a, s = (ab.sqrt(), (1 - ab).sqrt()) if sqrt else (ab, 1 - ab)
    return s * x0 + a * eps if swap else a * x0 + s * eps


def loss(model, x0, t, eps, alpha_bars, weights, target, *, reduce="mean", weigh=True, v_sign=1):
    x_t = q_sample(x0, t, eps, alpha_bars)
    ab = alpha_bars[t].reshape(-1, *([1] * (x0.dim() - 1)))
    y = {"eps": eps, "x0": x0, "v": v_sign * (ab.sqrt() * eps - (1 - ab).sqrt() * x0)}[target]
    err = (model(x_t, t) - y) ** 2
    per = err.flatten(1).mean(1) if reduce == "mean" else err.flatten(1).sum(1)
    return (weights[t] * per).mean() if weigh else per.mean()


def train_step(model, opt, data, alpha_bars, weights, target, batch_size, generator, *, t_from_0=False, zero=True):
    idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
    T = alpha_bars.shape[0] - 1
    t = torch.randint(0, T, (batch_size,), generator=generator) if t_from_0 else \
        torch.randint(1, T + 1, (batch_size,), generator=generator)
    eps = torch.randn((batch_size,) + tuple(data.shape[1:]), generator=generator)
    value = loss(model, data[idx], t.clamp(min=1), eps, alpha_bars, weights, target)
    if zero:
        opt.zero_grad()
    value.backward()
    opt.step()
    return value.item()


@torch.no_grad()
def sample(model, alpha_bars, betas, shape, n, generator, *, noise_at_1=False, variance=False, shift=0):
    x = torch.randn((n, *shape), generator=generator, dtype=torch.float64).float()
    for t in range(alpha_bars.shape[0] - 1, 0, -1):
        eps = model(x, torch.full((n,), t - shift))
        x = (x - betas[t] / torch.sqrt(1 - alpha_bars[t]) * eps) / torch.sqrt(1 - betas[t])
        if t > 1 or noise_at_1:
            x = x + (betas[t] if variance else betas[t].sqrt()) * torch.randn(x.shape, generator=generator)
    return x


def with_(fn, **kw):
    return lambda *args: fn(*args, **kw)


CORRECT = {"08.1": q_sample, "08.2": loss, "08.3": train_step, "08.4": sample}


@pytest.mark.parametrize("key", list(CORRECT))
def test_a_students_correct_function_passes(key):
    verdict = check(key, CORRECT[key])
    assert verdict.correct, verdict.message


MISTAKES = [
    ("08.1", with_(q_sample, sqrt=False), "missing square root"),
    ("08.1", with_(q_sample, shift=1), "t off by one"),
    ("08.1", with_(q_sample, swap=True), "coefficients swapped"),
    ("08.2", with_(loss, reduce="sum"), "a sum over the pixels"),
    ("08.2", with_(loss, weigh=False), "weight table not applied"),
    ("08.2", with_(loss, v_sign=-1), "wrong sign in v"),
    ("08.3", with_(train_step, t_from_0=True), "draw in the order"),
    ("08.3", with_(train_step, zero=False), "gradients set to zero"),
    ("08.4", with_(sample, noise_at_1=True), "noise added at the last step"),
    ("08.4", with_(sample, variance=True), "used as a variance"),
    ("08.4", with_(sample, shift=1), "t off by one"),
]


@pytest.mark.parametrize("key, wrong, kind", MISTAKES, ids=[f"{k}-{kind}" for k, _, kind in MISTAKES])
def test_a_typical_mistake_gets_a_hint_that_names_its_kind_not_the_fix(key, wrong, kind):
    verdict = check(key, wrong)
    assert not verdict.correct and verdict.answered
    assert kind in verdict.message and EXERCISES[key].hint in verdict.message, verdict.message
    assert "Traceback" not in verdict.message and "sqrt(alpha_bars" not in verdict.message


def test_a_function_that_raises_or_returns_the_wrong_thing_gets_one_line():
    broadcast = check("08.1", lambda x0, t, eps, ab: ab[t] * x0 + (1 - ab[t]) * eps)      # (B,) against (B, 1, 8, 8)
    assert not broadcast.correct and "must broadcast over each example" in broadcast.message
    assert "\n" not in broadcast.message
    numpy_out = check("08.1", lambda x0, t, eps, ab: q_sample(x0, t, eps, ab).numpy())
    assert not numpy_out.correct and "torch tensor" in numpy_out.message
    unfinished = check("08.2", lambda *a: None)
    assert not unfinished.answered and "return None" in unfinished.message
    uses_none = check("08.2", lambda m, x0, t, eps, ab, w, tg: None + x0)
    assert not uses_none.correct and "still None" in uses_none.message


def test_the_notebook_uses_yours_when_it_passes_and_the_packages_until_then(capsys):
    assert yours_or_ours("08.1", q_sample) is q_sample
    fallback = yours_or_ours("08.1", lambda *a: None)
    assert fallback is not None and check("08.1", fallback).correct
    out = capsys.readouterr().out
    assert "using your function" in out and "until yours passes" in out
    with pytest.raises(ValueError, match="^exercise="):
        yours_or_ours("02.1", q_sample)


def test_the_reference_sampler_is_the_packages_ancestral_sampler():
    """handson.ref_sample (the fallback, and the base of the mistakes) against sampling.ancestral_sample, T = 1000."""
    from ddpm_edu import NoiseSchedule
    from ddpm_edu.handson import ref_sample
    from ddpm_edu.models import MLPDenoiser
    from ddpm_edu.sampling import ancestral_sample

    lin = NoiseSchedule.linear()
    torch.manual_seed(0)
    net = MLPDenoiser(2, width=16).eval()
    ours = ref_sample(net, lin.alpha_bars.float(), lin.betas.float(), (2,), 32, torch.Generator().manual_seed(3))
    theirs = ancestral_sample(net, lin, (2,), 32, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(ours.double(), theirs, rtol=1e-3, atol=1e-3)
