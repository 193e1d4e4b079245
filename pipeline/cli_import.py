"""mh-import: convert the course's folders of pickled DataFrames into the Parquet data contract."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.cli_common import CONTEXT, Command, interrupt_on_sigterm, write_failure
from pipeline.contract import InputError
from pipeline.legacy_pickle import legacy_files, read_legacy
from pipeline.staging import check_out, locked_out, staged_folder

REFUSAL = (
    "refusing to read pickle files without --trust-pickle: unpickling runs whatever code the "
    "file contains, so only import files from a source you trust"
)


@click.command(cls=Command, context_settings=CONTEXT)
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), help="Output folder (required).")
@click.option("--trust-pickle", is_flag=True, help="Allow unpickling (it can execute code).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out folder.")
def main(src: Path, out: Path | None, trust_pickle: bool, overwrite: bool) -> None:
    """Import SRC (one .pkl/.pickle file, or a folder searched recursively) into OUT.

    Each file must hold a pandas DataFrame with columns n, k, m, result (the height) and P
    (k x (n-k) arrays, or flat row-major lists). Every file becomes one Parquet file at the same
    relative path (a.pkl -> OUT/a.parquet) with columns n, k, m, P, height plus provenance
    (source, source_row); other columns are not carried over. OUT is written whole or not at all,
    with import.json listing the files and row counts.
    """
    interrupt_on_sigterm()
    if not trust_pickle:
        raise InputError(REFUSAL)
    if out is None:
        raise InputError("missing --out: name the folder to write the Parquet files to")
    target = check_out(out, overwrite=overwrite, inputs=[src])
    files = legacy_files(src)
    root = src if src.is_dir() else src.parent
    _refuse_collisions(files, root)
    tables = {f: read_legacy(f) for f in tqdm(files, desc="reading", unit="file", disable=None)}
    try:
        with locked_out(target, overwrite=overwrite):
            written = _write(tables, root, src, target, overwrite=overwrite)
    except OSError as exc:
        raise write_failure(exc, target) from exc
    rows = sum(w["rows"] for w in written.values())
    click.echo(f"imported {rows} rows from {len(files)} file(s) into {target}")


def _write(
    tables: dict[Path, pa.Table], root: Path, src: Path, target: Path, *, overwrite: bool
) -> dict[str, dict]:
    """Write every table and import.json into a staging folder that becomes ``target``."""
    written = {}
    with staged_folder(target, overwrite=overwrite) as stage:
        for f, table in tables.items():
            rel = f.relative_to(root)
            table = table.append_column("source", [[rel.as_posix()] * table.num_rows])
            table = table.append_column("source_row", [list(range(table.num_rows))])
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, stage / rel.with_suffix(".parquet"))
            written[rel.with_suffix(".parquet").as_posix()] = {
                "source": rel.as_posix(),
                "rows": table.num_rows,
            }
        manifest = {"tool": "mh-import", "source": str(src), "files": written}
        (stage / "import.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return written


def _refuse_collisions(files: list[Path], root: Path) -> None:
    """a.pkl and a.pickle would both become a.parquet; refuse rather than keep only one."""
    seen: dict[Path, Path] = {}
    for f in files:
        target = f.relative_to(root).with_suffix(".parquet")
        if target in seen:
            raise InputError(f"{seen[target]} and {f} would both be written to {target}")
        seen[target] = f
