"""Representativeness, census weights and welfare commands: ``represent``, ``weights``, ``welfare``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from pluralis.census.custom import TargetTable, load_target_table
from pluralis.census.representativeness import representativeness
from pluralis.census.targets import normalise_country
from pluralis.census.weights import EmptyCellError, census_rebalance, census_weights
from pluralis.cli._common import console, handle_errors
from pluralis.data import StudyFrames, load_study
from pluralis.data.study import rated_responses
from pluralis.errors import ConfigError, DataValidationError, Problem
from pluralis.figures import check_plot_path
from pluralis.welfare.engine import WelfareConfig, run_welfare
from pluralis.welfare.plots import plot_representativeness
from pluralis.welfare.schemes import (
    PRISM_DESIGN_FIELDS,
    REFERENCE_SCHEME,
    Group,
    Scheme,
    country_sample,
    design_from_fields,
)

T = TypeVar("T")

_COUNTRY_HELP = (
    "US or UK (census targets and REP sample), 'all' (every participant), or 'auto': US when the data has "
    "PRISM's country columns, else all"
)
_CENSUS_HELP = (
    "your own target table (CSV/TSV/JSONL/parquet: variable,category,share rows, or one column per variable "
    "and a share column) instead of the shipped US/UK census"
)
_BY_HELP = (
    "survey field(s) to build populations and schemes from (each category a population; the largest holding "
    "every seat a scheme) when the data lacks PRISM's gender/ethnicity/age fields"
)
_SAMPLE_HELP = "auto | rep (included_in_*_REP flags) | rebalance (census rebalancing, App. L) | locale | all"
_CONSTRUCTION_HELP = (
    "US census table: disjoint (race x Hispanic origin, every adult once; default) | "
    "prism (PRISM's table, counts Hispanic adults of a non-White race twice)"
)


def _frames(source: str, format: str | None) -> StudyFrames:
    return load_study(source, format=format).frames()


#: Survey columns that say which country a PRISM participant belongs to.
_COUNTRY_COLUMNS = ("study_locale", "location_reside_countryISO", "included_in_US_REP", "included_in_UK_REP")


def check_country(country: str) -> str:
    """The ``--country`` value, checked before any data is read: ``US``, ``UK``, ``all`` or ``auto``.

    Parameters
    ----------
    country
        The option's value (any case; country names and codes the census knows).

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        an unknown country, naming the accepted values.

    Example
    -------
    >>> check_country("uk"), check_country("ALL"), check_country("auto")
    ('UK', 'all', 'auto')
    """
    key = str(country).strip().lower()
    if key in ("all", "auto"):
        return key
    try:
        return normalise_country(country)
    except ConfigError as e:
        raise ConfigError(f"--country: {e}; or 'all' (every participant), or 'auto'") from None


def resolve_country(country: str, survey: pd.DataFrame, *, census: TargetTable | None = None) -> str | None:
    """The analysis sample's country: ``None`` (everyone) for ``all``; ``auto`` picks US on PRISM-shaped data.

    Parameters
    ----------
    country
        A :func:`check_country` value.
    survey
        The survey frame.
    census
        A user target table (``auto`` then means everyone: the table defines the population).

    Returns
    -------
    str or None

    Example
    -------
    >>> resolve_country("auto", pd.DataFrame({"user_id": ["a"], "gender": ["F"]})) is None
    True
    >>> resolve_country("auto", pd.DataFrame({"user_id": ["a"], "study_locale": ["us"]}))
    'US'
    """
    if country == "all":
        return None
    if country == "auto":
        if census is not None or not any(c in survey.columns for c in _COUNTRY_COLUMNS):
            return None
        return "US"
    return country


def _census_country(country: str, what: str) -> str:
    """``--country`` for a command that needs a shipped census: US or UK (``auto``: US), never ``all``."""
    checked = check_country(country)
    if checked == "all":
        raise ConfigError(f"{what}: give --country US or UK, or --census TABLE")
    return "US" if checked == "auto" else checked


def _sample(survey: pd.DataFrame, country: str | None, sample: str) -> tuple[pd.DataFrame, str]:
    if sample == "all" or country is None:
        return survey, "all participants"
    mask, how = country_sample(survey, country, sample)
    return survey[mask], how


def _design_options(
    survey: pd.DataFrame,
    population: list[str] | None,
    scheme: list[str] | None,
    by: list[str] | None,
    census: TargetTable | None,
    reference: str,
) -> tuple[dict[str, Any], list[str]]:
    """Populations, schemes and reference: as given, PRISM's on PRISM-shaped data, else from the data's fields."""
    options: dict[str, Any] = {}
    notes: list[str] = []
    if population:
        options["populations"] = [_parse_population(p) for p in population]
    if scheme:
        options["schemes"] = [_parse_scheme(s) for s in scheme]
    if population and scheme:
        return options, notes
    fields = list(by or [])
    prism_ready = all(f in survey.columns for f in PRISM_DESIGN_FIELDS)
    if not fields and prism_ready:
        return options, notes  # PRISM's populations and schemes
    if not fields and census is not None:
        fields = [v for v in census.variables if v in survey.columns]
    if not fields:
        have = ", ".join(c for c in survey.columns if c != "user_id") or "none"
        raise ConfigError(
            f"PRISM's populations and schemes need the survey fields {', '.join(PRISM_DESIGN_FIELDS)}; this "
            f"survey has: {have}. Give --by FIELD (populations and schemes from that field), or --population "
            "NAME:QUERY and --scheme NAME:N[:QUERY]"
        )
    schemes, populations, ref = design_from_fields(survey, fields)
    options.setdefault("populations", populations)
    options.setdefault("schemes", schemes)
    if not scheme and reference == REFERENCE_SCHEME:  # PRISM's "Rep (100)" may not exist in a smaller sample
        options["reference"] = ref
    notes.append(
        f"populations and schemes from the survey's {', '.join(fields)}: "
        + ", ".join(s.name for s in options["schemes"])
        + f" (reference {options.get('reference', reference)})"
    )
    return options, notes


def _parse_population(spec: str) -> Group:
    """``NAME:QUERY`` (QUERY a pandas query on survey columns; empty = everyone)."""
    name, colon, query = spec.partition(":")
    if not name.strip():
        raise ConfigError(f"population {spec!r}: expected NAME:QUERY, e.g. \"Women:gender == 'Female'\"")
    if not colon and any(op in name for op in "=<>"):  # a query without a name would be everyone, silently
        raise ConfigError(
            f"population {spec!r} has no NAME: (a name alone is everyone); expected NAME:QUERY, "
            "e.g. \"Women:gender == 'Female'\""
        )
    return Group(name.strip(), query.strip() or None)


def _parse_scheme(spec: str) -> Scheme:
    """``NAME:N:QUERY`` (draw N from the participants matching QUERY; empty = everyone)."""
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[0].strip():
        raise ConfigError(f"scheme {spec!r}: expected NAME:N[:QUERY], e.g. \"Women (50):50:gender == 'Female'\"")
    try:
        n = int(parts[1])
    except ValueError:
        raise ConfigError(f"scheme {spec!r}: sample size {parts[1]!r} is not an integer") from None
    query = parts[2].strip() if len(parts) == 3 else ""
    return Scheme(parts[0].strip(), Group(parts[0].strip(), query or None), n)


def parse_scale(spec: str | None) -> tuple[float, float] | None:
    """``LO,HI`` (or ``LO-HI`` for non-negative bounds) as a rating scale; ``None`` when not given.

    Parameters
    ----------
    spec : str or None
        The option's value.

    Returns
    -------
    tuple of (float, float) or None
        The scale.

    Example
    -------
    >>> parse_scale("1,100"), parse_scale("0-1"), parse_scale("-1,1"), parse_scale(None)
    ((1.0, 100.0), (0.0, 1.0), (-1.0, 1.0), None)
    """
    if not spec:
        return None
    parts = spec.split(",") if "," in spec else spec.split("-", 1) if not spec.startswith("-") else [spec]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--scale {spec!r}: expected LO,HI, e.g. 1,100 or 0,1") from None
    return lo, hi


def parse_unseen(spec: str) -> str | float:
    """An ``--unseen`` value: a policy name, or a number (a rating in the scores' units).

    Parameters
    ----------
    spec : str
        ``scale_min``, ``min_observed``, ``prism`` or a number.

    Returns
    -------
    str or float
        The policy.

    Example
    -------
    >>> parse_unseen("prism"), parse_unseen("0")
    ('prism', 0.0)
    """
    try:
        return float(spec)
    except ValueError:
        return spec


def read_weights_csv(path: str) -> pd.Series:
    """Participant weights from a CSV with columns ``user_id,weight`` (what ``pluralis weights --out`` writes).

    Parameters
    ----------
    path : str
        The CSV file.

    Returns
    -------
    pandas.Series
        Weights indexed by ``user_id`` (as strings).

    Raises
    ------
    DataValidationError
        a file that cannot be read, or rows whose weight is not a finite non-negative number or
        whose ``user_id`` is missing or repeated (file, line and field named).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "w.csv")
    >>> pd.DataFrame({"user_id": ["u1", "u2"], "weight": [0.5, 1.5]}).to_csv(path, index=False)
    >>> read_weights_csv(path).to_dict()
    {'u1': 0.5, 'u2': 1.5}
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"weights file {path} not found")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""], skip_blank_lines=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataValidationError(Problem(str(path), None, None, f"cannot read the weights: {exc}")) from None
    if not {"user_id", "weight"} <= set(df.columns):
        raise ConfigError(f"weights file {path} needs columns user_id and weight")
    line = np.arange(len(df)) + 2  # the header is line 1 (blank lines are read, then dropped)
    keep = df.notna().any(axis=1).to_numpy()
    df, line = df[keep], line[keep]
    weight = pd.to_numeric(df["weight"], errors="coerce").to_numpy(dtype=float)
    problems = [
        Problem(
            str(path),
            int(line[i]),
            "weight",
            "missing weight"
            if pd.isna(df["weight"].iloc[i])
            else f"{df['weight'].iloc[i]!r} is not a finite non-negative number",
        )
        for i in np.flatnonzero(~np.isfinite(weight) | (weight < 0))
    ]
    ids = df["user_id"]
    problems += [
        Problem(str(path), int(line[i]), "user_id", "missing participant id") for i in np.flatnonzero(ids.isna())
    ]
    first = dict(zip(ids[::-1], line[::-1]))
    problems += [
        Problem(
            str(path),
            int(line[i]),
            "user_id",
            f"duplicate participant {ids.iloc[i]!r} (first on line {first[ids.iloc[i]]})",
        )
        for i in np.flatnonzero(ids.notna() & ids.duplicated())
    ]
    if problems:
        raise DataValidationError(sorted(problems, key=lambda q: q.line or 0)[:50])
    return pd.Series(weight, index=ids.astype(str).to_numpy())


def weights_option(spec: str | None, census: Callable[[], T]) -> T | pd.Series | None:
    """Resolve a ``--weights`` value: None when not given, ``census()`` for ``census``, else the
    weights read from the CSV file ``spec`` (:func:`read_weights_csv`).

    Parameters
    ----------
    spec : str or None
        The option's value: empty, ``"census"`` or a CSV path.
    census : callable
        Makes the census weights (called only for ``"census"``).

    Returns
    -------
    object, pandas.Series or None
        What ``census()`` returns, the weights by ``user_id``, or None.

    Example
    -------
    >>> weights_option(None, lambda: "raked") is None, weights_option("census", lambda: "raked")
    (True, 'raked')
    """
    if not spec:
        return None
    if spec == "census":
        return census()
    return read_weights_csv(spec)


def _frame_table(df: pd.DataFrame, title: str) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column(str(df.index.name or ""))
    for c in df.columns:
        table.add_column(str(c), justify="right")
    for idx, row in df.iterrows():
        table.add_row(str(idx), *[f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v) for v in row])
    return table


def register(app: typer.Typer) -> None:
    """Add ``welfare``, ``represent`` and ``weights`` to the ``pluralis`` app.

    Parameters
    ----------
    app : typer.Typer
        The ``pluralis`` app.

    Returns
    -------
    None

    Example
    -------
    >>> import typer
    >>> app = typer.Typer()
    >>> register(app)
    >>> sorted(c.name for c in app.registered_commands)
    ['represent', 'weights', 'welfare']
    """

    @app.command("welfare")
    @handle_errors
    def welfare(
        data: str = typer.Argument(..., help="PRISM folder, parquet folder, store or hf://…"),
        country: str = typer.Option("auto", "--country", "-c", help=_COUNTRY_HELP),
        sample: str = typer.Option("auto", "--sample", help=_SAMPLE_HELP.replace(" | all", "")),
        measure: list[str] = typer.Option(["rating", "choice"], "--measure", "-m", help="rating and/or choice"),
        draws: int = typer.Option(1000, "--draws", "-R", min=1, help="draws per scheme and population"),
        seed: int = typer.Option(1, "--seed"),
        replace: bool = typer.Option(True, "--replace/--no-replace", help="draw with replacement (PRISM)"),
        allow_oversample: bool = typer.Option(
            False, "--allow-oversample", help="let a scheme draw more people than its pool has (with replacement)"
        ),
        impute: bool = typer.Option(False, "--impute", help="impute missing individual welfare (App. U.3)"),
        weights: str = typer.Option(None, "--weights", "-w", help="'census' (rake to census) or a CSV user_id,weight"),
        population: list[str] = typer.Option(None, "--population", "-p", help="NAME:QUERY (replaces PRISM's four)"),
        scheme: list[str] = typer.Option(None, "--scheme", "-s", help="NAME:N[:QUERY] (replaces PRISM's seven)"),
        reference: str = typer.Option("Rep (100)", "--reference", help="scheme the FOSD flags compare with"),
        scale: str = typer.Option(
            None, "--scale", help="rating scale LO,HI the scores were given on (default: inferred, e.g. 1,100)"
        ),
        unseen: str = typer.Option(
            "scale_min",
            "--unseen",
            help="score of a model nobody in a draw saw: scale_min | min_observed | prism (PRISM's 1) | a number",
        ),
        balanced_only: bool = typer.Option(
            True, "--balanced-only/--all-conversations", help="use PRISM's balanced subset only (default)"
        ),
        out: Path = typer.Option(
            None, "--out", "-o", help="folder for summary/draws/model welfare tables and the plot"
        ),
        plot: Path = typer.Option(None, "--plot", help="save the violin plot (Fig. 5) here"),
        format: str = typer.Option(None, "--format", "-f", help="input format (auto-detected)"),
        census: Path = typer.Option(None, "--census", help=_CENSUS_HELP),
        by: list[str] = typer.Option(None, "--by", help=_BY_HELP),
    ):
        """Welfare of stakeholder populations under seat-of-power sampling schemes (PRISM §3.3, App. U).

        Example: pluralis welfare prism/ --country US --out results/welfare
        """
        if plot is not None:
            check_plot_path(plot, "--plot")
        # everything that can be checked without the data is checked before it is read
        where = check_country(country)
        targets = load_target_table(census) if census is not None else None
        scale_range, unseen_policy = parse_scale(scale), parse_unseen(unseen)
        frames = _frames(data, format)
        survey = frames.survey
        utterances = rated_responses(frames)
        if utterances.empty:
            raise ConfigError(f"{data}: no rated responses: welfare needs each participant's scores of the models")
        if targets is not None:  # the table's categories (numeric ages as its bands) for groups and weights
            survey = targets.map_survey(survey, on_unknown="drop")
        resolved = resolve_country(where, survey, census=targets)
        sample_survey, _ = _sample(survey, resolved, sample)
        options, notes = _design_options(sample_survey, population, scheme, by, targets, reference)
        options.setdefault("reference", reference)
        if balanced_only and "included_in_balanced_subset" not in utterances.columns:
            balanced_only = False
            notes.append("no included_in_balanced_subset column: every rated conversation is used")
        recorded = {"rating": "score", "choice": "if_chosen"}
        missing = [m for m in measure if recorded.get(m, m) not in utterances.columns]
        if missing:
            measure = [m for m in measure if m not in missing]
            if not measure:
                raise ConfigError(
                    f"{data}: --measure {', '.join(missing)}: the data records no "
                    + " and no ".join(recorded.get(m, m) for m in missing)
                    + ("; paired comparisons give choices (--measure choice)" if "rating" in missing else "")
                )
            what = {"rating": "no scores recorded", "choice": "no choices recorded"}
            notes.append(f"{'; '.join(what.get(m, m) for m in missing)}: the {' and '.join(measure)} measure only")
        if targets is not None and weights in (None, "census"):
            fit = targets.weights(sample_survey, on_unknown="drop")
            weights_value: Any = fit.weights
            notes.append(f"weights: raked to {targets.source} ({', '.join(targets.variables)})")
        elif resolved is None and weights == "census":
            raise ConfigError("--weights census needs --country US or UK, or give --census TABLE")
        else:
            weights_value = weights_option(weights, lambda: "census")  # run_welfare rakes its own country sample
        config = WelfareConfig(
            country=resolved,
            sample=sample,
            measures=measure,
            n_draws=draws,
            seed=seed,
            replace=replace,
            allow_oversample=allow_oversample,
            impute=impute,
            weights=weights_value,
            scale=scale_range,
            unseen=unseen_policy,
            balanced_only=balanced_only,
            **options,
        )
        for note in notes:
            console.print(f"[dim]{note}[/]")
        res = run_welfare(utterances, survey, config=config)
        for note in res.notes:
            console.print(f"[dim]{note}[/]")
        cfg = res.config
        if "rating" in cfg["unseen_score"]:
            lo, hi = cfg["scale"]
            console.print(
                f"[dim]rating scale {lo:g}-{hi:g} ({cfg['scale_source']}); a model nobody in a draw saw scores "
                f"{cfg['unseen_score']['rating']:g} ({cfg['unseen']}); "
                f"{'balanced subset only' if cfg['balanced_only'] else 'all conversations'}[/]"
            )
        for m in measure:
            console.print(
                _frame_table(
                    res.table(m),
                    f"{m}: mean welfare ±Monte-Carlo s.e. over {cfg['n_draws']} draws "
                    f"(D = FOSD by {cfg['reference']}, d = FOSDs it; max = best model)",
                )
            )
        best = res.best[res.best["measure"] == "choice"]
        comps = frames.comparisons
        ties = "tie" in comps.columns and bool(comps["tie"].fillna(False).astype(bool).any())
        shown = "shown in a decided comparison (ties, which choose no model, are left out)" if ties else "shown"
        for _, row in best.iterrows():
            console.print(
                f"choice / {row['population']}: best model {row['best_model']} is chosen {row['best_welfare']:.1%} "
                f"of the time it is {shown}, so {row['prefer_other']:.1%} prefer a different model"
            )
        console.print(
            "[dim]± is the Monte-Carlo error of the draws (another seed), not the sampling uncertainty of the "
            "participants; the summary CSV has mean_se, mean_ci_low/high, median_ci_low/high, top_model_share_se[/]"
        )
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            res.summary.to_csv(out / "welfare_summary.csv", index=False)
            res.draws.to_csv(out / "welfare_draws.csv", index=False)
            res.model_welfare.to_csv(out / "model_welfare.csv", index=False)
            res.fosd.to_csv(out / "welfare_fosd.csv", index=False)
            for m in measure:
                res.table(m).to_csv(out / f"welfare_table_{m}.csv")
            if plot is None:
                plot = out / "welfare.png"
            console.print(f"wrote tables to {out}")
        if plot is not None:
            res.plot(plot)
            console.print(f"wrote plot to {plot}")

    @app.command("represent")
    @handle_errors
    def represent(
        data: str = typer.Argument(..., help="PRISM folder, parquet folder, store or hf://…"),
        country: str = typer.Option("US", "--country", "-c", help=_COUNTRY_HELP),
        sample: str = typer.Option("locale", "--sample", help=_SAMPLE_HELP),
        ethnicity: str = typer.Option("census", "--ethnicity", help="census (5 groups) | detailed (US Hispanic split)"),
        construction: str = typer.Option("disjoint", "--construction", help=_CONSTRUCTION_HELP),
        weights: str = typer.Option(None, "--weights", "-w", help="'census' (rake) or a CSV user_id,weight"),
        out: Path = typer.Option(None, "--out", "-o", help="write the observed-vs-census table (CSV)"),
        plot: Path = typer.Option(None, "--plot", help="save the bar plot (Fig. 8) here"),
        format: str = typer.Option(None, "--format", "-f"),
        census: Path = typer.Option(None, "--census", help=_CENSUS_HELP),
    ):
        """Observed vs census shares per cell and margin, total variation distance, effective sample size.

        Example: pluralis represent prism/ --country UK --plot uk_vs_census.png
        """
        if plot is not None:
            check_plot_path(plot, "--plot")
        if census is not None:
            targets = load_target_table(census)
            survey = _frames(data, format).survey
            w = None
            if weights == "census":
                w = targets.weights(survey, on_unknown="drop").weights.reindex(survey["user_id"]).fillna(0).to_numpy()
            elif weights:
                w = read_weights_csv(weights).reindex(survey["user_id"]).fillna(0).to_numpy()
            table = targets.compare(survey, weights=w)
            console.print(f"[dim]{len(survey)} participants against {targets.source}[/]")
            console.print(
                _frame_table(
                    table.set_index("category")[
                        ["variable", "n_observed", "observed_share", "expected_share", "difference_pp", "tvd"]
                    ],
                    "sample vs target table",
                )
            )
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                table.to_csv(out, index=False)
                console.print(f"wrote {out}")
            if plot is not None:
                raise ConfigError("--plot draws the census figure (US/UK); with --census, use --out for the table")
            return
        country = _census_country(country, "represent compares with a census")
        survey, how = _sample(_frames(data, format).survey, country, sample)
        w = weights_option(
            weights,
            lambda: (
                census_weights(
                    survey, country, ethnicity=ethnicity, on_empty="renormalise", construction=construction
                ).weights
            ),
        )
        rep = representativeness(survey, country, weights=w, ethnicity=ethnicity, construction=construction)
        console.print(f"[dim]sample: {how}; {rep.n} classified, {rep.n_unclassified} not in census categories[/]")
        console.print(_frame_table(rep.summary().set_index("level"), f"{rep.country}: sample vs census"))
        margins = rep.table[rep.table["level"] != "joint"].set_index("category")
        console.print(
            _frame_table(
                margins[["level", "n_observed", "observed_share", "expected_share", "difference_pp"]], "margins"
            )
        )
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            rep.table.to_csv(out, index=False)
            console.print(f"wrote {out}")
        if plot is not None:
            plot_representativeness(rep, plot)
            console.print(f"wrote plot to {plot}")

    @app.command("weights")
    @handle_errors
    def weights_cmd(
        data: str = typer.Argument(..., help="PRISM folder, parquet folder, store or hf://…"),
        country: str = typer.Option("US", "--country", "-c", help=_COUNTRY_HELP),
        method: str = typer.Option("rake", "--method", help="rake | poststratify | rebalance (PRISM App. L)"),
        sample: str = typer.Option("locale", "--sample", help=_SAMPLE_HELP),
        ethnicity: str = typer.Option("census", "--ethnicity", help="census | detailed"),
        construction: str = typer.Option("disjoint", "--construction", help=_CONSTRUCTION_HELP),
        trim: float = typer.Option(None, "--trim", help="cap weights at this multiple of the mean"),
        renormalise: bool = typer.Option(False, "--renormalise", help="drop empty cells instead of failing"),
        out: Path = typer.Option(None, "--out", "-o", help="CSV of user_id,weight (rebalance: user_id,included)"),
        format: str = typer.Option(None, "--format", "-f"),
        census: Path = typer.Option(None, "--census", help=_CENSUS_HELP),
    ):
        """Census weights (raking / post-stratification) or PRISM's census rebalancing by subsampling.

        Example: pluralis weights prism/ --country US --method rake --trim 5 --out us_weights.csv
        """
        if census is not None:
            if method == "rebalance":
                raise ConfigError("--method rebalance uses PRISM's US/UK census cells; with --census use rake")
            targets = load_target_table(census)
            survey = _frames(data, format).survey
            res = targets.weights(
                survey, method=method, trim=trim, on_unknown="drop", on_empty="renormalise" if renormalise else "raise"
            )
            console.print(f"[dim]{len(survey)} participants weighted to {targets.source}[/]")
            console.print(
                _frame_table(pd.DataFrame({"value": res.report()}).rename_axis("diagnostic"), f"{method} weights")
            )
            if out is not None:
                res.weights.rename("weight").reset_index().to_csv(out, index=False)
                console.print(f"wrote {out}")
            return
        country = _census_country(country, "weights need a census")
        survey = _frames(data, format).survey
        if method == "rebalance":
            kept = census_rebalance(survey, country, construction=construction)
            console.print(
                f"census rebalancing: kept {len(kept.user_ids)} of {kept.n_pool} eligible participants; "
                f"{int((~kept.table['filled']).sum())} of {len(kept.table)} cells under-filled"
            )
            if out is not None:
                ids = survey["user_id"].astype(str)
                pd.DataFrame({"user_id": ids, "included": ids.isin(kept.user_ids)}).to_csv(out, index=False)
                console.print(f"wrote {out}")
            return
        sub, how = _sample(survey, country, sample)
        try:
            res = census_weights(
                sub,
                country,
                method=method,
                ethnicity=ethnicity,
                trim=trim,
                on_empty="renormalise" if renormalise else "raise",
                construction=construction,
            )
        except EmptyCellError as err:  # the library's hint names Python arguments; give the CLI's
            hint = (
                "Use --method rake (one-way margins), or --renormalise to drop them."
                if method == "poststratify"
                else "Pass --renormalise to drop them and renormalise the margin."
            )
            raise EmptyCellError(err.cells, hint) from None
        rep = res.report()
        console.print(f"[dim]sample: {how}[/]")
        console.print(_frame_table(pd.DataFrame({"value": rep}).rename_axis("diagnostic"), f"{method} weights"))
        if out is not None:
            res.weights.rename("weight").reset_index().to_csv(out, index=False)
            console.print(f"wrote {out}")
