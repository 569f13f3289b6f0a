# Config validation, paths and small input helpers shared by every rule.

import json
import re
import shlex
from pathlib import Path

from snakemake.utils import validate

from brainlatent import ConfigError
from brainlatent.config import check_keys, load_schema
from brainlatent.datasets import allen_calcium as allen
from brainlatent.datasets.download import read_manifest
from brainlatent.models.generator import check_generator
from brainlatent.preprocessing.meg import Preprocessing

BASE = Path(workflow.basedir)
SCHEMA = BASE / "workflow" / "schemas" / "config.schema.yaml"
SCRIPTS = BASE / "scripts"


def resolve(path):
    """Config paths are relative to the workflow's folder, not the working directory."""
    return str(path if path is None or Path(path).is_absolute() else BASE / path)


# Jobs import the package from this checkout, whatever environment (venv, conda) runs them.
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={BASE / 'src'}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

check_keys(config, load_schema(SCHEMA))
validate(config, str(SCHEMA))

MEG = config["things_meg"]
if MEG.get("data") == "derivatives":
    if MEG["source"] != "download":
        raise ConfigError(
            "things_meg.data 'derivatives' needs things_meg.source 'download'"
        )
    if sorted(MEG["sessions"]) != list(range(1, 13)) or sorted(MEG["runs"]) != list(
        range(1, 11)
    ):
        raise ConfigError(
            "things_meg.data is 'derivatives': the preprocessed epochs hold every session and "
            "run, so things_meg.sessions must be 1-12 and things_meg.runs 1-10"
        )
# Cross-field checks of the recipe (tmin < tmax, l_freq < h_freq, ...) before any job runs.
Preprocessing.from_config(MEG["preprocess"])
SUBJECTS = MEG["subjects"]
IMAGE_MODELS = MEG["image_models"]
PRETRAINED = ("vgg19", "clip", "dinov2")


CALCIUM = config["allen_calcium"]
CALCIUM_ROOT = "results/allen_calcium"
DECODING = CALCIUM["decoding"]
if CALCIUM["source"] == "download":
    # One recording per session file, named after it (a mouse has up to four sessions);
    # the imaging area is read from each file, so `mice` and `areas` are not used.
    if not CALCIUM["sessions"]:
        raise ConfigError(
            "allen_calcium.source is 'download' but allen_calcium.sessions is empty: list "
            "manifest paths, or select e.g. {session_types: [StimA, StimB, StimC, StimC2]}"
        )
    ALLEN_SESSIONS = allen.select_sessions(
        read_manifest(resolve(CALCIUM["manifest"]))["path"],
        CALCIUM["sessions"],
        CALCIUM["manifest"],
    )
    MICE = list(ALLEN_SESSIONS)
    MICE_PATTERN = allen.SESSION_KEY_PATTERN
    # Natural scenes (DAE-NR) are only in StimB sessions.
    SCENE_MICE = [m for m in MICE if allen.session_type(m) == allen.SCENES_SESSION_TYPE]
else:
    MICE = CALCIUM["mice"]
    if len(CALCIUM["areas"]) != len(MICE):
        raise ConfigError(
            f"allen_calcium.areas has {len(CALCIUM['areas'])} entries but allen_calcium.mice "
            f"has {len(MICE)}: give one imaging area per mouse"
        )
    MOUSE_AREAS = dict(zip(MICE, CALCIUM["areas"]))
    MICE_PATTERN = "|".join(map(re.escape, MICE))
    SCENE_MICE = MICE if CALCIUM["simulate"]["n_scene_repeats"] > 0 else []
# Pseudo-mice pool the neurons of every session, or of each area's sessions (CEBRA Fig. 5).
PSEUDO = "pseudo"
if any(m == PSEUDO or m.startswith(f"{PSEUDO}-") for m in MICE):
    raise ConfigError(
        f"allen_calcium.mice: '{PSEUDO}' names the pooled pseudo-mice; rename the mouse"
    )
PSEUDO_AREAS = DECODING["pseudo_mouse_areas"]
PSEUDO_MICE = (
    ([f"{PSEUDO}-{area}" for area in PSEUDO_AREAS] if PSEUDO_AREAS else [PSEUDO])
    if DECODING["pseudo_mouse"]
    else []
)
if CALCIUM["source"] == "simulate" and PSEUDO_AREAS:
    unknown = sorted(set(PSEUDO_AREAS) - set(CALCIUM["areas"]))
    if unknown:
        raise ConfigError(
            f"allen_calcium.decoding.pseudo_mouse_areas: no simulated mouse is in {unknown} "
            f"(allen_calcium.areas: {CALCIUM['areas']})"
        )
DECODED_MICE = [*(MICE if DECODING["single_mice"] else []), *PSEUDO_MICE]


def recordings_pattern(names):
    """A wildcard constraint matching these recordings (the key pattern for sessions)."""
    names = list(names)
    sessions = [n for n in names if n in MICE]
    parts = [MICE_PATTERN] if sessions else []
    return "|".join(parts + [re.escape(n) for n in names if n not in sessions]) or "$^"


if not DECODED_MICE:
    raise ConfigError(
        "allen_calcium.decoding: single_mice and pseudo_mouse are both false; nothing to decode"
    )
EMBEDDING = CALCIUM["embedding"]
# Recordings embedded for the figure and the consistency matrix: every single mouse, or
# those listed (e.g. the pseudo-mice of each area: consistency across areas).
EMBEDDED_MICE = EMBEDDING["mice"] or MICE
unknown = sorted(set(EMBEDDED_MICE) - {*MICE, *PSEUDO_MICE})
if unknown:
    raise ConfigError(
        f"allen_calcium.embedding.mice: {unknown} are neither recordings of this config nor "
        f"its pseudo-mice {PSEUDO_MICE}"
    )
SYNTHETIC = config["synthetic"]

FMRI = config["god_fmri"]
FMRI_ROOT = "results/god_fmri"
FMRI_SUBJECTS = FMRI["subjects"]
FMRI_BIDS = f"{FMRI_ROOT}/bids"
FMRI_STIMULI = f"{FMRI_ROOT}/stimuli"
FMRI_FEATURES = [*FMRI["roi_weights"]["low_level"], *FMRI["roi_weights"]["high_level"]]
check_generator(FMRI["generator"])
if FMRI["source"] == "download" and not FMRI.get("images_dir"):
    raise ConfigError(
        "god_fmri.source is 'download' but god_fmri.images_dir is null: GOD's stimuli are "
        "ImageNet images, shared on request by the Kamitani lab "
        "(github.com/KamitaniLab/GenericObjectDecoding); put them in a folder and set the key"
    )


wildcard_constraints:
    subject="|".join(SUBJECTS),
    mouse=MICE_PATTERN,
    image_model="|".join(IMAGE_MODELS),
    analysis="retrieval|timecourse",
    kind="time|behavior|hybrid",
    fmri_subject="|".join(FMRI_SUBJECTS),
    level="low|high",
    feature_model="|".join(f for f in FMRI_FEATURES if not f.startswith("simulated_"))
    or "none",


def script(name):
    return str(SCRIPTS / f"{name}.py")


def as_json(value):
    """A config value as one shell-quotable JSON word (used with `:q`)."""
    return json.dumps(value, sort_keys=True)


# Pretrained networks: a configured path that does not exist yet is fetched by a
# download rule (download.smk); a model used without a path is a configuration error.
PRETRAINED_USED = sorted(m for m in {*IMAGE_MODELS, *FMRI_FEATURES} if m in PRETRAINED)
for model in PRETRAINED_USED:
    if MEG["weights"].get(model) is None:
        raise ConfigError(
            f"image model '{model}' needs pretrained weights: set things_meg.weights.{model} to "
            f"their path (on disk, or where download_weights should put them) or stop using "
            f"'{model}' (things_meg.image_models, god_fmri.roi_weights)."
        )
WEIGHTS_TO_FETCH = {
    resolve(MEG["weights"][m]): m
    for m in PRETRAINED_USED
    if not Path(resolve(MEG["weights"][m])).exists()
}


# Paths of the THINGS-MEG chain.
MEG_ROOT = "results/things_meg"
BIDS_ROOT = f"{MEG_ROOT}/bids"
SIMULATED_STIMULI = f"{MEG_ROOT}/stimuli"  # simulated, or the index of the real ones


def stimuli_dir():
    """The stimulus index folder: written by the simulator, or (download mode) by
    `index_things_images` from the user's licensed THINGS images."""
    if MEG["source"] == "download" and MEG["stimuli_dir"] is None:
        raise ConfigError(
            "things_meg.source is 'download' but things_meg.stimuli_dir is null: THINGS images "
            "need the THINGS licence; download them and point the key at the folder."
        )
    return SIMULATED_STIMULI


for feature in FMRI_FEATURES:
    if feature.startswith("simulated_") and FMRI["source"] != "simulate":
        raise ConfigError(
            f"god_fmri.roi_weights: '{feature}' is the simulation's ground truth, which only "
            "exists with god_fmri.source 'simulate'; use image models (e.g. vgg19, clip)"
        )


def weights_input(wildcards):
    """The pretrained weights of the image model being embedded (none for handcrafted ones)."""
    model = wildcards.get("image_model") or wildcards.get("feature_model")
    weights = MEG["weights"].get(model)
    return {"weights": resolve(weights)} if model in PRETRAINED and weights else {}


def neuron_counts(mouse):
    """The sweep's counts for the pseudo-mouse (as in the paper's Fig. 5); single mice are
    decoded once, at the largest count (all their neurons when it exceeds them), unless
    `sweep_mice` or there is no pseudo-mouse."""
    decoding = CALCIUM["decoding"]
    if mouse in PSEUDO_MICE or not decoding["pseudo_mouse"] or decoding["sweep_mice"]:
        return decoding["neuron_counts"]
    return [max(decoding["neuron_counts"])]


CALCIUM_EMBEDDING = f"{CALCIUM_ROOT}/sub-{{mouse}}/embed/cebra_{{kind}}.npz"


# Cluster resources. Memory follows the data, so one SLURM profile fits the tiny and the
# full configs; each retry asks for 50% more. Runtimes and GPUs are site matters: they
# live in profiles/slurm.
def on_retry(mb, attempt):
    return int(mb * (1 + 0.5 * (attempt - 1)))


def mem_from_inputs(factor, base_mb):
    """``base_mb + factor × (size of the job's input files)`` MB: for jobs that load their
    inputs whole (epochs for ridge and the brain module, NWB sessions)."""

    def mem_mb(wildcards, input, attempt):
        return on_retry(base_mb + factor * input.size_mb, attempt)

    return mem_mb


# One raw run in float64 (310 channels, ~7 min), filtered and epoched in place: the
# preprocessing holds one run at a time (1.65 GB measured at 1,200 Hz: make bench).
MEG_RUN_MB = 310 * MEG["sfreq"] * 420 * 8 / 1e6


def meg_preprocess_mem_mb(wildcards, attempt):
    return on_retry(1000 + 1.5 * MEG_RUN_MB, attempt)


# Pretrained image models hold their weights and a batch of images (MB).
IMAGE_MODEL_MEM_MB = {"vgg19": 4000, "clip": 8000, "dinov2": 16000}


def image_model_mem_mb(wildcards, attempt):
    model = wildcards.get("image_model") or wildcards.get("feature_model")
    return on_retry(IMAGE_MODEL_MEM_MB.get(model, 2000), attempt)


def consistency_args():
    """``--kind KIND EMB_M1 EMB_M2 ...`` for each kind, mice in the order of the config."""
    return " ".join(
        f"--kind {kind} "
        + " ".join(
            shlex.quote(p)
            for p in expand(CALCIUM_EMBEDDING, mouse=EMBEDDED_MICE, kind=kind)
        )
        for kind in EMBEDDING["kinds"]
    )


def get_final_output():
    outputs = []
    if "things_meg" in config["datasets"]:
        outputs += expand(
            "results/figures/{figure}.{ext}",
            figure=["meg_retrieval", "meg_timecourse"],
            ext=["pdf", "png"],
        )
    if "allen_calcium" in config["datasets"]:
        outputs += expand(
            "results/figures/{figure}.{ext}",
            figure=["calcium_frame_decoding", "calcium_embedding"]
            + (["calcium_consistency"] if len(EMBEDDED_MICE) > 1 else []),
            ext=["pdf", "png"],
        )
        # DAE-NR needs natural scenes: StimB sessions, or a simulation with scene repeats.
        if SCENE_MICE:
            outputs += expand("results/figures/daenr.{ext}", ext=["pdf", "png"])
    if "synthetic" in config["datasets"]:
        outputs += expand("results/figures/synthetic_latents.{ext}", ext=["pdf", "png"])
    if "god_fmri" in config["datasets"]:
        outputs += expand(
            "results/figures/{figure}.{ext}",
            figure=["fmri_reconstruction", "fmri_roi_weights"],
            ext=["pdf", "png"],
        )
    if BENCHMARK_RESULTS:  # after `make bench`: its tables join the report
        outputs.append("results/benchmarks/benchmarks.html")
    if "recording" in config["datasets"]:
        outputs += expand(
            "results/figures/recording_embedding.{ext}", ext=["pdf", "png"]
        )
    return outputs
