"""Schemathesis over every operation of the app's own /openapi.json, in-process.

The document is fetched from the running app and every operation is called with generated
valid and invalid input (embedded mode: SQLite + in-process cache, local news and prices).
Each answer must be documented: its status code, its content type, its body's schema and its
headers; and no answer may be a 5xx other than the documented 503 (store unavailable).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import schemathesis
from harness.store import migrate
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.python import asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.applications import Starlette

from marketbrief.config import Settings
from marketbrief.services import Services
from marketbrief.web.app import create_app
from marketbrief.web.openapi import openapi_document
from tests.support.api_fixtures import KEY, unreachable_store_url, write_news, write_prices
from tests.support.clock import LATE, Clock
from tests.support.factories import standalone_completion

MAX_EXAMPLES = 25


def no_server_error_but_a_documented_503(
    ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    """A 5xx is a bug, except 503 (store unavailable), which must also be documented.

    An API 503 also says when to retry; /readyz is a probe, whose 503 only says "not ready".
    """
    status = response.status_code
    assert status < 500 or status == 503, (
        f"{case.method} {case.formatted_path} answered {status}: {response.text[:300]}"
    )
    if status == 503:
        assert "503" in case.operation.responses.status_codes, "an undocumented 503"
        if case.operation.path != "/readyz":
            assert response.headers.get("retry-after"), "a 503 without Retry-After"
    return None


CHECKS = [
    no_server_error_but_a_documented_503,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


@pytest.fixture(params=["store_up", "store_down"])
def fuzzed_app(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str
) -> Iterator[Starlette]:
    """The app on embedded mode: with one report published, or with its store unreachable."""
    config = dataclasses.replace(
        Settings(),
        database_url=sqlite_url,
        outbox_dir=tmp_path / "outbox",
        api_key=KEY,
        news=f"dir:{write_news(tmp_path / 'news')}",
        prices=f"dir:{write_prices(tmp_path / 'prices')}",
        scheduler_enabled=False,
        write_retry_seconds=0.1,
        trigger_burst=1000,
    )
    migrate(config.database_url)
    if request.param == "store_down":
        config = dataclasses.replace(config, database_url=unreachable_store_url(config, tmp_path))
    services = Services.open(config, clock=Clock(LATE))
    if request.param == "store_up":
        services.results.store.backend.finish_run(standalone_completion())
    app = create_app(config, services=services)
    app.state.store_down = request.param == "store_down"
    try:
        yield app
    finally:
        # Schemathesis runs the app's lifespan on its own event loop thread: end it here, so
        # background runs finish and the store and cache are closed before the next test.
        asgi.shutdown_lifespans()


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every operation, with valid input and (where it takes any input) invalid input.

    Taken from the same document the app serves (the fixture checks they are equal).
    """
    cases = []
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            cases.append((label, GenerationMode.POSITIVE))
            if operation.get("parameters") or operation.get("requestBody"):
                cases.append((label, GenerationMode.NEGATIVE))
    return cases


@pytest.fixture
def api_schema(fuzzed_app: Starlette) -> OpenApiSchema:
    """The document the app serves, bound to the app itself (ASGI, no sockets)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)
    assert schema.raw_schema == orjson.loads(orjson.dumps(openapi_document()))
    return schema


@pytest.mark.parametrize(("label", "mode"), _cases())
def test_every_operation_answers_only_as_its_openapi_document_says(
    api_schema: OpenApiSchema, label: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: Case) -> None:
        case.call_and_validate(headers={"X-API-Key": KEY}, checks=CHECKS)

    answers_as_documented()


@pytest.mark.parametrize(
    ("label", "name", "value"),
    [
        ("GET /api/v1/reports/{report_type}", "report_type", "a/b"),
        ("GET /api/v1/reports/{report_type}", "report_type", "pre-market/x"),
        ("GET /api/v1/reports/{report_type}", "report_type", ".."),
        ("GET /api/v1/jobs/{ref}", "ref", "a/b"),
        ("GET /api/v1/jobs/{ref}", "ref", ".."),
        ("GET /api/v1/jobs/{ref}", "ref", "99999999999999999999"),
        ("GET /api/v1/jobs/{ref}", "ref", "\u00b2"),
        ("GET /api/v1/jobs/{ref}", "ref", "a\x00b"),
        ("GET /api/v1/jobs/{ref}", "ref", "trigger"),
    ],
)
def test_a_path_parameter_that_leaves_the_route_or_the_store_answers_as_documented(
    api_schema: OpenApiSchema, label: str, name: str, value: str
) -> None:
    """Values the generator rarely reaches: '/' (no route matches), ids past 64 bits, NUL."""
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None
    response = operation.Case(path_parameters={name: value}).call_and_validate(checks=CHECKS)
    # `trigger` is the trigger's own path, which takes POST only.
    allowed = {405} if value == "trigger" else {404}
    assert response.status_code in allowed
