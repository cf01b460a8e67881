"""Shared helpers of the test suite: input generators, equality in the sense DESIGN.md gives it,
the GPU skip marker, and where cuobjdump is and what the SASS of the Blackwell GEMMs must hold."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import nvfp4
from nvfp4 import reference

FLOAT_DTYPES = [torch.float32, torch.float16, torch.bfloat16]
DTYPE_IDS = ["fp32", "fp16", "bf16"]

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def spread_values(rows: int, k: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Normal values whose blocks of 16 span many binades (block scales from subnormal to
    saturated), so one tensor exercises every E4M3 exponent. fp16 keeps a narrower spread."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(rows, k, generator=generator)
    low, high = (-8, 8) if dtype == torch.float16 else (-24, 24)
    exponents = torch.randint(low, high, (rows, k // 16, 1), generator=generator)
    values = (values.reshape(rows, k // 16, 16) * torch.exp2(exponents.float())).reshape(rows, k)
    return values.to(dtype)


def decoded(packed: torch.Tensor) -> torch.Tensor:
    """Values of packed codes: the comparison DESIGN.md asks for (0x0 and 0x8 are both zero)."""
    return reference.e2m1_values(reference.unpack_codes(packed))


def assert_quantized_equal(actual: tuple[torch.Tensor, torch.Tensor], expected: tuple[torch.Tensor, torch.Tensor]):
    """Bit-exact NVFP4 equality: same shapes and dtypes, same decoded values, same scale bytes."""
    (packed, scale), (expected_packed, expected_scale) = actual, expected
    assert packed.shape == expected_packed.shape and packed.dtype == torch.uint8
    assert scale.shape == expected_scale.shape and scale.dtype == torch.float8_e4m3fn
    assert torch.equal(decoded(packed.cpu()), decoded(expected_packed.cpu()))
    assert torch.equal(scale.cpu().view(torch.uint8), expected_scale.cpu().view(torch.uint8))


def assert_same_result(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Bit-exact equality of two [rows, columns] results; on failure, says where they differ (a
    race shows as a band of rows or columns, a wrong formula everywhere)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    if torch.equal(actual, expected):
        return
    differ = (actual != expected).cpu()
    rows, columns = differ.any(1).nonzero().flatten(), differ.any(0).nonzero().flatten()

    def spread(indices: torch.Tensor) -> str:
        return f"{indices.numel()} ({int(indices.min())}..{int(indices.max())})"

    raise AssertionError(
        f"{int(differ.sum())} of {differ.numel()} values differ: rows {spread(rows)}, columns {spread(columns)}"
    )


def poisoned_outputs(rows: int, padded_k: int, swizzle: bool, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """.out buffers of scaled_fp4_quant filled with 0x7F (a NaN scale), so a byte the kernel
    forgets to write shows up."""
    packed_shape, scale_shape = nvfp4.ops.quantized_shapes(rows, padded_k, swizzle)
    packed = torch.full(packed_shape, 0x7F, dtype=torch.uint8, device=device)
    scale = torch.full(scale_shape, 0x7F, dtype=torch.uint8, device=device).view(torch.float8_e4m3fn)
    return packed, scale


# opcheck's test_schema detects mutation with torch.allclose, which has no float8 kernel on the
# CPU; for samples with float8 tensors the same property is checked byte-wise below instead.
ALL_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def tensors_of(args: tuple, kwargs: dict) -> dict[str, torch.Tensor]:
    items = [*((f"arg{i}", a) for i, a in enumerate(args)), *kwargs.items()]
    return {name: value for name, value in items if isinstance(value, torch.Tensor)}


def assert_only_declared_outputs_change(op, args: tuple, kwargs: dict) -> None:
    """test_schema's mutation rule, byte-wise: inputs keep their bytes, and the op changes only the
    arguments its schema marks as written (Tensor(a!))."""
    tensors = tensors_of(args, kwargs)
    before = {
        name: t.detach().clone().view(torch.uint8) if t.element_size() == 1 else t.detach().clone()
        for name, t in tensors.items()
    }
    op(*args, **kwargs)
    mutable = {a.name for a in op._schema.arguments if a.alias_info is not None and a.alias_info.is_write}
    for index, argument in enumerate(op._schema.arguments):
        name = argument.name if argument.name in kwargs else f"arg{index}"
        if name in tensors and argument.name not in mutable:
            after = tensors[name].view(torch.uint8) if tensors[name].element_size() == 1 else tensors[name]
            assert torch.equal(after, before[name]), f"{op} changed its input {argument.name}"


def run_opcheck(op, args: tuple, kwargs: dict | None = None) -> None:
    """torch.library.opcheck, with test_schema's mutation rule checked byte-wise for samples that
    hold float8 tensors."""
    kwargs = kwargs or {}
    has_float8 = any(t.dtype == torch.float8_e4m3fn for t in tensors_of(args, kwargs).values())
    if has_float8:
        assert_only_declared_outputs_change(op, args, kwargs)
    utils = tuple(u for u in ALL_UTILS if not (has_float8 and u == "test_schema"))
    torch.library.opcheck(op, args, kwargs, test_utils=utils)


def cuobjdump() -> str | None:
    """cuobjdump from the CUDA toolkit, else the copy Triton ships with torch."""
    found = shutil.which("cuobjdump")
    if found:
        return found
    try:
        import triton
    except ImportError:
        return None
    bundled = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    return str(bundled) if bundled.exists() else None


# The block-scaled FP4 MMA that every native Blackwell GEMM kernel holds in SASS: the tcgen05.mma
# on SM100 (its .2CTA form where the MMA spans a pair of SMs), the warp-level m16n8k64 MMA with E4M3
# scales on SM120.
FP4_MMA_SASS = {
    "sm100": r"\bUTCOMMA(\.2CTA)?\.4X\b",
    "sm120": r"\bOMMA\.SF\.16864\.F32\.E2M1\.E2M1\.UE4M3\.4X\b",
}


def cutlass_gemm_kernels(binary: Path) -> list[str]:
    """The SASS of each CUTLASS GEMM kernel (GemmUniversal) in `binary`, its mangled name first."""
    tool = cuobjdump()
    assert tool, "cuobjdump is needed (the CUDA toolkit's, or Triton's)"
    sass = subprocess.run([tool, "-sass", str(binary)], check=True, capture_output=True, text=True).stdout
    kernels = re.split(r"\n\s*Function : ", sass)[1:]
    return [kernel for kernel in kernels if "GemmUniversal" in kernel.split("\n", 1)[0]]


def small_llama(seed: int = 0) -> torch.nn.Module:
    """A 2-layer, 256-wide random Llama in bf16, built from a config (no download). Needs
    transformers (callers skip without it)."""
    import transformers

    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=512,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return transformers.LlamaForCausalLM(config).to(torch.bfloat16).eval()
