"""Alembic environment for the Pluralis store.

Runs against the connection handed over in ``config.attributes["connection"]`` (how
:class:`pluralis.store.Store` migrates), or the ``sqlalchemy.url`` option (the ``alembic`` CLI).
"""

from alembic import context
from sqlalchemy import create_engine

from pluralis.store.schema import metadata

config = context.config


def run() -> None:
    """Run the migrations Alembic asked for, on the handed-over connection or a new engine.

    Alembic executes this module; :meth:`pluralis.store.Store.open` and
    :meth:`~pluralis.store.Store.upgrade` are how Pluralis invokes it.

    Example
    -------
    >>> # alembic runs this: Store.open("pluralis.sqlite") migrates to the newest schema
    """
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url (alembic -x / alembic.ini) or pass a connection")
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
