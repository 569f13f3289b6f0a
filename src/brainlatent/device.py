"""Where a model runs: one resolver for every ``device`` setting in brainlatent.

The device is an execution setting, passed to the training scripts as ``--device``
and never part of a model's hyperparameters; the metrics tables record the
resolved device (never ``"auto"``), so a GPU result can be told from a CPU one.
"""

from __future__ import annotations

import argparse
import re

import torch

__all__ = [
    "DEVICE_CHOICES",
    "PRECISIONS",
    "add_device_argument",
    "device_name",
    "native_bfloat16",
    "refuse_device_key",
    "resolve_device",
    "resolve_precision",
]

#: What ``resolve_device`` accepts (``cuda:N`` is any GPU index).
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_VALID = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when a GPU is visible, else CPU; other values checked, then as given.

    A malformed name, or a GPU that is not there, is a ValueError now rather than
    a torch error deep inside a fit.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not _VALID.fullmatch(device):
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (resolved.index or 0) >= count:
            raise ValueError(
                f"device {device!r} asked for, but torch sees {count} CUDA device(s); "
                "use --device cpu or auto"
            )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} asked for, but MPS is not available here")
    return resolved


def device_name(device: str = "auto") -> str:
    """:func:`resolve_device` as the string a metrics table records (``"cpu"``, ``"cuda:1"``)."""
    return str(resolve_device(device))


def _device_name(value: str) -> str:
    """argparse type: a well-formed device name, kept as given (resolved where the model runs)."""
    if not _VALID.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"invalid device {value!r}; expected one of {', '.join(DEVICE_CHOICES)}"
        )
    return value


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device`` of a training script (default ``auto``)."""
    parser.add_argument(
        "--device",
        type=_device_name,
        default="auto",
        metavar="{" + ",".join(DEVICE_CHOICES) + "}",
        help="where to train: auto (CUDA when present), cpu, cuda, cuda:N or mps",
    )


def refuse_device_key(parser: argparse.ArgumentParser, settings: dict, option: str) -> None:
    """Exit with a usage error when JSON hyperparameters still carry a ``device`` key.

    The device must not hide among result-changing settings: it comes from
    ``--device`` only, so the workflow can change it without retraining and the
    metrics can record it.
    """
    if "device" in settings:
        parser.error(
            f"{option} sets device={settings['device']!r}, but device is an execution "
            "setting: pass --device instead"
        )


#: What :func:`resolve_precision` accepts: the arithmetic of a training step's
#: convolutions and matrix products (weights, optimiser and losses stay float32).
PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 products in hardware, where autocast pays.

    CPUs with AVX512-BF16 or AMX (AMD Zen 4, Intel Cooper Lake and Sapphire Rapids
    on) and CUDA GPUs that do not emulate it; elsewhere bfloat16 would be emulated,
    and slower than float32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu, private
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` → ``"bfloat16"`` where :func:`native_bfloat16`, else ``"float32"``.

    The resolved value, never ``"auto"``, is what a fitted model records: the two
    train to slightly different weights, as two kinds of CPU already do.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision
