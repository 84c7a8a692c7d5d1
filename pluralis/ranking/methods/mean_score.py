"""Mean score (``mean_score``): the mean raw rating of each model's rated responses.

Uses the rated responses behind the battles (one per response, not per battle); weighted
rankings take weighted means.

Example
-------
>>> from pluralis.ranking.engine import rank_models
>>> import pandas as pd
>>> b = pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "winner": ["model_a"], "score_a": [80.0],
...                   "score_b": [60.0], "user_id": ["u"], "interaction_id": ["i"]})
>>> rank_models(b, "mean_score")["score"].tolist()
[80.0, 60.0]
"""

from __future__ import annotations

from pluralis.ranking.registry import Aggregator, register_aggregator

AGGREGATOR = register_aggregator(
    Aggregator(
        name="mean_score",
        label="Mean score",
        kind="ratings",
        rating_column="score",
        axis_label="mean score (rating scale)",
        digits=1,
        order=50,
        description="mean raw rating of each model's rated responses",
    )
)
