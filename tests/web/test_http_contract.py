"""The API's HTTP contract: a valid OpenAPI 3.1 document, the docs page, 404 and 405 in the
error shape, the security headers on every response, and a 500 that leaks nothing.

(Both modes, in-process; see tests/support/api_helpers.py.)
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api_fixtures import Api
from tests.support.api_helpers import REPORT, assert_error, made


def _validate_openapi_31(document: dict[str, Any]) -> None:
    try:
        from openapi_spec_validator import validate
    except ImportError:
        import jsonschema_rs
        from schemathesis.specs.openapi.definitions import OPENAPI_31

        jsonschema_rs.Draft202012Validator(OPENAPI_31).validate(document)
    else:
        validate(document)


async def test_openapi_json_is_a_valid_openapi_31_document_naming_every_api_route(api: Api) -> None:
    response = await api.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    _validate_openapi_31(document)
    served = {getattr(route, "path", "") for route in api.app.routes}
    documented = set(document["paths"])
    api_routes = {p for p in served if p.startswith("/api/") or p in ("/healthz", "/readyz")}
    assert documented >= api_routes | {"/metrics"}
    assert documented <= served
    # Every write says it needs the key, and every operation documents its errors.
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "post":
                assert operation["security"] == [{"apiKey": []}], path
                assert {"401", "403", "413"} <= set(operation["responses"]), path


async def test_the_docs_page_is_html(api: Api) -> None:
    response = await api.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/api/v1/nope",
        "/api/v2/reports/pre-market",
        "/jobs",
        "/api/v1/reports/pre-market/extra",
        "/api/v1/reports/a%2Fb",  # decoded to a '/' before routing: no route matches
    ],
)
async def test_an_unknown_route_is_404_in_the_error_shape(api: Api, path: str) -> None:
    assert_error(await api.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/reports/pre-market"),
        ("DELETE", "/api/v1/jobs/history"),
        ("PUT", "/api/v1/jobs/latest"),
        ("GET", "/api/v1/cache/rehydrate"),
        ("POST", "/healthz"),
        ("DELETE", "/metrics"),
        ("POST", "/openapi.json"),
    ],
)
async def test_a_wrong_method_is_405_in_the_error_shape(api: Api, method: str, path: str) -> None:
    response = await api.client.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"]


async def test_every_response_carries_a_content_security_policy(api: Api) -> None:
    completion = made()
    await api.publish(completion)
    etag = (await api.get(REPORT)).headers["etag"]
    responses = [
        await api.get(REPORT),
        await api.get(REPORT, headers={"If-None-Match": etag}),
        await api.get("/api/v1/reports/weekly?date=2026-11-22"),
        await api.get("/api/v1/reports/nope"),
        await api.get("/api/v1/jobs/history"),
        await api.get("/nope"),
        await api.client.delete("/api/v1/jobs/history"),
        await api.post("/api/v1/jobs/trigger", {"type": "x"}, key=None),
        await api.get("/healthz"),
        await api.get("/metrics"),
        await api.get("/openapi.json"),
        await api.get("/"),
        await api.get(f"/jobs/{completion.run_id}"),
        await api.get("/static/style.css"),
    ]
    assert {r.status_code for r in responses} >= {200, 304, 400, 401, 404, 405}
    for response in responses:
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, response.request.url
        assert "script-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_unexpected_error_is_a_500_in_the_error_shape_with_headers_and_no_trace(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(api.services.results.store.backend, "history", broken)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/v1/jobs/history")

    body = assert_error(response, 500, "internal_error")
    assert "secret" not in body["error"]["message"]
    assert "Traceback" not in response.text
    # Starlette answers this from outside every user middleware: the headers are still there.
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
