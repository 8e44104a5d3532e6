"""One training loop for any loss: every target (eps, x0, v) and weighting, and the continuous objectives.

Design:
* a loss is a small object (:mod:`ddpm_edu.losses`): it draws the batch, the noise levels and the noise,
  forms the input, calls the network and weighs the error. The :class:`Trainer` never mentions eps, x0 or v:
  it holds the optimiser, the EMA, the per-t tracking, the logs and the checkpoints (nanoGPT's ``train.py``:
  the loop alone);
* every random draw (batch indices, t, noise) comes from the members' ``torch.Generator`` objects, seeded by
  ``config.seed``. On CUDA that generator lives on the GPU, so a step needs no host-to-device copy
  and no synchronisation (CPU and CUDA runs of one seed therefore draw different numbers); on the
  CPU and on MPS it is a CPU generator. A run resumed from a checkpoint continues exactly as if
  uninterrupted (on CPU: bit for bit, tested);
* ``config.compile=True`` compiles the model's forward pass with ``torch.compile`` for the step;
  the plain module stays in ``trainer.model``, so checkpoints and the EMA are unaffected;
* the loss at step t is ``w[t] * MSE`` in the target's own space, ``w`` from
  :func:`ddpm_edu.weighting.weight` (so Min-SNR on a v-model is the v-space Min-SNR);
* a :class:`~ddpm_edu.timesteps.PerTimestepTracker` keeps the running mean of the *unweighted* per-sample MSE
  in t-bins without a device sync per step; the EMA of the weights is what gets evaluated;
* a **family** of K models (the models a notebook compares) trains as one batched model: its
  parameters stacked (:class:`~ddpm_edu.models.StackedMLP`), every member with its own seed, data
  order, draws, target, weighting, t-sampling, EMA and per-t tracking. A step of the family is the
  step of one model with a leading axis of length K; the single model is the case K = 1, called as it
  is. :func:`train_family` splits a family into groups trained side by side, one per core
  (:mod:`ddpm_edu.threads`). Tested: each member ends as it would have alone (float64: to 1e-9).

Measuring a trained model (``evaluate_per_t``, ``gradient_noise``) is :mod:`ddpm_edu.evaluation`; devices and
the progress bar are :mod:`ddpm_edu.runtime`; the t-samplers are :mod:`ddpm_edu.timesteps`. Their names stay
importable from here.
"""

from __future__ import annotations

import copy
import os
import pickle
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ._checks import MAX_N, MAX_T, Desc, bad, bad_type, check_bool, check_choice, check_data, check_int, check_model_fits, check_module, check_real
from .diffusion import TARGETS
from .evaluation import PerTLoss, evaluate_per_t, gradient_noise  # noqa: F401 - importable from here, as before
from .losses import DDPMLoss, ObjectiveLoss, ObjectiveModel, finite_weight
from .models import MLPDenoiser, StackedMLP
from .runtime import _DEVICES, accumulator_dtype, pick_device, progress_bar  # noqa: F401 - importable from here
from .schedules import NoiseSchedule, check_schedule
from .threads import fan_out, policy, split
from .timesteps import T_SAMPLING, LossSecondMomentSampler, PerTimestepTracker, stratified_t  # noqa: F401
from .weighting import WEIGHTINGS
from . import objectives as O

DTYPES = {"float32": torch.float32, "float64": torch.float64}


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


class Trainer:
    """Holds a run's whole state, so it can be stepped, checkpointed and resumed: one model, or a family.

    ``Trainer(model, data, schedule, config)`` trains one model on the DDPM loss of ``config``
    (:class:`~ddpm_edu.losses.DDPMLoss`). ``Trainer([m_1, ..., m_K], data, schedule, [config_1, ..., config_K])``
    trains K residual MLPs of one shape as one batched model (a :class:`~ddpm_edu.models.StackedMLP`): each
    member keeps its own target, weighting, t-sampling, seed, data order, EMA, optimizer state and per-t
    tracking, and ends as it would have alone (tested). The single model is the case K = 1 of the same steps.
    ``data``: a tensor ``(N, ...)`` of training examples (already scaled), or, for a family, a list of K such
    tensors of one shape. ``loss``: any other loss object with the interface of :mod:`ddpm_edu.losses` (then
    ``schedule`` may be None; :func:`train_objectives` passes an :class:`~ddpm_edu.losses.ObjectiveLoss`).
    """

    def __init__(self, model, data, schedule: NoiseSchedule | None, config, loss=None):
        self.family = isinstance(model, (list, tuple))
        models, datas, configs = _family_arguments(model, data, config)
        self.configs, self.config, self.K = configs, configs[0], len(models)
        self.device, dtype = pick_device(self.config.device), DTYPES[self.config.dtype]
        self.schedule = check_schedule("schedule", schedule) if loss is None else schedule
        self.model = (StackedMLP(models) if self.family else models[0]).to(self.device, dtype)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self._params, self._ema_params = list(self.model.parameters()), list(self.ema.parameters())
        self.opt = torch.optim.Adam(self._params, lr=self.config.lr, **({"fused": True} if self.device.type in ("cpu", "cuda") else {}))
        self.forward = torch.compile(self.model) if self.config.compile else self.model
        self.data = torch.stack(datas).to(self.device, dtype)                  # (1 or K, N, ...)
        self.loss = loss if loss is not None else _ddpm_loss(schedule, configs, self.device, dtype)
        self.tracker = None if self.schedule is None else \
            PerTimestepTracker(self.schedule.T, self.config.n_bins, self.device, members=self.K)
        self.step, self.seconds = 0, 0.0
        self.log_steps, self.log_seconds, self.log_loss, self.bins = [], [], [], []
        self._loss_sum = torch.zeros(self.K, dtype=accumulator_dtype(self.device), device=self.device)
        self._first_bad = torch.full((self.K,), -1, dtype=torch.int64, device=self.device)   # first non-finite loss

    # ---------------------------------------------------------------- one step
    def train_step(self) -> None:
        """One optimizer step of every member: the loss (draw, noise, predict, weigh), the step, the tracking."""
        loss, error, t = self.loss(self.predict, self.data)     # (K,), (K, B) unweighted MSE, (K, B) or None
        self.optimise(loss)
        self.track(t, error, loss)

    def predict(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The network on (K, B, ...) inputs and (K, B) noise levels; a single model is called as it is, on row 0."""
        if not self.family:
            return self.forward(x[0], c[0]).unsqueeze(0)
        return self.forward(x, c)

    def optimise(self, loss: torch.Tensor) -> None:
        """Adam on the sum of the members' losses (they share no parameter: each gets its own gradient), then the EMA."""
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()
        self.step += 1
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))     # EMA warm-up
        with torch.no_grad():
            torch._foreach_lerp_(self._ema_params, self._params, 1 - decay)

    def track(self, t, error: torch.Tensor, loss: torch.Tensor) -> None:
        """Per-t running means, the t-samplers' tables, the logged loss; the first non-finite loss (no host sync)."""
        if t is not None and self.tracker is not None:
            self.tracker.update(t, error.detach())
        self.loss.update(t, error)
        loss = loss.detach()
        self._loss_sum += loss
        self._first_bad = torch.where((self._first_bad < 0) & ~torch.isfinite(loss),
                                      torch.full_like(self._first_bad, self.step), self._first_bad)

    def check_finite(self) -> None:
        """Raise ``FloatingPointError`` naming the first step whose loss was NaN or infinite."""
        for k, first in enumerate(self._first_bad.tolist()):
            if first >= 0:
                raise FloatingPointError(
                    f"the training loss became NaN or infinite at step {first} ({self.loss.describe(k)}, "
                    f"lr={self.configs[k].lr:g}): likely causes are a learning rate too large for this "
                    "weighting, or weights that span many orders of magnitude (try a smaller lr or the simple weighting)")

    def _log(self, window: int) -> None:
        self.check_finite()
        self.log_steps.append(self.step)
        self.log_seconds.append(self.seconds)
        self.log_loss.append([v / window for v in self._loss_sum.tolist()])
        self._loss_sum.zero_()
        if self.tracker is not None:
            self.bins.append(self.tracker.snapshot())

    # ---------------------------------------------------------------- the loop
    @policy
    def run(self, progress: bool = True, checkpoint_path: str | None = None, checkpoint_every: int | None = None,
            on_step=None) -> list:
        """Train until ``config.steps`` or ``config.seconds``; returns a list of :class:`TrainResult`, one per
        member (:func:`train` returns the single model's).

        ``progress``: a text progress bar on stderr with the time left (plain text, so a saved
        notebook shows the final count, not a widget that needs a kernel). ``on_step(trainer)`` is
        called after every step (e.g. to keep snapshots of the EMA model).
        """
        cfg = self.config
        bar = progress_bar(cfg.steps, self.step, progress, "/".join(self.loss.describe(k) for k in range(self.K)))
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
        return self.results()

    def ema_models(self) -> list:
        """Each member's EMA model as a plain module (copies, on the CPU, in eval mode)."""
        return [m.to("cpu").eval() for m in _members_of(self.ema, self.family)]

    def results(self) -> list:
        """A :class:`TrainResult` per member (copies, on the CPU)."""
        return _results(self)

    def result(self) -> TrainResult:
        return self.results()[0]              # the run's TrainResult (for a family, member 0's)

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return _state_of(self)

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
        _restore(self, state)
        return self


def _results(tr: Trainer) -> list:
    n_bins = tr.tracker.n_bins if tr.tracker is not None else 0
    bins = torch.stack(tr.bins) if tr.bins else torch.empty(0, tr.K, n_bins)
    edges = list(tr.tracker.bin_edges) if tr.tracker is not None else []
    return [TrainResult(model=m.to("cpu").eval(), ema=e, steps=tr.step, seconds=tr.seconds, device=str(tr.device),
                        log_steps=list(tr.log_steps), log_seconds=list(tr.log_seconds),
                        log_loss=[row[k] for row in tr.log_loss], bin_history=bins[:, k].clone(),
                        bin_edges=edges, config=asdict(tr.configs[k]))
            for k, (m, e) in enumerate(zip(_members_of(tr.model, tr.family), tr.ema_models()))]


def _state_of(tr: Trainer) -> dict:
    """Everything a run needs to continue exactly: weights, EMA, optimiser, random streams, logs, tracker."""
    return {
        "model": tr.model.state_dict(), "ema": tr.ema.state_dict(), "opt": tr.opt.state_dict(),
        "step": tr.step, "seconds": tr.seconds, "K": tr.K, **tr.loss.state_dict(),
        "log_steps": list(tr.log_steps), "log_seconds": list(tr.log_seconds), "log_loss": [list(r) for r in tr.log_loss],
        "bins": [b.clone() for b in tr.bins], "loss_sum": tr._loss_sum.cpu(),
        "tracker": {"sums": tr.tracker.sums.cpu(), "counts": tr.tracker.counts.cpu()} if tr.tracker else None,
        "T": tr.schedule.T if tr.schedule is not None else None,
        "configs": [{k: v for k, v in asdict(c).items() if k != "weighting_params"} for c in tr.configs],
    }


def _restore(tr: Trainer, state: dict) -> None:
    """The inverse of :func:`_state_of`, on a trainer of the same shape (checked by the caller)."""
    tr.model.load_state_dict(state["model"]); tr.ema.load_state_dict(state["ema"])
    tr.opt.load_state_dict(state["opt"])
    tr.step, tr.seconds = int(state["step"]), float(state["seconds"])
    tr.loss.load_state_dict(state)
    tr.log_steps, tr.log_seconds = list(state["log_steps"]), list(state["log_seconds"])
    tr.log_loss, tr.bins = [list(r) for r in state["log_loss"]], list(state["bins"])
    if tr.tracker is not None:
        tr.tracker.sums.copy_(state["tracker"]["sums"]); tr.tracker.counts.copy_(state["tracker"]["counts"])
    tr._loss_sum.copy_(state["loss_sum"])


def _ddpm_loss(schedule: NoiseSchedule, configs: list, device, dtype) -> DDPMLoss:
    """The DDPM loss of K members from their configs."""
    return DDPMLoss(schedule, [c.target for c in configs],
                    [finite_weight(schedule, c.weighting, c.target, c.weighting_params) for c in configs],
                    [c.t_sampling for c in configs], [c.seed for c in configs], configs[0].batch_size, device, dtype,
                    labels=[f"target={c.target!r}, weighting={c.weighting!r}" for c in configs])


def _members_of(net: nn.Module, family: bool) -> list:
    return [net.member(k) for k in range(net.K)] if family else [copy.deepcopy(net)]


def _family_arguments(model, data, config):
    """``(models, datas, configs)`` checked: one model, data tensor and config, or K of each (data may be shared)."""
    family = isinstance(model, (list, tuple))
    models = list(model) if family else [model]
    configs = (list(config) if isinstance(config, (list, tuple)) else None) if family else [config]
    if family and (configs is None or len(configs) != len(models) or not models):
        raise bad("config", Desc(f"{type(config).__name__}"), f"a family of {len(models)} models needs a list of "
                                                               f"{len(models)} TrainConfigs, one per model")
    for c in configs:                   # each TrainConfig checked itself when it was made (or by train())
        if not isinstance(c, TrainConfig):
            raise bad_type("config", c, "config must be a TrainConfig (a list of them for a family)")
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
    T = trainer.schedule.T if trainer.schedule is not None else None
    if state.get("T", T) != T:
        raise bad("path", str(path), f"the checkpoint is of a T = {state['T']} run; this trainer's schedule has "
                                     f"T = {T}")
    saved_on, ours = state.get("generator_device", "cpu"), trainer.loss.gens[0].device.type
    if saved_on != ours:
        raise bad("path", path, f"this checkpoint's random stream was drawn on {saved_on} and this trainer draws on "
                                f"{ours}; resume it with device='{saved_on}'")


def _run_groups(trainers_of, k: int, steps, progress: bool, desc: str, run) -> list:
    """Build the trainers of each group (``trainers_of(group) -> [(trainer, member indices)]``), run the groups
    side by side (:func:`ddpm_edu.threads.fan_out`) with one progress bar, and return one result per member."""
    groups = split(k)
    plan = {tuple(g): trainers_of(g) for g in groups}
    trainers = [tr for work in plan.values() for tr, _ in work]
    bar = progress_bar(steps, 0, progress, desc)
    shown = [0]

    def poll():
        done = min(tr.step for tr in trainers)
        bar.update(done - shown[0])
        shown[0] = done

    def job(g):
        out = {}
        for tr, members in plan[tuple(g)]:
            out.update(zip(members, run(tr)))
        return [out[i] for i in g]

    results = fan_out(groups, job, poll=poll)
    poll()
    bar.close()
    return results


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
    per_data = isinstance(data, (list, tuple))
    pick = lambda idx: [data[i] for i in idx] if per_data else data   # noqa: E731

    def trainers_of(g):
        if len(g) > 1 and all(isinstance(models[i], MLPDenoiser) for i in g):        # one batched family
            return [(Trainer([models[i] for i in g], pick(g), schedule, [configs[i] for i in g]), g)]
        return [(Trainer(models[i], data[i] if per_data else data, schedule, configs[i]), [i]) for i in g]

    return _run_groups(trainers_of, len(models), configs[0].steps, progress, f"{len(models)} models",
                       lambda tr: tr.run(progress=False, on_step=on_step))


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
    return Trainer(model, data, schedule, config).run(progress=progress)[0]


@dataclass
class ObjectiveRun:
    name: str
    model: ObjectiveModel           # the EMA model, on the CPU, in eval mode
    steps: int
    seconds: float
    log_loss: list


@policy
def train_objective(net: nn.Module, data: torch.Tensor, name: str, steps: int, seed: int = 0, batch_size: int = 256,
                    lr: float = 2e-3, ema_decay: float = 0.995, progress: bool = False, **params) -> ObjectiveRun:
    """Train ``net`` on ``data`` (N, ...) with objective ``name`` for ``steps`` steps on the CPU; every draw seeded."""
    return train_objectives([net], data, [name], steps, seed=seed, batch_size=batch_size, lr=lr, ema_decay=ema_decay,
                            progress=progress, params=[params])[0]


def _objective_arguments(nets, data, names, steps, seed, batch_size, lr, ema_decay, params):
    if not isinstance(nets, (list, tuple)) or not nets:
        raise bad_type("nets", nets, "nets must be a non-empty list of networks, one per objective")
    for net in nets:
        check_module("net", net)
    if not isinstance(names, (list, tuple)) or len(names) != len(nets):
        raise bad("names", names, f"give one objective name per network ({len(nets)})")
    for name in names:
        check_choice("name", name, O.OBJECTIVES)
    data = check_data("data", data).to(torch.float32)
    check_int("steps", steps, 1, 10 ** 9)
    check_int("batch_size", batch_size, 1, MAX_N)
    check_real("lr", lr, low=0)
    check_real("ema_decay", ema_decay, low=0, high=1, low_open=False)
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed] * len(nets)
    if len(seeds) != len(nets):
        raise bad("seed", seed, f"give one seed, or one per objective ({len(nets)})")
    seeds = [check_int("seed", s, 0) for s in seeds]
    params = [{} for _ in nets] if params is None else list(params)
    if len(params) != len(nets) or not all(isinstance(p, dict) for p in params):
        raise bad("params", params, f"give a dict of parameters per objective ({len(nets)})")
    for name, p in zip(names, params):
        O._params(name, p)
    return data, seeds, params


@policy
def train_objectives(nets: list, data: torch.Tensor, names: list, steps: int, seed=0, batch_size: int = 256,
                     lr: float = 2e-3, ema_decay: float = 0.995, progress: bool = False, params: list | None = None) -> list:
    """Train ``nets[k]`` with objective ``names[k]``, all on ``data``, for ``steps`` steps each: one
    :class:`ObjectiveRun` per objective. The objectives train as batched families side by side
    (:func:`ddpm_edu.threads.split`), each exactly as it would alone, in the one :class:`Trainer` with an
    :class:`~ddpm_edu.losses.ObjectiveLoss`. ``seed``: one for all, or one each; ``params``: a dict of objective
    parameters per objective (default: none)."""
    data, seeds, params = _objective_arguments(nets, data, names, steps, seed, batch_size, lr, ema_decay, params)
    config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, ema_decay=ema_decay, device="cpu")

    def trainers_of(g):
        parts = [g] if len(g) > 1 and all(isinstance(nets[i], MLPDenoiser) for i in g) else [[i] for i in g]
        out = []
        for p in parts:
            loss = ObjectiveLoss([ObjectiveModel(nets[i], names[i]) for i in p], [params[i] for i in p],
                                 [seeds[i] for i in p], batch_size)
            model = [nets[i] for i in p] if len(p) > 1 else nets[p[0]]
            out.append((Trainer(model, data, None, [config] * len(p) if len(p) > 1 else config, loss=loss), p))
        return out

    def run(tr):
        return [ObjectiveRun(name=m.name, model=ObjectiveModel(r.ema, m.name).eval(), steps=r.steps, seconds=r.seconds,
                             log_loss=r.log_loss) for m, r in zip(tr.loss.models, tr.run(progress=False))]

    return _run_groups(trainers_of, len(nets), steps, progress, ", ".join(names), run)
