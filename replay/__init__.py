"""The auditors' tool, `ledger-replay` (replay.cli): tamper evidence, rebuilds, exact invoices.

store        reading a store's event and chain rows as stored (SQLite SELECT, PostgreSQL COPY)
chain        joining them and checking every link, gap, order and published head (ADR 0007)
verify       the `verify` steps, timed; projections     scratch rebuilds compared by digest
snapshot     `rebuild --known-at`; views     the query modules' answers written by it
invoice      reproducing an issued invoice from the events before it
archive      the portable archive: `export` and `verify --archive`
render, progress, errors     what people see
"""
