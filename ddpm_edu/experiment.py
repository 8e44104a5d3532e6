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
from dataclasses import dataclass, field

import torch

from ._checks import Desc, bad, bad_type, check_bool, check_choice, check_int, check_real
from .data import DATASETS, digits, gaussian_mixture_params, toy
from .models import make_model
from .optimal import GaussianMixture
from .quality import sample_quality
from .sampling import ancestral_sample, sample_family
from .schedules import NoiseSchedule
from .threads import policy
from .training import PerTLoss, TrainConfig, TrainResult, Trainer, evaluate_per_t, train_family

SCHEDULES = ("linear", "cosine", "scaled_linear", "sigmoid")


# The defaults of run() and of the CLI (one place): a residual MLP of width 128 with 2 blocks, batch
# 256, Adam at lr 2e-3, EMA 0.995, the eps target. README "Sample quality" gives the measurements
# behind them; notebook 05 turns the choice of target into a lesson.
DEFAULTS = {"target": "eps", "weighting": "simple", "schedule": "linear", "T": 1000, "model": "mlp",
            "width": 128, "batch_size": 256, "lr": 2e-3, "ema_decay": 0.995, "t_sampling": "uniform",
            "sample_sigma": "beta", "seed": 0}

# a chain must end close to pure noise, or samples started from N(0, I) cannot become data
MAX_ALPHA_BAR_T = 0.05


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
    check_choice("name", name, DATASETS)
    seed = check_int("seed", seed, 0)
    if name == "digits":
        from sklearn.model_selection import train_test_split

        images, labels = digits()
        idx = torch.arange(len(images))
        tr, te = train_test_split(idx.numpy(), test_size=0.3, random_state=seed, stratify=labels.numpy())
        return images[torch.as_tensor(tr)], images[torch.as_tensor(te)], (1, 8, 8)
    return toy(name, 4000, seed=seed), toy(name, 4000, seed=seed + 10_000), (2,)


def exact_floor_mixture(name: str, train_data: torch.Tensor) -> GaussianMixture:
    """The mixture whose Bayes-optimal denoiser gives the exact floor: the true density for the
    Gaussian-mixture toy, the empirical distribution of the training set otherwise."""
    check_choice("name", name, DATASETS)
    if name == "gaussian_mixture":
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


def check_schedule_reaches_noise(sched: NoiseSchedule, T: int) -> None:
    """Refuse a schedule whose chain does not end near pure noise (alpha-bar_T > 0.05)."""
    ab_T = float(sched.alpha_bars[-1])
    if ab_T > MAX_ALPHA_BAR_T:
        raise bad("T", T, f"with the {sched.name} schedule and T = {T}, alpha-bar_T = {ab_T:.4g} > {MAX_ALPHA_BAR_T}: "
                          "the chain does not reach noise, so samples started from N(0, I) cannot become data; "
                          "use a larger T (the linear schedule needs T >= 300)")


@dataclass
class _Plan:
    """One run's checked arguments, data, schedule, model and training config (before training)."""
    data: str
    target: str
    weighting: str
    sample_sigma: str
    schedule: NoiseSchedule
    train_data: torch.Tensor
    held_out: torch.Tensor
    model: torch.nn.Module
    config: TrainConfig
    settings: dict
    with_floor: bool
    device: object


def _plan(data: str = "digits", target: str = DEFAULTS["target"], weighting: str = DEFAULTS["weighting"],
          weighting_params: dict | None = None, schedule: str = DEFAULTS["schedule"], T: int = DEFAULTS["T"],
          steps: int | None = None, seconds: float | None = None, seed: int = DEFAULTS["seed"],
          device: str | None = "auto", width: int = DEFAULTS["width"], model: str = DEFAULTS["model"],
          batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"], ema_decay: float = DEFAULTS["ema_decay"],
          t_sampling: str = DEFAULTS["t_sampling"], sample_sigma: str = DEFAULTS["sample_sigma"],
          with_floor: bool = True, settings: dict | None = None, compile: bool = False) -> _Plan:
    check_choice("data", data, DATASETS)
    check_choice("sample_sigma", sample_sigma, ("beta", "beta_tilde"))
    check_choice("schedule", schedule, SCHEDULES)
    check_choice("model", model, ("mlp", "conv"))
    for name, flag in (("with_floor", with_floor), ("compile", compile)):
        check_bool(name, flag)
    if weighting_params is not None and not isinstance(weighting_params, dict):
        raise bad_type("weighting_params", weighting_params, "weighting_params must be a dict, e.g. {'gamma': 5.0}")
    if settings is not None:
        if not isinstance(settings, dict):
            raise bad_type("settings", settings, "settings must be a dict like classroom_settings()")
        missing = sorted(set(classroom_settings(fast=True)) - set(settings) - {"compare_steps", "objective_steps", "log_every"})
        if missing:
            raise bad("settings", settings, f"settings must give {', '.join(missing)}")
    settings = dict(classroom_settings() if settings is None else settings)
    for key in ("n_eval", "n_samples", "n_floor"):
        check_int(f"settings['{key}']", settings[key], 4 if key == "n_samples" else 2)
    steps = settings["steps"] if steps is None else steps
    seconds = max_seconds() if seconds is None else seconds
    sched = NoiseSchedule.by_name(schedule, T=T)
    check_schedule_reaches_noise(sched, T)
    train_data, held_out, shape = load_data(data, seed)
    torch.manual_seed(seed)                       # model initialisation
    net = make_model(model, shape, width=width)
    cfg = TrainConfig(target=target, weighting=weighting, weighting_params=weighting_params or {}, steps=steps,
                      seconds=seconds, batch_size=batch_size, lr=lr, ema_decay=ema_decay, t_sampling=t_sampling,
                      log_every=settings.get("log_every", 50), seed=seed, device=device, compile=compile)
    return _Plan(data, target, weighting, sample_sigma, sched, train_data, held_out, net, cfg, settings, with_floor, device)


def _finish(plan: _Plan, result: TrainResult, samples: torch.Tensor, snapshots: dict) -> Experiment:
    """Evaluate a trained run per t, compute its floor, score its samples."""
    seed, settings, sched = plan.config.seed, plan.settings, plan.schedule
    per_t = evaluate_per_t(result.ema, plan.held_out, sched, plan.target, n=settings["n_eval"], seed=seed + 1, device=plan.device)
    floor = None
    if plan.with_floor:
        mix = exact_floor_mixture(plan.data, plan.train_data)
        mean, err = mix.optimal_loss(sched, per_t.t, n=settings["n_floor"], seed=seed + 2, space=plan.target)
        floor = {"t": per_t.t, "loss": mean, "stderr": err,
                 "kind": "true density" if plan.data == "gaussian_mixture" else "empirical (memorising) denoiser of the training set"}
    quality = sample_quality(plan.data, samples, plan.held_out, plan.train_data, seed=seed)
    return Experiment(data=plan.data, target=plan.target, weighting=plan.weighting, schedule=sched, train=result,
                      per_t=per_t, floor=floor, samples=samples, quality=quality, held_out=plan.held_out,
                      train_data=plan.train_data, planned_steps=plan.config.steps, snapshots=snapshots)


@policy
def run(data: str = "digits", target: str = DEFAULTS["target"], weighting: str = DEFAULTS["weighting"],
        weighting_params: dict | None = None, schedule: str = DEFAULTS["schedule"], T: int = DEFAULTS["T"],
        steps: int | None = None, seconds: float | None = None, seed: int = DEFAULTS["seed"],
        device: str | None = "auto", width: int = DEFAULTS["width"], model: str = DEFAULTS["model"],
        batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"], ema_decay: float = DEFAULTS["ema_decay"],
        t_sampling: str = DEFAULTS["t_sampling"], sample_sigma: str = DEFAULTS["sample_sigma"],
        with_floor: bool = True, progress: bool = True, settings: dict | None = None, compile: bool = False,
        snapshot_steps=None) -> Experiment:
    """Train, evaluate per t, compute the floor, sample and score.

    ``steps``: the budget (default: the classroom budget, :func:`classroom_settings`); ``seconds``:
    an optional cap (default: ``DDPM_EDU_MAX_SECONDS`` or none). ``snapshot_steps``: steps at which
    to keep a copy of the EMA model (``Experiment.snapshots``), e.g. to score samples along the run.
    """
    check_bool("progress", progress)
    plan = _plan(data, target, weighting, weighting_params, schedule, T, steps, seconds, seed, device, width, model,
                 batch_size, lr, ema_decay, t_sampling, sample_sigma, with_floor, settings, compile)
    trainer = Trainer(plan.model, plan.train_data, plan.schedule, plan.config)
    snapshots = {}
    if snapshot_steps is not None and not isinstance(snapshot_steps, (list, tuple, set, range)):
        raise bad_type("snapshot_steps", snapshot_steps, "snapshot_steps must be a list of step counts")
    wanted = sorted({check_int("snapshot_steps", s, 0, plan.config.steps) for s in (snapshot_steps or [])})
    if 0 in wanted:
        snapshots[0] = copy.deepcopy(trainer.ema).to("cpu").eval()

    def keep(tr):
        if tr.step in wanted:
            snapshots[tr.step] = copy.deepcopy(tr.ema).to("cpu").eval()

    result = trainer.run(progress=progress, on_step=keep if wanted else None)
    samples = draw_samples(result.ema, plan.schedule, plan.data, plan.target, plan.settings["n_samples"], plan.config.seed,
                           sigma=plan.sample_sigma)
    return _finish(plan, result, samples, snapshots)


MEMBER_OPTIONS = ("target", "weighting", "weighting_params", "t_sampling", "seed", "sample_sigma")


@policy
def run_family(members: dict, data: str = "digits", progress: bool = True, **shared) -> dict:
    """:func:`run` for the models a notebook compares, trained and sampled together: ``{name: Experiment}``.

    ``members``: ``{name: {option: value}}`` with the options that differ between them (any of
    ``MEMBER_OPTIONS``: target, weighting, weighting_params, t_sampling, seed, sample_sigma); ``shared``:
    :func:`run`'s other arguments, the same for all (steps, seconds, schedule, with_floor, settings, ...),
    and defaults for the member options.
    The models train as batched families side by side (:func:`ddpm_edu.training.train_family`) and are
    sampled the same way; each :class:`Experiment` is what :func:`run` with its options would give.
    """
    check_bool("progress", progress)
    if not isinstance(members, dict) or not members:
        raise bad_type("members", members, "members must be a non-empty dict {name: {option: value}}")
    for name, options in members.items():
        if not isinstance(options, dict):
            raise bad_type(f"members[{name!r}]", options, "each member must be a dict of options, e.g. {'target': 'v'}")
        unknown = sorted(set(options) - set(MEMBER_OPTIONS))
        if unknown:
            raise bad(f"members[{name!r}]", options, f"a member may set {', '.join(MEMBER_OPTIONS)}; "
                                                     f"pass {', '.join(unknown)} to run_family for all members")
    unknown = sorted(set(shared) - set(_RUN_OPTIONS) - set(MEMBER_OPTIONS))
    if unknown:
        raise bad(unknown[0], shared[unknown[0]], f"run_family takes: members, data, progress, "
                                                  f"{', '.join(_RUN_OPTIONS + MEMBER_OPTIONS)}")
    plans = {name: _plan(data=data, **{**shared, **options}) for name, options in members.items()}
    ps = list(plans.values())
    if len({p.sample_sigma for p in ps}) > 1:
        raise bad("members", Desc("members with different sample_sigma"), "the members of a family are sampled together")
    results = train_family([p.model for p in ps], [p.train_data for p in ps], ps[0].schedule, [p.config for p in ps],
                           progress=progress)
    samples = sample_family([r.ema for r in results], ps[0].schedule, _shape(data), ps[0].settings["n_samples"],
                            [p.target for p in ps], sigma=ps[0].sample_sigma,
                            generators=[torch.Generator().manual_seed(p.config.seed + 3) for p in ps],
                            clip_x0=_clip(data))
    return {name: _finish(p, r, x.float(), {}) for (name, p), r, x in zip(plans.items(), results, samples)}


_RUN_OPTIONS = ("schedule", "T", "steps", "seconds", "device", "width", "model", "batch_size", "lr", "ema_decay",
                "with_floor", "settings", "compile")


def _shape(data: str) -> tuple:
    return (1, 8, 8) if data == "digits" else (2,)


def _clip(data: str):
    """Sampling clips the model's x0 to [-1, 1] at every step for digits, whose pixels lie there (as improved-
    diffusion does for images); the 2-D toys are unbounded and are not clipped."""
    return 1.0 if data == "digits" else None


def draw_samples(model, sched: NoiseSchedule, data: str, target: str, n: int, seed: int, sigma: str = "beta"):
    """n ancestral samples in the data's shape and scale (digits: x0 clipped to [-1, 1] at every step, :func:`_clip`)."""
    g = torch.Generator().manual_seed(seed + 3)
    return ancestral_sample(model, sched, _shape(data), n, target, sigma=sigma, generator=g, clip_x0=_clip(data)).float()


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
