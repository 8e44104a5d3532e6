"""``python -m ddpm_edu bench``: training speed and time until the per-t curve's shape is stable.

Prints one table. For each device (the CPU, and CUDA when present):
* steps/s of our ``Trainer.train_step`` (EMA + per-t tracking included) and of a plain textbook
  step (sample t uniformly, sample noise, form x_t, MSE against the noise, Adam), same model and
  batch, measured in interleaved blocks so both see the same machine load;
* on CUDA (and on the CPU with ``--compile``), the same with the models' forward passes compiled by
  ``torch.compile``, in its default mode and in "reduce-overhead" mode (CUDA graphs), and the
  speed-up over eager from the same run. A mode that fails on this machine is reported as failed,
  with the reason, and the rest of the table still prints;
* seconds of training until the shape of the per-t curve settles: the 20-bin EMA-model curve
  divided by its maximum changes by less than 0.05 (absolute, on that 0..1 scale) between
  evaluations 5 s of training apart. Evaluation time is not counted;
* the size of the explorers' JavaScript (their redraw times in Chromium: ``scripts/bench_explorers.py``, which
  ``make bench`` runs after this);
* steps/s with one torch thread and with all cores, quiet and beside a busy process (``thread_rows``).
The last line is ``ours/reference steps per second: R``.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch

from .data import digits
from .diffusion import forward_coefficients, noised
from .evaluation import evaluate_per_t
from .models import MLPDenoiser
from .schedules import NoiseSchedule
from .training import TrainConfig, Trainer


def reference_step_fn(model, data, schedule, batch_size=256, lr=2e-3, generator=None):
    """The usual textbook DDPM step, as a closure; same data, model and batch size as ours."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    dev = data.device
    sqrt_ab, sqrt_1m = (c.to(dev, torch.float32) for c in forward_coefficients(schedule))
    shape = (-1,) + (1,) * (data.dim() - 1)

    def step():
        idx = torch.randint(0, data.shape[0], (batch_size,), device=dev)
        t = torch.randint(1, schedule.T + 1, (batch_size,), device=dev)
        noise = torch.randn((batch_size,) + tuple(data.shape[1:]), device=dev)
        x_t = noised(sqrt_ab[t].view(shape), sqrt_1m[t].view(shape), data[idx], noise)
        loss = torch.nn.functional.mse_loss(model(x_t, t), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def steps_per_second(step, device, block=None, repeats=5, warmup=20, block_seconds=0.25):
    """Median steps/s over ``repeats`` blocks. Without ``block``, a block is as many steps as take
    about ``block_seconds`` (at the pace of 10 steps after the warm-up, at least 50), so fast GPU
    steps are not timed over a few milliseconds."""
    from ._checks import check_int, check_real

    repeats = check_int("repeats", repeats, 1, 10_000)
    warmup = check_int("warmup", warmup, 0, 10 ** 6)
    block = None if block is None else check_int("block", block, 1, 10 ** 9)
    block_seconds = check_real("block_seconds", block_seconds, low=0)
    for _ in range(warmup):              # first calls: allocation, compilation, CUDA graph capture
        step()
    if block is None:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(10):
            step()
        _sync(device)
        block = max(50, int(block_seconds * 10 / max(time.perf_counter() - t0, 1e-9)))
    rates = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(block):
            step()
        _sync(device)
        rates.append(block / (time.perf_counter() - t0))
    return statistics.median(rates)


def compare_speed(device, width=128, batch_size=256, compile_mode=None):
    """``(ours, reference)`` steps/s, interleaved in blocks. ``compile_mode``: None for eager, else
    a ``torch.compile`` mode ("default", "reduce-overhead", ...) applied to both models' forward."""
    x = digits()[0].to(device)
    sched = NoiseSchedule.linear()
    torch.manual_seed(0)
    m1 = MLPDenoiser(64, width=width)
    m2 = copy.deepcopy(m1)
    trainer = Trainer(m1, x, sched, TrainConfig(steps=10**9, batch_size=batch_size, device=str(device)))
    ref_model = m2.to(device)
    if compile_mode is not None:
        trainer.forward = torch.compile(trainer.model, mode=compile_mode)
        ref_model = torch.compile(ref_model, mode=compile_mode)
    ref = reference_step_fn(ref_model, x, sched, batch_size)
    ours_rates, ref_rates = [], []
    for _ in range(4):
        ours_rates.append(steps_per_second(trainer.train_step, device, repeats=1))
        ref_rates.append(steps_per_second(ref, device, repeats=1))
    return statistics.median(ours_rates), statistics.median(ref_rates)


def seconds_to_stable(device, width=128, budget=30.0, every=1.0, lag=5.0, tol=0.05, lr=2e-3, ema_decay=0.995,
                      t_sampling="uniform"):
    """``(seconds, steps)``: training seconds until the max-normalised 20-bin per-t curve moves < ``tol`` over
    ``lag`` seconds, or ``(None, steps)`` when it has not settled within ``budget`` seconds."""
    x = digits()[0]
    sched = NoiseSchedule.linear()
    torch.manual_seed(0)
    trainer = Trainer(MLPDenoiser(64, width=width), x, sched,
                      TrainConfig(steps=None, seconds=budget, lr=lr, ema_decay=ema_decay, t_sampling=t_sampling,
                                  device=str(device)))
    grid = torch.tensor([int(c) for c in trainer.tracker.bin_centers()])
    curves, times = [], []
    trained = 0.0
    while trained < budget:
        _sync(device)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < every:
            trainer.train_step()
        _sync(device)
        trained += time.perf_counter() - t0
        ev = evaluate_per_t(trainer.ema, x, sched, "eps", t_values=grid, n=256, seed=7, device=str(device))
        c = ev.loss["eps"] / ev.loss["eps"].max()
        curves.append(c); times.append(trained)
        back = [i for i, s in enumerate(times) if trained - s >= lag - 1e-9]
        if back and float((c - curves[back[-1]]).abs().max()) < tol:
            return trained, trainer.step
    return None, trainer.step


COMPILE_MODES = ("default", "reduce-overhead")


def _compiled_rows(dev, width, eager_ours):
    """Table rows for each compile mode, and speed-up lines against ``eager_ours``."""
    rows, speedups = [], []
    for mode in COMPILE_MODES:
        try:
            c_ours, c_ref = compare_speed(dev, width=width, compile_mode=mode)
        except Exception as exc:          # a missing compiler or an unsupported mode: report, go on
            first = (str(exc).splitlines() or [""])[0][:80]
            rows.append((str(dev), f"compile {mode}", f"failed: {type(exc).__name__}: {first}", None))
            continue
        rows.append((str(dev), f"compile {mode} steps/s", c_ours, c_ref))
        speedups.append(f"{dev} torch.compile ({mode}) speed-up over eager, ours: {c_ours / eager_ours:.2f}x")
    return rows, speedups


BUSY = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


class busy_process:
    """A competing CPU-bound process for the length of a ``with`` block (a bounded busy loop: it ends by itself
    after ``limit`` seconds even if the block never exits), started and stopped by the benchmark."""

    def __init__(self, limit: float = 600.0):
        self.limit = limit

    def __enter__(self):
        import subprocess
        import sys

        self.proc = subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=self.limit)])
        time.sleep(0.3)                       # let it reach its loop
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        return False


def thread_rows(width: int = 128, block_seconds: float = 0.4) -> list:
    """``[(what, quiet, loaded)]``: steps/s of our step and of the textbook step with 1 torch thread and with
    all cores, and model-steps/s of a family of 6 trained in one worker and in one worker per core, quiet and
    beside one busy process (:class:`busy_process`). The figures behind :mod:`ddpm_edu.threads`."""
    from .threads import cores, using
    from .training import train_family

    n = cores()
    x = digits()[0]
    sched = NoiseSchedule.linear()
    rows = []

    def single(threads):
        torch.manual_seed(0)
        model = MLPDenoiser(64, width=width)
        trainer = Trainer(model, x, sched, TrainConfig(steps=10 ** 9, device="cpu"))
        ref = reference_step_fn(copy.deepcopy(model), x, sched)
        with using(threads):
            return (steps_per_second(trainer.train_step, torch.device("cpu"), repeats=3, block_seconds=block_seconds),
                    steps_per_second(ref, torch.device("cpu"), repeats=3, block_seconds=block_seconds))

    def family(workers):
        import os
        steps = 150
        models = [MLPDenoiser(64, width=width) for _ in range(6)]
        configs = [TrainConfig(steps=steps, device="cpu", seed=k, log_every=50) for k in range(6)]
        before = os.environ.get("DDPM_EDU_THREADS")
        os.environ["DDPM_EDU_THREADS"] = str(workers)
        try:
            t0 = time.perf_counter()
            train_family(models, x, sched, configs, progress=False)
            return 6 * steps / (time.perf_counter() - t0)
        finally:
            if before is None:
                os.environ.pop("DDPM_EDU_THREADS")
            else:
                os.environ["DDPM_EDU_THREADS"] = before

    measured = {}
    for loaded in (False, True):
        with (busy_process() if loaded else _nothing()):
            for threads in sorted({1, n}):
                measured[("ours", threads, loaded)], measured[("ref", threads, loaded)] = single(threads)
            for workers in sorted({1, n}):
                measured[("family", workers, loaded)] = family(workers)
    for threads in sorted({1, n}):
        rows.append((f"one model, {threads} torch thread{'s' if threads > 1 else ''}, steps/s",
                     measured[("ours", threads, False)], measured[("ours", threads, True)]))
        rows.append((f"  textbook step, {threads} thread{'s' if threads > 1 else ''}",
                     measured[("ref", threads, False)], measured[("ref", threads, True)]))
    for workers in sorted({1, n}):
        rows.append((f"family of 6, {workers} worker{'s' if workers > 1 else ''}, model-steps/s",
                     measured[("family", workers, False)], measured[("family", workers, True)]))
    return rows


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_notebook(path, fast: bool = False, timeout: float = 3600.0) -> float:
    """Seconds to execute one notebook in a fresh kernel (classroom mode unless ``fast``), in a temporary folder."""
    import os
    import shutil
    import tempfile

    import nbformat
    from nbclient import NotebookClient

    keep = {k: os.environ.get(k) for k in ("DDPM_EDU_FAST", "MPLBACKEND")}
    os.environ["DDPM_EDU_FAST"] = "1" if fast else "0"
    os.environ.pop("MPLBACKEND", None)
    try:
        with tempfile.TemporaryDirectory(prefix="ddpm-edu-bench-") as tmp:
            copy = shutil.copy(path, tmp)
            nb = nbformat.read(copy, as_version=4)
            t0 = time.perf_counter()
            NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
            return time.perf_counter() - t0
    finally:
        for k, v in keep.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def notebook_rows(fast: bool = False, names=None) -> tuple:
    """``(rows, reference)``: each notebook's seconds quiet and beside one busy process (:class:`busy_process`),
    and the textbook step's steps/s (one thread) measured quiet and loaded in the same run."""
    from .course import notebooks
    from .threads import using

    x = digits()[0]
    sched = NoiseSchedule.linear()
    torch.manual_seed(0)
    ref = reference_step_fn(MLPDenoiser(64), x, sched)
    paths = [p for p in notebooks() if names is None or any(p.name.startswith(n) for n in names)]
    rows, reference = {p.name: [None, None] for p in paths}, [None, None]
    for column, loaded in enumerate((False, True)):
        with (busy_process(limit=7200) if loaded else _nothing()):
            with using(1):
                reference[column] = steps_per_second(ref, torch.device("cpu"), repeats=3)
            for p in paths:
                rows[p.name][column] = run_notebook(p, fast=fast)
    return [(name, q, l) for name, (q, l) in rows.items()], tuple(reference)


def print_notebook_table(fast: bool = False, names=None) -> None:
    rows, (ref_quiet, ref_loaded) = notebook_rows(fast=fast, names=names)
    mode = "fast mode" if fast else "classroom mode (DDPM_EDU_FAST=0)"
    print(f"notebooks in {mode}, each in a fresh kernel; loaded: beside one busy process")
    print(f"{'notebook':42s} {'quiet s':>8s} {'loaded s':>9s} {'loaded/quiet':>13s}")
    for name, quiet, loaded in rows:
        print(f"{name:42s} {quiet:8.1f} {loaded:9.1f} {loaded / quiet:13.2f}")
    print(f"{'textbook step (1 thread), steps/s':42s} {ref_quiet:8.0f} {ref_loaded:9.0f}")


def main(seconds: float | None = None, device: str | None = None, width: int = 128, compile_cpu: bool = False,
         threads_table: bool = True) -> int:
    from ._checks import check_int
    from .runtime import pick_device

    if device is not None:
        pick_device(device)                   # a bad name is a ValueError naming device, before anything runs
    width = check_int("width", width, 1, 16384)
    devices = [torch.device(device)] if device else [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    budget = 30.0 if seconds is None else float(seconds)
    rows, speedups = [], []
    ratio = None
    for dev in devices:
        ours, ref = compare_speed(dev, width=width)
        ratio = ours / ref if ratio is None else ratio
        rows.append((str(dev), "eager steps/s", ours, ref))
        if dev.type == "cuda" or compile_cpu:
            more, lines = _compiled_rows(dev, width, ours)
            rows += more; speedups += lines
        stable, steps = seconds_to_stable(dev, width=width, budget=budget)
        rows.append((str(dev), "seconds to stable per-t shape", stable, f"({steps} steps)"))
        if dev.type == "cpu":     # the plain script's settings, for comparison with our pick
            stable, steps = seconds_to_stable(dev, width=256, budget=budget, lr=1e-3, ema_decay=0.999)
            rows.append((str(dev), "  same, w256/lr1e-3/EMA.999", stable, f"({steps} steps)"))
    print(f"{'device':8s} {'what':32s} {'ours':>12s} {'reference':>12s}")
    for dev, what, a, b in rows:
        if isinstance(a, str):                  # a failed mode: the reason instead of figures
            print(f"{dev:8s} {what:32s} {a}")
        elif a is None:                         # the curve did not settle within the budget
            print(f"{dev:8s} {what:32s} {'not in ' + format(budget, 'g') + ' s':>12s} {b:>12s}")
        else:                                   # b: the reference's steps/s, or "(N steps)"
            print(f"{dev:8s} {what:32s} {a:12.1f} {b if isinstance(b, str) else format(b, '.1f'):>12s}")
    from . import widgets as W
    print(f"{'page':8s} {'JavaScript of the explorers, uPlot included':44s} {len(W.bundle(None).encode()) / 1000:8.0f} KB"
          " (their redraw times: python scripts/bench_explorers.py in a source checkout, or make bench)")
    if threads_table:
        print(f"\n{'threads (cpu)':48s} {'quiet':>8s} {'loaded':>8s}   (loaded: beside one busy process)")
        for what, quiet, loaded in thread_rows(width=width):
            print(f"{what:48s} {quiet:8.0f} {loaded:8.0f}")
    for line in speedups:
        print(line)
    print(f"ours/reference steps per second: {ratio:.2f}")
    return 0
