"""What the executed notebooks show a student (the copies the nbval stage of `make test` writes to build/executed).

An exercise must not be answered above it: no number a numeric exercise asks for may be printed, or written
in a cell, before the cell that checks it (notebook 02 once printed lambda_1 just above "what is lambda_1?").
"""
import json
import os
import re
from pathlib import Path

import pytest

from _solutions import value as solution
from ddpm_edu.exercises import EXERCISES, check

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = Path(os.environ.get("DDPM_EDU_EXECUTED_DIR", ROOT / "build" / "executed"))
if not EXECUTED.is_absolute():
    EXECUTED = ROOT / EXECUTED


def spellings(value: float) -> set:
    """The ways a notebook might print ``value`` with at least 3 significant digits, fixed or scientific
    (a "1" or "0.5" on the page is not an answer given away: such numbers are everywhere)."""
    out = {f"{value:.{d}g}" for d in (3, 4, 5, 6)} | {f"{value:.{d}e}" for d in (2, 3)}
    if abs(value) >= 0.01:
        out |= {f"{value:.{d}f}" for d in (2, 3, 4, 5)}
    return {s for s in out if len(re.sub(r"e.*$", "", s).replace("-", "").replace(".", "").lstrip("0")) >= 3}


def shown_before(notebook: Path, key: str) -> str:
    """Every source line and printed output of the cells above the one that runs check("key", ...)."""
    cells = json.loads(notebook.read_text())["cells"]
    text = []
    for cell in cells:
        source = "".join(cell["source"])
        if f'check("{key}"' in source:
            return "\n".join(text)
        text.append(source)
        for out in cell.get("outputs", []):
            text.append("".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", "")))
    raise AssertionError(f"no cell of {notebook.name} checks exercise {key}")


NUMERIC = [k for k, ex in EXERCISES.items() if ex.kind == "number"]


@pytest.mark.parametrize("key", NUMERIC)
def test_no_numeric_exercise_is_answered_above_it(key):
    notebooks = sorted(EXECUTED.glob(f"{EXERCISES[key].notebook}_*.ipynb"))
    if not notebooks:
        pytest.skip(f"no executed notebook in {EXECUTED} (make test writes them before this stage)")
    shown = shown_before(notebooks[0], key)
    value = float(solution(key))
    found = [s for s in spellings(value) if re.search(rf"(?<![\d.]){re.escape(s)}(?![\d])", shown)
             and check(key, float(s))]                          # copying it from the page would pass the check
    assert not found, f"exercise {key}'s answer {value!r} is shown above it in {notebooks[0].name} as {found}"
