"""Plain-type snapshots of fitted estimators, so checkpoints load with ``weights_only=True``."""

from __future__ import annotations

import numpy as np
import pandas as pd


def plain_params(estimator) -> dict:
    """``get_params()`` with NumPy scalars turned into Python ones."""
    return {
        k: (v.item() if isinstance(v, np.generic) else v) for k, v in estimator.get_params().items()
    }


def plain_history(history: pd.DataFrame) -> list[dict]:
    """A training-history table as records of ints (``epoch``) and floats."""
    return [
        {k: (int(v) if k == "epoch" else float(v)) for k, v in record.items()}
        for record in history.to_dict("records")
    ]
