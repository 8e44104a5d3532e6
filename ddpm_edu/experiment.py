"""One call from data to figures: the experiment notebooks 04-07 and the CLI share.

``run(data="digits", target="eps")`` trains a tiny model for the classroom budget, evaluates its
per-t loss (EMA weights, common random numbers, standard errors), computes the exact floor where
one exists, samples, and scores the samples (:mod:`ddpm_edu.quality`).

Budgets are step counts (:func:`budget`), so one seed gives the same figures on every machine, slow
or fast: a run always trains the steps it announces. ``DDPM_EDU_FAST=1`` (set by the test command)
shrinks every budget for CI. A time cap exists only on request (``seconds=`` or the environment
variable ``DDPM_EDU_MAX_SECONDS``); a capped run says so (``Experiment.complete`` is False, its
``steps_label()`` reads "1158 of 4000 steps"), and :func:`claim` skips, with a message, the claims
that need the full budget. ``DDPM_EDU_SEED`` picks the notebooks' seed (default 0): the slow test
runs the notebooks for seeds 0, 1 and 2.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field, fields

import torch

from ._checks import Desc, bad, bad_type, check_bool, check_choice, check_int, check_real
from .data import DATASETS, SPECS, DataSpec, gaussian_mixture_params, spec as data_spec
from .diffusion import TARGETS
from .evaluation import PerTLoss, evaluate_per_t
from .models import make_model
from .optimal import GaussianMixture
from .quality import sample_quality
from .sampling import ancestral_sample, sample_family
from .schedules import SCHEDULES, NoiseSchedule, check_schedule_reaches_noise
from .threads import policy
from .timesteps import T_SAMPLING
from .training import TrainConfig, TrainResult, Trainer, train_family
from .weighting import WEIGHTINGS



def _option(default, help: str, flag: str | None = None, **cli):
    """A :class:`RunConfig` field: its default, its help, and its ``ddpm-edu train`` flag (None: not a flag)."""
    return field(default=default, metadata={"help": help, "flag": flag, **cli})


@dataclass
class RunConfig:
    """A run's options, declared once (nanoGPT's ``GPTConfig``): :func:`run`, :func:`run_family` and
    ``ddpm-edu train`` (whose flags are built from these fields, ``cli.build_parser``) all read them here.

    The defaults: a residual MLP of width 128 with 2 blocks, batch 256, Adam at lr 2e-3, EMA 0.995, the eps
    target. README "Sample quality" gives the measurements behind them; notebook 05 turns the choice of target
    into a lesson. ``steps=None`` means the classroom budget (:func:`classroom_settings`), ``seconds=None`` the
    opt-in cap ``DDPM_EDU_MAX_SECONDS`` or none.
    """
    data: str = _option("digits", "data set", "--data", choices=DATASETS)
    target: str = _option("eps", "what the model predicts", "--target", choices=TARGETS)
    weighting: str = _option("simple", "loss weighting over t", "--weighting", choices=tuple(WEIGHTINGS))
    weighting_params: dict | None = _option(None, "the weighting's parameters, e.g. {'gamma': 5.0} (CLI: --param, --gamma)")
    schedule: str = _option("linear", "noise schedule", "--schedule", choices=SCHEDULES)
    T: int = _option(1000, "number of diffusion steps", "--T", kind=("int", 2))
    steps: int | None = _option(None, "training steps (default: the classroom budget, 4000; 300 with DDPM_EDU_FAST=1)",
                                "--steps", kind=("int", 1))
    seconds: float | None = _option(None, "optional time cap: stop early after this much wall time, and say so in "
                                          "metrics.json (\"complete\": false) (default: no cap)", "--seconds", kind=("float", 0))
    seed: int = _option(0, "seed of every random draw", "--seed", kind=("int", 0))
    device: str | None = _option("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps", "--device")
    width: int = _option(128, "hidden width of the network", "--width", kind=("int", 1))
    model: str = _option("mlp", "denoiser network", "--model", choices=("mlp", "conv"))
    batch_size: int = _option(256, "examples per step", "--batch-size", kind=("int", 1))
    lr: float = _option(2e-3, "Adam learning rate", "--lr", kind=("float", 0))
    ema_decay: float = _option(0.995, "EMA decay of the evaluated weights, in [0, 1]", "--ema", kind=("float", None))
    t_sampling: str = _option("uniform", "how each step draws t", "--t-sampling", choices=T_SAMPLING)
    sample_sigma: str = _option("beta", "the sampler's sigma_t^2: beta_t or beta-tilde_t", "--sample-sigma",
                                choices=("beta", "beta_tilde"))
    with_floor: bool = _option(True, "compute the exact floor (the Bayes-optimal denoiser's loss)")
    settings: dict | None = _option(None, "evaluation sizes and budgets like classroom_settings() (default: those)")
    compile: bool = _option(False, "compile the model's forward pass with torch.compile", "--compile", store_true=True)

    @classmethod
    def from_options(cls, **options) -> "RunConfig":
        """A checked config from keyword options; an unknown one is a ValueError naming it."""
        names = [f.name for f in fields(cls)]
        for key, value in options.items():
            if key not in names:
                raise bad(key, value, f"unknown run option; the options are {', '.join(names)}")
        return cls(**options).validate()

    def validate(self) -> "RunConfig":
        check_choice("data", self.data, DATASETS)
        check_choice("sample_sigma", self.sample_sigma, ("beta", "beta_tilde"))
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("model", self.model, ("mlp", "conv"))
        for name in ("with_floor", "compile"):
            check_bool(name, getattr(self, name))
        if self.weighting_params is not None and not isinstance(self.weighting_params, dict):
            raise bad_type("weighting_params", self.weighting_params, "weighting_params must be a dict, e.g. {'gamma': 5.0}")
        if self.settings is not None:
            if not isinstance(self.settings, dict):
                raise bad_type("settings", self.settings, "settings must be a dict like classroom_settings()")
            missing = sorted({"n_eval", "n_samples", "n_floor"} - set(self.settings))
            if missing:
                raise bad("settings", self.settings, f"settings must give {', '.join(missing)}")
            for key in ("n_eval", "n_samples", "n_floor"):
                check_int(f"settings['{key}']", self.settings[key], 4 if key == "n_samples" else 2)
        return self


DEFAULTS = {f.name: f.default for f in fields(RunConfig)}            # run()'s and the CLI's defaults, from RunConfig


def fast_mode() -> bool:
    """True when ``DDPM_EDU_FAST`` is set to a non-empty value other than 0: CI's and the tests' mode."""
    return os.environ.get("DDPM_EDU_FAST", "") not in ("", "0")


def seed() -> int:
    """The notebooks' seed: ``DDPM_EDU_SEED`` (a non-negative integer), 0 when unset."""
    raw = os.environ.get("DDPM_EDU_SEED", "0").strip() or "0"
    if not raw.isdigit():
        raise bad("DDPM_EDU_SEED", raw, "DDPM_EDU_SEED must be a non-negative integer")
    return int(raw)


def max_seconds() -> float | None:
    """The opt-in time cap per run, from ``DDPM_EDU_MAX_SECONDS`` (None when unset: no cap)."""
    raw = os.environ.get("DDPM_EDU_MAX_SECONDS", "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad("DDPM_EDU_MAX_SECONDS", raw, "DDPM_EDU_MAX_SECONDS must be a number of seconds > 0") from None
    return check_real("DDPM_EDU_MAX_SECONDS", value, low=0)


def classroom_settings(fast: bool | None = None) -> dict:
    """Budgets for notebooks and the CLI: the classroom run, or a few hundred steps in fast mode.

    4000 steps for a notebook's main run (about 30 s on a 2-core CPU), 2000 for each model where a
    notebook compares several, 1500 for each of notebook 07's four objectives (its claims were checked
    at that budget on three seeds). ``n_eval`` examples for the per-t curves, ``n_samples`` samples for
    the quality figures, ``n_floor`` draws for the exact floor."""
    fast = fast_mode() if fast is None else check_bool("fast", fast)
    if fast:
        return {"steps": 300, "compare_steps": 300, "objective_steps": 300, "n_eval": 256, "n_samples": 200,
                "n_floor": 500, "log_every": 25}
    return {"steps": 4000, "compare_steps": 2000, "objective_steps": 1500, "n_eval": 1024, "n_samples": 1000,
            "n_floor": 2000, "log_every": 50}


BUDGETS = {"one": "steps", "each": "compare_steps", "objectives": "objective_steps"}     # kind -> settings key


def budget(kind: str = "one", fast: bool | None = None) -> dict:
    """``{"steps", "seconds"}`` to pass to :func:`run`: ``"one"`` for a notebook's main run,
    ``"each"`` for each of several models trained to be compared, ``"objectives"`` for each objective
    notebook 07 trains. ``seconds`` is the opt-in cap (:func:`max_seconds`), None unless asked for."""
    check_choice("kind", kind, BUDGETS)
    if fast is not None:
        check_bool("fast", fast)
    s = classroom_settings(fast)
    return {"steps": s[BUDGETS[kind]], "seconds": max_seconds()}


def load_data(name: str, seed: int = 0):
    """``(train, held_out, shape)``: digits split 70/30 (stratified), or a toy set and an independent draw."""
    spec = data_spec(name)
    return (*spec.load(seed), spec.shape)


def exact_floor_mixture(name: str, train_data: torch.Tensor) -> GaussianMixture:
    """The mixture whose Bayes-optimal denoiser gives the exact floor: the true density for the
    Gaussian-mixture toy, the empirical distribution of the training set otherwise."""
    return _floor_mixture(data_spec(name), train_data)


def _floor_mixture(spec: DataSpec, train_data: torch.Tensor) -> GaussianMixture:
    if spec.true_density:
        return GaussianMixture(*gaussian_mixture_params())
    return GaussianMixture.empirical(train_data)


@dataclass
class Experiment:
    """Everything one run produced. ``planned_steps`` is the budget asked for; ``complete`` says
    whether the run trained all of it (False only under an opt-in time cap)."""
    data: str
    target: str
    weighting: str
    schedule: NoiseSchedule
    train: TrainResult
    per_t: PerTLoss
    floor: dict | None            # {"t", "loss", "stderr", "kind"} in the target's space
    samples: torch.Tensor
    quality: dict
    held_out: torch.Tensor = field(repr=False)
    train_data: torch.Tensor = field(repr=False, default=None)
    planned_steps: int | None = None
    snapshots: dict = field(default_factory=dict, repr=False)   # {step: EMA model} when asked for

    @property
    def complete(self) -> bool:
        return self.planned_steps is None or self.train.steps >= self.planned_steps

    def steps_label(self) -> str:
        """"4000 steps", or "1158 of 4000 steps (time cap)" for a run cut short."""
        if self.complete:
            return f"{self.train.steps} steps"
        return f"{self.train.steps} of {self.planned_steps} steps (time cap)"

    def metrics(self) -> dict:
        """The CLI's ``metrics.json`` content (per_t.loss is in the target's own space, ordered by t)."""
        m = {
            "device": self.train.device, "steps": self.train.steps, "planned_steps": self.planned_steps,
            "complete": self.complete, "seconds": round(self.train.seconds, 3),
            "data": self.data, "target": self.target, "weighting": self.weighting, "schedule": self.schedule.name,
            "T": self.schedule.T,
            "per_t": {"t": self.per_t.t.tolist(), "loss": self.per_t.loss[self.target].tolist(),
                      "stderr": self.per_t.stderr[self.target].tolist(), "space": self.target},
            "sample_quality": dict(self.quality),
            "config": {k: v for k, v in self.train.config.items()},
        }
        if self.floor is not None:
            m["floor"] = {k: (v.tolist() if torch.is_tensor(v) else v) for k, v in self.floor.items()}
        return m


def claim(ok: bool, statement: str, *runs: Experiment) -> None:
    """Assert a claim about trained models, or skip it, saying why, when it cannot be checked.

    A claim about training rests on the classroom budget. It is checked only when every run in
    ``runs`` trained all of it: not in fast mode (CI's few hundred steps), and not for a run cut
    short by an opt-in time cap. Skipped claims print one line instead of failing the notebook;
    the slow test runs the notebooks at the classroom budget for three seeds and checks them all.
    """
    if fast_mode():
        print(f"not checked in fast mode (runs of {budget()['steps']} steps): {statement}")
        return
    short = [r for r in runs if not r.complete]
    if short:
        print(f"not checked (a run trained {short[0].steps_label()}): {statement}")
        return
    assert ok, statement


@dataclass
class _Plan:
    """One run's config, data, schedule, model and training config (before training)."""
    config: RunConfig
    spec: DataSpec
    schedule: NoiseSchedule
    train_data: torch.Tensor
    held_out: torch.Tensor
    model: torch.nn.Module
    train_config: TrainConfig
    settings: dict

    @property
    def seed(self) -> int:
        return self.config.seed


def _plan(config: RunConfig) -> _Plan:
    """Everything a run needs before training, from a checked :class:`RunConfig`."""
    c = config
    settings = dict(classroom_settings() if c.settings is None else c.settings)
    sched = NoiseSchedule.by_name(c.schedule, T=c.T)
    check_schedule_reaches_noise(sched, c.T)
    spec = SPECS[c.data]                            # checked by RunConfig
    train_data, held_out = spec.load(c.seed)
    torch.manual_seed(c.seed)                       # model initialisation
    net = make_model(c.model, spec.shape, width=c.width)
    cfg = TrainConfig(target=c.target, weighting=c.weighting, weighting_params=c.weighting_params or {},
                      steps=settings["steps"] if c.steps is None else c.steps,
                      seconds=max_seconds() if c.seconds is None else c.seconds, batch_size=c.batch_size, lr=c.lr,
                      ema_decay=c.ema_decay, t_sampling=c.t_sampling, log_every=settings.get("log_every", 50),
                      seed=c.seed, device=c.device, compile=c.compile)
    return _Plan(c, spec, sched, train_data, held_out, net, cfg, settings)


def _finish(plan: _Plan, result: TrainResult, samples: torch.Tensor, snapshots: dict) -> Experiment:
    """Evaluate a trained run per t, compute its floor, score its samples."""
    c, seed, settings, sched = plan.config, plan.seed, plan.settings, plan.schedule
    per_t = evaluate_per_t(result.ema, plan.held_out, sched, c.target, n=settings["n_eval"], seed=seed + 1, device=c.device)
    floor = None
    if c.with_floor:
        mix = _floor_mixture(plan.spec, plan.train_data)
        mean, err = mix.optimal_loss(sched, per_t.t, n=settings["n_floor"], seed=seed + 2, space=c.target)
        floor = {"t": per_t.t, "loss": mean, "stderr": err,
                 "kind": "exact floor (the true density)" if plan.spec.true_density else
                 "memoriser, on its own training images (not a floor for held-out data)"}
    quality = sample_quality(c.data, samples, plan.held_out, plan.train_data, seed=seed)
    return Experiment(data=c.data, target=c.target, weighting=c.weighting, schedule=sched, train=result,
                      per_t=per_t, floor=floor, samples=samples, quality=quality, held_out=plan.held_out,
                      train_data=plan.train_data, planned_steps=plan.train_config.steps, snapshots=snapshots)


def _snapshot_keeper(snapshot_steps, steps, trainer: Trainer):
    """``(snapshots, on_step)``: copies of the EMA model at the steps asked for (step 0 taken now)."""
    if snapshot_steps is not None and not isinstance(snapshot_steps, (list, tuple, set, range)):
        raise bad_type("snapshot_steps", snapshot_steps, "snapshot_steps must be a list of step counts")
    wanted = sorted({check_int("snapshot_steps", s, 0, steps) for s in (snapshot_steps or [])})
    snapshots = {0: copy.deepcopy(trainer.ema).to("cpu").eval()} if 0 in wanted else {}

    def keep(tr):
        if tr.step in wanted:
            snapshots[tr.step] = copy.deepcopy(tr.ema).to("cpu").eval()

    return snapshots, (keep if wanted else None)


@policy
def run(data: str = "digits", *, progress: bool = True, snapshot_steps=None, **options) -> Experiment:
    """Train, evaluate per t, compute the floor, sample and score: ``run(data="digits", target="eps")``.

    ``options``: any field of :class:`RunConfig` (target, weighting, weighting_params, schedule, T, steps, seconds,
    seed, device, width, model, batch_size, lr, ema_decay, t_sampling, sample_sigma, with_floor, settings,
    compile). ``steps``: the budget (default: the classroom budget, :func:`classroom_settings`); ``seconds``:
    an optional cap (default: ``DDPM_EDU_MAX_SECONDS`` or none). ``snapshot_steps``: steps at which
    to keep a copy of the EMA model (``Experiment.snapshots``), e.g. to score samples along the run.
    """
    check_bool("progress", progress)
    plan = _plan(RunConfig.from_options(data=data, **options))
    trainer = Trainer(plan.model, plan.train_data, plan.schedule, plan.train_config)
    snapshots, keep = _snapshot_keeper(snapshot_steps, plan.train_config.steps, trainer)
    (result,) = trainer.run(progress=progress, on_step=keep)
    samples = draw_samples(result.ema, plan.schedule, plan.config.data, plan.config.target, plan.settings["n_samples"],
                           plan.seed, sigma=plan.config.sample_sigma)
    return _finish(plan, result, samples, snapshots)


MEMBER_OPTIONS = ("target", "weighting", "weighting_params", "t_sampling", "seed", "sample_sigma")


def _check_members(members: dict, shared: dict) -> None:
    if not isinstance(members, dict) or not members:
        raise bad_type("members", members, "members must be a non-empty dict {name: {option: value}}")
    for name, options in members.items():
        if not isinstance(options, dict):
            raise bad_type(f"members[{name!r}]", options, "each member must be a dict of options, e.g. {'target': 'v'}")
        unknown = sorted(set(options) - set(MEMBER_OPTIONS))
        if unknown:
            raise bad(f"members[{name!r}]", options, f"a member may set {', '.join(MEMBER_OPTIONS)}; "
                                                     f"pass {', '.join(unknown)} to run_family for all members")
    options = [f.name for f in fields(RunConfig) if f.name != "data"]
    unknown = sorted(set(shared) - set(options))
    if unknown:
        raise bad(unknown[0], shared[unknown[0]], f"run_family takes: members, data, progress, {', '.join(options)}")


@policy
def run_family(members: dict, data: str = "digits", progress: bool = True, **shared) -> dict:
    """:func:`run` for the models a notebook compares, trained and sampled together: ``{name: Experiment}``.

    ``members``: ``{name: {option: value}}`` with the options that differ between them (any of
    ``MEMBER_OPTIONS``: target, weighting, weighting_params, t_sampling, seed, sample_sigma); ``shared``:
    the other fields of :class:`RunConfig`, the same for all (steps, seconds, schedule, with_floor, settings, ...),
    and defaults for the member options.
    The models train as batched families side by side (:func:`ddpm_edu.training.train_family`) and are
    sampled the same way; each :class:`Experiment` is what :func:`run` with its options would give.
    """
    check_bool("progress", progress)
    _check_members(members, shared)
    plans = {name: _plan(RunConfig.from_options(data=data, **{**shared, **options})) for name, options in members.items()}
    ps = list(plans.values())
    if len({p.config.sample_sigma for p in ps}) > 1:
        raise bad("members", Desc("members with different sample_sigma"), "the members of a family are sampled together")
    results = train_family([p.model for p in ps], [p.train_data for p in ps], ps[0].schedule,
                           [p.train_config for p in ps], progress=progress)
    spec = ps[0].spec
    samples = sample_family([r.ema for r in results], ps[0].schedule, spec.shape, ps[0].settings["n_samples"],
                            [p.config.target for p in ps], sigma=ps[0].config.sample_sigma,
                            generators=[torch.Generator().manual_seed(p.seed + 3) for p in ps], clip_x0=spec.clip_x0)
    return {name: _finish(p, r, x.float(), {}) for (name, p), r, x in zip(plans.items(), results, samples)}


def draw_samples(model, sched: NoiseSchedule, data: str, target: str, n: int, seed: int, sigma: str = "beta"):
    """n ancestral samples in the data's shape and scale (x0 clipped at every step as ``DataSpec.clip_x0`` says)."""
    g = torch.Generator().manual_seed(seed + 3)
    spec = data_spec(data)
    return ancestral_sample(model, sched, spec.shape, n, target, sigma=sigma, generator=g, clip_x0=spec.clip_x0).float()


def quality_along_run(exp: Experiment, n: int | None = None, seed: int | None = None) -> list:
    """``[(step, quality report, samples)]`` for each EMA snapshot of ``exp`` (see ``snapshot_steps``),
    with ``n`` samples each (default: as many as ``exp.samples``)."""
    out = []
    s = exp.train.config["seed"] if seed is None else seed
    n = len(exp.samples) if n is None else check_int("n", n, 4)
    for step, model in sorted(exp.snapshots.items()):
        samples = draw_samples(model, exp.schedule, exp.data, exp.target, n, s)
        out.append((step, sample_quality(exp.data, samples, exp.held_out, exp.train_data, seed=s), samples))
    return out
