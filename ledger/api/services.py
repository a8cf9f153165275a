"""What one server process holds: one Ledger application, the record index, the access log and the
projection follower. Built once per process by the app's lifespan and closed with it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ledger.access_log import AccessLog
from ledger.api.config import ApiConfig
from ledger.projections.follower import Follower
from ledger.api.tenancy import Records
from ledger.api.writer import Writer
from ledger.db import Database
from ledger.settings import Settings


@contextmanager
def _one_at_a_time(url: str) -> Iterator[None]:
    """On PostgreSQL, a session advisory lock (per schema) around opening the store: the worker
    processes of `ledger serve --workers N` start at once, and each Ledger creates the library's
    tables and functions; two CREATE OR REPLACE FUNCTION of one name at the same moment fail with
    "tuple concurrently updated", and that worker never starts."""
    db = Database(url)
    if not db.is_postgres:
        yield
        return
    import psycopg

    with psycopg.connect(db.config.conninfo, autocommit=True) as conn:  # the lock ends with the session
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (db.advisory_key("ledger-store-ddl"),))
        yield


@dataclass
class Services:
    settings: Settings
    config: ApiConfig
    ledger: Any  # ledger.application.ledger.Ledger
    records: Records
    access: AccessLog
    follower: Follower
    writer: Writer

    @classmethod
    def open(cls, settings: Settings, config: ApiConfig) -> Services:
        from ledger.application.ledger import Ledger

        with _one_at_a_time(settings.database_url):
            ledger = Ledger(settings)
        try:
            access = AccessLog(ledger.db)
            access.ensure_table()
            follower = Follower(ledger.db, config.catch_up_seconds)
            follower.engine.ensure_tables()
        except BaseException:
            ledger.close()
            raise
        writer = Writer(ledger, config.max_batch, config.writers)
        if config.max_batch > 1:
            writer.start()
        if config.follow:
            follower.start()
        return cls(settings, config, ledger, Records(ledger), access, follower, writer)

    def close(self) -> None:
        self.writer.stop()
        self.follower.stop()
        self.ledger.close()
