"""The Pluralis store: a real database (SQLite file by default, PostgreSQL by URL).

The schema is created and upgraded by Alembic migrations (``pluralis/store/migrations``).
Every import is one transaction: it lands whole or not at all.

Example
-------
>>> import tempfile, os
>>> from pluralis.data.synthetic import generate_study
>>> path = os.path.join(tempfile.mkdtemp(), "study.sqlite")
>>> with Store.open(path) as store:
...     report = store.import_study(generate_study(n_participants=3, seed=0))
...     store.counts()["participants"]
3
"""

from __future__ import annotations

# the collection tables join the store's ``metadata`` here, so importing any part of the store
# (e.g. ``pluralis.store.schema`` for Alembic) sees the whole schema
from pluralis.store import schema_collect
from pluralis.store.db import Store, store_url
from pluralis.store.embeddings import EmbeddingCache  # also registers the embedding-cache table

__all__ = ["EmbeddingCache", "Store", "schema_collect", "store_url"]
