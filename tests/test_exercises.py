"""Every exercise accepts its solution and rejects a wrong answer with a hint."""
import pytest
import torch

from ddpm_edu.exercises import EXERCISES, _SOLUTIONS, check


def _wrong(kind, sol):
    return {"number": lambda: sol * 1.5 + 0.1, "integer": lambda: sol + 1, "word": lambda: "eps",
            "function": lambda: (lambda *args: 0.0), "sympy": lambda: 2 * sol,
            "code": lambda: (lambda *args: 0.5 * sol(*args))}[kind]()


@pytest.mark.parametrize("key", list(EXERCISES))
def test_solution_passes_and_a_wrong_answer_gets_the_hint(key):
    sol = _SOLUTIONS[key]()
    assert check(key, sol).correct
    verdict = check(key, _wrong(EXERCISES[key].kind, sol))
    assert not verdict.correct and EXERCISES[key].hint in verdict.message


def test_every_notebook_from_02_has_two_or_three_exercises():
    for nb in ("02", "03", "04", "05", "06", "07"):
        assert 2 <= sum(ex.notebook == nb for ex in EXERCISES.values()) <= 3


def test_solutions_match_independent_values():
    import math
    import numpy as np
    b1, b2 = 1e-4, 1e-4 + (0.02 - 1e-4) / 999                                 # the linear schedule's first two betas
    assert check("02.1", b2 / (2 * (1 - b2) * (1 - (1 - b1) * (1 - b2))))      # lambda_2 by hand
    assert not check("02.1", 0.50005)                                          # lambda_1, printed in notebook 02
    assert check("04.2", 1e-4 / 0.9999)           # 1 / SNR_1 = beta_1 / (1 - beta_1)
    assert check("06.1", 1.4426950408889634)      # 1 / ln 2
    from ddpm_edu import symbolic as S
    nm = S.noise_matching().results
    assert check("02.2", nm["lambda_beta_tilde"] / nm["lambda_beta"])          # the ratio of SymPy's two derivations
    from ddpm_edu import NoiseSchedule, objectives as O, weight
    lin = NoiseSchedule.linear()
    snr = lin.snr[1:].double()
    for k, gamma in ((1.0, 1.0), (0.5, 2.0)):     # P2 on the v-MSE, against weighting.weight (up to its normalisation)
        w = weight(lin, "p2", "v", k=k, gamma=gamma)[1:].double()
        ours = torch.as_tensor([_SOLUTIONS["03.1"]()(float(x), k, gamma) for x in snr], dtype=torch.float64)
        assert torch.allclose(w / w.mean(), ours / ours.mean(), rtol=1e-6)
    betas = np.linspace(1e-4, 0.02, 1000)
    ab = np.cumprod(1 - betas)
    assert check("03.2", int(np.argmax(ab / (1 - ab) <= 20)) + 1)             # SNR_t <= 20 from the betas by hand
    lam = np.linspace(*O.LAMBDA_RANGE, 4001)
    at_minus_5 = {name: float(np.interp(-5.0, lam, O.normalised(name, lam))) for name in O.OBJECTIVES}
    assert check("07.1", max(at_minus_5, key=at_minus_5.get))
    assert check("07.3", float(O.effective_weighting("sd3", np.array([0.0]))[0]))
    assert math.isclose(_SOLUTIONS["07.3"](), 0.7978845608, rel_tol=1e-9)      # sqrt(2 / pi)
    assert check("07.3", 0.8) and not check("07.3", 0.78)         # a hand answer to two digits passes, a wrong one not


def test_answers_of_the_wrong_type_or_that_raise_do_not_crash():
    assert not check("03.1", 5.0).correct                  # not a function
    assert not check("03.1", lambda snr, k, gamma: 1 / 0).correct
    assert not check("03.2", True).correct
    assert not check("02.2", "lambda").correct
    with pytest.raises(ValueError, match="^exercise="):
        check("99.9", 1)


@pytest.mark.parametrize("key", list(EXERCISES))
def test_an_unanswered_exercise_says_what_to_write_and_never_raises(key):
    from ddpm_edu.exercises import KIND_WORDS
    verdict = check(key, None)
    assert not verdict.correct and not verdict.answered
    assert repr(verdict).startswith("Not answered yet.") and KIND_WORDS[EXERCISES[key].kind] in verdict.message
    assert "Traceback" not in repr(verdict) and "NoneType" not in repr(verdict)


def test_a_function_that_still_returns_none_is_not_answered_yet():
    verdict = check("03.1", lambda snr, k, gamma: None)
    assert not verdict.answered and "return None" in verdict.message


@pytest.mark.parametrize("key, answer, expected", [("02.1", "0.5", "a number"), ("03.2", 2.5, "an integer"),
                                                   ("03.1", 3.0, "a Python function"), ("02.2", 0.5, "a SymPy expression"),
                                                   ("07.1", 7, "a word")])
def test_a_wrong_type_says_which_type_was_expected(key, answer, expected):
    verdict = check(key, answer)
    assert verdict.answered and not verdict.correct and f"should be {expected}" in verdict.message


def test_the_log1p_hint_answer_is_accepted_for_the_prior_term():
    import math
    from ddpm_edu import NoiseSchedule
    ab = float(NoiseSchedule.linear().alpha_bars[-1])
    assert check("02.3", 0.5 * (9 * ab - ab - math.log1p(-ab))) and check("02.3", (9 * ab - ab - math.log(1 - ab)) / 2)
