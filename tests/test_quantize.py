"""scaled_fp4_quant and global_scale_from_amax kernels against the reference, bit for bit."""

from __future__ import annotations

import itertools

import pytest
import torch
from conftest import DTYPE_IDS, FLOAT_DTYPES, assert_quantized_equal, poisoned_outputs, spread_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nvfp4
from nvfp4 import reference

ROWS = [1, 90, 127, 128, 150, 300]
KS = [16, 48, 64, 80, 1056, 7152, 7168]
DEVICE = "cpu"


def quantize_both(x: torch.Tensor, gs: torch.Tensor, swizzle: bool, padded_k: int | None):
    actual = nvfp4.scaled_fp4_quant(x.to(DEVICE), gs.to(DEVICE), swizzle, padded_k)
    return actual, reference.quantize(x, gs, swizzle=swizzle, padded_k=padded_k)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("rows", ROWS)
def test_grid_matches_reference(rows: int, k: int, dtype: torch.dtype):
    x = spread_values(rows, k, dtype, seed=rows * 10007 + k)
    gs = reference.global_scale_from_amax(x)
    for swizzle in (True, False):
        actual, expected = quantize_both(x, gs, swizzle, None)
        assert_quantized_equal(actual, expected)


@pytest.mark.parametrize("swizzle", [True, False], ids=["swizzled", "linear"])
@pytest.mark.parametrize(
    ("rows", "k", "padded_k"), [(1, 16, 32), (90, 48, 64), (150, 80, 96), (128, 7152, 7168), (300, 1056, 1280)]
)
def test_padded_k_into_poisoned_buffers(rows: int, k: int, padded_k: int, swizzle: bool):
    x = spread_values(rows, k, torch.bfloat16, seed=k)
    gs = reference.global_scale_from_amax(x)
    out = poisoned_outputs(rows, padded_k, swizzle, DEVICE)
    nvfp4.scaled_fp4_quant(x.to(DEVICE), gs.to(DEVICE), swizzle, padded_k, out=out)
    expected = reference.quantize(x, gs, swizzle=swizzle, padded_k=padded_k)
    assert_quantized_equal(out, expected)
    packed, scale = (t.cpu() for t in out)
    assert torch.count_nonzero(packed[:, k // 2 :]) == 0
    linear = nvfp4.unswizzle_blockscale(scale, rows, padded_k // 16) if swizzle else scale
    assert torch.count_nonzero(linear.view(torch.uint8)[:, k // 16 :]) == 0


@pytest.mark.parametrize("rows", [1, 127, 150], ids=lambda r: f"rows{r}")
def test_swizzle_padding_rows_are_zero_in_poisoned_buffers(rows: int):
    x = spread_values(rows, 48, torch.float16, seed=rows)
    gs = reference.global_scale_from_amax(x)
    out = poisoned_outputs(rows, 48, True, DEVICE)
    nvfp4.scaled_fp4_quant(x.to(DEVICE), gs.to(DEVICE), True, out=out)
    padded = nvfp4.unswizzle_blockscale(out[1].cpu(), out[1].shape[0], out[1].shape[1])
    assert torch.count_nonzero(padded.view(torch.uint8)[rows:]) == 0
    assert torch.count_nonzero(padded.view(torch.uint8)[:, 3:]) == 0


@pytest.mark.parametrize("swizzle", [True, False], ids=["swizzled", "linear"])
def test_zero_rows(swizzle: bool):
    x = torch.empty(0, 64, dtype=torch.bfloat16, device=DEVICE)
    packed, scale = nvfp4.scaled_fp4_quant(x, torch.tensor(1.0, device=DEVICE), swizzle)
    # No rows: roundup(0, 128) = 0 swizzled rows; the 4 scale columns are the same either way.
    assert packed.shape == (0, 32) and scale.shape == (0, 4)


def test_leading_dimensions_are_flattened():
    x = spread_values(6, 64, torch.bfloat16, seed=3)
    gs = reference.global_scale_from_amax(x)
    actual = nvfp4.scaled_fp4_quant(x.reshape(2, 3, 64).to(DEVICE), gs.to(DEVICE))
    assert_quantized_equal(actual, reference.quantize(x, gs))


def test_non_contiguous_input_is_copied():
    x = spread_values(64, 128, torch.float32, seed=4)
    gs = reference.global_scale_from_amax(x)
    strided = x.to(DEVICE).t().contiguous().t()
    assert not strided.is_contiguous()
    assert_quantized_equal(nvfp4.scaled_fp4_quant(strided, gs.to(DEVICE)), reference.quantize(x, gs))


def test_non_finite_blocks_get_nan_scale_and_zero_codes():
    x = spread_values(4, 64, torch.float32, seed=5)
    x[0, 3], x[1, 20], x[2, 40] = float("nan"), float("inf"), float("-inf")
    gs = torch.tensor(100.0)
    packed, scale = nvfp4.scaled_fp4_quant(x.to(DEVICE), gs.to(DEVICE), False)
    scale_bytes = scale.cpu().view(torch.uint8)
    assert scale_bytes[0, 0] == 0x7F and scale_bytes[1, 1] == 0x7F and scale_bytes[2, 2] == 0x7F
    assert torch.count_nonzero(packed.cpu()[0, :8]) == 0 and torch.count_nonzero(packed.cpu()[1, 8:16]) == 0
    assert (scale_bytes[3] != 0x7F).all()
    assert_quantized_equal((packed, scale), reference.quantize(x, gs, swizzle=False))
    decoded = nvfp4.dequantize(packed, scale, gs.to(DEVICE), False, torch.float32).cpu()
    assert decoded[0, :16].isnan().all() and decoded[3].isfinite().all()


def test_all_zero_tensor():
    x = torch.zeros(3, 32, device=DEVICE)
    gs = nvfp4.global_scale_from_amax(x)
    assert gs.item() == 1.0
    packed, scale = nvfp4.scaled_fp4_quant(x, gs, False)
    assert torch.count_nonzero(packed) == 0 and torch.count_nonzero(scale.view(torch.uint8)) == 0


def test_out_of_range_values_saturate():
    x = torch.full((2, 16), 1e30, device=DEVICE)
    x[1] = -1e30
    packed, scale = nvfp4.scaled_fp4_quant(x, torch.tensor(1.0, device=DEVICE), False)
    assert scale.float().cpu().tolist() == [[448.0], [448.0]]
    values = reference.e2m1_values(reference.unpack_codes(packed.cpu()))
    assert (values[0] == 6.0).all() and (values[1] == -6.0).all()


@pytest.mark.parametrize("gs", [0.0, -1.0, float("inf"), float("nan")], ids=["zero", "negative", "inf", "nan"])
@pytest.mark.parametrize("swizzle", [True, False], ids=["swizzled", "linear"])
def test_invalid_global_scale_gives_nan_scales_everywhere(gs: float, swizzle: bool):
    x = spread_values(130, 48, torch.bfloat16, seed=6)
    global_scale = torch.tensor(gs)
    packed, scale = nvfp4.scaled_fp4_quant(x.to(DEVICE), global_scale.to(DEVICE), swizzle)
    linear = nvfp4.unswizzle_blockscale(scale.cpu(), 130, 3) if swizzle else scale.cpu()
    assert (linear.view(torch.uint8) == 0x7F).all()
    assert torch.count_nonzero(packed) == 0
    assert_quantized_equal((packed, scale), reference.quantize(x, global_scale, swizzle=swizzle))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", [(1, 16), (90, 48), (300, 7168), (0, 64), (5, 0)], ids=str)
def test_global_scale_from_amax_matches_reference(shape: tuple[int, int], dtype: torch.dtype):
    x = spread_values(*shape, dtype, seed=7) if shape[1] else torch.empty(shape, dtype=dtype)
    actual = nvfp4.global_scale_from_amax(x.to(DEVICE))
    assert actual.shape == () and actual.dtype == torch.float32 and actual.device.type == DEVICE
    assert actual.cpu().view(torch.int32).item() == reference.global_scale_from_amax(x).view(torch.int32).item()


@pytest.mark.parametrize("special", [float("nan"), float("inf"), 0.0, 1e-45], ids=["nan", "inf", "zeros", "subnormal"])
def test_global_scale_from_amax_special_values(special: float):
    x = torch.full((4, 32), special)
    actual = nvfp4.global_scale_from_amax(x.to(DEVICE)).cpu()
    expected = reference.global_scale_from_amax(x)
    assert torch.equal(actual.isnan(), expected.isnan()) and (actual.isnan() | (actual == expected)).all()


def test_global_scale_from_amax_out_into_poisoned_buffer():
    x = spread_values(8, 64, torch.float16, seed=8)
    out = torch.full((1,), float("nan"), device=DEVICE)
    nvfp4.global_scale_from_amax(x.to(DEVICE), out=out)
    assert out.cpu().item() == reference.global_scale_from_amax(x).item()


# Property-based fuzz: blocks built to sit on rounding boundaries, to need subnormal scales, or to
# be tiny, plus arbitrary fp32 bit patterns.

TIES = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)


@st.composite
def fuzz_blocks(draw) -> tuple[torch.Tensor, torch.Tensor]:
    rows = draw(st.integers(1, 5))
    blocks = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["near_ties", "subnormal_scales", "tiny", "bits"]))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    shape = (rows, blocks * 16)
    if kind == "near_ties":
        gs = torch.tensor(draw(st.floats(2.0**-10, 2.0**20, width=32)))
        step = torch.tensor(draw(st.floats(2.0**-9, 448.0, width=32)))  # the intended block scale
        ties = torch.tensor(TIES)[torch.randint(len(TIES), shape, generator=generator)]
        x = ties * step / gs
        x[:, ::16] = 6.0 * step / gs  # the block maximum fixes the scale
        ulps = torch.randint(-2, 3, shape, generator=generator, dtype=torch.int32)
        x = (x.view(torch.int32) + ulps).view(torch.float32)
    elif kind == "subnormal_scales":
        gs = torch.tensor(1.0)
        x = torch.randn(shape, generator=generator) * 2.0 ** draw(st.integers(-16, -7))
    elif kind == "tiny":
        x = torch.randn(shape, generator=generator) * 2.0 ** draw(st.integers(-149, -100))
        gs = reference.global_scale_from_amax(x)
    else:
        bits = torch.randint(-(2**31), 2**31 - 1, shape, generator=generator, dtype=torch.int64)
        x = bits.to(torch.int32).view(torch.float32)
        gs = torch.tensor(draw(st.floats(2.0**-100, 2.0**100, width=32)))
    signs = torch.randint(0, 2, shape, generator=generator) * 2 - 1
    x = x * signs
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    return x.to(dtype), gs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzz_blocks(), st.booleans())
def test_fuzz_matches_reference(case: tuple[torch.Tensor, torch.Tensor], swizzle: bool):
    x, gs = case
    actual, expected = quantize_both(x, gs, swizzle, None)
    assert_quantized_equal(actual, expected)


def test_random_shapes_match_reference():
    generator = torch.Generator().manual_seed(11)
    for _ in range(50):
        rows = int(torch.randint(0, 400, (), generator=generator))
        k = 16 * int(torch.randint(1, 80, (), generator=generator))
        padded_k = k + 16 * int(torch.randint(0, 3, (), generator=generator))
        dtype = FLOAT_DTYPES[int(torch.randint(0, 3, (), generator=generator))]
        x = spread_values(rows, k, dtype, seed=int(torch.randint(0, 2**31, (), generator=generator)))
        gs = reference.global_scale_from_amax(x)
        for swizzle in (True, False):
            assert_quantized_equal(*quantize_both(x, gs, swizzle, padded_k))


def test_decoded_values_equal_dequantize_of_each_code():
    # Every (code, scale byte) pair of a block decodes as e2m1 * sf / gs.
    codes = torch.tensor(list(itertools.product(range(16), repeat=2)), dtype=torch.uint8)
    packed = (codes[:, 0] | (codes[:, 1] << 4)).reshape(-1, 8)
    scale = torch.arange(packed.shape[0], dtype=torch.uint8).reshape(-1, 1).view(torch.float8_e4m3fn)
    gs = torch.tensor(3.0)
    out = nvfp4.dequantize(packed.to(DEVICE), scale.to(DEVICE), gs.to(DEVICE), False, torch.float32).cpu()
    expected = reference.dequantize(packed, scale, gs, swizzled=False)
    assert torch.equal(out.isnan(), expected.isnan())
    assert torch.equal(out.nan_to_num(), expected.nan_to_num())
