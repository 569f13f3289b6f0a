"""What a config will download: files and bytes per dataset, from the manifests alone.

A user about to run a ``download`` config wants to know whether it fits their disk
before the first byte moves. Every number here comes from the same selection the
download rules make (:func:`~brainlatent.datasets.manifest.things_meg_patterns`,
the Allen and DANDI 000688 session choices of :class:`~brainlatent.plan.Plan`,
GOD's :func:`~brainlatent.datasets.god_fmri.download_patterns`), so it cannot
drift from what the workflow fetches. Pretrained weights and the stimulus images
(THINGS, GOD's ImageNet images: licensed, supplied by the user) are not counted.

Command line::

    python -m brainlatent.datasets.download_plan config/real-laptop.yaml
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd
import yaml

from brainlatent.errors import ConfigError, DataError
from brainlatent.plan import Plan, _deep_merge

REPO = Path(__file__).resolve().parents[3]
COLUMNS = ("dataset", "files", "bytes")


def merged_config(*paths: str | Path, base: str | Path = REPO / "config" / "config.yaml") -> dict:
    """config/config.yaml with each ``--configfile`` merged over it, as Snakemake does, and
    checked against the schema (unknown keys named; config.yaml sets every key, so no
    defaults are needed)."""
    from brainlatent.config import check_keys, load_schema, validate_config

    config = yaml.safe_load(Path(base).read_text())
    for path in paths:
        config = _deep_merge(config, yaml.safe_load(Path(path).read_text()) or {})
    schema = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
    check_keys(config, schema)
    validate_config(config, schema, "config", fill_defaults=False)
    return config


def download_plan(config: dict, base: str | Path = REPO) -> pd.DataFrame:
    """(dataset, files, bytes): one row per chain of ``config`` that downloads, in
    ``datasets`` order. Simulated chains and the synthetic benchmark have no row."""
    from brainlatent.datasets import god_fmri, things_meg
    from brainlatent.datasets.manifest import read_manifest, select_files, things_meg_patterns

    base = Path(base)
    plan = Plan.from_config(
        config, base, schema=base / "workflow" / "schemas" / "config.schema.yaml"
    )
    rows = []
    for dataset in config["datasets"]:
        section = config.get(dataset) or {}
        if section.get("source") != "download":
            continue
        manifest = read_manifest(base / section["manifest"])
        if dataset == "things_meg":
            if section["data"] == "derivatives":
                patterns = things_meg.derivative_patterns(section["subjects"])
            else:
                patterns = things_meg_patterns(
                    section["subjects"], section["sessions"], section["runs"]
                )
            with warnings.catch_warnings():  # sidecars absent upstream (documented there)
                warnings.simplefilter("ignore")
                files = select_files(manifest, patterns)
        elif dataset == "god_fmri":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                files = select_files(manifest, god_fmri.download_patterns(section["subjects"]))
        elif dataset == "allen_calcium":
            files = manifest[manifest["path"].isin(set(plan.calcium.sessions.values()))]
        elif dataset == "motor":
            paths = {p for c in plan.motor.cohorts.values() for p in c.downloads.values()}
            files = manifest[manifest["path"].isin(paths)]
        else:
            continue
        rows.append((dataset, len(files), int(files["size"].sum())))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configfiles", nargs="+", help="config files merged over config.yaml")
    args = parser.parse_args(argv)
    try:
        table = download_plan(merged_config(*args.configfiles))
    except (ConfigError, DataError, OSError, yaml.YAMLError) as error:
        # what the user must fix, without a traceback (as Snakemake reports it)
        print(f"error: {error}", file=sys.stderr)
        return 2
    if table.empty:
        print("nothing to download: every chain of this config is simulated")
        return 0
    for row in table.itertuples():
        print(f"{row.dataset:<14} {row.files:>7,} files {row.bytes / 1e9:>8.2f} GB")
    print(f"{'total':<14} {table['files'].sum():>7,} files {table['bytes'].sum() / 1e9:>8.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
