"""The admin dashboard's figures, including the "whose preferences?" panel.

The repository (:class:`pluralis.web.repository.CollectRepository`) only reads the store; this module composes
what the dashboard shows. The panel ranks the models from the opening turns of finished conversations with the
aggregation engine (:func:`pluralis.ranking.battles.extract_battles`, then pairwise rank centrality through
:func:`pluralis.ranking.engine.rank_models`), overall and per participant group.

When PRC cannot rank a set of participants (no battles yet, fewer than ``min_battles``, or the engine refuses
the battles) the panel says so, with the reason, and shows no ranking: there is no silent substitute method.
The ratings' mean scores are on the dashboard anyway, in their own table.

Example
-------
>>> import pandas as pd
>>> ratings = pd.DataFrame({"user_id": ["u1"] * 3, "interaction_id": ["i1"] * 3, "turn": [0] * 3,
...     "model_name": ["x", "y", "z"], "score": [90, 50, 10], "gender": ["Female"] * 3})
>>> panel = whose_preferences(ratings, ["gender"])
>>> panel["method"], [r["model"] for r in panel["overall"]], list(panel["groups"]["gender"])
('prc', ['x', 'y', 'z'], ['Female'])
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pluralis.errors import PluralisError
from pluralis.ranking.battles import extract_battles
from pluralis.ranking.engine import rank_models

if TYPE_CHECKING:
    from pluralis.collect.config import StudyConfig
    from pluralis.collect.quotas import QuotaPlan
    from pluralis.web.repository import CollectRepository

#: The aggregator of the panel.
PANEL_METHOD = "prc"
#: How the dashboard names the methods it may report.
METHOD_LABELS = {"prc": "pairwise rank centrality (PRC)"}
#: Seconds between two recomputations of the "whose preferences?" panel.
WHOSE_PREFERENCES_MIN_INTERVAL = 30.0


def _components(battles: pd.DataFrame) -> int:
    """Number of separate sets of models the battles connect (1: every model was compared, maybe indirectly)."""
    codes, models = pd.factorize(pd.concat([battles["model_a"], battles["model_b"]], ignore_index=True))
    n = len(models)
    half = len(battles)
    graph = coo_matrix((np.ones(half), (codes[:half], codes[half:])), shape=(n, n))
    return int(connected_components(graph, directed=False)[0])


def rank_battles(battles: pd.DataFrame, *, min_battles: int = 1) -> dict[str, Any]:
    """Rank models from battles with PRC, or say why not.

    Parameters
    ----------
    battles
        Battles as :func:`pluralis.ranking.battles.extract_battles` returns them.
    min_battles
        Fewest battles worth a ranking.

    Returns
    -------
    dict
        ``method`` (``"prc"``, or ``None`` when no ranking was computed), ``ranking`` (``model``, ``score``,
        ``rank``, ``n`` battles; best first; empty without a ranking), ``battles`` (how many),
        ``reason`` (why there is no ranking, else ``None``) and ``note`` (a caveat about a ranking that was
        computed, else ``None``: battles that leave the models in separate sets, whose relative ranks
        only the method's prior decides).

    Example
    -------
    >>> b = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"],
    ...                   "winner": ["model_a", "model_a", "model_a"]})
    >>> out = rank_battles(b)
    >>> out["method"], [r["model"] for r in out["ranking"]], out["reason"]
    ('prc', ['x', 'y', 'z'], None)
    >>> rank_battles(b.iloc[:0])["reason"]
    'not enough battles (no two different models were rated in the same opening turn yet)'
    >>> rank_battles(b, min_battles=10)["reason"]
    'not enough battles (3 so far; the ranking needs at least 10)'
    """
    n = len(battles)
    out: dict[str, Any] = {"method": None, "ranking": [], "battles": n, "reason": None, "note": None}
    if n == 0:
        out["reason"] = "not enough battles (no two different models were rated in the same opening turn yet)"
        return out
    if n < min_battles:
        out["reason"] = f"not enough battles ({n} so far; the ranking needs at least {min_battles})"
        return out
    try:
        ranked = rank_models(battles, PANEL_METHOD)
    except PluralisError as e:
        out["reason"] = f"the {PANEL_METHOD.upper()} ranking could not be computed: {e}"
        return out
    out["method"] = PANEL_METHOD
    out["ranking"] = [
        {"model": m, "score": round(float(sc), 4), "rank": int(rk), "n": int(nb)}
        for m, sc, rk, nb in ranked[["model", "score", "rank", "n_battles"]].itertuples(index=False)
    ]
    parts = _components(battles)
    if parts > 1:
        out["note"] = (
            f"the battles leave the models in {parts} separate sets (never compared, even indirectly): "
            "ranks across sets are not comparable"
        )
    return out


def whose_preferences(
    ratings: pd.DataFrame, group_fields: Sequence[str] = (), *, min_battles: int = 1
) -> dict[str, Any]:
    """The "whose preferences?" panel: PRC model rankings overall and per participant group.

    Parameters
    ----------
    ratings
        Rated opening-turn responses, one row per response: ``user_id``, ``interaction_id``, ``turn``,
        ``model_name``, ``score`` and one column per group field
        (:meth:`pluralis.web.repository.CollectRepository.opening_ratings`).
    group_fields
        Participant columns to break the ranking down by (fields missing from ``ratings`` are skipped).
    min_battles
        Fewest battles worth a ranking (overall and per group).

    Returns
    -------
    dict
        ``method``, ``reason``, ``note``, ``battles`` and ``overall`` (the ranking) as in :func:`rank_battles`;
        ``groups``: ``{field: {value: {"participants", "method", "ranking", "battles", "reason", "note"}}}``,
        largest group first; ``computed_at`` (epoch seconds).

    See Also
    --------
    rank_battles : the ranking of one set of battles.

    Example
    -------
    >>> ratings = pd.DataFrame({"user_id": ["u1"] * 3 + ["u2"], "interaction_id": ["i1"] * 3 + ["i2"],
    ...     "turn": [0] * 4, "model_name": ["x", "y", "z", "x"], "score": [90, 50, 10, 70],
    ...     "age": ["18-24"] * 3 + ["65+"]})
    >>> panel = whose_preferences(ratings, ["age"])
    >>> [r["model"] for r in panel["overall"]], panel["groups"]["age"]["65+"]["reason"]
    (['x', 'y', 'z'], 'not enough battles (no two different models were rated in the same opening turn yet)')
    >>> whose_preferences(ratings.iloc[:0])["reason"]
    'no finished conversations yet'
    """
    out: dict[str, Any] = {
        "method": None,
        "reason": None,
        "note": None,
        "battles": 0,
        "overall": [],
        "groups": {},
    }
    if ratings.empty:
        out["reason"] = "no finished conversations yet"
        return out
    try:
        battles = extract_battles(ratings, short_names=False)  # once; groups are subsets of participants
    except PluralisError as e:
        out["reason"] = f"the battles could not be extracted from the ratings: {e}"
        return out
    overall = rank_battles(battles, min_battles=min_battles)
    out.update(
        method=overall["method"],
        reason=overall["reason"],
        note=overall["note"],
        battles=overall["battles"],
        overall=overall["ranking"],
    )
    for field in group_fields:
        if field not in ratings.columns:
            continue
        users_of = ratings.dropna(subset=[field]).groupby(field)["user_id"].unique()
        groups: dict[str, Any] = {}
        for value in ratings[field].value_counts().index:  # largest group first
            users = users_of[value]
            ranked = rank_battles(battles[battles["user_id"].isin(users)], min_battles=min_battles)
            groups[str(value)] = {
                "participants": int(len(users)),
                "method": ranked["method"],
                "ranking": ranked["ranking"],
                "battles": ranked["battles"],
                "reason": ranked["reason"],
                "note": ranked["note"],
            }
        out["groups"][field] = groups
    out["computed_at"] = time.time()
    return out


class Dashboard:
    """The admin dashboard's data for one study, with the costly panel recomputed at most every so often.

    The "whose preferences?" panel is recomputed only when conversations were finished since the last one and
    at most every ``min_interval`` seconds (about a second of CPU at PRISM's size, and the dashboard refreshes
    itself).

    Parameters
    ----------
    config
        The study.
    repo
        The study's repository (reads only).
    quota_plan
        The study's quota plan (for the quota fill table).
    min_interval
        Seconds between two recomputations of the panel.
    clock
        Monotonic clock (for tests).

    Example
    -------
    >>> import os, tempfile
    >>> from pluralis.collect.config import StudyConfig
    >>> from pluralis.collect.quotas import QuotaPlan
    >>> from pluralis.store import Store
    >>> from pluralis.web.repository import CollectRepository
    >>> config = StudyConfig()
    >>> store = Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite"))
    >>> board = Dashboard(config, CollectRepository(store, config), QuotaPlan(config.quotas))
    >>> data = board.summary()
    >>> data["participants"], data["whose_preferences"]["reason"]
    (0, 'no finished conversations yet')
    """

    def __init__(
        self,
        config: StudyConfig,
        repo: CollectRepository,
        quota_plan: QuotaPlan,
        *,
        min_interval: float = WHOSE_PREFERENCES_MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.repo = repo
        self.quota_plan = quota_plan
        self.min_interval = min_interval
        self.clock = clock
        self._lock = threading.Lock()
        self._key: int | None = None
        self._at = float("-inf")
        self._panel: dict[str, Any] | None = None

    def whose_preferences(self, finished: int) -> dict[str, Any]:
        """The panel, from the cache unless ``finished`` conversations changed and ``min_interval`` passed.

        Parameters
        ----------
        finished
            Finished conversations in the store now (the cache key).

        Returns
        -------
        dict
            As :func:`whose_preferences`.

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.collect.quotas import QuotaPlan
        >>> from pluralis.store import Store
        >>> from pluralis.web.repository import CollectRepository
        >>> config = StudyConfig()
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), config)
        >>> board = Dashboard(config, repo, QuotaPlan(config.quotas))
        >>> board.whose_preferences(0) is board.whose_preferences(0)
        True
        """
        with self._lock:
            now = self.clock()
            fresh = self._key == finished or now - self._at < self.min_interval
            if self._panel is None or not fresh:
                fields = list(self.config.admin.group_fields)
                self._panel = whose_preferences(self.repo.opening_ratings(fields), fields)
                self._key, self._at = finished, now
            return self._panel

    def summary(self) -> dict[str, Any]:
        """Everything the dashboard shows (also served as JSON by ``GET /admin/api/summary``).

        Blocking (database reads, and the panel when it is due): run it in a worker thread.

        Returns
        -------
        dict
            ``study``, ``participants``, ``status`` (participants per step), ``quota`` (fill per cell),
            ``ratings`` (per model), ``failures`` (per model and kind), ``counts`` (table rows) and
            ``whose_preferences`` (:func:`whose_preferences`).

        Example
        -------
        >>> import os, tempfile
        >>> from pluralis.collect.config import StudyConfig
        >>> from pluralis.collect.quotas import QuotaPlan
        >>> from pluralis.store import Store
        >>> from pluralis.web.repository import CollectRepository
        >>> config = StudyConfig()
        >>> repo = CollectRepository(Store.open(os.path.join(tempfile.mkdtemp(), "s.sqlite")), config)
        >>> sorted(Dashboard(config, repo, QuotaPlan(config.quotas)).summary())[:3]
        ['counts', 'failures', 'participants']
        """
        repo = self.repo
        statuses = repo.status_counts()
        counts = repo.counts()
        return {
            "study": self.config.study.id,
            "participants": sum(statuses.values()),
            "status": statuses,
            "quota": self.quota_plan.fill(repo.cell_counts()) if self.quota_plan.active else [],
            "ratings": repo.rating_summary(),
            "failures": repo.failure_summary(),
            "counts": counts,
            "whose_preferences": self.whose_preferences(counts.get("conversations", 0)),
        }


__all__ = [
    "METHOD_LABELS",
    "PANEL_METHOD",
    "WHOSE_PREFERENCES_MIN_INTERVAL",
    "Dashboard",
    "rank_battles",
    "whose_preferences",
]
