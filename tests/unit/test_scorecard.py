"""The reproduction scorecard: the papers' values file, locating this run's numbers, the table."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from brainlatent.plan import PAPER_VALUES, PRETRAINED
from brainlatent.scorecard import (
    COLUMNS,
    ValuesError,
    build_scorecard,
    data_labels,
    figure_values,
    load_values,
    match_tables,
    render_html,
)

from .test_plan import plan

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / PAPER_VALUES
SIMULATED = dict.fromkeys(
    ("things_meg", "allen_calcium", "synthetic", "god_fmri", "motor"), "simulated"
)
REAL = {**SIMULATED, **dict.fromkeys(SIMULATED, "real")}


def retrieval(**extra) -> pd.DataFrame:
    rows = [
        {"subject": s, "decoder": d, "image_model": m, "window_start": math.nan,
         "metric": "top5", "value": v, **extra}
        for s in ("BIGMEG1", "BIGMEG2")
        for d, v in (("ridge", 0.1), ("brain_module", 0.4))
        for m in ("hog", "clip")
    ]  # fmt: skip
    return pd.DataFrame(rows)


def one_value(tmp_path, **entry) -> Path:
    """A values file with one result (``entry`` overrides a complete, valid one)."""
    result = {
        "id": "top5",
        "paper": "p",
        "dataset": "things_meg",
        "result": "top-5",
        "source": "Fig. 2",
        "value": 0.3,
        "spread": {"low": 0.2, "high": 0.45, "kind": "range over subjects"},
        "verified": "a test",
        "locator": {
            "table": "results/things_meg/metrics/retrieval.parquet",
            "filter": {"decoder": "brain_module", "metric": "top5"},
            "aggregate": "mean",
        },
    }
    result.update(entry)
    result = {k: v for k, v in result.items() if v is not ...}
    path = tmp_path / "values.yaml"
    path.write_text(
        yaml.safe_dump({"papers": {"p": {"citation": "A et al."}}, "results": [result]})
    )
    return path


TABLES = {"results/things_meg/metrics/retrieval.parquet": retrieval()}
#: The brain module's top-5 over the ridge's, as the 7x of the paper's abstract.
RATIO = {
    "table": "results/things_meg/metrics/retrieval.parquet",
    "filter": {"metric": "top5"},
    "contrast": {"op": "ratio", "a": {"decoder": "brain_module"}, "b": {"decoder": "ridge"}},
}


# -- the values file ---------------------------------------------------------------------


def test_the_values_file_loads_and_every_locator_names_a_table_of_the_workflow():
    values = load_values(VALUES)
    assert len({v.id for v in values}) == len(values) >= 20
    built = plan().scorecard_tables
    for v in values:
        assert match_tables(v.locator.table, built), v.id
        assert v.value is not None or v.note, v.id  # an empty value says why


def test_every_paper_value_gets_a_row_whatever_the_run_built():
    values = load_values(VALUES)
    for tables in ({}, TABLES):
        card = build_scorecard(values, tables, SIMULATED)
        assert set(card["id"]) == {v.id for v in values}
        for v in values:
            rows = card[card["id"] == v.id]
            if v.value is not None:
                assert (rows["paper_value"] == v.value).all(), v.id
            for per, number in v.values.items():
                assert rows.loc[rows["per"] == per, "paper_value"].tolist() == [number]


def test_per_values_each_get_a_row_even_when_not_run(tmp_path):
    path = one_value(
        tmp_path,
        value=None,
        spread=None,
        values={"clip": 0.5, "dinov2": 0.6},
        locator={"table": "results/things_meg/metrics/retrieval.parquet",
                 "filter": {"decoder": "ridge", "metric": "top5"}, "per": "image_model"},
    )  # fmt: skip
    card = build_scorecard(load_values(path), TABLES, REAL).set_index("per")
    assert list(card.index) == ["hog", "clip", "dinov2"]  # the run's, then the paper's
    assert card.loc["clip", "run_value"] == pytest.approx(0.1)
    assert card.loc["clip", "paper_value"] == 0.5 and math.isnan(card.loc["hog", "paper_value"])
    assert card.loc["dinov2", "status"].startswith("not run: no rows where")
    assert card.loc["hog", "within_spread"] == "n/a: paper value not available here"
    assert card.loc["clip", "within_spread"] == "n/a: the paper reports no spread here"


# -- within the paper's spread -------------------------------------------------------------


def test_simulated_data_never_pass_as_within_the_spread(tmp_path):
    values = load_values(one_value(tmp_path))  # brain module top-5: 0.4, spread 0.2-0.45
    real = build_scorecard(values, TABLES, REAL).iloc[0]
    assert real["run_value"] == pytest.approx(0.4) and real["within_spread"] == "yes"
    assert real["data"] == "real: subjects BIGMEG1, BIGMEG2; image models clip, hog"
    simulated = build_scorecard(values, TABLES, SIMULATED).iloc[0]
    assert simulated["within_spread"] == "n/a: simulated data"
    assert simulated["data"].startswith("simulated")
    # and on the shipped values, whatever the run's numbers
    card = build_scorecard(load_values(VALUES), TABLES, SIMULATED)
    assert not card["within_spread"].isin(["yes", "no"]).any()


def test_rows_without_a_value_are_counted_in_the_data_column(tmp_path):
    """A seed whose threshold was never crossed is NaN: the mean leaves it out, and says so."""
    table = retrieval()
    table.loc[(table["decoder"] == "brain_module") & (table["image_model"] == "clip"), "value"] = (
        math.nan
    )
    row = build_scorecard(
        load_values(one_value(tmp_path)),
        {"results/things_meg/metrics/retrieval.parquet": table},
        REAL,
    ).iloc[0]
    assert row["n_rows"] == 2 and row["run_value"] == pytest.approx(0.4)
    assert row["data"].endswith("; 2 of 4 rows have no value, left out"), row["data"]


def test_every_row_without_a_value_is_an_undefined_number_not_a_chain_not_run(tmp_path):
    """Every seed's threshold never crossed: the chain ran, its number is undefined."""
    table = retrieval()
    table.loc[table["decoder"] == "brain_module", "value"] = math.nan
    row = build_scorecard(
        load_values(one_value(tmp_path)),
        {"results/things_meg/metrics/retrieval.parquet": table},
        REAL,
    ).iloc[0]
    assert row["status"] == "ok" and math.isnan(row["run_value"]) and row["n_rows"] == 0
    assert row["data"].endswith("; all 4 rows have no value"), row["data"]
    assert row["within_spread"] == "n/a: this run's number is undefined"


def test_a_contrast_compares_its_sides_on_the_same_data(tmp_path):
    """The ridge has no hog row (or a NaN one) where the brain module has: the ratio is over
    clip alone on both sides (0.4 / 0.1), and the left-out rows are counted."""
    values = load_values(one_value(tmp_path, value=7, spread=None, locator=RATIO))
    table = retrieval()
    brain_hog = (table["decoder"] == "brain_module") & (table["image_model"] == "hog")
    table.loc[brain_hog, "value"] = 0.8  # brain module: clip 0.4, hog 0.8
    ridge_hog = (table["decoder"] == "ridge") & (table["image_model"] == "hog")
    for missing in (table[~ridge_hog], table.assign(value=table["value"].mask(ridge_hog))):
        path = "results/things_meg/metrics/retrieval.parquet"
        row = build_scorecard(values, {path: missing}, REAL).iloc[0]
        assert row["run_value"] == pytest.approx(4.0) and row["n_rows"] == 4  # not 0.6 / 0.1
        total = len(missing)
        assert row["data"].endswith(
            f"; {total - 4} of {total} rows without a value, or without the same data on the"
            " other side, left out"
        ), row["data"]


def test_outside_the_spread_is_no(tmp_path):
    values = load_values(one_value(tmp_path, spread={"low": 0.5, "high": 0.7, "kind": "sd"}))
    assert build_scorecard(values, TABLES, REAL).iloc[0]["within_spread"] == "no"


def test_a_ratio_over_zero_is_undefined_not_outside_the_spread(tmp_path):
    values = load_values(one_value(tmp_path, value=7, spread=None, locator=RATIO))
    zero = retrieval()
    zero.loc[zero["decoder"] == "ridge", "value"] = 0.0
    card = build_scorecard(values, {"results/things_meg/metrics/retrieval.parquet": zero}, REAL)
    row = card.iloc[0]
    assert row["status"] == "ok" and math.isnan(row["run_value"])
    assert row["within_spread"] == "n/a: undefined, a ratio over 0 (the mean where decoder = ridge)"
    assert "undefined" in render_html(card)


def test_data_labels_follow_the_sources_and_the_scale():
    config = {
        d: {"source": "simulate"} for d in ("things_meg", "allen_calcium", "god_fmri", "motor")
    }
    assert data_labels(config) == SIMULATED
    config["motor"]["source"] = "download"
    assert data_labels(config)["motor"] == "real"
    assert data_labels({**config, "scale": "subset"})["motor"] == "real, subset"
    assert data_labels(config)["synthetic"] == "simulated"


# -- what the run did not build ------------------------------------------------------------


@pytest.mark.parametrize(
    ("locator", "reason"),
    [
        ({"table": "results/things_meg/metrics/generation.parquet", "filter": {"metric": "ssim"}},
         "not run: results/things_meg/metrics/generation.parquet is not built by this config"),
        ({"table": "results/things_meg/metrics/retrieval.parquet", "filter": {"metric": "top10"}},
         "not run: no rows where metric = top10 (metric in this run: top5)"),
        # a sweep that stops short: only the condition no row meets is listed
        ({"table": "results/things_meg/metrics/retrieval.parquet",
          "filter": {"metric": "top5", "decoder": "ridge", "image_model": ["dinov2", "vgg19"]}},
         "not run: no rows where decoder = ridge, image_model is dinov2 or vgg19, metric = top5 "
         "(image_model in this run: clip, hog)"),
        ({"table": "results/things_meg/metrics/retrieval.parquet",
          "filter": {"window_start": {"min": 0.1}}},
         "not run: no rows where window_start ≥ 0.1 (window_start in this run: none)"),
        ({"table": "results/things_meg/metrics/retrieval.parquet", "filter": {"split": "large"}},
         "not run: no column 'split'"),
        ({"table": "results/things_meg/metrics/retrieval.parquet", "filter": {"metric": "top5"},
          "per": "latent"},
         "not run: no column 'latent'"),
    ],
)  # fmt: skip
def test_absent_tables_metrics_and_columns_say_not_run(tmp_path, locator, reason):
    spread = {"spread": None} if "per" in locator else {}  # one spread cannot judge each per
    card = build_scorecard(
        load_values(one_value(tmp_path, locator=locator, **spread)), TABLES, REAL
    )
    assert card["status"].tolist() == [reason]
    assert card["within_spread"].tolist() == ["n/a: not run"]
    assert math.isnan(card["run_value"].iloc[0]) and card["paper_value"].iloc[0] == 0.3


def test_a_missing_column_filtered_as_missing_matches_every_row(tmp_path):
    locator = {"table": "results/things_meg/metrics/retrieval.parquet",
               "filter": {"decoder": "ridge", "metric": "top5", "window_stop": None}}  # fmt: skip
    card = build_scorecard(load_values(one_value(tmp_path, locator=locator)), TABLES, REAL)
    assert card["status"].tolist() == ["ok"] and card["n_rows"].tolist() == [4]
    # null in a list: that value, or a table from before the column (the small set only)
    locator["filter"] = {"decoder": "ridge", "candidates": ["small", None]}
    values = load_values(one_value(tmp_path, locator=locator))
    assert build_scorecard(values, TABLES, REAL)["n_rows"].tolist() == [4]
    both = pd.concat([retrieval(candidates="small"), retrieval(candidates="large")])
    newer = {"results/things_meg/metrics/retrieval.parquet": both}
    assert build_scorecard(values, newer, REAL)["n_rows"].tolist() == [4]


# -- locating this run's number ------------------------------------------------------------


def test_contrasts_ranges_lists_and_per_subject_tables(tmp_path):
    card = build_scorecard(load_values(one_value(tmp_path, locator=RATIO)), TABLES, REAL)
    assert card["run_value"].iloc[0] == pytest.approx(4.0) and card["n_rows"].iloc[0] == 8
    daenr = pd.DataFrame(
        {
            "beta": [0.0, 0.0, 1.0, 1.0, 3.0],
            "metric": "rsa",
            "value": [0.1, 0.3, 0.5, 0.7, 0.9],
            "seed": [0, 1, 0, 1, 0],
        }
    )
    gain = {
        "table": "results/allen_calcium/daenr/metrics.parquet",
        "filter": {"metric": "rsa"},
        "contrast": {"op": "difference", "a": {"beta": {"above": 0, "max": 1}}, "b": {"beta": 0}},
    }
    card = build_scorecard(
        load_values(one_value(tmp_path, locator=gain, dataset="allen_calcium")),
        {"results/allen_calcium/daenr/metrics.parquet": daenr}, REAL,
    )  # fmt: skip
    assert card["run_value"].iloc[0] == pytest.approx(0.6 - 0.2)
    assert card["data"].iloc[0] == "real: 2 seeds"
    god = {
        f"/tmp/w/results/god_fmri/sub-{s}/decode/metrics.parquet": pd.DataFrame(
            {"subject": [s], "space": ["pixel"], "metric": ["ssim"], "value": [v]}
        )
        for s, v in (("01", 0.2), ("02", 0.4))
    }
    per_subject = {"table": "results/god_fmri/sub-{subject}/decode/metrics.parquet",
                   "filter": {"space": "pixel", "metric": ["ssim", "pixcorr"]}}  # fmt: skip
    card = build_scorecard(
        load_values(one_value(tmp_path, locator=per_subject, dataset="god_fmri")), god, REAL
    )
    assert card["run_value"].iloc[0] == pytest.approx(0.3)
    assert card["data"].iloc[0] == "real: subjects 01, 02"


def test_prefer_takes_the_preferred_values_when_the_run_has_any(tmp_path):
    """The ratio over the paper's networks when the run computes them, else over what it has."""
    ratio = {
        "table": "results/things_meg/metrics/retrieval.parquet",
        "filter": {"metric": "top5", "image_model": {"prefer": ["vgg19", "clip", "dinov2"]}},
        "contrast": {"op": "ratio", "a": {"decoder": "brain_module"}, "b": {"decoder": "ridge"}},
    }
    values = load_values(one_value(tmp_path, spread=None, locator=ratio))
    table = retrieval()
    # hog's brain module is no better than its ridge: mixing it in would halve the ratio
    table.loc[(table["image_model"] == "hog") & (table["decoder"] == "brain_module"), "value"] = 0.1
    path = "results/things_meg/metrics/retrieval.parquet"
    row = build_scorecard(values, {path: table}, REAL).iloc[0]
    assert row["run_value"] == pytest.approx(4.0) and row["n_rows"] == 4
    assert row["data"] == "real: subjects BIGMEG1, BIGMEG2; image model clip"
    assert "image_model is vgg19 or clip or dinov2 if the run has any" in row["locator"]
    hand_made = table[table["image_model"] == "hog"]  # the default config: no network
    row = build_scorecard(values, {path: hand_made}, REAL).iloc[0]
    assert row["run_value"] == pytest.approx(1.0) and row["n_rows"] == 4
    assert row["data"] == "real: subjects BIGMEG1, BIGMEG2; image model hog"
    # preferred among the rows meeting the other conditions: clip's top-1 only is no reason
    # to drop hog's top-5
    clip_top1 = table[table["image_model"] == "clip"].assign(metric="top1")
    row = build_scorecard(values, {path: pd.concat([hand_made, clip_top1])}, REAL).iloc[0]
    assert row["run_value"] == pytest.approx(1.0)


def test_the_gain_over_linear_is_over_the_papers_networks_the_workflow_computes():
    (gain,) = [v for v in load_values(VALUES) if v.id == "meg_retrieval_gain_over_linear"]
    assert gain.locator.filter["image_model"] == {"prefer": list(PRETRAINED)}
    assert "image models" in gain.note


def test_match_tables_matches_one_component_per_wildcard():
    paths = ["results/motor/sub-S/metrics/cross_session.parquet",
             "/abs/results/motor/sub-T/metrics/cross_session.parquet",
             "results/motor/a/b/metrics/cross_session.parquet"]  # fmt: skip
    assert match_tables("results/motor/{cohort}/metrics/cross_session.parquet", paths) == paths[:2]


# -- the table and its page ----------------------------------------------------------------


def test_schema(tmp_path):
    card = build_scorecard(load_values(VALUES), TABLES, SIMULATED)
    assert list(card.columns) == COLUMNS
    numeric = {"paper_value", "paper_low", "paper_high", "run_value"}
    for column in COLUMNS:
        if column in numeric:
            assert card[column].dtype == "float64", column
        elif column == "n_rows":
            assert card[column].dtype == "int64"
        else:
            assert card[column].dtype == "string", column
            assert card[column].notna().all(), column
    assert set(card["status"].str.split(":").str[0]) <= {"ok", "not run"}
    card.to_parquet(tmp_path / "scorecard.parquet")  # writes as Parquet
    page = render_html(card)
    assert page.count("<tr>") == len(card) + 1 and "not run" in page


def test_figure_values_give_the_synthetic_medians_per_method():
    medians = figure_values(load_values(VALUES), "synthetic_latents", "method")
    assert set(medians) == {"cebra", "autolfads", "pivae", "umap", "tsne"}


# -- a malformed values file ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"value": "0.9x"}, r"results\[0\] \(top5\)\.value: expected a number or null, got '0.9x'"),
        ({"value": True}, r"results\[0\] \(top5\)\.value: expected a number"),
        ({"source": ...}, r"results\[0\] \(top5\)\.source: expected non-empty text"),
        ({"verified": ...}, r"results\[0\] \(top5\)\.verified: expected non-empty text"),
        ({"value": None, "spread": None}, r"results\[0\] \(top5\)\.note: expected non-empty text"),
        ({"paper": "q"}, r"results\[0\] \(top5\)\.paper: expected one of \['p'\]"),
        ({"spread": {"low": 0.5, "high": 0.1, "kind": "sd"}}, r"results\[0\] \(top5\)\.spread: "),
        ({"locator": {"table": "t", "aggregate": "sum"}}, r"results\[0\] \(top5\)\.locator\.aggr"),
        ({"locator": {"table": "t", "filter": {"b": {"over": 0}}}}, r"results.*filter\.b: a range"),
        ({"id": "Top 5"}, r"results\[0\]\.id: expected a snake_case name"),
        ({"locator": {"table": "t", "filter": {"m": {"prefer": "clip"}}}}, r"results.*filter\.m: "),
        ({"locator": {"table": "t", "filter": {"m": {"prefer": [1], "max": 0}}}}, r".*filter\.m: "),
        # one spread beside per-model values would judge every model by the same range, and
        # so would one value and spread beside a locator that reports per model
        ({"locator": {"table": "t", "per": "image_model"}},
         r"results\[0\] \(top5\)\.spread: one spread cannot hold for every value of `values`"),
        # one spread beside per-model values would judge every model by the same range
        ({"value": None, "values": {"clip": 0.7, "vgg19": 0.2},
          "locator": {"table": "t", "per": "image_model"}},
         r"results\[0\] \(top5\)\.spread: one spread cannot hold for every value of `values`"),
    ],
)  # fmt: skip
def test_a_malformed_values_file_names_the_file_and_the_key(tmp_path, change, key):
    path = one_value(tmp_path, **change)
    with pytest.raises(ValuesError, match=re.escape(str(path)) + ": " + key):
        load_values(path)


def test_a_paper_without_citation_is_named(tmp_path):
    path = one_value(tmp_path)
    document = yaml.safe_load(path.read_text())
    document["papers"]["p"] = {"title": "no citation"}
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ValuesError, match=re.escape(f"{path}: papers.p.citation")):
        load_values(path)


# -- every paper value written once ----------------------------------------------------------

SCANNED = ("src", "scripts", "workflow")
SUFFIXES = {".py", ".smk", ".rst", ".yaml", ".yml", ".html", ".md", ".txt"}


def spellings(value: float) -> list[str]:
    """How a paper value with at least two decimals is written: 0.920, .920, 0.92, .92."""
    text = f"{value:.3f}"
    forms = {text, text.rstrip("0")}
    forms |= {f.removeprefix("0") for f in forms if f.startswith("0.")}
    return sorted(forms)


def duplicates(values: list[float], roots: list[Path]) -> list[str]:
    patterns = {
        v: re.compile("|".join(rf"(?<![\w.]){re.escape(f)}(?![\d])" for f in spellings(v)))
        for v in values
    }
    hits = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix not in SUFFIXES or path.resolve() == VALUES.resolve():
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                hits += [
                    f"{path}:{number}: {v} in {line.strip()!r}"
                    for v, p in patterns.items()
                    if p.search(line)
                ]
    return hits


def scanned_values() -> list[float]:
    """The paper values specific enough to find (two decimals or more: 0.920, not 7)."""
    numbers = {v.value for v in load_values(VALUES) if v.value is not None}
    numbers |= {
        x for v in load_values(VALUES) for x in (*v.values.values(), v.low, v.high) if x is not None
    }
    return sorted(x for x in numbers if round(x, 1) != x)


def test_no_paper_value_is_written_twice_in_the_code():
    values = scanned_values()
    assert {0.920, 0.860, 0.823, 0.809, 0.783} <= set(values)  # the scan has something to find
    assert duplicates(values, [REPO / d for d in SCANNED]) == []


def test_the_duplicate_scan_finds_a_copied_value_and_ignores_others(tmp_path):
    (tmp_path / "a.py").write_text('PAPER = {"umap": 0.809}\nx = 10.809 + 0.8091 + 0.5\n')
    (tmp_path / "b.rst").write_text("the paper's medians (CEBRA .920, t-SNE .78)\n")
    hits = duplicates([0.809, 0.920, 0.783], [tmp_path])
    assert len(hits) == 2 and "a.py:1" in hits[0] and "b.rst:1: 0.92" in hits[1]


def test_real_laptop_rows_say_real_subset():
    from brainlatent.datasets.download_plan import merged_config

    labels = data_labels(merged_config(REPO / "config" / "real-laptop.yaml"))
    for dataset in ("things_meg", "allen_calcium", "god_fmri", "motor"):
        assert labels[dataset] == "real, subset", dataset
    assert data_labels(merged_config(REPO / "config" / "real.yaml"))["motor"] == "real"


def test_the_page_gives_small_gains_their_digits_and_sign():
    """A DAE-NR gain of 0.0004 read "0.000" and one of -0.012 "-0.012" with a hyphen."""
    from brainlatent.scorecard import _fmt

    assert _fmt(0.0004, signed=True) == "+0.0004"
    assert _fmt(-0.0123, signed=True) == "−0.012"
    assert _fmt(0.906) == "0.906" and _fmt(3854.0) == "3,854" and _fmt(float("nan")) == ""
