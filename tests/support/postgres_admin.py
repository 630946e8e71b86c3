"""A connection to the PostgreSQL server the tests use, to its maintenance database: for tests
that end other sessions' connections (a restart, as the server sees it)."""

from __future__ import annotations

import psycopg
from django.db import connection


def server_admin() -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        host=params["HOST"] or "127.0.0.1",
        port=int(params["PORT"] or 5432),
        user=params["USER"] or "postgres",
        password=params["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
