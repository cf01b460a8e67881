"""nvfp4: NVFP4 (E2M1 values, E4M3 block scales per 16, fp32 tensor scale) for PyTorch.

Ops live under ``torch.ops.nvfp4`` (schemas in csrc/ops.cpp); this package adds typed wrappers,
the layout helpers of the public ``nvfp4_utils`` API and a pure-PyTorch reference.
"""

from ._build import load_extensions

load_extensions()

from . import autograd, constants, reference  # noqa: E402, F401 (autograd registers gradients)
from ._build import build_info, manifest  # noqa: E402
from .backends import NvFp4LinearBackend, select_nvfp4_linear_backend  # noqa: E402
from .checkpoints import load_nvfp4_checkpoint, save_nvfp4_checkpoint  # noqa: E402
from .layout import (  # noqa: E402
    pad_nvfp4_activation_for_cutlass,
    pad_nvfp4_weight_for_cutlass,
    prepare_weights_for_nvfp4_cutlass,
    prepare_weights_for_nvfp4_fbgemm,
    prepare_weights_for_nvfp4_flashinfer_trtllm,
    prepare_weights_for_nvfp4_sm90,
    slice_nvfp4_output,
    unprepare_weights_for_nvfp4_cutlass,
    unprepare_weights_for_nvfp4_fbgemm,
    unprepare_weights_for_nvfp4_flashinfer_trtllm,
    unprepare_weights_for_nvfp4_sm90,
)
from .linear import apply_nvfp4_linear, convert_to_nvfp4_linear_kernel_format  # noqa: E402
from .model import calibrate, quantize_model  # noqa: E402
from .modules import NVFP4Linear, fuse_nvfp4_linears  # noqa: E402
from .ops import (  # noqa: E402
    cutlass_scaled_fp4_mm,
    cutlass_scaled_mm_supports_fp4,
    dequantize,
    global_scale_from_amax,
    nvfp4_qdq,
    scaled_fp4_quant,
    sm90_scaled_fp4_mm,
    swizzle_blockscale,
    unswizzle_blockscale,
)

__version__: str = manifest()["version"]

__all__ = [
    "NVFP4Linear",
    "NvFp4LinearBackend",
    "apply_nvfp4_linear",
    "build_info",
    "calibrate",
    "constants",
    "convert_to_nvfp4_linear_kernel_format",
    "cutlass_scaled_fp4_mm",
    "cutlass_scaled_mm_supports_fp4",
    "dequantize",
    "fuse_nvfp4_linears",
    "global_scale_from_amax",
    "load_nvfp4_checkpoint",
    "nvfp4_qdq",
    "pad_nvfp4_activation_for_cutlass",
    "pad_nvfp4_weight_for_cutlass",
    "prepare_weights_for_nvfp4_cutlass",
    "prepare_weights_for_nvfp4_fbgemm",
    "prepare_weights_for_nvfp4_flashinfer_trtllm",
    "prepare_weights_for_nvfp4_sm90",
    "quantize_model",
    "reference",
    "save_nvfp4_checkpoint",
    "scaled_fp4_quant",
    "select_nvfp4_linear_backend",
    "slice_nvfp4_output",
    "sm90_scaled_fp4_mm",
    "swizzle_blockscale",
    "unprepare_weights_for_nvfp4_cutlass",
    "unprepare_weights_for_nvfp4_fbgemm",
    "unprepare_weights_for_nvfp4_flashinfer_trtllm",
    "unprepare_weights_for_nvfp4_sm90",
    "unswizzle_blockscale",
]
