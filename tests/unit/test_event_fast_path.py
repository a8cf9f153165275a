"""`LedgerAggregate._record` (and `_start`, with its aggregate) builds an event without the library's constructor only where the
object is the same: the same fields, set in the same order (so the stored JSON is the same bytes)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate

import ledger.domain as domain_package
from ledger.domain import (account, assessment, catalogue, citizen, delivery, interest, invoice_series, klippekort,
                           order, scheme, survey)
from ledger.domain.base import Context, LedgerAggregate, _plain_fields

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


def _created_classes() -> list[tuple[type, type]]:
    found = []
    for module in MODULES:
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, LedgerAggregate) and obj is not LedgerAggregate:
                found += [(obj, member) for member in vars(obj).values()
                          if isinstance(member, type) and issubclass(member, Aggregate.Created)]
    return found


def test_every_aggregate_is_started_as_the_librarys_create_starts_it() -> None:
    """`_start` against `_create`: the same event (fields in the same order) and the same aggregate."""
    ctx = Context("someone", "assessor", "c-1", datetime(2019, 1, 1, tzinfo=timezone.utc))
    pairs = _created_classes()
    assert len(pairs) >= 10
    compared = 0
    for agg_cls, event_cls in pairs:
        names = _plain_fields(event_cls)
        assert names is not None, event_cls
        fields = {n: f"value of {n}" for n in names if n not in {*LedgerAggregate._common(ctx, "", 0), "originator_id",
                                                                   "originator_version", "originator_topic"}}
        aid = uuid4()
        try:
            library = agg_cls._create(event_cls, id=aid, **LedgerAggregate._common(ctx, "2019-01-01", 657), **fields)
        except Exception as e:  # its apply() wants other values than these texts: refused the same way
            with pytest.raises(type(e)):
                agg_cls._start(event_cls, aid, ctx, "2019-01-01", 657, **fields)
            continue
        compared += 1
        fast = agg_cls._start(event_cls, aid, ctx, "2019-01-01", 657, **fields)
        (built,), (made,) = library.pending_events, fast.pending_events
        assert list(vars(made).items()) == list(vars(built).items()), event_cls
        assert {k: v for k, v in vars(fast).items() if k != "_pending_events"} == \
            {k: v for k, v in vars(library).items() if k != "_pending_events"}, agg_cls
        assert type(fast) is type(library)
    assert compared >= len(pairs) - 2


def test_a_start_with_a_field_too_many_is_refused_as_the_library_refuses_it() -> None:
    ctx = Context("someone", "assessor", "c-1", datetime(2019, 1, 1, tzinfo=timezone.utc))
    agg_cls, event_cls = _created_classes()[0]
    with pytest.raises(TypeError):
        agg_cls._start(event_cls, uuid4(), ctx, "2019-01-01", 657, no_such_field=1)
