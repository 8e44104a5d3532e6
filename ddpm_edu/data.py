"""Data that ships with the install or is generated: never downloaded.

* ``digits()``: scikit-learn's bundled 8x8 handwritten digits (1797 images, shipped inside the
  sklearn wheel), pixel values 0..16 scaled to [-1, 1].
* ``toy(name, n, seed)``: 2-D toy sets (two moons, swiss roll, a Gaussian mixture), deterministic
  given the seed.
"""

from __future__ import annotations

import math

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
