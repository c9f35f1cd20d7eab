"""Review of issue 10's store part: races the first round of tests did not pin."""

import threading
import time

import psycopg

from ecomflow.store import PostgresStore
from tests.test_store_errors import _counter


class _LaggingSession:
    """A connection whose COMMIT reaches the server but whose acknowledgement is late.

    The client sees the session drop while the server is still committing: the COMMIT
    lands a moment after the client gave up on it.
    """

    def __init__(self, real, delay):
        self._real, self._delay, self.broken, self.closed = real, delay, False, False
        self.committer = None

    def __getattr__(self, name):
        return getattr(self._real, name)

    def commit(self):
        def late():
            time.sleep(self._delay)
            self._real.commit()
            self._real.close()

        self.committer = threading.Thread(target=late)
        self.committer.start()
        self.broken = True
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    def close(self):
        pass  # the old session goes on until its COMMIT is through


def test_a_commit_that_lands_after_the_client_gave_up_is_not_reported_as_a_conflict(pg_dsn):
    with PostgresStore(pg_dsn) as store:
        tx = _counter(store)
        lagging = _LaggingSession(store._connection(), delay=0.5)
        store._local.db = lagging
        before = len(tx.events)
        tx.fire("bump")
        # The append landed; the store must say so, not raise ConcurrencyConflict (a
        # Repository would then fire the command again and apply it twice).
        store.append("counter", tx.events[before:], 1)
        lagging.committer.join(timeout=10)
        assert [e.version for e in store.load("C-1")[1]] == [0, 1, 1, 2, 2]
