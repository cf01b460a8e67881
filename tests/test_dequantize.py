"""dequantize kernel against the reference: cast((e2m1 * sf) / gs), bit for bit."""

from __future__ import annotations

import pytest
import torch
from conftest import DTYPE_IDS, FLOAT_DTYPES, spread_values

import nvfp4
from nvfp4 import reference

DEVICE = "cpu"


@pytest.mark.parametrize("out_dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("swizzled", [True, False], ids=["swizzled", "linear"])
@pytest.mark.parametrize(
    ("rows", "k", "padded_k"), [(1, 16, 16), (90, 48, 64), (150, 80, 80), (300, 7152, 7168), (0, 64, 64)]
)
def test_matches_reference(rows: int, k: int, padded_k: int, swizzled: bool, out_dtype: torch.dtype):
    x = spread_values(rows, k, torch.float32, seed=rows + k)
    gs = reference.global_scale_from_amax(x)
    packed, scale = reference.quantize(x, gs, swizzle=swizzled, padded_k=padded_k)
    actual = nvfp4.dequantize(packed.to(DEVICE), scale.to(DEVICE), gs.to(DEVICE), swizzled, out_dtype).cpu()
    expected = reference.dequantize(packed, scale, gs, swizzled=swizzled, out_dtype=out_dtype)
    assert actual.shape == (rows, padded_k) and actual.dtype == out_dtype
    assert torch.equal(actual, expected)
    if rows:
        assert torch.count_nonzero(actual[:, k:]) == 0 and torch.count_nonzero(actual) > 0


def test_accepts_float4_view_and_out_buffer():
    x = spread_values(20, 64, torch.bfloat16, seed=9)
    gs = reference.global_scale_from_amax(x)
    packed, scale = reference.quantize(x, gs)
    out = torch.full((20, 64), float("nan"), dtype=torch.bfloat16, device=DEVICE)
    nvfp4.dequantize(
        packed.view(torch.float4_e2m1fn_x2).to(DEVICE), scale.to(DEVICE), gs.to(DEVICE), True, torch.bfloat16, out=out
    )
    assert torch.equal(out.cpu(), reference.dequantize(packed, scale, gs, swizzled=True, out_dtype=torch.bfloat16))


def test_round_trip_error_is_bounded():
    x = torch.randn(64, 256)
    gs = nvfp4.global_scale_from_amax(x)
    packed, scale = nvfp4.scaled_fp4_quant(x, gs)
    back = nvfp4.dequantize(packed, scale, gs, True, torch.float32)
    relative = (back - x).norm() / x.norm()
    assert 0 < relative < 0.15  # E2M1 keeps about 2-3 bits per value
