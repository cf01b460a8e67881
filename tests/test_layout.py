"""The nvfp4_utils layout API: padding, slicing, prepare_weights_for_* and their inverses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import spread_values

import nvfp4
from nvfp4 import reference

GOLDEN = Path(__file__).parent / "golden" / "trtllm_shuffle_golden.pt"


def checkpoint_weight(n: int, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A checkpoint-form weight: packed [N, K/2] and linear scales [N, K/16]."""
    w = spread_values(n, k, torch.float32, seed=seed)
    return reference.quantize(w, reference.global_scale_from_amax(w), swizzle=False)


@pytest.mark.parametrize(("n", "k"), [(64, 64), (90, 48), (100, 80), (128, 7152)], ids=str)
def test_pad_weight_for_cutlass(n: int, k: int):
    weight, _ = checkpoint_weight(n, k)
    padded, pad_bytes = nvfp4.pad_nvfp4_weight_for_cutlass(weight)
    n_padded, k_padded = nvfp4.constants.round_up(n, 32), nvfp4.constants.round_up(k, 32)
    assert padded.shape == (n_padded, k_padded // 2) and pad_bytes == (k_padded - k) // 2
    assert torch.equal(padded[:n, : k // 2], weight)
    assert torch.count_nonzero(padded[n:]) == 0 and torch.count_nonzero(padded[:, k // 2 :]) == 0


def test_pad_activation_and_slice_output():
    x_fp4 = torch.randint(0, 256, (5, 24), dtype=torch.uint8)
    assert nvfp4.pad_nvfp4_activation_for_cutlass(x_fp4, 0) is x_fp4
    padded = nvfp4.pad_nvfp4_activation_for_cutlass(x_fp4, 8)
    assert padded.shape == (5, 32) and torch.equal(padded[:, :24], x_fp4) and torch.count_nonzero(padded[:, 24:]) == 0
    out = torch.randn(2, 3, 96)
    assert nvfp4.slice_nvfp4_output(out, 96) is out
    sliced = nvfp4.slice_nvfp4_output(out, 90)
    assert sliced.shape == (2, 3, 90) and sliced.is_contiguous() and torch.equal(sliced, out[..., :90])


@pytest.mark.parametrize(("n", "k"), [(64, 64), (90, 48), (100, 80), (300, 1056)], ids=str)
def test_cutlass_prepare_and_inverse(n: int, k: int):
    weight, scale = checkpoint_weight(n, k)
    prepared, swizzled, pad_bytes = nvfp4.prepare_weights_for_nvfp4_cutlass(weight, scale)
    n_padded, k_padded = nvfp4.constants.round_up(n, 32), nvfp4.constants.round_up(k, 32)
    assert prepared.shape == (n_padded, k_padded // 2)
    # The swizzled scales are exactly what the padded weight needs.
    assert swizzled.shape == nvfp4.ops.quantized_shapes(n_padded, k_padded, swizzle=True)[1]
    assert torch.equal(swizzled.view(torch.uint8), reference.swizzle_blockscale(scale).view(torch.uint8))
    weight_back, scale_back = nvfp4.unprepare_weights_for_nvfp4_cutlass(prepared, swizzled, pad_bytes, n)
    assert torch.equal(weight_back, weight) and torch.equal(scale_back.view(torch.uint8), scale.view(torch.uint8))


@pytest.mark.parametrize(("n", "k"), [(64, 64), (90, 48)], ids=str)
def test_fbgemm_prepare_and_inverse(n: int, k: int):
    weight, scale = checkpoint_weight(n, k)
    prepared, flat = nvfp4.prepare_weights_for_nvfp4_fbgemm(weight, scale)
    assert prepared is weight and flat.dtype == torch.uint8 and flat.dim() == 1
    assert torch.equal(flat, reference.swizzle_blockscale(scale).view(torch.uint8).flatten())
    weight_back, scale_back = nvfp4.unprepare_weights_for_nvfp4_fbgemm(prepared, flat)
    assert torch.equal(weight_back, weight) and torch.equal(scale_back.view(torch.uint8), scale.view(torch.uint8))


def golden_cases() -> list[dict]:
    return torch.load(GOLDEN)["cases"]


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: f"{tuple(c['weight'].shape)}")
def test_trtllm_prepare_equals_flashinfer_golden_bytes(case: dict):
    weight, scale = case["weight"], case["weight_scale"].view(torch.float8_e4m3fn)
    shuffled_weight, shuffled_scale = nvfp4.prepare_weights_for_nvfp4_flashinfer_trtllm(weight, scale)
    assert torch.equal(shuffled_weight, case["shuffled_weight"])
    assert torch.equal(shuffled_scale.view(torch.uint8).flatten(), case["shuffled_scale"])
    weight_back, scale_back = nvfp4.unprepare_weights_for_nvfp4_flashinfer_trtllm(shuffled_weight, shuffled_scale)
    assert torch.equal(weight_back, weight) and torch.equal(scale_back.view(torch.uint8), case["weight_scale"])


def test_trtllm_prepare_equals_flashinfer_live():
    flashinfer = pytest.importorskip("flashinfer", reason="flashinfer-python is not installed; golden bytes cover it")
    weight, scale = checkpoint_weight(256, 96, seed=5)
    shuffled_weight, shuffled_scale = nvfp4.prepare_weights_for_nvfp4_flashinfer_trtllm(weight, scale)
    assert torch.equal(shuffled_weight, flashinfer.shuffle_matrix_a(weight, 128))
    if torch.cuda.is_available():
        expected = flashinfer.shuffle_matrix_sf_a(scale.view(torch.uint8).cuda(), 128).cpu()
        assert torch.equal(shuffled_scale.view(torch.uint8).flatten(), expected.flatten())


def test_trtllm_row_permutation_in_blocks_of_32():
    rows = torch.arange(128, dtype=torch.int32).reshape(128, 1).repeat(1, 8).view(torch.uint8)[:, :16]
    shuffled = nvfp4.trtllm_shuffle.shuffle_rows(rows)
    first_column = shuffled.view(torch.int32)[:, 0]
    # Row i of each 32-row block moves to (i % 4) * 8 + i // 4: the new order reads 0, 4, 8, ...
    assert first_column[:9].tolist() == [0, 4, 8, 12, 16, 20, 24, 28, 1]
    assert first_column[32:34].tolist() == [32, 36]


def test_prepare_accepts_float4_views():
    weight, scale = checkpoint_weight(128, 48)
    as_uint8 = nvfp4.prepare_weights_for_nvfp4_cutlass(weight, scale)
    as_fp4 = nvfp4.prepare_weights_for_nvfp4_cutlass(weight.view(torch.float4_e2m1fn_x2), scale)
    assert as_fp4[0].dtype == torch.float4_e2m1fn_x2 and torch.equal(as_fp4[0].view(torch.uint8), as_uint8[0])
    shuffled = nvfp4.prepare_weights_for_nvfp4_flashinfer_trtllm(weight.view(torch.float4_e2m1fn_x2), scale)
    expected = nvfp4.prepare_weights_for_nvfp4_flashinfer_trtllm(weight, scale)
    assert torch.equal(shuffled[0].view(torch.uint8), expected[0])


def test_prepared_weights_stay_on_their_device():
    weight, scale = checkpoint_weight(128, 64)
    for prepared in (
        nvfp4.prepare_weights_for_nvfp4_cutlass(weight, scale)[:2],
        nvfp4.prepare_weights_for_nvfp4_fbgemm(weight, scale),
        nvfp4.prepare_weights_for_nvfp4_flashinfer_trtllm(weight, scale),
    ):
        assert all(t.device == weight.device for t in prepared)
