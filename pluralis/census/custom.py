"""Census targets for any population: a table of shares you supply, beside the shipped US/UK tables.

A target table is a CSV, TSV, JSON-lines or parquet file in one of two shapes:

**marginal** — one row per (variable, category)::

    variable,category,share
    gender,Female,0.51
    gender,Male,0.49
    age,18-34,0.30
    age,35-64,0.50
    age,65+,0.20

**joint** — one column per variable and a share column, one row per cell (margins are its sums)::

    gender,age,share
    Female,18-34,0.15
    ...

The share column may be called ``share``, ``proportion``, ``percent``, ``count``, ``population``
or ``n``; shares are normalised per variable, so counts and percentages work as they are. Survey
answers are matched to the categories case- and space-insensitively, and numbers are placed in
the bands of a variable whose categories are all numeric ranges (``18-34``, ``35 to 64``,
``65+``, ``under 18``). An answer that matches no category is an error naming the variable, the
expected categories and examples (or, with ``on_unknown="drop"``, weight 0, like a "prefer not
to say").

Why not the shipped tables' code: :mod:`pluralis.census.targets` knows the US and UK variables
(age bands, gender, ethnicity) and their vocabulary; a user's population has its own variables and
categories. Weighting itself is the same code (:func:`pluralis.census.weights.rake`,
:func:`~pluralis.census.weights.poststratify`), cross-checked against ``ipfn`` there.

Example
-------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "targets.csv"
>>> _ = p.write_text("variable,category,share\\ngender,Female,51\\ngender,Male,49\\n"
...                  "age,18-44,50\\nage,45+,50\\n")
>>> table = load_target_table(p)
>>> table.variables, table.margins["gender"].round(2).to_dict()
(('gender', 'age'), {'Female': 0.51, 'Male': 0.49})
>>> survey = pd.DataFrame({"user_id": list("abcd"), "gender": ["female", "Male", "male", "Female"],
...                        "age": [30, 61, 30, 50]})
>>> w = table.weights(survey).weights
>>> round(float((w["a"] + w["d"]) / w.sum()), 2), round(float((w["a"] + w["c"]) / w.sum()), 2)
(0.51, 0.5)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pluralis.census.weights import WeightingResult, poststratify, rake
from pluralis.errors import ConfigError

#: Names the share column may have (first found wins).
SHARE_COLUMNS = ("share", "proportion", "percent", "percentage", "count", "population", "n")

_RANGE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:-|–|—|to)\s*(\d+(?:\.\d+)?)(?:\s*(?:years?(?:\s*old)?))?$")
_OPEN_HIGH = re.compile(
    r"^(\d+(?:\.\d+)?)\s*(?:\+|or (?:over|older|more)|and (?:over|older|above))(?:\s*years?(?:\s*old)?)?$"
)
_OPEN_LOW = re.compile(r"^(?:under|below|<)\s*(\d+(?:\.\d+)?)(?:\s*years?(?:\s*old)?)?$")


def _key(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value).strip().lower())


def _band(label: str) -> tuple[float, float] | None:
    """``[lo, hi)`` of a category that names a numeric range, else ``None``."""
    key = _key(label)
    if m := _RANGE.match(key):
        lo, hi = float(m.group(1)), float(m.group(2))
        return (lo, hi + 1) if lo <= hi else None  # "18-34" holds 34.x: integer ages, inclusive upper bound
    if m := _OPEN_HIGH.match(key):
        return float(m.group(1)), math.inf
    if m := _OPEN_LOW.match(key):
        return -math.inf, float(m.group(1))
    return None


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        sep = "\t" if suffix in (".tsv", ".tab") else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such target table") from None
    except (ValueError, OSError) as e:
        raise ConfigError(f"{path}: cannot read the target table: {e}") from None


@dataclass(frozen=True)
class TargetTable:
    """Population shares to weight and compare a sample with (see the module docs).

    ``margins``: ``{variable: Series(category -> share)}``, each summing to 1; ``joint``: the cells
    (one column per variable and ``share``) when the file gave them, else ``None``.

    Example
    -------
    >>> t = TargetTable("t", {"g": pd.Series({"a": 0.5, "b": 0.5})})
    >>> t.variables, t.expected_categories("g")
    (('g',), ('a', 'b'))
    """

    source: str
    margins: dict[str, pd.Series]
    joint: pd.DataFrame | None = None

    @property
    def variables(self) -> tuple[str, ...]:
        """The table's variables, in file order."""
        return tuple(self.margins)

    def expected_categories(self, variable: str) -> tuple[str, ...]:
        """The categories of ``variable``.

        Parameters
        ----------
        variable
            One of :attr:`variables`.

        Returns
        -------
        tuple of str

        Example
        -------
        >>> TargetTable("t", {"g": pd.Series({"a": 1.0})}).expected_categories("g")
        ('a',)
        """
        return tuple(str(c) for c in self.margins[variable].index)

    def map_survey(self, survey: pd.DataFrame, *, on_unknown: str = "raise") -> pd.DataFrame:
        """A copy of ``survey`` whose table variables hold the table's category labels.

        Labels match case- and space-insensitively; numbers fall into the bands of a variable whose
        categories are all numeric ranges. Missing answers stay missing.

        Parameters
        ----------
        survey
            One row per participant, with a column per table variable.
        on_unknown
            ``"raise"`` (default): an answer matching no category is an error naming the variable, the
            expected categories and examples; ``"drop"``: it becomes missing (weight 0 when weighting).

        Returns
        -------
        pandas.DataFrame

        Raises
        ------
        ConfigError
            a variable missing from the survey (naming the survey's columns), or unknown answers.

        Example
        -------
        >>> t = TargetTable("t.csv", {"age": pd.Series({"18-44": .5, "45+": .5})})
        >>> t.map_survey(pd.DataFrame({"age": [20, "45+", 80]}))["age"].tolist()
        ['18-44', '45+', '45+']
        >>> t.map_survey(pd.DataFrame({"age": ["old"]}))
        Traceback (most recent call last):
        ...
        pluralis.errors.ConfigError: t.csv: age: 1 of 1 answers match no category of the target table ('18-44', '45+'), e.g. 'old'
        """
        if on_unknown not in ("raise", "drop"):
            raise ConfigError(f"on_unknown must be 'raise' or 'drop', got {on_unknown!r}")
        missing = [v for v in self.variables if v not in survey.columns]
        if missing:
            raise ConfigError(
                f"{self.source}: the survey has no column(s) {', '.join(missing)} of the target table; "
                f"it has: {', '.join(map(str, survey.columns))}"
            )
        out = survey.copy()
        for var in self.variables:
            cats = self.expected_categories(var)
            by_key = {_key(c): c for c in cats}
            bands = [_band(c) for c in cats]
            numeric = all(b is not None for b in bands)
            values = survey[var]
            lookup: dict[Any, Any] = {}
            for raw in pd.unique(values[values.notna()].astype(object)):  # one lookup per distinct answer
                found = by_key.get(_key(raw))
                if found is None and numeric:
                    try:
                        x = float(raw)
                    except (TypeError, ValueError):
                        x = math.nan
                    for cat, band in zip(cats, bands):
                        if band is not None and band[0] <= x < band[1]:
                            found = cat
                            break
                lookup[raw] = found
            mapped = values.astype(object).map(lookup)
            unknown = values.notna() & mapped.isna()
            if unknown.any() and on_unknown == "raise":
                examples = ", ".join(repr(v) for v in pd.unique(values[unknown].astype(object))[:5])
                raise ConfigError(
                    f"{self.source}: {var}: {int(unknown.sum())} of {int(values.notna().sum())} answers match no "
                    f"category of the target table ({', '.join(repr(c) for c in cats)}), e.g. {examples}"
                )
            out[var] = mapped
        return out

    def weights(
        self,
        survey: pd.DataFrame,
        *,
        method: str = "rake",
        variables: Sequence[str] | None = None,
        on_unknown: str = "raise",
        on_empty: str = "raise",
        trim: Any = None,
    ) -> WeightingResult:
        """Weights matching ``survey`` to the table: raking to its margins, or post-stratifying to its cells.

        Parameters
        ----------
        survey
            One row per participant (``user_id`` and the table's variables).
        method
            ``"rake"`` (one-way margins, :func:`~pluralis.census.weights.rake`) or ``"poststratify"``
            (the joint cells; needs a joint table).
        variables
            The variables to weight on (default: all of the table's).
        on_unknown
            As :meth:`map_survey`; unknown or missing answers get weight 0 either way once mapped.
        on_empty, trim
            As :func:`~pluralis.census.weights.rake`.

        Returns
        -------
        WeightingResult

        Example
        -------
        >>> t = TargetTable("t", {"g": pd.Series({"a": .8, "b": .2})})
        >>> s = pd.DataFrame({"user_id": ["u1", "u2"], "g": ["a", "b"]})
        >>> t.weights(s).weights.round(2).tolist()
        [1.6, 0.4]
        """
        chosen = list(variables) if variables is not None else list(self.variables)
        unknown = [v for v in chosen if v not in self.margins]
        if unknown:
            raise ConfigError(f"{self.source}: no variable(s) {unknown} in the target table ({list(self.variables)})")
        mapped = self.map_survey(survey, on_unknown=on_unknown)
        if method == "rake":
            return rake(
                mapped,
                {v: self.margins[v] for v in chosen},
                on_unclassified="drop",
                on_empty=on_empty,
                trim=trim,
            )
        if method == "poststratify":
            if self.joint is None:
                raise ConfigError(f"{self.source}: post-stratification needs a joint table (one column per variable)")
            cells = self.joint.groupby(chosen, observed=True)["share"].sum()
            return poststratify(mapped, cells, by=chosen, on_unclassified="drop", on_empty=on_empty)
        raise ConfigError(f"method must be 'rake' or 'poststratify', got {method!r}")

    def compare(self, survey: pd.DataFrame, *, weights: Any = None, on_unknown: str = "raise") -> pd.DataFrame:
        """Observed against target shares per variable and category, with total variation distance.

        Parameters
        ----------
        survey
            One row per participant.
        weights
            Optional participant weights (aligned with the rows) for weighted observed shares.
        on_unknown
            As :meth:`map_survey`.

        Returns
        -------
        pandas.DataFrame
            ``variable, category, n_observed, observed_share, expected_share, difference_pp`` and, per
            variable, ``tvd`` (half the sum of absolute share differences) repeated on its rows.

        Example
        -------
        >>> t = TargetTable("t", {"g": pd.Series({"a": .5, "b": .5})})
        >>> t.compare(pd.DataFrame({"g": ["a", "a", "a", "b"]}))[["category", "difference_pp", "tvd"]].values.tolist()
        [['a', 25.0, 0.25], ['b', -25.0, 0.25]]
        """
        mapped = self.map_survey(survey, on_unknown=on_unknown)
        w = np.ones(len(mapped)) if weights is None else np.asarray(weights, dtype=float)
        if len(w) != len(mapped):
            raise ConfigError(f"weights: {len(w)} values for {len(mapped)} participants")
        rows = []
        for var in self.variables:
            target = self.margins[var]
            col = mapped[var]
            known = col.notna().to_numpy()
            counts = col[known].value_counts()
            wsum = pd.Series(w[known], index=col[known].to_numpy()).groupby(level=0).sum()
            total = float(wsum.sum())
            observed = (wsum / total).reindex(target.index, fill_value=0.0) if total > 0 else target * np.nan
            diff = observed - target
            tvd = float(0.5 * diff.abs().sum())
            for cat in target.index:
                rows.append(
                    {
                        "variable": var,
                        "category": str(cat),
                        "n_observed": int(counts.get(cat, 0)),
                        "observed_share": float(observed[cat]),
                        "expected_share": float(target[cat]),
                        "difference_pp": round(100.0 * float(diff[cat]), 10),
                        "tvd": round(tvd, 10),
                    }
                )
        return pd.DataFrame(rows)


def load_target_table(path: str | Path) -> TargetTable:
    """Read a target table (marginal or joint shares; see the module docs), checked row by row.

    Parameters
    ----------
    path
        CSV, TSV, JSON-lines or parquet file.

    Returns
    -------
    TargetTable

    Raises
    ------
    ConfigError
        an unreadable file, no share column, a share that is not a non-negative number (named with its
        line), an empty category, a repeated category or cell, or a variable whose shares sum to 0.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cells.csv"
    >>> _ = p.write_text("gender,region,count\\nFemale,North,30\\nMale,North,20\\nFemale,South,25\\nMale,South,25\\n")
    >>> t = load_target_table(p)
    >>> t.variables, t.margins["region"].to_dict(), len(t.joint)
    (('gender', 'region'), {'North': 0.5, 'South': 0.5}, 4)
    >>> _ = p.write_text("variable,category,share\\ngender,Female,lots\\n")
    >>> load_target_table(p)
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: ...cells.csv:2: share: 'lots' is not a number
    """
    path = Path(path)
    raw = _read(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    lower = {c.lower(): c for c in raw.columns}
    share_col = next((lower[n] for n in SHARE_COLUMNS if n in lower), None)
    if share_col is None:
        raise ConfigError(
            f"{path}: no share column: expected one of {', '.join(SHARE_COLUMNS)}; the file has "
            f"{', '.join(raw.columns) or 'no columns'}"
        )
    if raw.empty:
        raise ConfigError(f"{path}: the target table has no rows")
    line = pd.RangeIndex(2, len(raw) + 2)  # header is line 1 (CSV); row numbers otherwise
    text = raw[share_col].astype(str).str.strip().str.rstrip("%")
    shares = pd.to_numeric(text, errors="coerce")
    bad = shares.isna() | ~np.isfinite(shares.to_numpy(dtype=float, na_value=np.nan)) | (shares < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        value = raw[share_col].iloc[i]
        why = "is negative" if not pd.isna(shares.iloc[i]) and shares.iloc[i] < 0 else "is not a number"
        raise ConfigError(f"{path}:{line[i]}: {share_col}: {value!r} {why}")
    marginal = "variable" in lower and "category" in lower
    variables = [lower["variable"], lower["category"]] if marginal else [c for c in raw.columns if c != share_col]
    if not variables:
        raise ConfigError(f"{path}: no variable columns beside {share_col!r}")
    for col in variables:
        empty = raw[col].astype(str).str.strip().isin(["", "nan", "None"])
        if empty.any():
            raise ConfigError(f"{path}:{line[int(np.flatnonzero(empty.to_numpy())[0])]}: {col}: empty value")
    keys = raw[variables].astype(str).apply(lambda c: c.str.strip())
    dup = keys.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        cell = ", ".join(f"{c}={keys[c].iloc[i]!r}" for c in variables)
        raise ConfigError(f"{path}:{line[i]}: {cell} appears twice")
    frame = keys.assign(share=shares.astype(float).to_numpy())
    margins: dict[str, pd.Series] = {}
    if marginal:
        var_col, cat_col = variables
        for var, part in frame.groupby(var_col, sort=False):
            margins[str(var)] = part.set_index(cat_col)["share"].rename_axis(None)
        joint = None
    else:
        for var in variables:
            margins[var] = frame.groupby(var, sort=False)["share"].sum().rename_axis(None)
        joint = frame
    for var, s in margins.items():
        total = float(s.sum())
        if total <= 0:
            raise ConfigError(f"{path}: {var}: the shares sum to 0")
        margins[var] = (s / total).rename(var)
    if joint is not None:
        joint = joint.assign(share=joint["share"] / float(joint["share"].sum()))
    return TargetTable(str(path), margins, joint)


__all__ = ["SHARE_COLUMNS", "TargetTable", "load_target_table"]
