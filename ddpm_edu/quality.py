"""Sample quality that needs no download: a Frechet digit distance, k-NN precision and recall, and
energy distance for the 2-D toys. Every figure comes with its references on the same scale.

Digits: a small classifier (an sklearn MLP, two hidden layers) is trained on sklearn's bundled 8x8
digits at first use, deterministically (fixed seed), and kept for the session. Its last hidden
layer (32 numbers per image) is the feature space, as Inception's pool layer is for FID
(Heusel et al. 2017). In that space:

* **Frechet digit distance (FDD)**: ||m1 - m2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between Gaussian
  fits of the two sets' features (Heusel et al. 2017, eq. in sec. 3; Dowson & Landau 1982). Lower
  is better; 0 only for identical fits. ``model_sd`` is its bootstrap spread (:func:`frechet_spread`).
  Like FID it is biased upwards for small sets, so every report computes its references with the
  same number of images as the samples:
  the **real floor** (training digits against held-out digits) and **noise** (Gaussian pixels,
  clipped to the data range, against held-out digits).
* **precision and recall** (Kynkaanniemi et al. 2019, sec. 3): the real set's manifold is the union
  of balls around each real feature with radius its distance to its k-th nearest real neighbour
  (k = 3); precision is the share of samples inside it, recall the share of real images inside the
  samples' manifold. A model that draws only one digit class has high precision and low recall.
* **copy share**: the share of samples whose nearest training digit is within RMS pixel distance
  0.1 (on the [-1, 1] scale): memorised copies, which FDD alone would reward.
2-D toys: the squared energy distance (Szekely & Rizzo 2013) to held-out points, with the
real-vs-real floor.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ._checks import MAX_N, Desc, bad, bad_type, check_choice, check_int, check_real, check_tensor
from .threads import policy

K_NEIGHBOURS = 3
COPY_DISTANCE = 0.1
FEATURES = 32


def frechet_distance(a, b) -> float:
    """Frechet distance between Gaussian fits (mean, covariance) of two feature sets (n, d), (m, d).

    tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of
    S1^(1/2) S2 S1^(1/2) (symmetric PSD), which is stable where a general matrix square root is not.
    """
    a, b = _features("a", a), _features("b", b)
    if a.shape[1] != b.shape[1]:
        raise bad("b", Desc(f"array of shape {b.shape}"), f"a and b must have the same number of features ({a.shape[1]})")
    return _frechet(a, b)


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`frechet_distance` of checked feature arrays."""
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_sqrt = float(np.sqrt(np.clip(cross, 0, None)).sum())
    return max(0.0, float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt))


def _features(name, x) -> np.ndarray:
    """A finite 2-D float64 array (n, d) with n >= 2."""
    x = check_tensor(name, x, accept_arrays=True).to(torch.float64).numpy()
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise bad(name, Desc(f"array of shape {x.shape}"), f"{name} must be a 2-D array (n, d) with n >= 2 rows")
    return x


def frechet_spread(a, b, n_boot: int = 30, seed: int = 0) -> float:
    """Bootstrap standard deviation of :func:`frechet_distance` (both sets resampled with replacement).

    It measures the figure's sampling noise: how much it would move with another draw of samples
    and of reference images (for 1000 samples of a classroom model: about 1 FDD unit; a new draw of
    1000 samples moved it by 0.8, README). A different training seed moves it more.
    """
    a, b = _features("a", a), _features("b", b)
    return _spread(a, b, check_int("n_boot", n_boot, 2), check_int("seed", seed, 0))


def _spread(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    values = [_frechet(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))]) for _ in range(n_boot)]
    return float(np.std(values, ddof=1))


def _kth_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values          # +1: the point itself is at distance 0


def precision_recall(real, fake, k: int = K_NEIGHBOURS) -> tuple:
    """``(precision, recall)`` of ``fake`` against ``real`` feature sets (Kynkaanniemi et al. 2019)."""
    real = torch.as_tensor(_features("real", real))
    fake = torch.as_tensor(_features("fake", fake))
    if real.shape[1] != fake.shape[1]:
        raise bad("fake", Desc(f"array of shape {tuple(fake.shape)}"), f"real and fake must have the same number of features")
    k = check_int("k", k, 1)
    if min(len(real), len(fake)) <= k:
        raise bad("k", k, f"k must be smaller than both set sizes ({len(real)}, {len(fake)})")
    return _precision_recall(real, fake, k)


def _precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple:
    r_real, r_fake = _kth_radius(real, k), _kth_radius(fake, k)
    d = torch.cdist(fake, real)                       # (n_fake, n_real)
    precision = (d <= r_real[None, :]).any(1).double().mean()
    recall = (d.T <= r_fake[None, :]).any(1).double().mean()
    return float(precision), float(recall)


class DigitFeatures:
    """The feature network of the digit metrics: an MLP (64 -> 64 -> 32 -> 10 classes) trained on all
    1797 bundled digits with a fixed seed. ``features(images)`` gives the 32 ReLU activations of its
    last hidden layer; ``accuracy`` its cross-validated accuracy (a sanity figure for the network)."""

    @policy                                  # one BLAS thread: the same network whatever the machine or the caller
    def __init__(self, seed: int = 0):
        from sklearn.neural_network import MLPClassifier

        from .data import digits

        images, labels = digits(torch.float64)
        X = images.reshape(len(images), -1).numpy()
        self.clf = MLPClassifier(hidden_layer_sizes=(64, FEATURES), alpha=1e-2, max_iter=300, random_state=seed)
        self.clf.fit(X, labels.numpy())      # about 150 Adam epochs, 2 s; cross-validated accuracy about 0.95

    @policy
    def features(self, images) -> np.ndarray:
        """(n, 32) features of images (n, 1, 8, 8) or (n, 64) on the [-1, 1] scale (clipped to it)."""
        x = check_tensor("images", images, accept_arrays=True).to(torch.float64)
        if x.dim() < 2 or x[0].numel() != 64:
            raise bad("images", f"tensor of shape {tuple(x.shape)}", "digits of shape (n, 1, 8, 8) or (n, 64)")
        return self._features(x)

    def _features(self, x: torch.Tensor) -> np.ndarray:
        """:meth:`features` of checked float64 images."""
        h = x.reshape(len(x), 64).clamp(-1, 1).numpy()
        for w, b in zip(self.clf.coefs_[:-1], self.clf.intercepts_[:-1]):
            h = np.maximum(h @ w + b, 0.0)
        return h

    def predict(self, images) -> np.ndarray:
        x = torch.as_tensor(images, dtype=torch.float64).reshape(len(images), 64).clamp(-1, 1).numpy()
        return self.clf.predict(x)


@functools.lru_cache(maxsize=2)
def digit_features(seed: int = 0) -> DigitFeatures:
    """The cached feature network (trained once per session, in about a second)."""
    return DigitFeatures(seed)


def noise_images(n: int, seed: int = 0) -> torch.Tensor:
    """The "pure noise" reference: n images of N(0, 1) pixels clipped to [-1, 1], shape (n, 1, 8, 8)."""
    g = torch.Generator().manual_seed(check_int("seed", seed, 0, 2 ** 63 - 1))
    return torch.randn(check_int("n", n, 1, MAX_N), 1, 8, 8, generator=g, dtype=torch.float64).clamp(-1, 1)


def copy_share(samples, train, threshold: float = COPY_DISTANCE) -> float:
    """Share of samples whose nearest training image is within RMS pixel distance ``threshold``."""
    s = _images("samples", samples)
    tr = _images("train", train)
    if s.shape[1] != tr.shape[1]:
        raise bad("train", Desc(f"images of {tr.shape[1]} pixels"), f"samples and train must have the same size ({s.shape[1]})")
    return _copy_share(s, tr, check_real("threshold", threshold, low=0))


def _copy_share(s: torch.Tensor, tr: torch.Tensor, threshold: float = COPY_DISTANCE) -> float:
    s = s.clamp(-1, 1)
    nearest = torch.cdist(s, tr).min(1).values / s.shape[1] ** 0.5
    return float((nearest < threshold).double().mean())


def _images(name, x) -> torch.Tensor:
    x = check_tensor(name, x, min_dim=1, accept_arrays=True).to(torch.float64)
    if x.shape[0] < 1 or x[0].numel() < 1:
        raise bad(name, Desc(f"tensor of shape {tuple(x.shape)}"), f"{name} must be a batch (n, ...) with n >= 1")
    return x.reshape(x.shape[0], -1)


@policy
def digit_report(samples, held_out, train, seed: int = 0) -> dict:
    """FDD, precision, recall and copy share of ``samples``, with the real floor and noise on the same scale.

    ``held_out``: real digits the model never saw (the reference set); ``train``: the digits it was
    trained on (the floor draws as many of them as there are samples, and copies are measured
    against all of them). Needs at least 2 samples and 4 held-out images.
    """
    net = digit_features()
    samples, held_out, train = (_images(k, v) for k, v in (("samples", samples), ("held_out", held_out), ("train", train)))
    n = len(samples)
    for name, x in (("samples", samples), ("held_out", held_out), ("train", train)):
        if len(x) < 4 or x.shape[1] != 64:
            raise bad(name, Desc(f"{len(x)} images of {x.shape[1]} pixels"), f"{name} must hold at least 4 digits of 64 pixels")
    seed = check_int("seed", seed, 0, 2 ** 63 - 1)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(train), generator=g)[: min(n, len(train))]
    f_ref, f_model, f_real, f_noise = (net._features(x) for x in (held_out, samples, train[pick],
                                                                    noise_images(n, seed)))
    p, r = _precision_recall(torch.as_tensor(f_ref), torch.as_tensor(f_model), K_NEIGHBOURS)
    p_real, r_real = _precision_recall(torch.as_tensor(f_ref), torch.as_tensor(f_real), K_NEIGHBOURS)
    p_noise, r_noise = _precision_recall(torch.as_tensor(f_ref), torch.as_tensor(f_noise), K_NEIGHBOURS)
    return {
        "name": "frechet_digit_distance",
        "model": _frechet(f_model, f_ref),
        "model_sd": _spread(f_model, f_ref, 30, seed),
        "real": _frechet(f_real, f_ref),
        "real_sd": _spread(f_real, f_ref, 30, seed),
        "noise": _frechet(f_noise, f_ref),
        "precision": p, "recall": r,
        "real_precision": p_real, "real_recall": r_real,
        "noise_precision": p_noise, "noise_recall": r_noise,
        "copy_share": _copy_share(samples, train),
        "real_copy_share": _copy_share(held_out, train),
        "n": n,
    }


def energy_distance(x, y) -> float:
    """Squared energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between two samples (n, D), (m, D).

    Szekely & Rizzo (2013), eq. 1, with the V-statistic (all pairs, self-pairs included). It is >= 0
    and 0 for identical samples; compare a model's value with the real-vs-real floor.
    """
    x, y = _images("x", x), _images("y", y)
    if x.shape[1] != y.shape[1]:
        raise bad("y", Desc(f"points of dimension {y.shape[1]}"), f"x and y must have the same dimension ({x.shape[1]})")
    return _energy(x, y)


def _energy(x: torch.Tensor, y: torch.Tensor) -> float:
    """:func:`energy_distance` of checked (n, D) float64 samples."""
    return max(0.0, float(2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean()))


@policy
def toy_report(samples, held_out, seed: int = 0) -> dict:
    """Energy distance of ``samples`` to half of ``held_out``, and the floor: the other half against it."""
    real = _images("held_out", held_out)
    samples = _images("samples", samples)
    seed = check_int("seed", seed, 0, 2 ** 32 - 1)
    if real.shape[1] != samples.shape[1]:
        raise bad("held_out", Desc(f"points of dimension {real.shape[1]}"), f"samples have dimension {samples.shape[1]}")
    n = min(len(samples), len(real) // 2)
    if n < 2:
        raise bad("held_out", Desc(f"{len(real)} points"), "at least 4 held-out points and 2 samples")
    perm = np.random.default_rng(seed).permutation(len(real))
    held_a, held_b = real[perm[:n]], real[perm[n:2 * n]]
    return {"name": "energy_distance", "model": _energy(samples[:n], held_a), "real": _energy(held_b, held_a), "n": n}


@policy
def sample_quality(data_name: str, samples, held_out, train=None, seed: int = 0) -> dict:
    """The report for ``data_name``: :func:`digit_report` (needs ``train``) or :func:`toy_report`."""
    from .data import DATASETS, SPECS

    check_choice("data_name", data_name, DATASETS)
    if SPECS[data_name].report == "digits":
        if train is None:
            raise bad("train", None, "the digit report needs the training digits (for the floor and copies)")
        return digit_report(samples, held_out, train, seed=seed)
    return toy_report(samples, held_out, seed=seed)
