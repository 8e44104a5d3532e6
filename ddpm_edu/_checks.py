"""Argument checks shared by the package: the one place where the bad-input policy lives.

Policy (DESIGN.md, "Bad input"): a public function checks its arguments once, at its boundary, and
a bad one raises an error whose message has three parts: which argument, what was given, and what is
allowed ("T=2.5 is not allowed: T must be an integer >= 2"). A wrong *value* is a ``ValueError``; a
wrong *type* is an :class:`ArgumentTypeError`, which is both a ``TypeError`` and a ``ValueError`` (so
``except ValueError`` catches every argument error). Integer tensors are converted to float or
refused, never computed in integer arithmetic; NaN and infinities are refused where a number must be
finite; sizes are capped where an absurd value would exhaust memory. The widgets and the CLI turn
these errors into a one-line message.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

MAX_T = 100_000              # diffusion steps: far beyond any schedule in use, small enough to allocate
MAX_N = 10_000_000           # examples, samples or draws asked for in one call


class ArgumentTypeError(TypeError, ValueError):
    """A wrong type for an argument (a ``TypeError`` that ``except ValueError`` also catches)."""


def _show(value) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() <= 6:
            return f"tensor({value.tolist()}, dtype={value.dtype})" if value.dim() else f"tensor({value.item()!r})"
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}" if value.size > 6 else repr(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Desc(str):
    """A description of a value ("tensor of shape (3, 5)") shown as it is, without quotes."""


def bad(name: str, value, allowed: str) -> ValueError:
    """Build the package's standard error: ``name=value is not allowed: allowed``."""
    shown = str(value) if isinstance(value, Desc) else _show(value)
    return ValueError(f"{name}={shown} is not allowed: {allowed}")


def bad_type(name: str, value, allowed: str) -> ArgumentTypeError:
    """The same message for a wrong type: ``name=value (a T) is not allowed: allowed``."""
    return ArgumentTypeError(f"{name}={_show(value)} (a {type(value).__name__}) is not allowed: {allowed}")


def check_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer (not a bool or float) in ``minimum..maximum``."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.dtype.is_floating_point \
            and value.dtype != torch.bool and not value.dtype.is_complex:
        value = int(value)
    allowed = f"{name} must be an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise bad_type(name, value, allowed)
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise bad(name, value, allowed)
    return value


def check_real(name: str, value, *, low=None, high=None, low_open=True, high_open=True) -> float:
    """Return ``value`` as a finite float inside the given (open or closed) interval."""
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.dtype.is_complex and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise bad_type(name, value, f"{name} must be a real number in {interval}")
    value = float(value)
    if not math.isfinite(value):
        raise bad(name, value, f"{name} must be finite, in {interval}")
    if low is not None and (value < low or (low_open and value == low)):
        raise bad(name, value, f"{name} must lie in {interval}")
    if high is not None and (value > high or (high_open and value == high)):
        raise bad(name, value, f"{name} must lie in {interval}")
    return value + 0.0                    # never -0.0


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise bad_type(name, value, f"{name} must be True or False")
    return bool(value)


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices``."""
    allowed = f"{name} must be one of {', '.join(repr(c) for c in choices)}"
    if not isinstance(value, str):
        raise bad_type(name, value, allowed)
    if value not in choices:
        raise bad(name, value, allowed)
    return value


def check_tensor(name: str, x, *, min_dim: int = 0, allow_int: bool = True, finite: bool = True,
                 accept_arrays: bool = False) -> torch.Tensor:
    """Return ``x`` as a floating-point tensor after checking it is a tensor with finite entries.

    Integer tensors are converted to float64 (``allow_int``) rather than computed in integer
    arithmetic, which would truncate every coefficient; bool and complex tensors are refused.
    ``accept_arrays``: numpy arrays and nested lists of numbers are converted too.
    """
    if accept_arrays and not isinstance(x, torch.Tensor) and isinstance(x, (np.ndarray, list, tuple)):
        try:
            x = torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError):
            raise bad_type(name, x, f"{name} must be an array of real numbers") from None
    if not isinstance(x, torch.Tensor):
        raise bad_type(name, x, f"{name} must be a torch.Tensor" + (" or an array" if accept_arrays else ""))
    if x.dtype == torch.bool or x.dtype.is_complex:
        raise bad_type(name, x, f"{name} must hold real numbers (got dtype {x.dtype})")
    if not x.dtype.is_floating_point:
        if not allow_int:
            raise bad_type(name, x, f"{name} must be a floating-point tensor (got dtype {x.dtype})")
        x = x.to(torch.float64)
    if x.dim() < min_dim:
        raise bad(name, Desc(f"tensor of shape {tuple(x.shape)}"), f"{name} must have at least {min_dim} dimension(s)")
    if finite and x.numel() and not torch.isfinite(x).all():
        n_bad = int((~torch.isfinite(x)).sum())
        raise bad(name, Desc(f"tensor with {n_bad} NaN or infinite entries"), f"every entry of {name} must be finite")
    return x


def check_data(name: str, data) -> torch.Tensor:
    """Training data: a finite tensor (N, ...) with N >= 1 examples of at least one number each."""
    data = check_tensor(name, data, min_dim=1)
    if data.dim() < 2 or data.shape[0] < 1 or data[0].numel() < 1:
        raise bad(name, Desc(f"tensor of shape {tuple(data.shape)}"), f"{name} must have shape (N, ...) with N >= 1 examples")
    big = float(data.abs().max())
    if big > 1e6:
        raise bad(name, Desc(f"values up to {big:.3g}"), f"the models expect {name} of about unit scale (the digits lie in "
                                                         "[-1, 1]): standardise it first")
    return data


def check_model_fits(name: str, data: torch.Tensor, model) -> None:
    """Refuse data whose examples do not have the number of values the model was built for."""
    dim = getattr(model, "data_dim", None)
    if dim is not None and data[0].numel() != dim:
        raise bad(name, Desc(f"tensor of shape {tuple(data.shape)}"),
                  f"the model takes {dim} numbers per example, the {name} have {data[0].numel()}")


def check_like(name: str, x, like_name: str, like: torch.Tensor) -> torch.Tensor:
    """``x`` as a finite float tensor of the same shape as ``like``."""
    x = check_tensor(name, x)
    if x.shape != like.shape:
        raise bad(name, Desc(f"tensor of shape {tuple(x.shape)}"), f"{name} must have the shape of {like_name} {tuple(like.shape)}")
    return x


def check_shape(name: str, shape) -> tuple:
    """A data shape: a tuple of positive ints (``(2,)`` or ``(1, 8, 8)``)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list, torch.Size)) or not shape:
        raise bad_type(name, shape, f"{name} must be a tuple of positive integers, e.g. (2,) or (1, 8, 8)")
    return tuple(check_int(f"{name}[{i}]", s, 1, MAX_N) for i, s in enumerate(shape))


def check_generator(name: str, generator) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise bad_type(name, generator, f"pass a torch.Generator as {name}: every random draw is seeded in ddpm_edu")
    return generator


def check_module(name: str, model) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise bad_type(name, model, f"{name} must be a torch.nn.Module mapping (x_t, t) to a prediction")
    return model


def check_timesteps(name: str, t, T: int, low: int = 1) -> torch.Tensor:
    """Return ``t`` as an int64 tensor after checking every entry is an integer in ``low..T``.

    Accepts a Python int, a sequence of ints, or an integer tensor of shape () or (B,). A float
    (2.5, or a float tensor) is refused, never truncated.
    """
    allowed = f"{name} must be an integer time step in {low}..{T}, or a 1-D integer tensor of them"
    given = t
    if isinstance(t, (bool, np.bool_)):
        raise bad_type(name, t, allowed)
    if isinstance(t, numbers.Integral):
        t = torch.tensor(int(t), dtype=torch.int64)
    elif not isinstance(t, torch.Tensor):
        if isinstance(t, (str, bytes, dict)) or t is None:
            raise bad_type(name, t, allowed)
        try:
            t = torch.as_tensor(t)
        except (TypeError, ValueError, RuntimeError, OverflowError):
            raise bad_type(name, t, allowed) from None
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise bad_type(name, given, allowed + f" (dtype {t.dtype}: a float step is refused, not truncated)")
    if t.dim() > 1:
        raise bad(name, Desc(f"tensor of shape {tuple(t.shape)}"), f"{name} must be a scalar or a 1-D batch of time steps")
    if t.numel() and (int(t.min()) < low or int(t.max()) > T):
        out = int(t.min()) if int(t.min()) < low else int(t.max())
        where = "" if isinstance(given, numbers.Integral) or t.numel() == 1 else f" ({name} = {out} is out)"
        raise bad(name, given if isinstance(given, numbers.Integral) else t,
                  f"time steps must lie in {low}..{T}{where} (t follows the math: 1 is the first noising step)")
    return t.to(torch.int64)
