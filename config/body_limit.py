"""An ASGI guard that refuses oversized webhook bodies before Django reads them.

A declared `Content-Length` over the cap is refused at once; otherwise the body is read
up to the cap and refused with 413 the moment it grows past the cap or past its declared
length. Only paths under the configured prefixes are guarded; Django's own
DATA_UPLOAD_MAX_MEMORY_SIZE covers the rest.

Daphne reads the whole body before it calls the application, so under daphne this guard
comes too late to spare the read; `config.server` (what `run_embedded` and `make serve`
run) enforces the same cap while the body arrives. This guard stays for other ASGI servers
and for tests that call the application directly.
"""

from __future__ import annotations

from django.conf import settings

GUARDED_PREFIXES = ("/webhooks/",)


async def _refuse(send, status: int, text: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": text})


class BodySizeLimitMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED_PREFIXES):
            return await self.app(scope, receive, send)
        cap = settings.WEBHOOK_MAX_BODY_BYTES
        declared = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await _refuse(send, 400, b"Invalid Content-Length")
        if declared is not None and declared > cap:
            return await _refuse(send, 413, b"Request body too large")
        limit = cap if declared is None else declared
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _refuse(send, 413, b"Request body too large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return await self.app(scope, replaying(b"".join(chunks), receive), send)


def replaying(body: bytes, receive):
    """`receive` for the application behind one that has read the request: the whole body
    in one message, then whatever `receive` gives next (the disconnect)."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
