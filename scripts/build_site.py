"""Build the course site: every notebook with its outputs, math rendered offline, into one folder.

    python scripts/build_site.py                     execute every notebook in classroom mode (DDPM_EDU_FAST=0 unless
                                                     set: about two minutes on a 2-core CPU machine), then build
    python scripts/build_site.py --executed DIR      build from notebooks already executed into DIR (CI does this,
                                                     with the copies the test run wrote)
    python scripts/build_site.py --execute-into DIR  only execute every notebook under nbval into DIR (the test
                                                     run's notebook stage), two side by side

The site is written to build/site (or --out); the script prints the folder and the page to open.
It is built from the notebooks as executed, never from copies kept in the repository.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def execute(target: Path, jobs: int) -> None:
    """Run every notebook under nbval (the same checks as the test run), writing executed copies to ``target``.

    The notebooks are split into ``jobs`` groups of about equal length, run side by side (one kernel each)."""
    env = dict(os.environ)
    env.setdefault("DDPM_EDU_FAST", "0")          # the lesson as announced: every claim checked at its budget
    env.pop("MPLBACKEND", None)                   # inline figures, not Agg
    # share the cores: kernels that each start as many torch threads as there are cores wait on one another
    # (measured: two 2-thread kernels on 2 cores ran notebook 04 more than 10x slower than one)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, threads)
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    # seconds each took in fast mode on a 2-core CPU machine, to balance the groups (unknown ones: 30)
    seconds = {"01": 5, "02": 6, "03": 5, "04": 42, "05": 50, "06": 70, "07": 26, "08": 30, "09": 30, "ex": 3}  # classroom
    weight = lambda p: seconds.get(p.name[:2], 30)
    groups = [[] for _ in range(max(1, jobs))]
    for nb in sorted(notebooks, key=weight, reverse=True):
        min(groups, key=lambda g: sum(map(weight, g))).append(nb)
    print(f"executing {len(notebooks)} notebooks in {len(groups)} processes (DDPM_EDU_FAST={env['DDPM_EDU_FAST']}) ...",
          flush=True)
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                               "--nbval-current-env", *map(str, group), "--executed-dir", str(target)], cwd=ROOT, env=env)
             for group in groups if group]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit("a notebook failed to execute (see above): the site is not built")


def clean_notebook(src: Path, dst: Path) -> None:
    """What a page shows (ddpm_edu.slides.page_notebook: the slides show the same): progress-bar redraws collapsed
    to their final line, widget views replaced by their HTML output (a picture of the explorer and its state, from
    which the page's module mounts it live)."""
    sys.path.insert(0, str(ROOT))
    from ddpm_edu.slides import page_notebook

    try:
        nb = page_notebook(json.loads(src.read_text()), src.name)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    dst.write_text(json.dumps(nb, indent=1))


def landing_page() -> str:
    """index.md: the README's introduction and its "what it teaches" table, and the course's contents."""
    readme = (ROOT / "README.md").read_text()
    intro = readme.split("\n## ", 1)[0].split("\n", 1)[1].strip()
    table = re.search(r"## What it teaches.*?\n(\|.*?)\n\n", readme, re.S).group(1)
    names = sorted(p.stem for p in (ROOT / "notebooks").glob("0*.ipynb")) + ["explorers"]
    return "\n".join([
        "# ddpm-edu", "", intro, "",
        "This site shows every notebook as the test run executed it, in classroom mode: every training run at the "
        "budget the notebook announces, every claim checked, figures, derivations and printed numbers included. "
        "The explorers are live on these pages: their figures and numbers are computed in the page, with no "
        "kernel and no network (Tab moves between the controls, the arrow keys move a slider).", "",
        "## What it teaches", "", table, "",
        "```{toctree}", ":maxdepth: 1", ":caption: The course", "", *names, "```", ""])


def build(executed: Path, out: Path) -> dict:
    src = ROOT / "build" / "site-src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "site" / "conf.py", src / "conf.py")
    shutil.copytree(ROOT / "docs" / "site" / "_static", src / "_static")
    sys.path.insert(0, str(ROOT))
    from ddpm_edu import widgets                  # the explorers' module and stylesheet, as the package ships them
    (src / "_static" / "ddpm-edu-explorers.js").write_text(widgets.bundle(None))
    (src / "_static" / "ddpm-edu-explorers.css").write_text(widgets.stylesheet())
    figures = src / "docs" / "figures"
    figures.mkdir(parents=True)
    for png in (ROOT / "docs" / "figures").glob("*.png"):
        shutil.copy(png, figures / png.name)
    (src / "index.md").write_text(landing_page())
    notebooks = sorted(executed.glob("*.ipynb"))
    expected = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    missing = expected - {p.name for p in notebooks}
    if missing:
        raise SystemExit(f"not executed: {', '.join(sorted(missing))} (run without --executed to execute them)")
    for nb in notebooks:
        clean_notebook(nb, src / nb.name)
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", str(src), str(out)],
                   cwd=ROOT, check=True, env={k: v for k, v in os.environ.items() if k != "MPLBACKEND"})
    return {"pages": len(notebooks) + 1, "seconds": time.perf_counter() - start}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executed", help="folder of executed notebooks (skip executing them here)")
    parser.add_argument("--execute-into", metavar="DIR",
                        help="only execute the notebooks (under nbval, with its checks) into DIR, as the test run does")
    parser.add_argument("--out", default=str(ROOT / "build" / "site"), help="output folder (default: build/site)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="notebooks executed side by side (default: 2, or 1 on a one-core machine)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.execute_into:
        execute(Path(args.execute_into).resolve(), args.jobs)
        print(f"notebooks executed in {time.perf_counter() - start:.0f} s")
        return 0
    executed = Path(args.executed) if args.executed else ROOT / "build" / "executed-site"
    if not args.executed:
        shutil.rmtree(executed, ignore_errors=True)
        execute(executed, args.jobs)
    info = build(executed, Path(args.out))
    size = sum(p.stat().st_size for p in Path(args.out).rglob("*") if p.is_file()) / 2 ** 20
    print(f"site: {info['pages']} pages, {size:.1f} MB, sphinx {info['seconds']:.0f} s, "
          f"{time.perf_counter() - start:.0f} s in all")
    print(f"built into {Path(args.out).resolve()}; open it with: python -m http.server -d {args.out} 8000 "
          f"(then http://127.0.0.1:8000/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
