"""Weight layouts of the public ``nvfp4_utils`` API: padding for native GEMMs, scale swizzling,
the per-backend ``prepare_weights_for_*`` functions and their exact inverses.

Checkpoint form (ModelOpt, compressed-tensors): ``weight`` packed uint8 [N, K/2] and
``weight_scale`` float8_e4m3fn [N, K/16], linear. Each ``prepare_*`` turns it into what one
backend reads; each ``unprepare_*`` gives back the checkpoint tensors bit for bit, so a prepared
layer can be saved again. Everything stays on the input's device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .constants import (
    BLOCK_SIZE,
    CUTLASS_ALIGNMENT,
    FRAGMENT_K,
    FRAGMENT_ROWS,
    PACKED_DTYPES,
    SCALE_DTYPE,
    SWIZZLE_TILE_ROWS,
    round_up,
)
from .ops import quantized_shapes, swizzle_blockscale, unswizzle_blockscale
from .trtllm_shuffle import shuffle_rows, unshuffle_rows

__all__ = [
    "pad_nvfp4_activation_for_cutlass",
    "pad_nvfp4_weight_for_cutlass",
    "prepare_weights_for_nvfp4_cutlass",
    "prepare_weights_for_nvfp4_fbgemm",
    "prepare_weights_for_nvfp4_flashinfer_trtllm",
    "prepare_weights_for_nvfp4_sm90",
    "slice_nvfp4_output",
    "unprepare_weights_for_nvfp4_cutlass",
    "unprepare_weights_for_nvfp4_fbgemm",
    "unprepare_weights_for_nvfp4_flashinfer_trtllm",
    "unprepare_weights_for_nvfp4_sm90",
]


def _check_packed(weight: torch.Tensor, name: str = "weight") -> None:
    if weight.dtype not in PACKED_DTYPES:
        raise TypeError(f"{name} must be packed NVFP4 (uint8 or torch.float4_e2m1fn_x2), got {weight.dtype}")
    if weight.dim() != 2:
        raise ValueError(f"{name} must be 2-D [N, K/2], got shape {tuple(weight.shape)}")
    if not weight.is_contiguous():
        raise ValueError(f"{name} must be contiguous, got strides {weight.stride()}")


def _check_checkpoint_weight(weight: torch.Tensor, weight_scale: torch.Tensor) -> tuple[int, int]:
    """Validates checkpoint-form tensors and returns (N, K)."""
    _check_packed(weight)
    n, k = weight.shape[0], weight.shape[1] * 2
    if k % BLOCK_SIZE:
        raise ValueError(f"weight must hold a multiple of 16 values per row, got K = {k}")
    if weight_scale.dtype != SCALE_DTYPE:
        raise TypeError(f"weight_scale must be torch.float8_e4m3fn, got {weight_scale.dtype}")
    if tuple(weight_scale.shape) != (n, k // BLOCK_SIZE):
        raise ValueError(
            f"weight_scale must be linear [N, K/16] = [{n}, {k // BLOCK_SIZE}] for weight of shape "
            f"{tuple(weight.shape)}, got {tuple(weight_scale.shape)}"
        )
    if not weight_scale.is_contiguous():
        raise ValueError(f"weight_scale must be contiguous, got strides {weight_scale.stride()}")
    if weight_scale.device != weight.device:
        raise ValueError(f"weight_scale must be on weight's device {weight.device}, got {weight_scale.device}")
    return n, k


def pad_nvfp4_weight_for_cutlass(weight: torch.Tensor, alignment: int = CUTLASS_ALIGNMENT) -> tuple[torch.Tensor, int]:
    """Zero-pad a packed weight [N, K/2] so that N and K (in elements) are multiples of
    ``alignment``. Returns the padded weight and the K padding in **bytes** (the layer attribute
    ``weights_padding_cols``)."""
    _check_packed(weight)
    n, k = weight.shape[0], weight.shape[1] * 2
    pad_rows = round_up(n, alignment) - n
    pad_bytes = (round_up(k, alignment) - k) // 2
    if pad_rows or pad_bytes:
        weight = F.pad(weight.view(torch.uint8), (0, pad_bytes, 0, pad_rows)).view(weight.dtype)
    return weight, pad_bytes


def pad_nvfp4_activation_for_cutlass(x_fp4: torch.Tensor, weights_padding_bytes: int) -> torch.Tensor:
    """Zero-pad a packed activation [M, K/2] by ``weights_padding_bytes`` bytes along K, to match
    a weight padded by :func:`pad_nvfp4_weight_for_cutlass`. (Quantizing with ``padded_k``
    writes the padding directly and saves this copy.)"""
    if weights_padding_bytes <= 0:
        return x_fp4
    return F.pad(x_fp4.view(torch.uint8), (0, weights_padding_bytes)).contiguous().view(x_fp4.dtype)


def slice_nvfp4_output(out: torch.Tensor, output_size: int) -> torch.Tensor:
    """Drop the columns a padded N added to a GEMM output [..., N_padded]."""
    if out.shape[-1] == output_size:
        return out
    return out[..., :output_size].contiguous()


def prepare_weights_for_nvfp4_cutlass(
    weight: torch.Tensor, weight_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Checkpoint form to what the native CUTLASS GEMMs read: the weight zero-padded to N and K
    multiples of 32, the scales swizzled to [roundup(N,128), roundup(K/16,4)] (the same for the
    padded weight: roundup(roundup(N,32),128) = roundup(N,128), and K padded to 32 adds no scale
    column past the 4-column tile). Returns (weight, weight_scale, weights_padding_bytes)."""
    _check_checkpoint_weight(weight, weight_scale)
    swizzled = swizzle_blockscale(weight_scale)
    padded_weight, pad_bytes = pad_nvfp4_weight_for_cutlass(weight)
    return padded_weight, swizzled, pad_bytes


def unprepare_weights_for_nvfp4_cutlass(
    weight: torch.Tensor, weight_scale: torch.Tensor, weights_padding_bytes: int, output_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`prepare_weights_for_nvfp4_cutlass`: ``output_size`` is the original N,
    ``weights_padding_bytes`` the K padding it returned."""
    _check_packed(weight)
    k = (weight.shape[1] - weights_padding_bytes) * 2
    linear_scale = unswizzle_blockscale(weight_scale, output_size, k // BLOCK_SIZE)
    return weight[:output_size, : k // 2].contiguous(), linear_scale


def prepare_weights_for_nvfp4_fbgemm(
    weight: torch.Tensor, weight_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checkpoint form to FBGEMM's ``f4f4bf16``: the weight as it is, the scales swizzled and
    flattened to uint8."""
    _check_checkpoint_weight(weight, weight_scale)
    return weight, swizzle_blockscale(weight_scale).view(-1).view(torch.uint8)


def unprepare_weights_for_nvfp4_fbgemm(
    weight: torch.Tensor, weight_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`prepare_weights_for_nvfp4_fbgemm`."""
    _check_packed(weight)
    n, k = weight.shape[0], weight.shape[1] * 2
    _, swizzled_shape = quantized_shapes(n, k, swizzle=True)
    swizzled = weight_scale.view(SCALE_DTYPE).reshape(swizzled_shape)
    return weight, unswizzle_blockscale(swizzled, n, k // BLOCK_SIZE)


def prepare_weights_for_nvfp4_flashinfer_trtllm(
    weight: torch.Tensor, weight_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checkpoint form to FlashInfer's TRT-LLM backend, byte for byte what FlashInfer's
    ``shuffle_matrix_a(weight, 128)`` and ``shuffle_matrix_sf_a(weight_scale, 128)`` give: the
    weight rows shuffled in blocks of 32, the scales given the same row shuffle and then the
    swizzled layout, [N, roundup(K/16,4)]. N must be a multiple of 128."""
    n, _ = _check_checkpoint_weight(weight, weight_scale)
    if n % SWIZZLE_TILE_ROWS:
        raise ValueError(f"the TRT-LLM layout needs N (weight rows) to be a multiple of 128, got {n}")
    shuffled_weight = shuffle_rows(weight.view(torch.uint8)).view(weight.dtype)
    shuffled_scale = shuffle_rows(weight_scale.view(torch.uint8)).view(SCALE_DTYPE)
    return shuffled_weight, swizzle_blockscale(shuffled_scale)


def unprepare_weights_for_nvfp4_flashinfer_trtllm(
    weight: torch.Tensor, weight_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`prepare_weights_for_nvfp4_flashinfer_trtllm`."""
    _check_packed(weight)
    n, scale_cols = weight.shape[0], weight.shape[1] * 2 // BLOCK_SIZE
    shuffled_scale = unswizzle_blockscale(weight_scale, n, scale_cols)
    weight = unshuffle_rows(weight.view(torch.uint8)).view(weight.dtype)
    return weight, unshuffle_rows(shuffled_scale.view(torch.uint8)).view(SCALE_DTYPE)


# The fragment layout of the Hopper GEMM (csrc/include/nvfp4/fragment_layout.h), as a reshape and
# a permutation, then a re-encoding of each 4-byte word. A checkpoint row is 16 * strip + 8 * h + g
# and a checkpoint byte of it is 32 * tile + 8 * t + 2 * step + high (lane t takes block t of the
# tile, four columns a step); the prepared order is strip, tile, lane (g, t), step, register
# (high, h). Each lane's word of one step holds its eight codes c0..c7 (c_2r, c_2r+1 the low and
# high nibble of register r's byte): c_2r's magnitude bits m0..m2 and sign at the bits of
# _CODE_BITS[r], c_2r+1 at the same bits plus 16, so that one shift and mask turns a register
# into bf16 values for most registers.
_FRAGMENT_CODES_ORDER = (0, 3, 2, 4, 5, 6, 1)  # from (strip, h, g, tile, t, step, high)
_FRAGMENT_SCALES_ORDER = (0, 3, 2, 4, 1)  # from (strip, h, g, tile, t): scales of rows g, g + 8 together
_CODE_BITS = (((0, 1, 2), 9), ((3, 4, 5), 12), ((6, 7, 8), 15), ((10, 11, 13), 14))  # (m0, m1, m2), sign


def _inverse(order: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(range(len(order)), key=order.__getitem__))


def _words_to_codes(words: torch.Tensor) -> torch.Tensor:
    """[..., 4] bytes to their [..., 8] codes, the low nibble of each byte first."""
    words = words.to(torch.int32)
    return torch.stack((words & 0xF, words >> 4), dim=-1).flatten(-2)


def _codes_to_words(codes: torch.Tensor) -> torch.Tensor:
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).to(torch.uint8)


def _code_bit_places() -> list[tuple[int, int, int]]:
    """(code index c_2r+half, bit of the code, bit of the word) for every bit of a step word."""
    places = []
    for register, (magnitude, sign) in enumerate(_CODE_BITS):
        for half in range(2):
            code = 2 * register + half
            places += [(code, bit, place + 16 * half) for bit, place in enumerate(magnitude)]
            places.append((code, 3, sign + 16 * half))
    return places


def _encode_fragment_words(words: torch.Tensor) -> torch.Tensor:
    codes = _words_to_codes(words).to(torch.int64)
    encoded = torch.zeros(codes.shape[:-1], dtype=torch.int64, device=codes.device)
    for code, bit, place in _code_bit_places():
        encoded |= ((codes[..., code] >> bit) & 1) << place
    return torch.stack([(encoded >> (8 * i)) & 0xFF for i in range(4)], dim=-1).to(torch.uint8)


def _decode_fragment_words(words: torch.Tensor) -> torch.Tensor:
    bytes_ = words.to(torch.int64)
    encoded = bytes_[..., 0] | (bytes_[..., 1] << 8) | (bytes_[..., 2] << 16) | (bytes_[..., 3] << 24)
    codes = torch.zeros((*encoded.shape, 8), dtype=torch.int64, device=encoded.device)
    for code, bit, place in _code_bit_places():
        codes[..., code] |= ((encoded >> place) & 1) << bit
    return _codes_to_words(codes)


def prepare_weights_for_nvfp4_sm90(
    weight: torch.Tensor, weight_scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checkpoint form to the fragment layout that ``sm90_scaled_fp4_mm`` reads: N padded to a
    multiple of 16 and K to a multiple of 64 with zero codes and zero scales, then both tensors
    reordered so each lane of a warp loads its MMA fragments with one 16-byte (codes) and one
    8-byte (scales) load, and each 4-byte word of codes re-encoded for a short decode. Returns
    ``weight`` [roundup(N,16), roundup(K,64)/2] in weight's dtype and ``weight_scale``
    float8_e4m3fn [roundup(N,16), roundup(K,64)/16]: 4.5 bits a weight as before."""
    n, k = _check_checkpoint_weight(weight, weight_scale)
    padded_n, padded_k = round_up(n, FRAGMENT_ROWS), round_up(k, FRAGMENT_K)
    strips, tiles, blocks = padded_n // FRAGMENT_ROWS, padded_k // FRAGMENT_K, FRAGMENT_K // BLOCK_SIZE
    codes = F.pad(weight.view(torch.uint8), (0, (padded_k - k) // 2, 0, padded_n - n))
    scales = F.pad(weight_scale.view(torch.uint8), (0, (padded_k - k) // BLOCK_SIZE, 0, padded_n - n))
    codes = codes.reshape(strips, 2, 8, tiles, blocks, 4, 2).permute(_FRAGMENT_CODES_ORDER)
    codes = _encode_fragment_words(codes.reshape(-1, 4))
    scales = scales.reshape(strips, 2, 8, tiles, blocks).permute(_FRAGMENT_SCALES_ORDER)
    return (
        codes.reshape(padded_n, padded_k // 2).view(weight.dtype),
        scales.reshape(padded_n, padded_k // BLOCK_SIZE).view(SCALE_DTYPE),
    )


def unprepare_weights_for_nvfp4_sm90(
    weight: torch.Tensor, weight_scale: torch.Tensor, output_size: int, input_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`prepare_weights_for_nvfp4_sm90`: ``output_size`` and ``input_size`` are
    the original N and K. Returns the checkpoint tensors bit for bit."""
    _check_packed(weight)
    expected = (round_up(output_size, FRAGMENT_ROWS), round_up(input_size, FRAGMENT_K) // 2)
    if tuple(weight.shape) != expected:
        raise ValueError(
            f"weight of shape {tuple(weight.shape)} is not the fragment layout of N = {output_size}, "
            f"K = {input_size}: expected {list(expected)}"
        )
    padded_n, padded_k = expected[0], expected[1] * 2
    strips, tiles, blocks = padded_n // FRAGMENT_ROWS, padded_k // FRAGMENT_K, FRAGMENT_K // BLOCK_SIZE
    codes = _decode_fragment_words(weight.view(torch.uint8).reshape(-1, 4))
    codes = codes.reshape(strips, tiles, 8, blocks, 4, 2, 2).permute(_inverse(_FRAGMENT_CODES_ORDER))
    scales = weight_scale.view(torch.uint8).reshape(strips, tiles, 8, blocks, 2)
    scales = scales.permute(_inverse(_FRAGMENT_SCALES_ORDER))
    return (
        codes.reshape(padded_n, padded_k // 2)[:output_size, : input_size // 2].contiguous().view(weight.dtype),
        scales.reshape(padded_n, padded_k // BLOCK_SIZE)[:output_size, : input_size // BLOCK_SIZE]
        .contiguous()
        .view(SCALE_DTYPE),
    )
