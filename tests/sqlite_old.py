"""SQLite and PostgreSQL stores as older ecomflow releases wrote them (schema 1 and 2).

``V2_SCHEMA`` is the SQLite DDL of schema version 2, copied from ``src/ecomflow/store/_sqlite.py``
at commit 166cff8; version 1 is the same without the idempotency key's trigger and
fingerprint. :func:`downgrade` turns a current store into one of them, keeping its events
(and positions), keys and checkpoints, so that opening it again exercises the
migration; :func:`downgrade_postgres` does the same for a PostgreSQL store.
"""

import sqlite3

V2_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    tx_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    stream TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    UNIQUE (tx_id, version, seq)
);
CREATE INDEX IF NOT EXISTS events_by_stream ON events (stream, position);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    tx_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    fingerprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

V1_IDEMPOTENCY = (
    "CREATE TABLE idempotency (key TEXT PRIMARY KEY, tx_id TEXT NOT NULL, version INTEGER NOT NULL)"
)


def downgrade(path, version):
    """Rewrite the current store at ``path`` as schema ``version`` (1 or 2) wrote it."""
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    for table in ("events", "idempotency", "checkpoints"):
        raw.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
    for table in ("transactions", "snapshots", "projection_rows", "schema_version"):
        raw.execute(f"DROP TABLE {table}")
    for statement in V2_SCHEMA.strip().split(";\n"):
        if statement.strip():
            raw.execute(statement)
    if version == 1:
        raw.execute("DROP TABLE idempotency")
        raw.execute(V1_IDEMPOTENCY)
        raw.execute("INSERT INTO idempotency SELECT key, tx_id, version FROM old_idempotency")
    else:
        raw.execute(
            "INSERT INTO idempotency SELECT key, tx_id, version, trigger, fingerprint "
            "FROM old_idempotency"
        )
    raw.execute(
        "INSERT INTO events SELECT position, tx_id || ':' || version || ':' || seq, tx_id, "
        "flow, version, seq, trigger, stream, name, data, occurred_at FROM old_events "
        "ORDER BY position"
    )
    raw.execute("INSERT INTO checkpoints SELECT consumer, position FROM old_checkpoints")
    for table in ("events", "idempotency", "checkpoints"):
        raw.execute(f"DROP TABLE old_{table}")
    raw.execute("INSERT INTO schema_version VALUES (?)", (version,))
    raw.execute("COMMIT")
    raw.close()


# PostgreSQL: the DDL of schema version 2, copied from src/ecomflow/store/_postgres.py at
# commit 166cff8 (version 1: the same without the key's trigger and fingerprint).
PG_V2_SCHEMA = [
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE events (position BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,
        tx_id TEXT NOT NULL, flow TEXT NOT NULL, version INTEGER NOT NULL, seq INTEGER NOT NULL,
        trigger TEXT NOT NULL, stream TEXT NOT NULL, name TEXT NOT NULL, data JSONB NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL, UNIQUE (tx_id, version, seq))""",
    "CREATE INDEX events_by_stream ON events (stream, position)",
    """CREATE TABLE idempotency (key TEXT PRIMARY KEY, tx_id TEXT NOT NULL,
        version INTEGER NOT NULL, trigger TEXT NOT NULL, fingerprint TEXT NOT NULL)""",
    "CREATE TABLE checkpoints (consumer TEXT PRIMARY KEY, position BIGINT NOT NULL)",
]


def downgrade_postgres(dsn, version):
    """Rewrite the current PostgreSQL store at ``dsn`` (its current schema) as schema
    ``version`` (1 or 2) wrote it, keeping events (and positions), keys and checkpoints."""
    import psycopg

    with psycopg.connect(dsn) as raw:  # one transaction: commits on leaving
        for table in ("events", "idempotency", "checkpoints"):
            raw.execute(f"CREATE TEMP TABLE old_{table} ON COMMIT DROP AS SELECT * FROM {table}")
        for table in ("events", "idempotency", "checkpoints", "transactions", "snapshots"):
            raw.execute(f"DROP TABLE {table}")
        raw.execute("DROP TABLE projection_rows, schema_version")
        for statement in PG_V2_SCHEMA:
            raw.execute(statement)
        raw.execute(
            "INSERT INTO events (position, event_id, tx_id, flow, version, seq, trigger, "
            "stream, name, data, occurred_at) SELECT position, tx_id || ':' || version || ':' "
            "|| seq, tx_id, flow, version, seq, trigger, stream, name, data, occurred_at "
            "FROM old_events ORDER BY position"
        )
        raw.execute(
            "SELECT setval(pg_get_serial_sequence('events', 'position'), "
            "COALESCE(MAX(position), 0) + 1, false) FROM events"
        )
        raw.execute(
            "INSERT INTO idempotency SELECT key, tx_id, version, trigger, fingerprint "
            "FROM old_idempotency"
        )
        raw.execute("INSERT INTO checkpoints SELECT consumer, position FROM old_checkpoints")
        if version == 1:
            raw.execute("ALTER TABLE idempotency DROP COLUMN trigger")
            raw.execute("ALTER TABLE idempotency DROP COLUMN fingerprint")
        raw.execute("INSERT INTO schema_version VALUES (%s)", (version,))
