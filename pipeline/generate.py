"""mh-gen's driver: check the output folder, skip intact shards, run the rest on Ray, report.

Order matters for resuming: the manifest (plan and records of intact shards) is saved before
any task starts, each finished shard is recorded as it arrives, and the run is marked
complete only at the end; a shard whose record never made it to disk is simply made again.
"""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from pipeline.cli_common import init_ray
from pipeline.costs import summarize, totals
from pipeline.manifest import Manifest, versions
from pipeline.plan import GenConfig, Shard
from pipeline.ray_runner import cluster_cpus, run_bounded
from pipeline.shards import gen_shard, shard_intact


def pending(manifest: Manifest, config: GenConfig) -> tuple[list[Shard], list[Shard]]:
    """(shards to make, intact shards): a shard is intact when its file matches its record."""
    todo, intact = [], []
    for shard in config.shards():
        ok = shard_intact(manifest.out, shard, manifest.shards.get(shard.path))
        (intact if ok else todo).append(shard)
    return todo, intact


def generate(
    config: GenConfig,
    out: Path,
    *,
    overwrite: bool,
    address: str | None,
    num_cpus: int | None,
    progress: bool,
    arguments: dict,
) -> dict:
    """Make every missing or damaged shard of ``config`` in ``out``; return the run summary."""
    manifest = Manifest.load(out, config, overwrite=overwrite)
    todo, intact = pending(manifest, config)
    manifest.tidy(config.shards())
    for shard in todo:
        manifest.shards.pop(shard.path, None)
    manifest.data.update(complete=False, versions=versions())
    manifest.save()

    start = time.perf_counter()
    cpus = 1
    records: list[dict] = []
    if todo:
        init_ray(address, num_cpus)
        cpus = cluster_cpus()
    began = time.perf_counter()
    with tqdm(
        total=config.rows, initial=sum(s.rows for s in intact), unit="row", unit_scale=True,
        disable=not progress, desc="mh-gen", mininterval=1.0,
    ) as bar:  # fmt: skip

        def done(_: int, record: dict) -> None:
            records.append(record)
            manifest.record(record)
            bar.update(record["rows"])
            bar.set_postfix_str(f"shards {len(intact) + len(records)}/{len(intact) + len(todo)}")

        try:
            run_bounded(
                gen_shard,
                [(str(out), config, shard) for shard in todo],
                done,
                max_in_flight=2 * cpus,
            )
        finally:
            manifest.save()
    summary = summarize(
        records,
        wall_s=time.perf_counter() - began,
        cpus=cpus,
        startup_s=began - start,
        skipped=[s.rows for s in intact],
    )
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest.data["runs"].append(
        {"arguments": arguments, "versions": versions(), "finished": finished, "summary": summary}
    )
    manifest.tidy(config.shards())  # temp files of workers killed during this run
    manifest.data["totals"] = totals(manifest.shards.values())
    manifest.data["complete"] = True
    manifest.save()
    return summary
