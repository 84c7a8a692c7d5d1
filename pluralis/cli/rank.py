"""``pluralis rank``: model rankings (overall and per subgroup) with bootstrap uncertainty."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from pluralis.cli._common import console, err_console, handle_errors
from pluralis.errors import ConfigError
from pluralis.figures import check_plot_path


def _anchor(value: str | None) -> dict | None:
    if not value:
        return None
    if "=" not in value:
        raise ConfigError(f"--anchor must look like MODEL=RATING (e.g. flan-t5-xxl=800), got {value!r}")
    name, rating = value.rsplit("=", 1)
    try:
        return {name: float(rating)}
    except ValueError:
        raise ConfigError(f"--anchor rating must be a number, got {rating!r}") from None


def _write_table(table, out: Path) -> None:
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        table.to_csv(out, index=False)
    elif suffix in (".parquet", ".pq"):
        t = table.copy()
        for c in t.columns:
            if t[c].dtype == object:
                t[c] = t[c].astype("string")
        t.to_parquet(out, index=False)
    else:
        raise ConfigError(f"--out must end in .csv or .parquet, got {out.name!r}")


def _fmt(x: float, digits: int) -> str:
    import math

    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def participant_weights(spec: str | None, country: str | None, survey: pd.DataFrame, battles: pd.DataFrame):
    """Resolve ``--weights census|FILE.csv`` (with ``--country``) to participant weights, or None.

    ``census`` rakes the participants recruited in ``country`` (``study_locale``) to its census
    margins (:func:`pluralis.census.weights.census_weights`); a file gives ``user_id,weight``.
    Raters without a weight (outside the country sample, or not in the file) count 0; a note
    says how many.

    Example
    -------
    >>> b = pd.DataFrame({"user_id": ["u1"]})
    >>> participant_weights(None, None, pd.DataFrame(), b) is None
    True
    """
    from pluralis.cli.welfare import weights_option

    if country and spec != "census":
        raise ConfigError("--country picks the census for --weights census; it is not used otherwise")

    def census():
        if not country:
            raise ConfigError("--weights census needs --country (US or UK)")
        from pluralis.census.weights import census_weights
        from pluralis.welfare.engine import country_sample

        mask, how = country_sample(survey, country, "locale")
        res = census_weights(survey[mask], country, on_empty="renormalise")
        err_console.print(
            f"census weights for {country.upper()} ({how}): {int((res.weights > 0).sum())} weighted participants, "
            f"ESS {res.ess:.1f}"
        )
        return res.weights

    w = weights_option(spec, census)
    if w is None:
        return None
    if "user_id" not in battles.columns:
        raise ConfigError("--weights needs participant ids (user_id) in the battles")
    raters = pd.Index(battles["user_id"].astype(str).unique())
    w_idx = pd.Index(w.index.astype(str))
    unweighted = raters.difference(w_idx[w.to_numpy() > 0])
    if len(unweighted):
        err_console.print(
            f"note: {len(unweighted):,} of {len(raters):,} participants have no (or zero) weight; their battles count 0"
        )
    return w


def load_battles(
    data: str,
    *,
    tie_threshold: float | None,
    turns: str,
    balanced: bool,
    score: str,
):
    """Load DATA with :func:`pluralis.data.load_study` and build battles (+ survey and conversations).

    Rated responses (PRISM files, parquet, a store, a wide table) give battles per
    :func:`pluralis.ranking.battles.extract_battles`; Arena / Community-Alignment comparisons
    give battles directly.

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data import write_prism
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_prism(generate_study(n_participants=5, seed=0), folder)
    >>> battles, survey, _ = load_battles(folder, tie_threshold=None, turns="openers", balanced=False, score="raw")
    >>> set(battles["winner"]) <= {"model_a", "model_b", "tie"}, len(survey)
    (True, 5)
    """
    from pluralis.data import load_study
    from pluralis.ranking.battles import battles_from_comparisons, extract_battles

    study = load_study(data)
    frames = study.frames()
    if len(frames.utterances):
        battles = extract_battles(
            frames.utterances, tie_threshold=tie_threshold, turns=turns, balanced=balanced, score=score
        )
    elif len(frames.comparisons):
        battles = battles_from_comparisons(frames.comparisons, tie_threshold=tie_threshold or 0.0)
    else:
        raise ConfigError(f"{data}: no rated responses or comparisons to rank")
    if battles.empty:
        raise ConfigError(f"{data}: no battles (need at least two rated responses per prompt)")
    return battles, frames.survey, frames.conversations


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``pluralis`` Typer app.

    Example
    -------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['rank']
    """

    @app.command("rank")
    @handle_errors
    def rank(
        data: str = typer.Argument(..., help="PRISM folder, parquet folder, store (SQLite file / URL) or Arena file"),
        by: list[str] | None = typer.Option(
            None,
            "--by",
            "-b",
            help="group by a participant or conversation field (repeatable): conversation_type, birth_region, "
            "special_region, age, gender, ethnicity, religion, or any survey column; 'gender+age' intersects",
        ),
        method: str = typer.Option(
            "prc",
            "--method",
            "-m",
            help="prc | bt (Elo MLE) | elo | win_rate | mean_score | mean_normalized_score | mean_within_turn_rank",
        ),
        bootstrap: int = typer.Option(
            1000, "--bootstrap", "-n", min=0, help="bootstrap rounds (0 = point estimates only)"
        ),
        unit: str = typer.Option(
            "participants", "--unit", help="resample 'participants' (cluster bootstrap) or 'battles'"
        ),
        level: float = typer.Option(0.95, "--level", help="confidence level of the percentile intervals"),
        tie_threshold: float | None = typer.Option(
            None, "--tie-threshold", "-t", help="|score_a - score_b| <= t is a tie (default 5 raw points)"
        ),
        alpha: float = typer.Option(1.0, "--alpha", help="PRC regularisation: prior wins per ordered pair"),
        variant: str = typer.Option("paper", "--variant", help="PRC: 'paper' (correct) or 'as_coded' (PRISM's code)"),
        penalty: str = typer.Option("l2", "--penalty", help="BT: 'l2' (C=1, as PRISM/FastChat early 2024) or 'none'"),
        anchor: str | None = typer.Option(None, "--anchor", help="BT: pin one model's rating, e.g. flan-t5-xxl=800"),
        score: str = typer.Option("raw", "--score", help="battle basis: raw | normalized | rank"),
        turns: str = typer.Option("openers", "--turns", help="'openers' (turn 0, as PRISM) or 'all'"),
        balanced: bool = typer.Option(
            False,
            "--balanced/--all-conversations",
            help="only the balanced subset (App. K; PRISM's Fig. 4) or all conversations",
        ),
        min_participants: int = typer.Option(20, "--min-participants", help="skip smaller subgroups"),
        exclude: list[str] | None = typer.Option(None, "--exclude", help="subgroup value to leave out (repeatable)"),
        seed: int = typer.Option(0, "--seed", help="random seed"),
        weights: str | None = typer.Option(
            None,
            "--weights",
            "-w",
            help="weighted ranking: 'census' (rake the --country participants to its census; others count 0) "
            "or a CSV user_id,weight (e.g. from 'pluralis weights'; participants not in it count 0)",
        ),
        country: str | None = typer.Option(None, "--country", "-c", help="US or UK: the census for --weights census"),
        out: Path | None = typer.Option(None, "--out", "-o", help="write the table to .csv or .parquet"),
        plot: Path | None = typer.Option(None, "--plot", "-p", help="write a plot (.png, .svg or .pdf)"),
    ):
        """Rank models from DATA, overall or per subgroup, with bootstrap confidence intervals.

        Example: pluralis rank prism/ --by birth_region --method prc --bootstrap 1000 --out ranks.csv --plot ranks.png

        Weighted: pluralis rank prism/ --weights census --country US --method bt
        """
        from rich.table import Table

        from pluralis.ranking.engine import resolve_method
        from pluralis.ranking.subgroups import OVERALL, subgroup_rankings
        from pluralis.ranking.uncertainty import bootstrap as run_bootstrap

        info = resolve_method(method)
        # check output paths before any work: a typo should not cost a 1,000-round bootstrap
        if out is not None and out.suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise ConfigError(f"--out must end in .csv or .parquet, got {out.name!r}")
        if plot is not None:
            check_plot_path(plot, "--plot")
        if anchor and info.name != "bt":
            raise ConfigError(f"--anchor pins a Bradley-Terry rating; it needs --method bt (got {info.name!r})")
        if unit not in ("participants", "battles"):
            raise ConfigError(f"--unit must be 'participants' or 'battles', got {unit!r}")
        if variant not in ("paper", "as_coded"):
            raise ConfigError(f"--variant must be 'paper' or 'as_coded', got {variant!r}")
        if penalty.lower() not in ("l2", "none"):
            raise ConfigError(f"--penalty must be 'l2' or 'none', got {penalty!r}")
        options: dict = {}
        if info.name == "prc":
            options = {"alpha": alpha, "variant": variant}
        elif info.name == "bt":
            options = {"penalty": None if penalty.lower() == "none" else "l2", "anchor": _anchor(anchor)}
        battles, survey, conversations = load_battles(
            data, tie_threshold=tie_threshold, turns=turns, balanced=balanced, score=score
        )
        if unit == "participants" and ("user_id" not in battles.columns or battles["user_id"].isna().all()):
            err_console.print("note: no participant ids in these data; resampling battles instead")
            unit = "battles"
        if by and info.kind == "sequence" and bootstrap > 0:
            raise ConfigError("online Elo has no subgroup bootstrap (it depends on battle order); use --method bt")
        if weights and info.kind == "sequence":
            raise ConfigError("online Elo depends on battle order and has no weighted form; use --method bt")
        w = participant_weights(weights, country, survey, battles)
        weighting = {"weights": w, "missing_weights": "zero"} if w is not None else {}
        err_console.print(
            f"{len(battles):,} battles, {battles['user_id'].nunique():,} participants; "
            f"{info.label}{', weighted' if w is not None else ''}, {bootstrap} bootstrap rounds over {unit}"
        )
        hib = info.higher_is_better
        if by:
            fields = [tuple(f.split("+")) if "+" in f else f for f in by]
            res = subgroup_rankings(
                battles,
                fields,
                survey=survey,
                conversations=conversations,
                method=info.name,
                rounds=bootstrap,
                unit=unit,
                level=level,
                seed=seed,
                min_participants=min_participants,
                exclude=exclude or (),
                **weighting,
                **options,
            )
            table = res.table
            overall = table[table["by"] == OVERALL].sort_values("rank")
            for field in dict.fromkeys(table.loc[table["by"] != OVERALL, "by"]):
                sub = table[table["by"] == field]
                groups = list(dict.fromkeys(sub["group"]))
                t = Table(
                    title=f"{info.label}{' (weighted)' if w is not None else ''} by {field} (rank; ▲/▽ places vs overall, * significant at {level:.0%})",
                    header_style="bold",
                )
                t.add_column("model")
                t.add_column("overall", justify="right")
                for g in groups:
                    t.add_column(str(g), justify="right")
                cells = {(r.group, r.model): r for r in sub.itertuples()}
                for r in overall.itertuples():
                    row = [r.model, f"{int(r.rank)}"]
                    for g in groups:
                        c = cells.get((g, r.model))
                        if c is None:
                            row.append("–")
                            continue
                        mark = "" if c.shift == 0 or c.shift != c.shift else f" {c.direction}{abs(int(c.shift))}"
                        sig = c.significant
                        star = "*" if (sig is not None and sig is not pd.NA and sig == sig and bool(sig)) else ""
                        row.append(f"{int(c.rank)}{mark}{star}")
                    t.add_row(*row)
                console.print(t)
            for (field, value), why in res.skipped.items():
                err_console.print(f"skipped {field} = {value!r}: {why} (< --min-participants {min_participants})")
            if plot is not None:
                from pluralis.ranking.plots import plot_subgroup_ranks

                plot_subgroup_ranks(res, plot)
        else:
            if bootstrap > 0:
                result = run_bootstrap(
                    battles, info.name, rounds=bootstrap, unit=unit, level=level, seed=seed, **weighting, **options
                )
                table = result.summary()
            else:
                from pluralis.ranking.engine import rank_models

                table = rank_models(battles, info.name, **weighting, **options)
                result = None
            digits = 4 if info.name in ("prc", "win_rate") else 1
            t = Table(
                title=f"{info.label}"
                + (" (weighted)" if w is not None else "")
                + (f" — {level:.0%} intervals, {bootstrap} rounds over {unit}" if bootstrap else ""),
                header_style="bold",
            )
            for c in ("rank", "model", "score"):
                t.add_column(c, justify="right" if c != "model" else "left")
            if bootstrap:
                t.add_column("interval", justify="right")
                t.add_column("rank range", justify="right")
            for r in table.itertuples():
                row = [f"{int(r.rank)}", r.model, _fmt(r.score, digits)]
                if bootstrap:
                    row += [
                        f"[{_fmt(r.score_lo, digits)}, {_fmt(r.score_hi, digits)}]",
                        f"{int(r.rank_lo)}–{int(r.rank_hi)}",
                    ]
                t.add_row(*row)
            console.print(t)
            if plot is not None:
                from pluralis.ranking.plots import plot_scores

                plot_scores(result if result is not None else table, plot)
        if not hib:
            err_console.print("note: lower scores are better for this method")
        if out is not None:
            _write_table(table, out)
            err_console.print(f"wrote {out}")
        if plot is not None:
            err_console.print(f"wrote {plot}")
