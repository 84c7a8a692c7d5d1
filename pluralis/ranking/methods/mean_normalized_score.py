"""Mean normalised score (``mean_normalized_score``; aliases ``mean_normalised_score``, ``normalized_score``).

The mean of each model's ratings after z-scoring every participant's ratings (PRISM's
``normalized_score``), which removes differences in how generously people rate.

Example
-------
>>> from pluralis.ranking.registry import get_aggregator
>>> get_aggregator("normalised-score").rating_column
'normalized_score'
"""

from __future__ import annotations

from pluralis.ranking.registry import Aggregator, register_aggregator

AGGREGATOR = register_aggregator(
    Aggregator(
        name="mean_normalized_score",
        label="Mean normalised score",
        kind="ratings",
        rating_column="normalized_score",
        aliases=("mean_normalised_score", "normalized_score", "normalised_score"),
        axis_label="mean normalised score (z within participant)",
        digits=1,
        order=60,
        description="mean of per-participant z-scored ratings",
    )
)
