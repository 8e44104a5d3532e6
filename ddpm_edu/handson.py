"""Notebook 08's exercises: the student writes the forward process, the loss, a training step and the sampler.

Each check runs the student's function on fixed seeds and on the edge cases (t = 1, t = T, a batch of one) and
compares it with the package: ``diffusion.q_sample``; the training loss (``q_sample`` + the target + the weight
table, the formula :class:`~ddpm_edu.losses.DDPMLoss` computes, held to it by ``tests/test_structure.py``); one
step of :class:`~ddpm_edu.training.Trainer` from the same seed; and :func:`~ddpm_edu.sampling.ancestral_sample`
with the same generator. Torch functions (tensors in, tensors out) are what is asked for.

A wrong answer is compared with the typical mistakes (a missing square root, t off by one, noise added at the
last step, ...): when it matches one, the hint names the *kind* of mistake, never the fix; otherwise it points
to the idea. A function that raises gets one line naming the error, never a traceback.
"""

from __future__ import annotations

import copy

import torch

from .diffusion import combine, noised, q_sample as _q_sample, target_coefficients, target_from
from .models import MLPDenoiser
from .schedules import NoiseSchedule

SHAPES = ((5, 1, 8, 8), (1, 2), (3, 2))          # digits, a batch of one, 2-D points


def _schedule(T=1000):
    return NoiseSchedule.linear(T=T) if T == 1000 else NoiseSchedule.linear(T=T, beta_start=1e-3, beta_end=0.2)


def _cases(T=1000):
    """``(x0, t, eps)`` on fixed seeds: t = 1 and t = T always among them, and a batch of one."""
    g = torch.Generator().manual_seed(8)
    out = []
    for shape in SHAPES:
        x0 = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
        eps = torch.randn(shape, generator=g, dtype=torch.float64)
        t = torch.randint(1, T + 1, (shape[0],), generator=g)
        t[0] = 1
        t[-1] = T if shape[0] > 1 else t[-1]
        out.append((x0, t, eps))
    out.append((out[1][0], torch.tensor([T]), out[1][2]))          # the batch of one at t = T
    return out


def _col(v, like):
    return v.reshape(-1, *([1] * (like.dim() - 1)))


# ---------------------------------------------------------------------------- 08.1 the forward process
def ref_q_sample(x0, t, eps, alpha_bars):
    """x_t = sqrt(alpha-bar_t) x0 + sqrt(1 - alpha-bar_t) eps (Ho et al. 2020, eq. 4), from a table alpha_bars[t]."""
    ab = _col(alpha_bars[t], x0)
    return noised(ab.sqrt(), (1 - ab).sqrt(), x0, eps)


def _check_q_sample(fn):
    sched = _schedule()
    ab = sched.alpha_bars
    mistakes = {
        "a missing square root (x_t's variance must stay 1 for unit-variance data)":
            lambda x0, t, e: _col(ab[t], x0) * x0 + (1 - _col(ab[t], x0)) * e,
        "t off by one (the table's index 0 is the clean data)":
            lambda x0, t, e: _col(ab[t - 1], x0).sqrt() * x0 + (1 - _col(ab[t - 1], x0)).sqrt() * e,
        "the two coefficients swapped (at t = 1, x_t must be almost x0)":
            lambda x0, t, e: (1 - _col(ab[t], x0)).sqrt() * x0 + _col(ab[t], x0).sqrt() * e,
    }
    for x0, t, eps in _cases():
        got = fn(x0.clone(), t.clone(), eps.clone(), ab)
        if got is None:
            return None
        want = _q_sample(sched, x0, t, eps)
        problem = _compare(got, want, mistakes, (x0, t, eps))
        if problem:
            return problem
    return ""


# ---------------------------------------------------------------------------- 08.2 the loss
def ref_loss(model, x0, t, eps, alpha_bars, weights, target="eps"):
    """mean over the batch of weights[t] times the per-dimension MSE between model(x_t, t) and the target."""
    x_t = ref_q_sample(x0, t, eps, alpha_bars)
    ab = _col(alpha_bars[t], x0)
    y = combine(*target_coefficients(ab.sqrt(), (1 - ab).sqrt(), target), eps, x0)
    return (weights[t] * (model(x_t, t) - y).square().flatten(1).mean(1)).mean()


def _net(dim, seed=3, dtype=torch.float64):
    torch.manual_seed(seed)
    return MLPDenoiser(dim, width=16).to(dtype).eval()


def _check_loss(fn):
    from .weighting import weight

    sched = _schedule()
    ab = sched.alpha_bars
    for k, (x0, t, eps) in enumerate(_cases()):
        target = ("eps", "x0", "v", "v")[k]
        w = weight(sched, ("simple", "min_snr", "vlb", "p2")[k], target)
        net = _net(x0[0].numel())
        mse = lambda y: (net(_q_sample(sched, x0, t, eps), t) - y).square().flatten(1)      # noqa: E731
        y = target_from(x0, eps, sched, t, target)
        mistakes = {
            "a sum over the pixels where the loss takes their mean":
                lambda *a: (w[t] * mse(y).sum(1)).mean(),
            "the weight table not applied":
                lambda *a: mse(y).mean(1).mean(),
            "the weight at the wrong t (the table's index 0 is the clean data)": lambda *a: (w[t - 1] * mse(y).mean(1)).mean(),
            "the wrong sign in v (notebook 02 defines it)":
                lambda *a: (w[t] * mse(-y).mean(1)).mean(),
            "the wrong regression target for this target space": lambda *a: (w[t] * mse(eps if target != "eps" else x0)
                                                                               .mean(1)).mean(),
        }
        got = fn(net, x0.clone(), t.clone(), eps.clone(), ab, w, target)
        if got is None:
            return None
        want = (w[t] * mse(y).mean(1)).mean()
        problem = _compare(got, want, mistakes, ())
        if problem:
            return problem
    return ""


# ---------------------------------------------------------------------------- 08.3 one training step
def ref_train_step(model, opt, data, alpha_bars, weights, target, batch_size, generator):
    """Draw batch indices, t and eps (in that order, from ``generator``), the loss, one optimiser step; the loss."""
    idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
    t = torch.randint(1, alpha_bars.shape[0], (batch_size,), generator=generator)
    eps = torch.randn((batch_size,) + tuple(data.shape[1:]), generator=generator)
    loss = ref_loss(model, data[idx], t, eps, alpha_bars, weights, target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def _check_train_step(fn):
    from .training import TrainConfig, Trainer
    from .weighting import weight

    sched = _schedule()
    g = torch.Generator().manual_seed(2)
    data = torch.rand(300, 2, generator=g) * 2 - 1
    for target, weighting in (("eps", "simple"), ("v", "min_snr")):
        net = _net(2, dtype=torch.float32).train()
        cfg = TrainConfig(target=target, weighting=weighting, steps=3, batch_size=64, lr=1e-2, seed=5, device="cpu",
                          ema_decay=0.9, log_every=1)
        trainer = Trainer(copy.deepcopy(net), data, sched, cfg)
        theirs = copy.deepcopy(net)
        opt = torch.optim.Adam(theirs.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(5)
        w = weight(sched, weighting, target).float()
        for step in range(3):
            loss = fn(theirs, opt, data, sched.alpha_bars.float(), w, target, 64, gen)
            if loss is None:
                return None
            ours, error, t = trainer.loss(trainer.predict, trainer.data)      # Trainer.train_step, its loss kept
            trainer.optimise(ours)
            trainer.track(t, error, ours)
            ours = ours.detach()
            if not abs(float(loss) - float(ours[0])) <= 1e-4 * max(1.0, abs(float(loss))) and step > 0:
                return (f"the first step's loss agrees with the package's, the loss of step {step + 1} does not: does "
                        "every step start with the gradients set to zero, and end with the optimiser's step?")
            if not abs(float(loss) - float(ours[0])) <= 1e-4 * max(1.0, abs(float(loss))):
                return (f"the loss of step {step + 1} is {float(loss):.5g}, the package's on the same draws "
                        f"{float(ours[0]):.5g}: draw in the order batch indices, t (1..T), noise, from the generator "
                        "you are given, and use your loss of 08.2")
        diff = max(float((p - q).detach().abs().max()) for p, q in zip(theirs.parameters(), trainer.model.parameters()))
        if diff > 1e-4:
            return ("the losses agree but the weights after three steps do not: does every step start with the "
                    "gradients set to zero, and end with the optimiser's step?")
    return ""


# ---------------------------------------------------------------------------- 08.4 ancestral sampling
@torch.no_grad()
def ref_sample(model, alpha_bars, betas, shape, n, generator, *, noise_at_1=False, sigma_is_variance=False,
               t_shift=0):
    """Ho et al. 2020, Algorithm 2 with sigma_t^2 = beta_t: x_T ~ N(0, I) drawn as the package draws it (float64,
    then float32), then x_{t-1} = (x_t - beta_t / sqrt(1 - alpha-bar_t) eps_theta) / sqrt(alpha_t) + sigma_t z, no
    noise at t = 1. The keywords make the typical mistakes (for the hints)."""
    x = torch.randn((n,) + tuple(shape), generator=generator, dtype=torch.float64).float()
    T = alpha_bars.shape[0] - 1
    for t in range(T, 0, -1):
        tt = torch.full((n,), t - t_shift)
        eps = model(x, tt)
        mean = (x - betas[t] / (1 - alpha_bars[t]).sqrt() * eps) / (1 - betas[t]).sqrt()
        if t > 1 or noise_at_1:
            sigma = betas[t] if sigma_is_variance else betas[t].sqrt()
            x = mean + sigma * torch.randn(x.shape, generator=generator)
        else:
            x = mean
    return x


def _check_sample(fn):
    from .sampling import ancestral_sample

    sched = _schedule(T=50)
    ab, betas = sched.alpha_bars.float(), sched.betas.float()
    for shape, n in (((2,), 64), ((1, 8, 8), 1)):
        net = _net(int(torch.tensor(shape).prod()), seed=4, dtype=torch.float32)
        got = fn(net, ab, betas, shape, n, torch.Generator().manual_seed(11))
        if got is None:
            return None
        want = ancestral_sample(net, sched, shape, n, "eps", sigma="beta", generator=torch.Generator().manual_seed(11))
        draw = lambda **kw: ref_sample(net, ab, betas, shape, n, torch.Generator().manual_seed(11), **kw)   # noqa: E731
        mistakes = {
            "noise added at the last step (Algorithm 2 adds none to x_0)":
                lambda: draw(noise_at_1=True),
            "sigma_t used as a variance (z is scaled by a standard deviation)": lambda: draw(sigma_is_variance=True),
            "t off by one in the model's input": lambda: draw(t_shift=1),
        }
        problem = _compare(got, want.float(), {k: (lambda *a, f=f: f()) for k, f in mistakes.items()}, (), tol=1e-3)
        if problem:
            return problem
    return ""


# ---------------------------------------------------------------------------- shared
def _compare(got, want, mistakes: dict, args: tuple, tol: float = 1e-6) -> str:
    """"" when ``got`` is ``want``; else the hint of the typical mistake it matches, or a sentence on what differs."""
    if not isinstance(got, torch.Tensor):
        return f"the function should return a torch tensor, not a {type(got).__name__}"
    if got.shape != want.shape:
        return (f"the result has shape {tuple(got.shape)}, the package's {tuple(want.shape)}: a per-t number gathered "
                "with [t] has shape (B,); reshape it to (B, 1, ..., 1) to broadcast over an example")
    close = lambda a, b: torch.allclose(a.double(), b.double(), rtol=tol, atol=tol)           # noqa: E731
    if close(got, want):
        return ""
    for kind, mistake in mistakes.items():
        other = mistake(*args)
        if other.shape == got.shape and close(got, other):
            return f"it looks like {kind}"
    return "the numbers differ from the package's"


def _hinted(check, idea: str):
    def run(fn):
        try:
            problem = check(fn)
        except Exception as err:  # noqa: BLE001 - a student's error is a hint, never a traceback
            text = str(err).splitlines()[0][:160] if str(err) else ""
            if isinstance(err, TypeError) and "NoneType" in text:
                return False, f"your function used something that is still None (is an earlier exercise done?): {text}"
            shape = " (a per-t number gathered with [t] has shape (B,): it must broadcast over each example)" \
                if "must match the size" in text else ""
            return False, f"your function raised {type(err).__name__}: {text}{shape}. Hint: {idea}"
        if problem is None:
            return None, "Your function returns None: replace `return None` with your code."
        return (True, "Well done.") if problem == "" else (False, f"{problem[0].upper()}{problem[1:]}. Hint: {idea}")
    return run


CHECKS = {"08.1": _check_q_sample, "08.2": _check_loss, "08.3": _check_train_step, "08.4": _check_sample}
REFERENCES = {"08.1": ref_q_sample, "08.2": ref_loss, "08.3": ref_train_step, "08.4": ref_sample}


def run_check(exercise: str, fn, idea: str):
    """``(correct or None when unanswered, message)`` for the student's ``fn``; ``idea`` is the exercise's hint."""
    return _hinted(CHECKS[exercise], idea)(fn)
