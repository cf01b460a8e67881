"""The native Blackwell NVFP4 GEMM (cutlass_scaled_fp4_mm): its argument checks and fake on any
machine, the clear error where no kernel serves the device, which capabilities this build
supports, and on a Blackwell GPU (compute capability 10.x or 12.x) the product against the fp32
reference of DESIGN.md section 3."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import run_opcheck
from torch._subclasses.fake_tensor import FakeTensorMode

import nvfp4
from nvfp4 import reference
from nvfp4._build import has_kernel, manifest, target_runs_on
from nvfp4.constants import round_up

# DESIGN.md section 3: one tolerance for every GEMM test.
RELATIVE_TOLERANCE = 5e-3


def blackwell_module() -> str:
    """The architecture module of this GPU if it is a Blackwell one this build holds, else ""."""
    if not torch.cuda.is_available():
        return ""
    major, _ = torch.cuda.get_device_capability()
    module = {10: "sm100", 12: "sm120"}.get(major, "")
    return module if module and has_kernel(f"_cutlass_fp4_mm_{module}", "cuda") else ""


requires_blackwell = pytest.mark.skipif(
    not blackwell_module(), reason="needs a Blackwell GPU (10.x or 12.x) and a build with its module"
)


def operands(m: int, n: int, k: int, device="cpu", seed: int = 0):
    """Random a [m, k] and b [n, k] quantized to NVFP4 with swizzled scales (K and N as given), and
    alpha = 1 / (gs_a * gs_b)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(m, k, generator=generator).to(device=device, dtype=torch.bfloat16)
    w = torch.randn(n, k, generator=generator).to(device=device, dtype=torch.bfloat16)
    gs_a, gs_b = reference.global_scale_from_amax(x), reference.global_scale_from_amax(w)
    a, scale_a = nvfp4.scaled_fp4_quant(x, gs_a)
    b, scale_b = nvfp4.scaled_fp4_quant(w, gs_b)
    return a, b, scale_a, scale_b, (1.0 / (gs_a * gs_b)).float().reshape(())


# ---------------------------------------------------------------------------------------------
# Any machine
# ---------------------------------------------------------------------------------------------


def test_cpu_tensors_get_a_clear_error():
    a, b, scale_a, scale_b, alpha = operands(4, 32, 64)
    with pytest.raises(NotImplementedError, match=r"compute capability 10\.x and 12\.x.*nvfp4\.reference"):
        nvfp4.cutlass_scaled_fp4_mm(a, b, scale_a, scale_b, alpha, None, torch.bfloat16)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: {**t, "a": t["a"].view(torch.int8)}, "a must be uint8 or torch.float4_e2m1fn_x2"),
        (lambda t: {**t, "b": t["b"][:, :16]}, "a and b must have the same K"),
        (lambda t: {**t, "b": t["b"][:16]}, r"N \(b's rows\) must be a positive multiple of 32"),
        (lambda t: {**t, "block_scale_a": t["block_scale_a"][:64]}, "block_scale_a must be swizzled"),
        (lambda t: {**t, "block_scale_b": t["block_scale_b"].view(torch.uint8)}, "block_scale_b must be torch.float8"),
        (lambda t: {**t, "alpha": t["alpha"].double()}, "alpha must be float32"),
        (lambda t: {**t, "alpha": torch.ones(3)}, r"alpha must be 0-dim, \[1\] or \[N\]"),
        (lambda t: {**t, "bias": torch.zeros(32, dtype=torch.float16)}, "bias must have out_dtype"),
        (lambda t: {**t, "bias": torch.zeros(31, dtype=torch.bfloat16)}, r"bias must be \[N\]"),
        (lambda t: {**t, "out_dtype": torch.float32}, "out_dtype must be bfloat16 or float16"),
    ],
    ids=[
        "a-dtype",
        "k-mismatch",
        "n-not-32",
        "scale-a-shape",
        "scale-b-dtype",
        "alpha-dtype",
        "alpha-shape",
        "bias-dtype",
        "bias-shape",
        "out-dtype",
    ],
)
def test_bad_arguments_get_errors_naming_them(change, message: str):
    a, b, scale_a, scale_b, alpha = operands(4, 32, 64)
    arguments = {
        "a": a,
        "b": b,
        "block_scale_a": scale_a,
        "block_scale_b": scale_b,
        "alpha": alpha,
        "bias": None,
        "out_dtype": torch.bfloat16,
    }
    changed = change(arguments)
    with pytest.raises(RuntimeError, match=message):
        nvfp4.cutlass_scaled_fp4_mm(
            changed["a"],
            changed["b"],
            changed["block_scale_a"],
            changed["block_scale_b"],
            changed["alpha"],
            changed["bias"],
            changed["out_dtype"],
        )


def test_k_not_a_multiple_of_32_gets_an_error():
    a, b, scale_a, scale_b, alpha = operands(4, 32, 48)
    with pytest.raises(RuntimeError, match="K must be a positive multiple of 32"):
        nvfp4.cutlass_scaled_fp4_mm(a, b, scale_a, scale_b, alpha, None, torch.bfloat16)


def test_fake_gives_shape_and_dtype():
    a, b, scale_a, scale_b, alpha = operands(5, 64, 128)
    with FakeTensorMode() as mode:
        fake = [mode.from_tensor(t) for t in (a, b, scale_a, scale_b, alpha)]
        out = torch.ops.nvfp4.cutlass_scaled_fp4_mm(*fake, None, torch.float16)
        # The .out overload has a fake too (it writes its buffer and returns nothing).
        torch.ops.nvfp4.cutlass_scaled_fp4_mm.out(*fake, None, torch.float16, out=out)
    assert out.shape == (5, 64) and out.dtype == torch.float16


@pytest.mark.parametrize(("capability", "module"), [(100, "sm100"), (103, "sm100"), (120, "sm120"), (121, "sm120")])
def test_supported_capabilities_follow_the_build(capability: int, module: str):
    # True only where the module was built for a target that runs there (the manifest): sm_100a
    # does not serve 10.3, sm_100f does.
    targets = manifest()["modules"].get(f"_C_{module}", {"targets": []})["targets"]
    expected = any(target_runs_on(target, *divmod(capability, 10)) for target in targets)
    assert nvfp4.cutlass_scaled_mm_supports_fp4(capability) == expected


@pytest.mark.parametrize("capability", [80, 89, 90, 110])
def test_other_capabilities_are_not_supported(capability: int):
    assert not nvfp4.cutlass_scaled_mm_supports_fp4(capability)


# ---------------------------------------------------------------------------------------------
# A GPU that is not a Blackwell one this build holds
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not torch.cuda.is_available() or bool(blackwell_module()), reason="needs a CUDA GPU without this op's kernels"
)
def test_other_gpus_get_an_error_naming_the_gpu():
    a, b, scale_a, scale_b, alpha = operands(4, 32, 64, device="cuda")
    name = torch.cuda.get_device_name()
    with pytest.raises(NotImplementedError, match=re.escape(f"_cutlass_fp4_mm has no kernel for {name}")):
        nvfp4.cutlass_scaled_fp4_mm(a, b, scale_a, scale_b, alpha, None, torch.bfloat16)


# ---------------------------------------------------------------------------------------------
# A Blackwell GPU
# ---------------------------------------------------------------------------------------------


def expected(a, b, scale_a, scale_b, alpha, bias, n: int, k: int) -> torch.Tensor:
    """The fp32 reference in the raw terms of DESIGN.md section 3: a decoded from its codes and
    scales (gs 1: alpha carries the global scales), times b's codes and scales."""
    decoded_a = reference.dequantize(a, scale_a, 1.0, swizzled=True)
    return reference.scaled_fp4_mm(decoded_a, b, reference.unswizzle_blockscale(scale_b, n, k // 16), alpha, bias)


@requires_blackwell
@pytest.mark.parametrize("m", [1, 3, 127, 128, 150, 1000])
@pytest.mark.parametrize(("n", "k"), [(32, 64), (4000, 4112)], ids=["small", "padded"])
@pytest.mark.parametrize("per_column_alpha", [False, True], ids=["alpha", "alpha-per-column"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["", "bias"])
@pytest.mark.parametrize("out_dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_gemm_matches_the_reference(m, n, k, per_column_alpha, with_bias, out_dtype):
    padded_n, padded_k = round_up(n, 32), round_up(k, 32)
    a, b, scale_a, scale_b, alpha = operands(m, padded_n, padded_k, device="cuda", seed=m + n)
    if per_column_alpha:
        alpha = alpha * (torch.rand(padded_n, device="cuda") + 0.5)
    bias = torch.randn(padded_n, device="cuda").to(out_dtype) if with_bias else None
    out = torch.full((m, padded_n), float("nan"), device="cuda", dtype=out_dtype)
    nvfp4.cutlass_scaled_fp4_mm(a, b, scale_a, scale_b, alpha, bias, out_dtype, out=out)
    ref = expected(a, b, scale_a, scale_b, alpha, bias, padded_n, padded_k)
    assert torch.isfinite(out).all() and out.abs().sum() > 0
    assert (out.float() - ref).norm() / ref.norm() <= RELATIVE_TOLERANCE


@requires_blackwell
def test_opcheck():
    a, b, scale_a, scale_b, alpha = operands(3, 64, 128, device="cuda")
    bias = torch.randn(64, device="cuda", dtype=torch.bfloat16)
    run_opcheck(torch.ops.nvfp4.cutlass_scaled_fp4_mm.default, (a, b, scale_a, scale_b, alpha, bias, torch.bfloat16))
