"""Declarative parameter checks for the welfare analysis (in the spirit of scikit-learn's
``_parameter_constraints``): a constraint is a callable ``(name, value) -> None`` that raises
:class:`~pluralis.errors.ConfigError` with a message naming the parameter. A class declares its
constraints once, in a mapping, and :func:`validate` applies them.

Example
-------
>>> validate({"engine": "fast", "n_draws": 10}, {"engine": OneOf("fast", "reference"), "n_draws": PositiveInt()})
>>> validate({"n_draws": 0}, {"n_draws": PositiveInt()})
Traceback (most recent call last):
...
pluralis.errors.ConfigError: n_draws must be a positive integer, got 0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from pluralis.errors import ConfigError

__all__ = ["Boolean", "Constraint", "InstanceOf", "OneOf", "PositiveInt", "validate"]

#: A parameter check: ``constraint(name, value)`` raises ConfigError when ``value`` is not allowed.
Constraint = Callable[[str, Any], None]


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


class OneOf:
    """The value is one of a fixed set of options.

    Example
    -------
    >>> OneOf("auto", "rep")("sample", "locale")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: sample must be 'auto' or 'rep', got 'locale'
    """

    def __init__(self, *options: Any):
        self.options = options

    def __call__(self, name: str, value: Any) -> None:
        if value not in self.options:
            raise ConfigError(f"{name} must be {_listing([repr(o) for o in self.options])}, got {value!r}")


class PositiveInt:
    """The value is an integer of at least 1 (``bool`` is not an integer here).

    Example
    -------
    >>> PositiveInt()("n_draws", 5)
    """

    def __call__(self, name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


class Boolean:
    """The value is ``True`` or ``False`` (numpy booleans included).

    Example
    -------
    >>> Boolean()("replace", "yes")
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: replace must be True or False, got 'yes'
    """

    def __call__(self, name: str, value: Any) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{name} must be True or False, got {value!r}")


class InstanceOf:
    """The value is an instance of one of ``types`` (or ``None`` when ``none=True``); ``what``
    names the types in the message.

    Example
    -------
    >>> InstanceOf(str, none=True)("country", None)
    >>> InstanceOf(int, none=True)("seed", 1.5)
    Traceback (most recent call last):
    ...
    pluralis.errors.ConfigError: seed must be int or None, got 1.5
    """

    def __init__(self, *types: type, none: bool = False, what: str | None = None):
        self.types = types
        self.none = none
        self.what = what

    def __call__(self, name: str, value: Any) -> None:
        if value is None and self.none:
            return
        if (isinstance(value, bool) and bool not in self.types) or not isinstance(value, self.types):
            kinds = [self.what] if self.what else [t.__name__ for t in self.types]
            raise ConfigError(f"{name} must be {_listing(kinds + (['None'] if self.none else []))}, got {value!r}")


def validate(params: Mapping[str, Any], constraints: Mapping[str, Constraint]) -> None:
    """Check every parameter that has a declared constraint.

    Parameters
    ----------
    params : mapping
        Parameter values by name.
    constraints : mapping
        A :data:`Constraint` per parameter name; parameters without one are not checked.

    Returns
    -------
    None
        Raises :class:`~pluralis.errors.ConfigError` at the first parameter that breaks its constraint.

    Example
    -------
    >>> validate({"replace": True, "other": object()}, {"replace": Boolean()})
    """
    for name, check in constraints.items():
        if name in params:
            check(name, params[name])
