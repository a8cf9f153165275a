"""The domain of the add-on ledger, in its own words.

One module per aggregate, each with its events nested and named as past-tense facts. The package
imports nothing but the standard library and the eventsourcing library's pure domain module
(see docs/adr/0001-event-store.md): no web framework, no database driver, no settings.
"""
