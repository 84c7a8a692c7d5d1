"""The registry of preference aggregators (ranking methods).

Every aggregator is ONE :class:`Aggregator` object in ONE file of :mod:`pluralis.ranking.methods`
(``prc.py``, ``bt.py``, ``elo.py``, ...), registered there with :func:`register_aggregator`. The
built-ins are discovered, not listed: the first lookup imports every module of that package
(:mod:`pkgutil`), so a new method is a new file. A plugin or a test registers its own the same
way, from anywhere.

Nothing else in :mod:`pluralis.ranking` (engine, bootstrap, subgroups, sensitivity, plots) nor
the ``pluralis rank`` command branches on a method's name: what is method-specific is an
attribute or a hook of its :class:`Aggregator`. What the engine does with one depends only on its
``kind``:

``"pairs"``
    ``from_counts(wins, ties, /, **options)`` maps win/tie count matrices of shape
    ``(..., n, n)`` (``wins[..., w, l]``, symmetric ``ties``; any leading batch shape) to scores
    ``(..., n)``. Order-invariant; weighted counts give weighted rankings; the bootstrap draws
    counts (multinomial / sparse products) and scores all rounds in one batched call.
    ``prepare(options, context)`` may turn options into what the fit needs for one tournament
    (a BT anchor's model name into an index, PRC's as-coded item order, ...).
``"sequence"``
    ``from_sequence(a, b, outcome, n_models, **options)`` processes battles in the given order
    (online Elo); ``from_sequences(a, b, outcome, n_models, steps, valid, **options)`` runs
    many orders / resamples at once (``steps``: ``(L, R)`` battle indices). Order-dependent:
    no weighted form, no joint subgroup bootstrap.
``"ratings"``
    the mean of the rated responses' ``rating_column`` per model (raw score, normalised score,
    within-turn rank); weighted means for weighted rankings.
``"battles"``
    ``from_battles(a, b, outcome, n_models, /, *, weights, covariates, **options)`` fits on the
    individual battles, each with a row of ``covariates`` that the ``covariates`` hook computes
    from the battle frame (style-controlled Bradley–Terry: response length, markdown). ``weights``
    is None, one weight per battle, or ``(R, m)`` for ``R`` resamples at once (a bootstrap
    round's multiplicities times participant weights); the result is ``(n,)`` or ``(R, n)``.

Example
-------
>>> sorted(a.name for a in aggregators())[:3]
['bt', 'elo', 'mean_normalized_score']
>>> get_aggregator("Elo-MLE").label
'Elo (MLE / Bradley-Terry)'
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pluralis.errors import ConfigError
from pluralis.ranking.battles import BattleArrays
from pluralis.ranking.encode import first_winner_order

__all__ = [
    "KINDS",
    "Aggregator",
    "Option",
    "PairContext",
    "aggregators",
    "get_aggregator",
    "register_aggregator",
    "unregister_aggregator",
]

Kind = Literal["pairs", "sequence", "ratings", "battles"]
KINDS: tuple[str, ...] = ("pairs", "sequence", "ratings", "battles")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)


@dataclass(frozen=True)
class Option:
    """One keyword option of an aggregator's fit function.

    ``public`` options can be set by users (``rank_models(..., alpha=5)``, ``pluralis rank -O
    alpha=5``); others are computed by the aggregator's ``prepare`` hook (PRC's item order).
    ``parse`` turns command-line text into the value (default: by the type of ``default``) and
    raises :class:`ValueError` with a message that reads after the option's name; ``choices``
    lists the allowed values (after parsing).

    Example
    -------
    >>> Option("ties", "count", choices=("count", "exclude")).convert("exclude")
    'exclude'
    >>> Option("alpha", 1.0).convert("2.5", flag="--alpha")
    2.5
    """

    name: str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()
    parse: Callable[[str], Any] | None = None
    public: bool = True

    def convert(self, value: Any, *, flag: str | None = None) -> Any:
        """Parse ``value`` (command-line text or a value) and check it against ``choices``.

        Parameters
        ----------
        value
            text from the command line, or an already typed value.
        flag
            how the option was given (``--alpha``), for error messages; default its name.

        Returns
        -------
        Any
            the option's value.

        Example
        -------
        >>> Option("shuffle", False).convert("yes")
        True
        >>> Option("k", 4.0).convert("x", flag="-O k")
        Traceback (most recent call last):
        ...
        pluralis.errors.ConfigError: -O k must be a number, got 'x'
        """
        where = flag or self.name
        if isinstance(value, str):
            text = value.strip()
            try:
                if self.parse is not None:
                    value = self.parse(text)
                elif isinstance(self.default, bool):
                    if text.lower() not in _TRUE | _FALSE:
                        raise ValueError(f"must be true or false, got {text!r}")
                    value = text.lower() in _TRUE
                elif isinstance(self.default, (int, float)):
                    try:
                        value = type(self.default)(float(text)) if isinstance(self.default, float) else int(text)
                    except ValueError:
                        raise ValueError(f"must be a number, got {text!r}") from None
                else:
                    value = text
            except ValueError as exc:
                raise ConfigError(f"{where} {exc}") from None
        if self.choices and value not in self.choices:
            allowed = ", ".join(_shown(c) for c in self.choices)
            raise ConfigError(f"{where} must be one of: {allowed}; got {_shown(value)!r}")
        return value


@dataclass(frozen=True)
class PairContext:
    """The tournament a pair aggregator's ``prepare`` hook scores: models and battles.

    ``models`` are the scored models (a subgroup's, when ``index`` is set), ``arrays`` all
    battles of the tournament and ``index`` the scored models' codes in ``arrays``.

    Example
    -------
    >>> arr = BattleArrays.from_lists(["x", "y", "z"], [0, 1], [1, 2], [1, 0])
    >>> ctx = PairContext.of(arr)
    >>> ctx.item_order().tolist(), ctx.restrict(np.array([1, 2])).models
    ([3, 0, 5], ('y', 'z'))
    """

    models: tuple[str, ...]
    arrays: BattleArrays
    index: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, arrays: BattleArrays) -> PairContext:
        """The context of all models of ``arrays`` (see the class example)."""
        return cls(tuple(arrays.models), arrays)

    @property
    def is_subset(self) -> bool:
        """Whether only some models (a subgroup's) are scored."""
        return self.index is not None

    def restrict(self, index: np.ndarray) -> PairContext:
        """The context of the models ``index`` (codes in ``arrays``); shares cached values."""
        return PairContext(tuple(self.arrays.models[i] for i in index), self.arrays, np.asarray(index), self._cache)

    def item_order(self) -> np.ndarray:
        """:func:`~pluralis.ranking.encode.first_winner_order` of all battles, for the scored models."""
        if "item_order" not in self._cache:
            a = self.arrays
            self._cache["item_order"] = first_winner_order(a.a, a.b, a.outcome, a.n_models)
        full = self._cache["item_order"]
        return full if self.index is None else full[self.index]


@dataclass(frozen=True, kw_only=True)
class Aggregator:
    """A preference aggregator: what it is called, what it consumes, how it is fitted and shown.

    Parameters
    ----------
    name, label
        the method's name (``--method``) and its human-readable label (tables, titles).
    kind
        ``"pairs"``, ``"sequence"``, ``"ratings"`` or ``"battles"`` (see the module docstring);
        decides which fit hook is used and how the bootstrap resamples.
    from_counts
        pairs: ``(wins, ties, /, **options) -> scores``, batched over leading dimensions.
    from_sequence, from_sequences
        sequence: scores of battles in the given order; many orders at once (optional: by
        default ``from_sequence`` runs once per order).
    rating_column
        ratings: the rated responses' column whose per-model mean is the score.
    from_battles, covariates
        battles: the weighted fit on individual battles, and the hook computing one row of
        covariates per battle from the battle frame (raises when the frame lacks what it needs).
    aliases
        other accepted names (case-insensitive, ``-`` = ``_``).
    higher_is_better
        ``False`` for scores where lower is better (a mean rank).
    supports_weights
        whether participant weights (weighted counts / means) apply.
    options
        the fit's keyword options (:class:`Option`); others passed to the engine are ignored.
    prepare
        pairs: ``(options, PairContext) -> options`` per tournament (names to indices, ...).
    axis_label, reference, digits
        for plots and tables: the score axis label, a reference score for ``n`` models drawn as
        a line (PRC: ``1/n``, "uniform"), decimals shown.
    order
        position in listings (built-ins first; ties by name).
    unregularised
        options that switch off a prior that biases the aggregator's estimates (PRC:
        ``alpha=0``). The bootstrap's intervals target the population score, so they come from
        draws refitted with these options (the point estimate keeps its shrinkage).

    Example
    -------
    >>> borda = Aggregator(name="borda", label="Borda count", kind="pairs",
    ...                    from_counts=lambda w, t, /: w.sum(-1) - w.sum(-2))
    >>> borda.scores_from_counts(np.array([[0, 3], [1, 0]]), np.zeros((2, 2))).tolist()
    [2, -2]
    """

    name: str
    label: str
    kind: Kind
    from_counts: Callable[..., np.ndarray] | None = None
    from_sequence: Callable[..., np.ndarray] | None = None
    from_sequences: Callable[..., np.ndarray] | None = None
    rating_column: str | None = None
    from_battles: Callable[..., np.ndarray] | None = None
    covariates: Callable[[Any], np.ndarray | None] | None = None
    aliases: tuple[str, ...] = ()
    higher_is_better: bool = True
    supports_weights: bool = True
    options: tuple[Option, ...] = ()
    prepare: Callable[[dict, PairContext], dict] | None = None
    axis_label: str = "score"
    reference: Callable[[int], float] | None = None
    digits: int = 1
    order: int = 100
    description: str = ""
    unregularised: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ConfigError(f"aggregator name must be lower-case letters, digits and _, got {self.name!r}")
        if self.kind not in KINDS:
            raise ConfigError(f"aggregator {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        needs = {
            "pairs": ("from_counts",),
            "sequence": ("from_sequence",),
            "ratings": ("rating_column",),
            "battles": ("from_battles",),
        }[self.kind]
        missing = [n for n in needs if getattr(self, n) is None]
        if missing:
            raise ConfigError(f"aggregator {self.name!r} of kind {self.kind!r} needs {', '.join(missing)}")
        if self.kind == "sequence" and self.supports_weights:
            raise ConfigError(
                f"aggregator {self.name!r}: battles in order have no weighted form (supports_weights=False)"
            )
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise ConfigError(f"aggregator {self.name!r} declares an option twice: {names}")

    # options -------------------------------------------------------------------------------
    @property
    def option_names(self) -> frozenset[str]:
        """Names of all declared options (public and computed)."""
        return frozenset(o.name for o in self.options)

    def option(self, name: str) -> Option | None:
        """The declared option ``name`` (None if the aggregator has none by that name).

        Example
        -------
        >>> get_aggregator("prc").option("alpha").default
        1.0
        """
        return next((o for o in self.options if o.name == name), None)

    def select_options(self, options: Mapping[str, Any]) -> dict:
        """The entries of ``options`` this aggregator declares (the rest is ignored).

        Example
        -------
        >>> get_aggregator("win_rate").select_options({"ties": "exclude", "alpha": 2})
        {'ties': 'exclude'}
        """
        names = self.option_names
        return {k: v for k, v in options.items() if k in names}

    def prepare_options(self, options: Mapping[str, Any], context: PairContext) -> dict:
        """Options for one tournament: the ``prepare`` hook applied to a copy of ``options``.

        Example
        -------
        >>> arr = BattleArrays.from_lists(["x", "y"], [0], [1], [0])
        >>> get_aggregator("bt").prepare_options({"anchor": {"y": 800}}, PairContext.of(arr))
        {'anchor': (1, 800.0)}
        """
        opts = dict(options)
        return self.prepare(opts, context) if self.prepare is not None else opts

    # fitting -------------------------------------------------------------------------------
    def scores_from_counts(self, wins: np.ndarray, ties: np.ndarray, /, **options: Any) -> np.ndarray:
        """Scores of a pair aggregator from win/tie matrices ``(..., n, n)`` (undeclared options ignored).

        Example
        -------
        >>> get_aggregator("win_rate").scores_from_counts(np.array([[0, 3], [1, 0]]), np.zeros((2, 2))).tolist()
        [0.75, 0.25]
        """
        if self.from_counts is None:
            raise ConfigError(f"method {self.name!r} is not computed from pair counts")
        return self.from_counts(wins, ties, **self.select_options(options))

    def scores_from_sequences(
        self,
        a: np.ndarray,
        b: np.ndarray,
        outcome: np.ndarray,
        n_models: int,
        steps: np.ndarray,
        valid: np.ndarray | None = None,
        **options: Any,
    ) -> np.ndarray:
        """Scores of a sequence aggregator for ``R`` battle orders at once (``steps``: ``(L, R)``).

        ``valid`` (same shape, optional) marks the steps that count (padding is ``False``).

        Example
        -------
        >>> elo = get_aggregator("elo")
        >>> elo.scores_from_sequences(np.array([0]), np.array([1]), np.array([0]), 2, np.zeros((1, 2), int)).shape
        (2, 2)
        """
        if self.from_sequence is None:
            raise ConfigError(f"method {self.name!r} does not process battles in sequence")
        opts = self.select_options(options)
        if self.from_sequences is not None:
            return self.from_sequences(a, b, outcome, n_models, steps, valid, **opts)
        out = np.empty((steps.shape[1], n_models))
        for r in range(steps.shape[1]):  # fallback: one order at a time
            idx = steps[:, r] if valid is None else steps[valid[:, r], r]
            out[r] = self.from_sequence(a[idx], b[idx], outcome[idx], n_models, **opts)
        return out

    def scores_from_battles(
        self,
        a: np.ndarray,
        b: np.ndarray,
        outcome: np.ndarray,
        n_models: int,
        /,
        *,
        weights: np.ndarray | None = None,
        covariates: np.ndarray | None = None,
        **options: Any,
    ) -> np.ndarray:
        """Scores of a battles aggregator; ``weights`` ``(m,)`` or ``(R, m)`` (undeclared options ignored).

        Example
        -------
        >>> sbt = get_aggregator("style_bt")
        >>> r = sbt.scores_from_battles(np.array([0, 0, 1]), np.array([1, 1, 0]), np.array([0, 0, 0]), 2,
        ...                             covariates=np.zeros((3, 1)), penalty=None)
        >>> round(float(r[0] - r[1]), 1)   # x wins 2 of 3, no style effect: 400 log10(2)
        120.4
        """
        if self.from_battles is None:
            raise ConfigError(f"method {self.name!r} is not fitted on individual battles")
        return self.from_battles(
            a, b, outcome, n_models, weights=weights, covariates=covariates, **self.select_options(options)
        )

    def battle_covariates(self, battles: Any) -> np.ndarray | None:
        """The per-battle covariates of a battles aggregator from a battle frame (None for other kinds).

        Example
        -------
        >>> get_aggregator("bt").battle_covariates(None) is None
        True
        """
        if self.kind != "battles" or self.covariates is None:
            return None
        return self.covariates(battles)

    def unregularised_options(self, options: Mapping[str, Any]) -> dict | None:
        """``options`` with the prior / penalty switched off, or None when there is none to switch off.

        Example
        -------
        >>> get_aggregator("prc").unregularised_options({"alpha": 2.0, "variant": "paper"})
        {'alpha': 0.0, 'variant': 'paper'}
        >>> get_aggregator("prc").unregularised_options({"alpha": 0.0}) is None
        True
        """
        if not self.unregularised:
            return None
        off = dict(self.unregularised)
        current = {k: options.get(k, o.default if (o := self.option(k)) is not None else None) for k in off}
        if all(current[k] == v for k, v in off.items()):
            return None
        return {**dict(options), **off}

    def reference_score(self, n_models: int) -> float | None:
        """A reference score drawn in plots (e.g. PRC's uniform ``1/n``), or None.

        Example
        -------
        >>> get_aggregator("prc").reference_score(4), get_aggregator("bt").reference_score(4)
        (0.25, None)
        """
        return None if self.reference is None or n_models < 1 else float(self.reference(n_models))

    def describe(self) -> str:
        """One line: name, label and public options (for help texts).

        Example
        -------
        >>> get_aggregator("win_rate").describe()
        'win_rate: Average win rate [ties]'
        """
        opts = [o.name for o in self.options if o.public]
        return f"{self.name}: {self.label}" + (f" [{', '.join(opts)}]" if opts else "")


# --- the registry ---------------------------------------------------------------------------------

_REGISTRY: dict[str, Aggregator] = {}
_ALIASES: dict[str, str] = {}
_BUILTINS = {"loaded": False}


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def _load_builtins() -> None:
    """Import every module of :mod:`pluralis.ranking.methods` once (each registers its aggregator)."""
    if _BUILTINS["loaded"]:
        return
    _BUILTINS["loaded"] = True
    try:
        from pluralis.ranking import methods

        for info in sorted(pkgutil.iter_modules(methods.__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{methods.__name__}.{info.name}")
    except BaseException:
        _BUILTINS["loaded"] = False
        raise


def register_aggregator(aggregator: Aggregator, *, replace: bool = False) -> Aggregator:
    """Register an aggregator under its name and aliases; returns it.

    Parameters
    ----------
    aggregator
        the :class:`Aggregator` to register.
    replace
        allow replacing an aggregator of the same name (its aliases are dropped with it).

    Returns
    -------
    Aggregator
        ``aggregator`` (so a module can write ``AGGREGATOR = register_aggregator(Aggregator(...))``).

    See Also
    --------
    unregister_aggregator, get_aggregator

    Example
    -------
    >>> toy = register_aggregator(Aggregator(name="toy_wins", label="Wins", kind="pairs",
    ...                                      from_counts=lambda w, t, /: w.sum(-1)))
    >>> get_aggregator("toy-wins") is toy
    True
    >>> _ = unregister_aggregator("toy_wins")
    """
    _load_builtins()
    if not isinstance(aggregator, Aggregator):
        raise ConfigError(f"register_aggregator needs an Aggregator, got {type(aggregator).__name__}")
    name = aggregator.name
    keys = [_key(a) for a in aggregator.aliases]
    if name in _REGISTRY and not replace:
        if _REGISTRY[name] == aggregator:
            return _REGISTRY[name]
        raise ConfigError(f"a ranking method named {name!r} is already registered (pass replace=True)")
    for k in keys:
        owner = k if k in _REGISTRY else _ALIASES.get(k)
        if owner is not None and owner != name:
            raise ConfigError(f"alias {k!r} of {name!r} already names the ranking method {owner!r}")
    if name in _REGISTRY:
        unregister_aggregator(name)
    _REGISTRY[name] = aggregator
    for k in keys:
        if k != name:
            _ALIASES[k] = name
    return aggregator


def unregister_aggregator(name: str) -> Aggregator:
    """Remove a registered aggregator (and its aliases); returns it.

    Parameters
    ----------
    name
        its name or an alias.

    Returns
    -------
    Aggregator
        the removed aggregator.

    Example
    -------
    >>> _ = register_aggregator(Aggregator(name="toy", label="Toy", kind="ratings", rating_column="score"))
    >>> unregister_aggregator("toy").name
    'toy'
    """
    agg = get_aggregator(name)
    del _REGISTRY[agg.name]
    for k in [k for k, v in _ALIASES.items() if v == agg.name]:
        del _ALIASES[k]
    return agg


def get_aggregator(name: str | Aggregator) -> Aggregator:
    """Look up an aggregator by name or alias (case-insensitive; ``-`` and ``_`` alike).

    Parameters
    ----------
    name
        a method name or alias; an :class:`Aggregator` is returned as is.

    Returns
    -------
    Aggregator
        the registered aggregator.

    Raises
    ------
    ConfigError
        for an unknown name; the message lists the registered methods.

    Example
    -------
    >>> get_aggregator("Elo_MLE").name
    'bt'
    >>> get_aggregator("borda")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: unknown ranking method 'borda'; choose one of: prc, bt, style_bt, elo, win_rate, mean_score, mean_normalized_score, mean_within_turn_rank
    """
    if isinstance(name, Aggregator):
        return name
    _load_builtins()
    key = _key(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        names = ", ".join(a.name for a in aggregators())
        raise ConfigError(f"unknown ranking method {name!r}; choose one of: {names}")
    return _REGISTRY[key]


def aggregators(kind: str | None = None) -> tuple[Aggregator, ...]:
    """All registered aggregators (built-ins first, by ``order`` then name), optionally of one kind.

    Parameters
    ----------
    kind
        ``"pairs"``, ``"sequence"``, ``"ratings"`` or ``"battles"`` to list only those.

    Returns
    -------
    tuple of Aggregator

    Example
    -------
    >>> [a.name for a in aggregators("pairs")]
    ['prc', 'bt', 'win_rate']
    """
    _load_builtins()
    out = sorted(_REGISTRY.values(), key=lambda a: (a.order, a.name))
    return tuple(a for a in out if kind is None or a.kind == kind)
