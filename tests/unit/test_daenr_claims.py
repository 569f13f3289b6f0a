"""The DAE-NR paper's two claims, tested on the default config's simulated scenes (slow).

Ran et al. claim that joint learning with the neural responses (i) improves image
reconstruction and (ii) raises the representational similarity between network and
neurons. Here the ground truth is known: 118 dead-leaves scenes, 600 simulated V1
complex cells (two mice, 10 presentations each), the default ``allen_calcium.daenr``
settings (pretraining on 3,000 dead-leaves images, β in {0, 0.1, 1, 10}, 3 seeds),
18 held-out scenes. About 2 minutes on one CPU thread, so off by default
(``pytest -m slow``). What holds, asserted with margins over the seed spread:

- reconstructions are recognisable: PixCorr >= 0.5 at β = 0, far above shuffled pairs;
- (ii): the code's RSA to the neurons at the best β > 0 is above β = 0 by more than
  three seed SDs, and every seed beats every β = 0 seed (whether it also beats the
  shuffled-pairing baseline depends on the CPU: see the test).

What does not: (i). Reconstruction at the best β > 0 is not above β = 0 (PixCorr and
SSIM fall, or stay within the seed spread, as the weight of the neural term grows). The
test asserts that too, so a change that makes (i) hold fails here and must update the
DAE-NR numbers of docs/allen_calcium.md.

Without pretraining (the autoencoder learns from the ~100 training scenes alone, 100
epochs, as in the paper) the picture turns over: (i) holds, PixCorr and SSIM rise with
the neural term by many seed SDs, while (ii) does not. Another ~3 minutes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from brainlatent.datasets.simulate_calcium import simulate_dataset
from brainlatent.models.daenr_scenes import fit_scenes
from brainlatent.preprocessing.scenes import pool_scenes, preprocess_scenes

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    calcium = config["allen_calcium"]
    out = tmp_path_factory.mktemp("daenr_claims")
    paths = simulate_dataset(
        out / "nwb",
        calcium["mice"],
        calcium["areas"],
        calcium["simulate"]["n_neurons"],
        config["seed"],
        n_movie_repeats=calcium["simulate"]["n_movie_repeats"],
        n_scene_repeats=calcium["simulate"]["n_scene_repeats"],
        image_size=calcium["simulate"]["image_size"],
    )
    scenes = pool_scenes([preprocess_scenes(p, out / f"{k}.npz") for k, p in enumerate(paths)])
    return config, scenes


def _fit(config, scenes, **overrides):
    settings = {**config["allen_calcium"]["daenr"], **overrides}
    betas, seeds = settings.pop("betas"), settings.pop("seeds")
    n_test, pretraining = settings.pop("n_test_images"), settings.pop("pretrain")
    settings.pop("image_size")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        metrics, _ = fit_scenes(
            scenes, betas, seeds, n_test, config["seed"], pretraining=pretraining,
            device="cpu", progress=False, **settings,
        )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    return metrics.pivot_table(index="seed", columns=["metric", "beta"], values="value")


@pytest.fixture(scope="module")
def table(simulated):
    return _fit(*simulated)


@pytest.fixture(scope="module")
def from_scratch(simulated):
    config, scenes = simulated
    pretraining = {**config["allen_calcium"]["daenr"]["pretrain"], "n_images": 0}
    return _fit(config, scenes, pretrain=pretraining, max_epochs=100)


def _best_positive_beta(wide, metric):
    means = wide[metric].mean()
    return means[means.index > 0].idxmax()


def test_held_out_reconstructions_are_recognisable(table):
    assert (table["pixcorr"][0.0] >= 0.5).all(), table["pixcorr"]
    assert (table["pixcorr"][0.0] > table["pixcorr_shuffled"][0.0] + 0.3).all()
    assert (table["ssim"][0.0] > table["ssim_shuffled"][0.0] + 0.2).all()


def test_claim_ii_the_neural_term_raises_rsa_beyond_the_seed_spread(table):
    rsa = table["rsa"]
    best = _best_positive_beta(table, "rsa")
    spread = max(rsa[best].std(), rsa[0.0].std())
    assert rsa[best].mean() - rsa[0.0].mean() > 3 * spread, rsa
    assert rsa[best].min() > rsa[0.0].max(), rsa
    # Not asserted: RSA above the shuffled-pairing baseline. That baseline's SD over seeds is
    # ~0.03 with 18 held-out scenes, as large as the effect, and where RSA sits against it
    # depends on the CPU's float rounding: every seed above it on CI's machine (0.022 -> 0.039),
    # not on an AVX-512 AMD EPYC (-0.024 -> -0.002; seed 0's shuffled 0.030). The rise with
    # the neural term, asserted above, held on both.


def test_claim_i_does_not_hold_reconstruction_is_not_improved(table):
    for metric in ("pixcorr", "ssim"):
        scores = table[metric]
        best = _best_positive_beta(table, metric)
        spread = max(scores[best].std(), scores[0.0].std())
        assert scores[best].mean() <= scores[0.0].mean() + 3 * spread, scores
        assert not scores[best].min() > scores[0.0].max() + 3 * spread, scores
    # And the cost grows with beta: PixCorr at the largest beta is below beta = 0.
    pixcorr = table["pixcorr"]
    assert pixcorr[max(pixcorr.columns)].mean() < pixcorr[0.0].mean(), pixcorr
    assert np.isfinite(table.to_numpy()).all()


def test_without_pretraining_claim_i_holds_and_claim_ii_does_not(from_scratch, table):
    for metric in ("pixcorr", "ssim"):
        scores = from_scratch[metric]
        best = _best_positive_beta(from_scratch, metric)
        spread = max(scores[best].std(), scores[0.0].std())
        assert scores[best].mean() - scores[0.0].mean() > 3 * spread, scores
        assert scores[best].min() > scores[0.0].max(), scores
    rsa = from_scratch["rsa"]
    assert rsa[_best_positive_beta(from_scratch, "rsa")].mean() < rsa[0.0].mean() + 0.03, rsa
    # Pretraining alone reconstructs better than the neural term at its best.
    best = _best_positive_beta(from_scratch, "pixcorr")
    assert table["pixcorr"][0.0].min() > from_scratch["pixcorr"][best].max()
