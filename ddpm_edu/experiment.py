"""One call from data to figures: the experiment notebooks 04 and 05 and the CLI share.

``run(data="digits", target="eps", seconds=30)`` trains a tiny model, evaluates its per-t loss
(EMA weights, common random numbers, standard errors), computes the exact floor where one exists,
samples, and scores the samples. ``classroom_settings()`` holds the defaults, and the fast mode
(``DDPM_EDU_FAST=1``, set by the test command) shrinks every budget to seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from ._checks import check_choice
from .data import TOYS, digits, gaussian_mixture_params, toy
from .models import make_model
from .optimal import GaussianMixture
from .sampling import ancestral_sample, sample_quality
from .schedules import NoiseSchedule
from .training import PerTLoss, TrainConfig, TrainResult, Trainer, evaluate_per_t

DATASETS = ("digits",) + TOYS


def fast_mode() -> bool:
    """True when ``DDPM_EDU_FAST`` is set to a non-empty value other than 0: CI's and the tests' mode."""
    return os.environ.get("DDPM_EDU_FAST", "") not in ("", "0")


def classroom_settings(fast: bool | None = None) -> dict:
    """Budgets for notebooks and the CLI: the classroom run, or seconds in fast mode.

    Budgets are step counts, so one seed gives the same figures on every run of a machine: 4000
    steps take about 20 s on a 2-core CPU and a few seconds on a GPU; ``seconds`` is only a cap
    for slow machines (60 s). ``compare_steps`` is the budget of *each* model where a notebook
    compares several. The model is a 3-layer MLP of width 128 (width 256 is no better here in the
    same wall time on 2 cores); lr 2e-3 and EMA 0.995 make the per-t curve settle quickly."""
    fast = fast_mode() if fast is None else fast
    if fast:
        return {"steps": 300, "seconds": None, "compare_steps": 300, "compare_seconds": None,
                "n_eval": 256, "n_samples": 200, "n_floor": 500, "log_every": 25}
    return {"steps": 4000, "seconds": 60.0, "compare_steps": 2000, "compare_seconds": 30.0,
            "n_eval": 1024, "n_samples": 1000, "n_floor": 2000, "log_every": 50}


def budget(kind: str = "one", fast: bool | None = None) -> dict:
    """``{"steps", "seconds"}`` to pass to :func:`run`: ``"one"`` for a notebook's main run,
    ``"each"`` for each of several models trained to be compared."""
    check_choice("kind", kind, ("one", "each"))
    s = classroom_settings(fast)
    return {"steps": s["steps"], "seconds": s["seconds"]} if kind == "one" else \
        {"steps": s["compare_steps"], "seconds": s["compare_seconds"]}


def load_data(name: str, seed: int = 0):
    """``(train, held_out, shape)``: digits split 70/30 (stratified), or a toy set and an independent draw."""
    check_choice("data", name, DATASETS)
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
    """Everything one run produced."""
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

    def metrics(self) -> dict:
        """The CLI's ``metrics.json`` content (per_t.loss is in the target's own space, ordered by t)."""
        m = {
            "device": self.train.device, "steps": self.train.steps, "seconds": round(self.train.seconds, 3),
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


def run(data: str = "digits", target: str = "eps", weighting: str = "simple", weighting_params: dict | None = None,
        schedule: str = "linear", T: int = 1000, steps: int | None = None, seconds: float | None = None,
        seed: int = 0, device: str | None = "auto", width: int = 128, model: str = "mlp", batch_size: int = 256,
        lr: float = 2e-3, ema_decay: float = 0.995, t_sampling: str = "uniform", sample_sigma: str = "beta",
        with_floor: bool = True, progress: bool = True, settings: dict | None = None, compile: bool = False) -> Experiment:
    """Train, evaluate per t, compute the floor, sample and score. Unset budgets come from
    :func:`classroom_settings` (fast mode aware)."""
    check_choice("data", data, DATASETS)
    settings = dict(classroom_settings() if settings is None else settings)
    if steps is None and seconds is None:
        steps, seconds = settings["steps"], settings["seconds"]
    sched = NoiseSchedule.by_name(schedule, T=T)
    train_data, held_out, shape = load_data(data, seed)
    torch.manual_seed(seed)                       # model initialisation
    net = make_model(model, shape, width=width)
    cfg = TrainConfig(target=target, weighting=weighting, weighting_params=weighting_params or {}, steps=steps,
                      seconds=seconds, batch_size=batch_size, lr=lr, ema_decay=ema_decay, t_sampling=t_sampling,
                      log_every=settings.get("log_every", 50), seed=seed, device=device,
                      compile=compile)
    result = Trainer(net, train_data, sched, cfg).run(progress=progress)
    per_t = evaluate_per_t(result.ema, held_out, sched, target, n=settings["n_eval"], seed=seed + 1, device=device)
    floor = None
    if with_floor:
        mix = exact_floor_mixture(data, train_data)
        mean, err = mix.optimal_loss(sched, per_t.t, n=settings["n_floor"], seed=seed + 2, space=target)
        floor = {"t": per_t.t, "loss": mean, "stderr": err,
                 "kind": "true density" if data == "gaussian_mixture" else "empirical (memorising) denoiser of the training set"}
    g = torch.Generator().manual_seed(seed + 3)
    samples = ancestral_sample(result.ema, sched, shape, settings["n_samples"], target, sigma=sample_sigma,
                               generator=g, clip_x0=1.0 if data == "digits" else None).float()
    quality = sample_quality(data, samples, held_out.double(), seed=seed)
    return Experiment(data=data, target=target, weighting=weighting, schedule=sched, train=result, per_t=per_t,
                      floor=floor, samples=samples, quality=quality, held_out=held_out)
