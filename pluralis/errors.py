"""Errors raised by Pluralis.

Every error a user can cause with bad input is a :class:`PluralisError`. Data
problems are :class:`DataValidationError`, which carries one or more
:class:`Problem` entries naming the file, the line and the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass


class PluralisError(Exception):
    """Base class of every error Pluralis raises on purpose.

    Example
    -------
    >>> issubclass(DataValidationError, PluralisError), issubclass(ConfigError, PluralisError)
    (True, True)
    """


class ConfigError(PluralisError):
    """A configuration (study file, option, CLI argument) is invalid.

    Example
    -------
    >>> str(ConfigError("--plot must end in .png, .svg or .pdf"))
    '--plot must end in .png, .svg or .pdf'
    """


class StoreError(PluralisError):
    """The store could not be opened, migrated or written.

    Example
    -------
    >>> str(StoreError("pluralis.sqlite: no such store"))
    'pluralis.sqlite: no such store'
    """


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input.

    Example
    -------
    >>> str(Problem("survey.jsonl", 3, "age", "unknown value 'Under 18'"))
    "survey.jsonl:3: field 'age': unknown value 'Under 18'"
    """

    file: str | None
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            return f"{where}: field '{self.field}': {self.message}"
        return f"{where}: {self.message}"


class DataValidationError(PluralisError):
    """Input data failed validation. Nothing was written.

    ``problems`` lists every problem found (up to a cap), the message shows the
    first few.

    Example
    -------
    >>> err = DataValidationError([Problem("u.jsonl", 2, "score", "must be 1-100, got 0")])
    >>> err.problems[0].field
    'score'
    """

    max_shown = 10

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(None, None, None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        shown = "\n  ".join(str(p) for p in self.problems[: self.max_shown])
        more = len(self.problems) - self.max_shown
        suffix = f"\n  ... and {more} more" if more > 0 else ""
        n = len(self.problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found:\n  {shown}{suffix}")

    @property
    def first(self) -> Problem:
        """The first problem found.

        Example
        -------
        >>> DataValidationError("no survey").first.message
        'no survey'
        """
        return self.problems[0]
