"""Typed Python faces of the ``torch.ops.nvfp4`` ops (schemas in csrc/ops.cpp) and their fake
implementations, which let the ops run under ``torch.compile`` and ``FakeTensorMode``.

Scale directions (DESIGN.md section 1): every ``global_scale`` argument is an **encode** scale,
``gs = 2688 / amax``; values decode as ``e2m1 * float(block_scale) / gs``.
"""

from __future__ import annotations

import torch

from ._build import module_runs_on
from .constants import BLOCK_SIZE, SCALE_DTYPE, SWIZZLE_TILE_COLS, SWIZZLE_TILE_ROWS

__all__ = [
    "cutlass_scaled_fp4_mm",
    "cutlass_scaled_mm_supports_fp4",
    "dequantize",
    "global_scale_from_amax",
    "nvfp4_qdq",
    "quantized_shapes",
    "scaled_fp4_quant",
    "swizzle_blockscale",
    "unswizzle_blockscale",
]

_ops = torch.ops.nvfp4


def _round_up(value, multiple: int):
    # Works on ints and on the SymInts of fake tensors alike.
    return (value + multiple - 1) // multiple * multiple


def quantized_shapes(rows, padded_k, swizzle: bool) -> tuple[tuple, tuple]:
    """Shapes of ``(packed, block_scale)`` for ``rows`` rows stored with ``padded_k`` columns:
    the one place the Python side computes them (the C++ kernels allocate the same)."""
    scale_cols = padded_k // BLOCK_SIZE
    if swizzle:
        scale_shape = (_round_up(rows, SWIZZLE_TILE_ROWS), _round_up(scale_cols, SWIZZLE_TILE_COLS))
    else:
        scale_shape = (rows, scale_cols)
    return (rows, padded_k // 2), scale_shape


def scaled_fp4_quant(
    input: torch.Tensor,
    global_scale: torch.Tensor,
    swizzle: bool = True,
    padded_k: int | None = None,
    *,
    out: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize ``input`` [..., K] (fp32/fp16/bf16, K % 16 == 0) to NVFP4.

    Args:
        input: the values; leading dimensions are flattened to R rows.
        global_scale: encode scale ``2688 / amax``, fp32, 0-dim or [1], on the input's device.
        swizzle: write block scales in the swizzled layout native GEMMs read (else linear).
        padded_k: stored columns in elements (a multiple of 16, >= K); the extra columns get
            zero codes and zero scales. Defaults to K.
        out: optional ``(packed, block_scale)`` buffers of the exact shapes and dtypes; every byte
            is written, so they may come from ``torch.empty``.

    Returns:
        ``packed`` uint8 [R, padded_k/2] (element 2i in the low nibble) and ``block_scale``
        float8_e4m3fn, [roundup(R,128), roundup(padded_k/16,4)] swizzled or [R, padded_k/16].
    """
    if out is None:
        return _ops.scaled_fp4_quant.default(input, global_scale, swizzle, padded_k)
    packed, block_scale = out
    _ops.scaled_fp4_quant.out(input, global_scale, swizzle, padded_k, packed=packed, block_scale=block_scale)
    return packed, block_scale


def dequantize(
    packed: torch.Tensor,
    block_scale: torch.Tensor,
    global_scale: torch.Tensor,
    swizzled: bool,
    out_dtype: torch.dtype = torch.bfloat16,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Decode ``packed`` [R, K/2] (uint8 or float4_e2m1fn_x2) with its ``block_scale`` (layout
    named by ``swizzled``) and encode scale ``global_scale``: ``cast((e2m1 * sf) / gs)``,
    [R, K] in ``out_dtype`` (fp32, fp16 or bf16)."""
    if out is None:
        return _ops.dequantize.default(packed, block_scale, global_scale, swizzled, out_dtype)
    _ops.dequantize.out(packed, block_scale, global_scale, swizzled, out_dtype, out=out)
    return out


def nvfp4_qdq(input: torch.Tensor, global_scale: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """Quantize-dequantize a 16-bit activation [..., K] (K % 16 == 0) with encode scale
    ``global_scale``: each value becomes ``e2m1 * sf`` of its block, **without** the ``1/gs``
    factor, in the input's dtype and shape (exact in fp16 and bf16). Fold ``1/gs`` into the GEMM's
    ``alpha``. A block holding NaN/Inf, or an invalid ``global_scale``, gives NaN."""
    if out is None:
        return _ops.nvfp4_qdq.default(input, global_scale)
    _ops.nvfp4_qdq.out(input, global_scale, out=out)
    return out


def swizzle_blockscale(scale: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """Linear float8_e4m3fn block scales [R, S] or [B, R, S] to the swizzled layout
    [..., roundup(R,128), roundup(S,4)] that native FP4 GEMMs read; padding is zero. The result
    stays on the input's device."""
    if out is None:
        return _ops.swizzle_blockscale.default(scale)
    _ops.swizzle_blockscale.out(scale, out=out)
    return out


def unswizzle_blockscale(scale: torch.Tensor, rows: int, cols: int, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """Swizzled block scales [..., roundup(rows,128), roundup(cols,4)] back to the linear
    [..., rows, cols] (``cols`` counts scale columns, K/16)."""
    if out is None:
        return _ops.unswizzle_blockscale.default(scale, rows, cols)
    _ops.unswizzle_blockscale.out(scale, rows, cols, out=out)
    return out


def global_scale_from_amax(input: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """The dynamic encode scale ``amax > 0 ? min(2688 / amax, 2^126) : 1`` of ``input``, a 0-dim
    fp32 tensor computed on the input's device without a host sync."""
    if out is None:
        return _ops.global_scale_from_amax.default(input)
    _ops.global_scale_from_amax.out(input, out=out)
    return out


def sm90_scaled_fp4_mm(
    x: torch.Tensor,
    weight: torch.Tensor,
    weight_scale: torch.Tensor,
    alpha: torch.Tensor,
    bias: torch.Tensor | None,
    n: int,
    x_global_scale: torch.Tensor | None = None,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The Hopper NVFP4 GEMM: ``alpha * (x @ (e2m1 * sf)^T) + bias``, [M, n] in ``x``'s dtype, fp32
    accumulation, one rounding. ``x`` fp16/bf16 [M, K] (K % 16 == 0); ``weight`` and
    ``weight_scale`` from :func:`nvfp4.layout.prepare_weights_for_nvfp4_sm90`; ``alpha`` fp32,
    one value or [n], on the device; ``bias`` [n] in ``x``'s dtype or None. W4A16: ``alpha =
    1/gs_w``. W4A4: ``x_global_scale = gs_x`` (fp32, one value, on the device) and ``alpha =
    1/(gs_x * gs_w)``; ``x`` is then taken as ``nvfp4_qdq(x, gs_x)``, rounded inside the GEMM
    at one row where its plan allows, else by ``nvfp4_qdq`` first, bit for bit the same.
    Runs on compute capability 9.x (the ``_C_sm90`` module); elsewhere it raises naming the GPU."""
    if out is None:
        return _ops.sm90_scaled_fp4_mm.default(x, weight, weight_scale, alpha, bias, n, x_global_scale)
    _ops.sm90_scaled_fp4_mm.out(x, weight, weight_scale, alpha, bias, n, x_global_scale, out=out)
    return out


def cutlass_scaled_fp4_mm(
    a: torch.Tensor,
    b: torch.Tensor,
    block_scale_a: torch.Tensor,
    block_scale_b: torch.Tensor,
    alpha: torch.Tensor,
    bias: torch.Tensor | None,
    out_dtype: torch.dtype,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The native Blackwell NVFP4 GEMM: ``alpha * (a @ b^T) + bias``, [M, N] in ``out_dtype``
    (bf16 or fp16), both operands NVFP4, fp32 accumulation, one rounding. ``a`` [M, K/2] and ``b``
    [N, K/2] packed codes (uint8 or ``float4_e2m1fn_x2``) with K % 32 == 0 and N % 32 == 0 (pad with
    :func:`nvfp4.layout.pad_nvfp4_weight_for_cutlass`); their block scales swizzled, exactly
    [roundup(rows, 128), roundup(K/16, 4)] (as :func:`scaled_fp4_quant` returns them); ``alpha``
    fp32 on the device, one value (``1/(gs_a * gs_b)``) or [N]; ``bias`` [N] in ``out_dtype`` or
    None. Runs on compute capability 10.x and 12.x (``_C_sm100``, ``_C_sm120``); elsewhere it
    raises naming the GPU."""
    if out is None:
        return _ops.cutlass_scaled_fp4_mm.default(a, b, block_scale_a, block_scale_b, alpha, bias, out_dtype)
    _ops.cutlass_scaled_fp4_mm.out(a, b, block_scale_a, block_scale_b, alpha, bias, out_dtype, out=out)
    return out


def cutlass_scaled_mm_supports_fp4(capability: int) -> bool:
    """Whether this build holds native NVFP4 GEMM kernels for compute capability ``capability``
    (major * 10 + minor, as vLLM passes it): the architecture module that serves it was compiled
    for a target that runs on it (the manifest) and registered its kernel op."""
    major, minor = divmod(capability, 10)
    module = torch.ops.nvfp4._arch_module_for_capability(major, minor)
    # The architecture modules with a kernel op for it (csrc/ops.cpp defines one for each).
    if module not in ("sm100", "sm120") or not module_runs_on(module, major, minor):
        return False
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"nvfp4::_cutlass_fp4_mm_{module}", "CUDA")


# Fake implementations: shapes and dtypes, from the same helper the wrappers document. They also
# run (as the Meta kernel) when real tensors of mixed devices include a meta tensor, so they check
# devices as the C++ kernels do rather than return unwritten memory.


def _check_same_device(tensor: torch.Tensor, name: str, like: torch.Tensor, like_name: str) -> None:
    torch._check(
        tensor.device == like.device,
        lambda: f"{name} must be on the {like_name}'s device {like.device}, got {tensor.device}",
    )


@torch.library.register_fake("nvfp4::scaled_fp4_quant")
def _scaled_fp4_quant_fake(input, global_scale, swizzle=True, padded_k=None):
    _check_same_device(global_scale, "global_scale", input, "input")
    torch._check(input.dim() >= 2, lambda: f"input must have at least 2 dimensions, got {input.dim()}")
    k = input.shape[-1]
    torch._check(k % BLOCK_SIZE == 0, lambda: f"input's last dimension K must be a multiple of 16, got {k}")
    stored_k = k if padded_k is None else padded_k
    packed_shape, scale_shape = quantized_shapes(input.shape[:-1].numel(), stored_k, swizzle)
    return input.new_empty(packed_shape, dtype=torch.uint8), input.new_empty(scale_shape, dtype=SCALE_DTYPE)


@torch.library.register_fake("nvfp4::dequantize")
def _dequantize_fake(packed, block_scale, global_scale, swizzled, out_dtype):
    _check_same_device(block_scale, "block_scale", packed, "packed")
    _check_same_device(global_scale, "global_scale", packed, "packed")
    return packed.new_empty((packed.shape[0], packed.shape[1] * 2), dtype=out_dtype)


@torch.library.register_fake("nvfp4::swizzle_blockscale")
def _swizzle_blockscale_fake(scale):
    *batch, rows, cols = scale.shape
    return scale.new_empty((*batch, _round_up(rows, SWIZZLE_TILE_ROWS), _round_up(cols, SWIZZLE_TILE_COLS)))


@torch.library.register_fake("nvfp4::unswizzle_blockscale")
def _unswizzle_blockscale_fake(scale, rows, cols):
    return scale.new_empty((*scale.shape[:-2], rows, cols))


@torch.library.register_fake("nvfp4::nvfp4_qdq")
def _nvfp4_qdq_fake(input, global_scale):
    _check_same_device(global_scale, "global_scale", input, "input")
    torch._check(input.shape[-1] % BLOCK_SIZE == 0, lambda: f"K must be a multiple of 16, got {input.shape[-1]}")
    return torch.empty_like(input, memory_format=torch.contiguous_format)


@torch.library.register_fake("nvfp4::sm90_scaled_fp4_mm")
def _sm90_scaled_fp4_mm_fake(x, weight, weight_scale, alpha, bias, n, x_global_scale=None):
    for tensor, name in ((weight, "weight"), (weight_scale, "weight_scale"), (alpha, "alpha")):
        _check_same_device(tensor, name, x, "x")
    for tensor, name in ((bias, "bias"), (x_global_scale, "x_global_scale")):
        if tensor is not None:
            _check_same_device(tensor, name, x, "x")
    torch._check(x.dim() == 2, lambda: f"x must be 2-D [M, K], got {x.dim()} dimensions")
    torch._check(x.shape[1] % BLOCK_SIZE == 0, lambda: f"x's K must be a multiple of 16, got {x.shape[1]}")
    return x.new_empty((x.shape[0], n))


@torch.library.register_fake("nvfp4::global_scale_from_amax")
def _global_scale_from_amax_fake(input):
    return input.new_empty((), dtype=torch.float32)


@torch.library.register_fake("nvfp4::cutlass_scaled_fp4_mm")
def _cutlass_scaled_fp4_mm_fake(a, b, block_scale_a, block_scale_b, alpha, bias, out_dtype):
    operands = ((b, "b"), (block_scale_a, "block_scale_a"), (block_scale_b, "block_scale_b"), (alpha, "alpha"))
    for tensor, name in operands:
        _check_same_device(tensor, name, a, "a")
    if bias is not None:
        _check_same_device(bias, "bias", a, "a")
    torch._check(a.dim() == 2 and b.dim() == 2, lambda: f"a and b must be 2-D, got {a.dim()} and {b.dim()} dimensions")
    torch._check(a.shape[1] == b.shape[1], lambda: f"a and b must have the same K/2, got {a.shape[1]} and {b.shape[1]}")
    torch._check(
        out_dtype in (torch.bfloat16, torch.float16), lambda: f"out_dtype must be bfloat16 or float16, got {out_dtype}"
    )
    return a.new_empty((a.shape[0], b.shape[0]), dtype=out_dtype)


def _register_out_fakes() -> None:
    # The .out overloads write their buffers and return nothing.
    for name in (
        "nvfp4_qdq",
        "scaled_fp4_quant",
        "dequantize",
        "swizzle_blockscale",
        "unswizzle_blockscale",
        "global_scale_from_amax",
        "sm90_scaled_fp4_mm",
        "cutlass_scaled_fp4_mm",
    ):
        torch.library.register_fake(f"nvfp4::{name}.out")(lambda *args, **kwargs: None)
    # The architecture modules' kernel ops, which write their out argument.
    for name in ("_fragment_mm_sm90", "_cutlass_fp4_mm_sm100", "_cutlass_fp4_mm_sm120"):
        torch.library.register_fake(f"nvfp4::{name}")(lambda *args, **kwargs: None)


def _register_probe_fakes() -> None:
    for name in (
        "_cuda_arch_probe",
        "_arch_module_probe",
        "_arch_probe_sm90",
        "_arch_probe_sm100",
        "_arch_probe_sm120",
    ):
        torch.library.register_fake(f"nvfp4::{name}")(lambda anchor: anchor.new_empty((1,), dtype=torch.int32))


_register_out_fakes()
_register_probe_fakes()
