"""``python -m nvfp4 quantize SRC DST``: a local Hugging Face model directory, or a safetensors
file, to a ModelOpt ``W4A16_NVFP4`` checkpoint (weights only: W4A4 needs activation scales from
real data, which :func:`nvfp4.calibrate` records in Python), with a progress bar and a per-layer
error summary.

A model directory is loaded with ``transformers``, so its linear layers are known. A bare
safetensors file has no architecture: there every 2-D floating tensor named ``<layer>.weight``
whose input size is a multiple of 16 is taken for a linear layer's weight, unless the layer's name
matches an exclude pattern (by default the output head and embedding tables, which a file cannot
tell from linear weights); the summary lists the 2-D weights kept in 16 bits."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import torch

from .checkpoints import save_nvfp4_checkpoint, write_hf_quant_config
from .constants import BLOCK_SIZE
from .model import DEFAULT_EXCLUDE, excluded, linear_layers
from .modules import NVFP4Linear
from .reference import dequantize

# Files of a model directory that describe it besides its weights (tokenizer, generation
# settings): copied so that the quantized directory is a usable model.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_WRITTEN = ("config.json", "hf_quant_config.json", "model.safetensors.index.json")
#: Layers of a bare safetensors file left in 16 bits unless --exclude names others: the output head
#: (as for a model directory) and embedding tables (2-D weights a file cannot tell from linear ones).
FILE_EXCLUDE = ("lm_head", "*embed*", "*wte", "*wpe")


def _progress(items: list, description: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=description, unit="layer")


def weight_error(original: torch.Tensor, layer: NVFP4Linear) -> float:
    """Relative Frobenius error of the layer's decoded weight against the original."""
    packed, block_scale = layer.checkpoint_weight()
    decoded = dequantize(packed.cpu(), block_scale.cpu(), 1.0 / layer.weight_scale_2.cpu(), swizzled=False)
    original = original.detach().float().cpu()
    return ((decoded - original).norm() / original.norm().clamp_min(1e-30)).item()


def _report(errors: dict[str, float], source: Path, destination: Path, kept: list[str]) -> None:
    values = sorted(errors.values())
    print(f"quantized {len(errors)} linear layers of {source} to NVFP4 (W4A16_NVFP4) in {destination}")
    if values:
        print(
            f"weight relative error: min {values[0]:.4f}, median {statistics.median(values):.4f}, max {values[-1]:.4f}"
        )
        worst = sorted(errors.items(), key=lambda item: item[1], reverse=True)[:5]
        print("largest: " + ", ".join(f"{name} {error:.4f}" for name, error in worst))
    if kept:
        print("kept in 16 bits: " + ", ".join(kept))


def _quantize_model_directory(source: Path, destination: Path, exclude: list[str] | None, device: str) -> int:
    try:
        import transformers
    except ImportError:
        print("quantize reads Hugging Face models: pip install transformers")
        return 1
    model = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16).to(device).eval()
    patterns = tuple(DEFAULT_EXCLUDE if exclude is None else exclude)
    layers = [entry for entry in linear_layers(model, patterns) if entry[3].in_features % BLOCK_SIZE == 0]
    errors = {}
    for name, parent, child_name, child in _progress(layers, "quantizing"):
        layer = NVFP4Linear.from_linear(child, activation_scale="none", backend="emulation")
        errors[name] = weight_error(child.weight, layer)
        setattr(parent, child_name, layer)
    save_nvfp4_checkpoint(model, destination)
    for path in source.iterdir():
        if path.is_file() and path.suffix not in _WEIGHT_SUFFIXES and path.name not in _WRITTEN:
            shutil.copy2(path, destination / path.name)
    kept = sorted(name for name, module in model.named_modules() if type(module) is torch.nn.Linear)
    _report(errors, source, destination, kept)
    return 0


@torch.no_grad()
def _quantize_file(source: Path, destination: Path, exclude: list[str] | None, device: str) -> int:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(source), device=device)
    patterns = tuple(FILE_EXCLUDE if exclude is None else exclude)
    written, errors, kept = {}, {}, []
    for name, tensor in _progress(list(tensors.items()), "quantizing"):
        layer_name = name.removesuffix(".weight")
        two_d_weight = name.endswith(".weight") and tensor.dim() == 2 and tensor.is_floating_point()
        if not two_d_weight or tensor.shape[1] % BLOCK_SIZE or excluded(layer_name, patterns):
            written[name] = tensor
            kept += [layer_name] if two_d_weight else []
            continue
        linear = torch.nn.Linear(tensor.shape[1], tensor.shape[0], bias=False, dtype=torch.bfloat16, device=device)
        linear.weight.copy_(tensor)
        layer = NVFP4Linear.from_linear(linear, activation_scale="none", backend="emulation")
        errors[layer_name] = weight_error(tensor, layer)
        written |= {f"{layer_name}.{key}": value.contiguous() for key, value in layer.state_dict().items()}
    if not errors:
        print(f"{source} holds no 2-D weight to quantize (excluded: {', '.join(patterns) or 'none'})")
        return 1
    destination.mkdir(parents=True, exist_ok=True)
    save_file(written, str(destination / "model.safetensors"))
    write_hf_quant_config(destination, "W4A16_NVFP4", sorted(kept))
    _report(errors, source, destination, sorted(kept))
    return 0


def run(source: str, destination: str, exclude: list[str] | None, device: str | None) -> int:
    source_path, destination_path = Path(source), Path(destination)
    is_file = source_path.is_file() and source_path.suffix == ".safetensors"
    if not is_file and not (source_path / "config.json").is_file():
        print(f"{source_path} is neither a Hugging Face model directory (no config.json) nor a safetensors file")
        return 1
    if destination_path.exists() and any(destination_path.iterdir()):
        print(f"{destination_path} exists and is not empty")
        return 1
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    quantize = _quantize_file if is_file else _quantize_model_directory
    return quantize(source_path, destination_path, exclude, device)
