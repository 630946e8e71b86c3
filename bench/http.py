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
    """Up to `max_connections` keep-alive connections to one host, on one port or spread
    over several (one per server process, as a proxy in front of them would): each request
    goes to the port with the fewest requests in flight (nginx's `least_conn`), on an idle
    connection to it or a new one; `post` waits while all connections are busy. A
    connection that fails is dropped and the error raised."""

    def __init__(self, host: str, port: int | list[int], max_connections: int) -> None:
        self.host = host
        self.ports = [port] if isinstance(port, int) else list(port)
        self._idle: dict[int, list[_Connection]] = {p: [] for p in self.ports}
        self._busy: dict[int, int] = dict.fromkeys(self.ports, 0)
        self.served: dict[int, int] = dict.fromkeys(self.ports, 0)  # requests answered, per port
        self._slots = asyncio.Semaphore(max_connections)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        ).encode("latin-1")
        async with self._slots:
            port = min(self.ports, key=self._busy.__getitem__)
            self._busy[port] += 1
            try:
                idle = self._idle[port]
                connection = idle.pop() if idle else await self._open(port)
                try:
                    status = await connection.request(head, body)
                except BaseException:
                    connection.writer.close()
                    raise
                idle.append(connection)
                self.served[port] += 1
                return status
            finally:
                self._busy[port] -= 1

    async def _open(self, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, port)
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.writer.close()
            idle.clear()
