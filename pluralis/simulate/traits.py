"""Trait vocabularies shared by the persona generator and the texts rendered from personas.

Kept apart from :mod:`pluralis.simulate.generator` so that :mod:`pluralis.simulate.texts` can name the traits
without importing the generator (which renders texts): no import cycle.
"""

from __future__ import annotations

GENERATOR_VERSION = "pluralis.simulate/1"

BIG_FIVE: tuple[str, ...] = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")

#: Interests: name -> logit coefficients on (const, age_step, female, O, C, E, A, N, secular, self_expr, political).
INTERESTS: dict[str, tuple[float, ...]] = {
    "cooking": (-0.6, 0.05, 0.5, 0.1, 0.1, 0.0, 0.1, 0, 0, 0, 0),
    "gardening": (-1.8, 0.35, 0.2, 0.1, 0.2, -0.1, 0.1, 0, -0.1, 0, 0.1),
    "sports": (-0.9, -0.05, -0.9, -0.1, 0.0, 0.4, 0, 0, 0, 0, 0.1),
    "video games": (-1.2, -0.5, -0.8, 0.1, -0.2, 0.0, 0, 0.1, 0.2, 0.1, 0),
    "travel": (-0.8, 0.0, 0.1, 0.5, 0.0, 0.3, 0, 0, 0.1, 0.3, 0),
    "reading": (-0.8, 0.1, 0.5, 0.6, 0.1, -0.2, 0, 0, 0, 0.1, 0),
    "music": (-0.5, -0.2, 0.0, 0.4, 0.0, 0.2, 0, 0, 0, 0.1, 0),
    "film and TV": (-0.4, -0.05, 0.0, 0.1, -0.1, 0.1, 0, 0.1, 0, 0, 0),
    "technology": (-1.2, -0.15, -0.8, 0.4, 0.1, 0.0, 0, 0, 0.3, 0.1, 0),
    "fitness": (-1.1, -0.2, 0.0, 0.1, 0.4, 0.3, 0, -0.1, 0, 0.1, 0),
    "fashion": (-1.8, -0.3, 1.0, 0.2, 0.0, 0.3, 0, 0, 0, 0.1, 0),
    "politics": (-1.6, 0.15, -0.3, 0.3, 0.0, 0.1, -0.1, 0, 0, 0.1, 0.0),
    "history": (-1.3, 0.2, -0.4, 0.5, 0.1, -0.1, 0, 0, 0, 0, 0.1),
    "science": (-1.4, 0.0, -0.4, 0.6, 0.1, 0.0, 0, 0, 0.4, 0.2, -0.1),
    "faith and spirituality": (-1.6, 0.2, 0.3, 0.0, 0.1, 0.0, 0.2, 0, -1.0, -0.2, 0.2),
    "personal finance": (-1.4, 0.05, -0.3, 0.0, 0.5, 0.0, 0, 0.1, 0, 0, 0.2),
    "parenting": (-1.7, 0.1, 0.6, 0.0, 0.2, 0.1, 0.2, 0.1, -0.2, 0, 0.1),
    "pets": (-1.2, 0.0, 0.4, 0.0, 0.0, 0.0, 0.3, 0.1, 0, 0, 0),
    "arts and crafts": (-1.8, 0.1, 0.7, 0.6, 0.0, 0.0, 0.1, 0.1, 0, 0.1, 0),
    "the outdoors": (-1.2, 0.1, -0.2, 0.3, 0.1, 0.1, 0, -0.1, 0, 0.1, 0.1),
    "cars": (-2.0, 0.0, -1.2, 0.0, 0.0, 0.2, 0, 0, 0, 0, 0.2),
    "volunteering": (-2.0, 0.2, 0.3, 0.1, 0.2, 0.2, 0.4, 0, -0.1, 0.2, 0),
    "board games": (-2.0, -0.1, -0.1, 0.3, 0.0, 0.1, 0.1, 0, 0.1, 0, 0),
    "food and restaurants": (-1.0, -0.1, 0.2, 0.3, 0.0, 0.3, 0, 0, 0, 0.1, 0),
}
INTEREST_NAMES: tuple[str, ...] = tuple(INTERESTS)
