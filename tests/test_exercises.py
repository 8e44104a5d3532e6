"""Every exercise accepts its solution and rejects a wrong answer with a hint."""
import pytest

from ddpm_edu.exercises import EXERCISES, _SOLUTIONS, check


def _wrong(kind, sol):
    return {"number": lambda: sol * 1.5 + 0.1, "integer": lambda: sol + 1, "word": lambda: "eps",
            "function": lambda: (lambda *args: 0.0), "sympy": lambda: 2 * sol}[kind]()


@pytest.mark.parametrize("key", list(EXERCISES))
def test_solution_passes_and_a_wrong_answer_gets_the_hint(key):
    sol = _SOLUTIONS[key]()
    assert check(key, sol).correct
    verdict = check(key, _wrong(EXERCISES[key].kind, sol))
    assert not verdict.correct and EXERCISES[key].hint in verdict.message


def test_every_notebook_from_02_has_two_or_three_exercises():
    for nb in ("02", "03", "04", "05", "06"):
        assert 2 <= sum(ex.notebook == nb for ex in EXERCISES.values()) <= 3


def test_solutions_match_independent_values():
    assert check("02.1", 0.50005)                 # 1 / (2 * 0.9999), by hand
    assert check("04.2", 1e-4 / 0.9999)           # 1 / SNR_1 = beta_1 / (1 - beta_1)
    assert check("06.1", 1.4426950408889634)      # 1 / ln 2
    from ddpm_edu import symbolic as S
    assert check("02.2", (1 - S.alpha) / (2 * S.alpha * (1 - S.abar_prev)))    # the textbook form


def test_answers_of_the_wrong_type_or_that_raise_do_not_crash():
    assert not check("03.1", 5.0).correct                  # not a function
    assert not check("03.1", lambda snr, gamma: 1 / 0).correct
    assert not check("03.2", True).correct
    assert not check("02.2", "lambda").correct
    with pytest.raises(ValueError, match="^exercise="):
        check("99.9", 1)
