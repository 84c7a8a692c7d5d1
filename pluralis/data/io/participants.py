"""Participants for any source: a table of people joined to comparisons by a mapped id column.

Comparison files (Arena, Community Alignment, your own CSV) rarely carry demographics; they
come in a separate participants file (or as extra columns of the comparisons themselves).
:class:`ParticipantsMapping` says which column of the participants file is the id and which
columns to keep (and under which names); :func:`read_participants` reads and checks the file,
:func:`attach_participants` copies each person's fields onto their comparisons (as extra
fields, so they survive every store and export), and
:meth:`pluralis.data.study.Study.frames` rebuilds a participants (survey) table from them, so
``pluralis rank ... --by gender`` works on any source.

A mapping may be given as CLI flags (``--participants people.csv --id judge --fields gender,age``)
or as a small TOML or YAML file::

    [participants]
    file = "people.csv"
    id = "judge"
    fields = ["gender", "age"]
    rename = {sex = "gender"}

Example
-------
>>> import tempfile, pathlib
>>> from pluralis.data.model import Comparison
>>> from pluralis.data.study import Study
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "people.csv").write_text("judge,gender,age\\nu1,Female,34\\n")
>>> people = read_participants(ParticipantsMapping(folder / "people.csv", id="judge", fields=("gender", "age")))
>>> study = Study(comparisons=[Comparison(comparison_id="1", source="x", models=["a", "b"], winner=0, annotator_id="u1")])
>>> attach_participants(study, people).comparisons[0].to_json_dict()["gender"]
'Female'
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pluralis.data.io.comparisons import iter_rows
from pluralis.data.model import Comparison
from pluralis.data.study import Study
from pluralis.errors import DataValidationError, Problem

#: Comparison fields a participant field may not overwrite.
RESERVED_FIELDS: frozenset[str] = frozenset(Comparison.model_fields) | {"user_id", "model_a", "model_b"}


@dataclass(frozen=True)
class ParticipantsMapping:
    """Where the participants are and what their columns mean.

    Parameters
    ----------
    file
        the participants table (``.csv``, ``.jsonl``, ``.json`` or ``.parquet``).
    id
        the column of ``file`` holding the participant id (matched to each comparison's
        ``annotator_id``: Arena's ``judge``, Community Alignment's ``annotator_id``).
    fields
        the columns to keep (default: every column but the id).
    rename
        column of ``file`` -> field name in Pluralis (e.g. ``{"sex": "gender"}``).
    source
        where the mapping came from (a mapping file, or ``"command line"``), for messages.

    Example
    -------
    >>> ParticipantsMapping("people.csv", id="judge", fields=("gender",)).id
    'judge'
    """

    file: str | Path
    id: str = "user_id"
    fields: tuple[str, ...] = ()
    rename: Mapping[str, str] = field(default_factory=dict)
    source: str = "command line"


def _split(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s.strip() for s in items if str(s).strip())


def load_mapping(path: str | Path) -> ParticipantsMapping:
    """Read a participants mapping from a TOML or YAML file (a ``[participants]`` table).

    Keys: ``file`` (relative to the mapping file), ``id``, ``fields`` (list or comma-separated),
    ``rename`` (table of old -> new names). Unknown keys are errors.

    Parameters
    ----------
    path
        a ``.toml``, ``.yaml`` or ``.yml`` file.

    Returns
    -------
    ParticipantsMapping

    Raises
    ------
    DataValidationError
        a missing file, bad syntax, or a missing / unknown / mistyped key (file and key named).

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "map.toml"
    >>> _ = p.write_text('[participants]\\nfile = "people.csv"\\nid = "judge"\\nfields = "gender, age"\\n')
    >>> m = load_mapping(p)
    >>> m.fields, m.file.name
    (('gender', 'age'), 'people.csv')
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise DataValidationError(Problem(where, None, None, "mapping file not found"))
    text = path.read_text("utf-8")
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text)
        else:
            raise DataValidationError(Problem(where, None, None, "a mapping is a .toml, .yaml or .yml file"))
    except tomllib.TOMLDecodeError as exc:
        raise DataValidationError(Problem(where, getattr(exc, "lineno", None), None, f"invalid TOML: {exc}")) from None
    except Exception as exc:  # yaml.YAMLError and friends
        if isinstance(exc, DataValidationError):
            raise
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DataValidationError(Problem(where, line, None, f"invalid YAML: {exc}")) from None
    section = data.get("participants", data) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise DataValidationError(Problem(where, None, "participants", "expected a [participants] table"))
    allowed = {"file", "id", "fields", "rename"}
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise DataValidationError(
            Problem(where, None, f"participants.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
        )
    if not section.get("file"):
        raise DataValidationError(Problem(where, None, "participants.file", "required key is missing"))
    rename = section.get("rename") or {}
    if not isinstance(rename, dict) or not all(isinstance(v, str) for v in rename.values()):
        raise DataValidationError(Problem(where, None, "participants.rename", "expected a table of old = 'new' names"))
    fields = section.get("fields")
    if fields is not None and not isinstance(fields, (str, list)):
        raise DataValidationError(Problem(where, None, "participants.fields", "expected a list of column names"))
    file = Path(str(section["file"]))
    return ParticipantsMapping(
        file=file if file.is_absolute() else path.parent / file,
        id=str(section.get("id") or "user_id"),
        fields=_split(fields),
        rename={str(k): v for k, v in rename.items()},
        source=where,
    )


def mapping_from_options(
    participants: str | Path | None,
    *,
    id: str | None = None,
    fields: str | Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
) -> ParticipantsMapping | None:
    """The mapping the CLI flags describe: ``--participants`` is a table or a ``.toml``/``.yaml`` mapping.

    Parameters
    ----------
    participants
        a participants table, a mapping file, or ``None`` (no participants: returns ``None``).
    id, fields, rename
        as in :class:`ParticipantsMapping`; with a mapping file they override its keys.

    Returns
    -------
    ParticipantsMapping or None

    Example
    -------
    >>> mapping_from_options("people.csv", id="judge", fields="gender,age").fields
    ('gender', 'age')
    >>> mapping_from_options(None) is None
    True
    """
    if participants is None:
        return None
    path = Path(participants)
    if path.suffix.lower() in {".toml", ".yaml", ".yml"}:
        base = load_mapping(path)
        return ParticipantsMapping(
            file=base.file,
            id=id or base.id,
            fields=_split(fields) or base.fields,
            rename={**base.rename, **(rename or {})},
            source=base.source,
        )
    return ParticipantsMapping(file=path, id=id or "user_id", fields=_split(fields), rename=dict(rename or {}))


def _plain(value: Any) -> Any:
    """Numpy scalars as Python values (JSON-serialisable), NaN as None."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and pd.isna(value):
        return None
    return value


def read_participants(mapping: ParticipantsMapping) -> pd.DataFrame:
    """Read and check a participants table: one row per participant, indexed by id, mapped names.

    Parameters
    ----------
    mapping
        the file, id column, fields and renames.

    Returns
    -------
    pandas.DataFrame
        index: participant id (text); columns: the mapped fields, in order.

    Raises
    ------
    DataValidationError
        the file is missing or unreadable; the id column or a field is not in it (line 1, the
        header, named); an id is empty or repeated (its line named); a field would overwrite a
        comparison field. Every problem is listed.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "people.csv"
    >>> _ = p.write_text("id,sex,age\\nu1,F,30\\nu2,M,41\\n")
    >>> read_participants(ParticipantsMapping(p, id="id", rename={"sex": "gender"})).loc["u2"].tolist()
    ['M', 41]
    >>> read_participants(ParticipantsMapping(p, id="judge"))
    Traceback (most recent call last):
    ...
    pluralis.errors.DataValidationError: 1 problem found:
      ...people.csv:1: field 'judge': id column not in the participants file (columns: id, sex, age)
    """
    path = Path(mapping.file)
    where = str(path)
    rows = list(iter_rows(path, text_columns=[mapping.id]))
    columns: list[str] = list(dict.fromkeys(k for _, r in rows for k in r))
    problems: list[Problem] = []
    if mapping.id not in columns:
        problems.append(
            Problem(where, 1, mapping.id, f"id column not in the participants file (columns: {', '.join(columns)})")
        )
    wanted = list(mapping.fields) or [c for c in columns if c != mapping.id]
    for name in list(mapping.fields) + list(mapping.rename):
        if name not in columns:
            problems.append(
                Problem(where, 1, name, f"no such column in the participants file (columns: {', '.join(columns)})")
            )
    names = [mapping.rename.get(c, c) for c in wanted]
    for original, name in zip(wanted, names, strict=True):
        if name in RESERVED_FIELDS:
            problems.append(
                Problem(
                    where, 1, original, f"{name!r} is a comparison field; rename it (rename = {{{original} = ...}})"
                )
            )
    if problems:
        raise DataValidationError(problems)
    seen: dict[str, int] = {}
    ids, records = [], []
    for line, row in rows:
        key = _plain(row.get(mapping.id))
        if key is None or str(key).strip() == "":
            problems.append(Problem(where, line, mapping.id, "participant id is empty"))
            continue
        key = str(key)
        if key in seen:
            problems.append(
                Problem(where, line, mapping.id, f"duplicate participant {key!r} (first on line {seen[key]})")
            )
            continue
        seen[key] = line
        ids.append(key)
        records.append([_plain(row.get(c)) for c in wanted])
        if len(problems) >= 50:
            break
    if problems:
        raise DataValidationError(problems)
    return pd.DataFrame(records, index=pd.Index(ids, name="user_id"), columns=names, dtype=object)


def attach_participants(
    study: Study, participants: pd.DataFrame, *, file: str | Path | None = None, require_all: bool = True
) -> Study:
    """Copy each participant's fields onto their comparisons (as extra fields); returns a new study.

    Parameters
    ----------
    study
        a study with comparisons carrying ``annotator_id``.
    participants
        from :func:`read_participants` (index: participant id).
    file
        the comparisons' file, named in errors (default: the study's recorded origin).
    require_all
        every comparison's annotator must be in the table (else an error naming them).

    Returns
    -------
    Study
        a copy of ``study`` whose comparisons carry the participant fields.

    Raises
    ------
    DataValidationError
        comparisons without an annotator id, or annotators not in the participants table (the
        comparison's position in the file and the field ``annotator_id`` named).

    Example
    -------
    >>> from pluralis.data.model import Comparison
    >>> people = pd.DataFrame({"gender": ["Male"]}, index=pd.Index(["u1"], name="user_id"))
    >>> s = Study(comparisons=[Comparison(comparison_id="1", source="x", models=["a", "b"], tie=True, annotator_id="u2")])
    >>> attach_participants(s, people, file="battles.csv")
    Traceback (most recent call last):
    ...
    pluralis.errors.DataValidationError: 1 problem found:
      battles.csv:2: field 'annotator_id': participant 'u2' is not in the participants file
    """
    where = str(file or study.origin.get("comparisons", "comparisons"))
    lines = study.lines.get("comparisons") or [i + 2 for i in range(len(study.comparisons))]
    lookup = {str(k): {c: _plain(v) for c, v in row.items()} for k, row in participants.iterrows()}
    problems: list[Problem] = []
    out: list[Comparison] = []
    for line, c in zip(lines, study.comparisons, strict=False):
        person = lookup.get(str(c.annotator_id)) if c.annotator_id is not None else None
        if person is None:
            if require_all:
                what = "no annotator id" if c.annotator_id is None else f"participant {c.annotator_id!r}"
                problems.append(Problem(where, line, "annotator_id", f"{what} is not in the participants file"))
                if len(problems) >= 50:
                    break
            out.append(c)
            continue
        out.append(Comparison.model_validate({**c.to_json_dict(), **person}))
    if problems:
        raise DataValidationError(problems)
    return Study(
        survey=study.survey,
        conversations=study.conversations,
        utterances=study.utterances,
        metadata=study.metadata,
        comparisons=out,
        ground_truth=study.ground_truth,
        origin=dict(study.origin),
        lines=dict(study.lines),
    )
