"""The GEMMs of the backends that call a library installed beside nvfp4: FlashInfer's ``mm_fp4``
(its CUTLASS, TRT-LLM or cuDNN kernels) and FBGEMM's ``f4f4bf16``, called as their own projects
and vLLM call them. Each multiplies the activation quantized by this project's
``scaled_fp4_quant`` (swizzled scales) with a weight laid out by the matching
``prepare_weights_for_nvfp4_*`` function, times one alpha; the caller adds the bias and slices
padded columns off. The activation's scales are always in the 128x4 swizzled layout, which
``mm_fp4`` takes at every batch size (vLLM gives the TRT-LLM kernels an 8x4 layout up to 32 rows,
for speed; this project's quantizer does not write it).

The call is the op ``torch.ops.nvfp4.library_scaled_fp4_mm``, defined here rather than in
csrc/ops.cpp because it is Python calling Python: ``torch.compile`` sees one opaque node with a
fake implementation instead of tracing into the library, and the library is imported when the op
runs, so nvfp4 never needs it installed."""

from __future__ import annotations

import importlib
from types import ModuleType

import torch

from .backends import NvFp4LinearBackend

__all__ = ["library_scaled_fp4_mm"]

_FLASHINFER_KERNELS = {
    NvFp4LinearBackend.FLASHINFER_CUTLASS: "cutlass",
    NvFp4LinearBackend.FLASHINFER_TRTLLM: "trtllm",
    NvFp4LinearBackend.FLASHINFER_CUDNN: "cudnn",
}
# Backends whose GEMM writes bf16 only: an fp16 result would be rounded twice (fp32 -> bf16 -> fp16).
BF16_ONLY = (NvFp4LinearBackend.FLASHINFER_TRTLLM, NvFp4LinearBackend.FBGEMM)


def _import(backend: NvFp4LinearBackend, module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ModuleNotFoundError(
            f"the {backend.value} backend calls {module}, which cannot be imported ({error}): "
            f"pip install {backend.library.package}"
        ) from error


@torch.library.custom_op("nvfp4::library_scaled_fp4_mm", mutates_args=())
def _library_scaled_fp4_mm(
    backend: str,
    x_fp4: torch.Tensor,
    weight: torch.Tensor,
    x_scale: torch.Tensor,
    weight_scale: torch.Tensor,
    alpha: torch.Tensor,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    library_backend = NvFp4LinearBackend(backend)
    if library_backend is NvFp4LinearBackend.FBGEMM:
        _import(library_backend, "fbgemm_gpu.experimental.gen_ai")  # registers torch.ops.fbgemm.f4f4bf16
        x_scale_bytes = x_scale.reshape(-1).view(torch.uint8)
        return torch.ops.fbgemm.f4f4bf16(x_fp4, weight, x_scale_bytes, weight_scale, alpha, use_mx=False)
    flashinfer = _import(library_backend, "flashinfer")
    if library_backend is not NvFp4LinearBackend.FLASHINFER_TRTLLM:  # its CUTLASS and cuDNN kernels read bytes
        x_scale, weight_scale = x_scale.view(torch.uint8), weight_scale.view(torch.uint8)
    # mm_fp4 takes the weight and its scales K-major as [K/2, N] and [K/16, N] views.
    return flashinfer.mm_fp4(
        x_fp4,
        weight.t(),
        x_scale,
        weight_scale.t(),
        alpha,
        out_dtype,
        block_size=16,
        backend=_FLASHINFER_KERNELS[library_backend],
    )


@_library_scaled_fp4_mm.register_fake
def _(backend, x_fp4, weight, x_scale, weight_scale, alpha, out_dtype):
    return x_fp4.new_empty((x_fp4.shape[0], weight.shape[0]), dtype=out_dtype)


def library_scaled_fp4_mm(
    backend: NvFp4LinearBackend,
    x_fp4: torch.Tensor,
    weight: torch.Tensor,
    x_scale: torch.Tensor,
    weight_scale: torch.Tensor,
    alpha: torch.Tensor,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """``alpha * (x @ W^T)`` [m, weight rows] in ``out_dtype`` through ``backend``'s library:
    ``x_fp4`` [m, K/2] and its swizzled scales from ``scaled_fp4_quant``, ``weight`` and
    ``weight_scale`` in the backend's layout (N rows, padded where the layout pads), ``alpha`` one
    fp32 value."""
    if backend.library is None:
        raise ValueError(f"the {backend.value} backend calls no library")
    if backend in BF16_ONLY and out_dtype != torch.bfloat16:
        raise TypeError(f"the {backend.value} backend writes bfloat16 only; x is {out_dtype}")
    return _library_scaled_fp4_mm(backend.value, x_fp4, weight, x_scale, weight_scale, alpha, out_dtype)
