"""The pure-PyTorch reference against DESIGN.md section 1, case by case."""

from __future__ import annotations

import pytest
import torch

from nvfp4 import constants, reference

# (input, expected value) for every E2M1 rounding case: each threshold, ties to even, saturation.
E2M1_CASES = [
    (0.0, 0.0),
    (0.25, 0.0),
    (0.2500001, 0.5),
    (0.5, 0.5),
    (0.7499999, 0.5),
    (0.75, 1.0),
    (1.0, 1.0),
    (1.25, 1.0),
    (1.2500001, 1.5),
    (1.5, 1.5),
    (1.7499999, 1.5),
    (1.75, 2.0),
    (2.5, 2.0),
    (2.5000002, 3.0),
    (3.0, 3.0),
    (3.4999998, 3.0),
    (3.5, 4.0),
    (5.0, 4.0),
    (5.0000005, 6.0),
    (6.0, 6.0),
    (7.0, 6.0),
    (1e30, 6.0),
    (float("inf"), 6.0),
]


@pytest.mark.parametrize(("value", "expected"), E2M1_CASES, ids=[f"{v:g}" for v, _ in E2M1_CASES])
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["pos", "neg"])
def test_e2m1_rounding(value: float, expected: float, sign: float):
    code = reference.e2m1_codes(torch.tensor([sign * value], dtype=torch.float32))
    assert reference.e2m1_values(code).item() == sign * expected


def test_e2m1_table_and_sign_bit():
    codes = torch.arange(16, dtype=torch.uint8)
    expected = list(constants.E2M1_MAGNITUDES) + [-v for v in constants.E2M1_MAGNITUDES]
    assert reference.e2m1_values(codes).tolist() == expected
    assert reference.e2m1_codes(torch.tensor([-0.1, 0.1, -0.0])).tolist() == [0x8, 0x0, 0x8]


def test_pack_order_low_nibble_first():
    codes = torch.tensor([[0x1, 0x2, 0x3, 0xF]], dtype=torch.uint8)
    packed = reference.pack_codes(codes)
    assert packed.tolist() == [[0x21, 0xF3]]
    assert torch.equal(reference.unpack_codes(packed), codes)
    assert torch.equal(reference.unpack_codes(packed.view(torch.float4_e2m1fn_x2)), codes)


@pytest.mark.parametrize(
    ("amax", "expected"),
    [(0.0, 1.0), (2688.0, 1.0), (1.0, 2688.0), (1e-40, 2.0**126), (float("nan"), 1.0), (float("inf"), 0.0)],
    ids=["zero", "unit", "one", "tiny", "nan", "inf"],
)
def test_global_scale_from_amax_rule(amax: float, expected: float):
    x = torch.tensor([[amax, 0.0]], dtype=torch.float32)
    assert reference.global_scale_from_amax(x).item() == expected


def test_quantize_known_block():
    # amax 6 with gs 1: scale e4m3(1.0) = 0x38, values land on the grid exactly.
    x = torch.tensor([[6.0, -3.0, 0.5, 1.75] + [0.0] * 12])
    packed, scale = reference.quantize(x, 1.0, swizzle=False)
    assert scale.view(torch.uint8).tolist() == [[0x38]]
    assert reference.e2m1_values(reference.unpack_codes(packed))[0, :4].tolist() == [6.0, -3.0, 0.5, 2.0]


def test_quantize_saturates_to_scale_448():
    x = torch.full((1, 16), 1e30)
    packed, scale = reference.quantize(x, 1.0, swizzle=False)
    assert scale.float().item() == 448.0
    assert reference.e2m1_values(reference.unpack_codes(packed)).unique().tolist() == [6.0]


def test_quantize_keeps_subnormal_scales():
    # gs * amax / 6 = 2^-9, the smallest E4M3 subnormal.
    x = torch.zeros(1, 16)
    x[0, 0] = 6.0 * 2.0**-9
    _, scale = reference.quantize(x, 1.0, swizzle=False)
    assert scale.view(torch.uint8).item() == 0x01


def test_dequantize_formula():
    packed = torch.tensor([[0x7F] * 8], dtype=torch.uint8)  # codes 0xF (-6) and 0x7 (6)
    scale = torch.tensor([[2.0]]).to(torch.float8_e4m3fn)
    out = reference.dequantize(packed, scale, torch.tensor(4.0), swizzled=False)
    assert out[0, :2].tolist() == [-3.0, 3.0]
