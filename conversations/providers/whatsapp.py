"""A thin client for the WhatsApp Cloud API (Graph) over httpx, and the message bodies it sends.

A thin client rather than a full SDK: delivery needs exactly three calls (send, mark
read, generic get/post for templates), and every decision about errors is made by
our own table (`providers.errors`) on Graph's numeric code, never on the HTTP status.

One `httpx.Client` per process carries the connection pool (keep-alive matters at 80
messages/s); `GraphClient(number)` is cheap and adds the number's base URL and token.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings

from conversations.providers.errors import NETWORK, Action, ErrorRule, rule_for

if TYPE_CHECKING:
    from conversations.models import WhatsAppNumber

log = logging.getLogger(__name__)

_client: httpx.Client | None = None
_client_pid: int | None = None
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """The process-wide HTTP client (re-created after a fork, e.g. in Celery's prefork pool)."""
    global _client, _client_pid
    with _client_lock:
        if _client is None or _client_pid != os.getpid():
            _client = httpx.Client(
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                headers={"User-Agent": "Handoff"},
            )
            _client_pid = os.getpid()
        return _client


class GraphError(Exception):
    """An error answered by Graph (`{"error": {...}}`) or a network failure (`code` None).

    `action` comes from the error table; decide on it, not on `http_status`."""

    def __init__(
        self,
        code: int | None,
        title: str,
        message: str,
        details: str = "",
        http_status: int | None = None,
    ) -> None:
        super().__init__(f"({code}) {title}: {message}" if code is not None else f"{title}: {message}")
        self.code = code
        self.title = title
        self.message = message
        self.details = details
        self.http_status = http_status

    @property
    def rule(self) -> ErrorRule:
        return rule_for(self.code)

    @property
    def action(self) -> Action:
        return self.rule.action

    @property
    def transient(self) -> bool:
        return self.rule.transient

    @property
    def code_text(self) -> str:
        return str(self.code) if self.code is not None else NETWORK


def graph_error_from_response(response: httpx.Response) -> GraphError:
    """Parse Graph's error shape; anything else becomes an error of unknown code."""
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        # Not Graph's shape: a proxy or load balancer answered. 5xx and 429 from the
        # edge are transient by nature; treat them like Graph's temporary error.
        transient = response.status_code >= 500 or response.status_code == 429
        return GraphError(
            1 if transient else -1,
            "Unexpected response",
            response.text[:500],
            http_status=response.status_code,
        )
    raw_code = error.get("code")
    try:
        code = int(raw_code) if raw_code is not None else -1
    except (TypeError, ValueError):
        code = -1
    raw_data = error.get("error_data")
    error_data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    message = str(error.get("message") or "")
    title = str(error.get("error_user_title") or error.get("title") or error.get("type") or "Graph error")
    details = str(error_data.get("details") or error.get("error_user_msg") or "")
    return GraphError(code, title, message, details, http_status=response.status_code)


class GraphClient:
    """Calls Graph for one WhatsApp number: `Authorization: Bearer <token>` on `number.graph_base`.

    Every method raises `GraphError`: with Graph's code for API errors, with code None
    (action `retry`) for timeouts and network failures."""

    def __init__(self, number: WhatsAppNumber) -> None:
        self.number = number
        self.base = number.graph_base

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.number.access_token}"}

    def _url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = _http().request(
                method,
                self._url(path),
                headers=self._headers(),
                timeout=httpx.Timeout(settings.WHATSAPP_HTTP_TIMEOUT),
                **kwargs,
            )
        except httpx.TimeoutException as exc:
            raise GraphError(None, "Timeout", f"{type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            raise GraphError(None, "Network error", f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            try:
                data = response.json()
            except ValueError:
                data = None
            if isinstance(data, dict) and "error" not in data:
                return data
        raise graph_error_from_response(response)

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request("GET", path, params=params or {})

    def post(self, path: str, json: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", path, json=json)

    def send_message(self, body: dict[str, Any]) -> str:
        """POST a message body to `/{phone_number_id}/messages`; returns the wamid Graph accepted."""
        data = self.post(f"{self.number.phone_number_id}/messages", body)
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict) and messages[0].get("id"):
            return str(messages[0]["id"])
        raise GraphError(-1, "Unexpected response", "Graph accepted the send without a message id")

    def media_info(self, media_id: str) -> dict[str, Any]:
        """`GET /{media-id}`: `{url, mime_type, sha256, file_size, id}`; the URL is short-lived."""
        if not media_id or "/" in media_id or "?" in media_id:
            raise GraphError(100, "Invalid parameter", f"Not a media id: {media_id[:80]!r}")
        return self.get(media_id, params={"phone_number_id": self.number.phone_number_id})

    def media_upload(self, *, data: bytes, mime_type: str, file_name: str) -> str:
        """`POST /{phone-number-id}/media` (multipart); returns the media id to send by."""
        result = self._request(
            "POST",
            f"{self.number.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (file_name or "file", data, mime_type)},
        )
        if result.get("id"):
            return str(result["id"])
        raise GraphError(-1, "Unexpected response", "Graph accepted the upload without a media id")

    def media_fetch(self, url: str, *, cap: int) -> bytes:
        """The bytes behind a media URL Graph returned, fetched with the number's token.

        Never fetches anything else: the URL's host must be in MEDIA_DOWNLOAD_HOSTS (Meta's
        hosts in production), a redirect is followed only to the same host (three at
        most), and the body is read while it stays within `cap` bytes. Raises
        `MediaFetchError`."""
        return media_fetch(url, cap=cap, headers=self._headers())

    def mark_read(self, message_id: str, typing: bool = False) -> None:
        """Mark an inbound message read; with `typing`, also show a typing indicator (up to 25 s)."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        self.post(f"{self.number.phone_number_id}/messages", body)


# --- Media downloads -----------------------------------------------------------------------

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


class MediaFetchError(Exception):
    """A media download that did not happen. `code` names why (host_not_allowed,
    redirect_refused, too_large, url_expired, http_error, network); `transient` ones are
    worth another try (which asks Graph for a fresh URL)."""

    def __init__(self, code: str, reason: str, *, transient: bool = False) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.transient = transient


def host_allowed(host: str, allowed: list[str] | tuple[str, ...]) -> bool:
    """`host` is one of `allowed`, or a subdomain of an entry written `*.example.com`."""
    host = (host or "").lower().rstrip(".")
    if not host:
        return False
    for entry in allowed:
        entry = entry.strip().lower()
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif entry and host == entry:
            return True
    return False


def _checked_url(url: str, *, host: str | None = None) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise MediaFetchError("host_not_allowed", f"Not a URL: {str(url)[:200]}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise MediaFetchError("host_not_allowed", f"Not an http(s) URL: {str(url)[:200]}")
    if host is not None and parsed.host != host:
        raise MediaFetchError(
            "redirect_refused", f"The media URL redirected to another host ({parsed.host}); not followed."
        )
    if not host_allowed(parsed.host, settings.MEDIA_DOWNLOAD_HOSTS):
        raise MediaFetchError(
            "host_not_allowed", f"The media URL's host {parsed.host} is not in MEDIA_DOWNLOAD_HOSTS; not fetched."
        )
    return parsed


def media_fetch(url: str, *, cap: int, headers: dict[str, str]) -> bytes:
    """See `GraphClient.media_fetch`."""
    target = _checked_url(url)
    first_host = target.host
    timeout = httpx.Timeout(settings.MEDIA_DOWNLOAD_TIMEOUT, connect=settings.WHATSAPP_HTTP_TIMEOUT)
    for _ in range(MAX_REDIRECTS + 1):
        try:
            with _http().stream("GET", target, headers=headers, timeout=timeout, follow_redirects=False) as response:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    target = _checked_url(str(target.join(location)), host=first_host)
                    continue
                if response.status_code in (401, 403, 404, 410):
                    raise MediaFetchError(
                        "url_expired", f"The media URL answered {response.status_code} (expired or not ours).",
                        transient=True,
                    )
                if not response.is_success:
                    raise MediaFetchError(
                        "http_error", f"The media URL answered {response.status_code}.",
                        transient=response.status_code >= 500 or response.status_code == 429,
                    )
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise MediaFetchError("too_large", f"The file is {declared} bytes; the cap is {cap}.")
                body = bytearray()
                for chunk in response.iter_bytes(_CHUNK):
                    body += chunk
                    if len(body) > cap:
                        raise MediaFetchError("too_large", f"The file is over the cap of {cap} bytes.")
                return bytes(body)
        except httpx.TimeoutException as exc:
            raise MediaFetchError("network", f"Timeout: {exc}", transient=True) from exc
        except httpx.TransportError as exc:
            raise MediaFetchError("network", f"{type(exc).__name__}: {exc}", transient=True) from exc
    raise MediaFetchError("redirect_refused", f"More than {MAX_REDIRECTS} redirects.")


# --- Message bodies -----------------------------------------------------------------------

TEXT_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_MAX = 60
BUTTONS_MAX = 3
BUTTON_ID_MAX = 256
BUTTON_TITLE_MAX = 20
LIST_BUTTON_MAX = 20
SECTIONS_MAX = 10
ROWS_MAX = 10
SECTION_TITLE_MAX = 24
ROW_ID_MAX = 200
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72

_URL = re.compile(r"https?://\S", re.IGNORECASE)


class InvalidBody(ValueError):
    """A message breaks one of WhatsApp's limits; the text names the limit."""


def _check(value: str, limit: int, what: str, required: bool = True) -> str:
    value = (value or "").strip() if isinstance(value, str) else str(value)
    if required and not value:
        raise InvalidBody(f"{what} is required.")
    if len(value) > limit:
        raise InvalidBody(f"{what} is {len(value)} characters; WhatsApp allows at most {limit}.")
    return value


def text_content(text: str) -> dict[str, Any]:
    """The `text` part of a send body (≤ 4096 characters; link preview when it has a URL)."""
    body = _check(text, TEXT_MAX, "The message text")
    return {"type": "text", "text": {"body": body, "preview_url": bool(_URL.search(body))}}


def interactive_content(
    *,
    body: str,
    buttons: list[dict] | None = None,
    sections: list[dict] | None = None,
    button_label: str = "Choose",
    header: str = "",
    footer: str = "",
) -> dict[str, Any]:
    """Reply buttons (≤ 3) or a list (≤ 10 sections, ≤ 10 rows in all), checked against WhatsApp's limits."""
    if bool(buttons) == bool(sections):
        raise InvalidBody("Give either reply buttons or list sections (exactly one of them).")
    interactive: dict[str, Any] = {"body": {"text": _check(body, INTERACTIVE_BODY_MAX, "The body text")}}
    if header:
        interactive["header"] = {"type": "text", "text": _check(header, HEADER_TEXT_MAX, "The header")}
    if footer:
        interactive["footer"] = {"text": _check(footer, FOOTER_MAX, "The footer")}
    if buttons:
        if len(buttons) > BUTTONS_MAX:
            raise InvalidBody(f"{len(buttons)} reply buttons; WhatsApp allows at most {BUTTONS_MAX}.")
        replies: list[dict[str, Any]] = []
        for button in buttons:
            replies.append(
                {
                    "type": "reply",
                    "reply": {
                        "id": _check(button.get("id", ""), BUTTON_ID_MAX, "A button id"),
                        "title": _check(button.get("title", ""), BUTTON_TITLE_MAX, "A button title"),
                    },
                }
            )
        _unique([r["reply"]["id"] for r in replies], "Button ids")
        interactive["type"] = "button"
        interactive["action"] = {"buttons": replies}
        return {"type": "interactive", "interactive": interactive}
    assert sections is not None
    if len(sections) > SECTIONS_MAX:
        raise InvalidBody(f"{len(sections)} list sections; WhatsApp allows at most {SECTIONS_MAX}.")
    total_rows = sum(len(section.get("rows") or []) for section in sections)
    if total_rows > ROWS_MAX:
        raise InvalidBody(f"{total_rows} list rows; WhatsApp allows at most {ROWS_MAX} in all sections together.")
    out_sections = []
    for section in sections:
        rows = section.get("rows") or []
        if not rows:
            raise InvalidBody("Every list section needs at least one row.")
        out_rows = []
        for row in rows:
            out_row = {
                "id": _check(row.get("id", ""), ROW_ID_MAX, "A row id"),
                "title": _check(row.get("title", ""), ROW_TITLE_MAX, "A row title"),
            }
            description = _check(row.get("description", ""), ROW_DESCRIPTION_MAX, "A row description", required=False)
            if description:
                out_row["description"] = description
            out_rows.append(out_row)
        out_section: dict[str, Any] = {"rows": out_rows}
        title = _check(section.get("title", ""), SECTION_TITLE_MAX, "A section title", required=len(sections) > 1)
        if title:
            out_section["title"] = title
        out_sections.append(out_section)
    _unique([row["id"] for section in out_sections for row in section["rows"]], "Row ids")
    interactive["type"] = "list"
    interactive["action"] = {
        "button": _check(button_label, LIST_BUTTON_MAX, "The list button label"),
        "sections": out_sections,
    }
    return {"type": "interactive", "interactive": interactive}


def _unique(ids: list[str], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise InvalidBody(f"{what} must be unique.")


def interactive_summary(content: dict[str, Any]) -> str:
    """A readable one-message summary of an interactive body, for the transcript."""
    interactive = content.get("interactive", {})
    lines = [interactive.get("body", {}).get("text", "")]
    action = interactive.get("action", {})
    if interactive.get("type") == "button":
        lines.append(" ".join(f"[{b['reply']['title']}]" for b in action.get("buttons", [])))
    else:
        for section in action.get("sections", []):
            lines.extend(f"- {row['title']}" for row in section.get("rows", []))
    return "\n".join(line for line in lines if line)


def send_body(*, to: str = "", user_id: str = "", content: dict[str, Any]) -> dict[str, Any]:
    """The full Graph send body: envelope plus `content` (`type`, the type's object, `context`?).

    Contacts known only by their business-scoped user id are addressed with `recipient`."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if to:
        body["to"] = to
    elif user_id:
        body["recipient"] = user_id
    else:
        raise InvalidBody("The contact has neither a WhatsApp id nor a user id.")
    body.update(content)
    return body
