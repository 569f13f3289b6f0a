import copy
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from brainlatent import ConfigError
from brainlatent.config import check_keys, load_schema, validate_config

from ..conftest import merged

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
CONFIGS = sorted((REPO / "config").rglob("*.yaml"))


def load(path):
    return yaml.safe_load(Path(path).read_text())


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    config = merged(load(path), load(REPO / "config" / "config.yaml"))
    check_keys(config, SCHEMA)
    jsonschema.validate(config, SCHEMA)


def test_default_config_sets_every_key():
    """Some Snakemake 9 releases drop schema defaults in cluster jobs: keep config.yaml whole."""
    config = load(REPO / "config" / "config.yaml")

    def missing(schema, value, prefix=""):
        for key, sub in schema.get("properties", {}).items():
            if key not in value:
                yield prefix + key
            elif isinstance(value[key], dict):
                yield from missing(sub, value[key], f"{prefix}{key}.")

    assert list(missing(SCHEMA, config)) == []


def test_schema_defaults_are_config_yaml_values():
    """The schema documents each key's default: config.yaml, loaded under every config."""
    config = load(REPO / "config" / "config.yaml")

    def differing(schema, value, prefix=""):
        for key, sub in schema.get("properties", {}).items():
            if key not in value:
                continue
            if isinstance(value[key], dict):
                yield from differing(sub, value[key], f"{prefix}{key}.")
            elif "default" in sub and sub["default"] != value[key]:
                yield f"{prefix}{key}: schema {sub['default']!r}, config.yaml {value[key]!r}"

    assert list(differing(SCHEMA, config)) == []


def test_every_key_is_documented():
    def undocumented(schema, prefix=""):
        for key, sub in schema.get("properties", {}).items():
            if not sub.get("description"):
                yield prefix + key
            yield from undocumented(sub, f"{prefix}{key}.")

    assert list(undocumented(SCHEMA)) == []


def test_schema_uses_only_json_schema_keywords():
    """A comma in an unquoted flow-mapping description splits it: the rest becomes a key that
    JSON Schema ignores, and the description is cut short without any error."""
    known = set(jsonschema.Draft202012Validator.VALIDATORS) | {"$schema", "description", "default"}
    values = {"default", "enum", "const"}  # their values are data, not schemas

    def unknown(node, where):
        for key, sub in node.items():
            if key not in known:
                yield f"{where}: {key!r}"
            elif key == "properties":
                for name, child in sub.items():
                    yield from unknown(child, f"{where}.{name}")
            elif key not in values and isinstance(sub, dict):
                yield from unknown(sub, f"{where}/{key}")
            elif key not in values and isinstance(sub, list):
                for i, child in enumerate(sub):
                    if isinstance(child, dict):
                        yield from unknown(child, f"{where}/{key}[{i}]")

    assert list(unknown(SCHEMA, "config")) == []


def test_misspelt_key_is_named_with_a_hint():
    config = copy.deepcopy(load(REPO / "config" / "config.yaml"))
    config["things_meg"]["simulate"]["snrr"] = config["things_meg"]["simulate"].pop("snr")
    with pytest.raises(
        ConfigError, match=r"'things_meg\.simulate\.snrr'.*did you mean 'things_meg\.simulate\.snr'"
    ):
        check_keys(config, SCHEMA)


@pytest.mark.parametrize(
    ("section", "value", "named"),
    [
        # a filter (one of: a list of files, or a mapping)
        (("allen_calcium", "sessions"), {"session_type": ["StimB"]}, "session_types"),
        (("motor", "sessions"), {"subject": ["C"], "tasks": ["CO"]}, "subjects"),
        # CEBRA's settings of the synthetic benchmark, passed to cebra.CEBRA as they are
        (("synthetic", "cebra"), {"max_iteration": 5}, "max_iterations"),
    ],
)
def test_misspelt_key_inside_a_filter_or_settings_is_named(section, value, named):
    config = copy.deepcopy(load(REPO / "config" / "config.yaml"))
    config[section[0]][section[1]] = value
    wrong = next(iter(value))
    dotted = re.escape(f"{section[0]}.{section[1]}.")
    with pytest.raises(ConfigError, match=rf"'{dotted}{wrong}'.*did you mean '{dotted}{named}'"):
        check_keys(config, SCHEMA)


def test_wrong_type_fails_validation():
    config = copy.deepcopy(load(REPO / "config" / "config.yaml"))
    config["things_meg"]["subjects"] = ["BIGMEG9"]
    with pytest.raises(jsonschema.ValidationError, match="BIGMEG9"):
        jsonschema.validate(config, SCHEMA)


# Out-of-range values, each rejected by the schema with its key named: (dotted key, bad value).
BAD_VALUES = [
    ("things_meg.ridge.alphas", [0.0, 1.0]),
    ("things_meg.ridge.alphas", [-1.0]),
    ("things_meg.ridge.alphas", []),
    ("god_fmri.ridge.alphas", [0]),
    ("god_fmri.ridge.alphas", [10.0, -10.0]),
    ("things_meg.evaluate.window_length", 0),
    ("things_meg.evaluate.window_length", -0.25),
    ("things_meg.evaluate.window_step", 0.0),
    ("things_meg.evaluate.window_step", -0.1),
    ("allen_calcium.decoding.window", -1),
    ("things_meg.evaluate.top_k", [0]),
    ("things_meg.evaluate.top_k", []),
    ("things_meg.evaluate.top_k", [1, 1]),
    ("things_meg.image_models", ["resnet50"]),
    ("things_meg.image_models", []),
    ("things_meg.subjects", []),
    ("god_fmri.subjects", []),
    ("allen_calcium.mice", []),
    ("things_meg.sessions", []),
    ("things_meg.sessions", [0]),
    ("things_meg.sessions", [13]),
    ("things_meg.runs", []),
    ("things_meg.runs", [11]),
    ("things_meg.sfreq", 0),
    ("things_meg.preprocess.sfreq", -120.0),
    ("things_meg.preprocess.l_freq", -0.1),
    ("things_meg.preprocess.h_freq", 0),
    ("things_meg.preprocess.clip", 0),
    ("things_meg.preprocess.baseline", [-0.5]),
    ("things_meg.brain_module.lr", 0),
    ("things_meg.brain_module.lr", -0.001),
    ("things_meg.brain_module.batch_size", 0),
    ("things_meg.brain_module.batch_size", -64),
    ("allen_calcium.cebra.learning_rate", -0.002),
    ("allen_calcium.cebra.batch_size", 1),
    ("allen_calcium.daenr.lr", 0),
    ("allen_calcium.daenr.batch_size", 0),
    ("allen_calcium.decoding.neuron_counts", [10, 10]),
    ("allen_calcium.decoding.seeds", []),
    ("god_fmri.simulate.noise_global", 1.0),
    ("god_fmri.simulate.signal_spread", -0.5),
    ("god_fmri.generator.lr", -0.003),
    ("god_fmri.generator.batch_size", 0),
    ("recording.cebra.learning_rate", 0),
    ("recording.cebra.batch_size", -512),
    ("recording.path", ""),
    ("recording.bayesian.n_bins", 1),
    ("recording.bayesian.tuning_sigma_bins", -1.0),
    ("recording.bayesian.prior", "flat"),
    ("synthetic.seeds", [0, 0]),
    ("motor.artifacts.max_acceleration", 0),
    ("motor.artifacts.max_excursion", "10 cm"),
    ("motor.simulate.artifacts_per_minute", -0.5),
    ("motor.align", "target_on"),
    ("things_meg.stimuli_dir", ""),
    ("device", "gpu"),
    ("device", "cuda:x"),
]


def with_value(key: str, value) -> dict:
    """A deep copy of config/config.yaml with the dotted ``key`` set to ``value``."""
    config = copy.deepcopy(load(REPO / "config" / "config.yaml"))
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    assert last in node, f"{key} is not in config/config.yaml"
    node[last] = value
    return config


@pytest.mark.parametrize(("key", "value"), BAD_VALUES, ids=[f"{k}={v}" for k, v in BAD_VALUES])
def test_out_of_range_value_names_its_key(key, value):
    with pytest.raises(jsonschema.ValidationError) as error:
        jsonschema.validate(with_value(key, value), SCHEMA)
    keys = [part for part in error.value.path if isinstance(part, str)]  # drop list indices
    assert keys == key.split("."), error.value.message
    assert error.value.json_path.startswith(f"$.{key}")


@pytest.mark.parametrize(("key", "value"), BAD_VALUES, ids=[f"{k}={v}" for k, v in BAD_VALUES])
def test_workflow_validation_names_the_key(key, value):
    """What the workflow runs (workflow/rules/common.smk): the error quotes the key's path."""
    with pytest.raises(ConfigError, match=rf"^config {re.escape(key)}(\.\d+)?: "):
        validate_config(with_value(key, value), SCHEMA)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("fault_tolerance.bundle", 20, "config fault_tolerance.bundle: 20 must be odd"),
        ("allen_calcium.mice", [], "allen_calcium.mice: [] has 0 item(s); at least 1 needed"),
        ("motor.sable", None, "config motor.sable: null (an empty value) is not of type"),
        (
            "allen_calcium.cebra.model_architecture",
            "offset10-modle",
            "'offset10-modle' is not a cebra model name",
        ),
    ],
)
def test_validation_speaks_yaml(key, value, message):
    """jsonschema's "should not be valid under {'multipleOf': 2}" and Python's None, in the
    words of the YAML the user wrote."""
    with pytest.raises(ConfigError) as error:
        validate_config(with_value(key, value), SCHEMA)
    assert message in str(error.value)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_validation_fills_defaults_as_snakemake_does(path):
    """validate_config replaces snakemake.utils.validate (which re-parses the schema at every
    start): the same config comes out of both, with a default filled in where a key is left out."""
    from snakemake.utils import validate

    config = merged(load(path), load(REPO / "config" / "config.yaml"))
    del config["things_meg"]["evaluate"]["top_k"]  # has a default in the schema
    ours, theirs = copy.deepcopy(config), copy.deepcopy(config)
    validate_config(ours, SCHEMA)
    validate(theirs, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert ours == theirs
    default = SCHEMA["properties"]["things_meg"]["properties"]["evaluate"]["properties"]["top_k"]
    assert ours["things_meg"]["evaluate"]["top_k"] == default["default"]


@pytest.mark.parametrize(
    "section", ["things_meg.brain_module", "allen_calcium.cebra", "allen_calcium.daenr",
                "god_fmri.generator", "recording.cebra"],
)  # fmt: skip
def test_device_is_not_a_model_setting(section):
    """The device moved to the top-level execution key: a model section refuses it."""
    config = load(REPO / "config" / "config.yaml")
    node = config
    for part in section.split("."):
        node = node[part]
    node["device"] = "cpu"
    with pytest.raises(ConfigError, match=f"unknown config key '{section}.device'"):
        check_keys(config, SCHEMA)


def test_cebra_model_names_are_checked_at_plan_time_as_cebra_knows_them():
    """The schema's pattern (a plan that stops in 2 s, not in the first CEBRA job after the
    simulation) takes every model cebra registers and refuses the misspellings."""
    import cebra.models

    paths = [
        ("allen_calcium", "cebra"),
        ("synthetic", "cebra"),
        ("recording", "cebra"),
    ]
    for section, sub in paths:
        node = SCHEMA["properties"][section]["properties"][sub]["properties"]
        pattern = re.compile(node["model_architecture"]["pattern"])
        for name in cebra.models.get_options():
            assert pattern.fullmatch(name), (section, name)
        for typo in ("offset10-modle", "offset10model", "ofset10-model", "offset-model", ""):
            assert not pattern.fullmatch(typo), (section, typo)
