"""Data that ships with the install or is generated: never downloaded.

* ``digits()``: scikit-learn's bundled 8x8 handwritten digits (1797 images, shipped inside the
  sklearn wheel), pixel values 0..16 scaled to [-1, 1].
* ``toy(name, n, seed)``: 2-D toy sets (two moons, swiss roll, a Gaussian mixture), deterministic
  given the seed.
* ``SPECS``: each data set declared once (:class:`DataSpec`): its shape, how it is split, whether its values lie
  on a grid, how samples are clipped and scored. Code that depends on the data set reads its record, never its name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import MAX_N, Desc, bad, bad_type, check_choice, check_int, check_tensor

TOYS = ("moons", "swiss_roll", "gaussian_mixture")
DATASETS = ("digits",) + TOYS


def _check_float_dtype(dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise bad_type("dtype", dtype, "dtype must be a floating-point torch dtype (torch.float32 or torch.float64)")


def digits(dtype: torch.dtype = torch.float32):
    """``(images, labels)``: images ``(1797, 1, 8, 8)`` in [-1, 1], labels ``(1797,)`` int64.

    sklearn stores intensities 0..16; x = pixel / 8 - 1 maps them onto [-1, 1] (16 levels + 1).
    """
    from sklearn.datasets import load_digits

    _check_float_dtype(dtype)
    d = load_digits()
    images = torch.as_tensor(d.images, dtype=dtype).unsqueeze(1) / 8.0 - 1.0
    return images, torch.as_tensor(d.target, dtype=torch.int64)


def gaussian_mixture_params(dtype: torch.dtype = torch.float64):
    """Means ``(8, 2)``, the shared isotropic std and the weights of the 2-D toy mixture.

    Eight equal-weight components on a circle of radius 2, std 0.25: small enough to be clearly
    multi-modal, so that the exact denoiser E[x0 | x_t] is far from linear at mid t.
    """
    angles = torch.arange(8, dtype=dtype) * (2 * math.pi / 8)
    means = 2.0 * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return means, 0.25, torch.full((8,), 1 / 8, dtype=dtype)


def toy(name: str = "moons", n: int = 2000, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``n`` points ``(n, 2)`` of the 2-D toy ``name``, roughly centred with unit scale."""
    check_choice("name", name, TOYS)
    n = check_int("n", n, 1, MAX_N)
    seed = check_int("seed", seed, 0, 2 ** 32 - 1)
    _check_float_dtype(dtype)
    return _toy(name, n, seed, dtype)


def _toy(name: str, n: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """:func:`toy` on checked arguments."""
    if name == "moons":
        from sklearn.datasets import make_moons

        pts, _ = make_moons(n_samples=n, noise=0.05, random_state=seed)
        pts = (pts - np.array([0.5, 0.25])) / np.array([0.87, 0.5]) * 0.9
        return torch.as_tensor(pts, dtype=dtype)
    if name == "swiss_roll":
        from sklearn.datasets import make_swiss_roll

        pts, _ = make_swiss_roll(n_samples=n, noise=0.3, random_state=seed)
        return torch.as_tensor(pts[:, [0, 2]] / 7.0, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    means, std, weights = gaussian_mixture_params(torch.float64)
    comp = torch.multinomial(weights, n, replacement=True, generator=g)
    pts = means[comp] + std * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return pts.to(dtype)


def upsample(images: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Nearest-neighbour upsampling for display: ``(B, 1, 8, 8)`` -> ``(B, 1, 8 f, 8 f)``."""
    factor = check_int("factor", factor, 1, 64)
    images = check_tensor("images", images)
    if images.dim() != 4:
        raise bad("images", Desc(f"tensor of shape {tuple(images.shape)}"), "images must have shape (B, C, H, W)")
    return images.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


@dataclass(frozen=True)
class DataSpec:
    """One data set, declared once (nanoGPT's ``get_batch(split)``: one entry point gives the loop what it needs).

    ``shape``: one example's shape. ``levels``: how many values a coordinate takes (17 for the 8x8 digits,
    0.125 apart in [-1, 1]), None for continuous data. ``clip_x0``: sampling clamps the model's x0 to
    [-clip_x0, clip_x0] at every step (the digits' pixels lie in [-1, 1], as improved-diffusion does for images);
    None for the unbounded 2-D toys. ``true_density``: the exact floor comes from the true density (the Gaussian
    mixture) rather than from the empirical distribution of the training set. ``report``: the sample-quality
    report (``"digits"``: Frechet digit distance, precision, recall, copies; ``"toy"``: energy distance).
    """
    name: str
    shape: tuple
    levels: int | None
    clip_x0: float | None
    true_density: bool
    report: str

    def load(self, seed: int = 0):
        """``(train, held_out)``: digits split 70/30 (stratified by label), or 4000 toy points and an independent draw."""
        seed = check_int("seed", seed, 0, 2 ** 32 - 1 - 10_000)
        if self.name == "digits":
            from sklearn.model_selection import train_test_split

            images, labels = digits()
            idx = torch.arange(len(images))
            tr, te = train_test_split(idx.numpy(), test_size=0.3, random_state=seed, stratify=labels.numpy())
            return images[torch.as_tensor(tr)], images[torch.as_tensor(te)]
        return _toy(self.name, 4000, seed), _toy(self.name, 4000, seed + 10_000)


SPECS = {
    "digits": DataSpec("digits", (1, 8, 8), levels=17, clip_x0=1.0, true_density=False, report="digits"),
    "moons": DataSpec("moons", (2,), levels=None, clip_x0=None, true_density=False, report="toy"),
    "swiss_roll": DataSpec("swiss_roll", (2,), levels=None, clip_x0=None, true_density=False, report="toy"),
    "gaussian_mixture": DataSpec("gaussian_mixture", (2,), levels=None, clip_x0=None, true_density=True, report="toy"),
}
assert tuple(SPECS) == DATASETS


def spec(name: str) -> DataSpec:
    """The record of data set ``name`` (one of ``DATASETS``)."""
    return SPECS[check_choice("name", name, DATASETS)]
