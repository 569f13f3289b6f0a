"""From download to figures on miniature real-layout data served on loopback.

THINGS-MEG runs (ds004212 layout: CTF ``.ds`` folders, the real sidecars), Allen NWB
sessions (DANDI 000728 layout) and a GOD BIDS dataset (ds001246 layout: preproc-spm
NIfTI, ROI masks, the real events) are generated small, listed in manifests with
their true hashes, served on 127.0.0.1, and the workflow runs
`config/tests/real-tiny.yaml` (every dataset in `download` mode) to the figures.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import threading

import pandas as pd
import pytest
import yaml

from brainlatent.datasets.allen_calcium import session_type
from brainlatent.datasets.simulate_calcium import simulate_mouse
from brainlatent.datasets.simulate_god import GODSimulation, simulate_dataset
from brainlatent.datasets.simulate_meg import MEGSimulation
from brainlatent.datasets.simulate_meg import simulate_dataset as simulate_meg

from ..conftest import REPO, RESOURCES
from .test_workflow import copy_project, snakemake

pytestmark = pytest.mark.workflow
CONFIG = "config/tests/real-tiny.yaml"
FIGURES = (
    "meg_retrieval",
    "meg_timecourse",
    "calcium_frame_decoding",
    "calcium_embedding",
    "calcium_consistency",
    "daenr",
    "fmri_reconstruction",
    "fmri_roi_weights",
)


#: The miniature Allen sessions: path in the dandiset, imaging area, cells' seed (mouse).
ALLEN = (
    ("sub-491604967/sub-491604967_ses-496908818-StimB_behavior+image+ophys.nwb", "VISp"),
    ("sub-491604967/sub-491604967_ses-501567645-StimA_behavior+image+ophys.nwb", "VISp"),
    ("sub-491604983/sub-491604983_ses-497256116-StimB_behavior+image+ophys.nwb", "VISp"),
    ("sub-529204474/sub-529204474_ses-547560448-StimC2_behavior+image+ophys.nwb", "VISl"),
)
NEURONS = 60


def _manifest(folder, url, algorithm, out):
    rows = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "_truth" not in p.name):
        relative = path.relative_to(folder).as_posix()
        data = path.read_bytes()
        digest = hashlib.new(algorithm, data).hexdigest()
        rows.append((relative, len(data), algorithm, digest, f"{url}/{relative}?versionId=1"))
    pd.DataFrame(rows, columns=["path", "size", "hash_algorithm", "hash", "url"]).to_csv(
        out, sep="\t", index=False
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("real_tiny")
    project = copy_project(root)
    config = yaml.safe_load((REPO / CONFIG).read_text())
    real = root / "real-tiny"
    for session, area in ALLEN:  # same stimuli; a mouse's sessions share its cells
        mouse = session.split("/")[0].removeprefix("sub-")
        simulate_mouse(
            real / "allen" / session, mouse, area, NEURONS, seed=0, n_movie_repeats=3,
            n_scene_repeats=10, image_size=16, session_type=session_type(session),
        )  # fmt: skip
    meg = config["things_meg"]
    simulate_meg(
        RESOURCES / "things-meg", real / "things-meg",
        real / "things-images", real / "meg-truth", meg["subjects"], meg["sessions"],
        meg["runs"], 120,
        MEGSimulation(  # the former, cleaner background, as config/tests/tiny.yaml
            sfreq=meg["sfreq"], snr=0.8, n_noise_sources=20, noise_width=None, sensor_noise=0.3,
            offset_response=0.0, seed=0,
        ),
        image_size=32,
    )  # fmt: skip
    sim = GODSimulation(volume_shape=(16, 16, 12), training_runs=2, test_runs=2, image_size=16)
    reference = RESOURCES / "god-fmri"
    simulate_dataset(reference, real / "god", real / "made", real / "truth", ["01"], sim, seed=0)
    (real / "god-images" / "training").mkdir(parents=True)
    for png in (real / "made").glob("*.png"):
        shutil.copy(png, real / "god-images" / "training" / png.name)
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(real))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    _manifest(real / "things-meg", f"{url}/things-meg", "sha256", real / "things-meg.tsv")
    _manifest(real / "allen", f"{url}/allen", "sha256", real / "allen-calcium.tsv")
    _manifest(real / "god", f"{url}/god", "md5", real / "god-fmri.tsv")
    snakemake(project, "--cores", "2", "--configfile", CONFIG)
    yield project, requests
    server.shutdown()


def test_every_figure_is_built_from_downloaded_files(served):
    project, requests = served
    for name in FIGURES:
        assert (project / "results" / "figures" / f"{name}.pdf").stat().st_size > 5_000, name
    nwb = project / "results/allen_calcium/nwb/sub-491604967_ses-496908818-StimB.nwb"
    assert nwb.is_symlink() and "data/000728" in str(nwb.resolve())
    assert (project / "data/000728").is_dir() and (project / "data/ds001246").is_dir()
    assert (project / "data/ds004212").is_dir()
    run = project / "results/things_meg/bids/sub-BIGMEG1/ses-01/meg"
    assert (run / "sub-BIGMEG1_ses-01_task-main_run-01_meg.ds").is_dir()
    fetched = sorted(r.split("?")[0] for r in requests)
    listed = []
    for manifest in ("things-meg.tsv", "allen-calcium.tsv", "god-fmri.tsv"):
        urls = pd.read_csv(project.parent / "real-tiny" / manifest, sep="\t")["url"]
        listed += [u.split("/", 3)[3].split("?")[0] for u in urls]
    assert len(fetched) == len(set(fetched)) and set(fetched) <= {f"/{u}" for u in listed}
    assert any(f.endswith("_meg.meg4") for f in fetched)  # the CTF data, once each
    unselected = {f"/{u}" for u in listed} - set(fetched)
    assert unselected == {  # not needed to read the runs
        "/things-meg/README",
        "/things-meg/participants.json",
        "/things-meg/sourcedata/category_mat_manual.tsv",
    }, unselected


def test_downloaded_data_decode_above_chance(served):
    project, _ = served
    retrieval = pd.read_parquet(project / "results/things_meg/metrics/retrieval.parquet")
    top5 = retrieval[retrieval["metric"] == "top5"]
    # ~25 test images per participant: top-5 chance is ~0.2, so a margin, not a ratio.
    assert (top5["value"] > top5["chance"] + 0.15).all(), top5
    assert top5["value"].mean() > 2.5 * top5["chance"].mean(), top5
    frames = pd.read_parquet(project / "results/allen_calcium/metrics/frame_decoding.parquet")
    accuracy = frames[frames["metric"] == "accuracy"]
    # The simulated sessions have the Allen data's noise (half the cells untuned): 10 cells
    # decode at 0.14-0.24 (2-3.8x chance), 60 cells at 0.31-0.53 on this config.
    assert (accuracy["value"] > 1.5 * accuracy["chance"]).all(), accuracy
    largest = accuracy["n_neurons"] == accuracy.groupby("subject")["n_neurons"].transform("max")
    assert (accuracy["value"][largest] > 3 * accuracy["chance"][largest]).all(), accuracy
    god = pd.read_parquet(project / "results/god_fmri/sub-01/decode/metrics.parquet")
    two_way = god[god["metric"] == "two_way"].set_index("space")["value"]
    assert (two_way > 0.6).all(), god


def test_allen_sessions_pool_by_area_each_cell_once(served):
    project, _ = served
    root = project / "results/allen_calcium"
    visp = json.loads((root / "sub-pseudo-VISp/preprocess/info.json").read_text())
    visl = json.loads((root / "sub-pseudo-VISl/preprocess/info.json").read_text())
    assert visp["area"] == "VISp" and len(visp["sources"]) == 3
    assert visp["n_available"] == 2 * NEURONS  # the StimA + StimB container counted once
    assert visp["n_neurons"] == visl["n_neurons"] == NEURONS  # largest count of the sweep
    assert visl["area"] == "VISl" and visl["n_available"] == NEURONS
    assert "StimC2" in visl["sources"][0]
    scenes = sorted(p.parent.parent.name for p in root.glob("sub-*/preprocess/scenes.npz"))
    assert scenes == [  # DAE-NR reads only the StimB sessions
        "sub-491604967_ses-496908818-StimB",
        "sub-491604983_ses-497256116-StimB",
    ]
    consistency = pd.read_parquet(root / "metrics/consistency.parquet")
    assert {"pseudo-VISp", "pseudo-VISl"} <= set(consistency.astype(str).stack())


def test_second_run_downloads_nothing(served):
    project, requests = served
    requests.clear()
    result = snakemake(project, "--cores", "2", "--configfile", CONFIG)
    assert "Nothing to be done" in result.stdout + result.stderr
    assert requests == []
