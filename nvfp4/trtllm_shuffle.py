"""The row permutation TRT-LLM's generated GEMMs expect of their A operand (the weight, since
they compute with A and B swapped): FlashInfer's ``shuffle_matrix_a`` and
``shuffle_matrix_sf_a`` for ``epilogue_tile_m = 128``.

Within each block of 32 rows, source row ``i`` moves to row ``(i % 4) * 8 + i // 4``; blocks
stay in place. The block scales take the same row permutation, then the swizzled layout.
"""

from __future__ import annotations

import torch

__all__ = ["SHUFFLE_BLOCK_ROWS", "shuffle_rows", "shuffled_row_positions", "unshuffle_rows"]

#: Rows permuted together for epilogue_tile_m = 128.
SHUFFLE_BLOCK_ROWS = 32


def shuffled_row_positions(rows: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``positions[i]``: where source row ``i`` lands. ``rows`` must be a multiple of 32."""
    if rows % SHUFFLE_BLOCK_ROWS:
        raise ValueError(f"the TRT-LLM row shuffle needs a multiple of {SHUFFLE_BLOCK_ROWS} rows, got {rows}")
    source = torch.arange(rows, device=device)
    within = source % SHUFFLE_BLOCK_ROWS
    return source - within + (within % 4) * 8 + within // 4


def shuffle_rows(matrix: torch.Tensor) -> torch.Tensor:
    """Rows of ``matrix`` moved to their shuffled positions."""
    shuffled = torch.empty_like(matrix)
    shuffled[shuffled_row_positions(matrix.shape[0], matrix.device)] = matrix
    return shuffled


def unshuffle_rows(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`shuffle_rows`."""
    return matrix[shuffled_row_positions(matrix.shape[0], matrix.device)]
