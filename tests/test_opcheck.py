"""Every op with tensor arguments passes torch.library.opcheck (schema, fake implementation,
autograd registration, AOT dispatch), and quantize -> dequantize compiles with fullgraph=True
to the same bits as eager."""

from __future__ import annotations

import pytest
import torch
from conftest import poisoned_outputs, run_opcheck, spread_values

import nvfp4

DEVICE = "cpu"
ops = torch.ops.nvfp4


def samples() -> list[tuple[str, object, tuple, dict]]:
    x = spread_values(150, 48, torch.bfloat16, seed=1).to(DEVICE)
    gs = nvfp4.global_scale_from_amax(x)
    packed, swizzled = nvfp4.scaled_fp4_quant(x, gs, True)
    _, linear = nvfp4.scaled_fp4_quant(x, gs, False)
    cases = [
        ("quant_swizzled", ops.scaled_fp4_quant.default, (x, gs, True, None), {}),
        ("quant_linear_padded", ops.scaled_fp4_quant.default, (x.reshape(3, 50, 48), gs, False, 64), {}),
        ("quant_fp32_0rows", ops.scaled_fp4_quant.default, (torch.empty(0, 32, device=DEVICE), gs, True, None), {}),
        ("dequant_swizzled", ops.dequantize.default, (packed, swizzled, gs, True, torch.bfloat16), {}),
        (
            "dequant_linear_fp4x2",
            ops.dequantize.default,
            (packed.view(torch.float4_e2m1fn_x2), linear, gs, False, torch.float32),
            {},
        ),
        ("swizzle_2d", ops.swizzle_blockscale.default, (linear,), {}),
        ("swizzle_3d", ops.swizzle_blockscale.default, (linear.reshape(3, 50, 3),), {}),
        ("unswizzle", ops.unswizzle_blockscale.default, (swizzled, 150, 3), {}),
        ("amax", ops.global_scale_from_amax.default, (x,), {}),
        ("qdq", ops.nvfp4_qdq.default, (x.reshape(3, 50, 48), gs), {}),
    ]
    out_packed, out_scale = poisoned_outputs(150, 64, True, DEVICE)
    cases += [
        ("quant_out", ops.scaled_fp4_quant.out, (x, gs, True, 64), {"packed": out_packed, "block_scale": out_scale}),
        (
            "dequant_out",
            ops.dequantize.out,
            (packed, swizzled, gs, True, torch.float16),
            {"out": torch.empty(150, 48, dtype=torch.float16, device=DEVICE)},
        ),
        (
            "swizzle_out",
            ops.swizzle_blockscale.out,
            (linear,),
            {"out": torch.empty(256, 4, dtype=torch.float8_e4m3fn, device=DEVICE)},
        ),
        (
            "unswizzle_out",
            ops.unswizzle_blockscale.out,
            (swizzled, 150, 3),
            {"out": torch.empty(150, 3, dtype=torch.float8_e4m3fn, device=DEVICE)},
        ),
        ("amax_out", ops.global_scale_from_amax.out, (x,), {"out": torch.empty((), device=DEVICE)}),
        ("qdq_out", ops.nvfp4_qdq.out, (x, gs), {"out": torch.empty_like(x)}),
    ]
    return cases


SAMPLES = samples()


@pytest.mark.parametrize(("op", "args", "kwargs"), [case[1:] for case in SAMPLES], ids=[case[0] for case in SAMPLES])
def test_opcheck(op, args: tuple, kwargs: dict):
    run_opcheck(op, args, kwargs)


def test_every_op_with_tensor_arguments_has_a_sample():
    checked = {str(case[1]).removeprefix("nvfp4.") for case in SAMPLES}
    schemas = [s for s in torch._C._jit_get_all_schemas() if s.name.startswith("nvfp4::")]
    with_tensors = {
        s.name.removeprefix("nvfp4::") + ("." + s.overload_name if s.overload_name else ".default")
        for s in schemas
        if any(isinstance(a.type, torch._C.TensorType) for a in s.arguments)
    }
    # Checked elsewhere: the CUDA-only ops on the GPU (the build probes in tests/test_build.py, the
    # Hopper GEMM in tests/test_sm90_gemm.py, the Blackwell GEMM in tests/test_cutlass_fp4_mm.py),
    # and the library GEMMs' op against stand-ins of the libraries in tests/test_library_backends.py.
    elsewhere = ("probe", "sm90", "cutlass_fp4_mm", "cutlass_scaled_fp4_mm", "library_scaled_fp4_mm")
    cpu_ops = {name for name in with_tensors if not any(part in name for part in elsewhere)}
    assert cpu_ops <= checked, f"ops without an opcheck sample: {sorted(cpu_ops - checked)}"


def quantize_dequantize(x: torch.Tensor) -> torch.Tensor:
    gs = ops.global_scale_from_amax(x)
    packed, scale = ops.scaled_fp4_quant(x, gs, True, 64)
    return ops.dequantize(packed, scale, gs, True, x.dtype)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_compile_fullgraph_equals_eager(dynamic: bool):
    torch._dynamo.reset()
    compiled = torch.compile(quantize_dequantize, fullgraph=True, dynamic=dynamic)
    for rows in (150, 7, 300):  # with dynamic shapes, one graph serves every row count
        x = spread_values(rows, 48, torch.bfloat16, seed=rows).to(DEVICE)
        eager = quantize_dequantize(x)
        assert torch.equal(compiled(x), eager)
        assert torch.count_nonzero(eager) > 0
