"""``pluralis rank``: model rankings (overall and per subgroup) with bootstrap uncertainty.

The command runs in four steps, each its own function: :func:`validate_request` checks every
flag (method and its options, ``--by`` syntax, ``--unit``, ``--out``/``--plot`` paths, weights)
before any data is read; :func:`load_battles` reads the study; :func:`compute_ranking` ranks;
:func:`render_ranking` prints the tables and :func:`write_outputs` writes the files.

Methods come from :mod:`pluralis.ranking.registry`: ``--method`` accepts any registered
aggregator (name or alias), ``--option KEY=VALUE`` sets any of its options, and ``--alpha``,
``--variant``, ``--penalty``, ``--anchor`` are shortcuts for options of those names.
``pluralis rank --methods`` lists the methods and their options.

With ``--by``, ``--contrasts`` adds group-vs-group contrasts of every model's score (one joint
participant bootstrap; Holm / Benjamini–Hochberg over models × group pairs) and the omnibus
tests per field (:func:`pluralis.ranking.contrasts.group_contrasts`); ``--agreement`` adds
Krippendorff's α of the pairwise choices within and between the groups
(:func:`pluralis.ranking.agreement.choice_agreement`). ``--min-votes`` and
``--drop-outlier-raters`` filter raters first (:func:`pluralis.ranking.filters.filter_raters`).
With ``--out r.csv`` these tables go to ``r.contrasts.csv``, ``r.omnibus.csv``,
``r.agreement.csv`` and ``r.raters.csv`` next to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import typer

from pluralis.cli._common import console, err_console, handle_errors
from pluralis.data.jsonio import atomic_write
from pluralis.errors import ConfigError
from pluralis.figures import check_plot_path
from pluralis.ranking.engine import no_weighted_form
from pluralis.ranking.registry import Aggregator, aggregators, get_aggregator

Unit = Literal["participants", "battles"]
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
#: Dedicated flags that set the aggregator option of the same name (``--alpha 5`` = ``-O alpha=5``).
OPTION_FLAGS: tuple[str, ...] = ("alpha", "variant", "penalty", "anchor")


# --- step 1: validate the request (no data read) ----------------------------------------------------


@dataclass(frozen=True)
class RankRequest:
    """A validated ``pluralis rank`` invocation (see :func:`validate_request`)."""

    data: str
    aggregator: Aggregator
    options: dict[str, Any]
    fields: tuple[str | tuple[str, ...], ...] = ()
    rounds: int = 1000
    unit: Unit = "participants"
    level: float = 0.95
    seed: int = 0
    min_participants: int = 20
    exclude: tuple[str, ...] = ()
    weights: str | None = None
    country: str | None = None
    out: Path | None = None
    plot: Path | None = None
    tie_threshold: float | None = None
    turns: str = "openers"
    score: str = "raw"
    balanced: bool = False
    interval: str = "bca"
    contrasts: bool = False
    correction: str = "holm"
    permutations: int = 1000
    reference: str | None = None
    agreement: bool = False
    min_votes: int = 0
    drop_outliers: bool = False
    outlier_z: float = 3.0


def parse_fields(by: Sequence[str] | None) -> tuple[str | tuple[str, ...], ...]:
    """``--by`` values as grouping fields: ``"gender+age"`` is the intersection ``("gender", "age")``.

    Parameters
    ----------
    by
        the ``--by`` values.

    Returns
    -------
    tuple
        one field name, or tuple of names, per value.

    Example
    -------
    >>> parse_fields(["birth_region", "gender+age"])
    ('birth_region', ('gender', 'age'))
    """
    fields: list[str | tuple[str, ...]] = []
    for value in by or ():
        parts = tuple(p.strip() for p in str(value).split("+"))
        if not all(parts):
            raise ConfigError(f"--by {value!r}: give a field name, or fields joined by '+' (e.g. gender+age)")
        fields.append(parts if len(parts) > 1 else parts[0])
    return tuple(fields)


def parse_option_pairs(pairs: Sequence[str] | None) -> dict[str, tuple[str, str]]:
    """``--option KEY=VALUE`` values as ``{key: (how it was given, text)}``.

    Parameters
    ----------
    pairs
        the ``--option`` values.

    Returns
    -------
    dict
        option name -> (``"--option KEY"``, value text).

    Example
    -------
    >>> parse_option_pairs(["ties=exclude"])
    {'ties': ('--option ties', 'exclude')}
    """
    out: dict[str, tuple[str, str]] = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ConfigError(f"--option must look like KEY=VALUE (e.g. ties=exclude), got {pair!r}")
        key, value = (s.strip() for s in pair.split("=", 1))
        if not key:
            raise ConfigError(f"--option needs an option name before '=', got {pair!r}")
        out[key] = (f"--option {key}", value)
    return out


def method_options(aggregator: Aggregator, given: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """Check and convert options given on the command line against the aggregator's declared options.

    Parameters
    ----------
    aggregator
        the chosen method.
    given
        option name -> (how it was given, e.g. ``"--anchor"``; value or text).

    Returns
    -------
    dict
        the options to pass to the aggregator (only those given; the rest keep their defaults).

    Example
    -------
    >>> method_options(get_aggregator("bt"), {"anchor": ("--anchor", "flan-t5-xxl=800")})
    {'anchor': {'flan-t5-xxl': 800.0}}
    >>> method_options(get_aggregator("prc"), {"anchor": ("--anchor", "x=1")})
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: --anchor is not an option of --method prc; it needs --method bt or style_bt
    """
    out: dict[str, Any] = {}
    for name, (flag, value) in given.items():
        option = aggregator.option(name)
        if option is None or not option.public:
            owners = [a.name for a in aggregators() if (o := a.option(name)) is not None and o.public]
            hint = f"it needs --method {' or '.join(owners)}" if owners else "no ranking method takes it"
            mine = ", ".join(o.name for o in aggregator.options if o.public) or "none"
            raise ConfigError(
                f"{flag} is not an option of --method {aggregator.name}; {hint}"
                + ("" if owners else f" ({aggregator.name}'s options: {mine})")
            )
        out[name] = option.convert(value, flag=flag)
    return out


def check_weight_flags(weights: str | None, country: str | None) -> None:
    """``--weights`` and ``--country`` go together: census weights need a country, a country needs them.

    Parameters
    ----------
    weights
        ``--weights`` (``census`` or a CSV path).
    country
        ``--country``.

    Example
    -------
    >>> check_weight_flags("census", "US")
    >>> check_weight_flags(None, "US")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: --country picks the census for --weights census; it is not used otherwise
    """
    if country and weights != "census":
        raise ConfigError("--country picks the census for --weights census; it is not used otherwise")
    if weights == "census" and not country:
        raise ConfigError("--weights census needs --country (US or UK)")


def validate_request(
    data: str,
    *,
    method: str = "prc",
    given_options: Mapping[str, tuple[str, Any]] | None = None,
    by: Sequence[str] | None = None,
    rounds: int = 1000,
    unit: str = "participants",
    level: float = 0.95,
    seed: int = 0,
    min_participants: int = 20,
    exclude: Sequence[str] | None = None,
    weights: str | None = None,
    country: str | None = None,
    out: Path | None = None,
    plot: Path | None = None,
    tie_threshold: float | None = None,
    turns: str = "openers",
    score: str = "raw",
    balanced: bool = False,
    interval: str = "bca",
    contrasts: bool = False,
    correction: str = "holm",
    permutations: int = 1000,
    reference: str | None = None,
    agreement: bool = False,
    min_votes: int = 0,
    drop_outliers: bool = False,
    outlier_z: float = 3.0,
) -> RankRequest:
    """Check every flag before any data is read: a typo must not cost a 1,000-round bootstrap.

    Parameters
    ----------
    data
        the study to rank (checked when loaded).
    method, given_options
        the aggregator and the options given for it (see :func:`method_options`).
    by, rounds, unit, level, seed, min_participants, exclude
        subgroups and bootstrap settings.
    weights, country
        participant weighting (see :func:`check_weight_flags`).
    out, plot
        output files (``.csv``/``.parquet``; ``.png``/``.svg``/``.pdf``).
    tie_threshold, turns, score, balanced
        how battles are built from the rated responses.
    interval
        score intervals: ``percentile``, ``bc`` or ``bca``.
    contrasts, correction, permutations, reference
        group contrasts and omnibus tests (need ``by``, bootstrap rounds and participants).
    agreement
        Krippendorff's α of the choices within and between the ``by`` groups.
    min_votes, drop_outliers, outlier_z
        rater-quality filters applied before anything else.

    Returns
    -------
    RankRequest
        the validated request.

    Example
    -------
    >>> req = validate_request("study.sqlite", method="elo_mle", by=["gender"], out=Path("r.csv"))
    >>> req.aggregator.name, req.fields, req.unit
    ('bt', ('gender',), 'participants')
    >>> validate_request("study.sqlite", out=Path("r.xlsx"))
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: --out must end in .csv or .parquet, got 'r.xlsx'
    >>> validate_request("study.sqlite", contrasts=True)
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: --contrasts compares groups: give --by (e.g. --by gender)
    """
    agg = get_aggregator(method)
    options = method_options(agg, given_options or {})
    if out is not None and out.suffix.lower() not in TABLE_SUFFIXES:
        raise ConfigError(f"--out must end in .csv or .parquet, got {out.name!r}")
    if plot is not None:
        check_plot_path(plot, "--plot")
    if unit not in ("participants", "battles"):
        raise ConfigError(f"--unit must be 'participants' or 'battles', got {unit!r}")
    if not 0 < level < 1:
        raise ConfigError(f"--level must be between 0 and 1, got {level!r}")
    fields = parse_fields(by)
    if fields and agg.kind == "sequence" and rounds > 0:
        pair_methods = ", ".join(a.name for a in aggregators("pairs"))
        raise ConfigError(
            f"{agg.label} depends on battle order and has no subgroup bootstrap; "
            f"use --bootstrap 0 or a pair method ({pair_methods})"
        )
    check_weight_flags(weights, country)
    if weights and not agg.supports_weights:
        raise no_weighted_form(agg)
    from pluralis.ranking.contrasts import CORRECTIONS
    from pluralis.ranking.intervals import check_interval

    interval = check_interval(interval, flag="--interval")
    if (contrasts or agreement) and not fields:
        flag = "--contrasts" if contrasts else "--agreement"
        raise ConfigError(f"{flag} compares groups: give --by (e.g. --by gender)")
    if contrasts:
        if agg.kind == "sequence":
            pair_methods = ", ".join(a.name for a in aggregators("pairs"))
            raise ConfigError(f"--contrasts: {agg.label} depends on battle order; use a pair method ({pair_methods})")
        if rounds < 2:
            raise ConfigError("--contrasts needs bootstrap rounds (--bootstrap 1000)")
        if unit != "participants":
            raise ConfigError("--contrasts resamples participants; drop --unit battles")
    if correction.lower() not in CORRECTIONS:
        raise ConfigError(f"--correction must be one of {', '.join(CORRECTIONS)}; got {correction!r}")
    if permutations < 0 or min_votes < 0:
        raise ConfigError("--permutations and --min-votes must be >= 0")
    if not outlier_z > 0:
        raise ConfigError(f"--outlier-z must be > 0, got {outlier_z}")
    if weights and weights != "census" and not Path(weights).exists():
        raise ConfigError(f"weights file {weights} not found")
    return RankRequest(
        data=data,
        aggregator=agg,
        options=options,
        fields=fields,
        rounds=rounds,
        unit="participants" if unit == "participants" else "battles",
        level=level,
        seed=seed,
        min_participants=min_participants,
        exclude=tuple(exclude or ()),
        weights=weights,
        country=country,
        out=out,
        plot=plot,
        tie_threshold=tie_threshold,
        turns=turns,
        score=score,
        balanced=balanced,
        interval=interval,
        contrasts=contrasts,
        correction=correction.lower(),
        permutations=permutations,
        reference=reference,
        agreement=agreement,
        min_votes=min_votes,
        drop_outliers=drop_outliers,
        outlier_z=outlier_z,
    )


# --- step 2: load ------------------------------------------------------------------------------------


def load_battles(
    data: str,
    *,
    tie_threshold: float | None,
    turns: str,
    balanced: bool,
    score: str,
    texts: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Load DATA with :func:`pluralis.data.load_study` and build battles (+ survey and conversations).

    Rated responses (PRISM files, parquet, a store, a wide table) give battles per
    :func:`pluralis.ranking.battles.extract_battles`; Arena / Community-Alignment comparisons
    give battles directly.

    Parameters
    ----------
    data
        PRISM folder, parquet folder, store (SQLite file / URL) or Arena file.
    tie_threshold, turns, balanced, score
        see :func:`~pluralis.ranking.battles.extract_battles`.
    texts
        carry the response texts (``model_response_a`` / ``_b``: style control needs them).

    Returns
    -------
    tuple of pandas.DataFrame
        battles, survey, conversations.

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
    from pluralis.ranking.battles import battles_from_comparisons, decided_by_ratings, extract_battles

    study = load_study(data)
    frames = study.frames()
    if len(frames.utterances):
        battles = extract_battles(
            frames.utterances,
            tie_threshold=tie_threshold,
            turns=turns,  # type: ignore[arg-type]  # checked by extract_battles
            balanced=balanced,
            score=score,  # type: ignore[arg-type]
            keep=["model_response"] if texts and "model_response" in frames.utterances.columns else [],
        )
    elif len(frames.comparisons):
        battles = battles_from_comparisons(frames.comparisons, tie_threshold=tie_threshold or 0.0)
        if tie_threshold is not None and not decided_by_ratings(frames.comparisons).any():
            err_console.print(
                "note: --tie-threshold is not used: these comparisons record their own winners and ties "
                "(it applies to rated responses)"
            )
    else:
        raise ConfigError(f"{data}: no rated responses or comparisons to rank")
    if battles.empty:
        raise ConfigError(f"{data}: no battles (need at least two rated responses per prompt)")
    return battles, frames.survey, frames.conversations


def check_against_data(
    request: RankRequest, battles: pd.DataFrame, survey: pd.DataFrame, conversations: pd.DataFrame
) -> RankRequest:
    """What can only be checked once the data are loaded: the ``--by`` fields exist; a score-based
    method has scores and style control has response texts to work on; without participant ids a
    participant bootstrap falls back to resampling battles (with a note).

    Parameters
    ----------
    request
        the validated request.
    battles, survey, conversations
        the loaded data.

    Returns
    -------
    RankRequest
        the request, with ``unit`` adjusted.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "winner": ["tie"]})
    >>> check_against_data(validate_request("arena.json"), b, pd.DataFrame(), pd.DataFrame()).unit
    'battles'
    >>> check_against_data(validate_request("arena.json", method="mean_score"), b, pd.DataFrame(), pd.DataFrame())
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: arena.json: --method mean_score needs the rating of each response, and these data have winners only (no scores); use a pairwise method: prc, bt, elo or win_rate
    """
    from pluralis.ranking.methods.style_bt import TEXT_COLUMNS
    from pluralis.ranking.subgroups import resolve_field

    for field in request.fields:
        for part in (field,) if isinstance(field, str) else field:
            resolve_field(part, battles, survey, conversations)
    agg = request.aggregator

    def has_values(*columns: str) -> bool:
        return all(c in battles.columns and battles[c].notna().any() for c in columns)

    if agg.kind == "ratings" and not any(has_values(f"{s}_a", f"{s}_b") for s in ("raw_score", "score")):
        raise ConfigError(
            f"{request.data}: --method {agg.name} needs the rating of each response, and these data have winners "
            "only (no scores); use a pairwise method: prc, bt, elo or win_rate"
        )
    if agg.kind == "battles" and not any(has_values(a, b) for a, b in TEXT_COLUMNS):
        raise ConfigError(
            f"{request.data}: --method {agg.name} needs the texts of both responses of each battle "
            "(response_a / response_b), and these data have none; use --method bt"
        )
    if request.unit == "participants" and ("user_id" not in battles.columns or battles["user_id"].isna().all()):
        err_console.print("note: no participant ids in these data; resampling battles instead")
        return replace(request, unit="battles")
    return request


def participant_weights(
    spec: str | None, country: str | None, survey: pd.DataFrame, battles: pd.DataFrame
) -> pd.Series | None:
    """Resolve ``--weights census|FILE.csv`` (with ``--country``) to participant weights, or None.

    ``census`` rakes the participants recruited in ``country`` (``study_locale``) to its census
    margins (:func:`pluralis.census.weights.census_weights`); a file gives ``user_id,weight``.
    Raters without a weight (outside the country sample, or not in the file) count 0; a note
    says how many.

    Parameters
    ----------
    spec
        ``--weights``: ``census``, a CSV path, or None.
    country
        ``--country`` (US or UK) for census weights.
    survey, battles
        the loaded data.

    Returns
    -------
    pandas.Series or None
        weights by participant id.

    Example
    -------
    >>> b = pd.DataFrame({"user_id": ["u1"]})
    >>> participant_weights(None, None, pd.DataFrame(), b) is None
    True
    """
    from pluralis.cli.welfare import weights_option

    check_weight_flags(spec, country)

    def census() -> pd.Series:
        from pluralis.census.weights import census_weights
        from pluralis.welfare.engine import country_sample

        mask, how = country_sample(survey, str(country), "locale")
        res = census_weights(survey[mask], str(country), on_empty="renormalise")
        err_console.print(
            f"census weights for {str(country).upper()} ({how}): {int((res.weights > 0).sum())} weighted "
            f"participants, ESS {res.ess:.1f}"
        )
        return res.weights

    w = weights_option(spec, census)
    if w is None:
        return None
    if not isinstance(w, pd.Series):  # pragma: no cover - weights_option returns a Series
        raise ConfigError("--weights did not give participant weights")
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


# --- step 3: compute -----------------------------------------------------------------------------------


@dataclass
class RankOutcome:
    """What :func:`compute_ranking` produced: the table to show and write, and the full result.

    ``table`` is the subgroup table (``by`` given) or the overall summary; ``result`` is the
    :class:`~pluralis.ranking.subgroups.SubgroupResult`, the
    :class:`~pluralis.ranking.uncertainty.BootstrapResult`, or None (point estimates only).
    ``contrasts`` (:class:`~pluralis.ranking.contrasts.ContrastResult`), ``agreement``
    (:class:`~pluralis.ranking.agreement.AgreementResult`) and ``raters`` (the rater filter's
    report) when asked for.
    """

    table: pd.DataFrame
    result: Any
    weighted: bool
    skipped: dict
    contrasts: Any = None
    agreement: Any = None
    raters: pd.DataFrame | None = None


def compute_ranking(
    request: RankRequest,
    battles: pd.DataFrame,
    survey: pd.DataFrame,
    conversations: pd.DataFrame,
    weights: pd.Series | None = None,
) -> RankOutcome:
    """Rank overall (bootstrap or point estimates) or per subgroup (joint bootstrap).

    Parameters
    ----------
    request
        the validated request.
    battles, survey, conversations
        the loaded data.
    weights
        participant weights (participants without one count 0), or None.

    Returns
    -------
    RankOutcome
        the table and the full result.

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"], "winner": ["model_a"] * 3})
    >>> out = compute_ranking(validate_request("d", rounds=0), b, pd.DataFrame(), pd.DataFrame())
    >>> out.table["model"].tolist()
    ['x', 'y', 'z']
    """
    from pluralis.ranking.engine import rank_models
    from pluralis.ranking.subgroups import subgroup_rankings
    from pluralis.ranking.uncertainty import bootstrap

    agg = request.aggregator
    raters = None
    if request.min_votes or request.drop_outliers:
        from pluralis.ranking.filters import filter_raters

        if "user_id" not in battles.columns:
            raise ConfigError("--min-votes / --drop-outlier-raters need participant ids (user_id) in the battles")
        battles, raters = filter_raters(
            battles, min_votes=request.min_votes, outliers=request.drop_outliers, outlier_z=request.outlier_z
        )
        if battles.empty:
            raise ConfigError("the rater filters dropped every battle")
    extra: dict[str, Any] = {}
    weighting: dict[str, Any] = {"weights": weights, "missing_weights": "zero"} if weights is not None else {}
    if request.fields and (request.contrasts or request.agreement):
        extra = _group_analyses(request, battles, survey, conversations, weighting)
    if request.fields:
        res = subgroup_rankings(
            battles,
            list(request.fields),
            survey=survey,
            conversations=conversations,
            method=agg,
            rounds=request.rounds,
            unit=request.unit,
            level=request.level,
            seed=request.seed,
            min_participants=request.min_participants,
            exclude=request.exclude,
            interval=request.interval,
            **weighting,
            **request.options,
        )
        return RankOutcome(res.table, res, weights is not None, dict(res.skipped), raters=raters, **extra)
    if request.rounds > 0:
        boot = bootstrap(
            battles,
            agg,
            rounds=request.rounds,
            unit=request.unit,
            level=request.level,
            seed=request.seed,
            interval=request.interval,
            **weighting,
            **request.options,
        )
        return RankOutcome(boot.summary(), boot, weights is not None, {}, raters=raters)
    table = rank_models(battles, agg, **weighting, **request.options)
    return RankOutcome(table, None, weights is not None, {}, raters=raters)


def _group_analyses(
    request: RankRequest,
    battles: pd.DataFrame,
    survey: pd.DataFrame,
    conversations: pd.DataFrame,
    weighting: dict[str, Any],
) -> dict[str, Any]:
    """``--contrasts`` and ``--agreement`` for the ``--by`` fields."""
    out: dict[str, Any] = {}
    if request.contrasts:
        from pluralis.ranking.contrasts import group_contrasts

        out["contrasts"] = group_contrasts(
            battles,
            list(request.fields),
            survey=survey,
            conversations=conversations,
            method=request.aggregator,
            rounds=request.rounds,
            level=request.level,
            interval=request.interval,
            seed=request.seed,
            min_participants=request.min_participants,
            exclude=request.exclude,
            reference=request.reference,
            correction=request.correction,
            permutations=request.permutations,
            **weighting,
            **request.options,
        )
    if request.agreement:
        from pluralis.ranking.agreement import choice_agreement

        fields = [f for f in request.fields if isinstance(f, str)]
        out["agreement"] = choice_agreement(
            battles,
            by=fields,
            survey=survey,
            rounds=min(request.rounds, 1000),
            ci=request.level,
            seed=request.seed,
            min_raters=request.min_participants,
            exclude=request.exclude,
        )
    return out


# --- step 4: render and write --------------------------------------------------------------------------


def _fmt(x: Any, digits: int) -> str:
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{float(x):.{digits}f}"


def _rank(x: Any) -> str:
    return "–" if x is None or x is pd.NA or x != x else f"{int(x)}"


def render_ranking(request: RankRequest, outcome: RankOutcome) -> None:
    """Print the ranking tables (one per ``--by`` field, or the overall table) and notes.

    Parameters
    ----------
    request
        the validated request.
    outcome
        what :func:`compute_ranking` produced.

    Example
    -------
    >>> t = pd.DataFrame({"model": ["x"], "score": [0.6], "rank": [1.0], "n_battles": [3]})
    >>> with console.capture() as shown:
    ...     render_ranking(validate_request("d", rounds=0), RankOutcome(t, None, False, {}))
    >>> "Pairwise Rank Centrality" in shown.get() and "0.6000" in shown.get()
    True
    """
    from rich.table import Table

    agg = request.aggregator
    label = agg.label + (" (weighted)" if outcome.weighted else "")
    table = outcome.table
    if request.fields:
        from pluralis.ranking.subgroups import OVERALL

        overall = table[table["by"] == OVERALL].sort_values("rank")
        for field in dict.fromkeys(table.loc[table["by"] != OVERALL, "by"]):
            sub = table[table["by"] == field]
            groups = list(dict.fromkeys(sub["group"]))
            t = Table(
                title=f"{label} by {field} (rank; ▲/▽ places vs overall, * significant at {request.level:.0%})",
                header_style="bold",
            )
            t.add_column("model")
            t.add_column("overall", justify="right")
            for g in groups:
                t.add_column(str(g), justify="right")
            cells = {(r["group"], r["model"]): r for r in sub.to_dict("records")}
            for r in overall.to_dict("records"):
                row = [str(r["model"]), _rank(r["rank"])]
                for g in groups:
                    c = cells.get((g, r["model"]))
                    if c is None:
                        row.append("–")
                        continue
                    shift = c["shift"]
                    mark = "" if shift == 0 or shift != shift else f" {c['direction']}{abs(int(shift))}"
                    sig = c["significant"]
                    star = "*" if (sig is not None and sig is not pd.NA and sig == sig and bool(sig)) else ""
                    row.append(f"{_rank(c['rank'])}{mark}{star}")
                t.add_row(*row)
            console.print(t)
        for (field, value), why in outcome.skipped.items():
            value = value.item() if hasattr(value, "item") else value  # 35, not np.int64(35)
            err_console.print(f"skipped {field} = {value!r}: {why} (< --min-participants {request.min_participants})")
        shown = set(table["by"])
        for field in dict.fromkeys(f for f, _ in outcome.skipped if f not in shown):
            err_console.print(
                f"note: --by {field}: every group has fewer than --min-participants {request.min_participants} "
                "participants: nothing to compare (a numeric field has a group per value)"
            )
        if shown == {OVERALL}:  # no group kept: the overall ranking, not an empty screen
            t = Table(title=f"{label} (overall)", header_style="bold")
            for c in ("rank", "model", "score"):
                t.add_column(c, justify="right" if c != "model" else "left")
            for r in overall.to_dict("records"):
                t.add_row(_rank(r["rank"]), str(r["model"]), _fmt(r["score"], agg.digits))
            console.print(t)
        if outcome.contrasts is not None:
            render_contrasts(request, outcome.contrasts)
        if outcome.agreement is not None:
            render_agreement(outcome.agreement)
    else:
        rounds = request.rounds
        t = Table(
            title=label + (f" — {request.level:.0%} intervals, {rounds} rounds over {request.unit}" if rounds else ""),
            header_style="bold",
        )
        for c in ("rank", "model", "score"):
            t.add_column(c, justify="right" if c != "model" else "left")
        if rounds:
            t.add_column("interval", justify="right")
            t.add_column("rank range", justify="right")
        for r in table.to_dict("records"):
            row = [_rank(r["rank"]), str(r["model"]), _fmt(r["score"], agg.digits)]
            if rounds:
                row += [
                    f"[{_fmt(r['score_lo'], agg.digits)}, {_fmt(r['score_hi'], agg.digits)}]",
                    f"{_rank(r['rank_lo'])}–{_rank(r['rank_hi'])}",
                ]
            t.add_row(*row)
        console.print(t)
    if outcome.raters is not None:
        rep = outcome.raters
        err_console.print(
            f"rater filters: dropped {int(rep['dropped'].sum())} of {len(rep)} raters "
            f"({int(rep['reason'].str.startswith('fewer', na=False).sum())} with too few votes)"
        )
    if not agg.higher_is_better:
        err_console.print("note: lower scores are better for this method")


#: Most contrast rows printed per field (all are written with --out).
SHOW_CONTRASTS = 20


def render_contrasts(request: RankRequest, result: Any) -> None:
    """Print the omnibus tests and the contrasts (significant first, then by p-value) per field.

    Parameters
    ----------
    request
        the validated request.
    result
        a :class:`~pluralis.ranking.contrasts.ContrastResult`.

    Example
    -------
    >>> from pluralis.ranking.contrasts import ContrastResult, CONTRAST_COLUMNS
    >>> c = pd.DataFrame([["g", "p", "q", "x", 1.0, 0.5, 0.5, 0.1, 0.9, 0.2, 0.01, 0.02, 0.02, True, 5, 5]],
    ...                  columns=CONTRAST_COLUMNS)
    >>> o = pd.DataFrame({"by": ["g"], "test": ["bt_lrt"], "statistic": [7.1], "df": [1], "p_value": [0.008]})
    >>> with console.capture() as shown:
    ...     render_contrasts(validate_request("d", by=["g"], contrasts=True), ContrastResult(c, pd.DataFrame(), o))
    >>> "0.5000*" in shown.get() and "df 1, p = 0.008" in shown.get()
    True
    """
    from rich.table import Table

    agg = request.aggregator
    c = result.contrasts
    om = result.omnibus
    for field in dict.fromkeys(list(c["by"]) + list(om["by"])):
        tests = om[om["by"] == field]
        parts = []
        for r in tests.to_dict("records"):
            name = "likelihood-ratio (BT)" if r["test"] == "bt_lrt" else "permutation"
            df = "" if r.get("df") is None or r.get("df") is pd.NA or r["df"] != r["df"] else f", df {int(r['df'])}"
            parts.append(f"{name}: statistic {float(r['statistic']):.4g}{df}, p = {float(r['p_value']):.2g}")
        sub = c[c["by"] == field]
        n_sig = int(sub["significant"].fillna(False).astype(bool).sum())
        t = Table(
            title=f"{agg.label}: group contrasts by {field} — {n_sig} of {len(sub)} contrasts significant "
            f"({request.correction}, {request.level:.0%} {request.interval} intervals)",
            caption="; ".join(parts),
            header_style="bold",
        )
        for col in ("group", "vs", "model", "difference", "interval", "p", f"p ({request.correction})"):
            t.add_column(col, justify="left" if col in ("group", "vs", "model") else "right")
        adj = {"holm": "p_holm", "bh": "p_bh", "none": "p_value"}[request.correction]
        order = sub.assign(_sig=~sub["significant"].fillna(False).astype(bool)).sort_values(["_sig", "p_value"])
        for r in order.head(SHOW_CONTRASTS).to_dict("records"):
            star = "*" if bool(r["significant"]) else ""
            t.add_row(
                str(r["group"]),
                str(r["other"]),
                str(r["model"]),
                _fmt(r["difference"], agg.digits) + star,
                f"[{_fmt(r['lo'], agg.digits)}, {_fmt(r['hi'], agg.digits)}]",
                f"{float(r['p_value']):.2g}",
                f"{float(r[adj]):.2g}",
            )
        console.print(t)
        if len(sub) > SHOW_CONTRASTS:
            err_console.print(f"({len(sub) - SHOW_CONTRASTS} more contrasts of {field}: write them with --out)")


def render_agreement(result: Any) -> None:
    """Print Krippendorff's α of the choices overall, within and between groups.

    Parameters
    ----------
    result
        an :class:`~pluralis.ranking.agreement.AgreementResult`.

    Example
    -------
    >>> from pluralis.ranking.agreement import AgreementResult
    >>> t = pd.DataFrame({"by": ["(all)"], "kind": ["all"], "group": ["(all)"], "other": [None], "alpha": [0.21],
    ...                   "lo": [0.1], "hi": [0.3], "n_raters": [40], "n_units": [6]})
    >>> with console.capture() as shown:
    ...     render_agreement(AgreementResult(t))
    >>> "0.210" in shown.get()
    True
    """
    from rich.table import Table

    t = Table(title="Agreement of the pairwise choices (Krippendorff's α, nominal)", header_style="bold")
    for col in ("by", "kind", "group", "α", "interval", "raters", "pairs of models"):
        t.add_column(col, justify="right" if col in ("α", "interval", "raters", "pairs of models") else "left")
    for r in result.table.to_dict("records"):
        group = str(r["group"]) if r["kind"] != "between" else f"{r['group']} vs {r['other']}"
        t.add_row(
            str(r["by"]),
            str(r["kind"]),
            group,
            _fmt(r["alpha"], 3),
            f"[{_fmt(r['lo'], 3)}, {_fmt(r['hi'], 3)}]",
            str(r["n_raters"]),
            str(r["n_units"]),
        )
    console.print(t)


def _write_table(table: pd.DataFrame, out: Path) -> None:
    """Write ``table`` to ``.csv`` or ``.parquet`` atomically (a temporary file, then renamed)."""
    suffix = out.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ConfigError(f"--out must end in .csv or .parquet, got {out.name!r}")
    if suffix == ".csv":
        with atomic_write(out) as fh:
            table.to_csv(fh, index=False)
        return
    t = table.copy()
    for c in t.columns:
        if t[c].dtype == object:
            t[c] = t[c].astype("string")
    with atomic_write(out, "wb") as fh:
        t.to_parquet(fh, index=False)


def write_outputs(request: RankRequest, outcome: RankOutcome) -> None:
    """Write the table (``--out``) and the plot (``--plot``: subgroup ranks, or scores with intervals).

    Parameters
    ----------
    request
        the validated request.
    outcome
        what :func:`compute_ranking` produced.

    Example
    -------
    >>> import tempfile
    >>> t = pd.DataFrame({"model": ["x"], "score": [0.6], "rank": [1.0]})
    >>> out = Path(tempfile.mkdtemp()) / "r.csv"
    >>> write_outputs(validate_request("d", rounds=0, out=out), RankOutcome(t, None, False, {}))
    >>> pd.read_csv(out)["model"].tolist()
    ['x']
    """
    if request.out is not None:
        _write_table(outcome.table, request.out)
        err_console.print(f"wrote {request.out}")
        extra: list[tuple[str, pd.DataFrame | None]] = [("raters", outcome.raters)]
        if outcome.contrasts is not None:
            extra += [("contrasts", outcome.contrasts.contrasts), ("omnibus", outcome.contrasts.omnibus)]
        if outcome.agreement is not None:
            extra.append(("agreement", outcome.agreement.table))
        for name, frame in extra:
            if frame is None:
                continue
            path = request.out.with_name(f"{request.out.stem}.{name}{request.out.suffix}")
            _write_table(frame, path)
            err_console.print(f"wrote {path}")
    if request.plot is not None:
        from pluralis.ranking.plots import plot_scores, plot_subgroup_ranks

        if request.fields:
            plot_subgroup_ranks(outcome.result, request.plot)
        else:
            plot_scores(outcome.result if outcome.result is not None else outcome.table, request.plot)
        err_console.print(f"wrote {request.plot}")


def list_methods() -> None:
    """Print the registered ranking methods with their kind, aliases and options.

    Example
    -------
    >>> with console.capture() as shown:
    ...     list_methods()
    >>> "win_rate" in shown.get() and "anchor" in shown.get()
    True
    """
    from rich.table import Table

    t = Table(title="ranking methods (--method); options via --option KEY=VALUE", header_style="bold")
    for c in ("method", "label", "kind", "aliases", "options"):
        t.add_column(c)
    for a in aggregators():
        opts = ", ".join(f"{o.name}={'none' if o.default is None else o.default}" for o in a.options if o.public)
        better = "" if a.higher_is_better else " (lower is better)"
        t.add_row(a.name, a.label + better, a.kind, ", ".join(a.aliases), opts or "–")
    console.print(t)


def _method_help() -> str:
    names = " | ".join(a.name for a in aggregators())
    return f"ranking method: {names} (or an alias; --methods lists them with their options)"


def _complete_method(incomplete: str) -> list[str]:
    return [a.name for a in aggregators() if a.name.startswith(incomplete)]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``pluralis`` Typer app.

    Parameters
    ----------
    app
        the Typer app to add ``rank`` to.

    Example
    -------
    >>> app = typer.Typer()
    >>> register(app)
    >>> [c.name for c in app.registered_commands]
    ['rank']
    """

    def show_methods(value: bool) -> None:
        if value:
            list_methods()
            raise typer.Exit()

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
        method: str = typer.Option("prc", "--method", "-m", help=_method_help(), autocompletion=_complete_method),
        option: list[str] | None = typer.Option(
            None,
            "--option",
            "-O",
            help="an option of the method as KEY=VALUE (repeatable), e.g. -O ties=exclude, -O C=0.5, -O k=32",
        ),
        methods: bool = typer.Option(
            False,
            "--methods",
            is_eager=True,
            callback=show_methods,
            help="list the ranking methods and their options, then exit",
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
        alpha: float | None = typer.Option(None, "--alpha", help="= -O alpha=: PRC prior wins per ordered pair (1)"),
        variant: str | None = typer.Option(
            None, "--variant", help="= -O variant=: PRC 'paper' (default) or 'as_coded' (PRISM's code)"
        ),
        penalty: str | None = typer.Option(
            None, "--penalty", help="= -O penalty=: BT 'l2' (default; C=1, as PRISM/FastChat early 2024) or 'none'"
        ),
        anchor: str | None = typer.Option(
            None, "--anchor", help="= -O anchor=: BT, pin one model's rating, e.g. flan-t5-xxl=800"
        ),
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
        interval: str = typer.Option(
            "bca", "--interval", help="score intervals: bca (default; jackknife acceleration), bc or percentile"
        ),
        contrasts: bool = typer.Option(
            False,
            "--contrasts",
            help="with --by: group-vs-group contrasts of every model's score (joint participant bootstrap) "
            "and omnibus tests (BT likelihood ratio, permutation)",
        ),
        correction: str = typer.Option(
            "holm", "--correction", help="multiple testing over models x group pairs: holm, bh or none"
        ),
        permutations: int = typer.Option(
            1000, "--permutations", min=0, help="--contrasts: permutations of the group labels (0 = skip)"
        ),
        reference: str | None = typer.Option(
            None, "--reference", help="--contrasts: compare every group with this one (default: all pairs)"
        ),
        agreement: bool = typer.Option(
            False, "--agreement", help="with --by: Krippendorff's alpha of the choices within and between groups"
        ),
        min_votes: int = typer.Option(0, "--min-votes", min=0, help="drop raters with fewer battles than this"),
        drop_outlier_raters: bool = typer.Option(
            False,
            "--drop-outlier-raters",
            help="drop raters whose choices disagree with everyone else's consensus (robust z < -outlier-z)",
        ),
        outlier_z: float = typer.Option(3.0, "--outlier-z", help="robust z-score threshold of outlier raters"),
    ) -> None:
        """Rank models from DATA, overall or per subgroup, with bootstrap confidence intervals.

        Example: pluralis rank prism/ --by birth_region --method prc --bootstrap 1000 --out ranks.csv --plot ranks.png

        Weighted: pluralis rank prism/ --weights census --country US --method bt

        Group differences: pluralis rank prism/ --by gender --method bt --contrasts --agreement --out ranks.csv
        """
        flags = {"alpha": alpha, "variant": variant, "penalty": penalty, "anchor": anchor}
        given: dict[str, tuple[str, Any]] = {k: (f"--{k}", v) for k, v in flags.items() if v is not None}
        for key, value in parse_option_pairs(option).items():
            if key in given:
                raise ConfigError(f"{given[key][0]} and {value[0]} both set {key!r}; give it once")
            given[key] = value
        request = validate_request(
            data,
            method=method,
            given_options=given,
            by=by,
            rounds=bootstrap,
            unit=unit,
            level=level,
            seed=seed,
            min_participants=min_participants,
            exclude=exclude,
            weights=weights,
            country=country,
            out=out,
            plot=plot,
            tie_threshold=tie_threshold,
            turns=turns,
            score=score,
            balanced=balanced,
            interval=interval,
            contrasts=contrasts,
            correction=correction,
            permutations=permutations,
            reference=reference,
            agreement=agreement,
            min_votes=min_votes,
            drop_outliers=drop_outlier_raters,
            outlier_z=outlier_z,
        )
        battles, survey, conversations = load_battles(
            data,
            tie_threshold=tie_threshold,
            turns=turns,
            balanced=balanced,
            score=score,
            texts=request.aggregator.kind == "battles",
        )
        request = check_against_data(request, battles, survey, conversations)
        w = participant_weights(request.weights, request.country, survey, battles)
        n_people = battles["user_id"].nunique() if "user_id" in battles.columns else 0
        err_console.print(
            f"{len(battles):,} battles, {n_people:,} participants; {request.aggregator.label}"
            f"{', weighted' if w is not None else ''}, {request.rounds} bootstrap rounds over {request.unit}"
        )
        outcome = compute_ranking(request, battles, survey, conversations, w)
        render_ranking(request, outcome)
        write_outputs(request, outcome)
