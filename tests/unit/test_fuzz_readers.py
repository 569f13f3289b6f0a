"""Readers fed damaged files fail with a DataError that names the file, and with nothing else.

Each case takes a small valid file written by the project's own writers and simulators (or a
real small file from ``resources/``), damages a copy and calls the reader the workflow uses:

* ``empty``, ``cut10``, ``cut50``, ``cut90``: truncated to that fraction of its bytes. Text
  tables are cut inside the row that holds that byte (``-in-row``): a cut exactly between two
  rows leaves a shorter but valid table, which no reader can tell from a real one (the
  manifests' sizes and hashes catch that for downloaded files);
* ``magic``: the first 8 bytes, the format's signature, overwritten;
* ``random``: the file replaced by as many random bytes;
* value damage: NaN or infinite numbers where the reader's contract refuses them, and
  header-only tables.

The error must be a :class:`DataError` whose message starts with the damaged file's path (a CTF
recording is named by its ``.ds`` folder). Readers that write outputs must leave none, not
even a temporary. The NWB (HDF5) cases run in one child interpreter, so a crash in the HDF5 C
library fails them (exit by a signal) instead of killing pytest.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import mne
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainlatent.datasets import allen_calcium as ac
from brainlatent.datasets import ctf, god_fmri, things_meg
from brainlatent.datasets import simulate_place_cells as place_cells
from brainlatent.datasets.manifest import read_manifest
from brainlatent.datasets.recording import read_recording
from brainlatent.datasets.simulate_calcium import simulate_mouse
from brainlatent.datasets.simulate_god import GODSimulation
from brainlatent.datasets.simulate_god import simulate_dataset as simulate_god
from brainlatent.io import load_npy, read_table, save_npy, write_table
from brainlatent.preprocessing import calcium, fmri, meg, scenes
from brainlatent.preprocessing.meg_derivatives import read_chunk, read_derivative

from ..conftest import REPO, RESOURCES

# --------------------------------------------------------------------------- damage


def _rewrite(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.write_bytes(change(path.read_bytes()))

    return damage


def cut(fraction: float):
    return _rewrite(lambda data: data[: int(len(data) * fraction)])


def cut_in_row(fraction: float):
    """Cut after the first field of the row holding byte ``fraction`` of the file."""

    def change(data: bytes) -> bytes:
        row = data.rfind(b"\n", 0, int(len(data) * fraction)) + 1
        return data[: data.index(b"\t", row) + 1]

    return _rewrite(change)


def tsv_field(column: str, value: str, row: int = 1):
    """Set ``column`` of data row ``row`` (1 = first after the header) to ``value``."""

    def change(data: bytes) -> bytes:
        lines = data.decode().split("\n")
        fields = lines[row].split("\t")
        fields[lines[0].split("\t").index(column)] = value
        lines[row] = "\t".join(fields)
        return "\n".join(lines).encode()

    return _rewrite(change)


def npz_value(name: str, value: float):
    """Set the first element of array ``name`` of an npz to ``value``."""

    def damage(path: Path) -> None:
        with np.load(path) as archive:
            arrays = dict(archive)
        arrays[name] = arrays[name].astype(np.float64)
        arrays[name].flat[0] = value
        np.savez(path, **arrays)

    return damage


def nifti_nan(path: Path) -> None:
    """Every voxel of the first volume (or the whole 3-D mask) NaN."""
    image = nib.load(path)
    data = np.asarray(image.dataobj, dtype=np.float32)
    data[..., 0] = np.nan
    nib.save(nib.Nifti1Image(data, image.affine), path)


def h5_nan(dataset: str, where=np.s_[:]):
    def damage(path: Path) -> None:
        with h5py.File(path, "a") as f:
            f[dataset][where] = np.nan

    return damage


def json_value(key: str, value):
    def damage(path: Path) -> None:
        path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))

    return damage


def parquet_header_only(path: Path) -> None:
    write_table(path, read_table(path).iloc[:0])


DAMAGE: dict[str, Callable[[Path], None]] = {
    "empty": cut(0.0),
    "cut10": cut(0.1),
    "cut50": cut(0.5),
    "cut90": cut(0.9),
    "cut10-in-row": cut_in_row(0.1),
    "cut50-in-row": cut_in_row(0.5),
    "cut90-in-row": cut_in_row(0.9),
    "magic": _rewrite(lambda data: b"NOTMAGIC" + data[8:]),
    "random": _rewrite(lambda data: random.Random(0).randbytes(len(data))),
    "header-only": _rewrite(lambda data: data.split(b"\n")[0] + b"\n"),
    "parquet-header-only": parquet_header_only,
    # things_meg events: row 1 is an exp trial
    "onset-n/a": tsv_field("onset", "n/a"),
    "onset-inf": tsv_field("onset", "inf"),
    "onset-text": tsv_field("onset", "soon"),
    "value-inf": tsv_field("value", "inf"),
    "image-nan": tsv_field("image", "nan"),
    "size-nan": tsv_field("size", "nan"),
    "responses-nan": npz_value("responses", np.nan),
    "neural-nan": npz_value("neural", np.nan),
    "behavior-inf": npz_value("behavior", np.inf),
    "nifti-nan": nifti_nan,
    "tr-inf": json_value("RepetitionTime", float("inf")),
    "tr-nan": json_value("RepetitionTime", float("nan")),
    "dff-all-nan": h5_nan("processing/ophys/DfOverF/DfOverF/data"),
    "dff-timestamps-nan": h5_nan("processing/ophys/DfOverF/DfOverF/timestamps", np.s_[100:110]),
    "movie-times-nan": h5_nan(
        "stimulus/presentation/natural_movie_one_stimulus/timestamps", np.s_[5:8]
    ),
}
BYTES = ["empty", "cut10", "cut50", "cut90", "magic", "random"]
ROWS = ["empty", "cut10-in-row", "cut50-in-row", "cut90-in-row", "magic", "random", "header-only"]

# --------------------------------------------------------------------------- valid files

MEG_RUN = ("sub-BIGMEG1", "ses-01", "meg", "sub-BIGMEG1_ses-01_task-main_run-01")
MEG_EVENTS = f"{MEG_RUN[-1]}_events.tsv"
DS = "bids/{}/{}/{}/{}_meg.ds".format(*MEG_RUN)
GOD_SUBJECT = "01"


def build_parquet(root: Path) -> None:
    table = pd.DataFrame({"frame": np.arange(40), "repeat": np.repeat([0, 1], 20)})
    write_table(root / "table.parquet", table.assign(time=np.linspace(0, 1, 40)))


def build_npy(root: Path) -> None:
    save_npy(root / "array.npy", np.random.default_rng(0).normal(size=(20, 30)))


def build_scenes(root: Path) -> None:
    gen = np.random.default_rng(0)
    scene = scenes.SceneMatrix(
        responses=gen.normal(size=(6, 4)).astype(np.float32),
        image=np.arange(6),
        images=gen.uniform(size=(6, 8, 8)).astype(np.float32),
        n_presentations=np.full(6, 3),
        cell_ids=np.arange(4),
    )
    scenes.write_scenes(root / "scenes.npz", scene)


def build_manifest(root: Path) -> None:
    lines = gzip.decompress((REPO / "workflow/manifests/god-fmri.tsv.gz").read_bytes())
    text = b"\n".join(lines.splitlines()[:30]) + b"\n"
    (root / "manifest.tsv").write_bytes(text)
    (root / "manifest.tsv.gz").write_bytes(gzip.compress(text))


def build_meg_events(root: Path) -> None:
    shutil.copy(RESOURCES / "things-meg" / Path(*MEG_RUN[:3]) / MEG_EVENTS, root / MEG_EVENTS)


def build_meg_stimuli(root: Path) -> None:
    table = pd.DataFrame({"image": [1, 2, 3, 4, 5], "file": [f"{i}.png" for i in range(1, 6)]})
    table.to_csv(root / "stimuli.tsv", sep="\t", index=False)


def build_ctf(root: Path) -> None:
    names = ["MLC11-1609", "MLC12-1609", "MRC11-1609", "MZC01-1609"]
    data = np.random.default_rng(0).normal(size=(len(names), 480)) * 1e-12
    ctf.write_ctf_ds(root / DS, data, names, 240.0)


def build_fif(root: Path) -> None:
    info = mne.create_info(["MLC11-1609", "MLC12-1609"], 120.0, "mag")
    data = np.random.default_rng(0).normal(size=(20, 2, 60)) * 1e-12
    mne.EpochsArray(data, info, verbose=False).save(root / "sub-01-epo.fif", verbose=False)


def build_god(root: Path) -> None:
    sim = GODSimulation(volume_shape=(16, 16, 12), training_runs=1, test_runs=1, image_size=8)
    simulate_god(
        RESOURCES / "god-fmri",
        root / "bids",
        root / "stimuli",
        root / "truth",
        [GOD_SUBJECT],
        sim,
        0,
    )
    shutil.rmtree(root / "truth")


def build_recording_npz(root: Path) -> None:
    params = place_cells.PlaceCellSimulation(n_neurons=10, duration_s=10.0, seed=1)
    place_cells.write_npz(place_cells.simulate_session(params), root / "recording.npz")


def build_recording_nwb(root: Path) -> None:
    params = place_cells.PlaceCellSimulation(n_neurons=10, duration_s=10.0, seed=1)
    place_cells.write_nwb(place_cells.simulate_session(params), root / "recording.nwb")


def build_calcium_nwb(root: Path) -> None:
    simulate_mouse(
        root / "M1.nwb", "M1", "VISp", 10, 0, n_movie_repeats=2, n_scene_repeats=1, image_size=8
    )


def build_pseudo(root: Path) -> None:
    """Two preprocessed sessions, as preprocess_mouse writes them, for write_pseudo_mouse."""
    frame, repeat = np.tile(np.arange(5), 2), np.repeat([0, 1], 5)
    for k in range(2):
        folder = root / f"s{k}"
        calcium.write_preprocessed(
            *(folder / name for name in ("neural.npy", "labels.parquet", "info.json")),
            np.random.default_rng(k).normal(size=(10, 3)),
            frame,
            repeat,
            np.arange(10) / 30.0,
            "VISp",
            subject=f"M{k}",
            cell_ids=np.arange(3) + 10 * k,
        )


BUILDERS = {
    name.removeprefix("build_"): builder
    for name, builder in globals().items()
    if name.startswith("build_")
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, request):
    """``pristine(name)``: the folder of valid files of one dataset, built once (read-only)."""
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            if name == "meg_simulated":  # conftest's simulated THINGS-MEG, shared by other tests
                built[name] = request.getfixturevalue("simulated")
            else:
                built[name] = tmp_path_factory.mktemp(name)
                BUILDERS[name](built[name])
        return built[name]

    return get


def copy_dataset(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("truth"))
    return destination


# --------------------------------------------------------------------------- readers

OUT = "out"


def _god_preprocess(path: Path, root: Path):
    return fmri.preprocess_subject(root / "bids", root / "stimuli", GOD_SUBJECT, ["VC"])


def _read_derivative(path: Path, root: Path):
    epochs = read_derivative(path)
    return read_chunk(epochs, np.arange(len(epochs.ch_names)), np.arange(len(epochs)))


def _meg_preprocess(path: Path, root: Path):
    meg.preprocess_subject(
        root / "bids",
        root / "stimuli",
        "BIGMEG1",
        [("01", "01"), ("01", "02")],
        240.0,
        meg.Preprocessing(),
        *(root / OUT / name for name in ("epochs.npy", "trials.parquet", "epochs.json")),
    )


def _pseudo_mouse(path: Path, root: Path):
    sources = [
        tuple(root / f"s{k}" / n for n in ("neural.npy", "labels.parquet", "info.json"))
        for k in range(2)
    ]
    out = (root / OUT / name for name in ("neural.npy", "labels.parquet", "info.json"))
    calcium.write_pseudo_mouse(sources, *out)


def _preprocess_mouse(path: Path, root: Path):
    out = (root / OUT / name for name in ("neural.npy", "labels.parquet", "info.json"))
    calcium.preprocess_mouse(path, *out)


#: What each case calls: (damaged file, dataset copy) -> anything.
READERS: dict[str, Callable[[Path, Path], object]] = {
    "io.read_table": lambda path, root: read_table(path, ["frame", "repeat", "time"]),
    "io.load_npy": lambda path, root: load_npy(path),
    "io.load_npy(mmap=False)": lambda path, root: load_npy(path, mmap=False),
    "scenes.read_scenes": lambda path, root: scenes.read_scenes(path),
    "manifest.read_manifest": lambda path, root: read_manifest(path),
    "things_meg.read_events": lambda path, root: things_meg.read_events(path),
    "things_meg.stimulus_index": lambda path, root: things_meg.stimulus_index(path.parent),
    "meg.read_run": lambda path, root: meg.read_run(root / "bids", "BIGMEG1", "01", "01", 240.0),
    "meg.preprocess_subject": _meg_preprocess,
    "meg_derivatives.read_derivative": _read_derivative,
    "god_fmri.read_events": lambda path, root: god_fmri.read_events(path),
    "god_fmri.read_stimuli": lambda path, root: god_fmri.read_stimuli(path.parent),
    "god_fmri.repetition_time": lambda path, root: god_fmri.repetition_time(path.parent),
    "fmri.preprocess_subject": _god_preprocess,
    "recording.read_recording": lambda path, root: read_recording(path),
    "calcium.write_pseudo_mouse": _pseudo_mouse,
    "allen_calcium.read_session": lambda path, root: ac.read_session(path),
    "calcium.preprocess_mouse": _preprocess_mouse,
    "scenes.preprocess_scenes": lambda path, root: scenes.preprocess_scenes(
        path, root / OUT / "scenes.npz"
    ),
}


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    dataset: str  # key of BUILDERS (or meg_simulated)
    target: str  # the file damaged, relative to the dataset's folder
    damage: str  # key of DAMAGE
    reader: str  # key of READERS
    label: str = ""  # short name of the target in the test id
    names: str = ""  # the path the error must start with, when not the target

    @property
    def id(self) -> str:
        return f"{self.reader}-{self.label or Path(self.target).name}-{self.damage}"


def _god_file(kind: str) -> str:
    session, run = ("perceptionTraining01", 1)
    if kind == "events":
        path = god_fmri.events_path("bids", GOD_SUBJECT, session, run)
    elif kind == "bold":
        path = god_fmri.bold_path("bids", GOD_SUBJECT, session, run)
    else:
        path = god_fmri.mask_path("bids", GOD_SUBJECT, "LH", "V1d")
    return str(path)


def _meg_file(run: str, suffix: str) -> str:
    folder = "bids/sub-BIGMEG1/ses-01/meg"
    if suffix == "events.tsv":
        return f"{folder}/sub-BIGMEG1_ses-01_task-main_run-{run}_events.tsv"
    stem = f"sub-BIGMEG1_ses-01_task-main_run-{run}_meg"
    return f"{folder}/{stem}.ds/{stem}.{suffix}"


CASES = [
    *[Case("parquet", "table.parquet", d, "io.read_table") for d in BYTES],
    *[Case("npy", "array.npy", d, "io.load_npy") for d in BYTES],
    *[Case("npy", "array.npy", d, "io.load_npy(mmap=False)") for d in ("cut50", "magic")],
    *[Case("scenes", "scenes.npz", d, "scenes.read_scenes") for d in [*BYTES, "responses-nan"]],
    *[Case("manifest", "manifest.tsv.gz", d, "manifest.read_manifest") for d in BYTES],
    *[
        Case("manifest", "manifest.tsv", d, "manifest.read_manifest")
        for d in ["cut10-in-row", "cut50-in-row", "cut90-in-row", "magic", "size-nan"]
    ],
    *[
        Case("meg_events", MEG_EVENTS, d, "things_meg.read_events", label="events")
        for d in [*ROWS, "onset-n/a", "onset-inf", "onset-text", "value-inf"]
    ],
    *[
        Case("meg_stimuli", "stimuli.tsv", d, "things_meg.stimulus_index")
        for d in [*ROWS, "image-nan"]
    ],
    *[Case("ctf", _meg_file("01", "res4"), d, "meg.read_run", "res4", DS) for d in BYTES],
    *[Case("ctf", _meg_file("01", "meg4"), d, "meg.read_run", "meg4", DS) for d in BYTES],
    *[Case("fif", "sub-01-epo.fif", d, "meg_derivatives.read_derivative") for d in BYTES],
    *[
        Case("god", _god_file("events"), d, "god_fmri.read_events", label="events")
        for d in [*ROWS[:-1], "onset-n/a", "onset-inf"]
    ],
    Case("god", _god_file("events"), "header-only", "fmri.preprocess_subject", label="events"),
    *[
        Case("god", _god_file(kind), d, "fmri.preprocess_subject", label=kind)
        for kind in ("bold", "mask")
        for d in [*BYTES, "nifti-nan"]
    ],
    *[Case("god", "stimuli/stimuli.tsv", d, "god_fmri.read_stimuli") for d in ROWS],
    *[
        Case("god", "bids/task-perception_bold.json", d, "god_fmri.repetition_time")
        for d in [*BYTES, "tr-inf", "tr-nan"]
    ],
    *[
        Case("recording_npz", "recording.npz", d, "recording.read_recording")
        for d in [*BYTES, "neural-nan", "behavior-inf"]
    ],
    *[
        Case("pseudo", f"s0/{name}", d, "calcium.write_pseudo_mouse")
        for name in ("neural.npy", "labels.parquet", "info.json")
        for d in ("cut50", "magic")
    ],
    Case("pseudo", "s1/labels.parquet", "parquet-header-only", "calcium.write_pseudo_mouse"),
    # the subject's outputs are written run by run: run 02 fails after run 01 is in
    Case(
        "meg_simulated",
        _meg_file("02", "meg4"),
        "magic",
        "meg.preprocess_subject",
        label="run-02-meg4",
        names=str(Path(_meg_file("02", "meg4")).parent),
    ),
    Case(
        "meg_simulated",
        _meg_file("02", "events.tsv"),
        "header-only",
        "meg.preprocess_subject",
        label="run-02-events",
    ),
]

#: Read in a child interpreter (HDF5).
NWB_CASES = [
    *[
        Case("calcium_nwb", "M1.nwb", d, "allen_calcium.read_session")
        for d in [*BYTES, "dff-timestamps-nan", "movie-times-nan"]
    ],
    *[
        Case("calcium_nwb", "M1.nwb", d, "calcium.preprocess_mouse")
        for d in ("cut50", "random", "dff-all-nan")
    ],
    *[
        Case("calcium_nwb", "M1.nwb", d, "scenes.preprocess_scenes")
        for d in ("cut90", "magic", "dff-all-nan")
    ],
    *[
        Case("recording_nwb", "recording.nwb", d, "recording.read_recording")
        for d in BYTES  # NaN positions are lost tracking, dropped: test_recording.py
    ],
]


def damaged_copy(case: Case, pristine, folder: Path) -> Path:
    root = copy_dataset(pristine(case.dataset), folder)
    DAMAGE[case.damage](root / case.target)
    return root


def check_outcome(case: Case, root: Path, error: str, message: str) -> None:
    """A DataError naming the file, and nothing left in the output folder."""
    named = root / (case.names or case.target)
    assert error == "DataError", f"{error}: {message}"
    assert message.startswith(f"{named}: "), message
    out = root / OUT
    assert not out.exists() or not list(out.iterdir()), sorted(p.name for p in out.iterdir())


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_damaged_file_is_a_data_error(case, pristine, tmp_path):
    root = damaged_copy(case, pristine, tmp_path / "data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MNE and nibabel warn about what they then refuse
        with pytest.raises(Exception) as caught:
            READERS[case.reader](root / case.target, root)
    check_outcome(case, root, type(caught.value).__name__, str(caught.value))


def run_cases(jobs_file: str, outcomes_file: str) -> None:
    """Child interpreter: run each job, appending a line when it starts and one when it ends."""
    warnings.simplefilter("ignore")
    with open(outcomes_file, "a") as out:
        for job in json.loads(Path(jobs_file).read_text()):
            out.write(json.dumps({"id": job["id"], "started": True}) + "\n")
            out.flush()
            root = Path(job["root"])
            try:
                READERS[job["reader"]](root / job["target"], root)
                outcome = {"error": None, "message": "no error"}
            except Exception as error:
                outcome = {"error": type(error).__name__, "message": str(error)}
            out.write(json.dumps({"id": job["id"], **outcome}) + "\n")
            out.flush()


@pytest.fixture(scope="module")
def nwb_outcomes(pristine, tmp_path_factory):
    """Run every NWB case in one child interpreter: (exit status, stderr, {id: outcome})."""
    work = tmp_path_factory.mktemp("nwb_cases")
    jobs = []
    for number, case in enumerate(NWB_CASES):
        root = damaged_copy(case, pristine, work / f"case{number}")
        jobs.append(
            {"id": case.id, "reader": case.reader, "root": str(root), "target": case.target}
        )
    (work / "jobs.json").write_text(json.dumps(jobs))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    child = (
        "import sys; from tests.unit.test_fuzz_readers import run_cases; run_cases(*sys.argv[1:])"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, str(work / "jobs.json"), str(work / "outcomes.jsonl")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outcomes, roots = {}, {job["id"]: Path(job["root"]) for job in jobs}
    written = work / "outcomes.jsonl"
    for line in written.read_text().splitlines() if written.exists() else []:
        record = json.loads(line)
        outcomes.setdefault(record["id"], {}).update(record)
    return done.returncode, done.stderr[-3000:], outcomes, roots


@pytest.mark.parametrize("case", NWB_CASES, ids=lambda case: case.id)
def test_damaged_nwb_is_a_data_error_not_a_crash(case, nwb_outcomes):
    status, stderr, outcomes, roots = nwb_outcomes
    outcome = outcomes.get(case.id, {})
    if "error" not in outcome:
        how = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
        where = "while reading this file" if outcome.get("started") else "before this case"
        pytest.fail(f"the child interpreter {how} {where}:\n{stderr}")
    check_outcome(case, roots[case.id], outcome["error"], outcome["message"])


def test_every_nwb_case_ran_in_a_child_that_exited_normally(nwb_outcomes):
    status, stderr, _, _ = nwb_outcomes
    assert status == 0, f"child exit status {status}:\n{stderr}"


def zero_global_heap(path: Path) -> None:
    """Zero the objects of the file's first HDF5 global heap collection (its variable-length
    strings), keeping the collection's 16-byte header: HDF5 then spins forever reading one."""
    data = bytearray(path.read_bytes())
    start = data.index(b"GCOL")
    size = int.from_bytes(data[start + 8 : start + 16], "little")
    data[start + 16 : start + size] = bytes(size - 16)
    path.write_bytes(data)


@pytest.mark.parametrize(
    "dataset, target, reader",
    [
        ("calcium_nwb", "M1.nwb", "calcium.preprocess_mouse"),
        ("recording_nwb", "recording.nwb", "recording.read_recording"),
    ],
)
def test_nwb_on_which_hdf5_hangs_ends_the_process_naming_it(
    dataset, target, reader, pristine, tmp_path
):
    """No exception can come out of HDF5's loop, so the reader's watchdog ends the process
    with the DataError's message, and nothing is written."""
    root = copy_dataset(pristine(dataset), tmp_path / "data")
    zero_global_heap(root / target)
    child = (
        "import sys, warnings; warnings.simplefilter('ignore');"
        " import brainlatent.datasets.nwb as nwb; nwb.METADATA_TIMEOUT_S = 2;"
        " from pathlib import Path; from tests.unit.test_fuzz_readers import READERS;"
        f" READERS[{reader!r}](Path(sys.argv[1]), Path(sys.argv[2]))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    done = subprocess.run(
        [sys.executable, "-c", child, str(root / target), str(root)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGTERM, (done.returncode, done.stderr[-2000:])
    assert (
        f"DataError: {root / target}: reading the NWB file's metadata did not finish in 2 s"
        in done.stderr
    ), done.stderr[-2000:]
    out = root / OUT
    assert not out.exists() or not list(out.iterdir()), sorted(p.name for p in out.iterdir())


def test_infinite_dff_drops_the_neuron_with_a_warning(pristine, tmp_path):
    """Calcium preprocessing's contract: a neuron with invalid dF/F (NaN, ±inf) is dropped with
    a warning; one bad ROI does not sink the mouse (the all-NaN case is a DataError above)."""
    path = copy_dataset(pristine("calcium_nwb"), tmp_path / "data") / "M1.nwb"
    with h5py.File(path, "a") as f:
        f["processing/ophys/DfOverF/DfOverF/data"][:, 0] = np.inf
    out = [tmp_path / name for name in ("neural.npy", "labels.parquet", "info.json")]
    with pytest.warns(UserWarning, match="dropped 1 of 10 neurons with NaN or infinite"):
        result = calcium.preprocess_mouse(path, *out)
    assert result.neural.shape[1] == 9 and np.isfinite(load_npy(out[0])).all()
