"""A generated command before it becomes a line of the import file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ledger.generate.clock import iso_date, iso_instant


@dataclass(slots=True)
class Cmd:
    t: int  # recorded instant (UTC seconds)
    type: str
    payload: dict[str, Any]
    actor: str
    role: str
    effective: int  # ordinal: the date the command is about
    seq: int = 0  # order among a generator's own commands with the same instant
    command_id: str = ""
    assessment: bool = False  # causes exactly one event on the citizen's Assessment
    corrects: Cmd | None = None  # correct_grant: the command whose event it corrects
    version: int = 0  # the Assessment version its event gets (set once the life is in order)
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> bytes:
        return orjson.dumps({
            "type": self.type,
            "command_id": self.command_id,
            "effective": iso_date(self.effective),
            "recorded": iso_instant(self.t),
            "actor": {"id": self.actor, "role": self.role},
            "payload": self.payload,
        })
