"""The commands of python -m nvfp4 that use the linear layers: info's backend lines, bench, and
quantize (a Hugging Face model directory or a safetensors file to a ModelOpt checkpoint that loads
back)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import small_llama

import nvfp4


def nvfp4_command(*arguments: str, **environment: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "nvfp4", *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
    )


def test_info_names_each_devices_backend():
    result = nvfp4_command("info")
    assert result.returncode == 0, result.stderr
    assert "NVFP4 linear backends (NVFP4_LINEAR_BACKEND=auto):" in result.stdout
    if not torch.cuda.is_available():
        assert "cpu: W4A4 checkpoints emulation, W4A16 checkpoints emulation" in result.stdout
    forced = nvfp4_command("info", NVFP4_LINEAR_BACKEND="hopper-w4a16")
    assert "cpu: W4A4 checkpoints error: NVFP4_LINEAR_BACKEND=hopper-w4a16 cannot run here" in forced.stdout
    details = json.loads(nvfp4_command("info", "--json").stdout)
    assert set(details["linear_backends"]["cpu"]) == {"W4A4", "W4A16"}


def test_bench_prints_a_row_per_shape_and_batch():
    result = nvfp4_command("bench")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.strip() and line.split()[0][0].isdigit()]
    assert len(rows) == 6 and all(line.rstrip().endswith("x") for line in rows)


def assert_loads_as_quantize_model(checkpoint: Path) -> None:
    """The checkpoint loads into a fresh small Llama as the bytes quantize_model gives in W4A16."""
    loaded = small_llama(seed=1)
    assert len(nvfp4.load_nvfp4_checkpoint(loaded, checkpoint)) == 14
    expected = small_llama()
    nvfp4.quantize_model(expected, activation_scale="none", backend="emulation")
    for key, value in expected.state_dict().items():
        assert torch.equal(loaded.state_dict()[key].reshape(-1).view(torch.uint8), value.reshape(-1).view(torch.uint8))


def test_quantize_a_model_directory(tmp_path: Path):
    pytest.importorskip("transformers")
    model = small_llama()
    model.save_pretrained(tmp_path / "source")
    (tmp_path / "source" / "tokenizer_config.json").write_text("{}")
    result = nvfp4_command("quantize", str(tmp_path / "source"), str(tmp_path / "nvfp4"), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "quantized 14 linear layers" in result.stdout and "weight relative error: min 0.0" in result.stdout
    assert (tmp_path / "nvfp4" / "tokenizer_config.json").is_file()
    assert_loads_as_quantize_model(tmp_path / "nvfp4")
    again = nvfp4_command("quantize", str(tmp_path / "source"), str(tmp_path / "nvfp4"))
    assert again.returncode == 1 and "exists and is not empty" in again.stdout


def test_quantize_a_safetensors_file(tmp_path: Path):
    """A bare file: the same bytes as the model directory gives, embeddings and the head kept."""
    pytest.importorskip("transformers")
    from safetensors.torch import save_file

    model = small_llama()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "layers.safetensors"))
    result = nvfp4_command("quantize", str(tmp_path / "layers.safetensors"), str(tmp_path / "nvfp4"), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "quantized 14 linear layers" in result.stdout
    assert "kept in 16 bits: lm_head, model.embed_tokens" in result.stdout
    assert_loads_as_quantize_model(tmp_path / "nvfp4")
    nothing = nvfp4_command(
        "quantize", str(tmp_path / "layers.safetensors"), str(tmp_path / "none"), "--device", "cpu", "--exclude", "*"
    )
    assert nothing.returncode == 1 and "holds no 2-D weight to quantize (excluded: *)" in nothing.stdout
    missing = nvfp4_command("quantize", str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert missing.returncode == 1 and "neither a Hugging Face model directory" in missing.stdout
