"""Sample quotas: which cell a participant falls in, each cell's target, and how full it is.

``census`` quotas follow PRISM App. L: cells are age band x census ethnicity (Asian/Black/Mixed/Other/White)
x gender (Female/Male), the target of a cell is ``int(share% * total / 100) + 1`` ("+1 so minority cells are
not penalised"), and participants who answered "Prefer not to say" (or a gender outside the census) fall in
no cell. ``cells`` quotas are listed in the study file, each matching survey answers.

Example
-------
>>> from pluralis.collect.config import QuotasConfig
>>> plan = QuotaPlan(QuotasConfig(kind="census", country="UK", total=300))
>>> len(plan.targets), plan.cell_for({"age": "25-34 years old", "gender": "Female",
...                                   "ethnicity": {"category": "White"}})
(60, '25-34 years old | White | Female')
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pluralis.collect.config import QuotasConfig
from pluralis.data import vocab


def _answer_value(answers: Mapping[str, Any], key: str) -> Any:
    value = answers.get(key)
    if isinstance(value, Mapping):
        value = value.get("category")
    return value


class QuotaPlan:
    """The quota cells of a study and their targets (empty for ``kind = "none"``).

    Example
    -------
    >>> from pluralis.collect.config import QuotasConfig, QuotaCell
    >>> plan = QuotaPlan(QuotasConfig(kind="cells", cells=[QuotaCell(name="women", match={"gender": "Female"}, target=2)]))
    >>> plan.cell_for({"gender": "Female"}), plan.cell_for({"gender": "Male"})
    ('women', None)
    >>> plan.fill({"women": 1})
    [{'cell': 'women', 'target': 2, 'filled': 1, 'share': 0.5, 'full': False}]
    """

    def __init__(self, config: QuotasConfig):
        self.config = config
        self.targets: dict[str, int] = {}
        self._match: dict[str, dict[str, str]] = {}
        if config.kind == "census":
            from pluralis.census.targets import cell_percentages, normalise_country

            table = cell_percentages(normalise_country(config.country))
            for age in table.index:
                for col in table.columns:
                    if col.startswith("All"):
                        continue
                    eth, gender = col.split("_")
                    pct = float(table.loc[age, col])
                    name = f"{age} | {eth} | {gender}"
                    self.targets[name] = int(pct / 100 * config.total) + 1
        elif config.kind == "cells":
            for cell in config.cells:
                self.targets[cell.name] = cell.target
                self._match[cell.name] = dict(cell.match)

    @property
    def active(self) -> bool:
        """Whether the study has quota cells."""
        return bool(self.targets)

    def cell_for(self, answers: Mapping[str, Any]) -> str | None:
        """The cell of a participant given their survey answers (``None``: no cell).

        Example
        -------
        >>> from pluralis.collect.config import QuotasConfig
        >>> QuotaPlan(QuotasConfig(kind="census", country="US")).cell_for({"age": "Prefer not to say"}) is None
        True
        """
        if self.config.kind == "census":
            age = _answer_value(answers, "age")
            gender = _answer_value(answers, "gender")
            eth = vocab.ETHNICITY_TO_CENSUS.get(_answer_value(answers, "ethnicity"))
            if age not in vocab.AGE_BANDS or gender not in ("Female", "Male") or eth is None:
                return None
            name = f"{age} | {eth} | {gender}"
            return name if name in self.targets else None
        for name, match in self._match.items():
            if all(str(_answer_value(answers, k)) == v for k, v in match.items()):
                return name
        return None

    def has_room(self, cell: str | None, counts: Mapping[str, int]) -> bool:
        """Whether a participant in ``cell`` may go on (always true without quotas or outside every cell).

        Example
        -------
        >>> from pluralis.collect.config import QuotasConfig, QuotaCell
        >>> plan = QuotaPlan(QuotasConfig(kind="cells", cells=[QuotaCell(name="x", match={"gender": "Male"}, target=1)]))
        >>> plan.has_room("x", {"x": 0}), plan.has_room("x", {"x": 1}), plan.has_room(None, {})
        (True, False, True)
        """
        if cell is None or cell not in self.targets:
            return True
        return counts.get(cell, 0) < self.targets[cell]

    def fill(self, counts: Mapping[str, int]) -> list[dict[str, Any]]:
        """One row per cell: target, filled, share and whether it is full (for the admin dashboard)."""
        rows = []
        for name, target in self.targets.items():
            filled = int(counts.get(name, 0))
            rows.append(
                {
                    "cell": name,
                    "target": target,
                    "filled": filled,
                    "share": round(filled / target, 4) if target else 1.0,
                    "full": filled >= target,
                }
            )
        return rows


class QuotaTracker:
    """In-memory quota counting for sessions run without a database (e.g. simulated participants).

    Pass ``tracker.gate`` as ``quota_gate`` to :class:`pluralis.collect.protocol.ProtocolSession`:
    it admits a participant if their cell has room and counts them.

    Example
    -------
    >>> from pluralis.collect.config import QuotasConfig, QuotaCell
    >>> t = QuotaTracker(QuotaPlan(QuotasConfig(kind="cells", cells=[QuotaCell(name="x", match={"gender": "Male"}, target=1)])))
    >>> t.gate("x"), t.gate("x"), t.counts["x"]
    (True, False, 1)
    """

    def __init__(self, plan: QuotaPlan):
        self.plan = plan
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def gate(self, cell: str | None) -> bool:
        with self._lock:
            if not self.plan.has_room(cell, self.counts):
                return False
            if cell is not None:
                self.counts[cell] += 1
            return True


__all__ = ["QuotaPlan", "QuotaTracker"]
