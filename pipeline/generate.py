"""mh-gen's driver: check the output folder, skip intact shards, run the rest on Ray, report.

Order matters for refusing: every check comes before the first write. Order matters for
resuming: the manifest (plan and records of intact shards) is saved before
any task starts, each finished shard is recorded as it arrives, and the run is marked
complete only at the end; a shard whose record never made it to disk is simply made again.
"""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from pipeline.cli_common import check_writable, output_lock
from pipeline.contract import versions
from pipeline.costs import summarize, totals
from pipeline.manifest import LOCK, PACKAGES, Manifest
from pipeline.plan import GenConfig, Shard
from pipeline.ray_runner import cluster_cpus, init_ray, run_bounded
from pipeline.shards import check_finite_possible, gen_shard, shard_intact


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
    connect_timeout: float,
    progress: bool,
    arguments: dict,
) -> dict:
    """Make every missing or damaged shard of ``config`` in ``out``; return the run summary.

    Everything that can refuse the run (output folder, manifest, distribution, another writer,
    the Ray connection) is checked before the first write, so a refused run leaves nothing.
    """
    check_writable(out, "output folder")
    todo, _ = pending(Manifest.load(out, config, overwrite=overwrite), config)
    if todo and config.infinite == "resample":
        check_finite_possible(config)
    lock_path = out / LOCK
    if lock_path.exists():  # refuse now, before minutes of Ray start-up, if another run holds it
        with output_lock(lock_path, str(out)):
            pass
    start = time.perf_counter()
    cpus = 0  # Ray's CPUs, once it runs; a run with nothing to make never starts it
    if todo:
        init_ray(address, num_cpus, connect_timeout=connect_timeout)
        cpus = cluster_cpus()
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(lock_path, str(out)):
        # Read again under the lock: a run that finished meanwhile may have made shards.
        manifest = Manifest.load(out, config, overwrite=overwrite)
        todo, intact = pending(manifest, config)
        if todo and cpus == 0:
            init_ray(address, num_cpus, connect_timeout=connect_timeout)
            cpus = cluster_cpus()
        return _run(manifest, config, todo, intact, max(cpus, 1), start, progress, arguments)


def _run(
    manifest: Manifest,
    config: GenConfig,
    todo: list[Shard],
    intact: list[Shard],
    cpus: int,
    start: float,
    progress: bool,
    arguments: dict,
) -> dict:
    """The writing part of :func:`generate`, under the output folder's lock."""
    out = manifest.out
    manifest.tidy(config.shards())
    for shard in todo:
        manifest.shards.pop(shard.path, None)
    manifest.data.update(complete=False, versions=versions(*PACKAGES))
    manifest.save()

    records: list[dict] = []
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
        {
            "arguments": arguments,
            "versions": versions(*PACKAGES),
            "finished": finished,
            "summary": summary,
        }
    )
    manifest.tidy(config.shards())  # temp files of workers killed during this run
    manifest.data["totals"] = totals(manifest.shards.values())
    manifest.data["complete"] = True
    manifest.save()
    return summary
