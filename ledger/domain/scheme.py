"""A municipality's add-on trial: the sections it covers, its windows and its billing rules.

One Scheme per municipality (id from the municipality code). A scheme can hold several windows
(trial periods) and its rules can change from a date; both are data, never code.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate, key_id
from ledger.domain.errors import AlreadyExists, InvalidInput, rule
from ledger.domain.values import SECTIONS, iso, whole


def scheme_id(municipality: int) -> UUID:
    return key_id("scheme", municipality)


def _rules(sections: list[str], minimum_minutes: int, increment_minutes: int, requires_municipal_provider: bool) -> dict[str, Any]:
    if not sections:
        raise InvalidInput("a scheme must cover at least one section", field="sections")
    for s in sections:
        if s not in SECTIONS:
            raise InvalidInput(f"section {s!r} is not one of {', '.join(SECTIONS)}", field="sections")
    whole(minimum_minutes, "minimum_minutes", low=0, high=8 * 60)
    whole(increment_minutes, "increment_minutes", low=1, high=8 * 60)
    if not isinstance(requires_municipal_provider, bool):
        raise InvalidInput("requires_municipal_provider must be true or false", field="requires_municipal_provider")
    return {
        "sections": sorted(set(sections)),
        "minimum_minutes": minimum_minutes,
        "increment_minutes": increment_minutes,
        "requires_municipal_provider": requires_municipal_provider,
    }


class Scheme(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        name: str
        windows: list[tuple[str, str]]
        rule_versions: list[tuple[str, dict[str, Any]]]
        # "rules": {effective: ref}, "windows": [ref, ...], "window_of": {window start: its last event's ref}
        refs: dict[str, Any]

    class SchemeEstablished(LedgerAggregate.Created):
        name: str
        window_start: str
        window_end: str
        rules: dict[str, Any]

        def apply(self, s: Scheme) -> None:
            s.municipality = self.municipality
            s.name = self.name
            s.windows = [(self.window_start, self.window_end)]
            s.rule_versions = [(self.window_start, self.rules)]
            ref = f"{self.originator_id}:{self.originator_version}"
            s.refs = {"rules": {self.window_start: ref}, "windows": [ref], "window_of": {self.window_start: ref}}

    class SchemeWindowOpened(LedgerAggregate.Event):
        window_start: str
        window_end: str

        def apply(self, s: Scheme) -> None:
            s.windows = sorted([*s.windows, (self.window_start, self.window_end)])
            s.refs.setdefault("window_of", {})[self.window_start] = f"{self.originator_id}:{self.originator_version}"

    class SchemeWindowChanged(LedgerAggregate.Event):
        """A window's end moved (extended, or closed early); `window_start` names the window."""

        window_start: str
        window_end: str

        def apply(self, s: Scheme) -> None:
            s.windows = [(a, self.window_end if a == self.window_start else b) for a, b in s.windows]
            ref = f"{self.originator_id}:{self.originator_version}"
            s.refs["windows"].append(ref)
            s.refs.setdefault("window_of", {})[self.window_start] = ref

    class SchemeRulesChanged(LedgerAggregate.Event):
        rules: dict[str, Any]

        def apply(self, s: Scheme) -> None:
            s.rule_versions = sorted([*s.rule_versions, (self.effective, self.rules)], key=lambda v: v[0])
            s.refs["rules"][self.effective] = f"{self.originator_id}:{self.originator_version}"

    # State (set by the events' apply methods): municipality, name, windows [(start, end)],
    # rule_versions [(effective, rules)]. No class annotations: the library would make them fields.

    # -- commands --------------------------------------------------------------------------
    @classmethod
    def establish(cls, ctx: Context, municipality: int, name: str, window_start: date, window_end: date,
                  sections: list[str], minimum_minutes: int, increment_minutes: int,
                  requires_municipal_provider: bool) -> Scheme:
        if not name or not name.strip():
            raise InvalidInput("a scheme needs a name", field="name")
        rule(window_start <= window_end, "window-order", f"window starts {window_start} after it ends {window_end}")
        rules = _rules(sections, minimum_minutes, increment_minutes, requires_municipal_provider)
        return cls._start(cls.SchemeEstablished, scheme_id(municipality), ctx, iso(window_start), municipality,
                          name=name.strip(), window_start=iso(window_start), window_end=iso(window_end), rules=rules)

    def open_window(self, ctx: Context, start: date, end: date) -> None:
        rule(start <= end, "window-order", f"window starts {start} after it ends {end}")
        for a, b in self.windows:
            rule(iso(end) < a or iso(start) > b, "window-overlap", f"window {start}..{end} overlaps {a}..{b}")
        self._record(self.SchemeWindowOpened, ctx, iso(start), window_start=iso(start), window_end=iso(end))

    def change_window_end(self, ctx: Context, window_start: date, new_end: date) -> None:
        starts = [a for a, _ in self.windows]
        if iso(window_start) not in starts:
            raise InvalidInput(f"the scheme has no window starting {window_start}", field="window_start")
        rule(window_start <= new_end, "window-order", f"window starts {window_start} after it ends {new_end}")
        self._record(self.SchemeWindowChanged, ctx, iso(new_end), window_start=iso(window_start), window_end=iso(new_end))

    def change_rules(self, ctx: Context, effective: date, sections: list[str], minimum_minutes: int,
                     increment_minutes: int, requires_municipal_provider: bool) -> None:
        rules = _rules(sections, minimum_minutes, increment_minutes, requires_municipal_provider)
        self._record(self.SchemeRulesChanged, ctx, iso(effective), rules=rules)

    # -- queries ---------------------------------------------------------------------------
    def window_ref_before(self, d: date) -> str:
        """The event that last set the window a day outside every window fell in or after: when a
        billed day is outside the windows now, that event (a window closed early) is why."""
        s, of = iso(d), self.refs.get("window_of", {})
        started = [a for a, _ in self.windows if a <= s and a in of]
        ref: str = of[max(started)] if started else self.refs["windows"][-1]
        return ref

    def window_on(self, d: date) -> tuple[str, str] | None:
        s = iso(d)
        for a, b in self.windows:
            if a <= s <= b:
                return (a, b)
        return None

    def rules_ref_on(self, d: date) -> str:
        """The event that set the rules in force on d."""
        s, refs = iso(d), self.rules_refs
        return max(((e, r) for e, r in refs.items() if e <= s), default=min(refs.items()))[1]

    @property
    def rules_refs(self) -> dict[str, str]:
        """effective date → the event that set the rules from that date."""
        refs: dict[str, str] = self.refs["rules"]
        return refs

    def rules_on(self, d: date) -> dict[str, Any]:
        s = iso(d)
        current = self.rule_versions[0][1]
        for eff, r in self.rule_versions:
            if eff <= s:
                current = r
        return current


def ensure_new(existing: object, what: str) -> None:
    if existing is not None:
        raise AlreadyExists(f"{what} already exists")
