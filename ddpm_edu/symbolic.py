"""The DDPM derivations, done by SymPy rather than asserted.

Each function returns a :class:`Derivation`: the named steps a notebook displays, and the named
identities that SymPy must prove by ``simplify(lhs - rhs) == 0`` (never a float comparison).
This module imports SymPy only; ``tests/test_symbolic.py`` lambdifies the results and holds them
against the numeric modules (``diffusion``, ``weighting``) and against Monte Carlo.

Notation (scalar, one data dimension; a d-dimensional isotropic Gaussian is d copies):
    alpha_t = 1 - beta_t,  alpha-bar_t = alpha_t alpha-bar_{t-1},
    q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t),  q(x_t | x_0) = N(sqrt(alpha-bar_t) x_0, 1 - alpha-bar_t).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

# ----------------------------------------------------------------------------- symbols
x, m1, m2 = sp.symbols("x mu_1 mu_2", real=True)
s1, s2 = sp.symbols("sigma_1 sigma_2", positive=True)
x0, xt, xprev, eps, eps_theta, v = sp.symbols(r"x_0 x_t x_{t-1} epsilon epsilon_theta v", real=True)
alpha = sp.Symbol(r"alpha_t", positive=True)
abar_prev = sp.Symbol(r"\bar{\alpha}_{t-1}", positive=True)
abar = sp.Symbol(r"\bar{\alpha}_t", positive=True)
sigma2 = sp.Symbol(r"\sigma_t^2", positive=True)
beta_t = sp.Symbol(r"beta_t", positive=True)          # for display: the positive forms, with beta_t = 1 - alpha_t
d = sp.Symbol("d", positive=True, integer=True)


@dataclass
class Derivation:
    """Steps to display and identities to prove.

    ``steps``: ordered ``{title: expression}``. ``proofs``: ``{claim: expression that must be 0}``.
    ``results``: the named end products (for lambdify and for the next derivation).
    """
    title: str
    steps: dict = field(default_factory=dict)
    proofs: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    latex_names: dict = field(default_factory=dict)

    def latex(self, expr) -> str:
        """LaTeX of ``expr`` with this derivation's display names."""
        return sp.latex(expr, symbol_names=self.latex_names)

    def verify(self) -> dict:
        """``{claim: True/False}``: whether SymPy simplifies each proof expression to exactly 0."""
        return {claim: is_zero(expr) for claim, expr in self.proofs.items()}

    def failed(self) -> list:
        """The claims SymPy could not prove (an empty list means every step checks out)."""
        return [claim for claim, ok in self.verify().items() if not ok]

    def step_latex(self, name: str) -> str:
        """One displayed line: the step's title (words, with ``$...$`` math) and its expression."""
        return title_latex(name + ":") + r"\quad " + self.latex(self.steps[name])

    def show(self) -> None:
        """Display every step as LaTeX in Jupyter (plain text elsewhere)."""
        try:
            from IPython.display import Math, display
        except ImportError:  # pragma: no cover - outside IPython
            for name, expr in self.steps.items():
                print(f"{name}: {expr}")
            return
        for name in self.steps:
            display(Math(self.step_latex(name)))


_TEXT_SPECIALS = set("\\_^{}#%&~")


def title_latex(title: str) -> str:
    """A step title written as words with ``$...$`` math, as one line of LaTeX math.

    Words go inside ``\\text{...}``, math stays math: "after Bayes' rule on $q(x_t \\mid x_{t-1})$"
    becomes ``\\text{after Bayes' rule on }q(x_t \\mid x_{t-1})``. Putting ``x_t`` inside ``\\text{}``
    is what MathJax rejects ("'_' allowed only in math mode"), so a word part holding a TeX special
    character is refused here rather than rendered as an error box.
    """
    if not isinstance(title, str):
        raise TypeError(f"title={title!r} is not allowed: title must be a string")
    parts = title.split("$")
    if len(parts) % 2 == 0:
        raise ValueError(f"title={title!r} is not allowed: every $ that opens math must be closed")
    out = []
    for i, part in enumerate(parts):
        if i % 2:                                   # math
            out.append(part)
        elif part:
            bad_chars = sorted(set(part) & _TEXT_SPECIALS)
            if bad_chars:
                raise ValueError(f"title={title!r} is not allowed: {' '.join(bad_chars)} outside $...$ "
                                 "(write math between dollar signs)")
            out.append(r"\text{" + part + "}")
    return "".join(out)


def is_zero(expr) -> bool:
    """True when SymPy proves ``expr == 0`` exactly (simplify, then a second try after expanding)."""
    if isinstance(expr, sp.Equality):
        expr = expr.lhs - expr.rhs
    e = sp.simplify(expr)
    if e == 0:
        return True
    return sp.simplify(sp.expand(sp.expand_log(e, force=True))) == 0


# ----------------------------------------------------------------------------- 1. the ELBO
class _Density(sp.Function):
    """A density written q(a | b, c): positive, so logs of products split."""
    is_positive = True
    is_real = True
    letter = "q"

    @classmethod
    def eval(cls, *args):
        return None

    def _latex(self, printer, exp=None):
        head = printer._print(self.args[0])
        given = ", ".join(printer._print(a) for a in self.args[1:])
        body = f"{self.letter}\\left({head} \\mid {given}\\right)" if given else f"{self.letter}\\left({head}\\right)"
        return f"{body}^{{{printer._print(exp)}}}" if exp is not None else body

    def _sympystr(self, printer):
        given = ", ".join(map(str, self.args[1:]))
        return f"{self.letter}({self.args[0]}|{given})" if given else f"{self.letter}({self.args[0]})"


class q(_Density):
    letter = "q"


class p(_Density):
    letter = r"p_\theta"


def elbo_decomposition(T: int = 3) -> Derivation:
    """The ELBO of Ho et al. 2020, eq. 3 -> eq. 5 (their appendix A), for a concrete small T.

    log p(x_0) >= E_q[log p(x_{0:T}) / q(x_{1:T} | x_0)]. Inside the expectation:
    1. write both joints as products (Markov chains);
    2. for t >= 2 use Bayes' rule on the forward step, conditioned on x_0:
       q(x_t | x_{t-1}) = q(x_t | x_{t-1}, x_0) = q(x_{t-1} | x_t, x_0) q(x_t | x_0) / q(x_{t-1} | x_0);
    3. the marginal ratios telescope to q(x_1 | x_0) / q(x_T | x_0), and q(x_1 | x_0) cancels the t = 1 step;
    4. group the logs: -[L_T + sum_{t=2..T} L_{t-1} + L_0] with
       L_T = log q(x_T|x_0)/p(x_T), L_{t-1} = log q(x_{t-1}|x_t,x_0)/p(x_{t-1}|x_t), L_0 = -log p(x_0|x_1);
       after the expectation over q, L_T and L_{t-1} become KL divergences.
    """
    if not isinstance(T, int) or isinstance(T, bool):
        raise TypeError(f"T={T!r} is not allowed: T must be an integer in 2..6 (a small chain to display)")
    if not 2 <= T <= 6:
        raise ValueError(f"T={T!r} is not allowed: T must be an integer in 2..6 (a small chain to display)")
    X = sp.symbols(f"x_0:{T + 1}", real=True)
    joint_p = p(X[T]) * sp.Mul(*[p(X[t - 1], X[t]) for t in range(1, T + 1)])
    forward = sp.Mul(*[q(X[t], X[t - 1]) for t in range(1, T + 1)])
    ratio = joint_p / forward
    bayes = {q(X[t], X[t - 1]): q(X[t - 1], X[t], X[0]) * q(X[t], X[0]) / q(X[t - 1], X[0]) for t in range(2, T + 1)}
    after_bayes = ratio.subs(bayes)           # SymPy cancels the telescoping marginals by itself
    L_T = sp.log(q(X[T], X[0]) / p(X[T]))
    L_mid = [sp.log(q(X[t - 1], X[t], X[0]) / p(X[t - 1], X[t])) for t in range(2, T + 1)]
    L_0 = -sp.log(p(X[0], X[1]))
    grouped = -(L_T + sp.Add(*L_mid) + L_0)
    Ls = sp.symbols(f"L_0:{T + 1}")
    neg_elbo = sp.Symbol("-ELBO")                    # shown upright, -\mathrm{ELBO}, not as a product of italic letters
    steps = {
        "inside the expectation": sp.log(ratio),
        r"after Bayes' rule on $q(x_t \mid x_{t-1})$ for $t \ge 2$": sp.log(after_bayes),
        "grouped into terms": sp.Eq(sp.log(after_bayes), grouped, evaluate=False),
        "named": sp.Eq(neg_elbo, sp.Symbol("L_T") + sp.Add(*Ls[1:T]) + Ls[0], evaluate=False),
    }
    tele = sp.Mul(*[q(X[t], X[0]) / q(X[t - 1], X[0]) for t in range(2, T + 1)])
    proofs = {
        "after Bayes, the forward chain is q(x_T|x_0) times the posteriors": forward.subs(bayes)
        - q(X[T], X[0]) * sp.Mul(*[q(X[t - 1], X[t], X[0]) for t in range(2, T + 1)]),
        "the marginals telescope to q(x_T|x_0)/q(x_1|x_0)": tele - q(X[T], X[0]) / q(X[1], X[0]),
        "log-ratio = -(L_T + sum L_{t-1} + L_0)": sp.expand_log(sp.log(after_bayes), force=True)
        - sp.expand_log(grouped, force=True),
    }
    return Derivation("ELBO decomposition", steps, proofs,
                      {"L_T": L_T, "L_mid": L_mid, "L_0": L_0, "variables": X, "bayes": bayes},
                      latex_names={neg_elbo: r"-\mathrm{ELBO}"})


# ----------------------------------------------------------------------------- 2. Gaussian KL
def _normal_pdf(z, mean, sd):
    return sp.exp(-(z - mean) ** 2 / (2 * sd ** 2)) / (sp.sqrt(2 * sp.pi) * sd)


def gaussian_kl() -> Derivation:
    """KL(N(mu_1, sigma_1^2) || N(mu_2, sigma_2^2)) by integrating p log(p / q) over the real line.

    Result: log(sigma_2/sigma_1) + (sigma_1^2 + (mu_1 - mu_2)^2) / (2 sigma_2^2) - 1/2 (a standard
    result; e.g. Kingma & Welling 2014, appendix B, for the case q = N(0, 1)). The d-dimensional
    isotropic case is the sum of d such terms: d log(sigma_2/sigma_1) + d sigma_1^2/(2 sigma_2^2)
    + ||mu_1 - mu_2||^2 / (2 sigma_2^2) - d/2.
    """
    pdf_p, pdf_q = _normal_pdf(x, m1, s1), _normal_pdf(x, m2, s2)
    log_ratio = sp.expand(sp.expand_log(sp.log(pdf_p) - sp.log(pdf_q), force=True))
    # E_p[log p - log q]: the log-ratio is a quadratic in x, so integrate p times it term by term
    poly = sp.Poly(log_ratio, x)
    moments = {k: sp.simplify(sp.integrate(x ** k * pdf_p, (x, -sp.oo, sp.oo))) for k in range(poly.degree() + 1)}
    integrated = sp.simplify(sum(c * moments[k] for (k,), c in poly.terms()))
    closed = sp.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - sp.Rational(1, 2)
    # d dimensions, isotropic: a sum of d one-dimensional KLs; shown explicitly for d = 3
    mus1 = [sp.Symbol(rf"\mu_{{1 {i}}}", real=True) for i in (1, 2, 3)]
    mus2 = [sp.Symbol(rf"\mu_{{2 {i}}}", real=True) for i in (1, 2, 3)]
    per_dim = sum(closed.subs({m1: a, m2: b}) for a, b in zip(mus1, mus2))
    D2 = sp.Symbol("D2", nonnegative=True)
    iso = d * sp.log(s2 / s1) + d * s1 ** 2 / (2 * s2 ** 2) + D2 / (2 * s2 ** 2) - d / 2
    sq = sum((a - b) ** 2 for a, b in zip(mus1, mus2))
    steps = {
        r"$\log p(x) - \log q(x)$": log_ratio,
        r"$\mathbb{E}_p[x^k]$ for $k = 0, 1, 2$": sp.Matrix([moments[k] for k in sorted(moments)]).T,
        r"$D_{KL} = \int p \log(p/q)\, dx$": integrated,
        "isotropic, $d$ dimensions": iso,
    }
    proofs = {
        "the integral equals the closed form": integrated - closed,
        "p is normalised": moments[0] - 1,
        "d = 3 isotropic = sum of three 1-D KLs": per_dim - iso.subs({d: 3, D2: sq}),
        "KL of a Gaussian with itself is 0": closed.subs({m2: m1, s2: s1}),
    }
    return Derivation("Gaussian KL", steps, proofs, {"kl": integrated, "kl_closed": closed, "kl_isotropic": iso, "D2": D2},
                      latex_names={D2: r"\lVert \mu_1 - \mu_2 \rVert^2"})


# ----------------------------------------------------------------------------- 3. the posterior
def posterior() -> Derivation:
    """q(x_{t-1} | x_t, x_0) by completing the square (Ho et al. 2020, eqs. 6-7 and 10).

    log q(x_t | x_{t-1}) + log q(x_{t-1} | x_0) is a quadratic -A/2 x_{t-1}^2 + B x_{t-1} + C, so
    the posterior is Gaussian with variance 1/A = beta-tilde_t and mean B/A = mu-tilde_t.
    """
    beta = 1 - alpha
    abar_t = alpha * abar_prev
    quad = sp.expand(-(xt - sp.sqrt(alpha) * xprev) ** 2 / (2 * beta) - (xprev - sp.sqrt(abar_prev) * x0) ** 2 / (2 * (1 - abar_prev)))
    A = -2 * quad.coeff(xprev, 2)
    B = quad.coeff(xprev, 1)
    var = sp.simplify(1 / A)
    mean = sp.simplify(B / A)
    beta_tilde = (1 - abar_prev) / (1 - abar_t) * beta
    mean_x0_form = sp.sqrt(abar_prev) * beta / (1 - abar_t) * x0 + sp.sqrt(alpha) * (1 - abar_prev) / (1 - abar_t) * xt
    x0_from_eps = (xt - sp.sqrt(1 - abar_t) * eps) / sp.sqrt(abar_t)
    mean_eps = sp.simplify(mean.subs(x0, x0_from_eps))
    mean_eps_form = (xt - beta / sp.sqrt(1 - abar_t) * eps) / sp.sqrt(alpha)
    square = -(xprev - mean) ** 2 / (2 * var)
    steps = {
        r"$\log q(x_t \mid x_{t-1}) + \log q(x_{t-1} \mid x_0)$, up to constants": quad,
        r"precision $A$ (the coefficient of $-x_{t-1}^2/2$)": sp.simplify(A),
        "variance $1/A$": sp.factor(var),
        "mean $B/A$": sp.collect(sp.simplify(mean), [x0, xt]),
        r"mean with $x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\epsilon) / \sqrt{\bar\alpha_t}$": mean_eps,
    }
    proofs = {
        "completing the square leaves only constants in x_{t-1}": sp.diff(quad - square, xprev),
        "variance = beta-tilde_t (eq. 7)": var - beta_tilde,
        "mean = eq. 7 (x_0 form)": mean - mean_x0_form,
        "mean = eq. 10 inside (eps form)": mean_eps - mean_eps_form,
        "at t = 1 (abar_0 = 1) the variance is 0": beta_tilde.subs(abar_prev, 1),
        # Bayes' rule with the actual Gaussians: q(x_t|x_{t-1}) q(x_{t-1}|x_0) = q(x_{t-1}|x_t,x_0) q(x_t|x_0),
        # checked as its two parts: the exponents (quadratics) and the normalising constants
        "Bayes, exponents: forward pair = posterior x marginal":
            sp.expand(quad - (square - (xt - sp.sqrt(abar_t) * x0) ** 2 / (2 * (1 - abar_t)))),
        "Bayes, normalisers: beta_t (1 - abar_{t-1}) = beta-tilde_t (1 - abar_t)":
            beta * (1 - abar_prev) - var * (1 - abar_t),
    }
    return Derivation("posterior q(x_{t-1}|x_t,x_0)", steps, proofs,
                      {"mean": mean, "variance": var, "mean_eps": mean_eps_form, "beta_tilde": beta_tilde,
                       "x0_from_eps": x0_from_eps})


# ----------------------------------------------------------------------------- 4. noise matching
def noise_matching() -> Derivation:
    """From mean matching to noise matching (Ho et al. 2020, eqs. 8-12).

    L_{t-1} = E[||mu-tilde - mu_theta||^2 / (2 sigma_t^2)] + const. With both means in eps form,
    mu-tilde - mu_theta = -beta_t / (sqrt(alpha_t) sqrt(1 - alpha-bar_t)) (eps - eps_theta), so
    L_{t-1} = lambda_t ||eps - eps_theta||^2 + const with
    lambda_t = (1 - alpha_t)^2 / (2 sigma_t^2 alpha_t (1 - alpha-bar_t)). Then:
    sigma_t^2 = beta_t gives lambda_t = beta_t / (2 alpha_t (1 - alpha-bar_t));
    sigma_t^2 = beta-tilde_t gives beta_t / (2 alpha_t (1 - alpha-bar_{t-1})) = (SNR_{t-1}/SNR_t - 1)/2.
    The simple loss sets lambda_t = 1.

    The steps are displayed, and the results kept, in their positive form (every factor positive, beta_t
    and 1 - alpha-bar): SymPy's ``simplify`` writes them with negated factors, (alpha_t - 1) / (2 alpha_t
    (alpha-bar_{t-1} - 1)), which is the same number but reads as a sign to worry about, and which in
    floating point at alpha-bar_0 = 1 gives -inf (a negative number over +0.0). The positive form gives
    +inf, as the limit does. The proofs tie each positive form to SymPy's own derivation.
    """
    beta = 1 - alpha
    abar_t = alpha * abar_prev
    mu_tilde = (xt - beta / sp.sqrt(1 - abar_t) * eps) / sp.sqrt(alpha)
    mu_theta = (xt - beta / sp.sqrt(1 - abar_t) * eps_theta) / sp.sqrt(alpha)
    sq = sp.factor(sp.simplify((mu_tilde - mu_theta) ** 2))               # SymPy's own form
    lam = (1 - alpha) ** 2 / (2 * sigma2 * alpha * (1 - abar_t))
    kl_mean_part = (mu_tilde - mu_theta) ** 2 / (2 * sigma2)
    lam_beta = sp.simplify(lam.subs(sigma2, beta))
    beta_tilde = (1 - abar_prev) / (1 - abar_t) * beta
    lam_tilde = sp.simplify(lam.subs(sigma2, beta_tilde))
    snr = lambda ab: ab / (1 - ab)
    # the positive forms, displayed with beta_t and abar_t, kept as results in alpha_t and abar_{t-1}
    shown = {"sq": beta_t ** 2 / (alpha * (1 - abar)) * (eps - eps_theta) ** 2,
             "lam": beta_t ** 2 / (2 * sigma2 * alpha * (1 - abar)),
             "lam_beta": beta_t / (2 * alpha * (1 - abar)), "lam_tilde": beta_t / (2 * alpha * (1 - abar_prev))}
    in_alphas = lambda e: e.subs({beta_t: 1 - alpha, abar: alpha * abar_prev})
    pos_beta = (1 - alpha) / (2 * alpha * (1 - alpha * abar_prev))
    pos_tilde = (1 - alpha) / (2 * alpha * (1 - abar_prev))
    shown["mu"] = (xt - beta_t / sp.sqrt(1 - abar) * eps) / sp.sqrt(alpha)
    steps = {
        r"$\tilde\mu_t$ in eps form": shown["mu"],
        r"$\lVert \tilde\mu_t - \mu_\theta \rVert^2$": shown["sq"],
        r"$\lambda_t$": shown["lam"],
        r"$\lambda_t$ with $\sigma_t^2 = \beta_t$": shown["lam_beta"],
        r"$\lambda_t$ with $\sigma_t^2 = \tilde\beta_t$": shown["lam_tilde"],
    }
    proofs = {
        "mu-tilde in eps form = (x_t - beta eps / sqrt(1-abar_t)) / sqrt(alpha_t)": mu_tilde - in_alphas(shown["mu"]),
        "||mu-tilde - mu_theta||^2 = beta^2/(alpha(1-abar)) (eps-eps_theta)^2": sq - in_alphas(shown["sq"]),
        "KL mean part = lambda_t (eps - eps_theta)^2": kl_mean_part - lam * (eps - eps_theta) ** 2,
        "lambda_t = beta^2/(2 sigma^2 alpha (1-abar_t))": lam - in_alphas(shown["lam"]),
        "sigma^2 = beta: lambda = beta/(2 alpha (1-abar_t))": lam_beta - in_alphas(shown["lam_beta"]),
        "sigma^2 = beta-tilde: lambda = beta/(2 alpha (1-abar_{t-1}))": lam_tilde - in_alphas(shown["lam_tilde"]),
        "sigma^2 = beta-tilde: lambda = (SNR_{t-1}/SNR_t - 1)/2": lam_tilde - (snr(abar_prev) / snr(abar_t) - 1) / 2,
        "the kept results are SymPy's": (lam_beta - pos_beta) + (lam_tilde - pos_tilde),
    }
    return Derivation("noise matching", steps, proofs,
                      {"lambda": lam, "lambda_beta": pos_beta, "lambda_beta_tilde": pos_tilde,
                       "lambda_beta_tilde_simplified": lam_tilde},
                      latex_names={beta_t: r"\beta_t", abar: r"\bar{\alpha}_t"})


# ----------------------------------------------------------------------------- 5. eps / x0 / v
def parameterizations() -> Derivation:
    """The equivalence of eps-, x0- and v-prediction (Salimans & Ho 2022, sec. 4 and appendix D).

    x_t = sqrt(abar) x_0 + sqrt(1-abar) eps, v = sqrt(abar) eps - sqrt(1-abar) x_0. Given x_t,
    any one of (eps, x_0, v) determines the other two (``table[(source, target)]``). For a model's
    prediction the errors are tied: eps-MSE = SNR x0-MSE, v-MSE = (1 + SNR) x0-MSE.
    """
    a, s = sp.sqrt(abar), sp.sqrt(1 - abar)
    X0, E, V, XT = sp.symbols("x_0 epsilon v x_t", real=True)
    system = [sp.Eq(XT, a * X0 + s * E), sp.Eq(V, a * E - s * X0)]
    names = {"x0": X0, "eps": E, "v": V}
    table = {}
    for src in names:
        unknowns = [names[k] for k in names if k != src]
        sol = sp.solve(system, unknowns, dict=True)[0]
        for dst in names:
            if dst != src:
                table[(src, dst)] = sp.simplify(sol[names[dst]])
    truth = {X0: x0, E: eps, XT: a * x0 + s * eps, V: a * eps - s * x0}
    # prediction errors implied by an eps-model's error e = eps - eps_hat
    eps_hat = sp.Symbol(r"\hat{\epsilon}", real=True)
    x0_hat = table[("eps", "x0")].subs({E: eps_hat, XT: truth[XT]})
    v_hat = table[("eps", "v")].subs({E: eps_hat, XT: truth[XT]})
    err_eps2 = (eps - eps_hat) ** 2
    err_x02 = (x0 - x0_hat) ** 2
    err_v2 = (truth[V] - v_hat) ** 2
    snr = abar / (1 - abar)
    proofs = {f"recover {dst} from {src}": table[(src, dst)].subs({names[src]: truth[names[src]], XT: truth[XT]}) - truth[names[dst]]
              for (src, dst) in table}
    proofs["eps-MSE = SNR x0-MSE"] = err_eps2 - snr * err_x02
    proofs["v-MSE = (1 + SNR) x0-MSE"] = err_v2 - (1 + snr) * err_x02
    proofs["a^2 + s^2 = 1 (variance preserving)"] = a ** 2 + s ** 2 - 1
    proofs["v-MSE = eps-MSE + x0-MSE (v is above both)"] = err_v2 - (err_eps2 + err_x02)
    tex = {"eps": r"\epsilon", "x0": "x_0", "v": "v"}
    steps = {f"${tex[dst]}$ from $({tex[src]}, x_t)$": sp.Eq(names[dst], table[(src, dst)], evaluate=False)
             for (src, dst) in table}
    steps["squared $x_0$ error of an eps-model"] = sp.factor(sp.simplify(err_x02))
    steps["squared $v$ error of an eps-model"] = sp.factor(sp.simplify(err_v2))
    return Derivation("eps / x0 / v", steps, proofs, {"table": table, "symbols": names | {"x_t": XT}, "abar": abar})


# ----------------------------------------------------------------------------- 6. L_T
def prior_term() -> Derivation:
    """L_T = KL(q(x_T | x_0) || N(0, 1)) per dimension (Ho et al. 2020, eq. 5 and sec. 3.1).

    = (abar_T x_0^2 + (1 - abar_T) - 1 - log(1 - abar_T)) / 2. It holds no model parameter (the
    forward process is fixed and p(x_T) = N(0, I)), so its gradient is 0: training can drop it.
    """
    kl = gaussian_kl().results["kl_closed"]
    abar_T = sp.Symbol(r"\bar{\alpha}_T", positive=True)
    theta = sp.Symbol("theta", real=True)
    L_T = sp.simplify(kl.subs({m1: sp.sqrt(abar_T) * x0, s1: sp.sqrt(1 - abar_T), m2: 0, s2: 1}))
    closed = (abar_T * x0 ** 2 + (1 - abar_T) - 1 - sp.log(1 - abar_T)) / 2
    steps = {"$L_T$": L_T}
    proofs = {
        "L_T = (abar_T x0^2 - abar_T - log(1 - abar_T)) / 2": L_T - closed,
        "dL_T/dtheta = 0 (no model parameter in L_T)": sp.diff(L_T, theta),
        "L_T -> 0 as abar_T -> 0": sp.limit(L_T, abar_T, 0),
    }
    return Derivation("prior term L_T", steps, proofs, {"L_T": L_T, "abar_T": abar_T})


def all_derivations() -> list:
    """Every derivation of notebook 02, in order."""
    return [elbo_decomposition(3), gaussian_kl(), posterior(), noise_matching(), parameterizations(), prior_term()]


# ----------------------------------------------------------------------------- 7. modern objectives
lam_sym = sp.Symbol("lambda", real=True)


def objective_factors() -> Derivation:
    """Each target's MSE as a multiple of the eps-MSE, as a function of lambda (notebook 07).

    Kingma & Gao (2023, sec. 2 and appendix) write every objective as a weighting of the eps-MSE. With
    z = alpha x + sigma eps and lambda = log(alpha^2 / sigma^2), a prediction of any target implies an
    eps prediction; the two errors are proportional, and the factor is derived here:
    * v (variance preserving, Salimans & Ho 2022): 1 + e^-lambda;
    * x0 (variance preserving): e^-lambda;
    * the velocity eps - x of rectified flow, z = (1 - t) x + t eps: (1 + e^(-lambda/2))^2;
    * EDM's denoiser D (z = x + sigma eps), with its weight (sigma^2 + sd^2)/(sigma sd)^2: 1 + e^-lambda / sd^2.
    """
    E, Eh, X, Z = sp.symbols(r"epsilon \hat{\epsilon} x z", real=True)
    t, sd = sp.symbols("t sigma_d", positive=True)
    a_vp, s_vp = sp.sqrt(1 / (1 + sp.exp(-lam_sym))), sp.sqrt(1 / (1 + sp.exp(lam_sym)))   # alpha^2 = sigmoid(lambda)
    z_vp = a_vp * X + s_vp * E
    factors, steps, proofs = {}, {}, {}

    # v: v = a eps - s x; from (z, v_hat): eps_hat = s z + a v_hat, so v_hat = (eps_hat - s z) / a
    v_of = lambda e: (e - s_vp * z_vp) / a_vp
    factors["v"] = sp.simplify(((v_of(Eh) - v_of(E)) / (Eh - E)) ** 2)
    # x0 (VP): x_hat = (z - s eps_hat) / a
    x_of = lambda e: (z_vp - s_vp * e) / a_vp
    factors["x0"] = sp.simplify(((x_of(Eh) - x_of(E)) / (Eh - E)) ** 2)
    # velocity of rectified flow: z = (1 - t) x + t eps, u = eps - x, x_hat = (z - t eps_hat)/(1 - t)
    z_fm = (1 - t) * X + t * E
    u_of = lambda e: e - (z_fm - t * e) / (1 - t)
    fm = sp.simplify(((u_of(Eh) - u_of(E)) / (Eh - E)) ** 2)
    t_of_lam = 1 / (1 + sp.exp(lam_sym / 2))            # lambda = 2 log((1 - t)/t)
    factors["velocity"] = sp.factor(sp.simplify(fm.subs(t, t_of_lam)))
    # EDM: z = x + sigma eps, D = x_hat = z - sigma eps_hat, weight (sigma^2 + sd^2)/(sigma sd)^2, sigma = e^(-lambda/2)
    sig = sp.exp(-lam_sym / 2)
    d_of = lambda e: (X + sig * E) - sig * e
    edm_weight = (sig ** 2 + sd ** 2) / (sig * sd) ** 2
    factors["edm"] = sp.simplify(edm_weight * ((d_of(Eh) - d_of(E)) / (Eh - E)) ** 2)

    closed = {"v": 1 + sp.exp(-lam_sym), "x0": sp.exp(-lam_sym), "velocity": (1 + sp.exp(-lam_sym / 2)) ** 2,
              "edm": 1 + sp.exp(-lam_sym) / sd ** 2}
    for key, expr in factors.items():
        steps[f"MSE of {key} / MSE of $\\epsilon$"] = expr
        proofs[f"{key}: factor = {closed[key]}"] = expr - closed[key]
    proofs["rectified flow: lambda = 2 log((1 - t)/t) at t(lambda)"] = sp.log(((1 - t_of_lam) / t_of_lam) ** 2) - lam_sym
    return Derivation("eps-MSE factors", steps, proofs, {"factors": factors, "closed": closed, "lambda": lam_sym},
                      latex_names={lam_sym: r"\lambda"})


def objective_densities() -> Derivation:
    """The Jacobian |dt/dlambda| (the density of lambda when t is uniform) for each continuous sampler,
    and the monotonicity of p(lambda) w(lambda) where SymPy can decide it (Kingma & Gao 2023, sec. 4)."""
    t, s = sp.symbols("t s", positive=True)
    mu, sd = sp.symbols("m s_N", real=True)
    steps, proofs, results = {}, {}, {}
    # cosine with s = 0: alpha-bar = cos^2(pi t / 2), lambda = log(cot^2(pi t/2))
    lam_cos = sp.log(sp.cos(sp.pi * t / 2) ** 2 / sp.sin(sp.pi * t / 2) ** 2)
    t_cos = 2 / sp.pi * sp.atan(sp.exp(-lam_sym / 2))
    jac_cos = sp.simplify(sp.Abs(sp.diff(t_cos, lam_sym)))
    results["cosine"] = jac_cos
    steps[r"cosine ($s = 0$): $|dt/d\lambda|$"] = jac_cos
    proofs["cosine: t(lambda) inverts lambda(t)"] = sp.simplify(lam_cos.subs(t, t_cos) - lam_sym)
    proofs["cosine: |dt/dlambda| = sech(lambda/2) / (2 pi)"] = (jac_cos - 1 / (2 * sp.pi * sp.cosh(lam_sym / 2))).rewrite(sp.exp)
    # rectified flow, t ~ U(0, 1): t = 1/(1 + e^(lambda/2))
    t_fm = 1 / (1 + sp.exp(lam_sym / 2))
    jac_fm = sp.simplify(-sp.diff(t_fm, lam_sym))
    results["flow_matching"] = jac_fm
    steps[r"rectified flow: $|dt/d\lambda|$"] = jac_fm
    proofs["flow matching: |dt/dlambda| = sech(lambda/4)^2 / 8"] = (jac_fm - 1 / (8 * sp.cosh(lam_sym / 4) ** 2)).rewrite(sp.exp)
    # EDM: lambda = -2 ln sigma with ln sigma ~ N(P_mean, P_std^2): lambda ~ N(-2 P_mean, (2 P_std)^2)
    pm, ps = sp.symbols("P_mean P_std", real=True)
    ps = sp.Symbol("P_std", positive=True)
    ln_sigma = -lam_sym / 2
    p_edm = sp.exp(-(ln_sigma - pm) ** 2 / (2 * ps ** 2)) / (ps * sp.sqrt(2 * sp.pi)) * sp.Abs(sp.diff(ln_sigma, lam_sym))
    normal = sp.exp(-(lam_sym + 2 * pm) ** 2 / (2 * (2 * ps) ** 2)) / (2 * ps * sp.sqrt(2 * sp.pi))
    results["edm"] = p_edm
    proofs["EDM: lambda ~ N(-2 P_mean, (2 P_std)^2)"] = sp.simplify(p_edm - normal)
    # monotonicity of p w: d/dlambda log(p w)
    factors = objective_factors().results["closed"]
    sd_ = sp.Symbol("sigma_d", positive=True)
    slopes = {
        "v_cosine": sp.simplify(sp.diff(sp.log((1 / (2 * sp.pi * sp.cosh(lam_sym / 2))) * factors["v"]), lam_sym).rewrite(sp.exp)),
        "flow_matching": sp.simplify(sp.diff(sp.log(jac_fm * factors["velocity"]), lam_sym).rewrite(sp.exp)),
        "sigmoid": sp.simplify(sp.diff(sp.log(1 / (1 + sp.exp(lam_sym))), lam_sym)),
        "edm": sp.diff(sp.log(normal * factors["edm"]), lam_sym),
    }
    results["slopes"] = slopes
    steps[r"v-cosine: $d \log(p w) / d\lambda$"] = slopes["v_cosine"]
    steps[r"flow matching: $d \log(p w) / d\lambda$"] = slopes["flow_matching"]
    proofs["v-cosine: p w = e^(-lambda/2) / pi (slope -1/2)"] = slopes["v_cosine"] + sp.Rational(1, 2)
    proofs["flow matching: p w = e^(-lambda/2) / 2 (slope -1/2)"] = slopes["flow_matching"] + sp.Rational(1, 2)
    proofs["sigmoid: slope = -sigmoid(lambda) < 0"] = slopes["sigmoid"] + 1 / (1 + sp.exp(-lam_sym))
    edm_slope = slopes["edm"].subs({pm: -sp.Rational(6, 5), ps: sp.Rational(6, 5), sd_: sp.Rational(1, 2)})
    results["edm_slope_values"] = {v: float(edm_slope.subs(lam_sym, v)) for v in (-6, 0, 6)}
    return Derivation("densities of lambda", steps, proofs, results, latex_names={lam_sym: r"\lambda"})


# ----------------------------------------------------------------------------- 8. the score (notebook 09)
def score_matching() -> Derivation:
    """The eps-loss read as denoising score matching, and Tweedie's formula.

    With a = sqrt(abar), s = sqrt(1 - abar) and x_t = a x_0 + s eps:
      * the score of the forward kernel is d/dx_t log q(x_t | x_0) = -(x_t - a x_0) / s^2 = -eps / s;
      * the score of the marginal is the posterior mean of the kernel's score,
        d/dx_t log q(x_t) = E[d/dx_t log q(x_t | x_0) | x_t] = -E[eps | x_t] / s, so the Bayes-optimal
        eps-prediction is eps*(x_t) = -s * score(x_t) (Vincent 2011; Song & Ermon 2019);
      * Tweedie's formula: E[x_0 | x_t] = (x_t + s^2 score(x_t)) / a (Efron 2011, "Tweedie's formula and
        selection bias", for x_t = a x_0 + Gaussian noise);
      * the eps-loss is s^2 times the denoising score-matching loss with score_theta = -eps_theta / s:
        (eps_theta - eps)^2 = s^2 (score_theta - d/dx_t log q(x_t | x_0))^2 (Vincent 2011's denoising score
        matching), i.e. DSM with each noise level weighted by sigma^2 = 1 - abar, the weighting lambda(sigma) =
        sigma^2 that Song & Ermon (2019) chose.
    The middle two are proved for Gaussian data x_0 ~ N(mu, c^2), where every term has a closed form:
    q(x_t) = N(a mu, a^2 c^2 + s^2) and (eps, x_t) are jointly Gaussian.
    """
    a, s = sp.sqrt(abar), sp.sqrt(1 - abar)
    mu, c = sp.Symbol("mu", real=True), sp.Symbol("c", positive=True)
    kernel_score = sp.diff(sp.log(_normal_pdf(xt, a * x0, s)), xt)
    marginal_var = a ** 2 * c ** 2 + s ** 2
    marginal_score = sp.diff(sp.log(_normal_pdf(xt, a * mu, sp.sqrt(marginal_var))), xt)
    e_eps = s / marginal_var * (xt - a * mu)                 # Cov(eps, x_t) / Var(x_t) * (x_t - E[x_t])
    e_x0 = mu + a * c ** 2 / marginal_var * (xt - a * mu)    # Cov(x_0, x_t) / Var(x_t) * (x_t - E[x_t])
    score_theta = -eps_theta / s
    steps = {
        r"score of the kernel, $\partial_{x_t} \log q(x_t \mid x_0)$": sp.simplify(kernel_score),
        r"at $x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon$": sp.simplify(
            kernel_score.subs(xt, a * x0 + s * eps)),
        r"Gaussian data: score of $q(x_t)$": sp.simplify(marginal_score),
        r"Gaussian data: $\mathbb{E}[\epsilon \mid x_t]$": e_eps,
        r"Gaussian data: $-\sqrt{1 - \bar\alpha_t}$ times the score": sp.simplify(-s * marginal_score),
        r"Tweedie: $(x_t + (1 - \bar\alpha_t)\, \mathrm{score}) / \sqrt{\bar\alpha_t}$": sp.simplify(
            (xt + s ** 2 * marginal_score) / a),
    }
    proofs = {
        "kernel score at x_t = a x0 + s eps is -eps / s": kernel_score.subs(xt, a * x0 + s * eps) + eps / s,
        "Gaussian data: E[eps | x_t] = -s score(x_t)": e_eps + s * marginal_score,
        "Gaussian data: E[x0 | x_t] = (x_t + s^2 score(x_t)) / a (Tweedie)": e_x0 - (xt + s ** 2 * marginal_score) / a,
        "eps-loss = s^2 x denoising score matching": (eps_theta - eps) ** 2 - s ** 2 * (score_theta - (-eps / s)) ** 2,
    }
    return Derivation("the score", steps, proofs, {"kernel_score": kernel_score, "marginal_score": marginal_score,
                                                    "e_eps": e_eps, "e_x0": e_x0, "mu": mu, "c": c})
