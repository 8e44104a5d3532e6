"""Every exercise accepts its solution and rejects a wrong answer with a hint."""
import pytest
import torch

from _solutions import value
from ddpm_edu.exercises import EXERCISES, check


def _wrong(kind, sol):
    return {"number": lambda: sol * 1.5 + 0.1, "integer": lambda: sol + 1, "word": lambda: "eps",
            "function": lambda: (lambda *args: 0.0), "sympy": lambda: 2 * sol,
            "code": lambda: (lambda *args: 0.5 * sol(*args))}[kind]()


@pytest.mark.parametrize("key", list(EXERCISES))
def test_solution_passes_and_a_wrong_answer_gets_the_hint(key):
    sol = value(key)
    assert check(key, sol).correct
    verdict = check(key, _wrong(EXERCISES[key].kind, sol))
    assert not verdict.correct and EXERCISES[key].hint in verdict.message


def test_every_notebook_from_02_has_two_to_five_exercises():
    for nb in ("02", "03", "04", "05", "06", "07", "08", "09"):
        assert 2 <= sum(ex.notebook == nb for ex in EXERCISES.values()) <= 5, nb


def test_solutions_match_independent_values():
    import math
    import numpy as np
    b1, b2 = 1e-4, 1e-4 + (0.02 - 1e-4) / 999                                 # the linear schedule's first two betas
    assert check("02.1", b2 / (2 * (1 - b2) * (1 - (1 - b1) * (1 - b2))))      # lambda_2 by hand
    assert not check("02.1", 0.50005)                                          # lambda_1, printed in notebook 02
    ab10 = np.prod(1 - np.linspace(1e-4, 0.02, 1000)[:10])
    assert check("04.2", 0.8 * (1 - ab10) / ab10)   # eps-MSE / SNR_10, from the betas by hand
    assert not check("04.2", 1e-4 / 0.9999)        # 1 / SNR_1, which notebook 04 prints for its own model
    assert check("06.1", 1.4426950408889634)      # 1 / ln 2
    from ddpm_edu import symbolic as S
    nm = S.noise_matching().results
    assert check("02.2", nm["lambda_beta_tilde"] / nm["lambda_beta"])          # the ratio of SymPy's two derivations
    from ddpm_edu import NoiseSchedule, objectives as O, weight
    lin = NoiseSchedule.linear()
    snr = lin.snr[1:].double()
    for k, gamma in ((1.0, 1.0), (0.5, 2.0)):     # P2 on the v-MSE, against weighting.weight (up to its normalisation)
        w = weight(lin, "p2", "v", k=k, gamma=gamma)[1:].double()
        ours = torch.as_tensor([value("03.1")(float(x), k, gamma) for x in snr], dtype=torch.float64)
        assert torch.allclose(w / w.mean(), ours / ours.mean(), rtol=1e-6)
    betas = np.linspace(1e-4, 0.02, 1000)
    ab = np.cumprod(1 - betas)
    assert check("03.2", int(np.argmax(ab / (1 - ab) <= 20)) + 1)             # SNR_t <= 20 from the betas by hand
    snr_hand = ab / (1 - ab)
    assert check("03.3", float(np.sqrt((1 + snr_hand[-1]) / (1 + snr_hand[0]))))    # P2's w_1 / w_T, gamma = 1/2
    p2 = weight(lin, "p2", "eps", k=1.0, gamma=0.5)
    assert check("03.3", float(p2[1] / p2[-1]))                                # the package's P2, normalised or not
    assert not check("03.3", float((1 + snr_hand[-1]) / (1 + snr_hand[0])))   # gamma = 1: notebook 03 prints its parts
    lam = np.linspace(*O.LAMBDA_RANGE, 4001)
    at_minus_5 = {name: float(np.interp(-5.0, lam, O.normalised(name, lam))) for name in O.OBJECTIVES}
    assert check("07.1", max(at_minus_5, key=at_minus_5.get))
    assert check("07.3", float(O.effective_weighting("sd3", np.array([0.0]))[0]))
    assert math.isclose(value("07.3"), 0.7978845608, rel_tol=1e-9)      # sqrt(2 / pi)
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


def test_the_first_wrong_answer_gets_the_idea_and_the_second_more_of_the_way():
    from ddpm_edu import exercises as E
    E._ATTEMPTS.pop("04.1", None)
    first = check("04.1", lambda alpha_bar, c2: 0.0)
    second = check("04.1", lambda alpha_bar, c2: 0.0)
    assert EXERCISES["04.1"].hint in first.message and "More:" not in first.message
    assert "More:" in second.message and EXERCISES["04.1"].more in second.message
    assert E.hint("04.1", 2) == f"{EXERCISES['04.1'].hint} More: {EXERCISES['04.1'].more}"
    with pytest.raises(ValueError, match="^level="):
        E.hint("04.1", 3)


GIVEAWAYS = {"02.1": "beta_t / (2 alpha_t", "02.3": "log(1 - abar_T)) / 2", "04.1": "s x_t / (a^2 c2 + s^2)",
             "05.1": "x0 = (x_t", "05.2": "v-MSE = eps-MSE + x0-MSE", "07.1": "bump", "07.3": "sech^2",
             "06.1": "log 2", "06.2": "p(t) * 1 / (T p(t))"}


@pytest.mark.parametrize("key", list(GIVEAWAYS))
def test_a_first_hint_points_to_the_idea_without_handing_over_the_answer(key):
    """The hints that used to give the solution away: the closed form (or, for 07.1, where to look) is not in the
    first hint; only the second level, after a second wrong answer, gives more of the way."""
    assert GIVEAWAYS[key] not in EXERCISES[key].hint
    assert EXERCISES[key].more


def test_a_number_answer_may_be_a_0d_tensor_or_a_numpy_scalar_and_a_function_may_be_torch():
    import numpy as np
    assert check("07.3", torch.tensor(0.798)).correct and check("07.3", np.float32(0.798)).correct
    assert not check("07.3", torch.tensor([0.798, 0.5])).correct                       # not one number
    assert check("04.1", lambda a, c2: a * c2 / (a * c2 + 1 - a)).correct
    assert check("05.1", lambda e, x, a: (e - torch.sqrt(1 - a) * x) / torch.sqrt(a)).correct   # tensors in, out


def test_the_bound_exercises_against_the_package_and_brute_force():
    """06.3 from the betas by hand, 06.4 with the package's discretized decoder, 06.5 by searching p(1) on a grid."""
    import math
    import numpy as np
    from ddpm_edu import NoiseSchedule
    from ddpm_edu.vlb import discretized_gaussian_log_likelihood
    b = np.linspace(1e-4, 0.02, 1000)
    ab = np.cumprod(1 - b)
    q = (1 - ab[1]) / (1 - ab[2])                      # beta-tilde_3 / beta_3
    assert check("06.3", 0.5 * (q - 1 - math.log(q)) / math.log(2))
    lin = NoiseSchedule.linear()
    x = torch.tensor([[0.25]], dtype=torch.float64)
    ll = discretized_gaussian_log_likelihood(x, x + 0.0625, torch.tensor([[0.5 * math.log(float(lin.betas[1]))]],
                                                                         dtype=torch.float64), levels=17)
    assert check("06.4", float(-ll) / math.log(2))
    p = np.linspace(0.01, 0.99, 9801)
    variance = 9 ** 2 / p + 1 / (1 - p) - 10 ** 2        # E[(L_t / p_t)^2] - (sum_t L_t)^2
    assert check("06.5", float(p[variance.argmin()]))
