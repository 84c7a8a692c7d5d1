"""JSON Lines reading with precise error locations, canonical JSON, and atomic writes."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pluralis.errors import DataValidationError, Problem

R = TypeVar("R", bound=BaseModel)

#: Stop collecting after this many problems in one file; the first ones are what a user needs.
MAX_PROBLEMS = 50


def _normalise(value: Any, integral_floats: bool = True) -> Any:
    """NaN/inf become None; with ``integral_floats``, 3.0 becomes 3 (canonical number spelling)."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if integral_floats and value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _normalise(v, integral_floats) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, integral_floats) for v in value]
    return value


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` canonically: sorted keys, no spaces, integral floats as ints, NaN as null.

    Two JSON documents are "the same data" when their canonical forms are equal (in the spirit
    of RFC 8785), whatever their key order, whitespace or ``1`` vs ``1.0`` spelling.

    Parameters
    ----------
    obj
        any JSON-compatible value (dicts, lists, strings, numbers, ``None``).

    Returns
    -------
    str
        the canonical JSON text.

    Example
    -------
    >>> canonical_json({"b": 1.0, "a": [float("nan"), 2.5]})
    '{"a":[null,2.5],"b":1}'
    """
    return json.dumps(_normalise(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _field_path(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p in {"user", "model"}))


def problems_from_validation(err: ValidationError, file: str, line: int) -> list[Problem]:
    """Turn a pydantic ``ValidationError`` into :class:`Problem` entries naming the field.

    Parameters
    ----------
    err
        the error pydantic raised for one row.
    file
        the file the row came from.
    line
        the row's line in that file.

    Returns
    -------
    list of Problem
        one per failing field.

    Example
    -------
    >>> from pluralis.data.model import UserTurn
    >>> try:
    ...     UserTurn.model_validate({"turn": -1, "role": "user", "content": "hi"})
    ... except ValidationError as err:
    ...     print(problems_from_validation(err, "c.jsonl", 4)[0])
    c.jsonl:4: field 'turn': Input should be greater than or equal to 0 (got -1)
    """
    out = []
    for e in err.errors(include_url=False):
        field = _field_path(e["loc"]) or None
        msg = e["msg"]
        if e["type"] == "missing":
            msg = "required field is missing"
        elif "input" in e and e["type"] not in {"missing"}:
            shown = repr(e["input"])
            if len(shown) > 60:
                shown = shown[:57] + "..."
            msg = f"{msg} (got {shown})"
        out.append(Problem(file, line, field, msg))
    return out


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed_object)`` for each non-blank line, raising on bad JSON.

    Parameters
    ----------
    path
        a JSON Lines file.

    Returns
    -------
    iterator of (int, object)

    Raises
    ------
    DataValidationError
        a line that is not valid JSON (file and line named).

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"; _ = p.write_text('{"a": 1}\\n\\n{"a": 2}\\n')
    >>> [obj["a"] for _, obj in iter_jsonl(p)]
    [1, 2]
    """
    path = Path(path)
    problems: list[Problem] = []
    for number, raw in _text_lines(path, problems):
        try:
            yield number, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataValidationError(
                Problem(str(path), number, None, f"invalid JSON: {exc.msg} at column {exc.colno}")
            ) from None
    if problems:
        raise DataValidationError(problems)


def _text_lines(path: Path, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a UTF-8 file with their numbers (a leading BOM is ignored).

    A line that is not valid UTF-8 is reported in ``problems`` (file, line, byte offset) and skipped.
    """
    with Path(path).open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(
                    Problem(str(path), number, None, f"not UTF-8 text: {exc.reason} at byte {exc.start + 1}")
                )
                continue
            if text.strip():
                yield number, text.rstrip("\r\n")  # without it, a cut-off line's error points at "column 1"


def collect_records(path: str | Path, model: type[R]) -> tuple[list[R], list[int], list[Problem]]:
    """Read a JSON Lines file into records of ``model`` without raising on bad rows.

    Returns ``(records, lines, problems)``: the valid records, the file line number of each, and
    every problem found (up to :data:`MAX_PROBLEMS`), each naming file, line and field. Used to
    report the problems of several files at once.

    Parameters
    ----------
    path
        a JSON Lines file.
    model
        the record class each line must validate as.

    Returns
    -------
    tuple of (list, list of int, list of Problem)

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.model import UserTurn
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
    >>> _ = p.write_text('{"turn": 0, "role": "user", "content": "hi"}\\n\\n{"turn": -1, "role": "user", "content": ""}\\n')
    >>> records, lines, problems = collect_records(p, UserTurn)
    >>> lines, [(q.line, q.field) for q in problems]
    ([1], [(3, 'turn')])
    """
    path = Path(path)
    if not path.exists():
        return [], [], [Problem(str(path), None, None, "file not found")]
    records: list[R] = []
    lines: list[int] = []
    problems: list[Problem] = []
    for number, raw in _text_lines(path, problems):
        try:
            # pydantic parses and validates in one pass (Rust), several times faster than json.loads + validate
            records.append(model.model_validate_json(raw))
            lines.append(number)
        except ValidationError as exc:
            if exc.errors()[0]["type"] == "json_invalid":
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as jexc:
                    problems.append(
                        Problem(str(path), number, None, f"invalid JSON: {jexc.msg} at column {jexc.colno}")
                    )
                else:
                    try:
                        records.append(model.model_validate(obj))
                        lines.append(number)
                    except ValidationError as exc2:
                        problems.extend(problems_from_validation(exc2, str(path), number))
            elif exc.errors()[0]["type"] == "model_type":
                problems.append(Problem(str(path), number, None, "expected a JSON object"))
            else:
                problems.extend(problems_from_validation(exc, str(path), number))
        if len(problems) >= MAX_PROBLEMS:
            break
    return records, lines, problems


def read_records(path: str | Path, model: type[R]) -> list[R]:
    """Read a JSON Lines file into validated records of ``model``.

    All problems (up to :data:`MAX_PROBLEMS`) are collected and raised together as one
    :class:`DataValidationError` naming file, line and field.

    Parameters
    ----------
    path
        a JSON Lines file.
    model
        the record class each line must validate as.

    Returns
    -------
    list
        the records, in file order.

    Raises
    ------
    DataValidationError
        listing every bad line.

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.model import UserTurn
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
    >>> _ = p.write_text('{"turn": 0, "role": "user", "content": "hi"}\\n')
    >>> read_records(p, UserTurn)[0].content
    'hi'
    """
    records, _lines, problems = collect_records(path, model)
    if problems:
        raise DataValidationError(problems)
    return records


def new_file_mode(path: str | Path) -> int:
    """The permission bits a file written at ``path`` should get: those of the file it replaces,
    else what ``open()`` would give under the process umask (``0o644`` under the usual ``022``).

    Temporary files (:func:`tempfile.mkstemp`) are created ``0o600``; a file renamed into place
    keeps that, so every export would be unreadable to a collaborator or a web server.

    Parameters
    ----------
    path
        the file about to be written or replaced.

    Returns
    -------
    int

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> _ = p.write_text("x"); p.chmod(0o640)
    >>> oct(new_file_mode(p))
    '0o640'
    """
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        pass
    try:  # Linux: read the umask without changing it
        with open("/proc/self/status", encoding="ascii") as fh:
            line = next(x for x in fh if x.startswith("Umask:"))
        mask = int(line.split()[1], 8)
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_write(path: str | Path, mode: str = "w"):
    """Write to a temporary file beside ``path`` and move it into place only on success.

    Parameters
    ----------
    path
        the file to write.
    mode
        ``"w"`` (text, UTF-8, ``\\n`` line ends) or ``"wb"`` (binary).

    Yields
    ------
    file object
        the open temporary file; it replaces ``path`` when the block ends without an error.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(p) as fh: _ = fh.write("done")
    >>> p.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        encoding, newline = (None, None) if "b" in mode else ("utf-8", "\n")
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as fh:
            yield fh
        os.chmod(tmp, new_file_mode(path))  # mkstemp's 0o600 would otherwise stay
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps_record(record: BaseModel | dict) -> str:
    """One JSONL line for a record (keys in schema order, UTF-8, NaN written as null).

    Parameters
    ----------
    record
        a record or a plain dict.

    Returns
    -------
    str
        one line of JSON, without the newline.

    Example
    -------
    >>> dumps_record({"text": "héllo", "score": float("nan")})
    '{"text": "héllo", "score": null}'
    """
    obj = record.to_json_dict() if hasattr(record, "to_json_dict") else record
    return json.dumps(_normalise(obj, integral_floats=False), ensure_ascii=False)


def write_jsonl(path: str | Path, records: Iterable[BaseModel | dict]) -> int:
    """Write records as JSON Lines atomically; return the number written.

    Parameters
    ----------
    path
        the file to write (replaced atomically).
    records
        records or plain dicts.

    Returns
    -------
    int
        the number of lines written.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> write_jsonl(p, [{"a": 1}, {"a": 2}]), p.read_text().splitlines()
    (2, ['{"a": 1}', '{"a": 2}'])
    """
    n = 0
    with atomic_write(path) as fh:
        for rec in records:
            fh.write(dumps_record(rec))
            fh.write("\n")
            n += 1
    return n
