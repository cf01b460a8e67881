"""Throughput of the CUDA quantize kernels against the device-to-device copy bandwidth measured in
the same process.

Each figure is the median over replays of a CUDA graph of many calls (time / calls), the calls
rotating over enough input copies that each pass streams at least 200 MB (so small shapes are not
served from L2). GB/s counts bytes read plus bytes written.

    python benchmarks/bench_quant.py                     # table, JSON in benchmarks/results/
    python benchmarks/bench_quant.py --plot results.json # PNG of GB/s against M (needs matplotlib)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch

import nvfp4

RESULTS = Path(__file__).parent / "results"
MS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
KS = [4096, 8192, 14336]
ROTATION_BYTES = 200 * 2**20
MAX_COPIES = 64


MIN_CALLS_PER_GRAPH = 100


def time_per_call(calls: list, replays: int = 30) -> float:
    """Median seconds per call of a CUDA graph that makes the calls of `calls` in turn, at least
    100 of them."""
    calls = calls * math.ceil(MIN_CALLS_PER_GRAPH / len(calls))
    for call in calls[:2]:
        call()  # load modules, warm caches outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for call in calls:
            call()
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(replays):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / len(calls))
    return statistics.median(times)


def copy_bandwidth(gib: float = 1.0) -> float:
    """Device-to-device copy bandwidth (bytes read + written per second) over `gib` GiB: the
    faster of the copy engine path (cudaMemcpyAsync) and an elementwise copy kernel."""
    source = torch.randn(int(gib * 2**30) // 4, device="cuda")
    target = torch.empty_like(source)
    memcpy = time_per_call([lambda: target.copy_(source)], replays=5)
    kernel = time_per_call([lambda: torch.mul(source, 1.0, out=target)], replays=5)
    return 2 * source.numel() * 4 / min(memcpy, kernel)


def quant_bytes(m: int, k: int, element_size: int) -> int:
    packed_shape, scale_shape = nvfp4.ops.quantized_shapes(m, k, swizzle=True)
    return m * k * element_size + math.prod(packed_shape) + math.prod(scale_shape)


def copies_for(bytes_per_input: int) -> int:
    return max(1, min(MAX_COPIES, math.ceil(ROTATION_BYTES / bytes_per_input)))


def bench_quant(m: int, k: int, dtype: torch.dtype) -> float:
    inputs = [torch.randn(m, k, dtype=dtype, device="cuda") for _ in range(copies_for(m * k * 2))]
    gs = nvfp4.global_scale_from_amax(inputs[0])
    outputs = [nvfp4.scaled_fp4_quant(x, gs) for x in inputs]
    calls = [
        lambda x=x, out=out: nvfp4.scaled_fp4_quant(x, gs, out=out) for x, out in zip(inputs, outputs, strict=True)
    ]
    return time_per_call(calls)


def bench_qdq(m: int, k: int, dtype: torch.dtype) -> float:
    inputs = [torch.randn(m, k, dtype=dtype, device="cuda") for _ in range(copies_for(m * k * 2))]
    gs = nvfp4.global_scale_from_amax(inputs[0])
    outputs = [torch.empty_like(x) for x in inputs]
    calls = [lambda x=x, out=out: nvfp4.nvfp4_qdq(x, gs, out=out) for x, out in zip(inputs, outputs, strict=True)]
    return time_per_call(calls)


def run(ms: list[int], ks: list[int]) -> dict:
    copy = copy_bandwidth()
    rows = []

    def row(op: str, m: int, k: int, seconds: float, moved: int) -> dict:
        gbps = moved / seconds / 1e9
        return {
            "op": op,
            "m": m,
            "k": k,
            "dtype": "bf16",
            "us": seconds * 1e6,
            "gbps": gbps,
            "of_copy": gbps * 1e9 / copy,
        }

    for k in ks:
        for m in ms:
            rows.append(row("scaled_fp4_quant", m, k, bench_quant(m, k, torch.bfloat16), quant_bytes(m, k, 2)))
    for m, k in [(8192, 8192), (16384, 14336), (1024, 4096)]:
        rows.append(row("nvfp4_qdq", m, k, bench_qdq(m, k, torch.bfloat16), 2 * m * k * 2))
    return {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "nvfp4": nvfp4.__version__,
        "build": {key: nvfp4.build_info()[key] for key in ("cuda_arch_list", "nvcc", "modules")},
        "host": platform.node(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "copy_gbps": copy / 1e9,
        "rows": rows,
    }


def print_table(result: dict) -> None:
    print(f"{result['gpu']}, torch {result['torch']}, CUDA {result['cuda']}, nvfp4 {result['nvfp4']}")
    print(f"device-to-device copy: {result['copy_gbps']:.0f} GB/s (read + written, 1 GiB)")
    print(f"{'op':<18}{'M':>7}{'K':>7}{'us/call':>10}{'GB/s':>9}{'of copy':>9}")
    for row in result["rows"]:
        print(
            f"{row['op']:<18}{row['m']:>7}{row['k']:>7}{row['us']:>10.2f}{row['gbps']:>9.0f}"
            f"{100 * row['of_copy']:>8.1f}%"
        )


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    for k in sorted({row["k"] for row in result["rows"] if row["op"] == "scaled_fp4_quant"}):
        rows = [row for row in result["rows"] if row["op"] == "scaled_fp4_quant" and row["k"] == k]
        axis.plot([row["m"] for row in rows], [row["gbps"] for row in rows], marker="o", label=f"quantize, K={k}")
    axis.axhline(result["copy_gbps"], color="gray", linestyle="--", label="device-to-device copy")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("M (rows)")
    axis.set_ylabel("GB/s (read + written)")
    axis.set_title(f"nvfp4.scaled_fp4_quant, bf16 -> NVFP4 swizzled, {result['gpu']}")
    axis.legend()
    axis.grid(True, alpha=0.3)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plot", type=Path, help="plot a JSON result to PNG instead of running")
    parser.add_argument("--output", type=Path, help="JSON path (default benchmarks/results/quant_<gpu>_<time>.json)")
    parser.add_argument("--ms", type=int, nargs="+", default=MS)
    parser.add_argument("--ks", type=int, nargs="+", default=KS)
    args = parser.parse_args()
    if args.plot:
        plot(json.loads(args.plot.read_text()), args.plot.with_suffix(".png"))
        return
    result = run(args.ms, args.ks)
    print_table(result)
    gpu = result["gpu"].replace(" ", "_")
    output = args.output or RESULTS / f"quant_{gpu}_{result['time'].replace(':', '')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
