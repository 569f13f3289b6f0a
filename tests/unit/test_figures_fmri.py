"""GOD fMRI figures: drawn and saved from small synthetic tables, and bad inputs named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from brainlatent.errors import DataError
from brainlatent.figures.fmri import plot_fmri_reconstruction, plot_fmri_roi_weights
from brainlatent.io import write_table

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
SUBJECTS = ("01", "02")
N_TEST = 6
ROIS = {"V1": "low", "V2": "low", "V3": "low", "hV4": "mid", "LOC": "high", "FFA": "high"}


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(subject: str, rng) -> pd.DataFrame:
    rows = []
    for space in ("latent", "pixel"):
        rows.append([subject, space, "two_way", rng.uniform(0.6, 0.9), 0.5, N_TEST])
        rows.append([subject, space, "n_way", rng.uniform(0.2, 0.5), 1 / N_TEST, N_TEST])
    rows.append([subject, "pixel", "pixcorr", rng.uniform(0.1, 0.4), np.nan, N_TEST])
    rows.append([subject, "pixel", "ssim", rng.uniform(0.2, 0.4), np.nan, N_TEST])
    columns = ["subject", "space", "metric", "value", "chance", "n_images"]
    return pd.DataFrame(rows, columns=columns)


def _reconstructions(rng) -> dict[str, np.ndarray]:
    return {
        "image": np.arange(N_TEST, dtype=np.int64),
        "stimulus_name": np.array([f"n0000{k}_1" for k in range(N_TEST)]),
        "truth": rng.integers(0, 256, (N_TEST, 16, 16, 3), dtype=np.uint8),
        "reconstruction": rng.integers(0, 256, (N_TEST, 16, 16, 3), dtype=np.uint8),
        "predicted": rng.normal(size=(N_TEST, 4)).astype(np.float32),
        "alpha": np.full(4, 10.0),
    }


def _roi_table(subject: str, rng) -> pd.DataFrame:
    rows = []
    for roi, level in ROIS.items():
        low, high = rng.uniform(0.1, 1.0, 2)
        if level == "low":
            low += 1.0
        elif level == "high":
            high += 1.0
        rows.append([subject, roi, level, 100, low, high, (low - high) / (low + high)])
    columns = ["subject", "roi", "level", "n_voxels", "low", "high", "contrast"]
    return pd.DataFrame(rows, columns=columns)


def _assert_saved(tmp_path: Path) -> None:
    assert (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def _write_subjects(tmp_path: Path, drop_array: str | None = None):
    rng = np.random.default_rng(0)
    metrics, npz = [], []
    for subject in SUBJECTS:
        metrics.append(tmp_path / f"sub-{subject}_metrics.parquet")
        npz.append(tmp_path / f"sub-{subject}_reconstructions.npz")
        write_table(metrics[-1], _metrics(subject, rng))
        arrays = _reconstructions(rng)
        if drop_array is not None and subject == SUBJECTS[-1]:
            arrays.pop(drop_array)
        np.savez(npz[-1], **arrays)
    return metrics, npz


def test_reconstruction_figure_is_saved(tmp_path):
    metrics, npz = _write_subjects(tmp_path)
    out = ["--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")]
    _script("plot_fmri_reconstruction").main(
        ["--metrics", *map(str, metrics), "--reconstructions", *map(str, npz), *out]
    )
    _assert_saved(tmp_path)


def test_roi_weights_figure_is_saved(tmp_path):
    rng = np.random.default_rng(1)
    tables = [tmp_path / f"sub-{s}_roi_weights.parquet" for s in SUBJECTS]
    for subject, path in zip(SUBJECTS, tables, strict=True):
        write_table(path, _roi_table(subject, rng))
    out = ["--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")]
    _script("plot_fmri_roi_weights").main(["--tables", *map(str, tables), *out])
    _assert_saved(tmp_path)


def test_missing_npz_array_names_the_file(tmp_path):
    metrics, npz = _write_subjects(tmp_path, drop_array="reconstruction")
    out = ["--pdf", str(tmp_path / "f.pdf"), "--png", str(tmp_path / "f.png")]
    with pytest.raises(DataError, match=r"sub-02_reconstructions\.npz: lacks arrays"):
        _script("plot_fmri_reconstruction").main(
            ["--metrics", *map(str, metrics), "--reconstructions", *map(str, npz), *out]
        )
    assert not (tmp_path / "f.pdf").exists()


def test_bad_reconstruction_inputs_name_the_source():
    rng = np.random.default_rng(2)
    metrics = _metrics("01", rng)
    recon = {"01": _reconstructions(rng)}
    with pytest.raises(DataError, match=r"m\.parquet: table lacks columns \['chance'\]"):
        plot_fmri_reconstruction(metrics.drop(columns="chance"), recon, source="m.parquet")
    partial = {"01": {k: v for k, v in recon["01"].items() if k != "truth"}}
    with pytest.raises(DataError, match=r"m\.parquet: reconstructions of sub-01 lack.*'truth'"):
        plot_fmri_reconstruction(metrics, partial, source="m.parquet")
    with pytest.raises(DataError, match=r"m\.parquet: no rows with space/metric \['pixel/ssim'\]"):
        plot_fmri_reconstruction(metrics[metrics["metric"] != "ssim"], recon, source="m.parquet")


def test_bad_roi_tables_name_the_source():
    table = _roi_table("01", np.random.default_rng(3))
    with pytest.raises(DataError, match=r"w\.parquet: table lacks columns \['contrast'\]"):
        plot_fmri_roi_weights(table.drop(columns="contrast"), source="w.parquet")
    with pytest.raises(DataError, match=r"w\.parquet: table is empty"):
        plot_fmri_roi_weights(table.iloc[:0], source="w.parquet")


@pytest.mark.parametrize("subjects", [("01",), SUBJECTS])
def test_intervals_drawn_through_each_subject(subjects):
    """A table with bootstrap intervals draws one line per subject and score, through its
    dot (or the bar's top for one subject); a table without them draws none."""
    rng = np.random.default_rng(3)
    metrics = pd.concat([_metrics(s, rng) for s in subjects], ignore_index=True)
    recon = {s: _reconstructions(rng) for s in subjects}
    with_ci = metrics.assign(ci_low=metrics["value"] - 0.05, ci_high=metrics["value"] + 0.05)
    fig = plot_fmri_reconstruction(with_ci, recon)
    identification, similarity = fig.axes[-2:]
    segments = [
        seg
        for c in identification.collections
        if isinstance(c, LineCollection)
        for seg in c.get_segments()
        if seg[0, 0] == seg[1, 0]  # vertical: the intervals (chance is drawn across)
    ]
    assert len(segments) == 4 * len(subjects)  # 4 identification scores
    first = with_ci.query("space == 'latent' and metric == 'two_way'")
    np.testing.assert_allclose(
        [seg[:, 1] for seg in segments[: len(subjects)]], first[["ci_low", "ci_high"]]
    )
    assert "95 % interval" in fig.subfigs[1]._suptitle.get_text()
    plain = plot_fmri_reconstruction(metrics, recon)
    assert not any(
        seg[0, 0] == seg[1, 0]
        for c in plain.axes[-2].collections
        if isinstance(c, LineCollection)
        for seg in c.get_segments()
    )
