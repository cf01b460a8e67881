"""Command line: ``python -m nvfp4 info`` (what this build holds, and the linear backend each
device gets), ``demo`` (a small transformer quantized to NVFP4 and run on this machine's backend,
against its bf16 self), ``bench`` (a quick table of this machine's backends against bf16),
``quantize SRC DST`` (a Hugging Face model directory or a safetensors file to a ModelOpt NVFP4
checkpoint) and ``roundtrip`` (a quantize / dequantize round trip on the best device present)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

import nvfp4
from nvfp4 import reference
from nvfp4._build import has_kernel


def best_device() -> str:
    """The GPU when this build has CUDA kernels for the format ops, else the CPU."""
    if torch.cuda.is_available() and has_kernel("scaled_fp4_quant.out", "cuda"):
        return "cuda"
    return "cpu"


def _probe(device_index: int) -> dict[str, str]:
    anchor = torch.empty(1, device=f"cuda:{device_index}")
    results = {}
    for name in ("_cuda_arch_probe", "_arch_module_probe"):
        try:
            results[name] = f"ran sm_{int(getattr(torch.ops.nvfp4, name)(anchor).item()) // 10}"
        except (RuntimeError, NotImplementedError) as error:
            results[name] = f"error: {str(error).splitlines()[0]}"
    return results


def _linear_backends(device: str) -> dict[str, str]:
    """The backend select_nvfp4_linear_backend gives a W4A4 and a W4A16 checkpoint on `device`,
    or why it cannot (a backend named in NVFP4_LINEAR_BACKEND that cannot run there)."""
    choices = {}
    for checkpoint, rounds in (("W4A4", True), ("W4A16", False)):
        try:
            choices[checkpoint] = nvfp4.select_nvfp4_linear_backend(device, rounds_activations=rounds).value
        except (RuntimeError, ValueError) as error:
            choices[checkpoint] = f"error: {error}"
    return choices


def info(as_json: bool) -> int:
    details = nvfp4.build_info()
    details["linear_backends"] = {"cpu": _linear_backends("cpu")}
    for device in details["runtime"]["devices"]:
        details["linear_backends"][f"cuda:{device['index']}"] = _linear_backends(f"cuda:{device['index']}")
    for device in details["runtime"]["devices"]:
        if details["cuda"]:
            device["probes"] = _probe(device["index"])
    if as_json:
        print(json.dumps(details, indent=2))
        return 0
    print(
        f"nvfp4 {details['version']}  (built with torch {details['torch']}, CUDA {details['torch_cuda']}, "
        f"nvcc {details['nvcc']}, CUTLASS {details['cutlass']})"
    )
    print(f"requested architectures: {details['cuda_arch_list'] or 'none (CPU-only build)'}")
    for module, facts in details["modules"].items():
        targets = ", ".join(facts["targets"]) or "CPU"
        print(f"  nvfp4.{module:<9} {targets:<48} {len(facts['sources'])} source file(s)")
    print("kernels (op: dispatch keys):")
    for op, keys in details["kernels"].items():
        print(f"  {op:<28} {', '.join(keys)}")
    runtime = details["runtime"]
    print(f"runtime: torch {runtime['torch']}, CUDA available: {runtime['cuda_available']}")
    for device in runtime["devices"]:
        module = device["arch_module"] or "none"
        print(
            f"  cuda:{device['index']} {device['name']} (sm {device['capability']}): architecture module "
            f"{module}{'' if device['arch_module_compiled'] else ' (not in this build)'}"
        )
        for name, result in device.get("probes", {}).items():
            print(f"    {name}: {result}")
    variable = nvfp4.backends.BACKEND_VARIABLE
    print(f"NVFP4 linear backends ({variable}={os.environ.get(variable, 'auto')}):")
    for device, choices in details["linear_backends"].items():
        described = (f"{checkpoint} checkpoints {choice}" for checkpoint, choice in choices.items())
        print(f"  {device}: " + ", ".join(described))
    return 0


def roundtrip(rows: int, k: int) -> int:
    device = best_device()
    torch.manual_seed(0)
    x = torch.randn(rows, k, dtype=torch.bfloat16, device=device)
    gs = nvfp4.global_scale_from_amax(x)
    start = time.perf_counter()
    packed, block_scale = nvfp4.scaled_fp4_quant(x, gs)
    decoded = nvfp4.dequantize(packed, block_scale, gs, swizzled=True, out_dtype=torch.bfloat16)
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed_ms = (time.perf_counter() - start) * 1e3
    expected_packed, expected_scale = reference.quantize(x.cpu(), gs.cpu())
    exact = torch.equal(packed.cpu(), expected_packed) and torch.equal(
        block_scale.cpu().view(torch.uint8), expected_scale.view(torch.uint8)
    )
    error = ((decoded.float() - x.float()).norm() / x.float().norm()).item()
    stored = packed.numel() + block_scale.numel()
    print(f"device: {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))
    print(f"input: bf16 [{rows}, {k}] ({x.numel() * 2 / 2**20:.1f} MiB), encode scale {gs.item():.6g}")
    print(
        f"NVFP4: packed {tuple(packed.shape)} uint8 + swizzled scales {tuple(block_scale.shape)} e4m3 = "
        f"{stored / 2**20:.2f} MiB ({8 * stored / x.numel():.2f} bits per value)"
    )
    print(f"round trip: relative error {error:.4f}, {elapsed_ms:.1f} ms (first call, untimed warm-up included)")
    print(f"bit-exact with the pure-PyTorch reference: {'yes' if exact else 'NO'}")
    return 0 if exact else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nvfp4", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info_parser = commands.add_parser("info", help="versions, compiled architectures and kernels")
    info_parser.add_argument("--json", action="store_true", help="print the details as JSON")
    demo_parser = commands.add_parser("demo", help="quantize a small transformer and run it on this machine")
    demo_parser.add_argument("--model", help="a local Hugging Face model directory (default: a random Llama)")
    demo_parser.add_argument("--layers", type=int, default=2, help="layers of the random Llama")
    demo_parser.add_argument(
        "--hidden-size", type=int, help="width of the random Llama (default: 256 on the CPU, 4096 on a GPU)"
    )
    demo_parser.add_argument("--tokens", type=int, default=64, help="tokens of the forward pass")
    demo_parser.add_argument("--w4a16", action="store_true", help="keep activations in bf16 (no activation scale)")
    commands.add_parser("bench", help="a quick table of this machine's backends against bf16")
    quantize_parser = commands.add_parser(
        "quantize", help="a Hugging Face model directory or a safetensors file to a ModelOpt checkpoint"
    )
    quantize_parser.add_argument("source", help="a local Hugging Face model directory, or a .safetensors file")
    quantize_parser.add_argument("destination", help="the checkpoint directory to write (new or empty)")
    quantize_parser.add_argument(
        "--exclude",
        nargs="*",
        help="layer name patterns left in bf16 (default: lm_head; for a file also *embed*, *wte, *wpe)",
    )
    quantize_parser.add_argument("--device", help="where to quantize (default: the GPU if there is one)")
    roundtrip_parser = commands.add_parser("roundtrip", help="quantize and dequantize a random matrix")
    roundtrip_parser.add_argument("--rows", type=int, default=1024)
    roundtrip_parser.add_argument("--k", type=int, default=4096)
    args = parser.parse_args(argv)
    if args.command == "info":
        return info(args.json)
    if args.command == "demo":
        from ._demo import run

        return run(args.model, args.layers, args.hidden_size, args.tokens, args.w4a16)
    if args.command == "bench":
        from ._bench_cli import run

        return run()
    if args.command == "quantize":
        from ._quantize_cli import run

        return run(args.source, args.destination, args.exclude, args.device)
    return roundtrip(args.rows, args.k)


if __name__ == "__main__":
    sys.exit(main())
