"""What a config downloads, summed from the manifests, and the sizes the docs quote."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from brainlatent import ConfigError
from brainlatent.datasets.download_plan import download_plan, main, merged_config

REPO = Path(__file__).resolve().parents[2]


def test_real_laptop_downloads_its_subset():
    table = download_plan(merged_config(REPO / "config" / "real-laptop.yaml"))
    assert table.columns.tolist() == ["dataset", "files", "bytes"]
    files = dict(zip(table["dataset"], table["files"], strict=True))
    # one session's 10 CTF runs + sidecars; four StimB files; participant 01; 8 sessions of C
    assert files == {"things_meg": 354, "allen_calcium": 4, "god_fmri": 145, "motor": 8}
    assert 8e9 < table["bytes"].sum() < 12e9  # "about 10 GB" in the config's header


def test_docs_quote_the_real_configs_sizes():
    """docs/data.md's tables end in a total line per real config; the README names the sizes."""
    data = (REPO / "docs" / "data.md").read_text()
    readme = (REPO / "README.md").read_text()
    for name in ("real-laptop.yaml", "real.yaml"):
        table = download_plan(merged_config(REPO / "config" / name))
        total = f"{table['bytes'].sum() / 1e9:.1f} GB"
        line = next(
            (ln for ln in data.splitlines() if f"`config/{name}`" in ln and "total" in ln), ""
        )
        assert total in line, (
            f"docs/data.md's total line for config/{name} should say {total}: {line!r}"
        )
        quoted = re.findall(rf"`config/{re.escape(name)}` \([^)]*?([0-9.,]+ GB)\)", readme)
        assert quoted and set(quoted) == {total}, (
            f"README quotes config/{name} as {quoted}, not {total}"
        )


def test_simulated_config_downloads_nothing(capsys):
    assert download_plan(merged_config()).empty
    assert main([str(REPO / "config" / "tests" / "tiny.yaml")]) == 0
    assert "nothing to download" in capsys.readouterr().out


def test_unknown_key_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("motor: {sesions: {subjects: [C]}}\n")
    with pytest.raises(ConfigError, match=re.escape("motor.sesions")):
        merged_config(bad)


def test_the_command_line_says_what_to_fix_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("motor: {source: download, sessions: {subject: [C]}}\n")
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown config key 'motor.sessions.subject'")
    assert "did you mean 'motor.sessions.subjects'" in err and "Traceback" not in err
    assert main([str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
