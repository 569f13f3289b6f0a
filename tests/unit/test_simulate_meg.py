import json

import mne
import numpy as np
import pandas as pd
import pytest
from mne_bids import BIDSPath, read_raw_bids

from brainlatent.datasets import stimuli, things_meg
from brainlatent.datasets.simulate_meg import (
    MEGSimulation,
    _run_duration,
    background_mixing,
    background_patterns,
    n_samples,
    pink_components,
    pink_noise,
    simulate_run,
    spatial_patterns,
    temporal_kernels,
)
from brainlatent.errors import ConfigError


def test_bids_layout_matches_things_meg(simulated, reference_bids):
    meg = simulated / "bids" / "sub-BIGMEG1" / "ses-01" / "meg"
    for run in ("01", "02"):
        base = things_meg.bids_basename("BIGMEG1", "01", run)
        for suffix in ("_meg.ds", "_meg.json", "_channels.tsv", "_coordsystem.json", "_events.tsv"):
            assert (meg / f"{base}{suffix}").exists()
        assert {p.suffix for p in (meg / f"{base}_meg.ds").iterdir()} == {".res4", ".meg4", ".hc"}
        real = pd.read_csv(
            reference_bids / "sub-BIGMEG1/ses-01/meg" / f"{base}_channels.tsv", sep="\t"
        )
        ours = pd.read_csv(meg / f"{base}_channels.tsv", sep="\t")
        assert ours["name"].tolist() == real["name"].tolist()
        assert (ours["sampling_frequency"] == 240).all()
    assert (simulated / "bids" / "task-main_events.json").exists()
    # The events are the real ones: same onsets, trial types and image numbers.
    real = things_meg.read_events(things_meg.events_path(reference_bids, "BIGMEG1", "01", "01"))
    ours = things_meg.read_events(things_meg.events_path(simulated / "bids", "BIGMEG1", "01", "01"))
    assert len(ours) == 60
    pd.testing.assert_frame_equal(
        ours[["onset", "trial_type", "value"]], real[["onset", "trial_type", "value"]].iloc[:60]
    )
    assert (ours["sample"] == np.round(ours["onset"] * 240)).all()
    sidecar = json.loads(
        (meg / f"{things_meg.bids_basename('BIGMEG1', '01', '01')}_meg.json").read_text()
    )
    assert sidecar["Manufacturer"] == "CTF" and sidecar["SamplingFrequency"] == 240


def test_recording_is_ctf_as_in_ds004212(simulated, reference_bids):
    path = BIDSPath(
        subject="BIGMEG1",
        session="01",
        task="main",
        run="01",
        datatype="meg",
        root=simulated / "bids",
    )
    (ds,) = [m.fpath for m in path.match() if m.extension == ".ds"]  # CTF, as ds004212
    raw = mne.io.read_raw(ds, verbose=False)
    assert raw.info["sfreq"] == 240
    meg = mne.pick_types(raw.info, meg=True, ref_meg=False)
    assert [raw.ch_names[i] for i in meg] == things_meg.sensor_names(reference_bids)
    assert len(raw.ch_names) == 310  # + reference magnetometers/gradiometers and misc
    with pytest.warns(RuntimeWarning, match="OTHER"):  # why preprocessing bypasses it
        read_raw_bids(path, verbose=False)
    data = raw.get_data(picks=meg)
    assert np.isfinite(data).all() and 1e-15 < data.std() < 1e-11  # tesla, fT range


def test_ground_truth_is_saved(simulated):
    truth = simulated / "truth"
    latents = pd.read_parquet(truth / "latents.parquet")
    stimuli_index = pd.read_csv(simulated / "stimuli" / "stimuli.tsv", sep="\t")
    assert set(latents["image"]) == set(stimuli_index["image"])
    model = np.load(truth / "forward_model.npz")
    assert model["patterns_BIGMEG1"].shape == (len(stimuli.LATENT_NAMES) + 1, 272)
    assert json.loads((truth / "simulation.json").read_text())["snr"] == 0.5


def test_image_responses_start_at_50_ms_and_peak_between_100_and_250_ms():
    columns = ["z_hue_0", "z_orientation_sin", "z_spatial_frequency", "z_shape_0", "z_size"]
    kernels = temporal_kernels(1000.0, columns)
    peaks = kernels[1:].argmax(axis=1) / 1000.0
    assert ((peaks >= 0.1) & (peaks <= 0.25)).all()
    assert peaks[0] < peaks[-1]  # low-level features before shape and size
    assert not kernels[:, :50].any() and (kernels[:, 51] != 0).all()  # the visual latency


def test_pink_noise_has_a_one_over_f_spectrum():
    noise = pink_noise(4, 2**14, np.random.default_rng(0))
    power, freqs = mne.time_frequency.psd_array_welch(noise, 1.0, n_fft=1024, verbose=False)
    keep = (freqs > 0.01) & (freqs < 0.4)
    slope = np.polyfit(np.log(freqs[keep]), np.log(power[:, keep].mean(axis=0)), 1)[0]
    assert -1.3 < slope < -0.7


def test_pink_components_have_unit_variance_and_a_one_over_f_spectrum():
    noise = pink_components(64, 2**14, np.random.default_rng(0))
    assert noise.dtype == np.float32
    assert np.mean(noise.astype(float) ** 2) == pytest.approx(1.0, abs=0.03)
    power, freqs = mne.time_frequency.psd_array_welch(
        noise.astype(float), 1.0, n_fft=1024, verbose=False
    )
    keep = (freqs > 0.01) & (freqs < 0.4)
    slope = np.polyfit(np.log(freqs[keep]), np.log(power[:, keep].mean(axis=0)), 1)[0]
    assert -1.3 < slope < -0.7


def sensor_layout(reference):
    return things_meg.sensor_positions(things_meg.sensor_names(reference))


def spatial_rank(patterns: np.ndarray, share: float = 0.99) -> int:
    """Components of the patterns' sensor covariance holding ``share`` of its variance."""
    variances = np.linalg.eigvalsh(patterns.T @ patterns)[::-1]
    return int(np.searchsorted(np.cumsum(variances) / variances.sum(), share)) + 1


def test_background_spans_the_helmet_not_a_few_dimensions(reference_bids):
    """Brain noise comes from the whole cortex: the default background is of high spatial
    rank, where the former one (20 posterior sources, broad fields) spanned ~17 dimensions,
    which a decoder projects out and real MEG does not allow (Hebart et al. 2023)."""
    positions = sensor_layout(reference_bids)
    default = MEGSimulation()
    patterns = background_patterns(
        positions, default.n_noise_sources, default.noise_width, default.seed, "BIGMEG1"
    )
    former = spatial_patterns(positions, 20, 0, "noise-BIGMEG1")
    assert spatial_rank(patterns) > 90
    assert spatial_rank(former) < 20


def test_background_mixing_is_the_sources_covariance_with_fewer_draws(reference_bids):
    positions = sensor_layout(reference_bids)
    patterns = background_patterns(positions, 500, 0.06, 0, "S")
    mixing = background_mixing(positions, 500, 0.06, 0, "S")
    assert mixing.shape == (len(positions), len(positions))  # 500 sources, 272 draws
    covariance = patterns.T @ patterns
    assert np.allclose(mixing @ mixing.T, covariance, atol=1e-10 * np.abs(covariance).max())
    few = background_mixing(positions, 30, 0.06, 0, "S")
    assert few.shape == (len(positions), 30)  # never more draws than sources


def _four_images(n_trials: int):
    """Events of four images in turn every 1.5 s (0.5 s on screen), their latents, sensors."""
    events = pd.DataFrame(
        {
            "onset": np.arange(1, n_trials + 1) * 1.5,
            "duration": 0.5,
            "trial_type": "exp",
            "value": np.arange(n_trials) % 4,
        }
    )
    latents = pd.DataFrame({"image": range(4), "z_hue_cos": [1.0, -1.0, 0.5, -0.5]})
    return events, latents, np.random.default_rng(0).uniform(size=(30, 2))


def _image_specific_sd(data, events, start: int, stop: int) -> float:
    """SD over images of the mean response, samples ``start:stop`` after each onset (100 Hz)."""
    epochs = np.stack(
        [data[:, int(o * 100) + start : int(o * 100) + stop] for o in events["onset"]]
    )
    means = np.stack([epochs[events["value"] == v].mean(0) for v in range(4)])
    return (means - means.mean(0)).std()


def test_snr_scales_the_image_specific_signal():
    events, latents, positions = _four_images(20)

    def specific_power(snr):
        params = MEGSimulation(sfreq=100.0, snr=snr, amplitude=1.0, trial_gain_sd=0.0)
        data = simulate_run(events, latents, positions, 33.0, params, "S", "r")
        return _image_specific_sd(data, events, 0, 50)

    assert specific_power(2.0) > 3 * specific_power(0.2)


def test_the_image_is_decodable_again_after_it_goes_off():
    """OFF response: the onset's image-specific response again after offset, scaled."""
    events, latents, positions = _four_images(40)

    def specific(offset_response, start, stop):
        params = MEGSimulation(
            sfreq=100.0, snr=5.0, amplitude=1.0, trial_gain_sd=0.0, sensor_noise=0.0,
            offset_response=offset_response,
        )  # fmt: skip
        data = simulate_run(events, latents, positions, 63.0, params, "S", "r")
        return _image_specific_sd(data, events, start, stop)

    onset = specific(0.5, 5, 35)  # 50-350 ms after onset
    assert specific(0.5, 55, 85) == pytest.approx(0.5 * onset, rel=0.15)  # 50-350 ms after off
    assert specific(0.0, 55, 85) < 0.1 * onset  # without it, nothing but the onset's tail
    assert specific(0.0, 5, 35) == pytest.approx(onset, rel=0.1)  # snr: the onset response
    with pytest.raises(ValueError, match="duration"):
        simulate_run(events.drop(columns="duration"), latents, positions, 63.0,
                     MEGSimulation(sfreq=100.0), "S", "r")  # fmt: skip
    simulate_run(events.drop(columns="duration"), latents, positions, 63.0,
                 MEGSimulation(sfreq=100.0, offset_response=0.0), "S", "r")  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        {"snr": 0.0},
        {"n_noise_sources": 0},
        {"noise_width": 0.0},
        {"sensor_noise": -1.0},
        {"offset_response": -0.5},
    ],
)
def test_out_of_range_parameters_are_refused_by_name(bad):
    """The schema refuses them in a config; the benchmark CLI and the API reach the class."""
    name = next(iter(bad))
    with pytest.raises(ConfigError, match=rf"things_meg.simulate: {name}="):
        MEGSimulation(**bad)
    MEGSimulation(noise_width=None)  # the former background stays allowed


def test_a_whole_run_is_as_long_as_the_real_one(reference_bids):
    """Every ds004212 run lasts 348 s, 6-10 s after its last event (so the 0.1 Hz high-pass
    has that tail on the real files); a run cut to its first events stops 2 s after them."""
    events = things_meg.read_events(things_meg.events_path(reference_bids, "BIGMEG1", "01", "01"))
    last = float(events["onset"].max())
    whole = _run_duration(reference_bids, "BIGMEG1", "01", "01", events, cut=False)
    assert whole == 348.0 and whole - last > 6
    # the real .meg4's 417,600 samples at 1,200 Hz ((517,824,008 - 8) bytes / 310 channels / 4),
    # and the default config's 83,520 at 240 Hz
    assert n_samples(whole, 1200) == 417_600 and n_samples(whole, 240) == 83_520
    cut = events.iloc[:120]
    assert (
        _run_duration(reference_bids, "BIGMEG1", "01", "01", cut, cut=True) == cut.onset.max() + 2
    )
    # BIGMEG4's second session has no meg.json in ds004212
    events = things_meg.read_events(things_meg.events_path(reference_bids, "BIGMEG4", "02", "01"))
    last = float(events["onset"].max())
    assert _run_duration(reference_bids, "BIGMEG4", "02", "01", events, cut=False) == last + 2.0
