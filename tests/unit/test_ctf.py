import datetime as dt
import json
import warnings

import mne
import numpy as np
import pytest
from mne_bids import BIDSPath, read_raw_bids

from brainlatent.datasets import ctf

SFREQ = 1200.0
TIMES = np.arange(int(2 * SFREQ)) / SFREQ
MEG = ["MLC11-1609", "MLF21-1609", "MRO11-1609", "MRT31-1609", "MZC01-1609", "MZO02-1609"]
NAMES = [*MEG, "BG1-1609", "UPPT001"]
TYPES = ["meg"] * 6 + ["ref_meg", "misc"]
BASENAME = "sub-BIGMEG1_ses-01_task-main_run-01_meg"


def _signals(n: int, scale: float = 1e-12) -> np.ndarray:
    """Sines of different frequencies and amplitudes, one per channel."""
    return np.array(
        [scale * (1 + i / 10) * np.sin(2 * np.pi * (3 + 4 * i) * TIMES) for i in range(n)]
    )


def _read(path) -> mne.io.BaseRaw:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reader has nothing to complain about
        return mne.io.read_raw_ctf(path, preload=True, verbose=False)


def test_round_trip_through_mne(tmp_path):
    data = _signals(len(NAMES))
    data[-1] *= 1e12  # the misc channel is in volts
    path = ctf.write_ctf_ds(tmp_path / f"{BASENAME}.ds", data, NAMES, SFREQ, ch_types=TYPES)
    assert sorted(p.name for p in path.iterdir()) == [
        f"{BASENAME}.{ext}" for ext in ("hc", "meg4", "res4")
    ]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind

    raw = _read(path)
    assert raw.ch_names == NAMES
    assert raw.get_channel_types() == ["mag"] * 6 + ["ref_meg", "misc"]  # CTF axial gradiometers
    assert raw.info["sfreq"] == SFREQ and raw.n_times == len(TIMES)
    assert raw.compensation_grade == 0
    error = np.abs(raw.get_data() - data).max(axis=1) / np.abs(data).max(axis=1)
    assert error.max() < 1e-6


def test_sensor_geometry_is_consistent(tmp_path):
    data = _signals(len(NAMES))
    path = ctf.write_ctf_ds(tmp_path / "x.ds", data, NAMES, SFREQ, ch_types=TYPES)
    raw = _read(path)
    # In head coordinates the helmet is centred 4 cm above the midpoint of the ears.
    centre = np.array([0.0, 0.0, 0.04])
    dev_head = raw.info["dev_head_t"]["trans"]
    for ch in raw.info["chs"][:6]:
        pos = dev_head[:3, :3] @ ch["loc"][:3] + dev_head[:3, 3]
        normal = dev_head[:3, :3] @ ch["loc"][9:12]
        assert np.linalg.norm(pos - centre) == pytest.approx(ctf.HELMET_RADIUS, abs=1e-6)
        assert normal @ (pos - centre) / ctf.HELMET_RADIUS == pytest.approx(1.0)  # outwards
    fiducials = {d["ident"]: d["r"] for d in raw.info["dig"]}
    assert np.allclose(fiducials[mne.io.constants.FIFF.FIFFV_POINT_NASION], [0, 0.09, 0])


def test_given_sensor_directions(tmp_path):
    directions = np.zeros((len(NAMES), 3))
    directions[:7] = np.eye(3)[[2, 0, 1, 0, 1, 2, 2]] * 5  # any length: normalised
    directions[:7, 2] += 0.1
    path = ctf.write_ctf_ds(
        tmp_path / "x.ds",
        _signals(len(NAMES)),
        NAMES,
        SFREQ,
        ch_types=TYPES,
        sensor_positions=directions,
    )
    raw = _read(path)
    # MNE's device frame is the CTF dewar frame turned by 45 degrees about z.
    c = s = np.sqrt(0.5)
    dewar_to_device = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    for ch, direction in zip(raw.info["chs"][:7], directions[:7], strict=True):
        expected = dewar_to_device @ direction / np.linalg.norm(direction)
        assert np.allclose(ch["loc"][9:12], expected)


def test_default_types_stim_codes_and_date(tmp_path):
    names = ["MLC11-1609", "UADC001-2104", "UPPT001"]
    codes = np.zeros(len(TIMES))
    codes[100:110] = 64
    data = np.vstack([_signals(2), codes])
    date = dt.datetime(2019, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    path = ctf.write_ctf_ds(
        tmp_path / "x.ds",
        data,
        names,
        SFREQ,
        ch_types=["meg", "misc", "stim"],
        meas_date=date,
    )
    raw = _read(path)
    assert raw.get_channel_types() == ["mag", "misc", "stim"]
    assert np.array_equal(raw.get_data(picks="stim")[0], codes)
    assert raw.info["meas_date"] == date

    path = ctf.write_ctf_ds(tmp_path / "y.ds", data, names, SFREQ)
    assert _read(path).get_channel_types() == ["mag", "misc", "misc"]


def test_read_raw_bids_opens_the_recording(tmp_path):
    root = tmp_path / "bids"
    meg = root / "sub-01" / "ses-01" / "meg"
    meg.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "ctf writer test", "BIDSVersion": "1.8.0"})
    )
    data = _signals(len(NAMES))
    ctf.write_ctf_ds(
        meg / "sub-01_ses-01_task-main_run-01_meg.ds", data, NAMES, SFREQ, ch_types=TYPES
    )
    bids_path = BIDSPath(
        subject="01", session="01", task="main", run="01", datatype="meg", root=root
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing sidecars (events, channels, meg.json)
        raw = read_raw_bids(bids_path, verbose=False)
    assert raw.ch_names == NAMES
    assert raw.get_channel_types()[:7] == ["mag"] * 6 + ["ref_meg"]
    assert np.allclose(raw.get_data(), data, rtol=0, atol=1e-21)


def test_overwrites_an_existing_dataset(tmp_path):
    path = tmp_path / "x.ds"
    ctf.write_ctf_ds(path, _signals(2), ["MLC11-1609", "MRC11-1609"], SFREQ)
    ctf.write_ctf_ds(path, _signals(1), ["MZC01-1609"], SFREQ)
    assert _read(path).ch_names == ["MZC01-1609"]
    assert sorted(p.name for p in path.iterdir()) == ["x.hc", "x.meg4", "x.res4"]


@pytest.mark.parametrize(
    "name, data, names, kwargs, problem",
    [
        ("x.fif", _signals(1), ["MLC11-1609"], {}, "must end with '.ds'"),
        ("x.ds", np.full((1, 10), np.nan), ["MLC11-1609"], {}, "NaN"),
        ("x.ds", _signals(2), ["MLC11-1609"], {}, "does not match"),
        ("x.ds", _signals(2), ["MLC11-1609", "MLC11-1609"], {}, "not unique"),
        ("x.ds", _signals(1), ["MLC11-1609"], {"ch_types": ["eeg"]}, "ch_types"),
        ("x.ds", _signals(1), ["STI"], {"ch_types": ["stim"]}, "int32 codes"),
        ("x.ds", _signals(1), ["MLC11-1609"], {"sensor_positions": np.zeros((1, 3))}, "nonzero"),
    ],
)
def test_rejects_bad_input(tmp_path, name, data, names, kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        ctf.write_ctf_ds(tmp_path / name, data, names, SFREQ, **kwargs)
    assert list(tmp_path.iterdir()) == []
