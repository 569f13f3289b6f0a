import json
import shutil

import mne
import numpy as np
import pandas as pd
import pytest
from mne_bids import BIDSPath

from brainlatent.datasets import things_meg
from brainlatent.errors import ConfigError, DataError
from brainlatent.evaluation import EXCLUDED
from brainlatent.preprocessing import meg, multirate
from brainlatent.preprocessing.meg import (
    Preprocessing,
    Recording,
    epoch_recording,
    epoch_run,
    preprocess_subject,
    robust_scale,
)

RUNS = [("01", "01"), ("01", "02")]


def run_preprocess(root, out, sfreq=240.0, params=None):
    outputs = {name: out / f"{name}" for name in ("epochs.npy", "trials.parquet", "epochs.json")}
    preprocess_subject(
        root / "bids",
        root / "stimuli",
        "BIGMEG1",
        RUNS,
        sfreq,
        params or Preprocessing(),
        *outputs.values(),
    )
    return outputs


@pytest.fixture()
def editable(simulated, tmp_path):
    """A private copy of the simulated dataset that a test may damage."""
    root = tmp_path / "data"
    shutil.copytree(simulated / "bids", root / "bids")
    shutil.copytree(simulated / "stimuli", root / "stimuli")
    return root


def recording(root, run="01", extension=".ds"):
    return BIDSPath(
        subject="BIGMEG1",
        session="01",
        task="main",
        run=run,
        datatype="meg",
        suffix="meg",
        extension=extension,
        root=root / "bids",
    ).fpath


def as_fif(root, run="01"):
    """Replace a run's CTF folder by a FIF file of the same data; return the raw."""
    raw = mne.io.read_raw_ctf(recording(root, run), preload=True, verbose=False)
    raw.save(recording(root, run, ".fif"), verbose=False)
    shutil.rmtree(recording(root, run))
    return raw


def test_outputs_have_the_documented_shapes(simulated, tmp_path):
    out = run_preprocess(simulated, tmp_path)
    epochs = np.load(out["epochs.npy"], mmap_mode="r")
    trials = pd.read_parquet(out["trials.parquet"])
    info = json.loads(out["epochs.json"].read_text())
    n_image_trials = 2 * 60 - 2 * 6  # catch trials in the first 60 events of runs 1 and 2
    assert epochs.dtype == np.float32
    assert epochs.shape == (len(trials), 271, 181)  # the known broken MRO11 dropped
    assert "MRO11-1609" not in info["channels"] and len(info["channels"]) == 271
    assert len(trials) == pytest.approx(n_image_trials, abs=6)
    assert list(trials.columns) == list(things_meg.TRIAL_COLUMNS)
    assert set(trials["split"]) == {"train", "test"}
    assert np.abs(epochs).max() <= 20.0
    assert info["times"][0] == -0.5 and info["times"][-1] == 1.0 and info["sfreq"] == 120.0
    # Robust-scaled per channel: median 0 and interquartile range 1 (runs scaled separately).
    first_run = np.asarray(epochs[: (trials["run"] == "01").sum()]).transpose(1, 0, 2)
    q25, median, q75 = np.percentile(first_run.reshape(271, -1), [25, 50, 75], axis=1)
    np.testing.assert_allclose(median, 0, atol=1e-4)
    np.testing.assert_allclose(q75 - q25, 1, rtol=1e-3)
    # The evoked response sits after onset: more variance across trials 100–300 ms than before.
    evoked = np.asarray(epochs).mean(axis=0)
    assert evoked[:, 72:97].std() > 3 * evoked[:, 20:55].std()


def test_robust_scale_is_per_channel():
    data = np.random.default_rng(0).normal(size=(50, 3, 20)) * np.array([1, 10, 100])[None, :, None]
    scaled = robust_scale(data, clip=None)
    iqr = np.subtract(*np.percentile(scaled.transpose(1, 0, 2).reshape(3, -1), [75, 25], axis=1))
    np.testing.assert_allclose(iqr, 1.0, rtol=1e-5)
    assert np.abs(robust_scale(data * 1e3, clip=2.0)).max() <= 2.0


def assert_fails_cleanly(root, tmp_path, match, file):
    """Preprocessing stops with a DataError naming ``file`` and writes nothing."""
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DataError, match=match) as error:
        run_preprocess(root, out)
    assert file in str(error.value)
    assert not list(out.iterdir())


def test_event_without_stimulus_file(editable, tmp_path):
    (editable / "stimuli" / f"{_first_image(editable)}.png").unlink()
    assert_fails_cleanly(editable, tmp_path, "has no stimulus file", "run-01_events.tsv")


def test_a_run_without_image_trials(editable, tmp_path):
    path = things_meg.events_path(editable / "bids", "BIGMEG1", "01", "02")
    events = pd.read_csv(path, sep="\t")
    events = events[~events["trial_type"].isin(["exp", "test"])]
    events.to_csv(path, sep="\t", index=False)
    assert_fails_cleanly(editable, tmp_path, "no image trials", "run-02_events.tsv")


def test_a_channel_bad_in_one_run_only_is_named(editable, tmp_path):
    tsv = recording(editable, "02").parent / "sub-BIGMEG1_ses-01_task-main_run-02_channels.tsv"
    channels = pd.read_csv(tsv, sep="\t")
    channels.loc[channels["name"] == "MLC11-1609", "status"] = "bad"
    channels.to_csv(tsv, sep="\t", index=False)
    assert_fails_cleanly(
        editable, tmp_path, r"run 02's MEG channels .* missing \['MLC11-1609'\]", "run-02"
    )


def test_the_recordings_own_bad_channels_are_kept(editable, tmp_path):
    """A CTF BadChannels file marks a sensor bad as channels.tsv would (every run here)."""
    for run in ("01", "02"):
        (recording(editable, run) / "BadChannels").write_text("MLC11\n")  # CTF's short names
    out = run_preprocess(editable, tmp_path)
    channels = json.loads(out["epochs.json"].read_text())["channels"]
    assert len(channels) == 270 and "MLC11-1609" not in channels


def test_every_sensor_bad(editable, tmp_path):
    tsv = recording(editable, "01").parent / "sub-BIGMEG1_ses-01_task-main_run-01_channels.tsv"
    channels = pd.read_csv(tsv, sep="\t")
    channels["status"] = "bad"
    channels.to_csv(tsv, sep="\t", index=False)
    assert_fails_cleanly(editable, tmp_path, "no MEG sensor left", "run-01_meg.ds")


def test_nans_in_raw_data(editable, tmp_path):
    raw = as_fif(editable, "02")  # CTF stores integers: NaNs come with other formats
    raw._data[raw.ch_names.index("MLC11-1609"), 1000:1010] = np.nan
    raw.save(recording(editable, "02", ".fif"), overwrite=True, verbose=False)
    assert_fails_cleanly(editable, tmp_path, "NaN", "run-02_meg.fif")


def test_truncated_ctf(editable, tmp_path):
    (meg4,) = recording(editable, "02").glob("*.meg4")
    data = meg4.read_bytes()
    meg4.write_bytes(data[: len(data) // 2])
    assert_fails_cleanly(editable, tmp_path, "cannot read MEG recording", "run-02_meg.ds")


def test_truncated_fif(editable, tmp_path):
    as_fif(editable, "02")
    path = recording(editable, "02", ".fif")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_fails_cleanly(editable, tmp_path, "cannot read MEG recording", "run-02_meg.fif")


def test_sampling_rate_differs_from_config(simulated, tmp_path):
    with pytest.raises(
        DataError, match="sampling rate is 240 Hz.*things_meg.sfreq = 1200"
    ) as error:
        run_preprocess(simulated, tmp_path, sfreq=1200.0)
    assert "run-01_meg.ds" in str(error.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"h_freq": 70.0}, "only stops at 87.5 Hz"),
        ({"h_freq": 55.0}, r"stops at 68.75 Hz .* take h_freq <= 48 Hz"),
        ({"tmin": 1.0, "tmax": 0.5}, "must exceed tmin"),
        ({"baseline": (-1.0, 0.0)}, "within tmin..tmax"),
        ({"l_freq": 40.0, "h_freq": 30.0}, r"l_freq \(40.0 Hz\) must be below h_freq"),
    ],
)
def test_inconsistent_recipe(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Preprocessing(**kwargs)


def test_the_low_pass_stops_below_the_new_nyquist_and_is_required_to_downsample():
    """MNE's 40 Hz low-pass stops at 50 Hz, under 120 Hz's Nyquist; 48 Hz just fits (60).
    Without a low-pass a 110 Hz line in 1,200 Hz data would come out at 10 Hz."""
    assert Preprocessing().low_pass_stop() == 50.0
    assert Preprocessing(h_freq=48.0).low_pass_stop() == 60.0
    assert Preprocessing(h_freq=4.0, l_freq=None).low_pass_stop() == 6.0  # the 2 Hz floor
    unfiltered = Preprocessing(h_freq=None)
    unfiltered.check_rate(120.0, "run.ds")  # nothing to downsample: nothing aliases
    with pytest.raises(ConfigError, match=r"run\.ds: preprocess\.h_freq is null.*1200 Hz"):
        unfiltered.check_rate(1200.0, "run.ds")


def test_no_low_pass_stops_the_preprocessing_with_the_recording_named(simulated, tmp_path):
    with pytest.raises(ConfigError, match=r"run-01_meg\.ds: preprocess\.h_freq is null"):
        run_preprocess(simulated, tmp_path, params=Preprocessing(h_freq=None))
    assert not list(tmp_path.iterdir())


def _first_image(root):
    events = things_meg.read_events(things_meg.events_path(root / "bids", "BIGMEG1", "01", "01"))
    return int(events.loc[events["trial_type"] == "exp", "value"].iloc[0])


def test_fif_and_ctf_give_the_same_epochs(simulated, editable, tmp_path):
    """The simulated runs are CTF as in ds004212 (reference and misc channels, the real
    channels.tsv typing the gradiometers OTHER); the same data as FIF read the same."""
    for _, run in RUNS:
        as_fif(editable, run)
    from_ctf = run_preprocess(simulated, tmp_path / "ctf")
    from_fif = run_preprocess(editable, tmp_path / "fif")
    info = json.loads(from_ctf["epochs.json"].read_text())
    assert len(info["channels"]) == 271 and "BG1-1609" not in info["channels"]
    assert info == json.loads(from_fif["epochs.json"].read_text())
    # FIF stores float32: the same epochs up to single precision.
    np.testing.assert_allclose(
        np.load(from_ctf["epochs.npy"]), np.load(from_fif["epochs.npy"]), atol=1e-5
    )


# The workflow's preprocessing (epoch_recording: MNE's band-pass evaluated through a
# multirate chain at the kept samples only) against the reference (epoch_run: MNE's
# raw.filter, then mne.Epochs with decim), on simulated raw data with what real MEG
# has: offsets, slow drifts, 1/f noise, line noise and its harmonics, sensor noise and
# evoked responses. The tolerance, in the robust-scaled units of epochs.npy (IQR = 1):
# |fast - reference| <= TOLERANCE * (1 + |reference|). Measured: 3.3e-4 at 1200 Hz and 2.3e-4
# at 240 Hz here (evoked correlation > 0.99999997), 7.8e-4 on a
# full-size simulated CTF run (1200 Hz, 271 sensors, 206 trials; make bench).
TOLERANCE = 1e-3


def simulated_raw(sfreq, seconds=80.0, n_channels=12, seed=0):
    """An in-memory raw (FIF-like, float64) and its image onsets (s)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sfreq)
    t = np.arange(n) / sfreq
    spectrum = np.fft.rfft(rng.normal(size=(n_channels, n)), axis=1)
    freqs = np.fft.rfftfreq(n, 1 / sfreq)
    pink = np.fft.irfft(spectrum / np.maximum(freqs, 0.05) ** 0.5, n, axis=1)
    data = pink / pink.std() + 0.3 * rng.normal(size=(n_channels, n))
    data += 5 * np.sin(2 * np.pi * 0.03 * t + rng.uniform(0, 6, (n_channels, 1)))  # drift
    for harmonic in (60, 120, 180):
        if harmonic < sfreq / 2:
            data += np.sin(2 * np.pi * harmonic * t + rng.uniform(0, 6, (n_channels, 1)))
    onsets = np.arange(3.0, seconds - 3.5, 1.3)
    onsets = onsets + rng.uniform(0, 0.2, len(onsets))
    mixing = rng.normal(size=n_channels)
    for onset in onsets:  # a 10 Hz burst 100-300 ms after onset
        s = np.arange(int((onset + 0.1) * sfreq), int((onset + 0.3) * sfreq))
        data[:, s] += 2 * mixing[:, None] * np.sin(2 * np.pi * 10 * (s / sfreq - onset))
    data = 1e-12 * (data + rng.uniform(-1e4, 1e4, (n_channels, 1)))  # tesla, DC offsets
    info = mne.create_info([f"MEG{i:03d}" for i in range(n_channels)], sfreq, "mag")
    return mne.io.RawArray(data, info, verbose=False), onsets


@pytest.mark.parametrize("sfreq", [1200.0, 240.0])
def test_fast_epochs_match_the_mne_reference(sfreq, tmp_path):
    raw, onsets = simulated_raw(sfreq)
    params = Preprocessing()
    recording = Recording(raw, np.arange(len(raw.ch_names)), tmp_path / "run.fif")
    fast = epoch_recording(recording, onsets, params, tmp_path).astype(float)
    reference = epoch_run(raw.copy().load_data(), onsets, params, tmp_path).astype(float)
    assert fast.shape == reference.shape == (len(onsets), len(raw.ch_names), 181)
    assert (np.abs(fast - reference) <= TOLERANCE * (1 + np.abs(reference))).all()
    evoked_fast, evoked_reference = fast.mean(axis=0), reference.mean(axis=0)
    assert np.corrcoef(evoked_fast.ravel(), evoked_reference.ravel())[0, 1] > 0.99999


def test_without_a_chain_the_reference_runs(tmp_path):
    """A rate that is no whole multiple of the epochs' rate goes through MNE whole."""
    raw, onsets = simulated_raw(1000.0, seconds=40.0, n_channels=4)
    params = Preprocessing()
    assert multirate.filter_chain(1000.0, params) is None
    recording = Recording(raw, np.arange(4), tmp_path / "run.fif")
    fast = epoch_recording(recording, onsets, params, tmp_path)
    np.testing.assert_array_equal(fast, epoch_run(raw.copy().load_data(), onsets, params, tmp_path))
    # the time axis written beside them has their length (180 at 1,000 -> 120 Hz, not 181)
    assert fast.shape[2] == len(meg.epoch_times(1000.0, params)) == 180


def test_fast_epochs_clip_an_artefact_as_the_reference_does(tmp_path):
    """The workflow's path (epoch_recording) clips to ``clip`` after robust scaling, as
    epoch_run does: a sensor jump (a SQUID reset) in one epoch ends at exactly +-clip,
    not at hundreds of IQRs that would dominate the decoder's loss."""
    raw, onsets = simulated_raw(240.0, seconds=40.0, n_channels=3)
    data = raw.get_data()
    s = int((onsets[5] + 0.2) * 240.0)
    data[1, s : s + 24] += 1e3 * data[1].std()  # 100 ms, a thousand times the channel's SD
    raw = mne.io.RawArray(data, raw.info, verbose=False)
    params = Preprocessing()
    recording = Recording(raw, np.arange(3), tmp_path / "run.fif")
    fast = epoch_recording(recording, onsets, params, tmp_path)
    reference = epoch_run(raw.copy(), onsets, params, tmp_path)
    assert np.abs(reference).max() == params.clip  # the artefact is clipped in the reference
    assert np.abs(fast).max() == params.clip
    assert np.abs(fast[5, 1]).max() == params.clip  # in the epoch with the jump


def test_reference_epochs_count_onsets_from_the_first_sample(tmp_path):
    """Events' onsets are seconds from the start of the recording; a FIF whose first
    sample is not 0 (Neuromag files start mid-acquisition) gives the same epochs."""
    raw, onsets = simulated_raw(1000.0, seconds=40.0, n_channels=2)
    shifted = mne.io.RawArray(raw.get_data(), raw.info, first_samp=54321, verbose=False)
    params = Preprocessing()
    np.testing.assert_array_equal(
        epoch_run(shifted, onsets, params, tmp_path), epoch_run(raw, onsets, params, tmp_path)
    )


def test_fast_epochs_keep_mnes_samples_when_tmin_is_off_the_grid(tmp_path):
    """mne.Epochs(decim=...) keeps the samples a whole number of decimation steps from
    onset (time 0 is kept); with tmin = -51 / 240 s, not on that grid, the fast path
    must keep the same samples, -50 / 240 s first, not start at tmin."""
    raw, onsets = simulated_raw(240.0, seconds=40.0, n_channels=2)
    params = Preprocessing(tmin=-51 / 240, baseline=None)
    offsets = meg.epoch_offsets(240.0, params)
    assert offsets[0] == -50 and (offsets % 2 == 0).all() and 0 in offsets
    recording = Recording(raw, np.arange(2), tmp_path / "run.fif")
    fast = epoch_recording(recording, onsets, params, tmp_path).astype(float)
    reference = epoch_run(raw.copy(), onsets, params, tmp_path).astype(float)
    assert fast.shape == reference.shape == (len(onsets), 2, len(offsets))
    assert (np.abs(fast - reference) <= TOLERANCE * (1 + np.abs(reference))).all()


def test_epochs_json_states_the_times_of_the_samples_kept(simulated, tmp_path):
    """With tmin off the decimation grid the first kept sample is one raw sample later than
    tmin (MNE keeps time 0); epochs.json says so, as mne.Epochs' own times do, and its
    length is the epochs'. On the grid (the default) the times are tmin + k / sfreq."""
    params = Preprocessing(tmin=-51 / 240, tmax=0.5, baseline=None)
    out = run_preprocess(simulated, tmp_path, params=params)
    info = json.loads(out["epochs.json"].read_text())
    raw = mne.io.read_raw_ctf(recording(simulated), verbose=False)
    events = np.array([[raw.first_samp + 1000, 0, 1]])
    reference = mne.Epochs(
        raw, events, tmin=params.tmin, tmax=params.tmax, baseline=None, decim=2, verbose=False
    ).times
    np.testing.assert_allclose(info["times"], reference, atol=1e-6)
    assert info["times"][0] == pytest.approx(-50 / 240, abs=1e-6) == info["tmin"]
    assert np.load(out["epochs.npy"], mmap_mode="r").shape[2] == len(info["times"])
    on_grid = meg.epoch_times(240.0, Preprocessing())
    np.testing.assert_allclose(on_grid, -0.5 + np.arange(181) / 120, atol=1e-12)
    resampled = meg.epoch_times(250.0, Preprocessing())  # not a whole factor: resampled
    np.testing.assert_allclose(resampled, -0.5 + np.arange(180) / 120, atol=1e-12)


def test_decimate_and_sample_are_the_convolutions(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 1000)).astype(np.float32)
    aa = rng.normal(size=31)
    padded = multirate.Padded(3, 1000, 0, 4, aa)
    padded.middle(3)[:] = x
    z = multirate.decimate(padded.padded(3), padded.block, 1000, aa, 4)
    full = np.array([np.convolve(row, aa[::-1]) for row in x])  # full[i + 15] = z[i/4]
    np.testing.assert_allclose(z, full[:, 15 : 15 + 1000 : 4], atol=1e-4)
    kernel = rng.normal(size=41)
    positions, offsets = np.array([30, 101, 455]), np.arange(-20, 200, 10)
    sampler = multirate.Sampler(4, kernel, positions, offsets)
    y = sampler(z)
    up = np.zeros((3, 4 * z.shape[1]))
    up[:, ::4] = z
    upfull = np.array([np.convolve(row, kernel) for row in up])  # centred at + 20
    expected = upfull[:, positions[:, None] + offsets[None, :] + 20].transpose(1, 0, 2)
    np.testing.assert_allclose(y, expected, atol=1e-4)
    # rows are independent: epoch_recording applies one sampler to each block of channels
    # (to float32 rounding: BLAS may pick another kernel for another number of rows)
    blocks = np.concatenate([sampler(z[:1]), sampler(z[1:])], axis=1)
    np.testing.assert_allclose(blocks, y, rtol=1e-5, atol=1e-5)


def test_ctf_reader_is_mne_to_the_bit(simulated):
    recording = meg.open_run(simulated / "bids", "BIGMEG1", "01", "01", 240.0)
    raw = mne.io.read_raw(recording.path, verbose=False)
    n = 0
    for rows, data in recording.blocks():
        np.testing.assert_array_equal(data, raw.get_data(picks=recording.picks[rows]))
        n += len(rows)
    assert n == len(recording.picks) == 271


def test_zero_shot_marks_the_split_before_the_trials_are_written(simulated, tmp_path, monkeypatch):
    """--zero-shot reaches the trials table (the rule itself: test_things_meg's real events)."""
    calls = []

    def mark_all(trials):
        calls.append(len(trials))
        out = trials.copy()
        out.loc[out["split"] == "train", "split"] = EXCLUDED
        return out

    monkeypatch.setattr(things_meg, "exclude_test_concepts", mark_all)
    out = tmp_path / "zero"
    out.mkdir()
    outputs = {n: out / n for n in ("epochs.npy", "trials.parquet", "epochs.json")}
    preprocess_subject(
        simulated / "bids", simulated / "stimuli", "BIGMEG1", RUNS, 240.0, Preprocessing(),
        *outputs.values(), zero_shot=True,
    )  # fmt: skip
    trials = pd.read_parquet(outputs["trials.parquet"])
    assert calls == [len(trials)] and set(trials["split"]) == {"excluded", "test"}
    assert len(np.load(outputs["epochs.npy"], mmap_mode="r")) == len(trials)  # still epoched


def test_robust_scale_leaves_a_flat_channel_at_zero():
    """A dead sensor (interquartile range 0) scales to zeros, not NaN that clipping keeps."""
    data = np.random.default_rng(0).normal(size=(4, 2, 5))
    data[:, 1] = 5.0
    scaled = robust_scale(data, clip=20.0)
    assert np.isfinite(scaled).all()
    np.testing.assert_array_equal(scaled[:, 1], 0.0)


def test_events_off_the_recording_or_on_one_sample_name_the_file(tmp_path):
    """An epoch that would run past the recording's end, and two onsets on one sample (MNE
    would merge them into one epoch, one row fewer than the trials table), each stop with
    its own reason and the events file named, on the fast path (240 Hz) and on MNE's (a
    rate with no filter chain, 1,000 Hz)."""
    for sfreq in (240.0, 1000.0):
        raw, onsets = simulated_raw(sfreq, seconds=40.0, n_channels=3)
        recording = Recording(raw, np.arange(3), tmp_path / "run.fif")
        source = tmp_path / "events.tsv"
        late = np.append(onsets, 39.8)
        with pytest.raises(DataError, match=r"events\.tsv: 1 events lie too close to the rec"):
            epoch_recording(recording, late, Preprocessing(), source)
        twice = np.sort(np.append(onsets, onsets[3]))
        with pytest.raises(DataError, match=r"events\.tsv: 1 events fall on the sample of an"):
            epoch_recording(recording, twice, Preprocessing(), source)
