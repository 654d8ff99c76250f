"""Every mart as a Parquet file, for tools that do not read DuckDB (Power Query, R, Spark)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as parquet

from dropscore.sql import SqlError, read_only

BATCH_ROWS = 100_000


class ExportFailed(SqlError):
    """The Parquet files could not be written (the message is one line for the user)."""


@dataclass(frozen=True)
class ExportedMart:
    name: str
    rows: int
    path: Path


def export_parquet(warehouse: Path, directory: Path) -> list[ExportedMart]:
    """Write `<directory>/<mart>.parquet` for every table and view in the `marts` schema.

    The warehouse is read through the read-only sandbox and written by pyarrow, a batch at a
    time, so the query side never gets file access. Each file appears whole or not at all.
    """
    exported = []
    with read_only(warehouse) as connection:
        marts = [
            name
            for (name,) in connection.execute(
                """
                select table_name from duckdb_tables()
                where database_name = current_database() and schema_name = 'marts'
                union all
                select view_name from duckdb_views()
                where database_name = current_database() and schema_name = 'marts'
                order by 1
                """
            ).fetchall()
        ]
        if not marts:
            raise ExportFailed(f"{warehouse} has no marts; run `dropscore build` first")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ExportFailed(f"cannot create {directory}: {error.strerror}") from None
        for name in marts:
            path = directory / f"{name}.parquet"
            partial = directory / f".{name}.parquet.{os.getpid()}.tmp"
            try:
                quoted = '"' + name.replace('"', '""') + '"'
                reader = connection.sql(f"select * from marts.{quoted}").to_arrow_reader(BATCH_ROWS)
                rows = 0
                with parquet.ParquetWriter(partial, reader.schema) as writer:
                    for batch in reader:
                        writer.write_batch(batch)
                        rows += batch.num_rows
                os.replace(partial, path)
            except OSError as error:
                raise ExportFailed(f"cannot write {path}: {error.strerror or error}") from None
            finally:
                partial.unlink(missing_ok=True)
            exported.append(ExportedMart(name=name, rows=rows, path=path))
    return exported
