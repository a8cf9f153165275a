"""Property-based requests against the served OpenAPI document (schemathesis): whatever is sent,
with a valid token or without, the answer is never a 5xx and always matches the document (status
code, content type, body schema), and a request the document calls valid is never refused as
malformed (the document states the constraints validation enforces: municipality codes, date
ranges, the If-Match and Idempotency-Key forms). SQLite, bounded by the hypothesis
profile (a few minutes)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from ledger.application.commands import by_name
from ledger.api.config import ApiConfig
from ledger.api.main import create_app
from ledger.api.services import Services
from conftest import PROFILE
from tests.helpers.api import auth, build_world, test_tokens
from ledger.settings import Settings

import re

EXAMPLES = {name: dict(spec.example) for name, spec in by_name().items()}


# Refused as malformed: these must never answer a request the document calls valid.
MALFORMED = frozenset({"bad-request", "invalid-request", "precondition-not-applicable", "unsupported-media-type"})
# invalid-input is also a domain refusal of a well-typed value (a minute count out of its range, an
# unknown FSIII code, a grant id already used); only the constraints the document states count here.
STATED = re.compile(r"municipality|is outside 1900-2199|date must lie between")
# Depends on who asks, not on the request: an administrator may read every municipality, so must name one.
CALLER_DEPENDENT = re.compile(r"^give the municipality")


@schemathesis.check
def schema_valid_requests_are_not_refused_as_malformed(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 412, 415, 422, 428):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    code, detail = str(body.get("code")), str(body.get("detail"))
    if (code in MALFORMED and not CALLER_DEPENDENT.search(detail)) or (code == "invalid-input" and STATED.search(detail)):
        raise AssertionError(f"{case.operation.label}: a schema-valid request was refused as malformed: "
                             f"{response.status_code} {code}: {detail}")
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          schema_valid_requests_are_not_refused_as_malformed]


# The app is built at import (it touches no database until its services are opened); the document
# schemathesis reads is the one the app serves at /openapi.json. The folder is only named here; the
# fixture creates it and removes it.
FOLDER = Path(tempfile.gettempdir()) / f"ledger-fuzz-{uuid.uuid4().hex[:12]}"
SETTINGS = Settings(database_url=f"sqlite:///{FOLDER / 'ledger.db'}")
CONFIG = ApiConfig(follow=True, catch_up_seconds=0.2, read_wait_seconds=0.5)
APP = create_app(SETTINGS, tokens=test_tokens(), config=CONFIG)
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP
# Generated cases per operation: 8 under the fast `ci` profile, 15 under any other (thorough);
# LEDGER_FUZZ_EXAMPLES=N sets it.
FUZZ = settings(max_examples=int(os.environ.get("LEDGER_FUZZ_EXAMPLES") or (8 if PROFILE == "ci" else 15)),
                deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def services() -> Iterator[None]:
    from fastapi.testclient import TestClient

    # The services belong to this fixture: schemathesis runs the app's lifespan on its own schedule.
    FOLDER.mkdir(parents=True)
    APP.state.services = Services.open(SETTINGS, CONFIG)
    try:
        with TestClient(APP) as client:
            build_world(client, 1)
            # The ids the OpenAPI examples use exist, so example-based cases reach the business rules.
            client.post("/citizens", headers=auth("admin"), json={
                **EXAMPLES["register_citizen"], "citizen_id": EXAMPLES["award_grant"]["citizen_id"]})
            client.post("/grants", headers=auth("admin"), json=EXAMPLES["award_grant"])
            client.post("/orders", headers=auth("admin"), json={
                **EXAMPLES["place_order"], "order_id": EXAMPLES["record_delivery"]["order_id"]})
        yield
    finally:
        APP.state.services.close()
        shutil.rmtree(FOLDER, ignore_errors=True)


@schema.parametrize()
@FUZZ
def test_no_generated_request_gets_a_5xx_or_breaks_the_document_with_a_valid_token_or_without(case: Any) -> None:
    # Each generated case is sent twice: as an administrator (reaches every check and the domain) and
    # without a token (must be refused at the door). One generation, two runs: generation is the cost.
    response = case.call(headers=auth("admin"))
    case.validate_response(response, checks=CHECKS)
    stranger = case.call(headers={"Authorization": ""})
    case.validate_response(stranger, checks=CHECKS[:-1])  # refused at the door, whatever the body
    if case.path not in ("/health", "/ready", "/openapi.json"):
        # 400: a NUL byte in the URL is refused before anything else; 413: so is an oversized body.
        assert stranger.status_code in (400, 401, 413), stranger.text
