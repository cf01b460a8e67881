"""benchmarks/timing.py's replay schedule without a GPU: time_interleaved replays every kernel's
graph once a round, in an order that does not favour any kernel."""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def timing():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import timing

        yield timing
    finally:
        sys.modules.pop("timing", None)
        sys.path.remove(str(BENCHMARKS))


NAMES = ["bf16", "w4a16", "w4a4", "dequant_linear", "humming"]


def test_every_round_replays_every_kernel_once(timing):
    order = timing.replay_order(NAMES, rounds=20)
    assert len(order) == 20 * len(NAMES)
    for start in range(0, len(order), len(NAMES)):
        assert sorted(order[start : start + len(NAMES)]) == sorted(NAMES)


def test_each_kernel_follows_each_other_one(timing):
    """A fixed cyclic order would always put the same kernel after bf16 (and so after its heat);
    shuffled rounds spread the predecessors."""
    order = timing.replay_order(NAMES, rounds=20)
    followers = Counter(itertools.pairwise(order))
    for before in NAMES:
        for after in set(NAMES) - {before}:
            assert followers[before, after] > 0, (before, after)
    after_bf16 = Counter(after for (before, after) in followers.elements() if before == "bf16")
    assert max(after_bf16.values()) <= 10  # of about 20


def test_the_order_is_the_same_every_run(timing):
    assert timing.replay_order(NAMES, rounds=5) == timing.replay_order(NAMES, rounds=5)
    assert timing.replay_order(NAMES, rounds=5, seed=1) != timing.replay_order(NAMES, rounds=5)


@pytest.mark.parametrize("rounds", [0, 1])
def test_few_rounds(timing, rounds):
    assert Counter(timing.replay_order(["a", "b"], rounds)) == Counter({"a": rounds, "b": rounds} if rounds else {})
