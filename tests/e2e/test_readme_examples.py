"""The README's examples and the demo tour's printed commands and API paths, run as a newcomer
runs them: in the folder of a fresh demo (the smallest scale they are checked on), each in a shell. Each must exit 0
and answer something: not "no invoices", not a section of "none", not a file of 0 lines."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import demo_store

README = Path(__file__).resolve().parents[2] / "README.md"
EMPTY = ("no invoices", ": none", "wrote 0 lines", ": 0 rows", "nothing to show", "not in a window", "0 invoices")


def readme_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- examples:", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def readme_paths() -> list[str]:
    return re.findall(r"`GET (/[^`\s]+)`", README.read_text(encoding="utf-8"))


def tour_commands(tour: str) -> list[str]:
    return [re.sub(r"\s+#.*$", "", m) for m in re.findall(r"^\s+\$ (.+)$", tour, flags=re.M)]


def tour_paths(tour: str) -> list[str]:
    return re.findall(r"^\s+API: GET (\S+)$", tour, flags=re.M)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return demo_store.sqlite_copy(tmp_path_factory, "newcomer")  # the folder is this module's own


def run(where: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, cwd=where, env=demo_store.env(), capture_output=True, text=True,
                          timeout=180)


def answered(command: str, done: subprocess.CompletedProcess[str]) -> str | None:
    """None when the command answered something; else what went wrong."""
    said = done.stdout + done.stderr
    if done.returncode != 0:
        return f"{command}: exit {done.returncode}: {said[-800:]}"
    if "Traceback" in said:
        return f"{command}: a traceback: {said[-800:]}"
    if not said.strip():
        return f"{command}: printed nothing"
    empty = [e for e in EMPTY if e in said]
    return f"{command}: answered nothing ({empty}): {said[:800]}" if empty else None


def test_the_readme_has_examples_and_the_tour_prints_commands_and_paths(demo):
    _, tour = demo
    assert len(readme_examples()) >= 10
    assert len(tour_commands(tour)) >= 5 and len(tour_paths(tour)) >= 3
    # The demo's planted corrections are shown where a user finds them.
    assert {"billing reconcile", "billing debit-notes", "--section ineligible"} <= {
        part for command in tour_commands(tour) for part in
        ("billing reconcile", "billing debit-notes", "--section ineligible") if part in command}
    assert readme_paths()


def test_every_readme_example_answers_on_the_demo(demo):
    where, _ = demo
    problems = [p for command in readme_examples() if (p := answered(command, run(where, command)))]
    assert not problems, "\n".join(problems)
    # What the examples wrote is there and holds rows.
    assert len((where / "koebenhavn-2018-04.csv").read_text(encoding="utf-8").splitlines()) > 1
    assert (where / "for-excel.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert sorted(p.name for p in (where / "timeline-2018-04").iterdir()) == [
        "catalogue.csv", "granted_minutes.csv", "summary.csv", "surveys.csv"]


def test_every_command_the_tour_prints_answers(demo):
    where, tour = demo
    problems = [p for command in tour_commands(tour) if (p := answered(command, run(where, command)))]
    assert not problems, "\n".join(problems)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_api_path_of_the_tour_and_the_readme_answers_200_on_ledger_serve(demo):
    where, tour = demo
    port = _free_port()
    server = subprocess.Popen(shlex.split(f"ledger serve --dev-token --port {port}"), cwd=where,
                              env=demo_store.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        lines: list[str] = []
        while not any("serving the ledger API" in line for line in lines):
            line = server.stderr.readline()
            assert line, "ledger serve stopped: " + "".join(lines)
            lines.append(line)
        token = next(line.split()[0] for line in lines if line.strip().startswith("dev-"))
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ledger serve did not answer /health"
            time.sleep(0.2)
        problems = []
        for path in [*tour_paths(tour), *readme_paths()]:
            got = httpx.get(base + path, headers=headers, timeout=30)
            if got.status_code != 200 or not got.content.strip() or got.content.strip() in (b"[]", b"{}"):
                problems.append(f"GET {path}: {got.status_code} {got.text[:300]}")
            elif path.startswith("/billing/export.csv"):  # one tidy table, the totals in headers
                rows = got.text.strip().splitlines()[1:]
                if int(got.headers["X-Export-Lines"]) != len(rows) or not rows:
                    problems.append(f"GET {path}: {len(rows)} rows, X-Export-Lines {got.headers['X-Export-Lines']}")
        assert not problems, "\n".join(problems)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
