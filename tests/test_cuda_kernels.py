"""The CUDA kernels against the CPU kernels, bit for bit (values and scale bytes), with every
output buffer poisoned with 0x7F first; opcheck and CUDA-graph capture of the CUDA ops."""

from __future__ import annotations

import pytest
import torch
from conftest import DTYPE_IDS, FLOAT_DTYPES, assert_quantized_equal, poisoned_outputs, spread_values

import nvfp4
from nvfp4 import reference
from nvfp4._build import has_kernel

pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() and has_kernel("scaled_fp4_quant.out", "cuda")),
    reason="needs a CUDA GPU and a build with the CUDA kernels",
)

ROWS = [1, 90, 127, 128, 150, 300]
KS = [16, 48, 64, 80, 1056, 7152, 7168]


def quantize_on_both(x: torch.Tensor, gs: torch.Tensor, swizzle: bool, padded_k: int | None = None):
    stored_k = padded_k or x.shape[-1]
    out = poisoned_outputs(x.shape[:-1].numel(), stored_k, swizzle, "cuda")
    nvfp4.scaled_fp4_quant(x.cuda(), gs.cuda(), swizzle, padded_k, out=out)
    return out, nvfp4.scaled_fp4_quant(x, gs, swizzle, padded_k)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("rows", ROWS)
def test_quantize_grid(rows: int, k: int, dtype: torch.dtype):
    x = spread_values(rows, k, dtype, seed=rows * 7 + k)
    gs = reference.global_scale_from_amax(x)
    for swizzle in (True, False):
        assert_quantized_equal(*quantize_on_both(x, gs, swizzle))
        assert_quantized_equal(*quantize_on_both(x, gs, swizzle, padded_k=k + 32))


def test_quantize_random_shapes():
    generator = torch.Generator().manual_seed(200)
    for _ in range(200):
        rows = int(torch.randint(0, 600, (), generator=generator))
        k = 16 * int(torch.randint(1, 200, (), generator=generator))
        padded_k = k + 16 * int(torch.randint(0, 4, (), generator=generator))
        dtype = FLOAT_DTYPES[int(torch.randint(0, 3, (), generator=generator))]
        swizzle = bool(torch.randint(0, 2, (), generator=generator))
        x = spread_values(rows, k, dtype, seed=int(torch.randint(0, 2**31, (), generator=generator)))
        gs = reference.global_scale_from_amax(x)
        assert_quantized_equal(*quantize_on_both(x, gs, swizzle, padded_k))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_quantize_non_finite_tiny_and_invalid_scales(dtype: torch.dtype):
    x = spread_values(130, 96, torch.float32, seed=9)
    x[0, 3], x[5, 40], x[7, 95] = float("nan"), float("inf"), float("-inf")
    x[10:20] *= 2.0**-120  # tiny blocks: subnormal and zero scales
    x[20, :16] = 2.0**-149
    x = x.to(dtype)
    for gs in (
        reference.global_scale_from_amax(x),
        torch.tensor(2.0**126),
        torch.tensor(0.0),
        torch.tensor(float("nan")),
        torch.tensor(-1.0),
    ):
        for swizzle in (True, False):
            assert_quantized_equal(*quantize_on_both(x, gs, swizzle, padded_k=128))


def test_quantize_unaligned_input_and_zero_rows():
    base = spread_values(65, 64, torch.bfloat16, seed=10)
    x = base.flatten()[1 : 1 + 64 * 64].reshape(64, 64)
    gs = reference.global_scale_from_amax(x)
    # The same view on the GPU: contiguous, 2 bytes past 16-byte alignment (element loads).
    unaligned = base.cuda().flatten()[1 : 1 + 64 * 64].reshape(64, 64)
    assert unaligned.data_ptr() % 16 == 2
    out = poisoned_outputs(64, 64, True, "cuda")
    nvfp4.scaled_fp4_quant(unaligned, gs.cuda(), True, out=out)
    assert_quantized_equal(out, nvfp4.scaled_fp4_quant(x, gs, True))
    assert_quantized_equal(*quantize_on_both(torch.empty(0, 64, dtype=torch.bfloat16), gs, True))


@pytest.mark.parametrize("out_dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("swizzled", [True, False], ids=["swizzled", "linear"])
def test_dequantize(swizzled: bool, out_dtype: torch.dtype):
    x = spread_values(150, 1056, torch.float32, seed=11)
    x[3, 7] = float("nan")
    gs = reference.global_scale_from_amax(x)
    packed, scale = nvfp4.scaled_fp4_quant(x, gs, swizzled, 1088)
    expected = nvfp4.dequantize(packed, scale, gs, swizzled, out_dtype)
    out = torch.full(expected.shape, float("nan"), dtype=out_dtype, device="cuda")
    nvfp4.dequantize(packed.cuda(), scale.cuda(), gs.cuda(), swizzled, out_dtype, out=out)
    assert torch.equal(out.cpu().nan_to_num(), expected.nan_to_num())
    assert torch.equal(out.cpu().isnan(), expected.isnan())


@pytest.mark.parametrize("shape", [(1, 1), (150, 7), (300, 448), (3, 90, 3), (0, 4)], ids=str)
def test_swizzle_and_unswizzle(shape: tuple[int, ...]):
    scale = torch.randint(0, 0x7F, shape, dtype=torch.uint8).view(torch.float8_e4m3fn)
    expected = nvfp4.swizzle_blockscale(scale)
    out = torch.full(expected.shape, 0x7F, dtype=torch.uint8, device="cuda").view(torch.float8_e4m3fn)
    nvfp4.swizzle_blockscale(scale.cuda(), out=out)
    assert torch.equal(out.cpu().view(torch.uint8), expected.view(torch.uint8))
    back = nvfp4.unswizzle_blockscale(out, shape[-2], shape[-1])
    assert torch.equal(back.cpu().view(torch.uint8), scale.view(torch.uint8))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("special", [None, float("nan"), float("inf"), 0.0, 1e-45], ids=str)
def test_global_scale_from_amax(dtype: torch.dtype, special: float | None):
    x = spread_values(300, 7168, dtype, seed=12)
    if special is not None:
        x.view(-1)[12345] = special
        if special == 0.0 or special == 1e-45:
            x.fill_(special)
    out = torch.full((), float("nan"), device="cuda")
    nvfp4.global_scale_from_amax(x.cuda(), out=out)
    assert out.cpu().view(torch.int32).item() == nvfp4.global_scale_from_amax(x).view(torch.int32).item()


# From one block of 16 values to 300 x 7168, K a multiple of 64 or not, with an Inf and a NaN.
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("shape", [(300, 7168), (1, 16), (3, 48), (16, 4096), (257, 4112)], ids=str)
def test_qdq(shape: tuple[int, int], dtype: torch.dtype):
    x = spread_values(*shape, dtype, seed=13)
    x[shape[0] // 2, shape[1] // 3] = float("inf")
    x[-1, -1] = float("nan")
    gs = reference.global_scale_from_amax(x[x.isfinite()])
    out = torch.full(x.shape, float("nan"), dtype=dtype, device="cuda")
    nvfp4.nvfp4_qdq(x.cuda(), gs.cuda(), out=out)
    expected = nvfp4.nvfp4_qdq(x, gs)
    assert torch.equal(out.cpu().nan_to_num(), expected.nan_to_num())
    assert torch.equal(out.cpu().isnan(), expected.isnan())


# Unaligned input and output (element loads and stores), and a global scale that is not finite and
# positive (every block NaN).
@pytest.mark.parametrize("shape", [(3, 48), (300, 7168)], ids=str)
@pytest.mark.parametrize("gs_value", [None, 0.0, float("nan"), float("inf")], ids=str)
def test_qdq_unaligned_and_invalid_scales(shape: tuple[int, int], gs_value: float | None):
    values = shape[0] * shape[1]
    x = spread_values(1, values, torch.bfloat16, seed=17).reshape(shape)
    gs = reference.global_scale_from_amax(x) if gs_value is None else torch.tensor(gs_value)
    # Contiguous views that start 2 bytes past 16-byte alignment.
    unaligned = torch.cat((torch.zeros(1, dtype=torch.bfloat16), x.flatten())).cuda()[1:].reshape(shape)
    out = torch.full((values + 1,), float("nan"), dtype=torch.bfloat16, device="cuda")[1:].reshape(shape)
    assert unaligned.data_ptr() % 16 == 2 and out.data_ptr() % 16 == 2
    nvfp4.nvfp4_qdq(unaligned, gs.cuda(), out=out)
    expected = nvfp4.nvfp4_qdq(x, gs)
    assert torch.equal(out.cpu().nan_to_num(), expected.nan_to_num())
    assert torch.equal(out.cpu().isnan(), expected.isnan())


def cuda_samples():
    x = spread_values(150, 48, torch.bfloat16, seed=14).cuda()
    gs = nvfp4.global_scale_from_amax(x)
    packed, swizzled = nvfp4.scaled_fp4_quant(x, gs, True)
    ops = torch.ops.nvfp4
    return [
        ("quant", ops.scaled_fp4_quant.default, (x, gs, True, 64)),
        ("dequant", ops.dequantize.default, (packed, swizzled, gs, True, torch.float16)),
        ("swizzle", ops.swizzle_blockscale.default, (nvfp4.unswizzle_blockscale(swizzled, 150, 3),)),
        ("unswizzle", ops.unswizzle_blockscale.default, (swizzled, 150, 3)),
        ("amax", ops.global_scale_from_amax.default, (x,)),
        ("qdq", ops.nvfp4_qdq.default, (x, gs)),
    ]


@pytest.mark.parametrize("index", range(6), ids=["quant", "dequant", "swizzle", "unswizzle", "amax", "qdq"])
def test_opcheck(index: int):
    _, op, args = cuda_samples()[index]
    has_float8 = any(isinstance(a, torch.Tensor) and a.dtype == torch.float8_e4m3fn for a in args)
    utils = ("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
    torch.library.opcheck(op, args, test_utils=utils if has_float8 else ("test_schema", *utils))


def test_kernels_run_inside_a_captured_graph():
    x = spread_values(150, 1056, torch.bfloat16, seed=15).cuda()
    gs = torch.empty((), device="cuda")
    out = poisoned_outputs(150, 1088, True, "cuda")
    qdq = torch.empty_like(x)

    def step():
        nvfp4.global_scale_from_amax(x, out=gs)
        nvfp4.scaled_fp4_quant(x, gs, True, 1088, out=out)
        nvfp4.nvfp4_qdq(x, gs, out=qdq)

    step()  # warm up outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    x.copy_(spread_values(150, 1056, torch.bfloat16, seed=16).cuda())
    graph.replay()
    torch.cuda.synchronize()
    x_cpu = x.cpu()
    expected_gs = nvfp4.global_scale_from_amax(x_cpu)
    assert gs.cpu().item() == expected_gs.item()
    assert_quantized_equal(out, nvfp4.scaled_fp4_quant(x_cpu, expected_gs, True, 1088))
    assert torch.equal(qdq.cpu(), nvfp4.nvfp4_qdq(x_cpu, expected_gs))
