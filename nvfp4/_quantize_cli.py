"""``python -m nvfp4 quantize SRC DST``: a local Hugging Face model directory to a ModelOpt
``W4A16_NVFP4`` checkpoint (weights only: W4A4 needs activation scales from real data, which
:func:`nvfp4.calibrate` records in Python), with a progress bar and a per-layer error summary."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import torch

from .checkpoints import save_nvfp4_checkpoint
from .constants import BLOCK_SIZE
from .model import DEFAULT_EXCLUDE, linear_layers
from .modules import NVFP4Linear
from .reference import dequantize

# Files of a model directory that describe it besides its weights (tokenizer, generation
# settings): copied so that the quantized directory is a usable model.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_WRITTEN = ("config.json", "hf_quant_config.json", "model.safetensors.index.json")


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


def run(source: str, destination: str, exclude: list[str] | None, device: str | None) -> int:
    try:
        import transformers
    except ImportError:
        print("quantize reads Hugging Face models: pip install transformers")
        return 1
    source_dir, destination_dir = Path(source), Path(destination)
    if not (source_dir / "config.json").is_file():
        print(f"{source_dir} is not a Hugging Face model directory (no config.json)")
        return 1
    if destination_dir.exists() and any(destination_dir.iterdir()):
        print(f"{destination_dir} exists and is not empty")
        return 1
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = transformers.AutoModelForCausalLM.from_pretrained(source_dir, dtype=torch.bfloat16).to(device).eval()
    patterns = tuple(DEFAULT_EXCLUDE if exclude is None else exclude)
    layers = [entry for entry in linear_layers(model, patterns) if entry[3].in_features % BLOCK_SIZE == 0]
    errors = {}
    for name, parent, child_name, child in _progress(layers, "quantizing"):
        layer = NVFP4Linear.from_linear(child, activation_scale="none", backend="emulation")
        errors[name] = weight_error(child.weight, layer)
        setattr(parent, child_name, layer)
    save_nvfp4_checkpoint(model, destination_dir)
    for path in source_dir.iterdir():
        if path.is_file() and path.suffix not in _WEIGHT_SUFFIXES and path.name not in _WRITTEN:
            shutil.copy2(path, destination_dir / path.name)
    values = sorted(errors.values())
    print(f"quantized {len(errors)} linear layers of {source_dir} to NVFP4 (W4A16_NVFP4) in {destination_dir}")
    if values:
        print(
            f"weight relative error: min {values[0]:.4f}, median {statistics.median(values):.4f}, max {values[-1]:.4f}"
        )
        worst = sorted(errors.items(), key=lambda item: item[1], reverse=True)[:5]
        print("largest: " + ", ".join(f"{name} {error:.4f}" for name, error in worst))
    return 0
