"""``ddpm-edu assignments [DIR]``: the course's exercises as an nbgrader course directory.

    DIR/nbgrader_config.py                       (kept if it is already there: the instructor may have edited it)
    DIR/source/hwNN/hwNN_exercises.ipynb         one assignment per notebook with exercises (hw02 ... hw09)

Each exercise is an autograded answer cell, the instructor's solution between ``### BEGIN SOLUTION`` and
``### END SOLUTION``, then a locked, graded test cell: the visible test is the student's own ``check(...)``; the hidden
tests (``### BEGIN HIDDEN TESTS``) compare with the solution's exact values, or with the package's own code for
notebook 08, written into the source notebook (nbgrader removes them from the release and puts them back to grade).

The solutions are not in the installed package: they are read from the course's repository, ``scripts/solutions.py``
(``solutions=``). nbgrader itself is only needed to generate and grade (``pip install "ddpm-edu[instructor]"``).
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from .exercises import EXERCISES

POINTS = {"number": 1, "integer": 1, "word": 1, "function": 2, "sympy": 2, "code": 3}

TITLES = {"02": "Deriving the VLB", "03": "Weightings", "04": "The loss by timestep", "05": "Parameterizations",
          "06": "The bound", "07": "Modern objectives", "08": "Build it yourself", "09": "Score and samplers"}

CONFIG = '''\
# nbgrader's configuration for the ddpm-edu course (written by `ddpm-edu assignments`; yours to edit)
c = get_config()  # noqa: F821 - nbgrader provides it
c.CourseDirectory.course_id = "ddpm-edu"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
c.ExecutePreprocessor.timeout = 300
'''

# notebook 08's hidden tests: the student's function against the package's own, on draws the visible check never uses
HIDDEN_CODE = {
    "08.1": """\
from ddpm_edu import diffusion
g = torch.Generator().manual_seed(101)
x0, eps = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
t = torch.tensor([1, 17, 640, 1000])
ab = lin.alpha_bars.float()
assert torch.allclose(q_sample(x0, t, eps, ab), diffusion.q_sample(lin, x0, t, eps), atol=1e-6)""",
    "08.2": """\
from ddpm_edu import handson, weight
from ddpm_edu.models import MLPDenoiser
torch.manual_seed(101)
net = MLPDenoiser(3, width=8)
g = torch.Generator().manual_seed(101)
x0, eps = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
t = torch.tensor([1, 2, 50, 500, 999, 1000])
for target in ("eps", "x0", "v"):
    w, ab = weight(lin, "min_snr", target).float(), lin.alpha_bars.float()
    ours = handson.ref_loss(net, x0, t, eps, ab, w, target)
    assert torch.allclose(loss(net, x0, t, eps, ab, w, target), ours, rtol=1e-5)""",
    "08.3": """\
import copy
from ddpm_edu import handson, weight
from ddpm_edu.models import MLPDenoiser
torch.manual_seed(101)
data = torch.rand(200, 3) * 2 - 1
nets = [MLPDenoiser(3, width=8), None]
nets[1] = copy.deepcopy(nets[0])
opts = [torch.optim.Adam(n.parameters(), lr=1e-2) for n in nets]
w, ab = weight(lin, "simple", "eps").float(), lin.alpha_bars.float()
for step in range(3):
    mine = train_step(nets[0], opts[0], data, ab, w, "eps", 16, torch.Generator().manual_seed(step))
    ours = handson.ref_train_step(nets[1], opts[1], data, ab, w, "eps", 16,
                                  torch.Generator().manual_seed(step))
    assert abs(mine - ours) <= 1e-5 * abs(ours)
assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(nets[0].parameters(), nets[1].parameters()))""",
    "08.4": """\
from ddpm_edu import handson
from ddpm_edu.models import MLPDenoiser
short = NoiseSchedule.linear(T=20, beta_start=1e-3, beta_end=0.3)
torch.manual_seed(101)
net = MLPDenoiser(3, width=8).eval()
with torch.no_grad():
    ab, betas = short.alpha_bars.float(), short.betas.float()
    mine = sample(net, ab, betas, (3,), 5, torch.Generator().manual_seed(7))
    ours = handson.ref_sample(net, ab, betas, (3,), 5, torch.Generator().manual_seed(7))
assert torch.allclose(mine, ours, atol=1e-5)""",
}


def default_solutions() -> Path:
    """``scripts/solutions.py`` of the checkout this package runs from (an editable install or the repository)."""
    return Path(__file__).resolve().parents[1] / "scripts" / "solutions.py"


def load_solutions(path=None):
    """The solutions module (scripts/solutions.py) at ``path``, or a ValueError that says where to find it."""
    path = Path(path) if path is not None else default_solutions()
    if not path.is_file():
        raise ValueError(f"solutions={str(path)!r} is not allowed: there is no such file. The instructor's solutions "
                         "are not in the installed package: run this in a clone of the course's repository, or give "
                         "the path of its scripts/solutions.py")
    spec = importlib.util.spec_from_file_location("ddpm_edu_solutions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(kind: str, source: str, grade_id: str, *, solution=False, points=None) -> dict:
    cell = {"cell_type": kind, "id": grade_id, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    cell["metadata"]["nbgrader"] = {"grade": points is not None, "grade_id": grade_id,
                                    "locked": not solution, "schema_version": 3, "solution": solution,
                                    "task": False, **({"points": points} if points is not None else {})}
    return cell


def _answer_cell(solutions, key: str) -> str:
    """The answer cell's source: the solution between nbgrader's markers (inside the def for a function)."""
    text = solutions.source(key)
    if text.startswith("def "):
        head, body = text.split("\n", 1)
        return f"{head}\n    ### BEGIN SOLUTION\n{body}\n    ### END SOLUTION"
    return f"### BEGIN SOLUTION\n{text}\n### END SOLUTION"


def _fresh_args(key: str):
    """Three points for a function's hidden test, away from the grid the visible check uses."""
    return {"03.1": [(0.3, 1.0, 1.0), (12.0, 0.5, 2.0), (1e-3, 3.0, 0.25)],
            "04.1": [(0.2, 0.5), (0.7, 2.0), (0.999, 0.1)],
            "05.1": [(0.5, -1.0, 0.3), (-2.0, 0.4, 0.9), (1.0, 1.0, 0.05)],
            "07.2": [(-9.0,), (0.0,), (7.5,)],
            "09.2": [(1.5, 0.1, 0.6), (-0.3, 0.5, 0.99), (2.0, 0.02, 0.03)]}[key]


def _hidden(solutions, key: str) -> str:
    ex, name = EXERCISES[key], solutions.name(key)
    if ex.kind == "code":
        return HIDDEN_CODE[key]
    value = solutions.value(key)
    if ex.kind == "number":
        return f"assert math.isclose(float({name}), {float(value)!r}, rel_tol={ex.rel_tol!r})"
    if ex.kind in ("integer", "word"):
        return f"assert {name} == {value!r}"
    if ex.kind == "function":
        return "\n".join(f"assert np.isclose(float({name}{args!r}), {float(value(*args))!r}, rtol=1e-6)"
                         for args in _fresh_args(key))
    from . import symbolic as S
    points = [(0.9, 0.5), (0.999, 0.01), (0.6, 0.97)]                       # sympy: alpha, abar_prev
    return "\n".join(f"assert math.isclose(float({name}.subs({{S.alpha: {a}, S.abar_prev: {p}}})), "
                     f"{float(value.subs({S.alpha: a, S.abar_prev: p}))!r}, rel_tol=1e-9)" for a, p in points)


def assignment(solutions, notebook: str) -> dict:
    """The source notebook of one assignment (the exercises of one course notebook), as nbformat 4 JSON."""
    keys = [k for k, ex in EXERCISES.items() if ex.notebook == notebook]
    total = sum(POINTS[EXERCISES[k].kind] for k in keys)
    cells = [_cell("markdown", f"# Homework {notebook}: {TITLES[notebook]}\n\n"
                               f"The exercises of notebook {notebook}, {total} points. Write each answer in its cell "
                               "(replace `raise NotImplementedError()`), run it, then run the test cell below it: "
                               "`check` tells you whether the answer is right and gives a hint when it is not. "
                               "More tests run when the homework is graded.", "intro"),
             _cell("code", solutions.SETUP, "setup")]
    for key in keys:
        ex, n = EXERCISES[key], key.replace(".", "_")
        cells.append(_cell("markdown", f"## Exercise {key} ({POINTS[ex.kind]} "
                                       f"point{'s' if POINTS[ex.kind] > 1 else ''})\n\n{ex.prompt}", f"prompt_{n}"))
        cells.append(_cell("code", _answer_cell(solutions, key), f"answer_{n}", solution=True))
        visible = f"verdict = check({key!r}, {solutions.name(key)})\nprint(verdict)\nassert verdict.correct"
        cells.append(_cell("code", f"{visible}\n### BEGIN HIDDEN TESTS\n{_hidden(solutions, key)}\n"
                                   "### END HIDDEN TESTS", f"test_{n}", points=POINTS[ex.kind]))
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                        "name": "python3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def notebooks_with_exercises() -> list:
    return sorted({ex.notebook for ex in EXERCISES.values()})


def write_course(folder, solutions=None) -> list:
    """Write the nbgrader course directory into ``folder`` (created); returns the lines to print."""
    module = load_solutions(solutions)
    folder = Path(folder)
    lines = []
    for nb in notebooks_with_exercises():
        path = folder / "source" / f"hw{nb}" / f"hw{nb}_exercises.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        book = assignment(module, nb)
        path.write_text(json.dumps(book, indent=1, ensure_ascii=False) + "\n")
        points = sum(POINTS[EXERCISES[k].kind] for k in EXERCISES if EXERCISES[k].notebook == nb)
        lines.append(f"wrote {path} ({points} points)")
    config = folder / "nbgrader_config.py"
    if config.exists():
        lines.append(f"kept {config} (already there)")
    else:
        config.write_text(CONFIG)
        lines.append(f"wrote {config}")
    return lines
