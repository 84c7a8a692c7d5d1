"""The PRISM release folder format: ``survey``, ``conversations``, ``utterances``, ``metadata`` (JSONL).

The reader validates every row against :mod:`pluralis.data.model` and every reference across
files; the writer emits the released schema. Reading then writing is lossless: the canonical
JSON of each line is unchanged (see :func:`pluralis.data.jsonio.canonical_json`).
"""

from __future__ import annotations

from pathlib import Path

from pluralis.data.io.registry import DataFormat
from pluralis.data.jsonio import collect_records, write_jsonl
from pluralis.data.model import Conversation, Participant, TextMetadata, Utterance
from pluralis.data.study import (
    CONVERSATIONS_FILE,
    METADATA_FILE,
    SURVEY_FILE,
    UTTERANCES_FILE,
    Study,
    utterances_from_conversations,
)
from pluralis.errors import DataValidationError, Problem


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / "metadata" / name, folder / "data" / name):
        if candidate.exists():
            return candidate
    return None


def load_prism(folder: str | Path, *, validate: bool = True) -> Study:
    """Load a PRISM release folder into a validated :class:`Study`.

    ``survey.jsonl`` is required; ``utterances.jsonl`` is derived from the conversation
    histories when absent; ``conversations.jsonl`` and ``metadata.jsonl`` (each also looked for
    under ``metadata/`` and ``data/``) are optional.

    Bad input raises one :class:`~pluralis.errors.DataValidationError` listing the problems of
    *all* files (file, line, field); cross-file checks (duplicate ids, dangling references) run
    once every row parses.

    Parameters
    ----------
    folder
        a PRISM release folder.
    validate
        run the cross-file checks.

    Returns
    -------
    Study

    Raises
    ------
    DataValidationError
        listing the problems of every file.

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_prism(generate_study(n_participants=3, seed=0), folder)
    >>> load_prism(folder).counts()["survey"]
    3
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataValidationError(Problem(str(folder), None, None, "not a folder of PRISM files"))
    survey_path = _find(folder, SURVEY_FILE)
    conv_path = _find(folder, CONVERSATIONS_FILE)
    if survey_path is None:
        raise DataValidationError(Problem(str(folder / SURVEY_FILE), None, None, "file not found"))
    utt_path = _find(folder, UTTERANCES_FILE)
    meta_path = _find(folder, METADATA_FILE)
    # every file is read before anything is raised, so one run reports the problems of all four
    problems: list[Problem] = []
    lines: dict[str, list[int]] = {}

    def read(name: str, path: Path | None, model):
        if path is None:
            return []
        records, lines[name], found = collect_records(path, model)
        problems.extend(found)
        return records

    survey = read("survey", survey_path, Participant)
    conversations = read("conversations", conv_path, Conversation)
    utterances = read("utterances", utt_path, Utterance) if utt_path else None
    metadata = read("metadata", meta_path, TextMetadata)
    if problems:
        raise DataValidationError(problems)
    if utterances is None:
        utterances = utterances_from_conversations(conversations)
    origin = {
        "survey": str(survey_path),
        "conversations": str(conv_path or folder / CONVERSATIONS_FILE),
        "utterances": str(utt_path or folder / UTTERANCES_FILE),
        "metadata": str(meta_path or folder / METADATA_FILE),
    }
    study = Study(
        survey=survey, conversations=conversations, utterances=utterances, metadata=metadata, origin=origin, lines=lines
    )
    if validate:
        study.validate()
    return study


def write_prism(study: Study, folder: str | Path, *, metadata: bool = True) -> dict[str, Path]:
    """Write a study as PRISM release files; returns the paths written.

    Each file is written to a temporary name and moved into place, so a failure never leaves
    a half-written file.

    Parameters
    ----------
    study
        the study to write.
    folder
        the folder to write into (created as needed).
    metadata
        also write ``metadata.jsonl``.

    Returns
    -------
    dict
        table name -> path written.

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> paths = write_prism(generate_study(n_participants=2, seed=0), tempfile.mkdtemp())
    >>> sorted(paths)
    ['conversations', 'metadata', 'survey', 'utterances']

    A study holding only comparisons (Arena battles) has nothing PRISM files can hold: an error,
    and nothing is written (they were four empty files).
    """
    folder = Path(folder)
    if study.comparisons and not (study.survey or study.conversations or study.utterances):
        raise DataValidationError(
            Problem(
                str(folder),
                None,
                "comparisons",
                f"PRISM files hold surveys, conversations and rated responses; this study has only its "
                f"{len(study.comparisons):,} comparisons: export them with --format arena, parquet or hf_folder",
            )
        )
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "survey": folder / SURVEY_FILE,
        "conversations": folder / CONVERSATIONS_FILE,
        "utterances": folder / UTTERANCES_FILE,
    }
    write_jsonl(paths["survey"], study.survey)
    write_jsonl(paths["conversations"], study.conversations)
    write_jsonl(paths["utterances"], study.utterances)
    if metadata:
        paths["metadata"] = folder / METADATA_FILE
        write_jsonl(paths["metadata"], study.metadata)
    return paths


def sniff_prism(source: str) -> float:
    """How sure we are that ``source`` is a PRISM release folder: 0.9 with a ``survey.jsonl``, 0.2 for any other folder.

    Any folder is a PRISM folder as a last resort, so that reading one without ``survey.jsonl``
    says which file is missing.

    Parameters
    ----------
    source
        a path, as text.

    Returns
    -------
    float

    Example
    -------
    >>> import tempfile
    >>> sniff_prism(tempfile.mkdtemp()), sniff_prism("hf://HannahRoseKirk/prism-alignment")
    (0.2, 0.0)
    """
    folder = Path(source)
    if not folder.is_dir():
        return 0.0
    return 0.9 if _find(folder, SURVEY_FILE) is not None else 0.2


FORMAT = DataFormat(
    name="prism",
    description="PRISM release folder: survey.jsonl, conversations.jsonl, utterances.jsonl, metadata.jsonl",
    sniff=sniff_prism,
    read=load_prism,
    write=write_prism,
)
