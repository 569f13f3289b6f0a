# Config validation, paths and small input helpers shared by every rule.

import json
import shlex
from pathlib import Path

from snakemake.utils import validate

from brainlatent import ConfigError
from brainlatent.config import check_keys, load_schema
from brainlatent.models.generator import check_generator

BASE = Path(workflow.basedir)
SCHEMA = BASE / "workflow" / "schemas" / "config.schema.yaml"
SCRIPTS = BASE / "scripts"
# Jobs import the package from this checkout, whatever environment (venv, conda) runs them.
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={BASE / 'src'}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)

check_keys(config, load_schema(SCHEMA))
validate(config, str(SCHEMA))

MEG = config["things_meg"]
SUBJECTS = MEG["subjects"]
IMAGE_MODELS = MEG["image_models"]
PRETRAINED = ("vgg19", "clip", "dinov2")


CALCIUM = config["allen_calcium"]
CALCIUM_ROOT = "results/allen_calcium"
MICE = CALCIUM["mice"]
if len(CALCIUM["areas"]) != len(MICE):
    raise ConfigError(
        f"allen_calcium.areas has {len(CALCIUM['areas'])} entries but allen_calcium.mice has "
        f"{len(MICE)}: give one imaging area per mouse"
    )
MOUSE_AREAS = dict(zip(MICE, CALCIUM["areas"]))
ALLEN_SESSIONS = dict(zip(MICE, CALCIUM["sessions"]))
if CALCIUM["source"] == "download" and len(CALCIUM["sessions"]) != len(MICE):
    raise ConfigError(
        f"allen_calcium.source is 'download' but allen_calcium.sessions has "
        f"{len(CALCIUM['sessions'])} entries for {len(MICE)} mice: give the manifest path of "
        f"each mouse's NWB file (see {CALCIUM['manifest']})"
    )
# The pseudo-mouse pools every mouse's neurons for the neuron-count sweep (CEBRA Fig. 5).
PSEUDO = "pseudo"
if PSEUDO in MICE:
    raise ConfigError(
        f"allen_calcium.mice: '{PSEUDO}' is the pooled pseudo-mouse; rename it"
    )
DECODED_MICE = [*MICE, PSEUDO] if CALCIUM["decoding"]["pseudo_mouse"] else MICE
EMBEDDING = CALCIUM["embedding"]
SYNTHETIC = config["synthetic"]

FMRI = config["god_fmri"]
FMRI_ROOT = "results/god_fmri"
FMRI_SUBJECTS = FMRI["subjects"]
FMRI_BIDS = f"{FMRI_ROOT}/bids"
FMRI_STIMULI = f"{FMRI_ROOT}/stimuli"
FMRI_FEATURES = [*FMRI["roi_weights"]["low_level"], *FMRI["roi_weights"]["high_level"]]
check_generator(FMRI["generator"])


wildcard_constraints:
    subject="|".join(SUBJECTS),
    mouse="|".join(MICE),
    image_model="|".join(IMAGE_MODELS),
    analysis="retrieval|timecourse",
    kind="time|behavior|hybrid",
    fmri_subject="|".join(FMRI_SUBJECTS),
    level="low|high",
    feature_model="|".join(f for f in FMRI_FEATURES if not f.startswith("simulated_"))
    or "none",


def resolve(path):
    """Config paths are relative to the workflow's folder, not the working directory."""
    return str(path if path is None or Path(path).is_absolute() else BASE / path)


def script(name):
    return str(SCRIPTS / f"{name}.py")


def as_json(value):
    """A config value as one shell-quotable JSON word (used with `:q`)."""
    return json.dumps(value, sort_keys=True)


for model in IMAGE_MODELS:
    weights = MEG["weights"].get(model)
    if model in PRETRAINED and (weights is None or not Path(resolve(weights)).exists()):
        raise ValueError(
            f"image model '{model}' needs pretrained weights: things_meg.weights.{model} is "
            f"{weights!r}, which does not exist. Point it at the weights on disk or remove "
            f"'{model}' from things_meg.image_models."
        )


# Paths of the THINGS-MEG chain.
MEG_ROOT = "results/things_meg"
BIDS_ROOT = f"{MEG_ROOT}/bids"
SIMULATED_STIMULI = f"{MEG_ROOT}/stimuli"


def stimuli_dir():
    """Simulated stimuli in simulate mode; the user's THINGS images in download mode."""
    if MEG["source"] == "simulate":
        return SIMULATED_STIMULI
    if MEG["stimuli_dir"] is None:
        raise ValueError(
            "things_meg.source is 'download' but things_meg.stimuli_dir is null: THINGS images "
            "need the THINGS licence; put them in a folder with a stimuli.tsv (image, file)."
        )
    return resolve(MEG["stimuli_dir"])


for feature in FMRI_FEATURES:
    if feature.startswith("simulated_") and FMRI["source"] != "simulate":
        raise ConfigError(
            f"god_fmri.roi_weights: '{feature}' is the simulation's ground truth, which only "
            "exists with god_fmri.source 'simulate'; use image models (e.g. vgg19, clip)"
        )
    weights = MEG["weights"].get(feature)
    if feature in PRETRAINED and (
        weights is None or not Path(resolve(weights)).exists()
    ):
        raise ConfigError(
            f"god_fmri.roi_weights uses '{feature}', which needs pretrained weights: set "
            f"things_meg.weights.{feature} to the weights on disk"
        )


def weights_input(wildcards):
    weights = MEG["weights"].get(wildcards.image_model)
    return {"weights": resolve(weights)} if weights else {}


def neuron_counts(mouse):
    """The sweep's counts for the pseudo-mouse (as in the paper's Fig. 5); single mice are
    decoded once, at the largest count (all their neurons when it exceeds them), unless
    `sweep_mice` or there is no pseudo-mouse."""
    decoding = CALCIUM["decoding"]
    if mouse == PSEUDO or not decoding["pseudo_mouse"] or decoding["sweep_mice"]:
        return decoding["neuron_counts"]
    return [max(decoding["neuron_counts"])]


CALCIUM_EMBEDDING = f"{CALCIUM_ROOT}/sub-{{mouse}}/embed/cebra_{{kind}}.npz"


def consistency_args():
    """``--kind KIND EMB_M1 EMB_M2 ...`` for each kind, mice in the order of the config."""
    return " ".join(
        f"--kind {kind} "
        + " ".join(
            shlex.quote(p) for p in expand(CALCIUM_EMBEDDING, mouse=MICE, kind=kind)
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
            + (["calcium_consistency"] if len(MICE) > 1 else []),
            ext=["pdf", "png"],
        )
        # DAE-NR needs natural scenes, which a simulation with 0 scene repeats lacks.
        if (
            CALCIUM["source"] != "simulate"
            or CALCIUM["simulate"]["n_scene_repeats"] > 0
        ):
            outputs += expand("results/figures/daenr.{ext}", ext=["pdf", "png"])
    if "synthetic" in config["datasets"]:
        outputs += expand("results/figures/synthetic_latents.{ext}", ext=["pdf", "png"])
    if "god_fmri" in config["datasets"]:
        outputs += expand(
            "results/figures/{figure}.{ext}",
            figure=["fmri_reconstruction", "fmri_roi_weights"],
            ext=["pdf", "png"],
        )
    if "recording" in config["datasets"]:
        outputs += expand(
            "results/figures/recording_embedding.{ext}", ext=["pdf", "png"]
        )
    return outputs
