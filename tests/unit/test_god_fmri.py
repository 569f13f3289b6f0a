"""GOD fMRI: the simulated dataset's layout, block samples, and clear errors on bad input."""

from __future__ import annotations

import dataclasses
import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.signal

from brainlatent.datasets import god_fmri
from brainlatent.datasets.simulate_god import (
    HIGH_LEVEL,
    LOW_LEVEL,
    GODSimulation,
    _spatial_smoother,
    ground_truth_features,
    roi_layout,
    simulate_dataset,
)
from brainlatent.datasets.stimuli import LATENT_NAMES
from brainlatent.errors import ConfigError, DataError
from brainlatent.models.generator import check_generator, load_images
from brainlatent.preprocessing.fmri import block_samples, preprocess_subject

from ..conftest import RESOURCES

SUBJECT = "01"
SIM = GODSimulation(volume_shape=(16, 16, 12), training_runs=2, test_runs=2, image_size=16)


@pytest.fixture(scope="module")
def reference():
    return RESOURCES / "god-fmri"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, reference):
    """Two training and two test runs of sub-01 (read-only: copy before breaking)."""
    root = tmp_path_factory.mktemp("god")
    simulate_dataset(
        reference, root / "bids", root / "stimuli", root / "truth", [SUBJECT], SIM, seed=0
    )
    return root


@pytest.fixture
def broken(dataset, tmp_path):
    """A private copy of the dataset to corrupt."""
    for name in ("bids", "stimuli"):
        shutil.copytree(dataset / name, tmp_path / name)
    return tmp_path


def first_run(root, split="training"):
    runs = god_fmri.perception_runs(root / "bids", SUBJECT)
    return runs[runs["split"] == split].iloc[0]


def test_simulation_writes_the_real_layout(dataset, reference):
    bids = dataset / "bids"
    runs = god_fmri.perception_runs(bids, SUBJECT)
    assert runs["split"].tolist() == ["test", "test", "training", "training"]
    for run in runs.itertuples():
        events = god_fmri.events_path(bids, SUBJECT, run.session, run.run)
        real = god_fmri.events_path(reference, SUBJECT, run.session, run.run)
        assert events.read_bytes() == real.read_bytes()
        image = nib.load(god_fmri.bold_path(bids, SUBJECT, run.session, run.run))
        assert image.shape == (16, 16, 12, 178)  # 534 s of events at TR 3 s
        assert image.header.get_zooms() == (3.0, 3.0, 3.0, 3.0)
        assert image.get_data_dtype() == np.float32
    for hemisphere in god_fmri.HEMISPHERES:
        for part in ("V1d", "V1v", "V2d", "V2v", "V3d", "V3v", "hV4", "LOC", "FFA", "PPA", "HVC"):
            mask = nib.load(god_fmri.mask_path(bids, SUBJECT, hemisphere, part))
            assert mask.shape == (16, 16, 12) and np.asanyarray(mask.dataobj).any(), part
    assert god_fmri.repetition_time(bids) == 3.0
    stimuli = god_fmri.read_stimuli(dataset / "stimuli")
    assert len(stimuli) == 150  # 2 × 50 training images + the 50 test images
    assert stimuli["image"].is_unique


def test_ground_truth_tunes_early_areas_to_low_and_ventral_areas_to_high_level(dataset):
    truth = np.load(dataset / "truth" / f"sub-{SUBJECT}_voxels.npz")
    weights, parts = truth["weights"], truth["part"]
    low = [LATENT_NAMES.index(n) for n in LOW_LEVEL]
    high = [LATENT_NAMES.index(n) for n in HIGH_LEVEL]
    early = np.isin(parts, ["V1d", "V1v", "V2d", "V2v", "V3d", "V3v"])
    ventral = np.isin(parts, ["LOC", "FFA", "PPA"])
    assert early.sum() > 50 and ventral.sum() > 50
    assert np.abs(weights[early][:, high]).max() == 0
    assert (np.abs(weights[early][:, low]).sum(axis=1) > 0).all()
    assert np.abs(weights[ventral][:, low]).max() == 0
    assert (np.abs(weights[ventral][:, high]).sum(axis=1) > 0).all()
    images = pd.read_parquet(dataset / "truth" / "images.parquet")
    ids, low_features = ground_truth_features(images, "low")
    assert low_features.shape == (150, len(LOW_LEVEL)) and (ids == images["image"]).all()


def test_voxels_differ_in_image_specific_amplitude(dataset):
    """Not the clean case: each voxel's image-specific amplitude is log-normal over voxels
    (``signal_spread`` the SD of its log), so a tail of voxels carries much of the signal
    and many carry little."""
    gain = np.load(dataset / "truth" / f"sub-{SUBJECT}_voxels.npz")["gain"]
    assert len(gain) > 200 and (gain > 0).all()
    assert np.log(gain).std() == pytest.approx(SIM.signal_spread, rel=0.15)
    assert np.percentile(gain, 90) / np.percentile(gain, 10) > 4  # exp(2 × 1.28 × 0.7) = 6


def test_without_spread_and_correlated_noise_the_former_simulation_comes_back(
    dataset, reference, tmp_path
):
    """signal_spread = noise_fwhm = noise_global = 0 is the former simulator: every voxel's
    image-specific response of the same SD; the default is the same tuning times the gains."""
    clean = dataclasses.replace(SIM, signal_spread=0.0, noise_fwhm=0.0, noise_global=0.0)
    simulate_dataset(
        reference, tmp_path / "bids", tmp_path / "stimuli", tmp_path / "truth", [SUBJECT], clean, 0
    )
    calibrated = np.load(dataset / "truth" / f"sub-{SUBJECT}_voxels.npz")
    former = np.load(tmp_path / "truth" / f"sub-{SUBJECT}_voxels.npz")
    assert (former["gain"] == 1).all()
    np.testing.assert_allclose(
        calibrated["weights"], former["weights"] * calibrated["gain"][:, None], rtol=1e-5
    )


def test_spatial_noise_keeps_each_voxels_sd_and_correlates_neighbours():
    """Smoothed noise (noise_fwhm 4 mm at 3 mm voxels) keeps unit SD in every brain voxel,
    edges included, correlates face neighbours (~0.45 for a continuous Gaussian) and not
    voxels 4 apart."""
    brain = np.zeros((12, 12, 10), bool)
    brain[1:11, 1:11, 1:9] = True
    smooth = _spatial_smoother(brain, 4.0)
    noise = smooth(np.random.default_rng(0).normal(size=(4000, brain.sum())))
    np.testing.assert_allclose(noise.std(axis=0), 1.0, atol=0.06)
    index = {tuple(v): n for n, v in enumerate(np.argwhere(brain))}

    def r(a, b):
        return np.corrcoef(noise[:, index[a]], noise[:, index[b]])[0, 1]

    assert 0.3 < r((5, 5, 5), (6, 5, 5)) < 0.6
    assert abs(r((5, 5, 5), (9, 5, 5))) < 0.06


def test_simulation_settings_out_of_range_are_config_errors():
    with pytest.raises(ConfigError, match="noise_global must be in"):
        GODSimulation(noise_global=1.0)
    with pytest.raises(ConfigError, match="signal_unexplained must be in"):
        GODSimulation(signal_unexplained=1.5)
    with pytest.raises(ConfigError, match="signal_spread and noise_fwhm must be"):
        GODSimulation(noise_fwhm=-1.0)


def test_roi_layout_keeps_areas_apart_and_hvc_over_loc():
    masks = roi_layout((24, 24, 16))
    for hemisphere in god_fmri.HEMISPHERES:
        early = masks[(hemisphere, "V1d")] | masks[(hemisphere, "V2v")] | masks[(hemisphere, "hV4")]
        assert not (early & masks[(hemisphere, "LOC")]).any()
        assert (masks[(hemisphere, "LOC")] <= masks[(hemisphere, "HVC")]).all()
    assert not (masks[("LH", "V1d")] & masks[("RH", "V1d")]).any()


def test_preprocessing_gives_one_sample_per_image(dataset):
    samples, trials, voxels = preprocess_subject(
        dataset / "bids", dataset / "stimuli", SUBJECT, ["VC"]
    )
    assert samples.dtype == np.float32 and np.isfinite(samples).all()
    assert samples.shape == (150, len(voxels))
    assert list(trials.columns) == ["row", "split", "image", "stimulus_name", "n_blocks"]
    assert trials["split"].tolist() == ["training"] * 100 + ["test"] * 50
    assert trials["row"].tolist() == list(range(150))
    # one-back repeats left out: each training image one block, each test image one per run
    test_runs = len(
        list((dataset / "bids" / f"sub-{SUBJECT}").glob("ses-perceptionTest*/func/*events.tsv"))
    )
    assert test_runs >= 2
    assert (trials.loc[trials["split"] == "training", "n_blocks"] == 1).all()
    assert (trials.loc[trials["split"] == "test", "n_blocks"] == test_runs).all()
    assert list(voxels.columns[:4]) == ["voxel", "i", "j", "k"]
    assert set(god_fmri.ROIS) <= set(voxels.columns)
    assert voxels[list(god_fmri.ROIS)].any(axis=1).all()  # VC: every voxel in some ROI
    only_v1, *_ = preprocess_subject(dataset / "bids", dataset / "stimuli", SUBJECT, ["V1"])
    assert only_v1.shape[1] == voxels["V1"].sum()


def test_samples_are_delayed_block_means_of_detrended_zscored_runs(dataset):
    """Every sample recomputed by hand with scipy: each run's voxels (those the voxel table
    lists, the union of the chosen ROIs) linearly detrended and z-scored (sample SD, as
    nilearn's ``zscore_sample``), the three 3 s volumes from 3 s after a 9 s block's onset
    averaged, and a test image's blocks averaged over its runs."""
    bids = dataset / "bids"
    samples, trials, voxels = preprocess_subject(bids, dataset / "stimuli", SUBJECT, ["V1", "LOC"])
    assert len(voxels) == voxels["V1"].sum() + voxels["LOC"].sum()  # the union, disjoint ROIs
    ijk = tuple(voxels[["i", "j", "k"]].to_numpy().T)
    blocks_of = {}
    for run in god_fmri.perception_runs(bids, SUBJECT).itertuples():
        bold = np.asarray(nib.load(god_fmri.bold_path(bids, SUBJECT, run.session, run.run)).dataobj)
        clean = scipy.signal.detrend(bold[ijk].T.astype(np.float64), axis=0)
        clean /= clean.std(axis=0, ddof=1)
        path = god_fmri.events_path(bids, SUBJECT, run.session, run.run)
        events = god_fmri.read_events(path)
        blocks = god_fmri.stimulus_blocks(events, path, events["stimulus_name"].dropna())
        for block in blocks.itertuples():
            assert block.duration == 9.0 and block.onset % 3.0 == 0
            first = int(block.onset // 3.0) + 1  # the volume acquired 3 s after onset
            sample = clean[first : first + 3].mean(axis=0)
            blocks_of.setdefault(block.stimulus_name, []).append(sample)
    expected = np.stack([np.mean(blocks_of[name], axis=0) for name in trials["stimulus_name"]])
    assert trials["n_blocks"].tolist() == [len(blocks_of[n]) for n in trials["stimulus_name"]]
    np.testing.assert_allclose(samples[trials["row"]], expected, rtol=1e-4, atol=1e-4)


def test_one_back_repeats_are_not_samples():
    """A real run's block 7 repeats block 6 (the button press): only the simulator keeps it."""
    events = pd.DataFrame(
        {
            "onset": [0.0, 9.0, 18.0, 27.0, 36.0],
            "duration": [9.0] * 5,
            "event_type": ["rest", "stimulus", "stimulus", "stimulus", "stimulus"],
            "stimulus_name": [None, "n1_1", "n2_2", "n2_2", "n1_1"],
        }
    )
    kept = god_fmri.stimulus_blocks(events, "run.tsv", {"n1_1", "n2_2"})
    assert kept["onset"].tolist() == [9.0, 18.0, 36.0]  # a later showing of n1_1 is no repeat
    shown = god_fmri.stimulus_blocks(events, "run.tsv", {"n1_1", "n2_2"}, repeats=True)
    assert shown["onset"].tolist() == [9.0, 18.0, 27.0, 36.0]


def test_real_events_give_the_datasets_samples():
    """On every real perception run of sub-01: 1,200 training images once, 50 test images × 35."""
    root = Path(__file__).resolve().parents[2] / "resources" / "bids" / "god-fmri" / "sub-01"
    counts = {"Training": {}, "Test": {}}
    for path in sorted(root.glob("ses-perception*/func/*_events.tsv")):
        events = god_fmri.read_events(path)
        blocks = god_fmri.stimulus_blocks(events, path, set(events["stimulus_name"].dropna()))
        split = counts["Test" if "perceptionTest" in path.name else "Training"]
        for name in blocks["stimulus_name"]:
            split[name] = split.get(name, 0) + 1
    assert len(counts["Training"]) == 1200 and set(counts["Training"].values()) == {1}
    assert len(counts["Test"]) == 50 and set(counts["Test"].values()) == {35}


def test_block_samples_average_the_delayed_volumes():
    data = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    blocks = pd.DataFrame({"onset": [33.0], "duration": [9.0], "stimulus_name": ["x"]})
    # Volumes at 36, 39 and 42 s (indices 12, 13, 14) fall in [33 + 3, 42 + 3).
    assert block_samples(data, blocks, 3.0, 3.0, "run").tolist() == [[13.0, 13.0]]
    assert god_fmri.volumes_needed(blocks, 3.0, 3.0) == 15
    with pytest.raises(DataError, match="run: BOLD has 14 volumes"):
        block_samples(data[:14], blocks, 3.0, 3.0, "run")


def test_image_ids_match_the_events_stimulus_id():
    assert god_fmri.image_id("n02766534_15976") == 2766534015976
    assert god_fmri.image_id("n01443537_22563") == round(1443537.022563 * 1e6)
    with pytest.raises(ValueError, match="not an ImageNet image name"):
        god_fmri.image_id("cat.jpg")


def _rewrite(path, data=None, affine=None):
    image = nib.load(path)
    data = np.asanyarray(image.dataobj) if data is None else data
    new = nib.Nifti1Image(data, image.affine if affine is None else affine, image.header)
    nib.save(new, path)


def test_mask_with_another_affine_is_named(broken):
    mask = god_fmri.mask_path(broken / "bids", SUBJECT, "LH", "FFA")
    shifted = nib.load(mask).affine.copy()
    shifted[0, 3] += 3.0
    _rewrite(mask, affine=shifted)
    with pytest.raises(DataError, match="mask affine does not match the BOLD") as error:
        preprocess_subject(broken / "bids", broken / "stimuli", SUBJECT, ["VC"])
    assert str(error.value).startswith(str(mask))


def test_mask_with_another_shape_is_named(broken):
    mask = god_fmri.mask_path(broken / "bids", SUBJECT, "RH", "V2v")
    _rewrite(mask, data=np.ones((16, 16, 10), np.uint8))
    with pytest.raises(DataError, match=r"mask shape \(16, 16, 10\) does not match") as error:
        preprocess_subject(broken / "bids", broken / "stimuli", SUBJECT, ["V1"])
    assert str(error.value).startswith(str(mask))


def test_missing_mask_is_named(broken):
    mask = god_fmri.mask_path(broken / "bids", SUBJECT, "LH", "PPA")
    mask.unlink()
    with pytest.raises(DataError, match="ROI mask not found") as error:
        preprocess_subject(broken / "bids", broken / "stimuli", SUBJECT, ["VC"])
    assert str(mask) in str(error.value)


def test_an_empty_roi_names_the_mask_files_it_read(broken):
    """V1 is V1d and V1v in each hemisphere: the error names those four files (there is no
    sub-01_mask_LH_V1 file to name)."""
    for hemisphere in ("LH", "RH"):
        for part in ("V1d", "V1v"):
            mask = god_fmri.mask_path(broken / "bids", SUBJECT, hemisphere, part)
            _rewrite(mask, data=np.zeros(nib.load(mask).shape, np.uint8))
    with pytest.raises(DataError, match="ROI V1 has no voxels in its masks .*LH_V1d.*RH_V1v"):
        preprocess_subject(broken / "bids", broken / "stimuli", SUBJECT, ["V1"])


def test_a_run_label_that_is_no_number_is_named(broken):
    run = first_run(broken, "test")
    events = god_fmri.events_path(broken / "bids", SUBJECT, run.session, run.run)
    renamed = events.with_name(
        events.name.replace(f"_run-{events.name.split('_run-')[1].split('_')[0]}", "_run-1a")
    )
    events.rename(renamed)
    with pytest.raises(DataError, match="run label '1a' is not a number") as error:
        god_fmri.perception_runs(broken / "bids", SUBJECT)
    assert str(error.value).startswith(str(renamed))


def test_events_naming_a_missing_image_are_named(broken):
    run = first_run(broken, "test")
    events = god_fmri.events_path(broken / "bids", SUBJECT, run.session, run.run)
    table = pd.read_csv(events, sep="\t", dtype=str)
    table.loc[3, "stimulus_name"] = "n99999999_1"
    table.to_csv(events, sep="\t", index=False)
    with pytest.raises(DataError, match="no stimulus file.*n99999999_1") as error:
        preprocess_subject(broken / "bids", broken / "stimuli", SUBJECT, ["VC"])
    assert str(error.value).startswith(str(events))


def test_bold_with_too_few_volumes_is_named(broken):
    run = first_run(broken)
    bold = god_fmri.bold_path(broken / "bids", SUBJECT, run.session, run.run)
    _rewrite(bold, data=np.asanyarray(nib.load(bold).dataobj)[..., :120])
    with pytest.raises(DataError, match="BOLD has 120 volumes but its events need 177") as error:
        preprocess_subject(broken / "bids", broken / "stimuli", SUBJECT, ["VC"])
    assert str(error.value).startswith(str(bold))


def test_bold_with_nan_is_named(broken):
    run = first_run(broken)
    bold = god_fmri.bold_path(broken / "bids", SUBJECT, run.session, run.run)
    data = np.asanyarray(nib.load(bold).dataobj).copy()
    data[data > 0] = np.nan
    _rewrite(bold, data=data)
    with pytest.raises(DataError, match="NaN or infinite") as error:
        preprocess_subject(broken / "bids", broken / "stimuli", SUBJECT, ["VC"])
    assert str(error.value).startswith(str(bold))


def test_truncated_bold_download_is_named(broken):
    run = first_run(broken, "test")
    bold = god_fmri.bold_path(broken / "bids", SUBJECT, run.session, run.run)
    raw = gzip.decompress(bold.read_bytes())
    bold.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(DataError, match="cannot read NIfTI data|volumes") as error:
        preprocess_subject(broken / "bids", broken / "stimuli", SUBJECT, ["VC"])
    assert str(error.value).startswith(str(bold))


@pytest.mark.parametrize("kind", ["bold", "mask"])
def test_a_flipped_byte_in_a_gzipped_nifti_is_named_not_read(broken, kind):
    """A complete .nii.gz whose deflate stream still decodes: only gzip's CRC tells."""
    run = first_run(broken, "test")
    if kind == "bold":
        path = god_fmri.bold_path(broken / "bids", SUBJECT, run.session, run.run)
    else:
        path = god_fmri.mask_path(broken / "bids", SUBJECT, "LH", "V1d")
    raw = gzip.decompress(path.read_bytes())
    stored = bytearray(gzip.compress(raw, compresslevel=0))  # stored blocks: bytes as they are
    stored[len(stored) // 2] ^= 0x10  # a voxel's byte, as disk or transfer rot would flip it
    path.write_bytes(bytes(stored))
    nib.load(path).get_fdata()  # what nibabel alone does: reads it, one voxel wrong
    with pytest.raises(DataError, match="cannot read NIfTI data.*CRC") as error:
        preprocess_subject(broken / "bids", broken / "stimuli", SUBJECT, ["VC"])
    assert str(error.value).startswith(str(path))


def test_unknown_generator_needs_are_config_errors():
    check_generator({"kind": "autoencoder"})
    with pytest.raises(ConfigError, match="ic_gan generator code and a SwAV .*kind: autoencoder"):
        check_generator({"kind": "icgan"})
    with pytest.raises(ConfigError, match="must be one of"):
        check_generator({"kind": "vae"})


def test_images_are_centre_cropped_then_resized(tmp_path):
    from PIL import Image

    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 255  # the central square is white, the sides black
    Image.fromarray(wide).save(tmp_path / "wide.png")
    out = load_images([tmp_path / "wide.png"], 8)
    assert out.shape == (1, 8, 8, 3) and out.dtype == np.uint8
    assert out.min() > 250
