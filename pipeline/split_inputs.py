"""Read many contract shards into one labelled table, with a progress bar and per-file errors.

Splitting needs every row in memory at once (balancing looks at whole groups), so the shards are
read one by one (naming the culprit file on error) and normalised to the contract's types so that
shards written by different tools concatenate.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from pipeline.contract import CONTRACT_FIELDS, DataError, parquet_files, read_table


def read_labelled(paths: list[str | Path]) -> pa.Table:
    """All rows of the Parquet files/folders in ``paths``, contract columns first, typed."""
    files = list(dict.fromkeys(f.resolve() for f in parquet_files(paths)))  # a file named twice
    tables = []
    with tqdm(files, desc="reading shards", unit="file", disable=None) as bar:
        for f in bar:
            tables.append(_read_one(f))
            bar.set_postfix(rows=sum(t.num_rows for t in tables), refresh=False)
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"inputs do not share column types: {exc}") from exc


def _read_one(path: Path) -> pa.Table:
    try:
        table = read_table([path], require_height=True)
        table = _contract_types(table)
    except DataError as exc:
        message = str(exc)
        raise DataError(message if message.startswith(str(path)) else f"{path}: {message}") from exc
    return table


def _contract_types(table: pa.Table) -> pa.Table:
    """Cast the contract columns to their Arrow types and put them first; keep the rest as is."""
    names = [f.name for f in CONTRACT_FIELDS]
    try:
        columns = [pc.cast(table[f.name], f.type) for f in CONTRACT_FIELDS]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"contract column of the wrong type ({exc})") from exc
    extra = [c for c in table.column_names if c not in names]
    return pa.Table.from_arrays(columns + [table[c] for c in extra], names=names + extra)
