"""Paths through fsspec, and outputs written so that a failed run never looks complete.

A result directory is complete exactly when it holds the ``_SUCCESS`` marker, which is
written last. Tables are written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import IncompleteModelError, OutputExistsError

SUCCESS = "_SUCCESS"


def url_to_fs(url: str):
    """(fsspec filesystem, path inside it) for a local path or any fsspec URL."""
    return fsspec.core.url_to_fs(url)


def join(fs, path: str, *parts: str) -> str:
    """Join path parts with the filesystem's separator ("/" for every fsspec filesystem)."""
    return posixpath.join(path, *parts)


def child(url: str, name: str) -> str:
    """The URL (or path) of ``name`` inside the directory ``url``."""
    return url.rstrip("/") + "/" + name


def is_complete(url: str) -> bool:
    """True when ``url`` is a directory holding the ``_SUCCESS`` marker."""
    fs, path = url_to_fs(url)
    return fs.exists(join(fs, path, SUCCESS))


def require_complete(url: str, what: str = "model directory") -> None:
    """Raise IncompleteModelError unless ``url`` holds ``_SUCCESS``."""
    fs, path = url_to_fs(url)
    if not fs.exists(path):
        raise IncompleteModelError(f"{what} {url!r} does not exist")
    if not fs.exists(join(fs, path, SUCCESS)):
        raise IncompleteModelError(
            f"{what} {url!r} has no {SUCCESS} marker: it was left by a failed or unfinished "
            "run; train again (with --overwrite) or point to a complete one"
        )


def check_output(url: str, overwrite: bool) -> None:
    """Fail early, before any work, if ``url`` exists and ``overwrite`` is False.

    Raises:
        OutputExistsError: naming the path and the ``--overwrite`` fix.
    """
    fs, path = url_to_fs(url)
    if fs.exists(path) and not overwrite:
        complete = fs.exists(join(fs, path, SUCCESS))
        state = "a complete result" if complete else "the leftovers of an unfinished run"
        raise OutputExistsError(
            f"output {url!r} already exists and holds {state}; pass --overwrite to replace "
            "it or choose another output path"
        )


def prepare_output(url: str, overwrite: bool) -> None:
    """Make ``url`` an empty directory to write a new result into.

    An existing directory is replaced only with ``overwrite``; its marker is removed first so
    that it stops looking complete before anything else is deleted.

    Raises:
        OutputExistsError: ``url`` exists (complete or not) and ``overwrite`` is False.
    """
    check_output(url, overwrite)
    fs, path = url_to_fs(url)
    if fs.exists(path):
        if fs.exists(join(fs, path, SUCCESS)):
            fs.rm(join(fs, path, SUCCESS))
        fs.rm(path, recursive=True)
    fs.makedirs(path, exist_ok=True)


def write_table(table: pa.Table, url: str, name: str, part: str = "part-00000.parquet") -> None:
    """Write ``table`` as Parquet ``url/name/part``: into a temporary directory, then renamed."""
    fs, path = url_to_fs(url)
    tmp = join(fs, path, f"_tmp-{name}-{uuid.uuid4().hex}")
    fs.makedirs(tmp, exist_ok=True)
    try:
        pq.write_table(table, join(fs, tmp, part), filesystem=fs)
    except BaseException:
        remove_quietly(fs, tmp)
        raise
    final = join(fs, path, name)
    if fs.exists(final):  # left by an earlier attempt that did not complete
        fs.rm(final, recursive=True)
    fs.mv(tmp, final, recursive=True)


def write_json(obj: Any, url: str, name: str) -> None:
    """Write ``obj`` as indented JSON to ``url/name`` (temporary name, then renamed)."""
    fs, path = url_to_fs(url)
    tmp = join(fs, path, f"_tmp-{name}-{uuid.uuid4().hex}")
    try:
        with fs.open(tmp, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=False)
            fh.write("\n")
    except BaseException:
        remove_quietly(fs, tmp)
        raise
    fs.mv(tmp, join(fs, path, name))


def remove_quietly(fs, path: str) -> None:
    """Best-effort removal of a temporary file or directory after a failed write."""
    try:
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except Exception:  # the filesystem is failing already; the name marks it as temporary
        pass


def read_json(url: str, name: str) -> Any:
    """Read JSON from ``url/name``."""
    fs, path = url_to_fs(url)
    with fs.open(join(fs, path, name), "r") as fh:
        return json.load(fh)


def mark_complete(url: str) -> None:
    """Write the ``_SUCCESS`` marker: call last, after every table and file is in place."""
    fs, path = url_to_fs(url)
    with fs.open(join(fs, path, SUCCESS), "w") as fh:
        fh.write("")
