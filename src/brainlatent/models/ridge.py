"""Ridge baseline: flattened (channels × times) epochs, or flat samples, → image embedding.

Targets are standardised on the training images, and one penalty is chosen
per embedding dimension by exact leave-one-out cross-validation on the
training trials only, as scikit-learn's ``RidgeCV(alpha_per_target=True)``
does, with the same predictions (to 1e-4, ``make bench``) at a fraction of the
cost: one eigendecomposition of the centred Gram matrix (trials ≤ features) or
covariance (trials > features), built with a symmetric rank-k update, in
float32, by divide and conquer (LAPACK ``syevd``: 4-5× faster than scipy's
default ``syevr`` here), and every penalty's leave-one-out residuals from it. scikit-learn
works in float64 and forms the Gram matrix with a general product.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas, eigh
from sklearn.base import BaseEstimator, RegressorMixin
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
        alphas = np.asarray(self.alphas, dtype=np.float64).ravel()
        if alphas.size == 0 or not (np.isfinite(alphas) & (alphas > 0)).all():
            raise ValueError(f"alphas must be positive and finite; got {alphas.tolist()}")
        if np.shares_memory(X2, X):  # loo_ridge centres in place: never the caller's array
            X2 = X2.copy()
        self.coef_, self.intercept_, self.alpha_ = loo_ridge(X2, self.transform_targets(Y), alphas)
        return self

    def transform_targets(self, Y) -> np.ndarray:
        check_is_fitted(self, "y_mean_")
        return ((np.asarray(Y, dtype=np.float64) - self.y_mean_) / self.y_scale_).astype(np.float32)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        if tuple(np.shape(X)[1:]) != self.input_shape_:
            raise ValueError(f"X must have shape (n, {self.input_shape_}); got {np.shape(X)}")
        return (self._flatten(X) @ self.coef_.T + self.intercept_).astype(np.float32)


def _eigh(upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and vectors of a symmetric matrix given by its upper triangle, in place."""
    return eigh(upper, lower=False, overwrite_a=True, check_finite=False, driver="evd")


def loo_ridge(
    X: np.ndarray, Y: np.ndarray, alphas: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge with an unpenalised intercept and a penalty per target chosen by exact LOO.

    ``X`` (n, p) and ``Y`` (n, t) are float32 (``X`` is centred in place when
    the caller's array is a private copy: pass one). With ``U`` (n, r) an
    orthonormal basis of the centred data and ``s`` its squared singular values,
    the hat matrix at penalty α is ``U diag(s / (s + α)) Uᵀ`` plus ``1/n`` for
    the intercept, so each penalty costs two (n, r) × (r, t) products. Returns
    ``coef`` (t, p), ``intercept`` (t,) and the chosen ``alpha`` (t,).
    """
    n, p = X.shape
    x_mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
    X -= x_mean
    y_mean = Y.mean(axis=0, dtype=np.float64)
    Yc = np.asarray(Y - y_mean, dtype=np.float32)
    dual = n <= p
    if dual:  # the Gram matrix; U is a full basis of R^n
        s, U = _eigh(blas.ssyrk(1.0, X))
        # The constant vector spans the Gram matrix's null space (centred data) and is the
        # intercept's: drop it, so the residual and 1 - leverage are sums of positive
        # terms (no float32 cancellation at small penalties).
        keep = np.arange(n) != np.argmax(np.abs(U.sum(axis=0)))
        s, U = s[keep], U[:, keep]
    else:  # the covariance, then U = X V / sqrt(s)
        s, V = _eigh(blas.ssyrk(1.0, X, trans=1))
        s = np.clip(s, 0, None)
        U = X @ (V / np.sqrt(np.where(s > 0, s, np.inf)))
    s = np.clip(s, 0, None).astype(np.float32)
    UtY = U.T @ Yc
    U2 = U * U
    best = np.full(Yc.shape[1], np.inf)
    alpha = np.zeros(Yc.shape[1])
    for a in alphas:
        if dual:  # 1 - leverage and the residual from the penalty's share α / (s + α)
            share = np.float32(a) / (s + np.float32(a))
            residual = U @ (share[:, None] * UtY)
            residual /= (U2 @ share)[:, None]
        else:
            shrink = s / (s + np.float32(a))
            residual = Yc - U @ (shrink[:, None] * UtY)
            residual /= (1.0 - np.float32(1.0 / n) - U2 @ shrink)[:, None]
        error = np.einsum("ij,ij->j", residual, residual, dtype=np.float64)
        better = error < best
        best[better], alpha[better] = error[better], a
    # Weights at each target's penalty: Xᵀ U diag(1 / (s + α)) Uᵀ y (dual) or
    # V diag(1 / (s + α)) Vᵀ Xᵀ y = V diag(sqrt(s) / (s + α)) Uᵀ y (primal).
    scale = 1.0 / (s[:, None] + alpha[None, :].astype(np.float32))
    if n <= p:
        coef = (X.T @ (U @ (scale * UtY))).T
    else:
        coef = (V @ (np.sqrt(s)[:, None] * scale * UtY)).T
    intercept = (y_mean - coef.astype(np.float64) @ x_mean).astype(np.float32)
    return np.ascontiguousarray(coef, dtype=np.float32), intercept, alpha
