"""The torch-free C++ targets of CMakeLists.txt: host-only tests of csrc/include/nvfp4 and the
C++ benchmarks' verification runs, built with CMake and run through ctest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cmake_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("cmake", "ctest"):
        assert shutil.which(tool), f"{tool} is needed to build the C++ tests (apt-get install cmake)"
    build = tmp_path_factory.mktemp("cpp")
    subprocess.run(
        ["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True
    )
    subprocess.run(["cmake", "--build", str(build), "-j2"], check=True, capture_output=True)
    return build


def test_ctest_passes(cmake_build: Path):
    result = subprocess.run(
        ["ctest", "--test-dir", str(cmake_build), "--output-on-failure"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "100% tests passed" in result.stdout and "test_format" in result.stdout
