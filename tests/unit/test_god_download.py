"""GOD (ds001246) download mode: manifest rows served on loopback → cache → BIDS links → reader."""

from __future__ import annotations

import functools
import hashlib
import http.server
import runpy
import shutil
import threading
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest

from brainlatent.datasets import god_fmri
from brainlatent.datasets.simulate_god import GODSimulation, simulate_dataset
from brainlatent.errors import DataError
from brainlatent.preprocessing.fmri import preprocess_subject

from ..conftest import REPO, RESOURCES

SCRIPT = REPO / "scripts" / "download_god_fmri.py"
SIM = GODSimulation(volume_shape=(16, 16, 12), training_runs=1, test_runs=1, image_size=16)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A simulated ds001246 behind a loopback HTTP server, its manifest and its images."""
    root = tmp_path_factory.mktemp("god_download")
    reference = RESOURCES / "god-fmri"
    simulate_dataset(reference, root / "site", root / "made", root / "truth", ["01"], SIM, 0)
    images = root / "images" / "training"
    images.mkdir(parents=True)
    for png in (root / "made").glob("*.png"):
        shutil.copy(png, images / png.name)
    (root / "site" / "sub-01" / "ses-anatomy").mkdir(parents=True)
    (root / "site" / "sub-01" / "ses-anatomy" / "T1w.nii.gz").write_bytes(b"not selected")
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path.lstrip("/"))

    handler = functools.partial(Handler, directory=str(root / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    rows = []
    for path in sorted(p for p in (root / "site").rglob("*") if p.is_file()):
        relative = path.relative_to(root / "site").as_posix()
        data = path.read_bytes()
        md5 = hashlib.md5(data).hexdigest()
        rows.append((relative, len(data), "md5", md5, f"{url}/{relative}"))
    manifest = root / "manifest.tsv"
    pd.DataFrame(rows, columns=["path", "size", "hash_algorithm", "hash", "url"]).to_csv(
        manifest, sep="\t", index=False
    )
    yield root, manifest, requests
    server.shutdown()


def run_script(*argv):
    with mock.patch("sys.argv", ["download_god_fmri", *map(str, argv)]):
        runpy.run_path(str(SCRIPT), run_name="__main__")


def test_download_links_the_selected_files_and_indexes_the_images(served, tmp_path):
    root, manifest, requests = served
    requests.clear()
    bids, stimuli = tmp_path / "bids", tmp_path / "stimuli"
    run_script(
        "--manifest", manifest, "--subjects", "01", "--cache", tmp_path / "cache",
        "--images", root / "images", "--bids", bids, "--stimuli", stimuli,
    )  # fmt: skip
    assert "sub-01/ses-anatomy/T1w.nii.gz" not in requests  # only what the chain reads
    runs = god_fmri.perception_runs(bids, "01")
    assert runs["split"].tolist() == ["test", "training"]
    for run in runs.itertuples():
        bold = god_fmri.bold_path(bids, "01", run.session, run.run)
        assert bold.is_symlink() and bold.resolve().is_relative_to((tmp_path / "cache").resolve())
    index = pd.read_csv(stimuli / "stimuli.tsv", sep="\t")
    assert len(index) == 100 and all(Path(f).is_absolute() for f in index["file"])
    samples, trials, _ = preprocess_subject(bids, stimuli, "01", ["VC"])
    assert samples.shape[0] == len(trials) == 100
    requests.clear()
    bids2 = tmp_path / "bids2"
    run_script(
        "--manifest", manifest, "--subjects", "01", "--cache", tmp_path / "cache",
        "--images", root / "images", "--bids", bids2, "--stimuli", tmp_path / "stimuli2",
    )  # fmt: skip
    assert requests == []  # everything verified in the cache


def test_missing_stimulus_images_are_listed_and_nothing_is_written(served, tmp_path):
    root, manifest, _ = served
    images = tmp_path / "images"
    shutil.copytree(root / "images", images)
    removed = sorted(images.rglob("*.png"))[:3]
    for path in removed:
        path.unlink()
    with pytest.raises(DataError, match="3 of the 100 stimulus images .* missing") as error:
        run_script(
            "--manifest", manifest, "--subjects", "01", "--cache", tmp_path / "cache",
            "--images", images, "--bids", tmp_path / "bids", "--stimuli", tmp_path / "stimuli",
        )  # fmt: skip
    assert removed[0].stem in str(error.value) and "Kamitani" in str(error.value)
    assert not (tmp_path / "bids").exists() and not (tmp_path / "stimuli").exists()
