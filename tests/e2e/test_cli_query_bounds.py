"""The `ledger` command's date, month and instant options have the API's bounds (1900-2199), and a
range that ends before it starts is refused: exit code 2 with a message naming the option, never a
traceback or an empty answer. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.helpers.cli import invoke


@pytest.mark.parametrize("args, message", [
    (("timeline", "-m", "657", "--as-of", "2019-06-01", "--known-at", "0001-01-01"), "known-at: 0001-01-01 is outside"),
    (("timeline", "-m", "657", "--as-of", "2019-06-01", "--known-at", "9999-12-31T00:00:00Z"), "is outside 1900-2199"),
    (("audit", "-m", "657", "--from", "0001-01-01"), "from: 0001-01-01 is outside 1900-2199"),
    (("audit", "-m", "657", "--to", "9999-12-31"), "to: 9999-12-31 is outside 1900-2199"),
    (("audit", "-m", "657", "--from", "2019-12-01", "--to", "2019-01-01"), "--from 2019-12-01 is after --to 2019-01-01"),
    (("billing", "invoices", "-m", "657", "--month", "0000-01"), "month must be YYYY-MM within 1900-2199"),
    (("billing", "export", "-m", "657", "--month", "2200-01", "--out", "-"), "month must be YYYY-MM within 1900-2199"),
    (("billing", "ageing", "-m", "657", "--as-of", "3000-01-01"), "as_of: 3000-01-01 is outside 1900-2199"),
    (("billing", "reminders", "-m", "657", "--date", "0001-01-01"), "date: 0001-01-01 is outside 1900-2199"),
    (("citizen", "as-of", "00000000-0000-4000-8000-000000000000", "--date", "0001-01-01"), "is outside 1900-2199"),
    (("citizen", "as-of", "00000000-0000-4000-8000-000000000000", "--date", "2019-06-01", "--known-at",
      "0001-01-01T00:00:00Z"), "known_at: 0001-01-01 is outside 1900-2199"),
    (("export", "evaluation", "-m", "657", "--out", "/tmp/never-written", "--as-of", "0001-01-01"),
     "as_of: 0001-01-01 is outside 1900-2199"),
])
def test_a_far_date_option_exits_with_code_2_naming_it(database_url, args, message):
    assert message in invoke(database_url, *args, code=2)
