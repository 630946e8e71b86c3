"""Daphne's sockets write at once when nothing is waiting to go out.

Twisted's TCP transport never sends in `write()`: it buffers the bytes, registers the
socket for writability, and sends on the reactor's next turn, then unregisters it. For one
desk event sent to a thousand sockets that is, per socket, a reactor turn, a readiness
callback and two `epoll_ctl` calls besides the `send` itself: about a third of a
broadcast's CPU in the daphne process. asyncio's own transports try the send first and
buffer only what the kernel does not take; `direct_writes_install()` gives Twisted's
server connections the same behaviour.

What is kept: bytes go out in the order written (the direct send happens only when
nothing is buffered; anything the kernel does not take is buffered and sent by Twisted's
own path), a closed or closing connection takes the original path, and an error on the
direct send is left for that path to report.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp

_original_write = tcp.Connection.write


def _write(self: Any, data: bytes) -> None:
    if (
        data
        and isinstance(data, bytes)
        and self.connected
        and not self.disconnecting
        and not self._writeDisconnected
        and not self._tempDataLen
        and self.offset == len(self.dataBuffer)
    ):
        sent = self.writeSomeData(data)
        if isinstance(sent, int) and sent >= 0:
            if sent == len(data):
                return
            data = data[sent:]
    _original_write(self, data)


def direct_writes_install() -> None:
    """Make Twisted's TCP connections in this process send in `write()` when they can."""
    tcp.Connection.write = _write  # type: ignore[method-assign]
