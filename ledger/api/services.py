"""What one server process holds: one Ledger application, the record index, the access log and the
projection follower. Built once per process by the app's lifespan and closed with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.access_log import AccessLog
from ledger.api.config import ApiConfig
from ledger.api.follower import Follower
from ledger.api.tenancy import Records
from ledger.api.writer import Writer
from ledger.settings import Settings


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
