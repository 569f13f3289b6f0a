"""Ridge baseline: flattened (channels × times) epochs, or flat samples, → image embedding.

Targets are standardised on the training images, and one penalty is chosen
per embedding dimension by efficient leave-one-out cross-validation on the
training trials only (scikit-learn's ``RidgeCV`` with ``alpha_per_target``).
scikit-learn was chosen over himalaya by measurement (``make bench``): on the
default problem's shape both take the same time, and scikit-learn's exact
leave-one-out needs no extra dependency.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import RidgeCV
from sklearn.utils.validation import check_is_fitted

#: Penalties tried by default: 0.1 … 1e7, two per decade.
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 7, 17))


class RidgeDecoder(RegressorMixin, BaseEstimator):
    """Ridge regression from epochs (n, channels, times) to standardised embeddings.

    Flat samples (n, features), such as fMRI voxel patterns, are used as they
    are. ``predict`` returns embeddings in the standardised target space, which
    is the space retrieval compares in (see :meth:`transform_targets`).
    """

    def __init__(self, alphas=DEFAULT_ALPHAS):
        self.alphas = alphas

    def _flatten(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim not in (2, 3):
            raise ValueError(
                f"X must be (samples, features) or (trials, channels, times); got shape {X.shape}"
            )
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        return X.reshape(len(X), -1)

    def fit(self, X, Y):
        X2 = self._flatten(X)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim != 2 or len(Y) != len(X2):
            raise ValueError(f"Y must be (trials, dims) with {len(X2)} rows; got shape {Y.shape}")
        if len(X2) < 3:
            raise ValueError(f"need at least 3 training trials; got {len(X2)}")
        self.n_features_in_ = X2.shape[1]
        self.input_shape_ = tuple(np.shape(X)[1:])
        self.y_mean_ = Y.mean(axis=0)
        self.y_scale_ = np.where(Y.std(axis=0) > 0, Y.std(axis=0), 1.0)
        self.ridge_ = RidgeCV(alphas=np.asarray(self.alphas, float), alpha_per_target=True)
        self.ridge_.fit(X2, self.transform_targets(Y))
        self.alpha_ = np.atleast_1d(self.ridge_.alpha_)
        return self

    def transform_targets(self, Y) -> np.ndarray:
        check_is_fitted(self, "y_mean_")
        return ((np.asarray(Y, dtype=np.float64) - self.y_mean_) / self.y_scale_).astype(np.float32)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "ridge_")
        if tuple(np.shape(X)[1:]) != self.input_shape_:
            raise ValueError(f"X must have shape (n, {self.input_shape_}); got {np.shape(X)}")
        return self.ridge_.predict(self._flatten(X)).astype(np.float32)
