"""Exercises for notebooks 02-09, with their checks and hints. A student calls ``check("02.1", answer)`` and gets
a verdict, and a hint when wrong. The solutions are not in the package: it holds a digest of each (``_digests.py``,
written from the repository's ``scripts/solutions.py``, which ``ddpm-edu assignments`` reads), and a check compares
the answer's digest, taken at the exercise's tolerance (:func:`_near`), with it. Notebook 08's code is checked against
the package's own forward process, loss, trainer and sampler, which the course needs anyway.

Kinds of answer: a number (checked to a relative tolerance; a 0-d torch tensor or numpy scalar is a number), an
integer, a word, a Python function (checked on a grid of inputs; floats in, or 0-d float64 tensors for a torch
function), a SymPy expression (checked by SymPy: difference = 0), or code: notebook 08's own q_sample, loss,
training step and sampler, checked against the package by :mod:`ddpm_edu.handson`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Exercise:
    notebook: str
    prompt: str
    kind: str            # "number", "integer", "word", "function", "sympy", "code"
    hint: str            # the idea, given with every wrong answer
    rel_tol: float = 1e-3
    more: str = ""       # more of the way, added from the second wrong answer on (or with hint(key, 2))


KIND_WORDS = {
    "number": "a number (an int or a float)",
    "integer": "an integer",
    "word": "a word in quotes",
    "function": "a Python function (def or lambda)",
    "sympy": "a SymPy expression",
    "code": "your function (def ...)",
}


@dataclass(frozen=True)
class Verdict:
    """The answer to a check: ``correct``, and a message; ``answered`` is False for ``None``."""
    correct: bool
    message: str
    answered: bool = True

    def __bool__(self) -> bool:
        return self.correct

    def _heading(self) -> str:
        return "Correct." if self.correct else ("Not answered yet." if not self.answered else "Not yet.")

    def _repr_markdown_(self) -> str:
        return f"**{self._heading()}** {self.message}"

    def __repr__(self) -> str:
        return f"{self._heading()} {self.message}"


EXERCISES = {
    "02.1": Exercise("02", "On the linear schedule, what is lambda_2 (sigma_2^2 = beta_2)? A number.", "number",
                     "lambda_t is the factor in front of the squared eps-error in L_{t-1} once mean matching becomes "
                     "noise matching (notebook 02); evaluate it at t = 2 with sigma_2^2 = beta_2.",
                     more="lambda_t = beta_t / (2 alpha_t (1 - alpha-bar_t)) for sigma_t^2 = beta_t, with alpha-bar_2 = "
                          "(1 - beta_1)(1 - beta_2); lin.betas[1] and lin.betas[2] hold the betas."),
    "02.2": Exercise("02", "By what factor is lambda_t for sigma_t^2 = beta-tilde_t larger than for sigma_t^2 = beta_t? "
                     "A SymPy expression in S.alpha and S.abar_prev.", "sympy",
                     "lambda_t is proportional to 1 / sigma_t^2, everything else equal: the factor is a ratio of the two "
                     "variances.",
                     more="beta-tilde_t / beta_t = (1 - abar_{t-1}) / (1 - abar_t), and abar_t = alpha_t * abar_{t-1}."),
    "02.3": Exercise("02", "Predict L_T (nats per dimension) for one pixel x0 = 3 on the linear schedule "
                     "(T = 1000, alpha-bar_T = lin.alpha_bars[-1]).", "number",
                     "L_T is the KL between q(x_T | x_0) and N(0, 1): notebook 02's Gaussian KL with the forward "
                     "process's mean and variance at t = T.", rel_tol=1e-3,
                     more="L_T = (abar_T x0^2 - abar_T - log(1 - abar_T)) / 2. Compute log(1 - abar_T) as "
                          "math.log1p(-abar_T): it keeps its digits when abar_T is tiny."),
    "03.1": Exercise("03", "Write P2's weight (eps-space weight 1 / (k + SNR)^gamma) on the v-MSE as a function "
                     "w(snr, k, gamma).", "function",
                     "The same objective on another target: how is the v-MSE related to the eps-MSE (notebook 02)?",
                     more="v-MSE = (1 + 1/SNR) eps-MSE, so divide the eps-space weight by (1 + 1/SNR)."),
    "03.2": Exercise("03", "From which t on does Min-SNR-20 equal the simple weight (eps space, linear schedule)?",
                     "integer", "In eps space Min-SNR's weight is min(SNR, gamma) / SNR.",
                     more="It is 1 once SNR_t <= gamma, and SNR_t falls with t: the first t with lin.snr[t] <= 20."),
    "03.3": Exercise("03", "P2 with k = 1, gamma = 0.5 on the eps-MSE: the weight at t = 1 divided by that at t = T (linear).",
                     "number", "The eps-space P2 weight is 1 / (k + SNR_t)^gamma; it is small where SNR is large.",
                     more="SNR_1 = lin.snr[1], SNR_T = lin.snr[-1]; the ratio is ((1 + SNR_T) / (1 + SNR_1))^gamma."),
    "04.1": Exercise("04", "Data with independent Gaussian pixels of variance c2 (mean 0): the best possible "
                     "eps-loss per pixel at step t, as a function w(alpha_bar, c2).", "function",
                     "x_t = a x0 + s eps is Gaussian here: the best guess of eps is its linear regression on x_t, and "
                     "the loss is the part of eps's variance that x_t does not explain.",
                     more="Var x_t = a^2 c2 + s^2 and Cov(eps, x_t) = s, so E[eps | x_t] = s x_t / (a^2 c2 + s^2); the "
                          "leftover variance is 1 - s^2 / (a^2 c2 + s^2). (For c2 = 1 it is alpha_bar.)"),
    "04.2": Exercise("04", "A model's eps-MSE at t = 10 (linear schedule) is 0.8. What is its x0-MSE there?", "number",
                     "The eps-error and the x0-error of one model are tied by the SNR (notebook 02).",
                     more="eps-MSE = SNR_t x0-MSE, and SNR_10 = lin.snr[10] = alpha-bar_10 / (1 - alpha-bar_10)."),
    "05.1": Exercise("05", "Write v as a function of (eps, x_t, alpha_bar).", "function",
                     "Two equations tie x_t, x0, eps and v: the forward process and v's definition. Eliminate x0.",
                     more="v = sqrt(abar) eps - sqrt(1 - abar) x0 and x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar)."),
    "05.2": Exercise("05", "A model's eps-MSE at some t is 0.5 and SNR_t = 4 there. What is the same model's v-MSE?",
                     "number", "For one model, the v-, eps- and x0-errors are tied (notebook 02 proves how).",
                     more="v-MSE = eps-MSE + x0-MSE, and x0-MSE = eps-MSE / SNR_t."),
    "06.1": Exercise("06", "The factor that turns nats per dimension into bits per dimension.", "number",
                     "A bit is the information of a fair coin flip. How many nats is that?",
                     more="1 bit = ln 2 nats: divide a number of nats by ln 2."),
    "06.2": Exercise("06", "Importance sampling of t reweights each term by 1/(T p(t)). What is E over p of that weight?",
                     "number", "Write the expectation as a sum over t and simplify before computing anything.",
                     more="Sum over t of p(t) * 1 / (T p(t)): what is left of each term?"),
    "06.3": Exercise("06", "The fixed price of sigma_t^2 = beta_t at t = 3 (linear schedule): what a perfect x0 still pays "
                           "there, KL(N(m, beta-tilde_3) || N(m, beta_3)) per dimension, in bits?", "number",
                     "Two Gaussians with the same mean: only their variances differ (notebook 02's Gaussian KL).",
                     more="KL = (q - 1 - ln q) / 2 nats with q = beta-tilde_3 / beta_3 (lin.posterior_variance[3] / "
                          "lin.betas[3]); divide by ln 2 for bits."),
    "06.4": Exercise("06", "A decoder p(x_0 | x_1) whose mean is off by half a bin (0.0625) on an interior pixel of the "
                           "17-level digits, with sigma_1 = sqrt(beta_1) = 0.01: what is L_0 for that pixel, in bits?",
                     "number", "L_0 is minus the log of the probability mass the decoder's Gaussian puts on the pixel's "
                               "own bin (the discretized decoder, Ho et al. 2020, sec. 3.3).",
                     more="The bin is [x0 - 0.0625, x0 + 0.0625] and the mean sits on its upper edge: how much of a "
                          "Gaussian of sd 0.01 lies within 0.125 below its mean?"),
    "06.5": Exercise("06", "Two steps only (T = 2), with L_1 = 9 and L_2 = 1 for every example. Which p(1) minimises the "
                           "variance of the one-t estimate L_t / p(t)?", "number",
                     "The variance-minimising p(t) weighs each t by the size of its term (Nichol & Dhariwal 2021, "
                     "sec. 3.3; this notebook's importance sampling).",
                     more="p(t) is proportional to sqrt(E[L_t^2])."),
    "07.1": Exercise("07", "Which objective puts the most weight at lambda = -5, each normalised over lambda in [-10, 10]? "
                     "One of objectives.OBJECTIVES.", "word",
                     "Evaluate objectives.normalised(name, lam) for every name on a fine grid of lambda and read off the "
                     "value at lambda = -5.",
                     more="lam = np.linspace(*objectives.LAMBDA_RANGE, 4001); compare np.interp(-5, lam, "
                          "objectives.normalised(name, lam)) across objectives.OBJECTIVES."),
    "07.2": Exercise("07", "An objective weights the x0-MSE by SNR = e^lambda. Its weight on the eps-MSE, as a function w(lam)?",
                     "function", "The x0-error and the eps-error differ by the SNR (notebook 02).",
                     more="x0-MSE = e^(-lambda) eps-MSE."),
    "07.3": Exercise("07", "SD3's effective weighting p(lambda) w(lambda) at lambda = 0 (m = 0, s = 1, not normalised; "
                           "two significant digits are enough)?", "number",
                     "p(lambda) w(lambda): SD3's logit-normal density of t carried to lambda by the change of variables, "
                     "times the velocity target's weight on the eps-MSE (notebook 07).", rel_tol=0.01,
                     more="At lambda = 0, t = 1/2 and |dt/dlambda| = sech^2(lambda/4) / 8; the logit-normal density is "
                          "exp(-logit(t)^2 / 2) / (sqrt(2 pi) t (1 - t)); the velocity target's eps-weight is "
                          "w = (1 + e^(-lambda/2))^2."),
    "08.1": Exercise("08", "Write q_sample(x0, t, eps, alpha_bars): x_t for a batch x0 (B, ...), steps t (B,) in 1..T, "
                     "noise eps like x0, and the table alpha_bars (T + 1,) indexed by t.", "code",
                     "x_t mixes x0 and eps with the coefficients of notebook 01."),
    "08.2": Exercise("08", "Write loss(model, x0, t, eps, alpha_bars, weights, target): the batch's training loss for a "
                     "model predicting target (eps, x0 or v), each example's MSE weighted by weights[t].", "code",
                     "x_t from your q_sample, the target the model predicts, then the weighted mean."),
    "08.3": Exercise("08", "Write train_step(model, opt, data, alpha_bars, weights, target, batch_size, generator): draw "
                     "batch indices, t and eps (in that order), take one optimiser step on your loss, return the loss "
                     "as a float.", "code", "draw, loss, gradients, update."),
    "08.4": Exercise("08", "Write sample(model, alpha_bars, betas, shape, n, generator): n samples by ancestral "
                     "sampling (Ho et al. 2020, Algorithm 2, sigma_t^2 = beta_t) from an eps-model.", "code",
                     "from t = T down to 1; x_T is the generator's first draw."),
    "09.1": Exercise("09", "A model predicts eps_hat = 0.4 for one pixel at a step where alpha-bar_t = 0.36. What score "
                           "d/dx_t log q(x_t) does that prediction imply for that pixel? A number.", "number",
                     "The best eps and the score are proportional; the factor involves the noise's coefficient in x_t.",
                     more="eps*(x_t) = -sqrt(1 - alpha-bar_t) score(x_t)."),
    "09.2": Exercise("09", "Data x0 ~ N(0, 1) and its exact denoiser: one DDIM step with eta = 0 from x_t (at alpha-bar_t) "
                           "straight to the level alpha-bar_s. Write x_s as a function w(x_t, ab_t, ab_s).", "function",
                     "For N(0, 1) data x_t has variance 1, so E[eps | x_t] and E[x0 | x_t] are multiples of x_t.",
                     more="Gaussian conditioning: E[eps | x_t] = Cov(eps, x_t) x_t = sqrt(1 - ab_t) x_t and E[x0 | x_t] = "
                          "sqrt(ab_t) x_t; then eq. 12 of DDIM with sigma = 0."),
}

def _handson():
    from . import handson
    return handson


def _number(answer):
    """A number as a float, from an int, a float, a numpy scalar or a 0-d (one-element) torch tensor; else None."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, (int, float, np.integer, np.floating)):
        return float(answer)
    if type(answer).__module__.startswith("torch") and hasattr(answer, "numel") and answer.numel() == 1 \
            and answer.dtype.is_floating_point:
        return float(answer)
    if isinstance(answer, np.ndarray) and answer.size == 1 and np.issubdtype(answer.dtype, np.floating):
        return float(answer)
    return None


def _call(fn, args):
    """``fn(*args)`` as a float: with Python floats, or, for a torch function that wants tensors, 0-d float64 tensors."""
    try:
        out = fn(*args)
    except TypeError:
        import torch
        out = fn(*(torch.tensor(float(a), dtype=torch.float64) for a in args))
    return None if out is None else float(out)


def _grid_args(key):
    rng = np.random.default_rng(0)
    if key == "03.1":
        snr = np.exp(rng.uniform(-8, 8, 50))
        return [(s, k, g) for s, k, g in zip(snr, rng.uniform(0.1, 5, 50), rng.uniform(0.0, 2.0, 50))]
    if key == "04.1":
        return [(a, c2) for a, c2 in zip(rng.uniform(0.001, 0.999, 50), rng.uniform(0.05, 3.0, 50))]
    if key == "07.2":
        return [(lam,) for lam in rng.uniform(-10, 10, 50)]
    if key == "09.2":
        ab = np.sort(rng.uniform(0.001, 0.999, (50, 2)), axis=1)
        return [(x, t, s) for x, (t, s) in zip(rng.normal(size=50), ab)]
    return [(e, x, a) for e, x, a in zip(rng.normal(size=50), rng.normal(size=50), rng.uniform(0.01, 0.99, 50))]


FUNCTION_RTOL = 1e-6      # a function's values on the grid, relative
SYMPY_RTOL = 1e-9         # a SymPy answer's values at random points, relative


def _token(x: float, rel_tol: float, shift: int = 0) -> str:
    """The bin of ``x`` on a log scale of step log(1 + rel_tol), and its sign: two numbers within rel_tol of each
    other are in the same bin or in neighbouring ones."""
    if not math.isfinite(x):
        return "not finite"
    if abs(x) < 1e-300:
        return "0"
    return f"{'-' if x < 0 else '+'}{math.floor(math.log(abs(x)) / math.log1p(rel_tol)) + shift}"


def _hash(*parts) -> str:
    return hashlib.sha256("|".join(map(str, ("ddpm-edu", *parts))).encode()).hexdigest()[:16]


def _near(key: str, i: int, x: float, rel_tol: float, stored: str) -> bool:
    """Whether ``x`` is the solution whose digest is ``stored`` to within ``rel_tol`` (accepted up to twice that: the
    solution's bin or a neighbour)."""
    return any(_hash(key, i, _token(x, rel_tol, shift)) == stored for shift in (-1, 0, 1))


def _sympy_points():
    rng = np.random.default_rng(2)
    return [(a, p) for a, p in zip(rng.uniform(0.5, 0.9999, 20), rng.uniform(0.001, 0.999, 20))]


def _sympy_values(expr) -> list:
    from . import symbolic as S
    return [float(expr.subs({S.alpha: a, S.abar_prev: p})) for a, p in _sympy_points()]


def digests(key: str, solution):
    """The digest(s) of one solution, as ``_digests.py`` stores them (scripts/solutions.py writes that file)."""
    ex = EXERCISES[key]
    if ex.kind == "number":
        return _hash(key, 0, _token(float(solution), ex.rel_tol))
    if ex.kind in ("integer", "word"):
        return _hash(key, 0, str(solution).strip().lower())
    if ex.kind == "function":
        return tuple(_hash(key, i, _token(float(solution(*args)), FUNCTION_RTOL))
                     for i, args in enumerate(_grid_args(key)))
    if ex.kind == "sympy":
        return tuple(_hash(key, i, _token(v, SYMPY_RTOL)) for i, v in enumerate(_sympy_values(solution)))
    raise ValueError(f"exercise {key} is checked against the package's code, not a digest")


def digest_module(solutions: dict) -> str:
    """The text of ``_digests.py`` for ``{key: solution}``."""
    lines = ['"""Digests of the exercises\' solutions (ddpm_edu.exercises.digests), not the solutions: written by',
             'scripts/solutions.py from the instructor\'s solutions, which the package does not ship. Do not edit."""',
             "", "DIGESTS = {"]
    for key, solution in solutions.items():
        d = digests(key, solution)
        if isinstance(d, str):
            lines.append(f'    "{key}": "{d}",')
            continue
        lines.append(f'    "{key}": (')
        for i in range(0, len(d), 5):
            lines.append("        " + " ".join(f'"{x}",' for x in d[i:i + 5]))
        lines.append("    ),")
    return "\n".join(lines + ["}", ""])


def _matches(key: str, ex: Exercise, answer, stored):
    """Whether ``answer`` (already of the right type) is the solution; None for a function that returns None."""
    if ex.kind == "number":
        value = _number(answer)
        return math.isfinite(value) and _near(key, 0, value, ex.rel_tol, stored)
    if ex.kind == "integer":
        return _hash(key, 0, str(int(answer))) == stored
    if ex.kind == "word":
        return _hash(key, 0, answer.strip().lower()) == stored
    if ex.kind == "function":
        grid = _grid_args(key)
        if _call(answer, grid[0]) is None:
            return None
        return all(_near(key, i, _call(answer, args), FUNCTION_RTOL, d) for i, (args, d) in enumerate(zip(grid, stored)))
    from . import symbolic as S
    if not answer.free_symbols <= {S.alpha, S.abar_prev}:
        return False
    return all(_near(key, i, v, SYMPY_RTOL, d) for i, (v, d) in enumerate(zip(_sympy_values(answer), stored)))


def check(exercise: str, answer) -> Verdict:
    """Check ``answer`` for ``exercise`` (e.g. "03.2"); returns a :class:`Verdict` (truthy if correct)."""
    from ._checks import check_choice

    check_choice("exercise", exercise, tuple(EXERCISES))
    ex = EXERCISES[exercise]
    wrong = Verdict(False, "Hint: " + hint(exercise, 2 if _ATTEMPTS.get(exercise, 0) >= 1 else 1))
    expected = KIND_WORDS[ex.kind]
    if answer is None:
        return Verdict(False, f"Replace None with {expected}, then run the cell again.", answered=False)
    wrong_type = Verdict(False, f"The answer should be {expected}, not a {type(answer).__name__}. Hint: {ex.hint}")
    try:
        if ex.kind == "code":
            if not callable(answer):
                return wrong_type
            ok, message = _handson().run_check(exercise, answer, ex.hint)
            return Verdict(bool(ok), message, answered=ok is not None)
        if not _of_kind(ex.kind, answer):
            return wrong_type
        from ._digests import DIGESTS
        ok = _matches(exercise, ex, answer, DIGESTS[exercise])
        if ok is None:
            return Verdict(False, "Your function returns None: replace `return None` with your formula.",
                           answered=False)
    except Exception as err:  # noqa: BLE001 - a wrong answer must never crash the notebook
        where = "Your function raised" if ex.kind == "function" else "Checking your answer raised"
        return Verdict(False, f"{where} {type(err).__name__}: {err}. Hint: {ex.hint}")
    if not ok:
        _ATTEMPTS[exercise] = _ATTEMPTS.get(exercise, 0) + 1
    return Verdict(True, "Well done.") if ok else wrong


def _of_kind(kind: str, answer) -> bool:
    if kind == "number":
        return _number(answer) is not None
    if kind == "integer":
        return not isinstance(answer, bool) and isinstance(answer, (int, np.integer))
    if kind == "word":
        return isinstance(answer, str)
    if kind == "function":
        return callable(answer)
    import sympy as sp
    return isinstance(answer, sp.Basic)


_ATTEMPTS: dict = {}        # wrong answers so far, per exercise, in this session: the second one gets more of the way


def hint(exercise: str, level: int = 1) -> str:
    """The hint of ``exercise``: level 1 is the idea (what every wrong answer gets), level 2 adds more of the way
    (what the second wrong answer gets). A hint points at the idea; it does not hand over the answer."""
    from ._checks import check_choice, check_int

    check_choice("exercise", exercise, tuple(EXERCISES))
    ex = EXERCISES[exercise]
    if check_int("level", level, 1, 2) == 2 and ex.more:
        return f"{ex.hint} More: {ex.more}"
    return ex.hint


def yours_or_ours(exercise: str, answer):
    """``answer`` if it passes exercise ``exercise`` (notebook 08's code exercises), else the package's own version,
    saying which is used: the notebook runs top to bottom before every exercise is done."""
    from ._checks import check_choice

    check_choice("exercise", exercise, tuple(k for k, ex in EXERCISES.items() if ex.kind == "code"))
    if callable(answer) and check(exercise, answer).correct:
        print(f"{exercise}: using your function")
        return answer
    print(f"{exercise}: using the package's version until yours passes its check")
    return _handson().REFERENCES[exercise]


def show(notebook: str) -> None:
    """Print the exercises of one notebook ("02".."07")."""
    from ._checks import check_choice

    check_choice("notebook", notebook, tuple(sorted({ex.notebook for ex in EXERCISES.values()})))
    for key, ex in EXERCISES.items():
        if ex.notebook == notebook:
            print(f"Exercise {key}: {ex.prompt}")
