"""``python -m nvfp4 demo``: quantize a small transformer (a Llama built from a config, no download,
or a local Hugging Face model) with :func:`nvfp4.quantize_model`, run it on the backend selected
for this machine, and print the backend, the agreement of its logits with the bf16 model and the
time of a forward pass of each (on a GPU, the forward pass replayed as a CUDA graph, so that the
figure is the kernels' time rather than Python's)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ._timing import seconds_per_call, wall_seconds_per_call
from .model import quantize_model
from .modules import NVFP4Linear

#: Width of the random Llama: small on the CPU, where the emulation backend is slow; on a GPU wide
#: enough (Llama-3-8B's 4096) that its layers stream more than launching them costs.
DEFAULT_HIDDEN_SIZE = {"cpu": 256, "cuda": 4096}


def _llama(layers: int, hidden_size: int, seed: int):
    import transformers

    torch.manual_seed(seed)
    heads = max(1, hidden_size // 64)
    config = transformers.LlamaConfig(
        vocab_size=4096,
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=4096,
    )
    description = f"a random Llama built from a config ({layers} layers, {hidden_size} wide)"
    return transformers.LlamaForCausalLM(config), description


def _milliseconds(forward: Callable[[], object], device: torch.device) -> tuple[float, str]:
    """The median time of a forward pass, and how it was taken: on a GPU a CUDA graph of the pass
    replayed, or eager passes where the model cannot be captured (the reason is given)."""
    if device.type == "cuda":
        try:
            return seconds_per_call([forward], device, replays=20) * 1e3, "CUDA graph, median of 20"
        except RuntimeError as error:
            reason = str(error).splitlines()[0]

            def synchronized() -> None:
                forward()
                torch.cuda.synchronize(device)

            return wall_seconds_per_call([synchronized]) * 1e3, f"eager: {reason}"
    return seconds_per_call([forward], device, replays=5) * 1e3, "median of 5, eager"


def _linear_bytes(model: torch.nn.Module) -> tuple[int, int]:
    """Bytes of the weights of the model's NVFP4 layers, and of the bf16 weights they replaced."""
    nvfp4_bytes = dense_bytes = 0
    for module in model.modules():
        if isinstance(module, NVFP4Linear):
            nvfp4_bytes += sum(t.numel() * t.element_size() for t in (module.weight, module.weight_scale))
            dense_bytes += module.in_features * module.out_features * 2
    return nvfp4_bytes, dense_bytes


def run(model_path: str | None, layers: int, hidden_size: int | None, tokens: int, w4a16: bool) -> int:
    try:
        import transformers
    except ImportError:
        print("the demo quantizes a transformers model: pip install transformers")
        return 1
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if model_path:
        model = transformers.AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16)
        description = f"{model_path} ({type(model).__name__})"
    else:
        model, description = _llama(layers, hidden_size or DEFAULT_HIDDEN_SIZE[device.type], seed=0)
    model = model.to(device=device, dtype=torch.bfloat16).eval()
    quantized = copy.deepcopy(model)
    names = quantize_model(quantized, activation_scale="none" if w4a16 else "dynamic")
    if not names:
        print("the model has no linear layer to quantize")
        return 1
    backends = sorted({quantized.get_submodule(name).backend.value for name in names})
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (1, tokens), generator=generator).to(device)

    def forward(m: torch.nn.Module) -> Callable[[], torch.Tensor]:
        return lambda: m(ids, use_cache=False).logits

    with torch.no_grad():
        reference_logits, logits = forward(model)(), forward(quantized)()
        cosine = F.cosine_similarity(logits.float().flatten(), reference_logits.float().flatten(), dim=0).item()
        bf16_ms, how = _milliseconds(forward(model), device)
        nvfp4_ms, nvfp4_how = _milliseconds(forward(quantized), device)
    nvfp4_bytes, dense_bytes = _linear_bytes(quantized)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    mode = "W4A16: activations stay bf16" if w4a16 else "W4A4 checkpoint form: dynamic activation scales"
    print(f"device: {device}{gpu}")
    print(f"model: {description}")
    print(f"quantized: {len(names)} linear layers to NVFP4 ({mode}); lm_head kept in bf16")
    print(f"backend: {', '.join(backends)}")
    print(f"linear weights: {dense_bytes / 2**20:.1f} MiB in bf16 -> {nvfp4_bytes / 2**20:.1f} MiB in NVFP4")
    print(f"logits cosine similarity with the bf16 model: {cosine:.4f}")
    timing = how if how == nvfp4_how else f"bf16 {how}; NVFP4 {nvfp4_how}"
    print(
        f"forward of 1 x {tokens} tokens ({timing}): bf16 {bf16_ms:.2f} ms, NVFP4 {nvfp4_ms:.2f} ms "
        f"({bf16_ms / nvfp4_ms:.2f}x)"
    )
    return 0
