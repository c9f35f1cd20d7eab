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
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import ConcurrencyConflict, StoreError
from .._public import publish as _publish
from ._base import (
    SCHEMA_VERSION,
    Deadline,
    DeadlineChanges,
    EventStore,
    Head,
    KeyRecord,
    Latest,
    Query,
    Recorded,
    Snapshot,
    Summary,
)
from ._consumer import DurableProjection, Projector, consume
from ._memory import MemoryStore
from ._postgres import PostgresStore
from ._repository import Page, Repository
from ._sqlite import SQLiteStore
from ._sqlite import sqlite_file_exists as _sqlite_file_exists
from ._worker import DeadlineWorker

__all__ = [
    "ENV_VAR",
    "SCHEMA_VERSION",
    "ConcurrencyConflict",
    "Deadline",
    "DeadlineChanges",
    "DeadlineWorker",
    "DurableProjection",
    "EventStore",
    "Head",
    "KeyRecord",
    "Latest",
    "MemoryStore",
    "Page",
    "PostgresStore",
    "Projector",
    "Query",
    "Recorded",
    "Repository",
    "SQLiteStore",
    "Snapshot",
    "StoreError",
    "Summary",
    "consume",
    "open_store",
]

ENV_VAR = "ECOMFLOW_DB"
"""The environment variable :func:`open_store` reads when no URL is given."""


def open_store(url: str | None = None, *, create: bool = True) -> EventStore:
    """Open a store by URL: ``memory://``, ``sqlite:///shop.db``, ``postgresql://host/db``.

    Without a URL, ``$ECOMFLOW_DB`` is used, and failing that ``sqlite:///ecomflow.db``.
    Append ``?synchronous=NORMAL`` to a SQLite URL to trade power-loss durability for speed.
    A PostgreSQL URL takes ``?schema=NAME`` (the schema that holds the store's tables,
    created if missing; the connection's current schema without it) and
    ``?pool_size=N`` (share a pool of N connections between threads); every other
    option goes to psycopg.
    With ``create=False`` only a store that already exists is opened — nothing is created,
    not even an empty file — and :class:`StoreError` says when there is none (a fresh
    ``memory://`` store never exists yet); read-only tools use this.
    """
    url = url or os.environ.get(ENV_VAR) or "sqlite:///ecomflow.db"
    if url == "memory://":
        if not create:
            raise StoreError(
                "No store at 'memory://': memory:// is empty until written.",
                zh="memory:// 没有存储：写入之前它是空的。",
            )
        return MemoryStore()
    if url.startswith("sqlite:///"):
        path, _, query = url[len("sqlite:///") :].partition("?")
        options = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        if not path:
            raise StoreError(f"The SQLite URL {url!r} names no file.")
        if not create and not _sqlite_file_exists(path):
            raise StoreError(
                f"No store at {path!r}: the file does not exist.",
                zh=f"{path!r} 处没有存储：文件不存在。",
            )
        return SQLiteStore(Path(path), synchronous=options.get("synchronous", "FULL").upper())
    if url.startswith(("postgresql://", "postgres://")):
        dsn, schema, pool_size = _postgres_options(url)
        if not create:
            _check_postgres_store(dsn, schema)
        return PostgresStore(dsn, schema=schema, pool_size=pool_size)
    raise StoreError(f"Cannot open store {url!r}: use memory://, sqlite:///FILE or postgresql://…")


def _postgres_options(url: str) -> tuple[str, str | None, int | None]:
    """Return ``(dsn, schema, pool_size)``: the URL without ecomflow's own options."""
    parts = urlsplit(url)
    kept, schema, pool_size = [], None, None
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "schema":
            if not value:
                raise StoreError(f"The PostgreSQL URL {url!r} has an empty ?schema=; name one.")
            schema = value
        elif name == "pool_size":
            if not value.isdigit() or int(value) < 1:
                raise StoreError(
                    f"The PostgreSQL URL {url!r} has pool_size={value!r}; give a whole "
                    "number of connections, at least 1."
                )
            pool_size = int(value)
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), schema, pool_size


def _check_postgres_store(url: str, schema: str | None = None) -> None:
    """Raise :class:`StoreError` unless the database at ``url`` already holds a store."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:  # pragma: no cover - depends on the installation
        raise StoreError("PostgreSQL needs psycopg 3: pip install 'ecomflow[postgres]'.") from None
    try:
        with psycopg.connect(url) as db:
            name = db.info.dbname
            table = (
                "schema_version"
                if schema is None
                else sql.Identifier(schema, "schema_version").as_string(db)
            )
            found = db.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        end = "" if reason.endswith((".", "?", "!")) else "."
        raise StoreError(f"Cannot open PostgreSQL store: {reason}{end}") from None
    if found is None or found[0] is None:
        where = "" if schema is None else f" (schema {schema!r})"
        where_zh = "" if schema is None else f"（模式 {schema!r}）"
        raise StoreError(
            f"No store in the PostgreSQL database {name!r}{where}: it has no ecomflow tables.",
            zh=f"PostgreSQL 数据库 {name!r}{where_zh} 中没有存储：其中没有 ecomflow 的表。",
        )


_publish(globals(), __name__, __all__)
