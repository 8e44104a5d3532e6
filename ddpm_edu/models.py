"""Tiny denoisers: a residual MLP for 2-D points and flattened digits, a small conv net for 8x8 images.

Every model maps ``(x_t, t) -> prediction`` of the same shape as ``x_t``; what the prediction
means (eps, x0 or v) is decided by the loss it is trained with, not by the model.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ._checks import Desc, bad, bad_type, check_choice, check_int, check_shape


class SinusoidalEmbedding(nn.Module):
    """The Transformer sinusoidal position embedding of the integer step t (Vaswani et al. 2017,
    sec. 3.5), as DDPM uses it (Ho et al. 2020, appendix B): [sin(t w_i), cos(t w_i)] with
    w_i = 10000^(-i / (dim/2)), i = 0..dim/2-1."""

    def __init__(self, dim: int = 64):
        super().__init__()
        dim = check_int("dim", dim, 2, 4096)
        if dim % 2:
            raise bad("dim", dim, "dim must be even (sin and cos halves)")
        freqs = torch.exp(-math.log(10000.0) * torch.arange(dim // 2, dtype=torch.float32) / (dim // 2))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.to(self.freqs.dtype)[:, None] * self.freqs[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)


class MLPDenoiser(nn.Module):
    """A residual MLP: x (B, ...) flattened to D numbers and concatenated with the t-embedding, a
    linear map to ``width``, then ``blocks`` residual blocks h <- h + W2 SiLU(W1 LayerNorm(h)), and
    a LayerNorm and linear map back to D; the output is reshaped to x's shape.

    Why this shape: on the 8x8 digits, with the same 4000 steps, it gives samples that look like
    digits (Frechet digit distance about 5, against about 22 for a plain 3-layer SiLU MLP of the
    same width; README, "Sample quality"). The LayerNorm keeps hidden activations on one scale at
    every t, and the residual path lets the network pass x_t through (what an eps-model needs at
    large t). The same pattern (pre-norm residual blocks) is the backbone of transformer
    denoisers (e.g. Peebles & Xie 2023, DiT).
    """

    def __init__(self, data_dim: int, width: int = 128, blocks: int = 2, emb_dim: int = 64):
        super().__init__()
        self.data_dim = check_int("data_dim", data_dim, 1, 1_000_000)
        width = check_int("width", width, 1, 16384)
        blocks = check_int("blocks", blocks, 0, 64)
        _check_emb_dim(emb_dim)
        self.embed = SinusoidalEmbedding(emb_dim)
        self.inp = nn.Linear(self.data_dim + emb_dim, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
            for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, self.data_dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        _check_input(x, t, self.data_dim)
        h = self.inp(torch.cat([x.reshape(x.shape[0], -1), self.embed(t)], dim=1))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).reshape(x.shape)


class ConvDenoiser(nn.Module):
    """A small conv net for (B, C, 8, 8) images: 3x3 convs at full resolution, the t-embedding added
    to every block (as a per-channel bias), GroupNorm and SiLU; no down-sampling at 8x8."""

    def __init__(self, channels: int = 1, width: int = 64, blocks: int = 3, emb_dim: int = 64):
        super().__init__()
        self.channels = channels = check_int("channels", channels, 1, 64)
        width = check_int("width", width, 1, 4096)
        blocks = check_int("blocks", blocks, 1, 64)
        _check_emb_dim(emb_dim)
        self.embed = nn.Sequential(SinusoidalEmbedding(emb_dim), nn.Linear(emb_dim, width), nn.SiLU())
        self.inp = nn.Conv2d(channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(blocks))
        self.temb = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.norms = nn.ModuleList(nn.GroupNorm(min(8, width), width) for _ in range(blocks))
        self.out = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        _check_input(x, t, None)
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise bad("x", Desc(f"tensor of shape {tuple(x.shape)}"), f"the conv net needs images (B, {self.channels}, H, W)")
        e = self.embed(t)
        h = self.inp(x)
        for conv, lin, norm in zip(self.blocks, self.temb, self.norms):
            h = h + conv(nn.functional.silu(norm(h + lin(e)[:, :, None, None])))
        return self.out(nn.functional.silu(h))


def _check_emb_dim(emb_dim) -> None:
    if check_int("emb_dim", emb_dim, 2, 4096) % 2:
        raise bad("emb_dim", emb_dim, "emb_dim must be even (sin and cos halves)")


def _check_input(x, t, data_dim) -> None:
    """Cheap checks of a forward call (plain int comparisons: nothing that slows a training step)."""
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point or x.dim() < 1:
        raise bad_type("x", x, "x must be a floating-point tensor (B, ...)")
    if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.shape[0] != x.shape[0]:
        raise bad("t", Desc(f"{type(t).__name__} of shape {tuple(getattr(t, 'shape', ()))}"),
                  f"t must be a 1-D tensor with one step per example ({x.shape[0] if x.dim() else 0})")
    if data_dim is not None and (x.dim() < 2 or math.prod(x.shape[1:]) != data_dim):
        raise bad("x", Desc(f"tensor of shape {tuple(x.shape)}"),
                  f"this model was built for {data_dim} numbers per example (x of shape (B, {data_dim}) or (B, ...))")


class StackedMLP(nn.Module):
    """K residual MLPs of one shape run as one batched model: each parameter of :class:`MLPDenoiser` is
    stacked along a new first axis (K, ...), and every linear layer is one batched matrix product
    (``torch.baddbmm``, a grouped linear layer), so a step of the family costs one call per layer, not K.

    ``forward(x, t)`` takes ``x`` of shape (K, B, ...) and ``t`` of shape (K, B), member k's examples in
    row k, and returns (K, B, ...): member k's output is what ``members[k](x[k], t[k])`` would give (to
    float rounding). ``member(k)`` returns member k as a plain :class:`MLPDenoiser` with its current weights.
    """

    def __init__(self, members):
        super().__init__()
        if not isinstance(members, (list, tuple)) or not members or not all(isinstance(m, MLPDenoiser) for m in members):
            raise bad_type("members", members, "members must be a non-empty list of MLPDenoiser models")
        shapes = {tuple((k, tuple(v.shape)) for k, v in m.state_dict().items()) for m in members}
        if len(shapes) != 1:
            raise bad("members", Desc(f"{len(members)} MLPDenoisers of different shapes"),
                      "every member must have the same data_dim, width, blocks and emb_dim")
        self._template = [copy.deepcopy(members[0]).cpu()]     # the shape only (a list: not a submodule)
        self.K, self.data_dim, self.n_blocks = len(members), members[0].data_dim, len(members[0].blocks)
        self.embed = copy.deepcopy(members[0].embed)
        self.names = [name for name, _ in members[0].named_parameters()]
        self.stacked = nn.ParameterList(nn.Parameter(torch.stack([dict(m.named_parameters())[name].detach()
                                                                  for m in members]).clone()) for name in self.names)

    def _p(self, name: str) -> torch.Tensor:
        return self.stacked[self.names.index(name)]

    def _linear(self, prefix: str, h: torch.Tensor) -> torch.Tensor:
        w, b = self._p(prefix + ".weight"), self._p(prefix + ".bias")          # (K, out, in), (K, out)
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))

    def _norm(self, prefix: str, h: torch.Tensor) -> torch.Tensor:
        w, b = self._p(prefix + ".weight"), self._p(prefix + ".bias")          # LayerNorm's affine, per member
        return torch.addcmul(b.unsqueeze(1), nn.functional.layer_norm(h, h.shape[-1:]), w.unsqueeze(1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3 or x.shape[0] != self.K or t.shape != x.shape[:2]:
            raise bad("x", Desc(f"tensor of shape {tuple(x.shape)} with t of shape {tuple(t.shape)}"),
                      f"a family of {self.K} takes x of shape ({self.K}, B, ...) and t of shape ({self.K}, B)")
        K, B = t.shape
        h = torch.cat([x.reshape(K, B, -1), self.embed(t.reshape(-1)).reshape(K, B, -1)], dim=2)
        h = self._linear("inp", h)
        for i in range(self.n_blocks):           # h <- h + W2 SiLU(W1 LayerNorm(h)), as MLPDenoiser
            h = h + self._linear(f"blocks.{i}.3", nn.functional.silu(self._linear(f"blocks.{i}.1", self._norm(f"blocks.{i}.0", h))))
        return self._linear("out.1", self._norm("out.0", h)).reshape(x.shape)

    def member(self, k: int) -> MLPDenoiser:
        """Member k as a plain MLPDenoiser (a copy, on the family's device), with the family's current weights."""
        k = check_int("k", k, 0, self.K - 1)
        model = copy.deepcopy(self._template[0]).to(self.stacked[0].device, self.stacked[0].dtype)
        model.load_state_dict({name: p[k].detach().clone() for name, p in zip(self.names, self.stacked)})
        return model


def make_model(kind: str, data_shape, **kwargs) -> nn.Module:
    """``make_model("mlp", (2,))`` or ``make_model("conv", (1, 8, 8))``."""
    check_choice("kind", kind, ("mlp", "conv"))
    data_shape = check_shape("data_shape", data_shape)
    if kind == "mlp":
        return MLPDenoiser(int(math.prod(data_shape)), **kwargs)
    if len(data_shape) != 3:
        raise bad("data_shape", data_shape, "the conv net needs (C, H, W) images")
    return ConvDenoiser(data_shape[0], **kwargs)
