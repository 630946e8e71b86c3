"""The flow bots' HTTP lookup step: call the business's own API and bring fields of its
answer into the collected values.

The URL is the step's lookup service's base URL (admin-registered, so allow-listed) with the
step's path appended; `{name}` in the path inserts a collected value, URL-encoded, so a
customer's answer can never leave the path segment. The step's `lookup_params` are sent as
query parameters (GET) or a JSON body (POST); the service's encrypted headers go with every
call; the call goes through config.outbound_http (no private targets in production, no
redirects, a time limit, a size limit).

Outcomes:
- found: a 2xx JSON answer that is not empty (or whose `lookup_found_path` holds a value);
  `lookup_map` copies answer fields into collected values (missing ones become "");
- not found: a 404, or a 2xx answer that is empty or lacks the found path;
- failed (the flow hands off as a bot error): no answer in time, a connection error, a
  refused target, any other status, an answer that is not JSON (HTML, garbage) or larger
  than LOOKUP_MAX_BYTES.

Paths into the answer: dot-separated keys with `[n]` for list items, e.g. `order.status`,
`items[0].name`, `data.0.id`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings

from bots.models import FlowStep, LookupService
from config.outbound_http import OutboundFailed, OutboundRefused, request

log = logging.getLogger(__name__)

FOUND, NOT_FOUND, FAILED = "found", "not_found", "failed"
_MISSING = object()
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass
class LookupResult:
    outcome: str
    values: dict[str, str] = field(default_factory=dict)
    detail: str = ""


def path_get(data: Any, path: str) -> Any:
    """The value at `path` in `data`, or _MISSING."""
    current = data
    for key, index in _TOKEN.findall(path.strip()):
        if index or (key.isdigit() and isinstance(current, list)):
            position = int(index or key)
            if not isinstance(current, list) or position >= len(current):
                return _MISSING
            current = current[position]
        elif isinstance(current, dict) and key in current:
            current = current[key]
        else:
            return _MISSING
    return current


def _as_text(value: Any) -> str:
    """A collected value: text, at most 1000 characters, without NUL characters."""
    return _scalar_text(value)[:1000].replace("\x00", "")


def _scalar_text(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def lookup_url(service: LookupService, path: str, values: dict[str, str]) -> str:
    filled = re.sub(r"\{(\w+)\}", lambda m: quote(str(values.get(m.group(1), "")).strip(), safe=""), path)
    return service.base_url.rstrip("/") + "/" + filled.lstrip("/")


def base_allowed(service: LookupService) -> bool:
    allowed = [base for base in getattr(settings, "LOOKUP_ALLOWED_BASES", []) if base]
    return not allowed or any(service.base_url.startswith(base) for base in allowed)


def lookup_run(step: FlowStep, values: dict[str, str]) -> LookupResult:
    """Run the lookup `step` with the collected `values` (see the module docstring)."""
    service = step.lookup_service
    if step.lookup != FlowStep.Lookup.HTTP or service is None:
        return LookupResult(FAILED, detail=f"lookup step {step.key} has no lookup service")
    if not base_allowed(service):
        return LookupResult(FAILED, detail=f"lookup service {service.name} is not in LOOKUP_ALLOWED_BASES")
    url = lookup_url(service, step.lookup_path, values)
    params = {name: values.get(name, "") for name in (p.strip() for p in step.lookup_params.split(",")) if name}
    body = b""
    if step.lookup_method == FlowStep.Method.POST:
        body = json.dumps(params).encode()
    elif params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    try:
        response = request(step.lookup_method, url, body=body, headers=service.header_dict(),
                           timeout=service.timeout_seconds, max_bytes=settings.LOOKUP_MAX_BYTES)
    except OutboundRefused as exc:
        return _failed(step, service, f"refused: {exc.detail}")
    except OutboundFailed as exc:
        return _failed(step, service, f"{exc.code}: {exc.detail}")
    if response.status == 404:
        return LookupResult(NOT_FOUND)
    if not response.ok:
        return _failed(step, service, f"answered {response.status}")
    if response.content_type and "json" not in response.content_type:
        return _failed(step, service, f"answered {response.content_type}, not JSON")
    try:
        data = json.loads(response.body)
    except ValueError:
        return _failed(step, service, "the answer is not valid JSON")
    if data in (None, {}, [], ""):
        return LookupResult(NOT_FOUND)
    if step.lookup_found_path and path_get(data, step.lookup_found_path) in (_MISSING, None, "", [], {}, False):
        return LookupResult(NOT_FOUND)
    mapping = step.lookup_map if isinstance(step.lookup_map, dict) else {}
    return LookupResult(FOUND, values={str(name): _as_text(path_get(data, str(path))) for name, path in mapping.items()})


def _failed(step: FlowStep, service: LookupService, why: str) -> LookupResult:
    detail = f"lookup {service.name} (step {step.key}) failed: {why}"[:500]
    log.warning("%s", detail)
    return LookupResult(FAILED, detail=detail)
