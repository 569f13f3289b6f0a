"""The statistics that say whether MEG of the test images looks like THINGS-MEG's.

Hebart et al. (2023, eLife 82580; code: ViCCo-Group/THINGS-data) publish two numbers that
fix how much image information a single trial of THINGS-MEG carries; both are computed
here as their code computes them, on epochs of the repeated test images, an array
``images × sessions × sensors × times`` (one trial of every image per session):

- :func:`pairwise_decoding`: time-resolved decoding of every pair of images from single
  trials, shrinkage LDA per time point over the sensors, leave one session out. Real data:
  above chance from ~75–90 ms, peak ~100 ms "approaching 70–80 %" in the best participants.
- :func:`noise_ceiling`: THINGS-data's ``kknc`` per sensor and time for the mean of all
  sessions (NSD's formula). Real data: up to ~70 % for 12 sessions.

:func:`simulated_test_epochs` makes that array from the simulator, preprocessed as
THINGS-data's ``step1_preprocessing.py`` does. ``benchmarks/meg_realism.py`` reports both
statistics at full size; ``tests/unit/test_meg_statistics.py`` holds the simulator's
defaults to them on a smaller set.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import mne
import numpy as np
import pandas as pd
from scipy.signal import resample_poly

from brainlatent.datasets import simulate_meg, stimuli, things_meg

#: THINGS-data's preprocessing: band, output rate, the epoch cut before resampling and the
#: one analysed (its baseline is from the start to image onset).
BAND = (0.1, 40.0)
OUT_SFREQ = 200.0
EPOCH = (-0.2, 0.8)
KEEP = (-0.1, 0.6)
#: Range of ds004212's onset asynchronies (s).
SOA = (1.28, 1.70)


def tested_images(reference: Path, subject: str) -> pd.DataFrame:
    """A participant's test images (image, category), in image order, from its events."""
    rows = []
    for path in sorted(reference.glob(f"sub-{subject}/ses-*/meg/*_events.tsv")):
        events = things_meg.read_events(path)
        rows.append(things_meg.image_trials(events).query("trial_type == 'test'"))
    table = pd.concat(rows)[["image", "category"]].drop_duplicates("image")
    return table.sort_values("image").reset_index(drop=True)


def session_events(images: pd.DataFrame, session: int, seed: int) -> pd.DataFrame:
    """One session of the test set: every image once, in random order, at real SOAs."""
    gen = np.random.default_rng([seed, session])
    order = gen.permutation(len(images))
    onsets = 2.0 + np.concatenate([[0.0], np.cumsum(gen.uniform(*SOA, len(images) - 1))])
    return pd.DataFrame(
        {
            "onset": onsets,
            "duration": 0.5,
            "trial_type": "test",
            "things_category_nr": images["category"].to_numpy()[order].astype(float),
            "value": images["image"].to_numpy()[order].astype(float),
        }
    )


def simulated_test_epochs(
    params: simulate_meg.MEGSimulation,
    images: pd.DataFrame,
    n_sessions: int,
    subject: str,
    reference: Path,
    span: tuple[float, float] = KEEP,
) -> tuple[np.ndarray, np.ndarray]:
    """Epochs (images × sessions × sensors × times, float32) of simulated test sessions.

    ``span`` is the analysed part of the epoch (s): THINGS-data's runs to 1.3 s, past the
    image's offset at 0.5 s; the default stops at 0.6 s (the onset response, at less cost).

    One run a session, simulated with :func:`simulate_meg.simulate_run` and the image
    latents :func:`simulate_meg.simulate_dataset` would give; then THINGS-data's steps:
    0.1–40 Hz (MNE's FIR on the continuous run), epochs, resampled to 200 Hz, each epoch
    and sensor z-scored against its baseline (``mne.baseline.rescale(mode='zscore')``).
    """
    names = things_meg.sensor_names(reference)
    positions = things_meg.sensor_positions(names)
    keep = [i for i, n in enumerate(names) if n not in things_meg.KNOWN_BAD_CHANNELS]
    superordinate = stimuli.superordinate_categories(
        reference / "sourcedata" / "category_mat_manual.tsv"
    )
    latents = stimuli.image_parameters(images, superordinate, params.seed)
    row = {int(image): k for k, image in enumerate(images["image"])}
    sfreq = params.sfreq
    ratio = Fraction(OUT_SFREQ / sfreq).limit_denominator(100)
    cut = (EPOCH[0], max(EPOCH[1], span[1] + 0.2))  # resample_poly's edges are cut away
    offsets = np.arange(int(round(cut[0] * sfreq)), int(round(cut[1] * sfreq)) + 1)
    times = cut[0] + np.arange(int(np.ceil(len(offsets) * ratio))) / OUT_SFREQ
    crop = (times >= span[0] - 1e-9) & (times <= span[1] + 1e-9)
    times = times[crop]
    out = np.empty((len(images), n_sessions, len(keep), len(times)), np.float32)
    for session in range(n_sessions):
        events = session_events(images, session, params.seed)
        duration = float(events["onset"].max()) + 2.0
        data = simulate_meg.simulate_run(
            events, latents, positions, duration, params, subject, f"{session + 1:02d}-01"
        )
        data = data[keep] / params.amplitude
        data = mne.filter.filter_data(data, sfreq, *BAND, n_jobs=1, verbose=False)
        onsets = np.round(events["onset"].to_numpy() * sfreq).astype(int)
        epochs = data[:, onsets[:, None] + offsets[None, :]].transpose(1, 0, 2)
        del data
        epochs = resample_poly(epochs, ratio.numerator, ratio.denominator, axis=-1)
        epochs = epochs[..., : len(crop)][..., crop]
        epochs = mne.baseline.rescale(
            epochs, times, (None, 0), mode="zscore", copy=False, verbose=False
        )
        for k, image in enumerate(events["value"].astype(int)):
            out[row[image], session] = epochs[k]
    return out, times


def noise_ceiling(epochs: np.ndarray) -> np.ndarray:
    """THINGS-data's noise ceiling (%) per sensor and time of the mean over sessions.

    Each session is z-scored across images; the noise variance is the mean over images
    of the variance across sessions, the signal's is what is left of 1, and
    NC = 100 SNR² / (SNR² + 1/n) for the mean of n sessions (Allen et al. 2022, NSD).
    """
    n_sessions = epochs.shape[1]
    z = epochs - epochs.mean(axis=0, keepdims=True)
    z /= z.std(axis=0, keepdims=True)
    noise_var = z.var(axis=1, ddof=1).mean(axis=0)
    snr2 = np.clip(1 - noise_var, 0, None) / noise_var
    return 100 * snr2 / (snr2 + 1 / n_sessions)


def _ledoit_wolf_shrinkage(centred: np.ndarray, std: np.ndarray):
    """scikit-learn's Ledoit–Wolf shrinkage of standardised samples, batched (b × n × p)."""
    n, p = centred.shape[-2:]
    z = centred / std[:, None, :]
    gram = z @ z.transpose(0, 2, 1)
    delta_ = (gram**2).sum(axis=(1, 2)) / n**2
    beta_ = ((z**2).sum(axis=2) ** 2).sum(axis=1)
    mu = (z**2).sum(axis=(1, 2)) / n / p
    delta = (delta_ - 2 * mu * mu * p + p * mu**2) / p
    beta = np.minimum((beta_ / n - delta_) / (p * n), delta)
    return np.where(beta == 0, 0.0, beta / delta), mu


def lda_decision(train_a: np.ndarray, train_b: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Decision values of shrinkage LDA for many pairs at once (positive: class b).

    scikit-learn's ``LinearDiscriminantAnalysis(solver='lsqr', shrinkage='auto')`` with
    equal priors (each class's Ledoit–Wolf covariance of its standardised samples, pooled),
    solved through the Woodbury identity over the few training trials: THINGS-MEG needs
    ~10⁵ two-class fits per participant, which one estimator per fit makes take hours.
    ``tests/unit/test_meg_statistics.py`` checks it against scikit-learn.
    train_a, train_b: batch × n × sensors; test: batch × m × sensors.
    """
    n = train_a.shape[1]
    parts, means, diag = [], [], 0.0
    for x in (train_a, train_b):
        mean = x.mean(axis=1)
        centred = x - mean[:, None, :]
        std = np.sqrt((centred**2).mean(axis=1))
        std = np.where(std == 0, 1.0, std)
        shrinkage, mu = _ledoit_wolf_shrinkage(centred, std)
        diag = diag + 0.5 * (shrinkage * mu)[:, None] * std**2
        parts.append(np.sqrt(0.5 * (1 - shrinkage) / n)[:, None, None] * centred)
        means.append(mean)
    u = np.concatenate(parts, axis=1)  # the pooled covariance is diag + uᵀu
    difference = means[1] - means[0]
    scaled = u / diag[:, None, :]
    inner = np.eye(u.shape[1]) + scaled @ u.transpose(0, 2, 1)
    rhs = np.einsum("bkp,bp->bk", scaled, difference)
    solved = np.linalg.solve(inner, rhs[..., None])[..., 0]
    weights = difference / diag - np.einsum("bkp,bk->bp", scaled, solved)
    centre = 0.5 * (means[0] + means[1])
    return np.einsum("bmp,bp->bm", test - centre[:, None, :], weights)


def pairwise_decoding(
    epochs: np.ndarray, n_pairs: int = 500, step: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Single-trial accuracy of each image pair at every ``step``-th time point.

    Leave one session out: trained on the other sessions' trials of the two images, tested
    on the left-out session's two, averaged over folds. Returns the time indices decoded
    and the accuracies (times × pairs; chance 0.5). ``n_pairs`` are drawn at random.
    """
    n_images, n_sessions = epochs.shape[:2]
    gen = np.random.default_rng(seed)
    every = np.array([(i, j) for i in range(n_images) for j in range(i + 1, n_images)])
    pairs = every[gen.choice(len(every), min(n_pairs, len(every)), replace=False)]
    a, b = pairs[:, 0], pairs[:, 1]
    indices = np.arange(0, epochs.shape[-1], step)
    accuracy = np.zeros((len(indices), len(pairs)))
    for row, t in enumerate(indices):
        x = epochs[:, :, :, t].astype(np.float64)
        xa, xb = x[a], x[b]  # pairs × sessions × sensors
        for session in range(n_sessions):
            train = np.delete(np.arange(n_sessions), session)
            test = np.stack([xa[:, session], xb[:, session]], axis=1)
            decision = lda_decision(xa[:, train], xb[:, train], test)
            accuracy[row] += ((decision[:, 0] < 0).astype(float) + (decision[:, 1] > 0)) / 2
        accuracy[row] /= n_sessions
    return indices, accuracy
