"""SABLE: shapes, seeding, held-out decoding, label-free adaptation, checkpoints, bad input.

The toy sessions share one latent system (centre-out reaches to 8 targets: a
velocity-like, an acceleration-like and a preparatory plane, plus speed) and
differ in their Poisson tuning log-rate = b + W z: training sessions drift a
little from each other, the last ("drifted") session has most of its channels
re-drawn and the others perturbed, as when units turn over on a chronic array.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score

from brainlatent.models.sable import SABLE, _Batch, _joint_terms

TINY = dict(
    factors=6, hidden=32, g0_dim=16, input_dim=16, max_epochs=40, batch_size=32,
    adapt_epochs=60, progress=False,
)  # fmt: skip
N_TRAIN = 100  # trials per session used for fitting; the rest are held out


def toy_sessions(
    n_sessions=3, n_trials=140, n_bins=24, n_channels=40, turnover=0.6, drift=0.45, seed=0
):
    """Counts and velocity per session; the last session is the drifted one."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.7, (n_channels, 7))
    b = np.log(rng.uniform(0.1, 0.6, n_channels))
    t = np.arange(n_bins + 4) * 0.025 - 0.2
    counts, velocity = [], []
    for s in range(n_sessions):
        drifted = s == n_sessions - 1
        if s > 0:
            redrawn = rng.random(n_channels) < (turnover if drifted else 0.1)
            W = W + rng.normal(0, drift if drifted else 0.1, W.shape)
            b = b + rng.normal(0, 0.8 if drifted else 0.05, n_channels)  # gains
            W[redrawn] = rng.normal(0, 0.7, (redrawn.sum(), 7))
        theta = rng.integers(0, 8, n_trials) * np.pi / 4 + rng.normal(0, 0.14, n_trials)
        peak = 30 * rng.uniform(0.8, 1.2, n_trials)[:, None]
        u = np.clip((t - rng.normal(0, 0.02, (n_trials, 1))) / 0.45, 0, 1)
        speed = peak * np.sin(np.pi * u) ** 2
        accel = np.sin(2 * np.pi * u) * (u > 0) * (u < 1)
        prep = (t > -0.15) * (1 - u) ** 2
        c, s_ = np.cos(theta)[:, None], np.sin(theta)[:, None]
        z = np.stack([speed * c / 30, speed * s_ / 30, accel * c, accel * s_, prep * c, prep * s_,
                      speed / 30 - 0.5], -1)  # fmt: skip
        rates = np.exp(b + z[:, 4:] @ W.T)  # neural activity leads the hand by 4 bins
        counts.append(rng.poisson(rates).astype(np.float32))
        velocity.append((speed[..., None] * np.stack([c, s_], -1))[:, :n_bins].astype(np.float32))
    return counts, velocity


def r2(predicted, velocity) -> float:
    return r2_score(velocity.reshape(-1, 2), predicted.reshape(-1, 2))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, also for the module-scoped fits (set up before function fixtures)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return toy_sessions()


@pytest.fixture(scope="module")
def fitted(data):
    counts, velocity = data
    return SABLE(**TINY).fit(
        [c[:N_TRAIN] for c in counts[:-1]], [v[:N_TRAIN] for v in velocity[:-1]]
    )


@pytest.fixture(scope="module")
def adapted(fitted, data):
    counts, _ = data
    return fitted.adapt(counts[-1][:N_TRAIN])


@pytest.fixture(scope="module")
def ablation(fitted, data):
    counts, _ = data
    return fitted.adapt(counts[-1][:N_TRAIN], reverse=False)


def test_shapes(fitted, data):
    counts, _ = data
    x = counts[0][N_TRAIN:]
    assert fitted.predict(x, session=0).shape == (len(x), x.shape[1], 2)
    assert fitted.latents(x, session=1).shape == (len(x), x.shape[1], TINY["factors"])
    assert fitted.rates(x, session=0).shape == x.shape
    assert fitted.predict(x[:, :10], session=0).shape == (len(x), 10, 2)  # any trial length
    assert list(fitted.history_.columns) == SABLE.HISTORY_COLUMNS
    assert len(fitted.history_) == TINY["max_epochs"]
    assert fitted.g0_mean_.shape == (2 * N_TRAIN, TINY["g0_dim"])


def test_same_random_state_same_model(data):
    counts, velocity = data
    quick = {**TINY, "max_epochs": 2}
    one = SABLE(**quick).fit(counts[:2], velocity[:2])
    two = SABLE(**quick).fit(counts[:2], velocity[:2])
    np.testing.assert_array_equal(one.predict(counts[0], 0), two.predict(counts[0], 0))
    other = SABLE(**{**quick, "random_state": 1}).fit(counts[:2], velocity[:2])
    assert not np.allclose(one.predict(counts[0], 0), other.predict(counts[0], 0))


def test_decodes_held_out_trials_of_training_sessions(fitted, data):
    counts, velocity = data
    for s in range(2):
        assert r2(fitted.predict(counts[s][N_TRAIN:], session=s), velocity[s][N_TRAIN:]) > 0.6


def test_adapt_takes_no_labels_and_leaves_the_original(fitted, ablation, data):
    parameters = inspect.signature(SABLE.adapt).parameters
    assert list(parameters) == ["self", "counts", "reverse", "start", "velocity"]
    assert parameters["velocity"].default is None  # labels only for the recalibrated ceiling
    counts, _ = data
    x = counts[0][N_TRAIN:]
    before = fitted.predict(x, session=0)
    weights = {k: v.clone() for k, v in fitted.model_.state_dict().items()}
    new = ablation
    assert new is not fitted and fitted.adapted_session_ is None
    assert new.adapted_session_ == fitted.n_train_sessions_
    np.testing.assert_array_equal(fitted.predict(x, session=0), before)
    after = fitted.model_.state_dict()
    assert weights.keys() == after.keys()
    assert all(np.array_equal(weights[k], after[k]) for k in weights)
    # shared networks are frozen: the adapted model reads training sessions as before
    np.testing.assert_allclose(new.predict(x, session=0), before, atol=1e-5)


def test_adaptation_recovers_behaviour_on_a_drifted_session(fitted, adapted, data):
    counts, velocity = data
    x, v = counts[-1][N_TRAIN:], velocity[-1][N_TRAIN:]  # evaluation trials, not adapted on
    unadapted = max(r2(fitted.predict(x, session=s), v) for s in range(2))
    score = r2(adapted.predict(x), v)
    assert score > 0.5
    assert score > unadapted + 0.12
    assert adapted.latents(x).shape == (len(x), x.shape[1], TINY["factors"])


def test_reverse_and_its_ablation_both_run(fitted, adapted, ablation, data):
    counts, _ = data
    assert adapted.reverse and (adapted.adapt_history_["reverse"] > 0).all()
    assert not ablation.reverse and (ablation.adapt_history_["reverse"] == 0).all()
    assert len(ablation.adapt_history_) == TINY["adapt_epochs"]
    assert not np.allclose(ablation.predict(counts[-1]), adapted.predict(counts[-1]))
    again = copy.deepcopy(adapted).set_params(adapt_epochs=1).adapt(counts[-1][:20])
    assert len(again.model_.read_in) == fitted.n_train_sessions_ + 1  # replaced, not added


@pytest.mark.parametrize("which", ["fitted", "adapted"])
def test_save_load_round_trip(which, request, data, tmp_path):
    model = request.getfixturevalue(which)
    counts, _ = data
    model.save(tmp_path / "sable.pt")
    loaded = SABLE.load(tmp_path / "sable.pt")
    x = counts[-1][N_TRAIN:]
    np.testing.assert_array_equal(loaded.predict(x, session=0), model.predict(x, session=0))
    assert loaded.adapted_session_ == model.adapted_session_
    if which == "adapted":
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
        np.testing.assert_array_equal(loaded.latents(x), model.latents(x))
        assert loaded.adapt_history_.equals(model.adapt_history_)
    else:
        # the posterior bank (for the reverse step) survives the file
        readapted = loaded.set_params(adapt_epochs=1).adapt(counts[-1][:20])
        assert readapted.predict(x).shape == (len(x), x.shape[1], 2)


def test_session_must_be_named_until_adapted(fitted, data):
    counts, _ = data
    with pytest.raises(ValueError, match="not adapted"):
        fitted.predict(counts[0])
    with pytest.raises(ValueError, match="session"):
        fitted.predict(counts[0], session=2)
    with pytest.raises(NotFittedError):
        SABLE().predict(counts[0], session=0)


def _bad(counts, velocity, what):
    counts = [c[:20].copy() for c in counts[:2]]
    velocity = [v[:20].copy() for v in velocity[:2]]
    if what == "nan":
        counts[1][3, 2, 1] = np.nan
    elif what == "negative":
        counts[0][0, 0, 0] = -1
    elif what == "channels":
        counts[1] = counts[1][:, :, :-1]
    elif what == "ndim":
        counts[0] = counts[0][0]
    elif what == "trials":
        velocity[1] = velocity[1][:-1]
    elif what == "sessions":
        velocity = velocity[:1]
    elif what == "velocity_nan":
        velocity[0][1, 1, 0] = np.nan
    return counts, velocity


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("nan", r"counts\[1\] contains NaN"),
        ("negative", r"counts\[0\] contains negative"),
        ("channels", "same channels"),
        ("ndim", r"counts\[0\] must be 3-D"),
        ("trials", r"velocity\[1\] must match its counts"),
        ("sessions", "one array per session"),
        ("velocity_nan", r"velocity\[0\] contains NaN"),
    ],
)
def test_bad_input_is_refused(what, message, data):
    counts, velocity = _bad(*data, what)
    with pytest.raises(ValueError, match=message):
        SABLE(**TINY).fit(counts, velocity)


def test_bad_input_to_adapt_and_predict(fitted, data):
    counts, _ = data
    with pytest.raises(ValueError, match="40 channels"):
        fitted.adapt(counts[-1][:, :, :-1])
    bad = counts[-1][:10].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.adapt(bad)
    with pytest.raises(ValueError, match="3-D"):
        fitted.predict(counts[0][0], session=0)
    with pytest.raises(TypeError, match="one array per session"):
        SABLE(**TINY).fit(counts[0], data[1][0])


def test_bad_hyperparameters_fail_in_fit(data):
    counts, velocity = data
    SABLE(hidden=0)  # __init__ only stores
    with pytest.raises(ValueError, match="hidden"):
        SABLE(hidden=0).fit(counts[:1], velocity[:1])
    with pytest.raises(ValueError, match="behavior_lag"):
        SABLE(behavior_lag=-1).fit(counts[:1], velocity[:1])
    with pytest.raises(ValueError, match="kl_warmup"):
        SABLE(kl_warmup=2.0).fit(counts[:1], velocity[:1])


def test_an_earlier_adaptation_can_be_the_start(fitted, adapted, data):
    """A later session may start from the previous unseen session's read-in/out (chained)."""
    counts, velocity = data
    x = counts[-1][:N_TRAIN]
    chained = fitted.adapt(x, start=adapted)
    # the drifted session itself: the earlier adaptation explains it best
    assert chained.adapt_init_session_ == fitted.n_train_sessions_
    assert r2(chained.predict(counts[-1][N_TRAIN:]), velocity[-1][N_TRAIN:]) > 0.5
    with pytest.raises(ValueError, match="returned by adapt"):
        fitted.adapt(x, start=fitted)


def test_a_loaded_model_moves_to_a_device_and_adapts(adapted, data, tmp_path):
    counts, _ = data
    adapted.save(tmp_path / "m.pt")
    loaded = SABLE.load(tmp_path / "m.pt").to_device("cpu")
    assert loaded.device_.type == "cpu"
    np.testing.assert_allclose(loaded.predict(counts[-1]), adapted.predict(counts[-1]), atol=1e-6)


def test_behaviour_matching_sees_a_rotated_reach_direction(fitted, data):
    """The adaptation's behaviour term: near 0 for the training trials' own predicted
    trajectories, larger once their direction is rotated off the 8 targets (22.5°)."""
    from brainlatent.models.sable import behaviour_mmd

    counts, _ = data
    n_bins = counts[0].shape[1]
    bank = fitted._behaviour_bank(torch.from_numpy(fitted.g0_mean_), n_bins)
    own = bank[0][::2]
    angle = np.pi / 8
    rotation = torch.tensor(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], dtype=own.dtype
    )
    rotated = (own.reshape(len(own), n_bins, 2) @ rotation.T).reshape(len(own), -1)
    rng = np.random.default_rng(0)
    same = np.mean([behaviour_mmd(own, bank, rng).item() for _ in range(5)])
    off = np.mean([behaviour_mmd(rotated, bank, rng).item() for _ in range(5)])
    assert off > 2 * same and off > same + 0.05, (same, off)


def test_behaviour_matching_is_logged_and_can_be_switched_off(fitted, adapted, data):
    counts, _ = data
    assert (adapted.adapt_history_["match"] > 0).all()
    model = copy.deepcopy(fitted).set_params(adapt_epochs=2, behavior_match=0.0)
    assert (model.adapt(counts[-1][:40]).adapt_history_["match"] == 0).all()


def test_recalibration_with_the_sessions_velocity_is_the_ceiling(fitted, adapted, data):
    counts, velocity = data
    x, v = counts[-1][N_TRAIN:], velocity[-1][N_TRAIN:]
    recalibrated = fitted.adapt(counts[-1][:N_TRAIN], velocity=velocity[-1][:N_TRAIN])
    assert r2(recalibrated.predict(x), v) > r2(adapted.predict(x), v) + 0.02
    assert (recalibrated.adapt_history_["match"] > 0).all()  # here: the behaviour MSE
    with pytest.raises(ValueError, match="velocity must match its counts"):
        fitted.adapt(counts[-1][:N_TRAIN], velocity=velocity[-1][:10])
    with pytest.raises(ValueError, match="2 outputs"):
        fitted.adapt(counts[-1][:N_TRAIN], velocity=velocity[-1][:N_TRAIN, :, :1])


def test_the_reverse_steps_counts_ride_along_without_changing_the_batchs_terms(adapted, data):
    """The adaptation runs the reverse step's sampled counts through the encoder and
    generator in the same calls as the batch (``also``): the batch's terms must not depend
    on what rides along, and the reverse term must reach the new read-in only."""
    counts, _ = data
    model, s = adapted.model_, adapted.adapted_session_
    x = torch.from_numpy(counts[-1][:16])
    noise = torch.randn(16, adapted.g0_dim, generator=torch.Generator().manual_seed(0))
    batch = _Batch(model.read_in[s], model.read_out[s], x, None, noise)
    (alone,) = _joint_terms(model, [batch])
    sampled = torch.from_numpy(counts[-1][16:48])
    (together,) = _joint_terms(model, [replace(batch, also=sampled)])
    recovered = together[4]
    for i in (0, 1, 3):  # NLL, KL, factors
        torch.testing.assert_close(alone[i], together[i], rtol=1e-5, atol=1e-6)
    assert together[2] is None and alone[4] is None
    assert recovered.shape == (32, counts[-1].shape[1], adapted.factors)
    with torch.no_grad():
        mean, _ = model.encode(sampled, s)
        torch.testing.assert_close(
            recovered, model.generate(mean, x.shape[1]), rtol=1e-5, atol=1e-6
        )

    model.zero_grad(set_to_none=True)
    recovered.pow(2).mean().backward()
    assert model.read_in[s].weight.grad is not None and model.read_in[s].weight.grad.abs().sum() > 0
    assert model.read_out[s].weight.grad is None  # the recovered factors never pass through it
    model.zero_grad(set_to_none=True)


def test_variants_adapted_together_equal_each_adapted_alone(fitted, data):
    """adapt_together runs SABLE, its ablation and its recalibration in lockstep (one
    encoder and generator call per step for all three), each on its own random streams:
    each must come out as its own adapt() call does, and leave the fitted model alone."""
    counts, velocity = data
    x, y = counts[-1][:40], velocity[-1][:40]
    quick = copy.deepcopy(fitted).set_params(adapt_epochs=3)
    before = copy.deepcopy(quick.model_.state_dict())
    variants = [{}, {"reverse": False}, {"velocity": y}]
    together = quick.adapt_together(x, variants)
    alone = [quick.adapt(x, **variant) for variant in variants]
    held_out = counts[-1][N_TRAIN:]
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.predict(held_out), b.predict(held_out), rtol=1e-5, atol=1e-5)
        pd.testing.assert_frame_equal(a.adapt_history_, b.adapt_history_, rtol=1e-5)
    assert [a.reverse for a in together] == [True, False, True]
    assert (together[2].adapt_history_["match"] != together[0].adapt_history_["match"]).all()
    for key, value in quick.model_.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    with pytest.raises(ValueError, match="at least one"):
        quick.adapt_together(x, [])
    with pytest.raises(ValueError, match="unknown adapt"):
        quick.adapt_together(x, [{"revers": False}])


def test_loss_terms_match_their_formulas(fitted, data):
    """_joint_terms against a hand computation from the same noise draw: g0 = mean + noise ·
    s.d. (not variance), KL(q(g0) || N(0, I)) per trial spread over its bins, the Poisson NLL
    summed over channels, and the behaviour MSE read ``behavior_lag`` bins back."""
    counts, velocity = data
    model, n, lag = fitted.model_, 8, fitted.behavior_lag
    x = torch.from_numpy(counts[0][:n])
    y = torch.from_numpy((velocity[0][:n] - fitted.velocity_mean_) / fitted.velocity_scale_)
    noise = torch.randn(n, fitted.g0_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        batch = _Batch(model.read_in[0], model.read_out[0], x, y, noise)
        ((nll, kl, beh, factors, _),) = _joint_terms(model, [batch])
        mean, logvar = model.encode(x, 0)
        expected = model.generate(mean + noise * torch.exp(0.5 * logvar), x.shape[1])
        log_rates = model.read_out[0](expected).double().numpy()
    torch.testing.assert_close(factors, expected)
    mean, logvar = mean.double().numpy(), logvar.double().numpy()
    kl_trial = 0.5 * (mean**2 + np.exp(logvar) - 1 - logvar).sum(axis=1)
    np.testing.assert_allclose(float(kl), kl_trial.mean() / x.shape[1], rtol=1e-5)
    poisson = np.exp(log_rates) - counts[0][:n] * log_rates
    np.testing.assert_allclose(float(nll), poisson.sum(-1).mean(), rtol=1e-5)
    f = expected.double().numpy()
    lagged = f[:, np.maximum(np.arange(f.shape[1]) - lag, 0)]  # bin t reads bin t - lag
    w, b = (p.detach().double().numpy() for p in (model.behavior.weight, model.behavior.bias))
    mse = np.mean((lagged @ w.T + b - y.double().numpy()) ** 2)
    np.testing.assert_allclose(float(beh), mse, rtol=1e-5)


def test_the_posterior_reads_both_directions_of_the_encoder(fitted, data):
    """q(g0) comes from the forward GRU's last state and the backward GRU's state at the
    first bin (its last), i.e. from the whole trial read both ways."""
    counts, _ = data
    model = fitted.model_
    x = torch.from_numpy(counts[1][:6])
    with torch.no_grad():
        inputs = model.read_in[1](model.encoder_input(x))
        outputs, _ = model.encoder(inputs)
        h = fitted.hidden
        ends = torch.cat([outputs[:, -1, :h], outputs[:, 0, h:]], dim=1)
        mean, logvar = model.posterior(ends).chunk(2, dim=1)
        got_mean, got_logvar = model.encode(x, 1)
    torch.testing.assert_close(got_mean, mean)
    torch.testing.assert_close(got_logvar, logvar.clamp(-10, 5))


def test_predictions_follow_the_units_of_the_velocity(data):
    """Velocity is standardised inside: fitting on 3 · v + 5 instead of v trains the same
    network (to rounding) and predicts 3 · prediction + 5."""
    counts, velocity = data
    quick = {**TINY, "max_epochs": 2}
    x = [c[:40] for c in counts[:2]]
    one = SABLE(**quick).fit(x, [v[:40] for v in velocity[:2]])
    other = SABLE(**quick).fit(x, [3 * v[:40] + 5 for v in velocity[:2]])
    held_out = counts[0][N_TRAIN:]
    expected = 3 * one.predict(held_out, session=0) + 5
    np.testing.assert_allclose(other.predict(held_out, session=0), expected, rtol=1e-3, atol=1e-3)


def test_the_new_read_out_starts_at_the_new_sessions_mean_rates(fitted, data):
    """Before any adaptation step, the new read-out's offsets are shifted so that each
    channel's mean inferred rate is the new session's mean count."""
    counts, _ = data
    x = counts[-1][:N_TRAIN]
    start = copy.deepcopy(fitted).set_params(adapt_epochs=0).adapt(x)
    assert start.adapt_history_.empty
    observed = np.maximum(x.mean(axis=(0, 1)), 1e-3)
    np.testing.assert_allclose(start.rates(x).mean(axis=(0, 1)), observed, rtol=1e-4)


def test_the_posterior_bank_reads_each_session_through_its_own_read_in(fitted, data):
    """The reverse step samples g0 from the training trials' posteriors: each session's
    trials encoded through that session's read-in, in session order."""
    counts, _ = data
    for s in range(fitted.n_train_sessions_):
        with torch.no_grad():
            mean, logvar = fitted.model_.encode(torch.from_numpy(counts[s][:N_TRAIN]), s)
        rows = slice(s * N_TRAIN, (s + 1) * N_TRAIN)
        np.testing.assert_allclose(fitted.g0_mean_[rows], mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fitted.g0_logvar_[rows], logvar.numpy(), rtol=1e-5, atol=1e-6)


def test_behaviour_mmd_matches_a_hand_computation():
    """MMD² = mean k(a, a) - 2 mean k(a, r) + mean k(r, r), k a sum of Gaussians
    exp(-d² / (2 w²)); zero for the reference against itself."""
    from brainlatent.models.sable import _kernel, _mmd_to

    gen = np.random.default_rng(0)
    a, ref = gen.standard_normal((12, 6)), gen.standard_normal((20, 6)) + 0.5
    widths = np.array([0.5, 2.0])

    def k(u, v):
        d2 = ((u[:, None] - v[None]) ** 2).sum(-1)[..., None]
        return np.exp(-d2 / (2 * widths**2)).sum(-1).mean()

    a_t, ref_t, w_t = (torch.from_numpy(v) for v in (a, ref, widths))
    bank = (ref_t, w_t, _kernel(ref_t, ref_t, w_t))
    idx = np.arange(len(ref))
    expected = k(a, a) - 2 * k(a, ref) + k(ref, ref)
    np.testing.assert_allclose(float(_mmd_to(a_t, bank, idx)), expected, rtol=1e-6)
    assert abs(float(_mmd_to(ref_t, bank, idx))) < 1e-9


def test_the_adaptations_random_draws_follow_random_state(fitted, data):
    """Each random_state gives the adaptation its own torch draws (g0's noise, the reverse
    step's samples), the same one the same draws."""
    x = data[0][-1][:20]
    draws = []
    for seed in (0, 0, 1):
        run = copy.deepcopy(fitted).set_params(random_state=seed)._adaptation(x)
        draws.append(torch.randn(4, generator=run.generator))
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


def test_the_reverse_step_samples_counts_through_the_new_read_out(fitted, data):
    """The reverse (sleep) step's counts are Poisson draws from the new session's rates (its
    own read-out on the sampled trajectories), not from a training session's read-out."""
    x = data[0][-1][:N_TRAIN]
    run = fitted._adaptation(x)
    trajectories, sampled = run._reverse_draw(1000, x.shape[1])
    with torch.no_grad():
        rates = torch.exp(run.new.model_.read_out[run.new.adapted_session_](trajectories))
    np.testing.assert_allclose(
        sampled.mean(dim=(0, 1)), rates.mean(dim=(0, 1)), rtol=0.05, atol=5e-3
    )
