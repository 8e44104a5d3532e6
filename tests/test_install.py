"""The course as pip and Colab deliver it, tested the way a student meets it (a stage of its own in make test).

One wheel and one sdist are built per run, and one clean virtual environment is made outside the repository:
it gets the CPU torch first, a kernel and the notebook executor (what Colab has), and not the package.

1. Colab-like: notebook 01 runs there with ``DDPM_EDU_PIP_SPEC`` pointing at the wheel; its first cell
   installs the package with pip and the notebook passes; torch is the one installed before, untouched.
2. pip: ``pip install`` of the wheel keeps torch as it is; ``ddpm-edu notebooks`` copies the course into an
   empty folder, and every copied notebook runs there in fast mode, with the working directory outside the
   repository and the repository not on ``sys.path``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
TORCH = os.environ.get("DDPM_EDU_TORCH", "torch==2.13.0")           # the Makefile's CPU build
TORCH_INDEX = os.environ.get("DDPM_EDU_TORCH_INDEX", "")
RUN = """
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
nbformat.write(nb, path)
"""
TIMES = {}


def _env(**extra):
    """A student's environment: no PYTHONPATH, no test settings, the venv first on PATH."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "TMPDIR", "LANG", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                                                          "PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_CACHE_DIR", "DDPM_EDU_CHROMIUM")}
    keep["PATH"] = os.environ.get("PATH", "")
    keep.update(extra)
    return keep


def _run(cmd, cwd, env, timeout=1800):
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    start = time.perf_counter()
    _run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", out], ROOT, dict(os.environ))
    TIMES["build"] = time.perf_counter() - start
    (wheel,), (sdist,) = out.glob("*.whl"), out.glob("*.tar.gz")
    return wheel, sdist


def test_the_wheel_does_not_carry_the_exercises_solutions(dist):
    """The package checks answers against digests: no solution's formula (its last line, as scripts/solutions.py
    writes it) and no solution value with five or more significant digits (printed to 6) is in any file of the wheel,
    and scripts/ is not in it."""
    import _solutions as solutions
    from ddpm_edu.exercises import EXERCISES

    wheel, _ = dist
    with zipfile.ZipFile(wheel) as z:
        texts = {n: z.read(n).decode("utf-8", "replace") for n in z.namelist()}
    assert not [n for n in texts if "solutions" in n or n.startswith("scripts/")], sorted(texts)
    ns = solutions.namespace()
    checked = 0
    for key, ex in EXERCISES.items():
        if ex.kind == "code":          # notebook 08 is checked against the package's own training code
            continue
        line = solutions.source(key).splitlines()[-1].split(" = ", 1)[-1].strip()
        if len(line) >= 12:
            assert not [n for n, t in texts.items() if line in t], (key, line)
            checked += 1
        value = ns[solutions.name(key)]
        if isinstance(value, float) and len(f"{abs(value):.6g}".replace(".", "").strip("0")) >= 5:
            printed = f"{value:.6g}"
            assert not [n for n, t in texts.items() if printed in t], (key, printed)
            checked += 1
    assert checked >= 20, checked


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A clean virtual environment outside the repository: the CPU torch, a kernel, the executor; no ddpm_edu."""
    root = tmp_path_factory.mktemp("student")
    assert ROOT not in root.parents
    start = time.perf_counter()
    _run([sys.executable, "-m", "venv", root / "venv"], root, _env())
    py = root / "venv" / "bin" / "python"
    index = ["--index-url", TORCH_INDEX] if TORCH_INDEX else []
    _run([py, "-m", "pip", "install", "--quiet", *index, TORCH], root, _env())
    _run([py, "-m", "pip", "install", "--quiet", "ipykernel", "nbclient"], root, _env())
    TIMES["venv with torch and a kernel"] = time.perf_counter() - start
    return root, py


def _torch_stamp(py, root):
    code = ("import importlib.metadata as m, os, torch; p = torch.__file__; s = os.stat(p); "
            "print(m.version('torch'), p, s.st_ino, s.st_mtime_ns)")
    return _run([py, "-c", code], root, _env()).stdout.strip()


def test_the_wheel_carries_the_course_and_nothing_else_and_the_sdist_the_tests(dist):
    wheel, sdist = dist
    names = zipfile.ZipFile(wheel).namelist()
    for nb in NOTEBOOKS:
        assert f"ddpm_edu/notebooks/{nb}" in names, nb
        stored = json.loads(zipfile.ZipFile(wheel).read(f"ddpm_edu/notebooks/{nb}"))
        assert all(not c.get("outputs") for c in stored["cells"] if c["cell_type"] == "code"), f"{nb} has outputs"
    page_code = [p.relative_to(ROOT).as_posix() for p in (ROOT / "ddpm_edu" / "static").rglob("*") if p.is_file()]
    assert "ddpm_edu/static/explorers/mirror/schedules.js" in page_code
    for needed in ["ddpm_edu/course.py", *page_code]:      # every ES module of the explorers, subfolders included
        assert needed in names, needed
    unwanted = [n for n in names if n.startswith(("tests/", "build/", "docs/", "scripts/")) or "__pycache__" in n
                or n.endswith((".pyc", "conftest.py")) or ".ipynb_checkpoints" in n or "executed" in n]
    assert not unwanted, unwanted
    meta = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith("METADATA"))
    assert "License-Expression: MIT" in meta and "Requires-Dist: torch>=2.1" in meta
    assert "Provides-Extra: lab" in meta and 'jupyterlab>=4.0; extra == "lab"' in meta
    in_sdist = tarfile.open(sdist).getnames()
    top = in_sdist[0].split("/")[0]
    for needed in ("tests/test_course.py", "tests/test_install.py", "README.md", "environment.yml", "LICENSE",
                   "pyproject.toml", "notebooks/04_loss_by_timestep.ipynb"):
        assert f"{top}/{needed}" in in_sdist, needed
    size = wheel.stat().st_size / 1e6
    TIMES["wheel MB"] = size
    print(f"wheel {wheel.name}: {size:.2f} MB; sdist {sdist.stat().st_size / 1e6:.2f} MB")


def test_in_a_colab_like_kernel_the_first_cell_installs_the_package_and_keeps_torch(dist, venv):
    wheel, _ = dist
    root, py = venv
    assert _run([py, "-c", "import importlib.util as u; print(u.find_spec('ddpm_edu'))"], root, _env()).stdout.strip() == "None"
    before = _torch_stamp(py, root)
    colab = root / "colab"
    colab.mkdir()
    nb = colab / NOTEBOOKS[0]
    shutil.copy(ROOT / "notebooks" / NOTEBOOKS[0], nb)
    start = time.perf_counter()
    _run([py, "-c", RUN, nb], colab, _env(DDPM_EDU_PIP_SPEC=str(wheel), DDPM_EDU_FAST="1"))
    TIMES["first cell's install and notebook 01"] = time.perf_counter() - start
    first = next(c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    text = "".join("".join(o.get("text", "")) for o in first["outputs"])
    assert f"installing {wheel} with pip, keeping torch 2.13.0" in text, text
    assert "installed ddpm_edu" in text and "no restart needed" in text, text
    assert _torch_stamp(py, root) == before, "the first cell reinstalled torch"
    where = _run([py, "-c", "import ddpm_edu; print(ddpm_edu.__file__)"], colab, _env()).stdout.strip()
    assert str(root / "venv") in where and str(ROOT) not in where


def test_pip_install_keeps_torch_and_every_copied_notebook_runs_outside_the_repository(dist, venv):
    wheel, _ = dist
    root, py = venv
    before = _torch_stamp(py, root)
    start = time.perf_counter()
    _run([py, "-m", "pip", "install", "--quiet", wheel], root, _env())
    TIMES["pip install of the wheel (its dependencies already there)"] = time.perf_counter() - start
    assert _torch_stamp(py, root) == before, "installing the wheel reinstalled torch"
    course = root / "course"
    out = _run([root / "venv" / "bin" / "ddpm-edu", "notebooks", course], root, _env()).stdout
    assert f"the course's notebooks are in {course}" in out
    assert sorted(p.name for p in course.glob("*.ipynb")) == NOTEBOOKS
    sys_path = _run([py, "-c", "import sys, ddpm_edu; print(sys.path); print(ddpm_edu.__file__)"], course, _env()).stdout
    assert str(ROOT) not in sys_path
    start = time.perf_counter()
    env = _env(DDPM_EDU_FAST="1", OMP_NUM_THREADS="1")
    procs, failed = [], []
    pending = sorted(course.glob("*.ipynb"), key=lambda p: -p.stat().st_size)
    while pending or procs:
        while pending and len(procs) < 2:            # two at a time, one core each
            nb = pending.pop(0)
            procs.append((nb, subprocess.Popen([str(py), "-c", RUN, str(nb)], cwd=course, env=env,
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
        nb, proc = procs.pop(0)
        out, _ = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            failed.append(f"{nb.name}:\n{out[-2500:]}")
    TIMES["every copied notebook, fast mode, two at a time"] = time.perf_counter() - start
    assert not failed, "\n".join(failed)
    assert list(course.glob("*.ipynb")) and not (course / "runs").exists()
    print("; ".join(f"{k}: {v:.1f}" + ("" if "MB" in k else " s") for k, v in TIMES.items()))
