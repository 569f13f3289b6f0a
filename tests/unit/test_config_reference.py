"""docs/configuration.md is the schema's page, and every key has its row."""

import re

from brainlatent import config_reference
from brainlatent.config import load_schema

SCHEMA = load_schema(config_reference.SCHEMA)
DEFAULTS = load_schema(config_reference.DEFAULTS)


def test_committed_page_is_the_schemas():
    page = config_reference.PAGE.read_text()
    assert page == config_reference.render(SCHEMA, DEFAULTS), (
        "docs/configuration.md is out of date with the schema: run `make docs`"
    )


def dotted_keys(node, prefix=""):
    properties = dict(node.get("properties", {}))
    for branch in node.get("oneOf", []):
        properties.update(branch.get("properties", {}))
    for name, sub in properties.items():
        yield prefix + name
        yield from dotted_keys(sub, f"{prefix}{name}.")


def table_rows(page):
    """The cells of each table row, split on the pipes that are not escaped."""
    for line in page.splitlines():
        if line.startswith("| `"):
            yield [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_one_row_per_key_with_five_cells():
    rows = list(table_rows(config_reference.render(SCHEMA, DEFAULTS)))
    assert all(len(cells) == 5 for cells in rows)
    sections = {name for name, sub in SCHEMA["properties"].items() if "properties" in sub}
    expected = [key for key in dotted_keys(SCHEMA) if key not in sections]
    assert sorted(cells[0].strip("`") for cells in rows) == sorted(expected)


def test_rows_say_type_default_bounds_and_meaning():
    page = config_reference.PAGE.read_text()
    rows = {cells[0].strip("`"): cells[1:] for cells in table_rows(page)}
    # a schema default, a range and a description
    kind, default, allowed, what = rows["things_meg.simulate.snr"]
    assert (kind, default, allowed) == ("number", "`0.065`", "> 0")
    assert what.startswith("RMS of the image-specific signal")
    # a required key has no schema default: the default config's value stands in
    assert rows["things_meg.subjects"][1] == '`["BIGMEG1", "BIGMEG2"]`'
    # a pattern's alternation is escaped, so it stays in one cell
    assert rows["device"][2] == r"matches `^(auto\|cpu\|cuda(:[0-9]+)?\|mps)$`"
    # one of two shapes, and the mapping's keys listed under it
    assert rows["motor.sessions"][0] == "list of string or mapping"
    assert "motor.sessions.subjects" in rows
    # outside code, a file name's placeholder is not read as an HTML tag
    assert "results/recording/&lt;name>/" in rows["recordings"][3]


def test_check_names_a_stale_page(tmp_path, capsys):
    stale = tmp_path / "configuration.md"
    stale.write_text(config_reference.PAGE.read_text().replace("Root seed", "Seed"))
    assert config_reference.main(["--check", str(stale)]) == 1
    assert "make docs" in capsys.readouterr().err
    assert config_reference.main([str(stale)]) == 0
    assert config_reference.main(["--check", str(stale)]) == 0
