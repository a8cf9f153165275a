"""A citizen as the ledger knows them: a pseudonym, a municipality, a residence, a provider.

No CPR number or name is ever here; those live in the erasable identity store (ledger.identity).
The chosen provider of granted help and the kind of residence both change from dates.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate
from ledger.domain.errors import InvalidInput, rule
from ledger.domain.values import RESIDENCES, iso, one_of

_PRIVATE = re.compile(r"^private:[\w .&/\-]{1,80}$")


def provider(value: object) -> str:
    """'municipal' or 'private:<provider name>' (a business name, never a person)."""
    if value == "municipal" or (isinstance(value, str) and _PRIVATE.match(value)):
        return value
    raise InvalidInput(f"provider must be 'municipal' or 'private:<name>', got {value!r}", field="provider")


def value_on(history: list[tuple[str, str]], d: date) -> str | None:
    """The value in force on d of a dated history in date order (a later entry of the same date
    wins), None before its first date."""
    s, current = iso(d), None
    for eff, value in history:
        if eff <= s:
            current = value
    return current


class Citizen(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        registered_on: str
        providers: list[tuple[str, str]]
        residences: list[tuple[str, str]]
        erased: bool
        provider_refs: list[tuple[str, str]]

    class CitizenRegistered(LedgerAggregate.Created):
        residence: str
        provider: str

        def apply(self, c: Citizen) -> None:
            c.municipality = self.municipality
            c.registered_on = self.effective
            c.providers = [(self.effective, self.provider)]
            c.residences = [(self.effective, self.residence)]
            c.erased = False
            c.provider_refs = []  # (effective, the ProviderChosen event's ref)

    class ProviderChosen(LedgerAggregate.Event):
        provider: str

        def apply(self, c: Citizen) -> None:
            c.providers = sorted([*c.providers, (self.effective, self.provider)], key=lambda p: p[0])
            c.provider_refs = sorted([*c.provider_refs, (self.effective, f"{self.originator_id}:{self.originator_version}")])

    class ResidenceChanged(LedgerAggregate.Event):
        residence: str

        def apply(self, c: Citizen) -> None:
            c.residences = sorted([*c.residences, (self.effective, self.residence)], key=lambda p: p[0])

    class CitizenIdentityErased(LedgerAggregate.Event):
        """The identity (CPR, name) was destroyed; amounts, dates and codes stay intact."""

        def apply(self, c: Citizen) -> None:
            c.erased = True

    @classmethod
    def register(cls, ctx: Context, citizen_id: UUID, municipality: int, effective: date,
                 residence: str, provider_: str) -> Citizen:
        one_of(residence, RESIDENCES, "residence")
        provider(provider_)
        return cls._start(cls.CitizenRegistered, citizen_id, ctx, iso(effective), municipality,
                          residence=residence, provider=provider_)

    def choose_provider(self, ctx: Context, effective: date, provider_: str) -> None:
        provider(provider_)
        rule(iso(effective) >= self.registered_on, "before-registration",
             f"provider change {effective} is before the citizen was registered ({self.registered_on})")
        self._record(self.ProviderChosen, ctx, iso(effective), provider=provider_)

    def change_residence(self, ctx: Context, effective: date, residence: str) -> None:
        one_of(residence, RESIDENCES, "residence")
        rule(iso(effective) >= self.registered_on, "before-registration",
             f"residence change {effective} is before the citizen was registered ({self.registered_on})")
        self._record(self.ResidenceChanged, ctx, iso(effective), residence=residence)

    def mark_erased(self, ctx: Context, effective: date) -> None:
        if not self.erased:
            self._record(self.CitizenIdentityErased, ctx, iso(effective))

    def provider_ref_on(self, d: date) -> str | None:
        """The event that chose the provider in force on d (None: the one registered with)."""
        return value_on(self.provider_refs, d)

    def provider_on(self, d: date) -> str | None:
        return value_on(self.providers, d)

    def residence_on(self, d: date) -> str | None:
        return value_on(self.residences, d)
