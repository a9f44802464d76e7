"""Where W and W' live between and during epochs, and how their blocks move: one fsspec directory.

The driver never holds W or W'. Executors create, read and write their blocks here; the
directory must be one that the driver and every executor see (any local path in local mode;
HDFS, S3, NFS, ... on a cluster)::

    WORK/state-000003/W-00005.npy   W block 5 of epoch 2's layout after epoch 2, rows sorted by
                                    (block in epoch 3's layout, word id)
    WORK/state-000003/Wp-00005.npy  the same for W'
    WORK/state-000003/state.json    written last, by the driver: the state is complete; it
                                    records every block file's size, shape and sha256
    WORK/run-<id>/e0002-a0/         W' blocks in transit between neighbouring tasks of epoch 2
                                    (the driver's attempt 0), each read once and removed: only
                                    with ring = "store"; otherwise blocks travel over the network
                                    (``peer``) or through shared memory, and the store holds
                                    states only
    WORK/run-<id>/status/           one small JSON per (epoch, attempt, cycle, task), for progress lines
    WORK/vocabulary.arrow           the words and their counts (Arrow IPC), written by the driver
                                    once counted: what the executors need of the vocabulary
                                    (no broadcast: Spark Connect has none), checked by its sha256

A state is the whole model after some epochs, so states are the checkpoints. Sorting each
block's rows by their next block lets a task of the next epoch read its new blocks as one byte
range of every file. Files are written under a temporary name and renamed, so a reader never
sees half a file; an epoch the driver runs again writes exactly the same bytes (everything is
a function of the seed), and its blocks in transit go to a directory of their own, so the tasks
of a failed attempt that have not yet died can never take a block meant for the new ones.

A block file can still change after it is written (a failing disk, another process, a user):
its writer computes its sha256 as it writes it, the driver records it in ``state.json``, and
:meth:`BlockStore.check_block` compares a file with its record before the state is trained
from (``checkpoint``). A state.json that is not a valid record is refused when it is read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import posixpath
import time
import uuid
import numpy as np

from . import checkpoint, storage
from .errors import CheckpointError
from .layout import BlockLayout

STATE_PREFIX = "state-"
STATE_FILE = "state.json"
MATRICES = ("W", "Wp")
VOCABULARY_FILE = "vocabulary.arrow"


class Aborted(Exception):
    """Another task of the epoch stopped (it diverged): this one stops too."""


def _is_local(fs) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


class BlockStore:
    """The work directory of one training output (see the module docstring).

    Args:
        url: a directory URL or path every executor and the driver can read and write.
    """

    def __init__(self, url: str):
        self.url = url
        self.fs, self.root = storage.url_to_fs(url)
        self.local = _is_local(self.fs)

    def __reduce__(self):  # executors rebuild the filesystem object from the URL
        return (BlockStore, (self.url,))

    def _path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    # ------------------------------------------------------------------ states

    def state_dir(self, epochs_done: int) -> str:
        return self._path(f"{STATE_PREFIX}{epochs_done:06d}")

    def block_path(self, epochs_done: int, matrix: str, block: int) -> str:
        return posixpath.join(self.state_dir(epochs_done), block_name(matrix, block))

    def write_block(self, epochs_done: int, matrix: str, block: int, rows: np.ndarray,
                    layout: BlockLayout, next_layout: BlockLayout) -> dict:
        """Write one trained block into the state after ``epochs_done`` epochs.

        Args:
            matrix: "W" or "Wp".
            block: its block id in ``layout`` (the layout it was trained in).
            rows: (n_b, N) float32, the block's rows in ``layout``'s local order.
            next_layout: the layout of the next epoch; rows are written sorted by their block in
                it (then by word id).

        Returns:
            the file's record for the state (``checkpoint.block_record``: its size in bytes,
            shape and sha256, computed from the bytes as they are written).
        """
        perm = np.argsort(next_layout.labels[layout.members(block)], kind="stable")
        nbytes, digest = self._write_npy_rows(self.block_path(epochs_done, matrix, block), rows, perm)
        return checkpoint.block_record(nbytes, (perm.shape[0], rows.shape[1]), digest)

    def check_block(self, epochs_done: int, matrix: str, block: int, record: dict,
                    chunk_bytes: int = 16 << 20) -> str | None:
        """Compare a block file of a state with its record: None if it matches, else "block file
        PATH what differs" (missing, size, .npy header, shape, sha256). Reads the whole file once.

        Raises:
            OSError: the file exists but could not be read (not damage: the filesystem failed).
        """
        path = self.block_path(epochs_done, matrix, block)
        try:
            size = os.path.getsize(path) if self.local else int(self.fs.size(path))
        except FileNotFoundError:
            return f"block file {path} is missing"
        if size != record["bytes"]:
            return f"block file {path} {checkpoint.block_problem(record, size, None, None)}"
        digest = hashlib.sha256()
        with (open(path, "rb") if self.local else self.fs.open(path, "rb")) as fh:
            head = fh.read(min(size, 4096))
            digest.update(head)
            while True:
                chunk = fh.read(chunk_bytes)
                if not chunk:
                    break
                digest.update(chunk)
        problem = checkpoint.block_problem(record, size, _npy_shape(head), digest.hexdigest())
        return None if problem is None else f"block file {path} {problem}"

    def check_state(self, epochs_done: int, state: dict) -> list[str]:
        """Every block file of a state compared with its record (on this process; the trainer
        spreads the files over the executors): the "block file PATH what differs" of each damaged one."""
        problems = []
        for matrix, block in state_blocks(state["num_blocks"]):
            problem = self.check_block(epochs_done, matrix, block, state["blocks"][block_name(matrix, block)])
            if problem is not None:
                problems.append(problem)
        return problems

    def read_block(self, epochs_done: int, matrix: str, block: int, prev_layout: BlockLayout,
                   layout: BlockLayout, vector_size: int) -> tuple[np.ndarray, int]:
        """Block ``block`` of ``layout`` from the state after ``epochs_done`` epochs, whose files
        hold the blocks of ``prev_layout``.

        Returns:
            ((n_b, N) float32 rows in ``layout``'s local order, bytes read).

        Raises:
            FileNotFoundError: a block file is missing (the state is incomplete).
        """
        parts, ids, nbytes = [], [], 0
        for old in range(prev_layout.num_blocks):
            members = prev_layout.members(old)
            labels = layout.labels[members]
            perm = np.argsort(labels, kind="stable")
            lo = int(np.count_nonzero(labels < block))
            hi = lo + int(np.count_nonzero(labels == block))
            if hi == lo:
                continue
            rows = self._read_rows(self.block_path(epochs_done, matrix, old), lo, hi, vector_size)
            parts.append(rows)
            ids.append(members[perm[lo:hi]])
            nbytes += rows.nbytes
        if not parts:
            return np.zeros((0, vector_size), np.float32), 0
        ids_all = np.concatenate(ids)
        order = np.argsort(ids_all, kind="stable")
        return np.concatenate(parts)[order], nbytes

    def read_matrix(self, epochs_done: int, matrix: str, layout: BlockLayout, next_layout: BlockLayout,
                    vector_size: int) -> np.ndarray:
        """A whole matrix ((V, N) float32, row = word id) from a state (for small models)."""
        out = np.empty((layout.labels.shape[0], vector_size), np.float32)
        for block in range(layout.num_blocks):
            members = layout.members(block)
            perm = np.argsort(next_layout.labels[members], kind="stable")
            out[members[perm]] = self._read_rows(self.block_path(epochs_done, matrix, block), 0,
                                                 members.shape[0], vector_size)
        return out

    def commit_state(self, epochs_done: int, state: dict) -> None:
        """Mark the state after ``epochs_done`` epochs complete (call after every block is in).

        ``state``: the record (``checkpoint.STATE_FIELDS`` but epochs_done, which is added),
        whose "blocks" holds the records the writers of the block files returned."""
        path = posixpath.join(self.state_dir(epochs_done), STATE_FILE)
        self._write_bytes(path, (json.dumps({**state, "epochs_done": epochs_done}, indent=1) + "\n").encode())

    def states(self) -> list[int]:
        """Epoch counts of the complete states, ascending."""
        if not self.fs.exists(self.root):
            return []
        done = []
        for entry in self.fs.ls(self.root, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if (name.startswith(STATE_PREFIX) and name[len(STATE_PREFIX):].isdigit()
                    and self.fs.exists(posixpath.join(entry, STATE_FILE))):
                done.append(int(name[len(STATE_PREFIX):]))
        return sorted(done)

    def read_state(self, epochs_done: int) -> dict:
        """The record of the state after ``epochs_done`` epochs, checked (``checkpoint.parse_state``).

        Raises:
            CheckpointError: state.json is not JSON, lacks a field or has one of the wrong type;
                one line naming the file and the fix.
        """
        path = posixpath.join(self.state_dir(epochs_done), STATE_FILE)
        return checkpoint.parse_state(self.fs.cat_file(path), path, epochs_done, block_names,
                                      self.damage_fix(epochs_done))

    def damage_fix(self, epochs_done: int) -> str:
        """What a user can do about a damaged state after ``epochs_done`` epochs."""
        return checkpoint.damage_fix(self.state_dir(epochs_done), [s for s in self.states() if s < epochs_done])

    def remove_state(self, epochs_done: int) -> None:
        """Remove a state: its marker first, so that it stops counting as complete."""
        path = self.state_dir(epochs_done)
        marker = posixpath.join(path, STATE_FILE)
        if self.fs.exists(marker):
            self.fs.rm(marker)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def remove_all(self) -> None:
        """Remove the whole work directory."""
        if self.fs.exists(self.root):
            self.fs.rm(self.root, recursive=True)

    # ------------------------------------------------------------------ vocabulary

    def write_vocabulary(self, words, counts: np.ndarray) -> "VocabularyFile":
        """Write the vocabulary for the executors (``VOCABULARY_FILE``).

        Args:
            words: the V words (id = position); counts: (V,) int64.

        Returns:
            the :class:`VocabularyFile` that reads it back (size and sha256 of what was written).
        """
        import pyarrow as pa

        table = pa.table({"word": pa.array(list(words), pa.string()), "count": pa.array(counts, pa.int64())})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        data = sink.getvalue()
        self._write_bytes(self._path(VOCABULARY_FILE), data)
        return VocabularyFile(self.url, len(table), data.size, hashlib.sha256(data).hexdigest())

    # ------------------------------------------------------------------ runs

    def new_run(self) -> str:
        """A fresh run id (its scratch directory never holds an earlier run's files)."""
        return uuid.uuid4().hex[:16]

    def run_dir(self, run: str) -> str:
        return self._path(f"run-{run}")

    def exchange(self, run: str, epoch: int, attempt: int, task: int, num_tasks: int,
                 timeout: float = 1800.0, same_host: bool = False) -> "FileExchange":
        """The W' ring of one task in one attempt at ``epoch``.

        ``same_host``: the store is in shared memory and the tasks that use it run on this
        machine, so a local store may hand blocks over without copying them (see
        :class:`FileExchange`); its bytes count as shared memory, not store.
        """
        return FileExchange(self, self.transit_dir(run, epoch, attempt), task,
                            num_tasks, timeout, zero_copy=same_host and self.local)

    def transit_dir(self, run: str, epoch: int, attempt: int) -> str:
        """The directory of the W' blocks in transit of one attempt at ``epoch``."""
        return posixpath.join(self.run_dir(run), f"e{epoch:04d}-a{attempt}")

    def remove_run(self, run: str, epoch: int | None = None) -> None:
        """Remove a run's scratch files (of one epoch, or all)."""
        path = self.run_dir(run)
        if epoch is not None:
            if not self.fs.exists(path):
                return
            for entry in self.fs.ls(path, detail=False):
                if entry.rstrip("/").rsplit("/", 1)[-1].startswith(f"e{epoch:04d}-"):
                    self.fs.rm(entry, recursive=True)
            return
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def report_cycle(self, run: str, epoch: int, attempt: int, cycle: int, task: int, info: dict) -> None:
        """A task says it finished a cycle (for the driver's progress lines)."""
        self._write_bytes(posixpath.join(self.run_dir(run), "status", f"e{epoch:04d}-a{attempt}-c{cycle:04d}-t{task:05d}.json"),
                          json.dumps(info).encode())

    def cycle_reports(self, run: str, epoch: int, attempt: int) -> dict[int, list[dict]]:
        """{cycle: [task infos]} reported so far in one attempt at ``epoch``."""
        path = posixpath.join(self.run_dir(run), "status")
        out: dict[int, list[dict]] = {}
        if not self.fs.exists(path):
            return out
        prefix = f"e{epoch:04d}-a{attempt}-c"
        for entry in self.fs.ls(path, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(prefix) and name.endswith(".json"):
                cycle = int(name[len(prefix):len(prefix) + 4])
                try:
                    out.setdefault(cycle, []).append(json.loads(self.fs.cat_file(entry)))
                except (OSError, ValueError):  # being renamed into place
                    continue
        return out

    # ------------------------------------------------------------------ bytes

    @contextlib.contextmanager
    def _writing(self, path: str):
        """A file open for writing under a temporary name beside ``path``: renamed to ``path``
        when the block ends, removed if it fails, so that a reader never sees half a file."""
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        if self.local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        else:
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        try:
            with (open(tmp, "wb") if self.local else self.fs.open(tmp, "wb")) as fh:
                yield fh
            if self.local:
                os.replace(tmp, path)
            else:
                self.fs.mv(tmp, path)
        except BaseException:
            if self.local:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(tmp)
            else:
                storage.remove_quietly(self.fs, tmp)
            raise

    def _write_bytes(self, path: str, data) -> None:
        with self._writing(path) as fh:
            fh.write(data)

    def _write_npy_rows(self, path: str, rows: np.ndarray, order: np.ndarray,
                        chunk_bytes: int = 64 << 20) -> tuple[int, str]:
        """Write ``rows[order]`` ((n, N) float32) as a .npy file, streaming: a chunk of rows at
        a time, so that a block of several GB needs no second copy in memory.

        Returns:
            (bytes written, sha256 hex digest of them).
        """
        n, width = order.shape[0], rows.shape[1]
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (n, width)}
        step = max(1, chunk_bytes // max(1, width * 4))
        head = io.BytesIO()
        np.lib.format.write_array_header_1_0(head, header)
        digest = hashlib.sha256(head.getvalue())
        nbytes = len(head.getvalue())
        with self._writing(path) as fh:
            fh.write(head.getvalue())
            for start in range(0, n, step):
                chunk = np.ascontiguousarray(rows[order[start:start + step]], dtype=np.float32).data
                digest.update(chunk)
                fh.write(chunk)
                nbytes += chunk.nbytes
        return nbytes, digest.hexdigest()

    def _read_rows(self, path: str, lo: int, hi: int, vector_size: int) -> np.ndarray:
        """Rows [lo, hi) of the (n, vector_size) float32 .npy file ``path``.

        Raises:
            CheckpointError: the file has no such header, or its size is not the header's
                (truncated or appended to): "block file PATH ...".
        """
        with (open(path, "rb") if self.local else self.fs.open(path, "rb")) as fh:
            try:
                version = np.lib.format.read_magic(fh)
                shape, _, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0(fh))
            except ValueError as exc:
                raise CheckpointError(f"block file {path} has no valid .npy header ({exc})") from None
            if dtype != np.float32 or len(shape) != 2 or shape[1] != vector_size or shape[0] < hi:
                raise CheckpointError(f"block file {path} holds {dtype} {shape}, not float32 rows "
                                      f"[{lo}, {hi}) of {vector_size} components")
            size = os.fstat(fh.fileno()).st_size if self.local else int(self.fs.size(path))
            if size != fh.tell() + shape[0] * shape[1] * 4:
                raise CheckpointError(f"block file {path} holds {size} bytes, not the {fh.tell() + shape[0] * shape[1] * 4} "
                                      f"of its header's {shape} float32 array (truncated or appended to)")
            fh.seek(fh.tell() + lo * vector_size * 4)
            out = np.empty((hi - lo, vector_size), np.float32)
            view = memoryview(out).cast("B")
            got = 0
            while got < view.nbytes:
                n = fh.readinto(view[got:])
                if not n:
                    raise CheckpointError(f"block file {path} is truncated")
                got += n
        return out


# (store url, sha256) -> (words, counts): the vocabularies this Python process has read
_VOCABULARIES: dict = {}


@dataclasses.dataclass(frozen=True)
class VocabularyFile:
    """The vocabulary in a block store, as the executors read it (small; pickled into tasks).

    Calling it gives the words as a pyarrow string array (``encode.encode_corpus`` takes it so);
    :meth:`load` gives words and counts. Each Python process reads the file once and checks it
    against the size and sha256 the driver wrote.

    Attributes:
        url: the block store's URL; size: V words; nbytes: the file's size in bytes;
        sha256: its digest (hex).
    """

    url: str
    size: int
    nbytes: int
    sha256: str

    def load(self):
        """(words: pyarrow string array (V,), counts: (V,) int64).

        Raises:
            CheckpointError: the file differs from what was written (size, sha256) or is not
                the vocabulary's table.
        """
        key = (self.url, self.sha256)
        if key not in _VOCABULARIES:
            import pyarrow as pa

            store = BlockStore(self.url)
            path = store._path(VOCABULARY_FILE)
            with store.fs.open(path, "rb") as fh:
                data = fh.read()
            digest = hashlib.sha256(data).hexdigest()
            if len(data) != self.nbytes or digest != self.sha256:
                raise CheckpointError(f"{path}: {len(data)} bytes with sha256 {digest[:16]}..., written as "
                                      f"{self.nbytes} bytes with sha256 {self.sha256[:16]}...: the vocabulary file "
                                      "changed while training; train again")
            table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
            if table.schema.names != ["word", "count"] or len(table) != self.size:
                raise CheckpointError(f"{path} is not a vocabulary of {self.size} words")
            words = table.column("word").combine_chunks()
            counts = table.column("count").to_numpy().astype(np.int64)
            while len(_VOCABULARIES) >= 2:
                _VOCABULARIES.pop(next(iter(_VOCABULARIES)))
            _VOCABULARIES[key] = (words, counts)
        return _VOCABULARIES[key]

    def __call__(self):
        return self.load()[0]


def block_name(matrix: str, block: int) -> str:
    """The file name of a block in a state directory: W-00005.npy."""
    return f"{matrix}-{block:05d}.npy"


def state_blocks(num_blocks: int) -> list[tuple[str, int]]:
    """(matrix, block) of every block file of a state of ``num_blocks`` blocks."""
    return [(matrix, block) for matrix in MATRICES for block in range(num_blocks)]


def block_names(num_blocks: int) -> list[str]:
    """The file names of every block file of a state of ``num_blocks`` blocks."""
    return [block_name(matrix, block) for matrix, block in state_blocks(num_blocks)]


def _npy_shape(head: bytes) -> tuple | None:
    """The shape in a float32 C-order .npy header at the start of ``head``, or None."""
    try:
        fh = io.BytesIO(head)
        version = np.lib.format.read_magic(fh)
        shape, fortran, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                                 else np.lib.format.read_array_header_2_0(fh))
    except ValueError:
        return None
    return tuple(shape) if dtype == np.float32 and not fortran and len(shape) == 2 else None


def in_memory(rows: np.ndarray) -> np.ndarray:
    """A received block as an array of this process's own: a block mapped from its file (a zero-copy
    hand-over, :class:`FileExchange`) is read and its file removed; any other is returned as is."""
    if not isinstance(rows, np.memmap):
        return rows
    copy, path = np.array(rows), rows.filename
    del rows
    os.remove(path)
    return copy


class FileExchange:
    """The W' ring of one task through files: send = write and rename, receive = wait, read and
    remove (each handed-over block has exactly one reader).

    With ``zero_copy`` (every task on this machine, a local directory; the trainer gives it one in
    shared memory, where mapped pages are never written back to a disk) a received block is not
    read into memory: the file is renamed to a name of this task's and mapped (``np.memmap``,
    shared), the kernel trains on the mapping, and sending it on is a rename again, so a block
    is copied once an epoch (its first send) instead of twice a sub-epoch. The bytes are the same
    either way; only the copies go.

    Args:
        store: the block store; directory: this stage attempt's scratch directory.
        task, num_tasks: t and T (for messages).
        timeout: seconds to wait for one block before giving up.
        zero_copy: hand mapped blocks over by renaming their files (local directory, one host):
            the store is shared memory, and the bytes count as such (:attr:`channel`).

    Attributes:
        bytes_sent, bytes_received: W' bytes handed over and taken through ``channel``
            ("shared_memory" with zero copy, else "store": written to and read from the store).
        interrupt: None, or a function called while waiting for a block (every 0.5 s) that
            raises to stop the wait (``peer.BlockServer.check``: a stray block, an abort).
    """

    def __init__(self, store: BlockStore, directory: str, task: int, num_tasks: int, timeout: float,
                 zero_copy: bool = False):
        self.store = store
        self.directory = directory
        self.task = task
        self.num_tasks = num_tasks
        self.timeout = timeout
        self.zero_copy = zero_copy and store.local
        self.abort_path = posixpath.join(directory, "ABORT")
        self.channel = "shared_memory" if self.zero_copy else "store"
        self.bytes_sent = 0
        self.bytes_received = 0
        self.interrupt = None

    def _name(self, cycle: int, sub_epoch: int, block: int) -> str:
        return posixpath.join(self.directory, f"h-{cycle:04d}-{sub_epoch:05d}-{block:05d}.f32")

    def send(self, cycle: int, sub_epoch: int, block: int, rows: np.ndarray) -> None:
        target = self._name(cycle, sub_epoch, block)
        self.bytes_sent += rows.nbytes
        if self.zero_copy and isinstance(rows, np.memmap) and rows.filename is not None:
            # same machine: the mapping is the page cache itself, the next reader sees every write
            os.replace(rows.filename, target)
            return
        self.store._write_bytes(target, memoryview(np.ascontiguousarray(rows)).cast("B"))

    def receive(self, cycle: int, sub_epoch: int, block: int, shape: tuple[int, int]) -> np.ndarray:
        path = self._name(cycle, sub_epoch, block)
        fs, local = self.store.fs, self.store.local
        exists = os.path.exists if local else fs.exists
        start = time.monotonic()
        pause, checked = 0.0002, start
        while not exists(path):
            now = time.monotonic()
            if now - checked > 0.5:
                checked = now
                if exists(self.abort_path):
                    raise Aborted(f"task {self.task}: another task stopped the epoch")
                if self.interrupt is not None:
                    self.interrupt()
            if now - start > self.timeout:
                raise TimeoutError(
                    f"task {self.task} of {self.num_tasks} waited {self.timeout:.0f} s for W' block {block} "
                    f"(cycle {cycle}, sub-epoch {sub_epoch}) in {self.directory}: its neighbour task "
                    f"{(self.task + 1) % self.num_tasks} stopped; Spark retries the stage")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.02)
        self.bytes_received += int(np.prod(shape)) * 4
        if self.zero_copy:
            held = posixpath.join(self.directory, f"held-{self.task:05d}-{os.path.basename(path)}")
            os.replace(path, held)
            return np.memmap(held, np.float32, "r+", shape=tuple(shape))
        if local:
            rows = np.fromfile(path, np.float32)
            os.remove(path)
        else:
            rows = np.frombuffer(fs.cat_file(path), np.float32).copy()
            fs.rm(path)
        return rows.reshape(shape)

    def receive_copy(self, cycle: int, sub_epoch: int, block: int, shape: tuple[int, int]) -> np.ndarray:
        """As :meth:`receive`, into memory (:func:`in_memory`)."""
        return in_memory(self.receive(cycle, sub_epoch, block, shape))

    def abort(self, info: dict) -> None:
        """Tell every task of this attempt to stop (this task diverged)."""
        self.store._write_bytes(self.abort_path, json.dumps(info).encode())

    def flush(self) -> None:
        """Every send is complete when it returns: nothing to wait for."""

    def close(self) -> None:
        """Nothing to stop (the driver removes the directory with the run's epoch)."""

