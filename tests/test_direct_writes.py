"""Daphne's connections send in `write()` when nothing waits to go out, and keep Twisted's
buffering, order and error handling otherwise (config.direct_writes)."""

from __future__ import annotations

import socket

import pytest
from twisted.internet import tcp

from config import direct_writes


class _Reactor:
    """What a connection asks of its reactor: readiness registrations, recorded."""

    def __init__(self) -> None:
        self.writers: list[object] = []

    def addReader(self, reader) -> None:  # noqa: N802 - Twisted's interface
        pass

    def removeReader(self, reader) -> None:  # noqa: N802
        pass

    def addWriter(self, writer) -> None:  # noqa: N802 - registering twice is registering once
        if writer not in self.writers:
            self.writers.append(writer)

    def removeWriter(self, writer) -> None:  # noqa: N802
        if writer in self.writers:
            self.writers.remove(writer)


@pytest.fixture
def connection(monkeypatch):
    monkeypatch.setattr(tcp.Connection, "write", direct_writes._original_write)
    direct_writes.direct_writes_install()
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.settimeout(2)
    reactor = _Reactor()
    conn = tcp.Connection(ours, protocol=None, reactor=reactor)
    conn.connected = True
    yield conn, peer, reactor
    ours.close()
    peer.close()


def _read(peer: socket.socket, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        got += peer.recv(size - len(got))
    return bytes(got)


def test_a_write_goes_out_at_once_without_waiting_for_the_reactor(connection):
    conn, peer, reactor = connection

    conn.write(b"frame one")

    assert _read(peer, 9) == b"frame one"
    assert reactor.writers == []  # no readiness registration, no reactor turn


def test_what_the_kernel_does_not_take_is_buffered_and_sent_in_order(connection):
    conn, peer, reactor = connection
    big = bytes(range(256)) * 40_000  # far more than a socket buffer holds

    conn.write(big)
    conn.write(b"after")  # something is buffered: this waits its turn

    assert reactor.writers == [conn]
    received = bytearray()
    while reactor.writers:
        received += peer.recv(1 << 20)
        conn.doWrite()
    received += _read(peer, len(big) + 5 - len(received))
    assert bytes(received) == big + b"after"

    conn.write(b"next")  # buffers drained: direct again
    assert _read(peer, 4) == b"next"
    assert reactor.writers == []


def test_a_closing_connection_takes_twisteds_path(connection):
    conn, peer, reactor = connection
    conn.disconnecting = True

    conn.write(b"late")

    assert reactor.writers == [conn]
    peer.settimeout(0.1)
    with pytest.raises(TimeoutError):
        peer.recv(4)
