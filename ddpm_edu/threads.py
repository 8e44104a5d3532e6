"""How many CPU threads the package's training, sampling and evaluation use: chosen by measurement.

These models are tiny (about 90k parameters), and torch's intra-op thread pool, sized to every core by
default, makes each operation wait for all of its threads: when another process holds a core, every
operation waits for it. Measured on a 2-core CPU machine (``python -m ddpm_edu bench`` prints the same
table on yours), steps/s of the classroom model:

=========================  =======  ================================
                           quiet    beside one busy process
=========================  =======  ================================
1 torch thread             410      425
2 torch threads            585      238
a family of 6, 1 thread    440 x    437 x (model-steps/s)
the same, 2 workers        772 x    518 x
=========================  =======  ================================

So the default (``"auto"``) is:

* every torch operation runs on **one thread** while the package trains, samples or evaluates
  (``torch.set_num_threads(1)`` for the call, and numpy's BLAS too, restored after): it loses a little
  when the machine is quiet and nothing when it is busy, and a run gives the same numbers on any number
  of cores. (The sample-quality figures, which run scikit-learn on numpy, took 2.8 s quiet and 22 s beside
  one busy process with numpy's two BLAS threads, on a 2-core CPU machine.)
* a **family** of models (the models a notebook compares, :func:`ddpm_edu.training.train_family`) is
  split into groups trained side by side, one worker thread per core, each on one thread: every core
  is used, and a busy core slows its own group only.

``DDPM_EDU_THREADS=N`` (or ``--threads N`` on the command line) overrides it: a single model's operations
then use N threads, and a family is split into at most N groups. Nothing changes at ``import ddpm_edu``.
"""

from __future__ import annotations

import contextlib
import os
import threading

import torch

from ._checks import bad, check_int

ENV = "DDPM_EDU_THREADS"
MAX_THREADS = 1024


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def setting(value=None):
    """``"auto"`` or a thread count: ``value`` if given, else ``DDPM_EDU_THREADS`` (unset or empty: "auto")."""
    name = "threads"
    if value is None:
        name, value = ENV, os.environ.get(ENV, "").strip() or "auto"
        if value != "auto":
            if not value.isdigit() or not 1 <= int(value) <= MAX_THREADS:
                raise bad(ENV, value, f"{ENV} must be 'auto' or a number of threads from 1 to {MAX_THREADS}")
            value = int(value)
    if value == "auto":
        return "auto"
    if isinstance(value, str):
        raise bad(name, value, f"{name} must be 'auto' or a number of threads from 1 to {MAX_THREADS}")
    return check_int(name, value, 1, MAX_THREADS)


def op_threads(value=None) -> int:
    """Threads for each torch operation of a single model: 1 under "auto" (measured: robust under load)."""
    s = setting(value)
    return 1 if s == "auto" else s


def workers(k: int, value=None) -> int:
    """Groups a family of ``k`` models is split into: one per core under "auto", at most N otherwise."""
    k = check_int("k", k, 1)
    s = setting(value)
    return min(k, cores() if s == "auto" else s)


def split(k: int, value=None) -> list:
    """The groups (lists of member indices) a family of ``k`` is split into, dealt round-robin over :func:`workers`."""
    n = workers(k, value)
    return [list(range(k))[i::n] for i in range(n)]


@contextlib.contextmanager
def using(n: int):
    """Run the block with ``torch.set_num_threads(n)`` and every BLAS and OpenMP pool of the process (numpy's,
    which scikit-learn uses for the sample-quality features) limited to n threads (``threadpoolctl``), then
    restore the caller's settings."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits(limits=n):
        if n != before:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)


def policy(fn):
    """Decorate a public entry point: its torch operations run on :func:`op_threads` threads.

    A nested call (sampling inside a run) keeps the outer call's setting, so a family's worker threads,
    each on one thread, are never widened by what they call."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(_state, "active", False):
            return fn(*args, **kwargs)
        _state.active = True
        try:
            with using(op_threads()):
                return fn(*args, **kwargs)
        finally:
            _state.active = False
    return wrapper


_state = threading.local()


def side_by_side(tasks: list, poll=None) -> list:
    """Run the callables in ``tasks`` at the same time, one worker thread each, every torch operation on one
    thread; return their results in order (the first exception is raised). Torch releases the GIL inside its
    operations, so the workers use one core each. ``poll()``, if given, is called about twice a second in
    the caller's thread while they run (a progress bar)."""
    results, errors = [None] * len(tasks), [None] * len(tasks)
    grad = torch.is_grad_enabled()            # autograd's mode is per thread: the workers get the caller's

    def work(i):
        _state.active = True
        try:
            with torch.set_grad_enabled(grad):
                results[i] = tasks[i]()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread below
            errors[i] = err
        finally:
            _state.active = False

    with using(1):
        workers_ = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(tasks))]
        for w in workers_:
            w.start()
        for w in workers_:
            while w.is_alive():
                w.join(0.5)
                if poll is not None:
                    poll()
    for err in errors:
        if err is not None:
            raise err
    return results


def fan_out(groups: list, job, poll=None) -> list:
    """The one "groups side by side, results in order" loop: ``job(group)`` returns one result per member index
    in ``group`` (a list from :func:`split`); the groups run at the same time (:func:`side_by_side`) and the
    results come back as one list in member order."""
    outs = side_by_side([lambda g=g: job(g) for g in groups], poll=poll)
    results = [None] * sum(len(g) for g in groups)
    for g, out in zip(groups, outs):
        for i, r in zip(g, out):
            results[i] = r
    return results
