"""How the package is laid out, held by tests: one forward process, one loss formula, one trainer; small functions
and classes in the middle layer; imports that only point down; options declared once; validation once per call.
"""
import ast
import collections
import os
import re
import subprocess
import sys
import threading
from dataclasses import fields
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "ddpm_edu"

# ---------------------------------------------------------------------------- one forward process
# x_t = a x0 + s eps written out: "<a> * <x0-like> + <s> * <noise-like>" (any names), the v target "a eps - s x0"
FORWARD = re.compile(r"\*\s*\(?\s*(x0|x|xx|x_0|data\[idx\])\s*\)?\s*\+\s*[^#\n]*\*\s*\(?\s*(noise|eps|z)\b")
V_TARGET = re.compile(r"\*\s*(noise|eps)\s*-\s*[\w\.\[\]\(\)]+\s*\*\s*(x0|x)\b")


def formula_lines(pkg: Path, pattern) -> list:
    """``file:line`` of every code line (comments and docstrings aside) in ``pkg`` that writes ``pattern``;
    symbolic.py, the SymPy derivations, is exempt."""
    hits = []
    for path in sorted(pkg.glob("*.py")):
        if path.name == "symbolic.py":
            continue
        tree = ast.parse(path.read_text())
        doc_lines = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                doc_lines |= set(range(node.lineno, node.end_lineno + 1))
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if i not in doc_lines and pattern.search(code):
                hits.append(f"{path.name}:{i}: {line.strip()}")
    return hits


def test_the_forward_process_is_written_once_in_the_package():
    hits = formula_lines(PKG, FORWARD)
    assert len(hits) == 1 and hits[0].startswith("diffusion.py"), hits


def test_the_v_target_is_written_nowhere_but_as_diffusion_coefficients():
    assert formula_lines(PKG, V_TARGET) == []


def test_the_formula_check_finds_the_copies_it_is_meant_to_find(tmp_path):
    """The scan itself: each way the old middle layer wrote x_t and v is caught, a comment or docstring is not."""
    (tmp_path / "m.py").write_text('"""x_t = a * x0 + s * eps in a docstring"""\n'
                                   "x_t = a * x0 + s * noise\n"
                                   "z = a * x + s * eps\n"
                                   "x_t = sqrt_ab[t].view(shape) * data[idx] + sqrt_1m[t].view(shape) * noise\n"
                                   "x_t = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps\n"
                                   "v = a * noise - s * x0  # and a comment: a * x0 + s * eps\n")
    assert len(formula_lines(tmp_path, FORWARD)) == 4
    assert len(formula_lines(tmp_path, V_TARGET)) == 1


# ---------------------------------------------------------------------------- small pieces
MIDDLE = ("training", "losses", "timesteps", "evaluation", "runtime", "experiment", "sampling", "vlb", "widgets",
          "bench")


def sizes(path: Path):
    """``[(kind, name, lines)]`` for every function (methods included) and class of a module."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(("function", node.name, node.end_lineno - node.lineno + 1))
        elif isinstance(node, ast.ClassDef):
            out.append(("class", node.name, node.end_lineno - node.lineno + 1))
    return out


@pytest.mark.parametrize("module", MIDDLE)
def test_no_function_over_80_lines_and_no_class_over_150_in_the_middle_layer(module):
    too_long = [(kind, name, n) for kind, name, n in sizes(PKG / f"{module}.py")
                if n > (80 if kind == "function" else 150)]
    assert not too_long, too_long


# ---------------------------------------------------------------------------- imports point down
LAYERS = [
    {"_checks", "symbolic", "runtime", "threads", "course", "plotting", "_digests"},   # no ddpm_edu maths below them
    {"schedules", "data", "models"},
    {"diffusion"},
    {"weighting", "objectives", "timesteps", "optimal", "quality", "vlb"},
    {"losses"},
    {"evaluation", "sampling"},
    {"training"},
    {"experiment", "continuous", "widgets", "handson"},
    {"bench", "exercises"},
    {"assignments", "slides"},                                                  # for instructors
    {"cli", "__init__"},
    {"__main__"},
]


def import_graph() -> dict:
    graph = {}
    for path in PKG.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module} if node.module else {a.name for a in node.names}
        graph[path.stem] = {d for d in deps if (PKG / f"{d}.py").exists()}
    return graph


def test_no_module_of_the_package_imports_itself_through_another():
    """The import graph (module-level and inside functions) has no cycle: _checks once imported schedules."""
    graph = import_graph()

    def cycle_from(start):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return path + [nxt]
                if nxt not in path:
                    stack.append((nxt, path + [nxt]))
        return None

    cycles = [c for c in (cycle_from(m) for m in graph) if c]
    assert not cycles, cycles


def test_every_module_has_a_layer_and_imports_only_from_layers_below_it():
    graph = import_graph()
    layer = {m: i for i, group in enumerate(LAYERS) for m in group}
    assert set(graph) == set(layer), set(graph) ^ set(layer)
    upward = [(m, d) for m, deps in graph.items() for d in deps if layer[d] >= layer[m] and d != m
              and not (layer[d] == layer[m] == 0 and d == "_checks")]
    assert not upward, upward


# ---------------------------------------------------------------------------- the trainer's loss
def _independent_loss(trainer, schedule, x, target, w):
    """The first step's loss, drawn again from the member's seed and computed with diffusion's public functions:
    x_t from q_sample, the target from convert (the true eps turned into the target's space)."""
    from ddpm_edu import convert, q_sample

    cfg = trainer.config
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randint(0, x.shape[0], (cfg.batch_size,), generator=g)
    t = torch.randint(1, schedule.T + 1, (cfg.batch_size,), generator=g)
    eps = torch.randn((cfg.batch_size,) + tuple(x.shape[1:]), generator=g).double()     # drawn in float32, as trained
    x0 = x[idx].double()
    x_t = q_sample(schedule, x0, t, eps)
    y = convert(schedule, eps, x_t, t, source="eps", target=target)
    mse = (trainer.model(x_t, t) - y).square().flatten(1).mean(1)
    return (w[t] * mse).mean()


@pytest.mark.parametrize("target", ["eps", "x0", "v"])
@pytest.mark.parametrize("weighting", ["simple", "vlb", "min_snr", "p2", "snr_plus_one"])
def test_the_trainers_loss_is_the_weighted_mse_of_q_sample_and_convert(target, weighting):
    from ddpm_edu import NoiseSchedule, data, weight
    from ddpm_edu.models import MLPDenoiser
    from ddpm_edu.training import TrainConfig, Trainer

    schedule = NoiseSchedule.linear(T=200)
    x = data.digits()[0][:300]
    torch.manual_seed(0)
    cfg = TrainConfig(target=target, weighting=weighting, batch_size=64, seed=4, device="cpu", dtype="float64")
    trainer = Trainer(MLPDenoiser(64, width=16), x, schedule, cfg)
    loss, error, t = trainer.loss(trainer.predict, trainer.data)
    expected = _independent_loss(trainer, schedule, x, target, weight(schedule, weighting, target))
    assert loss.shape == (1,) and error.shape == (1, 64) and t.shape == (1, 64)
    torch.testing.assert_close(loss[0], expected, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------- options declared once
def test_every_run_option_is_a_runconfig_field_and_a_train_flag_with_its_default():
    from ddpm_edu.cli import build_parser
    from ddpm_edu.experiment import RunConfig, run

    train = next(a for a in build_parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith("train"))
    by_dest = {a.dest: a for a in train._actions}
    flagged = [f for f in fields(RunConfig) if f.metadata.get("flag")]
    assert len(flagged) >= 17
    for f in flagged:
        action = by_dest[f.name]
        assert action.option_strings == [f.metadata["flag"]], f.name
        assert action.default == f.default and action.help.startswith(f.metadata["help"][:20]), f.name
        assert list(action.choices or []) == list(f.metadata.get("choices") or []), f.name
    unflagged = {f.name for f in fields(RunConfig)} - {f.name for f in flagged}
    assert unflagged == {"weighting_params", "with_floor", "settings"}       # --param/--gamma, and notebook-only ones
    with pytest.raises(ValueError, match=r"^bogus=1 is not allowed: unknown run option; the options are data, target"):
        run(data="moons", bogus=1)


def test_a_data_set_is_one_record():
    from ddpm_edu.data import DATASETS, SPECS
    from ddpm_edu.experiment import load_data

    assert tuple(SPECS) == DATASETS
    for name, spec in SPECS.items():
        train, held, shape = load_data(name, 0)
        assert shape == spec.shape == tuple(train.shape[1:]) == tuple(held.shape[1:])
        if spec.levels is not None:                      # the digits: 17 grey levels, 0.125 apart in [-1, 1]
            assert torch.unique(train).numel() == spec.levels and float(train.min()) == -1 and float(train.max()) == 1
    # the data set's name is switched on in data.py alone (its record), not in the modules that use it
    switched = [f"{p.name}:{i}" for p in PKG.glob("*.py") if p.name != "data.py"
                for i, line in enumerate(p.read_text().splitlines(), 1)
                if re.search(r"""(data|data_name|name)\s*==\s*["'](digits|moons|swiss_roll|gaussian_mixture)""", line)]
    assert not switched, switched


# ---------------------------------------------------------------------------- validation once
def count_checks(fn) -> collections.Counter:
    """How often each argument check of ``_checks`` is entered from outside ``_checks`` while ``fn()`` runs:
    ``{(check, argument name, calling function): count}`` (every thread)."""
    counts = collections.Counter()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.endswith(os.sep + "_checks.py"):
            caller = frame.f_back
            if caller is not None and not caller.f_code.co_filename.endswith(os.sep + "_checks.py"):
                where = f"{Path(caller.f_code.co_filename).stem}.{caller.f_code.co_qualname}"
                counts[(frame.f_code.co_name, frame.f_locals.get("name"), where)] += 1
    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return counts


def test_a_run_checks_each_argument_once():
    """A whole run (train, evaluate per t, the floor, sampling, the quality report) enters no check twice for the
    same argument in the same function: nothing is re-checked in an inner loop or by a second layer."""
    from ddpm_edu.experiment import run

    settings = {"steps": 3, "n_eval": 8, "n_samples": 8, "n_floor": 4, "log_every": 1}
    for data in ("moons", "digits"):
        counts = count_checks(lambda: run(data=data, steps=3, width=8, settings=settings, progress=False, device="cpu"))
        again = {k: v for k, v in counts.items() if v > 1}
        assert not again, again
        assert 40 < sum(counts.values()) < 120, sum(counts.values())


def test_the_check_counter_sees_a_check_in_a_loop():
    from ddpm_edu import NoiseSchedule, q_sample

    lin = NoiseSchedule.linear()
    counts = count_checks(lambda: [q_sample(lin, torch.zeros(2, 3), 5, torch.ones(2, 3)) for _ in range(3)])
    assert counts[("check_timesteps", "t", "diffusion.q_sample")] == 3


def test_the_package_imports_without_the_browser_harness():
    """The benchmark's browser harness lives in scripts/, not in the package."""
    text = "\n".join(p.read_text() for p in PKG.glob("*.py"))
    imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", text, re.M)        # a printed hint may name a server
    assert not [m for m in imports if m.startswith(("playwright", "http.server"))], imports
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_explorers.py"), "--help"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0 and "redraw" in out.stdout
