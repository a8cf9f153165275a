"""The municipality-level commands: each trial's scheme, its catalogue and price changes, and the
monthly invoice runs and reminder runs."""

from __future__ import annotations

from collections.abc import Iterator

from ledger.generate.clock import DAY, at, day_of, iso_date
from ledger.generate.commands import Cmd
from ledger.generate.world import NETWORK_NAMES, World


def _manager(m: int) -> str:
    return f"catalogue-{m}"


def setup(world: World, m: int) -> Iterator[Cmd]:
    """Scheme, rules, catalogue items and packages, price changes and retirements of one municipality."""
    trial = world.trials[m]
    rng = world.rng("setup", m)
    established = at(trial.approved - rng.randrange(20, 40), 9, rng.randrange(60))
    networks = " og ".join(f"netværket «{NETWORK_NAMES[n]}»" for n in trial.networks)
    yield Cmd(established, "establish_scheme", {
        "municipality": m, "name": f"Frikommuneforsøg: tilkøb af serviceydelser ({networks})",
        "window_start": iso_date(trial.window_start), "window_end": iso_date(trial.window_end),
        "sections": list(trial.sections), "minimum_minutes": trial.minimum_minutes,
        "increment_minutes": trial.increment_minutes, "requires_municipal_provider": True,
    }, _manager(m), "catalogue_manager", trial.window_start)
    if trial.rules_change is not None:
        effective, minimum, increment = trial.rules_change
        yield Cmd(at(effective - 25, 10, 0), "change_scheme_rules", {
            "municipality": m, "effective": iso_date(effective), "sections": list(trial.sections),
            "minimum_minutes": minimum, "increment_minutes": increment, "requires_municipal_provider": True,
        }, _manager(m), "catalogue_manager", effective)
    catalogue = world.catalogues[m]
    # Items before the packages made of them.
    offers = sorted(catalogue.offers.values(), key=lambda o: (o.spec.unit == "package", o.spec.offer_id))
    for k, offer in enumerate(offers):
        spec, first = offer.spec, offer.versions[0]
        payload = {"municipality": m, ("package_id" if spec.unit == "package" else "item_id"): spec.offer_id,
                   "name": spec.name}
        if spec.unit == "package":
            payload["items"] = list(spec.items)
        else:
            payload["unit"] = spec.unit
        payload.update({"fsiii": spec.fsiii, "vat_class": first.vat_class, "prices": first.prices,
                        "cost_basis": first.cost_basis, "effective": iso_date(offer.added),
                        "cancellation": {"notice_hours": spec.notice_hours, "fee_ore": spec.fee_ore}})
        kind = "add_package" if spec.unit == "package" else "add_item"
        yield Cmd(offer.added_recorded + 60 * k, kind, payload, _manager(m), "catalogue_manager", offer.added)
        for v in offer.versions[1:]:
            yield Cmd(v.recorded + k, "change_price", {
                "municipality": m, "offer_id": spec.offer_id, "effective": iso_date(v.effective),
                "vat_class": v.vat_class, "prices": v.prices, "cost_basis": v.cost_basis,
            }, _manager(m), "catalogue_manager", v.effective)
        if offer.retired is not None:
            assert offer.retired_recorded is not None
            yield Cmd(offer.retired_recorded, "retire_offer", {"municipality": m, "offer_id": spec.offer_id,
                                                               "effective": iso_date(offer.retired)},
                      _manager(m), "catalogue_manager", offer.retired)


def invoice_runs(world: World, m: int, first: int | None) -> Iterator[Cmd]:
    """The monthly invoice runs, from the first month with something to invoice (`first`, an index
    into World.runs[m]; None: nothing is ever sold, so no runs)."""
    if first is None:
        return
    for month, _last, instant in world.runs[m][first:]:
        run_day = day_of(instant)
        yield Cmd(instant, "run_invoices", {"municipality": m, "month": month, "run_date": iso_date(run_day)},
                  f"billing-{m}-1", "billing_clerk", run_day, command_id=f"run.{m}.{month}")


def reminder_runs(m: int, days: list[int]) -> Iterator[Cmd]:
    for day in days:
        yield Cmd(at(day, 4, 0), "issue_reminders", {"municipality": m, "date": iso_date(day)},
                  f"billing-{m}-1", "billing_clerk", day, command_id=f"rem.{m}.{iso_date(day)}")


__all__ = ["DAY", "invoice_runs", "reminder_runs", "setup"]
