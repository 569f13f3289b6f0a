"""The config's checks: unknown keys with a hint, then the JSON schema with its defaults.

JSON-schema validation reports an unknown key as "additional properties are not
allowed"; :func:`check_keys` runs first and names the key's full path with a
did-you-mean hint, which is what a user with a typo needs. :func:`validate_config`
then checks every value and fills the schema's defaults.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from brainlatent.errors import ConfigError


def load_schema(path: str | Path) -> dict:
    """The schema as a dict (libyaml's parser when PyYAML has it: the 57 kB schema parses in
    0.01 s instead of 0.2 s, at every workflow start; the result is the same)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as f:
        return yaml.load(f, Loader=loader)


def check_keys(config: dict, schema: dict, prefix: str = "") -> None:
    """Raise :class:`ConfigError` for any key the schema does not declare.

    A value that may be a mapping or something else (``oneOf``: a list of files or a filter)
    is checked against the one mapping it may be, so a typo inside the filter is named too.
    """
    if isinstance(config, dict) and "properties" not in schema:
        mappings = [
            branch
            for branch in schema.get("oneOf", []) + schema.get("anyOf", [])
            if "properties" in branch
        ]
        if len(mappings) == 1:
            schema = mappings[0]
    properties = schema.get("properties")
    if not isinstance(config, dict) or properties is None:
        return
    for key, value in config.items():
        name = f"{prefix}{key}"
        if key not in properties:
            if schema.get("additionalProperties", True) is False:
                close = difflib.get_close_matches(str(key), list(properties), n=1)
                hint = f"; did you mean '{prefix}{close[0]}'?" if close else "."
                raise ConfigError(
                    f"unknown config key '{name}'{hint} Valid keys here: {sorted(properties)}"
                )
            continue
        check_keys(value, properties[key], prefix=f"{name}.")


def validate_config(
    config: dict, schema: dict, where: str | None = None, fill_defaults: bool = True
) -> dict:
    """Check ``config`` against the JSON schema and fill in its defaults, in place.

    What ``snakemake.utils.validate`` does (the jsonschema FAQ's default-filling
    validator), from the schema already loaded: Snakemake's re-reads the 57 kB YAML with
    PyYAML's pure-Python parser, 0.2-0.3 s at every workflow start. The error names the
    value's key path: ``config things_meg.brain_module.lr: 0 is less than ...`` for the
    whole config, ``<where>.<key>: ...`` for a section checked on its own (``where``).
    """
    from jsonschema import Draft202012Validator, ValidationError, validators

    properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, schema_properties, instance, subschema):
        if isinstance(instance, dict):
            for key, value in schema_properties.items():
                if "default" in value:
                    instance.setdefault(key, value["default"])
        yield from properties(validator, schema_properties, instance, subschema)

    checker = (
        validators.extend(Draft202012Validator, {"properties": set_defaults})
        if fill_defaults
        else Draft202012Validator
    )
    try:
        checker(schema).validate(config)
    except ValidationError as error:
        key = ".".join(str(part) for part in error.absolute_path)
        message = _plain(error)
        if where is None:
            raise ConfigError(f"config{' ' + key if key else ''}: {message}") from None
        raise ConfigError(f"{where}{'.' + key if key else ''}: {message}") from None
    return config


def _plain(error) -> str:
    """jsonschema's message in the words of the YAML the user wrote, where it has its own.

    "21 should not be valid under {'multipleOf': 2}" reads as "must be odd", a too-short
    list says how many items it needs, and Python's None is YAML's null.
    """
    value = "null" if error.instance is None else repr(error.instance)
    if error.validator == "not" and error.validator_value == {"multipleOf": 2}:
        return f"{value} must be odd"
    if error.validator == "minItems":
        return f"{value} has {len(error.instance)} item(s); at least {error.validator_value} needed"
    if error.validator == "type" and error.instance is None:
        return f"null (an empty value) is not of type {error.validator_value!r}"
    if error.validator == "pattern" and list(error.path)[-1:] == ["model_architecture"]:
        return (
            f"{value} is not a cebra model name (offset<N>-model..., resample-model, "
            "supervised<N>-model: cebra.models.get_options() lists them)"
        )
    return error.message
