"""Cross-session decoding: the protocol, the Wiener filter, CCA alignment, every method."""

from __future__ import annotations

import dataclasses
import datetime

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from brainlatent.decoding import cross_session as cs
from brainlatent.preprocessing.motor import TrialSet


def synthetic_sessions(
    n_sessions=4, n_trials=80, n_channels=48, n_bins=38, bin_s=0.02, turnover=0.0, permute=(),
    seed=0,
):  # fmt: skip
    """Sessions a week apart driven by one rotational latent (velocity, its change, a
    preparatory state) through drifting log-linear Poisson channels; channels of sessions
    in ``permute`` are shuffled (a new array map: same latent, other channels)."""
    rng = np.random.default_rng(seed)
    t = -0.26 + bin_s * (np.arange(n_bins) + 0.5)
    w = rng.normal(0, 0.6, (n_channels, 6))
    b = np.log(10.0) + rng.normal(0, 0.5, n_channels)
    sessions = []
    for s in range(n_sessions):
        if s:
            new = rng.random(n_channels) < turnover
            w = np.where(
                new[:, None], rng.normal(0, 0.6, w.shape), w + rng.normal(0, 0.05, w.shape)
            )
        order = rng.permutation(n_channels) if s in permute else np.arange(n_channels)
        target = rng.permutation(np.arange(n_trials) % 8)
        theta = np.deg2rad(45 * target + rng.normal(0, 8, n_trials))
        peak = 30 * (1 + rng.normal(0, 0.15, (n_trials, 1)))
        width = 0.08 * (1 + rng.normal(0, 0.1, (n_trials, 1)))
        direction = np.stack([np.cos(theta), np.sin(theta)], 1)[:, None]
        velocity = peak[..., None] * np.exp(-0.5 * ((t - 0.2) / width) ** 2)[..., None] * direction
        lead = np.exp(-0.5 * ((t + 0.1 - 0.2) / width) ** 2)[..., None] * direction
        change = np.gradient(lead, bin_s, axis=1) * 0.08
        prepare = direction / (1 + np.exp(t / 0.05))[None, :, None]
        z = np.concatenate([lead, change, prepare], 2)
        counts = rng.poisson(np.exp(b[order] + z @ w[order].T) * bin_s)
        sessions.append(
            TrialSet(
                session=f"sub-T_ses-CO-2024010{s + 1}",
                subject="T",
                date=datetime.date(2024, 1, 1) + datetime.timedelta(days=7 * s),
                counts=counts.astype(np.float32),
                velocity=velocity.astype(np.float32),
                target=target.astype(np.int64),
                trial_id=np.arange(n_trials, dtype=np.int64) * 2,
                channels=tuple(f"M1/{i}" for i in range(n_channels)),
                bin_s=bin_s,
                window_s=(-0.26, -0.26 + bin_s * n_bins),
            )
        )
    return sessions


@pytest.fixture(scope="module")
def sessions():
    return synthetic_sessions(permute=(3,), turnover=0.1)


def test_split_test_in_time_order(sessions):
    test = sessions[-1].subset(np.arange(80)[::-1])  # stored out of order
    calibration, evaluation = cs.split_test(test, 0.25)
    assert calibration.n_trials == 20 and evaluation.n_trials == 60
    assert calibration.trial_id.max() < evaluation.trial_id.min()
    with pytest.raises(ValueError, match="calibration_fraction"):
        cs.split_test(test, 1.0)


def test_split_sessions_by_date(sessions):
    train, tests = cs.split_sessions(sessions[::-1], 2)
    assert [s.date for s in train] == [sessions[0].date, sessions[1].date]
    assert [s.session for s in tests] == [sessions[2].session, sessions[3].session]
    assert cs.days_apart(train, tests[1]) == 14
    with pytest.raises(ValueError, match="n_train_sessions"):
        cs.split_sessions(sessions, 4)


def test_two_sessions_of_one_day_are_ordered_by_their_start(sessions, tmp_path):
    """Your own recordings: an afternoon session named before the morning's trains after it
    (the name decided before), through a trials file and back."""
    from brainlatent.preprocessing.motor import load_trials, save_trials

    day = sessions[0].date
    at = [datetime.datetime(2024, 1, 1, h, tzinfo=datetime.UTC) for h in (15, 9)]
    afternoon, morning = (
        dataclasses.replace(sessions[k], session=name, date=day, start=start)
        for k, name, start in ((0, "a_afternoon", at[0]), (1, "b_morning", at[1]))
    )
    for k, session in enumerate((afternoon, morning)):
        save_trials(tmp_path / f"{k}.npz", session)
    loaded = [load_trials(tmp_path / f"{k}.npz") for k in range(2)]
    assert loaded[0].start == at[0]
    train, tests = cs.split_sessions(loaded, 1)
    assert [s.session for s in train + tests] == ["b_morning", "a_afternoon"]


def test_lags_stay_inside_each_trial():
    x = np.arange(2 * 4, dtype=float).reshape(2, 4, 1)
    lagged = cs.lagged(x, 3)
    np.testing.assert_array_equal(lagged[1, :, 0], [4, 5, 6, 7])
    np.testing.assert_array_equal(lagged[1, :, 1], [4, 4, 5, 6])  # padded by the first bin
    np.testing.assert_array_equal(lagged[1, :, 2], [4, 4, 4, 5])


def test_wiener_filter_recovers_a_lagged_linear_map():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 20, 3))
    y = np.stack([x[:, :, 0] + 0.5 * cs.lagged(x, 2)[:, :, 4], -x[:, :, 2]], 2)
    model = cs.WienerFilter(n_lags=2).fit(x, y + 0.01 * rng.normal(size=y.shape))
    assert model.predict(x).shape == (40, 20, 2)
    assert cs.score(y, model.predict(x)) > 0.99
    assert model.alpha_ <= 1.0


def test_cca_recovers_a_rotation():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(500, 4)) * [3, 2, 1, 0.5]
    rotation = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    b = a @ rotation + 1.0
    wa, wb, correlation = cs.cca(a, b)
    np.testing.assert_allclose(correlation, 1, atol=1e-8)
    align = cs.Alignment(
        b.reshape(100, 5, 4), np.arange(100) % 8, a.reshape(100, 5, 4), np.arange(100) % 8
    )
    np.testing.assert_allclose(align(a), b, atol=1e-8)


def test_matched_trials_take_equal_trials_per_target():
    ia, ib = cs.matched_trials(np.array([0, 1, 0, 0, 2]), np.array([1, 0, 1, 0, 3]))
    assert ia.tolist() == [0, 2, 1] and ib.tolist() == [1, 3, 0]


def test_within_is_high_on_its_own_session():
    (session,) = synthetic_sessions(n_sessions=1, n_trials=160, seed=3)
    calibration, evaluation = cs.split_test(session)
    predicted = cs.within([], session)
    assert predicted.shape == evaluation.velocity.shape
    assert cs.score(evaluation.velocity, predicted) > 0.6


@pytest.mark.parametrize("sqrt", [True, False])
def test_fixed_collapses_on_a_remapped_session_and_aligned_recovers(sessions, sqrt):
    train, (near, remapped) = sessions[:2], sessions[2:]
    truth = [cs.split_test(t)[1].velocity for t in (near, remapped)]
    fixed = [cs.score(v, p) for v, p in zip(truth, cs.fixed(train, [near, remapped]), strict=True)]
    predicted = cs.aligned(train, [near, remapped], sqrt=sqrt)
    aligned = [cs.score(v, p) for v, p in zip(truth, predicted, strict=True)]
    assert fixed[0] > 0.5 and fixed[1] < 0.1
    assert aligned[1] > fixed[1] + 0.4 and aligned[1] > 0.5


def test_aligned_reads_square_rooted_counts_unless_told_not_to(sessions):
    """Gallego et al.'s variance stabilisation: PCA sees sqrt(counts), smoothed."""
    trials = sessions[0]
    rooted = cs.latent_input(trials, 0.05)
    np.testing.assert_allclose(rooted, cs.smooth(np.sqrt(trials.counts), trials.bin_s, 0.05))
    plain = cs.latent_input(trials, 0.05, sqrt=False)
    np.testing.assert_allclose(plain, cs.smooth(trials.counts, trials.bin_s, 0.05))
    assert rooted.max() < plain.max()  # counts of 2 or more shrink


def test_trajectories_before_after_for_the_figure(sessions):
    paths = cs.trajectories_before_after(sessions[0], sessions[3], n_components=6, keep=2)
    assert paths["reference"].shape == paths["test_after"].shape == (8, 38, 2)
    assert paths["days_apart"] == 21 and paths["test_session"] == sessions[3].session
    before = np.abs(paths["test_before"] - paths["reference"]).mean()
    assert np.abs(paths["test_after"] - paths["reference"]).mean() < 0.5 * before


def test_cebra_predicts_every_test_session(sessions):
    settings = {"max_iterations": 20, "batch_size": 64}
    predicted = cs.cebra(sessions[:2], sessions[2:], **settings)
    assert [p.shape for p in predicted] == [(40, 38, 2)] * 2
    assert np.isfinite(np.concatenate(predicted)).all()
    np.testing.assert_array_equal(predicted[0], cs.cebra(sessions[:2], sessions[2:], **settings)[0])


def test_sable_wrapper_adapts_per_session(sessions):
    pytest.importorskip("brainlatent.models.sable")
    model = cs.fit_sable(
        sessions[:2], factors=4, hidden=8, g0_dim=4, input_dim=8, max_epochs=1, adapt_epochs=1,
        progress=False,
    )  # fmt: skip
    for reverse in (True, False):
        predicted = cs.sable(sessions[:2], sessions[2], model=model, reverse=reverse)
        assert predicted.shape == (40, 38, 2) and np.isfinite(predicted).all()


def test_metrics_table_schema(sessions):
    table = cs.evaluate(sessions, n_train_sessions=2, methods=("within", "fixed", "aligned"))
    assert list(table.columns) == cs.METRIC_COLUMNS
    assert (
        len(table) == 2 * 3
        and set(table["metric"]) == {"r2"}
        and set(table["dataset"]) == {"motor"}
    )
    row = table[(table["method"] == "within") & (table["session"] == sessions[3].session)].iloc[0]
    assert row["days_apart"] == 14 and row["date"] == "2024-01-22"
    assert row["n_train_trials"] == 40 and row["n_eval_trials"] == 40
    assert table[table["method"] == "fixed"]["n_train_trials"].tolist() == [160, 160]
    assert table[table["method"] == "aligned"]["n_train_trials"].tolist() == [80, 80]
    with pytest.raises(ValueError, match="unknown method"):
        cs.evaluate(sessions, n_train_sessions=2, methods=("wiener",))


def test_session_table_says_what_each_session_brings(sessions):
    silent = sessions[2].counts.copy()
    silent[..., :5] = 0  # five channels without a spike
    dropped = {"invalid": 9, "artifact": 2, "no_onset": 1, "outside_kinematics": 0}
    third = dataclasses.replace(sessions[2], counts=silent, dropped=dropped)
    table = cs.session_table([sessions[3], third, *sessions[:2]], 2, calibration_fraction=0.25)
    assert list(table.columns) == cs.SESSION_COLUMNS
    assert table["session"].tolist() == [s.session for s in sessions]  # by date
    assert table["role"].tolist() == ["train", "train", "test", "test"]
    assert table["days_apart"].tolist() == [-7, 0, 7, 14]
    assert table["n_calibration"].tolist() == [0, 0, 20, 20]
    assert table["n_evaluation"].tolist() == [0, 0, 60, 60]
    assert (table["n_trials"] == 80).all() and (table["n_channels"] == 48).all()
    assert table["n_active_channels"].tolist() == [48, 48, 43, 48]
    assert table.loc[2, list(dropped)].tolist() == [9, 2, 1, 0]
    assert (table.loc[[0, 1, 3], list(dropped)] == 0).all().all()
    # Reaches vary in peak (±15 %), width (±10 %) and direction (8°): the target explains
    # most, not all, of the velocity; training sessions have no evaluation block.
    assert table["target_template_r2"].iloc[:2].isna().all()
    assert table["target_template_r2"].iloc[2:].between(0.8, 0.99).all(), table


def test_target_template_is_the_per_target_mean_of_the_training_sessions(sessions):
    train, test = sessions[:2], sessions[2]
    template = cs.target_template(train, test)
    assert template.shape == test.velocity.shape
    pooled = np.concatenate([s.velocity for s in train])
    target = np.concatenate([s.target for s in train])
    i = int(np.flatnonzero(test.target == 3)[0])
    np.testing.assert_allclose(template[i], pooled[target == 3].mean(0, dtype=np.float64))
    unseen = dataclasses.replace(test, target=np.full_like(test.target, 9))  # never trained
    np.testing.assert_allclose(
        cs.target_template(train, unseen)[0], pooled.mean(0, dtype=np.float64)
    )


def test_velocity_r2_averages_x_and_y():
    """R² per velocity component, then their mean: x 1, y 1 - 200/500 = 0.6, so 0.8
    (variance-weighted would give 0.604, pooled over x and y 0.770)."""
    velocity = np.stack([[0.0, 1, 2, 3], [0.0, 10, 20, 30]], axis=-1)[None]  # trial, bin, xy
    predicted = np.stack([[0.0, 1, 2, 3], [10.0, 10, 20, 20]], axis=-1)[None]
    assert cs.score(velocity, predicted) == pytest.approx(0.8)


def test_wiener_filter_is_ridge_on_standardised_lags_chosen_by_trial_folds():
    """The filter against sklearn: Ridge on z-scored lagged features, its penalty the one with
    the least squared error over 5 contiguous folds of whole trials, fitted without the held-out
    fold. Features of very different scales, a velocity offset and enough noise that a middle
    penalty wins, so standardisation, the intercept and the cross-validation all show."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 12, 4)) * [1, 10, 100, 0.1] + [0, 5, -50, 1]
    lags = cs.lagged(x, 3).reshape(-1, 12)
    z = StandardScaler().fit_transform(lags)
    y = z @ rng.normal(size=(12, 2)) + [3.0, -2.0] + 4 * rng.normal(size=(360, 2))
    alphas = np.logspace(-1, 4, 11)
    model = cs.WienerFilter(n_lags=3, alphas=alphas).fit(x, y.reshape(30, 12, 2))
    folds = KFold(5).split(z)  # 72 rows = 6 whole trials each, in order
    error = np.zeros(len(alphas))
    for fit, held in folds:
        for i, a in enumerate(alphas):
            error[i] += ((Ridge(alpha=a).fit(z[fit], y[fit]).predict(z[held]) - y[held]) ** 2).sum()
    assert 0 < np.argmin(error) < len(alphas) - 1  # a middle penalty: the choice is tested
    assert model.alpha_ == pytest.approx(alphas[np.argmin(error)])
    expected = Ridge(alpha=model.alpha_).fit(z, y).predict(z)
    np.testing.assert_allclose(model.predict(x).reshape(-1, 2), expected, rtol=1e-6, atol=1e-6)


def test_match_channels_by_name():
    """Channels are matched by name, not position: a session whose array map lists them in
    another order, or lacks some, still feeds each decoder column the same electrode."""
    counts = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    (trials,) = synthetic_sessions(n_sessions=1, n_trials=2, n_channels=3, n_bins=3)
    trials = dataclasses.replace(trials, counts=counts, channels=("a", "b", "c"))
    matched = cs.match_channels(trials, ("c", "x", "a"))
    np.testing.assert_array_equal(matched[..., 0], counts[..., 2])
    np.testing.assert_array_equal(matched[..., 1], 0)
    np.testing.assert_array_equal(matched[..., 2], counts[..., 0])


def test_fit_pca_is_centred_pca():
    """The components of a session's activity are sklearn's PCA (centred): an uncentred SVD
    would spend a component on the mean firing rate."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 10, 6)) * [5, 3, 2, 1, 1, 1] + 10.0
    mean, components = cs.fit_pca(x, 3)
    reference = PCA(3).fit(x.reshape(-1, 6))
    np.testing.assert_allclose(mean, reference.mean_)
    np.testing.assert_allclose(np.abs(components.T @ reference.components_.T), np.eye(3), atol=1e-8)


@pytest.mark.parametrize("method", ["within", "fixed", "aligned"])
def test_an_evaluation_trial_informs_no_other_prediction(sessions, method):
    """Only the training sessions and the calibration block may shape a decoder: changing one
    evaluation trial's spikes and every evaluation velocity changes that trial's prediction
    and no other (no PCA, filter or smoothing reads the evaluation block as a whole)."""
    train, test = sessions[:2], sessions[2]
    evaluation = np.flatnonzero(test.trial_id >= np.sort(test.trial_id)[40])
    counts, velocity = test.counts.copy(), test.velocity.copy()
    counts[evaluation[-1]] = counts[evaluation[-1]][::-1] * 3
    velocity[evaluation] = 0
    changed = dataclasses.replace(test, counts=counts, velocity=velocity)
    before = getattr(cs, method)(train, test)
    after = getattr(cs, method)(train, changed)
    np.testing.assert_allclose(after[:-1], before[:-1], rtol=1e-5, atol=1e-5)
    assert np.abs(after[-1] - before[-1]).max() > 1.0


def test_aligned_decodes_through_the_last_training_session_only(sessions):
    """Gallego et al.'s reference is the last training session by date: an earlier one, passed
    in any order and however wrong its velocity, changes nothing, and the table counts only
    the reference's trials as training trials."""
    reference, test = sessions[1], sessions[2]
    earlier = dataclasses.replace(sessions[0], velocity=-sessions[0].velocity)
    alone = cs.aligned([reference], test)
    np.testing.assert_allclose(cs.aligned([reference, earlier], test), alone, rtol=1e-6)
    small = reference.subset(np.arange(30))
    calibration = cs.split_test(test)[0]
    assert cs.n_train_trials("aligned", [small, sessions[0]], calibration) == 30


def test_split_test_rounds_to_the_nearest_trial(sessions):
    """The calibration block is the nearest whole number of trials to the fraction asked."""
    test = sessions[2].subset(np.arange(9))
    assert cs.split_test(test, 0.3)[0].n_trials == 3  # 2.7 trials
    assert cs.split_test(test, 0.2)[0].n_trials == 2  # 1.8 trials


def test_cebra_target_classes_pair_target_and_time_from_onset():
    """A class is target × 1000 + the 60 ms group of the bin (3 bins of 20 ms), trial by trial."""
    (trials,) = synthetic_sessions(n_sessions=1, n_trials=2, n_channels=2, n_bins=7)
    trials = dataclasses.replace(trials, target=np.array([5, 2]))
    classes = cs.target_classes(trials, 0.06)
    assert classes.tolist() == [5000, 5000, 5000, 5001, 5001, 5001, 5002,
                                2000, 2000, 2000, 2001, 2001, 2001, 2002]  # fmt: skip


def test_cebra_velocity_classes_are_direction_sectors_times_speed_bands():
    """Still below the first edge (class 0); above it 8 sectors centred on 0°, 45°, … per band:
    east 1, north 3, west 5, south-east 8 in the first band, north-east 10 in the second."""
    velocity = np.array([[1.0, 0.0], [0.0, 3.0], [-2.0, 0.1], [1.0, -1.0], [4.0, 4.0], [0.1, 0]])
    classes = cs.velocity_classes(velocity, np.array([0.5, 5.0]))
    assert classes.tolist() == [1, 3, 5, 8, 10, 0]


def test_cebra_speed_edges_from_the_moving_bins_of_the_training_sessions(sessions):
    """Still: below 10 % of the 95th percentile of speed; the moving bins (at or above it) are
    cut into equal thirds."""
    speed = np.concatenate([np.hypot(*s.velocity.reshape(-1, 2).T) for s in sessions[:2]])
    still = 0.1 * np.percentile(speed, 95)
    moving = np.sort(speed[speed >= still])
    edges = cs.speed_edges(sessions[:2], 3)
    assert edges[0] == pytest.approx(still)
    assert np.mean(moving < edges[1]) == pytest.approx(1 / 3, abs=0.01)
    assert np.mean(moving < edges[2]) == pytest.approx(2 / 3, abs=0.01)


def test_the_table_says_what_each_method_reads_of_a_test_session(sessions):
    """``test_labels`` and the trial counts at a calibration fraction other than one half,
    where the calibration and evaluation blocks differ in size."""
    labels = {m: cs.test_labels(m) for m in cs.METHODS}
    assert labels == {
        "within": "velocity", "fixed": "none", "aligned": "target", "cebra": "velocity",
        "sable": "none", "sable_no_reverse": "none", "sable_recalibrated": "velocity",
    }  # fmt: skip
    assert cs.test_labels("cebra", {"labels": "target"}) == "target"
    table = cs.evaluate(
        sessions, n_train_sessions=2, methods=("within", "fixed"), calibration_fraction=0.25
    )
    assert table["n_eval_trials"].tolist() == [60] * 4
    assert table["n_train_trials"].tolist() == [20, 20, 160, 160]
    assert table["test_labels"].tolist() == ["velocity"] * 2 + ["none"] * 2
    calibration = cs.split_test(sessions[2], 0.25)[0]
    assert cs.n_train_trials("cebra", sessions[:2], calibration) == 180
    assert cs.n_train_trials("cebra", sessions[:2], calibration, {"labels": "target"}) == 160
