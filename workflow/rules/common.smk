# Config validation, the plan of what this config builds, and small input helpers.
# What a config builds (and every config error) is `brainlatent.plan.Plan`: rule files
# read `PLAN`, and this file holds no derivation of its own.

import json
import os
import shlex
from pathlib import Path

from brainlatent.code_inputs import imported_files, newest
from brainlatent.config import check_keys, load_schema, validate_config
from brainlatent.plan import MOTOR_JOBS, MOTOR_ROOT, RECORDING_ROOT, Plan

# The checkout relative to the working directory (`.` when Snakemake runs in it): the scripts
# and vendored files the rules read are then named by the same paths wherever the project is
# moved or copied, and Snakemake, which records each job's set of input paths, reruns nothing
# after a move (with absolute paths a moved project reran every job).
BASE = Path(os.path.relpath(workflow.basedir))
SCHEMA = BASE / "workflow" / "schemas" / "config.schema.yaml"
SCRIPTS = BASE / "scripts"

# Jobs import the package from this checkout, whatever environment (venv, conda) runs them.
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={Path(workflow.basedir).resolve() / 'src'}"
    "${{PYTHONPATH:+:$PYTHONPATH}}; "  # braces doubled: Snakemake formats the prefix
)

SCHEMA_DICT = load_schema(SCHEMA)  # read once: check_keys and the plan share it
check_keys(config, SCHEMA_DICT)  # a typo named with a hint, before the schema's words
validate_config(config, SCHEMA_DICT)  # fills the schema's defaults
# checks each of `recordings` too
PLAN = Plan.from_config(config, BASE, schema=SCHEMA_DICT)


wildcard_constraints:
    subject="|".join(PLAN.meg.subjects),
    mouse=PLAN.calcium.mice_pattern,
    image_model="|".join(PLAN.meg.image_models),
    analysis="retrieval|timecourse",
    kind="time|behavior|hybrid",
    fmri_subject="|".join(PLAN.fmri.subjects),
    level="low|high",
    feature_model="|".join(PLAN.fmri.embedded_features) or "none",


def script(name):
    return str(SCRIPTS / f"{name}.py")


def package(name):
    """The newest of the package modules ``scripts/<name>.py`` imports, directly or not: an
    input of its rule, so an edit to the science reruns the jobs that ran it (Snakemake sees
    the script alone). One file stands for all: a job is older than one of them exactly when
    it is older than the newest, and the real config's 3,656 jobs with every module each
    took 1.6 s more to plan. Not for the downloads: the manifest's hashes fix what they
    fetch, and a rerun would re-verify hundreds of GB for an edit to shared code."""
    modules = imported_files(SCRIPTS / f"{name}.py", BASE / "src")
    return [newest(modules)] if modules else []


def as_json(value):
    """A config value as one shell-quotable JSON word (used with `:q`)."""
    return json.dumps(value, sort_keys=True)


def get_final_output():
    return list(PLAN.targets)


def get_weights(wildcards):
    """The pretrained weights of the image model being embedded (none for handcrafted ones)."""
    model = wildcards.get("image_model") or wildcards.get("feature_model")
    return {"weights": PLAN.weights[model]} if model in PLAN.weights else {}


def get_figure_inputs(wildcards, input):
    """``--<name> FILES`` for each named input of a figure rule but its code."""
    words = []
    for name in input.keys():
        if name not in ("script", "package"):
            paths = input[name]
            paths = [paths] if isinstance(paths, str) else paths
            words += [f"--{name}", *(shlex.quote(path) for path in paths)]
    return " ".join(words)


def get_consistency_args():
    """``--kind KIND EMB_1 EMB_2 ...`` for each kind, recordings in the config's order."""
    return " ".join(
        f"--kind {kind} "
        + " ".join(
            shlex.quote(p)
            for p in expand(
                PLAN.calcium.embedding_pattern,
                mouse=PLAN.calcium.embedded_mice,
                kind=kind,
            )
        )
        for kind in PLAN.calcium.embedding_kinds
    )


# Where models train is an execution setting, like threads: a resource, so moving from
# CPU to a GPU reruns nothing. Each metrics table records the device that produced it.
DEVICE = config["device"]


# Cluster resources. Memory follows the data, so one SLURM profile fits the tiny and the
# full configs; each retry asks for 50% more. Runtimes and GPUs are site matters: they
# live in profiles/slurm.
def on_retry(mb, attempt):
    return int(mb * (1 + 0.5 * (attempt - 1)))


def input_size_mb(input):
    """``input.size_mb``, summed as Snakemake does, without its event loop per call (a dry
    run prints the resources of every job: 2,185 calls on config/real.yaml took seconds).
    A missing file raises FileNotFoundError naming it, which Snakemake turns into a
    to-be-determined resource, as before. Storage-plugin files: Snakemake's own.
    """
    if any(f.is_storage for f in input):
        return input.size_mb
    return sum(os.path.getsize(f) / 1024 / 1024 for f in input)


def mem_from_inputs(factor, base_mb, largest_mb=0):
    """``base_mb + factor × (size of the job's input files)`` MB: for jobs that load their
    inputs whole (epochs for ridge and the brain module, NWB sessions).

    ``largest_mb`` (MiB, or a function of the wildcards giving it), for the rules the SLURM
    profile sends as job arrays (`slurm-array-jobs`): the plugin gives every task of an array
    the first job's resources, so each job asks for what the rule's largest input needs, as
    the plan knows it before the run (the manifest, your own files). Where it knows none
    (0: simulated data, of one size), the job's own input."""

    def mem_mb(wildcards, input, attempt):
        largest = largest_mb(wildcards) if callable(largest_mb) else largest_mb
        size = largest if largest > 0 else input_size_mb(input)
        return on_retry(base_mb + factor * size, attempt)

    return mem_mb


# Pretrained image models hold their weights and a batch of images (MB).
IMAGE_MODEL_MEM_MB = {"vgg19": 4000, "clip": 8000, "dinov2": 16000}


def image_model_mem_mb(wildcards, attempt):
    model = wildcards.get("image_model") or wildcards.get("feature_model")
    return on_retry(IMAGE_MODEL_MEM_MB.get(model, 2000), attempt)


# One raw MEG run in float64 (310 channels, ~7 min), filtered and epoched in place: the
# preprocessing holds one run at a time (1.65 GB measured at 1,200 Hz: make bench).
def meg_preprocess_mem_mb(wildcards, attempt):
    run_mb = 310 * config["things_meg"]["sfreq"] * 420 * 8 / 1e6
    return on_retry(1000 + 1.5 * run_mb, attempt)


# -- your own recordings: one recording's settings, from the {recording} wildcard


def recording_of(wildcards):
    return PLAN.recordings[wildcards.recording]


def recording_setting(key, to_json=False):
    """A params function: one setting of the wildcards' recording (as JSON when asked)."""

    def get(wildcards):
        value = recording_of(wildcards).settings[key]
        return as_json(value) if to_json else value

    return get


def recording_reader(wildcards):
    settings = recording_of(wildcards).settings
    keys = (
        "neural",
        "behavior",
        "behavior_names",
        "discrete",
        "rate",
        "bin_s",
        "units_query",
        "direction_from",
        "direction_min_speed",
    )
    return as_json({key: settings[key] for key in keys})


def recording_curves(wildcards):
    """Validation curves: the embedding's (wildcard ``embedding``), else every CEBRA method's."""
    recording = recording_of(wildcards)
    embedding = wildcards.get("embedding")
    if embedding is None:
        return list(recording.selection_curves.values())
    return recording.curves_of(embedding.split("_seed")[0])


def recording_embeddings(wildcards):
    recording = recording_of(wildcards)
    pca = [recording.pca_embedding] if recording.pca_embedding else []
    return [*recording.cebra_embeddings.values(), *pca]


# -- motor cortex across sessions: one cohort (an animal's sessions) per {cohort}


def motor_cohort(wildcards):
    return PLAN.motor_cohorts[wildcards.cohort]


def motor_settings(*keys, job=None):
    """A params function: these keys of the cohort's `motor` settings, as one JSON word;
    with ``job``, its `methods` are that job's only, in one fixed order, so dropping CEBRA,
    or reordering the list, reruns no SABLE fit."""

    def get(wildcards):
        settings = motor_cohort(wildcards).settings
        chosen = {key: settings[key] for key in keys}
        if job is not None:
            own = [m for m, scored_by in MOTOR_JOBS.items() if scored_by == job]
            chosen["methods"] = [m for m in own if m in settings["methods"]]
        return as_json(chosen)

    return get


def motor_tables(wildcards):
    return motor_cohort(wildcards).tables
