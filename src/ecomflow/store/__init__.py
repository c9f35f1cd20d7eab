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
from .._public import publish
from ._base import EventStore, KeyRecord, Recorded
from ._consumer import consume
from ._memory import MemoryStore
from ._postgres import PostgresStore
from ._repository import Repository
from ._sqlite import SCHEMA_VERSION, SQLiteStore

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


def open_store(url: str | None = None) -> EventStore:
    """Open a store by URL: ``memory://``, ``sqlite:///shop.db``, ``postgresql://host/db``.

    Without a URL, ``$ECOMFLOW_DB`` is used, and failing that ``sqlite:///ecomflow.db``.
    Append ``?synchronous=NORMAL`` to a SQLite URL to trade power-loss durability for speed.
    """
    url = url or os.environ.get(ENV_VAR) or "sqlite:///ecomflow.db"
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:///"):
        path, _, query = url[len("sqlite:///") :].partition("?")
        options = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        if not path:
            raise StoreError(f"The SQLite URL {url!r} names no file.")
        return SQLiteStore(Path(path), synchronous=options.get("synchronous", "FULL").upper())
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise StoreError(f"Cannot open store {url!r}: use memory://, sqlite:///FILE or postgresql://…")


publish(globals(), __name__, __all__)
