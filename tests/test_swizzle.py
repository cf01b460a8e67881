"""swizzle_blockscale / unswizzle_blockscale kernels against DESIGN.md section 2."""

from __future__ import annotations

import pytest
import torch

import nvfp4
from nvfp4 import reference

DEVICE = "cpu"
SHAPES = [(1, 1), (1, 4), (90, 3), (127, 4), (128, 4), (128, 5), (150, 7), (300, 448), (0, 4), (5, 0)]


def random_scales(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    # Every byte but the NaN ones, so a misplaced byte cannot hide behind an equal neighbour often.
    return torch.randint(1, 0x7F, shape, generator=generator, dtype=torch.uint8).view(torch.float8_e4m3fn)


def design_offset(row: int, col: int, padded_cols: int) -> int:
    # DESIGN.md section 2, spelled out as it stands there.
    return ((row // 128) * (padded_cols // 4) + col // 4) * 512 + (row % 32) * 16 + ((row // 32) % 4) * 4 + col % 4


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_bytes_sit_at_design_offsets_and_padding_is_zero(shape: tuple[int, int]):
    rows, cols = shape
    scale = random_scales(shape, seed=rows * 31 + cols)
    swizzled = nvfp4.swizzle_blockscale(scale.to(DEVICE)).cpu()
    padded_rows, padded_cols = nvfp4.constants.round_up(rows, 128), nvfp4.constants.round_up(cols, 4)
    assert swizzled.shape == (padded_rows, padded_cols) and swizzled.dtype == torch.float8_e4m3fn
    flat = swizzled.view(torch.uint8).flatten()
    expected = torch.zeros_like(flat)
    linear = scale.view(torch.uint8)
    for row in range(rows):
        for col in range(cols):
            expected[design_offset(row, col, padded_cols)] = linear[row, col]
    assert torch.equal(flat, expected)


@pytest.mark.parametrize("shape", [*SHAPES, (3, 90, 3), (2, 129, 8)], ids=str)
def test_matches_reference_and_round_trips(shape: tuple[int, ...]):
    scale = random_scales(shape, seed=sum(shape))
    swizzled = nvfp4.swizzle_blockscale(scale.to(DEVICE))
    assert torch.equal(swizzled.cpu().view(torch.uint8), reference.swizzle_blockscale(scale).view(torch.uint8))
    back = nvfp4.unswizzle_blockscale(swizzled, shape[-2], shape[-1]).cpu()
    assert back.shape == scale.shape
    assert torch.equal(back.view(torch.uint8), scale.view(torch.uint8))
    assert torch.equal(
        reference.unswizzle_blockscale(swizzled.cpu(), shape[-2], shape[-1]).view(torch.uint8), scale.view(torch.uint8)
    )


def test_unswizzle_then_swizzle_is_identity_on_zero_padded_input():
    swizzled = reference.swizzle_blockscale(random_scales((150, 7), seed=1))
    again = nvfp4.swizzle_blockscale(nvfp4.unswizzle_blockscale(swizzled.to(DEVICE), 150, 7))
    assert torch.equal(again.cpu().view(torch.uint8), swizzled.view(torch.uint8))


def test_out_overloads_write_every_byte():
    scale = random_scales((2, 150, 7), seed=2)
    out = torch.full((2, 256, 8), 0x7F, dtype=torch.uint8, device=DEVICE).view(torch.float8_e4m3fn)
    nvfp4.swizzle_blockscale(scale.to(DEVICE), out=out)
    assert torch.equal(out.cpu().view(torch.uint8), reference.swizzle_blockscale(scale).view(torch.uint8))
    back = torch.full((2, 150, 7), 0x7F, dtype=torch.uint8, device=DEVICE).view(torch.float8_e4m3fn)
    nvfp4.unswizzle_blockscale(out, 150, 7, out=back)
    assert torch.equal(back.cpu().view(torch.uint8), scale.view(torch.uint8))


def test_result_stays_on_input_device():
    scale = random_scales((4, 4), seed=3).to(DEVICE)
    assert nvfp4.swizzle_blockscale(scale).device == scale.device
