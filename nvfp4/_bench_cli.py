"""``python -m nvfp4 bench``: a quick table for this machine, an NVFP4 linear layer on each backend
that runs here against ``F.linear`` in bf16. On a GPU each figure is a CUDA graph of calls over
enough copies of the weight to stream at least 200 MB a pass (so that the 50 MB L2 cache does not
serve it), the median of 5 replays; on the CPU, eager calls on one weight. The measurement behind
the project's claims is ``benchmarks/bench_gemm.py`` (more batch sizes and shapes, runs side by
side, the median of runs)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._timing import seconds_per_call
from .backends import NvFp4LinearBackend, backend_unavailable_reason
from .constants import BLOCK_SIZE
from .modules import NVFP4Linear

GPU_SHAPES = ((4096, 4096), (14336, 4096))  # (N, K)
CPU_SHAPES = ((1024, 1024), (4096, 1024))  # the emulation backend is slow: smaller shapes
BATCHES = (1, 16, 256)
ROTATION_BYTES = 200 * 2**20  # bytes of weights a pass streams on a GPU
NVFP4_BYTES_PER_WEIGHT = 0.5 + 1 / BLOCK_SIZE  # a code and a sixteenth of a scale byte


def _copies(device: torch.device, weight_bytes: float) -> int:
    return math.ceil(ROTATION_BYTES / weight_bytes) if device.type == "cuda" else 1


def _row(linear: torch.nn.Linear, layers: dict[NvFp4LinearBackend, list[NVFP4Linear]], x: torch.Tensor) -> str:
    """One table row: bf16's time, then each backend's time and speedup over it."""
    device = x.device
    weights = [linear.weight.detach().clone() for _ in range(_copies(device, linear.weight.numel() * 2))]
    bf16 = seconds_per_call([lambda w=w: F.linear(x, w) for w in weights], device)
    cells = []
    for copies in layers.values():
        seconds = seconds_per_call([lambda layer=layer: layer(x) for layer in copies], device)
        cells.append(f"{seconds * 1e6:>9.1f} {bf16 / seconds:>4.2f}x")
    return f"{bf16 * 1e6:>12.1f}" + "".join(f"{cell:>16}" for cell in cells)


def run() -> int:
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    backends = [b for b in NvFp4LinearBackend if backend_unavailable_reason(b, device) is None]
    shapes = GPU_SHAPES if device.type == "cuda" else CPU_SHAPES
    if device.type == "cuda":
        how = "CUDA graphs over >= 200 MB of weights"
        name = torch.cuda.get_device_name(device)
    else:
        how, name = "eager", "CPU"
    print(f"{name}: NVFP4Linear (dynamic activation scale) against F.linear in bf16, {how}, us a call")
    print(f"{'N x K':>13}{'M':>6}{'bf16':>12}" + "".join(f"{b.value:>16}" for b in backends))
    with torch.no_grad():
        for n, k in shapes:
            linear = torch.nn.Linear(k, n, bias=False, dtype=torch.bfloat16, device=device)
            copies = _copies(device, n * k * NVFP4_BYTES_PER_WEIGHT)
            layers = {b: [NVFP4Linear.from_linear(linear, backend=b) for _ in range(copies)] for b in backends}
            for m in BATCHES:
                x = torch.randn(m, k, dtype=torch.bfloat16, device=device)
                print(f"{f'{n}x{k}':>13}{m:>6}" + _row(linear, layers, x))
    return 0
