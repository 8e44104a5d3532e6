"""The exact floor: the Bayes-optimal denoiser of a Gaussian mixture, in closed form.

For data x0 ~ sum_k pi_k N(mu_k, c^2 I) (c >= 0; c = 0 is the empirical distribution of a finite
training set) and x_t = a x0 + s eps with a = sqrt(alpha-bar_t), s^2 = 1 - alpha-bar_t:

* x_t ~ sum_k pi_k N(a mu_k, v I), v = a^2 c^2 + s^2, so the responsibilities are
  r_k(x_t) = softmax_k(log pi_k - ||x_t - a mu_k||^2 / (2 v));
* given k, x0 | x_t is Gaussian with mean m_k = (s^2 / v) mu_k + (a c^2 / v) x_t and covariance
  (c^2 s^2 / v) I (Bishop 2006, eq. 2.116, for a linear-Gaussian pair);
* E[x0 | x_t] = sum_k r_k m_k, and tr Cov(x0 | x_t) = D c^2 s^2 / v + (s^2/v)^2 (sum_k r_k ||mu_k||^2 - ||sum_k r_k mu_k||^2).

The best any model can do at step t is E||x0 - E[x0|x_t]||^2 = E[tr Cov(x0|x_t)]: averaged over
x_t only (Rao-Blackwellised), it needs no sample of x0 given x_t. Since eps = (x_t - a x0) / s,
the eps-space floor is (a^2/s^2) times the x0-space one: SNR_t x the x0 floor, as for any model.
With c = 0 the optimal denoiser returns a softmax-weighted average of training points: it
*memorises* the training set, and its samples are copies of training examples.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import MAX_N, Desc, bad, bad_type, check_choice, check_generator, check_int, check_real, check_tensor, check_timesteps
from .diffusion import TARGETS, convert, noised
from .schedules import NoiseSchedule, check_schedule
from .threads import policy


class GaussianMixture:
    """An isotropic Gaussian mixture: ``means (K, D)``, shared std ``std >= 0``, ``weights (K,)``."""

    def __init__(self, means: torch.Tensor, std: float, weights: torch.Tensor | None = None):
        self.means = check_tensor("means", means, accept_arrays=True).to(torch.float64)
        if self.means.dim() != 2 or self.means.shape[0] < 1 or self.means.shape[1] < 1:
            raise bad("means", Desc(f"tensor of shape {tuple(self.means.shape)}"), "means must have shape (K, D), K, D >= 1")
        self.std = check_real("std", std, low=0, low_open=False)
        K = self.means.shape[0]
        w = torch.full((K,), 1.0 / K, dtype=torch.float64) if weights is None else \
            check_tensor("weights", weights, accept_arrays=True).to(torch.float64)
        if w.shape != (K,) or (w < 0).any() or abs(float(w.sum()) - 1) > 1e-9:
            raise bad("weights", w, "weights must be K non-negative numbers summing to 1")
        self.weights = w
        self._sq_norms = (self.means ** 2).sum(1)

    @classmethod
    def empirical(cls, points: torch.Tensor) -> "GaussianMixture":
        """The empirical distribution of ``points`` (N, ...): N equal-weight point masses (std 0)."""
        pts = check_tensor("points", points, min_dim=1, accept_arrays=True).to(torch.float64)
        if pts.shape[0] < 1:
            raise bad("points", Desc("an empty tensor"), "points must hold at least one example (N, ...)")
        return cls(pts.reshape(pts.shape[0], -1), 0.0)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        n = check_int("n", n, 1, MAX_N)
        check_generator("generator", generator)
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.means[k] + self.std * torch.randn(n, self.dim, generator=generator, dtype=torch.float64)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) of the mixture itself (needs std > 0)."""
        if self.std == 0:
            raise bad("std", 0.0, "log_prob needs std > 0 (point masses have no density)")
        return self._log_marginal(self._points("x", x), 1.0, 0.0)

    def _points(self, name, x) -> torch.Tensor:
        x = check_tensor(name, x, accept_arrays=True).to(torch.float64)
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise bad(name, Desc(f"tensor of shape {tuple(x.shape)}"), f"{name} must have shape (n, {self.dim})")
        return x

    def _log_joint(self, x_t: torch.Tensor, a: float, s2: float):
        v = a * a * self.std ** 2 + s2
        d2 = (x_t ** 2).sum(1, keepdim=True) - 2 * a * x_t @ self.means.T + a * a * self._sq_norms[None, :]
        return torch.log(self.weights)[None, :] - d2.clamp_min(0) / (2 * v) - 0.5 * self.dim * math.log(2 * math.pi * v)

    def _log_marginal(self, x_t, a, s2):
        return torch.logsumexp(self._log_joint(x_t, a, s2), dim=1)

    def posterior(self, x_t: torch.Tensor, alpha_bar: float):
        """``(E[x0 | x_t], tr Cov(x0 | x_t))`` for x_t of shape (n, D) at the given alpha-bar in (0, 1)."""
        return self._posterior(self._points("x_t", x_t), check_real("alpha_bar", alpha_bar, low=0, high=1))

    def score(self, x_t: torch.Tensor, alpha_bar: float) -> torch.Tensor:
        """The score of the noised mixture, d/dx_t log q(x_t), (n, D), at the given alpha-bar in (0, 1).

        q(x_t) = sum_k w_k N(a mu_k, v I) with v = a^2 std^2 + (1 - alpha-bar), so the score is
        sum_k r_k(x_t) (a mu_k - x_t) / v with r_k the components' responsibilities: computed here from the
        density itself, not from the posterior mean (notebook 09 compares the two: -sqrt(1 - alpha-bar) score =
        E[eps | x_t])."""
        x_t = self._points("x_t", x_t)
        alpha_bar = check_real("alpha_bar", alpha_bar, low=0, high=1)
        a, s2 = math.sqrt(alpha_bar), 1.0 - alpha_bar
        r = torch.softmax(self._log_joint(x_t, a, s2), dim=1)               # (n, K)
        return (a * r @ self.means - x_t) / (a * a * self.std ** 2 + s2)

    def _posterior(self, x_t: torch.Tensor, alpha_bar: float):
        """:meth:`posterior` on checked arguments (the loops of :meth:`optimal_loss` call it)."""
        a, s2 = math.sqrt(alpha_bar), 1.0 - alpha_bar
        v = a * a * self.std ** 2 + s2
        r = torch.softmax(self._log_joint(x_t, a, s2), dim=1)
        r_mu = r @ self.means
        c1, c2 = s2 / v, a * self.std ** 2 / v
        mean = c1 * r_mu + c2 * x_t
        spread = (r * self._sq_norms[None, :]).sum(1) - (r_mu ** 2).sum(1)
        tr_cov = self.dim * self.std ** 2 * s2 / v + c1 * c1 * spread.clamp_min(0)
        return mean, tr_cov

    @policy
    def optimal_loss(self, schedule: NoiseSchedule, t_values, n: int = 2000, seed: int = 0, space: str = "eps",
                     chunk: int = 512):
        """Bayes-optimal per-dimension MSE in ``space`` at each t: ``(mean, stderr)`` tensors.

        E_{x_t}[tr Cov(x0 | x_t)] / D, estimated over n draws of x_t (common random numbers across t),
        then moved to ``space`` with the identities eps = SNR x x0 and v = (1 + SNR) x x0.
        """
        check_schedule("schedule", schedule)
        check_choice("space", space, TARGETS)
        t_values = check_timesteps("t_values", t_values, schedule.T).reshape(-1)
        n = check_int("n", n, 2, MAX_N)
        chunk = check_int("chunk", chunk, 1)
        g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2 ** 63 - 1))
        x0 = self.sample(n, g)
        eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
        means, errs = [], []
        for t in torch.as_tensor(t_values).tolist():
            ab = float(schedule.alpha_bars[t])
            x_t = noised(math.sqrt(ab), math.sqrt(1 - ab), x0, eps)
            tr = torch.cat([self._posterior(x_t[i:i + chunk], ab)[1] for i in range(0, n, chunk)]) / self.dim
            snr = ab / (1 - ab)
            factor = {"x0": 1.0, "eps": snr, "v": 1.0 + snr}[space]
            means.append(factor * tr.mean()); errs.append(factor * tr.std() / math.sqrt(n))
        return torch.stack(means), torch.stack(errs)


class OptimalDenoiser(nn.Module):
    """The exact E[target | x_t] of a :class:`GaussianMixture` as a model ``(x_t, t) -> prediction``.

    Use it like a trained model (sampling, per-t evaluation, the bound): it is the best model there is.
    """

    def __init__(self, mixture: GaussianMixture, schedule: NoiseSchedule, target: str = "eps"):
        super().__init__()
        if not isinstance(mixture, GaussianMixture):
            raise bad_type("mixture", mixture, "mixture must be a GaussianMixture")
        self.mixture, self.schedule = mixture, check_schedule("schedule", schedule)
        self.target = check_choice("target", target, TARGETS)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        shape, dtype = x_t.shape, x_t.dtype
        flat = x_t.reshape(shape[0], -1).to("cpu", torch.float64)
        t = check_timesteps("t", t, self.schedule.T).to("cpu").reshape(-1)
        if t.numel() == 1:
            t = t.expand(shape[0])
        x0 = torch.empty_like(flat)
        for tv in torch.unique(t).tolist():
            sel = t == tv
            x0[sel] = self.mixture.posterior(flat[sel], float(self.schedule.alpha_bars[tv]))[0]
        pred = convert(self.schedule, x0, flat, t, source="x0", target=self.target) if self.target != "x0" else x0
        return pred.reshape(shape).to(x_t.device, dtype)


class GaussianData:
    """Data treated as one Gaussian with its own mean and covariance, x0 ~ N(mu, Sigma).

    For such data the Bayes-optimal denoiser is linear, E[x0 | x_t] = mu + a Sigma (a^2 Sigma + s^2 I)^(-1)
    (x_t - a mu) (Bishop 2006, eq. 2.116), so its loss is the floor of the *best linear denoiser* of
    any data with this mean and covariance. In the eigenbasis of Sigma (variances v_i) the
    per-dimension floors are, exactly,

        x0 space:  (1/D) sum_i v_i s^2 / (a^2 v_i + s^2)
        eps space: (1/D) sum_i a^2 v_i / (a^2 v_i + s^2)        (= alpha-bar_t for v_i = 1)

    Correlated pixels are no obstacle to a linear denoiser (correlation is Gaussian); what a
    network can add beyond this floor is the non-Gaussian structure of the data.
    """

    def __init__(self, mean, cov):
        self.mean = check_tensor("mean", mean, accept_arrays=True).to(torch.float64).reshape(-1)
        self.cov = check_tensor("cov", cov, accept_arrays=True).to(torch.float64)
        D = self.mean.numel()
        if D < 1 or self.cov.shape != (D, D) or not torch.allclose(self.cov, self.cov.T):
            raise bad("cov", Desc(f"tensor of shape {tuple(self.cov.shape)}"),
                      f"cov must be a symmetric ({D}, {D}) matrix, D being the length of mean")
        if float(torch.linalg.eigvalsh(self.cov).min()) < -1e-9 * max(1.0, float(self.cov.abs().max())):
            raise bad("cov", Desc("a matrix with a negative eigenvalue"), "cov must be positive semi-definite")
        self.variances = torch.linalg.eigvalsh(self.cov).clamp_min(0.0)

    @classmethod
    def fit(cls, points) -> "GaussianData":
        """The Gaussian with the sample mean and (maximum-likelihood) covariance of ``points`` (N, ...)."""
        x = check_tensor("points", points, min_dim=1, accept_arrays=True).to(torch.float64)
        x = x.reshape(x.shape[0], -1)
        if x.shape[0] < 2 or x.shape[1] < 1:
            raise bad("points", f"{x.shape[0]} point(s)", "at least 2 points to estimate a covariance")
        mean = x.mean(0)
        centred = x - mean
        return cls(mean, centred.T @ centred / x.shape[0])

    @policy
    def optimal_loss(self, schedule: NoiseSchedule, t_values, space: str = "eps") -> torch.Tensor:
        """The exact per-dimension floor at each t (no sampling)."""
        check_schedule("schedule", schedule)
        check_choice("space", space, TARGETS)
        t_values = check_timesteps("t_values", t_values, schedule.T).reshape(-1)
        out = []
        v = self.variances
        for t in torch.as_tensor(t_values).tolist():
            ab = float(schedule.alpha_bars[t])
            s2 = 1.0 - ab
            x0_floor = float((v * s2 / (ab * v + s2)).mean())
            snr = ab / s2
            out.append(x0_floor * {"x0": 1.0, "eps": snr, "v": 1.0 + snr}[space])
        return torch.tensor(out, dtype=torch.float64)

    def denoiser(self, schedule: NoiseSchedule) -> "LinearDenoiser":
        """The best linear denoiser as a model ``(x_t, t) -> eps prediction``, to measure on other data (held-out
        digits): its expected loss on data drawn from this Gaussian is ``optimal_loss``."""
        check_schedule("schedule", schedule)
        return LinearDenoiser(self, schedule)


class LinearDenoiser(nn.Module):
    """E[eps | x_t] of Gaussian data N(mu, Sigma) (``GaussianData.denoiser``): with Sigma = U diag(v) U^T,
    E[x0 | x_t] = mu + U diag(a v / (a^2 v + s^2)) U^T (x_t - a mu) (Bishop 2006, eq. 2.116), and
    eps = (x_t - a E[x0 | x_t]) / s."""

    def __init__(self, data: GaussianData, schedule: NoiseSchedule):
        super().__init__()
        v, U = torch.linalg.eigh(data.cov)
        self.register_buffer("mean", data.mean)
        self.register_buffer("variances", v.clamp_min(0.0))
        self.register_buffer("basis", U)
        self.register_buffer("abar", schedule.alpha_bars.to(torch.float64))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = x_t.to(torch.float64).reshape(len(x_t), -1)
        ab = self.abar[t.to("cpu").long()].reshape(-1, 1)
        a, s2 = ab.sqrt(), 1 - ab
        gain = a * self.variances / (ab * self.variances + s2)                                # (B, D)
        x0 = self.mean + ((x - a * self.mean) @ self.basis * gain) @ self.basis.T
        return ((x - a * x0) / s2.sqrt()).reshape(x_t.shape).to(x_t.dtype)


class GridDenoiser(nn.Module):
    """The Bayes-optimal denoiser of data whose pixels are independent and take ``levels`` grey values, as a model
    ``(x_t, t) -> eps prediction``, fitted to a training set: each pixel's prior is its own histogram over the levels.

    The digits take 17 grey levels, 0.125 apart in [-1, 1]. For such data E[x0 | x_t] is, pixel by pixel, a
    softmax-weighted average of the levels (the posterior of a discrete prior under Gaussian noise), so
    E[eps | x_t] = (x_t - sqrt(abar_t) E[x0 | x_t]) / sqrt(1 - abar_t). At small t the noise (sqrt(beta_1) = 0.01) is
    far below the spacing, the posterior picks the level the pixel is on, and eps is read off x_t almost exactly:
    its eps-loss on *held-out* digits is then close to 0, not to 1. It ignores how pixels go together (strokes), so at
    larger t any good model beats it; it is an upper bound on the best possible loss of such data at every t (one
    particular denoiser), not the floor itself. ``smoothing``: the count added to every level of every pixel, so
    that a level no training digit shows at a pixel keeps a small prior weight.
    """

    def __init__(self, train: torch.Tensor, schedule: NoiseSchedule, levels: int = 17, smoothing: float = 0.5):
        super().__init__()
        train = check_tensor("train", train).to(torch.float64)
        levels = check_int("levels", levels, 2, 1024)
        smoothing = check_real("smoothing", smoothing, low=0, high=1e6, low_open=False)
        check_schedule("schedule", schedule)
        self.register_buffer("grid", torch.linspace(-1.0, 1.0, levels, dtype=torch.float64))
        flat = train.reshape(len(train), -1)
        index = torch.round((flat.clamp(-1, 1) + 1) * (levels - 1) / 2).long()              # (N, D)
        if float((self.grid[index] - flat).abs().max()) > 1e-6:
            raise bad("train", Desc("values off the grid"), f"train must take the {levels} levels of linspace(-1, 1, {levels})")
        counts = torch.zeros(flat.shape[1], levels, dtype=torch.float64).scatter_add_(
            1, index.T, torch.ones_like(index.T, dtype=torch.float64))                          # (D, levels)
        self.register_buffer("log_prior", torch.log((counts + smoothing) / (counts + smoothing).sum(1, keepdim=True)))
        self.register_buffer("abar", schedule.alpha_bars.to(torch.float64))

    def x0(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """E[x0 | x_t] pixel by pixel, float64, in the shape of x_t."""
        x = x_t.to(torch.float64).reshape(len(x_t), -1, 1)                                   # (B, D, 1)
        ab = self.abar[t.to("cpu").long()].reshape(-1, 1, 1)
        a, s2 = ab.sqrt(), 1 - ab
        logits = self.log_prior[None] - (x - a * self.grid) ** 2 / (2 * s2)                  # (B, D, levels)
        return (torch.softmax(logits, dim=2) * self.grid).sum(2).reshape(x_t.shape)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.abar[t.to("cpu").long()].reshape(-1, *([1] * (x_t.dim() - 1)))
        eps = (x_t.to(torch.float64) - ab.sqrt() * self.x0(x_t, t)) / (1 - ab).sqrt()
        return eps.to(x_t.dtype)
