"""PostgreSQL: rows of the tables as they are, for `paperfeed copy-store` (TableStore)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from paperfeed.store.postgres.base import PostgresBase


def _key(table: str, key: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in key)


def _texts(row: Sequence[Any], at: Sequence[int]) -> Sequence[Any]:
    if not any(isinstance(row[i], bytes) for i in at):
        return row
    fixed = list(row)
    for i in at:
        if isinstance(fixed[i], bytes):
            fixed[i] = fixed[i].decode()
    return fixed


class TableMethods(PostgresBase):
    def table_columns(self, table: str) -> list[str]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s"
                " ORDER BY ordinal_position",
                (table,),
            )
            return [str(r[0]) for r in rows]

    def count_rows(self, table: str) -> int:
        with self._conn() as conn:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            return int(row.fetchone()[0])  # type: ignore[index]

    def read_rows(self, table: str, key: Sequence[str], after: Sequence[Any] | None,
                  limit: int) -> list[tuple[Any, ...]]:  # fmt: skip
        cols = _key(table, key)
        where: sql.Composable = sql.SQL("")
        if after is not None:
            marks = sql.SQL(", ").join(sql.Placeholder() * len(key))
            where = sql.SQL("WHERE ({}) > ({})").format(cols, marks)
        query = sql.SQL("SELECT * FROM {} {} ORDER BY {} LIMIT %s").format(
            sql.Identifier(table), where, cols
        )
        with self._conn() as conn:
            return [tuple(r) for r in conn.execute(query, (*(after or ()), limit))]

    def last_key(self, table: str, key: Sequence[str]) -> tuple[Any, ...] | None:
        order = sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(c)) for c in key)
        query = sql.SQL("SELECT {} FROM {} ORDER BY {} LIMIT 1").format(
            _key(table, key), sql.Identifier(table), order
        )
        with self._conn() as conn:
            found = conn.execute(query).fetchone()
        return tuple(found) if found else None

    def write_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
                   ) -> None:  # fmt: skip
        """COPY into a temporary table, then insert from it, replacing rows whose primary key
        exists (the only such rows are the migration's own `meta` row and a batch written
        again after a copy was stopped)."""
        if not rows:
            return
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        text, pk = self._shape(table)
        # SQLite keeps whatever type it is given: JSON written as bytes by older versions
        at = [i for i, c in enumerate(columns) if c in text]
        rows = [_texts(row, at) for row in rows]
        with self._tx() as conn:
            conn.execute(sql.SQL(
                "CREATE TEMPORARY TABLE copy_rows (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
            ).format(sql.Identifier(table)))  # fmt: skip
            with conn.cursor().copy(sql.SQL("COPY copy_rows ({}) FROM STDIN").format(cols)) as copy:
                for row in rows:
                    copy.write_row(row)
            others = [c for c in columns if c not in pk]
            update = sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in others
            )
            conflict = sql.SQL("ON CONFLICT ({}) DO {}").format(
                sql.SQL(", ").join(map(sql.Identifier, pk)),
                sql.SQL("UPDATE SET ") + update if others else sql.SQL("NOTHING"),
            )
            conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM copy_rows {}").format(
                sql.Identifier(table), cols, cols, conflict if pk else sql.SQL("")
            ))  # fmt: skip

    def _shape(self, table: str) -> tuple[set[str], list[str]]:
        """`table`'s text columns and primary key, looked up once per store (a copy writes
        thousands of batches into the same few tables)."""
        shapes = self._table_shapes
        if table not in shapes:
            with self._conn() as conn:
                found = conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema ="
                    " current_schema() AND table_name = %s AND data_type = 'text'",
                    (table,),
                )
                text = {str(r[0]) for r in found}
                pk = [str(r[0]) for r in conn.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
                    " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
                    " WHERE i.indrelid = %s::regclass AND i.indisprimary", (table,))]  # fmt: skip
            shapes[table] = (text, pk)
        return shapes[table]

    def finish_rows(self) -> None:
        with self._tx() as conn:
            found = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND is_identity = 'YES'"
            ).fetchall()
            query = sql.SQL(
                "SELECT setval(pg_get_serial_sequence(%s, %s),"
                " coalesce((SELECT max({}) FROM {}), 0) + 1, false)"
            )
            for table, column in found:
                ids = query.format(sql.Identifier(column), sql.Identifier(table))
                conn.execute(ids, (table, column))
            conn.execute("ANALYZE")  # the planner's statistics, before the first query needs them
