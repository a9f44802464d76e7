"""Paths through fsspec, and outputs written so that a failed run never looks complete.

A result directory is complete exactly when it holds the ``_SUCCESS`` marker, which is
written last. Tables are written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import socket
import threading
import time
import uuid
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import IncompleteModelError, InputError, OutputExistsError

SUCCESS = "_SUCCESS"
# Written first into every directory sparkw2v makes: what it is and which run owns it.
MARKER = "_sparkw2v.json"
PARTIAL = ".partial"  # a result is built in OUTPUT.partial and renamed to OUTPUT when complete
# A run renews the heartbeat in its OUTPUT.partial marker this often (seconds); another run may
# take the directory over (--overwrite, --resume) only when the owner is known dead: its process
# is gone (same host) or it has not renewed the heartbeat for LEASE_SECONDS.
HEARTBEAT_SECONDS = 20.0
LEASE_SECONDS = 90.0
# What an output of an earlier sparkw2v version holds, so that --overwrite may replace it.
_KNOWN_ENTRIES = re.compile(r"^(_SUCCESS|metadata\.json|embeddings|context_embeddings|mllib|_blocks|_checkpoint|"
                            r"_tmp-.*|part-\d+\.parquet|_sparkw2v\.json)$")


def url_to_fs(url: str):
    """(fsspec filesystem, path inside it) for a local path or any fsspec URL.

    Raises:
        InputError: fsspec knows no filesystem for the URL's scheme, or its package is missing.
    """
    try:
        return fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        scheme = url.partition("://")[0]
        raise InputError(f"{url!r}: no filesystem for the scheme {scheme!r} ({exc}); sparkw2v reaches "
                         "outputs through fsspec: install the fsspec implementation for it (e.g. s3fs, "
                         "gcsfs, adlfs) or use a local or hdfs:// path") from exc


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

    An existing directory is replaced only with ``overwrite`` and only if it is recognisably
    sparkw2v's (:func:`is_ours`); its marker is removed first so that it stops looking complete
    before anything else is deleted. (The jobs build in ``OUTPUT.partial`` instead: :class:`Staging`.)

    Raises:
        OutputExistsError: ``url`` exists (complete or not) and ``overwrite`` is False, or it is
            not a sparkw2v directory.
    """
    check_output(url, overwrite)
    fs, path = url_to_fs(url)
    if fs.exists(path) and not (fs.isdir(path) and (not fs.ls(path, detail=False) or is_ours(url))):
        raise OutputExistsError(f"output {url!r} exists and is not a sparkw2v directory; refusing to replace it "
                                "(even with overwrite): choose another output path")
    if fs.exists(path):
        if fs.exists(join(fs, path, SUCCESS)):
            fs.rm(join(fs, path, SUCCESS))
        fs.rm(path, recursive=True)
    fs.makedirs(path, exist_ok=True)


# Rows of a Parquet row group are chosen to make it about this many bytes: Spark's reader (and
# MLlib's Word2VecModel.load) reads a whole column chunk of a row group into one heap buffer, so
# a block of a million 100-dimensional vectors in one row group (400 MB) ran a JVM out of heap.
ROW_GROUP_BYTES = 32 << 20


def row_group_rows(table: pa.Table) -> int:
    """Rows per row group so that one is about ROW_GROUP_BYTES of ``table`` (>= 1)."""
    per_row = table.nbytes / max(1, table.num_rows)
    return max(1, int(ROW_GROUP_BYTES // max(per_row, 1.0)))


def write_parquet(table: pa.Table, fs, path: str) -> None:
    """``pq.write_table`` with row groups of about ROW_GROUP_BYTES."""
    pq.write_table(table, path, filesystem=fs, row_group_size=row_group_rows(table))


def write_table(table: pa.Table, url: str, name: str, part: str = "part-00000.parquet") -> None:
    """Write ``table`` as Parquet ``url/name/part``: into a temporary directory, then renamed."""
    fs, path = url_to_fs(url)
    tmp = join(fs, path, f"_tmp-{name}-{uuid.uuid4().hex}")
    fs.makedirs(tmp, exist_ok=True)
    try:
        write_parquet(table, fs, join(fs, tmp, part))
    except BaseException:
        remove_quietly(fs, tmp)
        raise
    replace_dir(fs, tmp, join(fs, path, name))


def replace_dir(fs, source: str, target: str) -> None:
    """Move the finished directory ``source`` to ``target``, removing what an earlier attempt
    that did not complete left there."""
    if fs.exists(target):
        fs.rm(target, recursive=True)
    fs.mv(source, target, recursive=True)


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


def _location(url: str) -> tuple[str, str]:
    """(protocol, normalised absolute path) of a URL, symbolic links resolved for local paths.
    A scheme fsspec does not know (Spark may) is compared by its name and path as written."""
    try:
        fs, path = url_to_fs(url)
    except InputError:
        scheme, _, rest = url.partition("://")
        return scheme.lower(), posixpath.normpath("/" + rest.lstrip("/"))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return "file", os.path.realpath(path)
    return protocol, posixpath.normpath("/" + path.lstrip("/"))


def check_distinct(input_url: str, output_url: str, what: str = "output") -> None:
    """Refuse an output that is, contains or lies inside the input: writing it would destroy or
    change the input.

    Raises:
        InputError: naming both paths.
    """
    (p_in, a), (p_out, b) = _location(input_url), _location(output_url)
    if p_in != p_out:
        return
    if a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/"):
        relation = "is" if a == b else ("contains" if a.startswith(b.rstrip("/") + "/") else "lies inside")
        raise InputError(f"{what} {output_url!r} {relation} the input {input_url!r}: writing it would destroy "
                         f"or change the input; choose an {what} outside the input")


def is_ours(url: str) -> bool:
    """True when the directory ``url`` is recognisably something sparkw2v wrote (a model, a
    prepared corpus, or what an unfinished run left), so that --overwrite may replace it."""
    fs, path = url_to_fs(url)
    if not fs.isdir(path):
        return False
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)]
    return MARKER in names or (bool(names) and all(_KNOWN_ENTRIES.match(n) for n in names))


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is running (a zombie, killed but not yet reaped,
    is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:  # no /proc (not Linux): the process exists
        return True


class Staging:
    """Builds a result in ``OUTPUT.partial`` and swaps it into ``OUTPUT`` when complete, so that
    no run, failed or refused, deletes or damages what was at ``OUTPUT`` before it, and no reader
    ever sees a mix of two results.

    Args:
        url: the output directory.
        kind: "model" or "corpus" (recorded in the marker).
        overwrite: an existing output (recognisably sparkw2v's) may be replaced, at commit.
        resume: continue in an existing ``OUTPUT.partial``.
    """

    def __init__(self, url: str, kind: str, overwrite: bool = False, resume: bool = False):
        self.url = url.rstrip("/")
        self.partial = self.url + PARTIAL
        self.kind = kind
        self.overwrite = overwrite
        self.resume = resume
        self.run = uuid.uuid4().hex

    def begin(self) -> str:
        """Check the destination and prepare ``OUTPUT.partial``; returns its URL.

        Raises:
            OutputExistsError: the output exists (without overwrite), is complete (with resume),
                is not sparkw2v's, or an unfinished run's leftovers are in the way.
        """
        fs, path = url_to_fs(self.url)
        _, partial = url_to_fs(self.partial)
        if fs.exists(path):
            if not fs.isdir(path) or not is_ours(self.url):
                raise OutputExistsError(
                    f"output {self.url!r} exists and is not a sparkw2v {self.kind} directory; refusing to "
                    "replace it (even with --overwrite): choose another output path")
            if self.resume and fs.exists(join(fs, path, SUCCESS)):
                raise OutputExistsError(f"output {self.url!r} is already complete: nothing to resume")
            if not self.overwrite and not self.resume:
                state = "a complete result" if fs.exists(join(fs, path, SUCCESS)) else "the leftovers of an unfinished run"
                raise OutputExistsError(f"output {self.url!r} already exists and holds {state}; pass --overwrite "
                                        "to replace it (once the new result is complete) or choose another output path")
        if fs.exists(partial):
            if not is_ours(self.partial):
                raise OutputExistsError(f"{self.partial!r} exists and is not sparkw2v's: move it away first")
            owner = self._live_owner()
            if owner:
                raise OutputExistsError(
                    f"output {self.url!r} is being written by another run ({owner}) in {self.partial!r}; wait for "
                    "it to end, or stop it, then try again (a stopped run's directory is free at once on the same "
                    f"machine, else {LEASE_SECONDS:.0f} s after its last sign of life)")
            if not (self.resume or self.overwrite):
                raise OutputExistsError(
                    f"output {self.url!r} has the leftovers of an unfinished run in {self.partial!r}; pass --resume "
                    "to continue it, --overwrite to start afresh, or choose another output path")
            if not self.resume:
                fs.rm(partial, recursive=True)
        elif self.resume:
            raise OutputExistsError(f"nothing to resume: {self.partial!r} does not exist; train without --resume")
        fs.makedirs(partial, exist_ok=True)
        self.started = time.time()
        self._beat()
        self._stop = threading.Event()
        self._heart = threading.Thread(target=self._keep_beating, name="sparkw2v-staging-heartbeat", daemon=True)
        self._heart.start()
        return self.partial

    def _beat(self, alive: bool = True) -> None:
        write_json({"kind": self.kind, "run": self.run, "started": self.started, "host": socket.gethostname(),
                    "pid": os.getpid(), "heartbeat": time.time() if alive else 0.0}, self.partial, MARKER)

    def _keep_beating(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                if not self.owned():
                    return
                self._beat()
            except OSError:  # a failing filesystem fails the run elsewhere; the lease then lapses
                pass

    def _live_owner(self) -> str | None:
        """Who owns the existing ``OUTPUT.partial`` if that run may still be running, else None."""
        try:
            marker = read_json(self.partial, MARKER)
        except (OSError, ValueError):
            return None
        beat = float(marker.get("heartbeat", 0.0) or 0.0)
        age = time.time() - beat
        if beat <= 0.0 or age > LEASE_SECONDS:
            return None
        pid, host = marker.get("pid"), marker.get("host")
        if host == socket.gethostname() and isinstance(pid, int) and pid > 0:
            if not _process_alive(pid):
                return None
        return f"process {pid} on {host}, last sign of life {age:.0f} s ago"

    def _stop_beating(self) -> bool:
        """Stop the heartbeat thread; False if it was not running (not begun, or stopped)."""
        stop = getattr(self, "_stop", None)
        if stop is None or stop.is_set():
            return False
        stop.set()
        self._heart.join(timeout=5)
        return True

    def release(self) -> None:
        """Stop renewing the heartbeat and, if this run still owns ``OUTPUT.partial``, mark it
        free (a failed run's checkpoints are then open to --resume at once). Idempotent."""
        if not self._stop_beating():
            return
        try:
            if self.owned():
                self._beat(alive=False)
        except OSError:
            pass

    def owned(self) -> bool:
        """True while ``OUTPUT.partial`` still belongs to this run (no other run took it over)."""
        try:
            return read_json(self.partial, MARKER).get("run") == self.run
        except (OSError, ValueError):
            return False

    def commit(self) -> None:
        """Mark ``OUTPUT.partial`` complete and swap it into ``OUTPUT`` (renames; the old output,
        if any and if overwrite, is removed only after the new one is in place).

        Raises:
            OutputExistsError: another run took ``OUTPUT.partial`` over, or wrote ``OUTPUT``
                meanwhile (without overwrite).
        """
        if not self.owned():
            self.release()
            raise OutputExistsError(f"another run took over {self.partial!r} while this one wrote it; this run's "
                                    f"result is not kept: {self.url!r} is the other run's")
        self._stop_beating()  # the heartbeat must not rewrite the marker once the directory moves
        fs, path = url_to_fs(self.url)
        _, partial = url_to_fs(self.partial)
        mark_complete(self.partial)
        if fs.exists(path):
            if not self.overwrite and fs.exists(join(fs, path, SUCCESS)):
                self._beat(alive=False)
                raise OutputExistsError(f"another run wrote {self.url!r} while this one ran; this run's result is "
                                        f"kept in {self.partial!r}: rename it or train again with --overwrite")
            old = f"{path}.replaced-{self.run[:8]}"
            fs.mv(path, old, recursive=True)
            fs.mv(partial, path, recursive=True)
            fs.rm(old, recursive=True)
        else:
            fs.mv(partial, path, recursive=True)
