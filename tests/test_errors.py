"""Bad inputs raise errors that name the argument and what was expected."""

from __future__ import annotations

import pytest
import torch

import nvfp4

GS = torch.tensor(1.0)


def quant_inputs(rows: int = 4, k: int = 32, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    return torch.randn(rows, k).to(dtype)


def weight_and_scale(n: int = 64, k: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    weight = torch.randint(0, 256, (n, k // 2), dtype=torch.uint8)
    scale = torch.ones(n, k // 16).to(torch.float8_e4m3fn)
    return weight, scale


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32, torch.uint8], ids=str)
def test_quant_wrong_dtype(dtype: torch.dtype):
    with pytest.raises(RuntimeError, match="input must be float32, float16 or bfloat16"):
        nvfp4.scaled_fp4_quant(torch.ones(4, 32, dtype=dtype), GS)


def test_quant_k_not_multiple_of_16():
    with pytest.raises(RuntimeError, match=r"K must be a multiple of 16.*got K = 40"):
        nvfp4.scaled_fp4_quant(torch.ones(4, 40), GS)


def test_quant_one_dimensional_input():
    with pytest.raises(RuntimeError, match=r"input must have at least 2 dimensions"):
        nvfp4.scaled_fp4_quant(torch.ones(32), GS)


@pytest.mark.parametrize("padded_k", [16, 40], ids=["smaller", "unaligned"])
def test_quant_bad_padded_k(padded_k: int):
    with pytest.raises(RuntimeError, match=r"padded_k must be a multiple of 16 and at least K = 32"):
        nvfp4.scaled_fp4_quant(quant_inputs(), GS, True, padded_k)


@pytest.mark.parametrize(
    ("global_scale", "message"),
    [
        (torch.tensor(1.0, dtype=torch.float64), "global_scale must be a float32 tensor"),
        (torch.ones(2), r"global_scale must be 0-dim or of shape \[1\]"),
    ],
    ids=["float64", "two-elements"],
)
def test_quant_bad_global_scale(global_scale: torch.Tensor, message: str):
    with pytest.raises(RuntimeError, match=message):
        nvfp4.scaled_fp4_quant(quant_inputs(), global_scale)


def test_quant_out_buffer_of_wrong_shape():
    packed = torch.empty(4, 8, dtype=torch.uint8)
    scale = torch.empty(128, 4, dtype=torch.float8_e4m3fn)
    with pytest.raises(RuntimeError, match=r"packed must have shape \[4, 16\], got \[4, 8\]"):
        nvfp4.scaled_fp4_quant(quant_inputs(), GS, out=(packed, scale))


def test_quant_out_buffer_of_wrong_dtype():
    packed = torch.empty(4, 16, dtype=torch.uint8)
    scale = torch.empty(128, 4, dtype=torch.uint8)
    with pytest.raises(RuntimeError, match="block_scale must have dtype Float8_e4m3fn"):
        nvfp4.scaled_fp4_quant(quant_inputs(), GS, out=(packed, scale))


def test_dequantize_mismatched_scale_shape():
    packed, scale = nvfp4.scaled_fp4_quant(quant_inputs(), GS, False)
    with pytest.raises(RuntimeError, match=r"block_scale must have shape \[128, 4\] \(swizzled"):
        nvfp4.dequantize(packed, scale, GS, True)


def test_dequantize_wrong_packed_dtype():
    with pytest.raises(RuntimeError, match=r"packed must be uint8 or torch\.float4_e2m1fn_x2"):
        nvfp4.dequantize(torch.zeros(4, 16, dtype=torch.int8), torch.zeros(4, 2, dtype=torch.float8_e4m3fn), GS, False)


def test_dequantize_non_contiguous_packed():
    packed = torch.zeros(16, 8, dtype=torch.uint8).t()
    with pytest.raises(RuntimeError, match="packed must be contiguous"):
        nvfp4.dequantize(packed, torch.zeros(8, 1, dtype=torch.float8_e4m3fn), GS, False)


def test_dequantize_bad_out_dtype():
    packed, scale = nvfp4.scaled_fp4_quant(quant_inputs(), GS, False)
    with pytest.raises(RuntimeError, match="out_dtype must be float32, float16 or bfloat16"):
        nvfp4.dequantize(packed, scale, GS, False, torch.int32)


def test_swizzle_wrong_dtype_and_rank():
    with pytest.raises(RuntimeError, match=r"scale must be torch\.float8_e4m3fn"):
        nvfp4.swizzle_blockscale(torch.zeros(4, 4, dtype=torch.uint8))
    with pytest.raises(RuntimeError, match=r"scale must be 2-D \[rows, cols\] or 3-D"):
        nvfp4.swizzle_blockscale(torch.zeros(4, dtype=torch.float8_e4m3fn))


def test_swizzle_non_contiguous_scale():
    scale = torch.zeros(8, 4, dtype=torch.uint8).view(torch.float8_e4m3fn).t()
    with pytest.raises(RuntimeError, match="scale must be contiguous"):
        nvfp4.swizzle_blockscale(scale)


def test_unswizzle_shape_not_matching_rows_and_cols():
    with pytest.raises(RuntimeError, match=r"last two dimensions \[256, 4\].*got shape \[128, 4\]"):
        nvfp4.unswizzle_blockscale(torch.zeros(128, 4, dtype=torch.float8_e4m3fn), 150, 3)


def test_global_scale_from_amax_wrong_dtype():
    with pytest.raises(RuntimeError, match="input must be float32, float16 or bfloat16"):
        nvfp4.global_scale_from_amax(torch.ones(4, dtype=torch.int64))


# A meta tensor beside CPU tensors sends the call to the Meta kernel (the fake implementation),
# which must refuse it rather than return unwritten memory.
def test_global_scale_on_another_device():
    with pytest.raises(RuntimeError, match="global_scale must be on the input's device cpu, got meta"):
        nvfp4.scaled_fp4_quant(quant_inputs(), GS.to("meta"))


def test_dequantize_block_scale_on_another_device():
    packed, scale = nvfp4.scaled_fp4_quant(quant_inputs(), GS, False)
    with pytest.raises(RuntimeError, match="block_scale must be on the packed's device cpu, got meta"):
        nvfp4.dequantize(packed, scale.to("meta"), GS, False)


def test_prepare_mismatched_scale_shape():
    weight, _ = weight_and_scale()
    with pytest.raises(ValueError, match=r"weight_scale must be linear \[N, K/16\] = \[64, 4\]"):
        nvfp4.prepare_weights_for_nvfp4_cutlass(weight, torch.ones(64, 3).to(torch.float8_e4m3fn))


def test_prepare_non_contiguous_weight():
    weight, scale = weight_and_scale()
    with pytest.raises(ValueError, match="weight must be contiguous"):
        nvfp4.prepare_weights_for_nvfp4_cutlass(weight.t().contiguous().t(), scale)


def test_prepare_wrong_weight_dtype():
    _, scale = weight_and_scale()
    with pytest.raises(TypeError, match="weight must be packed NVFP4"):
        nvfp4.prepare_weights_for_nvfp4_fbgemm(torch.zeros(64, 32, dtype=torch.int8), scale)


def test_prepare_wrong_scale_dtype():
    weight, _ = weight_and_scale()
    with pytest.raises(TypeError, match=r"weight_scale must be torch\.float8_e4m3fn"):
        nvfp4.prepare_weights_for_nvfp4_cutlass(weight, torch.ones(64, 4))


def test_prepare_weight_on_another_device():
    weight, scale = weight_and_scale()
    with pytest.raises(ValueError, match="weight_scale must be on weight's device cpu, got meta"):
        nvfp4.prepare_weights_for_nvfp4_cutlass(weight, scale.to("meta"))


def test_trtllm_layout_needs_rows_multiple_of_128():
    weight, scale = weight_and_scale(n=96)
    with pytest.raises(ValueError, match="multiple of 128, got 96"):
        nvfp4.prepare_weights_for_nvfp4_flashinfer_trtllm(weight, scale)
