"""convert_to_nvfp4_linear_kernel_format and apply_nvfp4_linear (nvfp4/linear.py): EMULATION on
any machine against the raw-terms oracle (DESIGN.md section 3), the layer forms a caller may hand
in, the errors; on a GPU, every backend that runs there against EMULATION."""

from __future__ import annotations

import types

import pytest
import torch

import nvfp4
from nvfp4 import reference
from nvfp4.backends import NvFp4LinearBackend, backend_unavailable_reason
from nvfp4.linear import apply_nvfp4_linear, convert_to_nvfp4_linear_kernel_format

RELATIVE_TOLERANCE = 5e-3  # DESIGN.md section 3: one tolerance for every GEMM test

EMULATION = NvFp4LinearBackend.EMULATION


def checkpoint_layer(n: int, k: int, *, w4a4: bool, seed: int = 0, per_channel: bool = False) -> dict:
    """The attributes of a checkpoint-form layer (DESIGN.md section 1 directions): a random weight
    quantized with its encode scale gs_w, decode scale 1/gs_w, and for W4A4 an activation encode
    scale gs_x and alpha = 1/(gs_x * gs_w). per_channel: two shards with different global scales,
    kept exact as a per-output-channel scale (fused q/k/v or gate/up)."""
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(n, k, generator=generator, dtype=torch.float32).to(torch.bfloat16)
    if per_channel:
        weight[n // 2 :] *= 37.0  # a second shard with its own range
        shards = (weight[: n // 2], weight[n // 2 :])
        scales = [reference.global_scale_from_amax(shard) for shard in shards]
        quantized = [nvfp4.scaled_fp4_quant(shard, gs, swizzle=False) for shard, gs in zip(shards, scales, strict=True)]
        packed = torch.cat([q[0] for q in quantized])
        block_scale = torch.cat([q[1].view(torch.uint8) for q in quantized]).view(torch.float8_e4m3fn)
        gs_w = torch.cat([gs.expand(len(shard)) for gs, shard in zip(scales, shards, strict=True)])
    else:
        gs_w = reference.global_scale_from_amax(weight)
        packed, block_scale = nvfp4.scaled_fp4_quant(weight, gs_w, swizzle=False)
    attributes = {
        "weight": packed,
        "weight_scale": block_scale,
        "weight_global_scale": (1.0 / gs_w).float(),
        "output_size_per_partition": n,
        "input_size_per_partition": k,
    }
    if w4a4:
        gs_x = torch.tensor(2688.0 / 4.5)  # an activation amax of 4.5, as calibration records it
        attributes |= {"input_global_scale_inv": gs_x, "alpha": (1.0 / (gs_x * gs_w)).float()}
    return attributes


def as_namespace(attributes: dict, device="cpu") -> types.SimpleNamespace:
    return types.SimpleNamespace(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in attributes.items()})


class ParameterLayer(torch.nn.Module):
    """A layer as vLLM prepares it: tensors as frozen parameters, sizes as plain attributes."""

    def __init__(self, attributes: dict):
        super().__init__()
        for name, value in attributes.items():
            if torch.is_tensor(value):
                self.register_parameter(name, torch.nn.Parameter(value, requires_grad=False))
            else:
                setattr(self, name, value)


def oracle(layer_attributes: dict, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """alpha * (x' @ (e2m1 * sf)^T) + bias in fp32 from the checkpoint tensors, x' the NVFP4
    rounding of x (W4A4) or x itself (W4A16), one rounding to x's dtype."""
    a = layer_attributes
    if "input_global_scale_inv" in a:
        x, alpha = reference.nvfp4_qdq(x, a["input_global_scale_inv"]), a["alpha"]
    else:
        alpha = a["weight_global_scale"]
    out = reference.scaled_fp4_mm(x.reshape(-1, x.shape[-1]), a["weight"], a["weight_scale"], alpha, bias)
    return out.to(x.dtype).reshape(*x.shape[:-1], -1)


def activations(shape: tuple[int, ...], dtype=torch.bfloat16, seed: int = 1) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


@pytest.mark.parametrize("w4a4", [True, False], ids=["w4a4", "w4a16"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["no_bias", "bias"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize(("m", "n", "k"), [(1, 32, 64), (5, 40, 48), (17, 96, 4112)])
def test_emulation_equals_the_oracle(m, n, k, dtype, with_bias, w4a4):
    attributes = checkpoint_layer(n, k, w4a4=w4a4)
    layer = as_namespace(attributes)
    convert_to_nvfp4_linear_kernel_format(EMULATION, layer)
    assert layer.weights_padding_cols == 0 and layer.weight is attributes["weight"]  # checkpoint form kept
    x = activations((m, k), dtype)
    bias = activations((n,), dtype, seed=2) if with_bias else None
    out = apply_nvfp4_linear(EMULATION, layer, x, bias)
    assert out.dtype == dtype and out.shape == (m, n)
    assert torch.equal(out, oracle(attributes, x, bias))


def test_emulation_of_a_layer_converted_for_cutlass_reads_its_swizzled_scales():
    """N and K not multiples of 32: the CUTLASS form is padded and swizzled; swizzle=True undoes it."""
    attributes = checkpoint_layer(40, 48, w4a4=True)
    native = as_namespace(attributes)
    convert_to_nvfp4_linear_kernel_format(NvFp4LinearBackend.CUTLASS, native)
    assert native.weight.shape == (64, 32) and native.weights_padding_cols == 8
    x = activations((3, 48))
    assert torch.equal(apply_nvfp4_linear(EMULATION, native, x, swizzle=True), oracle(attributes, x, None))
    with pytest.raises(ValueError, match="apply a layer converted for cutlass with swizzle=True"):
        apply_nvfp4_linear(EMULATION, native, x, swizzle=False)


def test_per_channel_scales_of_fused_shards_are_exact():
    """Two shards with different global scales: their own scales as a per-channel alpha give the
    per-shard results exactly (no common scale, no re-rounded block scales)."""
    n, k = 64, 96
    attributes = checkpoint_layer(n, k, w4a4=True, per_channel=True)
    assert attributes["alpha"].shape == (n,) and attributes["alpha"][0] != attributes["alpha"][-1]
    layer = as_namespace(attributes)
    x = activations((4, k))
    out = apply_nvfp4_linear(EMULATION, layer, x)
    for rows in (slice(0, n // 2), slice(n // 2, n)):
        shard = {
            **attributes,
            "weight": attributes["weight"][rows],
            "weight_scale": attributes["weight_scale"][rows],
            "alpha": attributes["alpha"][rows][0],
        }
        assert torch.equal(out[:, rows], oracle(shard, x, None))


def test_leading_dimensions_are_kept():
    attributes = checkpoint_layer(32, 64, w4a4=True)
    x = activations((2, 3, 64))
    out = apply_nvfp4_linear(EMULATION, as_namespace(attributes), x)
    assert out.shape == (2, 3, 32)
    assert torch.equal(out, oracle(attributes, x, None))


@pytest.mark.parametrize(
    "backend", [NvFp4LinearBackend.CUTLASS, NvFp4LinearBackend.HOPPER_W4A16, NvFp4LinearBackend.HOPPER_W4A4]
)
def test_conversion_of_an_nn_module_keeps_frozen_parameters(backend):
    layer = ParameterLayer(checkpoint_layer(40, 48, w4a4=True))
    convert_to_nvfp4_linear_kernel_format(backend, layer)
    assert isinstance(layer.weight, torch.nn.Parameter) and not layer.weight.requires_grad
    assert isinstance(layer.weight_scale, torch.nn.Parameter) and layer.weight_scale.dtype == torch.float8_e4m3fn
    expected = {
        NvFp4LinearBackend.CUTLASS: nvfp4.prepare_weights_for_nvfp4_cutlass,
        NvFp4LinearBackend.HOPPER_W4A16: nvfp4.prepare_weights_for_nvfp4_sm90,
        NvFp4LinearBackend.HOPPER_W4A4: nvfp4.prepare_weights_for_nvfp4_sm90,
    }[backend](*(checkpoint_layer(40, 48, w4a4=True)[name] for name in ("weight", "weight_scale")))
    assert torch.equal(layer.weight, expected[0])
    assert torch.equal(layer.weight_scale.view(torch.uint8), expected[1].view(torch.uint8))


def test_backends_off_their_gpu_say_where_they_run():
    layer = as_namespace(checkpoint_layer(32, 64, w4a4=True))
    convert_to_nvfp4_linear_kernel_format(NvFp4LinearBackend.HOPPER_W4A16, layer)
    with pytest.raises(NotImplementedError, match=r"runs on CUDA GPUs of compute capability 9\.x"):
        apply_nvfp4_linear(NvFp4LinearBackend.HOPPER_W4A16, layer, activations((2, 64)))


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda a: a.pop("weight_global_scale"), AttributeError, "needs the layer attribute.*weight_global_scale"),
        (lambda a: a.pop("input_global_scale_inv"), AttributeError, "input_global_scale_inv"),
        (lambda a: a.update(weight_scale=a["weight_scale"].view(torch.uint8)), TypeError, "must be torch.float8"),
    ],
)
def test_conversion_errors(change, error, message):
    attributes = checkpoint_layer(32, 64, w4a4=True)
    change(attributes)
    with pytest.raises(error, match=message):
        convert_to_nvfp4_linear_kernel_format(NvFp4LinearBackend.HOPPER_W4A4, as_namespace(attributes))


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        (activations((2, 48)), ValueError, "must end in the layer's input size 64"),
        (activations((2, 64), torch.float32), TypeError, "float16 or bfloat16"),
    ],
)
def test_apply_errors(x, error, message):
    with pytest.raises(error, match=message):
        apply_nvfp4_linear(EMULATION, as_namespace(checkpoint_layer(32, 64, w4a4=True)), x)


def test_emulation_under_torch_compile_matches_eager():
    layer = as_namespace(checkpoint_layer(64, 128, w4a4=True))
    x = activations((8, 128))

    def forward(x: torch.Tensor) -> torch.Tensor:
        return apply_nvfp4_linear(EMULATION, layer, x)

    compiled = torch.compile(forward, fullgraph=True)
    assert torch.equal(compiled(x), forward(x))


# ---------------------------------------------------------------------------------------------
# On a GPU: every backend that runs there against EMULATION
# ---------------------------------------------------------------------------------------------

GPU_BACKENDS = [NvFp4LinearBackend.CUTLASS, NvFp4LinearBackend.HOPPER_W4A16, NvFp4LinearBackend.HOPPER_W4A4]


def runs_here(backend: NvFp4LinearBackend) -> bool:
    return torch.cuda.is_available() and backend_unavailable_reason(backend, torch.device("cuda")) is None


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual.float() - expected.float()).norm() / expected.float().norm()).item()


@pytest.mark.parametrize("backend", GPU_BACKENDS, ids=[backend.value for backend in GPU_BACKENDS])
@pytest.mark.parametrize(("m", "n", "k"), [(1, 40, 48), (17, 96, 4112), (300, 4000, 512)])
@pytest.mark.parametrize("per_channel", [False, True], ids=["one_scale", "per_channel"])
def test_gpu_backend_equals_emulation(backend, m, n, k, per_channel):
    if not runs_here(backend):
        pytest.skip(f"{backend.value} does not run here: needs its GPU")
    w4a4 = backend is not NvFp4LinearBackend.HOPPER_W4A16
    attributes = checkpoint_layer(n, k, w4a4=w4a4, per_channel=per_channel)
    emulated = as_namespace(attributes, "cuda")
    layer = as_namespace(attributes, "cuda")
    convert_to_nvfp4_linear_kernel_format(backend, layer)
    x = activations((m, k)).cuda()
    bias = activations((n,), seed=3).cuda()
    out = apply_nvfp4_linear(backend, layer, x, bias)
    expected = apply_nvfp4_linear(EMULATION, emulated, x, bias)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    assert out.abs().sum() > 0
    assert relative_error(out, expected) <= RELATIVE_TOLERANCE
    # The same layer prepared the vLLM way (frozen parameters) gives the same bytes.
    prepared = ParameterLayer({k: v.cuda() if torch.is_tensor(v) else v for k, v in attributes.items()})
    convert_to_nvfp4_linear_kernel_format(backend, prepared)
    assert torch.equal(apply_nvfp4_linear(backend, prepared, x, bias), out)


@pytest.mark.parametrize(
    "backend", [*GPU_BACKENDS, EMULATION], ids=[backend.value for backend in [*GPU_BACKENDS, EMULATION]]
)
def test_gpu_backend_under_graph_capture(backend):
    if not runs_here(backend):
        pytest.skip(f"{backend.value} does not run here: needs its GPU")
    layer = as_namespace(checkpoint_layer(96, 256, w4a4=True), "cuda")
    convert_to_nvfp4_linear_kernel_format(backend, layer)
    x = activations((4, 256)).cuda()
    eager = apply_nvfp4_linear(backend, layer, x)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = apply_nvfp4_linear(backend, layer, x)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(captured, eager)
