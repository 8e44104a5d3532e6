"""Where and how the package's computations run: the device, the float type of running sums, the progress bar.

(How many threads they use, and how a family of models is run side by side, is :mod:`ddpm_edu.threads`.)
"""

from __future__ import annotations

import sys

import torch

from ._checks import bad, bad_type

_DEVICES = "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/"auto": CUDA if available, then Apple's MPS, then the CPU; otherwise the named device."""
    if device is not None and not isinstance(device, (str, torch.device)):
        raise bad_type("device", device, _DEVICES)
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    _device_type(device)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise bad("device", device, "CUDA is not available on this machine; use 'auto' or 'cpu'")
    if dev.type == "mps" and not _mps_available():
        raise bad("device", device, "Apple's MPS is not available on this machine; use 'auto' or 'cpu'")
    return dev


def accumulator_dtype(device) -> torch.dtype:
    """float64 for running sums, except on Apple's MPS, which has no float64."""
    return torch.float32 if _device_type(device) == "mps" else torch.float64


def _device_type(device) -> str:
    """The type of a device name ("cpu", "cuda", "mps"), or a ValueError naming ``device``."""
    if not isinstance(device, (str, torch.device)):
        raise bad_type("device", device, _DEVICES)
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise bad("device", device, _DEVICES) from None
    if kind not in ("cpu", "cuda", "mps"):
        raise bad("device", device, _DEVICES)
    return kind


def model_device(model: torch.nn.Module, device=None) -> torch.device:
    """``device`` when given (checked), else where the model's parameters are (the CPU for a model without any)."""
    if device is not None:
        return pick_device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def progress_bar(total, initial: int, show: bool, desc: str):
    """A plain-text progress bar on stderr with the time left (a saved notebook shows its last line)."""
    from tqdm.std import tqdm

    return tqdm(total=total, initial=initial, disable=not show, desc=desc, file=sys.stderr, mininterval=1.0, ncols=90,
                ascii=" #", unit="step")
