"""One training loop for every target (eps, x0, v) and every weighting, with per-t bookkeeping.

Design:
* every random draw (batch indices, t, noise) comes from one ``torch.Generator`` seeded by
  ``config.seed``. On CUDA that generator lives on the GPU, so a step needs no host-to-device copy
  and no synchronisation (CPU and CUDA runs of one seed therefore draw different numbers); on the
  CPU and on MPS it is a CPU generator. A run resumed from a checkpoint continues exactly as if
  uninterrupted (on CPU: bit for bit, tested);
* ``config.compile=True`` compiles the model's forward pass with ``torch.compile`` for the step;
  the plain module stays in ``trainer.model``, so checkpoints and the EMA are unaffected;
* the loss at step t is ``w[t] * MSE`` in the target's own space, ``w`` from
  :func:`ddpm_edu.weighting.weight` (so Min-SNR on a v-model is the v-space Min-SNR);
* a :class:`PerTimestepTracker` keeps the running mean of the *unweighted* per-sample MSE in
  t-bins without a device sync per step; the EMA of the weights is what gets evaluated;
* a **family** of K models (the models a notebook compares) trains as one batched model: its
  parameters stacked (:class:`~ddpm_edu.models.StackedMLP`), every member with its own seed, data
  order, draws, target, weighting, t-sampling, EMA and per-t tracking. A step of the family is the
  step of one model with a leading axis of length K; the single model is the case K = 1, called as it
  is. :func:`train_family` splits a family into groups trained side by side, one per core
  (:mod:`ddpm_edu.threads`). Tested: each member ends as it would have alone (float64: to 1e-9).
"""

from __future__ import annotations

import copy
import math
import os
import pickle
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ._checks import MAX_N, MAX_T, Desc, bad, bad_type, check_bool, check_choice, check_data, check_generator, check_int, check_model_fits, check_module, check_real, check_timesteps
from .diffusion import TARGETS, convert
from .models import MLPDenoiser, StackedMLP
from .schedules import NoiseSchedule, check_schedule
from .threads import policy, side_by_side, split
from .weighting import WEIGHTINGS, weight

T_SAMPLING = ("uniform", "stratified", "importance")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


_DEVICES = "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/"auto": CUDA if available, then Apple's MPS, then the CPU; otherwise the named device."""
    if device is not None and not isinstance(device, (str, torch.device)):
        raise bad_type("device", device, _DEVICES)
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    _device_type(device)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise bad("device", device, "CUDA is not available on this machine; use 'auto' or 'cpu'")
    if dev.type == "mps" and not _mps_available():
        raise bad("device", device, "Apple's MPS is not available on this machine; use 'auto' or 'cpu'")
    return dev


def accumulator_dtype(device) -> torch.dtype:
    """float64 for running sums, except on Apple's MPS, which has no float64."""
    return torch.float32 if _device_type(device) == "mps" else torch.float64


def _device_type(device) -> str:
    """The type of a device name ("cpu", "cuda", "mps"), or a ValueError naming ``device``."""
    if not isinstance(device, (str, torch.device)):
        raise bad_type("device", device, _DEVICES)
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise bad("device", device, _DEVICES) from None
    if kind not in ("cpu", "cuda", "mps"):
        raise bad("device", device, _DEVICES)
    return kind


@dataclass
class TrainConfig:
    """Everything that defines a run. ``steps`` caps the number of steps, ``seconds`` the wall time
    (whichever comes first; ``None`` means no cap on that one)."""
    target: str = "eps"
    weighting: str = "simple"
    weighting_params: dict = field(default_factory=dict)
    steps: int | None = 2000
    seconds: float | None = None
    batch_size: int = 256
    lr: float = 1e-3
    ema_decay: float = 0.999
    t_sampling: str = "uniform"
    n_bins: int = 20
    log_every: int = 50
    seed: int = 0
    device: str | None = "auto"
    compile: bool = False
    dtype: str = "float32"        # "float64" for checks: a family against its members trained alone, to 1e-9

    def __post_init__(self):
        self.validate()

    def validate(self) -> "TrainConfig":
        check_choice("target", self.target, TARGETS)
        check_choice("weighting", self.weighting, tuple(WEIGHTINGS))
        check_choice("t_sampling", self.t_sampling, T_SAMPLING)
        if not isinstance(self.weighting_params, dict):
            raise bad_type("weighting_params", self.weighting_params, "weighting_params must be a dict, e.g. {'gamma': 5.0}")
        allowed = WEIGHTINGS[self.weighting].defaults
        unknown = sorted(set(self.weighting_params) - set(allowed))
        if unknown:
            raise bad("weighting_params", self.weighting_params,
                      f"weighting {self.weighting!r} takes: {', '.join(allowed) or 'no parameters'}")
        if self.steps is None and self.seconds is None:
            raise bad("steps", None, "give steps or seconds (or both): a run needs an end")
        if self.steps is not None:
            check_int("steps", self.steps, 1, 10 ** 9)
        if self.seconds is not None:
            check_real("seconds", self.seconds, low=0)
        check_int("batch_size", self.batch_size, 1, MAX_N)
        check_real("lr", self.lr, low=0, high=10)
        check_real("ema_decay", self.ema_decay, low=0, high=1, low_open=False)
        check_int("n_bins", self.n_bins, 1, MAX_T)
        check_int("log_every", self.log_every, 1)
        check_int("seed", self.seed, 0, 2 ** 63 - 1)
        if self.device is not None and not isinstance(self.device, (str, torch.device)):
            raise bad_type("device", self.device, _DEVICES)
        check_bool("compile", self.compile)
        check_choice("dtype", self.dtype, tuple(DTYPES))
        return self


class PerTimestepTracker:
    """Running sums of a per-sample loss in ``n_bins`` equal bins of t = 1..T, kept on the device.

    ``update`` costs two ``index_add_`` calls and no host sync; ``snapshot`` returns the mean per bin
    since the previous snapshot (NaN for a bin that got no sample in that window) and starts a new
    window. ``bin_edges[i]..bin_edges[i+1]-1`` are the steps of bin i. With ``members=K`` it keeps K
    rows (one per model of a family): ``update`` then takes t and losses of shape (K, B) and
    ``snapshot`` returns (K, n_bins).
    """

    def __init__(self, T: int, n_bins: int = 20, device="cpu", members: int | None = None):
        self.T, self.n_bins = check_int("T", T, 1, MAX_T), min(check_int("n_bins", n_bins, 1, MAX_T), T)
        self.members = None if members is None else check_int("members", members, 1, 4096)
        dtype = accumulator_dtype(device)
        self.sums = torch.zeros(self.members or 1, self.n_bins, dtype=dtype, device=device)
        self.counts = torch.zeros_like(self.sums)
        self.bin_edges = [1 + (i * T) // self.n_bins for i in range(self.n_bins + 1)]
        self._bin_of_t = torch.tensor([0] + [(t - 1) * self.n_bins // T for t in range(1, T + 1)], device=device)

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        t, losses = t.reshape(-1, t.shape[-1]), losses.reshape(-1, losses.shape[-1])
        row = torch.arange(t.shape[0], device=t.device)[:, None] * self.n_bins
        b = (self._bin_of_t[t] + row).reshape(-1)
        self.sums.view(-1).index_add_(0, b, losses.detach().reshape(-1).to(self.sums.dtype))
        self.counts.view(-1).index_add_(0, b, torch.ones_like(self.sums.view(-1)[b]))

    def snapshot(self) -> torch.Tensor:
        means = torch.where(self.counts > 0, self.sums / self.counts.clamp_min(1), torch.full_like(self.sums, math.nan))
        self.sums.zero_(); self.counts.zero_()
        means = means.to("cpu", torch.float64)
        return means[0] if self.members is None else means

    def bin_centers(self) -> list:
        return [(self.bin_edges[i] + self.bin_edges[i + 1] - 1) / 2 for i in range(self.n_bins)]


class LossSecondMomentSampler:
    """Importance sampling of t with p(t) proportional to sqrt(E[L_t^2]) (Nichol & Dhariwal 2021,
    sec. 3.3; improved-diffusion's ``LossSecondMomentResampler``), from the last ``history`` losses
    seen at each t, mixed with ``uniform_prob`` of the uniform distribution. Until every t has a
    full history it samples uniformly. Each sample carries the weight 1 / (T p(t)), so the
    reweighted loss is an unbiased estimate of the uniform-t loss.
    """

    def __init__(self, T: int, history: int = 10, uniform_prob: float = 0.001):
        self.T = check_int("T", T, 1, MAX_T)
        self.history = check_int("history", history, 1, 10_000)
        self.uniform_prob = check_real("uniform_prob", uniform_prob, low=0, high=1, low_open=False, high_open=False)
        self.losses = torch.zeros(T + 1, self.history, dtype=torch.float64)
        self.counts = torch.zeros(T + 1, dtype=torch.int64)

    def warmed_up(self) -> bool:
        return bool((self.counts[1:] >= self.history).all())

    def probs(self) -> torch.Tensor:
        """p(t) for t = 0..T (p(0) = 0)."""
        p = torch.zeros(self.T + 1, dtype=torch.float64)
        if not self.warmed_up():
            p[1:] = 1.0 / self.T
            return p
        rms = (self.losses[1:] ** 2).mean(dim=1).sqrt()
        if not torch.isfinite(rms).all() or rms.sum() <= 0:
            p[1:] = 1.0 / self.T
            return p
        p[1:] = (1 - self.uniform_prob) * rms / rms.sum() + self.uniform_prob / self.T
        return p

    def sample(self, n: int, generator: torch.Generator):
        """``(t, weights)``: n steps and their importance weights 1 / (T p(t))."""
        n = check_int("n", n, 1, MAX_N)
        check_generator("generator", generator)
        p = self.probs()
        t = torch.multinomial(p, n, replacement=True, generator=generator)
        return t, 1.0 / (self.T * p[t])

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        t = t.cpu(); losses = losses.detach().to("cpu", torch.float64)
        order = torch.argsort(t, stable=True)
        ts, ls = t[order], losses[order]
        first = torch.searchsorted(ts, ts, right=False)            # where each t's run starts
        rank = torch.arange(len(ts)) - first                       # position within its run
        slot = (self.counts[ts] + rank) % self.history
        self.losses[ts, slot] = ls
        self.counts += torch.bincount(ts, minlength=self.T + 1)

    def state_dict(self) -> dict:
        return {"losses": self.losses.clone(), "counts": self.counts.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.losses.copy_(state["losses"]); self.counts.copy_(state["counts"])


def stratified_t(n: int, T: int, generator: torch.Generator) -> torch.Tensor:
    """n steps, one in each of n equal strata of 1..T, in random order (antithetic/stratified
    sampling: every batch covers the whole range, which lowers the variance of the batch loss).
    Drawn on the generator's device (the CPU or a CUDA device)."""
    n = check_int("n", n, 1, MAX_N)
    T = check_int("T", T, 1, MAX_T)
    dev = check_generator("generator", generator).device
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=dev)
    strata = torch.randperm(n, generator=generator, device=dev).to(torch.float64)
    return (((strata + u) * T / n).floor().long() + 1).clamp(1, T)


@dataclass
class TrainResult:
    """What a run leaves behind (all on the CPU)."""
    model: nn.Module
    ema: nn.Module
    steps: int
    seconds: float
    device: str
    log_steps: list
    log_seconds: list
    log_loss: list            # mean weighted training loss over each logging window
    bin_history: torch.Tensor  # (n_logs, n_bins): per-bin mean unweighted MSE in each window
    bin_edges: list
    config: dict


# what the members of a family must share: they step together, with one optimizer over stacked parameters
SHARED = ("steps", "seconds", "batch_size", "lr", "ema_decay", "n_bins", "log_every", "device", "compile", "dtype")


class _Member:
    """One model's own random stream, t-sampling rule and importance-sampling table (a family has K)."""

    def __init__(self, config: TrainConfig, T: int, device: torch.device):
        self.config, self.T = config, T
        # random draws on the GPU for CUDA (no copy, no sync per step), on the CPU otherwise
        self.gen = torch.Generator(device if device.type == "cuda" else "cpu").manual_seed(config.seed)
        self.sampler = LossSecondMomentSampler(T) if config.t_sampling == "importance" else None
        self.sampler_gen = self.gen if self.gen.device.type == "cpu" else torch.Generator().manual_seed(config.seed + 1)

    def sample_t(self, n: int):
        """``(t, importance weights or None)`` for a batch of n, by this member's rule."""
        if self.config.t_sampling == "uniform":
            return torch.randint(1, self.T + 1, (n,), generator=self.gen, device=self.gen.device), None
        if self.config.t_sampling == "stratified":
            return stratified_t(n, self.T, self.gen), None
        return self.sampler.sample(n, self.sampler_gen)       # the sampler's table lives on the CPU

    def draw(self, n: int, n_data: int, shape: tuple):
        """Batch indices, steps, importance weights and noise of one step, in the order a run alone draws them."""
        g = self.gen
        idx = torch.randint(0, n_data, (n,), generator=g, device=g.device)
        t, iw = self.sample_t(n)
        return idx, t, iw, torch.randn((n,) + shape, generator=g, device=g.device)


class Trainer:
    """Holds a run's whole state, so it can be stepped, checkpointed and resumed: one model, or a family.

    ``Trainer(model, data, schedule, config)`` trains one model. ``Trainer([m_1, ..., m_K], data, schedule,
    [config_1, ..., config_K])`` trains K residual MLPs of one shape as one batched model (a
    :class:`~ddpm_edu.models.StackedMLP`): each member keeps its own target, weighting, t-sampling, seed,
    data order, EMA, optimizer state and per-t tracking, and ends as it would have alone (tested). The
    single model is the case K = 1 of the same steps. ``data``: a tensor ``(N, ...)`` of training
    examples (already scaled), or, for a family, a list of K such tensors of one shape.
    """

    def __init__(self, model, data, schedule: NoiseSchedule, config):
        self.family = isinstance(model, (list, tuple))
        models, datas, configs = _family_arguments(model, data, config)
        self.configs, self.config, self.K = configs, configs[0], len(models)
        self.device, dtype = pick_device(self.config.device), DTYPES[self.config.dtype]
        self.schedule = check_schedule("schedule", schedule)
        self.model = (StackedMLP(models) if self.family else models[0]).to(self.device, dtype)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self._params, self._ema_params = list(self.model.parameters()), list(self.ema.parameters())
        self.opt = torch.optim.Adam(self._params, lr=self.config.lr, **({"fused": True} if self.device.type in ("cpu", "cuda") else {}))
        self.forward = torch.compile(self.model) if self.config.compile else self.model
        self.data = torch.stack(datas).to(self.device, dtype)                  # (1 or K, N, ...)
        self.members = [_Member(c, schedule.T, self.device) for c in configs]
        # per-t tables, one row per member: the loss weight, and the target as c_noise * eps + c_x0 * x0
        s32 = schedule.to(self.device, dtype)
        shape = (-1,) + (1,) * (self.data.dim() - 2)
        self._a, self._s = s32.alpha_bars.sqrt().reshape(shape), s32.one_minus_alpha_bars.sqrt().reshape(shape)
        self._w = torch.stack([_finite_weight(schedule, c) for c in configs]).to(self.device, dtype)
        coef = {"eps": (torch.ones_like(s32.snr), torch.zeros_like(s32.snr)), "x0": (torch.zeros_like(s32.snr), torch.ones_like(s32.snr)),
                "v": (s32.alpha_bars.sqrt(), -s32.one_minus_alpha_bars.sqrt())}          # v = sqrt(abar) eps - sqrt(1 - abar) x0
        self._c_noise, self._c_x0 = (torch.stack([coef[c.target][i] for c in configs]) for i in (0, 1))
        self.tracker = PerTimestepTracker(schedule.T, self.config.n_bins, self.device, members=self.K)
        self.step, self.seconds = 0, 0.0
        self.log_steps, self.log_seconds, self.log_loss, self.bins = [], [], [], []
        self._loss_sum = torch.zeros(self.K, dtype=dtype, device=self.device)
        self._first_bad = torch.full((self.K,), -1, dtype=torch.int64, device=self.device)   # first non-finite loss

    # ---------------------------------------------------------------- one step, in named parts
    def train_step(self) -> None:
        """One optimizer step of every member: draw, form x_t, predict, weigh, step, track."""
        idx, t, iw, noise = self.draw()
        x0 = self.batch(idx)
        x_t = self.noised(x0, t, noise)
        mse = self.error(self.predict(x_t, t), x0, noise, t)     # (K, B): unweighted MSE in each member's target space
        loss = self.weigh(mse, t, iw)                           # (K,): each member's weighted batch loss
        self.optimise(loss)
        self.track(t, mse, loss)

    def draw(self):
        """Each member's batch indices, steps t and noise, from its own generator: (K, B), (K, B), (K, B, ...);
        the importance weights 1 / (T p(t)) as (K, B), or None when no member samples t by importance."""
        n, shape = self.config.batch_size, tuple(self.data.shape[2:])
        idx, t, iw, noise = zip(*(m.draw(n, self.data.shape[1], shape) for m in self.members))
        iw = None if all(w is None for w in iw) else torch.stack(
            [torch.ones(n, dtype=torch.float64) if w is None else w for w in iw]).to(self.device, self._w.dtype)
        return torch.stack(idx).to(self.device), torch.stack(t).to(self.device), iw, torch.stack(noise).to(self.device)

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """x0, (K, B, ...): row k holds member k's examples ``idx[k]`` of its data."""
        if self.data.shape[0] == 1:
            return self.data[0][idx]
        return self.data[torch.arange(self.K, device=self.device)[:, None], idx]

    def noised(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha-bar_t) x0 + sqrt(1 - alpha-bar_t) eps (Ho et al. 2020, eq. 4)."""
        return self._a[t] * x0 + self._s[t] * noise

    def predict(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The model's output for every member; a single model is called as it is, on row 0."""
        if not self.family:
            return self.forward(x_t[0], t[0]).unsqueeze(0)
        return self.forward(x_t, t)

    def error(self, pred, x0, noise, t) -> torch.Tensor:
        """Per-sample MSE against each member's target: eps, x0, or v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0."""
        c = lambda table: table.gather(1, t).reshape(t.shape + (1,) * (x0.dim() - 2))
        target = c(self._c_noise) * noise + c(self._c_x0) * x0
        return (pred - target).square().flatten(2).mean(2)

    def weigh(self, mse: torch.Tensor, t: torch.Tensor, iw) -> torch.Tensor:
        """Each member's loss: the batch mean of w[t] MSE (times 1 / (T p(t)) where t is drawn by importance)."""
        per_sample = self._w.gather(1, t) * mse
        return (per_sample if iw is None else per_sample * iw).mean(1)

    def optimise(self, loss: torch.Tensor) -> None:
        """Adam on the sum of the members' losses (they share no parameter: each gets its own gradient), then the EMA."""
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()
        self.step += 1
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))     # EMA warm-up
        with torch.no_grad():
            torch._foreach_lerp_(self._ema_params, self._params, 1 - decay)

    def track(self, t: torch.Tensor, mse: torch.Tensor, loss: torch.Tensor) -> None:
        """Per-t running means, the importance tables, the logged loss; the first non-finite loss (no host sync)."""
        self.tracker.update(t, mse.detach())
        for k, m in enumerate(self.members):
            if m.sampler is not None:
                m.sampler.update(t[k], (self._w[k][t[k]] * mse[k]).detach())
        loss = loss.detach()
        self._loss_sum += loss
        self._first_bad = torch.where((self._first_bad < 0) & ~torch.isfinite(loss),
                                      torch.full_like(self._first_bad, self.step), self._first_bad)

    def check_finite(self) -> None:
        """Raise ``FloatingPointError`` naming the first step whose loss was NaN or infinite."""
        for k, first in enumerate(self._first_bad.tolist()):
            if first >= 0:
                cfg = self.configs[k]
                raise FloatingPointError(
                    f"the training loss became NaN or infinite at step {first} (target={cfg.target!r}, "
                    f"weighting={cfg.weighting!r}, lr={cfg.lr:g}): likely causes are a learning rate too large for this "
                    "weighting, or weights that span many orders of magnitude (try a smaller lr or the simple weighting)")

    def _log(self, window: int) -> None:
        self.check_finite()
        self.log_steps.append(self.step)
        self.log_seconds.append(self.seconds)
        self.log_loss.append([v / window for v in self._loss_sum.tolist()])
        self._loss_sum.zero_()
        self.bins.append(self.tracker.snapshot())

    # ---------------------------------------------------------------- the loop
    @policy
    def run(self, progress: bool = True, checkpoint_path: str | None = None, checkpoint_every: int | None = None,
            on_step=None):
        """Train until ``config.steps`` or ``config.seconds``; returns a :class:`TrainResult` (a list of them,
        one per member, for a family).

        ``progress``: a text progress bar on stderr with the time left (plain text, so a saved
        notebook shows the final count, not a widget that needs a kernel). ``on_step(trainer)`` is
        called after every step (e.g. to keep snapshots of the EMA model).
        """
        cfg = self.config
        bar = progress_bar(cfg.steps, self.step, progress, "/".join(f"{c.target}/{c.weighting}" for c in self.configs))
        start = time.perf_counter() - self.seconds
        window = 0
        self.model.train()
        while (cfg.steps is None or self.step < cfg.steps) and (cfg.seconds is None or self.seconds < cfg.seconds):
            self.train_step()
            window += 1
            self.seconds = time.perf_counter() - start
            if on_step is not None:
                on_step(self)
            if self.step % cfg.log_every == 0:
                self._log(window)
                window = 0
                bar.update(cfg.log_every)
                bar.set_postfix(loss=f"{sum(self.log_loss[-1]):.4f}", refresh=False)
            if checkpoint_path and checkpoint_every and self.step % checkpoint_every == 0:
                self.save(checkpoint_path)
        if window:
            self._log(window)
        bar.close()
        return self.results() if self.family else self.result()

    def ema_models(self) -> list:
        """Each member's EMA model as a plain module (copies, on the CPU, in eval mode)."""
        return [m.to("cpu").eval() for m in _members_of(self.ema, self.family)]

    def results(self) -> list:
        """A :class:`TrainResult` per member (copies, on the CPU)."""
        bins = torch.stack(self.bins) if self.bins else torch.empty(0, self.K, self.tracker.n_bins)
        return [TrainResult(model=m.to("cpu").eval(), ema=e, steps=self.step, seconds=self.seconds, device=str(self.device),
                            log_steps=list(self.log_steps), log_seconds=list(self.log_seconds),
                            log_loss=[row[k] for row in self.log_loss], bin_history=bins[:, k].clone(),
                            bin_edges=list(self.tracker.bin_edges), config=asdict(self.configs[k]))
                for k, (m, e) in enumerate(zip(_members_of(self.model, self.family), self.ema_models()))]

    def result(self) -> TrainResult:
        return self.results()[0]              # the run's TrainResult (for a family, member 0's)

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
            "step": self.step, "seconds": self.seconds, "K": self.K,
            "generators": [m.gen.get_state() for m in self.members], "generator_device": self.members[0].gen.device.type,
            "samplers": [m.sampler.state_dict() if m.sampler is not None else None for m in self.members],
            "sampler_generators": [m.sampler_gen.get_state() for m in self.members],
            "log_steps": list(self.log_steps), "log_seconds": list(self.log_seconds), "log_loss": [list(r) for r in self.log_loss],
            "bins": [b.clone() for b in self.bins], "loss_sum": self._loss_sum.cpu(),
            "tracker": {"sums": self.tracker.sums.cpu(), "counts": self.tracker.counts.cpu()},
            "T": self.schedule.T, "configs": [{k: v for k, v in asdict(c).items() if k != "weighting_params"} for c in self.configs],
        }

    def save(self, path: str) -> None:
        """Write a checkpoint atomically: to a temporary file first, then rename over ``path``."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)

    def load(self, path: str) -> "Trainer":
        """Restore a checkpoint written by :meth:`save` (loaded with ``weights_only=True``)."""
        state = _read_checkpoint(path)
        _check_checkpoint_fits(path, state, self)
        self.model.load_state_dict(state["model"]); self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["opt"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        for m, g, s, sg in zip(self.members, state["generators"], state["samplers"], state["sampler_generators"]):
            m.gen.set_state(g); m.sampler_gen.set_state(sg)
            if m.sampler is not None and s is not None:
                m.sampler.load_state_dict(s)
        self.log_steps, self.log_seconds = list(state["log_steps"]), list(state["log_seconds"])
        self.log_loss, self.bins = [list(r) for r in state["log_loss"]], list(state["bins"])
        self.tracker.sums.copy_(state["tracker"]["sums"]); self.tracker.counts.copy_(state["tracker"]["counts"])
        self._loss_sum.copy_(state["loss_sum"])
        return self


def _members_of(net: nn.Module, family: bool) -> list:
    return [net.member(k) for k in range(net.K)] if family else [copy.deepcopy(net)]


def _finite_weight(schedule: NoiseSchedule, config: TrainConfig) -> torch.Tensor:
    """The member's per-t loss weight in its target's space, refused where it is not finite."""
    w = weight(schedule, config.weighting, config.target, **config.weighting_params)
    if not torch.isfinite(w[1:]).all():
        t_bad = int((~torch.isfinite(w[1:])).nonzero()[0]) + 1
        raise bad("weighting_params", config.weighting_params,
                  f"weighting {config.weighting!r} with these parameters is {float(w[t_bad])} at t = {t_bad}: "
                  "training on it gives an infinite loss (for the VLB with sigma='beta_tilde', keep clip_t1=True)")
    return w


def _family_arguments(model, data, config):
    """``(models, datas, configs)`` checked: one model, data tensor and config, or K of each (data may be shared)."""
    family = isinstance(model, (list, tuple))
    models = list(model) if family else [model]
    configs = (list(config) if isinstance(config, (list, tuple)) else None) if family else [config]
    if family and (configs is None or len(configs) != len(models) or not models):
        raise bad("config", Desc(f"{type(config).__name__}"), f"a family of {len(models)} models needs a list of "
                                                               f"{len(models)} TrainConfigs, one per model")
    for c in configs:
        if not isinstance(c, TrainConfig):
            raise bad_type("config", c, "config must be a TrainConfig (a list of them for a family)")
        c.validate()
    for key in SHARED:
        values = {repr(getattr(c, key)) for c in configs}
        if len(values) > 1:
            raise bad("config", Desc(f"configs with {key} = {', '.join(sorted(values))}"),
                      f"the models of a family step together: their configs must agree on {', '.join(SHARED)}")
    for i, m in enumerate(models):
        check_module(f"model[{i}]" if family else "model", m)
    datas = list(data) if family and isinstance(data, (list, tuple)) else [data]
    if len(datas) not in (1, len(models)):
        raise bad("data", Desc(f"a list of {len(datas)} tensors"), f"give one data tensor, or one per model ({len(models)})")
    datas = [check_data("data", d) for d in datas]
    if len({tuple(d.shape) for d in datas}) > 1:
        raise bad("data", Desc("tensors of different shapes"), "every member's data must have one shape (N, ...)")
    for m in models:
        check_model_fits("data", datas[0], m)
    return models, datas, configs


def _read_checkpoint(path) -> dict:
    if not isinstance(path, (str, os.PathLike)):
        raise bad_type("path", path, "path must be a file name")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, IndexError, KeyError, UnicodeDecodeError, pickle.UnpicklingError) as err:
        raise bad("path", str(path), f"cannot read a checkpoint there ({type(err).__name__}: {str(err)[:80]})") from None
    if not isinstance(state, dict) or "configs" not in state or "generators" not in state:
        raise bad("path", str(path), "this file is not a checkpoint written by Trainer.save")
    return state


def _check_checkpoint_fits(path, state: dict, trainer: Trainer) -> None:
    if state.get("K", 1) != trainer.K:
        raise bad("path", str(path), f"the checkpoint holds {state.get('K', 1)} models, this trainer {trainer.K}")
    for theirs, ours in zip(state["configs"], trainer.configs):
        for key in ("target", "weighting", "batch_size"):
            if key in theirs and theirs[key] != getattr(ours, key):
                raise bad("path", str(path), f"the checkpoint was trained with {key}={theirs[key]!r}, this trainer has "
                                             f"{key}={getattr(ours, key)!r}")
    if state.get("T", trainer.schedule.T) != trainer.schedule.T:
        raise bad("path", str(path), f"the checkpoint is of a T = {state['T']} run; this trainer's schedule has "
                                     f"T = {trainer.schedule.T}")
    saved_on, ours = state.get("generator_device", "cpu"), trainer.members[0].gen.device.type
    if saved_on != ours:
        raise bad("path", path, f"this checkpoint's random stream was drawn on {saved_on} and this trainer draws on "
                                f"{ours}; resume it with device='{saved_on}'")


def progress_bar(total, initial: int, show: bool, desc: str):
    """A plain-text progress bar on stderr with the time left (a saved notebook shows its last line)."""
    import sys

    from tqdm.std import tqdm

    return tqdm(total=total, initial=initial, disable=not show, desc=desc, file=sys.stderr, mininterval=1.0, ncols=90,
                ascii=" #", unit="step")


def train_family(models: list, data, schedule: NoiseSchedule, configs: list, progress: bool = True,
                 on_step=None) -> list:
    """Train the K models a notebook compares, as batched families side by side; one :class:`TrainResult` each.

    The K members are split into :func:`ddpm_edu.threads.workers` groups (one per core by default); each
    group is one :class:`Trainer` (a batched family, or a single model), and the groups train at the same
    time, one worker thread each, every torch operation on one thread. Each member ends as it would have
    alone: how it is grouped changes nothing but the time. ``data``: one tensor, or one per model.
    """
    if not isinstance(models, (list, tuple)) or not models:
        raise bad_type("models", models, "models must be a non-empty list of models (one per member)")
    _family_arguments(list(models), data, configs)
    k, per_data = len(models), isinstance(data, (list, tuple))
    plan = []                       # per worker: [(trainer, the members it trains)], run one after the other
    for g in split(k):
        if len(g) > 1 and all(isinstance(models[i], MLPDenoiser) for i in g):        # one batched family
            plan.append([(Trainer([models[i] for i in g], [data[i] for i in g] if per_data else data, schedule,
                                  [configs[i] for i in g]), g)])
        else:                                                                       # a single model (or not stackable)
            plan.append([(Trainer(models[i], data[i] if per_data else data, schedule, configs[i]), [i]) for i in g])
    trainers = [tr for work in plan for tr, _ in work]
    bar = progress_bar(configs[0].steps, 0, progress, f"{k} models, {len(plan)} side by side")
    shown = [0]

    def poll():
        done = min(tr.step for tr in trainers)
        bar.update(done - shown[0])
        shown[0] = done

    outs = side_by_side([lambda work=work: [tr.run(progress=False, on_step=on_step) for tr, _ in work] for work in plan],
                        poll=poll)
    poll()
    bar.close()
    results = [None] * k
    for work, out in zip(plan, outs):
        for (_, g), res in zip(work, out):
            for i, r in zip(g, res if isinstance(res, list) else [res]):
                results[i] = r
    return results


def train(model: nn.Module, data: torch.Tensor, schedule: NoiseSchedule, config: TrainConfig | None = None,
          progress: bool = True, **overrides) -> TrainResult:
    """Train ``model`` on ``data``: ``train(model, x, schedule, steps=2000, target="v")``."""
    if config is not None and not isinstance(config, TrainConfig):
        raise bad_type("config", config, "config must be a TrainConfig or None")
    config = copy.deepcopy(config) if config is not None else TrainConfig()
    for key, value in overrides.items():
        if key not in TrainConfig.__dataclass_fields__:
            raise bad(key, value, f"unknown training option; options are {', '.join(TrainConfig.__dataclass_fields__)}")
        setattr(config, key, value)
    config.validate()
    return Trainer(model, data, schedule, config).run(progress=progress)


# ---------------------------------------------------------------------------- evaluation
@dataclass
class PerTLoss:
    """Per-t evaluation with common random numbers. ``loss[space]`` and ``stderr[space]`` are
    arrays over ``t`` of the per-dimension MSE in that space (the same predictions, converted)."""
    t: torch.Tensor
    loss: dict
    stderr: dict
    target: str
    n: int


@policy
@torch.no_grad()
def evaluate_per_t(model: nn.Module, data: torch.Tensor, schedule: NoiseSchedule, target: str, t_values=None,
                   n: int = 512, seed: int = 1234, device=None) -> PerTLoss:
    """Per-t loss of ``model`` (a ``target``-predictor) on a fixed grid of t with fixed noise.

    The same ``n`` examples and the same noise are used at every t (common random numbers), so the
    differences between t are not sampling noise. Reported for all three spaces, with standard
    errors over the n examples.
    """
    check_module("model", model)
    check_schedule("schedule", schedule)
    check_choice("target", target, TARGETS)
    data = check_data("data", data)
    dev = pick_device(device)
    if t_values is None:
        t_values = torch.unique(torch.linspace(1, schedule.T, 50).round().long())
    t_values = check_timesteps("t_values", t_values, schedule.T).reshape(-1)
    if t_values.numel() < 1:
        raise bad("t_values", t_values, "t_values must name at least one step")
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2 ** 63 - 1))
    if data.shape[0] < 2:
        raise bad("data", Desc(f"tensor of shape {tuple(data.shape)}"), "data must hold at least 2 examples (for standard errors)")
    check_model_fits("data", data, model)
    n = min(check_int("n", n, 2, MAX_N), data.shape[0])
    idx = torch.randperm(data.shape[0], generator=g)[:n]
    x0 = data[idx].to(torch.float64)
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    p = next(model.parameters(), None)
    home = p.device if p is not None else torch.device("cpu")
    was_training = model.training
    model.to(dev).eval()
    try:
        loss, err = _per_t_loop(model, schedule, target, t_values, x0, noise, dev)
    finally:                                  # the caller's model stays where (and as) it was
        model.to(home).train(was_training)
    return PerTLoss(t=t_values, loss={k: torch.stack(v) for k, v in loss.items()},
                    stderr={k: torch.stack(v) for k, v in err.items()}, target=target, n=n)


def _per_t_loop(model, schedule, target, t_values, x0, noise, dev):
    n = x0.shape[0]
    loss = {sp: [] for sp in TARGETS}
    err = {sp: [] for sp in TARGETS}
    for t in t_values.tolist():
        tt = torch.full((n,), t, dtype=torch.int64)
        a = float(schedule.alpha_bars[t]) ** 0.5
        s = float(schedule.one_minus_alpha_bars[t]) ** 0.5
        x_t = a * x0 + s * noise
        pred = model(x_t.to(dev, torch.float32), tt.to(dev)).to("cpu", torch.float64)
        truth = {"eps": noise, "x0": x0, "v": a * noise - s * x0}
        for sp in TARGETS:
            p = convert(schedule, pred, x_t, tt, source=target, target=sp)
            per = (p - truth[sp]).square().flatten(1).mean(1)
            loss[sp].append(per.mean())
            err[sp].append(per.std() / math.sqrt(n))
    return loss, err


@policy
def gradient_noise(model: nn.Module, data: torch.Tensor, schedule: NoiseSchedule, target: str = "eps",
                   weighting: str = "simple", weighting_params: dict | None = None, batch_size: int = 256,
                   n_batches: int = 32, seed: int = 0) -> dict:
    """How noisy a minibatch gradient of an objective is, at the parameters of ``model``.

    Draws ``n_batches`` independent minibatches (uniform t, as in training), computes the gradient
    g_i of the weighted loss on each, and returns ``{"signal": ||mean g||^2, "noise": mean ||g_i -
    mean g||^2, "ratio": noise / signal}``. The weights are normalised to mean 1 over t, so two
    weightings are compared at the same overall scale (the ratio does not depend on it anyway). A
    high ratio means each step mostly follows noise: the difficulty Nichol & Dhariwal (2021, sec.
    3.3) report for optimising the VLB directly, whose few large small-t terms dominate a batch.
    """
    from .weighting import normalize

    check_module("model", model)
    check_schedule("schedule", schedule)
    check_choice("target", target, TARGETS)
    data = check_data("data", data).to(torch.float32)
    check_model_fits("data", data, model)
    batch_size = check_int("batch_size", batch_size, 1, MAX_N)
    n_batches = check_int("n_batches", n_batches, 2, 10_000)
    check_choice("weighting", weighting, tuple(WEIGHTINGS))
    if weighting_params is not None and not isinstance(weighting_params, dict):
        raise bad_type("weighting_params", weighting_params, "weighting_params must be a dict")
    w = normalize(weight(schedule, weighting, target, **(weighting_params or {}))).to(torch.float32)
    m = copy.deepcopy(model).to("cpu").train()
    params = [p for p in m.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    shape = (-1,) + (1,) * (data.dim() - 1)
    a_all = schedule.alpha_bars.sqrt().to(torch.float32)
    s_all = schedule.one_minus_alpha_bars.sqrt().to(torch.float32)
    grads = []
    for _ in range(n_batches):
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=g)
        t = torch.randint(1, schedule.T + 1, (batch_size,), generator=g)
        noise = torch.randn((batch_size,) + tuple(data.shape[1:]), generator=g)
        x0 = data[idx]
        a, s = a_all[t].reshape(shape), s_all[t].reshape(shape)
        x_t = a * x0 + s * noise
        tgt = {"eps": noise, "x0": x0, "v": a * noise - s * x0}[target]
        loss = (w[t] * (m(x_t, t) - tgt).square().flatten(1).mean(1)).mean()
        grads.append(torch.cat([gr.reshape(-1) for gr in torch.autograd.grad(loss, params)]).double())
    G = torch.stack(grads)
    mean = G.mean(0)
    signal = float(mean.square().sum())
    noise = float((G - mean).square().sum(1).mean())
    return {"signal": signal, "noise": noise, "ratio": noise / signal if signal > 0 else math.inf}
