"""``python -m nvfp4 bench``: a quick table for this machine, an NVFP4 linear layer on each backend
that runs here against ``F.linear`` in bf16. Quick means: one weight, no rotation of weights
through more memory than the cache holds, eager calls (on a GPU timed with CUDA events). The
measurement behind the project's claims is ``benchmarks/bench_gemm.py`` (CUDA graphs, rotating
weights, the median of runs)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .backends import NvFp4LinearBackend, backend_unavailable_reason
from .modules import NVFP4Linear

GPU_SHAPES = ((4096, 4096), (14336, 4096))  # (N, K)
CPU_SHAPES = ((1024, 1024), (4096, 1024))  # the emulation backend is slow: smaller shapes
BATCHES = (1, 16, 256)


def _seconds(call: Callable[[], object], device: torch.device, repeats: int) -> float:
    for _ in range(2):
        call()
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            call()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / repeats
    begin = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - begin) / repeats


def _row(linear: torch.nn.Linear, layers: dict, x: torch.Tensor, repeats: int) -> str:
    """One table row: bf16's time, then each backend's time and speedup."""
    device = x.device
    bf16 = _seconds(lambda: F.linear(x, linear.weight), device, repeats)
    cells = []
    for layer in layers.values():
        seconds = _seconds(lambda layer=layer: layer(x), device, repeats)
        cells.append(f"{seconds * 1e6:>9.1f} {bf16 / seconds:>4.2f}x")
    return f"{bf16 * 1e6:>12.1f}" + "".join(f"{cell:>16}" for cell in cells)


def run() -> int:
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    backends = [b for b in NvFp4LinearBackend if backend_unavailable_reason(b, device) is None]
    shapes, repeats = (GPU_SHAPES, 20) if device.type == "cuda" else (CPU_SHAPES, 3)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}: NVFP4Linear (dynamic activation scale) against F.linear in bf16, eager, us a call")
    print(f"{'N x K':>13}{'M':>6}{'bf16':>12}" + "".join(f"{b.value:>16}" for b in backends))
    with torch.no_grad():
        for n, k in shapes:
            linear = torch.nn.Linear(k, n, bias=False, dtype=torch.bfloat16, device=device)
            layers = {b: NVFP4Linear.from_linear(linear, backend=b) for b in backends}
            for m in BATCHES:
                x = torch.randn(m, k, dtype=torch.bfloat16, device=device)
                print(f"{f'{n}x{k}':>13}{m:>6}" + _row(linear, layers, x, repeats))
    return 0
