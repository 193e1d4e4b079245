"""Read many contract shards into one labelled table, with a progress bar and per-file errors.

Splitting needs every row in memory at once (balancing looks at whole groups), so the shards are
read one by one (pipeline.contract names the culprit file on error) with the contract columns
first, so that shards written by different tools concatenate.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from tqdm import tqdm

from pipeline.contract import CONTRACT_FIELDS, InputError, parquet_files, read_table


def read_labelled(paths: list[str | Path]) -> pa.Table:
    """All rows of the Parquet files/folders in ``paths``, contract columns first, typed."""
    files = list(dict.fromkeys(f.resolve() for f in parquet_files(paths)))  # a file named twice
    names = [f.name for f in CONTRACT_FIELDS]
    tables = []
    with tqdm(files, desc="reading shards", unit="file", disable=None) as bar:
        for f in bar:
            table = read_table([f], require_height=True)
            tables.append(table.select(names + [c for c in table.column_names if c not in names]))
            bar.set_postfix(rows=sum(t.num_rows for t in tables), refresh=False)
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"inputs do not share column types: {exc}") from exc
