"""One UPDATE for many rows, each with values of its own.

Django's `bulk_update` builds a `Case(When(pk=…))` expression for every row and field and
resolves each one, which for a batch of fifty rows costs more CPU than the round trips it
saves. `rows_update` writes the same statement directly: a value every row shares is set
as it is, the others by a `CASE <key> WHEN … THEN … END`, with values prepared by their
fields as the ORM would (so it runs on PostgreSQL and SQLite alike).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Model


def rows_update(model: type[Model], key: str, rows: dict[Any, dict[str, Any]]) -> int:
    """Set, on each row of `model` whose field `key` equals a key of `rows`, the values given
    for it (field name → value, as the model's attribute holds it: ids for foreign keys;
    every row names the same fields). One statement, in the caller's transaction; the
    caller holds the rows' locks. Returns the number of rows updated."""
    if not rows:
        return 0
    meta = model._meta
    quote = connection.ops.quote_name
    key_field = cast(Field, meta.get_field(key))
    keys = list(rows)
    key_params = [key_field.get_db_prep_value(k, connection) for k in keys]
    names = list(dict.fromkeys(name for values in rows.values() for name in values))
    assignments: list[str] = []
    params: list[Any] = []
    for name in names:
        field = cast(Field, meta.get_field(name))
        values = [field.get_db_prep_save(rows[k][name], connection) for k in keys]
        column = quote(str(field.column))
        if all(isinstance(v, Hashable) for v in values) and len(set(values)) == 1:
            assignments.append(f"{column} = %s")
            params.append(values[0])
            continue
        whens = " ".join("WHEN %s THEN %s" for _ in keys)
        assignments.append(f"{column} = CASE {quote(str(key_field.column))} {whens} END")
        for key_param, value in zip(key_params, values, strict=True):
            params += [key_param, value]
    placeholders = ", ".join(["%s"] * len(keys))
    # Only quoted names from the model's metadata and placeholders go into the text.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {quote(str(key_field.column))} IN ({placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *key_params])
        return cursor.rowcount
