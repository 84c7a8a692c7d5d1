"""The aligner registry: one registered class per file in :mod:`pluralis.align.aligners`.

An aligner module decorates its class with :func:`register_aligner`; modules are discovered (every
module of the ``aligners`` package is imported once, on first lookup), so a new aligner is one new
file. :func:`get_aligner` builds one from its name and options (unknown options are a
:class:`~pluralis.errors.ConfigError` naming the ones it accepts).

Example
-------
>>> sorted(available_aligners())
['best_of_n', 'dpo', 'grpo']
>>> get_aligner("best_of_n", n=8).n
8
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

from pluralis.errors import ConfigError

_ALIGNERS: dict[str, type] = {}
_loaded = False


def register_aligner(cls: type) -> type:
    """Class decorator: register ``cls`` under ``cls.name`` (a second class with the same name is an error).

    Example
    -------
    >>> @register_aligner
    ... class Echo:
    ...     name = "echo-doc"
    >>> "echo-doc" in available_aligners()
    True
    >>> _ = _ALIGNERS.pop("echo-doc")
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"aligner class {cls.__name__} needs a non-empty `name`")
    other = _ALIGNERS.get(name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise ConfigError(f"two aligners named {name!r}: {other.__module__} and {cls.__module__}")
    _ALIGNERS[name] = cls
    return cls


def _discover() -> None:
    global _loaded
    if _loaded:
        return
    from pluralis.align import aligners

    for info in sorted(pkgutil.iter_modules(aligners.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{aligners.__name__}.{info.name}")
    _loaded = True


def available_aligners() -> dict[str, type]:
    """``{name: class}`` of every registered aligner.

    Example
    -------
    >>> "dpo" in available_aligners()
    True
    """
    _discover()
    return dict(_ALIGNERS)


def aligner_options(name: str) -> dict[str, Any]:
    """The options an aligner accepts, with their defaults.

    Parameters
    ----------
    name : str
        The aligner's registered name (e.g. ``"dpo"``, ``"best-of-n"``).

    Returns
    -------
    dict of str to Any
        Option name -> default value.

    Example
    -------
    >>> aligner_options("best_of_n")["n"]
    4
    """
    cls = _get_class(name)
    return {f.name: f.default for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}


def _get_class(name: str) -> type:
    found = available_aligners().get(str(name).replace("-", "_"))
    if found is None:
        raise ConfigError(f"unknown aligner {name!r}; available: {', '.join(sorted(available_aligners()))}")
    return found


def get_aligner(name: str, **options: Any) -> Any:
    """A new aligner ``name`` with ``options`` (``best-of-n`` and ``best_of_n`` are the same).

    Parameters
    ----------
    name : str
        The aligner's registered name.
    **options
        The aligner's settings (see :func:`aligner_options`).

    Returns
    -------
    Any
        The aligner instance.

    Example
    -------
    >>> get_aligner("dpo", steps=3).steps
    3
    >>> get_aligner("dpo", stepz=3)
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: aligner 'dpo': unknown option(s) ['stepz']; options: base_model, device, ...
    """
    cls = _get_class(name)
    key = str(getattr(cls, "name", name))
    known = aligner_options(key)
    unknown = sorted(k for k in options if k not in known)
    if unknown:
        listed = ", ".join(known)
        raise ConfigError(f"aligner {key!r}: unknown option(s) {unknown}; options: {listed}")
    return cls(**options)
