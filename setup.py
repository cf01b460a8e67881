"""Build of nvfp4: one extension per architecture group, each with its own compiler flags.

- ``nvfp4._C``: op schemas, CPU kernels and, when a CUDA toolkit and a CUDA build of torch are
  present, the architecture-neutral CUDA kernels (compiled for sm_80 + PTX and for every
  requested architecture).
- ``nvfp4._C_sm90`` / ``_C_sm100`` / ``_C_sm120``: the sources of ``csrc/sm90``, ``csrc/sm100``,
  ``csrc/sm120``, each compiled only for its own architecture and only when
  ``TORCH_CUDA_ARCH_LIST`` asks for it.

Environment switches:
  TORCH_CUDA_ARCH_LIST  architectures, e.g. "9.0a;10.0a;12.0a" (default: the visible GPU, or
                        "9.0a;10.0f;12.0f" without one). 9.x, 10.x and 12.x mean their "a"
                        (architecture-specific) targets unless given as "f" family targets. An "a"
                        target runs only on its own compute capability (sm_100a: 10.0); a family
                        target on its major's from its minor up (sm_100f: 10.0 and 10.3; sm_120f:
                        12.0 and 12.1).
  NVFP4_CPU_ONLY=1      build only the schemas and CPU kernels.
  DEBUG=1               -O0 -g (and -G for device code).
  NVCC_THREADS          nvcc --threads (default 4).
  MAX_JOBS              parallel compile jobs (read by torch.utils.cpp_extension).

The build writes nvfp4/_build_manifest.json, which nvfp4.build_info(), the backend selection
and the tests read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch
from setuptools import find_packages, setup
from torch.utils import cpp_extension
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

VERSION = "0.1.0"
ROOT = Path(__file__).resolve().parent
CSRC = Path("csrc")
MANIFEST = ROOT / "nvfp4" / "_build_manifest.json"
CUTLASS_VERSION = "4.2.0.0"
DEFAULT_ARCHS_WITHOUT_GPU = "9.0a;10.0f;12.0f"
# Architecture modules: the compute-capability majors each one serves.
ARCH_MODULES = {"sm90": (9,), "sm100": (10,), "sm120": (12,)}
# Majors whose kernels need the architecture-specific ("a") target by default.
ARCH_SPECIFIC_MAJORS = (9, 10, 11, 12)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() not in ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class Arch:
    major: int
    minor: int
    suffix: str  # "", "a" or "f"
    ptx: bool

    @property
    def code(self) -> str:
        return f"{self.major}{self.minor}{self.suffix}"

    def gencode_flags(self) -> list[str]:
        flags = [f"-gencode=arch=compute_{self.code},code=sm_{self.code}"]
        if self.ptx:
            flags.append(f"-gencode=arch=compute_{self.code},code=compute_{self.code}")
        return flags


# The oldest architecture the architecture-neutral kernels target; its PTX covers newer GPUs.
BASELINE_ARCH = Arch(8, 0, "", ptx=True)


def parse_arch_list(value: str) -> list[Arch]:
    archs = []
    for entry in re.split(r"[;,\s]+", value.strip()):
        if not entry:
            continue
        match = re.fullmatch(r"(\d+)\.(\d)([af]?)(\+PTX)?", entry)
        if match is None:
            raise SystemExit(
                f"nvfp4: TORCH_CUDA_ARCH_LIST entry {entry!r} is not of the form 9.0, 9.0a, 10.0f or 8.6+PTX"
            )
        major, minor = int(match.group(1)), int(match.group(2))
        suffix = match.group(3) or ("a" if major in ARCH_SPECIFIC_MAJORS else "")
        archs.append(Arch(major, minor, suffix, match.group(4) is not None))
    if not archs:
        raise SystemExit("nvfp4: TORCH_CUDA_ARCH_LIST is set but names no architecture")
    return list(dict.fromkeys(archs))


def requested_arch_list() -> str:
    value = os.environ.get("TORCH_CUDA_ARCH_LIST", "").strip()
    if value:
        return value
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        return f"{major}.{minor}"
    return DEFAULT_ARCHS_WITHOUT_GPU


def arch_module_targets(archs: list[Arch]) -> dict[str, list[Arch]]:
    """The architecture modules a list of architectures asks for, with each one's targets."""
    groups = {module: [arch for arch in archs if arch.major in majors] for module, majors in ARCH_MODULES.items()}
    return {module: targets for module, targets in groups.items() if targets}


def nvcc_version() -> str:
    output = subprocess.check_output([os.path.join(CUDA_HOME, "bin", "nvcc"), "--version"], text=True)
    match = re.search(r"release (\d+\.\d+), V([\d.]+)", output)
    return match.group(2) if match else output.strip().splitlines()[-1]


def check_nvcc_supports(archs: list[Arch]) -> None:
    """A requested architecture the toolkit cannot compile fails the build, never silently."""
    nvcc = os.path.join(CUDA_HOME, "bin", "nvcc")
    supported = set(subprocess.check_output([nvcc, "--list-gpu-code"], text=True).split())
    # nvcc lists base targets (sm_100); the "a" and "f" variants come with them.
    missing = [f"sm_{arch.code}" for arch in archs if f"sm_{arch.major}{arch.minor}" not in supported]
    if missing:
        raise SystemExit(
            f"nvfp4: nvcc {nvcc_version()} at {CUDA_HOME} cannot compile {', '.join(missing)} "
            "(sm_100a and sm_120a need CUDA >= 12.8, the 'f' family targets CUDA >= 12.9)"
        )


def cutlass_include_dir() -> tuple[str, str]:
    try:
        from importlib.metadata import version

        import cutlass_library
    except ImportError as error:
        raise SystemExit(
            "nvfp4: the architecture modules need the CUTLASS headers: "
            f"pip install --no-deps nvidia-cutlass=={CUTLASS_VERSION}"
        ) from error
    installed = version("nvidia-cutlass")
    if installed != CUTLASS_VERSION:
        raise SystemExit(
            f"nvfp4: needs nvidia-cutlass=={CUTLASS_VERSION}, found {installed}: "
            f"pip install --no-deps nvidia-cutlass=={CUTLASS_VERSION}"
        )
    return os.path.join(cutlass_library.source_path, "include"), installed


def sources(folder: Path, patterns: tuple[str, ...]) -> list[str]:
    return sorted(str(path) for pattern in patterns for path in (ROOT / folder).glob(pattern))


def relative(paths: list[str]) -> list[str]:
    return [os.path.relpath(path, ROOT) for path in paths]


def build() -> tuple[list, dict]:
    debug = env_flag("DEBUG")
    has_cuda = not env_flag("NVFP4_CPU_ONLY") and CUDA_HOME is not None and torch.version.cuda is not None
    optimization = ["-O0", "-g"] if debug else ["-O3", "-DNDEBUG"]
    # IEEE fp32 everywhere: no fast math, no flush to zero (DESIGN.md section 1).
    # torch adds the C++ standard its headers need, and Py_LIMITED_API for py_limited_api=True.
    cxx_flags = optimization
    include_dirs = [str(ROOT / CSRC), str(ROOT / CSRC / "include")]
    core_sources = relative(sources(CSRC, ("*.cpp",)) + sources(CSRC / "cpu", ("*.cpp",)))
    manifest: dict = {
        "version": VERSION,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "debug": debug,
        "cuda": has_cuda,
        "nvcc": None,
        "cuda_arch_list": None,
        "cutlass": None,
        "modules": {},
    }

    if not has_cuda:
        extension = CppExtension(
            "nvfp4._C",
            core_sources,
            include_dirs=include_dirs,
            extra_compile_args={"cxx": cxx_flags},
            py_limited_api=True,
        )
        manifest["modules"]["_C"] = {"sources": core_sources, "targets": []}
        return [extension], manifest

    arch_list = requested_arch_list()
    archs = parse_arch_list(arch_list)
    check_nvcc_supports(archs)
    nvcc_common = [
        *optimization,
        *(["-G"] if debug else ["-lineinfo"]),
        "--expt-relaxed-constexpr",
        f"--threads={os.environ.get('NVCC_THREADS', '4')}",
    ]
    core_archs = list(dict.fromkeys([BASELINE_ARCH, *archs]))
    core_cuda_sources = relative(sources(CSRC / "cuda", ("*.cu", "*.cpp")))
    extensions = [
        CUDAExtension(
            "nvfp4._C",
            core_sources + core_cuda_sources,
            include_dirs=include_dirs,
            extra_compile_args={
                "cxx": cxx_flags,
                "nvcc": nvcc_common + [flag for arch in core_archs for flag in arch.gencode_flags()],
            },
            py_limited_api=True,
        )
    ]
    manifest["nvcc"] = nvcc_version()
    manifest["cuda_arch_list"] = arch_list
    manifest["modules"]["_C"] = {
        "sources": core_sources + core_cuda_sources,
        "targets": [f"sm_{arch.code}" for arch in core_archs],
    }

    for module, module_archs in arch_module_targets(archs).items():
        cutlass_include, manifest["cutlass"] = cutlass_include_dir()
        module_sources = relative(sources(CSRC / module, ("*.cu", "*.cpp")))
        if not module_sources:
            raise SystemExit(f"nvfp4: {arch_list!r} asks for {module}, but csrc/{module} has no sources")
        extensions.append(
            CUDAExtension(
                f"nvfp4._C_{module}",
                module_sources,
                include_dirs=[*include_dirs, cutlass_include],
                extra_compile_args={
                    "cxx": cxx_flags,
                    "nvcc": nvcc_common + [flag for arch in module_archs for flag in arch.gencode_flags()],
                },
                py_limited_api=True,
            )
        )
        manifest["modules"][f"_C_{module}"] = {
            "sources": module_sources,
            "targets": [f"sm_{arch.code}" for arch in module_archs],
        }
    return extensions, manifest


def limited_api_tag() -> str:
    """The wheel tag of the Python limited API torch compiles extensions against ("cp310")."""
    version = int(getattr(cpp_extension, "min_supported_cpython", "0x030A0000"), 16)
    return f"cp3{(version >> 16) & 0xFF}"


def write_manifest(manifest: dict) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    if not MANIFEST.exists() or MANIFEST.read_text() != text:
        MANIFEST.write_text(text)


def main() -> None:
    extensions, manifest = build()
    write_manifest(manifest)
    setup(
        name="nvfp4",
        version=VERSION,
        packages=find_packages(include=["nvfp4", "nvfp4.*"]),
        package_data={"nvfp4": ["_build_manifest.json", "py.typed"]},
        ext_modules=extensions,
        cmdclass={"build_ext": BuildExtension},
        options={"bdist_wheel": {"py_limited_api": limited_api_tag()}},
    )


# Both `python setup.py ...` and setuptools' build backend run this file as __main__; tests import
# it to check the architecture-list rules without building.
if __name__ == "__main__":
    main()
