"""Pure-PyTorch reference of the NVFP4 format: the eager-mode test oracle (DESIGN.md section 1).

Every kernel of the project (CPU, CUDA, each architecture) must produce exactly the bytes these
functions produce. They follow DESIGN.md's quantization recipe operation by operation, in fp32,
with IEEE rounding: every division is a true division of two tensors on the same device (ATen
turns a division by a Python scalar into a multiplication by its reciprocal on CUDA, which is
not the same function). Run them eagerly: Inductor rewrites ``a / 6`` as ``a * (1/6)`` too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .constants import (
    BLOCK_SIZE,
    E2M1_MAGNITUDES,
    E4M3_NAN_BYTE,
    F4_E2M1_MAX,
    F8_E4M3_MAX,
    MAX_GLOBAL_SCALE,
    NVFP4_RANGE,
    SCALE_DTYPE,
    SWIZZLE_TILE_COLS,
    SWIZZLE_TILE_ROWS,
    round_up,
)

__all__ = [
    "dequantize",
    "e2m1_codes",
    "e2m1_values",
    "global_scale_from_amax",
    "nvfp4_qdq",
    "pack_codes",
    "quantize",
    "scaled_fp4_mm",
    "swizzle_blockscale",
    "unpack_codes",
    "unswizzle_blockscale",
]

_FLOAT32_MAX = torch.finfo(torch.float32).max
# |y| thresholds of E2M1 round-to-nearest-even: the code of |y| is the number of them it passes.
# "<=" at 0.25, 1.25, 2.5 and 5 (the tie goes down to an even mantissa), "<" at the others.
_E2M1_THRESHOLDS_INCLUSIVE = (0.25, 1.25, 2.5, 5.0)
_E2M1_THRESHOLDS_EXCLUSIVE = (0.75, 1.75, 3.5)


def _scalar(value: float, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float32, device=like.device)


def _encode_scale(global_scale: torch.Tensor | float, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(global_scale, dtype=torch.float32, device=device).reshape(())


def e2m1_codes(y: torch.Tensor) -> torch.Tensor:
    """fp32 values to 4-bit E2M1 codes (uint8, one per element): nearest, ties to even,
    saturating to +-6. Bit 3 is the sign bit of ``y``, so a negative value that rounds to zero
    gives 0x8 (minus zero)."""
    magnitude = y.abs()
    code = torch.zeros(y.shape, dtype=torch.uint8, device=y.device)
    for threshold in _E2M1_THRESHOLDS_INCLUSIVE:
        code += (magnitude > threshold).to(torch.uint8)
    for threshold in _E2M1_THRESHOLDS_EXCLUSIVE:
        code += (magnitude >= threshold).to(torch.uint8)
    return code | (torch.signbit(y).to(torch.uint8) << 3)


def e2m1_values(codes: torch.Tensor) -> torch.Tensor:
    """4-bit E2M1 codes (uint8) to their fp32 values."""
    table = torch.tensor(E2M1_MAGNITUDES, dtype=torch.float32, device=codes.device)
    magnitude = table[(codes & 0x7).long()]
    return torch.where((codes & 0x8) != 0, -magnitude, magnitude)


def pack_codes(codes: torch.Tensor) -> torch.Tensor:
    """[..., K] codes to [..., K/2] bytes: element 2i in the low nibble, 2i+1 in the high one."""
    return codes[..., 0::2] | (codes[..., 1::2] << 4)


def unpack_codes(packed: torch.Tensor) -> torch.Tensor:
    """[..., K/2] bytes (uint8 or float4_e2m1fn_x2) to [..., K] codes."""
    packed = packed.view(torch.uint8)
    return torch.stack((packed & 0xF, packed >> 4), dim=-1).flatten(-2)


def global_scale_from_amax(x: torch.Tensor) -> torch.Tensor:
    """The dynamic encode scale of ``x``: ``amax > 0 ? min(2688 / amax, 2^126) : 1`` with
    ``amax = max |x|`` (NaN propagates, and NaN > 0 is false). A 0-dim fp32 tensor."""
    amax = x.float().abs().amax() if x.numel() else _scalar(0.0, x)
    scale = torch.clamp(_scalar(NVFP4_RANGE, x) / amax, max=MAX_GLOBAL_SCALE)
    return torch.where(amax > 0, scale, _scalar(1.0, x))


def quantize(
    x: torch.Tensor,
    global_scale: torch.Tensor | float,
    *,
    swizzle: bool = True,
    padded_k: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize ``x`` [..., K] (K % 16 == 0) with encode scale ``global_scale`` = 2688/amax.

    Returns:
        ``packed`` uint8 [R, padded_k/2] and ``block_scale`` float8_e4m3fn, swizzled
        [roundup(R,128), roundup(padded_k/16,4)] or linear [R, padded_k/16], where R is the
        product of the leading dimensions. Codes and scales of padded columns and rows are zero.
    """
    k = x.shape[-1]
    stored_k = k if padded_k is None else padded_k
    if k % BLOCK_SIZE or stored_k % BLOCK_SIZE or stored_k < k:
        raise ValueError(f"K = {k} and padded_k = {stored_k} must be multiples of 16 with padded_k >= K")
    rows = x.shape[:-1].numel()
    blocks = x.reshape(rows, k // BLOCK_SIZE, BLOCK_SIZE).float()
    gs = _encode_scale(global_scale, x.device)

    # Step 0: a block holding NaN or Inf, or any block of an invalid encode scale, gets the NaN
    # scale and zero codes.
    valid = torch.isfinite(blocks).all(-1) & torch.isfinite(gs) & (gs > 0)
    amax = blocks.abs().amax(-1)
    scale = torch.clamp((gs * amax) / _scalar(F4_E2M1_MAX, x), max=F8_E4M3_MAX).to(SCALE_DTYPE)
    decoded = scale.float()
    inverse = torch.clamp(_scalar(1.0, x) / (decoded * (_scalar(1.0, x) / gs)), max=_FLOAT32_MAX)
    inverse = torch.where(decoded == 0, _scalar(0.0, x), inverse)
    codes = e2m1_codes(blocks * inverse[..., None])

    codes = torch.where(valid[..., None], codes, 0).reshape(rows, k)
    scale_bytes = torch.where(valid, scale.view(torch.uint8), E4M3_NAN_BYTE).to(torch.uint8)
    packed = pack_codes(F.pad(codes, (0, stored_k - k)))
    block_scale = F.pad(scale_bytes, (0, (stored_k - k) // BLOCK_SIZE)).view(SCALE_DTYPE)
    return packed, swizzle_blockscale(block_scale) if swizzle else block_scale


def dequantize(
    packed: torch.Tensor,
    block_scale: torch.Tensor,
    global_scale: torch.Tensor | float,
    *,
    swizzled: bool,
    out_dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``cast((e2m1 * sf) / gs)`` of packed [R, K/2] codes with their block scales (swizzled or
    linear) and encode scale ``global_scale``. Returns [R, K] in ``out_dtype``."""
    rows, k = packed.shape[0], packed.shape[1] * 2
    if swizzled:
        block_scale = unswizzle_blockscale(block_scale, rows, k // BLOCK_SIZE)
    values = e2m1_values(unpack_codes(packed)).reshape(rows, k // BLOCK_SIZE, BLOCK_SIZE)
    products = values * block_scale.float()[..., None]
    out = products / _encode_scale(global_scale, packed.device)
    return out.reshape(rows, k).to(out_dtype)


def nvfp4_qdq(x: torch.Tensor, global_scale: torch.Tensor | float) -> torch.Tensor:
    """``e2m1 * sf`` of every value of ``x`` [..., K] (no ``1/gs`` factor), in ``x``'s dtype and
    shape: exact in fp16 and bf16. NaN where the block's scale is NaN."""
    packed, scale = quantize(x, global_scale, swizzle=False)
    k = x.shape[-1]
    values = e2m1_values(unpack_codes(packed)).reshape(-1, k // BLOCK_SIZE, BLOCK_SIZE)
    return (values * scale.float()[..., None]).reshape(x.shape).to(x.dtype)


def swizzle_blockscale(scale: torch.Tensor) -> torch.Tensor:
    """Linear scales [R, S] or [B, R, S] to the swizzled layout [..., roundup(R,128),
    roundup(S,4)] (DESIGN.md section 2), padding zero, on the input's device."""
    *batch, rows, cols = scale.shape
    padded_rows, padded_cols = round_up(rows, SWIZZLE_TILE_ROWS), round_up(cols, SWIZZLE_TILE_COLS)
    padded = scale.new_zeros((*batch, padded_rows, padded_cols), dtype=torch.uint8)
    padded[..., :rows, :cols] = scale.view(torch.uint8)
    tiles = padded.reshape(math.prod(batch), padded_rows // 128, 4, 32, padded_cols // 4, 4)
    tiles = tiles.permute(0, 1, 4, 3, 2, 5)
    return tiles.reshape(*batch, padded_rows, padded_cols).view(scale.dtype)


def unswizzle_blockscale(scale: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Inverse of :func:`swizzle_blockscale`: [..., roundup(rows,128), roundup(cols,4)] to
    [..., rows, cols]."""
    *batch, padded_rows, padded_cols = scale.shape
    tiles = scale.view(torch.uint8).reshape(math.prod(batch), padded_rows // 128, padded_cols // 4, 32, 4, 4)
    linear = tiles.permute(0, 1, 4, 3, 2, 5).reshape(*batch, padded_rows, padded_cols)
    return linear[..., :rows, :cols].contiguous().view(scale.dtype)


def scaled_fp4_mm(
    x: torch.Tensor,
    weight: torch.Tensor,
    weight_scale: torch.Tensor,
    alpha: torch.Tensor | float,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """``alpha[n] * (x @ (e2m1 * sf)^T)[m, n] + bias[n]`` in fp32, in the raw terms of DESIGN.md
    section 3 (codes times block scales, then alpha): the oracle of the NVFP4 GEMMs. ``weight`` is
    checkpoint form, packed [N, K/2] with linear ``weight_scale`` [N, K/16]; ``x`` [M, K] in any
    float dtype; ``alpha`` one value or [N]. Returns fp32 [M, N]."""
    n, k = weight.shape[0], weight.shape[1] * 2
    values = e2m1_values(unpack_codes(weight)).reshape(n, k // BLOCK_SIZE, BLOCK_SIZE)
    decoded_weight = (values * weight_scale.float()[..., None]).reshape(n, k)
    out = x.float() @ decoded_weight.T
    out = out * torch.as_tensor(alpha, dtype=torch.float32, device=x.device).reshape(-1)
    return out if bias is None else out + bias.float()
