"""The base of brainlatent's PyTorch estimators: device, seeding and checkpoints in one place.

:class:`~brainlatent.models.brain_module.BrainModuleDecoder` and
:class:`~brainlatent.models.daenr.DAENREstimator` train a network inside a
forked torch RNG seeded from ``random_state``, and save what predicting needs
to one ``torch.save`` file. Keeping that plumbing here means a reproducibility
or loading rule is written (and fixed) once; subclasses only say which fitted
fields their checkpoint carries.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from brainlatent.device import resolve_device
from brainlatent.io import atomic_path
from brainlatent.models.persistence import plain_history, plain_params

__all__ = ["TorchEstimator"]


class TorchEstimator(BaseEstimator):
    """Base of the estimators with ``device`` and ``random_state`` hyperparameters.

    A subclass sets :attr:`FORMAT` (the checkpoint's tag: bump it whenever the
    stored fields change, so an old file fails at load rather than mid-predict)
    and :attr:`HISTORY_COLUMNS`, builds its network in ``_build_model`` from
    fitted attributes, and lists its own fitted fields in ``_checkpoint_fields``
    / ``_restore_fields``. Fitting sets ``device_`` (where the model is now),
    ``fit_device_`` (where it was trained, a string such as ``"cuda:0"``, kept
    through save and load), ``model_`` and ``history_``.
    """

    #: Tag written by :meth:`save` and required by :meth:`load`.
    FORMAT: ClassVar[str] = ""
    #: Columns of ``history_``.
    HISTORY_COLUMNS: ClassVar[list[str]] = []

    # -- fitting helpers ---------------------------------------------------

    def _seed(self) -> int:
        """``random_state``, or a fresh OS-drawn seed when it is None (not reproducible)."""
        if self.random_state is None:
            return int(np.random.SeedSequence().generate_state(1)[0])
        return int(self.random_state)

    def _set_device(self) -> torch.device:
        """Resolve ``device`` (``"auto"`` included) into ``device_`` and ``fit_device_``."""
        self.device_ = resolve_device(self.device)
        self.fit_device_ = str(self.device_)
        return self.device_

    def _fork_rng(self):
        """Fork torch's global RNG (CPU, and the training GPU) so a fit leaves callers' alone."""
        devices = [self.device_.index or 0] if self.device_.type == "cuda" else []
        return torch.random.fork_rng(devices=devices)

    # -- what subclasses provide -------------------------------------------

    def _build_model(self) -> torch.nn.Module:
        raise NotImplementedError

    def _checkpoint_fields(self) -> dict:
        """The subclass's fitted fields, as tensors and plain Python types."""
        raise NotImplementedError

    def _restore_fields(self, state: dict, path: Path) -> None:
        """Set the fitted fields from :meth:`_checkpoint_fields`'s output; check them."""
        raise NotImplementedError

    # -- persistence -------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write everything needed to predict into one ``torch.save`` file, atomically.

        Only tensors and plain Python types are stored, so :meth:`load` can use
        ``weights_only=True`` (no arbitrary unpickling).
        """
        check_is_fitted(self, "model_")
        state = {
            "format": self.FORMAT,
            "params": plain_params(self),
            "state_dict": {k: v.detach().cpu() for k, v in self.model_.state_dict().items()},
            "fit_device": str(self.fit_device_),
            "history": plain_history(self.history_),
            **self._checkpoint_fields(),
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Rebuild a fitted estimator from :meth:`save`, on CPU.

        A file without this class's format tag (another estimator's, or an older
        layout) is a ValueError naming the file, the tag found and the one expected.
        """
        path = Path(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
            raise ValueError(
                f"{path}: not a {cls.__name__} checkpoint (torch.load failed: {error})"
            ) from error
        found = state.get("format") if isinstance(state, dict) else None
        if found != cls.FORMAT:
            raise ValueError(
                f"{path}: checkpoint format {found!r}, expected {cls.FORMAT!r}; "
                f"refit the model with this version of brainlatent"
            )
        est = cls(**state["params"])
        est.device_ = torch.device("cpu")
        est.fit_device_ = str(state["fit_device"])
        est.history_ = pd.DataFrame(state["history"], columns=cls.HISTORY_COLUMNS)
        est._restore_fields(state, path)
        est.model_ = est._build_model()
        est.model_.load_state_dict(state["state_dict"])
        est.model_.eval()
        return est
