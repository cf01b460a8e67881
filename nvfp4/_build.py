"""Loading of the compiled modules and the description of what this build holds.

setup.py writes ``_build_manifest.json`` beside this file: versions, the requested
architectures and, per compiled module, its sources and the GPU targets it was compiled for.
"""

from __future__ import annotations

import importlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "arch_module_for_capability",
    "build_info",
    "compiled_arch_modules",
    "has_kernel",
    "load_extensions",
    "module_runs_on",
    "target_runs_on",
]

_MANIFEST_PATH = Path(__file__).with_name("_build_manifest.json")
# Dispatch keys reported per op in build_info()["kernels"]. The functional overloads are one
# device-generic kernel (CompositeExplicitAutograd: allocate, then call the `.out` overload), so
# which devices an op runs on is what its `.out` overload reports.
_REPORTED_KEYS = ("CPU", "CUDA", "CompositeExplicitAutograd")


@cache
def manifest() -> dict[str, Any]:
    """The build manifest written by setup.py."""
    if not _MANIFEST_PATH.exists():
        raise ImportError(
            f"nvfp4: {_MANIFEST_PATH.name} is missing; build the package first (pip install --no-build-isolation -e .)"
        )
    return json.loads(_MANIFEST_PATH.read_text())


def compiled_arch_modules() -> list[str]:
    """The architecture modules of this build ("sm90", "sm100", "sm120"), from the manifest."""
    return [name.removeprefix("_C_") for name in manifest()["modules"] if name.startswith("_C_")]


def target_runs_on(target: str, major: int, minor: int) -> bool:
    """Whether machine code compiled for ``target`` (a manifest entry: "sm_100a", "sm_100f",
    "sm_80") runs on a GPU of compute capability major.minor. Architecture-specific code ("a") runs
    only on its own capability; family code ("f") and plain code on their major's capabilities from
    their minor up (sm_100f: 10.0 and 10.3; sm_120f: 12.0 and 12.1)."""
    match = re.fullmatch(r"sm_(\d+)(\d)([af]?)", target)
    if match is None:
        raise ValueError(f"not a GPU target: {target!r}")
    target_major, target_minor, suffix = int(match[1]), int(match[2]), match[3]
    if suffix == "a":
        return (major, minor) == (target_major, target_minor)
    return major == target_major and minor >= target_minor


def module_runs_on(module: str, major: int, minor: int) -> bool:
    """Whether architecture module ``module`` ("sm100") is in this build with machine code for
    compute capability major.minor (an sm_100a build does not run on 10.3, an sm_100f one does)."""
    entry = manifest()["modules"].get(f"_C_{module}")
    return entry is not None and any(target_runs_on(target, major, minor) for target in entry["targets"])


def load_extensions() -> None:
    """Import nvfp4._C (schemas, CPU and architecture-neutral kernels), then every architecture
    module the manifest lists. A listed module that fails to load is an error, not a skip."""
    importlib.import_module("nvfp4._C")
    for module in compiled_arch_modules():
        importlib.import_module(f"nvfp4._C_{module}")


def has_kernel(op: str, device_type: str) -> bool:
    """Whether op ``nvfp4::<op>`` (an overload name such as ``scaled_fp4_quant.out``) has a kernel
    for ``device_type`` ("cpu" or "cuda") in this build."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"nvfp4::{op}", device_type.upper())


def arch_module_for_capability(major: int, minor: int) -> str:
    """The architecture module that serves compute capability major.minor, or "" (C++ decides)."""
    return torch.ops.nvfp4._arch_module_for_capability(major, minor)


def _registered_kernels() -> dict[str, list[str]]:
    kernels = {}
    for qualified in sorted(torch._C._dispatch_get_all_op_names()):
        if not qualified.startswith("nvfp4::"):
            continue
        keys = [key for key in _REPORTED_KEYS if torch._C._dispatch_has_kernel_for_dispatch_key(qualified, key)]
        if keys:
            kernels[qualified.removeprefix("nvfp4::")] = keys
    return kernels


def _runtime() -> dict[str, Any]:
    runtime: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "devices": [],
    }
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(index)
            module = arch_module_for_capability(major, minor)
            runtime["devices"].append(
                {
                    "index": index,
                    "name": torch.cuda.get_device_name(index),
                    "capability": f"{major}.{minor}",
                    "arch_module": module or None,
                    "arch_module_compiled": module in compiled_arch_modules(),
                    "arch_module_runs_on_it": bool(module) and module_runs_on(module, major, minor),
                }
            )
    return runtime


def build_info() -> dict[str, Any]:
    """What this installation holds: the build manifest (versions, requested architectures,
    compiled modules and their GPU targets), the kernels registered per op and dispatch key, and
    the runtime (torch, visible GPUs and the architecture module that serves each)."""
    return {**manifest(), "kernels": _registered_kernels(), "runtime": _runtime()}
