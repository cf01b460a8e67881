"""NVFP4Linear (nvfp4/modules.py): built from an nn.Linear or from checkpoint tensors, its product
against the raw-terms oracle, its state_dict in ModelOpt layout bit for bit whatever the backend's
layout, torch.compile, the input gradient and the errors; on a GPU, each backend that runs there."""

from __future__ import annotations

import pytest
import torch

import nvfp4
from nvfp4 import reference
from nvfp4.backends import NvFp4LinearBackend, backend_unavailable_reason

EMULATION = NvFp4LinearBackend.EMULATION
LAYOUT_BACKENDS = [NvFp4LinearBackend.CUTLASS, NvFp4LinearBackend.HOPPER_W4A16, EMULATION]


def linear(n: int, k: int, bias: bool = True, seed: int = 0, device="cpu") -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(k, n, bias=bias, dtype=torch.bfloat16, device=device)


def activations(shape, dtype=torch.bfloat16, seed: int = 1, device="cpu") -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(device=device, dtype=dtype)


def checkpoint(n: int, k: int, *, static: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """ModelOpt tensors: packed weight, linear scales, decode scales (1/gs)."""
    weight = linear(n, k, seed=seed).weight.detach()
    gs_w = reference.global_scale_from_amax(weight)
    packed, block_scale = nvfp4.scaled_fp4_quant(weight, gs_w, swizzle=False)
    tensors = {"weight": packed, "weight_scale": block_scale, "weight_scale_2": 1.0 / gs_w}
    if static:
        tensors["input_scale"] = torch.tensor(4.5 / 2688.0)
    return tensors


def oracle(layer: nvfp4.NVFP4Linear, x: torch.Tensor) -> torch.Tensor:
    """The layer's product in raw terms from its checkpoint form (DESIGN.md section 3), with the
    activation scale as the layer computes it: alpha = (1/gs_w) / gs_x."""
    weight, weight_scale = (t.cpu() for t in layer.checkpoint_weight())
    w_decode, x, bias = layer.weight_scale_2.cpu(), x.cpu(), layer.bias
    if layer.activation_scale == "none":
        alpha = w_decode
    else:
        gs_x = reference.global_scale_from_amax(x) if layer.activation_scale == "dynamic" else 1.0 / layer.input_scale
        x, alpha = reference.nvfp4_qdq(x, gs_x.cpu()), w_decode / gs_x.cpu()
    rows = x.reshape(-1, x.shape[-1])
    out = reference.scaled_fp4_mm(rows, weight, weight_scale, alpha, None if bias is None else bias.cpu())
    return out.to(x.dtype).reshape(*x.shape[:-1], -1)


@pytest.mark.parametrize("activation_scale", ["dynamic", "static", "none"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize(("n", "k"), [(32, 64), (40, 48)])
def test_from_linear_equals_the_oracle(n, k, bias, activation_scale):
    layer = nvfp4.NVFP4Linear.from_linear(linear(n, k, bias), activation_scale=activation_scale)
    assert layer.backend is EMULATION  # on the CPU
    x = activations((3, 5, k))
    out = layer(x)
    assert out.shape == (3, 5, n) and out.dtype == torch.bfloat16
    assert torch.equal(out, oracle(layer, x))


def test_from_linear_quantizes_the_weight_as_scaled_fp4_quant():
    source = linear(64, 128)
    layer = nvfp4.NVFP4Linear.from_linear(source)
    gs_w = nvfp4.global_scale_from_amax(source.weight.detach())
    packed, block_scale = nvfp4.scaled_fp4_quant(source.weight.detach(), gs_w, swizzle=False)
    assert torch.equal(layer.weight, packed)
    assert torch.equal(layer.weight_scale.view(torch.uint8), block_scale.view(torch.uint8))
    assert torch.equal(layer.weight_scale_2, 1.0 / gs_w)
    assert torch.equal(layer.bias, source.bias.detach())


@pytest.mark.parametrize("backend", LAYOUT_BACKENDS, ids=[b.value for b in LAYOUT_BACKENDS])
@pytest.mark.parametrize("static", [True, False], ids=["static", "w4a16"])
def test_state_dict_is_the_checkpoint_bit_for_bit(backend, static):
    """Whatever layout the backend keeps (padded and swizzled, fragment, linear), the state_dict
    gives back the ModelOpt tensors that were loaded, and loads into a fresh layer."""
    if backend is NvFp4LinearBackend.CUTLASS and not static:
        pytest.skip("cutlass multiplies NVFP4 activations: W4A16 checkpoints do not take it")
    tensors = checkpoint(40, 48, static=static)
    bias = activations((40,), seed=5)
    layer = nvfp4.NVFP4Linear.from_checkpoint(**tensors, bias=bias, backend=backend)
    assert layer.activation_scale == ("static" if static else "none")
    state = layer.state_dict()
    assert set(state) == {*tensors, "bias"}
    assert torch.equal(state["weight"], tensors["weight"])
    assert torch.equal(state["weight_scale"].view(torch.uint8), tensors["weight_scale"].view(torch.uint8))
    for name in ("weight_scale_2", "input_scale"):
        if name in tensors:
            assert torch.equal(state[name], tensors[name].reshape(()))
    fresh = nvfp4.NVFP4Linear(48, 40, bias=True, activation_scale=layer.activation_scale, backend=backend)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.weight, layer.weight)  # the same kernel layout
    assert torch.equal(fresh.weight_scale.view(torch.uint8), layer.weight_scale.view(torch.uint8))
    for name, tensor in fresh.state_dict().items():
        assert torch.equal(tensor.reshape(-1).view(torch.uint8), state[name].reshape(-1).view(torch.uint8)), name


def test_set_backend_relays_the_weight_and_keeps_the_product():
    layer = nvfp4.NVFP4Linear.from_checkpoint(**checkpoint(40, 48, static=True))
    x = activations((2, 48))
    before = layer(x)
    layer.set_backend(NvFp4LinearBackend.HOPPER_W4A4)
    assert layer.weight.shape == (48, 32)  # the fragment layout: N padded to 16, K to 64
    layer.set_backend(EMULATION)
    assert torch.equal(layer(x), before)


def test_load_state_dict_reports_missing_and_wrong_tensors():
    layer = nvfp4.NVFP4Linear(48, 40, activation_scale="static")
    state = layer.state_dict()
    with pytest.raises(RuntimeError, match=r"Missing key.*input_scale"):
        layer.load_state_dict({k: v for k, v in state.items() if k != "input_scale"})
    with pytest.raises(RuntimeError, match=r"weight_scale must be torch.float8_e4m3fn \[40, 3\], got"):
        layer.load_state_dict({**state, "weight_scale": torch.zeros(40, 4, dtype=torch.float8_e4m3fn)})
    with pytest.raises(RuntimeError, match=r"Unexpected key.*weight_global_scale"):
        layer.load_state_dict({**state, "weight_global_scale": torch.ones(())})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"in_features": 40}, ValueError, "in_features must be a positive multiple of 16"),
        ({"activation_scale": "per_token"}, ValueError, "activation_scale must be one of none, static, dynamic"),
        ({"dtype": torch.float32}, TypeError, "must be float16 or bfloat16"),
        ({"activation_scale": "none", "backend": "cutlass"}, ValueError, "this layer has none"),
        ({"backend": "marlin"}, ValueError, "unknown NVFP4 linear backend"),
    ],
)
def test_construction_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        nvfp4.NVFP4Linear(**{"in_features": 48, "out_features": 40, **kwargs})


def test_wrong_activation_dtype():
    layer = nvfp4.NVFP4Linear.from_linear(linear(32, 64))
    with pytest.raises(TypeError, match=r"x must be torch.bfloat16 \(the layer's dtype\), got torch.float16"):
        layer(activations((2, 64), torch.float16))


@pytest.mark.parametrize("backend", [b.value for b in LAYOUT_BACKENDS])
def test_wrong_input_size_is_refused_on_every_backend(backend):
    """A shorter K is never taken as zero-padded (the padded layouts would give a plausible answer)."""
    layer = nvfp4.NVFP4Linear.from_checkpoint(**checkpoint(40, 64, static=True), backend=backend)
    with pytest.raises(ValueError, match=r"x must end in the layer's input size 64, got shape \(2, 48\)"):
        layer(activations((2, 48)))


@pytest.mark.parametrize("activation_scale", ["dynamic", "none"])
def test_compiled_matches_eager(activation_scale):
    layer = nvfp4.NVFP4Linear.from_linear(linear(64, 128), activation_scale=activation_scale)
    x = activations((4, 128))
    compiled = torch.compile(layer, fullgraph=True)
    assert torch.equal(compiled(x), layer(x))


@pytest.mark.parametrize("activation_scale", ["dynamic", "none"])
def test_input_gradient_on_emulation(activation_scale):
    """d x = (d out * alpha) @ (e2m1 * sf); W4A4's rounding passes the gradient straight through."""
    layer = nvfp4.NVFP4Linear.from_linear(linear(32, 64), activation_scale=activation_scale)
    x = activations((3, 64)).requires_grad_()
    grad_out = activations((3, 32), seed=7)
    layer(x).backward(grad_out)
    weight, weight_scale = layer.checkpoint_weight()
    decoded = reference.dequantize(weight, weight_scale, 1.0, swizzled=False)
    if activation_scale == "none":
        alpha = layer.weight_scale_2
    else:
        alpha = layer.weight_scale_2 / nvfp4.global_scale_from_amax(x.detach())
    expected = ((grad_out.float() * alpha) @ decoded).to(x.dtype)
    assert torch.allclose(x.grad.float(), expected.float(), rtol=1e-2, atol=1e-3)
    assert not any(tensor.requires_grad for tensor in layer.state_dict(keep_vars=True).values())


def test_backends_without_a_gradient_say_so():
    layer = nvfp4.NVFP4Linear.from_checkpoint(**checkpoint(32, 64, static=True), backend="cutlass")
    with pytest.raises(RuntimeError, match="implemented for the hopper-w4a16 and emulation backends; this layer runs"):
        layer(activations((2, 64)).requires_grad_())


def test_repr_names_the_backend():
    assert "activation_scale=dynamic, backend=emulation" in repr(nvfp4.NVFP4Linear(64, 32))


# ---------------------------------------------------------------------------------------------
# On a GPU
# ---------------------------------------------------------------------------------------------

GPU_BACKENDS = [NvFp4LinearBackend.CUTLASS, NvFp4LinearBackend.HOPPER_W4A16, NvFp4LinearBackend.HOPPER_W4A4]


def skip_unless_runs_here(backend: NvFp4LinearBackend) -> None:
    if not torch.cuda.is_available() or backend_unavailable_reason(backend, torch.device("cuda")) is not None:
        pytest.skip(f"{backend.value} does not run here: needs its GPU")


@pytest.mark.parametrize("backend", GPU_BACKENDS, ids=[b.value for b in GPU_BACKENDS])
def test_gpu_layer_equals_emulation_compiled_and_captured(backend):
    skip_unless_runs_here(backend)
    source = linear(96, 256, device="cuda")
    activation_scale = "none" if backend is NvFp4LinearBackend.HOPPER_W4A16 else "dynamic"
    layer = nvfp4.NVFP4Linear.from_linear(source, activation_scale=activation_scale, backend=backend)
    emulated = nvfp4.NVFP4Linear.from_linear(source, activation_scale=activation_scale, backend=EMULATION)
    x = activations((7, 256), device="cuda")
    out = layer(x)
    expected = emulated(x)
    error = ((out.float() - expected.float()).norm() / expected.float().norm()).item()
    assert error <= 5e-3 and out.abs().sum() > 0
    assert torch.equal(torch.compile(layer, fullgraph=True)(x), out)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = layer(x)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(captured, out)


def test_gpu_hopper_w4a16_input_gradient():
    skip_unless_runs_here(NvFp4LinearBackend.HOPPER_W4A16)
    source = linear(96, 256, device="cuda")
    layer = nvfp4.NVFP4Linear.from_linear(source, activation_scale="none", backend="hopper-w4a16")
    emulated = nvfp4.NVFP4Linear.from_linear(source, activation_scale="none", backend=EMULATION)
    grads = []
    for module in (layer, emulated):
        x = activations((5, 256), device="cuda").requires_grad_()
        module(x).backward(activations((5, 96), seed=9, device="cuda"))
        grads.append(x.grad.float())
    assert ((grads[0] - grads[1]).norm() / grads[1].norm()).item() <= 5e-3


@pytest.mark.parametrize("activation_scale", ["dynamic", "static", "none"])
def test_fused_shards_equal_the_shards_exactly(activation_scale):
    """q/k/v-like shards with very different weight ranges (so different global scales): the fused
    layer's per-channel scales give each shard's outputs bit for bit."""
    shards = []
    for index, (n, gain) in enumerate([(64, 1.0), (32, 40.0), (32, 0.02)]):
        source = linear(n, 128, bias=index != 1, seed=index)
        with torch.no_grad():
            source.weight.mul_(gain)
        shards.append(nvfp4.NVFP4Linear.from_linear(source, activation_scale=activation_scale))
    if activation_scale == "static":
        for shard in shards:
            shard.input_scale = torch.tensor(3.0 / 2688.0)
    fused = nvfp4.fuse_nvfp4_linears(shards)
    assert fused.out_features == 128 and fused.weight_scale_2.shape == (128,)
    assert len(set(fused.weight_scale_2.tolist())) == 3  # no common scale
    x = activations((5, 128))
    assert torch.equal(fused(x), torch.cat([shard(x) for shard in shards], dim=-1))


def test_fusing_needs_matching_shards():
    a = nvfp4.NVFP4Linear.from_linear(linear(32, 64), activation_scale="static")
    b = nvfp4.NVFP4Linear.from_linear(linear(32, 64, seed=1), activation_scale="static")
    b.input_scale = torch.tensor(0.5)
    with pytest.raises(ValueError, match="static activation scales differ"):
        nvfp4.fuse_nvfp4_linears([a, b])
    with pytest.raises(ValueError, match="must share in_features, dtype and activation_scale"):
        nvfp4.fuse_nvfp4_linears([a, nvfp4.NVFP4Linear.from_linear(linear(32, 128))])
