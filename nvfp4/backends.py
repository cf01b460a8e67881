"""Which backend runs an NVFP4 linear layer here: the backends and the rule that picks one.

The rule:

1. ``NVFP4_LINEAR_BACKEND`` names a backend (``auto``, the default, applies the rule below). An
   unknown name is an error listing the valid ones; a named backend that cannot run here is an error
   saying why.
2. On compute capability 10.x and 12.x, a W4A4 checkpoint (one with activation scales) gets the
   native CUTLASS backend, where this build holds its kernels for the GPU.
3. On 9.x, Hopper W4A16: the most accurate NVFP4 product and the fastest on Hopper.
   ``hopper-w4a4``, on request, reproduces the numerics of NVFP4 tensor cores instead.
4. EMULATION everywhere else (the CPU included).

A checkpoint without activation scales (``W4A16_NVFP4``) never gets a W4A4 backend: on Blackwell it
runs EMULATION, with a one-time warning, as no Blackwell W4A16 kernel exists yet. Each choice is
logged once.

The backends that call a library installed beside nvfp4 (FlashInfer's ``mm_fp4`` with its CUTLASS,
TRT-LLM or cuDNN kernels; FBGEMM's ``f4f4bf16``) run only when named, where the library is installed
and the GPU is one it supports.
"""

from __future__ import annotations

import enum
import functools
import importlib.util
import logging
import os
from typing import NamedTuple

import torch

from ._build import has_kernel, module_runs_on
from .ops import cutlass_scaled_mm_supports_fp4

__all__ = [
    "BACKEND_VARIABLE",
    "Library",
    "NvFp4LinearBackend",
    "backend_unavailable_reason",
    "select_nvfp4_linear_backend",
]

BACKEND_VARIABLE = "NVFP4_LINEAR_BACKEND"
_AUTO = "auto"

logger = logging.getLogger("nvfp4")


class NvFp4LinearBackend(enum.Enum):
    """How an NVFP4 linear layer computes ``x @ W^T``."""

    CUTLASS = "cutlass"  # native FP4 tensor cores, compute capability 10.x / 12.x: W4A4
    HOPPER_W4A16 = "hopper-w4a16"  # sm90_scaled_fp4_mm on the 16-bit activation
    HOPPER_W4A4 = "hopper-w4a4"  # sm90_scaled_fp4_mm on the activation rounded to NVFP4
    EMULATION = "emulation"  # the project's quantize / dequantize ops and a matmul, on any device
    FLASHINFER_CUTLASS = "flashinfer-cutlass"  # FlashInfer's mm_fp4, its CUTLASS kernels: W4A4
    FLASHINFER_TRTLLM = "flashinfer-trtllm"  # FlashInfer's mm_fp4, its TRT-LLM kernels: W4A4
    FLASHINFER_CUDNN = "flashinfer-cudnn"  # FlashInfer's mm_fp4 through cuDNN: W4A4
    FBGEMM = "fbgemm"  # FBGEMM's f4f4bf16: W4A4

    @property
    def rounds_activations(self) -> bool:
        """Whether the backend always multiplies NVFP4 activations, and so needs the layer's
        activation scale. EMULATION follows the layer: W4A4 where it has one, W4A16 where not."""
        return self not in (NvFp4LinearBackend.HOPPER_W4A16, NvFp4LinearBackend.EMULATION)

    @property
    def library(self) -> Library | None:
        """The library the backend calls, for those that are not the project's own kernels."""
        return _LIBRARIES.get(self)

    @property
    def takes_per_channel_alpha(self) -> bool:
        """Whether the backend multiplies by one alpha per output channel (fused shards with
        different global scales stay exact); the libraries' GEMMs take one alpha."""
        return self.library is None

    @classmethod
    def from_name(cls, name: str) -> NvFp4LinearBackend:
        """The backend called ``name`` (its value, case-insensitive), or a ValueError listing them."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            valid = ", ".join([_AUTO, *(backend.value for backend in cls)])
            raise ValueError(f"unknown NVFP4 linear backend {name!r}; valid names: {valid}") from None


class Library(NamedTuple):
    """A GEMM library a backend calls: its import name, the package that installs it, and the
    compute capabilities (major versions) its NVFP4 GEMM runs on."""

    module: str
    package: str
    majors: tuple[int, ...]


_FLASHINFER = ("flashinfer", "flashinfer-python")
_LIBRARIES = {
    NvFp4LinearBackend.FLASHINFER_CUTLASS: Library(*_FLASHINFER, (10, 12)),
    NvFp4LinearBackend.FLASHINFER_TRTLLM: Library(*_FLASHINFER, (10,)),
    NvFp4LinearBackend.FLASHINFER_CUDNN: Library(*_FLASHINFER, (10, 12)),
    NvFp4LinearBackend.FBGEMM: Library("fbgemm_gpu", "fbgemm-gpu-genai", (10,)),
}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _capability(device: torch.device) -> tuple[int, int]:
    return torch.cuda.get_device_capability(device)


def _gpu_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device)


def _hopper_kernels_run_on(major: int, minor: int) -> bool:
    return module_runs_on("sm90", major, minor) and has_kernel("_fragment_mm_sm90", "cuda")


def backend_unavailable_reason(
    backend: NvFp4LinearBackend, device: torch.device | str, rounds_activations: bool = True
) -> str | None:
    """Why ``backend`` cannot run a layer on ``device``, or None where it can.
    ``rounds_activations``: the checkpoint has activation scales (W4A4); False for W4A16."""
    device = torch.device(device)
    if backend.rounds_activations and not rounds_activations:
        return (
            f"{backend.value} multiplies NVFP4 activations, and this checkpoint has no activation scale "
            "(W4A16): use hopper-w4a16 or emulation"
        )
    if backend is NvFp4LinearBackend.EMULATION:
        return None
    if device.type != "cuda":
        return f"{backend.value} runs on CUDA GPUs; the layer is on {device}"
    major, minor = _capability(device)
    gpu = f"{_gpu_name(device)} (compute capability {major}.{minor})"
    library = backend.library
    if library is not None:
        if major not in library.majors:
            needed = " or ".join(f"{m}.x" for m in library.majors)
            return f"{backend.value} needs a GPU of compute capability {needed}; this is {gpu}"
        if not _installed(library.module):
            return f"{backend.value} calls {library.module}, which is not installed (pip install {library.package})"
        return None
    if backend is NvFp4LinearBackend.CUTLASS:
        if not cutlass_scaled_mm_supports_fp4(10 * major + minor):
            return (
                f"cutlass needs a GPU of compute capability 10.x or 12.x and a build with its kernels for that "
                f"GPU; this is {gpu} (python -m nvfp4 info lists what the build holds)"
            )
        return None
    if not _hopper_kernels_run_on(major, minor):
        return (
            f"{backend.value} needs a GPU of compute capability 9.0 and a build with the sm90 module "
            f"(TORCH_CUDA_ARCH_LIST=9.0a); this is {gpu} (python -m nvfp4 info lists what the build holds)"
        )
    return None


def _default_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def _automatic(device: torch.device, rounds_activations: bool) -> NvFp4LinearBackend:
    if device.type != "cuda":
        return NvFp4LinearBackend.EMULATION
    major, _ = _capability(device)
    if major in (10, 12):
        if not rounds_activations:
            _warn_once(
                f"no Blackwell W4A16 kernel exists yet: W4A16 checkpoints run on the emulation backend "
                f"(dequantize, then matmul) on {_gpu_name(device)}"
            )
            return NvFp4LinearBackend.EMULATION
        reason = backend_unavailable_reason(NvFp4LinearBackend.CUTLASS, device)
        if reason is None:
            return NvFp4LinearBackend.CUTLASS
        _warn_once(f"NVFP4 linear layers run on the emulation backend: {reason}")
    elif major == 9:
        reason = backend_unavailable_reason(NvFp4LinearBackend.HOPPER_W4A16, device, rounds_activations)
        if reason is None:
            return NvFp4LinearBackend.HOPPER_W4A16
        _warn_once(f"NVFP4 linear layers run on the emulation backend: {reason}")
    return NvFp4LinearBackend.EMULATION


@functools.cache
def _warn_once(message: str) -> None:
    logger.warning(message)


@functools.cache
def _log_choice_once(backend: NvFp4LinearBackend, device: torch.device, how: str) -> None:
    logger.info("NVFP4 linear layers on %s use the %s backend (%s)", device, backend.value, how)


def select_nvfp4_linear_backend(
    device: torch.device | str | None = None, *, rounds_activations: bool = True
) -> NvFp4LinearBackend:
    """The backend for NVFP4 linear layers on ``device`` (the current CUDA device, else the CPU),
    by the rule in this module's docstring. ``rounds_activations``: the checkpoint has activation
    scales (W4A4); False for a W4A16 checkpoint."""
    device = _default_device() if device is None else torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    name = os.environ.get(BACKEND_VARIABLE, _AUTO).strip()
    if name.lower() == _AUTO or not name:
        backend = _automatic(device, rounds_activations)
        _log_choice_once(backend, device, f"{BACKEND_VARIABLE}=auto")
        return backend
    backend = NvFp4LinearBackend.from_name(name)
    reason = backend_unavailable_reason(backend, device, rounds_activations)
    if reason is not None:
        raise RuntimeError(f"{BACKEND_VARIABLE}={name} cannot run here: {reason}")
    _log_choice_once(backend, device, f"{BACKEND_VARIABLE}={name}")
    return backend
