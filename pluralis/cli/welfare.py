"""Representativeness, census weights and welfare commands: ``represent``, ``weights``, ``welfare``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from pluralis.census.representativeness import representativeness
from pluralis.census.weights import EmptyCellError, census_rebalance, census_weights
from pluralis.cli._common import console, handle_errors
from pluralis.data import StudyFrames, load_study
from pluralis.errors import ConfigError
from pluralis.figures import check_plot_path
from pluralis.welfare.engine import WelfareConfig, run_welfare
from pluralis.welfare.plots import plot_representativeness
from pluralis.welfare.schemes import Group, Scheme, country_sample

T = TypeVar("T")

_COUNTRY_HELP = "US or UK (census targets and REP sample)"
_SAMPLE_HELP = "auto | rep (included_in_*_REP flags) | rebalance (census rebalancing, App. L) | locale | all"
_CONSTRUCTION_HELP = (
    "US census table: disjoint (race x Hispanic origin, every adult once; default) | "
    "prism (PRISM's table, counts Hispanic adults of a non-White race twice)"
)


def _frames(source: str, format: str | None) -> StudyFrames:
    return load_study(source, format=format).frames()


def _sample(survey: pd.DataFrame, country: str, sample: str) -> tuple[pd.DataFrame, str]:
    if sample == "all":
        return survey, "all participants"
    mask, how = country_sample(survey, country, sample)
    return survey[mask], how


def _parse_population(spec: str) -> Group:
    """``NAME:QUERY`` (QUERY a pandas query on survey columns; empty = everyone)."""
    name, _, query = spec.partition(":")
    if not name.strip():
        raise ConfigError(f"population {spec!r}: expected NAME:QUERY, e.g. \"Women:gender == 'Female'\"")
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
    df = pd.read_csv(p)
    if not {"user_id", "weight"} <= set(df.columns):
        raise ConfigError(f"weights file {path} needs columns user_id and weight")
    return pd.Series(df["weight"].to_numpy(dtype=float), index=df["user_id"].astype(str))


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
        country: str = typer.Option("US", "--country", "-c", help=_COUNTRY_HELP),
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
    ):
        """Welfare of stakeholder populations under seat-of-power sampling schemes (PRISM §3.3, App. U).

        Example: pluralis welfare prism/ --country US --out results/welfare
        """
        if plot is not None:
            check_plot_path(plot, "--plot")
        options: dict[str, Any] = {}  # PRISM's schemes and populations unless replaced
        if population:
            options["populations"] = [_parse_population(p) for p in population]
        if scheme:
            options["schemes"] = [_parse_scheme(s) for s in scheme]
        config = WelfareConfig(
            country=country,
            sample=sample,
            measures=measure,
            n_draws=draws,
            seed=seed,
            replace=replace,
            allow_oversample=allow_oversample,
            impute=impute,
            weights=weights_option(weights, lambda: "census"),  # run_welfare rakes its own country sample
            reference=reference,
            scale=parse_scale(scale),
            unseen=parse_unseen(unseen),
            balanced_only=balanced_only,
            **options,
        )
        res = run_welfare(_frames(data, format), config=config)
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
        for _, row in best.iterrows():
            console.print(
                f"choice / {row['population']}: best model {row['best_model']} is chosen {row['best_welfare']:.1%} "
                f"of the time it is shown, so {row['prefer_other']:.1%} prefer a different model"
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
    ):
        """Observed vs census shares per cell and margin, total variation distance, effective sample size.

        Example: pluralis represent prism/ --country UK --plot uk_vs_census.png
        """
        if plot is not None:
            check_plot_path(plot, "--plot")
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
    ):
        """Census weights (raking / post-stratification) or PRISM's census rebalancing by subsampling.

        Example: pluralis weights prism/ --country US --method rake --trim 5 --out us_weights.csv
        """
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
