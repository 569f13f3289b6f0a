"""scikit-learn's estimator checks on every brainlatent estimator that claims the contract.

``BrainModuleDecoder`` takes 3-D MEG epochs and ``DAENREstimator`` images, while
sklearn's data-dependent checks feed 2-D tabular X: those checks cannot apply and
are listed, each with its reason, as expected failures (strict: a listed check that
starts passing fails the test, so the list stays true). The API checks (parameters,
cloning, tags, unfitted errors, sparse/complex refusal, ``fit`` without y) run as
they are, and :func:`test_contract_on_the_estimators_own_data` covers what the
skipped data checks would have (fit returns self, idempotent fit, pickling,
predict leaves the estimator alone) on the data these estimators take.
"""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from brainlatent.models.brain_module import BrainModuleDecoder
from brainlatent.models.daenr import DAENREstimator
from brainlatent.models.ridge import RidgeDecoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY_BRAIN = dict(
    n_spatial=4, hidden=4, n_blocks=1, n_freqs=2, batch_size=16, max_epochs=1, device="cpu",
    progress=False,
)  # fmt: skip
TINY_DAENR = dict(hidden_dim=4, max_epochs=1, batch_size=16, device="cpu", progress=False)

ESTIMATORS = [RidgeDecoder(), BrainModuleDecoder(**TINY_BRAIN), DAENREstimator(**TINY_DAENR)]

#: Checks that fit or predict on sklearn's own 2-D data (and, for regressors, 1-D y).
_DATA_CHECKS = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)
_REGRESSOR_DATA_CHECKS = (
    "check_regressor_data_not_an_array",
    "check_regressor_multioutput",
    "check_regressors_int",
    "check_regressors_no_decision_function",
    "check_regressors_train",
)
_MEG = (
    "sklearn fits on 2-D X; BrainModuleDecoder takes 3-D MEG epochs (trials, channels, "
    "times) and 2-D image embeddings, so it refuses the data (covered on MEG-shaped data "
    "by test_contract_on_the_estimators_own_data)"
)
_IMAGES = (
    "sklearn fits on 2-D float X; DAENREstimator takes images (n, H, W[, C]), uint8 or "
    "in [0, 1], so it refuses the data (covered on images by "
    "test_contract_on_the_estimators_own_data)"
)

#: Checks that pass or fail with the memory alignment of float32 arrays: not xfail-strict.
_FLAKY = {
    ("RidgeDecoder", "check_methods_sample_order_invariance"): (
        "float32 predictions: the BLAS sgemm kernel rounds a row differently depending on "
        "its alignment in the batch (differences of 1 ulp, below sklearn's rtol=1e-7 only "
        "in float64); computing in float64 would move the pinned retrieval numbers"
    ),
}


def expected_failed_checks(estimator) -> dict[str, str]:
    if isinstance(estimator, BrainModuleDecoder):
        return {check: _MEG for check in (*_DATA_CHECKS, *_REGRESSOR_DATA_CHECKS)}
    if isinstance(estimator, DAENREstimator):
        return dict.fromkeys(_DATA_CHECKS, _IMAGES)
    if isinstance(estimator, RidgeDecoder):
        return {
            "check_regressor_multioutput": (
                "predictions are float32 by design (MEG-sized X; the workflow's retrieval "
                "tables are pinned to float32 predictions), sklearn wants float64"
            ),
        }
    return {}


def _check_name(check) -> str:
    return (check.func if isinstance(check, functools.partial) else check).__name__


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=expected_failed_checks, xfail_strict=True
)
def test_sklearn_contract(estimator, check):
    reason = _FLAKY.get((type(estimator).__name__, _check_name(check)))
    if reason is None:
        check(estimator)
        return
    try:
        check(estimator)
    except AssertionError:
        _assert_order_invariant_to_float32_rounding(estimator)
        pytest.xfail(reason)


def _assert_order_invariant_to_float32_rounding(estimator):
    """What the flaky check asks, at float32's tolerance: a wrong row order still fails."""
    from sklearn.base import clone

    rng = np.random.default_rng(0)
    X = 3 * rng.uniform(size=(40, 5))
    y = X @ rng.normal(size=5)
    fitted = clone(estimator).fit(X, y)
    order = rng.permutation(len(X))
    np.testing.assert_allclose(
        np.asarray(fitted.predict(X[order])), np.asarray(fitted.predict(X))[order],
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def _meg_data():
    gen = np.random.default_rng(0)
    X = gen.normal(size=(40, 6, 8)).astype(np.float32)
    Y = np.repeat(gen.normal(size=(20, 3)), 2, axis=0)
    subjects = np.tile([0, 1], 20)
    positions = gen.uniform(0, 1, (6, 2))
    return (X, Y, subjects, positions), (X[:5], subjects[:5])


def _image_data():
    gen = np.random.default_rng(0)
    images = gen.integers(0, 256, size=(12, 8, 8), dtype=np.uint8)
    responses = gen.normal(size=(12, 3))
    return (images, responses), (images[:5],)


@pytest.mark.parametrize(
    ("estimator", "data", "predict"),
    [
        (BrainModuleDecoder(**TINY_BRAIN), _meg_data, "predict"),
        (DAENREstimator(**TINY_DAENR), _image_data, "encode"),
    ],
    ids=["BrainModuleDecoder", "DAENREstimator"],
)
def test_contract_on_the_estimators_own_data(estimator, data, predict):
    fit_args, predict_args = data()
    params = estimator.get_params()
    fitted = estimator.fit(*fit_args)
    assert fitted is estimator  # check_estimators_fit_returns_self
    assert estimator.get_params() == params  # check_dont_overwrite_parameters
    added = set(vars(estimator)) - set(params)
    assert all(a.endswith("_") and not a.startswith("_") for a in added), added
    state = dict(vars(estimator))
    first = getattr(estimator, predict)(*predict_args)
    assert vars(estimator).keys() == state.keys()  # check_dict_unchanged
    assert all(vars(estimator)[k] is v for k, v in state.items())
    again = getattr(estimator.fit(*fit_args), predict)(*predict_args)
    np.testing.assert_array_equal(first, again)  # check_fit_idempotent (fixed random_state)
    restored = pickle.loads(pickle.dumps(estimator))  # check_estimators_pickle
    np.testing.assert_array_equal(getattr(restored, predict)(*predict_args), again)
