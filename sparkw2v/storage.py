"""Paths through fsspec, and outputs written so that a failed run never looks complete and no
run ever removes or replaces what it did not create.

A result directory is complete exactly when it holds the ``_SUCCESS`` marker, which is
written last. Tables are written under a temporary name and renamed into place.

A directory is sparkw2v's only if it says so: it holds a ``_sparkw2v.json`` marker (a JSON
object with a ``kind``), written when sparkw2v claims the directory and kept when the
directory is committed. File names never make a directory sparkw2v's. An empty directory is
free: it is used (as ``OUTPUT`` or ``OUTPUT.partial``) as if it were absent, since replacing it
loses nothing.

Claims are create-exclusive. On a local filesystem a run owns ``OUTPUT.partial`` (or its
subdirectory of a work directory) by creating its marker with ``link(2)``, which fails if the
marker exists: of two runs starting at the same instant exactly one wins. A run takes over a
dead run's directory (``--resume``, ``--overwrite``) by first creating, exclusively, a token
``_takeover-<dead run>`` in it, so that of two runs taking it over exactly one does. fsspec
offers no create-exclusive primitive for other filesystems (S3, GCS, HDFS through fsspec): there
the claim checks, writes and reads its marker back, which can let two runs that start within
the same moment both begin; the check at commit (:meth:`Staging.owned`) then commits only one,
but the loser may have written files into the winner's directory. Give each concurrent run its
own output on such filesystems.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import posixpath
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import IncompleteModelError, InputError, OutputExistsError, OutputWriteError, SparkW2VError

SUCCESS = "_SUCCESS"
# Written first into every directory sparkw2v makes: what it is and which run owns it.
MARKER = "_sparkw2v.json"
PARTIAL = ".partial"  # a result is built in OUTPUT.partial and renamed to OUTPUT when complete
TAKEOVER = "_takeover-"  # + the dead run's id: the exclusive token of a run taking a directory over
WORK = "work"  # the kind recorded in the marker of a run's subdirectory of a --work-dir
# A run renews the heartbeat in its OUTPUT.partial marker this often (seconds); another run may
# take the directory over (--overwrite, --resume) only when the owner is known dead: its process
# is gone (same host) or it has not renewed the heartbeat for LEASE_SECONDS.
HEARTBEAT_SECONDS = 20.0
LEASE_SECONDS = 90.0
# Filesystems that live in this process's memory: an output there vanishes with the job (and
# Spark's executors, other processes, never see it).
IN_PROCESS_SCHEMES = frozenset({"memory"})


def absolute(url: str) -> str:
    """A relative local path made absolute against this process's working directory; URLs and
    absolute paths as they are. Paths that executors open must be: a Python worker's working
    directory is not the driver's (a Spark Connect server's session directory, a cluster
    executor's work directory)."""
    if "://" in url or "::" in url or os.path.isabs(url):
        return url
    return os.path.abspath(url)


def spark_path(url: str) -> str:
    """``url`` as Spark's file readers take it literally: Hadoop reads ``{}[]*?\\`` in a path as
    a glob pattern (``model[1]`` would match ``model1``), so each is escaped with a backslash."""
    return re.sub(r"([{}\[\]*?\\])", r"\\\1", url)


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


def prepare_output(url: str, overwrite: bool, kind: str = "model") -> None:
    """Make ``url`` an empty directory (but for its marker) to write a new result into.

    An existing directory is replaced only with ``overwrite`` and only if it is sparkw2v's (its
    marker says so: :func:`inspect`) and holds nothing sparkw2v did not write; its ``_SUCCESS``
    is removed first so that it stops looking complete before anything else is deleted. An
    empty directory is used as it is. The new directory gets a marker of ``kind``. (The jobs
    build in ``OUTPUT.partial`` instead: :class:`Staging`.)

    Raises:
        OutputExistsError: ``url`` exists (complete or not) and ``overwrite`` is False, or it is
            not a sparkw2v directory.
        OutputWriteError: the filesystem refused (read-only, full, a file in the path).
    """
    fs, path = url_to_fs(url)
    found = inspect(fs, path)
    if found.state == "foreign" or found.unknown:
        raise OutputExistsError(f"output {url!r} exists and is not a sparkw2v directory; refusing to replace it "
                                f"(even with overwrite): {_why_foreign(found)}; {_fix_foreign(found)}")
    if found.state == "ours":
        check_output(url, overwrite)
    with output_errors(f"preparing the output {url}", "make it writable or choose another output path"):
        if found.state == "ours":
            if found.complete:
                fs.rm(join(fs, path, SUCCESS))
            _remove_marked(fs, path)
        fs.makedirs(path, exist_ok=True)
        write_json({"kind": kind, "run": uuid.uuid4().hex, "started": time.time(), "heartbeat": 0.0}, url, MARKER)


# Rows of a Parquet row group are chosen to make it about this many bytes: Spark's reader (and
# MLlib's Word2VecModel.load) reads a whole column chunk of a row group into one heap buffer, so
# a block of a million 100-dimensional vectors in one row group (400 MB) ran a JVM out of heap.
ROW_GROUP_BYTES = 32 << 20


def row_group_rows(table: pa.Table) -> int:
    """Rows per row group so that one is about ROW_GROUP_BYTES of ``table`` (>= 1)."""
    per_row = table.nbytes / max(1, table.num_rows)
    return max(1, int(ROW_GROUP_BYTES // max(per_row, 1.0)))


def write_parquet(table: pa.Table, fs, path: str, row_group_size: int | None = None, what: str | None = None) -> None:
    """``pq.write_table`` with row groups of about ROW_GROUP_BYTES (or of ``row_group_size`` rows).

    Raises:
        OutputWriteError: the filesystem refused (full, read-only, ...): one line naming ``what``
            (default: the path).
    """
    with output_errors(f"writing {what or path}"):
        pq.write_table(table, path, filesystem=fs, row_group_size=row_group_size or row_group_rows(table))


def write_table(table: pa.Table, url: str, name: str, part: str = "part-00000.parquet") -> None:
    """Write ``table`` as Parquet ``url/name/part``: into a temporary directory, then renamed.

    Raises:
        OutputWriteError: the filesystem refused (full, read-only, ...).
    """
    fs, path = url_to_fs(url)
    tmp = join(fs, path, f"_tmp-{name}-{uuid.uuid4().hex}")
    with output_errors(f"writing {child(url, name)}"):
        fs.makedirs(tmp, exist_ok=True)
        try:
            write_parquet(table, fs, join(fs, tmp, part), what=child(url, name))
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
    """Write ``obj`` as indented JSON to ``url/name`` (temporary name, then renamed).

    Raises:
        OutputWriteError: the filesystem refused (full, read-only, ...).
    """
    fs, path = url_to_fs(url)
    tmp = join(fs, path, f"_tmp-{name}-{uuid.uuid4().hex}")
    with output_errors(f"writing {child(url, name)}"):
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
    """Write the ``_SUCCESS`` marker: call last, after every table and file is in place.

    Raises:
        OutputWriteError: the filesystem refused.
    """
    fs, path = url_to_fs(url)
    with output_errors(f"writing {child(url, SUCCESS)}"), fs.open(join(fs, path, SUCCESS), "w") as fh:
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


def check_distinct(input_url: str, output_url: str, what: str = "output", source: str = "the input") -> None:
    """Refuse an output that is, contains or lies inside the input: writing it would destroy or
    change the input.

    Args:
        what, source: how the message names the output and the input (e.g. "work directory",
            "the --init-from model").

    Raises:
        InputError: naming both paths.
    """
    (p_in, a), (p_out, b) = _location(input_url), _location(output_url)
    if p_in != p_out:
        return
    if a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/"):
        relation = "is" if a == b else ("contains" if a.startswith(b.rstrip("/") + "/") else "lies inside")
        raise InputError(f"{what} {output_url!r} {relation} {source} {input_url!r}: writing it would destroy "
                         f"or change {source}; choose an {what} outside {source}")


def same_location(a: str, b: str) -> bool:
    """Whether two paths or URLs name the same place (the same filesystem and path)."""
    return _location(a) == _location(b)


def check_durable(url: str, what: str = "output") -> None:
    """Refuse an output that would not outlive the job: a filesystem in this process's memory
    (``memory://``, also inside a chained URL such as ``simplecache::memory://``).

    Raises:
        InputError: naming the URL, the scheme and the fix.
    """
    schemes = {part.partition("://")[0].lower() for part in url.split("::") if "://" in part}
    fs, _ = url_to_fs(url)
    for layer in (fs, getattr(fs, "fs", None)):  # a wrapping filesystem (dir://, caches) and what it wraps
        if layer is not None:
            schemes.update(_protocols(layer))
    bad = sorted(schemes & IN_PROCESS_SCHEMES)
    if bad:
        raise InputError(f"{what} {url!r} is on {bad[0]}://, a filesystem in this process's memory: it would "
                         "vanish when the job ends (and Spark's executors, other processes, never see it); "
                         "write it to a local path or a shared filesystem (hdfs://, s3://, ...) instead")


def _protocols(fs) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def _is_local(fs) -> bool:
    return bool({"file", "local"} & set(_protocols(fs)))


def _reason(exc: OSError) -> str:
    """What an OSError says, in one line: ``No space left on device: '/x/y'``."""
    text = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    return f"{text}: {exc.filename!r}" if exc.filename else text


def _fix(exc: OSError, default: str) -> str:
    """The user's fix for an OSError (``default`` when its cause says nothing more precise)."""
    code = exc.errno or (errno.ENOSPC if "No space left" in str(exc) else None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "free space on that filesystem (or choose a path on another one) and run again"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "it is read-only or you lack permission: make it writable or choose another path"
    if code == errno.ENOTDIR:
        return "a part of the path is a file, not a directory: choose another path"
    return default


@contextlib.contextmanager
def output_errors(action: str, fix: str = "fix the filesystem and run again") -> Iterator[None]:
    """Turn an OSError of the block into one line: OutputWriteError ``ACTION failed (REASON);
    FIX`` (a full disk, a read-only directory, a file in the path). sparkw2v's own errors pass.

    Raises:
        OutputWriteError: from any OSError in the block that is not a SparkW2VError.
    """
    try:
        yield
    except SparkW2VError:
        raise
    except OSError as exc:
        raise OutputWriteError(f"{action} failed ({_reason(exc)}); {_fix(exc, fix)}") from None


def check_location(url: str, what: str = "output", fix: str = "choose another output path",
                   link_ok: bool = False) -> None:
    """Before any work: refuse a local ``url`` that cannot become a directory of results.

    A symbolic link (dangling or not, unless ``link_ok``) is refused: a result is renamed into
    place, which would replace the link, not fill its target. The nearest existing ancestor
    must be a writable directory. Other filesystems are not checked here.

    Raises:
        InputError: ``url`` is a symbolic link.
        OutputWriteError: an ancestor is a file, or is not writable.
    """
    fs, path = url_to_fs(url)
    if not _is_local(fs):
        return
    if os.path.islink(path) and not link_ok:
        target = os.readlink(path)
        if not os.path.exists(path):
            raise InputError(f"{what} {url!r} is a symbolic link to {target!r}, which does not exist; give the "
                             "path of a real directory (or create the link's target and give that path)")
        raise InputError(f"{what} {url!r} is a symbolic link (to {os.path.realpath(path)!r}): the result would "
                         f"replace the link, not fill its target; give the real path {os.path.realpath(path)!r}")
    ancestor = os.path.dirname(path.rstrip("/")) or "/"
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise OutputWriteError(f"creating the {what} {url} failed: {ancestor} is a file, not a directory; {fix}")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputWriteError(f"creating the {what} {url} failed: {ancestor} is not writable (read-only or "
                               f"permission denied); make it writable or {fix}")


@dataclass(frozen=True)
class Found:
    """What is at a path, as sparkw2v judges it.

    state: "absent"; "empty" (an empty directory: free); "ours" (a directory whose marker says it
    is sparkw2v's); "foreign" (anything else: a file, a link, a directory without a marker).
    marker: the parsed marker of an "ours" directory. complete: it holds ``_SUCCESS``.
    unknown: top-level entries of a committed directory its marker does not list (a user's).
    """

    state: str
    marker: dict | None = None
    complete: bool = False
    unknown: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


def _names(fs, path: str) -> list[str]:
    return [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)]


def _read_marker(fs, path: str) -> dict | None:
    """The marker of the directory ``path`` (a JSON object with a "kind"), or None."""
    try:
        with fs.open(join(fs, path, MARKER), "r") as fh:
            marker = json.load(fh)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("kind"), str) else None


def inspect(fs, path: str) -> Found:
    """Judge what is at ``path``: sparkw2v's only if its marker says so, never by file names."""
    if _is_local(fs) and os.path.islink(path):
        return Found("foreign")
    if not fs.exists(path):
        return Found("absent")
    if not fs.isdir(path):
        return Found("foreign")
    names = _names(fs, path)
    if not names:
        return Found("empty")
    marker = _read_marker(fs, path) if MARKER in names else None
    if marker is None:
        return Found("foreign", names=tuple(names))
    listed = marker.get("entries")
    unknown = tuple(sorted(set(names) - set(listed))) if isinstance(listed, list) else ()
    return Found("ours", marker, SUCCESS in names, unknown, tuple(names))


def is_ours(url: str) -> bool:
    """True when ``url`` is a directory whose marker says it is sparkw2v's."""
    return inspect(*url_to_fs(url)).state == "ours"


def _why_foreign(found: Found) -> str:
    """Why a directory is not (wholly) sparkw2v's, for a message."""
    if found.unknown:
        return (f"it holds what sparkw2v did not write ({', '.join(found.unknown[:3])}"
                f"{', ...' if len(found.unknown) > 3 else ''}), which stays")
    return f"it has no {MARKER} marker, so sparkw2v did not write it"


def _fix_foreign(found: Found) -> str:
    return "move that away or choose another output path" if found.unknown else "choose another output path"


def _create_exclusive(fs, path: str, obj: dict) -> bool:
    """Create the JSON file ``path`` holding ``obj`` unless it exists; True if this call made it.

    Local: written under a temporary name and hard-linked to ``path`` (atomic and exclusive:
    of any number of concurrent callers exactly one gets True, and a reader never sees half a
    file); where hard links are refused, ``O_EXCL``. The temporary file is a hidden one in the
    parent of the claimed directory, for the instant of the call: in the directory itself it
    would make the directory look, to a run judging it meanwhile, not empty yet unmarked.
    Other filesystems: check, then write (fsspec has no exclusive create): see the module
    docstring.
    """
    data = (json.dumps(obj, indent=2) + "\n").encode()
    if not _is_local(fs):
        if fs.exists(path):
            return False
        with fs.open(path, "wb") as fh:
            fh.write(data)
        return True
    claimed = posixpath.dirname(path)
    tmp = join(fs, posixpath.dirname(claimed), f".{posixpath.basename(claimed)}.sparkw2v-claim-{uuid.uuid4().hex}")
    with open(tmp, "xb") as fh:
        fh.write(data)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        try:  # no hard links on this filesystem
            with open(path, "xb") as fh:
                fh.write(data)
            return True
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)


def _remove_marked(fs, path: str) -> None:
    """Remove a directory of sparkw2v's: its marker last, so that an interrupted removal leaves
    a directory still recognisably sparkw2v's."""
    for entry in fs.ls(path, detail=False):
        if entry.rstrip("/").rsplit("/", 1)[-1] != MARKER:
            fs.rm(entry, recursive=True)
    fs.rm(path, recursive=True)


def _rename_if_free(fs, source: str, target: str) -> bool:
    """Rename the directory ``source`` to ``target`` if ``target`` is absent or an empty
    directory (replaced); False, and nothing moved, if something else is there. Atomic on a
    local filesystem (rename(2)); elsewhere checked, then moved."""
    if _is_local(fs):
        try:
            os.rename(source, target)
            return True
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                return False
            raise
    found = inspect(fs, target)
    if found.state not in ("absent", "empty"):
        return False
    if found.state == "empty":
        fs.rm(target, recursive=True)
    fs.mv(source, target, recursive=True)
    return True


def work_name(url: str) -> str:
    """The name of the subdirectory of a work directory that the runs writing ``url`` use: the
    same for every run of one output (so that --resume finds it), distinct between outputs."""
    protocol, where = _location(url)
    base = re.sub(r"[^A-Za-z0-9._-]", "_", posixpath.basename(where.rstrip("/")))[:40] or "output"
    return f"sparkw2v-{base}-{hashlib.sha256(f'{protocol}:{where}'.encode()).hexdigest()[:16]}"


def _rename(fs, source: str, target: str) -> None:
    """Rename ``source`` to the new name ``target`` (rename(2) locally: never into a directory
    that appeared there)."""
    if _is_local(fs):
        os.rename(source, target)
    else:
        fs.mv(source, target, recursive=True)


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


def live_owner(marker: dict) -> str | None:
    """Who owns the directory of ``marker`` if that run may still be running, else None: the
    run is dead when its heartbeat is older than LEASE_SECONDS (or was cleared by a release or
    a commit), or, on this host, when its process is gone."""
    beat = float(marker.get("heartbeat", 0.0) or 0.0)
    age = time.time() - beat
    if beat <= 0.0 or age > LEASE_SECONDS:
        return None
    pid, host = marker.get("pid"), marker.get("host")
    if host == socket.gethostname() and isinstance(pid, int) and pid > 0 and not _process_alive(pid):
        return None
    return f"process {pid} on {host}, last sign of life {age:.0f} s ago"


class Staging:
    """Builds a result in ``OUTPUT.partial`` and swaps it into ``OUTPUT`` when complete, so that
    no run, failed, refused or concurrent, deletes or replaces what it did not create, and no
    reader ever sees a mix of two results.

    ``begin`` claims ``OUTPUT.partial`` create-exclusively (see the module docstring) and, with a
    ``work_dir``, the run's subdirectory ``work_dir/sparkw2v-NAME-HASH`` (:func:`work_name`: the
    same for every run of one output, so --resume finds it); only that subdirectory is ever
    removed, never ``work_dir`` or anything else in it. ``commit`` applies to ``OUTPUT`` the test
    ``begin`` applied. The marker stays in the committed directory, listing its entries.

    Args:
        url: the output directory.
        kind: "model" or "corpus" (recorded in the marker; an output of another kind is never
            replaced).
        overwrite: an existing output of sparkw2v's of this kind may be replaced, at commit; a
            dead run's ``OUTPUT.partial`` is started afresh.
        resume: continue in an existing ``OUTPUT.partial`` (and work subdirectory).
        work_dir: a directory in which the run keeps its own subdirectory (:attr:`work`).
    """

    def __init__(self, url: str, kind: str, overwrite: bool = False, resume: bool = False,
                 work_dir: str | None = None):
        self.url = url.rstrip("/")
        self.partial = self.url + PARTIAL
        self.kind = kind
        self.overwrite = overwrite
        self.resume = resume
        self.work_dir = work_dir.rstrip("/") if work_dir else None
        self.work = child(self.work_dir, work_name(self.url)) if self.work_dir else None
        self.run = uuid.uuid4().hex
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.started = time.time()
        self._stop: threading.Event | None = None
        self._made: list[str] = []  # directories this run created in begin (undone if begin fails)
        self._fresh: dict[str, bool] = {}  # "partial", "work": claimed afresh (not taken over)

    # ------------------------------------------------------------------ begin

    def begin(self) -> str:
        """Check the destination and claim ``OUTPUT.partial`` (and the work subdirectory) before
        any work; returns the URL of ``OUTPUT.partial``.

        Raises:
            InputError: an output or work directory in memory (:func:`check_durable`), or a
                symbolic link as output (:func:`check_location`).
            OutputExistsError: the output exists (without overwrite), is complete (with resume
                but without overwrite),
                is not sparkw2v's or of another kind; ``OUTPUT.partial`` or the work
                subdirectory is not sparkw2v's, is another live run's, or holds an unfinished
                run's leftovers (without resume or overwrite).
            OutputWriteError: the filesystem refused (read-only, a file in the path, full).
        """
        check_durable(self.url, "output")
        check_location(self.url, "output")
        if self.work_dir:
            check_durable(self.work_dir, "work directory")
            check_location(self.work_dir, "work directory",
                           "fix the filesystem and train again, or choose another --work-dir", link_ok=True)
        fs, path = url_to_fs(self.url)
        def errors():
            return output_errors(f"preparing the output {self.url}", "make its directory writable or choose "
                                                                     "another output path")

        with errors():
            for attempt in range(3):  # a directory vanished under the claim (a run committing): judge again
                try:
                    self._check_output(fs, path)
                    self._claim_partial(fs, url_to_fs(self.partial)[1])
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
        try:
            with errors():
                self._check_output(fs, path)  # judged again: a run may have committed it meanwhile
            if self.work:
                with output_errors(f"creating the work directory {self.work_dir}",
                                   "fix the filesystem and train again, or choose another --work-dir"):
                    self._claim_work()
        except BaseException:
            self._unclaim()
            raise
        self._stop = threading.Event()
        self._heart = threading.Thread(target=self._keep_beating, name="sparkw2v-staging-heartbeat", daemon=True)
        self._heart.start()
        return self.partial

    def _check_output(self, fs, path: str) -> None:
        """Raise unless this run's result may go to OUTPUT as it is now (see :meth:`_refusal`)."""
        found = inspect(fs, path)
        why = self._refusal(found)
        if why:
            raise OutputExistsError(why)
        if found.state == "ours" and _is_local(fs) and not os.access(path, os.W_OK | os.X_OK):
            raise OutputWriteError(f"output {self.url!r} is read-only: replacing it would fail once the new "
                                   "result is complete; make it writable or choose another output path")

    def _unclaim(self) -> None:
        """Undo the claims of a ``begin`` that failed: a directory it claimed afresh loses its
        marker (and goes, if ``begin`` made it); a dead run's ``OUTPUT.partial`` it took over
        stays, released, for a later --resume. Quiet: the filesystem may be failing already."""
        for url, fresh in ((self.work, self._fresh.get("work")), (self.partial, self._fresh.get("partial"))):
            if not url or not self._owns(url):
                continue
            fs, path = url_to_fs(url)
            try:
                if fresh and path in self._made:
                    _remove_marked(fs, path)
                elif fresh:
                    fs.rm(join(fs, path, MARKER))
                elif url == self.partial:
                    self._beat(alive=False)
            except OSError:
                pass

    def _refusal(self, found: Found) -> str | None:
        """Why what is at OUTPUT may not be replaced by this run's result, or None: the test of
        :meth:`begin` and of :meth:`commit`."""
        if found.state in ("absent", "empty"):
            return None
        if found.state == "foreign" or found.unknown:
            return (f"output {self.url!r} exists and is not a sparkw2v {self.kind} directory; refusing to replace "
                    f"it (even with --overwrite): {_why_foreign(found)}; {_fix_foreign(found)}")
        kind = found.marker.get("kind")
        if kind != self.kind:
            return (f"output {self.url!r} is a sparkw2v {kind} directory, not a {self.kind} one; refusing to "
                    "replace it (even with --overwrite): choose another output path")
        if self.resume and found.complete and not self.overwrite:
            return (f"output {self.url!r} is already complete: nothing to resume (an unfinished run that was to "
                    "replace it resumes with --resume --overwrite)")
        if not (self.overwrite or self.resume):
            state = "a complete result" if found.complete else "the leftovers of an unfinished run"
            return (f"output {self.url!r} already exists and holds {state}; pass --overwrite to replace it (once "
                    "the new result is complete) or choose another output path")
        return None

    def _record(self, alive: bool = True, **extra: Any) -> dict:
        return {"kind": self.kind, "run": self.run, "started": self.started, "host": self.host, "pid": self.pid,
                "heartbeat": time.time() if alive else 0.0, **extra}

    def _claim_new(self, fs, path: str, record: dict) -> bool:
        """Claim the absent or empty directory ``path`` by creating its marker exclusively."""
        if not fs.exists(path):
            fs.makedirs(path, exist_ok=True)
            self._made.append(path)
        return _create_exclusive(fs, join(fs, path, MARKER), record)

    def _claim_partial(self, fs, partial: str) -> None:
        found = inspect(fs, partial)
        if found.state in ("absent", "empty"):
            if self.resume:
                state = "does not exist" if found.state == "absent" else "is empty"
                raise OutputExistsError(f"nothing to resume: {self.partial!r} {state}; train without --resume")
            if self._claim_new(fs, partial, self._record()):
                self._fresh["partial"] = True
                return
            found = inspect(fs, partial)  # another run claimed it at the same instant
        if found.state != "ours":
            raise OutputExistsError(f"{self.partial!r} exists and is not sparkw2v's ({_why_foreign(found)}): move it "
                                    "away first")
        if found.marker.get("kind") != self.kind:
            raise OutputExistsError(f"{self.partial!r} holds an unfinished sparkw2v {found.marker.get('kind')}, not "
                                    f"a {self.kind}: move it away first or choose another output path")
        owner = live_owner(found.marker)
        if owner:
            raise OutputExistsError(
                f"output {self.url!r} is being written by another run ({owner}) in {self.partial!r}; wait for "
                "it to end, or stop it, then try again (a stopped run's directory is free at once on the same "
                f"machine, else {LEASE_SECONDS:.0f} s after its last sign of life)")
        if not (self.resume or self.overwrite):
            raise OutputExistsError(
                f"output {self.url!r} has the leftovers of an unfinished run in {self.partial!r}; pass --resume "
                "to continue it, --overwrite to start afresh, or choose another output path")
        if found.complete and not self.resume:
            raise OutputExistsError(
                f"{self.partial!r} holds a complete result kept by an earlier run (its output was taken "
                f"meanwhile): move it where you want it first, then run again")
        self._take_over(fs, partial, found.marker)

    def _take_over(self, fs, path: str, dead: dict) -> None:
        """Make the dead run's directory ``path`` this run's: exactly one of any number of runs
        doing so at once succeeds (they race to create the token ``_takeover-<dead run>``)."""
        dead_run = re.sub(r"[^0-9A-Za-z]", "", str(dead.get("run")))[:32] or "unknown"
        token = join(fs, path, TAKEOVER + dead_run)
        url = self.partial if dead.get("kind") != WORK else self.work
        if not _create_exclusive(fs, token, {"run": self.run, "host": self.host, "pid": self.pid}):
            raise OutputExistsError(f"another run is taking {url!r} over at this moment; try again later (if no "
                                    f"other run is starting, remove {token} and try again)")
        try:
            now = _read_marker(fs, path)
            if now is None or now.get("run") != dead.get("run"):
                raise OutputExistsError(f"another run took {url!r} over at this moment; try again later")
            record = self._work_record() if dead.get("kind") == WORK else self._record()
            write_json(record, url, MARKER)
        finally:
            remove_quietly(fs, token)
        if not self.resume:  # afresh: the dead run's files go (they are sparkw2v's: the marker says so)
            for entry in fs.ls(path, detail=False):
                name = entry.rstrip("/").rsplit("/", 1)[-1]
                if name != MARKER and not name.startswith(TAKEOVER):  # another run's token: it removes it
                    fs.rm(entry, recursive=True)

    def _work_record(self) -> dict:
        protocol, where = _location(self.url)
        return {"kind": WORK, "output": f"{protocol}:{where}", "run": self.run, "host": self.host,
                "pid": self.pid, "started": self.started}

    def _claim_work(self) -> None:
        """Claim ``work_dir/NAME`` (:func:`work_name`). This run already owns ``OUTPUT.partial``
        exclusively, so any earlier run of this output that used the subdirectory is dead."""
        fs, path = url_to_fs(self.work)
        found = inspect(fs, path)
        if found.state in ("absent", "empty"):
            if self._claim_new(fs, path, self._work_record()):
                self._fresh["work"] = True
                return
            found = inspect(fs, path)
        record = self._work_record()
        if found.state != "ours" or found.marker.get("kind") != WORK or found.marker.get("output") != record["output"]:
            raise OutputExistsError(f"{self.work!r} exists and is not sparkw2v's work directory for {self.url!r} "
                                    f"({_why_foreign(found)}): move it away first or choose another --work-dir")
        if not (self.resume or self.overwrite):
            raise OutputExistsError(f"the work directory {self.work!r} holds the blocks of an earlier unfinished run "
                                    f"of {self.url!r}; pass --overwrite to start afresh or choose another --work-dir")
        self._take_over(fs, path, found.marker)

    # ------------------------------------------------------------------ while running

    def _beat(self, alive: bool = True) -> None:
        write_json(self._record(alive), self.partial, MARKER)

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
        fs, path = url_to_fs(self.partial)
        marker = _read_marker(fs, path)
        return live_owner(marker) if marker else None

    def _stop_beating(self) -> bool:
        """Stop the heartbeat thread; False if it was not running (not begun, or stopped)."""
        if self._stop is None or self._stop.is_set():
            return False
        self._stop.set()
        self._heart.join(timeout=5)
        return True

    def _owns(self, url: str | None) -> bool:
        if not url:
            return False
        marker = _read_marker(*url_to_fs(url))
        return bool(marker) and marker.get("run") == self.run

    def owned(self) -> bool:
        """True while ``OUTPUT.partial`` still belongs to this run (no other run took it over)."""
        return self._owns(self.partial)

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

    def remove_work(self) -> None:
        """Remove this run's work subdirectory (if it still owns it); never ``work_dir`` itself
        or anything else in it."""
        if self._owns(self.work):
            fs, path = url_to_fs(self.work)
            with output_errors(f"removing the work directory {self.work}"):
                _remove_marked(fs, path)

    def discard(self) -> None:
        """Remove what this run owns (its work subdirectory and ``OUTPUT.partial``), and an
        empty directory ``begin`` made: after a failure that left nothing to resume from.
        Quiet: the filesystem may be failing already."""
        self._stop_beating()
        for url in (self.work, self.partial):
            if not url:
                continue
            fs, path = url_to_fs(url)
            try:
                if self._owns(url):
                    _remove_marked(fs, path)
                elif path in self._made and inspect(fs, path).state == "empty":
                    fs.rm(path, recursive=True)
            except OSError:
                pass

    # ------------------------------------------------------------------ commit

    def commit(self) -> None:
        """Mark ``OUTPUT.partial`` complete and swap it into ``OUTPUT`` by renames. What is at
        ``OUTPUT`` by then is judged as :meth:`begin` judged it; if it may not be replaced, the
        complete result stays in ``OUTPUT.partial``. A replaced output is removed only after the
        new one is in place.

        Raises:
            OutputExistsError: another run took ``OUTPUT.partial`` over (nothing kept), or what
                is at ``OUTPUT`` may not be replaced (the result is kept in ``OUTPUT.partial``).
            OutputWriteError: the filesystem refused.
        """
        if not self.owned():
            self.release()
            raise OutputExistsError(f"another run took over {self.partial!r} while this one wrote it; this run's "
                                    f"result is not kept: {self.url!r} is the other run's")
        self._stop_beating()  # the heartbeat must not rewrite the marker once the directory moves
        fs, path = url_to_fs(self.url)
        _, partial = url_to_fs(self.partial)
        with output_errors(f"committing {self.url}", f"the result is in {self.partial}: fix the filesystem, "
                                                     "then move it where you want it"):
            mark_complete(self.partial)
            entries = sorted(set(_names(fs, partial)) | {MARKER, SUCCESS})
            write_json(self._record(alive=False, committed=time.time(), entries=entries), self.partial, MARKER)
            found = inspect(fs, path)
            if self._refusal(found) is not None:
                raise self._kept(found)
            if found.state == "ours":
                self._replace(fs, path, partial)
            elif not _rename_if_free(fs, partial, path):
                raise self._kept(inspect(fs, path))

    def _replace(self, fs, path: str, partial: str) -> None:
        """Swap the result in for the sparkw2v output at ``path``: the old one is renamed aside,
        judged again under that name (nobody else's now), and removed once the new one is in."""
        old = f"{path}.replaced-{self.run[:8]}"
        _rename(fs, path, old)
        found = inspect(fs, old)
        if self._refusal(found) is not None or found.state != "ours":
            _rename_if_free(fs, old, path)
            raise self._kept(found, old if fs.exists(old) else None)
        if not _rename_if_free(fs, partial, path):
            raise self._kept(inspect(fs, path), old)
        _remove_marked(fs, old)

    def _kept(self, found: Found, aside: str | None = None) -> OutputExistsError:
        if found.state == "foreign" or found.unknown:
            why = "what is there now is not sparkw2v's"
        elif found.state == "ours" and found.marker.get("kind") != self.kind:
            why = f"a sparkw2v {found.marker.get('kind')} is there now"
        elif found.state == "ours" and not (self.overwrite or self.resume):
            why = f"a sparkw2v {self.kind} is there now and --overwrite was not given"
        else:
            why = "another result is there now"
        extra = f"; what was there is now in {aside!r}" if aside else ""
        return OutputExistsError(f"{self.url!r} changed while this run worked ({why}): it is left as it is, and "
                                 f"this run's complete result is kept in {self.partial!r}: move it where you want "
                                 f"it{extra}")


def check_output_directory(out: str, what: str, files, overwrite: bool) -> None:
    """Refuse an output directory ``out`` (of ``what``, e.g. "the report") that is a file, or
    exists and is not empty without ``overwrite`` (which replaces only ``files`` in it).

    Raises:
        InputError: ``out`` is a file.
        OutputExistsError: ``out`` is a non-empty directory and ``overwrite`` is False.
    """
    from .errors import InputError, OutputExistsError

    fs, path = url_to_fs(out)
    if fs.exists(path) and not fs.isdir(path):
        raise InputError(f"--out {out!r} is a file: give a directory for {what}")
    if fs.isdir(path) and fs.ls(path) and not overwrite:
        raise OutputExistsError(f"--out {out!r} exists and is not empty; pass --overwrite to replace the files of "
                                f"{what} in it ({', '.join(files)}; nothing else is touched) or choose another "
                                "directory")
