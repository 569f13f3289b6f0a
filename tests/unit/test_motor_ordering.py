"""The cross-session comparison on the default simulated monkey: the asked-for ordering, checked.

The ordering asked of this chain, on sessions far from the training ones (Jude et al. 2022,
with CEBRA beside SABLE): within-session ≥ SABLE and CEBRA multi-session > aligned PCA/CCA
(Gallego et al. 2020) > a fixed decoder. This runs
every method at the default config's settings (SABLE: its three seeds, averaged) on the
default simulated sessions (8 sessions over 60 days, 3 training) and asserts what holds here,
by a margin; the claims that do not hold on this simulation are strict xfails carrying the
numbers (docs/motor.md). About 3 minutes on 2 cores. Every setting
was tuned on this monkey; test_motor_monkeys.py (slow) checks five others.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest

from brainlatent.decoding import cross_session as cs
from brainlatent.decoding.motor_settings import method_settings

from .test_plan import plan

#: Sessions at least this many days after the last training session are "far".
FAR_DAYS = 20


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return monkey_table(tmp_path_factory.mktemp("monkey"), seed=0)


def monkey_table(root, seed: int, **overrides) -> pd.DataFrame:
    """Every method on every test session of simulated monkey ``seed`` (the workflow's ``seed``
    key), at the default config's motor settings updated with ``overrides`` (e.g. ``align``):
    the table of ``cross_session.parquet``."""
    from brainlatent.datasets.motor_cortex import read_motor_session
    from brainlatent.datasets.simulate_motor import simulate_motor_sessions
    from brainlatent.preprocessing.motor import bin_trials

    motor = {**plan().motor.cohorts["sub-S"].settings, **overrides}
    motor["sable"] = {**motor["sable"], "progress": False}
    paths = simulate_motor_sessions(root, days=motor["simulate"]["days"], seed=seed)
    sessions = [
        bin_trials(
            read_motor_session(p, groups=motor["groups"]),
            motor["bin_s"],
            tuple(motor["window_s"]),
            align=motor["align"],
            onset=motor["onset"],
            **motor["artifacts"],
        )
        for p in paths
    ]
    # One process per job, two at a time (the workflow runs them as separate jobs too): each
    # SABLE seed, then the deterministic methods and CEBRA, the shortest job, last so that it
    # fills the gap beside the last SABLE seed; the table keeps the order of the methods.
    seeds = motor["seeds"]
    jobs = [(cs.SABLE_METHODS, s) for s in seeds] + [(cs.METHODS[:4], seeds[0])]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        tables = list(pool.map(_evaluate, [(sessions, motor, methods, s) for methods, s in jobs]))
    return pd.concat([tables[-1], *tables[:-1]], ignore_index=True)


def _evaluate(job) -> pd.DataFrame:
    """One job's methods on every test session, on one thread (as the recorded numbers).

    One thread for torch and for numpy's BLAS too, as the workflow's single-thread jobs
    (Snakemake sets OMP_NUM_THREADS): two OpenBLAS threads in each of two processes on
    two cores made the Wiener filters 8x slower (43 s instead of 5.6 s) and slowed the
    SABLE job beside them (same table either way).
    """
    import torch
    from threadpoolctl import threadpool_limits

    sessions, motor, methods, seed = job
    torch.set_num_threads(1)
    with threadpool_limits(1):
        return cs.evaluate(
            sessions,
            n_train_sessions=motor["n_train_sessions"],
            methods=methods,
            calibration_fraction=motor["calibration_fraction"],
            settings=method_settings(motor, seed),
            seed=seed,
        )


@pytest.fixture(scope="module")
def far(table):
    """Mean R² per method over the far test sessions (and SABLE's seeds)."""
    rows = table[table["days_apart"] >= FAR_DAYS]
    assert rows["session"].nunique() == 3  # days 14→25, 40, 60 after day 3
    return rows.groupby("method")["value"].mean()


def test_the_fixed_decoder_degrades_with_days(table):
    fixed = table[table["method"] == "fixed"].sort_values("days_apart")["value"].to_numpy()
    assert fixed[0] > 0.5 and fixed[-1] < 0.1 and fixed[-1] < fixed[0] - 0.5, fixed


def test_alignment_reaches_the_within_session_filter_and_beats_the_fixed_decoder(far):
    """Aligned PCA/CCA with the authors' square-rooted counts comes level with the filter
    recalibrated on the session (0.833 vs 0.834), as Gallego et al. report aligned latents
    decoding about as well as a within-day decoder; without the square root it trailed by
    0.04."""
    assert abs(far["within"] - far["aligned"]) < 0.03, far
    assert far["aligned"] > far["fixed"] + 0.4, far


def test_sable_and_cebra_recover_what_drift_loses(far):
    assert far["sable"] > far["fixed"] + 0.4, far
    assert far["cebra"] > far["fixed"] + 0.3, far


@pytest.fixture(scope="module")
def near(table):
    return table[table["days_apart"] < FAR_DAYS].groupby("method")["value"].mean()


def test_sable_beats_every_decoder_near_training(near):
    """SABLE, reading whole trials through dynamics learnt on 3 sessions, beats the
    within-session Wiener filter fitted on the session's ~70 calibration trials."""
    assert near["sable"] > near["within"] + 0.03, near
    assert near["sable"] > near["aligned"] + 0.05, near


def test_paper_sable_beats_aligned_pca_cca_far_from_training(far):
    """With no label of the test sessions, against aligned PCA/CCA that uses their targets."""
    assert far["sable"] > far["aligned"] + 0.05, far


def test_sable_recalibrated_with_labels_is_the_ceiling_far_from_training(far):
    """The within-session ceiling of the same model: its read-in/out fitted with the session's
    velocity. Unsupervised alignment gets close to it, not past it."""
    assert far["sable_recalibrated"] > far["sable"] + 0.015, far
    assert far["sable_recalibrated"] > far["within"] + 0.05, far


def test_every_sable_seed_beats_aligned_pca_cca_far_from_training(table):
    rows = table[table["days_apart"] >= FAR_DAYS]
    aligned = rows.loc[rows["method"] == "aligned", "value"].mean()
    per_seed = rows[rows["method"] == "sable"].groupby("seed")["value"].mean()
    assert len(per_seed) == 3 and (per_seed > aligned + 0.02).all(), (per_seed, aligned)


def test_the_reverse_step_does_not_hurt(table):
    mean = table.groupby("method")["value"].mean()
    assert mean["sable"] >= mean["sable_no_reverse"] - 0.005, mean


@pytest.mark.xfail(
    strict=True,
    reason="the within-session Wiener filter (~70 calibration trials) is below SABLE on this "
    "monkey, far from training too (docs/motor.md: 0.83 vs 0.90 over days 22-57; 0.85 fitted "
    "on ~126 trials); on five untuned monkeys the two tie, and with go-cue windows within leads "
    "on each (test_motor_monkeys.py)",
)
def test_paper_within_session_is_the_ceiling_far_from_training(far):
    assert far["within"] >= far["sable"], far


@pytest.mark.xfail(
    strict=True,
    reason="CEBRA multi-session trails aligned PCA/CCA on this simulation, however tuned "
    "(docs/motor.md: 0.69 vs 0.83 far from training; 0.62-0.70 over labels, sizes and models); "
    "no published comparison claims the opposite (SABLE predates CEBRA)",
)
def test_cebra_beats_aligned_pca_cca(far):
    assert far["cebra"] > far["aligned"], far
