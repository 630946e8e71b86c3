"""The benches' websocket client: a minimal RFC 6455 client for text frames on loopback,
a pool that opens idle sockets in batches, and a watch that counts a broadcast's frames as
each socket's reader parses them."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections.abc import Callable


class Socket:
    """A minimal websocket client (RFC 6455): enough for text frames on loopback."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.frames: asyncio.Queue = asyncio.Queue()
        # A frame this answers True for is consumed here instead of queued (a broadcast's
        # count: no task or queue round per socket on the measuring side).
        self.taker: Callable[[dict], bool] | None = None
        # Read all the time: the server pings idle sockets and drops those that do not answer.
        self.pump = asyncio.ensure_future(self._read_forever())

    @classmethod
    async def open(cls, port: int, path: str, cookie: str) -> Socket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
                f"Cookie: {cookie}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
        return cls(reader, writer)

    async def _read_forever(self) -> None:
        try:
            while True:
                first, second = await self.reader.readexactly(2)
                length = second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
                payload = await self.reader.readexactly(length)
                opcode = first & 0x0F
                if opcode == 0x1:
                    frame = json.loads(payload)
                    if self.taker is None or not self.taker(frame):
                        self.frames.put_nowait(frame)
                elif opcode == 0x9:
                    self._write(0xA, payload)
                elif opcode == 0x8:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        self.frames.put_nowait(None)

    async def recv(self) -> dict:
        frame = await self.frames.get()
        if frame is None:
            raise ConnectionError("closed by the server")
        return frame

    def _write(self, opcode: int, data: bytes) -> None:
        mask = os.urandom(4)
        size = bytes([0x80 | len(data)]) if len(data) < 126 else bytes([0xFE]) + struct.pack("!H", len(data))
        self.writer.write(bytes([0x80 | opcode]) + size + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    async def send(self, frame: dict) -> None:
        self._write(0x1, json.dumps(frame).encode())
        await self.writer.drain()

    def close(self) -> None:
        self.pump.cancel()
        self.writer.close()


class SocketPool:
    """Idle sockets opened 25 at a time; more than 50 refused in all stops the bench."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.sockets: list[Socket] = []
        self.refused = 0

    async def fill(self, want: int, open_one, *, until: float) -> bool:
        """Open sockets with `open_one()` until `want` are held or the clock reaches `until`;
        whether `want` are held."""
        while len(self.sockets) < want and time.monotonic() < until:
            opened = await asyncio.gather(
                *(open_one() for _ in range(min(25, want - len(self.sockets)))), return_exceptions=True
            )
            refused = [o for o in opened if isinstance(o, BaseException)]
            self.sockets.extend(o for o in opened if isinstance(o, Socket))
            if refused:
                self.refused += len(refused)
                if self.refused > 50:
                    raise RuntimeError(f"{self.what} sockets refused: {refused[0]!r}")
                await asyncio.sleep(0.5)
        return len(self.sockets) >= want


class BroadcastWatch:
    """Counts the sockets that received the `kind` frame numbered `n`: set up before the
    event is sent, each frame counted as its reader parses it, so the measuring side costs
    one parse per socket (no task or queue round per socket)."""

    def __init__(self, sockets: list[Socket], kind: str, n: int) -> None:
        self.sockets, self.kind, self.n = sockets, kind, n
        self.waiting = len(sockets)
        self.done = asyncio.get_running_loop().create_future()
        if not sockets:
            self.done.set_result(None)
        for ws in sockets:
            ws.taker = self._take

    def _take(self, frame: dict) -> bool:
        if frame.get("type") != self.kind or frame.get("n") != self.n:
            return False
        self.waiting -= 1
        if self.waiting == 0 and not self.done.done():
            self.done.set_result(None)
        return True

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self.done), timeout)
        finally:
            for ws in self.sockets:
                ws.taker = None
