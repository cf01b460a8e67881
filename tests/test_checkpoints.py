"""NVFP4 checkpoints (nvfp4/checkpoints.py): a quantized Llama saved as ModelOpt and loaded back bit
for bit; a compressed-tensors checkpoint (encode-direction scales) loading to the same layers as
its ModelOpt equivalent (decode-direction scales); the checks on what is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import small_llama

import nvfp4
from nvfp4.checkpoints import read_quantization_config

transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

TOKENS = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(5))


def calibrated_llama(activation_scale: str) -> torch.nn.Module:
    model = small_llama()
    nvfp4.quantize_model(model, activation_scale=activation_scale)
    if activation_scale == "static":
        nvfp4.calibrate(model, [{"input_ids": TOKENS, "use_cache": False}])
    return model


def byte_equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert torch.equal(a[key].reshape(-1).view(torch.uint8), b[key].reshape(-1).view(torch.uint8)), key


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return F.cosine_similarity(a.float().flatten(), b.float().flatten(), dim=0).item()


@pytest.mark.parametrize("activation_scale", ["static", "none"], ids=["nvfp4", "w4a16_nvfp4"])
def test_modelopt_round_trip_is_bit_for_bit(tmp_path: Path, activation_scale: str):
    model = calibrated_llama(activation_scale)
    nvfp4.save_nvfp4_checkpoint(model, tmp_path)
    algo = "NVFP4" if activation_scale == "static" else "W4A16_NVFP4"
    hf_quant = json.loads((tmp_path / "hf_quant_config.json").read_text())
    assert hf_quant["quantization"] == {
        "quant_algo": algo,
        "group_size": 16,
        "kv_cache_quant_algo": None,
        "exclude_modules": ["lm_head"],
    }
    assert json.loads((tmp_path / "config.json").read_text())["quantization_config"]["quant_algo"] == algo

    fresh = small_llama(seed=1)  # other random weights: everything must come from the checkpoint
    quantized = nvfp4.load_nvfp4_checkpoint(fresh, tmp_path)
    assert len(quantized) == 14
    assert all(fresh.get_submodule(name).activation_scale == activation_scale for name in quantized)
    byte_equal_states(fresh.state_dict(), model.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(TOKENS, use_cache=False).logits, model(TOKENS, use_cache=False).logits)


def test_saving_dynamic_activation_scales_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match=r"run nvfp4\.calibrate"):
        nvfp4.save_nvfp4_checkpoint(calibrated_llama("dynamic"), tmp_path)


def compressed_tensors_checkpoint(directory: Path, source: Path) -> None:
    """The compressed-tensors form of a ModelOpt checkpoint, by hand: the packed weight as
    weight_packed, the block scales as they are, the global scales inverted to the encode
    direction, and config.json's quantization_config in compressed-tensors' nvfp4-pack-quantized
    form."""
    tensors = safetensors_torch.load_file(str(source / "model.safetensors"))
    converted = {}
    for key, value in tensors.items():
        layer, _, name = key.rpartition(".")
        if f"{layer}.weight_scale" in tensors and name == "weight":
            converted[f"{layer}.weight_packed"] = value
        elif name == "weight_scale_2":
            converted[f"{layer}.weight_global_scale"] = 1.0 / value
        elif name == "input_scale":
            converted[f"{layer}.input_global_scale"] = 1.0 / value
        else:
            converted[key] = value
    directory.mkdir()
    safetensors_torch.save_file(converted, str(directory / "model.safetensors"))
    config = json.loads((source / "config.json").read_text())
    scheme = {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16, "symmetric": True}
    config["quantization_config"] = {
        "quant_method": "compressed-tensors",
        "format": "nvfp4-pack-quantized",
        "config_groups": {
            "group_0": {"targets": ["Linear"], "weights": scheme, "input_activations": {**scheme, "dynamic": "local"}}
        },
        "ignore": ["lm_head"],
    }
    (directory / "config.json").write_text(json.dumps(config))


def modelopt_checkpoint_from(directory: Path, source: Path) -> None:
    """The ModelOpt equivalent of a compressed-tensors checkpoint: decode-direction global scales."""
    tensors = safetensors_torch.load_file(str(source / "model.safetensors"))
    converted = {}
    for key, value in tensors.items():
        layer, _, name = key.rpartition(".")
        renamed = {
            "weight_packed": "weight",
            "weight_global_scale": "weight_scale_2",
            "input_global_scale": "input_scale",
        }
        if name in renamed:
            converted[f"{layer}.{renamed[name]}"] = value if name == "weight_packed" else 1.0 / value
        else:
            converted[key] = value
    directory.mkdir()
    safetensors_torch.save_file(converted, str(directory / "model.safetensors"))
    hf_quant = {"quantization": {"quant_algo": "NVFP4", "group_size": 16, "exclude_modules": ["lm_head"]}}
    (directory / "hf_quant_config.json").write_text(json.dumps(hf_quant))


def test_compressed_tensors_loads_to_the_same_layers_as_modelopt(tmp_path: Path):
    model = calibrated_llama("static")
    nvfp4.save_nvfp4_checkpoint(model, tmp_path / "source")
    compressed_tensors_checkpoint(tmp_path / "ct", tmp_path / "source")
    modelopt_checkpoint_from(tmp_path / "modelopt", tmp_path / "ct")
    assert read_quantization_config(tmp_path / "ct").format == "compressed-tensors"
    from_ct, from_modelopt = small_llama(seed=2), small_llama(seed=3)
    assert nvfp4.load_nvfp4_checkpoint(from_ct, tmp_path / "ct") == nvfp4.load_nvfp4_checkpoint(
        from_modelopt, tmp_path / "modelopt"
    )
    byte_equal_states(from_ct.state_dict(), from_modelopt.state_dict())
    # Both directions read right: the loaded models compute what the quantized source does.
    with torch.no_grad():
        source_logits = model(TOKENS, use_cache=False).logits
        for loaded in (from_ct, from_modelopt):
            assert cosine(loaded(TOKENS, use_cache=False).logits, source_logits) >= 0.999


def test_scale_directions_are_not_interchangeable(tmp_path: Path):
    """A compressed-tensors checkpoint is read with encode-direction scales: the same file declared
    ModelOpt (decode direction) would give a different, wrong model."""
    model = calibrated_llama("static")
    nvfp4.save_nvfp4_checkpoint(model, tmp_path / "source")
    compressed_tensors_checkpoint(tmp_path / "ct", tmp_path / "source")
    loaded = small_llama(seed=2)
    nvfp4.load_nvfp4_checkpoint(loaded, tmp_path / "ct")
    layer = loaded.model.layers[0].self_attn.q_proj
    original = model.model.layers[0].self_attn.q_proj
    assert torch.equal(layer.weight_scale_2, original.weight_scale_2)
    assert torch.equal(layer.input_scale, original.input_scale)


def corrupt(directory: Path, key: str, change) -> None:
    path = directory / "model.safetensors"
    tensors = safetensors_torch.load_file(str(path))
    tensors[key] = change(tensors[key])
    safetensors_torch.save_file(tensors, str(path))


def nan_byte(scale: torch.Tensor) -> torch.Tensor:
    raw = scale.view(torch.uint8).clone()
    raw[0, 0] = 0x7F
    return raw.view(torch.float8_e4m3fn)


def negative_byte(scale: torch.Tensor) -> torch.Tensor:
    raw = scale.view(torch.uint8).clone()
    raw[1, 2] |= 0x80
    return raw.view(torch.float8_e4m3fn)


Q_PROJ = "model.layers.0.self_attn.q_proj"


@pytest.mark.parametrize(
    ("key", "change", "message"),
    [
        (f"{Q_PROJ}.weight_scale", nan_byte, "0 have the sign bit set and 1 are the NaN byte 0x7F"),
        (f"{Q_PROJ}.weight_scale", negative_byte, "1 have the sign bit set"),
        (f"{Q_PROJ}.weight_scale_2", lambda t: -t, "global scales must be finite and positive"),
        (f"{Q_PROJ}.input_scale", lambda t: t * float("inf"), "global scales must be finite and positive"),
        (f"{Q_PROJ}.weight", lambda t: t[:, :-1].contiguous(), r"packed weight must be uint8 \[256, 128\]"),
        (
            f"{Q_PROJ}.weight_scale",
            lambda t: t[:-1].contiguous(),
            r"weight_scale must be torch.float8_e4m3fn \[256, 16\]",
        ),
        ("model.norm.weight", lambda t: t[:-1].contiguous(), "size mismatch"),
    ],
)
def test_bad_checkpoints_are_refused(tmp_path: Path, key, change, message):
    nvfp4.save_nvfp4_checkpoint(calibrated_llama("static"), tmp_path)
    corrupt(tmp_path, key, change)
    with pytest.raises((ValueError, RuntimeError), match=message):
        nvfp4.load_nvfp4_checkpoint(small_llama(), tmp_path)


def test_missing_and_foreign_tensors_are_refused(tmp_path: Path):
    nvfp4.save_nvfp4_checkpoint(calibrated_llama("static"), tmp_path)
    path = tmp_path / "model.safetensors"
    tensors = safetensors_torch.load_file(str(path))
    del tensors["model.norm.weight"]
    tensors["model.extra.weight"] = torch.zeros(2)
    safetensors_torch.save_file(tensors, str(path))
    with pytest.raises(ValueError, match=r"missing \['model.norm.weight'\], unexpected \['model.extra.weight'\]"):
        nvfp4.load_nvfp4_checkpoint(small_llama(), tmp_path)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"hf_quant_config.json": {"quantization": {"quant_algo": "FP8"}}}, "quant_algo must be one of NVFP4"),
        ({"hf_quant_config.json": {"quantization": {"quant_algo": "NVFP4", "group_size": 32}}}, "group_size 16"),
        ({"config.json": {"quantization_config": {"quant_method": "gptq"}}}, "modelopt or compressed-tensors"),
        (
            {
                "config.json": {
                    "quantization_config": {"quant_method": "compressed-tensors", "format": "float-quantized"}
                }
            },
            "must be nvfp4-pack-quantized",
        ),
        ({"config.json": {}}, "neither hf_quant_config.json nor a quantization_config"),
    ],
)
def test_configurations_that_are_not_nvfp4(tmp_path: Path, files, message):
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message):
        read_quantization_config(tmp_path)


def test_modelopt_config_json_form(tmp_path: Path):
    config = {"quantization_config": {"quant_method": "modelopt", "quant_algo": "w4a16_nvfp4", "ignore": ["lm_head"]}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert read_quantization_config(tmp_path) == nvfp4.checkpoints.QuantizationConfig("modelopt", False, ("lm_head",))


def test_a_checkpoint_converted_by_compressed_tensors_loads(tmp_path: Path):
    """The compressed-tensors package's own ModelOpt -> nvfp4-pack-quantized converter (its
    tensors and its configuration) on our ModelOpt checkpoint: the result loads to the same
    weights and block scales byte for byte, and to the same global scales up to the rounding of
    inverting them twice (x -> 1/x -> 1/(1/x) in fp32)."""
    converters = pytest.importorskip("compressed_tensors.entrypoints.convert.converters.modelopt_nvfp4")
    model = calibrated_llama("static")
    nvfp4.save_nvfp4_checkpoint(model, tmp_path / "modelopt")
    converter = converters.ModelOptNvfp4Converter(ignore=["lm_head"], targets=["Linear"])
    tensors = converter.validate(safetensors_torch.load_file(str(tmp_path / "modelopt" / "model.safetensors")))
    (tmp_path / "ct").mkdir()
    safetensors_torch.save_file(tensors, str(tmp_path / "ct" / "model.safetensors"))
    config = json.loads((tmp_path / "modelopt" / "config.json").read_text())
    config["quantization_config"] = converter.update_config(None).model_dump()
    (tmp_path / "ct" / "config.json").write_text(json.dumps(config, default=str))

    assert read_quantization_config(tmp_path / "ct").format == "compressed-tensors"
    from_ct, from_modelopt = small_llama(seed=2), small_llama(seed=3)
    names = nvfp4.load_nvfp4_checkpoint(from_ct, tmp_path / "ct")
    assert names == nvfp4.load_nvfp4_checkpoint(from_modelopt, tmp_path / "modelopt") and len(names) == 14
    ct_state, modelopt_state = from_ct.state_dict(), from_modelopt.state_dict()
    for key, value in modelopt_state.items():
        if key.endswith(("weight_scale_2", "input_scale")):
            assert torch.allclose(ct_state[key], value, rtol=2e-7, atol=0), key
        else:
            assert torch.equal(ct_state[key].reshape(-1).view(torch.uint8), value.reshape(-1).view(torch.uint8)), key
    with torch.no_grad():
        assert cosine(from_ct(TOKENS, use_cache=False).logits, model(TOKENS, use_cache=False).logits) >= 0.9999
