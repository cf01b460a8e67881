"""Timing for the command line's quick figures (``bench``, ``demo``): on a GPU, calls captured in a
CUDA graph and replayed, so that the figure is the kernels' time and not Python's; on the CPU, wall
time. (``benchmarks/timing.py`` is the full method behind the project's published tables.)"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch


def wall_seconds_per_call(calls: Sequence[Callable[[], object]], replays: int = 5) -> float:
    """The median over ``replays`` of the wall time one call of ``calls`` takes, the calls made
    eagerly in turn after one warm-up round (a call that queues GPU work must synchronize)."""
    for call in calls:
        call()
    times = []
    for _ in range(replays):
        start = time.perf_counter()
        for call in calls:
            call()
        times.append((time.perf_counter() - start) / len(calls))
    return statistics.median(times)


def seconds_per_call(calls: Sequence[Callable[[], object]], device: torch.device, replays: int = 5) -> float:
    """The median over ``replays`` of the seconds one call of ``calls`` takes, the calls made in
    turn. On a GPU the calls run once on a side stream (as CUDA graph capture asks), then are
    captured in one graph, whose replays are timed with CUDA events; a call that cannot be
    captured raises. On the CPU, :func:`wall_seconds_per_call`."""
    if device.type != "cuda":
        return wall_seconds_per_call(calls, replays)
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for call in calls:
            call()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for call in calls:
            call()
    graph.replay()
    times = []
    for _ in range(replays):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / len(calls))
    return statistics.median(times)
