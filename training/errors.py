"""The one error type for bad user input, so the CLIs can turn it into a one-line exit 2."""

from __future__ import annotations

import os
from pathlib import Path


class InputError(ValueError):
    """Bad data, options or checkpoint supplied by the user (not a bug in this package)."""


def first_line(e: BaseException) -> str:
    """The first line of an exception message, for one-line error reports."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def check_writable(target: Path, what: str) -> None:
    """Raise InputError unless ``target`` can be created or written, checked before any work so
    a read-only mount or a folder in the way is one line and nothing written (os.access also
    reports a read-only file system for root)."""
    base = target.absolute()
    while not base.exists() and base != base.parent:
        base = base.parent
    if base == target.absolute() and what == "file" and target.is_dir():
        raise InputError(f"cannot write {target}: it is a folder")
    folder = base if base.is_dir() else base.parent
    if base != target.absolute() and not base.is_dir():
        raise InputError(f"cannot write {target}: {base} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        readonly = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        why = "read-only file system" if readonly else "permission denied"
        raise InputError(f"cannot write {target}: {folder} is not writable ({why})")
