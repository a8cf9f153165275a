"""`LedgerAggregate._record` builds an event without the library's constructor only where the
object is the same: the same fields, set in the same order (so the stored JSON is the same bytes)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from uuid import uuid4

from eventsourcing.domain import Aggregate

import ledger.domain as domain_package
from ledger.domain import (account, assessment, catalogue, citizen, delivery, interest, invoice_series, klippekort,
                           order, scheme, survey)
from ledger.domain.base import LedgerAggregate, _plain_fields

MODULES = (account, assessment, catalogue, citizen, delivery, interest, invoice_series, klippekort, order, scheme,
           survey)


def _event_classes() -> list[type]:
    found = []
    for module in MODULES:
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, LedgerAggregate) and obj is not LedgerAggregate:
                for member in vars(obj).values():
                    if isinstance(member, type) and issubclass(member, Aggregate.Event) \
                            and not issubclass(member, Aggregate.Created):
                        found.append(member)
    return found


def test_every_plain_event_class_is_built_as_its_constructor_builds_it() -> None:
    classes = _event_classes()
    assert len(classes) > 20, domain_package.__name__
    plain = 0
    for cls in classes:
        names = _plain_fields(cls)
        if names is None:
            continue
        plain += 1
        assert names == tuple(f.name for f in dataclasses.fields(cls))
        values = {n: f"value of {n}" for n in names}
        values.update(originator_id=uuid4(), originator_version=3, timestamp=datetime(2019, 1, 1, tzinfo=timezone.utc))
        built = cls(**values)
        fast = object.__new__(cls)
        fast.__dict__.update({n: values[n] for n in names})
        assert list(vars(fast).items()) == list(vars(built).items()), cls
        assert fast == built
    assert plain > 20


def test_a_class_with_a_post_init_or_a_default_is_left_to_the_library() -> None:
    class Thing(LedgerAggregate):
        class Checked(LedgerAggregate.Event):
            extra: str

            def __post_init__(self) -> None:
                super().__post_init__()

        class Defaulted(LedgerAggregate.Event):
            extra: str = "x"

    assert _plain_fields(Thing.Checked) is None
    assert _plain_fields(Thing.Defaulted) is None
