"""setup.py's architecture-list rules, checked without building."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from nvfp4 import _build

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup_module():
    spec = importlib.util.spec_from_file_location("nvfp4_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)  # defines functions only: the build runs under __main__
    return module


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("9.0", ["90a"]),
        ("9.0a;10.0a;12.0a", ["90a", "100a", "120a"]),
        ("8.0 8.6+PTX", ["80", "86"]),
        ("10.0f,12.0f", ["100f", "120f"]),
        ("9.0;9.0a", ["90a"]),
    ],
    ids=str,
)
def test_parse_arch_list(setup_module, value: str, codes: list[str]):
    assert [arch.code for arch in setup_module.parse_arch_list(value)] == codes


def test_ptx_is_kept_on_request(setup_module):
    (arch,) = setup_module.parse_arch_list("8.6+PTX")
    assert arch.gencode_flags() == [
        "-gencode=arch=compute_86,code=sm_86",
        "-gencode=arch=compute_86,code=compute_86",
    ]


@pytest.mark.parametrize("value", ["Hopper", "9", "sm_90", ";"], ids=str)
def test_unknown_entries_fail_the_build(setup_module, value: str):
    with pytest.raises(SystemExit, match="TORCH_CUDA_ARCH_LIST"):
        setup_module.parse_arch_list(value)


def test_modules_follow_the_requested_architectures(setup_module):
    archs = setup_module.parse_arch_list("8.6;9.0a;10.0a;10.3a;12.0a")
    groups = setup_module.arch_module_targets(archs)
    assert {module: [a.code for a in targets] for module, targets in groups.items()} == {
        "sm90": ["90a"],
        "sm100": ["100a", "103a"],
        "sm120": ["120a"],
    }
    assert setup_module.arch_module_targets(setup_module.parse_arch_list("8.0;8.9")) == {}


def test_build_groups_agree_with_runtime_dispatch(setup_module):
    # A module built for a major serves that major's GPUs at run time (csrc/include/nvfp4/arch.h).
    for module, majors in setup_module.ARCH_MODULES.items():
        for major in majors:
            assert _build.arch_module_for_capability(major, 0) == module
