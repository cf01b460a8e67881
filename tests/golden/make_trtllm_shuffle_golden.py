"""Writes trtllm_shuffle_golden.pt: FlashInfer's own output for the TRT-LLM weight layout, which
tests/test_layout.py compares prepare_weights_for_nvfp4_flashinfer_trtllm against byte for byte.

Run where flashinfer-python imports:  python tests/golden/make_trtllm_shuffle_golden.py

- weights: flashinfer.shuffle_matrix_a(weight, 128) (pure PyTorch, runs on CPU);
- scales: flashinfer.shuffle_matrix_sf_a(scale, 128) when a CUDA GPU is present (its 128x4
  interleave is a CUDA kernel); on a CPU-only machine, the same function's two steps taken from
  FlashInfer: its row indices (flashinfer.utils.get_shuffle_matrix_sf_a_row_indices) and its
  pure-PyTorch 128x4 interleave (flashinfer.diffusion_ops.minimax_h3_fc1_swiglu._swizzle_sf_128x4).
The file records the FlashInfer version and which scale path made it.
"""

from __future__ import annotations

from pathlib import Path

import flashinfer
import torch
from flashinfer.utils import get_shuffle_matrix_sf_a_row_indices

EPILOGUE_TILE_M = 128
# (N, K): scale columns K/16 of 4, 3 (not a multiple of 4) and 16.
SHAPES = [(128, 64), (256, 48), (384, 256)]
OUTPUT = Path(__file__).with_name("trtllm_shuffle_golden.pt")


def flashinfer_scale_shuffle(scale_bytes: torch.Tensor) -> tuple[torch.Tensor, str]:
    if torch.cuda.is_available():
        shuffled = flashinfer.shuffle_matrix_sf_a(scale_bytes.cuda(), EPILOGUE_TILE_M)
        return shuffled.cpu().flatten(), "shuffle_matrix_sf_a (CUDA)"
    from flashinfer.diffusion_ops.minimax_h3_fc1_swiglu import _swizzle_sf_128x4

    rows = get_shuffle_matrix_sf_a_row_indices(scale_bytes, EPILOGUE_TILE_M)
    return _swizzle_sf_128x4(scale_bytes[rows]).flatten(), "row indices + _swizzle_sf_128x4 (CPU)"


def main() -> None:
    generator = torch.Generator().manual_seed(2024)
    cases = []
    scale_path = ""
    for n, k in SHAPES:
        weight = torch.randint(0, 256, (n, k // 2), generator=generator, dtype=torch.uint8)
        scale = torch.randint(0, 0x7F, (n, k // 16), generator=generator, dtype=torch.uint8)
        shuffled_scale, scale_path = flashinfer_scale_shuffle(scale)
        cases.append(
            {
                "weight": weight,
                "weight_scale": scale,
                "shuffled_weight": flashinfer.shuffle_matrix_a(weight, EPILOGUE_TILE_M),
                "shuffled_scale": shuffled_scale,
            }
        )
    torch.save({"flashinfer": flashinfer.__version__, "scale_path": scale_path, "cases": cases}, OUTPUT)
    print(f"wrote {OUTPUT} with FlashInfer {flashinfer.__version__}, scales through {scale_path}")


if __name__ == "__main__":
    main()
