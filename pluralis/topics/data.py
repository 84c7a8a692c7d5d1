"""The texts a topic analysis runs on, and the group fields of their authors.

:func:`topic_texts` takes any text field of a study: PRISM's opening prompts (the default, spec
§5.1), open feedback, self-descriptions, system strings, every user prompt, model responses, the
prompts of Arena / Community-Alignment comparisons, or any other text column. Each row is one
text with its ``text_id``, author ``user_id`` (the annotator for comparisons) and, where there is
one, ``conversation_id`` and ``conversation_type``. Missing and blank texts are dropped, as PRISM
dropped NA texts. Comparison prompts keep their ``comparison_id``, ``language`` and ``source``
(group fields for Arena-style data, which has no survey).

Example
-------
>>> from pluralis.data.synthetic import generate_study
>>> frames = generate_study(n_participants=5, seed=0, with_metadata=False).frames()
>>> t = topic_texts(frames)
>>> list(t.columns), len(t)
(['text_id', 'text', 'user_id', 'conversation_id', 'conversation_type'], 30)
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pluralis.errors import ConfigError
from pluralis.ranking.subgroups import field_by_key, numeric_as_groups, resolve_field

#: Known text fields: (frame, id column).
TEXT_FIELDS: dict[str, tuple[str, str]] = {
    "opening_prompt": ("conversations", "conversation_id"),
    "open_feedback": ("conversations", "conversation_id"),
    "self_description": ("survey", "user_id"),
    "system_string": ("survey", "user_id"),
    "user_prompt": ("utterances", "interaction_id"),
    "model_response": ("utterances", "utterance_id"),
    "prompt": ("comparisons", "comparison_id"),
}
_ID_COLUMNS = {
    "conversations": "conversation_id",
    "survey": "user_id",
    "utterances": "utterance_id",
    "comparisons": "comparison_id",
}
#: PRISM's Case Study I group fields (Fig. 3 / the topic regressions).
PRISM_GROUP_FIELDS: tuple[str, ...] = (
    "gender",
    "age",
    "location_special_region",
    "ethnicity_simplified",
    "religion_simplified",
    "conversation_type",
)


def default_text_field(frames) -> str:
    """``opening_prompt`` when the study has conversations, else ``prompt`` of its comparisons.

    Parameters
    ----------
    frames : StudyFrames
        The study's frames.

    Returns
    -------
    str
        ``"opening_prompt"``, ``"prompt"`` or ``"user_prompt"``.

    Example
    -------
    >>> from pluralis.data import Study
    >>> from pluralis.data.model import Comparison
    >>> default_text_field(Study(comparisons=[Comparison(comparison_id="c", source="arena",
    ...     models=["a", "b"], prompt="hi", winner=0)]).frames())
    'prompt'
    """
    if len(frames.conversations):
        return "opening_prompt"
    if (
        len(frames.comparisons)
        and "prompt" in frames.comparisons.columns
        and frames.comparisons["prompt"].notna().any()
    ):
        return "prompt"
    if len(frames.utterances):
        return "user_prompt"
    raise ConfigError("the study has no texts to find topics in (no conversations, utterances or comparison prompts)")


def topic_texts(frames, field: str | None = None) -> pd.DataFrame:
    """One row per text of ``field`` (see the module docstring): ``text_id, text, user_id, ...``.

    Parameters
    ----------
    frames : StudyFrames
        The study's frames.
    field : str, optional
        A named text field or any text column of the study; ``None`` (default) picks
        :func:`default_text_field`.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty text, with ``text_id``, ``text``, ``user_id`` and the field's id columns.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> f = generate_study(n_participants=4, seed=0, with_metadata=False).frames()
    >>> topic_texts(f, "self_description").shape
    (4, 3)
    """
    field = field or default_text_field(frames)
    table: str | None
    if field in TEXT_FIELDS:
        table, id_col = TEXT_FIELDS[field]
    else:
        table = next(
            (
                n
                for n in ("conversations", "survey", "utterances", "comparisons")
                if field in getattr(frames, n).columns
            ),
            None,
        )
        if table is None:
            known = sorted(TEXT_FIELDS)
            raise ConfigError(f"unknown text field {field!r}; use one of {known} or any text column of the study")
        id_col = _ID_COLUMNS[table]
    df: pd.DataFrame = getattr(frames, table)
    if field not in df.columns or not len(df):
        raise ConfigError(f"the study has no {field!r} texts ({table} is empty)")
    if table == "utterances" and id_col == "interaction_id":
        df = df.drop_duplicates("interaction_id")
    out = pd.DataFrame({"text_id": df[id_col].astype(str).to_numpy(), "text": df[field].to_numpy()})
    user = "annotator_id" if table == "comparisons" else "user_id"
    out["user_id"] = df[user].to_numpy() if user in df.columns else pd.NA
    keys = (("interaction_id",) if id_col == "interaction_id" else ()) + (
        ("comparison_id", "language", "source") if table == "comparisons" else ()
    )
    for col in ("conversation_id", "conversation_type", *keys):
        if col in df.columns:
            out[col] = df[col].to_numpy()
    if table == "survey":
        out = out.drop(columns=[c for c in ("conversation_id",) if c in out.columns])
    text = out["text"].astype("string")
    keep = text.notna() & (text.str.strip() != "")
    out = out[keep.fillna(False).to_numpy()].reset_index(drop=True)
    out["text"] = out["text"].astype(str)
    if out["user_id"].isna().all():
        out["user_id"] = out["text_id"]  # no authors known: every text is its own unit
    out.attrs["field"] = field
    out.attrs["table"] = table
    return out


def attach_groups(
    texts: pd.DataFrame, fields: Sequence[str], survey: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Add author fields (from ``survey``, by ``user_id``) to a text frame; returns it and the column names.

    Names may be aliases (``region`` -> ``location_special_region``, ``ethnicity`` ->
    ``ethnicity_simplified``; see :data:`pluralis.ranking.subgroups.FIELD_ALIASES`). A numeric field with many
    values becomes quartiles of its participants (:func:`pluralis.ranking.subgroups.numeric_as_groups`).

    Parameters
    ----------
    texts : pandas.DataFrame
        The text frame (with ``user_id``).
    fields : sequence of str
        Author fields or their aliases.
    survey : pandas.DataFrame, optional
        The survey table the fields come from (by ``user_id``); not needed for fields the text frame has.

    Returns
    -------
    tuple of (pandas.DataFrame, list of str)
        The text frame with the fields added, and the resolved column names.

    Example
    -------
    >>> t = pd.DataFrame({"text_id": ["a"], "text": ["hi"], "user_id": ["u"]})
    >>> s = pd.DataFrame({"user_id": ["u"], "location_special_region": ["UK"]})
    >>> out, names = attach_groups(t, ["region"], s)
    >>> names, out["location_special_region"].tolist()
    (['location_special_region'], ['UK'])
    """
    out = texts
    names = []
    for f in fields:
        col = resolve_field(f, texts, survey)
        names.append(col)
        if col in out.columns:  # a text-level field; numeric and many-valued: quartiles of texts
            out = out.assign(**{col: numeric_as_groups(out[col], col).to_numpy()})
            continue
        if survey is None or col not in survey.columns:  # pragma: no cover - resolve_field checked
            raise ConfigError(f"unknown field {f!r}")
        out = out.assign(**{col: field_by_key(out, survey, "user_id", col)})  # numeric: participants' quartiles
    return out, names
