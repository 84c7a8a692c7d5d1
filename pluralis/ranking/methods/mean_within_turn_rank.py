"""Mean within-turn rank (``mean_within_turn_rank``; alias ``within_turn_rank``): lower is better.

Each rated response's rank among the responses to the same prompt (1 = rated highest),
averaged per model.

Example
-------
>>> from pluralis.ranking.registry import get_aggregator
>>> get_aggregator("within_turn_rank").higher_is_better
False
"""

from __future__ import annotations

from pluralis.ranking.registry import Aggregator, register_aggregator

AGGREGATOR = register_aggregator(
    Aggregator(
        name="mean_within_turn_rank",
        label="Mean within-turn rank",
        kind="ratings",
        rating_column="within_turn_rank",
        aliases=("within_turn_rank",),
        higher_is_better=False,
        axis_label="mean within-turn rank (1 = best; lower is better)",
        digits=1,
        order=70,
        description="mean rank of a model's response among the responses to the same prompt",
    )
)
