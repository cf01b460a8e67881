"""Whole models: ``quantize_model`` swaps a model's linear layers for ``NVFP4Linear`` in place, and
``calibrate`` records static activation scales from sample batches."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

from .backends import NvFp4LinearBackend
from .constants import BLOCK_SIZE, MAX_GLOBAL_SCALE, NVFP4_RANGE
from .modules import ActivationScale, NVFP4Linear

__all__ = ["DEFAULT_EXCLUDE", "calibrate", "linear_layers", "quantize_model"]

logger = logging.getLogger("nvfp4")

#: Layers left in 16 bits unless asked for: the output head, as ModelOpt's NVFP4 recipe leaves it.
DEFAULT_EXCLUDE = ("lm_head",)


def excluded(name: str, patterns: Sequence[str]) -> bool:
    """Whether a module's qualified name matches one of the fnmatch patterns, or sits inside a
    module that does ("model.layers.0.mlp" excludes "model.layers.0.mlp.up_proj")."""
    return any(fnmatch.fnmatchcase(name, pattern) or name.startswith(pattern + ".") for pattern in patterns)


def linear_layers(
    model: torch.nn.Module, exclude: Sequence[str] = ()
) -> Iterator[tuple[str, torch.nn.Module, str, torch.nn.Linear]]:
    """Every plain ``nn.Linear`` of ``model`` not excluded by a pattern: its qualified name, its
    parent module and its name there (so that it can be replaced), and the layer."""
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            qualified = f"{name}.{child_name}" if name else child_name
            if type(child) is torch.nn.Linear and not excluded(qualified, exclude):
                yield qualified, module, child_name, child


def quantize_model(
    model: torch.nn.Module,
    *,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    activation_scale: ActivationScale = "dynamic",
    backend: NvFp4LinearBackend | str | None = None,
) -> list[str]:
    """Replaces, in place, every ``nn.Linear`` of ``model`` (Hugging Face ``transformers`` models
    included) by an :class:`NVFP4Linear` quantized from it on its device, except the layers whose
    qualified name matches an ``exclude`` pattern (fnmatch, or a parent module's name) and those
    whose input size is not a multiple of 16. ``activation_scale``: ``"dynamic"`` (from each call's
    activation), ``"static"`` (set it with :func:`calibrate`) or ``"none"`` (W4A16). Returns the
    names of the layers it replaced."""
    replaced, skipped = [], []
    for name, parent, child_name, child in list(linear_layers(model, exclude)):
        if child.in_features % BLOCK_SIZE:
            skipped.append(name)
            continue
        setattr(parent, child_name, NVFP4Linear.from_linear(child, activation_scale=activation_scale, backend=backend))
        replaced.append(name)
    if skipped:
        logger.warning("left in 16 bits (input size not a multiple of %d): %s", BLOCK_SIZE, ", ".join(skipped))
    logger.info("quantized %d linear layers to NVFP4", len(replaced))
    return replaced


def _run(model: torch.nn.Module, batch: Any) -> None:
    if isinstance(batch, dict):
        model(**batch)
    elif isinstance(batch, (tuple, list)):
        model(*batch)
    else:
        model(batch)


@torch.no_grad()
def calibrate(model: torch.nn.Module, batches: Iterable[Any]) -> dict[str, torch.Tensor]:
    """Runs ``model`` on ``batches`` (a tensor, a tuple of positional arguments or a dict of keyword
    arguments each) and sets the ``input_scale`` of every :class:`NVFP4Linear` with a static
    activation scale to ``amax / 2688`` of all the inputs it saw (ModelOpt's decode direction; a
    layer that saw only zeros gets scale 1). Returns those scales by layer name."""
    layers = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, NVFP4Linear) and module.activation_scale == "static"
    }
    if not layers:
        raise ValueError("the model has no NVFP4Linear layer with a static activation scale to calibrate")
    amax = {name: layer.weight_scale_2.new_zeros(()) for name, layer in layers.items()}

    def recorder(name: str):
        def record(module: torch.nn.Module, args: tuple) -> None:
            amax[name] = torch.maximum(amax[name], args[0].detach().abs().amax().float())

        return record

    handles = [layer.register_forward_pre_hook(recorder(name)) for name, layer in layers.items()]
    try:
        count = 0
        for batch in batches:
            _run(model, batch)
            count += 1
    finally:
        for handle in handles:
            handle.remove()
    if count == 0:
        raise ValueError("calibrate needs at least one batch")
    scales = {}
    for name, layer in layers.items():
        # The encode scale as global_scale_from_amax gives it, stored in the decode direction.
        gs = torch.where(amax[name] > 0, torch.clamp(NVFP4_RANGE / amax[name], max=MAX_GLOBAL_SCALE), 1.0)
        layer.input_scale = 1.0 / gs
        scales[name] = layer.input_scale
    return scales
