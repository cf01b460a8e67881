"""An NVFP4 linear layer's weights put in the form its backend reads, and the layer applied to an
activation: ``convert_to_nvfp4_linear_kernel_format`` and ``apply_nvfp4_linear``, with the public
``nvfp4_utils`` semantics.

A layer is any ``nn.Module`` (or object) holding the attributes of DESIGN.md sections 1 and 3, in
checkpoint form before the conversion:

=========================== ================================================================
``weight``                  packed codes, uint8 or float4_e2m1fn_x2 [N, K/2]
``weight_scale``            float8_e4m3fn block scales [N, K/16], linear
``weight_global_scale``     fp32 decode scale ``1/gs_w``: one value, or [N] (one per output channel)
``input_global_scale_inv``  fp32 encode scale ``gs_x`` of the activation (W4A4 checkpoints only)
``alpha``                   fp32 ``1/(gs_x * gs_w)``, one value or [N] (W4A4 checkpoints only)
``output_size_per_partition``, ``input_size_per_partition``: N and K
=========================== ================================================================

The conversion replaces ``weight`` and ``weight_scale`` by the backend's layout and sets
``weights_padding_cols`` (bytes of K padding). Every scale stays on the layer's device, so applying
the layer never copies from the host and can be captured in a CUDA graph.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from .backends import NvFp4LinearBackend
from .constants import BLOCK_SIZE, SCALE_DTYPE
from .layout import (
    prepare_weights_for_nvfp4_cutlass,
    prepare_weights_for_nvfp4_fbgemm,
    prepare_weights_for_nvfp4_flashinfer_trtllm,
    prepare_weights_for_nvfp4_sm90,
    slice_nvfp4_output,
    unprepare_weights_for_nvfp4_cutlass,
    unprepare_weights_for_nvfp4_fbgemm,
    unprepare_weights_for_nvfp4_flashinfer_trtllm,
    unprepare_weights_for_nvfp4_sm90,
)
from .library_gemms import library_scaled_fp4_mm
from .ops import (
    cutlass_scaled_fp4_mm,
    dequantize,
    nvfp4_qdq,
    scaled_fp4_quant,
    sm90_scaled_fp4_mm,
    unswizzle_blockscale,
)

__all__ = [
    "against_common_global_scale",
    "apply_nvfp4_linear",
    "checkpoint_form",
    "convert_to_nvfp4_linear_kernel_format",
    "has_activation_scale",
    "kernel_form",
    "nvfp4_linear",
]

_WEIGHT_ATTRIBUTES = (
    "weight",
    "weight_scale",
    "weight_global_scale",
    "output_size_per_partition",
    "input_size_per_partition",
)
_ACTIVATION_ATTRIBUTES = ("input_global_scale_inv", "alpha")

logger = logging.getLogger("nvfp4")


def has_activation_scale(layer: object) -> bool:
    """Whether the layer holds an activation scale (a W4A4 checkpoint) rather than none (W4A16)."""
    return getattr(layer, "input_global_scale_inv", None) is not None


def _require(layer: object, names: tuple[str, ...], backend: NvFp4LinearBackend) -> None:
    missing = [name for name in names if getattr(layer, name, None) is None]
    if missing:
        raise AttributeError(
            f"the {backend.value} backend needs the layer attribute(s) {', '.join(missing)} "
            f"({type(layer).__name__} has none)"
        )


def _replace(layer: object, name: str, tensor: torch.Tensor) -> None:
    """Sets a layer attribute that may be a registered parameter or buffer of an nn.Module."""
    if isinstance(layer, torch.nn.Module) and name in layer._parameters:
        layer._parameters[name] = torch.nn.Parameter(tensor, requires_grad=False)
    elif isinstance(layer, torch.nn.Module) and name in layer._buffers:
        layer._buffers[name] = tensor
    else:
        setattr(layer, name, tensor)


_HOPPER = (NvFp4LinearBackend.HOPPER_W4A16, NvFp4LinearBackend.HOPPER_W4A4)
# The backends that read CUTLASS's layout: N and K padded to 32, swizzled scales.
_CUTLASS_LAYOUT = (
    NvFp4LinearBackend.CUTLASS,
    NvFp4LinearBackend.FLASHINFER_CUTLASS,
    NvFp4LinearBackend.FLASHINFER_CUDNN,
)


def kernel_form(
    backend: NvFp4LinearBackend, weight: torch.Tensor, weight_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A checkpoint-form weight and its linear scales in ``backend``'s layout, and the K padding in
    bytes: CUTLASS (and FlashInfer's CUTLASS and cuDNN kernels) pads N and K to multiples of 32 and
    swizzles the scales; the Hopper backends take the fragment layout; FlashInfer's TRT-LLM kernels
    and FBGEMM their own; EMULATION keeps the checkpoint form."""
    if backend in _CUTLASS_LAYOUT:
        return prepare_weights_for_nvfp4_cutlass(weight, weight_scale)
    if backend in _HOPPER:
        return (*prepare_weights_for_nvfp4_sm90(weight, weight_scale), 0)
    if backend is NvFp4LinearBackend.FLASHINFER_TRTLLM:
        return (*prepare_weights_for_nvfp4_flashinfer_trtllm(weight, weight_scale), 0)
    if backend is NvFp4LinearBackend.FBGEMM:
        return (*prepare_weights_for_nvfp4_fbgemm(weight, weight_scale), 0)
    return weight, weight_scale, 0


def checkpoint_form(
    backend: NvFp4LinearBackend,
    weight: torch.Tensor,
    weight_scale: torch.Tensor,
    weights_padding_cols: int,
    output_size: int,
    input_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of :func:`kernel_form`: the packed weight [N, K/2] and linear scales [N, K/16],
    bit for bit."""
    if backend in _CUTLASS_LAYOUT:
        return unprepare_weights_for_nvfp4_cutlass(weight, weight_scale, weights_padding_cols, output_size)
    if backend in _HOPPER:
        return unprepare_weights_for_nvfp4_sm90(weight, weight_scale, output_size, input_size)
    if backend is NvFp4LinearBackend.FLASHINFER_TRTLLM:
        return unprepare_weights_for_nvfp4_flashinfer_trtllm(weight, weight_scale)
    if backend is NvFp4LinearBackend.FBGEMM:
        return unprepare_weights_for_nvfp4_fbgemm(weight, weight_scale)
    return weight, weight_scale


def against_common_global_scale(
    weight: torch.Tensor, weight_scale: torch.Tensor, weight_global_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Block scales re-expressed against one weight global scale, for a backend that takes one
    alpha, where the layer has one per output channel (fused shards): the largest decode scale
    ``1/gs_w`` becomes the common one and each row's block scales are multiplied by its own over
    it (at most 1, so none overflows) and rounded to E4M3. Returns the new block scales, the
    common decode scale (0-dim) and the relative error (Frobenius norm) of the weight this makes."""
    own = weight_global_scale.float().reshape(-1, 1)
    common = own.max()
    rescaled = (weight_scale.float() * (own / common)).to(SCALE_DTYPE)
    unit = torch.ones((), dtype=torch.float32, device=weight.device)
    before = dequantize(weight, weight_scale, unit, swizzled=False, out_dtype=torch.float32) * own
    after = dequantize(weight, rescaled, unit, swizzled=False, out_dtype=torch.float32) * common
    error = ((after - before).norm() / before.norm().clamp_min(torch.finfo(torch.float32).tiny)).item()
    return rescaled, common, error


def _one_alpha(backend: NvFp4LinearBackend, layer: object) -> None:
    """Gives a layer with per-channel scales one alpha (against_common_global_scale), warning
    with the error it makes: the public loaders take the largest scale without rescaling the
    block scales, which is wrong wherever the shards' scales differ."""
    w4a4 = has_activation_scale(layer)
    if layer.weight_global_scale.numel() == 1 and (not w4a4 or layer.alpha.numel() == 1):
        return
    rescaled, common, error = against_common_global_scale(layer.weight, layer.weight_scale, layer.weight_global_scale)
    if w4a4:
        # alpha = (1/gs_w) / gs_x per channel: the channel of the common decode scale has the common alpha.
        channel = layer.weight_global_scale.reshape(-1).argmax() if layer.weight_global_scale.numel() > 1 else 0
        alpha = layer.alpha.reshape(-1)[channel if layer.alpha.numel() > 1 else 0].reshape(())
        _replace(layer, "alpha", alpha.clone())
    _replace(layer, "weight_scale", rescaled)
    _replace(layer, "weight_global_scale", common.reshape(()).clone())
    logger.warning(
        "the %s backend takes one alpha: the block scales of a %s with one weight global scale per output "
        "channel were re-expressed against the largest (relative weight error %.2e)",
        backend.value,
        type(layer).__name__,
        error,
    )


def convert_to_nvfp4_linear_kernel_format(backend: NvFp4LinearBackend, layer: object) -> None:
    """Puts the layer's checkpoint-form ``weight`` and ``weight_scale`` in the layout ``backend``
    reads (:func:`kernel_form`, once, at load) and sets ``weights_padding_cols`` (the K padding in
    bytes). EMULATION keeps the checkpoint form (linear scales: apply it with ``swizzle=False``).
    A backend that takes one alpha gets per-channel global scales re-expressed first
    (:func:`against_common_global_scale`, with a warning giving the error)."""
    _require(layer, _WEIGHT_ATTRIBUTES, backend)
    if backend.rounds_activations:
        _require(layer, _ACTIVATION_ATTRIBUTES, backend)
    if layer.weight_scale.dtype != SCALE_DTYPE:
        raise TypeError(f"layer.weight_scale must be {SCALE_DTYPE}, got {layer.weight_scale.dtype}")
    if not backend.takes_per_channel_alpha:
        _one_alpha(backend, layer)
    weight, weight_scale, layer.weights_padding_cols = kernel_form(backend, layer.weight.data, layer.weight_scale.data)
    if backend is not NvFp4LinearBackend.EMULATION:
        _replace(layer, "weight", weight)
        _replace(layer, "weight_scale", weight_scale)


def _per_column(alpha: torch.Tensor, columns: int) -> torch.Tensor:
    """``alpha`` as the GEMM ops take it: 0-dim for one value, else [columns] (zero past its own
    length, for padded output columns that are sliced away)."""
    if alpha.numel() == 1:
        return alpha.reshape(())
    return alpha if alpha.numel() == columns else F.pad(alpha, (0, columns - alpha.numel()))


def _emulate(
    x: torch.Tensor,
    weight: torch.Tensor,
    weight_scale: torch.Tensor,
    alpha: torch.Tensor,
    input_scale_inv: torch.Tensor | None,
    n: int,
    k: int,
    bias: torch.Tensor | None,
    swizzle: bool,
) -> torch.Tensor:
    """``alpha * (x' @ (e2m1 * sf)^T) + bias`` in fp32, one rounding to x's dtype; ``x'`` is
    ``nvfp4_qdq(x, gs_x)`` where there is an activation scale (W4A4), else x (W4A16). The project's
    own ops decode and round, so eager and compiled runs give the same values. The gradient with
    respect to x passes the rounding straight through (the weight is frozen)."""
    rows, stored_k = weight.shape[0], weight.shape[1] * 2
    if swizzle:  # a layer converted for CUTLASS: swizzled from its unpadded N and K
        weight_scale = unswizzle_blockscale(weight_scale, n, k // BLOCK_SIZE)
        weight = weight[:n, : k // 2].contiguous()
    elif (rows, stored_k) != (n, k):
        raise ValueError(
            f"the emulation backend reads the checkpoint form: weight [{n}, {k // 2}] with linear scales "
            f"(swizzle=False), got weight {tuple(weight.shape)}; apply a layer converted for cutlass "
            "with swizzle=True"
        )
    unit_scale = torch.ones((), dtype=torch.float32, device=x.device)
    decoded = dequantize(weight, weight_scale, unit_scale, swizzled=False, out_dtype=torch.float32)  # e2m1 * sf
    if input_scale_inv is not None:
        x = _RoundedStraightThrough.apply(x, input_scale_inv)
    out = (x.float() @ decoded.T) * alpha.float().reshape(-1)
    if bias is not None:
        out = out + bias.float()
    return out.to(x.dtype)


class _RoundedStraightThrough(torch.autograd.Function):
    """``nvfp4_qdq(x, gs_x)`` forward; the identity backward (the straight-through estimator)."""

    @staticmethod
    def forward(x: torch.Tensor, input_scale_inv: torch.Tensor) -> torch.Tensor:
        return nvfp4_qdq(x, input_scale_inv.reshape(()))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def nvfp4_linear(
    backend: NvFp4LinearBackend,
    x: torch.Tensor,
    weight: torch.Tensor,
    weight_scale: torch.Tensor,
    weight_global_scale: torch.Tensor,
    input_global_scale_inv: torch.Tensor | None,
    alpha: torch.Tensor | None,
    output_size: int,
    input_size: int,
    weights_padding_cols: int = 0,
    bias: torch.Tensor | None = None,
    swizzle: bool = False,
) -> torch.Tensor:
    """:func:`apply_nvfp4_linear` on tensors rather than a layer: ``weight`` and ``weight_scale``
    in ``backend``'s layout, ``weight_global_scale`` = 1/gs_w, and for W4A4 the activation's encode
    scale ``input_global_scale_inv`` = gs_x and ``alpha`` = 1/(gs_x * gs_w) (each one value or
    [N]); None for both where the checkpoint has no activation scale (W4A16). ``x`` must end in
    ``input_size``: a GEMM would take a shorter K as zero-padded and give a plausible wrong answer."""
    k = input_size
    if x.shape[-1] != k:
        raise ValueError(f"x must end in the layer's input size {k}, got shape {tuple(x.shape)}")
    if x.dtype not in (torch.float16, torch.bfloat16):
        raise TypeError(f"x must be float16 or bfloat16, got {x.dtype}")
    if backend.rounds_activations and (input_global_scale_inv is None or alpha is None):
        raise ValueError(f"the {backend.value} backend multiplies NVFP4 activations: it needs their scale and alpha")
    if x.requires_grad and torch.is_grad_enabled() and backend.rounds_activations:
        raise RuntimeError(
            f"the gradient with respect to the input is implemented for the hopper-w4a16 and emulation backends; "
            f"this layer runs {backend.value}"
        )
    n = output_size
    x2d = x.reshape(-1, k)
    if backend is NvFp4LinearBackend.EMULATION:
        w4a4 = input_global_scale_inv is not None
        scale = alpha if w4a4 else weight_global_scale
        out = _emulate(x2d, weight, weight_scale, scale, input_global_scale_inv, n, k, bias, swizzle)
    elif backend is NvFp4LinearBackend.HOPPER_W4A16:
        out = sm90_scaled_fp4_mm(x2d, weight, weight_scale, _per_column(weight_global_scale, n), bias, n)
    elif backend is NvFp4LinearBackend.HOPPER_W4A4:
        x_scale = input_global_scale_inv.reshape(())
        out = sm90_scaled_fp4_mm(x2d, weight, weight_scale, _per_column(alpha, n), bias, n, x_scale)
    elif backend.library is not None:
        if alpha.numel() != 1:
            raise ValueError(
                f"the {backend.value} backend takes one alpha, got {alpha.numel()} (per-channel global scales): "
                "convert_to_nvfp4_linear_kernel_format re-expresses them against a common one"
            )
        x_fp4, x_scale = scaled_fp4_quant(
            x2d, input_global_scale_inv.reshape(()), swizzle=True, padded_k=k + 2 * weights_padding_cols
        )
        out = library_scaled_fp4_mm(backend, x_fp4, weight, x_scale, weight_scale, alpha.reshape(()), x.dtype)
        out = slice_nvfp4_output(out, n)
        if bias is not None:
            out = out + bias
    else:  # CUTLASS
        padded_n = weight.shape[0]
        x_fp4, x_scale = scaled_fp4_quant(
            x2d, input_global_scale_inv.reshape(()), swizzle=True, padded_k=k + 2 * weights_padding_cols
        )
        kernel_bias = bias if padded_n == n else None
        out = cutlass_scaled_fp4_mm(
            x_fp4, weight, x_scale, weight_scale, _per_column(alpha, padded_n), kernel_bias, x.dtype
        )
        out = slice_nvfp4_output(out, n)
        if bias is not None and kernel_bias is None:
            out = out + bias
    return out.reshape(*x.shape[:-1], n)


def apply_nvfp4_linear(
    backend: NvFp4LinearBackend,
    layer: object,
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    swizzle: bool | None = None,
) -> torch.Tensor:
    """``x @ W^T + bias`` for a layer converted with :func:`convert_to_nvfp4_linear_kernel_format`:
    ``x`` [..., K] fp16 or bf16, the result [..., N] in x's dtype. The native CUTLASS backend
    quantizes x straight into a K-padded buffer (no copy for the padding) and slices padded output
    columns off; the bias is added in the GEMM's fp32 epilogue where the kernel takes it.
    ``swizzle`` matters only for EMULATION: whether the layer's weight scales are swizzled (a layer
    converted for CUTLASS); None or False: linear, as EMULATION's own conversion keeps them."""
    _require(layer, _WEIGHT_ATTRIBUTES, backend)
    if backend.rounds_activations:
        _require(layer, _ACTIVATION_ATTRIBUTES, backend)
    w4a4 = has_activation_scale(layer)
    return nvfp4_linear(
        backend,
        x,
        layer.weight,
        layer.weight_scale,
        layer.weight_global_scale,
        layer.input_global_scale_inv if w4a4 else None,
        layer.alpha if w4a4 else None,
        layer.output_size_per_partition,
        layer.input_size_per_partition,
        getattr(layer, "weights_padding_cols", 0),
        bias,
        bool(swizzle),
    )
