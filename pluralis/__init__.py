"""Pluralis: find out *whose* preferences a language model serves.

The package is laid out along the data flow::

    data/      records, vocabularies, PRISM / Arena / Community-Alignment I/O, synthetic studies
    store/     SQLAlchemy store (SQLite by default, PostgreSQL by URL) with Alembic migrations
    collect/   the PRISM-protocol web app for running feedback studies
    llm/       LLM backends (OpenAI-compatible HTTP, local transformers)
    personas/  census-grounded synthetic participants
    analysis/  representativeness, rankings, welfare
    learn/     preference models
    report/    HTML/plot reports
    cli.py     the ``pluralis`` command
"""

from pluralis.errors import DataValidationError, PluralisError, Problem

__version__ = "0.1.0"

__all__ = ["DataValidationError", "PluralisError", "Problem", "__version__"]
