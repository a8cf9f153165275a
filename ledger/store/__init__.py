"""The event store: the eventsourcing library's recorders, with JSON via orjson, a hash chain
written in the same transaction as each event, and the record of every command (idempotency)."""

from ledger.store import upcasters as _upcasters  # noqa: F401  (attached before anything decodes)
