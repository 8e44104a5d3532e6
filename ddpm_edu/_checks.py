"""Argument checks shared by the package.

Every check raises ``ValueError`` with the same three parts: which argument, what was given, and
what is allowed. The widgets catch these and show the message instead of a traceback.
"""

from __future__ import annotations

import math
import numbers

import torch


def bad(name: str, value, allowed: str) -> ValueError:
    """Build the package's standard error: ``name=value is not allowed: allowed``."""
    return ValueError(f"{name}={value!r} is not allowed: {allowed}")


def check_int(name: str, value, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer (not a bool or float) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise bad(name, value, f"{name} must be an integer >= {minimum} (got type {type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise bad(name, value, f"{name} must be an integer >= {minimum}")
    return value


def check_real(name: str, value, *, low=None, high=None, low_open=True, high_open=True) -> float:
    """Return ``value`` as a finite float inside the given (open or closed) interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise bad(name, value, f"{name} must be a real number (got type {type(value).__name__})")
    value = float(value)
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    if not math.isfinite(value):
        raise bad(name, value, f"{name} must be finite, in {interval}")
    if low is not None and (value < low or (low_open and value == low)):
        raise bad(name, value, f"{name} must lie in {interval}")
    if high is not None and (value > high or (high_open and value == high)):
        raise bad(name, value, f"{name} must lie in {interval}")
    return value


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise bad(name, value, f"{name} must be one of {', '.join(repr(c) for c in choices)}")
    return value


def check_timesteps(name: str, t, T: int, low: int = 1) -> torch.Tensor:
    """Return ``t`` as an int64 tensor after checking every entry is an integer in ``low..T``.

    Accepts a Python int, a sequence of ints, or an integer tensor of shape () or (B,).
    """
    if isinstance(t, bool):
        raise bad(name, t, f"{name} must be an integer time step in {low}..{T}")
    if isinstance(t, numbers.Integral):
        t = torch.tensor(int(t), dtype=torch.int64)
    elif not isinstance(t, torch.Tensor):
        try:
            t = torch.as_tensor(t)
        except (TypeError, ValueError, RuntimeError):
            raise bad(name, t, f"{name} must be an integer or a tensor of integer time steps in {low}..{T}") from None
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise bad(name, t, f"{name} must hold integer time steps in {low}..{T} (got dtype {t.dtype})")
    if t.dim() > 1:
        raise bad(name, tuple(t.shape), f"{name} must be a scalar or a 1-D batch of time steps")
    if t.numel() and (int(t.min()) < low or int(t.max()) > T):
        raise bad(name, t.tolist() if t.numel() <= 8 else f"tensor with range {int(t.min())}..{int(t.max())}",
                  f"time steps must lie in {low}..{T} (t follows the math: 1 is the first noising step)")
    return t.to(torch.int64)


def check_tensor(name: str, x, *, min_dim: int = 0, allow_int: bool = True) -> torch.Tensor:
    """Return ``x`` as a floating-point tensor after checking it is a tensor with finite entries.

    Integer tensors are converted to float64 (``allow_int``) rather than computed in integer
    arithmetic, which would truncate every coefficient; bool and complex tensors are refused.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}={type(x).__name__} is not allowed: {name} must be a torch.Tensor")
    if x.dtype == torch.bool or x.dtype.is_complex:
        raise TypeError(f"{name} of dtype {x.dtype} is not allowed: {name} must hold real numbers")
    if not x.dtype.is_floating_point:
        if not allow_int:
            raise TypeError(f"{name} of dtype {x.dtype} is not allowed: {name} must be a floating-point tensor")
        x = x.to(torch.float64)
    if x.dim() < min_dim:
        raise bad(name, f"tensor of shape {tuple(x.shape)}", f"{name} must have at least {min_dim} dimensions")
    if x.numel() and not torch.isfinite(x).all():
        n_bad = int((~torch.isfinite(x)).sum())
        raise bad(name, f"tensor with {n_bad} NaN or infinite entries", f"every entry of {name} must be finite")
    return x


def check_data(name: str, data) -> torch.Tensor:
    """Training data: a finite tensor (N, ...) with N >= 1 examples of at least one number each."""
    data = check_tensor(name, data, min_dim=1)
    if data.dim() < 2 or data.shape[0] < 1 or data[0].numel() < 1:
        raise bad(name, f"tensor of shape {tuple(data.shape)}", f"{name} must have shape (N, ...) with N >= 1 examples")
    return data
