"""Zip archives of a study (the admin export, ``export.zip``): unpacked to a temporary folder and read.

The archive's files may sit at its root or in one top folder; the folder is read in whatever
format it is in (PRISM files for the admin export). Problems name the file inside the archive
(``export.zip/survey.jsonl:3``), never the temporary folder.

Example
-------
>>> import tempfile, pathlib, zipfile
>>> from pluralis.data.io.prism import write_prism
>>> from pluralis.data.synthetic import generate_study
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> paths = write_prism(generate_study(n_participants=3, seed=0), tmp / "files")
>>> with zipfile.ZipFile(tmp / "export.zip", "w") as zf:
...     for p in paths.values():
...         zf.write(p, arcname=p.name)
>>> read_zip(tmp / "export.zip").counts()["survey"]
3
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from pluralis.data.io.registry import DataFormat, load_study
from pluralis.data.study import Study
from pluralis.errors import DataValidationError, Problem


def read_zip(path: str | Path) -> Study:
    """Read a study from a zip archive (see the module docstring).

    Parameters
    ----------
    path
        a ``.zip`` file.

    Returns
    -------
    Study

    Raises
    ------
    DataValidationError
        not a zip archive, an entry escaping the archive (absolute or ``..`` paths), or bad
        data inside it (the file inside the archive, line and field named).

    Example
    -------
    >>> import tempfile, pathlib, zipfile
    >>> bad = pathlib.Path(tempfile.mkdtemp()) / "x.zip"
    >>> with zipfile.ZipFile(bad, "w") as zf:
    ...     zf.writestr("survey.jsonl", "{not json\\n")
    >>> read_zip(bad)
    Traceback (most recent call last):
    ...
    pluralis.errors.DataValidationError: 1 problem found:
      ...x.zip/survey.jsonl:1: invalid JSON: ...
    """
    path = Path(path)
    where = str(path)
    if not zipfile.is_zipfile(path):
        raise DataValidationError(Problem(where, None, None, "not a zip archive"))
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            parts = PurePosixPath(name).parts
            if name.startswith(("/", "\\")) or ".." in parts:
                raise DataValidationError(Problem(where, None, None, f"entry {name!r} points outside the archive"))
        zf.extractall(tmp)
        root = Path(tmp)
        entries = [p for p in root.iterdir() if not p.name.startswith(("__MACOSX", "."))]
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        try:
            return load_study(root)
        except DataValidationError as err:
            renamed = [
                Problem(
                    (p.file or "").replace(str(root), where).replace(tmp, where) if p.file else where,
                    p.line,
                    p.field,
                    p.message.replace(str(root), where).replace(tmp, where),
                )
                for p in err.problems
            ]
            raise DataValidationError(renamed) from None


def sniff_zip(source: str) -> float:
    """0.9 for a zip archive (by content, whatever its name), else 0.

    Parameters
    ----------
    source
        a path, as text.

    Returns
    -------
    float

    Example
    -------
    >>> sniff_zip("missing.zip")
    0.0
    """
    path = Path(source)
    return 0.9 if path.is_file() and zipfile.is_zipfile(path) else 0.0


FORMAT = DataFormat(
    name="zip",
    description="a zip archive of a study (e.g. the admin export.zip of PRISM files), read from a temporary folder",
    sniff=sniff_zip,
    read=read_zip,
)
