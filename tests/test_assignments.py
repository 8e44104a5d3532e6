"""``ddpm-edu assignments`` writes an nbgrader course that nbgrader's own commands generate and grade: the release with
the instructor's solutions filled in by a script gets full points, the unanswered release zero. The package holds
digests of the solutions, not the solutions (checked against scripts/solutions.py here; that the wheel carries no
solution is checked in tests/test_install.py, which builds the run's one wheel)."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import _solutions as solutions
from ddpm_edu import assignments as A
from ddpm_edu.exercises import EXERCISES, check

ROOT = Path(__file__).resolve().parents[1]
NBGRADER = Path(sys.executable).parent / "nbgrader"
HOMEWORKS = [f"hw{nb}" for nb in A.notebooks_with_exercises()]


def test_the_digests_in_the_package_are_those_of_the_solutions():
    """ddpm_edu/_digests.py is what scripts/solutions.py writes from the solutions (rerun it after changing one)."""
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "solutions.py"), "--check"], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("key", list(EXERCISES))
def test_every_solution_passes_the_students_check(key):
    assert check(key, solutions.value(key)).correct


def test_a_number_within_its_tolerance_passes_and_one_beyond_twice_it_does_not():
    """The digest is taken on a log scale of step log(1 + rel_tol): within rel_tol always passes, beyond 2 rel_tol never."""
    for key in [k for k, ex in EXERCISES.items() if ex.kind == "number"]:
        v, tol = float(solutions.value(key)), EXERCISES[key].rel_tol
        for f in (1 - 0.99 * tol, 1 - tol / 3, 1 + tol / 3, 1 + 0.99 * tol):
            assert check(key, v * f).correct, (key, f)
        for f in (1 - 2.01 * tol, 1 + 2.01 * tol, -1.0):
            assert not check(key, v * f).correct, (key, f)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    if not NBGRADER.exists():
        pytest.skip("nbgrader is not installed here: pip install -e '.[instructor]'")
    folder = tmp_path_factory.mktemp("course")
    from ddpm_edu.cli import main
    assert main(["assignments", str(folder)]) == 0
    return folder


def _nbgrader(folder, *args):
    env = {**os.environ, "PATH": f"{NBGRADER.parent}{os.pathsep}{os.environ.get('PATH', '')}"}   # it calls alembic
    run = subprocess.run([str(NBGRADER), *args], cwd=folder, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, f"nbgrader {' '.join(args)}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run.stdout + run.stderr


def _filled(release: dict, source: dict) -> dict:
    """The release notebook with each answer cell replaced by the source's (the instructor's solution)."""
    answers = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in source["cells"]
               if c["metadata"].get("nbgrader", {}).get("solution")}
    out = json.loads(json.dumps(release))
    for c in out["cells"]:
        meta = c["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            c["source"] = answers[meta["grade_id"]]
    return out


def test_the_course_has_every_exercise_with_points_and_hidden_tests(course):
    assert (course / "nbgrader_config.py").exists()
    seen = []
    for hw in HOMEWORKS:
        book = json.loads((course / "source" / hw / f"{hw}_exercises.ipynb").read_text())
        for c in book["cells"]:
            meta = c["metadata"].get("nbgrader", {})
            if meta.get("solution"):
                assert "### BEGIN SOLUTION" in c["source"] and "### END SOLUTION" in c["source"]
            if meta.get("grade"):
                assert meta["locked"] and meta["points"] > 0
                assert "check(" in c["source"] and "### BEGIN HIDDEN TESTS" in c["source"]
                seen.append(meta["grade_id"].removeprefix("test_").replace("_", "."))
    assert sorted(seen) == sorted(EXERCISES)


def test_nbgrader_gives_full_points_to_the_solutions_and_zero_to_the_blank_release(course):
    for hw in HOMEWORKS:
        _nbgrader(course, "generate_assignment", hw, "--force")
        release = course / "release" / hw / f"{hw}_exercises.ipynb"
        text = release.read_text()
        assert "### BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text, hw
        source = json.loads((course / "source" / hw / f"{hw}_exercises.ipynb").read_text())
        for student, book in (("solved", _filled(json.loads(text), source)), ("blank", json.loads(text))):
            target = course / "submitted" / student / hw / release.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(book))
    for hw in HOMEWORKS:
        _nbgrader(course, "autograde", hw, "--create", "--force")
    _nbgrader(course, "export", "--to", "grades.csv")
    rows = list(csv.DictReader(open(course / "grades.csv")))
    scores = {(r["student_id"], r["assignment"]): (float(r["raw_score"]), float(r["max_score"])) for r in rows}
    total = {hw: sum(A.POINTS[ex.kind] for ex in EXERCISES.values() if f"hw{ex.notebook}" == hw) for hw in HOMEWORKS}
    print({k: v for k, v in sorted(scores.items())})
    for hw in HOMEWORKS:
        assert scores[("solved", hw)] == (total[hw], total[hw]), hw
        assert scores[("blank", hw)] == (0.0, total[hw]), hw


def test_without_the_solutions_the_command_says_where_they_are_in_one_line(tmp_path, capsys):
    from ddpm_edu.cli import main
    assert main(["assignments", str(tmp_path / "c"), "--solutions", str(tmp_path / "nope.py")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --solutions") and "not in the installed package" in err and "\n" not in err


def test_slides_from_a_folder_without_the_executed_notebooks_is_one_line(tmp_path, capsys):
    from ddpm_edu.cli import main
    assert main(["slides", str(tmp_path / "s"), "--executed", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --executed") and "lacks" in err and "\n" not in err
