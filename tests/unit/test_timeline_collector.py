"""The timeline's totals are decoded with the cyclic garbage collector paused (ADR 0022, round 9):
it is paused only inside, given back as it was, also when the read fails, and left off where the
process had turned it off."""

from __future__ import annotations

import gc

import pytest

from ledger.projections.timeline_queries import _collector_paused


def test_the_collector_is_paused_inside_and_given_back_after_also_on_an_error():
    assert gc.isenabled()
    with _collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with _collector_paused():
            raise RuntimeError("the read failed")
    assert gc.isenabled()


def test_a_collector_the_process_turned_off_stays_off():
    gc.disable()
    try:
        with _collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
