"""The webhook body cap at the server, over a raw socket against a real server process in
both shapes (`make run`'s `run_embedded` and `make serve`'s daphne): an oversized body is
refused as soon as its headers (or the bytes past the cap) arrive, not after the server
has read it all; a webhook under the cap is still taken."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

import pytest

from tests.support import webhooks
from tests.support.live_server import APP_SECRET, start_live_server

pytestmark = pytest.mark.e2e

CAP = 3 * 1024 * 1024  # WEBHOOK_MAX_BODY_BYTES, the default
PATH = "/webhooks/whatsapp/"


@pytest.fixture(scope="module", params=["run_embedded", "serve"])
def server(request, tmp_path_factory):
    live = start_live_server(tmp_path_factory.mktemp(request.param), request.param)
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def no_server_errors(server):
    mark = server.log_mark()
    yield
    log = server.log_since(mark)
    assert "Traceback" not in log, log
    assert " ERROR " not in log, log


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _head(length: int | None = None, *, path: str = PATH, extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: sha256={'0' * 64}\r\n{size}{extra}\r\n"
    ).encode()


def _answer(sock: socket.socket, within: float) -> tuple[int, bytes, float]:
    """The status line and headers of the next response, and how long it took; fails when
    nothing arrives within `within` seconds."""
    started = time.monotonic()
    sock.settimeout(within)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        raise AssertionError(f"no answer within {within} s") from None
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data.split(b" ", 2)[1]), data, time.monotonic() - started


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """Reads (and drops) until the server ends the connection."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    return False


def test_declared_oversized_body_is_refused_right_after_its_headers(server):
    with _connect(server) as sock:
        sock.sendall(_head(4 * 1024 * 1024) + b"{" + b" " * 4096)
        status, head, took = _answer(sock, within=1.0)
        assert status == 413
        assert b"connection: close" in head.lower()
        assert took < 1.0
        # The server does not wait for the remaining 4 MB: it ends the connection.
        assert _closed_by_server(sock, within=5.0)


def test_declared_oversized_body_with_expect_continue_gets_413_not_100(server):
    with _connect(server) as sock:
        sock.sendall(_head(4 * 1024 * 1024, extra="Expect: 100-continue\r\n"))
        status, head, _ = _answer(sock, within=1.0)
        assert status == 413
        assert b"100 Continue" not in head


def test_chunked_body_is_cut_at_the_cap(server):
    piece = b"x" * 65536
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    with _connect(server) as sock:
        sock.sendall(_head(None))
        sent = 0
        while sent <= CAP:
            sock.sendall(chunk)
            sent += len(piece)
        # No terminating chunk: the body is not finished, yet it is already over the cap.
        status, _, took = _answer(sock, within=1.0)
        assert status == 413
        assert took < 1.0
        assert _closed_by_server(sock, within=5.0)


def test_a_length_understated_by_the_client_bounds_what_is_read(server):
    """Bytes after the declared length are not taken as body: the webhook judges only the
    declared bytes, and the trailing junk ends the connection instead of being read."""
    body = json.dumps(webhooks.envelope(webhooks.messages_value([webhooks.text_message("hi")]))).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(server) as sock:
        sock.sendall(head + body + b"x" * 200_000)
        status, _, took = _answer(sock, within=2.0)
        assert status == 200
        assert took < 2.0
        assert _closed_by_server(sock, within=5.0)


def test_webhook_under_the_cap_is_taken(server):
    body = json.dumps(webhooks.envelope(webhooks.messages_value([webhooks.text_message("hello")]))).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(server) as sock:
        sock.sendall(head + body)
        status, _, _ = _answer(sock, within=5.0)
        assert status == 200
        # Keep-alive still works after a taken webhook: a second one on the same connection.
        sock.sendall(head + body)
        status, _, _ = _answer(sock, within=5.0)
        assert status == 200


def test_large_declared_body_elsewhere_is_left_to_django(server):
    """Only webhook paths are capped at the server; other paths keep Django's own limits
    (here the login form refuses without CSRF, after reading the modest body)."""
    body = b"a=" + b"x" * 100_000
    with _connect(server) as sock:
        sock.sendall(_head(len(body), path="/accounts/login/") + body)
        status, _, _ = _answer(sock, within=5.0)
        assert status == 403
