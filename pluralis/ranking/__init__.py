"""Model rankings from pairwise preferences: who prefers which model, and how sure we are.

* :mod:`~pluralis.ranking.battles` — rated responses to battles (and their integer coding);
* :mod:`~pluralis.ranking.methods` — the aggregators, one file each, registered in
  :mod:`~pluralis.ranking.registry` (``get_aggregator``, ``register_aggregator``);
* :mod:`~pluralis.ranking.engine` — ``rank_models`` with any registered aggregator;
* :mod:`~pluralis.ranking.uncertainty`, :mod:`~pluralis.ranking.subgroups` — bootstrap intervals,
  per-group rankings and significant rank shifts (shared pieces in ``encode`` and ``resample``);
* :mod:`~pluralis.ranking.sensitivity`, :mod:`~pluralis.ranking.plots` — analysis choices, figures.
"""
