"""Every error of the API is the documented `{"code", "detail"}` JSON, also for requests the
views never see: bodies that cannot be parsed (bad JSON, a multipart body without its
boundary, a content type the operation does not read) on every operation that takes a
body, paths under /api/ that name nothing, and requests Django refuses before routing.
And every list is described as what it answers: a page object or an array. Requests go
straight into the live ASGI application (config.asgi)."""

from __future__ import annotations

import asyncio
import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from config.asgi import application
from tests.support.api_world import api_world

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENT = SchemaGenerator().get_schema(request=None, public=True)
BODY_OPERATIONS = [
    (method.upper(), path)
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    if "requestBody" in operation
]
MALFORMED = {
    "bad JSON": ("application/json", b'{"text": "unterminated', 400, "invalid"),
    "multipart without a boundary": (
        "multipart/form-data", b"--x\r\nContent-Disposition: form-data\r\n\r\n", 400, "invalid"
    ),
    "a content type it does not read": ("text/plain", b"hello", 415, "unsupported_media_type"),
}


@pytest.fixture
def world(number, team, admin_user, supervisor, agent, outsider):
    return api_world(number=number, team=team, admin=admin_user, supervisor=supervisor, agent=agent,
                     outsider=outsider)


async def call(method: str, path: str, headers: dict, body: bytes = b"", query: bytes = b""):
    """One request straight into the ASGI application: (status, headers, body)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode()),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items())],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    sent: list[dict] = []
    delivered = False

    async def receive():
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    headers_out = {k.lower(): v for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers_out, b"".join(m.get("body", b"") for m in sent[1:])


def documented_error(method: str, path: str, status_code: int) -> bool:
    response = DOCUMENT["paths"][path][method.lower()]["responses"].get(str(status_code))
    return response is not None and response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_malformed_bodies_answer_the_documented_error_on_every_operation(world, kind):
    content_type, body, expected_status, expected_code = MALFORMED[kind]
    wrong = []
    for method, template in BODY_OPERATIONS:
        # The canned response is the agent's own; everything else is the admin's to change.
        persona = "agent" if template.startswith("/api/v1/canned-responses/") else "admin"
        headers = {**world["headers"][persona], "Content-Type": content_type, "Idempotency-Key": "k1"}

        status_code, response_headers, content = await call(method, template.format(**world["path"]), headers, body)

        is_json = response_headers.get(b"content-type") == b"application/json"
        answer = json.loads(content) if is_json else None
        if (status_code, answer and set(answer), answer and answer["code"]) != (
            expected_status, {"code", "detail"}, expected_code
        ) or not documented_error(method, template, status_code):
            wrong.append(f"{method} {template}: {status_code} {content[:120]!r}")
    assert len(BODY_OPERATIONS) >= 20
    assert not wrong, "\n".join(wrong)


async def test_a_path_under_the_api_that_names_nothing_is_a_json_404(world):
    for method, path in [
        ("GET", "/api/v1/nothing-here/"),
        # A path parameter that is not a number; a POST without a CSRF token is still a 404.
        ("POST", "/api/v1/conversations/abc/resolve/"),
    ]:
        status_code, headers, content = await call(method, path, world["headers"]["admin"])

        assert status_code == 404 and headers[b"content-type"] == b"application/json"
        assert json.loads(content) == {"code": "not_found", "detail": "No such API path."}


async def test_a_request_django_refuses_before_any_view_still_gets_the_api_error(world):
    # A query string that is not UTF-8: Django answers 400 with an empty body on its own.
    status_code, headers, content = await call("GET", "/api/v1/contacts/", world["headers"]["admin"],
                                               query=b"q=\xff\xfe")

    assert (status_code, headers[b"content-type"]) == (400, b"application/json")
    assert json.loads(content) == {"code": "invalid", "detail": "Bad Request."}


async def test_pages_outside_the_api_keep_their_own_error_pages():
    status_code, headers, _ = await call("GET", "/no-such-page/", {})

    assert status_code == 404 and not headers[b"content-type"].startswith(b"application/json")


async def test_every_list_is_described_as_what_it_answers(world):
    checked = []
    for path, operations in DOCUMENT["paths"].items():
        operation = operations.get("get")
        if operation is None or "{" in path:
            continue
        status_code, _, content = await call("GET", path, world["headers"]["admin"])
        assert status_code == 200, path
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        answer = json.loads(content)
        if isinstance(answer, list):
            assert schema["type"] == "array", path
        elif {"count", "next", "previous", "results"} <= set(answer):
            assert schema["type"] == "object", path
            assert {"count", "next", "previous", "results"} <= set(schema["properties"]), path
        checked.append(path)
    assert "/api/v1/campaigns/" in checked and "/api/v1/contacts/" in checked
