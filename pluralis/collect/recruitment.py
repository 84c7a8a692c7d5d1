"""Recruitment platforms (Prolific): URL parameters taken at entry, the browser's OS, the platform's export.

A Prolific study links to ``https://STUDY/?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID=...``.
:func:`entry_params` picks the parameters the study names (``[recruitment] url_params``) from the entry URL;
the web app keeps them with :func:`pluralis.store.participants.record_entry`, apart from the PRISM records.
:func:`os_family` reduces a browser's User-Agent to the coarse operating system quality control needs
(PRISM returned submissions from iPhone and Android, spec §8.1). :func:`read_prolific_export` reads the
submissions CSV Prolific lets a study team download, for :func:`pluralis.collect.quality.quality_control`.

Example
-------
>>> from pluralis.collect.config import StudyConfig
>>> entry_params(StudyConfig(), {"PROLIFIC_PID": "5f1d2c", "STUDY_ID": "65ab", "utm_source": "x"})
{'PROLIFIC_PID': '5f1d2c', 'STUDY_ID': '65ab'}
>>> os_family("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15")
'iPhone'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pluralis.collect.config import StudyConfig
from pluralis.collect.questions import clean_text
from pluralis.errors import ConfigError

#: Operating-system families as Qualtrics' ``meta_operating_system`` names them (checked in this order).
_OS_MARKERS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "Chrome OS"),
    ("Windows", "Windows"),
    ("Macintosh", "Macintosh"),
    ("Mac OS X", "Macintosh"),
    ("Linux", "Linux"),
)

#: Columns of Prolific's submissions export that quality control reads, and their names here.
PROLIFIC_COLUMNS = {
    "Participant id": "submission",
    "Status": "status",
    "Completion code": "completion_code",
    "Time taken": "time_taken_s",
    "Started at": "started_at",
    "Submission id": "submission_id",
}


def entry_params(config: StudyConfig, query: Mapping[str, Any]) -> dict[str, str]:
    """The study's recruitment parameters in an entry URL's query (others are ignored).

    Values are cleaned of control characters, stripped and cut to ``[recruitment] max_chars``; empty ones
    are left out.

    Parameters
    ----------
    config
        The study (``[recruitment] url_params``).
    query
        The entry request's query parameters (``request.query_params``, or a form carrying them on).

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> entry_params(StudyConfig(), {"PROLIFIC_PID": "  abc ", "SESSION_ID": ""})
    {'PROLIFIC_PID': 'abc'}
    """
    rec = config.recruitment
    out: dict[str, str] = {}
    for name in rec.url_params:
        value = query.get(name)
        if value is None:
            continue
        text = clean_text(value).strip()[: rec.max_chars]
        if text:
            out[name] = text
    return out


def external_id(config: StudyConfig, params: Mapping[str, str]) -> str | None:
    """The participant's id on the recruitment platform (``[recruitment] external_id_param``), if given.

    Parameters
    ----------
    config : StudyConfig
        The study definition (its ``recruitment.external_id_param``).
    params : mapping of str to str
        The entry URL's query parameters.

    Returns
    -------
    str or None
        The platform id, or ``None`` when not configured or not given.

    Example
    -------
    >>> from pluralis.collect.config import StudyConfig
    >>> external_id(StudyConfig(), {"PROLIFIC_PID": "abc"}), external_id(StudyConfig(), {})
    ('abc', None)
    """
    name = config.recruitment.external_id_param
    return params.get(name) if name else None


def os_family(user_agent: str | None) -> str | None:
    """The operating system of a browser's User-Agent, as a coarse family: ``iPhone``, ``iPad``, ``Android``,
    ``Chrome OS``, ``Windows``, ``Macintosh``, ``Linux`` or ``Other`` (``None`` without a User-Agent).

    Parameters
    ----------
    user_agent : str or None
        The browser's User-Agent header.

    Returns
    -------
    str or None
        The operating system family.

    Example
    -------
    >>> os_family("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile")
    'Android'
    >>> os_family("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"), os_family("curl/8.0")
    ('Windows', 'Other')
    """
    if not user_agent:
        return None
    for marker, family in _OS_MARKERS:
        if marker in user_agent:
            return family
    return "Other"


def read_prolific_export(path: str | Path) -> pd.DataFrame:
    """Read Prolific's submissions export (CSV) as quality control's submissions table.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file downloaded from Prolific.

    Returns
    -------
    pandas.DataFrame
        Columns ``submission`` (the Prolific participant id), ``status`` (upper case: ``APPROVED``,
        ``AWAITING REVIEW``, ``RETURNED``, ``TIMED-OUT``, ``REJECTED``, ``ACTIVE``), ``completion_code``,
        ``time_taken_s``, ``started_at`` (UTC timestamps) and ``submission_id``, when the export has them.

    Raises
    ------
    ConfigError
        The file cannot be read, or has no "Participant id" or "Status" column.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "prolific.csv"
    >>> _ = p.write_text("Submission id,Participant id,Status,Started at,Time taken,Completion code\\n"
    ...                  "s1,5f00a,AWAITING REVIEW,2023-11-28 18:01:02.5,3600,CVQAGUHV\\n")
    >>> df = read_prolific_export(p)
    >>> df[["submission", "status", "time_taken_s"]].values.tolist()
    [['5f00a', 'AWAITING REVIEW', 3600.0]]
    """
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read the Prolific export: {e}") from None
    missing = [c for c in ("Participant id", "Status") if c not in raw.columns]
    if missing:
        raise ConfigError(f"{path}: not a Prolific submissions export (no {', '.join(map(repr, missing))} column)")
    df = raw[[c for c in PROLIFIC_COLUMNS if c in raw.columns]].rename(columns=PROLIFIC_COLUMNS)
    df = df.replace({"": None})
    df["status"] = df["status"].str.strip().str.upper()
    if "time_taken_s" in df:
        df["time_taken_s"] = pd.to_numeric(df["time_taken_s"], errors="coerce").astype(float)
    if "started_at" in df:
        df["started_at"] = pd.to_datetime(df["started_at"], errors="coerce", utc=True, format="mixed")
    return df.reset_index(drop=True)


__all__ = ["PROLIFIC_COLUMNS", "entry_params", "external_id", "os_family", "read_prolific_export"]
