"""NVFP4 checkpoints on disk: ModelOpt (``hf_quant_config.json``, or ``quantization_config`` with
``quant_method: modelopt`` in ``config.json``; ``quant_algo`` ``NVFP4`` or ``W4A16_NVFP4``) and
compressed-tensors ``nvfp4-pack-quantized``, loaded into ``NVFP4Linear`` layers; a quantized model
saved as a ModelOpt NVFP4 checkpoint.

The two formats store the same bytes with global scales in opposite directions (DESIGN.md
section 1): ModelOpt's ``weight_scale_2`` and ``input_scale`` are decode scales (``1/gs``),
compressed-tensors' ``weight_global_scale`` and ``input_global_scale`` encode scales (``gs``).
Everything loaded is checked: shapes, block-scale bytes (never negative, never the NaN byte 0x7F),
global scales (finite and positive).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from .backends import NvFp4LinearBackend
from .constants import BLOCK_SIZE, E4M3_NAN_BYTE, SCALE_DTYPE
from .model import excluded, linear_layers
from .modules import NVFP4Linear

__all__ = ["QuantizationConfig", "load_nvfp4_checkpoint", "read_quantization_config", "save_nvfp4_checkpoint"]

logger = logging.getLogger("nvfp4")

MODELOPT_ALGOS = ("NVFP4", "W4A16_NVFP4")
COMPRESSED_TENSORS_FORMAT = "nvfp4-pack-quantized"
GROUP_SIZE = BLOCK_SIZE


@dataclass(frozen=True)
class QuantizationConfig:
    """What a checkpoint's configuration says: its format ("modelopt" or "compressed-tensors"),
    whether activations have scales (W4A4) or not (W4A16), and the layers left unquantized (fnmatch
    patterns or names)."""

    format: str
    activation_scales: bool
    exclude: tuple[str, ...]


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def read_quantization_config(directory: str | Path) -> QuantizationConfig:
    """The NVFP4 quantization described by a checkpoint directory, or a ValueError saying what was
    found instead."""
    directory = Path(directory)
    hf_quant = _read_json(directory / "hf_quant_config.json")
    config = (_read_json(directory / "config.json") or {}).get("quantization_config")
    if hf_quant is not None:
        section = hf_quant.get("quantization", {})
        algo = str(section.get("quant_algo", "")).upper()
        if algo not in MODELOPT_ALGOS:
            raise ValueError(
                f"hf_quant_config.json: quant_algo must be one of {', '.join(MODELOPT_ALGOS)}, got {algo!r}"
            )
        group = section.get("group_size", GROUP_SIZE)
        if group != GROUP_SIZE:
            raise ValueError(f"hf_quant_config.json: NVFP4 has group_size {GROUP_SIZE}, got {group}")
        return QuantizationConfig("modelopt", algo == "NVFP4", tuple(section.get("exclude_modules") or ()))
    if config is None:
        raise ValueError(f"{directory} holds neither hf_quant_config.json nor a quantization_config in config.json")
    method = config.get("quant_method")
    if method == "modelopt":
        algo = str(config.get("quant_algo", "")).upper()
        if algo not in MODELOPT_ALGOS:
            raise ValueError(f"config.json: quant_algo must be one of {', '.join(MODELOPT_ALGOS)}, got {algo!r}")
        return QuantizationConfig("modelopt", algo == "NVFP4", tuple(config.get("ignore") or ()))
    if method == "compressed-tensors":
        if config.get("format") != COMPRESSED_TENSORS_FORMAT:
            raise ValueError(
                f"config.json: compressed-tensors format must be {COMPRESSED_TENSORS_FORMAT}, "
                f"got {config.get('format')!r}"
            )
        groups = list((config.get("config_groups") or {}).values())
        activations = any(group.get("input_activations") for group in groups)
        return QuantizationConfig("compressed-tensors", activations, tuple(config.get("ignore") or ()))
    raise ValueError(f"config.json: quant_method must be modelopt or compressed-tensors, got {method!r}")


class _Tensors:
    """The tensors of a directory's safetensors files by name, read one at a time."""

    def __init__(self, directory: Path):
        from safetensors import safe_open

        files = sorted(directory.glob("*.safetensors"))
        if not files:
            raise ValueError(f"{directory} holds no .safetensors file")
        self._handles = [safe_open(str(path), framework="pt") for path in files]
        self._where = {key: handle for handle in self._handles for key in handle.keys()}  # noqa: SIM118 (not a dict)

    def __contains__(self, key: str) -> bool:
        return key in self._where

    def __getitem__(self, key: str) -> torch.Tensor:
        return self._where[key].get_tensor(key)

    def get(self, key: str) -> torch.Tensor | None:
        handle = self._where.get(key)
        return None if handle is None else handle.get_tensor(key)

    @property
    def names(self) -> set[str]:
        return set(self._where)


def _check_scale_bytes(scale: torch.Tensor, name: str) -> None:
    raw = scale.view(torch.uint8)
    negative = int((raw >= 0x80).sum())
    nan = int((raw == E4M3_NAN_BYTE).sum())
    if negative or nan:
        raise ValueError(
            f"{name}: block scales must be finite and non-negative; {negative} have the sign bit set and {nan} are "
            f"the NaN byte 0x7F"
        )


def _global_scale(value: torch.Tensor, name: str) -> torch.Tensor:
    value = value.float()
    if not bool(torch.isfinite(value).all()) or not bool((value > 0).all()):
        raise ValueError(f"{name}: global scales must be finite and positive, got {value.flatten()[:8].tolist()}")
    return value


def _quantized_layer(
    name: str, linear: torch.nn.Linear, tensors: _Tensors, config: QuantizationConfig, backend
) -> NVFP4Linear:
    """The NVFP4Linear of one checkpoint layer, its tensors checked and in ModelOpt's directions."""
    ct = config.format == "compressed-tensors"
    weight = tensors[f"{name}.weight_packed" if ct else f"{name}.weight"]
    weight_scale = tensors[f"{name}.weight_scale"]
    n, k = linear.out_features, linear.in_features
    if weight.dtype != torch.uint8 or tuple(weight.shape) != (n, k // 2):
        raise ValueError(
            f"{name}: the packed weight must be uint8 [{n}, {k // 2}], got {weight.dtype} {tuple(weight.shape)}"
        )
    if weight_scale.dtype == SCALE_DTYPE:  # its shape: NVFP4Linear.load_checkpoint checks it
        _check_scale_bytes(weight_scale, f"{name}.weight_scale")
    if ct:  # encode scales: invert to ModelOpt's decode direction
        weight_scale_2 = 1.0 / _global_scale(tensors[f"{name}.weight_global_scale"], f"{name}.weight_global_scale")
        input_key = f"{name}.input_global_scale"
        input_scale = 1.0 / _global_scale(tensors[input_key], input_key) if config.activation_scales else None
    else:
        weight_scale_2 = _global_scale(tensors[f"{name}.weight_scale_2"], f"{name}.weight_scale_2")
        input_key = f"{name}.input_scale"
        input_scale = _global_scale(tensors[input_key], input_key) if config.activation_scales else None
    if input_scale is not None and input_scale.numel() != 1:
        raise ValueError(f"{name}: one activation scale expected, got {input_scale.numel()}")
    bias = tensors.get(f"{name}.bias")
    if (bias is None) != (linear.bias is None):
        raise ValueError(
            f"{name}: the model's layer {'has' if linear.bias is not None else 'has no'} bias, the checkpoint disagrees"
        )
    device = linear.weight.device
    dtype = linear.weight.dtype if linear.weight.dtype in (torch.float16, torch.bfloat16) else torch.bfloat16
    try:
        return NVFP4Linear.from_checkpoint(
            weight.to(device),
            weight_scale.to(device),
            weight_scale_2.to(device),
            None if input_scale is None else input_scale.to(device),
            None if bias is None else bias.to(device),
            dtype=dtype,
            backend=backend,
        )
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


@torch.no_grad()
def load_nvfp4_checkpoint(
    model: torch.nn.Module, directory: str | Path, *, backend: NvFp4LinearBackend | str | None = None
) -> list[str]:
    """Loads an NVFP4 checkpoint directory (safetensors files and its configuration) into ``model``,
    a model of the checkpoint's architecture (``transformers``' ``from_config``, say) on the device
    to run on: every linear layer the checkpoint holds quantized becomes an :class:`NVFP4Linear`
    (static activation scale for W4A4 checkpoints, none for W4A16), the other tensors load as they
    are. Returns the names of the quantized layers. Any tensor of the model missing from the
    checkpoint, or any checkpoint tensor the model has no place for, is an error."""
    directory = Path(directory)
    config = read_quantization_config(directory)
    tensors = _Tensors(directory)
    marker = "weight_packed" if config.format == "compressed-tensors" else "weight_scale"
    quantized, used = [], set()
    for name, parent, child_name, child in list(linear_layers(model)):
        if f"{name}.{marker}" not in tensors:
            continue
        if excluded(name, config.exclude):
            raise ValueError(f"{name} is quantized in the checkpoint but its configuration excludes it")
        setattr(parent, child_name, _quantized_layer(name, child, tensors, config, backend))
        quantized.append(name)
        used |= {key for key in tensors.names if key.startswith(name + ".")}
    rest = {key: tensors[key] for key in tensors.names - used}
    state_keys = {key for key in model.state_dict() if not any(key.startswith(name + ".") for name in quantized)}
    missing, unexpected = sorted(state_keys - rest.keys()), sorted(rest.keys() - state_keys)
    tied = getattr(getattr(model, "config", None), "tie_word_embeddings", False)
    if tied:  # the output head shares the embedding's tensor and is not saved
        missing = [key for key in missing if key != "lm_head.weight"]
    if missing or unexpected:
        raise ValueError(f"checkpoint and model differ: missing {missing[:8]}, unexpected {unexpected[:8]}")
    model.load_state_dict(rest, strict=False)
    logger.info("loaded %d NVFP4 linear layers (%s checkpoint)", len(quantized), config.format)
    return quantized


def write_hf_quant_config(directory: Path, algo: str, unquantized: list[str]) -> None:
    """ModelOpt's ``hf_quant_config.json`` for ``algo`` (``NVFP4`` or ``W4A16_NVFP4``), naming the
    linear layers left unquantized."""
    from . import __version__

    quantization = {
        "quant_algo": algo,
        "group_size": GROUP_SIZE,
        "kv_cache_quant_algo": None,
        "exclude_modules": unquantized,
    }
    hf_quant = {"producer": {"name": "nvfp4", "version": __version__}, "quantization": quantization}
    (directory / "hf_quant_config.json").write_text(json.dumps(hf_quant, indent=2) + "\n")


def save_nvfp4_checkpoint(model: torch.nn.Module, directory: str | Path) -> Path:
    """Saves a model whose NVFP4 layers have static activation scales (W4A4, after
    :func:`nvfp4.calibrate`) or none (W4A16) as a ModelOpt NVFP4 checkpoint: ``model.safetensors``
    (the NVFP4 layers in ModelOpt layout, the rest as it is), ``hf_quant_config.json`` and, for a
    ``transformers`` model, ``config.json`` with its ``quantization_config``. Returns the directory."""
    from safetensors.torch import save_file

    directory = Path(directory)
    layers = {name: m for name, m in model.named_modules() if isinstance(m, NVFP4Linear)}
    if not layers:
        raise ValueError("the model has no NVFP4Linear layer to save")
    modes = {layer.activation_scale for layer in layers.values()}
    if "dynamic" in modes or len(modes) > 1:
        raise ValueError(
            "a ModelOpt checkpoint holds static activation scales (NVFP4) or none (W4A16_NVFP4); this model's layers "
            f"have {sorted(modes)}: run nvfp4.calibrate on layers quantized with activation_scale='static', or "
            "quantize with activation_scale='none'"
        )
    algo = "NVFP4" if modes == {"static"} else "W4A16_NVFP4"
    unquantized = sorted(name for name, m in model.named_modules() if type(m) is torch.nn.Linear and name not in layers)
    state = model.state_dict()
    tied = getattr(getattr(model, "config", None), "tie_word_embeddings", False)
    if tied:
        state.pop("lm_head.weight", None)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in state.items()}, str(directory / "model.safetensors"))
    write_hf_quant_config(directory, algo, unquantized)
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        config_dict = config.to_dict()
        config_dict["quantization_config"] = {"quant_method": "modelopt", "quant_algo": algo, "ignore": unquantized}
        (directory / "config.json").write_text(json.dumps(config_dict, indent=2, default=str) + "\n")
    return directory
