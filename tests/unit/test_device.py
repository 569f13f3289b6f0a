"""brainlatent.device: one resolver for every device setting, and the scripts' --device."""

from __future__ import annotations

import argparse

import pytest
import torch

from brainlatent.device import (
    add_device_argument,
    device_name,
    native_bfloat16,
    refuse_device_key,
    resolve_device,
    resolve_precision,
)


def test_auto_and_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device() == resolve_device("auto") == torch.device(expected)
    assert resolve_device("cpu") == torch.device("cpu")
    assert device_name("cpu") == "cpu" and device_name("auto") == expected
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", "", None, 0, "auto "])
def test_malformed_names_are_value_errors(bad):
    with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda, cuda:N, mps"):
        resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_missing_gpu_is_a_clear_error(name):
    with pytest.raises(ValueError, match=f"device '{name}' asked for, but torch sees 0 CUDA"):
        resolve_device(name)


def test_device_argument_and_refusal(capsys):
    parser = argparse.ArgumentParser()
    add_device_argument(parser)
    assert parser.parse_args([]).device == "auto"
    assert parser.parse_args(["--device", "cuda:3"]).device == "cuda:3"  # checked where used
    with pytest.raises(SystemExit):
        parser.parse_args(["--device", "gpu"])
    assert "invalid device 'gpu'" in capsys.readouterr().err
    refuse_device_key(parser, {"lr": 1.0}, "--hyperparameters")
    with pytest.raises(SystemExit):
        refuse_device_key(parser, {"device": "cpu"}, "--hyperparameters")
    err = capsys.readouterr().err
    assert "--hyperparameters sets device='cpu'" in err
    assert "device is an execution setting: pass --device" in err


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"),
    [(True, False, "bfloat16"), (False, True, "bfloat16"), (False, False, "float32")],
)
def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it(
    monkeypatch, avx512_bf16, amx, expected
):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    cpu = torch.device("cpu")
    assert native_bfloat16(cpu) == (expected == "bfloat16")
    assert resolve_precision("auto", cpu) == expected
    # asked for by name, a precision is used as given (emulated where the CPU lacks it)
    assert resolve_precision("bfloat16", cpu) == "bfloat16"
    assert resolve_precision("float32", cpu) == "float32"


def test_precision_outside_the_choices_is_a_value_error():
    for bad in ("fp16", "bf16", "", None):
        with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16"):
            resolve_precision(bad, torch.device("cpu"))
