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
from scipy import sparse
from scipy.linalg import blas, eigh
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

#: Penalties tried by default: 0.1 … 1e7, two per decade.
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-1, 7, 17))


class RidgeDecoder(RegressorMixin, BaseEstimator):
    """Ridge regression from epochs (n, channels, times) to standardised embeddings.

    Flat samples (n, features), such as fMRI voxel patterns, are used as they
    are. ``predict`` returns embeddings in the standardised target space, which
    is the space retrieval compares in (see :meth:`transform_targets`). A 1-D
    ``Y`` is one target, as in scikit-learn: ``coef_`` is then (features,),
    ``intercept_`` and ``alpha_`` scalars, and ``predict`` returns (n,).
    """

    def __init__(self, alphas=DEFAULT_ALPHAS):
        self.alphas = alphas

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # epochs (trials, channels, times) are flattened
        tags.target_tags.multi_output = True  # one penalty per target
        return tags

    @staticmethod
    def _as_array(X) -> np.ndarray:
        """The caller's X as an ndarray (no copy when it is one), refusing sparse and complex."""
        if sparse.issparse(X):
            raise TypeError("RidgeDecoder does not support sparse input; pass a dense array")
        X = np.asarray(X)
        if np.iscomplexobj(X):
            raise ValueError("Complex data not supported: X must be real")
        return X

    def _flatten(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim not in (2, 3):
            raise ValueError(
                f"X must be (samples, features) or (trials, channels, times); got shape {X.shape}"
            )
        if len(X) and X[0].size == 0:
            raise ValueError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        return X.reshape(len(X), -1)

    def fit(self, X, Y):
        if Y is None:
            raise ValueError("RidgeDecoder requires y to be passed, but the target y is None")
        X = self._as_array(X)
        X2 = self._flatten(X)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim not in (1, 2) or len(Y) != len(X2):
            raise ValueError(
                f"Y must be (trials,) or (trials, dims) with {len(X2)} rows; got shape {Y.shape}"
            )
        if not np.isfinite(Y).all():
            raise ValueError("Input Y contains NaN or infinite values")
        if len(X2) < 3:
            raise ValueError(f"need at least 3 training trials; got n_samples={len(X2)}")
        one_target = Y.ndim == 1
        Y = Y.reshape(len(Y), -1)
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
        if one_target:
            self.coef_, self.intercept_, self.alpha_ = (
                self.coef_[0],
                self.intercept_[0],
                float(self.alpha_[0]),
            )
        return self

    def transform_targets(self, Y) -> np.ndarray:
        check_is_fitted(self, "y_mean_")
        return ((np.asarray(Y, dtype=np.float64) - self.y_mean_) / self.y_scale_).astype(np.float32)

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = self._as_array(X)
        shape = X.shape
        if X.ndim == 1:
            raise ValueError(
                f"Expected a 2-D or 3-D array, got a 1-D array of shape {shape} instead. "
                "Reshape your data with X.reshape(1, -1) for a single sample."
            )
        if tuple(shape[1:]) != self.input_shape_:
            n_features = int(np.prod(shape[1:]))
            raise ValueError(
                f"X has {n_features} features, but RidgeDecoder is expecting "
                f"{self.n_features_in_} features as input: X must have shape "
                f"(n, {', '.join(map(str, self.input_shape_))}); got {shape}"
            )
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
        # The constant vector is in the centred Gram matrix's null space and is the
        # intercept's: drop it, so the residual and 1 - leverage are sums of positive
        # terms (no float32 cancellation at small penalties).
        s, U = _eigh(blas.ssyrk(1.0, X))
        drop = np.argmax(np.abs(U.sum(axis=0)))
        if abs(U[:, drop].sum()) < 0.999 * np.sqrt(n):
            # Rank < n - 1 (a trial repeated, trials in a subspace): the null space has
            # more dimensions and eigh returned a mixture of them in the constant's place.
            # Move the constant's eigenvalue out of it, to -(largest diagonal entry), and
            # decompose again (full-rank data keep the first, bit for bit).
            gram = blas.ssyrk(1.0, X)
            largest = float(np.max(np.diagonal(gram)))
            shift = (largest if largest > 0 else 1.0) / n
            gram = blas.ssyr(-shift, np.ones(n, np.float32), a=gram, overwrite_a=True)
            s, U = _eigh(gram)
            drop = np.argmax(np.abs(U.sum(axis=0)))
        keep = np.arange(n) != drop
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
