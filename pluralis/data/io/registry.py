"""One registry of data formats: every reader and writer of studies is a :class:`DataFormat`.

A format is ONE object in ONE module: a name, a one-line description, ``sniff(source)`` (how
sure it is that ``source`` is in this format, 0 to 1), ``read(source, **options) -> Study`` and,
when the format can be written, ``write(study, target, **options)``. :func:`load_study`,
:func:`save_study` and :func:`detect_format` dispatch through the registry, and the
``pluralis import / export / validate --format`` choices come from it.

Formats are discovered the way Datasette discovers its plugins (``DEFAULT_PLUGINS`` plus
setuptools entry points), on first use:

1. every module of :mod:`pluralis.data.io` that defines ``FORMAT`` (the built-ins: adding a
   format is adding one file there);
2. the modules named in :data:`PLUGIN_MODULES` (formats living in higher layers, such as the
   store, which :mod:`pluralis.data` must not import);
3. the ``pluralis.data_formats`` entry points of installed packages (each names a
   :class:`DataFormat` or a module defining ``FORMAT``);
4. formats registered at run time with :func:`register_format`.

Example
-------
>>> [f.name for f in formats()][:3]
['arena', 'community_alignment', 'hf']
>>> detect_format("hf://HannahRoseKirk/prism-alignment"), detect_format("study.sqlite")
('hf', 'store')
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pluralis.data.study import Study
from pluralis.errors import ConfigError, DataValidationError, Problem

#: Formats that live outside :mod:`pluralis.data` (which must not import them), loaded by name.
PLUGIN_MODULES: tuple[str, ...] = ("pluralis.store.format",)
#: Entry-point group through which installed packages add formats.
ENTRY_POINT_GROUP = "pluralis.data_formats"
#: The package whose modules hold the built-in formats.
BUILTIN_PACKAGE = "pluralis.data.io"

Sniffer = Callable[[str], "float | bool"]


@dataclass(frozen=True)
class DataFormat:
    """A data format: how to recognise, read and (optionally) write a study in it.

    Parameters
    ----------
    name
        short identifier used by ``--format`` (``"prism"``, ``"arena"``, ...).
    description
        one line shown in help texts and error messages.
    sniff
        ``sniff(source) -> float | bool``: confidence in ``[0, 1]`` that ``source`` (a path or
        URL, as text) is in this format; ``0``/``False`` means "not mine". It must be cheap
        (look at a name, a suffix or the first few kilobytes) and must not raise for sources
        that are not its own.
    read
        ``read(source, **options) -> Study``; raises a
        :class:`~pluralis.errors.DataValidationError` naming file, line and field for bad input.
    write
        ``write(study, target, **options) -> Mapping[str, object]`` (what was written: table or
        file name -> path or row count), or ``None`` for a read-only format. It must never leave
        a half-written target behind.

    Example
    -------
    >>> from pluralis.data.study import Study
    >>> fmt = DataFormat("empty", "nothing at all", sniff=lambda s: s == "nothing", read=lambda s: Study())
    >>> fmt.sniff("nothing"), fmt.writable, fmt.read("nothing").counts()["survey"]
    (True, False, 0)
    """

    name: str
    description: str
    sniff: Sniffer
    read: Callable[..., Study]
    write: Callable[..., Mapping[str, object]] | None = None

    @property
    def writable(self) -> bool:
        """Whether studies can be written in this format.

        Example
        -------
        >>> get_format("prism").writable, get_format("hf").writable
        (True, False)
        """
        return self.write is not None

    def __str__(self) -> str:
        return f"{self.name}: {self.description}"


class UnknownFormatError(ConfigError):
    """A format name that no registered :class:`DataFormat` has; the message lists the known ones.

    Example
    -------
    >>> isinstance(UnknownFormatError("unknown data format 'x'"), ConfigError)
    True
    """


_registry: dict[str, DataFormat] = {}
_lock = threading.RLock()
_loaded = False
_loading = False


def _format_of(obj: object, where: str) -> DataFormat:
    fmt = getattr(obj, "FORMAT", obj)
    if not isinstance(fmt, DataFormat):
        raise ConfigError(f"{where}: expected a DataFormat (or a module defining FORMAT), got {type(fmt).__name__}")
    return fmt


def _add(fmt: DataFormat, *, replace: bool) -> None:
    old = _registry.get(fmt.name)
    if old is not None and old is not fmt and not replace:
        raise ConfigError(f"a data format named {fmt.name!r} is already registered: {old}")
    _registry[fmt.name] = fmt


def _builtin_modules() -> list[str]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    return sorted(f"{BUILTIN_PACKAGE}.{m.name}" for m in pkgutil.iter_modules(package.__path__) if m.name != "registry")


def _ensure_loaded() -> None:
    global _loaded, _loading
    if _loaded:
        return
    with _lock:
        if _loaded or _loading:  # _loading: a format module calling register_format while being discovered
            return
        _loading = True
        try:
            for name in [*_builtin_modules(), *PLUGIN_MODULES]:
                module = importlib.import_module(name)
                if hasattr(module, "FORMAT"):
                    _add(_format_of(module, name), replace=False)
            for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                try:
                    obj = entry.load()
                except Exception as exc:  # a broken third-party plugin: say which one
                    raise ConfigError(
                        f"data format plugin {entry.name!r} ({entry.value}) failed to load: {exc}"
                    ) from exc
                _add(_format_of(obj, f"entry point {entry.name!r}"), replace=False)
            _loaded = True
        finally:
            _loading = False


def register_format(fmt: DataFormat, *, replace: bool = False) -> DataFormat:
    """Add a format to the registry (after the built-ins); returns it.

    Parameters
    ----------
    fmt
        the format to add.
    replace
        replace a registered format of the same name instead of refusing it.

    Returns
    -------
    DataFormat
        ``fmt``, so a module can write ``FORMAT = register_format(DataFormat(...))``.

    Raises
    ------
    ConfigError
        when a different format already has this name and ``replace`` is false.

    See Also
    --------
    unregister_format, get_format, formats

    Example
    -------
    >>> from pluralis.data.study import Study
    >>> toy = register_format(DataFormat("toy-doc", "a toy", sniff=lambda s: False, read=lambda s: Study()))
    >>> get_format("toy-doc") is toy
    True
    >>> unregister_format("toy-doc")
    """
    with _lock:
        _ensure_loaded()
        _add(_format_of(fmt, "register_format"), replace=replace)
    return fmt


def unregister_format(name: str) -> None:
    """Remove a format from the registry (a no-op when it is not registered).

    Parameters
    ----------
    name
        the format's name.

    Example
    -------
    >>> unregister_format("no-such-format")
    >>> "no-such-format" in [f.name for f in formats()]
    False
    """
    with _lock:
        _ensure_loaded()
        _registry.pop(name, None)


def formats(*, writable: bool | None = None) -> list[DataFormat]:
    """Every registered format, in registration order (built-ins by module name first).

    Parameters
    ----------
    writable
        ``True``: only formats that can be written; ``False``: only read-only ones; ``None``: all.

    Returns
    -------
    list of DataFormat

    Example
    -------
    >>> names = [f.name for f in formats()]
    >>> {"prism", "parquet", "wide", "arena", "community_alignment", "hf", "store"} <= set(names)
    True
    >>> "hf" in [f.name for f in formats(writable=True)]
    False
    """
    _ensure_loaded()
    with _lock:
        found = list(_registry.values())
    return [f for f in found if writable is None or f.writable == writable]


def known_formats(*, writable: bool | None = None) -> str:
    """The names of the registered formats as one line, for help and error messages.

    Parameters
    ----------
    writable
        as in :func:`formats`.

    Returns
    -------
    str
        the names, comma-separated, and where to read their descriptions.

    Example
    -------
    >>> known_formats(writable=True)
    'arena, hf_folder, parquet, prism, wide, store (`pluralis formats` describes them)'
    """
    return ", ".join(f.name for f in formats(writable=writable)) + " (`pluralis formats` describes them)"


def get_format(name: str) -> DataFormat:
    """The registered format called ``name``.

    Parameters
    ----------
    name
        a format name (see :func:`formats`).

    Returns
    -------
    DataFormat

    Raises
    ------
    UnknownFormatError
        when no format has this name; the message lists the known formats.

    Example
    -------
    >>> get_format("parquet").name
    'parquet'
    >>> get_format("xlsx")
    Traceback (most recent call last):
    ...
    pluralis.data.io.registry.UnknownFormatError: unknown data format 'xlsx'; known formats: ...
    """
    _ensure_loaded()
    with _lock:
        fmt = _registry.get(name)
    if fmt is None:
        raise UnknownFormatError(f"unknown data format {name!r}; known formats: {known_formats()}")
    return fmt


def _confidence(fmt: DataFormat, source: str) -> float:
    try:
        score = fmt.sniff(source)
    except (OSError, ValueError):  # unreadable or not this format's kind of file: not mine
        return 0.0
    return float(score)


def detect_format(source: str | Path) -> str:
    """The name of the format that recognises ``source`` most confidently.

    Every registered format sniffs the source; the highest confidence wins (ties go to the
    format registered first).

    Parameters
    ----------
    source
        a path (folder or file) or a URL (``hf://...``, ``sqlite:///...``, ``postgresql://...``).

    Returns
    -------
    str
        the format's name.

    Raises
    ------
    DataValidationError
        when the source is a path that does not exist, or no format recognises it (the message
        then lists the known formats).

    Example
    -------
    >>> detect_format("sqlite:///x.db"), detect_format("hf://HannahRoseKirk/prism-alignment")
    ('store', 'hf')
    >>> detect_format("/nonexistent/thing.csv")
    Traceback (most recent call last):
    ...
    pluralis.errors.DataValidationError: 1 problem found:
      /nonexistent/thing.csv: no such file or folder
    """
    text = str(source)
    best, best_score = None, 0.0
    for fmt in formats():
        score = _confidence(fmt, text)
        if score > best_score:
            best, best_score = fmt, score
    if best is None:
        if "://" not in text and not Path(text).exists():  # a mistyped path, not an unknown format
            raise DataValidationError(Problem(text, None, None, "no such file or folder"))
        raise DataValidationError(
            Problem(
                text,
                None,
                None,
                "cannot tell what this is (not a folder, file or store any known format recognises); "
                f"pass --format, one of: {known_formats()}",
            )
        )
    return best.name


def _call(fmt: DataFormat, func: Callable[..., Any], args: tuple, options: dict[str, Any]) -> Any:
    """Call a reader or writer with the options it takes; options left at ``None`` are dropped."""
    given = {k: v for k, v in options.items() if v is not None}
    params = inspect.signature(func).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD]
        unknown = sorted(set(given) - set(accepted[len(args) :]))
        if unknown:
            takes = ", ".join(accepted[len(args) :]) or "none"
            raise ConfigError(f"format {fmt.name!r} has no option {unknown[0]!r} (its options: {takes})")
    return func(*args, **given)


def load_study(source: str | Path, *, format: str | None = None, **options: Any) -> Study:
    """Read a study from any registered format; the format is detected when not given.

    Parameters
    ----------
    source
        a folder, a file or a URL (see :func:`formats` for what is understood).
    format
        a format name; default: :func:`detect_format`.
    **options
        passed to the format's reader (e.g. ``hf_cache=`` for ``hf``, ``validate=False``);
        options set to ``None`` are ignored, an option the reader does not take is an error.

    Returns
    -------
    Study

    Raises
    ------
    DataValidationError
        bad input (file, line and field named) or an unrecognised source.
    UnknownFormatError
        an unknown ``format``.

    See Also
    --------
    save_study, detect_format

    Example
    -------
    >>> import tempfile
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_study(generate_study(n_participants=3, seed=0), folder)
    >>> load_study(folder).counts()["survey"]
    3
    """
    fmt = get_format(format) if format else get_format(detect_format(source))
    return _call(fmt, fmt.read, (source,), options)


def save_study(study: Study, target: str | Path, *, format: str = "prism", **options: Any) -> dict[str, Any]:
    """Write a study in a registered, writable format.

    Parameters
    ----------
    study
        the study to write.
    target
        a folder, file or URL, as the format expects (``prism`` and ``parquet`` write a folder,
        ``wide`` and ``arena`` one file, ``store`` a SQLite file or database URL).
    format
        a writable format name (see ``formats(writable=True)``).
    **options
        passed to the format's writer (options set to ``None`` are ignored).

    Returns
    -------
    dict
        what was written: table or file name -> path (or row count, for a store).

    Raises
    ------
    UnknownFormatError
        an unknown ``format``.
    ConfigError
        a read-only format.

    See Also
    --------
    load_study

    Example
    -------
    >>> import tempfile, pathlib
    >>> from pluralis.data.synthetic import generate_study
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> sorted(save_study(generate_study(n_participants=2, seed=0), folder, format="parquet"))
    ['comparisons', 'conversations', 'metadata', 'survey', 'utterances']
    >>> save_study(generate_study(n_participants=2, seed=0), folder / "wide.csv", format="wide")["interactions"].name
    'wide.csv'
    """
    fmt = get_format(format)
    if fmt.write is None:
        raise ConfigError(f"format {fmt.name!r} cannot be written; writable formats: {known_formats(writable=True)}")
    return dict(_call(fmt, fmt.write, (study, target), options))


def peek(path: str | Path, size: int = 4000) -> str:
    """The start of a data file as text, for sniffing: column names of a parquet file, else its first characters.

    Parameters
    ----------
    path
        a file.
    size
        how many characters of a text file to read.

    Returns
    -------
    str
        ``""`` when the path is not a readable file.

    Example
    -------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.csv"
    >>> _ = p.write_text("model_a,model_b,winner\\nx,y,tie\\n")
    >>> peek(p, 22)
    'model_a,model_b,winner'
    """
    p = Path(path)
    if not p.is_file():
        return ""
    if p.suffix.lower() in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        try:
            return " ".join(pq.read_schema(p).names)
        except Exception:  # not readable as parquet: the reader will say so with the file name
            return ""
    with p.open("r", encoding="utf-8", errors="replace") as fh:
        return fh.read(size)
