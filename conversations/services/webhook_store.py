"""Webhook bodies stored from the server's event loop, the ones arriving together in one insert.

Under the ASGI server on PostgreSQL the intake's insert does not go through a request
thread and Django's connection (a thread per request, a connection taken from the pool
and checked, the ORM, then given back): each server process keeps one connection of its
own on its event loop. The bodies that arrive while an insert is in flight go in the
next one together: one statement, one commit. A request waits until the insert holding
its body has committed, so 200 still means stored exactly as received; the processing
task for the batch's events is dispatched after that commit (and coalesced further by
config.publisher). If the task cannot be published the events wait, pending, for the sweep.

When an insert fails nothing of its batch was stored, and each of its requests gets the
error as Django's (`OperationalError` while the database cannot be reached: the view
answers 503, and so do the requests that arrived meanwhile, without waiting for another
connection attempt). The connection is then dropped and the next batch connects again. A batch
whose connection was ended by the server while idle (a PostgreSQL restart) runs once
more on a fresh connection: the server ran none of it.

Where it does not apply (`batched()`: SQLite, tasks run inline, or
`WEBHOOK_STORE_BATCHED` off, as in the tests that go through Django's test client)
`webhook_intake.webhook_event_store` stores the body in the request's thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone
from psycopg import errors as pg_errors
from psycopg import sql

from config import task_names
from config.tasking import dispatch
from conversations.models import WebhookEvent

log = logging.getLogger(__name__)

# Bounds of one insert: rows, and bytes of body (a batch stops before the body that would
# pass it; a single larger body goes alone).
MAX_BATCH_ROWS = 200
MAX_BATCH_BYTES = 4 * 1024 * 1024
# The server ended the connection before it ran anything on it.
_ENDED_BY_SERVER = (pg_errors.AdminShutdown, pg_errors.CrashShutdown, pg_errors.CannotConnectNow)


def batched() -> bool:
    """Whether the intake stores through the event loop's writer here."""
    return (
        settings.WEBHOOK_STORE_BATCHED
        and settings.TASKS_MODE != "inline"
        and settings.DATABASES[DEFAULT_DB_ALIAS]["ENGINE"] == "django.db.backends.postgresql"
    )


def _insert_statement() -> sql.Composed:
    """One row per element of the arrays (body, signature, arrival), the model's defaults
    for the rest, in the arrays' order."""
    meta = WebhookEvent._meta
    fields = {field.name: field for field in meta.concrete_fields if field.column}
    names = ["provider", "body", "signature", "received_at", "state", "attempts", "errors"]
    columns: list[sql.Composable] = [sql.Identifier(str(fields[name].column)) for name in names]
    return sql.SQL(
        "INSERT INTO {table} ({columns}) "
        "SELECT {provider}, b, s, r, {state}, {attempts}, {errors}::jsonb "
        "FROM unnest(%s::bytea[], %s::text[], %s::timestamptz[]) WITH ORDINALITY AS u(b, s, r, n) "
        "ORDER BY n RETURNING {pk}"
    ).format(
        table=sql.Identifier(meta.db_table),
        columns=sql.SQL(", ").join(columns),
        provider=sql.Literal(fields["provider"].get_default()),
        state=sql.Literal(fields["state"].get_default()),
        attempts=sql.Literal(fields["attempts"].get_default()),
        errors=sql.Literal(json.dumps(fields["errors"].get_default())),
        pk=sql.Identifier(str(fields[meta.pk.name].column)),
    )


_Waiting = tuple[bytes, str, datetime, "asyncio.Future[None]"]


class BatchWriter:
    """The writer of one event loop: its connection and the bodies waiting for an insert."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._waiting: list[_Waiting] = []
        self._drainer: asyncio.Task[None] | None = None
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._statement = _insert_statement()

    async def store(self, body: bytes, signature: str) -> None:
        """Return once `body` is committed; raise Django's database error if it was not stored."""
        done: asyncio.Future[None] = self.loop.create_future()
        self._waiting.append((body, signature[:100], timezone.now(), done))
        if self._drainer is None:
            self._drainer = self.loop.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._take()
                try:
                    ids = await self._insert(batch)
                except Exception as exc:
                    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
                        # The database cannot be reached: those waiting meanwhile get the
                        # same answer now rather than each waiting for a connection again.
                        batch, self._waiting = batch + self._waiting, []
                    _settle(batch, _django_error(exc))
                    continue
                except BaseException:
                    _settle(batch, cancel=True)
                    raise
                _settle(batch)
                try:
                    dispatch(task_names.WEBHOOK_PROCESS_BATCH, {"event_ids": ids}, coalesce="event_ids")
                except Exception:  # stored and pending: the sweep dispatches them
                    log.exception("webhook store: could not dispatch the processing of %d event(s)", len(ids))
        finally:
            self._drainer = None

    def _take(self) -> list[_Waiting]:
        size = 0
        count = 0
        for body, *_ in self._waiting:
            size += len(body)
            if count and (count == MAX_BATCH_ROWS or size > MAX_BATCH_BYTES):
                break
            count += 1
        batch, self._waiting = self._waiting[:count], self._waiting[count:]
        return batch

    async def _insert(self, batch: list[_Waiting]) -> list[int]:
        reused = self._connection is not None
        try:
            return await self._execute(batch)
        except _ENDED_BY_SERVER:
            if not reused:
                raise
            log.info("webhook store: the server ended its connection; connecting again")
            return await self._execute(batch)

    async def _execute(self, batch: list[_Waiting]) -> list[int]:
        params = ([b for b, *_ in batch], [s for _, s, *_ in batch], [r for _, _, r, _ in batch])
        try:
            connection = self._connection
            if connection is None or connection.closed:
                connection = self._connection = await _connect()
            cursor = await connection.execute(self._statement, params)
            return [row[0] for row in await cursor.fetchall()]
        except BaseException:
            await self._drop()
            raise

    def discard(self) -> None:
        """Close the connection of a writer whose loop has stopped (it cannot be awaited)."""
        connection, self._connection = self._connection, None
        if connection is not None and not connection.closed:
            connection.pgconn.finish()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # already broken: nothing left to close cleanly
                log.debug("webhook store: closing a failed connection", exc_info=True)


async def _connect() -> psycopg.AsyncConnection[Any]:
    """A connection with the default database's settings, in autocommit (each insert is
    its own transaction). Connecting gives up after the pool's timeout, as a request
    waiting for a pooled connection would."""
    database = connections[DEFAULT_DB_ALIAS]
    params = dict(database.get_connection_params())
    for key in ("cursor_factory", "context"):  # Django's sync cursor and its adapters
        params.pop(key, None)
    pool = database.settings_dict["OPTIONS"].get("pool")
    timeout = pool.get("timeout", 10) if isinstance(pool, dict) else 10
    params.setdefault("connect_timeout", max(2, int(timeout)))
    return await psycopg.AsyncConnection.connect(autocommit=True, **params)


def _settle(batch: list[_Waiting], error: BaseException | None = None, cancel: bool = False) -> None:
    """Answer the batch's requests still waiting: stored, failed with `error`, or
    cancelled (the loop is stopping)."""
    for *_, done in batch:
        if done.done():
            continue  # its request went away; the row is stored (or not) all the same
        if cancel:
            done.cancel()
        elif error is not None:
            done.set_exception(error)
        else:
            done.set_result(None)


def _django_error(exc: BaseException) -> BaseException:
    """The exception a request gets for a failed insert, as Django's wrapper would raise it."""
    if isinstance(exc, psycopg.OperationalError):
        wrapped: BaseException = OperationalError(*exc.args)
    elif isinstance(exc, psycopg.InterfaceError):
        wrapped = InterfaceError(*exc.args)
    elif isinstance(exc, psycopg.Error):
        wrapped = DatabaseError(*exc.args)
    else:
        return exc
    wrapped.__cause__ = exc
    return wrapped


_writers: dict[asyncio.AbstractEventLoop, BatchWriter] = {}


async def store(body: bytes, signature: str) -> None:
    """Store a signed webhook body through the running loop's writer (see the module)."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        for other in [other for other in _writers if other.is_closed()]:
            _writers.pop(other).discard()
        writer = _writers[loop] = BatchWriter(loop)
    await writer.store(body, signature)


def writers_forget() -> None:
    """Close every writer's connection and forget them (tests: each test has a loop of its
    own; a server keeps its writer for its whole life)."""
    while _writers:
        _writers.popitem()[1].discard()
