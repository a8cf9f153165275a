"""Short reports for people: what was checked, how fast, and the first thing that does not hold."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from replay.chain import ChainCheck
from replay.invoice import Reproduction
from replay.verify import VerifyReport

OK = "[green]ok[/]"
BAD = "[bold red]FAILED[/]"


def render_problems(out: Console, check: ChainCheck) -> None:
    problems = sorted(check.problems)
    first = problems[0]
    out.print(f"[bold red]first problem:[/] {first.message}")
    for p in problems[1:20]:
        out.print(f"  also: {p.message}")
    shown = min(len(problems), 20)
    if check.problem_count > shown:
        out.print(f"  … and {check.problem_count - shown} more")


def render_verify(out: Console, report: VerifyReport) -> None:
    check = report.check
    out.print(f"[bold]Verifying[/] {report.source}")
    steps = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("step", "items", "seconds", "per second"):
        steps.add_column(column, justify="left" if column == "step" else "right")
    for step in report.steps:
        steps.add_row(step.name, f"{step.items:,}", f"{step.seconds:.2f}", f"{step.rate:,.0f}")
    out.print(steps)
    position, head = check.head
    out.print(f"chain: {check.checked:,} positions, {check.events:,} events, "
              f"{len(check.claims)} published head(s) checked: " + (OK if check.ok else BAD))
    # In the exact form `--expect-head` takes, so the line can be published and given back as it is.
    out.print(f"head: {position}:{head.hex()}")
    if report.comparison is not None:
        for r in report.comparison.results:
            if r.status == "not compared":
                out.print(f"projection {r.name}: [yellow]not compared[/] ({r.reason})")
            elif r.status == "equal":
                out.print(f"projection {r.name}: {len(r.tables)} table(s) equal to a rebuild from zero: {OK}")
            else:
                out.print(f"projection {r.name}: {BAD}" + (f" ({r.reason})" if r.reason else ""))
                for t in r.tables:
                    if not t.equal:
                        out.print(f"  table {t.table} differs from its rebuild (live {t.live_digest[:12]}…, "
                                  f"rebuilt {t.rebuilt_digest[:12]}…); first difference: {t.first_difference}")
    for note in report.notes:
        out.print(f"note: {note}")
    if not check.ok:
        render_problems(out, check)
    out.print("[bold green]VERIFIED[/]" if report.ok else "[bold red]NOT VERIFIED[/]")


def _money(v: Any) -> str:
    """Øre as the ledger's tables print them, Danish kroner with the unit (`2.214,00 kr.`, ADR 0018);
    a value a line does not have (a note's line has no unit price) is blank, never `None`."""
    from ledger.cli.tables import kr

    return kr(v) if isinstance(v, int) and not isinstance(v, bool) else _text(v)


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def render_invoice(out: Console, result: Reproduction) -> None:
    s = result.state
    if "invoice_number" in s:  # a debit or credit note (docs/adr/0011)
        kind = "Debit note" if "due_on" in s else "Credit note"
        out.print(f"[bold]{kind} {result.number}[/] on invoice {s.get('invoice_number')} (municipality "
                  f"{result.municipality}, issued {s.get('effective')}, at notification {result.notification_id}; "
                  f"{s.get('reason')})")
    else:
        out.print(f"[bold]Invoice {result.number}[/] (municipality {result.municipality}, month {s.get('month')}, "
                  f"issued {s.get('effective')}, at notification {result.notification_id}, "
                  f"chain head {s.get('chain_head', {}).get('position')})")
    lines = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("line", "kind", "date", "quantity", "unit price", "net", "vat", "gross", "reproduced"):
        lines.add_column(column, justify="left" if column in ("kind", "date", "reproduced") else "right")
    for line in result.lines:
        st = line.stored
        status = OK if line.ok else f"[red]{len(line.differences)} field(s) differ[/]" + (
            f"[red], {len(line.problems)} problem(s)[/]" if line.problems else "")
        lines.add_row(str(line.line_no), _text(line.kind), _text(st.get("date")), _text(st.get("quantity")),
                      _money(st.get("unit_price")), _money(st.get("net")), _money(st.get("vat")),
                      _money(st.get("gross")), status)
    out.print(lines)
    out.print(f"totals: net {_money(s.get('net'))}, vat {_money(s.get('vat'))}, gross {_money(s.get('gross'))}")
    for line in result.lines:
        for field, stored, recomputed in line.differences:
            out.print(f"  line {line.line_no}: {field}: stored {stored!r}, recomputed {recomputed!r}")
        for problem in line.problems:
            out.print(f"  line {line.line_no}: {problem}")
    for field, stored, recomputed in result.totals:
        out.print(f"  invoice {field}: stored {stored!r}, the recomputed lines add up to {recomputed!r}")
    out.print("[bold green]REPRODUCED EXACTLY[/]" if result.ok else "[bold red]NOT REPRODUCED[/]")
