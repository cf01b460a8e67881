"""``NVFP4Linear``: an ``nn.Linear`` whose weight is NVFP4, run on the backend its device selects.

The module stores the weight once, in the layout of its backend (4.5 bits a weight), and the
checkpoint's own scalars as buffers. Its ``state_dict`` is the ModelOpt layout, bit for bit what was
loaded, whatever the backend:

================== ==================================================================
``weight``         uint8 [N, K/2] packed codes
``weight_scale``   float8_e4m3fn [N, K/16] block scales, linear
``weight_scale_2`` fp32 decode scale ``1/gs_w``: one value, or [N] (one per output channel)
``input_scale``    fp32 decode scale ``1/gs_x`` of the activation (static activation scale only)
``bias``           [N] in the activation dtype (where the layer has one)
================== ==================================================================

The activation scale is one of ``"none"`` (W4A16: the activation stays 16-bit), ``"static"``
(``input_scale``, from the checkpoint or from calibration) or ``"dynamic"`` (``2688 / amax(x)`` on
every call, computed on the device).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from .backends import NvFp4LinearBackend, select_nvfp4_linear_backend
from .constants import BLOCK_SIZE, SCALE_DTYPE
from .linear import checkpoint_form, kernel_form, nvfp4_linear
from .ops import global_scale_from_amax, scaled_fp4_quant

__all__ = ["ActivationScale", "NVFP4Linear", "fuse_nvfp4_linears"]

ActivationScale = Literal["none", "static", "dynamic"]
_ACTIVATION_SCALES = ("none", "static", "dynamic")


class NVFP4Linear(torch.nn.Module):
    """``y = x @ W^T + b`` with W stored as NVFP4 (frozen) and x fp16 or bf16.

    Build one from an ``nn.Linear`` (:meth:`from_linear`: the weight is quantized here) or from
    checkpoint tensors (:meth:`from_checkpoint`), or construct it and ``load_state_dict`` a
    ModelOpt-layout state. ``backend`` (an :class:`NvFp4LinearBackend`, its name, or None for
    :func:`select_nvfp4_linear_backend` on ``device``) is fixed at construction; :meth:`set_backend`
    re-lays the weight for another one (after moving the module to another kind of device, say).

    The gradient with respect to the input flows on the hopper-w4a16 and emulation backends (through
    the activation's rounding as if it were the identity); the weight never takes one."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = False,
        *,
        activation_scale: ActivationScale = "dynamic",
        dtype: torch.dtype = torch.bfloat16,
        device: torch.device | str | None = None,
        backend: NvFp4LinearBackend | str | None = None,
    ) -> None:
        super().__init__()
        if in_features <= 0 or in_features % BLOCK_SIZE:
            raise ValueError(f"in_features must be a positive multiple of {BLOCK_SIZE}, got {in_features}")
        if out_features <= 0:
            raise ValueError(f"out_features must be positive, got {out_features}")
        if activation_scale not in _ACTIVATION_SCALES:
            raise ValueError(
                f"activation_scale must be one of {', '.join(_ACTIVATION_SCALES)}, got {activation_scale!r}"
            )
        if dtype not in (torch.float16, torch.bfloat16):
            raise TypeError(f"dtype (of activations, output and bias) must be float16 or bfloat16, got {dtype}")
        device = torch.device("cpu") if device is None else torch.device(device)
        self.in_features, self.out_features = in_features, out_features
        self.activation_scale: ActivationScale = activation_scale
        self.dtype = dtype
        self.backend = self._resolve(backend, device)
        weight = torch.zeros(out_features, in_features // 2, dtype=torch.uint8, device=device)
        weight_scale = torch.zeros(out_features, in_features // BLOCK_SIZE, dtype=SCALE_DTYPE, device=device)
        self.register_buffer("weight", weight)
        self.register_buffer("weight_scale", weight_scale)
        self.weights_padding_cols = 0
        self._store_weight(weight, weight_scale)
        self.register_buffer("weight_scale_2", torch.ones((), dtype=torch.float32, device=device))
        if activation_scale == "static":
            self.register_buffer("input_scale", torch.ones((), dtype=torch.float32, device=device))
        else:
            self.register_buffer("input_scale", None)
        if bias:
            zeros = torch.zeros(out_features, dtype=dtype, device=device)
            self.bias = torch.nn.Parameter(zeros, requires_grad=False)
        else:
            self.register_parameter("bias", None)

    # -- construction ----------------------------------------------------------------------------

    def _resolve(self, backend: NvFp4LinearBackend | str | None, device: torch.device) -> NvFp4LinearBackend:
        rounds = self.activation_scale != "none"
        if backend is None:
            return select_nvfp4_linear_backend(device, rounds_activations=rounds)
        backend = backend if isinstance(backend, NvFp4LinearBackend) else NvFp4LinearBackend.from_name(backend)
        if backend.rounds_activations and not rounds:
            raise ValueError(f"the {backend.value} backend multiplies NVFP4 activations; this layer has none (W4A16)")
        return backend

    @classmethod
    def from_linear(
        cls,
        linear: torch.nn.Linear,
        *,
        activation_scale: ActivationScale = "dynamic",
        dtype: torch.dtype | None = None,
        backend: NvFp4LinearBackend | str | None = None,
    ) -> NVFP4Linear:
        """An NVFP4 copy of ``linear`` on its device: the weight quantized with its own dynamic
        global scale (``2688 / amax``), the bias kept in ``dtype`` (default: the weight's dtype
        where it is fp16 or bf16, else bf16). A static activation scale starts at 1 until
        :func:`nvfp4.calibrate` or a checkpoint sets it."""
        weight = linear.weight.detach()
        dtype = dtype or (weight.dtype if weight.dtype in (torch.float16, torch.bfloat16) else torch.bfloat16)
        module = cls(
            linear.in_features,
            linear.out_features,
            linear.bias is not None,
            activation_scale=activation_scale,
            dtype=dtype,
            device=weight.device,
            backend=backend,
        )
        gs_w = global_scale_from_amax(weight)
        packed, block_scale = scaled_fp4_quant(weight, gs_w, swizzle=False)
        module.load_checkpoint(packed, block_scale, 1.0 / gs_w, bias=linear.bias)
        return module

    @classmethod
    def from_checkpoint(
        cls,
        weight: torch.Tensor,
        weight_scale: torch.Tensor,
        weight_scale_2: torch.Tensor,
        input_scale: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        *,
        activation_scale: ActivationScale | None = None,
        dtype: torch.dtype = torch.bfloat16,
        backend: NvFp4LinearBackend | str | None = None,
    ) -> NVFP4Linear:
        """A layer from ModelOpt tensors on their device: packed ``weight`` [N, K/2], linear
        ``weight_scale`` [N, K/16], decode scales ``weight_scale_2`` (1/gs_w) and ``input_scale``
        (1/gs_x; None for a W4A16 checkpoint). ``activation_scale`` defaults to ``"static"`` with an
        input scale and ``"none"`` without."""
        if activation_scale is None:
            activation_scale = "none" if input_scale is None else "static"
        module = cls(
            weight.shape[1] * 2,
            weight.shape[0],
            bias is not None,
            activation_scale=activation_scale,
            dtype=dtype,
            device=weight.device,
            backend=backend,
        )
        module.load_checkpoint(weight, weight_scale, weight_scale_2, input_scale, bias)
        return module

    # -- the checkpoint form ---------------------------------------------------------------------

    def _store_weight(self, weight: torch.Tensor, weight_scale: torch.Tensor) -> None:
        self.weight, self.weight_scale, self.weights_padding_cols = kernel_form(self.backend, weight, weight_scale)

    def checkpoint_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight in checkpoint form: packed [N, K/2] and linear scales [N, K/16]."""
        return checkpoint_form(
            self.backend, self.weight, self.weight_scale, self.weights_padding_cols, self.out_features, self.in_features
        )

    @torch.no_grad()
    def load_checkpoint(
        self,
        weight: torch.Tensor,
        weight_scale: torch.Tensor,
        weight_scale_2: torch.Tensor | float,
        input_scale: torch.Tensor | float | None = None,
        bias: torch.Tensor | None = None,
    ) -> None:
        """Loads ModelOpt-form tensors (see the module docstring), checked first. ``input_scale``
        only for a static activation scale (without one, that scale stays as it was)."""
        n, k = self.out_features, self.in_features
        device = self.weight_scale_2.device
        if weight.dtype not in (torch.uint8, torch.float4_e2m1fn_x2) or tuple(weight.shape) != (n, k // 2):
            raise ValueError(f"weight must be packed uint8 [{n}, {k // 2}], got {weight.dtype} {tuple(weight.shape)}")
        if weight_scale.dtype != SCALE_DTYPE or tuple(weight_scale.shape) != (n, k // BLOCK_SIZE):
            raise ValueError(
                f"weight_scale must be {SCALE_DTYPE} [{n}, {k // BLOCK_SIZE}], got {weight_scale.dtype} "
                f"{tuple(weight_scale.shape)}"
            )
        weight_scale_2 = torch.as_tensor(weight_scale_2, dtype=torch.float32, device=device)
        if weight_scale_2.numel() not in (1, n):
            raise ValueError(f"weight_scale_2 must hold one value or {n}, got shape {tuple(weight_scale_2.shape)}")
        self._check_alpha(self.backend, weight_scale_2)
        if input_scale is not None and self.activation_scale != "static":
            raise ValueError(
                f"input_scale is for a layer with a static activation scale; this one's is {self.activation_scale!r}"
            )
        self._store_weight(weight.view(torch.uint8).to(device), weight_scale.to(device))
        self.weight_scale_2 = weight_scale_2.reshape(()) if weight_scale_2.numel() == 1 else weight_scale_2.reshape(n)
        if input_scale is not None:
            self.input_scale = torch.as_tensor(input_scale, dtype=torch.float32, device=device).reshape(())
        if (bias is None) != (self.bias is None):
            raise ValueError("bias must be given exactly when the layer has one")
        if bias is not None:
            if tuple(bias.shape) != (n,):
                raise ValueError(f"bias must be [{n}], got {tuple(bias.shape)}")
            self.bias = torch.nn.Parameter(bias.detach().to(device=device, dtype=self.dtype), requires_grad=False)

    @staticmethod
    def _check_alpha(backend: NvFp4LinearBackend, weight_scale_2: torch.Tensor) -> None:
        """The module keeps the checkpoint's block scales as they are, so a backend that takes one
        alpha cannot run per-channel global scales (fused shards) exactly."""
        if weight_scale_2.numel() > 1 and not backend.takes_per_channel_alpha:
            raise ValueError(
                f"the {backend.value} backend takes one alpha, and this layer has a weight_scale_2 per output "
                "channel (fused shards): run it on a backend that takes one per channel, or convert it with "
                "convert_to_nvfp4_linear_kernel_format, which re-expresses the block scales against one"
            )

    def set_backend(self, backend: NvFp4LinearBackend | str | None = None) -> None:
        """Re-lays the weight for ``backend`` (None: the one selected for the module's device)."""
        resolved = self._resolve(backend, self.weight_scale_2.device)
        self._check_alpha(resolved, self.weight_scale_2)
        weight, weight_scale = self.checkpoint_weight()
        self.backend = resolved
        self._store_weight(weight.contiguous(), weight_scale.contiguous())

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        weight, weight_scale = self.checkpoint_weight()
        destination[prefix + "weight"] = weight.contiguous()
        destination[prefix + "weight_scale"] = weight_scale.contiguous()

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        names = ["weight", "weight_scale", "weight_scale_2"]
        names += ["input_scale"] if self.activation_scale == "static" else []
        names += ["bias"] if self.bias is not None else []
        missing = [prefix + name for name in names if prefix + name not in state_dict]
        if missing:
            missing_keys.extend(missing)
            return
        try:
            self.load_checkpoint(
                *(state_dict[prefix + name] for name in names[:3]),
                input_scale=state_dict.get(prefix + "input_scale") if "input_scale" in names else None,
                bias=state_dict.get(prefix + "bias") if "bias" in names else None,
            )
        except ValueError as error:
            error_msgs.append(f"{prefix}: {error}")
        if strict:
            expected = {prefix + name for name in ("weight", "weight_scale", "weight_scale_2", "input_scale", "bias")}
            for key in state_dict:
                if key.startswith(prefix) and "." not in key[len(prefix) :] and key not in expected:
                    unexpected_keys.append(key)

    # -- the product -----------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != self.dtype:
            raise TypeError(f"x must be {self.dtype} (the layer's dtype), got {x.dtype}")
        input_scale_inv = alpha = None  # W4A16: the activation is multiplied as it is
        if self.activation_scale != "none" and self.backend is not NvFp4LinearBackend.HOPPER_W4A16:
            # The encode scale gs_x, and alpha = (1/gs_w) / gs_x: on the device, no host sync.
            dynamic = self.activation_scale == "dynamic"
            input_scale_inv = global_scale_from_amax(x.detach()) if dynamic else 1.0 / self.input_scale
            alpha = self.weight_scale_2 / input_scale_inv
        return nvfp4_linear(
            self.backend,
            x,
            self.weight,
            self.weight_scale,
            self.weight_scale_2,
            input_scale_inv,
            alpha,
            self.out_features,
            self.in_features,
            self.weights_padding_cols,
            self.bias,
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"activation_scale={self.activation_scale}, backend={self.backend.value}"
        )


def fuse_nvfp4_linears(layers: Sequence[NVFP4Linear], backend: NvFp4LinearBackend | str | None = None) -> NVFP4Linear:
    """One layer computing the outputs of ``layers`` (shards of one input: q/k/v, gate/up) side by
    side, exactly: the packed weights and block scales are stacked along N as they are, and each
    shard's weight global scale becomes the ``weight_scale_2`` of its output channels (a
    per-channel alpha, which the project's own backends take), so no block scale is re-rounded
    against a common scale. The shards must share in_features, dtype and activation scale mode;
    static activation scales must be equal (one activation, one rounding of it)."""
    if not layers:
        raise ValueError("fuse_nvfp4_linears needs at least one layer")
    first = layers[0]
    for layer in layers[1:]:
        same = (layer.in_features, layer.dtype, layer.activation_scale) == (
            first.in_features,
            first.dtype,
            first.activation_scale,
        )
        if not same:
            raise ValueError(
                "the shards must share in_features, dtype and activation_scale; got "
                + ", ".join(f"({m.in_features}, {m.dtype}, {m.activation_scale})" for m in layers)
            )
    if first.activation_scale == "static" and any(not torch.equal(m.input_scale, first.input_scale) for m in layers):
        raise ValueError(
            "the shards' static activation scales differ: one input is rounded once, so they must be equal "
            f"(got {[m.input_scale.item() for m in layers]})"
        )
    weights, scales = zip(*(m.checkpoint_weight() for m in layers), strict=True)
    weight_scale_2 = torch.cat([m.weight_scale_2.expand(m.out_features) for m in layers])
    bias = None
    if any(m.bias is not None for m in layers):  # a shard without one adds zeros
        bias = torch.cat([m.bias if m.bias is not None else m.weight_scale_2.new_zeros(m.out_features) for m in layers])
    return NVFP4Linear.from_checkpoint(
        torch.cat(weights),
        torch.cat([s.view(torch.uint8) for s in scales]).view(SCALE_DTYPE),
        weight_scale_2,
        first.input_scale if first.activation_scale == "static" else None,
        bias,
        activation_scale=first.activation_scale,
        dtype=first.dtype,
        backend=first.backend if backend is None else backend,
    )
