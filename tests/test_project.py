"""Project hygiene: the dependency lists agree, notebooks are stored clean, CI runs the README's command."""
import json
import re
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# conda-forge spells some packages differently from PyPI
CONDA_TO_PYPI = {"pytorch": "torch", "python-build": "build"}


def _name_and_spec(requirement: str):
    m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement)
    return m.group(1).lower().replace("_", "-"), m.group(2).strip()


def _pyproject_requirements():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += extra
    # requirements with an environment marker are back-ports for old Pythons (tomli): conda's
    # python>=3.10 pin covers them, so they are not part of the comparison
    return dict(_name_and_spec(r) for r in reqs if ";" not in r)


def _conda_requirements():
    out = {}
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        line = line.split("#")[0].rstrip()
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and line.strip().startswith("- "):
            name, spec = _name_and_spec(line.strip()[2:])
            if name in ("python", "pip"):
                continue
            out[CONDA_TO_PYPI.get(name, name)] = spec
    return out


def test_environment_yml_and_pyproject_name_the_same_packages_and_bounds():
    assert _conda_requirements() == _pyproject_requirements()


def test_notebooks_are_stored_without_outputs_or_execution_counts():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for nb_path in notebooks:
        nb = json.loads(nb_path.read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{nb_path.name} cell {i} has stored outputs"
                assert cell.get("execution_count") is None, f"{nb_path.name} cell {i} has an execution count"


def test_no_notebook_or_module_holds_a_control_character():
    r"""A LaTeX command written through an ordinary Python string loses its backslash: "\\approx" typed as
    "\approx" is a bell character followed by "pprox" (and "\theta" a tab and "heta"), which MathJax cannot
    typeset. Notebooks, modules and the README hold no control character but the newline."""
    files = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "ddpm_edu").glob("*.py")) + [ROOT / "README.md"]
    bad = []
    for path in files:
        texts = ([c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                  for c in json.loads(path.read_text())["cells"]] if path.suffix == ".ipynb" else [path.read_text()])
        for i, text in enumerate(texts):
            for m in re.finditer(r"[\x00-\x09\x0b-\x1f\x7f]", text):
                bad.append(f"{path.name} (cell {i}): {text[max(0, m.start() - 20):m.end() + 10]!r}")
    assert not bad, bad


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [l for l in ci.splitlines() if l.strip() and not l.startswith("#")
                and not l.startswith("set ") and not l.startswith("cd ")]
    assert commands == ["make test SITE=1"] and "make test SITE=1" in readme
