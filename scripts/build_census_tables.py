#!/usr/bin/env python
"""Build the census targets shipped in ``pluralis/census/resources/`` from the PRISM census source tables.

Reads (build time only; Pluralis never reads these at run time):

- ``uk.csv``: ONS Census 2021, England and Wales, usual residents by single year of age (0 ... 100+)
  x ethnic group (19 subgroups) x sex, "... 2021 (number)" columns.
- ``us_census_age_sex_{group}only.xlsx``: US Census Bureau, ACS 2022 1-year, tables B01001B-I
  (sex by age per race/ethnicity group), sheet "Data".
- ``us_census_aggregate.csv``: PRISM's own adult joint table (used here only as a cross-check).

Writes ``pluralis/census/resources/census_targets.csv``: one row per (country, age band, sex, census
group) with the adult head count, in the category strings Pluralis participants use
(:data:`pluralis.data.vocab.AGE_BANDS`, ``"Male"``/``"Female"``, :data:`~pluralis.data.vocab.CENSUS_ETHNICITIES`).

Usage::

    .venv/bin/python scripts/build_census_tables.py [--source /work/shared/data/prism-census] [--check]

``--check`` rebuilds in memory and fails if the shipped file differs.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _load_vocab():
    """Import ``pluralis/data/vocab.py`` by path (no package import side effects at build time)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_pluralis_vocab", ROOT / "pluralis" / "data" / "vocab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vocab = _load_vocab()

DEFAULT_SOURCE = Path("/work/shared/data/prism-census")
OUT = ROOT / "pluralis" / "census" / "resources" / "census_targets.csv"

#: Age bands: inclusive lower bound of each PRISM band (App. L).
UK_AGE_EDGES = [18, 25, 35, 45, 55, 65]

#: ONS ethnic-group prefix -> PRISM census ethnicity (App. L; spec §3.3).
UK_ETHNICITY = {
    "Asian/Asian British": "Asian",
    "Black/African/Caribbean/Black British": "Black",
    "Mixed or Multiple ethnic groups": "Mixed",
    "White": "White",
    "Other ethnic group": "Other",
}

#: US source file stem -> (census group label, ACS table, PRISM census ethnicity, detailed ethnicity).
#: PRISM folds Hispanic, Some Other Race, NHPI and AIAN into "Other" (App. L fn 21); the detailed
#: scheme keeps Hispanic apart (the aggregate table's split; ``vocab.ETHNICITY_SIMPLIFIED`` strings).
US_GROUPS = {
    "white": ("White alone, not Hispanic or Latino", "B01001H", "White", "White"),
    "black": ("Black or African American alone", "B01001B", "Black", "Black"),
    "asian": ("Asian alone", "B01001D", "Asian", "Asian"),
    "mixed": ("Two or More Races", "B01001G", "Mixed", "Mixed"),
    "hispanic": ("Hispanic or Latino", "B01001I", "Other", "Hispanic"),
    "other": ("Some Other Race alone", "B01001F", "Other", "Other"),
    "islander": ("Native Hawaiian and Other Pacific Islander alone", "B01001E", "Other", "Other"),
    "native": ("American Indian and Alaska Native alone", "B01001C", "Other", "Other"),
}
#: ACS age rows -> PRISM band (18-19 + 20-24 -> 18-24, ..., 65-74 + 75-84 + 85+ -> 65+).
US_AGE_ROWS = {
    "18 and 19 years": 0,
    "20 to 24 years": 0,
    "25 to 29 years": 1,
    "30 to 34 years": 1,
    "35 to 44 years": 2,
    "45 to 54 years": 3,
    "55 to 64 years": 4,
    "65 to 74 years": 5,
    "75 to 84 years": 5,
    "85 years and over": 5,
}
EXPECTED_TOTALS = {"UK": 47_204_870, "US": 298_477_760}  # App. L, Fig. 8 caption
COLUMNS = ["country", "age", "gender", "census_group", "source_table", "ethnicity", "ethnicity_detailed", "count"]


def build_uk(source: Path) -> pd.DataFrame:
    """UK adults (18+) by PRISM age band x sex x ONS ethnic subgroup."""
    raw = pd.read_csv(source / "uk.csv", encoding="utf-8-sig", dtype={"Age": str})
    age = pd.to_numeric(raw["Age"].str.rstrip("+"), errors="raise").to_numpy()
    cols = [c for c in raw.columns if c.endswith(" 2021 (number)")]
    if len(cols) != 38:
        raise SystemExit(f"uk.csv: expected 38 '2021 (number)' columns, found {len(cols)}")
    adult = age >= 18
    band = np.searchsorted(UK_AGE_EDGES, age[adult], side="right") - 1
    rows = []
    for col in cols:
        label = col[: -len(" 2021 (number)")]  # "Asian/Asian British: Bangladeshi, Female"
        group, sex = label.rsplit(", ", 1)
        prefix = group.split(":")[0]
        eth = UK_ETHNICITY[prefix]
        counts = np.bincount(band, weights=raw.loc[adult, col].to_numpy(dtype=float), minlength=6)
        for b, n in enumerate(counts):
            rows.append(("UK", vocab.AGE_BANDS[b], sex, group, "ONS Census 2021 (E&W)", eth, eth, int(round(n))))
    return pd.DataFrame(rows, columns=COLUMNS)


def _read_acs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = pd.read_excel(path, sheet_name="Data", header=1)
    labels = data["Label"].astype(str).str.strip().to_numpy()
    est = pd.to_numeric(data["Estimate"].astype(str).str.replace(",", ""), errors="coerce").to_numpy()
    male_at = int(np.flatnonzero(labels == "Male:")[0])
    female_at = int(np.flatnonzero(labels == "Female:")[0])
    out = []
    for start, stop in ((male_at, female_at), (female_at, len(labels))):
        bands = np.zeros(6)
        for i in range(start + 1, stop):
            if labels[i] in US_AGE_ROWS:
                bands[US_AGE_ROWS[labels[i]]] += est[i]
        out.append(bands)
    return out[0], out[1]


def build_us(source: Path) -> pd.DataFrame:
    """US adults (18+) by PRISM age band x sex x ACS race/ethnicity table."""
    rows = []
    for stem, (group, table, eth, detailed) in US_GROUPS.items():
        male, female = _read_acs(source / f"us_census_age_sex_{stem}only.xlsx")
        for sex, counts in (("Male", male), ("Female", female)):
            for b, n in enumerate(counts):
                rows.append(("US", vocab.AGE_BANDS[b], sex, group, f"ACS 2022 1-year {table}", eth, detailed, int(n)))
    return pd.DataFrame(rows, columns=COLUMNS)


def check(table: pd.DataFrame, source: Path) -> None:
    """Totals from the paper, and the US joint shares against PRISM's aggregate table."""
    for country, expected in EXPECTED_TOTALS.items():
        got = int(table.loc[table.country == country, "count"].sum())
        if got != expected:
            raise SystemExit(f"{country}: adult total {got:,} != {expected:,} (App. L)")
    agg_path = source / "us_census_aggregate.csv"
    if agg_path.exists():
        agg = pd.read_csv(agg_path, index_col=0)
        us = table[table.country == "US"]
        shares = us.groupby(["age", "ethnicity_detailed", "gender"])["count"].sum() / us["count"].sum()
        worst = 0.0
        for (age, eth, sex), share in shares.items():
            worst = max(worst, abs(share - agg.loc[age, f"{eth}_{sex}"]))
        if worst > 1e-12:
            raise SystemExit(f"US shares differ from us_census_aggregate.csv by up to {worst:.2e}")


def build(source: Path) -> pd.DataFrame:
    table = pd.concat([build_uk(source), build_us(source)], ignore_index=True)
    check(table, source)
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="fail if the shipped table is out of date")
    args = ap.parse_args(argv)
    table = build(args.source)
    buf = io.StringIO()
    table.to_csv(buf, index=False, lineterminator="\n")
    text = buf.getvalue()
    if args.check:
        current = args.out.read_text("utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date; rerun scripts/build_census_tables.py", file=sys.stderr)
            return 1
        print(f"{args.out}: up to date ({len(table)} rows)")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, "utf-8")
    totals = table.groupby("country")["count"].sum()
    print(f"wrote {args.out} ({len(table)} rows; adults: " + ", ".join(f"{c} {n:,}" for c, n in totals.items()) + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
