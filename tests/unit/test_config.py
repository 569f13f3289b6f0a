import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from brainlatent import ConfigError
from brainlatent.config import check_keys, load_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
CONFIGS = sorted((REPO / "config").rglob("*.yaml"))


def load(path):
    return yaml.safe_load(Path(path).read_text())


def merged(overlay: dict, base: dict) -> dict:
    """Snakemake's merge of a --configfile onto config/config.yaml (nested dicts update)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(value, out[key])
        else:
            out[key] = value
    return out


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


def test_every_key_is_documented():
    def undocumented(schema, prefix=""):
        for key, sub in schema.get("properties", {}).items():
            if not sub.get("description"):
                yield prefix + key
            yield from undocumented(sub, f"{prefix}{key}.")

    assert list(undocumented(SCHEMA)) == []


def test_misspelt_key_is_named_with_a_hint():
    config = copy.deepcopy(load(REPO / "config" / "config.yaml"))
    config["things_meg"]["simulate"]["snrr"] = config["things_meg"]["simulate"].pop("snr")
    with pytest.raises(
        ConfigError, match=r"'things_meg\.simulate\.snrr'.*did you mean 'things_meg\.simulate\.snr'"
    ):
        check_keys(config, SCHEMA)


def test_wrong_type_fails_validation():
    config = copy.deepcopy(load(REPO / "config" / "config.yaml"))
    config["things_meg"]["subjects"] = ["BIGMEG9"]
    with pytest.raises(jsonschema.ValidationError, match="BIGMEG9"):
        jsonschema.validate(config, SCHEMA)
