import os
import shutil
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, settings

# dev: random examples, a quick look. explore: random examples, many of them, to find
# bugs locally (pin each one found with @example). ci: the same fixed examples on every
# run (derandomize), so CI never flips between red and green with the seed.
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "explore",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


class TickingClock:
    """A deterministic clock: each call returns one second later than the last."""

    def __init__(self, start: datetime = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)):
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


PG_DSN = os.environ.get("ECOMFLOW_TEST_PG", "postgresql://127.0.0.1:5432/test")


def _postgres_reason():
    """Why PostgreSQL tests cannot run here, or None if they can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.Error as error:
        return f"no PostgreSQL server at {PG_DSN}: {str(error).strip()}"
    return None


@pytest.fixture
def pg_dsn():
    """A DSN whose search_path is a fresh schema, dropped afterwards."""
    reason = _postgres_reason()
    if reason is not None:
        if os.environ.get("ECOMFLOW_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"ECOMFLOW_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    import uuid

    import psycopg

    schema = f"ecomflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in PG_DSN else "?"
    yield f"{PG_DSN}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request, tmp_path):
    """Each event store in turn: memory, a SQLite file, a fresh PostgreSQL schema."""
    from ecomflow.store import MemoryStore, PostgresStore, SQLiteStore

    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        with SQLiteStore(tmp_path / "shop.db") as db:
            yield db
    else:
        with PostgresStore(request.getfixturevalue("pg_dsn")) as db:
            yield db


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path):
    """A durable store's URL: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    return request.getfixturevalue("pg_dsn")


BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _find_chromium():
    """The Chromium to drive: ``$ECOMFLOW_CHROMIUM``, else the first of BROWSERS on the PATH."""
    named = os.environ.get("ECOMFLOW_CHROMIUM")
    if named:
        return shutil.which(named)
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def _browser_reason():
    """Why the real-browser tests cannot run here, or None if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if _find_chromium() is None:
        if os.environ.get("ECOMFLOW_CHROMIUM"):
            return f"ECOMFLOW_CHROMIUM={os.environ['ECOMFLOW_CHROMIUM']} is not a program"
        return "no Chromium is installed (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def chromium():
    """The path of a Chromium to drive headless; skips without one, fails in CI.

    ``ECOMFLOW_CHROMIUM`` names one; else the first of chromium, chromium-browser,
    google-chrome on the PATH. ``ECOMFLOW_REQUIRE_BROWSER=1`` (set by .ci/run, as
    ``ECOMFLOW_REQUIRE_POSTGRES``) turns a missing browser or playwright into a failure.
    """
    reason = _browser_reason()
    if reason is not None:
        if os.environ.get("ECOMFLOW_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ECOMFLOW_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return _find_chromium()
