"""The build: manifest, module loading, per-architecture machine code, the dispatch path into
the architecture modules, build_info() and the command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import FP4_MMA_SASS, cuobjdump, cutlass_gemm_kernels, requires_cuda

import nvfp4
from nvfp4 import _build

PACKAGE = Path(nvfp4.__file__).parent


def module_file(module: str) -> Path:
    (path,) = [p for p in PACKAGE.glob(f"{module}.*") if p.suffix in (".so", ".pyd")]
    return path


def test_manifest_lists_every_loaded_module():
    manifest = _build.manifest()
    assert manifest["version"] == nvfp4.__version__
    for module in manifest["modules"]:
        assert f"nvfp4.{module}" in sys.modules, f"nvfp4.{module} is in the manifest but was not imported"


def test_cuda_build_holds_requested_architectures():
    manifest = _build.manifest()
    if not manifest["cuda"]:
        pytest.skip("CPU-only build (NVFP4_CPU_ONLY=1 or no CUDA toolkit)")
    core_targets = manifest["modules"]["_C"]["targets"]
    assert "sm_80" in core_targets  # the architecture-neutral baseline, with its PTX
    for module, facts in manifest["modules"].items():
        if module != "_C":
            # Each architecture module is also in _C's architecture-neutral targets.
            assert set(facts["targets"]) <= set(core_targets), module


@pytest.mark.parametrize("module", list(_build.manifest()["modules"]))
def test_machine_code_matches_manifest_targets(module: str):
    facts = _build.manifest()["modules"][module]
    if not facts["targets"]:
        pytest.skip(f"nvfp4.{module} holds no GPU code in this build")
    tool = cuobjdump()
    assert tool is not None, "cuobjdump not found (CUDA toolkit or triton)"
    # Each fatbin entry's header: "Fatbin elf code:" or "Fatbin ptx code:", then "arch = sm_100f"
    # (-lelf names a family cubin sm_100, as it would a plain one).
    listing = subprocess.run([tool, "-symbols", str(module_file(module))], capture_output=True, text=True).stdout
    entries = re.findall(r"Fatbin (elf|ptx) code:\s*=+\s*arch = (\S+)", listing)
    cubins = {arch for kind, arch in entries if kind == "elf"}
    ptx = {arch for kind, arch in entries if kind == "ptx"}
    assert cubins == set(facts["targets"]), f"nvfp4.{module}: cubins {cubins}, manifest {facts['targets']}"
    assert ptx == ({"sm_80"} if module == "_C" else set())  # only the baseline carries PTX


def has_e2m1_conversion(target: str) -> bool:
    """Targets with cvt.rn.satfinite.e2m1x2.f32: the 10.x and 12.x "a" and "f" targets."""
    return target.startswith(("sm_10", "sm_12")) and target[-1] in "af"


@pytest.mark.parametrize("target", _build.manifest()["modules"]["_C"]["targets"])
def test_quantizer_uses_the_e2m1_instruction_where_the_target_has_it(target: str):
    tool = cuobjdump()
    assert tool is not None, "cuobjdump not found (CUDA toolkit or triton)"
    sass = subprocess.run(
        [tool, "-sass", "-arch", target, str(module_file("_C"))], capture_output=True, text=True
    ).stdout
    functions = sass.split("Function : ")[1:]
    names = [function.split(None, 1)[0] for function in functions]
    quantize_functions = [
        f
        for f, name in zip(functions, names, strict=True)
        if ("quantize_kernel" in name and "dequantize_kernel" not in name) or "qdq_kernel" in name
    ]
    assert quantize_functions, f"no quantize kernel for {target} in nvfp4._C"
    for function in quantize_functions:
        # F2FP.SATFINITE.E2M1.F32: the hardware E2M1 conversion; elsewhere the software rounding.
        assert ("F2FP.SATFINITE.E2M1.F32" in function) == has_e2m1_conversion(target), function.splitlines()[0]


# The native Blackwell GEMM's kernels in each architecture module: its configurations
# (csrc/sm100/fp4_gemm_configs.cuh, csrc/sm120/fp4_gemm_configs.cuh) times bf16 and fp16 out.
MODULE_GEMMS = {"sm100": 6, "sm120": 4}


@pytest.mark.parametrize("arch", sorted(MODULE_GEMMS))
def test_blackwell_gemm_kernels_use_the_block_scaled_fp4_mma(arch: str):
    """Each native GEMM kernel of a built Blackwell module holds the block-scaled FP4 MMA: a build
    that silently lost it fails here, without a Blackwell GPU."""
    if f"_C_{arch}" not in _build.manifest()["modules"]:
        pytest.skip(f"this build has no nvfp4._C_{arch}")
    gemms = cutlass_gemm_kernels(module_file(f"_C_{arch}"))
    assert len(gemms) == MODULE_GEMMS[arch], f"nvfp4._C_{arch}: {len(gemms)} GEMM kernels"
    for gemm in gemms:
        assert re.search(FP4_MMA_SASS[arch], gemm), gemm.split("\n", 1)[0]


def kernel_resources(module: str) -> dict[str, dict[str, int]]:
    """Each kernel's resources in a built module, as `cuobjdump -res-usage` lists them (REG,
    STACK, SHARED, LOCAL, ...), by mangled name."""
    tool = cuobjdump()
    assert tool is not None, "cuobjdump not found (CUDA toolkit or triton)"
    listing = subprocess.run([tool, "-res-usage", str(module_file(module))], capture_output=True, text=True).stdout
    return {
        name: {key: int(value) for key, value in re.findall(r"(\w+):(\d+)", usage)}
        for name, usage in re.findall(r"Function (\S+):\s*\n\s*(REG:.*)", listing)
    }


def test_hopper_gemm_kernels_do_not_spill():
    """No Hopper GEMM kernel spills to local memory. The 256-row wgmma kernel keeps its 128
    accumulators a thread within the 168 registers its nine warps allow (three of them share one
    scheduler's 16K), where a spill in the main loop costs every K tile; a code change that adds
    registers there spills without failing any other test: it fails here, without a GPU."""
    if "_C_sm90" not in _build.manifest()["modules"]:
        pytest.skip("this build has no nvfp4._C_sm90")
    gemms = {
        name: usage
        for name, usage in kernel_resources("_C_sm90").items()
        if "fragment_wgmma_kernel" in name or "fragment_mm_split_kernel" in name
    }
    # three batch tiles and the 64-row tile's wide CTA, for two types
    assert len([name for name in gemms if "fragment_wgmma_kernel" in name]) == 8, sorted(gemms)
    for name, usage in gemms.items():
        assert usage["LOCAL"] == 0 and usage["STACK"] == 0, f"{name} spills: {usage}"


# The split-K kernel's CTAs a multiprocessor that the plans count on (csrc/sm90/fragment_mm_kernel.cuh,
# split_k_ctas_per_multiprocessor), by (batch tiles of 8 rows a warp, tiles loaded ahead, x
# through the ring). The ring's kernels hold theirs by their launch bounds.
SPLIT_K_CTAS_PER_MULTIPROCESSOR = {
    (1, 2, False): 9,
    (1, 4, False): 6,
    (2, 2, False): 7,
    (1, 2, True): 8,
    (1, 4, True): 6,
    (2, 2, True): 7,
}
X_RING_SOURCE = 2  # XSource::kRing, the enum's value in the kernels' mangled names


def test_split_k_kernels_leave_room_for_the_ctas_the_plans_count_on():
    """Each split-K kernel's registers leave room for as many 128-thread CTAs a multiprocessor as
    the plans assume (a multiprocessor's 64K registers, allocated per warp in units of 256): a
    change that gives a kernel more registers puts a plan's CTAs in a second wave on the GPU,
    slower and correct; it fails here, without a GPU."""
    if "_C_sm90" not in _build.manifest()["modules"]:
        pytest.skip("this build has no nvfp4._C_sm90")
    pattern = re.compile(r"fragment_mm_split_kernelI(?:13__nv_bfloat16|6__half)Li(\d)ELi(\d)ELNS0_7XSourceE(\d)E")
    kernels = {}
    for name, usage in kernel_resources("_C_sm90").items():
        match = pattern.search(name)
        if match is not None:
            n_tiles, tile_group, source = (int(group) for group in match.groups())
            kernels[name] = ((n_tiles, tile_group, source == X_RING_SOURCE), usage["REG"])
    # 8 rows two or four tiles ahead and 16 rows two ahead, from global memory, shared memory
    # (8 rows only) and the ring, for two types
    assert len(kernels) == 16, sorted(kernels)
    for name, (kind, registers) in kernels.items():
        warp_registers = -(-registers * 32 // 256) * 256
        ctas = 65536 // (4 * warp_registers)
        assert ctas >= SPLIT_K_CTAS_PER_MULTIPROCESSOR[kind], f"{name}: {registers} registers, {ctas} CTAs"


@pytest.mark.parametrize(
    ("capability", "module"),
    [
        ((9, 0), "sm90"),
        ((10, 0), "sm100"),
        ((10, 3), "sm100"),
        ((12, 0), "sm120"),
        ((12, 1), "sm120"),
        ((8, 9), ""),
        ((9, 1), ""),
    ],
    ids=str,
)
def test_arch_module_for_capability(capability: tuple[int, int], module: str):
    assert _build.arch_module_for_capability(*capability) == module


@pytest.mark.parametrize(
    ("target", "runs_on", "does_not_run_on"),
    [
        ("sm_90a", [(9, 0)], [(10, 0), (8, 9)]),
        ("sm_100a", [(10, 0)], [(10, 3), (12, 0)]),
        ("sm_103a", [(10, 3)], [(10, 0)]),
        ("sm_100f", [(10, 0), (10, 3)], [(9, 0), (11, 0), (12, 0)]),
        ("sm_103f", [(10, 3)], [(10, 0)]),
        ("sm_120a", [(12, 0)], [(12, 1)]),
        ("sm_120f", [(12, 0), (12, 1)], [(10, 0)]),
        ("sm_80", [(8, 0), (8, 6), (8, 9)], [(9, 0), (7, 5)]),
    ],
    ids=str,
)
def test_which_gpus_a_target_runs_on(
    target: str, runs_on: list[tuple[int, int]], does_not_run_on: list[tuple[int, int]]
):
    assert all(_build.target_runs_on(target, *capability) for capability in runs_on)
    assert not any(_build.target_runs_on(target, *capability) for capability in does_not_run_on)


@pytest.mark.parametrize("target", ["compute_80", "sm_9", "sm_100x", "90a"])
def test_a_malformed_target_is_an_error(target: str):
    with pytest.raises(ValueError, match="not a GPU target"):
        _build.target_runs_on(target, 9, 0)


def test_build_info_reports_versions_targets_and_kernels():
    info = nvfp4.build_info()
    assert info["torch"] and info["runtime"]["torch"] == torch.__version__
    assert info["kernels"]["scaled_fp4_quant"] == ["CompositeExplicitAutograd"]  # allocates, calls .out
    assert "CPU" in info["kernels"]["scaled_fp4_quant.out"]
    for module in _build.compiled_arch_modules():
        assert "CUDA" in info["kernels"][f"_arch_probe_{module}"]


@pytest.mark.parametrize(
    "command",
    [["info"], ["info", "--json"], ["roundtrip", "--rows", "130", "--k", "96"], ["demo", "--tokens", "8"]],
    ids=str,
)
def test_command_line(command: list[str]):
    if command[0] == "demo":
        pytest.importorskip("transformers")
    result = subprocess.run([sys.executable, "-m", "nvfp4", *command], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    expected = {
        "info": "kernels",
        "roundtrip": "bit-exact with the pure-PyTorch reference: yes",
        "demo": "logits cosine similarity with the bf16 model: 0.9",
    }[command[0]]
    assert expected in result.stdout


@requires_cuda
def test_cuda_probes_run_the_devices_machine_code():
    anchor = torch.empty(1, device="cuda")
    major, minor = torch.cuda.get_device_capability()
    arch = major * 100 + minor * 10
    assert torch.ops.nvfp4._cuda_arch_probe(anchor).item() == arch
    module = _build.arch_module_for_capability(major, minor)
    if module in _build.compiled_arch_modules():
        assert torch.ops.nvfp4._arch_module_probe(anchor).item() == arch
    else:
        with pytest.raises(NotImplementedError, match=r"has no kernel for .*compute capability"):
            torch.ops.nvfp4._arch_module_probe(anchor)


def cuda_probe_ops() -> list[str]:
    """The probes that have a kernel for the visible GPU in this build."""
    if not torch.cuda.is_available():
        return ["_cuda_arch_probe"]  # reported as skipped below
    ops = ["_cuda_arch_probe"]
    module = _build.arch_module_for_capability(*torch.cuda.get_device_capability())
    if module in _build.compiled_arch_modules():
        ops += ["_arch_module_probe", f"_arch_probe_{module}"]
    return ops


@requires_cuda
@pytest.mark.parametrize("op", cuda_probe_ops())
def test_cuda_probe_opcheck(op: str):
    torch.library.opcheck(getattr(torch.ops.nvfp4, op).default, (torch.empty(1, device="cuda"),))


@requires_cuda
def test_cuda_probe_runs_in_a_captured_graph():
    anchor = torch.empty(1, device="cuda")
    torch.ops.nvfp4._cuda_arch_probe(anchor)  # load the module outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = torch.ops.nvfp4._cuda_arch_probe(anchor)
    out.fill_(0)
    graph.replay()
    major, minor = torch.cuda.get_device_capability()
    assert out.item() == major * 100 + minor * 10


def test_probes_reject_cpu_tensors():
    if not _build.manifest()["cuda"]:
        pytest.skip("CPU-only build: the probes have no kernels")
    with pytest.raises(NotImplementedError, match="CPU"):
        torch.ops.nvfp4._cuda_arch_probe(torch.empty(1))
