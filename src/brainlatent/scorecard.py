"""The reproduction scorecard: every paper's headline numbers beside this run's.

The papers' numbers live in one file (``resources/paper_values.yaml``; its header documents
the schema): each result names its paper, where in the paper it is (figure, table,
abstract), the value and its spread when the paper reports one, where the value was checked,
and a *locator*: which metrics table of this workflow gives the comparable number, which
rows (filter), and how they are reduced (aggregate over subjects, mice, seeds or sessions;
optionally the ratio or difference of two groups of rows; optionally one scorecard row per
value of a column, e.g. per image model).

:func:`build_scorecard` turns the values and this run's metrics tables into one table with
the columns of :data:`COLUMNS`, one row per result (per ``per`` value), whatever the run
built: a result whose table was not built by this config, or whose rows are absent from it,
gets ``status`` "not run" and the reason, never an error. ``within_spread`` answers "yes" or
"no" only for real data with a paper value and spread; otherwise it says why not
("n/a: simulated data", ...), so a simulated run can never pass as a reproduction.
"""

from __future__ import annotations

import html
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from brainlatent.errors import DataError

__all__ = [
    "AGGREGATES",
    "COLUMNS",
    "DATASETS",
    "PaperValue",
    "build_scorecard",
    "data_labels",
    "figure_values",
    "load_values",
    "match_tables",
    "render_html",
]

#: The scorecard's columns, in order (``results/scorecard.parquet``):
#:
#: - ``id``: the result's id in the values file; ``per``: the value of the locator's ``per``
#:   column this row is about (e.g. an image model), empty when the result has no ``per``;
#: - ``paper``: the paper's citation; ``dataset``: the chain (things_meg, allen_calcium,
#:   synthetic, god_fmri, motor); ``result``: what is measured;
#: - ``paper_source``: where in the paper (figure, table, abstract); ``paper_value``,
#:   ``paper_low``, ``paper_high``: the paper's number and reported spread (NaN: not
#:   available here); ``spread_kind``: what the spread is; ``verified``: where the number was
#:   checked; ``note``: the values file's note;
#: - ``run_value``: this run's comparable number (NaN when not run, or undefined: a ratio
#:   over 0); ``n_rows``: how many metrics rows it reduces; ``data``: "simulated", "real" or
#:   "real, subset", then which subjects, mice, sessions, seeds or image models (but the
#:   ``per`` column's); ``locator``: table, filter and aggregation in words;
#: - ``status``: "ok" or "not run: <why>"; ``within_spread``: "yes", "no" or "n/a: <why>".
COLUMNS = [
    "id",
    "per",
    "paper",
    "dataset",
    "result",
    "paper_source",
    "paper_value",
    "paper_low",
    "paper_high",
    "spread_kind",
    "verified",
    "note",
    "run_value",
    "n_rows",
    "data",
    "locator",
    "status",
    "within_spread",
]
#: The chains a result can come from.
DATASETS = ("things_meg", "allen_calcium", "synthetic", "god_fmri", "motor", "fault_tolerance")
AGGREGATES = {"mean": np.mean, "median": np.median, "max": np.max, "min": np.min}
CONTRASTS = ("ratio", "difference")
RANGE_KEYS = ("min", "max", "above", "below")
MINUS = "−"  # U+2212: a difference in the locator's words, and a negative number on the page
#: A filter condition ``{prefer: [values]}``: the rows with those values where the run has
#: any, else every row (the paper's image models when the config computes them).
PREFER = "prefer"
#: Columns that say which data a number comes from, and how they are named in ``data``.
_IDENTITY = (
    ("subject", "subject", "subjects"),
    ("source", "mouse", "mice"),
    ("session", "session", "sessions"),
    ("image_model", "image model", "image models"),
)
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
#: Columns that say which data a row is of: a contrast compares its two sides on the same
#: data only (each side's rows with a partner on the other).
_PAIRING = ("subject", "source", "target", "session", "image_model", "seed")


class ValuesError(ValueError):
    """A malformed values file: the message names the file and the key."""

    def __init__(self, path, key: str, problem: str):
        super().__init__(f"{path}: {key}: {problem}")


@dataclass(frozen=True)
class Locator:
    """Where this run's comparable number is: table, rows, reduction."""

    table: str
    filter: Mapping = field(default_factory=dict)
    aggregate: str = "mean"
    per: str | None = None
    contrast: Mapping | None = None  # {op, a, b}

    def describe(self) -> str:
        words = f"{self.aggregate} of {self.table} where {_describe_filter(self.filter)}"
        if self.contrast:
            op = "/" if self.contrast["op"] == "ratio" else MINUS
            a, b = (_describe_filter(self.contrast[k]) for k in ("a", "b"))
            words += f", ({a}) {op} ({b})"
        if self.per:
            words += f", per {self.per}"
        return words


@dataclass(frozen=True)
class PaperValue:
    """One headline result of a paper, as the values file states it."""

    id: str
    paper: str  # the citation
    dataset: str
    result: str
    source: str
    locator: Locator
    value: float | None = None
    values: Mapping[str, float] = field(default_factory=dict)  # per locator.per value
    low: float | None = None
    high: float | None = None
    spread_kind: str = ""
    verified: str = ""
    note: str = ""
    figure: str | None = None


# -- the values file ---------------------------------------------------------------------


def _number(raw, path, key) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, numbers.Real) or not math.isfinite(raw):
        raise ValuesError(path, key, f"expected a number or null, got {raw!r}")
    return float(raw)


def _text(entry: Mapping, name: str, path, where: str, required: bool = True) -> str:
    raw = entry.get(name)
    if raw is None and not required:
        return ""
    if not isinstance(raw, str) or not raw.strip():
        raise ValuesError(path, f"{where}.{name}", f"expected non-empty text, got {raw!r}")
    return " ".join(raw.split())


def _check_filter(raw, path, key) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValuesError(path, key, f"expected a mapping of column: value, got {raw!r}")
    for column, wanted in raw.items():
        if isinstance(wanted, Mapping) and PREFER in wanted:
            preferred = wanted[PREFER]
            if len(wanted) > 1 or not isinstance(preferred, list) or not preferred:
                raise ValuesError(
                    path, f"{key}.{column}", f"expected {{prefer: [values]}}, got {dict(wanted)}"
                )
        elif isinstance(wanted, Mapping):
            unknown = set(wanted) - set(RANGE_KEYS)
            if not wanted or unknown:
                raise ValuesError(
                    path, f"{key}.{column}", f"a range takes {RANGE_KEYS}, got {dict(wanted)}"
                )
            for bound, number in wanted.items():
                _number(number, path, f"{key}.{column}.{bound}")
    return dict(raw)


def _locator(raw, path, where) -> Locator:
    if not isinstance(raw, Mapping):
        raise ValuesError(path, f"{where}.locator", f"expected a mapping, got {raw!r}")
    key = f"{where}.locator"
    unknown = set(raw) - {"table", "filter", "aggregate", "per", "contrast"}
    if unknown:
        raise ValuesError(path, key, f"unknown keys {sorted(unknown)}")
    table = _text(raw, "table", path, key)
    aggregate = raw.get("aggregate", "mean")
    if aggregate not in AGGREGATES:
        raise ValuesError(
            path, f"{key}.aggregate", f"expected one of {sorted(AGGREGATES)}, got {aggregate!r}"
        )
    contrast = raw.get("contrast")
    if contrast is not None:
        if not isinstance(contrast, Mapping) or contrast.get("op") not in CONTRASTS:
            raise ValuesError(
                path,
                f"{key}.contrast",
                f"expected {{op: ratio|difference, a, b}}, got {contrast!r}",
            )
        contrast = {
            "op": contrast["op"],
            "a": _check_filter(contrast.get("a"), path, f"{key}.contrast.a"),
            "b": _check_filter(contrast.get("b"), path, f"{key}.contrast.b"),
        }
        if not contrast["a"] or not contrast["b"]:
            raise ValuesError(path, f"{key}.contrast", "needs filters `a` and `b`")
    per = raw.get("per")
    if per is not None and not isinstance(per, str):
        raise ValuesError(path, f"{key}.per", f"expected a column name, got {per!r}")
    return Locator(
        table=table,
        filter=_check_filter(raw.get("filter"), path, f"{key}.filter"),
        aggregate=aggregate,
        per=per,
        contrast=contrast,
    )


def load_values(path: str | Path) -> list[PaperValue]:
    """Read and check the values file; a malformed one raises :class:`ValuesError` naming
    the file and the key (``results[3].value: expected a number or null, got '0.9x'``)."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DataError(path, f"cannot read the paper values ({error})") from error
    if not isinstance(document, Mapping):
        raise ValuesError(path, "(top level)", "expected a mapping with `papers` and `results`")
    papers = document.get("papers")
    if not isinstance(papers, Mapping) or not papers:
        raise ValuesError(path, "papers", "expected a mapping of paper key: {citation}")
    citations = {}
    for key, paper in papers.items():
        if not isinstance(paper, Mapping):
            raise ValuesError(path, f"papers.{key}", f"expected {{citation: text}}, got {paper!r}")
        citations[key] = _text(paper, "citation", path, f"papers.{key}")
    entries = document.get("results")
    if not isinstance(entries, list) or not entries:
        raise ValuesError(path, "results", "expected a non-empty list of results")
    values, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"results[{i}]"
        if not isinstance(entry, Mapping):
            raise ValuesError(path, where, f"expected a mapping, got {entry!r}")
        ident = entry.get("id")
        if not isinstance(ident, str) or not _ID.match(ident):
            raise ValuesError(path, f"{where}.id", f"expected a snake_case name, got {ident!r}")
        if ident in seen:
            raise ValuesError(path, f"{where}.id", f"'{ident}' is used twice")
        seen.add(ident)
        where = f"results[{i}] ({ident})"
        paper = entry.get("paper")
        if paper not in citations:
            raise ValuesError(
                path, f"{where}.paper", f"expected one of {sorted(citations)}, got {paper!r}"
            )
        dataset = entry.get("dataset")
        if dataset not in DATASETS:
            raise ValuesError(
                path, f"{where}.dataset", f"expected one of {list(DATASETS)}, got {dataset!r}"
            )
        locator = _locator(entry.get("locator"), path, where)
        value = _number(entry.get("value"), path, f"{where}.value")
        per_values = entry.get("values") or {}
        if not isinstance(per_values, Mapping):
            raise ValuesError(path, f"{where}.values", f"expected a mapping, got {per_values!r}")
        if per_values and (value is not None or locator.per is None):
            raise ValuesError(path, f"{where}.values", "needs locator.per and no `value` beside it")
        per_values = {
            str(k): _number(v, path, f"{where}.values.{k}") for k, v in per_values.items()
        }
        if any(v is None for v in per_values.values()):
            raise ValuesError(path, f"{where}.values", "every value must be a number")
        has_value = value is not None or bool(per_values)
        spread = entry.get("spread")
        low = high = None
        kind = ""
        if spread is not None:
            if not isinstance(spread, Mapping):
                raise ValuesError(
                    path, f"{where}.spread", f"expected {{low, high, kind}}, got {spread!r}"
                )
            low = _number(spread.get("low"), path, f"{where}.spread.low")
            high = _number(spread.get("high"), path, f"{where}.spread.high")
            kind = _text(spread, "kind", path, f"{where}.spread")
            if low is None or high is None or low > high:
                raise ValuesError(
                    path, f"{where}.spread", f"expected numbers low <= high, got {low}, {high}"
                )
        if (spread is not None) and not has_value:
            raise ValuesError(path, f"{where}.spread", "a spread needs the paper's value")
        if spread is not None and (per_values or locator.per is not None):
            # one range would judge every per value, however far from it the paper's value is
            raise ValuesError(
                path,
                f"{where}.spread",
                "one spread cannot hold for every value of `values`; "
                "give each its own result with `value` and `spread`",
            )
        figure = entry.get("figure")
        if figure is not None and not isinstance(figure, str):
            raise ValuesError(path, f"{where}.figure", f"expected a figure name, got {figure!r}")
        values.append(
            PaperValue(
                id=ident,
                paper=citations[paper],
                dataset=dataset,
                result=_text(entry, "result", path, where),
                source=_text(entry, "source", path, where),
                locator=locator,
                value=value,
                values=per_values,
                low=low,
                high=high,
                spread_kind=kind,
                # a number needs the place it was checked; a missing one, a note saying so
                verified=_text(entry, "verified", path, where, required=has_value),
                note=_text(entry, "note", path, where, required=not has_value),
                figure=figure,
            )
        )
    return values


def figure_values(values: Sequence[PaperValue], figure: str, column: str) -> dict[str, float]:
    """``{filter[column]: value}`` of the results a figure draws (``figure: <name>``), e.g.
    the synthetic benchmark's paper medians per method."""
    drawn = {
        v.locator.filter.get(column): v.value
        for v in values
        if v.figure == figure and v.value is not None
    }
    if not drawn or None in drawn:
        raise ValueError(
            f"no paper values for figure '{figure}' with a filter on '{column}' ({list(drawn)})"
        )
    return drawn


# -- this run's tables ---------------------------------------------------------------------


def _pattern(table: str) -> re.Pattern:
    parts = re.split(r"(\{[a-z_]+\})", table)
    return re.compile(
        "".join("[^/]+" if re.fullmatch(r"\{[a-z_]+\}", p) else re.escape(p) for p in parts) + "$"
    )


def match_tables(table: str, paths: Sequence[str | Path]) -> list[str]:
    """The paths that are ``table`` (its ``{name}`` parts match one path component each),
    compared on their ends so absolute and relative paths both match."""
    pattern = _pattern(table)
    return [str(p) for p in paths if pattern.search(Path(p).as_posix())]


def _select(rows: pd.DataFrame, wanted: Mapping) -> pd.DataFrame | str:
    """Rows matching every condition, or why none can: a missing column. A ``prefer``
    condition is applied last, to the rows meeting the others, so that it falls back to
    every row only when none of those has a preferred value."""
    mask = pd.Series(True, index=rows.index)
    preferred = {}
    for column, value in wanted.items():
        if isinstance(value, Mapping) and PREFER in value:
            preferred[column] = value[PREFER]
            continue
        if column not in rows.columns:
            # a column that does not exist is missing everywhere: null (alone or in a list)
            if value is None or (isinstance(value, list) and None in value):
                continue
            return f"no column '{column}'"
        series = rows[column]
        if value is None:
            mask &= series.isna()
        elif isinstance(value, Mapping):
            numeric = pd.to_numeric(series, errors="coerce")
            for bound, number in value.items():
                mask &= {
                    "min": numeric >= number,
                    "max": numeric <= number,
                    "above": numeric > number,
                    "below": numeric < number,
                }[bound].fillna(False)
        elif isinstance(value, list):
            present = series.astype(object).isin([v for v in value if v is not None])
            mask &= (present | series.isna()) if None in value else present
        else:
            mask &= (series == value).fillna(False)
    for column, values in preferred.items():
        if column in rows.columns:  # a table without it has nothing to prefer
            hit = mask & rows[column].astype(object).isin(values)
            mask = hit if hit.any() else mask
    return rows[mask]


def _describe_filter(wanted: Mapping) -> str:
    def one(column, value):
        if value is None:
            return f"{column} is missing"
        if isinstance(value, Mapping) and PREFER in value:
            names = " or ".join(map(str, value[PREFER]))
            return f"{column} is {names} if the run has any, else any {column}"
        if isinstance(value, Mapping):
            signs = {"min": "≥", "max": "≤", "above": ">", "below": "<"}
            return " and ".join(f"{column} {signs[k]} {v}" for k, v in value.items())
        if isinstance(value, list):
            names = [str(v) for v in value if v is not None] + ["missing"] * (None in value)
            return f"{column} is {' or '.join(names)}"
        return f"{column} = {value}"

    return ", ".join(one(c, v) for c, v in wanted.items()) or "every row"


def _what_is_there(frame: pd.DataFrame, wanted: Mapping) -> str:
    """For each condition that no row meets on its own, the values the table does hold:
    a sweep that stops short of the paper's point reads as such, not as a chain not run."""
    parts = []
    for column, value in wanted.items():
        alone = _select(frame, {column: value})
        if isinstance(alone, str) or len(alone):
            continue
        present = pd.Series(frame[column].dropna().unique())
        try:
            present = present.sort_values()
        except TypeError:  # mixed types: in the order met
            pass
        shown = ", ".join(map(str, present.head(8))) or "none"
        more = f" and {len(present) - 8} more" if len(present) > 8 else ""
        parts.append(f"{column} in this run: {shown}{more}")
    return f" ({'; '.join(parts)})" if parts else ""


def _describe_data(rows: pd.DataFrame, per: str | None = None) -> str:
    """Which data the number reduces; ``per`` is left out: the row's ``per`` says it."""
    words = []
    for column, noun, nouns in _IDENTITY:
        if column in rows.columns and column != per:
            names = sorted(map(str, rows[column].dropna().unique()))
            if column == "source" and "target" in rows.columns:
                names = sorted({*names, *map(str, rows["target"].dropna().unique())})
            if len(names) <= 4:
                words.append(f"{noun if len(names) == 1 else nouns} {', '.join(names)}")
            else:
                words.append(f"{len(names)} {nouns}")
    if "days_apart" in rows.columns and len(rows):
        days = rows["days_apart"].dropna()
        if len(days):
            words.append(f"{days.min():g}–{days.max():g} days after training")
    if "seed" in rows.columns:
        seeds = rows["seed"].dropna().unique()
        if len(seeds) > 1:
            words.append(f"{len(seeds)} seeds")
    return "; ".join(words)


def data_labels(config: Mapping) -> dict[str, str]:
    """What each chain's data are, from the config: "simulated", "real" (the papers'
    scale) or "real, subset" (``scale: subset``). The synthetic benchmark is simulated (as
    is every chain not named here: :func:`build_scorecard`'s default)."""
    real = "real, subset" if config.get("scale", "full") == "subset" else "real"
    labels = {"synthetic": "simulated"}
    for dataset in ("things_meg", "allen_calcium", "god_fmri", "motor"):
        source = config.get(dataset, {}).get("source", "simulate")
        labels[dataset] = "simulated" if source == "simulate" else real
    return labels


def _reduce(rows: pd.DataFrame, locator: Locator) -> tuple[float, int, str] | str:
    """This run's number from the rows of one table (one ``per`` value), the rows it used
    and what the data column should add about the rest; or why there is no number.

    Rows without a value are left out and counted; when every row lacks one (e.g. a
    threshold never crossed on any seed) the number is NaN. A contrast compares its sides
    on the same data: rows whose subject, mouse, session, image model or seed has no row
    on the other side are left out too, and counted.
    """
    aggregate = AGGREGATES[locator.aggregate]
    if locator.contrast is None:
        values = pd.to_numeric(rows["value"], errors="coerce").dropna()
        if values.empty:
            if rows.empty:
                return f"no rows where {_describe_filter(locator.filter)}"
            return math.nan, 0, f"; all {len(rows)} rows have no value"
        return float(aggregate(values.to_numpy())), len(values), _left_out(len(rows), len(values))
    sides = []
    for side in ("a", "b"):
        chosen = _select(rows, locator.contrast[side])
        if isinstance(chosen, str):
            return chosen
        if chosen.empty:
            return f"no rows where {_describe_filter({**locator.filter, **locator.contrast[side]})}"
        sides.append(chosen.assign(value=pd.to_numeric(chosen["value"], errors="coerce")))
    total = sum(len(side) for side in sides)
    sides = [side.dropna(subset=["value"]) for side in sides]
    compared = {*locator.contrast["a"], *locator.contrast["b"]}
    keys = [c for c in _PAIRING if c not in compared and all(c in t.columns for t in sides)]
    if keys and all(len(side) for side in sides):
        ids = [pd.MultiIndex.from_frame(side[keys].astype(str)) for side in sides]
        both = ids[0].intersection(ids[1])
        sides = [side[i.isin(both)] for side, i in zip(sides, ids, strict=True)]
    used = sum(len(side) for side in sides)
    if not all(len(side) for side in sides):
        return math.nan, 0, f"; no data with a value on both sides in {total} rows"
    a, b = (float(aggregate(side["value"].to_numpy())) for side in sides)
    note = _left_out(total, used, "without a value, or without the same data on the other side")
    if locator.contrast["op"] == "ratio":
        return (a / b if b != 0 else math.nan), used, note  # undefined: n/a in _within
    return a - b, used, note


def _left_out(total: int, used: int, why: str = "have no value") -> str:
    left = total - used
    return f"; {left} of {total} rows {why}, left out" if left else ""


def _within(label: str, status: str, value, low, high, run_value, locator: Locator) -> str:
    if status != "ok":
        return "n/a: not run"
    if label == "simulated":
        return "n/a: simulated data"
    if math.isnan(run_value):  # in no range, but "no" would judge a number the run lacks
        if locator.contrast and locator.contrast["op"] == "ratio":
            b = _describe_filter(locator.contrast["b"])
            return f"n/a: undefined, a ratio over 0 (the {locator.aggregate} where {b})"
        return "n/a: this run's number is undefined"
    if value is None:
        return "n/a: paper value not available here"
    if low is None or high is None:
        return "n/a: the paper reports no spread here"
    return "yes" if low <= run_value <= high else "no"


def build_scorecard(
    values: Sequence[PaperValue],
    tables: Mapping[str, pd.DataFrame],
    labels: Mapping[str, str],
) -> pd.DataFrame:
    """One row per result (per ``per`` value) of ``values``; ``tables`` maps this run's
    metrics table paths (those the config builds) to their contents; ``labels`` maps each
    dataset to "simulated", "real" or "real, subset" (:func:`data_labels`)."""
    records = []
    for v in values:
        loc = v.locator
        label = labels.get(v.dataset, "simulated")
        base = {
            "id": v.id,
            "per": "",
            "paper": v.paper,
            "dataset": v.dataset,
            "result": v.result,
            "paper_source": v.source,
            "paper_value": v.value,
            "paper_low": v.low,
            "paper_high": v.high,
            "spread_kind": v.spread_kind,
            "verified": v.verified,
            "note": v.note,
            "run_value": None,
            "n_rows": 0,
            "data": label,
            "locator": loc.describe(),
        }

        def record(per, outcome, rows, paper_value, base=base, v=v, label=label):
            row = dict(base, per=per, paper_value=paper_value)
            if isinstance(outcome, str):
                row["status"] = f"not run: {outcome}"
            else:
                row["run_value"], row["n_rows"], left_out = outcome
                row["status"] = "ok"
                detail = _describe_data(rows, v.locator.per)
                # e.g. a seed whose threshold was never crossed
                row["data"] = (f"{label}: {detail}" if detail else label) + left_out
            row["within_spread"] = _within(
                label, row["status"], paper_value, v.low, v.high, row["run_value"], v.locator
            )
            records.append(row)

        paths = match_tables(loc.table, list(tables))
        if not paths:
            reason = f"{loc.table} is not built by this config"
            for per in v.values or [""]:
                record(per, reason, None, v.values.get(per, v.value))
            continue
        frame = pd.concat([tables[p] for p in paths], ignore_index=True)
        rows = _select(frame, loc.filter)
        if not isinstance(rows, str) and "value" not in frame.columns:
            rows = "no column 'value'"
        if isinstance(rows, str) or loc.per is None:
            outcome = rows if isinstance(rows, str) else _reduce(rows, loc)
            if isinstance(outcome, str) and not isinstance(rows, str) and rows.empty:
                outcome += _what_is_there(frame, loc.filter)
            for per in v.values or [""]:
                record(per, outcome, rows, v.values.get(per, v.value))
            continue
        if loc.per not in rows.columns:
            for per in v.values or [""]:
                record(per, f"no column '{loc.per}'", None, v.values.get(per, v.value))
            continue
        found = [str(k) for k in dict.fromkeys(rows[loc.per].dropna())]
        for per in dict.fromkeys([*found, *v.values]):
            group = rows[rows[loc.per].astype(str) == per]
            outcome = (
                _reduce(group, loc)
                if len(group)
                else f"no rows where {_describe_filter({**loc.filter, loc.per: per})}"
            )
            record(per, outcome, group, v.values.get(per, v.value))
        if not found and not v.values:
            record("", f"no rows where {_describe_filter(loc.filter)}", None, v.value)
    table = pd.DataFrame.from_records(records, columns=COLUMNS)
    for column in ("paper_value", "paper_low", "paper_high", "run_value"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    table["n_rows"] = table["n_rows"].astype("int64")
    for column in set(COLUMNS) - {"paper_value", "paper_low", "paper_high", "run_value", "n_rows"}:
        table[column] = table[column].astype("string")
    return table


# -- the report page -----------------------------------------------------------------------


def _fmt(value, signed: bool = False) -> str:
    """A number for the page: three decimals (two significant digits under 0.01, so a gain of
    0.0004 is not "0.000"), a true minus sign, and ``signed``: a + on a positive difference."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if float(value).is_integer():
        text = f"{value:,.0f}"
    elif abs(value) < 0.01:
        text = f"{value:.2g}"
    else:
        text = f"{value:.3f}" if abs(value) < 10 else f"{value:.3g}"
    text = text.replace("-", MINUS)
    return f"+{text}" if signed and value > 0 else text


def _short(citation: str) -> str:
    """``Benchetrit, Banville & King 2023`` of a citation: up to its year."""
    match = re.match(r"^(.*?\b(?:19|20)\d\d)\b", citation)
    return match.group(1) if match else citation.split(",")[0]


def render_html(table: pd.DataFrame, values_file: str = "resources/paper_values.yaml") -> str:
    """The scorecard as one readable HTML page (the report's "Reproduction scorecard")."""
    colours = {"yes": "#d9f2d9", "no": "#f8d7d7"}
    head = (
        "<tr><th>paper</th><th>result</th><th>paper's value</th><th>where in the paper</th>"
        "<th>this run</th>"
        "<th>data</th><th>within the paper's spread</th><th>notes</th></tr>"
    )
    body = []
    for row in table.itertuples(index=False):
        paper = _fmt(row.paper_value) or "<i>not available here</i>"
        if not math.isnan(row.paper_low):
            paper += f"<br><small>{_fmt(row.paper_low)}–{_fmt(row.paper_high)}"
            paper += f" ({html.escape(row.spread_kind)})</small>"
        difference = f") {MINUS} (" in row.locator  # a gain: its sign is the result
        run = _fmt(row.run_value, signed=difference) or "undefined"
        run = run if row.status == "ok" else "<b>not run</b>"
        result = html.escape(row.result) + (f" [{html.escape(row.per)}]" if row.per else "")
        notes = [html.escape(row.note)] if row.note else []
        if row.status != "ok":
            notes.append(html.escape(row.status))
        notes.append(f"<small>locator: {html.escape(row.locator)}</small>")
        if row.verified:
            notes.append(f"<small>checked: {html.escape(row.verified)}</small>")
        within = html.escape(row.within_spread)
        colour = colours.get(row.within_spread, "#f0f0f0")
        body.append(
            "<tr>"
            f"<td>{html.escape(_short(row.paper))}</td><td>{result}</td>"
            f"<td class='num'>{paper}</td><td>{html.escape(row.paper_source)}</td>"
            f"<td class='num'>{run}</td><td>{html.escape(row.data)}</td>"
            f"<td style='background:{colour}'>{within}</td><td>{'<br>'.join(notes)}</td>"
            "</tr>"
        )
    papers = sorted(dict.fromkeys(table["paper"]))
    return (
        "<html><head><meta charset='utf-8'><title>Reproduction scorecard</title><style>"
        "body{font-family:sans-serif;font-size:13px;margin:1em}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:3px 6px;"
        "vertical-align:top;text-align:left;overflow-wrap:anywhere}td.num{text-align:right;white-space:nowrap}"
        "th{background:#eee}</style></head><body>"
        "<h1>Reproduction scorecard</h1>"
        "<p>Each paper's headline result beside this run's number. Paper values, their sources "
        f"and where each was checked: <code>{html.escape(values_file)}</code>; the table: "
        "<code>results/scorecard.parquet</code>. <i>Within the paper's spread</i> is answered "
        "only for real data with a paper value and spread: on simulated data it is "
        "<i>n/a</i>, never a pass. <i>Not run</i>: this config did not build the table or "
        "its rows.</p>"
        f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
        "<h2>Papers</h2><ul>"
        + "".join(f"<li>{html.escape(p)}</li>" for p in papers)
        + "</ul></body></html>"
    )
