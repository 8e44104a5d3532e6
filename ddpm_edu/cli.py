"""``ddpm-edu`` (= ``python -m ddpm_edu``): the course, headless runs and speed figures.

    ddpm-edu notebooks [DIR] [--force]
        copies the course's notebooks into DIR (default ./ddpm-edu-notebooks); a notebook you changed is kept
    ddpm-edu lab [DIR]
        the same, then opens JupyterLab there (needs the lab extra: pip install "ddpm-edu[lab]")
    ddpm-edu train --data digits --steps 4000 --seed 0 --out runs/eps
        writes runs/eps/metrics.json, runs/eps/samples.npy and runs/eps/{per_t,training,heatmap,samples}.png
    ddpm-edu bench [--seconds 30] [--device cpu] [--notebooks]
        prints steps/s of our step and of a textbook step for each thread count, quiet and beside a busy
        process, seconds until the per-t curve settles, and the explorers' redraw time; --notebooks times
        every notebook in classroom mode, quiet and loaded

A user error (a bad flag value, an unusable --out) prints one line naming the flag, the value and
what is allowed, and exits with status 2; it never prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

from .experiment import DEFAULTS


class UserError(Exception):
    """A bad flag or file: printed as one line, exit status 2."""


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Show every default: argparse's "(default: X)", unless the help already says what the default is."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required:                          # no default to show: say that it must be given
            return text + " (required)"
        return text if "(default:" in text else super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line ("error: argument --T: ...") and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is not allowed: it must be an integer >= {low}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not allowed: it must be a finite number > 0")
    return value


def _parse_weighting_params(items):
    params = {}
    for item in items or []:
        if "=" not in item or not item.split("=", 1)[0]:
            raise UserError(f"--param {item!r} is not allowed: write NAME=VALUE, e.g. --param gamma=5")
        key, value = item.split("=", 1)
        if value in ("True", "False"):
            params[key] = value == "True"
            continue
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    return params


def _check_out(path: str) -> str:
    """Create the output folder, or explain in one line why it cannot be used."""
    if not path or not path.strip():
        raise UserError("--out '' is not allowed: give a folder to write the results in (it is created)")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"--out {path!r} is not allowed: it is an existing file; give a folder (it is created)")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise UserError(f"--out {path!r} is not allowed: cannot create it ({err.strerror})") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"--out {path!r} is not allowed: the folder is not writable")
    return path


def _flag_message(err: Exception) -> str:
    """A package ValueError ("steps=0 is not allowed: ...") with its argument spelt as the CLI flag."""
    text = str(err)
    m = re.match(r"^([A-Za-z_][A-Za-z0-9_.\[\]]*)=", text)
    if m and m.group(1) in _FLAG_OF:
        return f"--{_FLAG_OF[m.group(1)]} " + text[len(m.group(1)) + 1:]
    return text


def _flags_of_fields() -> dict:
    """argument name -> flag, for the run options: read from the fields of RunConfig (one declaration)."""
    from dataclasses import fields

    from .experiment import RunConfig

    return {f.name: f.metadata["flag"][2:] for f in fields(RunConfig) if f.metadata.get("flag")}


_FLAG_OF = {**_flags_of_fields(), "gamma": "param gamma", "k": "param k", "sigma": "param sigma",
            "clip_t1": "param clip_t1", "weighting_params": "param", "threads": "threads", "DDPM_EDU_THREADS": "threads",
            "folder": "dir", "solutions": "solutions", "executed": "executed"}


def _train(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from dataclasses import fields

    from .experiment import RunConfig, run

    params = _parse_weighting_params(args.param)
    if args.gamma is not None:
        if args.weighting != "min_snr":
            raise UserError(f"--gamma {args.gamma} is not allowed with --weighting {args.weighting}: "
                            "it is Min-SNR's gamma (for P2 use --param gamma=...)")
        params["gamma"] = args.gamma
    out = _check_out(args.out)
    options = {f.name: getattr(args, f.name) for f in fields(RunConfig) if f.metadata.get("flag")}
    exp = run(**options, weighting_params=params, progress=not args.quiet)
    metrics = exp.metrics()
    tmp = os.path.join(out, "metrics.json.tmp")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=1)
    os.replace(tmp, os.path.join(out, "metrics.json"))
    np.save(os.path.join(out, "samples.npy"), exp.samples.reshape(len(exp.samples), -1).double().numpy())
    for name, fig in figures(exp).items():
        fig.savefig(os.path.join(out, name), dpi=200)
        plt.close(fig)
    q = metrics["sample_quality"]
    line = (f"{exp.steps_label()} in {metrics['seconds']:.1f} s on {metrics['device']}; {q['name']}: model {q['model']:.3g}, "
            f"real floor {q['real']:.3g}")
    if "noise" in q:
        line += f", noise {q['noise']:.3g}; precision {q['precision']:.2f}, recall {q['recall']:.2f}, copies {q['copy_share']:.1%}"
    print(line + f"; wrote {out}/metrics.json and samples.npy")
    return 0


def figures(exp) -> dict:
    """The CLI's figures, ``{file name: matplotlib Figure}``; every one passes ``plotting.figure_problems``."""
    import matplotlib.pyplot as plt

    from . import plotting

    figs = {}
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    plotting.per_t_curve(ax, exp)
    ax.set_title(f"per-t loss of the {exp.target}-model on {exp.data} ({exp.steps_label()})")
    plotting.place_legend(ax, fontsize=8)
    figs["per_t.png"] = fig
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plotting.training_loss(ax, exp)
    figs["training.png"] = fig
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    im = plotting.bin_heatmap(ax, exp)
    plotting.heatmap_colorbar(fig, im, ax)
    figs["heatmap.png"] = fig
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.9), layout="constrained")
    plotting.samples_beside_real(axes, exp)
    figs["samples.png"] = fig
    return figs


def _bench(args) -> int:
    from . import bench
    from .runtime import pick_device

    if args.device is not None:
        pick_device(args.device)              # a bad device is a one-line error before anything runs
    if args.notebooks:
        bench.print_notebook_table(fast=args.fast)
        return 0
    return bench.main(seconds=args.seconds, device=args.device, width=args.width, compile_cpu=args.compile)


def _notebooks(args) -> int:
    from .course import copy_notebooks

    report = copy_notebooks(args.dir, force=args.force)
    for line in report.lines():
        print(line)
    if args.command == "notebooks":
        print(f"open them with: ddpm-edu lab {args.dir} (or jupyter lab {args.dir})")
        return 0
    import importlib.util
    import subprocess

    if importlib.util.find_spec("jupyterlab") is None:
        raise UserError("JupyterLab is not installed here: pip install \"ddpm-edu[lab]\" (or open the folder in "
                        "any Jupyter you have)")
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={report.folder}"]
    if _is_root():
        print("running as root (a container or a VM?): starting JupyterLab with --allow-root", flush=True)
        command.append("--allow-root")
    print(f"starting JupyterLab in {report.folder} (stop it with Ctrl-C)", flush=True)
    return subprocess.call(command)


def _is_root() -> bool:
    """Whether this process runs as root, where JupyterLab refuses to start without --allow-root (False where
    there are no user ids, as on Windows)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _assignments(args) -> int:
    from .assignments import notebooks_with_exercises, write_course

    for line in write_course(args.dir, args.solutions):
        print(line)
    first = f"hw{notebooks_with_exercises()[0]}"
    print(f"then, in {args.dir}: nbgrader generate_assignment {first}, and nbgrader autograde {first} on the "
          "submissions (nbgrader: pip install \"ddpm-edu[instructor]\")")
    return 0


def _slides(args) -> int:
    from .slides import build

    try:
        lines = build(args.dir, args.executed)
    except RuntimeError as err:
        raise UserError(str(err)) from None
    for line in lines:
        print(line)
    return 0


def _threads(value):
    """--threads: 'auto' or a number, set for this process as DDPM_EDU_THREADS (ddpm_edu.threads)."""
    from .threads import ENV, setting

    if value is not None:
        os.environ[ENV] = str(setting("auto" if value == "auto" else int(value) if value.isdigit() else value))


_KINDS = {"int": _int_at_least, "float": lambda low: _positive_float if low == 0 else float}


def _run_flags(parser) -> None:
    """``train``'s run options, one flag per :class:`~ddpm_edu.experiment.RunConfig` field that names one (its
    help and default come from the field); the weighting's parameters come as --param NAME=VALUE and --gamma."""
    from dataclasses import fields

    from .experiment import RunConfig

    for f in fields(RunConfig):
        meta = f.metadata
        if meta.get("flag") is None:
            continue
        if meta.get("store_true"):
            parser.add_argument(meta["flag"], dest=f.name, action="store_true", help=meta["help"])
            continue
        kind = meta.get("kind")
        parser.add_argument(meta["flag"], dest=f.name, default=f.default, choices=meta.get("choices"),
                            metavar=None if meta.get("choices") else meta["flag"][2:].upper().replace("-", "_"),
                            type=_KINDS[kind[0]](kind[1]) if kind else None, help=meta["help"])
        if f.name == "weighting":
            parser.add_argument("--gamma", type=_positive_float, default=None,
                                help="Min-SNR gamma, with --weighting min_snr (default: the weighting's own, 5)")
            parser.add_argument("--param", action="append", metavar="NAME=VALUE", default=None,
                                help="a weighting parameter (repeatable), e.g. --param sigma=beta_tilde or --param k=1 "
                                     "(default: the weighting's own parameters; see ddpm_edu.WEIGHTINGS)")


def build_parser() -> argparse.ArgumentParser:
    fmt = _Help
    from . import __version__

    parser = _Parser(prog="ddpm-edu", description="ddpm-edu: the course's notebooks, headless runs and benchmarks",
                     formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"ddpm-edu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    tr = sub.add_parser("train", help="train a tiny model; write metrics.json, samples.npy and figures", formatter_class=fmt)
    _run_flags(tr)
    tr.add_argument("--out", required=True, help="output folder (created if missing)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument("--threads", default=None, metavar="N",
                    help="'auto' or a number of threads for torch while training (default: DDPM_EDU_THREADS, else "
                         "auto: one thread per operation, measured fastest on a busy machine)")
    be = sub.add_parser("bench", help="training speed, time-to-stable-curve and explorer redraw time", formatter_class=fmt)
    be.add_argument("--seconds", type=_positive_float, default=None,
                    help="time budget for the convergence run (default: 30)")
    be.add_argument("--device", default=None, help="cpu or cuda (default: cpu, and cuda too when present)")
    be.add_argument("--width", type=_int_at_least(1), default=DEFAULTS["width"], help="hidden width of the network")
    be.add_argument("--compile", action="store_true",
                    help="time torch.compile on the CPU too (always done on CUDA; about 20 s of compiling per mode)")
    be.add_argument("--threads", default=None, metavar="N", help="as for train (default: DDPM_EDU_THREADS, else auto)")
    be.add_argument("--notebooks", action="store_true",
                    help="instead: execute every notebook in classroom mode, quiet and then beside a busy process, "
                         "and print their times with the textbook step's steps/s (about 10 minutes)")
    be.add_argument("--fast", action="store_true", help="with --notebooks: fast mode (DDPM_EDU_FAST=1) instead")
    for name, what in (("notebooks", "copy the course's notebooks into a folder"),
                       ("lab", "copy the course's notebooks into a folder and open JupyterLab there")):
        nb = sub.add_parser(name, help=what, formatter_class=fmt)
        nb.add_argument("dir", nargs="?", default="ddpm-edu-notebooks", help="the folder (created if missing)")
        nb.add_argument("--force", action="store_true",
                        help="replace notebooks you changed, after saving each as NAME.backup-DATE.ipynb beside it")
    sl = sub.add_parser("slides", formatter_class=fmt,
                        help="for instructors: one reveal.js deck per notebook, offline, the explorers live")
    sl.add_argument("dir", nargs="?", default="ddpm-edu-slides", help="the folder (created if missing)")
    sl.add_argument("--executed", default=None, metavar="DIR",
                    help="executed notebooks to build from, e.g. build/executed after make test (default: execute "
                         "every notebook in classroom mode into DIR/_executed first, a few minutes)")
    asg = sub.add_parser("assignments", formatter_class=fmt,
                         help="for instructors: the exercises as an nbgrader course directory (source/hwNN/...)")
    asg.add_argument("dir", nargs="?", default="ddpm-edu-course", help="the course directory (created if missing)")
    asg.add_argument("--solutions", default=None, metavar="FILE",
                     help="the instructor's solutions, scripts/solutions.py of the course's repository (default: the "
                          "one beside this package, in a clone); the installed package does not contain them")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _threads(getattr(args, "threads", None))
        if args.command in ("notebooks", "lab"):
            return _notebooks(args)
        if args.command == "assignments":
            return _assignments(args)
        if args.command == "slides":
            return _slides(args)
        return _train(args) if args.command == "train" else _bench(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
    except (ValueError, TypeError) as err:
        print(f"error: {_flag_message(err)}", file=sys.stderr)
    except FloatingPointError as err:
        print(f"error: {err}", file=sys.stderr)
    except OSError as err:
        print(f"error: cannot write there: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
