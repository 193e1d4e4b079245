"""The dataset's manifest.json: the data-defining arguments, per-shard records, run history.

It is saved with write-temp-then-rename at the start of a run and as shards complete (at most
once a second, and at the end), so a driver killed at any moment leaves a readable manifest.
A shard file without a saved record is simply made again: its rows are deterministic.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from pipeline.contract import InputError, replaced_atomically
from pipeline.plan import GenConfig, Shard

MANIFEST = "manifest.json"
# The output folder's lock (filelock), held by the run that writes it.
LOCK = ".mh-gen.lock"
FORMAT = "mheight-gen/1"
SAVE_EVERY_S = 1.0
_GROUP_DIR = re.compile(r"n\d+_k\d+_m\d+")
_PART = re.compile(r"part-\d+\.parquet")
_TEMP = re.compile(r"\..+\.tmp")
PACKAGES = ("numpy", "pyarrow", "ray", "highspy", "pulp")  # recorded with every run


def _differences(old: dict, new: dict) -> list[str]:
    """Names of the config entries that differ; for the same groups, the differing fields."""
    diff = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    old_groups, new_groups = old.get("groups") or [], new.get("groups") or []
    if "groups" in diff and len(old_groups) == len(new_groups):
        fields = {
            f for a, b in zip(old_groups, new_groups, strict=True) for f in b if a.get(f) != b[f]
        }
        diff[diff.index("groups")] = "group " + "/".join(sorted(fields))
    return diff


class Manifest:
    """manifest.json of one output folder; ``shards`` maps a shard's path to its record."""

    def __init__(self, out: Path, data: dict):
        self.out = out
        self.data = data
        self._saved_at = 0.0

    @property
    def shards(self) -> dict[str, dict]:
        return self.data["shards"]

    @classmethod
    def load(cls, out: Path, config: GenConfig, *, overwrite: bool) -> Manifest:
        """Load the folder's manifest for ``config`` (nothing is written; refuses on conflict).

        Returns a fresh manifest for a new folder, or with ``overwrite`` when the arguments
        differ; raises InputError when they differ without it, or when the folder holds
        files that are not a dataset's.
        """
        wanted = json.loads(json.dumps(config.to_json()))
        path = out / MANIFEST
        fresh = cls(out, {"format": FORMAT, "config": wanted, "shards": {}, "runs": []})
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} exists and is not a folder")
        if not path.exists():
            foreign = [p.name for p in out.iterdir() if not _ours(p)] if out.exists() else []
            if foreign:
                raise InputError(
                    f"{out} is not empty ({foreign[0]}) and holds no {MANIFEST}; "
                    "choose a new or empty folder"
                )
            return fresh
        try:
            data = json.loads(path.read_text())
            old = data["config"]
            if not isinstance(data.get("shards"), dict) or not isinstance(data.get("runs"), list):
                raise ValueError("no shard records")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if overwrite:
                return fresh
            raise InputError(f"{path} is unreadable ({exc}); pass --overwrite") from exc
        diff = _differences(old, wanted)
        if not diff:
            return cls(out, data)
        if overwrite:
            return fresh
        raise InputError(
            f"{out} was generated with other arguments ({', '.join(diff)} differ); rerun the "
            "same command to resume, or pass --overwrite to replace it"
        )

    def save(self, *, force: bool = True) -> None:
        """Write the manifest atomically; with ``force`` False, at most once per SAVE_EVERY_S."""
        now = time.monotonic()
        if force or now - self._saved_at >= SAVE_EVERY_S:
            with replaced_atomically(self.out / MANIFEST) as tmp:
                tmp.write_text(json.dumps(self.data, indent=1) + "\n")
            self._saved_at = now

    def record(self, record: dict) -> None:
        """Add a finished shard's record and save (throttled)."""
        self.shards[record["path"]] = record
        self.save(force=False)

    def tidy(self, plan: list[Shard]) -> None:
        """Delete leftovers of killed runs: temp files, and shard files outside the plan."""
        if not self.out.is_dir():
            return
        keep = {s.path for s in plan}
        for p in self.out.iterdir():
            if p.is_file() and _TEMP.fullmatch(p.name):
                p.unlink(missing_ok=True)
            elif p.is_dir() and _GROUP_DIR.fullmatch(p.name):
                for f in p.iterdir():
                    rel = f"{p.name}/{f.name}"
                    if f.is_file() and (
                        _TEMP.fullmatch(f.name) or (_PART.fullmatch(f.name) and rel not in keep)
                    ):
                        f.unlink(missing_ok=True)
                if not any(p.iterdir()) and not any(s.startswith(p.name + "/") for s in keep):
                    p.rmdir()
        for path in list(self.shards):
            if path not in keep:
                del self.shards[path]


def _ours(p: Path) -> bool:
    """Whether a folder entry is something a dataset run writes (group folder, temp file, lock)."""
    return bool(
        _GROUP_DIR.fullmatch(p.name) and p.is_dir() or _TEMP.fullmatch(p.name) or p.name == LOCK
    )
