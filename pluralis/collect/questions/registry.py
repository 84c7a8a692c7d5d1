"""The registry of survey question kinds.

Every module of :mod:`pluralis.collect.questions` is imported once, the first time the registry is read
(the way Datasette loads its default plugins), and each kind's module registers its kind with
:func:`register_question_kind`. A study (or a test, or a plugin) adds a kind the same way: define a
:class:`~pluralis.collect.questions.base.QuestionKind` and register it before the study is loaded.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from pluralis.collect.questions.base import QuestionKind
from pluralis.errors import ConfigError

_KINDS: dict[str, QuestionKind] = {}
_LOADED = False
_NOT_KINDS = {"registry", "base"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _load_builtin_kinds() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    package = __name__.rsplit(".", 1)[0]
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if info.name not in _NOT_KINDS:
            importlib.import_module(f"{package}.{info.name}")


def register_question_kind(kind: QuestionKind, *, replace: bool = False) -> QuestionKind:
    """Register a question kind under ``kind.name`` (what study files write as ``kind``).

    Parameters
    ----------
    kind
        An instance of a :class:`~pluralis.collect.questions.base.QuestionKind` subclass.
    replace
        Allow replacing another kind registered under the same name (registering the same object, or
        another instance of the same class, again is always allowed).

    Returns
    -------
    QuestionKind
        ``kind``, so a module can write ``LIKERT = register_question_kind(Likert())``.

    Raises
    ------
    ConfigError
        A bad name or macro name, or the name is taken by a different kind.

    See Also
    --------
    get_question_kind, question_kinds

    Example
    -------
    >>> from pluralis.collect.questions.single import SingleChoice
    >>> class Dropdown(SingleChoice):
    ...     name = "zz_example_single"
    >>> register_question_kind(Dropdown()).name, get_question_kind("zz_example_single").macro
    ('zz_example_single', 'radio_question')
    """
    if not isinstance(kind, QuestionKind):
        raise ConfigError(f"a question kind must be a QuestionKind instance, not {type(kind).__name__}")
    if not _NAME.match(kind.name or ""):
        raise ConfigError(f"question kind name {kind.name!r} must be lower-case letters, digits and _")
    if not kind.macro.isidentifier():
        raise ConfigError(f"question kind {kind.name!r}: macro {kind.macro!r} is not a macro name")
    _load_builtin_kinds()
    old = _KINDS.get(kind.name)
    if old is not None and type(old) is not type(kind) and not replace:
        raise ConfigError(f"question kind {kind.name!r} is already registered ({type(old).__qualname__})")
    _KINDS[kind.name] = kind
    return kind


def get_question_kind(name: str) -> QuestionKind:
    """The question kind registered as ``name``.

    Parameters
    ----------
    name : str
        The kind's registered name (e.g. ``"vas"``, ``"select"``).

    Returns
    -------
    QuestionKind
        The registered kind.

    Raises
    ------
    ConfigError
        No kind has that name (the message lists the known kinds).

    Example
    -------
    >>> get_question_kind("vas").macro
    'vas_question'
    """
    _load_builtin_kinds()
    try:
        return _KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown question kind {name!r}; expected one of {', '.join(sorted(_KINDS))}") from None


def question_kinds() -> dict[str, QuestionKind]:
    """Every registered question kind, by name (a copy).

    Example
    -------
    >>> {"single", "multi", "category", "country", "text", "vas"} <= set(question_kinds())
    True
    """
    _load_builtin_kinds()
    return dict(_KINDS)


__all__ = ["get_question_kind", "question_kinds", "register_question_kind"]
