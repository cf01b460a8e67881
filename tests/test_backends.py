"""The backend selection rule (nvfp4/backends.py) on any machine: the GPU facts it reads are
stood in for, so every branch of the rule is checked without the GPU it names."""

from __future__ import annotations

import logging

import pytest
import torch

from nvfp4 import backends
from nvfp4.backends import BACKEND_VARIABLE, NvFp4LinearBackend, select_nvfp4_linear_backend

GPUS = {  # capability -> name, for the stand-in facts
    (8, 6): "NVIDIA RTX A6000",
    (9, 0): "NVIDIA H100 80GB HBM3",
    (10, 0): "NVIDIA B200",
    (12, 0): "NVIDIA RTX PRO 6000",
}


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    """No backend named in the environment, and the once-only logs forgotten between tests."""
    monkeypatch.delenv(BACKEND_VARIABLE, raising=False)
    backends._warn_once.cache_clear()
    backends._log_choice_once.cache_clear()
    yield
    backends._warn_once.cache_clear()
    backends._log_choice_once.cache_clear()


def stand_in_gpu(monkeypatch, capability: tuple[int, int], *, cutlass: bool = True, hopper: bool = True) -> None:
    """Makes cuda:0 look like a GPU of `capability` whose build holds the native Blackwell kernels
    (`cutlass`) and the sm90 module (`hopper`) or not."""
    monkeypatch.setattr(backends, "_capability", lambda device: capability)
    monkeypatch.setattr(backends, "_gpu_name", lambda device: GPUS[capability])
    monkeypatch.setattr(backends, "cutlass_scaled_mm_supports_fp4", lambda value: cutlass and value // 10 in (10, 12))
    monkeypatch.setattr(backends, "_hopper_kernels_run_on", lambda major, minor: hopper and major == 9)


def test_cpu_runs_emulation():
    assert select_nvfp4_linear_backend("cpu") is NvFp4LinearBackend.EMULATION
    assert select_nvfp4_linear_backend("cpu", rounds_activations=False) is NvFp4LinearBackend.EMULATION


@pytest.mark.parametrize(
    ("capability", "w4a4", "expected"),
    [
        ((10, 0), True, NvFp4LinearBackend.CUTLASS),
        ((12, 0), True, NvFp4LinearBackend.CUTLASS),
        ((9, 0), True, NvFp4LinearBackend.HOPPER_W4A16),  # the most accurate and the fastest on Hopper
        ((9, 0), False, NvFp4LinearBackend.HOPPER_W4A16),
        ((8, 6), True, NvFp4LinearBackend.EMULATION),
        ((8, 6), False, NvFp4LinearBackend.EMULATION),
    ],
)
def test_automatic_choice(monkeypatch, capability, w4a4, expected):
    stand_in_gpu(monkeypatch, capability)
    assert select_nvfp4_linear_backend("cuda:0", rounds_activations=w4a4) is expected


@pytest.mark.parametrize("capability", [(10, 0), (12, 0)])
def test_w4a16_checkpoint_on_blackwell_warns_once_and_emulates(monkeypatch, caplog, capability):
    stand_in_gpu(monkeypatch, capability)
    with caplog.at_level(logging.WARNING, logger="nvfp4"):
        for _ in range(3):
            assert select_nvfp4_linear_backend("cuda:0", rounds_activations=False) is NvFp4LinearBackend.EMULATION
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "no Blackwell W4A16 kernel" in warnings[0].getMessage()


@pytest.mark.parametrize(("capability", "flag"), [((10, 0), "cutlass"), ((9, 0), "hopper")])
def test_missing_kernels_fall_back_to_emulation_with_the_reason(monkeypatch, caplog, capability, flag):
    stand_in_gpu(monkeypatch, capability, **{flag: False})
    with caplog.at_level(logging.WARNING, logger="nvfp4"):
        assert select_nvfp4_linear_backend("cuda:0") is NvFp4LinearBackend.EMULATION
    (warning,) = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert GPUS[capability] in warning and "python -m nvfp4 info" in warning


def test_choice_is_logged_once(monkeypatch, caplog):
    stand_in_gpu(monkeypatch, (9, 0))
    with caplog.at_level(logging.INFO, logger="nvfp4"):
        for _ in range(3):
            select_nvfp4_linear_backend("cuda:0")
    infos = [record.getMessage() for record in caplog.records if record.levelno == logging.INFO]
    assert infos == ["NVFP4 linear layers on cuda:0 use the hopper-w4a16 backend (NVFP4_LINEAR_BACKEND=auto)"]


@pytest.mark.parametrize("name", ["emulation", "EMULATION", " emulation "])
def test_forced_backend(monkeypatch, name):
    monkeypatch.setenv(BACKEND_VARIABLE, name)
    assert select_nvfp4_linear_backend("cpu") is NvFp4LinearBackend.EMULATION


def test_forced_hopper_w4a4_on_hopper(monkeypatch):
    stand_in_gpu(monkeypatch, (9, 0))
    monkeypatch.setenv(BACKEND_VARIABLE, "hopper-w4a4")
    assert select_nvfp4_linear_backend("cuda:0") is NvFp4LinearBackend.HOPPER_W4A4


def test_unknown_name_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv(BACKEND_VARIABLE, "marlin")
    with pytest.raises(ValueError, match="unknown NVFP4 linear backend 'marlin'; valid names: auto, cutlass, "):
        select_nvfp4_linear_backend("cpu")


@pytest.mark.parametrize(
    ("name", "device", "capability", "w4a4", "message"),
    [
        ("hopper-w4a16", "cpu", None, True, "hopper-w4a16 runs on CUDA GPUs; the layer is on cpu"),
        ("cutlass", "cpu", None, True, "cutlass runs on CUDA GPUs"),
        ("cutlass", "cuda:0", (9, 0), True, r"compute capability 10.x or 12.x .* NVIDIA H100 80GB HBM3 \(compute"),
        ("hopper-w4a16", "cuda:0", (10, 0), True, r"compute capability 9.0 .* NVIDIA B200 \(compute capability 10.0"),
        ("hopper-w4a4", "cuda:0", (9, 0), False, "no activation scale"),
        ("cutlass", "cuda:0", (10, 0), False, "no activation scale"),
    ],
)
def test_forced_backend_that_cannot_run_says_why(monkeypatch, name, device, capability, w4a4, message):
    if capability is not None:
        stand_in_gpu(monkeypatch, capability)
    monkeypatch.setenv(BACKEND_VARIABLE, name)
    with pytest.raises(RuntimeError, match=f"{BACKEND_VARIABLE}={name} cannot run here: .*{message}"):
        select_nvfp4_linear_backend(device, rounds_activations=w4a4)


def test_rounds_activations():
    assert {backend for backend in NvFp4LinearBackend if not backend.rounds_activations} == {
        NvFp4LinearBackend.HOPPER_W4A16,
        NvFp4LinearBackend.EMULATION,
    }


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_this_gpu_gets_a_backend_that_runs():
    backend = select_nvfp4_linear_backend()
    assert backends.backend_unavailable_reason(backend, torch.device("cuda", torch.cuda.current_device())) is None
