"""The national service vocabulary, Fælles Sprog III (FSIII), as shipped in ledger/data.

Only the H-codes (municipal care and support services) can be granted or sold; the catalogue
relates each add-on to one of them so the audit can compare add-ons with granted services.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files


@lru_cache(maxsize=1)
def service_codes() -> dict[str, str]:
    """code → Danish name, for every FSIII service (H…) code."""
    text = files("ledger").joinpath("data/fsiii_codes.txt").read_text(encoding="utf-8")
    codes: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split("\t")
        if len(parts) >= 2 and parts[0].startswith("H"):
            codes[parts[0]] = parts[1]
    return codes


def known_code(code: str) -> bool:
    return code in service_codes()


def category(code: str) -> str:
    """The grouping the audit compares within: H1.8 → H1.8 (services are already leaf codes)."""
    return code
