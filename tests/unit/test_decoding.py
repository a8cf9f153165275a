"""One decoder for every reader: stored bytes to the typed event, through the library's mapper,
with class versions and upcasters that the application's repository applies too."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from uuid import uuid4

import orjson
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from ledger.domain.base import Context, LedgerAggregate
from ledger.domain.citizen import Citizen
from ledger.store.decoding import (
    DecodingError,
    aggregate_name,
    check_upcasters,
    decode,
    decode_row,
    decode_state,
    event_name,
    is_versioned,
    upcaster,
)
from ledger.store.transcoder import OrjsonTranscoder

CTX = Context("tester", "assessor", "cmd-1", datetime(2019, 3, 1, 12, tzinfo=timezone.utc))


class Parcel(LedgerAggregate):
    """A test aggregate whose event changed shape: version 1 stored whole kilograms, version 2 grams."""

    class Weighed(LedgerAggregate.Created):
        class_version = 2
        grams: int

        def apply(self, p: Parcel) -> None:
            p.grams = self.grams

    @classmethod
    def weigh(cls, ctx: Context, grams: int) -> Parcel:
        return cls._start(cls.Weighed, uuid4(), ctx, "2019-03-01", 657, grams=grams)


@upcaster(Parcel.Weighed, 1)
def _weighed_v1_v2(state: dict[str, Any]) -> None:
    state["grams"] = state.pop("kilos") * 1000


def _v1_payload(kilos: int) -> bytes:
    """What the code before version 2 stored: no class_version, whole kilograms."""
    return orjson.dumps({"effective": "2019-03-01", "municipality": 657, "actor": "old", "role": "assessor",
                         "command_id": "cmd-0", "timestamp": "2019-03-01T12:00:00+00:00",
                         "originator_topic": get_topic(Parcel), "kilos": kilos})


def test_an_old_payload_is_loaded_through_its_upcaster_into_the_current_shape():
    oid = uuid4()
    event = decode_row(get_topic(Parcel.Weighed), _v1_payload(3), oid, 1)
    assert isinstance(event, Parcel.Weighed)
    assert event.grams == 3000 and not hasattr(event, "kilos")
    assert event.originator_id == oid and event.timestamp == datetime(2019, 3, 1, 12, tzinfo=timezone.utc)
    assert event.mutate(None).grams == 3000  # type: ignore[attr-defined]


def test_the_plain_state_of_an_old_payload_is_upcast_too():
    state = decode_state(get_topic(Parcel.Weighed), _v1_payload(2))
    assert state["grams"] == 2000 and "kilos" not in state and "class_version" not in state
    assert state["timestamp"] == "2019-03-01T12:00:00+00:00"  # left as stored text for bulk readers


def test_a_current_payload_is_stored_with_its_class_version_and_read_unchanged():
    parcel = Parcel.weigh(CTX, 1250)
    stored = Mapper(transcoder=OrjsonTranscoder()).to_stored_event(parcel.collect_events()[0])
    assert orjson.loads(stored.state)["class_version"] == 2
    assert decode(stored).grams == 1250  # type: ignore[attr-defined]


def test_the_applications_repository_applies_the_same_upcasters():
    class App(Application):
        def construct_transcoder(self) -> OrjsonTranscoder:
            return OrjsonTranscoder()

    app = App()
    oid = uuid4()
    app.recorder.insert_events([StoredEvent(oid, 1, get_topic(Parcel.Weighed), _v1_payload(5))])
    assert app.repository.get(oid).grams == 5000


def test_a_real_event_decodes_to_the_object_the_domain_made():
    citizen = Citizen.register(CTX, uuid4(), 657, date(2019, 1, 1), "own_home", "municipal")
    made = citizen.collect_events()[0]
    stored = Mapper(transcoder=OrjsonTranscoder()).to_stored_event(made)
    event = decode(stored)
    assert type(event) is Citizen.CitizenRegistered and vars(event) == vars(made)
    assert (event_name(stored.topic), aggregate_name(stored.topic)) == ("CitizenRegistered", "Citizen")


def test_a_payload_from_a_newer_version_or_without_a_step_is_refused_clearly():
    newer = orjson.loads(_v1_payload(1)) | {"class_version": 3}
    with pytest.raises(DecodingError, match="version 3; this code knows 2"):
        decode_state(get_topic(Parcel.Weighed), orjson.dumps(newer))

    class Unsteppable(LedgerAggregate.Created):
        class_version = 2

    assert check_upcasters([Unsteppable]) == ["test_a_payload_from_a_newer_version_or_without_a_step_is_refused_"
                                              "clearly.<locals>.Unsteppable: no upcaster from version 1"]


def test_every_event_of_the_ledger_has_every_upcaster_its_version_needs():
    assert check_upcasters() == []


def test_only_versioned_topics_need_upcasting():
    assert is_versioned(get_topic(Parcel.Weighed)) and not is_versioned(get_topic(Citizen.CitizenRegistered))


def test_an_upcaster_is_registered_once_per_step():
    with pytest.raises(ValueError, match="already has an upcaster from version 1"):
        upcaster(Parcel.Weighed, 1)(lambda state: None)
