"""A lean HTTP/1.1 load client: keep-alive connections on asyncio streams, POST only.

The load generator shares the machine's cores with the servers it measures, so it must
cost little per request: a general-purpose client (httpx) spends about a quarter of a
core at 200 requests/s, which the servers would otherwise have. This one writes a
prepared request and reads the status line, the headers and the body (by
Content-Length or chunked), nothing else.
"""

from __future__ import annotations

import asyncio


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(self, head: bytes, body: bytes) -> int:
        self.writer.write(head + body)
        block = await self.reader.readuntil(b"\r\n\r\n")
        lines = block.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        if fields.get("connection", "").lower() == "close":
            self.writer.close()
            raise ConnectionResetError("the server closed the connection")
        return status


class LoadClient:
    """Up to `max_connections` keep-alive connections to one host; `post` waits for a
    free one. A connection that fails is dropped and the error raised."""

    def __init__(self, host: str, port: int, max_connections: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        ).encode("latin-1")
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._open()
            try:
                status = await connection.request(head, body)
            except BaseException:
                connection.writer.close()
                raise
            self._idle.append(connection)
            return status

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.writer.close()
        self._idle.clear()
