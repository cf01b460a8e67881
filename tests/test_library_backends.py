"""The backends that call FlashInfer's mm_fp4 or FBGEMM's f4f4bf16 (nvfp4/library_gemms.py), on any
machine: their weight layouts round-trip, the selection rule names what they need, one alpha is
made from per-channel global scales with its error measured, and the calls the project makes give
the product when the libraries behave as their documentation says. Stand-ins written from that
documentation take the libraries' place (they decode their arguments with nvfp4.reference); the
libraries themselves need a Blackwell GPU, which these tests do not."""

from __future__ import annotations

import logging
import re
import sys
import types

import pytest
import torch
from conftest import run_opcheck
from test_linear import RELATIVE_TOLERANCE, activations, as_namespace, checkpoint_layer, oracle, relative_error

import nvfp4
from nvfp4 import backends, reference
from nvfp4.backends import NvFp4LinearBackend, backend_unavailable_reason
from nvfp4.linear import (
    against_common_global_scale,
    apply_nvfp4_linear,
    checkpoint_form,
    convert_to_nvfp4_linear_kernel_format,
    kernel_form,
)

LIBRARY_BACKENDS = [backend for backend in NvFp4LinearBackend if backend.library is not None]
IDS = [backend.value for backend in LIBRARY_BACKENDS]


def decode(packed: torch.Tensor, swizzled_scale: torch.Tensor, rows: int, k: int) -> torch.Tensor:
    """e2m1 * sf of a packed [rows, k/2] matrix with swizzled scales, fp32."""
    scale = reference.unswizzle_blockscale(swizzled_scale.view(torch.float8_e4m3fn), rows, k // 16)
    return reference.dequantize(packed.view(torch.uint8), scale, 1.0, swizzled=False)


def mm_fp4(a, b, a_descale, b_descale, alpha=None, out_dtype=torch.bfloat16, out=None, block_size=16, **kwargs):
    """FlashInfer's mm_fp4 as documented: a [m, k/2] packed, b [k/2, n] column major, a_descale and
    b_descale the 128x4-swizzled scales ([k/16, n] for b), alpha one fp32 value; the TRT-LLM
    kernels read the weight as shuffle_matrix_a / shuffle_matrix_sf_a leave it, and write bf16."""
    backend = kwargs["backend"]
    assert block_size == 16 and kwargs.get("use_8x4_sf_layout", False) is False
    assert a.dtype == b.dtype == torch.uint8 and b.stride(0) == 1, "b is the K-major weight's transposed view"
    assert a_descale.dtype == b_descale.dtype == (torch.float8_e4m3fn if backend == "trtllm" else torch.uint8)
    assert alpha.dtype == torch.float32 and alpha.numel() == 1
    assert backend != "trtllm" or out_dtype == torch.bfloat16
    weight, weight_scale = b.t(), b_descale.t()
    n, k = weight.shape[0], weight.shape[1] * 2
    if backend == "trtllm":
        weight, linear = nvfp4.unprepare_weights_for_nvfp4_flashinfer_trtllm(weight, weight_scale)
        weight_scale = reference.swizzle_blockscale(linear)
    product = decode(a, a_descale, a.shape[0], k) @ decode(weight, weight_scale, n, k).T
    return (product * alpha).to(out_dtype)


def f4f4bf16(xq, wq, x_scale, w_scale, global_scale=None, use_mx=True):
    """FBGEMM's f4f4bf16 as documented: packed x [m, k/2] and weight [n, k/2], their swizzled
    scales flattened to bytes, global_scale one fp32 value; NVFP4 with use_mx=False; bf16 out."""
    assert use_mx is False and x_scale.dtype == w_scale.dtype == torch.uint8 and x_scale.dim() == w_scale.dim() == 1
    m, n, k = xq.shape[0], wq.shape[0], xq.shape[1] * 2
    _, x_shape = nvfp4.ops.quantized_shapes(m, k, swizzle=True)
    _, w_shape = nvfp4.ops.quantized_shapes(n, k, swizzle=True)
    product = decode(xq, x_scale.reshape(x_shape), m, k) @ decode(wq, w_scale.reshape(w_shape), n, k).T
    return (product * global_scale).to(torch.bfloat16)


@pytest.fixture
def stand_in_libraries(monkeypatch):
    """flashinfer.mm_fp4 and torch.ops.fbgemm.f4f4bf16 as the stand-ins above (where the real ones
    are installed, the tests that need these skip rather than replace them)."""
    if backends._installed("flashinfer") or backends._installed("fbgemm_gpu"):
        pytest.skip("FlashInfer or FBGEMM is installed: its own GEMM needs a Blackwell GPU")
    monkeypatch.setitem(sys.modules, "flashinfer", types.SimpleNamespace(mm_fp4=mm_fp4))
    for name in ("fbgemm_gpu", "fbgemm_gpu.experimental", "fbgemm_gpu.experimental.gen_ai"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr(torch.ops, "fbgemm", types.SimpleNamespace(f4f4bf16=f4f4bf16), raising=False)


@pytest.mark.parametrize("backend", LIBRARY_BACKENDS, ids=IDS)
@pytest.mark.parametrize(("m", "n", "k"), [(3, 128, 64), (17, 256, 4112)])
def test_library_backend_computes_the_product(stand_in_libraries, backend, m, n, k):
    attributes = checkpoint_layer(n, k, w4a4=True)
    layer = as_namespace(attributes)
    convert_to_nvfp4_linear_kernel_format(backend, layer)
    x = activations((m, k))
    bias = activations((n,), seed=3)
    out = apply_nvfp4_linear(backend, layer, x, bias)
    assert out.shape == (m, n) and out.dtype == x.dtype
    assert relative_error(out, oracle(attributes, x, bias)) <= RELATIVE_TOLERANCE


@pytest.mark.parametrize("backend", LIBRARY_BACKENDS, ids=IDS)
def test_library_op_opcheck_and_torch_compile(stand_in_libraries, backend):
    """The library call is one opaque op (a schema and a fake), so the layer compiles whole."""
    layer = as_namespace(checkpoint_layer(128, 64, w4a4=True))
    convert_to_nvfp4_linear_kernel_format(backend, layer)
    x = activations((3, 64))
    x_fp4, x_scale = nvfp4.scaled_fp4_quant(x, layer.input_global_scale_inv, swizzle=True)
    arguments = (backend.value, x_fp4, layer.weight, x_scale, layer.weight_scale, layer.alpha, torch.bfloat16)
    run_opcheck(torch.ops.nvfp4.library_scaled_fp4_mm.default, arguments)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return apply_nvfp4_linear(backend, layer, x)

    torch._dynamo.reset()
    assert torch.equal(torch.compile(forward, fullgraph=True)(x), forward(x))


@pytest.mark.parametrize("backend", LIBRARY_BACKENDS, ids=IDS)
def test_nvfp4linear_on_a_library_backend(stand_in_libraries, backend):
    """The module on a library backend: the product of its emulation, the checkpoint's bytes back."""
    torch.manual_seed(0)
    source = torch.nn.Linear(64, 128, dtype=torch.bfloat16)
    layer = nvfp4.NVFP4Linear.from_linear(source, backend=backend)
    emulated = nvfp4.NVFP4Linear.from_linear(source, backend=NvFp4LinearBackend.EMULATION)
    x = activations((4, 64))
    assert relative_error(layer(x), emulated(x)) <= RELATIVE_TOLERANCE
    for (name, tensor), expected in zip(layer.state_dict().items(), emulated.state_dict().values(), strict=True):
        assert torch.equal(tensor.reshape(-1).view(torch.uint8), expected.reshape(-1).view(torch.uint8)), name


@pytest.mark.parametrize("backend", [NvFp4LinearBackend.FLASHINFER_TRTLLM, NvFp4LinearBackend.FBGEMM])
def test_bf16_only_backends_refuse_fp16(stand_in_libraries, backend):
    layer = as_namespace(checkpoint_layer(128, 64, w4a4=True))
    convert_to_nvfp4_linear_kernel_format(backend, layer)
    with pytest.raises(TypeError, match=f"the {backend.value} backend writes bfloat16 only; x is torch.float16"):
        apply_nvfp4_linear(backend, layer, activations((2, 64), torch.float16))


@pytest.mark.parametrize("backend", LIBRARY_BACKENDS, ids=IDS)
def test_weight_layouts_round_trip(backend):
    n, k = 256, 4112
    attributes = checkpoint_layer(n, k, w4a4=False)
    packed, scale = attributes["weight"], attributes["weight_scale"]
    weight, weight_scale, padding = kernel_form(backend, packed, scale)
    restored = checkpoint_form(backend, weight, weight_scale, padding, n, k)
    assert torch.equal(restored[0], packed)
    assert torch.equal(restored[1].view(torch.uint8), scale.view(torch.uint8))


def test_common_global_scale_of_equal_scales_is_exact():
    attributes = checkpoint_layer(64, 128, w4a4=False)
    scales = attributes["weight_global_scale"].expand(64)
    rescaled, common, error = against_common_global_scale(attributes["weight"], attributes["weight_scale"], scales)
    assert error == 0.0 and torch.equal(common, scales[0])
    assert torch.equal(rescaled.view(torch.uint8), attributes["weight_scale"].view(torch.uint8))


def test_per_channel_scales_become_one_alpha_with_a_warning(stand_in_libraries, caplog):
    attributes = checkpoint_layer(128, 256, w4a4=True, per_channel=True)
    layer = as_namespace(attributes)
    with caplog.at_level(logging.WARNING, logger="nvfp4"):
        convert_to_nvfp4_linear_kernel_format(NvFp4LinearBackend.FLASHINFER_CUTLASS, layer)
    assert layer.weight_global_scale.dim() == 0 and layer.alpha.dim() == 0
    assert torch.equal(layer.weight_global_scale, attributes["weight_global_scale"].max())
    assert torch.equal(layer.alpha, attributes["alpha"].max())
    message = caplog.records[-1].getMessage()
    assert "the flashinfer-cutlass backend takes one alpha" in message and "relative weight error" in message
    # The error reported is the weight's: the first shard's block scales shrink by the ratio of the
    # shards' global scales (about 1/37) and lose bits to E4M3's rounding; the product stays within
    # the GEMM tolerance.
    error = float(message.rsplit(" ", 1)[1].rstrip(")"))
    assert 0 < error < RELATIVE_TOLERANCE
    x = activations((5, 256))
    assert (
        relative_error(apply_nvfp4_linear(NvFp4LinearBackend.FLASHINFER_CUTLASS, layer, x), oracle(attributes, x, None))
        <= RELATIVE_TOLERANCE
    )


def test_nvfp4linear_keeps_per_channel_scales_exact_or_refuses():
    attributes = checkpoint_layer(128, 256, w4a4=False, per_channel=True)
    weight, scale, decode_scales = attributes["weight"], attributes["weight_scale"], attributes["weight_global_scale"]
    with pytest.raises(ValueError, match="the fbgemm backend takes one alpha, and this layer has a weight_scale_2 per"):
        nvfp4.NVFP4Linear.from_checkpoint(weight, scale, decode_scales, activation_scale="dynamic", backend="fbgemm")
    layer = nvfp4.NVFP4Linear.from_checkpoint(weight, scale, decode_scales, activation_scale="dynamic")
    with pytest.raises(ValueError, match="convert_to_nvfp4_linear_kernel_format, which re-expresses"):
        layer.set_backend("flashinfer-trtllm")
    assert layer.backend is NvFp4LinearBackend.EMULATION  # unchanged


def stand_in_gpu(monkeypatch, capability: tuple[int, int], installed: bool) -> None:
    monkeypatch.setattr(backends, "_capability", lambda device: capability)
    monkeypatch.setattr(backends, "_gpu_name", lambda device: "a GPU")
    monkeypatch.setattr(backends, "_installed", lambda module: installed)
    monkeypatch.setattr(backends, "cutlass_scaled_mm_supports_fp4", lambda value: value // 10 in (10, 12))


@pytest.mark.parametrize(
    ("backend", "capability", "installed", "message"),
    [
        ("flashinfer-cutlass", (10, 0), True, None),
        ("flashinfer-cudnn", (12, 0), True, None),
        ("fbgemm", (10, 3), True, None),
        ("flashinfer-trtllm", (12, 0), True, r"needs a GPU of compute capability 10\.x; this is a GPU"),
        ("flashinfer-cutlass", (9, 0), True, r"compute capability 10\.x or 12\.x"),
        (
            "flashinfer-cudnn",
            (10, 0),
            False,
            r"calls flashinfer, which is not installed \(pip install flashinfer-python\)",
        ),
        ("fbgemm", (10, 0), False, r"calls fbgemm_gpu, which is not installed \(pip install fbgemm-gpu-genai\)"),
    ],
)
def test_library_backends_say_what_they_need(monkeypatch, backend, capability, installed, message):
    stand_in_gpu(monkeypatch, capability, installed)
    reason = backend_unavailable_reason(NvFp4LinearBackend(backend), "cuda:0")
    assert reason is None if message is None else reason is not None and re.search(message, reason)
    w4a16 = backend_unavailable_reason(NvFp4LinearBackend(backend), "cuda:0", rounds_activations=False)
    assert "no activation scale" in w4a16


def test_library_backends_run_only_when_named(monkeypatch):
    stand_in_gpu(monkeypatch, (10, 0), installed=True)
    monkeypatch.delenv(backends.BACKEND_VARIABLE, raising=False)
    assert backends.select_nvfp4_linear_backend("cuda:0") is NvFp4LinearBackend.CUTLASS
    monkeypatch.setenv(backends.BACKEND_VARIABLE, "flashinfer-trtllm")
    assert backends.select_nvfp4_linear_backend("cuda:0") is NvFp4LinearBackend.FLASHINFER_TRTLLM


def test_a_missing_library_is_named_at_the_call(monkeypatch):
    layer = as_namespace(checkpoint_layer(128, 64, w4a4=True))
    convert_to_nvfp4_linear_kernel_format(NvFp4LinearBackend.FBGEMM, layer)
    monkeypatch.setitem(sys.modules, "fbgemm_gpu.experimental.gen_ai", None)  # import fails
    with pytest.raises(ModuleNotFoundError, match=r"the fbgemm backend calls fbgemm_gpu\.experimental\.gen_ai, which"):
        apply_nvfp4_linear(NvFp4LinearBackend.FBGEMM, layer, activations((2, 64)))
