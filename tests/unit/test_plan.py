"""The plan of what a config builds, and every config error, without starting Snakemake."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml

from brainlatent import ConfigError
from brainlatent.plan import Plan

from ..conftest import merged

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def config_with(overlay: dict | None = None, base: dict = DEFAULT) -> dict:
    """config/config.yaml with ``overlay`` merged the way Snakemake merges a --configfile."""
    return merged(overlay or {}, base)


def shipped(name: str) -> dict:
    return config_with(yaml.safe_load((REPO / "config" / name).read_text()))


def plan(overlay: dict | None = None, base: dict = DEFAULT) -> Plan:
    config = config_with(overlay, base)
    jsonschema.validate(config, yaml.safe_load(SCHEMA.read_text()))  # errors here are not ours
    return Plan.from_config(config, REPO, schema=SCHEMA)


def test_default_config_builds_every_chains_figures():
    p = plan()
    assert p.built_figures == (
        "meg_retrieval",
        "meg_timecourse",
        "meg_generation",
        "calcium_frame_decoding",
        "calcium_embedding",
        "calcium_consistency",
        "daenr",
        "synthetic_latents",
        "fault_tolerance_phase",
        "fault_tolerance_scaling",
        "fmri_reconstruction",
        "fmri_roi_weights",
        "motor_cross_session",
    )
    assert len(p.targets) == 2 * len(p.built_figures) + 2 + bool(p.benchmark_results)
    assert {"results/scorecard.parquet", "results/scorecard.html"} <= set(p.targets)
    assert set(p.scorecard_tables) >= {  # the metrics tables of every chain, for the scorecard
        "results/things_meg/metrics/retrieval.parquet",
        "results/things_meg/metrics/timecourse.parquet",
        "results/allen_calcium/metrics/frame_decoding.parquet",
        "results/allen_calcium/metrics/consistency.parquet",
        "results/allen_calcium/daenr/metrics.parquet",
        "results/synthetic/metrics/latents.parquet",
        "results/god_fmri/sub-01/decode/metrics.parquet",
        "results/motor/sub-S/metrics/cross_session.parquet",
    }
    assert p.meg.subjects == ("BIGMEG1", "BIGMEG2")
    assert p.calcium.pseudo_mice == ("pseudo",) and p.calcium.scene_mice == p.calcium.mice
    assert p.weights == {} and p.weights_to_fetch == {}


def test_every_figure_has_a_script_and_a_caption():
    for figure in plan().figures:
        assert (REPO / "scripts" / f"plot_{figure.kind}.py").exists(), figure.name
        assert (REPO / "workflow" / "report" / f"{figure.kind}.rst").exists(), figure.name


def test_the_plan_is_immutable():
    p = plan()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.datasets = ("things_meg",)
    with pytest.raises(TypeError):
        p.calcium.areas["M9"] = "VISp"


def test_relative_paths_resolve_against_the_workflow():
    p = plan()
    assert p.resolve("resources/x") == str(REPO / "resources/x")
    assert p.resolve("/abs/x") == "/abs/x" and p.resolve(None) is None


def test_tiny_recording_embeddings_curves_and_figure():
    p = plan(base=shipped("tests/tiny_recording.yaml"))
    (name,) = p.recordings
    assert name == "place_cells_dense"  # recordings: null -> the recording, named for its preset
    r = p.recordings[name]
    root = "results/recording/place_cells_dense"
    assert set(r.cebra_embeddings) == {
        ("cebra_behavior", 0),
        ("cebra_behavior", 1),
        ("cebra_time", 0),
        ("cebra_time", 1),
    }
    assert r.pca_embedding == f"{root}/embeddings/pca.npz"
    assert r.figure_embeddings == (
        f"{root}/embeddings/cebra_behavior_seed0.npz",
        f"{root}/embeddings/cebra_time_seed0.npz",
    )
    # input_smoothing_s auto: one validation curve per CEBRA method and candidate width
    assert list(r.selection_curves) == [
        ("cebra_behavior", "0"),
        ("cebra_behavior", "0.25"),  # the tiny config's candidates
        ("cebra_time", "0"),
        ("cebra_time", "0.25"),
    ]
    assert r.curves_of("cebra_time") == [
        f"{root}/selection/cebra_time_input_0.parquet",
        f"{root}/selection/cebra_time_input_0.25.parquet",
    ]
    assert p.built_figures == ("recording_embedding_place_cells_dense",)
    assert p.scorecard_tables == () and "results/scorecard.parquet" not in p.targets
    assert r.file == f"{root}/simulated/recording.nwb"
    assert r.metrics == f"{root}/metrics/decoding.parquet"


def test_recording_figure_falls_back_to_pca():
    p = plan({"recording": {"methods": ["pca", "raw"]}}, shipped("tests/tiny_recording.yaml"))
    r = p.recordings["place_cells_dense"]
    assert r.figure_embeddings == ("results/recording/place_cells_dense/embeddings/pca.npz",)
    assert dict(r.selection_curves) == {}  # PCA and raw choose in their own jobs


def test_a_set_input_smoothing_needs_no_validation_curves():
    p = plan({"recording": {"input_smoothing_s": 0.25}})
    assert dict(p.recordings["place_cells_dense"].selection_curves) == {}


def test_several_recordings_each_with_its_overrides():
    p = plan(
        {
            "datasets": ["recording"],
            "recordings": {
                "dense": {},
                "sparse": {"simulate": {"preset": "sparse"}, "seeds": [0]},
                "rat1": {"source": "file", "path": "data/rat1.nwb", "cebra": {"preset": "paper"}},
            },
        }
    )
    assert list(p.recordings) == ["dense", "sparse", "rat1"]
    dense, sparse, rat1 = p.recordings.values()
    assert sparse.settings["simulate"] == {**dense.settings["simulate"], "preset": "sparse"}
    assert set(sparse.cebra_embeddings) == {("cebra_behavior", 0), ("cebra_time", 0)}
    assert rat1.file == str(REPO / "data/rat1.nwb")
    assert dense.file == "results/recording/dense/simulated/recording.nwb"
    assert rat1.settings["cebra"]["max_iterations"] == 10000  # the paper's preset
    assert dense.settings["cebra"]["max_iterations"] == 1000
    assert p.built_figures == tuple(f"recording_embedding_{n}" for n in ("dense", "sparse", "rat1"))
    assert len({r.root for r in p.recordings.values()}) == 3


def test_a_single_file_recording_is_named_after_its_file():
    p = plan({"recording": {"source": "file", "path": "data/2024-05-01 rat.nwb"}})
    assert list(p.recordings) == ["recording_2024_05_01_rat"]
    p = plan({"recording": {"source": "file", "path": "data/achilles.npz"}})
    assert list(p.recordings) == ["achilles"]


def test_cebra_preset_with_keys_on_top():
    p = plan({"recording": {"cebra": {"preset": "paper", "max_iterations": 2000}}})
    cebra = p.recordings["place_cells_dense"].settings["cebra"]
    assert cebra == {
        "output_dimension": 3,
        "temperature": 1.0,
        "batch_size": 512,
        "model_architecture": "offset10-model",
        "time_offsets": 10,
        "max_iterations": 2000,
        "learning_rate": 3e-4,
    }


def test_neuron_counts_sweep_the_pseudo_mouse_only():
    p = plan()
    counts = DEFAULT["allen_calcium"]["decoding"]["neuron_counts"]
    assert p.calcium.neuron_counts("pseudo") == tuple(counts)
    assert p.calcium.neuron_counts("M1") == (max(counts),)
    swept = plan({"allen_calcium": {"decoding": {"sweep_mice": True}}})
    assert swept.calcium.neuron_counts("M1") == tuple(counts)


def test_pseudo_mice_per_area_and_the_embedding_figure():
    p = plan(
        {
            "allen_calcium": {
                "areas": ["VISp", "VISl"],
                "decoding": {"pseudo_mouse_areas": ["VISp", "VISl"]},
                "embedding": {"mice": ["pseudo-VISp", "pseudo-VISl"]},
            }
        }
    )
    assert p.calcium.pseudo_mice == ("pseudo-VISp", "pseudo-VISl")
    assert (
        p.calcium.pseudo_area("pseudo-VISl") == "VISl" and p.calcium.pseudo_area("pseudo") is None
    )
    figure = {f.name: f for f in p.figures}["calcium_embedding"]
    assert figure.inputs["embeddings"][0].startswith("results/allen_calcium/sub-pseudo-VISp/")
    assert figure.shell_args.startswith(" --kinds behavior time --mouse pseudo-VISp --note ")
    assert "calcium_consistency" in p.built_figures


def test_figures_of_simulated_chains_carry_a_note_and_real_ones_none():
    """Printed under the PNG/PDF: a figure copied out of the report still says it is simulated."""
    notes = {
        f.name: f.args[f.args.index("--note") + 1] for f in plan().figures if "--note" in f.args
    }
    for name in ("meg_retrieval", "meg_generation", "calcium_frame_decoding", "daenr",
                 "fmri_reconstruction", "motor_cross_session"):  # fmt: skip
        assert notes[name].startswith("Simulated data:"), name
    assert "ds004212" in notes["meg_retrieval"] and "000688" in notes["motor_cross_session"]
    # simulations by nature: their titles say what they are
    assert not {"synthetic_latents", "fault_tolerance_phase"} & set(notes)
    real = plan({"things_meg": {"source": "download", "stimuli_dir": "data/things_images"}})
    assert not any("--note" in f.args for f in real.figures if f.name.startswith("meg_"))


def test_download_mode_reads_the_manifest_and_names_recordings_after_files():
    p = plan(base=shipped("real.yaml"))
    assert len(p.calcium.mice) == 1518 and len(p.calcium.scene_mice) == 506
    key = p.calcium.mice[0]
    assert p.calcium.sessions[key].endswith("_behavior+image+ophys.nwb")
    assert p.calcium.recordings_pattern([key, "pseudo-VISp"]).startswith(p.calcium.mice_pattern)
    assert set(p.weights) == {"vgg19", "clip", "dinov2"}
    assert all(Path(path).is_absolute() for path in p.weights.values())


def test_session_sizes_come_from_the_manifest_for_the_slurm_arrays():
    """The per-session rules go to SLURM as arrays whose tasks all get one memory request
    (common.smk, mem_from_inputs with largest_mb): the plan knows each selected file's size."""
    p = plan(base=shipped("real.yaml"))
    manifest = pd.read_csv(REPO / "workflow/manifests/allen-calcium.tsv.gz", sep="\t")
    size = dict(zip(manifest["path"], manifest["size"] / 2**20, strict=True))
    expected = {key: size[path] for key, path in p.calcium.sessions.items()}
    assert dict(p.calcium.session_mb) == pytest.approx(expected)
    assert p.calcium.largest_mb(p.calcium.mice) == pytest.approx(max(expected.values()))
    scenes = max(expected[key] for key in p.calcium.scene_mice)
    assert p.calcium.largest_mb(p.calcium.scene_mice) == pytest.approx(scenes)
    assert scenes < p.calcium.largest_mb(p.calcium.mice)  # the StimB files are not the largest
    simulated = plan().calcium
    assert simulated.largest_mb(simulated.mice) == 0  # known only at run time


# Every cross-key config error: the overlay on config/config.yaml (or a shipped config),
# and the words the message must contain (the key path first).
CONFIG_ERRORS = [
    (
        "derivatives need download",
        {"things_meg": {"data": "derivatives"}},
        None,
        "things_meg.data 'derivatives' needs things_meg.source 'download'",
    ),
    (
        "derivatives need every run",
        {"things_meg": {"data": "derivatives", "sessions": [1, 2]}},
        "real.yaml",
        "things_meg.sessions must be 1-12",
    ),
    (
        "THINGS images need a folder",
        {"things_meg": {"stimuli_dir": None}},
        "real.yaml",
        "things_meg.stimuli_dir is null",
    ),
    (
        "band-stop filter",
        {"things_meg": {"preprocess": {"l_freq": 50.0, "h_freq": 40.0}}},
        None,
        "things_meg.preprocess.l_freq (50.0 Hz) must be below h_freq",
    ),
    (
        "no low-pass before downsampling",
        {"things_meg": {"preprocess": {"h_freq": None}}},
        None,
        "things_meg.sfreq 240: preprocess.h_freq is null",
    ),
    (
        "a low-pass that stops above the new Nyquist",
        {"things_meg": {"preprocess": {"h_freq": 55.0}}},
        None,
        "things_meg.preprocess.h_freq (55.0 Hz): MNE's low-pass only stops at 68.75 Hz",
    ),
    (
        "tmax before tmin",
        {"things_meg": {"preprocess": {"tmin": 0.5, "tmax": 0.2}}},
        None,
        "things_meg.preprocess.tmax",
    ),
    (
        "pretrained without weights",
        {"things_meg": {"image_models": ["vgg19"]}},
        None,
        "things_meg.weights.vgg19",
    ),
    (
        "pretrained ROI feature without weights",
        {"god_fmri": {"roi_weights": {"high_level": ["clip"]}}},
        None,
        "things_meg.weights.clip",
    ),
    (
        "areas and mice differ in length",
        {"allen_calcium": {"areas": ["VISp"]}},
        None,
        "allen_calcium.areas has 1 entries but allen_calcium.mice has 2",
    ),
    (
        "mouse named pseudo",
        {"allen_calcium": {"mice": ["M1", "pseudo"]}},
        None,
        "allen_calcium.mice: 'pseudo' names the pooled pseudo-mice",
    ),
    (
        "pseudo-mouse of an area with no mouse",
        {"allen_calcium": {"decoding": {"pseudo_mouse_areas": ["VISam"]}}},
        None,
        "allen_calcium.decoding.pseudo_mouse_areas: no simulated mouse is in ['VISam']",
    ),
    (
        "DAE-NR read-out layer deeper than the encoder",
        {"allen_calcium": {"simulate": {"image_size": 8}, "daenr": {"readout_layer": 2}}},
        None,
        "allen_calcium.daenr.readout_layer is 2, but scenes 8 pixels high give the encoder 1",
    ),
    (
        "nothing to decode",
        {"allen_calcium": {"decoding": {"single_mice": False, "pseudo_mouse": False}}},
        None,
        "single_mice and pseudo_mouse are both false",
    ),
    (
        "embedding an unknown recording",
        {"allen_calcium": {"embedding": {"mice": ["M7"]}}},
        None,
        "allen_calcium.embedding.mice: ['M7']",
    ),
    (
        "download with no sessions",
        {"allen_calcium": {"sessions": []}},
        "real.yaml",
        "allen_calcium.sessions is empty",
    ),
    (
        "sessions of an unknown subject",
        {"allen_calcium": {"sessions": {"session_types": ["StimB"], "subjects": ["1"]}}},
        "real.yaml",
        "allen_calcium.sessions.subjects: no ['StimB'] session of ['1']",
    ),
    (
        "a session not in the manifest",
        {"allen_calcium": {"sessions": ["sub-1/sub-1_ses-2-StimB_behavior+image+ophys.nwb"]}},
        "real.yaml",
        "allen_calcium.sessions: 1 path(s) not in workflow/manifests/allen-calcium.tsv.gz",
    ),
    (
        "GOD images need a folder",
        {"god_fmri": {"images_dir": None}},
        "real.yaml",
        "god_fmri.images_dir is null",
    ),
    (
        "ground-truth features need the simulation",
        {"god_fmri": {"source": "download", "images_dir": "/data/imagenet"}},
        None,
        "god_fmri.roi_weights: 'simulated_low' is the simulation's ground truth",
    ),
    (
        "IC-GAN is not shipped",
        {"god_fmri": {"generator": {"kind": "icgan"}}},
        None,
        "god_fmri.generator.kind",
    ),
    (
        "own recording with no file",
        {"recording": {"source": "file", "path": None}},
        None,
        "recordings.recording: source is 'file' but path is null",
    ),
    (
        "recordings set, but not run",
        {"recordings": {"a": {}, "b": {}}},
        None,
        "recordings: ['a', 'b'] would not run: `recording` is not in datasets",
    ),
    (
        "a motor window of a fractional number of bins",
        {"motor": {"window_s": [-0.31, 0.5]}},
        None,
        "motor.window_s, motor.bin_s: window_s (-0.31, 0.5) is not a whole number of 0.02 s bins",
    ),
    (
        "one of several recordings with no file",
        {"datasets": ["recording"], "recordings": {"a": {}, "b": {"source": "file"}}},
        None,
        "recordings.b: source is 'file' but path is null",
    ),
    (
        "a misspelt key of one recording",
        {"recordings": {"a": {"simulate": {"presets": "sparse"}}}},
        None,
        "did you mean 'recordings.a.simulate.preset'",
    ),
    (
        "a bad value of one recording",
        {"recordings": {"a": {"simulate": {"preset": "dens"}}}},
        None,
        "recordings.a.simulate.preset: 'dens' is not one of",
    ),
    (
        "a candidate width given twice",
        {"recording": {"selection": {"smoothings_s": [0.1, 0.10]}}},
        None,
        "recordings.place_cells_dense: selection.smoothings_s repeats a width",
    ),
]


@pytest.mark.parametrize(
    ("overlay", "base", "message"),
    [case[1:] for case in CONFIG_ERRORS],
    ids=[case[0] for case in CONFIG_ERRORS],
)
def test_config_error_names_the_key(overlay, base, message):
    with pytest.raises(ConfigError) as error:
        plan(overlay, shipped(base) if base else DEFAULT)
    assert message in str(error.value)


def test_recording_with_no_embedding_is_refused():
    """The schema already requires an embedding method; the plan says why if it is bypassed."""
    config = config_with({"recording": {"methods": ["raw"]}})
    with pytest.raises(ConfigError, match="place_cells_dense: methods must include at least one"):
        Plan.from_config(config, REPO)


def test_a_recording_name_must_name_a_rule():
    """The schema refuses it too; the plan says why when it is bypassed."""
    config = config_with({"recordings": {"rat-1": {}}})
    with pytest.raises(ConfigError, match="the name 'rat-1' must start with a letter"):
        Plan.from_config(config, REPO)


def test_misspelt_key_is_named_with_a_hint():
    config = config_with()
    config["things_meg"]["image_model"] = config["things_meg"].pop("image_models")
    with pytest.raises(ConfigError, match="did you mean 'things_meg.image_models'"):
        Plan.from_config(config, REPO, schema=SCHEMA)


def test_make_bench_results_add_the_benchmark_page(tmp_path):
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    assert "results/benchmarks/benchmarks.html" not in Plan.from_config(DEFAULT, tmp_path).targets
    (tmp_path / "benchmarks" / "results" / "ridge.json").write_text("{}")
    p = Plan.from_config(DEFAULT, tmp_path)
    assert p.targets[-1] == "results/benchmarks/benchmarks.html"
    assert p.benchmark_results == (str(tmp_path / "benchmarks" / "results" / "ridge.json"),)
