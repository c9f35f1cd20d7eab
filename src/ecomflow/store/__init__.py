"""Event stores — in memory, SQLite (the embedded default), PostgreSQL — and a repository.

>>> from ecomflow import FLOWS, Money
>>> from ecomflow.store import Repository, open_store
>>> repo = Repository(open_store("memory://"), FLOWS)
>>> tx = repo.start("direct-sale", "A-1", merchant="Tea House")
>>> _ = repo.execute("A-1", "fill_order", customer_name="Li", address="Beijing",
...                  goods_name="tea", quantity=1, specification="tin",
...                  unit_price=Money("30", "CNY"))
>>> repo.load("A-1").state
'order_filled'
"""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import ConcurrencyConflict, StoreError
from .._public import publish as _publish
from ._base import SCHEMA_VERSION, EventStore, KeyRecord, Recorded
from ._consumer import consume
from ._memory import MemoryStore
from ._postgres import PostgresStore
from ._repository import Repository
from ._sqlite import SQLiteStore
from ._sqlite import sqlite_file_exists as _sqlite_file_exists

__all__ = [
    "ENV_VAR",
    "SCHEMA_VERSION",
    "ConcurrencyConflict",
    "EventStore",
    "KeyRecord",
    "MemoryStore",
    "PostgresStore",
    "Recorded",
    "Repository",
    "SQLiteStore",
    "StoreError",
    "consume",
    "open_store",
]

ENV_VAR = "ECOMFLOW_DB"
"""The environment variable :func:`open_store` reads when no URL is given."""


def open_store(url: str | None = None, *, create: bool = True) -> EventStore:
    """Open a store by URL: ``memory://``, ``sqlite:///shop.db``, ``postgresql://host/db``.

    Without a URL, ``$ECOMFLOW_DB`` is used, and failing that ``sqlite:///ecomflow.db``.
    Append ``?synchronous=NORMAL`` to a SQLite URL to trade power-loss durability for speed.
    With ``create=False`` only a store that already exists is opened — nothing is created,
    not even an empty file — and :class:`StoreError` says when there is none (a fresh
    ``memory://`` store never exists yet); read-only tools use this.
    """
    url = url or os.environ.get(ENV_VAR) or "sqlite:///ecomflow.db"
    if url == "memory://":
        if not create:
            raise StoreError("No store at 'memory://': memory:// is empty until written.")
        return MemoryStore()
    if url.startswith("sqlite:///"):
        path, _, query = url[len("sqlite:///") :].partition("?")
        options = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        if not path:
            raise StoreError(f"The SQLite URL {url!r} names no file.")
        if not create and not _sqlite_file_exists(path):
            raise StoreError(f"No store at {path!r}: the file does not exist.")
        return SQLiteStore(Path(path), synchronous=options.get("synchronous", "FULL").upper())
    if url.startswith(("postgresql://", "postgres://")):
        if not create:
            _check_postgres_store(url)
        return PostgresStore(url)
    raise StoreError(f"Cannot open store {url!r}: use memory://, sqlite:///FILE or postgresql://…")


def _check_postgres_store(url: str) -> None:
    """Raise :class:`StoreError` unless the database at ``url`` already holds a store."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the installation
        raise StoreError("PostgreSQL needs psycopg 3: pip install 'ecomflow[postgres]'.") from None
    try:
        with psycopg.connect(url) as db:
            name = db.info.dbname
            found = db.execute("SELECT to_regclass('schema_version')").fetchone()
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        end = "" if reason.endswith((".", "?", "!")) else "."
        raise StoreError(f"Cannot open PostgreSQL store: {reason}{end}") from None
    if found is None or found[0] is None:
        raise StoreError(
            f"No store in the PostgreSQL database {name!r}: it has no ecomflow tables."
        )


_publish(globals(), __name__, __all__)
