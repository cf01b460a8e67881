"""benchmarks/sweep_plans.py without a GPU: a stand-in for bench_fragment_mm prints what the real
one prints, so the parsing, the de-duplication of equal plans and the choice of the fastest run are
checked here; on a GPU the script runs the real benchmark."""

from __future__ import annotations

import importlib.util
import stat
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def sweep_plans():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling timing.py
    try:
        spec = importlib.util.spec_from_file_location("sweep_plans", BENCHMARKS / "sweep_plans.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("sweep_plans", None)
        sys.path.remove(str(BENCHMARKS))


# The stand-in: the plan is the forced batch tile (64 rows when none is forced; --wide names the
# wide CTA, as the real benchmark does) with the split count clamped to 4, as the real benchmark
# clamps to what K allows; more splits run faster, the wide CTA a microsecond faster still.
FAKE_BENCH = """#!{python}
import sys
checked = "--no_check" not in sys.argv
flags = {{"--no_check", "--wide"}}
options = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:] if arg not in flags)
wide = "--wide" in sys.argv
if "m" in options and int(options["m"]) == 0:
    print("bench_fragment_mm: no CUDA GPU here. Nothing to run.")
    sys.exit(0)
rows = options.get("batch_rows", "64")
splits = min(int(options.get("splits", "1")), 4)
print(f"  Plan: wgmma, batch tile {{rows}}, {{splits}} K splits" + (", 7 consumer warpgroups a CTA" if wide else ""))
print("  Disposition: Passed (relative error 1.6e-03 on rows across the batch)" if checked
      else "  Disposition: Not checked (--no_check)")
print(f"  Avg runtime: {{100.0 / splits + int(rows) / 64 - wide:.2f}} us")
"""


@pytest.fixture
def fake_binary(tmp_path: Path) -> Path:
    binary = tmp_path / "bench_fragment_mm"
    binary.write_text(FAKE_BENCH.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return binary


def test_a_run_is_parsed(sweep_plans):
    output = (
        "  Plan: split-K mma.sync, batch tile 16, 6 K splits, x through a TMA ring\n"
        "  Chunks: 1\n"
        "  Disposition: Passed (relative error 1.66e-03 on rows across the batch)\n"
        "  Avg runtime: 22.66 us\n"
    )
    run = sweep_plans.parse_run(["--splits=6"], output)
    assert run.plan == "split-K mma.sync, batch tile 16, 6 K splits, x through a TMA ring"
    assert run.runtime_us == pytest.approx(22.66) and run.passed
    assert run.checked
    failed = sweep_plans.parse_run([], "  Plan: wgmma, batch tile 64, 1 K splits\n  Disposition: Failed (...)\n")
    assert failed.runtime_us is None and failed.checked and not failed.passed
    unchecked = sweep_plans.parse_run(
        [],
        "  Plan: wgmma, batch tile 64, 1 K splits\n  Disposition: Not checked (--no_check)\n  Avg runtime: 9.50 us\n",
    )
    assert unchecked.runtime_us == pytest.approx(9.5) and not unchecked.checked


def test_small_batches_also_try_the_split_k_kernel(sweep_plans):
    def kernels(m: int) -> set[str]:
        return {options[0].split("=")[0] for options in sweep_plans.candidates(m)}

    assert kernels(16) == {"--split_k_rows", "--batch_rows"}
    assert kernels(sweep_plans.SPLIT_K_UP_TO + 1) == {"--batch_rows"}


def test_batches_of_one_64_row_tile_also_try_its_wide_cta(sweep_plans):
    def wide_runs(m: int) -> int:
        return sum("--wide" in options for options in sweep_plans.candidates(m))

    assert wide_runs(64) == len(sweep_plans.SPLITS)
    assert wide_runs(65) == 0


def test_the_sweep_times_each_plan_once_and_finds_the_fastest(sweep_plans, fake_binary: Path):
    result = sweep_plans.sweep(fake_binary, 64, 4096, 4096, iterations=1)
    plans = [run["plan"] for run in result["runs"]]
    assert len(plans) == len(set(plans))  # splits past 4 came out as 4 splits: reported once
    assert result["plan"]["plan"] == "wgmma, batch tile 64, 1 K splits"
    assert result["best"]["plan"] == "wgmma, batch tile 64, 4 K splits, 7 consumer warpgroups a CTA"
    assert result["best"]["runtime_us"] == pytest.approx(25.0)


def test_a_sweep_without_the_cpu_check_times_the_same_runs(sweep_plans, fake_binary: Path):
    checked = sweep_plans.sweep(fake_binary, 64, 4096, 4096, iterations=1)
    unchecked = sweep_plans.sweep(fake_binary, 64, 4096, 4096, iterations=1, check=False)
    assert [run["plan"] for run in unchecked["runs"]] == [run["plan"] for run in checked["runs"]]
    assert not any(run["checked"] for run in unchecked["runs"]) and all(run["checked"] for run in checked["runs"])
    assert unchecked["best"]["runtime_us"] == pytest.approx(checked["best"]["runtime_us"])


def test_a_benchmark_that_runs_nothing_stops_the_sweep(sweep_plans, fake_binary: Path):
    with pytest.raises(SystemExit, match="Nothing to run"):
        sweep_plans.sweep(fake_binary, 0, 4096, 4096, iterations=1)
