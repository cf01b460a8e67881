"""Format facts of NVFP4 (DESIGN.md sections 1 and 2), mirrored in csrc/include/nvfp4/format.h."""

from __future__ import annotations

import torch

#: Elements that share one E4M3 block scale, along K.
BLOCK_SIZE = 16
#: Largest E2M1 magnitude.
F4_E2M1_MAX = 6.0
#: Largest finite float8_e4m3fn value.
F8_E4M3_MAX = 448.0
#: F4_E2M1_MAX * F8_E4M3_MAX: the encode scale of a tensor is 2688 / amax.
NVFP4_RANGE = F4_E2M1_MAX * F8_E4M3_MAX
#: Upper bound of a dynamic encode scale (2^126), so a near-zero tensor keeps a finite scale.
MAX_GLOBAL_SCALE = 2.0**126
#: The float8_e4m3fn byte of NaN: the block scale of a block that holds NaN or Inf.
E4M3_NAN_BYTE = 0x7F
#: Magnitudes of the E2M1 codes 0..7; bit 3 of a code is the sign.
E2M1_MAGNITUDES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
#: Rows and scale columns of one tile of the swizzled block-scale layout (512 bytes).
SWIZZLE_TILE_ROWS = 128
SWIZZLE_TILE_COLS = 4
#: Native FP4 GEMMs need K % 32 == 0; the project pads N to a multiple of 32 too.
CUTLASS_ALIGNMENT = 32
#: The Hopper GEMM's weight tiles ("fragment layout", csrc/include/nvfp4/fragment_layout.h): 16 rows
#: by 64 columns; the weight is padded to multiples of both.
FRAGMENT_ROWS = 16
FRAGMENT_K = 64
#: TRT-LLM's weight shuffle (FlashInfer `shuffle_matrix_a`) for epilogue_tile_m = 128.
TRTLLM_EPILOGUE_TILE_M = 128

#: dtypes of packed E2M1 codes: raw bytes, or PyTorch's view of the same bytes.
PACKED_DTYPES = (torch.uint8, torch.float4_e2m1fn_x2)
#: dtypes the quantizer takes and the dequantizer writes.
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: dtype of block scales.
SCALE_DTYPE = torch.float8_e4m3fn


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``value``."""
    return (value + multiple - 1) // multiple * multiple
