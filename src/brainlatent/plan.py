"""What a config builds: recordings, pseudo-mice, embeddings, weights, figures, targets.

The workflow's rule files read one :class:`Plan`, built by :meth:`Plan.from_config`
from the validated config (Snakemake has filled the schema's defaults). Every check
that spans several keys lives here and raises :class:`~brainlatent.ConfigError`
naming the key path, so a bad config fails before any job runs and each check is
unit-tested without starting Snakemake. The plan is immutable: the ``.smk`` files
only read it, whatever order they are included in.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType

from brainlatent.config import check_keys, load_schema, validate_config
from brainlatent.decoding.motor_settings import n_window_bins
from brainlatent.errors import ConfigError

__all__ = [
    "CalciumPlan",
    "Figure",
    "FmriPlan",
    "MegPlan",
    "MotorCohort",
    "MotorPlan",
    "PAPER_VALUES",
    "PRETRAINED",
    "PSEUDO",
    "Plan",
    "RecordingPlan",
    "SCORECARD",
]

#: Image models that need downloaded weights (``things_meg.weights``).
PRETRAINED = ("vgg19", "clip", "dinov2")
#: Name of the pooled pseudo-mouse; ``pseudo-<area>`` pools one imaging area.
PSEUDO = "pseudo"
#: Recording-mode embeddings fitted once per seed, and those fitted once; raw counts and the
#: standard decoders (bayesian, knn_smoothed, ridge_smoothed) save no embedding.
RECORDING_SEEDED = ("cebra_behavior", "cebra_time")
RECORDING_DETERMINISTIC = ("pca",)
#: Where each recording's results go (``<root>/<name>/``).
RECORDING_ROOT = "results/recording"
#: CEBRA settings of the recording mode (``recording.cebra.preset``; set keys override them).
#: ``quick``: 1,000 iterations at learning rate 1e-3, minutes on a laptop core; ``paper``: the
#: CEBRA paper's rat-hippocampus models (demo notebook: 10,000 iterations at 3e-4). Both: 3-D
#: output, temperature 1, batch 512, offset10-model (250 ms receptive field at 40 Hz).
_CEBRA_COMMON = {
    "output_dimension": 3,
    "temperature": 1.0,
    "batch_size": 512,
    "model_architecture": "offset10-model",
    "time_offsets": 10,
}
RECORDING_CEBRA_PRESETS = {
    "quick": {**_CEBRA_COMMON, "max_iterations": 1000, "learning_rate": 1e-3},
    "paper": {**_CEBRA_COMMON, "max_iterations": 10000, "learning_rate": 3e-4},
}
#: The config's datasets, in the order their figures are listed.
DATASETS = (
    "things_meg",
    "allen_calcium",
    "synthetic",
    "god_fmri",
    "motor",
    "recording",
    "fault_tolerance",
)
#: The fault-tolerance chain's metrics tables (Zlokapa et al. 2022; a simulation, no data).
FAULT_TOLERANCE_TABLES = {
    "phase": "results/fault_tolerance/metrics/phase.parquet",
    "scaling": "results/fault_tolerance/metrics/scaling.parquet",
}
#: Where each cohort of motor-cortex sessions (one animal) puts its results.
MOTOR_ROOT = "results/motor"
#: Cross-session methods, and the job (metrics table) that scores each.
MOTOR_JOBS = {
    "within": "baselines",
    "fixed": "baselines",
    "aligned": "baselines",
    "cebra": "cebra",
    "sable": "sable",
    "sable_no_reverse": "sable",
    "sable_recalibrated": "sable",
}
#: First day of the simulated sessions (their file names carry the date, as DANDI 000688's do).
MOTOR_SIMULATED_START = date(2024, 1, 8)
#: The papers' numbers (read by the scorecard and the figures that draw them), under the
#: workflow's folder; and the scorecard's outputs (brainlatent.scorecard).
PAPER_VALUES = "resources/paper_values.yaml"
SCORECARD = ("results/scorecard.parquet", "results/scorecard.html")


def _frozen(mapping: Mapping) -> MappingProxyType:
    return MappingProxyType(dict(mapping))


def _pattern(names) -> str:
    """A wildcard constraint matching exactly these names (nothing, when there are none)."""
    return "|".join(re.escape(n) for n in names) or "$^"


@dataclass(frozen=True)
class MegPlan:
    """THINGS-MEG: subjects, runs, image models and where their files go."""

    source: str
    data: str
    subjects: tuple[str, ...]
    sessions: tuple[int, ...]
    runs: tuple[int, ...]
    image_models: tuple[str, ...]
    extra_candidates: int = 0  # images never seen added to the test images (large set)
    # image generation (things_meg.generation): built by the default target when enabled;
    # its figure can be asked for by name either way
    generation: bool = False
    generation_decoders: tuple[str, ...] = ("ridge",)
    generator: str = "autoencoder"
    generation_high_level: str = "hog"  # image model of the high-level similarity
    root: str = "results/things_meg"

    def generation_images(self, subject: str) -> str:
        """One subject's seen and generated test images (``evaluate_generation``)."""
        return f"{self.root}/sub-{subject}/generation/images.npz"

    @property
    def bids(self) -> str:
        return f"{self.root}/bids"

    @property
    def extra_stimuli(self) -> str:
        """Index of the extra retrieval candidates: simulated, or unseen THINGS images."""
        return f"{self.root}/extra_stimuli"

    @property
    def extra_features(self) -> str:
        """Folder of the extra candidates' embeddings: ``<image model>.npy`` + ``.parquet``."""
        return f"{self.root}/extra_features"

    @property
    def stimuli(self) -> str:
        """Stimulus index: written by the simulator, or by ``index_things_images``."""
        return f"{self.root}/stimuli"

    def derivative(self, subject: str) -> str:
        """The authors' preprocessed epochs of one subject (first split part)."""
        number = subject.removeprefix("BIGMEG")
        return f"{self.bids}/derivatives/preprocessed/preprocessed_P{number}-epo.fif"

    @classmethod
    def from_config(cls, meg: dict) -> MegPlan:
        from brainlatent.preprocessing.recipe import Preprocessing

        if meg["data"] == "derivatives":
            if meg["source"] != "download":
                raise ConfigError(
                    "things_meg.data 'derivatives' needs things_meg.source 'download'"
                )
            if sorted(meg["sessions"]) != list(range(1, 13)) or sorted(meg["runs"]) != list(
                range(1, 11)
            ):
                raise ConfigError(
                    "things_meg.data is 'derivatives': the preprocessed epochs hold every "
                    "session and run, so things_meg.sessions must be 1-12 and "
                    "things_meg.runs 1-10"
                )
        if meg["source"] == "download" and meg["stimuli_dir"] is None:
            raise ConfigError(
                "things_meg.source is 'download' but things_meg.stimuli_dir is null: THINGS "
                "images need the THINGS licence; download them and point the key at the folder."
            )
        try:  # tmin < tmax, l_freq < h_freq, ... before any job runs
            recipe = Preprocessing.from_config(meg["preprocess"])
        except ConfigError as error:
            raise ConfigError(f"things_meg.{error}") from None
        if meg["data"] != "derivatives":  # the derivatives are filtered already
            recipe.check_rate(meg["sfreq"], f"things_meg.sfreq {meg['sfreq']}")
        from brainlatent.datasets.stimuli import THINGS_UNSEEN

        extra = int(meg.get("evaluate", {}).get("extra_candidates", 0))
        if meg["source"] == "download" and extra > THINGS_UNSEEN:
            raise ConfigError(
                f"things_meg.evaluate.extra_candidates is {extra}, but THINGS has only "
                f"{THINGS_UNSEEN} images never shown in THINGS-MEG (the paper's large set "
                f"adds all of them): use at most {THINGS_UNSEEN}"
            )
        return cls(
            source=meg["source"],
            data=meg["data"],
            subjects=tuple(meg["subjects"]),
            sessions=tuple(meg["sessions"]),
            runs=tuple(meg["runs"]),
            image_models=tuple(meg["image_models"]),
            extra_candidates=extra,
            **_generation(meg),
        )


def _generation(meg: dict) -> dict:
    """MegPlan's generation fields; a generator that cannot run is refused even when off."""
    generation = meg.get("generation")
    if not generation:
        return {}
    from brainlatent.decoding.meg_generation import check_generation

    check_generation(generation)
    return {
        "generation": bool(generation["enabled"]),
        "generation_decoders": tuple(generation["decoders"]),
        "generator": generation["generator"]["kind"],
        "generation_high_level": generation["high_level"],
    }


@dataclass(frozen=True)
class CalciumPlan:
    """Allen calcium: recordings (mice or session files), pseudo-mice, what is embedded."""

    source: str
    mice: tuple[str, ...]
    mice_pattern: str
    sessions: Mapping[str, str]  # download: recording key -> manifest path
    session_mb: Mapping[str, float]  # download: recording key -> its file's MiB (manifest)
    areas: Mapping[str, str]  # simulate: mouse -> imaging area
    scene_mice: tuple[str, ...]
    pseudo_mice: tuple[str, ...]
    decoded_mice: tuple[str, ...]
    embedded_mice: tuple[str, ...]
    embedding_kinds: tuple[str, ...]
    neuron_counts_all: tuple[int, ...]
    sweep_single_mice: bool
    root: str = "results/allen_calcium"

    def recordings_pattern(self, names) -> str:
        """A wildcard constraint matching these recordings (the key pattern for sessions)."""
        names = list(names)
        parts = [self.mice_pattern] if any(n in self.mice for n in names) else []
        return "|".join(parts + [re.escape(n) for n in names if n not in self.mice]) or "$^"

    def neuron_counts(self, mouse: str) -> tuple[int, ...]:
        """The sweep's counts for pseudo-mice (the paper's Fig. 5); single mice are decoded
        once, at the largest count, unless ``sweep_mice`` or there is no pseudo-mouse."""
        if mouse in self.pseudo_mice or not self.pseudo_mice or self.sweep_single_mice:
            return self.neuron_counts_all
        return (max(self.neuron_counts_all),)

    @property
    def embedding_pattern(self) -> str:
        """Where a recording's CEBRA embedding of one kind goes (wildcards mouse, kind)."""
        return f"{self.root}/sub-{{mouse}}/embed/cebra_{{kind}}.npz"

    def pseudo_area(self, pseudo: str) -> str | None:
        """The imaging area a pseudo-mouse pools, or None for all sessions."""
        return None if pseudo == PSEUDO else pseudo.removeprefix(f"{PSEUDO}-")

    def largest_mb(self, names) -> float:
        """The largest of these recordings' session files (MiB), as the manifest gives them;
        0 when none is known before the run (simulated mice)."""
        return max((self.session_mb.get(name, 0.0) for name in names), default=0.0)

    @classmethod
    def from_config(cls, calcium: dict, resolve) -> CalciumPlan:
        from brainlatent.datasets import allen_calcium as allen

        decoding, embedding = calcium["decoding"], calcium["embedding"]
        sessions, session_mb, areas = {}, {}, {}
        if calcium["source"] == "download":
            # One recording per session file, named after it; the area is read from the file.
            if not calcium["sessions"]:
                raise ConfigError(
                    "allen_calcium.source is 'download' but allen_calcium.sessions is empty: "
                    "list manifest paths, or select e.g. "
                    "{session_types: [StimA, StimB, StimC, StimC2]}"
                )
            from brainlatent.datasets.manifest import read_manifest

            manifest = read_manifest(resolve(calcium["manifest"]))
            sessions = allen.select_sessions(
                manifest["path"], calcium["sessions"], calcium["manifest"]
            )
            session_mb = _sizes_mb(manifest, sessions)
            mice = tuple(sessions)
            pattern = allen.SESSION_KEY_PATTERN
            # Natural scenes (DAE-NR) are only in StimB sessions.
            scene_mice = tuple(
                m for m in mice if allen.session_type(m) == allen.SCENES_SESSION_TYPE
            )
        else:
            mice = tuple(calcium["mice"])
            if len(calcium["areas"]) != len(mice):
                raise ConfigError(
                    f"allen_calcium.areas has {len(calcium['areas'])} entries but "
                    f"allen_calcium.mice has {len(mice)}: give one imaging area per mouse"
                )
            areas = dict(zip(mice, calcium["areas"], strict=True))
            pattern = _pattern(mice)
            scene_mice = mice if calcium["simulate"]["n_scene_repeats"] > 0 else ()
        if any(m == PSEUDO or m.startswith(f"{PSEUDO}-") for m in mice):
            raise ConfigError(
                f"allen_calcium.mice: '{PSEUDO}' names the pooled pseudo-mice; rename the mouse"
            )
        pseudo_areas = decoding["pseudo_mouse_areas"]
        if not decoding["pseudo_mouse"]:
            pseudo_mice = ()
        elif pseudo_areas:
            pseudo_mice = tuple(f"{PSEUDO}-{area}" for area in pseudo_areas)
        else:
            pseudo_mice = (PSEUDO,)
        if calcium["source"] == "simulate" and pseudo_areas:
            unknown = sorted(set(pseudo_areas) - set(calcium["areas"]))
            if unknown:
                raise ConfigError(
                    f"allen_calcium.decoding.pseudo_mouse_areas: no simulated mouse is in "
                    f"{unknown} (allen_calcium.areas: {calcium['areas']})"
                )
        daenr = calcium.get("daenr") or {}
        layer = daenr.get("readout_layer")
        if scene_mice and layer is not None:
            # The scenes' smaller side: simulated squares, or the resized (or native) template.
            side = (
                calcium["simulate"]["image_size"]
                if calcium["source"] == "simulate"
                else daenr.get("image_size") or 918  # the real template: 918 × 1174
            )
            n_layers, rest = 0, side
            while rest > 4 and n_layers < 5:  # as brainlatent.models.daenr's encoder halves it
                rest, n_layers = -(-rest // 2), n_layers + 1
            if layer > n_layers:
                raise ConfigError(
                    f"allen_calcium.daenr.readout_layer is {layer}, but scenes {side} pixels "
                    f"high give the encoder {n_layers} layer(s): use 1-{n_layers} or null"
                )
        decoded = (*(mice if decoding["single_mice"] else ()), *pseudo_mice)
        if not decoded:
            raise ConfigError(
                "allen_calcium.decoding: single_mice and pseudo_mouse are both false; "
                "nothing to decode"
            )
        # Recordings embedded for the figure and the consistency matrix: every single mouse,
        # or those listed (e.g. each area's pseudo-mouse: consistency across areas).
        embedded = tuple(embedding["mice"] or mice)
        unknown = sorted(set(embedded) - {*mice, *pseudo_mice})
        if unknown:
            raise ConfigError(
                f"allen_calcium.embedding.mice: {unknown} are neither recordings of this "
                f"config nor its pseudo-mice {list(pseudo_mice)}"
            )
        return cls(
            source=calcium["source"],
            mice=mice,
            mice_pattern=pattern,
            sessions=_frozen(sessions),
            session_mb=_frozen(session_mb),
            areas=_frozen(areas),
            scene_mice=scene_mice,
            pseudo_mice=pseudo_mice,
            decoded_mice=decoded,
            embedded_mice=embedded,
            embedding_kinds=tuple(embedding["kinds"]),
            neuron_counts_all=tuple(decoding["neuron_counts"]),
            sweep_single_mice=bool(decoding["sweep_mice"]),
        )


@dataclass(frozen=True)
class FmriPlan:
    """GOD fMRI: subjects, the features of the ROI analysis, the generator."""

    source: str
    subjects: tuple[str, ...]
    low_level: tuple[str, ...]
    high_level: tuple[str, ...]
    generator: str
    root: str = "results/god_fmri"

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.low_level, *self.high_level)

    @property
    def embedded_features(self) -> tuple[str, ...]:
        """Features computed from the images (the ``simulated_*`` ones come from the truth)."""
        return tuple(f for f in self.features if not f.startswith("simulated_"))

    @property
    def bids(self) -> str:
        return f"{self.root}/bids"

    @property
    def stimuli(self) -> str:
        return f"{self.root}/stimuli"

    @classmethod
    def from_config(cls, fmri: dict) -> FmriPlan:
        from brainlatent.models.generator import check_generator

        check_generator(fmri["generator"])
        if fmri["source"] == "download" and not fmri.get("images_dir"):
            raise ConfigError(
                "god_fmri.source is 'download' but god_fmri.images_dir is null: GOD's stimuli "
                "are ImageNet images, shared on request by the Kamitani lab "
                "(github.com/KamitaniLab/GenericObjectDecoding); put them in a folder and set "
                "the key"
            )
        weights = fmri["roi_weights"]
        for feature in (*weights["low_level"], *weights["high_level"]):
            if feature.startswith("simulated_") and fmri["source"] != "simulate":
                raise ConfigError(
                    f"god_fmri.roi_weights: '{feature}' is the simulation's ground truth, which "
                    "only exists with god_fmri.source 'simulate'; use image models "
                    "(e.g. vgg19, clip)"
                )
        return cls(
            source=fmri["source"],
            subjects=tuple(fmri["subjects"]),
            low_level=tuple(weights["low_level"]),
            high_level=tuple(weights["high_level"]),
            generator=fmri["generator"]["kind"],
        )


@dataclass(frozen=True)
class RecordingPlan:
    """One of your own recordings: its settings, the file read, and every file it yields.

    ``settings`` is the ``recording`` section with this recording's overrides
    (``recordings.<name>``) merged in, and ``cebra`` resolved from its preset.
    """

    name: str
    settings: Mapping
    file: str
    cebra_embeddings: Mapping[tuple[str, int], str]  # (method, seed) -> .npz, one job each
    pca_embedding: str | None  # written by the decoding step
    # (CEBRA method, input width as wildcard text) -> its validation curve (one job each);
    # PCA and raw choose their width in their own jobs (a kNN fit per width)
    selection_curves: Mapping[tuple[str, str], str]
    figure_embeddings: tuple[str, ...]

    @property
    def root(self) -> str:
        return f"{RECORDING_ROOT}/{self.name}"

    @property
    def metrics(self) -> str:
        return f"{self.root}/metrics/decoding.parquet"

    @property
    def consistency(self) -> str:
        return f"{self.root}/metrics/consistency.parquet"

    @property
    def selection(self) -> str:
        return f"{self.root}/metrics/selection.parquet"

    def curves_of(self, method: str) -> list[str]:
        """The validation curves a CEBRA method's width and iterations are chosen on."""
        return [path for (m, _), path in self.selection_curves.items() if m == method]

    @classmethod
    def from_config(cls, name: str, recording: dict, resolve) -> RecordingPlan:
        where = f"recordings.{name}"
        if recording["source"] == "file" and recording["path"] is None:
            raise ConfigError(
                f"{where}: source is 'file' but path is null: point it at an .nwb "
                "file or an .npz with arrays neural (time × neurons) and behavior (time × d)"
            )
        root = f"{RECORDING_ROOT}/{name}"
        file = (
            f"{root}/simulated/recording.nwb"
            if recording["source"] == "simulate"
            else resolve(recording["path"])
        )
        methods, seeds = recording["methods"], recording["seeds"]
        cebra = {
            (method, seed): f"{root}/embeddings/{method}_seed{seed}.npz"
            for method in methods
            if method in RECORDING_SEEDED
            for seed in seeds
        }
        pca = f"{root}/embeddings/pca.npz" if "pca" in methods else None
        if not cebra and pca is None:
            raise ConfigError(
                f"{where}: methods must include at least one embedding (cebra_behavior, "
                f"cebra_time or pca) besides raw; got {methods}"
            )
        curves = {}
        if recording["input_smoothing_s"] == "auto":
            widths = [_width(w) for w in recording["selection"]["smoothings_s"]]
            if len(set(widths)) != len(widths):
                raise ConfigError(f"{where}: selection.smoothings_s repeats a width: {widths}")
            curves = {
                (method, w): f"{root}/selection/{method}_input_{w}.parquet"
                for method in methods
                if method in RECORDING_SEEDED
                for w in widths
            }
        # The figure shows the CEBRA embeddings of the first seed, else PCA.
        figure = tuple(p for (_, seed), p in cebra.items() if seed == seeds[0]) or (pca,)
        settings = {**recording, "cebra": cebra_params(recording["cebra"], where)}
        return cls(
            name=name,
            settings=MappingProxyType(settings),
            file=file,
            cebra_embeddings=_frozen(cebra),
            pca_embedding=pca,
            selection_curves=_frozen(curves),
            figure_embeddings=figure,
        )


@dataclass(frozen=True)
class MotorCohort:
    """Sessions of one animal compared across days: the files read and the files made.

    The first ``n_train_sessions`` by date train the cross-session models; the dates are
    read from the files at run time, so a cohort here is only names and paths.
    """

    name: str
    sessions: Mapping[str, str]  # session name -> NWB file read, in the config's order
    downloads: Mapping[str, str]  # session name -> its path in the manifest (download)
    simulated: bool
    settings: Mapping  # the `motor` section
    figure: str
    # The largest session file (MiB) known when planning: the manifest's sizes, or your own
    # files' on disk; 0 for simulated sessions (written by the run).
    largest_mb: float = 0.0

    @property
    def root(self) -> str:
        return f"{MOTOR_ROOT}/{self.name}"

    def trials(self, session: str) -> str:
        return f"{self.root}/trials/{session}.npz"

    @property
    def all_trials(self) -> list[str]:
        return [self.trials(session) for session in self.sessions]

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.settings["methods"])

    @property
    def jobs(self) -> tuple[str, ...]:
        """The scoring jobs this cohort's methods need, in a fixed order."""
        needed = {MOTOR_JOBS[m] for m in self.methods} | {"baselines"}  # + the trajectories
        return tuple(job for job in ("baselines", "cebra", "sable") if job in needed)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(self.settings["seeds"])

    @property
    def tables(self) -> list[str]:
        """The metrics tables of this cohort's jobs (SABLE: one per seed)."""
        names = {"baselines": ["baselines"], "cebra": ["cebra"]}
        names["sable"] = [f"sable_seed{seed}" for seed in self.seeds]
        return [f"{self.root}/metrics/{name}.parquet" for job in self.jobs for name in names[job]]

    @property
    def metrics(self) -> str:
        return f"{self.root}/metrics/cross_session.parquet"

    @property
    def trajectories(self) -> str:
        """Per-target latent trajectories before/after alignment (the figure's lower row)."""
        return f"{self.root}/metrics/trajectories.npz"


@dataclass(frozen=True)
class MotorPlan:
    """Cross-session decoding of hand velocity (SABLE): cohorts of the `motor` section."""

    source: str
    cohorts: Mapping[str, MotorCohort]

    @classmethod
    def from_config(cls, motor: dict, resolve) -> MotorPlan:
        _check_motor_settings(motor, "motor")
        source = motor["source"]
        cohorts = {}
        if source == "simulate":
            sim = motor["simulate"]
            subject = sim["subject"]
            days = sim["days"]
            if sorted(set(days)) != list(days):
                raise ConfigError(
                    f"motor.simulate.days must be increasing and distinct, got {days}"
                )
            names = [
                f"sub-{subject}_ses-CO-{MOTOR_SIMULATED_START + timedelta(days=d):%Y%m%d}"
                for d in days
            ]
            cohorts[f"sub-{subject}"] = _cohort(f"sub-{subject}", names, motor, simulated=True)
        else:
            from brainlatent.datasets.manifest import read_manifest
            from brainlatent.datasets.motor_cortex import select_sessions

            selection = motor["sessions"]
            manifest = read_manifest(resolve(motor["manifest"]))
            if isinstance(selection, list):
                unknown = sorted(set(selection) - set(manifest["path"]))
                if unknown or not selection:
                    raise ConfigError(
                        f"motor.sessions: {unknown or 'an empty list'} "
                        f"{'are not in' if unknown else 'selects nothing from'} "
                        f"{motor['manifest']}"
                    )
                paths = list(selection)
            else:
                paths = select_sessions(
                    manifest,
                    subjects=selection.get("subjects"),
                    tasks=selection.get("tasks") or ["CO"],
                    dates=selection.get("dates"),
                )
            by_subject: dict[str, list[str]] = {}
            for path in paths:
                by_subject.setdefault(path.split("/")[0], []).append(path)
            for subject_dir, subject_paths in by_subject.items():
                names = [Path(p).name.split("_behavior")[0] for p in subject_paths]
                cohort = _cohort(subject_dir, names, motor, simulated=False)
                downloads = dict(zip(names, subject_paths, strict=True))
                cohorts[subject_dir] = MotorCohort(
                    **{
                        **cohort.__dict__,
                        "downloads": _frozen(downloads),
                        "largest_mb": max(_sizes_mb(manifest, downloads).values()),
                    }
                )
        return cls(source=source, cohorts=_frozen(cohorts))


def _cohort(name: str, sessions: list[str], motor: Mapping, simulated: bool) -> MotorCohort:
    root = f"{MOTOR_ROOT}/{name}"
    need = motor["n_train_sessions"] + 1
    if len(sessions) < need:
        raise ConfigError(
            f"motor: {name} has {len(sessions)} sessions but n_train_sessions is "
            f"{motor['n_train_sessions']}: at least {need} are needed (one to test on)"
        )
    files = {s: f"{root}/nwb/{s}_behavior+ecephys.nwb" for s in sessions}
    return MotorCohort(
        name=name,
        sessions=_frozen(files),
        downloads=_frozen({}),
        simulated=simulated,
        settings=MappingProxyType(dict(motor)),
        figure="motor_cross_session",
    )


def _sizes_mb(manifest, selected: Mapping[str, str]) -> dict[str, float]:
    """Each selected file's size in MiB, from the manifest (name -> manifest path)."""
    size = dict(zip(manifest["path"], manifest["size"], strict=True))
    return {name: int(size[path]) / 2**20 for name, path in selected.items()}


def _check_motor_settings(motor: Mapping, where: str) -> None:
    start, stop = motor["window_s"]
    try:  # bin_trials' own rule, before any job runs
        n_window_bins(motor["bin_s"], (start, stop))
    except ValueError as error:
        raise ConfigError(f"{where}.window_s, {where}.bin_s: {error}") from None
    if motor.get("align", "movement_onset") == "go_cue":
        if not start < stop or stop <= 0:
            raise ConfigError(
                f"{where}.window_s: [{start}, {stop}] must end after the go cue it is "
                "aligned on (e.g. [0.0, 0.8])"
            )
    elif not start < 0 < stop:
        raise ConfigError(
            f"{where}.window_s: [{start}, {stop}] must start before movement onset and end "
            "after it (e.g. [-0.3, 0.5])"
        )
    if not motor["methods"]:
        raise ConfigError(f"{where}.methods: give at least one method")


def motor_recording_cohort(name: str, recording: Mapping, motor: Mapping, resolve) -> MotorCohort:
    """Your own chronic sessions (``recordings.<name>.sessions``): a cohort of the motor chain.

    Each file is an NWB session in the DANDI 000688 layout (units with electrodes, cursor
    kinematics in a behavior module, a trials table with targets); its session name is the
    file's stem, so two files must not share one.
    """
    where = f"recordings.{name}.sessions"
    if recording["source"] != "file":
        raise ConfigError(f"{where}: sessions are your own files; set source to 'file'")
    files = [resolve(p) for p in recording["sessions"]]
    stems = [re.sub(r"[^A-Za-z0-9_\-]", "_", Path(p).name.split(".")[0]) for p in files]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise ConfigError(f"{where}: file names {repeated} repeat; each session needs its own")
    cohort = _cohort(name, stems, motor, simulated=False)
    return MotorCohort(
        **{
            **cohort.__dict__,
            "sessions": _frozen(dict(zip(stems, files, strict=True))),
            "figure": f"motor_cross_session_{name}",
            # a missing file is named by the job that reads it
            "largest_mb": max(
                (Path(f).stat().st_size / 2**20 for f in files if Path(f).is_file()),
                default=0.0,
            ),
        }
    )


def _width(value) -> str:
    """An input width (s) as the text of its file name: ``0``, ``0.25``."""
    return f"{float(value):g}"


def cebra_params(cebra: Mapping, where: str = "recording") -> dict:
    """The CEBRA parameters of a recording: its preset's, with every non-null key on top."""
    preset = cebra.get("preset", "quick")
    if preset not in RECORDING_CEBRA_PRESETS:
        raise ConfigError(
            f"{where}.cebra.preset: unknown preset {preset!r}; "
            f"expected one of {sorted(RECORDING_CEBRA_PRESETS)}"
        )
    given = {k: v for k, v in cebra.items() if k != "preset" and v is not None}
    return {**RECORDING_CEBRA_PRESETS[preset], **given}


def recording_settings(config: dict, schema: dict | None = None) -> dict[str, dict]:
    """Each recording's settings: ``recordings.<name>`` merged over the ``recording`` section.

    ``recordings`` null gives one recording, named after its file's stem (file mode) or
    ``place_cells_<preset>`` (simulated). Override keys are checked against the section's
    (a typo is a ConfigError with a hint); with ``schema``, each merged recording is
    validated against the section's schema, errors naming ``recordings.<name>``.
    """
    base = config["recording"]
    overrides = config.get("recordings")
    if overrides is None:
        if base["source"] == "simulate":
            name = f"place_cells_{base['simulate']['preset']}"
        else:
            stem = Path(str(base["path"] or "recording")).stem
            name = re.sub(r"\W", "_", stem)
            name = name if re.match(r"[A-Za-z]", name) else f"recording_{name}"
        overrides = {name: {}}
    if not overrides:
        raise ConfigError("recordings: give at least one recording, or null for `recording` alone")
    section = (schema or {}).get("properties", {}).get("recording")
    merged = {}
    for name, override in overrides.items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(name)):
            raise ConfigError(
                f"recordings: the name {name!r} must start with a letter and hold only "
                "letters, digits and underscores (it names folders, rules and figures)"
            )
        override = override or {}
        if not isinstance(override, dict):
            raise ConfigError(f"recordings.{name}: expected a mapping of `recording` keys")
        if section is not None:
            check_keys(override, section, prefix=f"recordings.{name}.")
        else:
            unknown = sorted(set(override) - set(base))
            if unknown:
                raise ConfigError(f"recordings.{name}: unknown keys {unknown}")
        merged[name] = _deep_merge(base, override)
        if section is not None:
            validate_config(merged[name], section, f"recordings.{name}", fill_defaults=False)
    return merged


def _deep_merge(base: Mapping, override: Mapping) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            _deep_merge(base[key], value)
            if isinstance(value, Mapping) and isinstance(base.get(key), Mapping)
            else value
        )
    return out


@dataclass(frozen=True)
class Figure:
    """One figure: ``plot_<kind>`` reads ``inputs`` (each passed as ``--<key> FILES``) and
    ``args`` (extra command-line words) and writes ``results/figures/<name>.{pdf,png}``."""

    name: str
    category: str
    inputs: Mapping[str, tuple[str, ...]]
    args: tuple[str, ...] = ()
    script: str | None = None  # plot_<script>.py and report/<script>.rst (default: the name)

    @property
    def kind(self) -> str:
        """The plot script's and caption's name (``plot_<kind>.py``, ``report/<kind>.rst``)."""
        return self.script or self.name

    @property
    def outputs(self) -> tuple[str, str]:
        return (f"results/figures/{self.name}.pdf", f"results/figures/{self.name}.png")

    @property
    def shell_args(self) -> str:
        """The extra arguments, quoted, each after a space."""
        return "".join(f" {shlex.quote(str(arg))}" for arg in self.args)


def simulated_note(source: str, what: str) -> tuple[str, ...]:
    """``--note`` for a figure of a chain whose data come from the embedded simulator
    (a line of its title, so a copy taken out of the report still says so)."""
    if source != "simulate":
        return ()
    return ("--note", f"Simulated data: {what}, written by the embedded simulator")


@dataclass(frozen=True)
class Plan:
    """Everything a config builds. Build it with :meth:`from_config`."""

    base: Path
    datasets: tuple[str, ...]
    meg: MegPlan
    calcium: CalciumPlan
    fmri: FmriPlan
    recordings: Mapping[str, RecordingPlan]  # name -> plan, in the config's order
    motor: MotorPlan
    # recordings with `sessions`: your own chronic sessions through the motor chain
    recording_cohorts: Mapping[str, MotorCohort]
    weights: Mapping[str, str]  # pretrained model -> resolved weights path
    weights_to_fetch: Mapping[str, str]  # resolved path not on disk yet -> model
    benchmark_results: tuple[str, ...] = field(default=())

    # -- construction ------------------------------------------------------

    @classmethod
    def from_config(
        cls, config: dict, base: str | Path, schema: dict | str | Path | None = None
    ) -> Plan:
        """Check ``config`` (with its schema defaults filled in) and derive what it builds.

        ``base`` is the workflow's folder: relative config paths are resolved against it,
        and ``make bench`` results are found under it. ``schema`` (a path or the loaded
        schema), when given, first rejects unknown keys with a did-you-mean hint.
        """
        base = Path(base)
        if schema is not None:
            schema = schema if isinstance(schema, dict) else load_schema(schema)
            check_keys(config, schema)

        def resolve(path):
            return str(path if path is None or Path(path).is_absolute() else base / path)

        meg = MegPlan.from_config(config["things_meg"])
        fmri = FmriPlan.from_config(config["god_fmri"])
        weights, to_fetch = _pretrained(config["things_meg"]["weights"], meg, fmri, resolve)
        recordings = recording_settings(config, schema)
        cohorts = {
            name: motor_recording_cohort(name, settings, config["motor"], resolve)
            for name, settings in recordings.items()
            if settings.get("sessions")
        }
        if config.get("recordings") and "recording" not in config["datasets"]:
            # after the recordings' own checks, whose errors are exact
            raise ConfigError(
                f"recordings: {sorted(config['recordings'])} would not run: `recording` is not "
                "in datasets (add it: datasets: [..., recording])"
            )
        return cls(
            base=base,
            datasets=tuple(config["datasets"]),
            meg=meg,
            calcium=CalciumPlan.from_config(config["allen_calcium"], resolve),
            fmri=fmri,
            recordings=_frozen(
                {
                    name: RecordingPlan.from_config(name, settings, resolve)
                    for name, settings in recordings.items()
                    if name not in cohorts
                }
            ),
            motor=MotorPlan.from_config(config["motor"], resolve),
            recording_cohorts=_frozen(cohorts),
            weights=_frozen(weights),
            weights_to_fetch=_frozen(to_fetch),
            benchmark_results=tuple(
                sorted(str(p) for p in (base / "benchmarks" / "results").glob("*.json"))
            ),
        )

    @property
    def motor_cohorts(self) -> Mapping[str, MotorCohort]:
        """Every cohort of the motor chain: the `motor` section's and your recordings'."""
        return _frozen({**self.motor.cohorts, **self.recording_cohorts})

    def resolve(self, path: str | Path | None) -> str | None:
        """A config path relative to the workflow's folder, not the working directory."""
        if path is None:
            return None
        return str(path if Path(path).is_absolute() else self.base / path)

    # -- figures and targets -------------------------------------------------

    @property
    def figures(self) -> tuple[Figure, ...]:
        """Every figure rule of the workflow (built or not by this config's targets)."""
        meg, calcium, fmri = self.meg, self.calcium, self.fmri
        embedding = calcium.embedding_pattern
        kinds = calcium.embedding_kinds
        first = calcium.embedded_mice[0]
        fmri_subject = f"{fmri.root}/sub-{{subject}}"
        meg_note = simulated_note(meg.source, "MEG in the layout of OpenNeuro ds004212")
        calcium_note = simulated_note(
            calcium.source, "calcium imaging in the layout of DANDI 000728"
        )
        fmri_note = simulated_note(fmri.source, "fMRI in the layout of OpenNeuro ds001246")
        motor_note = simulated_note(self.motor.source, "spikes in the layout of DANDI 000688")
        return (
            Figure(
                "meg_retrieval",
                "THINGS-MEG",
                {"metrics": (f"{meg.root}/metrics/retrieval.parquet",)},
                meg_note,
            ),
            Figure(
                "meg_timecourse",
                "THINGS-MEG",
                {"metrics": (f"{meg.root}/metrics/timecourse.parquet",)},
                meg_note,
            ),
            Figure(
                "meg_generation",
                "THINGS-MEG",
                {
                    "metrics": (f"{meg.root}/metrics/generation.parquet",),
                    "timecourse": (f"{meg.root}/metrics/generation_timecourse.parquet",),
                    "images": tuple(meg.generation_images(s) for s in sorted(meg.subjects)),
                },
                meg_note,
            ),
            Figure(
                "calcium_frame_decoding",
                "Allen calcium (CEBRA)",
                {"metrics": (f"{calcium.root}/metrics/frame_decoding.parquet",)},
                calcium_note,
            ),
            Figure(
                "calcium_embedding",
                "Allen calcium (CEBRA)",
                {"embeddings": tuple(embedding.format(mouse=first, kind=k) for k in kinds)},
                ("--kinds", *kinds, "--mouse", first, *calcium_note),
            ),
            Figure(
                "calcium_consistency",
                "Allen calcium (CEBRA)",
                {"metrics": (f"{calcium.root}/metrics/consistency.parquet",)},
                calcium_note,
            ),
            Figure(
                "daenr",
                "Allen calcium (CEBRA)",
                {
                    "metrics": (f"{calcium.root}/daenr/metrics.parquet",),
                    "reconstructions": (f"{calcium.root}/daenr/reconstructions.npz",),
                },
                calcium_note,
            ),
            Figure(
                "synthetic_latents",
                "Synthetic latents (CEBRA)",
                {
                    "metrics": ("results/synthetic/metrics/latents.parquet",),
                    "paper_values": (self.paper_values,),
                },
            ),
            *(
                Figure(
                    f"fault_tolerance_{name}",
                    "Fault-tolerant neural networks (grid code)",
                    {"metrics": (table,), "paper_values": (self.paper_values,)},
                )
                for name, table in FAULT_TOLERANCE_TABLES.items()
            ),
            Figure(
                "fmri_reconstruction",
                "GOD fMRI",
                {
                    "metrics": tuple(
                        f"{fmri_subject}/decode/metrics.parquet".format(subject=s)
                        for s in fmri.subjects
                    ),
                    "reconstructions": tuple(
                        f"{fmri_subject}/decode/reconstructions.npz".format(subject=s)
                        for s in fmri.subjects
                    ),
                },
                fmri_note,
            ),
            Figure(
                "fmri_roi_weights",
                "GOD fMRI",
                {
                    "tables": tuple(
                        f"{fmri_subject}/roi_weights.parquet".format(subject=s)
                        for s in fmri.subjects
                    )
                },
                fmri_note,
            ),
            Figure(
                "motor_cross_session",
                "Motor cortex across sessions (SABLE)",
                {
                    "metrics": tuple(c.metrics for c in self.motor.cohorts.values()),
                    "trajectories": tuple(c.trajectories for c in self.motor.cohorts.values()),
                },
                motor_note,
            ),
            *(
                Figure(
                    cohort.figure,
                    "Your recordings (cross-session)",
                    {"metrics": (cohort.metrics,), "trajectories": (cohort.trajectories,)},
                    script="motor_cross_session",
                )
                for cohort in self.recording_cohorts.values()
            ),
            *(
                Figure(
                    f"recording_embedding_{name}",
                    "Your recordings (CEBRA)",
                    {"metrics": (recording.metrics,), "embeddings": recording.figure_embeddings},
                    simulated_note(recording.settings["source"], "place cells on a linear track"),
                    script="recording_embedding",
                )
                for name, recording in self.recordings.items()
            ),
        )

    @property
    def built_figures(self) -> tuple[str, ...]:
        """Names of the figures this config's default target builds."""
        names = []
        if "things_meg" in self.datasets:
            names += ["meg_retrieval", "meg_timecourse"]
            if self.meg.generation:
                names.append("meg_generation")
        if "allen_calcium" in self.datasets:
            names += ["calcium_frame_decoding", "calcium_embedding"]
            if len(self.calcium.embedded_mice) > 1:
                names.append("calcium_consistency")
            # DAE-NR needs natural scenes: StimB sessions, or simulated scene repeats.
            if self.calcium.scene_mice:
                names.append("daenr")
        if "synthetic" in self.datasets:
            names.append("synthetic_latents")
        if "fault_tolerance" in self.datasets:
            names += [f"fault_tolerance_{name}" for name in FAULT_TOLERANCE_TABLES]
        if "god_fmri" in self.datasets:
            names += ["fmri_reconstruction", "fmri_roi_weights"]
        if "motor" in self.datasets:
            names.append("motor_cross_session")
        if "recording" in self.datasets:
            names += [f"recording_embedding_{name}" for name in self.recordings]
            names += [cohort.figure for cohort in self.recording_cohorts.values()]
        return tuple(names)

    @property
    def paper_values(self) -> str:
        """The papers' numbers (:data:`PAPER_VALUES`), resolved against the workflow's folder."""
        return str(self.base / PAPER_VALUES)

    @property
    def scorecard_tables(self) -> tuple[str, ...]:
        """The metrics tables of the papers' figures this config builds (not your
        recordings'): what the reproduction scorecard compares with the papers."""
        by_name = {figure.name: figure for figure in self.figures}
        own = {f"recording_embedding_{name}" for name in self.recordings}
        own |= {cohort.figure for cohort in self.recording_cohorts.values()}
        tables = [
            path
            for name in self.built_figures
            if name not in own
            for path in by_name[name].inputs.get("metrics", ())
        ]
        return tuple(dict.fromkeys(tables))

    @property
    def targets(self) -> tuple[str, ...]:
        """The default target's files: each built figure, the reproduction scorecard when a
        paper's chain runs, and the benchmark page after ``make bench``."""
        by_name = {figure.name: figure for figure in self.figures}
        files = [path for name in self.built_figures for path in by_name[name].outputs]
        if self.scorecard_tables:
            files += SCORECARD
        if self.benchmark_results:
            files.append("results/benchmarks/benchmarks.html")
        return tuple(files)


def _pretrained(
    weights: dict, meg: MegPlan, fmri: FmriPlan, resolve
) -> tuple[dict[str, str], dict[str, str]]:
    """Weights of the pretrained models used: ``{model: path}`` and those to download."""
    high_level = (meg.generation_high_level,) if meg.generation else ()
    used = sorted(m for m in {*meg.image_models, *fmri.features, *high_level} if m in PRETRAINED)
    for model in used:
        if weights.get(model) is None:
            raise ConfigError(
                f"image model '{model}' needs pretrained weights: set things_meg.weights.{model} "
                f"to their path (on disk, or where download_weights should put them) or stop "
                f"using '{model}' (things_meg.image_models, god_fmri.roi_weights, "
                f"things_meg.generation.high_level)."
            )
    paths = {m: resolve(weights[m]) for m in used}
    return paths, {p: m for m, p in paths.items() if not Path(p).exists()}
