"""Calls to addresses an admin typed in (outgoing webhooks, the flow bots' HTTP lookups),
made so they cannot be turned against the server's own network (SSRF).

Every call
- accepts only `https` URLs in production (`OUTBOUND_REQUIRE_HTTPS`, default: not DEBUG);
- resolves the host and refuses it when ANY of its addresses is private, loopback,
  link-local, shared, reserved, multicast or unspecified (`OUTBOUND_ALLOW_PRIVATE_ADDRESSES`,
  default: DEBUG, allows them for a business on the same network);
- connects to the address it checked (no second lookup a rebinding DNS could answer
  differently), with the host name kept for TLS and the `Host` header;
- never follows redirects (a 3xx is an answer like any other);
- gives up after `timeout` seconds in all (connect, headers and body together) and reads
  at most `max_bytes` of the answer (`OutboundFailed("too_large")` beyond).

`OutboundRefused` means the call was not made (the target is not allowed);
`OutboundFailed` that it was made and went wrong (timeout, connection, oversized answer).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext

USER_AGENT = "Handoff/1 (+outgoing)"


class OutboundRefused(Exception):
    """The target is not allowed: `code` is `bad_url`, `https_required` or `private_address`."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class OutboundFailed(Exception):
    """The call went wrong: `code` is `timeout`, `connection` or `too_large`."""

    def __init__(self, code: str, detail: str, *, elapsed_ms: int = 0) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.elapsed_ms = elapsed_ms


@dataclass
class OutboundResponse:
    status: int
    body: bytes
    elapsed_ms: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def excerpt(self, limit: int = 1000) -> str:
        """The start of the answer as text (NUL characters dropped: databases refuse them)."""
        return self.body[:limit].decode("utf-8", errors="replace").replace("\x00", "")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def allow_private_default() -> bool:
    return bool(getattr(settings, "OUTBOUND_ALLOW_PRIVATE_ADDRESSES", settings.DEBUG))


def require_https_default() -> bool:
    return bool(getattr(settings, "OUTBOUND_REQUIRE_HTTPS", not settings.DEBUG))


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_check(url: str, *, require_https: bool | None = None) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an acceptable URL, else OutboundRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused("bad_url", gettext("Not a valid URL: %(problem)s.") % {"problem": exc}) from exc
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("bad_url", gettext("Use an http or https URL with a host name."))
    if parts.username or parts.password:
        raise OutboundRefused("bad_url", gettext("Put credentials in headers, not in the URL."))
    if require_https is None:
        require_https = require_https_default()
    if require_https and scheme != "https":
        raise OutboundRefused("https_required", gettext("Only https addresses are allowed here."))
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def target_resolve(url: str, *, allow_private: bool | None = None, require_https: bool | None = None) -> Target:
    """The checked target of `url`: every address its host resolves to must be public
    (unless private ones are allowed). Raises OutboundRefused."""
    scheme, host, port, path = url_check(url, require_https=require_https)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused("bad_url", gettext("The host %(host)s does not resolve.") % {"host": host}) from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OutboundRefused("bad_url", gettext("The host %(host)s does not resolve.") % {"host": host})
    if allow_private is None:
        allow_private = allow_private_default()
    if not allow_private:
        blocked = [a for a in addresses if not address_is_public(a)]
        if blocked:
            raise OutboundRefused(
                "private_address",
                gettext("%(host)s resolves to a private or local address (%(address)s); not allowed.")
                % {"host": host, "address": blocked[0]},
            )
    return Target(scheme, host, port, path, addresses)


def _connect(address: str, port: int, timeout: float | None) -> socket.socket:
    sock = socket.create_connection((address, port), timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client does: no Nagle delay
    return sock


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = _connect(self._address, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = _connect(self._address, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def request(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    max_bytes: int = 1_000_000,
    allow_private: bool | None = None,
    require_https: bool | None = None,
) -> OutboundResponse:
    """Make one call (see the module docstring). Raises OutboundRefused or OutboundFailed."""
    target = target_resolve(url, allow_private=allow_private, require_https=require_https)
    started = time.monotonic()
    deadline = started + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise OutboundFailed("timeout", f"No complete answer within {timeout:g} s.",
                                 elapsed_ms=int((time.monotonic() - started) * 1000))
        return left

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    sent_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    if body:
        sent_headers.setdefault("Content-Type", "application/json")
    last_error: Exception | None = None
    for address in target.addresses:
        conn = connection_class(target, address, remaining())
        try:
            conn.request(method.upper(), target.path, body=body or None, headers=sent_headers)
            if conn.sock is not None:
                conn.sock.settimeout(remaining())
            response = conn.getresponse()
            chunks: list[bytes] = []
            size = 0
            while True:
                if conn.sock is not None:
                    conn.sock.settimeout(remaining())
                chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise OutboundFailed("too_large", f"The answer is larger than {max_bytes} bytes.",
                                         elapsed_ms=elapsed())
                chunks.append(chunk)
            return OutboundResponse(
                status=response.status,
                body=b"".join(chunks),
                elapsed_ms=elapsed(),
                headers={k.lower(): v for k, v in response.getheaders()},
            )
        except OutboundFailed:
            raise
        except TimeoutError as exc:
            raise OutboundFailed("timeout", f"No complete answer within {timeout:g} s.", elapsed_ms=elapsed()) from exc
        except (OSError, http.client.HTTPException) as exc:
            last_error = exc  # try the host's next address
        finally:
            conn.close()
    raise OutboundFailed("connection", f"Could not reach {target.host}: {last_error}", elapsed_ms=elapsed())
