"""nvfp4_qdq: e2m1 * sf in the input's 16-bit dtype, against the reference, bit for bit."""

from __future__ import annotations

import pytest
import torch
from conftest import spread_values

import nvfp4
from nvfp4 import reference

DTYPES = [torch.float16, torch.bfloat16]


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
@pytest.mark.parametrize("shape", [(1, 16), (90, 48), (300, 1056), (2, 3, 64), (0, 32)], ids=str)
def test_matches_reference(shape: tuple[int, ...], dtype: torch.dtype):
    x = spread_values(int(torch.tensor(shape[:-1]).prod()), shape[-1], dtype, seed=sum(shape)).reshape(shape)
    gs = reference.global_scale_from_amax(x)
    actual = nvfp4.nvfp4_qdq(x, gs)
    assert actual.shape == x.shape and actual.dtype == dtype
    assert torch.equal(actual, reference.nvfp4_qdq(x, gs))


def test_equals_dequantize_times_global_scale():
    # qdq leaves out exactly the 1/gs of dequantize: with gs = 1 they agree.
    x = spread_values(64, 128, torch.bfloat16, seed=3)
    one = torch.tensor(1.0)
    packed, scale = nvfp4.scaled_fp4_quant(x, one, False)
    assert torch.equal(nvfp4.nvfp4_qdq(x, one), nvfp4.dequantize(packed, scale, one, False, torch.bfloat16))


def test_non_finite_block_and_invalid_scale_give_nan():
    x = spread_values(2, 32, torch.float16, seed=4)
    x[0, 5] = float("inf")
    out = nvfp4.nvfp4_qdq(x, torch.tensor(10.0))
    assert out[0, :16].isnan().all() and out[0, 16:].isfinite().all() and out[1].isfinite().all()
    assert nvfp4.nvfp4_qdq(x, torch.tensor(0.0)).isnan().all()


def test_out_buffer_and_errors():
    x = spread_values(8, 64, torch.bfloat16, seed=5)
    gs = reference.global_scale_from_amax(x)
    out = torch.full_like(x, float("nan"))
    nvfp4.nvfp4_qdq(x, gs, out=out)
    assert torch.equal(out, reference.nvfp4_qdq(x, gs))
    with pytest.raises(RuntimeError, match="input must be float16 or bfloat16"):
        nvfp4.nvfp4_qdq(x.float(), gs)
    with pytest.raises(RuntimeError, match="K must be a multiple of 16"):
        nvfp4.nvfp4_qdq(x[:, :40], gs)
