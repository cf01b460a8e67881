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
from pathlib import Path

import torch
from timing import copies_for, run_metadata, time_per_call, write_result

import nvfp4

MS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
KS = [4096, 8192, 14336]


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
    return {**run_metadata(), "copy_gbps": copy / 1e9, "rows": rows}


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
    write_result(result, "quant", args.output)


if __name__ == "__main__":
    main()
