"""GPU timing shared by the benchmarks (DESIGN.md section 5): a CUDA graph of many calls, time /
calls, the median over replays; inputs rotated over enough copies that each pass streams at
least 200 MB, so small shapes are not served from the 50 MB L2; and the run's metadata."""

from __future__ import annotations

import json
import math
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

import nvfp4

ROTATION_BYTES = 200 * 2**20
MAX_COPIES = 64
MIN_CALLS_PER_GRAPH = 100
# Long calls get fewer per graph: at least this much GPU time per replay, and at least 3 calls.
MIN_REPLAY_SECONDS = 0.02


def copies_for(bytes_per_copy: int) -> int:
    """How many copies of an input of `bytes_per_copy` bytes make a pass of >= 200 MB."""
    return max(1, min(MAX_COPIES, math.ceil(ROTATION_BYTES / bytes_per_copy)))


def _capture(calls: list[Callable[[], object]], min_calls: int) -> tuple[torch.cuda.CUDAGraph, int]:
    """A CUDA graph that makes the calls of `calls` in turn, repeated to at least `min_calls`
    calls, replayed once; and its number of calls."""
    calls = calls * math.ceil(min_calls / len(calls))
    for call in calls[:2]:
        call()  # load modules, warm caches outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for call in calls:
            call()
    graph.replay()
    torch.cuda.synchronize()
    return graph, len(calls)


def _replay_seconds(graph: torch.cuda.CUDAGraph) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    graph.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def time_per_call(calls: list[Callable[[], object]], replays: int = 30, min_calls: int = MIN_CALLS_PER_GRAPH) -> float:
    """Median seconds per call of a CUDA graph that makes the calls of `calls` in turn, repeated
    to at least `min_calls` calls."""
    graph, count = _capture(calls, min_calls)
    return statistics.median(_replay_seconds(graph) / count for _ in range(replays))


def _calls_per_graph(calls: list[Callable[[], object]]) -> int:
    """As many calls as give a replay >= MIN_REPLAY_SECONDS (MIN_CALLS_PER_GRAPH at most, the
    length of one rotation at least): long GEMMs do not need 100 calls to be timed."""
    calls[0]()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    calls[0]()
    end.record()
    end.synchronize()
    estimate = max(start.elapsed_time(end) / 1e3, 1e-7)
    wanted = min(MIN_CALLS_PER_GRAPH, max(3, math.ceil(MIN_REPLAY_SECONDS / estimate)))
    return max(wanted, len(calls))


def replay_order(names: list[str], rounds: int, seed: int = 0) -> list[str]:
    """The order in which time_interleaved replays the kernels' graphs: every kernel once a round,
    each round shuffled anew (from a fixed seed, so every run replays alike). Over the rounds each
    kernel then follows each of the others about equally often: under the card's power cap the
    clocks a replay starts with depend on the kernel before it."""
    generator = random.Random(seed)
    order = []
    for _ in range(rounds):
        round_names = list(names)
        generator.shuffle(round_names)
        order += round_names
    return order


def time_interleaved(kernels: dict[str, list[Callable[[], object]]], replays: int = 20) -> dict[str, float]:
    """Median seconds per call of each kernel's rotating calls, the kernels timed side by side:
    each kernel's calls are captured in a graph of their own, then the graphs are replayed in
    rounds, each round every graph once (replay_order). A drift of the card's clocks or temperature
    during the measurement then falls on every kernel alike instead of on whichever ran after a
    hot one (H100, benchmarks/NOTES.md: a compute-bound GEMM at M = 4096 holds the 700 W cap, the
    clocks fall from 1980 to 1100-1450 MHz within a second, and recover within seconds)."""
    graphs = {name: _capture(calls, _calls_per_graph(calls)) for name, calls in kernels.items()}
    seconds: dict[str, list[float]] = {name: [] for name in graphs}
    for name in replay_order(list(graphs), replays):
        graph, count = graphs[name]
        seconds[name].append(_replay_seconds(graph) / count)
    return {name: statistics.median(values) for name, values in seconds.items()}


def run_metadata() -> dict:
    """The machine, software and build a result was measured on."""
    return {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "nvfp4": nvfp4.__version__,
        "build": {key: nvfp4.build_info()[key] for key in ("cuda_arch_list", "nvcc", "modules")},
        "host": platform.node(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def write_result(result: dict, name: str, output: Path | None) -> Path:
    """Writes `result` as JSON to `output`, by default benchmarks/results/<name>_<gpu>_<time>.json."""
    gpu = result["gpu"].replace(" ", "_")
    output = output or Path(__file__).parent / "results" / f"{name}_{gpu}_{result['time'].replace(':', '')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")
    return output
