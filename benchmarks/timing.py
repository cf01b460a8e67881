"""GPU timing shared by the benchmarks (DESIGN.md section 5): a CUDA graph of many calls, time /
calls, the median over replays; inputs rotated over enough copies that each pass streams at
least 200 MB, so small shapes are not served from the 50 MB L2; and the run's metadata."""

from __future__ import annotations

import json
import math
import platform
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


def time_per_call(calls: list[Callable[[], object]], replays: int = 30, min_calls: int = MIN_CALLS_PER_GRAPH) -> float:
    """Median seconds per call of a CUDA graph that makes the calls of `calls` in turn, repeated
    to at least `min_calls` calls."""
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
    times = []
    for _ in range(replays):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / len(calls))
    return statistics.median(times)


def time_rotating(calls: list[Callable[[], object]], replays: int = 20) -> float:
    """time_per_call with as many calls per graph as give a replay >= MIN_REPLAY_SECONDS (100 at
    most, the length of one rotation at least): long GEMMs do not need 100 calls to be timed."""
    calls[0]()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    calls[0]()
    end.record()
    end.synchronize()
    estimate = max(start.elapsed_time(end) / 1e3, 1e-7)
    wanted = min(MIN_CALLS_PER_GRAPH, max(3, math.ceil(MIN_REPLAY_SECONDS / estimate)))
    return time_per_call(calls, replays, min_calls=max(wanted, len(calls)))


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
