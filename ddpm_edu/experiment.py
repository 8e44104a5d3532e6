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

from ._checks import bad, bad_type, check_bool, check_choice, check_int, check_real
from .data import DATASETS, digits, gaussian_mixture_params, toy
from .models import make_model
from .optimal import GaussianMixture
from .quality import sample_quality
from .sampling import ancestral_sample
from .schedules import NoiseSchedule
from .training import PerTLoss, TrainConfig, TrainResult, Trainer, evaluate_per_t


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
    fast = fast_mode() if fast is None else fast
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
    check_choice("data", data, DATASETS)
    check_choice("sample_sigma", sample_sigma, ("beta", "beta_tilde"))
    for name, flag in (("with_floor", with_floor), ("progress", progress), ("compile", compile)):
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
    if steps is None:
        steps = settings["steps"]
    if seconds is None:
        seconds = max_seconds()
    sched = NoiseSchedule.by_name(schedule, T=T)
    check_schedule_reaches_noise(sched, T)
    train_data, held_out, shape = load_data(data, seed)
    torch.manual_seed(seed)                       # model initialisation
    net = make_model(model, shape, width=width)
    cfg = TrainConfig(target=target, weighting=weighting, weighting_params=weighting_params or {}, steps=steps,
                      seconds=seconds, batch_size=batch_size, lr=lr, ema_decay=ema_decay, t_sampling=t_sampling,
                      log_every=settings.get("log_every", 50), seed=seed, device=device, compile=compile)
    trainer = Trainer(net, train_data, sched, cfg)
    snapshots = {}
    if snapshot_steps is not None and not isinstance(snapshot_steps, (list, tuple, set, range)):
        raise bad_type("snapshot_steps", snapshot_steps, "snapshot_steps must be a list of step counts")
    wanted = sorted({check_int("snapshot_steps", s, 0, steps) for s in (snapshot_steps or [])})
    if 0 in wanted:
        snapshots[0] = copy.deepcopy(trainer.ema).to("cpu").eval()

    def keep(tr):
        if tr.step in wanted:
            snapshots[tr.step] = copy.deepcopy(tr.ema).to("cpu").eval()

    result = trainer.run(progress=progress, on_step=keep if wanted else None)
    per_t = evaluate_per_t(result.ema, held_out, sched, target, n=settings["n_eval"], seed=seed + 1, device=device)
    floor = None
    if with_floor:
        mix = exact_floor_mixture(data, train_data)
        mean, err = mix.optimal_loss(sched, per_t.t, n=settings["n_floor"], seed=seed + 2, space=target)
        floor = {"t": per_t.t, "loss": mean, "stderr": err,
                 "kind": "true density" if data == "gaussian_mixture" else "empirical (memorising) denoiser of the training set"}
    samples = draw_samples(result.ema, sched, data, target, settings["n_samples"], seed, sigma=sample_sigma)
    quality = sample_quality(data, samples, held_out, train_data, seed=seed)
    return Experiment(data=data, target=target, weighting=weighting, schedule=sched, train=result, per_t=per_t,
                      floor=floor, samples=samples, quality=quality, held_out=held_out, train_data=train_data,
                      planned_steps=steps, snapshots=snapshots)


def draw_samples(model, sched: NoiseSchedule, data: str, target: str, n: int, seed: int, sigma: str = "beta"):
    """n ancestral samples in the data's shape and scale (digits: x0 clipped to [-1, 1] at every step)."""
    shape = (1, 8, 8) if data == "digits" else (2,)
    g = torch.Generator().manual_seed(seed + 3)
    return ancestral_sample(model, sched, shape, n, target, sigma=sigma, generator=g,
                            clip_x0=1.0 if data == "digits" else None).float()


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
