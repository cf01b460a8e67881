"""The Hopper NVFP4 GEMM against cuBLAS BF16 (``F.linear``) and the other ways to run an NVFP4
weight on Hopper, in one process, on the same card and inputs.

Kernels: ``bf16`` (cuBLAS through ``torch.matmul(x, w.t(), out=...)``, what ``F.linear`` runs: the
denominator of every speedup), ``w4a16`` (sm90_scaled_fp4_mm),
``w4a4`` (sm90_scaled_fp4_mm given x's global scale: x rounded to NVFP4 inside the GEMM at one
row, by nvfp4_qdq first elsewhere), ``dequant_linear`` (dequantize the weight to
bf16 on every call, then F.linear) and ``humming`` (humming-kernels' HummingLayer on the ModelOpt
tensors, W4A16, when it is installed). Timing per DESIGN.md section 5: a CUDA graph of many
calls, median over replays, the weights rotated over enough copies that each side streams
>= 200 MB a pass; the kernels of one point are timed side by side, in rounds of one replay each in
a shuffled order (timing.time_interleaved), so that the card's power cap and temperature weigh on
all of them alike.

    python benchmarks/bench_gemm.py                      # table, JSON in benchmarks/results/
    python benchmarks/bench_gemm.py --runs 3             # the median of three whole runs (for claims)
    python benchmarks/bench_gemm.py --plot results.json  # PNG: speedup over BF16 against M
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
from timing import copies_for, run_metadata, time_interleaved, write_result

import nvfp4

SHAPES = [(8192, 8192), (28672, 8192), (8192, 28672), (6144, 4096)]  # (N, K)
MS = [1, 16, 64, 256, 1024, 4096, 8192]
KERNELS = ("bf16", "w4a16", "w4a4", "dequant_linear", "humming")


class Weights:
    """Copies of one random weight in every form the kernels read."""

    def __init__(self, n: int, k: int):
        self.n, self.k = n, k
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        self.gs = nvfp4.global_scale_from_amax(w)
        packed, scale = nvfp4.scaled_fp4_quant(w, self.gs, swizzle=False)
        self.bf16 = [w] + [w.clone() for _ in range(copies_for(w.numel() * 2) - 1)]
        fp4_bytes = packed.numel() + scale.numel()
        self.checkpoint = [(packed.clone(), scale.clone()) for _ in range(copies_for(fp4_bytes))]
        self.prepared = [nvfp4.prepare_weights_for_nvfp4_sm90(p, s) for p, s in self.checkpoint]
        self.alpha = (1.0 / self.gs).reshape(())
        self._humming: list | None = None

    def humming_layers(self) -> list:
        """humming-kernels' W4A16 layers of the checkpoint copies (ModelOpt tensors: weight,
        weight_scale and the decode scale weight_scale_2 = 1/gs), built on first use."""
        if self._humming is None:
            from humming.layer import HummingLayer

            self._humming = []
            for packed, scale in self.checkpoint:
                layer = HummingLayer(
                    shape_n=self.n,
                    shape_k=self.k,
                    weight_config={"quant_method": "modelopt", "quant_algo": "NVFP4"},
                    torch_dtype=torch.bfloat16,
                ).cuda()
                layer.load_from_tensors(
                    {"weight": packed, "weight_scale": scale, "weight_scale_2": (1.0 / self.gs).reshape(1)}
                )
                layer.transform()
                self._humming.append(layer)
        return self._humming


def kernel_calls(kernel: str, weights: Weights, x: torch.Tensor) -> list[Callable[[], object]] | None:
    """One call per weight copy, each writing a preallocated output."""
    m, n = x.shape[0], weights.n
    out = torch.empty(m, n, device="cuda", dtype=x.dtype)
    if kernel == "bf16":
        return [lambda w=w: torch.matmul(x, w.t(), out=out) for w in weights.bf16]
    if kernel == "w4a16":
        return [
            lambda w=w, s=s: nvfp4.sm90_scaled_fp4_mm(x, w, s, weights.alpha, None, n, out=out)
            for w, s in weights.prepared
        ]
    if kernel == "w4a4":
        gs_x = nvfp4.global_scale_from_amax(x)
        alpha = weights.alpha / gs_x
        return [
            lambda w=w, s=s: nvfp4.sm90_scaled_fp4_mm(x, w, s, alpha, None, n, gs_x, out=out)
            for w, s in weights.prepared
        ]
    if kernel == "dequant_linear":
        decoded = torch.empty(n, weights.k, device="cuda", dtype=x.dtype)

        def dequant_linear(packed: torch.Tensor, scale: torch.Tensor) -> None:
            nvfp4.dequantize(packed, scale, weights.gs, False, x.dtype, out=decoded)
            torch.matmul(x, decoded.t(), out=out)

        return [lambda p=p, s=s: dequant_linear(p, s) for p, s in weights.checkpoint]
    if kernel == "humming":
        return [lambda layer=layer: layer(x, outputs=out) for layer in weights.humming_layers()]
    raise ValueError(f"unknown kernel {kernel}")


def available(kernel: str) -> bool:
    """humming runs where humming-kernels is installed; the others always."""
    if kernel != "humming":
        return True
    try:
        import humming.layer  # noqa: F401
    except ImportError:
        return False
    return True


def run(shapes: list[tuple[int, int]], ms: list[int], kernels: tuple[str, ...]) -> dict:
    rows = []
    for n, k in shapes:
        weights = Weights(n, k)
        for m in ms:
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            seconds = time_interleaved({kernel: kernel_calls(kernel, weights, x) for kernel in kernels})
            for kernel, time in seconds.items():
                rows.append(
                    {
                        "kernel": kernel,
                        "n": n,
                        "k": k,
                        "m": m,
                        "us": time * 1e6,
                        "tflops": 2 * m * n * k / time / 1e12,
                        "speedup_over_bf16": seconds["bf16"] / time,
                    }
                )
        del weights
        torch.cuda.empty_cache()
    return {**run_metadata(), "rows": rows}


def median_of_runs(runs: list[dict]) -> dict:
    """One result whose every row is the median, over the runs, of that row's time and speedup
    (DESIGN.md section 5: a claim is the median of three runs of the whole benchmark); the runs
    themselves are kept under "runs"."""
    rows = []
    for index, row in enumerate(runs[0]["rows"]):
        same = [run["rows"][index] for run in runs]
        assert all((r["kernel"], r["n"], r["k"], r["m"]) == (row["kernel"], row["n"], row["k"], row["m"]) for r in same)
        rows.append(
            {
                **row,
                "us": statistics.median(r["us"] for r in same),
                "tflops": statistics.median(r["tflops"] for r in same),
                "speedup_over_bf16": statistics.median(r["speedup_over_bf16"] for r in same),
            }
        )
    return {**runs[-1], "rows": rows, "runs": [run["rows"] for run in runs]}


def print_table(result: dict) -> None:
    print(f"{result['gpu']}, torch {result['torch']}, CUDA {result['cuda']}, nvfp4 {result['nvfp4']}")
    kernels = list(dict.fromkeys(row["kernel"] for row in result["rows"]))
    print(f"{'N x K':>13}{'M':>6}{'bf16 us':>10}" + "".join(f"{kernel:>16}" for kernel in kernels[1:]))
    keys = list(dict.fromkeys((row["n"], row["k"], row["m"]) for row in result["rows"]))
    for n, k, m in keys:
        cells = {row["kernel"]: row for row in result["rows"] if (row["n"], row["k"], row["m"]) == (n, k, m)}
        line = f"{f'{n}x{k}':>13}{m:>6}{cells['bf16']['us']:>10.1f}"
        line += "".join(f"{cells[kernel]['speedup_over_bf16']:>15.2f}x" for kernel in kernels[1:])
        print(line)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = list(dict.fromkeys((row["n"], row["k"]) for row in result["rows"]))
    figure, axes = plt.subplots(1, len(shapes), figsize=(5 * len(shapes), 4.5), squeeze=False)
    for axis, (n, k) in zip(axes[0], shapes, strict=True):
        for kernel in dict.fromkeys(row["kernel"] for row in result["rows"]):
            rows = [row for row in result["rows"] if (row["n"], row["k"], row["kernel"]) == (n, k, kernel)]
            axis.plot([row["m"] for row in rows], [row["speedup_over_bf16"] for row in rows], marker="o", label=kernel)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("M (batch rows)")
        axis.set_ylabel("speedup over cuBLAS BF16")
        axis.set_title(f"N x K = {n} x {k}")
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.suptitle(f"NVFP4 GEMMs on {result['gpu']}")
    figure.savefig(path, dpi=110, bbox_inches="tight")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plot", type=Path, help="plot a JSON result to PNG instead of running")
    parser.add_argument("--output", type=Path, help="JSON path (default benchmarks/results/gemm_<gpu>_<time>.json)")
    parser.add_argument("--ms", type=int, nargs="+", default=MS)
    parser.add_argument("--shapes", type=str, nargs="+", help="N x K pairs such as 8192x8192")
    parser.add_argument("--kernels", type=str, nargs="+", default=list(KERNELS), choices=KERNELS)
    parser.add_argument("--runs", type=int, default=1, help="whole-benchmark runs; the table shows their median")
    args = parser.parse_args()
    if args.plot:
        plot(json.loads(args.plot.read_text()), args.plot.with_suffix(".png"))
        return
    shapes = [tuple(int(v) for v in shape.split("x")) for shape in args.shapes] if args.shapes else SHAPES
    kernels = tuple(dict.fromkeys(["bf16", *args.kernels]))
    missing = [kernel for kernel in kernels if not available(kernel)]
    if missing:
        print(f"skipping {', '.join(missing)}: humming-kernels is not installed (pip install humming-kernels==0.1.19)")
        kernels = tuple(kernel for kernel in kernels if kernel not in missing)
    runs = [run(shapes, args.ms, kernels) for _ in range(args.runs)]
    result = median_of_runs(runs) if len(runs) > 1 else runs[0]
    if len(runs) > 1:
        print(f"median of {len(runs)} runs")
    print_table(result)
    write_result(result, "gemm", args.output)


if __name__ == "__main__":
    main()
