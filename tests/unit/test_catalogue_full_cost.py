"""The full-cost rule of the catalogue (docs/adr/0027): each band's price is that band's full cost,
rounded up to whole kroner at most; the cost basis is stated per band; an old single basis reads
as the weekday daytime cost, the other bands' costs not stated."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson
import pytest
from eventsourcing.utils import get_topic
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.domain.catalogue import (PRICE_ROUNDING_ORE, Catalogue, catalogue_id, cost_basis,
                                     full_cost_rule, off_cost)
from ledger.domain.errors import InvalidInput, RuleViolated
from ledger.domain.pricing import band_costs
from ledger.domain.values import BANDS
from ledger.store.decoding import decode_row, decode_state
from tests.helpers.costs import at_cost, parts
from tests.unit.fakes import FakeLedger
from tests.unit.world import HERNING, PRICES, item, scheme

band_prices = st.fixed_dictionaries({b: st.integers(min_value=100, max_value=5_000_00) for b in BANDS})


def _ledger() -> FakeLedger:
    ledger = FakeLedger()
    scheme(ledger)
    item(ledger)
    return ledger


def _change(ledger: FakeLedger, prices: dict[str, int], basis: Any, effective: str = "2019-01-01") -> dict[str, Any]:
    return ledger.execute("change_price", {"municipality": HERNING, "offer_id": "clean", "effective": effective,
                                           "vat_class": "exempt", "prices": prices, "cost_basis": basis})


def _catalogue_events(ledger: FakeLedger) -> list[str]:
    return ledger.uow.events_of(catalogue_id(HERNING))


@given(band_prices)
def test_any_price_equal_to_its_bands_full_cost_is_taken(prices: dict[str, int]) -> None:
    full_cost_rule(prices, at_cost(prices))  # no refusal
    ledger = _ledger()
    _change(ledger, prices, at_cost(prices))
    assert _catalogue_events(ledger)[-1] == "PriceChanged"


@given(band_prices, st.sampled_from(BANDS), st.integers(min_value=1, max_value=10_000))
def test_a_band_priced_below_its_full_cost_is_refused_and_nothing_is_recorded(
        prices: dict[str, int], band: str, short: int) -> None:
    ledger = _ledger()
    before = _catalogue_events(ledger)
    basis = at_cost({**prices, band: prices[band] + short})
    with pytest.raises(RuleViolated) as refused:
        _change(ledger, prices, basis)
    assert refused.value.rule == "price-below-full-cost" and refused.value.details["band"] == band
    assert _catalogue_events(ledger) == before
    # and the catalogue is as it was: the same change at full cost is then taken
    _change(ledger, prices, at_cost(prices))
    assert _catalogue_events(ledger) == [*before, "PriceChanged"]


@given(band_prices, st.sampled_from(BANDS), st.integers(min_value=0, max_value=PRICE_ROUNDING_ORE - 1))
def test_a_price_rounded_up_to_whole_kroner_is_taken(prices: dict[str, int], band: str, over: int) -> None:
    basis = at_cost({**prices, band: max(prices[band] - over, 0)})
    full_cost_rule(prices, basis)


@given(band_prices, st.sampled_from(BANDS), st.integers(min_value=PRICE_ROUNDING_ORE, max_value=100_000))
def test_a_price_a_krone_or_more_above_its_full_cost_is_refused(prices: dict[str, int], band: str, over: int) -> None:
    ledger = _ledger()
    before = _catalogue_events(ledger)
    with pytest.raises(RuleViolated) as refused:
        _change(ledger, {**prices, band: prices[band] + over}, at_cost(prices))
    assert refused.value.rule == "price-above-full-cost" and refused.value.details["band"] == band
    assert _catalogue_events(ledger) == before


def test_evening_and_weekend_are_priced_from_their_own_dearer_costs() -> None:
    """Herning personal care 2021: 403 weekday daytime, 496 weekend, 665 evening kr. an hour excl. VAT
    (domain.md § 2): each band at its own cost is taken; one weekday basis for all three is not."""
    herning = {"weekday_day": 403_00, "evening": 665_00, "weekend": 496_00}
    full_cost_rule(herning, at_cost(herning))
    with pytest.raises(RuleViolated, match="the evening price"):
        full_cost_rule(herning, {b: parts(403_00) for b in BANDS})


def test_every_catalogue_command_applies_the_rule() -> None:
    ledger = _ledger()
    cheap = at_cost({**PRICES, "weekend": PRICES["weekend"] + 500})
    for command, payload in (
            ("add_item", {"municipality": HERNING, "item_id": "other", "name": "Other", "unit": "hour",
                          "fsiii": "H1.8", "vat_class": "exempt", "effective": "2018-06-01"}),
            ("add_package", {"municipality": HERNING, "package_id": "pack", "name": "Pack", "items": ["clean"],
                             "fsiii": "H1.8", "vat_class": "exempt", "effective": "2018-06-01"}),
            ("change_price", {"municipality": HERNING, "offer_id": "clean", "effective": "2019-01-01",
                              "vat_class": "exempt"}),
            ("correct_price_version", {"municipality": HERNING, "offer_id": "clean", "effective": "2018-06-01",
                                       "vat_class": "exempt", "reason": "the weekend wage was wrong"})):
        before = _catalogue_events(ledger)
        with pytest.raises(RuleViolated) as refused:
            ledger.execute(command, {**payload, "prices": PRICES, "cost_basis": cheap})
        assert refused.value.rule == "price-below-full-cost", command
        assert _catalogue_events(ledger) == before, command


def test_the_single_basis_of_before_is_refused_with_the_per_band_shape() -> None:
    ledger = _ledger()
    with pytest.raises(ValidationError, match="given per band"):
        _change(ledger, PRICES, parts(PRICES["weekday_day"]))
    with pytest.raises(InvalidInput, match="given per band"):  # the domain too, for callers without the schema
        cost_basis(parts(35_400))


def test_off_cost_names_below_above_and_not_stated() -> None:
    assert off_cost(35_400, 35_400) is None and off_cost(35_499, 35_400) is None
    assert off_cost(35_399, 35_400) == "below" and off_cost(35_500, 35_400) == "above"
    assert off_cost(66_500, None) == "cost not stated"
    assert off_cost(38_000, 35_400, tolerance_bp=800) is None  # the auditor's extra allowance


# -- the stored shape ------------------------------------------------------------------------


def _v1_item_added(cost: dict[str, int]) -> bytes:
    """An ItemAdded as the code before docs/adr/0027 stored it: no class_version, one basis."""
    return orjson.dumps({"timestamp": "2018-05-01T10:00:00+00:00", "effective": "2018-06-01", "municipality": 657,
                         "actor": "old", "role": "catalogue_manager", "command_id": "cmd-0", "item_id": "clean",
                         "name": "Extra cleaning", "unit": "hour", "fsiii": "H1.8", "vat_class": "exempt",
                         "prices": PRICES, "cost_basis": cost, "cancellation": {"notice_hours": 24, "fee_ore": 0}})


def test_an_old_single_basis_reads_as_the_weekday_daytime_cost_with_the_other_bands_not_stated() -> None:
    old = parts(35_400)
    event = decode_row(get_topic(Catalogue.ItemAdded), _v1_item_added(old), uuid4(), 2)
    assert isinstance(event, Catalogue.ItemAdded)
    assert event.cost_basis == {"weekday_day": old, "evening": None, "weekend": None}
    assert band_costs(event.cost_basis) == {"weekday_day": 35_400, "evening": None, "weekend": None}
    state = decode_state(get_topic(Catalogue.ItemAdded), _v1_item_added(old))
    assert state["cost_basis"]["weekday_day"] == old and "class_version" not in state


@pytest.mark.parametrize("event", [Catalogue.ItemAdded, Catalogue.PackageAdded, Catalogue.PriceChanged,
                                   Catalogue.PriceVersionCorrected])
def test_the_price_events_are_at_version_2_and_upcast_from_1(event: type) -> None:
    assert event.class_version == 2  # type: ignore[attr-defined]
    state: dict[str, Any] = {"cost_basis": parts(100)}
    event.upcast_v1_v2(state)  # type: ignore[attr-defined]
    assert state["cost_basis"] == {"weekday_day": parts(100), "evening": None, "weekend": None}


def test_a_new_version_is_stored_per_band_with_its_class_version() -> None:
    from eventsourcing.persistence import Mapper

    from ledger.store.transcoder import OrjsonTranscoder

    ledger = _ledger()
    [_, added] = ledger.uow.committed[catalogue_id(HERNING)]
    stored = orjson.loads(Mapper(transcoder=OrjsonTranscoder()).to_stored_event(added).state)
    assert stored["class_version"] == 2 and stored["cost_basis"] == at_cost(PRICES)
