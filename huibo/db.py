"""Statements written for the hot paths, without the ORM compiling a query each time (0.3 to 1 ms of CPU per
``create()``, ``filter().update()`` or ``select_related().get()`` here, against about 0.05 to 0.1 ms to send the
statement). Each value is prepared by its own model field for the connection, so PostgreSQL and the demo's SQLite
get what the ORM would send them; the statements run on the current connection, in whatever transaction is open,
and bypass ``save()`` (no signals) as ``update()`` does."""

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from django.db import models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from huibo import prepared

M = TypeVar("M", bound=models.Model)


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


def _update(
    connection: BaseDatabaseWrapper,
    model: type[models.Model],
    where: Mapping[str, object],
    values: Mapping[str, object],
) -> tuple[str, list[Any]]:
    assignments, conditions, params = [], [], []
    for name, value in values.items():
        field = model._meta.get_field(name)
        assignments.append(f"{field.column} = %s")
        params.append(field.get_db_prep_save(value, connection))
    for name, value in where.items():
        field = model._meta.get_field(name)
        items = value if isinstance(value, tuple | list) else (value,)
        conditions.append(f"{field.column} IN ({', '.join(['%s'] * len(items))})")
        params.extend(field.get_db_prep_value(item, connection, prepared=False) for item in items)
    return f"UPDATE {model._meta.db_table} SET {', '.join(assignments)} WHERE {' AND '.join(conditions)}", params


def _run(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, params)
        return int(cursor.rowcount)


def rows_update(model: type[models.Model], *, where: Mapping[str, object], values: Mapping[str, object]) -> int:
    """``UPDATE … SET values WHERE where``; how many rows changed. ``where`` is a conjunction of equalities (a
    tuple or list value: one of them); field names or attnames (``answered_by_id``) on both sides."""
    connection = transaction.get_connection()
    return _run(connection, *_update(connection, model, where, values))


def rows_insert(instances: Sequence[models.Model]) -> None:
    """Unsaved instances of one model in one multi-row INSERT (their defaults and ``auto_now_add`` applied)."""
    if not instances:
        return
    connection = transaction.get_connection()
    rows = [insert_values(instance, connection) for instance in instances]
    columns = rows[0][0]
    sql = insert_sql(instances[0]._meta.db_table, columns)
    sql += f", ({', '.join(['%s'] * len(columns))})" * (len(rows) - 1)
    _run(connection, sql, [value for _columns, values in rows for value in values])


def row_update_recorded(
    model: type[models.Model], *, where: Mapping[str, object], values: Mapping[str, object], record: models.Model
) -> bool:
    """``rows_update`` of the one row ``where`` names and, only if it changed, ``record`` (an unsaved instance)
    inserted: a state change and the row that records it. True when both happened.

    One round trip on PostgreSQL (a data-modifying CTE); SQLite has no such CTE and runs the two statements. The
    caller's transaction makes them one.
    """
    connection = transaction.get_connection()
    update, update_params = _update(connection, model, where, values)
    columns, record_params = insert_values(record, connection)
    insert = insert_sql(record._meta.db_table, columns)
    if connection.vendor != "postgresql":
        return bool(_run(connection, update, update_params)) and bool(_run(connection, insert, record_params))
    select = insert.replace(" VALUES (", " SELECT ", 1).removesuffix(")") + " FROM changed"
    return bool(_run(connection, f"WITH changed AS ({update} RETURNING 1) {select}", update_params + record_params))


def row_fetch(sql: str, params: Sequence[object]) -> Sequence[Any] | None:
    """The first row of a SELECT, or None."""
    with transaction.get_connection().cursor() as cursor:
        prepared.execute(cursor, sql, params)
        row: Sequence[Any] | None = cursor.fetchone()
        return row


def row_update_fetch(
    model: type[models.Model], *, where: Mapping[str, object], values: Mapping[str, object], select: str
) -> Sequence[Any] | None:
    """``rows_update`` of the one row ``where`` names and, only if it changed, the first row of ``select`` run on
    that row as it is now, which the SELECT reads under the name ``changed``; None when nothing changed.

    One round trip on PostgreSQL (a data-modifying CTE); SQLite has no such CTE and runs an UPDATE … RETURNING,
    then the SELECT on the row it changed. The caller's transaction makes them one.
    """
    connection = transaction.get_connection()
    update, params = _update(connection, model, where, values)
    if connection.vendor == "postgresql":
        return row_fetch(f"WITH changed AS ({update} RETURNING *) {select}", params)
    pk = model._meta.pk.column
    changed = row_fetch(f"{update} RETURNING {pk}", params)
    if changed is None:
        return None
    return row_fetch(f"WITH changed AS (SELECT * FROM {model._meta.db_table} WHERE {pk} = %s) {select}", changed)


def row_lock_clause(*, of: str = "") -> str:
    """What makes a SELECT row-lock what it read (only table ``of``'s rows, when it names one), to the end of the
    transaction: FOR NO KEY UPDATE, so rows that reference it can still be inserted, where the database has row
    locks; SQLite serialises write transactions instead."""
    features = transaction.get_connection().features
    of = f" OF {of}" if of and features.has_select_for_update_of else ""
    if features.has_select_for_no_key_update:
        return f" FOR NO KEY UPDATE{of}"
    return f" FOR UPDATE{of}" if features.has_select_for_update else ""


def row_instance(model: type[M], values: Mapping[str, object]) -> M:
    """An instance holding ``values`` (by attname) as loaded from the database, every other field deferred."""
    names = [field.attname for field in model._meta.concrete_fields if field.attname in values]
    return model.from_db(None, names, [values[name] for name in names])


def row_insert(instance: M) -> M:
    """``instance`` (unsaved) INSERTed by one statement, its primary key read back: ``create()`` without the
    ORM's compilation."""
    connection = transaction.get_connection()
    columns, values = insert_values(instance, connection)
    sql = insert_sql(instance._meta.db_table, columns)
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:
            cursor.execute(f"{sql} RETURNING {instance._meta.pk.column}", values)
            instance.pk = cursor.fetchone()[0]
        else:
            cursor.execute(sql, values)
            instance.pk = cursor.lastrowid
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def select_list(model: type[models.Model], alias: str) -> str:
    """Every concrete column of ``model``, qualified by ``alias``, in the order ``instances_from_row`` reads."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


@functools.cache
def _loaders(model: type[models.Model], vendor: str) -> tuple[tuple[str, Any, tuple[Converter, ...]], ...]:
    connection = transaction.get_connection()
    loaders = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        converters = (*connection.ops.get_db_converters(column), *field.get_db_converters(connection))
        loaders.append((field.attname, column, converters))
    return tuple(loaders)


def value_from_db(model: type[models.Model], attname: str, value: Any) -> Any:
    """A value a plain statement read from (or computed over, as SUM) ``model``'s column ``attname``, converted as
    the ORM would: SQLite keeps decimals as REAL, and this makes them the field's Decimal again."""
    connection = transaction.get_connection()
    _name, column, converters = _loaders_by_attname(model, connection.vendor)[attname]
    for converter in converters:
        value = converter(value, column, connection)
    return value


@functools.cache
def _loaders_by_attname(model: type[models.Model], vendor: str) -> dict[str, tuple[str, Any, tuple[Converter, ...]]]:
    return {loader[0]: loader for loader in _loaders(model, vendor)}


def instances_from_row(row: Sequence[Any], *row_models: type[models.Model]) -> list[models.Model]:
    """The instances one row of ``select_list`` columns holds, model after model, each value converted as the
    ORM would: ``select_related().get()`` without compiling a QuerySet."""
    connection = transaction.get_connection()
    instances, start = [], 0
    for model in row_models:
        loaders = _loaders(model, connection.vendor)
        values = []
        for (_attname, column, converters), value in zip(loaders, row[start : start + len(loaders)], strict=True):
            for converter in converters:
                value = converter(value, column, connection)
            values.append(value)
        instances.append(model.from_db(connection.alias, [attname for attname, _c, _v in loaders], values))
        start += len(loaders)
    return instances
