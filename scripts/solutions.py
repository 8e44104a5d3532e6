"""The instructor's solutions to the course's exercises: kept in the repository, out of the installed package.

The installed package checks a student's answer against a digest of the solution (``ddpm_edu/_digests.py``,
written from this file by ``python scripts/solutions.py``), so the values are not there to be read;
``ddpm-edu assignments`` reads this file to write the nbgrader course with the solutions in its source notebooks.

Each solution is the code a student would write in the exercise's cell, in the namespace the notebooks give
(``SETUP``): ``ANSWER`` stands for the exercise's variable (``answer_02_1``) or, in notebook 08, its function's name.
A block that starts with ``def ANSWER(...):`` is a function whose body is the solution.

    python scripts/solutions.py           # rewrite ddpm_edu/_digests.py from these solutions
    python scripts/solutions.py --check   # exit 1 if ddpm_edu/_digests.py is not what these solutions give
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the names every exercise cell may use (the assignments' locked setup cell runs this)
SETUP = """\
import math

import numpy as np
import sympy as sp
import torch

from ddpm_edu import NoiseSchedule, objectives, symbolic as S
from ddpm_edu.exercises import check

lin = NoiseSchedule.linear()"""

SOLUTIONS = {
    "02.1": "ANSWER = float(lin.betas[2] / (2 * lin.alphas[2] * (1 - lin.alpha_bars[2])))",
    "02.2": "ANSWER = (1 - S.alpha * S.abar_prev) / (1 - S.abar_prev)",
    "02.3": "ab = float(lin.alpha_bars[-1])\n"
            "ANSWER = (9 * ab - ab - math.log1p(-ab)) / 2",
    "03.1": "def ANSWER(snr, k, gamma):\n"
            "    return snr / ((1 + snr) * (k + snr) ** gamma)",
    "03.2": "ANSWER = int((lin.snr[1:] <= 20.0).nonzero()[0]) + 1",
    "03.3": "ANSWER = float(((1 + lin.snr[-1]) / (1 + lin.snr[1])) ** 0.5)",
    "04.1": "def ANSWER(alpha_bar, c2):\n"
            "    return alpha_bar * c2 / (alpha_bar * c2 + 1 - alpha_bar)",
    "04.2": "ANSWER = float(0.8 / lin.snr[10])",
    "05.1": "def ANSWER(eps, x_t, alpha_bar):\n"
            "    return (eps - np.sqrt(1 - alpha_bar) * x_t) / np.sqrt(alpha_bar)",
    "05.2": "ANSWER = 0.5 + 0.5 / 4.0",
    "06.1": "ANSWER = 1 / math.log(2)",
    "06.2": "ANSWER = 1.0",
    "06.3": "q = float(lin.posterior_variance[3] / lin.betas[3])\n"
            "ANSWER = (q - 1 - math.log(q)) / 2 / math.log(2)",
    "06.4": "sd = math.sqrt(float(lin.betas[1]))\n"
            "mass = 0.5 * (math.erf(0.0) - math.erf(-0.125 / sd / math.sqrt(2)))\n"
            "ANSWER = -math.log2(mass)",
    "06.5": "ANSWER = 9 / (9 + 1)",
    "07.1": "lam = np.linspace(*objectives.LAMBDA_RANGE, 4001)\n"
            "at = {name: np.interp(-5, lam, objectives.normalised(name, lam)) for name in objectives.OBJECTIVES}\n"
            "ANSWER = max(at, key=at.get)",
    "07.2": "def ANSWER(lam):\n"
            "    return 1.0 + 0.0 * lam",
    "07.3": "t, dt_dlam = 0.5, 1 / 8\n"
            "density = 1 / (math.sqrt(2 * math.pi) * t * (1 - t))\n"
            "ANSWER = density * dt_dlam * (1 + math.exp(0)) ** 2",
    "08.1": "def ANSWER(x0, t, eps, alpha_bars):\n"
            "    ab = alpha_bars[t].reshape(-1, *([1] * (x0.dim() - 1)))\n"
            "    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps",
    "08.2": "def ANSWER(model, x0, t, eps, alpha_bars, weights, target=\"eps\"):\n"
            "    x_t = q_sample(x0, t, eps, alpha_bars)\n"
            "    ab = alpha_bars[t].reshape(-1, *([1] * (x0.dim() - 1)))\n"
            "    y = {\"eps\": eps, \"x0\": x0, \"v\": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[target]\n"
            "    return (weights[t] * (model(x_t, t) - y).square().flatten(1).mean(1)).mean()",
    "08.3": "def ANSWER(model, opt, data, alpha_bars, weights, target, batch_size, generator):\n"
            "    idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator)\n"
            "    t = torch.randint(1, alpha_bars.shape[0], (batch_size,), generator=generator)\n"
            "    eps = torch.randn((batch_size,) + tuple(data.shape[1:]), generator=generator)\n"
            "    value = loss(model, data[idx], t, eps, alpha_bars, weights, target)\n"
            "    opt.zero_grad()\n"
            "    value.backward()\n"
            "    opt.step()\n"
            "    return float(value.detach())",
    "08.4": "def ANSWER(model, alpha_bars, betas, shape, n, generator):\n"
            "    x = torch.randn((n,) + tuple(shape), generator=generator, dtype=torch.float64).float()\n"
            "    for t in range(alpha_bars.shape[0] - 1, 0, -1):\n"
            "        eps = model(x, torch.full((n,), t))\n"
            "        x = (x - betas[t] / (1 - alpha_bars[t]).sqrt() * eps) / (1 - betas[t]).sqrt()\n"
            "        if t > 1:\n"
            "            x = x + betas[t].sqrt() * torch.randn(x.shape, generator=generator)\n"
            "    return x",
    "09.1": "ANSWER = -0.4 / math.sqrt(1 - 0.36)",
    "09.2": "def ANSWER(x_t, ab_t, ab_s):\n"
            "    eps, x0 = np.sqrt(1 - ab_t) * x_t, np.sqrt(ab_t) * x_t\n"
            "    return np.sqrt(ab_s) * x0 + np.sqrt(1 - ab_s) * eps",
}

# notebook 08's exercises are functions the later cells call by name
NAMES = {"08.1": "q_sample", "08.2": "loss", "08.3": "train_step", "08.4": "sample"}


def name(key: str) -> str:
    """The variable a solution assigns: ``answer_02_1``, or notebook 08's function name."""
    return NAMES.get(key, "answer_" + key.replace(".", "_"))


def source(key: str) -> str:
    return SOLUTIONS[key].replace("ANSWER", name(key))


def namespace() -> dict:
    """The names of SETUP, with every solution defined in it (notebook 08's functions call each other)."""
    ns: dict = {}
    exec(SETUP, ns)                                   # noqa: S102 - the repository's own code
    for key in SOLUTIONS:
        exec(source(key), ns)                         # noqa: S102
    return ns


def value(key: str):
    """The solution of ``key`` as a value: a number, an integer, a word, a function or a SymPy expression."""
    return namespace()[name(key)]


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from ddpm_edu import exercises

    argv = sys.argv[1:] if argv is None else argv
    ns = namespace()
    text = exercises.digest_module({k: ns[name(k)] for k in exercises.EXERCISES if exercises.EXERCISES[k].kind != "code"})
    path = ROOT / "ddpm_edu" / "_digests.py"
    if "--check" in argv:
        same = path.exists() and path.read_text() == text
        print(f"{path.relative_to(ROOT)} {'matches' if same else 'does NOT match'} scripts/solutions.py")
        return 0 if same else 1
    path.write_text(text)
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
