"""The configuration reference (docs/configuration.md), written from the config's JSON schema.

The schema is the one place where a key's type, default, bounds and meaning are stated; the
page is generated from it so that the two cannot drift (``make docs`` rewrites it, and a test
fails when the committed page is not what the schema gives).

    python -m brainlatent.config_reference [--check] [OUTPUT]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from brainlatent.config import load_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULTS = REPO / "config" / "config.yaml"
PAGE = REPO / "docs" / "configuration.md"

_HEADER = """\
<!-- Generated from workflow/schemas/config.schema.yaml by `make docs`; do not edit. -->
# Configuration reference

*brainlatent documentation: [README](../README.md)*

Every key the workflow reads, from `workflow/schemas/config.schema.yaml`: its type, its
default (the value in `config/config.yaml`), the values allowed, and what it does. A config
file names only the keys it changes (`snakemake --configfile config/tests/tiny.yaml` merges
onto the default); an unknown key stops the run at once with a did-you-mean hint, and a value
out of bounds is named with what was expected.
"""


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.10g}"


def _literal(value) -> str:
    """A value as it is written in a config file (JSON flow style is valid YAML)."""
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _type(node: dict) -> str:
    if "oneOf" in node or "anyOf" in node:
        return " or ".join(_type(branch) for branch in node.get("oneOf", node.get("anyOf")))
    kinds = node.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    words = []
    for kind in kinds:
        if kind == "array" and isinstance(node.get("items"), dict):
            words.append(f"list of {_type(node['items'])}")
        elif kind == "object":
            words.append("mapping")
        else:
            words.append(str(kind))
    return " or ".join(words)


def _bounds(node: dict) -> list[str]:
    """What a value may be, in words: enums, ranges, patterns and list sizes."""
    out = []
    if "enum" in node:
        out.append("one of " + ", ".join(_literal(v) for v in node["enum"]))
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("multipleOf", "multiple of"),
    ):
        if key in node:
            out.append(f"{sign} {_number(node[key])}")
    if "pattern" in node:
        out.append(f"matches `{node['pattern']}`")
    if node.get("minLength", 0) == 1:
        out.append("not empty")
    elif node.get("minLength", 0) > 1:
        out.append(f"at least {node['minLength']} characters")
    if "minItems" in node and node["minItems"] > 0:
        out.append(f"at least {node['minItems']} item{'s' * (node['minItems'] > 1)}")
    if "maxItems" in node:
        out.append(f"at most {node['maxItems']} items")
    if node.get("uniqueItems"):
        out.append("no repeats")
    items = node.get("items")
    if isinstance(items, dict) and _bounds(items):
        out.append("each item " + ", ".join(_bounds(items)))
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        if "properties" not in branch and _bounds(branch):
            out.append(f"as {_type(branch)}: " + "; ".join(_bounds(branch)))
    return out


def _cell(text: str) -> str:
    """A table cell: one line; a pipe (in a pattern, say) must not end the cell, and outside
    code spans `<name>` is not an HTML tag nor `sigma*` an emphasis."""
    pieces = " ".join(str(text).split()).replace("|", "\\|").split("`")
    for i in range(0, len(pieces), 2):  # the even pieces are outside code spans
        pieces[i] = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", pieces[i]).replace("*", "\\*")
    return "`".join(pieces)


_ABSENT = object()


def _row(key: str, node: dict, value) -> tuple[str, str, str, str, str]:
    """One key: the default is the schema's, else the default config's value (the keys every
    config must set have none in the schema); a mapping's own row shows none."""
    if "default" in node:
        default = _literal(node["default"])
    elif value is _ABSENT or "properties" in node:
        default = ""
    else:
        default = _literal(value)
    return key, _type(node), default, "; ".join(_bounds(node)), node.get("description", "")


def _rows(node: dict, prefix: str, values):
    """A row for each key under ``node``, depth first; the keys of a mapping that may also be
    a list (``oneOf``) are listed under it."""
    properties = dict(node.get("properties", {}))
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        properties.update(branch.get("properties", {}))
    for name, sub in properties.items():
        value = values.get(name, _ABSENT) if isinstance(values, dict) else _ABSENT
        yield _row(f"{prefix}{name}", sub, value)
        yield from _rows(sub, f"{prefix}{name}.", value)


def render(schema: dict, defaults: dict) -> str:
    """The reference page: one section per top-level key, one table row per key.

    ``defaults`` is the default config (config/config.yaml), whose values stand in for the
    keys that the schema requires and so gives no default.
    """
    parts = [_HEADER]
    top = schema["properties"]
    plain = [name for name, sub in top.items() if "properties" not in sub]
    parts.append("## Top-level keys\n")
    parts.append(_table(_row(name, top[name], defaults.get(name, _ABSENT)) for name in plain))
    for name, sub in top.items():
        if name in plain:
            continue
        parts.append(f"## `{name}`\n\n{_cell(sub.get('description', ''))}\n")
        parts.append(_table(_rows(sub, f"{name}.", defaults.get(name, _ABSENT))))
    return "\n".join(parts)


def _table(rows) -> str:
    lines = ["| key | type | default | allowed | what it does |", "|---|---|---|---|---|"]
    for key, kind, default, allowed, description in rows:
        cells = [f"`{key}`", kind, default, allowed, description]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=PAGE)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if OUTPUT differs from the schema's page"
    )
    args = parser.parse_args(argv)
    page = render(load_schema(SCHEMA), load_schema(DEFAULTS))
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != page:
            stale = f"{args.output} is out of date with {SCHEMA.name}: run `make docs`"
            print(stale, file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
