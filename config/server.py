"""Daphne as Handoff serves it: the webhook body cap enforced while the request arrives.

Daphne (Twisted's `http.Request`) reads a whole request body before it calls the ASGI
application, so `config.body_limit` alone would answer an oversized webhook only after
the last byte came in. Here the request refuses it at the wire instead, for paths under
`config.body_limit.GUARDED_PREFIXES`:

- a declared `Content-Length` over `WEBHOOK_MAX_BODY_BYTES` gets 413 as soon as the
  headers end (and no `100 Continue`);
- a body without a length (chunked) gets 413 the moment its bytes pass the cap.
  A body longer than its declared length is never read past it: Twisted hands the
  request exactly the declared bytes and treats the rest as the next request.

After a 413 the connection is half-closed: the answer goes out with `Connection: close`,
what the client still sends is read and dropped (never kept) for at most
`LINGER_SECONDS`, then the connection is closed. Closing at once would make the kernel
reset the connection while the client is still sending, which can destroy the 413
before the client reads it.

`manage.py run_embedded` (the demo) and `python -m config.server` (daphne's own command
line with this server; `make serve`) both serve with `HandoffServer`.
"""

from __future__ import annotations

import gc
import sys
from functools import partial
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urlsplit

from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from django.conf import settings

from config.body_limit import GUARDED_PREFIXES
from config.direct_writes import direct_writes_install
from config.fanout import SEND_NOW

LINGER_SECONDS = 2.0
REFUSAL_BODY = b"Request body too large"
REFUSAL = (
    b"HTTP/1.1 413 Request Entity Too Large\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n\r\n" % len(REFUSAL_BODY)
) + REFUSAL_BODY


def guarded_path(target: bytes) -> bool:
    """Whether the request target (origin or absolute form, as sent) is under a capped prefix."""
    path = target.split(b"?", 1)[0]
    if not path.startswith(b"/"):
        path = urlsplit(path).path or b"/"
    return unquote(path.decode("ascii", "replace")).startswith(GUARDED_PREFIXES)


def _drop(data: bytes) -> None:
    return None


class BodyLimitedRequest(WebRequest):
    """Daphne's request, refusing oversized bodies on guarded paths before buffering them."""

    body_cap: int | None = None
    body_received = 0
    body_refused = False

    def gotLength(self, length):
        # Called once the headers are in, before any body byte; the request line is still
        # on the channel (`_path`), as Twisted parses it.
        if guarded_path(getattr(self.channel, "_path", b"")):
            self.body_cap = int(settings.WEBHOOK_MAX_BODY_BYTES)
            if length is not None and length > self.body_cap:
                self.refuse_body()
                return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self.body_refused:
            return
        if self.body_cap is not None:
            self.body_received += len(data)
            if self.body_received > self.body_cap:
                self.refuse_body()
                return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        if self.body_refused:
            return
        super().requestReceived(command, path, version)

    def refuse_body(self) -> None:
        """Answer 413 now, drop whatever else the client sends, close after a short linger."""
        from twisted.internet import reactor as twisted_reactor  # daphne installed asyncio's

        reactor: Any = twisted_reactor
        if self.body_refused:
            return
        self.body_refused = True
        channel = self.channel
        transport = channel.transport
        previous = getattr(self, "content", None)
        if previous is not None:
            previous.close()
        self.content = BytesIO()
        # Nothing more of this connection is parsed: no body, no next request, and no
        # "100 Continue" that Twisted would otherwise send after the headers.
        channel.dataReceived = channel.rawDataReceived = channel.lineReceived = _drop
        channel._send100Continue = lambda: None
        channel.setTimeout(None)
        transport.write(REFUSAL)
        half_close = getattr(transport, "loseWriteConnection", None)
        if half_close is not None:
            half_close()
            reactor.callLater(LINGER_SECONDS, self._end_linger, transport)
        else:
            transport.loseConnection()
        self._log_refusal(channel)

    @staticmethod
    def _end_linger(transport) -> None:
        if transport.connected:
            transport.abortConnection()

    def _log_refusal(self, channel) -> None:
        peer = channel.transport.getPeer()
        client = f"{peer.host}:{peer.port}" if hasattr(peer, "host") else None
        target = getattr(channel, "_path", b"")
        self.server.log_action(
            "http",
            "complete",
            {
                "path": target.decode("ascii", "replace"),
                "status": 413,
                "method": getattr(channel, "_command", b"POST").decode("ascii", "replace"),
                "client": client,
                "time_taken": 0.0,
                "size": len(REFUSAL),
            },
        )


class BodyLimitedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BodyLimitedRequest
        return protocol


# The cyclic garbage collector, tuned for a server holding many sockets: a full collection
# walks every live object, and with a thousand desk sockets that is long enough to stall a
# broadcast (the median to 1,000 sockets measured 150 – 158 ms with Python's defaults, 81 –
# 98 ms with these). Objects made while starting (Django, the apps, the URL map) are moved out
# of the collector's sight (`gc.freeze`), and collections run less often. Reference counting
# still frees everything without cycles at once.
GC_THRESHOLDS = (50_000, 50, 100)


def gc_tune() -> None:
    """Tune the collector for a long-running server process (see GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class HandoffServer(Server):
    """Daphne's server with `BodyLimitedRequest` for HTTP, sockets that send in `write()`
    when nothing waits to go out (`config.direct_writes`), and a tuned collector.

    A websocket's scope carries `scope["extensions"]["handoff.send_now"]`: a plain function
    that writes a text frame to the socket at once and answers whether it did (False once
    the socket is closing or gone), for consumers that send outside the ASGI `send`
    coroutine (`config.fanout`). It does what `send({"type": "websocket.send", ...})`
    does, in the same order with the frames sent that way.

    `Server.run()` creates its HTTP factory inline (`self.http_factory = HTTPFactory(self)`)
    and listens with it; the factory is swapped as it is assigned, so the rest of `run()`
    stays exactly as daphne ships it."""

    def run(self) -> None:
        gc_tune()
        direct_writes_install()
        super().run()

    def create_application(self, protocol, scope):
        if scope.get("type") == "websocket":
            scope["extensions"] = {**(scope.get("extensions") or {}), SEND_NOW: partial(self.send_now, protocol)}
        return super().create_application(protocol, scope)

    def send_now(self, protocol, text: str) -> bool:
        """Write `text` as a frame on `protocol`'s open socket (`Server.handle_reply`'s checks)."""
        connection = self.connections.get(protocol)
        if connection is None or connection.get("disconnected") or protocol.state != protocol.STATE_OPEN:
            return False
        protocol.serverSend(text, False)
        return True

    @property
    def http_factory(self):
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory) -> None:
        if not isinstance(factory, BodyLimitedHTTPFactory):
            factory = BodyLimitedHTTPFactory(self)
        self._http_factory = factory


class HandoffCommandLine(CommandLineInterface):
    """`daphne`'s command line (every option, `--fd` included), serving with `HandoffServer`."""

    server_class = HandoffServer


def main(argv: list[str] | None = None) -> None:
    HandoffCommandLine().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
