#!/usr/bin/env python
"""Build the census targets shipped in ``pluralis/census/resources/`` from the PRISM census source tables.

Reads (build time only; Pluralis never reads these at run time):

- ``uk.csv``: ONS Census 2021, England and Wales, usual residents by single year of age (0 ... 100+)
  x ethnic group (19 subgroups) x sex, "... 2021 (number)" columns.
- ``us_census_age_sex_{group}only.xlsx``: US Census Bureau, ACS 2022 1-year, tables B01001B-I
  (sex by age per race/ethnicity group), sheet "Data".
- ``us_census_aggregate.csv``: PRISM's own adult joint table (used here only as a cross-check).

Writes two tables, one row per (country, age band, sex, census group) with the adult head count, in
the category strings Pluralis participants use (:data:`pluralis.data.vocab.AGE_BANDS`,
``"Male"``/``"Female"``, :data:`~pluralis.data.vocab.CENSUS_ETHNICITIES`):

- ``census_targets.csv`` (the default, ``construction="disjoint"``): US race x Hispanic origin
  disjoint (every adult counted once; 261.2 M adults). White alone not Hispanic (B01001H) and
  Hispanic or Latino (B01001I) are read exactly; the non-Hispanic adults of the other race groups
  are the race-alone tables (B01001B-G) less their Hispanic members, *estimated* per age x sex cell
  (:func:`hispanic_by_race`; the model and every external number are in ``SOURCES.md``).
- ``census_targets_prism.csv`` (``construction="prism"``): PRISM's construction, race-alone tables
  plus Hispanic of any race, so Hispanic adults of a non-White race are counted twice (298.5 M).

The UK rows are the same in both.

Usage::

    .venv/bin/python scripts/build_census_tables.py [--source /work/shared/data/prism-census] [--check]

``--check`` rebuilds in memory and fails if a shipped file differs.
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
RESOURCES = ROOT / "pluralis" / "census" / "resources"
#: Construction -> shipped file (``pluralis.census.targets.CONSTRUCTIONS``).
OUTPUTS = {"disjoint": RESOURCES / "census_targets.csv", "prism": RESOURCES / "census_targets_prism.csv"}

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
#: The race groups whose ACS tables (B01001B-G) include Hispanic members; the disjoint table keeps
#: their non-Hispanic members only (White's table, B01001H, already excludes Hispanics).
NON_WHITE = ("black", "native", "asian", "islander", "other", "mixed")
NOT_HISPANIC = ", not Hispanic or Latino"
#: Every ACS age row, in table order; the first four are children.
ACS_AGE_ROWS = (
    "Under 5 years",
    "5 to 9 years",
    "10 to 14 years",
    "15 to 17 years",
    "18 and 19 years",
    "20 to 24 years",
    "25 to 29 years",
    "30 to 34 years",
    "35 to 44 years",
    "45 to 54 years",
    "55 to 64 years",
    "65 to 74 years",
    "75 to 84 years",
    "85 years and over",
)
#: ACS age rows -> PRISM band (18-19 + 20-24 -> 18-24, ..., 65-74 + 75-84 + 85+ -> 65+); children -> -1.
US_BAND = np.array([-1, -1, -1, -1, 0, 0, 1, 1, 2, 3, 4, 5, 5, 5])

# --- published figures the disjoint US table needs beyond the shipped ACS tables (SOURCES.md) ---------

#: United States resident population on 1 July 2022, Vintage 2022 population estimates
#: (NST-EST2022-POP / NA-EST2022-POP); ACS 2022 1-year weights are controlled to it, so it is the
#: total of ACS table B01001 (all race groups together). Its only use: total minus the race-alone
#: tables gives the number of Hispanic adults and children who are White alone.
US_TOTAL_2022 = 333_287_557
#: 2020 Census, Redistricting Data (P.L. 94-171 Summary File), United States: table P1 (population
#: of one race / two or more races) and table P2 (not Hispanic or Latino, by race). Only their ratios
#: are used: the odds that a person of each race group is Hispanic (relative across race groups).
CENSUS_2020_P1 = {
    "white": 204_277_273,
    "black": 41_104_200,
    "native": 3_727_135,
    "asian": 19_886_049,
    "islander": 689_966,
    "other": 27_915_715,
    "mixed": 33_848_943,
}
CENSUS_2020_P2_NOT_HISPANIC = {
    "white": 191_697_647,
    "black": 39_940_338,
    "native": 2_251_699,
    "asian": 19_618_719,
    "islander": 622_018,
    "other": 1_689_833,
    "mixed": 13_548_983,
}
CENSUS_2020_TOTAL = 331_449_281  # P1_001N
CENSUS_2020_HISPANIC = 62_080_044  # P2_002N

EXPECTED_TOTALS = {"UK": 47_204_870, "US": 298_477_760}  # App. L, Fig. 8 caption (PRISM's construction)
#: Checks of the disjoint US table: about 260 M adults (Vintage 2022 estimates: 333.3 M people, about
#: 72.5 M of them under 18) and a non-Hispanic White share of adults of about 60-62 %.
US_DISJOINT_ADULTS = (255e6, 265e6)
US_DISJOINT_WHITE_SHARE = (0.60, 0.62)
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


def read_acs(path: Path) -> dict[str, np.ndarray]:
    """One ACS sex-by-age table: ``{"Male": counts, "Female": counts}`` over :data:`ACS_AGE_ROWS`."""
    data = pd.read_excel(path, sheet_name="Data", header=1)
    labels = data["Label"].astype(str).str.strip().to_numpy()
    est = pd.to_numeric(data["Estimate"].astype(str).str.replace(",", ""), errors="coerce").to_numpy()
    male_at = int(np.flatnonzero(labels == "Male:")[0])
    female_at = int(np.flatnonzero(labels == "Female:")[0])
    out = {}
    for sex, start, stop in (("Male", male_at, female_at), ("Female", female_at, len(labels))):
        rows = dict(zip(labels[start + 1 : stop], est[start + 1 : stop]))
        missing = [r for r in ACS_AGE_ROWS if r not in rows]
        if missing:
            raise SystemExit(f"{path.name}: {sex} lacks age rows {missing}")
        out[sex] = np.array([rows[r] for r in ACS_AGE_ROWS], dtype=float)
    return out


def read_us(source: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every US source table: ``{stem: {sex: counts per ACS age row}}``."""
    return {stem: read_acs(source / f"us_census_age_sex_{stem}only.xlsx") for stem in US_GROUPS}


def _bands(counts: np.ndarray) -> np.ndarray:
    """Adult counts per PRISM band from counts per ACS age row."""
    adult = US_BAND >= 0
    return np.bincount(US_BAND[adult], weights=counts[adult], minlength=6)


def build_us_prism(acs: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """PRISM's US table: adults (18+) by age band x sex x ACS race/ethnicity table, as published."""
    rows = []
    for stem, (group, table, eth, detailed) in US_GROUPS.items():
        for sex in ("Male", "Female"):
            for b, n in enumerate(_bands(acs[stem][sex])):
                rows.append(("US", vocab.AGE_BANDS[b], sex, group, f"ACS 2022 1-year {table}", eth, detailed, int(n)))
    return pd.DataFrame(rows, columns=COLUMNS)


def hispanic_white_total(acs: dict[str, dict[str, np.ndarray]]) -> float:
    """Hispanic people who are White alone, all ages: the US total less every race-alone table.

    The race-alone tables (B01001A-G: White alone = not Hispanic B01001H + Hispanic) partition the
    population, so ``US_TOTAL_2022 - B01001H - sum(B01001B-G)`` is the Hispanic White-alone count.
    """
    counted = sum(acs[s][sex].sum() for s in ("white", *NON_WHITE) for sex in ("Male", "Female"))
    return US_TOTAL_2022 - counted


def hispanic_by_race(acs: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """Hispanic members of each non-White race table, per sex and ACS age row (estimated).

    The ACS publishes no sex-by-age table of, say, Black *non-Hispanic* people, so the Hispanic
    members of each race table are estimated per age x sex cell under two documented assumptions:

    1. Hispanic people who are White alone (all ages: :func:`hispanic_white_total`) are the same
       share of the Hispanic population (B01001I) in every cell; the rest of a cell's Hispanic
       people, ``I_c - HW_c``, belong to the six other race groups.
    2. Within a cell, the odds that a member of race group r is Hispanic are the 2020 Census odds
       for r (tables P1, P2) times one factor common to the cell's race groups, found so that the
       cell's Hispanic members add up to ``I_c - HW_c``:
       ``h_rc = R_rc * expit(logit(p_r) + delta_c)``, which also keeps ``0 <= h_rc <= R_rc``.
    """
    from scipy.optimize import brentq
    from scipy.special import expit, logit

    total_2020 = sum(CENSUS_2020_P1.values())
    hispanic_2020 = total_2020 - sum(CENSUS_2020_P2_NOT_HISPANIC.values())
    if total_2020 != CENSUS_2020_TOTAL or hispanic_2020 != CENSUS_2020_HISPANIC:
        raise SystemExit("2020 Census P1/P2 figures do not add up to the published totals")
    base = {r: logit(1 - CENSUS_2020_P2_NOT_HISPANIC[r] / CENSUS_2020_P1[r]) for r in NON_WHITE}
    hisp_total = sum(acs["hispanic"][sex].sum() for sex in ("Male", "Female"))
    white_share = hispanic_white_total(acs) / hisp_total
    out: dict[str, dict[str, np.ndarray]] = {r: {} for r in NON_WHITE}
    for sex in ("Male", "Female"):
        cols = {r: np.zeros(len(ACS_AGE_ROWS)) for r in NON_WHITE}
        for k in range(len(ACS_AGE_ROWS)):
            target = acs["hispanic"][sex][k] * (1 - white_share)
            size = {r: acs[r][sex][k] for r in NON_WHITE}
            if not 0 < target < sum(size.values()):
                raise SystemExit(f"{sex} {ACS_AGE_ROWS[k]}: {target:.0f} Hispanic people cannot fit the race tables")

            def excess(delta: float, size: dict[str, float] = size, target: float = target) -> float:
                return sum(size[r] * expit(base[r] + delta) for r in NON_WHITE) - target

            delta = brentq(excess, -40.0, 40.0, xtol=1e-14)
            for r in NON_WHITE:
                cols[r][k] = size[r] * expit(base[r] + delta)
        for r in NON_WHITE:
            out[r][sex] = cols[r]
    return out


def build_us_disjoint(acs: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """US adults (18+) by age band x sex x race *and* Hispanic origin, every adult counted once."""
    hisp = hispanic_by_race(acs)
    rows = []
    for stem, (group, table, eth, detailed) in US_GROUPS.items():
        if stem in NON_WHITE:
            group, source = group + NOT_HISPANIC, f"ACS 2022 1-year {table} less Hispanic (estimated)"
        else:
            source = f"ACS 2022 1-year {table}"
        for sex in ("Male", "Female"):
            counts = acs[stem][sex] - (hisp[stem][sex] if stem in NON_WHITE else 0.0)
            for b, n in enumerate(_bands(counts)):
                rows.append(("US", vocab.AGE_BANDS[b], sex, group, source, eth, detailed, int(round(n))))
    return pd.DataFrame(rows, columns=COLUMNS)


def check_prism(table: pd.DataFrame, source: Path) -> None:
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


def check_disjoint(table: pd.DataFrame, prism: pd.DataFrame, acs: dict[str, dict[str, np.ndarray]]) -> None:
    """The disjoint US table: exact where it is read, consistent with the US total, plausible totals."""
    us, old = table[table.country == "US"], prism[prism.country == "US"]
    for group in ("White alone, not Hispanic or Latino", "Hispanic or Latino"):  # read, not estimated
        a = us[us.census_group == group]["count"].to_numpy()
        b = old[old.census_group == group]["count"].to_numpy()
        if not np.array_equal(a, b):
            raise SystemExit(f"disjoint US table: {group} differs from its ACS table")
    hisp = hispanic_by_race(acs)
    people = sum(acs[s][sex].sum() for s in ("white", "hispanic") for sex in ("Male", "Female")) + sum(
        (acs[r][sex] - hisp[r][sex]).sum() for r in NON_WHITE for sex in ("Male", "Female")
    )
    if abs(people - US_TOTAL_2022) > 1.0:
        raise SystemExit(f"disjoint US table: all ages add up to {people:,.0f}, not {US_TOTAL_2022:,}")
    adults = int(us["count"].sum())
    white = us.loc[us.census_group == "White alone, not Hispanic or Latino", "count"].sum() / adults
    lo, hi = US_DISJOINT_ADULTS
    if not lo <= adults <= hi:
        raise SystemExit(f"disjoint US table: {adults:,} adults, outside [{lo:,.0f}, {hi:,.0f}]")
    if not US_DISJOINT_WHITE_SHARE[0] <= white <= US_DISJOINT_WHITE_SHARE[1]:
        raise SystemExit(f"disjoint US table: non-Hispanic White share {white:.3f} is implausible")


def build(source: Path) -> dict[str, pd.DataFrame]:
    """Both constructions: ``{"disjoint": table, "prism": table}`` (UK rows identical)."""
    uk = build_uk(source)
    acs = read_us(source)
    prism = pd.concat([uk, build_us_prism(acs)], ignore_index=True)
    check_prism(prism, source)
    disjoint = pd.concat([uk, build_us_disjoint(acs)], ignore_index=True)
    check_disjoint(disjoint, prism, acs)
    return {"disjoint": disjoint, "prism": prism}


def _csv(table: pd.DataFrame) -> str:
    buf = io.StringIO()
    table.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--out", type=Path, default=RESOURCES, help="folder to write the tables to")
    ap.add_argument("--check", action="store_true", help="fail if a shipped table is out of date")
    args = ap.parse_args(argv)
    tables = build(args.source)
    stale = []
    for construction, table in tables.items():
        path = args.out / OUTPUTS[construction].name
        text = _csv(table)
        totals = ", ".join(f"{c} {n:,}" for c, n in table.groupby("country")["count"].sum().items())
        if args.check:
            if not path.exists() or path.read_text("utf-8") != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        print(f"wrote {path} ({construction}: {len(table)} rows; adults: {totals})")
    if stale:
        print(f"{', '.join(map(str, stale))} out of date; rerun scripts/build_census_tables.py", file=sys.stderr)
        return 1
    if args.check:
        print(f"{', '.join(p.name for p in OUTPUTS.values())}: up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
