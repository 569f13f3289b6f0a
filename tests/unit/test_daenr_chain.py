"""The Allen DAE-NR chain: sessions -> per-image responses -> pooled mice -> fit -> figure."""

from __future__ import annotations

import dataclasses
import shutil

import h5py
import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
import torch

from brainlatent.datasets import allen_calcium as ac
from brainlatent.datasets.simulate_calcium import simulate_mouse
from brainlatent.errors import DataError
from brainlatent.figures.daenr import plot_daenr
from brainlatent.models.daenr_scenes import METRIC_COLUMNS, fit_scenes
from brainlatent.preprocessing.calcium import SCENE_WINDOW, interval_means
from brainlatent.preprocessing.scenes import (
    SCENE_ARRAYS,
    pool_scenes,
    preprocess_scenes,
    read_scenes,
    scene_matrix,
    split_images,
    write_scenes,
)

N_NEURONS = {"M1": 12, "M2": 9}
N_SCENE_REPEATS, SIZE = 2, 8


def scene_responses(session):
    """Mean dF/F of each presentation (the reference ``scene_matrix`` averages per image)."""
    onset = session.scenes["start_time"].to_numpy()
    responses = interval_means(
        session.dff, session.timestamps, onset + SCENE_WINDOW[0], onset + SCENE_WINDOW[1]
    )
    return responses, session.scenes["frame"].to_numpy(np.int64)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def nwb(tmp_path_factory):
    """Two tiny simulated mice (one movie repeat, two scene repeats, 8×8 images)."""
    root = tmp_path_factory.mktemp("daenr_chain")
    paths = {}
    for mouse, n in N_NEURONS.items():
        paths[mouse] = root / ac.nwb_relpath(mouse)
        simulate_mouse(
            paths[mouse],
            mouse,
            "VISp",
            n,
            seed=0,
            n_movie_repeats=1,
            n_scene_repeats=N_SCENE_REPEATS,
            image_size=SIZE,
        )
    return paths


@pytest.fixture(scope="module")
def sessions(nwb):
    return {mouse: ac.read_session(path) for mouse, path in nwb.items()}


def test_scene_matrix_has_one_row_per_image(sessions):
    session = sessions["M1"]
    scenes = scene_matrix(session)
    assert scenes.responses.shape == (ac.N_SCENES, N_NEURONS["M1"])
    assert scenes.responses.dtype == np.float32
    np.testing.assert_array_equal(scenes.image, np.arange(ac.N_SCENES))
    assert scenes.images.shape == (ac.N_SCENES, SIZE, SIZE) and scenes.images.dtype == np.float32
    np.testing.assert_allclose(scenes.images, session.scenes_template / 255.0, atol=1e-6)
    assert scenes.images.min() >= 0 and scenes.images.max() <= 1
    assert (scenes.n_presentations == N_SCENE_REPEATS).all()
    np.testing.assert_array_equal(scenes.cell_ids, session.cell_ids)
    responses, image = scene_responses(session)
    expected = pd.DataFrame(responses).groupby(image).mean().to_numpy()
    np.testing.assert_allclose(scenes.responses, expected, rtol=1e-5, atol=1e-6)


def test_blank_sweeps_are_excluded(sessions):
    session = sessions["M1"]
    scenes_table = session.scenes.copy()
    first = scenes_table.groupby("frame").head(1).index[:5]  # first showing of 5 images
    blanked = scenes_table.loc[first, "frame"].to_numpy()
    scenes_table.loc[first, "frame"] = -1
    edited = scene_matrix(dataclasses.replace(session, scenes=scenes_table))
    responses, image = scene_responses(session)
    assert (edited.n_presentations[blanked] == N_SCENE_REPEATS - 1).all()
    for k in blanked:  # the mean of the remaining showing only: the blank adds nothing
        kept = np.flatnonzero((image == k) & ~np.isin(np.arange(len(image)), first))
        np.testing.assert_allclose(edited.responses[k], responses[kept].mean(axis=0), rtol=1e-5)


def test_image_never_shown_is_a_data_error(sessions, nwb):
    session = sessions["M1"]
    scenes_table = session.scenes.copy()
    scenes_table.loc[scenes_table["frame"] == 7, "frame"] = -1
    with pytest.raises(DataError, match=r"never shown \(images \[7\]\)") as error:
        scene_matrix(dataclasses.replace(session, scenes=scenes_table), nwb["M1"])
    assert error.value.path == str(nwb["M1"])


def test_session_without_scenes_or_template_is_a_data_error(sessions, nwb, tmp_path):
    session = sessions["M1"]
    with pytest.raises(DataError, match="no natural scenes template") as error:
        scene_matrix(dataclasses.replace(session, scenes_template=None))
    assert error.value.path == str(session.path)
    # From the file: a session without the natural scenes stimulus (e.g. not StimB).
    path = tmp_path / "no_scenes.nwb"
    shutil.copy(nwb["M1"], path)
    with h5py.File(path, "a") as f:
        del f[f"stimulus/presentation/{ac.SCENES_PRESENTATION}"]
    with pytest.raises(DataError, match="no natural_scenes presentations") as error:
        preprocess_scenes(path, tmp_path / "scenes.npz")
    assert error.value.path == str(path)
    assert not (tmp_path / "scenes.npz").exists()


def test_scenes_file_round_trip_and_bad_file(sessions, tmp_path):
    scenes = scene_matrix(sessions["M1"])
    path = tmp_path / "sub-M1" / "scenes.npz"
    write_scenes(path, scenes, source="sub-M1.nwb")
    back = read_scenes(path)
    for name in SCENE_ARRAYS:
        np.testing.assert_array_equal(getattr(back, name), getattr(scenes, name))
    bad = tmp_path / "bad.npz"
    np.savez(bad, responses=scenes.responses)
    with pytest.raises(DataError, match="missing arrays") as error:
        read_scenes(bad)
    assert error.value.path == str(bad)


def test_pooling_two_mice_aligns_images_and_concatenates_neurons(sessions):
    m1, m2 = scene_matrix(sessions["M1"]), scene_matrix(sessions["M2"])
    order = np.random.default_rng(0).permutation(ac.N_SCENES)  # rows in another order
    shuffled = m2._replace(
        responses=m2.responses[order],
        image=m2.image[order],
        images=m2.images[order],
        n_presentations=m2.n_presentations[order],
    )
    pooled = pool_scenes([m1, shuffled], ["sub-M1.npz", "sub-M2.npz"])
    assert pooled.responses.shape == (ac.N_SCENES, N_NEURONS["M1"] + N_NEURONS["M2"])
    np.testing.assert_array_equal(pooled.responses[:, : N_NEURONS["M1"]], m1.responses)
    np.testing.assert_array_equal(pooled.responses[:, N_NEURONS["M1"] :], m2.responses)
    np.testing.assert_array_equal(pooled.image, np.arange(ac.N_SCENES))
    np.testing.assert_array_equal(pooled.images, m1.images)
    np.testing.assert_array_equal(pooled.cell_ids, np.concatenate([m1.cell_ids, m2.cell_ids]))
    assert pooled.origin.tolist() == [[0, c] for c in range(N_NEURONS["M1"])] + [
        [1, c] for c in range(N_NEURONS["M2"])
    ]
    other = m2._replace(images=1 - m2.images)
    with pytest.raises(DataError, match="scene images differ") as error:
        pool_scenes([m1, other], ["sub-M1.npz", "sub-M2.npz"])
    assert error.value.path == "sub-M2.npz"


def test_split_is_disjoint_and_seeded():
    train, test = split_images(118, 18, seed=0)
    assert len(test) == 18 and len(train) == 100
    assert not set(train) & set(test)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(118))
    np.testing.assert_array_equal(split_images(118, 18, seed=0)[1], test)
    assert not np.array_equal(split_images(118, 18, seed=1)[1], test)
    for bad in (2, 118):
        with pytest.raises(ValueError, match="n_test_images"):
            split_images(118, bad, seed=0)


def test_fit_scenes_scores_every_beta_and_seed_and_keeps_reconstructions(sessions):
    pooled = pool_scenes([scene_matrix(s) for s in sessions.values()])
    table, recon = fit_scenes(
        pooled, [0.0, 1.0], [3, 4], 10, 0, hidden_dim=4, max_epochs=2, progress=False
    )
    scores = {"ssim", "pixcorr", "rsa", "rsa_readout"}
    assert list(table.columns) == METRIC_COLUMNS and len(table) == 2 * 2 * 2 * len(scores)
    assert set(table["dataset"]) == {"allen_calcium"}
    assert set(table["seed"]) == {3, 4}
    assert set(table["metric"]) == scores | {f"{m}_shuffled" for m in scores}
    assert recon["reconstructions"].shape == (2, 10, SIZE, SIZE)
    assert "pretrained" not in recon  # no pretraining asked for
    np.testing.assert_array_equal(recon["test_image"], split_images(118, 10, 0)[1])
    np.testing.assert_array_equal(recon["test_images"], pooled.images[recon["test_image"]])
    assert not set(recon["test_image"]) & set(recon["train_image"])


def test_fit_scenes_pretrains_on_a_drawn_corpus_and_keeps_its_reconstructions(
    sessions, monkeypatch
):
    from brainlatent.models import daenr_scenes

    passed = {}

    def spy(*args, init=None, corpus=None, **kwargs):
        passed.update(init=init, corpus=corpus)
        return compare_beta(*args, init=init, corpus=corpus, **kwargs)

    compare_beta = daenr_scenes.compare_beta
    monkeypatch.setattr(daenr_scenes, "compare_beta", spy)
    pooled = pool_scenes([scene_matrix(s) for s in sessions.values()])
    pretraining = {"images": "dead_leaves", "n_images": 40, "max_epochs": 1, "batch_size": 20}
    table, recon = fit_scenes(
        pooled, [0.0, 1.0], [0], 10, 0, pretraining=pretraining, hidden_dim=4, max_epochs=1,
        augment=True, progress=False, lr=1e-9,
    )  # fmt: skip
    assert recon["pretrained"].shape == recon["test_images"].shape
    assert np.isfinite(table["value"]).all()
    # Every fit gets the corpus and starts from the pretrained network: with a step of 1e-9
    # the fitted autoencoder (beta 0: no neural term) still reconstructs as the pretrained one.
    assert passed["init"] is not None and len(passed["corpus"]) == 40
    np.testing.assert_allclose(recon["reconstructions"][0], recon["pretrained"], atol=1e-4)
    assert np.abs(recon["pretrained"] - recon["test_images"]).mean() > 0.01  # not the identity
    with pytest.raises(DataError, match="neither 'dead_leaves' nor an existing folder"):
        fit_scenes(
            pooled, [0.0], [0], 10, 0, pretraining={"images": "no/such/folder", "n_images": 5},
            hidden_dim=4, max_epochs=1, progress=False,
        )  # fmt: skip


def fake_results(n_test: int = 8):
    rng = np.random.default_rng(0)
    rows = [
        {"dataset": "allen_calcium", "beta": b, "seed": s, "metric": m, "value": rng.uniform()}
        for b in (0.0, 1.0)
        for s in (0, 1, 2)
        for m in ("ssim", "pixcorr", "rsa", "rsa_readout", "pixcorr_shuffled", "rsa_shuffled")
    ]
    recon = {
        "test_images": rng.uniform(0, 1, (n_test, SIZE, SIZE)).astype(np.float32),
        "test_image": np.arange(n_test),
        "train_image": np.arange(n_test, 118),
        "betas": np.array([0.0, 1.0]),
        "reconstructions": rng.uniform(0, 1, (2, n_test, SIZE, SIZE)).astype(np.float32),
        "pretrained": rng.uniform(0, 1, (n_test, SIZE, SIZE)).astype(np.float32),
    }
    return pd.DataFrame(rows), recon


def test_figure_is_drawn_from_the_table_and_reconstructions():
    table, recon = fake_results()
    fig = plot_daenr(table, recon, n_images=4)
    assert isinstance(fig, matplotlib.figure.Figure)
    # An older run (three scores, no pretrained row, no baselines) still draws.
    old = table[table["metric"].isin(["ssim", "pixcorr", "rsa"])]
    plot_daenr(old, {k: v for k, v in recon.items() if k != "pretrained"}, n_images=4)
    with pytest.raises(DataError, match="lack arrays"):
        plot_daenr(table, {k: v for k, v in recon.items() if k != "betas"}, source="r.npz")
    with pytest.raises(DataError, match="no rows"):
        plot_daenr(table[table["metric"] == "other"], recon)


def test_scenes_are_resized_keeping_the_aspect_and_daenr_fits_them():
    from brainlatent.models.daenr import DAENREstimator
    from brainlatent.preprocessing.scenes import resize_images

    gen = np.random.default_rng(0)
    images = gen.random((6, 918 // 17, 1174 // 17)).astype(np.float32)  # the real aspect
    small = resize_images(images, 16)
    assert small.shape == (6, 16, 20) and small.dtype == np.float32
    assert 0 <= small.min() and small.max() <= 1
    assert resize_images(small, 16) is small  # already that size: returned as is
    model = DAENREstimator(beta=1.0, hidden_dim=4, max_epochs=2, random_state=0)
    model.fit(small, gen.random((6, 5)))
    assert model.reconstruct(small).shape == small.shape
