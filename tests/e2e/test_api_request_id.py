"""Through the whole app: the id a response echoes is the one its log lines carry."""

from __future__ import annotations

import structlog

from tests.helpers.api import api_client, auth


def test_the_request_id_a_response_echoes_is_the_one_in_its_log_lines(tmp_path):
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs, \
            api_client(f"sqlite:///{tmp_path / 'l.db'}") as client:
        given = client.post("/schemes", headers=auth("auditor-657", X_Request_ID="req-7"), json={})
        made = client.get("/billing/invoices", headers=auth("clerk-657"))
    assert given.headers["x-request-id"] == "req-7" and given.json()["request_id"] == "req-7"
    assert {e["event"] for e in logs if e.get("request_id") == "req-7"} >= {"refused", "request"}
    made_id = made.headers["x-request-id"]
    assert [e["status"] for e in logs if e["event"] == "request" and e.get("request_id") == made_id] == [200]
