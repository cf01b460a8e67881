"""Where the Hopper GEMM's planner leaves time on this GPU.

For each batch size M and weight shape N x K, this script times the plan that
``csrc/sm90/gemm_plan.cuh`` chooses. It then times every configuration the planner could have
chosen instead:

- the split-K kernel with 8 or 16 batch rows a warp (only for small batches), and
- the wgmma kernel with batch tiles of 64, 128 and 256 rows, and for a batch of one 64-row tile
  that tile's wide CTA (``--wide``),

each over a range of K split counts. It reports the fastest of them against the plan.

Every figure is the C++ benchmark's average over a CUDA graph with rotating weights (DESIGN.md
section 5), and every run also verifies its result against a CPU product, unless --no_check
skips that check (it takes seconds a run on the large shapes, the timing a fraction of one). The
planner's cost constants are fitted to such sweeps (benchmarks/NOTES.md).

    cmake -S . -B build/cpp -DCMAKE_BUILD_TYPE=Release && cmake --build build/cpp --target bench_fragment_mm
    python benchmarks/sweep_plans.py --ms 128 384 --shapes 4096x4096 14336x4096 [--no_check]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from timing import run_metadata, write_result

DEFAULT_BINARY = Path(__file__).resolve().parent.parent / "build" / "cpp" / "bench_fragment_mm"
SHAPES = [(8192, 8192), (28672, 8192), (8192, 28672), (6144, 4096)]  # (N, K), as bench_gemm.py
MS = [16, 64, 128, 256, 384, 1024]
SPLITS = [1, 2, 3, 4, 5, 6, 8, 12, 16]
# Batches up to this many rows also try the split-K kernel. Beyond it, that kernel streams the
# weight three times or more, so it is no contender.
SPLIT_K_UP_TO = 32
WGMMA_BATCH_ROWS = (64, 128, 256)


@dataclass
class Run:
    """One run of the C++ benchmark: its options, the plan it ran and how long a call took."""

    options: list[str]
    plan: str
    runtime_us: float | None
    checked: bool  # verified against the CPU product (not with --no_check)
    passed: bool
    output: str  # what the benchmark printed


def parse_run(options: list[str], output: str) -> Run:
    """The plan, time and verification of one bench_fragment_mm run from its output."""
    plan = re.search(r"Plan: (.*)", output)
    runtime = re.search(r"Avg runtime: ([\d.]+) us", output)
    return Run(
        options=options,
        plan=plan.group(1).strip() if plan else "",
        runtime_us=float(runtime.group(1)) if runtime else None,
        checked="Disposition: Not checked" not in output,
        passed="Disposition: Passed" in output,
        output=output,
    )


def candidates(m: int) -> list[list[str]]:
    """The configurations one (M, N, K) is timed with besides its plan. The benchmark clamps a
    split count to what K and the kernel allow; a run that comes out as a plan already timed is
    not reported again."""
    configurations = []
    if m <= SPLIT_K_UP_TO:
        for rows in (8, 16):
            configurations += [[f"--split_k_rows={rows}", f"--splits={s}"] for s in SPLITS if s <= 8]
    for batch_rows in WGMMA_BATCH_ROWS:
        configurations += [[f"--batch_rows={batch_rows}", f"--splits={s}"] for s in SPLITS]
    if m <= WGMMA_BATCH_ROWS[0]:
        configurations += [[f"--batch_rows={WGMMA_BATCH_ROWS[0]}", "--wide", f"--splits={s}"] for s in SPLITS]
    return configurations


def run_bench(binary: Path, m: int, n: int, k: int, options: list[str], iterations: int, check: bool = True) -> Run:
    shape = [f"--m={m}", f"--n={n}", f"--k={k}", f"--iterations={iterations}"] + ([] if check else ["--no_check"])
    result = subprocess.run([str(binary), *shape, *options], capture_output=True, text=True)
    return parse_run(options, result.stdout + result.stderr)


def sweep(binary: Path, m: int, n: int, k: int, iterations: int, check: bool = True) -> dict:
    """The plan's run and every distinct candidate's, and the fastest of them."""
    plan = run_bench(binary, m, n, k, [], iterations, check)
    if not plan.plan:  # no GPU of the kernels' kind, or a build error: the benchmark says which
        sys.exit(f"{binary} ran no plan for M = {m}, {n} x {k}:\n{plan.output}")
    runs, seen = [plan], {plan.plan}
    for options in candidates(m):
        run = run_bench(binary, m, n, k, options, iterations, check)
        if run.plan and run.plan not in seen:
            seen.add(run.plan)
            runs.append(run)
    timed = [run for run in runs if run.runtime_us is not None]
    best = min(timed, key=lambda run: run.runtime_us) if timed else None
    return {
        "m": m,
        "n": n,
        "k": k,
        "plan": asdict(plan),
        "best": asdict(best) if best else None,
        "runs": [asdict(run) for run in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=DEFAULT_BINARY, help="the built bench_fragment_mm")
    parser.add_argument("--ms", type=int, nargs="+", default=MS)
    parser.add_argument("--shapes", type=str, nargs="+", help="N x K pairs such as 8192x8192")
    parser.add_argument("--iterations", type=int, default=200, help="timed calls a run")
    parser.add_argument("--output", type=Path, help="JSON path (default benchmarks/results/plans_<gpu>_<time>.json)")
    parser.add_argument("--no_check", action="store_true", help="time without verifying each run on the CPU")
    args = parser.parse_args()
    if not args.binary.exists():
        sys.exit(f"{args.binary} not found: build it first (see this script's help)")
    shapes = [tuple(int(v) for v in shape.lower().split("x")) for shape in args.shapes] if args.shapes else SHAPES

    results, failures = [], 0
    print(f"{'M':>6} {'N x K':>13} | {'plan':>9} {'best':>9} {'plan/best':>9} | fastest configuration")
    for n, k in shapes:
        for m in args.ms:
            result = sweep(args.binary, m, n, k, args.iterations, check=not args.no_check)
            results.append(result)
            failures += sum(run["checked"] and not run["passed"] for run in result["runs"])
            plan, best = result["plan"], result["best"]
            if plan["runtime_us"] is None or best is None:
                print(f"{m:>6} {f'{n}x{k}':>13} | no timing (see the JSON)")
                continue
            ratio = plan["runtime_us"] / best["runtime_us"]
            print(
                f"{m:>6} {f'{n}x{k}':>13} | {plan['runtime_us']:>9.2f} {best['runtime_us']:>9.2f} {ratio:>9.2f} | "
                f"{best['plan']}"
            )
    write_result({**run_metadata(), "binary": str(args.binary), "results": results}, "plans", args.output)
    if failures:
        sys.exit(f"{failures} runs failed their verification (see the JSON)")


if __name__ == "__main__":
    main()
