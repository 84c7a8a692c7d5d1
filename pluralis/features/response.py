"""What explains scores? Response features and PRISM's OLS of score on them (App. T.8, Tab. 27).

Features (spec §6.7), computed on the stored response text:

``text_length``             characters
``if_line_breaks``          contains ``\\n``
``if_question_marks``       the *last* character is ``?``
``if_enumeration``          a numbered (``\\n 1. ``) or bulleted (``\\n - ``) list after a newline
``if_deanthro``             de-anthropomorphic phrases ("As an AI", "I don't have personal", ...)
``if_refusal``              refusal phrases ("I'm sorry, but", "I cannot provide", ...)
``if_self_identification``  provider / model names ("OpenAI", "claude", "llama", ...)

Phrase matching is case-insensitive substring matching of the escaped phrases, exactly as PRISM's
notebook 09 (so "metaphor" fires on "meta", "napalm" on "palm" — pass ``word_boundaries=True`` for the stricter
variant; spec §9 #18). Only straight apostrophes are matched, as in PRISM.

:func:`explain_scores` fits ``score ~ const + features`` by OLS with **participant-clustered**
standard errors by default (``cov="nonrobust"`` reproduces Tab. 27's plain SEs; ``"HC1"`` robust).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from pluralis.errors import ConfigError, DataValidationError, Problem

DEANTHRO_PHRASES: tuple[str, ...] = (
    "I don't have personal",
    "I do not have personal",
    "I am a chatbot",
    "I'm a large language model",
    "As an artificial intelligence language model",
    "As an AI language model ",
    "I cannot express",
    "I can't express",
    "I do not hold personal",
    "I don't hold personal",
    "As an artificial intelligence",
    "I don't hold",
    "As an AI",
    "as a conversational assistant",
    "I am an AI assistant",
    "as an AI chatbot",
    "I am a language model",
    "I do not have feelings",
    "I don't have feelings",
    "I am trained",
    "I'm just an AI",
)
REFUSAL_PHRASES: tuple[str, ...] = (
    "I'm sorry, but",
    "I'm not able",
    "it is not appropriate",
    "it's not appropriate",
    "it is not accurate",
    "it's not accurate",
    "i am not sure that it's appropriate",
    "i'm not sure that it's appropriate",
    "it is not ethical",
    "it's not ethical",
    "I am sorry, I cannot help with",
    "I cannot answer that question",
    "I'm unable",
    "I am unable to answer",
    "I'm sorry, I cannot give an opinion",
    "I can't help you with that request",
    "I cannot provide",
    "I can't engage in that conversation",
    "I cannot take sides",
    "I cannot give",
    "I cannot engage",
    "I am not able to answer",
    "I cannot provide information",
    "I cannot endorse",
    "I cannot produce",
    "I apologize, but",
    "I apologise, but",
)
SELF_ID_PHRASES: tuple[str, ...] = (
    "Google",
    "Cohere",
    "OpenAI",
    "Aleph Alpha",
    "Anthropic",
    "Meta",
    "HuggingFace",
    "Coral",
    "claude",
    "command",
    "flan",
    "gpt",
    "zephyr",
    "luminous",
    "llama",
    "mistral",
    "palm",
    "pythia",
    "falcon",
    "guanaco",
)
ENUMERATION_PATTERN = r"\n\s*\d+\.\s+|\n\s*[-*]\s+"

#: All features, in Tab. 27's order.
FEATURES: tuple[str, ...] = (
    "text_length",
    "if_line_breaks",
    "if_question_marks",
    "if_enumeration",
    "if_deanthro",
    "if_refusal",
    "if_self_identification",
)


def phrase_pattern(phrases: Sequence[str], *, word_boundaries: bool = False) -> re.Pattern:
    """Case-insensitive alternation of escaped phrases (optionally with word boundaries).

    Example
    -------
    >>> bool(phrase_pattern(["palm"]).search("napalm")), bool(phrase_pattern(["palm"], word_boundaries=True).search("napalm"))
    (True, False)
    """
    parts = [re.escape(p) for p in phrases]
    if word_boundaries:
        parts = [rf"\b{p}\b" if p[-1:].isalnum() else rf"\b{p}" for p in parts]
    return re.compile("|".join(parts), re.IGNORECASE)


def response_features(
    responses: pd.Series | Sequence[str],
    *,
    features: Sequence[str] = FEATURES,
    word_boundaries: bool = False,
) -> pd.DataFrame:
    """The response features of each text (booleans as 0/1 floats, length in characters).

    Example
    -------
    >>> f = response_features(["As an AI, I think so.\\n1. Yes", "Sure?"])
    >>> f.astype(int).values.tolist()
    [[28, 1, 0, 1, 1, 0, 0], [5, 0, 1, 0, 0, 0, 0]]
    """
    s = pd.Series(responses, dtype=object).fillna("").astype(str)
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ConfigError(f"unknown feature(s) {unknown}; available: {', '.join(FEATURES)}")
    out = pd.DataFrame(index=s.index)
    for f in features:
        if f == "text_length":
            out[f] = s.str.len().astype(float)
        elif f == "if_line_breaks":
            out[f] = s.str.contains("\n", regex=False).astype(float)
        elif f == "if_question_marks":
            out[f] = (s.str[-1:] == "?").astype(float)
        elif f == "if_enumeration":
            out[f] = s.str.contains(ENUMERATION_PATTERN, regex=True).astype(float)
        else:
            phrases = {
                "if_deanthro": DEANTHRO_PHRASES,
                "if_refusal": REFUSAL_PHRASES,
                "if_self_identification": SELF_ID_PHRASES,
            }[f]
            out[f] = s.str.contains(phrase_pattern(phrases, word_boundaries=word_boundaries), regex=True).astype(float)
    return out


@dataclass
class ScoreModel:
    """An OLS fit of score on response features.

    ``coefficients`` has ``term, coef, se, t, p_value, ci_low, ci_high``; ``result`` is the
    statsmodels results object. Features that did not vary were dropped (``coefficients.attrs["dropped"]``).

    Example
    -------
    >>> u = pd.DataFrame({"model_response": ["a?", "bb", "ccc?", "dddd"] * 5, "turn": 0,
    ...                   "score": [50, 40, 70, 60] * 5, "user_id": list("uvwxy") * 4})
    >>> m = explain_scores(u, features=["text_length", "if_question_marks"], cov="nonrobust")
    >>> m.coefficients.set_index("term")["coef"].round(6).tolist()
    [20.0, 10.0, 10.0]
    """

    coefficients: pd.DataFrame
    n: int
    r_squared: float
    f_statistic: float
    cov_type: str
    n_clusters: int | None
    result: object


def explain_scores(
    utterances: pd.DataFrame,
    *,
    turns: Literal["openers", "all"] = "openers",
    features: Sequence[str] = FEATURES,
    cov: Literal["cluster", "nonrobust", "HC1"] = "cluster",
    cluster: str = "user_id",
    outcome: str = "score",
    max_length: float | None = None,
    word_boundaries: bool = False,
    level: float = 0.95,
) -> ScoreModel:
    """OLS of ``score`` on response features with participant-clustered standard errors.

    Uses opener responses (turn 0) of all conversations by default, as PRISM's Tab. 27
    (N = 30,049). ``max_length`` drops responses at or above that length (PRISM's intermediate
    models trim at 1346.5 characters). ``cov="nonrobust"`` reproduces the paper's plain SEs.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> texts = np.where(rng.random(400) < 0.3, "I'm sorry, but no.", "Here is a long and helpful answer.")
    >>> u = pd.DataFrame({"model_response": texts, "turn": 0, "user_id": rng.integers(0, 40, 400).astype(str)})
    >>> u["score"] = 60 - 20 * (u["model_response"].str.startswith("I'm sorry")) + rng.normal(0, 5, 400)
    >>> m = explain_scores(u, features=["if_refusal"])
    >>> -22 < float(m.coefficients.set_index("term").loc["if_refusal", "coef"]) < -18
    True
    """
    import statsmodels.api as sm

    need = ["model_response", outcome] + ([cluster] if cov == "cluster" else [])
    missing = [c for c in need if c not in utterances.columns]
    if missing:
        raise DataValidationError([Problem("utterances", None, c, "required column is missing") for c in missing])
    df = utterances
    if turns == "openers":
        if "turn" not in df.columns:
            raise DataValidationError(Problem("utterances", None, "turn", "required for turns='openers'"))
        df = df[df["turn"].to_numpy() == 0]
    elif turns != "all":
        raise ConfigError(f"turns must be 'openers' or 'all', got {turns!r}")
    df = df[df[outcome].notna()]
    X = response_features(df["model_response"], features=features, word_boundaries=word_boundaries)
    if max_length is not None:
        lengths = df["model_response"].fillna("").astype(str).str.len().to_numpy()
        keep = lengths < max_length
        df, X = df[keep], X[keep]
    if len(df) <= len(features) + 1:
        raise DataValidationError(f"too few responses ({len(df)}) to fit {len(features)} features")
    constant = [c for c in X.columns if X[c].nunique() < 2]
    if constant:
        if len(constant) == len(X.columns):
            raise DataValidationError(f"feature(s) {constant} do not vary in these responses")
        warnings.warn(f"dropping feature(s) that do not vary in these responses: {constant}", stacklevel=2)
        X = X.drop(columns=constant)
    y = df[outcome].to_numpy(dtype=float)
    Xc = sm.add_constant(X.to_numpy(), has_constant="add")
    names = ["const", *X.columns]
    model = sm.OLS(y, Xc)
    n_clusters = None
    if cov == "cluster":
        groups = pd.factorize(df[cluster].to_numpy())[0]
        n_clusters = int(groups.max()) + 1
        res = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    elif cov == "HC1":
        res = model.fit(cov_type="HC1")
    elif cov == "nonrobust":
        res = model.fit()
    else:
        raise ConfigError(f"cov must be 'cluster', 'HC1' or 'nonrobust', got {cov!r}")
    ci = np.asarray(res.conf_int(alpha=1 - level))
    table = pd.DataFrame(
        {
            "term": names,
            "coef": res.params,
            "se": res.bse,
            "t": res.tvalues,
            "p_value": res.pvalues,
            "ci_low": ci[:, 0],
            "ci_high": ci[:, 1],
        }
    )
    table.attrs.update({"n": int(res.nobs), "r_squared": float(res.rsquared), "cov_type": cov, "dropped": constant})
    return ScoreModel(
        table, int(res.nobs), float(res.rsquared), float(np.asarray(res.fvalue).item()), cov, n_clusters, res
    )
