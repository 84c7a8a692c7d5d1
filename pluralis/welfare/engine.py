"""Welfare of populations under different "seat of power" sampling schemes (PRISM §3.3, App. U).

:func:`run_welfare` is the whole experiment, exactly as PRISM's notebooks (spec §7), in three steps:

1. **resolve** (:mod:`pluralis.welfare.schemes`): the country's analysis sample, every scheme's
   pool and every population's members, checked before any draw;
2. **draw** (:mod:`pluralis.welfare.draws`): individual welfare matrices, then ``n_draws`` draws
   per (measure, population, scheme), each choosing the model its members like best;
3. **summarise** (:mod:`pluralis.welfare.summaries`): the population's welfare under each
   chosen model, tabulated, with schemes compared by first-order stochastic dominance.

Its options live in one :class:`WelfareConfig`, which declares and checks them once.
:func:`reproduce_prism_welfare` runs PRISM's full notebook (US and UK, rating then choice) on one
shared random stream.

Example
-------
>>> from pluralis.data.synthetic import generate_study
>>> f = generate_study(n_participants=300, seed=0).frames()
>>> res = run_welfare(f.utterances, f.survey, country="US", n_draws=200, allow_oversample=True)
>>> sorted(res.summary["scheme"].unique())[:2]
['45+ (100)', 'Male (100)']
>>> res.summary.groupby(["measure", "population"]).size().tolist()
[7, 7, 7, 7, 7, 7, 7, 7]
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError
from pluralis.welfare._validation import Boolean, Constraint, InstanceOf, OneOf, PositiveInt, validate
from pluralis.welfare.draws import (
    ENGINES,
    MEASURES,
    MODEL_NAMES,
    WelfareMatrices,
    check_measure,
    check_scale,
    check_unseen,
    draw,
    welfare_matrices,
)
from pluralis.welfare.schemes import (
    PRISM_POPULATIONS,
    PRISM_SCHEMES,
    REFERENCE_SCHEME,
    SAMPLES,
    Design,
    Group,
    Scheme,
    country_sample,
    resolve,
)
from pluralis.welfare.summaries import WelfareResult, summarise

__all__ = [
    "WelfareConfig",
    "WelfareResult",
    "country_sample",  # re-exported for callers of the pre-split module (pluralis.cli.rank)
    "reproduce_prism_welfare",
    "run_welfare",
]


def _named(kind: str, item_type: type) -> Constraint:
    """Items of ``item_type`` with unique names."""

    def check(name: str, items: Sequence[Any]) -> None:
        bad = [x for x in items if not isinstance(x, item_type)]
        if bad:
            raise ConfigError(f"{name} must be {item_type.__name__} objects, got {bad[0]!r}")
        names = [x.name for x in items]
        if len(set(names)) != len(names):
            raise ConfigError(f"{kind} names must be unique, got {names}")

    return check


def _measures(name: str, measures: Sequence[str]) -> None:
    for m in measures:
        check_measure(m)


def _weights(name: str, weights: Any) -> None:
    if weights is not None and not isinstance(weights, (pd.Series, Mapping)) and weights != "census":
        raise ConfigError(f"weights must be a Series by user_id or 'census', got {weights!r}")


def _scale(name: str, value: Any) -> None:
    if value is not None:
        check_scale(value)


def _unseen(name: str, value: Any) -> None:
    check_unseen(value)


def _model_names(name: str, value: Any) -> None:
    if not callable(value) and value not in MODEL_NAMES:
        raise ConfigError(f"model_names must be 'short', 'prism', 'raw' or a function, got {value!r}")


@dataclass(frozen=True, eq=False)
class WelfareConfig:
    """The options of the welfare experiment, checked once when the config is made.

    Parameters
    ----------
    country : str or None
        The analysis sample's country, ``"US"`` or ``"UK"`` (``None`` = everyone); every pool and
        population is taken within it (:func:`pluralis.welfare.schemes.country_sample`).
    sample : {"auto", "rep", "rebalance", "locale"}
        How the country's sample is found.
    schemes : sequence of Scheme
        The seat-of-power sampling schemes (default PRISM's seven).
    populations : sequence of Group
        The stakeholder populations (default PRISM's four).
    measures : sequence of {"rating", "choice"}
        The welfare measures.
    n_draws : int
        Draws per (measure, population, scheme).
    seed : int or None
        Seed of the draws' random stream.
    replace : bool
        Draw with replacement (PRISM's code, default).
    allow_oversample : bool
        A scheme larger than its pool is an error unless this is set; then, with replacement, it
        is drawn anyway (as PRISM's code would) and noted.
    impute : bool
        Impute missing individual welfare first (App. U.3).
    weights : pandas.Series, "census" or None
        Participant weights (Series or mapping by ``user_id``, e.g. from
        :func:`pluralis.census.weights.census_weights`) or ``"census"`` to rake the sample to its
        census margins: draws pick participants with probability proportional to weight, and
        population welfare is the weighted mean.
    reference : str or None
        The scheme the FOSD flags compare with (PRISM: ``"Rep (100)"``). The default is dropped
        silently when the schemes do not include it; any other name must be one of the schemes.
    engine : {"fast", "reference"}
        Vectorised draws (numpy RNG) or the notebook's plain pandas loop (Python's
        ``random.Random(seed)``; its algorithm and RNG calls).
    common_draws : bool
        Reuse the same seat-of-power draws for every population (paired comparison); PRISM
        regenerates them per population (default ``False``).
    model_names : {"short", "prism", "raw"} or callable
        Model labels of the welfare matrices (:func:`pluralis.welfare.draws.welfare_matrices`).
    balanced_only : bool
        Use only conversations in PRISM's balanced subset (PRISM's welfare analysis, default);
        ``False`` uses every conversation's opening turn.
    scale : pair of float or None
        The rating scale ``(lowest, highest)`` the scores were given on; ``None`` infers it from
        the scores (:func:`pluralis.welfare.draws.infer_scale`: the narrowest standard scale
        holding them, e.g. 1-100 for PRISM). Recorded in the result's config either way.
    unseen : {"scale_min", "min_observed", "prism"} or float
        Score of a model nobody in a draw saw (:func:`pluralis.welfare.draws.check_unseen`): the
        bottom of the rating scale (default; 0 for choices), the lowest observed rating, PRISM's
        as-coded 1 (right only on a 1-100 scale) or a rating. With ``"scale_min"`` (and a declared
        or standard scale) or ``"min_observed"``, rescaling the scores by ``a * x + b`` (``a > 0``)
        leaves every winner unchanged and maps every welfare figure to ``a * w + b``.

    See Also
    --------
    run_welfare : the experiment these options configure.

    Example
    -------
    >>> cfg = WelfareConfig(country="UK", measures=["choice"], n_draws=100)
    >>> cfg.measures, cfg.reference_scheme, cfg.unseen
    (('choice',), 'Rep (100)', 'scale_min')
    >>> WelfareConfig(scale=(0, 1), unseen="min_observed").scale
    (0.0, 1.0)
    >>> WelfareConfig(engine="slow")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: engine must be 'fast' or 'reference', got 'slow'
    """

    country: str | None = "US"
    sample: str = "auto"
    schemes: Sequence[Scheme] = PRISM_SCHEMES
    populations: Sequence[Group] = PRISM_POPULATIONS
    measures: Sequence[str] = MEASURES
    n_draws: int = 1000
    seed: int | None = 1
    replace: bool = True
    allow_oversample: bool = False
    impute: bool = False
    weights: pd.Series | str | None = None
    reference: str | None = REFERENCE_SCHEME
    engine: str = "fast"
    common_draws: bool = False
    model_names: str | Callable[[str], str] = "short"
    balanced_only: bool = True
    scale: tuple[float, float] | None = None
    unseen: str | float = "scale_min"

    #: Every option's constraint, declared once (scikit-learn's ``_parameter_constraints``).
    constraints: ClassVar[Mapping[str, Constraint]] = {
        "country": InstanceOf(str, none=True),
        "sample": OneOf(*SAMPLES),
        "schemes": _named("scheme", Scheme),
        "populations": _named("population", Group),
        "measures": _measures,
        "n_draws": PositiveInt(),
        "seed": InstanceOf(int, np.integer, none=True, what="an integer"),
        "replace": Boolean(),
        "allow_oversample": Boolean(),
        "impute": Boolean(),
        "weights": _weights,
        "reference": InstanceOf(str, none=True),
        "engine": OneOf(*ENGINES),
        "common_draws": Boolean(),
        "model_names": _model_names,
        "balanced_only": Boolean(),
        "scale": _scale,
        "unseen": _unseen,
    }

    def __post_init__(self) -> None:
        # None stands for the default set (as the CLI passes it); sequences are kept as tuples.
        for name, default in (("schemes", PRISM_SCHEMES), ("populations", PRISM_POPULATIONS)):
            value = getattr(self, name)
            object.__setattr__(self, name, default if value is None else tuple(value))
        object.__setattr__(
            self, "measures", (self.measures,) if isinstance(self.measures, str) else tuple(self.measures)
        )
        if not self.schemes or not self.populations or not self.measures:
            raise ConfigError("need at least one scheme, one population and one measure")
        validate({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, self.constraints)
        if self.scale is not None:
            object.__setattr__(self, "scale", check_scale(self.scale))
        object.__setattr__(self, "unseen", check_unseen(self.unseen))
        if self.reference is not None and self.reference not in self.scheme_names:
            if self.reference != REFERENCE_SCHEME:
                raise ConfigError(f"reference scheme {self.reference!r} is not one of the schemes {self.scheme_names}")
        if isinstance(self.weights, str) and self.country is None:
            raise ConfigError("weights='census' needs a country")

    @property
    def scheme_names(self) -> list[str]:
        """Names of the schemes, in order."""
        return [s.name for s in self.schemes]

    @property
    def reference_scheme(self) -> str | None:
        """The scheme FOSD flags compare with: ``reference``, or None when it is PRISM's default
        and the schemes do not include it."""
        return self.reference if self.reference in self.scheme_names else None

    @classmethod
    def build(cls, config: WelfareConfig | None = None, **options: Any) -> WelfareConfig:
        """A config from keyword options, on top of ``config`` when given (unknown options are errors).

        Parameters
        ----------
        config : WelfareConfig, optional
            The base config (default: all defaults).
        **options
            Fields to set, by name.

        Returns
        -------
        WelfareConfig
            The validated config.

        Example
        -------
        >>> WelfareConfig.build(WelfareConfig(country="UK"), n_draws=10).country
        'UK'
        >>> WelfareConfig.build(draws=10)
        Traceback (most recent call last):
        ...
        pluralis.errors.ConfigError: unknown welfare option(s) ['draws']; valid options: country, sample, schemes, populations, measures, n_draws, seed, replace, allow_oversample, impute, weights, reference, engine, common_draws, model_names, balanced_only, scale, unseen
        """
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ConfigError(f"unknown welfare option(s) {unknown}; valid options: {', '.join(valid)}")
        return dataclasses.replace(config, **options) if config is not None else cls(**options)

    def record(self, design: Design, matrices: WelfareMatrices) -> dict[str, Any]:
        """What a run with this config did, as kept in :attr:`WelfareResult.config`.

        Parameters
        ----------
        design : Design
            What :func:`~pluralis.welfare.schemes.resolve` found.
        matrices : WelfareMatrices
            The individual welfare the run used.

        Returns
        -------
        dict
            ``country, sample, n_sample, n_draws, seed, replace, impute, weighted, reference,
            engine, common_draws, balanced_only, scale, scale_source, unseen, unseen_score,
            schemes, populations, models`` (``scale``: the rating scale used, declared or
            inferred; ``unseen_score``: the score of an unseen model per measure).

        Example
        -------
        >>> import pandas as pd
        >>> from pluralis.welfare.schemes import resolve
        >>> cfg = WelfareConfig(country=None, schemes=[Scheme("Rep (1)", Group("Rep"), 1)], populations=[Group("Rep")])
        >>> d = resolve(pd.DataFrame({"user_id": ["a"]}), cfg.schemes, cfg.populations, country=None)
        >>> m = WelfareMatrices(pd.DataFrame({"x": [50.0]}, index=["a"]), pd.DataFrame({"x": [1.0]}, index=["a"]))
        >>> rec = cfg.record(d, m)
        >>> rec["schemes"], rec["scale"], rec["unseen_score"]
        ([('Rep (1)', 'Rep', 1)], (1.0, 100.0), {'rating': 1.0, 'choice': 0.0})
        """
        return {
            "country": self.country,
            "sample": design.how,
            "n_sample": int(design.n_sample),
            "n_draws": int(self.n_draws),
            "seed": self.seed,
            "replace": self.replace,
            "impute": bool(self.impute or matrices.imputed),
            "weighted": design.weights is not None,
            "reference": self.reference_scheme,
            "engine": self.engine,
            "common_draws": self.common_draws,
            "balanced_only": self.balanced_only,
            "scale": matrices.rating_scale,
            "scale_source": matrices.scale_source or "PRISM's 1-100 (default)",
            "unseen": self.unseen,
            "unseen_score": {m: matrices.unseen_score(m, self.unseen) for m in matrices.measures},
            "schemes": [(s.name, s.pool.name, s.n) for s in self.schemes],
            "populations": [p.name for p in self.populations],
            "models": matrices.models,
        }


def _unpack(data: Any, survey: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if survey is None:
        if hasattr(data, "frames") and callable(data.frames):
            data = data.frames()
        if hasattr(data, "utterances") and hasattr(data, "survey"):
            return data.utterances, data.survey
        raise ConfigError("pass utterances and survey DataFrames (or a Study / StudyFrames)")
    return data, survey


def _run(
    cfg: WelfareConfig,
    utterances: pd.DataFrame,
    survey: pd.DataFrame,
    matrices: WelfareMatrices | None,
    rng: random.Random | None = None,
) -> WelfareResult:
    """resolve -> draw -> summarise; ``rng`` continues a reference-engine stream across runs."""
    design = resolve(
        survey,
        cfg.schemes,
        cfg.populations,
        country=cfg.country,
        sample=cfg.sample,
        weights=cfg.weights,
        replace=cfg.replace,
        allow_oversample=cfg.allow_oversample,
    )
    if matrices is None:
        matrices = welfare_matrices(
            utterances,
            measures=cfg.measures,
            balanced_only=cfg.balanced_only,
            impute=cfg.impute,
            model_names=cfg.model_names,
            scale=cfg.scale,
        )
    else:
        matrices = matrices.with_scale(cfg.scale)
        if cfg.impute:
            matrices = matrices.impute()
    drawn = draw(
        matrices,
        design,
        measures=cfg.measures,
        n_draws=cfg.n_draws,
        replace=cfg.replace,
        engine=cfg.engine,
        common_draws=cfg.common_draws,
        seed=cfg.seed,
        rng=rng,
        unseen=cfg.unseen,
    )
    return summarise(matrices, design, drawn, reference=cfg.reference_scheme, config=cfg.record(design, matrices))


def run_welfare(
    data: Any,
    survey: pd.DataFrame | None = None,
    *,
    config: WelfareConfig | None = None,
    matrices: WelfareMatrices | None = None,
    **options: Any,
) -> WelfareResult:
    """Run PRISM's welfare experiment (App. U) on a study: resolve, draw, summarise.

    Parameters
    ----------
    data : pandas.DataFrame or Study or StudyFrames
        The utterances (with ``survey`` the survey frame), or a Study / StudyFrames.
    survey : pandas.DataFrame, optional
        The survey frame, when ``data`` is the utterances.
    config : WelfareConfig, optional
        The experiment's options (default: PRISM's set-up for the US).
    matrices : WelfareMatrices, optional
        Precomputed individual welfare (then the utterances are not read).
    **options
        Any :class:`WelfareConfig` field by name (``country``, ``sample``, ``schemes``,
        ``populations``, ``measures``, ``n_draws``, ``seed``, ``replace``, ``allow_oversample``,
        ``impute``, ``weights``, ``reference``, ``engine``, ``common_draws``, ``model_names``,
        ``balanced_only``, ``scale``, ``unseen``), set on top of ``config``.

    Returns
    -------
    WelfareResult
        Draws, summary table (with the Monte-Carlo error of every figure), population welfare
        per model, best model and FOSD; ``config`` records the options, the rating scale and the
        score given to unseen models.

    See Also
    --------
    WelfareConfig : every option, with its meaning.
    pluralis.welfare.schemes.resolve, pluralis.welfare.draws.draw, pluralis.welfare.summaries.summarise :
        the three steps.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> study = generate_study(n_participants=250, seed=4)
    >>> res = run_welfare(study, country="UK", n_draws=100, measures=["rating"], allow_oversample=True)
    >>> set(res.draws["population"]) == {"Rep", "Non-male", "Non-white", "<45"}
    True
    """
    cfg = WelfareConfig.build(config, **options)
    utterances, survey = _unpack(data, survey)
    return _run(cfg, utterances, survey, matrices)


def _concat(results: Sequence[WelfareResult], config: dict[str, Any]) -> WelfareResult:
    """One result from runs on disjoint measures of the same design."""
    labels = dict.fromkeys(("measure", "population", "scheme", "model"), object)
    notes = list(results[0].notes)
    for r in results[1:]:
        notes += [n for n in r.notes if n not in results[0].notes]
    return WelfareResult(
        draws=pd.concat([r.draws.astype(labels) for r in results], ignore_index=True),
        summary=pd.concat([r.summary for r in results], ignore_index=True),
        model_welfare=pd.concat([r.model_welfare for r in results], ignore_index=True),
        best=pd.concat([r.best for r in results], ignore_index=True),
        fosd=pd.concat([r.fosd for r in results], ignore_index=True),
        config=config,
        notes=notes,
    )


def reproduce_prism_welfare(
    utterances: pd.DataFrame,
    survey: pd.DataFrame,
    *,
    impute: bool = False,
    n_draws: int = 1000,
    seed: int = 1,
    engine: str = "reference",
) -> dict[str, WelfareResult]:
    """PRISM's full welfare run (notebooks 11b/11c): US and UK, rating then choice.

    The notebook seeds one stream, ``random.seed(1)``, and draws rating US, rating UK, choice US,
    choice UK from it in that order; with ``engine="reference"`` the same ``random.Random(seed)``
    is passed through the four runs in that order, so on the released PRISM data every draw
    follows the notebook's RNG calls. The fast engine seeds each run afresh. Unseen models score
    PRISM's as-coded constants (``unseen="prism"``: 1 and 0; the bottom of PRISM's 1-100 scale).

    Parameters
    ----------
    utterances, survey : pandas.DataFrame
        The study's utterances and survey (with PRISM's ``included_in_{US,UK}_REP`` flags).
    impute : bool
        Impute missing individual welfare first (App. U.3, notebook 11c).
    n_draws : int
        Draws per (measure, population, scheme).
    seed : int
        Seed of the notebook's stream.
    engine : {"reference", "fast"}
        The draw engine.

    Returns
    -------
    dict of str to WelfareResult
        ``{"US": result, "UK": result}``, each with both measures.

    See Also
    --------
    run_welfare : one country, any schemes and populations.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> f = generate_study(n_participants=200, seed=0).frames()
    >>> out = reproduce_prism_welfare(f.utterances, f.survey, n_draws=5)
    >>> sorted(out)
    ['UK', 'US']
    """
    mats = welfare_matrices(utterances, model_names="prism", scale=(1, 100))
    if impute:  # the notebook's imputer on the raw 1-100 scores
        mats = mats.impute(normalise=False)
    stream = random.Random(seed) if engine == "reference" else None
    parts: dict[str, list[WelfareResult]] = {"US": [], "UK": []}
    for measure in MEASURES:
        for country in ("US", "UK"):
            # PRISM's code draws with replacement whatever the pool size.
            cfg = WelfareConfig(
                country=country,
                sample="rep",
                measures=(measure,),
                n_draws=n_draws,
                seed=seed,
                engine=engine,
                allow_oversample=True,
                unseen="prism",
            )
            parts[country].append(_run(cfg, utterances, survey, mats, rng=stream))
    return {c: _concat(rs, {**rs[0].config, "measures": list(MEASURES)}) for c, rs in parts.items()}
