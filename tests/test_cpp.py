"""The torch-free C++ targets of CMakeLists.txt: host-only tests of csrc/include/nvfp4 and the
C++ benchmarks' verification runs, built with CMake and run through ctest."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import FP4_MMA_SASS, cutlass_gemm_kernels

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cmake_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("cmake", "ctest"):
        assert shutil.which(tool), f"{tool} is needed to build the C++ tests (apt-get install cmake)"
    build = tmp_path_factory.mktemp("cpp")
    subprocess.run(
        [
            "cmake",
            "-S",
            str(ROOT),
            "-B",
            str(build),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DPython3_EXECUTABLE={sys.executable}",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(["cmake", "--build", str(build), "-j2"], check=True, capture_output=True)
    return build


@pytest.fixture(scope="module")
def ctest_output(cmake_build: Path) -> str:
    result = subprocess.run(
        ["ctest", "--test-dir", str(cmake_build), "--output-on-failure"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def ctest_lines(ctest_output: str, name: str) -> list[str]:
    """ctest's result lines of the test `name` ("  5/14 Test  #5: name ....   Passed")."""
    return [line for line in ctest_output.splitlines() if re.search(rf"Test\s+#\d+: {name}\b", line)]


def test_ctest_passes(ctest_output: str):
    assert "100% tests passed" in ctest_output and "test_format" in ctest_output


def test_gpu_format_checks_run_on_a_gpu(ctest_output: str):
    """The exhaustive GPU test (tests/cpp/test_format_cuda.cu) is skipped only without a GPU."""
    lines = ctest_lines(ctest_output, "test_format_cuda")
    if torch.cuda.is_available():
        assert lines and "Passed" in lines[0], "CMake found no CUDA compiler, or the test failed:\n" + ctest_output
    elif not lines:
        pytest.skip("CMake found no CUDA compiler: the GPU test is not built")
    else:
        assert "Skipped" in lines[0], ctest_output


def test_dependent_launch_checks_run_on_hopper(ctest_output: str):
    """The stream and dependent-launch ordering test (tests/cpp/test_dependent_launch_streams.cu) is
    skipped only without a GPU of compute capability 9.0 or later."""
    lines = ctest_lines(ctest_output, "test_dependent_launch_streams")
    if not lines:
        pytest.skip("CMake found no CUDA compiler: the GPU test is not built")
    if torch.cuda.is_available() and torch.cuda.get_device_capability() >= (9, 0):
        assert "Passed" in lines[0], ctest_output
    else:
        assert "Skipped" in lines[0], ctest_output


def test_gemm_plan_checks_run(ctest_output: str):
    """The Hopper GEMM's planning test (tests/cpp/test_gemm_plan.cu) runs wherever a CUDA compiler is found."""
    lines = ctest_lines(ctest_output, "test_gemm_plan")
    if not lines:
        pytest.skip("CMake found no CUDA compiler: the planning test is not built")
    assert "Passed" in lines[0], ctest_output


def test_sm1xx_gemm_host_checks_run(ctest_output: str):
    """The Blackwell GEMM's block-scale layouts against DESIGN.md section 2 and its can_implement
    (tests/cpp/test_sm1xx_gemm_host.cu) run wherever a CUDA compiler is found: no Blackwell GPU is needed."""
    lines = ctest_lines(ctest_output, "test_sm1xx_gemm_host")
    if not lines:
        pytest.skip("CMake found no CUDA compiler: the Blackwell host test is not built")
    assert "Passed" in lines[0], ctest_output


# Each Blackwell benchmark's GEMM kernels: the configurations of csrc/sm100/fp4_gemm_configs.cuh and
# csrc/sm120/fp4_gemm_configs.cuh, bf16 out.
BENCHMARK_GEMMS = {"bench_fp4_gemm_sm100": ("sm100", 3), "bench_fp4_gemm_sm120": ("sm120", 2)}


@pytest.mark.parametrize("program", sorted(BENCHMARK_GEMMS))
def test_blackwell_gemm_kernels_use_the_block_scaled_fp4_mma(cmake_build: Path, program: str):
    """A build that silently lost the FP4 tensor-core instruction fails here, without a Blackwell GPU."""
    binary = cmake_build / program
    if not binary.exists():
        pytest.skip(f"CMake found no CUDA compiler: {program} is not built")
    arch, configurations = BENCHMARK_GEMMS[program]
    gemms = cutlass_gemm_kernels(binary)
    assert len(gemms) == configurations, f"expected {configurations} configurations' kernels, found {len(gemms)}"
    for gemm in gemms:
        assert re.search(FP4_MMA_SASS[arch], gemm), gemm.split("\n", 1)[0]
