"""INSERT statements written for the hot paths, without the ORM compiling a query each time (0.3 to 0.5 ms of
CPU per ``create()`` here, against about 0.05 ms to send the statement)."""

from collections.abc import Collection
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


def insert_values(
    instance: models.Model, connection: BaseDatabaseWrapper, *, exclude: Collection[str] = ()
) -> tuple[list[str], list[Any]]:
    """The columns and values the ORM would INSERT for an unsaved instance: its defaults, ``auto_now_add``, each
    value prepared by its own field for this connection. The primary key and ``exclude`` (field names) are left
    out."""
    fields = [f for f in instance._meta.concrete_fields if not f.primary_key and f.name not in exclude]
    return [f.column for f in fields], [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]


def insert_sql(table: str, columns: list[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
