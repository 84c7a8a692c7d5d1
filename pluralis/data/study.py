"""The :class:`Study` container: all records of one feedback study, their cross-checks and tables."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pluralis.data.model import (
    Comparison,
    Conversation,
    Interaction,
    ModelTurn,
    Participant,
    TextMetadata,
    UserTurn,
    Utterance,
)
from pluralis.errors import DataValidationError, Problem

SURVEY_FILE = "survey.jsonl"
CONVERSATIONS_FILE = "conversations.jsonl"
UTTERANCES_FILE = "utterances.jsonl"
METADATA_FILE = "metadata.jsonl"
#: ``Study.summary`` of comparisons: annotator fields with at most this many values are counted.
SUMMARY_MAX_VALUES = 20


@dataclass
class StudyFrames:
    """Analysis-ready tables of a study (nested fields flattened with ``_``); see :meth:`Study.frames`.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> frames = generate_study(n_participants=2, seed=0).frames()
    >>> "location_special_region" in frames.survey.columns, "score" in frames.utterances.columns
    (True, True)
    """

    survey: pd.DataFrame
    conversations: pd.DataFrame
    utterances: pd.DataFrame
    metadata: pd.DataFrame
    comparisons: pd.DataFrame


@dataclass
class Study:
    """Every record of a study. Build it from files (:func:`pluralis.data.load_prism`),
    a store, or :func:`pluralis.data.synthetic.generate_study`.

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> study = generate_study(n_participants=5, seed=1)
    >>> study.validate()
    >>> study.counts()["survey"]
    5
    """

    survey: list[Participant] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    utterances: list[Utterance] = field(default_factory=list)
    metadata: list[TextMetadata] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    #: Only for synthetic studies: the latent preference model that generated the ratings.
    ground_truth: Any = None
    #: Where the records were read from (table -> file) and each record's line in it; used to
    #: name file and line in later errors (cross-file checks, store conflicts).
    origin: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    lines: dict[str, list[int]] = field(default_factory=dict, repr=False, compare=False)

    def counts(self) -> dict[str, int]:
        """Number of records per table (interactions are counted from the utterances).

        Returns
        -------
        dict
            table name -> number of records.

        Example
        -------
        >>> Study().counts()["utterances"]
        0
        """
        return {
            "survey": len(self.survey),
            "conversations": len(self.conversations),
            "interactions": len({u.interaction_id for u in self.utterances}),
            "utterances": len(self.utterances),
            "metadata": len(self.metadata),
            "comparisons": len(self.comparisons),
        }

    def interactions(self) -> list[Interaction]:
        """Group utterances into interactions (one user message + its responses), in file order.

        Returns
        -------
        list of Interaction

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> s = generate_study(n_participants=2, seed=0)
        >>> sum(len(i.responses) for i in s.interactions()) == len(s.utterances)
        True
        """
        groups: dict[str, list[Utterance]] = {}
        for u in self.utterances:
            groups.setdefault(u.interaction_id, []).append(u)
        return [
            Interaction.model_construct(
                interaction_id=key,
                conversation_id=us[0].conversation_id,
                user_id=us[0].user_id,
                turn=us[0].turn,
                user_prompt=us[0].user_prompt,
                responses=us,
            )
            for key, us in groups.items()
        ]

    # -- validation -----------------------------------------------------------------------------

    def validate(self, files: dict[str, str] | None = None, lines: dict[str, list[int]] | None = None) -> None:
        """Check identifiers and references across tables; raise :class:`DataValidationError`.

        Checks: duplicate ids in every table; conversations, utterances and metadata that point
        at participants, conversations or utterances that do not exist; utterances whose user or
        conversation type disagrees with their conversation; interactions split across conversations.
        ``files`` maps table name to file name for the error messages; ``lines`` maps table name
        to the file line of each record (defaults: :attr:`origin` / :attr:`lines` when the study
        was read from files, else the PRISM file names and record position + 1).

        Parameters
        ----------
        files
            table name -> file name, for the messages.
        lines
            table name -> file line of each record, for the messages.

        Raises
        ------
        DataValidationError
            listing every problem found.

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> study = generate_study(n_participants=2, seed=0)
        >>> study.conversations[1].user_id = "ghost"
        >>> try:
        ...     study.validate(lines={"conversations": [k + 4 for k in range(len(study.conversations))]})
        ... except DataValidationError as err:
        ...     print(err.first)
        conversations.jsonl:5: field 'user_id': unknown participant 'ghost' (not in survey)
        """
        files = {**self.origin, **(files or {})}
        lines = {**self.lines, **(lines or {})}
        f_s = files.get("survey", SURVEY_FILE)
        f_c = files.get("conversations", CONVERSATIONS_FILE)
        f_u = files.get("utterances", UTTERANCES_FILE)
        f_m = files.get("metadata", METADATA_FILE)
        problems: list[Problem] = []

        def numbered(table: str, records: list) -> zip:
            given = lines.get(table)
            nums = given if given is not None and len(given) == len(records) else range(1, len(records) + 1)
            return zip(nums, records)

        def dupes(table: str, items: list[str], file: str, name: str) -> set[str]:
            seen: dict[str, int] = {}
            for line, key in numbered(table, items):
                if key in seen:
                    problems.append(Problem(file, line, name, f"duplicate id {key!r} (first on line {seen[key]})"))
                else:
                    seen[key] = line
            return set(seen)

        users = dupes("survey", [p.user_id for p in self.survey], f_s, "user_id")
        convs = dupes("conversations", [c.conversation_id for c in self.conversations], f_c, "conversation_id")
        utts = dupes("utterances", [u.utterance_id for u in self.utterances], f_u, "utterance_id")
        dupes(
            "comparisons",
            [c.comparison_id for c in self.comparisons],
            files.get("comparisons", "comparisons"),
            "comparison_id",
        )

        conv_by_id = {c.conversation_id: c for c in self.conversations}
        for line, c in numbered("conversations", self.conversations):
            if c.user_id not in users:
                problems.append(Problem(f_c, line, "user_id", f"unknown participant {c.user_id!r} (not in survey)"))
        interaction_conv: dict[str, str] = {}
        for line, u in numbered("utterances", self.utterances):
            conv = conv_by_id.get(u.conversation_id)
            if conv is None:
                problems.append(Problem(f_u, line, "conversation_id", f"unknown conversation {u.conversation_id!r}"))
            else:
                if u.user_id != conv.user_id:
                    problems.append(
                        Problem(f_u, line, "user_id", f"{u.user_id!r} but conversation belongs to {conv.user_id!r}")
                    )
                if u.conversation_type != conv.conversation_type:
                    problems.append(
                        Problem(
                            f_u,
                            line,
                            "conversation_type",
                            f"{u.conversation_type!r} but conversation is {conv.conversation_type!r}",
                        )
                    )
            if u.user_id not in users:
                problems.append(Problem(f_u, line, "user_id", f"unknown participant {u.user_id!r} (not in survey)"))
            first = interaction_conv.setdefault(u.interaction_id, u.conversation_id)
            if first != u.conversation_id:
                problems.append(
                    Problem(
                        f_u,
                        line,
                        "interaction_id",
                        f"{u.interaction_id!r} spans conversations {first!r} and {u.conversation_id!r}",
                    )
                )
            if len(problems) > 200:
                break
        for line, m in numbered("metadata", self.metadata):
            if m.user_id not in users:
                problems.append(Problem(f_m, line, "user_id", f"unknown participant {m.user_id!r}"))
            if m.conversation_id is not None and m.conversation_id not in convs:
                problems.append(Problem(f_m, line, "conversation_id", f"unknown conversation {m.conversation_id!r}"))
            if m.utterance_id is not None and m.utterance_id not in utts:
                problems.append(Problem(f_m, line, "utterance_id", f"unknown utterance {m.utterance_id!r}"))
            if len(problems) > 200:
                break
        if problems:
            raise DataValidationError(problems)

    # -- tables ---------------------------------------------------------------------------------

    def frames(self) -> StudyFrames:
        """Flattened DataFrames for analysis (``location.special_region`` -> ``location_special_region``).

        Returns
        -------
        StudyFrames

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> f = generate_study(n_participants=3, seed=0).frames()
        >>> {"user_id", "location_special_region", "stated_prefs_values"} <= set(f.survey.columns)
        True
        """
        survey_rows = []
        for p in self.survey:
            d = p.model_dump(mode="json", by_alias=True, exclude={"persona"})
            survey_rows.append(d)
        survey = pd.json_normalize(survey_rows, sep="_") if survey_rows else pd.DataFrame(columns=["user_id"])
        conv_rows = [c.model_dump(mode="json", exclude={"conversation_history"}) for c in self.conversations]
        conversations = (
            pd.json_normalize(conv_rows, sep="_") if conv_rows else pd.DataFrame(columns=["conversation_id"])
        )
        utterances = pd.DataFrame.from_records(
            [u.model_dump(mode="python") for u in self.utterances], columns=list(Utterance.model_fields)
        )
        if len(utterances):
            utterances["turn"] = utterances["turn"].astype("int64")
            utterances["score"] = utterances["score"].astype("int64")
        metadata = pd.DataFrame.from_records(
            [m.model_dump(mode="json") for m in self.metadata], columns=list(TextMetadata.model_fields)
        )
        comparison_rows = [c.model_dump(mode="json") for c in self.comparisons]
        comparison_columns = list(dict.fromkeys([*Comparison.model_fields, *(k for r in comparison_rows for k in r)]))
        comparisons = pd.DataFrame.from_records(comparison_rows, columns=comparison_columns)
        if not self.survey and len(comparisons):
            survey = participants_from_comparisons(comparisons)
        return StudyFrames(survey, conversations, utterances, metadata, comparisons)

    def summary(self) -> dict[str, Any]:
        """Counts by table plus demographic breakdowns (used by ``pluralis info``).

        Returns
        -------
        dict
            ``counts`` (records per table) and value counts of the main demographic fields. A study
            of comparisons without a survey (Arena, Community Alignment) counts its annotators
            (``counts["annotators"]``), their fields with at most :data:`SUMMARY_MAX_VALUES` values, and the
            models compared (``models``).

        Example
        -------
        >>> from pluralis.data.synthetic import generate_study
        >>> summary = generate_study(n_participants=10, seed=0).summary()
        >>> sum(summary["gender"].values()), sorted(summary)[:3]
        (10, ['age', 'conversation_type', 'counts'])
        >>> c = [Comparison(comparison_id=str(i), source="arena", models=["x", "y"], winner=0, annotator_id=u, gender=g)
        ...      for i, (u, g) in enumerate([("u1", "F"), ("u1", "F"), ("u2", "M")])]
        >>> s = Study(comparisons=c).summary()
        >>> s["counts"]["annotators"], s["gender"], s["models"]
        (2, {'F': 1, 'M': 1}, {'x': 3, 'y': 3})
        """
        if not self.survey and self.comparisons:
            return self._comparisons_summary()
        out: dict[str, Any] = {"counts": self.counts()}
        for name, get in {
            "age": lambda p: p.age,
            "gender": lambda p: p.gender,
            "ethnicity": lambda p: p.ethnicity.simplified,
            "religion": lambda p: p.religion.simplified,
            "region": lambda p: p.location.special_region,
            "source": lambda p: p.source,
        }.items():
            out[name] = dict(Counter(get(p) for p in self.survey).most_common())
        out["conversation_type"] = dict(Counter(c.conversation_type for c in self.conversations).most_common())
        out["models"] = dict(Counter(u.model_name for u in self.utterances if u.turn == 0).most_common())
        return out

    def _comparisons_summary(self) -> dict[str, Any]:
        people = self.frames().survey
        out: dict[str, Any] = {"counts": {**self.counts(), "annotators": len(people)}}
        for col in people.columns.drop("user_id", errors="ignore"):
            values = people[col].dropna()
            if 0 < values.nunique() <= SUMMARY_MAX_VALUES:
                out[col] = {str(k): int(n) for k, n in values.astype(str).value_counts().items()}
        out["models"] = dict(Counter(m for c in self.comparisons for m in c.models).most_common())
        return out


def participants_from_comparisons(comparisons: pd.DataFrame) -> pd.DataFrame:
    """A participants (survey) table rebuilt from the comparisons of a source without a survey.

    One row per ``annotator_id`` (as ``user_id``) with every extra column (beyond the
    :class:`~pluralis.data.model.Comparison` fields) that has one value per annotator: the
    participant fields joined from a participants file or carried inline. Columns that vary
    within an annotator (Arena's ``category``, say) stay battle-level fields.

    Parameters
    ----------
    comparisons
        ``Study.frames().comparisons`` (Comparison fields plus extra columns).

    Returns
    -------
    pandas.DataFrame
        ``user_id`` and the participant-level columns; empty (``user_id`` only) without annotators.

    Example
    -------
    >>> c = pd.DataFrame({"annotator_id": ["u1", "u1", "u2"], "gender": ["F", "F", "M"], "category": ["a", "b", "a"]})
    >>> participants_from_comparisons(c).values.tolist()
    [['u1', 'F'], ['u2', 'M']]
    """
    if "annotator_id" not in comparisons.columns or comparisons["annotator_id"].isna().all():
        return pd.DataFrame(columns=["user_id"])
    rated = comparisons[comparisons["annotator_id"].notna()]
    groups = rated.groupby(rated["annotator_id"].astype(str), sort=False)
    keep = []
    for col in (c for c in comparisons.columns if c not in Comparison.model_fields):
        try:
            if (groups[col].nunique(dropna=True) <= 1).all():
                keep.append(col)
        except TypeError:  # lists or dicts: not a participant field
            continue
    survey = groups[keep].first() if keep else pd.DataFrame(index=groups.size().index)
    survey = survey.reindex(columns=keep).astype(object)
    survey = survey.where(survey.notna(), None)
    survey.index.name = "user_id"
    return survey.reset_index()


def rated_responses(frames: StudyFrames) -> pd.DataFrame:
    """Every rated or chosen response as one row, from PRISM utterances or from comparisons.

    What analyses of scores and choices (welfare, per-person score models) read: ``user_id``,
    ``conversation_id``, ``interaction_id``, ``turn``, ``model_name``, ``score`` and ``if_chosen`` (and
    the utterances' other columns when the study has PRISM utterances). Comparisons become one row per
    model shown, turn 0, one interaction per comparison: their ``ratings`` give ``score`` (a ratings
    table, :mod:`pluralis.data.io.ratings`, is stored that way), their ``winner`` (or the top of their
    ``ranking``) gives ``if_chosen``; a tie chooses no model, so it counts for no one's choice welfare.

    Parameters
    ----------
    frames
        ``study.frames()``.

    Returns
    -------
    pandas.DataFrame
        Empty (with the columns) when nothing was rated.

    Example
    -------
    >>> c = pd.DataFrame({"comparison_id": ["c1"], "annotator_id": ["u1"], "models": [["t1", "t2"]],
    ...                   "ratings": [[1.0, 4.0]]})
    >>> f = StudyFrames(*(pd.DataFrame() for _ in range(4)), comparisons=c)
    >>> rated_responses(f)[["user_id", "model_name", "score"]].values.tolist()
    [['u1', 't1', 1.0], ['u1', 't2', 4.0]]
    >>> c = pd.DataFrame({"comparison_id": ["b1", "b2"], "annotator_id": ["u1", "u2"], "models": [["x", "y"]] * 2,
    ...                   "winner": [1, None], "tie": [False, True]})
    >>> f = StudyFrames(*(pd.DataFrame() for _ in range(4)), comparisons=c)
    >>> rated_responses(f)[["user_id", "model_name", "if_chosen"]].values.tolist()  # the tie (b2) says nothing
    [['u1', 'x', False], ['u1', 'y', True]]
    """
    cols = ["user_id", "conversation_id", "interaction_id", "turn", "model_name", "score", "if_chosen"]
    u = frames.utterances
    if len(u) and (
        ("score" in u.columns and u["score"].notna().any()) or ("if_chosen" in u.columns and u["if_chosen"].any())
    ):
        return u
    c = frames.comparisons
    if not len(c) or "models" not in c.columns or "annotator_id" not in c.columns:
        return pd.DataFrame(columns=cols)
    c = c[c["annotator_id"].notna()]
    n_models = c["models"].map(len).to_numpy()
    chosen = np.full(len(c), -1)
    if "winner" in c.columns:
        win = pd.to_numeric(c["winner"], errors="coerce").to_numpy()
        chosen = np.where(np.isfinite(win), np.nan_to_num(win, nan=-1), -1).astype(int)
    if "ranking" in c.columns:
        top = c["ranking"].map(lambda r: int(r[0]) if isinstance(r, (list, tuple, np.ndarray)) and len(r) else -1)
        chosen = np.where(chosen < 0, top.to_numpy(), chosen)
    given = c["ratings"] if "ratings" in c.columns else pd.Series([None] * len(c), index=c.index)
    ratings = [
        list(r) if isinstance(r, (list, tuple, np.ndarray)) and len(r) == k else [None] * k
        for r, k in zip(given, n_models)
    ]
    ids = np.repeat(c["comparison_id"].astype(str).to_numpy(), n_models)
    position = np.concatenate([np.arange(k) for k in n_models]) if len(c) else np.zeros(0, dtype=int)
    out = pd.DataFrame(
        {
            "user_id": np.repeat(c["annotator_id"].astype(str).to_numpy(), n_models),
            "conversation_id": ids,
            "interaction_id": ids,
            "turn": 0,
            "model_name": np.concatenate([list(m) for m in c["models"]]).astype(str) if len(c) else [],
            "score": pd.to_numeric(pd.Series([x for r in ratings for x in r], dtype=object), errors="coerce"),
            "if_chosen": position == np.repeat(chosen, n_models),
        }
    )
    decided = out.groupby("interaction_id")["if_chosen"].transform("any")
    keep = out["score"].notna() | decided  # neither rated nor chosen (a tie without ratings): nothing to say
    if out["score"].isna().all():
        out = out.drop(columns=["score"])
    if not out["if_chosen"].any():
        out = out.drop(columns=["if_chosen"])
    return out[keep.to_numpy()].reset_index(drop=True)


def utterances_from_conversations(conversations: list[Conversation]) -> list[Utterance]:
    """Flatten ``conversation_history`` into utterances exactly as PRISM's release does.

    ``interaction_id`` numbers (conversation_id, turn) groups in lexicographic order of
    conversation_id then turn; ``utterance_id`` numbers rows in that order.

    Parameters
    ----------
    conversations
        conversations with their ``conversation_history``.

    Returns
    -------
    list of Utterance

    Example
    -------
    >>> from pluralis.data.synthetic import generate_study
    >>> s = generate_study(n_participants=2, seed=0)
    >>> [u.utterance_id for u in utterances_from_conversations(s.conversations)] == [u.utterance_id for u in s.utterances]
    True
    """
    rows: list[tuple[str, int, int, Conversation, UserTurn | None, ModelTurn]] = []
    for c in conversations:
        prompt_by_turn: dict[int, UserTurn] = {}
        order = 0
        for item in c.conversation_history:
            if isinstance(item, UserTurn):
                prompt_by_turn[item.turn] = item
            else:
                rows.append((c.conversation_id, item.turn, order, c, prompt_by_turn.get(item.turn), item))
                order += 1
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    out: list[Utterance] = []
    interaction_index: dict[tuple[str, int], int] = {}
    for conv_id, turn, _order, c, user, model in rows:
        k = interaction_index.setdefault((conv_id, turn), len(interaction_index))
        out.append(
            Utterance.model_construct(
                utterance_id=f"ut{len(out)}",
                interaction_id=f"int{k}",
                conversation_id=conv_id,
                user_id=c.user_id,
                turn=turn,
                within_turn_id=model.within_turn_id,
                included_in_balanced_subset=c.included_in_balanced_subset,
                conversation_type=c.conversation_type,
                user_prompt=user.content if user is not None else "",
                model_response=model.content,
                model_name=model.model_name,
                model_provider=model.model_provider,
                score=model.score,
                if_chosen=model.if_chosen,
            )
        )
    return out
